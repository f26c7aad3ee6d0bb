//! The config the world runs on, and the hot-reload hand-over at tick boundaries.

use std::sync::Arc;

use bevy_ecs::prelude::*;

use crate::clock::Tick;
use crate::config::Assets;
use crate::events::{Outbox, WorldEvent};
use crate::schedule::{Plugin, TickPhase, add_systems};

/// The designer config in force, with a version number that rises by one per applied reload.
#[derive(Resource, Clone, Debug)]
pub struct ActiveConfig {
    /// 1 for the config the world started with.
    pub version: u32,
    /// The validated assets.
    pub assets: Arc<Assets>,
}

/// A validated config waiting for the next tick boundary.
#[derive(Resource, Default, Debug)]
pub struct PendingConfig(pub Option<Arc<Assets>>);

/// Why a valid config cannot replace the running one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReloadRefused {
    /// The map's size is fixed once the world exists.
    #[error(
        "map.toml: width/height cannot change in a running world ({old_w}x{old_h} -> {new_w}x{new_h}); restart with a new world instead"
    )]
    MapResized {
        /// Running width.
        old_w: u16,
        /// Running height.
        old_h: u16,
        /// Requested width.
        new_w: u16,
        /// Requested height.
        new_h: u16,
    },
    /// Unit types are referenced by index from troops in the world; they may be tuned, not removed.
    #[error(
        "units.toml: unit types cannot be removed or reordered in a running world (had: {old}; now: {new})"
    )]
    UnitsReordered {
        /// Running unit ids.
        old: String,
        /// Requested unit ids.
        new: String,
    },
    /// Monster kinds are referenced by index from monsters on the map.
    #[error(
        "monsters.toml: monster kinds cannot be removed or reordered in a running world (had {old} kinds, now {new})"
    )]
    MonstersReordered {
        /// Running kind count.
        old: usize,
        /// Requested kind count.
        new: usize,
    },
}

/// Checks that `new` can replace `old` in a running world (both are already valid on their own).
pub fn check_reload(old: &Assets, new: &Assets) -> Result<(), ReloadRefused> {
    if (old.map.width, old.map.height) != (new.map.width, new.map.height) {
        return Err(ReloadRefused::MapResized {
            old_w: old.map.width,
            old_h: old.map.height,
            new_w: new.map.width,
            new_h: new.map.height,
        });
    }
    let ids = |a: &Assets| a.units.names();
    let (o, n) = (ids(old), ids(new));
    // Appending new unit types is fine; changing the prefix would re-map existing troops.
    if !n.starts_with(&o) {
        return Err(ReloadRefused::UnitsReordered { old: o, new: n });
    }
    let same_prefix = old
        .monsters
        .kinds
        .iter()
        .zip(&new.monsters.kinds)
        .all(|(a, b)| a.id == b.id);
    if new.monsters.kinds.len() < old.monsters.kinds.len() || !same_prefix {
        return Err(ReloadRefused::MonstersReordered {
            old: old.monsters.kinds.len(),
            new: new.monsters.kinds.len(),
        });
    }
    Ok(())
}

/// Applies a staged config at the start of a tick. Reads [`PendingConfig`], [`Tick`]; writes
/// [`ActiveConfig`] and emits [`WorldEvent::ConfigApplied`].
pub fn apply_pending_config(
    mut pending: ResMut<PendingConfig>,
    mut active: ResMut<ActiveConfig>,
    tick: Res<Tick>,
    mut outbox: ResMut<Outbox>,
) {
    if let Some(assets) = pending.0.take() {
        active.version += 1;
        active.assets = assets;
        outbox.push(WorldEvent::ConfigApplied {
            version: active.version,
            tick: tick.0,
        });
    }
}

/// The config hand-over's set: [`apply_pending_config`] in [`TickPhase::Receive`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfigSystems;

/// Hot reload: the [`PendingConfig`] slot and [`apply_pending_config`] in [`ConfigSystems`]. The
/// kingdom inserts the [`ActiveConfig`] it was built with.
pub struct ConfigPlugin;

impl Plugin for ConfigPlugin {
    fn build(&self, world: &mut World) {
        world.init_resource::<PendingConfig>();
        add_systems(
            world,
            TickPhase::Receive,
            apply_pending_config.in_set(ConfigSystems),
        );
    }
}
