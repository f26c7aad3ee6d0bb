//! Routes and travel: a march's speed, its route from the route graph, setting out, turning
//! home, coming home, and being wiped out on the way.

use bevy_ecs::prelude::*;

use super::clock::{MarchClock, MarchTimers, clear_clock, set_clock};
use super::gathering::settle_gathering;
use super::{March, MarchState, NoPath, RouteCache, RouteGraph};
use crate::active_config::ActiveConfig;
use crate::city::{City, Players};
use crate::config::Assets;
use crate::events::{Outbox, WorldEvent};
use crate::map::{ObjectIndex, Terrain};
use crate::types::{
    ArrivalFailure, Mission, ObjectId, PlayerId, Resources, Route, TilePos, Troops, UnitTypeId,
    milli_tiles_per_tick,
};

/// Speed of a march in milli-tiles per tick: scouts at `scout_speed`, others at their slowest
/// unit (wounded set the pace when no one else is left).
pub fn march_speed(troops: &Troops, wounded: &Troops, mission: Mission, assets: &Assets) -> u32 {
    let slowest = |t: &Troops| {
        t.0.iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .filter_map(|(i, _)| assets.units.get(UnitTypeId(i as u16)).map(|u| u.speed))
            .min()
    };
    let tiles_per_minute = match mission {
        Mission::Scout => Some(assets.marches.march.scout_speed),
        _ => slowest(troops).or_else(|| slowest(wounded)),
    }
    .unwrap_or(assets.marches.march.scout_speed);
    milli_tiles_per_tick(tiles_per_minute, assets.world.tick_hz)
}

/// The route from `from` to `to` on the world's [`RouteGraph`], remembered in its
/// [`RouteCache`].
pub fn find_path(world: &mut World, from: TilePos, to: TilePos) -> Result<Vec<TilePos>, NoPath> {
    world.resource_scope(|world, mut cache: Mut<RouteCache>| {
        cache.route(
            world.resource::<RouteGraph>(),
            world.resource::<Terrain>(),
            from,
            to,
        )
    })
}

/// Spawns a march from `home` (whose troops were already taken out) along `waypoints`. Writes
/// [`ObjectIndex`], [`Players`]; emits [`WorldEvent::MarchStarted`]. Returns its id and arrival.
#[allow(clippy::too_many_arguments)]
pub fn launch(
    world: &mut World,
    owner: PlayerId,
    home: ObjectId,
    troops: Troops,
    mission: Mission,
    target: ObjectId,
    waypoints: Vec<TilePos>,
    now: u64,
) -> (ObjectId, u64) {
    let assets = world.resource::<ActiveConfig>().assets.clone();
    let speed = march_speed(&troops, &Troops::default(), mission, &assets);
    let route = Route {
        waypoints,
        depart_tick: now,
        speed,
    };
    let arrival = route.arrival_tick();
    let id = world.resource_mut::<crate::map::NextObjectId>().allocate();
    let march = March {
        id,
        owner,
        home,
        mission,
        target,
        troops: troops.clone(),
        wounded: Troops::default(),
        load: Resources::default(),
        state: MarchState::Outbound,
        route: route.clone(),
    };
    let entity = world.spawn((march, MarchClock { id, next: arrival })).id();
    world.resource_mut::<MarchTimers>().0.insert((arrival, id));
    world.resource_mut::<ObjectIndex>().insert_id(id, entity);
    if let Some(p) = world.resource_mut::<Players>().0.get_mut(&owner) {
        p.marches += 1;
    }
    world
        .resource_mut::<Outbox>()
        .push(WorldEvent::MarchStarted {
            march: id,
            player: owner,
            mission,
            target,
            troops,
            route,
        });
    (id, arrival)
}

/// Turns a march around toward home from where it is (settling any gathering first). Returns
/// the arrival tick, or `None` if it is already returning.
pub fn recall(world: &mut World, entity: Entity, now: u64) -> Option<u64> {
    let state = world.get::<March>(entity)?.state;
    match state {
        MarchState::Returning => None,
        MarchState::Gathering { .. } => {
            settle_gathering(world, entity, now);
            go_home(world, entity, now)
        }
        MarchState::Outbound | MarchState::Stationed { .. } => go_home(world, entity, now),
    }
}

