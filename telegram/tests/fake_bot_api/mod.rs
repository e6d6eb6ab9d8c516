//! A fake Telegram Bot API on 127.0.0.1: it speaks the real wire format (`POST
//! /bot<token>/<Method>` with a JSON body, `{"ok":true,"result":…}` answers), hands out
//! the updates a test queues as Telegram does (served again until a `getUpdates` with a
//! higher `offset` confirms them), records every call, and fails `sendMessage` on
//! demand.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The fake bot's user id and username.
pub const BOT_ID: i64 = 777;
pub const BOT_USERNAME: &str = "parcel_test_bot";

/// One recorded call: the method (lower case) and its JSON body.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

#[derive(Default)]
struct FakeState {
    /// Updates not confirmed yet, and whether each is a replay (served once whatever
    /// the offset, as after a crash of the bot).
    updates: VecDeque<(Value, bool)>,
    calls: Vec<Call>,
    send_failures: VecDeque<(Option<i64>, u16, Value)>,
    call_failures: VecDeque<(String, u16, Value)>,
    failures_served: usize,
    next_message_id: i64,
}

/// The fake server's handle.
#[derive(Clone)]
pub struct FakeBotApi {
    state: Arc<Mutex<FakeState>>,
    changed: Arc<Notify>,
    pub url: String,
}

impl FakeBotApi {
    /// Starts the fake on a free port.
    pub async fn start() -> FakeBotApi {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let changed = Arc::new(Notify::new());
        let fake = FakeBotApi {
            state,
            changed,
            url: String::new(),
        };
        let app = Router::new()
            .route("/{token}/{method}", post(answer))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake server");
        });
        FakeBotApi {
            url: format!("http://{address}/"),
            ..fake
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an update for the next `getUpdates`; it is served until confirmed.
    pub fn push_update(&self, update: Value) {
        self.lock().updates.push_back((update, false));
    }

    /// Serves an update once more even though it was confirmed (a replay).
    pub fn replay_update(&self, update: Value) {
        self.lock().updates.push_back((update, true));
    }

    /// How many updates are not confirmed yet.
    pub fn unconfirmed(&self) -> usize {
        self.lock().updates.len()
    }

    /// The next `sendMessage` calls fail with these status codes and descriptions.
    pub fn fail_sends(&self, failures: impl IntoIterator<Item = (u16, Value)>) {
        self.lock()
            .send_failures
            .extend(failures.into_iter().map(|(status, error)| (None, status, error)));
    }

    /// The next `sendMessage` to `chat` fails with this status code and description.
    pub fn fail_send_to(&self, chat: i64, status: u16, error: Value) {
        self.lock().send_failures.push_back((Some(chat), status, error));
    }

    /// The next calls of `method` (lower case, other than `sendmessage`) fail with these
    /// status codes and bodies, one each.
    pub fn fail_calls(&self, method: &str, failures: impl IntoIterator<Item = (u16, Value)>) {
        self.lock().call_failures.extend(
            failures
                .into_iter()
                .map(|(status, body)| (method.to_owned(), status, body)),
        );
    }

    /// How many scripted failures were served.
    pub fn failures_served(&self) -> usize {
        self.lock().failures_served
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The `sendMessage` calls that succeeded, to `chat`.
    pub fn messages_to(&self, chat: i64) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "sendmessage" && c.body["chat_id"] == json!(chat))
            .filter(|c| c.body.get("_failed").is_none())
            .map(|c| c.body)
            .collect()
    }

    /// Waits (up to 20 s of real time, for the network) until `found` finds something in
    /// the calls.
    pub async fn wait_for<T>(&self, what: &str, found: impl Fn(&[Call]) -> Option<T>) -> T {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if let Some(value) = found(&self.calls()) {
                    return value;
                }
                notified.await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(20), wait).await {
            Ok(value) => value,
            Err(_) => panic!("timed out waiting for {what}; calls: {:#?}", self.calls()),
        }
    }
}

fn ok(result: Value) -> (StatusCode, axum::Json<Value>) {
    (
        StatusCode::OK,
        axum::Json(json!({ "ok": true, "result": result })),
    )
}

fn chat_json(id: i64) -> Value {
    if id < 0 {
        json!({ "id": id, "type": "supergroup", "title": "Parcel fans" })
    } else {
        json!({ "id": id, "type": "private", "first_name": "Buyer" })
    }
}

fn bot_user() -> Value {
    json!({
        "id": BOT_ID, "is_bot": true, "first_name": "Parcel", "username": BOT_USERNAME,
        "can_join_groups": true, "can_read_all_group_messages": false,
        "supports_inline_queries": false, "has_main_web_app": false
    })
}

