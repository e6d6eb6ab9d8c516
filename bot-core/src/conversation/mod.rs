//! The conversation: every command a buyer can give, written once for all platforms.
//! An adapter turns a platform update into an [`Incoming`] and renders the [`Answer`]s;
//! the console, Telegram and Discord all hold the same conversation.
//!
//! Rules kept everywhere:
//! - bad input gets a clear answer and changes nothing;
//! - a platform update is handled once and answered at least once: its replies are
//!   queued in the outbox in the transaction that marks it answered
//!   ([`Conversation::handle_queued`]; the adapter sends them at once, the dispatcher
//!   when the adapter could not), its subscription records it, and a replay of an
//!   answered update is ignored (no double subscription, no double reply), while the
//!   replay of one a crash interrupted finds what it already did and answers;
//! - in a group chat numbers are masked, and a parcel's details go privately (whole) to
//!   the person who asked;
//! - limits per chat (active parcels, new numbers per day, commands per minute).
//!
//! Layout: this module handles commands; [`parse`] reads input; [`render`] builds the
//! longer replies (status, list, verdicts, messages for the seller, evidence).

mod journey;
pub mod parse;
pub mod render;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

use crate::clock::{Clock, Saturating};
use crate::engine::notice::doubt_sentences;
use crate::engine::{BuyerFacts, Engine};
use crate::interpret::judge::{OrderFacts, delivery_doubts};
use crate::interpret::{DeliveryReport, Destination};
use crate::number::{Outcome, Recognition, TrackingNumber};
use crate::reply::{Action, Block, Button, Reply, format_date, parse_time_zone};
use crate::store::{
    ChatId, ChatRef, ChatSettings, ParcelId, QueuedReply, Store, StoreError, SubscriptionView, UpdateRef,
};
use parse::{MAX_INPUT_CHARS, Parsed};

/// Limits per chat (from the `[limits]` configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLimits {
    /// Parcels followed at once.
    pub active_parcels: usize,
    /// New numbers tracked per 24 hours.
    pub new_numbers_per_day: i64,
    /// Commands per minute.
    pub commands_per_minute: usize,
}

impl Default for ChatLimits {
    fn default() -> ChatLimits {
        ChatLimits {
            active_parcels: 50,
            new_numbers_per_day: 30,
            commands_per_minute: 20,
        }
    }
}

/// What the user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A text message.
    Text(String),
    /// A button press, with the button's encoded [`Action`].
    Button(String),
}

/// One platform update, translated by an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The chat it came from.
    pub chat: ChatRef,
    /// The person (platform user id), when the platform says.
    pub user: Option<String>,
    /// Whether the chat is a group (several people).
    pub is_group: bool,
    /// The platform's id of the update, to ignore replays.
    pub update_id: Option<String>,
    /// Where the chat is a person (Discord), the shared channel the update came from;
    /// `None` in private messages and on platforms whose chats are places (Telegram).
    pub channel: Option<String>,
    /// What was sent.
    pub input: Input,
}

/// One reply and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The reply.
    pub reply: Reply,
    /// Only for the person who asked (a DM on Telegram, ephemeral on Discord), because
    /// it shows a parcel's details in a group.
    pub private: bool,
}

impl Answer {
    fn public(reply: Reply) -> Answer {
        Answer {
            reply,
            private: false,
        }
    }
}

/// How an adapter takes the replies of the updates it hands over
/// ([`Conversation::handle_queued`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The lease owner of the queued replies (this adapter, in this process).
    pub owner: String,
    /// How long the adapter has to send them before the dispatcher may.
    pub lease_for: Duration,
    /// Where private answers go when the update came from a group (the person's own
    /// chat with the bot); `None`: to the chat the update came from.
    pub private_chat: Option<ChatRef>,
}

/// An answer queued in the outbox, for the adapter to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedAnswer {
    /// The outbox row: mark it sent once the platform took it. `None` for an answer
    /// that could not be queued (a storage failure), sent once, as is.
    pub id: Option<i64>,
    /// Where it goes.
    pub chat: ChatRef,
    /// The answer.
    pub answer: Answer,
}

/// A parcel offered by a platform's autocomplete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParcelChoice {
    /// What the person sees (label, number, stage), at most 100 characters.
    pub name: String,
    /// What the command receives: the parcel's first number.
    pub value: String,
}

/// The platform whose chats are people with shared channels beside them (`/notify`).
const SHARED_CHANNEL_PLATFORM: &str = "discord";

pub use crate::engine::DemoHome;

/// The conversation over an engine.
pub struct Conversation<S, C> {
    engine: Arc<Engine<S, C>>,
    limits: ChatLimits,
    demo_home: Option<DemoHome>,
    recent_commands: Mutex<HashMap<ChatRef, VecDeque<DateTime<Utc>>>>,
    /// The last question asked each person in each chat, and when.
    pending: Mutex<HashMap<Asked, (Pending, DateTime<Utc>)>>,
}

/// A question the bot asked a chat, so that a plain reply ("15 days", "yes", "2 weeks
/// ago") answers it. Any other message forgets the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// "Are you sure?" after /forget.
    Forget,
    /// "Until when?" for a parcel's buyer protection.
    ProtectionDate(ParcelId),
    /// "When did you order it?"
    OrderDate(ParcelId),
}

/// Who was asked: the chat and the person in it.
type Asked = (ChatRef, Option<String>);

impl Pending {
    /// How long the question may be answered by a plain reply.
    fn lasts(self) -> Duration {
        match self {
            Pending::Forget => Duration::minutes(10),
            Pending::ProtectionDate(_) | Pending::OrderDate(_) => Duration::days(1),
        }
    }
}

/// Open questions kept at most (in memory); past it, a new question is asked without
/// remembering it (the buyer can still answer with the command).
const MAX_PENDING_QUESTIONS: usize = 100_000;

/// Numbers read from one message at most.
pub const MAX_NUMBERS_PER_MESSAGE: usize = 10;

/// Days a delivered parcel stays in `/list` after its delivery (then `/list all`).
const ARCHIVE_AFTER_DAYS: i64 = 7;

impl<S, C> std::fmt::Debug for Conversation<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The commands, for `/help` and the platforms' command menus: `(name, description)`.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "track",
        "Follow a parcel: /track <number> [label] (up to 10 numbers per message)",
    ),
    (
        "list",
        "Your parcels (/list all: with those delivered over a week ago)",
    ),
    ("status", "Where a parcel is: /status <number or label>"),
    (
        "ordered",
        "When you ordered: /ordered <parcel> <date or N days ago>",
    ),
    ("rename", "Rename a parcel: /rename <parcel> <new label>"),
    ("received", "You got the parcel: /received <parcel>"),
    ("untrack", "Stop following parcels: /untrack <numbers or label>"),
    ("fake", "Is this number fake? /fake <numbers>"),
    (
        "protect",
        "Buyer-protection deadline: /protect <parcel> <date or N days>",
    ),
    ("seller", "A message to send the seller about a parcel"),
    ("evidence", "Tracking history and facts for a dispute"),
    ("journey", "A picture of the journey: /journey <number or label>"),
    ("country", "Where you live: /country <country> [city]"),
    ("timezone", "Your time zone: /timezone Europe/Madrid"),
    ("forget", "Delete everything I know about this chat"),
    ("help", "What I can do"),
];

impl<S: Store, C: Clock> Conversation<S, C> {
    /// A conversation over `engine` with the chat `limits`.
    pub fn new(engine: Arc<Engine<S, C>>, limits: ChatLimits) -> Conversation<S, C> {
        Conversation {
            engine,
            limits,
            demo_home: None,
            recent_commands: Mutex::default(),
            pending: Mutex::default(),
        }
    }

