//! The journey in the conversation: the expected delivery window added to status
//! replies and `/list`, the "Journey" button under status replies, and `/journey`
//! (the journey picture with a short caption).
//!
//! Kept apart from [`render`](super::render) so that the replies built there stay as
//! they are: the window is one more line, added after them.

use crate::clock::Clock;
use crate::interpret::journey::{self, Expected};
use crate::reply::{Action, Block, Button, Image, Reply, format_date};
use crate::store::{Store, StoreError, SubscriptionView};

use super::{Answer, Context, Conversation, one, render};

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
        reply = reply.with_buttons(vec![Button::new("Journey", Action::Journey(view.parcel.0))]);
        Ok(reply)
    }

    /// `/journey <parcel>`.
    pub(super) async fn journey(&self, context: &Context<'_>, args: &str) -> Result<Vec<Answer>, StoreError> {
        match self.find(context, args, "journey").await? {
            Ok(view) => self.journey_of(context, &view).await,
            Err(answers) => Ok(answers),
        }
    }

    /// The "Journey" button.
    pub(super) async fn journey_button(
        &self,
        context: &Context<'_>,
        parcel: i64,
    ) -> Result<Vec<Answer>, StoreError> {
        let views = self.engine.store().subscriptions(context.chat).await?;
        match views.into_iter().find(|view| view.parcel.0 == parcel) {
            Some(view) => self.journey_of(context, &view).await,
            None => Ok(one(Reply::text(
                "You do not follow that parcel any more. /list shows the ones you do.",
            ))),
        }
    }

    /// The journey picture with a short caption: the parcel, its stage, the expected
    /// window.
    async fn journey_of(
        &self,
        context: &Context<'_>,
        view: &SubscriptionView,
    ) -> Result<Vec<Answer>, StoreError> {
        let journey = self.engine.journey(view.parcel).await?;
        let zone = context.settings.time_zone.as_str();
        let date = |at| format_date(at, zone);
        let short_date = |at: chrono::DateTime<chrono::Utc>| {
            let zone = crate::reply::parse_time_zone(zone).unwrap_or(chrono_tz::UTC);
            at.with_timezone(&zone).format("%-d %b").to_string()
        };
        // Private details go whole: the number is shown.
        let name = render::parcel_handle(view, false);
        let mut reply = Reply::default().with(Block::Title(format!("📦 {name}")));
        reply = reply.with(Block::Text(crate::messages::render(
            crate::messages::Language::English,
            &format!("stage.{}", journey.stage.map_or("none", |stage| stage.as_code())),
            &[],
        )));
        if let Some(expected) = &journey.expected {
            reply = reply.with(Block::Text(journey::expected_line(expected, &date)));
        }
        match crate::picture::render_png(&journey, &name, &short_date) {
            Ok(png) => {
                reply.image = Some(Image {
                    name: format!("journey-{}.png", view.parcel.0),
                    png,
                });
            }
            Err(error) => {
                tracing::error!(error = &error as &dyn std::error::Error, "journey picture failed");
                reply = reply.with(Block::Text("I could not draw the picture this time.".to_owned()));
            }
        }
        reply = reply.with_buttons(vec![Button::new("Status", Action::Status(view.parcel.0))]);
        Ok(vec![self.private(context, reply)])
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
