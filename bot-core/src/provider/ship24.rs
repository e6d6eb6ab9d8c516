//! Ship24 (`{base}/public/v1`, `Authorization: Bearer <key>`).
//!
//! A number seen for the first time gets a tracker: one number alone through
//! `POST /trackers/track` (which answers with the results at once), several through one
//! `POST /trackers/bulk` followed by `GET /trackers/search/{number}/results`. Ship24
//! prices per shipment, so a number whose tracker exists is only ever read with the
//! search endpoint afterwards.
//!
//! Fields relied on (see `providers.md`): `data.trackings[]{shipment{statusMilestone,
//! trackingNumbers[]{tn},originCountryCode,destinationCountryCode,delivery{
//! estimatedDeliveryDate}},events[]{eventTrackingNumber,status,occurrenceDatetime,
//! location,courierCode,statusCode,statusMilestone}}`; bulk replies
//! `data.items[]{itemIndex?,trackingNumber?,status?,errors?}`. Everything may be missing.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::guard::Guarded;
use super::{
    Eta, FetchResult, KeyedConfig, LinkedNumber, Lookup, ProviderError, Shipment, TrackingProvider, http,
    json_str,
};
use crate::clock::Clock;
use crate::interpret::Event;
use crate::interpret::event::parse_time;
use crate::number::TrackingNumber;

/// The provider's name, also the `source` of its events.
pub const NAME: &str = "ship24";

/// Ship24's bulk endpoint takes at most 100 items.
pub const MAX_BATCH: usize = 100;

/// How the Ship24 provider is set up.
pub type Ship24Config = KeyedConfig;

/// The Ship24 aggregator.
#[derive(Debug)]
pub struct Ship24<C> {
    config: Ship24Config,
    guarded: Guarded<C>,
    trackers: Mutex<HashSet<String>>,
}

