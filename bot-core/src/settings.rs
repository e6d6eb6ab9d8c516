//! Typed configuration: defaults from `config/default.toml` (embedded at build time, so
//! the binary runs from any directory), an optional file named by `PARCELBOT_CONFIG`,
//! then environment variables `PARCELBOT__<KEY>` with `__` between levels.
//!
//! The raw, serde-shaped [`RawSettings`] is turned into the validated [`Settings`]; any
//! problem becomes one [`SettingsError`] that names the key.

use std::path::PathBuf;

use serde::Deserialize;

/// The defaults, documented key by key.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &["providers.enabled"];

/// Configuration as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// Directory for the bot's own files.
    pub data_dir: String,
    /// Database section.
    pub database: RawDatabase,
}

/// The `[database]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// Database URL; empty for the embedded SQLite file.
    pub url: String,
}

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Directory for the bot's own files.
    pub data_dir: PathBuf,
    /// Where the data lives.
    pub database: DatabaseUrl,
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
        Ok(Settings { data_dir, database })
    }
}

#[cfg(test)]
mod tests;
