//! Cainiao's keyless global tracking endpoint (`GET {base}/global/detail.json`).
//!
//! Unofficial and fragile: it throttles, serves captcha pages under load and can ban an
//! address. So requests are batched (10 numbers by default), each number is asked at
//! most once per 15 minutes (an answer inside that window is served from memory), and a
//! circuit breaker stops asking after captchas, HTML pages, 5xx and timeouts.
//!
//! Fields relied on (see `providers.md`): `module[].mailNo`, `mailNoSource` (`EXTERNAL`
//! = unknown to Cainiao), `detailList[]{time|timeStr,timeZone,desc|standerdDesc,actionCode}`,
//! `originCountry`/`destCountry` (codes or names), `copyRealMailNo`/`realMailNo`/
//! `copyVirtualMailNo`/`virtualMailNo` (the last-mile number, sometimes with a prefix),
//! `destCpInfo.cpName`, `globalEtaInfo.deliveryMinTime/deliveryMaxTime`, `latestTrace`.
//! Everything else is ignored, and every field may be missing; a field of the wrong
//! type (`module` not a list, a `detailList` that is not a list) makes the reply
//! [`ProviderError::Malformed`], never an answer.
//!
//! Answers (Cainiao has no error codes; what its replies mean, from public
//! integrations' captures, see `tests/fixtures/cainiao/README.md`):
//!
//! | reply | answer |
//! |---|---|
//! | entry with events | [`Lookup::Found`] |
//! | empty `detailList` and `mailNoSource: "EXTERNAL"` | [`Lookup::Unknown`] (authoritative for Cainiao's own numbers) |
//! | empty `detailList` without `EXTERNAL` | [`Lookup::NotYetShipped`]: known, not handed over |
//! | captcha / "punish" page, HTML with any status | [`ProviderError::Blocked`] (breaker) |
//! | no `module` list, truncated or oversized body | [`ProviderError::Malformed`] |
//!
//! Cainiao detects the carrier itself, so it is also asked about plausible numbers of a
//! shape the bot does not know.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::guard::{CircuitBreaker, Guarded, RetryPolicy};
use super::{
    Eta, FetchResult, LinkedNumber, Lookup, ProviderError, Shipment, TrackingProvider, http,
    is_cainiao_format, json_str, number_in_field,
};
use crate::clock::{Clock, Saturating};
use crate::interpret::Event;
use crate::interpret::event::parse_time;
use crate::interpret::place::country_code;
use crate::number::TrackingNumber;

/// The provider's name, also the `source` of its events.
pub const NAME: &str = "cainiao";

/// Past this many remembered answers, expired ones are dropped.
const RECENT_PRUNE_AT: usize = 10_000;

/// How the Cainiao provider is set up.
#[derive(Debug, Clone)]
pub struct CainiaoConfig {
    /// Scheme and host, e.g. `https://global.cainiao.com`; `/global/detail.json` is
    /// appended.
    pub base_url: String,
    /// Numbers per request.
    pub batch_size: usize,
    /// Requests per second at most.
    pub requests_per_second: f64,
    /// A number is asked at most once per this interval.
    pub per_number_interval: chrono::Duration,
    /// Time allowed for one request.
    pub timeout: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
}

/// The Cainiao global tracking source.
#[derive(Debug)]
pub struct Cainiao<C> {
    config: CainiaoConfig,
    guarded: Guarded<C>,
    recent: Mutex<HashMap<String, Recent>>,
}

#[derive(Debug, Clone)]
struct Recent {
    asked_at: DateTime<Utc>,
    answer: Option<Lookup>,
}

impl<C: Clock> Cainiao<C> {
    /// A Cainiao source reading time from `clock`.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] if the HTTP client cannot be built.
    pub fn new(config: CainiaoConfig, clock: C) -> Result<Self, ProviderError> {
        Ok(Cainiao {
            guarded: Guarded::new(
                config.timeout,
                config.requests_per_second,
                config.retry,
                // Three strikes, then 5 minutes, doubling up to 6 hours: integrations
                // report bans that last hours when a client keeps asking through captchas.
                CircuitBreaker::new(3, chrono::Duration::minutes(5), chrono::Duration::hours(6))
                    .named("cainiao"),
                clock,
            )?,
            config,
            recent: Mutex::new(HashMap::new()),
        })
    }

