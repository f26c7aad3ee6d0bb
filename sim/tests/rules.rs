//! One test per rule: refusals, relocation, depletion and respawn, interception, reinforcement,
//! monster respawn, and the asset knobs they read.

mod common;

use std::sync::Arc;

use common::{asset_files, city_pos, fields_near, kingdom, monsters_near, run_until};
use dominion_sim::Kingdom;
use dominion_sim::city::{City, city_entity};
use dominion_sim::command::{Command, CommandOutcome, Refusal};
use dominion_sim::config::Assets;
use dominion_sim::events::WorldEvent;
use dominion_sim::map::{MapObject, Monster, ObjectIndex, ResourceField, Terrain, TerrainKind};
use dominion_sim::march::{ArrivalFailure, MarchState, Mission};
use dominion_sim::types::{Combatant, ObjectId, PlayerId, ResourceKind, TilePos, Troops};

const A: PlayerId = PlayerId(1);
const B: PlayerId = PlayerId(2);
const C: PlayerId = PlayerId(3);

/// Submits one command, runs one tick, returns its result and the tick's events.
fn one(
    k: &mut Kingdom,
    p: PlayerId,
    c: Command,
) -> (Result<CommandOutcome, Refusal>, Vec<WorldEvent>) {
    k.submit(p, 99, c);
    k.tick();
    let ev = k.drain_events();
    let r = ev
        .iter()
        .find_map(|e| match e {
            WorldEvent::CommandResult {
                request_id: 99,
                result,
                ..
            } => Some(result.clone()),
            _ => None,
        })
        .expect("every command is answered");
    (r, ev)
}

fn send(troops: Vec<u32>, target: ObjectId, mission: Mission) -> Command {
    Command::SendMarch {
        troops: Troops(troops),
        target,
        mission,
    }
}

/// Sends to the first candidate that can be reached (map pockets walled in by mountain clusters
/// are unreachable and refused); returns the target and the march.
fn send_first_reachable(
    k: &mut Kingdom,
    p: PlayerId,
    troops: Vec<u32>,
    candidates: impl IntoIterator<Item = ObjectId>,
    mission: Mission,
) -> (ObjectId, ObjectId) {
    for c in candidates {
        let (r, _) = one(k, p, send(troops.clone(), c, mission));
        match r {
            Err(Refusal::Unreachable) => continue,
            r => return (c, march_of(&r)),
        }
    }
    panic!("no reachable target");
}

fn march_of(r: &Result<CommandOutcome, Refusal>) -> ObjectId {
    match r {
        Ok(CommandOutcome::MarchSent { march, .. }) => *march,
        other => panic!("march not sent: {other:?}"),
    }
}

