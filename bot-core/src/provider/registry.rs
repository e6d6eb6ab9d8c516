//! The configured providers, in priority order, and the routing of numbers to them.
//!
//! The number's format decides who is asked: Cainiao (and the simulated carrier) only
//! about the formats they serve, the keyed aggregators about every number. Every
//! provider that serves a number is asked (the merged timeline is better for it), each
//! in batches of its own size, and providers run concurrently so that a slow or failing
//! one never delays the others.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::cainiao::{Cainiao, CainiaoConfig};
use super::guard::RetryPolicy;
use super::seventeen_track::SeventeenTrack;
use super::ship24::Ship24;
use super::sim::SimulatedCarrier;
use super::{DynProvider, FetchResult, KeyedConfig, Lookup, ProviderError, RegistrationLedger};
use crate::clock::Clock;
use crate::number::TrackingNumber;
use crate::settings::{KeyedProviderSettings, ProviderName, ProviderSettings};

/// Every answer about one number.
#[derive(Debug, Clone)]
pub struct NumberResult {
    /// The number asked about.
    pub number: TrackingNumber,
    /// One answer per provider asked, in priority order.
    pub answers: Vec<(&'static str, FetchResult)>,
}

impl NumberResult {
    /// Whether at least one provider gave an answer (found, unknown, not shipped, pending,
    /// or "this number is invalid") rather than a failure.
    pub fn any_answer(&self) -> bool {
        self.answers
            .iter()
            .any(|(_, result)| matches!(result, Ok(_) | Err(ProviderError::InvalidNumber(_))))
    }

    /// The providers that say the number is invalid, when no provider knows anything of
    /// it (found, not handed over, pending): then the number is not worth polling again.
    /// An aggregator's "invalid" never outweighs another source's events.
    pub fn invalid_by(&self) -> Vec<&'static str> {
        let known_somewhere = self.answers.iter().any(|(_, result)| {
            matches!(
                result,
                Ok(Lookup::Found(_) | Lookup::NotYetShipped | Lookup::Pending)
            )
        });
        if known_somewhere {
            return Vec::new();
        }
        self.answers
            .iter()
            .filter(|(_, result)| matches!(result, Err(ProviderError::InvalidNumber(_))))
            .map(|(name, _)| *name)
            .collect()
    }

    /// What the answers say besides events, for the judgement.
    pub fn facts(&self) -> crate::interpret::SourceFacts {
        let mut facts = crate::interpret::SourceFacts::default();
        for (name, result) in &self.answers {
            match result {
                Ok(Lookup::NotYetShipped) => facts.not_handed_over = true,
                Ok(Lookup::Pending) => facts.pending = true,
                Ok(Lookup::Unknown { authoritative: true }) => facts.unknown_to.push((*name).to_owned()),
                _ => {}
            }
        }
        facts.invalid_by = self.invalid_by().iter().map(|name| (*name).to_owned()).collect();
        facts.eta = self.found().find_map(|(_, shipment)| shipment.eta.clone());
        facts
    }

    /// The answers that are findings.
    pub fn found(&self) -> impl Iterator<Item = (&'static str, &super::Shipment)> {
        self.answers.iter().filter_map(|(name, result)| match result {
            Ok(Lookup::Found(shipment)) => Some((*name, shipment)),
            _ => None,
        })
    }
}

