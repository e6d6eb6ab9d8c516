//! The journey picture: a parcel's [`Journey`] drawn as a PNG (1000×500) a buyer reads
//! at a glance on a phone. One row per leg on a time axis: the leg's normal window
//! shaded, the time it really took as a solid bar, the legs still ahead as their
//! projected windows; a last row with the expected delivery window (or the delivery);
//! a line where the parcel is now, with how long it has been quiet; handoffs to a new
//! number as marks with the number.
//!
//! Drawn with `plotters` on an RGB buffer (1.5 MB, the only large allocation) and
//! written with `png`. Text uses the embedded DejaVu Sans (`bot-core/data/fonts`,
//! Latin and Cyrillic) so nothing depends on the fonts of the machine. The background
//! is a light card with dark text and mid-tone bars, readable in light and dark chat
//! themes alike.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use plotters::prelude::*;

use crate::clock::Saturating;
use crate::interpret::journey::{Journey, Leg};
use crate::messages::{Language, render};

/// The picture's width in pixels.
pub const WIDTH: u32 = 1000;
/// The picture's height in pixels.
pub const HEIGHT: u32 = 500;

/// The embedded font (DejaVu Sans 2.37; licence in `bot-core/data/fonts`).
static FONT: &[u8] = include_bytes!("../data/fonts/DejaVuSans.ttf");
const FONT_NAME: &str = "parcelbot-sans";

/// Left edge of the time axis (leg names are written left of it).
const AXIS_LEFT: i32 = 170;
const AXIS_RIGHT: i32 = WIDTH as i32 - 30;
const FIRST_ROW: i32 = 80;
const ROW_HEIGHT: i32 = 58;

const BACKGROUND: RGBColor = RGBColor(246, 246, 243);
const INK: RGBColor = RGBColor(40, 40, 48);
const FAINT: RGBColor = RGBColor(120, 120, 130);
const NORMAL: RGBColor = RGBColor(203, 220, 236);
const AHEAD: RGBColor = RGBColor(226, 226, 230);
const ACTUAL: RGBColor = RGBColor(46, 110, 180);
const LATE: RGBColor = RGBColor(214, 110, 40);
const EXPECTED: RGBColor = RGBColor(120, 190, 120);
const NOW: RGBColor = RGBColor(200, 40, 60);

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// The embedded font could not be read (a broken build).
    #[error("the embedded font is unreadable")]
    Font,
    /// Drawing failed.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// PNG encoding failed.
    #[error("png encoding failed")]
    Encode(#[source] png::EncodingError),
}

/// One leg's row, in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The leg.
    pub leg: Leg,
    /// The row's top.
    pub top: i32,
    /// The normal window (from, to) on the axis: where the leg normally ends for a leg
    /// entered, the whole projected window for one ahead.
    pub normal: (i32, i32),
    /// The time the leg really took (to now for the current leg), when entered.
    pub actual: Option<(i32, i32)>,
    /// Whether the leg took (or takes) longer than its normal window.
    pub late: bool,
}

/// Where everything goes: the picture's geometry, checked by the tests without
/// reading pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The axis' first and last moments.
    pub span: (DateTime<Utc>, DateTime<Utc>),
    /// One row per leg, in travel order.
    pub rows: Vec<Row>,
    /// The delivery row's top.
    pub delivery_top: i32,
    /// The expected delivery window on the axis.
    pub expected: Option<(i32, i32)>,
    /// The delivery, when delivered.
    pub delivered: Option<i32>,
    /// The "now" line.
    pub now: i32,
    /// Handoffs: where, and the new number.
    pub handoffs: Vec<(i32, String)>,
}

fn days(value: f64) -> Duration {
    Duration::minutes((value * 1440.0).round() as i64)
}

