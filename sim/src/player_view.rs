//! The player's own view: their city, troops at home, wounded, resources, alliance and every march
//! they have out ([`OwnState`]), and per tick at most one [`OwnDelta`] of what changed, for the
//! players the host watches (those with an online session).
//!
//! Change-driven: nothing here scans every player or every march per tick. The events of a tick
//! name the players whose state they touched ([`touched_players`]); only those that are watched
//! are rebuilt ([`own_state`], which reads their city and their own marches through
//! [`PlayerViews`]' march-by-owner index) and diffed against the state last sent. The index is
//! built by one scan when first needed (a fresh or restored world, or a host that skipped ticks)
//! and then follows the events that create and end marches, when the host calls
//! [`collect_deltas`] after every tick.
//!
//! Not responsible for: wire formats (`net` encodes deltas), sessions, or who is online (the host
//! calls [`watch`] and [`unwatch`]).

use std::collections::{BTreeMap, BTreeSet};

use bevy_ecs::prelude::*;

use crate::battle::Combatant;
use crate::city::{City, Players};
use crate::clock::Tick;
use crate::events::WorldEvent;
use crate::map::{MapObject, ObjectIndex};
use crate::march::{March, MarchState, Mission, Route};
use crate::types::{ObjectId, PlayerId, Resources, TilePos, Troops};

/// One of the player's marches as the player sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnMarch {
    /// The march.
    pub id: ObjectId,
    /// What it was sent to do.
    pub mission: Mission,
    /// The object it was sent to.
    pub target: ObjectId,
    /// Troops fit to fight.
    pub troops: Troops,
    /// Troops wounded on the way.
    pub wounded: Troops,
    /// Resources carried.
    pub load: Resources,
    /// What it is doing (outbound, gathering, stationed, returning).
    pub phase: MarchState,
    /// Its current route; `route.arrival_tick()` is its ETA.
    pub route: Route,
}

impl OwnMarch {
    /// The player's view of `m`.
    pub fn of(m: &March) -> OwnMarch {
        OwnMarch {
            id: m.id,
            mission: m.mission,
            target: m.target,
            troops: m.troops.clone(),
            wounded: m.wounded.clone(),
            load: m.load,
            phase: m.state,
            route: m.route.clone(),
        }
    }
}

/// The fields of one march that changed (its mission and target never do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarchChange {
    /// The march.
    pub id: ObjectId,
    /// New phase, when changed.
    pub phase: Option<MarchState>,
    /// New route, when changed.
    pub route: Option<Route>,
    /// Troops fit to fight, when changed.
    pub troops: Option<Troops>,
    /// Wounded, when changed.
    pub wounded: Option<Troops>,
    /// Load, when changed.
    pub load: Option<Resources>,
}

impl MarchChange {
    /// What changed from `old` to `new` (the same march).
    pub fn between(old: &OwnMarch, new: &OwnMarch) -> MarchChange {
        MarchChange {
            id: new.id,
            phase: (old.phase != new.phase).then_some(new.phase),
            route: (old.route != new.route).then(|| new.route.clone()),
            troops: (old.troops != new.troops).then(|| new.troops.clone()),
            wounded: (old.wounded != new.wounded).then(|| new.wounded.clone()),
            load: (old.load != new.load).then_some(new.load),
        }
    }

    /// Applies the change to the march it names.
    pub fn apply_to(&self, m: &mut OwnMarch) {
        if let Some(p) = self.phase {
            m.phase = p;
        }
        if let Some(r) = &self.route {
            m.route = r.clone();
        }
        if let Some(t) = &self.troops {
            m.troops = t.clone();
        }
        if let Some(t) = &self.wounded {
            m.wounded = t.clone();
        }
        if let Some(l) = self.load {
            m.load = l;
        }
    }
}

