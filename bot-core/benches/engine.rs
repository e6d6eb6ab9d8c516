//! Benchmark: the engine at scale. Prints its figures; run with
//! `cargo bench -p bot-core --bench engine` (sizes from `BENCH_NUMBERS`, default
//! 1,000,000 seeded numbers; `BENCH_POLLS`, default 200,000 refreshes measured;
//! `BENCH_JOURNEYS`, default 10,000; PostgreSQL figures when `TEST_POSTGRES_URL` is set).
//!
//! 1. Refreshes per second through the full path (lease → fetch → merge → outbox →
//!    reschedule) on an SQLite file holding every seeded number, against an in-process
//!    provider that moves 10% of the numbers to a new stage per round; on PostgreSQL,
//!    one engine process, then two at once (this binary re-run as workers).
//! 2. Peak RSS of this process after the SQLite refreshes.
//! 3. Dispatch against a notifier that checks Telegram's limits in engine time.
//! 4. API economy: simulated journeys through the real engine, number-fetches per
//!    delivered parcel against polling every hour, and the delay from an event to its
//!    message for last-mile stages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bot_core::clock::{Clock, SimulatedClock};
use bot_core::engine::notice::Notification;
use bot_core::engine::notify::{Notifier, Recipient, SendFuture, SendLimits};
use bot_core::engine::{Engine, EngineSettings};
use bot_core::interpret::classify::classify;
use bot_core::interpret::{Event, Stage};
use bot_core::number::TrackingNumber;
use bot_core::number::checksum::s10_check_digit;
use bot_core::provider::sim::SimulatedCarrier;
use bot_core::provider::{FetchResult, Lookup, Providers, Shipment, TrackingProvider};
use bot_core::reply::Reply;
use bot_core::settings::DatabaseUrl;
use bot_core::store::sql::{create_postgres_database, drop_postgres_database};
use bot_core::store::{BulkParcel, ChatRef, SqlStore, Store};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Texts of the ladder the fake provider walks each number up, one stage per step.
const LADDER: [&str; 6] = [
    "Acceptance",
    "Export customs clearance completed",
    "Departed from country of origin",
    "Arrived at destination airport",
    "Import customs clearance started",
    "Import customs clearance completed",
];

/// One polling round of the fake provider: longer than the longest poll interval, so
/// every number is due again each round.
const ROUND: Duration = Duration::hours(27);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A valid S10 number for `serial` (below 10^8).
fn s10(serial: u64) -> Option<TrackingNumber> {
    let digits = format!("{serial:08}");
    let check = s10_check_digit(&digits)?;
    TrackingNumber::parse(&format!("RB{digits}{check}CN")).ok()
}

fn serial_of(number: &str) -> u64 {
    number.get(2..10).and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// The round (1, 11, 21, … shifted by the serial) at which a number's `step`-th stage
/// change happens: 10% of the numbers change in each round.
fn change_round(serial: u64, step: u64) -> u64 {
    let first = 10 - (serial % 10);
    first + 10 * (step - 1)
}

/// The in-process provider: every number has walked `level` steps up the ladder; it
/// reads the round from the clock, so it keeps no state per number.
struct LadderProvider {
    clock: SimulatedClock,
    fetches: AtomicUsize,
}

impl LadderProvider {
    fn events(&self, number: &TrackingNumber) -> Vec<Event> {
        let serial = serial_of(number.as_str());
        let round = ((self.clock.now() - t0()).num_seconds() / ROUND.num_seconds()).max(0) as u64;
        let mut events = vec![event(number, 0, t0() - Duration::hours(1))];
        for step in 1..LADDER.len() as u64 {
            let at_round = change_round(serial, step);
            if at_round > round {
                break;
            }
            let at = t0() + ROUND * at_round as i32 - Duration::hours(1);
            events.push(event(number, step as usize, at));
        }
        events
    }
}

fn event(number: &TrackingNumber, step: usize, at: DateTime<Utc>) -> Event {
    Event {
        time: at.fixed_offset(),
        text: LADDER[step].to_owned(),
        location: Some("Shenzhen".to_owned()),
        code: None,
        source: Some("ladder".to_owned()),
        number: Some(number.as_str().to_owned()),
    }
}

impl TrackingProvider for LadderProvider {
    fn name(&self) -> &'static str {
        "ladder"
    }

    fn serves(&self, _number: &TrackingNumber) -> bool {
        true
    }

    fn batch_size(&self) -> usize {
        40
    }

    async fn fetch(&self, numbers: &[TrackingNumber]) -> Vec<FetchResult> {
        self.fetches.fetch_add(numbers.len(), Ordering::Relaxed);
        numbers
            .iter()
            .map(|number| {
                Ok(Lookup::Found(Shipment {
                    events: self.events(number),
                    ..Shipment::default()
                }))
            })
            .collect()
    }
}

