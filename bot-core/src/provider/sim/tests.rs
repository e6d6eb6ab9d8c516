//! Tests of the simulated carrier's choices: scenarios by digit, valid local numbers.

use super::{Journey, Scenario, destination_of, local_number_for};
use crate::number::TrackingNumber;

#[test]
fn every_digit_names_a_scenario_and_every_scenario_is_reachable() {
    let mut reached: Vec<Scenario> = (0..10).map(Scenario::from_digit).collect();
    reached.push(Scenario::for_number(
        &TrackingNumber::parse("UA123456785CN").expect("valid"),
    ));
    for scenario in Scenario::ALL {
        assert!(reached.contains(&scenario), "{scenario:?} has no number");
    }
}

#[test]
fn local_numbers_are_valid_numbers_of_the_destination_post() {
    for digit in 0..4 {
        let destination = destination_of(digit);
        let local = local_number_for("RB123456785CN", destination);
        let parsed = TrackingNumber::parse(&local).expect("a valid number");
        assert!(parsed.is_confident(), "{local}");
        assert_eq!(
            local,
            local_number_for("RB123456785CN", destination),
            "deterministic"
        );
    }
}

#[test]
fn journeys_only_move_forward_in_time() {
    for digit in 0..10u8 {
        let number = TrackingNumber::parse(&format!("LP0049800000000{digit}")).expect("valid");
        let journey = Journey::plan(&number);
        assert!(
            journey.steps.windows(2).all(|w| w[0].hours < w[1].hours),
            "{number}"
        );
    }
}
