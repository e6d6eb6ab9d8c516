//! Interpretation: raw events from any portal, in any language, turned into one
//! timeline, the stage the parcel is in, and judgements a buyer can act on. Everything
//! here is a pure function: no I/O, and `now` is always passed in.
//!
//! Layout:
//! - [`stage`]: the closed set of stages and their groups;
//! - [`event`]: raw events and provider clocks;
//! - [`rules`] and [`classify`]: what a code or a text means;
//! - [`timeline`]: merging, deduplication, the current stage, handoffs;
//! - [`place`]: loose comparison of places;
//! - [`judge`]: silence, authenticity, buyer protection, next step;
//! - this module: [`assess`], the whole judgement of one parcel, and its report.

pub mod classify;
pub mod evaluate;
pub mod event;
pub mod journey;
pub mod judge;
pub mod learn;
pub mod place;
pub mod rules;
pub mod stage;
pub mod timeline;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

pub use event::Event;
pub use stage::{Stage, StageGroup};
pub use timeline::{Handoff, Timeline, TimelineEvent, merge};

use crate::clock::Saturating;
use crate::messages::{Language, render};
use crate::number::recognise;
use judge::{Authenticity, OrderFacts, Protection, Silence};

/// One parcel to judge, as the `assess` command reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct AssessInput {
    /// The tracking number.
    pub number: String,
    /// The moment to judge at.
    pub now: DateTime<FixedOffset>,
    /// When the order was placed.
    #[serde(default)]
    pub ordered_at: Option<DateTime<FixedOffset>>,
    /// When the seller shipped.
    #[serde(default)]
    pub shipped_at: Option<DateTime<FixedOffset>>,
    /// Where the buyer lives.
    #[serde(default)]
    pub destination: Option<Destination>,
    /// When buyer protection ends.
    #[serde(default)]
    pub protection_ends: Option<DateTime<FixedOffset>>,
    /// When the buyer first asked about the number (started following it): without an
    /// order date, a delivery weeks before it is itself a doubt.
    #[serde(default)]
    pub asked_at: Option<DateTime<FixedOffset>>,
    /// The events, from any sources.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Other numbers the sources say the parcel travels under.
    #[serde(default)]
    pub linked_numbers: Vec<crate::provider::LinkedNumber>,
    /// What the sources answered besides events.
    #[serde(default)]
    pub sources: SourceFacts,
}

/// What the tracking sources answered about the number besides events: facts a timeline
/// cannot hold, and that change the advice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct SourceFacts {
    /// A source knows the number, but the seller has not handed the parcel over yet.
    #[serde(default)]
    pub not_handed_over: bool,
    /// A source has just registered the number and is still looking.
    #[serde(default)]
    pub pending: bool,
    /// Sources authoritative for the number (Cainiao for its own numbers) that say they
    /// do not know it.
    #[serde(default)]
    pub unknown_to: Vec<String>,
    /// Sources that refused the number as invalid (when no source knows it).
    #[serde(default)]
    pub invalid_by: Vec<String>,
    /// The delivery estimate of the first source that gave one (Cainiao's
    /// `globalEtaInfo`, 17TRACK's `estimated_delivery_date`, Ship24's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<crate::provider::Eta>,
}

impl SourceFacts {
    /// Whether the sources said nothing besides events.
    pub fn is_empty(&self) -> bool {
        *self == SourceFacts::default()
    }
}

/// Where the buyer lives.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Destination {
    /// ISO country code.
    #[serde(default)]
    pub country: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
}

/// The whole judgement of one parcel (the `assess` command's JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// The current stage.
    pub stage: Option<Stage>,
    /// When the newest event happened.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Whether the current silence is normal.
    pub silence: Option<SilenceReport>,
    /// Whether the number looks genuine.
    pub authenticity: Authenticity,
    /// Buyer protection.
    pub protection: Protection,
    /// New numbers the parcel was handed over under.
    pub handoff: Vec<HandoffReport>,
    /// The message id of the next step.
    pub next_step: &'static str,
    /// Plain-language summary.
    pub summary: String,
}

/// The silence part of an [`Assessment`].
#[derive(Debug, Clone, Serialize)]
pub struct SilenceReport {
    /// `normal`, `watch` or `act`.
    pub verdict: judge::SilenceVerdict,
    /// Days counted.
    pub days: f64,
}

/// One handoff in an [`Assessment`].
#[derive(Debug, Clone, Serialize)]
pub struct HandoffReport {
    /// The new number.
    pub number: String,
    /// Its carrier, when known.
    pub carrier: Option<String>,
}

