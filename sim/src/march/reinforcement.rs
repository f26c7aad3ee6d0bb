//! Reinforcement: a march stationed in an allied city defends it until recalled, or until its
//! owner and the city's owner are no longer allies (then it goes home at once).

use bevy_ecs::prelude::*;

use super::clock::{MarchClock, set_clock};
use super::travel::{fail, go_home};
use super::{March, MarchState};
use crate::city::{City, Players};
use crate::events::{Outbox, WorldEvent};
use crate::map::ObjectIndex;
use crate::types::{ArrivalFailure, ObjectId, PlayerId};

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

/// After `player`'s alliance changed: sends home, in march id order, every stationed march
/// whose owner and host city's owner are no longer friendly — `player`'s own marches in other
/// players' cities and other players' marches in `player`'s city — so that no march defends a
/// city its owner may now attack. Each goes home from the city with the troops it has
/// ([`WorldEvent::MarchReturning`]). Reads [`Players`], [`ObjectIndex`], [`City`] and
/// [`March`]; writes the marches sent home. Returns their ids.
pub fn send_home_former_allies(world: &mut World, player: PlayerId, now: u64) -> Vec<ObjectId> {
    let mut stationed: Vec<(ObjectId, Entity, PlayerId, ObjectId)> = {
        let mut q = world.query::<(Entity, &March)>();
        q.iter(world)
            .filter_map(|(e, m)| match m.state {
                MarchState::Stationed { city } => Some((m.id, e, m.owner, city)),
                _ => None,
            })
            .collect()
    };
    stationed.sort_unstable_by_key(|s| s.0);
    let mut sent = Vec::new();
    for (id, entity, owner, city) in stationed {
        let host = world
            .resource::<ObjectIndex>()
            .entity(city)
            .and_then(|ce| world.get::<City>(ce))
            .map(|c| c.owner);
        let Some(host) = host else { continue };
        if (owner == player || host == player)
            && !world.resource::<Players>().friendly(owner, host)
            && go_home(world, entity, now).is_some()
        {
            sent.push(id);
        }
    }
    sent
}
