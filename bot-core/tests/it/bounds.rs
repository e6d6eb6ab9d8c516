//! Time and size are bounded: date arithmetic at chrono's limits never panics (property
//! tests over times and durations, the simulated carrier, the store and the
//! conversation at the ends of the calendar), the parsers survive 100,000 generated
//! inputs, and recognition and assessment cost grows linearly with their input.

use std::sync::Arc;
use std::time::Instant;

use bot_core::clock::{Clock, Saturating, SimulatedClock};
use bot_core::conversation::parse::{
    clean_label, deadline, numbers_and_label, order_date, parse, read_message, wait_duration,
};
use bot_core::conversation::{ChatLimits, Incoming, Input};
use bot_core::interpret::event::parse_time;
use bot_core::interpret::judge::{protection, silence};
use bot_core::interpret::{AssessInput, Destination, Event, Stage, assess};
use bot_core::number::checksum::s10_check_digit;
use bot_core::number::{TrackingNumber, recognise_in};
use bot_core::provider::Providers;
use bot_core::provider::sim::SimulatedCarrier;
use bot_core::store::ChatRef;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use proptest::prelude::*;

use crate::conversation::conversation_at;

const MIN_MILLIS: i64 = DateTime::<Utc>::MIN_UTC.timestamp_millis();
const MAX_MILLIS: i64 = DateTime::<Utc>::MAX_UTC.timestamp_millis();

fn at_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis.clamp(MIN_MILLIS, MAX_MILLIS)).expect("in chrono's range")
}

/// Times anywhere in chrono's range, most of them near its ends or near today.
fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    let day = 86_400_000_i64;
    prop_oneof![
        (0..30 * day).prop_map(|m| at_millis(MIN_MILLIS + m)),
        (0..30 * day).prop_map(|m| at_millis(MAX_MILLIS - m)),
        (MIN_MILLIS..=MAX_MILLIS).prop_map(at_millis),
        (1_700_000_000_000_i64..1_900_000_000_000).prop_map(at_millis),
    ]
}

/// Durations anywhere in chrono's range, many of them huge.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::MAX),
        Just(Duration::MIN),
        any::<i64>().prop_map(Duration::milliseconds),
        (-400_i64..400).prop_map(Duration::days),
    ]
}

fn with_offset(at: DateTime<Utc>, seconds: i32) -> DateTime<FixedOffset> {
    at.with_timezone(&FixedOffset::east_opt(seconds).expect("offset under a day"))
}

