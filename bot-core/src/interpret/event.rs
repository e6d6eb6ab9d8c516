//! Raw events as providers report them, and the parsing of their clocks.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};

/// One tracking event as a source reported it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Event {
    /// When it happened, with the offset the source gave (or assumed; see [`parse_time`]).
    pub time: DateTime<FixedOffset>,
    /// The source's wording.
    pub text: String,
    /// Where it happened, as the source wrote it.
    #[serde(default)]
    pub location: Option<String>,
    /// The source's own status code (Cainiao `actionCode`, 17TRACK sub-status, ...).
    #[serde(default)]
    pub code: Option<String>,
    /// Which source reported it (`cainiao`, `seventeen_track`, `ship24`, ...).
    #[serde(default)]
    pub source: Option<String>,
    /// The tracking number the event belongs to, when the source says.
    #[serde(default)]
    pub number: Option<String>,
}

/// Hours east of UTC that Cainiao means when it gives no time zone.
const CHINA_OFFSET_SECONDS: i32 = 8 * 3600;

/// Parses a provider's time: RFC 3339, or a local `YYYY-MM-DD HH:MM[:SS]` with a zone
/// such as `GMT+08:00`, `+0800` or nothing (then China time, as Cainiao means it).
pub fn parse_time(local: &str, zone: Option<&str>) -> Option<DateTime<FixedOffset>> {
    let local = local.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(local) {
        return Some(time);
    }
    let offset = zone
        .map(str::trim)
        .filter(|zone| !zone.is_empty())
        .and_then(parse_offset)
        .unwrap_or(CHINA_OFFSET_SECONDS);
    let offset = FixedOffset::east_opt(offset)?;
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(local, format).ok())?;
    offset.from_local_datetime(&naive).single()
}

/// Seconds east of UTC in `GMT+08:00`, `UTC-3`, `+0800`, `+08:00`.
fn parse_offset(zone: &str) -> Option<i32> {
    let rest = zone.trim_start_matches("GMT").trim_start_matches("UTC").trim();
    if rest.is_empty() {
        return Some(0);
    }
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (hours, minutes) = match digits.split_once(':') {
        Some((hours, minutes)) => (hours.parse::<i32>().ok()?, minutes.parse::<i32>().ok()?),
        None if digits.len() == 4 && digits.is_ascii() => {
            (digits[..2].parse().ok()?, digits[2..].parse().ok()?)
        }
        None => (digits.parse().ok()?, 0),
    };
    // Checked before multiplying: `GMT+99999999` must be refused, not overflow.
    ((0..=14).contains(&hours) && (0..60).contains(&minutes)).then(|| sign * (hours * 3600 + minutes * 60))
}
