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

    async fn on_command(&self, ctx: &Context, command: &CommandInteraction) {
        let text = commands::as_text(
            &command.data.name,
            &commands::option_values(&command.data.options()),
        );
        self.serve(ctx, Interacted::Command(command), Input::Text(text))
            .await;
    }

    async fn on_button(&self, ctx: &Context, press: &ComponentInteraction) {
        let input = Input::Button(press.data.custom_id.clone());
        self.serve(ctx, Interacted::Button(press), input).await;
    }

    /// Acknowledges the interaction at once (Discord drops one not acknowledged within
    /// 3 s), then lets the conversation answer and edits the answer in.
    async fn serve(&self, ctx: &Context, to: Interacted<'_>, input: Input) {
        let in_server = to.guild_id().is_some();
        let deferred =
            CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(in_server));
        if let Err(error) = to.create_response(ctx, deferred).await {
            tracing::warn!(%error, "could not acknowledge an interaction");
            return;
        }
        let (user, channel, id) = to.origin();
        let Some(origin) = Origin::of(user, in_server, channel, id.to_string()) else {
            return;
        };
        let answers = self.conversation.handle(origin.incoming(input)).await;
        self.answer(ctx, to, in_server, answers).await;
    }

    async fn on_autocomplete(&self, ctx: &Context, command: &CommandInteraction) {
        let Some(focused) = command.data.autocomplete() else {
            return;
        };
        let mut choices = CreateAutocompleteResponse::new();
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
                Err(error) => tracing::warn!(%error, "could not list parcels for autocomplete"),
            }
        }
        let response = CreateInteractionResponse::Autocomplete(choices);
        if let Err(error) = command.create_response(&ctx.http, response).await {
            tracing::debug!(%error, "could not answer an autocomplete");
        }
    }

    /// Edits the deferred reply into the first message of the answers and sends the rest
    /// as follow-ups (ephemeral in servers).
    async fn answer(&self, ctx: &Context, to: Interacted<'_>, ephemeral: bool, answers: Vec<Answer>) {
        let replies: Vec<&Reply> = answers.iter().map(|answer| &answer.reply).collect();
        let messages: Vec<Part> = render::messages(&replies);
        let Some((first, rest)) = messages.split_first() else {
            // A replayed interaction: the first delivery was answered.
            if let Err(error) = to.delete_response(ctx).await {
                tracing::debug!(%error, "could not clear a replayed interaction");
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
        if let Err(error) = to.edit_response(ctx, edit).await {
            tracing::warn!(%error, "could not send an answer");
            return;
        }
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
            if let Err(error) = to.followup(ctx, followup).await {
                tracing::warn!(%error, "could not send the rest of an answer");
                return;
            }
        }
    }
}

/// The interaction an answer goes to.
enum Interacted<'a> {
    Command(&'a CommandInteraction),
    Button(&'a ComponentInteraction),
}

impl Interacted<'_> {
    fn guild_id(&self) -> Option<serenity::model::id::GuildId> {
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
        ctx: &Context,
        response: CreateInteractionResponse,
    ) -> serenity::Result<()> {
        match self {
            Interacted::Command(command) => command.create_response(&ctx.http, response).await,
            Interacted::Button(press) => press.create_response(&ctx.http, response).await,
        }
    }

    async fn edit_response(&self, ctx: &Context, edit: EditInteractionResponse) -> serenity::Result<()> {
        match self {
            Interacted::Command(command) => command.edit_response(&ctx.http, edit).await.map(|_| ()),
            Interacted::Button(press) => press.edit_response(&ctx.http, edit).await.map(|_| ()),
        }
    }

    async fn followup(
        &self,
        ctx: &Context,
        followup: CreateInteractionResponseFollowup,
    ) -> serenity::Result<()> {
        match self {
            Interacted::Command(command) => command.create_followup(&ctx.http, followup).await.map(|_| ()),
            Interacted::Button(press) => press.create_followup(&ctx.http, followup).await.map(|_| ()),
        }
    }

    async fn delete_response(&self, ctx: &Context) -> serenity::Result<()> {
        match self {
            Interacted::Command(command) => command.delete_response(&ctx.http).await,
            Interacted::Button(press) => press.delete_response(&ctx.http).await,
        }
    }
}

#[serenity::async_trait]
impl<S: Store, C: Clock> EventHandler for DiscordAdapter<S, C> {
    async fn ready(&self, ctx: Context, ready: Ready) {
        match Command::set_global_commands(&ctx.http, commands::definitions()).await {
            Ok(registered) => tracing::info!(
                user = %ready.user.name,
                commands = registered.len(),
                "Discord bot ready"
            ),
            Err(error) => tracing::error!(%error, "could not register the slash commands"),
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match &interaction {
            Interaction::Command(command) => self.on_command(&ctx, command).await,
            Interaction::Component(press) => self.on_button(&ctx, press).await,
            Interaction::Autocomplete(command) => self.on_autocomplete(&ctx, command).await,
            // Pings and modals: the bot opens no modals.
            _ => {}
        }
    }
}
