//! Test harness: opens real backends for the shared suites. SQLite and embedded coordination use
//! temp dirs; MongoDB and Redis come from `DOMINION_TEST_MONGO_URL` / `DOMINION_TEST_REDIS_URL`
//! with a unique database / key prefix per test. A test whose server is not configured skips with
//! a loud message, or fails when `DOMINION_TEST_REQUIRE_SERVICES=1` (CI sets it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dominion_persistence::{
    Coordination, EmbeddedCoordination, MongoStore, RedisCoordination, SqliteStore, Store,
};

/// Env var naming the MongoDB (or SecantusDB) used by tests.
pub const MONGO_ENV: &str = "DOMINION_TEST_MONGO_URL";
/// Env var naming the Redis used by tests.
pub const REDIS_ENV: &str = "DOMINION_TEST_REDIS_URL";

/// A unique suffix per call (time, pid, counter).
pub fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{tag}_{}_{:x}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads a service URL; `None` means skip (after a loud message) unless services are required.
pub fn service_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("DOMINION_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{test}: {var} is not set but DOMINION_TEST_REQUIRE_SERVICES=1");
            }
            eprintln!(
                "\n!!!!! SKIPPED {test}: {var} is not set; this backend was NOT tested. \
                 `source .ci/services.sh` starts the servers. !!!!!\n"
            );
            None
        }
    }
}

/// How to open more handles on the same stored data (a second "process").
pub enum StoreKind {
    Sqlite(tempfile::TempDir),
    Mongo { url: String, db: String },
}

/// A store under test plus what it takes to open another handle on the same data.
pub struct StoreHarness {
    pub store: Arc<dyn Store>,
    pub kind: StoreKind,
}

impl StoreHarness {
    /// Another independent handle (own connections) on the same database.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        match &self.kind {
            StoreKind::Sqlite(dir) => Arc::new(
                SqliteStore::open(dir.path().join("world.db"), Duration::from_secs(5))
                    .await
                    .expect("reopen sqlite"),
            ),
            StoreKind::Mongo { url, db } => Arc::new(
                MongoStore::connect_database(url, Some(db))
                    .await
                    .expect("reopen mongo"),
            ),
        }
    }
}

pub async fn sqlite_store(_test: &str) -> Option<StoreHarness> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("world.db"), Duration::from_secs(5))
        .await
        .expect("open sqlite");
    Some(StoreHarness {
        store: Arc::new(store),
        kind: StoreKind::Sqlite(dir),
    })
}

pub async fn mongo_store(test: &str) -> Option<StoreHarness> {
    let url = service_url(MONGO_ENV, test)?;
    let db = unique("dt");
    let store = MongoStore::connect_database(&url, Some(&db))
        .await
        .expect("connect mongo");
    store.ping().await.expect("mongo answers ping");
    Some(StoreHarness {
        store: Arc::new(store),
        kind: StoreKind::Mongo { url, db },
    })
}

/// A coordination backend under test plus a way to open a second handle on the same state.
pub struct CoordHarness {
    pub coord: Arc<dyn Coordination>,
    pub second: Arc<dyn Coordination>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn embedded_coord(_test: &str) -> Option<CoordHarness> {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = EmbeddedCoordination::open_dir(dir.path())
        .await
        .expect("open embedded");
    let b = EmbeddedCoordination::open_dir(dir.path())
        .await
        .expect("open embedded twice");
    Some(CoordHarness {
        coord: Arc::new(a),
        second: Arc::new(b),
        _dir: Some(dir),
    })
}

pub async fn redis_coord(test: &str) -> Option<CoordHarness> {
    let url = service_url(REDIS_ENV, test)?;
    let prefix = format!("{}:", unique("dt"));
    let a = RedisCoordination::connect(&url, &prefix)
        .await
        .expect("connect redis");
    let b = RedisCoordination::connect(&url, &prefix)
        .await
        .expect("connect redis twice");
    Some(CoordHarness {
        coord: Arc::new(a),
        second: Arc::new(b),
        _dir: None,
    })
}

/// Runs each listed suite function once per backend: `mod sqlite { fn name() }`, `mod mongo {..}`.
#[macro_export]
macro_rules! per_store_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!("sqlite::", stringify!($name));
                    let Some(h) = $crate::common::sqlite_store(test).await else { return };
                    super::$name(h).await;
                }
            )*
        }
        mod mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!("mongo::", stringify!($name));
                    let Some(h) = $crate::common::mongo_store(test).await else { return };
                    super::$name(h).await;
                }
            )*
        }
    };
}

/// Runs each listed suite function once per coordination backend.
#[macro_export]
macro_rules! per_coord_backend {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!("embedded::", stringify!($name));
                    let Some(h) = $crate::common::embedded_coord(test).await else { return };
                    super::$name(h).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!("redis::", stringify!($name));
                    let Some(h) = $crate::common::redis_coord(test).await else { return };
                    super::$name(h).await;
                }
            )*
        }
    };
}
