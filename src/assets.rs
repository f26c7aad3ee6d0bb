//! Reading an assets folder from disk into a validated [`Assets`].

use std::path::Path;

use dominion_sim::config::{ASSET_FILES, AssetError, AssetErrors, AssetFiles, Assets};

/// Reads every asset file in `dir` (missing or unreadable files become errors) and validates them.
pub fn load_dir(dir: &Path) -> Result<Assets, AssetErrors> {
    Assets::parse(&read_dir(dir)?)
}

/// Reads the asset files of `dir` as text; a missing file is left for [`Assets::parse`] to report.
pub fn read_dir(dir: &Path) -> Result<AssetFiles, AssetErrors> {
    if !dir.is_dir() {
        return Err(AssetErrors(vec![AssetError {
            file: dir.display().to_string(),
            line: 0,
            field: "(folder)".to_owned(),
            message: "assets folder not found".to_owned(),
        }]));
    }
    let mut files = AssetFiles::new();
    let mut errors = Vec::new();
    for name in ASSET_FILES {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                files.insert(name.to_owned(), text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(AssetError {
                file: name.to_owned(),
                line: 0,
                field: "(file)".to_owned(),
                message: format!("cannot read: {e}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(AssetErrors(errors))
    }
}

/// A kingdom on the default assets with the map shrunk to `size`×`size` tiles, for unit tests.
#[cfg(test)]
pub(crate) fn small_kingdom(seed: u64, size: u16) -> dominion_sim::Kingdom {
    small_kingdom_with(seed, size, |_| {})
}

/// [`small_kingdom`] with the asset files edited by `edit` first.
#[cfg(test)]
pub(crate) fn small_kingdom_with(
    seed: u64,
    size: u16,
    edit: impl FnOnce(&mut dominion_sim::config::AssetFiles),
) -> dominion_sim::Kingdom {
    let mut files = dominion_sim::config::AssetFiles::new();
    for name in dominion_sim::config::ASSET_FILES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(name);
        files.insert(name.to_owned(), std::fs::read_to_string(path).unwrap());
    }
    let map = files.get_mut("map.toml").unwrap();
    *map = map
        .replace("width = 1200", &format!("width = {size}"))
        .replace("height = 1200", &format!("height = {size}"));
    edit(&mut files);
    let assets = dominion_sim::config::Assets::parse(&files).unwrap();
    dominion_sim::Kingdom::generate(seed, std::sync::Arc::new(assets))
}