/// Lays the journey out on the axis.
pub fn layout(journey: &Journey) -> Layout {
    let now = journey.now;
    let first = journey
        .legs
        .first()
        .map_or(journey.tracked_since, |leg| leg.start);
    let start = first.min(journey.tracked_since).minus(Duration::days(1));
    // The rows of the legs ahead, projected from the current leg's normal window.
    let current = journey.legs.last();
    let (mut ahead_low, mut ahead_high) = match current {
        Some(span) if span.end.is_none() => {
            let spent = ((now - span.start).num_minutes().max(0) as f64) / 1440.0;
            (
                (span.normal.low_days - spent).max(0.0),
                (span.normal.high_days - spent).max(1.0),
            )
        }
        _ => (0.0, 0.0),
    };
    let mut projected: Vec<(Leg, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let delivered = journey.delivered_at.is_some();
    for span in Leg::ALL {
        if delivered || journey.legs.iter().any(|entered| entered.leg >= span) {
            continue;
        }
        let normal = crate::interpret::journey::Norms::default().of(span);
        let from = now.plus(days(ahead_low));
        ahead_low += normal.low_days;
        ahead_high += normal.high_days;
        projected.push((span, from, now.plus(days(ahead_high))));
    }
    let mut end = now;
    if let Some(expected) = &journey.expected {
        end = end.max(expected.latest);
    }
    if let Some(last) = projected.last() {
        end = end.max(last.2);
    }
    for span in &journey.legs {
        end = end.max(span.start.plus(days(span.normal.high_days)));
    }
    let end = end.plus(Duration::days(1));
    let total = (end - start).num_minutes().max(1) as f64;
    let x = |at: DateTime<Utc>| -> i32 {
        let share = ((at - start).num_minutes() as f64 / total).clamp(0.0, 1.0);
        AXIS_LEFT + (share * f64::from(AXIS_RIGHT - AXIS_LEFT)).round() as i32
    };
    let mut rows = Vec::new();
    for (index, leg) in Leg::ALL.into_iter().enumerate() {
        let top = FIRST_ROW + ROW_HEIGHT * index as i32;
        if let Some(span) = journey.legs.iter().find(|span| span.leg == leg) {
            let until = span.end.unwrap_or(now);
            let normal_end = span.start.plus(days(span.normal.high_days));
            rows.push(Row {
                leg,
                top,
                normal: (x(span.start.plus(days(span.normal.low_days))), x(normal_end)),
                actual: Some((x(span.start), x(until).max(x(span.start) + 2))),
                late: until > normal_end,
            });
        } else if let Some((_, from, to)) = projected.iter().find(|(ahead, _, _)| *ahead == leg) {
            rows.push(Row {
                leg,
                top,
                normal: (x(*from), x(*to)),
                actual: None,
                late: false,
            });
        } else {
            // Skipped (a leg without its own scans): an empty row keeps the order.
            rows.push(Row {
                leg,
                top,
                normal: (AXIS_LEFT, AXIS_LEFT),
                actual: None,
                late: false,
            });
        }
    }
    Layout {
        span: (start, end),
        rows,
        delivery_top: FIRST_ROW + ROW_HEIGHT * Leg::ALL.len() as i32,
        expected: journey.expected.map(|expected| {
            (
                x(expected.earliest),
                x(expected.latest).max(x(expected.earliest) + 3),
            )
        }),
        delivered: journey.delivered_at.map(x),
        now: x(now),
        handoffs: journey
            .handoffs
            .iter()
            .map(|(at, number)| (x(*at), number.clone()))
            .collect(),
    }
}

fn font() -> Result<(), PictureError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FONT_NAME, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(PictureError::Font) }
}

fn draw_error(error: impl std::fmt::Display) -> PictureError {
    PictureError::Draw(error.to_string())
}

fn filled(color: RGBColor) -> ShapeStyle {
    ShapeStyle {
        color: color.to_rgba(),
        filled: true,
        stroke_width: 1,
    }
}

fn stroke(color: RGBColor, width: u32) -> ShapeStyle {
    ShapeStyle {
        color: color.to_rgba(),
        filled: false,
        stroke_width: width,
    }
}