    /// Uses `home` as the buyer's address when the chat has not set one (console demo).
    #[must_use]
    pub fn with_demo_home(mut self, home: DemoHome) -> Conversation<S, C> {
        self.demo_home = Some(home);
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine<S, C>> {
        &self.engine
    }

    /// Answers one update, for an adapter that sends the answers itself and cannot have
    /// them sent later (the console; Discord, whose interactions are answered in place
    /// and never redelivered). The update is marked handled. Never fails: a storage
    /// failure becomes an apology.
    pub async fn handle(&self, incoming: Incoming) -> Vec<Answer> {
        self.handle_update(&incoming, None)
            .await
            .into_iter()
            .map(|queued| queued.answer)
            .collect()
    }

    /// Answers one update through the outbox: the answers are queued in the
    /// transaction that marks the update answered, leased to `delivery.owner`; the
    /// adapter sends them and marks them sent, and the dispatcher sends whatever it
    /// could not. A replay of an answered update gets nothing. Never fails: a storage
    /// failure becomes an apology, sent as is.
    pub async fn handle_queued(&self, incoming: Incoming, delivery: &Delivery) -> Vec<QueuedAnswer> {
        self.handle_update(&incoming, Some(delivery)).await
    }

    async fn handle_update(&self, incoming: &Incoming, delivery: Option<&Delivery>) -> Vec<QueuedAnswer> {
        let unqueued = |answers: Vec<Answer>| {
            answers
                .into_iter()
                .map(|answer| QueuedAnswer {
                    id: None,
                    chat: incoming.chat.clone(),
                    answer,
                })
                .collect()
        };
        let update = incoming.update_id.as_ref().map(|id| UpdateRef {
            platform: incoming.chat.platform().to_owned(),
            id: id.clone(),
        });
        let store = self.engine.store();
        let answers = async {
            if let Some(update) = &update
                && store.update_answered(update).await?
            {
                return Ok(None);
            }
            self.handle_inner(incoming, update.as_ref()).await.map(Some)
        };
        let answers = match answers.await {
            Ok(Some(answers)) => answers,
            Ok(None) => return Vec::new(),
            Err(error) => {
                tracing::error!(error.cause_chain = ?error, platform = incoming.chat.platform(), "conversation failed");
                return unqueued(vec![Answer::public(Reply::text(
                    "Something went wrong on my side and nothing was changed. Please try again in a minute.",
                ))]);
            }
        };
        let Some(update) = update else {
            return unqueued(answers);
        };
        let destinations: Vec<ChatRef> = answers
            .iter()
            .map(|answer| match delivery {
                Some(Delivery {
                    private_chat: Some(private_chat),
                    ..
                }) if answer.private && incoming.is_group => private_chat.clone(),
                _ => incoming.chat.clone(),
            })
            .collect();
        let replies: Vec<QueuedReply> = match delivery {
            Some(_) => answers
                .iter()
                .zip(&destinations)
                .map(|(answer, chat)| QueuedReply {
                    chat: chat.clone(),
                    // A reply is strings and small integers: serialising cannot fail.
                    payload: serde_json::to_string(&answer.reply).unwrap_or_default(),
                })
                .collect(),
            None => Vec::new(),
        };
        let now = self.engine.clock().now();
        let (owner, lease_until) = match delivery {
            Some(delivery) => (delivery.owner.as_str(), now.plus(delivery.lease_for)),
            None => ("", now),
        };
        match store
            .complete_update(&update, &replies, owner, lease_until, now)
            .await
        {
            Ok(Some(ids)) => {
                let mut ids = ids.into_iter();
                answers
                    .into_iter()
                    .zip(destinations)
                    .map(|(answer, chat)| QueuedAnswer {
                        id: ids.next(),
                        chat,
                        answer,
                    })
                    .collect()
            }
            // A replay of the same update was answered meanwhile.
            Ok(None) => Vec::new(),
            Err(error) => {
                tracing::error!(error.cause_chain = ?error, platform = incoming.chat.platform(), "could not queue the answers");
                unqueued(answers)
            }
        }
    }

    async fn handle_inner(
        &self,
        incoming: &Incoming,
        update: Option<&UpdateRef>,
    ) -> Result<Vec<Answer>, StoreError> {
        let store = self.engine.store();
        let now = self.engine.clock().now();
        if let Input::Text(text) = &incoming.input
            && text.chars().count() > MAX_INPUT_CHARS
        {
            return Ok(vec![Answer::public(Reply::text(format!(
                "That message is too long for me ({} characters). Send just the tracking number, or /help.",
                text.chars().count()
            )))]);
        }
        if !self.within_command_rate(&incoming.chat, now) {
            return Ok(vec![Answer::public(Reply::text(format!(
                "You are sending more than {} messages a minute; I will answer again in a minute.",
                self.limits.commands_per_minute
            )))]);
        }
        let chat = store.upsert_chat(&incoming.chat, now).await?;
        let mut settings = store.chat_settings(chat).await?;
        if let Some(channel) = &incoming.channel
            && settings.last_channel.as_ref() != Some(channel)
        {
            store.set_last_channel(chat, channel).await?;
            settings.last_channel = Some(channel.clone());
        }
        if !settings.reachable {
            // A chat that talks to the bot can be written to again.
            store.set_reachable(&incoming.chat, true).await?;
            settings.reachable = true;
        }
        // A question asked before is answered by this message, or forgotten. It is the
        // person's (in a group another member's "yes" answers nothing), and it expires:
        // a "yes" an hour later is not a confirmation.
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(incoming.chat.clone(), incoming.user.clone()))
            .filter(|(question, asked)| *asked > now.minus(question.lasts()))
            .map(|(question, _)| question);
        let context = Context {
            incoming,
            update,
            chat,
            settings,
            now,
            pending,
        };
        match &incoming.input {
            Input::Button(data) => self.button(&context, data).await,
            Input::Text(text) => self.text(&context, text).await,
        }
    }

    fn within_command_rate(&self, chat: &ChatRef, now: DateTime<Utc>) -> bool {
        let mut recent = self
            .recent_commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let times = recent.entry(chat.clone()).or_default();
        while times
            .front()
            .is_some_and(|t| *t <= now.minus(Duration::minutes(1)))
        {
            times.pop_front();
        }
        if times.len() >= self.limits.commands_per_minute {
            return false;
        }
        times.push_back(now);
        true
    }

    async fn text(&self, context: &Context<'_>, text: &str) -> Result<Vec<Answer>, StoreError> {
        match parse::parse(text) {
            Parsed::Command { name, args } => match name.as_str() {
                "start" => Ok(one(render::start())),
                "help" => Ok(one(render::help(
                    context.incoming.chat.platform() == SHARED_CHANNEL_PLATFORM,
                ))),
                "notify" => self.notify(context, &args).await,
                "track" => self.track(context, &args, true).await,
                "list" => self.list(context, &args).await,
                "status" => self.status(context, &args).await,
                "untrack" | "stop" => self.untrack(context, &args).await,
                "fake" => self.fake(context, &args).await,
                "protect" => self.protect(context, &args).await,
                "ordered" => self.ordered(context, &args).await,
                "rename" => self.rename(context, &args).await,
                "received" => self.received_command(context, &args).await,
                "seller" => self.seller(context, &args).await,
                "evidence" => self.evidence(context, &args).await,
                "journey" => self.journey(context, &args).await,
                "country" => self.country(context, &args).await,
                "timezone" => self.timezone(context, &args).await,
                "forget" => Ok(self.ask_forget(context)),
                "wait" => Ok(one(Reply::text(
                    "/wait only works in the console demo, where time is simulated.",
                ))),
                "" => Ok(one(Reply::text(
                    "A slash alone is not a command. /help lists what I can do.",
                ))),
                other => Ok(one(Reply::text(format!(
                    "I do not know the command /{}. /help lists what I can do.",
                    render::shorten(other, 32)
                )))),
            },
            Parsed::Text(text) => {
                let (found, intent) = parse::read_message(&text);
                if found.numbers.is_empty() {
                    if let Some(answers) = self.answer_pending(context, &text).await? {
                        return Ok(answers);
                    }
                    return Ok(one(Reply::text(
                        "Send me a tracking number and I will follow the parcel for you. /help lists everything I can do.",
                    )));
                }
                match intent {
                    parse::Intent::Fake => self.fake_all(context, &found).await,
                    // "Where is RB…?": the status, following the number when it is new.
                    parse::Intent::Where => self.track_found(context, &found, true).await,
                    parse::Intent::Track => self.track_found(context, &found, false).await,
                }
            }
        }
    }

