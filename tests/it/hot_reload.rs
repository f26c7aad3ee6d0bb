//! Hot reload against a running world: valid edits apply at a tick boundary with a new version,
//! invalid edits are rejected with file/line/field and the last good config stays.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use dominion::watch::watch_assets;
use dominion_sim::Kingdom;
use dominion_sim::events::WorldEvent;

use crate::support::{
    ServerProcess, fetch_metrics, metric_value, parse_ok, small_asset_files, write_assets,
};

#[test]
fn watched_edit_applies_at_the_next_tick_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let files = small_asset_files(160);
    write_assets(dir.path(), &files);
    let mut kingdom = Kingdom::generate(3, Arc::new(parse_ok(&files)));
    kingdom.tick();
    let (tx, rx) = mpsc::channel();
    let _watcher = watch_assets(dir.path(), tx).expect("watch");

    // A valid edit: infantry attack 10 -> 15.
    let units = files["units.toml"].replacen("attack = 10", "attack = 15", 1);
    std::fs::write(dir.path().join("units.toml"), units).unwrap();
    let reload = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("reload after edit");
    let assets = reload.expect("edit is valid");
    kingdom.stage_config(Arc::new(assets)).expect("compatible");
    assert_eq!(
        kingdom.config().version,
        1,
        "nothing applies before the tick boundary"
    );
    assert_eq!(kingdom.config().assets.units.types[0].attack, 10);
    kingdom.tick();
    assert_eq!(kingdom.config().version, 2);
    assert_eq!(kingdom.config().assets.units.types[0].attack, 15);
    assert_eq!(
        kingdom.drain_events(),
        vec![WorldEvent::ConfigApplied {
            version: 2,
            tick: 2
        }]
    );

    // An invalid edit: rejected with file/line/field; the world keeps version 2.
    let broken = files["units.toml"].replacen("defence = 12", "defence = -1", 1);
    std::fs::write(dir.path().join("units.toml"), broken).unwrap();
    let reload = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("reload after edit");
    let errors = reload.expect_err("edit is invalid");
    assert_eq!(
        errors.to_string(),
        "units.toml:7: unit[0].defence: must be between 0 and 1000000, found -1"
    );
    kingdom.tick();
    assert_eq!(kingdom.config().version, 2);
    assert_eq!(kingdom.config().assets.units.types[0].defence, 12);
}

#[test]
fn a_map_resize_is_refused_in_a_running_world() {
    let files = small_asset_files(160);
    let mut kingdom = Kingdom::generate(3, Arc::new(parse_ok(&files)));
    let bigger = parse_ok(&small_asset_files(180));
    let err = kingdom
        .stage_config(Arc::new(bigger))
        .expect_err("resize refused");
    assert!(err.to_string().contains("160x160 -> 180x180"), "{err}");
    kingdom.tick();
    assert_eq!(kingdom.config().version, 1);
}

#[test]
fn running_server_reloads_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    let files = small_asset_files(160);
    write_assets(&assets, &files);
    let mut server = ServerProcess::start(&[
        "--assets",
        assets.to_str().unwrap(),
        "--data",
        dir.path().join("data").to_str().unwrap(),
    ]);
    let addr = server.metrics_addr();
    server.wait_for("watching", Duration::from_secs(60));

    let edited = files["marches.toml"].replace("queue_limit = 5", "queue_limit = 6");
    std::fs::write(assets.join("marches.toml"), edited).unwrap();
    server.wait_for("config version 2 applied", Duration::from_secs(20));

    let broken = files["marches.toml"].replace("queue_limit = 5", "queue_limit = 50");
    std::fs::write(assets.join("marches.toml"), broken).unwrap();
    server.wait_for("keeping config version 2", Duration::from_secs(20));
    server.wait_for(
        "marches.toml:4: march.queue_limit: must be between 1 and 20, found 50",
        Duration::from_secs(5),
    );
    let body = fetch_metrics(&addr);
    assert_eq!(
        metric_value(&body, "dominion_config_version"),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        metric_value(&body, "dominion_config_reload_failures_total"),
        Some(1.0),
        "{body}"
    );
    let (status, lines) = server.terminate();
    assert!(status.success(), "{}", lines.join("\n"));
}
