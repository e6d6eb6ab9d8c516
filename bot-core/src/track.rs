//! One-shot tracking: ask the configured providers about a number now, follow the
//! handoff to a new last-mile number once, merge everything and judge it. Used by
//! `parcelbot track`; the engine's polling reuses the same pieces.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::interpret::{AssessInput, Assessment, Destination, Event, assess};
use crate::number::TrackingNumber;
use crate::provider::{LinkedNumber, Lookup, NumberResult, ProviderError, Providers};

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
}

/// One provider's answer, for reports.
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
    /// The error, in words, when the outcome is `error`.
    pub error: Option<String>,
}

impl TrackReport {
    /// One line per provider answer.
    pub fn sources(&self) -> Vec<SourceReport> {
        self.results
            .iter()
            .flat_map(|result| {
                result.answers.iter().map(|(provider, answer)| {
                    let (outcome, events, error) = match answer {
                        Ok(Lookup::Found(shipment)) => ("found", shipment.events.len(), None),
                        Ok(Lookup::Unknown) => ("unknown", 0, None),
                        Ok(Lookup::NotYetShipped) => ("not_yet_shipped", 0, None),
                        Ok(Lookup::Pending) => ("pending", 0, None),
                        Err(error) => ("error", 0, Some(error.to_string())),
                    };
                    SourceReport {
                        number: result.number.as_str().to_owned(),
                        provider,
                        outcome,
                        events,
                        error,
                    }
                })
            })
            .collect()
    }
}

/// Why one-shot tracking could not say anything.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackError {
    /// No provider is configured that serves this number.
    #[error("no configured provider can track {0}")]
    NoProvider(String),
    /// Every provider asked failed; nothing is known.
    #[error("no provider could be reached: {}", describe(.0))]
    Unreachable(Vec<(&'static str, ProviderError)>),
}

fn describe(errors: &[(&'static str, ProviderError)]) -> String {
    errors
        .iter()
        .map(|(provider, error)| format!("{provider}: {error}"))
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
    if providers.route(number).is_empty() {
        return Err(TrackError::NoProvider(number.as_str().to_owned()));
    }
    let mut results = providers.fetch(std::slice::from_ref(number)).await;
    let Some(first) = results.first() else {
        return Err(TrackError::NoProvider(number.as_str().to_owned()));
    };
    if !first.any_answer() {
        let errors = first
            .answers
            .iter()
            .filter_map(|(provider, result)| result.as_ref().err().map(|e| (*provider, e.clone())))
            .collect();
        return Err(TrackError::Unreachable(errors));
    }
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
    let assessment = assess(AssessInput {
        number: number.as_str().to_owned(),
        now: now.fixed_offset(),
        ordered_at: None,
        shipped_at: None,
        destination,
        protection_ends: None,
        events,
        linked_numbers: linked,
    });
    Ok(TrackReport {
        number: number.clone(),
        results,
        assessment,
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