    /// A plain message answering the question the bot asked last; `None` when it does
    /// not answer it (then it is read as any message).
    async fn answer_pending(
        &self,
        context: &Context<'_>,
        text: &str,
    ) -> Result<Option<Vec<Answer>>, StoreError> {
        let Some(pending) = context.pending else {
            return Ok(None);
        };
        // "thanks" after "until when?" is not a date: it is read as any message.
        if matches!(pending, Pending::ProtectionDate(_) | Pending::OrderDate(_)) && !looks_like_date(text) {
            return Ok(None);
        }
        let zone = parse_time_zone(&context.settings.time_zone).unwrap_or(chrono_tz::UTC);
        match pending {
            Pending::Forget => {
                let word = text.trim().trim_end_matches(['!', '.']).to_lowercase();
                if YES_WORDS.contains(&word.as_str()) {
                    return Ok(Some(self.forget(context).await?));
                }
                if NO_WORDS.contains(&word.as_str()) {
                    return Ok(Some(one(Reply::text("Nothing was deleted."))));
                }
                Ok(None)
            }
            Pending::ProtectionDate(parcel) => {
                let Some(view) = self.view_of(context, parcel).await? else {
                    return Ok(None);
                };
                match parse::deadline(text, context.now, zone) {
                    Ok(ends) => Ok(Some(self.set_protection(context, &view, ends).await?)),
                    Err(message) => {
                        self.ask(context, pending);
                        Ok(Some(one(Reply::text(message))))
                    }
                }
            }
            Pending::OrderDate(parcel) => {
                let Some(view) = self.view_of(context, parcel).await? else {
                    return Ok(None);
                };
                match parse::order_date(text, context.now, zone) {
                    Ok(date) => Ok(Some(self.set_ordered(context, &view, date).await?)),
                    Err(message) => {
                        self.ask(context, pending);
                        Ok(Some(one(Reply::text(message))))
                    }
                }
            }
        }
    }