/// Everything a player sees of themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnState {
    /// The player.
    pub player: PlayerId,
    /// Their city.
    pub city: ObjectId,
    /// Its tile.
    pub city_pos: TilePos,
    /// Troops at home, fit to fight.
    pub troops: Troops,
    /// Wounded at home.
    pub wounded: Troops,
    /// Resources in the storehouse.
    pub resources: Resources,
    /// Alliance, if any.
    pub alliance: Option<u64>,
    /// Every march out, by id.
    pub marches: BTreeMap<ObjectId, OwnMarch>,
}

/// What changed in a player's [`OwnState`] since the last one sent: each field only when it
/// changed, new marches whole, the changed fields of the others, ids of marches that ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnDelta {
    /// The player.
    pub player: PlayerId,
    /// The city's id and tile, when either changed.
    pub city: Option<(ObjectId, TilePos)>,
    /// Troops at home, when changed.
    pub troops: Option<Troops>,
    /// Wounded at home, when changed.
    pub wounded: Option<Troops>,
    /// Resources, when changed.
    pub resources: Option<Resources>,
    /// Alliance, when changed (`Some(None)`: left it).
    pub alliance: Option<Option<u64>>,
    /// New marches, whole, in id order.
    pub marches: Vec<OwnMarch>,
    /// Changed fields of marches already sent, in id order.
    pub changed: Vec<MarchChange>,
    /// Marches that ended (home or destroyed), in id order.
    pub gone: Vec<ObjectId>,
}

impl OwnDelta {
    /// A delta that changes nothing.
    pub fn empty(player: PlayerId) -> OwnDelta {
        OwnDelta {
            player,
            city: None,
            troops: None,
            wounded: None,
            resources: None,
            alliance: None,
            marches: Vec::new(),
            changed: Vec::new(),
            gone: Vec::new(),
        }
    }

    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.city.is_none()
            && self.troops.is_none()
            && self.wounded.is_none()
            && self.resources.is_none()
            && self.alliance.is_none()
            && self.marches.is_empty()
            && self.changed.is_empty()
            && self.gone.is_empty()
    }
}

impl OwnState {
    /// What changed from `self` to `new`, or `None` when nothing did.
    pub fn diff(&self, new: &OwnState) -> Option<OwnDelta> {
        let changed = |a: bool| a.then_some(());
        let mut d = OwnDelta::empty(new.player);
        d.city = changed(self.city != new.city || self.city_pos != new.city_pos)
            .map(|()| (new.city, new.city_pos));
        d.troops = changed(self.troops != new.troops).map(|()| new.troops.clone());
        d.wounded = changed(self.wounded != new.wounded).map(|()| new.wounded.clone());
        d.resources = changed(self.resources != new.resources).map(|()| new.resources);
        d.alliance = changed(self.alliance != new.alliance).map(|()| new.alliance);
        for m in new.marches.values() {
            match self.marches.get(&m.id) {
                None => d.marches.push(m.clone()),
                Some(old) if old != m => d.changed.push(MarchChange::between(old, m)),
                Some(_) => {}
            }
        }
        d.gone = self
            .marches
            .keys()
            .filter(|id| !new.marches.contains_key(id))
            .copied()
            .collect();
        (!d.is_empty()).then_some(d)
    }

    /// Applies a delta made by [`OwnState::diff`] from this state.
    pub fn apply(&mut self, d: &OwnDelta) {
        if let Some((city, pos)) = d.city {
            self.city = city;
            self.city_pos = pos;
        }
        if let Some(t) = &d.troops {
            self.troops = t.clone();
        }
        if let Some(t) = &d.wounded {
            self.wounded = t.clone();
        }
        if let Some(r) = d.resources {
            self.resources = r;
        }
        if let Some(a) = d.alliance {
            self.alliance = a;
        }
        for id in &d.gone {
            self.marches.remove(id);
        }
        for m in &d.marches {
            self.marches.insert(m.id, m.clone());
        }
        for c in &d.changed {
            if let Some(m) = self.marches.get_mut(&c.id) {
                c.apply_to(m);
            }
        }
    }
}

