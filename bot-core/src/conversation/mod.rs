//! The conversation: every command a buyer can give, written once for all platforms.
//! An adapter turns a platform update into an [`Incoming`] and renders the [`Answer`]s;
//! the console, Telegram and Discord all hold the same conversation.
//!
//! Rules kept everywhere:
//! - bad input gets a clear answer and changes nothing;
//! - a replayed platform update (same update id) is ignored: no double subscription,
//!   no double reply;
//! - in a group chat numbers are masked, and a parcel's details go privately (whole) to
//!   the person who asked;
//! - limits per chat (active parcels, new numbers per day, commands per minute).
//!
//! Layout: this module handles commands; [`parse`] reads input; [`render`] builds the
//! longer replies (status, list, verdicts, messages for the seller, evidence).

mod journey;
pub mod parse;
pub mod render;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

use crate::clock::{Clock, Saturating};
use crate::engine::Engine;
use crate::interpret::Destination;
use crate::number::{Outcome, Recognition, TrackingNumber};
use crate::reply::{Action, Block, Button, Reply, format_date, parse_time_zone};
use crate::store::{ChatId, ChatRef, ChatSettings, Store, StoreError, SubscriptionView};
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

/// Where the simulated carrier's buyer lives, for the console demo: a number gets the
/// home its simulated journey goes to, so that "delivered elsewhere" means something.
pub type DemoHome = fn(&TrackingNumber) -> (&'static str, &'static str);

/// The conversation over an engine.
pub struct Conversation<S, C> {
    engine: Arc<Engine<S, C>>,
    limits: ChatLimits,
    demo_home: Option<DemoHome>,
    recent_commands: Mutex<HashMap<ChatRef, VecDeque<DateTime<Utc>>>>,
    forget_asked: Mutex<HashSet<ChatRef>>,
}

