//! `dominion serve` as a real process: starts, serves metrics, ticks, exits cleanly.

use std::time::Duration;

use crate::support::{ServerProcess, fetch_metrics, metric_value, small_asset_files, write_assets};

#[test]
fn serve_runs_n_ticks_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    write_assets(&assets, &small_asset_files(200));
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(&[
        "--assets",
        assets.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--seed",
        "9",
        "--ticks",
        "25",
    ]);
    server.wait_for("kingdom running at 10 Hz", Duration::from_secs(60));
    let (status, lines) = server.wait();
    assert!(
        status.success(),
        "exit status {status}; output:\n{}",
        lines.join("\n")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("stopped after tick 25 (tick limit reached)")),
        "{}",
        lines.join("\n")
    );
    assert!(data.is_dir(), "the data folder is created");
}

#[test]
fn serve_exports_metrics_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    write_assets(&assets, &small_asset_files(200));
    let mut server = ServerProcess::start(&[
        "--assets",
        assets.to_str().unwrap(),
        "--data",
        dir.path().join("data").to_str().unwrap(),
    ]);
    let addr = server.metrics_addr();
    server.wait_for("kingdom running", Duration::from_secs(60));
    // Let a few ticks run, then read the metrics.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let body = loop {
        let body = fetch_metrics(&addr);
        if metric_value(&body, "dominion_ticks_total").unwrap_or(0.0) >= 3.0 {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ticks never advanced:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(metric_value(&body, "dominion_config_version"), Some(1.0));
    assert!(
        body.contains("dominion_tick_phase_seconds_bucket{phase=\"simulate\""),
        "{body}"
    );
    assert!(
        body.contains("dominion_entities{kind=\"resource_field\"}"),
        "{body}"
    );
    let (status, lines) = server.terminate();
    assert!(
        status.success(),
        "exit status {status}; output:\n{}",
        lines.join("\n")
    );
    assert!(
        lines.iter().any(|l| l.contains("(shutdown requested)")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn serve_refuses_invalid_assets_with_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    let mut files = small_asset_files(200);
    let units = files.get_mut("units.toml").unwrap();
    *units = units.replacen("attack = 10", "attack = \"ten\"", 1);
    let world = files.get_mut("world.toml").unwrap();
    *world = world.replace("tick_hz = 10", "tick_hz = 100");
    write_assets(&assets, &files);
    let server = ServerProcess::start(&[
        "--assets",
        assets.to_str().unwrap(),
        "--data",
        dir.path().join("d").to_str().unwrap(),
    ]);
    let (status, lines) = server.wait();
    assert_eq!(status.code(), Some(1));
    let all = lines.join("\n");
    assert!(
        all.contains("world.toml:4: tick_hz: must be between 1 and 60, found 100"),
        "{all}"
    );
    assert!(
        all.contains("units.toml:6: unit[0].attack: expected an integer, found a string \"ten\""),
        "{all}"
    );
}
