//! Discord interactions into the core conversation, and its answers back.
//!
//! On Discord the chat is the person (their user id): their parcels follow them from
//! server to server and into DMs. A slash command becomes the text command it stands
//! for, a button press its encoded action. Every interaction is acknowledged at once
//! (a deferred reply, which Discord must get within 3 seconds) and the answer then
//! edits it in, however long the providers take. In a server channel all answers are
//! ephemeral, since they show a parcel's details; in DMs they are ordinary messages.
//! Autocomplete offers the person's own parcels and nobody else's.

use std::sync::Arc;

use bot_core::clock::Clock;
use bot_core::conversation::{Answer, Conversation, Incoming, Input};
use bot_core::reply::Reply;
use bot_core::store::{ChatRef, Store};
use serenity::all::{
    CommandInteraction, ComponentInteraction, Context, CreateAllowedMentions, CreateAutocompleteResponse,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    EditInteractionResponse, EventHandler, Interaction, Ready,
};
use serenity::http::Http;
use serenity::model::application::Command;

use crate::PLATFORM;
use crate::commands::{self, PARCEL_OPTION};
use crate::render::{self, Part};

/// Autocomplete shows at most this many choices (Discord's limit).
const MAX_CHOICES: usize = 25;

/// The adapter: the conversation, served on Discord. It is serenity's event handler.
pub struct DiscordAdapter<S, C> {
    conversation: Arc<Conversation<S, C>>,
}

impl<S, C> std::fmt::Debug for DiscordAdapter<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordAdapter").finish_non_exhaustive()
    }
}

/// Where an interaction came from, as the conversation needs it.
struct Origin {
    chat: ChatRef,
    user: String,
    /// The server channel, when not in DMs.
    channel: Option<String>,
    update_id: String,
}

impl Origin {
    fn of(
        user: &serenity::model::user::User,
        in_server: bool,
        channel: serenity::model::id::ChannelId,
        id: String,
    ) -> Option<Origin> {
        Some(Origin {
            chat: ChatRef::new(PLATFORM, &user.id.get().to_string()).ok()?,
            user: user.id.get().to_string(),
            channel: in_server.then(|| channel.get().to_string()),
            update_id: id,
        })
    }

    fn incoming(&self, input: Input) -> Incoming {
        Incoming {
            chat: self.chat.clone(),
            user: Some(self.user.clone()),
            // The chat is one person, and in servers every answer is ephemeral.
            is_group: false,
            update_id: Some(self.update_id.clone()),
            channel: self.channel.clone(),
            input,
        }
    }
}

impl<S: Store, C: Clock> DiscordAdapter<S, C> {
    /// An adapter answering with `conversation`.
    pub fn new(conversation: Arc<Conversation<S, C>>) -> DiscordAdapter<S, C> {
        DiscordAdapter { conversation }
    }

    async fn on_command(&self, http: &Http, command: &CommandInteraction) {
        let text = commands::as_text(
            &command.data.name,
            &commands::option_values(&command.data.options()),
        );
        self.serve(http, Interacted::Command(command), Input::Text(text))
            .await;
    }

    async fn on_button(&self, http: &Http, press: &ComponentInteraction) {
        let input = Input::Button(press.data.custom_id.clone());
        self.serve(http, Interacted::Button(press), input).await;
    }

    /// Acknowledges the interaction at once (Discord drops one not acknowledged within
    /// 3 s), then lets the conversation answer and edits the answer in.
    async fn serve(&self, http: &Http, to: Interacted<'_>, input: Input) {
        let in_server = to.guild_id().is_some();
        let deferred =
            CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(in_server));
        if let Err(error) = to.create_response(http, deferred).await {
            tracing::warn!(error = %bot_core::ops::Chain(&error), "could not acknowledge an interaction");
            return;
        }
        let Some(incoming) = incoming(&to, in_server, input) else {
            return;
        };
        let answers = self.handle(incoming).await;
        self.answer(http, to, in_server, answers).await;
    }

    /// The conversation's answers to `incoming`, counted in the metrics.
    pub(crate) async fn handle(&self, incoming: Incoming) -> Vec<Answer> {
        let answers = self.conversation.handle(incoming).await;
        bot_core::ops::telemetry::update_handled(PLATFORM, answers.len());
        answers
    }

    async fn on_autocomplete(&self, http: &Http, command: &CommandInteraction) {
        let response = CreateInteractionResponse::Autocomplete(self.choices(command).await);
        if let Err(error) = command.create_response(http, response).await {
            tracing::debug!(error = %bot_core::ops::Chain(&error), "could not answer an autocomplete");
        }
    }

    /// The person's parcels matching what they typed in the focused option.
    pub(crate) async fn choices(&self, command: &CommandInteraction) -> CreateAutocompleteResponse {
        let mut choices = CreateAutocompleteResponse::new();
        let Some(focused) = command.data.autocomplete() else {
            return choices;
        };
        if focused.name == PARCEL_OPTION
            && let Ok(chat) = ChatRef::new(PLATFORM, &command.user.id.get().to_string())
        {
            match self
                .conversation
                .parcel_choices(&chat, focused.value, MAX_CHOICES)
                .await
            {
                Ok(found) => {
                    for choice in found {
                        choices = choices.add_string_choice(choice.name, choice.value);
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %bot_core::ops::Chain(&error), "could not list parcels for autocomplete")
                }
            }
        }
        choices
    }

    /// Edits the deferred reply into the first message of the answers and sends the rest
    /// as follow-ups (ephemeral in servers).
    pub(crate) async fn answer(
        &self,
        http: &Http,
        to: Interacted<'_>,
        ephemeral: bool,
        answers: Vec<Answer>,
    ) {
        let messages = rendered(&answers);
        let Some((first, rest)) = messages.split_first() else {
            // A replayed interaction: the first delivery was answered.
            if let Err(error) = to.delete_response(http).await {
                tracing::debug!(error = %bot_core::ops::Chain(&error), "could not clear a replayed interaction");
            }
            return;
        };
        let mut edit = EditInteractionResponse::new()
            .content(first.content.clone())
            .components(first.components())
            .allowed_mentions(CreateAllowedMentions::new());
        if let Some(embed) = first.create_embed() {
            edit = edit.embed(embed);
        }
        if let Err(error) = to.edit_response(http, edit).await {
            tracing::warn!(error = %bot_core::ops::Chain(&error), "could not send an answer");
            return;
        }
        self.follow_up(http, to, ephemeral, rest).await;
    }

    /// Sends `rest` as follow-ups of an answered interaction.
    pub(crate) async fn follow_up(&self, http: &Http, to: Interacted<'_>, ephemeral: bool, rest: &[Part]) {
        for part in rest {
            let mut followup = CreateInteractionResponseFollowup::new()
                .ephemeral(ephemeral)
                .components(part.components())
                .allowed_mentions(CreateAllowedMentions::new());
            if !part.content.is_empty() {
                followup = followup.content(part.content.clone());
            }
            if let Some(embed) = part.create_embed() {
                followup = followup.embed(embed);
            }
            if let Err(error) = to.followup(http, followup).await {
                tracing::warn!(error = %bot_core::ops::Chain(&error), "could not send the rest of an answer");
                return;
            }
        }
    }
}