    fn endpoint(&self) -> String {
        format!(
            "{}/global/detail.json",
            self.config.base_url.trim_end_matches('/')
        )
    }

    async fn request(&self, numbers: &[&str]) -> Result<HashMap<String, FetchResult>, ProviderError> {
        let joined = numbers.join(",");
        self.guarded
            .run(|| async {
                let request = self
                    .guarded
                    .client
                    .get(self.endpoint())
                    .query(&[("mailNos", joined.as_str()), ("lang", "en-US")]);
                let reply = http::send(request, self.guarded.clock().now()).await?;
                let body: Value = reply.json()?;
                parse_reply(&body, reply.mentions_captcha())
            })
            .await
    }
}

impl<C: Clock> TrackingProvider for Cainiao<C> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves(&self, number: &TrackingNumber) -> bool {
        // Its own formats, and shapes the bot does not know: Cainiao detects the carrier
        // itself and answers for numbers of shapes no catalogue lists.
        is_cainiao_format(number) || !number.is_known_format()
    }

    fn batch_size(&self) -> usize {
        self.config.batch_size
    }

    async fn fetch(&self, numbers: &[TrackingNumber]) -> Vec<FetchResult> {
        let now = self.guarded.clock().now();
        let mut results: Vec<Option<FetchResult>> = vec![None; numbers.len()];
        let mut to_ask: Vec<&str> = Vec::new();
        {
            let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            for (slot, number) in results.iter_mut().zip(numbers) {
                match recent.get(number.as_str()) {
                    Some(seen) if now - seen.asked_at < self.config.per_number_interval => {
                        *slot = Some(match &seen.answer {
                            Some(answer) => Ok(answer.clone()),
                            None => Err(ProviderError::RateLimited {
                                retry_after: (seen.asked_at.plus(self.config.per_number_interval) - now)
                                    .to_std()
                                    .ok(),
                            }),
                        });
                    }
                    _ if !to_ask.contains(&number.as_str()) => to_ask.push(number.as_str()),
                    _ => {}
                }
            }
        }
        if !to_ask.is_empty() {
            // An open breaker answers at once, and a request that never left does not
            // count against the per-number budget.
            if let Err(paused) = self.guarded.check() {
                return results
                    .into_iter()
                    .map(|slot| slot.unwrap_or_else(|| Err(paused.clone())))
                    .collect();
            }
            let answers = self.request(&to_ask).await;
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            // Answers older than the window are useless; drop them now and then so that
            // memory follows the numbers in flight, not every number ever asked.
            if recent.len() > RECENT_PRUNE_AT {
                let window = self.config.per_number_interval;
                recent.retain(|_, seen| now - seen.asked_at < window);
            }
            for (slot, number) in results.iter_mut().zip(numbers) {
                if slot.is_some() {
                    continue;
                }
                let answer = match &answers {
                    Ok(answers) => match answers.get(number.as_str()).cloned() {
                        // Cainiao's "unknown" weighs only for the numbers it issues or carries.
                        Some(Ok(Lookup::Unknown { .. })) => Ok(Lookup::Unknown {
                            authoritative: is_cainiao_format(number),
                        }),
                        Some(answer) => answer,
                        None => Err(ProviderError::Malformed(
                            "the reply has no entry for this number".to_owned(),
                        )),
                    },
                    Err(error) => Err(error.clone()),
                };
                // A request that reached Cainiao counts against the per-number budget
                // whatever it gave.
                recent.insert(
                    number.as_str().to_owned(),
                    Recent {
                        asked_at: now,
                        answer: answer.as_ref().ok().cloned(),
                    },
                );
                *slot = Some(answer);
            }
        }
        results
            .into_iter()
            .map(|slot| {
                slot.unwrap_or_else(|| Err(ProviderError::Transient("no answer for this number".to_owned())))
            })
            .collect()
    }
}

