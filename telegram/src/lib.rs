//! The Telegram adapter of the parcel bot (teloxide).
//!
//! Thin by design: it turns Telegram updates into the core conversation's input and
//! the core's replies into Telegram messages (HTML, inline keyboards, split at 4096
//! characters), and it is the engine's [`Notifier`](bot_core::engine::notify::Notifier)
//! for Telegram chats. Every behaviour lives in `bot-core`.
//!
//! Updates come by long polling (one instance per token) or by webhook ([`webhook`]:
//! several instances behind one public URL, every request checked against the shared
//! secret).
//!
//! Layout: [`render`] (replies as HTML parts and keyboards), [`send`] (sending, error
//! mapping, the notifier), [`adapter`] (updates in, answers out; long polling or a
//! webhook).

pub mod adapter;
pub mod render;
pub mod send;

pub use adapter::{StartRetry, TelegramAdapter, TelegramError};
pub use send::TelegramSender;
pub use teloxide::Bot;
pub use teloxide::update_listeners;

use teloxide::requests::Requester;
use teloxide::update_listeners::UpdateListener;

/// The platform name this adapter registers chats under.
pub const PLATFORM: &str = "telegram";

/// A bot for `token`, talking to `api_url` instead of Telegram when given (a local Bot
/// API server, or a fake one in tests). A URL with a path must not end in `/`.
pub fn bot(token: &str, api_url: Option<url::Url>) -> Bot {
    let bot = Bot::new(token);
    match api_url {
        Some(url) => bot.set_api_url(url),
        None => bot,
    }
}

/// Webhook mode: registers `public_url` with Telegram (with `secret`, which Telegram
/// repeats in every request) and returns the update listener and the HTTP routes that
/// receive the updates (serve them on the address the URL is forwarded to). Requests
/// without the secret are refused with 401. The webhook stays registered when this
/// instance stops, because other instances may still be serving it.
///
/// # Errors
/// As [`StartRetry::run`]: a refused token at once, or Telegram unreachable after the
/// retries.
pub async fn webhook(
    bot: &Bot,
    public_url: url::Url,
    listen: std::net::SocketAddr,
    secret: &str,
) -> Result<(impl UpdateListener<Err = std::convert::Infallible>, axum::Router), TelegramError> {
    register_webhook(bot, &public_url, secret).await?;
    let mut options = update_listeners::webhooks::Options::new(listen, public_url);
    options.secret_token = Some(secret.to_owned());
    let (listener, _stop, router) = update_listeners::webhooks::axum_no_setup(options);
    Ok((listener, router))
}

/// Registers `public_url` (and `secret`) as the bot's webhook, retried per
/// [`StartRetry::default`]; the updates are then served by
/// [`TelegramAdapter::webhook_routes`], which acknowledges each one only once handled.
///
/// # Errors
/// As [`StartRetry::run`].
pub async fn register_webhook(bot: &Bot, public_url: &url::Url, secret: &str) -> Result<(), TelegramError> {
    use teloxide::payloads::SetWebhookSetters;
    StartRetry::default()
        .run("setWebhook", || async {
            bot.set_webhook(public_url.clone())
                .secret_token(secret.to_owned())
                .await
        })
        .await?;
    Ok(())
}
