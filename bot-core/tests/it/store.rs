//! One contract suite for every `Store`: the embedded SQLite file, and PostgreSQL when
//! `TEST_POSTGRES_URL` is set (`.ci/run` sets it; without it the run says it skipped).

use chrono::{DateTime, Duration, TimeZone, Utc};

use bot_core::interpret::{Event, Stage};
use bot_core::number::TrackingNumber;
use bot_core::settings::DatabaseUrl;
use bot_core::store::sql::{create_postgres_database, drop_postgres_database};
use bot_core::store::{
    ChatRef, NewNumber, Notice, ParcelId, PollRecord, QueuedReply, SqlStore, Store, StoreError, UpdateRef,
};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).single().expect("date")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// A fresh SQLite file's URL.
pub(crate) fn sqlite_url() -> DatabaseUrl {
    let dir = std::env::temp_dir().join(unique("parcelbot_store"));
    DatabaseUrl::Sqlite(format!("sqlite://{}", dir.join("test.db").display()))
}

pub(crate) async fn sqlite_store() -> SqlStore {
    SqlStore::connect(&sqlite_url()).await.expect("sqlite opens")
}

/// A fresh PostgreSQL database for one test (with its name, to drop it after), or
/// `None` (said loudly) without a server.
pub(crate) async fn postgres_store() -> Option<(SqlStore, String)> {
    let Ok(base) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: PostgreSQL store contract (TEST_POSTGRES_URL is not set)");
        return None;
    };
    let name = unique("parcelbot_test");
    create_postgres_database(&base, &name)
        .await
        .expect("TEST_POSTGRES_URL reachable");
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("TEST_POSTGRES_URL must name a database"),
    };
    let store = SqlStore::connect(&DatabaseUrl::Postgres(url))
        .await
        .expect("postgres opens");
    Some((store, name))
}

pub(crate) async fn drop_postgres(store: SqlStore, name: &str) {
    store.close().await;
    if let Ok(base) = std::env::var("TEST_POSTGRES_URL") {
        drop_postgres_database(&base, name)
            .await
            .expect("test database dropped");
    }
}

fn number(text: &str) -> TrackingNumber {
    TrackingNumber::parse(text).expect("valid")
}

fn event(hours: i64, text: &str) -> Event {
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
    Event {
        time: (start() + Duration::hours(hours)).with_timezone(&offset),
        text: text.to_owned(),
        location: Some("Shenzhen".to_owned()),
        code: Some("SC_INBOUND_SUCCESS".to_owned()),
        source: Some("sim".to_owned()),
        number: Some("RB123456785CN".to_owned()),
    }
}

