//! The Discord adapter of the parcel bot.
//!
//! It will turn Discord interactions into core commands and core replies into Discord
//! messages (serenity), and deliver the core's proactive messages. It holds no logic of
//! its own: the conversation lives in `bot-core`. Until the conversation exists this
//! crate only names the platform it serves, so the workspace shape is in place.

/// The platform name this adapter registers chats under.
pub const PLATFORM: &str = "discord";
