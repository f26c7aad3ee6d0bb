//! [`Observers`]: every observer's viewport and interest set, the spatial indexes they are
//! computed from, and the per-tick diff that turns object changes and viewport moves into
//! [`ObserverDelta`]s.
//!
//! **Indexes.** The last published view of every replicated object is kept in a slab. A uniform
//! grid of [`CELL`](super::CELL)-tile cells lists the standing objects of each cell (id, tile, kind: enough to
//! test without touching the slab) and, separately, the marches whose footprint touches the cell
//! (a travelling march's whole route, so it is found where its path crosses a viewport). A third
//! per-cell list holds the observers whose viewport overlaps the cell. All three change only when
//! an object or a viewport changes; nothing is rebuilt per tick.
//!
//! **Per tick** ([`Observers::step`]), given the objects that changed:
//! 1. the slab and cell lists take the new views; each change remembers the cells of its old and
//!    new footprint and the [`FieldUpdate`] between its old and new view;
//! 2. observers whose viewport did not change are visited only through the cells of changed
//!    objects: for each (observer, change) pair, membership before (the interest set) and after
//!    (the rule) gives enter, update or leave;
//! 3. observers whose viewport changed (or all, after an `aoi.toml` change) query the grid for
//!    their new set and merge it with the old one: enters, leaves, and updates for objects that
//!    stayed in view and changed this tick.
//!
//! Steps 2 and 3 are data-parallel over observers (rayon) once there are enough of them; each
//! observer's result depends only on its own state and the shared indexes, and outputs are sorted
//! by id, so the deltas are the same on any number of threads.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::geom::{CELL, Grid, Viewport, footprint, visible};
use super::view::{FieldUpdate, ObjectKind, ObjectView, ObserverDelta};
use crate::config::AoiConfig;
use crate::types::{ObjectId, TilePos};

/// Below this many observers to visit, a step stays on the calling thread.
const PARALLEL_MIN: usize = 1024;

/// Inclusive cell columns and rows `(c0, r0, c1, r1)` a viewport covers.
type CellRange = (u32, u32, u32, u32);

/// A standing object in a cell's list.
#[derive(Clone, Copy, Debug)]
struct StandingEntry {
    id: ObjectId,
    slot: u32,
    pos: TilePos,
    kind: ObjectKind,
}

/// A march in a cell's list, with the bounding box of its footprint so most queries accept or
/// reject it without reading its route.
#[derive(Clone, Copy, Debug)]
struct MarchEntry {
    id: ObjectId,
    slot: u32,
    /// `[x0, y0, x1, y1]` of the footprint's tiles, inclusive.
    bbox: [u16; 4],
}

/// An object's published view and the cells its footprint touches.
#[derive(Clone, Debug)]
struct Stored {
    view: ObjectView,
    cells: Vec<u32>,
}

/// The published views and the grid over them.
#[derive(Debug)]
struct Store {
    grid: Grid,
    slots: Vec<Option<Stored>>,
    free: Vec<u32>,
    by_id: BTreeMap<ObjectId, u32>,
    standing: Vec<Vec<StandingEntry>>,
    marches: Vec<Vec<MarchEntry>>,
}

impl Store {
    fn new(grid: Grid) -> Store {
        Store {
            grid,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: BTreeMap::new(),
            standing: vec![Vec::new(); grid.len()],
            marches: vec![Vec::new(); grid.len()],
        }
    }

    /// The view in a slot (interest sets and cell lists only name live slots).
    fn view(&self, slot: u32) -> Option<&ObjectView> {
        self.slots.get(slot as usize)?.as_ref().map(|s| &s.view)
    }

    fn cells_of(&self, view: &ObjectView, out: &mut Vec<u32>) {
        self.grid.path_cells(footprint(view), out);
    }

