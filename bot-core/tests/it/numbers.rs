//! Number recognition against the vendored courier test numbers, and its properties.

use bot_core::number::catalog::CATALOG;
use bot_core::number::checksum::s10_check_digit;
use bot_core::number::normalize::compact;
use bot_core::number::{CheckDigit, Outcome, TrackingNumber, recognise, recognise_compact};
use proptest::prelude::*;

/// Every valid test number must be recognised as valid for its format, and every invalid
/// one must not be accepted by that format.
#[test]
fn every_vendored_test_number() {
    let mut checked = 0;
    let mut misses = Vec::new();
    for spec in &CATALOG.formats {
        for number in &spec.test_numbers.valid {
            checked += 1;
            let recognition = recognise_compact(&compact(number));
            let fits = recognition
                .candidates
                .iter()
                .any(|c| c.valid && c.format == spec.code && !c.is_order_number);
            if !fits || !recognition.is_valid() {
                misses.push(format!(
                    "valid {} {number:?} -> {:?} {:?}",
                    spec.product,
                    recognition.outcome,
                    recognition
                        .candidates
                        .iter()
                        .map(|c| (c.format, c.valid))
                        .collect::<Vec<_>>()
                ));
            }
        }
        for number in &spec.test_numbers.invalid {
            checked += 1;
            let recognition = recognise_compact(&compact(number));
            // An invalid number of one format may be a valid number of another carrier, but
            // this format must not accept it.
            let accepted = recognition
                .candidates
                .iter()
                .any(|c| c.valid && c.format == spec.code && c.product == spec.product);
            if accepted {
                misses.push(format!("invalid {} {number:?} accepted", spec.product));
            }
        }
    }
    println!("checked {checked} vendored test numbers, {} misses", misses.len());
    assert!(misses.is_empty(), "misses:\n{}", misses.join("\n"));
    assert!(checked > 200, "only {checked} test numbers");
}

fn s10_number(service: &str, serial: u32, country: &str) -> String {
    let serial = format!("{serial:08}");
    let check = s10_check_digit(&serial).unwrap_or_default();
    format!("{service}{serial}{check}{country}")
}

fn s10_remainder(serial: &str) -> u32 {
    serial
        .bytes()
        .zip([8, 6, 4, 2, 3, 5, 9, 7])
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum::<u32>()
        % 11
}

const COUNTRIES: &[&str] = &[
    "CN", "GB", "US", "DE", "FR", "ES", "NL", "RU", "BR", "PL", "IT", "HK", "SG", "UA", "TR", "IL",
];

proptest! {
    #[test]
    fn normalisation_is_idempotent(input in "\\PC{0,40}") {
        let once: Vec<_> = recognise(&input).into_iter().filter_map(|r| r.normalized).collect();
        let joined = once.join("\n");
        let twice: Vec<_> = recognise(&joined).into_iter().filter_map(|r| r.normalized).collect();
        prop_assert_eq!(once, twice);
        prop_assert_eq!(compact(&compact(&input)), compact(&input));
    }

    #[test]
    fn any_single_digit_change_breaks_an_s10_check_digit(
        serial in 0u32..100_000_000,
        country in proptest::sample::select(COUNTRIES),
        position in 2usize..11,
        bump in 1u8..10,
    ) {
        let valid = s10_number("RB", serial, country);
        let mut bytes = valid.clone().into_bytes();
        bytes[position] = b'0' + (bytes[position] - b'0' + bump) % 10;
        let changed = String::from_utf8(bytes).unwrap_or_default();
        let recognition = recognise_compact(&changed);
        let s10 = recognition.candidates.iter().find(|c| c.format == "s10");
        // The UPU rule maps remainders 0 and 6 to the same check digit (5), so a change
        // that moves the weighted sum between those two remainders cannot be caught by
        // any S10 implementation. Every other single-digit change must be.
        let undetectable = position < 10 && {
            let remainders = [s10_remainder(&valid[2..10]), s10_remainder(&changed[2..10])];
            remainders == [0, 6] || remainders == [6, 0]
        };
        if undetectable {
            prop_assert!(s10.is_some_and(|c| c.check_digit == CheckDigit::Ok));
        } else {
            prop_assert!(s10.is_some_and(|c| c.check_digit == CheckDigit::Bad), "{} -> {:?}", changed, recognition);
            prop_assert_eq!(recognition.outcome, Outcome::Invalid);
        }
    }

    #[test]
    fn generated_s10_numbers_pass_for_every_service_and_country(
        serial in 0u32..100_000_000,
        letter in proptest::sample::select(&['E', 'L', 'R', 'U', 'V', 'C', 'H'][..]),
        second in proptest::sample::select(&['A', 'B', 'X', 'Y', 'Z'][..]),
        country in proptest::sample::select(COUNTRIES),
    ) {
        let number = s10_number(&format!("{letter}{second}"), serial, country);
        let parsed = TrackingNumber::parse(&number);
        prop_assert!(parsed.as_ref().is_ok_and(|n| n.format() == "s10"), "{} -> {:?}", number, parsed);
    }

    #[test]
    fn arbitrary_unicode_never_panics(input in "\\PC{0,200}") {
        for recognition in recognise(&input) {
            let _ = recognition.note();
        }
    }
}

