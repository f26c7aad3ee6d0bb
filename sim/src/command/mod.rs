//! Commands in: one typed enum, queued by the host with [`Kingdom::submit`] and applied at the
//! start of the next tick in arrival order. Each is validated; a refused command is answered with
//! a specific [`Refusal`] and changes nothing.

mod prefetch;
mod waiting;

pub use prefetch::{needs_far_search, prefetch_routes};

use std::collections::VecDeque;

use bevy_ecs::prelude::*;

use crate::active_config::ActiveConfig;
use crate::city::{City, Players, TileProblem, city_entity, free_tile, move_city};
use crate::clock::Tick;
use crate::events::{Outbox, WorldEvent};
use crate::map::Terrain;
use crate::map::{CitySlot, MapObject, Monster, ObjectIndex, ResourceField};
use crate::march::{
    March, MarchState, Mission, NoPath, RouteCache, RouteGraph, find_path, launch, recall,
};
use crate::schedule::{Plugin, TickPhase, add_systems};
pub use crate::types::{CommandOutcome, Refusal};
use crate::types::{ObjectId, PlayerId, ResourceKind, Resources, TilePos, Troops, UnitTypeId};

/// Something a player asks the world to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Sends a march from the player's city to `target` with `troops` (none for a scout).
    SendMarch {
        /// Troops by unit type, taken from the city's fit troops.
        troops: Troops,
        /// The object to go to: a field (gather), a monster, city or march (attack), an allied
        /// city (reinforce), or anything but a free slot (scout).
        target: ObjectId,
        /// What to do there.
        mission: Mission,
    },
    /// Turns one of the player's marches back toward home from where it is.
    Recall {
        /// The march.
        march: ObjectId,
    },
    /// Moves the player's city to an empty plain tile (only with no march out).
    RelocateCity {
        /// The new tile.
        to: TilePos,
    },
}

/// A command waiting for the next tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// Arrival sequence number: commands apply in this order.
    pub seq: u64,
    /// Sender.
    pub player: PlayerId,
    /// The sender's request id, echoed in the result.
    pub request_id: u32,
    /// The command.
    pub command: Command,
}

/// Commands submitted since the last tick, in arrival order. The host fills it; the world drains
/// it at tick start.
#[derive(Resource, Clone, Debug, Default)]
pub struct CommandInbox {
    next_seq: u64,
    /// In sequence order (commands are numbered as they arrive); a tick takes from the front,
    /// so a long wait costs each tick only what it applies.
    queue: VecDeque<Submitted>,
}

impl CommandInbox {
    /// Queues a command and returns its sequence number.
    pub fn submit(&mut self, player: PlayerId, request_id: u32, command: Command) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push_back(Submitted {
            seq,
            player,
            request_id,
            command,
        });
        seq
    }
    /// Commands waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }
    /// True when none wait.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Route budget a march order between near ends costs (or one refused before routing).
pub const NEAR_ROUTE_COST: u32 = 1;
/// Route budget a march order between far ends costs: a route-graph search takes about this many
/// times a near search (`cargo bench --bench routes`).
pub const FAR_ROUTE_COST: u32 = 8;

/// What the last tick's [`apply_commands`] did with the route requests it met.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoutePlanning {
    /// March orders applied.
    pub requests: u32,
    /// Route budget they spent.
    pub budget_spent: u32,
    /// Routes searched for them (the rest were known).
    pub searched: u32,
    /// Commands left waiting for the next tick by `route_budget_per_tick`.
    pub deferred: u32,
}

/// The command systems' set: [`apply_commands`] in [`TickPhase::Receive`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommandSystems;

/// Players' commands: the [`CommandInbox`] and [`RoutePlanning`] resources, and
/// [`apply_commands`] in [`CommandSystems`] (the kingdom orders it after the clock and the config
/// hand-over).
pub struct CommandPlugin;

impl Plugin for CommandPlugin {
    fn build(&self, world: &mut World) {
        world.init_resource::<CommandInbox>();
        world.init_resource::<RoutePlanning>();
        add_systems(
            world,
            TickPhase::Receive,
            apply_commands.in_set(CommandSystems),
        );
    }
}

