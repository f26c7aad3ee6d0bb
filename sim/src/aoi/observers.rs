//! [`Observers`]: every observer's viewport and interest set, the spatial indexes they are
//! computed from, and the per-tick diff that turns object changes and viewport moves into
//! [`ObserverDelta`]s, batched per tick as a [`DeltaBatch`].
//!
//! **Indexes.** The last published view of every replicated object is kept in a slab (shared,
//! so a tick's batch holds the views without copying them). A uniform grid of
//! [`CELL`](super::CELL)-tile cells lists the standing objects of each cell by kind, each list in
//! (row, column) order so a rectangle reads only its rows, and, separately, each segment of a
//! march's footprint in every cell it touches (a travelling march's whole route, so it is found
//! where its path crosses a viewport; a rectangle is tested against the segment itself, so a
//! query never reads a route). A third per-cell list holds the
//! observers whose viewport overlaps the cell. All three change only when an object or a
//! viewport changes; nothing is rebuilt per tick.
//!
//! **Per tick** ([`Observers::step`]), given the objects that changed:
//! 1. the slab and cell lists take the new views; each change remembers the cells of its old and
//!    new footprint and the [`FieldUpdate`] between its old and new view;
//! 2. every observer gets its candidates: the changes listed in the cells it watches (a counting
//!    sort over the watcher lists, no per-object pass), and, when its viewport moved by less than
//!    its size at the same zoom, the objects in the strips it newly covers or no longer covers
//!    (at most four rectangles each way). For each candidate, membership before (the interest
//!    set) and after (the rule, with a bounding-box test before any route is read) gives enter,
//!    update or leave. Any object whose membership can change is a candidate: an unchanged
//!    object entering touches the newly covered strips, one leaving the uncovered ones;
//! 3. observers that are new, zoomed, jumped far, or all of them after an `aoi.toml` change query
//!    the grid for their whole new set and merge it with the old one;
//! 4. the deltas become one [`DeltaBatch`]: each entering object's view and each update is held
//!    once, observers list indices into them.
//!
//! Steps 2 and 3 are data-parallel over observers (rayon) once there is enough work; each
//! observer's result depends only on its own state and the shared indexes, and outputs are sorted
//! by id, so the deltas are the same on any number of threads.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::geom::{Grid, Rect, Viewport, footprint};
use super::view::{
    DeltaBatch, FieldUpdate, KindSet, ObjectKind, ObjectView, ObserverDelta, SharedDelta,
};
use crate::config::AoiConfig;
use crate::types::{ObjectId, TilePos};

/// Below this much work (in candidate pairs, a viewport move counted as [`MOVE_WORK`] pairs), a
/// step stays on the calling thread: handing it to rayon costs more than it saves.
const PARALLEL_MIN_WORK: usize = 4096;

/// A viewport move's cost in candidate pairs (a strip or whole-view query: tens of µs against
/// tens of ns per pair).
const MOVE_WORK: usize = 1000;

/// "None" in the packed `u32` fields below.
const NONE: u32 = u32::MAX;

/// Inclusive cell columns and rows `(c0, r0, c1, r1)` a viewport covers.
type CellRange = (u32, u32, u32, u32);

/// Inclusive bounding box `[x0, y0, x1, y1]` of a footprint's tiles.
type Bbox = [u16; 4];

/// A standing object in a cell's list.
#[derive(Clone, Copy, Debug)]
struct StandingEntry {
    pos: TilePos,
    slot: u32,
    id: ObjectId,
}

/// One segment of a march's footprint in the list of a cell it touches (a standing march's one
/// tile is a segment from it to itself), so a rectangle is tested against the segment itself,
/// without reading the route.
#[derive(Clone, Copy, Debug)]
struct MarchEntry {
    id: ObjectId,
    slot: u32,
    a: TilePos,
    b: TilePos,
}

/// An object's published view, the cells its footprint touches, and the footprint's box.
#[derive(Clone, Debug)]
struct Stored {
    view: Arc<ObjectView>,
    cells: Vec<u32>,
    bbox: Bbox,
}

fn bbox_of(points: &[TilePos]) -> Bbox {
    points.iter().fold([u16::MAX, u16::MAX, 0, 0], |b, p| {
        [b[0].min(p.x), b[1].min(p.y), b[2].max(p.x), b[3].max(p.y)]
    })
}

