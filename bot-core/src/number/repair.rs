//! Typo repair: corrections for a number whose check fails or whose shape is one
//! character off, drawn from the confusions people actually make.
//!
//! People read numbers off labels and screenshots and retype them: O and 0, I or L and
//! 1, S and 5, B and 8, Z and 2, G and 6 get swapped, and two neighbours change places.
//! We try those edits, keep the variants that a strong format accepts with every check
//! passing, and rank them: fixes that keep the format the number already resembled come
//! first, then look-alike fixes before swaps.

use super::Candidate;
use super::catalog::{CATALOG, Strength};

/// At most this many suggestions.
const MAX_SUGGESTIONS: usize = 3;

fn confusions(c: char) -> &'static [char] {
    match c {
        'O' => &['0'],
        '0' => &['O'],
        'I' | 'L' => &['1'],
        '1' => &['I', 'L'],
        'S' => &['5'],
        '5' => &['S'],
        'B' => &['8'],
        '8' => &['B'],
        'Z' => &['2'],
        '2' => &['Z'],
        'G' => &['6'],
        '6' => &['G'],
        _ => &[],
    }
}

/// Corrections of `compact` that pass, best first, at most three; empty when nothing
/// plausible passes. `candidates` are the formats the number already resembles.
pub fn suggest(compact: &str, candidates: &[Candidate]) -> Vec<String> {
    // Compact strings are upper-case ASCII, so variants are built byte by byte.
    if !compact.is_ascii() || compact.len() < 6 || compact.len() > 40 {
        return Vec::new();
    }
    let bytes = compact.as_bytes();
    let text = |variant: Vec<u8>| String::from_utf8(variant).unwrap_or_default();
    // (rank, variant): lower rank is better.
    let mut ranked: Vec<(u8, String)> = Vec::new();
    let mut consider = |variant: String, edit_rank: u8| {
        if variant == compact || ranked.iter().any(|(_, existing)| *existing == variant) {
            return;
        }
        // Only a strong format with a check digit, or one of our specific formats, can
        // vouch for a fix (see below), so no other format is even tried.
        let matches = CATALOG.passing_where(&variant, |spec| {
            spec.strength == Strength::Strong && (spec.has_check_digit() || spec.specific)
        });
        let passing: Vec<Candidate> = matches
            .iter()
            .map(Candidate::from_match)
            .filter(|c| c.valid && !c.is_order_number)
            .collect();
        if passing.is_empty() {
            return;
        }
        let keeps_format = passing
            .iter()
            .any(|c| candidates.iter().any(|original| original.format == c.format));
        let checked = passing.iter().any(|c| c.check_digit == super::CheckDigit::Ok);
        // A fix is only plausible when a check digit vouches for it, or when it turns a
        // shape nobody recognised into one of our specific formats.
        if !checked && !passing.iter().any(|c| c.specific) {
            return;
        }
        let rank = edit_rank + if keeps_format { 0 } else { 2 } + if checked { 0 } else { 1 };
        ranked.push((rank, variant));
    };

    // Every occurrence of one look-alike at once ("LPOO12…" typed with letter O).
    for from in [b'O', b'I', b'L', b'S', b'B', b'Z', b'G'] {
        if bytes.contains(&from) {
            for &to in confusions(char::from(from)) {
                let to = to as u8;
                consider(
                    text(bytes.iter().map(|&c| if c == from { to } else { c }).collect()),
                    0,
                );
            }
        }
    }
    // One look-alike at one position.
    for (position, &c) in bytes.iter().enumerate() {
        for &replacement in confusions(char::from(c)) {
            let mut variant = bytes.to_vec();
            variant[position] = replacement as u8;
            consider(text(variant), 0);
        }
    }
    // One adjacent swap.
    for position in 0..bytes.len() - 1 {
        if bytes[position] != bytes[position + 1] {
            let mut variant = bytes.to_vec();
            variant.swap(position, position + 1);
            consider(text(variant), 1);
        }
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    ranked
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, variant)| variant)
        .collect()
}
