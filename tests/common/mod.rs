//! Shared test harness: a fresh, migrated database per test on either engine, the
//! `store_test!` macro that runs one behaviour test on both, and small fixture worlds.
//!
//! - SQLite: a file in its own temporary folder (WAL, several connections, so concurrency
//!   in tests is real), removed when the test passes.
//! - PostgreSQL: a database created for the test through the admin URL in
//!   `FRONTDESK_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
//!   dropped when the test passes. If the server cannot be reached the test fails; it never
//!   skips. At most a few PostgreSQL test databases exist at once per test process.
//!
//! A failing test keeps its database for inspection (its name is printed); leftovers older
//! than an hour are swept when the next test run starts.

// Not every test module uses every helper.
#![allow(dead_code)]

pub mod agent;
pub mod api;
pub mod app;
pub mod browser;
pub mod otlp;
pub mod smtp;
pub mod stripe;
pub mod twilio;
pub mod voice;
pub mod world;

use frontdesk::store::Store;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::Connection;
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Connections in each test's pool: enough for real concurrency, few enough that parallel
/// tests do not exhaust a shared PostgreSQL server.
pub const POOL_SIZE: u32 = 8;
/// Upper bound on one test body.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const PG_URL_ENV: &str = "FRONTDESK_TEST_PG_URL";
const PREFIX: &str = "ft_";
const STALE_AFTER: Duration = Duration::from_secs(3600);

static COUNTER: AtomicU64 = AtomicU64::new(0);
static PG_SWEPT: AtomicBool = AtomicBool::new(false);
static SQLITE_SWEPT: AtomicBool = AtomicBool::new(false);
/// PostgreSQL test databases alive at once in this process.
static PG_SLOTS: Semaphore = Semaphore::const_new(4);

/// A store on a database that exists for one test only.
pub struct TestDb {
    store: Store,
    url: String,
    place: Option<Place>,
    _permit: Option<SemaphorePermit<'static>>,
}

enum Place {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, name: String },
}

fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{PREFIX}{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether a name made by `unique_name` is older than `STALE_AFTER`.
fn is_stale(name: &str) -> bool {
    let Some(nanos) = name
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.rsplit('_').next())
        .and_then(|n| n.parse::<u128>().ok())
    else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    now.saturating_sub(nanos) > STALE_AFTER.as_nanos()
}

/// The URL with its user info hidden, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// The same server URL pointing at another database (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let server = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

async fn admin_connection(admin_url: &str) -> PgConnection {
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(admin_url)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "PostgreSQL is not reachable at {} ({e}). Start it, or point {PG_URL_ENV} at a server \
             where this user may CREATE DATABASE.",
            redact(admin_url)
        ),
        Err(_) => panic!(
            "PostgreSQL at {} did not answer within 10 s. Start it, or point {PG_URL_ENV} elsewhere.",
            redact(admin_url)
        ),
    }
}

async fn drop_pg_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

/// Drop test databases left behind by earlier runs (failed tests keep theirs).
async fn sweep_stale_pg(conn: &mut PgConnection, admin_url: &str) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'ft\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names.iter().filter(|n| is_stale(n)) {
        if let Err(e) = drop_pg_database(admin_url, name).await {
            eprintln!("could not drop stale test database {name}: {e}");
        }
    }
}

