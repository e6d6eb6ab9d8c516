//! 17TRACK API v2.2 (`POST {base}/track/v2.2/<op>`, header `17token`).
//!
//! Registering a number is the charged step, so a number is never registered twice: the
//! provider first asks `gettrackinfo` (free); only numbers 17TRACK answers with "not
//! registered" (-18019902) are registered, and what was registered is remembered, in
//! memory and in the store's ledger shared by every instance ([`RegistrationLedger`]),
//! so that no instance pays again even if 17TRACK forgets a number. When the ledger
//! cannot be read, nothing is registered in that round. Batches hold at most 40 numbers.
//!
//! Fields relied on (see `providers.md`): `data.accepted[]{number,track_info}`,
//! `data.rejected[]{number,error{code,message}}`; in `track_info`: `latest_status.status`,
//! `tracking.providers[]{provider{key,name},events[]{time_iso|time_utc,description,
//! location,sub_status|stage}}`, `misc_info{local_number,local_provider,weight_kg|
//! weight_raw}`, `shipping_info.{shipper,recipient}_address.country`,
//! `time_metrics.estimated_delivery_date{from,to}`. Everything may be missing; a field
//! of the wrong type (`code` that is not a number, `data` that is not an object,
//! `accepted` that is not a list) makes the reply [`ProviderError::Malformed`].
//!
//! Errors come with HTTP 200 and a negative `code` (sometimes `data: null`), read before
//! the status decides. The codes relied on, from 17TRACK's error table
//! (<https://help.17track.net/hc/en-us/articles/37570440168473-Error-Codes-and-Troubleshooting>)
//! unless marked otherwise:
//!
//! | code | 17TRACK's words | for the whole call | for one number |
//! |---|---|---|---|
//! | -18010001 | IP is not in the whitelist | [`ProviderError::Unauthorised`] | same |
//! | -18010002 | invalid security key | [`ProviderError::Unauthorised`] | same |
//! | -18010003 | internal service error, try later | [`ProviderError::Transient`] | same |
//! | -18010004 | account is disabled | [`ProviderError::Unauthorised`] | same |
//! | -18010005 | unauthorized access | [`ProviderError::Unauthorised`] | same |
//! | -18010010 | please provide the data {0} | [`ProviderError::Refused`] | same |
//! | -18010011 | the value of data {0} is invalid | [`ProviderError::Refused`] | [`ProviderError::InvalidNumber`] |
//! | -18010012 | the format of data {0} is invalid | [`ProviderError::Refused`] | [`ProviderError::InvalidNumber`] |
//! | -18010013 | invalid submitted data | [`ProviderError::Refused`] | [`ProviderError::InvalidNumber`] |
//! | -18010014 | tracking numbers exceed the 40 limit | [`ProviderError::Refused`] | same |
//! | -18010015 | the value {0} of the field {1} is invalid | [`ProviderError::Refused`] | same |
//! | -18010018..20 | a field (country and postcode, postcode, phone) is required | [`ProviderError::Refused`] | same |
//! | -18019901 | already registered | — | [`Lookup::Pending`] (paid before) |
//! | -18019902 | not registered yet | — | registered once, then [`Lookup::Pending`] |
//! | -18019903 | carrier cannot be detected | — | [`Lookup::Unknown`] (not authoritative) |
//! | -18019907 | daily limit reached (integrations, not in the table we could read) | [`ProviderError::QuotaExhausted`] | same |
//! | -18019908 | quota used up (integrations, idem) | [`ProviderError::QuotaExhausted`] | same |
//! | other | — | by its message's words (quota, key), else [`ProviderError::Transient`] | same |
//!
//! HTTP 401 and 429 are read by [`http`] when the body names no code.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::guard::Guarded;
use super::http::BodyReading;
use super::{
    Eta, FetchResult, KeyedConfig, LinkedNumber, Lookup, ProviderError, RegistrationLedger, Shipment,
    TrackingProvider, http, json_str, number_in_field,
};
use crate::clock::Clock;
use crate::interpret::Event;
use crate::interpret::event::parse_time;
use crate::number::TrackingNumber;

