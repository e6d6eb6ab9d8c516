//! Reading what a user typed: commands, numbers and labels, dates and durations.
//! Nothing here touches the store; bad input becomes a typed error the conversation
//! answers in words.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::clock::{Saturating, local_date};

use crate::number::{Outcome, Recognition, UnknownReason, recognise_in};

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
    /// How many characters the remaining words had before cleaning (a label longer
    /// than [`MAX_LABEL_CHARS`] is refused, not cut).
    pub label_chars: usize,
    /// Whether words came before the first number ("where is RB…").
    pub words_before: bool,
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

/// Separates numbers from the label in `text`: numbers are read as the `number`
/// command reads them (spaces, dashes and line breaks inside a number allowed); the
/// other words are the label.
pub fn numbers_and_label(text: &str) -> NumbersAndLabel {
    let mut found = NumbersAndLabel::default();
    let mut rest = String::with_capacity(text.len());
    let mut from = 0;
    for number in recognise_in(text)
        .into_iter()
        .filter(|f| is_number_like(&f.recognition))
    {
        if number.span.start < from || number.span.end > text.len() {
            continue;
        }
        rest.push_str(text.get(from..number.span.start).unwrap_or_default());
        rest.push(' ');
        from = number.span.end;
        let duplicate = found
            .numbers
            .iter()
            .any(|known| known.normalized == number.recognition.normalized);
        if !duplicate {
            found.numbers.push(number.recognition);
        }
    }
    rest.push_str(text.get(from..).unwrap_or_default());
    found.label = clean_label(&rest);
    found.label_chars = rest
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .count();
    found.words_before = found.numbers.first().is_some_and(|_| {
        recognise_in(text)
            .into_iter()
            .find(|f| is_number_like(&f.recognition))
            .is_some_and(|first| {
                text.get(..first.span.start)
                    .is_some_and(|before| before.chars().any(char::is_alphanumeric))
            })
    });
    found
}

/// What a message without a command asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Follow the number (a bare paste, maybe with a short name for it).
    Track,
    /// Is the number fake?
    Fake,
    /// Where is the parcel? (its status, following it when it is new)
    Where,
}

/// Words that ask whether a number is fake, in the buyers' languages.
const FAKE_WORDS: &[&str] = &[
    "fake",
    "real",
    "genuine",
    "scam",
    "legit",
    "valid",
    "falso",
    "falsa",
    "verdadero",
    "estafa",
    "faux",
    "fausse",
    "arnaque",
    "echt",
    "falsch",
    "betrug",
    "nep",
    "oplichting",
    "golpe",
    "verdadeiro",
    "fraude",
    "oszustwo",
    "fałszywy",
    "подделка",
    "фейк",
    "настоящий",
    "sahte",
];

/// Words that ask where a parcel is.
const WHERE_WORDS: &[&str] = &[
    "where",
    "status",
    "when",
    "dónde",
    "donde",
    "cuándo",
    "cuando",
    "où",
    "quand",
    "wo",
    "wann",
    "waar",
    "wanneer",
    "onde",
    "quando",
    "gdzie",
    "kiedy",
    "где",
    "когда",
    "nerede",
    "dove",
];

/// Reads a message without a command: its numbers, what it asks, and a label only when
/// the buyer meant one (the number first, then a short name: "RB… headphones"; never
/// the words of a question such as "where is RB…?").
pub fn read_message(text: &str) -> (NumbersAndLabel, Intent) {
    let mut found = numbers_and_label(text);
    let folded = text.to_lowercase();
    let words: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
    let question = text.contains('?') || text.contains('¿');
    let intent = if has(FAKE_WORDS) {
        Intent::Fake
    } else if has(WHERE_WORDS) || question || found.words_before {
        Intent::Where
    } else {
        Intent::Track
    };
    let short_name = found
        .label
        .as_deref()
        .is_some_and(|label| label.split_whitespace().count() <= MAX_FREE_LABEL_WORDS);
    if intent != Intent::Track || found.words_before || !short_name || found.numbers.len() != 1 {
        found.label = None;
        found.label_chars = 0;
    }
    (found, intent)
}

/// Most words of a name given after a pasted number without `/track`.
const MAX_FREE_LABEL_WORDS: usize = 4;

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

/// A deadline the user gave: a date (`2026-12-24`, `24.12.2026`, `24/12`, `Dec 24`,
/// `24 December`, `tomorrow`) or a duration (`15 days`, `15d`, `in 15 days`, `3 weeks`),
/// read in `zone`; the deadline is the end of that day there.
///
/// # Errors
/// A sentence saying what was expected.
pub fn deadline(text: &str, now: DateTime<Utc>, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    let date = deadline_date(text, now, zone)?;
    end_of_day(date, zone)
}

