//! The Store behavioural suite, run against SQLite and MongoDB.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bson::doc;
use dominion_persistence::migrate::{plan_migrations, players_v1_to_v2};
use dominion_persistence::{
    Collection, KingdomId, MapObjectKind, MapObjectRecord, MarchPhase, MarchPurpose, MarchRecord,
    Migrations, PlayerRecord, Snapshot, SnapshotPart, StoreError, StoredDoc, WorldMetaRecord,
    WriteBatch, get_or_create_account, load_records,
};
use dominion_sim::types::{ObjectId, PlayerId, ResourceKind, Resources, TilePos, Troops};

use crate::common::StoreHarness;

per_store_backend!(
    records_round_trip_upsert_and_delete,
    loads_are_scoped_by_kingdom,
    stale_epoch_writer_is_rejected,
    epoch_bump_races_with_writes_without_lost_fencing,
    old_version_document_loads_and_migrates_once,
    dry_run_plans_without_writing,
    corrupt_and_future_documents_are_named,
    accounts_get_one_id_per_openid,
    chunked_snapshot_round_trip,
    racing_takes_of_the_epoch_leave_exactly_one_owner,
    a_store_that_can_hold_a_kingdom_passes_the_start_check,
    guilds_and_their_chat_are_written_with_the_world_and_deleted_with_the_guild,
);

pub fn player(id: u64, food: u64) -> PlayerRecord {
    PlayerRecord {
        player: PlayerId::compose(id, 1),
        name: format!("p{id}"),
        city_id: ObjectId(id + 5_000_000),
        city: TilePos::new((id % 1200) as u16, (id / 1200 % 1200) as u16),
        troops: Troops(vec![100, 50, 0, 7]),
        wounded: Troops(vec![1]),
        resources: Resources([food, 2, 3, u64::MAX]),
        alliance: id.is_multiple_of(3).then_some(id / 3),
        grants: dominion_persistence::GrantsRecord {
            floor: id,
            applied: vec![id, id + 2],
        },
        relocated_at: None,
    }
}

pub fn march(id: u64) -> MarchRecord {
    MarchRecord {
        id: ObjectId(id),
        owner: PlayerId::compose(id % 1000, 1),
        home: ObjectId(id + 2_000_000),
        purpose: MarchPurpose::Gather,
        target: ObjectId(id + 1_000_000),
        phase: if id.is_multiple_of(2) {
            MarchPhase::Returning
        } else {
            MarchPhase::Gathering {
                field: ObjectId(id + 1_000_000),
                since: id,
                amount: 5_000,
            }
        },
        path: vec![
            TilePos::new(1, 2),
            TilePos::new(40, 2),
            TilePos::new(40, 90),
        ],
        depart_tick: id,
        speed: 120,
        next_event: id + 300,
        troops: Troops(vec![1000, 200]),
        wounded: Troops(vec![3]),
        carried: Resources([0, 10, 0, 0]),
    }
}

pub fn object(id: u64) -> MapObjectRecord {
    let kind = match id % 3 {
        0 => MapObjectKind::ResourceField {
            resource: ResourceKind::Wood,
            level: 3,
            remaining: 40_000,
        },
        1 => MapObjectKind::Monster {
            kind: (id % 10) as u16,
            level: 9,
        },
        2 if id.is_multiple_of(2) => MapObjectKind::CitySlot,
        _ => MapObjectKind::City {
            owner: PlayerId::compose(id, 1),
        },
    };
    MapObjectRecord {
        id: ObjectId(id),
        tile: TilePos::new((id % 1200) as u16, (id / 1200 % 1200) as u16),
        kind,
    }
}

fn sorted<T: Clone, K: Ord>(mut v: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    v.sort_by_key(key);
    v
}

