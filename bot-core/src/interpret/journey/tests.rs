//! Tests of the journey's legs and the expected delivery window.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::interpret::{Event, merge};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .expect("test time")
}

fn event(time: &str, text: &str) -> Event {
    Event {
        time: DateTime::parse_from_rfc3339(time).expect("test time"),
        text: text.to_owned(),
        location: None,
        code: None,
        source: Some("test".to_owned()),
        number: None,
    }
}

fn journey_of(events: Vec<Event>, eta: Option<&Eta>, now: &str) -> Journey {
    let timeline = merge(events, &["RB104729000CN"]);
    journey(
        &timeline,
        eta,
        &Norms::default(),
        at("2026-11-01T00:00:00Z"),
        at(now),
    )
}

#[test]
fn legs_follow_the_events_and_a_late_old_event_does_not_go_back() {
    let journey = journey_of(
        vec![
            event("2026-11-01T10:00:00Z", "Accepted by carrier"),
            event("2026-11-04T10:00:00Z", "Departed from airport of origin country"),
            event("2026-11-10T10:00:00Z", "Arrived at destination country"),
            event("2026-11-11T10:00:00Z", "Accepted by carrier"),
        ],
        None,
        "2026-11-12T10:00:00Z",
    );
    let legs: Vec<Leg> = journey.legs.iter().map(|span| span.leg).collect();
    assert_eq!(legs, vec![Leg::Origin, Leg::Flight, Leg::Customs], "{journey:?}");
    assert_eq!(journey.legs[0].end, Some(at("2026-11-04T10:00:00Z")));
    assert_eq!(journey.legs[2].end, None);
    assert!(
        (journey.quiet_days() - 1.0).abs() < 0.01,
        "{}",
        journey.quiet_days()
    );
}

#[test]
fn own_window_adds_the_remaining_legs() {
    let journey = journey_of(
        vec![event("2026-11-10T10:00:00Z", "Arrived at destination country")],
        None,
        "2026-11-12T10:00:00Z",
    );
    let expected = journey.expected.expect("a window");
    assert_eq!(expected.from, ExpectedFrom::Normal);
    // Customs 1–7 days, 2 spent: 0–5 left; last mile 2–7.
    assert_eq!(expected.earliest, at("2026-11-14T10:00:00Z"));
    assert_eq!(expected.latest, at("2026-11-24T10:00:00Z"));
}

#[test]
fn a_provider_estimate_wins_unless_it_is_over() {
    let eta = Eta {
        earliest: Some(at("2026-11-20T00:00:00Z")),
        latest: Some(at("2026-11-25T00:00:00Z")),
    };
    let events = vec![event(
        "2026-11-04T10:00:00Z",
        "Departed from airport of origin country",
    )];
    let journey = journey_of(events.clone(), Some(&eta), "2026-11-12T10:00:00Z");
    let expected = journey.expected.expect("a window");
    assert_eq!(expected.from, ExpectedFrom::Provider);
    assert_eq!(expected.latest, at("2026-11-25T00:00:00Z"));
    let late = journey_of(events, Some(&eta), "2026-11-26T10:00:00Z");
    assert_eq!(late.expected.map(|e| e.from), Some(ExpectedFrom::Normal));
}

#[test]
fn delivered_has_no_window_and_an_overdue_leg_keeps_one_day() {
    let delivered = journey_of(
        vec![
            event("2026-11-10T10:00:00Z", "Out for delivery"),
            event("2026-11-10T15:00:00Z", "Delivered"),
        ],
        None,
        "2026-11-12T10:00:00Z",
    );
    assert_eq!(delivered.expected, None);
    assert_eq!(delivered.delivered_at, Some(at("2026-11-10T15:00:00Z")));
    let stuck = journey_of(
        vec![event(
            "2026-11-02T10:00:00Z",
            "Handed over to local courier for delivery",
        )],
        None,
        "2026-11-30T10:00:00Z",
    );
    let expected = stuck.expected.expect("a window");
    assert_eq!(expected.latest - expected.earliest, Duration::days(1));
}

#[test]
fn moves_are_counted_in_days() {
    let window = |earliest: &str, latest: &str| Expected {
        earliest: at(earliest),
        latest: at(latest),
        from: ExpectedFrom::Provider,
    };
    let old = window("2026-11-20T00:00:00Z", "2026-11-25T00:00:00Z");
    assert!(!window("2026-11-21T00:00:00Z", "2026-11-27T00:00:00Z").moved_from(&old, 2));
    assert!(window("2026-11-20T00:00:00Z", "2026-11-28T00:00:00Z").moved_from(&old, 2));
}

#[test]
fn a_provider_estimate_moving_more_than_two_days_is_news() {
    let eta = |earliest: &str, latest: &str| Eta {
        earliest: Some(at(earliest)),
        latest: Some(at(latest)),
    };
    let before = eta("2026-11-20T00:00:00Z", "2026-11-25T00:00:00Z");
    let near = eta("2026-11-21T00:00:00Z", "2026-11-26T00:00:00Z");
    let far = eta("2026-11-24T00:00:00Z", "2026-11-29T00:00:00Z");
    assert_eq!(eta_moved(Some(&before), Some(&near), 2), None);
    let moved = eta_moved(Some(&before), Some(&far), 2).expect("moved");
    assert_eq!(moved.latest, at("2026-11-29T00:00:00Z"));
    assert_eq!(eta_moved(None, Some(&far), 2), None);
    assert_eq!(eta_moved(Some(&before), None, 2), None);
}
