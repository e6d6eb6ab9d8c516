//! End to end through the real teloxide adapter, against a fake Bot API on 127.0.0.1:
//! a buyer tracks a number, presses a button, gets a proactive stage change when
//! simulated time moves; a 429 is waited out, a 403 marks the chat unreachable and its
//! messages wait until the buyer writes again; a delivery elsewhere than the buyer's
//! city is said in the delivered message, and "I did not receive it" keeps the
//! buyer-protection reminders coming. Parcel time is simulated; only the network is
//! real.

mod fake_bot_api;
#[path = "../../bot-core/tests/support/conversation.rs"]
mod support;

use std::sync::Arc;

use bot_core::clock::{Clock, SimulatedClock};
use bot_core::conversation::{ChatLimits, Conversation};
use bot_core::engine::notify::Notifier;
use bot_core::engine::{Engine, EngineSettings};
use bot_core::provider::Providers;
use bot_core::provider::sim::SimulatedCarrier;
use bot_core::settings::DatabaseUrl;
use bot_core::store::{ChatRef, SqlStore, Store};
use chrono::{Duration, TimeZone, Utc};
use fake_bot_api::{BOT_USERNAME, FakeBotApi, api_error, button_update, text_update, too_many_requests};
use serde_json::{Value, json};
use telegram::{StartRetry, TelegramAdapter, TelegramError, TelegramSender};

const BUYER: i64 = 42;
const GROUP: i64 = -100_500;

fn temp_database() -> DatabaseUrl {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("parcelbot_tg_{}_{nanos}", std::process::id()));
    DatabaseUrl::Sqlite(format!("sqlite://{}", dir.join("test.db").display()))
}

fn text_of(message: &Value) -> &str {
    message["text"].as_str().unwrap_or_default()
}

fn callback_data(message: &Value) -> Vec<String> {
    message["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|button| button["callback_data"].as_str().map(str::to_owned))
        .collect()
}

/// The adapter serving a fresh conversation by long polling against `fake`.
struct Served {
    clock: SimulatedClock,
    store: Arc<SqlStore>,
    engine: Arc<Engine<SqlStore, SimulatedClock>>,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), TelegramError>>,
}

