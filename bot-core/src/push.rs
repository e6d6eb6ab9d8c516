//! Provider webhooks: 17TRACK and Ship24 push news as it happens, and it goes through
//! the same ingest as a poll ([`Engine::ingest_pushed`]): merged, judged, notices queued
//! once (the outbox dedupes a push and a poll that saw the same thing).
//!
//! Every request is verified before its body is read as JSON: 17TRACK signs with the
//! header `sign` = SHA-256 hex of `rawBody + "/" + apiKey`; Ship24 sends
//! `Authorization: Bearer <secret>`. A provider without a key or secret configured gets
//! 404: its webhook is off. Answers: 200 for a verified request (including news about
//! a number nobody follows, so the provider does not retry it), 400 for a body that is
//! not the provider's shape, 401 for a bad signature or secret, 503 when the store
//! fails (the provider retries later).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::engine::Engine;
use crate::provider::{Lookup, seventeen_track, ship24};
use crate::store::Store;

/// The path 17TRACK posts to.
pub const SEVENTEEN_TRACK_PATH: &str = "/webhooks/17track";
/// The path Ship24 posts to.
pub const SHIP24_PATH: &str = "/webhooks/ship24";

/// What verifies the webhooks.
#[derive(Debug, Clone, Default)]
pub struct PushSecrets {
    /// 17TRACK's API key (it signs with it); `None`: 17TRACK's webhook is off.
    pub seventeen_track_key: Option<SecretString>,
    /// The secret Ship24 sends as a bearer token; `None`: Ship24's webhook is off.
    pub ship24_secret: Option<SecretString>,
}

impl PushSecrets {
    /// Whether any webhook is on (the HTTP server is needed).
    pub fn any(&self) -> bool {
        self.seventeen_track_key.is_some() || self.ship24_secret.is_some()
    }
}

struct PushState<S, C> {
    engine: Arc<Engine<S, C>>,
    secrets: PushSecrets,
}

/// The webhook routes, feeding `engine`.
pub fn router<S: Store, C: Clock>(engine: Arc<Engine<S, C>>, secrets: PushSecrets) -> Router {
    let state = Arc::new(PushState { engine, secrets });
    Router::new()
        .route(SEVENTEEN_TRACK_PATH, post(seventeen_track_push::<S, C>))
        .route(SHIP24_PATH, post(ship24_push::<S, C>))
        .with_state(state)
}

