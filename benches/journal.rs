//! `cargo bench --bench journal`: the durable commit of one tick's inputs, at 100 and 1,000
//! commands per tick, for each place the journal could live — measured in one run, beside the
//! floor: a raw `write` + `fdatasync` of the same bytes to a plain file.
//!
//! - `raw fdatasync`: the encoded record bytes appended to a file, then `fdatasync` (the floor).
//! - `journal file`: what `serve` uses — [`JournalWriter::append`]: encode + frame + checksum +
//!   append + `fdatasync` to a segment file.
//! - `sqlite table`: the same bytes as one row inserted in its own transaction into a table of a
//!   WAL database with `synchronous=FULL` (the `SqliteStore`'s settings), i.e. what a journal
//!   table in the default store would cost.
//! - `mongodb insert j:true`: the same bytes as one document with a journaled write concern,
//!   when `DOMINION_TEST_MONGO_URL` is set (on this machine SecantusDB, a Python stand-in: its
//!   figure says little about a real MongoDB, but the network round trip per tick is there too).
//!
//! Each tick's record is committed to every sink in turn (so all see the same disk conditions),
//! `TICKS` ticks; p50 and p99 per commit are printed in a `summary:` table, with the encoding's
//! CPU time alone for reference.
//! Files go under `DOMINION_BENCH_DIR` (default: the system temp dir) — the disk the journal
//! would be on matters more than anything else here.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use dominion_persistence::journal::codec::encode_record;
use dominion_persistence::journal::{JournalInput, JournalWriter, TickRecord};
use dominion_sim::command::Command;
use dominion_sim::march::Mission;
use dominion_sim::types::{ObjectId, PlayerId, Troops};

const TICKS: usize = 400;

fn record(tick: u64, commands: usize) -> TickRecord {
    TickRecord {
        tick,
        prev_tick: 0,
        state_hash: tick.is_multiple_of(100).then_some([7; 32]),
        inputs: (0..commands)
            .map(|i| JournalInput::Command {
                player: PlayerId(((i as u64) << 16) | 1),
                request_id: i as u32,
                command: if i % 4 == 3 {
                    Command::Recall {
                        march: ObjectId(1_000_000 + i as u64),
                    }
                } else {
                    Command::SendMarch {
                        troops: Troops(vec![300, 50, 20]),
                        target: ObjectId(10_000 + i as u64 * 7),
                        mission: Mission::Gather,
                    }
                },
            })
            .collect(),
    }
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

fn bench_dir() -> tempfile::TempDir {
    match std::env::var("DOMINION_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("DOMINION_BENCH_DIR is writable"),
        Err(_) => tempfile::tempdir().expect("temp dir"),
    }
}

/// The sinks a tick's record is committed to, all open at once so each tick is measured on
/// every sink in turn, under the same disk conditions.
struct Sinks {
    _dir: tempfile::TempDir,
    raw: std::fs::File,
    journal: JournalWriter,
    sqlite: rusqlite::Connection,
    mongo: Option<(tokio::runtime::Runtime, mongodb::Collection<bson::Document>)>,
}

impl Sinks {
    fn open(mongo_url: Option<&str>) -> Sinks {
        let dir = bench_dir();
        let raw = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("raw.bin"))
            .expect("open");
        let journal = JournalWriter::open(&dir.path().join("journal"), 0).expect("open journal");
        let sqlite = rusqlite::Connection::open(dir.path().join("j.db")).expect("open");
        let mode: String = sqlite
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .expect("wal");
        assert_eq!(mode, "wal");
        sqlite
            .execute_batch(
                "PRAGMA synchronous=FULL; CREATE TABLE journal (tick INTEGER PRIMARY KEY, body BLOB NOT NULL);",
            )
            .expect("schema");
        let mongo = mongo_url.map(|url| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let coll = rt.block_on(async {
                let client = mongodb::Client::with_uri_str(url).await.expect("connect");
                let db = client.database(&format!("bench_journal_{}", std::process::id()));
                let _ = db.drop().await;
                db.collection::<bson::Document>("journal")
            });
            (rt, coll)
        });
        Sinks {
            _dir: dir,
            raw,
            journal,
            sqlite,
            mongo,
        }
    }
}

/// Per-commit times: encode only, raw, journal file, sqlite, mongodb (empty when off).
type Times = [Vec<Duration>; 5];

