//! The save pipeline with the database down: sends never block, queued batches coalesce (latest
//! write per document wins), failures are counted and retried, and the backlog is written once
//! the database is back. Also: a fenced-out queue stops, and unreachable stores name themselves.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dominion_persistence::{
    KingdomId, Migrations, MongoStore, PlayerRecord, SaveQueue, SaveQueueConfig, SaveStats,
    SqliteStore, Store, StoreConfig, StoreError, WriteBatch, load_records,
};
use dominion_sim::types::ResourceKind;

use crate::store::player;

fn config() -> SaveQueueConfig {
    SaveQueueConfig {
        capacity: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
    }
}

/// Submits 600 batches over 30 players (food = submission number), asserting none blocks.
fn submit_burst(q: &SaveQueue, k: KingdomId) -> Duration {
    let mut worst = Duration::ZERO;
    for i in 1..=600u64 {
        let mut b = WriteBatch::new(k);
        b.upsert(player(i % 30, i));
        let t = Instant::now();
        q.submit(b)
            .expect("submit never fails while the store is merely down");
        worst = worst.max(t.elapsed());
    }
    worst
}

async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn assert_latest_values(store: &dyn Store, k: KingdomId) {
    let players = load_records::<PlayerRecord>(store, &Migrations::builtin(), k)
        .await
        .expect("load");
    assert_eq!(players.len(), 30);
    for p in players {
        let id = p.player.sequence();
        // The last submission for player `id` was the largest i <= 600 with i % 30 == id.
        let expected = if id == 0 { 600 } else { 570 + id };
        assert_eq!(p.resources.get(ResourceKind::Food), expected, "player {id}");
    }
}

fn assert_caught_up(stats: &SaveStats) {
    assert_eq!(stats.queue_depth.load(Ordering::Relaxed), 0);
    assert_eq!(stats.submissions_written.load(Ordering::Relaxed), 600);
    assert!(!stats.failing.load(Ordering::Relaxed));
    assert!(stats.last_success_unix_ms.load(Ordering::Relaxed) > 0);
    // Coalescing: far fewer writes than submissions, and at most 30 documents per write.
    assert!(
        stats.batches_written.load(Ordering::Relaxed) < 100,
        "{stats:?}"
    );
    assert!(stats.overflowed.load(Ordering::Relaxed) > 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_queue_coalesces_and_catches_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("world.db");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&path, Duration::from_millis(30))
            .await
            .expect("open"),
    );
    let k = KingdomId(1);
    let epoch = store.bump_epoch(k).await.expect("bump");

    // Another "process" holds the write lock: every write fails with SQLITE_BUSY.
    let blocker = rusqlite::Connection::open(&path).expect("open blocker");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("lock");

    let q = SaveQueue::spawn(store.clone(), k, epoch, config());
    let stats = q.stats();
    let worst = submit_burst(&q, k);
    assert!(
        worst < Duration::from_millis(50),
        "a submit blocked for {worst:?}"
    );
    wait_for("retries", Duration::from_secs(10), || {
        stats.failures.load(Ordering::Relaxed) >= 3 && stats.retries.load(Ordering::Relaxed) >= 2
    })
    .await;
    assert!(stats.failing.load(Ordering::Relaxed));
    assert_eq!(stats.submissions_written.load(Ordering::Relaxed), 0);
    assert_eq!(stats.queue_depth.load(Ordering::Relaxed), 600);

    // Sends while failing still do not block.
    let mut b = WriteBatch::new(k);
    b.upsert(player(0, 600));
    let t = Instant::now();
    q.submit(b).expect("submit while failing");
    assert!(t.elapsed() < Duration::from_millis(50));

    blocker.execute_batch("ROLLBACK").expect("unlock");
    drop(blocker);
    tokio::time::timeout(Duration::from_secs(10), q.flush())
        .await
        .expect("flush in time")
        .expect("flush");
    assert_eq!(stats.submitted.load(Ordering::Relaxed), 601);
    // The whole backlog went out coalesced: 601 submissions over 30 documents in a few writes.
    assert!(
        stats.batches_written.load(Ordering::Relaxed) <= 3,
        "{stats:?}"
    );
    assert!(stats.ops_written.load(Ordering::Relaxed) <= 90, "{stats:?}");
    assert!(stats.overflowed.load(Ordering::Relaxed) > 0, "{stats:?}");
    assert_eq!(stats.queue_depth.load(Ordering::Relaxed), 0);
    assert!(!stats.failing.load(Ordering::Relaxed));
    assert_latest_values(store.as_ref(), k).await;
    q.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_happy_path_and_shutdown_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("w.db"), Duration::from_secs(1))
            .await
            .expect("open"),
    );
    let k = KingdomId(2);
    let epoch = store.bump_epoch(k).await.expect("bump");
    let q = SaveQueue::spawn(store.clone(), k, epoch, config());
    let stats = q.stats();
    submit_burst(&q, k);
    assert!(matches!(
        q.submit(WriteBatch::new(KingdomId(3))),
        Err(StoreError::Invalid(_))
    ));
    q.shutdown().await.expect("shutdown flushes");
    assert_caught_up(&stats);
    assert_eq!(stats.failures.load(Ordering::Relaxed), 0);
    assert_latest_values(store.as_ref(), k).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_out_queue_stops_and_reports_stale_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("w.db");
    let old: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&path, Duration::from_secs(1))
            .await
            .expect("open"),
    );
    let new: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&path, Duration::from_secs(1))
            .await
            .expect("open"),
    );
    let k = KingdomId(4);
    let epoch = old.bump_epoch(k).await.expect("bump");
    let q = SaveQueue::spawn(old.clone(), k, epoch, config());
    let mut b = WriteBatch::new(k);
    b.upsert(player(1, 1));
    q.submit(b).expect("submit");
    q.flush().await.expect("written while owner");
    assert_eq!(new.bump_epoch(k).await.expect("rotate"), epoch + 1);
    let mut b = WriteBatch::new(k);
    b.upsert(player(1, 2));
    q.submit(b).expect("submit before the queue learns");
    match q.flush().await {
        Err(StoreError::StaleEpoch { held, current, .. }) => {
            assert_eq!((held, current), (epoch, epoch + 1))
        }
        other => panic!("expected StaleEpoch, got {other:?}"),
    }
    assert!(q.stats().fenced.load(Ordering::Relaxed));
    assert!(matches!(
        q.submit(WriteBatch::new(k)),
        Err(StoreError::StaleEpoch { .. })
    ));
    let players = load_records::<PlayerRecord>(new.as_ref(), &Migrations::builtin(), k)
        .await
        .expect("load");
    assert_eq!(
        players[0].resources.get(ResourceKind::Food),
        1,
        "stale save did not land"
    );
}

