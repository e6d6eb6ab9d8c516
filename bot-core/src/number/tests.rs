//! Tests of recognition: extraction from pasted text, formats, uncertainty and repair.

use super::*;

#[track_caller]
fn single(input: &str) -> Recognition {
    let mut found = recognise(input);
    assert_eq!(found.len(), 1, "one number expected in {input:?}, got {found:#?}");
    found.remove(0)
}

#[track_caller]
fn check(input: &str, normalized: &str, outcome: Outcome, format: &str) {
    let recognition = single(input);
    assert_eq!(recognition.normalized.as_deref(), Some(normalized), "{input:?}");
    assert_eq!(recognition.outcome, outcome, "{input:?}: {recognition:#?}");
    assert_eq!(recognition.best().map(|c| c.format), Some(format), "{input:?}");
}

#[test]
fn s10_in_every_way_people_paste_it() {
    for input in [
        "RB123456785CN",
        "rb123456785cn",
        "my tracking is RB123456785CN thanks",
        "RB 1234 5678 5CN",
        "RB-123-456-785-CN",
        "RB.123.456.785.CN",
        "RB123\u{200B}456785CN",
        "\u{00A0}RB123456785CN\u{00A0}",
        "ＲＢ１２３４５６７８５ＣＮ",
        "https://global.cainiao.com/newDetail.htm?mailNoList=RB123456785CN&otherMailNoList=",
    ] {
        check(input, "RB123456785CN", Outcome::Recognised, "s10");
    }
    let best = single("RB123456785CN").candidates.remove(0);
    assert_eq!(best.carrier, "China Post");
    assert_eq!(best.service, Some(Service::Registered));
    assert_eq!(best.country, Some("CN"));
    assert_eq!(best.check_digit, CheckDigit::Ok);
}

#[test]
fn several_numbers_in_order_without_duplicates() {
    let found = recognise("RB123456785CN, LP00123456789012\nRB123456785CN;YT2229521272164446");
    let numbers: Vec<_> = found
        .iter()
        .map(|r| r.normalized.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        numbers,
        ["RB123456785CN", "LP00123456789012", "YT2229521272164446"]
    );
    let spaced = recognise("RB123456785CN LP00123456789012");
    assert_eq!(spaced.len(), 2);
}

#[test]
fn aliexpress_side_formats() {
    check(
        "LP00123456789012",
        "LP00123456789012",
        Outcome::Recognised,
        "cainiao_lp",
    );
    check(
        "AP00839790702074",
        "AP00839790702074",
        Outcome::Recognised,
        "cainiao_ap",
    );
    check(
        "CNFR9010481599571HD",
        "CNFR9010481599571HD",
        Outcome::Recognised,
        "cainiao_cn",
    );
    check(
        "YT2229521272164446",
        "YT2229521272164446",
        Outcome::Recognised,
        "yunexpress",
    );
    check(
        "SF1234567890123",
        "SF1234567890123",
        Outcome::Recognised,
        "sf_express",
    );
    check(
        "3SABCD123456789",
        "3SABCD123456789",
        Outcome::Recognised,
        "postnl",
    );
    let yanwen = single("UY894729184YP");
    assert_eq!(yanwen.outcome, Outcome::Recognised);
    assert_eq!(yanwen.best().map(|c| c.carrier), Some("Yanwen"));
    assert!(yanwen.is_valid());
}

#[test]
fn untracked_service_is_named() {
    // UA + serial 12345678 + check 5 + CN: letter post without tracking abroad.
    let recognition = single("UA123456785CN");
    assert_eq!(
        recognition.best().and_then(|c| c.service),
        Some(Service::Untracked)
    );
    assert!(recognition.note().contains("untracked"), "{}", recognition.note());
}

#[test]
fn order_number_is_explained() {
    let recognition = single("8199123456789012");
    assert_eq!(recognition.outcome, Outcome::OrderNumber);
    assert!(!recognition.is_valid());
    assert!(recognition.note().contains("order number"));
    assert_eq!(
        TrackingNumber::parse("8199123456789012"),
        Err(TrackingNumberError::OrderNumber {
            number: "8199123456789012".to_owned()
        })
    );
}

#[test]
fn bare_digits_are_never_a_verdict() {
    let recognition = single("123456789012");
    assert_eq!(recognition.outcome, Outcome::Uncertain);
    assert!(recognition.note().contains("could be"), "{}", recognition.note());
}

#[test]
fn typo_repair_offers_passing_corrections() {
    // Letter S typed for the digit 5.
    let recognition = single("RB12345678SCN");
    assert_eq!(
        recognition.suggestions.first().map(String::as_str),
        Some("RB123456785CN")
    );
    // Letter O typed for zeros throughout.
    let recognition = single("LPOO123456789012");
    assert_eq!(
        recognition.suggestions.first().map(String::as_str),
        Some("LP00123456789012")
    );
    // Two digits swapped: the check digit fails and a swap fixes it.
    let recognition = single("RB213456785CN");
    assert_eq!(recognition.outcome, Outcome::Invalid);
    assert!(
        recognition.suggestions.contains(&"RB123456785CN".to_owned()),
        "{recognition:#?}"
    );
    assert!(recognition.suggestions.len() <= 3);
    // Nothing plausible: no suggestions.
    assert!(single("QQ99999999999QQQ").suggestions.is_empty());
}

#[test]
fn unknown_input_says_why() {
    for (input, reason) in [
        ("", UnknownReason::Empty),
        ("hello there", UnknownReason::NoDigits),
        ("call 12345", UnknownReason::TooShort),
    ] {
        let recognition = single(input);
        assert_eq!(recognition.normalized, None);
        assert_eq!(recognition.outcome, Outcome::Unknown(reason), "{input:?}");
        assert!(!recognition.note().is_empty());
    }
}

#[test]
fn tracking_number_is_valid_by_construction() {
    let number = TrackingNumber::parse(" rb 123456785 cn ").expect("valid");
    assert_eq!(number.as_str(), "RB123456785CN");
    assert_eq!(number.to_string(), "RB123456785CN");
    assert_eq!(number.format(), "s10");
    assert_eq!(number.carrier(), "China Post");
    assert!(matches!(
        TrackingNumber::parse("RB123456786CN"),
        Err(TrackingNumberError::Invalid { .. })
    ));
    assert_eq!(TrackingNumber::parse("   "), Err(TrackingNumberError::Empty));
    assert!(matches!(
        TrackingNumber::parse("RB123456785CN LP00123456789012"),
        Err(TrackingNumberError::Several { count: 2 })
    ));
}
