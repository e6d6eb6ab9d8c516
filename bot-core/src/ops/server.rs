//! The HTTP server of `http.listen`, made to survive slow and hostile clients: every
//! route (webhooks, Discord interactions, probes, metrics) is served through it.
//!
//! - **Connections**: at most `max_connections` open at once. When all are taken the
//!   server stops accepting (the kernel queues newcomers) until one closes, instead of
//!   running out of file descriptors; every connection is bounded in time, so one
//!   always frees up.
//! - **Headers**: a connection that has not sent a whole request head within
//!   `header_timeout` is closed (hyper's `header_read_timeout`, also between two
//!   requests of a kept-alive connection).
//! - **Bodies**: at most `max_body_bytes` (413 beyond), read within `body_timeout`.
//! - **Requests**: at most `max_in_flight` handled at once, each answered within
//!   `request_timeout` (408 otherwise).
//! - **Request ids**: every request gets an `x-request-id` (a client's own is kept),
//!   echoed in the answer and carried by the log span of the request.
//!
//! axum's own `serve` has no header timeout or connection limit, hence the accept loop
//! here over hyper's connection builder.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use super::telemetry;

/// The bounds of the HTTP server (`[http]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time allowed for a request's head (from the connection's start, or from the end
    /// of the previous request).
    pub header_timeout: Duration,
    /// Time allowed for reading a request's body.
    pub body_timeout: Duration,
    /// Time allowed for answering a request.
    pub request_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Requests handled at once.
    pub max_in_flight: usize,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// How long a stop waits for requests in flight.
    pub drain: Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_in_flight: 128,
            max_body_bytes: 1024 * 1024,
            drain: Duration::from_secs(10),
        }
    }
}

/// `routes` with the limits, request ids, logging and metrics of every request.
pub fn harden(routes: Router, limits: &HttpLimits) -> Router {
    routes
        .layer(axum::middleware::from_fn(count_request))
        .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight.max(1)))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id = request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-");
            // The route's class, not the raw path: an operator may have put a secret in
            // the Telegram webhook's path.
            tracing::info_span!(
                "http",
                method = %request.method(),
                route = route_class(request.uri().path()),
                request_id = %request_id,
            )
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Counts each answered request by its route (the pattern, never the raw path, so the
/// label set stays small) and status.
async fn count_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| route_class(path.as_str()));
    let response = next.run(request).await;
    telemetry::http_request(route, response.status().as_u16());
    response
}

/// The label of a route pattern: the known ones by name, the rest as `other` (the
/// Telegram webhook's path is the operator's choice, and may hold a secret).
fn route_class(pattern: &str) -> &'static str {
    match pattern {
        super::HEALTHZ_PATH => "healthz",
        super::READYZ_PATH => "readyz",
        super::METRICS_PATH => "metrics",
        crate::push::SEVENTEEN_TRACK_PATH => "17track",
        crate::push::SHIP24_PATH => "ship24",
        "/discord/interactions" => "discord",
        _ => "other",
    }
}

/// Serves `routes` (already [`harden`]ed) on `listener` until `shutdown`, then waits up
/// to `limits.drain` for the requests in flight.
///
/// # Errors
/// None today: accept errors (such as running out of file descriptors) are logged and
/// retried; the `Result` leaves room for a listener that fails for good.
pub async fn serve(
    listener: TcpListener,
    routes: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                telemetry::http_connection_waited();
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "all HTTP connection slots are taken; new connections wait"
                );
                tokio::select! {
                    () = &mut shutdown => break,
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a little rather than spin.
                    tracing::warn!(error = %crate::ops::Chain(&error), "could not accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Answers are small and written at once: no reason to let Nagle hold them.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(error = %crate::ops::Chain(&error), "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(routes.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %crate::ops::Chain(&error), "HTTP connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain) => {
            tracing::warn!(drain_seconds = limits.drain.as_secs(), "HTTP requests still in flight at the end of the drain time");
        }
    }
    Ok(())
}
