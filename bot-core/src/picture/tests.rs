//! Tests of the journey picture: the layout (legs, windows, the now line, the expected
//! window) and a real PNG of the right size with those marks in it.

use chrono::DateTime;

use super::*;
use crate::interpret::journey::{Norms, journey};
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

fn in_customs() -> Journey {
    let timeline = merge(
        vec![
            event("2026-11-01T10:00:00Z", "Accepted by carrier"),
            event("2026-11-04T10:00:00Z", "Departed from airport of origin country"),
            event("2026-11-10T10:00:00Z", "Arrived at destination country"),
        ],
        &["RB104729000CN"],
    );
    journey(
        &timeline,
        None,
        &Norms::default(),
        at("2026-11-01T00:00:00Z"),
        at("2026-11-12T10:00:00Z"),
    )
}

#[test]
fn legs_windows_and_the_now_line_are_laid_out_in_time_order() {
    let journey = in_customs();
    let layout = layout(&journey);
    assert_eq!(layout.rows.len(), 5);
    let origin = &layout.rows[0];
    let flight = &layout.rows[2];
    let customs = &layout.rows[3];
    let last_mile = &layout.rows[4];
    let (origin_from, origin_to) = origin.actual.expect("origin entered");
    let (flight_from, flight_to) = flight.actual.expect("flight entered");
    let (customs_from, customs_to) = customs.actual.expect("customs entered");
    assert!(origin_from < origin_to && origin_to <= flight_from, "{layout:?}");
    assert!(
        flight_to <= customs_from && customs_to == layout.now,
        "{layout:?}"
    );
    assert_eq!(layout.rows[1].actual, None, "no export scan");
    assert_eq!(last_mile.actual, None);
    assert!(
        last_mile.normal.0 >= layout.now,
        "the leg ahead lies after now: {layout:?}"
    );
    let (expected_from, expected_to) = layout.expected.expect("a window");
    assert!(
        layout.now <= expected_from && expected_from < expected_to,
        "{layout:?}"
    );
    assert!(!customs.late, "two days of customs is normal");
}

#[test]
fn the_png_is_real_and_shows_the_marks() {
    let journey = in_customs();
    let layout = layout(&journey);
    let png_bytes = render_png(&journey, "headphones (RB104729000CN)", &|t| {
        t.format("%-d %b").to_string()
    })
    .expect("a picture");
    let decoder = png::Decoder::new(png_bytes.as_slice());
    let mut reader = decoder.read_info().expect("a png");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixel = |x: i32, y: i32| {
        let offset = (y as usize * WIDTH as usize + x as usize) * 3;
        RGBColor(pixels[offset], pixels[offset + 1], pixels[offset + 2])
    };
    let flight = &layout.rows[2];
    let (from, to) = flight.actual.expect("flight");
    assert_eq!(pixel((from + to) / 2, flight.top + ROW_HEIGHT / 2), ACTUAL);
    let (from, to) = layout.expected.expect("window");
    assert_eq!(
        pixel((from + to) / 2, layout.delivery_top + ROW_HEIGHT / 2),
        EXPECTED
    );
    assert_eq!(pixel(layout.now, layout.rows[0].top + 2), NOW);
    assert_eq!(pixel(WIDTH as i32 - 3, HEIGHT as i32 - 3), BACKGROUND);
    // Text was drawn: the title area is not all background.
    let inked = (20..400).any(|x| (20..44).any(|y| pixel(x, y) != BACKGROUND));
    assert!(inked, "the title is written");
}
