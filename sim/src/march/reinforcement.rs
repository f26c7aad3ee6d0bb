//! Reinforcement: a march stationed in an allied city defends it until recalled.

use bevy_ecs::prelude::*;

use super::clock::{MarchClock, set_clock};
use super::travel::fail;
use super::{March, MarchState};
use crate::city::{City, Players};
use crate::events::{Outbox, WorldEvent};
use crate::types::{ArrivalFailure, ObjectId};

/// A reinforcing march reaches `target`: it stations there if the city's owner is still an ally
/// (emits [`WorldEvent::MarchStationed`]; no clock until recalled), else fails and goes home.
pub(super) fn station(
    world: &mut World,
    entity: Entity,
    target: ObjectId,
    target_entity: Option<Entity>,
    now: u64,
) {
    let Some((id, owner)) = world.get::<March>(entity).map(|m| (m.id, m.owner)) else {
        return;
    };
    let host = target_entity.and_then(|te| world.get::<City>(te).map(|c| c.owner));
    match host {
        None => fail(world, entity, now, ArrivalFailure::TargetGone),
        Some(h) if h == owner || !world.resource::<Players>().friendly(owner, h) => {
            fail(world, entity, now, ArrivalFailure::NotAllied)
        }
        Some(_) => {
            if let Some(mut m) = world.get_mut::<March>(entity) {
                m.state = MarchState::Stationed { city: target };
            }
            set_clock(world, entity, MarchClock::IDLE);
            world
                .resource_mut::<Outbox>()
                .push(WorldEvent::MarchStationed {
                    march: id,
                    player: owner,
                    city: target,
                });
        }
    }
}

/// The marches stationed in `city`, in id order.
pub(super) fn stationed_at(world: &mut World, city: ObjectId) -> Vec<(ObjectId, Entity)> {
    let mut q = world.query::<(Entity, &March)>();
    let mut v: Vec<(ObjectId, Entity)> = q
        .iter(world)
        .filter(|(_, m)| m.state == MarchState::Stationed { city })
        .map(|(e, m)| (m.id, e))
        .collect();
    v.sort_unstable();
    v
}
