//! Core replies as Discord messages: an embed where a reply has a title or structure
//! (timelines, verdicts, lists), plain content for one short sentence, buttons as
//! components, everything within Discord's limits.
//!
//! Limits kept (Discord's documentation): content 2000 characters; an embed title 256,
//! a description 4096, all embeds of a message 6000; a button label 80, a `custom_id`
//! 100, five buttons per row and five rows. A longer reply becomes several messages,
//! split between lines; buttons go with the last one. Text from users (labels) is
//! escaped so that it cannot format or mention anything.

use bot_core::reply::{Block, Reply};
use serenity::builder::{CreateActionRow, CreateButton, CreateEmbed};
use serenity::model::application::ButtonStyle;

/// Longest plain message content.
pub const MAX_CONTENT: usize = 2000;
/// Longest embed description.
pub const MAX_DESCRIPTION: usize = 4096;
/// Longest embed title.
pub const MAX_TITLE: usize = 256;
/// Longest button label.
pub const MAX_LABEL: usize = 80;
/// Longest `custom_id`.
pub const MAX_CUSTOM_ID: usize = 100;
/// Buttons per row and rows per message.
const MAX_BUTTONS: usize = 5;

/// The colour of the bot's embeds (a parcel-label orange).
const EMBED_COLOUR: u32 = 0x00E0_7A2F;

/// One Discord message of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Plain content (empty when the part is an embed).
    pub content: String,
    /// The embed's title and description, when the part is an embed.
    pub embed: Option<(Option<String>, String)>,
    /// Button rows: `(label, custom_id)`.
    pub buttons: Vec<Vec<(String, String)>>,
}

impl Part {
    /// The embed as serenity builds it.
    pub fn create_embed(&self) -> Option<CreateEmbed> {
        self.embed.as_ref().map(|(title, description)| {
            let embed = CreateEmbed::new().description(description).colour(EMBED_COLOUR);
            match title {
                Some(title) => embed.title(title),
                None => embed,
            }
        })
    }

    /// The button rows as serenity builds them.
    pub fn components(&self) -> Vec<CreateActionRow> {
        self.buttons
            .iter()
            .map(|row| {
                CreateActionRow::Buttons(
                    row.iter()
                        .map(|(label, id)| {
                            CreateButton::new(id.clone())
                                .label(label.clone())
                                .style(ButtonStyle::Secondary)
                        })
                        .collect(),
                )
            })
            .collect()
    }

    /// The characters Discord counts for this part (content, or title and description).
    pub fn visible_len(&self) -> usize {
        let embed = self.embed.as_ref().map_or(0, |(title, description)| {
            title.as_deref().map_or(0, |t| t.chars().count()) + description.chars().count()
        });
        self.content.chars().count() + embed
    }
}

/// Escapes Discord markdown in text that came from a user or a carrier.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut line_start = true;
    for c in text.chars() {
        let special = matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>')
            || (line_start && matches!(c, '#' | '-'));
        if special {
            out.push('\\');
        }
        out.push(c);
        line_start = c == '\n';
    }
    out
}

/// The lines of a reply's body as Discord markdown (titles after the first become bold
/// lines, bullets `•`, quotes code blocks for one-tap copying).
fn body_lines(reply: &Reply, skip_title: bool) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for (index, block) in reply.blocks.iter().enumerate() {
        if index > 0 && !lines.is_empty() {
            lines.push(String::new());
        }
        match block {
            Block::Title(_) if index == 0 && skip_title => {}
            Block::Title(title) => lines.push(format!("**{}**", escape(title))),
            Block::Text(text) => lines.extend(text.lines().map(escape)),
            Block::Bullets(items) => lines.extend(items.iter().map(|item| format!("• {}", escape(item)))),
            Block::Quote(text) => {
                // A code block shows text as is, so only its fence needs breaking.
                lines.push("```".to_owned());
                lines.extend(text.lines().map(|line| line.replace("```", "`\u{200b}``")));
                lines.push("```".to_owned());
            }
        }
    }
    lines
}