/// The provider's name, also the `source` of its events.
pub const NAME: &str = "seventeen_track";

/// 17TRACK refuses more than 40 numbers per call.
pub const MAX_BATCH: usize = 40;

const NOT_REGISTERED: i64 = -18_019_902;
const ALREADY_REGISTERED: i64 = -18_019_901;
const CARRIER_NOT_DETECTED: i64 = -18_019_903;

/// Whether an error code concerns the whole call or one number of it: the same code
/// means "our request is malformed" for a call and "this number is invalid" for a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Call,
    Number,
}

/// The error a 17TRACK code stands for (the table in the module docs). `None` for the
/// codes that are answers, not errors (success, registration states).
fn code_error(code: i64, message: &str, scope: Scope) -> Option<ProviderError> {
    let described = || {
        if message.trim().is_empty() {
            format!("17TRACK code {code}")
        } else {
            format!("17TRACK code {code}: {}", message.trim())
        }
    };
    Some(match code {
        0 | ALREADY_REGISTERED | NOT_REGISTERED | CARRIER_NOT_DETECTED => return None,
        -18_010_001 | -18_010_002 | -18_010_004 | -18_010_005 => ProviderError::Unauthorised,
        -18_010_003 => ProviderError::Transient(described()),
        -18_010_013..=-18_010_011 if scope == Scope::Number => ProviderError::InvalidNumber(described()),
        -18_010_020..=-18_010_010 => ProviderError::Refused(described()),
        -18_019_907 | -18_019_908 => ProviderError::QuotaExhausted,
        _ => {
            let words = message.to_ascii_lowercase();
            if ["quota", "balance", "insufficient", "limit reached"]
                .iter()
                .any(|cue| words.contains(cue))
            {
                ProviderError::QuotaExhausted
            } else if scope == Scope::Call
                && ["key", "token", "unauthori"]
                    .iter()
                    .any(|cue| words.contains(cue))
            {
                ProviderError::Unauthorised
            } else {
                ProviderError::Transient(described())
            }
        }
    })
}

/// The error of a whole reply, read from its body before the HTTP status: a `code` that
/// is not 0, or a `code` of the wrong type.
fn body_error(body: &Value) -> Option<ProviderError> {
    let code = match body.get("code") {
        None => return None,
        Some(code) => match code.as_i64() {
            Some(code) => code,
            None => return Some(ProviderError::Malformed("code is not a number".to_owned())),
        },
    };
    if code == 0 {
        return None;
    }
    let message = body
        .get("data")
        .and_then(|d| d.get("errors"))
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
        .and_then(|e| json_str(e, "message"))
        .or_else(|| json_str(body, "message"))
        .unwrap_or_default();
    Some(
        code_error(code, message, Scope::Call)
            .unwrap_or_else(|| ProviderError::Transient(format!("17TRACK code {code} for the whole call"))),
    )
}

/// How the 17TRACK provider is set up.
pub type SeventeenTrackConfig = KeyedConfig;

/// The 17TRACK aggregator.
pub struct SeventeenTrack<C> {
    config: SeventeenTrackConfig,
    guarded: Guarded<C>,
    registered: Mutex<HashSet<String>>,
    ledger: Option<Arc<dyn RegistrationLedger>>,
}

impl<C> std::fmt::Debug for SeventeenTrack<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeventeenTrack")
            .field("base_url", &self.config.base_url)
            .field("ledger", &self.ledger.is_some())
            .finish_non_exhaustive()
    }
}

/// One number's entry in a 17TRACK reply.
enum Entry {
    Accepted(Value),
    Rejected { code: i64, message: String },
}

impl<C: Clock> SeventeenTrack<C> {
    /// A 17TRACK source.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] if the HTTP client cannot be built.
    pub fn new(config: SeventeenTrackConfig, clock: C) -> Result<Self, ProviderError> {
        Ok(SeventeenTrack {
            guarded: config.guarded(clock)?,
            config,
            registered: Mutex::new(HashSet::new()),
            ledger: None,
        })
    }