fn measure(commands: usize, mongo_url: Option<&str>) -> (Times, usize) {
    use mongodb::options::{Acknowledgment, InsertOneOptions, WriteConcern};
    let mut s = Sinks::open(mongo_url);
    let mut t: Times = Default::default();
    let mut buf = Vec::new();
    let wc = WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .journal(true)
        .build();
    for tick in 1..=TICKS as u64 {
        let mut r = record(tick, commands);
        let start = Instant::now();
        buf.clear();
        encode_record(&r, &mut buf);
        t[0].push(start.elapsed());

        let start = Instant::now();
        s.raw.write_all(&buf).expect("write");
        s.raw.sync_data().expect("fdatasync");
        t[1].push(start.elapsed());

        let start = Instant::now();
        s.journal.append(&mut r).expect("append");
        t[2].push(start.elapsed());

        let start = Instant::now();
        let tx = s.sqlite.transaction().expect("begin");
        tx.execute(
            "INSERT INTO journal (tick, body) VALUES (?1, ?2)",
            rusqlite::params![tick as i64, &buf],
        )
        .expect("insert");
        tx.commit().expect("commit");
        t[3].push(start.elapsed());

        if let Some((rt, coll)) = &s.mongo {
            let doc = bson::doc! {
                "_id": tick as i64,
                "body": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: buf.clone() },
            };
            let start = Instant::now();
            rt.block_on(async {
                coll.insert_one(doc)
                    .with_options(
                        InsertOneOptions::builder()
                            .write_concern(wc.clone())
                            .build(),
                    )
                    .await
            })
            .expect("insert");
            t[4].push(start.elapsed());
        }
    }
    (t, buf.len())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn bench(c: &mut Criterion) {
    println!(
        "\njournal commit per tick ({TICKS} ticks each; files under {})",
        bench_dir()
            .path()
            .parent()
            .map_or_else(String::new, |p| p.display().to_string())
    );
    let mongo = std::env::var("DOMINION_TEST_MONGO_URL").ok();
    if mongo.is_none() {
        eprintln!(
            "\n!!!!! MongoDB part of the journal bench SKIPPED: DOMINION_TEST_MONGO_URL is not set !!!!!\n"
        );
    }
    let mut rows = Vec::new();
    for commands in [100usize, 1_000] {
        let (t, bytes) = measure(commands, mongo.as_deref());
        let raw = percentiles(t[1].clone());
        let names = [
            "encode only (CPU)",
            "raw fdatasync (floor)",
            "journal file",
            "sqlite table",
            "mongodb insert j:true",
        ];
        for (i, name) in names.into_iter().enumerate() {
            if !t[i].is_empty() {
                rows.push((commands, bytes, name, percentiles(t[i].clone()), raw));
            }
        }
    }
    println!("summary: durable commit per tick, beside a raw fdatasync of the same bytes");
    println!(
        "  {:>8} {:>9}  {:<24} {:>11} {:>11}  {:>9} {:>9}",
        "cmds", "bytes", "where", "p50", "p99", "p50/raw", "p99/raw"
    );
    for (n, bytes, name, (p50, p99), (r50, r99)) in &rows {
        println!(
            "  {:>8} {:>9}  {:<24} {:>11} {:>11}  {:>8.2}x {:>8.2}x",
            n,
            bytes,
            name,
            ms(*p50),
            ms(*p99),
            p50.as_secs_f64() / r50.as_secs_f64(),
            p99.as_secs_f64() / r99.as_secs_f64()
        );
    }

    // A checkpoint record carries the world's state hash: its cost on the default kingdom (the
    // generated map, ~300k objects), beside the commit it rides with.
    let assets = dominion::assets::load_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets"),
    )
    .expect("repository assets");
    let mut kingdom = dominion_sim::Kingdom::generate(1, std::sync::Arc::new(assets));
    let mut hashes: Vec<Duration> = (0..7)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(kingdom.state_hash());
            t.elapsed()
        })
        .collect();
    hashes.sort_unstable();
    println!(
        "summary: state_hash of the default kingdom ({} objects): median {} (a checkpoint costs this once every --journal-hash-every ticks)",
        kingdom.object_counts().total(),
        ms(hashes[hashes.len() / 2])
    );

    // Criterion's own estimate for the path `serve` takes, at 1,000 commands a tick.
    let dir = bench_dir();
    let mut w = JournalWriter::open(dir.path(), 0).expect("open journal");
    let mut tick = 0u64;
    let mut group = c.benchmark_group("journal");
    group.sample_size(30);
    group.bench_function("append_durable_1000_commands", |b| {
        b.iter_batched(
            || {
                tick += 1;
                record(tick, 1_000)
            },
            |mut r| w.append(&mut r).expect("append"),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
