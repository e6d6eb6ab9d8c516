//! What survives `kill -9`: the release-style binary against the fake Bot API (which
//! serves an update again until a later `getUpdates` confirms it, as Telegram does),
//! killed at several points of a burst of commands, restarted on the same data dir
//! each time. Counted from what the fake received and what the database holds:
//! commands without effect, replies lost, reminders lost, duplicated replies. Also:
//! a second process on the same data dir is refused at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bot_core::settings::DatabaseUrl;
use bot_core::store::{ChatRef, SqlStore, Store};

use crate::live::fake_bot_api::{FakeBotApi, text_update};

/// Chats in the burst, and parcels each tracks (then protects).
const CHATS: i64 = 40;
const PARCELS_PER_CHAT: i64 = 3;

/// The bot, killed with SIGKILL (`Child::kill`) on drop.
struct Bot(Child);

impl Bot {
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn data_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    std::env::temp_dir().join(format!("parcelbot_{name}_{}_{nanos}", std::process::id()))
}

fn bot_command(fake: &FakeBotApi, data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parcelbot"));
    command
        .arg("run")
        .env("PARCELBOT__DATA_DIR", data)
        .env_remove("PARCELBOT__DATABASE__URL")
        .env("PARCELBOT__PROVIDERS__ENABLED", "sim")
        .env("TELEGRAM_BOT_TOKEN", "123:crash-test")
        .env("TELEGRAM_API_URL", &fake.url)
        .env_remove("DISCORD_TOKEN")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

fn start(fake: &FakeBotApi, data: &Path) -> Bot {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.with_extension("log"))
        .expect("log file");
    Bot(bot_command(fake, data)
        .stderr(Stdio::from(log))
        .spawn()
        .expect("parcelbot starts"))
}

/// A valid S10 number whose simulated journey is a long, quiet line haul (scenario
/// digit 2): nothing is delivered during the test, so every deadline gets a reminder.
fn number(chat: i64, parcel: i64) -> String {
    let serial = format!("{:07}2", 3_000_000 + chat * 10 + parcel);
    let check = bot_core::number::checksum::s10_check_digit(&serial).expect("digits");
    format!("RB{serial}{check}CN")
}

fn text(message: &serde_json::Value) -> &str {
    message["text"].as_str().unwrap_or_default()
}

/// Polls `done` every 50 ms of real time until it holds or `limit` passes.
async fn until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// What one chat should have received.
#[derive(Debug, Default)]
struct Tally {
    /// Replies lost (a command with no answer), per kind.
    track_replies_lost: usize,
    protect_replies_lost: usize,
    reminders_lost: usize,
    /// Answers beyond the first, per command or reminder.
    duplicates: usize,
}

fn tally(fake: &FakeBotApi) -> Tally {
    let mut tally = Tally::default();
    let mut by_chat: HashMap<i64, Vec<String>> = HashMap::new();
    for chat in 0..CHATS {
        by_chat.insert(
            chat_id(chat),
            fake.messages_to(chat_id(chat))
                .iter()
                .map(|m| text(m).to_owned())
                .collect(),
        );
    }
    for chat in 0..CHATS {
        let messages = &by_chat[&chat_id(chat)];
        for parcel in 0..PARCELS_PER_CHAT {
            let number = number(chat, parcel);
            let count = |wanted: &dyn Fn(&str) -> bool| messages.iter().filter(|m| wanted(m)).count();
            let tracked = count(&|m| m.starts_with(&format!("Following {number}")));
            let protected = count(&|m| m.starts_with(&format!("Buyer protection for {number} ends")));
            let reminded = count(&|m| m.contains(&number) && m.contains("Buyer protection ends in"));
            for (seen, lost) in [
                (tracked, &mut tally.track_replies_lost),
                (protected, &mut tally.protect_replies_lost),
                (reminded, &mut tally.reminders_lost),
            ] {
                if seen == 0 {
                    *lost += 1;
                }
                tally.duplicates += seen.saturating_sub(1);
            }
        }
    }
    tally
}

fn chat_id(chat: i64) -> i64 {
    5000 + chat
}

