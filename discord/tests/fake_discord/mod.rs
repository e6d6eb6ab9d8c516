//! A fake Discord on 127.0.0.1 speaking the real wire format: the REST API under
//! `/api/v10` (axum) and a gateway over plain `ws://` on a second port (what `GET
//! /gateway` hands out). It records every REST call, answers with the JSON serenity
//! expects, can refuse messages to a channel with a given status and body, and pushes
//! interactions to the connected bot as `INTERACTION_CREATE` events. [`Signer`] plays
//! Discord's side of the HTTP interactions endpoint: it signs each interaction with an
//! Ed25519 key generated for the test and POSTs it, as Discord does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The bot's application and user id.
pub const APPLICATION_ID: u64 = 900_100;
/// Where DM channels are numbered from: a person's DM channel is this plus their id.
pub const DM_CHANNELS_FROM: u64 = 5_000_000_000;

/// One REST call the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: Method,
    /// Path after `/api/v10`.
    pub path: String,
    /// The JSON body (`Null` when none).
    pub body: Value,
    /// Whether the fake refused it (see [`FakeDiscord::refuse_channel`]).
    pub refused: bool,
}

#[derive(Default)]
struct Shared {
    calls: Vec<Call>,
    /// Channel id → (status, body) answered to every message sent there.
    refuse: HashMap<u64, (u16, Value)>,
    /// How many refusals were served.
    refused: usize,
    /// Gateway connections still to be dropped at once (a Discord briefly down).
    drop_gateway: usize,
    /// Gateway connections accepted so far.
    gateway_connections: usize,
    /// Whether IDENTIFY is answered with close code 4004 (authentication failed).
    refuse_token: bool,
}

/// The fake.
#[derive(Clone)]
pub struct FakeDiscord {
    /// The REST base URL (give it to the bot as `DISCORD_API_URL`).
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    events: broadcast::Sender<Value>,
    next_id: Arc<AtomicU64>,
}

#[derive(Clone)]
struct AppState {
    shared: Arc<Mutex<Shared>>,
    gateway_url: String,
    next_id: Arc<AtomicU64>,
}

fn user_json(id: u64, name: &str, bot: bool) -> Value {
    json!({
        "id": id.to_string(),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": null,
        "bot": bot,
    })
}

/// A message object as Discord returns it.
pub fn message_json(id: u64, channel: u64, body: &Value) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "author": user_json(APPLICATION_ID, "parcelbot", true),
        "content": body.get("content").cloned().unwrap_or(json!("")),
        "timestamp": "2026-10-01T08:00:00+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": body.get("embeds").cloned().unwrap_or(json!([])),
        "components": [],
        "pinned": false,
        "type": 0,
        "nonce": body.get("nonce").cloned().unwrap_or(Value::Null),
    })
}

