//! The journey in the conversation: the expected delivery window added to status
//! replies and `/list`.
//!
//! Kept apart from [`render`](super::render) so that the replies built there stay as
//! they are: the window is one more line, added after them.

use crate::clock::Clock;
use crate::interpret::journey::{self, Expected};
use crate::reply::{Block, Reply, format_date};
use crate::store::{Store, StoreError, SubscriptionView};

use super::{Context, Conversation};

impl<S: Store, C: Clock> Conversation<S, C> {
    /// The parcel's expected delivery window now (`None` once delivered).
    pub(super) async fn expected(&self, view: &SubscriptionView) -> Result<Option<Expected>, StoreError> {
        Ok(self.engine.journey(view.parcel).await?.expected)
    }

    /// A status reply with the expected delivery window under the summary.
    pub(super) async fn with_expected(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
        mut reply: Reply,
    ) -> Result<Reply, StoreError> {
        if let Some(expected) = self.expected(view).await? {
            let zone = context.settings.time_zone.as_str();
            let line = journey::expected_line(&expected, &|at| format_date(at, zone));
            // Under the title and the summary, above the events.
            let at = reply.blocks.len().min(2);
            reply.blocks.insert(at, Block::Text(line));
        }
        Ok(reply)
    }

    /// A `/list` reply with each parcel's expected window at the end of its line
    /// (`views` in the order [`render::list`](super::render::list) wrote them).
    pub(super) async fn list_with_expected(
        &self,
        context: &Context<'_>,
        views: &[SubscriptionView],
        mut reply: Reply,
    ) -> Result<Reply, StoreError> {
        let zone = context.settings.time_zone.as_str();
        let mut windows = Vec::with_capacity(views.len());
        for view in views {
            windows.push(self.expected(view).await?);
        }
        for block in &mut reply.blocks {
            let Block::Bullets(items) = block else { continue };
            if items.len() != views.len() {
                continue;
            }
            for (item, expected) in items.iter_mut().zip(&windows) {
                let Some(expected) = expected else { continue };
                let window =
                    journey::window_words(expected.earliest, expected.latest, &|at| format_date(at, zone));
                item.push_str(", ");
                item.push_str(&crate::messages::render(
                    crate::messages::Language::English,
                    "expected.list",
                    &[("window", window)],
                ));
            }
        }
        Ok(reply)
    }
}
