//! Two OS processes on one SQLite file, as during a rotation: both write concurrently (their
//! kingdoms' batches interleave under WAL + busy_timeout without errors), and an epoch bump made
//! by one process fences the other. The test binary re-executes itself for the second process.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use dominion_persistence::{
    KingdomId, Migrations, PlayerRecord, SqliteStore, Store, StoreError, WriteBatch, load_records,
};

use crate::store::player;

const ROLE_ENV: &str = "DOMINION_TEST_CHILD_DB";
const TEST_NAME: &str = "multiprocess::two_processes_share_one_sqlite_file_and_fence_each_other";

async fn write_many(store: &dyn Store, k: KingdomId, epoch: u64, n: u64) {
    for i in 1..=n {
        let mut b = WriteBatch::new(k);
        b.upsert(player(i % 10, i));
        store.apply(epoch, &b).await.expect("concurrent write");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_sqlite_file_and_fence_each_other() {
    if let Ok(path) = std::env::var(ROLE_ENV) {
        // The second process: writes its own kingdom while the parent writes, then takes over
        // the parent's kingdom (a rotation done from another process).
        let store = SqliteStore::open(&path, Duration::from_secs(10))
            .await
            .expect("child opens");
        let k2 = KingdomId(2);
        let e2 = store.bump_epoch(k2).await.expect("child bump");
        write_many(&store, k2, e2, 300).await;
        let e1 = store
            .bump_epoch(KingdomId(1))
            .await
            .expect("child takes kingdom 1");
        println!("CHILD-OK epoch1={e1}");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.db");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&path, Duration::from_secs(10))
            .await
            .expect("parent opens"),
    );
    let k1 = KingdomId(1);
    let e1 = store.bump_epoch(k1).await.expect("parent bump");
    let exe = std::env::current_exe().expect("test binary");
    let child = tokio::process::Command::from(Command::new(exe))
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads", "1"])
        .env(ROLE_ENV, &path)
        .output();
    let (out, ()) = tokio::join!(child, async {
        // Write while the child writes; stop once the child has taken the kingdom over.
        let mut i = 0u64;
        loop {
            i += 1;
            let mut b = WriteBatch::new(k1);
            b.upsert(player(i % 10, i));
            match store.apply(e1, &b).await {
                Ok(()) => {}
                Err(StoreError::StaleEpoch { held, current, .. }) => {
                    assert_eq!((held, current), (e1, e1 + 1));
                    break;
                }
                Err(e) => panic!("parent write failed: {e}"),
            }
            assert!(i < 1_000_000, "child never fenced the parent");
        }
    });
    let out = out.expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD-OK epoch1=2"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = Migrations::builtin();
    let k2 = load_records::<PlayerRecord>(store.as_ref(), &m, KingdomId(2))
        .await
        .expect("child's data");
    assert_eq!(k2.len(), 10);
    assert_eq!(store.current_epoch(k1).await.expect("epoch"), e1 + 1);
}
