//! The longer replies of the conversation: status, list, verdicts, the message for the
//! seller and the dispute evidence. Pure functions of what the store and the judgement
//! say; every date in the chat's time zone.

use chrono::{DateTime, Utc};

use crate::engine::notice::mask_number;
use crate::interpret::judge::{AuthenticityVerdict, SilenceVerdict};
use crate::interpret::{Assessment, Event, Stage, merge};
use crate::number::{Outcome, Recognition};
use crate::reply::{Action, Block, Button, Reply, format_date, format_time};
use crate::store::{ChatSettings, SubscriptionView};

use super::COMMANDS;

/// Events shown in a status.
const STATUS_EVENTS: usize = 6;

/// `/start`: what the bot does, in three lines.
pub fn start() -> Reply {
    Reply::default()
        .with(Block::Title("Parcel tracker for AliExpress orders".to_owned()))
        .with(Block::Text(
            "Send me a tracking number: I tell you where the parcel is, in plain words, and whether its silence is normal.\nI keep watching it, follow it when the local post gives it a new number, and write when something changes.\nI also check whether a number looks fake and remind you before buyer protection runs out.".to_owned(),
        ))
}

/// `/help`: every command.
pub fn help(shared_channels: bool) -> Reply {
    let reply = Reply::default()
        .with(Block::Title("What I can do".to_owned()))
        .with(Block::Bullets(
            COMMANDS
                .iter()
                .map(|(name, description)| format!("/{name}: {description}"))
                .collect(),
        ))
        .with(Block::Text(
            "You can also just paste a tracking number, or ask \"is RB123456785CN fake?\".".to_owned(),
        ));
    if shared_channels {
        reply.with(Block::Text(
            "Updates come to you as direct messages. /notify here sends them to the channel you are in instead; /notify dm brings them back.".to_owned(),
        ))
    } else {
        reply
    }
}

/// Cuts `text` to `max` characters (with an ellipsis).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

/// A number as shown: masked in groups.
pub fn show_number(number: &str, masked: bool) -> String {
    if masked {
        mask_number(number)
    } else {
        number.to_owned()
    }
}

/// How a followed parcel is named: `label (number)` or the number.
pub fn parcel_handle(view: &SubscriptionView, masked: bool) -> String {
    let number = view
        .numbers
        .first()
        .map(|n| show_number(n, masked))
        .unwrap_or_default();
    match &view.label {
        Some(label) => format!("{label} ({number})"),
        None => number,
    }
}

/// `7, 3 and 1`.
pub fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The stage in a few words (`in customs`, `no scan yet`).
pub fn stage_words(stage: Option<Stage>) -> String {
    stage.map_or_else(|| "no scan yet".to_owned(), |s| s.as_code().replace('_', " "))
}

/// A calendar day as the chat reads it: `Fri 20 Nov 2026`.
pub fn format_day(date: chrono::NaiveDate) -> String {
    date.format("%a %-d %b %Y").to_string()
}

/// `/list`.
pub fn list(views: &[SubscriptionView], time_zone: &str, masked: bool, now: DateTime<Utc>) -> Reply {
    if views.is_empty() {
        return Reply::text("You do not follow any parcel yet. Send me a tracking number to start.");
    }
    let items = views
        .iter()
        .map(|view| {
            let last = view
                .last_event_at
                .map(|t| format!(", last news {}", format_time(t, time_zone)))
                .unwrap_or_default();
            let protection = view
                .protection_ends
                .map(|t| {
                    if t < now {
                        format!(", protection ended {}", format_date(t, time_zone))
                    } else {
                        format!(", protection until {}", format_date(t, time_zone))
                    }
                })
                .unwrap_or_default();
            let received = match view.received {
                Some(true) => ", you got it",
                Some(false) => ", not received",
                None => "",
            };
            let handoff = if view.numbers.len() > 1 {
                format!(
                    ", now {}",
                    show_number(&view.numbers[view.numbers.len() - 1], masked)
                )
            } else {
                String::new()
            };
            format!(
                "{}: {}{handoff}{last}{received}{protection}",
                parcel_handle(view, masked),
                stage_words(view.stage)
            )
        })
        .collect();
    let mut reply = Reply::default()
        .with(Block::Title(format!("Your parcels ({})", views.len())))
        .with(Block::Bullets(items));
    for chunk in views.chunks(3).take(4) {
        reply = reply.with_buttons(
            chunk
                .iter()
                .map(|view| {
                    let name = view.label.clone().unwrap_or_else(|| {
                        view.numbers
                            .first()
                            .map(|n| show_number(n, masked))
                            .unwrap_or_default()
                    });
                    Button::new(shorten(&name, 20), Action::Status(view.parcel.0))
                })
                .collect(),
        );
    }
    reply
}