async fn contract(store: &impl Store, label: &str) {
    let now = start();
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    let bob = ChatRef::new("discord", "2002").expect("chat");
    let alice_id = store.upsert_chat(&alice, now).await.expect("alice");
    assert_eq!(
        store.upsert_chat(&alice, now).await.expect("again"),
        alice_id,
        "{label}: idempotent"
    );
    let bob_id = store.upsert_chat(&bob, now).await.expect("bob");

    // A Discord person's channels: found without creating, remembered, cleared.
    assert_eq!(
        store.find_chat(&bob).await.expect("find"),
        Some(bob_id),
        "{label}"
    );
    let stranger = ChatRef::new("discord", "9999").expect("chat");
    assert_eq!(store.find_chat(&stranger).await.expect("find"), None, "{label}");
    assert_eq!(
        store.find_chat(&stranger).await.expect("find"),
        None,
        "{label}: finding creates nothing"
    );
    store.set_last_channel(bob_id, "700").await.expect("last channel");
    store
        .set_notify_channel(bob_id, Some("701"))
        .await
        .expect("notify here");
    store
        .set_notify_channel(bob_id, None)
        .await
        .expect("notify by dm");
    let settings = store.chat_settings(bob_id).await.expect("settings");
    assert_eq!(
        (
            settings.last_channel.as_deref(),
            settings.notify_channel.as_deref()
        ),
        (Some("700"), None),
        "{label}"
    );
    store
        .set_notify_channel(bob_id, Some("701"))
        .await
        .expect("notify here");
    assert!(matches!(
        store
            .set_last_channel(bot_core::store::ChatId(999_999), "1")
            .await,
        Err(StoreError::NotFound)
    ));

    // Subscribing: a new parcel, a second follower, and no double subscription.
    let rb = number("RB123456785CN");
    let first = store
        .subscribe(alice_id, &rb, Some("headphones"), Some("alice"), now)
        .await
        .expect("subscribe");
    assert!(first.new_parcel);
    let second = store
        .subscribe(bob_id, &rb, None, None, now)
        .await
        .expect("bob follows too");
    assert!(!second.new_parcel);
    assert_eq!(second.parcel, first.parcel);
    assert!(matches!(
        store.subscribe(alice_id, &rb, None, None, now).await,
        Err(StoreError::AlreadySubscribed)
    ));
    let views = store.subscriptions(alice_id).await.expect("list");
    assert_eq!(views.len(), 1, "{label}: {views:?}");
    assert_eq!(views[0].label.as_deref(), Some("headphones"));
    assert_eq!(views[0].numbers, vec!["RB123456785CN".to_owned()]);

    // Leasing: one owner at a time; an expired lease is free again.
    let due = store
        .lease_due_numbers("a", now, Duration::minutes(5), 10)
        .await
        .expect("lease");
    assert_eq!(due.len(), 1, "{label}");
    assert_eq!(due[0].parcel, first.parcel);
    assert!(
        store
            .lease_due_numbers("b", now, Duration::minutes(5), 10)
            .await
            .expect("lease")
            .is_empty()
    );
    let later = now + Duration::minutes(6);
    let rescued = store
        .lease_due_numbers("b", later, Duration::minutes(5), 10)
        .await
        .expect("lease");
    assert_eq!(rescued.len(), 1, "{label}: a crashed owner's lease is picked up");

    // Recording a poll: events once, the stage, the next poll, and one message per chat.
    let record = PollRecord {
        number: "RB123456785CN".to_owned(),
        parcel: first.parcel,
        events: vec![
            event(0, "Arrived at sorting center"),
            event(5, "Departed from sorting center"),
        ],
        stage: Some(Stage::OriginSorting),
        last_event_at: Some(start() + Duration::hours(5)),
        next_poll_at: Some(later + Duration::hours(6)),
        links: vec![NewNumber {
            number: number("3SABCD1234567"),
            carrier: "PostNL".to_owned(),
            linked_from: "RB123456785CN".to_owned(),
        }],
        notices: vec![Notice {
            kind: "stage".to_owned(),
            dedupe_key: "stage:origin_sorting".to_owned(),
            payload: "{\"stage\":\"origin_sorting\"}".to_owned(),
        }],
        parcel_changed: true,
        facts: Some(bot_core::interpret::SourceFacts {
            not_handed_over: true,
            ..Default::default()
        }),
    };
    assert_eq!(store.record_poll(record.clone(), later).await.expect("record"), 2);
    // A poll every source failed keeps what the sources said before.
    let failed_poll = PollRecord {
        events: Vec::new(),
        links: Vec::new(),
        notices: Vec::new(),
        facts: None,
        ..record.clone()
    };
    store.record_poll(failed_poll, later).await.expect("failed poll");
    assert!(
        store.parcel_numbers(first.parcel).await.expect("numbers")[0]
            .facts
            .not_handed_over,
        "{label}: source facts are kept through a failed poll"
    );
    assert_eq!(
        store.record_poll(record, later).await.expect("again"),
        0,
        "{label}: events stored once"
    );
    let events = store.parcel_events(first.parcel).await.expect("events");
    assert_eq!(events.len(), 2);
    let numbers = store.parcel_numbers(first.parcel).await.expect("numbers");
    assert_eq!(
        numbers
            .iter()
            .map(|n| (n.number.as_str(), n.linked_from.as_deref()))
            .collect::<Vec<_>>(),
        vec![("RB123456785CN", None), ("3SABCD1234567", Some("RB123456785CN"))],
        "{label}: the handoff number is linked"
    );
    assert_eq!(
        store.origin_numbers().await.expect("origins").len(),
        1,
        "{label}: the linked number is not an origin"
    );
    assert_eq!(
        events[0],
        event(0, "Arrived at sorting center"),
        "{label}: round trip with offset"
    );
    assert_eq!(
        store.subscriptions(bob_id).await.expect("list")[0].stage,
        Some(Stage::OriginSorting)
    );
    let due = store
        .lease_due_numbers("a", later, Duration::minutes(5), 10)
        .await
        .expect("lease");
    assert_eq!(
        due.iter().map(|d| d.number.as_str()).collect::<Vec<_>>(),
        vec!["3SABCD1234567"],
        "{label}: the polled number waits for its next poll, the new one is due at once"
    );

    // The outbox: one row per chat, leased once, sent, retried, dead-lettered.
    let messages = store
        .lease_outbox("d1", later, Duration::minutes(1), 10)
        .await
        .expect("outbox");
    assert_eq!(
        messages.len(),
        2,
        "{label}: one per subscribed chat, once: {messages:?}"
    );
    let to_bob = messages.iter().find(|m| m.chat == bob).expect("bob's message");
    assert_eq!(
        (to_bob.last_channel.as_deref(), to_bob.notify_channel.as_deref()),
        (Some("700"), Some("701")),
        "{label}: the outbox carries where the person wants messages"
    );
    let to_alice = messages
        .iter()
        .find(|m| m.chat == alice)
        .expect("alice's message");
    assert_eq!(
        (
            to_alice.last_channel.as_deref(),
            to_alice.notify_channel.as_deref()
        ),
        (None, None)
    );
    assert!(
        store
            .lease_outbox("d2", later, Duration::minutes(1), 10)
            .await
            .expect("outbox")
            .is_empty()
    );
    store.mark_sent(messages[0].id, later).await.expect("sent");
    store
        .mark_failed(messages[1].id, Some(later + Duration::minutes(10)), "HTTP 500")
        .await
        .expect("failed");
    let retry_time = later + Duration::minutes(10);
    let retried = store
        .lease_outbox("d2", retry_time, Duration::minutes(1), 10)
        .await
        .expect("outbox");
    assert_eq!(
        retried.len(),
        1,
        "{label}: the failed one comes back, the sent one does not"
    );
    assert_eq!(retried[0].attempts, 1);
    store
        .mark_failed(retried[0].id, None, "blocked")
        .await
        .expect("dead");
    let after = retry_time + Duration::days(1);
    assert!(
        store
            .lease_outbox("d3", after, Duration::minutes(1), 10)
            .await
            .expect("outbox")
            .is_empty()
    );

    // Unsubscribing: the parcel stays polled while someone follows it.
    store.unsubscribe(bob_id, first.parcel).await.expect("bob leaves");
    assert!(matches!(
        store.unsubscribe(bob_id, first.parcel).await,
        Err(StoreError::NotFound)
    ));
    let due = store
        .lease_due_numbers("a", after, Duration::minutes(5), 10)
        .await
        .expect("lease");
    assert_eq!(due.len(), 2, "{label}: alice still follows it (both numbers)");

    // Forgetting a chat: nobody follows the parcel any more, so it is not polled.
    store.forget_chat(alice_id).await.expect("forget");
    assert!(store.subscriptions(alice_id).await.expect("list").is_empty());
    let much_later = after + Duration::days(2);
    assert!(
        store
            .lease_due_numbers("a", much_later, Duration::minutes(5), 10)
            .await
            .expect("lease")
            .is_empty(),
        "{label}"
    );
    assert!(matches!(
        store.unsubscribe(alice_id, ParcelId(first.parcel.0)).await,
        Err(StoreError::NotFound)
    ));
}

