//! The engine: watches every subscribed parcel so the buyer does not have to.
//!
//! One [`Engine::tick`] polls the numbers that are due (leased, so instances sharing a
//! database never poll one number twice), merges what the providers return into the
//! parcel's timeline, queues messages for the subscribers in the same transaction
//! (stage changes, handoffs, a silence crossing into `act`), links and schedules new
//! last-mile numbers, queues buyer-protection reminders, and dispatches the outbox.
//! Everything reads time from the [`Clock`] it is given, so tests run months of a
//! parcel's life in simulated time.
//!
//! Layout:
//! - this module: [`Engine`], polling, ingest and reminders;
//! - [`cadence`]: when a number is polled next, by stage;
//! - [`notice`]: the messages queued in the outbox and how they are rendered;
//! - [`notify`]: the [`Notifier`](notify::Notifier) port the chat adapters implement;
//! - [`dispatch`]: sending the outbox within the platforms' limits.

pub mod cadence;
pub mod dispatch;
mod expected;
pub mod notice;
pub mod notify;

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

use crate::clock::{Clock, Saturating};
use crate::interpret::journey;
use crate::interpret::judge::{self, SilenceVerdict};
use crate::interpret::{AssessInput, Assessment, DeliveryReport, Event, Stage, assess};
use crate::number::{TrackingNumber, recognise};
use crate::provider::{NumberResult, ProviderError, Providers};
use crate::store::{DueNumber, NewNumber, ParcelId, PollRecord, Store, StoreError, SubscriptionView};
use dispatch::{DispatchSettings, DispatchStats, Dispatcher};
use notice::Notification;
use notify::Notifier;

/// How the engine behaves (from the `[engine]` configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// This instance's name in leases (unique per running instance).
    pub owner: String,
    /// Numbers leased per polling round.
    pub poll_batch: i64,
    /// How long a leased number is reserved; a crashed instance's leases expire after it.
    pub lease_for: Duration,
    /// Days before the buyer-protection deadline at which to remind, e.g. `[7, 3, 1]`.
    pub reminder_days: Vec<i64>,
    /// When every provider failed for a number, poll it again after this long.
    pub failure_retry: Duration,
    /// Seed of the jitter (fixed in tests for exact schedules).
    pub jitter_seed: u64,
    /// The dispatcher's behaviour.
    pub dispatch: DispatchSettings,
}

impl Default for EngineSettings {
    fn default() -> EngineSettings {
        EngineSettings {
            owner: format!("engine-{}", std::process::id()),
            poll_batch: 200,
            lease_for: Duration::minutes(5),
            reminder_days: vec![7, 3, 1],
            failure_retry: Duration::minutes(30),
            jitter_seed: 0x5eed,
            dispatch: DispatchSettings::default(),
        }
    }
}

/// Where the simulated carrier's buyer lives, for the console demo: a number gets the
/// home its simulated journey goes to, so that "delivered elsewhere" means something
/// for a chat that has not said where it lives.
pub type DemoHome = fn(&TrackingNumber) -> (&'static str, &'static str);

/// What one chat knows about its order, for judging a parcel for that chat.
#[derive(Debug, Clone, Default)]
pub struct BuyerFacts {
    /// When buyer protection ends.
    pub protection_ends: Option<DateTime<Utc>>,
    /// When the buyer ordered.
    pub ordered_at: Option<DateTime<Utc>>,
    /// When the buyer first asked about the parcel (subscribed).
    pub asked_at: Option<DateTime<Utc>>,
    /// Where the buyer lives.
    pub destination: Option<crate::interpret::Destination>,
}

/// Why the engine stopped a round.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one polling round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Numbers leased and polled.
    pub polled: usize,
    /// Numbers for which every provider failed (retried later).
    pub failed: usize,
    /// New events stored.
    pub new_events: usize,
    /// Notices queued (per parcel, before fan-out to subscribers).
    pub notices: usize,
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickStats {
    /// Polling.
    pub poll: PollStats,
    /// Reminders queued.
    pub reminders: usize,
    /// Dispatching.
    pub dispatch: DispatchStats,
}

/// The engine.
pub struct Engine<S, C> {
    store: Arc<S>,
    providers: Providers,
    clock: C,
    settings: EngineSettings,
    dispatcher: Dispatcher<S>,
    jitter: Mutex<fastrand::Rng>,
    /// When the last tick finished (epoch milliseconds on the engine's clock; 0: never),
    /// for the readiness probe.
    last_tick: AtomicI64,
}

