//! The conversation's rules that transcripts cannot show: replayed updates, groups,
//! and the per-chat limits.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use bot_core::clock::{Clock, SimulatedClock};
use bot_core::conversation::{Answer, ChatLimits, Conversation, Incoming, Input};
use bot_core::engine::{Engine, EngineSettings};
use bot_core::provider::Providers;
use bot_core::provider::sim::SimulatedCarrier;
use bot_core::store::{ChatRef, SqlStore, Store};

use crate::store::sqlite_store;

async fn conversation(limits: ChatLimits) -> (Conversation<SqlStore, SimulatedClock>, SimulatedClock) {
    conversation_at(
        Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).single().expect("date"),
        limits,
    )
    .await
}

/// A conversation on a fresh SQLite store with the simulated carrier, its clock at `start`.
pub(crate) async fn conversation_at(
    start: chrono::DateTime<Utc>,
    limits: ChatLimits,
) -> (Conversation<SqlStore, SimulatedClock>, SimulatedClock) {
    let clock = SimulatedClock::new(start);
    let providers = Providers::new(vec![Arc::new(SimulatedCarrier::new(clock.clone()))]);
    let engine = Engine::new(
        Arc::new(sqlite_store().await),
        providers,
        clock.clone(),
        Vec::new(),
        EngineSettings::default(),
    );
    (Conversation::new(Arc::new(engine), limits), clock)
}

fn message(chat: &ChatRef, group: bool, update: Option<&str>, text: &str) -> Incoming {
    Incoming {
        chat: chat.clone(),
        user: Some("42".to_owned()),
        is_group: group,
        update_id: update.map(str::to_owned),
        channel: None,
        input: Input::Text(text.to_owned()),
    }
}