/// The replies of `answers` as Discord messages.
pub(crate) fn rendered(answers: &[Answer]) -> Vec<Part> {
    let replies: Vec<&Reply> = answers.iter().map(|answer| &answer.reply).collect();
    render::messages(&replies)
}

/// What the conversation is told of an interaction: who, where, which update.
pub(crate) fn incoming(to: &Interacted<'_>, in_server: bool, input: Input) -> Option<Incoming> {
    let (user, channel, id) = to.origin();
    let origin = Origin::of(user, in_server, channel, id.to_string())?;
    Some(origin.incoming(input))
}

/// The interaction an answer goes to.
pub(crate) enum Interacted<'a> {
    Command(&'a CommandInteraction),
    Button(&'a ComponentInteraction),
}

impl Interacted<'_> {
    pub(crate) fn guild_id(&self) -> Option<serenity::model::id::GuildId> {
        match self {
            Interacted::Command(command) => command.guild_id,
            Interacted::Button(press) => press.guild_id,
        }
    }

    /// Who interacted, in which channel, and the interaction's id.
    fn origin(&self) -> (&serenity::model::user::User, serenity::model::id::ChannelId, u64) {
        match self {
            Interacted::Command(command) => (&command.user, command.channel_id, command.id.get()),
            Interacted::Button(press) => (&press.user, press.channel_id, press.id.get()),
        }
    }

    async fn create_response(
        &self,
        http: &Http,
        response: CreateInteractionResponse,
    ) -> serenity::Result<()> {
        match self {
            Interacted::Command(command) => command.create_response(http, response).await,
            Interacted::Button(press) => press.create_response(http, response).await,
        }
    }

    async fn edit_response(&self, http: &Http, edit: EditInteractionResponse) -> serenity::Result<()> {
        match self {
            Interacted::Command(command) => command.edit_response(http, edit).await.map(|_| ()),
            Interacted::Button(press) => press.edit_response(http, edit).await.map(|_| ()),
        }
    }

    async fn followup(
        &self,
        http: &Http,
        followup: CreateInteractionResponseFollowup,
    ) -> serenity::Result<()> {
        match self {
            Interacted::Command(command) => command.create_followup(http, followup).await.map(|_| ()),
            Interacted::Button(press) => press.create_followup(http, followup).await.map(|_| ()),
        }
    }

    async fn delete_response(&self, http: &Http) -> serenity::Result<()> {
        match self {
            Interacted::Command(command) => command.delete_response(http).await,
            Interacted::Button(press) => press.delete_response(http).await,
        }
    }
}

#[serenity::async_trait]
impl<S: Store, C: Clock> EventHandler for DiscordAdapter<S, C> {
    async fn ready(&self, ctx: Context, ready: Ready) {
        match register_commands(&ctx.http).await {
            Ok(registered) => tracing::info!(
                user = %ready.user.name,
                commands = registered.len(),
                "Discord bot ready"
            ),
            Err(error) => {
                tracing::error!(error = %bot_core::ops::Chain(&error), "could not register the slash commands")
            }
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match &interaction {
            Interaction::Command(command) => self.on_command(&ctx.http, command).await,
            Interaction::Component(press) => self.on_button(&ctx.http, press).await,
            Interaction::Autocomplete(command) => self.on_autocomplete(&ctx.http, command).await,
            // Pings and modals: the bot opens no modals.
            _ => {}
        }
    }
}

/// Registers the slash commands (global), replacing earlier definitions.
///
/// # Errors
/// serenity's error when Discord refuses them or cannot be reached.
pub(crate) async fn register_commands(http: &Http) -> serenity::Result<Vec<Command>> {
    Command::set_global_commands(http, commands::definitions()).await
}