    /// Remembers that the bot asked `question` (answered by the person's next message).
    fn ask(&self, context: &Context<'_>, question: Pending) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() >= MAX_PENDING_QUESTIONS {
            // Questions nobody answered: the expired ones go first.
            let now = context.now;
            pending.retain(|_, (question, asked)| *asked > now.minus(question.lasts()));
        }
        if pending.len() < MAX_PENDING_QUESTIONS {
            pending.insert(
                (context.incoming.chat.clone(), context.incoming.user.clone()),
                (question, context.now),
            );
        }
    }

    /// The chat's subscription to `parcel`, if it still follows it.
    async fn view_of(
        &self,
        context: &Context<'_>,
        parcel: ParcelId,
    ) -> Result<Option<SubscriptionView>, StoreError> {
        Ok(self
            .engine
            .store()
            .subscriptions(context.chat)
            .await?
            .into_iter()
            .find(|v| v.parcel == parcel))
    }

    async fn button(&self, context: &Context<'_>, data: &str) -> Result<Vec<Answer>, StoreError> {
        let Some(action) = Action::decode(data) else {
            return Ok(one(Reply::text(
                "That button is no longer valid. /list shows your parcels.",
            )));
        };
        let parcel = match action {
            Action::Track(number) => return self.track(context, &number, true).await,
            Action::Fake(number) => return self.fake(context, &number).await,
            Action::ForgetConfirm => {
                if context.pending != Some(Pending::Forget) {
                    return Ok(one(Reply::text(
                        "Send /forget first; then confirm with the button.",
                    )));
                }
                return self.forget(context).await;
            }
            Action::ForgetCancel => return Ok(one(Reply::text("Nothing was deleted."))),
            Action::Journey(parcel) => return self.journey_button(context, parcel).await,
            Action::Status(parcel)
            | Action::Stop(parcel)
            | Action::Protect(parcel)
            | Action::Seller(parcel)
            | Action::Evidence(parcel)
            | Action::Received(parcel)
            | Action::NotReceived(parcel)
            | Action::Ordered(parcel, _) => parcel,
        };
        let Some(view) = self.view_of(context, ParcelId(parcel)).await? else {
            return Ok(one(Reply::text(
                "You do not follow that parcel any more. /list shows the ones you do.",
            )));
        };
        match action {
            Action::Status(_) => self.status_of(context, &view).await,
            Action::Stop(_) => self.stop(context, &view).await,
            Action::Protect(_) => {
                self.ask(context, Pending::ProtectionDate(view.parcel));
                Ok(vec![self.private(
                    context,
                    Reply::text(format!(
                        "When does buyer protection end? Send the date from the order page (2026-12-24, 24.12, Dec 24) or a number of days (15 days). (/protect {} <date> works too.)",
                        self.handle_of(context, &view)
                    )),
                )])
            }
            Action::Seller(_) => self.seller_of(context, &view).await,
            Action::Received(_) => self.received(context, &view, true).await,
            Action::NotReceived(_) => self.received(context, &view, false).await,
            Action::Ordered(_, Some(days)) => {
                let zone = parse_time_zone(&context.settings.time_zone).unwrap_or(chrono_tz::UTC);
                let today = crate::clock::local_date(context.now, &zone);
                self.set_ordered(context, &view, today.minus(Duration::days(i64::from(days))))
                    .await
            }
            Action::Ordered(_, None) => {
                self.ask(context, Pending::OrderDate(view.parcel));
                Ok(one(Reply::text(
                    "When did you order it? Send the date (2026-11-20, 20.11, Nov 20) or how long ago (10 days ago).",
                )))
            }
            _ => self.evidence_of(context, &view).await,
        }
    }

    /// `/notify here|dm`: where updates go, on platforms with shared channels.
    async fn notify(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        let store = self.engine.store();
        let choice = args.trim().to_ascii_lowercase();
        match (choice.as_str(), &context.incoming.channel) {
            ("here" | "channel", Some(channel)) => {
                store.set_notify_channel(context.chat, Some(channel)).await?;
                Ok(one(Reply::text(
                    "From now on I post updates about your parcels in this channel, with the numbers partly hidden. /notify dm sends them to you privately again.",
                )))
            }
            ("here" | "channel", None) => Ok(one(Reply::text(
                "/notify here works in a server channel: send it there. Here I already write to you directly.",
            ))),
            ("dm" | "private" | "me", _) => {
                store.set_notify_channel(context.chat, None).await?;
                Ok(one(Reply::text(
                    "From now on I send updates about your parcels to you as direct messages.",
                )))
            }
            ("", _) => Ok(one(Reply::text(if context.settings.notify_channel.is_some() {
                "Updates go to the server channel you chose. /notify dm sends them to you privately instead."
            } else {
                "Updates come to you as direct messages. In a server channel, /notify here sends them there instead."
            }))),
            _ => Ok(one(Reply::text(
                "Choose where updates go: /notify here (this server channel) or /notify dm (direct messages).",
            ))),
        }
    }

    /// The chat's parcels whose number or label contains `typed`, for a platform's
    /// autocomplete: at most `limit`, each named for a person to pick and valued with
    /// the number every command accepts. Creates nothing for a chat the bot never saw.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    pub async fn parcel_choices(
        &self,
        chat: &ChatRef,
        typed: &str,
        limit: usize,
    ) -> Result<Vec<ParcelChoice>, StoreError> {
        let store = self.engine.store();
        let Some(chat) = store.find_chat(chat).await? else {
            return Ok(Vec::new());
        };
        let wanted = typed.trim().to_lowercase();
        let compact: String = wanted
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_uppercase();
        Ok(store
            .subscriptions(chat)
            .await?
            .into_iter()
            .filter(|view| {
                wanted.is_empty()
                    || view
                        .label
                        .as_deref()
                        .is_some_and(|label| label.to_lowercase().contains(&wanted))
                    || (!compact.is_empty() && view.numbers.iter().any(|n| n.contains(&compact)))
            })
            .filter_map(|view| {
                let number = view.numbers.first()?.clone();
                let name = match &view.label {
                    Some(label) => format!("{label} · {number} · {}", render::stage_words(view.stage)),
                    None => format!("{number} · {}", render::stage_words(view.stage)),
                };
                Some(ParcelChoice {
                    name: render::shorten(&name, 99),
                    value: number,
                })
            })
            .take(limit)
            .collect())
    }

    async fn track(
        &self,
        context: &Context<'_>,
        args: &str,
        _command: bool,
    ) -> Result<Vec<Answer>, StoreError> {
        let found = parse::numbers_and_label(args);
        if found.numbers.is_empty() {
            return Ok(one(Reply::text(if args.trim().is_empty() {
                "Which number? Send /track followed by the tracking number, e.g. /track RB123456785CN headphones".to_owned()
            } else {
                format!(
                    "I found no tracking number in \"{}\". A tracking number is 8 to 40 letters and digits, e.g. RB123456785CN.",
                    render::shorten(args, 60)
                )
            })));
        }
        self.track_found(context, &found, false).await
    }

    /// Follows the numbers of one message: every limit is said once, with the numbers
    /// it skipped; one new number gets the question of its order date.
    async fn track_found(
        &self,
        context: &Context<'_>,
        found: &parse::NumbersAndLabel,
        asked_where: bool,
    ) -> Result<Vec<Answer>, StoreError> {
        let masked = context.incoming.is_group;
        let label = if found.numbers.len() == 1 {
            found.label.clone()
        } else {
            None
        };
        if let Some(label) = &label {
            if found.label_chars > parse::MAX_LABEL_CHARS {
                return Ok(one(Reply::text(format!(
                    "A label is at most {} characters; yours has {}. Nothing was changed: send the number with a shorter one.",
                    parse::MAX_LABEL_CHARS,
                    found.label_chars
                ))));
            }
            let views = self.engine.store().subscriptions(context.chat).await?;
            let number = found.numbers.first().and_then(|r| r.normalized.clone());
            if let Some(other) = views.iter().find(|v| {
                v.label.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(label))
                    && !number.as_ref().is_some_and(|n| v.numbers.contains(n))
            }) {
                return Ok(one(Reply::text(format!(
                    "You already have a parcel called \"{label}\": {}. Nothing was changed: give this one another label, or rename that one with /rename.",
                    render::parcel_handle(other, masked)
                ))));
            }
        }
        let mut answers = Vec::new();
        let mut limited: Vec<(Limit, String)> = Vec::new();
        let mut new_parcels = Vec::new();
        for recognition in found.numbers.iter().take(MAX_NUMBERS_PER_MESSAGE) {
            match self
                .track_one(context, recognition, label.as_deref(), asked_where)
                .await?
            {
                Tracked::Answers(more) => answers.extend(more),
                Tracked::New(more, parcel) => {
                    answers.extend(more);
                    new_parcels.push(parcel);
                }
                Tracked::Limited(limit, shown) => limited.push((limit, shown)),
            }
        }
        if let Some((limit, _)) = limited.first() {
            let skipped: Vec<String> = limited.iter().map(|(_, shown)| shown.clone()).collect();
            let them = if skipped.len() == 1 { "it" } else { "them" };
            let list = render::join_words(&skipped);
            answers.push(Answer::public(Reply::text(match limit {
                Limit::Parcels(count) => format!(
                    "You follow {count} parcels, the most I keep per chat, so I did not follow {list}. Stop following a delivered one with /untrack, then send {them} again."
                ),
                Limit::Daily(count) => format!(
                    "You added {count} numbers in the last 24 hours, the most I take per day, so I did not follow {list}. Send {them} again tomorrow."
                ),
            })));
        }
        if found.numbers.len() > MAX_NUMBERS_PER_MESSAGE {
            let skipped: Vec<String> = found
                .numbers
                .iter()
                .skip(MAX_NUMBERS_PER_MESSAGE)
                .filter_map(|r| r.normalized.as_deref())
                .map(|n| render::show_number(n, masked))
                .collect();
            let shown: Vec<String> = skipped.iter().take(5).cloned().collect();
            let more = skipped.len().saturating_sub(shown.len());
            let list = if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                render::join_words(&shown)
            };
            answers.push(Answer::public(Reply::text(format!(
                "That message has {} numbers; I read at most {MAX_NUMBERS_PER_MESSAGE} per message, so I did not follow {list}. Send them in another message.",
                found.numbers.len()
            ))));
        }
        if let [parcel] = new_parcels.as_slice() {
            // In the same message as the status: one answer per message on every platform.
            let question = self.order_question(context, *parcel);
            match answers.last_mut() {
                Some(last) => {
                    last.reply.blocks.extend(question.blocks);
                    // The "Journey" button stays last, so the question's buttons come
                    // right after the status's own.
                    let at = last
                        .reply
                        .buttons
                        .iter()
                        .position(|row| row.iter().any(|b| matches!(b.action, Action::Journey(_))))
                        .unwrap_or(last.reply.buttons.len());
                    last.reply.buttons.splice(at..at, question.buttons);
                }
                None => answers.push(self.private(context, question)),
            }
        }
        Ok(answers)
    }

    /// "When did you order it?", asked once, when a parcel is first followed.
    fn order_question(&self, context: &Context<'_>, parcel: ParcelId) -> Reply {
        self.ask(context, Pending::OrderDate(parcel));
        Reply::text(
            "When did you order it? With the date I can tell whether this tracking really is your parcel's (a delivery before your order is not).",
        )
        .with_buttons(order_buttons(parcel))
        .with_buttons(vec![
            Button::new("A month ago", Action::Ordered(parcel.0, Some(30))),
            Button::new("Other date", Action::Ordered(parcel.0, None)),
        ])
    }

    async fn track_one(
        &self,
        context: &Context<'_>,
        recognition: &Recognition,
        label: Option<&str>,
        asked_where: bool,
    ) -> Result<Tracked, StoreError> {
        let masked = context.incoming.is_group;
        let shown = recognition
            .normalized
            .as_deref()
            .map(|n| render::show_number(n, masked))
            .unwrap_or_default();
        match recognition.outcome {
            Outcome::OrderNumber => {
                return Ok(Tracked::Answers(one(Reply::text(format!(
                    "{shown} is an AliExpress order number, not a tracking number. Open the order, tap \"Track order\" and copy the tracking number shown there."
                )))));
            }
            Outcome::Invalid => {
                let mut reply = Reply::text(format!(
                    "{shown} looks mistyped: its check digit does not match, so no carrier issued it."
                ));
                if recognition.suggestions.is_empty() {
                    reply = reply.with(Block::Text(
                        "I see no likely correction. Copy the number again from the order page.".to_owned(),
                    ));
                } else {
                    reply = reply
                        .with(Block::Text("Did you mean one of these?".to_owned()))
                        .with_buttons(
                            recognition
                                .suggestions
                                .iter()
                                .map(|s| {
                                    Button::new(
                                        format!("Track {}", render::show_number(s, masked)),
                                        Action::Track(s.clone()),
                                    )
                                })
                                .collect(),
                        );
                }
                return Ok(Tracked::Answers(one(reply)));
            }
            Outcome::Unknown(_) => {
                let reply = Reply::text(recognition.note()).with_buttons(
                    recognition
                        .suggestions
                        .iter()
                        .map(|s| {
                            Button::new(
                                format!("Track {}", render::show_number(s, masked)),
                                Action::Track(s.clone()),
                            )
                        })
                        .collect(),
                );
                return Ok(Tracked::Answers(one(reply)));
            }
            Outcome::Recognised | Outcome::Uncertain | Outcome::Plausible => {}
        }
        let Ok(number) = TrackingNumber::try_from(recognition.clone()) else {
            return Ok(Tracked::Answers(one(Reply::text(format!(
                "{shown} is not a tracking number I can follow."
            )))));
        };
        let store = self.engine.store();
        let views = store.subscriptions(context.chat).await?;
        let existing = views
            .iter()
            .find(|v| v.numbers.iter().any(|n| n == number.as_str()));
        // The replay of this very update, interrupted by a crash after it subscribed:
        // the subscription is its own, and it answers as the first time would have.
        let own = existing.filter(|view| {
            context
                .update
                .is_some_and(|update| view.created_by.as_deref() == Some(update.key().as_str()))
        });
        let parcel = match (existing, own) {
            (_, Some(view)) => view.parcel,
            (Some(view), None) => {
                // "Where is it?" is answered by the status alone.
                let mut answers = if asked_where {
                    Vec::new()
                } else {
                    one(Reply::text(format!(
                        "You already follow {}.",
                        render::parcel_handle(view, masked)
                    )))
                };
                answers.extend(self.status_of(context, view).await?);
                return Ok(Tracked::Answers(answers));
            }
            (None, None) => {
                if views.len() >= self.limits.active_parcels {
                    return Ok(Tracked::Limited(Limit::Parcels(views.len()), shown));
                }
                let today = store
                    .subscriptions_since(context.chat, context.now.minus(Duration::days(1)))
                    .await?;
                if today >= self.limits.new_numbers_per_day {
                    return Ok(Tracked::Limited(Limit::Daily(today), shown));
                }
                match store
                    .subscribe_for(
                        context.chat,
                        &number,
                        label,
                        context.incoming.user.as_deref(),
                        context.update,
                        context.now,
                    )
                    .await
                {
                    Ok(subscribed) => subscribed.parcel,
                    Err(StoreError::AlreadySubscribed) => {
                        return Ok(Tracked::Answers(one(Reply::text(format!(
                            "You already follow {shown}."
                        )))));
                    }
                    Err(error) => return Err(error),
                }
            }
        };
        let views = store.subscriptions(context.chat).await?;
        let Some(view) = views.iter().find(|v| v.parcel == parcel) else {
            return Err(StoreError::NotFound);
        };
        let answered = match self.engine.refresh(view).await {
            Ok(answered) => answered,
            Err(crate::engine::EngineError::Store(error)) => return Err(error),
        };
        let views = store.subscriptions(context.chat).await?;
        let view = views.iter().find(|v| v.parcel == parcel).unwrap_or(view);
        let mut intro = if number.is_known_format() {
            format!(
                "Following {}, a {} number.",
                render::parcel_handle(view, masked),
                number.carrier()
            )
        } else {
            format!("Following {}.", render::parcel_handle(view, masked))
        };
        if !number.is_confident() {
            intro.push_str(&format!(" {}", recognition.note()));
        }
        if !answered {
            intro.push_str(" I could not reach the tracking services just now; I will keep trying and tell you what I find.");
        }
        let mut answers = one(Reply::text(intro));
        if answered {
            answers.extend(self.status_of(context, view).await?);
        }
        Ok(Tracked::New(answers, parcel))
    }

    async fn list(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        let views = self.engine.store().subscriptions(context.chat).await?;
        let all = args.trim().eq_ignore_ascii_case("all");
        if !all && !args.trim().is_empty() {
            return Ok(one(Reply::text(
                "/list shows your parcels; /list all adds those delivered more than a week ago.",
            )));
        }
        let archive_before = context.now.minus(Duration::days(ARCHIVE_AFTER_DAYS));
        let (shown, archived): (Vec<SubscriptionView>, Vec<SubscriptionView>) =
            views.into_iter().partition(|view| {
                // A delivery the buyer may still dispute stays in sight.
                let disputable = view.received != Some(true)
                    && view.protection_ends.is_some_and(|ends| ends > context.now);
                all || disputable
                    || !(view.stage == Some(crate::interpret::Stage::Delivered)
                        && view.last_event_at.is_some_and(|at| at < archive_before))
            });
        if shown.is_empty() && !archived.is_empty() {
            return Ok(one(Reply::text(format!(
                "Every parcel you follow was delivered more than a week ago: /list all shows {}.",
                if archived.len() == 1 { "it" } else { "them" }
            ))));
        }
        let reply = render::list(&shown, context.settings.time_zone.as_str(), false, context.now);
        let mut reply = self.list_with_expected(context, &shown, reply).await?;
        if !archived.is_empty() {
            let count = archived.len();
            reply = reply.with(Block::Text(format!(
                "{count} {} delivered more than a week ago {} not shown: /list all shows {}.",
                if count == 1 { "parcel" } else { "parcels" },
                if count == 1 { "is" } else { "are" },
                if count == 1 { "it" } else { "them" }
            )));
        }
        Ok(vec![self.private(context, reply)])
    }

    /// Finds the chat's parcel named by `args` (a number or a label); with no argument
    /// and one parcel, that one. `Err` holds the answer to give instead.
    async fn find(
        &self,
        context: &Context<'_>,
        args: &str,
        command: &str,
    ) -> Result<Result<SubscriptionView, Vec<Answer>>, StoreError> {
        let views = self.engine.store().subscriptions(context.chat).await?;
        let wanted = args.trim();
        if wanted.is_empty() {
            return Ok(match views.len() {
                0 => Err(one(Reply::text(
                    "You do not follow any parcel yet. Send me a tracking number to start.",
                ))),
                1 => Ok(views.into_iter().next().ok_or(StoreError::NotFound)?),
                _ => Err(one(Reply::text(format!(
                    "Which parcel? Send /{command} followed by its number or label. /list shows them."
                )))),
            });
        }
        match views.iter().position(|v| names(v, wanted)) {
            Some(index) => Ok(Ok(views.into_iter().nth(index).ok_or(StoreError::NotFound)?)),
            None => Ok(Err(one(Reply::text(format!(
                "You do not follow a parcel called \"{}\". /list shows the ones you do.",
                render::shorten(wanted, 60)
            ))))),
        }
    }

    async fn status(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        match self.find(context, args, "status").await? {
            Ok(view) => self.status_of(context, &view).await,
            Err(answers) => Ok(answers),
        }
    }

    async fn status_of(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
    ) -> Result<Vec<Answer>, StoreError> {
        let (assessment, events) = self.assess(context, view).await?;
        let origin = view.numbers.first().map(String::as_str).unwrap_or_default();
        let zone = context.settings.time_zone.clone();
        let facts = self.doubt_facts(
            context,
            view,
            &DeliveryReport::of(events.iter().cloned(), origin),
            &move |at| format_date(at, &zone),
        );
        // The details go privately, so they may show the whole number.
        let reply = render::status(
            view,
            &assessment,
            &events,
            &context.settings.time_zone,
            false,
            &facts,
        );
        let reply = self.with_expected(context, view, reply).await?;
        Ok(vec![self.private(context, reply)])
    }

    async fn untrack(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        if args.trim().is_empty() {
            return Ok(one(Reply::text(
                "Which parcel? Send /untrack followed by its number or label.",
            )));
        }
        let found = parse::numbers_and_label(args);
        if found.numbers.len() > 1 {
            let views = self.engine.store().subscriptions(context.chat).await?;
            let mut answers = Vec::new();
            let mut unknown = Vec::new();
            for recognition in found.numbers.iter().take(MAX_NUMBERS_PER_MESSAGE) {
                let number = recognition.normalized.clone().unwrap_or_default();
                match views.iter().find(|v| v.numbers.contains(&number)) {
                    Some(view) => answers.extend(self.stop(context, view).await?),
                    None => unknown.push(render::show_number(&number, context.incoming.is_group)),
                }
            }
            if !unknown.is_empty() {
                answers.push(Answer::public(Reply::text(format!(
                    "You do not follow {}. /list shows the parcels you do.",
                    render::join_words(&unknown)
                ))));
            }
            return Ok(answers);
        }
        match self.find(context, args, "untrack").await? {
            Ok(view) => self.stop(context, &view).await,
            Err(answers) => Ok(answers),
        }
    }

    async fn stop(&self, context: &Context<'_>, view: &SubscriptionView) -> Result<Vec<Answer>, StoreError> {
        match self.engine.store().unsubscribe(context.chat, view.parcel).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(one(Reply::text(format!(
                "Stopped following {}.",
                render::parcel_handle(view, context.incoming.is_group)
            )))),
            Err(error) => Err(error),
        }
    }

    async fn fake(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        let found = parse::numbers_and_label(args);
        if found.numbers.is_empty() {
            return Ok(one(Reply::text(
                "Which number? Send /fake followed by the tracking number, e.g. /fake RB123456785CN",
            )));
        }
        self.fake_all(context, &found).await
    }

    /// `/fake` for every number of a message (at most [`MAX_NUMBERS_PER_MESSAGE`]).
    async fn fake_all(
        &self,
        context: &Context<'_>,
        found: &parse::NumbersAndLabel,
    ) -> Result<Vec<Answer>, StoreError> {
        let mut answers = Vec::new();
        for recognition in found.numbers.iter().take(MAX_NUMBERS_PER_MESSAGE) {
            answers.extend(self.fake_one(context, recognition).await?);
        }
        if found.numbers.len() > MAX_NUMBERS_PER_MESSAGE {
            answers.push(Answer::public(Reply::text(format!(
                "I checked the first {MAX_NUMBERS_PER_MESSAGE} of the {} numbers; send the others in another message.",
                found.numbers.len()
            ))));
        }
        Ok(answers)
    }

    async fn fake_one(
        &self,
        context: &Context<'_>,
        recognition: &Recognition,
    ) -> Result<Vec<Answer>, StoreError> {
        let masked = context.incoming.is_group;
        let Ok(number) = TrackingNumber::try_from(recognition.clone()) else {
            return Ok(one(render::fake_by_shape(recognition, masked)));
        };
        let views = self.engine.store().subscriptions(context.chat).await?;
        let zone = context.settings.time_zone.clone();
        let format = move |at: DateTime<Utc>| format_date(at, &zone);
        if let Some(view) = views
            .iter()
            .find(|v| v.numbers.iter().any(|n| n == number.as_str()))
        {
            let (assessment, events) = self.assess(context, view).await?;
            let origin = view.numbers.first().map(String::as_str).unwrap_or_default();
            let facts = self.doubt_facts(context, view, &DeliveryReport::of(events, origin), &format);
            let mut reply = render::fake_verdict(number.as_str(), &assessment, false, true, &facts);
            if view.ordered_at.is_none() && assessment.next_step == "next.tell_order_date" {
                reply = reply.with_buttons(order_buttons(view.parcel)).with_buttons(vec![
                    Button::new("A month ago", Action::Ordered(view.parcel.0, Some(30))),
                    Button::new("Other date", Action::Ordered(view.parcel.0, None)),
                ]);
            }
            return Ok(vec![self.private(context, reply)]);
        }
        // Not followed: ask the providers once, without subscribing. The buyer asks
        // about it now.
        let destination = self.destination(context, &number);
        let order = OrderFacts {
            country: destination.as_ref().and_then(|d| d.country.clone()),
            city: destination.as_ref().and_then(|d| d.city.clone()),
            asked_at: Some(context.now),
            ..OrderFacts::default()
        };
        match crate::track::track_once_for(
            self.engine.providers(),
            &number,
            destination,
            Some(context.now),
            context.now,
        )
        .await
        {
            Ok(report) => {
                let doubts = delivery_doubts(&report.delivery.as_facts(), &order);
                let facts = doubt_sentences(&doubts, &report.delivery, &order, &format);
                Ok(vec![self.private(
                    context,
                    render::fake_verdict(number.as_str(), &report.assessment, false, false, &facts),
                )])
            }
            Err(error) => Ok(one(Reply::text(format!(
                "The number's format is fine, but I could not ask the carriers: {error}. Try again in a few minutes."
            )))),
        }
    }

    /// The sentences naming why a followed parcel's delivery may not be the buyer's.
    fn doubt_facts(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
        report: &DeliveryReport,
        format: &dyn Fn(DateTime<Utc>) -> String,
    ) -> Vec<String> {
        let order = self.order_facts(context, view);
        doubt_sentences(
            &delivery_doubts(&report.as_facts(), &order),
            report,
            &order,
            format,
        )
    }

    /// What the chat told about the order of the parcel it follows as `view`.
    fn order_facts(&self, context: &Context<'_>, view: &SubscriptionView) -> OrderFacts {
        let destination = view
            .numbers
            .first()
            .and_then(|n| TrackingNumber::parse(n).ok())
            .and_then(|n| self.destination(context, &n));
        OrderFacts {
            ordered_at: view.ordered_at,
            shipped_at: None,
            country: destination.as_ref().and_then(|d| d.country.clone()),
            city: destination.as_ref().and_then(|d| d.city.clone()),
            protection_ends: view.protection_ends,
            asked_at: Some(view.created_at),
        }
    }

    async fn protect(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        if args.trim().is_empty() {
            return Ok(one(Reply::text(
                "Send /protect <number or label> <date or N days>, e.g. /protect headphones 2026-12-24 or /protect RB123456785CN 15 days. The date is on the order page (\"buyer protection\").",
            )));
        }
        let (view, when, guessed) = match self
            .parcel_and_rest(context, args, "/protect headphones 2026-12-24")
            .await?
        {
            Ok(found) => found,
            Err(answers) => return Ok(answers),
        };
        if when.trim().is_empty() {
            self.ask(context, Pending::ProtectionDate(view.parcel));
            return Ok(one(Reply::text(format!(
                "Until when does buyer protection for {} last? Send the date (2026-12-24, 24.12, Dec 24) or a number of days (15 days).",
                render::parcel_handle(&view, context.incoming.is_group)
            ))));
        }
        let zone = parse_time_zone(&context.settings.time_zone).unwrap_or(chrono_tz::UTC);
        match parse::deadline(&when, context.now, zone) {
            Ok(ends) => self.set_protection(context, &view, ends).await,
            Err(_) if guessed && starts_with_word(&when) => Ok(no_such_parcel(&when, "protect")),
            Err(message) => Ok(one(Reply::text(message))),
        }
    }

    /// The parcel a command's arguments start with (its number or label, the longest
    /// leading part that names one; with one parcel, that one) and the rest.
    async fn parcel_and_rest(
        &self,
        context: &Context<'_>,
        args: &str,
        example: &str,
    ) -> Result<Result<(SubscriptionView, String, bool), Vec<Answer>>, StoreError> {
        let views = self.engine.store().subscriptions(context.chat).await?;
        let args = args.trim();
        let words: Vec<&str> = args.split_whitespace().collect();
        for split in (1..=words.len()).rev() {
            let name = words[..split].join(" ");
            if let Some(view) = views.iter().find(|v| names(v, &name)) {
                return Ok(Ok((view.clone(), words[split..].join(" "), false)));
            }
        }
        // A number typed with spaces ("RB 1047 2904 4CN 2026-12-24").
        if let Some(found) = crate::number::recognise_in(args)
            .into_iter()
            .find(|f| f.span.start == 0 && f.recognition.normalized.is_some())
            && let Some(view) = views.iter().find(|v| {
                found
                    .recognition
                    .normalized
                    .as_ref()
                    .is_some_and(|n| v.numbers.contains(n))
            })
        {
            return Ok(Ok((
                view.clone(),
                args.get(found.span.end..).unwrap_or_default().trim().to_owned(),
                false,
            )));
        }
        match views.as_slice() {
            // The chat's only parcel, when the arguments name none: `guessed`.
            [only] => Ok(Ok((only.clone(), args.to_owned(), true))),
            [] => Ok(Err(one(Reply::text(
                "You do not follow any parcel yet. Send me a tracking number to start.",
            )))),
            _ if starts_with_word(args) => {
                let command = example
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches('/');
                Ok(Err(no_such_parcel(args, command)))
            }
            _ => Ok(Err(one(Reply::text(format!(
                "Which parcel? Start with its number or label: {example}. /list shows your parcels."
            ))))),
        }
    }

    async fn set_protection(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
        ends: DateTime<Utc>,
    ) -> Result<Vec<Answer>, StoreError> {
        match self
            .engine
            .store()
            .set_protection(context.chat, view.parcel, Some(ends))
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => {
                return Ok(one(Reply::text("You do not follow that parcel any more.")));
            }
            Err(error) => return Err(error),
        }
        let days: Vec<String> = self
            .engine
            .settings()
            .reminder_days
            .iter()
            .map(i64::to_string)
            .collect();
        let handle = render::parcel_handle(view, context.incoming.is_group);
        let date = format_date(ends, &context.settings.time_zone);
        let days = render::join_words(&days);
        let delivered = view.stage == Some(crate::interpret::Stage::Delivered);
        if !delivered {
            return Ok(one(Reply::text(format!(
                "Buyer protection for {handle} ends {date}. I will remind you {days} days before, unless you tell me it arrived or it is delivered as expected."
            ))));
        }
        if view.received == Some(true) {
            return Ok(one(Reply::text(format!(
                "Buyer protection for {handle} ends {date}. You told me you got the parcel, so I will not remind you."
            ))));
        }
        let (_, events) = self.assess(context, view).await?;
        let origin = view.numbers.first().map(String::as_str).unwrap_or_default();
        let zone = context.settings.time_zone.clone();
        let facts = self.doubt_facts(context, view, &DeliveryReport::of(events, origin), &move |at| {
            format_date(at, &zone)
        });
        let text = if view.received == Some(false) || !facts.is_empty() {
            format!(
                "Buyer protection for {handle} ends {date}. The tracking says it was delivered, but {}, so I will remind you {days} days before: open a dispute before then.",
                if view.received == Some(false) {
                    "you told me it did not arrive"
                } else {
                    "the delivery does not match your order"
                }
            )
        } else {
            format!(
                "Buyer protection for {handle} ends {date}. The tracking says it was delivered: if it did not reach you, tap \"I did not receive it\" and I will remind you {days} days before."
            )
        };
        Ok(one(Reply::text(text).with_buttons(vec![
            Button::new("I got it", Action::Received(view.parcel.0)),
            Button::new("I did not receive it", Action::NotReceived(view.parcel.0)),
        ])))
    }

    /// `/ordered <parcel> <date | N days ago>`.
    async fn ordered(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        if args.trim().is_empty() {
            return Ok(one(Reply::text(
                "Send /ordered <number or label> <date>, e.g. /ordered headphones 2026-11-20 or /ordered RB123456785CN 10 days ago. The date is on the order page.",
            )));
        }
        let (view, when, guessed) = match self
            .parcel_and_rest(context, args, "/ordered headphones 2026-11-20")
            .await?
        {
            Ok(found) => found,
            Err(answers) => return Ok(answers),
        };
        if when.trim().is_empty() {
            return Ok(one(self.order_question(context, view.parcel)));
        }
        let zone = parse_time_zone(&context.settings.time_zone).unwrap_or(chrono_tz::UTC);
        match parse::order_date(&when, context.now, zone) {
            Ok(date) => self.set_ordered(context, &view, date).await,
            Err(_) if guessed && starts_with_word(&when) => Ok(no_such_parcel(&when, "ordered")),
            Err(message) => Ok(one(Reply::text(message))),
        }
    }

    async fn set_ordered(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
        date: chrono::NaiveDate,
    ) -> Result<Vec<Answer>, StoreError> {
        let zone = parse_time_zone(&context.settings.time_zone).unwrap_or(chrono_tz::UTC);
        let ordered_at = parse::start_of_day(date, zone);
        match self
            .engine
            .store()
            .set_ordered(context.chat, view.parcel, Some(ordered_at))
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => {
                return Ok(one(Reply::text("You do not follow that parcel any more.")));
            }
            Err(error) => return Err(error),
        }
        let mut view = view.clone();
        view.ordered_at = Some(ordered_at);
        let (assessment, events) = self.assess(context, &view).await?;
        let origin = view.numbers.first().map(String::as_str).unwrap_or_default();
        let zone_name = context.settings.time_zone.clone();
        let facts = self.doubt_facts(context, &view, &DeliveryReport::of(events, origin), &move |at| {
            format_date(at, &zone_name)
        });
        let mut reply = Reply::text(format!(
            "Noted: you ordered {} on {}.",
            render::parcel_handle(&view, context.incoming.is_group),
            render::format_day(date)
        ));
        if facts.is_empty() {
            if assessment.stage == Some(crate::interpret::Stage::Delivered) {
                reply = reply.with(Block::Text("The delivery matches your order's date.".to_owned()));
            }
        } else {
            for fact in facts {
                reply = reply.with(Block::Text(format!("⚠️ {fact}")));
            }
            reply = reply
                .with(Block::Text(crate::messages::render(
                    crate::messages::Language::English,
                    "next.keep_evidence",
                    &[],
                )))
                .with_buttons(vec![
                    Button::new("Message for the seller", Action::Seller(view.parcel.0)),
                    Button::new("Dispute evidence", Action::Evidence(view.parcel.0)),
                ]);
        }
        Ok(vec![self.private(context, reply)])
    }

    /// `/rename <parcel> <new label>`.
    async fn rename(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        if args.trim().is_empty() {
            return Ok(one(Reply::text(
                "Send /rename <number or label> <new label>, e.g. /rename RB123456785CN headphones.",
            )));
        }
        let (view, rest) = match self
            .parcel_and_rest(context, args, "/rename RB123456785CN headphones")
            .await?
        {
            Ok((view, rest, false)) => (view, rest),
            Ok((_, rest, true)) => return Ok(no_such_parcel(&rest, "rename")),
            Err(answers) => return Ok(answers),
        };
        let chars = rest
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .count();
        if chars > parse::MAX_LABEL_CHARS {
            return Ok(one(Reply::text(format!(
                "A label is at most {} characters; yours has {chars}. Nothing was changed.",
                parse::MAX_LABEL_CHARS
            ))));
        }
        let Some(label) = parse::clean_label(&rest) else {
            return Ok(one(Reply::text(format!(
                "What should {} be called? Send /rename {} <new label>.",
                render::parcel_handle(&view, context.incoming.is_group),
                self.handle_of(context, &view)
            ))));
        };
        if !parse::numbers_and_label(&label).numbers.is_empty() {
            return Ok(one(Reply::text(
                "A label cannot be a tracking number; choose a name such as \"headphones\". Nothing was changed.",
            )));
        }
        let views = self.engine.store().subscriptions(context.chat).await?;
        if let Some(other) = views.iter().find(|v| {
            v.parcel != view.parcel && v.label.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(&label))
        }) {
            return Ok(one(Reply::text(format!(
                "You already have a parcel called \"{label}\": {}. Nothing was changed: choose another label.",
                render::parcel_handle(other, context.incoming.is_group)
            ))));
        }
        match self
            .engine
            .store()
            .set_label(context.chat, view.parcel, Some(&label))
            .await
        {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(error) => return Err(error),
        }
        let mut renamed = view.clone();
        renamed.label = Some(label);
        Ok(one(Reply::text(format!(
            "Renamed: {} is now {}.",
            render::parcel_handle(&view, context.incoming.is_group),
            render::parcel_handle(&renamed, context.incoming.is_group)
        ))))
    }

    /// `/received <parcel>`.
    async fn received_command(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        match self.find(context, args, "received").await? {
            Ok(view) => self.received(context, &view, true).await,
            Err(answers) => Ok(answers),
        }
    }

    /// What the buyer said of the delivery: reminders stop after "I got it" and go on
    /// after "I did not receive it".
    async fn received(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
        got_it: bool,
    ) -> Result<Vec<Answer>, StoreError> {
        match self
            .engine
            .store()
            .set_received(context.chat, view.parcel, Some(got_it))
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => {
                return Ok(one(Reply::text("You do not follow that parcel any more.")));
            }
            Err(error) => return Err(error),
        }
        let handle = render::parcel_handle(view, context.incoming.is_group);
        if got_it {
            return Ok(one(Reply::text(format!(
                "Glad {handle} arrived. I will not send buyer-protection reminders for it; /untrack stops following it."
            ))));
        }
        let deadline = match view.protection_ends {
            Some(ends) if ends > context.now => format!(
                "Buyer protection ends {}: I will remind you before then.",
                format_date(ends, &context.settings.time_zone)
            ),
            Some(_) => "Buyer protection has ended; ask the seller anyway, and AliExpress support if they do not help.".to_owned(),
            None => format!(
                "Tell me when buyer protection ends (/protect {} <date>) and I will remind you before then.",
                self.handle_of(context, view)
            ),
        };
        Ok(vec![self.private(
            context,
            Reply::text(format!(
                "Noted: {handle} did not reach you, although the tracking says delivered. Check your mailbox, locker and neighbours; if it is not there, write to the seller and open a dispute with the tracking as evidence. {deadline}"
            ))
            .with_buttons(vec![
                Button::new("Message for the seller", Action::Seller(view.parcel.0)),
                Button::new("Dispute evidence", Action::Evidence(view.parcel.0)),
            ]),
        )])
    }

    async fn seller(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        match self.find(context, args, "seller").await? {
            Ok(view) => self.seller_of(context, &view).await,
            Err(answers) => Ok(answers),
        }
    }

    async fn seller_of(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
    ) -> Result<Vec<Answer>, StoreError> {
        let (assessment, events) = self.assess(context, view).await?;
        Ok(vec![self.private(
            context,
            render::seller_message(view, &assessment, &events, &context.settings.time_zone),
        )])
    }

    async fn evidence(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        match self.find(context, args, "evidence").await? {
            Ok(view) => self.evidence_of(context, &view).await,
            Err(answers) => Ok(answers),
        }
    }

    async fn evidence_of(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
    ) -> Result<Vec<Answer>, StoreError> {
        let (assessment, events) = self.assess(context, view).await?;
        Ok(vec![self.private(
            context,
            render::evidence(view, &assessment, &events, &context.settings, context.now),
        )])
    }

    async fn country(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        let args = args.trim();
        if args.is_empty() {
            let current = match (&context.settings.country, &context.settings.city) {
                (Some(country), Some(city)) => format!("I have you in {city}, {country}."),
                (Some(country), None) => format!("I have you in {country}."),
                _ => "I do not know where you live yet.".to_owned(),
            };
            return Ok(one(Reply::text(format!(
                "{current} Send /country <country> [city], e.g. /country NL Utrecht or /country Spain Madrid. It lets me see when a parcel is delivered somewhere else."
            ))));
        }
        let (country_text, city) = split_country_city(args);
        let code = crate::interpret::place::country_code(&country_text);
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Ok(one(Reply::text(format!(
                "I do not know the country \"{}\". Use its two-letter code (NL, FR, ES, BR, US, …) or its English name.",
                render::shorten(&country_text, 40)
            ))));
        }
        let city = city.and_then(|c| parse::clean_label(&c));
        self.engine
            .store()
            .set_place(context.chat, Some(&code), city.as_deref())
            .await?;
        Ok(one(Reply::text(match city {
            Some(city) => format!("Noted: you live in {city}, {code}."),
            None => format!("Noted: you live in {code}."),
        })))
    }

    async fn timezone(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        let args = args.trim();
        if args.is_empty() {
            return Ok(one(Reply::text(format!(
                "Your time zone is {}. Change it with /timezone <Area/City>, e.g. /timezone Europe/Madrid.",
                context.settings.time_zone
            ))));
        }
        let Some(zone) = parse_time_zone(args) else {
            return Ok(one(Reply::text(format!(
                "I do not know the time zone \"{}\". Use an Area/City name such as Europe/Madrid, America/Sao_Paulo or UTC.",
                render::shorten(args, 40)
            ))));
        };
        let store = self.engine.store();
        store.set_time_zone(context.chat, zone.name()).await?;
        // Dates the buyer gave are calendar days: the same days in the new zone.
        let old_zone = parse_time_zone(&context.settings.time_zone).unwrap_or(chrono_tz::UTC);
        for view in store.subscriptions(context.chat).await? {
            if let Some(ends) = view.protection_ends
                && let Ok(moved) = parse::end_of_day(crate::clock::local_date(ends, &old_zone), zone)
                && moved != ends
            {
                store
                    .set_protection(context.chat, view.parcel, Some(moved))
                    .await?;
            }
            if let Some(ordered) = view.ordered_at {
                let moved = parse::start_of_day(crate::clock::local_date(ordered, &old_zone), zone);
                if moved != ordered {
                    store.set_ordered(context.chat, view.parcel, Some(moved)).await?;
                }
            }
        }
        Ok(one(Reply::text(format!(
            "Your time zone is now {}. It is {} there.",
            zone.name(),
            crate::reply::format_time(context.now, zone.name())
        ))))
    }

    fn ask_forget(&self, context: &Context<'_>) -> Vec<Answer> {
        self.ask(context, Pending::Forget);
        one(Reply::text(
            "This deletes every parcel, setting and queued message of this chat. It cannot be undone. Are you sure?",
        )
        .with_buttons(vec![
            Button::new("Yes, forget everything", Action::ForgetConfirm),
            Button::new("No, keep it", Action::ForgetCancel),
        ]))
    }

    async fn forget(&self, context: &Context<'_>) -> Result<Vec<Answer>, StoreError> {
        self.engine.store().forget_chat(context.chat).await?;
        Ok(one(Reply::text(
            "Done: I deleted everything about this chat. Send a tracking number whenever you want to start again.",
        )))
    }

    async fn assess(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
    ) -> Result<(crate::interpret::Assessment, Vec<crate::interpret::Event>), StoreError> {
        let destination = view
            .numbers
            .first()
            .and_then(|n| TrackingNumber::parse(n).ok())
            .and_then(|n| self.destination(context, &n));
        let facts = BuyerFacts {
            protection_ends: view.protection_ends,
            ordered_at: view.ordered_at,
            asked_at: Some(view.created_at),
            destination,
        };
        match self.engine.assess_for(view.parcel, &facts).await {
            Ok(found) => Ok(found),
            Err(crate::engine::EngineError::Store(error)) => Err(error),
        }
    }

    fn destination(&self, context: &Context<'_>, number: &TrackingNumber) -> Option<Destination> {
        if context.settings.country.is_some() {
            return Some(Destination {
                country: context.settings.country.clone(),
                city: context.settings.city.clone(),
            });
        }
        self.demo_home.map(|home| {
            let (country, city) = home(number);
            Destination {
                country: Some(country.to_owned()),
                city: Some(city.to_owned()),
            }
        })
    }

    fn handle_of(&self, context: &Context<'_>, view: &SubscriptionView) -> String {
        view.label.clone().unwrap_or_else(|| {
            view.numbers
                .first()
                .map(|n| render::show_number(n, context.incoming.is_group))
                .unwrap_or_default()
        })
    }

    /// A reply with a parcel's details: private in a group.
    fn private(&self, context: &Context<'_>, reply: Reply) -> Answer {
        Answer {
            reply,
            private: context.incoming.is_group,
        }
    }
}