fn event_line(event: &Event, time_zone: &str) -> String {
    let place = event
        .location
        .as_deref()
        .filter(|l| !l.is_empty())
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    format!(
        "{}: {}{place}",
        format_time(event.time.to_utc(), time_zone),
        event.text
    )
}

/// The parcel's events, newest first, merged across sources.
fn newest_first(events: &[Event], own: &str) -> Vec<Event> {
    let timeline = merge(events.iter().cloned(), &[own]);
    timeline.events.iter().rev().map(|e| e.event.clone()).collect()
}

/// `/status`: the stage in words, the silence verdict, the next step, recent events and
/// buttons.
pub fn status(
    view: &SubscriptionView,
    assessment: &Assessment,
    events: &[Event],
    time_zone: &str,
    masked: bool,
    doubts: &[String],
) -> Reply {
    let own = view.numbers.first().map(String::as_str).unwrap_or_default();
    let mut reply = Reply::default()
        .with(Block::Title(format!("📦 {}", parcel_handle(view, masked))))
        .with(Block::Text(assessment.summary.clone()));
    for doubt in doubts {
        reply = reply.with(Block::Text(format!("⚠️ {doubt}")));
    }
    if view.numbers.len() > 1 {
        let others: Vec<String> = view.numbers[1..].iter().map(|n| show_number(n, masked)).collect();
        reply = reply.with(Block::Text(format!("Also tracked under: {}.", others.join(", "))));
    }
    let recent: Vec<String> = newest_first(events, own)
        .iter()
        .take(STATUS_EVENTS)
        .map(|e| event_line(e, time_zone))
        .collect();
    if !recent.is_empty() {
        reply = reply.with(Block::Bullets(recent));
    }
    let parcel = view.parcel.0;
    let mut row = vec![
        Button::new("Is it fake?", Action::Fake(own.to_owned())),
        Button::new("Stop", Action::Stop(parcel)),
    ];
    if view.protection_ends.is_none() && assessment.stage != Some(Stage::Delivered) {
        row.insert(1, Button::new("Set protection date", Action::Protect(parcel)));
    }
    let worrying = assessment
        .silence
        .as_ref()
        .is_some_and(|s| s.verdict != SilenceVerdict::Normal)
        || matches!(assessment.stage, Some(Stage::Returning | Stage::Exception))
        || matches!(
            assessment.authenticity.verdict,
            AuthenticityVerdict::NotYours | AuthenticityVerdict::Suspicious
        );
    reply = reply.with_buttons(row);
    if assessment.stage == Some(Stage::Delivered) && view.received.is_none() {
        reply = reply.with_buttons(vec![
            Button::new("I got it", Action::Received(parcel)),
            Button::new("I did not receive it", Action::NotReceived(parcel)),
        ]);
    }
    if worrying {
        reply = reply.with_buttons(vec![
            Button::new("Message for the seller", Action::Seller(parcel)),
            Button::new("Dispute evidence", Action::Evidence(parcel)),
        ]);
    }
    reply
}

