//! The command-line contract (`number`, `classify`, `assess`, `track`, bad bytes and
//! extreme inputs), run through the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn parcelbot(args: &[&str], stdin: &str) -> String {
    parcelbot_bytes(args, stdin.as_bytes(), &[]).0
}

/// Runs `parcelbot` with `stdin` as bytes and extra environment; it must succeed.
/// Returns (stdout, stderr).
fn parcelbot_bytes(args: &[&str], stdin: &[u8], vars: &[(&str, &str)]) -> (String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parcelbot"));
    command
        .args(args)
        .env_remove("PARCELBOT_CONFIG")
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("DISCORD_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("parcelbot starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    // Written from a thread: a large input must not block on a full output pipe.
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().expect("parcelbot finishes");
    writer.join().expect("writer thread").expect("stdin written");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8(output.stdout).expect("utf-8 output"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A fresh data directory for the console.
fn data_dir(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    std::env::temp_dir().join(format!("parcelbot_cli_{name}_{}_{nanos}", std::process::id()))
}

#[test]
fn number_json_prints_each_numbers_own_slice_of_the_input() {
    let lines = json_lines(&parcelbot(
        &["number", "--json"],
        "my parcels: RB 1234 5678 5CN, LP00123456789012 thanks\n",
    ));
    let inputs: Vec<&str> = lines.iter().map(|l| l["input"].as_str().unwrap_or("")).collect();
    assert_eq!(inputs, ["RB 1234 5678 5CN", "LP00123456789012"]);
    // Counting, not timing: ten times the numbers on one line is about ten times the
    // output (it was the line's length times the numbers in it).
    let line = |count: usize| {
        (0..count)
            .map(|i| format!("{:04} {:04} 4321", i % 10_000, i / 10_000))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let small = parcelbot(&["number", "--json"], &line(300)).len();
    let large = parcelbot(&["number", "--json"], &line(3_000)).len();
    assert!(
        large <= 12 * small,
        "300 numbers: {small} bytes, 3,000 numbers: {large} bytes"
    );
}

#[test]
fn batches_skip_lines_that_are_not_utf8_and_say_which() {
    let (stdout, stderr) = parcelbot_bytes(
        &["number", "--json"],
        b"RB123456785CN\n\xff\xfe garbage\r\nLP00123456789012\n",
        &[],
    );
    let normalized: Vec<String> = json_lines(&stdout)
        .iter()
        .map(|l| l["normalized"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(normalized, ["RB123456785CN", "LP00123456789012"]);
    assert!(stderr.contains("line 2 skipped: not valid UTF-8"), "{stderr}");
    let (stdout, stderr) =
        parcelbot_bytes(&["classify"], b"Out for delivery\n\xc3\x28\nDelivered\n\x80", &[]);
    assert_eq!(
        stdout,
        "out_for_delivery\tOut for delivery\ndelivered\tDelivered\n"
    );
    assert!(stderr.contains("line 2 skipped"), "{stderr}");
    assert!(stderr.contains("line 4 skipped"), "{stderr}");
}

#[test]
fn the_console_says_a_line_is_not_text_and_goes_on() {
    let data = data_dir("bytes");
    let data_var = data.display().to_string();
    let (stdout, _) = parcelbot_bytes(
        &["console"],
        b"\xff\xfe\n/list\n",
        &[("PARCELBOT__DATA_DIR", &data_var)],
    );
    let _ = std::fs::remove_dir_all(&data);
    let skipped = stdout.find("not UTF-8 text").expect("the bad line is answered");
    let listed = stdout
        .find("You do not follow any parcel")
        .expect("the next line is answered");
    assert!(skipped < listed, "{stdout}");
}

#[test]
fn extreme_starts_and_waits_get_an_answer_not_a_panic() {
    let data = data_dir("extremes");
    std::fs::create_dir_all(&data).expect("data dir");
    let script = data.join("script.txt");
    let huge = format!(
        "/wait {}\n/wait 100000w\n/wait 9999999999999999999d\n",
        "9".repeat(9 << 20)
    );
    std::fs::write(&script, huge).expect("script written");
    let script_arg = script.display().to_string();
    let data_var = data.display().to_string();
    let (stdout, _) = parcelbot_bytes(
        &[
            "console",
            "--script",
            &script_arg,
            "--start",
            "2026-10-01T08:00:00Z",
        ],
        b"",
        &[("PARCELBOT__DATA_DIR", &data_var)],
    );
    assert_eq!(
        stdout.matches("How long?").count(),
        3,
        "{}",
        &stdout[stdout.len().saturating_sub(500)..]
    );
    for start in [
        "+200000-01-01T00:00:00Z",
        "-200000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_parcelbot"))
            .args(["console", "--script", &script_arg, &format!("--start={start}")])
            .env("PARCELBOT__DATA_DIR", &data_var)
            .env_remove("PARCELBOT_CONFIG")
            .output()
            .expect("parcelbot runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{start}: {stderr}");
        assert!(
            stderr.contains("must start between 1970-01-01 and 9998-12-31")
                || stderr.contains("invalid value"),
            "{start}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{start}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&data);
}

fn json_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

#[test]
fn number_json_has_the_contract_fields() {
    let lines = json_lines(&parcelbot(
        &["number", "--json", "RB123456785CN", "no number here"],
        "",
    ));
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!(first["input"], "RB123456785CN");
    assert_eq!(first["normalized"], "RB123456785CN");
    assert_eq!(first["valid"], true);
    assert_eq!(first["format"], "s10");
    assert_eq!(first["carrier"], "China Post");
    assert_eq!(first["check_digit"], "ok");
    assert_eq!(first["service"], "registered");
    assert_eq!(first["country"], "CN");
    assert!(first["suggestions"].as_array().is_some_and(Vec::is_empty));
    assert!(first["note"].as_str().is_some_and(|n| !n.is_empty()));
    let second = &lines[1];
    assert_eq!(second["valid"], false);
    assert_eq!(second["normalized"], Value::Null);
    assert!(
        second["note"]
            .as_str()
            .is_some_and(|n| n.contains("No tracking number"))
    );
}

#[test]
fn number_reads_stdin_lines_and_splits_lists() {
    let lines = json_lines(&parcelbot(
        &["number", "--json"],
        "RB123456785CN, LP00123456789012\n8199123456789012\n",
    ));
    let formats: Vec<&str> = lines
        .iter()
        .map(|l| l["format"].as_str().unwrap_or("null"))
        .collect();
    assert_eq!(formats, ["s10", "cainiao_lp", "aliexpress_order"]);
    assert_eq!(lines[2]["valid"], false);
}

#[test]
fn number_plain_prints_sentences() {
    let output = parcelbot(&["number", "RB12345678SCN"], "");
    assert!(output.contains("Did you mean RB123456785CN?"), "{output}");
}

#[test]
fn classify_json_reads_text_and_optional_language() {
    let lines = json_lines(&parcelbot(
        &["classify", "--json"],
        "Zending is bezorgd\tnl\nOut for delivery\nblah blah\n",
    ));
    let stages: Vec<&Value> = lines.iter().map(|l| &l["stage"]).collect();
    assert_eq!(
        stages,
        [
            &Value::from("delivered"),
            &Value::from("out_for_delivery"),
            &Value::Null
        ]
    );
}

#[test]
fn assess_json_has_the_contract_fields() {
    let case = r#"{"number": "RB123456785CN", "now": "2026-09-20T00:00:00Z", "protection_ends": "2026-09-24T00:00:00Z",
        "events": [{"time": "2026-09-05 10:00:00", "text": "Handed over to airline", "code": "LH_HO_IN_SUCCESS", "source": "cainiao"}]}"#;
    let case = case.replace("2026-09-05 10:00:00", "2026-09-05T10:00:00+08:00");
    let lines = json_lines(&parcelbot(&["assess", "--json"], &case));
    let result = &lines[0];
    assert_eq!(result["stage"], "line_haul");
    assert_eq!(result["silence"]["verdict"], "normal");
    assert_eq!(result["silence"]["days"], 14.9);
    assert_eq!(result["authenticity"]["verdict"], "genuine");
    assert_eq!(result["protection"]["urgency"], "soon");
    assert_eq!(result["protection"]["days_left"], 4.0);
    assert!(result["handoff"].as_array().is_some_and(Vec::is_empty));
    assert!(
        result["last_event_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-09-05T02:00:00"))
    );
    assert!(
        result["summary"]
            .as_str()
            .is_some_and(|s| s.contains("international"))
    );
}

/// Runs `parcelbot` with extra environment and no stdin; returns (success, stdout, stderr).
fn parcelbot_env(args: &[&str], vars: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parcelbot"));
    command.args(args).env_remove("PARCELBOT_CONFIG");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("PARCELBOT__")) {
        command.env_remove(name);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.stdin(Stdio::null()).output().expect("parcelbot runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn track_uses_the_simulated_carrier_when_nothing_is_configured() {
    let (ok, stdout, stderr) = parcelbot_env(&["track", "--json", "RB123456785CN"], &[]);
    assert!(ok, "{stderr}");
    let assessment: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(
        assessment["stage"], "export",
        "two days into a simulated journey: {assessment}"
    );
    assert_eq!(assessment["silence"]["verdict"], "normal");
    assert!(assessment["summary"].as_str().is_some_and(|s| !s.is_empty()));
    for key in [
        "last_event_at",
        "authenticity",
        "protection",
        "handoff",
        "next_step",
    ] {
        assert!(assessment.get(key).is_some(), "{key} missing: {assessment}");
    }
    let (ok, stdout, _) = parcelbot_env(&["track", "RB123456785CN"], &[]);
    assert!(ok);
    assert!(stdout.contains("via sim: found"), "{stdout}");
}

#[test]
fn track_refuses_bad_numbers_and_says_why() {
    let (ok, _, stderr) = parcelbot_env(&["track", "RB123456786CN"], &[]);
    assert!(!ok);
    assert!(stderr.contains("did you mean"), "{stderr}");
    let (ok, _, stderr) = parcelbot_env(&["track", "8199123412341234"], &[]);
    assert!(!ok);
    assert!(stderr.contains("order number"), "{stderr}");
}

#[tokio::test]
async fn track_against_a_fake_cainiao_and_when_it_is_down() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/global/detail.json"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            include_bytes!("../../bot-core/tests/fixtures/cainiao/found.json").to_vec(),
            "application/json",
        ))
        .mount(&server)
        .await;
    let uri = server.uri();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        parcelbot_env(
            &["track", "--json", "AP00839790702074"],
            &[
                ("PARCELBOT__PROVIDERS__ENABLED", "cainiao"),
                ("PARCELBOT__PROVIDERS__CAINIAO__BASE_URL", uri.as_str()),
            ],
        )
    })
    .await
    .expect("joined");
    assert!(ok, "{stderr}");
    let assessment: Value = serde_json::from_str(stdout.trim()).expect("JSON");
    assert_eq!(assessment["stage"], "handed_to_last_mile");
    assert_eq!(assessment["handoff"][0]["number"], "3SCNLA12345678");

    let down = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&down)
        .await;
    let uri = down.uri();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        parcelbot_env(
            &["track", "AP00839790702074"],
            &[
                ("PARCELBOT__PROVIDERS__ENABLED", "cainiao"),
                ("PARCELBOT__PROVIDERS__CAINIAO__BASE_URL", uri.as_str()),
                ("PARCELBOT__PROVIDERS__MAX_RETRIES", "0"),
            ],
        )
    })
    .await
    .expect("joined");
    assert!(!ok, "no provider reachable is a failure: {stdout}");
    assert!(stderr.contains("no provider could be reached"), "{stderr}");
    assert!(stdout.is_empty(), "no verdict without data: {stdout}");
}

