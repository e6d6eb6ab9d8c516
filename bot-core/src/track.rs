//! One-shot tracking: ask the configured providers about a number now, follow the
//! handoff to a new last-mile number once, merge everything and judge it. Used by
//! `parcelbot track`; the engine's polling reuses the same pieces.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::interpret::{AssessInput, Assessment, DeliveryReport, Destination, Event, assess};
use crate::number::TrackingNumber;
use crate::provider::{LinkedNumber, Lookup, NumberResult, Providers};

/// At most this many handoff numbers are followed in one go.
const MAX_FOLLOWED: usize = 3;

/// What one-shot tracking found.
#[derive(Debug, Clone)]
pub struct TrackReport {
    /// The number tracked.
    pub number: TrackingNumber,
    /// Every provider's answer, for the number and the handoff numbers followed.
    pub results: Vec<NumberResult>,
    /// The judgement over everything found.
    pub assessment: Assessment,
    /// Where and when the journey started and ended.
    pub delivery: DeliveryReport,
}

/// One provider's answer, for reports (`parcelbot track`).
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The number asked about.
    pub number: String,
    /// The provider.
    pub provider: &'static str,
    /// `found`, `unknown`, `not_yet_shipped`, `pending`, or `error`.
    pub outcome: &'static str,
    /// Events found.
    pub events: usize,
    /// For `unknown`: whether the source is authoritative for the number.
    pub authoritative: Option<bool>,
    /// For `error`: its kind (`transient`, `quota_exhausted`, `unauthorised`,
    /// `invalid_number`, …; see [`crate::provider::ProviderError::kind`]).
    pub error_kind: Option<&'static str>,
    /// For `error`: the error in words.
    pub error: Option<String>,
}

impl SourceReport {
    /// Reports of every answer in `results`.
    pub fn of(results: &[NumberResult]) -> Vec<SourceReport> {
        results
            .iter()
            .flat_map(|result| {
                result.answers.iter().map(|(provider, answer)| {
                    let mut report = SourceReport {
                        number: result.number.as_str().to_owned(),
                        provider,
                        outcome: "error",
                        events: 0,
                        authoritative: None,
                        error_kind: None,
                        error: None,
                    };
                    match answer {
                        Ok(lookup) => {
                            report.outcome = lookup.as_code();
                            match lookup {
                                Lookup::Found(shipment) => report.events = shipment.events.len(),
                                Lookup::Unknown { authoritative } => {
                                    report.authoritative = Some(*authoritative)
                                }
                                Lookup::NotYetShipped | Lookup::Pending => {}
                            }
                        }
                        Err(error) => {
                            report.error_kind = Some(error.kind());
                            report.error = Some(error.to_string());
                        }
                    }
                    report
                })
            })
            .collect()
    }

    /// The report as one line of `parcelbot track`: `<number> via <provider>: <answer>`.
    pub fn line(&self) -> String {
        let answer = match (self.outcome, self.authoritative, &self.error) {
            ("found", _, _) => format!("found, {} events", self.events),
            ("unknown", Some(true), _) => {
                "unknown to this source (it issues numbers of this shape)".to_owned()
            }
            ("unknown", _, _) => "unknown to this source".to_owned(),
            ("not_yet_shipped", _, _) => "known, not handed over by the seller yet".to_owned(),
            ("pending", _, _) => "pending: registered, ask again later".to_owned(),
            (_, _, Some(error)) => format!("error ({}): {error}", self.error_kind.unwrap_or("error")),
            (outcome, _, None) => outcome.to_owned(),
        };
        format!("{} via {}: {answer}", self.number, self.provider)
    }
}

impl TrackReport {
    /// One report per provider answer.
    pub fn sources(&self) -> Vec<SourceReport> {
        SourceReport::of(&self.results)
    }
}

/// Why one-shot tracking could not say anything.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrackError {
    /// No provider is configured that serves this number.
    #[error("no configured provider can track {0}")]
    NoProvider(String),
    /// Every provider asked failed; nothing is known. Holds every answer, for reports.
    #[error("no provider could be reached: {}", describe(.0))]
    Unreachable(Vec<NumberResult>),
}

fn describe(results: &[NumberResult]) -> String {
    results
        .iter()
        .flat_map(|result| &result.answers)
        .filter_map(|(provider, answer)| answer.as_ref().err().map(|error| format!("{provider}: {error}")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Tracks `number` now: fetches it from every provider that serves it, follows linked
/// numbers once, and judges the merged events at `now` (against the buyer's
/// `destination`, when known).
///
/// # Errors
/// [`TrackError::NoProvider`] when no provider serves the number;
/// [`TrackError::Unreachable`] when every provider failed for it (an error is never
/// reported as "not found").
pub async fn track_once(
    providers: &Providers,
    number: &TrackingNumber,
    destination: Option<Destination>,
    now: DateTime<Utc>,
) -> Result<TrackReport, TrackError> {
    track_once_for(providers, number, destination, None, now).await
}

/// [`track_once`] for a buyer who first asked about the number at `asked_at` (a chat's
/// `/fake` on a number it does not follow asks now): a delivery weeks before it is a
/// doubt.
///
/// # Errors
/// As [`track_once`].
pub async fn track_once_for(
    providers: &Providers,
    number: &TrackingNumber,
    destination: Option<Destination>,
    asked_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<TrackReport, TrackError> {
    if providers.route(number).is_empty() {
        return Err(TrackError::NoProvider(number.as_str().to_owned()));
    }
    let mut results = providers.fetch(std::slice::from_ref(number)).await;
    let Some(first) = results.first() else {
        return Err(TrackError::NoProvider(number.as_str().to_owned()));
    };
    if !first.any_answer() {
        return Err(TrackError::Unreachable(results));
    }
    let facts = first.facts();
    let linked = linked_numbers(&results);
    let followed: Vec<TrackingNumber> = linked
        .iter()
        .filter_map(|link| TrackingNumber::parse(&link.number).ok())
        .filter(|link| link != number)
        .take(MAX_FOLLOWED)
        .collect();
    if !followed.is_empty() {
        results.extend(providers.fetch(&followed).await);
    }
    let events: Vec<Event> = results
        .iter()
        .flat_map(|result| {
            result
                .found()
                .flat_map(|(_, shipment)| shipment.events.iter().cloned())
        })
        .collect();
    let delivery = DeliveryReport::of(events.iter().cloned(), number.as_str());
    let assessment = assess(AssessInput {
        number: number.as_str().to_owned(),
        now: now.fixed_offset(),
        ordered_at: None,
        shipped_at: None,
        destination,
        protection_ends: None,
        asked_at: asked_at.map(|t| t.fixed_offset()),
        events,
        linked_numbers: linked,
        sources: facts,
    });
    Ok(TrackReport {
        number: number.clone(),
        results,
        assessment,
        delivery,
    })
}

/// Every linked number the sources named, without repeats.
fn linked_numbers(results: &[NumberResult]) -> Vec<LinkedNumber> {
    let mut linked: Vec<LinkedNumber> = Vec::new();
    for result in results {
        for (_, shipment) in result.found() {
            for link in &shipment.linked_numbers {
                match linked.iter_mut().find(|known| known.number == link.number) {
                    Some(known) if known.carrier.is_none() => known.carrier.clone_from(&link.carrier),
                    Some(_) => {}
                    None => linked.push(link.clone()),
                }
            }
        }
    }
    linked
}