impl<C: Clock> Ship24<C> {
    /// A Ship24 source.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] if the HTTP client cannot be built.
    pub fn new(config: Ship24Config, clock: C) -> Result<Self, ProviderError> {
        Ok(Ship24 {
            guarded: config.guarded(clock)?,
            config,
            trackers: Mutex::new(HashSet::new()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/public/v1{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn has_tracker(&self, number: &str) -> bool {
        self.trackers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(number)
    }

    fn remember_tracker(&self, number: &str) {
        self.trackers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number.to_owned());
    }

    async fn call(&self, request: impl Fn() -> reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        self.guarded
            .run(|| async {
                let reply = http::send(request().bearer_auth(self.config.api_key.expose_secret())).await?;
                let body: Value = reply.json()?;
                if let Some(error) = body_error(&body) {
                    return Err(error);
                }
                Ok(body)
            })
            .await
    }

    async fn results(&self, number: &str) -> FetchResult {
        let url = self.url(&format!("/trackers/search/{number}/results"));
        let body = self.call(|| self.guarded.client.get(&url)).await?;
        Ok(parse_results(&body, number))
    }

    async fn track_one(&self, number: &str) -> FetchResult {
        let url = self.url("/trackers/track");
        let body = self
            .call(|| {
                self.guarded
                    .client
                    .post(&url)
                    .json(&json!({ "trackingNumber": number }))
            })
            .await?;
        self.remember_tracker(number);
        Ok(parse_results(&body, number))
    }

    /// Creates trackers for several numbers at once; returns, per number, whether its
    /// tracker exists now.
    async fn create_trackers(&self, numbers: &[&str]) -> Vec<Result<(), ProviderError>> {
        let url = self.url("/trackers/bulk");
        let items: Vec<Value> = numbers.iter().map(|n| json!({ "trackingNumber": n })).collect();
        let body = match self.call(|| self.guarded.client.post(&url).json(&items)).await {
            Ok(body) => body,
            Err(error) => return vec![Err(error); numbers.len()],
        };
        let items = body
            .get("data")
            .and_then(|d| d.get("items"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        numbers
            .iter()
            .enumerate()
            .map(|(index, number)| {
                let item = items.iter().find(|item| {
                    item.get("itemIndex").and_then(Value::as_u64) == Some(index as u64)
                        || item
                            .get("tracker")
                            .and_then(|t| t.get("trackingNumber"))
                            .or_else(|| item.get("trackingNumber"))
                            .and_then(Value::as_str)
                            .is_some_and(|tn| tn.eq_ignore_ascii_case(number))
                });
                let Some(item) = item else {
                    return Err(ProviderError::Transient(
                        "the bulk reply has no item for this number".to_owned(),
                    ));
                };
                let failed = item
                    .get("errors")
                    .and_then(Value::as_array)
                    .is_some_and(|errors| !errors.is_empty())
                    || item
                        .get("status")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.eq_ignore_ascii_case("error"));
                if failed {
                    Err(ProviderError::Transient(
                        "Ship24 refused to create the tracker".to_owned(),
                    ))
                } else {
                    self.remember_tracker(number);
                    Ok(())
                }
            })
            .collect()
    }
}

/// An error that Ship24 reports in a 2xx body (`errors[]` with a code).
fn body_error(body: &Value) -> Option<ProviderError> {
    let first = body.get("errors").and_then(Value::as_array)?.first()?;
    let code = json_str(first, "code").unwrap_or_default();
    Some(http::account_error(
        code,
        format!("Ship24 reported an error ({code})"),
    ))
}

impl<C: Clock> TrackingProvider for Ship24<C> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves(&self, number: &TrackingNumber) -> bool {
        // Ship24 takes tracking numbers of 5 to 50 characters from any carrier.
        (5..=50).contains(&number.as_str().len())
    }

    fn batch_size(&self) -> usize {
        self.config.batch_size.clamp(1, MAX_BATCH)
    }

    async fn fetch(&self, numbers: &[TrackingNumber]) -> Vec<FetchResult> {
        let asked: Vec<&str> = numbers.iter().map(TrackingNumber::as_str).collect();
        let new: Vec<&str> = asked.iter().copied().filter(|n| !self.has_tracker(n)).collect();
        let mut created: Vec<(&str, Result<(), ProviderError>)> = Vec::new();
        let mut tracked_now: Vec<(&str, FetchResult)> = Vec::new();
        match new.as_slice() {
            [] => {}
            [only] => tracked_now.push((only, self.track_one(only).await)),
            several => {
                created = several
                    .iter()
                    .copied()
                    .zip(self.create_trackers(several).await)
                    .collect()
            }
        }
        let mut results = Vec::with_capacity(asked.len());
        for number in asked {
            if let Some((_, result)) = tracked_now.iter().find(|(n, _)| *n == number) {
                results.push(result.clone());
                continue;
            }
            if let Some((_, Err(error))) = created.iter().find(|(n, _)| *n == number) {
                results.push(Err(error.clone()));
                continue;
            }
            results.push(self.results(number).await);
        }
        results
    }
}

/// Maps a `/trackers/track` or `/trackers/search/.../results` reply.
pub fn parse_results(body: &Value, number: &str) -> Lookup {
    let trackings = body
        .get("data")
        .and_then(|d| d.get("trackings"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(tracking) = trackings.first() else {
        return Lookup::Unknown;
    };
    let shipment = tracking.get("shipment");
    let mut events = Vec::new();
    let mut couriers: Vec<(String, String)> = Vec::new();
    for raw in tracking
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // Ship24 gives local times, mostly without an offset: read those as UTC.
        let time = json_str(raw, "occurrenceDatetime")
            .or_else(|| json_str(raw, "datetime"))
            .and_then(|t| parse_time(t, Some("UTC")));
        let (Some(time), Some(text)) = (time, json_str(raw, "status")) else {
            continue;
        };
        let event_number = json_str(raw, "eventTrackingNumber")
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_else(|| number.to_owned());
        if let Some(courier) = json_str(raw, "courierCode") {
            couriers.push((event_number.clone(), courier.to_owned()));
        }
        events.push(Event {
            time,
            text: text.to_owned(),
            location: json_str(raw, "location").map(str::to_owned),
            code: json_str(raw, "statusCode")
                .or_else(|| json_str(raw, "statusMilestone"))
                .map(str::to_owned),
            source: Some(NAME.to_owned()),
            number: Some(event_number),
        });
    }
    if events.is_empty() {
        return Lookup::Pending;
    }
    let linked_numbers = shipment
        .and_then(|s| s.get("trackingNumbers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tn| json_str(tn, "tn"))
        .map(str::to_ascii_uppercase)
        .filter(|tn| tn != number)
        .map(|tn| LinkedNumber {
            carrier: couriers.iter().find(|(n, _)| *n == tn).map(|(_, c)| c.clone()),
            number: tn,
        })
        .collect();
    let eta = shipment
        .and_then(|s| s.get("delivery"))
        .and_then(|d| json_str(d, "estimatedDeliveryDate"))
        .and_then(|t| parse_time(t, Some("UTC")).or_else(|| parse_time(&format!("{t} 12:00"), Some("UTC"))))
        .map(|t| Eta {
            earliest: None,
            latest: Some(t.with_timezone(&Utc)),
        });
    Lookup::Found(Shipment {
        events,
        origin_country: shipment
            .and_then(|s| json_str(s, "originCountryCode"))
            .map(str::to_ascii_uppercase),
        destination_country: shipment
            .and_then(|s| json_str(s, "destinationCountryCode"))
            .map(str::to_ascii_uppercase),
        linked_numbers,
        eta,
        weight_grams: None,
    })
}