/// How a footprint's bounding box lies against a rectangle.
fn bbox_vs(b: &Bbox, r: &Rect) -> Option<bool> {
    let [x0, y0, x1, y1] = b.map(i64::from);
    if x1 < r.x0 || x0 > r.x1 || y1 < r.y0 || y0 > r.y1 {
        return Some(false);
    }
    if x0 >= r.x0 && x1 <= r.x1 && y0 >= r.y0 && y1 <= r.y1 {
        return Some(true);
    }
    None
}

/// The standing-object kinds, by index into a cell's per-kind lists.
const STANDING_KINDS: [ObjectKind; 4] = [
    ObjectKind::City,
    ObjectKind::CitySlot,
    ObjectKind::Field,
    ObjectKind::Monster,
];

/// The published views and the grid over them.
#[derive(Debug)]
struct Store {
    grid: Grid,
    slots: Vec<Option<Stored>>,
    free: Vec<u32>,
    by_id: BTreeMap<ObjectId, u32>,
    /// Per cell, per standing kind (discriminant order): entries in (row, column) order.
    standing: Vec<[Vec<StandingEntry>; 4]>,
    marches: Vec<Vec<MarchEntry>>,
}

impl Store {
    fn new(grid: Grid) -> Store {
        Store {
            grid,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: BTreeMap::new(),
            standing: vec![Default::default(); grid.len()],
            marches: vec![Vec::new(); grid.len()],
        }
    }

    fn stored(&self, slot: u32) -> Option<&Stored> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// The view in a slot (interest sets and cell lists only name live slots).
    fn view(&self, slot: u32) -> Option<&ObjectView> {
        self.stored(slot).map(|s| &*s.view)
    }

    /// The rule ([`super::visible`]) for a candidate, from what is known of it, then its kind
    /// and footprint box, reading its route only when the box straddles the rectangle.
    fn decide(&self, c: &Cand, shows: KindSet, rect: &Rect) -> bool {
        if c.flags & IN != 0 {
            return true;
        }
        if c.flags & OUT != 0 || c.slot == NONE || !shows.contains(c.kind) {
            return false;
        }
        let whole = if c.flags & PIECE != 0 {
            if bbox_vs(&c.bbox, rect) == Some(true) {
                return true;
            }
            match self.stored(c.slot) {
                Some(s) => s.bbox,
                None => return false,
            }
        } else {
            c.bbox
        };
        match bbox_vs(&whole, rect) {
            Some(v) => v,
            None => self
                .view(c.slot)
                .is_some_and(|v| rect.touches_path(footprint(v))),
        }
    }

    fn unindex(&mut self, slot: u32) {
        let Some(stored) = &self.slots[slot as usize] else {
            return;
        };
        let kind = stored.view.kind();
        for &c in &stored.cells {
            if kind == ObjectKind::March {
                self.marches[c as usize].retain(|e| e.slot != slot);
            } else {
                let list = &mut self.standing[c as usize][kind as usize];
                if let Some(i) = list.iter().position(|e| e.slot == slot) {
                    list.remove(i);
                }
            }
        }
    }

    fn index(&mut self, slot: u32) {
        let Some(stored) = &self.slots[slot as usize] else {
            return;
        };
        let v = &stored.view;
        let kind = v.kind();
        if kind == ObjectKind::March {
            let points = footprint(v);
            let segments: Vec<(TilePos, TilePos)> = match points {
                [] => Vec::new(),
                [p] => vec![(*p, *p)],
                _ => points.windows(2).map(|w| (w[0], w[1])).collect(),
            };
            let (grid, id) = (self.grid, v.id);
            for (a, b) in segments {
                grid.segment_cells(a, b, |c| {
                    self.marches[c as usize].push(MarchEntry { id, slot, a, b });
                });
            }
            return;
        }
        for &c in &stored.cells {
            {
                let list = &mut self.standing[c as usize][kind as usize];
                let key = (v.pos.y, v.pos.x, v.id);
                let at = list.partition_point(|e| (e.pos.y, e.pos.x, e.id) < key);
                list.insert(
                    at,
                    StandingEntry {
                        pos: v.pos,
                        slot,
                        id: v.id,
                    },
                );
            }
        }
    }

