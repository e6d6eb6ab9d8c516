//! Proactive messages: what the engine queues in the outbox (as JSON) and how queued
//! messages for one chat and parcel are rendered into one [`Reply`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::interpret::judge::{OrderFacts, delivery_doubts};
use crate::interpret::place::country_name;
use crate::interpret::{DeliveryReport, Stage};
use crate::messages::{Language, render};
use crate::reply::{Action, Block, Button, Reply};
use crate::store::Notice;

/// One happening worth telling a subscriber about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    /// The parcel moved to a new stage.
    Stage {
        /// The parcel's first number.
        number: String,
        /// The new stage.
        stage: Stage,
        /// When the event that moved it happened.
        at: Option<DateTime<Utc>>,
        /// The next step's message id.
        next_step: String,
        /// Where and when the journey ended, for a delivery or a pick-up notice: each
        /// chat's rendering checks it against that buyer's order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivery: Option<DeliveryReport>,
    },
    /// The parcel travels under a new number from now on.
    Handoff {
        /// The parcel's first number.
        number: String,
        /// The new number.
        new_number: String,
        /// Its carrier, when the source named it.
        carrier: Option<String>,
    },
    /// The parcel has been silent for too long at its stage.
    Advice {
        /// The parcel's first number.
        number: String,
        /// The stage it is stuck in.
        stage: Option<Stage>,
        /// Days without news.
        days: i64,
        /// The next step's message id.
        next_step: String,
    },
    /// A source says the number is invalid: it is not polled any more.
    InvalidNumber {
        /// The number the source refused.
        number: String,
        /// The sources that said so (configuration names).
        sources: Vec<String>,
    },
    /// The source's expected delivery window moved by more than two days.
    Expected {
        /// The parcel's first number.
        number: String,
        /// The new window's start.
        earliest: DateTime<Utc>,
        /// The new window's end.
        latest: DateTime<Utc>,
    },
    /// Buyer protection ends soon.
    Reminder {
        /// The parcel's first number.
        number: String,
        /// When protection ends.
        ends: DateTime<Utc>,
        /// Whole days left, as announced (7, 3, 1 by default).
        days_left: i64,
        /// The parcel's stage.
        stage: Option<Stage>,
        /// For a delivered parcel: why the delivery may not be the buyer's (reason
        /// codes of [`delivery_doubts`]); empty when the buyer said it did not arrive.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        doubts: Vec<String>,
        /// For a delivered parcel: the buyer said it did not arrive.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        not_received: bool,
    },
}

impl Notification {
    /// The message's kind, as stored in the outbox.
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::Stage { .. } => "stage",
            Notification::Handoff { .. } => "handoff",
            Notification::Advice { .. } => "advice",
            Notification::InvalidNumber { .. } => "invalid_number",
            Notification::Reminder { .. } => "reminder",
            Notification::Expected { .. } => "expected",
        }
    }

    /// The outbox notice, deduplicated by `dedupe_key` per chat.
    pub fn to_notice(&self, dedupe_key: String) -> Notice {
        Notice {
            kind: self.kind().to_owned(),
            dedupe_key,
            // Serialising a plain enum of strings and numbers cannot fail.
            payload: serde_json::to_string(self).unwrap_or_default(),
        }
    }

    /// Reads a queued payload; `None` for one this version cannot read.
    pub fn from_payload(payload: &str) -> Option<Notification> {
        serde_json::from_str(payload).ok()
    }

    fn number(&self) -> &str {
        match self {
            Notification::Stage { number, .. }
            | Notification::Handoff { number, .. }
            | Notification::Advice { number, .. }
            | Notification::InvalidNumber { number, .. }
            | Notification::Reminder { number, .. }
            | Notification::Expected { number, .. } => number,
        }
    }
}

/// Masks a number for a group chat: the first two and last four characters stay.
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 6 {
        return "•".repeat(chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "•".repeat(chars.len() - 6))
}

/// How the parcel is named in a message: the label with the number, or the number.
pub fn parcel_name(label: Option<&str>, number: &str, masked: bool) -> String {
    let number = if masked {
        mask_number(number)
    } else {
        number.to_owned()
    };
    match label {
        Some(label) => format!("{label} ({number})"),
        None => number,
    }
}