    fn unindex(&mut self, slot: u32) {
        let Some(stored) = &self.slots[slot as usize] else {
            return;
        };
        let lists_march = stored.view.kind() == ObjectKind::March;
        for &c in &stored.cells {
            if lists_march {
                let list = &mut self.marches[c as usize];
                if let Some(i) = list.iter().position(|e| e.slot == slot) {
                    list.swap_remove(i);
                }
            } else {
                let list = &mut self.standing[c as usize];
                if let Some(i) = list.iter().position(|e| e.slot == slot) {
                    list.swap_remove(i);
                }
            }
        }
    }

    fn index(&mut self, slot: u32) {
        let Some(stored) = &self.slots[slot as usize] else {
            return;
        };
        let v = &stored.view;
        let points = footprint(v);
        let bbox = points.iter().fold([u16::MAX, u16::MAX, 0, 0], |b, p| {
            [b[0].min(p.x), b[1].min(p.y), b[2].max(p.x), b[3].max(p.y)]
        });
        for &c in &stored.cells {
            if v.kind() == ObjectKind::March {
                self.marches[c as usize].push(MarchEntry {
                    id: v.id,
                    slot,
                    bbox,
                });
            } else {
                self.standing[c as usize].push(StandingEntry {
                    id: v.id,
                    slot,
                    pos: v.pos,
                    kind: v.kind(),
                });
            }
        }
    }

    /// Objects visible in `vp` (clamped), as (id, slot) in id order.
    fn query(&self, vp: &Viewport, config: &AoiConfig, out: &mut Vec<(ObjectId, u32)>) {
        out.clear();
        let rect = vp.rect();
        let shows = config.zoom(vp.zoom).shows;
        if shows.any_static() {
            self.grid.for_cells(&rect, |c| {
                for e in &self.standing[c as usize] {
                    if shows.contains(e.kind) && rect.contains(e.pos) {
                        out.push((e.id, e.slot));
                    }
                }
            });
        }
        if shows.contains(ObjectKind::March) {
            // Candidates from every cell, with whether they are surely in view: their bounding
            // box lies inside the viewport, or the cell they are listed in does (a march is
            // listed in a cell because it touches the cell's square one tile larger than its
            // tiles). Boxes that miss the viewport are dropped without reading the route.
            let side = i64::from(CELL);
            let cols = self.grid.cols;
            let mut found: Vec<(ObjectId, u32, bool)> = Vec::new();
            self.grid.for_cells(&rect, |c| {
                let (col, row) = (i64::from(c % cols), i64::from(c / cols));
                let cell_inside = col * side >= rect.x0
                    && (col + 1) * side <= rect.x1
                    && row * side >= rect.y0
                    && (row + 1) * side <= rect.y1;
                for e in &self.marches[c as usize] {
                    let [x0, y0, x1, y1] = e.bbox.map(i64::from);
                    if x1 < rect.x0 || x0 > rect.x1 || y1 < rect.y0 || y0 > rect.y1 {
                        continue;
                    }
                    let sure = cell_inside
                        || (x0 >= rect.x0 && x1 <= rect.x1 && y0 >= rect.y0 && y1 <= rect.y1);
                    found.push((e.id, e.slot, sure));
                }
            });
            found.sort_unstable_by_key(|f| f.0);
            let mut i = 0;
            while i < found.len() {
                let (id, slot, mut sure) = found[i];
                let mut j = i + 1;
                while j < found.len() && found[j].0 == id {
                    sure |= found[j].2;
                    j += 1;
                }
                if sure
                    || self
                        .view(slot)
                        .is_some_and(|v| rect.touches_path(footprint(v)))
                {
                    out.push((id, slot));
                }
                i = j;
            }
        }
        out.sort_unstable();
    }
}

/// One object change of the current step.
#[derive(Debug)]
struct Change {
    id: ObjectId,
    /// Slot of the new view; `None` when the object is gone.
    new: Option<u32>,
    /// Fields that changed, when the object existed before and still does.
    update: Option<FieldUpdate>,
    /// Cells of the old and new footprints, sorted, without repeats.
    cells: Vec<u32>,
}

