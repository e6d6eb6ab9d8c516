//! Judgements a buyer can act on: whether the silence is normal, whether the number looks
//! genuine, how urgent buyer protection is, and the next step. Thresholds follow
//! `domain.md`'s table of normal pauses.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::place;
use super::{Stage, StageGroup, Timeline};
use crate::clock::Saturating;
use crate::number::{Outcome, Recognition, Service};

/// Whether a silence is normal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceVerdict {
    /// Normal at this stage.
    Normal,
    /// Longer than usual; keep an eye on it.
    Watch,
    /// Too long: time to do something.
    Act,
}

/// A silence, counted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Silence {
    /// The verdict.
    pub verdict: SilenceVerdict,
    /// Days since the last event (or since shipment when there is none).
    pub days: f64,
    /// Up to this many days is normal.
    pub normal_days: f64,
    /// Past this many days it is time to act.
    pub act_days: f64,
    /// Whether the limits are those of an untracked service.
    pub untracked: bool,
}

/// `(normal up to, act after)` in days for a stage (`None`: no event yet).
pub fn silence_limits(stage: Option<Stage>) -> (f64, f64) {
    match stage.map(Stage::group) {
        // One threshold before the first scan: the first-scan window is the same in the
        // status, the alert and the verdict.
        None | Some(StageGroup::Label) => (FIRST_SCAN_DAYS, FIRST_SCAN_DAYS),
        Some(StageGroup::Origin) => (10.0, 14.0),
        Some(StageGroup::InTransit) => (20.0, 25.0),
        Some(StageGroup::Destination) => (7.0, 10.0),
        Some(StageGroup::Held) => (3.0, 7.0),
        Some(StageGroup::LastMile) if stage == Some(Stage::OutForDelivery) => (2.0, 4.0),
        Some(StageGroup::LastMile) => (7.0, 10.0),
        Some(StageGroup::AwaitingBuyer) => (3.0, 7.0),
        Some(StageGroup::Delivered) => (f64::INFINITY, f64::INFINITY),
        Some(StageGroup::Returning | StageGroup::Exception) => (0.0, 0.0),
    }
}

/// Days a first carrier scan may take after the label is created.
pub const FIRST_SCAN_DAYS: f64 = 7.0;

/// Silence limits for a service that is not tracked abroad, once it has left the
/// origin's scans: weeks of silence until it arrives are normal.
const UNTRACKED_LIMITS: (f64, f64) = (40.0, 60.0);

fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let days = (to - from).num_seconds() as f64 / 86_400.0;
    (days * 10.0).round() / 10.0
}

/// Judges the current silence. `since` is the last event, or the shipment (or order)
/// date when there is no event; `None` when none of them is known.
pub fn silence(
    stage: Option<Stage>,
    since: Option<DateTime<Utc>>,
    untracked: bool,
    now: DateTime<Utc>,
) -> Option<Silence> {
    let since = since?;
    let days = days_between(since, now).max(0.0);
    let untracked = untracked && stage.is_none_or(|s| s < Stage::ArrivedDestination);
    let (normal_days, act_days) = if untracked {
        UNTRACKED_LIMITS
    } else {
        silence_limits(stage)
    };
    let verdict = if matches!(stage, Some(Stage::Returning | Stage::Exception)) {
        SilenceVerdict::Act
    } else if days <= normal_days {
        SilenceVerdict::Normal
    } else if days < act_days {
        SilenceVerdict::Watch
    } else {
        SilenceVerdict::Act
    };
    Some(Silence {
        verdict,
        days,
        normal_days,
        act_days,
        untracked,
    })
}

/// Whether the number looks genuine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticityVerdict {
    /// Moving and consistent.
    Genuine,
    /// No events, still inside the normal first-scan window.
    NotScannedYet,
    /// The number fails its format or check digit.
    Typo,
    /// A service that is not tracked abroad.
    UntrackedService,
    /// No events well past the first-scan window, or stuck with no explanation.
    Suspicious,
    /// Delivered before the order or shipment, or somewhere else.
    NotYours,
    /// The carrier knows the number but the seller has not handed the parcel over yet.
    AwaitingDispatch,
}

