//! Monsters: their armies and rewards from `monsters.toml`, and what happens when one is defeated
//! (removed, rewards granted, respawn scheduled in its zone).

use bevy_ecs::prelude::*;

use crate::active_config::ActiveConfig;
use crate::clock::Tick;
use crate::events::{Outbox, WorldEvent};
use crate::map::{MapObject, Monster, ObjectIndex, Respawn, Respawns};
use crate::types::{ObjectId, Resources, Troops};

/// The army a monster of `kind` fights with (full strength every battle).
pub fn monster_troops(world: &World, kind: u16) -> Troops {
    world
        .resource::<ActiveConfig>()
        .assets
        .monsters
        .kinds
        .get(usize::from(kind))
        .map(|k| k.troops.clone())
        .unwrap_or_default()
}

/// Removes a defeated monster and schedules its respawn; returns the rewards of its kind. Writes
/// the monster entity, [`ObjectIndex`], [`Respawns`]; emits [`WorldEvent::ObjectRemoved`].
pub fn defeat_monster(world: &mut World, id: ObjectId, entity: Entity) -> Resources {
    let (Some(obj), Some(m)) = (
        world.get::<MapObject>(entity).copied(),
        world.get::<Monster>(entity).copied(),
    ) else {
        return Resources::default();
    };
    let assets = world.resource::<ActiveConfig>().assets.clone();
    let Some(kind) = assets.monsters.kinds.get(usize::from(m.kind)) else {
        return Resources::default();
    };
    world.despawn(entity);
    world
        .resource_mut::<ObjectIndex>()
        .remove(id, Some(obj.pos));
    let due = world.resource::<Tick>().0 + assets.world.ticks(kind.respawn_seconds);
    world.resource_mut::<Respawns>().schedule(
        due,
        Respawn::Monster {
            kind: m.kind,
            zone: m.level,
        },
    );
    world
        .resource_mut::<Outbox>()
        .push(WorldEvent::ObjectRemoved { id, pos: obj.pos });
    kind.rewards
}