impl<S, C> std::fmt::Debug for Engine<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.settings.owner)
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

/// A provider's delivery estimate moving by more than this many days is pushed.
const ETA_MOVE_DAYS: i64 = 2;

/// Whether a stage is one the buyer waits through without doing anything.
fn silence_is_advisable(stage: Option<Stage>) -> bool {
    !matches!(
        stage,
        Some(Stage::Delivered | Stage::Returning | Stage::Exception)
    )
}

/// The next step to advise for a parcel silent too long at `stage`.
fn advice_step(stage: Option<Stage>) -> &'static str {
    match stage {
        Some(Stage::CustomsHeld) => "next.pay_duties",
        Some(Stage::PickupAvailable) => "next.collect",
        Some(Stage::LineHaul | Stage::Export) => "next.extend_or_dispute",
        _ => "next.message_seller",
    }
}

impl<S: Store, C: Clock> Engine<S, C> {
    /// An engine over `store`, asking `providers`, living in `clock`'s time and sending
    /// through `notifiers` (one per platform it serves).
    pub fn new(
        store: Arc<S>,
        providers: Providers,
        clock: C,
        notifiers: Vec<Arc<dyn Notifier>>,
        settings: EngineSettings,
    ) -> Engine<S, C> {
        let dispatcher = Dispatcher::new(
            Arc::clone(&store),
            settings.owner.clone(),
            notifiers,
            settings.dispatch,
        );
        let jitter = Mutex::new(fastrand::Rng::with_seed(settings.jitter_seed));
        Engine {
            store,
            providers,
            clock,
            settings,
            dispatcher,
            jitter,
            last_tick: AtomicI64::new(0),
        }
    }