async fn records_round_trip_upsert_and_delete(h: StoreHarness) {
    let s = h.store.as_ref();
    let k = KingdomId(11);
    let m = Migrations::builtin();
    let epoch = s.bump_epoch(k).await.expect("bump");
    assert_eq!(epoch, 1);
    let mut b = WriteBatch::new(k);
    for i in 0..20 {
        b.upsert(player(i, i * 10));
        b.upsert(march(i));
        b.upsert(object(i));
    }
    let meta = WorldMetaRecord {
        tick: 123_456,
        seed: u64::MAX - 1,
        config_version: "cfg-abc".into(),
        next_object_id: 77,
        battles: 5,
        respawns: Vec::new(),
        respawn_next_seq: 3,
        config_number: 2,
        waiting_commands: vec![0, 0, 0, 0],
        command_next_seq: 9,
    };
    b.upsert(meta.clone());
    assert_eq!(b.len(), 61);
    s.apply(epoch, &b).await.expect("apply");

    let players = sorted(
        load_records::<PlayerRecord>(s, &m, k)
            .await
            .expect("players"),
        |p| p.player,
    );
    assert_eq!(
        players,
        (0..20).map(|i| player(i, i * 10)).collect::<Vec<_>>()
    );
    let marches = sorted(
        load_records::<MarchRecord>(s, &m, k)
            .await
            .expect("marches"),
        |m| m.id,
    );
    assert_eq!(marches, (0..20).map(march).collect::<Vec<_>>());
    let objects = sorted(
        load_records::<MapObjectRecord>(s, &m, k)
            .await
            .expect("objects"),
        |o| o.id,
    );
    assert_eq!(objects, (0..20).map(object).collect::<Vec<_>>());
    assert_eq!(
        load_records::<WorldMetaRecord>(s, &m, k)
            .await
            .expect("meta"),
        vec![meta]
    );

    // Overwrite some, delete others, in one batch; an upsert then delete of one id keeps the delete.
    let mut b = WriteBatch::new(k);
    b.upsert(player(3, 999));
    b.delete::<MarchRecord>("4");
    b.upsert(march(5));
    b.delete::<MarchRecord>("5");
    b.delete::<MapObjectRecord>("does-not-exist");
    s.apply(epoch, &b).await.expect("apply 2");
    let players = load_records::<PlayerRecord>(s, &m, k)
        .await
        .expect("players");
    assert_eq!(players.len(), 20);
    assert_eq!(
        players
            .iter()
            .find(|p| p.player == PlayerId::compose(3, 1))
            .map(|p| p.resources.get(ResourceKind::Food)),
        Some(999)
    );
    let marches = load_records::<MarchRecord>(s, &m, k)
        .await
        .expect("marches");
    assert_eq!(marches.len(), 18);
    assert!(
        !marches
            .iter()
            .any(|m| m.id == ObjectId(4) || m.id == ObjectId(5))
    );

    // Another handle (a second process) sees the same data.
    let other = h.reopen().await;
    assert_eq!(
        load_records::<MarchRecord>(other.as_ref(), &m, k)
            .await
            .expect("reopen")
            .len(),
        18
    );
}

async fn loads_are_scoped_by_kingdom(h: StoreHarness) {
    let s = h.store.as_ref();
    let m = Migrations::builtin();
    for k in [1, 2] {
        let e = s.bump_epoch(KingdomId(k)).await.expect("bump");
        let mut b = WriteBatch::new(KingdomId(k));
        for i in 0..(k as u64 * 3) {
            b.upsert(object(i));
        }
        s.apply(e, &b).await.expect("apply");
    }
    assert_eq!(
        load_records::<MapObjectRecord>(s, &m, KingdomId(1))
            .await
            .expect("k1")
            .len(),
        3
    );
    assert_eq!(
        load_records::<MapObjectRecord>(s, &m, KingdomId(2))
            .await
            .expect("k2")
            .len(),
        6
    );
    assert!(
        load_records::<MapObjectRecord>(s, &m, KingdomId(3))
            .await
            .expect("k3")
            .is_empty()
    );
    // Kingdoms have independent epochs.
    assert_eq!(s.current_epoch(KingdomId(1)).await.expect("e1"), 1);
    assert_eq!(s.current_epoch(KingdomId(3)).await.expect("e3"), 0);
}

