//! Tracking-number intelligence: find every number in what a buyer pasted, say what
//! each one is (format, carrier, service, check digit), repair typos, and be honest when
//! a number's shape alone cannot tell the carrier.
//!
//! Layout:
//! - [`normalize`] folds pasted text into ASCII tokens;
//! - [`catalog`] holds every known format (vendored courier data plus ours);
//! - [`checksum`] has the check-digit algorithms;
//! - [`repair`] proposes corrections for a number whose check digit fails;
//! - [`explain`] writes the plain-language note for a recognition;
//! - this module ties them together into [`recognise`] and the [`TrackingNumber`] type.
//!
//! Recognition guides, it does not gate: a plausible number of a shape no catalogue
//! lists ([`Outcome::Plausible`]) is still a [`TrackingNumber`], asked of the providers
//! that detect the carrier themselves. Known formats keep their checks: a failing check
//! digit is still a typo.

pub mod catalog;
pub mod checksum;
pub mod explain;
pub mod normalize;
pub mod repair;

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use catalog::{CATALOG, FormatKind, FormatMatch, Strength};
use serde::Serialize;

/// How many tokens one number may be spread over (`RB 1234 5678 5 CN` is five).
const MAX_TOKENS_PER_NUMBER: usize = 10;
/// The longest compact number any format accepts, with room to spare.
const MAX_NUMBER_LENGTH: usize = 40;
/// Shortest token worth reporting as "not a number I recognise".
const MIN_REPORTED_LENGTH: usize = 8;
/// Shortest plausible tracking number of an unknown shape (Ship24 takes 5 to 50).
const MIN_PLAUSIBLE_LENGTH: usize = 5;
/// Digits a plausible tracking number of an unknown shape has at least.
const MIN_PLAUSIBLE_DIGITS: usize = 4;

/// The format code of a plausible number of a shape no catalogue lists.
pub const UNKNOWN_FORMAT: &str = "unknown";

/// The service an S10 number's first letter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// `E`: Express Mail Service.
    Ems,
    /// `L`: letter-post express, e.g. ePacket `LX…CN`.
    LetterExpress,
    /// `R`: registered letter post, tracked.
    Registered,
    /// `U`: unregistered letter post, not tracked abroad.
    Untracked,
    /// `V`: insured letter post.
    Insured,
    /// `C`: parcel post.
    Parcel,
    /// `H`: e-commerce parcel.
    EcommerceParcel,
    /// `M`: M-bag of printed matter.
    MBag,
    /// `Q`: international business reply.
    BusinessReply,
    /// Letters reserved for domestic or bilateral use.
    Domestic,
    /// Any other letter.
    Other,
}

impl Service {
    fn from_s10_letter(service_type: &str) -> Service {
        let mut letters = service_type.chars();
        let first = letters.next().unwrap_or(' ');
        let second = letters.next().unwrap_or(' ');
        match (first, second) {
            ('E', _) => Service::Ems,
            ('L', _) => Service::LetterExpress,
            ('R', _) => Service::Registered,
            ('U', _) => Service::Untracked,
            ('V', _) => Service::Insured,
            ('C', _) => Service::Parcel,
            ('H', _) => Service::EcommerceParcel,
            ('M', _) => Service::MBag,
            ('Q', _) => Service::BusinessReply,
            ('B' | 'D' | 'N' | 'P' | 'Z', _) | ('A', 'V'..='Z') | ('G', 'A' | 'D') => Service::Domestic,
            _ => Service::Other,
        }
    }

    /// The code used in the CLI contract (`registered`, `ems`, `untracked`, ...).
    pub fn as_code(self) -> &'static str {
        match self {
            Service::Ems => "ems",
            Service::LetterExpress => "letter_express",
            Service::Registered => "registered",
            Service::Untracked => "untracked",
            Service::Insured => "insured",
            Service::Parcel => "parcel",
            Service::EcommerceParcel => "ecommerce_parcel",
            Service::MBag => "m_bag",
            Service::BusinessReply => "business_reply",
            Service::Domestic => "domestic",
            Service::Other => "other",
        }
    }

    /// Whether the service is normally tracked once the item leaves the origin country.
    pub fn is_tracked_abroad(self) -> bool {
        !matches!(self, Service::Untracked | Service::MBag | Service::BusinessReply)
    }
}

