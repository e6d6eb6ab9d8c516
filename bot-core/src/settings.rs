//! Typed configuration: defaults from `config/default.toml` (embedded at build time, so
//! the binary runs from any directory), an optional file named by `PARCELBOT_CONFIG`,
//! then environment variables `PARCELBOT__<KEY>` with `__` between levels.
//!
//! The raw, serde-shaped [`RawSettings`] is turned into the validated [`Settings`]; any
//! problem becomes one [`SettingsError`] that names the key.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The defaults, documented key by key.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Keys whose environment value is a comma-separated list.
/// The longest Cainiao per-number interval accepted, in minutes (a week).
const MAX_PER_NUMBER_INTERVAL_MINUTES: i64 = 7 * 24 * 60;

const LIST_KEYS: &[&str] = &["providers.enabled", "engine.reminder_days"];

/// Configuration as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// Directory for the bot's own files.
    pub data_dir: String,
    /// Database section.
    pub database: RawDatabase,
    /// Tracking providers.
    pub providers: RawProviders,
    /// The engine.
    pub engine: RawEngine,
    /// Limits per chat.
    pub limits: RawLimits,
    /// The HTTP server (webhooks).
    pub http: RawHttp,
    /// Telegram.
    pub telegram: RawTelegram,
    /// Discord.
    pub discord: RawDiscord,
    /// Logging.
    pub log: RawLog,
    /// Stopping.
    pub shutdown: RawShutdown,
}

/// The `[discord]` section as written (the token comes from `DISCORD_TOKEN`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscord {
    /// `gateway` or `http`.
    pub mode: String,
    /// The application's public key (hex), for HTTP interactions.
    pub public_key: String,
}

/// The `[log]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `text` or `json`.
    pub format: String,
}

/// The `[shutdown]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShutdown {
    /// Seconds a stop waits for sends and requests in flight.
    pub drain_seconds: f64,
}

/// The `[http]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Address the HTTP server listens on; empty for none.
    pub listen: String,
    /// Seconds allowed for a request's head.
    pub header_timeout_seconds: f64,
    /// Seconds allowed for reading a request's body.
    pub body_timeout_seconds: f64,
    /// Seconds allowed for answering a request.
    pub request_timeout_seconds: f64,
    /// Connections open at once.
    pub max_connections: usize,
    /// Requests handled at once.
    pub max_in_flight: usize,
    /// Largest request body, in KiB.
    pub max_body_kib: usize,
}

/// The `[telegram]` section as written (the token comes from `TELEGRAM_BOT_TOKEN`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelegram {
    /// Public HTTPS URL for webhook mode; empty for long polling.
    pub webhook_url: String,
    /// Secret Telegram repeats in every webhook request.
    pub webhook_secret: SecretString,
}

/// The `[engine]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    /// Days before the buyer-protection deadline to remind at.
    pub reminder_days: Vec<i64>,
    /// Attempts before a message is given up on.
    pub max_send_attempts: i64,
}

/// The `[limits]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Parcels followed at once per chat.
    pub active_parcels: usize,
    /// New numbers per chat per 24 hours.
    pub new_numbers_per_day: i64,
    /// Commands per chat per minute.
    pub commands_per_minute: usize,
}

/// The `[providers]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProviders {
    /// Provider names in priority order; empty for automatic choice.
    pub enabled: Vec<String>,
    /// Seconds allowed for one request.
    pub timeout_seconds: f64,
    /// Retries of a transient failure.
    pub max_retries: u32,
    /// Cainiao.
    pub cainiao: RawCainiao,
    /// 17TRACK.
    pub seventeen_track: RawKeyedProvider,
    /// Ship24.
    pub ship24: RawKeyedProvider,
    /// The secret Ship24 sends with its webhooks (`Authorization: Bearer …`).
    pub ship24_webhook_secret: SecretString,
}

/// The `[providers.cainiao]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCainiao {
    /// Scheme and host.
    pub base_url: String,
    /// Numbers per request.
    pub batch_size: usize,
    /// Requests per second at most.
    pub requests_per_second: f64,
    /// Minutes between two requests about one number.
    pub per_number_interval_minutes: i64,
}

/// A keyed provider's section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyedProvider {
    /// Scheme and host.
    pub base_url: String,
    /// The account key; empty when not configured.
    pub api_key: SecretString,
    /// Numbers per batch.
    pub batch_size: usize,
    /// Requests per second at most.
    pub requests_per_second: f64,
}

