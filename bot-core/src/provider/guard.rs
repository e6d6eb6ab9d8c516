//! What keeps a provider polite and the bot alive when a source misbehaves: a request
//! spacer (rate limiter), retries with jittered exponential backoff for transient
//! failures, and a circuit breaker that stops asking a source that serves captchas or
//! keeps failing.
//!
//! Waiting uses `tokio::time`; the circuit breaker's cool-down is measured on the core's
//! [`Clock`], so simulated time can close it again in tests.
//!
//! Account errors stop one provider, never the others: an exhausted quota pauses it until
//! its reset (the providers publish none, so it is asked again after
//! [`QUOTA_PAUSE`]), a refused key stops it until the configuration is fixed (a restart),
//! and both are logged once, when they start.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::ProviderError;
use crate::clock::{Clock, Saturating};

/// Spaces requests so that at most `per_second` start in any second.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next_slot: tokio::sync::Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter that lets `per_second` requests through per second (at least one every
    /// hour, whatever the value).
    pub fn new(per_second: f64) -> RateLimiter {
        let interval = if per_second.is_finite() && per_second > 0.0 {
            Duration::from_secs_f64((1.0 / per_second).min(3600.0))
        } else {
            Duration::from_secs(3600)
        };
        RateLimiter {
            interval,
            next_slot: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits until the next request may start, and books that slot.
    pub async fn acquire(&self) {
        let wait_until = {
            let mut next_slot = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = next_slot.map_or(now, |slot| slot.max(now));
            *next_slot = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(wait_until).await;
    }
}

/// How often and how patiently transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff; each retry doubles it.
    pub base_delay: Duration,
    /// No single wait is longer than this; a source asking for a longer wait gets the
    /// error back instead, so that a batch never stalls for minutes.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0 for the first retry): full jitter over
    /// an exponentially growing window, so that many clients do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let window = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max_delay);
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(millis / 2..=millis.max(1)))
    }

    /// Runs `attempt` until it succeeds, fails with a non-transient error, or the retries
    /// are used up. A rate limit's `retry_after` is honoured when it is within
    /// `max_delay`.
    ///
    /// # Errors
    /// The last attempt's error.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut retry = 0;
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if retry >= self.max_retries || !error.is_transient() {
                return Err(error);
            }
            let wait = match &error {
                ProviderError::RateLimited {
                    retry_after: Some(after),
                } if *after > self.max_delay => return Err(error),
                ProviderError::RateLimited {
                    retry_after: Some(after),
                } => *after,
                _ => self.backoff(retry),
            };
            tracing::debug!(error = %crate::ops::Chain(&error), retry, wait_ms = wait.as_millis() as u64, "retrying provider request");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}

/// Stops asking a source that keeps failing. After `threshold` failures in a row the
/// breaker opens for a cool-down that doubles with each further failure (up to
/// `max_cool_down`); while open, requests fail at once without reaching the source. One
/// success closes it.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: chrono::Duration,
    max_cool_down: chrono::Duration,
    state: Mutex<BreakerState>,
    /// The provider's name, for the `parcelbot_provider_circuit_open` gauge.
    name: &'static str,
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<DateTime<Utc>>,
}

impl CircuitBreaker {
    /// A breaker that opens after `threshold` consecutive failures, first for
    /// `cool_down`, doubling up to `max_cool_down`.
    pub fn new(threshold: u32, cool_down: chrono::Duration, max_cool_down: chrono::Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            cool_down,
            max_cool_down,
            state: Mutex::new(BreakerState::default()),
            name: "provider",
        }
    }

    /// The same breaker, reporting its state under `provider` in the metrics.
    #[must_use]
    pub fn named(mut self, provider: &'static str) -> Self {
        self.name = provider;
        self
    }

    /// Whether a request may go out now.
    ///
    /// # Errors
    /// [`ProviderError::Blocked`] while the breaker is open.
    pub fn check(&self, clock: &impl Clock) -> Result<(), ProviderError> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.open_until {
            Some(until) if clock.now() < until => Err(ProviderError::Blocked(format!(
                "source paused after repeated failures until {}",
                until.format("%Y-%m-%d %H:%M UTC")
            ))),
            _ => Ok(()),
        }
    }

    /// Records the outcome of a request that went out. Only failures that say the
    /// source is unwell count (blocked, transient); a refused key or a rate limit do not.
    pub fn record(&self, clock: &impl Clock, outcome: Result<(), &ProviderError>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(()) => {
                if state.open_until.is_some() {
                    crate::ops::telemetry::circuit(self.name, false);
                }
                *state = BreakerState::default();
            }
            Err(ProviderError::Blocked(_) | ProviderError::Transient(_) | ProviderError::Malformed(_)) => {
                state.failures += 1;
                if state.failures >= self.threshold {
                    let doublings = (state.failures - self.threshold).min(16);
                    let cool_down = (self.cool_down * 2i32.pow(doublings)).min(self.max_cool_down);
                    state.open_until = Some(clock.now().plus(cool_down));
                    crate::ops::telemetry::circuit(self.name, true);
                    tracing::warn!(
                        failures = state.failures,
                        cool_down_minutes = cool_down.num_minutes(),
                        "provider circuit opened"
                    );
                }
            }
            Err(_) => {}
        }
    }

    /// When the breaker will let requests through again, if it is open.
    pub fn open_until(&self) -> Option<DateTime<Utc>> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open_until
    }
}

