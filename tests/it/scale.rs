//! Several instances, proven: two real `parcelbot run` processes on one PostgreSQL
//! database, Telegram in webhook mode and Discord over HTTP interactions, with updates,
//! interactions and provider pushes spread over both, and one instance killed
//! (`kill -9`) in the middle of a burst. The fakes play Telegram and Discord, and the
//! test plays their load balancer: a request the killed instance does not answer is
//! sent to the other one, as Telegram's retries and a balancer's failover do.
//!
//! Counted from what the fakes received: every update and interaction answered exactly
//! once (an update the killed instance had in hands when it died is "in flight": it is
//! answered at least once, by the other instance or from the outbox once the killed
//! instance's lease ran out; twice only when the reply was sent but not yet marked
//! sent), and every push
//! delivered exactly once by whichever instance leased it.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::live::{fake_bot_api, fake_discord, free_port, get_when_up};
use fake_bot_api::{FakeBotApi, text_update};
use fake_discord::{APPLICATION_ID, DM_CHANNELS_FROM, FakeDiscord, Place, Signer, command};

const WEBHOOK_PATH: &str = "/telegram/hook";
const SECRET: &str = "two-instances_secret";
const SEVENTEEN_KEY: &str = "scale-test-17track-key";

/// An S10 number of the simulated carrier's `long_silence` journey (in line haul for
/// weeks, so a "delivered" push is news), one per `index`.
fn number(index: u32) -> String {
    let serial = format!("{:06}22", 100_000 + index);
    let weights = [8, 6, 4, 2, 3, 5, 9, 7];
    let sum: u32 = serial
        .bytes()
        .zip(weights)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        digit => digit,
    };
    format!("RB{serial}{check}CN")
}

