//! What an operator needs from a running bot: `GET /healthz` (the process runs),
//! `GET /readyz` (the store answers and the engine ticked lately), `GET /metrics` (the
//! Prometheus text format), and the hardened HTTP server every route of `http.listen`
//! is served by ([`server`]).
//!
//! Metrics go through the `metrics` facade: the core records them where things happen
//! and the binary installs the Prometheus recorder ([`telemetry::install`]) whose
//! handle renders `/metrics`. Counts that would need a scan of a big table (tracked
//! numbers by stage, the outbox) are gauges refreshed by a background task, never at
//! scrape time, so a scrape costs the same with a million numbers as with ten.

pub mod server;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::engine::Engine;
use crate::store::SqlStore;

/// The path of the liveness probe.
pub const HEALTHZ_PATH: &str = "/healthz";
/// The path of the readiness probe.
pub const READYZ_PATH: &str = "/readyz";
/// The path Prometheus scrapes.
pub const METRICS_PATH: &str = "/metrics";

/// What readiness asks: can the store be reached, and when did the engine last tick.
pub trait Readiness: Send + Sync + 'static {
    /// `Err` with the reason when the store does not answer.
    fn store_answers(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// When the engine last finished a tick, if it has.
    fn last_tick(&self) -> Option<DateTime<Utc>>;
    /// Now, on the engine's clock.
    fn now(&self) -> DateTime<Utc>;
}

/// The live bot's readiness: its SQL store and its engine.
pub struct EngineReadiness<C> {
    /// The engine (its store is pinged, its last tick read).
    pub engine: Arc<Engine<SqlStore, C>>,
}

impl<C: Clock> Readiness for EngineReadiness<C> {
    async fn store_answers(&self) -> Result<(), String> {
        self.engine
            .store()
            .ping()
            .await
            .map_err(|error| format!("the database does not answer: {error}"))
    }

    fn last_tick(&self) -> Option<DateTime<Utc>> {
        self.engine.last_tick()
    }

    fn now(&self) -> DateTime<Utc> {
        self.engine.clock().now()
    }
}

struct OpsState<R> {
    readiness: R,
    tick_every: Duration,
    metrics: Option<telemetry::Metrics>,
}

/// The probe and metrics routes. `tick_every` is the engine's interval: ready means a
/// tick within two of them. Without `metrics` (no recorder installed) `/metrics` is 404.
pub fn router<R: Readiness>(
    readiness: R,
    tick_every: Duration,
    metrics: Option<telemetry::Metrics>,
) -> Router {
    let state = Arc::new(OpsState {
        readiness,
        tick_every,
        metrics,
    });
    Router::new()
        .route(HEALTHZ_PATH, get(healthz))
        .route(READYZ_PATH, get(readyz::<R>))
        .route(METRICS_PATH, get(render_metrics::<R>))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Whether the bot is ready, and if not why (the text a probe's log shows).
///
/// # Errors
/// The reason it is not ready.
pub async fn ready(readiness: &impl Readiness, tick_every: Duration) -> Result<(), String> {
    readiness.store_answers().await?;
    let limit = chrono::Duration::from_std(tick_every * 2).unwrap_or(chrono::Duration::MAX);
    match readiness.last_tick() {
        None => Err("the engine has not ticked yet".to_owned()),
        Some(last) if readiness.now().signed_duration_since(last) > limit => Err(format!(
            "the engine last ticked {} s ago (more than two intervals)",
            readiness.now().signed_duration_since(last).num_seconds()
        )),
        Some(_) => Ok(()),
    }
}

async fn readyz<R: Readiness>(State(state): State<Arc<OpsState<R>>>) -> Response {
    match ready(&state.readiness, state.tick_every).await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")).into_response()
        }
    }
}

async fn render_metrics<R: Readiness>(State(state): State<Arc<OpsState<R>>>) -> Response {
    match &state.metrics {
        Some(metrics) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            metrics.render(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Keeps the gauges that need a count of a big table up to date: every `every`, the
/// tracked numbers by stage and the outbox (pending, dead) are counted once, whatever
/// the number of scrapes. Runs until `shutdown`.
pub async fn refresh_counts<S: AsRef<SqlStore>>(
    store: S,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = interval.tick() => match store.as_ref().counts().await {
                Ok(counts) => telemetry::record_counts(&counts),
                Err(error) => tracing::warn!(error = %Chain(&error), "could not count for the metrics"),
            },
        }
    }
}

/// An error with every cause after it (`a: b: c`), as the logs show errors.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
