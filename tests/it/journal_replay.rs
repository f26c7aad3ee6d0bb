//! A recorded busy run replays to the same hash at every recorded tick, with rayon on and off:
//! a driver founds cities, sets alliances, sends and recalls marches and reloads the config for a
//! few thousand ticks, journaling every input through the server's own [`TickJournal`]; then the
//! journal is replayed on a world generated from the same seed.

use std::collections::BTreeMap;
use std::sync::Arc;

use dominion::journal::{JournalSettings, TickJournal};
use dominion::replay::{ReplayConfigs, apply_record};
use dominion_persistence::journal::{ConfigBlobs, JournalInput, scan};
use dominion_sim::Kingdom;
use dominion_sim::command::Command;
use dominion_sim::events::WorldEvent;
use dominion_sim::map::{MapObject, Monster, ResourceField};
use dominion_sim::march::Mission;
use dominion_sim::state_hash::hex;
use dominion_sim::types::{ObjectId, PlayerId, Troops};

use crate::support::{parse_ok, small_asset_files};

const SEED: u64 = 77;
const PLAYERS: u64 = 40;
const TICKS: u64 = 2_000;

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Applies `input` to the live world the way the server's bridge does, and journals it.
fn apply(k: &mut Kingdom, j: &mut TickJournal, input: JournalInput) {
    match &input {
        JournalInput::Command {
            player,
            request_id,
            command,
        } => {
            k.submit(*player, *request_id, command.clone());
        }
        JournalInput::FoundCity { player } => {
            k.add_player(*player).expect("a free city slot");
        }
        JournalInput::Alliance { player, alliance } => {
            k.set_alliance(*player, *alliance);
        }
        JournalInput::Grant {
            player,
            grant,
            oldest_open,
            resources,
        } => {
            // Refused or not, it is journaled; replay refuses it the same way.
            let _ = k.grant(*player, *grant, *oldest_open, resources);
        }
        JournalInput::Config { .. } => unreachable!("configs are staged by the driver"),
    }
    j.push(input);
}

#[test]
fn a_recorded_busy_run_replays_to_every_recorded_hash_with_rayon_on_and_off() {
    let dir = tempfile::tempdir().unwrap();
    let files = small_asset_files(200);
    let assets = Arc::new(parse_ok(&files));
    let settings = JournalSettings {
        hash_every_ticks: 25,
        keep_all: true,
        ..JournalSettings::in_data(dir.path())
    };
    let mut journal = TickJournal::open(settings.clone(), 0).unwrap();
    journal
        .keep_config(&assets.digest, &assets.sources)
        .unwrap();
    let mut k = Kingdom::generate(SEED, assets.clone());
    let targets: Vec<(ObjectId, Mission)> = k
        .world
        .query::<(&MapObject, Option<&ResourceField>, Option<&Monster>)>()
        .iter(&k.world)
        .filter_map(|(o, f, m)| match (f, m) {
            (Some(_), _) => Some((o.id, Mission::Gather)),
            (_, Some(_)) => Some((o.id, Mission::Attack)),
            _ => None,
        })
        .collect();
    let mut rng = Lcg(9);
    let mut marches: BTreeMap<PlayerId, Vec<ObjectId>> = BTreeMap::new();
    let mut request = 0u32;
    let mut recorded = BTreeMap::new();
    for t in 1..=TICKS {
        // Players arrive over the first ticks.
        if t <= PLAYERS {
            apply(
                &mut k,
                &mut journal,
                JournalInput::FoundCity {
                    player: PlayerId(t),
                },
            );
        }
        if t % 97 == 0 {
            let p = PlayerId(1 + rng.below(PLAYERS.min(t)));
            let alliance = (rng.below(3) > 0).then(|| rng.below(4));
            apply(
                &mut k,
                &mut journal,
                JournalInput::Alliance {
                    player: p,
                    alliance,
                },
            );
        }
        if t % 31 == 0 {
            // Claimed attachments, some of them claimed again (refused by the ledger).
            let p = PlayerId(1 + rng.below(PLAYERS.min(t)));
            let grant = t - rng.below(2) * 31;
            apply(
                &mut k,
                &mut journal,
                JournalInput::Grant {
                    player: p,
                    grant,
                    oldest_open: grant.saturating_sub(62),
                    resources: dominion_sim::types::Resources([t, 0, 1, 0]),
                },
            );
        }
        if t == TICKS / 2 {
            let mut tuned = files.clone();
            let units = tuned.get_mut("units.toml").unwrap();
            *units = units.replacen("attack = 10", "attack = 14", 1);
            let tuned = Arc::new(parse_ok(&tuned));
            journal.keep_config(&tuned.digest, &tuned.sources).unwrap();
            k.stage_config(tuned.clone()).unwrap();
            journal.push(JournalInput::Config {
                digest: tuned.digest,
            });
        }
        for _ in 0..rng.below(6) {
            let p = PlayerId(1 + rng.below(PLAYERS.min(t)));
            request += 1;
            let command = match (rng.below(5), marches.get(&p).and_then(|m| m.last())) {
                (0, Some(&m)) => Command::Recall { march: m },
                _ => {
                    let (target, mission) = targets[rng.below(targets.len() as u64) as usize];
                    let mission = if rng.below(8) == 0 {
                        Mission::Scout
                    } else {
                        mission
                    };
                    Command::SendMarch {
                        troops: if mission == Mission::Scout {
                            Troops(Vec::new())
                        } else {
                            Troops(vec![50 + rng.below(200) as u32, rng.below(50) as u32])
                        },
                        target,
                        mission,
                    }
                }
            };
            apply(
                &mut k,
                &mut journal,
                JournalInput::Command {
                    player: p,
                    request_id: request,
                    command,
                },
            );
        }
        k.tick();
        for e in k.drain_events() {
            if let WorldEvent::CommandResult {
                player,
                result: Ok(dominion_sim::command::CommandOutcome::MarchSent { march, .. }),
                ..
            } = e
            {
                marches.entry(player).or_default().push(march);
            }
        }
        assert!(journal.commit(&mut k).unwrap() || t % 25 != 0);
        if t % 25 == 0 {
            recorded.insert(t, hex(&k.state_hash()));
        }
    }
    assert_eq!(k.config().version, 2);
    assert!(
        k.object_counts().marches > 20,
        "the run kept marches out: {:?}",
        k.object_counts()
    );

    let records = scan(&settings.dir, false).unwrap();
    assert!(records.torn.is_none());
    let replay = |label: &str| {
        let mut world = Kingdom::generate(SEED, assets.clone());
        let mut configs = ReplayConfigs::new(ConfigBlobs::new(&settings.dir));
        configs.insert(assets.clone());
        let mut checked = 0;
        let mut previous = None;
        for r in &records.records {
            let check = apply_record(&mut world, r, &mut configs, previous, None)
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            previous = Some(r.tick);
            if let Some(c) = check {
                assert!(c.matches(), "{label}: {}", c.into_error());
                assert_eq!(recorded.get(&c.tick), Some(&hex(&c.recorded)));
                checked += 1;
            }
        }
        assert_eq!(
            checked,
            recorded.len(),
            "{label}: every checkpoint was replayed"
        );
        assert_eq!(world.tick_count(), TICKS);
        hex(&world.state_hash())
    };
    let with_rayon = replay("rayon on");
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| replay("rayon on one thread"));
    assert_eq!(with_rayon, hex(&k.state_hash()));
    assert_eq!(one_thread, with_rayon);
}
