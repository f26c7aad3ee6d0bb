//! Issue 13, fencing: an instance whose owner epoch another one took stops ticking and
//! acknowledging, closes its sessions with `FENCED`, sets its journal aside and exits with code
//! 3; one data folder serves one instance at a time.

use std::time::Duration;

use dominion_net::client::{Client, ClientOptions};
use dominion_net::proto::{CloseCode, Login};
use dominion_persistence::{KingdomId, StoreConfig};

use crate::support::{ServerProcess, runtime, start_game_server};

fn login(openid: &str) -> Login {
    Login {
        openid: openid.into(),
        platform_token: "dev".into(),
        client_version: "test".into(),
    }
}

#[test]
fn an_instance_whose_epoch_was_taken_stops_closes_its_sessions_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr, fp) = start_game_server(dir.path(), &["--epoch-check-ms", "100"]);
    let data = dir.path().join("data");

    // A second server on the same data folder is refused before it touches anything.
    let second = ServerProcess::start(&[
        "--assets",
        dir.path().join("assets").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let (status, lines) = second.wait_within(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("is in use by another dominion serve (pid")),
        "{lines:#?}"
    );

    let rt = runtime();
    let (pia, _pushes) = rt
        .block_on(Client::connect(addr, ClientOptions::new(fp)))
        .unwrap();
    rt.block_on(pia.login(login("pia"))).unwrap();
    server.wait_for("first save", Duration::from_secs(30));

    // Another owner takes the epoch, as a new instance's start does.
    let url = format!("sqlite://{}", data.join("dominion.db").display());
    let store = rt
        .block_on(StoreConfig::from_url(&url).unwrap().open())
        .unwrap();
    let kingdom = KingdomId(1);
    let held = rt.block_on(store.current_epoch(kingdom)).unwrap();
    assert!(held > 0);
    let taken = rt.block_on(store.take_epoch(kingdom, held)).unwrap();
    assert_eq!(taken, held + 1);

    let closed = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), pia.closed()).await })
        .expect("the session is closed once the server notices");
    match &closed {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code.into_inner(), u64::from(CloseCode::FENCED.0))
        }
        other => panic!("closed with {other:?}"),
    }
    let (status, lines) = server.wait_within(Duration::from_secs(60));
    assert_eq!(status.code(), Some(3), "{lines:#?}");
    let fenced = lines
        .iter()
        .find(|l| l.starts_with("dominion: FENCED at tick"))
        .unwrap_or_else(|| panic!("no FENCED line in {lines:#?}"));
    // Noticed by the epoch check or by a refused save, whichever came first.
    assert!(
        fenced.contains(&format!(
            "epoch in the store is {taken}, this instance holds {held}"
        )) || fenced.contains(&format!("the store refused a save for owner epoch {held}")),
        "{fenced}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("world saved")),
        "a fenced instance does not attempt its final save: {lines:#?}"
    );
    // Its journal is out of the way, never to be replayed onto the new owner's saves.
    assert!(!data.join("journal").exists());
    let aside: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("journal.fenced-epoch{held}-")))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    // The store still names the new owner: the fenced instance wrote nothing after.
    assert_eq!(rt.block_on(store.current_epoch(kingdom)).unwrap(), taken);

    // A later start on this folder takes the next epoch and loads the store's world.
    let (restarted, _, _) = start_game_server(dir.path(), &[]);
    assert_eq!(
        rt.block_on(store.current_epoch(kingdom)).unwrap(),
        taken + 1
    );
    let (status, lines) = restarted.terminate();
    assert!(status.success(), "{lines:#?}");
}
