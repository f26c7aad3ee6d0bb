//! Deterministic map generation: zones, walls with passes, mountains, rivers with bridges, and
//! the placement of resource fields, monsters and city slots.
//!
//! Same seed + same assets ⇒ the same map. Sequential steps draw from seeded [`SimRng`] streams;
//! the per-tile object pass uses stateless [`tile_hash`]es so it can run on rayon in any order.

use rayon::prelude::*;

use super::objects::{Monster, Placement, ResourceField};
use super::terrain::{Terrain, TerrainKind, Tile};
use crate::config::Assets;
use crate::rng::{SimRng, pick_weighted, tile_hash};
use crate::types::TilePos;

/// Output of map generation: the tile grid and what stands where (row-major order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedMap {
    /// The tile grid.
    pub terrain: Terrain,
    /// Objects to spawn, in row-major order of their tiles (this order assigns their ids).
    pub placements: Vec<(TilePos, Placement)>,
}

// RNG stream ids, one per generation step, so changing one step never shifts another's numbers.
const STREAM_PASSES: u64 = 1;
const STREAM_MOUNTAINS: u64 = 2;
const STREAM_RIVERS: u64 = 3;
const SALT_OBJECTS: u64 = 4;
const SALT_KIND: u64 = 5;

/// Axis-aligned rectangle of tiles, inclusive.
#[derive(Clone, Copy)]
struct Rect {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

impl Rect {
    fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x0 && x <= self.x1 && y >= self.y0 && y <= self.y1
    }
}

/// Generates the kingdom map for `seed` from `assets`.
pub fn generate_map(seed: u64, assets: &Assets) -> GeneratedMap {
    let cfg = &assets.map;
    let (w, h) = (i32::from(cfg.width), i32::from(cfg.height));
    let (cx, cy) = ((w - 1) / 2, (h - 1) / 2);
    // Zone rectangles, outermost first; rects[i] bounds zone level i + 1.
    let rects: Vec<Rect> = cfg
        .zones
        .iter()
        .map(|z| {
            let hx = (w / 2) * z.outer_permille as i32 / 1000;
            let hy = (h / 2) * z.outer_permille as i32 / 1000;
            Rect {
                x0: (cx - hx).max(0),
                y0: (cy - hy).max(0),
                x1: (cx + hx).min(w - 1),
                y1: (cy + hy).min(h - 1),
            }
        })
        .collect();

    let zone_of = |x: i32, y: i32| -> u8 {
        let mut level = 1;
        for (i, r) in rects.iter().enumerate() {
            if r.contains(x, y) {
                level = i as u8 + 1;
            }
        }
        level
    };
    let mut tiles: Vec<Tile> = (0..h)
        .into_par_iter()
        .flat_map_iter(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| Tile::new(TerrainKind::Plain, zone_of(x, y)))
        .collect();
    let idx = |x: i32, y: i32| (y * w + x) as usize;
    let set = |tiles: &mut Vec<Tile>, x: i32, y: i32, kind: TerrainKind| {
        if x >= 0 && y >= 0 && x < w && y < h {
            let t = &mut tiles[idx(x, y)];
            // Passes are sacred: nothing may block a gap or a bridge once carved.
            if t.kind() != TerrainKind::Pass {
                *t = Tile::new(kind, t.zone());
            }
        }
    };

    carve_walls(cfg, &rects, seed, &mut tiles, w, h);

    // Scattered mountain clusters, as short random walks.
    let mut rng = SimRng::new(seed, STREAM_MOUNTAINS);
    let area = (w as u64) * (h as u64);
    let clusters = area * u64::from(cfg.obstacles.mountain_permille)
        / 1000
        / u64::from(cfg.obstacles.cluster_size);
    for _ in 0..clusters {
        let (mut x, mut y) = (rng.below(w as u64) as i32, rng.below(h as u64) as i32);
        for _ in 0..cfg.obstacles.cluster_size {
            set(&mut tiles, x, y, TerrainKind::Mountain);
            match rng.below(4) {
                0 => x += 1,
                1 => x -= 1,
                2 => y += 1,
                _ => y -= 1,
            }
        }
    }

    // Rivers: meandering walks from one edge to the opposite one, bridged at intervals.
    let mut rng = SimRng::new(seed, STREAM_RIVERS);
    for r in 0..cfg.obstacles.rivers {
        let vertical = r % 2 == 0;
        let (len, across) = if vertical { (h, w) } else { (w, h) };
        let mut pos = across / 8 + rng.below((across * 3 / 4) as u64) as i32;
        let mut since_bridge = 0;
        for step in 0..len {
            pos = (pos + rng.below(3) as i32 - 1).clamp(1, across - 2);
            let (x, y) = if vertical { (pos, step) } else { (step, pos) };
            since_bridge += 1;
            if since_bridge >= cfg.obstacles.bridge_every as i32 {
                since_bridge = 0;
                for d in -1..=1 {
                    let (bx, by) = if vertical { (x + d, y) } else { (x, y + d) };
                    if bx >= 0 && by >= 0 && bx < w && by < h {
                        let t = &mut tiles[idx(bx, by)];
                        if t.kind() != TerrainKind::Mountain {
                            *t = Tile::new(TerrainKind::Pass, t.zone());
                        }
                    }
                }
            } else {
                set(&mut tiles, x, y, TerrainKind::Water);
            }
        }
    }

    let terrain = Terrain::from_tiles(cfg.width, cfg.height, tiles);
    let placements = place_objects(seed, assets, &terrain);
    GeneratedMap {
        terrain,
        placements,
    }
}