/// Where and when a parcel's journey started and ended: what a delivery (or a pick-up
/// notice) is checked against each buyer's order with [`judge::delivery_doubts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// The place the delivered (or pick-up) event names.
    #[serde(default)]
    pub place: Option<String>,
    /// The newest place named on the destination side.
    #[serde(default)]
    pub region: Option<String>,
    /// The newest country (ISO code) named on the destination side.
    #[serde(default)]
    pub country: Option<String>,
    /// The journey's first event.
    #[serde(default)]
    pub first_event_at: Option<DateTime<Utc>>,
    /// When it was delivered, or left for pick-up.
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
}

impl DeliveryReport {
    /// The report of `events` (of the parcel whose first number is `own`).
    pub fn of(events: impl IntoIterator<Item = Event>, own: &str) -> DeliveryReport {
        let timeline = merge(events, &[own]);
        let ended = timeline
            .events
            .iter()
            .rev()
            .find(|e| matches!(e.stage, Some(Stage::Delivered | Stage::PickupAvailable)));
        DeliveryReport {
            place: ended
                .and_then(|e| e.event.location.clone())
                .filter(|l| !l.trim().is_empty()),
            region: judge::destination_region(&timeline).map(str::to_owned),
            country: judge::destination_country(&timeline).map(str::to_owned),
            first_event_at: timeline.events.first().map(|e| e.at),
            delivered_at: ended.map(|e| e.at),
        }
    }

    /// The borrowed facts [`judge::delivery_doubts`] reads.
    pub fn as_facts(&self) -> judge::DeliveryFacts<'_> {
        judge::DeliveryFacts {
            place: self.place.as_deref(),
            region: self.region.as_deref(),
            country: self.country.as_deref(),
            first_event_at: self.first_event_at,
            delivered_at: self.delivered_at,
        }
    }

    /// Where it ended, as a buyer reads it: the place, with its country when the place
    /// does not name one (`Utrecht, the Netherlands`).
    pub fn place_words(&self) -> Option<String> {
        let place = self.place.as_deref().or(self.region.as_deref())?;
        let country = self
            .place
            .as_deref()
            .and_then(place::country_of)
            .or_else(|| self.region.as_deref().and_then(place::country_of))
            .or(self.country.as_deref());
        Some(match country {
            Some(code) if place::country_of(place) == Some(code) && place.trim().len() > 2 => {
                // "Utrecht, NL" reads better with the country's name.
                let trimmed = place.trim();
                match trimmed.rsplit_once(',') {
                    Some((city, last)) if last.trim().len() == 2 => {
                        format!("{}, {}", city.trim(), place::country_name(code))
                    }
                    _ => trimmed.to_owned(),
                }
            }
            Some(code) => format!("{}, {}", place.trim(), place::country_name(code)),
            None => place.trim().to_owned(),
        })
    }
}

/// Judges one parcel.
pub fn assess(input: AssessInput) -> Assessment {
    let now = input.now.with_timezone(&Utc);
    let recognition = recognise(&input.number)
        .into_iter()
        .next()
        .unwrap_or_else(|| crate::number::recognise_compact(""));
    let own = recognition
        .normalized
        .clone()
        .unwrap_or_else(|| input.number.clone());
    let mut timeline = merge(input.events, &[own.as_str()]);
    let linked_at = timeline.last_event_at().unwrap_or(now);
    timeline.link_all(
        input
            .linked_numbers
            .iter()
            .map(|linked| (linked.number.as_str(), linked.carrier.clone())),
        &[own.as_str()],
        linked_at,
    );
    let order = OrderFacts {
        ordered_at: input.ordered_at.map(|t| t.with_timezone(&Utc)),
        shipped_at: input.shipped_at.map(|t| t.with_timezone(&Utc)),
        country: input.destination.as_ref().and_then(|d| d.country.clone()),
        city: input.destination.as_ref().and_then(|d| d.city.clone()),
        protection_ends: input.protection_ends.map(|t| t.with_timezone(&Utc)),
        asked_at: input.asked_at.map(|t| t.with_timezone(&Utc)),
    };
    let stage = timeline.stage();
    let since = timeline.last_event_at().or(order.shipped_at).or(order.ordered_at);
    let silence = judge::silence(stage, since, judge::is_untracked(&recognition), now);
    let authenticity = judge::authenticity(&recognition, &timeline, silence.as_ref(), &order, &input.sources);
    let protection = judge::protection(order.protection_ends, stage, now);
    let next_step = judge::next_step(stage, silence.as_ref(), &authenticity, &protection);
    let mut summary = summary(
        stage,
        silence.as_ref(),
        &authenticity,
        &protection,
        next_step,
        now,
        &timeline,
    );
    if input.sources.pending && timeline.events.is_empty() {
        summary.push(' ');
        summary.push_str(&render(Language::English, "sources.pending", &[]));
    }
    Assessment {
        stage,
        last_event_at: timeline.last_event_at(),
        silence: silence.map(|s| SilenceReport {
            verdict: s.verdict,
            days: s.days,
        }),
        authenticity,
        protection,
        handoff: timeline
            .handoffs
            .iter()
            .map(|h| HandoffReport {
                number: h.number.clone(),
                carrier: h.carrier.clone(),
            })
            .collect(),
        next_step,
        summary,
    }
}

