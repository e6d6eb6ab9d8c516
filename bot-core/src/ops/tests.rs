//! Readiness rules and the error chain's wording.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::{Chain, Readiness, ready};

struct Probe {
    store: Result<(), String>,
    last_tick: Option<DateTime<Utc>>,
    now: Mutex<DateTime<Utc>>,
}

impl Readiness for Probe {
    async fn store_answers(&self) -> Result<(), String> {
        self.store.clone()
    }

    fn last_tick(&self) -> Option<DateTime<Utc>> {
        self.last_tick
    }

    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("lock")
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0)
        .single()
        .expect("time")
}

#[track_caller]
fn check(store: Result<(), &str>, last_tick: Option<i64>, now: i64, expect: Result<(), &str>) {
    let probe = Probe {
        store: store.map_err(str::to_owned),
        last_tick: last_tick.map(at),
        now: Mutex::new(at(now)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let got = runtime.block_on(ready(&probe, Duration::from_secs(15)));
    match (got, expect) {
        (Ok(()), Ok(())) => {}
        (Err(reason), Err(expected)) => assert!(reason.contains(expected), "{reason:?} lacks {expected:?}"),
        (got, expect) => panic!("got {got:?}, expected {expect:?}"),
    }
}

#[test]
fn ready_needs_the_store_and_a_tick_within_two_intervals() {
    check(Ok(()), Some(0), 10, Ok(()));
    check(Ok(()), Some(0), 30, Ok(()));
    check(Ok(()), Some(0), 31, Err("more than two intervals"));
    check(Ok(()), None, 0, Err("has not ticked"));
    check(
        Err("the database does not answer: refused"),
        Some(0),
        1,
        Err("does not answer"),
    );
}

#[test]
fn an_error_is_logged_with_every_cause() {
    #[derive(Debug, thiserror::Error)]
    #[error("opening the database")]
    struct Outer(#[source] std::io::Error);
    let error = Outer(std::io::Error::other("connection refused"));
    assert_eq!(
        Chain(&error).to_string(),
        "opening the database: connection refused"
    );
}
