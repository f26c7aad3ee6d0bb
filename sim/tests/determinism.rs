//! Determinism: the same seed, assets and command log give the same world hash after N ticks,
//! whether rayon runs on one thread or several; a different seed gives a different hash.

mod common;

use common::{assets, fields_near, monsters_near};
use dominion_sim::Kingdom;
use dominion_sim::command::Command;
use dominion_sim::march::Mission;
use dominion_sim::state_hash::hex;
use dominion_sim::types::{ObjectId, PlayerId, ResourceKind, TilePos, Troops};

/// Generates a kingdom, founds 8 players, and replays a fixed command log over 3000 ticks.
fn play(seed: u64) -> [u8; 32] {
    let mut k = Kingdom::generate(seed, assets(200));
    for p in 1..=8 {
        k.add_player(PlayerId(p)).unwrap();
    }
    k.set_alliance(PlayerId(1), Some(1));
    k.set_alliance(PlayerId(2), Some(1));
    let mut log: Vec<(u64, PlayerId, Command)> = Vec::new();
    for p in 1..=8u64 {
        let player = PlayerId(p);
        let home = common::city_pos(&mut k, player);
        for (i, (f, _)) in fields_near(&mut k, home, ResourceKind::Food)
            .iter()
            .take(3)
            .enumerate()
        {
            log.push((
                p * 7 + i as u64,
                player,
                Command::SendMarch {
                    troops: Troops(vec![500 * (i as u32 + 1), 100]),
                    target: *f,
                    mission: Mission::Gather,
                },
            ));
        }
        if let Some(m) = monsters_near(&mut k, home, 0).first() {
            log.push((
                p * 11,
                player,
                Command::SendMarch {
                    troops: Troops(vec![2000, 2000]),
                    target: *m,
                    mission: Mission::Attack,
                },
            ));
        }
        let (enemy, _) = k.city(PlayerId(p % 8 + 1)).unwrap();
        log.push((
            400 + p,
            player,
            Command::SendMarch {
                troops: Troops(vec![0, 3000, 3000]),
                target: enemy,
                mission: Mission::Attack,
            },
        ));
        log.push((900 + p, player, Command::Recall { march: ObjectId(0) }));
        log.push((
            1000 + p,
            player,
            Command::RelocateCity {
                to: TilePos::new(p as u16 * 20, 100),
            },
        ));
    }
    log.sort_by_key(|(t, p, _)| (*t, *p));
    let mut next = 0;
    for t in 0..3000u64 {
        while next < log.len() && log[next].0 == t {
            let (_, p, c) = log[next].clone();
            // Recall the player's first march out, whatever its id turned out to be.
            let c = match c {
                Command::Recall { .. } => match k.marches().into_iter().find(|m| m.owner == p) {
                    Some(m) => Command::Recall { march: m.id },
                    None => c,
                },
                c => c,
            };
            k.submit(p, next as u32, c);
            next += 1;
        }
        k.tick();
        k.drain_events();
    }
    k.state_hash()
}

#[test]
fn same_seed_assets_and_log_give_the_same_hash_with_rayon_on_and_off() {
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| play(5));
    let many_threads = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| play(5));
    assert_eq!(hex(&one_thread), hex(&many_threads));
    assert_ne!(hex(&play(6)), hex(&one_thread), "the seed matters");
}
