//! Benchmark: event classification throughput over the dev set repeated to 1,000,000
//! events, on one core. Run with `cargo bench -p bot-core --bench classification`.
//! Target: at least 1,000,000 events per second.

use std::hint::black_box;
use std::time::Instant;

use bot_core::interpret::classify::classify;

const EVENTS_DEV: &str = include_str!("../tests/data/events-dev.tsv");
const EVENTS: usize = 1_000_000;

fn main() {
    let texts: Vec<&str> = EVENTS_DEV
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').next())
        .collect();
    let mut known = 0usize;
    for text in &texts {
        known += usize::from(classify(None, text).without_context(text).is_some());
    }
    let started = Instant::now();
    for index in 0..EVENTS {
        let text = texts[index % texts.len()];
        known += usize::from(
            black_box(classify(None, black_box(text)))
                .without_context(text)
                .is_some(),
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "classification: {EVENTS} events ({} distinct texts) in {:.1} ms = {:.0} events/s on one core, {:.0} ns/event ({known} classified)",
        texts.len(),
        elapsed * 1e3,
        EVENTS as f64 / elapsed,
        elapsed * 1e9 / EVENTS as f64
    );
}