/// Sends a march home from where it is at `now`, retracing its route (every route starts at
/// home: relocation waits until all marches are back). Returns the arrival tick.
pub(super) fn go_home(world: &mut World, entity: Entity, now: u64) -> Option<u64> {
    let m = world.get::<March>(entity)?;
    let (id, owner) = (m.id, m.owner);
    let waypoints = match m.state {
        MarchState::Outbound | MarchState::Returning => m.route.retrace(now),
        MarchState::Gathering { .. } | MarchState::Stationed { .. } => m.route.retrace(u64::MAX),
    };
    let (troops, wounded, mission) = (m.troops.clone(), m.wounded.clone(), m.mission);
    let assets = world.resource::<ActiveConfig>().assets.clone();
    let route = Route {
        waypoints,
        depart_tick: now,
        speed: march_speed(&troops, &wounded, mission, &assets),
    };
    let arrival = route.arrival_tick();
    let mut m = world.get_mut::<March>(entity)?;
    m.state = MarchState::Returning;
    m.route = route.clone();
    set_clock(world, entity, arrival);
    world
        .resource_mut::<Outbox>()
        .push(WorldEvent::MarchReturning {
            march: id,
            player: owner,
            route,
        });
    Some(arrival)
}

/// Removes a march with nothing left; returns the load it carried (now lost).
pub(super) fn destroy(world: &mut World, entity: Entity) -> Resources {
    let Some(m) = world.get::<March>(entity) else {
        return Resources::default();
    };
    let (id, owner, load) = (m.id, m.owner, m.load);
    clear_clock(world, entity);
    world.despawn(entity);
    world.resource_mut::<ObjectIndex>().remove(id, None);
    if let Some(p) = world.resource_mut::<Players>().0.get_mut(&owner) {
        p.marches = p.marches.saturating_sub(1);
    }
    world
        .resource_mut::<Outbox>()
        .push(WorldEvent::MarchDestroyed {
            march: id,
            player: owner,
            load_lost: load,
        });
    load
}

/// Unloads a returning march into its city and removes it.
pub(super) fn return_home(world: &mut World, entity: Entity) {
    let Some(m) = world.get::<March>(entity).cloned() else {
        return;
    };
    let Some(city_entity) = world.resource::<ObjectIndex>().entity(m.home) else {
        return;
    };
    let Some(mut city) = world.get_mut::<City>(city_entity) else {
        return;
    };
    city.troops.add_all(&m.troops);
    city.wounded.add_all(&m.wounded);
    city.resources.add_all(&m.load);
    let resources = city.resources;
    clear_clock(world, entity);
    world.despawn(entity);
    world.resource_mut::<ObjectIndex>().remove(m.id, None);
    if let Some(p) = world.resource_mut::<Players>().0.get_mut(&m.owner) {
        p.marches = p.marches.saturating_sub(1);
    }
    let mut outbox = world.resource_mut::<Outbox>();
    outbox.push(WorldEvent::MarchReturned {
        march: m.id,
        player: m.owner,
        troops: m.troops,
        wounded: m.wounded,
        load: m.load,
    });
    if !m.load.is_empty() {
        outbox.push(WorldEvent::ResourcesChanged {
            player: m.owner,
            city: m.home,
            resources,
        });
    }
}

/// The march cannot act on arrival: emits [`WorldEvent::MarchFailed`] and sends it home.
pub(super) fn fail(world: &mut World, entity: Entity, now: u64, reason: ArrivalFailure) {
    if let Some(m) = world.get::<March>(entity) {
        let (march, player) = (m.id, m.owner);
        world
            .resource_mut::<Outbox>()
            .push(WorldEvent::MarchFailed {
                march,
                player,
                reason,
            });
    }
    go_home(world, entity, now);
}