async fn answer(
    State(fake): State<FakeBotApi>,
    Path((_token, method)): Path<(String, String)>,
    body: Bytes,
) -> impl IntoResponse {
    let method = method.to_ascii_lowercase();
    let body: Value = serde_json::from_slice(&body).unwrap_or_else(|_| multipart_fields(&body));
    if method == "getupdates" {
        let offset = body["offset"].as_i64().unwrap_or(0);
        let limit = body["limit"].as_u64().unwrap_or(100) as usize;
        let updates: Vec<Value> = {
            let mut state = fake.lock();
            // An offset confirms every update below it.
            state
                .updates
                .retain(|(update, replay)| *replay || update["update_id"].as_i64().unwrap_or(0) >= offset);
            let served: Vec<Value> = state
                .updates
                .iter()
                .take(limit)
                .map(|(update, _)| update.clone())
                .collect();
            let mut left = served.len();
            state.updates.retain(|(_, replay)| {
                let keep = left == 0 || !*replay;
                left = left.saturating_sub(1);
                keep
            });
            served
        };
        if updates.is_empty() {
            // An empty answer waits a little, as long polling would, so the loop does
            // not spin.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        fake.changed.notify_waiters();
        return ok(Value::Array(updates));
    }
    let response = {
        let mut state = fake.lock();
        let failure = if method == "sendmessage" {
            let chat = body["chat_id"].as_i64();
            state
                .send_failures
                .iter()
                .position(|(to, _, _)| to.is_none() || *to == chat)
                .and_then(|index| state.send_failures.remove(index))
                .map(|(_, status, error)| (status, error))
        } else {
            state
                .call_failures
                .iter()
                .position(|(failing, _, _)| *failing == method)
                .and_then(|index| state.call_failures.remove(index))
                .map(|(_, status, error)| (status, error))
        };
        let mut recorded = body.clone();
        if failure.is_some() {
            recorded["_failed"] = json!(true);
            state.failures_served += 1;
        }
        state.calls.push(Call {
            method: method.clone(),
            body: recorded,
        });
        match failure {
            Some((status, error)) => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                axum::Json(error),
            ),
            None => match method.as_str() {
                "getwebhookinfo" => ok(json!({
                    "url": "", "has_custom_certificate": false, "pending_update_count": 0
                })),
                "getme" => ok(bot_user()),
                "sendmessage" => {
                    state.next_message_id += 1;
                    let chat = body["chat_id"].as_i64().unwrap_or_default();
                    ok(json!({
                        "message_id": state.next_message_id,
                        "date": 1_790_000_000,
                        "chat": chat_json(chat),
                        "from": bot_user(),
                        "text": body["text"].as_str().unwrap_or_default(),
                    }))
                }
                _ => ok(json!(true)),
            },
        }
    };
    fake.changed.notify_waiters();
    response
}

/// The text fields of a `multipart/form-data` body (teloxide sends `setWebhook` so,
/// because it may carry a certificate), as a JSON object.
fn multipart_fields(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text.split("\r\n--") {
        let Some(start) = part.find("name=\"") else {
            continue;
        };
        let rest = &part[start + 6..];
        let Some(end) = rest.find('"') else {
            continue;
        };
        let name = &rest[..end];
        if let Some((_, value)) = rest.split_once("\r\n\r\n") {
            fields.insert(name.to_owned(), Value::String(value.trim_end().to_owned()));
        }
    }
    Value::Object(fields)
}

/// The Bot API's error body: `{"ok": false, "error_code": …, "description": …}`.
pub fn api_error(code: u16, description: &str) -> Value {
    json!({ "ok": false, "error_code": code, "description": description })
}

/// A 429 body asking to retry after `seconds`.
pub fn too_many_requests(seconds: u32) -> Value {
    json!({
        "ok": false, "error_code": 429,
        "description": format!("Too Many Requests: retry after {seconds}"),
        "parameters": { "retry_after": seconds }
    })
}

/// A text message update from `user` in `chat`.
pub fn text_update(update_id: i64, chat: i64, user: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id * 10,
            "date": 1_790_000_000,
            "chat": chat_json(chat),
            "from": { "id": user, "is_bot": false, "first_name": "Buyer" },
            "text": text,
        }
    })
}

/// A button press by `user` on a bot message in `chat`.
pub fn button_update(update_id: i64, chat: i64, user: i64, data: &str) -> Value {
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": format!("cb-{update_id}"),
            "from": { "id": user, "is_bot": false, "first_name": "Buyer" },
            "chat_instance": "instance",
            "data": data,
            "message": {
                "message_id": 1,
                "date": 1_790_000_000,
                "chat": chat_json(chat),
                "from": bot_user(),
                "text": "an earlier reply",
            }
        }
    })
}