/// A number of days in words: `less than a day`, `1 day`, `3 days`, `5 weeks` (whole
/// weeks from five weeks on).
pub fn duration_words(days: f64) -> String {
    if !days.is_finite() || days < 1.0 {
        return "less than a day".to_owned();
    }
    let whole = days.floor() as i64;
    if whole >= 35 {
        let weeks = whole / 7;
        return format!("{weeks} weeks");
    }
    if whole == 1 {
        "1 day".to_owned()
    } else {
        format!("{whole} days")
    }
}

/// How long ago, in words: `today`, `1 day ago`, `3 days ago`, `5 weeks ago`.
pub fn days_ago(days: f64) -> String {
    if days < 1.0 {
        "today".to_owned()
    } else {
        format!("{} ago", duration_words(days))
    }
}

fn summary(
    stage: Option<Stage>,
    silence: Option<&Silence>,
    authenticity: &Authenticity,
    protection: &Protection,
    next_step: &str,
    now: DateTime<Utc>,
    timeline: &Timeline,
) -> String {
    let language = Language::English;
    let mut parts = Vec::new();
    let stage_id = stage.map_or("stage.none".to_owned(), |s| format!("stage.{}", s.as_code()));
    parts.push(render(language, &stage_id, &[]));
    if let Some(handoff) = timeline.handoffs.last() {
        let carrier = handoff
            .carrier
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        parts.push(format!(
            "It now travels under the number {}{carrier}.",
            handoff.number
        ));
    }
    if let Some(silence) = silence.filter(|_| stage != Some(Stage::Delivered)) {
        // Before a carrier's first scan there has been no news: the time counts from
        // the label or from when the buyer started following the number.
        let unscanned = matches!(stage, None | Some(Stage::InfoReceived));
        let id = match silence.verdict {
            _ if silence.untracked && silence.verdict == judge::SilenceVerdict::Normal => "silence.untracked",
            judge::SilenceVerdict::Normal if unscanned => "silence.first_normal",
            judge::SilenceVerdict::Normal => "silence.normal",
            _ if unscanned => "silence.first_act",
            judge::SilenceVerdict::Watch => "silence.watch",
            judge::SilenceVerdict::Act => "silence.act",
        };
        if !matches!(stage, Some(Stage::Returning | Stage::Exception)) {
            parts.push(render(
                language,
                id,
                &[
                    ("ago", days_ago(silence.days)),
                    ("elapsed", duration_words(silence.days)),
                    ("normal", duration_words(silence.normal_days)),
                    ("act", duration_words(silence.act_days)),
                ],
            ));
        }
    }
    if authenticity.verdict != judge::AuthenticityVerdict::Genuine {
        let id = if authenticity.reasons.iter().any(|r| r == "ended_before_asked") {
            "authenticity.ended_before_asked".to_owned()
        } else {
            format!("authenticity.{}", authenticity.verdict.as_code())
        };
        parts.push(render(language, &id, &[]));
    }
    let protection_id = match protection.urgency {
        judge::Urgency::None => None,
        judge::Urgency::Soon => Some("protection.soon"),
        judge::Urgency::Urgent => Some("protection.urgent"),
        judge::Urgency::Expired => Some("protection.expired"),
    };
    if let (Some(id), Some(days)) = (protection_id, protection.days_left) {
        parts.push(render(language, id, &[("days", duration_words(days.max(0.0)))]));
    }
    // A fixed date: the end of the normal silence counted from the last news (or the
    // act limit once that has passed), so that it does not move from one day to the next.
    let wait_until = silence
        .and_then(|s| {
            let since = now.minus(chrono::Duration::seconds((s.days * 86_400.0) as i64));
            [s.normal_days, s.act_days]
                .into_iter()
                .filter(|days| days.is_finite())
                .map(|days| since.plus(chrono::Duration::seconds((days * 86_400.0) as i64)))
                .find(|date| *date > now)
        })
        .map(|date| crate::reply::format_date(date, "UTC"))
        .unwrap_or_else(|| "the next update".to_owned());
    parts.push(render(language, next_step, &[("date", wait_until)]));
    parts.retain(|p| !p.is_empty());
    parts.join(" ")
}