/// The state of a number's check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckDigit {
    /// The format has a check digit and it matches.
    Ok,
    /// The format has a check digit and it does not match.
    Bad,
    /// The format has no check digit (or, for Yanwen `YP`, does not reliably use one).
    None,
}

impl CheckDigit {
    /// The code used in the CLI contract.
    pub fn as_code(self) -> &'static str {
        match self {
            CheckDigit::Ok => "ok",
            CheckDigit::Bad => "bad",
            CheckDigit::None => "none",
        }
    }
}

/// One format a number fits, with what the format implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Format code (`s10`, `cainiao_lp`, `usps`, ...).
    pub format: &'static str,
    /// Product within the carrier (`FedEx Ground`, `S10`, ...).
    pub product: &'static str,
    /// Carrier that issued the number.
    pub carrier: &'static str,
    /// Country of the issuing carrier, when known.
    pub country: Option<&'static str>,
    /// The S10 service, for S10 numbers.
    pub service: Option<Service>,
    /// The state of the check digit.
    pub check_digit: CheckDigit,
    /// Passes every check of its format.
    pub valid: bool,
    /// How much the shape alone says.
    pub strength: Strength,
    /// An order number rather than a tracking number.
    pub is_order_number: bool,
    /// Why a matching shape still fails, in a few words.
    pub problem: Option<Problem>,
    specific: bool,
}

/// Why a number with a known shape is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The check digit does not match.
    CheckDigit,
    /// An S10 number whose last two letters are no postal operator's country.
    UnknownCountry(String),
}

impl Candidate {
    fn score(&self) -> u32 {
        let mut score = 0;
        if self.valid {
            score += 16;
        }
        if self.check_digit == CheckDigit::Ok {
            score += 4;
        }
        if self.strength == Strength::Strong {
            score += 2;
        }
        if self.specific {
            score += 1;
        }
        score
    }

    fn from_match(found: &FormatMatch) -> Candidate {
        let spec = found.spec;
        let mut candidate = Candidate {
            format: spec.code,
            product: &spec.product,
            carrier: &spec.carrier,
            country: spec.country,
            service: None,
            check_digit: match found.check_digit {
                Some(true) => CheckDigit::Ok,
                Some(false) => CheckDigit::Bad,
                None => CheckDigit::None,
            },
            valid: found.check_digit != Some(false) && found.missing_lookups.is_empty(),
            strength: spec.strength,
            is_order_number: spec.kind == FormatKind::OrderNumber,
            problem: None,
            specific: spec.specific,
        };
        if spec.code == "s10" {
            let country = found.group("CountryCode").unwrap_or_default();
            candidate.service = found.group("ServiceType").map(Service::from_s10_letter);
            if country == "YP" {
                // Yanwen prints S10-shaped numbers with the pseudo-country YP; its serials do
                // not reliably carry the UPU check digit, so a mismatch is not a typo signal.
                candidate.carrier = "Yanwen";
                candidate.product = "Yanwen (S10 shape, YP)";
                candidate.country = Some("CN");
                candidate.specific = true;
                // Its first letter does not follow the UPU service meanings either.
                candidate.service = None;
                if candidate.check_digit == CheckDigit::Bad {
                    candidate.check_digit = CheckDigit::None;
                }
                candidate.valid = true;
            } else {
                candidate.country = found.lookup_key("Courier");
                match found.lookup("Courier") {
                    Some(courier) => candidate.carrier = courier,
                    None => {
                        candidate.carrier = "unknown postal operator";
                        candidate.problem = Some(Problem::UnknownCountry(country.to_owned()));
                    }
                }
            }
        }
        if candidate.problem.is_none() && candidate.check_digit == CheckDigit::Bad {
            candidate.problem = Some(Problem::CheckDigit);
        }
        candidate
    }
}

/// What a recognised string turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// One format fits clearly: the first candidate.
    Recognised,
    /// It is a valid number of some format, but the shape alone fits several carriers or
    /// is too plain to be sure: "could be X or Y".
    Uncertain,
    /// A known shape whose check fails (check digit or S10 country): probably a typo.
    Invalid,
    /// An AliExpress order number, not a tracking number.
    OrderNumber,
    /// No known format fits, but it is a plausible tracking number (5 to 40 letters and
    /// digits, at least 4 digits, not a phone number): the providers that detect the
    /// carrier themselves are asked.
    Plausible,
    /// No known format.
    Unknown(UnknownReason),
}

