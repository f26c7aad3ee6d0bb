//! Marches: troops sent from a city to a target along a route, acting on arrival (gather, fight,
//! station, scout) and returning home; recalls; interception.
//!
//! A march's position is never stored: it is computed from its [`Route`] (waypoints, departure
//! tick, speed). Each tick only the marches whose [`MarchClock`] is due are touched, taken in
//! (tick, [`ObjectId`]) order from the [`MarchTimers`] set, so a tick costs the work of the due
//! marches, not a pass over every march (measured: a serial scan of 57k clocks took 40 µs and a
//! rayon one 190 µs on 2 cores; the ordered set costs nothing when nothing is due).

//!
//! Where to look, by what happens to a march:
//! - routes: [`route_graph`] (the precomputed cluster graph), [`route_plan`] (a route on it),
//!   [`route_cache`], [`rect_search`] and [`path`] (exact A*, the reference);
//! - travel: [`travel`] (speed, setting out, turning home, coming home, being wiped out);
//! - when it next needs attention: [`clock`];
//! - arrival dispatch: [`arrival`];
//! - gathering: [`gathering`]; scouting: [`scouting`]; reinforcing: [`reinforcement`];
//! - battle on the map: [`battle_on_map`] (the maths is [`crate::battle`]'s).

pub mod arrival;
pub mod battle_on_map;
pub mod clock;
pub mod gathering;
pub mod path;
pub mod rect_search;
pub mod reinforcement;
pub mod route_cache;
pub mod route_graph;
pub mod route_plan;
pub mod scouting;
pub mod travel;

use bevy_ecs::prelude::*;

pub use arrival::process_due_marches;
pub use battle_on_map::BattleCounter;
pub use clock::{MarchClock, MarchTimers};
pub use path::{NoPath, PathScratch};
pub use route_cache::RouteCache;
pub use route_graph::{CLUSTER_SIDE, LANDMARKS, RouteGraph};
pub use route_plan::RouteScratch;
pub use travel::{find_path, launch, march_speed, recall};

pub use crate::types::{ArrivalFailure, Mission, Route, ScoutInfo, milli_tiles_per_tick};

use crate::map::Terrain;
use crate::schedule::{Plugin, TickPhase, add_systems};
use crate::types::{ObjectId, PlayerId, Resources, TilePos, Troops};

/// The march systems' set: [`process_due_marches`] in [`TickPhase::Simulate`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MarchSystems;

/// Marches in the kingdom: builds the [`RouteGraph`] of the world's terrain (so it must come after
/// the map), the [`RouteCache`], [`BattleCounter`] and [`MarchTimers`]; resolves due marches in
/// [`MarchSystems`].
pub struct MarchPlugin;

impl Plugin for MarchPlugin {
    fn build(&self, world: &mut World) {
        let graph = RouteGraph::build(world.resource::<Terrain>(), CLUSTER_SIDE);
        world.insert_resource(graph);
        world.init_resource::<RouteCache>();
        world.init_resource::<BattleCounter>();
        world.init_resource::<MarchTimers>();
        add_systems(
            world,
            TickPhase::Simulate,
            process_due_marches.in_set(MarchSystems),
        );
    }
}

/// What a march is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarchState {
    /// On the way to its target.
    Outbound,
    /// Loading `amount` from `field` since tick `since`.
    Gathering {
        /// The field.
        field: ObjectId,
        /// Tick gathering began.
        since: u64,
        /// What it will have loaded when done.
        amount: u64,
    },
    /// Defending an allied city until recalled.
    Stationed {
        /// The city.
        city: ObjectId,
    },
    /// On the way home.
    Returning,
}

/// A march: its troops, wounded and load travel together.
#[derive(Component, Clone, Debug, PartialEq, Eq, Hash)]
pub struct March {
    /// Stable id.
    pub id: ObjectId,
    /// Owner.
    pub owner: PlayerId,
    /// The city it left from and returns to.
    pub home: ObjectId,
    /// What it was sent to do.
    pub mission: Mission,
    /// The object it was sent to.
    pub target: ObjectId,
    /// Troops fit to fight.
    pub troops: Troops,
    /// Troops wounded on the way (carried home).
    pub wounded: Troops,
    /// Resources carried.
    pub load: Resources,
    /// What it is doing.
    pub state: MarchState,
    /// Its current route (to the target, or home).
    pub route: Route,
}

impl March {
    /// The tile it is on at `tick`.
    pub fn position_at(&self, tick: u64) -> TilePos {
        match self.state {
            MarchState::Outbound | MarchState::Returning => self.route.position_at(tick),
            MarchState::Gathering { .. } | MarchState::Stationed { .. } => self.route.destination(),
        }
    }
    /// True while it travels (may be intercepted).
    pub fn moving(&self) -> bool {
        matches!(self.state, MarchState::Outbound | MarchState::Returning)
    }
}
