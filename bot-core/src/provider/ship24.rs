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
//! location,courierCode,statusCode,statusMilestone}}`; bulk replies (Ship24's OpenAPI
//! description, `ship24/ship24-node` `spec/ship24-tracking-api.yaml`)
//! `{status, summary, data: [{itemStatus, inputData{trackingNumber}, tracker{trackingNumber},
//! errors[]}]}`: a list under `data`, one item per input, in order. Fields may be
//! missing; a field of the wrong type (`data.trackings` not a list, bulk `data` not a
//! list) makes the reply [`ProviderError::Malformed`].
//!
//! Errors are read from the body before the status (`{"errors":[{"code"}],"data":null}`,
//! or `{"status":"error","error":{"code"}}` from the bulk endpoint). The codes, from the
//! same OpenAPI description and the error mapping of Ship24's Node SDK (`src/errors.ts`):
//!
//! | code | status seen | answer |
//! |---|---|---|
//! | `auth_missing_header`, `auth_invalid_header`, `auth_invalid_api_key` | 400, 401 | [`ProviderError::Unauthorised`] |
//! | `quota_limit_reached` | 403, 405 | [`ProviderError::QuotaExhausted`] |
//! | `bulk_create_limit_exceeded` | 403 | [`ProviderError::QuotaExhausted`] |
//! | `no_active_subscription` | 422 | [`ProviderError::QuotaExhausted`] |
//! | `validation_error` | 400 | [`ProviderError::InvalidNumber`] (for a bulk item: that number) |
//! | `tracker_not_found` | 404 | the tracker is created again (search results) |
//! | `missing_mandatory_field`, `parsing_error`, `shipping_date_outdated`, `tracker_not_updatable`, `tracker_conflict`, `request_conflict`, `webhook_url_missing` | 400, 409 | [`ProviderError::Refused`] |
//! | `processing_error` beside a bulk `data` list | 400 | each item's own errors decide |
//! | any other code | — | [`ProviderError::Transient`] |
//!
//! A 429 (plain text) is [`ProviderError::RateLimited`] with `Retry-After`.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::guard::Guarded;
use super::http::BodyReading;
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

    fn forget_tracker(&self, number: &str) {
        self.trackers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(number);
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
                let reply = http::send(
                    request().bearer_auth(self.config.api_key.expose_secret()),
                    self.guarded.clock().now(),
                )
                .await?;
                reply.decode(read_body)
            })
            .await
    }

    async fn results(&self, number: &str) -> FetchResult {
        let url = self.url(&format!("/trackers/search/{number}/results"));
        match self.call(|| self.guarded.client.get(&url)).await {
            Ok(body) => parse_results(&body, number),
            Err(ProviderError::Refused(why)) if why.contains(TRACKER_NOT_FOUND) => {
                // Ship24 no longer has the tracker: create it again (idempotent).
                self.forget_tracker(number);
                self.track_one(number).await
            }
            Err(error) => Err(error),
        }
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
        parse_results(&body, number)
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
        let items = match body.get("data") {
            Some(Value::Array(items)) => items.clone(),
            _ => {
                let malformed = ProviderError::Malformed("the bulk reply has no data list".to_owned());
                return vec![Err(malformed); numbers.len()];
            }
        };
        numbers
            .iter()
            .enumerate()
            .map(|(index, number)| {
                let echoed = |item: &Value| {
                    item.get("inputData")
                        .and_then(|d| json_str(d, "trackingNumber"))
                        .or_else(|| item.get("tracker").and_then(|t| json_str(t, "trackingNumber")))
                        .map(|tn| tn.eq_ignore_ascii_case(number))
                };
                // Items come in input order: the item at this position stands for the
                // number unless it echoes another number asked (Ship24 may echo an input
                // in its own normalisation).
                let echoes_another = |item: &&Value| {
                    numbers.iter().any(|other| {
                        other != number
                            && item
                                .get("inputData")
                                .and_then(|d| json_str(d, "trackingNumber"))
                                .is_some_and(|tn| tn.eq_ignore_ascii_case(other))
                    })
                };
                let item = items
                    .iter()
                    .find(|item| echoed(item) == Some(true))
                    .or_else(|| items.get(index).filter(|item| !echoes_another(item)));
                let Some(item) = item else {
                    return Err(ProviderError::Malformed(
                        "the bulk reply has no item for this number".to_owned(),
                    ));
                };
                if let Some(error) = item
                    .get("errors")
                    .and_then(Value::as_array)
                    .and_then(|errors| errors.first())
                {
                    return Err(code_error(
                        json_str(error, "code").unwrap_or_default(),
                        json_str(error, "message"),
                    ));
                }
                if json_str(item, "itemStatus").is_some_and(|s| s.eq_ignore_ascii_case("error")) {
                    return Err(ProviderError::Transient(
                        "Ship24 refused to create the tracker".to_owned(),
                    ));
                }
                self.remember_tracker(number);
                Ok(())
            })
            .collect()
    }
}

