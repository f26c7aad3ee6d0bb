//! Routes planned ahead: between two ticks, the host hands the march orders that will apply
//! next to [`prefetch_routes`], which plans their routes into the [`RouteCache`] while the tick
//! thread would otherwise sleep. When the tick applies them, their routes are already known.
//!
//! This changes how long a tick takes, never what it does: planning is a pure function of the
//! terrain and the two tiles, and the route budget of [`super::apply_commands`] charges an order
//! by the world and the order alone, never by what the cache holds. A prefetched order whose ends
//! moved meanwhile (a city relocated earlier in the tick, a march target that walked on) is
//! simply planned again in the tick.

use bevy_ecs::prelude::*;

use super::{Command, check_order};
use crate::clock::Tick;
use crate::map::Terrain;
use crate::march::{RouteCache, RouteGraph};
use crate::types::{PlayerId, TilePos};

/// Plans into the [`RouteCache`] the routes of `orders` (march orders; other commands are
/// skipped) that pass every check but the route as the world stands now, in parallel on rayon's
/// workers. Returns how many routes were searched (those not known yet). Reads cities, the
/// orders' targets, [`Tick`], [`RouteGraph`] and [`Terrain`]; writes only [`RouteCache`].
pub fn prefetch_routes<'a>(
    world: &mut World,
    orders: impl IntoIterator<Item = (PlayerId, &'a Command)>,
) -> usize {
    // The next tick applies them: a moving target is aimed at where it will be then.
    let next = world.resource::<Tick>().0 + 1;
    let pairs: Vec<(TilePos, TilePos)> = orders
        .into_iter()
        .filter_map(|(player, command)| match command {
            Command::SendMarch {
                troops,
                target,
                mission,
            } => check_order(world, player, troops, *target, *mission, next)
                .ok()
                .map(|o| (o.from, o.to)),
            _ => None,
        })
        .collect();
    if pairs.is_empty() {
        return 0;
    }
    world.resource_scope(|world, mut cache: Mut<RouteCache>| {
        cache.plan_all(
            world.resource::<RouteGraph>(),
            world.resource::<Terrain>(),
            &pairs,
        )
    })
}

/// True when `command` is a march order that passes every check but the route as the world
/// stands now, whose ends are far apart (a route-graph search, not a near one) and whose route
/// is not planned yet: applying it next tick would cost a far search on the tick thread. The
/// host uses it to bound the unplanned searches a live tick takes on (see
/// `route_budget_per_tick` for the sim's own, cache-blind bound). Reads cities, the order's
/// target, [`Tick`], [`RouteGraph`] and [`RouteCache`].
pub fn needs_far_search(world: &World, player: PlayerId, command: &Command) -> bool {
    let Command::SendMarch {
        troops,
        target,
        mission,
    } = command
    else {
        return false;
    };
    let next = world.resource::<Tick>().0 + 1;
    check_order(world, player, troops, *target, *mission, next).is_ok_and(|o| {
        !world.resource::<RouteGraph>().is_near(o.from, o.to)
            && !world.resource::<RouteCache>().knows(o.from, o.to)
    })
}
