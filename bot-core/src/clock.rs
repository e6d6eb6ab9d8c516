//! Time as the core sees it. The core never asks the operating system for the time: it is
//! given a [`Clock`], so polling, silences, reminders and the simulated carrier run in
//! simulated time in tests and in the console demo.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

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
            *now += by;
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

#[cfg(test)]
mod tests;
