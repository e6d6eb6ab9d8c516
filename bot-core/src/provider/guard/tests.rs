//! Tests of retries, backoff and the circuit breaker (in simulated time).

use std::cell::Cell;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::{CircuitBreaker, RetryPolicy};
use crate::clock::SimulatedClock;
use crate::provider::ProviderError;

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
    }
}

#[test]
fn backoff_grows_with_full_jitter_inside_its_window() {
    let policy = policy();
    for attempt in 0..6 {
        let window = Duration::from_millis(100 * 2u64.pow(attempt)).min(Duration::from_millis(400));
        for _ in 0..50 {
            let wait = policy.backoff(attempt);
            assert!(
                wait <= window && wait >= window / 2,
                "attempt {attempt}: {wait:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn only_transient_errors_are_retried() {
    let calls = Cell::new(0);
    let result: Result<(), _> = policy()
        .run(|| {
            calls.set(calls.get() + 1);
            async { Err(ProviderError::Unauthorised) }
        })
        .await;
    assert_eq!(result, Err(ProviderError::Unauthorised));
    assert_eq!(calls.get(), 1, "a refused key is not retried");

    calls.set(0);
    let result = policy()
        .run(|| {
            calls.set(calls.get() + 1);
            let attempt = calls.get();
            async move {
                if attempt < 3 {
                    Err(ProviderError::Transient("flaky".to_owned()))
                } else {
                    Ok(attempt)
                }
            }
        })
        .await;
    assert_eq!(result, Ok(3));

    calls.set(0);
    let result: Result<(), _> = policy()
        .run(|| {
            calls.set(calls.get() + 1);
            async { Err(ProviderError::Transient("down".to_owned())) }
        })
        .await;
    assert!(result.is_err());
    assert_eq!(calls.get(), 4, "one attempt and three retries");
}

#[test]
fn the_breaker_opens_after_repeated_failures_and_doubles_its_pause() {
    let clock = SimulatedClock::new(Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).single().expect("date"));
    let breaker = CircuitBreaker::new(2, chrono::Duration::minutes(5), chrono::Duration::minutes(15));
    let blocked = ProviderError::Blocked("captcha".to_owned());
    breaker.record(&clock, Err(&blocked));
    assert!(breaker.check(&clock).is_ok(), "one failure is not a pattern");
    breaker.record(&clock, Err(&ProviderError::Unauthorised));
    assert!(
        breaker.check(&clock).is_ok(),
        "a refused key says nothing about the source's health"
    );
    breaker.record(&clock, Err(&blocked));
    assert!(breaker.check(&clock).is_err());
    clock.advance(chrono::Duration::minutes(5));
    assert!(breaker.check(&clock).is_ok(), "the pause is over");
    breaker.record(&clock, Err(&blocked));
    clock.advance(chrono::Duration::minutes(9));
    assert!(breaker.check(&clock).is_err(), "the second pause is ten minutes");
    clock.advance(chrono::Duration::minutes(1));
    breaker.record(&clock, Ok(()));
    assert!(breaker.check(&clock).is_ok());
    assert_eq!(breaker.open_until(), None, "a success closes it");
}

/// Guards on a simulated clock, with quick retries.
fn guarded() -> (SimulatedClock, super::Guarded<SimulatedClock>) {
    let clock = SimulatedClock::new(Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 0).single().expect("date"));
    let guarded = super::Guarded::new(
        Duration::from_secs(1),
        1000.0,
        policy(),
        CircuitBreaker::new(3, chrono::Duration::minutes(5), chrono::Duration::hours(1)),
        clock.clone(),
    )
    .expect("client");
    (clock, guarded)
}

#[tokio::test]
async fn a_quota_pause_lifts_on_time_and_is_not_extended_by_its_own_refusals() {
    let (clock, guarded) = guarded();
    let asked = Cell::new(0);
    let quota = || {
        asked.set(asked.get() + 1);
        async { Err::<(), _>(ProviderError::QuotaExhausted) }
    };
    assert_eq!(guarded.run(quota).await, Err(ProviderError::QuotaExhausted));
    for _ in 0..3 {
        clock.advance(chrono::Duration::hours(1));
        assert_eq!(guarded.run(quota).await, Err(ProviderError::QuotaExhausted));
        guarded.pause_after_any(&[Err(ProviderError::QuotaExhausted)]);
    }
    assert_eq!(asked.get(), 1, "paused: the source is not asked");
    clock.advance(super::QUOTA_PAUSE - chrono::Duration::hours(3));
    assert_eq!(
        guarded.run(|| async { Ok(()) }).await,
        Ok(()),
        "the pause ran its six hours"
    );
}

#[tokio::test]
async fn a_refused_key_stops_the_provider() {
    let (clock, guarded) = guarded();
    let refused = guarded
        .run(|| async { Err::<(), _>(ProviderError::Unauthorised) })
        .await;
    assert_eq!(refused, Err(ProviderError::Unauthorised));
    clock.advance(chrono::Duration::days(30));
    assert_eq!(guarded.check(), Err(ProviderError::Unauthorised), "until restart");
}
