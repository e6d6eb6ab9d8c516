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
