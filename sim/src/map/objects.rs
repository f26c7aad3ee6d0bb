//! Components of map objects: resource fields, monsters and free city slots.

use bevy_ecs::prelude::{Component, Resource};

use crate::types::{ObjectId, ResourceKind, TilePos};

/// Anything that stands on a tile and has a stable id.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapObject {
    /// Stable id (survives save/load and rotation).
    pub id: ObjectId,
    /// Where it stands.
    pub pos: TilePos,
}

/// A field players gather from.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResourceField {
    /// What it yields.
    pub kind: ResourceKind,
    /// Level, equal to its zone level.
    pub level: u8,
    /// What is left to gather.
    pub remaining: u64,
}

/// A monster players attack for rewards.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Monster {
    /// Index into `monsters.toml` kinds.
    pub kind: u16,
    /// Level, equal to its zone level.
    pub level: u8,
}

/// A free tile reserved for a player city.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CitySlot;

/// The next unused [`ObjectId`]; ids are never reused.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NextObjectId(pub u64);

impl NextObjectId {
    /// Hands out a fresh id.
    pub fn allocate(&mut self) -> ObjectId {
        let id = ObjectId(self.0);
        self.0 += 1;
        id
    }
}

/// What map generation places on a tile, before it becomes an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// A resource field.
    Field(ResourceField),
    /// A monster.
    Monster(Monster),
    /// A free city slot.
    CitySlot,
}
