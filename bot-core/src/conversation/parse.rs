//! Reading what a user typed: commands, numbers and labels, dates and durations.
//! Nothing here touches the store; bad input becomes a typed error the conversation
//! answers in words.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::clock::{Saturating, local_date};

use crate::number::{Outcome, Recognition, UnknownReason, recognise};

/// Longest message the bot reads; longer ones are refused whole.
pub const MAX_INPUT_CHARS: usize = 4096;

/// Longest label kept, in characters.
pub const MAX_LABEL_CHARS: usize = 48;

/// A command and its argument text, or plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// `/name rest` (the name lower-cased, a `@botname` suffix removed).
    Command {
        /// The command's name without the slash.
        name: String,
        /// Everything after it, trimmed.
        args: String,
    },
    /// Anything else.
    Text(String),
}

/// Splits a message into a command and its arguments.
pub fn parse(text: &str) -> Parsed {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('/') else {
        return Parsed::Text(text.to_owned());
    };
    let (head, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let name = head.split('@').next().unwrap_or_default().to_lowercase();
    Parsed::Command {
        name,
        args: args.trim().to_owned(),
    }
}

/// The numbers and the label found in `/track` arguments or a pasted message.
#[derive(Debug, Clone, Default)]
pub struct NumbersAndLabel {
    /// Every number-like token's recognition, in order, without repeats.
    pub numbers: Vec<Recognition>,
    /// The remaining words, cleaned, when any.
    pub label: Option<String>,
}

/// Whether a recognition is something number-like (as opposed to a word of a label).
fn is_number_like(recognition: &Recognition) -> bool {
    match recognition.outcome {
        Outcome::Unknown(UnknownReason::NoFormat | UnknownReason::TooLong) => recognition
            .normalized
            .as_ref()
            .is_some_and(|n| n.len() >= 8 && n.bytes().filter(u8::is_ascii_digit).count() >= 4),
        Outcome::Unknown(_) => false,
        _ => true,
    }
}

/// Separates numbers from the label in `text`: every whitespace-separated token that
/// looks like a number is one; the other words are the label.
pub fn numbers_and_label(text: &str) -> NumbersAndLabel {
    let mut found = NumbersAndLabel::default();
    let mut words: Vec<&str> = Vec::new();
    for token in text.split_whitespace() {
        let recognitions: Vec<Recognition> = recognise(token).into_iter().filter(is_number_like).collect();
        if recognitions.is_empty() {
            words.push(token);
            continue;
        }
        for recognition in recognitions {
            let duplicate = found
                .numbers
                .iter()
                .any(|known| known.normalized == recognition.normalized);
            if !duplicate {
                found.numbers.push(recognition);
            }
        }
    }
    found.label = clean_label(&words.join(" "));
    found
}

/// A label as the bot keeps it: printable characters only, blanks collapsed, at most
/// [`MAX_LABEL_CHARS`] characters; `None` when nothing is left. Markup and SQL are kept
/// as text: the store binds parameters and the adapters escape on output.
pub fn clean_label(text: &str) -> Option<String> {
    let printable: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .collect();
    let collapsed = printable.split_whitespace().collect::<Vec<_>>().join(" ");
    let label: String = collapsed.chars().take(MAX_LABEL_CHARS).collect();
    let label = label.trim().to_owned();
    (!label.is_empty()).then_some(label)
}

/// Whether a free-text message asks if a number is fake ("is RB… fake?", "is this
/// number real", "scam?").
pub fn asks_if_fake(text: &str) -> bool {
    let lower = text.to_lowercase();
    ["fake", "real?", "genuine", "scam", "legit", "valid?"]
        .iter()
        .any(|word| lower.contains(word))
}

/// A deadline the user gave: a date (`2026-12-24`, `24.12.2026`, `24/12/2026`,
/// `24.12`) or a number of days (`15 days`, `15d`, `in 15 days`), read in `zone`; the
/// deadline is the end of that day.
///
/// # Errors
/// A sentence saying what was expected.
pub fn deadline(text: &str, now: DateTime<Utc>, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim().to_lowercase();
    let text = text.strip_prefix("in ").unwrap_or(&text).trim();
    let today = local_date(now, &zone);
    let date = if let Some(days) = days_of(text) {
        if !(1..=365).contains(&days) {
            return Err("The number of days must be between 1 and 365.".to_owned());
        }
        today.plus(Duration::days(days))
    } else {
        date_of(text, today).ok_or_else(|| {
            "I could not read that date. Write it as 2026-12-24, 24.12.2026, or a number of days such as \"15 days\".".to_owned()
        })?
    };
    if date < today {
        return Err(
            "That date is in the past. Give the date buyer protection ends, as shown on the order page."
                .to_owned(),
        );
    }
    if date > today.plus(Duration::days(365)) {
        return Err("That date is more than a year away; buyer protection is never that long.".to_owned());
    }
    let end_of_day = date.and_hms_opt(23, 59, 0).unwrap_or_default();
    zone.from_local_datetime(&end_of_day)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| "That time does not exist in your time zone.".to_owned())
}

