//! Test helpers: the repo's `assets/` compiled in, with a small map so debug-build tests are fast.

use std::sync::Arc;

use crate::config::{AssetFiles, Assets};

/// The repo's asset files, with `map.toml`'s size replaced by `size × size`.
pub(crate) fn asset_files(size: u16) -> AssetFiles {
    let mut f = AssetFiles::new();
    let map = include_str!("../../assets/map.toml")
        .replace("width = 1200", &format!("width = {size}"))
        .replace("height = 1200", &format!("height = {size}"));
    f.insert(
        "world.toml".into(),
        include_str!("../../assets/world.toml").into(),
    );
    f.insert("map.toml".into(), map);
    f.insert(
        "units.toml".into(),
        include_str!("../../assets/units.toml").into(),
    );
    f.insert(
        "resources.toml".into(),
        include_str!("../../assets/resources.toml").into(),
    );
    f.insert(
        "monsters.toml".into(),
        include_str!("../../assets/monsters.toml").into(),
    );
    f.insert(
        "marches.toml".into(),
        include_str!("../../assets/marches.toml").into(),
    );
    f.insert(
        "cities.toml".into(),
        include_str!("../../assets/cities.toml").into(),
    );
    f
}

/// The repo's assets on a 200×200 map.
pub(crate) fn small_assets() -> Arc<Assets> {
    Arc::new(Assets::parse(&asset_files(200)).expect("repo assets are valid"))
}
