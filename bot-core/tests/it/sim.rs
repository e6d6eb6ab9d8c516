//! The simulated carrier end to end: each scenario runs in simulated time, polled every
//! six hours like the engine would, following handoffs, and must produce the stage
//! sequence and the verdicts it promises.

use std::collections::HashSet;
use std::sync::Arc;

use bot_core::clock::{Clock, SimulatedClock};
use bot_core::interpret::judge::{AuthenticityVerdict, SilenceVerdict};
use bot_core::interpret::{AssessInput, Destination, Event, Stage, assess};
use bot_core::number::TrackingNumber;
use bot_core::number::checksum::s10_check_digit;
use bot_core::provider::sim::{Scenario, SimulatedCarrier, buyer_home};
use bot_core::provider::{LinkedNumber, Lookup, Providers};
use chrono::{Duration, TimeZone, Utc};

/// What a scenario produced over its run.
#[derive(Debug)]
struct Trace {
    stages: Vec<Option<Stage>>,
    worst_silence: Option<SilenceVerdict>,
    authenticity: Vec<AuthenticityVerdict>,
    reasons: Vec<String>,
    handoffs: Vec<(String, Option<String>)>,
}

/// An S10 number whose serial ends with `destination` then `scenario`.
fn s10(prefix: &str, destination: u8, scenario: u8) -> TrackingNumber {
    let serial = format!("104729{destination}{scenario}");
    let check = s10_check_digit(&serial).expect("eight digits");
    TrackingNumber::parse(&format!("{prefix}{serial}{check}CN")).expect("valid S10")
}

async fn run(number: &TrackingNumber, days: i64) -> Trace {
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).single().expect("date");
    let clock = SimulatedClock::new(start);
    let providers = Providers::new(vec![Arc::new(SimulatedCarrier::new(clock.clone()))]);
    let (country, city) = buyer_home(number);
    // The journey starts two days before the first question: that is the order date.
    let ordered_at = start - Duration::days(2);
    let mut known = vec![number.clone()];
    let mut events: HashSet<Event> = HashSet::new();
    let mut linked: Vec<LinkedNumber> = Vec::new();
    let mut trace = Trace {
        stages: Vec::new(),
        worst_silence: None,
        authenticity: Vec::new(),
        reasons: Vec::new(),
        handoffs: Vec::new(),
    };
    for _ in 0..days * 4 {
        for result in providers.fetch(&known).await {
            for (_, answer) in &result.answers {
                assert!(answer.is_ok(), "the simulated carrier never fails: {answer:?}");
                if let Ok(Lookup::Found(shipment)) = answer {
                    events.extend(shipment.events.iter().cloned());
                    for link in &shipment.linked_numbers {
                        if !linked.contains(link) {
                            linked.push(link.clone());
                        }
                        let parsed = TrackingNumber::parse(&link.number).expect("sim numbers are valid");
                        if !known.contains(&parsed) {
                            known.push(parsed);
                        }
                    }
                }
            }
        }
        let assessment = assess(AssessInput {
            number: number.as_str().to_owned(),
            now: clock.now().fixed_offset(),
            ordered_at: Some(ordered_at.fixed_offset()),
            shipped_at: None,
            destination: Some(Destination {
                country: Some(country.to_owned()),
                city: Some(city.to_owned()),
            }),
            protection_ends: None,
            asked_at: None,
            events: events.iter().cloned().collect(),
            linked_numbers: linked.clone(),
            sources: Default::default(),
        });
        if trace.stages.last() != Some(&assessment.stage) {
            trace.stages.push(assessment.stage);
        }
        if let Some(silence) = &assessment.silence
            && assessment.stage != Some(Stage::Delivered)
        {
            let rank = |v: SilenceVerdict| v as u8;
            if trace
                .worst_silence
                .is_none_or(|worst| rank(silence.verdict) > rank(worst))
            {
                trace.worst_silence = Some(silence.verdict);
            }
        }
        if trace.authenticity.last() != Some(&assessment.authenticity.verdict) {
            trace.authenticity.push(assessment.authenticity.verdict);
        }
        trace.reasons = assessment.authenticity.reasons.clone();
        trace.handoffs = assessment
            .handoff
            .iter()
            .map(|h| (h.number.clone(), h.carrier.clone()))
            .collect();
        clock.advance(Duration::hours(6));
    }
    trace
}

fn stages(codes: &[&str]) -> Vec<Option<Stage>> {
    codes
        .iter()
        .map(|code| {
            if *code == "none" {
                None
            } else {
                Some(Stage::from_code(code).expect("stage code"))
            }
        })
        .collect()
}

const TO_DELIVERY: &[&str] = &[
    "export",
    "line_haul",
    "arrived_destination",
    "customs",
    "customs_released",
    "handed_to_last_mile",
    "domestic_transit",
    "out_for_delivery",
    "delivered",
];