/// Chat settings, protection deadlines, one-chat messages, the shared send budget and
/// unreachable chats.
async fn engine_contract(store: &impl Store, label: &str) {
    let now = start();
    let chat = ChatRef::new("telegram", "-100500").expect("chat");
    let id = store.upsert_chat(&chat, now).await.expect("chat");
    let settings = store.chat_settings(id).await.expect("settings");
    assert_eq!(
        (settings.time_zone.as_str(), settings.reachable),
        ("UTC", true),
        "{label}"
    );
    store.set_time_zone(id, "Europe/Amsterdam").await.expect("tz");
    store
        .set_place(id, Some("NL"), Some("Utrecht"))
        .await
        .expect("place");
    let settings = store.chat_settings(id).await.expect("settings");
    assert_eq!(settings.time_zone, "Europe/Amsterdam", "{label}");
    assert_eq!(settings.city.as_deref(), Some("Utrecht"), "{label}");
    assert!(matches!(
        store.chat_settings(bot_core::store::ChatId(999_999)).await,
        Err(StoreError::NotFound)
    ));

    let parcel = store
        .subscribe(id, &number("LX123456785CN"), Some("lamp"), Some("7"), now)
        .await
        .expect("subscribe")
        .parcel;
    let ends = now + Duration::days(5);
    store
        .set_protection(id, parcel, Some(ends))
        .await
        .expect("protect");
    assert!(matches!(
        store
            .set_protection(id, ParcelId(parcel.0 + 1000), Some(ends))
            .await,
        Err(StoreError::NotFound)
    ));
    let view = &store.subscriptions(id).await.expect("list")[0];
    assert_eq!(view.protection_ends, Some(ends), "{label}");
    assert_eq!(view.user.as_deref(), Some("7"), "{label}");
    assert_eq!(
        store
            .subscriptions_since(id, now - Duration::hours(1))
            .await
            .expect("count"),
        1,
        "{label}"
    );
    let due = store
        .protection_due(now, now + Duration::days(7))
        .await
        .expect("due");
    assert_eq!(due.len(), 1, "{label}");
    assert_eq!((due[0].chat, due[0].parcel, due[0].ends), (id, parcel, ends));
    assert!(
        store
            .protection_due(now, now + Duration::days(3))
            .await
            .expect("due")
            .is_empty(),
        "{label}: not yet within 3 days"
    );

    let notice = Notice {
        kind: "reminder".to_owned(),
        dedupe_key: "reminder:7".to_owned(),
        payload: "{}".to_owned(),
    };
    assert!(
        store
            .enqueue(id, Some(parcel), &notice, now)
            .await
            .expect("queue")
    );
    assert!(
        !store
            .enqueue(id, Some(parcel), &notice, now)
            .await
            .expect("queue"),
        "{label}: deduplicated"
    );
    let leased = store
        .lease_outbox("d", now, Duration::minutes(1), 10)
        .await
        .expect("lease");
    assert_eq!(leased.len(), 1, "{label}");
    assert_eq!(leased[0].label.as_deref(), Some("lamp"), "{label}");
    assert_eq!(leased[0].time_zone, "Europe/Amsterdam", "{label}");
    store
        .defer(leased[0].id, now + Duration::seconds(5))
        .await
        .expect("defer");
    assert!(
        store
            .lease_outbox("d", now + Duration::seconds(4), Duration::minutes(1), 10)
            .await
            .expect("lease")
            .is_empty(),
        "{label}: deferred"
    );
    store.set_reachable(&chat, false).await.expect("unreachable");
    let later = now + Duration::seconds(10);
    assert!(
        store
            .lease_outbox("d", later, Duration::minutes(1), 10)
            .await
            .expect("lease")
            .is_empty(),
        "{label}: nothing goes to an unreachable chat"
    );
    store.set_reachable(&chat, true).await.expect("reachable");
    let again = store
        .lease_outbox("d", later, Duration::minutes(1), 10)
        .await
        .expect("lease");
    assert_eq!(
        again.len(),
        1,
        "{label}: the waiting message goes out once reachable"
    );
    assert_eq!(again[0].attempts, 0, "{label}: deferring is not an attempt");

    let window = now.timestamp();
    for _ in 0..3 {
        assert!(store.take_send_slot("telegram", window, 3).await.expect("slot"));
    }
    assert!(
        !store.take_send_slot("telegram", window, 3).await.expect("slot"),
        "{label}"
    );
    assert!(
        store
            .take_send_slot("telegram", window + 1, 3)
            .await
            .expect("slot")
    );
}

