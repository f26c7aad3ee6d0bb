//! `monsters.toml`: monster kinds, where they spawn, their troops, rewards and respawn.

use super::reader::{FileReader, UniqueIds, entry_path, join};
use super::units::Units;
use crate::types::{ResourceKind, Resources, Troops};

/// A kind of monster.
#[derive(Clone, Debug, PartialEq)]
pub struct MonsterKind {
    /// Name in logs and reports.
    pub id: String,
    /// Zone level it spawns in.
    pub level: u8,
    /// Relative spawn weight among monsters of the same level.
    pub weight: u32,
    /// Its army, by unit type.
    pub troops: Troops,
    /// Granted to the player who defeats it.
    pub rewards: Resources,
    /// Seconds of game time before a defeated monster reappears in its zone.
    pub respawn_seconds: u32,
}

/// All monster kinds.
#[derive(Clone, Debug, PartialEq)]
pub struct Monsters {
    /// In file order.
    pub kinds: Vec<MonsterKind>,
}

pub(crate) fn parse(
    r: &mut FileReader<'_>,
    units: Option<&Units>,
    max_zone: Option<u8>,
) -> Option<Monsters> {
    let doc = r.parse()?;
    let root = r.root(&doc);
    r.deny_unknown(root, &["monster"]);
    let entries = r.tables(root, "monster");
    let paths: Vec<String> = (0..entries.len())
        .map(|i| entry_path("", "monster", i))
        .collect();
    let mut ok = !entries.is_empty();
    let mut kinds = Vec::new();
    let mut seen = UniqueIds::default();
    let level_cap = i64::from(max_zone.unwrap_or(u8::MAX));
    for (entry, path) in entries.into_iter().zip(&paths) {
        let t = entry.with_path(path);
        r.deny_unknown(
            t,
            &[
                "id",
                "level",
                "weight",
                "troops",
                "rewards",
                "respawn_seconds",
            ],
        );
        let id = r.string(t, "id");
        if let Some(id) = &id
            && !seen.check(r, t, "id", id)
        {
            ok = false;
        }
        let level = match max_zone {
            Some(max) => {
                let item = r.int(t, "level", 1..=i64::MAX);
                item.and_then(|lv| {
                    if lv > level_cap {
                        let line = r.line_of_key(t, "level");
                        r.push(
                            line,
                            &join(path, "level"),
                            format!(
                                "must be between 1 and {max} (the zone levels of map.toml), found {lv}"
                            ),
                        );
                        None
                    } else {
                        Some(lv)
                    }
                })
            }
            None => r.int(t, "level", 1..=255),
        };
        let weight = r.int(t, "weight", 0..=1_000_000);
        let respawn = r.int(t, "respawn_seconds", 1..=7 * 24 * 3600);

        let troops_path = join(path, "troops");
        let mut troops = Troops::default();
        let mut troops_ok = false;
        if let Some(tt) = r.table(t, "troops", &troops_path) {
            troops_ok = true;
            for (name, _) in r.entries(tt) {
                let count = r.int(tt, name, 1..=10_000_000);
                let Some(units) = units else { continue };
                match units.by_name(name) {
                    Some(u) => {
                        if let Some(c) = count {
                            troops.set(u, c as u32);
                        } else {
                            troops_ok = false;
                        }
                    }
                    None => {
                        let line = r.line_of_key(tt, name);
                        r.push(
                            line,
                            &join(&troops_path, name),
                            format!("unknown unit type \"{name}\" (known: {})", units.names()),
                        );
                        troops_ok = false;
                    }
                }
            }
            if troops_ok && units.is_some() && troops.is_empty() {
                let line = r.line_of_key(t, "troops");
                r.push(line, &troops_path, "must list at least one unit type");
                troops_ok = false;
            }
        }

        let rewards_path = join(path, "rewards");
        let mut rewards = Resources::default();
        let mut rewards_ok = true;
        if let Some(rt) = r.table_opt(t, "rewards", &rewards_path) {
            for (name, _) in r.entries(rt) {
                let amount = r.int(rt, name, 0..=i64::MAX);
                match ResourceKind::from_name(name) {
                    Some(k) => match amount {
                        Some(a) => rewards.add(k, a as u64),
                        None => rewards_ok = false,
                    },
                    None => {
                        let line = r.line_of_key(rt, name);
                        r.push(
                            line,
                            &join(&rewards_path, name),
                            format!("unknown resource \"{name}\" (known: food, wood, stone, gold)"),
                        );
                        rewards_ok = false;
                    }
                }
            }
        }
        match (id, level, weight, respawn, troops_ok && rewards_ok) {
            (Some(id), Some(level), Some(weight), Some(respawn), true) => kinds.push(MonsterKind {
                id,
                level: level as u8,
                weight: weight as u32,
                troops,
                rewards,
                respawn_seconds: respawn as u32,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(Monsters { kinds })
}
