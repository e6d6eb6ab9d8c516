//! End to end through the real serenity client against a fake Discord on 127.0.0.1
//! (REST through the proxy setting with the rate limiter off, gateway over plain ws):
//! a person runs /track in a server channel and gets the deferred reply edited into the
//! assessment (acknowledged while the provider is still busy), presses a button,
//! autocompletes only their own parcels, receives a DM with a nonce when simulated time
//! moves the parcel on; closed DMs (50007) mark them unreachable and ask them in the
//! channel, and /notify here brings the held news to that channel. The same over the
//! HTTP interactions endpoint: signatures checked (a key pair made in the test), PING
//! answered, quick answers inline, slow ones deferred and edited in, no gateway.

mod fake_discord;
#[path = "../../bot-core/tests/support/conversation.rs"]
mod support;

use std::sync::Arc;

use bot_core::clock::{Clock, SimulatedClock};
use bot_core::conversation::{ChatLimits, Conversation};
use bot_core::engine::notify::Notifier;
use bot_core::engine::{Engine, EngineSettings};
use bot_core::number::TrackingNumber;
use bot_core::ops::server::{self, HttpLimits};
use bot_core::provider::sim::SimulatedCarrier;
use bot_core::provider::{FetchResult, Providers, TrackingProvider};
use bot_core::settings::DatabaseUrl;
use bot_core::store::{ChatRef, SqlStore, Store};
use chrono::{Duration, TimeZone, Utc};
use discord::{DiscordAdapter, DiscordError, DiscordSender, StartRetry, interactions};
use fake_discord::{
    APPLICATION_ID, Call, DM_CHANNELS_FROM, FakeDiscord, Place, Signer, autocomplete, button, command, ping,
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const BUYER: u64 = 42;
const OTHER: u64 = 43;
const SERVER: Place = Place::Server {
    guild: 600,
    channel: 700,
};
const TOKEN: &str = "fake-discord-token";

fn temp_database() -> DatabaseUrl {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("parcelbot_dc_{}_{nanos}", std::process::id()));
    DatabaseUrl::Sqlite(format!("sqlite://{}", dir.join("test.db").display()))
}

/// The simulated carrier behind a gate the test opens: a provider as slow as the test
/// wants.
struct GatedCarrier {
    inner: SimulatedCarrier<SimulatedClock>,
    gate: Arc<Semaphore>,
}

impl TrackingProvider for GatedCarrier {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn serves(&self, number: &TrackingNumber) -> bool {
        self.inner.serves(number)
    }

    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    async fn fetch(&self, numbers: &[TrackingNumber]) -> Vec<FetchResult> {
        // Every fetch waits for a permit it gives back: closed gate, slow provider.
        let permit = self.gate.acquire().await;
        drop(permit);
        self.inner.fetch(numbers).await
    }
}

/// The callback (acknowledgement) of interaction `id`.
fn callback_of(calls: &[Call], id: u64) -> Option<Value> {
    let path = format!("/interactions/{id}/token-{id}/callback");
    calls.iter().find(|c| c.path == path).map(|c| c.body.clone())
}

/// The edits of interaction `id`'s deferred reply.
fn edit_of(calls: &[Call], id: u64) -> Option<Value> {
    let path = format!("/webhooks/{APPLICATION_ID}/token-{id}/messages/@original");
    calls
        .iter()
        .find(|c| c.path == path && c.method == "PATCH")
        .map(|c| c.body.clone())
}

/// The follow-up messages of interaction `id`, in order.
fn followups_of(calls: &[Call], id: u64) -> Vec<Value> {
    let path = format!("/webhooks/{APPLICATION_ID}/token-{id}");
    calls
        .iter()
        .filter(|c| c.path == path && c.method == "POST")
        .map(|c| c.body.clone())
        .collect()
}

/// Every text of a message body: content, embed titles and descriptions.
fn text_of(body: &Value) -> String {
    let mut text = body["content"].as_str().unwrap_or_default().to_owned();
    for embed in body["embeds"].as_array().into_iter().flatten() {
        for field in ["title", "description"] {
            if let Some(part) = embed[field].as_str() {
                text.push('\n');
                text.push_str(part);
            }
        }
    }
    text
}

