//! The world in the store: a save/load round trip through real SQLite reproduces the exact state;
//! a `kill -9` loses at most the save window; `datafix` migrates old documents once.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use dominion::persist::{Persister, load_world};
use dominion_persistence::{Collection, KingdomId, Migrations, StoreConfig, StoredDoc};
use dominion_sim::Kingdom;
use dominion_sim::command::Command as SimCommand;
use dominion_sim::map::{MapObject, ResourceField};
use dominion_sim::march::Mission;
use dominion_sim::state_hash::hex;
use dominion_sim::types::{PlayerId, Troops};

use crate::support::runtime;
use crate::support::{
    dominion_bin, fetch_metrics, metric_value, parse_ok, small_asset_files, start_game_server,
};

/// A small kingdom with players, gathering marches and a battle under way.
fn busy_kingdom() -> Kingdom {
    let mut k = Kingdom::generate(21, Arc::new(parse_ok(&small_asset_files(160))));
    for p in 1..=4 {
        k.add_player(PlayerId(p)).unwrap();
    }
    let fields: Vec<_> = k
        .world
        .query::<(&MapObject, &ResourceField)>()
        .iter(&k.world)
        .map(|(o, _)| o.id)
        .take(4)
        .collect();
    for (i, f) in fields.into_iter().enumerate() {
        k.submit(
            PlayerId(i as u64 + 1),
            1,
            SimCommand::SendMarch {
                troops: Troops(vec![300, 50]),
                target: f,
                mission: Mission::Gather,
            },
        );
    }
    let (enemy, _) = k.city(PlayerId(2)).unwrap();
    k.submit(
        PlayerId(1),
        2,
        SimCommand::SendMarch {
            troops: Troops(vec![1000]),
            target: enemy,
            mission: Mission::Attack,
        },
    );
    for _ in 0..60 {
        k.tick();
    }
    k
}

#[test]
fn save_and_load_round_trip_through_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let store = rt
        .block_on(
            StoreConfig::from_url(&format!("sqlite://{}", dir.path().join("w.db").display()))
                .unwrap()
                .open(),
        )
        .unwrap();
    let kid = KingdomId(3);
    let epoch = rt.block_on(store.bump_epoch(kid)).unwrap();
    let mut k = busy_kingdom();
    let mut persister = {
        let _g = rt.enter();
        Persister::start(store.clone(), kid, epoch, 10, &mut k)
    };
    // Keep playing with incremental saves, then flush on shutdown.
    for _ in 0..120 {
        k.tick();
        persister.after_tick(&mut k);
    }
    rt.block_on(persister.shutdown(&mut k)).expect("flush");
    let state = rt
        .block_on(load_world(store.as_ref(), &Migrations::builtin(), kid))
        .expect("load")
        .expect("a world was saved");
    assert!(
        state == k.export_state(),
        "the loaded state is the saved state"
    );
    let mut loaded = Kingdom::from_state(k.config().assets.clone(), state).expect("restore");
    assert_eq!(hex(&loaded.state_hash()), hex(&k.state_hash()));
    // And they keep evolving identically, event for event.
    k.drain_events();
    for t in 0..300 {
        k.tick();
        loaded.tick();
        assert_eq!(
            k.drain_events(),
            loaded.drain_events(),
            "events differ at tick {t}"
        );
    }
    assert_eq!(hex(&loaded.state_hash()), hex(&k.state_hash()));
}

#[test]
fn kill_9_loses_at_most_the_save_window() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr, fp) = start_game_server(dir.path(), &["--save-interval-ms", "500"]);
    let metrics = server.metrics_addr();
    let player = runtime().block_on(async {
        let (c, _) = dominion_net::client::Client::connect(
            addr,
            dominion_net::client::ClientOptions::new(fp),
        )
        .await
        .unwrap();
        c.login(dominion_net::proto::Login {
            openid: "gina".into(),
            platform_token: "dev".into(),
            client_version: "test".into(),
        })
        .await
        .unwrap()
        .player_id
    });
    // Let the first full save land and a few incremental ones follow.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let ticks_at_kill = loop {
        let body = fetch_metrics(&metrics);
        let batches = metric_value(&body, "dominion_save_batches_written").unwrap_or(0.0);
        let ticks = metric_value(&body, "dominion_ticks_total").unwrap_or(0.0);
        if batches >= 3.0 && ticks >= 30.0 {
            break ticks as u64;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "saves never landed:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    server.child.kill().expect("kill -9");
    let _ = server.child.wait();
    drop(server);

    let (mut restarted, addr, fp) = start_game_server(dir.path(), &["--save-interval-ms", "500"]);
    let line = restarted.wait_for(
        "kingdom loaded from the store at tick",
        Duration::from_secs(60),
    );
    let loaded_tick: u64 = line
        .split("at tick ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .expect("tick in the line");
    // The save window is 500 ms = 5 ticks; allow for ticks run between the metrics read and the kill.
    assert!(
        loaded_tick + 5 + 3 >= ticks_at_kill,
        "loaded tick {loaded_tick}, ticks before the kill {ticks_at_kill}"
    );
    // The account survived: the same openid logs in as the same player, and the world goes on.
    runtime().block_on(async {
        let (c, _) = dominion_net::client::Client::connect(
            addr,
            dominion_net::client::ClientOptions::new(fp),
        )
        .await
        .unwrap();
        let ok = c
            .login(dominion_net::proto::Login {
                openid: "gina".into(),
                platform_token: "dev".into(),
                client_version: "test".into(),
            })
            .await
            .unwrap();
        assert_eq!(ok.player_id, player);
        assert!(
            ok.server_time_tick >= loaded_tick,
            "the clock continues from the save"
        );
    });
    let (status, lines) = restarted.terminate();
    assert!(status.success(), "{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.contains("world saved")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn datafix_migrates_old_documents_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dominion.db");
    let rt = runtime();
    rt.block_on(async {
        let store = StoreConfig::from_url(&format!("sqlite://{}", db.display()))
            .unwrap()
            .open()
            .await
            .unwrap();
        let old = StoredDoc::new(
            Collection::Players,
            KingdomId(1),
            "65537",
            1,
            bson::doc! { "player": 65537_i64, "name": "old", "city_id": 12_i64, "city": [3, 4],
            "troops": [5_i64], "wounded": [], "food": 10_i64, "wood": 20_i64, "gold": 40_i64 },
        );
        assert!(store.insert_if_absent(&old).await.unwrap());
    });
    let run = |args: &[&str]| {
        let out = Command::new(dominion_bin())
            .arg("datafix")
            .args(args)
            .args(["--data", dir.path().to_str().unwrap()])
            .output()
            .expect("run datafix");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plan = run(&["--dry-run"]);
    assert!(plan.contains("dry run, nothing written"), "{plan}");
    assert!(
        plan.contains("players: 1 outdated (target v3) [v1: 1]; 1 would migrate"),
        "{plan}"
    );
    assert!(
        run(&["--dry-run"]).contains("players: 1 outdated"),
        "a dry run writes nothing"
    );
    let done = run(&[]);
    assert!(
        done.contains("players: 1 outdated (target v3) [v1: 1]; 1 migrated, 0 failing, 1 written"),
        "{done}"
    );
    let after = run(&["--dry-run"]);
    assert!(after.contains("players: 0 outdated"), "{after}");
    // A folder without a store is a clear error, not an empty database.
    let out = Command::new(dominion_bin())
        .args([
            "datafix",
            "--dry-run",
            "--data",
            dir.path().join("nope").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store at"));
}
