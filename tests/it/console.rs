//! Conversation transcripts through the console adapter (`parcelbot console --script`),
//! with simulated time: every command and the bad inputs a user can send.

use std::path::PathBuf;
use std::process::Command;

fn transcript(name: &str) -> String {
    transcript_with(name, &[])
}

/// The start of the issue-15 stories: the simulated carrier's journeys of numbers first
/// asked about on 30 November 2026.
const ISSUE_START: &str = "2026-11-30T06:00:00Z";

/// Runs `tests/transcripts/<name>` on a fresh data directory and returns the output.
fn transcript_with(name: &str, extra: &[(&str, &str)]) -> String {
    transcript_from(name, "2026-10-01T08:00:00Z", extra)
}

/// Runs `tests/transcripts/<name>` from simulated time `start`.
fn transcript_from(name: &str, start: &str, extra: &[(&str, &str)]) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let data = std::env::temp_dir().join(format!("parcelbot_console_{}_{nanos}", std::process::id()));
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "transcripts", name]
        .iter()
        .collect();
    let mut command = Command::new(env!("CARGO_BIN_EXE_parcelbot"));
    command
        .args(["console", "--script"])
        .arg(&script)
        .args(["--start", start])
        .env("PARCELBOT__DATA_DIR", &data)
        .env_remove("PARCELBOT__DATABASE__URL")
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("DISCORD_TOKEN");
    for (key, value) in extra {
        command.env(key, value);
    }
    let output = command.output().expect("parcelbot runs");
    let _ = std::fs::remove_dir_all(&data);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The output between `you> <input>` and the next `you>` line.
fn answer_to<'a>(output: &'a str, input: &str) -> &'a str {
    let marker = format!("you> {}\n", input.trim_end_matches('\n'));
    let start = output
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {input:?} in:\n{output}"))
        + marker.len();
    let rest = &output[start..];
    &rest[..rest.find("\nyou> ").map_or(rest.len(), |end| end + 1)]
}

fn assert_says(output: &str, input: &str, expected: &[&str]) {
    let answer = answer_to(output, input);
    for text in expected {
        assert!(
            answer.contains(text),
            "to {input:?} expected {text:?}, got:\n{answer}"
        );
    }
}

#[test]
fn a_journey_from_export_to_delivery() {
    let out = transcript("journey.txt");
    assert_says(
        &out,
        "/start",
        &["Send me a tracking number", "remind you before buyer protection"],
    );
    assert_says(
        &out,
        "/help",
        &["/track", "/fake", "/protect", "/evidence", "/forget"],
    );
    assert_says(
        &out,
        "/track RB104729000CN headphones",
        &[
            "Following headphones (RB104729000CN), a China Post number.",
            "cleared export",
            "normal at this stage",
            "Export customs clearance started (Hong Kong)",
            "Expected delivery: between Tue 6 Oct 2026 and Sun 11 Oct 2026 (the carrier's estimate).",
            "[1] Is it fake?",
        ],
    );
    assert_says(
        &out,
        "/list",
        &[
            "headphones (RB104729000CN): export, last news Thu 1 Oct 08:00, expected between Tue 6 Oct 2026 and Sun 11 Oct 2026",
        ],
    );
    assert_says(
        &out,
        "/wait 3d",
        &[
            "🔔 [Fri 2 Oct 02:00]",
            "international leg",
            "It is now Sun 4 Oct 08:00",
        ],
    );
    assert_says(
        &out,
        "/status headphones",
        &[
            "international leg",
            "Departed from departure country/region",
            "Journey",
        ],
    );
    assert_says(
        &out,
        "/journey headphones",
        &[
            "📦 headphones (RB104729000CN)",
            "international leg",
            "Expected delivery:",
            "🖼 picture: ",
            "journey-1.png",
        ],
    );
    assert_says(
        &out,
        "/protect headphones 20 days",
        &["ends Sat 24 Oct 2026", "7, 3 and 1 days before"],
    );
    let week = answer_to(&out, "/wait 5d");
    let expected_order = [
        "arrived in the destination country",
        "going through import customs",
        "Customs has released",
        "New tracking number with PostNL: 3SCNLA55965961",
        "moving inside the destination country",
        "out for delivery",
        "marked as delivered",
    ];
    let mut from = 0;
    for text in expected_order {
        let at = week[from..]
            .find(text)
            .unwrap_or_else(|| panic!("{text:?} after position {from} in:\n{week}"));
        from += at + text.len();
    }
    assert_eq!(week.matches("🔔").count(), 7, "one message per stage:\n{week}");
    assert_says(&out, "/untrack headphones", &["Stopped following headphones"]);
    assert!(
        out.trim_end()
            .ends_with("You do not follow any parcel yet. Send me a tracking number to start.")
    );
}