/// The providers this bot asks, in priority order.
#[derive(Clone)]
pub struct Providers {
    providers: Vec<Arc<dyn DynProvider>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Providers {
    /// Providers from an explicit list (tests, and custom wiring), in priority order.
    pub fn new(providers: Vec<Arc<dyn DynProvider>>) -> Providers {
        Providers { providers }
    }

    /// Builds the providers the settings enable, reading time from `clock`. A keyed
    /// provider without a key is left out, and the log says so once, here.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] if an HTTP client cannot be built.
    pub fn from_settings<C: Clock + Clone>(
        settings: &ProviderSettings,
        clock: C,
    ) -> Result<Providers, ProviderError> {
        Providers::from_settings_with_ledger(settings, clock, None)
    }

    /// [`Providers::from_settings`], with paid registrations remembered in `ledger`
    /// (the store) so that several instances, or one after a restart, never pay twice.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] if an HTTP client cannot be built.
    pub fn from_settings_with_ledger<C: Clock + Clone>(
        settings: &ProviderSettings,
        clock: C,
        ledger: Option<Arc<dyn RegistrationLedger>>,
    ) -> Result<Providers, ProviderError> {
        let retry = RetryPolicy {
            max_retries: settings.max_retries,
            ..RetryPolicy::default()
        };
        let mut providers: Vec<Arc<dyn DynProvider>> = Vec::new();
        for name in settings.active() {
            match name {
                ProviderName::Cainiao => providers.push(Arc::new(Cainiao::new(
                    CainiaoConfig {
                        base_url: settings.cainiao.base_url.clone(),
                        batch_size: settings.cainiao.batch_size,
                        requests_per_second: settings.cainiao.requests_per_second,
                        per_number_interval: settings.cainiao.per_number_interval,
                        timeout: settings.timeout,
                        retry,
                    },
                    clock.clone(),
                )?)),
                ProviderName::SeventeenTrack => {
                    if let Some(config) =
                        keyed_config("seventeen_track", &settings.seventeen_track, settings, retry)
                    {
                        let source = SeventeenTrack::new(config, clock.clone())?;
                        providers.push(Arc::new(match &ledger {
                            Some(ledger) => source.with_ledger(Arc::clone(ledger)),
                            None => source,
                        }));
                    }
                }
                ProviderName::Ship24 => {
                    if let Some(config) = keyed_config("ship24", &settings.ship24, settings, retry) {
                        providers.push(Arc::new(Ship24::new(config, clock.clone())?));
                    }
                }
                ProviderName::Sim => providers.push(Arc::new(SimulatedCarrier::new(clock.clone()))),
            }
        }
        if settings.enabled.is_empty() {
            for (name, keyed) in [
                ("seventeen_track", &settings.seventeen_track),
                ("ship24", &settings.ship24),
            ] {
                if keyed.api_key.is_none() {
                    tracing::info!(provider = name, "provider not enabled: no api_key");
                }
            }
        }
        if settings.enabled.is_empty() && providers.iter().all(|p| p.name() == super::sim::NAME) {
            tracing::info!("no real provider is configured: using the simulated carrier");
        }
        Ok(Providers { providers })
    }

    /// The providers' names, in priority order.
    pub fn names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// The providers to ask about `number`, in the order their answers rank: Cainiao
    /// first for the numbers it issues or carries, then the others in configured order.
    pub fn route(&self, number: &TrackingNumber) -> Vec<Arc<dyn DynProvider>> {
        self.route_indices(number)
            .into_iter()
            .map(|index| Arc::clone(&self.providers[index]))
            .collect()
    }

    /// [`route`](Providers::route) as indices into the provider list.
    fn route_indices(&self, number: &TrackingNumber) -> Vec<usize> {
        let mut chosen: Vec<usize> = (0..self.providers.len())
            .filter(|&index| self.providers[index].serves(number))
            .collect();
        if super::is_cainiao_format(number) {
            chosen.sort_by_key(|&index| self.providers[index].name() != super::cainiao::NAME);
        }
        chosen
    }

    /// Asks every provider that serves each number, in batches of each provider's size,
    /// with all providers working at once. Returns one [`NumberResult`] per distinct
    /// number, in the order given.
    pub async fn fetch(&self, numbers: &[TrackingNumber]) -> Vec<NumberResult> {
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<TrackingNumber> = numbers
            .iter()
            .filter(|number| seen.insert(number.as_str()))
            .cloned()
            .collect();
        // Routes are computed once per number; answers come back by position.
        let routes: Vec<Vec<usize>> = distinct.iter().map(|n| self.route_indices(n)).collect();
        let mut tasks: JoinSet<(usize, Vec<(usize, FetchResult)>)> = JoinSet::new();
        for (provider_index, provider) in self.providers.iter().enumerate() {
            let (positions, mine): (Vec<usize>, Vec<TrackingNumber>) = distinct
                .iter()
                .enumerate()
                .filter(|(position, _)| routes[*position].contains(&provider_index))
                .map(|(position, number)| (position, number.clone()))
                .unzip();
            if mine.is_empty() {
                continue;
            }
            let provider = Arc::clone(provider);
            tasks.spawn(async move {
                let mut out = Vec::with_capacity(mine.len());
                let batch_size = provider.batch_size().max(1);
                for (batch, batch_positions) in mine.chunks(batch_size).zip(positions.chunks(batch_size)) {
                    let started = tokio::time::Instant::now();
                    let mut results = provider.fetch_boxed(batch).await;
                    crate::ops::telemetry::provider_call(
                        provider.name(),
                        call_outcome(&results),
                        started.elapsed(),
                    );
                    // The contract says one result per number; a provider that breaks it
                    // must not shift answers onto the wrong numbers.
                    if results.len() != batch.len() {
                        tracing::error!(
                            provider = provider.name(),
                            "provider returned {} results for {} numbers",
                            results.len(),
                            batch.len()
                        );
                        results = vec![
                            Err(ProviderError::Transient(
                                "the provider answered out of order".to_owned()
                            ));
                            batch.len()
                        ];
                    }
                    out.extend(batch_positions.iter().copied().zip(results));
                }
                (provider_index, out)
            });
        }
        let mut answers: Vec<Vec<(usize, FetchResult)>> = vec![Vec::new(); distinct.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((provider_index, results)) => {
                    for (position, result) in results {
                        answers[position].push((provider_index, result));
                    }
                }
                Err(error) => tracing::error!(error = %crate::ops::Chain(&error), "a provider task failed"),
            }
        }
        distinct
            .into_iter()
            .zip(answers)
            .zip(&routes)
            .map(|((number, mut answers), route)| {
                answers.sort_by_key(|(provider_index, _)| route.iter().position(|r| r == provider_index));
                NumberResult {
                    number,
                    answers: answers
                        .into_iter()
                        .map(|(provider_index, result)| (self.providers[provider_index].name(), result))
                        .collect(),
                }
            })
            .collect()
    }
}

/// The configuration of a keyed aggregator, or `None` (said once in the log) when it is
/// listed without a key.
fn keyed_config(
    name: &str,
    keyed: &KeyedProviderSettings,
    settings: &ProviderSettings,
    retry: RetryPolicy,
) -> Option<KeyedConfig> {
    let Some(api_key) = keyed.api_key.clone() else {
        tracing::warn!(provider = name, "provider is listed but not enabled: no api_key");
        return None;
    };
    Some(KeyedConfig {
        base_url: keyed.base_url.clone(),
        api_key,
        batch_size: keyed.batch_size,
        requests_per_second: keyed.requests_per_second,
        timeout: settings.timeout,
        retry,
    })
}

/// The outcome label of one provider call: `ok` when any number got an answer, else the
/// kind of the first error.
fn call_outcome(results: &[FetchResult]) -> &'static str {
    if results.iter().any(Result::is_ok) {
        return "ok";
    }
    results
        .iter()
        .find_map(|result| result.as_ref().err())
        .map_or("ok", ProviderError::kind)
}