impl AuthenticityVerdict {
    /// The code of the CLI contract.
    pub fn as_code(self) -> &'static str {
        match self {
            AuthenticityVerdict::Genuine => "genuine",
            AuthenticityVerdict::NotScannedYet => "not_scanned_yet",
            AuthenticityVerdict::Typo => "typo",
            AuthenticityVerdict::UntrackedService => "untracked_service",
            AuthenticityVerdict::Suspicious => "suspicious",
            AuthenticityVerdict::NotYours => "not_yours",
            AuthenticityVerdict::AwaitingDispatch => "awaiting_dispatch",
        }
    }
}

/// A verdict with its reason codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authenticity {
    /// The verdict.
    pub verdict: AuthenticityVerdict,
    /// Why, as stable codes (`check_digit_bad`, `delivered_before_order`, ...).
    pub reasons: Vec<String>,
}

/// What the buyer told us about the order.
#[derive(Debug, Clone, Default)]
pub struct OrderFacts {
    /// When the order was placed.
    pub ordered_at: Option<DateTime<Utc>>,
    /// When the seller says it shipped.
    pub shipped_at: Option<DateTime<Utc>>,
    /// Destination country (ISO code).
    pub country: Option<String>,
    /// Destination city.
    pub city: Option<String>,
    /// When buyer protection ends.
    pub protection_ends: Option<DateTime<Utc>>,
    /// When the buyer first asked about the number (started following it).
    pub asked_at: Option<DateTime<Utc>>,
}

/// What a delivery (or the journey that led to it) says, to check against the order.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryFacts<'a> {
    /// Where the carrier says it delivered (or left the parcel for pick-up).
    pub place: Option<&'a str>,
    /// The newest place named on the destination side (the country of a delivery
    /// whose own event names no place).
    pub region: Option<&'a str>,
    /// The newest country (ISO code) a place on the destination side names.
    pub country: Option<&'a str>,
    /// The journey's first event.
    pub first_event_at: Option<DateTime<Utc>>,
    /// When it was delivered (`None`: not delivered).
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How long before the buyer first asked a delivery may have happened without an order
/// date before it is itself a doubt: buyers look a number up within days of getting
/// it, so a journey that ended weeks earlier is most often another buyer's.
pub const ENDED_BEFORE_ASKED_DAYS: i64 = 7;

/// Why a delivery may not be the buyer's, as reason codes, most serious first:
/// `delivered_in_other_country`, `delivered_in_other_city`, `delivered_before_order`
/// or `events_before_order` (with an order date), `ended_before_asked` (without one, a
/// delivery long before the buyer first asked). Empty when nothing is amiss.
pub fn delivery_doubts<'a>(delivery: &DeliveryFacts<'a>, order: &OrderFacts) -> Vec<&'static str> {
    let mut doubts = Vec::new();
    let earliest_allowed = order.ordered_at.or(order.shipped_at);
    if let (Some(first), Some(earliest)) = (delivery.first_event_at, earliest_allowed) {
        // A day of slack for clocks and time zones.
        if first < earliest.minus(chrono::Duration::days(1)) && delivery.delivered_at.is_some() {
            doubts.push("delivered_before_order");
        } else if first < earliest.minus(chrono::Duration::days(3)) {
            doubts.push("events_before_order");
        }
    }
    let named = |place: Option<&'a str>| place.filter(|l| !l.trim().is_empty());
    if delivery.delivered_at.is_some() {
        let other_country = order
            .country
            .as_deref()
            .zip(
                named(delivery.place)
                    .and_then(place::country_of)
                    .or_else(|| named(delivery.region).and_then(place::country_of))
                    .or(delivery.country),
            )
            .is_some_and(|(wanted, seen)| !wanted.eq_ignore_ascii_case(seen));
        // Only the delivery's own place says the city: a hub is often in another one.
        let other_city = order
            .city
            .as_deref()
            .zip(named(delivery.place))
            .is_some_and(|(city, location)| place::same_city(location, city) == Some(false));
        if other_country {
            doubts.insert(0, "delivered_in_other_country");
        } else if other_city {
            doubts.insert(0, "delivered_in_other_city");
        }
    }
    if earliest_allowed.is_none()
        && let (Some(delivered), Some(asked)) = (delivery.delivered_at, order.asked_at)
        && delivered < asked.minus(chrono::Duration::days(ENDED_BEFORE_ASKED_DAYS))
        && doubts.is_empty()
    {
        doubts.push("ended_before_asked");
    }
    doubts
}

