//! When a march next needs attention: its [`MarchClock`] and the kingdom's ordered
//! [`MarchTimers`], kept in step so a tick touches only the marches that are due.

use bevy_ecs::prelude::*;

use crate::types::ObjectId;

/// When a march next needs attention (arrival, end of gathering); kept apart from [`March`] so the
/// per-tick scan reads 16 bytes per march.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MarchClock {
    /// The march.
    pub id: ObjectId,
    /// Tick of its next event; [`MarchClock::IDLE`] when none is scheduled.
    pub next: u64,
}

impl MarchClock {
    /// No event scheduled (a stationed march waits for a recall).
    pub const IDLE: u64 = u64::MAX;
}

/// Every scheduled march event as (tick, march), mirroring the [`MarchClock`]s that are not idle.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct MarchTimers(pub std::collections::BTreeSet<(u64, ObjectId)>);

pub(super) fn set_clock(world: &mut World, entity: Entity, next: u64) {
    let Some(mut c) = world.get_mut::<MarchClock>(entity) else {
        return;
    };
    let (old, id) = (c.next, c.id);
    c.next = next;
    let mut timers = world.resource_mut::<MarchTimers>();
    timers.0.remove(&(old, id));
    if next != MarchClock::IDLE {
        timers.0.insert((next, id));
    }
}

/// Forgets a march's timer before it is removed.
pub(super) fn clear_clock(world: &mut World, entity: Entity) {
    set_clock(world, entity, MarchClock::IDLE);
}