#[test]
fn refusals_are_specific_and_change_nothing() {
    let mut k = kingdom(3, 2);
    let home = city_pos(&mut k, A);
    let field = fields_near(&mut k, home, ResourceKind::Food)[0].0;
    let monster = monsters_near(&mut k, home, 0)[0];
    let (b_city, _) = k.city(B).unwrap();
    let (a_city, _) = k.city(A).unwrap();
    let hash = k.state_hash();
    let cases: Vec<(PlayerId, Command, Refusal)> = vec![
        (
            PlayerId(77),
            send(vec![1], field, Mission::Gather),
            Refusal::NoCity,
        ),
        (A, send(vec![], field, Mission::Gather), Refusal::NoTroops),
        (
            A,
            send(vec![0, 0], field, Mission::Gather),
            Refusal::NoTroops,
        ),
        (
            A,
            send(vec![1], field, Mission::Scout),
            Refusal::ScoutTakesNoTroops,
        ),
        (
            A,
            send(vec![1, 0, 0, 0, 5], field, Mission::Gather),
            Refusal::UnknownUnitType { unit: 4 },
        ),
        (
            A,
            send(vec![u32::MAX, u32::MAX], field, Mission::Gather),
            Refusal::TooManyTroops {
                max: 200_000,
                asked: 2 * u64::from(u32::MAX),
            },
        ),
        (
            A,
            send(vec![0, 0, 0, 2001], field, Mission::Gather),
            Refusal::NotEnoughTroops {
                unit: "siege".into(),
                have: 2000,
                asked: 2001,
            },
        ),
        (
            A,
            send(vec![1], ObjectId(u64::MAX), Mission::Attack),
            Refusal::TargetGone,
        ),
        (
            A,
            send(vec![1], field, Mission::Attack),
            Refusal::WrongTarget { mission: "attack" },
        ),
        (
            A,
            send(vec![1], monster, Mission::Gather),
            Refusal::WrongTarget {
                mission: "gather from",
            },
        ),
        (
            A,
            send(vec![1], a_city, Mission::Attack),
            Refusal::OwnTarget,
        ),
        (
            A,
            send(vec![1], b_city, Mission::Reinforce),
            Refusal::NotAllied,
        ),
        (
            A,
            Command::Recall {
                march: ObjectId(u64::MAX),
            },
            Refusal::UnknownMarch,
        ),
        (
            A,
            Command::RelocateCity {
                to: TilePos::new(200, 5),
            },
            Refusal::OutsideMap {
                pos: TilePos::new(200, 5),
            },
        ),
        (
            A,
            Command::RelocateCity { to: home },
            Refusal::TileOccupied { pos: home },
        ),
    ];
    for (p, c, want) in cases {
        let (r, _) = one(&mut k, p, c.clone());
        assert_eq!(r, Err(want), "{c:?}");
    }
    // Refused commands change nothing but the clock.
    let mut fresh = kingdom(3, 2);
    for _ in 0..k.tick_count() {
        fresh.tick();
    }
    assert_eq!(k.state_hash(), fresh.state_hash());
    assert_ne!(k.state_hash(), hash);
    assert_eq!(
        Refusal::NotEnoughTroops {
            unit: "siege".into(),
            have: 2000,
            asked: 2001
        }
        .to_string(),
        "not enough siege at home: you have 2000, you chose 2001"
    );
    assert_eq!(
        Refusal::QueueFull { limit: 5 }.to_string(),
        "all 5 march slots are in use; wait for a march to return"
    );
}

#[test]
fn allies_ownership_queue_and_recall_refusals() {
    let mut k = kingdom(3, 3);
    let home = city_pos(&mut k, A);
    let fields = fields_near(&mut k, home, ResourceKind::Wood);
    let (b_city, _) = k.city(B).unwrap();
    k.set_alliance(A, Some(9));
    k.set_alliance(B, Some(9));
    assert!(!k.set_alliance(PlayerId(77), Some(9)));
    let (r, _) = one(&mut k, A, send(vec![1], b_city, Mission::Attack));
    assert_eq!(r, Err(Refusal::AlliedTarget));
    let mut marches = Vec::new();
    let mut left = fields.iter().map(|f| f.0);
    for i in 0..5 {
        let (_, m) = send_first_reachable(&mut k, A, vec![10 + i], &mut left, Mission::Gather);
        marches.push(m);
    }
    let (r, _) = one(&mut k, A, send(vec![1], fields[0].0, Mission::Gather));
    assert_eq!(r, Err(Refusal::QueueFull { limit: 5 }));
    let (r, _) = one(&mut k, B, Command::Recall { march: marches[0] });
    assert_eq!(r, Err(Refusal::NotYourMarch));
    let (r, _) = one(
        &mut k,
        A,
        Command::RelocateCity {
            to: TilePos::new(0, 0),
        },
    );
    assert_eq!(r, Err(Refusal::MarchesOut { marches: 5 }));
    let (r, _) = one(&mut k, A, Command::Recall { march: marches[0] });
    assert!(matches!(r, Ok(CommandOutcome::Recalled { .. })));
    let (r, _) = one(&mut k, A, Command::Recall { march: marches[0] });
    assert_eq!(r, Err(Refusal::AlreadyReturning));
}

