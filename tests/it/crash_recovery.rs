//! `kill -9` of a real `dominion serve` process under bots load, at random moments, round after
//! round: every command a client was told succeeded is in the recovered world, and the recovered
//! world's hash equals a replay of the whole journal from the seed (so nothing was lost or
//! applied twice on the way).
//!
//! Rounds: `DOMINION_CRASH_ROUNDS` (default 3, to keep the suite fast; `tools/crash_soak.sh`
//! runs 20 on SQLite and a few on MongoDB). MongoDB runs when `DOMINION_TEST_MONGO_URL` is set.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dominion::commands::outcome_to_wire;
use dominion::replay::{ReplayConfigs, apply_record};
use dominion_net::proto::CommandOutcome;
use dominion_persistence::journal::{ConfigBlobs, scan};
use dominion_sim::Kingdom;
use dominion_sim::events::WorldEvent;
use dominion_sim::state_hash::hex;
use dominion_sim::types::PlayerId;
use dominion_tools::bots::BotsConfig;

use crate::support::{
    dominion_bin, parse_ok, runtime, small_asset_files, start_game_server_within, write_assets,
};

pub(crate) const SEED: u64 = 5;

fn rounds(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator for the kill moments.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A killed instance's open transaction keeps its locks until the server expires it: MongoDB
/// after `transactionLifetimeLimitSeconds` (60 s) in the background; SecantusDB only when its
/// transaction registry is next touched. Waits past the limit, then touches it (a transaction
/// started and aborted), so the restart does not wait behind the dead instance.
async fn reap_dead_transactions(url: &str) {
    tokio::time::sleep(Duration::from_secs(62)).await;
    let client = mongodb::Client::with_uri_str(url).await.expect("connect");
    let mut session = client.start_session().await.expect("session");
    session
        .start_transaction()
        .await
        .expect("start transaction");
    let _ = client
        .database("reaper")
        .collection::<bson::Document>("nudge")
        .insert_one(bson::doc! { "at": 1 })
        .session(&mut session)
        .await;
    let _ = session.abort_transaction().await;
}

/// Parses "dominion: recovered at tick T (state hash H)".
pub(crate) fn recovered(line: &str) -> (u64, String) {
    let tick = line
        .split("at tick ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no tick in {line:?}"));
    let hash = line
        .split("state hash ")
        .nth(1)
        .map(|h| h.trim_end_matches(')').trim().to_owned())
        .unwrap_or_else(|| panic!("no hash in {line:?}"));
    (tick, hash)
}

/// Rebuilds the world from the seed and the whole journal up to `to_tick`: its hash, and every
/// command result the replay produced as (player, wire outcome).
pub(crate) fn replay_from_scratch(
    data: &Path,
    to_tick: u64,
    recoveries: &BTreeMap<u64, String>,
) -> (String, Vec<(u64, CommandOutcome)>) {
    let journal_dir = data.join("journal");
    let journal = scan(&journal_dir, false).expect("journal reads");
    let assets = Arc::new(parse_ok(&small_asset_files(200)));
    let mut kingdom = Kingdom::generate(SEED, assets.clone());
    let mut configs = ReplayConfigs::new(ConfigBlobs::new(&journal_dir));
    configs.insert(assets);
    let mut events = Vec::new();
    let check_recoveries = |k: &mut Kingdom| {
        if let Some(h) = recoveries.get(&k.tick_count()) {
            assert_eq!(
                &hex(&k.state_hash()),
                h,
                "the world recovered at tick {} differs from a replay from the seed",
                k.tick_count()
            );
        }
    };
    let mut previous = None;
    for r in journal.records.iter().filter(|r| r.tick <= to_tick) {
        while kingdom.tick_count() + 1 < r.tick {
            check_recoveries(&mut kingdom);
            kingdom.tick();
            events.extend(kingdom.drain_events());
        }
        check_recoveries(&mut kingdom);
        let check = apply_record(&mut kingdom, r, &mut configs, previous, Some(&mut events))
            .unwrap_or_else(|e| panic!("replay from scratch failed: {e}"));
        previous = Some(r.tick);
        if let Some(c) = check {
            assert!(c.matches(), "{}", c.into_error());
        }
    }
    while kingdom.tick_count() < to_tick {
        check_recoveries(&mut kingdom);
        kingdom.tick();
        events.extend(kingdom.drain_events());
    }
    check_recoveries(&mut kingdom);
    let results = events
        .into_iter()
        .filter_map(|e| match e {
            WorldEvent::CommandResult { player, result, .. } if result.is_ok() => {
                Some((player.0, outcome_to_wire(&result)))
            }
            _ => None,
        })
        .collect();
    (hex(&kingdom.state_hash()), results)
}