/// What following one number came to.
enum Tracked {
    /// The answers (a refusal, or an already followed parcel's status).
    Answers(Vec<Answer>),
    /// Newly followed: the answers and the parcel.
    New(Vec<Answer>, ParcelId),
    /// Not followed because of a limit; the number as shown.
    Limited(Limit, String),
}

/// A per-chat limit that stopped a number.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// Parcels followed at once (how many).
    Parcels(usize),
    /// New numbers per day (how many were added).
    Daily(i64),
}

/// Words that say yes to "are you sure?".
const YES_WORDS: &[&str] = &[
    "yes",
    "y",
    "yes please",
    "yep",
    "yeah",
    "sure",
    "ok",
    "okay",
    "si",
    "sí",
    "oui",
    "ja",
    "sim",
    "tak",
    "да",
    "evet",
    "yes, forget everything",
];

/// Words that say no.
const NO_WORDS: &[&str] = &[
    "no", "n", "nope", "non", "nein", "nee", "não", "nie", "нет", "hayır", "cancel",
];

/// What every command handler needs.
struct Context<'a> {
    incoming: &'a Incoming,
    /// The platform update being handled, when the platform numbers them.
    update: Option<&'a UpdateRef>,
    chat: ChatId,
    settings: ChatSettings,
    now: DateTime<Utc>,
    /// The question the bot asked this chat last, if this message may answer it.
    pending: Option<Pending>,
}

