//! The dispatcher: takes queued messages from the outbox and hands them to the
//! platforms' [`Notifier`]s within their limits.
//!
//! - Several pending messages for one chat and parcel go out as one. Replies to a
//!   person's message (kind [`REPLY_KIND`], queued by the conversation with the update
//!   they answer) go out one by one, as written.
//! - Replies are leased to the adapter that handled the update, which sends them at
//!   once; the dispatcher sends those it could not (a 429, a crash) once the lease ends.
//! - Limits: one message per second per chat, a group's per-minute limit, and the
//!   platform's overall per-second budget, which is counted in the store so that
//!   instances sharing a database share it instead of multiplying it.
//! - A message that cannot go yet is deferred, not failed; a transient failure is retried
//!   with exponential backoff and dead-lettered after `max_attempts`; retry-after pauses
//!   the platform; a permanent refusal marks the chat unreachable, and its messages wait
//!   (they go out if the chat talks to the bot again).
//! - At least once: a message is marked sent only after the platform took it. A crash in
//!   between sends it again when its lease expires; nothing is lost.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

use super::notice::{Notification, render_merged};
use super::notify::{Notifier, Recipient, SendError};
use crate::clock::Saturating;
use crate::interpret::judge::OrderFacts;
use crate::number::TrackingNumber;
use crate::reply::{Reply, format_date, format_time};
use crate::store::{ChatRef, ChatSettings, OutboxMessage, Store, StoreError, SubscriptionView};

/// The outbox kind of a reply to a platform update (its payload is a [`Reply`] as JSON).
pub const REPLY_KIND: &str = "reply";

/// How the dispatcher behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DispatchSettings {
    /// Attempts before a message is dead-lettered.
    pub max_attempts: i64,
    /// How long a leased message is reserved for this instance.
    pub lease_for: Duration,
    /// Messages leased per round.
    pub batch: i64,
    /// First retry delay after a transient failure (doubles per attempt).
    pub base_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