/// Platform updates: a subscription marks its update handled but not answered and
/// records it; the answers are queued with the mark, once; a replay finds it answered.
async fn updates_contract(store: &impl Store, label: &str) {
    let now = start();
    let group = ChatRef::new("telegram", "-100777").expect("chat");
    let person = ChatRef::new("telegram", "31337").expect("chat");
    let chat = store.upsert_chat(&group, now).await.expect("chat");
    let update = UpdateRef {
        platform: "telegram".to_owned(),
        id: "u1".to_owned(),
    };
    assert!(!store.update_answered(&update).await.expect("new"), "{label}");
    let subscribed = store
        .subscribe_for(chat, &number("RB123456785CN"), None, None, Some(&update), now)
        .await
        .expect("subscribe");
    assert!(
        !store.update_answered(&update).await.expect("effects only"),
        "{label}: its effect is written, its answers are not"
    );
    let views = store.subscriptions(chat).await.expect("list");
    assert_eq!(views.len(), 1, "{label}");
    assert_eq!(
        (views[0].parcel, views[0].created_by.as_deref()),
        (subscribed.parcel, Some("telegram:u1")),
        "{label}"
    );
    let replies = [
        QueuedReply {
            chat: group.clone(),
            payload: r#"{"blocks":[{"text":"public"}],"buttons":[]}"#.to_owned(),
        },
        QueuedReply {
            chat: person.clone(),
            payload: r#"{"blocks":[{"text":"private"}],"buttons":[]}"#.to_owned(),
        },
    ];
    let lease_until = now + Duration::seconds(30);
    let ids = store
        .complete_update(&update, &replies, "adapter", lease_until, now)
        .await
        .expect("complete")
        .expect("answered the first time");
    assert_eq!(ids.len(), 2, "{label}");
    assert!(store.update_answered(&update).await.expect("answered"), "{label}");
    assert_eq!(
        store
            .complete_update(&update, &replies, "adapter", lease_until, now)
            .await
            .expect("again"),
        None,
        "{label}: an update is answered once"
    );
    assert!(
        store
            .lease_outbox("dispatcher", now, Duration::minutes(1), 10)
            .await
            .expect("outbox")
            .is_empty(),
        "{label}: the adapter holds its replies"
    );
    let after_lease = store
        .lease_outbox("dispatcher", lease_until, Duration::minutes(1), 10)
        .await
        .expect("outbox");
    let queued: Vec<(i64, &str, &str)> = after_lease
        .iter()
        .map(|m| (m.id, m.kind.as_str(), m.chat.id()))
        .collect();
    assert_eq!(
        queued,
        vec![(ids[0], "reply", "-100777"), (ids[1], "reply", "31337")],
        "{label}: what the adapter did not send, the dispatcher does, in order"
    );
    assert_eq!(after_lease[1].payload, replies[1].payload, "{label}");
    // The same id on another platform is another update; no answers is fine.
    let other = UpdateRef {
        platform: "discord".to_owned(),
        id: "u1".to_owned(),
    };
    assert!(!store.update_answered(&other).await.expect("other"), "{label}");
    assert_eq!(
        store
            .complete_update(&other, &[], "", now, now)
            .await
            .expect("mark"),
        Some(Vec::new()),
        "{label}"
    );
    assert!(store.update_answered(&other).await.expect("other"), "{label}");
}

