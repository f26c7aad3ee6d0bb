//! `cargo bench --bench persistence`: full save and load of a realistic world's records (50k marches + 300k map objects) on each
//! store backend, beside raw rkyv serialization of the same data in the same run (the floor),
//! and the snapshot path rotation uses (rkyv bytes written/read as a chunked snapshot).
//!
//! SQLite runs in a temp dir at full scale. MongoDB runs when `DOMINION_TEST_MONGO_URL` is set
//! (a loud notice otherwise) at `1/DOMINION_BENCH_MONGO_DIVISOR` of the scale (default 20): the
//! server on this machine is SecantusDB, a Python stand-in whose throughput says nothing about
//! real MongoDB, so its figures are per-record rates for comparison only. Set the divisor to 1
//! against a real MongoDB. Ratios to the rkyv floor (same data, same run) are printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use dominion_persistence::{
    Collection, KingdomId, MapObjectKind, MapObjectRecord, MarchPhase, MarchPurpose, MarchRecord,
    Migrations, MongoStore, Snapshot, SnapshotPart, SqliteStore, Store, StoredDoc, WriteBatch,
    load_records,
};
use dominion_sim::types::{ObjectId, PlayerId, ResourceKind, Resources, TilePos, Troops};

const MARCHES: u64 = 50_000;
const OBJECTS: u64 = 300_000;

/// The same data in a plain rkyv-friendly shape (what a snapshot would serialize).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone)]
struct RawMarch {
    id: u64,
    owner: u64,
    purpose: u8,
    target: Option<u64>,
    path: Vec<(u16, u16)>,
    depart_tick: u64,
    arrive_tick: u64,
    returning: bool,
    troops: Vec<u32>,
    carried: [u64; 4],
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone)]
struct RawObject {
    id: u64,
    x: u16,
    y: u16,
    kind: u8,
    a: u64,
    b: u64,
    c: u8,
    respawn_tick: Option<u64>,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone)]
struct RawWorld {
    marches: Vec<RawMarch>,
    objects: Vec<RawObject>,
}

fn march(id: u64) -> MarchRecord {
    MarchRecord {
        id: ObjectId(id),
        owner: PlayerId::compose(id % 10_000, 1),
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
            TilePos::new((id % 1200) as u16, 5),
            TilePos::new(600, 600),
            TilePos::new(7, (id % 1200) as u16),
        ],
        depart_tick: id,
        speed: 120,
        next_event: id + 300,
        troops: Troops(vec![1000, 200, 30]),
        wounded: Troops(vec![3]),
        carried: Resources([id, 0, 10, 0]),
    }
}

