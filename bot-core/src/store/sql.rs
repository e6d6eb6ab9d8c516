//! [`SqlStore`]: the [`Store`] over `sqlx::Any`, serving SQLite and PostgreSQL with the
//! same SQL. Times are stored as milliseconds since the epoch in both dialects.
//!
//! Decisions:
//! - SQLite runs in WAL mode with `synchronous=NORMAL` (survives application crashes) and
//!   one connection: SQLite has a single writer anyway, and one connection rules out the
//!   "database is locked" failure of deferred transactions that read, then write.
//! - Leasing on PostgreSQL uses `FOR UPDATE SKIP LOCKED`, so instances sharing a database
//!   never lease the same row; an expired lease is free again (a crashed instance's work
//!   is picked up).
//! - One process per SQLite file: [`SqlStore::connect`] takes an exclusive lock on
//!   `<file>.lock` (an OS file lock, released when the process ends, even by `kill -9`)
//!   and a second process is refused with [`StoreError::InUse`]. Two writers on one
//!   file race their migrations, fail with "database is locked", and send the outbox
//!   twice. PostgreSQL instances share one database by design; their migrations are
//!   serialised by the migrator's advisory lock (`pg_advisory_lock`, taken by sqlx for
//!   the whole run).
//! - SQLite runs with `secure_delete`: deleted rows are overwritten with zeros, so what
//!   `/forget` deletes cannot be read back from the file's free pages.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, Offset, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::{
    BulkParcel, ChatId, ChatRef, ChatSettings, DeliveredDue, DueNumber, Notice, OutboxMessage, ParcelId,
    ParcelNumber, PollRecord, ProtectionDue, QueuedReply, Store, StoreError, Subscribed, SubscriptionId,
    SubscriptionView, UpdateRef,
};
use crate::clock::Saturating;
use crate::interpret::{Event, Stage};
use crate::number::TrackingNumber;
use crate::provider::{ProviderError, RegistrationLedger};
use crate::settings::DatabaseUrl;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Set on every SQLite connection: WAL with NORMAL sync survives application crashes;
/// foreign keys make deletions cascade; a 64 MB page cache (SQLite's default is 2 MB)
/// keeps the indexes a polling round walks in memory instead of rereading them from
/// the file at every statement; `secure_delete` zeroes deleted content (a buyer's
/// forgotten labels and city must not stay readable in free pages).
const SQLITE_PRAGMAS: [&str; 6] = [
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA cache_size=-65536",
    "PRAGMA secure_delete=ON",
];

/// Which SQL dialect the store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (embedded).
    Sqlite,
    /// PostgreSQL (shared).
    Postgres,
}

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// The SQLite file's lock, held as long as any clone of the store lives.
    _lock: Option<Arc<std::fs::File>>,
}

/// The columns of a [`DueNumber`], read by [`due_number`]; callers add the `WHERE`.
const DUE_NUMBER_SELECT: &str = "SELECT t.number, t.parcel_id, p.stage, p.last_event_at, p.created_at, \
     CAST(CASE WHEN EXISTS (SELECT 1 FROM tracking_numbers l WHERE l.linked_from = t.number) \
       THEN 1 ELSE 0 END AS BIGINT), t.source_facts \
     FROM tracking_numbers t JOIN parcels p ON p.id = t.parcel_id";

fn due_number(row: &AnyRow) -> Result<DueNumber, StoreError> {
    Ok(DueNumber {
        number: row.try_get(0).map_err(internal)?,
        parcel: ParcelId(row.try_get(1).map_err(internal)?),
        stage: stage_of(row.try_get(2).map_err(internal)?),
        last_event_at: optional_time(row, 3)?,
        tracked_since: from_millis(row.try_get(4).map_err(internal)?),
        superseded: row.try_get::<i64, _>(5).map_err(internal)? != 0,
        facts: stored_facts(row.try_get(6).map_err(internal)?),
    })
}

fn internal(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Internal(Box::new(error))
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis).single().unwrap_or_default()
}

fn stage_of(code: Option<String>) -> Option<Stage> {
    code.as_deref().and_then(Stage::from_code)
}