/// One observer.
#[derive(Debug)]
struct ObserverState {
    id: u64,
    /// The viewport as last asked for (clamped again whenever it is applied).
    requested: Viewport,
    /// The viewport the interest set was computed for.
    applied: Option<Viewport>,
    /// The requested viewport has not been applied yet.
    dirty: bool,
    /// Ids in view, sorted.
    set: Vec<ObjectId>,
    /// The observer's delta being built this step.
    delta: ObserverDelta,
    /// Cells of `applied` registered in the watcher lists.
    watched: Option<CellRange>,
}

/// Every observer (a client session watching the map) with its viewport and interest set, the
/// indexes its interest is computed from, and the deltas waiting for the host.
///
/// The host registers and moves observers with [`Observers::set_viewport`], drops them with
/// [`Observers::remove_observer`], and after each tick takes the deltas with
/// [`Observers::drain_deltas`]. The Interest phase of the tick calls [`Observers::step`].
#[derive(bevy_ecs::prelude::Resource, Debug)]
pub struct Observers {
    config: AoiConfig,
    width: u16,
    height: u16,
    store: Store,
    observers: Vec<Option<ObserverState>>,
    free_observers: Vec<u32>,
    by_observer: BTreeMap<u64, u32>,
    /// Per cell: observer slots whose applied viewport overlaps it.
    watchers: Vec<Vec<u32>>,
    /// Every observer must be recomputed (after a config change).
    refresh_all: bool,
    outbox: Vec<(u64, ObserverDelta)>,
    /// Config version the indexes were built with (set by the Interest system).
    pub(crate) config_version: Option<u32>,
}

impl Observers {
    /// No observers and no objects, for a `width × height` map.
    pub fn new(width: u16, height: u16, config: AoiConfig) -> Observers {
        let grid = Grid::new(width, height);
        Observers {
            config,
            width,
            height,
            store: Store::new(grid),
            observers: Vec::new(),
            free_observers: Vec::new(),
            by_observer: BTreeMap::new(),
            watchers: vec![Vec::new(); grid.len()],
            refresh_all: false,
            outbox: Vec::new(),
            config_version: None,
        }
    }

    /// The zoom rules in force.
    pub fn config(&self) -> &AoiConfig {
        &self.config
    }

    /// Replaces the zoom rules; if they differ, every observer is recomputed at the next step.
    pub fn set_config(&mut self, config: AoiConfig) {
        if config != self.config {
            self.config = config;
            self.refresh_all = true;
        }
    }

    /// Registers `observer` (any host-chosen id, e.g. the session id) or moves its viewport.
    /// Takes effect at the next tick's Interest phase; the first delta of a new observer enters
    /// everything in view. Returns the viewport as it will be applied (zoom capped at the last
    /// level of `aoi.toml`, size capped by that level, kept inside the map).
    pub fn set_viewport(&mut self, observer: u64, viewport: Viewport) -> Viewport {
        let applied = viewport.clamped(&self.config, self.width, self.height);
        match self.by_observer.get(&observer) {
            Some(&slot) => {
                if let Some(o) = &mut self.observers[slot as usize] {
                    o.requested = viewport;
                    o.dirty = o.applied != Some(applied);
                }
            }
            None => {
                let state = ObserverState {
                    id: observer,
                    requested: viewport,
                    applied: None,
                    dirty: true,
                    set: Vec::new(),
                    delta: ObserverDelta::default(),
                    watched: None,
                };
                let slot = match self.free_observers.pop() {
                    Some(s) => {
                        self.observers[s as usize] = Some(state);
                        s
                    }
                    None => {
                        self.observers.push(Some(state));
                        (self.observers.len() - 1) as u32
                    }
                };
                self.by_observer.insert(observer, slot);
            }
        }
        applied
    }

