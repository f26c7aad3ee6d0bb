//! An optional stopwatch over the tick's system sets, for the host's metrics
//! (`dominion_tick_system_seconds{system}`).
//!
//! The kingdom orders each phase's sets one after another with a lap between them
//! ([`chain_timed`]). The laps read a clock only when the host has inserted a [`SystemTimes`]
//! resource with its clock ([`SystemTimes::new`]; the sim never reads the wall clock itself);
//! without one (tests, benches, replays) they do nothing. What they measure never reaches the
//! world state or its hash.

use std::time::{Duration, Instant};

use bevy_ecs::intern::Interned;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SystemSet;

use crate::schedule::TickPhase;

/// Time spent in each system set during the last tick, in run order.
#[derive(Resource, Debug)]
pub struct SystemTimes {
    clock: fn() -> Instant,
    lap_start: Option<Instant>,
    laps: Vec<(&'static str, Duration)>,
}

impl SystemTimes {
    /// A stopwatch reading `clock` (the host passes `Instant::now`).
    pub fn new(clock: fn() -> Instant) -> SystemTimes {
        SystemTimes {
            clock,
            lap_start: None,
            laps: Vec::new(),
        }
    }

    /// The sets run in the last tick (or the one running), with the time each took.
    pub fn laps(&self) -> &[(&'static str, Duration)] {
        &self.laps
    }

    fn start(&mut self, first_of_tick: bool) {
        if first_of_tick {
            self.laps.clear();
        }
        self.lap_start = Some((self.clock)());
    }

    fn lap(&mut self, name: &'static str) {
        let now = (self.clock)();
        if let Some(start) = self.lap_start {
            self.laps.push((name, now - start));
        }
        self.lap_start = Some(now);
    }
}

/// Runs `sets` of `phase` one after another, in the order given, with a lap of the optional
/// [`SystemTimes`] stopwatch before the first and after each (named as given).
pub fn chain_timed(
    world: &mut World,
    phase: TickPhase,
    sets: &[(&'static str, Interned<dyn SystemSet>)],
) {
    let first_of_tick = phase == TickPhase::ALL[0];
    world.schedule_scope(phase, |_, schedule| {
        for pair in sets.windows(2) {
            schedule.configure_sets(pair[0].1.before(pair[1].1));
        }
        let Some(&(_, first)) = sets.first() else {
            return;
        };
        schedule.add_systems(
            (move |times: Option<ResMut<SystemTimes>>| {
                if let Some(mut t) = times {
                    t.start(first_of_tick);
                }
            })
            .before(first),
        );
        for (i, &(name, set)) in sets.iter().enumerate() {
            let lap = (move |times: Option<ResMut<SystemTimes>>| {
                if let Some(mut t) = times {
                    t.lap(name);
                }
            })
            .after(set);
            match sets.get(i + 1) {
                Some(&(_, next)) => schedule.add_systems(lap.before(next)),
                None => schedule.add_systems(lap),
            };
        }
    });
}
