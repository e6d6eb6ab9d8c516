//! HTTP replies into provider outcomes: which status means what, how a captcha page is
//! told from data, and how `Retry-After` is read. Shared by the real providers so that
//! every source fails the same way.
//!
//! A provider's own error code in the body is read **before** the HTTP status decides
//! ([`Reply::decode`]): 17TRACK answers a refused key with HTTP 200 and a negative
//! `code`, Ship24 answers an invalid number with HTTP 400 `validation_error` and an
//! exhausted quota with HTTP 403 `quota_limit_reached`. Each provider module holds the
//! table of the codes it relies on, with their sources; the status is only the fallback:
//!
//! | status | meaning when the body names no known code |
//! |---|---|
//! | 429 | [`ProviderError::RateLimited`] with `Retry-After` |
//! | 401 | [`ProviderError::Unauthorised`] |
//! | 402 | [`ProviderError::QuotaExhausted`] |
//! | HTML or captcha page (any status, 200 included) | [`ProviderError::Blocked`] |
//! | 403 | [`ProviderError::Blocked`] |
//! | 408, 5xx, other non-2xx | [`ProviderError::Transient`] |
//! | 2xx with a body that is not the expected JSON | [`ProviderError::Malformed`] |
//!
//! Bodies are read up to [`MAX_BODY_BYTES`]; a longer reply is
//! [`ProviderError::Malformed`], never read whole into memory.

use std::time::Duration;

use chrono::{DateTime, Utc};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::ProviderError;

/// Builds the HTTP client a provider uses: rustls, a per-request timeout, and a user
/// agent naming the bot.
///
/// # Errors
/// [`ProviderError::Transient`] if the TLS stack cannot be set up.
pub fn client(timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("parcelbot/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| ProviderError::Transient(format!("cannot build HTTP client: {error}")))
}

/// The largest reply body read (2 MiB): a real answer for a batch of 40 numbers is a few
/// hundred kilobytes; anything larger is not an answer.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Sends a request and reads the whole body (at most [`MAX_BODY_BYTES`]), turning
/// transport failures into [`ProviderError::Transient`].
///
/// # Errors
/// Transport failures (timeout, refused connection, broken body) as transient errors; a
/// body larger than [`MAX_BODY_BYTES`] as [`ProviderError::Malformed`].
pub async fn send(request: reqwest::RequestBuilder, now: DateTime<Utc>) -> Result<Reply, ProviderError> {
    let mut response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let too_large = || ProviderError::Malformed(format!("reply larger than {} bytes", MAX_BODY_BYTES));
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body,
        received_at: now,
    })
}

fn transport_error(error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Transient("the source did not answer in time".to_owned())
    } else if error.is_connect() {
        ProviderError::Transient("cannot connect to the source".to_owned())
    } else {
        // Without the URL: it may carry a key in its query string.
        ProviderError::Transient(format!("request failed: {}", error.without_url()))
    }
}

/// What a provider reads in a JSON body before the status decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyReading {
    /// The body names one of the provider's own errors.
    Error(ProviderError),
    /// The body is an answer to read, whatever the status (Ship24's bulk reply lists its
    /// items with a 207 or a 400).
    Answer,
    /// The body says nothing about errors: the status decides.
    Unsure,
}

/// One HTTP reply, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
    /// When the request was sent, on the core clock (a `Retry-After` date is measured
    /// from it).
    pub received_at: DateTime<Utc>,
}