#[tokio::test]
async fn every_scenario_keeps_its_promise() {
    use AuthenticityVerdict::*;
    for destination in 0..4 {
        // Normal delivery, handed over to the local post under a new number.
        let number = s10("RB", destination, 0);
        assert_eq!(Scenario::for_number(&number), Scenario::DeliveredWithHandoff);
        let trace = run(&number, 20).await;
        assert_eq!(trace.stages, stages(TO_DELIVERY), "{number}: {trace:?}");
        assert_eq!(trace.worst_silence, Some(SilenceVerdict::Normal), "{number}");
        assert_eq!(trace.authenticity, vec![Genuine], "{number}");
        assert_eq!(trace.handoffs.len(), 1, "{number}: {trace:?}");
        assert!(
            trace.handoffs[0].1.is_some(),
            "the new number's carrier is known: {trace:?}"
        );
    }

    let trace = run(&s10("RB", 1, 1), 25).await;
    let mut held = stages(&[
        "export",
        "line_haul",
        "arrived_destination",
        "customs",
        "customs_held",
    ]);
    held.extend(stages(&TO_DELIVERY[4..]));
    assert_eq!(trace.stages, held, "customs hold: {trace:?}");
    assert_eq!(
        trace.worst_silence,
        Some(SilenceVerdict::Watch),
        "five days held is worth watching"
    );

    let trace = run(&s10("RB", 2, 2), 35).await;
    assert_eq!(trace.stages, stages(TO_DELIVERY), "long silence: {trace:?}");
    assert_eq!(
        trace.worst_silence,
        Some(SilenceVerdict::Normal),
        "18 days in line haul is normal"
    );

    let trace = run(&s10("RB", 3, 3), 12).await;
    assert_eq!(trace.stages, stages(&["none"]), "never scanned: {trace:?}");
    assert_eq!(
        trace.authenticity,
        vec![NotScannedYet, Suspicious],
        "never scanned: {trace:?}"
    );
    assert_eq!(trace.worst_silence, Some(SilenceVerdict::Act));

    let trace = run(&s10("RB", 0, 4), 20).await;
    assert_eq!(
        trace.stages,
        stages(&[
            "export",
            "line_haul",
            "arrived_destination",
            "customs",
            "customs_released",
            "domestic_transit",
            "out_for_delivery",
            "delivered"
        ]),
        "direct delivery: {trace:?}"
    );
    assert!(trace.handoffs.is_empty());

    let trace = run(&s10("RB", 1, 5), 20).await;
    assert_eq!(
        trace.stages,
        stages(TO_DELIVERY),
        "delivered elsewhere: {trace:?}"
    );
    assert_eq!(trace.authenticity.last(), Some(&NotYours));
    assert_eq!(trace.reasons, vec!["delivered_in_other_city"]);

    let trace = run(&s10("RB", 2, 6), 3).await;
    assert_eq!(
        trace.stages,
        stages(&["delivered"]),
        "delivered before the order: {trace:?}"
    );
    assert_eq!(trace.authenticity, vec![NotYours]);
    assert_eq!(trace.reasons, vec!["delivered_before_order"]);

    for destination in 0..4 {
        let number = s10("RB", destination, 7);
        let trace = run(&number, 20).await;
        let mut expected = stages(&TO_DELIVERY[..8]);
        expected.extend(stages(&["delivery_failed", "pickup_available", "delivered"]));
        assert_eq!(trace.stages, expected, "{number}: failed then pick-up: {trace:?}");

        let number = s10("RB", destination, 8);
        let trace = run(&number, 20).await;
        let mut expected = stages(&TO_DELIVERY[..8]);
        expected.extend(stages(&["delivery_failed", "returning"]));
        assert_eq!(trace.stages, expected, "{number}: returned: {trace:?}");
        assert_eq!(
            trace.worst_silence,
            Some(SilenceVerdict::Act),
            "a return needs action"
        );
    }

    let number = s10("UA", 0, 0);
    assert_eq!(Scenario::for_number(&number), Scenario::Untracked);
    let trace = run(&number, 35).await;
    assert_eq!(
        trace.stages,
        stages(&["export", "line_haul"]),
        "untracked: {trace:?}"
    );
    assert_eq!(trace.authenticity, vec![UntrackedService]);
    assert_eq!(
        trace.worst_silence,
        Some(SilenceVerdict::Normal),
        "weeks of silence are normal"
    );
}

#[tokio::test]
async fn journeys_are_deterministic_and_the_local_post_shows_its_own_leg() {
    let number = s10("LX", 0, 0);
    let at = Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).single().expect("date");
    let answers = |clock: SimulatedClock| {
        let number = number.clone();
        async move {
            let carrier = SimulatedCarrier::new(clock.clone());
            carrier.start_journey(&number, at);
            clock.advance(Duration::days(15));
            let providers = Providers::new(vec![Arc::new(carrier)]);
            providers.fetch(std::slice::from_ref(&number)).await
        }
    };
    let first = answers(SimulatedClock::new(at)).await;
    let second = answers(SimulatedClock::new(at)).await;
    let shipment = |results: &[bot_core::provider::NumberResult]| match &results[0].answers[0].1 {
        Ok(Lookup::Found(shipment)) => shipment.clone(),
        other => panic!("expected a shipment, got {other:?}"),
    };
    let (first, second) = (shipment(&first), shipment(&second));
    assert_eq!(first, second);
    assert_eq!(first.destination_country.as_deref(), Some("NL"));
    let local = &first.linked_numbers[0];
    assert!(local.number.starts_with("3S"), "PostNL number: {local:?}");
    assert!(
        first.events.iter().any(|e| e.text == "Zending is bezorgd"),
        "Dutch after the handoff"
    );
    assert!(
        first
            .events
            .iter()
            .any(|e| e.code.as_deref() == Some("LH_DEPART"))
    );

    let clock = SimulatedClock::new(at);
    let carrier = SimulatedCarrier::new(clock.clone());
    carrier.start_journey(&number, at);
    clock.advance(Duration::days(15));
    let providers = Providers::new(vec![Arc::new(carrier)]);
    let local_number = TrackingNumber::parse(&local.number).expect("valid local number");
    let results = providers.fetch(&[local_number]).await;
    let Ok(Lookup::Found(leg)) = &results[0].answers[0].1 else {
        panic!("the local post knows its number: {results:?}");
    };
    assert!(
        leg.events
            .iter()
            .all(|e| e.number.as_deref() == Some(local.number.as_str()))
    );
    assert!(leg.events.iter().all(|e| e.code.as_deref() != Some("LH_DEPART")));
}
