//! The engine in simulated time: parcels run from label to delivery through the
//! simulated carrier, and the tests check the exact messages each subscriber gets.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use bot_core::clock::{Clock, SimulatedClock};
use bot_core::engine::notify::{Notifier, Recipient, RecordingNotifier, SendError, SendLimits, Sent};
use bot_core::engine::{Engine, EngineSettings};
use bot_core::number::TrackingNumber;
use bot_core::provider::Providers;
use bot_core::provider::sim::SimulatedCarrier;
use bot_core::store::{ChatId, ChatRef, SqlStore, Store};

use crate::providers::{cainiao_on, json, json_with, seventeen_on, ship24_on};
use crate::store::sqlite_store;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).single().expect("date")
}

struct World {
    clock: SimulatedClock,
    engine: Engine<SqlStore, SimulatedClock>,
    telegram: RecordingNotifier,
    discord: RecordingNotifier,
}

fn settings(owner: &str) -> EngineSettings {
    EngineSettings {
        owner: owner.to_owned(),
        ..EngineSettings::default()
    }
}

async fn world_on(store: SqlStore, clock: SimulatedClock, owner: &str) -> World {
    let providers = Providers::new(vec![Arc::new(SimulatedCarrier::new(clock.clone()))]);
    world_asking(store, clock, owner, providers)
}

/// A world whose engine asks `providers`.
fn world_asking(store: SqlStore, clock: SimulatedClock, owner: &str, providers: Providers) -> World {
    let telegram = RecordingNotifier::new("telegram", SendLimits::TELEGRAM);
    let discord = RecordingNotifier::new("discord", SendLimits::DISCORD);
    let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(telegram.clone()), Arc::new(discord.clone())];
    let engine = Engine::new(
        Arc::new(store),
        providers,
        clock.clone(),
        notifiers,
        settings(owner),
    );
    World {
        clock,
        engine,
        telegram,
        discord,
    }
}

async fn world() -> World {
    world_on(sqlite_store().await, SimulatedClock::new(start()), "engine-a").await
}

impl World {
    async fn subscribe(&self, chat: &ChatRef, number: &str) -> ChatId {
        let store = self.engine.store();
        let id = store.upsert_chat(chat, self.clock.now()).await.expect("chat");
        let number = TrackingNumber::parse(number).expect("valid");
        store
            .subscribe(id, &number, None, None, self.clock.now())
            .await
            .expect("subscribe");
        let views = store.subscriptions(id).await.expect("views");
        let view = views
            .iter()
            .find(|v| v.numbers[0] == number.as_str())
            .expect("subscribed");
        // What /track does: the first look is answered in the reply, not pushed.
        self.engine.refresh(view).await.expect("refresh");
        id
    }

    /// The chat's first parcel.
    async fn first_view(&self, chat: ChatId) -> bot_core::store::SubscriptionView {
        let views = self.engine.store().subscriptions(chat).await.expect("views");
        views.into_iter().next().expect("a parcel")
    }

    /// The judgement of the chat's first parcel from what the store holds.
    async fn stored_assessment(
        &self,
        chat: ChatId,
    ) -> (bot_core::interpret::Assessment, Vec<bot_core::interpret::Event>) {
        let view = self.first_view(chat).await;
        self.engine
            .assess_parcel(view.parcel, None, None)
            .await
            .expect("assess")
    }

    /// Lets simulated time pass in steps of `step`, ticking after each.
    async fn run_for(&self, total: Duration, step: Duration) {
        let end = self.clock.now() + total;
        while self.clock.now() < end {
            self.clock.advance(step);
            self.engine.tick().await.expect("tick");
        }
    }
}