/// Two owners leasing at the same moment get disjoint sets.
async fn concurrent_leases(store: &SqlStore, label: &str) {
    let now = start();
    let chat = store
        .upsert_chat(&ChatRef::new("console", "local").expect("chat"), now)
        .await
        .expect("chat");
    for serial in 0..40u32 {
        let serial = format!("{:08}", 20_000_000 + serial);
        let check = bot_core::number::checksum::s10_check_digit(&serial).expect("digits");
        let tracking = number(&format!("LX{serial}{check}CN"));
        store
            .subscribe(chat, &tracking, None, None, now)
            .await
            .expect("subscribe");
    }
    let (a, b) = tokio::join!(
        store.lease_due_numbers("a", now, Duration::minutes(5), 25),
        store.lease_due_numbers("b", now, Duration::minutes(5), 25)
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_eq!(a.len() + b.len(), 40, "{label}: every due number leased once");
    assert!(
        a.iter().all(|x| b.iter().all(|y| x.number != y.number)),
        "{label}: disjoint"
    );
}

/// A polling round written at once, and the numbers pushed news can find.
async fn round_contract(store: &impl Store, label: &str) {
    let now = start();
    let chat = store
        .upsert_chat(&ChatRef::new("telegram", "77").expect("chat"), now)
        .await
        .expect("chat");
    let rb = store
        .subscribe(chat, &number("RB123456785CN"), None, None, now)
        .await
        .expect("rb")
        .parcel;
    let lx = store
        .subscribe(chat, &number("LX123456785CN"), None, None, now)
        .await
        .expect("lx")
        .parcel;
    let watched = store
        .watched_number("RB123456785CN")
        .await
        .expect("watched")
        .expect("followed");
    assert_eq!(
        (watched.parcel, watched.superseded, watched.stage),
        (rb, false, None),
        "{label}"
    );
    assert!(
        store
            .watched_number("RR987654321CN")
            .await
            .expect("watched")
            .is_none(),
        "{label}: nobody follows it"
    );

    let later = now + Duration::hours(1);
    let record =
        |number: &str, parcel: ParcelId, events: Vec<Event>, stage: Stage, next: Option<DateTime<Utc>>| {
            PollRecord {
                number: number.to_owned(),
                parcel,
                last_event_at: events.last().map(|e| e.time.with_timezone(&Utc)),
                events,
                stage: Some(stage),
                next_poll_at: next,
                links: Vec::new(),
                notices: vec![Notice {
                    kind: "stage".to_owned(),
                    dedupe_key: format!("stage:{}", stage.as_code()),
                    payload: format!("{{\"stage\":\"{}\"}}", stage.as_code()),
                }],
                parcel_changed: true,
                facts: None,
            }
        };
    let mut handed_off = record(
        "RB123456785CN",
        rb,
        vec![
            event(0, "Arrived at sorting center"),
            event(5, "Departed from sorting center"),
        ],
        Stage::OriginSorting,
        Some(later + Duration::hours(6)),
    );
    handed_off.links = vec![NewNumber {
        number: number("3SABCD1234567"),
        carrier: "PostNL".to_owned(),
        linked_from: "RB123456785CN".to_owned(),
    }];
    let delivered = record(
        "LX123456785CN",
        lx,
        vec![event(9, "Delivered")],
        Stage::Delivered,
        None,
    );
    let round = vec![handed_off, delivered];
    assert_eq!(
        store.record_polls(round.clone(), later).await.expect("round"),
        vec![2, 1],
        "{label}: new events per record"
    );
    assert_eq!(
        store.record_polls(round, later).await.expect("again"),
        vec![0, 0],
        "{label}: a replayed round stores nothing twice"
    );
    assert_eq!(store.parcel_events(rb).await.expect("events").len(), 2, "{label}");
    assert_eq!(store.parcel_events(lx).await.expect("events").len(), 1, "{label}");
    let stages: Vec<Option<Stage>> = store
        .subscriptions(chat)
        .await
        .expect("views")
        .iter()
        .map(|v| v.stage)
        .collect();
    assert_eq!(
        stages,
        vec![Some(Stage::OriginSorting), Some(Stage::Delivered)],
        "{label}"
    );
    let outbox = store
        .lease_outbox("d", later, Duration::minutes(1), 10)
        .await
        .expect("outbox");
    assert_eq!(
        outbox.len(),
        2,
        "{label}: one message per parcel, once: {outbox:?}"
    );

    let handed = store
        .watched_number("RB123456785CN")
        .await
        .expect("watched")
        .expect("still polled, seldom");
    assert!(handed.superseded, "{label}: the number was handed off");
    assert_eq!(handed.stage, Some(Stage::OriginSorting), "{label}");
    let last_mile = store
        .watched_number("3SABCD1234567")
        .await
        .expect("watched")
        .expect("the last-mile number is watched");
    assert_eq!((last_mile.parcel, last_mile.superseded), (rb, false), "{label}");
    assert!(
        store
            .watched_number("LX123456785CN")
            .await
            .expect("watched")
            .is_none(),
        "{label}: a number with no next poll is no longer watched"
    );
}

/// The ledger of paid registrations: idempotent, per provider.
async fn ledger_contract(store: &SqlStore, label: &str) {
    use bot_core::provider::RegistrationLedger;
    let numbers: Vec<String> = ["RB123456785CN", "LX123456785CN"].map(str::to_owned).to_vec();
    assert!(
        store
            .registered("seventeen_track", &numbers)
            .await
            .expect("read")
            .is_empty(),
        "{label}"
    );
    store
        .record("seventeen_track", &numbers[..1], start())
        .await
        .expect("record");
    store
        .record("seventeen_track", &numbers[..1], start())
        .await
        .expect("again");
    assert_eq!(
        store.registered("seventeen_track", &numbers).await.expect("read"),
        vec!["RB123456785CN".to_owned()],
        "{label}"
    );
    assert!(
        store
            .registered("ship24", &numbers)
            .await
            .expect("read")
            .is_empty(),
        "{label}: per provider"
    );
}

/// What the buyer tells about a subscription (order date, label, "I got it"), and the
/// reminders due after a delivery the buyer did not confirm.
async fn answers_contract(store: &impl Store, label: &str) {
    let now = start();
    let id = store
        .upsert_chat(&ChatRef::new("telegram", &unique("answers")).expect("chat"), now)
        .await
        .expect("chat");
    let lamp = store
        .subscribe(id, &number("LX123456785CN"), Some("lamp"), None, now)
        .await
        .expect("subscribe")
        .parcel;
    let desk = store
        .subscribe(id, &number("RB123456785CN"), None, None, now)
        .await
        .expect("subscribe")
        .parcel;
    let view = &store.subscriptions(id).await.expect("list")[0];
    assert_eq!((view.ordered_at, view.received), (None, None), "{label}");
    let ordered = now - Duration::days(9);
    store.set_ordered(id, lamp, Some(ordered)).await.expect("ordered");
    store.set_label(id, lamp, Some("desk lamp")).await.expect("label");
    store.set_received(id, lamp, Some(false)).await.expect("received");
    store.set_received(id, desk, Some(true)).await.expect("received");
    let views = store.subscriptions(id).await.expect("list");
    assert_eq!(views[0].ordered_at, Some(ordered), "{label}");
    assert_eq!(views[0].label.as_deref(), Some("desk lamp"), "{label}");
    assert_eq!(views[0].received, Some(false), "{label}");
    assert_eq!(views[1].received, Some(true), "{label}");
    let elsewhere = ParcelId(lamp.0 + 1000);
    for result in [
        store.set_ordered(id, elsewhere, None).await,
        store.set_label(id, elsewhere, None).await,
        store.set_received(id, elsewhere, None).await,
    ] {
        assert!(matches!(result, Err(StoreError::NotFound)), "{label}: {result:?}");
    }
    // Both delivered, both with a deadline: only the one not confirmed is due.
    let ends = now + Duration::days(3);
    for (parcel, numbered) in [(lamp, "LX123456785CN"), (desk, "RB123456785CN")] {
        store
            .set_protection(id, parcel, Some(ends))
            .await
            .expect("protect");
        store
            .record_poll(
                PollRecord {
                    number: numbered.to_owned(),
                    parcel,
                    events: vec![event(0, "Delivered")],
                    stage: Some(Stage::Delivered),
                    last_event_at: Some(start()),
                    next_poll_at: None,
                    links: Vec::new(),
                    notices: Vec::new(),
                    parcel_changed: true,
                    facts: None,
                },
                now,
            )
            .await
            .expect("delivered");
    }
    assert!(
        store
            .protection_due(now, now + Duration::days(7))
            .await
            .expect("due")
            .iter()
            .all(|due| due.chat != id),
        "{label}: delivered parcels are not due the ordinary way"
    );
    let due: Vec<_> = store
        .delivered_protection_due(now, now + Duration::days(7))
        .await
        .expect("due")
        .into_iter()
        .filter(|due| due.due.chat == id)
        .collect();
    assert_eq!(due.len(), 1, "{label}: {due:?}");
    assert_eq!(
        (due[0].due.parcel, due[0].received),
        (lamp, Some(false)),
        "{label}"
    );
}

#[tokio::test]
async fn sqlite_store_keeps_the_contract() {
    let store = sqlite_store().await;
    contract(&store, "sqlite").await;
    engine_contract(&sqlite_store().await, "sqlite").await;
    updates_contract(&sqlite_store().await, "sqlite").await;
    concurrent_leases(&sqlite_store().await, "sqlite").await;
    round_contract(&sqlite_store().await, "sqlite").await;
    ledger_contract(&sqlite_store().await, "sqlite").await;
    answers_contract(&sqlite_store().await, "sqlite").await;
}

#[tokio::test]
async fn postgres_store_keeps_the_contract() {
    let Some((store, name)) = postgres_store().await else {
        return;
    };
    contract(&store, "postgres").await;
    drop_postgres(store, &name).await;
    let Some((store, name)) = postgres_store().await else {
        return;
    };
    engine_contract(&store, "postgres").await;
    drop_postgres(store, &name).await;
    let Some((store, name)) = postgres_store().await else {
        return;
    };
    updates_contract(&store, "postgres").await;
    drop_postgres(store, &name).await;
    let Some((store, name)) = postgres_store().await else {
        return;
    };
    concurrent_leases(&store, "postgres").await;
    drop_postgres(store, &name).await;
    let Some((store, name)) = postgres_store().await else {
        return;
    };
    round_contract(&store, "postgres").await;
    ledger_contract(&store, "postgres").await;
    drop_postgres(store, &name).await;
    let Some((store, name)) = postgres_store().await else {
        return;
    };
    answers_contract(&store, "postgres").await;
    drop_postgres(store, &name).await;
}

/// The words only the forgotten chat gave or caused to be stored.
const FORGOTTEN: [&str; 5] = [
    "grandma-secret-label",
    "Zzyzx-secret-city",
    "Pacific/Chatham",
    "SECRET-EVENT-TEXT",
    "LX987654321CN",
];

/// `/forget`: the chat, its settings, subscriptions, queued messages, and the parcels,
/// numbers, events and registrations nobody else follows are deleted; a parcel another
/// chat follows stays whole. Returns the table counts before and after.
async fn forget_contract(store: &SqlStore, label: &str) {
    use bot_core::provider::RegistrationLedger;
    let now = start();
    let alice = ChatRef::new("telegram", "4242").expect("chat");
    let bob = ChatRef::new("telegram", "4343").expect("chat");
    let alice_id = store.upsert_chat(&alice, now).await.expect("alice");
    let bob_id = store.upsert_chat(&bob, now).await.expect("bob");
    store
        .set_time_zone(alice_id, "Pacific/Chatham")
        .await
        .expect("tz");
    store
        .set_place(alice_id, Some("NZ"), Some("Zzyzx-secret-city"))
        .await
        .expect("place");
    let own = store
        .subscribe(
            alice_id,
            &number("LX987654321CN"),
            Some("grandma-secret-label"),
            Some("alice-user"),
            now,
        )
        .await
        .expect("alice's own parcel");
    store
        .set_protection(alice_id, own.parcel, Some(now + Duration::days(9)))
        .await
        .expect("protect");
    let shared = store
        .subscribe(alice_id, &number("RB123456785CN"), Some("also-alice"), None, now)
        .await
        .expect("shared");
    store
        .subscribe(bob_id, &number("RB123456785CN"), Some("bob-label"), None, now)
        .await
        .expect("bob follows it too");
    let mut secret_event = event(1, "SECRET-EVENT-TEXT at the sorting centre");
    secret_event.number = Some("LX987654321CN".to_owned());
    for (parcel, numbered, events) in [
        (own.parcel, "LX987654321CN", vec![secret_event]),
        (
            shared.parcel,
            "RB123456785CN",
            vec![event(2, "Departed from sorting center")],
        ),
    ] {
        store
            .record_poll(
                PollRecord {
                    number: numbered.to_owned(),
                    parcel,
                    events,
                    stage: Some(Stage::OriginSorting),
                    last_event_at: Some(now),
                    next_poll_at: Some(now + Duration::hours(6)),
                    links: Vec::new(),
                    notices: vec![Notice {
                        kind: "stage".to_owned(),
                        dedupe_key: "stage:origin_sorting".to_owned(),
                        payload: "{}".to_owned(),
                    }],
                    parcel_changed: true,
                    facts: None,
                },
                now,
            )
            .await
            .expect("poll");
    }
    store
        .record(
            "seventeen_track",
            &["LX987654321CN".to_owned(), "RB123456785CN".to_owned()],
            now,
        )
        .await
        .expect("registered");
    let update = UpdateRef {
        platform: "telegram".to_owned(),
        id: "99".to_owned(),
    };
    store
        .complete_update(
            &update,
            &[QueuedReply {
                chat: alice.clone(),
                payload: r#"{"blocks":[{"text":"Following grandma-secret-label"}],"buttons":[]}"#.to_owned(),
            }],
            "adapter",
            now,
            now,
        )
        .await
        .expect("reply queued");

    store.forget_chat(alice_id).await.expect("forget");

    let rows: std::collections::HashMap<String, i64> =
        store.table_rows().await.expect("tables").into_iter().collect();
    let expected = [
        ("chats", 1),
        ("subscriptions", 1),
        ("subscription_log", 1),
        ("parcels", 1),
        ("tracking_numbers", 1),
        ("events", 1),
        ("provider_registrations", 1),
        // Bob's stage notice; alice's notice and reply are gone.
        ("outbox", 1),
    ];
    for (table, count) in expected {
        assert_eq!(
            rows.get(table).copied(),
            Some(count),
            "{label}: {table} in {rows:?}"
        );
    }
    for table in rows.keys() {
        assert!(
            expected.iter().any(|(name, _)| name == table)
                || ["handled_updates", "send_budget"].contains(&table.as_str()),
            "{label}: a table this test does not know: {table}"
        );
    }
    assert_eq!(store.find_chat(&alice).await.expect("find"), None, "{label}");
    assert!(
        store
            .parcel_numbers(own.parcel)
            .await
            .expect("numbers")
            .is_empty(),
        "{label}"
    );
    assert!(
        store.parcel_events(own.parcel).await.expect("events").is_empty(),
        "{label}"
    );
    assert_eq!(
        store
            .registered(
                "seventeen_track",
                &["LX987654321CN".to_owned(), "RB123456785CN".to_owned()]
            )
            .await
            .expect("ledger"),
        vec!["RB123456785CN".to_owned()],
        "{label}: the registration of the forgotten parcel is gone"
    );
    let bobs = store.subscriptions(bob_id).await.expect("bob's");
    assert_eq!(bobs.len(), 1, "{label}");
    assert_eq!(bobs[0].label.as_deref(), Some("bob-label"), "{label}");
    assert_eq!(
        store.parcel_events(shared.parcel).await.expect("events").len(),
        1,
        "{label}"
    );
}

/// The bytes of an SQLite database and its WAL.
fn sqlite_bytes(database: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut path = database.as_os_str().to_owned();
        path.push(suffix);
        if let Ok(content) = std::fs::read(&path) {
            bytes.extend(content);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn sqlite_forget_leaves_nothing_readable_in_the_file() {
    let dir = std::env::temp_dir().join(unique("parcelbot_forget"));
    let database = dir.join("test.db");
    let store = SqlStore::connect(&DatabaseUrl::Sqlite(format!("sqlite://{}", database.display())))
        .await
        .expect("sqlite opens");
    // The same data, not forgotten, is in the file: the check below can fail.
    let witness = SqlStore::connect(&DatabaseUrl::Sqlite(format!(
        "sqlite://{}",
        dir.join("witness.db").display()
    )))
    .await
    .expect("sqlite opens");
    forget_contract(&store, "sqlite").await;
    let alice = ChatRef::new("telegram", "1").expect("chat");
    let id = witness.upsert_chat(&alice, start()).await.expect("chat");
    witness.set_time_zone(id, "Pacific/Chatham").await.expect("tz");
    witness
        .set_place(id, Some("NZ"), Some("Zzyzx-secret-city"))
        .await
        .expect("place");
    witness
        .subscribe(
            id,
            &number("LX987654321CN"),
            Some("grandma-secret-label"),
            None,
            start(),
        )
        .await
        .expect("subscribe");
    let kept = sqlite_bytes(&dir.join("witness.db"));
    for word in [
        "grandma-secret-label",
        "Zzyzx-secret-city",
        "Pacific/Chatham",
        "LX987654321CN",
    ] {
        assert!(contains(&kept, word), "the witness file holds {word}");
    }

    let bytes = sqlite_bytes(&database);
    assert!(contains(&bytes, "bob-label"), "what is kept is in the file");
    for word in FORGOTTEN {
        assert!(
            !contains(&bytes, word),
            "{word} is readable in the file after /forget"
        );
    }
}

#[tokio::test]
async fn postgres_forget_deletes_every_row_nobody_else_needs() {
    let Some((store, name)) = postgres_store().await else {
        return;
    };
    forget_contract(&store, "postgres").await;
    drop_postgres(store, &name).await;
}

#[tokio::test]
async fn postgres_migrations_run_once_when_two_instances_start_together() {
    let Ok(base) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: concurrent PostgreSQL migrations (TEST_POSTGRES_URL is not set)");
        return;
    };
    for trial in 0..3 {
        let name = unique(&format!("parcelbot_migrate{trial}"));
        create_postgres_database(&base, &name)
            .await
            .expect("TEST_POSTGRES_URL reachable");
        let url = match base.rsplit_once('/') {
            Some((server, _)) => DatabaseUrl::Postgres(format!("{server}/{name}")),
            None => panic!("TEST_POSTGRES_URL must name a database"),
        };
        let (first, second) = tokio::join!(SqlStore::connect(&url), SqlStore::connect(&url));
        let (first, second) = (
            first.expect("the first instance migrates"),
            second.expect("the second instance starts too"),
        );
        let applied = first.applied_migrations().await.expect("migrations");
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/postgres"))
            .expect("migrations")
            .count() as i64;
        assert_eq!(applied, (1..=files).collect::<Vec<i64>>(), "each migration once");
        // Both work on the one schema.
        let chat = ChatRef::new("telegram", "1").expect("chat");
        let id = first.upsert_chat(&chat, start()).await.expect("chat");
        assert_eq!(second.find_chat(&chat).await.expect("find"), Some(id));
        second.close().await;
        drop_postgres(first, &name).await;
    }
}

#[tokio::test]
async fn a_second_store_on_one_sqlite_file_is_refused_until_the_first_is_gone() {
    let url = sqlite_url();
    let first = SqlStore::connect(&url).await.expect("first");
    match SqlStore::connect(&url).await {
        Err(error @ StoreError::InUse { .. }) => {
            assert!(
                error.to_string().contains("in use by another parcelbot process"),
                "{error}"
            );
        }
        other => panic!("a second writer must be refused: {other:?}"),
    }
    first.close().await;
    drop(first);
    SqlStore::connect(&url).await.expect("free again");
}
