//! The Discord adapter of the parcel bot (serenity).
//!
//! It turns Discord interactions (slash commands, button presses, autocomplete) into
//! core commands and core replies into Discord messages, and delivers the core's
//! proactive messages by DM or to the channel a person chose. It holds no logic of its
//! own: the conversation lives in `bot-core`.
//!
//! Layout: [`commands`] defines the slash commands and reads invocations back into
//! text commands; [`render`] makes Discord messages of replies; [`send`] is the
//! engine's notifier and the error mapping; [`adapter`] is serenity's event handler;
//! [`interactions`] serves the same interactions over HTTP (Discord's interactions
//! endpoint, signed with Ed25519) for instances that open no gateway connection.

pub mod adapter;
pub mod commands;
pub mod interactions;
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
    /// Discord could not be set up (a client that cannot be built).
    #[error("Discord could not start: {0}")]
    Start(String),
    /// Discord refused the token: the one error that is not retried.
    #[error("Discord refused the bot token ({0}); check DISCORD_TOKEN")]
    TokenRefused(String),
    /// Discord could not be reached, or kept failing, however long start-up waited.
    #[error("Discord could not be reached after {attempts} attempts; last error: {last}")]
    Unreachable {
        /// Connections tried.
        attempts: u32,
        /// The last error.
        last: String,
    },
}

/// How the gateway connection rides out a Discord that is briefly unavailable: any
/// failure but a refused token is retried with exponential backoff; a connection that
/// ran for [`StartRetry::healthy_after`] counts as started, so later drops start the
/// count again.
#[derive(Debug, Clone, Copy)]
pub struct StartRetry {
    /// Connections tried in a row before giving up.
    pub attempts: u32,
    /// The wait after the first failure; each next wait doubles.
    pub first_wait: std::time::Duration,
    /// The longest wait.
    pub max_wait: std::time::Duration,
    /// How long a connection must have run to count as a successful start.
    pub healthy_after: std::time::Duration,
}

impl Default for StartRetry {
    /// Eight connections over about two minutes.
    fn default() -> StartRetry {
        StartRetry {
            attempts: 8,
            first_wait: std::time::Duration::from_secs(1),
            max_wait: std::time::Duration::from_secs(30),
            healthy_after: std::time::Duration::from_secs(60),
        }
    }
}

/// Whether serenity's error means Discord refused the token (or the intents the bot
/// asked for): retrying cannot help.
fn is_refusal(error: &serenity::Error) -> bool {
    use serenity::all::{GatewayError, HttpError};
    match error {
        serenity::Error::Gateway(
            GatewayError::InvalidAuthentication
            | GatewayError::InvalidGatewayIntents
            | GatewayError::DisallowedGatewayIntents,
        ) => true,
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            matches!(response.status_code.as_u16(), 401 | 403)
        }
        _ => false,
    }
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
/// `shutdown` resolves, reconnecting per [`StartRetry::default`]. Interactions need no
/// privileged intent, so none is asked for.
///
/// # Errors
/// As [`serve_with_retry`].
pub async fn serve<S: Store, C: Clock>(
    adapter: DiscordAdapter<S, C>,
    token: &str,
    api_url: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DiscordError> {
    serve_with_retry(adapter, token, api_url, shutdown, StartRetry::default()).await
}

/// [`serve`] with its own retries.
///
/// # Errors
/// [`DiscordError::TokenRefused`] at once when Discord refuses the token;
/// [`DiscordError::Unreachable`] when `retry.attempts` connections in a row failed.
pub async fn serve_with_retry<S: Store, C: Clock>(
    adapter: DiscordAdapter<S, C>,
    token: &str,
    api_url: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    retry: StartRetry,
) -> Result<(), DiscordError> {
    let adapter = std::sync::Arc::new(adapter);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let mut failures = 0;
    let mut wait = retry.first_wait;
    loop {
        if *stopped.borrow() {
            return Ok(());
        }
        let mut client = ClientBuilder::new_with_http(http(token, api_url), GatewayIntents::empty())
            .event_handler_arc(std::sync::Arc::clone(&adapter))
            .await
            .map_err(|error| DiscordError::Start(error.to_string()))?;
        let shards = client.shard_manager.clone();
        let mut stop_watch = stopped.clone();
        let stopper = tokio::spawn(async move {
            let _ = stop_watch.wait_for(|stop| *stop).await;
            shards.shutdown_all().await;
        });
        let started = tokio::time::Instant::now();
        let result = client.start().await;
        stopper.abort();
        let error = match result {
            Ok(()) => return Ok(()),
            Err(error) if is_refusal(&error) => return Err(DiscordError::TokenRefused(error.to_string())),
            Err(_) if *stopped.borrow() => return Ok(()),
            Err(error) => error,
        };
        if started.elapsed() >= retry.healthy_after {
            failures = 0;
            wait = retry.first_wait;
        }
        failures += 1;
        if failures >= retry.attempts.max(1) {
            return Err(DiscordError::Unreachable {
                attempts: failures,
                last: error.to_string(),
            });
        }
        tracing::warn!(error = %bot_core::ops::Chain(&error), attempt = failures, wait_ms = wait.as_millis() as u64, "Discord connection failed; retrying");
        let mut stop_watch = stopped.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop_watch.wait_for(|stop| *stop) => return Ok(()),
        }
        wait = (wait * 2).min(retry.max_wait);
    }
}
