//! The world as plain data, for persistence and rotation: export the whole state, rebuild a
//! kingdom from it, and track which entities changed since the last save.
//!
//! Everything derivable (the object index, march timers, per-player march counts, gatherer marks,
//! path caches) is rebuilt on import rather than stored, so the stored form has one source of truth.

use std::collections::BTreeSet;
use std::sync::Arc;

use bevy_ecs::prelude::*;

use crate::city::{City, FreeCitySlots, PlayerRecord, Players};
use crate::clock::Tick;
use crate::command::{CommandInbox, Submitted};
use crate::config::Assets;
use crate::gather::Gatherer;
use crate::kingdom::Kingdom;
use crate::map::{
    CitySlot, GeneratedMap, MapObject, Monster, NextObjectId, ObjectIndex, ResourceField, Respawn,
    Respawns, Terrain,
};
use crate::march::{BattleCounter, March, MarchClock, MarchState, MarchTimers};
use crate::types::{ObjectId, PlayerId, WorldSeed};

/// What stands on a map object's tile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectBody {
    /// A resource field.
    Field(ResourceField),
    /// A monster.
    Monster(Monster),
    /// A free city slot.
    CitySlot,
    /// A player's city.
    City(City),
}

/// One map object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectState {
    /// Id and tile.
    pub object: MapObject,
    /// Kind and fields.
    pub body: ObjectBody,
}

/// One march with its scheduling clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarchSnapshot {
    /// The march.
    pub march: March,
    /// Tick of its next event ([`MarchClock::IDLE`] when none).
    pub next_event: u64,
}

/// What the world knows of a player beyond their city.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerState {
    /// The player.
    pub player: PlayerId,
    /// Their city.
    pub city: ObjectId,
    /// Their alliance, if any.
    pub alliance: Option<u64>,
    /// Tick their city last moved, if ever (the relocation cooldown).
    pub relocated_at: Option<u64>,
}

/// World-wide scalars and queues (small except `free_city_slots`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldMeta {
    /// Map seed.
    pub seed: u64,
    /// Last tick run.
    pub tick: u64,
    /// Next unused object id.
    pub next_object_id: u64,
    /// Battles fought so far (seeds battle randomness).
    pub battles: u64,
    /// Pending respawns: (due tick, sequence, what).
    pub respawns: Vec<(u64, u64, Respawn)>,
    /// The sequence number the next respawn gets (seeds its RNG).
    pub respawn_next_seq: u64,
    /// Free city slots in the order founding draws from them.
    pub free_city_slots: Vec<ObjectId>,
    /// Version of the config in force (1 for the config the world started with; +1 per reload).
    pub config_version: u32,
    /// Commands accepted and left waiting for a later tick's route budget, in sequence order.
    pub waiting_commands: Vec<Submitted>,
    /// The sequence number the next submitted command gets.
    pub command_next_seq: u64,
}

/// The whole world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldState {
    /// Scalars and queues.
    pub meta: WorldMeta,
    /// The tile grid.
    pub terrain: Terrain,
    /// Every map object, by id.
    pub objects: Vec<ObjectState>,
    /// Every player.
    pub players: Vec<PlayerState>,
    /// Every march.
    pub marches: Vec<MarchSnapshot>,
}

/// Why a stored world cannot be rebuilt.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// Two objects or marches share an id.
    #[error("object id {0} appears twice in the stored world")]
    DuplicateId(ObjectId),
    /// An object stands off the map.
    #[error("object {id} stands at {pos}, outside the {w}x{h} map")]
    OffMap {
        /// The object.
        id: ObjectId,
        /// Its tile.
        pos: crate::types::TilePos,
        /// Map width.
        w: u16,
        /// Map height.
        h: u16,
    },
    /// A player's city is missing or not a city.
    #[error("{player}'s city {city} is missing from the stored world")]
    MissingCity {
        /// The player.
        player: PlayerId,
        /// The city id.
        city: ObjectId,
    },
    /// The stored map size differs from `map.toml`.
    #[error("the stored map is {stored_w}x{stored_h} but map.toml says {w}x{h}")]
    MapSize {
        /// Stored width.
        stored_w: u16,
        /// Stored height.
        stored_h: u16,
        /// Configured width.
        w: u16,
        /// Configured height.
        h: u16,
    },
}

/// The registered [`record_changes`] system; run on demand, so tracking costs nothing per tick.
#[derive(Resource, Clone, Copy, Debug)]
struct ChangeRecorder(bevy_ecs::system::SystemId);

/// Ids changed or removed since the last [`take_changes`](Kingdom::take_changes).
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Objects or marches spawned or changed.
    pub changed: BTreeSet<ObjectId>,
    /// Objects or marches despawned.
    pub removed: BTreeSet<ObjectId>,
    /// Player records (alliances, cities) changed.
    pub players: bool,
    /// Free city slots changed.
    pub free_slots: bool,
}

