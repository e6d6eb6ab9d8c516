//! Telegram updates into the core conversation, and its answers back.
//!
//! A message becomes [`Input::Text`], a button press [`Input::Button`] (answered at once
//! so the button stops spinning); the update id travels along. Each update is handled
//! once and answered at least once: the conversation queues its answers in the outbox
//! in the transaction that marks it answered, this adapter sends them at once and marks
//! them sent, and what it could not send (a 429, a crash) the engine's dispatcher sends
//! later. By long polling, an update is confirmed to Telegram (the next `getUpdates`
//! offset) only once handled, so a crash makes Telegram serve it again: a replay of an
//! answered update is ignored, one interrupted before its answers were queued is
//! answered. Answers marked private go to the person's own chat with the bot when they
//! came from a group. Replies take their slot from the same overall budget as the
//! dispatcher, and a 429 on a reply pauses the dispatcher too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bot_core::clock::{Clock, Saturating};
use bot_core::conversation::{COMMANDS, Conversation, Delivery, Incoming, Input, QueuedAnswer};
use bot_core::engine::notify::{SendError, SendLimits};
use bot_core::reply::Reply;
use bot_core::store::{ChatRef, Store};
use teloxide::adaptors::CacheMe;
use teloxide::dispatching::{Dispatcher, UpdateFilterExt};
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::payloads::GetUpdatesSetters;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, BotCommand, Me, UpdateKind};
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
            tracing::warn!(error = %bot_core::ops::Chain(&error), attempt, wait_ms = pause.as_millis() as u64, "Telegram {what} failed; retrying");
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(self.max_wait);
        }
    }
}

/// How long the adapter holds the replies it is sending before the dispatcher may
/// send them (after a crash, the replies of the updates in flight wait this long).
const REPLY_LEASE: Duration = Duration::from_secs(30);

/// How long one `getUpdates` waits for updates (Telegram's long polling).
const POLL_TIMEOUT_SECONDS: u32 = 10;

