//! The [`Notifier`] port: how the engine hands a proactive message to a chat platform.
//! The Telegram and Discord adapters implement it; [`RecordingNotifier`] records what
//! would have been sent (tests, and the console).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::reply::Reply;
use crate::store::ChatRef;

/// Why a platform did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Too many requests: wait this long (the platform said so).
    #[error("rate limited, retry after {0:?}")]
    RetryAfter(Duration),
    /// A failure that may pass (network, 5xx).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The chat refuses the bot for good (blocked, kicked, DMs closed).
    #[error("chat unreachable: {0}")]
    Unreachable(String),
    /// The platform refused this message (it will refuse it again).
    #[error("message refused: {0}")]
    Rejected(String),
}

/// A platform's sending limits (as the platforms document them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendLimits {
    /// Messages per second over all chats.
    pub per_second: u32,
    /// Least time between two messages to one chat.
    pub per_chat_interval: Duration,
    /// Messages per minute to one group chat.
    pub group_per_minute: u32,
}

impl SendLimits {
    /// Telegram: 30 messages/s overall, one per second per chat, 20 per minute per group.
    pub const TELEGRAM: SendLimits = SendLimits {
        per_second: 30,
        per_chat_interval: Duration::from_secs(1),
        group_per_minute: 20,
    };

    /// Discord: 50 requests/s overall; channels have their own buckets, answered by
    /// retry-after.
    pub const DISCORD: SendLimits = SendLimits {
        per_second: 50,
        per_chat_interval: Duration::from_millis(200),
        group_per_minute: 60,
    };

    /// The console: no limit worth the name.
    pub const UNLIMITED: SendLimits = SendLimits {
        per_second: 1000,
        per_chat_interval: Duration::ZERO,
        group_per_minute: 100_000,
    };
}

/// Who a proactive message is for, and where it may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The chat (on Discord, the person).
    pub chat: ChatRef,
    /// A shared channel the person chose for updates instead of private messages.
    pub notify_channel: Option<String>,
    /// The shared channel the person last used the bot in: where the adapter may say
    /// that it cannot write to them privately.
    pub last_channel: Option<String>,
    /// The same for every attempt to send this message, so that a platform that
    /// supports it (Discord's `nonce`) drops a repeat after a crash.
    pub idempotency_key: String,
}

impl Recipient {
    /// A recipient reached in its own chat, with no channels.
    pub fn chat(chat: ChatRef, idempotency_key: impl Into<String>) -> Recipient {
        Recipient {
            chat,
            notify_channel: None,
            last_channel: None,
            idempotency_key: idempotency_key.into(),
        }
    }
}

/// The future a [`Notifier`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Sends proactive messages to one platform's chats.
pub trait Notifier: Send + Sync + 'static {
    /// The platform served (`telegram`, `discord`, `console`), as in [`ChatRef`].
    fn platform(&self) -> &'static str;

    /// The platform's limits.
    fn limits(&self) -> SendLimits;

    /// Whether the message goes where several people read it (stricter limits, masked
    /// numbers).
    fn is_group(&self, to: &Recipient) -> bool;

    /// Sends one message. MUST return [`SendError::Unreachable`] only when the platform
    /// says the chat refuses the bot for good.
    fn send<'a>(&'a self, to: &'a Recipient, reply: &'a Reply) -> SendFuture<'a>;
}

/// A message a [`RecordingNotifier`] took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The recipient's chat.
    pub chat: ChatRef,
    /// The channel it went to instead of the chat, when the person chose one.
    pub channel: Option<String>,
    /// The message.
    pub reply: Reply,
}

/// A notifier that records messages and can be told to fail; clones share the record.
#[derive(Debug, Clone)]
pub struct RecordingNotifier {
    platform: &'static str,
    limits: SendLimits,
    state: Arc<Mutex<RecordingState>>,
}

#[derive(Debug, Default)]
struct RecordingState {
    sent: Vec<Sent>,
    failures: Vec<SendError>,
    attempts: usize,
}

impl RecordingNotifier {
    /// A recorder for `platform` with `limits`.
    pub fn new(platform: &'static str, limits: SendLimits) -> RecordingNotifier {
        RecordingNotifier {
            platform,
            limits,
            state: Arc::default(),
        }
    }

    /// The next sends fail with these errors, in order, before sends succeed again.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = SendError>) {
        self.lock().failures.extend(errors);
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// Takes everything sent so far, leaving the record empty.
    pub fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut self.lock().sent)
    }

    /// Calls to `send`, failed ones included.
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecordingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Notifier for RecordingNotifier {
    fn platform(&self) -> &'static str {
        self.platform
    }

    fn limits(&self) -> SendLimits {
        self.limits
    }

    fn is_group(&self, to: &Recipient) -> bool {
        // Telegram's convention, kept by the fake: group ids are negative; a shared
        // channel is read by several people too.
        to.chat.id().starts_with('-') || to.notify_channel.is_some()
    }

    fn send<'a>(&'a self, to: &'a Recipient, reply: &'a Reply) -> SendFuture<'a> {
        Box::pin(async move {
            let mut state = self.lock();
            state.attempts += 1;
            if !state.failures.is_empty() {
                return Err(state.failures.remove(0));
            }
            state.sent.push(Sent {
                chat: to.chat.clone(),
                channel: to.notify_channel.clone(),
                reply: reply.clone(),
            });
            Ok(())
        })
    }
}
