//! `cargo run` with a Telegram token goes live: the real binary against a fake Bot API
//! on 127.0.0.1, by long polling and in webhook mode (where a request without the
//! shared secret is refused, and the providers' webhooks share the server). With a
//! Discord token too, both platforms are served side by side. `http.listen` is served in
//! every mode: health, readiness and Prometheus metrics.

use std::process::{Child, Command, Stdio};

use serde_json::json;

// The fake lives with the Telegram adapter's tests; this suite uses part of it.
#[allow(dead_code)]
#[path = "../../telegram/tests/fake_bot_api/mod.rs"]
pub(crate) mod fake_bot_api;

// The fake Discord lives with the Discord adapter's tests.
#[allow(dead_code)]
#[path = "../../discord/tests/fake_discord/mod.rs"]
pub(crate) mod fake_discord;

use fake_bot_api::{FakeBotApi, api_error, text_update, too_many_requests};
use fake_discord::{APPLICATION_ID, FakeDiscord, Place, command};

/// The binary with no subcommand, a token, and the fake's address; killed on drop.
struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free at the time of asking, for `http.listen`.
pub(crate) fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    probe.local_addr().expect("address").port()
}

fn start_bot(fake: &FakeBotApi, extra: &[(&str, &str)]) -> Bot {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let data = std::env::temp_dir().join(format!("parcelbot_live_{}_{nanos}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_parcelbot"));
    command
        .env("PARCELBOT__DATA_DIR", &data)
        .env_remove("PARCELBOT__DATABASE__URL")
        .env("PARCELBOT__PROVIDERS__ENABLED", "sim")
        .env("TELEGRAM_BOT_TOKEN", "123:live-test")
        .env("TELEGRAM_API_URL", &fake.url)
        .env_remove("DISCORD_TOKEN")
        // http.listen is always served: each bot on a port of its own.
        .env("PARCELBOT__HTTP__LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (key, value) in extra {
        command.env(key, value);
    }
    Bot(command.spawn().expect("parcelbot starts"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_cargo_run_serves_telegram_by_long_polling() {
    let fake = FakeBotApi::start().await;
    let _bot = start_bot(&fake, &[]);
    fake.wait_for("getUpdates", |calls| {
        calls.iter().any(|c| c.method == "setmycommands").then_some(())
    })
    .await;
    fake.push_update(text_update(1, 42, 42, "/track RB104729000CN"));
    let reply = fake
        .wait_for("the reply", |_| fake.messages_to(42).first().cloned())
        .await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or_default()
            .contains("RB104729000CN"),
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_rides_out_a_429_and_a_5xx_and_stops_on_a_refused_token() {
    let fake = FakeBotApi::start().await;
    fake.fail_calls(
        "getme",
        [(429, too_many_requests(1)), (502, api_error(502, "Bad Gateway"))],
    );
    let _bot = start_bot(&fake, &[]);
    // Each step within the fake's 20 s: teloxide itself pauses 10 s after a 5xx.
    fake.wait_for("getMe after the 429", |calls| {
        (calls.iter().filter(|c| c.method == "getme").count() >= 2).then_some(())
    })
    .await;
    fake.wait_for("getMe after the 502", |calls| {
        (calls.iter().filter(|c| c.method == "getme").count() >= 3).then_some(())
    })
    .await;
    fake.wait_for("the command menu after the retries", |calls| {
        calls.iter().any(|c| c.method == "setmycommands").then_some(())
    })
    .await;
    fake.push_update(text_update(1, 42, 42, "/help"));
    fake.wait_for("an answer: the bot polls", |_| {
        fake.messages_to(42).first().cloned()
    })
    .await;
    assert_eq!(fake.failures_served(), 2);

    // A refused token: the process stops at once and says so.
    let refusing = FakeBotApi::start().await;
    refusing.fail_calls("getme", [(401, api_error(401, "Unauthorized"))]);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let data = std::env::temp_dir().join(format!("parcelbot_refused_{}_{nanos}", std::process::id()));
    let url = refusing.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_parcelbot"))
            .arg("run")
            .env("PARCELBOT__DATA_DIR", &data)
            .env_remove("PARCELBOT__DATABASE__URL")
            .env("PARCELBOT__PROVIDERS__ENABLED", "sim")
            .env("TELEGRAM_BOT_TOKEN", "123:refused")
            .env("TELEGRAM_API_URL", &url)
            .env_remove("DISCORD_TOKEN")
            .env("PARCELBOT__HTTP__LISTEN", format!("127.0.0.1:{}", free_port()))
            .stdin(Stdio::null())
            .output()
    })
    .await
    .expect("joined")
    .expect("parcelbot runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("refused the bot token"), "{stderr}");
    let get_me = refusing.calls().iter().filter(|c| c.method == "getme").count();
    assert_eq!(get_me, 1, "a refused token is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_both_tokens_telegram_and_discord_are_served_side_by_side() {
    let telegram = FakeBotApi::start().await;
    let discord = FakeDiscord::start().await;
    let _bot = start_bot(
        &telegram,
        &[
            ("DISCORD_TOKEN", "discord-live-test"),
            ("DISCORD_API_URL", &discord.url),
        ],
    );
    telegram
        .wait_for("the Telegram menu", |calls| {
            calls.iter().any(|c| c.method == "setmycommands").then_some(())
        })
        .await;
    discord
        .wait_for("the Discord commands", |calls| {
            calls
                .iter()
                .any(|c| c.path == format!("/applications/{APPLICATION_ID}/commands"))
                .then_some(())
        })
        .await;
    let id = discord.snowflake();
    discord.push(command(
        id,
        77,
        Place::Dm,
        "track",
        &[("number", json!("RB104729000CN"))],
    ));
    let answer = discord
        .wait_for("the Discord answer", |calls| {
            calls
                .iter()
                .find(|c| c.path == format!("/webhooks/{APPLICATION_ID}/token-{id}/messages/@original"))
                .map(|c| c.body.clone())
        })
        .await;
    assert!(answer.to_string().contains("RB104729000CN"), "{answer}");
    telegram.push_update(text_update(1, 42, 42, "/list"));
    telegram
        .wait_for("the Telegram answer", |_| {
            telegram.messages_to(42).first().cloned()
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_registers_the_secret_and_refuses_requests_without_it() {
    let fake = FakeBotApi::start().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let _bot = start_bot(
        &fake,
        &[
            ("PARCELBOT__HTTP__LISTEN", listen.as_str()),
            (
                "PARCELBOT__TELEGRAM__WEBHOOK_URL",
                "https://bot.example.org/telegram/hook",
            ),
            ("PARCELBOT__TELEGRAM__WEBHOOK_SECRET", "s3cret-Token_1"),
            ("PARCELBOT__PROVIDERS__SHIP24_WEBHOOK_SECRET", "ship24-secret"),
        ],
    );
    let registered = fake
        .wait_for("setWebhook", |calls| {
            calls
                .iter()
                .find(|c| c.method == "setwebhook")
                .map(|c| c.body.clone())
        })
        .await;
    assert_eq!(registered["url"], json!("https://bot.example.org/telegram/hook"));
    assert_eq!(registered["secret_token"], json!("s3cret-Token_1"));

    let client = reqwest::Client::new();
    let hook = format!("http://{listen}/telegram/hook");
    let update = text_update(5, 42, 42, "/help");
    let mut refused = None;
    // The server may still be binding: retry the connection for a few seconds.
    for _ in 0..100 {
        match client.post(&hook).json(&update).send().await {
            Ok(response) => {
                refused = Some(response.status());
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert_eq!(refused.map(|s| s.as_u16()), Some(401), "no secret, no entry");
    let wrong = client
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", "guess")
        .json(&update)
        .send()
        .await
        .expect("answer");
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(fake.messages_to(42).is_empty(), "refused updates are not handled");
    let accepted = client
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-Token_1")
        .json(&update)
        .send()
        .await
        .expect("answer");
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let reply = fake
        .wait_for("the /help reply", |_| fake.messages_to(42).first().cloned())
        .await;
    assert!(
        reply["text"].as_str().unwrap_or_default().contains("/track"),
        "{reply}"
    );
}

/// GETs `url` until it answers (the server may still be starting); returns the status
/// and body.
pub(crate) async fn get_when_up(client: &reqwest::Client, url: &str) -> (u16, String) {
    for _ in 0..200 {
        if let Ok(response) = client.get(url).send().await {
            let status = response.status().as_u16();
            return (status, response.text().await.unwrap_or_default());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{url} never answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_polling_mode_http_listen_serves_health_readiness_and_metrics() {
    let fake = FakeBotApi::start().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let _bot = start_bot(
        &fake,
        &[
            ("PARCELBOT__HTTP__LISTEN", listen.as_str()),
            ("PARCELBOT__LOG__FORMAT", "json"),
        ],
    );
    let client = reqwest::Client::new();
    let (status, body) = get_when_up(&client, &format!("http://{listen}/healthz")).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // Ready once the engine ticked (it ticks at start) and the store answers.
    let mut ready = None;
    for _ in 0..100 {
        let (status, body) = get_when_up(&client, &format!("http://{listen}/readyz")).await;
        if status == 200 {
            ready = Some(body);
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(body.starts_with("not ready: "), "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready.as_deref(), Some("ready\n"));

    fake.wait_for("getUpdates", |calls| {
        calls.iter().any(|c| c.method == "setmycommands").then_some(())
    })
    .await;
    fake.push_update(text_update(1, 42, 42, "/track RB104729000CN"));
    fake.wait_for("the reply", |_| fake.messages_to(42).first().cloned())
        .await;
    let mut metrics = String::new();
    for _ in 0..100 {
        let (status, body) = get_when_up(&client, &format!("http://{listen}/metrics")).await;
        assert_eq!(status, 200);
        metrics = body;
        // At least one: a re-served update (a slow confirmation) is counted again.
        if metrics.contains("parcelbot_updates_handled_total{platform=\"telegram\"} ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for expected in [
        "parcelbot_updates_handled_total{platform=\"telegram\"} ",
        "parcelbot_replies_sent_total{platform=\"telegram\"}",
        "# TYPE parcelbot_tick_duration_seconds histogram",
        "parcelbot_tick_polls_bucket",
        "parcelbot_provider_requests_total{provider=\"sim\",outcome=\"ok\"}",
        "parcelbot_provider_request_duration_seconds_bucket{provider=\"sim\"",
        "parcelbot_tracked_numbers{stage=\"none\"}",
        "parcelbot_outbox_pending",
        "parcelbot_http_requests_total{route=\"healthz\",status=\"200\"}",
    ] {
        assert!(metrics.contains(expected), "{expected} missing from:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly_within_the_drain_time() {
    let fake = FakeBotApi::start().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let mut bot = start_bot(
        &fake,
        &[
            ("PARCELBOT__HTTP__LISTEN", listen.as_str()),
            ("PARCELBOT__SHUTDOWN__DRAIN_SECONDS", "3"),
        ],
    );
    let client = reqwest::Client::new();
    assert_eq!(
        get_when_up(&client, &format!("http://{listen}/healthz")).await.0,
        200
    );
    fake.wait_for("the command menu", |calls| {
        calls.iter().any(|c| c.method == "setmycommands").then_some(())
    })
    .await;
    let pid = bot.0.id().to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = bot.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(
        client
            .get(format!("http://{listen}/healthz"))
            .send()
            .await
            .is_err(),
        "the server is gone"
    );
}
