//! Discord's HTTP interactions endpoint: Discord POSTs every interaction, signed with the
//! application's Ed25519 key, to one public URL. Any number of instances can stand
//! behind it (a load balancer picks one per request), and no gateway connection is
//! needed, which is how a slash-command bot scales out.
//!
//! Every request is checked before its body is read: `X-Signature-Ed25519` must be the
//! signature of `X-Signature-Timestamp` followed by the raw body, under the public key
//! from the developer portal, and the timestamp must be within five minutes of now (so
//! a captured request cannot be replayed later). Anything else is 401, which is also
//! what Discord's own check of the endpoint expects for a bad signature.
//!
//! Answers are what the gateway path gives: PING gets PONG; a command or a button press
//! is answered in the HTTP response itself when the conversation answers within
//! [`INLINE_WITHIN`], and otherwise acknowledged (deferred, as Discord requires within
//! 3 s) and then edited in through the REST API; autocomplete returns the person's
//! parcels. In servers every answer is ephemeral.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bot_core::clock::Clock;
use bot_core::conversation::Input;
use bot_core::store::Store;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serenity::all::{
    CreateAllowedMentions, CreateInteractionResponse, CreateInteractionResponseMessage, Interaction,
};
use serenity::http::Http;

use crate::adapter::{Interacted, incoming, rendered};
use crate::commands;
use crate::{DiscordAdapter, DiscordError};

/// The path Discord posts interactions to (behind the proxy's public URL).
pub const INTERACTIONS_PATH: &str = "/discord/interactions";

/// The header carrying the signature (hex).
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header carrying the signed timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// How old (or how far ahead) a signed timestamp may be.
pub const MAX_AGE: chrono::Duration = chrono::Duration::minutes(5);

/// How long a command may take to be answered in the HTTP response itself; slower
/// answers are deferred and edited in. Discord allows 3 s for the response: this leaves
/// room for the network.
pub const INLINE_WITHIN: Duration = Duration::from_millis(2_000);

/// Why a request was refused before it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A signature header is missing or not hex of the right length.
    #[error("no valid signature headers")]
    Missing,
    /// The timestamp is not a number of seconds, or is more than five minutes off.
    #[error("the signed timestamp is stale or unreadable")]
    Stale,
    /// The signature does not match the body under the public key.
    #[error("the signature does not match")]
    BadSignature,
}

/// Checks a request as Discord signs it: `signature` (hex) of `timestamp ‖ body` under
/// `key`, with `timestamp` (Unix seconds) within [`MAX_AGE`] of `now`.
///
/// # Errors
/// The [`Refusal`].
pub fn verify(
    key: &VerifyingKey,
    signature: &str,
    timestamp: &str,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Refusal> {
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(signature.trim(), &mut bytes).map_err(|_| Refusal::Missing)?;
    let seconds: i64 = timestamp.trim().parse().map_err(|_| Refusal::Stale)?;
    let age = now.timestamp().saturating_sub(seconds);
    if age.saturating_abs() > MAX_AGE.num_seconds() {
        return Err(Refusal::Stale);
    }
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    key.verify(&message, &Signature::from_bytes(&bytes))
        .map_err(|_| Refusal::BadSignature)
}

/// Reads the portal's public key (32 bytes).
///
/// # Errors
/// [`DiscordError::Start`] when the bytes are not a valid Ed25519 point.
pub fn public_key(bytes: &[u8; 32]) -> Result<VerifyingKey, DiscordError> {
    VerifyingKey::from_bytes(bytes)
        .map_err(|_| DiscordError::Start("discord.public_key is not a valid Ed25519 public key".to_owned()))
}

struct Endpoint<S, C, K> {
    adapter: Arc<DiscordAdapter<S, C>>,
    http: Arc<Http>,
    key: VerifyingKey,
    clock: K,
}

/// The interactions route, answering with `adapter` and sending edits and follow-ups
/// through `http`; timestamps are judged on `clock`.
pub fn router<S: Store, C: Clock, K: Clock>(
    adapter: Arc<DiscordAdapter<S, C>>,
    http: Arc<Http>,
    key: VerifyingKey,
    clock: K,
) -> Router {
    let endpoint = Arc::new(Endpoint {
        adapter,
        http,
        key,
        clock,
    });
    Router::new()
        .route(INTERACTIONS_PATH, post(interaction::<S, C, K>))
        .with_state(endpoint)
}

async fn interaction<S: Store, C: Clock, K: Clock>(
    State(endpoint): State<Arc<Endpoint<S, C, K>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(signature), Some(timestamp)) = (header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER)) else {
        return refuse(Refusal::Missing);
    };
    if let Err(refusal) = verify(&endpoint.key, signature, timestamp, &body, endpoint.clock.now()) {
        return refuse(refusal);
    }
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(interaction) => interaction,
        Err(error) => {
            tracing::warn!(error = %bot_core::ops::Chain(&error), "a signed interaction that is not Discord's shape");
            return (StatusCode::BAD_REQUEST, "not an interaction").into_response();
        }
    };
    // Edits and follow-ups are addressed by application id; without a gateway there is
    // no READY to learn it from, and every interaction carries it.
    if let Some(application) = application_id(&interaction) {
        endpoint.http.set_application_id(application);
    }
    let response = match interaction {
        Interaction::Ping(_) => return json(&serde_json::json!({"type": 1})),
        Interaction::Autocomplete(command) => {
            CreateInteractionResponse::Autocomplete(endpoint.adapter.choices(&command).await)
        }
        Interaction::Command(_) | Interaction::Component(_) => respond(&endpoint, interaction).await,
        // The bot opens no modals; anything else gets an empty acknowledgement.
        _ => CreateInteractionResponse::Acknowledge,
    };
    match serde_json::to_value(&response) {
        Ok(value) => json(&value),
        Err(error) => {
            tracing::error!(error = %bot_core::ops::Chain(&error), "could not write an interaction response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn refuse(refusal: Refusal) -> Response {
    tracing::info!(%refusal, "refused an interaction request");
    (StatusCode::UNAUTHORIZED, "invalid request signature").into_response()
}

fn json(value: &serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// A command or a button press: the answer itself when the conversation is quick,
/// a deferral otherwise (the answer is then edited in by a task of its own).
async fn respond<S: Store, C: Clock, K: Clock>(
    endpoint: &Arc<Endpoint<S, C, K>>,
    interaction: Interaction,
) -> CreateInteractionResponse {
    let interaction = Arc::new(interaction);
    let Some((in_server, prepared)) = interacted(&interaction).and_then(|(to, input)| {
        let in_server = to.guild_id().is_some();
        incoming(&to, in_server, input).map(|incoming| (in_server, incoming))
    }) else {
        return CreateInteractionResponse::Acknowledge;
    };
    let deferred =
        CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(in_server));
    let adapter = Arc::clone(&endpoint.adapter);
    let mut handling = tokio::spawn(async move { adapter.handle(prepared).await });
    let answers = match tokio::time::timeout(INLINE_WITHIN, &mut handling).await {
        Ok(Ok(answers)) => answers,
        Ok(Err(error)) => {
            tracing::error!(error = %bot_core::ops::Chain(&error), "the conversation task failed");
            return deferred;
        }
        Err(_) => {
            // Slow (providers asked): acknowledge now and edit the answer in later.
            let adapter = Arc::clone(&endpoint.adapter);
            let http = Arc::clone(&endpoint.http);
            tokio::spawn(async move {
                let Ok(answers) = handling.await else { return };
                let Some((to, _)) = interacted(&interaction) else {
                    return;
                };
                // The deferral goes out in this request's response; give it a moment to
                // reach Discord before the edit refers to it.
                tokio::time::sleep(Duration::from_millis(250)).await;
                adapter.answer(&http, to, in_server, answers).await;
            });
            return deferred;
        }
    };
    let messages = rendered(&answers);
    let Some((first, rest)) = messages.split_first() else {
        // A replayed interaction (already answered): acknowledge, then clear the
        // placeholder, as the gateway path does.
        let adapter = Arc::clone(&endpoint.adapter);
        let http = Arc::clone(&endpoint.http);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Some((to, _)) = interacted(&interaction) {
                adapter.answer(&http, to, in_server, Vec::new()).await;
            }
        });
        return deferred;
    };
    let mut message = CreateInteractionResponseMessage::new()
        .ephemeral(in_server)
        .content(first.content.clone())
        .components(first.components())
        .allowed_mentions(CreateAllowedMentions::new());
    if let Some(embed) = first.create_embed() {
        message = message.embed(embed);
    }
    if !rest.is_empty() {
        let rest = rest.to_vec();
        let adapter = Arc::clone(&endpoint.adapter);
        let http = Arc::clone(&endpoint.http);
        tokio::spawn(async move {
            // Follow-ups refer to the answer this response carries.
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Some((to, _)) = interacted(&interaction) {
                adapter.follow_up(&http, to, in_server, &rest).await;
            }
        });
    }
    CreateInteractionResponse::Message(message)
}

