//! Arrival dispatch: every tick, the marches whose clock is due act — an outbound march
//! arrives and does what it was sent for, a finished gatherer turns home, a returning march
//! unloads at home.

use bevy_ecs::prelude::*;

use super::battle_on_map::attack;
use super::clock::{MarchClock, MarchTimers, set_clock};
use super::gathering::{settle_gathering, start_gathering};
use super::reinforcement::station;
use super::scouting::scout;
use super::travel::{fail, go_home, return_home};
use super::{March, MarchState};
use crate::clock::Tick;
use crate::events::{Outbox, WorldEvent};
use crate::map::ObjectIndex;
use crate::types::{ArrivalFailure, Mission, ObjectId};

/// Handles every march whose clock is due, in [`ObjectId`] order: arrivals act (gather, fight,
/// station, scout), finished gathering turns home, returning marches unload at home. Reads
/// [`Tick`], [`ActiveConfig`], [`Terrain`]; writes marches, cities, fields, monsters,
/// [`MarchTimers`], [`ObjectIndex`], [`Players`], [`Outbox`].
///
/// Exclusive (`&mut World`) on purpose: due marches act one after another in id order, and each
/// must see what the previous one did — a battle that wipes out or turns home a march due later
/// in the same tick, a field reserved by a gatherer a moment earlier (inserting [`Gatherer`]),
/// a monster defeated and despawned. Deferred structural changes would let a later march act on
/// a world that is already gone.
///
/// [`Gatherer`]: crate::gather::Gatherer
/// [`ActiveConfig`]: crate::active_config::ActiveConfig
/// [`Terrain`]: crate::map::Terrain
/// [`Players`]: crate::city::Players
pub fn process_due_marches(world: &mut World) {
    let now = world.resource::<Tick>().0;
    let due: Vec<ObjectId> = world
        .resource::<MarchTimers>()
        .0
        .iter()
        .take_while(|(t, _)| *t <= now)
        .map(|(_, id)| *id)
        .collect();
    for id in due {
        let Some(entity) = world.resource::<ObjectIndex>().entity(id) else {
            continue;
        };
        // An earlier battle this tick may have changed or removed this march.
        let Some(clock) = world.get::<MarchClock>(entity) else {
            continue;
        };
        if clock.next > now {
            continue;
        }
        let Some(state) = world.get::<March>(entity).map(|m| m.state) else {
            continue;
        };
        match state {
            MarchState::Outbound => arrive(world, entity, now),
            MarchState::Gathering { .. } => {
                settle_gathering(world, entity, now);
                go_home(world, entity, now);
            }
            MarchState::Returning => return_home(world, entity),
            MarchState::Stationed { .. } => set_clock(world, entity, MarchClock::IDLE),
        }
    }
}

/// An outbound march reaches its target and does what it was sent for; emits
/// [`WorldEvent::MarchArrived`], then the mission's own events.
pub(super) fn arrive(world: &mut World, entity: Entity, now: u64) {
    let Some(m) = world.get::<March>(entity) else {
        return;
    };
    let (id, owner, mission, target, pos) =
        (m.id, m.owner, m.mission, m.target, m.route.destination());
    world
        .resource_mut::<Outbox>()
        .push(WorldEvent::MarchArrived {
            march: id,
            player: owner,
            pos,
        });
    let target_entity = world.resource::<ObjectIndex>().entity(target);
    match mission {
        Mission::Gather => match start_gathering(world, entity, target, now) {
            Ok(()) => {}
            Err(reason) => fail(world, entity, now, reason),
        },
        Mission::Attack => match target_entity {
            Some(te) => attack(world, entity, te, now),
            None => fail(world, entity, now, ArrivalFailure::TargetGone),
        },
        Mission::Reinforce => station(world, entity, target, target_entity, now),
        Mission::Scout => scout(world, entity, target, target_entity, now),
    }
}
