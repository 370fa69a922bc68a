//! The system of record. One `Store` type is the only place that knows SQL; it runs on an
//! embedded SQLite file or on PostgreSQL, chosen by the database URL.
//!
//! The SQL is written once in the dialect both engines accept (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`, BIGINT unix seconds for instants, JSON in TEXT) and dispatched per backend
//! by [`with_db!`]; where the engines differ (transaction start, upserts, bulk loads) the
//! backend is matched explicitly. Each engine has its own migrations folder.
//!
//! Invariants kept here rather than by callers:
//! - every query filters on `tenant_id`;
//! - a slot's `booked` never exceeds its `capacity` (a conditional `UPDATE`, atomic on both
//!   engines, plus a CHECK constraint);
//! - multi-row changes run in one transaction (SQLite ones start `IMMEDIATE`, so two writers
//!   never deadlock on a read-to-write upgrade);
//! - on PostgreSQL, scheduling writes lock rows in one order — the appointment, then slots by
//!   id — so racing changes serialise instead of deadlocking.

mod audit;
mod auth;
mod bulk;
mod cache;
mod conversations;
mod customers;
mod events;
mod integrity;
mod jobs;
mod operator_actions;
mod portal;
mod queue;
mod records;
mod reports;
mod schedule;
mod stream_tokens;
mod tenants;
mod turns;
mod users;
mod webhooks;

pub use audit::*;
pub use auth::*;
pub use bulk::*;
pub use cache::{StaticCache, CACHE_CHANNEL};
pub use conversations::*;
pub use customers::*;
pub use events::*;
pub use integrity::*;
pub use jobs::*;
pub use operator_actions::*;
pub use portal::*;
pub use queue::*;
pub use records::*;
pub use reports::*;
pub use schedule::*;
pub use stream_tokens::*;
pub use tenants::*;
pub use turns::*;
pub use users::*;
pub use webhooks::*;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Errors the store reports. Callers map them to API errors; SQL text never leaves here
/// except in logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("the window is full")]
    WindowFull,
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url `{0}`: use sqlite:... or postgres://...")]
    UnsupportedUrl(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The database could not be reached (pool exhausted or closed, IO): worth a 503, not a 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            )
        )
    }

    /// Map a unique-violation to `Conflict`, keep everything else.
    pub(crate) fn on_unique(e: sqlx::Error, what: &'static str) -> StoreError {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::Database(e),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Handle to the system of record; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Backend,
    /// Wakes this process's event streams after a transaction that emitted events commits.
    pub(crate) hub: Arc<EventHub>,
    /// SQLite has one writer: a transaction waits here for its turn *before* it takes a pooled
    /// connection. Waiting inside SQLite (`BEGIN IMMEDIATE` under the busy timeout) would hold
    /// a connection meanwhile, and enough such waiters empty the pool under the very writer
    /// they wait for, when it needs a connection for a read.
    pub(crate) writer: Arc<tokio::sync::Semaphore>,
}

/// How long a transaction waits for SQLite's writer before the store reports itself busy.
const WRITER_WAIT: Duration = Duration::from_secs(30);

/// A turn at SQLite's writer; dropping it gives the writer back. How long each took to get
/// and was held is measured (`frontdesk_store_writer_{wait,held}_seconds`): with one writer,
/// the time a turn holds it bounds how many turns a second the whole process can run.
pub(crate) struct WriterTurn {
    _permit: tokio::sync::OwnedSemaphorePermit,
    since: std::time::Instant,
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        crate::metrics::record::store_writer_held(self.since.elapsed());
    }
}