fn days_of(text: &str) -> Option<i64> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 4 {
        return None;
    }
    let rest = text[digits.len()..].trim();
    matches!(rest, "d" | "day" | "days")
        .then(|| digits.parse().ok())
        .flatten()
}

fn date_of(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    for format in ["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y"] {
        if let Ok(date) = NaiveDate::parse_from_str(text, format) {
            return Some(date);
        }
    }
    // Day and month only: this year, or next year when that date has passed.
    for separator in ['.', '/'] {
        if let Some((day, month)) = text.split_once(separator) {
            let (day, month) = (day.parse().ok()?, month.parse().ok()?);
            let this_year = NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), month, day)?;
            return Some(if this_year < today {
                NaiveDate::from_ymd_opt(chrono::Datelike::year(&today) + 1, month, day)?
            } else {
                this_year
            });
        }
    }
    None
}

/// Longest `/wait` argument read, in bytes: enough for `52w6d23h59m59s` and spaces;
/// a longer one is refused whole.
pub const MAX_WAIT_CHARS: usize = 64;

/// Reads a duration for the console's `/wait`: `3d`, `12h`, `90m`, `2w`, combined
/// (`1d12h`), at most a year in all and [`MAX_WAIT_CHARS`] long.
pub fn wait_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_WAIT_CHARS {
        return None;
    }
    let text = text.to_lowercase();
    let mut total = Duration::zero();
    let mut digits = String::new();
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let amount: i64 = digits.parse().ok().filter(|n| *n <= 10_000)?;
        digits.clear();
        let part = match c {
            'w' => Duration::weeks(amount),
            'd' => Duration::days(amount),
            'h' => Duration::hours(amount),
            'm' => Duration::minutes(amount),
            's' => Duration::seconds(amount),
            _ => return None,
        };
        total = total.checked_add(&part)?;
    }
    if !digits.is_empty() || total <= Duration::zero() || total > Duration::days(365) {
        return None;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_text_are_told_apart() {
        assert_eq!(
            parse("/Track@parcel_bot RB123456785CN  shoes "),
            Parsed::Command {
                name: "track".to_owned(),
                args: "RB123456785CN  shoes".to_owned()
            }
        );
        assert_eq!(parse(" hello "), Parsed::Text("hello".to_owned()));
    }

    #[test]
    fn numbers_are_separated_from_the_label() {
        let found = numbers_and_label("RB123456785CN headphones for mum LP00123456789012");
        let numbers: Vec<_> = found
            .numbers
            .iter()
            .filter_map(|r| r.normalized.clone())
            .collect();
        assert_eq!(numbers[0], "RB123456785CN");
        assert_eq!(numbers.len(), 2);
        assert_eq!(found.label.as_deref(), Some("headphones for mum"));
    }

    #[test]
    fn labels_are_cleaned_not_interpreted() {
        assert_eq!(
            clean_label("<b>x</b>'; DROP TABLE chats;--\u{202E}").as_deref(),
            Some("<b>x</b>'; DROP TABLE chats;--")
        );
        assert_eq!(clean_label("  \n\t "), None);
        assert_eq!(
            clean_label(&"é".repeat(100)).map(|l| l.chars().count()),
            Some(MAX_LABEL_CHARS)
        );
    }

    #[test]
    fn deadlines_read_dates_and_days() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        let zone = chrono_tz::Europe::Amsterdam;
        let expected = DateTime::parse_from_rfc3339("2026-12-07T22:59:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        for text in [
            "15 days",
            "in 15 days",
            "15d",
            "2026-12-07",
            "07.12.2026",
            "7/12/2026",
            "7.12",
        ] {
            assert_eq!(deadline(text, now, zone), Ok(expected), "{text}");
        }
        for bad in [
            "",
            "tomorrow-ish",
            "0 days",
            "2020-01-01",
            "400 days",
            "32.13.2026",
        ] {
            assert!(deadline(bad, now, zone).is_err(), "{bad}");
        }
    }

    #[test]
    fn waits_read_units() {
        assert_eq!(wait_duration("3d"), Some(Duration::days(3)));
        assert_eq!(wait_duration("1d12h"), Some(Duration::hours(36)));
        assert_eq!(wait_duration("90m"), Some(Duration::minutes(90)));
        for bad in ["", "3", "d", "3x", "0d", "9999w"] {
            assert_eq!(wait_duration(bad), None, "{bad}");
        }
    }
}
