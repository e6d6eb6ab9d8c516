//! `parcelbot run`: the live bot. Opens the configured store, builds the providers,
//! starts the engine (polling, reminders, dispatch) and every chat adapter whose token
//! is set, and serves `http.listen` (probes, metrics, webhooks, Discord interactions);
//! stops cleanly on Ctrl-C or SIGTERM, draining what is in flight.
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
use bot_core::ops::{self, server, server::HttpLimits};
use bot_core::provider::{Providers, RegistrationLedger};
use bot_core::push::{self, PushSecrets};
use bot_core::settings::{DiscordMode, Settings};
use bot_core::store::SqlStore;
use discord::{DiscordAdapter, DiscordSender};
use telegram::{TelegramAdapter, TelegramError, TelegramSender};
use tokio::sync::watch;

/// How often the engine looks for due work.
const TICK_EVERY: Duration = Duration::from_secs(15);
/// How often the gauges counted from the store are refreshed.
const COUNT_EVERY: Duration = Duration::from_secs(60);

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
        // The gauges that need a count of a big table, refreshed once a minute.
        let counts_task = tokio::spawn(ops::refresh_counts(
            Arc::clone(engine.store()),
            COUNT_EVERY,
            until_stopped(),
        ));
        let metrics = match ops::telemetry::install() {
            Ok(metrics) => Some(metrics),
            Err(error) => {
                tracing::warn!(error = %ops::Chain(&error), "metrics are off");
                None
            }
        };
        if let Some(metrics) = metrics.clone() {
            let mut shutdown = Box::pin(until_stopped());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tokio::select! {
                        () = &mut shutdown => return,
                        _ = every.tick() => metrics.upkeep(),
                    }
                }
            });
        }
        let mut routes = ops::router(
            ops::EngineReadiness {
                engine: Arc::clone(&engine),
            },
            TICK_EVERY,
            metrics,
        );
        let push_on = settings.providers.seventeen_track.api_key.is_some()
            || settings.providers.ship24_webhook_secret.is_some();
        if push_on {
            routes = routes.merge(push::router(
                Arc::clone(&engine),
                PushSecrets {
                    seventeen_track_key: settings.providers.seventeen_track.api_key.clone(),
                    ship24_secret: settings.providers.ship24_webhook_secret.clone(),
                },
            ));
        }
        let needs_listen = |what: &str| {
            settings
                .http_listen
                .with_context(|| format!("{what} needs the HTTP server, but http.listen is empty"))
        };
        if push_on {
            needs_listen("a provider webhook")?;
        }

        // Discord over HTTP interactions: the route is served whenever a public key is
        // set (also beside the gateway, while a bot moves from one to the other).
        let discord_http = discord_sender.as_ref().map(|sender| Arc::clone(sender.http()));
        if let (Some(http), Some(key)) = (&discord_http, settings.discord.public_key) {
            needs_listen("discord.public_key (HTTP interactions)")?;
            let key = discord::interactions::public_key(&key).context("discord.public_key")?;
            routes = routes.merge(discord::interactions::router(
                Arc::new(DiscordAdapter::new(Arc::clone(&conversation))),
                Arc::clone(http),
                key,
                clock,
            ));
        }

        // Telegram: long polling, or a webhook served beside the other routes.
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
                        needs_listen("telegram.webhook_url (webhook mode)")?;
                        let url: url::Url =
                            webhook.url.parse().context("telegram.webhook_url is not a URL")?;
                        let secret = secrecy::ExposeSecret::expose_secret(&webhook.secret);
                        let me = adapter.prepare().await.context("Telegram")?;
                        telegram::register_webhook(bot, &url, secret)
                            .await
                            .context("registering the Telegram webhook")?;
                        tracing::info!("Telegram: webhook mode");
                        routes = routes.merge(adapter.webhook_routes(url.path(), secret, me));
                        let stopped = until_stopped();
                        Some(Box::pin(async move {
                            stopped.await;
                            Ok(())
                        }))
                    }
                }
            }
            _ => None,
        };
        let server = match settings.http_listen {
            Some(listen) => Some(serve_http(listen, routes, settings.http, until_stopped()).await?),
            None => None,
        };
        let discord_serving = tokens.discord.map(|token| {
            let shutdown = until_stopped();
            match (settings.discord.mode, discord_http) {
                (DiscordMode::Http, Some(http)) => {
                    tracing::info!("Discord: HTTP interactions (no gateway)");
                    tokio::spawn(async move {
                        discord::interactions::register_and_wait(
                            http,
                            discord::StartRetry::default(),
                            shutdown,
                        )
                        .await
                    })
                }
                _ => {
                    tracing::info!("Discord: gateway");
                    let adapter = DiscordAdapter::new(Arc::clone(&conversation));
                    let api = discord_api.clone();
                    tokio::spawn(
                        async move { discord::serve(adapter, &token, api.as_deref(), shutdown).await },
                    )
                }
            }
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
        // Drain: the tick in progress finishes its sends, and the server its requests,
        // within the configured time; then the process goes.
        let drained = tokio::time::timeout(settings.drain, async {
            stop_http(server).await;
            let _ = engine_task.await;
            let _ = counts_task.await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                drain_seconds = settings.drain.as_secs_f64(),
                "stopped with work still in flight (shutdown.drain_seconds)"
            );
        }
        served
    })
}

/// The Telegram adapter at work (it borrows the bot for its webhook listener).
type Serving<'a> = Pin<Box<dyn Future<Output = Result<(), TelegramError>> + Send + 'a>>;

type HttpServer = tokio::task::JoinHandle<std::io::Result<()>>;

/// Serves `routes` (probes, metrics, webhooks, interactions) on `listen`, within
/// `limits`, until `shutdown`.
async fn serve_http(
    listen: std::net::SocketAddr,
    routes: axum::Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<HttpServer> {
    let http = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (http.listen)"))?;
    tracing::info!(%listen, "serving HTTP");
    Ok(tokio::spawn(server::serve(
        http,
        server::harden(routes, &limits),
        limits,
        shutdown,
    )))
}

async fn stop_http(server: Option<HttpServer>) {
    if let Some(server) = server
        && let Ok(Err(error)) = server.await
    {
        tracing::error!(error = %ops::Chain(&error), "HTTP server failed");
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
                tracing::warn!(error = %ops::Chain(&error), "cannot listen for SIGTERM");
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