    /// When [`Engine::run`] last finished a tick without error, if it has.
    pub fn last_tick(&self) -> Option<DateTime<Utc>> {
        match self.last_tick.load(Ordering::Relaxed) {
            0 => None,
            millis => DateTime::from_timestamp_millis(millis),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The providers.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// One tick: poll until nothing is due, queue reminders, and dispatch the outbox.
    ///
    /// # Errors
    /// [`EngineError`] when the store fails; the next tick carries on where it stopped.
    pub async fn tick(&self) -> Result<TickStats, EngineError> {
        let mut stats = TickStats::default();
        // Bounded, so that a huge backlog does not starve reminders and dispatch.
        for _ in 0..50 {
            let round = self.poll_due().await?;
            stats.poll.polled += round.polled;
            stats.poll.failed += round.failed;
            stats.poll.new_events += round.new_events;
            stats.poll.notices += round.notices;
            if round.polled < usize::try_from(self.settings.poll_batch).unwrap_or(usize::MAX) {
                break;
            }
        }
        stats.reminders = self.remind().await?;
        for _ in 0..50 {
            let round = self.dispatcher.dispatch_once(self.clock.now()).await?;
            stats.dispatch.sent += round.sent;
            stats.dispatch.deferred += round.deferred;
            stats.dispatch.retried += round.retried;
            stats.dispatch.dead += round.dead;
            stats.dispatch.unreachable += round.unreachable;
            if round == DispatchStats::default() {
                break;
            }
        }
        Ok(stats)
    }

    /// Ticks every `every` of real time until `shutdown` completes; a failed tick is
    /// logged and retried at the next one. A tick that had to put messages back for a
    /// limit (one message per second to a chat, a platform's pause) is followed by
    /// another after a second, so that queued messages and replies a platform refused
    /// for a moment go out when allowed rather than at the next tick.
    pub async fn run(&self, every: std::time::Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let soon = every.min(std::time::Duration::from_secs(1));
        loop {
            let started = tokio::time::Instant::now();
            let next = match self.tick().await {
                Ok(stats) => {
                    crate::ops::telemetry::tick(started.elapsed(), Some(stats.poll.polled));
                    self.last_tick
                        .store(self.clock.now().timestamp_millis(), Ordering::Relaxed);
                    if stats.dispatch.deferred > 0 { soon } else { every }
                }
                Err(error) => {
                    crate::ops::telemetry::tick(started.elapsed(), None);
                    tracing::error!(error = %crate::ops::Chain(&error), "engine tick failed");
                    every
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(next) => {}
            }
        }
    }

    /// One polling round: leases up to `poll_batch` due numbers, asks the providers (in
    /// each provider's batch size, all providers at once), and records each result.
    ///
    /// # Errors
    /// [`EngineError`] when the store fails.
    pub async fn poll_due(&self) -> Result<PollStats, EngineError> {
        let now = self.clock.now();
        let due = self
            .store
            .lease_due_numbers(
                &self.settings.owner,
                now,
                self.settings.lease_for,
                self.settings.poll_batch,
            )
            .await?;
        let mut stats = PollStats::default();
        if due.is_empty() {
            return Ok(stats);
        }
        let mut valid: Vec<(DueNumber, TrackingNumber)> = Vec::with_capacity(due.len());
        for number in due {
            match TrackingNumber::parse(&number.number) {
                Ok(parsed) => valid.push((number, parsed)),
                Err(_) => {
                    // Stored numbers were parsed before; one that no longer parses (a
                    // format withdrawn) is not polled again rather than failing forever.
                    tracing::warn!(number = %number.number, "stored number no longer parses; not polled again");
                    self.store.record_poll(quiet_record(&number, None), now).await?;
                }
            }
        }
        let numbers: Vec<TrackingNumber> = valid.iter().map(|(_, n)| n.clone()).collect();
        let results = self.providers.fetch(&numbers).await;
        // One transaction for the round. Two numbers of one parcel are not judged from
        // the same stale history: the batch is written before the second is judged.
        let mut batch: Vec<PollRecord> = Vec::new();
        for ((due, _), result) in valid.iter().zip(&results) {
            if batch.iter().any(|record| record.parcel == due.parcel) {
                stats.new_events += self.write_batch(&mut batch, now).await?;
            }
            let (record, outcome) = self.judge_poll(due, result, now, true).await?;
            batch.push(record);
            stats.polled += 1;
            stats.failed += usize::from(outcome.failed);
            stats.notices += outcome.notices;
        }
        stats.new_events += self.write_batch(&mut batch, now).await?;
        Ok(stats)
    }

    /// Ingests news a provider pushed (a webhook) for `number`, through the same path
    /// as a poll: merged, judged, notices queued, next poll rescheduled. Returns
    /// `false` when nobody watches the number (the push is then ignored).
    ///
    /// # Errors
    /// [`EngineError`] when the store fails.
    pub async fn ingest_pushed(
        &self,
        number: &str,
        provider: &'static str,
        lookup: crate::provider::Lookup,
    ) -> Result<bool, EngineError> {
        let Ok(parsed) = TrackingNumber::parse(number) else {
            return Ok(false);
        };
        let Some(due) = self.store.watched_number(parsed.as_str()).await? else {
            return Ok(false);
        };
        let result = NumberResult {
            number: parsed,
            answers: vec![(provider, Ok(lookup))],
        };
        self.ingest(&due, &result, self.clock.now(), true).await?;
        Ok(true)
    }

    /// Fetches every number of a parcel now and records the result without queueing
    /// messages (the chat that asked sees the answer in its reply). Returns whether any
    /// provider answered.
    ///
    /// # Errors
    /// [`EngineError`] when the store fails.
    pub async fn refresh(&self, view: &SubscriptionView) -> Result<bool, EngineError> {
        let now = self.clock.now();
        let numbers: Vec<TrackingNumber> = view
            .numbers
            .iter()
            .filter_map(|n| TrackingNumber::parse(n).ok())
            .collect();
        let results = self.providers.fetch(&numbers).await;
        let mut answered = false;
        let mut stage = view.stage;
        let mut last_event_at = view.last_event_at;
        for result in &results {
            let due = DueNumber {
                number: result.number.as_str().to_owned(),
                parcel: view.parcel,
                stage,
                last_event_at,
                tracked_since: view.created_at,
                superseded: false,
                // A quiet first look queues nothing, so the previous estimate is not needed.
                facts: crate::interpret::SourceFacts::default(),
            };
            let outcome = self.ingest(&due, result, now, false).await?;
            answered |= !outcome.failed;
            stage = outcome.stage;
            last_event_at = outcome.last_event_at;
        }
        Ok(answered)
    }

    /// Uses `home` as the buyer's address in pushes to chats that have not set one
    /// (console demo).
    #[must_use]
    pub fn with_demo_home(mut self, home: DemoHome) -> Engine<S, C> {
        self.dispatcher.set_demo_home(home);
        self
    }

    /// Judges a parcel from what the store holds, for a chat with its own facts.
    ///
    /// # Errors
    /// [`EngineError`] when the store fails.
    pub async fn assess_parcel(
        &self,
        parcel: ParcelId,
        protection_ends: Option<DateTime<Utc>>,
        destination: Option<crate::interpret::Destination>,
    ) -> Result<(Assessment, Vec<Event>), EngineError> {
        self.assess_for(
            parcel,
            &BuyerFacts {
                protection_ends,
                destination,
                ..BuyerFacts::default()
            },
        )
        .await
    }

    /// Judges a parcel from what the store holds, for a buyer's `facts`.
    ///
    /// # Errors
    /// [`EngineError`] when the store fails.
    pub async fn assess_for(
        &self,
        parcel: ParcelId,
        facts: &BuyerFacts,
    ) -> Result<(Assessment, Vec<Event>), EngineError> {
        let numbers = self.store.parcel_numbers(parcel).await?;
        let events = self.store.parcel_events(parcel).await?;
        let origin = numbers
            .iter()
            .find(|n| n.linked_from.is_none())
            .or(numbers.first())
            .map(|n| n.number.clone())
            .unwrap_or_default();
        let linked = numbers
            .iter()
            .filter(|n| n.linked_from.is_some())
            .map(|n| crate::provider::LinkedNumber {
                number: n.number.clone(),
                carrier: Some(n.carrier.clone()),
            })
            .collect();
        let tracked_since = numbers.first().map(|n| n.created_at);
        // What the sources said of the first number (the one the buyer gave) counts
        // while the parcel has no events; once it moves, events speak.
        let sources = numbers
            .iter()
            .find(|n| n.linked_from.is_none())
            .map(|n| n.facts.clone())
            .unwrap_or_default();
        let assessment = assess(AssessInput {
            number: origin,
            now: self.clock.now().fixed_offset(),
            ordered_at: facts.ordered_at.map(|t| t.fixed_offset()),
            shipped_at: events
                .is_empty()
                .then_some(tracked_since)
                .flatten()
                .map(|t| t.fixed_offset()),
            destination: facts.destination.clone(),
            protection_ends: facts.protection_ends.map(|t| t.fixed_offset()),
            asked_at: facts.asked_at.map(|t| t.fixed_offset()),
            events: events.clone(),
            linked_numbers: linked,
            sources,
        });
        Ok((assessment, events))
    }

    /// Records one number's fetch result: merges new events, judges the parcel, queues
    /// the notices (when `notify`), links handoff numbers and schedules the next poll,
    /// all in one store transaction.
    /// Writes the batched records in one transaction; returns the new events.
    async fn write_batch(
        &self,
        batch: &mut Vec<PollRecord>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let written = self.store.record_polls(std::mem::take(batch), now).await?;
        Ok(written.iter().sum())
    }

    /// Ingests one fetch result now (one transaction).
    async fn ingest(
        &self,
        due: &DueNumber,
        result: &NumberResult,
        now: DateTime<Utc>,
        notify: bool,
    ) -> Result<IngestOutcome, StoreError> {
        let (record, outcome) = self.judge_poll(due, result, now, notify).await?;
        self.store.record_poll(record, now).await?;
        Ok(outcome)
    }

    /// What one fetch result means for the store: the events to add, the stage, the
    /// next poll, handoff links and notices, as a record to write.
    async fn judge_poll(
        &self,
        due: &DueNumber,
        result: &NumberResult,
        now: DateTime<Utc>,
        notify: bool,
    ) -> Result<(PollRecord, IngestOutcome), StoreError> {
        let invalid_by = result.invalid_by();
        if !invalid_by.is_empty() {
            // The source says the number itself is invalid: asking again cannot help. The
            // number is not polled any more, and its subscribers are told once (the
            // notice's key is the number's).
            // Unlike other news this is queued on a quiet first look too: the reply to
            // `/track` does not say it, and the number is never polled again to say it later.
            let mut record = quiet_record(due, None);
            record.facts = Some(result.facts());
            let notification = Notification::InvalidNumber {
                number: due.number.clone(),
                sources: invalid_by.iter().map(|name| (*name).to_owned()).collect(),
            };
            record
                .notices
                .push(notification.to_notice(format!("invalid:{}", due.number)));
            tracing::info!(number = %due.number, sources = ?invalid_by, "a source says the number is invalid; not polled again");
            let outcome = IngestOutcome {
                failed: false,
                notices: record.notices.len(),
                stage: due.stage,
                last_event_at: due.last_event_at,
            };
            return Ok((record, outcome));
        }
        if !result.any_answer() {
            let wait = retry_delay(result, self.settings.failure_retry);
            let record = quiet_record(due, Some(now.plus(cadence::spread(wait, self.jitter()))));
            return Ok((
                record,
                IngestOutcome {
                    failed: true,
                    stage: due.stage,
                    last_event_at: due.last_event_at,
                    ..IngestOutcome::default()
                },
            ));
        }
        let fetched: Vec<Event> = result
            .found()
            .flat_map(|(_, shipment)| shipment.events.iter().cloned())
            .collect();
        let linked: Vec<crate::provider::LinkedNumber> = result
            .found()
            .flat_map(|(_, shipment)| shipment.linked_numbers.iter().cloned())
            .collect();
        // Sources append to a history: nothing newer than the stored last event means
        // nothing to merge (a number named without a new event is linked with the next
        // one). Without this, every poll of an origin number after its handoff, whose
        // events name the new number, would reread and rejudge the whole parcel.
        let newest = fetched.iter().map(|e| e.time.to_utc()).max();
        let has_news = match (newest, due.last_event_at) {
            (Some(newest), Some(known)) => newest > known,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut record = PollRecord {
            number: due.number.clone(),
            parcel: due.parcel,
            events: Vec::new(),
            stage: due.stage,
            last_event_at: due.last_event_at,
            next_poll_at: None,
            links: Vec::new(),
            notices: Vec::new(),
            parcel_changed: false,
            facts: Some(result.facts()),
        };
        let mut origin = due.number.clone();
        if has_news {
            // The full path: the parcel's whole history, judged again.
            let known = self.store.parcel_numbers(due.parcel).await?;
            if let Some(first) = known.iter().find(|n| n.linked_from.is_none()) {
                origin.clone_from(&first.number);
            }
            let stored = self.store.parcel_events(due.parcel).await?;
            // Only what the store does not hold yet is written (sources send the whole
            // history each time).
            let new: Vec<Event> = fetched
                .into_iter()
                .filter(|event| !stored.iter().any(|known| same_event(known, event, &due.number)))
                .collect();
            let mut events = stored;
            events.extend(new.iter().cloned());
            // Kept for a delivery's report, which each chat checks against its order.
            let kept = notify.then(|| events.clone());
            let assessment = assess(AssessInput {
                number: origin.clone(),
                now: now.fixed_offset(),
                ordered_at: None,
                shipped_at: None,
                destination: None,
                protection_ends: None,
                asked_at: None,
                events,
                linked_numbers: linked,
                sources: result.facts(),
            });
            record.stage = assessment.stage.or(due.stage);
            record.last_event_at = assessment.last_event_at.max(due.last_event_at);
            if notify
                && let (Some(previous), Some(stage)) = (due.stage, assessment.stage)
                && previous != stage
            {
                let at = assessment.last_event_at;
                let delivery = matches!(stage, Stage::Delivered | Stage::PickupAvailable)
                    .then(|| kept.map(|events| DeliveryReport::of(events, &origin)))
                    .flatten();
                let notification = Notification::Stage {
                    number: origin.clone(),
                    stage,
                    at,
                    next_step: assessment.next_step.to_owned(),
                    delivery,
                };
                let key = format!(
                    "stage:{}:{}",
                    stage.as_code(),
                    at.map_or(0, |t| t.timestamp_millis())
                );
                record.notices.push(notification.to_notice(key));
            }
            for handoff in &assessment.handoff {
                if known.iter().any(|n| n.number == handoff.number) || handoff.number == due.number {
                    continue;
                }
                let Ok(number) = TrackingNumber::parse(&handoff.number) else {
                    tracing::info!(number = %handoff.number, "handoff number is not one we can track");
                    continue;
                };
                let carrier = handoff
                    .carrier
                    .clone()
                    .unwrap_or_else(|| number.carrier().to_owned());
                if notify {
                    let notification = Notification::Handoff {
                        number: origin.clone(),
                        new_number: number.as_str().to_owned(),
                        carrier: Some(carrier.clone()),
                    };
                    record
                        .notices
                        .push(notification.to_notice(format!("handoff:{}", number.as_str())));
                }
                record.links.push(NewNumber {
                    number,
                    carrier,
                    linked_from: origin.clone(),
                });
            }
            record.events = new;
        }
        let untracked = recognise(&origin).first().is_some_and(judge::is_untracked);
        let since = record.last_event_at.unwrap_or(due.tracked_since);
        let silence = judge::silence(record.stage, Some(since), untracked, now);
        let verdict = silence.map(|s| s.verdict);
        if notify
            && let Some(silence) = silence.filter(|s| s.verdict == SilenceVerdict::Act)
            && silence_is_advisable(record.stage)
        {
            let notification = Notification::Advice {
                number: origin.clone(),
                stage: record.stage,
                days: silence.days.floor() as i64,
                next_step: if record.stage.is_none() && result.facts().not_handed_over {
                    // Known to the carrier, never handed over: the seller has to ship.
                    "next.ask_seller_dispatch"
                } else {
                    advice_step(record.stage)
                }
                .to_owned(),
            };
            let key = format!(
                "advice:{}:{}",
                record.stage.map_or("none", Stage::as_code),
                since.timestamp_millis()
            );
            record.notices.push(notification.to_notice(key));
        }
        if notify
            && record.stage != Some(Stage::Delivered)
            && let Some(expected) =
                journey::eta_moved(due.facts.eta.as_ref(), result.facts().eta.as_ref(), ETA_MOVE_DAYS)
        {
            let notification = Notification::Expected {
                number: origin.clone(),
                earliest: expected.earliest,
                latest: expected.latest,
            };
            let key = format!(
                "expected:{}:{}",
                expected.earliest.timestamp_millis(),
                expected.latest.timestamp_millis()
            );
            record.notices.push(notification.to_notice(key));
        }
        record.parcel_changed = record.stage != due.stage || record.last_event_at != due.last_event_at;
        let superseded = due.superseded || !record.links.is_empty();
        record.next_poll_at =
            cadence::next_poll(due.stage, record.stage, verdict, superseded, now, self.jitter());
        let outcome = IngestOutcome {
            failed: false,
            notices: record.notices.len(),
            stage: record.stage,
            last_event_at: record.last_event_at,
        };
        Ok((record, outcome))
    }

    /// Queues buyer-protection reminders that are due: for each subscription whose
    /// deadline is within the largest reminder offset, the most urgent offset crossed
    /// (once per deadline and offset, whatever the number of ticks).
    ///
    /// # Errors
    /// [`EngineError`] when the store fails.
    pub async fn remind(&self) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let Some(largest) = self.settings.reminder_days.iter().copied().max() else {
            return Ok(0);
        };
        let until = now.plus(Duration::try_days(largest).unwrap_or(Duration::MAX));
        let mut due: Vec<(crate::store::ProtectionDue, Vec<&'static str>, bool)> = self
            .store
            .protection_due(now, until)
            .await?
            .into_iter()
            .map(|due| (due, Vec::new(), false))
            .collect();
        // A delivery the buyer did not confirm still needs the dispute when the buyer
        // says it did not arrive, or when it does not match the order.
        for delivered in self.store.delivered_protection_due(now, until).await? {
            if delivered.received == Some(false) {
                due.push((delivered.due, Vec::new(), true));
                continue;
            }
            let doubts = self.delivery_doubts_for(&delivered.due).await?;
            if !doubts.is_empty() {
                due.push((delivered.due, doubts, false));
            }
        }
        let mut queued = 0;
        for (subscription, doubts, not_received) in due {
            let left = subscription.ends - now;
            let Some(offset) = self
                .settings
                .reminder_days
                .iter()
                .copied()
                .filter(|days| Duration::try_days(*days).is_some_and(|offset| left <= offset))
                .min()
            else {
                continue;
            };
            let numbers = self.store.parcel_numbers(subscription.parcel).await?;
            let number = numbers.first().map(|n| n.number.clone()).unwrap_or_default();
            // Rounded to the nearest day: 26 hours left is "1 day", not "2 days".
            let days_left = ((left.num_seconds() + 43_200) / 86_400).max(1);
            let notification = Notification::Reminder {
                number,
                ends: subscription.ends,
                days_left,
                stage: subscription.stage,
                doubts: doubts.iter().map(|d| (*d).to_owned()).collect(),
                not_received,
            };
            let key = format!("reminder:{}:{offset}", subscription.ends.timestamp_millis());
            if self
                .store
                .enqueue(
                    subscription.chat,
                    Some(subscription.parcel),
                    &notification.to_notice(key),
                    now,
                )
                .await?
            {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Why a delivered parcel may not be the subscribed buyer's, from the chat's facts.
    async fn delivery_doubts_for(
        &self,
        due: &crate::store::ProtectionDue,
    ) -> Result<Vec<&'static str>, StoreError> {
        let settings = self.store.chat_settings(due.chat).await?;
        let views = self.store.subscriptions(due.chat).await?;
        let Some(view) = views.iter().find(|v| v.parcel == due.parcel) else {
            return Ok(Vec::new());
        };
        let order = self.dispatcher.order_facts(&settings, view);
        let origin = view.numbers.first().cloned().unwrap_or_default();
        let events = self.store.parcel_events(due.parcel).await?;
        let report = DeliveryReport::of(events, &origin);
        Ok(judge::delivery_doubts(&report.as_facts(), &order))
    }

    /// One dispatch round (see [`dispatch`]).
    ///
    /// # Errors
    /// [`EngineError`] when the store fails.
    pub async fn dispatch_once(&self) -> Result<DispatchStats, EngineError> {
        Ok(self.dispatcher.dispatch_once(self.clock.now()).await?)
    }

    /// Takes one message from `platform`'s overall per-second budget, the one the
    /// dispatcher uses (shared by every instance on the database), for a reply an
    /// adapter is about to send. `false` when this second's budget is spent.
    ///
    /// # Errors
    /// [`EngineError`] when the store fails.
    pub async fn take_send_slot(&self, platform: &str, per_second: u32) -> Result<bool, EngineError> {
        let window = self.clock.now().timestamp();
        Ok(self
            .store
            .take_send_slot(platform, window, i64::from(per_second))
            .await?)
    }

    /// Holds proactive messages to `platform` for `wait`, because the platform said so
    /// to an adapter's reply.
    pub fn pause_platform(&self, platform: &'static str, wait: std::time::Duration) {
        let until = self
            .clock
            .now()
            .plus(Duration::from_std(wait).unwrap_or(Duration::seconds(1)));
        self.dispatcher.pause(platform, until);
    }

    fn jitter(&self) -> f64 {
        self.jitter.lock().unwrap_or_else(PoisonError::into_inner).f64()
    }
}

/// What ingesting one result did.
#[derive(Debug, Clone, Copy, Default)]
struct IngestOutcome {
    failed: bool,
    notices: usize,
    stage: Option<Stage>,
    last_event_at: Option<DateTime<Utc>>,
}

/// Whether two events are the same row for the store (its unique key: number, time,
/// source, text); an event without a number is stored under the polled number.
fn same_event(stored: &Event, fetched: &Event, polled: &str) -> bool {
    stored.time == fetched.time
        && stored.text == fetched.text
        && stored.source == fetched.source
        && stored.number.as_deref() == Some(fetched.number.as_deref().unwrap_or(polled))
}

/// A poll record that changes nothing but the schedule.
fn quiet_record(due: &DueNumber, next_poll_at: Option<DateTime<Utc>>) -> PollRecord {
    PollRecord {
        number: due.number.clone(),
        parcel: due.parcel,
        events: Vec::new(),
        stage: due.stage,
        last_event_at: due.last_event_at,
        next_poll_at,
        links: Vec::new(),
        notices: Vec::new(),
        parcel_changed: false,
        facts: None,
    }
}

/// How long to wait after every provider failed: the longest retry-after a provider
/// asked for (at most a day), else `default`.
fn retry_delay(result: &NumberResult, default: Duration) -> Duration {
    result
        .answers
        .iter()
        .filter_map(|(_, answer)| match answer {
            Err(ProviderError::RateLimited {
                retry_after: Some(wait),
            }) => Duration::from_std(*wait).ok(),
            Err(ProviderError::QuotaExhausted) => Some(Duration::hours(6)),
            _ => None,
        })
        .max()
        .map_or(default, |wait| {
            wait.clamp(Duration::minutes(1), Duration::days(1))
        })
}