/// After a failed `getUpdates`, the first wait and the longest one.
const POLL_RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

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
            tracing::warn!(error = %bot_core::ops::Chain(&error), "could not register the command menu");
        }
        tracing::info!(username = %me.username(), "Telegram bot ready");
        Ok(me)
    }

    /// Serves updates by long polling until `shutdown` resolves. Each batch is handled
    /// (chats side by side, each chat's updates in order) before the next `getUpdates`
    /// confirms it, so an update a crash interrupted is served again.
    ///
    /// # Errors
    /// As [`TelegramAdapter::prepare`], also when `getUpdates` says the token is
    /// refused; other `getUpdates` failures are retried with backoff.
    pub async fn serve_polling(
        self: Arc<Self>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), TelegramError> {
        let bot = self.sender.bot().clone();
        let me = self.prepare().await?;
        // Polling and a webhook exclude each other; a webhook left from webhook mode
        // would make every getUpdates fail.
        if let Err(error) = bot.delete_webhook().await {
            tracing::warn!(error = %bot_core::ops::Chain(&error), "could not delete a webhook before polling");
        }
        tokio::pin!(shutdown);
        let mut offset: i32 = 0;
        let mut wait = POLL_RETRY.0;
        loop {
            let request = bot
                .get_updates()
                .offset(offset)
                .timeout(POLL_TIMEOUT_SECONDS)
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
            let updates = tokio::select! {
                () = &mut shutdown => return Ok(()),
                updates = request.send() => updates,
            };
            let updates = match updates {
                Ok(updates) => {
                    wait = POLL_RETRY.0;
                    updates
                }
                Err(RequestError::Api(ApiError::InvalidToken)) => {
                    return Err(TelegramError::TokenRefused("getUpdates".to_owned()));
                }
                Err(error) => {
                    let pause = match &error {
                        RequestError::RetryAfter(after) => after.duration().max(wait),
                        _ => wait,
                    }
                    .min(POLL_RETRY.1);
                    tracing::warn!(error = %bot_core::ops::Chain(&error), wait_ms = pause.as_millis() as u64, "getUpdates failed; retrying");
                    tokio::select! {
                        () = &mut shutdown => return Ok(()),
                        () = tokio::time::sleep(pause) => {}
                    }
                    wait = (wait * 2).min(POLL_RETRY.1);
                    continue;
                }
            };
            let mut batches: Vec<Vec<Update>> = Vec::new();
            let mut by_chat: HashMap<Option<i64>, usize> = HashMap::new();
            for update in updates {
                offset = offset.max(update.id.as_offset());
                let chat = update.chat().map(|chat| chat.id.0);
                match by_chat.get(&chat) {
                    Some(&index) => batches[index].push(update),
                    None => {
                        by_chat.insert(chat, batches.len());
                        batches.push(vec![update]);
                    }
                }
            }
            // The batch is finished even when asked to stop: its updates are not
            // confirmed yet, and handling them now spares a replay.
            let mut chats = tokio::task::JoinSet::new();
            for batch in batches {
                let adapter = Arc::clone(&self);
                let me = me.clone();
                chats.spawn(async move {
                    for update in batch {
                        adapter.on_update(update, &me).await;
                    }
                });
            }
            while let Some(done) = chats.join_next().await {
                if let Err(error) = done {
                    tracing::error!(error = %bot_core::ops::Chain(&error), "handling a chat's updates failed");
                }
            }
        }
    }

    async fn on_update(&self, update: Update, me: &Me) {
        let id = update.id.0;
        match update.kind {
            UpdateKind::Message(message) => self.on_message(message, id, me).await,
            UpdateKind::CallbackQuery(query) => self.on_button(query, id, me).await,
            // Other updates (edits, member changes, polls) are simply ignored.
            _ => {}
        }
    }

    /// Serves updates from `listener` (a webhook) until `shutdown` resolves.
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
        let delivery = self.delivery(is_group, user.id);
        let answers = self.conversation.handle_queued(incoming, &delivery).await;
        bot_core::ops::telemetry::update_handled(PLATFORM, answers.len());
        self.deliver(message.chat.id, answers, me).await;
    }

    /// Where the replies of an update go: leased to this adapter, private answers from
    /// a group to the person's own chat (on Telegram its id is the user's id).
    fn delivery(&self, is_group: bool, user: UserId) -> Delivery {
        Delivery {
            owner: format!("{}-telegram-replies", self.conversation.engine().settings().owner),
            lease_for: chrono::Duration::from_std(REPLY_LEASE).unwrap_or_default(),
            private_chat: is_group.then(|| chat_ref(ChatId::from(user))).flatten(),
        }
    }

    async fn on_button(&self, query: CallbackQuery, update_id: u32, me: &Me) {
        if let Err(error) = self.sender.bot().answer_callback_query(query.id.clone()).await {
            tracing::debug!(error = %bot_core::ops::Chain(&error), "could not acknowledge a button press");
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
        let delivery = self.delivery(is_group, query.from.id);
        let answers = self.conversation.handle_queued(incoming, &delivery).await;
        bot_core::ops::telemetry::update_handled(PLATFORM, answers.len());
        self.deliver(chat.id, answers, me).await;
    }

    /// Sends the queued answers in order and marks each sent once Telegram took it:
    /// public ones to the chat, private ones from a group to the person's own chat
    /// with the bot (when they never opened it, the group gets a pointer to it and the
    /// answer waits until they do). A 429 leaves this answer and the next ones to the
    /// dispatcher after the pause; a transient failure, to its retries.
    async fn deliver(&self, chat: ChatId, answers: Vec<QueuedAnswer>, me: &Me) {
        let engine = self.conversation.engine();
        let store = engine.store();
        let mut held_until = None;
        for queued in answers {
            let now = engine.clock().now();
            let Some(to) = telegram_chat(&queued.chat) else {
                continue;
            };
            if let Some(until) = held_until {
                // The order of an update's answers is kept: they wait for the same time.
                if let Some(id) = queued.id
                    && let Err(error) = store.defer(id, until).await
                {
                    tracing::error!(error.cause_chain = ?error, "could not put a reply back");
                }
                continue;
            }
            let outcome = self.send(to, &queued.answer.reply).await;
            let Some(id) = queued.id else {
                if let Err(error) = outcome {
                    tracing::warn!(error = %bot_core::ops::Chain(&error), "could not send a reply");
                }
                continue;
            };
            let stored = match outcome {
                Ok(()) => store.mark_sent(id, now).await,
                Err(SendError::RetryAfter(wait)) => {
                    engine.pause_platform(PLATFORM, wait);
                    let until = now.plus(chrono::Duration::from_std(wait).unwrap_or_default());
                    held_until = Some(until);
                    store.defer(id, until).await
                }
                Err(SendError::Unreachable(reason)) => {
                    tracing::info!(%reason, "chat unreachable; its replies wait");
                    if to != chat {
                        let pointer = Reply::text(format!(
                            "I keep parcel details out of groups. Open a private chat with @{} and press Start, then ask again.",
                            me.username()
                        ));
                        if let Err(error) = self.send(chat, &pointer).await {
                            tracing::warn!(error = %bot_core::ops::Chain(&error), "could not answer in the group");
                        }
                    }
                    match store.set_reachable(&queued.chat, false).await {
                        Ok(()) => store.defer(id, now).await,
                        Err(error) => Err(error),
                    }
                }
                Err(error @ SendError::Transient(_)) => {
                    tracing::warn!(error = %bot_core::ops::Chain(&error), "could not send a reply; the dispatcher retries it");
                    let retry_at = now.plus(engine.settings().dispatch.base_backoff);
                    store.mark_failed(id, Some(retry_at), &error.to_string()).await
                }
                Err(error @ SendError::Rejected(_)) => {
                    tracing::warn!(error = %bot_core::ops::Chain(&error), "Telegram refused a reply");
                    store.mark_failed(id, None, &error.to_string()).await
                }
            };
            if let Err(error) = stored {
                // The dispatcher sends it again once the lease ends: a duplicate at
                // worst, never a loss.
                tracing::error!(error.cause_chain = ?error, "could not record a reply's outcome");
            }
        }
    }

    /// Sends one reply within the platform budget shared with the dispatcher.
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
        self.sender.send_reply(chat, reply).await
    }
}

/// The Telegram chat of a stored chat reference.
fn telegram_chat(chat: &ChatRef) -> Option<ChatId> {
    chat.id().parse().ok().map(ChatId)
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
            tracing::warn!(error = %bot_core::ops::Chain(&error), "a webhook body that is not a Telegram update");
            return StatusCode::BAD_REQUEST;
        }
    };
    let id = update.id.0;
    match update.kind {
        UpdateKind::Message(message) => state.adapter.on_message(message, id, &state.me).await,
        UpdateKind::CallbackQuery(query) => state.adapter.on_button(query, id, &state.me).await,
        // Updates nobody handles (edits, member changes, polls) are simply acknowledged.
        _ => {}
    }
    StatusCode::OK
}