/// The calendar day of a [`deadline`].
///
/// # Errors
/// A sentence saying what was expected.
pub fn deadline_date(text: &str, now: DateTime<Utc>, zone: chrono_tz::Tz) -> Result<NaiveDate, String> {
    let text = text.trim().to_lowercase();
    let text = text.strip_prefix("in ").unwrap_or(&text).trim();
    let today = local_date(now, &zone);
    let date = if let Some(days) = days_of(text) {
        if !(1..=365).contains(&days) {
            return Err("The number of days must be between 1 and 365.".to_owned());
        }
        today.plus(Duration::days(days))
    } else {
        date_of(text, today, Toward::Future).ok_or_else(|| {
            "I could not read that date. Write it as 2026-12-24, 24.12.2026, 24/12, Dec 24, tomorrow, or a number of days such as \"15 days\".".to_owned()
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
    Ok(date)
}

/// The end of `date` (23:59) in `zone`, as a moment.
///
/// # Errors
/// A sentence when that time does not exist there.
pub fn end_of_day(date: NaiveDate, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    let end_of_day = date.and_hms_opt(23, 59, 0).unwrap_or_default();
    zone.from_local_datetime(&end_of_day)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| "That time does not exist in your time zone.".to_owned())
}

/// The start of `date` in `zone`, as a moment.
pub fn start_of_day(date: NaiveDate, zone: chrono_tz::Tz) -> DateTime<Utc> {
    let start = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&start)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&date.and_hms_opt(1, 0, 0).unwrap_or_default())
                .earliest()
        })
        .map_or_else(|| start.and_utc(), |t| t.with_timezone(&Utc))
}

/// The day an order was placed: a date (`2026-11-20`, `20.11`, `Nov 20`), `today`,
/// `yesterday`, or how long ago (`10 days ago`, `2 weeks ago`, `a month ago`), read in
/// `zone`; not in the future and at most a year ago.
///
/// # Errors
/// A sentence saying what was expected.
pub fn order_date(text: &str, now: DateTime<Utc>, zone: chrono_tz::Tz) -> Result<NaiveDate, String> {
    let text = text.trim().to_lowercase();
    let today = local_date(now, &zone);
    let ago = text.strip_suffix(" ago").map(str::trim);
    let date = match (text.as_str(), ago) {
        ("today", _) => Some(today),
        ("yesterday", _) => Some(today.minus(Duration::days(1))),
        (_, Some(amount)) => {
            let amount = amount.replace("a month", "1 month").replace("a week", "1 week");
            let digits: String = amount.chars().take_while(char::is_ascii_digit).collect();
            let unit = amount[digits.len()..].trim();
            let count: i64 = digits.parse().ok().filter(|n: &i64| *n <= 400).unwrap_or(-1);
            let days = match unit {
                "d" | "day" | "days" => Some(count),
                "w" | "week" | "weeks" => Some(count * 7),
                "month" | "months" => Some(count * 30),
                _ => None,
            };
            days.filter(|d| *d >= 0).map(|d| today.minus(Duration::days(d)))
        }
        _ => date_of(&text, today, Toward::Past),
    };
    let Some(date) = date else {
        return Err(
            "I could not read that date. Write the day you ordered as 2026-11-20, 20.11, Nov 20, or how long ago (\"10 days ago\", \"2 weeks ago\")."
                .to_owned(),
        );
    };
    if date > today {
        return Err("That date is in the future. Give the day you placed the order.".to_owned());
    }
    if date < today.minus(Duration::days(365)) {
        return Err("That is more than a year ago; I only judge orders of the last year.".to_owned());
    }
    Ok(date)
}

fn days_of(text: &str) -> Option<i64> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 4 {
        return None;
    }
    let count: i64 = digits.parse().ok()?;
    match text[digits.len()..].trim() {
        "d" | "day" | "days" => Some(count),
        "w" | "week" | "weeks" => Some(count * 7),
        _ => None,
    }
}

/// Which way a date without a year is read: the next such day (a deadline) or the
/// last one (an order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toward {
    Future,
    Past,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month_of(word: &str) -> Option<u32> {
    let word = word.trim_end_matches('.');
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|month| word.starts_with(month) && "january february march april may june july august september october november december sept".contains(word))
        .and_then(|index| u32::try_from(index + 1).ok())
}