/// The first block line of each message: what a subscriber reads in the notification.
fn lines(sent: &[Sent]) -> Vec<String> {
    sent.iter()
        .map(|s| {
            s.reply
                .to_plain()
                .lines()
                .skip(1)
                .take_while(|l| !l.starts_with("Next:") && !l.starts_with('['))
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .collect()
}

#[tokio::test]
async fn a_parcel_with_a_handoff_reaches_both_subscribers_in_order() {
    let world = world().await;
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    let bob = ChatRef::new("discord", "2002").expect("chat");
    world.subscribe(&alice, "RB104729000CN").await;
    world.subscribe(&bob, "RB104729000CN").await;
    world.run_for(Duration::days(40), Duration::minutes(20)).await;

    let to_alice = world.telegram.sent();
    let to_bob = world.discord.sent();
    assert!(to_alice.iter().all(|s| s.chat == alice));
    assert_eq!(
        lines(&to_alice),
        lines(&to_bob),
        "both subscribers hear the same story"
    );
    let story = lines(&to_alice);
    // Stages that pass between two polls of a quiet stage are not announced one by one:
    // the subscriber hears the newest (arrival and customs both fell in one line-haul
    // interval). The handoff arrives with the stage that brought it.
    let expected = [
        "The parcel is on the international leg (usually a flight); long quiet spells are normal here. (Thu 1 Oct 20:00)",
        "The parcel is going through import customs. (Sun 4 Oct 18:00)",
        "Customs has released the parcel. (Tue 6 Oct 00:00)",
        "The local post or courier has taken over, often under a new tracking number. (Tue 6 Oct 12:00) / New tracking number with PostNL: 3SCNLA55965961. I follow it for you; nothing to do.",
        "The parcel is moving inside the destination country. (Wed 7 Oct 12:00)",
        "The parcel is out for delivery; it will probably arrive today. (Thu 8 Oct 08:00)",
        "The parcel is marked as delivered. (Thu 8 Oct 14:00, Utrecht, the Netherlands)",
    ];
    assert_eq!(story, expected);
    // The handoff number is polled on its own and polling stops after delivery.
    let store = world.engine.store();
    let parcel = store.subscriptions(ChatId(1)).await.expect("views")[0].parcel;
    assert_eq!(store.parcel_numbers(parcel).await.expect("numbers").len(), 2);
    let due = store
        .lease_due_numbers(
            "probe",
            world.clock.now() + Duration::days(365),
            Duration::minutes(1),
            10,
        )
        .await
        .expect("lease");
    assert!(due.is_empty(), "delivered parcels are not polled again: {due:?}");
}

fn messages_containing(sent: &[Sent], needle: &str) -> Vec<String> {
    sent.iter()
        .map(|s| s.reply.to_plain())
        .filter(|text| text.contains(needle))
        .collect()
}

#[tokio::test]
async fn protection_reminders_come_at_seven_three_and_one_days_until_delivery() {
    let world = world().await;
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    let chat = world.subscribe(&alice, "RB104729225CN").await;
    let delivered = world.subscribe(&alice, "RB104729000CN").await;
    assert_eq!(chat, delivered);
    let store = world.engine.store();
    let views = store.subscriptions(chat).await.expect("views");
    // The quiet parcel's deadline comes first; the other is delivered (on 8 Oct) a
    // week before its deadline's first reminder.
    let ends = start() + Duration::days(10);
    store
        .set_protection(chat, views[0].parcel, Some(ends))
        .await
        .expect("protect");
    let later = start() + Duration::days(20);
    store
        .set_protection(chat, views[1].parcel, Some(later))
        .await
        .expect("protect");
    world.run_for(Duration::days(21), Duration::hours(1)).await;
    let reminders = messages_containing(&world.telegram.sent(), "Buyer protection ends");
    assert_eq!(reminders.len(), 3, "{reminders:#?}");
    for (text, days) in reminders.iter().zip(["7 days", "3 days", "1 day "]) {
        assert!(
            text.contains("RB104729225CN"),
            "only the undelivered parcel: {text}"
        );
        assert!(text.contains(days), "{text}");
    }
    assert!(
        reminders[0].contains("ask the seller to extend"),
        "{}",
        reminders[0]
    );
    assert!(reminders[2].contains("open a dispute now"), "{}", reminders[2]);
}

#[tokio::test]
async fn a_silence_past_the_act_limit_gives_one_advice() {
    let world = world().await;
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    world.subscribe(&alice, "RB104729336CN").await;
    world.run_for(Duration::days(12), Duration::hours(1)).await;
    let sent = world.telegram.sent();
    let advice = messages_containing(&sent, "no first scan");
    assert_eq!(advice.len(), 1, "{sent:#?}");
    assert!(
        advice[0].contains("Still no first scan after 7 days: a first scan normally comes within 7 days."),
        "{}",
        advice[0]
    );
    // The simulated carrier knows the label (not handed over): the seller has to ship.
    assert!(advice[0].contains("ask them to ship it now"), "{}", advice[0]);
    assert_eq!(sent.len(), 1, "nothing else to say about a number never scanned");
}

/// Queues one stage message per parcel for `chat`, subscribing it to `count` fresh
/// numbers (no provider is asked).
async fn queue_messages(world: &World, chat: &ChatRef, count: u32, offset: u32) {
    let store = world.engine.store();
    let now = world.clock.now();
    let id = store.upsert_chat(chat, now).await.expect("chat");
    for serial in 0..count {
        let serial = format!("{:08}", 30_000_000 + offset + serial);
        let check = bot_core::number::checksum::s10_check_digit(&serial).expect("digits");
        let number = TrackingNumber::parse(&format!("LX{serial}{check}CN")).expect("valid");
        let parcel = store
            .subscribe(id, &number, None, None, now)
            .await
            .expect("subscribe")
            .parcel;
        let notification = bot_core::engine::notice::Notification::Stage {
            number: number.as_str().to_owned(),
            stage: bot_core::interpret::Stage::Customs,
            at: None,
            next_step: "next.wait_until".to_owned(),
            delivery: None,
        };
        store
            .enqueue(
                id,
                Some(parcel),
                &notification.to_notice("stage:customs".to_owned()),
                now,
            )
            .await
            .expect("queue");
    }
}

async fn dispatch_at(world: &World, at: DateTime<Utc>) {
    world.clock.advance_to(at);
    world.engine.dispatch_once().await.expect("dispatch");
}

#[tokio::test]
async fn dispatch_keeps_telegram_limits() {
    let world = world().await;
    let t0 = start();
    // One chat with two parcels: one message per second.
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    queue_messages(&world, &alice, 2, 0).await;
    dispatch_at(&world, t0).await;
    assert_eq!(world.telegram.sent().len(), 1);
    dispatch_at(&world, t0 + Duration::milliseconds(900)).await;
    assert_eq!(
        world.telegram.sent().len(),
        1,
        "not twice in one second to one chat"
    );
    dispatch_at(&world, t0 + Duration::seconds(1)).await;
    assert_eq!(world.telegram.take().len(), 2);

    // Forty chats: thirty per second overall.
    let t1 = t0 + Duration::seconds(10);
    world.clock.advance_to(t1);
    for chat in 0..40 {
        let chat = ChatRef::new("telegram", &format!("{}", 5000 + chat)).expect("chat");
        queue_messages(&world, &chat, 1, 100 + chat_offset(&chat)).await;
    }
    dispatch_at(&world, t1).await;
    assert_eq!(world.telegram.sent().len(), 30, "30 per second overall");
    dispatch_at(&world, t1 + Duration::seconds(1)).await;
    assert_eq!(world.telegram.take().len(), 40);

    // A group: twenty per minute.
    let t2 = t1 + Duration::seconds(10);
    world.clock.advance_to(t2);
    let group = ChatRef::new("telegram", "-100777").expect("chat");
    queue_messages(&world, &group, 25, 1000).await;
    world.run_for(Duration::seconds(59), Duration::seconds(1)).await;
    let to_group = |sent: Vec<Sent>| sent.into_iter().filter(|s| s.chat == group).collect::<Vec<_>>();
    assert_eq!(
        to_group(world.telegram.sent()).len(),
        20,
        "20 per minute to a group"
    );
    world.run_for(Duration::seconds(70), Duration::seconds(1)).await;
    let sent = to_group(world.telegram.take());
    assert_eq!(sent.len(), 25);
    assert!(
        sent.iter().all(|s| s.reply.to_plain().contains("LX•")),
        "numbers masked in groups"
    );
}

fn chat_offset(chat: &ChatRef) -> u32 {
    chat.id().parse::<u32>().unwrap_or_default() * 3
}

#[tokio::test]
async fn dispatch_honours_retry_after_and_stops_at_a_blocked_chat() {
    let world = world().await;
    let t0 = start();
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    queue_messages(&world, &alice, 1, 0).await;
    world
        .telegram
        .fail_next([SendError::RetryAfter(std::time::Duration::from_secs(5))]);
    dispatch_at(&world, t0).await;
    dispatch_at(&world, t0 + Duration::seconds(4)).await;
    assert_eq!(world.telegram.attempts(), 1, "nothing before retry_after");
    dispatch_at(&world, t0 + Duration::seconds(5)).await;
    assert_eq!(world.telegram.take().len(), 1);

    let bob = ChatRef::new("telegram", "1002").expect("chat");
    queue_messages(&world, &bob, 2, 10).await;
    let before = world.telegram.attempts();
    world.telegram.fail_next([SendError::Unreachable(
        "Forbidden: bot was blocked by the user".to_owned(),
    )]);
    world.run_for(Duration::minutes(10), Duration::seconds(1)).await;
    assert_eq!(
        world.telegram.attempts(),
        before + 1,
        "no retry storm at a blocked chat"
    );
    let store = world.engine.store();
    let id = store.upsert_chat(&bob, world.clock.now()).await.expect("chat");
    assert!(!store.chat_settings(id).await.expect("settings").reachable);
    // The messages are kept: the chat gets them once it talks to the bot again.
    store.set_reachable(&bob, true).await.expect("reachable");
    world.run_for(Duration::seconds(2), Duration::seconds(1)).await;
    let sent = world.telegram.take();
    assert_eq!(sent.len(), 2, "both parcels' messages, one per second: {sent:#?}");
}

#[tokio::test]
async fn transient_failures_are_retried_then_dead_lettered() {
    let world = world().await;
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    queue_messages(&world, &alice, 1, 0).await;
    world
        .telegram
        .fail_next((0..10).map(|_| SendError::Transient("HTTP 502".to_owned())));
    world.run_for(Duration::hours(6), Duration::seconds(30)).await;
    let max = i64::try_from(world.telegram.attempts()).expect("small");
    assert_eq!(
        max,
        world.engine.settings().dispatch.max_attempts,
        "then dead-lettered"
    );
    assert!(world.telegram.sent().is_empty());
}

/// A platform that takes the message and never answers: the engine "crashes" while the
/// message is in flight.
struct HangingNotifier {
    taken: RecordingNotifier,
    in_flight: Arc<tokio::sync::Notify>,
}

impl Notifier for HangingNotifier {
    fn platform(&self) -> &'static str {
        "telegram"
    }

    fn limits(&self) -> SendLimits {
        SendLimits::TELEGRAM
    }

    fn is_group(&self, _to: &Recipient) -> bool {
        false
    }

    fn send<'a>(
        &'a self,
        to: &'a Recipient,
        reply: &'a bot_core::reply::Reply,
    ) -> bot_core::engine::notify::SendFuture<'a> {
        Box::pin(async move {
            self.taken.send(to, reply).await?;
            self.in_flight.notify_one();
            std::future::pending().await
        })
    }
}