/// Applies queued commands in sequence order and answers each with a
/// [`WorldEvent::CommandResult`]. Reads and writes [`CommandInbox`], cities, marches,
/// [`Players`], [`ObjectIndex`], [`RouteCache`], [`RoutePlanning`], [`Outbox`].
///
/// Route planning is budgeted per tick (`route_budget_per_tick` in `marches.toml`): an order
/// whose ends are near (a search in a small rectangle) costs [`NEAR_ROUTE_COST`], a far one (a
/// route-graph search) [`FAR_ROUTE_COST`], an order refused before any route is needed costs
/// [`NEAR_ROUTE_COST`]. From the first order over the budget, the rest of the queue waits for
/// the next tick in the same order. The cost depends only on the world and the order, never on
/// what the route cache holds, so which commands wait is the same on every replay. Before
/// applying, the routes of the orders that pass every other check are planned together on
/// rayon's workers; applying stays sequential, in submit order, and plans inline whatever the
/// tick's earlier commands changed.
///
/// Exclusive (`&mut World`) on purpose: each command must see what the ones before it in the
/// same tick did — a march sent and then recalled, two players racing for one tile, a city moved
/// before a march is aimed at it — and a command may spawn a march and index it at once. With
/// queries and deferred `Commands`, those changes would land only after the system, and results
/// would differ from the sequential order the determinism contract names.
pub fn apply_commands(world: &mut World) {
    let mut queue = std::mem::take(&mut world.resource_mut::<CommandInbox>().queue);
    let budget = world
        .resource::<ActiveConfig>()
        .assets
        .marches
        .march
        .route_budget_per_tick;
    let now = world.resource::<Tick>().0;
    let graph = world.resource::<RouteGraph>();
    let mut spent = 0u32;
    let mut orders = 0u32;
    let mut pairs: Vec<(TilePos, TilePos)> = Vec::new();
    let mut cut = queue.len();
    for (i, s) in queue.iter().enumerate() {
        let Command::SendMarch {
            troops,
            target,
            mission,
        } = &s.command
        else {
            continue;
        };
        let ends = check_order(world, s.player, troops, *target, *mission, now)
            .ok()
            .map(|o| (o.from, o.to));
        let cost = match ends {
            Some((a, b)) if !graph.is_near(a, b) => FAR_ROUTE_COST,
            _ => NEAR_ROUTE_COST,
        };
        if spent > 0 && spent + cost > budget {
            cut = i;
            break;
        }
        spent += cost;
        orders += 1;
        pairs.extend(ends);
    }
    let batch: Vec<Submitted> = queue.drain(..cut).collect();
    let searched = world.resource_scope(|world, mut cache: Mut<RouteCache>| {
        cache.plan_all(
            world.resource::<RouteGraph>(),
            world.resource::<Terrain>(),
            &pairs,
        )
    });
    *world.resource_mut::<RoutePlanning>() = RoutePlanning {
        requests: orders,
        budget_spent: spent,
        searched: searched as u32,
        deferred: queue.len() as u32,
    };
    world.resource_mut::<CommandInbox>().queue = queue;
    for s in batch {
        let result = apply(world, s.player, s.command);
        world
            .resource_mut::<Outbox>()
            .push(WorldEvent::CommandResult {
                player: s.player,
                request_id: s.request_id,
                result,
            });
    }
}

/// Where a march `player` sends to `target` would start and end, as the world stands at `now`.
fn march_ends(
    world: &World,
    player: PlayerId,
    target: ObjectId,
    now: u64,
) -> Option<(TilePos, TilePos)> {
    let (_, city_e) = city_entity(world, player)?;
    let from = world.get::<MapObject>(city_e)?.pos;
    let te = world.resource::<ObjectIndex>().entity(target)?;
    let to = match world.get::<MapObject>(te) {
        Some(o) => o.pos,
        None => world.get::<March>(te)?.position_at(now),
    };
    Some((from, to))
}

