//! Shortest 8-neighbour paths inside one rectangle of the map: Dijkstra over the whole rectangle
//! (the route graph's cluster edges, a route's first and last leg) or A* to one tile (short
//! routes). The buffers are sized to the rectangle, not the map, so a search costs the tiles it
//! touches and a worker thread keeps only a few kilobytes.
//!
//! Moves never cut a blocked corner, as in [`super::path`]. Ties break on (cost, heuristic, local
//! tile index), so the same search always returns the same path.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::map::Terrain;
use crate::types::{DIAGONAL, STRAIGHT, TilePos, octile};

/// An inclusive rectangle of tiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TileRect {
    /// West edge.
    pub x0: u16,
    /// North edge.
    pub y0: u16,
    /// East edge (inclusive).
    pub x1: u16,
    /// South edge (inclusive).
    pub y1: u16,
}

impl TileRect {
    /// The rectangle spanning `a` and `b`, grown by `margin` tiles on every side and clipped to a
    /// `width` × `height` map.
    pub fn around(a: TilePos, b: TilePos, margin: u16, width: u16, height: u16) -> TileRect {
        TileRect {
            x0: a.x.min(b.x).saturating_sub(margin),
            y0: a.y.min(b.y).saturating_sub(margin),
            x1: a.x.max(b.x).saturating_add(margin).min(width - 1),
            y1: a.y.max(b.y).saturating_add(margin).min(height - 1),
        }
    }

    /// Columns.
    pub fn width(&self) -> usize {
        usize::from(self.x1 - self.x0) + 1
    }

    /// Tiles inside.
    pub fn area(&self) -> usize {
        self.width() * (usize::from(self.y1 - self.y0) + 1)
    }

    /// True when `p` lies inside.
    pub fn contains(&self, p: TilePos) -> bool {
        p.x >= self.x0 && p.x <= self.x1 && p.y >= self.y0 && p.y <= self.y1
    }

    fn local(&self, p: TilePos) -> usize {
        usize::from(p.y - self.y0) * self.width() + usize::from(p.x - self.x0)
    }

    fn pos(&self, local: usize) -> TilePos {
        let w = self.width();
        TilePos::new(self.x0 + (local % w) as u16, self.y0 + (local / w) as u16)
    }
}

/// Reusable buffers for searches confined to a rectangle.
#[derive(Debug, Default, Clone)]
pub struct RectSearch {
    rect: TileRect,
    source: TilePos,
    epoch: Vec<u32>,
    dist: Vec<u64>,
    parent: Vec<u32>,
    current: u32,
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
}

const STEPS: [(i32, i32); 8] = [
    (1, 0),
    (-1, 0),
    (0, 1),
    (0, -1),
    (1, 1),
    (1, -1),
    (-1, 1),
    (-1, -1),
];

impl RectSearch {
    /// Searches from `source` inside `rect`. With a `target`, runs A* and stops there (true when
    /// it was reached within `budget` expanded tiles); without, runs Dijkstra until every tile
    /// of the rectangle reachable from `source` inside it has its final distance (returns true).
    pub fn run(
        &mut self,
        terrain: &Terrain,
        rect: TileRect,
        source: TilePos,
        target: Option<TilePos>,
        budget: usize,
    ) -> bool {
        self.rect = rect;
        self.source = source;
        let area = rect.area();
        if self.epoch.len() < area {
            self.epoch.resize(area, 0);
            self.dist.resize(area, 0);
            self.parent.resize(area, 0);
        }
        self.current = self.current.wrapping_add(1);
        if self.current == 0 {
            self.epoch.fill(0);
            self.current = 1;
        }
        let epoch = self.current;
        self.heap.clear();
        if !rect.contains(source) || !terrain.passable(source) {
            return false;
        }
        if let Some(t) = target
            && (!rect.contains(t) || !terrain.passable(t))
        {
            return false;
        }
        let goal = target.map(|t| rect.local(t) as u32);
        let h = |p: TilePos| target.map_or(0, |t| octile(p, t));
        let s = rect.local(source) as u32;
        self.epoch[s as usize] = epoch;
        self.dist[s as usize] = 0;
        self.parent[s as usize] = s;
        let h0 = h(source);
        self.heap.push(Reverse((h0, h0, s)));
        let open = |x: i32, y: i32| -> bool {
            x >= i32::from(rect.x0)
                && y >= i32::from(rect.y0)
                && x <= i32::from(rect.x1)
                && y <= i32::from(rect.y1)
                && terrain.passable(TilePos::new(x as u16, y as u16))
        };
        let mut expanded = 0usize;
        while let Some(Reverse((f, hh, i))) = self.heap.pop() {
            let g = self.dist[i as usize];
            if g + hh != f {
                continue; // stale: reached more cheaply since
            }
            if Some(i) == goal {
                return true;
            }
            expanded += 1;
            if expanded > budget {
                return false;
            }
            let p = rect.pos(i as usize);
            let (x, y) = (i32::from(p.x), i32::from(p.y));
            for (dx, dy) in STEPS {
                let (nx, ny) = (x + dx, y + dy);
                if !open(nx, ny) {
                    continue;
                }
                let diagonal = dx != 0 && dy != 0;
                if diagonal && (!open(x + dx, y) || !open(x, y + dy)) {
                    continue;
                }
                let np = TilePos::new(nx as u16, ny as u16);
                let ni = rect.local(np);
                let ng = g + if diagonal { DIAGONAL } else { STRAIGHT };
                if self.epoch[ni] == epoch && self.dist[ni] <= ng {
                    continue;
                }
                self.epoch[ni] = epoch;
                self.dist[ni] = ng;
                self.parent[ni] = i;
                let nh = h(np);
                self.heap.push(Reverse((ng + nh, nh, ni as u32)));
            }
        }
        goal.is_none()
    }

    /// Length in milli-tiles of the path found to `p` by the last run, if it reached `p`. After a
    /// Dijkstra run it is the shortest inside the rectangle; after an A* run, only for its target.
    pub fn dist(&self, p: TilePos) -> Option<u64> {
        if !self.rect.contains(p) {
            return None;
        }
        let i = self.rect.local(p);
        (self.epoch.get(i) == Some(&self.current)).then(|| self.dist[i])
    }

    /// The path of the last run from its source to `p` as corner waypoints (source first), if
    /// the run reached `p`.
    pub fn waypoints_to(&self, p: TilePos) -> Option<Vec<TilePos>> {
        self.dist(p)?;
        let s = self.rect.local(self.source) as u32;
        let mut at = self.rect.local(p) as u32;
        let mut tiles = vec![p];
        while at != s {
            at = self.parent[at as usize];
            tiles.push(self.rect.pos(at as usize));
        }
        tiles.reverse();
        Some(compress(tiles))
    }
}

/// Keeps the first and last tiles and every tile where the step direction changes.
pub fn compress(tiles: Vec<TilePos>) -> Vec<TilePos> {
    if tiles.len() <= 2 {
        return tiles;
    }
    let dir = |a: TilePos, b: TilePos| {
        (
            i32::from(b.x) - i32::from(a.x),
            i32::from(b.y) - i32::from(a.y),
        )
    };
    let mut out = vec![tiles[0]];
    for k in 1..tiles.len() - 1 {
        if dir(tiles[k - 1], tiles[k]) != dir(tiles[k], tiles[k + 1]) {
            out.push(tiles[k]);
        }
    }
    out.push(tiles[tiles.len() - 1]);
    out
}
