//! `parcelbot run`: the live bot. Opens the configured store, builds the providers,
//! starts the engine (polling, reminders, dispatch) and every chat adapter whose token
//! is set, and serves the webhooks when configured; stops cleanly on Ctrl-C or SIGTERM.
//!
//! Tokens come from the environment only (`TELEGRAM_BOT_TOKEN`, `DISCORD_TOKEN`); they
//! are never logged. Both platforms run side by side on one engine when both are set.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bot_core::clock::SystemClock;
use bot_core::conversation::Conversation;
use bot_core::engine::dispatch::DispatchSettings;
use bot_core::engine::notify::Notifier;
use bot_core::engine::{Engine, EngineSettings};
use bot_core::provider::{Providers, RegistrationLedger};
use bot_core::push::{self, PushSecrets};
use bot_core::settings::Settings;
use bot_core::store::SqlStore;
use discord::{DiscordAdapter, DiscordSender};
use telegram::{TelegramAdapter, TelegramError, TelegramSender};
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

/// A base URL from the environment (`TELEGRAM_API_URL`, `DISCORD_API_URL`), if set.
fn api_url(name: &str) -> anyhow::Result<Option<url::Url>> {
    match std::env::var(name) {
        Ok(url) if !url.trim().is_empty() => Ok(Some(
            url.trim()
                .parse::<url::Url>()
                .with_context(|| format!("{name} is not a URL"))?,
        )),
        _ => Ok(None),
    }
}

/// Runs the live bot until Ctrl-C or SIGTERM.
pub fn run(settings: &Settings, tokens: Tokens) -> anyhow::Result<()> {
    if !tokens.any() {
        anyhow::bail!(
            "no chat token is set: set TELEGRAM_BOT_TOKEN or DISCORD_TOKEN (see the README), or run `parcelbot console`"
        );
    }
    let telegram_api = api_url("TELEGRAM_API_URL")?;
    let discord_api = api_url("DISCORD_API_URL")?.map(|url| url.as_str().trim_end_matches('/').to_owned());
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
        // Paid registrations are remembered in the store, shared by every instance.
        let ledger: Arc<dyn RegistrationLedger> = store.clone();
        let providers = Providers::from_settings_with_ledger(&settings.providers, clock, Some(ledger))
            .context("setting up providers")?;
        tracing::info!(providers = ?providers.names(), database = %settings.database.redacted(), "starting");
        let telegram = tokens.telegram.as_ref().map(|token| {
            let bot = telegram::bot(token, telegram_api.clone());
            (bot.clone(), TelegramSender::new(bot))
        });
        let discord_sender = tokens
            .discord
            .as_ref()
            .map(|token| DiscordSender::new(Arc::new(discord::http(token, discord_api.as_deref()))));
        let mut notifiers: Vec<Arc<dyn Notifier>> = Vec::new();
        if let Some((_, sender)) = &telegram {
            notifiers.push(Arc::new(sender.clone()));
        }
        if let Some(sender) = &discord_sender {
            notifiers.push(Arc::new(sender.clone()));
        }
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

        let (stop, stopped) = watch::channel(false);
        let stop = Arc::new(stop);
        {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stopping");
                let _ = stop.send(true);
            });
        }
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
        let push_on = settings.providers.seventeen_track.api_key.is_some()
            || settings.providers.ship24_webhook_secret.is_some();
        let mut routes = push_on.then(|| {
            push::router(
                Arc::clone(&engine),
                PushSecrets {
                    seventeen_track_key: settings.providers.seventeen_track.api_key.clone(),
                    ship24_secret: settings.providers.ship24_webhook_secret.clone(),
                },
            )
        });

        // Telegram: long polling, or a webhook served beside the provider webhooks.
        let (telegram_bot, telegram_sender) = match telegram {
            Some((bot, sender)) => (Some(bot), Some(sender)),
            None => (None, None),
        };
        let telegram_serving: Option<Serving<'_>> = match (&telegram_bot, telegram_sender) {
            (Some(bot), Some(sender)) => {
                let adapter = TelegramAdapter::new(Arc::clone(&conversation), sender);
                match &settings.telegram_webhook {
                    None => {
                        tracing::info!("Telegram: long polling");
                        Some(Box::pin(adapter.serve_polling(until_stopped())))
                    }
                    Some(webhook) => {
                        let url: url::Url =
                            webhook.url.parse().context("telegram.webhook_url is not a URL")?;
                        let (listener, router) = telegram::webhook(
                            bot,
                            url,
                            settings.http_listen,
                            secrecy::ExposeSecret::expose_secret(&webhook.secret),
                        )
                        .await
                        .context("registering the Telegram webhook")?;
                        tracing::info!("Telegram: webhook mode");
                        routes = Some(match routes.take() {
                            Some(push) => router.merge(push),
                            None => router,
                        });
                        Some(Box::pin(adapter.serve(listener, until_stopped())))
                    }
                }
            }
            _ => None,
        };
        let server = match routes {
            Some(routes) => Some(serve_http(settings.http_listen, routes, until_stopped()).await?),
            None => None,
        };
        let discord_serving = tokens.discord.map(|token| {
            tracing::info!("Discord: gateway");
            let adapter = DiscordAdapter::new(Arc::clone(&conversation));
            let shutdown = until_stopped();
            let api = discord_api.clone();
            tokio::spawn(async move { discord::serve(adapter, &token, api.as_deref(), shutdown).await })
        });

        let telegram_done = async {
            match telegram_serving {
                Some(serving) => serving.await.context("Telegram"),
                None => Ok(()),
            }
        };
        let discord_done = async {
            match discord_serving {
                Some(task) => task.await.context("the Discord task")?.context("Discord"),
                None => Ok(()),
            }
        };
        // One platform failing (a refused token) stops the whole bot: it is a
        // configuration error the operator must see.
        let served = tokio::try_join!(telegram_done, discord_done).map(|_| ());
        let _ = stop.send(true);
        stop_http(server).await;
        let _ = engine_task.await;
        served
    })
}

/// The Telegram adapter at work (it borrows the bot for its webhook listener).
type Serving<'a> = Pin<Box<dyn Future<Output = Result<(), TelegramError>> + Send + 'a>>;

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
