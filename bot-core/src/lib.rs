//! The parcel bot's core: everything that is not a chat platform.
//!
//! A buyer pastes a tracking number; the core recognises it, fetches and interprets the
//! carrier's events, judges whether a silence is normal, and keeps watching. Chat
//! adapters (Telegram, Discord, the console) only translate between their platform and
//! the core, so this crate never depends on a chat library.
//!
//! Layout:
//! - [`clock`]: the time the core runs in (system or simulated);
//! - [`number`]: finding and recognising tracking numbers in pasted text (formats,
//!   carriers, check digits, typo repair);
//! - [`interpret`]: events into one timeline, a stage, and judgements (silence,
//!   authenticity, buyer protection, next step);
//! - [`provider`]: tracking sources behind one port (Cainiao, 17TRACK, Ship24, the
//!   simulated carrier), routing, rate limits, retries and circuit breakers;
//! - [`store`]: the `Store` port and its SQL implementation (SQLite, PostgreSQL);
//! - [`conversation`]: every command, written once for all platforms;
//! - [`engine`]: polling on a stage-dependent cadence, ingest with a transactional
//!   outbox, handoffs, reminders, and dispatch through the adapters' `Notifier`s;
//! - [`reply`]: the platform-neutral reply model (text blocks and buttons);
//! - [`push`]: the 17TRACK and Ship24 webhooks (verified), into the engine's ingest;
//! - [`ops`]: what an operator sees: health and readiness probes, Prometheus metrics,
//!   and the hardened HTTP server of `http.listen`;
//! - [`track`]: one-shot tracking: fetch a number (and its handoffs) and judge it;
//! - [`messages`]: the message catalogue, keyed by id;
//! - [`settings`]: typed configuration from `config/default.toml` and `PARCELBOT__*`
//!   environment variables.

pub mod clock;
pub mod conversation;
pub mod engine;
pub mod interpret;
pub mod messages;
pub mod number;
pub mod ops;
pub mod picture;
pub mod provider;
pub mod push;
pub mod reply;
pub mod settings;
pub mod store;
pub mod track;