#[test]
fn bad_input_gets_a_clear_answer_and_changes_nothing() {
    let out = transcript("bad_input.txt");
    assert_says(&out, "/frobnicate", &["I do not know the command /frobnicate"]);
    assert_says(&out, "/\n", &["A slash alone is not a command"]);
    assert_says(&out, "/track\n", &["Which number?"]);
    assert_says(&out, "/status\n", &["You do not follow any parcel yet"]);
    assert_says(&out, "/untrack\n", &["Which parcel?"]);
    assert_says(&out, "/fake\n", &["Which number?"]);
    assert_says(&out, "/protect\n", &["/protect <number or label>"]);
    assert_says(
        &out,
        "/track 8199123456789012",
        &["is an AliExpress order number, not a tracking number"],
    );
    assert_says(
        &out,
        "/track RB123456875CN",
        &[
            "looks mistyped",
            "Did you mean one of these?",
            "Track RB123456785CN",
        ],
    );
    assert_says(
        &out,
        "/track RB1234S6785CN",
        &["fits no carrier's format", "[1] Track RB123456785CN"],
    );
    assert_says(&out, "hello there 😀📦", &["Send me a tracking number"]);
    assert_says(
        &out,
        "/track RB104729000CN <b>gift</b>'; DROP TABLE subscriptions;--",
        &["Following <b>gift</b>'; DROP TABLE subscriptions;-- (RB104729000CN)"],
    );
    assert_says(
        &out,
        "/protect RB104729000CN yesterday",
        &["I could not read that date"],
    );
    assert_says(
        &out,
        "/protect RB104729000CN 2020-01-01",
        &["That date is in the past"],
    );
    assert_says(&out, "/protect RB104729000CN 900 days", &["between 1 and 365"]);
    assert_says(
        &out,
        "/status nothing-like-this",
        &["You do not follow a parcel called \"nothing-like-this\""],
    );
    assert_says(&out, "/timezone Mars/Olympus", &["I do not know the time zone"]);
    assert_says(&out, "/country Atlantis", &["I do not know the country"]);
    assert_says(&out, "/wait\n", &["How long?"]);
    assert_says(&out, "/wait forever", &["How long?"]);
    // After all that, exactly the one parcel tracked, with its label kept as text.
    let last_list = &out[out.rfind("you> /list").expect("list")..];
    assert!(last_list.contains("Your parcels (1)"), "{last_list}");
    assert!(
        last_list.contains("<b>gift</b>'; DROP TABLE subscriptions;--"),
        "{last_list}"
    );
}

#[test]
fn a_ten_kilobyte_message_is_refused_whole() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("parcelbot_long_{nanos}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("long.txt");
    std::fs::write(&script, format!("RB104729000CN {}\n/list\n", "x".repeat(10_240))).expect("script");
    let output = Command::new(env!("CARGO_BIN_EXE_parcelbot"))
        .args(["console", "--script"])
        .arg(&script)
        .args(["--start", "2026-10-01T08:00:00Z"])
        .env("PARCELBOT__DATA_DIR", dir.join("data"))
        .output()
        .expect("runs");
    let _ = std::fs::remove_dir_all(&dir);
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        out.contains("That message is too long for me (10254 characters)"),
        "{out}"
    );
    assert!(
        out.contains("You do not follow any parcel yet"),
        "nothing tracked:\n{out}"
    );
}

