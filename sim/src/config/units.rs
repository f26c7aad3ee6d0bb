//! `units.toml`: troop types with their stats and counter multipliers.

use super::reader::{FileReader, UniqueIds, entry_path, join};
use crate::types::UnitTypeId;

/// One troop type.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitType {
    /// Name used by other files (`monsters.toml` troops, counters).
    pub id: String,
    /// Damage dealt per unit per round, before defence and counters.
    pub attack: u32,
    /// Reduces damage taken.
    pub defence: u32,
    /// Hit points per unit.
    pub health: u32,
    /// Marching speed in tiles per minute of game time.
    pub speed: u32,
    /// Resources one unit carries.
    pub load: u32,
    /// Attack multiplier against each unit type, in per-mille (1000 = ×1.0), indexed by [`UnitTypeId`].
    pub counters_permille: Vec<u32>,
}

/// All unit types, in file order (that order defines [`UnitTypeId`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Units {
    /// The types; index = [`UnitTypeId`].
    pub types: Vec<UnitType>,
}

impl Units {
    /// Looks a unit type up by its asset id.
    pub fn by_name(&self, id: &str) -> Option<UnitTypeId> {
        self.types
            .iter()
            .position(|u| u.id == id)
            .map(|i| UnitTypeId(i as u16))
    }
    /// The type behind an id.
    pub fn get(&self, id: UnitTypeId) -> Option<&UnitType> {
        self.types.get(usize::from(id.0))
    }
    /// Comma-separated names, for error messages.
    pub fn names(&self) -> String {
        self.types
            .iter()
            .map(|u| u.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(crate) fn parse(r: &mut FileReader<'_>) -> Option<Units> {
    let doc = r.parse()?;
    let root = r.root(&doc);
    r.deny_unknown(root, &["unit"]);
    let entries = r.tables(root, "unit");
    let paths: Vec<String> = (0..entries.len())
        .map(|i| entry_path("", "unit", i))
        .collect();
    let mut types = Vec::new();
    let mut ok = !entries.is_empty();
    let mut seen = UniqueIds::default();
    // Counters name other units, so they are resolved after every id is known.
    let mut pending_counters = Vec::new();
    // Every id that parsed, even on entries with other errors, so one bad stat does not make
    // other units' counters look like unknown references.
    let mut names: Vec<String> = Vec::new();
    for (entry, path) in entries.into_iter().zip(&paths) {
        let t = entry.with_path(path);
        r.deny_unknown(
            t,
            &[
                "id", "attack", "defence", "health", "speed", "load", "counters",
            ],
        );
        let id = r.string(t, "id");
        let attack = r.int(t, "attack", 0..=1_000_000);
        let defence = r.int(t, "defence", 0..=1_000_000);
        let health = r.int(t, "health", 1..=1_000_000);
        let speed = r.int(t, "speed", 1..=10_000);
        let load = r.int(t, "load", 0..=1_000_000);
        if let Some(id) = &id
            && !seen.check(r, t, "id", id)
        {
            ok = false;
        }
        pending_counters.push((t, path.clone()));
        if let Some(id) = &id {
            names.push(id.clone());
        }
        match (id, attack, defence, health, speed, load) {
            (Some(id), Some(attack), Some(defence), Some(health), Some(speed), Some(load)) => types
                .push(UnitType {
                    id,
                    attack: attack as u32,
                    defence: defence as u32,
                    health: health as u32,
                    speed: speed as u32,
                    load: load as u32,
                    counters_permille: Vec::new(),
                }),
            _ => ok = false,
        }
    }
    for (i, (t, path)) in pending_counters.into_iter().enumerate() {
        let counters_path = join(&path, "counters");
        let mut row = vec![1000u32; names.len()];
        if let Some(ct) = r.table_opt(t, "counters", &counters_path) {
            for (target, _) in r.entries(ct) {
                let Some(v) = r.float(ct, target, 0.0..=100.0) else {
                    ok = false;
                    continue;
                };
                match names.iter().position(|n| n == target) {
                    Some(j) => row[j] = (v * 1000.0).round() as u32,
                    None => {
                        let line = r.line_of_key(ct, target);
                        r.push(
                            line,
                            &join(&counters_path, target),
                            format!(
                                "unknown unit type \"{target}\" (known: {})",
                                names.join(", ")
                            ),
                        );
                        ok = false;
                    }
                }
            }
        }
        if let Some(u) = types.get_mut(i) {
            u.counters_permille = row;
        }
    }
    ok.then_some(Units { types })
}
