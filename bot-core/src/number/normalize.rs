//! Turning what people paste into compact upper-case tokens.
//!
//! People paste numbers with surrounding words, inside links, spaced in groups, with
//! dashes or dots, with invisible characters copied from web pages, in full-width forms
//! from Chinese keyboards, or with Cyrillic letters that look Latin. This module folds
//! all of that into ASCII tokens and remembers which separators were "soft" (spaces,
//! dashes, dots: a number may continue across them) and which were "hard" (commas, line
//! breaks, slashes, query-string punctuation: a number never continues across them).

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

/// One run of letters and digits, upper-case ASCII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The characters, upper-case ASCII letters and digits only.
    pub text: String,
    /// Whether only soft separators stand between this token and the previous one.
    pub joins_previous: bool,
    /// Where the token is in the input, in bytes (from its first to its last character,
    /// invisible characters inside included).
    pub span: Range<usize>,
}

impl Token {
    /// Whether the token may be part of a tracking number: it holds a digit, or it is a
    /// short letter group such as the `RB` or `CN` of a spaced S10 number.
    pub fn is_numberish(&self) -> bool {
        self.has_digit() || self.text.len() <= 4
    }

    /// Whether the token holds at least one digit.
    pub fn has_digit(&self) -> bool {
        self.text.bytes().any(|b| b.is_ascii_digit())
    }
}

enum CharClass {
    Keep(char),
    Soft,
    Hard,
    Invisible,
}

/// Splits `input` into tokens; see the module documentation.
pub fn tokens(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut current_span = 0..0;
    let mut joins_previous = false;
    let mut separator_seen_hard = false;
    let push = |current: &mut String, span: &Range<usize>, joins: bool, tokens: &mut Vec<Token>| {
        if !current.is_empty() {
            tokens.push(Token {
                text: std::mem::take(current),
                joins_previous: joins,
                span: span.clone(),
            });
        }
    };
    // `origin` is where in `input` the character came from (after normalisation, the
    // cluster it was folded out of).
    let mut handle =
        |c: char, origin: Range<usize>, current: &mut String, tokens: &mut Vec<Token>| match classify(c) {
            CharClass::Keep(kept) => {
                if current.is_empty() {
                    joins_previous = !tokens.is_empty() && !separator_seen_hard;
                    separator_seen_hard = false;
                    current_span = origin.clone();
                }
                current_span.end = current_span.end.max(origin.end);
                current.push(kept);
            }
            CharClass::Invisible => {}
            CharClass::Soft => push(current, &current_span, joins_previous, tokens),
            CharClass::Hard => {
                push(current, &current_span, joins_previous, tokens);
                separator_seen_hard = true;
            }
        };
    if input.is_ascii() {
        for (index, c) in input.char_indices() {
            handle(c, index..index + 1, &mut current, &mut tokens);
        }
    } else {
        // NFKC one cluster (a starter and the combining marks after it) at a time, so
        // that every folded character knows where it came from; composition never
        // crosses a cluster into an ASCII letter or digit, so the tokens are those of
        // the whole string folded at once.
        for cluster in clusters(input) {
            for c in input[cluster.clone()].nfkc() {
                handle(c, cluster.clone(), &mut current, &mut tokens);
            }
        }
    }
    push(&mut current, &current_span, joins_previous, &mut tokens);
    tokens
}

/// The byte ranges of `input`'s clusters: a character of combining class 0 and the
/// combining marks that follow it.
fn clusters(input: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut chars = input.char_indices().peekable();
    std::iter::from_fn(move || {
        let (start, first) = chars.next()?;
        let mut end = start + first.len_utf8();
        while let Some(&(index, next)) = chars.peek() {
            if canonical_combining_class(next) == 0 {
                break;
            }
            end = index + next.len_utf8();
            chars.next();
        }
        Some(start..end)
    })
}

/// Folds a single already-extracted string (no separators expected) into its compact
/// form: the same folding as [`tokens`], keeping every kept character.
pub fn compact(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    if input.is_ascii() {
        out.extend(input.chars().filter_map(|c| match classify(c) {
            CharClass::Keep(kept) => Some(kept),
            _ => None,
        }));
    } else {
        out.extend(input.nfkc().filter_map(|c| match classify(c) {
            CharClass::Keep(kept) => Some(kept),
            _ => None,
        }));
    }
    out
}

fn classify(c: char) -> CharClass {
    if c.is_ascii_alphanumeric() {
        return CharClass::Keep(c.to_ascii_uppercase());
    }
    match c {
        ' '
        | '-'
        | '.'
        | '_'
        | '\u{00A0}'
        | '\u{2007}'
        | '\u{202F}'
        | '\u{2010}'..='\u{2015}'
        | '\u{2212}'
        | '\u{30FC}'
        | '\u{3000}' => CharClass::Soft,
        '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' => {
            CharClass::Invisible
        }
        _ => match homoglyph(c) {
            Some(latin) => CharClass::Keep(latin),
            None => CharClass::Hard,
        },
    }
}

/// Cyrillic and Greek capitals (and the Cyrillic lower-case forms) that people type by
/// mistake for the Latin letter they look like.
fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        'А' | 'а' | 'Α' => 'A',
        'В' | 'в' | 'Β' => 'B',
        'Е' | 'е' | 'Ε' => 'E',
        'К' | 'к' | 'Κ' => 'K',
        'М' | 'м' | 'Μ' => 'M',
        'Н' | 'н' | 'Η' => 'H',
        'О' | 'о' | 'Ο' => 'O',
        'Р' | 'р' | 'Ρ' => 'P',
        'С' | 'с' => 'C',
        'Т' | 'т' | 'Τ' => 'T',
        'Х' | 'х' | 'Χ' => 'X',
        'І' | 'і' | 'Ι' => 'I',
        'Ү' | 'Υ' => 'Y',
        'Ζ' => 'Z',
        'Ν' => 'N',
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