async fn stale_epoch_writer_is_rejected(h: StoreHarness) {
    let k = KingdomId(5);
    let m = Migrations::builtin();
    let old = h.store.clone();
    let new = h.reopen().await;

    // Nobody owns the kingdom yet: even epoch 0 writes are refused.
    let mut b = WriteBatch::new(k);
    b.upsert(player(1, 1));
    match old.apply(0, &b).await {
        Err(StoreError::StaleEpoch {
            held: 0,
            current: 0,
            ..
        }) => {}
        other => panic!("write to unowned kingdom: {other:?}"),
    }

    old.acquire_epoch(k, 7).await.expect("old acquires 7");
    old.apply(7, &b).await.expect("old writes with 7");

    // Rotation: the new instance takes the next epoch.
    let e = new.bump_epoch(k).await.expect("new bumps");
    assert_eq!(e, 8);

    // The old instance's write, with upserts and deletes, is rejected whole.
    let mut stale = WriteBatch::new(k);
    stale
        .upsert(player(1, 666))
        .upsert(player(2, 666))
        .delete::<PlayerRecord>(&PlayerId::compose(1, 1).0.to_string());
    let err = old
        .apply(7, &stale)
        .await
        .expect_err("stale write must fail");
    match &err {
        StoreError::StaleEpoch {
            kingdom,
            held: 7,
            current: 8,
        } => assert_eq!(*kingdom, k),
        other => panic!("expected StaleEpoch, got {other:?}"),
    }
    assert!(
        err.to_string().contains("epoch 7") && err.to_string().contains("epoch is 8"),
        "{err}"
    );
    assert!(!err.is_retryable());
    let players = load_records::<PlayerRecord>(new.as_ref(), &m, k)
        .await
        .expect("load");
    assert_eq!(
        players,
        vec![player(1, 1)],
        "nothing of the stale batch was applied"
    );

    // Acquiring an epoch that does not move forward is refused too.
    assert!(matches!(
        old.acquire_epoch(k, 8).await,
        Err(StoreError::StaleEpoch {
            held: 8,
            current: 8,
            ..
        })
    ));
    assert!(matches!(
        old.acquire_epoch(k, 0).await,
        Err(StoreError::Invalid(_))
    ));

    // The owner writes fine; a snapshot by the stale writer is refused as well.
    new.apply(8, &stale).await.expect("owner writes");
    let snap = Snapshot {
        tick: 1,
        parts: vec![SnapshotPart {
            name: "x".into(),
            bytes: vec![1, 2, 3],
        }],
    };
    assert!(matches!(
        old.write_snapshot(k, 7, &snap).await,
        Err(StoreError::StaleEpoch { .. })
    ));
}

async fn epoch_bump_races_with_writes_without_lost_fencing(h: StoreHarness) {
    let k = KingdomId(9);
    let m = Migrations::builtin();
    let writer = h.store.clone();
    let rotator = h.reopen().await;
    let epoch = writer.bump_epoch(k).await.expect("bump");
    // The old owner writes an increasing counter as fast as it can while the new owner bumps:
    // the bump waits for its first writes (so it lands mid-stream whatever the machine's
    // speed), and the writer goes on until it has been refused and then some, so the test
    // does not depend on how many writes fit in a time.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut started = Some(started_tx);
        let mut last_ok = 0;
        let mut first_rejected: Option<u64> = None;
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
        for i in 1.. {
            let mut b = WriteBatch::new(k);
            b.upsert(player(1, i));
            match writer.apply(epoch, &b).await {
                Ok(()) => {
                    assert!(
                        first_rejected.is_none(),
                        "write {i} accepted after write {first_rejected:?} was rejected"
                    );
                    last_ok = i;
                }
                Err(StoreError::StaleEpoch { .. }) => {
                    first_rejected.get_or_insert(i);
                }
                Err(e) => panic!("unexpected error {e}"),
            }
            if i == 10
                && let Some(tx) = started.take()
            {
                let _ = tx.send(());
            }
            if first_rejected.is_some_and(|r| i >= r + 20) || std::time::Instant::now() > give_up {
                break;
            }
            tokio::task::yield_now().await;
        }
        (last_ok, first_rejected)
    });
    started_rx.await.expect("the writer started");
    let new_epoch = rotator.bump_epoch(k).await.expect("rotate");
    // After the bump returned, the stored value must be frozen at the old owner's last success.
    let frozen = load_records::<PlayerRecord>(rotator.as_ref(), &m, k)
        .await
        .expect("load");
    let (last_ok, first_rejected) = task.await.expect("writer task");
    assert!(first_rejected.is_some(), "old owner was never fenced");
    let after = load_records::<PlayerRecord>(rotator.as_ref(), &m, k)
        .await
        .expect("load");
    assert_eq!(
        frozen, after,
        "a stale write landed after the epoch bump returned"
    );
    let food = after
        .first()
        .map(|p| p.resources.get(ResourceKind::Food))
        .unwrap_or(0);
    assert_eq!(food, last_ok);
    assert_eq!(new_epoch, epoch + 1);
}