    /// Remembers registrations in `ledger` too (the store), shared by every instance.
    #[must_use]
    pub fn with_ledger(mut self, ledger: Arc<dyn RegistrationLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Numbers this instance has registered (and so paid for).
    pub fn registered(&self) -> Vec<String> {
        let mut numbers: Vec<String> = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        numbers.sort();
        numbers
    }

    /// Marks numbers as registered earlier, so they are never registered again.
    pub fn remember_registered(&self, numbers: impl IntoIterator<Item = String>) {
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(numbers);
    }

    async fn call(&self, operation: &str, numbers: &[&str]) -> Result<HashMap<String, Entry>, ProviderError> {
        let url = format!(
            "{}/track/v2.2/{operation}",
            self.config.base_url.trim_end_matches('/')
        );
        let body: Vec<Value> = numbers.iter().map(|n| json!({ "number": n })).collect();
        self.guarded
            .run(|| async {
                let request = self
                    .guarded
                    .client
                    .post(&url)
                    .header("17token", self.config.api_key.expose_secret())
                    .json(&body);
                let reply = http::send(request, self.guarded.clock().now()).await?;
                parse_envelope(&reply.decode(|body| match body_error(body) {
                    Some(error) => BodyReading::Error(error),
                    None => BodyReading::Unsure,
                })?)
            })
            .await
    }
}

/// Splits a successful reply into per-number entries.
///
/// # Errors
/// [`ProviderError::Malformed`] when the reply is not the documented shape.
fn parse_envelope(body: &Value) -> Result<HashMap<String, Entry>, ProviderError> {
    let malformed = |why: &str| ProviderError::Malformed(why.to_owned());
    if let Some(error) = body_error(body) {
        return Err(error);
    }
    if body.get("code").is_none() {
        return Err(malformed("the reply has no code"));
    }
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| malformed("the reply has no data object"))?;
    let list = |key: &str| -> Result<Vec<Value>, ProviderError> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(ProviderError::Malformed(format!("{key} is not a list"))),
        }
    };
    let mut entries = HashMap::new();
    for accepted in list("accepted")? {
        if let Some(number) = json_str(&accepted, "number") {
            entries.insert(number.to_ascii_uppercase(), Entry::Accepted(accepted.clone()));
        }
    }
    for rejected in list("rejected")? {
        if let Some(number) = json_str(&rejected, "number") {
            let error = rejected.get("error");
            entries.insert(
                number.to_ascii_uppercase(),
                Entry::Rejected {
                    code: error
                        .and_then(|e| e.get("code"))
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    message: error
                        .and_then(|e| json_str(e, "message"))
                        .unwrap_or_default()
                        .to_owned(),
                },
            );
        }
    }
    Ok(entries)
}