fn reason_words(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "check_digit_bad" => "its check digit does not match: no carrier issued it as typed",
        "unknown_format" => "it matches no carrier's number format",
        "unknown_country_code" => "its last two letters are not a country code",
        "order_number" => "it is an AliExpress order number, not a tracking number",
        "untracked_service" => "its service letter is an economy service that is not tracked abroad",
        "no_events" => "no carrier has scanned it yet",
        "label_only" => "only a shipping label exists so far",
        "within_first_scan_window" => "that is normal in the first days after shipping",
        "past_first_scan_window" => "it has stayed unscanned much longer than normal",
        "stuck_past_act_limit" => "it has not moved for much longer than normal",
        "delivered_before_order" | "events_before_order" => {
            "its events happened before your order: the number was used before (a reused number)"
        }
        "delivered_in_other_city" => "it was delivered in another city than yours",
        "delivered_in_other_country" => "it was delivered in another country than yours",
        "ended_before_asked" => "it was delivered weeks before you first asked about it",
        "awaiting_dispatch" => "Cainiao knows the number, but no carrier has the parcel yet",
        "sources_still_looking" => "the tracking services have only just started looking for it",
        "unknown_to_cainiao" => "Cainiao, which issued the number, does not know it",
        "invalid_at_seventeen_track" => "17TRACK says it is not a valid tracking number",
        "invalid_at_ship24" => "Ship24 says it is not a valid tracking number",
        "moving" => "it is moving through the network",
        "consistent" => "its events are consistent with your order",
        _ => return None,
    })
}

/// Reasons about the delivery, which the facts name better when they are known.
const DOUBT_REASONS: &[&str] = &[
    "delivered_in_other_country",
    "delivered_in_other_city",
    "delivered_before_order",
    "events_before_order",
    "ended_before_asked",
];

/// A verdict from the number's shape alone (it did not parse).
pub fn fake_by_shape(recognition: &Recognition, masked: bool) -> Reply {
    let shown = recognition
        .normalized
        .as_deref()
        .map(|n| show_number(n, masked))
        .unwrap_or_default();
    let (verdict, next) = match recognition.outcome {
        Outcome::OrderNumber => (
            format!("{shown} is not fake, but it is your order number, not a tracking number."),
            "Open the order and copy the tracking number shown under \"Track order\".",
        ),
        Outcome::Invalid => (
            format!("{shown} cannot be a real tracking number as typed: its check digit does not match."),
            "Check it against the order page; if the seller gave it like this, ask them for the correct one.",
        ),
        _ => (
            format!("{shown} is not a tracking number of any carrier I know."),
            "Ask the seller for the tracking number of the carrier that has the parcel.",
        ),
    };
    let mut reply = Reply::text(verdict).with(Block::Text(format!("Next: {next}")));
    if !recognition.suggestions.is_empty() {
        reply = reply.with_buttons(
            recognition
                .suggestions
                .iter()
                .map(|s| {
                    Button::new(
                        format!("Track {}", show_number(s, masked)),
                        Action::Track(s.clone()),
                    )
                })
                .collect(),
        );
    }
    reply
}

