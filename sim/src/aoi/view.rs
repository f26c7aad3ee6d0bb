//! What an observer is told about an object: plain data, no ECS and no wire format (`net`
//! encodes these).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use crate::march::MarchState;
pub use crate::types::{KindSet, ObjectKind};
use crate::types::{Mission, ObjectId, PlayerId, ResourceKind, Route, TilePos};

/// What a march is doing, as replicated (the sim's [`MarchState`] without its bookkeeping).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum MarchPhase {
    /// Travelling to its target along its route.
    Outbound = 0,
    /// Gathering at the end of its route.
    Gathering = 1,
    /// Defending an allied city at the end of its route.
    Stationed = 2,
    /// Travelling home along its route.
    Returning = 3,
}

impl MarchPhase {
    /// The phase of a sim march state.
    pub fn of(state: &MarchState) -> MarchPhase {
        match state {
            MarchState::Outbound => MarchPhase::Outbound,
            MarchState::Gathering { .. } => MarchPhase::Gathering,
            MarchState::Stationed { .. } => MarchPhase::Stationed,
            MarchState::Returning => MarchPhase::Returning,
        }
    }
    /// True while the march travels its route (its whole path is its footprint); otherwise it
    /// stands at the route's destination.
    pub fn moving(self) -> bool {
        matches!(self, MarchPhase::Outbound | MarchPhase::Returning)
    }
}

/// A march as replicated: clients interpolate its position from the route, departure tick and
/// speed, so it changes only when its phase, route or troops change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MarchView {
    /// Owner.
    pub owner: PlayerId,
    /// What it was sent to do.
    pub mission: Mission,
    /// What it is doing.
    pub phase: MarchPhase,
    /// Its current route (waypoints, departure tick, milli-tiles per tick).
    pub route: Route,
    /// Troops fit to fight, all types together.
    pub troops: u64,
}

/// The kind-specific part of an [`ObjectView`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Body {
    /// A resource field.
    Field {
        /// Resource.
        kind: ResourceKind,
        /// Level.
        level: u8,
        /// What is left, rounded up to `aoi.toml`'s `field_remaining_step`.
        remaining: u64,
    },
    /// A monster.
    Monster {
        /// Index into `monsters.toml`.
        kind: u16,
        /// Level.
        level: u8,
    },
    /// A free city slot.
    CitySlot,
    /// A player's city.
    City {
        /// Owner.
        owner: PlayerId,
        /// The owner's alliance (guild id), if any; hosts send the guild's tag with it.
        alliance: Option<u64>,
    },
    /// A march.
    March(MarchView),
}

impl Body {
    /// The object kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Body::Field { .. } => ObjectKind::Field,
            Body::Monster { .. } => ObjectKind::Monster,
            Body::CitySlot => ObjectKind::CitySlot,
            Body::City { .. } => ObjectKind::City,
            Body::March(_) => ObjectKind::March,
        }
    }
}

/// Everything an observer knows of one object (sent whole when it enters the observer's view).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectView {
    /// Stable id.
    pub id: ObjectId,
    /// The tile it stands on; for a march, its route's destination.
    pub pos: TilePos,
    /// Kind-specific fields.
    pub body: Body,
}

impl ObjectView {
    /// The object kind.
    pub fn kind(&self) -> ObjectKind {
        self.body.kind()
    }
}

/// The fields of an object that changed since the observer last heard of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldUpdate {
    /// The object.
    pub id: ObjectId,
    /// New tile (a relocated city; a march's new destination).
    pub pos: Option<TilePos>,
    /// Kind-specific changes.
    pub body: BodyUpdate,
}

/// Kind-specific changed fields. Fields the sim never changes in place (a field's resource, a
/// monster's kind, a march's owner and mission) are not listed: if one did change, or the object
/// changed kind (a city slot becoming a city), the update carries the whole new body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BodyUpdate {
    /// No kind-specific change (only `pos` changed).
    None,
    /// A field's rounded `remaining`.
    Remaining(u64),
    /// A city's owner.
    Owner(PlayerId),
    /// A march's changed fields.
    March {
        /// New phase.
        phase: Option<MarchPhase>,
        /// New route.
        route: Option<Route>,
        /// New troop total.
        troops: Option<u64>,
    },
    /// The whole new body (kind change, or a field not otherwise listed).
    Replaced(Body),
}

impl FieldUpdate {
    /// The update taking `old` to `new` (same id), or `None` when they are equal.
    pub fn between(old: &ObjectView, new: &ObjectView) -> Option<FieldUpdate> {
        if old == new {
            return None;
        }
        let pos = (old.pos != new.pos).then_some(new.pos);
        let body = match (&old.body, &new.body) {
            (a, b) if a == b => BodyUpdate::None,
            (
                Body::Field {
                    kind: k0,
                    level: l0,
                    ..
                },
                Body::Field {
                    kind,
                    level,
                    remaining,
                },
            ) if k0 == kind && l0 == level => BodyUpdate::Remaining(*remaining),
            (Body::City { alliance: a0, .. }, Body::City { owner, alliance }) if a0 == alliance => {
                BodyUpdate::Owner(*owner)
            }
            (Body::March(a), Body::March(b)) if a.owner == b.owner && a.mission == b.mission => {
                BodyUpdate::March {
                    phase: (a.phase != b.phase).then_some(b.phase),
                    route: (a.route != b.route).then(|| b.route.clone()),
                    troops: (a.troops != b.troops).then_some(b.troops),
                }
            }
            (_, b) => BodyUpdate::Replaced(b.clone()),
        };
        Some(FieldUpdate {
            id: new.id,
            pos,
            body,
        })
    }

