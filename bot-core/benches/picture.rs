//! Benchmark: the journey picture. Prints its figures; run with
//! `cargo bench -p bot-core --bench picture` (`BENCH_PICTURE_OUT=<file>` also writes
//! the PNG, to look at).
//!
//! 1. Render time: the best and the median of 50 renders of a parcel in customs with a
//!    handoff (target: under 50 ms).
//! 2. Memory: how much the process's peak resident memory grows over the first render
//!    (font registration included), the workspace forbidding the unsafe code a
//!    counting allocator would need (target: under 2 MB).
//! 3. The PNG's size.

use std::time::Instant;

use bot_core::interpret::journey::{Norms, journey};
use bot_core::interpret::{Event, merge};
use bot_core::picture::render_png;
use chrono::DateTime;

/// This process's peak resident memory (`VmHWM`), in bytes (Linux).
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .unwrap_or(0)
        * 1024
}

fn event(time: &str, text: &str) -> Event {
    Event {
        time: DateTime::parse_from_rfc3339(time).expect("bench time"),
        text: text.to_owned(),
        location: None,
        code: None,
        source: Some("bench".to_owned()),
        number: None,
    }
}

fn main() {
    let at = |text: &str| DateTime::parse_from_rfc3339(text).expect("bench time").to_utc();
    let mut timeline = merge(
        vec![
            event("2026-11-01T10:00:00Z", "Accepted by carrier"),
            event("2026-11-02T10:00:00Z", "Export customs clearance complete"),
            event("2026-11-04T10:00:00Z", "Departed from airport of origin country"),
            event("2026-11-10T10:00:00Z", "Arrived at destination country"),
            event("2026-11-11T10:00:00Z", "Import customs clearance started"),
        ],
        &["RB104729000CN"],
    );
    timeline.link(
        "3SCNLA55965961",
        Some("PostNL".to_owned()),
        &[],
        at("2026-11-11T12:00:00Z"),
    );
    let journey = journey(
        &timeline,
        None,
        &Norms::default(),
        at("2026-11-01T00:00:00Z"),
        at("2026-11-13T10:00:00Z"),
    );
    let date = |t: DateTime<chrono::Utc>| t.format("%-d %b").to_string();
    let before = peak_rss();
    let first = render_png(&journey, "headphones (RB104729000CN)", &date).expect("a picture");
    let peak = peak_rss().saturating_sub(before);
    let mut times = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let png = render_png(&journey, "headphones (RB104729000CN)", &date).expect("a picture");
        times.push(started.elapsed());
        assert_eq!(png.len(), first.len());
    }
    times.sort();
    let png = first;
    println!(
        "picture render: best {:.1} ms, median {:.1} ms (target < 50 ms)",
        times[0].as_secs_f64() * 1000.0,
        times[times.len() / 2].as_secs_f64() * 1000.0
    );
    println!(
        "picture memory: peak RSS grew {:.2} MB over the first render (target < 2 MB)",
        peak as f64 / 1_048_576.0
    );
    println!(
        "picture size: {} bytes of PNG, {}×{}",
        png.len(),
        bot_core::picture::WIDTH,
        bot_core::picture::HEIGHT
    );
    if let Ok(path) = std::env::var("BENCH_PICTURE_OUT") {
        std::fs::write(&path, &png).expect("write the picture");
        println!("written to {path}");
    }
}
