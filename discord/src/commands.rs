//! The slash commands: their definitions (registered at start) and the translation of
//! an invocation back into the text command the core conversation reads.
//!
//! Every command of the conversation ([`COMMANDS`]) has a slash command with typed
//! options; options that name a parcel autocomplete from the person's own parcels.
//! Discord checks the option types and ranges before the bot sees them; the
//! conversation checks the rest (a date it cannot read gets a clear answer).

use bot_core::conversation::COMMANDS;
use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, ResolvedOption, ResolvedValue};

/// The option that names one of the person's parcels (autocompleted).
pub const PARCEL_OPTION: &str = "parcel";

/// Discord's longest command description.
const MAX_DESCRIPTION: usize = 100;

fn parcel_option(required: bool) -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::String,
        PARCEL_OPTION,
        "One of your parcels (its number or label)",
    )
    .required(required)
    .set_autocomplete(true)
    .max_length(100)
}

fn number_option() -> CreateCommandOption {
    CreateCommandOption::new(
        CommandOptionType::String,
        "number",
        "The tracking number, as printed (spaces and dashes are fine)",
    )
    .required(true)
    .min_length(6)
    .max_length(100)
}

/// The options of one command.
fn options(name: &str) -> Vec<CreateCommandOption> {
    match name {
        "track" => vec![
            number_option(),
            CreateCommandOption::new(
                CommandOptionType::String,
                "label",
                "A name for the parcel (headphones)",
            )
            .max_length(48),
        ],
        "fake" => vec![number_option()],
        "status" | "seller" | "evidence" | "journey" => vec![parcel_option(false)],
        "untrack" => vec![parcel_option(true)],
        "protect" => vec![
            parcel_option(true),
            CreateCommandOption::new(
                CommandOptionType::String,
                "date",
                "The day protection ends, from the order page (2026-12-24)",
            )
            .min_length(8)
            .max_length(10),
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "days",
                "Or: how many days of protection are left",
            )
            .min_int_value(0)
            .max_int_value(180),
        ],
        "country" => vec![
            CreateCommandOption::new(CommandOptionType::String, "country", "Your country (Spain, ES)")
                .required(true)
                .max_length(60),
            CreateCommandOption::new(CommandOptionType::String, "city", "Your city").max_length(60),
        ],
        "timezone" => vec![
            CreateCommandOption::new(
                CommandOptionType::String,
                "zone",
                "An IANA time zone (Europe/Madrid)",
            )
            .required(true)
            .max_length(64),
        ],
        "notify" => vec![
            CreateCommandOption::new(
                CommandOptionType::String,
                "where",
                "Where updates about your parcels go",
            )
            .required(true)
            .add_string_choice("here, in this server channel", "here")
            .add_string_choice("direct messages", "dm"),
        ],
        _ => Vec::new(),
    }
}

/// `/notify`, which only Discord has: the chat is a person who may also want updates in
/// a server channel.
const NOTIFY: (&str, &str) = ("notify", "Where updates go: here (this channel) or dm");

/// Every slash command, for registration.
pub fn definitions() -> Vec<CreateCommand> {
    COMMANDS
        .iter()
        .chain(std::iter::once(&NOTIFY))
        .map(|(name, description)| {
            let description: String = description.chars().take(MAX_DESCRIPTION).collect();
            CreateCommand::new(*name)
                .description(description)
                .set_options(options(name))
        })
        .collect()
}

/// The names of every slash command.
pub fn names() -> Vec<&'static str> {
    COMMANDS
        .iter()
        .chain(std::iter::once(&NOTIFY))
        .map(|(name, _)| *name)
        .collect()
}

/// The values of an invocation's options, as text (strings and integers; the commands
/// take no other kinds).
pub fn option_values<'a>(options: &[ResolvedOption<'a>]) -> Vec<(&'a str, String)> {
    options
        .iter()
        .filter_map(|option| match &option.value {
            ResolvedValue::String(text) => Some((option.name, (*text).to_owned())),
            ResolvedValue::Integer(number) => Some((option.name, number.to_string())),
            _ => None,
        })
        .collect()
}

/// The text command an invocation stands for (`/track RB123456785CN headphones`).
/// Values are put in the order the conversation reads them; free text loses line
/// breaks so one option cannot pose as another command.
pub fn as_text(name: &str, options: &[(&str, String)]) -> String {
    let value = |wanted: &str| -> Option<String> {
        options
            .iter()
            .find(|(option, _)| *option == wanted)
            .map(|(_, text)| text.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|text| !text.is_empty())
    };
    let mut words: Vec<String> = vec![format!("/{name}")];
    let order: &[&str] = match name {
        "track" => &["number", "label"],
        "fake" => &["number"],
        "protect" => &[PARCEL_OPTION, "date"],
        "country" => &["country", "city"],
        "timezone" => &["zone"],
        "notify" => &["where"],
        _ => &[PARCEL_OPTION],
    };
    words.extend(order.iter().filter_map(|option| value(option)));
    if name == "protect"
        && value("date").is_none()
        && let Some(days) = value("days")
    {
        words.push(format!("{days} days"));
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(name: &str, value: &str) -> (&'static str, String) {
        (name.to_owned().leak(), value.to_owned())
    }

    #[test]
    fn every_conversation_command_has_a_slash_command() {
        let names = names();
        for (name, _) in COMMANDS {
            assert!(names.contains(name), "{name}");
        }
        assert!(names.contains(&"notify"));
        let json = serde_json::to_value(definitions()).expect("json");
        for command in json.as_array().expect("list") {
            let description = command["description"].as_str().expect("description");
            assert!(!description.is_empty() && description.chars().count() <= 100);
        }
    }

    #[test]
    fn invocations_become_the_text_commands_the_conversation_reads() {
        assert_eq!(
            as_text(
                "track",
                &[
                    option("label", "new\nheadphones"),
                    option("number", "RB 1234 5678 5CN"),
                ]
            ),
            "/track RB 1234 5678 5CN new headphones"
        );
        assert_eq!(
            as_text(
                "protect",
                &[option(PARCEL_OPTION, "RB123456785CN"), option("days", "12"),]
            ),
            "/protect RB123456785CN 12 days"
        );
        assert_eq!(as_text("status", &[]), "/status");
        assert_eq!(as_text("help", &[]), "/help");
    }
}
