//! Gathering: load rate and carrying capacity, reserving a field while a march gathers it, and
//! settling what was gathered (depleting the field, which then respawns elsewhere in its zone).

use bevy_ecs::prelude::*;

use crate::active_config::ActiveConfig;
use crate::clock::Tick;
use crate::config::{Assets, Units};
use crate::events::{Outbox, WorldEvent};
use crate::map::{MapObject, ObjectIndex, ResourceField, Respawn, Respawns};
use crate::types::{ObjectId, Troops, UnitTypeId};

/// Marks a field as being gathered by a march; one march per field.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gatherer(pub ObjectId);

/// Resources `troops` can carry: Σ count × unit `load`.
pub fn capacity(troops: &Troops, units: &Units) -> u64 {
    troops
        .0
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            u64::from(c) * u64::from(units.get(UnitTypeId(i as u16)).map_or(0, |u| u.load))
        })
        .sum()
}

/// Ticks needed to load `amount` at `gather_per_minute` (rounded up; at least one).
pub fn gather_ticks(amount: u64, assets: &Assets) -> u64 {
    let per_minute = u64::from(assets.marches.march.gather_per_minute.max(1));
    let ticks_per_minute = 60 * u64::from(assets.world.tick_hz.max(1));
    (u128::from(amount) * u128::from(ticks_per_minute))
        .div_ceil(u128::from(per_minute))
        .clamp(1, u128::from(u64::MAX / 4)) as u64
}

/// Resources loaded after `elapsed` ticks of gathering.
pub fn gathered_after(elapsed: u64, assets: &Assets) -> u64 {
    let per_minute = u128::from(assets.marches.march.gather_per_minute);
    let ticks_per_minute = 60 * u128::from(assets.world.tick_hz.max(1));
    (u128::from(elapsed) * per_minute / ticks_per_minute).min(u128::from(u64::MAX)) as u64
}

/// Takes `amount` out of a field being gathered by `march` and frees it; a field left empty is
/// removed and scheduled to respawn in its zone. Returns the resource kind and the amount taken. Reads and
/// writes the field entity, [`ObjectIndex`], [`Respawns`]; emits [`WorldEvent::Gathered`] and
/// [`WorldEvent::ObjectRemoved`].
pub fn take_from_field(
    world: &mut World,
    field: ObjectId,
    march: ObjectId,
    player: crate::types::PlayerId,
    amount: u64,
) -> Option<(crate::types::ResourceKind, u64)> {
    let entity = world.resource::<ObjectIndex>().entity(field)?;
    let mut e = world.get_entity_mut(entity).ok()?;
    if e.get::<Gatherer>().map(|g| g.0) == Some(march) {
        e.remove::<Gatherer>();
    }
    let obj = *e.get::<MapObject>()?;
    let mut f = e.get_mut::<ResourceField>()?;
    let amount = amount.min(f.remaining);
    f.remaining -= amount;
    let (kind, level, left) = (f.kind, f.level, f.remaining);
    world.resource_mut::<Outbox>().push(WorldEvent::Gathered {
        march,
        player,
        field,
        kind,
        amount,
    });
    if left == 0 {
        world.despawn(entity);
        world
            .resource_mut::<ObjectIndex>()
            .remove(field, Some(obj.pos));
        let assets = world.resource::<ActiveConfig>().assets.clone();
        let delay = assets
            .resources
            .kinds
            .iter()
            .find(|k| k.kind == kind)
            .map_or(1, |k| assets.world.ticks(k.respawn_seconds));
        let due = world.resource::<Tick>().0 + delay;
        world
            .resource_mut::<Respawns>()
            .schedule(due, Respawn::Field { kind, zone: level });
        world
            .resource_mut::<Outbox>()
            .push(WorldEvent::ObjectRemoved {
                id: field,
                pos: obj.pos,
            });
    }
    Some((kind, amount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::small_assets;

    #[test]
    fn rate_and_capacity_come_from_assets() {
        let a = small_assets();
        // 6000 per minute at 10 Hz = 10 per tick.
        assert_eq!(gathered_after(10, &a), 100);
        assert_eq!(gather_ticks(100, &a), 10);
        assert_eq!(gather_ticks(101, &a), 11);
        assert!(gathered_after(gather_ticks(12_345, &a), &a) >= 12_345);
        // infantry load 10, archer 8.
        assert_eq!(capacity(&Troops(vec![100, 10]), &a.units), 1080);
    }
}