fn custom_ids(body: &Value) -> Vec<String> {
    body["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|button| button["custom_id"].as_str().map(str::to_owned))
        .collect()
}

fn choice_values(body: &Value) -> Vec<String> {
    body["data"]["choices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|choice| choice["value"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_tracks_in_a_server_and_hears_by_dm_or_in_the_channel() {
    let fake = FakeDiscord::start().await;
    let clock = SimulatedClock::new(Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).single().expect("date"));
    let store = Arc::new(SqlStore::connect(&temp_database()).await.expect("store"));
    let gate = Arc::new(Semaphore::new(0));
    let carrier = GatedCarrier {
        inner: SimulatedCarrier::new(clock.clone()),
        gate: Arc::clone(&gate),
    };
    let providers = Providers::new(vec![Arc::new(carrier)]);
    let sender = DiscordSender::new(Arc::new(discord::http(TOKEN, Some(&fake.url))));
    let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(sender)];
    let engine = Arc::new(Engine::new(
        Arc::clone(&store),
        providers,
        clock.clone(),
        notifiers,
        EngineSettings::default(),
    ));
    let conversation = Arc::new(Conversation::new(Arc::clone(&engine), ChatLimits::default()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = fake.url.clone();
    let serving = tokio::spawn(async move {
        discord::serve(DiscordAdapter::new(conversation), TOKEN, Some(&url), async {
            let _ = stopped.await;
        })
        .await
    });

    // The slash commands are registered once the gateway is ready, parcels autocompleted.
    let registered = fake
        .wait_for("the command registration", |calls| {
            calls
                .iter()
                .find(|c| c.method == "PUT" && c.path == format!("/applications/{APPLICATION_ID}/commands"))
                .map(|c| c.body.clone())
        })
        .await;
    let commands = registered.as_array().expect("commands");
    let named = |name: &str| commands.iter().find(|c| c["name"] == json!(name)).cloned();
    for name in [
        "track", "list", "status", "fake", "protect", "notify", "forget", "help",
    ] {
        assert!(named(name).is_some(), "/{name} registered: {registered:#}");
    }
    let status = named("status").expect("status");
    assert_eq!(status["options"][0]["autocomplete"], json!(true), "{status:#}");
    let track_number = named("track").expect("track");
    assert_eq!(
        track_number["options"][0]["type"],
        json!(3),
        "the number is a string option"
    );

    // /track in a server channel while the provider is slow: the interaction is
    // acknowledged (deferred, ephemeral) before any answer exists.
    let track = fake.snowflake();
    fake.push(command(
        track,
        BUYER,
        SERVER,
        "track",
        &[
            ("number", json!("RB104729000CN")),
            ("label", json!("headphones *new*")),
        ],
    ));
    let deferred = fake
        .wait_for("the deferral", |calls| callback_of(calls, track))
        .await;
    assert_eq!(deferred["type"], json!(5), "{deferred}");
    assert_eq!(
        deferred["data"]["flags"],
        json!(64),
        "ephemeral in a server: {deferred}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        edit_of(&fake.calls(), track).is_none(),
        "no answer while the provider is busy"
    );
    gate.add_permits(1_000_000);
    let assessment = fake
        .wait_for("the assessment", |calls| edit_of(calls, track))
        .await;
    let text = text_of(&assessment);
    assert!(
        text.contains(r"Following headphones \*new\* (RB104729000CN)"),
        "the label is escaped: {assessment:#}"
    );
    assert!(
        assessment["embeds"][0]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "the deferred reply is edited into the assessment itself: {assessment:#}"
    );
    assert_eq!(
        assessment["allowed_mentions"]["parse"],
        json!([]),
        "{assessment:#}"
    );
    assert!(
        followups_of(&fake.calls(), track).is_empty(),
        "one message: {assessment:#}"
    );
    let ids = custom_ids(&assessment);
    let is_it_fake = ids
        .iter()
        .find(|id| id.starts_with("f:"))
        .cloned()
        .unwrap_or_else(|| panic!("an is-it-fake button in {assessment:#}"));
    assert!(ids.iter().all(|id| id.len() <= 100));

    // The button: deferred, then the verdict.
    let press = fake.snowflake();
    fake.push(button(press, BUYER, SERVER, &is_it_fake));
    let verdict = fake.wait_for("the verdict", |calls| edit_of(calls, press)).await;
    assert_eq!(
        callback_of(&fake.calls(), press).expect("deferred")["data"]["flags"],
        json!(64)
    );
    assert!(
        text_of(&verdict).contains("RB104729000CN looks genuine."),
        "{verdict:#}"
    );

    // Someone else tracks a parcel in DMs: an ordinary (not ephemeral) reply.
    let other_track = fake.snowflake();
    fake.push(command(
        other_track,
        OTHER,
        Place::Dm,
        "track",
        &[("number", json!("RB104729225CN")), ("label", json!("lamp"))],
    ));
    fake.wait_for("the other assessment", |calls| edit_of(calls, other_track))
        .await;
    let flags = callback_of(&fake.calls(), other_track).expect("deferred")["data"]["flags"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(flags & 64, 0, "not ephemeral in DMs");

    // Autocomplete offers each person their own parcels only.
    let mine = fake.snowflake();
    fake.push(autocomplete(mine, BUYER, SERVER, "status", "parcel", ""));
    let offered = fake
        .wait_for("autocomplete", |calls| callback_of(calls, mine))
        .await;
    assert_eq!(offered["type"], json!(8), "{offered}");
    assert_eq!(
        choice_values(&offered),
        vec!["RB104729000CN".to_owned()],
        "{offered:#}"
    );
    let theirs = fake.snowflake();
    fake.push(autocomplete(theirs, OTHER, Place::Dm, "status", "parcel", "la"));
    let offered = fake
        .wait_for("autocomplete", |calls| callback_of(calls, theirs))
        .await;
    assert_eq!(
        choice_values(&offered),
        vec!["RB104729225CN".to_owned()],
        "{offered:#}"
    );
    let nothing = fake.snowflake();
    fake.push(autocomplete(
        nothing,
        OTHER,
        Place::Dm,
        "status",
        "parcel",
        "headphones",
    ));
    let offered = fake
        .wait_for("autocomplete", |calls| callback_of(calls, nothing))
        .await;
    assert!(choice_values(&offered).is_empty(), "{offered:#}");

    // Time moves: the parcel boards its flight and the person gets a DM, with a nonce.
    let dm = DM_CHANNELS_FROM + BUYER;
    while fake.messages_in(dm).is_empty() {
        assert!(clock.now() < Utc.with_ymd_and_hms(2026, 10, 3, 0, 0, 0).single().expect("date"));
        clock.advance(Duration::minutes(20));
        engine.tick().await.expect("tick");
    }
    let news = fake.messages_in(dm)[0].clone();
    assert!(text_of(&news).contains("headphones"), "{news:#}");
    assert!(
        text_of(&news).contains("RB104729000CN"),
        "a DM shows the whole number: {news:#}"
    );
    assert!(
        news["nonce"]
            .as_str()
            .is_some_and(|n| !n.is_empty() && n.len() <= 25),
        "{news:#}"
    );
    assert_eq!(news["enforce_nonce"], json!(true));
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.path == "/users/@me/channels" && c.body["recipient_id"] == json!(BUYER.to_string())),
        "the DM channel was opened"
    );

    // The person closes their DMs: 50007 marks them unreachable, they are asked once in
    // the channel, and nothing more is tried while the parcel moves on.
    fake.refuse_channel(
        dm,
        403,
        json!({"code": 50007, "message": "Cannot send messages to this user"}),
    );
    while fake.refused() == 0 {
        assert!(clock.now() < Utc.with_ymd_and_hms(2026, 10, 8, 0, 0, 0).single().expect("date"));
        clock.advance(Duration::minutes(20));
        engine.tick().await.expect("tick");
    }
    let chat = store
        .find_chat(&ChatRef::new("discord", &BUYER.to_string()).expect("chat"))
        .await
        .expect("store")
        .expect("chat exists");
    assert!(!store.chat_settings(chat).await.expect("settings").reachable);
    let asked = fake.messages_in(700);
    assert_eq!(asked.len(), 1, "{asked:#?}");
    let ask = text_of(&asked[0]);
    assert!(ask.contains("<@42>") && ask.contains("/notify here"), "{ask}");
    assert_eq!(
        asked[0]["allowed_mentions"]["users"],
        json!(["42"]),
        "only the person is pinged"
    );
    for _ in 0..24 {
        clock.advance(Duration::hours(2));
        engine.tick().await.expect("tick");
    }
    assert_eq!(fake.refused(), 1, "no retries to closed DMs");
    assert_eq!(fake.messages_in(700).len(), 1, "asked once");

    // /notify here: the held news go to the channel, with the number masked.
    let notify = fake.snowflake();
    fake.push(command(
        notify,
        BUYER,
        SERVER,
        "notify",
        &[("where", json!("here"))],
    ));
    let chosen = fake
        .wait_for("the /notify answer", |calls| edit_of(calls, notify))
        .await;
    assert!(text_of(&chosen).contains("this channel"), "{chosen:#}");
    assert!(store.chat_settings(chat).await.expect("settings").reachable);
    engine.tick().await.expect("tick");
    let in_channel = fake.messages_in(700);
    assert!(in_channel.len() > 1, "{in_channel:#?}");
    let held = text_of(&in_channel[1]);
    assert!(held.contains("headphones"), "{held}");
    assert!(
        !held.contains("RB104729000CN"),
        "the number is masked in a channel: {held}"
    );

    let _ = stop.send(());
    let served = tokio::time::timeout(std::time::Duration::from_secs(10), serving)
        .await
        .expect("stops")
        .expect("task");
    assert!(served.is_ok(), "{served:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_rides_out_dropped_connections_and_stops_on_a_refused_token() {
    let fake = FakeDiscord::start().await;
    let conversation = support::simulated_conversation(&temp_database()).await;
    let retry = StartRetry {
        attempts: 4,
        first_wait: std::time::Duration::from_millis(50),
        max_wait: std::time::Duration::from_millis(500),
        healthy_after: std::time::Duration::from_secs(60),
    };

    // Discord briefly down: the first connections are dropped, then the bot is ready
    // (it registers its commands on READY).
    fake.drop_gateway_connections(2);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = fake.url.clone();
    let adapter = DiscordAdapter::new(Arc::clone(&conversation));
    let serving = tokio::spawn(async move {
        discord::serve_with_retry(
            adapter,
            TOKEN,
            Some(&url),
            async {
                let _ = stopped.await;
            },
            retry,
        )
        .await
    });
    fake.wait_for("the command registration after the drops", |calls| {
        calls
            .iter()
            .any(|c| c.method == "PUT" && c.path == format!("/applications/{APPLICATION_ID}/commands"))
            .then_some(())
    })
    .await;
    assert!(fake.gateway_connections() >= 3, "{}", fake.gateway_connections());
    let _ = stop.send(());
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(20), serving)
        .await
        .expect("stops in time")
        .expect("joined");
    assert!(stopped.is_ok(), "{stopped:?}");

    // A refused token: serving ends at once with a clear error, not a retry loop.
    fake.refuse_token();
    let before = fake.gateway_connections();
    let url = fake.url.clone();
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        discord::serve_with_retry(
            DiscordAdapter::new(conversation),
            TOKEN,
            Some(&url),
            std::future::pending(),
            retry,
        ),
    )
    .await
    .expect("a refused token ends serving");
    let error = refused.expect_err("a refused token is an error");
    assert!(matches!(error, DiscordError::TokenRefused(_)), "{error}");
    assert!(error.to_string().contains("DISCORD_TOKEN"), "{error}");
    assert_eq!(
        fake.gateway_connections() - before,
        1,
        "a refused token is not retried"
    );
}