#[test]
fn a_far_target_across_zone_rings_gets_a_route() {
    let mut k = kingdom(3, 2);
    let (b_city, _) = k.city(B).unwrap();
    let (from, to) = (city_pos(&mut k, A), city_pos(&mut k, B));
    let (r, _) = one(&mut k, A, send(vec![], b_city, Mission::Scout));
    let Ok(CommandOutcome::MarchSent { march, .. }) = r else {
        panic!("a scout to a reachable city leaves: {r:?}");
    };
    let route = &k.march(march).unwrap().route;
    assert_eq!(route.start(), from);
    assert_eq!(route.destination(), to);
}

#[test]
fn march_orders_over_the_route_budget_wait_for_the_next_tick_in_order() {
    let mut files = asset_files(200);
    // Two far orders' worth per tick.
    let m =
        files["marches.toml"].replace("route_budget_per_tick = 2048", "route_budget_per_tick = 16");
    files.insert("marches.toml".into(), m);
    let assets = Arc::new(Assets::parse(&files).unwrap());
    let mut k = Kingdom::generate(3, assets);
    k.add_player(A).unwrap();
    let home = city_pos(&mut k, A);
    // Four far fields (more than two route-graph clusters away): 8 budget units each.
    let far: Vec<ObjectId> = fields_near(&mut k, home, ResourceKind::Food)
        .into_iter()
        .rev()
        .take(4)
        .map(|(id, _)| id)
        .collect();
    for (request, &field) in (1..).zip(&far) {
        let to = common::pos_of(&mut k, field).unwrap();
        let graph = k.world.resource::<dominion_sim::march::RouteGraph>();
        assert!(!graph.is_near(home, to), "{home} → {to} is far");
        k.submit(A, request, send(vec![], field, Mission::Scout));
    }
    k.submit(
        A,
        5,
        Command::Recall {
            march: ObjectId(u64::MAX),
        },
    );
    k.tick();
    let answered = |events: &[WorldEvent]| -> Vec<u32> {
        events
            .iter()
            .filter_map(|e| match e {
                WorldEvent::CommandResult { request_id, .. } => Some(*request_id),
                _ => None,
            })
            .collect()
    };
    assert_eq!(answered(&k.drain_events()), vec![1, 2]);
    k.tick();
    assert_eq!(
        answered(&k.drain_events()),
        vec![3, 4, 5],
        "the recall behind the deferred orders waits with them"
    );
}

#[test]
fn a_city_relocates_to_a_free_plain_tile_only() {
    let mut k = kingdom(5, 1);
    let from = city_pos(&mut k, A);
    let (free, blocked) = {
        let terrain = k.world.resource::<Terrain>();
        let index = k.world.resource::<ObjectIndex>();
        let mut free = None;
        let mut blocked = None;
        for y in 0..200 {
            for x in 0..200 {
                let p = TilePos::new(x, y);
                let t = terrain.get(p).unwrap();
                if free.is_none() && t.kind() == TerrainKind::Plain && index.at(p).is_none() {
                    free = Some(p);
                }
                if blocked.is_none() && t.kind() == TerrainKind::Mountain {
                    blocked = Some(p);
                }
            }
        }
        (free.unwrap(), blocked.unwrap())
    };
    let (r, _) = one(&mut k, A, Command::RelocateCity { to: blocked });
    assert_eq!(r, Err(Refusal::TileNotBuildable { pos: blocked }));
    let (r, ev) = one(&mut k, A, Command::RelocateCity { to: free });
    let (city, _) = k.city(A).unwrap();
    assert_eq!(r, Ok(CommandOutcome::Relocated { city, to: free }));
    let cost = k.config().assets.cities.relocation.cost;
    assert!(ev.contains(&WorldEvent::CityRelocated {
        player: A,
        city,
        from,
        to: free,
        paid: cost,
    }));
    assert_eq!(city_pos(&mut k, A), free);
    assert!(k.world.resource::<ObjectIndex>().at(from).is_none());
}

