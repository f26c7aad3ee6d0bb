//! Map generation: same seed + assets ⇒ identical world; terrain has the promised features.

use std::sync::Arc;

use dominion_sim::Kingdom;
use dominion_sim::map::{TerrainKind, generate_map};
use dominion_sim::state_hash::{hex, state_hash};

use crate::support::{parse_ok, small_asset_files};

#[test]
fn same_seed_same_world_hash() {
    let assets = Arc::new(parse_ok(&small_asset_files(240)));
    let mut a = Kingdom::generate(42, assets.clone());
    let mut b = Kingdom::generate(42, assets.clone());
    let mut c = Kingdom::generate(43, assets);
    let (ha, hb, hc) = (
        state_hash(&mut a.world),
        state_hash(&mut b.world),
        state_hash(&mut c.world),
    );
    assert_eq!(hex(&ha), hex(&hb));
    assert_ne!(ha, hc, "a different seed must give a different map");
    for _ in 0..5 {
        a.tick();
        b.tick();
    }
    assert_eq!(state_hash(&mut a.world), state_hash(&mut b.world));
}

#[test]
fn generation_is_independent_of_rayon_threads() {
    let assets = parse_ok(&small_asset_files(240));
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| generate_map(7, &assets));
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| generate_map(7, &assets));
    assert_eq!(single, many);
}

#[test]
fn a_config_change_changes_the_map() {
    let files = small_asset_files(240);
    let mut denser = files.clone();
    let map = denser.get_mut("map.toml").unwrap();
    *map = map.replace("monsters = 0.07", "monsters = 0.09");
    let a = generate_map(1, &parse_ok(&files));
    let b = generate_map(1, &parse_ok(&denser));
    assert_eq!(a.terrain, b.terrain, "densities do not move terrain");
    assert_ne!(a.placements, b.placements);
}

#[test]
fn terrain_has_zones_walls_passes_and_rivers() {
    let assets = parse_ok(&small_asset_files(300));
    let map = generate_map(3, &assets);
    let t = &map.terrain;
    let census = t.census();
    assert!(census[TerrainKind::Mountain as usize] > 0, "mountains");
    assert!(census[TerrainKind::Water as usize] > 0, "rivers");
    assert!(census[TerrainKind::Pass as usize] > 0, "passes");
    // Zone level rises toward the centre.
    let corner = t
        .get(dominion_sim::types::TilePos::new(0, 0))
        .unwrap()
        .zone();
    let centre = t
        .get(dominion_sim::types::TilePos::new(150, 150))
        .unwrap()
        .zone();
    assert_eq!(corner, 1);
    assert_eq!(centre, assets.map.max_zone_level());
    // Objects stand only on plain tiles, one per tile.
    let mut seen = std::collections::BTreeSet::new();
    for (pos, _) in &map.placements {
        assert_eq!(t.get(*pos).unwrap().kind(), TerrainKind::Plain);
        assert!(seen.insert(*pos), "two objects on {pos}");
    }
}

#[test]
fn zones_are_connected_through_passes() {
    // Flood fill over passable tiles from the corner must reach the centre zone.
    let assets = parse_ok(&small_asset_files(300));
    let map = generate_map(5, &assets);
    let t = &map.terrain;
    let (w, h) = (t.width() as usize, t.height() as usize);
    let mut seen = vec![false; w * h];
    let mut stack = vec![(0usize, 0usize)];
    seen[0] = true;
    let mut max_zone = 0;
    while let Some((x, y)) = stack.pop() {
        let tile = t.tiles()[y * w + x];
        max_zone = max_zone.max(tile.zone());
        let nbrs = [
            (x.wrapping_sub(1), y),
            (x + 1, y),
            (x, y.wrapping_sub(1)),
            (x, y + 1),
        ];
        for (nx, ny) in nbrs {
            if nx < w && ny < h && !seen[ny * w + nx] && t.tiles()[ny * w + nx].kind().passable() {
                seen[ny * w + nx] = true;
                stack.push((nx, ny));
            }
        }
    }
    assert_eq!(
        max_zone,
        assets.map.max_zone_level(),
        "the centre is reachable from the edge"
    );
}