fn sweep_stale_sqlite(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_stale(&name) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl TestDb {
    /// A store on a fresh SQLite file in its own temporary folder.
    pub async fn sqlite() -> TestDb {
        let root = std::env::temp_dir().join("frontdesk-tests");
        if !SQLITE_SWEPT.swap(true, Ordering::SeqCst) {
            sweep_stale_sqlite(&root);
        }
        let dir = root.join(unique_name());
        std::fs::create_dir_all(&dir).expect("create the test database folder");
        let url = format!("sqlite://{}", dir.join("frontdesk.db").display());
        let store = Store::connect(&url, POOL_SIZE)
            .await
            .expect("open and migrate a SQLite test database");
        TestDb {
            store,
            url,
            place: Some(Place::Sqlite { dir }),
            _permit: None,
        }
    }

    /// A store on a PostgreSQL database created for this test.
    pub async fn postgres() -> TestDb {
        let permit = PG_SLOTS
            .acquire()
            .await
            .expect("the test database semaphore is never closed");
        let admin_url = std::env::var(PG_URL_ENV).unwrap_or_else(|_| DEFAULT_PG_URL.to_string());
        let mut admin = admin_connection(&admin_url).await;
        if !PG_SWEPT.swap(true, Ordering::SeqCst) {
            sweep_stale_pg(&mut admin, &admin_url).await;
        }
        let name = unique_name();
        // CREATE DATABASE refuses while someone else is connected to the template; retry.
        let mut attempt = 0;
        loop {
            match sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut admin)
                .await
            {
                Ok(_) => break,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    eprintln!("CREATE DATABASE {name} failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => panic!("could not create test database {name}: {e}"),
            }
        }
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        let store = Store::connect(&url, POOL_SIZE)
            .await
            .expect("connect to and migrate the PostgreSQL test database");
        TestDb {
            store,
            url,
            place: Some(Place::Postgres { admin_url, name }),
            _permit: Some(permit),
        }
    }

    /// The store under test (a cheap clone of the handle).
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    pub fn engine(&self) -> &'static str {
        self.store.backend_name()
    }

    /// The database URL, for code under test that opens its own store.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Run raw SQL on a separate connection, for arranging states the store API cannot
    /// create and for counting rows behind its back. Returns the rows affected.
    pub async fn execute(&self, sql: &str) -> u64 {
        match self.place {
            Some(Place::Sqlite { .. }) => {
                let mut conn = self.sqlite_connection().await;
                sqlx::query(sql)
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("raw SQL `{sql}` failed: {e}"))
                    .rows_affected()
            }
            _ => {
                let mut conn = self.pg_connection().await;
                sqlx::query(sql)
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("raw SQL `{sql}` failed: {e}"))
                    .rows_affected()
            }
        }
    }

    /// A single integer from raw SQL (e.g. a `COUNT(*)`).
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self.place {
            Some(Place::Sqlite { .. }) => {
                let mut conn = self.sqlite_connection().await;
                sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("raw SQL `{sql}` failed: {e}"))
            }
            _ => {
                let mut conn = self.pg_connection().await;
                sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("raw SQL `{sql}` failed: {e}"))
            }
        }
    }

    async fn sqlite_connection(&self) -> SqliteConnection {
        let opts = SqliteConnectOptions::from_str(&self.url)
            .expect("the test SQLite URL parses")
            .busy_timeout(Duration::from_secs(10));
        SqliteConnection::connect_with(&opts)
            .await
            .expect("open a raw SQLite connection")
    }

    async fn pg_connection(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("open a raw PostgreSQL connection")
    }

    /// Run a test body against this database within `TEST_TIMEOUT`.
    pub async fn bounded<F: Future<Output = ()>>(&self, body: F) {
        if tokio::time::timeout(TEST_TIMEOUT, body).await.is_err() {
            panic!(
                "{} test did not finish within {TEST_TIMEOUT:?}",
                self.engine()
            );
        }
    }

    /// Close the store and remove the database.
    pub async fn finish(mut self) {
        self.store.close().await;
        match self.place.take() {
            Some(Place::Sqlite { dir }) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Some(Place::Postgres { admin_url, name }) => {
                if let Err(e) = drop_pg_database(&admin_url, &name).await {
                    eprintln!("could not drop test database {name}: {e}");
                }
            }
            None => {}
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(place) = self.place.take() else {
            return;
        };
        if std::thread::panicking() {
            match &place {
                Place::Sqlite { dir } => {
                    eprintln!(
                        "kept the failed test's SQLite database in {}",
                        dir.display()
                    )
                }
                Place::Postgres { name, .. } => {
                    eprintln!("kept the failed test's PostgreSQL database {name}")
                }
            }
            return;
        }
        match place {
            Place::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Place::Postgres { admin_url, name } => {
                // Drop runs outside async code: use a short-lived runtime on its own thread.
                let _ = std::thread::spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        let _ = rt.block_on(drop_pg_database(&admin_url, &name));
                    }
                })
                .join();
            }
        }
    }
}

/// Define one behaviour test that runs on both engines, each on a fresh database:
///
/// ```ignore
/// store_test!(fn books_a_visit(store: Store) { ... });
/// store_test!(fn counts_rows(db: &TestDb) { let store = db.store(); ... });
/// store_test!(current_thread fn traced(db: &TestDb) { ... });
/// ```
///
/// expands to a module `books_a_visit` with the tests `sqlite` and `postgres`. Tests run on
/// a runtime of four worker threads; `current_thread` runs the test and every task it or the
/// app spawns on the test's own thread, so a subscriber the test installs for its thread
/// (`tracing::subscriber::set_default`) sees every span of the app, and no other test's.
macro_rules! store_test {
    (current_thread $(#[$m:meta])* fn $name:ident($db:ident : &TestDb $(,)?) $body:block) => {
        store_test!(@emit (flavor = "current_thread") $(#[$m])* $name, $db, $body);
    };
    ($(#[$m:meta])* fn $name:ident($store:ident : Store $(,)?) $body:block) => {
        store_test!(@emit (flavor = "multi_thread", worker_threads = 4) $(#[$m])* $name, db, {
            let $store = db.store();
            $body
        });
    };
    ($(#[$m:meta])* fn $name:ident($db:ident : &TestDb $(,)?) $body:block) => {
        store_test!(@emit (flavor = "multi_thread", worker_threads = 4) $(#[$m])* $name, $db, $body);
    };
    (@emit ($($runtime:tt)*) $(#[$m:meta])* $name:ident, $db:ident, $body:block) => {
        $(#[$m])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($db: &$crate::common::TestDb) $body

            #[tokio::test($($runtime)*)]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite().await;
                db.bounded(body(&db)).await;
                db.finish().await;
            }

            #[tokio::test($($runtime)*)]
            async fn postgres() {
                let db = $crate::common::TestDb::postgres().await;
                db.bounded(body(&db)).await;
                db.finish().await;
            }
        }
    };
}

/// Assert that a result is an error matching a pattern, showing what came instead.
macro_rules! assert_err {
    ($result:expr, $pattern:pat) => {{
        let result = $result;
        assert!(
            matches!(result, Err($pattern)),
            "expected Err({}), got {:?}",
            stringify!($pattern),
            result
        );
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_rewritten_and_redacted() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "ft_1"),
            "postgres://u:p@h:5432/ft_1"
        );
        assert_eq!(
            with_database("postgres://h/postgres?sslmode=disable", "ft_1"),
            "postgres://h/ft_1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "ft_1"),
            "postgres://h:5432/ft_1"
        );
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://…@h/db");
        assert!(!is_stale(&unique_name()));
        assert!(is_stale("ft_1_2_1000"));
        assert!(!is_stale("postgres"));
    }
}
