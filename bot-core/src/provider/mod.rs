//! Tracking providers: the port every source of events implements, the real sources
//! (Cainiao, 17TRACK, Ship24), the simulated carrier, and the routing that decides which
//! sources are asked about a number.
//!
//! A provider answers, for each number of a batch, one [`FetchResult`]: what it found, or
//! why it could not say. An error never becomes "not found": a buyer told that a real
//! number is unknown may open a needless dispute, so only a source's explicit answer
//! produces [`Lookup::Unknown`].
//!
//! Layout:
//! - this module: the [`TrackingProvider`] port and its result types;
//! - [`guard`]: rate limiting, retries with jittered backoff, and the circuit breaker
//!   that every HTTP provider wraps its requests in;
//! - [`http`]: turning HTTP replies into [`ProviderError`]s;
//! - [`cainiao`], [`seventeen_track`], [`ship24`]: the real sources;
//! - [`sim`]: the simulated carrier (deterministic journeys in simulated time);
//! - [`registry`]: the configured providers, routing and fan-out.

pub mod cainiao;
pub mod guard;
pub mod http;
pub mod registry;
pub mod seventeen_track;
pub mod ship24;
pub mod sim;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::interpret::Event;
use crate::number::TrackingNumber;

pub use registry::{NumberResult, Providers};

/// A source of tracking events.
///
/// Implementations are cheap to share (`&self` everywhere) and keep their own rate
/// limits, retries and circuit breakers: a caller may ask at any time.
pub trait TrackingProvider: Send + Sync + 'static {
    /// The provider's configuration name (`cainiao`, `seventeen_track`, `ship24`, `sim`);
    /// also the `source` of the events it returns.
    fn name(&self) -> &'static str;

    /// Whether this provider can say anything about numbers of this format.
    fn serves(&self, number: &TrackingNumber) -> bool;

    /// How many numbers one [`fetch`](TrackingProvider::fetch) call takes at most.
    fn batch_size(&self) -> usize;

    /// Fetches what the source knows about `numbers` (at most
    /// [`batch_size`](TrackingProvider::batch_size) of them).
    ///
    /// MUST return exactly one result per number, in the order asked. A failure of the
    /// whole request is that error repeated for every number; it MUST NOT be reported as
    /// [`Lookup::Unknown`], which is reserved for the source saying it does not know the
    /// number.
    fn fetch(&self, numbers: &[TrackingNumber]) -> impl Future<Output = Vec<FetchResult>> + Send;
}

/// Where a paid provider's registrations are remembered beyond one process (the
/// store), so that no instance registers, and pays for, a number twice: not after a
/// restart, and not when another instance registered it.
pub trait RegistrationLedger: Send + Sync + 'static {
    /// Which of `numbers` were registered with `provider` before.
    fn registered<'a>(
        &'a self,
        provider: &'static str,
        numbers: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<Vec<String>, ProviderError>> + Send + 'a>>;

    /// Remembers that `numbers` were registered with `provider` at `at`.
    fn record<'a>(
        &'a self,
        provider: &'static str,
        numbers: &'a [String],
        at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<(), ProviderError>> + Send + 'a>>;
}

/// What one provider said about one number.
pub type FetchResult = Result<Lookup, ProviderError>;

/// A provider's answer about one number. The four answers are different facts with
/// different advice, and are never folded into one another.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Lookup {
    /// The source has events (or at least facts) for the number.
    Found(Shipment),
    /// The source says it does not know the number.
    Unknown {
        /// Whether the source is the one that issues or carries numbers of this shape
        /// (Cainiao for its own numbers): its "unknown" then weighs more, once the
        /// first-scan window has passed. An aggregator's "not found" is never
        /// authoritative.
        authoritative: bool,
    },
    /// The source knows the number but the parcel has not been handed over yet: a label
    /// exists and the seller has not dispatched (Cainiao says so with an empty history
    /// of a number it knows; 17TRACK with `InfoReceived` and no events).
    NotYetShipped,
    /// The source accepted the number and is still looking (just registered): ask again
    /// later.
    Pending,
}