/// Validates and applies one command.
pub fn apply(
    world: &mut World,
    player: PlayerId,
    command: Command,
) -> Result<CommandOutcome, Refusal> {
    let now = world.resource::<Tick>().0;
    match command {
        Command::SendMarch {
            troops,
            target,
            mission,
        } => send_march(world, player, troops, target, mission, now),
        Command::Recall { march } => {
            let entity = world
                .resource::<ObjectIndex>()
                .entity(march)
                .ok_or(Refusal::UnknownMarch)?;
            let m = world.get::<March>(entity).ok_or(Refusal::UnknownMarch)?;
            if m.owner != player {
                return Err(Refusal::NotYourMarch);
            }
            if m.state == MarchState::Returning {
                return Err(Refusal::AlreadyReturning);
            }
            let arrival_tick = recall(world, entity, now).ok_or(Refusal::AlreadyReturning)?;
            Ok(CommandOutcome::Recalled {
                march,
                arrival_tick,
            })
        }
        Command::RelocateCity { to } => {
            let (city, entity) = city_entity(world, player).ok_or(Refusal::NoCity)?;
            let out = world
                .resource::<Players>()
                .0
                .get(&player)
                .map_or(0, |p| p.marches);
            if out > 0 {
                return Err(Refusal::MarchesOut { marches: out });
            }
            free_tile(world, to).map_err(|p| match p {
                TileProblem::OutsideMap => Refusal::OutsideMap { pos: to },
                TileProblem::NotBuildable => Refusal::TileNotBuildable { pos: to },
                TileProblem::Occupied => Refusal::TileOccupied { pos: to },
            })?;
            let paid = pay_for_relocation(world, player, entity, now)?;
            move_city(world, player, entity, to, paid);
            Ok(CommandOutcome::Relocated { city, to })
        }
    }
}

/// Checks the relocation cooldown and cost of `cities.toml`'s `[relocation]`, then takes the cost
/// from the city's storehouse and starts the cooldown. Reads the active config, [`Players`] and
/// the city's [`City`]; writes both. Returns what was paid.
fn pay_for_relocation(
    world: &mut World,
    player: PlayerId,
    city: Entity,
    now: u64,
) -> Result<Resources, Refusal> {
    let assets = world.resource::<ActiveConfig>().assets.clone();
    let rule = &assets.cities.relocation;
    let last = world
        .resource::<Players>()
        .0
        .get(&player)
        .and_then(|p| p.relocated_at);
    if let Some(last) = last
        && rule.cooldown_seconds > 0
    {
        let ready_at = last + assets.world.ticks(rule.cooldown_seconds);
        if now < ready_at {
            return Err(Refusal::RelocationCooldown { ready_at });
        }
    }
    let have = world.get::<City>(city).ok_or(Refusal::NoCity)?.resources;
    for kind in ResourceKind::ALL {
        if have.get(kind) < rule.cost.get(kind) {
            return Err(Refusal::CannotAfford {
                resource: kind.name(),
                have: have.get(kind),
                cost: rule.cost.get(kind),
            });
        }
    }
    if let Some(mut c) = world.get_mut::<City>(city) {
        c.resources.sub_all(&rule.cost);
    }
    if let Some(p) = world.resource_mut::<Players>().0.get_mut(&player) {
        p.relocated_at = Some(now);
    }
    Ok(rule.cost)
}

fn mission_words(m: Mission) -> &'static str {
    match m {
        Mission::Gather => "gather from",
        Mission::Attack => "attack",
        Mission::Reinforce => "reinforce",
        Mission::Scout => "scout",
    }
}

/// A march order that passed every check but the route.
struct Order {
    home: ObjectId,
    city: Entity,
    troops: Troops,
    from: TilePos,
    to: TilePos,
}