#[tokio::test]
async fn a_crash_mid_dispatch_repeats_only_the_message_in_flight() {
    let url = crate::store::sqlite_url();
    let clock = SimulatedClock::new(start());
    let first = world_on(
        SqlStore::connect(&url).await.expect("db"),
        clock.clone(),
        "engine-a",
    )
    .await;
    let chats: Vec<ChatRef> = (0..3)
        .map(|i| ChatRef::new("telegram", &format!("{}", 7000 + i)).expect("chat"))
        .collect();
    for (i, chat) in chats.iter().enumerate() {
        queue_messages(&first, chat, 1, 500 + u32::try_from(i).expect("small") * 7).await;
    }
    let taken = RecordingNotifier::new("telegram", SendLimits::TELEGRAM);
    let in_flight = Arc::new(tokio::sync::Notify::new());
    let hanging: Vec<Arc<dyn Notifier>> = vec![Arc::new(HangingNotifier {
        taken: taken.clone(),
        in_flight: Arc::clone(&in_flight),
    })];
    let crashing = Engine::new(
        Arc::clone(first.engine.store()),
        Providers::new(Vec::new()),
        clock.clone(),
        hanging,
        settings("engine-crashing"),
    );
    tokio::select! {
        _ = crashing.dispatch_once() => panic!("the hanging platform never answers"),
        () = in_flight.notified() => {}
    }
    drop(crashing);
    drop(first);
    let in_flight_chat = taken.sent()[0].chat.clone();

    // A new engine on the same database, after the crashed one's leases expired.
    let second = world_on(
        SqlStore::connect(&url).await.expect("db"),
        clock.clone(),
        "engine-b",
    )
    .await;
    second.clock.advance(Duration::seconds(61));
    for _ in 0..3 {
        second.engine.dispatch_once().await.expect("dispatch");
        second.clock.advance(Duration::seconds(1));
    }
    let delivered: Vec<ChatRef> = second.telegram.sent().into_iter().map(|s| s.chat).collect();
    assert_eq!(delivered.len(), 3, "nothing lost: {delivered:?}");
    for chat in &chats {
        assert!(delivered.contains(chat), "{chat:?} got its message");
    }
    assert!(
        delivered.contains(&in_flight_chat),
        "the one in flight is sent again (at least once)"
    );
    assert_eq!(
        taken.sent().len(),
        1,
        "only one message was in flight when it crashed"
    );
}

