//! [`Kingdom`]: the bevy `World` of one kingdom with its per-phase schedules — the top floor of the
//! sim, which lists the game concepts' plugins, orders their system sets within each phase, and
//! gives hosts one handle on the world.

use std::sync::Arc;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{Schedule, SingleThreadedExecutor};

use crate::active_config::{
    ActiveConfig, ConfigPlugin, ConfigSystems, PendingConfig, ReloadRefused, check_reload,
};
use crate::aoi::{AoiPlugin, AoiSystems};
use crate::city::{City, CityPlugin, FoundCityError, FreeCitySlots, GrantRefusal, Players};
use crate::clock::{ClockPlugin, ClockSystems, Tick};
use crate::command::{Command, CommandInbox, CommandPlugin, CommandSystems};
use crate::config::Assets;
use crate::events::{Outbox, WorldEvent};
use crate::map::{
    CitySlot, GeneratedMap, MapObject, Monster, NextObjectId, ObjectIndex, Placement,
    ResourceField, RespawnPlugin, RespawnSystems, generate_map,
};
use crate::march::{March, MarchPlugin, MarchSystems};
use crate::schedule::{Plugin, TickPhase, add_systems};
use crate::timing::chain_timed;
use crate::types::{ObjectId, PlayerId, Resources, TilePos};

pub use crate::types::WorldSeed;

/// One kingdom: its world and the schedules of the four tick phases.
pub struct Kingdom {
    /// The ECS world; hosts read resources and components here between ticks.
    pub world: World,
}

/// Counts of map objects by kind, for metrics and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectCounts {
    /// Resource fields.
    pub resource_fields: usize,
    /// Monsters.
    pub monsters: usize,
    /// Free city slots.
    pub city_slots: usize,
    /// Player cities.
    pub cities: usize,
    /// Marches out.
    pub marches: usize,
}

impl ObjectCounts {
    /// All objects.
    pub fn total(&self) -> usize {
        self.resource_fields + self.monsters + self.city_slots + self.cities
    }
}

impl Kingdom {
    /// Generates a fresh kingdom from `seed` and `assets` (map generation included).
    pub fn generate(seed: u64, assets: Arc<Assets>) -> Kingdom {
        let map = generate_map(seed, &assets);
        Kingdom::from_map(seed, assets, map)
    }

    /// Builds the world around an already generated map: spawns its objects, then adds every
    /// game concept's plugin and orders their system sets within each phase.
    pub fn from_map(seed: u64, assets: Arc<Assets>, map: GeneratedMap) -> Kingdom {
        let mut world = World::new();
        world.insert_resource(WorldSeed(seed));
        world.insert_resource(ActiveConfig { version: 1, assets });
        world.insert_resource(Outbox::default());
        spawn_map(&mut world, map);
        for phase in TickPhase::ALL {
            let mut schedule = Schedule::new(phase);
            schedule.set_executor(SingleThreadedExecutor::new());
            world.add_schedule(schedule);
        }
        let plugins: [&dyn Plugin; 7] = [
            &ClockPlugin,
            &ConfigPlugin,
            &CityPlugin,
            &CommandPlugin,
            &MarchPlugin,
            &RespawnPlugin,
            &AoiPlugin,
        ];
        for plugin in plugins {
            plugin.build(&mut world);
        }
        chain_timed(
            &mut world,
            TickPhase::Receive,
            &[
                ("clock", ClockSystems.intern()),
                ("config", ConfigSystems.intern()),
                ("commands", CommandSystems.intern()),
            ],
        );
        chain_timed(
            &mut world,
            TickPhase::Simulate,
            &[
                ("marches", MarchSystems.intern()),
                ("respawns", RespawnSystems.intern()),
            ],
        );
        chain_timed(
            &mut world,
            TickPhase::Interest,
            &[("aoi", AoiSystems.intern())],
        );
        Kingdom { world }
    }

    /// Queues a command from `player` for the start of the next tick; commands apply in the
    /// order they were submitted. Returns the arrival sequence number. The answer comes out as a
    /// [`WorldEvent::CommandResult`] carrying `request_id`.
    pub fn submit(&mut self, player: PlayerId, request_id: u32, command: Command) -> u64 {
        self.world
            .resource_mut::<CommandInbox>()
            .submit(player, request_id, command)
    }

    /// Founds a city for a new player on a free city slot (picked deterministically from the seed
    /// and the player id) with the starting troops and resources of `cities.toml`.
    pub fn add_player(&mut self, player: PlayerId) -> Result<ObjectId, FoundCityError> {
        crate::city::found_city(&mut self.world, player)
    }