    /// Applies the update to the observer's copy of the object.
    pub fn apply(&self, view: &mut ObjectView) {
        if let Some(pos) = self.pos {
            view.pos = pos;
        }
        match (&self.body, &mut view.body) {
            (BodyUpdate::None, _) => {}
            (BodyUpdate::Remaining(r), Body::Field { remaining, .. }) => *remaining = *r,
            (BodyUpdate::Owner(o), Body::City { owner, .. }) => *owner = *o,
            (
                BodyUpdate::March {
                    phase,
                    route,
                    troops,
                },
                Body::March(m),
            ) => {
                if let Some(p) = phase {
                    m.phase = *p;
                }
                if let Some(r) = route {
                    m.route = r.clone();
                }
                if let Some(t) = troops {
                    m.troops = *t;
                }
            }
            (BodyUpdate::Replaced(b), body) => *body = b.clone(),
            // An update for another kind: the sender never produces one (see `between`).
            _ => {}
        }
    }
}

/// What one observer must be told after one tick: objects entering its view (whole), objects
/// still in view whose replicated fields changed (only those fields), and objects leaving it.
/// Each list is in [`ObjectId`] order and an id appears in at most one list.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ObserverDelta {
    /// The tick this delta brings the observer to.
    pub tick: u64,
    /// Objects now in view, whole.
    pub enter: Vec<ObjectView>,
    /// Changed fields of objects that stayed in view.
    pub update: Vec<FieldUpdate>,
    /// Objects no longer in view.
    pub leave: Vec<ObjectId>,
}

impl ObserverDelta {
    /// True when there is nothing to tell.
    pub fn is_empty(&self) -> bool {
        self.enter.is_empty() && self.update.is_empty() && self.leave.is_empty()
    }

    /// Applies the delta to a client-side copy of the observer's view (leave, enter, update).
    /// This is the reference a wire mirror must match.
    pub fn apply_to(&self, mirror: &mut BTreeMap<ObjectId, ObjectView>) {
        for id in &self.leave {
            mirror.remove(id);
        }
        for v in &self.enter {
            mirror.insert(v.id, v.clone());
        }
        for u in &self.update {
            if let Some(v) = mirror.get_mut(&u.id) {
                u.apply(v);
            }
        }
    }
}

/// One tick's deltas for every observer with something to hear, sharing what they have in
/// common: each entering object's view and each changed object's update is held once, and every
/// observer's delta lists indices into them (encoders can encode each once and copy the bytes).
///
/// Observer `i`'s delta is: enter `views[j]` for each `j` in [`DeltaBatch::enter_indices`]`(i)`,
/// update `updates[j]` for each `j` in [`DeltaBatch::update_indices`]`(i)`, leave
/// [`DeltaBatch::leave_of`]`(i)`; each list in id order ([`DeltaBatch::delta`] builds it).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DeltaBatch {
    /// The tick these deltas bring observers to.
    pub tick: u64,
    /// Whole views of the objects entering some observer's view, in id order (shared with the
    /// AOI's own copy, not copied).
    pub views: Vec<Arc<ObjectView>>,
    /// Updates of the objects changed this tick, in id order.
    pub updates: Vec<FieldUpdate>,
    /// Per observer with a non-empty delta, in observer id order.
    pub(crate) deltas: Vec<SharedDelta>,
    pub(crate) enter: Vec<u32>,
    pub(crate) update: Vec<u32>,
    pub(crate) leave: Vec<ObjectId>,
}

/// One observer's part of a [`DeltaBatch`]: ranges into the batch's index lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SharedDelta {
    pub(crate) observer: u64,
    pub(crate) enter: Range<usize>,
    pub(crate) update: Range<usize>,
    pub(crate) leave: Range<usize>,
}

impl DeltaBatch {
    /// Number of observers with a delta.
    pub fn len(&self) -> usize {
        self.deltas.len()
    }

    /// True when no observer has anything to hear.
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }

    /// The observer of delta `i` (`i < len()`; observers ascend with `i`).
    pub fn observer(&self, i: usize) -> u64 {
        self.deltas[i].observer
    }

    /// Indices into [`DeltaBatch::views`] of what enters observer `i`'s view, ascending.
    pub fn enter_indices(&self, i: usize) -> &[u32] {
        &self.enter[self.deltas[i].enter.clone()]
    }

    /// Indices into [`DeltaBatch::updates`] of what observer `i` is told changed, ascending.
    pub fn update_indices(&self, i: usize) -> &[u32] {
        &self.update[self.deltas[i].update.clone()]
    }

    /// Ids leaving observer `i`'s view, ascending.
    pub fn leave_of(&self, i: usize) -> &[ObjectId] {
        &self.leave[self.deltas[i].leave.clone()]
    }

    /// Observer `i`'s delta as plain data (its own copies of the shared views and updates).
    pub fn delta(&self, i: usize) -> ObserverDelta {
        ObserverDelta {
            tick: self.tick,
            enter: self
                .enter_indices(i)
                .iter()
                .map(|&j| ObjectView::clone(&self.views[j as usize]))
                .collect(),
            update: self
                .update_indices(i)
                .iter()
                .map(|&j| self.updates[j as usize].clone())
                .collect(),
            leave: self.leave_of(i).to_vec(),
        }
    }

    /// Every observer's delta as plain data, in observer order.
    pub fn into_deltas(self) -> Vec<(u64, ObserverDelta)> {
        (0..self.len())
            .map(|i| (self.observer(i), self.delta(i)))
            .collect()
    }
}