impl Lookup {
    /// The answer's code in reports: `found`, `unknown`, `not_yet_shipped`, `pending`.
    pub fn as_code(&self) -> &'static str {
        match self {
            Lookup::Found(_) => "found",
            Lookup::Unknown { .. } => "unknown",
            Lookup::NotYetShipped => "not_yet_shipped",
            Lookup::Pending => "pending",
        }
    }
}

/// What a source says about a shipment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Shipment {
    /// Events as raw as the source gives them, with `source` set to the provider's name.
    pub events: Vec<Event>,
    /// Origin country (ISO code when the source gives one, its name otherwise).
    pub origin_country: Option<String>,
    /// Destination country (ISO code when the source gives one, its name otherwise).
    pub destination_country: Option<String>,
    /// Other numbers the parcel travels under (the last-mile number after a handoff).
    pub linked_numbers: Vec<LinkedNumber>,
    /// The source's delivery estimate.
    pub eta: Option<Eta>,
    /// Weight in grams, when the source gives one.
    pub weight_grams: Option<u32>,
}

/// Another number of the same parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LinkedNumber {
    /// The number, compact.
    pub number: String,
    /// The carrier that issued it, when the source names it.
    #[serde(default)]
    pub carrier: Option<String>,
}

/// A delivery estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Eta {
    /// Not before.
    #[serde(default)]
    pub earliest: Option<DateTime<Utc>>,
    /// Not after.
    #[serde(default)]
    pub latest: Option<DateTime<Utc>>,
}

/// Why a provider could not answer. Each variant tells the caller what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// A failure that may pass: a timeout, a 5xx, the source's own internal error. Retry
    /// later, with backoff.
    #[error("temporarily unavailable: {0}")]
    Transient(String),
    /// The reply could not be read: truncated or oversized, not JSON, or JSON of the
    /// wrong shape. Never a verdict; retried like a transient failure.
    #[error("unreadable reply: {0}")]
    Malformed(String),
    /// The source asks us to slow down; `retry_after` is its hint when it gave one.
    #[error("rate limited{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// How long the source asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The account's quota or credit is used up: no retry helps until it is renewed. The
    /// provider pauses itself (and only itself) until then.
    #[error("quota exhausted")]
    QuotaExhausted,
    /// The credentials were refused: fix the configuration. The provider stops asking.
    #[error("credentials refused")]
    Unauthorised,
    /// The source says the number itself is invalid (not a tracking number it can
    /// follow): no retry helps; the buyer is told.
    #[error("the source says the number is invalid: {0}")]
    InvalidNumber(String),
    /// The source refused our request as malformed (a bug on our side, or a carrier that
    /// needs more data): the same request will be refused again, so it is not retried.
    #[error("request refused: {0}")]
    Refused(String),
    /// The source answered with a captcha or an HTML page instead of data: back off.
    #[error("blocked: {0}")]
    Blocked(String),
}

impl ProviderError {
    /// Whether retrying soon may help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Transient(_) | ProviderError::Malformed(_) | ProviderError::RateLimited { .. }
        )
    }

    /// The error's kind in reports (`parcelbot track`): `transient`, `malformed`,
    /// `rate_limited`, `quota_exhausted`, `unauthorised`, `invalid_number`, `refused`,
    /// `blocked`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Transient(_) => "transient",
            ProviderError::Malformed(_) => "malformed",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::QuotaExhausted => "quota_exhausted",
            ProviderError::Unauthorised => "unauthorised",
            ProviderError::InvalidNumber(_) => "invalid_number",
            ProviderError::Refused(_) => "refused",
            ProviderError::Blocked(_) => "blocked",
        }
    }
}