/// `/fake`: the verdict with its reasons and what to do next.
/// `facts` name the facts behind a doubt about the delivery (place, dates); they stand
/// in for the general words of those reasons.
pub fn fake_verdict(
    number: &str,
    assessment: &Assessment,
    masked: bool,
    followed: bool,
    facts: &[String],
) -> Reply {
    let shown = show_number(number, masked);
    let past_window = assessment
        .authenticity
        .reasons
        .iter()
        .any(|reason| reason == "past_first_scan_window");
    let (headline, next) = match assessment.authenticity.verdict {
        AuthenticityVerdict::Genuine => (
            format!("{shown} looks genuine."),
            "Nothing to do: follow it here.",
        ),
        AuthenticityVerdict::NotScannedYet => (
            format!("{shown} is not fake as far as I can tell; it is just not scanned yet."),
            "Wait a few days: sellers create the number before handing the parcel over. I tell you when the first scan comes.",
        ),
        AuthenticityVerdict::Typo => (
            format!("{shown} is not a valid number as typed."),
            "Check it against the order page and track the corrected number.",
        ),
        AuthenticityVerdict::UntrackedService => (
            format!("{shown} is real, but of an economy service that is not tracked abroad."),
            "Expect little news until it arrives; if nothing comes before buyer protection ends, open a dispute.",
        ),
        AuthenticityVerdict::Suspicious if assessment.next_step == "next.tell_order_date" => (
            format!("{shown} is suspicious: the delivery is weeks older than your question."),
            "Tell me when you ordered (/ordered with the date from the order page): a delivery before your order means the number is not yours.",
        ),
        AuthenticityVerdict::Suspicious => (
            format!("{shown} is suspicious."),
            "Ask the seller for a working tracking number; if they cannot give one, open a dispute before buyer protection ends.",
        ),
        AuthenticityVerdict::AwaitingDispatch if past_window => (
            format!("{shown} is real, but the seller has still not handed the parcel over."),
            "Ask the seller to ship it now; if they do not, open a dispute for an order not shipped before buyer protection ends.",
        ),
        AuthenticityVerdict::AwaitingDispatch => (
            format!("{shown} is real: Cainiao knows it, but the seller has not handed the parcel over yet."),
            "Wait for the dispatch: I tell you when the first scan comes.",
        ),
        AuthenticityVerdict::NotYours => (
            format!("{shown} probably does not belong to your parcel."),
            "Keep a screenshot of the tracking and open a dispute: a number delivered elsewhere or before your order is a known trick.",
        ),
    };
    let mut reasons: Vec<String> = facts.to_vec();
    reasons.extend(
        assessment
            .authenticity
            .reasons
            .iter()
            .filter(|r| facts.is_empty() || !DOUBT_REASONS.contains(&r.as_str()))
            .filter_map(|r| reason_words(r))
            .map(str::to_owned),
    );
    let mut reply = Reply::default().with(Block::Title(headline));
    if !reasons.is_empty() {
        reply = reply
            .with(Block::Text("Why:".to_owned()))
            .with(Block::Bullets(reasons));
    }
    reply = reply.with(Block::Text(format!("Next: {next}")));
    if !followed && assessment.authenticity.verdict != AuthenticityVerdict::Typo {
        reply = reply.with_buttons(vec![Button::new("Track it", Action::Track(number.to_owned()))]);
    }
    reply
}

