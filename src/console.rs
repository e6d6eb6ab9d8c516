//! The console adapter: the conversation in a terminal, on the embedded SQLite store,
//! with the simulated carrier and simulated time. It is what `cargo run` starts when no
//! chat token is configured, and what `parcelbot console --script` runs for tests.
//!
//! Time: interactive sessions run an accelerated clock (one real second is one
//! simulated minute) and `/wait 3d` jumps ahead; scripts move time only with `/wait`,
//! so a transcript always prints the same thing. Proactive messages are printed as the
//! engine dispatches them, in simulated-time order.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use bot_core::clock::{Clock, Saturating, SimulatedClock};
use bot_core::conversation::parse::wait_duration;
use bot_core::conversation::{Answer, Conversation, Incoming, Input};
use bot_core::engine::dispatch::DispatchSettings;
use bot_core::engine::notify::{Notifier, Recipient, SendFuture, SendLimits};
use bot_core::engine::{Engine, EngineSettings};
use bot_core::number::TrackingNumber;
use bot_core::provider::Providers;
use bot_core::provider::sim::{self, SimulatedCarrier};
use bot_core::reply::{Action, Reply, format_time};
use bot_core::settings::Settings;
use bot_core::store::{ChatRef, SqlStore, Store};
use chrono::{DateTime, Duration, Utc};

/// Simulated seconds per real second in an interactive session.
const ACCELERATION: i64 = 60;

/// Steps of a `/wait`: the engine ticks after each, so messages come in time order.
const WAIT_STEP: Duration = Duration::minutes(15);

/// The answer to a line that is not UTF-8 text (a terminal in another encoding, a
/// binary paste): the line is skipped and the chat goes on.
const NOT_TEXT: &str = "I could not read that line: it is not UTF-8 text, so I skipped it. Type it again?";

/// The file keeping the simulated time between sessions (so journeys continue).
const CLOCK_FILE: &str = "console-clock.txt";

/// The console's one chat.
fn console_chat() -> anyhow::Result<ChatRef> {
    ChatRef::new("console", "local").context("console chat")
}

/// Prints proactive messages as the engine dispatches them; their buttons become the
/// numbered choices the user can type next.
struct ConsoleNotifier {
    clock: SimulatedClock,
    out: Arc<Mutex<Vec<String>>>,
    buttons: Arc<Mutex<Vec<Action>>>,
    interactive: bool,
}

impl Notifier for ConsoleNotifier {
    fn platform(&self) -> &'static str {
        "console"
    }

    fn limits(&self) -> SendLimits {
        SendLimits::UNLIMITED
    }

    fn is_group(&self, _to: &Recipient) -> bool {
        false
    }

    fn send<'a>(&'a self, _to: &'a Recipient, reply: &'a Reply) -> SendFuture<'a> {
        Box::pin(async move {
            let mut buttons = self.buttons.lock().unwrap_or_else(PoisonError::into_inner);
            // The newest message's buttons are the ones a number presses.
            buttons.clear();
            let text = format!(
                "🔔 [{}]\n{}",
                format_time(self.clock.now(), "UTC"),
                render_reply(reply, &mut buttons, None)
            );
            drop(buttons);
            if self.interactive {
                println!("\n{text}");
            } else {
                self.out.lock().unwrap_or_else(PoisonError::into_inner).push(text);
            }
            Ok(())
        })
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

type ConsoleConversation = Conversation<SqlStore, SimulatedClock>;