/// Why nothing was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownReason {
    /// Nothing but white space.
    Empty,
    /// No digit at all: words, not a number.
    NoDigits,
    /// Too short for any tracking number.
    TooShort,
    /// Longer than any tracking number.
    TooLong,
    /// Number-like, but no format fits.
    NoFormat,
}

/// Everything the bot knows about one number found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition {
    /// The compact number (upper-case letters and digits), or `None` when the input held
    /// nothing number-like.
    pub normalized: Option<String>,
    /// The verdict.
    pub outcome: Outcome,
    /// Formats the number fits, best first.
    pub candidates: Vec<Candidate>,
    /// Corrections that pass, best first, at most three.
    pub suggestions: Vec<String>,
}

impl Recognition {
    /// The best candidate, if any format fits at all.
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates.first()
    }

    /// Whether this is a tracking number that passes every check of its best format.
    pub fn is_valid(&self) -> bool {
        matches!(self.outcome, Outcome::Recognised | Outcome::Uncertain)
    }

    /// Whether the number is worth asking the providers about: valid in a known format,
    /// or a plausible number of an unknown shape.
    pub fn is_trackable(&self) -> bool {
        self.is_valid() || self.outcome == Outcome::Plausible
    }

    /// The plain-language explanation of this recognition.
    pub fn note(&self) -> String {
        explain::note(self)
    }
}

/// The CLI's JSON view of one recognition (`parcelbot number --json`); field names are a
/// contract with external checks and must stay stable.
#[derive(Debug, Clone, Serialize)]
pub struct NumberReport {
    /// The number's own slice of the input line or argument (the groups of a spaced
    /// number and the separators between them); the whole input when nothing
    /// number-like was found.
    pub input: String,
    /// The compact number, or `None` when nothing number-like was found.
    pub normalized: Option<String>,
    /// A tracking number passing every check of its format.
    pub valid: bool,
    /// Format code of the best candidate.
    pub format: Option<&'static str>,
    /// Carrier of the best candidate.
    pub carrier: Option<String>,
    /// `ok`, `bad` or `none`.
    pub check_digit: &'static str,
    /// S10 service code.
    pub service: Option<&'static str>,
    /// Country of the issuing carrier.
    pub country: Option<String>,
    /// Corrections that pass, best first.
    pub suggestions: Vec<String>,
    /// Plain-language explanation.
    pub note: String,
    /// False when the shape fits several carriers or is bare digits.
    pub confident: bool,
    /// Every format the number fits, best first.
    pub candidates: Vec<CandidateReport>,
}

/// One candidate in a [`NumberReport`].
#[derive(Debug, Clone, Serialize)]
pub struct CandidateReport {
    /// Format code.
    pub format: &'static str,
    /// Product within the carrier.
    pub product: String,
    /// Carrier name.
    pub carrier: String,
    /// `ok`, `bad` or `none`.
    pub check_digit: &'static str,
    /// Passes every check of the format.
    pub valid: bool,
}

impl Recognition {
    /// The CLI report of this recognition, found in `input`.
    pub fn report(&self, input: &str) -> NumberReport {
        let best = self.best();
        let carrier_known = best.is_some_and(|c| !matches!(c.problem, Some(Problem::UnknownCountry(_))));
        NumberReport {
            input: input.to_owned(),
            normalized: self.normalized.clone(),
            valid: self.is_valid(),
            format: best.map(|c| c.format),
            carrier: best.filter(|_| carrier_known).map(|c| c.carrier.to_owned()),
            check_digit: best.map_or("none", |c| c.check_digit.as_code()),
            service: best.and_then(|c| c.service).map(Service::as_code),
            country: best.and_then(|c| c.country.map(str::to_owned)).or_else(|| {
                best.and_then(|c| match &c.problem {
                    Some(Problem::UnknownCountry(code)) => Some(code.clone()),
                    _ => None,
                })
            }),
            suggestions: self.suggestions.clone(),
            note: self.note(),
            confident: self.outcome == Outcome::Recognised,
            candidates: self
                .candidates
                .iter()
                .map(|c| CandidateReport {
                    format: c.format,
                    product: c.product.to_owned(),
                    carrier: c.carrier.to_owned(),
                    check_digit: c.check_digit.as_code(),
                    valid: c.valid,
                })
                .collect(),
        }
    }
}