#[test]
fn relocation_has_a_cooldown_and_a_cost_from_the_assets() {
    let mut files = asset_files(200);
    let cities = files["cities.toml"]
        .replace("cooldown_seconds = 3600", "cooldown_seconds = 2")
        .replace(
            "cost = { gold = 20000, stone = 50000 }",
            "cost = { gold = 60000 }",
        );
    files.insert("cities.toml".into(), cities);
    let assets = Arc::new(Assets::parse(&files).unwrap());
    let hz = u64::from(assets.world.tick_hz);
    let mut k = Kingdom::generate(3, assets);
    k.add_player(A).unwrap();
    let free: Vec<TilePos> = (0..200u16)
        .flat_map(|y| (0..200u16).map(move |x| TilePos::new(x, y)))
        .filter(|&t| dominion_sim::city::free_tile(&k.world, t).is_ok())
        .take(3)
        .collect();
    let gold = |k: &mut Kingdom| k.city(A).unwrap().1.resources.get(ResourceKind::Gold);
    let start = gold(&mut k);
    let (r, _) = one(&mut k, A, Command::RelocateCity { to: free[0] });
    assert!(matches!(r, Ok(CommandOutcome::Relocated { .. })), "{r:?}");
    let moved_at = k.tick_count();
    assert_eq!(gold(&mut k), start - 60_000);
    // Within the cooldown: refused, nothing paid.
    let (r, _) = one(&mut k, A, Command::RelocateCity { to: free[1] });
    assert_eq!(
        r,
        Err(Refusal::RelocationCooldown {
            ready_at: moved_at + 2 * hz
        })
    );
    assert_eq!(gold(&mut k), start - 60_000);
    for _ in 0..2 * hz {
        k.tick();
    }
    // After it, the storehouse is short of the second move's gold.
    let (r, _) = one(&mut k, A, Command::RelocateCity { to: free[1] });
    assert_eq!(
        r,
        Err(Refusal::CannotAfford {
            resource: "gold",
            have: start - 60_000,
            cost: 60_000
        })
    );
    assert_eq!(city_pos(&mut k, A), free[0]);
}

#[test]
fn a_depleted_field_respawns_elsewhere_in_its_zone_with_full_capacity() {
    let mut k = kingdom(11, 1);
    let home = city_pos(&mut k, A);
    let (field, _) = fields_near(&mut k, home, ResourceKind::Stone)[0];
    let fe = k.world.resource::<ObjectIndex>().entity(field).unwrap();
    k.world.get_mut::<ResourceField>(fe).unwrap().remaining = 500;
    let level = k.world.get::<ResourceField>(fe).unwrap().level;
    let (r, _) = one(&mut k, A, send(vec![1000], field, Mission::Gather));
    march_of(&r);
    let events = run_until(&mut k, 5000, |e| {
        matches!(e, WorldEvent::ObjectRemoved { .. })
    });
    assert!(events.iter().any(|e| matches!(
        e,
        WorldEvent::Gathered {
            amount: 500,
            kind: ResourceKind::Stone,
            ..
        }
    )));
    let removed_at = k.tick_count();
    assert!(k.world.resource::<ObjectIndex>().entity(field).is_none());
    // stone respawns after 450 s = 4500 ticks.
    let events = run_until(&mut k, 5000, |e| {
        matches!(e, WorldEvent::ObjectSpawned { .. })
    });
    assert_eq!(k.tick_count(), removed_at + 4500);
    let (id, pos) = events
        .iter()
        .find_map(|e| match e {
            WorldEvent::ObjectSpawned { id, pos } => Some((*id, *pos)),
            _ => None,
        })
        .unwrap();
    assert!(id > field, "ids are never reused");
    let e = k.world.resource::<ObjectIndex>().entity(id).unwrap();
    let f = *k.world.get::<ResourceField>(e).unwrap();
    assert_eq!(
        (f.kind, f.level, f.remaining),
        (
            ResourceKind::Stone,
            level,
            75_000 * u64::from(level).pow(0) * (1 << (level - 1))
        )
    );
    let tile = k.world.resource::<Terrain>().get(pos).unwrap();
    assert_eq!((tile.kind(), tile.zone()), (TerrainKind::Plain, level));
    assert_eq!(k.world.get::<MapObject>(e).unwrap().pos, pos);
}

