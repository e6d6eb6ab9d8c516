//! Storage: the [`Store`] port and its SQL implementation for SQLite (embedded, the
//! default) and PostgreSQL (several instances sharing one database).
//!
//! What is stored: chats, parcels, their tracking numbers with the poll schedule and
//! leases, merged events, subscriptions (chat ↔ parcel), and the outbox of proactive
//! messages. All SQL of the bot lives under this module, with the migrations in
//! `migrations/{sqlite,postgres}`.
//!
//! Layout:
//! - this module: the port, its value types and [`StoreError`];
//! - [`sql`]: [`SqlStore`](sql::SqlStore), one implementation over `sqlx::Any` with the
//!   few dialect differences (leasing with `SKIP LOCKED`, `BEGIN IMMEDIATE`) switched
//!   on the dialect.

pub mod sql;

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use crate::interpret::{Event, Stage};
use crate::number::TrackingNumber;

pub use sql::{SqlStore, StoreCounts};

/// A chat on a platform, as the adapters name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatRef {
    platform: String,
    id: String,
}

impl ChatRef {
    /// A chat reference; `platform` is `telegram`, `discord` or `console`, `id` the
    /// platform's own id. Both are trimmed and must not be empty.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an empty platform or id, or one over 128 characters.
    pub fn new(platform: &str, id: &str) -> Result<ChatRef, StoreError> {
        let (platform, id) = (platform.trim(), id.trim());
        if platform.is_empty() || id.is_empty() || platform.len() > 32 || id.len() > 128 {
            return Err(StoreError::Invalid("a chat needs a platform and an id"));
        }
        Ok(ChatRef {
            platform: platform.to_owned(),
            id: id.to_owned(),
        })
    }

    /// The platform.
    pub fn platform(&self) -> &str {
        &self.platform
    }

    /// The platform's id of the chat.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The store's id of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatId(pub i64);

/// The store's id of a parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParcelId(pub i64);

/// The store's id of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub i64);

/// The result of subscribing a chat to a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// The new subscription.
    pub subscription: SubscriptionId,
    /// The parcel the number belongs to.
    pub parcel: ParcelId,
    /// Whether the parcel was new (no chat followed the number before).
    pub new_parcel: bool,
}

/// One of a chat's subscriptions, with what the store knows of the parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The parcel.
    pub parcel: ParcelId,
    /// The parcel's numbers, the first one subscribed first.
    pub numbers: Vec<String>,
    /// The chat's label for it.
    pub label: Option<String>,
    /// The stage last recorded.
    pub stage: Option<Stage>,
    /// When the newest event happened.
    pub last_event_at: Option<DateTime<Utc>>,
    /// The buyer-protection deadline the chat set.
    pub protection_ends: Option<DateTime<Utc>>,
    /// The person who tracked it (in a group chat), as the platform names them.
    pub user: Option<String>,
    /// When the chat subscribed.
    pub created_at: DateTime<Utc>,
    /// The platform update that created it ([`UpdateRef::key`]), when one did.
    pub created_by: Option<String>,
    /// When the buyer says they ordered.
    pub ordered_at: Option<DateTime<Utc>>,
    /// What the buyer said of the delivery: `Some(true)` "I got it", `Some(false)` "I did
    /// not receive it", `None` nothing yet.
    pub received: Option<bool>,
}

/// A platform update (a message or a button press), to handle it once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpdateRef {
    /// The platform (`telegram`, `discord`).
    pub platform: String,
    /// The platform's id of the update.
    pub id: String,
}

impl UpdateRef {
    /// `platform:id`, as effects record it.
    pub fn key(&self) -> String {
        format!("{}:{}", self.platform, self.id)
    }
}

/// A reply to queue in the outbox with the update it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedReply {
    /// Where it goes (the chat, or the person's own chat for a private answer from a
    /// group); created when the store does not know it yet.
    pub chat: ChatRef,
    /// The message, as JSON the dispatcher renders.
    pub payload: String,
}

/// A chat's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSettings {
    /// The store's id.
    pub id: ChatId,
    /// IANA time zone name (`Europe/Amsterdam`) or `UTC`.
    pub time_zone: String,
    /// ISO country code of the buyer's address.
    pub country: Option<String>,
    /// The buyer's city.
    pub city: Option<String>,
    /// Whether the platform still lets the bot write to the chat.
    pub reachable: bool,
    /// The shared channel the person last used the bot in, on platforms where the chat
    /// is a person (Discord).
    pub last_channel: Option<String>,
    /// The shared channel the person chose for updates instead of private messages.
    pub notify_channel: Option<String>,
}

