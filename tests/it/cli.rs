//! The `parcelbot number` contract, run through the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn parcelbot(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parcelbot"))
        .args(args)
        .env_remove("PARCELBOT_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("parcelbot starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    let output = child.wait_with_output().expect("parcelbot finishes");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
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
