//! A conversation on a fresh store with the simulated carrier and no notifier, for the
//! chat adapters' start-up tests (included by path from their `tests/`, as the fakes
//! are shared).

use std::sync::Arc;

use bot_core::clock::SimulatedClock;
use bot_core::conversation::{ChatLimits, Conversation};
use bot_core::engine::{Engine, EngineSettings};
use bot_core::provider::Providers;
use bot_core::provider::sim::SimulatedCarrier;
use bot_core::settings::DatabaseUrl;
use bot_core::store::SqlStore;
use chrono::{TimeZone, Utc};

/// The conversation, its clock at 2026-10-01 08:00 UTC.
pub async fn simulated_conversation(database: &DatabaseUrl) -> Arc<Conversation<SqlStore, SimulatedClock>> {
    let clock = SimulatedClock::new(Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).single().expect("date"));
    let store = Arc::new(SqlStore::connect(database).await.expect("store"));
    let providers = Providers::new(vec![Arc::new(SimulatedCarrier::new(clock.clone()))]);
    let engine = Arc::new(Engine::new(
        store,
        providers,
        clock,
        Vec::new(),
        EngineSettings::default(),
    ));
    Arc::new(Conversation::new(engine, ChatLimits::default()))
}
