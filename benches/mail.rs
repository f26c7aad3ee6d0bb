//! `cargo bench --bench mail`: the mail service under a battle-heavy tick and a broadcast, on
//! SQLite in a temp dir (and MongoDB when `DOMINION_TEST_MONGO_URL` is set, at 1/10 scale: the
//! server here is SecantusDB, a Python stand-in; compare its per-mail rates only).
//!
//! - **tick side**: what a tick of 1,000 battles (2,000 report mails) costs the tick thread —
//!   picking the reports out of the notices and handing them to the service — beside the floor
//!   of cloning the same notices into a channel; and what encoding them into mail then costs
//!   the service (off the tick thread).
//! - **reports written per second**: the service writing those 2,000 report mails.
//! - **broadcast**: a system mail to every player of a 10,000-player kingdom, with a player's
//!   mailbox request sent meanwhile: its worst wait says how long a broadcast holds up the
//!   service (at most one chunk's write).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use dominion::mail::{
    MailRequest, MailService, MailSettings, Recipients, SystemMail, report_mails,
};
use dominion_net::proto::{MailList, ServerMessage};
use dominion_persistence::store::now_unix_ms;
use dominion_persistence::{
    KingdomId, MailStore, Migrations, MongoStore, PlayerRecord, SqliteStore, Store, WriteBatch,
};
use dominion_sim::battle::{BattleReport, Combatant, Participant};
use dominion_sim::player_events::Notice;
use dominion_sim::types::{ObjectId, PlayerId, Resources, TilePos, Troops};

const BATTLES: u64 = 1_000;
const PLAYERS: u64 = 10_000;

fn battle(n: u64) -> (Vec<(PlayerId, Notice)>, PlayerId, PlayerId) {
    let (a, d) = (
        PlayerId(1 + n % PLAYERS),
        PlayerId(1 + (n * 7 + 3) % PLAYERS),
    );
    let side = |who, t: u32| Participant {
        who,
        before: Troops(vec![t, t / 2, t / 3, 10]),
        after: Troops(vec![t / 2, t / 4, t / 6, 5]),
        wounded: Troops(vec![t / 4, t / 8, t / 12, 3]),
        dead: Troops(vec![t / 4, t / 8, t / 12, 2]),
        gained: Resources([n, 0, n / 2, 0]),
        lost: Resources::default(),
    };
    let r = Arc::new(BattleReport {
        battle: n,
        tick: 100,
        config_version: 1,
        at: TilePos::new((n % 1200) as u16, (n / 1200) as u16),
        attackers: vec![side(
            Combatant::March {
                player: a,
                march: ObjectId(1_000_000 + n),
            },
            5000,
        )],
        defenders: vec![side(
            Combatant::City {
                player: d,
                city: ObjectId(n),
            },
            4000,
        )],
        rounds: 5,
        attacker_won: n.is_multiple_of(2),
    });
    (
        vec![(a, Notice::Battle(r.clone())), (d, Notice::Battle(r))],
        a,
        d,
    )
}

fn notices() -> Vec<(PlayerId, Notice)> {
    (0..BATTLES).flat_map(|n| battle(n).0).collect()
}

fn players_batch(k: KingdomId, n: u64) -> WriteBatch {
    let mut batch = WriteBatch::new(k);
    for p in 1..=n {
        batch.upsert(PlayerRecord {
            player: PlayerId(p),
            name: format!("p{p}"),
            city_id: ObjectId(p),
            city: TilePos::new((p % 1200) as u16, (p / 1200) as u16),
            troops: Troops(vec![1]),
            wounded: Troops::default(),
            resources: Resources::default(),
            alliance: None,
            grants: Default::default(),
            relocated_at: None,
        });
    }
    batch
}