impl<C: Clock> TrackingProvider for SeventeenTrack<C> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves(&self, _number: &TrackingNumber) -> bool {
        // An aggregator of over a thousand carriers: it is asked about every number.
        true
    }

    fn batch_size(&self) -> usize {
        self.config.batch_size.clamp(1, MAX_BATCH)
    }

    async fn fetch(&self, numbers: &[TrackingNumber]) -> Vec<FetchResult> {
        let asked: Vec<&str> = numbers.iter().map(TrackingNumber::as_str).collect();
        let info = match self.call("gettrackinfo", &asked).await {
            Ok(info) => info,
            Err(error) => return vec![Err(error); numbers.len()],
        };
        let mut results: Vec<FetchResult> = Vec::with_capacity(numbers.len());
        let mut to_register: Vec<&str> = Vec::new();
        for number in &asked {
            results.push(match info.get(*number) {
                Some(Entry::Accepted(entry)) => Ok(parse_track_info(entry.get("track_info"), number)),
                Some(Entry::Rejected { code, .. }) if *code == NOT_REGISTERED => {
                    let known = self
                        .registered
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .contains(*number);
                    if known {
                        // Registered (and paid) before, but 17TRACK stopped tracking it:
                        // registering again would pay twice.
                        Err(ProviderError::Transient(
                            "17TRACK no longer tracks this number (registered earlier)".to_owned(),
                        ))
                    } else {
                        to_register.push(number);
                        Ok(Lookup::Pending)
                    }
                }
                Some(Entry::Rejected { code, message }) => Err(rejection(*code, message)),
                None => Err(ProviderError::Malformed(
                    "the reply has no entry for this number".to_owned(),
                )),
            });
        }
        if !to_register.is_empty()
            && let Some(ledger) = &self.ledger
        {
            // Another instance (or this one before a restart) may have paid already.
            let candidates: Vec<String> = to_register.iter().map(|n| (*n).to_owned()).collect();
            let earlier = match ledger.registered(NAME, &candidates).await {
                Ok(earlier) => earlier,
                Err(error) => {
                    // Unsure whether they were paid for: register nothing this round.
                    for (slot, number) in results.iter_mut().zip(&asked) {
                        if to_register.contains(number) {
                            *slot = Err(error.clone());
                        }
                    }
                    return results;
                }
            };
            for (slot, number) in results.iter_mut().zip(&asked) {
                if to_register.contains(number) && earlier.iter().any(|known| known == number) {
                    *slot = Err(ProviderError::Transient(
                        "17TRACK no longer tracks this number (registered earlier)".to_owned(),
                    ));
                }
            }
            self.remember_registered(earlier.iter().cloned());
            to_register.retain(|number| !earlier.iter().any(|known| known == number));
        }
        if !to_register.is_empty() {
            let registration = self.call("register", &to_register).await;
            for (slot, number) in results.iter_mut().zip(&asked) {
                if !to_register.contains(number) {
                    continue;
                }
                *slot = match &registration {
                    Ok(entries) => match entries.get(*number) {
                        Some(Entry::Accepted(_)) => {
                            self.remember_registered([(*number).to_owned()]);
                            Ok(Lookup::Pending)
                        }
                        Some(Entry::Rejected { code, .. }) if *code == ALREADY_REGISTERED => {
                            self.remember_registered([(*number).to_owned()]);
                            Ok(Lookup::Pending)
                        }
                        Some(Entry::Rejected { code, .. }) if *code == CARRIER_NOT_DETECTED => {
                            Ok(Lookup::Unknown { authoritative: false })
                        }
                        Some(Entry::Rejected { code, message }) => Err(rejection(*code, message)),
                        None => Err(ProviderError::Malformed(
                            "the registration reply has no entry for this number".to_owned(),
                        )),
                    },
                    Err(error) => Err(error.clone()),
                };
            }
            if let (Some(ledger), Ok(entries)) = (&self.ledger, &registration) {
                let paid: Vec<String> = to_register
                    .iter()
                    .filter(|number| match entries.get(**number) {
                        Some(Entry::Accepted(_)) => true,
                        Some(Entry::Rejected { code, .. }) => *code == ALREADY_REGISTERED,
                        None => false,
                    })
                    .map(|number| (*number).to_owned())
                    .collect();
                if !paid.is_empty()
                    && let Err(error) = ledger.record(NAME, &paid, self.guarded.clock().now()).await
                {
                    // This instance still remembers them; others may not.
                    tracing::warn!(error = %crate::ops::Chain(&error), "could not record 17TRACK registrations in the store");
                }
            }
        }
        // An account error about one number (a registration refused for the quota) is
        // still the account's: the provider pauses as after a refused call.
        self.guarded.pause_after_any(&results);
        results
    }
}

/// A rejection of one number other than "not registered" (the table in the module docs).
fn rejection(code: i64, message: &str) -> ProviderError {
    if code == CARRIER_NOT_DETECTED {
        return ProviderError::Transient("17TRACK cannot tell the carrier yet".to_owned());
    }
    code_error(code, message, Scope::Number)
        .unwrap_or_else(|| ProviderError::Transient(format!("17TRACK rejected the number (code {code})")))
}