#[test]
fn a_defeated_monster_respawns_after_its_respawn_time() {
    let mut k = kingdom(11, 1);
    let home = city_pos(&mut k, A);
    let monsters = monsters_near(&mut k, home, 0);
    send_first_reachable(&mut k, A, vec![3000], monsters, Mission::Attack);
    run_until(&mut k, 5000, |e| {
        matches!(e, WorldEvent::ObjectRemoved { .. })
    });
    let removed_at = k.tick_count();
    let events = run_until(&mut k, 7000, |e| {
        matches!(e, WorldEvent::ObjectSpawned { .. })
    });
    assert_eq!(
        k.tick_count(),
        removed_at + 6000,
        "barbarians_1 respawn in 600 s"
    );
    let id = events
        .iter()
        .find_map(|e| match e {
            WorldEvent::ObjectSpawned { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap();
    let e = k.world.resource::<ObjectIndex>().entity(id).unwrap();
    assert_eq!(
        *k.world.get::<Monster>(e).unwrap(),
        Monster { kind: 0, level: 1 }
    );
}

#[test]
fn an_attacked_gatherer_loses_part_of_its_load_to_the_attacker() {
    let mut k = kingdom(13, 12);
    let (a, b) = common::close_pair(&mut k, 12);
    let home = city_pos(&mut k, a);
    let fields: Vec<ObjectId> = fields_near(&mut k, home, ResourceKind::Food)
        .into_iter()
        .map(|f| f.0)
        .collect();
    // 5000 infantry carry 50,000: 5000 ticks of gathering, time for the attacker to arrive.
    let (_, victim) = send_first_reachable(&mut k, a, vec![5000], fields, Mission::Gather);
    run_until(&mut k, 5000, |e| {
        matches!(e, WorldEvent::MarchArrived { .. })
    });
    assert!(matches!(
        k.march(victim).unwrap().state,
        MarchState::Gathering { .. }
    ));
    let (r, _) = one(&mut k, b, send(vec![0, 20_000], victim, Mission::Attack));
    march_of(&r);
    let events = run_until(&mut k, 20_000, |e| matches!(e, WorldEvent::BattleReport(_)));
    let report = events
        .iter()
        .find_map(|e| match e {
            WorldEvent::BattleReport(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    let gathered: u64 = events
        .iter()
        .filter_map(|e| match e {
            WorldEvent::Gathered { march, amount, .. } if *march == victim => Some(*amount),
            _ => None,
        })
        .sum();
    assert!(gathered > 0, "the gatherer had loaded something");
    assert!(report.attacker_won);
    let loot = gathered * 300 / 1000;
    assert_eq!(report.defenders[0].lost.get(ResourceKind::Food), loot);
    assert_eq!(report.attackers[0].gained.get(ResourceKind::Food), loot);
    let v = k.march(victim).unwrap();
    assert_eq!(v.state, MarchState::Returning, "beaten gatherers go home");
    assert_eq!(v.load.get(ResourceKind::Food), gathered - loot);
    assert_eq!(
        v.troops.total() + v.wounded.total(),
        5000 - report.defenders[0].dead.total()
    );
}

#[test]
fn a_moving_march_is_intercepted_within_the_intercept_range() {
    let mut files = asset_files(200);
    let m = files["marches.toml"].replace("intercept_range = 2", "intercept_range = 100");
    files.insert("marches.toml".into(), m);
    let mut k = Kingdom::generate(13, Arc::new(Assets::parse(&files).unwrap()));
    for p in 1..=12 {
        k.add_player(PlayerId(p)).unwrap();
    }
    let (a, b) = common::close_pair(&mut k, 12);
    let home = city_pos(&mut k, a);
    let far: Vec<ObjectId> = fields_near(&mut k, home, ResourceKind::Food)
        .into_iter()
        .skip(20)
        .map(|f| f.0)
        .collect();
    let (_, victim) = send_first_reachable(&mut k, a, vec![0, 0, 0, 100], far, Mission::Gather);
    let (r, _) = one(&mut k, b, send(vec![0, 0, 2000], victim, Mission::Attack));
    march_of(&r);
    let events = run_until(&mut k, 20_000, |e| {
        matches!(
            e,
            WorldEvent::BattleReport(_) | WorldEvent::MarchFailed { .. }
        )
    });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, WorldEvent::BattleReport(r) if r.defenders[0].before == Troops(vec![0, 0, 0, 100]))),
        "{events:?}"
    );
}

#[test]
fn a_chase_that_arrives_too_late_fails_with_out_of_reach() {
    let mut k = kingdom(13, 12);
    let (a, b) = common::close_pair(&mut k, 12);
    let home = city_pos(&mut k, a);
    let far: Vec<ObjectId> = fields_near(&mut k, home, ResourceKind::Food)
        .into_iter()
        .skip(20)
        .map(|f| f.0)
        .collect();
    let (_, victim) = send_first_reachable(&mut k, a, vec![0, 0, 100], far, Mission::Gather);
    // Siege (speed 25) chase cavalry (speed 60) to where it was: the target has moved on.
    let (r, _) = one(&mut k, b, send(vec![0, 0, 0, 100], victim, Mission::Attack));
    let hunter = march_of(&r);
    let events = run_until(&mut k, 20_000, |e| {
        matches!(e, WorldEvent::MarchFailed { .. })
    });
    assert!(events.contains(&WorldEvent::MarchFailed {
        march: hunter,
        player: b,
        reason: ArrivalFailure::OutOfReach
    }));
}

#[test]
fn reinforcements_defend_an_allied_city_and_share_the_losses() {
    let mut k = kingdom(17, 3);
    k.set_alliance(A, Some(1));
    k.set_alliance(B, Some(1));
    let (b_city, _) = k.city(B).unwrap();
    let (r, _) = one(&mut k, A, send(vec![1000], b_city, Mission::Reinforce));
    let helper = march_of(&r);
    run_until(&mut k, 20_000, |e| {
        matches!(e, WorldEvent::MarchStationed { .. })
    });
    assert_eq!(
        k.march(helper).unwrap().state,
        MarchState::Stationed { city: b_city }
    );
    let (r, _) = one(&mut k, C, send(vec![0, 0, 5000], b_city, Mission::Attack));
    march_of(&r);
    let events = run_until(&mut k, 20_000, |e| matches!(e, WorldEvent::BattleReport(_)));
    let report = events
        .iter()
        .find_map(|e| match e {
            WorldEvent::BattleReport(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(report.defenders.len(), 2);
    assert_eq!(report.defenders[1].before, Troops(vec![1000]));
    let lost_b = report.defenders[0].before.total() - report.defenders[0].after.total();
    let lost_a = 1000 - report.defenders[1].after.total();
    assert!(lost_b > 0 && lost_a > 0, "both armies took losses");
    let (_, be) = city_entity(&k.world, B).unwrap();
    assert_eq!(
        k.world.get::<City>(be).unwrap().troops,
        report.defenders[0].after
    );
    // Recalled, the helper goes home with its survivors.
    let (r, _) = one(&mut k, A, Command::Recall { march: helper });
    assert!(matches!(r, Ok(CommandOutcome::Recalled { .. })));
}

/// Stations `troops` of A in B's city (A and B allied); returns the city and the march.
fn station_a_in_b(k: &mut Kingdom, troops: u32) -> (ObjectId, ObjectId) {
    k.set_alliance(A, Some(1));
    k.set_alliance(B, Some(1));
    let (b_city, _) = k.city(B).unwrap();
    let (r, _) = one(k, A, send(vec![troops], b_city, Mission::Reinforce));
    let helper = march_of(&r);
    run_until(k, 20_000, |e| {
        matches!(e, WorldEvent::MarchStationed { .. })
    });
    assert_eq!(
        k.march(helper).unwrap().state,
        MarchState::Stationed { city: b_city }
    );
    (b_city, helper)
}

fn city_troops(k: &mut Kingdom, p: PlayerId) -> Troops {
    let (_, e) = city_entity(&k.world, p).unwrap();
    k.world.get::<City>(e).unwrap().troops.clone()
}

#[test]
fn leaving_an_alliance_sends_the_reinforcements_between_former_allies_home_whole() {
    let mut k = kingdom(17, 3);
    let a_home = city_troops(&mut k, A).0[0];
    let (b_city, helper) = station_a_in_b(&mut k, 1000);
    assert_eq!(city_troops(&mut k, A).0[0], a_home - 1000);

    // B leaves: A's march is no longer welcome and turns home at once with all 1000.
    let now = k.tick_count();
    assert_eq!(k.change_alliance(B, None), Some(vec![helper]));
    let m = k.march(helper).unwrap();
    assert_eq!(m.state, MarchState::Returning);
    assert_eq!(m.troops, Troops(vec![1000]));
    assert_eq!(m.route.depart_tick, now);
    assert_eq!(m.route.start(), city_pos(&mut k, B));
    // A change that changes nothing sends nobody home.
    assert_eq!(k.change_alliance(B, None), Some(vec![]));
    let events = run_until(&mut k, 20_000, |e| {
        matches!(e, WorldEvent::MarchReturned { .. })
    });
    assert!(events.contains(&WorldEvent::MarchReturned {
        march: helper,
        player: A,
        troops: Troops(vec![1000]),
        wounded: Troops::default(),
        load: Default::default(),
    }));
    // Conserved: every troop that left is back.
    assert_eq!(city_troops(&mut k, A).0[0], a_home);

    // A former ally's city can be attacked now, and the battle meets only its own garrison.
    let (r, _) = one(&mut k, A, send(vec![500], b_city, Mission::Attack));
    march_of(&r);
    let events = run_until(&mut k, 20_000, |e| matches!(e, WorldEvent::BattleReport(_)));
    let report = events
        .iter()
        .find_map(|e| match e {
            WorldEvent::BattleReport(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(report.defenders.len(), 1, "{report:?}");
    assert_eq!(
        report.defenders[0].who,
        Combatant::City {
            player: B,
            city: b_city
        }
    );
}

#[test]
fn a_player_who_leaves_takes_home_their_own_reinforcements_and_loses_the_ones_they_host() {
    let mut k = kingdom(17, 3);
    k.set_alliance(C, Some(1));
    let (_, a_in_b) = station_a_in_b(&mut k, 700);
    // C (same alliance) stations in B's city as well; B stations in A's.
    let (b_city, _) = k.city(B).unwrap();
    let (a_city, _) = k.city(A).unwrap();
    let (r, _) = one(&mut k, C, send(vec![300], b_city, Mission::Reinforce));
    let c_in_b = march_of(&r);
    let (r, _) = one(&mut k, B, send(vec![200], a_city, Mission::Reinforce));
    let b_in_a = march_of(&r);
    for m in [c_in_b, b_in_a] {
        let mut ticks = 0;
        while !matches!(k.march(m).unwrap().state, MarchState::Stationed { .. }) {
            assert!(ticks < 20_000, "march {m:?} never stationed");
            k.tick();
            k.drain_events();
            ticks += 1;
        }
    }
    // Being kicked is the same input as leaving: A's own march in B and B's march in A go home;
    // C's march in B stays (B and C are still allies).
    let sent = k.change_alliance(A, None).unwrap();
    let mut expected = vec![a_in_b, b_in_a];
    expected.sort();
    assert_eq!(sent, expected);
    assert_eq!(k.march(a_in_b).unwrap().state, MarchState::Returning);
    assert_eq!(k.march(b_in_a).unwrap().state, MarchState::Returning);
    assert_eq!(
        k.march(c_in_b).unwrap().state,
        MarchState::Stationed { city: b_city }
    );
    assert_eq!(k.march(b_in_a).unwrap().troops, Troops(vec![200]));
}
