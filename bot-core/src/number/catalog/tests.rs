//! Unit tests of the pattern rewriting and of the compiled catalogue.

use super::*;

#[test]
fn compact_pattern_drops_spacing_and_literal_dashes() {
    assert_eq!(compact_pattern(r"\s*1\s*L\s*[A-Z-]\s*-\s*1"), r"1L[A-Z-]1");
    assert_eq!(compact_pattern(r"a\-b"), r"a\-b");
}

#[test]
fn strip_lookaround_keeps_named_groups() {
    assert_eq!(
        strip_lookaround(r"(?<Zip>\d{5}(?=\d{22}(?!\d)))?9"),
        r"(?<Zip>\d{5})?9"
    );
    assert_eq!(strip_lookaround(r"\((?=x)a"), r"\(a");
}

#[test]
fn the_catalogue_builds_with_every_format() {
    let catalog = &*CATALOG;
    assert!(
        catalog.formats.len() > 45,
        "only {} formats",
        catalog.formats.len()
    );
    for code in [
        "s10",
        "usps",
        "ups",
        "fedex",
        "dhl",
        "dpd",
        "yunexpress",
        "cainiao_lp",
        "aliexpress_order",
    ] {
        assert!(catalog.formats.iter().any(|f| f.code == code), "{code} missing");
    }
}

#[test]
fn s10_lookups_give_operator_and_service() {
    let found = CATALOG.matches("RB123456785CN");
    let s10 = found.iter().find(|m| m.spec.code == "s10").expect("s10 matches");
    assert_eq!(s10.check_digit, Some(true));
    assert_eq!(s10.lookup("Courier"), Some("China Post"));
    assert_eq!(s10.group("CountryCode"), Some("CN"));
    assert!(s10.missing_lookups.is_empty());
    let unknown = CATALOG.matches("RB123456785XX");
    let s10 = unknown.iter().find(|m| m.spec.code == "s10").expect("s10 shape");
    assert_eq!(s10.missing_lookups, vec!["Courier"]);
}
