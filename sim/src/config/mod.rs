//! Designer configuration: parsing and validating the files of `assets/`.
//!
//! The files arrive as text ([`AssetFiles`]); reading the folder is the caller's job, so this
//! stays pure. [`Assets::parse`] checks types, ranges and cross-references and returns **every**
//! problem found, each with file, line and field ([`AssetError`]).
//!
//! Format: TOML, read through `toml_edit` so every value keeps its source span (see
//! ARCHITECTURE.md for why TOML over RON).

mod aoi;
mod cities;
mod error;
mod guilds;
mod map;
mod marches;
mod monsters;
mod reader;
mod resources;
mod units;
mod world;

use std::collections::BTreeMap;

pub use aoi::{AoiConfig, ZoomLevel};
pub use cities::{CitiesConfig, CityConfig, RelocationConfig};
pub use error::{AssetError, AssetErrors};
pub use guilds::GuildsConfig;
pub use map::{Density, MapConfig, Obstacles, Walls, Zone};
pub use marches::{BattleRules, MarchRules, MarchesConfig};
pub use monsters::{MonsterKind, Monsters};
pub use resources::{FieldKind, FieldLevel, ResourceFields};
pub use units::{UnitType, Units};
pub use world::WorldConfig;

use reader::FileReader;

/// The files an assets folder holds, in load order ([`OPTIONAL_ASSET_FILES`] may be absent).
pub const ASSET_FILES: [&str; 9] = [
    "world.toml",
    "map.toml",
    "units.toml",
    "resources.toml",
    "monsters.toml",
    "marches.toml",
    "cities.toml",
    "aoi.toml",
    "guilds.toml",
];

/// The asset files that may be absent; their defaults then apply ([`AoiConfig::default`],
/// [`GuildsConfig::default`]).
pub const OPTIONAL_ASSET_FILES: [&str; 2] = ["aoi.toml", "guilds.toml"];

/// Contents of an assets folder: file name → text. Files not in [`ASSET_FILES`] are ignored.
pub type AssetFiles = BTreeMap<String, String>;

/// A complete, validated designer configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Assets {
    /// `world.toml`.
    pub world: WorldConfig,
    /// `map.toml`.
    pub map: MapConfig,
    /// `units.toml`.
    pub units: Units,
    /// `resources.toml`.
    pub resources: ResourceFields,
    /// `monsters.toml`.
    pub monsters: Monsters,
    /// `marches.toml`.
    pub marches: MarchesConfig,
    /// `cities.toml`.
    pub cities: CitiesConfig,
    /// `aoi.toml` (defaults when the file is absent).
    pub aoi: AoiConfig,
    /// `guilds.toml` (defaults when the file is absent).
    pub guilds: GuildsConfig,
    /// BLAKE3 of the source texts; equal digests mean identical configs.
    pub digest: [u8; 32],
    /// The source texts this config was parsed from (the files of [`ASSET_FILES`] present), so
    /// hosts can keep a config by its digest and replay a world on exactly it.
    pub sources: std::sync::Arc<AssetFiles>,
}

impl Assets {
    /// Parses and validates every asset file, reporting all problems at once.
    pub fn parse(files: &AssetFiles) -> Result<Assets, AssetErrors> {
        let mut errors = Vec::new();
        let mut hasher = blake3::Hasher::new();
        let mut text_of = |name: &str, errors: &mut Vec<AssetError>| -> Option<String> {
            match files.get(name) {
                Some(t) => {
                    hasher.update(name.as_bytes());
                    hasher.update(&(t.len() as u64).to_le_bytes());
                    hasher.update(t.as_bytes());
                    Some(t.clone())
                }
                None if OPTIONAL_ASSET_FILES.contains(&name) => None,
                None => {
                    errors.push(AssetError {
                        file: name.to_owned(),
                        line: 0,
                        field: "(file)".to_owned(),
                        message: "file is missing from the assets folder".to_owned(),
                    });
                    None
                }
            }
        };
        let texts: Vec<Option<String>> = ASSET_FILES
            .iter()
            .map(|f| text_of(f, &mut errors))
            .collect();
        let digest = *hasher.finalize().as_bytes();

        let run = |i: usize,
                   errors: &mut Vec<AssetError>,
                   f: &mut dyn FnMut(&mut FileReader<'_>) -> Option<()>| {
            if let Some(text) = &texts[i] {
                let mut r = FileReader::new(ASSET_FILES[i], text);
                let _ = f(&mut r);
                r.errors.sort_by_key(|e| e.line);
                errors.append(&mut r.errors);
            }
        };
        let (mut world, mut map, mut units, mut res, mut mons, mut marches) =
            (None, None, None, None, None, None);
        let (mut cities, mut aoi, mut guilds) = (None, None, None);
        run(0, &mut errors, &mut |r| {
            world = world::parse(r);
            Some(())
        });
        run(1, &mut errors, &mut |r| {
            map = map::parse(r);
            Some(())
        });
        run(2, &mut errors, &mut |r| {
            units = units::parse(r);
            Some(())
        });
        let max_zone = map.as_ref().map(MapConfig::max_zone_level);
        run(3, &mut errors, &mut |r| {
            res = resources::parse(r, max_zone);
            Some(())
        });
        run(4, &mut errors, &mut |r| {
            mons = monsters::parse(r, units.as_ref(), max_zone);
            Some(())
        });
        run(5, &mut errors, &mut |r| {
            marches = marches::parse(r);
            Some(())
        });
        run(6, &mut errors, &mut |r| {
            cities = cities::parse(r, units.as_ref());
            Some(())
        });
        run(7, &mut errors, &mut |r| {
            aoi = aoi::parse(r);
            Some(())
        });
        run(8, &mut errors, &mut |r| {
            guilds = guilds::parse(r);
            Some(())
        });
        match (world, map, units, res, mons, marches, cities) {
            (
                Some(world),
                Some(map),
                Some(units),
                Some(resources),
                Some(monsters),
                Some(marches),
                Some(cities),
            ) if errors.is_empty() => Ok(Assets {
                world,
                map,
                units,
                resources,
                monsters,
                marches,
                cities,
                aoi: aoi.unwrap_or_default(),
                guilds: guilds.unwrap_or_default(),
                digest,
                sources: std::sync::Arc::new(
                    ASSET_FILES
                        .iter()
                        .filter_map(|f| Some(((*f).to_owned(), files.get(*f)?.clone())))
                        .collect(),
                ),
            }),
            _ => {
                if errors.is_empty() {
                    // Every `None` above pushes an error; this guards the invariant anyway.
                    errors.push(AssetError {
                        file: "(assets)".to_owned(),
                        line: 0,
                        field: "(assets)".to_owned(),
                        message: "configuration incomplete".to_owned(),
                    });
                }
                Err(AssetErrors(errors))
            }
        }
    }

    /// A one-line summary for logs and `check-assets`.
    pub fn summary(&self) -> String {
        format!(
            "{}x{} map, {} zones, {} unit types, {} resource kinds, {} monster kinds, {} Hz",
            self.map.width,
            self.map.height,
            self.map.zones.len(),
            self.units.types.len(),
            self.resources.kinds.len(),
            self.monsters.kinds.len(),
            self.world.tick_hz
        )
    }
}