/// Ship24's 404 code for a tracker it does not have.
const TRACKER_NOT_FOUND: &str = "tracker_not_found";

/// What a Ship24 error code means (the table in the module docs).
fn code_error(code: &str, message: Option<&str>) -> ProviderError {
    let described = || match message {
        Some(message) => format!("{code}: {message}"),
        None => code.to_owned(),
    };
    match code {
        "auth_missing_header" | "auth_invalid_header" | "auth_invalid_api_key" => ProviderError::Unauthorised,
        "quota_limit_reached" | "bulk_create_limit_exceeded" | "no_active_subscription" => {
            ProviderError::QuotaExhausted
        }
        "validation_error" => ProviderError::InvalidNumber(described()),
        TRACKER_NOT_FOUND
        | "missing_mandatory_field"
        | "parsing_error"
        | "shipping_date_outdated"
        | "tracker_not_updatable"
        | "tracker_conflict"
        | "request_conflict"
        | "webhook_url_missing"
        | "processing_error" => ProviderError::Refused(described()),
        _ => ProviderError::Transient(format!("Ship24 error {}", described())),
    }
}

/// What a Ship24 body says, whatever the HTTP status: the first of `errors[]`, or the
/// bulk endpoint's `error`, unless the body is a bulk reply with a `data` list (then each
/// item's own errors decide, with a 201, 207 or 400 alike).
fn read_body(body: &Value) -> BodyReading {
    let first = body
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
        .or_else(|| body.get("error").filter(|e| e.is_object()));
    let code = first.and_then(|first| json_str(first, "code"));
    match (first, code) {
        (_, Some("processing_error")) | (None, _) if body.get("data").is_some_and(Value::is_array) => {
            BodyReading::Answer
        }
        (Some(first), Some(code)) => BodyReading::Error(code_error(code, json_str(first, "message"))),
        _ => BodyReading::Unsure,
    }
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
        // An account error about one number (a registration refused for the quota) is
        // still the account's: the provider pauses as after a refused call.
        self.guarded.pause_after_any(&results);
        results
    }
}

/// Maps a `/trackers/track` or `/trackers/search/.../results` reply.
///
/// # Errors
/// [`ProviderError::Malformed`] when `data.trackings` is not a list.
pub fn parse_results(body: &Value, number: &str) -> FetchResult {
    let Some(trackings) = body
        .get("data")
        .and_then(|d| d.get("trackings"))
        .and_then(Value::as_array)
    else {
        return Err(ProviderError::Malformed(
            "the reply has no trackings list".to_owned(),
        ));
    };
    let Some(tracking) = trackings.first() else {
        return Ok(Lookup::Unknown { authoritative: false });
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
        return Ok(Lookup::Pending);
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
    Ok(Lookup::Found(Shipment {
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
    }))
}
