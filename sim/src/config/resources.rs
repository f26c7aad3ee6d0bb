//! `resources.toml`: resource field kinds, their capacities per level and respawn times.

use super::reader::{FileReader, UniqueIds, entry_path, join};
use crate::types::ResourceKind;

/// One level of a resource field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldLevel {
    /// Field level; equals the zone level it spawns in.
    pub level: u8,
    /// Resources in a fresh field.
    pub capacity: u64,
}

/// A kind of resource field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldKind {
    /// What it yields.
    pub kind: ResourceKind,
    /// Relative spawn weight among kinds allowed in a zone.
    pub weight: u32,
    /// Lowest zone level it spawns in.
    pub min_zone: u8,
    /// Seconds of game time before a depleted field reappears elsewhere in its zone.
    pub respawn_seconds: u32,
    /// Capacity per level, sorted by level, covering `min_zone..=max zone level`.
    pub levels: Vec<FieldLevel>,
}

impl FieldKind {
    /// Capacity at `level`, if defined.
    pub fn capacity(&self, level: u8) -> Option<u64> {
        self.levels
            .iter()
            .find(|l| l.level == level)
            .map(|l| l.capacity)
    }
}

/// All field kinds.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceFields {
    /// In file order.
    pub kinds: Vec<FieldKind>,
}

pub(crate) fn parse(r: &mut FileReader<'_>, max_zone: Option<u8>) -> Option<ResourceFields> {
    let doc = r.parse()?;
    let root = r.root(&doc);
    r.deny_unknown(root, &["field"]);
    let entries = r.tables(root, "field");
    let paths: Vec<String> = (0..entries.len())
        .map(|i| entry_path("", "field", i))
        .collect();
    let mut ok = !entries.is_empty();
    let mut kinds = Vec::new();
    let mut seen = UniqueIds::default();
    let level_cap = i64::from(max_zone.unwrap_or(u8::MAX));
    for (entry, path) in entries.into_iter().zip(&paths) {
        let t = entry.with_path(path);
        r.deny_unknown(
            t,
            &["kind", "weight", "min_zone", "respawn_seconds", "level"],
        );
        let kind = r.string(t, "kind").and_then(|name| {
            let line = r.line_of_key(t, "kind");
            match ResourceKind::from_name(&name) {
                None => {
                    r.push(
                        line,
                        &join(path, "kind"),
                        format!("unknown resource \"{name}\" (known: food, wood, stone, gold)"),
                    );
                    None
                }
                Some(k) => seen.check(r, t, "kind", &name).then_some(k),
            }
        });
        let weight = r.int(t, "weight", 0..=1_000_000);
        let min_zone = r.int(t, "min_zone", 1..=level_cap);
        let respawn = r.int(t, "respawn_seconds", 1..=7 * 24 * 3600);
        let level_entries = r.tables(t, "level");
        let level_paths: Vec<String> = (0..level_entries.len())
            .map(|i| entry_path(path, "level", i))
            .collect();
        let mut levels = Vec::new();
        let mut levels_ok = !level_entries.is_empty();
        for (le, lp) in level_entries.into_iter().zip(&level_paths) {
            let lt = le.with_path(lp);
            r.deny_unknown(lt, &["level", "capacity"]);
            let level = r.int(lt, "level", 1..=level_cap);
            let capacity = r.int(lt, "capacity", 1..=i64::MAX);
            match (level, capacity) {
                (Some(level), Some(capacity)) => {
                    if levels
                        .iter()
                        .any(|l: &FieldLevel| i64::from(l.level) == level)
                    {
                        let line = r.line_of_key(lt, "level");
                        r.push(
                            line,
                            &join(lp, "level"),
                            format!("level {level} is defined twice"),
                        );
                        levels_ok = false;
                    }
                    levels.push(FieldLevel {
                        level: level as u8,
                        capacity: capacity as u64,
                    });
                }
                _ => levels_ok = false,
            }
        }
        levels.sort_by_key(|l| l.level);
        if let (true, Some(max), Some(min)) = (levels_ok, max_zone, min_zone) {
            let missing: Vec<String> = (min as u8..=max)
                .filter(|lv| !levels.iter().any(|l| l.level == *lv))
                .map(|lv| lv.to_string())
                .collect();
            if !missing.is_empty() {
                let line = r.line_of_key(t, "kind");
                r.push(
                    line,
                    &join(path, "level"),
                    format!(
                        "no capacity for level {} (the field spawns in zones {min}..={max} of map.toml)",
                        missing.join(", ")
                    ),
                );
                levels_ok = false;
            }
        }
        match (kind, weight, min_zone, respawn, levels_ok) {
            (Some(kind), Some(weight), Some(min_zone), Some(respawn), true) => {
                kinds.push(FieldKind {
                    kind,
                    weight: weight as u32,
                    min_zone: min_zone as u8,
                    respawn_seconds: respawn as u32,
                    levels,
                })
            }
            _ => ok = false,
        }
    }
    ok.then_some(ResourceFields { kinds })
}