impl Default for DispatchSettings {
    fn default() -> DispatchSettings {
        DispatchSettings {
            max_attempts: 6,
            lease_for: Duration::seconds(60),
            batch: 100,
            base_backoff: Duration::seconds(30),
            max_backoff: Duration::hours(1),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchStats {
    /// Messages the platforms took (several outbox rows merged count once).
    pub sent: usize,
    /// Rows put back for later because of a limit.
    pub deferred: usize,
    /// Rows that failed and will be retried.
    pub retried: usize,
    /// Rows given up on.
    pub dead: usize,
    /// Chats found unreachable.
    pub unreachable: usize,
}

/// Recent sends, for the per-chat and per-group limits of this instance.
#[derive(Debug, Default)]
struct LocalBudget {
    recent: HashMap<ChatRef, VecDeque<DateTime<Utc>>>,
    paused_until: HashMap<&'static str, DateTime<Utc>>,
}

impl LocalBudget {
    /// When the chat may get its next message.
    fn chat_ready_at(
        &self,
        chat: &ChatRef,
        interval: Duration,
        group_limit: Option<u32>,
    ) -> Option<DateTime<Utc>> {
        let sends = self.recent.get(chat)?;
        let mut ready = sends.back().map(|last| last.plus(interval));
        if let Some(limit) = group_limit {
            let limit = limit as usize;
            if sends.len() >= limit {
                let oldest_in_window = sends[sends.len() - limit];
                let group_ready = oldest_in_window.plus(Duration::minutes(1));
                ready = ready.max(Some(group_ready));
            }
        }
        ready
    }

    fn record(&mut self, chat: &ChatRef, now: DateTime<Utc>) {
        let sends = self.recent.entry(chat.clone()).or_default();
        sends.push_back(now);
        while sends
            .front()
            .is_some_and(|t| *t <= now.minus(Duration::minutes(1)))
        {
            sends.pop_front();
        }
        if self.recent.len() > 10_000 {
            self.recent
                .retain(|_, sends| sends.back().is_some_and(|t| *t > now.minus(Duration::minutes(1))));
        }
    }
}

/// Sends the outbox.
pub struct Dispatcher<S> {
    store: Arc<S>,
    owner: String,
    notifiers: HashMap<&'static str, Arc<dyn Notifier>>,
    settings: DispatchSettings,
    budget: Mutex<LocalBudget>,
    demo_home: Option<super::DemoHome>,
}

impl<S> std::fmt::Debug for Dispatcher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("owner", &self.owner)
            .field("platforms", &self.notifiers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<S: Store> Dispatcher<S> {
    /// A dispatcher leasing as `owner` and sending through `notifiers`.
    pub fn new(
        store: Arc<S>,
        owner: impl Into<String>,
        notifiers: Vec<Arc<dyn Notifier>>,
        settings: DispatchSettings,
    ) -> Dispatcher<S> {
        Dispatcher {
            store,
            owner: owner.into(),
            notifiers: notifiers.into_iter().map(|n| (n.platform(), n)).collect(),
            settings,
            budget: Mutex::default(),
            demo_home: None,
        }
    }

    /// Uses `home` as the address of chats that have not set one (console demo).
    pub fn set_demo_home(&mut self, home: super::DemoHome) {
        self.demo_home = Some(home);
    }

    /// What a chat told about the order of the parcel it follows as `view`.
    pub fn order_facts(&self, settings: &ChatSettings, view: &SubscriptionView) -> OrderFacts {
        let (country, city) = if settings.country.is_some() {
            (settings.country.clone(), settings.city.clone())
        } else {
            view.numbers
                .first()
                .and_then(|n| TrackingNumber::parse(n).ok())
                .zip(self.demo_home)
                .map(|(number, home)| {
                    let (country, city) = home(&number);
                    (Some(country.to_owned()), Some(city.to_owned()))
                })
                .unwrap_or_default()
        };
        OrderFacts {
            ordered_at: view.ordered_at,
            shipped_at: None,
            country,
            city,
            protection_ends: view.protection_ends,
            asked_at: Some(view.created_at),
        }
    }

    /// The order facts of the chat a group of messages goes to, when one of them is
    /// about a delivery (the only messages that are checked against the order).
    async fn order_of(
        &self,
        message: &OutboxMessage,
        notifications: &[Notification],
    ) -> Result<OrderFacts, StoreError> {
        let about_delivery = notifications.iter().any(|n| {
            matches!(
                n,
                Notification::Stage {
                    delivery: Some(_),
                    ..
                }
            )
        });
        let (true, Some(parcel)) = (about_delivery, message.parcel) else {
            return Ok(OrderFacts::default());
        };
        let Some(chat) = self.store.find_chat(&message.chat).await? else {
            return Ok(OrderFacts::default());
        };
        let settings = self.store.chat_settings(chat).await?;
        let views = self.store.subscriptions(chat).await?;
        Ok(views
            .iter()
            .find(|view| view.parcel == parcel)
            .map(|view| self.order_facts(&settings, view))
            .unwrap_or_default())
    }

    /// Sends nothing to `platform` before `until` (it asked to slow down).
    pub fn pause(&self, platform: &'static str, until: DateTime<Utc>) {
        let mut budget = self.budget.lock().unwrap_or_else(PoisonError::into_inner);
        let paused = budget.paused_until.entry(platform).or_insert(until);
        *paused = (*paused).max(until);
    }

    /// One round at `now`: lease what is due, send what the limits allow, and put the
    /// rest back for the time they allow it.
    ///
    /// # Errors
    /// [`StoreError`] when the outbox cannot be read or updated; messages already sent in
    /// the round stay sent.
    pub async fn dispatch_once(&self, now: DateTime<Utc>) -> Result<DispatchStats, StoreError> {
        let leased = self
            .store
            .lease_outbox(&self.owner, now, self.settings.lease_for, self.settings.batch)
            .await?;
        let mut stats = DispatchStats::default();
        for group in group_by_chat_and_parcel(leased) {
            self.dispatch_group(&group, now, &mut stats).await?;
        }
        Ok(stats)
    }

    async fn dispatch_group(
        &self,
        group: &[OutboxMessage],
        now: DateTime<Utc>,
        stats: &mut DispatchStats,
    ) -> Result<(), StoreError> {
        let Some(first) = group.first() else {
            return Ok(());
        };
        let chat = &first.chat;
        let Some(notifier) = self.notifiers.get(chat.platform()) else {
            // Another instance may serve this platform; look again in a minute.
            return self.defer_all(group, now.plus(Duration::minutes(1)), stats).await;
        };
        let limits = notifier.limits();
        let recipient = Recipient {
            chat: chat.clone(),
            notify_channel: first.notify_channel.clone(),
            last_channel: first.last_channel.clone(),
            // The first row's id: a retry of the same group carries the same key.
            idempotency_key: format!("pb{}", first.id),
        };
        let is_group = notifier.is_group(&recipient);
        let ready_at = {
            let budget = self.budget.lock().unwrap_or_else(PoisonError::into_inner);
            let paused = budget
                .paused_until
                .get(chat.platform())
                .copied()
                .filter(|t| *t > now);
            let interval = Duration::from_std(limits.per_chat_interval).unwrap_or_default();
            let chat_ready = budget
                .chat_ready_at(chat, interval, is_group.then_some(limits.group_per_minute))
                .filter(|t| *t > now);
            paused.max(chat_ready)
        };
        if let Some(at) = ready_at {
            return self.defer_all(group, at, stats).await;
        }
        let window = now.timestamp();
        if !self
            .store
            .take_send_slot(chat.platform(), window, i64::from(limits.per_second))
            .await?
        {
            crate::ops::telemetry::send_limit_wait(notifier.platform());
            let next_window = DateTime::from_timestamp(window + 1, 0).unwrap_or(now);
            return self.defer_all(group, next_window, stats).await;
        }
        let reply = if first.kind == REPLY_KIND {
            serde_json::from_str::<Reply>(&first.payload).ok()
        } else {
            let notifications: Vec<Notification> = group
                .iter()
                .filter_map(|message| Notification::from_payload(&message.payload))
                .collect();
            if notifications.is_empty() {
                None
            } else {
                let time_zone = first.time_zone.clone();
                let order = self.order_of(first, &notifications).await?;
                Some(render_merged(
                    &notifications,
                    first.label.as_deref(),
                    first.parcel.map(|p| p.0),
                    is_group,
                    &|at| format_time(at, &time_zone),
                    &|at| format_date(at, &time_zone),
                    &order,
                ))
            }
        };
        let Some(reply) = reply else {
            for message in group {
                self.store
                    .mark_failed(message.id, None, "payload this version cannot read")
                    .await?;
                stats.dead += 1;
            }
            return Ok(());
        };
        let outcome = notifier.send(&recipient, &reply).await;
        self.budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(chat, now);
        match outcome {
            Ok(()) => {
                for message in group {
                    self.store.mark_sent(message.id, now).await?;
                }
                crate::ops::telemetry::message_sent(notifier.platform(), &first.kind);
                stats.sent += 1;
            }
            Err(SendError::RetryAfter(wait)) => {
                let until = now.plus(Duration::from_std(wait).unwrap_or(Duration::seconds(1)));
                self.pause(notifier.platform(), until);
                tracing::warn!(
                    platform = notifier.platform(),
                    ?wait,
                    "platform asked to slow down"
                );
                self.defer_all(group, until, stats).await?;
            }
            Err(SendError::Unreachable(reason)) => {
                tracing::info!(platform = chat.platform(), %reason, "chat unreachable; its messages wait");
                self.store.set_reachable(chat, false).await?;
                for message in group {
                    self.store.defer(message.id, now).await?;
                }
                stats.unreachable += 1;
            }
            Err(error @ (SendError::Transient(_) | SendError::Rejected(_))) => {
                let permanent = matches!(error, SendError::Rejected(_));
                for message in group {
                    let attempts = message.attempts + 1;
                    if permanent || attempts >= self.settings.max_attempts {
                        self.store
                            .mark_failed(message.id, None, &error.to_string())
                            .await?;
                        crate::ops::telemetry::message_failed(notifier.platform(), true);
                        stats.dead += 1;
                    } else {
                        let retry_at = now.plus(self.backoff(attempts));
                        self.store
                            .mark_failed(message.id, Some(retry_at), &error.to_string())
                            .await?;
                        crate::ops::telemetry::message_failed(notifier.platform(), false);
                        stats.retried += 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
        let delay = self.settings.base_backoff * 2_i32.saturating_pow(exponent);
        delay.min(self.settings.max_backoff)
    }

    async fn defer_all(
        &self,
        group: &[OutboxMessage],
        at: DateTime<Utc>,
        stats: &mut DispatchStats,
    ) -> Result<(), StoreError> {
        for message in group {
            self.store.defer(message.id, at).await?;
            stats.deferred += 1;
        }
        Ok(())
    }
}

/// Groups leased messages by chat and parcel, keeping the order of first appearance;
/// a reply is a group of its own.
fn group_by_chat_and_parcel(messages: Vec<OutboxMessage>) -> Vec<Vec<OutboxMessage>> {
    let mut groups: Vec<Vec<OutboxMessage>> = Vec::new();
    let mut index: HashMap<(ChatRef, Option<i64>, Option<i64>), usize> = HashMap::new();
    for message in messages {
        let reply = (message.kind == REPLY_KIND).then_some(message.id);
        let key = (message.chat.clone(), message.parcel.map(|p| p.0), reply);
        match index.get(&key) {
            Some(&position) => groups[position].push(message),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![message]);
            }
        }
    }
    groups
}