    /// Pushes the standing objects of the `shows` kinds inside `rect`, as (id, slot).
    fn standing_in(&self, rect: &Rect, vp: &Viewport, config: &AoiConfig, out: &mut Vec<Cand>) {
        let shows = config.zoom(vp.zoom).shows;
        if !shows.any_static() {
            return;
        }
        self.grid.for_cells(rect, |c| {
            for (k, list) in STANDING_KINDS.iter().zip(&self.standing[c as usize]) {
                if !shows.contains(*k) || list.is_empty() {
                    continue;
                }
                let from = list.partition_point(|e| i64::from(e.pos.y) < rect.y0);
                for e in &list[from..] {
                    if i64::from(e.pos.y) > rect.y1 {
                        break;
                    }
                    let x = i64::from(e.pos.x);
                    if rect.x0 <= x && x <= rect.x1 {
                        out.push(Cand::standing(e, *k));
                    }
                }
            }
        });
    }

    /// Pushes the marches with a segment touching `rect` (listed in its cells), as candidates:
    /// known in view ([`IN`]) when that segment also touches `view`, else to be decided. The
    /// same march may appear once per segment and cell.
    /// `view: None` means `rect` is the view.
    fn marches_in(&self, rect: &Rect, view: Option<&Rect>, out: &mut Vec<Cand>) {
        self.grid.for_cells(rect, |c| {
            for e in &self.marches[c as usize] {
                if rect.touches_segment(e.a, e.b) {
                    let sure = view.is_none_or(|v| v.touches_segment(e.a, e.b));
                    out.push(Cand::march(e, sure));
                }
            }
        });
    }

    /// Objects visible in `vp` (clamped), as candidates known to be in view, in id order.
    fn query(
        &self,
        vp: &Viewport,
        config: &AoiConfig,
        out: &mut Vec<Cand>,
        scratch: &mut Vec<Cand>,
    ) {
        out.clear();
        let rect = vp.rect();
        self.standing_in(&rect, vp, config, out);
        if config.zoom(vp.zoom).shows.contains(ObjectKind::March) {
            // Every candidate has a segment touching the view.
            scratch.clear();
            self.marches_in(&rect, None, scratch);
            merge_duplicates(scratch);
            out.append(scratch);
        }
        out.sort_unstable_by_key(|c| c.id);
    }
}

/// A candidate's verdict is known: in view.
const IN: u8 = 1;
/// A candidate's verdict is known: not in view.
const OUT: u8 = 2;
/// A candidate's box covers only the footprint's part in one cell (see [`piece_bbox`]): inside
/// a rectangle it proves the footprint touches it, away from it it proves nothing.
const PIECE: u8 = 4;

/// A candidate object for an observer: id, slot of its current view (or [`NONE`] when gone),
/// index of its change this tick (or [`NONE`]), its kind and footprint box, and what is already
/// known of its visibility ([`IN`], [`OUT`]).
#[derive(Clone, Copy, Debug)]
struct Cand {
    id: ObjectId,
    slot: u32,
    change: u32,
    bbox: Bbox,
    kind: ObjectKind,
    flags: u8,
}

impl Cand {
    fn standing(e: &StandingEntry, kind: ObjectKind) -> Cand {
        Cand {
            id: e.id,
            slot: e.slot,
            change: NONE,
            bbox: [e.pos.x, e.pos.y, e.pos.x, e.pos.y],
            kind,
            flags: IN,
        }
    }
    fn march(e: &MarchEntry, sure: bool) -> Cand {
        Cand {
            id: e.id,
            slot: e.slot,
            change: NONE,
            bbox: [
                e.a.x.min(e.b.x),
                e.a.y.min(e.b.y),
                e.a.x.max(e.b.x),
                e.a.y.max(e.b.y),
            ],
            kind: ObjectKind::March,
            flags: PIECE | if sure { IN } else { 0 },
        }
    }
}

/// Sorts candidates by id and folds repeats into one (a change wins over a plain listing; what
/// is known of either is kept).
fn merge_duplicates(cands: &mut Vec<Cand>) {
    cands.sort_unstable_by_key(|c| c.id);
    cands.dedup_by(|later, kept| {
        if later.id != kept.id {
            return false;
        }
        if later.change != NONE {
            kept.change = later.change;
        }
        // A verdict known from either holds; the box stays a piece only if both were.
        let piece = kept.flags & later.flags & PIECE;
        if kept.flags & PIECE != 0 && later.flags & PIECE == 0 {
            kept.bbox = later.bbox;
        }
        kept.flags = ((kept.flags | later.flags) & !PIECE) | piece;
        true
    });
}