/// Whether `name` (a number as typed, or a label in any case) names the parcel.
fn names(view: &SubscriptionView, name: &str) -> bool {
    let compact: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    view.numbers.contains(&compact)
        || view
            .label
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(name.trim()))
}

/// Whether a reply may be a date or a duration: it has a digit or a date word.
fn looks_like_date(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.chars().any(|c| c.is_ascii_digit())
        || ["today", "yesterday", "tomorrow", "week", "month"]
            .iter()
            .chain(MONTH_WORDS)
            .any(|word| lower.contains(word))
}

/// Whether `text` starts with a word that is no date ("headphones 2026-12-24").
fn starts_with_word(text: &str) -> bool {
    text.split_whitespace().next().is_some_and(|word| {
        word.chars().all(char::is_alphabetic)
            && !["in", "today", "tomorrow", "yesterday", "a"].contains(&word.to_lowercase().as_str())
            && word.len() > 3
            && !MONTH_WORDS
                .iter()
                .any(|month| word.to_lowercase().starts_with(month))
    })
}

/// Month names as dates begin with them (`Dec 24`).
const MONTH_WORDS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// "You do not follow a parcel called …", for a command whose first word names none.
fn no_such_parcel(args: &str, command: &str) -> Vec<Answer> {
    let name = args.split_whitespace().next().unwrap_or_default();
    one(Reply::text(format!(
        "You do not follow a parcel called \"{}\", so nothing was changed. Start /{command} with the number or label of one; /list shows them.",
        render::shorten(name, 40)
    )))
}