/// How long a provider whose quota is exhausted is left alone before it is asked again.
pub const QUOTA_PAUSE: chrono::Duration = chrono::Duration::hours(6);

/// Why a provider stopped asking its source, and until when (`None`: until restart).
#[derive(Debug, Clone)]
struct AccountPause {
    error: ProviderError,
    until: Option<DateTime<Utc>>,
}

/// Everything an HTTP provider wraps its requests in: an HTTP client with a timeout, a
/// rate limiter, retries, a circuit breaker on the core clock, and the pause after an
/// account error.
#[derive(Debug)]
pub struct Guarded<C> {
    /// The HTTP client (rustls, per-request timeout).
    pub client: reqwest::Client,
    limiter: RateLimiter,
    retry: RetryPolicy,
    breaker: CircuitBreaker,
    clock: C,
    paused: Mutex<Option<AccountPause>>,
}

impl<C: Clock> Guarded<C> {
    /// Guards for one provider.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] if the HTTP client cannot be built.
    pub fn new(
        timeout: Duration,
        requests_per_second: f64,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        clock: C,
    ) -> Result<Self, ProviderError> {
        Ok(Guarded {
            client: super::http::client(timeout)?,
            limiter: RateLimiter::new(requests_per_second),
            retry,
            breaker,
            clock,
            paused: Mutex::new(None),
        })
    }

    /// The clock the breaker (and the provider) reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Whether requests may go out now: no account pause, breaker closed.
    ///
    /// # Errors
    /// [`ProviderError::QuotaExhausted`] while paused for the quota,
    /// [`ProviderError::Unauthorised`] after a refused key, [`ProviderError::Blocked`]
    /// while the breaker is open.
    pub fn check(&self) -> Result<(), ProviderError> {
        {
            let mut paused = self.paused.lock().unwrap_or_else(PoisonError::into_inner);
            match paused.as_ref() {
                Some(pause) if pause.until.is_none_or(|until| self.clock.now() < until) => {
                    return Err(pause.error.clone());
                }
                Some(_) => *paused = None,
                None => {}
            }
        }
        self.breaker.check(&self.clock)
    }

    /// Stops asking after an account error (once per pause, logged then); other errors
    /// change nothing.
    pub fn pause_for(&self, error: &ProviderError) {
        let now = self.clock.now();
        let until = match error {
            ProviderError::QuotaExhausted => Some(now.plus(QUOTA_PAUSE)),
            ProviderError::Unauthorised => None,
            _ => return,
        };
        let mut paused = self.paused.lock().unwrap_or_else(PoisonError::into_inner);
        // A pause in force is not extended by the refusals it causes itself.
        if paused
            .as_ref()
            .is_some_and(|pause| pause.until.is_none_or(|until| now < until))
        {
            return;
        }
        match until {
            Some(until) => {
                tracing::error!(error = %crate::ops::Chain(error), %until, "provider paused until its quota renews")
            }
            None => {
                tracing::error!(error = %crate::ops::Chain(error), "provider stopped: its key was refused; fix the configuration and restart")
            }
        }
        *paused = Some(AccountPause {
            error: error.clone(),
            until,
        });
    }

    /// [`pause_for`](Guarded::pause_for) the first account error among per-number results.
    pub fn pause_after_any(&self, results: &[super::FetchResult]) {
        if let Some(error) = results.iter().find_map(|result| match result {
            Err(error @ (ProviderError::QuotaExhausted | ProviderError::Unauthorised)) => Some(error),
            _ => None,
        }) {
            self.pause_for(error);
        }
    }

    /// Runs one logical request: refused at once while the breaker is open; otherwise
    /// each attempt waits for its rate-limit slot, transient failures are retried, and
    /// the outcome is recorded by the breaker.
    ///
    /// # Errors
    /// [`ProviderError::Blocked`] while the breaker is open, else the last attempt's error.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        self.check()?;
        let result = self
            .retry
            .run(|| {
                let attempt = attempt();
                async {
                    self.limiter.acquire().await;
                    attempt.await
                }
            })
            .await;
        self.breaker.record(&self.clock, result.as_ref().map(|_| ()));
        if let Err(error) = &result {
            self.pause_for(error);
        }
        result
    }
}

#[cfg(test)]
mod tests;