impl Reply {
    /// Reads the reply as a provider does: the body first (`read_body` sees the parsed
    /// JSON, whatever the status, and may name the provider's own error or say the body
    /// is an answer), then the status ([`Reply::check`]), then the JSON of a success.
    ///
    /// # Errors
    /// What `read_body` names; else those of [`check`](Reply::check); a 2xx body that is
    /// not JSON is [`ProviderError::Malformed`].
    pub fn decode(
        &self,
        read_body: impl Fn(&serde_json::Value) -> BodyReading,
    ) -> Result<serde_json::Value, ProviderError> {
        let parsed: Option<serde_json::Value> = if self.looks_like_html() {
            None
        } else {
            serde_json::from_slice(&self.body).ok()
        };
        if let Some(value) = parsed.as_ref() {
            match read_body(value) {
                BodyReading::Error(ProviderError::RateLimited { retry_after: None }) => {
                    // A 429 names its wait in a header, not in the body.
                    return Err(ProviderError::RateLimited {
                        retry_after: retry_after(&self.headers, self.received_at),
                    });
                }
                BodyReading::Error(error) => return Err(error),
                BodyReading::Answer => return Ok(value.clone()),
                BodyReading::Unsure => {}
            }
        }
        self.check()?;
        match parsed {
            Some(value) => Ok(value),
            None => Err(self
                .json::<serde_json::Value>()
                .err()
                .unwrap_or_else(|| ProviderError::Malformed("unreadable reply".to_owned()))),
        }
    }

    /// Classifies a reply that is not a success, and any reply that is not JSON.
    /// `Ok(())` means: a 2xx with a body that may be JSON.
    ///
    /// # Errors
    /// - 429 → [`ProviderError::RateLimited`] with the `Retry-After` hint;
    /// - 401 → [`ProviderError::Unauthorised`]; 402 → [`ProviderError::QuotaExhausted`];
    /// - an HTML page or a captcha (any status) → [`ProviderError::Blocked`];
    /// - 403 → [`ProviderError::Blocked`] (sources answer bans with 403);
    /// - 408, 5xx and other failures → [`ProviderError::Transient`].
    pub fn check(&self) -> Result<(), ProviderError> {
        let status = self.status;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ProviderError::RateLimited {
                retry_after: retry_after(&self.headers, self.received_at),
            });
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ProviderError::Unauthorised);
        }
        if status == StatusCode::PAYMENT_REQUIRED {
            return Err(ProviderError::QuotaExhausted);
        }
        if self.looks_like_html() {
            return Err(ProviderError::Blocked(if self.mentions_captcha() {
                "captcha page instead of data".to_owned()
            } else {
                "HTML page instead of data".to_owned()
            }));
        }
        if status == StatusCode::FORBIDDEN {
            return Err(ProviderError::Blocked("access forbidden (HTTP 403)".to_owned()));
        }
        if !status.is_success() {
            return Err(ProviderError::Transient(format!("HTTP {}", status.as_u16())));
        }
        Ok(())
    }

    /// Parses the body as JSON of type `T` after [`check`](Reply::check).
    ///
    /// # Errors
    /// Those of [`check`](Reply::check); a body that is not the expected JSON is
    /// [`ProviderError::Malformed`] (a broken reply, never "not found").
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ProviderError> {
        self.check()?;
        serde_json::from_slice(&self.body)
            .map_err(|error| ProviderError::Malformed(error.classify_name().to_owned()))
    }

    fn looks_like_html(&self) -> bool {
        let content_type_html = self
            .headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.contains("html"));
        let body_start = self.body.iter().find(|byte| !byte.is_ascii_whitespace()).copied();
        content_type_html || body_start == Some(b'<')
    }

    /// Whether the body talks about a captcha or a slider check (Alibaba's "punish"
    /// pages among them).
    pub fn mentions_captcha(&self) -> bool {
        let text = String::from_utf8_lossy(&self.body).to_ascii_lowercase();
        [
            "captcha",
            "punish",
            "slide to verify",
            "fail_sys_user_validate",
            "nocaptcha",
            "x5secdata",
        ]
        .iter()
        .any(|cue| text.contains(cue))
    }
}

/// Reads `Retry-After` as seconds or as an HTTP date (measured from `now`).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&Utc) - now;
    Some(wait.to_std().unwrap_or_default())
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected JSON shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}