#[test]
fn verdicts_seller_messages_evidence_and_forgetting() {
    let out = transcript("fake_and_help.txt");
    assert_says(
        &out,
        "/track RB104729336CN",
        &["Following RB104729336CN", "No tracking events yet"],
    );
    assert_says(
        &out,
        "/wait 9d",
        &["Still no first scan after 7 days", "ask them to ship it now"],
    );
    assert_says(
        &out,
        "/fake RB104729336CN",
        // The simulated carrier knows the label (Cainiao's "not handed over"): awaiting
        // dispatch, past the first-scan window.
        &[
            "has still not handed the parcel over",
            "much longer than normal",
            "open a dispute",
        ],
    );
    assert_says(
        &out,
        "/seller RB104729336CN",
        &[
            "has shown no carrier scan since",
            "send me a working tracking number",
        ],
    );
    assert_says(
        &out,
        "/evidence RB104729336CN",
        &["Tracking number: RB104729336CN", "never scanned", "(no events)"],
    );
    assert_says(
        &out,
        "is UA104729000CN fake?",
        &["economy service that is not tracked abroad"],
    );
    assert_says(&out, "/timezone europe/madrid", &["Europe/Madrid"]);
    assert_says(&out, "/country Spain Madrid", &["Noted: you live in Madrid, ES."]);
    assert_says(&out, "2\n", &["Nothing was deleted."]);
    let first_list = answer_to(&out, "/list");
    assert!(first_list.contains("Your parcels (1)"), "{first_list}");
    assert_says(&out, "1\n", &["I deleted everything about this chat"]);
    assert!(
        out.trim_end()
            .ends_with("You do not follow any parcel yet. Send me a tracking number to start.")
    );
}

/// Issue 15's stories, each compared whole with its snapshot (`<name>.out` beside the
/// script; `UPDATE_EXPECT=1` rewrites them after a wanted change).
#[track_caller]
fn check_snapshot(name: &str, extra: &[(&str, &str)], expected: expect_test::ExpectFile) {
    expected.assert_eq(&transcript_from(name, ISSUE_START, extra));
}

#[test]
fn the_order_date_is_asked_once_and_judges_the_delivery() {
    check_snapshot(
        "order_date.txt",
        &[],
        expect_test::expect_file!["../transcripts/order_date.out"],
    );
}

#[test]
fn a_delivery_elsewhere_is_named_in_the_push_and_keeps_reminders() {
    check_snapshot(
        "suspicion.txt",
        &[],
        expect_test::expect_file!["../transcripts/suspicion.out"],
    );
}

#[test]
fn a_delivery_in_another_country_is_a_red_flag() {
    check_snapshot(
        "other_country.txt",
        &[],
        expect_test::expect_file!["../transcripts/other_country.out"],
    );
}

#[test]
fn protection_dates_are_calendar_days() {
    check_snapshot(
        "dates.txt",
        &[],
        expect_test::expect_file!["../transcripts/dates.out"],
    );
}

#[test]
fn people_s_words_are_understood() {
    check_snapshot(
        "words.txt",
        &[],
        expect_test::expect_file!["../transcripts/words.out"],
    );
}

#[test]
fn delivered_parcels_are_archived_and_push_buttons_answer_numbers() {
    check_snapshot(
        "archive.txt",
        &[],
        expect_test::expect_file!["../transcripts/archive.out"],
    );
}

#[test]
fn a_limit_is_said_once_per_message() {
    check_snapshot(
        "limits.txt",
        &[("PARCELBOT__LIMITS__ACTIVE_PARCELS", "3")],
        expect_test::expect_file!["../transcripts/limits.out"],
    );
}

#[test]
fn silence_is_judged_from_facts() {
    check_snapshot(
        "silence.txt",
        &[],
        expect_test::expect_file!["../transcripts/silence.out"],
    );
}