    /// Puts a player in an alliance (or none). Allies reinforce each other and cannot attack
    /// each other; on a change, reinforcements between the player and former allies go home
    /// ([`crate::march::reinforcement::send_home_former_allies`]). A host applies this between
    /// ticks, journaled as an input like commands. Returns false for a player without a city.
    pub fn set_alliance(&mut self, player: PlayerId, alliance: Option<u64>) -> bool {
        self.change_alliance(player, alliance).is_some()
    }

    /// [`set_alliance`](Self::set_alliance), returning the stationed marches it sent home (in
    /// id order); `None` for a player without a city.
    pub fn change_alliance(
        &mut self,
        player: PlayerId,
        alliance: Option<u64>,
    ) -> Option<Vec<ObjectId>> {
        let before = {
            let mut players = self.world.resource_mut::<Players>();
            let p = players.0.get_mut(&player)?;
            std::mem::replace(&mut p.alliance, alliance)
        };
        crate::player_view::mark_changed(&mut self.world, player);
        if before == alliance {
            return Some(Vec::new());
        }
        // The city's AOI view carries the alliance: observers get it again.
        if let Some((_, e)) = crate::city::city_entity(&self.world, player)
            && let Some(mut c) = self.world.get_mut::<crate::city::City>(e)
        {
            c.set_changed();
        }
        let now = self.world.resource::<Tick>().0;
        Some(crate::march::reinforcement::send_home_former_allies(
            &mut self.world,
            player,
            now,
        ))
    }

    /// Adds a grant (a claimed mail's attachments) to `player`'s storehouse unless their
    /// ledger already holds `grant`; the ledger and the resources change together, on the city,
    /// so they are saved in the same record. `oldest_open` is the player's oldest mail still
    /// claimable when the claim was sent (see [`crate::city::GrantLedger`]). Applied between
    /// ticks, like founding a city; the host journals it. Reads and writes the player's [`City`];
    /// marks their own view changed.
    pub fn grant(
        &mut self,
        player: PlayerId,
        grant: u64,
        oldest_open: u64,
        resources: &Resources,
    ) -> Result<(), GrantRefusal> {
        let city = self
            .world
            .resource::<Players>()
            .0
            .get(&player)
            .map(|p| p.city)
            .ok_or(GrantRefusal::NoCity)?;
        let entity = self
            .world
            .resource::<ObjectIndex>()
            .entity(city)
            .ok_or(GrantRefusal::NoCity)?;
        let Some(mut c) = self.world.get_mut::<City>(entity) else {
            return Err(GrantRefusal::NoCity);
        };
        if c.grants.refuses(grant) {
            return Err(GrantRefusal::AlreadyApplied);
        }
        c.grants.admit(grant, oldest_open)?;
        c.resources.add_all(resources);
        crate::player_view::mark_changed(&mut self.world, player);
        Ok(())
    }

    /// A player's city (id and component).
    pub fn city(&self, player: PlayerId) -> Option<(ObjectId, &City)> {
        let id = self.world.resource::<Players>().0.get(&player)?.city;
        let e = self.world.resource::<ObjectIndex>().entity(id)?;
        Some((id, self.world.get::<City>(e)?))
    }

    /// A march by id.
    pub fn march(&self, id: ObjectId) -> Option<&March> {
        let e = self.world.resource::<ObjectIndex>().entity(id)?;
        self.world.get::<March>(e)
    }

    /// Every march, in id order.
    pub fn marches(&mut self) -> Vec<March> {
        let mut v: Vec<March> = self
            .world
            .query::<&March>()
            .iter(&self.world)
            .cloned()
            .collect();
        v.sort_unstable_by_key(|m| m.id);
        v
    }

    /// Digest of the whole world state (see [`crate::state_hash`]).
    pub fn state_hash(&mut self) -> [u8; 32] {
        crate::state_hash::state_hash(&mut self.world)
    }

    /// Adds systems to one phase (for tests and tools; the game's own systems come from the
    /// plugins in [`Kingdom::from_map`]).
    pub fn add_systems<M>(
        &mut self,
        phase: TickPhase,
        systems: impl IntoScheduleConfigs<bevy_ecs::system::ScheduleSystem, M>,
    ) {
        add_systems(&mut self.world, phase, systems);
    }