async fn rest(State(state): State<AppState>, method: Method, uri: Uri, body: axum::body::Bytes) -> Response {
    let path = uri.path().trim_start_matches("/api/v10").to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = state.next_id.fetch_add(1, Ordering::SeqCst);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // A message to a refused channel is answered with the refusal; decided and recorded
    // under one lock, so concurrent calls cannot mix up which one was refused.
    let refusal = {
        let mut shared = state.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let refusal = match (method.as_str(), segments.as_slice()) {
            ("POST", ["channels", channel, "messages"]) => channel
                .parse::<u64>()
                .ok()
                .and_then(|channel| shared.refuse.get(&channel).cloned()),
            _ => None,
        };
        if refusal.is_some() {
            shared.refused += 1;
        }
        shared.calls.push(Call {
            method: method.clone(),
            path: path.clone(),
            body: body.clone(),
            refused: refusal.is_some(),
        });
        refusal
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["gateway"]) => axum::Json(json!({"url": state.gateway_url})).into_response(),
        ("GET", ["gateway", "bot"]) => axum::Json(json!({
            "url": state.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        }))
        .into_response(),
        ("PUT", ["applications", _, "commands"]) => {
            let registered: Vec<Value> = body
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(index, command)| {
                    let mut command = command.clone();
                    command["id"] = json!((700_000 + index).to_string());
                    command["application_id"] = json!(APPLICATION_ID.to_string());
                    command["version"] = json!("1");
                    command["default_member_permissions"] = Value::Null;
                    command["type"] = json!(1);
                    command
                })
                .collect();
            axum::Json(Value::Array(registered)).into_response()
        }
        ("GET", ["oauth2", "applications", "@me"]) => axum::Json(json!({
            "id": APPLICATION_ID.to_string(),
            "name": "parcelbot",
            "icon": null,
            "description": "",
            "bot_public": true,
            "bot_require_code_grant": false,
            "owner": null,
            "team": null,
            "verify_key": "00",
        }))
        .into_response(),
        ("POST", ["interactions", _, _, "callback"]) => StatusCode::NO_CONTENT.into_response(),
        ("PATCH", ["webhooks", _, _, "messages", _]) | ("POST", ["webhooks", _, _]) => {
            axum::Json(message_json(id, 1, &body)).into_response()
        }
        ("DELETE", ["webhooks", _, _, "messages", _]) => StatusCode::NO_CONTENT.into_response(),
        ("POST", ["users", "@me", "channels"]) => {
            let recipient: u64 = body["recipient_id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .or_else(|| body["recipient_id"].as_u64())
                .unwrap_or(1);
            axum::Json(json!({
                "id": (DM_CHANNELS_FROM + recipient).to_string(),
                "type": 1,
                "last_message_id": null,
                "recipients": [user_json(recipient, "buyer", false)],
            }))
            .into_response()
        }
        ("POST", ["channels", channel, "messages"]) => {
            let channel: u64 = channel.parse().unwrap_or(0);
            match refusal {
                Some((status, body)) => (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
                    axum::Json(body),
                )
                    .into_response(),
                None => axum::Json(message_json(id, channel, &body)).into_response(),
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"code": 0, "message": format!("404: no fake for {method} {path}")})),
        )
            .into_response(),
    }
}

async fn not_found(Path(rest): Path<String>) -> Response {
    (StatusCode::NOT_FOUND, format!("nothing at /{rest}")).into_response()
}

/// Serves one gateway connection: HELLO, IDENTIFY → READY, heartbeats, then the
/// pushed events in order.
async fn gateway_connection(
    stream: tokio::net::TcpStream,
    mut events: broadcast::Receiver<Value>,
    shared: Arc<Mutex<Shared>>,
) {
    let (drop_now, refuse_token) = {
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.gateway_connections += 1;
        let drop_now = shared.drop_gateway > 0;
        shared.drop_gateway = shared.drop_gateway.saturating_sub(1);
        (drop_now, shared.refuse_token)
    };
    if drop_now {
        return;
    }
    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 45_000}, "s": null, "t": null});
    if socket.send(WsMessage::text(hello.to_string())).await.is_err() {
        return;
    }
    let mut sequence = 0u64;
    loop {
        tokio::select! {
            frame = socket.next() => {
                let Some(Ok(frame)) = frame else { return };
                let Ok(text) = frame.into_text() else { continue };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else { continue };
                let reply = match payload["op"].as_u64() {
                    Some(1) => json!({"op": 11, "d": null, "s": null, "t": null}),
                    Some(2) if refuse_token => {
                        let close = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                            code: 4004.into(),
                            reason: "Authentication failed.".into(),
                        };
                        let _ = socket.close(Some(close)).await;
                        return;
                    }
                    Some(2) => {
                        sequence += 1;
                        json!({
                            "op": 0, "s": sequence, "t": "READY",
                            "d": {
                                "v": 10,
                                "user": user_json(APPLICATION_ID, "parcelbot", true),
                                "guilds": [],
                                "session_id": "fake-session",
                                "resume_gateway_url": "ws://127.0.0.1:1",
                                "shard": [0, 1],
                                "application": {"id": APPLICATION_ID.to_string(), "flags": 0},
                            }
                        })
                    }
                    _ => continue,
                };
                if socket.send(WsMessage::text(reply.to_string())).await.is_err() {
                    return;
                }
            }
            event = events.recv() => {
                let Ok(event) = event else { return };
                sequence += 1;
                let dispatch = json!({"op": 0, "s": sequence, "t": "INTERACTION_CREATE", "d": event});
                if socket.send(WsMessage::text(dispatch.to_string())).await.is_err() {
                    return;
                }
            }
        }
    }
}