/// Migration runs per kingdom (each backend's test uses its own kingdom, so parallel runs of the
/// suite on two backends do not mix counts).
static MIGRATION_RUNS: Mutex<BTreeMap<i64, usize>> = Mutex::new(BTreeMap::new());

fn counting_v1_to_v2(doc: &mut bson::Document) -> Result<(), String> {
    let k = doc.get_i64("kingdom").map_err(|e| e.to_string())?;
    *MIGRATION_RUNS
        .lock()
        .map_err(|e| e.to_string())?
        .entry(k)
        .or_default() += 1;
    players_v1_to_v2(doc)
}

fn runs(k: KingdomId) -> usize {
    MIGRATION_RUNS
        .lock()
        .expect("counter")
        .get(&i64::from(k.0))
        .copied()
        .unwrap_or(0)
}

fn v1_player(k: KingdomId, id: u64) -> StoredDoc {
    StoredDoc::new(
        Collection::Players,
        k,
        &PlayerId::compose(id, 1).0.to_string(),
        1,
        doc! {
            "player": PlayerId::compose(id, 1).0 as i64,
            "name": format!("legacy{id}"),
            "city_id": 9_000_i64 + id as i64,
            "city": [10, 20],
            "troops": [5_i64, 6_i64],
            "wounded": [],
            "food": 100_i64 + id as i64,
            "wood": 200_i32,
            "stone": 300_i64,
            "gold": 4_i64,
        },
    )
}

async fn old_version_document_loads_and_migrates_once(h: StoreHarness) {
    let s = h.store.as_ref();
    // A kingdom per backend keeps the shared counter exact while both backends run in parallel.
    let k = KingdomId(if s.backend() == "sqlite" { 4242 } else { 4243 });
    let mut m = Migrations::empty();
    m.register(
        Collection::Players,
        1,
        "counting players v1->v2",
        counting_v1_to_v2,
    );
    m.register(
        Collection::Players,
        2,
        "players v2->v3",
        dominion_persistence::migrate::players_v2_to_v3,
    );
    assert!(
        s.insert_if_absent(&v1_player(k, 1))
            .await
            .expect("insert v1")
    );
    assert!(
        !s.insert_if_absent(&v1_player(k, 1))
            .await
            .expect("insert twice")
    );

    assert_eq!(runs(k), 0);
    let loaded = load_records::<PlayerRecord>(s, &m, k)
        .await
        .expect("load v1");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].resources, Resources([101, 200, 300, 4]));
    assert_eq!(loaded[0].name, "legacy1");
    assert_eq!(loaded[0].troops, Troops(vec![5, 6]));
    let stored = s
        .get(Collection::Players, &loaded_id(k, 1))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        stored.schema_version, 3,
        "migrated document was written back"
    );
    assert!(stored.body.get("food").is_none());

    let again = load_records::<PlayerRecord>(s, &m, k)
        .await
        .expect("load again");
    assert_eq!(again, loaded);
    assert_eq!(
        runs(k),
        1,
        "the migration ran exactly once for the document"
    );
    let stored_again = s
        .get(Collection::Players, &loaded_id(k, 1))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        stored_again, stored,
        "second load did not rewrite the document"
    );
    let plan = plan_migrations(s, &m, true).await.expect("plan");
    assert_eq!(plan["players"].outdated, 0);
}

