//! Export/import: a kingdom rebuilt from its exported state hashes the same and, fed the same
//! commands, stays identical tick for tick; change tracking names exactly what changed.

mod common;

use common::{assets, fields_near, monsters_near};
use dominion_sim::Kingdom;
use dominion_sim::command::Command;
use dominion_sim::march::Mission;
use dominion_sim::snapshot::RestoreError;
use dominion_sim::state_hash::hex;
use dominion_sim::types::{PlayerId, ResourceKind, Troops};

fn busy_kingdom() -> Kingdom {
    let mut k = Kingdom::generate(11, assets(200));
    for p in 1..=6 {
        k.add_player(PlayerId(p)).unwrap();
    }
    k.set_alliance(PlayerId(1), Some(9));
    for p in 1..=6u64 {
        let player = PlayerId(p);
        let home = common::city_pos(&mut k, player);
        if let Some((f, _)) = fields_near(&mut k, home, ResourceKind::Food).first() {
            k.submit(
                player,
                1,
                Command::SendMarch {
                    troops: Troops(vec![800, 100]),
                    target: *f,
                    mission: Mission::Gather,
                },
            );
        }
        if let Some(m) = monsters_near(&mut k, home, 0).first() {
            k.submit(
                player,
                2,
                Command::SendMarch {
                    troops: Troops(vec![2000, 2000]),
                    target: *m,
                    mission: Mission::Attack,
                },
            );
        }
    }
    // Long enough for marches to be out, gathering, fighting and some to come home.
    for _ in 0..400 {
        k.tick();
    }
    k
}

#[test]
fn restored_world_hashes_the_same_and_evolves_the_same() {
    let mut original = busy_kingdom();
    let state = original.export_state();
    assert!(
        !state.marches.is_empty(),
        "the test wants marches in flight"
    );
    let mut restored =
        Kingdom::from_state(original.config().assets.clone(), state.clone()).expect("restore");
    assert_eq!(hex(&original.state_hash()), hex(&restored.state_hash()));
    assert_eq!(
        restored.export_state(),
        state,
        "export of the import is the same state"
    );
    // Same new commands on both: still identical after many ticks.
    for k in [&mut original, &mut restored] {
        let (enemy, _) = k.city(PlayerId(2)).unwrap();
        k.submit(
            PlayerId(3),
            9,
            Command::SendMarch {
                troops: Troops(vec![0, 1500, 1500]),
                target: enemy,
                mission: Mission::Attack,
            },
        );
        for _ in 0..1500 {
            k.tick();
        }
    }
    assert_eq!(hex(&original.state_hash()), hex(&restored.state_hash()));
}

#[test]
fn change_tracking_names_changed_and_removed_ids() {
    let mut k = busy_kingdom();
    k.track_changes();
    let first = k.take_changes();
    assert!(
        first.changed.len() > 1000,
        "everything counts as changed at first"
    );
    assert!(first.players && first.free_slots);
    assert!(k.take_changes().changed.is_empty(), "taking clears");
    for _ in 0..5 {
        k.tick();
    }
    let quiet = k.take_changes();
    assert!(
        quiet.changed.len() < 50,
        "a few ticks touch few entities: {}",
        quiet.changed.len()
    );
    // A new march is a change; after it is everything it touched is too.
    k.drain_events();
    let home = common::city_pos(&mut k, PlayerId(4));
    let (field, _) = fields_near(&mut k, home, ResourceKind::Wood)[0];
    k.submit(
        PlayerId(4),
        5,
        Command::SendMarch {
            troops: Troops(vec![100]),
            target: field,
            mission: Mission::Gather,
        },
    );
    k.tick();
    let events = k.drain_events();
    let march = events
        .iter()
        .find_map(|e| match e {
            dominion_sim::events::WorldEvent::MarchStarted { march, .. } => Some(*march),
            _ => None,
        })
        .expect("march started");
    let changes = k.take_changes();
    assert!(
        changes.changed.contains(&march),
        "{march} not in {:?}",
        changes
    );
    assert!(
        changes.changed.contains(&k.city(PlayerId(4)).unwrap().0),
        "troops left the city"
    );
}

#[test]
fn a_stored_world_of_another_size_is_refused() {
    let mut k = Kingdom::generate(1, assets(200));
    let state = k.export_state();
    let err = Kingdom::from_state(assets(220), state)
        .err()
        .expect("refused");
    assert_eq!(
        err,
        RestoreError::MapSize {
            stored_w: 200,
            stored_h: 200,
            w: 220,
            h: 220
        }
    );
}
