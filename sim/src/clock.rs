//! World time: the tick counter. The sim never reads the wall clock.

use bevy_ecs::prelude::{ResMut, Resource};

/// Number of the tick being run (the first tick is 1; 0 before any tick ran).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tick(pub u64);

/// Starts a tick. Reads and writes [`Tick`].
pub fn advance_tick(mut tick: ResMut<Tick>) {
    tick.0 += 1;
}