/// The first row of answers to "when did you order it?".
fn order_buttons(parcel: ParcelId) -> Vec<Button> {
    vec![
        Button::new("Today", Action::Ordered(parcel.0, Some(0))),
        Button::new("1 week ago", Action::Ordered(parcel.0, Some(7))),
        Button::new("2 weeks ago", Action::Ordered(parcel.0, Some(14))),
    ]
}

fn one(reply: Reply) -> Vec<Answer> {
    vec![Answer::public(reply)]
}

/// `"Spain Madrid"` → (`Spain`, `Madrid`); a country name of several words is tried
/// first (`"United Kingdom London"`).
fn split_country_city(args: &str) -> (String, Option<String>) {
    let words: Vec<&str> = args.split_whitespace().collect();
    // Shortest first: "Netherlands Utrecht" is NL and Utrecht; "United Kingdom London"
    // finds no country in "United" and goes on.
    for split in 1..=words.len() {
        let country = words[..split].join(" ");
        let code = crate::interpret::place::country_code(&country);
        if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            let city = words[split..].join(" ");
            return (country, (!city.is_empty()).then_some(city));
        }
    }
    let city = words[1..].join(" ");
    (
        words.first().map(|w| (*w).to_owned()).unwrap_or_default(),
        (!city.is_empty()).then_some(city),
    )
}