const TEXTS: &[&str] = &[
    "Delivered",
    "Arrived at destination country",
    "Departed from sorting center",
    "Customs clearance started",
    "Out for delivery",
    "Returned to sender",
    "Handed over to the last mile, new tracking number RB123456785CN",
    "",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn saturating_arithmetic_never_panics_and_agrees_with_checked(at in any_time(), by in any_duration()) {
        let later = at.plus(by);
        let earlier = at.minus(by);
        match at.checked_add_signed(by) {
            Some(exact) => prop_assert_eq!(later, exact),
            None if by > Duration::zero() => prop_assert_eq!(later, DateTime::<Utc>::MAX_UTC),
            None => prop_assert_eq!(later, DateTime::<Utc>::MIN_UTC),
        }
        match at.checked_sub_signed(by) {
            Some(exact) => prop_assert_eq!(earlier, exact),
            None if by > Duration::zero() => prop_assert_eq!(earlier, DateTime::<Utc>::MIN_UTC),
            None => prop_assert_eq!(earlier, DateTime::<Utc>::MAX_UTC),
        }
        prop_assert_eq!(by >= Duration::zero(), later >= at);
        let date = at.date_naive();
        let _ = (date.plus(by), date.minus(by), by.plus(by), by.minus(by));
        let clock = SimulatedClock::new(at);
        clock.advance(by);
        prop_assert!(clock.now() >= at);
    }

    #[test]
    fn judgements_and_deadlines_hold_at_the_ends_of_time(
        now in any_time(),
        since in any_time(),
        ends in any_time(),
        days in 0_i64..2000,
    ) {
        for stage in [None, Some(Stage::LineHaul), Some(Stage::Delivered), Some(Stage::Exception)] {
            let _ = silence(stage, Some(since), false, now);
            let _ = protection(Some(ends), stage, now);
        }
        for text in [format!("{days} days"), format!("{days}d"), "2026-12-24".to_owned(), "24.12".to_owned(), "31/12/262143".to_owned()] {
            if let Ok(deadline) = deadline(&text, now, chrono_tz::Pacific::Kiritimati) {
                prop_assert!(deadline >= now.minus(Duration::days(2)));
            }
            let _ = deadline(&text, now, chrono_tz::Pacific::Niue);
        }
    }

    #[test]
    fn assess_never_panics_at_the_ends_of_time(
        now in any_time(),
        ordered in proptest::option::of(any_time()),
        shipped in proptest::option::of(any_time()),
        ends in proptest::option::of(any_time()),
        events in proptest::collection::vec((any_time(), -86_399_i32..86_400, 0..TEXTS.len()), 0..5),
        offset in -86_399_i32..86_400,
    ) {
        let assessment = assess(AssessInput {
            number: "RB123456785CN".to_owned(),
            now: with_offset(now, offset),
            ordered_at: ordered.map(|t| with_offset(t, offset)),
            shipped_at: shipped.map(|t| with_offset(t, -offset)),
            destination: Some(Destination { country: Some("NL".to_owned()), city: Some("Utrecht".to_owned()) }),
            protection_ends: ends.map(|t| with_offset(t, offset)),
            asked_at: None,
            events: events
                .into_iter()
                .map(|(at, offset, text)| Event {
                    time: with_offset(at, offset),
                    text: TEXTS[text].to_owned(),
                    location: Some("Utrecht".to_owned()),
                    code: None,
                    source: Some("cainiao".to_owned()),
                    number: None,
                })
                .collect(),
            linked_numbers: Vec::new(),
            sources: Default::default(),
        });
        prop_assert!(!assessment.summary.is_empty());
        prop_assert!(serde_json::to_string(&assessment).is_ok());
    }
}

/// An S10 number of the simulated carrier's scenario `scenario`.
fn s10(scenario: u8) -> TrackingNumber {
    let serial = format!("1047290{scenario}");
    let check = s10_check_digit(&serial).expect("eight digits");
    TrackingNumber::parse(&format!("RB{serial}{check}CN")).expect("valid S10")
}

fn extreme_times() -> Vec<DateTime<Utc>> {
    vec![
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MIN_UTC.plus(Duration::hours(1)),
        DateTime::<Utc>::MAX_UTC.minus(Duration::hours(1)),
        DateTime::<Utc>::MAX_UTC,
    ]
}

#[tokio::test]
async fn the_simulated_carrier_answers_at_the_ends_of_time() {
    let numbers: Vec<TrackingNumber> = (0..10).map(s10).collect();
    for start in extreme_times() {
        let clock = SimulatedClock::new(start);
        let providers = Providers::new(vec![Arc::new(SimulatedCarrier::new(clock.clone()))]);
        for _ in 0..3 {
            let results = providers.fetch(&numbers).await;
            assert_eq!(results.len(), numbers.len());
            clock.advance(Duration::days(30));
        }
    }
}

#[tokio::test]
async fn the_conversation_and_the_store_work_at_the_ends_of_time() {
    for start in extreme_times() {
        let (conversation, clock) = conversation_at(start, ChatLimits::default()).await;
        let chat = ChatRef::new("console", "bounds").expect("chat");
        for text in [
            "/track RB104729019CN shoes",
            "/protect 1 15 days",
            "/protect 1 2026-12-24",
            "/list",
            "/status 1",
            "is RB104729019CN fake?",
        ] {
            let answers = conversation
                .handle(Incoming {
                    chat: chat.clone(),
                    user: Some("42".to_owned()),
                    is_group: false,
                    update_id: None,
                    channel: None,
                    input: Input::Text(text.to_owned()),
                })
                .await;
            assert!(!answers.is_empty(), "{text} at {start}: no answer");
            clock.advance(Duration::days(3));
            conversation.engine().tick().await.expect("tick");
        }
    }
}