/// The `[database]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// Database URL; empty for the embedded SQLite file.
    pub url: String,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Directory for the bot's own files.
    pub data_dir: PathBuf,
    /// Where the data lives.
    pub database: DatabaseUrl,
    /// Tracking providers.
    pub providers: ProviderSettings,
    /// Reminder offsets in days before the protection deadline, largest first.
    pub reminder_days: Vec<i64>,
    /// Attempts before a message is dead-lettered.
    pub max_send_attempts: i64,
    /// Limits per chat.
    pub limits: crate::conversation::ChatLimits,
    /// Address of the HTTP server (probes, metrics, webhooks, Discord interactions);
    /// `None` when `http.listen` is empty.
    pub http_listen: Option<std::net::SocketAddr>,
    /// The HTTP server's bounds.
    pub http: crate::ops::server::HttpLimits,
    /// Telegram's webhook mode, when configured (long polling otherwise).
    pub telegram_webhook: Option<TelegramWebhook>,
    /// How Discord reaches the bot.
    pub discord: DiscordSettings,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// How long a stop waits for sends and requests in flight.
    pub drain: Duration,
}

/// How Discord reaches the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscordSettings {
    /// Gateway connection or HTTP interactions only.
    pub mode: DiscordMode,
    /// The application's Ed25519 public key (32 bytes): with it, `/discord/interactions`
    /// is served; required in [`DiscordMode::Http`].
    pub public_key: Option<[u8; 32]>,
}

/// Whether the bot opens a gateway connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscordMode {
    /// One gateway connection per instance (one instance at a time).
    Gateway,
    /// No gateway: Discord POSTs each interaction, signed, to `/discord/interactions`,
    /// so any number of instances can serve one URL.
    Http,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for a log collector).
    Json,
}

/// Telegram's webhook mode: where Telegram posts updates and the secret it repeats.
#[derive(Debug, Clone)]
pub struct TelegramWebhook {
    /// The public HTTPS URL (Telegram posts here; a proxy forwards to `http.listen`).
    pub url: String,
    /// Checked on every request (`X-Telegram-Bot-Api-Secret-Token`).
    pub secret: SecretString,
}

/// A provider the configuration can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderName {
    /// Cainiao's keyless global endpoint.
    Cainiao,
    /// 17TRACK (needs a key).
    SeventeenTrack,
    /// Ship24 (needs a key).
    Ship24,
    /// The simulated carrier.
    Sim,
}

impl ProviderName {
    /// Every name, as written in the configuration.
    pub const ALL: [(&'static str, ProviderName); 4] = [
        ("cainiao", ProviderName::Cainiao),
        ("seventeen_track", ProviderName::SeventeenTrack),
        ("ship24", ProviderName::Ship24),
        ("sim", ProviderName::Sim),
    ];

    /// Reads a configured name (case and surrounding blanks ignored; `17track` is
    /// accepted for `seventeen_track`).
    pub fn parse(name: &str) -> Option<ProviderName> {
        let name = name.trim().to_ascii_lowercase();
        let name = if name == "17track" {
            "seventeen_track".to_owned()
        } else {
            name
        };
        ProviderName::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, provider)| *provider)
    }
}

/// Validated provider configuration.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The providers listed in `providers.enabled`, in order; empty for the automatic
    /// choice (see [`ProviderSettings::active`]).
    pub enabled: Vec<ProviderName>,
    /// Time allowed for one request.
    pub timeout: Duration,
    /// Retries of a transient failure.
    pub max_retries: u32,
    /// Cainiao.
    pub cainiao: CainiaoSettings,
    /// 17TRACK.
    pub seventeen_track: KeyedProviderSettings,
    /// Ship24.
    pub ship24: KeyedProviderSettings,
    /// The secret Ship24's webhooks must carry; `None`: Ship24 webhooks are refused.
    pub ship24_webhook_secret: Option<SecretString>,
}

impl ProviderSettings {
    /// The providers to build, in priority order: the enabled list when one is given;
    /// otherwise every keyed aggregator that has a key, and the simulated carrier when
    /// none has. Cainiao's unofficial endpoint is only used when listed.
    pub fn active(&self) -> Vec<ProviderName> {
        if !self.enabled.is_empty() {
            return self.enabled.clone();
        }
        let mut active = Vec::new();
        if self.seventeen_track.api_key.is_some() {
            active.push(ProviderName::SeventeenTrack);
        }
        if self.ship24.api_key.is_some() {
            active.push(ProviderName::Ship24);
        }
        if active.is_empty() {
            active.push(ProviderName::Sim);
        }
        active
    }
}

