//! `cities.toml`: what a newly founded player city starts with, and what moving it costs.

use super::reader::{FileReader, Table, join};
use super::units::Units;
use crate::types::{ResourceKind, Resources, Troops};

/// Starting state of a player's city.
#[derive(Clone, Debug, PartialEq)]
pub struct CityConfig {
    /// Troops by unit type in a new city.
    pub starting_troops: Troops,
    /// Resources in a new city's storehouse.
    pub starting_resources: Resources,
}

/// Moving a city (`RelocateCity`).
#[derive(Clone, Debug, PartialEq)]
pub struct RelocationConfig {
    /// Game seconds after a move before the next one.
    pub cooldown_seconds: u32,
    /// Resources a move takes from the storehouse.
    pub cost: Resources,
}

/// `cities.toml` as a whole.
#[derive(Clone, Debug, PartialEq)]
pub struct CitiesConfig {
    /// The `[city]` section.
    pub city: CityConfig,
    /// The `[relocation]` section.
    pub relocation: RelocationConfig,
}

/// Reads a `{ unit = count, … }` table naming unit types of `units.toml`.
pub(crate) fn troops_table(
    r: &mut FileReader<'_>,
    t: Table<'_>,
    units: Option<&Units>,
    max_each: i64,
) -> Option<Troops> {
    let mut troops = Troops::default();
    let mut ok = true;
    for (name, _) in r.entries(t) {
        let count = r.int(t, name, 0..=max_each);
        let Some(units) = units else { continue };
        match (units.by_name(name), count) {
            (Some(u), Some(c)) => troops.set(u, c as u32),
            (Some(_), None) => ok = false,
            (None, _) => {
                let line = r.line_of_key(t, name);
                r.push(
                    line,
                    &join(t.path(), name),
                    format!("unknown unit type \"{name}\" (known: {})", units.names()),
                );
                ok = false;
            }
        }
    }
    ok.then_some(troops)
}

/// Reads a `{ food = n, … }` table of resource amounts.
pub(crate) fn resources_table(r: &mut FileReader<'_>, t: Table<'_>) -> Option<Resources> {
    let mut res = Resources::default();
    let mut ok = true;
    for (name, _) in r.entries(t) {
        let amount = r.int(t, name, 0..=1_000_000_000_000);
        match (ResourceKind::from_name(name), amount) {
            (Some(k), Some(a)) => res.add(k, a as u64),
            (Some(_), None) => ok = false,
            (None, _) => {
                let line = r.line_of_key(t, name);
                r.push(
                    line,
                    &join(t.path(), name),
                    format!("unknown resource \"{name}\" (known: food, wood, stone, gold)"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(res)
}

pub(crate) fn parse(r: &mut FileReader<'_>, units: Option<&Units>) -> Option<CitiesConfig> {
    let doc = r.parse()?;
    let root = r.root(&doc);
    r.deny_unknown(root, &["city", "relocation"]);
    let relocation = r.table(root, "relocation", "relocation").and_then(|t| {
        r.deny_unknown(t, &["cooldown_seconds", "cost"]);
        let cooldown = r.int(t, "cooldown_seconds", 0..=30 * 24 * 3600);
        let cost = r
            .table(t, "cost", "relocation.cost")
            .and_then(|c| resources_table(r, c));
        Some(RelocationConfig {
            cooldown_seconds: cooldown? as u32,
            cost: cost?,
        })
    });
    let city = r.table(root, "city", "city")?;
    r.deny_unknown(city, &["troops", "resources"]);
    let troops = r
        .table(city, "troops", "city.troops")
        .and_then(|t| troops_table(r, t, units, 100_000_000));
    let resources = r
        .table(city, "resources", "city.resources")
        .and_then(|t| resources_table(r, t));
    Some(CitiesConfig {
        city: CityConfig {
            starting_troops: troops?,
            starting_resources: resources?,
        },
        relocation: relocation?,
    })
}