/// A fake provider answering `verb route` with `status` and a JSON `body`.
async fn fake_provider(verb: &str, route: &str, status: u16, body: &[u8]) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method(verb))
        .and(wiremock::matchers::path(route))
        .respond_with(wiremock::ResponseTemplate::new(status).set_body_raw(body.to_vec(), "application/json"))
        .mount(&server)
        .await;
    server
}

/// `parcelbot track <args>` with `env`, off the async runtime.
async fn track(args: &[&str], env: Vec<(&'static str, String)>) -> (bool, String, String) {
    let args: Vec<String> = std::iter::once("track")
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        parcelbot_env(&args, &env)
    })
    .await
    .expect("joined")
}

#[tokio::test]
async fn track_asks_about_an_unknown_shape_and_prints_what_each_source_answered() {
    let cainiao = fake_provider(
        "GET",
        "/global/detail.json",
        200,
        include_bytes!("../../bot-core/tests/fixtures/cainiao/customs_lp_cn.json"),
    )
    .await;
    let ship24 = fake_provider(
        "POST",
        "/public/v1/trackers/track",
        400,
        include_bytes!("../../bot-core/tests/fixtures/ship24/spec_invalid_number.json"),
    )
    .await;
    let env = || {
        vec![
            ("PARCELBOT__PROVIDERS__ENABLED", "cainiao,ship24".to_owned()),
            ("PARCELBOT__PROVIDERS__CAINIAO__BASE_URL", cainiao.uri()),
            ("PARCELBOT__PROVIDERS__SHIP24__BASE_URL", ship24.uri()),
            ("PARCELBOT__PROVIDERS__SHIP24__API_KEY", "test-key".to_owned()),
        ]
    };
    let (ok, stdout, stderr) = track(&["LP00123456789CN"], env()).await;
    assert!(ok, "one source answered: {stderr}");
    assert!(stdout.contains("shape I do not know"), "{stdout}");
    assert!(
        stdout.contains("LP00123456789CN via cainiao: found, 3 events"),
        "{stdout}"
    );
    assert!(
        stdout.contains("LP00123456789CN via ship24: error (invalid_number)"),
        "{stdout}"
    );
    let (ok, stdout, _) = track(&["--json", "LP00123456789CN"], env()).await;
    assert!(ok);
    let assessment: Value = serde_json::from_str(stdout.trim()).expect("JSON");
    assert_eq!(assessment["sources"][0]["outcome"], "found");
    assert_eq!(assessment["sources"][1]["error_kind"], "invalid_number");
}

#[tokio::test]
async fn track_fails_only_when_no_source_answered_and_says_what_each_said() {
    let seventeen = fake_provider(
        "POST",
        "/track/v2.2/gettrackinfo",
        200,
        include_bytes!("../../bot-core/tests/fixtures/seventeen_track/bad_key.json"),
    )
    .await;
    let env = vec![
        ("PARCELBOT__PROVIDERS__ENABLED", "seventeen_track".to_owned()),
        ("PARCELBOT__PROVIDERS__SEVENTEEN_TRACK__BASE_URL", seventeen.uri()),
        (
            "PARCELBOT__PROVIDERS__SEVENTEEN_TRACK__API_KEY",
            "wrong-key".to_owned(),
        ),
    ];
    let (ok, stdout, stderr) = track(&["RB123456785CN"], env).await;
    assert!(!ok, "no source answered: {stdout}");
    assert!(stdout.is_empty(), "no verdict without data: {stdout}");
    assert!(
        stderr.contains("RB123456785CN via seventeen_track: error (unauthorised)"),
        "{stderr}"
    );
}
