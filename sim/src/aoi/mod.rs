//! Area of interest: who sees what, and the per-tick enter / update / leave deltas per observer.
//!
//! An observer (a client session) watches a [`Viewport`]: a rectangle of tiles and a zoom level.
//! Its interest is every object whose kind its zoom shows (`aoi.toml`) and whose footprint
//! touches the rectangle: a standing object's tile, a travelling march's whole route (so a march
//! is seen where its path crosses the viewport, wherever it is now), a gathering or stationed
//! march's tile ([`geom::visible`] is the rule, [`reference_interest`] applies it by brute force).
//!
//! Each tick the Interest phase ([`update_interest`]) finds the objects whose replicated fields
//! may have changed — entities reported in [`Touched`] (filled by insert/remove observers and
//! [`mark_changed`]), despawns in [`RemovedObjects`], and change detection over marches and
//! cities only — so its work follows what changed, not the ~300k objects of the map. It turns
//! them into plain [`ObjectView`]s and hands them to the [`Observers`] resource, which queues one
//! [`DeltaBatch`] per tick: an [`ObserverDelta`] per observer that has something to hear, sharing
//! each entering view and each update among the observers that need it. A march is replicated
//! as route + departure tick + speed, so it changes only when its phase, route or troops change,
//! never because it moved along its route.
//!
//! # Host API
//!
//! ```
//! use dominion_sim::Kingdom;
//! use dominion_sim::aoi::{Observers, Viewport};
//!
//! fn serve_one_tick(kingdom: &mut Kingdom, session: u64) {
//!     // Register or move: the applied (clamped) viewport is what to echo to the client.
//!     let applied = kingdom
//!         .world
//!         .resource_mut::<Observers>()
//!         .set_viewport(session, Viewport::new(10, 10, 40, 30, 0));
//!     kingdom.tick();
//!     for batch in kingdom.world.resource_mut::<Observers>().drain_batches() {
//!         // encode all at once with dominion_net::proto::delta::encode_batch(&batch) and push
//!         // each (observer, message); `batch.delta(i)` is observer i's plain delta.
//!         let _ = (batch, applied);
//!     }
//!     // When the session ends:
//!     kingdom.world.resource_mut::<Observers>().remove_observer(session);
//! }
//! ```
//!
//! Replicated fields: a field's resource, level and `remaining` rounded up to
//! `field_remaining_step` (the sim settles gathering lazily, and the step keeps small settlements
//! off the wire); a monster's kind and level; a city's owner (cities have no level in the sim);
//! a city slot, nothing; a march's owner, mission, phase, route, departure tick, speed and troop
//! total.
//!
//! Not responsible for: the wire format (`dominion-net` encodes [`ObserverDelta`]s), sessions, or
//! deciding who may watch what beyond the viewport and zoom.

pub mod geom;
mod observers;
pub mod view;

use bevy_ecs::prelude::*;

pub use geom::{CELL, Grid, Rect, Viewport, footprint, visible};
pub use observers::Observers;
pub use view::{
    Body, BodyUpdate, DeltaBatch, FieldUpdate, KindSet, MarchPhase, MarchView, ObjectKind,
    ObjectView, ObserverDelta,
};

use crate::active_config::ActiveConfig;
use crate::city::{City, Players};
use crate::clock::Tick;
use crate::config::AoiConfig;
use crate::gather::Gatherer;
use crate::map::{CitySlot, MapObject, Monster, ResourceField, Terrain};
use crate::march::March;
use crate::schedule::{Plugin, TickPhase, add_systems};
use crate::types::ObjectId;

/// Ids of replicated objects despawned since the last Interest phase (filled by observers on
/// `Remove<MapObject>` and `Remove<March>`).
#[derive(Resource, Debug, Default)]
pub struct RemovedObjects(pub Vec<ObjectId>);

/// Entities whose replicated components may have changed since the last Interest phase, so the
/// Interest phase reads only these instead of every object's change ticks.
///
/// Filled by observers the AOI registers: a replicated component inserted (spawns, a slot
/// becoming a city) or removed without a despawn, and a [`Gatherer`] removed (gathering settles a
/// field's `remaining` right after). Marches and cities, which the rules change in place in many
/// places, are found by change detection over marches and cities only. Any other in-place change
/// of a standing object's replicated fields (a field's `remaining`, a monster's kind or level, an
/// object's tile) must be reported with [`mark_changed`] or [`Touched::mark`]; debug builds
/// check that none was missed.
#[derive(Resource, Debug, Default)]
pub struct Touched(Vec<Entity>);

