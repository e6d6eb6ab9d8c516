//! Unit tests of the check-digit algorithms against known numbers.

use super::*;

#[track_caller]
fn check(checksum: &Checksum, serial: &str, check_char: &str, expect: bool) {
    assert_eq!(
        checksum.passes(serial, check_char),
        expect,
        "{checksum:?} on {serial} / {check_char}"
    );
}

#[test]
fn s10_matches_the_upu_example() {
    assert_eq!(s10_check_digit("12345678"), Some(5));
    assert_eq!(s10_check_digit("1234567"), None);
    let s10 = Checksum::S10 {
        weightings: vec![8, 6, 4, 2, 3, 5, 9, 7],
    };
    check(&s10, "12345678", "5", true);
    check(&s10, "12345678", "6", false);
    check(&s10, "1234567X", "5", false);
}

#[test]
fn mod10_weighs_letters_like_ups() {
    let ups = Checksum::Mod10 {
        evens_multiplier: Some(1),
        odds_multiplier: Some(2),
    };
    check(&ups, "5R8939035756712", "7", true);
    check(&ups, "5R8939035756712", "8", false);
}

#[test]
fn luhn_mod7_and_dpd() {
    check(&Checksum::Luhn, "7992739871", "3", true);
    check(&Checksum::Luhn, "7992739871", "4", false);
    check(&Checksum::Mod7, "331881002", "5", true);
    check(&Checksum::Mod37_36, "008182709980000020033350276", "C", true);
    check(&Checksum::Mod37_36, "008182709980000020033350276", "A", false);
    check(&Checksum::Mod37_36, "0998000020033", "", false);
}