/// The watched players with the state last sent to each, the players marked changed outside
/// a tick's events, and the index of marches by owner.
#[derive(Resource, Default, Debug)]
pub struct PlayerViews {
    /// Watched players: (sessions watching, state last sent).
    watched: BTreeMap<PlayerId, (u32, OwnState)>,
    /// Players changed by something that emits no event (an alliance set by the host).
    marked: BTreeSet<PlayerId>,
    /// Marches out by owner.
    marches_by_owner: BTreeMap<PlayerId, BTreeSet<ObjectId>>,
    /// The tick whose end the index reflects; `None` until first built.
    synced_at: Option<u64>,
}

impl PlayerViews {
    /// Players watched now.
    pub fn watched(&self) -> usize {
        self.watched.len()
    }
}

/// Marks `player` changed by something that emits no event; their delta goes out with the next
/// [`collect_deltas`]. Writes [`PlayerViews`].
pub fn mark_changed(world: &mut World, player: PlayerId) {
    world
        .get_resource_or_insert_with(PlayerViews::default)
        .marked
        .insert(player);
}

/// Rebuilds the march-by-owner index by one scan of the marches unless it reflects the last
/// tick run (`allow_behind`: or the one before, whose events the caller is about to follow).
fn ensure_index(world: &mut World, allow_behind: bool) {
    let now = world.resource::<Tick>().0;
    let synced = world
        .get_resource::<PlayerViews>()
        .and_then(|v| v.synced_at);
    if synced == Some(now) || (allow_behind && synced.is_some_and(|t| t + 1 == now)) {
        return;
    }
    let mut index: BTreeMap<PlayerId, BTreeSet<ObjectId>> = BTreeMap::new();
    for m in world.query::<&March>().iter(world) {
        index.entry(m.owner).or_default().insert(m.id);
    }
    let mut views = world.get_resource_or_insert_with(PlayerViews::default);
    views.marches_by_owner = index;
    views.synced_at = Some(now);
}

/// The player's own state now, or `None` for a player without a city. Reads [`Players`],
/// [`ObjectIndex`], the city and the player's marches (through the index, built if needed).
pub fn own_state(world: &mut World, player: PlayerId) -> Option<OwnState> {
    ensure_index(world, false);
    let ids = world
        .resource::<PlayerViews>()
        .marches_by_owner
        .get(&player);
    state_of(world, player, ids)
}

fn state_of(
    world: &World,
    player: PlayerId,
    marches: Option<&BTreeSet<ObjectId>>,
) -> Option<OwnState> {
    let record = world.resource::<Players>().0.get(&player)?;
    let index = world.resource::<ObjectIndex>();
    let e = index.entity(record.city)?;
    let city = world.get::<City>(e)?;
    let pos = world.get::<MapObject>(e)?.pos;
    let marches = marches
        .into_iter()
        .flatten()
        .filter_map(|id| world.get::<March>(index.entity(*id)?))
        .map(|m| (m.id, OwnMarch::of(m)))
        .collect();
    Some(OwnState {
        player,
        city: record.city,
        city_pos: pos,
        troops: city.troops.clone(),
        wounded: city.wounded.clone(),
        resources: city.resources,
        alliance: record.alliance,
        marches,
    })
}

/// Starts (or adds a session to) watching `player`; returns their whole state, which the host
/// sends as the first message, or `None` for a player without a city. Writes [`PlayerViews`].
pub fn watch(world: &mut World, player: PlayerId) -> Option<OwnState> {
    let state = own_state(world, player)?;
    let mut views = world.resource_mut::<PlayerViews>();
    let entry = views
        .watched
        .entry(player)
        .or_insert_with(|| (0, state.clone()));
    entry.0 += 1;
    entry.1 = state.clone();
    Some(state)
}

/// Drops one session's watch of `player`; the last one stops the deltas. Writes [`PlayerViews`].
pub fn unwatch(world: &mut World, player: PlayerId) {
    let Some(mut views) = world.get_resource_mut::<PlayerViews>() else {
        return;
    };
    if let Some(entry) = views.watched.get_mut(&player) {
        entry.0 = entry.0.saturating_sub(1);
        if entry.0 == 0 {
            views.watched.remove(&player);
        }
    }
}