/// Runs the console: a script when `script` is given, else the interactive chat.
pub fn run(settings: &Settings, script: Option<&Path>, start: Option<DateTime<Utc>>) -> anyhow::Result<()> {
    if let Some(start) = start {
        check_start(start)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = SqlStore::connect(&settings.database)
            .await
            .context("opening the database")?;
        let clock_file = settings.data_dir.join(CLOCK_FILE);
        let start = match start {
            Some(start) => start,
            None => resume_time(&clock_file).max(Utc::now()),
        };
        let clock = SimulatedClock::new(start);
        let carrier = SimulatedCarrier::new(clock.clone());
        // Journeys continue where they were: each starts where it started before.
        for origin in store.origin_numbers().await.context("reading tracked numbers")? {
            if let Ok(number) = TrackingNumber::parse(&origin.number) {
                carrier.start_journey(&number, origin.created_at.minus(sim::HEAD_START));
            }
        }
        let providers = Providers::new(vec![Arc::new(carrier)]);
        let printed = Arc::new(Mutex::new(Vec::new()));
        let buttons = Arc::new(Mutex::new(Vec::new()));
        let notifier = ConsoleNotifier {
            clock: clock.clone(),
            out: Arc::clone(&printed),
            buttons: Arc::clone(&buttons),
            interactive: script.is_none(),
        };
        let engine = Arc::new(
            Engine::new(
                Arc::new(store),
                providers,
                clock.clone(),
                vec![Arc::new(notifier)],
                EngineSettings {
                    owner: "console".to_owned(),
                    reminder_days: settings.reminder_days.clone(),
                    dispatch: DispatchSettings {
                        max_attempts: settings.max_send_attempts,
                        ..DispatchSettings::default()
                    },
                    ..EngineSettings::default()
                },
            )
            .with_demo_home(sim::buyer_home),
        );
        let conversation =
            Arc::new(Conversation::new(Arc::clone(&engine), settings.limits).with_demo_home(sim::buyer_home));
        let pictures = settings.data_dir.join("pictures");
        let result = match script {
            Some(path) => run_script(&conversation, &clock, path, &printed, &buttons, &pictures).await,
            None => run_interactive(&conversation, &clock, &buttons, &pictures).await,
        };
        if let Err(error) = std::fs::write(&clock_file, clock.now().to_rfc3339()) {
            tracing::warn!(error = %bot_core::ops::Chain(&error), "could not save the simulated time");
        }
        result
    })
}

/// The simulated time a session may start at: the years the store, the providers' date
/// formats and the chats' calendars all handle.
fn check_start(start: DateTime<Utc>) -> anyhow::Result<()> {
    let earliest = DateTime::<Utc>::UNIX_EPOCH;
    let latest = DateTime::parse_from_rfc3339("9999-01-01T00:00:00Z")
        .map(|t| t.to_utc())
        .context("the latest start")?;
    if start < earliest || start >= latest {
        anyhow::bail!(
            "--start {}: the simulated time must start between 1970-01-01 and 9998-12-31",
            start.to_rfc3339()
        );
    }
    Ok(())
}