impl FakeDiscord {
    /// Starts the REST API and the gateway on two free ports.
    pub async fn start() -> FakeDiscord {
        let gateway = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let gateway_url = format!("ws://{}", gateway.local_addr().expect("addr"));
        let (events, _) = broadcast::channel(64);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let next_id = Arc::new(AtomicU64::new(10_000));
        let state = AppState {
            shared: Arc::clone(&shared),
            gateway_url,
            next_id: Arc::clone(&next_id),
        };
        let app = Router::new()
            .route("/api/v10/{*rest}", any(rest))
            .route("/{*rest}", any(not_found))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind api");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let gateway_events = events.clone();
        let gateway_shared = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((stream, _)) = gateway.accept().await {
                tokio::spawn(gateway_connection(
                    stream,
                    gateway_events.subscribe(),
                    Arc::clone(&gateway_shared),
                ));
            }
        });
        FakeDiscord {
            url,
            shared,
            events,
            next_id,
        }
    }

    /// The next `count` gateway connections are dropped before the handshake.
    pub fn drop_gateway_connections(&self, count: usize) {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drop_gateway = count;
    }

    /// From now on IDENTIFY is refused with close code 4004: the token is wrong.
    pub fn refuse_token(&self) {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refuse_token = true;
    }

    /// Gateway connections accepted so far.
    pub fn gateway_connections(&self) -> usize {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .gateway_connections
    }

    /// Every REST call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .calls
            .clone()
    }

    /// Messages posted to `channel` (bodies of `POST /channels/{channel}/messages` that
    /// were not refused).
    pub fn messages_in(&self, channel: u64) -> Vec<Value> {
        let shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let path = format!("/channels/{channel}/messages");
        shared
            .calls
            .iter()
            .filter(|call| call.method == Method::POST && call.path == path && !call.refused)
            .map(|call| call.body.clone())
            .collect()
    }

    /// Every message to `channel` from now on is answered with `status` and `body`.
    pub fn refuse_channel(&self, channel: u64, status: u16, body: Value) {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refuse
            .insert(channel, (status, body));
    }

    /// How many refusals were served.
    pub fn refused(&self) -> usize {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).refused
    }

    /// Pushes an interaction to the connected bot.
    pub fn push(&self, interaction: Value) {
        let _ = self.events.send(interaction);
    }

    /// A fresh snowflake.
    pub fn snowflake(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Waits (up to 20 s) until `found` returns something.
    pub async fn wait_for<T>(&self, what: &str, mut found: impl FnMut(&[Call]) -> Option<T>) -> T {
        for _ in 0..400 {
            if let Some(value) = found(&self.calls()) {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}; calls: {:#?}", self.calls());
    }
}

/// Where an interaction happens.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// A DM with the bot.
    Dm,
    /// A server channel.
    Server {
        /// The server.
        guild: u64,
        /// The channel.
        channel: u64,
    },
}

fn place_fields(interaction: &mut Value, user: u64, place: Place) {
    match place {
        Place::Dm => {
            interaction["channel_id"] = json!((DM_CHANNELS_FROM + user).to_string());
            interaction["user"] = user_json(user, "buyer", false);
            interaction["context"] = json!(1);
        }
        Place::Server { guild, channel } => {
            interaction["channel_id"] = json!(channel.to_string());
            interaction["guild_id"] = json!(guild.to_string());
            interaction["member"] = json!({
                "user": user_json(user, "buyer", false),
                "roles": [],
                "joined_at": "2026-01-01T00:00:00+00:00",
                "deaf": false,
                "mute": false,
                "flags": 0,
                "permissions": "0",
            });
            interaction["context"] = json!(0);
        }
    }
}

fn interaction_base(id: u64, kind: u8, data: Value) -> Value {
    json!({
        "id": id.to_string(),
        "application_id": APPLICATION_ID.to_string(),
        "type": kind,
        "data": data,
        "token": format!("token-{id}"),
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {},
        "attachment_size_limit": 8_388_608,
    })
}

/// A slash command with string options (`[("number", "RB…")]`).
pub fn command(id: u64, user: u64, place: Place, name: &str, options: &[(&str, Value)]) -> Value {
    let options: Vec<Value> = options
        .iter()
        .map(|(name, value)| {
            let kind = if value.is_i64() { 4 } else { 3 };
            json!({"name": name, "type": kind, "value": value})
        })
        .collect();
    let mut interaction = interaction_base(
        id,
        2,
        json!({"id": "700001", "name": name, "type": 1, "options": options}),
    );
    place_fields(&mut interaction, user, place);
    interaction
}

/// Autocomplete of `option` of command `name`, with `typed` so far.
pub fn autocomplete(id: u64, user: u64, place: Place, name: &str, option: &str, typed: &str) -> Value {
    let mut interaction = interaction_base(
        id,
        4,
        json!({
            "id": "700001", "name": name, "type": 1,
            "options": [{"name": option, "type": 3, "value": typed, "focused": true}]
        }),
    );
    place_fields(&mut interaction, user, place);
    interaction
}

/// A press of the button `custom_id` under a message of the bot.
pub fn button(id: u64, user: u64, place: Place, custom_id: &str) -> Value {
    let mut interaction = interaction_base(id, 3, json!({"custom_id": custom_id, "component_type": 2}));
    place_fields(&mut interaction, user, place);
    let channel: u64 = interaction["channel_id"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    interaction["message"] = message_json(id + 1, channel, &json!({"content": ""}));
    interaction
}

/// Discord's side of the HTTP interactions endpoint: a key pair made for the test, and
/// requests signed as Discord signs them (`X-Signature-Ed25519` over the
/// `X-Signature-Timestamp` followed by the body).
pub struct Signer {
    key: ed25519_dalek::SigningKey,
    client: reqwest::Client,
}

impl Signer {
    /// A fresh key pair from `seed` (tests pass a random one).
    pub fn new(seed: u64) -> Signer {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        Signer {
            key: ed25519_dalek::SigningKey::from_bytes(&secret),
            client: reqwest::Client::new(),
        }
    }

    /// The public key as the developer portal shows it (hex).
    pub fn public_key_hex(&self) -> String {
        hex_of(self.key.verifying_key().as_bytes())
    }

    /// The signature headers of `body` at `timestamp` (Unix seconds).
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> (String, String) {
        use ed25519_dalek::Signer as _;
        let timestamp = timestamp.to_string();
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        (hex_of(&self.key.sign(&message).to_bytes()), timestamp)
    }

    /// POSTs `body` to `url` with `signature` and `timestamp` headers as given.
    pub async fn post_raw(
        &self,
        url: &str,
        signature: &str,
        timestamp: &str,
        body: Vec<u8>,
    ) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(url)
            .header("content-type", "application/json")
            .header("x-signature-ed25519", signature)
            .header("x-signature-timestamp", timestamp)
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
    }

    /// POSTs `interaction` to `url`, signed at `now` (Unix seconds); returns the status
    /// and the JSON answer.
    pub async fn post(&self, url: &str, interaction: &Value, now: i64) -> reqwest::Result<(u16, Value)> {
        let body = interaction.to_string().into_bytes();
        let (signature, timestamp) = self.sign(now, &body);
        let response = self.post_raw(url, &signature, &timestamp, body).await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }
}

/// A PING, as Discord sends when the endpoint URL is saved in the portal.
pub fn ping(id: u64) -> Value {
    interaction_base(id, 1, Value::Null)
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