/// A number of a parcel, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParcelNumber {
    /// The number.
    pub number: String,
    /// Its carrier.
    pub carrier: String,
    /// The number it was handed over from, for last-mile numbers.
    pub linked_from: Option<String>,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// What the sources last said about it besides events.
    pub facts: crate::interpret::SourceFacts,
}

/// A subscription whose buyer-protection deadline is near, for reminders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectionDue {
    /// The chat to remind.
    pub chat: ChatId,
    /// The parcel.
    pub parcel: ParcelId,
    /// The deadline.
    pub ends: DateTime<Utc>,
    /// The parcel's stage.
    pub stage: Option<Stage>,
}

/// A subscription to a delivered parcel whose buyer-protection deadline is near and
/// whose buyer has not confirmed the delivery: reminded when the delivery is doubtful.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredDue {
    /// The subscription's deadline.
    pub due: ProtectionDue,
    /// `Some(false)` when the buyer said it did not arrive.
    pub received: Option<bool>,
}

/// A handoff number to link to a parcel and poll from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNumber {
    /// The new number (valid: it was parsed).
    pub number: TrackingNumber,
    /// The carrier the source named, else the recognised one.
    pub carrier: String,
    /// The number it was handed over from.
    pub linked_from: String,
}

/// A number whose poll is due, leased to one engine instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNumber {
    /// The number.
    pub number: String,
    /// Its parcel.
    pub parcel: ParcelId,
    /// The parcel's stage last recorded.
    pub stage: Option<Stage>,
    /// When the parcel's newest stored event happened.
    pub last_event_at: Option<DateTime<Utc>>,
    /// When the parcel was first tracked.
    pub tracked_since: DateTime<Utc>,
    /// Whether the parcel was handed off from this number to another (the news now
    /// comes from the other one).
    pub superseded: bool,
    /// What the sources last said about this number besides events (the previous
    /// delivery estimate, to tell when it moves).
    pub facts: crate::interpret::SourceFacts,
}

/// One parcel for [`SqlStore::bulk_import`]: its number and what is known of it.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkParcel {
    /// The number.
    pub number: TrackingNumber,
    /// The stage already known.
    pub stage: Option<Stage>,
    /// When its newest known event happened.
    pub last_event_at: Option<DateTime<Utc>>,
}

/// A proactive message to queue for every chat subscribed to a parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What kind of message (`stage`, `handoff`, `advice`, `reminder`).
    pub kind: String,
    /// Unique per parcel and happening (`stage:delivered`); the chat is added to it, so
    /// a notice is queued at most once per chat whatever the retries.
    pub dedupe_key: String,
    /// The message, as JSON the dispatcher renders.
    pub payload: String,
}

/// What one poll of one number found, written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRecord {
    /// The number polled.
    pub number: String,
    /// Its parcel.
    pub parcel: ParcelId,
    /// The events the sources returned (already stored ones are ignored).
    pub events: Vec<Event>,
    /// The parcel's stage after merging.
    pub stage: Option<Stage>,
    /// When the newest event happened.
    pub last_event_at: Option<DateTime<Utc>>,
    /// When to poll the number next (`None`: never again).
    pub next_poll_at: Option<DateTime<Utc>>,
    /// Handoff numbers to link to the parcel, polled from `now` on.
    pub links: Vec<NewNumber>,
    /// Messages for every subscribed chat.
    pub notices: Vec<Notice>,
    /// Whether `stage` or `last_event_at` differ from what the store holds; when not,
    /// the parcel's row is left alone (most polls bring nothing new).
    pub parcel_changed: bool,
    /// What the sources said besides events, when they answered (`None`: keep what is
    /// stored, e.g. after a poll every source failed).
    pub facts: Option<crate::interpret::SourceFacts>,
}