fn resume_time(file: &Path) -> DateTime<Utc> {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| DateTime::parse_from_rfc3339(text.trim()).ok())
        .map(|t| t.to_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Lets `by` of simulated time pass in steps, ticking the engine after each.
async fn wait(
    conversation: &ConsoleConversation,
    clock: &SimulatedClock,
    by: Duration,
) -> anyhow::Result<()> {
    let end = clock.now().plus(by);
    while clock.now() < end {
        let step = WAIT_STEP.min(end - clock.now());
        clock.advance(step);
        conversation.engine().tick().await.context("engine tick")?;
    }
    Ok(())
}

/// What the user typed, as an update: a number alone presses that button of the last
/// reply.
fn to_input(line: &str, buttons: &[Action]) -> Input {
    match line.trim().parse::<usize>() {
        Ok(index) if (1..=buttons.len()).contains(&index) => Input::Button(buttons[index - 1].encode()),
        _ => Input::Text(line.to_owned()),
    }
}

/// The answers to one line, with their buttons numbered (they replace the choices of
/// earlier messages); their pictures written under `pictures`.
fn render_answers(answers: &[Answer], buttons: &mut Vec<Action>, pictures: &Path) -> String {
    if answers.is_empty() {
        return String::new();
    }
    buttons.clear();
    answers
        .iter()
        .map(|answer| render_reply(&answer.reply, buttons, Some(pictures)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One reply, indented, its buttons numbered after those already in `buttons`; its
/// picture, if any, written under `pictures`.
fn render_reply(reply: &Reply, buttons: &mut Vec<Action>, pictures: Option<&Path>) -> String {
    let mut text = reply.clone();
    // Buttons become numbered choices the user can type.
    let rows = std::mem::take(&mut text.buttons);
    let mut lines = vec![indent(&text.to_plain())];
    // A picture cannot be shown in a terminal: it is written under the data dir.
    if let (Some(image), Some(pictures)) = (text.image.take(), pictures) {
        let path = pictures.join(&image.name);
        let written = std::fs::create_dir_all(pictures).and_then(|()| std::fs::write(&path, &image.png));
        lines.push(match written {
            Ok(()) => format!("   🖼 picture: {}", path.display()),
            Err(error) => format!(
                "   🖼 the picture could not be written to {}: {error}",
                path.display()
            ),
        });
    }
    let choices: Vec<String> = rows
        .iter()
        .flatten()
        .map(|button| {
            buttons.push(button.action.clone());
            format!("[{}] {}", buttons.len(), button.label)
        })
        .collect();
    if !choices.is_empty() {
        lines.push(format!("   {}", choices.join("  ")));
    }
    lines.join("\n")
}

async fn handle_line(
    conversation: &ConsoleConversation,
    clock: &SimulatedClock,
    line: &str,
    buttons: &Mutex<Vec<Action>>,
    pictures: &Path,
) -> anyhow::Result<String> {
    let trimmed = line.trim();
    if let Some(rest) = trimmed.strip_prefix("/wait") {
        let Some(by) = wait_duration(rest) else {
            return Ok(indent(
                "How long? /wait 3d, /wait 12h, /wait 1d12h (at most a year).",
            ));
        };
        wait(conversation, clock, by).await?;
        return Ok(indent(&format!(
            "⏩ It is now {} (simulated).",
            format_time(clock.now(), "UTC")
        )));
    }
    let incoming = Incoming {
        chat: console_chat()?,
        user: Some("you".to_owned()),
        is_group: false,
        update_id: None,
        channel: None,
        input: to_input(trimmed, &buttons.lock().unwrap_or_else(PoisonError::into_inner)),
    };
    let answers = conversation.handle(incoming).await;
    // Whatever the command queued goes out now, as it would on a platform.
    conversation.engine().tick().await.context("engine tick")?;
    let mut buttons = buttons.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(render_answers(&answers, &mut buttons, pictures))
}

async fn run_script(
    conversation: &ConsoleConversation,
    clock: &SimulatedClock,
    path: &Path,
    printed: &Mutex<Vec<String>>,
    buttons: &Mutex<Vec<Action>>,
    pictures: &Path,
) -> anyhow::Result<()> {
    let script = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (index, line) in script.split(|&byte| byte == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(line) = std::str::from_utf8(line) else {
            writeln!(out, "you> (line {})\n{}", index + 1, indent(NOT_TEXT))?;
            continue;
        };
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        writeln!(out, "you> {line}")?;
        let reply = handle_line(conversation, clock, line, buttons, pictures).await?;
        for message in printed.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            writeln!(out, "{message}")?;
        }
        if !reply.is_empty() {
            writeln!(out, "{reply}")?;
        }
    }
    Ok(())
}

async fn run_interactive(
    conversation: &Arc<ConsoleConversation>,
    clock: &SimulatedClock,
    buttons: &Mutex<Vec<Action>>,
    pictures: &Path,
) -> anyhow::Result<()> {
    println!(
        "parcelbot console: simulated carrier, simulated time (1 s = 1 min; /wait 3d jumps ahead), data in the embedded SQLite store (set TELEGRAM_BOT_TOKEN to go live on Telegram). /help lists commands; Ctrl-D quits."
    );
    let ticker = {
        let conversation = Arc::clone(conversation);
        let clock = clock.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                interval.tick().await;
                clock.advance(Duration::seconds(ACCELERATION));
                if let Err(error) = conversation.engine().tick().await {
                    tracing::error!(error = %bot_core::ops::Chain(&error), "engine tick failed");
                }
            }
        })
    };
    // A line that is not UTF-8 text arrives as `None`.
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel::<Option<String>>(16);
    // Reading stdin blocks; a thread keeps the runtime free.
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match std::io::BufRead::read_until(&mut stdin, b'\n', &mut bytes) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(error = %bot_core::ops::Chain(&error), "reading the keyboard failed");
                    break;
                }
            }
            let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = std::str::from_utf8(line).ok().map(str::to_owned);
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    print!("you> ");
    std::io::stdout().flush()?;
    while let Some(line) = lines_rx.recv().await {
        let Some(line) = line else {
            println!("{}", indent(NOT_TEXT));
            print!("you> ");
            std::io::stdout().flush()?;
            continue;
        };
        if !line.trim().is_empty() {
            let reply = handle_line(conversation, clock, &line, buttons, pictures).await?;
            println!("{reply}");
        }
        print!("you> ");
        std::io::stdout().flush()?;
    }
    ticker.abort();
    println!();
    Ok(())
}