fn loaded_id(k: KingdomId, id: u64) -> String {
    format!("{}:{}", k.0, PlayerId::compose(id, 1).0)
}

async fn dry_run_plans_without_writing(h: StoreHarness) {
    let s = h.store.as_ref();
    let m = Migrations::builtin();
    let k = KingdomId(77);
    for id in 1..=7 {
        s.insert_if_absent(&v1_player(k, id))
            .await
            .expect("insert v1");
    }
    let mut broken = v1_player(k, 8);
    broken.body.insert("gold", "a lot");
    s.insert_if_absent(&broken).await.expect("insert broken");
    let e = s.bump_epoch(k).await.expect("bump");
    let mut b = WriteBatch::new(k);
    b.upsert(player(100, 1));
    s.apply(e, &b).await.expect("current doc");

    let plan = plan_migrations(s, &m, true).await.expect("dry run");
    let p = &plan["players"];
    assert_eq!(p.outdated, 8);
    assert_eq!(p.by_version.get(&1), Some(&8));
    assert_eq!(p.example_ids.len(), 5);
    assert_eq!(p.would_migrate, 7);
    assert_eq!(p.failed, 1);
    assert!(
        p.failures[0].contains(&loaded_id(k, 8)) && p.failures[0].contains("gold"),
        "{:?}",
        p.failures
    );
    assert_eq!(p.written, 0);
    assert_eq!(plan["marches"].outdated, 0);
    // Nothing was written by the dry run.
    assert_eq!(
        s.scan_outdated(Collection::Players, 3)
            .await
            .expect("scan")
            .len(),
        8
    );

    let applied = plan_migrations(s, &m, false).await.expect("apply");
    assert_eq!(applied["players"].written, 7);
    let left = s.scan_outdated(Collection::Players, 3).await.expect("scan");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, loaded_id(k, 8));
}

async fn corrupt_and_future_documents_are_named(h: StoreHarness) {
    let s = h.store.as_ref();
    let m = Migrations::builtin();
    let k = KingdomId(66);
    let mut bad = StoredDoc::from_record(k, &player(1, 1));
    bad.body.insert("resources", "plenty");
    s.insert_if_absent(&bad).await.expect("insert");
    let err = load_records::<PlayerRecord>(s, &m, k)
        .await
        .expect_err("corrupt doc");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        text.contains("players") && text.contains(&bad.id) && text.contains("resources"),
        "{text}"
    );

    let k2 = KingdomId(67);
    let future = StoredDoc::new(Collection::Marches, k2, "1", 99, doc! {});
    s.insert_if_absent(&future).await.expect("insert");
    match load_records::<MarchRecord>(s, &m, k2).await {
        Err(StoreError::FutureSchema {
            found: 99,
            supported: 1,
            id,
            ..
        }) => assert_eq!(id, "67:1"),
        other => panic!("expected FutureSchema, got {other:?}"),
    }
}

async fn accounts_get_one_id_per_openid(h: StoreHarness) {
    let s = h.store.clone();
    let m = Arc::new(Migrations::builtin());
    let (a, created) = get_or_create_account(s.as_ref(), &m, 3, "openid-a")
        .await
        .expect("a");
    assert!(created);
    assert_eq!(a.server_id(), 3);
    assert_eq!(a.sequence(), 1);
    let (a2, created) = get_or_create_account(s.as_ref(), &m, 3, "openid-a")
        .await
        .expect("a again");
    assert_eq!((a2, created), (a, false));
    let (b, _) = get_or_create_account(s.as_ref(), &m, 3, "openid-b")
        .await
        .expect("b");
    assert_eq!(b.sequence(), 2);
    // Sequences are per server.
    let (c, _) = get_or_create_account(s.as_ref(), &m, 4, "openid-a")
        .await
        .expect("c");
    assert_eq!((c.server_id(), c.sequence()), (4, 1));
    assert!(get_or_create_account(s.as_ref(), &m, 3, "").await.is_err());

    // Concurrent first logins of one openid, through two handles, agree on one id.
    let other = h.reopen().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let st = if i % 2 == 0 { s.clone() } else { other.clone() };
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            get_or_create_account(st.as_ref(), &m, 3, "openid-race")
                .await
                .expect("race")
        }));
    }
    let mut ids = Vec::new();
    let mut creators = 0;
    for t in tasks {
        let (id, created) = t.await.expect("task");
        ids.push(id);
        creators += usize::from(created);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(creators, 1);
    // Sequence numbers are never reused, even the ones lost in the race.
    let next = s.next_sequence("user_id:3").await.expect("seq");
    assert!(next > ids[0].sequence().max(2), "next {next} after {ids:?}");
}

