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

/// The vendored look-around pattern of `name`, compiled for compact input.
fn original_pattern(name: &str) -> fancy_regex::Regex {
    for (_, json) in COURIER_FILES {
        let file: CourierFile = serde_json::from_str(json).expect("courier file parses");
        for raw in file.tracking_numbers {
            if raw.name == name {
                let pattern = match raw.regex {
                    RawRegex::One(pattern) => pattern,
                    RawRegex::Parts(parts) => parts.concat(),
                };
                let compact = compact_pattern(&pattern);
                return fancy_regex::Regex::new(&format!("^(?:{compact})$")).expect("original compiles");
            }
        }
    }
    panic!("no vendored format named {name}");
}

/// Test numbers of `name`, compact.
fn test_numbers_of(name: &str) -> Vec<String> {
    let spec = CATALOG
        .formats
        .iter()
        .find(|spec| spec.product == name)
        .expect("format exists");
    spec.test_numbers
        .valid
        .iter()
        .chain(&spec.test_numbers.invalid)
        .map(|n| {
            n.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .collect()
}

#[test]
fn plain_equivalents_agree_with_the_look_around_originals() {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut seed: u64 = 7;
    let mut next = move |below: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(seed >> 33).unwrap_or(0) % below
    };
    let mut checked = 0;
    for equivalent in COMPACT_EQUIVALENTS {
        let original = original_pattern(equivalent.name);
        let plain = anchored(equivalent.pattern).expect("equivalent compiles");
        let mut corpus = test_numbers_of(equivalent.name);
        // Every one-character variant of every test number.
        for number in corpus.clone() {
            for position in 0..number.len() {
                for &replacement in b"0123456789AZ" {
                    let mut variant = number.clone().into_bytes();
                    variant[position] = replacement;
                    corpus.push(String::from_utf8(variant).expect("ascii"));
                }
            }
        }
        // Random strings of every length, built on the prefixes the formats start with.
        let prefixes = ["", "420", "94", "4201", "9400", "GM", "LX", "CN", "MY"];
        for length in 8..=44 {
            for _ in 0..400 {
                let prefix = prefixes[next(prefixes.len())];
                let digits_only = next(3) > 0;
                let mut text = prefix.to_owned();
                while text.len() < length {
                    let alphabet = if digits_only { &ALPHABET[..10] } else { ALPHABET };
                    text.push(char::from(alphabet[next(alphabet.len())]));
                }
                corpus.push(text);
            }
        }
        for text in &corpus {
            let expected = original.captures(text).expect("no backtrack limit");
            let length_ok = equivalent.lengths.is_none_or(|only| only.contains(&text.len()));
            let found = plain.captures(text).filter(|_| length_ok);
            assert_eq!(
                expected.is_some(),
                found.is_some(),
                "{}: {text} matched differently",
                equivalent.name
            );
            if let (Some(expected), Some(found)) = (expected, found) {
                for name in plain.capture_names().flatten() {
                    assert_eq!(
                        expected.name(name).map(|m| m.as_str()),
                        found.name(name).map(|m| m.as_str()),
                        "{}: group {name} of {text}",
                        equivalent.name
                    );
                }
            }
            checked += 1;
        }
    }
    println!("compared {checked} strings");
}
