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