/// `/seller`: a short message for the seller, for the current situation, ready to copy.
pub fn seller_message(
    view: &SubscriptionView,
    assessment: &Assessment,
    events: &[Event],
    time_zone: &str,
) -> Reply {
    let number = view.numbers.first().cloned().unwrap_or_default();
    let days = assessment.silence.as_ref().map_or(0.0, |s| s.days).floor();
    let last = assessment
        .last_event_at
        .map(|t| format_date(t, time_zone))
        .unwrap_or_else(|| "never".to_owned());
    let ask_extension = view
        .protection_ends
        .map(|ends| {
            format!(
                " Buyer protection ends on {}; please extend it until the parcel arrives.",
                format_date(ends, time_zone)
            )
        })
        .unwrap_or_default();
    let body = match (assessment.stage, assessment.authenticity.verdict) {
        (_, AuthenticityVerdict::NotYours) => format!(
            "Hello, the tracking number {number} shows a delivery that is not mine (different place or before my order). Please send the correct tracking number of my parcel, or a refund."
        ),
        (None | Some(Stage::InfoReceived), _) => format!(
            "Hello, the tracking number {number} has shown no carrier scan since {}. Has the parcel really been handed to the carrier? Please check and send me a working tracking number.{ask_extension}",
            if events.is_empty() {
                format_date(view.created_at, time_zone)
            } else {
                last.clone()
            }
        ),
        (Some(Stage::CustomsHeld), _) => format!(
            "Hello, my parcel {number} is held by customs. Could you send me the invoice or the documents customs needs?{ask_extension}"
        ),
        (Some(Stage::Returning | Stage::Exception), _) => format!(
            "Hello, the tracking of {number} says the parcel is on its way back or has a problem. Please tell me what happened and send a replacement or a refund."
        ),
        (Some(Stage::Delivered), _) => format!(
            "Hello, the tracking of {number} says the parcel was delivered on {last}, but I have not received it. Please open an investigation with the carrier."
        ),
        _ => format!(
            "Hello, my parcel {number} has had no tracking update for {days} days (last update {last}). Could you ask the logistics company what is happening?{ask_extension}"
        ),
    };
    let calm = assessment
        .silence
        .as_ref()
        .is_some_and(|s| s.verdict == SilenceVerdict::Normal)
        && assessment.authenticity.verdict == AuthenticityVerdict::Genuine
        && !matches!(
            assessment.stage,
            Some(Stage::Delivered | Stage::Returning | Stage::Exception | Stage::CustomsHeld)
        );
    let intro = if calm {
        "Nothing needs the seller yet: the parcel is moving and its silence is normal. If you want to write anyway, copy this into the order chat:"
    } else {
        "A message for the seller (copy it into the order chat):"
    };
    let body = if calm {
        format!(
            "Hello, the tracking of my parcel {number} last updated on {last} ({}). Please let me know if you hear of any delay.",
            stage_words(assessment.stage)
        )
    } else {
        body
    };
    Reply::default()
        .with(Block::Text(intro.to_owned()))
        .with(Block::Quote(body))
}

/// `/evidence`: the tracking history and the facts, as text ready to paste into a
/// dispute.
pub fn evidence(
    view: &SubscriptionView,
    assessment: &Assessment,
    events: &[Event],
    settings: &ChatSettings,
    now: DateTime<Utc>,
) -> Reply {
    let tz = settings.time_zone.as_str();
    let own = view.numbers.first().map(String::as_str).unwrap_or_default();
    let mut lines = vec![
        format!("Tracking number: {}", view.numbers.join(" → ")),
        format!("Followed since: {}", format_date(view.created_at, tz)),
        format!("Current status: {}", stage_words(assessment.stage)),
    ];
    if let Some(last) = assessment.last_event_at {
        let days = (now - last).num_seconds() as f64 / 86_400.0;
        lines.push(format!(
            "Last update: {} ({})",
            format_time(last, tz),
            crate::interpret::days_ago(days)
        ));
    } else {
        lines.push("Last update: none, the parcel was never scanned".to_owned());
    }
    if let Some(ends) = view.protection_ends {
        lines.push(format!("Buyer protection ends: {}", format_date(ends, tz)));
    }
    if let (Some(country), city) = (&settings.country, &settings.city) {
        lines.push(format!(
            "Delivery address: {}{country}",
            city.as_deref().map(|c| format!("{c}, ")).unwrap_or_default()
        ));
    }
    let reasons: Vec<&str> = assessment
        .authenticity
        .reasons
        .iter()
        .filter_map(|r| reason_words(r))
        .collect();
    if assessment.authenticity.verdict != AuthenticityVerdict::Genuine && !reasons.is_empty() {
        lines.push(format!("Problem: {}", reasons.join("; ")));
    }
    lines.push(String::new());
    lines.push("Tracking history (oldest first):".to_owned());
    let mut history = newest_first(events, own);
    history.reverse();
    if history.is_empty() {
        lines.push("(no events)".to_owned());
    }
    for event in &history {
        let source = event
            .source
            .as_deref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        lines.push(format!("{}{source}", event_line(event, tz)));
    }
    Reply::default()
        .with(Block::Text(
            "Evidence for a dispute (paste it, and add screenshots of the order and of this tracking):"
                .to_owned(),
        ))
        .with(Block::Quote(lines.join("\n")))
}