/// Draws `journey` as a PNG. `title` names the parcel; `date` writes a date as the
/// chat reads it (its time zone).
///
/// # Errors
/// [`PictureError`] when the embedded font is unreadable or encoding fails.
pub fn render_png(
    journey: &Journey,
    title: &str,
    date: &dyn Fn(DateTime<Utc>) -> String,
) -> Result<Vec<u8>, PictureError> {
    font()?;
    let language = Language::English;
    let layout = layout(journey);
    let mut buffer = vec![0_u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&BACKGROUND).map_err(draw_error)?;
        let text =
            |size: u32, color: &'static RGBColor| TextStyle::from((FONT_NAME, size).into_font()).color(color);
        root.draw(&Text::new(title.to_owned(), (24, 20), text(24, &INK)))
            .map_err(draw_error)?;
        for row in &layout.rows {
            let middle = row.top + ROW_HEIGHT / 2;
            let name = render(language, &format!("journey.leg.{}", row.leg.as_code()), &[]);
            root.draw(&Text::new(name, (24, middle - 9), text(17, &INK)))
                .map_err(draw_error)?;
            let shade = if row.actual.is_some() { NORMAL } else { AHEAD };
            if row.normal.1 > row.normal.0 {
                root.draw(&Rectangle::new(
                    [
                        (row.normal.0, row.top + 8),
                        (row.normal.1, row.top + ROW_HEIGHT - 8),
                    ],
                    filled(shade),
                ))
                .map_err(draw_error)?;
            }
            if let Some((from, to)) = row.actual {
                let color = if row.late { LATE } else { ACTUAL };
                root.draw(&Rectangle::new(
                    [(from, middle - 9), (to, middle + 9)],
                    filled(color),
                ))
                .map_err(draw_error)?;
            }
        }
        let middle = layout.delivery_top + ROW_HEIGHT / 2;
        root.draw(&Text::new(
            render(language, "journey.delivery", &[]),
            (24, middle - 9),
            text(17, &INK),
        ))
        .map_err(draw_error)?;
        if let (Some((from, to)), Some(expected)) = (layout.expected, journey.expected) {
            root.draw(&Rectangle::new(
                [(from, middle - 12), (to, middle + 12)],
                filled(EXPECTED),
            ))
            .map_err(draw_error)?;
            let words = crate::interpret::journey::window_words(expected.earliest, expected.latest, date);
            let label = render(language, "journey.expected", &[("window", words)]);
            root.draw(&Text::new(label, (AXIS_LEFT, middle + 16), text(14, &INK)))
                .map_err(draw_error)?;
        }
        if let (Some(at), Some(when)) = (layout.delivered, journey.delivered_at) {
            root.draw(&Circle::new((at, middle), 9, filled(EXPECTED)))
                .map_err(draw_error)?;
            let label = render(language, "journey.delivered", &[("date", date(when))]);
            root.draw(&Text::new(label, (at + 14, middle - 8), text(14, &INK)))
                .map_err(draw_error)?;
        }
        for (at, number) in &layout.handoffs {
            let top = layout.rows.last().map_or(FIRST_ROW, |row| row.top);
            root.draw(&PathElement::new(
                vec![(*at, FIRST_ROW), (*at, top + ROW_HEIGHT)],
                stroke(FAINT, 1),
            ))
            .map_err(draw_error)?;
            root.draw(&Text::new(
                render(language, "journey.handoff", &[("number", number.clone())]),
                (*at + 4, top + ROW_HEIGHT - 16),
                text(12, &FAINT),
            ))
            .map_err(draw_error)?;
        }
        // The axis: a date every few days.
        let axis_y = layout.delivery_top + ROW_HEIGHT + 8;
        root.draw(&PathElement::new(
            vec![(AXIS_LEFT, axis_y), (AXIS_RIGHT, axis_y)],
            stroke(FAINT, 1),
        ))
        .map_err(draw_error)?;
        let (start, end) = layout.span;
        let span_days = (end - start).num_days().max(1);
        let step = (span_days / 8).max(1);
        let mut tick = start;
        while tick <= end {
            let share = (tick - start).num_minutes() as f64 / (end - start).num_minutes().max(1) as f64;
            let at = AXIS_LEFT + (share * f64::from(AXIS_RIGHT - AXIS_LEFT)).round() as i32;
            root.draw(&PathElement::new(
                vec![(at, axis_y), (at, axis_y + 5)],
                stroke(FAINT, 1),
            ))
            .map_err(draw_error)?;
            root.draw(&Text::new(date(tick), (at - 20, axis_y + 8), text(12, &FAINT)))
                .map_err(draw_error)?;
            tick = tick.plus(Duration::days(step));
        }
        // Now, and how long the parcel has been quiet.
        if journey.delivered_at.is_none() {
            root.draw(&PathElement::new(
                vec![
                    (layout.now, FIRST_ROW - 6),
                    (layout.now, layout.delivery_top + ROW_HEIGHT),
                ],
                stroke(NOW, 3),
            ))
            .map_err(draw_error)?;
            let quiet = format!("{:.0}", journey.quiet_days().floor());
            let label = render(language, "journey.now", &[("days", quiet)]);
            let x = (layout.now - 60).clamp(AXIS_LEFT, AXIS_RIGHT - 140);
            root.draw(&Text::new(label, (x, FIRST_ROW - 26), text(15, &NOW)))
                .map_err(draw_error)?;
        }
        root.present().map_err(draw_error)?;
    }
    let mut png_bytes = Vec::with_capacity(64 * 1024);
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(PictureError::Encode)?;
        writer.write_image_data(&buffer).map_err(PictureError::Encode)?;
        writer.finish().map_err(PictureError::Encode)?;
    }
    Ok(png_bytes)
}

#[cfg(test)]
mod tests;
