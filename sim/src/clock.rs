//! World time: the tick counter. The game rules never read the wall clock (only the optional
//! [`crate::timing::SystemTimes`] stopwatch does, for metrics).

use bevy_ecs::prelude::*;

use crate::schedule::{Plugin, TickPhase, add_systems};

/// Number of the tick being run (the first tick is 1; 0 before any tick ran).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tick(pub u64);

/// Starts a tick. Reads and writes [`Tick`].
pub fn advance_tick(mut tick: ResMut<Tick>) {
    tick.0 += 1;
}

/// The clock's set: [`advance_tick`], first in [`TickPhase::Receive`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClockSystems;

/// World time: the [`Tick`] resource and [`advance_tick`] in [`ClockSystems`].
pub struct ClockPlugin;

impl Plugin for ClockPlugin {
    fn build(&self, world: &mut World) {
        world.init_resource::<Tick>();
        add_systems(world, TickPhase::Receive, advance_tick.in_set(ClockSystems));
    }
}
