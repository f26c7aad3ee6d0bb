//! Scouting: what a scout sees of a city (with its stationed reinforcements), a monster, a
//! field or a march when it arrives.

use bevy_ecs::prelude::*;

use super::March;
use super::reinforcement::stationed_at;
use super::travel::{fail, go_home};
use crate::city::City;
use crate::events::{Outbox, WorldEvent};
use crate::gather::Gatherer;
use crate::map::{MapObject, Monster, ResourceField};
use crate::monster::monster_troops;
use crate::types::{ArrivalFailure, ObjectId, ScoutInfo};

/// A scout reaches `target`: reports what it sees ([`WorldEvent::ScoutReport`]) and turns home,
/// or fails when the target is gone.
pub(super) fn scout(
    world: &mut World,
    entity: Entity,
    target: ObjectId,
    target_entity: Option<Entity>,
    now: u64,
) {
    let Some((id, owner)) = world.get::<March>(entity).map(|m| (m.id, m.owner)) else {
        return;
    };
    match target_entity.and_then(|te| look_at(world, te)) {
        Some(info) => {
            world
                .resource_mut::<Outbox>()
                .push(WorldEvent::ScoutReport {
                    march: id,
                    player: owner,
                    target,
                    info,
                });
            go_home(world, entity, now);
        }
        None => fail(world, entity, now, ArrivalFailure::TargetGone),
    }
}

/// What a scout sees of `target`, if it is still there.
fn look_at(world: &mut World, target: Entity) -> Option<ScoutInfo> {
    if let Some(c) = world.get::<City>(target).cloned() {
        let id = world.get::<MapObject>(target)?.id;
        let mut troops = c.troops.clone();
        for (_, e) in stationed_at(world, id) {
            if let Some(m) = world.get::<March>(e) {
                troops.add_all(&m.troops);
            }
        }
        return Some(ScoutInfo::City {
            owner: c.owner,
            troops,
            resources: c.resources,
        });
    }
    if let Some(m) = world.get::<Monster>(target).copied() {
        return Some(ScoutInfo::Monster {
            kind: m.kind,
            troops: monster_troops(world, m.kind),
        });
    }
    if let Some(f) = world.get::<ResourceField>(target).copied() {
        return Some(ScoutInfo::Field {
            kind: f.kind,
            remaining: f.remaining,
            gatherer: world.get::<Gatherer>(target).map(|g| g.0),
        });
    }
    let m = world.get::<March>(target)?;
    Some(ScoutInfo::March {
        owner: m.owner,
        troops: m.troops.clone(),
        load: m.load,
    })
}