impl Store {
    /// Wait for SQLite's writer (see `Store::writer`); PostgreSQL never waits here.
    pub(crate) async fn writer_turn(&self) -> StoreResult<Option<WriterTurn>> {
        if !matches!(self.db, Backend::Sqlite(_)) {
            return Ok(None);
        }
        let asked = std::time::Instant::now();
        match tokio::time::timeout(WRITER_WAIT, self.writer.clone().acquire_owned()).await {
            Ok(Ok(permit)) => {
                let since = std::time::Instant::now();
                crate::metrics::record::store_writer_wait(since - asked);
                Ok(Some(WriterTurn {
                    _permit: permit,
                    since,
                }))
            }
            _ => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    /// A SQLite write transaction: the writer's turn first, then `BEGIN IMMEDIATE` (the write
    /// lock up front). The only way this store opens one (`tests/it/tidy.rs` checks).
    pub(crate) async fn sqlite_write_tx(
        &self,
        pool: &SqlitePool,
    ) -> StoreResult<(Option<WriterTurn>, sqlx::Transaction<'static, sqlx::Sqlite>)> {
        let writer = self.writer_turn().await?;
        Ok((writer, pool.begin_with("BEGIN IMMEDIATE").await?))
    }
}

/// Run the same body against whichever pool backs the store. The body is compiled once per
/// engine, so it must only use SQL both accept.
macro_rules! with_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_db;

/// [`with_db!`] for a statement that writes outside a transaction: on SQLite it first waits
/// for the writer ([`Store::writer`]), so no pooled connection is held while waiting for
/// SQLite's write lock (`tests/it/tidy.rs` checks that every write uses it).
macro_rules! with_writer {
    ($store:expr, $pool:ident => $body:expr) => {{
        let _writer = $store.writer_turn().await?;
        $crate::store::with_db!($store, $pool => $body)
    }};
}
pub(crate) use with_writer;

/// Open a transaction on either engine and run the body with `$tx` bound to it; commits when
/// the body returns `Ok`. SQLite transactions start IMMEDIATE (write lock up front).
macro_rules! with_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Backend::Sqlite(pool) => {
                let (_writer, mut $tx) = $store.sqlite_write_tx(pool).await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use with_tx;

/// Run one `Tx` call in a transaction of its own: begin, await the call, commit, and
/// return its value (`$tx` names the transaction inside the call).
macro_rules! in_tx {
    ($store:expr, $tx:ident => $call:expr) => {{
        let mut $tx = $store.begin().await?;
        let out = $call.await?;
        $tx.commit().await?;
        Ok(out)
    }};
}
pub(crate) use in_tx;

/// A transaction on either engine. Everything a turn writes goes through one of these, so a
/// crash mid-turn leaves nothing half-written. Dropping it without `commit` rolls back.
pub struct Tx {
    pub(crate) inner: TxInner,
    pub(crate) hub: Arc<EventHub>,
    /// Events `emit_event` recorded, written when the transaction commits (streams are woken
    /// after it).
    pub(crate) events: Vec<events::PendingEvent>,
    /// Whether this transaction changed rows the process keeps copies of (`store::cache`):
    /// they are dropped on commit.
    pub(crate) changed_static: bool,
    /// SQLite's writer, held until commit or rollback.
    pub(crate) _writer: Option<WriterTurn>,
}

pub(crate) enum TxInner {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Run the body with `$c` bound to the transaction's connection (`&mut *$c` is an executor).
macro_rules! with_conn {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::store::TxInner::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::store::TxInner::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

impl Tx {
    pub async fn commit(mut self) -> StoreResult<()> {
        let emitted = !self.events.is_empty();
        self.write_events().await?;
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        if self.changed_static {
            self.hub.cache.invalidate();
        }
        if emitted {
            self.hub.wake();
        }
        Ok(())
    }

    /// Record that this transaction changes a tenant's cached rows (`store::cache`): on
    /// PostgreSQL every instance hears it once the transaction commits (`NOTIFY` is
    /// transactional), and this process drops its copies on commit.
    pub(crate) async fn changed_static(&mut self, tenant: i64) -> StoreResult<()> {
        if let TxInner::Postgres(t) = &mut self.inner {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CACHE_CHANNEL)
                .bind(tenant.to_string())
                .execute(&mut **t)
                .await?;
        }
        self.changed_static = true;
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.inner, TxInner::Postgres(_))
    }

    /// The suffix that locks the rows a `SELECT` reads until commit: ` FOR UPDATE` on
    /// PostgreSQL; nothing on SQLite, where the transaction already holds the write lock.
    pub(crate) fn for_update(&self) -> &'static str {
        if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        }
    }
}

/// Unix seconds as a UTC instant (out-of-range values become the epoch).
pub fn ts_pub(secs: i64) -> DateTime<Utc> {
    ts(secs)
}

pub(crate) fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// `NotFound` unless a statement that must change a row changed at least one.
pub(crate) fn changed_some(rows: u64) -> StoreResult<()> {
    if rows == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) fn json_col<T: serde::de::DeserializeOwned>(raw: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) fn parse_col<T: FromStr>(raw: &str, what: &str) -> StoreResult<T> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: `{raw}`")))
}