/// Whether `id` is in the sorted `set`, searching forward from `*lo` (ids asked in increasing
/// order); leaves `*lo` at the first element not below `id`.
fn gallop(set: &[ObjectId], lo: &mut usize, id: ObjectId) -> bool {
    let mut bound = 1;
    while *lo + bound <= set.len() && set[*lo + bound - 1] < id {
        bound *= 2;
    }
    let end = (*lo + bound).min(set.len());
    *lo += set[*lo..end].partition_point(|x| *x < id);
    set.get(*lo) == Some(&id)
}

/// The rectangles covering `b` minus `a` (`b` itself when they do not meet): at most four.
fn minus(b: &Rect, a: &Rect, out: &mut Vec<Rect>) {
    if a.x1 < b.x0 || a.x0 > b.x1 || a.y1 < b.y0 || a.y0 > b.y1 {
        out.push(*b);
        return;
    }
    if b.y0 < a.y0 {
        out.push(Rect { y1: a.y0 - 1, ..*b });
    }
    if b.y1 > a.y1 {
        out.push(Rect { y0: a.y1 + 1, ..*b });
    }
    let (y0, y1) = (b.y0.max(a.y0), b.y1.min(a.y1));
    if b.x0 < a.x0 {
        out.push(Rect {
            x0: b.x0,
            x1: a.x0 - 1,
            y0,
            y1,
        });
    }
    if b.x1 > a.x1 {
        out.push(Rect {
            x0: a.x1 + 1,
            x1: b.x1,
            y0,
            y1,
        });
    }
}

fn area(r: &Rect) -> i64 {
    (r.x1 - r.x0 + 1).max(0) * (r.y1 - r.y0 + 1).max(0)
}

/// One object change of the current step.
#[derive(Debug)]
struct Change {
    id: ObjectId,
    /// Slot of the new view; [`NONE`] when the object is gone.
    new: u32,
    /// Kind and footprint box of the new view (meaningless when gone).
    kind: ObjectKind,
    bbox: Bbox,
    /// Footprint box of the view before, if there was one.
    old_bbox: Option<Bbox>,
    /// Fields that changed, when the object existed before and still does.
    update: Option<FieldUpdate>,
    /// Cells of the old and new footprints, sorted, without repeats.
    cells: Vec<u32>,
}

/// What one observer is told this step: store slots entering, change indices updated, ids
/// leaving; each in id order.
#[derive(Debug, Default)]
struct Pending {
    enter: Vec<u32>,
    update: Vec<u32>,
    leave: Vec<ObjectId>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.enter.is_empty() && self.update.is_empty() && self.leave.is_empty()
    }
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
    pending: Pending,
    /// Cells of `applied` registered in the watcher lists.
    watched: Option<CellRange>,
}

/// Per-thread buffers of the per-observer work.
#[derive(Default)]
struct Scratch {
    cands: Vec<Cand>,
    more: Vec<Cand>,
    rects: Vec<Rect>,
    set: Vec<ObjectId>,
    entered: Vec<ObjectId>,
}

/// Shared, read-only inputs of the per-observer work.
struct Ctx<'a> {
    store: &'a Store,
    config: &'a AoiConfig,
    changes: &'a [Change],
    width: u16,
    height: u16,
    refresh_all: bool,
}

