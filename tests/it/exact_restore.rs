//! A world saved through the real store (SQLite) and loaded again is the same world: it hashes
//! the same and evolves identically, even with respawns half-consumed (their sequence numbers
//! seed the respawn RNG), a reloaded config (its version is in the hash) and commands a tick left
//! waiting for the route budget.

use std::sync::Arc;

use dominion::persist::{Persister, load_world};
use dominion_persistence::{KingdomId, Migrations, StoreConfig};
use dominion_sim::Kingdom;
use dominion_sim::command::{Command as SimCommand, CommandInbox};
use dominion_sim::map::{MapObject, ResourceField, Respawn, Respawns};
use dominion_sim::march::Mission;
use dominion_sim::state_hash::hex;
use dominion_sim::types::{PlayerId, Troops};

use crate::support::{parse_ok, small_asset_files};

/// Player cities, gathering marches, respawns due over the next ticks, and a route budget of 1 so
/// a burst of orders leaves some waiting.
fn busy_world() -> (Kingdom, dominion_sim::config::AssetFiles) {
    let mut files = small_asset_files(160);
    let marches = files.get_mut("marches.toml").expect("marches.toml");
    *marches = marches.replace("route_budget_per_tick = 2048", "route_budget_per_tick = 1");
    assert!(marches.contains("route_budget_per_tick = 1"));
    let mut k = Kingdom::generate(33, Arc::new(parse_ok(&files)));
    for p in 1..=6 {
        k.add_player(PlayerId(p)).unwrap();
    }
    let now = k.tick_count();
    for i in 0..8u64 {
        k.world.resource_mut::<Respawns>().schedule(
            now + 5 + i * 20,
            Respawn::Monster {
                kind: 0,
                zone: 1 + (i % 2) as u8,
            },
        );
    }
    (k, files)
}

fn send_gatherers(k: &mut Kingdom, request: u32) {
    let fields: Vec<_> = k
        .world
        .query::<(&MapObject, &ResourceField)>()
        .iter(&k.world)
        .map(|(o, _)| o.id)
        .skip(request as usize)
        .take(6)
        .collect();
    for (i, f) in fields.into_iter().enumerate() {
        k.submit(
            PlayerId(i as u64 + 1),
            request,
            SimCommand::SendMarch {
                troops: Troops(vec![100, 20]),
                target: f,
                mission: Mission::Gather,
            },
        );
    }
}

#[test]
fn a_restored_world_hashes_and_evolves_like_the_saved_one() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = rt
        .block_on(
            StoreConfig::from_url(&format!("sqlite://{}", dir.path().join("w.db").display()))
                .unwrap()
                .open(),
        )
        .unwrap();
    let kid = KingdomId(4);
    let epoch = rt.block_on(store.bump_epoch(kid)).unwrap();
    let (mut k, files) = busy_world();
    let mut persister = {
        let _g = rt.enter();
        Persister::start(store.clone(), kid, epoch, 10, &mut k)
    };
    send_gatherers(&mut k, 0);
    for _ in 0..70 {
        k.tick();
        persister.after_tick(&mut k);
    }
    // A config reload: same rules, another text, so version 2 with another digest.
    let mut reloaded = files.clone();
    reloaded
        .get_mut("world.toml")
        .expect("world.toml")
        .push_str("\n# tuned\n");
    let reloaded = Arc::new(parse_ok(&reloaded));
    k.stage_config(reloaded.clone())
        .expect("a compatible reload");
    k.tick();
    assert_eq!(k.config().version, 2);
    // A burst of orders over the budget of 1 leaves some waiting at the save.
    send_gatherers(&mut k, 6);
    k.tick();
    let waiting = k.world.resource::<CommandInbox>().waiting().len();
    assert!(waiting > 0, "orders wait for the route budget");
    let respawns = k.world.resource::<Respawns>();
    assert!(
        !respawns.queue.is_empty() && respawns.queue.keys().all(|&(_, seq)| seq > 0),
        "respawns were consumed, so the first waiting one has a sequence number above 0"
    );
    rt.block_on(persister.shutdown(&mut k)).expect("flush");

    let state = rt
        .block_on(load_world(store.as_ref(), &Migrations::builtin(), kid))
        .expect("load")
        .expect("a world was saved");
    assert!(
        state == k.export_state(),
        "the loaded state is the saved one"
    );
    let mut loaded = Kingdom::from_state(reloaded, state).expect("restore");
    assert_eq!(loaded.config().version, 2);
    assert_eq!(hex(&loaded.state_hash()), hex(&k.state_hash()));
    k.drain_events();
    for t in 0..400 {
        k.tick();
        loaded.tick();
        assert_eq!(
            k.drain_events(),
            loaded.drain_events(),
            "events differ {t} ticks after the restore"
        );
        if t % 50 == 0 {
            assert_eq!(
                hex(&loaded.state_hash()),
                hex(&k.state_hash()),
                "hash differs {t} ticks after the restore"
            );
        }
    }
    assert_eq!(hex(&loaded.state_hash()), hex(&k.state_hash()));
    assert!(
        k.world.resource::<Respawns>().queue.len() < 8,
        "respawns were brought back during the run"
    );
}