/// Mountain bands just outside each inner zone's rectangle, with passes carved through each side.
fn carve_walls(
    cfg: &crate::config::MapConfig,
    rects: &[Rect],
    seed: u64,
    tiles: &mut [Tile],
    w: i32,
    h: i32,
) {
    let t = i32::from(cfg.walls.thickness);
    if t == 0 {
        return;
    }
    let mut rng = SimRng::new(seed, STREAM_PASSES);
    let pass = i32::from(cfg.walls.pass_width);
    for r in rects.iter().skip(1) {
        let outer = Rect {
            x0: r.x0 - t,
            y0: r.y0 - t,
            x1: r.x1 + t,
            y1: r.y1 + t,
        };
        for y in outer.y0.max(0)..=outer.y1.min(h - 1) {
            for x in outer.x0.max(0)..=outer.x1.min(w - 1) {
                if !r.contains(x, y) {
                    let tile = &mut tiles[(y * w + x) as usize];
                    *tile = Tile::new(TerrainKind::Mountain, tile.zone());
                }
            }
        }
        // Each side: pick gap starts spread along the side, one per equal segment.
        let sides = [
            (true, outer.y0, r.y0 - 1),  // north band rows
            (true, r.y1 + 1, outer.y1),  // south band rows
            (false, outer.x0, r.x0 - 1), // west band columns
            (false, r.x1 + 1, outer.x1), // east band columns
        ];
        for (horizontal, b0, b1) in sides {
            let (lo, hi) = if horizontal {
                (r.x0, r.x1)
            } else {
                (r.y0, r.y1)
            };
            let span = (hi - lo + 1 - pass).max(1);
            let n = i32::from(cfg.walls.passes_per_side);
            let seg = (span / n).max(1);
            for k in 0..n {
                let start = lo + k * seg + rng.below(seg.max(1) as u64) as i32;
                for along in start..(start + pass).min(hi + 1) {
                    for band in b0..=b1 {
                        let (x, y) = if horizontal {
                            (along, band)
                        } else {
                            (band, along)
                        };
                        if x >= 0 && y >= 0 && x < w && y < h {
                            let tile = &mut tiles[(y * w + x) as usize];
                            *tile = Tile::new(TerrainKind::Pass, tile.zone());
                        }
                    }
                }
            }
        }
    }
}

/// Decides, per plain tile, whether a field, monster or city slot stands there.
fn place_objects(seed: u64, assets: &Assets, terrain: &Terrain) -> Vec<(TilePos, Placement)> {
    let d = &assets.map.density;
    let (res, mon, city) = (
        u64::from(d.resource_permille),
        u64::from(d.monster_permille),
        u64::from(d.city_slot_permille),
    );
    let width = terrain.width();
    (0..terrain.height())
        .into_par_iter()
        .flat_map_iter(|y| {
            (0..width).filter_map(move |x| {
                let pos = TilePos::new(x, y);
                let tile = terrain.get(pos)?;
                if tile.kind() != TerrainKind::Plain {
                    return None;
                }
                let roll = tile_hash(seed, SALT_OBJECTS, x, y) % 1000;
                let kind_roll = tile_hash(seed, SALT_KIND, x, y);
                let zone = tile.zone();
                let placement = if roll < res {
                    field_for(assets, zone, kind_roll).map(Placement::Field)
                } else if roll < res + mon {
                    monster_for(assets, zone, kind_roll).map(Placement::Monster)
                } else if roll < res + mon + city {
                    Some(Placement::CitySlot)
                } else {
                    None
                };
                placement.map(|p| (pos, p))
            })
        })
        .collect()
}

/// A fresh resource field of a kind allowed in `zone`, or `None` if no kind is.
pub fn field_for(assets: &Assets, zone: u8, roll: u64) -> Option<ResourceField> {
    let kinds = &assets.resources.kinds;
    let weights = kinds
        .iter()
        .map(move |k| if k.min_zone <= zone { k.weight } else { 0 });
    let i = pick_weighted(weights, roll)?;
    let k = &kinds[i];
    Some(ResourceField {
        kind: k.kind,
        level: zone,
        remaining: k.capacity(zone)?,
    })
}

/// A monster of a kind whose level is `zone`, or `None` if no kind is.
pub fn monster_for(assets: &Assets, zone: u8, roll: u64) -> Option<Monster> {
    let kinds = &assets.monsters.kinds;
    let weights = kinds
        .iter()
        .map(move |k| if k.level == zone { k.weight } else { 0 });
    let i = pick_weighted(weights, roll)?;
    Some(Monster {
        kind: i as u16,
        level: zone,
    })
}