/// Pieces the generated inputs are made of: digits and letters, separators, numbers,
/// date and duration fragments, and awkward Unicode.
const PIECES: &[&str] = &[
    "0",
    "1",
    "7",
    "9",
    "RB",
    "CN",
    "LP",
    "YT",
    "a",
    "Z",
    " ",
    "  ",
    "-",
    ".",
    "/",
    ",",
    ":",
    "\t",
    "\n",
    "d",
    "w",
    "h",
    "m",
    "s",
    "days",
    "in ",
    "@bot",
    "/track",
    "/wait",
    "/protect",
    "T",
    "Z",
    "+",
    "2026-12-24",
    "24.12",
    "31/12/262143",
    "99999999999999999999",
    "RB123456785CN",
    "LP00123456789012",
    "１２３",
    "РВ",
    "е",
    "\u{0301}",
    "\u{200B}",
    "\u{202E}",
    "\u{FEFF}",
    "🚚",
    "é",
    "ß",
    "漢字",
    "ﬁ",
    "\u{1100}\u{1161}",
    "\u{0627}\u{0653}",
    "'",
    "\"",
    "\\",
    "%",
    "GMT+",
    "UTC-",
    "99999999",
    "-99999999",
    "2026-09-05 10:00:00",
];

fn generated(rng: &mut fastrand::Rng) -> String {
    let pieces = match rng.u8(0..20) {
        0 => rng.usize(200..600),
        _ => rng.usize(0..24),
    };
    let mut text = String::new();
    for _ in 0..pieces {
        if rng.u8(0..10) == 0 {
            text.push(rng.char(..));
        } else {
            text.push_str(PIECES[rng.usize(0..PIECES.len())]);
        }
    }
    text
}

fn generated_time(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..4) {
        0 => format!(
            "{:+07}-{:02}-{:02}T{:02}:{:02}:00{}",
            rng.i32(-300_000..300_000),
            rng.u8(1..13),
            rng.u8(1..29),
            rng.u8(0..24),
            rng.u8(0..60),
            ["Z", "+14:00", "-12:00", "+23:59"][rng.usize(0..4)]
        ),
        1 => [
            "+262143-12-31T23:59:59-23:59",
            "-262143-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59Z",
        ][rng.usize(0..3)]
        .to_owned(),
        _ => format!(
            "2026-{:02}-{:02}T{:02}:00:00+08:00",
            rng.u8(1..13),
            rng.u8(1..29),
            rng.u8(0..24)
        ),
    }
}

#[test]
fn parsers_survive_a_hundred_thousand_generated_inputs() {
    let mut rng = fastrand::Rng::with_seed(19);
    let zone = chrono_tz::Europe::Amsterdam;
    let mut assessed = 0;
    for round in 0..100_000 {
        let input = generated(&mut rng);
        for found in recognise_in(&input) {
            assert!(
                input.get(found.span.clone()).is_some(),
                "{input:?}: span {:?}",
                found.span
            );
        }
        let _ = (
            parse(&input),
            numbers_and_label(&input),
            clean_label(&input),
            read_message(&input),
        );
        if let Some(waited) = wait_duration(&input) {
            assert!(
                waited > Duration::zero() && waited <= Duration::days(365),
                "{input:?}"
            );
        }
        let now = at_millis(rng.i64(MIN_MILLIS..=MAX_MILLIS));
        let _ = parse_time(&input, Some(&input));
        let _ = parse_time(&generated_time(&mut rng), Some(&input));
        let _ = deadline(&input, now, zone);
        let _ = order_date(&input, now, zone);
        // Every tenth input also becomes an `assess` case: the same text as number, event
        // text and location, with times of any shape.
        if round % 10 == 0 {
            let case = serde_json::json!({
                "number": input,
                "now": generated_time(&mut rng),
                "ordered_at": generated_time(&mut rng),
                "protection_ends": generated_time(&mut rng),
                "events": [
                    {"time": generated_time(&mut rng), "text": input, "location": input, "code": input},
                    {"time": generated_time(&mut rng), "text": input, "number": input},
                ],
                "linked_numbers": [{"number": input}],
            });
            if let Ok(case) = serde_json::from_value::<AssessInput>(case) {
                assess(case);
                assessed += 1;
            }
        }
    }
    assert!(assessed > 1_000, "only {assessed} assess cases were read");
}

