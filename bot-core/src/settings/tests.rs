//! Tests of configuration loading, defaults and environment overrides.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_put_sqlite_in_the_data_dir() {
    let settings = Settings::load_from(None, env(&[])).expect("defaults load");
    assert_eq!(settings.data_dir, PathBuf::from("./data"));
    assert_eq!(
        settings.database,
        DatabaseUrl::Sqlite("sqlite://./data/parcelbot.db".to_owned())
    );
}

#[test]
fn environment_overrides_nested_keys() {
    let settings = Settings::load_from(
        None,
        env(&[
            ("PARCELBOT__DATA_DIR", "/tmp/pb"),
            ("PARCELBOT__DATABASE__URL", "postgres://bot:secret@db/parcels"),
            ("UNRELATED", "x"),
        ]),
    )
    .expect("loads");
    assert_eq!(settings.data_dir, PathBuf::from("/tmp/pb"));
    assert_eq!(settings.database.redacted(), "postgres://bot:***@db/parcels");
}

#[test]
fn a_bad_value_names_its_key() {
    let error = Settings::load_from(None, env(&[("PARCELBOT__DATABASE__URL", "mysql://x")]))
        .expect_err("mysql is not supported");
    assert!(error.to_string().contains("database.url"), "{error}");
    let error = Settings::load_from(None, env(&[("PARCELBOT__NO_SUCH_KEY", "1")])).expect_err("unknown key");
    assert!(error.to_string().contains("no_such_key"), "{error}");
}

#[test]
fn providers_default_to_the_simulated_carrier() {
    let settings = Settings::load_from(None, env(&[])).expect("defaults load");
    let providers = &settings.providers;
    assert!(providers.enabled.is_empty());
    assert_eq!(providers.active(), vec![ProviderName::Sim]);
    assert_eq!(providers.cainiao.base_url, "https://global.cainiao.com");
    assert_eq!(providers.cainiao.batch_size, 10);
    assert_eq!(
        providers.cainiao.per_number_interval,
        chrono::Duration::minutes(15)
    );
    assert_eq!(providers.seventeen_track.base_url, "https://api.17track.net");
    assert_eq!(providers.seventeen_track.batch_size, 40);
    assert_eq!(providers.ship24.base_url, "https://api.ship24.com");
    assert!(providers.seventeen_track.api_key.is_none() && providers.ship24.api_key.is_none());
}

#[test]
fn providers_are_configured_from_the_environment() {
    let settings = Settings::load_from(
        None,
        env(&[
            ("PARCELBOT__PROVIDERS__ENABLED", "cainiao, ship24,sim"),
            ("PARCELBOT__PROVIDERS__CAINIAO__BASE_URL", "http://127.0.0.1:9/"),
            ("PARCELBOT__PROVIDERS__SHIP24__API_KEY", "12345"),
            (
                "PARCELBOT__PROVIDERS__SEVENTEEN_TRACK__BASE_URL",
                "http://127.0.0.1:10",
            ),
        ]),
    )
    .expect("loads");
    let providers = &settings.providers;
    assert_eq!(
        providers.active(),
        vec![ProviderName::Cainiao, ProviderName::Ship24, ProviderName::Sim]
    );
    assert_eq!(providers.cainiao.base_url, "http://127.0.0.1:9");
    assert_eq!(providers.seventeen_track.base_url, "http://127.0.0.1:10");
    assert_eq!(
        providers
            .ship24
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().to_owned()),
        Some("12345".to_owned()),
        "a numeric key stays a string"
    );
    assert!(
        !format!("{settings:?}").contains("12345"),
        "keys never reach Debug output"
    );

    let automatic =
        Settings::load_from(None, env(&[("PARCELBOT__PROVIDERS__SHIP24__API_KEY", "k")])).expect("loads");
    assert_eq!(
        automatic.providers.active(),
        vec![ProviderName::Ship24],
        "a key enables its provider"
    );
}

#[test]
fn bad_provider_settings_name_their_key() {
    for (name, value, key) in [
        (
            "PARCELBOT__PROVIDERS__ENABLED",
            "cainiao,fedex",
            "providers.enabled",
        ),
        (
            "PARCELBOT__PROVIDERS__CAINIAO__BASE_URL",
            "global.cainiao.com",
            "providers.cainiao.base_url",
        ),
        (
            "PARCELBOT__PROVIDERS__SEVENTEEN_TRACK__BATCH_SIZE",
            "41",
            "providers.seventeen_track.batch_size",
        ),
        (
            "PARCELBOT__PROVIDERS__TIMEOUT_SECONDS",
            "0",
            "providers.timeout_seconds",
        ),
    ] {
        let error = Settings::load_from(None, env(&[(name, value)])).expect_err(name);
        assert!(error.to_string().contains(key), "{name}={value}: {error}");
    }
}