/// Seeds `count` numbers (serials from `first`) as already looked at once.
async fn seed(store: &SqlStore, first: u64, count: usize) -> Result<(), String> {
    let stage = classify(None, LADDER[0]).without_context(LADDER[0]);
    let mut chunk = Vec::with_capacity(10_000);
    for serial in first..first + count as u64 {
        let Some(number) = s10(serial) else { continue };
        chunk.push(BulkParcel {
            number,
            stage,
            last_event_at: Some(t0() - Duration::hours(1)),
        });
        if chunk.len() == 10_000 {
            store
                .bulk_import(&chunk, t0())
                .await
                .map_err(|e| format!("{e}: {e:?}"))?;
            chunk.clear();
        }
    }
    store
        .bulk_import(&chunk, t0())
        .await
        .map_err(|e| format!("{e}: {e:?}"))
}

fn engine_on(store: SqlStore, owner: &str) -> (Engine<SqlStore, SimulatedClock>, Arc<LadderProvider>) {
    let clock = SimulatedClock::new(t0() + ROUND);
    let provider = Arc::new(LadderProvider {
        clock: clock.clone(),
        fetches: AtomicUsize::new(0),
    });
    let engine = Engine::new(
        Arc::new(store),
        Providers::new(vec![provider.clone()]),
        clock,
        Vec::new(),
        EngineSettings {
            owner: owner.to_owned(),
            poll_batch: 1000,
            ..EngineSettings::default()
        },
    );
    (engine, provider)
}

