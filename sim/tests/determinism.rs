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

/// 200 players on a 400×400 map each order five marches to fields at least 150 tiles away in
/// another zone ring, all in one tick (1,000 far orders: far over the per-tick route budget, so
/// most wait), then the world runs 300 ticks. With `warm`, the routes of half the orders are planned
/// ahead with `prefetch_routes` (as the host does between ticks), which must change nothing but
/// speed.
fn far_burst(warm: bool) -> [u8; 32] {
    use dominion_sim::command::prefetch_routes;
    use dominion_sim::map::{MapObject, ResourceField, Terrain};
    use dominion_sim::march::path::octile;
    use dominion_sim::rng::SimRng;

    let mut k = Kingdom::generate(8, assets(400));
    for p in 1..=200 {
        k.add_player(PlayerId(p)).unwrap();
    }
    let mut fields: Vec<(ObjectId, TilePos)> = k
        .world
        .query::<(&MapObject, &ResourceField)>()
        .iter(&k.world)
        .map(|(o, _)| (o.id, o.pos))
        .collect();
    fields.sort_unstable();
    let mut rng = SimRng::new(8, 99);
    let mut orders = Vec::new();
    for p in 1..=200u64 {
        let home = common::city_pos(&mut k, PlayerId(p));
        let terrain = k.world.resource::<Terrain>();
        let zone = |t: TilePos| terrain.get(t).map(|t| t.zone());
        let mut picked = 0;
        while picked < 5 {
            let (id, pos) = fields[rng.below(fields.len() as u64) as usize];
            if octile(home, pos) >= 150_000 && zone(home) != zone(pos) {
                let troops = if picked == 4 {
                    Troops::default()
                } else {
                    Troops(vec![100 + picked, 50])
                };
                let mission = if picked == 4 {
                    Mission::Scout
                } else {
                    Mission::Gather
                };
                orders.push((
                    PlayerId(p),
                    Command::SendMarch {
                        troops,
                        target: id,
                        mission,
                    },
                ));
                picked += 1;
            }
        }
    }
    assert_eq!(orders.len(), 1000);
    if warm {
        // What the host does between ticks: plan the orders' routes ahead.
        let half = || orders.iter().step_by(2).map(|(p, c)| (*p, c));
        let searched = prefetch_routes(&mut k.world, half());
        assert!(searched > 400, "half the orders planned ahead ({searched})");
        assert_eq!(prefetch_routes(&mut k.world, half()), 0, "then known");
    }
    for (i, (p, c)) in orders.into_iter().enumerate() {
        k.submit(p, i as u32, c);
    }
    let mut sent = 0;
    for _ in 0..300 {
        k.tick();
        sent += k
            .drain_events()
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    dominion_sim::events::WorldEvent::CommandResult { result: Ok(_), .. }
                )
            })
            .count();
    }
    assert!(sent >= 900, "most far orders leave ({sent} of 1000)");
    k.state_hash()
}

#[test]
fn a_burst_of_far_orders_in_one_tick_gives_the_same_world_on_any_thread_count_and_cache() {
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| far_burst(false));
    let many_threads = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| far_burst(false));
    assert_eq!(hex(&one_thread), hex(&many_threads));
    assert_eq!(
        hex(&far_burst(true)),
        hex(&one_thread),
        "a warm route cache changes nothing"
    );
}
