//! Shared helpers for the sim's integration tests: the repo's `assets/` with a small map, a
//! kingdom with players, and event bookkeeping for conservation checks.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use dominion_sim::Kingdom;
use dominion_sim::battle::Combatant;
use dominion_sim::city::City;
use dominion_sim::config::{ASSET_FILES, AssetFiles, Assets};
use dominion_sim::events::WorldEvent;
use dominion_sim::map::{MapObject, Monster, ResourceField};
use dominion_sim::march::path::octile;
use dominion_sim::types::{ObjectId, PlayerId, ResourceKind, Resources, TilePos, Troops};

/// The repo's asset files with the map resized to `size × size`.
pub fn asset_files(size: u16) -> AssetFiles {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets");
    let mut files = AssetFiles::new();
    for name in ASSET_FILES {
        let text = std::fs::read_to_string(format!("{dir}/{name}")).expect("asset file");
        files.insert(name.to_owned(), text);
    }
    let map = files["map.toml"]
        .replace("width = 1200", &format!("width = {size}"))
        .replace("height = 1200", &format!("height = {size}"));
    files.insert("map.toml".into(), map);
    files
}

/// Parsed repo assets on a `size × size` map.
pub fn assets(size: u16) -> Arc<Assets> {
    Arc::new(Assets::parse(&asset_files(size)).expect("repo assets are valid"))
}

/// A 200×200 kingdom with `players` players (ids 1..=players) founded.
pub fn kingdom(seed: u64, players: u64) -> Kingdom {
    let mut k = Kingdom::generate(seed, assets(200));
    for p in 1..=players {
        k.add_player(PlayerId(p)).expect("free slot");
    }
    k
}

/// Position of an object standing on the map.
pub fn pos_of(k: &mut Kingdom, id: ObjectId) -> Option<TilePos> {
    k.world
        .query::<&MapObject>()
        .iter(&k.world)
        .find(|o| o.id == id)
        .map(|o| o.pos)
}

/// The player's city tile.
pub fn city_pos(k: &mut Kingdom, p: PlayerId) -> TilePos {
    let (id, _) = k.city(p).expect("city");
    pos_of(k, id).expect("city on map")
}

/// Fields of `kind` at zone level 1 sorted by distance from `from` (then id).
pub fn fields_near(k: &mut Kingdom, from: TilePos, kind: ResourceKind) -> Vec<(ObjectId, u64)> {
    let mut v: Vec<(u64, ObjectId, u64)> = k
        .world
        .query::<(&MapObject, &ResourceField)>()
        .iter(&k.world)
        .filter(|(_, f)| f.kind == kind && f.level == 1)
        .map(|(o, f)| (octile(from, o.pos), o.id, f.remaining))
        .collect();
    v.sort_unstable();
    v.into_iter().map(|(_, id, r)| (id, r)).collect()
}

/// Monsters of `kind` sorted by distance from `from` (then id).
pub fn monsters_near(k: &mut Kingdom, from: TilePos, kind: u16) -> Vec<ObjectId> {
    let mut v: Vec<(u64, ObjectId)> = k
        .world
        .query::<(&MapObject, &Monster)>()
        .iter(&k.world)
        .filter(|(_, m)| m.kind == kind)
        .map(|(o, _)| (octile(from, o.pos), o.id))
        .collect();
    v.sort_unstable();
    v.into_iter().map(|(_, id)| id).collect()
}

/// Runs ticks until `done` holds for an event (returns the events so far), at most `max` ticks.
pub fn run_until(
    k: &mut Kingdom,
    max: u64,
    mut done: impl FnMut(&WorldEvent) -> bool,
) -> Vec<WorldEvent> {
    let mut all = Vec::new();
    for _ in 0..max {
        k.tick();
        let events = k.drain_events();
        let hit = events.iter().any(&mut done);
        all.extend(events);
        if hit {
            return all;
        }
    }
    panic!("condition not reached within {max} ticks; events: {all:?}");
}

/// What the rules say each player should hold, from the events: starting amounts, plus gathered,
/// won and lost resources, minus dead troops.
#[derive(Default, Debug)]
pub struct Ledger {
    /// Troops per player per unit type that should exist (alive or wounded).
    pub troops: BTreeMap<PlayerId, Troops>,
    /// Resources per player that should exist (in the city or carried).
    pub resources: BTreeMap<PlayerId, Resources>,
}

impl Ledger {
    /// Starting amounts for players 1..=n.
    pub fn start(assets: &Assets, players: u64) -> Ledger {
        let mut l = Ledger::default();
        for p in 1..=players {
            l.troops
                .insert(PlayerId(p), assets.cities.city.starting_troops.clone());
            l.resources
                .insert(PlayerId(p), assets.cities.city.starting_resources);
        }
        l
    }

    /// Books the effects of events.
    pub fn book(&mut self, events: &[WorldEvent]) {
        for e in events {
            match e {
                WorldEvent::Gathered {
                    player,
                    kind,
                    amount,
                    ..
                } => self
                    .resources
                    .entry(*player)
                    .or_default()
                    .add(*kind, *amount),
                WorldEvent::CityRelocated { player, paid, .. } => {
                    self.resources.entry(*player).or_default().sub_all(paid)
                }
                WorldEvent::BattleReport(r) => {
                    for p in r.attackers.iter().chain(&r.defenders) {
                        let (Combatant::City { player, .. } | Combatant::March { player, .. }) =
                            p.who
                        else {
                            continue;
                        };
                        self.troops.entry(player).or_default().sub_all(&p.dead);
                        let res = self.resources.entry(player).or_default();
                        res.add_all(&p.gained);
                        res.sub_all(&p.lost);
                    }
                }
                _ => {}
            }
        }
    }

    /// Checks the world against the ledger, per player and per unit type / resource kind.
    pub fn check(&self, k: &mut Kingdom) {
        let mut troops: BTreeMap<PlayerId, Troops> = BTreeMap::new();
        let mut res: BTreeMap<PlayerId, Resources> = BTreeMap::new();
        for c in k.world.query::<&City>().iter(&k.world) {
            let t = troops.entry(c.owner).or_default();
            t.add_all(&c.troops);
            t.add_all(&c.wounded);
            res.entry(c.owner).or_default().add_all(&c.resources);
        }
        for m in k.marches() {
            let t = troops.entry(m.owner).or_default();
            t.add_all(&m.troops);
            t.add_all(&m.wounded);
            res.entry(m.owner).or_default().add_all(&m.load);
        }
        for (p, want) in &self.troops {
            let have = troops.get(p).cloned().unwrap_or_default();
            assert_eq!(
                have.trimmed(),
                want.trimmed(),
                "troops of {p} not conserved"
            );
        }
        for (p, want) in &self.resources {
            assert_eq!(
                res.get(p).copied().unwrap_or_default(),
                *want,
                "resources of {p}"
            );
        }
    }
}

/// Of players 1..=n, the two whose cities are closest (by tile distance).
pub fn close_pair(k: &mut Kingdom, n: u64) -> (PlayerId, PlayerId) {
    let pos: Vec<(PlayerId, TilePos)> = (1..=n)
        .map(|p| (PlayerId(p), city_pos(k, PlayerId(p))))
        .collect();
    let mut best = (u64::MAX, PlayerId(1), PlayerId(2));
    for (i, a) in pos.iter().enumerate() {
        for b in &pos[i + 1..] {
            let d = octile(a.1, b.1);
            if d < best.0 {
                best = (d, a.0, b.0);
            }
        }
    }
    (best.1, best.2)
}