/// Object-safe form of [`TrackingProvider`], for the runtime registry of configured
/// providers: which providers exist is only known once the configuration is read, so
/// the registry holds them as `dyn` (the port itself stays generic-friendly).
pub trait DynProvider: Send + Sync + 'static {
    /// See [`TrackingProvider::name`].
    fn name(&self) -> &'static str;
    /// See [`TrackingProvider::serves`].
    fn serves(&self, number: &TrackingNumber) -> bool;
    /// See [`TrackingProvider::batch_size`].
    fn batch_size(&self) -> usize;
    /// See [`TrackingProvider::fetch`].
    fn fetch_boxed<'a>(
        &'a self,
        numbers: &'a [TrackingNumber],
    ) -> Pin<Box<dyn Future<Output = Vec<FetchResult>> + Send + 'a>>;
}

impl<P: TrackingProvider> DynProvider for P {
    fn name(&self) -> &'static str {
        TrackingProvider::name(self)
    }

    fn serves(&self, number: &TrackingNumber) -> bool {
        TrackingProvider::serves(self, number)
    }

    fn batch_size(&self) -> usize {
        TrackingProvider::batch_size(self)
    }

    fn fetch_boxed<'a>(
        &'a self,
        numbers: &'a [TrackingNumber],
    ) -> Pin<Box<dyn Future<Output = Vec<FetchResult>> + Send + 'a>> {
        Box::pin(self.fetch(numbers))
    }
}

/// How a keyed aggregator (17TRACK, Ship24) is set up.
#[derive(Debug, Clone)]
pub struct KeyedConfig {
    /// Scheme and host, e.g. `https://api.17track.net`.
    pub base_url: String,
    /// The account's key.
    pub api_key: secrecy::SecretString,
    /// Numbers per batch (clamped to what the source accepts).
    pub batch_size: usize,
    /// Requests per second at most.
    pub requests_per_second: f64,
    /// Time allowed for one request.
    pub timeout: Duration,
    /// Retries of transient failures.
    pub retry: guard::RetryPolicy,
}

impl KeyedConfig {
    /// The guards of a keyed aggregator: its rate and retries, and a breaker that pauses
    /// after five failures in a row (two minutes, doubling up to an hour). Aggregators
    /// are sturdier than Cainiao's endpoint, so they get more patience.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] if the HTTP client cannot be built.
    pub fn guarded<C: crate::clock::Clock>(&self, clock: C) -> Result<guard::Guarded<C>, ProviderError> {
        guard::Guarded::new(
            self.timeout,
            self.requests_per_second,
            self.retry,
            guard::CircuitBreaker::new(5, chrono::Duration::minutes(2), chrono::Duration::hours(1)),
            clock,
        )
    }
}

/// How a provider is named to buyers (`seventeen_track` is "17TRACK").
pub fn display_name(name: &str) -> &str {
    match name {
        cainiao::NAME => "Cainiao",
        seventeen_track::NAME => "17TRACK",
        ship24::NAME => "Ship24",
        sim::NAME => "The simulated carrier",
        other => other,
    }
}

/// A non-blank string field of a JSON object.
pub(crate) fn json_str<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Whether a number is one Cainiao issues or carries from China: its own formats and
/// Chinese S10 numbers.
pub fn is_cainiao_format(number: &TrackingNumber) -> bool {
    number.format().starts_with("cainiao") || (number.format() == "s10" && number.as_str().ends_with("CN"))
}

/// Finds the tracking number inside a field such as `"Latest Tracking Number:\t3S…"` or
/// `"PostNL 3SABC…"`: the last recognisable number in it.
/// When nothing in it is recognisable, the last token that looks like a number (8 to 40
/// letters and digits, with a digit) is taken: the source says it is a number, and a
/// format we do not know yet is still worth following.
pub fn number_in_field(field: &str) -> Option<String> {
    let recognised = crate::number::recognise(field)
        .into_iter()
        .filter(|r| r.is_valid())
        .filter_map(|r| r.normalized)
        .next_back();
    recognised.or_else(|| {
        field
            .split(|c: char| !c.is_ascii_alphanumeric())
            .rfind(|token| (8..=40).contains(&token.len()) && token.bytes().any(|b| b.is_ascii_digit()))
            .map(str::to_ascii_uppercase)
    })
}

#[cfg(test)]
mod tests;