// ------------------------------------------------ account and number errors of providers

const SHIP24_QUOTA: &str = include_str!("../fixtures/ship24/spec_bulk_quota.json");
const SHIP24_INVALID: &str = include_str!("../fixtures/ship24/spec_invalid_number.json");
const SEVENTEEN_FOUND: &str = include_str!("../fixtures/seventeen_track/gettrackinfo_found.json");

#[tokio::test]
async fn a_quota_error_pauses_only_that_provider() {
    use wiremock::matchers::{any, method, path};
    use wiremock::{Mock, MockServer};
    let clock = SimulatedClock::new(start());
    let ship24 = MockServer::start().await;
    Mock::given(any())
        .respond_with(json_with(403, SHIP24_QUOTA))
        .mount(&ship24)
        .await;
    let seventeen = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/track/v2.2/gettrackinfo"))
        .respond_with(json(SEVENTEEN_FOUND))
        .mount(&seventeen)
        .await;
    let providers = Providers::new(vec![
        Arc::new(ship24_on(&ship24, clock.clone())),
        Arc::new(seventeen_on(&seventeen, clock.clone())),
    ]);
    let world = world_asking(sqlite_store().await, clock.clone(), "engine-a", providers);
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    let chat = world.subscribe(&alice, "RB123456785CN").await;
    let view = world.first_view(chat).await;
    for _ in 0..3 {
        clock.advance(Duration::minutes(20));
        assert!(
            world.engine.refresh(&view).await.expect("refresh"),
            "17TRACK answers"
        );
    }
    assert_eq!(asked(&ship24).await, 1, "Ship24 is paused after its quota error");
    assert_eq!(asked(&seventeen).await, 4, "17TRACK is asked every time");
    clock.advance(bot_core::provider::guard::QUOTA_PAUSE);
    world.engine.refresh(&view).await.expect("refresh");
    assert_eq!(asked(&ship24).await, 2, "asked again once the pause is over");
}