#[test]
fn telegram_webhook_mode_needs_a_valid_secret() {
    let polling = Settings::load_from(None, env(&[])).expect("loads");
    assert!(polling.telegram_webhook.is_none(), "long polling by default");
    let webhook = Settings::load_from(
        None,
        env(&[
            ("PARCELBOT__TELEGRAM__WEBHOOK_URL", "https://bot.example.org/tg"),
            ("PARCELBOT__TELEGRAM__WEBHOOK_SECRET", "abc_DEF-123"),
            ("PARCELBOT__HTTP__LISTEN", "127.0.0.1:8443"),
        ]),
    )
    .expect("loads");
    let configured = webhook.telegram_webhook.expect("webhook mode");
    assert_eq!(configured.url, "https://bot.example.org/tg");
    assert_eq!(webhook.http_listen.map(|listen| listen.port()), Some(8443));
    assert!(
        !format!("{configured:?}").contains("abc_DEF-123"),
        "the secret stays out of logs"
    );
    for (pairs, key) in [
        (
            vec![("PARCELBOT__TELEGRAM__WEBHOOK_URL", "https://bot.example.org/tg")],
            "telegram.webhook_secret",
        ),
        (
            vec![
                ("PARCELBOT__TELEGRAM__WEBHOOK_URL", "https://bot.example.org/tg"),
                ("PARCELBOT__TELEGRAM__WEBHOOK_SECRET", "has spaces!"),
            ],
            "telegram.webhook_secret",
        ),
        (
            vec![("PARCELBOT__TELEGRAM__WEBHOOK_URL", "bot.example.org")],
            "telegram.webhook_url",
        ),
        (vec![("PARCELBOT__HTTP__LISTEN", "everywhere")], "http.listen"),
        (
            vec![("PARCELBOT__HTTP__MAX_CONNECTIONS", "0")],
            "http.max_connections",
        ),
        (
            vec![("PARCELBOT__HTTP__HEADER_TIMEOUT_SECONDS", "0")],
            "http.header_timeout_seconds",
        ),
        (vec![("PARCELBOT__LOG__FORMAT", "xml")], "log.format"),
        (
            vec![("PARCELBOT__DISCORD__MODE", "carrier-pigeon")],
            "discord.mode",
        ),
        (vec![("PARCELBOT__DISCORD__MODE", "http")], "discord.public_key"),
        (
            vec![("PARCELBOT__DISCORD__PUBLIC_KEY", "not-hex")],
            "discord.public_key",
        ),
    ] {
        let error = Settings::load_from(None, env(&pairs)).expect_err(key);
        assert!(error.to_string().contains(key), "{pairs:?}: {error}");
    }
}

#[test]
fn operations_settings_have_defaults_and_read_the_environment() {
    let defaults = Settings::load_from(None, env(&[])).expect("loads");
    assert_eq!(defaults.http_listen.map(|listen| listen.port()), Some(8080));
    assert_eq!(defaults.http, crate::ops::server::HttpLimits::default());
    assert_eq!(defaults.log_format, LogFormat::Text);
    assert_eq!(defaults.discord.mode, DiscordMode::Gateway);
    assert_eq!(defaults.discord.public_key, None);
    let key = "3f".repeat(32);
    let set = Settings::load_from(
        None,
        env(&[
            ("PARCELBOT__HTTP__LISTEN", ""),
            ("PARCELBOT__HTTP__MAX_BODY_KIB", "64"),
            ("PARCELBOT__HTTP__HEADER_TIMEOUT_SECONDS", "1.5"),
            ("PARCELBOT__LOG__FORMAT", "JSON"),
            ("PARCELBOT__DISCORD__MODE", "http"),
            ("PARCELBOT__DISCORD__PUBLIC_KEY", key.as_str()),
            ("PARCELBOT__SHUTDOWN__DRAIN_SECONDS", "3"),
        ]),
    )
    .expect("loads");
    assert_eq!(set.http_listen, None, "empty: no server");
    assert_eq!(set.http.max_body_bytes, 64 * 1024);
    assert_eq!(set.http.header_timeout, Duration::from_millis(1500));
    assert_eq!(set.log_format, LogFormat::Json);
    assert_eq!(set.discord.mode, DiscordMode::Http);
    assert_eq!(set.discord.public_key, Some([0x3f; 32]));
    assert_eq!(set.drain, Duration::from_secs(3));
}