impl SqlStore {
    /// Opens the database, creating the SQLite file (and its directory) if needed, and
    /// applies the migrations.
    ///
    /// # Errors
    /// [`StoreError::Internal`] when the database cannot be opened or migrated.
    pub async fn connect(url: &DatabaseUrl) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let mut lock = None;
        let (dialect, pool) = match url {
            DatabaseUrl::Sqlite(url) => {
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or_default();
                let in_memory = path == ":memory:" || path.is_empty();
                if let Some(parent) = Path::new(path).parent()
                    && !parent.as_os_str().is_empty()
                    && !in_memory
                {
                    std::fs::create_dir_all(parent).map_err(internal)?;
                }
                if !in_memory {
                    lock = Some(Arc::new(lock_database(Path::new(path))?));
                }
                let url = if url.contains('?') {
                    url.clone()
                } else {
                    format!("{url}?mode=rwc")
                };
                let pool = AnyPoolOptions::new()
                    .max_connections(1)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            for pragma in SQLITE_PRAGMAS {
                                sqlx::query(pragma).execute(&mut *connection).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(internal)?;
                (Dialect::Sqlite, pool)
            }
            DatabaseUrl::Postgres(url) => {
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .connect(url)
                    .await
                    .map_err(internal)?;
                (Dialect::Postgres, pool)
            }
        };
        let migrator = match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        // On PostgreSQL the migrator holds `pg_advisory_lock` (keyed by the database)
        // from before it creates its table until every migration is applied, so two
        // instances starting together apply each migration once; the second waits,
        // then finds them applied (`postgres_migrations_run_once_when_two_instances_start`).
        debug_assert!(migrator.locking);
        migrator.run(&pool).await.map_err(internal)?;
        if lock.is_some() {
            // This process is the file's only user: every lease in it is a dead
            // process's (a crash, a kill -9). Freeing them now sends the replies and
            // polls it had in flight at once instead of when their leases end.
            for statement in [
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL",
                "UPDATE tracking_numbers SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL",
            ] {
                sqlx::query(statement).execute(&pool).await.map_err(internal)?;
            }
        }
        Ok(SqlStore {
            pool,
            dialect,
            _lock: lock,
        })
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Bulk import for load tests and migrations from another tool: `parcels`, each one
    /// number followed by one chat (`telegram`, chat ids `bulk-<n>`, twenty parcels a
    /// chat), due for polling at `now`. Ids continue from the highest stored ones.
    /// Rows are written in multi-row statements, ten thousand parcels per transaction.
    ///
    /// # Errors
    /// [`StoreError`] when a statement fails (a number already stored, for one).
    pub async fn bulk_import(&self, parcels: &[BulkParcel], now: DateTime<Utc>) -> Result<(), StoreError> {
        // Few rows per statement: SQLite parameters are looked up by name at a cost
        // linear in their count (see `SCHEDULE_CHUNK`).
        const ROWS: usize = 64;
        const PARCELS_PER_CHAT: usize = 20;
        let max = |table: &'static str| {
            let pool = self.pool.clone();
            async move {
                sqlx::query(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"))
                    .fetch_one(&pool)
                    .await
                    .and_then(|row| row.try_get::<i64, _>(0))
                    .map_err(internal)
            }
        };
        let first_parcel = max("parcels").await? + 1;
        let first_chat = max("chats").await? + 1;
        let created = millis(now);
        // PostgreSQL's identity columns take explicit ids only when told so.
        let overriding = match self.dialect {
            Dialect::Postgres => "OVERRIDING SYSTEM VALUE",
            Dialect::Sqlite => "",
        };
        for (chunk_index, chunk) in parcels.chunks(10_000).enumerate() {
            let mut tx = self.pool.begin().await.map_err(internal)?;
            let base = chunk_index * 10_000;
            for (rows_index, rows) in chunk.chunks(ROWS).enumerate() {
                let offset = base + rows_index * ROWS;
                let ids: Vec<i64> = (0..rows.len())
                    .map(|i| first_parcel + (offset + i) as i64)
                    .collect();
                let chats: Vec<i64> = (0..rows.len())
                    .map(|i| first_chat + ((offset + i) / PARCELS_PER_CHAT) as i64)
                    .collect();
                let mut new_chats: Vec<i64> = chats.clone();
                new_chats.dedup();
                let values = |width: usize, count: usize| row_marks(1, width, count);
                let sql = format!(
                    "INSERT INTO chats (id, platform, platform_chat_id, created_at) {overriding} VALUES {} ON CONFLICT DO NOTHING",
                    values(4, new_chats.len())
                );
                let mut query = sqlx::query(&sql);
                for chat in &new_chats {
                    query = query
                        .bind(*chat)
                        .bind("telegram")
                        .bind(format!("bulk-{chat}"))
                        .bind(created);
                }
                query.execute(&mut *tx).await.map_err(internal)?;
                let sql = format!(
                    "INSERT INTO parcels (id, stage, last_event_at, created_at) {overriding} VALUES {}",
                    values(4, rows.len())
                );
                let mut query = sqlx::query(&sql);
                for (id, parcel) in ids.iter().zip(rows) {
                    query = query
                        .bind(*id)
                        .bind(parcel.stage.map(Stage::as_code))
                        .bind(parcel.last_event_at.map(millis))
                        .bind(created);
                }
                query.execute(&mut *tx).await.map_err(internal)?;
                let sql = format!(
                    "INSERT INTO tracking_numbers (number, parcel_id, format, carrier, next_poll_at) VALUES {}",
                    values(5, rows.len())
                );
                let mut query = sqlx::query(&sql);
                for (id, parcel) in ids.iter().zip(rows) {
                    query = query
                        .bind(parcel.number.as_str())
                        .bind(*id)
                        .bind(parcel.number.format())
                        .bind(parcel.number.carrier())
                        .bind(created);
                }
                query.execute(&mut *tx).await.map_err(internal)?;
                let sql = format!(
                    "INSERT INTO subscriptions (chat_id, parcel_id, created_at) VALUES {}",
                    values(3, rows.len())
                );
                let mut query = sqlx::query(&sql);
                for (id, chat) in ids.iter().zip(&chats) {
                    query = query.bind(*chat).bind(*id).bind(created);
                }
                query.execute(&mut *tx).await.map_err(internal)?;
            }
            tx.commit().await.map_err(internal)?;
        }
        if self.dialect == Dialect::Postgres {
            // Explicit ids leave the sequences behind; later inserts must not collide.
            for table in ["parcels", "chats"] {
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
                ))
                .execute(&self.pool)
                .await
                .map_err(internal)?;
            }
        }
        Ok(())
    }

    /// Every table of the bot with its row count, by name (the migrator's own table
    /// left out): what an operator, or a test of `/forget`, checks is gone.
    ///
    /// # Errors
    /// [`StoreError::Internal`] when the database cannot be read.
    pub async fn table_rows(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let catalogue = match self.dialect {
            Dialect::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name <> '_sqlx_migrations' ORDER BY name"
            }
            Dialect::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 AND table_name <> '_sqlx_migrations' ORDER BY table_name"
            }
        };
        let tables: Vec<String> = sqlx::query_scalar(catalogue)
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        let mut counts = Vec::with_capacity(tables.len());
        for table in tables {
            // The name comes from the database's own catalogue, not from input.
            let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&self.pool)
                .await
                .map_err(internal)?;
            counts.push((table, rows));
        }
        Ok(counts)
    }

    /// The versions of the migrations applied, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Internal`] when the database cannot be read.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&self.pool)
            .await
            .map_err(internal)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs an update that must touch a row; none touched is [`StoreError::NotFound`].
    async fn update_one<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<(), StoreError> {
        let touched = query.execute(&self.pool).await.map_err(internal)?.rows_affected();
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// `FOR UPDATE SKIP LOCKED` where the dialect has it.
    fn skip_locked(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }
}

