//! The seed a kingdom is generated from (map, city placement, respawns all derive from it).

use bevy_ecs::prelude::Resource;

/// The seed a kingdom was generated from.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorldSeed(pub u64);
