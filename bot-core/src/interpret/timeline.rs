//! One timeline from many sources: events from several portals and from every number of
//! the parcel, converted to UTC, deduplicated, ordered, each with its stage and the
//! sources that reported it; then the current stage and any handoff to a new number.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::classify::{Classification, classify, fold};
use super::{Event, Stage};
use crate::clock::Saturating;
use crate::number::{Outcome, recognise};

/// Two reports closer than this describe the same happening.
const SAME_MOMENT_SECONDS: i64 = 120;

/// The largest time-zone mistake of a portal taken for the same happening, in seconds.
const MAX_CLOCK_SHIFT_SECONDS: i64 = 14 * 3600;

/// An event in the merged timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEvent {
    /// The event as first reported (the most informative report of the happening).
    pub event: Event,
    /// Its time in UTC.
    pub at: DateTime<Utc>,
    /// What it means, with side-dependent wording resolved; `None` when unknown.
    pub stage: Option<Stage>,
    /// Every source that reported it, sorted.
    pub sources: Vec<String>,
}

/// A new tracking number the parcel was handed over under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The new number, compact.
    pub number: String,
    /// Its carrier, when known.
    pub carrier: Option<String>,
    /// When it was first seen.
    pub at: DateTime<Utc>,
}

/// The merged timeline of one parcel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    /// Events, oldest first.
    pub events: Vec<TimelineEvent>,
    /// Index in `events` of the event that sets the current stage.
    pub current: Option<usize>,
    /// New numbers found, in order of appearance.
    pub handoffs: Vec<Handoff>,
}

impl Timeline {
    /// The stage the parcel is in: the furthest credible one.
    pub fn stage(&self) -> Option<Stage> {
        self.current
            .and_then(|index| self.events.get(index))
            .and_then(|event| event.stage)
    }

    /// When the newest event happened.
    pub fn last_event_at(&self) -> Option<DateTime<Utc>> {
        self.events.last().map(|event| event.at)
    }

    /// Records a number a source says the parcel also travels under (Cainiao's
    /// `copyRealMailNo`, 17TRACK's `misc_info.local_number`, ...), unless it is one of
    /// `own_numbers` or already known; a known handoff without a carrier gets this one.
    pub fn link(&mut self, number: &str, carrier: Option<String>, own_numbers: &[&str], at: DateTime<Utc>) {
        self.link_all([(number, carrier)], own_numbers, at);
    }

    /// [`Timeline::link`] for many numbers at once, in time linear in their count.
    pub fn link_all<'a>(
        &mut self,
        links: impl IntoIterator<Item = (&'a str, Option<String>)>,
        own_numbers: &[&str],
        at: DateTime<Utc>,
    ) {
        let own: HashSet<String> = own_numbers
            .iter()
            .map(|own| crate::number::normalize::compact(own))
            .collect();
        let mut index: HashMap<String, usize> = self
            .handoffs
            .iter()
            .enumerate()
            .map(|(position, handoff)| (handoff.number.clone(), position))
            .collect();
        for (number, carrier) in links {
            let number = crate::number::normalize::compact(number);
            if number.is_empty() || own.contains(&number) {
                continue;
            }
            match index.get(&number) {
                Some(&position) => {
                    let known = &mut self.handoffs[position];
                    if known.carrier.is_none() {
                        known.carrier = carrier;
                    }
                }
                None => {
                    let carrier = carrier.or_else(|| carrier_of(&number));
                    index.insert(number.clone(), self.handoffs.len());
                    self.handoffs.push(Handoff { number, carrier, at });
                }
            }
        }
    }

    /// Whether any event shows that the parcel left the origin country.
    pub fn has_left_origin(&self) -> bool {
        self.events
            .iter()
            .any(|event| event.stage.is_some_and(Stage::has_left_origin))
    }
}

/// Merges events from any sources and numbers into one timeline. `own_numbers` are the
/// numbers the parcel is already tracked under (a number outside them is a handoff).
///
/// The result does not depend on the order of `events`, and merging a timeline's own
/// events again gives the same timeline.
pub fn merge(events: impl IntoIterator<Item = Event>, own_numbers: &[&str]) -> Timeline {
    let mut sorted: Vec<Event> = events.into_iter().collect();
    sorted.sort_by(|a, b| {
        let key = |e: &Event| {
            (
                e.time.with_timezone(&Utc),
                e.code.is_none(),
                std::cmp::Reverse(e.text.len()),
            )
        };
        key(a).cmp(&key(b)).then_with(|| a.cmp(b))
    });
    let mut merged: Vec<TimelineEvent> = Vec::new();
    // Kept events by folded text and by code, oldest first: a duplicate shares one of
    // them, so only those few are compared (events come in time order, and two kept
    // events of the same words or code are more than two minutes apart, so a 14-hour
    // window holds a bounded number of them).
    let mut by_text: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_code: HashMap<String, Vec<usize>> = HashMap::new();
    let mut folded_texts: Vec<String> = Vec::new();
    for event in sorted {
        let at = event.time.with_timezone(&Utc);
        let folded = fold(&event.text);
        let source = event.source.clone().unwrap_or_default();
        let in_window = |indices: Option<&Vec<usize>>, seconds: i64| -> Option<usize> {
            let indices = indices?;
            let window_start = at.minus(chrono::Duration::seconds(seconds));
            let first = indices.partition_point(|&index| merged[index].at < window_start);
            indices[first..]
                .iter()
                .copied()
                .find(|&index| is_same_happening(&merged[index], &folded_texts[index], &event, &folded, at))
        };
        let same_words = in_window(by_text.get(&folded), MAX_CLOCK_SHIFT_SECONDS);
        let same_code = in_window(
            event.code.as_ref().and_then(|code| by_code.get(code)),
            SAME_MOMENT_SECONDS,
        );
        let duplicate = match (same_words, same_code) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match duplicate {
            Some(index) => {
                let sources = &mut merged[index].sources;
                if !source.is_empty() && !sources.contains(&source) {
                    sources.push(source);
                    sources.sort();
                }
            }
            None => {
                let index = merged.len();
                by_text.entry(folded.clone()).or_default().push(index);
                folded_texts.push(folded);
                if let Some(code) = &event.code {
                    by_code.entry(code.clone()).or_default().push(index);
                }
                merged.push(TimelineEvent {
                    event,
                    at,
                    stage: None,
                    sources: if source.is_empty() {
                        Vec::new()
                    } else {
                        vec![source]
                    },
                });
            }
        }
    }
    let mut left_origin = false;
    for item in &mut merged {
        let classification = classify(item.event.code.as_deref(), &item.event.text);
        item.stage = match classification {
            Classification::Sided(_) => classification.resolve(left_origin),
            _ => classification.without_context(&item.event.text),
        };
        if item.stage.is_some_and(Stage::has_left_origin) {
            left_origin = true;
        }
    }
    let current = current_index(&merged);
    let handoffs = find_handoffs(&merged, own_numbers);
    Timeline {
        events: merged,
        current,
        handoffs,
    }
}