/// Records entities changed since this system last ran. Reads change ticks of every persisted
/// component; writes [`Changes`]. Its first run sees everything as changed.
#[allow(clippy::type_complexity)]
pub fn record_changes(
    objects: Query<
        &MapObject,
        Or<(
            Changed<MapObject>,
            Changed<ResourceField>,
            Changed<Monster>,
            Changed<City>,
        )>,
    >,
    slots_added: Query<&MapObject, Added<CitySlot>>,
    marches: Query<&March, Or<(Changed<March>, Changed<MarchClock>)>>,
    players: Res<Players>,
    free: Res<FreeCitySlots>,
    mut changes: ResMut<Changes>,
) {
    for o in objects.iter().chain(slots_added.iter()) {
        changes.removed.remove(&o.id);
        changes.changed.insert(o.id);
    }
    for m in &marches {
        changes.removed.remove(&m.id);
        changes.changed.insert(m.id);
    }
    if players.is_changed() {
        changes.players = true;
    }
    if free.is_changed() {
        changes.free_slots = true;
    }
}

impl Kingdom {
    /// Starts tracking changes for incremental saves. Everything that exists now counts as
    /// changed, so the first save writes the whole world.
    pub fn track_changes(&mut self) {
        if self.world.contains_resource::<ChangeRecorder>() {
            return;
        }
        self.world.insert_resource(Changes {
            players: true,
            free_slots: true,
            ..Changes::default()
        });
        self.world.add_observer(
            |ev: On<Remove<MapObject>>, q: Query<&MapObject>, mut c: ResMut<Changes>| {
                if let Ok(o) = q.get(ev.event().entity) {
                    c.changed.remove(&o.id);
                    c.removed.insert(o.id);
                }
            },
        );
        self.world.add_observer(
            |ev: On<Remove<March>>, q: Query<&March>, mut c: ResMut<Changes>| {
                if let Ok(m) = q.get(ev.event().entity) {
                    c.changed.remove(&m.id);
                    c.removed.insert(m.id);
                }
            },
        );
        let id = self.world.register_system(record_changes);
        self.world.insert_resource(ChangeRecorder(id));
        self.collect_changes();
    }

    fn collect_changes(&mut self) {
        if let Some(ChangeRecorder(id)) = self.world.get_resource::<ChangeRecorder>().copied() {
            // The system only reads components and writes `Changes`; it cannot fail.
            let _ = self.world.run_system(id);
        }
    }