fn key(player: u64, o: &CommandOutcome) -> String {
    format!("{player}:{o:?}")
}

/// Runs the rounds; returns the folder (assets in `assets/`, data in `data/`) and the recovered
/// tick and hash.
fn crash_rounds(store: Option<&str>, rounds: usize) -> (tempfile::TempDir, u64, String) {
    let patience = Duration::from_secs(if store.is_some() { 150 } else { 60 });
    let mut dir = tempfile::tempdir().unwrap();
    if std::env::var_os("DOMINION_CRASH_KEEP").is_some() {
        eprintln!("crash test folder (kept): {}", dir.path().display());
        dir.disable_cleanup(true);
    }
    let data = dir.path().join("data");
    let seed = SEED.to_string();
    let mut args = vec![
        "--seed",
        &seed,
        "--save-interval-ms",
        "300",
        "--journal-keep-all",
        "--journal-hash-every",
        "10",
    ];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    let rt = runtime();
    let mut rng = Lcg(std::process::id().into());
    let mut acked: Vec<(u64, CommandOutcome)> = Vec::new();
    let mut recoveries = BTreeMap::new();
    for round in 0..rounds {
        let (mut server, addr, fp) = start_game_server_within(dir.path(), &args, patience);
        let (t, h) = recovered(&server.wait_for("recovered at tick", Duration::from_secs(5)));
        recoveries.insert(t, h);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut cfg = BotsConfig::new(addr, fp, 40);
        cfg.scenario.seed = round as u64 + 1;
        cfg.scenario.map_width = 200;
        cfg.scenario.map_height = 200;
        cfg.scenario.max_object_id = 1_500;
        cfg.scenario.command_interval = Duration::from_millis(300);
        let kill_after = Duration::from_millis(1_000 + rng.below(4_000));
        cfg.duration = kill_after + Duration::from_millis(500);
        cfg.request_timeout = Duration::from_secs(2);
        cfg.connect_timeout = Duration::from_secs(5);
        cfg.successes = Some(tx);
        let bots = rt.spawn(dominion_tools::bots::run(cfg));
        std::thread::sleep(kill_after);
        server.child.kill().expect("kill -9");
        let _ = server.child.wait();
        drop(server);
        let report = rt.block_on(bots).expect("bots task").expect("bots run");
        if let Some(url) = store {
            rt.block_on(reap_dead_transactions(url));
        }
        let mut this_round = 0;
        while let Ok(s) = rx.try_recv() {
            acked.push(s);
            this_round += 1;
        }
        eprintln!(
            "round {round}: killed after {kill_after:?}; {this_round} successes acknowledged ({} commands sent)",
            report.stats.commands_sent
        );
    }
    assert!(
        !acked.is_empty(),
        "the bots got no command through in {rounds} rounds"
    );
    // The last restart recovers from the last kill; then a clean stop.
    let (mut server, _, _) = start_game_server_within(dir.path(), &args, patience);
    let (tick, hash) = recovered(&server.wait_for("recovered at tick", Duration::from_secs(60)));
    recoveries.insert(tick, hash.clone());
    let (status, lines) = server.terminate();
    assert!(status.success(), "{}", lines.join("\n"));

    let (scratch_hash, results) = replay_from_scratch(&data, tick, &recoveries);
    assert_eq!(
        scratch_hash, hash,
        "the recovered world at tick {tick} differs from a replay of the whole journal from the seed"
    );
    let mut produced: BTreeMap<String, usize> = BTreeMap::new();
    for (p, o) in &results {
        *produced.entry(key(*p, o)).or_default() += 1;
    }
    let mut missing = Vec::new();
    for (p, o) in &acked {
        match produced.get_mut(&key(*p, o)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => missing.push(key(*p, o)),
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged commands are not in the recovered world, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    // Every march id the clients were given was created exactly once.
    let mut sent: BTreeMap<u64, usize> = BTreeMap::new();
    for (_, o) in &results {
        if let CommandOutcome::MarchSent { march_id, .. } = o {
            *sent.entry(*march_id).or_default() += 1;
        }
    }
    assert!(
        sent.values().all(|&n| n == 1),
        "a march id was handed out twice"
    );
    eprintln!(
        "{rounds} kill -9 rounds: {} acknowledged successes all recovered; world at tick {tick} matches a replay from the seed ({} players)",
        acked.len(),
        results
            .iter()
            .map(|(p, _)| PlayerId(*p))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    (dir, tick, hash)
}

#[test]
fn kill_9_under_bots_load_loses_no_acknowledged_command_sqlite() {
    let (dir, tick, hash) = crash_rounds(None, rounds("DOMINION_CRASH_ROUNDS", 3));
    let data = dir.path().join("data");
    let assets = dir.path().join("assets");

    // `dominion replay` from the seed reaches the same hash, and dumps the world as JSON.
    let dump = dir.path().join("world.json");
    let out = std::process::Command::new(dominion_bin())
        .args(["replay", "--data"])
        .arg(&data)
        .args([
            "--from-tick",
            "0",
            "--to-tick",
            &tick.to_string(),
            "--assets",
        ])
        .arg(&assets)
        .args(["--dump-at", &(tick / 2).to_string(), "--dump"])
        .arg(&dump)
        .output()
        .expect("run dominion replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all matched"), "{stdout}");
    assert!(
        stdout.contains(&format!("final state hash {hash}")),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&dump).expect("dump written")).expect("JSON");
    assert_eq!(json["tick"], serde_json::json!(tick / 2));
    assert!(
        json["players"].as_array().is_some_and(|p| !p.is_empty()),
        "{json}"
    );

    // A balance what-if: the same journal on stronger infantry diverges, and says where.
    let what_if = dir.path().join("what-if");
    let mut files = small_asset_files(200);
    let units = files.get_mut("units.toml").expect("units.toml");
    *units = units.replacen("attack = 10", "attack = 40", 1);
    write_assets(&what_if, &files);
    let out = std::process::Command::new(dominion_bin())
        .args(["replay", "--data"])
        .arg(&data)
        .args([
            "--from-tick",
            "0",
            "--to-tick",
            &tick.to_string(),
            "--assets",
        ])
        .arg(&what_if)
        .output()
        .expect("run dominion replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("first divergence at tick"), "{stdout}");
}

/// Ignored in the normal suite: a kill -9 inside a save transaction leaves the transaction's
/// locks held until the server expires it (60 s), and the restart's `bump_epoch` waits behind
/// them (SecantusDB only expires it when its registry is touched: without
/// [`reap_dead_transactions`] the restart waited more than 150 s), so every round costs over a
/// minute. `tools/crash_soak.sh` runs it.
#[test]
#[ignore = "over a minute per round (dead transactions expire after 60 s); run via tools/crash_soak.sh"]
fn kill_9_under_bots_load_loses_no_acknowledged_command_mongodb() {
    let Ok(url) = std::env::var("DOMINION_TEST_MONGO_URL") else {
        eprintln!(
            "\n!!!!! SKIPPED kill -9 rounds on MongoDB: DOMINION_TEST_MONGO_URL is not set !!!!!\n"
        );
        return;
    };
    let db = format!("crash_{}", std::process::id());
    let url = with_database(&url, &db);
    crash_rounds(Some(&url), rounds("DOMINION_CRASH_ROUNDS_MONGO", 2));
}

/// The URL with its database path replaced by `db` (query kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|s| base[s..].find('/').map(|j| s + j))
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