    /// Forgets an observer and any of its deltas not yet drained. Returns false if unknown.
    pub fn remove_observer(&mut self, observer: u64) -> bool {
        let Some(slot) = self.by_observer.remove(&observer) else {
            return false;
        };
        if let Some(o) = self.observers[slot as usize].take()
            && let Some(range) = o.watched
        {
            unwatch(&mut self.watchers, self.store.grid, range, slot);
        }
        self.free_observers.push(slot);
        self.outbox.retain(|(id, _)| *id != observer);
        true
    }

    /// Takes the deltas of the ticks run since the last drain: in tick order, then observer id
    /// order; only observers with something to tell appear. Apply each observer's deltas in order.
    pub fn drain_deltas(&mut self) -> Vec<(u64, ObserverDelta)> {
        std::mem::take(&mut self.outbox)
    }

    /// Number of observers.
    pub fn len(&self) -> usize {
        self.by_observer.len()
    }

    /// True when no one observes.
    pub fn is_empty(&self) -> bool {
        self.by_observer.is_empty()
    }

    fn state(&self, observer: u64) -> Option<&ObserverState> {
        let slot = *self.by_observer.get(&observer)?;
        self.observers[slot as usize].as_ref()
    }

    /// The viewport an observer's interest set was last computed for (`None` before its first
    /// step).
    pub fn viewport(&self, observer: u64) -> Option<Viewport> {
        self.state(observer)?.applied
    }

    /// Ids in an observer's view, sorted.
    pub fn interest(&self, observer: u64) -> Option<&[ObjectId]> {
        Some(&self.state(observer)?.set)
    }

    /// The server's view of an observer: what its client holds once it applied every delta.
    pub fn view_of(&self, observer: u64) -> Option<Vec<ObjectView>> {
        let o = self.state(observer)?;
        Some(
            o.set
                .iter()
                .filter_map(|id| self.object(*id).cloned())
                .collect(),
        )
    }

    /// The published view of an object (as of the last step).
    pub fn object(&self, id: ObjectId) -> Option<&ObjectView> {
        self.store.view(*self.store.by_id.get(&id)?)
    }

    /// Number of replicated objects known.
    pub fn object_count(&self) -> usize {
        self.store.by_id.len()
    }

    /// Runs one tick of interest: takes the objects that changed since the last step (`Some`
    /// view: new or changed; `None`: gone) and the viewports set since, and queues every
    /// observer's delta for `tick`. The Interest phase calls this; tests and benches may call it
    /// directly on a free-standing `Observers`.
    pub fn step(&mut self, tick: u64, mut changes: Vec<(ObjectId, Option<ObjectView>)>) {
        changes.sort_by_key(|(id, _)| *id);
        // A later entry for the same id wins.
        let mut dedup: Vec<(ObjectId, Option<ObjectView>)> = Vec::with_capacity(changes.len());
        for c in changes {
            match dedup.last_mut() {
                Some(last) if last.0 == c.0 => *last = c,
                _ => dedup.push(c),
            }
        }
        let changes = self.apply_changes(dedup);

        let refresh_all = std::mem::take(&mut self.refresh_all);
        if refresh_all {
            for o in self.observers.iter_mut().flatten() {
                o.dirty = true;
            }
        } else {
            self.visit_changed_objects(&changes);
        }
        self.apply_viewports(&changes);

        let mut out: Vec<(u64, ObserverDelta)> = Vec::new();
        for o in self.observers.iter_mut().flatten() {
            if !o.delta.is_empty() {
                let mut d = std::mem::take(&mut o.delta);
                d.tick = tick;
                out.push((o.id, d));
            }
        }
        out.sort_by_key(|(id, _)| *id);
        self.outbox.append(&mut out);
    }

