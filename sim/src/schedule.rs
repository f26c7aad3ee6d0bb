//! The fixed-tick schedule: four named phases run in order every tick, and the [`Plugin`] shape
//! through which each game concept adds its systems to them.

use bevy_ecs::schedule::{IntoScheduleConfigs, ScheduleLabel, SystemSet};
use bevy_ecs::system::ScheduleSystem;
use bevy_ecs::world::World;

/// The phases of one tick, in order. Each is its own schedule so the driver can time it.
#[derive(ScheduleLabel, SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TickPhase {
    /// Tick start: advance the clock, apply a staged config, apply queued commands.
    Receive,
    /// Game rules: marches, gathering, battles, respawns.
    Simulate,
    /// Who sees what: interest sets and deltas per observer.
    Interest,
    /// Tick end: move events into the outbox for the network and services.
    Send,
}

impl TickPhase {
    /// Every phase in run order.
    pub const ALL: [TickPhase; 4] = [
        TickPhase::Receive,
        TickPhase::Simulate,
        TickPhase::Interest,
        TickPhase::Send,
    ];
    /// Lower-case name, used as a metric label.
    pub fn name(self) -> &'static str {
        match self {
            TickPhase::Receive => "receive",
            TickPhase::Simulate => "simulate",
            TickPhase::Interest => "interest",
            TickPhase::Send => "send",
        }
    }
}

/// A game concept's part of the kingdom — its resources, observers and systems, added to the
/// world in the concept's own named system set — in the style of bevy's `Plugin`, without an
/// `App`: the kingdom lists the plugins and orders their sets.
pub trait Plugin {
    /// Adds the concept to `world`.
    fn build(&self, world: &mut World);
}

/// Adds `systems` to the schedule of `phase`.
pub fn add_systems<M>(
    world: &mut World,
    phase: TickPhase,
    systems: impl IntoScheduleConfigs<ScheduleSystem, M>,
) {
    world.schedule_scope(phase, |_, schedule| {
        schedule.add_systems(systems);
    });
}