/// Polls until `target` numbers were refreshed; returns (refreshed, notices, seconds).
async fn refresh(engine: &Engine<SqlStore, SimulatedClock>, target: usize) -> (usize, usize, f64) {
    let started = Instant::now();
    let (mut polled, mut notices) = (0, 0);
    while polled < target {
        match engine.poll_due().await {
            Ok(stats) if stats.polled > 0 => {
                polled += stats.polled;
                notices += stats.notices;
            }
            Ok(_) => break,
            Err(error) => {
                eprintln!("poll failed: {error}");
                break;
            }
        }
    }
    (polled, notices, started.elapsed().as_secs_f64())
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn temp_sqlite(name: &str) -> DatabaseUrl {
    let dir = std::env::temp_dir().join(format!("parcelbot_bench_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    DatabaseUrl::Sqlite(format!("sqlite://{}", dir.join("bench.db").display()))
}

async fn sqlite_refreshes(numbers: usize, polls: usize) -> Result<(), String> {
    let store = SqlStore::connect(&temp_sqlite("refresh"))
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    seed(&store, 0, numbers).await?;
    println!(
        "seeded {numbers} numbers in SQLite in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The operator's view of this many numbers: the once-a-minute count behind the
    // gauges, and a scrape (which never counts).
    let started = Instant::now();
    let counts = store.counts().await.map_err(|e| e.to_string())?;
    let counted_ms = started.elapsed().as_secs_f64() * 1000.0;
    match bot_core::ops::telemetry::install() {
        Ok(metrics) => {
            bot_core::ops::telemetry::record_counts(&counts);
            let started = Instant::now();
            let text = metrics.render();
            println!(
                "metrics: counting {numbers} numbers by stage took {counted_ms:.0} ms (once a minute); /metrics rendered in {:.2} ms ({} bytes; target < 10 ms)",
                started.elapsed().as_secs_f64() * 1000.0,
                text.len()
            );
        }
        Err(error) => println!("metrics: {error}"),
    }
    let (engine, provider) = engine_on(store, "bench-sqlite");
    let (polled, notices, seconds) = refresh(&engine, polls).await;
    println!(
        "sqlite: {polled} refreshes in {seconds:.1} s = {:.0} refreshes/s (target >= 5000); {notices} stage changes ({:.1}%), {} number-fetches",
        polled as f64 / seconds,
        100.0 * notices as f64 / polled.max(1) as f64,
        provider.fetches.load(Ordering::Relaxed)
    );
    println!(
        "peak RSS after seeding and refreshing: {:.0} MB (target <= 200 MB)",
        peak_rss_mb()
    );
    Ok(())
}

/// Worker mode (`--pg-worker <url> <polls> <name>`): refreshes on PostgreSQL and prints
/// `polled seconds`.
async fn pg_worker(url: String, polls: usize, name: String) -> Result<(), String> {
    let store = SqlStore::connect(&DatabaseUrl::Postgres(url))
        .await
        .map_err(|e| e.to_string())?;
    let (engine, _) = engine_on(store, &name);
    let (polled, _, seconds) = refresh(&engine, polls).await;
    println!("{polled} {seconds}");
    Ok(())
}

fn run_workers(url: &str, polls: usize, count: usize) -> Result<(usize, f64), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let children: Vec<_> = (0..count)
        .map(|i| {
            std::process::Command::new(&exe)
                .args([
                    "--pg-worker",
                    url,
                    &polls.to_string(),
                    &format!("bench-pg-{count}-{i}"),
                ])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let mut polled = 0;
    for child in children {
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stdout);
        polled += text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
    }
    Ok((polled, started.elapsed().as_secs_f64()))
}

async fn postgres_refreshes(numbers: usize, polls: usize) -> Result<(), String> {
    let Ok(base) = std::env::var("TEST_POSTGRES_URL") else {
        println!("postgres: SKIPPED (TEST_POSTGRES_URL is not set)");
        return Ok(());
    };
    let name = format!("parcelbot_bench_{}", std::process::id());
    create_postgres_database(&base, &name)
        .await
        .map_err(|e| e.to_string())?;
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => return Err("TEST_POSTGRES_URL has no database part".to_owned()),
    };
    let store = SqlStore::connect(&DatabaseUrl::Postgres(url.clone()))
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    seed(&store, 0, numbers).await?;
    store.close().await;
    println!(
        "seeded {numbers} numbers in PostgreSQL in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (one, one_seconds) = run_workers(&url, polls, 1)?;
    let one_rate = one as f64 / one_seconds;
    let (two, two_seconds) = run_workers(&url, polls, 2)?;
    let two_rate = two as f64 / two_seconds;
    println!(
        "postgres: one process {one} refreshes at {one_rate:.0}/s; two processes {two} at {two_rate:.0}/s = {:.2}x (target >= 1.6x)",
        two_rate / one_rate
    );
    drop_postgres_database(&base, &name)
        .await
        .map_err(|e| e.to_string())
}

/// A notifier that counts violations of Telegram's limits, in engine time.
struct LimitChecker {
    clock: SimulatedClock,
    sends: Mutex<Vec<(ChatRef, DateTime<Utc>)>>,
}

impl Notifier for LimitChecker {
    fn platform(&self) -> &'static str {
        "telegram"
    }

    fn limits(&self) -> SendLimits {
        SendLimits::TELEGRAM
    }

    fn is_group(&self, to: &Recipient) -> bool {
        to.chat.id().starts_with('-')
    }

    fn send<'a>(&'a self, to: &'a Recipient, _reply: &'a Reply) -> SendFuture<'a> {
        let now = self.clock.now();
        self.sends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((to.chat.clone(), now));
        Box::pin(async { Ok(()) })
    }
}

fn violations(sends: &[(ChatRef, DateTime<Utc>)]) -> usize {
    let mut per_second: HashMap<i64, usize> = HashMap::new();
    let mut last: HashMap<&ChatRef, DateTime<Utc>> = HashMap::new();
    let mut per_group_minute: HashMap<(&ChatRef, i64), usize> = HashMap::new();
    let mut bad = 0;
    for (chat, at) in sends {
        let second = per_second.entry(at.timestamp()).or_default();
        *second += 1;
        bad += usize::from(*second > 30);
        if let Some(previous) = last.insert(chat, *at) {
            bad += usize::from(*at - previous < Duration::seconds(1));
        }
        if chat.id().starts_with('-') {
            let minute = per_group_minute.entry((chat, at.timestamp() / 60)).or_default();
            *minute += 1;
            bad += usize::from(*minute > 20);
        }
    }
    bad
}

async fn dispatch(messages: usize) -> Result<(), String> {
    let store = Arc::new(
        SqlStore::connect(&temp_sqlite("dispatch"))
            .await
            .map_err(|e| e.to_string())?,
    );
    let clock = SimulatedClock::new(t0());
    let checker = Arc::new(LimitChecker {
        clock: clock.clone(),
        sends: Mutex::default(),
    });
    let notifiers: Vec<Arc<dyn Notifier>> = vec![checker.clone()];
    let engine = Engine::new(
        Arc::clone(&store),
        Providers::new(Vec::new()),
        clock.clone(),
        notifiers,
        EngineSettings::default(),
    );
    for i in 0..messages {
        // One in ten chats is a group (stricter limit); each chat gets one message.
        let id = if i % 10 == 0 {
            format!("-{}", 1000 + i)
        } else {
            format!("{}", 1000 + i)
        };
        let chat = ChatRef::new("telegram", &id).map_err(|e| e.to_string())?;
        let chat = store
            .upsert_chat(&chat, clock.now())
            .await
            .map_err(|e| e.to_string())?;
        let notice = Notification::Stage {
            number: format!("RB{i:08}0CN"),
            stage: Stage::OutForDelivery,
            at: Some(clock.now()),
            next_step: "next.wait".to_owned(),
            delivery: None,
        }
        .to_notice(format!("bench:{i}"));
        store
            .enqueue(chat, None, &notice, clock.now())
            .await
            .map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    let start = clock.now();
    let mut rounds = 0;
    loop {
        let stats = engine.dispatch_once().await.map_err(|e| e.to_string())?;
        rounds += 1;
        if checker.sends.lock().unwrap_or_else(PoisonError::into_inner).len() >= messages || rounds > 100_000
        {
            break;
        }
        if stats.sent == 0 || stats.deferred > 0 {
            clock.advance(Duration::milliseconds(100));
        }
    }
    let real = started.elapsed().as_secs_f64();
    let sends = checker
        .sends
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let span = sends.last().map_or(0.0, |(_, at)| {
        (*at - start).num_milliseconds() as f64 / 1000.0 + 1.0
    });
    let rate = sends.len() as f64 / span;
    println!(
        "dispatch: {} messages in {span:.1} s of engine time = {rate:.1}/s ({:.1}% of 30/s, target >= 95%), {} limit violations; {real:.1} s of real time ({:.0} messages/s of CPU)",
        sends.len(),
        100.0 * rate / 30.0,
        violations(&sends),
        sends.len() as f64 / real
    );
    Ok(())
}

/// Counts number-fetches per number around the simulated carrier.
struct Counting {
    inner: SimulatedCarrier<SimulatedClock>,
    fetches: Mutex<HashMap<String, usize>>,
}

impl TrackingProvider for Counting {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn serves(&self, number: &TrackingNumber) -> bool {
        self.inner.serves(number)
    }

    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    async fn fetch(&self, numbers: &[TrackingNumber]) -> Vec<FetchResult> {
        {
            let mut fetches = self.fetches.lock().unwrap_or_else(PoisonError::into_inner);
            for number in numbers {
                *fetches.entry(number.as_str().to_owned()).or_default() += 1;
            }
        }
        self.inner.fetch(numbers).await
    }
}

#[derive(Default)]
struct Journey {
    origin: String,
    subscribed: Option<DateTime<Utc>>,
    handoff: Option<(String, DateTime<Utc>)>,
    delivered: Option<DateTime<Utc>>,
}

fn is_last_mile(stage: Stage) -> bool {
    matches!(
        stage,
        Stage::HandedToLastMile
            | Stage::DomesticTransit
            | Stage::OutForDelivery
            | Stage::DeliveryFailed
            | Stage::PickupAvailable
            | Stage::Delivered
    )
}

async fn economy(journeys: usize) -> Result<(), String> {
    let store = SqlStore::connect(&temp_sqlite("economy"))
        .await
        .map_err(|e| e.to_string())?;
    let start = t0();
    let clock = SimulatedClock::new(start);
    let counting = Arc::new(Counting {
        inner: SimulatedCarrier::new(clock.clone()),
        fetches: Mutex::default(),
    });
    let engine = Engine::new(
        Arc::new(store),
        Providers::new(vec![counting.clone()]),
        clock.clone(),
        Vec::new(),
        EngineSettings {
            owner: "bench-economy".to_owned(),
            poll_batch: 1000,
            ..EngineSettings::default()
        },
    );
    let store = engine.store();
    let mut by_chat: HashMap<String, Journey> = HashMap::new();
    let started = Instant::now();
    for i in 0..journeys {
        let Some(number) = s10(20_000_000 + i as u64 * 7) else {
            continue;
        };
        // Buyers add their numbers over a day, as they would.
        clock.advance_to(start + Duration::seconds((i as i64 * 86_400) / journeys as i64));
        let chat_ref = ChatRef::new("telegram", &format!("{}", 5000 + i)).map_err(|e| e.to_string())?;
        let chat = store
            .upsert_chat(&chat_ref, clock.now())
            .await
            .map_err(|e| e.to_string())?;
        store
            .subscribe(chat, &number, None, None, clock.now())
            .await
            .map_err(|e| e.to_string())?;
        let views = store.subscriptions(chat).await.map_err(|e| e.to_string())?;
        if let Some(view) = views.first() {
            engine.refresh(view).await.map_err(|e| e.to_string())?;
        }
        by_chat.insert(
            chat_ref.id().to_owned(),
            Journey {
                origin: number.as_str().to_owned(),
                subscribed: Some(clock.now()),
                ..Journey::default()
            },
        );
    }
    let mut delays: Vec<i64> = Vec::new();
    let end = start + Duration::days(60);
    while clock.now() < end {
        clock.advance(Duration::minutes(5));
        loop {
            match engine.poll_due().await {
                Ok(stats) if stats.polled > 0 => {}
                Ok(_) => break,
                Err(error) => return Err(error.to_string()),
            }
        }
        let now = clock.now();
        let outbox = store
            .lease_outbox("bench-reader", now, Duration::minutes(1), 100_000)
            .await
            .map_err(|e| e.to_string())?;
        for message in outbox {
            let journey = by_chat.entry(message.chat.id().to_owned()).or_default();
            match Notification::from_payload(&message.payload) {
                Some(Notification::Stage {
                    stage, at: Some(at), ..
                }) => {
                    if is_last_mile(stage) {
                        delays.push((now - at).num_minutes());
                    }
                    if stage == Stage::Delivered {
                        journey.delivered = Some(at);
                    }
                }
                Some(Notification::Handoff { new_number, .. }) => journey.handoff = Some((new_number, now)),
                _ => {}
            }
            store
                .mark_sent(message.id, now)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let fetches = counting
        .fetches
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let (mut adaptive, mut hourly, mut delivered) = (0usize, 0i64, 0usize);
    for journey in by_chat.values() {
        let (Some(done), Some(subscribed)) = (journey.delivered, journey.subscribed) else {
            continue;
        };
        delivered += 1;
        adaptive += fetches.get(&journey.origin).copied().unwrap_or(0);
        // Hourly polling asks every number once an hour until it shows the delivery.
        hourly += ((done - subscribed).num_minutes() + 59).max(60) / 60;
        if let Some((number, seen)) = &journey.handoff {
            adaptive += fetches.get(number).copied().unwrap_or(0);
            hourly += ((done - *seen).num_minutes() + 59).max(60) / 60;
        }
    }
    delays.sort_unstable();
    let median = delays.get(delays.len() / 2).copied().unwrap_or(-1);
    let p90 = delays.get(delays.len() * 9 / 10).copied().unwrap_or(-1);
    let total: usize = fetches.values().sum();
    println!(
        "economy: {journeys} journeys, {delivered} delivered; number-fetches for the delivered: adaptive {adaptive} ({:.1}/parcel) vs hourly {hourly} ({:.1}/parcel) = {:.1}% (target <= 25%); all journeys {total} fetches; last-mile event to message: median {median} min, p90 {p90} min over {} messages (target median <= 60); {:.1} s real",
        adaptive as f64 / delivered.max(1) as f64,
        hourly as f64 / delivered.max(1) as f64,
        100.0 * adaptive as f64 / hourly.max(1) as f64,
        delays.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("no runtime: {error}");
            return;
        }
    };
    if args.get(1).map(String::as_str) == Some("--pg-worker") {
        let url = args.get(2).cloned().unwrap_or_default();
        let polls = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(0);
        let name = args.get(4).cloned().unwrap_or_default();
        if let Err(error) = runtime.block_on(pg_worker(url, polls, name)) {
            eprintln!("worker: {error}");
        }
        return;
    }
    let numbers = env_usize("BENCH_NUMBERS", 1_000_000);
    let polls = env_usize("BENCH_POLLS", 200_000);
    let journeys = env_usize("BENCH_JOURNEYS", 10_000);
    let skip = std::env::var("BENCH_SKIP").unwrap_or_default();
    let result = runtime.block_on(async {
        if !skip.contains("sqlite") {
            sqlite_refreshes(numbers, polls).await?;
        }
        if !skip.contains("dispatch") {
            dispatch(3000).await?;
        }
        if !skip.contains("economy") {
            economy(journeys).await?;
        }
        if !skip.contains("postgres") {
            postgres_refreshes(numbers, polls / 4).await?;
        }
        Ok::<(), String>(())
    });
    if let Err(error) = result {
        eprintln!("bench failed: {error}");
        std::process::exit(1);
    }
}
