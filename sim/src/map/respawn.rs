//! Respawning map objects: a depleted field or defeated monster reappears elsewhere in its zone
//! after the respawn time of its kind, on a free plain tile chosen deterministically.

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;

use super::{MapObject, Monster, NextObjectId, ObjectIndex, ResourceField, Terrain, TerrainKind};
use crate::active_config::ActiveConfig;
use crate::clock::Tick;
use crate::events::{Outbox, WorldEvent};
use crate::rng::SimRng;
use crate::schedule::{Plugin, TickPhase, add_systems};
use crate::types::{ResourceKind, TilePos, WorldSeed};

/// What to bring back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Respawn {
    /// A fresh field of this kind in this zone (capacity of the zone's level).
    Field {
        /// Resource kind.
        kind: ResourceKind,
        /// Zone level.
        zone: u8,
    },
    /// A monster of this kind (index into `monsters.toml`) in this zone.
    Monster {
        /// Monster kind.
        kind: u16,
        /// Zone level.
        zone: u8,
    },
}

/// Objects waiting to respawn, by (due tick, sequence number).
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct Respawns {
    /// The queue.
    pub queue: BTreeMap<(u64, u64), Respawn>,
    next_seq: u64,
}

impl Respawns {
    /// Queues a respawn at `due`.
    pub fn schedule(&mut self, due: u64, what: Respawn) {
        self.queue.insert((due, self.next_seq), what);
        self.next_seq += 1;
    }

    /// The sequence number the next [`schedule`](Self::schedule) hands out (saved with the
    /// queue: the respawn RNG is seeded from it).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Rebuilds a saved queue exactly: entries keep their sequence numbers, and the counter goes
    /// on from `next_seq` (raised past every saved entry, for saves that predate it).
    pub fn restore(entries: impl IntoIterator<Item = (u64, u64, Respawn)>, next_seq: u64) -> Self {
        let queue: BTreeMap<(u64, u64), Respawn> = entries
            .into_iter()
            .map(|(due, seq, what)| ((due, seq), what))
            .collect();
        let past_saved = queue.keys().map(|&(_, seq)| seq + 1).max().unwrap_or(0);
        Respawns {
            queue,
            next_seq: next_seq.max(past_saved),
        }
    }
}

/// Bounding rectangle `(x0, y0, x1, y1)` of each zone level's tiles (index = level), so a respawn
/// samples tiles near its zone rather than across the whole map.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneBounds(pub Vec<Option<(u16, u16, u16, u16)>>);

impl ZoneBounds {
    /// Scans the grid once.
    pub fn of(terrain: &Terrain) -> ZoneBounds {
        let mut b: Vec<Option<(u16, u16, u16, u16)>> = vec![None; 64];
        for y in 0..terrain.height() {
            for x in 0..terrain.width() {
                let Some(t) = terrain.get(TilePos::new(x, y)) else {
                    continue;
                };
                let z = usize::from(t.zone()).min(63);
                b[z] = Some(match b[z] {
                    None => (x, y, x, y),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                });
            }
        }
        ZoneBounds(b)
    }
}

/// Tries to respawn attempts per object per tick before retrying a second later.
const TRIES: u32 = 64;

/// The world's state that respawning reads (bundled so [`respawn_objects`] shows it).
#[derive(bevy_ecs::system::SystemParam)]
pub struct RespawnContext<'w> {
    tick: Res<'w, Tick>,
    seed: Res<'w, WorldSeed>,
    config: Res<'w, ActiveConfig>,
    terrain: Res<'w, Terrain>,
    zones: Res<'w, ZoneBounds>,
}

/// Brings due objects back. Reads [`Tick`], [`WorldSeed`], [`ActiveConfig`], [`Terrain`],
/// [`ZoneBounds`]; writes [`Respawns`], [`ObjectIndex`], [`NextObjectId`]; spawns the objects
/// (applied at the end of the phase, before the AOI runs); emits [`WorldEvent::ObjectSpawned`].
pub fn respawn_objects(
    ctx: RespawnContext,
    mut respawns: ResMut<Respawns>,
    mut index: ResMut<ObjectIndex>,
    mut next_id: ResMut<NextObjectId>,
    mut outbox: ResMut<Outbox>,
    mut commands: Commands,
) {
    let now = ctx.tick.0;
    let assets = &ctx.config.assets;
    while let Some((&(due, seq), &what)) = respawns.queue.first_key_value() {
        if due > now {
            return;
        }
        respawns.queue.remove(&(due, seq));
        let zone = match what {
            Respawn::Field { zone, .. } | Respawn::Monster { zone, .. } => zone,
        };
        let mut rng = SimRng::new(ctx.seed.0, 0x5e5_0000 ^ due.rotate_left(20) ^ seq);
        let bounds = ctx.zones.0.get(usize::from(zone)).copied().flatten();
        let mut spot = None;
        if let Some((x0, y0, x1, y1)) = bounds {
            for _ in 0..TRIES {
                let x = x0 + rng.below(u64::from(x1 - x0) + 1) as u16;
                let y = y0 + rng.below(u64::from(y1 - y0) + 1) as u16;
                let pos = TilePos::new(x, y);
                if ctx
                    .terrain
                    .get(pos)
                    .is_some_and(|t| t.kind() == TerrainKind::Plain && t.zone() == zone)
                    && index.at(pos).is_none()
                {
                    spot = Some(pos);
                    break;
                }
            }
        }
        let Some(pos) = spot else {
            respawns.schedule(now + assets.world.ticks(1), what);
            continue;
        };
        let id = next_id.allocate();
        let obj = MapObject { id, pos };
        let entity = match what {
            Respawn::Field { kind, zone } => {
                let Some(capacity) = assets
                    .resources
                    .kinds
                    .iter()
                    .find(|k| k.kind == kind)
                    .and_then(|k| k.capacity(zone))
                else {
                    continue; // the kind was tuned out of this zone: nothing to bring back
                };
                commands
                    .spawn((
                        obj,
                        ResourceField {
                            kind,
                            level: zone,
                            remaining: capacity,
                        },
                    ))
                    .id()
            }
            Respawn::Monster { kind, zone } => {
                commands.spawn((obj, Monster { kind, level: zone })).id()
            }
        };
        index.insert(id, pos, entity);
        outbox.push(WorldEvent::ObjectSpawned { id, pos });
    }
}

/// The map's respawn set: [`respawn_objects`] in [`TickPhase::Simulate`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RespawnSystems;

/// Respawning: the [`Respawns`] queue and [`ZoneBounds`] of the world's terrain (so it comes after
/// the map), and [`respawn_objects`] in [`RespawnSystems`].
pub struct RespawnPlugin;

impl Plugin for RespawnPlugin {
    fn build(&self, world: &mut World) {
        let zones = ZoneBounds::of(world.resource::<Terrain>());
        world.insert_resource(zones);
        world.init_resource::<Respawns>();
        add_systems(
            world,
            TickPhase::Simulate,
            respawn_objects.in_set(RespawnSystems),
        );
    }
}