/// Judges whether the number is genuine from its recognition, timeline, the order, and
/// what the sources said besides events: a source that knows the number but has no
/// scan means "awaiting dispatch"; an authoritative source that does not know the
/// number is a reason only once the first-scan window has passed.
pub fn authenticity(
    recognition: &Recognition,
    timeline: &Timeline,
    silence: Option<&Silence>,
    order: &OrderFacts,
    sources: &super::SourceFacts,
) -> Authenticity {
    let verdict = |verdict, reasons: &[&str]| Authenticity {
        verdict,
        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
    };
    match recognition.outcome {
        Outcome::Invalid => {
            let reason = match recognition.best().and_then(|c| c.problem.clone()) {
                Some(crate::number::Problem::UnknownCountry(_)) => "unknown_country_code",
                _ => "check_digit_bad",
            };
            return verdict(AuthenticityVerdict::Typo, &[reason]);
        }
        Outcome::OrderNumber => return verdict(AuthenticityVerdict::Typo, &["order_number"]),
        Outcome::Unknown(_) => return verdict(AuthenticityVerdict::Typo, &["unknown_format"]),
        Outcome::Recognised | Outcome::Uncertain | Outcome::Plausible => {}
    }
    // A source refused the number and none knows it: as good as a typo.
    if !sources.invalid_by.is_empty() && timeline.events.is_empty() {
        return Authenticity {
            verdict: AuthenticityVerdict::Typo,
            reasons: sources
                .invalid_by
                .iter()
                .map(|source| format!("invalid_at_{source}"))
                .collect(),
        };
    }
    // Delivered before the order or the shipment, or somewhere else: another buyer's number.
    let delivered = timeline
        .events
        .iter()
        .rev()
        .find(|e| e.stage == Some(Stage::Delivered));
    let doubts = delivery_doubts(
        &DeliveryFacts {
            place: delivered.and_then(|d| d.event.location.as_deref()),
            region: destination_region(timeline),
            country: destination_country(timeline),
            first_event_at: timeline.events.first().map(|e| e.at),
            delivered_at: delivered.map(|d| d.at),
        },
        order,
    );
    if doubts.contains(&"ended_before_asked") {
        return verdict(AuthenticityVerdict::Suspicious, &doubts);
    }
    let not_yours = doubts;
    if !not_yours.is_empty() {
        return verdict(AuthenticityVerdict::NotYours, &not_yours);
    }
    let untracked = is_untracked(recognition);
    let acting = silence.is_some_and(|s| s.verdict == SilenceVerdict::Act);
    match timeline.stage() {
        None | Some(Stage::InfoReceived) if untracked && timeline.events.is_empty() => verdict(
            AuthenticityVerdict::UntrackedService,
            &["untracked_service", "no_events"],
        ),
        None | Some(Stage::InfoReceived) if sources.not_handed_over && timeline.events.is_empty() => {
            let window = if acting {
                "past_first_scan_window"
            } else {
                "within_first_scan_window"
            };
            verdict(
                AuthenticityVerdict::AwaitingDispatch,
                &["awaiting_dispatch", window],
            )
        }
        None | Some(Stage::InfoReceived) => {
            let reason = if timeline.events.is_empty() {
                "no_events"
            } else {
                "label_only"
            };
            if acting {
                let mut reasons = vec![reason.to_owned(), "past_first_scan_window".to_owned()];
                if timeline.events.is_empty() {
                    reasons.extend(
                        sources
                            .unknown_to
                            .iter()
                            .map(|source| format!("unknown_to_{source}")),
                    );
                }
                Authenticity {
                    verdict: AuthenticityVerdict::Suspicious,
                    reasons,
                }
            } else if sources.pending && timeline.events.is_empty() {
                verdict(
                    AuthenticityVerdict::NotScannedYet,
                    &[reason, "sources_still_looking", "within_first_scan_window"],
                )
            } else {
                verdict(
                    AuthenticityVerdict::NotScannedYet,
                    &[reason, "within_first_scan_window"],
                )
            }
        }
        Some(stage) if untracked && stage < Stage::ArrivedDestination => {
            verdict(AuthenticityVerdict::UntrackedService, &["untracked_service"])
        }
        Some(
            Stage::CustomsHeld
            | Stage::PickupAvailable
            | Stage::DeliveryFailed
            | Stage::Delivered
            | Stage::Returning
            | Stage::Exception,
        ) => verdict(AuthenticityVerdict::Genuine, &["moving", "consistent"]),
        Some(_) if acting => verdict(AuthenticityVerdict::Suspicious, &["stuck_past_act_limit"]),
        Some(_) => verdict(AuthenticityVerdict::Genuine, &["moving", "consistent"]),
    }
}

