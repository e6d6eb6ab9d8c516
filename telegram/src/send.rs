//! Sending to Telegram: one [`TelegramSender`] for the conversation's replies and the
//! engine's proactive messages (it is the engine's [`Notifier`] for Telegram), so both
//! keep the same pace per chat, and Telegram's errors become the engine's
//! [`SendError`]s: 429 → retry after, a blocked bot or a closed chat → unreachable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bot_core::engine::notify::{Notifier, Recipient, SendError, SendFuture, SendLimits};
use bot_core::reply::Reply;
use bot_core::store::ChatRef;
use teloxide::payloads::SendMessageSetters;
use teloxide::prelude::*;
use teloxide::types::{LinkPreviewOptions, ParseMode};
use teloxide::{ApiError, RequestError};

use crate::PLATFORM;
use crate::render::{MAX_MESSAGE_CHARS, parts};

/// Sends replies and proactive messages to Telegram chats.
#[derive(Debug, Clone)]
pub struct TelegramSender {
    bot: Bot,
    last_sent: Arc<Mutex<HashMap<i64, Instant>>>,
}

impl TelegramSender {
    /// A sender through `bot`.
    pub fn new(bot: Bot) -> TelegramSender {
        TelegramSender {
            bot,
            last_sent: Arc::default(),
        }
    }

    /// The bot it sends with.
    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    /// Sends `reply` to `chat`, in as many messages as Telegram's length limit needs,
    /// at most one per second to one chat (Telegram's limit).
    ///
    /// # Errors
    /// The first part Telegram refused, as a [`SendError`]; earlier parts stay sent.
    pub async fn send_reply(&self, chat: ChatId, reply: &Reply) -> Result<(), SendError> {
        for part in parts(reply, MAX_MESSAGE_CHARS) {
            if part.html.trim().is_empty() {
                continue;
            }
            self.pace(chat).await;
            let mut request = self
                .bot
                .send_message(chat, part.html)
                .parse_mode(ParseMode::Html)
                .link_preview_options(LinkPreviewOptions {
                    is_disabled: true,
                    url: None,
                    prefer_small_media: false,
                    prefer_large_media: false,
                    show_above_text: false,
                });
            if let Some(keyboard) = part.keyboard {
                request = request.reply_markup(keyboard);
            }
            request.await.map_err(send_error)?;
        }
        Ok(())
    }

    /// Waits until the chat may get its next message.
    async fn pace(&self, chat: ChatId) {
        let interval = SendLimits::TELEGRAM.per_chat_interval;
        let wait = {
            let mut last_sent = self.last_sent.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let next = last_sent
                .get(&chat.0)
                .map_or(now, |last| (*last + interval).max(now));
            last_sent.insert(chat.0, next);
            if last_sent.len() > 10_000 {
                last_sent.retain(|_, at| *at + interval > now);
            }
            next - now
        };
        if wait > Duration::ZERO {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The Telegram chat of a stored chat reference.
pub fn chat_id(chat: &ChatRef) -> Option<ChatId> {
    (chat.platform() == PLATFORM)
        .then(|| chat.id().parse::<i64>().ok())
        .flatten()
        .map(ChatId)
}

impl Notifier for TelegramSender {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn limits(&self) -> SendLimits {
        SendLimits::TELEGRAM
    }

    fn is_group(&self, to: &Recipient) -> bool {
        // Telegram gives groups, supergroups and channels negative ids.
        chat_id(&to.chat).is_some_and(|id| id.0 < 0)
    }

    fn send<'a>(&'a self, to: &'a Recipient, reply: &'a Reply) -> SendFuture<'a> {
        Box::pin(async move {
            let Some(id) = chat_id(&to.chat) else {
                return Err(SendError::Rejected(format!(
                    "not a Telegram chat id: {}",
                    to.chat.id()
                )));
            };
            self.send_reply(id, reply).await
        })
    }
}

/// Telegram's answer as the engine's error. Telegram names refusals in its description
/// (the status code is not kept by teloxide): `Forbidden: …` and the kicked/blocked
/// family mean the chat refuses the bot for good.
pub fn send_error(error: RequestError) -> SendError {
    match error {
        RequestError::RetryAfter(seconds) => SendError::RetryAfter(seconds.duration()),
        RequestError::Network(error) => SendError::Transient(error.to_string()),
        RequestError::InvalidJson { .. } | RequestError::Io(_) => SendError::Transient(error.to_string()),
        RequestError::MigrateToChatId(to) => {
            SendError::Unreachable(format!("the group became the supergroup {to}"))
        }
        RequestError::Api(api) => match api {
            ApiError::BotBlocked
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel
            | ApiError::UserDeactivated
            | ApiError::CantInitiateConversation
            | ApiError::CantTalkWithBots
            | ApiError::ChatNotFound
            | ApiError::GroupDeactivated => SendError::Unreachable(api.to_string()),
            ApiError::Unknown(text) if text.starts_with("Forbidden") => SendError::Unreachable(text),
            ApiError::Unknown(text) if !text.starts_with("Bad Request") => SendError::Transient(text),
            other => SendError::Rejected(other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_engine_errors() {
        assert_eq!(
            send_error(RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(
                7
            ))),
            SendError::RetryAfter(Duration::from_secs(7))
        );
        assert!(matches!(
            send_error(RequestError::Api(ApiError::BotBlocked)),
            SendError::Unreachable(_)
        ));
        assert!(matches!(
            send_error(RequestError::Api(ApiError::Unknown(
                "Forbidden: bot is not a member".to_owned()
            ))),
            SendError::Unreachable(_)
        ));
        assert!(matches!(
            send_error(RequestError::Api(ApiError::Unknown(
                "Internal Server Error".to_owned()
            ))),
            SendError::Transient(_)
        ));
        assert!(matches!(
            send_error(RequestError::Api(ApiError::MessageIsTooLong)),
            SendError::Rejected(_)
        ));
    }

    #[test]
    fn only_telegram_chats_have_ids_and_negative_ones_are_groups() {
        let sender = TelegramSender::new(Bot::new("1:x"));
        let private = ChatRef::new(PLATFORM, "42").expect("chat");
        let group = ChatRef::new(PLATFORM, "-100123").expect("chat");
        let other = ChatRef::new("discord", "42").expect("chat");
        assert_eq!(chat_id(&private), Some(ChatId(42)));
        assert_eq!(chat_id(&other), None);
        assert!(!sender.is_group(&Recipient::chat(private, "pb1")));
        assert!(sender.is_group(&Recipient::chat(group, "pb2")));
    }
}
