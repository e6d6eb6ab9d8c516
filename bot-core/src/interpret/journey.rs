//! The journey in context: a parcel's timeline cut into legs (origin, export, flight,
//! arrival and customs, last mile), each leg's actual time against its normal window,
//! and the expected delivery window — the provider's estimate when it has one,
//! otherwise the bot's own from the remaining legs' normal durations. Pure: `now` is
//! passed in; the journey picture and the status replies both read a [`Journey`].

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{Stage, Timeline};
use crate::clock::Saturating;
use crate::messages::{Language, render};
use crate::provider::Eta;

/// A leg of the journey, in travel order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// From the label to the origin's sorting centre.
    Origin,
    /// Export clearance.
    Export,
    /// The international leg.
    Flight,
    /// Arrival in the destination country and import customs.
    Customs,
    /// The local post or courier, up to the door or pick-up point.
    LastMile,
}

impl Leg {
    /// Every leg, in travel order.
    pub const ALL: [Leg; 5] = [Leg::Origin, Leg::Export, Leg::Flight, Leg::Customs, Leg::LastMile];

    /// The leg a stage belongs to; `None` for delivered and the ways off the journey.
    pub fn of(stage: Stage) -> Option<Leg> {
        Some(match stage {
            Stage::InfoReceived | Stage::Accepted | Stage::OriginSorting => Leg::Origin,
            Stage::Export => Leg::Export,
            Stage::LineHaul => Leg::Flight,
            Stage::ArrivedDestination | Stage::Customs | Stage::CustomsHeld | Stage::CustomsReleased => {
                Leg::Customs
            }
            Stage::HandedToLastMile
            | Stage::DomesticTransit
            | Stage::OutForDelivery
            | Stage::DeliveryFailed
            | Stage::PickupAvailable => Leg::LastMile,
            Stage::Delivered | Stage::Returning | Stage::Exception => return None,
        })
    }

    /// The code used in message ids and statistics (`origin`, …, `last_mile`).
    pub fn as_code(self) -> &'static str {
        match self {
            Leg::Origin => "origin",
            Leg::Export => "export",
            Leg::Flight => "flight",
            Leg::Customs => "customs",
            Leg::LastMile => "last_mile",
        }
    }

    /// The leg with this code.
    pub fn from_code(code: &str) -> Option<Leg> {
        Leg::ALL.into_iter().find(|leg| leg.as_code() == code)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How long a leg normally takes, in days: most parcels within `low..=high`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    /// Quick parcels take this long.
    pub low_days: f64,
    /// Normal up to this long.
    pub high_days: f64,
    /// How many followed parcels taught this window (`0`: the fixed table).
    pub samples: u32,
}

/// The normal window of every leg of one route.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Norms {
    /// Per leg, in [`Leg::ALL`] order.
    pub legs: [Window; 5],
}

impl Default for Norms {
    /// The fixed table, from `domain.md`'s normal pauses (3–5 days to a first scan and
    /// 5–10 with the carrier; 7–20 from leaving the origin to an import event; 2–7 in
    /// the destination) split over the legs.
    fn default() -> Norms {
        let window = |low_days, high_days| Window {
            low_days,
            high_days,
            samples: 0,
        };
        Norms {
            legs: [
                window(2.0, 9.0),
                window(1.0, 4.0),
                window(3.0, 14.0),
                window(1.0, 7.0),
                window(2.0, 7.0),
            ],
        }
    }
}

impl Norms {
    /// The window of `leg`.
    pub fn of(&self, leg: Leg) -> Window {
        self.legs[leg.index()]
    }
}

/// Where an expected delivery window comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedFrom {
    /// The tracking source's own estimate.
    Provider,
    /// The bot's, from the remaining legs' normal durations.
    Normal,
}

/// The expected delivery window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// Not before.
    pub earliest: DateTime<Utc>,
    /// Not after.
    pub latest: DateTime<Utc>,
    /// Whose estimate it is.
    pub from: ExpectedFrom,
}

impl Expected {
    /// Whether `other` differs from this window by more than `days` at either end.
    pub fn moved_from(&self, other: &Expected, days: i64) -> bool {
        let limit = Duration::days(days);
        (self.earliest - other.earliest).abs() > limit || (self.latest - other.latest).abs() > limit
    }
}

/// One leg as the parcel lived it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegSpan {
    /// The leg.
    pub leg: Leg,
    /// Its first event.
    pub start: DateTime<Utc>,
    /// When the next leg began (`None`: the parcel is in this leg now).
    pub end: Option<DateTime<Utc>>,
    /// Its normal window.
    pub normal: Window,
}

/// A parcel's journey: the legs so far, where it is, and when it should arrive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Journey {
    /// When the bot began following the parcel (the axis starts here when no event is
    /// older).
    pub tracked_since: DateTime<Utc>,
    /// The moment judged.
    pub now: DateTime<Utc>,
    /// The legs the parcel entered, in order.
    pub legs: Vec<LegSpan>,
    /// The current stage.
    pub stage: Option<Stage>,
    /// The newest event.
    pub last_event_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// New numbers and when the parcel moved to them.
    pub handoffs: Vec<(DateTime<Utc>, String)>,
    /// The expected delivery window (`None` once delivered, or off the journey).
    pub expected: Option<Expected>,
}

