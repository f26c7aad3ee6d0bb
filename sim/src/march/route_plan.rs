//! Route planning: the way a march takes from one tile to another, found on the [`RouteGraph`]
//! instead of the tile grid, then straightened.
//!
//! 1. A target in another region (or on a blocked tile) is refused at once.
//! 2. A near target (within two clusters) is searched exactly with A* in a small rectangle around
//!    both ends; that usually answers it.
//! 3. Otherwise both ends are joined to the nodes of their clusters (Dijkstra inside the
//!    cluster), A* runs over the graph's nodes, and the path is assembled from the stored
//!    in-cluster paths.
//! 4. The path is straightened: from each corner, the furthest later corner that an open
//!    diagonal-then-straight (or straight-then-diagonal) walk reaches replaces the corners
//!    between. Such a walk is the shortest possible between its ends, so this never lengthens
//!    the route.
//!
//! Every step is a pure function of the terrain and the two tiles: the same request gives the
//! same route on any thread, so requests can be planned in parallel (see
//! [`crate::command::apply_commands`]). Route lengths against exact tile A* are measured by
//! `cargo bench --bench routes` and bounded by a test.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::path::NoPath;
use super::rect_search::{RectSearch, TileRect};
use super::route_graph::{RouteGraph, UNREACHED, append};
use crate::map::Terrain;
use crate::types::{TilePos, octile};

/// How far a straightening shortcut may reach, in tiles. Detours of the graph are local (around
/// crossings), so longer shortcuts rarely succeed and only cost time.
const SHORTCUT_REACH: u64 = 96;

/// Reusable buffers for route planning, one per worker thread.
#[derive(Debug, Default, Clone)]
pub struct RouteScratch {
    near: RectSearch,
    from_start: RectSearch,
    to_goal: RectSearch,
    epoch: Vec<u32>,
    current: u32,
    g: Vec<u64>,
    /// Estimate of the distance left from each reached node.
    h: Vec<u64>,
    /// (previous node, edge taken) of each reached node.
    parent: Vec<(u32, u32)>,
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    /// Each landmark's distance to the goal, for this search.
    goal_landmarks: Vec<u64>,
    /// Graph nodes expanded by the searches so far (for benches and profiles).
    expanded: u64,
}

impl RouteScratch {
    /// Graph nodes expanded by the searches run with these buffers so far.
    pub fn expanded(&self) -> u64 {
        self.expanded
    }
}

/// Marks in `RouteScratch::parent` for the legs that are not graph edges.
const VIA_START: u32 = u32::MAX;
const VIA_DIRECT: u32 = u32::MAX - 1;
const VIA_GOAL_LEG: u32 = u32::MAX - 2;

impl RouteGraph {
    /// True when a route between `a` and `b` is first searched in a small rectangle around them
    /// (within two clusters), not on the graph.
    pub fn is_near(&self, a: TilePos, b: TilePos) -> bool {
        octile(a, b) <= 2 * u64::from(self.cluster_side()) * 1000
    }

    /// The route from `start` to `goal` as corner waypoints (start first, goal last; each leg
    /// straight or diagonal), or why there is none. Never fails for two passable tiles of one
    /// region.
    pub fn route(
        &self,
        terrain: &Terrain,
        scratch: &mut RouteScratch,
        start: TilePos,
        goal: TilePos,
    ) -> Result<Vec<TilePos>, NoPath> {
        if !terrain.passable(start) || !terrain.passable(goal) {
            return Err(NoPath::Blocked);
        }
        if start == goal {
            return Ok(vec![start]);
        }
        if !self.connected(start, goal) {
            return Err(NoPath::Unreachable);
        }
        let side = self.cluster_side();
        if self.is_near(start, goal) {
            let rect = TileRect::around(start, goal, side, self.width(), self.height());
            if scratch
                .near
                .run(terrain, rect, start, Some(goal), rect.area())
                && let Some(path) = scratch.near.waypoints_to(goal)
            {
                return Ok(path);
            }
        }
        let path = self
            .abstract_path(terrain, scratch, start, goal)
            .ok_or(NoPath::Unreachable)?;
        Ok(straighten(terrain, path))
    }

