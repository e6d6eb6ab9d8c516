//! When to poll a number next, by the parcel's stage (the table is in ARCHITECTURE.md).
//!
//! Why these numbers: events are worth little in the quiet stages (a flight is a flight)
//! and a lot near the door (out for delivery, a failed attempt), so the cadence follows
//! the value of news, not a fixed clock. The last-mile cadence is what keeps the median
//! delay between an event and the user's message under an hour.

use chrono::{DateTime, Duration, Utc};

use crate::clock::Saturating;
use crate::interpret::Stage;
use crate::interpret::judge::SilenceVerdict;

/// A parcel silent past its `act` limit is still polled, this seldom.
pub const SILENT_INTERVAL: Duration = Duration::hours(24);

/// After delivery, one last check this much later (a late "returned" or a correction),
/// then none.
pub const FINAL_CHECK: Duration = Duration::hours(24);

/// The least interval of a number the parcel was handed off from: the last-mile number
/// is polled at the stage's pace, the old one only as a fallback.
pub const SUPERSEDED_INTERVAL: Duration = Duration::hours(12);

/// How long to wait before the next poll of a number whose parcel is at `stage`
/// (`None`: no event yet).
pub fn interval(stage: Option<Stage>) -> Duration {
    match stage {
        None | Some(Stage::InfoReceived) => Duration::hours(6),
        Some(Stage::Accepted | Stage::OriginSorting) => Duration::hours(4),
        Some(Stage::Export) => Duration::hours(6),
        Some(Stage::LineHaul) => Duration::hours(12),
        Some(Stage::ArrivedDestination | Stage::Customs | Stage::CustomsReleased) => Duration::hours(3),
        Some(Stage::CustomsHeld) => Duration::hours(6),
        Some(Stage::HandedToLastMile | Stage::DomesticTransit) => Duration::minutes(90),
        Some(Stage::OutForDelivery) => Duration::minutes(45),
        Some(Stage::DeliveryFailed) => Duration::hours(2),
        Some(Stage::PickupAvailable) => Duration::hours(6),
        Some(Stage::Delivered) => FINAL_CHECK,
        Some(Stage::Returning | Stage::Exception) => Duration::hours(12),
    }
}

/// The next poll of a number: `None` once a delivered parcel had its final check.
///
/// `previous` is the stage before this poll; `superseded` says the parcel was handed
/// off from this number to another (it is then polled at most every
/// [`SUPERSEDED_INTERVAL`]); `jitter` in `[0, 1)` spreads numbers that
/// were subscribed together (±10% of the interval).
pub fn next_poll(
    previous: Option<Stage>,
    stage: Option<Stage>,
    silence: Option<SilenceVerdict>,
    superseded: bool,
    now: DateTime<Utc>,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    if stage == Some(Stage::Delivered) && previous == Some(Stage::Delivered) {
        return None;
    }
    let mut base = interval(stage);
    let quiet_stage = !matches!(stage, Some(Stage::Returning | Stage::Exception));
    if silence == Some(SilenceVerdict::Act) && quiet_stage && base < SILENT_INTERVAL {
        base = SILENT_INTERVAL;
    }
    if superseded {
        // The last-mile number carries the news now; this one is a fallback.
        base = base.max(SUPERSEDED_INTERVAL);
    }
    Some(now.plus(spread(base, jitter)))
}

/// `base` ±10%, by `jitter` in `[0, 1)`.
pub fn spread(base: Duration, jitter: f64) -> Duration {
    let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
    Duration::milliseconds((base.num_milliseconds() as f64 * factor) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::hours(hours)
    }

    #[test]
    fn quiet_stages_are_polled_seldom_and_the_door_often() {
        assert!(interval(Some(Stage::LineHaul)) > interval(Some(Stage::Customs)));
        assert!(interval(Some(Stage::Customs)) > interval(Some(Stage::DomesticTransit)));
        assert!(interval(Some(Stage::DomesticTransit)) > interval(Some(Stage::OutForDelivery)));
    }

    #[test]
    fn delivered_gets_one_final_check_then_none() {
        let first = next_poll(
            Some(Stage::OutForDelivery),
            Some(Stage::Delivered),
            None,
            false,
            at(0),
            0.5,
        );
        assert_eq!(first, Some(at(0) + FINAL_CHECK));
        assert_eq!(
            next_poll(
                Some(Stage::Delivered),
                Some(Stage::Delivered),
                None,
                false,
                at(24),
                0.5
            ),
            None
        );
    }

    #[test]
    fn a_silent_parcel_keeps_a_slow_cadence() {
        let next = next_poll(
            Some(Stage::DomesticTransit),
            Some(Stage::DomesticTransit),
            Some(SilenceVerdict::Act),
            false,
            at(0),
            0.5,
        );
        assert_eq!(next, Some(at(24)));
    }

    #[test]
    fn a_number_handed_off_from_is_polled_seldom() {
        let at_pace = next_poll(None, Some(Stage::OutForDelivery), None, false, at(0), 0.5);
        let fallback = next_poll(None, Some(Stage::OutForDelivery), None, true, at(0), 0.5);
        assert_eq!(at_pace, Some(at(0) + Duration::minutes(45)));
        assert_eq!(fallback, Some(at(0) + SUPERSEDED_INTERVAL));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let base = Duration::hours(10);
        assert_eq!(spread(base, 0.0), Duration::hours(9));
        assert_eq!(spread(base, 1.0), Duration::hours(11));
        assert_eq!(spread(base, 7.0), Duration::hours(11));
    }
}
