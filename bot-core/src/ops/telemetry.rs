//! The bot's metrics: their names (Prometheus conventions: `parcelbot_` prefix,
//! `_total` for counters, `_seconds` for durations), their help texts, the recorder the
//! binary installs, and the helpers the core records through.
//!
//! The core records with the `metrics` facade wherever the thing happens (a provider
//! call, a tick, a sent message). Without an installed recorder (tests, the console)
//! those calls cost a load and a branch and record nothing.

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::interpret::stage::Stage;
use crate::store::StoreCounts;

/// Updates (messages, commands, button presses, interactions) handled, by `platform`.
pub const UPDATES_HANDLED: &str = "parcelbot_updates_handled_total";
/// Replies sent to updates, by `platform`.
pub const REPLIES_SENT: &str = "parcelbot_replies_sent_total";
/// Proactive messages the platforms took, by `platform` and `kind` (outbox kind).
pub const MESSAGES_SENT: &str = "parcelbot_messages_sent_total";
/// Outbox rows that failed and will be retried, by `platform`.
pub const MESSAGES_RETRIED: &str = "parcelbot_messages_retried_total";
/// Outbox rows given up on, by `platform`.
pub const MESSAGES_DEAD: &str = "parcelbot_messages_dead_total";
/// Times a send waited for a slot of the shared send budget, by `platform`.
pub const SEND_LIMIT_WAITS: &str = "parcelbot_send_limit_waits_total";
/// Outbox rows not sent yet (gauge).
pub const OUTBOX_PENDING: &str = "parcelbot_outbox_pending";
/// Outbox rows given up on (gauge).
pub const OUTBOX_DEAD: &str = "parcelbot_outbox_dead";
/// Provider calls, by `provider` and `outcome` (`ok` or the error kind).
pub const PROVIDER_REQUESTS: &str = "parcelbot_provider_requests_total";
/// How long a provider call took, by `provider`.
pub const PROVIDER_REQUEST_DURATION: &str = "parcelbot_provider_request_duration_seconds";
/// 1 while a provider's circuit breaker is open, by `provider`.
pub const PROVIDER_CIRCUIT_OPEN: &str = "parcelbot_provider_circuit_open";
/// Numbers polled per engine tick.
pub const POLLS_PER_TICK: &str = "parcelbot_tick_polls";
/// How long an engine tick took.
pub const TICK_DURATION: &str = "parcelbot_tick_duration_seconds";
/// Engine ticks that failed (a store error).
pub const TICK_FAILURES: &str = "parcelbot_tick_failures_total";
/// Tracked numbers, by `stage` (`none`: no event yet).
pub const TRACKED_NUMBERS: &str = "parcelbot_tracked_numbers";
/// HTTP requests served on `http.listen`, by `route` class and `status`.
pub const HTTP_REQUESTS: &str = "parcelbot_http_requests_total";
/// Connections refused or cut because `http.max_connections` were open.
pub const HTTP_CONNECTIONS_WAITED: &str = "parcelbot_http_connection_waits_total";

/// Buckets of the duration histograms, in seconds: from a fast local call to a provider
/// timing out.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of the polls-per-tick histogram.
const POLL_BUCKETS: &[f64] = &[0.0, 1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 25000.0];

/// The installed Prometheus recorder: renders `/metrics`.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The Prometheus text format of every metric recorded so far.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains the histograms' old samples; the binary calls it periodically so memory
    /// stays flat between scrapes.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("could not install the metrics recorder: {0}")]
pub struct InstallError(String);

/// Installs the process-wide Prometheus recorder and describes every metric. Called
/// once by the binary.
///
/// # Errors
/// [`InstallError`] when a recorder is already installed or a bucket list is invalid.
pub fn install() -> Result<Metrics, InstallError> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_owned()),
            DURATION_BUCKETS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(POLLS_PER_TICK.to_owned()),
                POLL_BUCKETS,
            )
        })
        .map_err(|error| InstallError(error.to_string()))?;
    let handle = builder
        .install_recorder()
        .map_err(|error| InstallError(error.to_string()))?;
    describe();
    Ok(Metrics { handle })
}

