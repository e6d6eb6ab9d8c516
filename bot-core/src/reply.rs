//! Replies: what the bot says, as a platform-neutral model. The conversation and the
//! engine build [`Reply`]s; each adapter renders them (HTML on Telegram, embeds and
//! components on Discord, plain text on the console).
//!
//! Buttons carry an [`Action`] encoded in a few bytes (`s:42`), because Telegram allows
//! 64 bytes of callback data and Discord 100 characters of `custom_id`.
//!
//! A reply serialises to JSON (actions in their encoded form) because replies to
//! platform updates wait in the outbox until the platform took them.

use serde::{Deserialize, Serialize};

/// One message of the bot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The content, top to bottom.
    pub blocks: Vec<Block>,
    /// Buttons under the message, in rows.
    pub buttons: Vec<Vec<Button>>,
    /// A picture sent with the message (the journey picture); the text is its caption.
    /// Not kept in the outbox: a reply sent late goes with its caption alone, rather than
    /// tens of kilobytes of PNG in every queued row.
    #[serde(skip)]
    pub image: Option<Image>,
}

/// A picture attached to a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// A file name for platforms that want one (`journey.png`).
    pub name: String,
    /// The PNG bytes.
    pub png: Vec<u8>,
}

/// A piece of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Block {
    /// A short heading, shown emphasised.
    Title(String),
    /// A paragraph.
    Text(String),
    /// A bulleted list.
    Bullets(Vec<String>),
    /// Text meant to be copied as is (a message for the seller, dispute evidence).
    Quote(String),
}

/// A button and what pressing it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// What the button says.
    pub label: String,
    /// What it does.
    pub action: Action,
}

/// What a button press asks for. Parcels are named by the store's id, numbers by text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Action {
    /// Track this number.
    Track(String),
    /// Show the parcel's status.
    Status(i64),
    /// Stop following the parcel.
    Stop(i64),
    /// Is this number fake?
    Fake(String),
    /// Set the parcel's buyer-protection date.
    Protect(i64),
    /// A message for the seller about the parcel.
    Seller(i64),
    /// Dispute evidence for the parcel.
    Evidence(i64),
    /// The journey picture of the parcel.
    Journey(i64),
    /// Yes, forget everything about this chat.
    ForgetConfirm,
    /// No, keep everything.
    ForgetCancel,
    /// The buyer got the parcel.
    Received(i64),
    /// The buyer did not receive the parcel the tracking calls delivered.
    NotReceived(i64),
    /// The parcel was ordered this many days ago (`None`: another date, asked next).
    Ordered(i64, Option<u16>),
}

/// The most bytes an encoded action may take (Telegram's callback data limit).
pub const MAX_ACTION_BYTES: usize = 64;

impl Action {
    /// The compact form carried by the button.
    pub fn encode(&self) -> String {
        match self {
            Action::Track(number) => format!("t:{number}"),
            Action::Status(parcel) => format!("s:{parcel}"),
            Action::Stop(parcel) => format!("x:{parcel}"),
            Action::Fake(number) => format!("f:{number}"),
            Action::Protect(parcel) => format!("p:{parcel}"),
            Action::Seller(parcel) => format!("m:{parcel}"),
            Action::Evidence(parcel) => format!("e:{parcel}"),
            Action::Journey(parcel) => format!("j:{parcel}"),
            Action::ForgetConfirm => "fy".to_owned(),
            Action::ForgetCancel => "fn".to_owned(),
            Action::Received(parcel) => format!("r:{parcel}"),
            Action::NotReceived(parcel) => format!("n:{parcel}"),
            Action::Ordered(parcel, Some(days)) => format!("o:{parcel}:{days}"),
            Action::Ordered(parcel, None) => format!("o:{parcel}:other"),
        }
    }

    /// Reads an encoded action; `None` for anything the bot did not write.
    pub fn decode(data: &str) -> Option<Action> {
        if data.len() > MAX_ACTION_BYTES {
            return None;
        }
        let number = |text: &str| {
            (!text.is_empty() && text.len() <= 40 && text.bytes().all(|b| b.is_ascii_alphanumeric()))
                .then(|| text.to_owned())
        };
        let parcel = |text: &str| text.parse::<i64>().ok().filter(|id| *id > 0);
        match data.split_once(':') {
            Some(("t", rest)) => number(rest).map(Action::Track),
            Some(("f", rest)) => number(rest).map(Action::Fake),
            Some(("s", rest)) => parcel(rest).map(Action::Status),
            Some(("x", rest)) => parcel(rest).map(Action::Stop),
            Some(("p", rest)) => parcel(rest).map(Action::Protect),
            Some(("m", rest)) => parcel(rest).map(Action::Seller),
            Some(("e", rest)) => parcel(rest).map(Action::Evidence),
            Some(("r", rest)) => parcel(rest).map(Action::Received),
            Some(("n", rest)) => parcel(rest).map(Action::NotReceived),
            Some(("o", rest)) => {
                let (id, days) = rest.split_once(':')?;
                let days = match days {
                    "other" => None,
                    digits if digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                        Some(digits.parse::<u16>().ok().filter(|d| *d <= 366)?)
                    }
                    _ => return None,
                };
                parcel(id).map(|id| Action::Ordered(id, days))
            }
            Some(("j", rest)) => parcel(rest).map(Action::Journey),
            None if data == "fy" => Some(Action::ForgetConfirm),
            None if data == "fn" => Some(Action::ForgetCancel),
            _ => None,
        }
    }
}