/// A line of `count` distinct numbers in digit groups, as people paste lists.
fn line_of_numbers(count: usize) -> String {
    (0..count)
        .map(|index| format!("{:04} {:04} {:04}", index % 10_000, index / 10_000, 4321))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn each_number_reports_its_own_slice_of_the_input() {
    for count in [100, 1_000] {
        let line = line_of_numbers(count);
        let found = recognise_in(&line);
        let reported: usize = found.iter().map(|found| found.span.len()).sum();
        assert!(found.len() >= count / 2, "{} numbers of {count}", found.len());
        // Counting, not timing: the slices never add up to more than the line.
        assert!(
            reported <= line.len(),
            "{reported} bytes reported from {}",
            line.len()
        );
        let mut previous_end = 0;
        for found in &found {
            assert!(found.span.start >= previous_end, "slices overlap");
            previous_end = found.span.end;
        }
    }
    let spaced = recognise_in("my parcel: RB 1234 5678 5CN, thanks");
    assert_eq!(spaced.len(), 1);
    assert_eq!(
        &"my parcel: RB 1234 5678 5CN, thanks"[spaced[0].span.clone()],
        "RB 1234 5678 5CN"
    );
    let wide = "番号：ＲＢ１２３４５６７８５ＣＮ。";
    let found = recognise_in(wide);
    assert_eq!(&wide[found[0].span.clone()], "ＲＢ１２３４５６７８５ＣＮ");
}

/// The fastest of three runs of `work`, in seconds.
fn fastest_of_three(mut work: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn events(count: usize) -> Vec<Event> {
    let base = DateTime::parse_from_rfc3339("2026-01-01T00:00:00+08:00").expect("date");
    (0..count)
        .map(|index| Event {
            // Many events share a moment, many share words: the two ways a duplicate is found.
            time: base + Duration::minutes((index / 3) as i64 * 7),
            text: format!("{} {}", TEXTS[index % 6], index % 50),
            location: None,
            code: Some(format!("CODE_{}", index % 7)),
            source: Some(["cainiao", "ship24"][index % 2].to_owned()),
            number: Some(format!("LP{:014}", index % 5)),
        })
        .collect()
}

fn case(events: Vec<Event>) -> AssessInput {
    AssessInput {
        number: "RB123456785CN".to_owned(),
        now: DateTime::parse_from_rfc3339("2027-06-01T00:00:00Z").expect("date"),
        ordered_at: None,
        shipped_at: None,
        destination: None,
        protection_ends: None,
        asked_at: None,
        events,
        linked_numbers: Vec::new(),
        sources: Default::default(),
    }
}

#[test]
fn assessment_and_recognition_cost_grow_linearly() {
    // Warm up (the classifier's model loads once).
    assess(case(events(10)));
    let small = events(2_000);
    let large = events(20_000);
    let small_time = fastest_of_three(|| {
        assess(case(small.clone()));
    });
    let large_time = fastest_of_three(|| {
        assess(case(large.clone()));
    });
    // Linear is 10x; quadratic (as comparing every event with every kept one was) is
    // 100x. The bound leaves room for a busy machine.
    assert!(
        large_time < 35.0 * small_time,
        "assess: 2,000 events {small_time:.3} s, 20,000 events {large_time:.3} s"
    );
    let small_line = line_of_numbers(2_000);
    let large_line = line_of_numbers(20_000);
    let small_time = fastest_of_three(|| {
        recognise_in(&small_line);
    });
    let large_time = fastest_of_three(|| {
        recognise_in(&large_line);
    });
    assert!(
        large_time < 35.0 * small_time,
        "recognise: 2,000 numbers {small_time:.3} s, 20,000 numbers {large_time:.3} s"
    );
}