fn describe() {
    describe_counter!(
        UPDATES_HANDLED,
        "Updates (messages, commands, buttons, interactions) handled, by platform"
    );
    describe_counter!(REPLIES_SENT, "Replies sent to updates, by platform");
    describe_counter!(
        MESSAGES_SENT,
        "Proactive messages the platform took, by platform and kind"
    );
    describe_counter!(
        MESSAGES_RETRIED,
        "Proactive messages that failed and will be retried, by platform"
    );
    describe_counter!(MESSAGES_DEAD, "Proactive messages given up on, by platform");
    describe_counter!(
        SEND_LIMIT_WAITS,
        "Sends that waited for the shared send budget, by platform"
    );
    describe_gauge!(OUTBOX_PENDING, "Outbox rows not sent yet");
    describe_gauge!(OUTBOX_DEAD, "Outbox rows given up on");
    describe_counter!(PROVIDER_REQUESTS, "Provider calls, by provider and outcome");
    describe_histogram!(
        PROVIDER_REQUEST_DURATION,
        Unit::Seconds,
        "Provider call latency, by provider"
    );
    describe_gauge!(
        PROVIDER_CIRCUIT_OPEN,
        "1 while the provider's circuit breaker is open"
    );
    describe_histogram!(POLLS_PER_TICK, "Numbers polled per engine tick");
    describe_histogram!(TICK_DURATION, Unit::Seconds, "Engine tick duration");
    describe_counter!(TICK_FAILURES, "Engine ticks that failed");
    describe_gauge!(TRACKED_NUMBERS, "Tracked numbers, by stage of their parcel");
    describe_counter!(HTTP_REQUESTS, "HTTP requests served, by route and status");
    describe_counter!(
        HTTP_CONNECTIONS_WAITED,
        "Connections that waited for a free slot (http.max_connections)"
    );
}

/// Records an update handled on `platform` and the replies sent to it.
pub fn update_handled(platform: &'static str, replies: usize) {
    counter!(UPDATES_HANDLED, "platform" => platform).increment(1);
    counter!(REPLIES_SENT, "platform" => platform).increment(replies as u64);
}

/// Records one provider call of `duration` with `outcome` (`ok` or an error kind).
pub fn provider_call(provider: &'static str, outcome: &'static str, duration: Duration) {
    counter!(PROVIDER_REQUESTS, "provider" => provider, "outcome" => outcome).increment(1);
    histogram!(PROVIDER_REQUEST_DURATION, "provider" => provider).record(duration.as_secs_f64());
}

/// Records whether `provider`'s breaker is open.
pub fn circuit(provider: &'static str, open: bool) {
    gauge!(PROVIDER_CIRCUIT_OPEN, "provider" => provider).set(if open { 1.0 } else { 0.0 });
}

/// Records a tick: how long it took and how many numbers it polled (`None`: it failed).
pub fn tick(duration: Duration, polled: Option<usize>) {
    histogram!(TICK_DURATION).record(duration.as_secs_f64());
    match polled {
        Some(polled) => histogram!(POLLS_PER_TICK).record(polled as f64),
        None => counter!(TICK_FAILURES).increment(1),
    }
}

/// Records a proactive message the platform took.
pub fn message_sent(platform: &'static str, kind: &str) {
    counter!(MESSAGES_SENT, "platform" => platform, "kind" => kind.to_owned()).increment(1);
}

/// Records a proactive message that failed: `dead` when given up on.
pub fn message_failed(platform: &'static str, dead: bool) {
    if dead {
        counter!(MESSAGES_DEAD, "platform" => platform).increment(1);
    } else {
        counter!(MESSAGES_RETRIED, "platform" => platform).increment(1);
    }
}

/// Records a send that had to wait for the shared budget.
pub fn send_limit_wait(platform: &'static str) {
    counter!(SEND_LIMIT_WAITS, "platform" => platform).increment(1);
}

/// Sets the gauges counted from the store. Every stage is set, so a stage nobody is at
/// any more drops to zero instead of keeping its last count.
pub fn record_counts(counts: &StoreCounts) {
    gauge!(OUTBOX_PENDING).set(counts.outbox_pending as f64);
    gauge!(OUTBOX_DEAD).set(counts.outbox_dead as f64);
    let count_of = |code: Option<&str>| {
        counts
            .numbers_by_stage
            .iter()
            .filter(|(stage, _)| stage.as_deref() == code)
            .map(|(_, count)| *count)
            .sum::<i64>()
    };
    gauge!(TRACKED_NUMBERS, "stage" => "none").set(count_of(None) as f64);
    for stage in Stage::ALL {
        gauge!(TRACKED_NUMBERS, "stage" => stage.as_code()).set(count_of(Some(stage.as_code())) as f64);
    }
}

/// Records an HTTP request answered with `status` on a route of class `route`.
pub fn http_request(route: &'static str, status: u16) {
    counter!(HTTP_REQUESTS, "route" => route, "status" => status.to_string()).increment(1);
}

/// Records a connection that had to wait for a free slot.
pub fn http_connection_waited() {
    counter!(HTTP_CONNECTIONS_WAITED).increment(1);
}
