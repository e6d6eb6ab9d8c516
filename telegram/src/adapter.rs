//! Telegram updates into the core conversation, and its answers back.
//!
//! A message becomes [`Input::Text`], a button press [`Input::Button`] (answered at once
//! so the button stops spinning); the update id travels along so a replayed update is
//! ignored by the conversation. Answers marked private go to the person's own chat with
//! the bot when they came from a group. Replies take their slot from the same overall
//! budget as the engine's dispatcher, and a 429 on a reply pauses the dispatcher too.

use std::sync::Arc;
use std::time::Duration;

use bot_core::clock::Clock;
use bot_core::conversation::{Answer, COMMANDS, Conversation, Incoming, Input};
use bot_core::engine::notify::{SendError, SendLimits};
use bot_core::reply::Reply;
use bot_core::store::{ChatRef, Store};
use teloxide::adaptors::CacheMe;
use teloxide::dispatching::{Dispatcher, UpdateFilterExt};
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, Me};
use teloxide::update_listeners::UpdateListener;
use teloxide::{ApiError, RequestError};

use crate::PLATFORM;
use crate::send::TelegramSender;

/// Why the adapter could not run.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// Telegram refused a call the adapter cannot do without.
    #[error("Telegram refused: {0}")]
    Start(String),
    /// Telegram refused the bot token: the one error start-up does not retry.
    #[error("Telegram refused the bot token ({0}); check TELEGRAM_BOT_TOKEN")]
    TokenRefused(String),
    /// Telegram could not be reached, or answered with errors, however long start-up
    /// waited.
    #[error("Telegram could not be reached for {what} after {attempts} attempts; last error: {last}")]
    Unreachable {
        /// The call that failed (`getMe`, `setWebhook`).
        what: &'static str,
        /// Calls made.
        attempts: u32,
        /// The last error.
        last: String,
    },
}

/// How start-up calls (`getMe`, `setWebhook`) ride out a Telegram that is briefly
/// unavailable: a 429, a 5xx, a network error or a garbled answer is retried with
/// exponential backoff; only a refused token stops at once.
#[derive(Debug, Clone, Copy)]
pub struct StartRetry {
    /// Calls made in all before giving up.
    pub attempts: u32,
    /// The wait after the first failure; each next wait doubles.
    pub first_wait: Duration,
    /// The longest wait (a longer `retry_after` is cut to it).
    pub max_wait: Duration,
}

impl Default for StartRetry {
    /// Eight calls over about two minutes.
    fn default() -> StartRetry {
        StartRetry {
            attempts: 8,
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl StartRetry {
    /// Runs `call` until it succeeds, the token is refused, or the attempts are used.
    ///
    /// # Errors
    /// [`TelegramError::TokenRefused`] at once when Telegram refuses the token;
    /// [`TelegramError::Unreachable`] when every attempt failed otherwise.
    pub async fn run<T, F, Fut>(self, what: &'static str, mut call: F) -> Result<T, TelegramError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RequestError>>,
    {
        let mut wait = self.first_wait;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match call().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if matches!(error, RequestError::Api(ApiError::InvalidToken)) {
                return Err(TelegramError::TokenRefused(error.to_string()));
            }
            if attempt >= self.attempts.max(1) {
                return Err(TelegramError::Unreachable {
                    what,
                    attempts: attempt,
                    last: error.to_string(),
                });
            }
            let pause = match &error {
                RequestError::RetryAfter(after) => after.duration().max(wait),
                _ => wait,
            }
            .min(self.max_wait);
            tracing::warn!(%error, attempt, wait_ms = pause.as_millis() as u64, "Telegram {what} failed; retrying");
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(self.max_wait);
        }
    }
}

/// The longest a reply waits for Telegram's flood control before it is dropped (the
/// user can ask again; proactive messages wait in the outbox instead).
const MAX_REPLY_WAIT: Duration = Duration::from_secs(30);

/// The adapter: the conversation, served on Telegram.
pub struct TelegramAdapter<S, C> {
    conversation: Arc<Conversation<S, C>>,
    sender: TelegramSender,
    start_retry: StartRetry,
}

impl<S, C> std::fmt::Debug for TelegramAdapter<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramAdapter").finish_non_exhaustive()
    }
}

impl<S: Store, C: Clock> TelegramAdapter<S, C> {
    /// An adapter answering with `conversation` through `sender` (the same sender the
    /// engine was given as its Telegram notifier).
    pub fn new(conversation: Arc<Conversation<S, C>>, sender: TelegramSender) -> Arc<Self> {
        TelegramAdapter::with_start_retry(conversation, sender, StartRetry::default())
    }

    /// [`TelegramAdapter::new`] with its own start-up retries.
    pub fn with_start_retry(
        conversation: Arc<Conversation<S, C>>,
        sender: TelegramSender,
        start_retry: StartRetry,
    ) -> Arc<Self> {
        Arc::new(TelegramAdapter {
            conversation,
            sender,
            start_retry,
        })
    }