/// Numbers per statement of the registration ledger (17TRACK's batch).
const LEDGER_CHUNK: usize = 40;

impl RegistrationLedger for SqlStore {
    fn registered<'a>(
        &'a self,
        provider: &'static str,
        numbers: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<Vec<String>, ProviderError>> + Send + 'a>> {
        Box::pin(async move {
            let mut known = Vec::new();
            for chunk in numbers.chunks(LEDGER_CHUNK) {
                let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT number FROM provider_registrations WHERE provider = $1 AND number IN ({})",
                    marks.join(", ")
                );
                let mut query = sqlx::query_scalar::<_, String>(&sql).bind(provider);
                for number in chunk {
                    query = query.bind(number.as_str());
                }
                known.extend(query.fetch_all(&self.pool).await.map_err(ledger_error)?);
            }
            Ok(known)
        })
    }

    fn record<'a>(
        &'a self,
        provider: &'static str,
        numbers: &'a [String],
        at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<(), ProviderError>> + Send + 'a>> {
        Box::pin(async move {
            for chunk in numbers.chunks(LEDGER_CHUNK) {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| format!("($1, $2, ${})", i + 3))
                    .collect();
                let sql = format!(
                    "INSERT INTO provider_registrations (provider, registered_at, number) VALUES {} \
                     ON CONFLICT (provider, number) DO NOTHING",
                    rows.join(", ")
                );
                let mut query = sqlx::query(&sql).bind(provider).bind(millis(at));
                for number in chunk {
                    query = query.bind(number.as_str());
                }
                query.execute(&self.pool).await.map_err(ledger_error)?;
            }
            Ok(())
        })
    }
}

/// A ledger failure, as the provider reports it (it then registers nothing).
fn ledger_error(error: sqlx::Error) -> ProviderError {
    ProviderError::Transient(format!("the registration ledger failed: {error}"))
}

impl Store for SqlStore {
    async fn upsert_chat(&self, chat: &ChatRef, now: DateTime<Utc>) -> Result<ChatId, StoreError> {
        sqlx::query(
            "INSERT INTO chats (platform, platform_chat_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (platform, platform_chat_id) DO NOTHING",
        )
        .bind(chat.platform())
        .bind(chat.id())
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        self.find_chat(chat).await?.ok_or(StoreError::NotFound)
    }

