//! A digest of the whole world state, for determinism tests and rotation checks.
//!
//! Entities are hashed in [`ObjectId`] order, never in archetype or spawn order, so two worlds
//! with the same content hash the same however they were built.

use bevy_ecs::prelude::*;

use crate::active_config::ActiveConfig;
use crate::clock::Tick;
use crate::kingdom::WorldSeed;
use crate::map::{CitySlot, MapObject, Monster, NextObjectId, ResourceField, Terrain};
use crate::types::ObjectId;

/// BLAKE3 over tick, seed, config, terrain and every map object.
pub fn state_hash(world: &mut World) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&world.resource::<Tick>().0.to_le_bytes());
    h.update(&world.resource::<WorldSeed>().0.to_le_bytes());
    h.update(&world.resource::<NextObjectId>().0.to_le_bytes());
    let config = world.resource::<ActiveConfig>();
    h.update(&config.version.to_le_bytes());
    h.update(&config.assets.digest);
    let terrain = world.resource::<Terrain>();
    h.update(&terrain.width().to_le_bytes());
    h.update(&terrain.height().to_le_bytes());
    let bytes: Vec<u8> = terrain.tiles().iter().map(|t| t.bits()).collect();
    h.update(&bytes);

    let mut objects: Vec<(ObjectId, Vec<u8>)> = world
        .query::<(
            &MapObject,
            Option<&ResourceField>,
            Option<&Monster>,
            Option<&CitySlot>,
        )>()
        .iter(world)
        .map(|(o, field, monster, slot)| {
            let mut b = Vec::with_capacity(32);
            b.extend_from_slice(&o.pos.x.to_le_bytes());
            b.extend_from_slice(&o.pos.y.to_le_bytes());
            if let Some(f) = field {
                b.push(1);
                b.push(f.kind as u8);
                b.push(f.level);
                b.extend_from_slice(&f.remaining.to_le_bytes());
            }
            if let Some(m) = monster {
                b.push(2);
                b.extend_from_slice(&m.kind.to_le_bytes());
                b.push(m.level);
            }
            if slot.is_some() {
                b.push(3);
            }
            (o.id, b)
        })
        .collect();
    objects.sort_unstable_by_key(|(id, _)| *id);
    for (id, b) in &objects {
        h.update(&id.0.to_le_bytes());
        h.update(&(b.len() as u32).to_le_bytes());
        h.update(b);
    }
    *h.finalize().as_bytes()
}

/// Hex form of a digest, for logs and test failure messages.
pub fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
