//! Tests of the port's helpers: finding numbers in provider fields, Cainiao's formats.

use super::{is_cainiao_format, number_in_field};
use crate::number::TrackingNumber;

#[track_caller]
fn check(field: &str, expect: Option<&str>) {
    assert_eq!(number_in_field(field).as_deref(), expect, "{field:?}");
}

#[test]
fn numbers_are_found_in_provider_fields() {
    check("3SCNLA12345678", Some("3SCNLA12345678"));
    check("Latest Tracking Number:\t3SCNLA12345678", Some("3SCNLA12345678"));
    check("PostNL 3SCNLA12345678", Some("3SCNLA12345678"));
    // Not a format we know, but the source says it is a number: keep it.
    check(
        "Latest Tracking Number:\t36YPH337263201000935107",
        Some("36YPH337263201000935107"),
    );
    check("", None);
    check("PostNL", None);
}

#[test]
fn cainiao_serves_its_own_numbers_and_chinese_s10() {
    let serves = |n: &str| is_cainiao_format(&TrackingNumber::parse(n).expect("valid"));
    assert!(serves("LP00498000000000"));
    assert!(serves("AP00839790702074"));
    assert!(serves("RB123456785CN"));
    assert!(!serves("CP123456785FR"));
    assert!(!serves("3SCNLA12345678"));
}
