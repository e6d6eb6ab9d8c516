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
use super::{DynProvider, FetchResult, KeyedConfig, Lookup, ProviderError};
use crate::clock::Clock;
use crate::number::TrackingNumber;
use crate::settings::{ProviderName, ProviderSettings};

/// Every answer about one number.
#[derive(Debug, Clone)]
pub struct NumberResult {
    /// The number asked about.
    pub number: TrackingNumber,
    /// One answer per provider asked, in priority order.
    pub answers: Vec<(&'static str, FetchResult)>,
}

impl NumberResult {
    /// Whether at least one provider gave an answer (found, unknown, not shipped, pending)
    /// rather than an error.
    pub fn any_answer(&self) -> bool {
        self.answers.iter().any(|(_, result)| result.is_ok())
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
                    let Some(api_key) = settings.seventeen_track.api_key.clone() else {
                        tracing::warn!("provider seventeen_track is listed but not enabled: no api_key");
                        continue;
                    };
                    providers.push(Arc::new(SeventeenTrack::new(
                        KeyedConfig {
                            base_url: settings.seventeen_track.base_url.clone(),
                            api_key,
                            batch_size: settings.seventeen_track.batch_size,
                            requests_per_second: settings.seventeen_track.requests_per_second,
                            timeout: settings.timeout,
                            retry,
                        },
                        clock.clone(),
                    )?));
                }
                ProviderName::Ship24 => {
                    let Some(api_key) = settings.ship24.api_key.clone() else {
                        tracing::warn!("provider ship24 is listed but not enabled: no api_key");
                        continue;
                    };
                    providers.push(Arc::new(Ship24::new(
                        KeyedConfig {
                            base_url: settings.ship24.base_url.clone(),
                            api_key,
                            batch_size: settings.ship24.batch_size,
                            requests_per_second: settings.ship24.requests_per_second,
                            timeout: settings.timeout,
                            retry,
                        },
                        clock.clone(),
                    )?));
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
        if settings.enabled.is_empty() && names_are_sim(&providers) {
            tracing::info!("no real provider is configured: using the simulated carrier");
        }
        Ok(Providers { providers })
    }

    /// The providers' names, in priority order.
    pub fn names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// Whether only the simulated carrier is configured.
    pub fn is_simulated_only(&self) -> bool {
        !self.providers.is_empty() && names_are_sim(&self.providers)
    }

    /// Whether no provider at all is configured.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The providers to ask about `number`, in the order their answers rank: Cainiao
    /// first for the numbers it issues or carries, then the others in configured order.
    pub fn route(&self, number: &TrackingNumber) -> Vec<Arc<dyn DynProvider>> {
        let mut chosen: Vec<Arc<dyn DynProvider>> = self
            .providers
            .iter()
            .filter(|p| p.serves(number))
            .cloned()
            .collect();
        if super::is_cainiao_format(number) {
            chosen.sort_by_key(|p| p.name() != super::cainiao::NAME);
        }
        chosen
    }

    /// Asks every provider that serves each number, in batches of each provider's size,
    /// with all providers working at once. Returns one [`NumberResult`] per distinct
    /// number, in the order given.
    pub async fn fetch(&self, numbers: &[TrackingNumber]) -> Vec<NumberResult> {
        let mut distinct: Vec<TrackingNumber> = Vec::new();
        for number in numbers {
            if !distinct.contains(number) {
                distinct.push(number.clone());
            }
        }
        let mut tasks: JoinSet<Vec<(String, &'static str, FetchResult)>> = JoinSet::new();
        for provider in &self.providers {
            let mine: Vec<TrackingNumber> = distinct
                .iter()
                .filter(|n| self.route(n).iter().any(|p| Arc::ptr_eq(p, provider)))
                .cloned()
                .collect();
            if mine.is_empty() {
                continue;
            }
            let provider = Arc::clone(provider);
            tasks.spawn(async move {
                let mut out = Vec::with_capacity(mine.len());
                for batch in mine.chunks(provider.batch_size().max(1)) {
                    let mut results = provider.fetch_boxed(batch).await;
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
                    for (number, result) in batch.iter().zip(results) {
                        out.push((number.as_str().to_owned(), provider.name(), result));
                    }
                }
                out
            });
        }
        let mut collected: Vec<(String, &'static str, FetchResult)> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(results) => collected.extend(results),
                Err(error) => tracing::error!(%error, "a provider task failed"),
            }
        }
        distinct
            .into_iter()
            .map(|number| {
                let order = self.route(&number);
                let mut answers: Vec<(&'static str, FetchResult)> = collected
                    .iter()
                    .filter(|(n, _, _)| n == number.as_str())
                    .map(|(_, name, result)| (*name, result.clone()))
                    .collect();
                answers.sort_by_key(|(name, _)| order.iter().position(|p| p.name() == *name));
                NumberResult { number, answers }
            })
            .collect()
    }
}

fn names_are_sim(providers: &[Arc<dyn DynProvider>]) -> bool {
    providers.iter().all(|p| p.name() == super::sim::NAME)
}
