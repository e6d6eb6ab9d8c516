//! Core replies as Telegram messages: HTML (Telegram's `parse_mode=HTML`, with the three
//! characters it reserves escaped), split into messages of at most 4096 characters, and
//! buttons as an inline keyboard under the last part.
//!
//! Splitting happens between blocks, then between lines, then inside a line; a tag is
//! never cut in two because every piece is escaped and wrapped on its own.

use bot_core::reply::{Block, Reply};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// Telegram's limit on one message's text.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// One Telegram message of a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The HTML text.
    pub html: String,
    /// The buttons (only on the last part).
    pub keyboard: Option<InlineKeyboardMarkup>,
}

/// Escapes text for Telegram's HTML mode (`&`, `<`, `>`; quotes only matter inside
/// attributes, which the bot never writes from user text).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// The reply as Telegram messages of at most `limit` characters each, counted as
/// Telegram counts them: after the HTML is parsed (tags are free, `&amp;` is one), in
/// UTF-16 units.
pub fn parts(reply: &Reply, limit: usize) -> Vec<Part> {
    let mut pieces: Vec<Piece> = Vec::new();
    for block in &reply.blocks {
        pieces.extend(block_pieces(block, limit));
    }
    let mut messages: Vec<String> = Vec::new();
    let mut current = Piece::default();
    for piece in pieces {
        let separator = if current.html.is_empty() { 0 } else { 2 };
        if !current.html.is_empty() && current.visible + separator + piece.visible > limit {
            messages.push(std::mem::take(&mut current).html);
        }
        if !current.html.is_empty() {
            current.push("\n\n", 2);
        }
        current.push(&piece.html, piece.visible);
    }
    if !current.html.is_empty() || messages.is_empty() {
        messages.push(current.html);
    }
    let keyboard = keyboard(reply);
    let last = messages.len() - 1;
    messages
        .into_iter()
        .enumerate()
        .map(|(index, html)| Part {
            html,
            keyboard: if index == last { keyboard.clone() } else { None },
        })
        .collect()
}

/// The reply's buttons as an inline keyboard, or `None` without buttons.
pub fn keyboard(reply: &Reply) -> Option<InlineKeyboardMarkup> {
    if reply.buttons.is_empty() {
        return None;
    }
    Some(InlineKeyboardMarkup::new(reply.buttons.iter().map(|row| {
        row.iter()
            .map(|button| InlineKeyboardButton::callback(button.label.clone(), button.action.encode()))
            .collect::<Vec<_>>()
    })))
}

/// HTML and its length as Telegram counts it.
#[derive(Debug, Default)]
struct Piece {
    html: String,
    visible: usize,
}

impl Piece {
    fn push(&mut self, html: &str, visible: usize) {
        self.html.push_str(html);
        self.visible += visible;
    }
}

/// A block as HTML pieces of at most `limit` visible characters (usually one piece).
fn block_pieces(block: &Block, limit: usize) -> Vec<Piece> {
    let (open, close, lines): (&str, &str, Vec<String>) = match block {
        Block::Title(title) => ("<b>", "</b>", vec![title.clone()]),
        Block::Text(text) => ("", "", text.lines().map(str::to_owned).collect()),
        Block::Bullets(items) => ("", "", items.iter().map(|item| format!("• {item}")).collect()),
        // <pre> keeps line breaks and gives a one-tap copy in Telegram's apps.
        Block::Quote(text) => ("<pre>", "</pre>", text.lines().map(str::to_owned).collect()),
    };
    let room = limit.max(1);
    let mut pieces = Vec::new();
    let mut current = Piece::default();
    let close_piece = |current: Piece| Piece {
        html: format!("{open}{}{close}", current.html),
        visible: current.visible,
    };
    for line in lines {
        for chunk in escaped_chunks(&line, room) {
            if !current.html.is_empty() && current.visible + 1 + chunk.visible > room {
                pieces.push(close_piece(std::mem::take(&mut current)));
            }
            if !current.html.is_empty() {
                current.push("\n", 1);
            }
            current.push(&chunk.html, chunk.visible);
        }
    }
    if !current.html.is_empty() {
        pieces.push(close_piece(current));
    }
    pieces
}