    /// Step 1: new views into the slab and cell lists.
    fn apply_changes(&mut self, changes: Vec<(ObjectId, Option<ObjectView>)>) -> Vec<Change> {
        let mut out = Vec::with_capacity(changes.len());
        let mut cells = Vec::new();
        for (id, new) in changes {
            let store = &mut self.store;
            let old_slot = store.by_id.get(&id).copied();
            match (old_slot, new) {
                (None, None) => {}
                (Some(slot), None) => {
                    store.unindex(slot);
                    let old = store.slots[slot as usize].take();
                    store.free.push(slot);
                    store.by_id.remove(&id);
                    out.push(Change {
                        id,
                        new: None,
                        update: None,
                        cells: old.map(|s| s.cells).unwrap_or_default(),
                    });
                }
                (None, Some(view)) => {
                    store.cells_of(&view, &mut cells);
                    let stored = Stored {
                        view,
                        cells: cells.clone(),
                    };
                    let slot = match store.free.pop() {
                        Some(s) => {
                            store.slots[s as usize] = Some(stored);
                            s
                        }
                        None => {
                            store.slots.push(Some(stored));
                            (store.slots.len() - 1) as u32
                        }
                    };
                    store.by_id.insert(id, slot);
                    store.index(slot);
                    out.push(Change {
                        id,
                        new: Some(slot),
                        update: None,
                        cells: cells.clone(),
                    });
                }
                (Some(slot), Some(view)) => {
                    let Some(old) = &store.slots[slot as usize] else {
                        continue;
                    };
                    let Some(update) = FieldUpdate::between(&old.view, &view) else {
                        continue;
                    };
                    let same_footprint =
                        old.view.kind() == view.kind() && footprint(&old.view) == footprint(&view);
                    let mut union = old.cells.clone();
                    if same_footprint {
                        if let Some(s) = &mut store.slots[slot as usize] {
                            s.view = view;
                        }
                    } else {
                        store.unindex(slot);
                        store.cells_of(&view, &mut cells);
                        union.extend_from_slice(&cells);
                        union.sort_unstable();
                        union.dedup();
                        store.slots[slot as usize] = Some(Stored {
                            view,
                            cells: cells.clone(),
                        });
                        store.index(slot);
                    }
                    out.push(Change {
                        id,
                        new: Some(slot),
                        update: Some(update),
                        cells: union,
                    });
                }
            }
        }
        out
    }

    /// Step 2: observers whose viewport stays, visited through the cells of changed objects.
    fn visit_changed_objects(&mut self, changes: &[Change]) {
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for (i, ch) in changes.iter().enumerate() {
            for &c in &ch.cells {
                for &o in &self.watchers[c as usize] {
                    pairs.push((o, i as u32));
                }
            }
        }
        if pairs.is_empty() {
            return;
        }
        pairs.sort_unstable();
        pairs.dedup();
        // Group the pairs by observer and hand each group its observer's state.
        let mut groups: Vec<(&mut ObserverState, &[(u32, u32)])> = Vec::new();
        let mut rest = &pairs[..];
        for (slot, o) in self.observers.iter_mut().enumerate() {
            let n = rest.iter().take_while(|p| p.0 == slot as u32).count();
            let (group, tail) = rest.split_at(n);
            rest = tail;
            if let Some(o) = o
                && !group.is_empty()
                && !o.dirty
            {
                groups.push((o, group));
            }
            if rest.is_empty() {
                break;
            }
        }
        let store = &self.store;
        let config = &self.config;
        let visit = |(o, group): &mut (&mut ObserverState, &[(u32, u32)])| {
            let Some(vp) = o.applied else { return };
            for &(_, i) in group.iter() {
                let ch = &changes[i as usize];
                let now = ch
                    .new
                    .and_then(|slot| store.view(slot))
                    .is_some_and(|v| visible(v, &vp, config));
                match (o.set.binary_search(&ch.id), now) {
                    (Ok(_), true) => {
                        if let Some(u) = &ch.update {
                            o.delta.update.push(u.clone());
                        }
                    }
                    (Ok(k), false) => {
                        o.set.remove(k);
                        o.delta.leave.push(ch.id);
                    }
                    (Err(k), true) => {
                        o.set.insert(k, ch.id);
                        if let Some(v) = ch.new.and_then(|slot| store.view(slot)) {
                            o.delta.enter.push(v.clone());
                        }
                    }
                    (Err(_), false) => {}
                }
            }
        };
        if groups.len() >= PARALLEL_MIN {
            groups.par_iter_mut().for_each(visit);
        } else {
            groups.iter_mut().for_each(visit);
        }
    }

