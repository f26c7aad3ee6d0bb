//! The player's own view over random command streams: every tick, each watched player's copy
//! (their first whole state, then the deltas applied in order) equals their state in the world,
//! and that state equals one built by a plain scan of every march; players who start watching
//! late, stop and come back, or are restored from a snapshot keep in step.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use common::assets;
use dominion_sim::Kingdom;
use dominion_sim::city::City;
use dominion_sim::command::Command;
use dominion_sim::map::{GeneratedMap, MapObject, generate_map};
use dominion_sim::march::path::octile;
use dominion_sim::march::{March, Mission};
use dominion_sim::player_view::{OwnMarch, OwnState, collect_deltas, own_state, unwatch, watch};
use dominion_sim::types::{ObjectId, PlayerId, TilePos, Troops};
use proptest::prelude::*;

const PLAYERS: u64 = 6;

fn map() -> &'static GeneratedMap {
    static MAP: OnceLock<GeneratedMap> = OnceLock::new();
    MAP.get_or_init(|| generate_map(33, &assets(200)))
}

#[derive(Clone, Debug)]
enum Draw {
    Send {
        troops: Vec<u32>,
        pick: usize,
        mission: u8,
    },
    Recall {
        pick: usize,
    },
    Relocate {
        x: u16,
        y: u16,
    },
    Ally {
        alliance: Option<u64>,
    },
    /// Toggle whether the player is watched (a session comes or goes).
    Toggle,
    /// Save and restore the whole world.
    Restore,
}