/// Parses a whole reply into one answer per `mailNo` (upper case).
///
/// # Errors
/// [`ProviderError::Blocked`] for a captcha in JSON clothing; [`ProviderError::Malformed`]
/// when the reply has no `module` list.
pub fn parse_reply(
    body: &Value,
    mentions_captcha: bool,
) -> Result<HashMap<String, FetchResult>, ProviderError> {
    let Some(modules) = body.get("module").and_then(Value::as_array) else {
        return Err(if mentions_captcha {
            ProviderError::Blocked("captcha instead of data".to_owned())
        } else {
            ProviderError::Malformed("the reply has no module list".to_owned())
        });
    };
    Ok(modules
        .iter()
        .filter_map(|entry| {
            let number = json_str(entry, "mailNo")?.to_ascii_uppercase();
            let lookup = parse_entry(entry, &number);
            Some((number, lookup))
        })
        .collect())
}

/// Parses one `module[]` entry. An unknown number is reported as not authoritative; the
/// provider, which knows the number's format, decides.
///
/// # Errors
/// [`ProviderError::Malformed`] when `detailList` is there but not a list.
pub fn parse_entry(entry: &Value, number: &str) -> FetchResult {
    let mut details: Vec<&Value> = match entry.get("detailList") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().collect(),
        Some(_) => return Err(ProviderError::Malformed("detailList is not a list".to_owned())),
    };
    if details.is_empty()
        && let Some(latest) = entry.get("latestTrace").filter(|v| v.is_object())
    {
        details.push(latest);
    }
    let events: Vec<Event> = details
        .into_iter()
        .filter_map(|detail| parse_event(detail, number))
        .collect();
    if events.is_empty() {
        return Ok(
            if json_str(entry, "mailNoSource").is_some_and(|s| s.eq_ignore_ascii_case("EXTERNAL")) {
                Lookup::Unknown { authoritative: false }
            } else {
                Lookup::NotYetShipped
            },
        );
    }
    let carrier = entry
        .get("destCpInfo")
        .and_then(|cp| json_str(cp, "cpName"))
        .map(str::to_owned);
    let mut linked_numbers: Vec<LinkedNumber> = Vec::new();
    for field in [
        "copyRealMailNo",
        "realMailNo",
        "copyVirtualMailNo",
        "virtualMailNo",
    ] {
        if let Some(linked) = json_str(entry, field).and_then(number_in_field)
            && linked != number
            && !linked_numbers.iter().any(|known| known.number == linked)
        {
            linked_numbers.push(LinkedNumber {
                number: linked,
                carrier: carrier.clone(),
            });
        }
    }
    let eta = entry.get("globalEtaInfo").and_then(|eta| {
        let earliest = eta.get("deliveryMinTime").and_then(millis);
        let latest = eta.get("deliveryMaxTime").and_then(millis);
        (earliest.is_some() || latest.is_some()).then_some(Eta { earliest, latest })
    });
    Ok(Lookup::Found(Shipment {
        events,
        origin_country: json_str(entry, "originCountry").map(country_code),
        destination_country: json_str(entry, "destCountry").map(country_code),
        linked_numbers,
        eta,
        weight_grams: None,
    }))
}

fn parse_event(detail: &Value, number: &str) -> Option<Event> {
    let time = detail
        .get("time")
        .and_then(millis)
        .map(|t| t.fixed_offset())
        .or_else(|| parse_time(json_str(detail, "timeStr")?, json_str(detail, "timeZone")))?;
    let description = json_str(detail, "desc")
        .or_else(|| json_str(detail, "standerdDesc"))
        .or_else(|| detail.get("group").and_then(|g| json_str(g, "nodeDesc")))?;
    Some(Event {
        time,
        text: description.to_owned(),
        location: None,
        code: json_str(detail, "actionCode").map(str::to_owned),
        source: Some(NAME.to_owned()),
        number: Some(number.to_owned()),
    })
}

/// Milliseconds since the epoch, as a number or a numeric string; zero means "absent".
fn millis(value: &Value) -> Option<DateTime<Utc>> {
    let millis = value
        .as_i64()
        .or_else(|| value.as_f64().map(|f| f as i64))
        .or_else(|| value.as_str()?.trim().parse().ok())
        .filter(|&m| m > 0)?;
    Utc.timestamp_millis_opt(millis).single()
}
