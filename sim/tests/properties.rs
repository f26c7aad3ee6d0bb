//! Property tests over random command streams: troops and resources are conserved (they change
//! only by the rules, as the events account for them), every command is answered, queue limits
//! hold, and nothing panics.

mod common;

use std::sync::OnceLock;

use common::{Ledger, assets};
use dominion_sim::Kingdom;
use dominion_sim::city::Players;
use dominion_sim::command::Command;
use dominion_sim::events::WorldEvent;
use dominion_sim::map::{GeneratedMap, MapObject, generate_map};
use dominion_sim::march::path::octile;
use dominion_sim::march::{MarchClock, MarchState, MarchTimers, Mission};
use dominion_sim::types::{ObjectId, PlayerId, TilePos, Troops};
use proptest::prelude::*;

const PLAYERS: u64 = 6;

fn map() -> &'static GeneratedMap {
    static MAP: OnceLock<GeneratedMap> = OnceLock::new();
    MAP.get_or_init(|| generate_map(21, &assets(200)))
}

/// A command drawn by proptest; targets are picks into what exists when it is applied.
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
    /// Reinforce the city of player `pick % PLAYERS + 1`.
    Reinforce {
        troops: u32,
        pick: usize,
    },
}

fn draw() -> impl Strategy<Value = Draw> {
    prop_oneof![
        6 => (
            prop::collection::vec(
                prop_oneof![8 => 0u32..3000, 2 => Just(0u32), 1 => any::<u32>()],
                0..5
            ),
            any::<usize>(),
            prop_oneof![3 => Just(0u8), 3 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
        )
            .prop_map(|(troops, pick, mission)| {
                // Scouts mostly go alone, as a client would send them.
                let troops = if mission == 3 && pick % 4 != 0 { Vec::new() } else { troops };
                Draw::Send { troops, pick, mission }
            }),
        2 => any::<usize>().prop_map(|pick| Draw::Recall { pick }),
        1 => (0u16..210, 0u16..210).prop_map(|(x, y)| Draw::Relocate { x, y }),
        1 => prop::option::of(0u64..2).prop_map(|alliance| Draw::Ally { alliance }),
    ]
}

/// Draws around alliances: reinforcements between cities, players joining and leaving (being
/// kicked is the same input), and the general draws between them.
fn alliance_draw() -> impl Strategy<Value = Draw> {
    prop_oneof![
        3 => (1u32..3000, any::<usize>()).prop_map(|(troops, pick)| Draw::Reinforce { troops, pick }),
        2 => prop::option::of(0u64..2).prop_map(|alliance| Draw::Ally { alliance }),
        2 => draw(),
    ]
}

/// Targets a player might pick: the 24 objects nearest their city, every city, every march, and
/// an id that never existed.
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
    let mut v: Vec<ObjectId> = near.into_iter().take(24).map(|(_, id)| id).collect();
    v.extend((1..=PLAYERS).filter_map(|q| k.city(PlayerId(q)).map(|c| c.0)));
    v.extend(k.marches().into_iter().map(|m| m.id));
    v.push(ObjectId(u64::MAX));
    v
}

/// Runs `stream` for `ticks` ticks on a fresh kingdom of [`PLAYERS`] players (all in alliance
/// 0 at the start when `allied`), checking the ledger and the invariants after every tick.
fn run(stream: Vec<(u8, u8, Draw)>, allied: bool, ticks: u32) {
    let assets = assets(200);
    let mut k = Kingdom::from_map(21, assets.clone(), map().clone());
    for p in 1..=PLAYERS {
        k.add_player(PlayerId(p)).unwrap();
        if allied {
            k.set_alliance(PlayerId(p), Some(0));
        }
    }
    k.drain_events();
    let mut ledger = Ledger::start(&assets, PLAYERS);
    let mut request = 0u32;
    let mut pending = 0usize;
    let mut answered = 0usize;
    let mut stream = stream.into_iter().peekable();
    for _ in 0..ticks {
        // Between ticks, each draw queues a command (the first byte spaces them out in time).
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
                    let marches = k.marches();
                    let march = if marches.is_empty() {
                        ObjectId(pick as u64)
                    } else {
                        marches[pick % marches.len()].id
                    };
                    Command::Recall { march }
                }
                Draw::Relocate { x, y } => Command::RelocateCity {
                    to: TilePos::new(x, y),
                },
                Draw::Reinforce { troops, pick } => {
                    let host = PlayerId((pick as u64) % PLAYERS + 1);
                    let city = k.city(host).map_or(ObjectId(u64::MAX), |c| c.0);
                    Command::SendMarch {
                        troops: Troops(vec![troops]),
                        target: city,
                        mission: Mission::Reinforce,
                    }
                }
                Draw::Ally { alliance } => {
                    k.set_alliance(p, alliance);
                    continue;
                }
            };
            request += 1;
            pending += 1;
            k.submit(p, request, c);
        }
        k.tick();
        let events = k.drain_events();
        answered += events
            .iter()
            .filter(|e| matches!(e, WorldEvent::CommandResult { .. }))
            .count();
        ledger.book(&events);
        ledger.check(&mut k);
        let mut clocks: Vec<(u64, ObjectId)> = k
            .world
            .query::<&MarchClock>()
            .iter(&k.world)
            .filter(|c| c.next != MarchClock::IDLE)
            .map(|c| (c.next, c.id))
            .collect();
        clocks.sort_unstable();
        let timers: Vec<(u64, ObjectId)> = k
            .world
            .resource::<MarchTimers>()
            .0
            .iter()
            .copied()
            .collect();
        assert_eq!(clocks, timers, "the timer set mirrors the march clocks");
        let limit = assets.marches.march.queue_limit;
        let marches = k.marches();
        let players = k.world.resource::<Players>();
        for (p, r) in &players.0 {
            let out = marches.iter().filter(|m| m.owner == *p).count() as u32;
            assert_eq!(r.marches, out, "march count of {p}");
            assert!(out <= limit);
        }
        // No march defends a city whose owner is not (or no longer) its owner's ally.
        for m in &marches {
            if let MarchState::Stationed { city } = m.state {
                let host = players
                    .0
                    .iter()
                    .find(|(_, r)| r.city == city)
                    .map(|(p, _)| *p);
                let host = host.expect("a stationed march's city has an owner");
                assert!(
                    players.friendly(m.owner, host),
                    "march {:?} of {} stationed with {host}, not an ally",
                    m.id,
                    m.owner
                );
            }
        }
    }
    assert_eq!(answered, pending, "every command gets exactly one answer");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_command_streams_conserve_troops_and_resources(
        stream in prop::collection::vec((0u8..25, any::<u8>(), draw()), 1..60)
    ) {
        run(stream, false, 1500);
    }
}

proptest! {
    // Reinforcements between cities take thousands of ticks to arrive on this map.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn joining_leaving_and_reinforcing_allies_conserve_troops_and_never_leave_a_march_with_a_foe(
        stream in prop::collection::vec((0u8..250, any::<u8>(), alliance_draw()), 1..60)
    ) {
        run(stream, true, 8000);
    }
}
