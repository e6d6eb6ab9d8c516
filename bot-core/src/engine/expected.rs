//! A stored parcel's journey (legs, where it is, the expected delivery window), read
//! from the store for the status replies, `/list` and the journey picture.

use crate::clock::Clock;
use crate::interpret::journey::{self, Journey, Norms};
use crate::interpret::merge;
use crate::store::{ParcelId, Store, StoreError};

use super::Engine;

impl<S: Store, C: Clock> Engine<S, C> {
    /// The journey of a stored parcel now: its merged events cut into legs, and the
    /// expected delivery window (the first source's estimate that gave one, else the
    /// bot's own from the normal windows).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn journey(&self, parcel: ParcelId) -> Result<Journey, StoreError> {
        let now = self.clock.now();
        let numbers = self.store.parcel_numbers(parcel).await?;
        let events = self.store.parcel_events(parcel).await?;
        let own: Vec<&str> = numbers.iter().map(|n| n.number.as_str()).collect();
        let mut timeline = merge(events, &own);
        for number in numbers.iter().filter(|n| n.linked_from.is_some()) {
            // The handoff is drawn when the new number was linked.
            timeline.link(
                &number.number,
                Some(number.carrier.clone()),
                &[],
                number.created_at,
            );
        }
        // The last-mile number's estimate is the fresher one when there is a handoff.
        let eta = numbers.iter().rev().find_map(|n| n.facts.eta.as_ref());
        let tracked_since = numbers.iter().map(|n| n.created_at).min().unwrap_or(now);
        Ok(journey::journey(
            &timeline,
            eta,
            &Norms::default(),
            tracked_since,
            now,
        ))
    }
}