/// A queued message, leased for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The row id.
    pub id: i64,
    /// The recipient.
    pub chat: ChatRef,
    /// The parcel it is about.
    pub parcel: Option<ParcelId>,
    /// Its kind.
    pub kind: String,
    /// The message, as JSON.
    pub payload: String,
    /// The chat's label for the parcel.
    pub label: Option<String>,
    /// The chat's time zone.
    pub time_zone: String,
    /// Earlier attempts to send it.
    pub attempts: i64,
    /// The chat's [`ChatSettings::last_channel`].
    pub last_channel: Option<String>,
    /// The chat's [`ChatSettings::notify_channel`].
    pub notify_channel: Option<String>,
}

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The chat already follows this parcel.
    #[error("already subscribed")]
    AlreadySubscribed,
    /// The thing asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A value the store cannot hold.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// Another process already uses this SQLite database (one writer per file).
    #[error(
        "the database {database} is in use by another parcelbot process; stop that process, or give this one its own data_dir"
    )]
    InUse {
        /// The database file.
        database: String,
    },
    /// The database failed.
    #[error("storage failed")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where the bot keeps everything. Every multi-step write is one transaction.
pub trait Store: Send + Sync + 'static {
    /// Finds or creates the chat.
    fn upsert_chat(
        &self,
        chat: &ChatRef,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ChatId, StoreError>> + Send;

    /// Subscribes `chat` to the parcel of `number`, creating the parcel and scheduling
    /// the number's first poll at `now` when nobody followed it yet.
    ///
    /// MUST return [`StoreError::AlreadySubscribed`] (and change nothing) when the chat
    /// already follows that parcel.
    fn subscribe(
        &self,
        chat: ChatId,
        number: &TrackingNumber,
        label: Option<&str>,
        user: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Subscribed, StoreError>> + Send {
        self.subscribe_for(chat, number, label, user, None, now)
    }

    /// [`Store::subscribe`] on behalf of a platform `update`: in the same transaction
    /// the update is marked handled (not yet answered) and the subscription records it
    /// (`created_by`), so that the replay of an update interrupted before its replies
    /// were queued recognises its own subscription.
    fn subscribe_for(
        &self,
        chat: ChatId,
        number: &TrackingNumber,
        label: Option<&str>,
        user: Option<&str>,
        update: Option<&UpdateRef>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Subscribed, StoreError>> + Send;

    /// The chat's id, without creating it; `None` for a chat the bot never saw.
    fn find_chat(&self, chat: &ChatRef) -> impl Future<Output = Result<Option<ChatId>, StoreError>> + Send;

    /// Remembers the shared channel the person last used the bot in.
    fn set_last_channel(
        &self,
        chat: ChatId,
        channel: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets (or, with `None`, clears) the channel updates go to instead of private
    /// messages.
    fn set_notify_channel(
        &self,
        chat: ChatId,
        channel: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The chat's settings. MUST return [`StoreError::NotFound`] for an unknown chat.
    fn chat_settings(&self, chat: ChatId) -> impl Future<Output = Result<ChatSettings, StoreError>> + Send;

    /// Sets the chat's time zone (an IANA name, checked by the caller).
    fn set_time_zone(
        &self,
        chat: ChatId,
        time_zone: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets the buyer's country (ISO code) and city.
    fn set_place(
        &self,
        chat: ChatId,
        country: Option<&str>,
        city: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks a chat reachable or not; messages to an unreachable chat wait.
    fn set_reachable(
        &self,
        chat: &ChatRef,
        reachable: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets (or clears) the buyer-protection deadline of the chat's subscription.
    /// MUST return [`StoreError::NotFound`] when the chat does not follow the parcel.
    fn set_protection(
        &self,
        chat: ChatId,
        parcel: ParcelId,
        ends: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets (or clears) when the buyer ordered the parcel.
    /// MUST return [`StoreError::NotFound`] when the chat does not follow the parcel.
    fn set_ordered(
        &self,
        chat: ChatId,
        parcel: ParcelId,
        ordered_at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets (or clears) the chat's label for the parcel (the conversation keeps labels
    /// unique per chat). MUST return [`StoreError::NotFound`] when the chat does not
    /// follow the parcel.
    fn set_label(
        &self,
        chat: ChatId,
        parcel: ParcelId,
        label: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records what the buyer said of the delivery (see [`SubscriptionView::received`]).
    /// MUST return [`StoreError::NotFound`] when the chat does not follow the parcel.
    fn set_received(
        &self,
        chat: ChatId,
        parcel: ParcelId,
        received: Option<bool>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Subscriptions with a protection deadline in `(from, to]` whose parcel is
    /// delivered and whose buyer has not said "I got it".
    fn delivered_protection_due(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<DeliveredDue>, StoreError>> + Send;

    /// The parcel's numbers, the originally tracked one first.
    fn parcel_numbers(
        &self,
        parcel: ParcelId,
    ) -> impl Future<Output = Result<Vec<ParcelNumber>, StoreError>> + Send;

    /// Every tracked number with no predecessor and when it was first stored (to resume
    /// the simulated carrier's journeys after a restart).
    fn origin_numbers(&self) -> impl Future<Output = Result<Vec<ParcelNumber>, StoreError>> + Send;

    /// How many subscriptions the chat started since `since` (ended ones included;
    /// the store keeps a week of them).
    fn subscriptions_since(
        &self,
        chat: ChatId,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Subscriptions with a protection deadline in `(from, to]` whose parcel is not
    /// delivered.
    fn protection_due(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<ProtectionDue>, StoreError>> + Send;

    /// Queues one message for one chat; a second notice with the same dedupe key for the
    /// same chat is ignored. Returns whether it was queued.
    fn enqueue(
        &self,
        chat: ChatId,
        parcel: Option<ParcelId>,
        notice: &Notice,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether the update was handled and answered already (a replay to ignore). An
    /// update whose effects were written but whose replies were not (a crash came in
    /// between) is not: its replay is handled again, and finds its effects.
    fn update_answered(&self, update: &UpdateRef) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// In one transaction: marks the update handled and answered, and queues its
    /// `replies` in the outbox in order (kind `reply`), leased to `owner` until
    /// `lease_until` so that the adapter sends them at once; the dispatcher sends
    /// whatever the adapter did not once the lease expires. Returns the rows' ids, or
    /// `None` (and changes nothing) when the update had been answered already (a
    /// replay handled at the same time).
    fn complete_update(
        &self,
        update: &UpdateRef,
        replies: &[QueuedReply],
        owner: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Vec<i64>>, StoreError>> + Send;

    /// Takes one message from the platform's shared budget for the one-second window
    /// starting at `window_start` (epoch seconds), if fewer than `limit` were taken.
    fn take_send_slot(
        &self,
        platform: &str,
        window_start: i64,
        limit: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The chat's subscriptions, oldest first.
    fn subscriptions(
        &self,
        chat: ChatId,
    ) -> impl Future<Output = Result<Vec<SubscriptionView>, StoreError>> + Send;

    /// Ends the chat's subscription to `parcel`; a parcel nobody follows any more stops
    /// being polled. MUST return [`StoreError::NotFound`] when there was none.
    fn unsubscribe(
        &self,
        chat: ChatId,
        parcel: ParcelId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Leases up to `limit` numbers due at `now` (including those whose lease expired)
    /// to `owner` until `now + lease_for`. Two owners never hold the same number.
    fn lease_due_numbers(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<DueNumber>, StoreError>> + Send;

    /// A number still watched (it has a next poll), with its parcel's state, for news a
    /// provider pushed; `None` for a number nobody follows or no longer polled.
    fn watched_number(
        &self,
        number: &str,
    ) -> impl Future<Output = Result<Option<DueNumber>, StoreError>> + Send;

    /// Writes a poll's result in one transaction: new events, the parcel's stage, the
    /// number's next poll (releasing its lease), and one outbox row per subscribed chat
    /// and notice. Returns how many events were new.
    fn record_poll(
        &self,
        record: PollRecord,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Several polls' results in one transaction (each as [`Store::record_poll`]
    /// writes it), for a polling round: one commit instead of one per number. The
    /// records MUST be of different parcels. Returns the new events per record.
    fn record_polls(
        &self,
        records: Vec<PollRecord>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<usize>, StoreError>> + Send;

    /// Every stored event of a parcel, oldest first.
    fn parcel_events(&self, parcel: ParcelId) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Leases up to `limit` unsent messages to reachable chats, available at `now`.
    fn lease_outbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboxMessage>, StoreError>> + Send;

    /// Marks a message delivered. Only call after the platform accepted it.
    fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Puts a leased message back, untouched, to be sent from `at` (a rate limit said
    /// not yet; this is not a failed attempt).
    fn defer(&self, id: i64, at: DateTime<Utc>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a failed attempt: the message is retried at `retry_at`, or dead-lettered
    /// when `retry_at` is `None`.
    fn mark_failed(
        &self,
        id: i64,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the chat and everything only it held (its subscriptions and queued
    /// messages); parcels nobody follows any more stop being polled.
    fn forget_chat(&self, chat: ChatId) -> impl Future<Output = Result<(), StoreError>> + Send;
}