/// Finds every number in `input`, in order and without duplicates.
///
/// The result is never empty: when nothing number-like is found, it holds one
/// recognition with `normalized: None` whose outcome says why.
pub fn recognise(input: &str) -> Vec<Recognition> {
    recognise_in(input)
        .into_iter()
        .map(|found| found.recognition)
        .collect()
}

/// A number found in some input, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The number's own slice of the input, in bytes (separators between its groups
    /// included); the whole input when nothing number-like was found.
    pub span: Range<usize>,
    /// What it is.
    pub recognition: Recognition,
}

/// [`recognise`], with each number's place in `input`: the work is linear in the length
/// of `input`, whatever it holds.
pub fn recognise_in(input: &str) -> Vec<Found> {
    // Fast path: most pastes are one clean number, which the general path below would
    // turn into the same single token and the same recognition.
    if !input.is_empty()
        && input.len() <= MAX_NUMBER_LENGTH
        && input.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        let reportable = input.len() >= MIN_REPORTED_LENGTH && input.bytes().any(|b| b.is_ascii_digit());
        let recognition = recognise_owned(input.to_ascii_uppercase());
        if quality(&recognition) > 0 || reportable {
            return vec![Found {
                span: 0..input.len(),
                recognition,
            }];
        }
    }
    let tokens = normalize::tokens(input);
    let mut found: Vec<Found> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut push_unique = |span: Range<usize>, recognition: Recognition, found: &mut Vec<Found>| {
        let new = recognition
            .normalized
            .as_ref()
            .is_none_or(|normalized| seen.insert(normalized.clone()));
        if new {
            found.push(Found { span, recognition });
        }
    };
    let mut index = 0;
    while index < tokens.len() {
        if !tokens[index].is_numberish() {
            index += 1;
            continue;
        }
        match longest_number_at(&tokens, index) {
            Some((end, recognition)) => {
                push_unique(
                    tokens[index].span.start..tokens[end].span.end,
                    recognition,
                    &mut found,
                );
                index = end + 1;
            }
            None => {
                let token = &tokens[index];
                if token.has_digit() && token.text.len() >= MIN_REPORTED_LENGTH {
                    push_unique(token.span.clone(), recognise_compact(&token.text), &mut found);
                }
                index += 1;
            }
        }
    }
    if found.is_empty() {
        found.push(Found {
            span: 0..input.len(),
            recognition: nothing_found(input, &tokens),
        });
    }
    found
}

/// Recognises one compact string (upper-case ASCII letters and digits) as a whole.
pub fn recognise_compact(compact: &str) -> Recognition {
    recognise_owned(compact.to_owned())
}

/// [`recognise_compact`] of a string the caller gives away (no copy).
fn recognise_owned(compact: String) -> Recognition {
    let mut candidates: Vec<Candidate> = CATALOG
        .matches(&compact)
        .iter()
        .map(Candidate::from_match)
        .collect();
    candidates.sort_by_key(|candidate| std::cmp::Reverse(candidate.score()));
    candidates.dedup_by(|a, b| a.format == b.format && a.carrier == b.carrier && a.valid == b.valid);
    let mut outcome = outcome_of(&compact, &candidates);
    let suggestions = match outcome {
        Outcome::Invalid | Outcome::Plausible | Outcome::Unknown(UnknownReason::NoFormat) => {
            repair::suggest(&compact, &candidates)
        }
        _ => Vec::new(),
    };
    // A look-alike or swapped character away from a known format (`RB1234S6785CN`) is a
    // typo of that format, not a number of an unknown shape.
    if outcome == Outcome::Plausible && !suggestions.is_empty() {
        outcome = Outcome::Unknown(UnknownReason::NoFormat);
    }
    Recognition {
        normalized: Some(compact),
        outcome,
        candidates,
        suggestions,
    }
}

fn outcome_of(compact: &str, candidates: &[Candidate]) -> Outcome {
    let Some(best) = candidates.first() else {
        return if compact.len() > MAX_NUMBER_LENGTH {
            Outcome::Unknown(UnknownReason::TooLong)
        } else if is_plausible(compact) {
            Outcome::Plausible
        } else {
            Outcome::Unknown(UnknownReason::NoFormat)
        };
    };
    if best.is_order_number {
        return Outcome::OrderNumber;
    }
    if !best.valid {
        return Outcome::Invalid;
    }
    let ties = candidates
        .iter()
        .skip(1)
        .any(|other| other.valid && other.score() == best.score());
    let other_weak_fits = best.strength == Strength::Weak && candidates.iter().skip(1).any(|c| c.valid);
    if best.strength == Strength::Weak || ties || other_weak_fits {
        Outcome::Uncertain
    } else {
        Outcome::Recognised
    }
}

