//! Player cities: founding on a free city slot, troops, wounded and resources, relocation, and the
//! per-player record (city, marches out, alliance).

mod grants;

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;

use crate::active_config::ActiveConfig;
use crate::events::{Outbox, WorldEvent};
use crate::map::{CitySlot, MapObject, ObjectIndex, Terrain, TerrainKind};
use crate::rng::mix;
use crate::schedule::Plugin;
use crate::types::{ObjectId, PlayerId, Resources, TilePos, Troops, WorldSeed};

pub use grants::{GrantLedger, GrantRefusal, MAX_OPEN_GRANTS};

/// A player's city: stands on a tile ([`MapObject`]) and holds the player's army and storehouse.
#[derive(Component, Clone, Debug, PartialEq, Eq, Hash)]
pub struct City {
    /// Owner.
    pub owner: PlayerId,
    /// Troops at home, fit to fight.
    pub troops: Troops,
    /// Wounded troops at home (they do not march or fight).
    pub wounded: Troops,
    /// Resources in the storehouse.
    pub resources: Resources,
    /// Grants (claimed mail attachments) already added to the storehouse.
    pub grants: GrantLedger,
}

/// What the world knows of a player.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PlayerRecord {
    /// The player's city.
    pub city: ObjectId,
    /// Marches out (any state), checked against the queue limit.
    pub marches: u32,
    /// Alliance (guild) id; players of one alliance reinforce and never attack each other.
    pub alliance: Option<u64>,
    /// Tick of the city's last move (`RelocateCity`), for its cooldown.
    pub relocated_at: Option<u64>,
}

/// Every player with a city, by id.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct Players(pub BTreeMap<PlayerId, PlayerRecord>);

impl Players {
    /// True if `a` and `b` are the same player or share an alliance.
    pub fn friendly(&self, a: PlayerId, b: PlayerId) -> bool {
        if a == b {
            return true;
        }
        match (self.0.get(&a), self.0.get(&b)) {
            (Some(x), Some(y)) => x.alliance.is_some() && x.alliance == y.alliance,
            _ => false,
        }
    }
}

/// Free city slots not yet taken, in a deterministic order (ObjectId order at world creation;
/// taking one moves the last into its place).
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct FreeCitySlots(pub Vec<ObjectId>);

/// Why a player could not be given a city.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FoundCityError {
    /// The player already has one.
    #[error("{player} already has a city ({city})")]
    AlreadyHasCity {
        /// The player.
        player: PlayerId,
        /// Their city.
        city: ObjectId,
    },
    /// Every city slot of the map is taken.
    #[error("the kingdom is full: no free city slot left")]
    KingdomFull,
}

/// Founds `player`'s city on a free slot picked by a hash of (seed, player) with the starting
/// troops and resources of `cities.toml`. Reads and writes [`FreeCitySlots`], [`Players`],
/// [`ObjectIndex`], the slot entity; emits [`WorldEvent::CityFounded`].
pub fn found_city(world: &mut World, player: PlayerId) -> Result<ObjectId, FoundCityError> {
    if let Some(r) = world.resource::<Players>().0.get(&player) {
        return Err(FoundCityError::AlreadyHasCity {
            player,
            city: r.city,
        });
    }
    let seed = world.resource::<WorldSeed>().0;
    let start = world.resource::<ActiveConfig>().assets.cities.city.clone();
    loop {
        let slots = &mut world.resource_mut::<FreeCitySlots>().0;
        if slots.is_empty() {
            return Err(FoundCityError::KingdomFull);
        }
        let pick = (mix(seed ^ mix(player.0)) % slots.len() as u64) as usize;
        let id = slots.swap_remove(pick);
        let Some(entity) = world.resource::<ObjectIndex>().entity(id) else {
            continue;
        };
        let Ok(mut e) = world.get_entity_mut(entity) else {
            continue;
        };
        if !e.contains::<CitySlot>() {
            continue;
        }
        let Some(pos) = e.get::<MapObject>().map(|o| o.pos) else {
            continue;
        };
        e.remove::<CitySlot>();
        e.insert(City {
            owner: player,
            troops: start.starting_troops.clone(),
            wounded: Troops::default(),
            resources: start.starting_resources,
            grants: GrantLedger::default(),
        });
        world.resource_mut::<Players>().0.insert(
            player,
            PlayerRecord {
                city: id,
                marches: 0,
                relocated_at: None,
                alliance: None,
            },
        );
        world
            .resource_mut::<Outbox>()
            .push(WorldEvent::CityFounded {
                player,
                city: id,
                pos,
            });
        return Ok(id);
    }
}

/// Why a tile cannot take a city (checked by the relocate command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileProblem {
    /// Off the map.
    OutsideMap,
    /// Not open plain (mountain, water, or a pass that must stay open).
    NotBuildable,
    /// Something stands there.
    Occupied,
}

/// Checks that `pos` is an empty plain tile.
pub fn free_tile(world: &World, pos: TilePos) -> Result<(), TileProblem> {
    let terrain = world.resource::<Terrain>();
    let tile = terrain.get(pos).ok_or(TileProblem::OutsideMap)?;
    if tile.kind() != TerrainKind::Plain {
        return Err(TileProblem::NotBuildable);
    }
    if world.resource::<ObjectIndex>().at(pos).is_some() {
        return Err(TileProblem::Occupied);
    }
    Ok(())
}

/// Moves a city to `to` (already checked free and paid for with `paid`). Writes the city's
/// [`MapObject`] and [`ObjectIndex`]; emits [`WorldEvent::CityRelocated`].
pub fn move_city(world: &mut World, player: PlayerId, city: Entity, to: TilePos, paid: Resources) {
    let Some(mut obj) = world.get_mut::<MapObject>(city) else {
        return;
    };
    let (id, from) = (obj.id, obj.pos);
    obj.pos = to;
    world.resource_mut::<ObjectIndex>().relocate(from, to, city);
    world
        .resource_mut::<Outbox>()
        .push(WorldEvent::CityRelocated {
            player,
            city: id,
            from,
            to,
            paid,
        });
}

/// The entity of a player's city.
pub fn city_entity(world: &World, player: PlayerId) -> Option<(ObjectId, Entity)> {
    let id = world.resource::<Players>().0.get(&player)?.city;
    Some((id, world.resource::<ObjectIndex>().entity(id)?))
}

/// Players and their cities: the [`Players`] register (the kingdom inserts [`FreeCitySlots`] when
/// it spawns the map). Cities change only through commands and marches, so no systems of their
/// own.
pub struct CityPlugin;

impl Plugin for CityPlugin {
    fn build(&self, world: &mut World) {
        world.init_resource::<Players>();
    }
}
