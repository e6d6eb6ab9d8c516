//! The Discord adapter of the parcel bot (serenity).
//!
//! It turns Discord interactions (slash commands, button presses, autocomplete) into
//! core commands and core replies into Discord messages, and delivers the core's
//! proactive messages by DM or to the channel a person chose. It holds no logic of its
//! own: the conversation lives in `bot-core`.
//!
//! Layout: [`commands`] defines the slash commands and reads invocations back into
//! text commands; [`render`] makes Discord messages of replies; [`send`] is the
//! engine's notifier and the error mapping; [`adapter`] is serenity's event handler.

pub mod adapter;
pub mod commands;
pub mod render;
pub mod send;

pub use adapter::DiscordAdapter;
pub use send::DiscordSender;

use bot_core::clock::Clock;
use bot_core::store::Store;
use serenity::all::{ClientBuilder, GatewayIntents};
use serenity::http::{Http, HttpBuilder};

/// The platform name this adapter registers chats under.
pub const PLATFORM: &str = "discord";

/// Why the adapter could not run.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// Discord refused the token or could not be reached.
    #[error("Discord did not accept the bot token or could not be reached: {0}")]
    Start(String),
}

/// An HTTP client for the bot. With `api_url` (a proxy, or a fake Discord in tests)
/// every call goes there and rate limits are left to it, as serenity requires; without
/// it serenity's own limiter keeps the global and per-route buckets and waits out 429s.
pub fn http(token: &str, api_url: Option<&str>) -> Http {
    let builder = HttpBuilder::new(token);
    match api_url {
        Some(url) => builder
            .proxy(url.trim_end_matches('/'))
            .ratelimiter_disabled(true)
            .build(),
        None => builder.build(),
    }
}

/// Connects to the gateway with `token` and serves interactions with `adapter` until
/// `shutdown` resolves. Interactions need no privileged intent, so none is asked for.
///
/// # Errors
/// [`DiscordError::Start`] when Discord refuses the token or cannot be reached.
pub async fn serve<S: Store, C: Clock>(
    adapter: DiscordAdapter<S, C>,
    token: &str,
    api_url: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DiscordError> {
    let mut client = ClientBuilder::new_with_http(http(token, api_url), GatewayIntents::empty())
        .event_handler(adapter)
        .await
        .map_err(|error| DiscordError::Start(error.to_string()))?;
    let shards = client.shard_manager.clone();
    tokio::spawn(async move {
        shutdown.await;
        shards.shutdown_all().await;
    });
    client
        .start()
        .await
        .map_err(|error| DiscordError::Start(error.to_string()))
}