#[tokio::test]
async fn an_invalid_number_answer_stops_polling_it_and_tells_the_buyer_once() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer};
    let clock = SimulatedClock::new(start());
    let ship24 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/public/v1/trackers/track"))
        .respond_with(json_with(400, SHIP24_INVALID))
        .expect(1)
        .mount(&ship24)
        .await;
    let providers = Providers::new(vec![Arc::new(ship24_on(&ship24, clock.clone()))]);
    let world = world_asking(sqlite_store().await, clock, "engine-a", providers);
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    let chat = world.subscribe(&alice, "LX123456785CN").await;
    world.run_for(Duration::days(3), Duration::hours(1)).await;
    let sent = world.telegram.sent();
    let told = messages_containing(&sent, "not a valid tracking number");
    assert_eq!(told.len(), 1, "{sent:#?}");
    assert!(told[0].contains("Ship24 says LX123456785CN"), "{}", told[0]);
    assert_eq!(sent.len(), 1, "nothing else about a number the source refused");
    let (assessment, _) = world.stored_assessment(chat).await;
    assert_eq!(assessment.authenticity.reasons, vec!["invalid_at_ship24"]);
}

#[tokio::test]
async fn a_followed_number_not_handed_over_is_awaiting_dispatch() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer};
    let clock = SimulatedClock::new(start());
    let cainiao = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(include_str!("../fixtures/cainiao/not_handed_over.json")))
        .mount(&cainiao)
        .await;
    let providers = Providers::new(vec![Arc::new(cainiao_on(&cainiao, clock.clone()))]);
    let world = world_asking(sqlite_store().await, clock, "engine-a", providers);
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    let chat = world.subscribe(&alice, "LP00498000000000").await;
    let (assessment, _) = world.stored_assessment(chat).await;
    assert_eq!(
        assessment.authenticity.verdict,
        bot_core::interpret::judge::AuthenticityVerdict::AwaitingDispatch
    );
    assert_eq!(assessment.next_step, "next.wait_dispatch");
}