/// One sentence per doubt about a delivery (reason codes of [`delivery_doubts`]),
/// naming the facts: the place and country, the buyer's home, the dates.
pub fn doubt_sentences(
    doubts: &[&str],
    delivery: &DeliveryReport,
    order: &OrderFacts,
    format_date: &dyn Fn(DateTime<Utc>) -> String,
) -> Vec<String> {
    let place = delivery
        .place_words()
        .unwrap_or_else(|| "a place the carrier does not name".to_owned());
    doubts
        .iter()
        .filter_map(|doubt| {
            Some(match *doubt {
                "delivered_in_other_country" => format!(
                    "It was delivered in {place}, not in {}, where you live: this delivery is probably not yours.",
                    country_name(order.country.as_deref()?)
                ),
                "delivered_in_other_city" => format!(
                    "It was delivered in {place}, not in {}, where you live: this delivery is probably not yours.",
                    order.city.as_deref()?
                ),
                "delivered_before_order" | "events_before_order" => format!(
                    "Its journey began on {}, before your order on {}: the number was used before, so these events are not your parcel's.",
                    format_date(delivery.first_event_at?),
                    format_date(order.ordered_at.or(order.shipped_at)?)
                ),
                "ended_before_asked" => format!(
                    "It was delivered on {}, weeks before you first asked about this number: a reused number looks like this.",
                    format_date(delivery.delivered_at?)
                ),
                _ => return None,
            })
        })
        .collect()
}