/// Every check of a march order that needs no route: the sender's city, the troops (shape,
/// types, limits, what is at home), the march queue, and the target (there, of a kind the
/// mission fits, friend or foe as the mission needs). Reads only.
fn check_order(
    world: &World,
    player: PlayerId,
    troops: &Troops,
    target: ObjectId,
    mission: Mission,
    now: u64,
) -> Result<Order, Refusal> {
    let (home, city_e) = city_entity(world, player).ok_or(Refusal::NoCity)?;
    let assets = world.resource::<ActiveConfig>().assets.clone();
    let rules = &assets.marches.march;
    let troops = troops.trimmed();
    if mission == Mission::Scout {
        if !troops.is_empty() {
            return Err(Refusal::ScoutTakesNoTroops);
        }
    } else if troops.is_empty() {
        return Err(Refusal::NoTroops);
    }
    if troops.0.len() > assets.units.types.len() {
        return Err(Refusal::UnknownUnitType {
            unit: u16::try_from(troops.0.len() - 1).unwrap_or(u16::MAX),
        });
    }
    if troops.total() > u64::from(rules.max_troops) {
        return Err(Refusal::TooManyTroops {
            max: rules.max_troops,
            asked: troops.total(),
        });
    }
    let city = world.get::<City>(city_e).ok_or(Refusal::NoCity)?;
    for (i, &asked) in troops.0.iter().enumerate() {
        let unit = UnitTypeId(i as u16);
        let have = city.troops.get(unit);
        if asked > have {
            return Err(Refusal::NotEnoughTroops {
                unit: assets
                    .units
                    .get(unit)
                    .map_or_else(|| format!("#{i}"), |u| u.id.clone()),
                have,
                asked,
            });
        }
    }
    let out = world
        .resource::<Players>()
        .0
        .get(&player)
        .map_or(0, |p| p.marches);
    if out >= rules.queue_limit {
        return Err(Refusal::QueueFull {
            limit: rules.queue_limit,
        });
    }
    let te = world
        .resource::<ObjectIndex>()
        .entity(target)
        .ok_or(Refusal::TargetGone)?;
    let wrong = Refusal::WrongTarget {
        mission: mission_words(mission),
    };
    let players = world.resource::<Players>();
    let target_owner = world
        .get::<City>(te)
        .map(|c| c.owner)
        .or_else(|| world.get::<March>(te).map(|m| m.owner));
    let kind_ok = match mission {
        Mission::Gather => world.get::<ResourceField>(te).is_some(),
        Mission::Attack => {
            world.get::<Monster>(te).is_some()
                || world.get::<City>(te).is_some()
                || world
                    .get::<March>(te)
                    .is_some_and(|m| !matches!(m.state, MarchState::Stationed { .. }))
        }
        Mission::Reinforce => world.get::<City>(te).is_some(),
        Mission::Scout => world.get::<CitySlot>(te).is_none(),
    };
    if !kind_ok {
        return Err(wrong);
    }
    if let Some(owner) = target_owner {
        match mission {
            Mission::Attack | Mission::Scout if owner == player => {
                return Err(Refusal::OwnTarget);
            }
            Mission::Attack if players.friendly(player, owner) => {
                return Err(Refusal::AlliedTarget);
            }
            Mission::Reinforce if owner == player => return Err(Refusal::OwnTarget),
            Mission::Reinforce if !players.friendly(player, owner) => {
                return Err(Refusal::NotAllied);
            }
            _ => {}
        }
    }
    let (from, to) = march_ends(world, player, target, now).ok_or(Refusal::TargetGone)?;
    Ok(Order {
        home,
        city: city_e,
        troops,
        from,
        to,
    })
}

/// Sends a march: checks the order, finds its route, takes the troops out of the city and
/// launches it.
fn send_march(
    world: &mut World,
    player: PlayerId,
    troops: Troops,
    target: ObjectId,
    mission: Mission,
    now: u64,
) -> Result<CommandOutcome, Refusal> {
    let Order {
        home,
        city,
        troops,
        from,
        to,
    } = check_order(world, player, &troops, target, mission, now)?;
    let waypoints = find_path(world, from, to).map_err(|e| match e {
        NoPath::Blocked | NoPath::Unreachable => Refusal::Unreachable,
    })?;
    if let Some(mut c) = world.get_mut::<City>(city) {
        c.troops.sub_all(&troops);
    }
    let (march, arrival_tick) =
        launch(world, player, home, troops, mission, target, waypoints, now);
    Ok(CommandOutcome::MarchSent {
        march,
        arrival_tick,
    })
}