#[tokio::test]
async fn unreachable_mongo_is_a_clear_error_without_password() {
    let cfg = StoreConfig::from_url(
        "mongodb://admin:hunter2@127.0.0.1:1/game?serverSelectionTimeoutMS=200",
    )
    .expect("url");
    let store = cfg.open().await.expect("client creation is lazy");
    let err = store.ping().await.expect_err("nothing listens on port 1");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            StoreError::Unavailable {
                backend: "mongodb",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(err.is_retryable());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Server(Child);
impl Server {
    /// Starts SecantusDB on `port`, keeping its data in `dir`.
    fn start(bin: &str, port: u16, dir: &std::path::Path) -> Server {
        Server(
            Command::new(bin)
                .args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--storage-path",
                ])
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start secantusd"),
        )
    }
}
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The owner took epoch 1 while MongoDB was up; then MongoDB went down and the queue was started
/// (as `serve` does: bump the epoch, then start saving); MongoDB comes back on the same data. The
/// queue keeps every send non-blocking, coalesces, and writes the backlog once the server
/// answers. The epoch is taken before the queue exists, so its first write can never race the
/// owner's bump. Needs the SecantusDB server binary in `DOMINION_TEST_SECANTUSD`
/// (`.ci/services.sh` exports it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_down_then_up_queue_catches_up() {
    let Some(bin) = crate::common::service_url(
        "DOMINION_TEST_SECANTUSD",
        "mongo_down_then_up_queue_catches_up",
    ) else {
        return;
    };
    let port = free_port();
    let url =
        format!("mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=300&connectTimeoutMS=300");
    let store: Arc<dyn Store> = Arc::new(
        MongoStore::connect_database(&url, Some("down_up"))
            .await
            .expect("lazy client"),
    );
    let k = KingdomId(1);
    let dir = tempfile::tempdir().expect("tempdir");

    // Up: the owner takes its epoch (journaled, so it survives the server's death).
    let server = Server::start(&bin, port, dir.path());
    let t = Instant::now();
    let epoch = loop {
        match store.bump_epoch(k).await {
            Ok(e) => break e,
            Err(_) if t.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("server did not come up: {e}"),
        }
    };
    assert_eq!(epoch, 1);

    // Down.
    drop(server);
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable { .. })
    ));
    let q = SaveQueue::spawn(store.clone(), k, epoch, config());
    let stats = q.stats();
    let worst = submit_burst(&q, k);
    assert!(
        worst < Duration::from_millis(50),
        "a submit blocked for {worst:?}"
    );
    wait_for("failures", Duration::from_secs(20), || {
        stats.failures.load(Ordering::Relaxed) >= 2
    })
    .await;
    assert_eq!(stats.submissions_written.load(Ordering::Relaxed), 0);

    // Up again on the same data: the queue's retries find it by themselves.
    let _server = Server::start(&bin, port, dir.path());
    tokio::time::timeout(Duration::from_secs(30), q.flush())
        .await
        .expect("flush in time")
        .expect("flush");
    assert_caught_up(&stats);
    assert!(stats.failures.load(Ordering::Relaxed) >= 2);
    assert_latest_values(store.as_ref(), k).await;
    assert_eq!(store.bump_epoch(k).await.expect("bump"), epoch + 1);
}