fn draw() -> impl Strategy<Value = Draw> {
    prop_oneof![
        8 => (
            prop::collection::vec(0u32..2500, 1..4),
            any::<usize>(),
            prop_oneof![3 => Just(0u8), 4 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
        )
            .prop_map(|(troops, pick, mission)| {
                let troops = if mission == 3 { Vec::new() } else { troops };
                Draw::Send { troops, pick, mission }
            }),
        2 => any::<usize>().prop_map(|pick| Draw::Recall { pick }),
        1 => (0u16..200, 0u16..200).prop_map(|(x, y)| Draw::Relocate { x, y }),
        1 => prop::option::of(0u64..2).prop_map(|alliance| Draw::Ally { alliance }),
        1 => Just(Draw::Toggle),
        1 => Just(Draw::Restore),
    ]
}

/// The 16 objects nearest the player's city, every city and every march.
fn candidates(k: &mut Kingdom, p: PlayerId) -> Vec<ObjectId> {
    let Some((city, _)) = k.city(p) else {
        return vec![ObjectId(u64::MAX)];
    };
    let home = common::pos_of(k, city).unwrap_or(TilePos::new(0, 0));
    let mut near: Vec<(u64, ObjectId)> = k
        .world
        .query::<&MapObject>()
        .iter(&k.world)
        .map(|o| (octile(home, o.pos), o.id))
        .collect();
    near.sort_unstable();
    let mut v: Vec<ObjectId> = near.into_iter().take(16).map(|(_, id)| id).collect();
    v.extend(k.marches().into_iter().map(|m| m.id));
    v
}

/// The player's state built by a plain scan of every march (the reference).
fn scanned_state(k: &mut Kingdom, p: PlayerId) -> OwnState {
    let (city, c) = k.city(p).expect("city");
    let c: City = c.clone();
    let pos = common::pos_of(k, city).expect("city on map");
    let alliance = k
        .world
        .resource::<dominion_sim::city::Players>()
        .0
        .get(&p)
        .and_then(|r| r.alliance);
    let marches: BTreeMap<ObjectId, OwnMarch> = k
        .world
        .query::<&March>()
        .iter(&k.world)
        .filter(|m| m.owner == p)
        .map(|m| (m.id, OwnMarch::of(m)))
        .collect();
    OwnState {
        player: p,
        city,
        city_pos: pos,
        troops: c.troops,
        wounded: c.wounded,
        resources: c.resources,
        alliance,
        marches,
    }
}

fn run(stream: Vec<(u8, u8, Draw)>) {
    let assets = assets(200);
    let mut k = Kingdom::from_map(33, assets.clone(), map().clone());
    for p in 1..=PLAYERS {
        k.add_player(PlayerId(p)).unwrap();
    }
    // Players 1..=4 watch from the start; 5 and 6 come and go with Toggle.
    let mut copies: BTreeMap<PlayerId, OwnState> = BTreeMap::new();
    for p in 1..=4 {
        let p = PlayerId(p);
        copies.insert(p, watch(&mut k.world, p).expect("city"));
    }
    let mut request = 0u32;
    let mut stream = stream.into_iter().peekable();
    for _ in 0..900 {
        while let Some((gap, who, d)) = stream.peek().cloned() {
            if gap > 0 {
                if let Some(s) = stream.peek_mut() {
                    s.0 -= 1;
                }
                break;
            }
            stream.next();
            let p = PlayerId(u64::from(who % PLAYERS as u8) + 1);
            let c = match d {
                Draw::Send {
                    troops,
                    pick,
                    mission,
                } => {
                    let targets = candidates(&mut k, p);
                    Command::SendMarch {
                        troops: Troops(troops),
                        target: targets[pick % targets.len()],
                        mission: [
                            Mission::Gather,
                            Mission::Attack,
                            Mission::Reinforce,
                            Mission::Scout,
                        ][usize::from(mission)],
                    }
                }
                Draw::Recall { pick } => {
                    let mine: Vec<_> = k.marches().into_iter().filter(|m| m.owner == p).collect();
                    if mine.is_empty() {
                        continue;
                    }
                    Command::Recall {
                        march: mine[pick % mine.len()].id,
                    }
                }
                Draw::Relocate { x, y } => Command::RelocateCity {
                    to: TilePos::new(x, y),
                },
                Draw::Ally { alliance } => {
                    k.set_alliance(p, alliance);
                    continue;
                }
                Draw::Toggle => {
                    if copies.remove(&p).is_some() {
                        unwatch(&mut k.world, p);
                    } else {
                        copies.insert(p, watch(&mut k.world, p).expect("city"));
                    }
                    continue;
                }
                Draw::Restore => {
                    // The world is saved and rebuilt; its events so far are delivered first,
                    // and every watcher is watching again in the new world (as sessions resume
                    // after a restart), starting from a whole state.
                    let events = k.drain_events();
                    for d in collect_deltas(&mut k.world, &events) {
                        copies.get_mut(&d.player).expect("watched").apply(&d);
                    }
                    let state = k.export_state();
                    k = Kingdom::from_state(assets.clone(), state).expect("restore");
                    for (p, copy) in copies.iter_mut() {
                        let whole = watch(&mut k.world, *p).expect("city");
                        assert_eq!(*copy, whole, "{p}: the restored world shows what was sent");
                        *copy = whole;
                    }
                    continue;
                }
            };
            request += 1;
            k.submit(p, request, c);
        }
        k.tick();
        let events = k.drain_events();
        let out = collect_deltas(&mut k.world, &events);
        let mut players: Vec<_> = out.iter().map(|d| d.player).collect();
        players.dedup();
        assert_eq!(
            players.len(),
            out.len(),
            "at most one delta per player per tick"
        );
        for d in &out {
            assert!(!d.is_empty());
            copies
                .get_mut(&d.player)
                .expect("deltas only for watched players")
                .apply(d);
        }
        for (p, copy) in &copies {
            let server = own_state(&mut k.world, *p).expect("city");
            assert_eq!(*copy, server, "{p}'s copy equals the world's state");
            assert_eq!(
                server,
                scanned_state(&mut k, *p),
                "{p}: index agrees with a scan"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn every_watched_copy_equals_the_world_after_random_streams(
        stream in prop::collection::vec((0u8..20, any::<u8>(), draw()), 1..70)
    ) {
        run(stream);
    }
}

#[test]
fn a_march_round_trip_sends_one_delta_per_change_and_none_when_idle() {
    let assets = assets(200);
    let mut k = Kingdom::from_map(33, assets, map().clone());
    let p = PlayerId(1);
    k.add_player(p).unwrap();
    let mut copy = watch(&mut k.world, p).unwrap();
    let events = k.drain_events();
    assert!(
        collect_deltas(&mut k.world, &events).is_empty(),
        "founding happened before the watch: nothing new"
    );
    let home = common::city_pos(&mut k, p);
    let field = common::fields_near(&mut k, home, dominion_sim::types::ResourceKind::Food)[0].0;
    k.submit(
        p,
        1,
        Command::SendMarch {
            troops: Troops(vec![100]),
            target: field,
            mission: Mission::Gather,
        },
    );
    k.tick();
    let events = k.drain_events();
    let d = collect_deltas(&mut k.world, &events);
    assert_eq!(d.len(), 1);
    assert!(d[0].troops.is_some(), "troops left home");
    assert_eq!(d[0].marches.len(), 1, "the new march");
    assert!(d[0].resources.is_none() && d[0].wounded.is_none() && d[0].city.is_none());
    copy.apply(&d[0]);
    let march = d[0].marches[0].id;
    let mut sent = 1;
    let mut idle_ticks = 0;
    while !copy.marches.is_empty() {
        k.tick();
        let events = k.drain_events();
        let d = collect_deltas(&mut k.world, &events);
        if d.is_empty() {
            idle_ticks += 1;
        }
        for d in &d {
            assert!(
                d.marches.is_empty(),
                "a known march travels as its changed fields"
            );
            assert!(d.changed.iter().all(|c| c.id == march));
            copy.apply(d);
            sent += 1;
        }
        assert!(k.tick_count() < 20_000, "march {march} never came home");
    }
    assert_eq!(copy, own_state(&mut k.world, p).unwrap());
    assert!(copy.resources.total() > 0);
    // Outbound, gathering, returning, home: a handful of deltas over hundreds of ticks.
    assert!(sent <= 6, "{sent} deltas");
    assert!(idle_ticks > 100, "quiet ticks send nothing ({idle_ticks})");
}