/// Cuts `text` to `max` characters.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Packs lines into chunks of at most `max` characters, breaking between lines (a line
/// longer than `max` is cut); a code block cut in two is closed and reopened.
fn chunks(lines: &[String], max: usize) -> Vec<String> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_code = false;
    for line in lines {
        let line = cut(line, max - 8);
        let needed = current.chars().count() + line.chars().count() + 1;
        if !current.is_empty() && needed + 4 > max {
            if in_code {
                current.push_str("\n```");
            }
            chunks.push(std::mem::take(&mut current));
            if in_code {
                current.push_str("```");
            }
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
        if line == "```" {
            in_code = !in_code;
        }
    }
    if !current.trim().is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The reply's buttons, within Discord's limits.
fn buttons(reply: &Reply) -> Vec<Vec<(String, String)>> {
    reply
        .buttons
        .iter()
        .flat_map(|row| row.chunks(MAX_BUTTONS))
        .take(MAX_BUTTONS)
        .map(|row| {
            row.iter()
                .map(|button| (cut(&button.label, MAX_LABEL), button.action.encode()))
                .filter(|(_, id)| id.len() <= MAX_CUSTOM_ID)
                .collect()
        })
        .collect()
}

/// The Discord messages of several replies, in order: a plain lead-in ("Following
/// …") and the embed after it become one message, so that an interaction's deferred
/// reply is edited into the whole answer rather than its first line.
pub fn messages(replies: &[&Reply]) -> Vec<Part> {
    let mut merged: Vec<Part> = Vec::new();
    for part in replies.iter().flat_map(|reply| parts(reply)) {
        match merged.last_mut() {
            Some(lead)
                if lead.embed.is_none()
                    && lead.buttons.is_empty()
                    && part.content.is_empty()
                    && part.embed.is_some() =>
            {
                lead.embed = part.embed;
                lead.buttons = part.buttons;
            }
            _ => merged.push(part),
        }
    }
    merged
}

/// The Discord messages of a reply, in order.
pub fn parts(reply: &Reply) -> Vec<Part> {
    let title = match reply.blocks.first() {
        Some(Block::Title(title)) => Some(cut(&escape(title), MAX_TITLE)),
        _ => None,
    };
    let plain = title.is_none() && matches!(reply.blocks.as_slice(), [Block::Text(_)]);
    let lines = body_lines(reply, title.is_some());
    let mut parts: Vec<Part> = if plain {
        chunks(&lines, MAX_CONTENT)
            .into_iter()
            .map(|content| Part {
                content,
                embed: None,
                buttons: Vec::new(),
            })
            .collect()
    } else {
        chunks(&lines, MAX_DESCRIPTION)
            .into_iter()
            .enumerate()
            .map(|(index, description)| Part {
                content: String::new(),
                embed: Some((title.clone().filter(|_| index == 0), description)),
                buttons: Vec::new(),
            })
            .collect()
    };
    if parts.is_empty() {
        parts.push(Part {
            content: title.unwrap_or_else(|| "…".to_owned()),
            embed: None,
            buttons: Vec::new(),
        });
    }
    if let Some(last) = parts.last_mut() {
        last.buttons = buttons(reply);
    }
    parts
}

#[cfg(test)]
mod tests {
    use bot_core::reply::{Action, Button};

    use super::*;

    #[test]
    fn a_short_sentence_is_plain_content_and_a_titled_reply_an_embed() {
        let plain = parts(&Reply::text("Nothing was deleted."));
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].content, "Nothing was deleted.");
        assert!(plain[0].embed.is_none());

        let reply = Reply::default()
            .with(Block::Title("RB104729000CN looks genuine.".to_owned()))
            .with(Block::Bullets(vec!["China Post, registered".to_owned()]))
            .with(Block::Quote("Hello, please extend\nthe protection".to_owned()))
            .with_buttons(vec![Button {
                label: "Is it fake?".to_owned(),
                action: Action::Fake("RB104729000CN".to_owned()),
            }]);
        let verdict = parts(&reply);
        assert_eq!(verdict.len(), 1);
        let (title, description) = verdict[0].embed.clone().expect("embed");
        assert_eq!(title.as_deref(), Some("RB104729000CN looks genuine."));
        assert!(description.contains("• China Post, registered"), "{description}");
        assert!(
            description.contains("```\nHello, please extend\nthe protection\n```"),
            "{description}"
        );
        assert_eq!(
            verdict[0].buttons,
            vec![vec![("Is it fake?".to_owned(), "f:RB104729000CN".to_owned())]]
        );
    }

    #[test]
    fn a_lead_in_sentence_and_the_embed_after_it_are_one_message() {
        let lead = Reply::text("Following headphones (RB104729000CN).");
        let status = Reply::default()
            .with(Block::Title("In customs".to_owned()))
            .with(Block::Text("Normal for up to 5 days.".to_owned()))
            .with_buttons(vec![Button {
                label: "Stop".to_owned(),
                action: Action::Stop(3),
            }]);
        let one = messages(&[&lead, &status]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].content, "Following headphones (RB104729000CN).");
        assert!(one[0].embed.is_some());
        assert_eq!(one[0].buttons.len(), 1);
        let two_sentences = messages(&[&lead, &Reply::text("Nothing was deleted.")]);
        assert_eq!(two_sentences.len(), 2, "plain sentences stay apart");
    }

    #[test]
    fn user_text_cannot_format_or_mention() {
        assert_eq!(escape("**big** <@&1> `x`"), r"\*\*big\*\* \<@&1\> \`x\`");
        assert_eq!(escape("# title\n- item"), "\\# title\n\\- item");
        assert_eq!(escape("a-b #1"), "a-b #1");
    }

    #[test]
    fn long_replies_split_between_lines_within_the_limits() {
        let items: Vec<String> = (0..400)
            .map(|i| format!("event number {i} at the sorting centre"))
            .collect();
        let reply = Reply::default()
            .with(Block::Title("Timeline".to_owned()))
            .with(Block::Bullets(items))
            .with_buttons(vec![Button {
                label: "Stop".to_owned(),
                action: Action::Stop(7),
            }]);
        let timeline = parts(&reply);
        assert!(timeline.len() > 1);
        for (index, part) in timeline.iter().enumerate() {
            let (title, description) = part.embed.clone().expect("embed");
            assert!(description.chars().count() <= MAX_DESCRIPTION);
            assert!(part.visible_len() <= 6000);
            assert_eq!(title.is_some(), index == 0);
            assert_eq!(part.buttons.is_empty(), index + 1 < timeline.len());
            assert!(description.lines().all(|line| line.starts_with("• event number")));
        }
        let plain_lines = (0..300)
            .map(|i| format!("line {i} "))
            .collect::<Vec<_>>()
            .join("\n");
        for part in parts_of_text(&plain_lines) {
            assert!(part.content.chars().count() <= MAX_CONTENT);
        }
    }

    fn parts_of_text(text: &str) -> Vec<Part> {
        parts(&Reply::text(text))
    }

    #[test]
    fn a_code_block_cut_in_two_is_closed_and_reopened() {
        let quote = (0..300)
            .map(|i| format!("evidence line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let reply = Reply::default()
            .with(Block::Title("Evidence".to_owned()))
            .with(Block::Quote(quote));
        for part in parts(&reply) {
            let (_, description) = part.embed.expect("embed");
            assert_eq!(description.matches("```").count() % 2, 0, "{description}");
        }
    }

    #[test]
    fn custom_ids_and_labels_fit() {
        let long_label = "x".repeat(200);
        let reply = Reply::text("pick").with_buttons(
            (0..7)
                .map(|i| Button {
                    label: long_label.clone(),
                    action: Action::Status(i + 1),
                })
                .collect(),
        );
        let picked = parts(&reply);
        let rows = &picked[0].buttons;
        assert_eq!(rows.len(), 2, "seven buttons make two rows");
        for (label, id) in rows.iter().flatten() {
            assert!(label.chars().count() <= MAX_LABEL);
            assert!(id.len() <= MAX_CUSTOM_ID);
        }
    }
}