    /// Runs one phase of the current tick; hosts call the four phases in [`TickPhase::ALL`] order.
    pub fn run_phase(&mut self, phase: TickPhase) {
        self.world.run_schedule(phase);
    }

    /// Runs one whole tick.
    pub fn tick(&mut self) {
        for phase in TickPhase::ALL {
            self.run_phase(phase);
        }
    }

    /// The number of the last tick run (0 before the first).
    pub fn tick_count(&self) -> u64 {
        self.world.resource::<Tick>().0
    }

    /// The config in force.
    pub fn config(&self) -> &ActiveConfig {
        self.world.resource::<ActiveConfig>()
    }

    /// Stages a validated config to take effect at the start of the next tick. A config staged
    /// twice before a tick replaces the earlier one.
    pub fn stage_config(&mut self, assets: Arc<Assets>) -> Result<(), ReloadRefused> {
        check_reload(&self.config().assets, &assets)?;
        self.world.resource_mut::<PendingConfig>().0 = Some(assets);
        Ok(())
    }

    /// Takes the events of the ticks run since the last drain.
    pub fn drain_events(&mut self) -> Vec<WorldEvent> {
        self.world.resource_mut::<Outbox>().drain()
    }

    /// Counts map objects by kind.
    pub fn object_counts(&mut self) -> ObjectCounts {
        ObjectCounts {
            resource_fields: self
                .world
                .query::<&ResourceField>()
                .iter(&self.world)
                .count(),
            monsters: self.world.query::<&Monster>().iter(&self.world).count(),
            city_slots: self.world.query::<&CitySlot>().iter(&self.world).count(),
            cities: self.world.query::<&City>().iter(&self.world).count(),
            marches: self.world.query::<&March>().iter(&self.world).count(),
        }
    }
}

/// Spawns the generated map's objects (fields, then monsters, then city slots, each in placement
/// order, taking ids in that order) and inserts the map's resources: [`Terrain`], [`ObjectIndex`],
/// [`FreeCitySlots`], [`NextObjectId`].
fn spawn_map(world: &mut World, map: GeneratedMap) {
    let GeneratedMap {
        terrain,
        placements,
    } = map;
    let mut next_id = NextObjectId(1);
    let mut index = ObjectIndex::new(terrain.width(), terrain.height());
    let mut ids = |world: &mut World, kind: Kind| {
        spawn_kind(world, &mut index, &mut next_id, &placements, kind)
    };
    ids(world, Kind::Field);
    ids(world, Kind::Monster);
    let slots = ids(world, Kind::CitySlot);
    world.insert_resource(terrain);
    world.insert_resource(index);
    world.insert_resource(FreeCitySlots(slots));
    world.insert_resource(next_id);
}

/// The kinds of placed objects, in spawn order.
#[derive(Clone, Copy)]
enum Kind {
    Field,
    Monster,
    CitySlot,
}

/// Spawns the placements of one kind in one batch, indexes them, and returns their ids.
fn spawn_kind(
    world: &mut World,
    index: &mut ObjectIndex,
    next_id: &mut NextObjectId,
    placements: &[(TilePos, Placement)],
    kind: Kind,
) -> Vec<ObjectId> {
    fn batch<K: Component>(
        world: &mut World,
        index: &mut ObjectIndex,
        next_id: &mut NextObjectId,
        placements: &[(TilePos, Placement)],
        pick: impl Fn(&Placement) -> Option<K>,
    ) -> Vec<ObjectId> {
        let bundles: Vec<(MapObject, K)> = placements
            .iter()
            .filter_map(|(pos, p)| {
                let k = pick(p)?;
                Some((
                    MapObject {
                        id: next_id.allocate(),
                        pos: *pos,
                    },
                    k,
                ))
            })
            .collect();
        let objects: Vec<MapObject> = bundles.iter().map(|(o, _)| *o).collect();
        for (o, entity) in objects.iter().zip(world.spawn_batch(bundles)) {
            index.insert(o.id, o.pos, entity);
        }
        objects.iter().map(|o| o.id).collect()
    }
    match kind {
        Kind::Field => batch(world, index, next_id, placements, |p| match p {
            Placement::Field(f) => Some(*f),
            _ => None,
        }),
        Kind::Monster => batch(world, index, next_id, placements, |p| match p {
            Placement::Monster(m) => Some(*m),
            _ => None,
        }),
        Kind::CitySlot => batch(world, index, next_id, placements, |p| {
            matches!(p, Placement::CitySlot).then_some(CitySlot)
        }),
    }
}