impl Touched {
    /// Reports that `entity`'s replicated components may have changed.
    pub fn mark(&mut self, entity: Entity) {
        self.0.push(entity);
    }
}

/// Reports that `entity`'s replicated components may have changed in place (see [`Touched`]).
/// A no-op on a world without the AOI.
pub fn mark_changed(world: &mut World, entity: Entity) {
    if let Some(mut touched) = world.get_resource_mut::<Touched>() {
        touched.mark(entity);
    }
}

/// The components whose insertion may change what the AOI replicates.
type Replicated = (MapObject, ResourceField, Monster, City, CitySlot, March);

/// The kind components of a standing object, and a field's [`Gatherer`].
type KindOrGatherer = (ResourceField, Monster, City, CitySlot, Gatherer);

/// Cities whose tile or city fields changed (the rules change cities in place).
type ChangedCities<'w, 's> =
    Query<'w, 's, Entity, (With<City>, Or<(Changed<MapObject>, Changed<City>)>)>;

/// The AOI's set: [`update_interest`] in [`TickPhase::Interest`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AoiSystems;

/// Area of interest: the [`Observers`] resource sized to the map (so it comes after the map), the
/// removal and insertion observers that report what changed, and [`update_interest`] in
/// [`AoiSystems`].
pub struct AoiPlugin;

impl Plugin for AoiPlugin {
    fn build(&self, world: &mut World) {
        let (width, height) = {
            let t = world.resource::<Terrain>();
            (t.width(), t.height())
        };
        let config = world.resource::<ActiveConfig>().assets.aoi.clone();
        world.insert_resource(Observers::new(width, height, config));
        world.init_resource::<RemovedObjects>();
        world.init_resource::<Touched>();
        world.add_observer(
            |ev: On<Remove<MapObject>>,
             objects: Query<&MapObject>,
             mut removed: ResMut<RemovedObjects>| {
                if let Ok(o) = objects.get(ev.event().entity) {
                    removed.0.push(o.id);
                }
            },
        );
        world.add_observer(
            |ev: On<Remove<March>>, marches: Query<&March>, mut removed: ResMut<RemovedObjects>| {
                if let Ok(m) = marches.get(ev.event().entity) {
                    removed.0.push(m.id);
                }
            },
        );
        world.add_observer(|ev: On<Insert<Replicated>>, mut touched: ResMut<Touched>| {
            touched.mark(ev.event().entity);
        });
        // A kind component removed from an object that stays (a despawn is caught above), and a
        // gatherer leaving a field (its `remaining` is settled right after).
        world.add_observer(
            |ev: On<Remove<KindOrGatherer>>, mut touched: ResMut<Touched>| {
                touched.mark(ev.event().entity);
            },
        );
        add_systems(
            world,
            TickPhase::Interest,
            update_interest.in_set(AoiSystems),
        );
    }
}

/// The view of a standing object from its components (`None` for a bare [`MapObject`]); a
/// city's alliance is its owner's in [`Players`].
pub fn standing_view(
    obj: &MapObject,
    field: Option<&ResourceField>,
    monster: Option<&Monster>,
    city: Option<&City>,
    slot: bool,
    config: &AoiConfig,
    players: &Players,
) -> Option<ObjectView> {
    let body = if let Some(c) = city {
        Body::City {
            owner: c.owner,
            alliance: players.0.get(&c.owner).and_then(|p| p.alliance),
        }
    } else if let Some(f) = field {
        let step = config.field_remaining_step.max(1);
        Body::Field {
            kind: f.kind,
            level: f.level,
            remaining: f.remaining.div_ceil(step).saturating_mul(step),
        }
    } else if let Some(m) = monster {
        Body::Monster {
            kind: m.kind,
            level: m.level,
        }
    } else if slot {
        Body::CitySlot
    } else {
        return None;
    };
    Some(ObjectView {
        id: obj.id,
        pos: obj.pos,
        body,
    })
}

/// The view of a march.
pub fn march_view(m: &March) -> ObjectView {
    ObjectView {
        id: m.id,
        pos: m.route.destination(),
        body: Body::March(MarchView {
            owner: m.owner,
            mission: m.mission,
            phase: MarchPhase::of(&m.state),
            route: m.route.clone(),
            troops: m.troops.total(),
        }),
    }
}