fn application_id(interaction: &Interaction) -> Option<serenity::model::id::ApplicationId> {
    match interaction {
        Interaction::Command(command) | Interaction::Autocomplete(command) => Some(command.application_id),
        Interaction::Component(press) => Some(press.application_id),
        _ => None,
    }
}

/// The interaction as the adapter answers it, with what the person said.
fn interacted(interaction: &Interaction) -> Option<(Interacted<'_>, Input)> {
    match interaction {
        Interaction::Command(command) => Some((
            Interacted::Command(command),
            Input::Text(commands::as_text(
                &command.data.name,
                &commands::option_values(&command.data.options()),
            )),
        )),
        Interaction::Component(press) => Some((
            Interacted::Button(press),
            Input::Button(press.data.custom_id.clone()),
        )),
        _ => None,
    }
}

/// In HTTP mode: registers the slash commands through the REST API (there is no READY
/// event to do it on), retrying as the gateway's start does, then serves nothing more
/// itself (the HTTP server carries the interactions) until `shutdown`.
///
/// # Errors
/// [`DiscordError::TokenRefused`] when Discord refuses the token;
/// [`DiscordError::Unreachable`] after `retry.attempts` failures.
pub async fn register_and_wait(
    http: Arc<Http>,
    retry: crate::StartRetry,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DiscordError> {
    tokio::pin!(shutdown);
    let mut wait = retry.first_wait;
    let mut failures = 0;
    loop {
        let attempt = async {
            let application = http.get_current_application_info().await?;
            http.set_application_id(application.id);
            crate::adapter::register_commands(&http).await
        };
        let error = tokio::select! {
            () = &mut shutdown => return Ok(()),
            result = attempt => match result {
                Ok(registered) => {
                    tracing::info!(commands = registered.len(), "Discord: HTTP interactions; commands registered");
                    break;
                }
                Err(error) if crate::is_refusal(&error) => return Err(DiscordError::TokenRefused(error.to_string())),
                Err(error) => error,
            },
        };
        failures += 1;
        if failures >= retry.attempts.max(1) {
            return Err(DiscordError::Unreachable {
                attempts: failures,
                last: error.to_string(),
            });
        }
        tracing::warn!(error = %bot_core::ops::Chain(&error), attempt = failures, "could not register the Discord commands; retrying");
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(retry.max_wait);
    }
    shutdown.await;
    Ok(())
}