async fn serve(fake: &FakeBotApi) -> Served {
    let clock = SimulatedClock::new(Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).single().expect("date"));
    let store = Arc::new(SqlStore::connect(&temp_database()).await.expect("store"));
    let providers = Providers::new(vec![Arc::new(SimulatedCarrier::new(clock.clone()))]);
    let bot = telegram::bot("123:secret", Some(fake.url.parse().expect("url")));
    let sender = TelegramSender::new(bot.clone());
    let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(sender.clone())];
    let engine = Arc::new(Engine::new(
        Arc::clone(&store),
        providers,
        clock.clone(),
        notifiers,
        EngineSettings::default(),
    ));
    let conversation = Arc::new(Conversation::new(Arc::clone(&engine), ChatLimits::default()));
    let adapter = TelegramAdapter::new(conversation, sender);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(adapter.serve_polling(async {
        let _ = stopped.await;
    }));
    Served {
        clock,
        store,
        engine,
        stop,
        serving,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_tracks_presses_a_button_and_hears_about_the_next_stage() {
    let fake = FakeBotApi::start().await;
    let Served {
        clock,
        store,
        engine,
        stop,
        serving,
    } = serve(&fake).await;

    // The command menu is registered at start.
    let commands = fake
        .wait_for("setMyCommands", |calls| {
            calls
                .iter()
                .find(|c| c.method == "setmycommands")
                .map(|c| c.body["commands"].clone())
        })
        .await;
    let names: Vec<&str> = commands
        .as_array()
        .expect("commands")
        .iter()
        .filter_map(|c| c["command"].as_str())
        .collect();
    assert!(names.contains(&"track") && names.contains(&"forget"), "{names:?}");

    // /track: the assessment comes back as HTML with the parcel's buttons.
    fake.push_update(text_update(
        1,
        BUYER,
        BUYER,
        "/track RB104729000CN headphones <b>&</b>",
    ));
    let tracked = fake
        .wait_for("the /track assessment", |_| {
            fake.messages_to(BUYER)
                .into_iter()
                .find(|m| !callback_data(m).is_empty())
        })
        .await;
    let track_answers = fake.messages_to(BUYER);
    assert!(track_answers.iter().all(|m| m["parse_mode"] == json!("HTML")));
    let text = text_of(&track_answers[0]);
    assert!(text.contains("RB104729000CN"), "{text}");
    assert!(
        text.contains("headphones &lt;b&gt;&amp;&lt;/b&gt;"),
        "the label is escaped: {text}"
    );
    let buttons = callback_data(&tracked);
    let is_it_fake = buttons
        .iter()
        .find(|data| data.starts_with("f:"))
        .cloned()
        .unwrap_or_else(|| panic!("an is-it-fake button in {buttons:?}: {:#?}", fake.calls()));

    // A replayed update changes nothing and gets no second reply.
    fake.replay_update(text_update(
        1,
        BUYER,
        BUYER,
        "/track RB104729000CN headphones <b>&</b>",
    ));
    // The button: acknowledged, and answered with the verdict.
    fake.push_update(button_update(2, BUYER, BUYER, &is_it_fake));
    fake.wait_for("answerCallbackQuery", |calls| {
        calls
            .iter()
            .find(|c| c.method == "answercallbackquery" && c.body["callback_query_id"] == json!("cb-2"))
            .map(|_| ())
    })
    .await;
    let verdict = fake
        .wait_for("the verdict", |_| {
            fake.messages_to(BUYER).get(track_answers.len()).cloned()
        })
        .await;
    // Updates of one chat are handled in order, so a reply to the replay would come
    // before the verdict.
    assert!(
        text_of(&verdict).starts_with("<b>RB104729000CN looks genuine.</b>"),
        "the replayed update got no reply: {verdict}"
    );
    let chat = store
        .upsert_chat(&ChatRef::new("telegram", "42").expect("chat"), clock.now())
        .await
        .expect("chat");
    assert_eq!(store.subscriptions(chat).await.expect("views").len(), 1);

    // Time moves: the parcel boards its flight. Telegram first says 429 (retry after 5 s);
    // the dispatcher waits exactly that long in engine time, then sends.
    fake.fail_sends([(
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 5", "parameters": {"retry_after": 5}}),
    )]);
    while fake.failures_served() == 0 {
        assert!(clock.now() < Utc.with_ymd_and_hms(2026, 10, 3, 0, 0, 0).single().expect("date"));
        clock.advance(Duration::minutes(20));
        engine.tick().await.expect("tick");
    }
    let after_429 = fake.messages_to(BUYER).len();
    engine.tick().await.expect("tick");
    clock.advance(Duration::seconds(4));
    engine.tick().await.expect("tick");
    assert_eq!(
        fake.messages_to(BUYER).len(),
        after_429,
        "nothing is sent during the pause"
    );
    clock.advance(Duration::seconds(2));
    engine.tick().await.expect("tick");
    let proactive = fake.messages_to(BUYER);
    assert_eq!(proactive.len(), after_429 + 1);
    let flight = text_of(&proactive[after_429]);
    assert!(flight.contains("international leg"), "{flight}");
    assert!(flight.contains("headphones"), "{flight}");

    // The buyer blocks the bot: 403 marks the chat unreachable, and nothing more is
    // tried while the parcel moves on.
    fake.fail_sends([(
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    )]);
    while fake.failures_served() < 2 {
        assert!(clock.now() < Utc.with_ymd_and_hms(2026, 10, 8, 0, 0, 0).single().expect("date"));
        clock.advance(Duration::minutes(20));
        engine.tick().await.expect("tick");
    }
    assert!(!store.chat_settings(chat).await.expect("settings").reachable);
    let attempts = fake.calls().iter().filter(|c| c.method == "sendmessage").count();
    for _ in 0..12 {
        clock.advance(Duration::hours(2));
        engine.tick().await.expect("tick");
    }
    let attempts_after = fake.calls().iter().filter(|c| c.method == "sendmessage").count();
    assert_eq!(
        attempts, attempts_after,
        "no retries to a chat that blocked the bot"
    );

    // The buyer comes back: the held news go out.
    fake.push_update(text_update(3, BUYER, BUYER, "/list"));
    let before = fake.messages_to(BUYER).len();
    fake.wait_for("the /list reply", |_| {
        (fake.messages_to(BUYER).len() > before).then_some(())
    })
    .await;
    assert!(store.chat_settings(chat).await.expect("settings").reachable);
    engine.tick().await.expect("tick");
    let held = fake.messages_to(BUYER);
    assert!(
        held[before..].iter().any(|m| text_of(m).contains("customs")),
        "{:#?}",
        &held[before..]
    );

    // In a group: small talk is ignored, a command addressed to the bot is answered,
    // and details asked for in the group go to the person privately.
    fake.push_update(text_update(4, GROUP, 43, "did anyone get their parcel?"));
    fake.push_update(text_update(
        5,
        GROUP,
        43,
        &format!("/track@{BOT_USERNAME} RB104729225CN"),
    ));
    let private = fake
        .wait_for("the private assessment", |_| {
            fake.messages_to(43)
                .into_iter()
                .find(|m| !callback_data(m).is_empty())
        })
        .await;
    assert!(
        text_of(&private).contains("Timeline") || text_of(&private).contains("•"),
        "{private}"
    );
    let in_group = fake.messages_to(GROUP);
    assert_eq!(in_group.len(), 1, "small talk got no answer: {in_group:#?}");
    assert!(
        text_of(&in_group[0]).starts_with("Following RB•••••••25CN"),
        "numbers are masked in groups: {in_group:#?}"
    );

    // A private answer to someone who never opened a chat with the bot: the group is
    // told where to go instead.
    fake.fail_send_to(
        44,
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot can't initiate conversation with a user"}),
    );
    fake.push_update(text_update(
        7,
        GROUP,
        44,
        &format!("/track@{BOT_USERNAME} RB104729336CN"),
    ));
    let pointer = fake
        .wait_for("the pointer to a private chat", |_| {
            fake.messages_to(GROUP)
                .into_iter()
                .find(|m| text_of(m).contains(&format!("@{BOT_USERNAME}")))
        })
        .await;
    assert!(text_of(&pointer).contains("press Start"), "{pointer}");

    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(10), serving)
        .await
        .expect("stops")
        .expect("task")
        .expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_rides_out_transient_errors_and_stops_only_on_a_refused_token() {
    let fake = FakeBotApi::start().await;
    let bot = telegram::bot("123:secret", Some(fake.url.parse().expect("url")));
    let sender = TelegramSender::new(bot);
    let conversation = support::simulated_conversation(&temp_database()).await;
    let retry = StartRetry {
        attempts: 4,
        first_wait: std::time::Duration::from_millis(20),
        max_wait: std::time::Duration::from_millis(1_500),
    };
    let adapter = TelegramAdapter::with_start_retry(conversation, sender, retry);
    let get_me_calls = || fake.calls().iter().filter(|c| c.method == "getme").count();

    // A 429, a 502 and a garbled answer: each waited out, then the bot starts.
    fake.fail_calls(
        "getme",
        [
            (429, too_many_requests(1)),
            (502, api_error(502, "Bad Gateway")),
            // A proxy's page with a 200: not the Bot API's JSON.
            (200, json!("<html>Service Unavailable</html>")),
        ],
    );
    let me = adapter
        .prepare()
        .await
        .expect("start-up rides out transient errors");
    assert_eq!(me.username(), BOT_USERNAME);
    assert_eq!(get_me_calls(), 4);

    // A refused token stops at once: no retry.
    fake.fail_calls("getme", [(401, api_error(401, "Unauthorized"))]);
    let refused = adapter.prepare().await.expect_err("a refused token stops");
    assert!(matches!(refused, TelegramError::TokenRefused(_)), "{refused}");
    assert!(refused.to_string().contains("TELEGRAM_BOT_TOKEN"), "{refused}");
    assert_eq!(get_me_calls(), 5);

    // A Telegram that stays unreachable: a clear message after the attempts. (Not 5xx
    // here: teloxide itself pauses ten seconds after each; the one 502 above is enough.)
    fake.fail_calls("getme", (0..4).map(|_| (200, json!("<html>Bad Gateway</html>"))));
    let down = adapter.prepare().await.expect_err("Telegram stays down");
    assert!(
        matches!(down, TelegramError::Unreachable { attempts: 4, .. }),
        "{down}"
    );
    assert!(
        down.to_string()
            .contains("could not be reached for getMe after 4 attempts"),
        "{down}"
    );
    assert_eq!(get_me_calls(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_refused_with_a_429_is_delayed_not_dropped() {
    let fake = FakeBotApi::start().await;
    let Served {
        clock,
        store: _,
        engine,
        stop,
        serving,
    } = serve(&fake).await;

    // Telegram refuses the reply with a 429 (retry after an hour, longer than any
    // adapter would wait): the reply stays queued, the update is handled.
    fake.fail_sends([(429, too_many_requests(3600))]);
    fake.push_update(text_update(1, BUYER, BUYER, "/help"));
    fake.wait_for("the refused reply", |calls| {
        calls
            .iter()
            .any(|c| c.method == "sendmessage" && c.body.get("_failed").is_some())
            .then_some(())
    })
    .await;
    fake.wait_for("the update confirmed", |_| {
        (fake.unconfirmed() == 0).then_some(())
    })
    .await;
    assert!(fake.messages_to(BUYER).is_empty());
    engine.tick().await.expect("tick");
    assert!(
        fake.messages_to(BUYER).is_empty(),
        "nothing goes out during the pause"
    );

    // After the pause, the dispatcher sends it: delayed, not dropped, and once.
    clock.advance(Duration::seconds(3601));
    engine.tick().await.expect("tick");
    let sent = fake.messages_to(BUYER);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(text_of(&sent[0]).contains("/track"), "the help text: {}", sent[0]);
    clock.advance(Duration::minutes(5));
    engine.tick().await.expect("tick");
    assert_eq!(fake.messages_to(BUYER).len(), 1, "sent once");

    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(10), serving)
        .await
        .expect("stops")
        .expect("task")
        .expect("served");
}

/// Issue 15, items 2 and 3, on Telegram: the delivered message itself names the place
/// that does not match the buyer's city, with the buyer's buttons; after "I did not
/// receive it" the buyer-protection reminders still come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_elsewhere_is_said_in_the_push_and_reminders_go_on() {
    let fake = FakeBotApi::start().await;
    let clock = SimulatedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0)
            .single()
            .expect("date"),
    );
    let store = Arc::new(SqlStore::connect(&temp_database()).await.expect("store"));
    let providers = Providers::new(vec![Arc::new(SimulatedCarrier::new(clock.clone()))]);
    let bot = telegram::bot("123:secret", Some(fake.url.parse().expect("url")));
    let sender = TelegramSender::new(bot.clone());
    let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(sender.clone())];
    let engine = Arc::new(Engine::new(
        Arc::clone(&store),
        providers,
        clock.clone(),
        notifiers,
        EngineSettings::default(),
    ));
    let conversation = Arc::new(Conversation::new(Arc::clone(&engine), ChatLimits::default()));
    let adapter = TelegramAdapter::new(conversation, sender);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = telegram::update_listeners::polling_default(bot.clone()).await;
    let serving = tokio::spawn(adapter.serve(listener, async {
        let _ = stopped.await;
    }));
    let replies = |count: usize, what: &'static str| {
        let fake = &fake;
        async move {
            fake.wait_for(what, |_| (fake.messages_to(BUYER).len() >= count).then_some(()))
                .await;
        }
    };
    fake.push_update(text_update(1, BUYER, BUYER, "/country France Paris"));
    replies(1, "the /country reply").await;
    fake.push_update(text_update(2, BUYER, BUYER, "/track RB104729150CN"));
    let question = fake
        .wait_for("the order-date question", |_| {
            fake.messages_to(BUYER)
                .into_iter()
                .find(|m| callback_data(m).iter().any(|data| data.starts_with("o:")))
        })
        .await;
    assert!(
        text_of(&question).contains("When did you order it?"),
        "{question}"
    );
    let sent = fake.messages_to(BUYER).len();
    fake.push_update(text_update(3, BUYER, BUYER, "/protect RB104729150CN 20 days"));
    replies(sent + 1, "the /protect reply").await;

    // The parcel travels; the delivered message says where, and that it is not Paris.
    let delivered = loop {
        if let Some(found) = fake
            .messages_to(BUYER)
            .into_iter()
            .find(|m| text_of(m).contains("marked as delivered"))
        {
            break found;
        }
        assert!(
            clock.now()
                < Utc
                    .with_ymd_and_hms(2026, 12, 12, 0, 0, 0)
                    .single()
                    .expect("date")
        );
        clock.advance(Duration::minutes(30));
        engine.tick().await.expect("tick");
    };
    let text = text_of(&delivered);
    assert!(
        text.contains("Lille, France, not in Paris, where you live"),
        "{text}"
    );
    assert!(text.contains("open a dispute"), "{text}");
    let buttons = callback_data(&delivered);
    let not_received = buttons
        .iter()
        .find(|data| data.starts_with("n:"))
        .cloned()
        .unwrap_or_else(|| panic!("an \"I did not receive it\" button in {buttons:?}"));
    assert!(buttons.iter().any(|data| data.starts_with("r:")), "{buttons:?}");

    // "I did not receive it": acknowledged, and the reminders come anyway.
    let sent = fake.messages_to(BUYER).len();
    fake.push_update(button_update(4, BUYER, BUYER, &not_received));
    replies(sent + 1, "the answer to the button").await;
    let answer = fake.messages_to(BUYER)[sent].clone();
    assert!(text_of(&answer).contains("did not reach you"), "{answer}");
    let reminder = loop {
        if let Some(found) = fake
            .messages_to(BUYER)
            .into_iter()
            .find(|m| text_of(m).contains("Buyer protection ends in 7 days"))
        {
            break found;
        }
        assert!(
            clock.now()
                < Utc
                    .with_ymd_and_hms(2026, 12, 16, 0, 0, 0)
                    .single()
                    .expect("date")
        );
        clock.advance(Duration::hours(2));
        engine.tick().await.expect("tick");
    };
    assert!(
        text_of(&reminder).contains("you told me it did not arrive"),
        "{reminder}"
    );

    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(10), serving)
        .await
        .expect("stops")
        .expect("task")
        .expect("served");
}