impl Ctx<'_> {
    /// Brings one observer up to date: `from_changes` are the indices of this step's changes
    /// listed in the cells it watches (ascending, possibly repeated). An observer whose move
    /// waits for a later step (`may_move` false) keeps its applied viewport and hears only the
    /// changes in it.
    fn refresh(
        &self,
        o: &mut ObserverState,
        from_changes: &[u32],
        may_move: bool,
        s: &mut Scratch,
    ) {
        let moving = o.dirty && may_move;
        let vp = match (moving, o.applied) {
            (true, _) => o.requested.clamped(self.config, self.width, self.height),
            (false, Some(v)) => v,
            (false, None) => return,
        };
        s.rects.clear();
        let strips = match o.applied {
            _ if !moving => Some(0),
            Some(a) if !self.refresh_all && a.zoom == vp.zoom => {
                let (ra, rb) = (a.rect(), vp.rect());
                minus(&rb, &ra, &mut s.rects);
                let entering = s.rects.len();
                minus(&ra, &rb, &mut s.rects);
                let moved: i64 = s.rects.iter().map(area).sum();
                // Strips pay while they are smaller than the view itself.
                (moved < area(&rb)).then_some(entering)
            }
            _ => None,
        };
        match strips {
            Some(entering) => self.diff(o, vp, from_changes, entering, s),
            None => self.requery(o, vp, s),
        }
        o.applied = Some(vp);
        if moving {
            o.dirty = false;
        }
    }

    /// Candidates from the changes and the strips in `s.rects` (the first `entering` newly
    /// covered, the rest uncovered), each tested against the rule unless surely in view.
    fn diff(
        &self,
        o: &mut ObserverState,
        vp: Viewport,
        from_changes: &[u32],
        entering: usize,
        s: &mut Scratch,
    ) {
        let Scratch {
            cands,
            more,
            rects,
            set,
            entered,
        } = s;
        cands.clear();
        let rect = vp.rect();
        let shows = self.config.zoom(vp.zoom).shows;
        let old_rect = o.applied.map(|a| a.rect());
        let mut last = NONE;
        for &i in from_changes {
            if i != last {
                last = i;
                let ch = &self.changes[i as usize];
                // Neither in view before (old box away from the old view) nor now: nothing to
                // tell, no need to look it up.
                let out_now = ch.new == NONE
                    || !shows.contains(ch.kind)
                    || bbox_vs(&ch.bbox, &rect) == Some(false);
                let out_before = match (ch.old_bbox, &old_rect) {
                    (Some(b), Some(r)) => bbox_vs(&b, r) == Some(false),
                    _ => true,
                };
                if out_now && out_before {
                    continue;
                }
                cands.push(Cand {
                    id: ch.id,
                    slot: ch.new,
                    change: i,
                    bbox: ch.bbox,
                    kind: ch.kind,
                    flags: if ch.new == NONE { OUT } else { 0 },
                });
            }
        }
        let shows_marches = self.config.zoom(vp.zoom).shows.contains(ObjectKind::March);
        for (k, r) in rects.iter().enumerate() {
            more.clear();
            self.store.standing_in(r, &vp, self.config, more);
            if shows_marches {
                self.store.marches_in(r, Some(&rect), more);
            }
            if k >= entering {
                // A standing object in an uncovered strip is out of view; a march found there
                // is in view if that segment touches it, else it may cross it elsewhere.
                for c in more.iter_mut().filter(|c| c.kind != ObjectKind::March) {
                    c.flags = OUT;
                }
            }
            cands.extend_from_slice(more);
        }
        if !rects.is_empty() {
            merge_duplicates(cands);
        }
        let p = &mut o.pending;
        entered.clear();
        let mut lo = 0;
        for c in cands.iter() {
            let was = gallop(&o.set, &mut lo, c.id);
            let now = self.store.decide(c, shows, &rect);
            match (was, now) {
                (true, true) => {
                    if c.change != NONE && self.changes[c.change as usize].update.is_some() {
                        p.update.push(c.change);
                    }
                }
                (true, false) => p.leave.push(c.id),
                (false, true) => {
                    p.enter.push(c.slot);
                    entered.push(c.id);
                }
                (false, false) => {}
            }
        }
        if entered.is_empty() && p.leave.is_empty() {
            return;
        }
        // The new set: the old one without those leaving, with those entering (all sorted).
        set.clear();
        let (mut e, mut l) = (0, 0);
        for &id in &o.set {
            while e < entered.len() && entered[e] < id {
                set.push(entered[e]);
                e += 1;
            }
            if l < p.leave.len() && p.leave[l] == id {
                l += 1;
            } else {
                set.push(id);
            }
        }
        set.extend_from_slice(&entered[e..]);
        std::mem::swap(&mut o.set, set);
    }

    /// The whole new set from the grid, merged with the old one.
    fn requery(&self, o: &mut ObserverState, vp: Viewport, s: &mut Scratch) {
        let Scratch {
            cands, more, set, ..
        } = s;
        self.store.query(&vp, self.config, cands, more);
        let p = &mut o.pending;
        set.clear();
        let (mut i, mut j) = (0, 0);
        while i < o.set.len() || j < cands.len() {
            match (o.set.get(i).copied(), cands.get(j)) {
                (Some(a), Some(b)) if a == b.id => {
                    if let Ok(k) = self.changes.binary_search_by_key(&a, |c| c.id)
                        && self.changes[k].update.is_some()
                    {
                        p.update.push(k as u32);
                    }
                    set.push(a);
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a < b.id => {
                    p.leave.push(a);
                    i += 1;
                }
                (Some(a), None) => {
                    p.leave.push(a);
                    i += 1;
                }
                (_, Some(b)) => {
                    p.enter.push(b.slot);
                    set.push(b.id);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        std::mem::swap(&mut o.set, set);
    }
}

/// Every observer (a client session watching the map) with its viewport and interest set, the
/// indexes its interest is computed from, and the deltas waiting for the host.
///
/// The host registers and moves observers with [`Observers::set_viewport`], drops them with
/// [`Observers::remove_observer`], and after each tick takes the deltas with
/// [`Observers::drain_batches`] (shared, for encoding) or [`Observers::drain_deltas`] (plain).
/// The Interest phase of the tick calls [`Observers::step`].
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
    outbox: Vec<DeltaBatch>,
    /// Per store slot: its index among the views of the batch being built ([`NONE`] between
    /// steps).
    index_of: Vec<u32>,
    /// Config version the indexes were built with (set by the Interest system).
    pub(crate) config_version: Option<u32>,
    /// Slot the next capped step starts moving observers from (round robin).
    move_cursor: usize,
    /// Viewport moves left waiting by capped steps, summed over steps (a move waiting three
    /// steps counts three).
    moves_deferred: u64,
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
            index_of: Vec::new(),
            config_version: None,
            move_cursor: 0,
            moves_deferred: 0,
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
    /// Takes effect at the next tick's Interest phase, or a few ticks later when more observers
    /// than `viewport_moves_per_tick` move at once; the first delta of a new observer enters
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
                    pending: Pending::default(),
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
        for batch in &mut self.outbox {
            batch.deltas.retain(|d| d.observer != observer);
        }
        self.outbox.retain(|b| !b.is_empty());
        true
    }

    /// Takes the deltas of the ticks run since the last drain, one [`DeltaBatch`] per tick with
    /// something to tell, in tick order.
    pub fn drain_batches(&mut self) -> Vec<DeltaBatch> {
        std::mem::take(&mut self.outbox)
    }

    /// Takes the deltas of the ticks run since the last drain as plain data: in tick order, then
    /// observer id order; only observers with something to tell appear. Apply each observer's
    /// deltas in order. (Copies every shared view per observer; [`Observers::drain_batches`]
    /// does not.)
    pub fn drain_deltas(&mut self) -> Vec<(u64, ObserverDelta)> {
        self.drain_batches()
            .into_iter()
            .flat_map(DeltaBatch::into_deltas)
            .collect()
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

    /// Viewport moves left waiting by steps that had more than `viewport_moves_per_tick`,
    /// summed over steps (a move that waited three steps counts three). Never decreases.
    pub fn moves_deferred(&self) -> u64 {
        self.moves_deferred
    }

    /// Observers whose requested viewport is not applied yet.
    pub fn moves_waiting(&self) -> usize {
        self.observers
            .iter()
            .filter(|o| o.as_ref().is_some_and(|o| o.dirty))
            .count()
    }

    /// Number of replicated objects known.
    pub fn object_count(&self) -> usize {
        self.store.by_id.len()
    }

    /// Runs one tick of interest: takes the objects that changed since the last step (`Some`
    /// view: new or changed; `None`: gone; a later entry for an id wins) and the viewports set
    /// since, and queues every observer's delta for `tick`. The Interest phase calls this; tests
    /// and benches may call it directly on a free-standing `Observers`.
    pub fn step(&mut self, tick: u64, mut changes: Vec<(ObjectId, Option<ObjectView>)>) {
        changes.sort_by_key(|(id, _)| *id);
        let mut dedup: Vec<(ObjectId, Option<ObjectView>)> = Vec::with_capacity(changes.len());
        for c in changes {
            match dedup.last_mut() {
                Some(last) if last.0 == c.0 => *last = c,
                _ => dedup.push(c),
            }
        }
        let mut changes = self.apply_changes(dedup);
        let refresh_all = std::mem::take(&mut self.refresh_all);
        if refresh_all {
            for o in self.observers.iter_mut().flatten() {
                o.dirty = true;
            }
        }
        let work = self.candidates(&changes);
        let moved = self.refresh_observers(&changes, work, refresh_all);
        self.rewatch(moved);
        self.publish(tick, &mut changes);
    }

    /// Step 1: new views into the slab and cell lists.
    fn apply_changes(&mut self, changes: Vec<(ObjectId, Option<ObjectView>)>) -> Vec<Change> {
        let mut out = Vec::with_capacity(changes.len());
        let mut cells = Vec::new();
        let store = &mut self.store;
        for (id, new) in changes {
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
                        new: NONE,
                        kind: ObjectKind::City,
                        bbox: [0; 4],
                        old_bbox: old.as_ref().map(|s| s.bbox),
                        update: None,
                        cells: old.map(|s| s.cells).unwrap_or_default(),
                    });
                }
                (None, Some(view)) => {
                    store.grid.path_cells(footprint(&view), &mut cells);
                    let stored = Stored {
                        bbox: bbox_of(footprint(&view)),
                        view: Arc::new(view),
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
                    let (kind, bbox) = store
                        .stored(slot)
                        .map_or((ObjectKind::City, [0; 4]), |s| (s.view.kind(), s.bbox));
                    out.push(Change {
                        id,
                        new: slot,
                        kind,
                        bbox,
                        old_bbox: None,
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
                    let old_bbox = Some(old.bbox);
                    let mut union = old.cells.clone();
                    if same_footprint {
                        if let Some(s) = &mut store.slots[slot as usize] {
                            s.view = Arc::new(view);
                        }
                    } else {
                        store.unindex(slot);
                        store.grid.path_cells(footprint(&view), &mut cells);
                        union.extend_from_slice(&cells);
                        union.sort_unstable();
                        union.dedup();
                        store.slots[slot as usize] = Some(Stored {
                            bbox: bbox_of(footprint(&view)),
                            view: Arc::new(view),
                            cells: cells.clone(),
                        });
                        store.index(slot);
                    }
                    let (kind, bbox) = store
                        .stored(slot)
                        .map_or((ObjectKind::City, [0; 4]), |s| (s.view.kind(), s.bbox));
                    out.push(Change {
                        id,
                        new: slot,
                        kind,
                        bbox,
                        old_bbox,
                        update: Some(update),
                        cells: union,
                    });
                }
            }
        }
        out
    }

    /// Step 2's candidates from changes: for every observer slot, the indices of the changes
    /// listed in the cells it watches, grouped by observer with a counting sort (ascending
    /// change index within a group, possibly repeated). Returns (group starts by observer slot,
    /// the change indices).
    fn candidates(&self, changes: &[Change]) -> (Vec<u32>, Vec<u32>) {
        let n = self.observers.len();
        let mut start = vec![0u32; n + 1];
        let mut total = 0usize;
        for ch in changes {
            for &c in &ch.cells {
                for &o in &self.watchers[c as usize] {
                    start[o as usize + 1] += 1;
                    total += 1;
                }
            }
        }
        if total == 0 {
            return (Vec::new(), Vec::new());
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut pairs = vec![0u32; total];
        for (i, ch) in changes.iter().enumerate() {
            for &c in &ch.cells {
                for &o in &self.watchers[c as usize] {
                    let f = &mut fill[o as usize];
                    pairs[*f as usize] = i as u32;
                    *f += 1;
                }
            }
        }
        (start, pairs)
    }

    /// Steps 2 and 3: every observer with candidates or a new viewport is brought up to date.
    /// Returns the slots whose applied viewport changed.
    fn refresh_observers(
        &mut self,
        changes: &[Change],
        (start, pairs): (Vec<u32>, Vec<u32>),
        refresh_all: bool,
    ) -> Vec<u32> {
        let ctx = Ctx {
            store: &self.store,
            config: &self.config,
            changes,
            width: self.width,
            height: self.height,
            refresh_all,
        };
        let group = |slot: usize| -> &[u32] {
            if start.is_empty() {
                &[]
            } else {
                &pairs[start[slot] as usize..start[slot + 1] as usize]
            }
        };
        // Moves this step: every waiting one, or on a step with more than the budget
        // (`viewport_moves_per_tick`; not after a config change, which moves everyone), the
        // budget's worth in slot order from where the last capped step stopped.
        let budget = if refresh_all {
            usize::MAX
        } else {
            self.config.viewport_moves_per_tick.max(1) as usize
        };
        let n = self.observers.len();
        let cursor = self.move_cursor.min(n);
        let mut waiting = 0usize;
        let mut work: Vec<(&mut ObserverState, &[u32], bool)> = Vec::new();
        let mut moved = Vec::new();
        let (head, tail) = self.observers.split_at_mut(cursor);
        let mut next_cursor = cursor;
        for (slot, o) in tail
            .iter_mut()
            .enumerate()
            .map(|(i, o)| (i + cursor, o))
            .chain(head.iter_mut().enumerate())
        {
            let Some(o) = o else { continue };
            let g = group(slot);
            waiting += usize::from(o.dirty);
            let may_move = o.dirty && moved.len() < budget;
            if may_move {
                moved.push(slot as u32);
                next_cursor = slot + 1;
            } else if g.is_empty() {
                continue;
            }
            work.push((o, g, may_move));
        }
        if waiting > moved.len() {
            self.move_cursor = next_cursor % n.max(1);
            self.moves_deferred += (waiting - moved.len()) as u64;
        }
        let units = pairs.len() + moved.len() * MOVE_WORK;
        if work.len() > 1 && units >= PARALLEL_MIN_WORK {
            work.par_iter_mut()
                .for_each_init(Scratch::default, |s, (o, g, m)| ctx.refresh(o, g, *m, s));
        } else {
            let mut s = Scratch::default();
            for (o, g, m) in work.iter_mut() {
                ctx.refresh(o, g, *m, &mut s);
            }
        }
        moved.sort_unstable();
        moved
    }

    /// Watcher lists follow the applied viewports.
    fn rewatch(&mut self, moved: Vec<u32>) {
        let grid = self.store.grid;
        for slot in moved {
            let Some(o) = &mut self.observers[slot as usize] else {
                continue;
            };
            let Some(vp) = o.applied else { continue };
            let range = grid.range(&vp.rect());
            if o.watched == Some(range) {
                continue;
            }
            let old = o.watched.replace(range);
            if let Some(old) = old {
                unwatch(&mut self.watchers, grid, old, slot);
            }
            let (c0, r0, c1, r1) = range;
            for row in r0..=r1 {
                for col in c0..=c1 {
                    self.watchers[(row * grid.cols + col) as usize].push(slot);
                }
            }
        }
    }

    /// Step 4: the observers' pending deltas become this tick's batch.
    fn publish(&mut self, tick: u64, changes: &mut [Change]) {
        let mut order: Vec<(u64, u32)> = self
            .observers
            .iter()
            .enumerate()
            .filter_map(|(slot, o)| {
                o.as_ref()
                    .filter(|o| !o.pending.is_empty())
                    .map(|o| (o.id, slot as u32))
            })
            .collect();
        if order.is_empty() {
            return;
        }
        order.sort_unstable();
        // Shared views: every slot entering somewhere, in id order; shared updates: every change
        // with one, in id order (changes are sorted by id). `index_of` maps a slot to its place
        // among the views and is reset to NONE afterwards.
        let store = &self.store;
        let mut entering: Vec<(ObjectId, u32)> = Vec::new();
        let mut updated: Vec<u32> = Vec::new();
        self.index_of.resize(store.slots.len(), NONE);
        for &(_, slot) in &order {
            if let Some(o) = &self.observers[slot as usize] {
                for &s in &o.pending.enter {
                    if let Some(i) = self.index_of.get_mut(s as usize)
                        && *i == NONE
                        && let Some(v) = store.view(s)
                    {
                        *i = 0;
                        entering.push((v.id, s));
                    }
                }
                updated.extend_from_slice(&o.pending.update);
            }
        }
        entering.sort_unstable();
        for (j, &(_, s)) in entering.iter().enumerate() {
            self.index_of[s as usize] = j as u32;
        }
        updated.sort_unstable();
        updated.dedup();
        let mut batch = DeltaBatch {
            tick,
            views: entering
                .iter()
                .filter_map(|&(_, s)| store.stored(s).map(|st| st.view.clone()))
                .collect(),
            updates: updated
                .iter()
                .filter_map(|&i| changes[i as usize].update.take())
                .collect(),
            ..DeltaBatch::default()
        };
        for &(id, slot) in &order {
            let Some(o) = &mut self.observers[slot as usize] else {
                continue;
            };
            let p = &mut o.pending;
            let e0 = batch.enter.len();
            batch.enter.extend(
                p.enter
                    .iter()
                    .map(|&s| self.index_of[s as usize])
                    .filter(|&j| j != NONE),
            );
            let u0 = batch.update.len();
            for &i in &p.update {
                if let Ok(j) = updated.binary_search(&i) {
                    batch.update.push(j as u32);
                }
            }
            let l0 = batch.leave.len();
            batch.leave.extend_from_slice(&p.leave);
            batch.deltas.push(SharedDelta {
                observer: id,
                enter: e0..batch.enter.len(),
                update: u0..batch.update.len(),
                leave: l0..batch.leave.len(),
            });
            p.enter.clear();
            p.update.clear();
            p.leave.clear();
        }
        for &(_, s) in &entering {
            self.index_of[s as usize] = NONE;
        }
        self.outbox.push(batch);
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
