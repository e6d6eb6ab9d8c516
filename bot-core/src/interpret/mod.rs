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

fn format_days(days: f64) -> String {
    if (days - days.round()).abs() < 0.05 {
        format!("{}", days.round())
    } else {
        format!("{days:.1}")
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
        let id = match silence.verdict {
            _ if silence.untracked && silence.verdict == judge::SilenceVerdict::Normal => "silence.untracked",
            judge::SilenceVerdict::Normal => "silence.normal",
            judge::SilenceVerdict::Watch => "silence.watch",
            judge::SilenceVerdict::Act => "silence.act",
        };
        if !matches!(stage, Some(Stage::Returning | Stage::Exception)) {
            parts.push(render(
                language,
                id,
                &[
                    ("days", format_days(silence.days)),
                    ("normal", format_days(silence.normal_days)),
                    ("act", format_days(silence.act_days)),
                ],
            ));
        }
    }
    if authenticity.verdict != judge::AuthenticityVerdict::Genuine {
        parts.push(render(
            language,
            &format!("authenticity.{}", authenticity.verdict.as_code()),
            &[],
        ));
    }
    let protection_id = match protection.urgency {
        judge::Urgency::None => None,
        judge::Urgency::Soon => Some("protection.soon"),
        judge::Urgency::Urgent => Some("protection.urgent"),
        judge::Urgency::Expired => Some("protection.expired"),
    };
    if let (Some(id), Some(days)) = (protection_id, protection.days_left) {
        parts.push(render(language, id, &[("days", format_days(days.max(0.0)))]));
    }
    let wait_until = silence
        .filter(|s| s.normal_days.is_finite())
        .map(|s| {
            let remaining = (s.normal_days - s.days).clamp(1.0, 365.0);
            now.plus(chrono::Duration::hours((remaining * 24.0) as i64))
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_else(|| "the next update".to_owned());
    parts.push(render(language, next_step, &[("date", wait_until)]));
    parts.retain(|p| !p.is_empty());
    parts.join(" ")
}