/// Same happening: the same words (or the same code) within two minutes, or the same
/// words an exact number of hours apart (a portal that mislabelled its time zone).
fn is_same_happening(
    kept: &TimelineEvent,
    kept_text: &str,
    event: &Event,
    folded: &str,
    at: DateTime<Utc>,
) -> bool {
    let seconds = (at - kept.at).num_seconds().abs();
    let same_words = kept_text == folded;
    let same_code = kept.event.code.is_some() && kept.event.code == event.code;
    if seconds <= SAME_MOMENT_SECONDS && (same_words || same_code) {
        return true;
    }
    same_words
        && seconds % 3600 == 0
        && seconds <= MAX_CLOCK_SHIFT_SECONDS
        && kept.event.source != event.source
}

/// The event that sets the current stage: the newest one, unless it would move the
/// parcel backwards in a way that does not really happen (an old event reported late or
/// with a wrong clock); returns and exceptions always count.
fn current_index(events: &[TimelineEvent]) -> Option<usize> {
    let mut current: Option<(usize, Stage)> = None;
    let mut furthest: Option<Stage> = None;
    for (index, event) in events.iter().enumerate() {
        let Some(stage) = event.stage else { continue };
        let take = match (current, stage) {
            (None, _) => true,
            (_, Stage::Returning | Stage::Exception) => true,
            (Some((_, Stage::Returning)), _) => stage == Stage::Delivered,
            (Some((_, now)), _) => {
                let reference = match now {
                    Stage::Exception => furthest.unwrap_or(stage),
                    _ => now,
                };
                stage >= reference || reference.may_roll_back_to(stage)
            }
        };
        if take {
            current = Some((index, stage));
            if !matches!(stage, Stage::Returning | Stage::Exception) {
                furthest = Some(furthest.map_or(stage, |f| f.max(stage)));
            }
        }
    }
    current.map(|(index, _)| index)
}

/// Words that announce a new number in the text.
const HANDOFF_CUES: &[&str] = &[
    "tracking number",
    "last mile",
    "new number",
    "local number",
    "numero de rastreamento",
    "numero de seguimiento",
    "nuevo numero",
    "nouveau numero",
    "numero de suivi",
    "sendungsnummer",
    "trackingnummer",
    "track and trace",
    "numer przesylki",
    "трек номер",
    "новый трек",
    "номер отслеживания",
    "новий трек",
    "takip numarasi",
    "numero di tracciamento",
    "单号",
    "מספר מעקב",
];

fn find_handoffs(events: &[TimelineEvent], own_numbers: &[&str]) -> Vec<Handoff> {
    let own: Vec<String> = own_numbers
        .iter()
        .map(|n| crate::number::normalize::compact(n))
        .collect();
    let mut handoffs: Vec<Handoff> = Vec::new();
    let mut known: HashSet<String> = own.iter().cloned().collect();
    let mut add =
        |number: String, carrier: Option<String>, at: DateTime<Utc>, handoffs: &mut Vec<Handoff>| {
            if known.insert(number.clone()) {
                handoffs.push(Handoff { number, carrier, at });
            }
        };
    let cues: Vec<String> = HANDOFF_CUES.iter().map(|cue| fold(cue)).collect();
    for item in events {
        if let Some(number) = item.event.number.as_deref() {
            let compact = crate::number::normalize::compact(number);
            if !compact.is_empty() && !own.is_empty() {
                let carrier = carrier_of(&compact);
                add(compact, carrier, item.at, &mut handoffs);
            }
        }
        let folded = fold(&item.event.text);
        let cue = item.event.code.as_deref() == Some("GTMS_RELABEL")
            || item.stage == Some(Stage::HandedToLastMile)
            || cues.iter().any(|cue| folded.contains(cue.as_str()));
        if !cue {
            continue;
        }
        for recognition in recognise(&item.event.text) {
            let confident = matches!(recognition.outcome, Outcome::Recognised);
            if let (true, Some(number)) = (confident, recognition.normalized.clone()) {
                let carrier = recognition.best().map(|c| c.carrier.to_owned());
                add(number, carrier, item.at, &mut handoffs);
            }
        }
    }
    handoffs
}

/// The carrier of a number, when its shape names one with confidence.
pub fn carrier_of(number: &str) -> Option<String> {
    let recognition = recognise(number).into_iter().next()?;
    match recognition.outcome {
        Outcome::Recognised => recognition.best().map(|c| c.carrier.to_owned()),
        _ => None,
    }
}