    async fn subscribe_for(
        &self,
        chat: ChatId,
        number: &TrackingNumber,
        label: Option<&str>,
        user: Option<&str>,
        update: Option<&UpdateRef>,
        now: DateTime<Utc>,
    ) -> Result<Subscribed, StoreError> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        if let Some(update) = update {
            sqlx::query(
                "INSERT INTO handled_updates (platform, update_id, handled_at, replied) VALUES ($1, $2, $3, 0) \
                 ON CONFLICT (platform, update_id) DO NOTHING",
            )
            .bind(&update.platform)
            .bind(&update.id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        }
        let known: Option<i64> =
            sqlx::query_scalar("SELECT parcel_id FROM tracking_numbers WHERE number = $1")
                .bind(number.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
        let (parcel, new_parcel) = match known {
            Some(parcel) => {
                let already: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM subscriptions WHERE chat_id = $1 AND parcel_id = $2")
                        .bind(chat.0)
                        .bind(parcel)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(internal)?;
                if already.is_some() {
                    return Err(StoreError::AlreadySubscribed);
                }
                // A parcel nobody followed any more is polled again.
                sqlx::query(
                    "UPDATE tracking_numbers SET next_poll_at = $1 WHERE parcel_id = $2 AND next_poll_at IS NULL",
                )
                .bind(millis(now))
                .bind(parcel)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
                (parcel, false)
            }
            None => {
                let parcel: i64 =
                    sqlx::query_scalar("INSERT INTO parcels (created_at) VALUES ($1) RETURNING id")
                        .bind(millis(now))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(internal)?;
                sqlx::query(
                    "INSERT INTO tracking_numbers (number, parcel_id, format, carrier, next_poll_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(number.as_str())
                .bind(parcel)
                .bind(number.format())
                .bind(number.carrier())
                .bind(millis(now))
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
                (parcel, true)
            }
        };
        let subscription: i64 = sqlx::query_scalar(
            "INSERT INTO subscriptions (chat_id, parcel_id, label, user_id, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(chat.0)
        .bind(parcel)
        .bind(label)
        .bind(user)
        .bind(millis(now))
        .bind(update.map(UpdateRef::key))
        .fetch_one(&mut *tx)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadySubscribed,
            _ => internal(error),
        })?;
        sqlx::query("INSERT INTO subscription_log (chat_id, created_at) VALUES ($1, $2)")
            .bind(chat.0)
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        sqlx::query("DELETE FROM subscription_log WHERE chat_id = $1 AND created_at < $2")
            .bind(chat.0)
            .bind(millis(now.minus(Duration::days(7))))
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(Subscribed {
            subscription: SubscriptionId(subscription),
            parcel: ParcelId(parcel),
            new_parcel,
        })
    }

    async fn subscriptions(&self, chat: ChatId) -> Result<Vec<SubscriptionView>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.parcel_id, s.label, p.stage, t.number, p.last_event_at, s.protection_ends, \
             s.user_id, s.created_at, s.created_by, s.ordered_at, s.received \
             FROM subscriptions s JOIN parcels p ON p.id = s.parcel_id \
             JOIN tracking_numbers t ON t.parcel_id = s.parcel_id \
             WHERE s.chat_id = $1 ORDER BY s.id, t.linked_from IS NOT NULL, t.number",
        )
        .bind(chat.0)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        let mut views: Vec<SubscriptionView> = Vec::new();
        for row in rows {
            let id: i64 = row.try_get(0).map_err(internal)?;
            let number: String = row.try_get(4).map_err(internal)?;
            match views.last_mut() {
                Some(view) if view.subscription.0 == id => view.numbers.push(number),
                _ => views.push(SubscriptionView {
                    subscription: SubscriptionId(id),
                    parcel: ParcelId(row.try_get(1).map_err(internal)?),
                    numbers: vec![number],
                    label: row.try_get(2).map_err(internal)?,
                    stage: stage_of(row.try_get(3).map_err(internal)?),
                    last_event_at: optional_time(&row, 5)?,
                    protection_ends: optional_time(&row, 6)?,
                    user: row.try_get(7).map_err(internal)?,
                    created_at: from_millis(row.try_get(8).map_err(internal)?),
                    created_by: row.try_get(9).map_err(internal)?,
                    ordered_at: optional_time(&row, 10)?,
                    received: row
                        .try_get::<Option<i64>, _>(11)
                        .map_err(internal)?
                        .map(|received| received != 0),
                }),
            }
        }
        Ok(views)
    }

    async fn unsubscribe(&self, chat: ChatId, parcel: ParcelId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let removed = sqlx::query("DELETE FROM subscriptions WHERE chat_id = $1 AND parcel_id = $2")
            .bind(chat.0)
            .bind(parcel.0)
            .execute(&mut *tx)
            .await
            .map_err(internal)?
            .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        stop_polling_if_unfollowed(&mut tx, parcel.0).await?;
        tx.commit().await.map_err(internal)?;
        Ok(())
    }

    async fn lease_due_numbers(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: i64,
    ) -> Result<Vec<DueNumber>, StoreError> {
        let until = millis(now.plus(lease_for));
        let mut tx = self.pool.begin().await.map_err(internal)?;
        sqlx::query(&format!(
            "UPDATE tracking_numbers SET lease_owner = $1, lease_until = $2 \
             WHERE number IN (SELECT number FROM tracking_numbers \
               WHERE next_poll_at IS NOT NULL AND next_poll_at <= $3 \
               AND (lease_until IS NULL OR lease_until <= $3) \
               ORDER BY next_poll_at LIMIT $4 {})",
            self.skip_locked()
        ))
        .bind(owner)
        .bind(until)
        .bind(millis(now))
        .bind(limit)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        // One read for the whole lease (owner and expiry name it), not one per number.
        let rows = sqlx::query(&format!(
            "{DUE_NUMBER_SELECT} WHERE t.lease_owner = $1 AND t.lease_until = $2 ORDER BY t.next_poll_at, t.number"
        ))
        .bind(owner)
        .bind(until)
        .fetch_all(&mut *tx)
        .await
        .map_err(internal)?;
        let due = rows
            .iter()
            .map(due_number)
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await.map_err(internal)?;
        Ok(due)
    }

    async fn watched_number(&self, number: &str) -> Result<Option<DueNumber>, StoreError> {
        let row = sqlx::query(&format!(
            "{DUE_NUMBER_SELECT} WHERE t.number = $1 AND t.next_poll_at IS NOT NULL"
        ))
        .bind(number)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.as_ref().map(due_number).transpose()
    }

    async fn record_poll(&self, record: PollRecord, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let new_events = self.record_polls(vec![record], now).await?;
        Ok(new_events.into_iter().sum())
    }

    async fn record_polls(
        &self,
        records: Vec<PollRecord>,
        now: DateTime<Utc>,
    ) -> Result<Vec<usize>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let mut new_events = Vec::with_capacity(records.len());
        for record in &records {
            new_events.push(write_poll(&mut tx, record, now).await?);
        }
        for chunk in records.chunks(SCHEDULE_CHUNK) {
            write_schedules(&mut tx, chunk, now).await?;
        }
        tx.commit().await.map_err(internal)?;
        Ok(new_events)
    }

    async fn parcel_events(&self, parcel: ParcelId) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, at, utc_offset_seconds, source, code, text, location FROM events \
             WHERE parcel_id = $1 ORDER BY at, id",
        )
        .bind(parcel.0)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(event_of).collect()
    }

    async fn lease_outbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let until = millis(now.plus(lease_for));
        let mut tx = self.pool.begin().await.map_err(internal)?;
        sqlx::query(&format!(
            "UPDATE outbox SET lease_owner = $1, lease_until = $2 \
             WHERE id IN (SELECT o.id FROM outbox o \
               WHERE o.sent_at IS NULL AND o.dead = 0 AND o.available_at <= $3 \
               AND (o.lease_until IS NULL OR o.lease_until <= $3) \
               AND o.chat_id IN (SELECT c.id FROM chats c WHERE c.reachable = 1) \
               ORDER BY o.id LIMIT $4 {})",
            self.skip_locked()
        ))
        .bind(owner)
        .bind(until)
        .bind(millis(now))
        .bind(limit)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        let rows = sqlx::query(
            "SELECT o.id, c.platform, c.platform_chat_id, o.parcel_id, o.kind, o.payload, o.attempts, s.label, c.time_zone, \
             c.last_channel, c.notify_channel \
             FROM outbox o JOIN chats c ON c.id = o.chat_id \
             LEFT JOIN subscriptions s ON s.chat_id = o.chat_id AND s.parcel_id = o.parcel_id \
             WHERE o.lease_owner = $1 AND o.lease_until = $2 ORDER BY o.id",
        )
        .bind(owner)
        .bind(until)
        .fetch_all(&mut *tx)
        .await
        .map_err(internal)?;
        let messages = rows
            .iter()
            .map(|row| {
                let platform: String = row.try_get(1).map_err(internal)?;
                let chat_id: String = row.try_get(2).map_err(internal)?;
                Ok(OutboxMessage {
                    id: row.try_get(0).map_err(internal)?,
                    chat: ChatRef::new(&platform, &chat_id)?,
                    parcel: row.try_get::<Option<i64>, _>(3).map_err(internal)?.map(ParcelId),
                    kind: row.try_get(4).map_err(internal)?,
                    payload: row.try_get(5).map_err(internal)?,
                    label: row.try_get(7).map_err(internal)?,
                    time_zone: row.try_get(8).map_err(internal)?,
                    attempts: row.try_get(6).map_err(internal)?,
                    last_channel: row.try_get(9).map_err(internal)?,
                    notify_channel: row.try_get(10).map_err(internal)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await.map_err(internal)?;
        Ok(messages)
    }

    async fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET sent_at = $1, lease_owner = NULL, lease_until = NULL, attempts = attempts + 1 \
             WHERE id = $2",
        )
        .bind(millis(now))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(())
    }

    async fn chat_settings(&self, chat: ChatId) -> Result<ChatSettings, StoreError> {
        let row = sqlx::query(
            "SELECT time_zone, country, city, reachable, last_channel, notify_channel FROM chats WHERE id = $1",
        )
            .bind(chat.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?
            .ok_or(StoreError::NotFound)?;
        Ok(ChatSettings {
            id: chat,
            time_zone: row.try_get(0).map_err(internal)?,
            country: row.try_get(1).map_err(internal)?,
            city: row.try_get(2).map_err(internal)?,
            reachable: row.try_get::<i64, _>(3).map_err(internal)? != 0,
            last_channel: row.try_get(4).map_err(internal)?,
            notify_channel: row.try_get(5).map_err(internal)?,
        })
    }

    async fn find_chat(&self, chat: &ChatRef) -> Result<Option<ChatId>, StoreError> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM chats WHERE platform = $1 AND platform_chat_id = $2")
                .bind(chat.platform())
                .bind(chat.id())
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
        Ok(id.map(ChatId))
    }

    async fn set_last_channel(&self, chat: ChatId, channel: &str) -> Result<(), StoreError> {
        self.update_one(
            sqlx::query("UPDATE chats SET last_channel = $1 WHERE id = $2")
                .bind(channel)
                .bind(chat.0),
        )
        .await
    }

    async fn set_notify_channel(&self, chat: ChatId, channel: Option<&str>) -> Result<(), StoreError> {
        self.update_one(
            sqlx::query("UPDATE chats SET notify_channel = $1 WHERE id = $2")
                .bind(channel)
                .bind(chat.0),
        )
        .await
    }

    async fn set_time_zone(&self, chat: ChatId, time_zone: &str) -> Result<(), StoreError> {
        self.update_one(
            sqlx::query("UPDATE chats SET time_zone = $1 WHERE id = $2")
                .bind(time_zone)
                .bind(chat.0),
        )
        .await
    }

    async fn set_place(
        &self,
        chat: ChatId,
        country: Option<&str>,
        city: Option<&str>,
    ) -> Result<(), StoreError> {
        self.update_one(
            sqlx::query("UPDATE chats SET country = $1, city = $2 WHERE id = $3")
                .bind(country)
                .bind(city)
                .bind(chat.0),
        )
        .await
    }

    async fn set_reachable(&self, chat: &ChatRef, reachable: bool) -> Result<(), StoreError> {
        self.update_one(
            sqlx::query("UPDATE chats SET reachable = $1 WHERE platform = $2 AND platform_chat_id = $3")
                .bind(i64::from(reachable))
                .bind(chat.platform())
                .bind(chat.id()),
        )
        .await
    }

    async fn set_protection(
        &self,
        chat: ChatId,
        parcel: ParcelId,
        ends: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.update_one(
            sqlx::query(
                "UPDATE subscriptions SET protection_ends = $1 WHERE chat_id = $2 AND parcel_id = $3",
            )
            .bind(ends.map(millis))
            .bind(chat.0)
            .bind(parcel.0),
        )
        .await
    }

    async fn set_ordered(
        &self,
        chat: ChatId,
        parcel: ParcelId,
        ordered_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.update_one(
            sqlx::query("UPDATE subscriptions SET ordered_at = $1 WHERE chat_id = $2 AND parcel_id = $3")
                .bind(ordered_at.map(millis))
                .bind(chat.0)
                .bind(parcel.0),
        )
        .await
    }

    async fn set_label(&self, chat: ChatId, parcel: ParcelId, label: Option<&str>) -> Result<(), StoreError> {
        self.update_one(
            sqlx::query("UPDATE subscriptions SET label = $1 WHERE chat_id = $2 AND parcel_id = $3")
                .bind(label.map(str::to_owned))
                .bind(chat.0)
                .bind(parcel.0),
        )
        .await
    }

    async fn set_received(
        &self,
        chat: ChatId,
        parcel: ParcelId,
        received: Option<bool>,
    ) -> Result<(), StoreError> {
        self.update_one(
            sqlx::query("UPDATE subscriptions SET received = $1 WHERE chat_id = $2 AND parcel_id = $3")
                .bind(received.map(i64::from))
                .bind(chat.0)
                .bind(parcel.0),
        )
        .await
    }

    async fn delivered_protection_due(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DeliveredDue>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.chat_id, s.parcel_id, s.protection_ends, p.stage, s.received FROM subscriptions s \
             JOIN parcels p ON p.id = s.parcel_id \
             WHERE s.protection_ends > $1 AND s.protection_ends <= $2 \
             AND p.stage = 'delivered' AND (s.received IS NULL OR s.received = 0) \
             ORDER BY s.protection_ends, s.id",
        )
        .bind(millis(from))
        .bind(millis(to))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter()
            .map(|row| {
                Ok(DeliveredDue {
                    due: ProtectionDue {
                        chat: ChatId(row.try_get(0).map_err(internal)?),
                        parcel: ParcelId(row.try_get(1).map_err(internal)?),
                        ends: from_millis(row.try_get(2).map_err(internal)?),
                        stage: stage_of(row.try_get(3).map_err(internal)?),
                    },
                    received: row
                        .try_get::<Option<i64>, _>(4)
                        .map_err(internal)?
                        .map(|received| received != 0),
                })
            })
            .collect()
    }

    async fn parcel_numbers(&self, parcel: ParcelId) -> Result<Vec<ParcelNumber>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.number, t.carrier, t.linked_from, p.created_at, t.source_facts FROM tracking_numbers t \
             JOIN parcels p ON p.id = t.parcel_id WHERE t.parcel_id = $1 \
             ORDER BY t.linked_from IS NOT NULL, t.number",
        )
        .bind(parcel.0)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(parcel_number_of).collect()
    }

    async fn origin_numbers(&self) -> Result<Vec<ParcelNumber>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.number, t.carrier, t.linked_from, p.created_at, t.source_facts FROM tracking_numbers t \
             JOIN parcels p ON p.id = t.parcel_id WHERE t.linked_from IS NULL ORDER BY t.number",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(parcel_number_of).collect()
    }

    async fn subscriptions_since(&self, chat: ChatId, since: DateTime<Utc>) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM subscription_log WHERE chat_id = $1 AND created_at > $2")
            .bind(chat.0)
            .bind(millis(since))
            .fetch_one(&self.pool)
            .await
            .map_err(internal)
    }

    async fn protection_due(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ProtectionDue>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.chat_id, s.parcel_id, s.protection_ends, p.stage FROM subscriptions s \
             JOIN parcels p ON p.id = s.parcel_id \
             WHERE s.protection_ends > $1 AND s.protection_ends <= $2 \
             AND (p.stage IS NULL OR p.stage <> 'delivered') ORDER BY s.protection_ends, s.id",
        )
        .bind(millis(from))
        .bind(millis(to))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter()
            .map(|row| {
                Ok(ProtectionDue {
                    chat: ChatId(row.try_get(0).map_err(internal)?),
                    parcel: ParcelId(row.try_get(1).map_err(internal)?),
                    ends: from_millis(row.try_get(2).map_err(internal)?),
                    stage: stage_of(row.try_get(3).map_err(internal)?),
                })
            })
            .collect()
    }

    async fn enqueue(
        &self,
        chat: ChatId,
        parcel: Option<ParcelId>,
        notice: &Notice,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let scope = parcel.map_or_else(|| "chat".to_owned(), |p| p.0.to_string());
        let queued = sqlx::query(
            "INSERT INTO outbox (chat_id, parcel_id, kind, dedupe_key, payload, created_at, available_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(chat.0)
        .bind(parcel.map(|p| p.0))
        .bind(&notice.kind)
        .bind(format!("{scope}:{}:{}", notice.dedupe_key, chat.0))
        .bind(&notice.payload)
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .map_err(internal)?
        .rows_affected();
        Ok(queued == 1)
    }

    async fn update_answered(&self, update: &UpdateRef) -> Result<bool, StoreError> {
        let answered: Option<i64> =
            sqlx::query_scalar("SELECT replied FROM handled_updates WHERE platform = $1 AND update_id = $2")
                .bind(&update.platform)
                .bind(&update.id)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
        Ok(answered == Some(1))
    }

    async fn complete_update(
        &self,
        update: &UpdateRef,
        replies: &[QueuedReply],
        owner: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        // Wins only where no other handling answered the update first.
        let marked = sqlx::query(
            "INSERT INTO handled_updates (platform, update_id, handled_at, replied) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (platform, update_id) DO UPDATE SET replied = 1, handled_at = $3 \
             WHERE handled_updates.replied = 0",
        )
        .bind(&update.platform)
        .bind(&update.id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(internal)?
        .rows_affected();
        if marked == 0 {
            tx.rollback().await.map_err(internal)?;
            return Ok(None);
        }
        let mut ids = Vec::with_capacity(replies.len());
        for (index, reply) in replies.iter().enumerate() {
            sqlx::query(
                "INSERT INTO chats (platform, platform_chat_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (platform, platform_chat_id) DO NOTHING",
            )
            .bind(reply.chat.platform())
            .bind(reply.chat.id())
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO outbox (chat_id, parcel_id, kind, dedupe_key, payload, created_at, available_at, \
                 lease_owner, lease_until) \
                 SELECT c.id, NULL, 'reply', $1, $2, $3, $3, $4, $5 FROM chats c \
                 WHERE c.platform = $6 AND c.platform_chat_id = $7 RETURNING id",
            )
            .bind(format!("reply:{}:{index}", update.key()))
            .bind(&reply.payload)
            .bind(millis(now))
            .bind(owner)
            .bind(millis(lease_until))
            .bind(reply.chat.platform())
            .bind(reply.chat.id())
            .fetch_one(&mut *tx)
            .await
            .map_err(internal)?;
            ids.push(id);
        }
        // Replays come within minutes; a week of ids is plenty to recognise them.
        sqlx::query("DELETE FROM handled_updates WHERE handled_at < $1")
            .bind(millis(now.minus(Duration::days(7))))
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(Some(ids))
    }

    async fn take_send_slot(
        &self,
        platform: &str,
        window_start: i64,
        limit: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        sqlx::query(
            "INSERT INTO send_budget (platform, window_start, used) VALUES ($1, $2, 0) \
             ON CONFLICT (platform, window_start) DO NOTHING",
        )
        .bind(platform)
        .bind(window_start)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        // The row update is atomic in both dialects: two instances cannot both take the
        // last slot.
        let taken = sqlx::query(
            "UPDATE send_budget SET used = used + 1 WHERE platform = $1 AND window_start = $2 AND used < $3",
        )
        .bind(platform)
        .bind(window_start)
        .bind(limit)
        .execute(&mut *tx)
        .await
        .map_err(internal)?
        .rows_affected();
        sqlx::query("DELETE FROM send_budget WHERE platform = $1 AND window_start < $2")
            .bind(platform)
            .bind(window_start - 60)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(taken == 1)
    }

    async fn defer(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, available_at = $1 WHERE id = $2",
        )
        .bind(millis(at))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: i64,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, \
             last_error = $1, dead = $2, available_at = COALESCE($3, available_at) WHERE id = $4",
        )
        .bind(error.chars().take(500).collect::<String>())
        .bind(i64::from(retry_at.is_none()))
        .bind(retry_at.map(millis))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(())
    }

    async fn forget_chat(&self, chat: ChatId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let parcels: Vec<i64> = sqlx::query_scalar("SELECT parcel_id FROM subscriptions WHERE chat_id = $1")
            .bind(chat.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(internal)?;
        // Explicit deletes rather than cascades: what is forgotten is listed here.
        for statement in [
            "DELETE FROM outbox WHERE chat_id = $1",
            "DELETE FROM subscriptions WHERE chat_id = $1",
            "DELETE FROM subscription_log WHERE chat_id = $1",
            "DELETE FROM chats WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(chat.0)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
        }
        for parcel in parcels {
            forget_parcel_if_unfollowed(&mut tx, parcel).await?;
        }
        tx.commit().await.map_err(internal)?;
        if self.dialect == Dialect::Sqlite {
            // The WAL still holds the pages as they were before the deletion until a
            // checkpoint copies the zeroed ones into the file; truncating it leaves no
            // old copy behind.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
                .map_err(internal)?;
        }
        Ok(())
    }
}