    /// Steps 3 of the module docs: the graph search and the assembled (unstraightened) path.
    fn abstract_path(
        &self,
        terrain: &Terrain,
        s: &mut RouteScratch,
        start: TilePos,
        goal: TilePos,
    ) -> Option<Vec<TilePos>> {
        let (cs, cg) = (self.cluster_of(start), self.cluster_of(goal));
        s.from_start
            .run(terrain, self.cluster_rect(cs), start, None, usize::MAX);
        s.to_goal
            .run(terrain, self.cluster_rect(cg), goal, None, usize::MAX);
        let n = self.node_count();
        let goal_id = n as u32;
        if s.epoch.len() < n + 1 {
            s.epoch.resize(n + 1, 0);
            s.g.resize(n + 1, 0);
            s.h.resize(n + 1, 0);
            s.parent.resize(n + 1, (0, 0));
        }
        s.current = s.current.wrapping_add(1);
        if s.current == 0 {
            s.epoch.fill(0);
            s.current = 1;
        }
        let epoch = s.current;
        s.heap.clear();
        // Each landmark's distance to the goal: through the goal cluster's nodes, the way any
        // route reaches the goal.
        let lms = self.landmark_count();
        s.goal_landmarks.clear();
        s.goal_landmarks.resize(lms, u64::MAX);
        for node in self.cluster_nodes(cg) {
            if let Some(d) = s.to_goal.dist(self.tile(node)) {
                for (best, &l) in s.goal_landmarks.iter_mut().zip(self.landmark_row(node)) {
                    if l != UNREACHED {
                        *best = (*best).min(u64::from(l) + d);
                    }
                }
            }
        }
        let goal_landmarks = std::mem::take(&mut s.goal_landmarks);
        // The larger of the straight-line estimate and every landmark's triangle bound; each is
        // a consistent lower bound, so their maximum is one too and A* stays exact on the graph.
        let h = |node: u32| {
            let mut best = octile(self.tile(node), goal);
            for (&to_goal, &to_node) in goal_landmarks.iter().zip(self.landmark_row(node)) {
                if to_goal != u64::MAX && to_node != UNREACHED {
                    best = best.max(to_goal.abs_diff(u64::from(to_node)));
                }
            }
            best
        };
        // Estimates are computed once per node and search, and only for nodes reached.
        let relax = |s: &mut RouteScratch, node: u32, g: u64, via: (u32, u32)| {
            let i = node as usize;
            let seen = s.epoch[i] == epoch;
            if seen && s.g[i] <= g {
                return;
            }
            if !seen {
                s.epoch[i] = epoch;
                s.h[i] = if node == goal_id { 0 } else { h(node) };
            }
            s.g[i] = g;
            s.parent[i] = via;
            let hh = s.h[i];
            s.heap.push(Reverse((g + hh, hh, node)));
        };
        for node in self.cluster_nodes(cs) {
            if let Some(d) = s.from_start.dist(self.tile(node)) {
                relax(s, node, d, (VIA_START, VIA_START));
            }
        }
        if cs == cg
            && let Some(d) = s.from_start.dist(goal)
        {
            relax(s, goal_id, d, (VIA_START, VIA_DIRECT));
        }
        while let Some(Reverse((f, hh, node))) = s.heap.pop() {
            let g = s.g[node as usize];
            if g + hh != f {
                continue; // stale: reached more cheaply since
            }
            s.expanded += 1;
            if node == goal_id {
                s.goal_landmarks = goal_landmarks;
                return self.assemble(s, goal);
            }
            for (i, e) in self.edges_of(node) {
                relax(s, e.to, g + u64::from(e.cost), (node, i));
            }
            if self.cluster_of(self.tile(node)) == cg
                && let Some(d) = s.to_goal.dist(self.tile(node))
            {
                relax(s, goal_id, g + d, (node, VIA_GOAL_LEG));
            }
        }
        s.goal_landmarks = goal_landmarks;
        None
    }

    /// Walks the parents back from the goal and joins the legs into one waypoint list.
    fn assemble(&self, s: &RouteScratch, goal: TilePos) -> Option<Vec<TilePos>> {
        let goal_id = self.node_count() as u32;
        // (node, edge into it) from the goal back to the first node.
        let mut chain = Vec::new();
        let mut at = goal_id;
        loop {
            let (prev, via) = s.parent[at as usize];
            if via == VIA_DIRECT {
                return s.from_start.waypoints_to(goal);
            }
            if prev == VIA_START {
                break;
            }
            chain.push((prev, via));
            at = prev;
        }
        chain.reverse();
        // `at` is the first node; the chain's last entry is the leg to the goal.
        let mut out = s.from_start.waypoints_to(self.tile(at))?;
        for &(from, via) in &chain {
            if via == VIA_GOAL_LEG {
                let mut leg = s.to_goal.waypoints_to(self.tile(from))?;
                leg.reverse();
                append(&mut out, &leg);
            } else {
                self.append_edge(from, via, &mut out);
            }
        }
        Some(out)
    }
}