async fn chunked_snapshot_round_trip(h: StoreHarness) {
    let s = h.store.as_ref();
    let k = KingdomId(31);
    assert!(s.read_snapshot(k).await.expect("none yet").is_none());
    let e = s.bump_epoch(k).await.expect("bump");
    // 9.5 MB of non-repeating bytes spans three 4 MiB chunks.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let big: Vec<u8> = (0..9_500_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let snap = Snapshot {
        tick: 9000,
        parts: vec![
            SnapshotPart {
                name: "map".into(),
                bytes: big.clone(),
            },
            SnapshotPart {
                name: "marches".into(),
                bytes: b"small".to_vec(),
            },
            SnapshotPart {
                name: "empty".into(),
                bytes: Vec::new(),
            },
        ],
    };
    let manifest = s.write_snapshot(k, e, &snap).await.expect("write");
    assert_eq!(manifest.parts[0].chunks, 3);
    assert_eq!(manifest.parts[0].len, 9_500_000);
    assert_eq!(manifest.parts[2].chunks, 0);
    let (m2, back) = s.read_snapshot(k).await.expect("read").expect("exists");
    assert_eq!(m2, manifest);
    assert_eq!(back, snap);

    // A newer snapshot replaces it whole; the reader never sees a mix.
    let snap2 = Snapshot {
        tick: 9100,
        parts: vec![SnapshotPart {
            name: "map".into(),
            bytes: big[..5_000_000].to_vec(),
        }],
    };
    s.write_snapshot(k, e, &snap2).await.expect("write 2");
    let other = h.reopen().await;
    let (_, back2) = other
        .read_snapshot(k)
        .await
        .expect("read 2")
        .expect("exists");
    assert_eq!(back2, snap2);

    // Duplicate part names are refused.
    let dup = Snapshot {
        tick: 1,
        parts: vec![
            SnapshotPart {
                name: "a".into(),
                bytes: vec![],
            },
            SnapshotPart {
                name: "a".into(),
                bytes: vec![],
            },
        ],
    };
    assert!(matches!(
        s.write_snapshot(k, e, &dup).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        other
            .read_snapshot(k)
            .await
            .expect("read 3")
            .expect("exists")
            .1,
        snap2
    );
}

/// The start check passes on both test backends (SQLite; SecantusDB as a single-node replica
/// set, transactions included) and changes nothing. (`--standalone` is refused: see the root's
/// `failing_deps` test.)
async fn a_store_that_can_hold_a_kingdom_passes_the_start_check(h: StoreHarness) {
    h.store.check_capabilities().await.expect("start check");
    h.store.check_capabilities().await.expect("repeatable");
    assert_eq!(h.store.current_epoch(KingdomId(0)).await.unwrap(), 0);
}

