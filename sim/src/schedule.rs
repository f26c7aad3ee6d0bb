//! The fixed-tick schedule: four named phases run in order every tick.

use bevy_ecs::schedule::{ScheduleLabel, SystemSet};

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