/// Step 4 of the module docs.
pub(crate) fn straighten(terrain: &Terrain, waypoints: Vec<TilePos>) -> Vec<TilePos> {
    if waypoints.len() <= 2 {
        return waypoints;
    }
    let mut out = vec![waypoints[0]];
    let mut i = 0;
    while i + 1 < waypoints.len() {
        let anchor = waypoints[i];
        let mut best = (i + 1, None);
        let mut k = i + 2;
        while k < waypoints.len() && octile(anchor, waypoints[k]) <= SHORTCUT_REACH * 1000 {
            match open_walk(terrain, anchor, waypoints[k]) {
                Some(bend) => best = (k, bend),
                None => break,
            }
            k += 1;
        }
        let (next, bend) = best;
        if let Some(b) = bend {
            out.push(b);
        }
        out.push(waypoints[next]);
        i = next;
    }
    merge_collinear(out)
}

/// An open shortest walk from `a` to `b` made of one diagonal and one straight leg (either
/// first): `Some(bend)` with the tile where the legs meet (`None` when one leg suffices), or
/// `None` when both shapes are blocked.
fn open_walk(terrain: &Terrain, a: TilePos, b: TilePos) -> Option<Option<TilePos>> {
    let (dx, dy) = (
        i32::from(b.x) - i32::from(a.x),
        i32::from(b.y) - i32::from(a.y),
    );
    let (sx, sy) = (dx.signum(), dy.signum());
    let diag = dx.abs().min(dy.abs());
    let at = |x: i32, y: i32| TilePos::new(x as u16, y as u16);
    // Bends: after the diagonal leg, or after the straight leg.
    let bend_diag_first = at(i32::from(a.x) + sx * diag, i32::from(a.y) + sy * diag);
    let bend_straight_first = at(i32::from(b.x) - sx * diag, i32::from(b.y) - sy * diag);
    for bend in [bend_diag_first, bend_straight_first] {
        if leg_open(terrain, a, bend) && leg_open(terrain, bend, b) {
            return Some((bend != a && bend != b).then_some(bend));
        }
    }
    None
}

/// True when every step of the straight or diagonal leg `a → b` lands on passable ground and no
/// diagonal step cuts a blocked corner.
fn leg_open(terrain: &Terrain, a: TilePos, b: TilePos) -> bool {
    let (sx, sy) = (
        (i32::from(b.x) - i32::from(a.x)).signum(),
        (i32::from(b.y) - i32::from(a.y)).signum(),
    );
    let pass = |x: i32, y: i32| terrain.passable(TilePos::new(x as u16, y as u16));
    let (mut x, mut y) = (i32::from(a.x), i32::from(a.y));
    let (tx, ty) = (i32::from(b.x), i32::from(b.y));
    while (x, y) != (tx, ty) {
        if sx != 0 && sy != 0 && (!pass(x + sx, y) || !pass(x, y + sy)) {
            return false;
        }
        x += sx;
        y += sy;
        if !pass(x, y) {
            return false;
        }
    }
    true
}

/// Drops repeated tiles and corners where the direction does not change.
pub(crate) fn merge_collinear(waypoints: Vec<TilePos>) -> Vec<TilePos> {
    let dir = |a: TilePos, b: TilePos| {
        (
            (i32::from(b.x) - i32::from(a.x)).signum(),
            (i32::from(b.y) - i32::from(a.y)).signum(),
        )
    };
    let mut out: Vec<TilePos> = Vec::with_capacity(waypoints.len());
    for p in waypoints {
        if out.last() == Some(&p) {
            continue;
        }
        if out.len() >= 2 {
            let (a, b) = (out[out.len() - 2], out[out.len() - 1]);
            if dir(a, b) == dir(b, p) {
                out.pop();
            }
        }
        out.push(p);
    }
    out
}
