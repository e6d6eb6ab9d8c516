//! `parcelbot run`: the live bot. Opens the configured store, builds the providers,
//! starts the engine (polling, reminders, dispatch) and every chat adapter whose token
//! is set, and serves the webhooks when configured; stops cleanly on Ctrl-C or SIGTERM.
//!
//! Tokens come from the environment only (`TELEGRAM_BOT_TOKEN`); they are never logged.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bot_core::clock::SystemClock;
use bot_core::conversation::Conversation;
use bot_core::engine::dispatch::DispatchSettings;
use bot_core::engine::notify::Notifier;
use bot_core::engine::{Engine, EngineSettings};
use bot_core::provider::Providers;
use bot_core::push::{self, PushSecrets};
use bot_core::settings::Settings;
use bot_core::store::SqlStore;
use telegram::{TelegramAdapter, TelegramSender};
use tokio::sync::watch;

/// How often the engine looks for due work.
const TICK_EVERY: Duration = Duration::from_secs(15);

/// The chat tokens found in the environment.
#[derive(Default)]
pub struct Tokens {
    telegram: Option<String>,
    discord: Option<String>,
}

impl Tokens {
    /// Reads `TELEGRAM_BOT_TOKEN` and `DISCORD_TOKEN` (blank counts as unset).
    pub fn from_env() -> Tokens {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        Tokens {
            telegram: read("TELEGRAM_BOT_TOKEN"),
            discord: read("DISCORD_TOKEN"),
        }
    }

    /// Whether any chat platform is configured.
    pub fn any(&self) -> bool {
        self.telegram.is_some() || self.discord.is_some()
    }
}

/// Runs the live bot until Ctrl-C or SIGTERM.
pub fn run(settings: &Settings, tokens: Tokens) -> anyhow::Result<()> {
    if tokens.discord.is_some() {
        if tokens.telegram.is_none() {
            anyhow::bail!(
                "DISCORD_TOKEN is set, but this build has no Discord adapter yet; set TELEGRAM_BOT_TOKEN or use `parcelbot console`"
            );
        }
        tracing::warn!(
            "DISCORD_TOKEN is set, but this build has no Discord adapter yet; serving Telegram only"
        );
    }
    let Some(telegram_token) = tokens.telegram else {
        anyhow::bail!(
            "no chat token is set: set TELEGRAM_BOT_TOKEN (see the README), or run `parcelbot console`"
        );
    };
    let api_url = match std::env::var("TELEGRAM_API_URL") {
        Ok(url) if !url.trim().is_empty() => Some(
            url.trim()
                .parse::<url::Url>()
                .context("TELEGRAM_API_URL is not a URL")?,
        ),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let store = Arc::new(
            SqlStore::connect(&settings.database)
                .await
                .context("opening the database")?,
        );
        let clock = SystemClock;
        let providers =
            Providers::from_settings(&settings.providers, clock).context("setting up providers")?;
        tracing::info!(providers = ?providers.names(), database = %settings.database.redacted(), "starting");
        let bot = telegram::bot(&telegram_token, api_url);
        let sender = TelegramSender::new(bot.clone());
        let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(sender.clone())];
        let engine = Arc::new(Engine::new(
            store,
            providers,
            clock,
            notifiers,
            EngineSettings {
                owner: instance_name(),
                reminder_days: settings.reminder_days.clone(),
                dispatch: DispatchSettings {
                    max_attempts: settings.max_send_attempts,
                    ..DispatchSettings::default()
                },
                ..EngineSettings::default()
            },
        ));
        let conversation = Arc::new(Conversation::new(Arc::clone(&engine), settings.limits));
        let adapter = TelegramAdapter::new(conversation, sender);

        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stopping");
            let _ = stop.send(true);
        });
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };

        let engine_task = {
            let engine = Arc::clone(&engine);
            let shutdown = until_stopped();
            tokio::spawn(async move { engine.run(TICK_EVERY, shutdown).await })
        };
        let push = push::router(
            Arc::clone(&engine),
            PushSecrets {
                seventeen_track_key: settings.providers.seventeen_track.api_key.clone(),
                ship24_secret: settings.providers.ship24_webhook_secret.clone(),
            },
        );
        let push_on = settings.providers.seventeen_track.api_key.is_some()
            || settings.providers.ship24_webhook_secret.is_some();
        let served = match &settings.telegram_webhook {
            None => {
                tracing::info!("Telegram: long polling");
                let server = if push_on {
                    Some(serve_http(settings.http_listen, push, until_stopped()).await?)
                } else {
                    None
                };
                let listener = telegram::update_listeners::polling_default(bot).await;
                let served = adapter.serve(listener, until_stopped()).await;
                stop_http(server).await;
                served
            }
            Some(webhook) => {
                let url: url::Url = webhook.url.parse().context("telegram.webhook_url is not a URL")?;
                let (listener, router) = telegram::webhook(
                    &bot,
                    url,
                    settings.http_listen,
                    secrecy::ExposeSecret::expose_secret(&webhook.secret),
                )
                .await
                .context("registering the Telegram webhook")?;
                tracing::info!("Telegram: webhook mode");
                let server = serve_http(settings.http_listen, router.merge(push), until_stopped()).await?;
                let served = adapter.serve(listener, until_stopped()).await;
                stop_http(Some(server)).await;
                served
            }
        };
        let _ = engine_task.await;
        served.context("Telegram")
    })
}

type HttpServer = tokio::task::JoinHandle<std::io::Result<()>>;

/// Serves `routes` (webhooks) on `listen` until `shutdown`.
async fn serve_http(
    listen: std::net::SocketAddr,
    routes: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<HttpServer> {
    let http = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (http.listen)"))?;
    tracing::info!(%listen, "serving webhooks");
    Ok(tokio::spawn(
        axum::serve(http, routes)
            .with_graceful_shutdown(shutdown)
            .into_future(),
    ))
}

async fn stop_http(server: Option<HttpServer>) {
    if let Some(server) = server
        && let Ok(Err(error)) = server.await
    {
        tracing::error!(%error, "webhook server failed");
    }
}

/// A name for this instance in leases: host and process id.
fn instance_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    format!("{host}-{}", std::process::id())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