/// How many requests a fake server received.
async fn asked(server: &wiremock::MockServer) -> usize {
    server
        .received_requests()
        .await
        .map_or(0, |requests| requests.len())
}

#[tokio::test]
async fn a_provider_estimate_moving_more_than_two_days_is_pushed_once() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer};
    let found = include_str!("../fixtures/cainiao/found.json");
    // The same reply with the estimate four days later.
    let later = found
        .replace("1787800000000", "1788145600000")
        .replace("1787900000000", "1788245600000");
    let clock = SimulatedClock::new(Utc.with_ymd_and_hms(2026, 8, 25, 8, 0, 0).single().expect("date"));
    let cainiao = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(found))
        .up_to_n_times(1)
        .mount(&cainiao)
        .await;
    Mock::given(method("GET"))
        .respond_with(json(&later))
        .mount(&cainiao)
        .await;
    let providers = Providers::new(vec![Arc::new(cainiao_on(&cainiao, clock.clone()))]);
    let world = world_asking(sqlite_store().await, clock, "engine-a", providers);
    let alice = ChatRef::new("telegram", "1001").expect("chat");
    let chat = world.subscribe(&alice, "AP00839790702074").await;
    let view = world.first_view(chat).await;
    let before = world.engine.journey(view.parcel).await.expect("journey");
    let before = before.expected.expect("a window");
    assert_eq!(before.from, bot_core::interpret::journey::ExpectedFrom::Provider);
    assert_eq!(before.latest.timestamp_millis(), 1_787_900_000_000);
    world.run_for(Duration::days(2), Duration::hours(1)).await;
    let sent = world.telegram.sent();
    let moved = messages_containing(&sent, "now expects to deliver");
    assert_eq!(moved.len(), 1, "{sent:#?}");
    let after = world.engine.journey(view.parcel).await.expect("journey");
    assert_eq!(
        after.expected.map(|e| e.latest.timestamp_millis()),
        Some(1_788_245_600_000)
    );
}