/// The newest place named by an event on the destination side of the journey.
pub fn destination_region(timeline: &Timeline) -> Option<&str> {
    timeline
        .events
        .iter()
        .rev()
        .filter(|e| e.stage.is_some_and(|s| s >= Stage::ArrivedDestination))
        .find_map(|e| e.event.location.as_deref().filter(|l| !l.trim().is_empty()))
}

/// The newest country named by a place on the destination side of the journey.
pub fn destination_country(timeline: &Timeline) -> Option<&'static str> {
    timeline
        .events
        .iter()
        .rev()
        .filter(|e| e.stage.is_some_and(|s| s >= Stage::ArrivedDestination))
        .filter_map(|e| e.event.location.as_deref())
        .find_map(place::country_of)
}

/// How urgent buyer protection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// No deadline known, far away, or the parcel is delivered.
    None,
    /// Seven days or fewer.
    Soon,
    /// Two days or fewer.
    Urgent,
    /// Already over.
    Expired,
}

/// Buyer protection: days left and urgency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Protection {
    /// Days until protection ends (negative once over), `None` when unknown.
    pub days_left: Option<f64>,
    /// How urgent it is.
    pub urgency: Urgency,
}

/// Judges buyer protection.
pub fn protection(ends: Option<DateTime<Utc>>, stage: Option<Stage>, now: DateTime<Utc>) -> Protection {
    let days_left = ends.map(|ends| days_between(now, ends));
    let urgency = match days_left {
        _ if stage == Some(Stage::Delivered) => Urgency::None,
        None => Urgency::None,
        Some(days) if days < 0.0 => Urgency::Expired,
        Some(days) if days <= 2.0 => Urgency::Urgent,
        Some(days) if days <= 7.0 => Urgency::Soon,
        Some(_) => Urgency::None,
    };
    Protection { days_left, urgency }
}

/// The message id of the next step.
pub fn next_step(
    stage: Option<Stage>,
    silence: Option<&Silence>,
    authenticity: &Authenticity,
    protection: &Protection,
) -> &'static str {
    if authenticity.reasons.iter().any(|r| r == "ended_before_asked") {
        return "next.tell_order_date";
    }
    match authenticity.verdict {
        AuthenticityVerdict::Typo => return "next.fix_number",
        AuthenticityVerdict::NotYours => return "next.keep_evidence",
        _ => {}
    }
    if stage == Some(Stage::Delivered) {
        return "next.check_mailbox";
    }
    match protection.urgency {
        Urgency::Urgent | Urgency::Expired => return "next.open_dispute",
        Urgency::Soon => return "next.extend_or_dispute",
        Urgency::None => {}
    }
    match stage {
        Some(Stage::CustomsHeld) => return "next.pay_duties",
        Some(Stage::PickupAvailable | Stage::DeliveryFailed) => return "next.collect",
        Some(Stage::Returning | Stage::Exception) => return "next.message_seller",
        _ => {}
    }
    match (authenticity.verdict, silence.map(|s| s.verdict)) {
        (AuthenticityVerdict::AwaitingDispatch, Some(SilenceVerdict::Act)) => "next.ask_seller_dispatch",
        (AuthenticityVerdict::AwaitingDispatch, _) => "next.wait_dispatch",
        (AuthenticityVerdict::NotScannedYet, _) => "next.wait_first_scan",
        (AuthenticityVerdict::Suspicious, _) | (_, Some(SilenceVerdict::Act)) => "next.message_seller",
        _ => "next.wait_until",
    }
}

/// Whether a number's service is tracked only in the origin country.
pub fn is_untracked(recognition: &Recognition) -> bool {
    recognition
        .best()
        .and_then(|c| c.service)
        .is_some_and(|service: Service| !service.is_tracked_abroad())
}
