//! `map.toml`: kingdom size, zone rings, obstacles and object densities for map generation.

use super::reader::{FileReader, entry_path, join};

/// A ring of the map; levels rise toward the centre.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    /// Zone level, 1 at the edge.
    pub level: u8,
    /// Outer edge of the ring as per-mille of the half-size (1000 = the map edge).
    pub outer_permille: u32,
}

/// Mountain walls between zones and the passes through them.
#[derive(Clone, Debug, PartialEq)]
pub struct Walls {
    /// Wall width in tiles.
    pub thickness: u16,
    /// Gaps per side of each wall.
    pub passes_per_side: u16,
    /// Width of a pass in tiles.
    pub pass_width: u16,
}

/// Scattered obstacles inside zones.
#[derive(Clone, Debug, PartialEq)]
pub struct Obstacles {
    /// Share of tiles covered by mountain clusters, per-mille.
    pub mountain_permille: u32,
    /// Mean tiles per mountain cluster.
    pub cluster_size: u32,
    /// Number of rivers winding across the map.
    pub rivers: u32,
    /// A bridge (passable) every this many river tiles.
    pub bridge_every: u32,
}

/// How many objects to place, as per-mille of passable tiles.
#[derive(Clone, Debug, PartialEq)]
pub struct Density {
    /// Resource fields.
    pub resource_permille: u32,
    /// Monsters.
    pub monster_permille: u32,
    /// Free city slots.
    pub city_slot_permille: u32,
}

/// Everything map generation reads.
#[derive(Clone, Debug, PartialEq)]
pub struct MapConfig {
    /// Tiles east-west.
    pub width: u16,
    /// Tiles north-south.
    pub height: u16,
    /// Rings from the edge (level 1) inward; levels are 1..=n in order.
    pub zones: Vec<Zone>,
    /// Walls between rings.
    pub walls: Walls,
    /// Scattered mountains and rivers.
    pub obstacles: Obstacles,
    /// Object densities.
    pub density: Density,
}

impl MapConfig {
    /// Highest zone level (the centre).
    pub fn max_zone_level(&self) -> u8 {
        self.zones.len() as u8
    }
}

fn permille(v: f64) -> u32 {
    (v * 1000.0).round() as u32
}

pub(crate) fn parse(r: &mut FileReader<'_>) -> Option<MapConfig> {
    let doc = r.parse()?;
    let root = r.root(&doc);
    r.deny_unknown(
        root,
        &["width", "height", "zone", "walls", "obstacles", "density"],
    );
    let width = r.int(root, "width", 64..=4096);
    let height = r.int(root, "height", 64..=4096);

    let entries = r.tables(root, "zone");
    let paths: Vec<String> = (0..entries.len())
        .map(|i| entry_path("", "zone", i))
        .collect();
    let mut zones = Vec::new();
    let mut zones_ok = !entries.is_empty();
    let mut prev_outer = f64::INFINITY;
    for (i, (entry, path)) in entries.into_iter().zip(&paths).enumerate() {
        let t = entry.with_path(path);
        r.deny_unknown(t, &["level", "outer"]);
        let expected = i as i64 + 1;
        let level = r.int(t, "level", expected..=expected);
        let outer = r.float(t, "outer", 0.01..=1.0);
        if let Some(o) = outer
            && o >= prev_outer
        {
            let line = r.line_of_key(t, "outer");
            r.push(
                line,
                &join(path, "outer"),
                format!(
                    "must be smaller than the previous zone's outer edge {prev_outer}, found {o}"
                ),
            );
            zones_ok = false;
        }
        match (level, outer) {
            (Some(level), Some(outer)) => {
                prev_outer = outer;
                zones.push(Zone {
                    level: level as u8,
                    outer_permille: permille(outer),
                });
            }
            _ => zones_ok = false,
        }
    }
    if let Some(first) = zones.first()
        && first.outer_permille != 1000
    {
        let line = r.line_of_key(root, "zone");
        r.push(
            line,
            "zone[0].outer",
            "the outermost zone must reach the map edge (outer = 1.0)",
        );
        zones_ok = false;
    }

    let walls = r.table(root, "walls", "walls").and_then(|t| {
        r.deny_unknown(t, &["thickness", "passes_per_side", "pass_width"]);
        let thickness = r.int(t, "thickness", 0..=16);
        let passes = r.int(t, "passes_per_side", 1..=16);
        let pass_width = r.int(t, "pass_width", 1..=64);
        Some(Walls {
            thickness: thickness? as u16,
            passes_per_side: passes? as u16,
            pass_width: pass_width? as u16,
        })
    });
    let obstacles = r.table(root, "obstacles", "obstacles").and_then(|t| {
        r.deny_unknown(
            t,
            &["mountain_density", "cluster_size", "rivers", "bridge_every"],
        );
        let m = r.float(t, "mountain_density", 0.0..=0.5);
        let c = r.int(t, "cluster_size", 1..=10_000);
        let rivers = r.int(t, "rivers", 0..=64);
        let bridge = r.int(t, "bridge_every", 2..=10_000);
        Some(Obstacles {
            mountain_permille: permille(m?),
            cluster_size: c? as u32,
            rivers: rivers? as u32,
            bridge_every: bridge? as u32,
        })
    });
    let density = r.table(root, "density", "density").and_then(|t| {
        r.deny_unknown(t, &["resource_fields", "monsters", "city_slots"]);
        let res = r.float(t, "resource_fields", 0.0..=0.5);
        let mon = r.float(t, "monsters", 0.0..=0.5);
        let city = r.float(t, "city_slots", 0.0..=0.5);
        Some(Density {
            resource_permille: permille(res?),
            monster_permille: permille(mon?),
            city_slot_permille: permille(city?),
        })
    });
    if !zones_ok {
        return None;
    }
    Some(MapConfig {
        width: width? as u16,
        height: height? as u16,
        zones,
        walls: walls?,
        obstacles: obstacles?,
        density: density?,
    })
}