/// Whether a compact string that fits no format may still be a tracking number: 5 to 40
/// letters and digits with at least 4 digits, not a phone number, and not a dummy
/// pattern (fewer than three different characters, or a plain run like `123456789`: what
/// people type to test a bot, and what Ship24 refuses as "dummy patterns").
fn is_plausible(compact: &str) -> bool {
    let bytes = compact.as_bytes();
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    (MIN_PLAUSIBLE_LENGTH..=MAX_NUMBER_LENGTH).contains(&bytes.len())
        && bytes.iter().all(u8::is_ascii_alphanumeric)
        && digits >= MIN_PLAUSIBLE_DIGITS
        && !looks_like_phone(compact)
        && distinct_characters(bytes) >= 3
        && !bytes.windows(2).all(|pair| pair[1] == pair[0].wrapping_add(1))
}

fn distinct_characters(bytes: &[u8]) -> usize {
    let mut seen = [false; 256];
    bytes
        .iter()
        .filter(|&&b| !std::mem::replace(&mut seen[usize::from(b)], true))
        .count()
}

/// Mobile numbers people paste instead of a tracking number: Chinese (`1[3-9]` + 9
/// digits), Russian (`7`/`8`, then `9` + 9 digits), and numbers with the international
/// prefix `00`.
fn looks_like_phone(compact: &str) -> bool {
    let bytes = compact.as_bytes();
    if !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let chinese_mobile = bytes.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]);
    let russian_mobile = bytes.len() == 11 && matches!(bytes[0], b'7' | b'8') && bytes[1] == b'9';
    let international = (10..=15).contains(&bytes.len()) && bytes.starts_with(b"00");
    chinese_mobile || russian_mobile || international
}

/// Rank of a recognition for choosing among joins: valid beats shape-only beats nothing.
fn quality(recognition: &Recognition) -> u8 {
    match recognition.outcome {
        Outcome::Recognised | Outcome::OrderNumber => 3,
        Outcome::Uncertain => 2,
        Outcome::Invalid => 1,
        // A plausible unknown shape is never preferred to a join that fits a format, and a
        // short token in running text (a postcode) is not picked up as a number.
        Outcome::Plausible | Outcome::Unknown(_) => 0,
    }
}

/// The best number that starts at `start`: the join of consecutive soft-separated tokens
/// with the highest quality, the longest among equals.
fn longest_number_at(tokens: &[normalize::Token], start: usize) -> Option<(usize, Recognition)> {
    let mut joined = String::new();
    let mut best: Option<(usize, Recognition)> = None;
    for (end, token) in tokens.iter().enumerate().skip(start).take(MAX_TOKENS_PER_NUMBER) {
        if end > start && (!token.joins_previous || !token.is_numberish()) {
            break;
        }
        // A token that is a number on its own starts the next number: a list of numbers
        // separated by spaces must not be glued into one long match of a loose format.
        if end > start
            && token.text.len() >= MIN_REPORTED_LENGTH
            && quality(&recognise_compact(&token.text)) >= 2
        {
            break;
        }
        joined.push_str(&token.text);
        if joined.len() > MAX_NUMBER_LENGTH {
            break;
        }
        if !CATALOG.any_shape(&joined) {
            continue;
        }
        let recognition = recognise_compact(&joined);
        let better = match &best {
            None => quality(&recognition) > 0,
            Some((_, current)) => quality(&recognition) >= quality(current) && quality(&recognition) > 0,
        };
        if better {
            best = Some((end, recognition));
        }
    }
    best
}

fn nothing_found(input: &str, tokens: &[normalize::Token]) -> Recognition {
    let reason = if input.trim().is_empty() || tokens.is_empty() {
        UnknownReason::Empty
    } else if !tokens.iter().any(normalize::Token::has_digit) {
        UnknownReason::NoDigits
    } else if tokens.iter().any(|t| t.text.len() > MAX_NUMBER_LENGTH) {
        UnknownReason::TooLong
    } else {
        UnknownReason::TooShort
    };
    Recognition {
        normalized: None,
        outcome: Outcome::Unknown(reason),
        candidates: Vec::new(),
        suggestions: Vec::new(),
    }
}