/// Maps one `track_info` object.
pub fn parse_track_info(track_info: Option<&Value>, number: &str) -> Lookup {
    let Some(info) = track_info.filter(|v| v.is_object()) else {
        return Lookup::Pending;
    };
    let misc = info.get("misc_info");
    let local_number = misc
        .and_then(|m| json_str(m, "local_number"))
        .and_then(number_in_field)
        .filter(|local| local != number);
    let local_provider = misc
        .and_then(|m| json_str(m, "local_provider"))
        .map(str::to_owned);
    let legs: Vec<&Value> = info
        .get("tracking")
        .and_then(|t| t.get("providers"))
        .and_then(Value::as_array)
        .map(|legs| legs.iter().collect())
        .unwrap_or_default();
    let mut events = Vec::new();
    for (index, leg) in legs.iter().enumerate() {
        let leg_name = leg.get("provider").and_then(|p| json_str(p, "name"));
        // The leg of the local carrier carries the last-mile number; 17TRACK lists the
        // newest carrier first, so with no name to match the first of several legs is it.
        let is_local_leg = local_number.is_some()
            && match (leg_name, local_provider.as_deref()) {
                (Some(leg_name), Some(local)) => leg_name.eq_ignore_ascii_case(local),
                _ => index == 0 && legs.len() > 1,
            };
        let leg_number = if is_local_leg {
            local_number.clone().unwrap_or_else(|| number.to_owned())
        } else {
            number.to_owned()
        };
        for raw in leg.get("events").and_then(Value::as_array).into_iter().flatten() {
            let time = json_str(raw, "time_iso")
                .and_then(|t| parse_time(t, None))
                .or_else(|| json_str(raw, "time_utc").and_then(|t| parse_time(t, Some("UTC"))));
            let (Some(time), Some(text)) = (time, json_str(raw, "description")) else {
                continue;
            };
            events.push(Event {
                time,
                text: text.to_owned(),
                location: json_str(raw, "location").map(str::to_owned),
                code: json_str(raw, "sub_status")
                    .or_else(|| json_str(raw, "stage"))
                    .map(str::to_owned),
                source: Some(NAME.to_owned()),
                number: Some(leg_number.clone()),
            });
        }
    }
    let status = info
        .get("latest_status")
        .and_then(|s| json_str(s, "status"))
        .unwrap_or_default();
    if events.is_empty() {
        return if status.eq_ignore_ascii_case("NotFound") {
            Lookup::Unknown { authoritative: false }
        } else if status.eq_ignore_ascii_case("InfoReceived") {
            Lookup::NotYetShipped
        } else {
            Lookup::Pending
        };
    }
    let shipping = info.get("shipping_info");
    let country = |side: &str| {
        shipping
            .and_then(|s| s.get(side))
            .and_then(|a| json_str(a, "country"))
            .map(crate::interpret::place::country_code)
    };
    let estimate = info
        .get("time_metrics")
        .and_then(|m| m.get("estimated_delivery_date"));
    let eta_bound = |key: &str| -> Option<DateTime<Utc>> {
        estimate
            .and_then(|e| json_str(e, key))
            .and_then(|t| parse_time(t, Some("UTC")))
            .map(|t| t.with_timezone(&Utc))
    };
    let eta = Some(Eta {
        earliest: eta_bound("from"),
        latest: eta_bound("to"),
    })
    .filter(|eta| eta.earliest.is_some() || eta.latest.is_some());
    let weight_grams = misc.and_then(|m| {
        let kilograms = m
            .get("weight_kg")
            .and_then(|w| w.as_f64().or_else(|| w.as_str()?.trim().parse().ok()))?;
        (kilograms > 0.0 && kilograms < 1000.0).then(|| (kilograms * 1000.0).round() as u32)
    });
    Lookup::Found(Shipment {
        events,
        origin_country: country("shipper_address"),
        destination_country: country("recipient_address"),
        linked_numbers: local_number
            .map(|local| {
                vec![LinkedNumber {
                    number: local,
                    carrier: local_provider,
                }]
            })
            .unwrap_or_default(),
        eta,
        weight_grams,
    })
}

#[cfg(test)]
mod tests;
