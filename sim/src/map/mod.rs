//! The kingdom map: terrain grid, map objects and their generation.

mod generate;
mod index;
mod objects;
mod respawn;
mod terrain;

pub use generate::{GeneratedMap, field_for, generate_map, monster_for};
pub use index::ObjectIndex;
pub use objects::{CitySlot, MapObject, Monster, NextObjectId, Placement, ResourceField};
pub use respawn::{
    Respawn, RespawnContext, RespawnPlugin, RespawnSystems, Respawns, ZoneBounds, respawn_objects,
};
pub use terrain::{Terrain, TerrainKind, Tile};
