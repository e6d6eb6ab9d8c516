//! The parcel bot's core: everything that is not a chat platform.
//!
//! A buyer pastes a tracking number; the core recognises it, fetches and interprets the
//! carrier's events, judges whether a silence is normal, and keeps watching. Chat
//! adapters (Telegram, Discord, the console) only translate between their platform and
//! the core, so this crate never depends on a chat library.
//!
//! Layout:
//! - [`number`]: finding and recognising tracking numbers in pasted text (formats,
//!   carriers, check digits, typo repair);
//! - [`settings`]: typed configuration from `config/default.toml` and `PARCELBOT__*`
//!   environment variables.

pub mod number;
pub mod settings;