/// PostgreSQL's own counters, for a benchmark of a server using the database at `url`:
/// transactions committed in that database (reads outside a transaction count too) and the
/// write-ahead log's syncs to disk (the whole PostgreSQL server), so far.
pub async fn pg_commits_and_syncs(url: &str) -> StoreResult<(i64, i64)> {
    use sqlx::Connection as _;
    let mut c = sqlx::PgConnection::connect_with(&PgConnectOptions::from_str(url)?).await?;
    let counts = sqlx::query_as(
        "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), \
         (SELECT wal_sync FROM pg_stat_wal)",
    )
    .fetch_one(&mut c)
    .await?;
    c.close().await?;
    Ok(counts)
}

impl Store {
    /// Connect (creating a SQLite file and its folder if needed) and apply migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Store> {
        let store = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(dir) = opts.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
                }
            }
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let hub = if in_memory {
                Arc::new(EventHub::default())
            } else {
                EventHub::for_sqlite_file(&opts.get_filename().to_string_lossy())
            };
            let pool = SqlitePoolOptions::new()
                // An in-memory database exists once per connection: keep exactly one.
                .max_connections(if in_memory { 1 } else { max_connections.max(1) })
                .min_connections(usize::from(in_memory) as u32)
                .idle_timeout(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .max_lifetime(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .acquire_timeout(Duration::from_secs(30))
                // A file on this machine: no ping (one more hop to the connection's worker
                // thread) before every use.
                .test_before_acquire(false)
                .connect_with(opts)
                .await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Store {
                db: Backend::Sqlite(pool),
                hub,
                writer: Arc::new(tokio::sync::Semaphore::new(1)),
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(30))
                // No ping (a round trip) before every use of a pooled connection: a connection
                // that broke fails its statement instead, and is not returned to the pool;
                // connections idle for a minute are closed rather than trusted.
                .test_before_acquire(false)
                .idle_timeout(Some(Duration::from_secs(60)))
                .connect_with(opts)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Store {
                db: Backend::Postgres(pool),
                hub: EventHub::for_postgres(),
                writer: Arc::new(tokio::sync::Semaphore::new(1)),
            }
        } else {
            return Err(StoreError::UnsupportedUrl(
                url.split(':').next().unwrap_or("").to_string(),
            ));
        };
        Ok(store)
    }

    /// Start a transaction (SQLite: `BEGIN IMMEDIATE`, taking the write lock up front).
    pub async fn begin(&self) -> StoreResult<Tx> {
        let (writer, inner) = match &self.db {
            Backend::Sqlite(pool) => {
                let (writer, tx) = self.sqlite_write_tx(pool).await?;
                (writer, TxInner::Sqlite(tx))
            }
            Backend::Postgres(pool) => (None, TxInner::Postgres(pool.begin().await?)),
        };
        Ok(Tx {
            _writer: writer,
            inner,
            hub: self.hub.clone(),
            events: Vec::new(),
            changed_static: false,
        })
    }

    /// The suffix that makes a claim skip the rows another claim is taking: ` FOR UPDATE
    /// SKIP LOCKED` on PostgreSQL; nothing on SQLite, whose one writer serialises claims.
    pub(crate) fn skip_locked(&self) -> &'static str {
        match self.db {
            Backend::Sqlite(_) => "",
            Backend::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.db {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> StoreResult<()> {
        with_db!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        with_db!(self, pool => pool.close().await)
    }

    /// Write a complete, consistent copy of a SQLite database to `path` (`VACUUM INTO`),
    /// including what is still in its write-ahead log. Copying the file itself is not safe:
    /// after `close` the log may not have been folded back into it yet. Postgres has no file
    /// to copy: `UnsupportedUrl`.
    pub async fn sqlite_copy_to(&self, path: &std::path::Path) -> StoreResult<()> {
        match &self.db {
            Backend::Sqlite(pool) => {
                sqlx::query("VACUUM INTO ?1")
                    .bind(path.to_string_lossy().into_owned())
                    .execute(pool)
                    .await?;
                Ok(())
            }
            Backend::Postgres(_) => Err(StoreError::UnsupportedUrl("postgres".into())),
        }
    }
}
