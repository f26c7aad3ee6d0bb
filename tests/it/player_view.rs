//! The player's own view over real QUIC against a running `dominion serve`: each client keeps a
//! `PlayerView` from its `PlayerDelta` pushes while four players send a seeded random stream of
//! marches (gather, attack, reinforce, scout, recall) at what their map mirror shows and at each
//! other; one client reconnects mid-stream. When everything is home, every client's view equals
//! the whole state a fresh resume sends, and equals its player's state in the world the server
//! saved to SQLite on shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dominion::persist::load_world;
use dominion_net::client::{Client, ClientOptions};
use dominion_net::mirror::Mirror;
use dominion_net::player_view::PlayerView;
use dominion_net::proto::{CommandBody, Login, ServerMessage, SetViewport};
use dominion_persistence::{KingdomId, Migrations, StoreConfig};
use dominion_sim::Kingdom;
use dominion_sim::aoi::Body;
use dominion_sim::march::MarchState;
use dominion_sim::player_view::{OwnState, own_state};
use dominion_sim::types::{ObjectId, PlayerId};

use crate::support::{parse_ok, runtime, small_asset_files, start_game_server, write_assets};

const PLAYERS: usize = 4;
/// Map side: small, so marches come home within seconds.
const MAP: u16 = 96;

/// A client's copies of its own state and of its map view, filled by a task reading its pushes.
#[derive(Default)]
struct Views {
    own: PlayerView,
    map: Mirror,
    /// Own-state messages the view refused (must stay empty).
    refused: Vec<String>,
    /// Whole states received (login, resumes).
    wholes: usize,
}

fn spawn_reader(mut pushes: tokio::sync::mpsc::Receiver<ServerMessage>, views: Arc<Mutex<Views>>) {
    tokio::spawn(async move {
        while let Some(m) = pushes.recv().await {
            let mut v = views.lock().unwrap();
            match m {
                ServerMessage::PlayerDelta(d) => {
                    if d.whole {
                        v.wholes += 1;
                    }
                    if let Err(e) = v.own.apply(&d) {
                        v.refused.push(format!("player delta: {e}"));
                    }
                }
                // After a reconnect the server sends the viewport's content again: the map
                // mirror starts over (the own view needs no such care: a whole state replaces
                // it).
                ServerMessage::WorldDelta(d) if v.map.apply(&d).is_err() => {
                    v.map.reset();
                    let _ = v.map.apply(&d);
                }
                _ => {}
            }
        }
    });
}

/// A small deterministic generator for the command stream.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn state_of(views: &Arc<Mutex<Views>>) -> Option<OwnState> {
    views.lock().unwrap().own.state().cloned()
}

async fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn every_clients_player_view_equals_the_servers_state_after_a_random_stream() {
    let dir = tempfile::tempdir().unwrap();
    let files = small_asset_files(MAP);
    write_assets(&dir.path().join("assets"), &files);
    let (server, addr, fp) = start_game_server(dir.path(), &["--save-interval-ms", "200"]);
    let rt = runtime();
    let (players, views) = rt.block_on(async {
        let mut clients = Vec::new();
        let mut views = Vec::new();
        let mut players = Vec::new();
        for i in 0..PLAYERS {
            let (c, pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
            let v = Arc::new(Mutex::new(Views::default()));
            spawn_reader(pushes, v.clone());
            let ok = c
                .login(Login {
                    openid: format!("pv-{i}"),
                    platform_token: "dev".into(),
                    client_version: "test".into(),
                })
                .await
                .unwrap();
            players.push(PlayerId(ok.player_id));
            clients.push(c);
            views.push(v);
        }
        // The first push after login is the whole state: the client learns its city.
        for (i, v) in views.iter().enumerate() {
            let s = wait_for("the whole state", 10, || state_of(v)).await;
            assert_eq!(s.player, players[i]);
            assert!(s.marches.is_empty());
            assert!(s.troops.total() > 0, "starting troops");
            // Watch the 24x24 tiles around the city at the closest zoom.
            let vp = SetViewport {
                x: s.city_pos.x.saturating_sub(12),
                y: s.city_pos.y.saturating_sub(12),
                w: 24,
                h: 24,
                zoom: 0,
            };
            clients[i].set_viewport(vp).await.unwrap();
        }

        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut sent = 0usize;
        let mut accepted = 0usize;
        let started = Instant::now();
        let mut reconnected = false;
        while started.elapsed() < Duration::from_secs(12) {
            if !reconnected && started.elapsed() > Duration::from_secs(6) {
                // A dropped connection comes back with a resume: the view is restored whole,
                // marches in flight included.
                let before = views[0].lock().unwrap().wholes;
                clients[0].reconnect(None, None).await.unwrap();
                wait_for("the whole state after resume", 10, || {
                    (views[0].lock().unwrap().wholes > before).then_some(())
                })
                .await;
                reconnected = true;
            }
            let i = rng.below(PLAYERS);
            let Some(me) = state_of(&views[i]) else {
                continue;
            };
            let body = match rng.below(10) {
                0..=1 if !me.marches.is_empty() => {
                    let ids: Vec<ObjectId> = me.marches.keys().copied().collect();
                    CommandBody::Recall {
                        march_id: ids[rng.below(ids.len())].0,
                    }
                }
                2 => {
                    // At another player's city: attack, scout or reinforce.
                    let other = (i + 1 + rng.below(PLAYERS - 1)) % PLAYERS;
                    let Some(them) = state_of(&views[other]) else {
                        continue;
                    };
                    let mission = [1u8, 2, 3][rng.below(3)];
                    let troops = if mission == 3 {
                        Vec::new()
                    } else {
                        vec![
                            (0u16, 50 + rng.below(400) as u32),
                            (2, rng.below(100) as u32),
                        ]
                    };
                    CommandBody::SendMarch {
                        troops,
                        target: them.city.0,
                        mission,
                    }
                }
                _ => {
                    // At something the map mirror shows near home.
                    let seen: Vec<(ObjectId, u8)> = {
                        let v = views[i].lock().unwrap();
                        v.map
                            .objects()
                            .iter()
                            .filter_map(|(id, o)| match &o.body {
                                Body::Field { .. } => Some((*id, 0u8)),
                                Body::Monster { .. } => Some((*id, 1u8)),
                                Body::March(_) => Some((*id, 1u8)),
                                _ => None,
                            })
                            .collect()
                    };
                    if seen.is_empty() {
                        continue;
                    }
                    let (target, mission) = seen[rng.below(seen.len())];
                    let mission = if rng.below(6) == 0 { 3 } else { mission };
                    let troops = if mission == 3 {
                        Vec::new()
                    } else {
                        vec![
                            (0u16, 100 + rng.below(900) as u32),
                            (1, rng.below(300) as u32),
                        ]
                    };
                    CommandBody::SendMarch {
                        troops,
                        target: target.0,
                        mission,
                    }
                }
            };
            sent += 1;
            if let Ok(dominion_net::proto::CommandOutcome::MarchSent { .. }) =
                clients[i].command(body).await
            {
                accepted += 1;
            }
        }
        assert!(sent > 40 && accepted > 10, "{accepted} of {sent} accepted");

        // Everyone calls every march home, until no march is out anywhere.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut out = 0;
            for (i, v) in views.iter().enumerate() {
                let Some(s) = state_of(v) else { continue };
                for m in s.marches.values() {
                    out += 1;
                    if m.phase != MarchState::Returning {
                        // Refusals (it turned home meanwhile) are fine.
                        let _ = clients[i]
                            .command(CommandBody::Recall { march_id: m.id.0 })
                            .await;
                    }
                }
            }
            if out == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{out} marches still out");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Nothing moves any more: a second of ticks changes nobody's state.
        let settled: Vec<OwnState> = views.iter().map(|v| state_of(v).unwrap()).collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (i, v) in views.iter().enumerate() {
            assert_eq!(
                state_of(v).unwrap(),
                settled[i],
                "player {i} still changing"
            );
            let refused = &v.lock().unwrap().refused;
            assert!(refused.is_empty(), "client {i} refused: {refused:?}");
        }
        // A fresh resume sends the whole state from the world: it equals the delta-built view.
        for (i, c) in clients.iter_mut().enumerate() {
            let before = views[i].lock().unwrap().wholes;
            c.reconnect(None, None).await.unwrap();
            wait_for("a whole state", 10, || {
                (views[i].lock().unwrap().wholes > before).then_some(())
            })
            .await;
            assert_eq!(
                state_of(&views[i]).unwrap(),
                settled[i],
                "player {i}: deltas and a whole state agree"
            );
        }
        (players, settled)
    });
    let (status, lines) = server.terminate();
    assert!(status.success(), "{}", lines.join("\n"));

    // The world the server saved on shutdown shows each player exactly what their client holds.
    let store = rt
        .block_on(
            StoreConfig::from_url(&format!(
                "sqlite://{}",
                dir.path().join("data/dominion.db").display()
            ))
            .unwrap()
            .open(),
        )
        .unwrap();
    let state = rt
        .block_on(load_world(
            store.as_ref(),
            &Migrations::builtin(),
            KingdomId(1),
        ))
        .expect("load")
        .expect("a world was saved");
    let mut k = Kingdom::from_state(std::sync::Arc::new(parse_ok(&files)), state).expect("restore");
    let mut by_player = BTreeMap::new();
    for (p, v) in players.iter().zip(views) {
        by_player.insert(*p, v);
    }
    for (p, view) in by_player {
        let server_state = own_state(&mut k.world, p).expect("city");
        assert_eq!(
            view, server_state,
            "{p}: client view equals the saved world"
        );
    }
}