    /// Checks the token (`getMe`, retried per [`StartRetry`]) and registers the command
    /// menu (`setMyCommands`).
    ///
    /// # Errors
    /// [`TelegramError::TokenRefused`] when Telegram refuses the token;
    /// [`TelegramError::Unreachable`] when it cannot be reached however long we wait.
    pub async fn prepare(&self) -> Result<Me, TelegramError> {
        self.prepare_with(&CacheMe::new(self.sender.bot().clone())).await
    }

    /// [`TelegramAdapter::prepare`] through `bot`, whose cache then holds the answer.
    async fn prepare_with(&self, bot: &CacheMe<Bot>) -> Result<Me, TelegramError> {
        let me = self
            .start_retry
            .run("getMe", || async { bot.get_me().await })
            .await?;
        let commands = COMMANDS
            .iter()
            .map(|(name, description)| BotCommand::new(*name, *description));
        if let Err(error) = bot.set_my_commands(commands).await {
            // The menu is a convenience; the commands work without it.
            tracing::warn!(%error, "could not register the command menu");
        }
        tracing::info!(username = %me.username(), "Telegram bot ready");
        Ok(me)
    }

    /// Serves updates from `listener` (long polling or a webhook) until `shutdown`
    /// resolves.
    ///
    /// # Errors
    /// As [`TelegramAdapter::prepare`]; [`TelegramError::Start`] when the dispatcher
    /// cannot start.
    pub async fn serve<L>(
        self: Arc<Self>,
        listener: L,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), TelegramError>
    where
        L: UpdateListener + Send,
        L::Err: std::fmt::Debug,
    {
        // The dispatcher asks `getMe` again: through the cache it gets the answer the
        // retried call got, instead of a second chance to fail.
        let bot = CacheMe::new(self.sender.bot().clone());
        self.prepare_with(&bot).await?;
        let on_message = {
            let adapter = Arc::clone(&self);
            move |message: Message, update: Update, me: Me| {
                let adapter = Arc::clone(&adapter);
                async move {
                    adapter.on_message(message, update.id.0, &me).await;
                    respond(())
                }
            }
        };
        let on_button = {
            let adapter = Arc::clone(&self);
            move |query: CallbackQuery, update: Update, me: Me| {
                let adapter = Arc::clone(&adapter);
                async move {
                    adapter.on_button(query, update.id.0, &me).await;
                    respond(())
                }
            }
        };
        let handler = dptree::entry()
            .branch(Update::filter_message().endpoint(on_message))
            .branch(Update::filter_callback_query().endpoint(on_button));
        let mut dispatcher = Dispatcher::builder(bot, handler)
            // Updates nobody handles (edits, member changes, polls) are simply ignored.
            .default_handler(|_| async {})
            .build();
        let token = dispatcher.shutdown_token();
        tokio::spawn(async move {
            shutdown.await;
            // The token refuses while the dispatcher is still starting: try again.
            loop {
                match token.shutdown() {
                    Ok(stopped) => {
                        stopped.await;
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        dispatcher
            .try_dispatch_with_listener(
                listener,
                LoggingErrorHandler::with_custom_text("Telegram update listener"),
            )
            .await
            .map_err(|error| TelegramError::Start(error.to_string()))
    }

    /// Webhook mode with an acknowledgement that means "handled": the route at `path`
    /// checks Telegram's `secret` (401 without it), handles the update, and only then
    /// answers 200. An instance that dies mid-update never acknowledged it, so Telegram
    /// delivers it again (to any instance behind the URL); the conversation ignores a
    /// repeat it has handled. (teloxide's own webhook acknowledges on receipt, so a
    /// crash lost the updates still queued.) `me` is what [`TelegramAdapter::prepare`]
    /// returned.
    pub fn webhook_routes(self: Arc<Self>, path: &str, secret: &str, me: Me) -> axum::Router {
        let state = Arc::new(WebhookState {
            adapter: self,
            secret: secret.as_bytes().to_vec(),
            me,
        });
        axum::Router::new()
            .route(path, axum::routing::post(webhook_update::<S, C>))
            .with_state(state)
    }

    async fn on_message(&self, message: Message, update_id: u32, me: &Me) {
        let Some(user) = message.from.as_ref() else {
            return;
        };
        if user.is_bot {
            return;
        }
        let is_group = !message.chat.is_private();
        let text = message.text().or(message.caption()).unwrap_or_default();
        let text = if is_group {
            match addressed_text(&message, text, me) {
                Some(text) => text,
                // In a group the bot only answers what is meant for it.
                None => return,
            }
        } else {
            text.to_owned()
        };
        let Some(chat) = chat_ref(message.chat.id) else {
            return;
        };
        let incoming = Incoming {
            chat,
            user: Some(user.id.0.to_string()),
            is_group,
            update_id: Some(update_id.to_string()),
            channel: None,
            input: Input::Text(text),
        };
        let answers = self.conversation.handle(incoming).await;
        bot_core::ops::telemetry::update_handled(PLATFORM, answers.len());
        self.deliver(message.chat.id, user.id, is_group, answers, me)
            .await;
    }

    async fn on_button(&self, query: CallbackQuery, update_id: u32, me: &Me) {
        if let Err(error) = self.sender.bot().answer_callback_query(query.id.clone()).await {
            tracing::debug!(%error, "could not acknowledge a button press");
        }
        let (Some(data), Some(message)) = (query.data.as_ref(), query.message.as_ref()) else {
            return;
        };
        let chat = message.chat();
        let is_group = !chat.is_private();
        let Some(chat_ref) = chat_ref(chat.id) else {
            return;
        };
        let incoming = Incoming {
            chat: chat_ref,
            user: Some(query.from.id.0.to_string()),
            is_group,
            update_id: Some(update_id.to_string()),
            channel: None,
            input: Input::Button(data.clone()),
        };
        let answers = self.conversation.handle(incoming).await;
        bot_core::ops::telemetry::update_handled(PLATFORM, answers.len());
        self.deliver(chat.id, query.from.id, is_group, answers, me).await;
    }

    /// Sends the answers: public ones to the chat, private ones from a group to the
    /// person's own chat with the bot (or, when they never opened it, a pointer to it).
    async fn deliver(&self, chat: ChatId, user: UserId, is_group: bool, answers: Vec<Answer>, me: &Me) {
        for answer in answers {
            let to = if answer.private && is_group {
                ChatId::from(user)
            } else {
                chat
            };
            match self.send(to, &answer.reply).await {
                Ok(()) => {}
                Err(SendError::Unreachable(_)) if to != chat => {
                    let pointer = Reply::text(format!(
                        "I keep parcel details out of groups. Open a private chat with @{} and press Start, then ask again.",
                        me.username()
                    ));
                    if let Err(error) = self.send(chat, &pointer).await {
                        tracing::warn!(%error, "could not answer in the group");
                    }
                }
                Err(error) => tracing::warn!(%error, "could not send a reply"),
            }
        }
    }

    /// Sends one reply within the platform budget shared with the dispatcher; waits out
    /// one flood-control pause when it is short.
    async fn send(&self, chat: ChatId, reply: &Reply) -> Result<(), SendError> {
        let engine = self.conversation.engine();
        for _ in 0..10 {
            match engine
                .take_send_slot(PLATFORM, SendLimits::TELEGRAM.per_second)
                .await
            {
                Ok(true) | Err(_) => break,
                Ok(false) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        match self.sender.send_reply(chat, reply).await {
            Err(SendError::RetryAfter(wait)) => {
                engine.pause_platform(PLATFORM, wait);
                if wait > MAX_REPLY_WAIT {
                    return Err(SendError::RetryAfter(wait));
                }
                tokio::time::sleep(wait).await;
                self.sender.send_reply(chat, reply).await
            }
            other => other,
        }
    }
}

/// The stored reference of a Telegram chat.
fn chat_ref(chat: ChatId) -> Option<ChatRef> {
    ChatRef::new(PLATFORM, &chat.0.to_string()).ok()
}

/// In a group, the text meant for the bot: a command (without another bot's `@name`),
/// a message mentioning the bot (without the mention), or a reply to the bot.
fn addressed_text(message: &Message, text: &str, me: &Me) -> Option<String> {
    let username = me.username();
    if let Some(rest) = text.strip_prefix('/') {
        let head = rest.split_whitespace().next().unwrap_or_default();
        return match head.split_once('@') {
            Some((_, target)) if !target.eq_ignore_ascii_case(username) => None,
            _ => Some(text.to_owned()),
        };
    }
    // Usernames are ASCII, so lower-casing ASCII only keeps byte positions.
    let mention = format!("@{}", username.to_ascii_lowercase());
    if let Some(start) = text.to_ascii_lowercase().find(&mention) {
        let mut stripped = text.to_owned();
        stripped.replace_range(start..start + mention.len(), "");
        return Some(stripped.trim().to_owned());
    }
    let replies_to_bot = message
        .reply_to_message()
        .and_then(|replied| replied.from.as_ref())
        .is_some_and(|author| author.id == me.id);
    replies_to_bot.then(|| text.to_owned())
}

struct WebhookState<S, C> {
    adapter: Arc<TelegramAdapter<S, C>>,
    secret: Vec<u8>,
    me: Me,
}

/// The header Telegram repeats the webhook secret in.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

async fn webhook_update<S: Store, C: Clock>(
    axum::extract::State(state): axum::extract::State<Arc<WebhookState<S, C>>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    let given = headers
        .get(SECRET_HEADER)
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    // Compared without stopping at the first difference, so timing tells nothing.
    let matches = given.len() == state.secret.len()
        && given
            .iter()
            .zip(&state.secret)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !matches {
        return StatusCode::UNAUTHORIZED;
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(error) => {
            tracing::warn!(%error, "a webhook body that is not a Telegram update");
            return StatusCode::BAD_REQUEST;
        }
    };
    let id = update.id.0;
    match update.kind {
        teloxide::types::UpdateKind::Message(message) => {
            state.adapter.on_message(message, id, &state.me).await
        }
        teloxide::types::UpdateKind::CallbackQuery(query) => {
            state.adapter.on_button(query, id, &state.me).await
        }
        // Updates nobody handles (edits, member changes, polls) are simply acknowledged.
        _ => {}
    }
    StatusCode::OK
}