    /// Takes the changes since the last call (empty if tracking is off). Call between ticks.
    pub fn take_changes(&mut self) -> Changes {
        self.collect_changes();
        self.world
            .get_resource_mut::<Changes>()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// World scalars and queues.
    pub fn export_meta(&self) -> WorldMeta {
        let respawns = self.world.resource::<Respawns>();
        let inbox = self.world.get_resource::<CommandInbox>();
        WorldMeta {
            seed: self.world.resource::<WorldSeed>().0,
            tick: self.world.resource::<Tick>().0,
            next_object_id: self.world.resource::<NextObjectId>().0,
            battles: self
                .world
                .get_resource::<BattleCounter>()
                .map_or(0, |b| b.0),
            respawns: respawns
                .queue
                .iter()
                .map(|(&(due, seq), what)| (due, seq, *what))
                .collect(),
            respawn_next_seq: respawns.next_seq(),
            free_city_slots: self.world.resource::<FreeCitySlots>().0.clone(),
            config_version: self.config().version,
            waiting_commands: inbox
                .map_or_else(Vec::new, |i| i.waiting().iter().cloned().collect()),
            command_next_seq: inbox.map_or(0, CommandInbox::next_seq),
        }
    }

    /// The state of the objects and marches with these ids (ids not found are skipped).
    pub fn export_entities(
        &self,
        ids: &BTreeSet<ObjectId>,
    ) -> (Vec<ObjectState>, Vec<MarchSnapshot>) {
        let index = self.world.resource::<ObjectIndex>();
        let mut objects = Vec::new();
        let mut marches = Vec::new();
        for id in ids {
            let Some(e) = index.entity(*id) else { continue };
            let Ok(er) = self.world.get_entity(e) else {
                continue;
            };
            if let Some(m) = er.get::<March>() {
                marches.push(MarchSnapshot {
                    march: m.clone(),
                    next_event: er.get::<MarchClock>().map_or(MarchClock::IDLE, |c| c.next),
                });
            } else if let Some(s) = object_state(&er) {
                objects.push(s);
            }
        }
        (objects, marches)
    }

    /// Every player.
    pub fn export_players(&self) -> Vec<PlayerState> {
        self.world
            .resource::<Players>()
            .0
            .iter()
            .map(|(p, r)| PlayerState {
                player: *p,
                city: r.city,
                alliance: r.alliance,
                relocated_at: r.relocated_at,
            })
            .collect()
    }

    /// The ids of every map object and march.
    pub fn entity_ids(&mut self) -> BTreeSet<ObjectId> {
        let mut ids: BTreeSet<ObjectId> = self
            .world
            .query::<&MapObject>()
            .iter(&self.world)
            .map(|o| o.id)
            .collect();
        ids.extend(self.world.query::<&March>().iter(&self.world).map(|m| m.id));
        ids
    }

    /// The whole world as plain data.
    pub fn export_state(&mut self) -> WorldState {
        let ids = self.entity_ids();
        let (objects, marches) = self.export_entities(&ids);
        WorldState {
            meta: self.export_meta(),
            terrain: self.world.resource::<Terrain>().clone(),
            objects,
            players: self.export_players(),
            marches,
        }
    }

    /// Rebuilds a kingdom from stored state, running on `assets` under the saved config version.
    /// Nothing is renumbered: respawns and waiting commands keep their sequence numbers, so the
    /// rebuilt world hashes the same and evolves identically.
    pub fn from_state(assets: Arc<Assets>, state: WorldState) -> Result<Kingdom, RestoreError> {
        let WorldState {
            meta,
            terrain,
            objects,
            players,
            marches,
        } = state;
        let (w, h) = (terrain.width(), terrain.height());
        if (w, h) != (assets.map.width, assets.map.height) {
            return Err(RestoreError::MapSize {
                stored_w: w,
                stored_h: h,
                w: assets.map.width,
                h: assets.map.height,
            });
        }
        let mut kingdom = Kingdom::from_map(
            meta.seed,
            assets,
            GeneratedMap {
                terrain,
                placements: Vec::new(),
            },
        );
        let world = &mut kingdom.world;
        let mut index = ObjectIndex::new(w, h);
        let mut seen = BTreeSet::new();
        for o in objects {
            let (id, pos) = (o.object.id, o.object.pos);
            if !seen.insert(id) {
                return Err(RestoreError::DuplicateId(id));
            }
            if pos.x >= w || pos.y >= h {
                return Err(RestoreError::OffMap { id, pos, w, h });
            }
            let e = match o.body {
                ObjectBody::Field(f) => world.spawn((o.object, f)).id(),
                ObjectBody::Monster(m) => world.spawn((o.object, m)).id(),
                ObjectBody::CitySlot => world.spawn((o.object, CitySlot)).id(),
                ObjectBody::City(c) => world.spawn((o.object, c)).id(),
            };
            index.insert(id, pos, e);
        }
        let mut records: std::collections::BTreeMap<PlayerId, PlayerRecord> = players
            .into_iter()
            .map(|p| {
                (
                    p.player,
                    PlayerRecord {
                        city: p.city,
                        marches: 0,
                        alliance: p.alliance,
                        relocated_at: p.relocated_at,
                    },
                )
            })
            .collect();
        for (player, r) in &records {
            let is_city = index
                .entity(r.city)
                .and_then(|e| world.get::<City>(e))
                .is_some();
            if !is_city {
                return Err(RestoreError::MissingCity {
                    player: *player,
                    city: r.city,
                });
            }
        }
        let mut timers = MarchTimers::default();
        for s in marches {
            let id = s.march.id;
            if s.next_event != MarchClock::IDLE {
                timers.0.insert((s.next_event, id));
            }
            if !seen.insert(id) {
                return Err(RestoreError::DuplicateId(id));
            }
            if let Some(r) = records.get_mut(&s.march.owner) {
                r.marches += 1;
            }
            let gathering = match s.march.state {
                MarchState::Gathering { field, .. } => Some(field),
                _ => None,
            };
            let e = world
                .spawn((
                    MarchClock {
                        id,
                        next: s.next_event,
                    },
                    s.march,
                ))
                .id();
            index.insert_id(id, e);
            if let Some(field) = gathering
                && let Some(fe) = index.entity(field)
            {
                world.entity_mut(fe).insert(Gatherer(id));
            }
        }
        world.insert_resource(index);
        world.insert_resource(timers);
        world.insert_resource(Players(records));
        world.insert_resource(FreeCitySlots(meta.free_city_slots));
        world.insert_resource(Respawns::restore(meta.respawns, meta.respawn_next_seq));
        world.insert_resource(CommandInbox::restore(
            meta.waiting_commands,
            meta.command_next_seq,
        ));
        world
            .resource_mut::<crate::active_config::ActiveConfig>()
            .version = meta.config_version.max(1);
        world.insert_resource(NextObjectId(meta.next_object_id));
        world.insert_resource(Tick(meta.tick));
        world.insert_resource(BattleCounter(meta.battles));
        Ok(kingdom)
    }
}

fn object_state(e: &bevy_ecs::world::EntityRef<'_>) -> Option<ObjectState> {
    let object = *e.get::<MapObject>()?;
    let body = if let Some(f) = e.get::<ResourceField>() {
        ObjectBody::Field(*f)
    } else if let Some(m) = e.get::<Monster>() {
        ObjectBody::Monster(*m)
    } else if let Some(c) = e.get::<City>() {
        ObjectBody::City(c.clone())
    } else if e.contains::<CitySlot>() {
        ObjectBody::CitySlot
    } else {
        return None;
    };
    Some(ObjectState { object, body })
}
