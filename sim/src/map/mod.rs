//! The kingdom map: terrain grid, map objects and their generation.

mod generate;
mod objects;
mod terrain;

pub use generate::{GeneratedMap, field_for, generate_map, monster_for};
pub use objects::{CitySlot, MapObject, Monster, NextObjectId, Placement, ResourceField};
pub use terrain::{Terrain, TerrainKind, Tile};