fn run_store(
    rt: &tokio::runtime::Runtime,
    name: &str,
    world: Arc<dyn Store>,
    mail: Arc<dyn MailStore>,
    scale: u64,
) {
    let k = KingdomId(1);
    let players = PLAYERS / scale;
    let epoch = rt.block_on(world.bump_epoch(k)).expect("epoch");
    rt.block_on(world.apply(epoch, &players_batch(k, players)))
        .expect("players");
    let (handle, _task) = {
        let _g = rt.enter();
        MailService::spawn(
            mail.clone(),
            world,
            Arc::new(Migrations::builtin()),
            k,
            None,
            MailSettings::default(),
        )
    };
    let stats = handle.stats();

    // Reports written per second for a battle-heavy tick.
    let all = notices();
    let tick_notices = &all[..all.len() / scale as usize];
    let t = Instant::now();
    handle.reports(100, tick_notices);
    rt.block_on(handle.flush()).expect("flush");
    let took = t.elapsed();
    let written = stats.delivered.load(Ordering::Relaxed);
    assert_eq!(written, tick_notices.len() as u64);
    println!(
        "summary: mail {name}: {} report mails of {} battles written in {:.0} ms = {:.0} reports/s",
        written,
        written / 2,
        took.as_secs_f64() * 1e3,
        written as f64 / took.as_secs_f64()
    );

    // A broadcast to every player, with a mailbox request sent meanwhile.
    let before = stats.delivered.load(Ordering::Relaxed);
    let t = Instant::now();
    let waits = rt.block_on(async {
        let h = handle.clone();
        let broadcast = tokio::spawn(async move {
            h.system(SystemMail {
                to: Recipients::All,
                title: "maintenance tonight".into(),
                text: "the kingdom restarts at 03:00 UTC".into(),
                attachments: Vec::new(),
                expires_unix_ms: Some(now_unix_ms() + 86_400_000),
            })
            .await
        });
        // A player's mailbox request through the service while it fans out: answered between
        // two chunks, so its wait is bounded by one chunk's write.
        let mut waits = Vec::new();
        while !broadcast.is_finished() {
            let p = Instant::now();
            let page = handle
                .ask(
                    PlayerId(5),
                    MailRequest::List(MailList {
                        before: 0,
                        limit: 20,
                    }),
                )
                .await
                .expect("ask");
            assert!(matches!(page, ServerMessage::MailPage(_)), "{page:?}");
            waits.push(p.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let n = broadcast.await.expect("join").expect("broadcast");
        assert_eq!(n, players);
        waits
    });
    let took = t.elapsed();
    let worst = waits.iter().max().copied().unwrap_or_default();
    let n = stats.delivered.load(Ordering::Relaxed) - before;
    println!(
        "summary: mail {name}: broadcast to {n} players in {:.0} ms ({:.0} mails/s, {} chunks of <= {}); \
         mailbox reads meanwhile: {} answered, worst {:.1} ms",
        took.as_secs_f64() * 1e3,
        n as f64 / took.as_secs_f64(),
        n.div_ceil(MailSettings::default().chunk as u64),
        MailSettings::default().chunk,
        waits.len(),
        worst.as_secs_f64() * 1e3
    );
}

fn bench(_c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Tick side: handing a tick's notices to the service (what the tick thread pays), beside
    // the floor of the same notices just cloned into a Vec, and the encoding the service then
    // does off the tick thread.
    let all = notices();
    let mut best_hand = Duration::MAX;
    let mut best_floor = Duration::MAX;
    let mut best_encode = Duration::MAX;
    {
        // A real service on its own SQLite file takes the hand-offs (and writes them meanwhile).
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tick.db");
        let world: Arc<dyn Store> = Arc::new(
            rt.block_on(SqliteStore::open(&path, Duration::from_secs(30)))
                .expect("sqlite"),
        );
        let mail: Arc<dyn MailStore> = Arc::new(
            rt.block_on(SqliteStore::open(&path, Duration::from_secs(30)))
                .expect("sqlite"),
        );
        let _g = rt.enter();
        let (handle, _task) = MailService::spawn(
            mail,
            world,
            Arc::new(Migrations::builtin()),
            KingdomId(1),
            None,
            MailSettings::default(),
        );
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..10 {
            let t = Instant::now();
            handle.reports(100, &all);
            best_hand = best_hand.min(t.elapsed());
            let t = Instant::now();
            let copy: Vec<(PlayerId, Notice)> = all.to_vec();
            let _ = tx.send(copy);
            best_floor = best_floor.min(t.elapsed());
            let t = Instant::now();
            let mails = report_mails(100, &all, now_unix_ms(), Duration::from_secs(86_400));
            best_encode = best_encode.min(t.elapsed());
            assert_eq!(mails.len(), all.len());
        }
        drop(rx);
        rt.block_on(handle.flush()).expect("flush");
    }
    println!(
        "summary: mail tick side: {} battles -> {} reports handed to the mail service in {:.3} ms on \
         the tick thread (floor: cloning the notices into a channel {:.3} ms); the service then \
         encodes them in {:.2} ms",
        BATTLES,
        all.len(),
        best_hand.as_secs_f64() * 1e3,
        best_floor.as_secs_f64() * 1e3,
        best_encode.as_secs_f64() * 1e3,
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mail.db");
    let world: Arc<dyn Store> = Arc::new(
        rt.block_on(SqliteStore::open(&path, Duration::from_secs(30)))
            .expect("sqlite"),
    );
    let mail: Arc<dyn MailStore> = Arc::new(
        rt.block_on(SqliteStore::open(&path, Duration::from_secs(30)))
            .expect("sqlite"),
    );
    run_store(&rt, "sqlite", world, mail, 1);
    match std::env::var("DOMINION_TEST_MONGO_URL") {
        Ok(url) if !url.is_empty() => {
            let db = format!("mailbench_{}", std::process::id());
            let world = rt
                .block_on(MongoStore::connect_database(&url, Some(&db)))
                .expect("mongo");
            let mail = world.clone();
            rt.block_on(mail.prepare_mail()).expect("prepare");
            run_store(
                &rt,
                "mongodb (1/10 scale)",
                Arc::new(world),
                Arc::new(mail),
                10,
            );
        }
        _ => eprintln!(
            "\n!!!!! MongoDB part of the mail bench SKIPPED: DOMINION_TEST_MONGO_URL is not set !!!!!\n"
        ),
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