/// Discord's HTTP interactions endpoint served by the hardened server, with Discord's
/// side played by [`fake_discord::Signer`]; the answers' REST calls go to the fake.
struct HttpInteractions {
    url: String,
    signer: Signer,
    clock: SimulatedClock,
    gate: Arc<Semaphore>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl HttpInteractions {
    async fn start(fake: &FakeDiscord) -> HttpInteractions {
        let clock = SimulatedClock::new(Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).single().expect("date"));
        let store = Arc::new(SqlStore::connect(&temp_database()).await.expect("store"));
        let gate = Arc::new(Semaphore::new(0));
        let carrier = GatedCarrier {
            inner: SimulatedCarrier::new(clock.clone()),
            gate: Arc::clone(&gate),
        };
        let http = Arc::new(discord::http(TOKEN, Some(&fake.url)));
        let sender = DiscordSender::new(Arc::clone(&http));
        let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(sender)];
        let engine = Arc::new(Engine::new(
            Arc::clone(&store),
            Providers::new(vec![Arc::new(carrier)]),
            clock.clone(),
            notifiers,
            EngineSettings::default(),
        ));
        let conversation = Arc::new(Conversation::new(engine, ChatLimits::default()));
        let signer = Signer::new(fastrand::u64(..));
        let mut public_key = [0u8; 32];
        for (byte, pair) in public_key
            .iter_mut()
            .zip(signer.public_key_hex().as_bytes().chunks(2))
        {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).expect("hex"), 16).expect("hex");
        }
        let key = interactions::public_key(&public_key).expect("a valid key");
        let routes = interactions::router(
            Arc::new(DiscordAdapter::new(conversation)),
            http,
            key,
            clock.clone(),
        );
        let limits = HttpLimits::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}{}",
            listener.local_addr().expect("address"),
            interactions::INTERACTIONS_PATH
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(
            listener,
            server::harden(routes, &limits),
            limits,
            async move {
                let _ = stopped.await;
            },
        ));
        HttpInteractions {
            url,
            signer,
            clock,
            gate,
            _stop: stop,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    async fn post(&self, interaction: &Value) -> (u16, Value) {
        self.signer
            .post(&self.url, interaction, self.now())
            .await
            .expect("the endpoint answers")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_interactions_endpoint_checks_signatures_and_answers_as_the_gateway_does() {
    let fake = FakeDiscord::start().await;
    let endpoint = HttpInteractions::start(&fake).await;

    // PING → PONG, as the developer portal checks when the URL is saved.
    let (status, pong) = endpoint.post(&ping(fake.snowflake())).await;
    assert_eq!((status, pong.clone()), (200, json!({"type": 1})), "{pong}");

    // Refused: another key, a stale timestamp, an altered body, no signature.
    let body = ping(fake.snowflake()).to_string().into_bytes();
    let impostor = Signer::new(7);
    let (signature, timestamp) = impostor.sign(endpoint.now(), &body);
    let wrong_key = endpoint
        .signer
        .post_raw(&endpoint.url, &signature, &timestamp, body.clone())
        .await
        .expect("answer");
    assert_eq!(wrong_key.status().as_u16(), 401, "signed with another key");
    let (signature, timestamp) = endpoint.signer.sign(endpoint.now() - 301, &body);
    let stale = endpoint
        .signer
        .post_raw(&endpoint.url, &signature, &timestamp, body.clone())
        .await
        .expect("answer");
    assert_eq!(stale.status().as_u16(), 401, "older than five minutes");
    let (signature, timestamp) = endpoint.signer.sign(endpoint.now() - 240, &body);
    let recent = endpoint
        .signer
        .post_raw(&endpoint.url, &signature, &timestamp, body.clone())
        .await
        .expect("answer");
    assert_eq!(recent.status().as_u16(), 200, "four minutes old is still fine");
    let (signature, timestamp) = endpoint.signer.sign(endpoint.now(), &body);
    let mut altered = body.clone();
    let last = altered.len() - 2;
    altered[last] ^= 1;
    let tampered = endpoint
        .signer
        .post_raw(&endpoint.url, &signature, &timestamp, altered)
        .await
        .expect("answer");
    assert_eq!(tampered.status().as_u16(), 401, "an altered body");
    let unsigned = reqwest::Client::new()
        .post(&endpoint.url)
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_eq!(unsigned.status().as_u16(), 401, "no signature");

    // /track while the provider is slow: deferred (ephemeral in a server) within
    // Discord's 3 s, then the answer is edited in through the REST API.
    let track = fake.snowflake();
    let asked = std::time::Instant::now();
    let (status, deferred) = endpoint
        .post(&command(
            track,
            BUYER,
            SERVER,
            "track",
            &[("number", json!("RB104729000CN")), ("label", json!("lamp"))],
        ))
        .await;
    assert!(
        asked.elapsed() < std::time::Duration::from_millis(2_900),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(status, 200);
    assert_eq!(deferred["type"], json!(5), "{deferred}");
    assert_eq!(
        deferred["data"]["flags"],
        json!(64),
        "ephemeral in a server: {deferred}"
    );
    endpoint.gate.add_permits(1_000_000);
    let assessment = fake
        .wait_for("the assessment", |calls| edit_of(calls, track))
        .await;
    assert!(
        text_of(&assessment).contains("Following lamp (RB104729000CN)"),
        "{assessment:#}"
    );
    let is_it_fake = custom_ids(&assessment)
        .into_iter()
        .find(|id| id.starts_with("f:"))
        .unwrap_or_else(|| panic!("an is-it-fake button in {assessment:#}"));

    // A quick answer comes in the HTTP response itself: a button press...
    let (status, verdict) = endpoint
        .post(&button(fake.snowflake(), BUYER, SERVER, &is_it_fake))
        .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["type"], json!(4), "answered at once: {verdict}");
    assert_eq!(verdict["data"]["flags"], json!(64), "{verdict}");
    assert!(
        text_of(&verdict["data"]).contains("RB104729000CN looks genuine."),
        "{verdict:#}"
    );
    // ... and a command in DMs (not ephemeral).
    let (_, help) = endpoint
        .post(&command(fake.snowflake(), OTHER, Place::Dm, "help", &[]))
        .await;
    assert_eq!(help["type"], json!(4), "{help}");
    assert_eq!(help["data"]["flags"].as_u64().unwrap_or(0) & 64, 0, "{help}");
    assert!(text_of(&help["data"]).contains("/track"), "{help:#}");

    // Autocomplete: the person's own parcels, nobody else's.
    let (_, offered) = endpoint
        .post(&autocomplete(
            fake.snowflake(),
            BUYER,
            SERVER,
            "status",
            "parcel",
            "",
        ))
        .await;
    assert_eq!(offered["type"], json!(8), "{offered}");
    assert_eq!(choice_values(&offered), vec!["RB104729000CN".to_owned()]);
    let (_, nothing) = endpoint
        .post(&autocomplete(
            fake.snowflake(),
            OTHER,
            Place::Dm,
            "status",
            "parcel",
            "",
        ))
        .await;
    assert!(choice_values(&nothing).is_empty(), "{nothing}");

    // A replayed interaction (same id) is acknowledged and not answered twice.
    let replay = command(
        track,
        BUYER,
        SERVER,
        "track",
        &[("number", json!("RB104729000CN"))],
    );
    let (status, again) = endpoint.post(&replay).await;
    assert_eq!((status, again["type"].clone()), (200, json!(5)), "{again}");
    fake.wait_for("the placeholder cleared", |calls| {
        calls
            .iter()
            .any(|c| c.method == "DELETE" && c.path.contains(&format!("token-{track}")))
            .then_some(())
    })
    .await;
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.method == "PATCH" && c.path.contains(&format!("token-{track}")))
            .count(),
        1,
        "one answer per interaction"
    );
    assert_eq!(fake.gateway_connections(), 0, "no gateway in HTTP mode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_ping_is_answered_within_milliseconds() {
    let fake = FakeDiscord::start().await;
    let endpoint = HttpInteractions::start(&fake).await;
    let mut took = Vec::new();
    for _ in 0..300 {
        let started = std::time::Instant::now();
        let (status, _) = endpoint.post(&ping(fake.snowflake())).await;
        took.push(started.elapsed());
        assert_eq!(status, 200);
    }
    took.sort();
    let p99 = took[took.len() * 99 / 100];
    eprintln!(
        "signed PING round trip: median {:?}, p99 {p99:?}",
        took[took.len() / 2]
    );
    // The target is 5 ms (measured about 2 ms here, client included); twice that leaves
    // room for the other tests sharing two cores.
    assert!(p99 < std::time::Duration::from_millis(10), "p99 {p99:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_registers_the_commands_over_rest_and_opens_no_gateway() {
    let fake = FakeDiscord::start().await;
    let http = Arc::new(discord::http(TOKEN, Some(&fake.url)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(interactions::register_and_wait(
        http,
        StartRetry::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    fake.wait_for("the command registration", |calls| {
        calls
            .iter()
            .any(|c| c.method == "PUT" && c.path == format!("/applications/{APPLICATION_ID}/commands"))
            .then_some(())
    })
    .await;
    let _ = stop.send(());
    serving.await.expect("joined").expect("stops cleanly");
    assert_eq!(fake.gateway_connections(), 0);
}