/// Components of a standing object, as the AOI reads them.
type StandingQuery = (
    &'static MapObject,
    Option<&'static ResourceField>,
    Option<&'static Monster>,
    Option<&'static City>,
    Has<CitySlot>,
);

/// Standing objects a debug build checks for in-place changes nobody reported (cities are
/// always scanned).
#[cfg(debug_assertions)]
type UnreportedStanding<'w, 's> = Query<
    'w,
    's,
    (Entity, &'static MapObject),
    (
        Without<City>,
        Or<(
            Changed<MapObject>,
            Changed<ResourceField>,
            Changed<Monster>,
            Added<CitySlot>,
        )>,
    ),
>;

/// The Interest phase: collects the objects that changed since the last tick (all of them on the
/// first run or after an `aoi.toml` change), converts them to views and steps [`Observers`].
///
/// Work follows what changed: the entities in [`Touched`] and [`RemovedObjects`], plus change
/// detection over marches and cities only (the rules change those in place); the ~300k fields,
/// monsters and slots of the map are not scanned. Reads [`Tick`], [`ActiveConfig`], map
/// objects, cities and marches; writes [`Observers`], [`RemovedObjects`], [`Touched`].
#[allow(clippy::too_many_arguments)]
pub fn update_interest(
    tick: Res<Tick>,
    active: Res<ActiveConfig>,
    mut observers: ResMut<Observers>,
    mut removed: ResMut<RemovedObjects>,
    mut touched: ResMut<Touched>,
    players: Res<Players>,
    standing: Query<StandingQuery>,
    changed_cities: ChangedCities,
    (changed_marches, marches): (Query<&March, Changed<March>>, Query<&March>),
    #[cfg(debug_assertions)] unreported: UnreportedStanding,
) {
    let new_version = observers.config_version != Some(active.version);
    let everything = new_version
        && (observers.config_version.is_none() || *observers.config() != active.assets.aoi);
    if new_version {
        observers.config_version = Some(active.version);
        observers.set_config(active.assets.aoi.clone());
    }
    let config = &active.assets.aoi;

    let mut entities = std::mem::take(&mut touched.0);
    let mut changes: Vec<(ObjectId, Option<ObjectView>)> =
        removed.0.drain(..).map(|id| (id, None)).collect();
    let view_of = |(o, f, m, c, s): (&MapObject, _, _, _, bool)| {
        (o.id, standing_view(o, f, m, c, s, config, &players))
    };
    if everything {
        changes.extend(standing.iter().map(view_of));
        changes.extend(marches.iter().map(|m| (m.id, Some(march_view(m)))));
    } else {
        entities.extend(changed_cities.iter());
        entities.sort_unstable();
        entities.dedup();
        #[cfg(debug_assertions)]
        for (e, o) in &unreported {
            debug_assert!(
                entities.binary_search(&e).is_ok(),
                "AOI: {} changed a replicated component in place without aoi::mark_changed",
                o.id
            );
        }
        // A touched entity that is gone was despawned (its id is in `removed`) or is a march
        // (found below).
        changes.extend(
            entities
                .iter()
                .filter_map(|&e| standing.get(e).ok())
                .map(view_of),
        );
        changes.extend(changed_marches.iter().map(|m| (m.id, Some(march_view(m)))));
    }
    observers.step(tick.0, changes);
}

/// The interest rule applied by brute force: scans every object of the world and keeps those
/// [`visible`] in `viewport` (clamped as [`Observers::set_viewport`] does), in id order. Tests
/// compare [`Observers::view_of`] against this after each tick.
pub fn reference_interest(world: &mut World, viewport: Viewport) -> Vec<ObjectView> {
    let config = world.resource::<ActiveConfig>().assets.aoi.clone();
    let (width, height) = {
        let t = world.resource::<Terrain>();
        (t.width(), t.height())
    };
    let vp = viewport.clamped(&config, width, height);
    let players = world.resource::<Players>().clone();
    let mut out: Vec<ObjectView> = world
        .query::<StandingQuery>()
        .iter(world)
        .filter_map(|(o, f, m, c, s)| standing_view(o, f, m, c, s, &config, &players))
        .filter(|v| visible(v, &vp, &config))
        .collect();
    out.extend(
        world
            .query::<&March>()
            .iter(world)
            .map(march_view)
            .filter(|v| visible(v, &vp, &config)),
    );
    out.sort_by_key(|v| v.id);
    out
}