/// Deletes a parcel nobody follows any more, with its numbers, events, queued
/// messages and the providers' registrations of its numbers (`/forget`).
async fn forget_parcel_if_unfollowed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    parcel: i64,
) -> Result<(), StoreError> {
    let followed: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM subscriptions WHERE parcel_id = $1 LIMIT 1")
            .bind(parcel)
            .fetch_optional(&mut **tx)
            .await
            .map_err(internal)?;
    if followed.is_some() {
        return Ok(());
    }
    for statement in [
        "DELETE FROM provider_registrations WHERE number IN \
         (SELECT number FROM tracking_numbers WHERE parcel_id = $1)",
        "DELETE FROM outbox WHERE parcel_id = $1",
        "DELETE FROM events WHERE parcel_id = $1",
        "DELETE FROM tracking_numbers WHERE parcel_id = $1",
        "DELETE FROM parcels WHERE id = $1",
    ] {
        sqlx::query(statement)
            .bind(parcel)
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
    }
    Ok(())
}

/// Takes the exclusive lock of the SQLite file at `database` (`<file>.lock`), writing
/// the process id into it for the operator. The OS drops the lock when the process
/// ends however it ends, so a crash never leaves the data dir locked.
fn lock_database(database: &Path) -> Result<std::fs::File, StoreError> {
    use std::io::Write;
    let mut lock_path = database.as_os_str().to_owned();
    lock_path.push(".lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(internal)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(StoreError::InUse {
                database: database.display().to_string(),
            });
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(internal(error)),
    }
    // The pid is a courtesy for whoever finds the file; the lock is what counts.
    file.set_len(0).map_err(internal)?;
    writeln!(file, "{}", std::process::id()).map_err(internal)?;
    Ok(file)
}

