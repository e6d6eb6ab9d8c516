//! Tests of 17TRACK's envelope and code table on its documented replies.

use super::{Entry, ProviderError, Scope, code_error, parse_envelope, rejection};

#[test]
fn the_documented_register_example_reads_as_documented() {
    let body: serde_json::Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/seventeen_track/register_documented.json"
    ))
    .expect("JSON");
    let entries = parse_envelope(&body).expect("a success envelope");
    assert!(matches!(entries.get("RR123456789CN"), Some(Entry::Accepted(_))));
    let Some(Entry::Rejected { code, message }) = entries.get("1234") else {
        panic!("1234 is rejected");
    };
    assert_eq!(*code, -18_010_012);
    assert!(
        matches!(rejection(*code, message), ProviderError::InvalidNumber(why) if why.contains("format of '1234'")),
        "-18010012 is an invalid format, not a quota"
    );
}

#[track_caller]
fn check(code: i64, scope: Scope, expect: Option<ProviderError>) {
    let got = code_error(code, "", scope);
    match (&got, &expect) {
        (Some(got), Some(expect)) => assert_eq!(got.kind(), expect.kind(), "{code}"),
        _ => assert_eq!(got, expect, "{code}"),
    }
}

#[test]
fn every_code_relied_on_maps_as_the_table_says() {
    let transient = Some(ProviderError::Transient(String::new()));
    let refused = Some(ProviderError::Refused(String::new()));
    let invalid = Some(ProviderError::InvalidNumber(String::new()));
    for code in [-18_010_001, -18_010_002, -18_010_004, -18_010_005] {
        check(code, Scope::Call, Some(ProviderError::Unauthorised));
        check(code, Scope::Number, Some(ProviderError::Unauthorised));
    }
    check(-18_010_003, Scope::Call, transient.clone());
    for code in [-18_010_011, -18_010_012, -18_010_013] {
        check(code, Scope::Call, refused.clone());
        check(code, Scope::Number, invalid.clone());
    }
    for code in [
        -18_010_010,
        -18_010_014,
        -18_010_015,
        -18_010_018,
        -18_010_019,
        -18_010_020,
    ] {
        check(code, Scope::Call, refused.clone());
    }
    for code in [-18_019_907, -18_019_908] {
        check(code, Scope::Call, Some(ProviderError::QuotaExhausted));
    }
    for code in [0, -18_019_901, -18_019_902, -18_019_903] {
        check(code, Scope::Number, None);
    }
    check(-18_099_999, Scope::Call, transient);
    assert_eq!(
        code_error(-18_099_999, "Insufficient balance", Scope::Call),
        Some(ProviderError::QuotaExhausted),
        "an unknown code is read by its words"
    );
}

#[test]
fn a_refused_key_in_a_200_body_is_an_account_error() {
    let body: serde_json::Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/seventeen_track/bad_key.json"
    ))
    .expect("JSON");
    assert_eq!(parse_envelope(&body).err(), Some(ProviderError::Unauthorised));
}