impl Journey {
    /// Days since the last news (or since tracking began).
    pub fn quiet_days(&self) -> f64 {
        let since = self.last_event_at.unwrap_or(self.tracked_since);
        ((self.now - since).num_minutes().max(0) as f64) / 1440.0
    }
}

fn days(value: f64) -> Duration {
    Duration::minutes((value * 1440.0).round() as i64)
}

/// Cuts `timeline` into legs and works out the expected delivery window: `eta` (the
/// provider's) when it ends in the future, else the bot's own from `norms`.
pub fn journey(
    timeline: &Timeline,
    eta: Option<&Eta>,
    norms: &Norms,
    tracked_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Journey {
    let mut legs: Vec<LegSpan> = Vec::new();
    let mut delivered_at = None;
    for event in &timeline.events {
        let Some(stage) = event.stage else { continue };
        if stage == Stage::Delivered {
            delivered_at.get_or_insert(event.at);
            if let Some(last) = legs.last_mut() {
                last.end.get_or_insert(event.at);
            }
            continue;
        }
        let Some(leg) = Leg::of(stage) else { continue };
        // A leg starts at its first event; a late-reported event of an earlier leg
        // does not move the parcel back.
        if legs.last().is_some_and(|last| last.leg >= leg) {
            continue;
        }
        if let Some(last) = legs.last_mut() {
            last.end = Some(event.at);
        }
        legs.push(LegSpan {
            leg,
            start: event.at,
            end: None,
            normal: norms.of(leg),
        });
    }
    let stage = timeline.stage();
    let last_event_at = timeline.last_event_at();
    let expected = match stage {
        Some(Stage::Delivered | Stage::Returning | Stage::Exception) => None,
        _ => provider_window(eta, now).or_else(|| Some(own_window(&legs, stage, norms, tracked_since, now))),
    };
    Journey {
        tracked_since,
        now,
        legs,
        stage,
        last_event_at,
        delivered_at: delivered_at.filter(|_| stage == Some(Stage::Delivered)),
        handoffs: timeline
            .handoffs
            .iter()
            .map(|handoff| (handoff.at, handoff.number.clone()))
            .collect(),
        expected,
    }
}

/// The provider's new estimate when it moved by more than `days` at either end from
/// the one it gave before (`None` when either is missing: a first estimate is news for
/// the next reply, not a push).
pub fn eta_moved(before: Option<&Eta>, after: Option<&Eta>, days: i64) -> Option<Expected> {
    let far_past = DateTime::<Utc>::MIN_UTC;
    let before = provider_window(before, far_past)?;
    let after = provider_window(after, far_past)?;
    after.moved_from(&before, days).then_some(after)
}

/// The provider's estimate, unless it is already over (a stale estimate says nothing).
fn provider_window(eta: Option<&Eta>, now: DateTime<Utc>) -> Option<Expected> {
    let eta = eta?;
    let (earliest, latest) = match (eta.earliest, eta.latest) {
        (Some(earliest), Some(latest)) => (earliest.min(latest), earliest.max(latest)),
        (Some(one), None) | (None, Some(one)) => (one, one),
        (None, None) => return None,
    };
    (latest >= now).then_some(Expected {
        earliest: earliest.max(now),
        latest,
        from: ExpectedFrom::Provider,
    })
}

/// The bot's own window: what is left of the current leg's normal window, plus the
/// whole windows of the legs still ahead. A leg already past its window is given one
/// more day, so the window never lies in the past.
fn own_window(
    legs: &[LegSpan],
    stage: Option<Stage>,
    norms: &Norms,
    tracked_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Expected {
    let (current, entered) = match legs.last() {
        Some(span) => (span.leg, span.start),
        None => (Leg::Origin, tracked_since),
    };
    let spent = ((now - entered).num_minutes().max(0) as f64) / 1440.0;
    let window = norms.of(current);
    // Out for delivery: today or tomorrow, whatever the leg's window says.
    let (mut low, mut high) = if stage == Some(Stage::OutForDelivery) {
        (0.0, 1.0)
    } else {
        (
            (window.low_days - spent).max(0.0),
            (window.high_days - spent).max(1.0),
        )
    };
    for leg in Leg::ALL.into_iter().filter(|leg| *leg > current) {
        let window = norms.of(leg);
        low += window.low_days;
        high += window.high_days;
    }
    Expected {
        earliest: now.plus(days(low)),
        latest: now.plus(days(high)),
        from: ExpectedFrom::Normal,
    }
}

/// The window in words (`between Fri 20 Nov 2026 and Wed 25 Nov 2026`, or `on …` when
/// both ends fall on the same date), each end written by `date`.
pub fn window_words(
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
    date: &dyn Fn(DateTime<Utc>) -> String,
) -> String {
    let (first, last) = (date(earliest), date(latest));
    if first == last {
        render(Language::English, "expected.day", &[("date", first)])
    } else {
        render(
            Language::English,
            "expected.window",
            &[("earliest", first), ("latest", last)],
        )
    }
}

/// The status line of an expected window (`Expected delivery: …`), saying whose it is.
pub fn expected_line(expected: &Expected, date: &dyn Fn(DateTime<Utc>) -> String) -> String {
    let id = match expected.from {
        ExpectedFrom::Provider => "expected.provider",
        ExpectedFrom::Normal => "expected.normal",
    };
    render(
        Language::English,
        id,
        &[("window", window_words(expected.earliest, expected.latest, date))],
    )
}

#[cfg(test)]
mod tests;
