//! Tests of text folding and tokenising.

use super::*;

#[track_caller]
fn check(input: &str, expect: &[(&str, bool)]) {
    let got: Vec<(String, bool)> = tokens(input)
        .into_iter()
        .map(|t| (t.text, t.joins_previous))
        .collect();
    let expect: Vec<(String, bool)> = expect.iter().map(|(t, j)| ((*t).to_owned(), *j)).collect();
    assert_eq!(got, expect, "tokens of {input:?}");
}

#[test]
fn soft_and_hard_separators() {
    check(
        "rb 1234-5678.5cn",
        &[("RB", false), ("1234", true), ("5678", true), ("5CN", true)],
    );
    check(
        "a,b\nc/d",
        &[("A", false), ("B", false), ("C", false), ("D", false)],
    );
}

#[test]
fn invisible_full_width_and_look_alike_characters() {
    check("RB123\u{200B}456785CN", &[("RB123456785CN", false)]);
    check("ＲＢ１２３４５６７８５ＣＮ", &[("RB123456785CN", false)]);
    check("RB\u{00A0}123456785CN", &[("RB", false), ("123456785CN", true)]);
    // Cyrillic Р and В typed on a Russian keyboard.
    check("РВ123456785CN", &[("PB123456785CN", false)]);
}

#[test]
fn compact_keeps_only_letters_and_digits() {
    assert_eq!(compact(" rb-123 456 785 cn "), "RB123456785CN");
}