fn text(answers: &[Answer]) -> String {
    answers
        .iter()
        .map(|a| a.reply.to_plain())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_replayed_update_is_ignored() {
    let (conversation, _) = conversation(ChatLimits::default()).await;
    let chat = ChatRef::new("telegram", "1001").expect("chat");
    let first = conversation
        .handle(message(&chat, false, Some("77"), "/track RB104729000CN"))
        .await;
    assert!(text(&first).contains("Following RB104729000CN"));
    let replay = conversation
        .handle(message(&chat, false, Some("77"), "/track RB104729000CN"))
        .await;
    assert!(replay.is_empty(), "no second reply: {replay:?}");
    let store = conversation.engine().store();
    let id = store.upsert_chat(&chat, Utc::now()).await.expect("chat");
    assert_eq!(store.subscriptions(id).await.expect("list").len(), 1);
}

#[tokio::test]
async fn an_update_a_crash_interrupted_is_answered_once_with_its_effect_once() {
    use bot_core::conversation::Delivery;
    use bot_core::number::TrackingNumber;
    use bot_core::store::UpdateRef;

    let (conversation, clock) = conversation(ChatLimits::default()).await;
    let store = conversation.engine().store();
    let group = ChatRef::new("telegram", "-100900").expect("chat");
    let person = ChatRef::new("telegram", "42").expect("chat");
    let delivery = Delivery {
        owner: "adapter".to_owned(),
        lease_for: Duration::seconds(30),
        private_chat: Some(person.clone()),
    };
    // A crash after the subscription was written, before the answers were queued: the
    // store holds the effect and the update is not answered.
    let update = UpdateRef {
        platform: "telegram".to_owned(),
        id: "501".to_owned(),
    };
    let chat = store.upsert_chat(&group, clock.now()).await.expect("chat");
    store
        .subscribe_for(
            chat,
            &TrackingNumber::parse("RB104729000CN").expect("number"),
            None,
            Some("42"),
            Some(&update),
            clock.now(),
        )
        .await
        .expect("subscribed before the crash");

    // Telegram serves the update again: it is answered as the first time would have
    // been, through the outbox, and nothing is subscribed twice.
    let answers = conversation
        .handle_queued(
            message(&group, true, Some("501"), "/track RB104729000CN"),
            &delivery,
        )
        .await;
    let plain: Vec<String> = answers.iter().map(|a| a.answer.reply.to_plain()).collect();
    assert!(plain[0].starts_with("Following RB•••••••00CN"), "{plain:?}");
    assert!(answers.iter().all(|a| a.id.is_some()), "queued: {answers:?}");
    assert_eq!(answers[0].chat, group);
    assert!(
        answers[1..].iter().all(|a| a.chat == person && a.answer.private),
        "the details go to the person's own chat: {answers:?}"
    );
    assert_eq!(store.subscriptions(chat).await.expect("list").len(), 1);

    // Leased to the adapter; the dispatcher gets them once the lease ends.
    assert!(
        store
            .lease_outbox("dispatcher", clock.now(), Duration::minutes(1), 10)
            .await
            .expect("outbox")
            .is_empty()
    );
    clock.advance(Duration::seconds(31));
    let queued = store
        .lease_outbox("dispatcher", clock.now(), Duration::minutes(1), 10)
        .await
        .expect("outbox");
    assert_eq!(
        queued.iter().map(|m| Some(m.id)).collect::<Vec<_>>(),
        answers.iter().map(|a| a.id).collect::<Vec<_>>()
    );

    // Served once more: answered already, so nothing.
    let again = conversation
        .handle_queued(
            message(&group, true, Some("501"), "/track RB104729000CN"),
            &delivery,
        )
        .await;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(store.subscriptions(chat).await.expect("list").len(), 1);
}

#[tokio::test]
async fn groups_see_masked_numbers_and_details_go_private() {
    let (conversation, _) = conversation(ChatLimits::default()).await;
    let group = ChatRef::new("telegram", "-100123").expect("chat");
    let answers = conversation
        .handle(message(&group, true, None, "/track RB104729000CN"))
        .await;
    let public: Vec<Answer> = answers.iter().filter(|a| !a.private).cloned().collect();
    let in_group = text(&public);
    assert!(!in_group.contains("RB104729000CN"), "masked: {in_group}");
    assert!(in_group.contains("RB•••••••00CN"), "{in_group}");
    let private: Vec<Answer> = answers.iter().filter(|a| a.private).cloned().collect();
    assert!(
        text(&private).contains("RB104729000CN"),
        "the status goes whole to the person who asked: {answers:?}"
    );
    assert!(
        answers.iter().any(|a| !a.private),
        "the group hears that it is followed"
    );
    let list = conversation.handle(message(&group, true, None, "/list")).await;
    assert!(list.iter().all(|a| a.private));
}

#[tokio::test]
async fn per_chat_limits_are_kept_and_explained() {
    let limits = ChatLimits {
        active_parcels: 2,
        new_numbers_per_day: 3,
        commands_per_minute: 5,
    };
    let (conversation, clock) = conversation(limits).await;
    let chat = ChatRef::new("telegram", "1001").expect("chat");
    let numbers = ["RB104729000CN", "RB104729115CN", "RB104729225CN", "RB104729044CN"];
    for number in &numbers[..2] {
        conversation
            .handle(message(&chat, false, None, &format!("/track {number}")))
            .await;
    }
    let third = conversation
        .handle(message(&chat, false, None, &format!("/track {}", numbers[2])))
        .await;
    assert!(
        text(&third).contains("You follow 2 parcels, the most I keep"),
        "{}",
        text(&third)
    );
    conversation
        .handle(message(&chat, false, None, "/untrack RB104729000CN"))
        .await;
    let again = conversation
        .handle(message(&chat, false, None, &format!("/track {}", numbers[2])))
        .await;
    assert!(
        text(&again).contains("Following RB104729225CN"),
        "{}",
        text(&again)
    );
    // Past the five commands of this minute.
    clock.advance(Duration::minutes(2));
    conversation
        .handle(message(&chat, false, None, "/untrack RB104729115CN"))
        .await;
    let fourth = conversation
        .handle(message(&chat, false, None, &format!("/track {}", numbers[3])))
        .await;
    assert!(
        text(&fourth).contains("You added 3 numbers in the last 24 hours"),
        "{}",
        text(&fourth)
    );
    clock.advance(Duration::days(1));
    let next_day = conversation
        .handle(message(&chat, false, None, &format!("/track {}", numbers[3])))
        .await;
    assert!(
        text(&next_day).contains("Following RB104729044CN"),
        "{}",
        text(&next_day)
    );

    for _ in 0..5 {
        conversation.handle(message(&chat, false, None, "/help")).await;
    }
    let flood = conversation.handle(message(&chat, false, None, "/list")).await;
    assert!(
        text(&flood).contains("more than 5 messages a minute"),
        "{}",
        text(&flood)
    );
    clock.advance(Duration::minutes(1));
    let calm = conversation.handle(message(&chat, false, None, "/list")).await;
    assert!(text(&calm).contains("Your parcels (2)"), "{}", text(&calm));
}

#[tokio::test]
async fn foreign_buttons_are_refused_without_change() {
    let (conversation, _) = conversation(ChatLimits::default()).await;
    let chat = ChatRef::new("telegram", "1001").expect("chat");
    for data in ["s:999", "garbage", "x:1"] {
        let answers = conversation
            .handle(Incoming {
                input: Input::Button(data.to_owned()),
                ..message(&chat, false, None, "")
            })
            .await;
        let said = text(&answers);
        assert!(
            said.contains("no longer valid") || said.contains("do not follow that parcel"),
            "{data}: {said}"
        );
    }
}

#[tokio::test]
async fn a_discord_person_chooses_where_updates_go() {
    let (conversation, _) = conversation(ChatLimits::default()).await;
    let person = ChatRef::new("discord", "80351110224678912").expect("chat");
    let in_channel = |text: &str| Incoming {
        channel: Some("700".to_owned()),
        ..message(&person, false, None, text)
    };
    // In DMs there is no channel to choose: a clear answer, nothing set.
    let answer = text(
        &conversation
            .handle(message(&person, false, None, "/notify here"))
            .await,
    );
    assert!(answer.contains("works in a server channel"), "{answer}");
    let store = conversation.engine().store();
    let id = store.find_chat(&person).await.expect("find").expect("chat");
    assert_eq!(
        store.chat_settings(id).await.expect("settings").notify_channel,
        None
    );

    // In a channel: remembered as the last channel, and chosen for updates.
    let answer = text(&conversation.handle(in_channel("/notify here")).await);
    assert!(answer.contains("in this channel"), "{answer}");
    let settings = store.chat_settings(id).await.expect("settings");
    assert_eq!(settings.last_channel.as_deref(), Some("700"));
    assert_eq!(settings.notify_channel.as_deref(), Some("700"));
    let answer = text(&conversation.handle(in_channel("/notify")).await);
    assert!(answer.contains("server channel you chose"), "{answer}");
    let answer = text(&conversation.handle(in_channel("/notify somewhere")).await);
    assert!(answer.contains("/notify here"), "{answer}");
    assert_eq!(
        store
            .chat_settings(id)
            .await
            .expect("settings")
            .notify_channel
            .as_deref(),
        Some("700"),
        "a bad choice changes nothing"
    );
    let answer = text(&conversation.handle(in_channel("/notify dm")).await);
    assert!(answer.contains("direct messages"), "{answer}");
    assert_eq!(
        store.chat_settings(id).await.expect("settings").notify_channel,
        None
    );
    let help = text(&conversation.handle(in_channel("/help")).await);
    assert!(help.contains("/notify here"), "{help}");
    let telegram_help = text(
        &conversation
            .handle(message(
                &ChatRef::new("telegram", "5").expect("chat"),
                false,
                None,
                "/help",
            ))
            .await,
    );
    assert!(!telegram_help.contains("/notify"), "{telegram_help}");
}

#[tokio::test]
async fn autocomplete_offers_only_the_persons_parcels() {
    let (conversation, _) = conversation(ChatLimits::default()).await;
    let alice = ChatRef::new("discord", "1").expect("chat");
    let bob = ChatRef::new("discord", "2").expect("chat");
    let stranger = ChatRef::new("discord", "3").expect("chat");
    conversation
        .handle(message(&alice, false, None, "/track RB104729000CN headphones"))
        .await;
    conversation
        .handle(message(&bob, false, None, "/track RB104729225CN lamp"))
        .await;
    let all = conversation
        .parcel_choices(&alice, "", 25)
        .await
        .expect("choices");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].value, "RB104729000CN");
    assert!(all[0].name.starts_with("headphones · RB104729000CN"), "{all:?}");
    assert!(all[0].name.chars().count() <= 100);
    let by_number = conversation
        .parcel_choices(&alice, "9000", 25)
        .await
        .expect("choices");
    assert_eq!(by_number.len(), 1);
    assert!(
        conversation
            .parcel_choices(&alice, "lamp", 25)
            .await
            .expect("choices")
            .is_empty()
    );
    assert_eq!(
        conversation
            .parcel_choices(&bob, "LA", 25)
            .await
            .expect("choices")[0]
            .value,
        "RB104729225CN"
    );
    assert!(
        conversation
            .parcel_choices(&stranger, "", 25)
            .await
            .expect("choices")
            .is_empty()
    );
    assert_eq!(
        conversation
            .engine()
            .store()
            .find_chat(&stranger)
            .await
            .expect("find"),
        None,
        "asking creates nothing"
    );
}