/// What `TrackingNumber::parse` makes of one input: `Ok(format)` or the error's words.
#[track_caller]
fn check_parse(input: &str, expect: Result<&str, &str>) {
    let got = TrackingNumber::parse(input)
        .map(|n| n.format())
        .map_err(|e| e.to_string());
    match (&got, expect) {
        (Ok(format), Ok(wanted)) => assert_eq!(*format, wanted, "{input}"),
        (Err(why), Err(wanted)) => assert!(why.contains(wanted), "{input}: {why}"),
        _ => panic!("{input}: got {got:?}, expected {expect:?}"),
    }
}

/// Recognition guides, it does not gate: plausible numbers of shapes the catalogue does
/// not list are tracked; known formats keep their checks.
#[test]
fn plausible_unknown_shapes_are_tracked_and_known_formats_keep_their_checks() {
    // Shapes real Cainiao replies carry (see tests/fixtures/cainiao/README.md).
    check_parse("LP00123456789CN", Ok("unknown"));
    check_parse("36YPH337263201000935107", Ok("unknown"));
    check_parse("SINOA00241668IL", Ok("unknown"));
    check_parse("AE010698498", Ok("cainiao_ae"));
    check_parse("XQ7788AB9", Ok("unknown"));
    check_parse("AB123", Err("not a tracking number"));
    // Short on purpose: a command argument of 5 characters with 4 digits.
    check_parse("AB1234", Ok("unknown"));
    // Known formats keep their checks: a failing S10 check digit is still a typo.
    check_parse("RB123456786CN", Err("check digit"));
    // A look-alike away from a known format is a typo, not an unknown shape.
    check_parse("RB1234S6785CN", Err("not a tracking number"));
    // Not tracking numbers: an order number, phone numbers, test patterns.
    check_parse("8199123412341234", Err("order number"));
    for not_plausible in [
        "13812345678",
        "79161234567",
        "0031612345678",
        "123456789",
        "AAAA1111",
    ] {
        assert_ne!(
            recognise_compact(not_plausible).outcome,
            Outcome::Plausible,
            "{not_plausible}"
        );
    }
    let number = TrackingNumber::parse("LP00123456789CN").expect("plausible");
    assert!(!number.is_known_format());
    assert!(!number.is_confident());
    let recognition = recognise("LP00123456789CN").remove(0);
    assert_eq!(recognition.outcome, Outcome::Plausible);
    assert!(recognition.is_trackable() && !recognition.is_valid());
    assert!(
        recognition.note().contains("shape I do not know"),
        "{}",
        recognition.note()
    );
}

#[test]
fn a_postcode_in_running_text_is_not_a_number() {
    let found = recognise("I live at 75001 Paris");
    assert!(
        found.iter().all(|r| r.normalized.as_deref() != Some("75001")),
        "{found:?}"
    );
}
