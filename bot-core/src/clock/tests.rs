//! Tests of the simulated clock.

use chrono::{Duration, TimeZone, Utc};

use super::{Clock, SimulatedClock};

#[test]
fn clones_share_one_time_that_only_moves_forward() {
    let start = Utc
        .with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
        .single()
        .expect("valid date");
    let clock = SimulatedClock::new(start);
    let other = clock.clone();
    clock.advance(Duration::hours(5));
    assert_eq!(other.now(), start + Duration::hours(5));
    other.advance(Duration::hours(-3));
    clock.advance_to(start);
    assert_eq!(clock.now(), start + Duration::hours(5));
    other.advance_to(start + Duration::days(2));
    assert_eq!(clock.now(), start + Duration::days(2));
}
