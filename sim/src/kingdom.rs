//! [`Kingdom`]: the bevy `World` of one kingdom with its per-phase schedules.

use std::sync::Arc;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{Schedule, SingleThreadedExecutor};

use crate::active_config::{
    ActiveConfig, PendingConfig, ReloadRefused, apply_pending_config, check_reload,
};
use crate::clock::{Tick, advance_tick};
use crate::config::Assets;
use crate::events::{Outbox, WorldEvent};
use crate::map::{
    CitySlot, GeneratedMap, MapObject, Monster, NextObjectId, Placement, ResourceField,
    generate_map,
};
use crate::schedule::TickPhase;

/// The seed a kingdom was generated from.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorldSeed(pub u64);

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
}

impl ObjectCounts {
    /// All objects.
    pub fn total(&self) -> usize {
        self.resource_fields + self.monsters + self.city_slots
    }
}

impl Kingdom {
    /// Generates a fresh kingdom from `seed` and `assets` (map generation included).
    pub fn generate(seed: u64, assets: Arc<Assets>) -> Kingdom {
        let map = generate_map(seed, &assets);
        Kingdom::from_map(seed, assets, map)
    }

    /// Builds the world around an already generated map.
    pub fn from_map(seed: u64, assets: Arc<Assets>, map: GeneratedMap) -> Kingdom {
        let mut world = World::new();
        world.insert_resource(WorldSeed(seed));
        world.insert_resource(Tick(0));
        world.insert_resource(ActiveConfig { version: 1, assets });
        world.insert_resource(PendingConfig::default());
        world.insert_resource(Outbox::default());
        let mut next_id = NextObjectId(1);
        let GeneratedMap {
            terrain,
            placements,
        } = map;
        world.insert_resource(terrain);
        let fields: Vec<_> = placements
            .iter()
            .filter_map(|(pos, p)| match p {
                Placement::Field(f) => Some((
                    MapObject {
                        id: next_id.allocate(),
                        pos: *pos,
                    },
                    *f,
                )),
                _ => None,
            })
            .collect();
        world.spawn_batch(fields);
        let monsters: Vec<_> = placements
            .iter()
            .filter_map(|(pos, p)| match p {
                Placement::Monster(m) => Some((
                    MapObject {
                        id: next_id.allocate(),
                        pos: *pos,
                    },
                    *m,
                )),
                _ => None,
            })
            .collect();
        world.spawn_batch(monsters);
        let slots: Vec<_> = placements
            .iter()
            .filter_map(|(pos, p)| match p {
                Placement::CitySlot => Some((
                    MapObject {
                        id: next_id.allocate(),
                        pos: *pos,
                    },
                    CitySlot,
                )),
                _ => None,
            })
            .collect();
        world.spawn_batch(slots);
        world.insert_resource(next_id);

        for phase in TickPhase::ALL {
            let mut schedule = Schedule::new(phase);
            schedule.set_executor(SingleThreadedExecutor::new());
            world.add_schedule(schedule);
        }
        let mut kingdom = Kingdom { world };
        kingdom.add_systems(
            TickPhase::Receive,
            (advance_tick, apply_pending_config).chain(),
        );
        kingdom
    }

    /// Adds systems to one phase (gameplay plugins call this).
    pub fn add_systems<M>(
        &mut self,
        phase: TickPhase,
        systems: impl IntoScheduleConfigs<bevy_ecs::system::ScheduleSystem, M>,
    ) {
        self.world.schedule_scope(phase, |_, schedule| {
            schedule.add_systems(systems);
        });
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
        }
    }
}