fn object(id: u64) -> MapObjectRecord {
    let kind = match id % 3 {
        0 => MapObjectKind::ResourceField {
            resource: ResourceKind::Stone,
            level: (id % 8) as u8,
            remaining: 40_000 + id,
        },
        1 => MapObjectKind::Monster {
            kind: (id % 10) as u16,
            level: (id % 30) as u8,
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

fn raw_world(marches: &[MarchRecord], objects: &[MapObjectRecord]) -> RawWorld {
    RawWorld {
        marches: marches
            .iter()
            .map(|m| RawMarch {
                id: m.id.0,
                owner: m.owner.0,
                purpose: m.purpose as u8,
                target: Some(m.target.0),
                path: m.path.iter().map(|t| (t.x, t.y)).collect(),
                depart_tick: m.depart_tick,
                arrive_tick: m.next_event,
                returning: matches!(m.phase, MarchPhase::Returning),
                troops: m.troops.0.clone(),
                carried: m.carried.0,
            })
            .collect(),
        objects: objects
            .iter()
            .map(|o| {
                let (kind, a, b, c) = match &o.kind {
                    MapObjectKind::ResourceField {
                        resource,
                        level,
                        remaining,
                    } => (0, resource.index() as u64, *remaining, *level),
                    MapObjectKind::Monster { kind, level } => (1, u64::from(*kind), 0, *level),
                    MapObjectKind::CitySlot => (3, 0, 0, 0),
                    MapObjectKind::City { owner } => (2, owner.0, 0, 0),
                };
                RawObject {
                    id: o.id.0,
                    x: o.tile.x,
                    y: o.tile.y,
                    kind,
                    a,
                    b,
                    c,
                    respawn_tick: None,
                }
            })
            .collect(),
    }
}

fn full_batch(k: KingdomId, marches: &[MarchRecord], objects: &[MapObjectRecord]) -> WriteBatch {
    let mut b = WriteBatch::new(k);
    for m in marches {
        b.upsert(m.clone());
    }
    for o in objects {
        b.upsert(o.clone());
    }
    b
}

struct Figures {
    rows: Vec<(String, Duration)>,
}

impl Figures {
    fn add(&mut self, name: &str, d: Duration) {
        println!("  {name:<48} {:>10.1} ms", d.as_secs_f64() * 1e3);
        self.rows.push((name.to_string(), d));
    }
}

fn mean(d: &[Duration]) -> Duration {
    d.iter().sum::<Duration>() / d.len().max(1) as u32
}

/// Times `save` (full batch build + apply) and `load` (both collections, decoded) `n` times.
fn time_store(
    rt: &tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    n: usize,
    marches: &[MarchRecord],
    objects: &[MapObjectRecord],
) -> (Duration, Duration, Duration) {
    let m = Migrations::builtin();
    let mut builds = Vec::new();
    let mut saves = Vec::new();
    let mut loads = Vec::new();
    for i in 0..n {
        let k = KingdomId(1000 + i as u32);
        let epoch = rt.block_on(store.bump_epoch(k)).expect("bump");
        let t = Instant::now();
        let batch = full_batch(k, marches, objects);
        builds.push(t.elapsed());
        let t = Instant::now();
        rt.block_on(store.apply(epoch, &batch)).expect("save");
        saves.push(t.elapsed());
        let t = Instant::now();
        let (lm, lo) = rt.block_on(async {
            (
                load_records::<MarchRecord>(store.as_ref(), &m, k).await,
                load_records::<MapObjectRecord>(store.as_ref(), &m, k).await,
            )
        });
        loads.push(t.elapsed());
        assert_eq!(lm.expect("load marches").len(), marches.len());
        assert_eq!(lo.expect("load objects").len(), objects.len());
    }
    (mean(&builds), mean(&saves), mean(&loads))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let marches: Vec<MarchRecord> = (0..MARCHES).map(march).collect();
    let objects: Vec<MapObjectRecord> = (0..OBJECTS).map(|i| object(i + 10_000_000)).collect();
    let raw = raw_world(&marches, &objects);

    // Criterion-measured floor: raw rkyv of the same data.
    let mut g = c.benchmark_group("floor");
    g.sample_size(10);
    g.bench_function("rkyv_serialize_350k", |b| {
        b.iter(|| rkyv::to_bytes::<rkyv::rancor::Error>(&raw).expect("rkyv"))
    });
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&raw).expect("rkyv");
    g.bench_function("rkyv_validate_deserialize_350k", |b| {
        b.iter(|| rkyv::from_bytes::<RawWorld, rkyv::rancor::Error>(&bytes).expect("rkyv"))
    });
    g.finish();

    // Figures in one run, printed side by side.
    let mut f = Figures { rows: Vec::new() };
    println!(
        "\nfull world: {MARCHES} marches + {OBJECTS} map objects; rkyv size {:.1} MB",
        bytes.len() as f64 / 1e6
    );
    let reps = 5;
    let mut ser = Vec::new();
    let mut de = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let b = rkyv::to_bytes::<rkyv::rancor::Error>(&raw).expect("rkyv");
        ser.push(t.elapsed());
        let t = Instant::now();
        let back = rkyv::from_bytes::<RawWorld, rkyv::rancor::Error>(&b).expect("rkyv");
        de.push(t.elapsed());
        assert_eq!(back.objects.len(), raw.objects.len());
    }
    let floor = mean(&ser) + mean(&de);
    f.add("rkyv serialize (floor)", mean(&ser));
    f.add("rkyv validate+deserialize (floor)", mean(&de));

    // Codec alone (no database): records -> BSON bytes -> typed records, to split codec cost
    // from database cost in the figures below.
    let batch = full_batch(KingdomId(1), &marches, &objects);
    let t = Instant::now();
    let encoded: Vec<(Collection, String, Vec<u8>)> = batch
        .ops()
        .filter_map(|(c, id, d)| d.map(|d| (c, id.to_string(), d.to_bson_bytes().expect("encode"))))
        .collect();
    f.add("codec: encode 350k records to BSON bytes", t.elapsed());
    let t = Instant::now();
    let mut decoded = 0usize;
    for (c, id, bytes) in &encoded {
        let d = StoredDoc::from_bson_bytes(*c, id, bytes).expect("decode");
        match c {
            Collection::Marches => decoded += usize::from(d.decode::<MarchRecord>().is_ok()),
            _ => decoded += usize::from(d.decode::<MapObjectRecord>().is_ok()),
        }
    }
    assert_eq!(decoded, encoded.len());
    f.add("codec: decode 350k records from BSON bytes", t.elapsed());
    drop((batch, encoded));

    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite: Arc<dyn Store> = Arc::new(
        rt.block_on(SqliteStore::open(
            dir.path().join("bench.db"),
            Duration::from_secs(30),
        ))
        .expect("sqlite"),
    );
    let divisor: usize = std::env::var("DOMINION_BENCH_MONGO_DIVISOR")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|d| *d >= 1)
        .unwrap_or(20);
    // (name, store, repetitions, scale divisor)
    let mut stores: Vec<(&str, Arc<dyn Store>, usize, usize)> = vec![("sqlite", sqlite, 3, 1)];
    match std::env::var("DOMINION_TEST_MONGO_URL") {
        Ok(url) if !url.is_empty() => {
            let db = format!("bench_{}", std::process::id());
            let mongo = rt
                .block_on(MongoStore::connect_database(&url, Some(&db)))
                .expect("mongo");
            stores.push(("mongodb", Arc::new(mongo), 1, divisor));
        }
        _ => eprintln!(
            "\n!!!!! MongoDB part of the bench SKIPPED: DOMINION_TEST_MONGO_URL is not set !!!!!\n"
        ),
    }
    for (name, store, n, div) in stores {
        let (ms, os) = (
            &marches[..marches.len() / div],
            &objects[..objects.len() / div],
        );
        let records = ms.len() + os.len();
        if div > 1 {
            println!("  ({name}: {records} records, 1/{div} scale)");
        }
        let (build, save, load) = time_store(&rt, store.clone(), n, ms, os);
        println!(
            "  => {name}: save {:.2} us/record, load {:.2} us/record (rkyv floor {:.3} us/record)",
            save.as_secs_f64() * 1e6 / records as f64,
            load.as_secs_f64() * 1e6 / records as f64,
            floor.as_secs_f64() * 1e6 / (marches.len() + objects.len()) as f64,
        );
        f.add(&format!("{name}: build batch (move clones in)"), build);
        f.add(&format!("{name}: save (encode + one atomic batch)"), save);
        f.add(&format!("{name}: load (decode + typed)"), load);
        // The rotation path: the rkyv bytes as a chunked snapshot.
        let k = KingdomId(1);
        let epoch = rt.block_on(store.bump_epoch(k)).expect("bump");
        let snap = Snapshot {
            tick: 1,
            parts: vec![SnapshotPart {
                name: "world".into(),
                bytes: bytes.to_vec(),
            }],
        };
        let t = Instant::now();
        rt.block_on(store.write_snapshot(k, epoch, &snap))
            .expect("snapshot write");
        let sw = t.elapsed();
        let t = Instant::now();
        let back = rt.block_on(store.read_snapshot(k)).expect("snapshot read");
        let sr = t.elapsed();
        assert_eq!(back.map(|(_, s)| s.parts[0].bytes.len()), Some(bytes.len()));
        f.add(&format!("{name}: snapshot write (rkyv bytes, chunked)"), sw);
        f.add(&format!("{name}: snapshot read + verify"), sr);
        println!(
            "  => {name}: records save+load = {:.1}x the rkyv floor (scaled to full size); snapshot save+load (incl. rkyv) = {:.1}x",
            (save + load + build).as_secs_f64() * div as f64 / floor.as_secs_f64(),
            (sw + sr + floor).as_secs_f64() / floor.as_secs_f64(),
        );
    }
    let _ = f.rows;
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