/// Validated Cainiao configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CainiaoSettings {
    /// Scheme and host (no trailing slash).
    pub base_url: String,
    /// Numbers per request.
    pub batch_size: usize,
    /// Requests per second at most.
    pub requests_per_second: f64,
    /// A number is asked at most once per this interval.
    pub per_number_interval: chrono::Duration,
}

/// Validated configuration of a keyed provider.
#[derive(Debug, Clone)]
pub struct KeyedProviderSettings {
    /// Scheme and host (no trailing slash).
    pub base_url: String,
    /// The account key; `None` when not configured (the provider is then not used).
    pub api_key: Option<SecretString>,
    /// Numbers per batch.
    pub batch_size: usize,
    /// Requests per second at most.
    pub requests_per_second: f64,
}

/// A database location the bot can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (`sqlite://path`).
    Sqlite(String),
    /// A PostgreSQL server (`postgres://…`); the URL may hold a password, so it is never
    /// printed whole.
    Postgres(String),
}

impl DatabaseUrl {
    /// The URL with any password replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(url) => url.clone(),
            DatabaseUrl::Postgres(url) => redact_password(url),
        }
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file, an environment variable or a value could not be read as configured.
    #[error("invalid configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value was read but makes no sense.
    #[error("invalid configuration: key `{key}`: {problem}")]
    Invalid {
        /// The key at fault, as dotted path.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl Settings {
    /// Loads the configuration from the embedded defaults, `PARCELBOT_CONFIG` and the
    /// process environment.
    ///
    /// # Errors
    /// [`SettingsError`] names the key at fault.
    pub fn load() -> Result<Settings, SettingsError> {
        Settings::load_from(
            std::env::var("PARCELBOT_CONFIG").ok().as_deref(),
            std::env::vars(),
        )
    }

    /// Loads the configuration from the embedded defaults, an optional file and the given
    /// environment (tests pass their own).
    ///
    /// # Errors
    /// [`SettingsError`] names the key at fault.
    pub fn load_from(
        file: Option<&str>,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let environment: config::Map<String, String> = environment
            .into_iter()
            .filter(|(name, _)| name.starts_with("PARCELBOT__"))
            .collect();
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(config::File::with_name(path).required(true));
        }
        let mut environment_source = config::Environment::with_prefix("PARCELBOT")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .try_parsing(true)
            .source(Some(environment));
        for key in LIST_KEYS {
            environment_source = environment_source.with_list_parse_key(key);
        }
        let raw: RawSettings = builder
            .add_source(environment_source)
            .build()?
            .try_deserialize()?;
        Settings::validate(raw)
    }

    fn validate(raw: RawSettings) -> Result<Settings, SettingsError> {
        if raw.data_dir.trim().is_empty() {
            return Err(SettingsError::Invalid {
                key: "data_dir",
                problem: "must name a directory".to_owned(),
            });
        }
        let data_dir = PathBuf::from(raw.data_dir.trim());
        let url = raw.database.url.trim();
        let database = if url.is_empty() {
            DatabaseUrl::Sqlite(format!("sqlite://{}", data_dir.join("parcelbot.db").display()))
        } else if url.starts_with("sqlite:") {
            DatabaseUrl::Sqlite(url.to_owned())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DatabaseUrl::Postgres(url.to_owned())
        } else {
            return Err(SettingsError::Invalid {
                key: "database.url",
                problem: "must start with sqlite: or postgres:// (or be empty for the embedded SQLite file)"
                    .to_owned(),
            });
        };
        let providers = validate_providers(raw.providers)?;
        let mut reminder_days = raw.engine.reminder_days;
        if reminder_days.iter().any(|d| !(1..=60).contains(d)) {
            return Err(invalid(
                "engine.reminder_days",
                "each must be between 1 and 60 days",
            ));
        }
        reminder_days.sort_unstable_by(|a, b| b.cmp(a));
        reminder_days.dedup();
        if !(1..=50).contains(&raw.engine.max_send_attempts) {
            return Err(invalid("engine.max_send_attempts", "must be between 1 and 50"));
        }
        let limits = raw.limits;
        if limits.active_parcels == 0 || limits.active_parcels > 10_000 {
            return Err(invalid("limits.active_parcels", "must be between 1 and 10000"));
        }
        if !(1..=10_000).contains(&limits.new_numbers_per_day) {
            return Err(invalid(
                "limits.new_numbers_per_day",
                "must be between 1 and 10000",
            ));
        }
        if limits.commands_per_minute == 0 || limits.commands_per_minute > 1000 {
            return Err(invalid(
                "limits.commands_per_minute",
                "must be between 1 and 1000",
            ));
        }
        let listen = raw.http.listen.trim();
        let http_listen = if listen.is_empty() {
            None
        } else {
            Some(listen.parse().map_err(|_| {
                invalid(
                    "http.listen",
                    "must be an address and port, e.g. 0.0.0.0:8080, or empty",
                )
            })?)
        };
        let http = http_limits(&raw.http, &raw.shutdown)?;
        let telegram_webhook = telegram_webhook(raw.telegram)?;
        let discord = discord_settings(&raw.discord)?;
        let log_format = match raw.log.format.trim().to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(invalid("log.format", "must be text or json")),
        };
        Ok(Settings {
            http_listen,
            http,
            telegram_webhook,
            discord,
            log_format,
            drain: http.drain,
            data_dir,
            database,
            providers,
            reminder_days,
            max_send_attempts: raw.engine.max_send_attempts,
            limits: crate::conversation::ChatLimits {
                active_parcels: limits.active_parcels,
                new_numbers_per_day: limits.new_numbers_per_day,
                commands_per_minute: limits.commands_per_minute,
            },
        })
    }
}