/// `line` escaped and cut into pieces of at most `room` visible characters, never
/// inside an entity such as `&amp;` or a character.
fn escaped_chunks(line: &str, room: usize) -> Vec<Piece> {
    let mut chunks = Vec::new();
    let mut current = Piece::default();
    for c in line.chars() {
        let visible = c.len_utf16();
        if !current.html.is_empty() && current.visible + visible > room {
            chunks.push(std::mem::take(&mut current));
        }
        current.push(&escape(c.encode_utf8(&mut [0; 4])), visible);
    }
    if !current.html.is_empty() || chunks.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The length of `html` as Telegram counts it (tags free, entities one, UTF-16 units).
pub fn visible_len(html: &str) -> usize {
    let mut count = 0;
    let mut in_tag = false;
    let mut in_entity = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            '&' => {
                in_entity = true;
                count += 1;
            }
            ';' if in_entity => in_entity = false,
            _ if in_entity => {}
            _ => count += c.len_utf16(),
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use bot_core::reply::{Action, Button};

    #[test]
    fn markup_in_user_text_is_escaped() {
        let reply = Reply::text("label <b>gift</b> & \"more\"").with(Block::Title("Tom & Jerry".to_owned()));
        let parts = parts(&reply, MAX_MESSAGE_CHARS);
        assert_eq!(parts.len(), 1);
        assert_eq!(
            parts[0].html,
            "label &lt;b&gt;gift&lt;/b&gt; &amp; \"more\"\n\n<b>Tom &amp; Jerry</b>"
        );
        assert!(parts[0].keyboard.is_none());
    }

    #[test]
    fn long_replies_are_split_and_buttons_go_last() {
        let bullets: Vec<String> = (0..400)
            .map(|i| format!("event {i} <in transit> & more"))
            .collect();
        let reply = Reply::text("Timeline")
            .with(Block::Bullets(bullets))
            .with(Block::Quote("x".repeat(9000)))
            .with_buttons(vec![Button::new("Status", Action::Status(7))]);
        let parts = parts(&reply, MAX_MESSAGE_CHARS);
        assert!(parts.len() >= 4, "{} parts", parts.len());
        for part in &parts {
            assert!(visible_len(&part.html) <= MAX_MESSAGE_CHARS);
            assert_eq!(
                part.html.matches("<pre>").count(),
                part.html.matches("</pre>").count()
            );
            assert!(!part.html.ends_with('&'));
        }
        assert!(parts[..parts.len() - 1].iter().all(|p| p.keyboard.is_none()));
        let keyboard = parts.last().and_then(|p| p.keyboard.clone()).expect("keyboard");
        assert_eq!(keyboard.inline_keyboard.len(), 1);
        let joined: String = parts.iter().map(|p| p.html.as_str()).collect();
        assert_eq!(joined.matches("event ").count(), 400);
        assert_eq!(joined.matches('x').count(), 9000);
    }

    #[test]
    fn a_single_huge_word_is_cut_between_entities() {
        let reply = Reply::text("&".repeat(5000));
        let parts = parts(&reply, MAX_MESSAGE_CHARS);
        assert_eq!(parts.len(), 2);
        for part in &parts {
            assert!(visible_len(&part.html) <= MAX_MESSAGE_CHARS);
            assert_eq!(part.html.replace("&amp;", ""), "");
        }
    }

    #[test]
    fn length_is_counted_as_telegram_counts_it() {
        assert_eq!(visible_len("<b>a &amp; b</b>\n<pre>😀</pre>"), 8);
        let emoji = Reply::text("😀".repeat(3000));
        let parts = parts(&emoji, MAX_MESSAGE_CHARS);
        assert_eq!(parts.len(), 2, "3000 emoji are 6000 UTF-16 units");
        assert!(parts.iter().all(|p| visible_len(&p.html) <= MAX_MESSAGE_CHARS));
    }

    #[test]
    fn an_empty_reply_is_one_empty_part() {
        assert_eq!(parts(&Reply::default(), MAX_MESSAGE_CHARS).len(), 1);
    }
}