/// `take_epoch` is a compare-and-set: of several handles racing from the same epoch exactly one
/// moves it, the others are told who holds it and change nothing; a stale expectation never
/// moves it, and a loser's writes are fenced.
async fn racing_takes_of_the_epoch_leave_exactly_one_owner(h: StoreHarness) {
    let k = KingdomId(43);
    let mut handles = vec![h.store.clone()];
    for _ in 0..3 {
        handles.push(h.reopen().await);
    }
    for round in 0..3u64 {
        let results =
            futures_util::future::join_all(handles.iter().map(|s| s.take_epoch(k, round))).await;
        let won: Vec<usize> = (0..results.len()).filter(|&i| results[i].is_ok()).collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one winner, got {results:?}"
        );
        assert_eq!(results[won[0]].as_ref().ok(), Some(&(round + 1)));
        for (i, r) in results.iter().enumerate() {
            if i != won[0] {
                match r {
                    Err(StoreError::StaleEpoch { held, current, .. }) => {
                        assert_eq!((*held, *current), (round, round + 1), "round {round}");
                    }
                    other => panic!("round {round}: loser got {other:?}"),
                }
            }
        }
        assert_eq!(h.store.current_epoch(k).await.expect("epoch"), round + 1);
    }
    // A stale expectation (behind or ahead) changes nothing.
    for expected in [0, 2, 4, 99] {
        assert!(matches!(
            h.store.take_epoch(k, expected).await,
            Err(StoreError::StaleEpoch { current: 3, .. })
        ));
    }
    assert_eq!(h.store.current_epoch(k).await.expect("epoch"), 3);
    // The winner writes; a writer with the previous epoch is fenced.
    let mut b = WriteBatch::new(k);
    b.upsert(player(1, 5));
    h.store.apply(3, &b).await.expect("owner writes");
    assert!(matches!(
        h.store.apply(2, &b).await,
        Err(StoreError::StaleEpoch {
            held: 2,
            current: 3,
            ..
        })
    ));
}

/// Guild documents and chat messages go through the same fenced batches as the world (one
/// batch may hold both), load back whole, and go when deleted.
async fn guilds_and_their_chat_are_written_with_the_world_and_deleted_with_the_guild(
    h: StoreHarness,
) {
    use dominion_persistence::{GuildChatRecord, GuildMemberRecord, GuildRecord, GuildRole};
    let k = KingdomId(44);
    let epoch = h.store.take_epoch(k, 0).await.expect("epoch");
    let guild = GuildRecord {
        id: 1,
        name: "Night Watch".into(),
        tag: "NW".into(),
        notice: "wall duty".into(),
        created_unix_ms: 10,
        members: vec![GuildMemberRecord {
            player: PlayerId::compose(1, 1),
            role: GuildRole::Leader,
            joined_unix_ms: 10,
        }],
        applicants: vec![PlayerId::compose(2, 1)],
        invited: vec![],
    };
    let chat = |id| GuildChatRecord {
        guild: 1,
        id,
        from: PlayerId::compose(1, 1),
        sent_unix_ms: 10 + id as i64,
        text: format!("message {id}"),
    };
    let mut b = WriteBatch::new(k);
    b.upsert(guild.clone());
    b.upsert(chat(1));
    b.upsert(chat(2));
    b.upsert(player(1, 5));
    h.store.apply(epoch, &b).await.expect("write");
    let m = Migrations::builtin();
    let guilds: Vec<GuildRecord> = load_records(h.store.as_ref(), &m, k).await.expect("load");
    assert_eq!(guilds, vec![guild.clone()]);
    let msgs: Vec<GuildChatRecord> = load_records(h.store.as_ref(), &m, k).await.expect("load");
    assert_eq!(sorted(msgs, |c| c.id), vec![chat(1), chat(2)]);
    // A stale owner cannot change guilds either.
    assert!(matches!(
        h.store.apply(epoch - 1, &b).await,
        Err(StoreError::StaleEpoch { .. })
    ));
    let mut b = WriteBatch::new(k);
    b.delete::<GuildRecord>("1");
    b.delete::<GuildChatRecord>(&GuildChatRecord::key_of(1, 1));
    b.delete::<GuildChatRecord>(&GuildChatRecord::key_of(1, 2));
    h.store.apply(epoch, &b).await.expect("delete");
    let guilds: Vec<GuildRecord> = load_records(h.store.as_ref(), &m, k).await.expect("load");
    let msgs: Vec<GuildChatRecord> = load_records(h.store.as_ref(), &m, k).await.expect("load");
    assert!(guilds.is_empty() && msgs.is_empty());
}