impl From<Action> for String {
    fn from(action: Action) -> String {
        action.encode()
    }
}

impl TryFrom<String> for Action {
    type Error = String;

    fn try_from(encoded: String) -> Result<Action, String> {
        Action::decode(&encoded).ok_or_else(|| format!("not a button action: {encoded}"))
    }
}

impl Reply {
    /// A reply of one paragraph.
    pub fn text(text: impl Into<String>) -> Reply {
        Reply {
            blocks: vec![Block::Text(text.into())],
            buttons: Vec::new(),
            image: None,
        }
    }

    /// Adds a block.
    #[must_use]
    pub fn with(mut self, block: Block) -> Reply {
        self.blocks.push(block);
        self
    }

    /// Adds a row of buttons.
    #[must_use]
    pub fn with_buttons(mut self, row: Vec<Button>) -> Reply {
        if !row.is_empty() {
            self.buttons.push(row);
        }
        self
    }

    /// The reply as plain text (the console, logs, tests): titles between `**`, bullets
    /// and quotes indented, buttons listed as `[label]`.
    pub fn to_plain(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        for block in &self.blocks {
            match block {
                Block::Title(title) => out.push(format!("** {title} **")),
                Block::Text(text) => out.push(text.clone()),
                Block::Bullets(items) => out.push(
                    items
                        .iter()
                        .map(|item| format!("  • {item}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                Block::Quote(text) => out.push(
                    text.lines()
                        .map(|line| format!("  > {line}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            }
        }
        for row in &self.buttons {
            out.push(
                row.iter()
                    .map(|button| format!("[{}]", button.label))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        out.join("\n")
    }
}

impl Button {
    /// A button.
    pub fn new(label: impl Into<String>, action: Action) -> Button {
        Button {
            label: label.into(),
            action,
        }
    }
}

/// Reads a time-zone name (`Europe/Amsterdam`, any case); `None` for an unknown one.
pub fn parse_time_zone(name: &str) -> Option<chrono_tz::Tz> {
    chrono_tz::Tz::from_str_insensitive(name.trim()).ok()
}

/// A moment as the chat reads it: `Mon 24 Nov 14:05` in its time zone (UTC when the
/// zone is unknown).
pub fn format_time(at: chrono::DateTime<chrono::Utc>, time_zone: &str) -> String {
    let zone = parse_time_zone(time_zone).unwrap_or(chrono_tz::UTC);
    at.with_timezone(&zone).format("%a %-d %b %H:%M").to_string()
}

/// A date as the chat reads it: `Mon 24 Nov 2026`.
pub fn format_date(at: chrono::DateTime<chrono::Utc>, time_zone: &str) -> String {
    let zone = parse_time_zone(time_zone).unwrap_or(chrono_tz::UTC);
    at.with_timezone(&zone).format("%a %-d %b %Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_chat_zone() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T13:05:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        assert_eq!(format_time(at, "europe/amsterdam"), "Tue 24 Nov 14:05");
        assert_eq!(format_time(at, "Nowhere/Special"), "Tue 24 Nov 13:05");
    }

    #[test]
    fn actions_round_trip_within_the_callback_limit() {
        let longest = "A".repeat(40);
        for action in [
            Action::Track(longest.clone()),
            Action::Fake(longest),
            Action::Status(i64::MAX),
            Action::Stop(1),
            Action::Protect(2),
            Action::Seller(3),
            Action::Evidence(4),
            Action::ForgetConfirm,
            Action::ForgetCancel,
            Action::Received(5),
            Action::NotReceived(i64::MAX),
            Action::Ordered(i64::MAX, Some(30)),
            Action::Ordered(6, None),
        ] {
            let encoded = action.encode();
            assert!(encoded.len() <= MAX_ACTION_BYTES, "{encoded}");
            assert_eq!(Action::decode(&encoded), Some(action));
        }
    }

    #[test]
    fn replies_round_trip_through_json() {
        let reply = Reply::text("Following RB123456785CN.")
            .with(Block::Title("Status".to_owned()))
            .with(Block::Bullets(vec!["one".to_owned(), "two".to_owned()]))
            .with(Block::Quote("copy me".to_owned()))
            .with_buttons(vec![
                Button::new("Status", Action::Status(42)),
                Button::new("Forget", Action::ForgetConfirm),
            ]);
        let json = serde_json::to_string(&reply).unwrap_or_default();
        assert!(json.contains("\"s:42\""), "{json}");
        assert_eq!(serde_json::from_str::<Reply>(&json).ok(), Some(reply));
        assert!(serde_json::from_str::<Action>("\"z:1\"").is_err());
    }

    #[test]
    fn foreign_callback_data_is_refused() {
        for data in [
            "",
            "s:",
            "s:-1",
            "s:abc",
            "t:RB1;DROP",
            "z:1",
            "fyy",
            "o:1",
            "o:1:999",
            "o:1:-1",
            "o:x:7",
            &"t:".repeat(40),
        ] {
            assert_eq!(Action::decode(data), None, "{data}");
        }
    }
}