/// Creates the PostgreSQL database `name` on the server of `url` (an existing
/// database's URL). For tests and first set-up; `name` is letters, digits and `_`.
///
/// # Errors
/// [`StoreError::Invalid`] for a bad name; [`StoreError::Internal`] when the server
/// refuses.
pub async fn create_postgres_database(url: &str, name: &str) -> Result<(), StoreError> {
    administer(url, name, "CREATE DATABASE").await
}

/// Drops the PostgreSQL database `name` (after tests), forcing its connections closed.
///
/// # Errors
/// As [`create_postgres_database`].
pub async fn drop_postgres_database(url: &str, name: &str) -> Result<(), StoreError> {
    administer(url, name, "DROP DATABASE IF EXISTS").await
}

async fn administer(url: &str, name: &str, statement: &str) -> Result<(), StoreError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::Invalid("a database name is letters, digits and _"));
    }
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(internal)?;
    let force = if statement.starts_with("DROP") {
        " WITH (FORCE)"
    } else {
        ""
    };
    let result = sqlx::query(&format!("{statement} {name}{force}"))
        .execute(&pool)
        .await
        .map_err(internal);
    pool.close().await;
    result.map(|_| ())
}

/// A parcel nobody follows is not polled any more.
async fn stop_polling_if_unfollowed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    parcel: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE tracking_numbers SET next_poll_at = NULL WHERE parcel_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.parcel_id = $1)",
    )
    .bind(parcel)
    .execute(&mut **tx)
    .await
    .map_err(internal)?;
    Ok(())
}

