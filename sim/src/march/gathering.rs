//! Gathering on the map: a march that reaches a free field reserves it and loads for as long as
//! it can carry or the field lasts; settling moves what was loaded from the field into the
//! march. (How fast and how much: [`crate::gather`].)

use bevy_ecs::prelude::*;

use super::March;
use super::MarchState;
use super::clock::{MarchClock, set_clock};
use crate::active_config::ActiveConfig;
use crate::gather::{Gatherer, capacity, gather_ticks, gathered_after, take_from_field};
use crate::map::{ObjectIndex, ResourceField};
use crate::types::{ArrivalFailure, ObjectId};

/// Starts gathering `field`: reserves it and schedules the end when the march is full or the
/// field is empty.
pub(super) fn start_gathering(
    world: &mut World,
    entity: Entity,
    field: ObjectId,
    now: u64,
) -> Result<(), ArrivalFailure> {
    let fe = world
        .resource::<ObjectIndex>()
        .entity(field)
        .ok_or(ArrivalFailure::TargetGone)?;
    let remaining = world
        .get::<ResourceField>(fe)
        .ok_or(ArrivalFailure::TargetGone)?
        .remaining;
    if world.get::<Gatherer>(fe).is_some() {
        return Err(ArrivalFailure::FieldOccupied);
    }
    let assets = world.resource::<ActiveConfig>().assets.clone();
    let m = world
        .get::<March>(entity)
        .ok_or(ArrivalFailure::TargetGone)?;
    let free = capacity(&m.troops, &assets.units).saturating_sub(m.load.total());
    let amount = free.min(remaining);
    if amount == 0 {
        return Err(ArrivalFailure::NoCapacity);
    }
    let id = m.id;
    world.entity_mut(fe).insert(Gatherer(id));
    if let Some(mut m) = world.get_mut::<March>(entity) {
        m.state = MarchState::Gathering {
            field,
            since: now,
            amount,
        };
    }
    set_clock(world, entity, now + gather_ticks(amount, &assets));
    Ok(())
}

/// Ends gathering at `now`: what was loaded so far moves from the field into the march. The march
/// is left standing at the field (state `Outbound`, no clock) for the caller to decide.
pub(super) fn settle_gathering(world: &mut World, entity: Entity, now: u64) {
    let Some(m) = world.get::<March>(entity) else {
        return;
    };
    let MarchState::Gathering {
        field,
        since,
        amount,
    } = m.state
    else {
        return;
    };
    let (id, owner) = (m.id, m.owner);
    let assets = world.resource::<ActiveConfig>().assets.clone();
    let got = amount.min(gathered_after(now.saturating_sub(since), &assets));
    let taken = take_from_field(world, field, id, owner, got);
    if let Some(mut m) = world.get_mut::<March>(entity) {
        if let Some((kind, amount)) = taken {
            m.load.add(kind, amount);
        }
        m.state = MarchState::Outbound;
    }
    set_clock(world, entity, MarchClock::IDLE);
}