    /// Step 3: observers with a new viewport (or all, after a config change) query their new set.
    fn apply_viewports(&mut self, changes: &[Change]) {
        let (config, width, height) = (&self.config, self.width, self.height);
        let mut dirty: Vec<(u32, &mut ObserverState)> = self
            .observers
            .iter_mut()
            .enumerate()
            .filter_map(|(slot, o)| o.as_mut().filter(|o| o.dirty).map(|o| (slot as u32, o)))
            .collect();
        if dirty.is_empty() {
            return;
        }
        let store = &self.store;
        let requery = |(_, o): &mut (u32, &mut ObserverState)| {
            let vp = o.requested.clamped(config, width, height);
            let mut found = Vec::new();
            store.query(&vp, config, &mut found);
            let mut next = Vec::with_capacity(found.len());
            let (mut i, mut j) = (0, 0);
            while i < o.set.len() || j < found.len() {
                let old = o.set.get(i).copied();
                let new = found.get(j).copied();
                match (old, new) {
                    (Some(a), Some((b, _))) if a == b => {
                        if let Ok(k) = changes.binary_search_by_key(&a, |c| c.id)
                            && let Some(u) = &changes[k].update
                        {
                            o.delta.update.push(u.clone());
                        }
                        next.push(a);
                        i += 1;
                        j += 1;
                    }
                    (Some(a), Some((b, _))) if a < b => {
                        o.delta.leave.push(a);
                        i += 1;
                    }
                    (Some(a), None) => {
                        o.delta.leave.push(a);
                        i += 1;
                    }
                    (_, Some((b, slot))) => {
                        if let Some(v) = store.view(slot) {
                            o.delta.enter.push(v.clone());
                            next.push(b);
                        }
                        j += 1;
                    }
                    (None, None) => break,
                }
            }
            o.set = next;
            o.applied = Some(vp);
            o.dirty = false;
        };
        if dirty.len() >= PARALLEL_MIN {
            dirty.par_iter_mut().for_each(requery);
        } else {
            dirty.iter_mut().for_each(requery);
        }
        // Watcher lists follow the applied viewports.
        let grid = store.grid;
        let mut moves: Vec<(u32, Option<CellRange>, CellRange)> = Vec::new();
        for (slot, o) in dirty.iter_mut() {
            let Some(vp) = o.applied else { continue };
            let range = grid.range(&vp.rect());
            if o.watched != Some(range) {
                moves.push((*slot, o.watched, range));
                o.watched = Some(range);
            }
        }
        for (slot, old, new) in moves {
            if let Some(old) = old {
                unwatch(&mut self.watchers, grid, old, slot);
            }
            let (c0, r0, c1, r1) = new;
            for row in r0..=r1 {
                for col in c0..=c1 {
                    self.watchers[(row * grid.cols + col) as usize].push(slot);
                }
            }
        }
    }
}

fn unwatch(watchers: &mut [Vec<u32>], grid: Grid, range: CellRange, slot: u32) {
    let (c0, r0, c1, r1) = range;
    for row in r0..=r1 {
        for col in c0..=c1 {
            let list = &mut watchers[(row * grid.cols + col) as usize];
            if let Some(i) = list.iter().position(|&s| s == slot) {
                list.swap_remove(i);
            }
        }
    }
}
