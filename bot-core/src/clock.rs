//! Time as the core sees it. The core never asks the operating system for the time: it is
//! given a [`Clock`], so polling, silences, reminders and the simulated carrier run in
//! simulated time in tests and in the console demo.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Offset, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time. Must never go backwards between two calls on one clock.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to. Clones share one time, so a test (or the
/// console's `/wait`) can advance the clock that the engine and the simulated carrier
/// read.
#[derive(Debug, Clone)]
pub struct SimulatedClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl SimulatedClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> SimulatedClock {
        SimulatedClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the time forward by `by` (a negative duration is ignored: time never goes
    /// backwards).
    pub fn advance(&self, by: Duration) {
        if by > Duration::zero() {
            let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
            *now = now.plus(by);
        }
    }

    /// Moves the time forward to `to`, if it is later than now.
    pub fn advance_to(&self, to: DateTime<Utc>) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        if to > *now {
            *now = to;
        }
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<C: Clock> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        C::now(self)
    }
}

/// Date arithmetic that never panics: a result beyond the calendar chrono can represent
/// (about 262,000 years either side of year 0) is held at its end. Every addition or
/// subtraction of a duration to a time in the core goes through here, since times come
/// from users, providers and the store, and any of them may be extreme.
pub trait Saturating: Sized {
    /// `self + by`, held at the first or last representable moment.
    fn plus(self, by: Duration) -> Self;

    /// `self - by`, held at the first or last representable moment.
    fn minus(self, by: Duration) -> Self;
}

impl Saturating for DateTime<Utc> {
    fn plus(self, by: Duration) -> Self {
        self.checked_add_signed(by).unwrap_or(if by < Duration::zero() {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    }

    fn minus(self, by: Duration) -> Self {
        self.checked_sub_signed(by).unwrap_or(if by < Duration::zero() {
            DateTime::<Utc>::MAX_UTC
        } else {
            DateTime::<Utc>::MIN_UTC
        })
    }
}

impl Saturating for chrono::NaiveDate {
    fn plus(self, by: Duration) -> Self {
        self.checked_add_signed(by).unwrap_or(if by < Duration::zero() {
            chrono::NaiveDate::MIN
        } else {
            chrono::NaiveDate::MAX
        })
    }

    fn minus(self, by: Duration) -> Self {
        self.checked_sub_signed(by).unwrap_or(if by < Duration::zero() {
            chrono::NaiveDate::MAX
        } else {
            chrono::NaiveDate::MIN
        })
    }
}

impl Saturating for Duration {
    fn plus(self, by: Duration) -> Self {
        self.checked_add(&by).unwrap_or(if by < Duration::zero() {
            Duration::MIN
        } else {
            Duration::MAX
        })
    }

    fn minus(self, by: Duration) -> Self {
        self.checked_sub(&by).unwrap_or(if by < Duration::zero() {
            Duration::MAX
        } else {
            Duration::MIN
        })
    }
}

/// The calendar date at `at` in `zone`, held at the first or last representable date
/// when the zone's offset would carry it past the ends of the calendar
/// (`DateTime::date_naive` panics there).
pub fn local_date<Tz: chrono::TimeZone>(at: DateTime<Utc>, zone: &Tz) -> chrono::NaiveDate {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    match at.naive_utc().checked_add_offset(offset) {
        Some(local) => local.date(),
        None if offset.local_minus_utc() > 0 => chrono::NaiveDate::MAX,
        None => chrono::NaiveDate::MIN,
    }
}

#[cfg(test)]
mod tests;