fn optional_time(row: &AnyRow, index: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(row
        .try_get::<Option<i64>, _>(index)
        .map_err(internal)?
        .map(from_millis))
}

fn parcel_number_of(row: &AnyRow) -> Result<ParcelNumber, StoreError> {
    let facts: Option<String> = row.try_get(4).map_err(internal)?;
    Ok(ParcelNumber {
        number: row.try_get(0).map_err(internal)?,
        carrier: row.try_get(1).map_err(internal)?,
        linked_from: row.try_get(2).map_err(internal)?,
        created_at: from_millis(row.try_get(3).map_err(internal)?),
        facts: stored_facts(facts),
    })
}

/// Reads a `source_facts` column. Written by this code from the same type; anything
/// unreadable means "nothing".
fn stored_facts(json: Option<String>) -> crate::interpret::SourceFacts {
    json.and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// The stored form of a number's source facts: JSON, or NULL when there are none.
fn facts_column(facts: &crate::interpret::SourceFacts) -> Option<String> {
    (!facts.is_empty()).then(|| serde_json::to_string(facts).unwrap_or_default())
}

fn event_of(row: &AnyRow) -> Result<Event, StoreError> {
    let at: i64 = row.try_get(1).map_err(internal)?;
    let offset: i64 = row.try_get(2).map_err(internal)?;
    let offset = i32::try_from(offset)
        .ok()
        .and_then(FixedOffset::east_opt)
        .unwrap_or_else(|| Utc.fix());
    let source: String = row.try_get(3).map_err(internal)?;
    Ok(Event {
        time: from_millis(at).with_timezone(&offset),
        text: row.try_get(5).map_err(internal)?,
        location: row.try_get(6).map_err(internal)?,
        code: row.try_get(4).map_err(internal)?,
        source: (!source.is_empty()).then_some(source),
        number: Some(row.try_get(0).map_err(internal)?),
    })
}

/// One poll's writes inside the caller's transaction (see [`Store::record_poll`]).
/// Placeholders for `rows` rows of `width` values, numbered from `$first`:
/// `($1, $2), ($3, $4)`.
fn row_marks(first: usize, width: usize, rows: usize) -> String {
    (0..rows)
        .map(|row| {
            let marks: Vec<String> = (0..width)
                .map(|column| format!("${}", first + row * width + column))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Numbers rescheduled by one statement. Small on purpose: sqlx looks up every SQLite
/// parameter by name, which costs time linear in the parameter count, so a statement
/// of `n` parameters costs `n²`; 32 rows (129 parameters) keep that negligible.
const SCHEDULE_CHUNK: usize = 32;

/// The polled numbers' next polls, leases released, in one statement: a round's
/// schedules cost one round trip instead of one per number.
async fn write_schedules(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    records: &[PollRecord],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    // VALUES columns are named column1, column2… in both dialects. `keep` = 1 leaves the
    // stored source facts alone (no source answered).
    let sql = format!(
        "UPDATE tracking_numbers SET next_poll_at = polled.next_poll, lease_owner = NULL, lease_until = NULL, \
         last_polled_at = $1, polls = polls + 1, \
         source_facts = CASE WHEN polled.keep = 1 THEN tracking_numbers.source_facts ELSE polled.facts END \
         FROM (SELECT column1 AS number, column2 AS next_poll, column3 AS keep, column4 AS facts \
               FROM (VALUES {}) AS v) AS polled \
         WHERE tracking_numbers.number = polled.number",
        row_marks(2, 4, records.len())
    );
    let mut query = sqlx::query(&sql).bind(millis(now));
    for record in records {
        query = query
            .bind(record.number.as_str())
            .bind(record.next_poll_at.map(millis))
            .bind(i64::from(record.facts.is_none()))
            .bind(record.facts.as_ref().and_then(facts_column));
    }
    query.execute(&mut **tx).await.map_err(internal)?;
    Ok(())
}

async fn write_poll(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    record: &PollRecord,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut new_events = 0;
    for event in &record.events {
        new_events += sqlx::query(
            "INSERT INTO events (parcel_id, number, at, utc_offset_seconds, source, code, text, location) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM parcels WHERE id = $1) \
             ON CONFLICT (parcel_id, number, at, source, text) DO NOTHING",
        )
        .bind(record.parcel.0)
        .bind(event.number.as_deref().unwrap_or(&record.number))
        .bind(event.time.timestamp_millis())
        .bind(i64::from(event.time.offset().local_minus_utc()))
        .bind(event.source.as_deref().unwrap_or_default())
        .bind(event.code.as_deref())
        .bind(&event.text)
        .bind(event.location.as_deref())
        .execute(&mut **tx)
        .await
        .map_err(internal)?
        .rows_affected() as usize;
    }
    if record.parcel_changed {
        sqlx::query("UPDATE parcels SET stage = $1, last_event_at = $2 WHERE id = $3")
            .bind(record.stage.map(Stage::as_code))
            .bind(record.last_event_at.map(millis))
            .bind(record.parcel.0)
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
    }
    for link in &record.links {
        sqlx::query(
            "INSERT INTO tracking_numbers (number, parcel_id, format, carrier, linked_from, next_poll_at) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM parcels WHERE id = $2) \
             ON CONFLICT (number) DO NOTHING",
        )
        .bind(link.number.as_str())
        .bind(record.parcel.0)
        .bind(link.number.format())
        .bind(&link.carrier)
        .bind(&link.linked_from)
        .bind(millis(now))
        .execute(&mut **tx)
        .await
        .map_err(internal)?;
    }
    for notice in &record.notices {
        sqlx::query(
            "INSERT INTO outbox (chat_id, parcel_id, kind, dedupe_key, payload, created_at, available_at) \
             SELECT s.chat_id, s.parcel_id, $1, $2 || ':' || CAST(s.chat_id AS TEXT), $3, $4, $4 \
             FROM subscriptions s WHERE s.parcel_id = $5 \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(&notice.kind)
        .bind(format!("{}:{}", record.parcel.0, notice.dedupe_key))
        .bind(&notice.payload)
        .bind(millis(now))
        .bind(record.parcel.0)
        .execute(&mut **tx)
        .await
        .map_err(internal)?;
    }
    Ok(new_events)
}

/// What the operator's gauges show, counted in one pass per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Tracked numbers per stage code of their parcel (`None`: no event yet).
    pub numbers_by_stage: Vec<(Option<String>, i64)>,
    /// Outbox rows not sent yet and not given up on.
    pub outbox_pending: i64,
    /// Outbox rows given up on (dead-lettered).
    pub outbox_dead: i64,
}

// Operations: the readiness probe and the metrics' counts. Inherent (not on the `Store`
// port) because only the live binary's HTTP server asks, and it holds the SQL store.
impl SqlStore {
    /// Whether the database answers a trivial query.
    ///
    /// # Errors
    /// [`StoreError::Internal`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        Ok(())
    }

    /// Counts tracked numbers by stage and the outbox's pending and dead rows. A scan of
    /// both tables: called by a periodic task, never per scrape.
    ///
    /// # Errors
    /// [`StoreError::Internal`] when the database fails.
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let rows = sqlx::query(
            "SELECT p.stage, CAST(COUNT(*) AS BIGINT) FROM tracking_numbers t \
             JOIN parcels p ON p.id = t.parcel_id GROUP BY p.stage",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        let mut numbers_by_stage = Vec::with_capacity(rows.len());
        for row in &rows {
            numbers_by_stage.push((
                row.try_get::<Option<String>, _>(0).map_err(internal)?,
                row.try_get::<i64, _>(1).map_err(internal)?,
            ));
        }
        let outbox = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL AND dead = 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN dead <> 0 THEN 1 ELSE 0 END), 0) AS BIGINT) FROM outbox",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(internal)?;
        Ok(StoreCounts {
            numbers_by_stage,
            outbox_pending: outbox.try_get(0).map_err(internal)?,
            outbox_dead: outbox.try_get(1).map_err(internal)?,
        })
    }
}