/// A bot process; killed on drop.
struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_instance(
    database: &str,
    telegram: &FakeBotApi,
    discord: &FakeDiscord,
    key: &str,
    log: &std::path::Path,
) -> Instance {
    let listen = format!("127.0.0.1:{}", free_port());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let data = std::env::temp_dir().join(format!("parcelbot_scale_{}_{nanos}", std::process::id()));
    let stderr = std::fs::File::create(log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_parcelbot"))
        .arg("run")
        .env("PARCELBOT__DATA_DIR", &data)
        .env("PARCELBOT__DATABASE__URL", database)
        .env("PARCELBOT__PROVIDERS__ENABLED", "sim")
        .env("PARCELBOT__PROVIDERS__SEVENTEEN_TRACK__API_KEY", SEVENTEEN_KEY)
        .env("PARCELBOT__HTTP__LISTEN", &listen)
        .env(
            "PARCELBOT__TELEGRAM__WEBHOOK_URL",
            format!("https://bot.example.org{WEBHOOK_PATH}"),
        )
        .env("PARCELBOT__TELEGRAM__WEBHOOK_SECRET", SECRET)
        .env("PARCELBOT__DISCORD__MODE", "http")
        .env("PARCELBOT__DISCORD__PUBLIC_KEY", key)
        .env("PARCELBOT__LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("TELEGRAM_BOT_TOKEN", "123:scale-test")
        .env("TELEGRAM_API_URL", &telegram.url)
        .env("DISCORD_TOKEN", "discord-scale-test")
        .env("DISCORD_API_URL", &discord.url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("parcelbot starts");
    Instance {
        child,
        base: format!("http://{listen}"),
    }
}

/// The balancer: POSTs `body` to the instances in turn from `first`, until one answers
/// with a success. Returns which one did and its answer.
async fn balance(
    client: &reqwest::Client,
    bases: &[String],
    first: usize,
    send: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> (usize, Value) {
    for attempt in 0..40 {
        let index = (first + attempt) % bases.len();
        if let Ok(response) = send(client, &bases[index])
            .timeout(Duration::from_secs(10))
            .send()
            .await
            && response.status().is_success()
        {
            let text = response.text().await.unwrap_or_default();
            return (index, serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no instance took the request");
}

fn telegram_post(update: &Value) -> impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder + '_ {
    move |client, base| {
        client
            .post(format!("{base}{WEBHOOK_PATH}"))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .json(update)
    }
}

/// A 17TRACK push saying `number` was delivered just now (the published example's
/// shape), signed with the account key.
fn delivered_push(number: &str) -> Vec<u8> {
    let published =
        include_str!("../../bot-core/tests/fixtures/seventeen_track/webhook_tracking_updated_published.json");
    let mut body: Value = serde_json::from_str(published).expect("fixture");
    let now = chrono::Utc::now();
    let time = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    body["data"]["number"] = json!(number);
    let provider = &mut body["data"]["track_info"]["tracking"]["providers"][0];
    let delivered = provider["events"][0].clone();
    let mut delivered = delivered;
    delivered["time_iso"] = json!(time);
    delivered["time_utc"] = json!(time);
    provider["events"] = json!([delivered]);
    body["data"]["track_info"]["latest_event"]["time_iso"] = json!(time);
    body["data"]["track_info"]["latest_event"]["time_utc"] = json!(time);
    body.to_string().into_bytes()
}

fn answers_to(calls: &[fake_discord::Call], id: u64) -> usize {
    let path = format!("/webhooks/{APPLICATION_ID}/token-{id}/messages/@original");
    calls
        .iter()
        .filter(|c| c.path == path && c.method == "PATCH")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_and_survive_one_killed_mid_burst() {
    let Ok(base) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: two instances on PostgreSQL (TEST_POSTGRES_URL is not set)");
        return;
    };
    let name = format!("parcelbot_scale_{}", std::process::id());
    bot_core::store::sql::create_postgres_database(&base, &name)
        .await
        .expect("TEST_POSTGRES_URL reachable");
    let (server, _) = base.rsplit_once('/').expect("TEST_POSTGRES_URL names a database");
    let database = format!("{server}/{name}");

    let telegram = FakeBotApi::start().await;
    let discord = FakeDiscord::start().await;
    let signer = Signer::new(fastrand::u64(..));
    let logs = std::env::temp_dir().join(format!("parcelbot_scale_logs_{}", std::process::id()));
    std::fs::create_dir_all(&logs).expect("log dir");
    let mut a = Some(start_instance(
        &database,
        &telegram,
        &discord,
        &signer.public_key_hex(),
        &logs.join("a.log"),
    ));
    let b = start_instance(
        &database,
        &telegram,
        &discord,
        &signer.public_key_hex(),
        &logs.join("b.log"),
    );
    let bases = vec![a.as_ref().expect("a").base.clone(), b.base.clone()];
    let client = reqwest::Client::new();
    for base in &bases {
        for _ in 0..150 {
            if get_when_up(&client, &format!("{base}/readyz")).await.0 == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            get_when_up(&client, &format!("{base}/readyz")).await.0,
            200,
            "{base} ready"
        );
    }
    let now = || chrono::Utc::now().timestamp();

    // Phase 1, both alive: 30 Telegram chats and 16 Discord people each track a parcel,
    // spread over both instances.
    const CHATS: i64 = 30;
    const PEOPLE: u64 = 16;
    let mut update_id = 1;
    for chat in 0..CHATS {
        let update = text_update(
            update_id,
            1000 + chat,
            1000 + chat,
            &format!("/track {}", number(chat as u32)),
        );
        update_id += 1;
        balance(&client, &bases, chat as usize % 2, telegram_post(&update)).await;
    }
    let mut inline = HashMap::new();
    for person in 0..PEOPLE {
        let id = discord.snowflake();
        let interaction = command(
            id,
            5000 + person,
            Place::Dm,
            "track",
            &[("number", json!(number(100 + person as u32)))],
        );
        let (_, answer) = balance(&client, &bases, person as usize % 2, |client, base| {
            let body = interaction.to_string().into_bytes();
            let (signature, timestamp) = signer.sign(now(), &body);
            client
                .post(format!("{base}/discord/interactions"))
                .header("x-signature-ed25519", signature)
                .header("x-signature-timestamp", timestamp)
                .body(body)
        })
        .await;
        inline.insert(id, usize::from(answer["type"] == json!(4)));
    }
    telegram
        .wait_for("every /track answered", |_| {
            (0..CHATS)
                .all(|chat| !telegram.messages_to(1000 + chat).is_empty())
                .then_some(())
        })
        .await;
    discord
        .wait_for("every Discord /track answered", |calls| {
            inline
                .iter()
                .all(|(id, inline)| inline + answers_to(calls, *id) >= 1)
                .then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for chat in 0..CHATS {
        // The answer to /track is two messages: the acknowledgement and the assessment.
        let answers = telegram.messages_to(1000 + chat);
        let following = format!("Following {}", number(chat as u32));
        let acknowledged = answers
            .iter()
            .filter(|message| message["text"].as_str().unwrap_or_default().contains(&following))
            .count();
        assert_eq!(
            (acknowledged, answers.len()),
            (1, 2),
            "chat {chat}: one answer to /track: {answers:#?}"
        );
    }
    let calls = discord.calls();
    for (id, inline) in &inline {
        assert_eq!(
            inline + answers_to(&calls, *id),
            1,
            "interaction {id}: one answer"
        );
    }

    // Phase 2, both alive: 17TRACK pushes "delivered" for every parcel, spread over both;
    // each subscriber hears it once, whichever instance's dispatcher leased the row.
    let mut pushed: Vec<String> = (0..CHATS as u32).map(number).collect();
    pushed.extend((0..PEOPLE as u32).map(|person| number(100 + person)));
    for (index, pushed_number) in pushed.iter().enumerate() {
        let body = delivered_push(pushed_number);
        let sign = bot_core::push::seventeen_track_sign(&body, SEVENTEEN_KEY);
        balance(&client, &bases, index % 2, |client, base| {
            client
                .post(format!("{base}{}", bot_core::push::SEVENTEEN_TRACK_PATH))
                .header("sign", sign.clone())
                .body(body.clone())
        })
        .await;
    }
    let discord_dms = |calls: &[fake_discord::Call], person: u64| {
        let path = format!("/channels/{}/messages", DM_CHANNELS_FROM + 5000 + person);
        calls
            .iter()
            .filter(|c| c.method == "POST" && c.path == path && !c.refused)
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let calls = discord.calls();
        let telegram_done = (0..CHATS).all(|chat| telegram.messages_to(1000 + chat).len() >= 3);
        let discord_done = (0..PEOPLE).all(|person| discord_dms(&calls, person) >= 1);
        if telegram_done && discord_done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pushes not delivered in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Two more ticks of both engines: a duplicate would have shown by then.
    tokio::time::sleep(Duration::from_secs(16)).await;
    let calls = discord.calls();
    for chat in 0..CHATS {
        let messages = telegram.messages_to(1000 + chat);
        assert_eq!(
            messages.len(),
            3,
            "chat {chat}: the answer and one push: {messages:#?}"
        );
        assert!(
            messages[2]["text"]
                .as_str()
                .unwrap_or_default()
                .contains(&number(chat as u32)),
            "{:#}",
            messages[2]
        );
    }
    for person in 0..PEOPLE {
        assert_eq!(discord_dms(&calls, person), 1, "person {person}: one push by DM");
    }

    // Phase 3: a burst of /list from every chat and every person, spread over both;
    // instance A is killed (SIGKILL) halfway, and the balancer moves on to B.
    let before: HashMap<i64, usize> = (0..CHATS)
        .map(|chat| (chat, telegram.messages_to(1000 + chat).len()))
        .collect();
    // All at once, as a burst arrives: each update goes first to instance `chat % 2`.
    let updates: Vec<Value> = (0..CHATS)
        .map(|chat| text_update(update_id + chat, 1000 + chat, 1000 + chat, "/list"))
        .collect();
    let answered_since = |chat: i64| telegram.messages_to(1000 + chat).len() > before[&chat];
    let burst = futures_util::future::join_all(
        updates
            .iter()
            .enumerate()
            .map(|(chat, update)| balance(&client, &bases, chat % 2, telegram_post(update))),
    );
    let killer = async {
        // As soon as A has answered one of its share, it dies with the rest in its hands.
        let a_share: Vec<i64> = (0..CHATS).filter(|chat| chat % 2 == 0).collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while a_share.iter().filter(|chat| answered_since(**chat)).count() < 1
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut killed = a.take().expect("a runs");
        killed.child.kill().expect("kill -9");
        let _ = killed.child.wait();
        // In flight: sent to A, not answered when it died.
        a_share
            .into_iter()
            .filter(|chat| !answered_since(*chat))
            .collect::<HashSet<i64>>()
    };
    let (taken, sent_to_a_unanswered_at_kill) = futures_util::future::join(burst, killer).await;
    let taken_by: HashMap<i64, usize> = (0..CHATS).zip(taken.iter().map(|(by, _)| *by)).collect();
    let mut burst_inline = HashMap::new();
    let mut retried = HashSet::new();
    for person in 0..PEOPLE {
        let id = discord.snowflake();
        let interaction = command(id, 5000 + person, Place::Dm, "list", &[]);
        let body = interaction.to_string().into_bytes();
        let (by, answer) = balance(&client, &bases, person as usize % 2, |client, base| {
            let (signature, timestamp) = signer.sign(now(), &body);
            client
                .post(format!("{base}/discord/interactions"))
                .header("x-signature-ed25519", signature)
                .header("x-signature-timestamp", timestamp)
                .body(body.clone())
        })
        .await;
        if by != person as usize % 2 {
            retried.insert(id);
        }
        burst_inline.insert(id, usize::from(answer["type"] == json!(4)));
    }
    let expected: Vec<i64> = (0..CHATS)
        .filter(|chat| !sent_to_a_unanswered_at_kill.contains(chat))
        .collect();
    telegram
        .wait_for("every /list not in flight answered", |_| {
            expected
                .iter()
                .all(|chat| telegram.messages_to(1000 + chat).len() > before[chat])
                .then_some(())
        })
        .await;
    discord
        .wait_for("every Discord /list answered", |calls| {
            burst_inline
                .iter()
                .all(|(id, inline)| inline + answers_to(calls, *id) >= 1)
                .then_some(())
        })
        .await;
    // An in-flight update's reply may sit in the outbox under the killed instance's
    // lease (30 s): the other instance's dispatcher sends it once the lease ran out.
    let in_flight_answered = || {
        sent_to_a_unanswered_at_kill
            .iter()
            .all(|chat| telegram.messages_to(1000 + chat).len() > before[chat])
    };
    for _ in 0..120 {
        if in_flight_answered() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lost = 0;
    let mut duplicated = 0;
    for chat in 0..CHATS {
        let answers = telegram.messages_to(1000 + chat).len() - before[&chat];
        if sent_to_a_unanswered_at_kill.contains(&chat) {
            lost += usize::from(answers == 0);
            duplicated += answers.saturating_sub(1);
            assert!(
                answers >= 1,
                "chat {chat}: an update in flight is answered (its reply waits in the outbox)"
            );
        } else if chat % 2 == 0 && taken_by[&chat] == 1 {
            // Answered by A, which died before confirming it: the balancer sent it to B,
            // and B sends the reply A had not yet marked sent. A message in flight.
            duplicated += answers.saturating_sub(1);
            assert!(
                (1..=2).contains(&answers),
                "chat {chat}: {answers} answers to an update A answered as it died"
            );
        } else {
            duplicated += answers.saturating_sub(1);
            assert_eq!(
                answers, 1,
                "chat {chat}: /list answered once (taken by {})",
                taken_by[&chat]
            );
        }
    }
    let calls = discord.calls();
    for (id, inline) in &burst_inline {
        assert_eq!(
            inline + answers_to(&calls, *id),
            1,
            "interaction {id}: one answer"
        );
    }
    eprintln!(
        "two instances: {} updates at once and {} interactions in the burst; A killed with \
         {} Telegram updates in its hands ({} failed over to B; {lost} lost), {duplicated} duplicated; \
         {} interactions failed over to B",
        CHATS,
        PEOPLE,
        sent_to_a_unanswered_at_kill.len(),
        taken_by
            .iter()
            .filter(|(chat, by)| *by != &((**chat % 2) as usize))
            .count(),
        retried.len()
    );
    // B still serves, and its log is JSON lines an operator's collector can read.
    assert_eq!(get_when_up(&client, &format!("{}/readyz", b.base)).await.0, 200);
    drop(b);
    let log = std::fs::read_to_string(logs.join("b.log")).expect("log");
    let lines: Vec<&str> = log.lines().filter(|line| !line.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "B logged at info");
    for line in &lines {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(
            parsed["level"].is_string() && parsed["fields"].is_object(),
            "{line}"
        );
        assert!(
            !line.contains(SECRET) && !line.contains("scale-test"),
            "a secret in the log: {line}"
        );
    }
    let _ = bot_core::store::sql::drop_postgres_database(&base, &name).await;
}
