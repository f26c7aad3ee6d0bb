//! `dominion preview-map`: renders a generated map to a PNG so designers can see what
//! `map.toml` and a seed produce before running a world.

use std::io::BufWriter;
use std::path::Path;

use dominion_sim::config::Assets;
use dominion_sim::map::{Placement, TerrainKind, generate_map};

/// Renders the map of `seed` to `out` (one pixel per tile); returns the object count.
pub fn render_map(assets: &Assets, seed: u64, out: &Path) -> anyhow::Result<usize> {
    let map = generate_map(seed, assets);
    let t = &map.terrain;
    let (w, h) = (usize::from(t.width()), usize::from(t.height()));
    let max_zone = u32::from(assets.map.max_zone_level().max(1));
    let mut rgb = vec![0u8; w * h * 3];
    for (i, tile) in t.tiles().iter().enumerate() {
        // Plains darken toward the centre so zone rings are visible.
        let shade = 200 - (u32::from(tile.zone()).saturating_sub(1) * 90 / max_zone) as u8;
        let c = match tile.kind() {
            TerrainKind::Plain => [shade / 2, shade, shade / 2],
            TerrainKind::Mountain => [110, 90, 70],
            TerrainKind::Water => [40, 90, 200],
            TerrainKind::Pass => [250, 230, 120],
        };
        rgb[i * 3..i * 3 + 3].copy_from_slice(&c);
    }
    for (pos, p) in &map.placements {
        let i = (usize::from(pos.y) * w + usize::from(pos.x)) * 3;
        let c = match p {
            Placement::Field(_) => [230, 200, 60],
            Placement::Monster(_) => [220, 40, 40],
            Placement::CitySlot => [250, 250, 250],
        };
        rgb[i..i + 3].copy_from_slice(&c);
    }
    let file = std::fs::File::create(out)?;
    let mut enc = png::Encoder::new(BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&rgb)?;
    Ok(map.placements.len())
}