/// Renders every pending notification for one chat and parcel as one message: the
/// newest stage only (the earlier ones are history by now), then handoffs, advice and
/// reminders, in order. `parcel` gives the buttons their target; `order` is what the
/// chat told about its order, against which a delivery is checked; `format_time` and
/// `format_date` show moments and days in the chat's time zone.
pub fn render_merged(
    notifications: &[Notification],
    label: Option<&str>,
    parcel: Option<i64>,
    masked: bool,
    format_time: &dyn Fn(DateTime<Utc>) -> String,
    format_date: &dyn Fn(DateTime<Utc>) -> String,
    order: &OrderFacts,
) -> Reply {
    let language = Language::English;
    let Some(first) = notifications.first() else {
        return Reply::default();
    };
    let name = parcel_name(label, first.number(), masked);
    let mut reply = Reply::default().with(Block::Title(format!("📦 {name}")));
    let newest_stage = notifications
        .iter()
        .rposition(|n| matches!(n, Notification::Stage { .. }));
    let mut next_steps: Vec<String> = Vec::new();
    let mut delivered = false;
    let mut doubtful = false;
    for (index, notification) in notifications.iter().enumerate() {
        match notification {
            Notification::Stage { .. } if Some(index) != newest_stage => {}
            Notification::Stage {
                stage,
                at,
                next_step,
                delivery,
                ..
            } => {
                let place = delivery.as_ref().and_then(DeliveryReport::place_words);
                let when = match (at.map(format_time), place) {
                    (Some(at), Some(place)) => format!(" ({at}, {place})"),
                    (Some(one), None) | (None, Some(one)) => format!(" ({one})"),
                    (None, None) => String::new(),
                };
                let stage_text = render(language, &format!("stage.{}", stage.as_code()), &[]);
                reply = reply.with(Block::Text(format!("{stage_text}{when}")));
                let doubts = delivery
                    .as_ref()
                    .map(|delivery| (delivery_doubts(&delivery.as_facts(), order), delivery))
                    .filter(|(doubts, _)| !doubts.is_empty());
                if let Some((doubts, delivery)) = doubts {
                    for sentence in doubt_sentences(&doubts, delivery, order, format_date) {
                        reply = reply.with(Block::Text(format!("⚠️ {sentence}")));
                    }
                    doubtful = true;
                    next_steps.push(
                        if doubts.contains(&"ended_before_asked") {
                            "next.tell_order_date"
                        } else {
                            "next.delivered_elsewhere"
                        }
                        .to_owned(),
                    );
                } else {
                    next_steps.push(next_step.clone());
                }
                delivered |= *stage == Stage::Delivered;
            }
            Notification::Handoff {
                new_number, carrier, ..
            } => {
                let new_number = if masked {
                    mask_number(new_number)
                } else {
                    new_number.clone()
                };
                let carrier = carrier
                    .as_deref()
                    .map(|c| format!(" with {c}"))
                    .unwrap_or_default();
                reply = reply.with(Block::Text(format!(
                    "New tracking number{carrier}: {new_number}. I follow it for you; nothing to do."
                )));
            }
            Notification::Advice {
                stage,
                days,
                next_step,
                ..
            } => {
                #[allow(clippy::cast_precision_loss)]
                let elapsed = crate::interpret::duration_words(*days as f64);
                let text = match stage {
                    // Never scanned: there never was news, only the wait for a first scan.
                    None | Some(Stage::InfoReceived) => format!(
                        "Still no first scan after {elapsed}: a first scan normally comes within {}.",
                        crate::interpret::duration_words(crate::interpret::judge::FIRST_SCAN_DAYS)
                    ),
                    Some(stage) => format!(
                        "No news for {elapsed} at the stage \"{}\": that is longer than normal.",
                        stage.as_code().replace('_', " ")
                    ),
                };
                reply = reply.with(Block::Text(text));
                next_steps.push(next_step.clone());
            }
            Notification::InvalidNumber { number, sources } => {
                let shown = if masked {
                    mask_number(number)
                } else {
                    number.clone()
                };
                let names: Vec<&str> = sources
                    .iter()
                    .map(|source| crate::provider::display_name(source))
                    .collect();
                reply = reply.with(Block::Text(render(
                    language,
                    "notice.invalid_number",
                    &[("source", names.join(" and ")), ("number", shown)],
                )));
            }
            Notification::Expected { earliest, latest, .. } => {
                reply = reply.with(Block::Text(render(
                    language,
                    "notice.expected_moved",
                    &[(
                        "window",
                        crate::interpret::journey::window_words(*earliest, *latest, format_time),
                    )],
                )));
            }
            Notification::Reminder {
                ends,
                days_left,
                stage,
                doubts,
                not_received,
                ..
            } => {
                let day_word = if *days_left == 1 { "day" } else { "days" };
                reply = reply.with(Block::Text(format!(
                    "⏰ Buyer protection ends in {days_left} {day_word} ({}). If the parcel is not with you by then, you lose the right to a refund through the marketplace.",
                    format_time(*ends)
                )));
                if *stage == Some(Stage::Delivered) {
                    let why = if *not_received {
                        "you told me it did not arrive".to_owned()
                    } else if doubts.iter().any(|d| d == "ended_before_asked") {
                        "the delivery happened long before you asked about the number".to_owned()
                    } else if doubts.iter().any(|d| d.contains("before_order")) {
                        "the number was used before your order".to_owned()
                    } else {
                        "the delivery does not match your address".to_owned()
                    };
                    reply = reply.with(Block::Text(format!(
                        "The tracking says it was delivered, but {why}. If you do not have it, open a dispute before the deadline, with the tracking as evidence; if it has come, tap \"I got it\"."
                    )));
                    doubtful = true;
                    delivered = true;
                    continue;
                }
                let arriving = matches!(
                    stage,
                    Some(
                        Stage::HandedToLastMile
                            | Stage::DomesticTransit
                            | Stage::OutForDelivery
                            | Stage::DeliveryFailed
                            | Stage::PickupAvailable
                    )
                );
                let step = if arriving {
                    "next.arriving_before_deadline"
                } else if *days_left <= 3 {
                    "next.open_dispute"
                } else {
                    "next.extend_or_dispute"
                };
                next_steps.push(step.to_owned());
            }
        }
    }
    // Waiting is the default; only a step that asks something of the buyer is said.
    if let Some(step) = next_steps
        .last()
        .filter(|step| !matches!(step.as_str(), "next.wait_until" | "next.wait_first_scan"))
    {
        let text = render(language, step, &[("date", "the next update".to_owned())]);
        reply = reply.with(Block::Text(text));
    }
    if let Some(parcel) = parcel {
        let wants_seller = doubtful
            || notifications
                .iter()
                .any(|n| matches!(n, Notification::Advice { .. } | Notification::Reminder { .. }));
        let mut row = vec![Button::new("Status", Action::Status(parcel))];
        if wants_seller {
            row.push(Button::new("Message for the seller", Action::Seller(parcel)));
            row.push(Button::new("Dispute evidence", Action::Evidence(parcel)));
        }
        reply = reply.with_buttons(row);
        if delivered {
            // Reminders go on or stop on the buyer's word.
            reply = reply.with_buttons(vec![
                Button::new("I got it", Action::Received(parcel)),
                Button::new("I did not receive it", Action::NotReceived(parcel)),
            ]);
        }
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_the_ends() {
        assert_eq!(mask_number("RB104729000CN"), "RB•••••••00CN");
        assert_eq!(mask_number("AB12"), "••••");
    }

    #[test]
    fn merged_messages_keep_only_the_newest_stage() {
        let stage = |stage| Notification::Stage {
            number: "RB104729000CN".to_owned(),
            stage,
            at: None,
            next_step: "next.wait_until".to_owned(),
            delivery: None,
        };
        let reply = render_merged(
            &[stage(Stage::Customs), stage(Stage::CustomsReleased)],
            Some("shoes"),
            Some(7),
            false,
            &|t| t.to_rfc3339(),
            &|t| t.to_rfc3339(),
            &OrderFacts::default(),
        );
        let text = reply.to_plain();
        assert!(text.contains("shoes (RB104729000CN)"), "{text}");
        assert!(text.contains("released"), "{text}");
        assert!(!text.contains("going through import customs"), "{text}");
    }
}
