//! Sending to Discord: the engine's [`Notifier`] for proactive messages (a DM to the
//! person, or the channel they chose), and the error mapping both it and the adapter use.
//!
//! Every proactive message carries the outbox key as its `nonce` with `enforce_nonce`,
//! so a message sent again after a crash is not posted twice. A DM refused with 50007
//! (the person closed their DMs or blocked the bot) marks the person unreachable; the
//! bot then asks them once, in the server channel they last used it in, to open their
//! DMs or choose channel delivery. 403s are never retried: they count toward Discord's
//! invalid-request ban.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bot_core::engine::notify::{Notifier, Recipient, SendError, SendFuture, SendLimits};
use bot_core::reply::Reply;
use serenity::builder::{CreateAllowedMentions, CreateMessage};
use serenity::http::{Http, HttpError};
use serenity::model::channel::Nonce;
use serenity::model::id::{ChannelId, UserId};

use crate::PLATFORM;
use crate::render::{Part, parts};

/// Discord's code for "Cannot send messages to this user".
pub const CANNOT_MESSAGE_USER: isize = 50007;

/// How long to hold Discord sends after a 429 whose wait is unknown (behind a proxy,
/// serenity does not keep the `retry_after` of the answer; the proxy owns the limits).
const UNKNOWN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A serenity error as the engine's [`SendError`].
pub fn send_error(error: &serenity::Error) -> SendError {
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            let status = response.status_code.as_u16();
            let what = format!("{status} {}: {}", response.error.code, response.error.message);
            match status {
                429 => SendError::RetryAfter(UNKNOWN_RETRY_AFTER),
                // Closed DMs (50007), a blocked bot, no access to the channel: for good.
                403 => SendError::Unreachable(what),
                500..=599 => SendError::Transient(what),
                _ => SendError::Rejected(what),
            }
        }
        serenity::Error::Http(HttpError::Request(error)) => SendError::Transient(error.to_string()),
        other => SendError::Transient(other.to_string()),
    }
}

/// A channel message of one part of a reply; no mentions ping anyone.
pub fn message_of(part: &Part) -> CreateMessage {
    let mut message = CreateMessage::new()
        .allowed_mentions(CreateAllowedMentions::new())
        .components(part.components());
    if !part.content.is_empty() {
        message = message.content(part.content.clone());
    }
    if let Some(embed) = part.create_embed() {
        message = message.embed(embed);
    }
    message
}

/// Sends the engine's messages to Discord.
#[derive(Clone)]
pub struct DiscordSender {
    http: Arc<Http>,
    /// DM channel of each person, opened once.
    dm_channels: Arc<Mutex<HashMap<UserId, ChannelId>>>,
}

impl std::fmt::Debug for DiscordSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordSender").finish_non_exhaustive()
    }
}

impl DiscordSender {
    /// A sender over `http` (see [`crate::http`]).
    pub fn new(http: Arc<Http>) -> DiscordSender {
        DiscordSender {
            http,
            dm_channels: Arc::default(),
        }
    }

    /// The HTTP client.
    pub fn http(&self) -> &Arc<Http> {
        &self.http
    }

    /// The person's DM channel, opened on first use.
    async fn dm_channel(&self, user: UserId) -> Result<ChannelId, SendError> {
        let known = self
            .dm_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user)
            .copied();
        if let Some(channel) = known {
            return Ok(channel);
        }
        let channel = user
            .create_dm_channel(&*self.http)
            .await
            .map_err(|error| send_error(&error))?
            .id;
        self.dm_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user, channel);
        Ok(channel)
    }

    /// Posts `reply` in `channel`; each part carries `key` (with its index) as nonce.
    pub async fn post(&self, channel: ChannelId, reply: &Reply, key: &str) -> Result<(), SendError> {
        for (index, part) in parts(reply).iter().enumerate() {
            let nonce = if index == 0 {
                key.to_owned()
            } else {
                format!("{key}-{index}")
            };
            let message = message_of(part)
                .nonce(Nonce::String(nonce.chars().take(25).collect()))
                .enforce_nonce(true);
            channel
                .send_message(&*self.http, message)
                .await
                .map_err(|error| send_error(&error))?;
        }
        Ok(())
    }

    /// Tells the person, in the channel they last used the bot in, that their DMs are
    /// closed to the bot. Best effort: the message itself stays in the outbox.
    async fn ask_to_open_dms(&self, user: UserId, channel: ChannelId) {
        let message = CreateMessage::new()
            .content(format!(
                "<@{user}> I have news about your parcel but cannot send you a direct message. \
                 Allow direct messages from this server's members (Privacy Settings), \
                 or use /notify here to get your updates in this channel."
            ))
            // Ping the person concerned, nobody else.
            .allowed_mentions(CreateAllowedMentions::new().users([user]));
        if let Err(error) = channel.send_message(&*self.http, message).await {
            tracing::info!(error = %bot_core::ops::Chain(&error), "could not ask a person to open their DMs");
        }
    }
}

/// The person a Discord chat stands for.
pub fn user_of(chat: &bot_core::store::ChatRef) -> Option<UserId> {
    if chat.platform() != PLATFORM {
        return None;
    }
    chat.id()
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(UserId::new)
}

impl Notifier for DiscordSender {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn limits(&self) -> SendLimits {
        SendLimits::DISCORD
    }

    fn is_group(&self, to: &Recipient) -> bool {
        // A server channel is read by others: numbers are masked there.
        to.notify_channel.is_some()
    }

    fn send<'a>(&'a self, to: &'a Recipient, reply: &'a Reply) -> SendFuture<'a> {
        Box::pin(async move {
            let Some(user) = user_of(&to.chat) else {
                return Err(SendError::Rejected(format!(
                    "not a Discord user: {}",
                    to.chat.id()
                )));
            };
            if let Some(channel) = to.notify_channel.as_deref().and_then(channel_id) {
                return self.post(channel, reply, &to.idempotency_key).await;
            }
            let result = match self.dm_channel(user).await {
                Ok(channel) => self.post(channel, reply, &to.idempotency_key).await,
                Err(error) => Err(error),
            };
            if let Err(SendError::Unreachable(_)) = &result
                && let Some(channel) = to.last_channel.as_deref().and_then(channel_id)
            {
                self.ask_to_open_dms(user, channel).await;
            }
            result
        })
    }
}

/// A stored channel id.
pub fn channel_id(text: &str) -> Option<ChannelId> {
    text.parse::<u64>().ok().filter(|id| *id > 0).map(ChannelId::new)
}

#[cfg(test)]
mod tests {
    use bot_core::store::ChatRef;

    use super::*;

    #[test]
    fn only_discord_chats_are_people() {
        let person = ChatRef::new(PLATFORM, "80351110224678912").expect("chat");
        let other = ChatRef::new("telegram", "42").expect("chat");
        assert_eq!(user_of(&person), Some(UserId::new(80_351_110_224_678_912)));
        assert_eq!(user_of(&other), None);
        assert_eq!(channel_id("0"), None);
        assert_eq!(channel_id("x"), None);
    }

    #[test]
    fn a_channel_is_a_group_and_a_dm_is_not() {
        let sender = DiscordSender::new(Arc::new(Http::new("token")));
        let chat = ChatRef::new(PLATFORM, "1").expect("chat");
        let mut to = Recipient::chat(chat, "pb1");
        assert!(!sender.is_group(&to));
        to.notify_channel = Some("99".to_owned());
        assert!(sender.is_group(&to));
    }
}