/// Seconds as a duration, within `range`.
fn seconds(
    key: &'static str,
    value: f64,
    range: std::ops::RangeInclusive<f64>,
) -> Result<Duration, SettingsError> {
    if !range.contains(&value) {
        return Err(invalid(
            key,
            &format!("must be between {} and {} seconds", range.start(), range.end()),
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

fn http_limits(
    raw: &RawHttp,
    shutdown: &RawShutdown,
) -> Result<crate::ops::server::HttpLimits, SettingsError> {
    if !(1..=100_000).contains(&raw.max_connections) {
        return Err(invalid("http.max_connections", "must be between 1 and 100000"));
    }
    if !(1..=100_000).contains(&raw.max_in_flight) {
        return Err(invalid("http.max_in_flight", "must be between 1 and 100000"));
    }
    if !(1..=1024 * 1024).contains(&raw.max_body_kib) {
        return Err(invalid("http.max_body_kib", "must be between 1 and 1048576"));
    }
    Ok(crate::ops::server::HttpLimits {
        header_timeout: seconds(
            "http.header_timeout_seconds",
            raw.header_timeout_seconds,
            0.1..=600.0,
        )?,
        body_timeout: seconds("http.body_timeout_seconds", raw.body_timeout_seconds, 0.1..=600.0)?,
        request_timeout: seconds(
            "http.request_timeout_seconds",
            raw.request_timeout_seconds,
            0.1..=600.0,
        )?,
        max_connections: raw.max_connections,
        max_in_flight: raw.max_in_flight,
        max_body_bytes: raw.max_body_kib * 1024,
        drain: seconds("shutdown.drain_seconds", shutdown.drain_seconds, 0.0..=600.0)?,
    })
}

fn discord_settings(raw: &RawDiscord) -> Result<DiscordSettings, SettingsError> {
    let mode = match raw.mode.trim().to_ascii_lowercase().as_str() {
        "gateway" => DiscordMode::Gateway,
        "http" => DiscordMode::Http,
        _ => return Err(invalid("discord.mode", "must be gateway or http")),
    };
    let key = raw.public_key.trim();
    let public_key = if key.is_empty() {
        None
    } else {
        let mut bytes = [0u8; 32];
        hex_into(key, &mut bytes).ok_or_else(|| {
            invalid(
                "discord.public_key",
                "must be the application's public key from the developer portal (64 hex digits)",
            )
        })?;
        Some(bytes)
    };
    if mode == DiscordMode::Http && public_key.is_none() {
        return Err(invalid(
            "discord.public_key",
            "must be set when discord.mode is http (the developer portal's public key)",
        ));
    }
    Ok(DiscordSettings { mode, public_key })
}

/// Reads hex digits into `out` (exactly two per byte).
fn hex_into(text: &str, out: &mut [u8]) -> Option<()> {
    if text.len() != out.len() * 2 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        let digits = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(())
}

fn telegram_webhook(raw: RawTelegram) -> Result<Option<TelegramWebhook>, SettingsError> {
    let url = raw.webhook_url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let url = base_url("telegram.webhook_url", url)?;
    let Some(secret) = key(raw.webhook_secret) else {
        return Err(invalid(
            "telegram.webhook_secret",
            "must be set when telegram.webhook_url is (1-256 of A-Z a-z 0-9 _ -)",
        ));
    };
    let text = secret.expose_secret();
    if text.len() > 256
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "telegram.webhook_secret",
            "must be 1-256 of A-Z a-z 0-9 _ - (Telegram's rule)",
        ));
    }
    Ok(Some(TelegramWebhook { url, secret }))
}

fn invalid(key: &'static str, problem: &str) -> SettingsError {
    SettingsError::Invalid {
        key,
        problem: problem.to_owned(),
    }
}

fn validate_providers(raw: RawProviders) -> Result<ProviderSettings, SettingsError> {
    let mut enabled = Vec::new();
    for name in raw.enabled.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let provider = ProviderName::parse(name).ok_or_else(|| SettingsError::Invalid {
            key: "providers.enabled",
            problem: format!("unknown provider `{name}` (known: cainiao, seventeen_track, ship24, sim)"),
        })?;
        if !enabled.contains(&provider) {
            enabled.push(provider);
        }
    }
    if !(raw.timeout_seconds.is_finite() && raw.timeout_seconds > 0.0 && raw.timeout_seconds <= 300.0) {
        return Err(invalid(
            "providers.timeout_seconds",
            "must be between 0 and 300 seconds",
        ));
    }
    if raw.max_retries > 10 {
        return Err(invalid("providers.max_retries", "must be at most 10"));
    }
    let cainiao = CainiaoSettings {
        base_url: base_url("providers.cainiao.base_url", &raw.cainiao.base_url)?,
        batch_size: batch("providers.cainiao.batch_size", raw.cainiao.batch_size, 50)?,
        requests_per_second: rate(
            "providers.cainiao.requests_per_second",
            raw.cainiao.requests_per_second,
        )?,
        per_number_interval: match chrono::Duration::try_minutes(raw.cainiao.per_number_interval_minutes) {
            Some(interval)
                if (0..=MAX_PER_NUMBER_INTERVAL_MINUTES)
                    .contains(&raw.cainiao.per_number_interval_minutes) =>
            {
                interval
            }
            _ => {
                return Err(invalid(
                    "providers.cainiao.per_number_interval_minutes",
                    "must be between 0 and 10080 (a week)",
                ));
            }
        },
    };
    let seventeen_track = KeyedProviderSettings {
        base_url: base_url(
            "providers.seventeen_track.base_url",
            &raw.seventeen_track.base_url,
        )?,
        api_key: key(raw.seventeen_track.api_key),
        batch_size: batch(
            "providers.seventeen_track.batch_size",
            raw.seventeen_track.batch_size,
            40,
        )?,
        requests_per_second: rate(
            "providers.seventeen_track.requests_per_second",
            raw.seventeen_track.requests_per_second,
        )?,
    };
    let ship24 = KeyedProviderSettings {
        base_url: base_url("providers.ship24.base_url", &raw.ship24.base_url)?,
        api_key: key(raw.ship24.api_key),
        batch_size: batch("providers.ship24.batch_size", raw.ship24.batch_size, 100)?,
        requests_per_second: rate(
            "providers.ship24.requests_per_second",
            raw.ship24.requests_per_second,
        )?,
    };
    Ok(ProviderSettings {
        enabled,
        timeout: Duration::from_secs_f64(raw.timeout_seconds),
        max_retries: raw.max_retries,
        cainiao,
        seventeen_track,
        ship24,
        ship24_webhook_secret: key(raw.ship24_webhook_secret),
    })
}

fn base_url(key: &'static str, value: &str) -> Result<String, SettingsError> {
    let value = value.trim().trim_end_matches('/');
    let host = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(invalid(key, "must be an http:// or https:// URL"));
    }
    Ok(value.to_owned())
}

fn batch(key: &'static str, value: usize, max: usize) -> Result<usize, SettingsError> {
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(SettingsError::Invalid {
            key,
            problem: format!("must be between 1 and {max}"),
        })
    }
}

fn rate(key: &'static str, value: f64) -> Result<f64, SettingsError> {
    if value.is_finite() && value > 0.0 && value <= 1000.0 {
        Ok(value)
    } else {
        Err(invalid(key, "must be a number of requests per second above 0"))
    }
}

fn key(value: SecretString) -> Option<SecretString> {
    let trimmed = value.expose_secret().trim();
    (!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_owned()))
}

#[cfg(test)]
mod tests;
