//! `world.toml`: the tick rate and how far the driver may catch up after a slow tick.

use super::reader::FileReader;

/// Tick settings of the kingdom.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldConfig {
    /// Ticks per second of game time (default 10).
    pub tick_hz: u32,
    /// Most ticks run back-to-back to catch up after a stall before the driver skips ahead.
    pub max_catch_up_ticks: u32,
}

impl WorldConfig {
    /// Converts seconds of game time into ticks (at least one).
    pub fn ticks(&self, seconds: u32) -> u64 {
        (u64::from(seconds) * u64::from(self.tick_hz)).max(1)
    }
}

pub(crate) fn parse(r: &mut FileReader<'_>) -> Option<WorldConfig> {
    let doc = r.parse()?;
    let root = r.root(&doc);
    r.deny_unknown(root, &["tick_hz", "max_catch_up_ticks"]);
    let tick_hz = r.int(root, "tick_hz", 1..=60);
    let max_catch_up_ticks = r.int_or(root, "max_catch_up_ticks", 0..=1000, 20);
    Some(WorldConfig {
        tick_hz: tick_hz? as u32,
        max_catch_up_ticks: max_catch_up_ticks? as u32,
    })
}