/// A tracking number that passed recognition: normalised, of a known format with a
/// check digit that matches where its format has one, or a plausible number of an
/// unknown shape ([`UNKNOWN_FORMAT`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackingNumber {
    value: String,
    format: &'static str,
    carrier: String,
    confident: bool,
}

/// Why a string is not a usable tracking number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingNumberError {
    /// The input held nothing.
    #[error("the input is empty")]
    Empty,
    /// The input held no tracking number of a known format.
    #[error("not a tracking number I recognise")]
    NotRecognised,
    /// A known format whose check fails; `suggestions` are corrections that pass.
    #[error("the check digit of {number} does not match")]
    Invalid {
        /// The compact number as typed.
        number: String,
        /// Corrections that pass, best first.
        suggestions: Vec<String>,
    },
    /// An AliExpress order number was given instead of a tracking number.
    #[error("{number} is an order number, not a tracking number")]
    OrderNumber {
        /// The order number.
        number: String,
    },
    /// More than one number was found where one was expected.
    #[error("found {count} numbers where one was expected")]
    Several {
        /// How many numbers were found.
        count: usize,
    },
}

impl TrackingNumber {
    /// Parses exactly one tracking number out of `input`.
    ///
    /// # Errors
    /// [`TrackingNumberError`] says why the input is not one valid tracking number.
    pub fn parse(input: &str) -> Result<TrackingNumber, TrackingNumberError> {
        let mut found = recognise(input);
        // One short token given on purpose (a command argument) may be a plausible number
        // that running text would not pick up.
        if let [only] = found.as_slice()
            && matches!(
                only.outcome,
                Outcome::Unknown(UnknownReason::TooShort | UnknownReason::NoFormat)
            )
        {
            let compact: String = input
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect::<String>()
                .to_ascii_uppercase();
            if compact.bytes().all(|b| b.is_ascii_alphanumeric()) {
                found = vec![recognise_compact(&compact)];
            }
        }
        if found.len() > 1 {
            return Err(TrackingNumberError::Several { count: found.len() });
        }
        match found.pop() {
            Some(recognition) => TrackingNumber::try_from(recognition),
            None => Err(TrackingNumberError::Empty),
        }
    }

    /// The compact number.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The format code of the best candidate.
    pub fn format(&self) -> &'static str {
        self.format
    }

    /// The carrier of the best candidate.
    pub fn carrier(&self) -> &str {
        &self.carrier
    }

    /// Whether the format is certain (false for bare-digit numbers several carriers use,
    /// and for unknown shapes).
    pub fn is_confident(&self) -> bool {
        self.confident
    }

    /// Whether the number is of a format the catalogue knows (false for a plausible
    /// number of an unknown shape).
    pub fn is_known_format(&self) -> bool {
        self.format != UNKNOWN_FORMAT
    }
}

impl TryFrom<Recognition> for TrackingNumber {
    type Error = TrackingNumberError;

    fn try_from(recognition: Recognition) -> Result<Self, Self::Error> {
        let number = recognition.normalized.clone().unwrap_or_default();
        match recognition.outcome {
            Outcome::Recognised | Outcome::Uncertain => {
                let best = recognition.best().ok_or(TrackingNumberError::NotRecognised)?;
                Ok(TrackingNumber {
                    value: number,
                    format: best.format,
                    carrier: best.carrier.to_owned(),
                    confident: recognition.outcome == Outcome::Recognised,
                })
            }
            Outcome::Plausible => Ok(TrackingNumber {
                value: number,
                format: UNKNOWN_FORMAT,
                carrier: "unknown carrier".to_owned(),
                confident: false,
            }),
            Outcome::Invalid => Err(TrackingNumberError::Invalid {
                number,
                suggestions: recognition.suggestions,
            }),
            Outcome::OrderNumber => Err(TrackingNumberError::OrderNumber { number }),
            Outcome::Unknown(UnknownReason::Empty) => Err(TrackingNumberError::Empty),
            Outcome::Unknown(_) => Err(TrackingNumberError::NotRecognised),
        }
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

#[cfg(test)]
mod tests;
