//! HTTP replies into provider outcomes: which status means what, how a captcha page is
//! told from data, and how `Retry-After` is read. Shared by the real providers so that
//! every source fails the same way.

use std::time::Duration;

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

/// Sends a request and reads the whole body, turning transport failures into
/// [`ProviderError::Transient`].
///
/// # Errors
/// Transport failures (timeout, refused connection, broken body) as transient errors.
pub async fn send(request: reqwest::RequestBuilder) -> Result<Reply, ProviderError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport_error)?;
    Ok(Reply {
        status,
        headers,
        body: body.to_vec(),
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

/// One HTTP reply, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
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
                retry_after: retry_after(&self.headers),
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
    /// [`ProviderError::Transient`] (a broken reply, never "not found").
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ProviderError> {
        self.check()?;
        serde_json::from_slice(&self.body)
            .map_err(|error| ProviderError::Transient(format!("malformed reply: {}", error.classify_name())))
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

/// Classifies an error a source reports inside a JSON body (17TRACK's non-zero `code`,
/// Ship24's `errors[]`) by its words: quota, credentials or throttling; anything else is
/// transient. `described` names the source and the code for the message.
pub fn account_error(words: &str, described: String) -> ProviderError {
    let words = words.to_ascii_lowercase();
    let has = |cues: &[&str]| cues.iter().any(|cue| words.contains(cue));
    if has(&[
        "quota",
        "balance",
        "insufficient",
        "limit_reached",
        "subscription",
    ]) {
        ProviderError::QuotaExhausted
    } else if has(&["key", "token", "auth"]) {
        ProviderError::Unauthorised
    } else if has(&["frequen", "too many", "rate"]) {
        ProviderError::RateLimited { retry_after: None }
    } else {
        ProviderError::Transient(described)
    }
}

/// Reads `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    // A date in the header is the server's wall clock, so it is compared with ours (the
    // simulated clock has nothing to say about a real server's throttle).
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
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