/// 17TRACK's signature of `body` with `key`: SHA-256 hex of `body + "/" + key`.
pub fn seventeen_track_sign(body: &[u8], key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(body);
    hasher.update(b"/");
    hasher.update(key.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Compares without stopping at the first difference, so the time taken does not tell
/// a forger how much was right.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The news in a verified 17TRACK webhook body: `(number, lookup)`, or `None` for an
/// event that carries none (`TRACKING_STOPPED`). `Err` when the body is not 17TRACK's.
pub fn parse_seventeen_track(body: &[u8]) -> Result<Option<(String, Lookup)>, &'static str> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "not JSON")?;
    let event = value.get("event").and_then(Value::as_str).ok_or("no event")?;
    let data = value.get("data").ok_or("no data")?;
    let number = data
        .get("number")
        .and_then(Value::as_str)
        .ok_or("no number")?
        .trim()
        .to_ascii_uppercase();
    match event {
        "TRACKING_UPDATED" => {
            let lookup = seventeen_track::parse_track_info(data.get("track_info"), &number);
            Ok(Some((number, lookup)))
        }
        _ => Ok(None),
    }
}

/// The news in a verified Ship24 webhook body: one `(number, lookup)` per tracking.
/// `Err` when the body is not Ship24's.
pub fn parse_ship24(body: &[u8]) -> Result<Vec<(String, Lookup)>, &'static str> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "not JSON")?;
    let trackings = value
        .get("trackings")
        .and_then(Value::as_array)
        .ok_or("no trackings")?;
    let mut news = Vec::new();
    for tracking in trackings {
        let Some(number) = tracking
            .get("tracker")
            .and_then(|t| t.get("trackingNumber"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let number = number.trim().to_ascii_uppercase();
        // The webhook carries one tracking in the shape the results endpoint uses.
        let as_results = json!({ "data": { "trackings": [tracking] } });
        let lookup = ship24::parse_results(&as_results, &number).map_err(|_| "malformed tracking")?;
        news.push((number.clone(), lookup));
    }
    Ok(news)
}

async fn seventeen_track_push<S: Store, C: Clock>(
    State(state): State<Arc<PushState<S, C>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let Some(key) = &state.secrets.seventeen_track_key else {
        return refuse(StatusCode::NOT_FOUND, "17TRACK webhook is not configured");
    };
    let expected = seventeen_track_sign(&body, key.expose_secret());
    let given = headers
        .get("sign")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !same_secret(given.as_bytes(), expected.as_bytes()) {
        tracing::warn!("17TRACK webhook with a bad signature refused");
        return refuse(StatusCode::UNAUTHORIZED, "bad signature");
    }
    match parse_seventeen_track(&body) {
        Err(problem) => refuse(StatusCode::BAD_REQUEST, problem),
        Ok(None) => accepted(0),
        Ok(Some((number, lookup))) => {
            ingest(&state.engine, vec![(number, lookup)], seventeen_track::NAME).await
        }
    }
}

async fn ship24_push<S: Store, C: Clock>(
    State(state): State<Arc<PushState<S, C>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let Some(secret) = &state.secrets.ship24_secret else {
        return refuse(StatusCode::NOT_FOUND, "Ship24 webhook is not configured");
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_secret(given.trim().as_bytes(), secret.expose_secret().as_bytes()) {
        tracing::warn!("Ship24 webhook with a bad secret refused");
        return refuse(StatusCode::UNAUTHORIZED, "bad secret");
    }
    match parse_ship24(&body) {
        Err(problem) => refuse(StatusCode::BAD_REQUEST, problem),
        Ok(news) => ingest(&state.engine, news, ship24::NAME).await,
    }
}

async fn ingest<S: Store, C: Clock>(
    engine: &Engine<S, C>,
    news: Vec<(String, Lookup)>,
    provider: &'static str,
) -> (StatusCode, axum::Json<Value>) {
    let mut watched = 0;
    for (number, lookup) in news {
        match engine.ingest_pushed(&number, provider, lookup).await {
            Ok(true) => watched += 1,
            Ok(false) => tracing::debug!(provider, "pushed news about a number nobody follows"),
            Err(error) => {
                tracing::error!(error = %crate::ops::Chain(&error), provider, "could not store pushed news");
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage unavailable, retry later",
                );
            }
        }
    }
    accepted(watched)
}

fn accepted(watched: usize) -> (StatusCode, axum::Json<Value>) {
    (
        StatusCode::OK,
        axum::Json(json!({ "ok": true, "ingested": watched })),
    )
}

fn refuse(status: StatusCode, problem: &str) -> (StatusCode, axum::Json<Value>) {
    (status, axum::Json(json!({ "ok": false, "error": problem })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_17track_signature_is_sha256_of_body_slash_key() {
        // python3 -c "import hashlib; print(hashlib.sha256(b'abc/key').hexdigest())"
        assert_eq!(
            seventeen_track_sign(b"abc", "key"),
            "bf138da6b63b58a832b2e1639f29515f30840ba5e682cce5a1c219a0d5a5896f"
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
    }

    #[test]
    fn the_documented_ship24_webhook_is_read() {
        // Ship24's OpenAPI example of a webhook (see tests/fixtures/ship24/README.md).
        let body = include_bytes!("../tests/fixtures/ship24/spec_webhook.json");
        let news = parse_ship24(body).expect("Ship24's documented webhook");
        assert_eq!(news.len(), 1);
        let (number, lookup) = &news[0];
        assert_eq!(number, "9400115901047177598206");
        let Lookup::Found(shipment) = lookup else {
            panic!("events found: {lookup:?}");
        };
        assert!(!shipment.events.is_empty());
        assert!(
            shipment
                .linked_numbers
                .iter()
                .any(|link| link.number == "9400111202544843610364")
        );
    }

    #[test]
    fn stopped_tracking_carries_no_news_and_junk_is_refused() {
        let stopped = br#"{"event":"TRACKING_STOPPED","data":{"number":"RB104729000CN","carrier":3011}}"#;
        assert_eq!(parse_seventeen_track(stopped), Ok(None));
        assert!(parse_seventeen_track(b"<html>").is_err());
        assert!(parse_ship24(br#"{"nope":1}"#).is_err());
    }
}