fn date_of(text: &str, today: NaiveDate, toward: Toward) -> Option<NaiveDate> {
    match text {
        "today" => return Some(today),
        "tomorrow" if toward == Toward::Future => return Some(today.plus(Duration::days(1))),
        _ => {}
    }
    for format in ["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y"] {
        if let Ok(date) = NaiveDate::parse_from_str(text, format) {
            return Some(date);
        }
    }
    let this_year = chrono::Datelike::year(&today);
    let (day, month, year): (u32, u32, Option<i32>) = {
        let words: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        match words.as_slice() {
            // `Dec 31`, `December 31 2026`, `31 Dec`, `31 December 2026`.
            [a, b, rest @ ..] if rest.len() <= 1 => {
                let year = match rest {
                    [year] => Some(year.parse().ok()?),
                    _ => None,
                };
                if let Some(month) = month_of(a) {
                    (
                        b.trim_end_matches(['.', 's', 't', 'n', 'd', 'r', 'h'])
                            .parse()
                            .ok()?,
                        month,
                        year,
                    )
                } else {
                    let month = month_of(b)?;
                    (
                        a.trim_end_matches(['.', 's', 't', 'n', 'd', 'r', 'h'])
                            .parse()
                            .ok()?,
                        month,
                        year,
                    )
                }
            }
            // `31.12`, `31/12`.
            [one] => {
                let (day, month) = one.split_once(['.', '/'])?;
                (day.parse().ok()?, month.trim_end_matches('.').parse().ok()?, None)
            }
            _ => return None,
        }
    };
    if let Some(year) = year {
        return NaiveDate::from_ymd_opt(year, month, day);
    }
    let candidate = NaiveDate::from_ymd_opt(this_year, month, day)?;
    Some(match toward {
        Toward::Future if candidate < today => NaiveDate::from_ymd_opt(this_year + 1, month, day)?,
        Toward::Past if candidate > today => NaiveDate::from_ymd_opt(this_year - 1, month, day)?,
        _ => candidate,
    })
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
        let spaced = numbers_and_label("RB 1047 2904 4CN");
        assert_eq!(
            spaced.numbers.first().and_then(|r| r.normalized.as_deref()),
            Some("RB104729044CN")
        );
        assert_eq!(spaced.label, None);
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
            "7/12",
            "Dec 7",
            "7 December",
            "december 7th",
        ] {
            assert_eq!(deadline(text, now, zone), Ok(expected), "{text}");
        }
        let tomorrow = DateTime::parse_from_rfc3339("2026-11-23T22:59:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        assert_eq!(deadline("tomorrow", now, zone), Ok(tomorrow));
        assert_eq!(deadline("in 1 day", now, zone), Ok(tomorrow));
        let three_weeks = DateTime::parse_from_rfc3339("2026-12-13T22:59:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        assert_eq!(deadline("3 weeks", now, zone), Ok(three_weeks));
        for bad in [
            "",
            "tomorrow-ish",
            "0 days",
            "2020-01-01",
            "400 days",
            "32.13.2026",
            "2036-12-31",
            "Dec 32",
            "Smarch 3",
        ] {
            assert!(deadline(bad, now, zone).is_err(), "{bad}");
        }
    }

    #[test]
    fn order_dates_read_days_ago_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        let zone = chrono_tz::Europe::Amsterdam;
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        for (text, expected) in [
            ("today", day(2026, 11, 22)),
            ("yesterday", day(2026, 11, 21)),
            ("10 days ago", day(2026, 11, 12)),
            ("2 weeks ago", day(2026, 11, 8)),
            ("a month ago", day(2026, 10, 23)),
            ("2026-11-20", day(2026, 11, 20)),
            ("20.11", day(2026, 11, 20)),
            ("Nov 20", day(2026, 11, 20)),
            ("Dec 24", day(2025, 12, 24)),
        ] {
            assert_eq!(order_date(text, now, zone), Ok(expected), "{text}");
        }
        for bad in [
            "",
            "soon",
            "2026-12-01",
            "2020-01-01",
            "-3 days ago",
            "500 days ago",
        ] {
            assert!(order_date(bad, now, zone).is_err(), "{bad}");
        }
    }

    #[test]
    fn free_text_labels_only_what_was_meant() {
        let check = |text: &str, label: Option<&str>, intent: Intent| {
            let (found, read) = read_message(text);
            assert_eq!(found.numbers.len(), 1, "{text}");
            assert_eq!(found.label.as_deref(), label, "{text}");
            assert_eq!(read, intent, "{text}");
        };
        check("RB104729044CN", None, Intent::Track);
        check("RB104729044CN headphones", Some("headphones"), Intent::Track);
        check("where is RB104729044CN?", None, Intent::Where);
        check("¿es falso RB104729044CN?", None, Intent::Fake);
        check("is RB104729044CN fake", None, Intent::Fake);
        check("RB 1047 2904 4CN", None, Intent::Track);
        check("my order RB104729044CN", None, Intent::Where);
        check(
            "RB104729044CN this is a long sentence about my parcel",
            None,
            Intent::Track,
        );
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