fn successful_sends(fake: &FakeBotApi) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.method == "sendmessage" && c.body.get("_failed").is_none())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_loses_no_command_reply_or_reminder() {
    let fake = FakeBotApi::start().await;
    let data = data_dir("crash");
    // The burst, round robin over the chats: /track then /protect, per parcel.
    let mut update_id = 0;
    for parcel in 0..PARCELS_PER_CHAT {
        for step in ["track", "protect"] {
            for chat in 0..CHATS {
                update_id += 1;
                let number = number(chat, parcel);
                let command = match step {
                    "track" => format!("/track {number}"),
                    _ => format!("/protect {number} 2 days"),
                };
                fake.push_update(text_update(update_id, chat_id(chat), chat_id(chat), &command));
            }
        }
    }
    let commands = update_id;
    let started = Instant::now();

    // Killed after the 30th, 120th and 220th message Telegram took, restarted at once
    // on the same data dir each time.
    let kill_points = [30, 120, 220];
    let mut kills = 0;
    for point in kill_points {
        let bot = start(&fake, &data);
        let reached = until(Duration::from_secs(40), || successful_sends(&fake) >= point).await;
        assert!(reached, "the bot answered {} messages", successful_sends(&fake));
        bot.kill();
        kills += 1;
    }

    // The last run goes on until every update is confirmed and every answer and
    // reminder arrived (replies leased by a killed process wait out their lease; the
    // engine ticks every 15 s).
    let bot = start(&fake, &data);
    let settled = until(Duration::from_secs(90), || {
        let tally = tally(&fake);
        fake.unconfirmed() == 0
            && tally.track_replies_lost + tally.protect_replies_lost + tally.reminders_lost == 0
    })
    .await;
    // A little longer: what goes out twice after the last kill is counted too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    bot.kill();
    let tally = tally(&fake);

    // Effects, from the database.
    let store = SqlStore::connect(&DatabaseUrl::Sqlite(format!(
        "sqlite://{}",
        data.join("parcelbot.db").display()
    )))
    .await
    .expect("the database opens after the kills");
    let mut without_effect = 0;
    for chat in 0..CHATS {
        let chat_ref = ChatRef::new("telegram", &chat_id(chat).to_string()).expect("chat");
        let views = match store.find_chat(&chat_ref).await.expect("read") {
            Some(id) => store.subscriptions(id).await.expect("read"),
            None => Vec::new(),
        };
        for parcel in 0..PARCELS_PER_CHAT {
            let number = number(chat, parcel);
            match views.iter().find(|v| v.numbers.contains(&number)) {
                Some(view) if view.protection_ends.is_some() => {}
                Some(_) => without_effect += 1,
                None => without_effect += 2,
            }
        }
    }
    let sent = successful_sends(&fake);
    eprintln!(
        "crash test: {commands} commands from {CHATS} chats, {kills} kills (after {kill_points:?} messages), \
         {sent} messages sent in {:.1} s; commands without effect {without_effect}, \
         /track replies lost {}, /protect replies lost {}, reminders lost {}, duplicated answers {}",
        started.elapsed().as_secs_f64(),
        tally.track_replies_lost,
        tally.protect_replies_lost,
        tally.reminders_lost,
        tally.duplicates
    );
    assert!(
        settled,
        "the bot settled: {} unconfirmed updates",
        fake.unconfirmed()
    );
    assert_eq!(without_effect, 0, "every command has its effect");
    assert_eq!(
        (
            tally.track_replies_lost,
            tally.protect_replies_lost,
            tally.reminders_lost
        ),
        (0, 0, 0),
        "nothing lost"
    );
    // Duplicates only for what was in flight: at most one update per chat is being
    // answered at a kill.
    assert!(
        tally.duplicates <= kills * usize::try_from(CHATS).unwrap_or(0),
        "{} duplicates",
        tally.duplicates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_dir_is_refused_at_once() {
    let fake = FakeBotApi::start().await;
    let data = data_dir("two_writers");
    let first = start(&fake, &data);
    fake.wait_for("the first bot ready", |calls| {
        calls.iter().any(|c| c.method == "setmycommands").then_some(())
    })
    .await;

    let mut second = bot_command(&fake, &data);
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || second.stderr(Stdio::piped()).output())
        .await
        .expect("joined")
        .expect("parcelbot runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("is in use by another parcelbot process"),
        "a clear message: {stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "at once");
    let console = Command::new(env!("CARGO_BIN_EXE_parcelbot"))
        .args(["console", "--script", "/dev/null"])
        .env("PARCELBOT__DATA_DIR", &data)
        .env_remove("PARCELBOT__DATABASE__URL")
        .output()
        .expect("console runs");
    assert!(
        !console.status.success()
            && String::from_utf8_lossy(&console.stderr).contains("in use by another parcelbot process"),
        "the console too: {}",
        String::from_utf8_lossy(&console.stderr)
    );

    // Once the first is gone (even by kill -9), the data dir is free again.
    first.kill();
    let again = start(&fake, &data);
    let ready = until(Duration::from_secs(20), || {
        fake.calls()
            .iter()
            .filter(|c| c.method == "setmycommands")
            .count()
            >= 2
    })
    .await;
    assert!(ready, "the data dir is free after the first process died");
    again.kill();
}
