//! Events out of the world: appended during a tick, drained by the host after it.

use bevy_ecs::prelude::Resource;

/// Something the world tells the outside (network, services, logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorldEvent {
    /// A hot-reloaded config took effect at the start of `tick`.
    ConfigApplied {
        /// New config version.
        version: u32,
        /// Tick at whose start it applied.
        tick: u64,
    },
}

/// Events of the current tick, in the order they happened. The host drains it after each tick.
#[derive(Resource, Default, Debug)]
pub struct Outbox(Vec<WorldEvent>);

impl Outbox {
    /// Appends an event.
    pub fn push(&mut self, event: WorldEvent) {
        self.0.push(event);
    }
    /// Takes every event out.
    pub fn drain(&mut self) -> Vec<WorldEvent> {
        std::mem::take(&mut self.0)
    }
    /// Events waiting.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when no events wait.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