impl<S, C> std::fmt::Debug for Conversation<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The commands, for `/help` and the platforms' command menus: `(name, description)`.
pub const COMMANDS: &[(&str, &str)] = &[
    ("track", "Follow a parcel: /track <number> [label]"),
    ("list", "Your parcels"),
    ("status", "Where a parcel is: /status <number or label>"),
    ("untrack", "Stop following a parcel"),
    ("fake", "Is this number fake? /fake <number>"),
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
            forget_asked: Mutex::default(),
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

    /// Answers one update. Never fails: a storage failure becomes an apology and
    /// changes nothing.
    pub async fn handle(&self, incoming: Incoming) -> Vec<Answer> {
        match self.handle_inner(&incoming).await {
            Ok(answers) => answers,
            Err(error) => {
                tracing::error!(%error, platform = incoming.chat.platform(), "conversation failed");
                vec![Answer::public(Reply::text(
                    "Something went wrong on my side and nothing was changed. Please try again in a minute.",
                ))]
            }
        }
    }

    async fn handle_inner(&self, incoming: &Incoming) -> Result<Vec<Answer>, StoreError> {
        let store = self.engine.store();
        let now = self.engine.clock().now();
        if let Some(update) = &incoming.update_id
            && !store
                .first_handling(incoming.chat.platform(), update, now)
                .await?
        {
            return Ok(Vec::new());
        }
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
        let context = Context {
            incoming,
            chat,
            settings,
            now,
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
        if !matches!(parse::parse(text), Parsed::Command { ref name, .. } if name == "forget") {
            self.forget_asked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&context.incoming.chat);
        }
        match parse::parse(text) {
            Parsed::Command { name, args } => match name.as_str() {
                "start" => Ok(one(render::start())),
                "help" => Ok(one(render::help(
                    context.incoming.chat.platform() == SHARED_CHANNEL_PLATFORM,
                ))),
                "notify" => self.notify(context, &args).await,
                "track" => self.track(context, &args).await,
                "list" => self.list(context).await,
                "status" => self.status(context, &args).await,
                "untrack" | "stop" => self.untrack(context, &args).await,
                "fake" => self.fake(context, &args).await,
                "protect" => self.protect(context, &args).await,
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
                let found = parse::numbers_and_label(&text);
                if found.numbers.is_empty() {
                    return Ok(one(Reply::text(
                        "Send me a tracking number and I will follow the parcel for you. /help lists everything I can do.",
                    )));
                }
                if parse::asks_if_fake(&text) {
                    return self.fake(context, &text).await;
                }
                self.track(context, &text).await
            }
        }
    }

    async fn button(&self, context: &Context<'_>, data: &str) -> Result<Vec<Answer>, StoreError> {
        let Some(action) = Action::decode(data) else {
            return Ok(one(Reply::text(
                "That button is no longer valid. /list shows your parcels.",
            )));
        };
        match action {
            Action::Track(number) => self.track(context, &number).await,
            Action::Fake(number) => self.fake(context, &number).await,
            Action::ForgetConfirm => self.forget(context).await,
            Action::ForgetCancel => {
                self.forget_asked
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&context.incoming.chat);
                Ok(one(Reply::text("Nothing was deleted.")))
            }
            Action::Journey(parcel) => self.journey_button(context, parcel).await,
            Action::Status(parcel)
            | Action::Stop(parcel)
            | Action::Protect(parcel)
            | Action::Seller(parcel)
            | Action::Evidence(parcel) => {
                let views = self.engine.store().subscriptions(context.chat).await?;
                let Some(view) = views.into_iter().find(|v| v.parcel.0 == parcel) else {
                    return Ok(one(Reply::text(
                        "You do not follow that parcel any more. /list shows the ones you do.",
                    )));
                };
                match action {
                    Action::Status(_) => self.status_of(context, &view).await,
                    Action::Stop(_) => self.stop(context, &view).await,
                    Action::Protect(_) => Ok(vec![self.private(
                        context,
                        Reply::text(format!(
                            "When does buyer protection end? Send /protect {} followed by the date from the order page (2026-12-24) or a number of days (15 days).",
                            self.handle_of(context, &view)
                        )),
                    )]),
                    Action::Seller(_) => self.seller_of(context, &view).await,
                    _ => self.evidence_of(context, &view).await,
                }
            }
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

    async fn track(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
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
        let label = if found.numbers.len() == 1 {
            found.label.clone()
        } else {
            None
        };
        let mut answers = Vec::new();
        for recognition in found.numbers.iter().take(10) {
            answers.extend(self.track_one(context, recognition, label.as_deref()).await?);
        }
        if found.numbers.len() > 10 {
            answers.push(Answer::public(Reply::text(
                "I took the first 10 numbers of that message; send the others in another one.",
            )));
        }
        Ok(answers)
    }

    async fn track_one(
        &self,
        context: &Context<'_>,
        recognition: &Recognition,
        label: Option<&str>,
    ) -> Result<Vec<Answer>, StoreError> {
        let masked = context.incoming.is_group;
        let shown = recognition
            .normalized
            .as_deref()
            .map(|n| render::show_number(n, masked))
            .unwrap_or_default();
        match recognition.outcome {
            Outcome::OrderNumber => {
                return Ok(one(Reply::text(format!(
                    "{shown} is an AliExpress order number, not a tracking number. Open the order, tap \"Track order\" and copy the tracking number shown there."
                ))));
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
                return Ok(one(reply));
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
                return Ok(one(reply));
            }
            Outcome::Recognised | Outcome::Uncertain | Outcome::Plausible => {}
        }
        let Ok(number) = TrackingNumber::try_from(recognition.clone()) else {
            return Ok(one(Reply::text(format!(
                "{shown} is not a tracking number I can follow."
            ))));
        };
        let store = self.engine.store();
        let views = store.subscriptions(context.chat).await?;
        if let Some(view) = views
            .iter()
            .find(|v| v.numbers.iter().any(|n| n == number.as_str()))
        {
            let mut answers = one(Reply::text(format!(
                "You already follow {}.",
                render::parcel_handle(view, masked)
            )));
            answers.extend(self.status_of(context, view).await?);
            return Ok(answers);
        }
        if views.len() >= self.limits.active_parcels {
            return Ok(one(Reply::text(format!(
                "You follow {} parcels, the most I keep per chat. Stop following a delivered one with /untrack, then try again.",
                views.len()
            ))));
        }
        let today = store
            .subscriptions_since(context.chat, context.now.minus(Duration::days(1)))
            .await?;
        if today >= self.limits.new_numbers_per_day {
            return Ok(one(Reply::text(format!(
                "You added {today} numbers in the last 24 hours, the most I take per day. Try again tomorrow."
            ))));
        }
        let subscribed = match store
            .subscribe(
                context.chat,
                &number,
                label,
                context.incoming.user.as_deref(),
                context.now,
            )
            .await
        {
            Err(StoreError::AlreadySubscribed) => {
                return Ok(one(Reply::text(format!("You already follow {shown}."))));
            }
            other => other?,
        };
        let views = store.subscriptions(context.chat).await?;
        let Some(view) = views.iter().find(|v| v.parcel == subscribed.parcel) else {
            return Err(StoreError::NotFound);
        };
        let answered = match self.engine.refresh(view).await {
            Ok(answered) => answered,
            Err(crate::engine::EngineError::Store(error)) => return Err(error),
        };
        let views = store.subscriptions(context.chat).await?;
        let view = views
            .iter()
            .find(|v| v.parcel == subscribed.parcel)
            .unwrap_or(view);
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
        Ok(answers)
    }

    async fn list(&self, context: &Context<'_>) -> Result<Vec<Answer>, StoreError> {
        let views = self.engine.store().subscriptions(context.chat).await?;
        let reply = render::list(&views, context.settings.time_zone.as_str(), false);
        let reply = self.list_with_expected(context, &views, reply).await?;
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
        // The details go privately, so they may show the whole number.
        let reply = render::status(view, &assessment, &events, &context.settings.time_zone, false);
        let reply = self.with_expected(context, view, reply).await?;
        Ok(vec![self.private(context, reply)])
    }

    async fn untrack(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        if args.trim().is_empty() {
            return Ok(one(Reply::text(
                "Which parcel? Send /untrack followed by its number or label.",
            )));
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
        let Some(recognition) = found.numbers.first() else {
            return Ok(one(Reply::text(
                "Which number? Send /fake followed by the tracking number, e.g. /fake RB123456785CN",
            )));
        };
        let masked = context.incoming.is_group;
        let Ok(number) = TrackingNumber::try_from(recognition.clone()) else {
            return Ok(one(render::fake_by_shape(recognition, masked)));
        };
        let views = self.engine.store().subscriptions(context.chat).await?;
        if let Some(view) = views
            .iter()
            .find(|v| v.numbers.iter().any(|n| n == number.as_str()))
        {
            let (assessment, _) = self.assess(context, view).await?;
            return Ok(vec![self.private(
                context,
                render::fake_verdict(number.as_str(), &assessment, false, true),
            )]);
        }
        // Not followed: ask the providers once, without subscribing.
        let destination = self.destination(context, &number);
        match crate::track::track_once(self.engine.providers(), &number, destination, context.now).await {
            Ok(report) => Ok(vec![self.private(
                context,
                render::fake_verdict(number.as_str(), &report.assessment, false, false),
            )]),
            Err(error) => Ok(one(Reply::text(format!(
                "The number's format is fine, but I could not ask the carriers: {error}. Try again in a few minutes."
            )))),
        }
    }

    async fn protect(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        let views = self.engine.store().subscriptions(context.chat).await?;
        let args = args.trim();
        if args.is_empty() {
            return Ok(one(Reply::text(
                "Send /protect <number or label> <date or N days>, e.g. /protect headphones 2026-12-24 or /protect RB123456785CN 15 days. The date is on the order page (\"buyer protection\").",
            )));
        }
        // The parcel is the longest leading part that names one; the rest is the date.
        let words: Vec<&str> = args.split_whitespace().collect();
        let mut chosen: Option<(SubscriptionView, String)> = None;
        for split in (1..=words.len()).rev() {
            let name = words[..split].join(" ");
            if let Some(view) = views.iter().find(|v| names(v, &name)) {
                chosen = Some((view.clone(), words[split..].join(" ")));
                break;
            }
        }
        let (view, when) = match chosen {
            Some(found) => found,
            None if views.len() == 1 => (views[0].clone(), args.to_owned()),
            None => {
                return Ok(one(Reply::text(
                    "Which parcel? Start with its number or label, then the date: /protect headphones 2026-12-24. /list shows your parcels.",
                )));
            }
        };
        if when.trim().is_empty() {
            return Ok(one(Reply::text(format!(
                "Until when? Send /protect {} followed by a date (2026-12-24) or a number of days (15 days).",
                self.handle_of(context, &view)
            ))));
        }
        let zone = parse_time_zone(&context.settings.time_zone).unwrap_or(chrono_tz::UTC);
        let ends = match parse::deadline(&when, context.now, zone) {
            Ok(ends) => ends,
            Err(message) => return Ok(one(Reply::text(message))),
        };
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
        Ok(one(Reply::text(format!(
            "Buyer protection for {} ends {}. I will remind you {} days before, unless it is delivered.",
            render::parcel_handle(&view, context.incoming.is_group),
            format_date(ends, &context.settings.time_zone),
            render::join_words(&days)
        ))))
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
        self.engine
            .store()
            .set_time_zone(context.chat, zone.name())
            .await?;
        Ok(one(Reply::text(format!(
            "Your time zone is now {}. It is {} there.",
            zone.name(),
            crate::reply::format_time(context.now, zone.name())
        ))))
    }

    fn ask_forget(&self, context: &Context<'_>) -> Vec<Answer> {
        self.forget_asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(context.incoming.chat.clone());
        one(Reply::text(
            "This deletes every parcel, setting and queued message of this chat. It cannot be undone. Are you sure?",
        )
        .with_buttons(vec![
            Button::new("Yes, forget everything", Action::ForgetConfirm),
            Button::new("No, keep it", Action::ForgetCancel),
        ]))
    }

    async fn forget(&self, context: &Context<'_>) -> Result<Vec<Answer>, StoreError> {
        let asked = self
            .forget_asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&context.incoming.chat);
        if !asked {
            return Ok(one(Reply::text(
                "Send /forget first; then confirm with the button.",
            )));
        }
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
        match self
            .engine
            .assess_parcel(view.parcel, view.protection_ends, destination)
            .await
        {
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

/// What every command handler needs.
struct Context<'a> {
    incoming: &'a Incoming,
    chat: ChatId,
    settings: ChatSettings,
    now: DateTime<Utc>,
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