/// Every player whose own state an event may have changed (in event order, repeats possible).
pub fn touched_players(event: &WorldEvent, out: &mut Vec<PlayerId>) {
    match event {
        WorldEvent::CityFounded { player, .. }
        | WorldEvent::CityRelocated { player, .. }
        | WorldEvent::MarchStarted { player, .. }
        | WorldEvent::MarchArrived { player, .. }
        | WorldEvent::MarchFailed { player, .. }
        | WorldEvent::MarchReturning { player, .. }
        | WorldEvent::MarchReturned { player, .. }
        | WorldEvent::MarchDestroyed { player, .. }
        | WorldEvent::MarchStationed { player, .. }
        | WorldEvent::Gathered { player, .. }
        | WorldEvent::ScoutReport { player, .. }
        | WorldEvent::ResourcesChanged { player, .. } => out.push(*player),
        WorldEvent::BattleReport(r) => {
            for p in r.attackers.iter().chain(&r.defenders) {
                match p.who {
                    Combatant::March { player, .. } | Combatant::City { player, .. } => {
                        out.push(player)
                    }
                    Combatant::Monster { .. } => {}
                }
            }
        }
        WorldEvent::ConfigApplied { .. }
        | WorldEvent::CommandResult { .. }
        | WorldEvent::ObjectSpawned { .. }
        | WorldEvent::ObjectRemoved { .. } => {}
    }
}

/// Keeps the march-by-owner index in step with the marches that started and ended.
fn follow_marches(index: &mut BTreeMap<PlayerId, BTreeSet<ObjectId>>, event: &WorldEvent) {
    match event {
        WorldEvent::MarchStarted { march, player, .. } => {
            index.entry(*player).or_default().insert(*march);
        }
        WorldEvent::MarchReturned { march, player, .. }
        | WorldEvent::MarchDestroyed { march, player, .. } => {
            if let Some(set) = index.get_mut(player) {
                set.remove(march);
                if set.is_empty() {
                    index.remove(player);
                }
            }
        }
        _ => {}
    }
}

/// After every tick: follows `events` (drained from the outbox: every event since the last
/// call) in the march index, and returns one delta per watched player whose state changed, in
/// player order. Costs the events plus the touched watched players; reads the world, writes
/// [`PlayerViews`]. A host that skipped calls (or restored the world) only pays one rescan.
pub fn collect_deltas(world: &mut World, events: &[WorldEvent]) -> Vec<OwnDelta> {
    // An index rebuilt here already shows these events; following them again changes nothing
    // (inserting a started march and removing an ended one are idempotent).
    ensure_index(world, true);
    let now = world.resource::<Tick>().0;
    let mut views = world.resource_mut::<PlayerViews>();
    views.synced_at = Some(now);
    let mut touched = Vec::new();
    {
        let views = &mut *views;
        for event in events {
            follow_marches(&mut views.marches_by_owner, event);
            touched_players(event, &mut touched);
        }
        touched.extend(std::mem::take(&mut views.marked));
    }
    touched.retain(|p| views.watched.contains_key(p));
    if touched.is_empty() {
        return Vec::new();
    }
    touched.sort_unstable();
    touched.dedup();
    let views = world.resource::<PlayerViews>();
    let index = &views.marches_by_owner;
    let mut out = Vec::new();
    let mut updated = Vec::new();
    for player in touched {
        let Some((_, last)) = views.watched.get(&player) else {
            continue;
        };
        let Some(now) = state_of(world, player, index.get(&player)) else {
            continue;
        };
        if let Some(d) = last.diff(&now) {
            out.push(d);
            updated.push(now);
        }
    }
    let mut views = world.resource_mut::<PlayerViews>();
    for now in updated {
        if let Some(entry) = views.watched.get_mut(&now.player) {
            entry.1 = now;
        }
    }
    out
}
