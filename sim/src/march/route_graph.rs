//! The route graph: a precomputed abstraction of the static terrain that route planning searches
//! instead of the tile grid (HPA*: Botea, Müller & Schaeffer, "Near Optimal Hierarchical
//! Path-Finding", 2004).
//!
//! The map is cut into square clusters. Wherever two neighbouring clusters touch through open
//! ground, the touching stretch (an entrance) gets one crossing in its middle, or one at each end
//! when it is wide; each side of a crossing is a node. Nodes of one cluster are joined by the
//! shortest path between them inside the cluster, found once here and stored as waypoints; the
//! two sides of a crossing are joined by one step. A route search then walks a few thousand
//! nodes instead of flooding hundreds of thousands of tiles ([`super::route_plan`]).
//!
//! Built from [`Terrain`] alone, so it is rebuilt whenever a terrain is put in the world (map
//! generation, load) and never changes while the world runs. Deterministic: nodes and edges are
//! numbered in tile order, and the per-cluster work on rayon is collected in cluster order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use bevy_ecs::prelude::Resource;
use rayon::prelude::*;

use super::path::label_regions;
use super::rect_search::{RectSearch, TileRect};
use crate::map::Terrain;
use crate::types::{TilePos, octile};

/// Cluster side in tiles. Measured on the default 1200×1200 map (`cargo bench --bench routes`
/// prints the comparison): 24-tile clusters plan far routes ~0.6–0.75× as long, but routes of
/// 50–100 tiles come out up to 6.5% longer than the shortest (`tests/routes.rs` caught one);
/// 16 keeps every sampled route within 2.6%; 8 is 2.2–2.4× slower.
pub const CLUSTER_SIDE: u16 = 16;

/// Landmarks whose distances to every node sharpen the search's estimate (ALT: Goldberg &
/// Harabor, "Computing the shortest path: A* search meets graph theory", 2005). Walls with few
/// passes make the straight-line estimate far too low; a landmark behind the wall knows better.
pub const LANDMARKS: usize = 16;

/// Entrances at least this wide get a crossing at each end instead of one in the middle.
const WIDE_ENTRANCE: u16 = 6;

/// An edge of the route graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Edge {
    /// Node reached.
    pub to: u32,
    /// Length in milli-tiles.
    pub cost: u32,
    /// Stored waypoints (index into the path table), or [`Edge::STEP`] for a one-tile step.
    pub path: u32,
}

impl Edge {
    /// The edge is a single step between the two sides of a crossing.
    pub const STEP: u32 = u32::MAX;
}

/// The precomputed abstraction of the terrain (see the module docs).
#[derive(Resource, Clone, Debug, Default)]
pub struct RouteGraph {
    width: u16,
    height: u16,
    side: u16,
    cols: u16,
    /// Connected region of each tile (0 = impassable); 4-connectivity, which is what
    /// corner-respecting 8-neighbour moves connect.
    regions: Vec<u32>,
    /// Tile of each node; nodes are sorted by (cluster, tile).
    node_tile: Vec<TilePos>,
    /// Nodes of cluster `c` are `cluster_first[c]..cluster_first[c + 1]`.
    cluster_first: Vec<u32>,
    /// Edges of node `n` are `edge_first[n]..edge_first[n + 1]`.
    edge_first: Vec<u32>,
    edges: Vec<Edge>,
    /// Waypoints of stored path `p` are `path_tiles[path_first[p]..path_first[p + 1]]`.
    path_first: Vec<u32>,
    path_tiles: Vec<TilePos>,
    /// Landmark count.
    landmarks: usize,
    /// Graph distance from each landmark to node `n` at `landmark_dist[n * landmarks + l]`
    /// ([`UNREACHED`] in another region).
    landmark_dist: Vec<u32>,
}

/// An edge inside one cluster while the graph is built: (from, to, cost, waypoints).
type InClusterEdge = (u32, u32, u32, Vec<TilePos>);

/// A node a landmark cannot reach.
pub(crate) const UNREACHED: u32 = u32::MAX;

impl RouteGraph {
    /// Builds the graph of `terrain` with clusters of `side` tiles (at least 4).
    pub fn build(terrain: &Terrain, side: u16) -> RouteGraph {
        RouteGraph::build_with(terrain, side, LANDMARKS)
    }

    /// Builds the graph with `landmarks` landmarks instead of [`LANDMARKS`] (for benches
    /// comparing the choice).
    pub fn build_with(terrain: &Terrain, side: u16, landmarks: usize) -> RouteGraph {
        let side = side.max(4);
        let (w, h) = (terrain.width(), terrain.height());
        let cols = w.div_ceil(side);
        let rows = h.div_ceil(side);
        let mut graph = RouteGraph {
            width: w,
            height: h,
            side,
            cols,
            regions: label_regions(terrain),
            ..RouteGraph::default()
        };
        let crossings = crossings(terrain, side, cols, rows);

        // Nodes: both sides of every crossing, sorted by (cluster, tile), each once.
        let mut nodes: Vec<(u32, TilePos)> = crossings
            .iter()
            .flat_map(|&(a, b)| [a, b])
            .map(|p| (graph.cluster_of(p), p))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let clusters = usize::from(cols) * usize::from(rows);
        let mut cluster_first = vec![0u32; clusters + 1];
        for &(c, _) in &nodes {
            cluster_first[c as usize + 1] += 1;
        }
        for c in 0..clusters {
            cluster_first[c + 1] += cluster_first[c];
        }
        graph.node_tile = nodes.iter().map(|&(_, p)| p).collect();
        graph.cluster_first = cluster_first;

        // Edges inside each cluster: the shortest path between each ordered pair of its nodes.
        let per_cluster: Vec<Vec<InClusterEdge>> = (0..clusters)
            .into_par_iter()
            .map_init(RectSearch::default, |search, c| {
                graph.cluster_edges(terrain, search, c as u32)
            })
            .collect();
        let mut all: Vec<(u32, u32, u32, Option<Vec<TilePos>>)> = Vec::new();
        for edges in per_cluster {
            all.extend(
                edges
                    .into_iter()
                    .map(|(from, to, cost, path)| (from, to, cost, Some(path))),
            );
        }
        for &(a, b) in &crossings {
            let (na, nb) = (graph.node_at(a), graph.node_at(b));
            if let (Some(na), Some(nb)) = (na, nb) {
                let step = crate::types::STRAIGHT as u32;
                all.push((na, nb, step, None));
                all.push((nb, na, step, None));
            }
        }
        all.sort_by_key(|x| (x.0, x.1, x.2));
        all.dedup_by(|later, first| later.0 == first.0 && later.1 == first.1);

        let n = graph.node_tile.len();
        graph.edge_first = vec![0; n + 1];
        graph.path_first = vec![0];
        for (from, to, cost, path) in all {
            graph.edge_first[from as usize + 1] += 1;
            let path = match path {
                None => Edge::STEP,
                Some(tiles) => {
                    graph.path_tiles.extend_from_slice(&tiles);
                    graph.path_first.push(graph.path_tiles.len() as u32);
                    (graph.path_first.len() - 2) as u32
                }
            };
            graph.edges.push(Edge { to, cost, path });
        }
        for i in 0..n {
            graph.edge_first[i + 1] += graph.edge_first[i];
        }
        graph.place_landmarks(landmarks);
        graph
    }

    /// Picks landmarks far apart (each the node farthest from those already picked, starting
    /// from the one farthest from the map's north-west corner) and stores every node's distance
    /// to each.
    fn place_landmarks(&mut self, wanted: usize) {
        let n = self.node_count();
        if n == 0 {
            return;
        }
        let first = (0..n as u32)
            .min_by_key(|&i| (octile(TilePos::new(0, 0), self.tile(i)), i))
            .unwrap_or(0);
        let mut chosen: Vec<u32> = Vec::new();
        let mut tables: Vec<Vec<u32>> = Vec::new();
        // Distance from the nearest chosen landmark, to pick the next one.
        let mut nearest = self.distances_from(first);
        let pick = |nearest: &[u32]| {
            (0..n as u32)
                .filter(|&i| nearest[i as usize] != UNREACHED)
                .max_by_key(|&i| (nearest[i as usize], std::cmp::Reverse(i)))
        };
        while chosen.len() < wanted {
            let Some(next) = pick(&nearest) else { break };
            if chosen.contains(&next) {
                break;
            }
            let table = self.distances_from(next);
            for (m, &d) in nearest.iter_mut().zip(&table) {
                *m = (*m).min(d);
            }
            chosen.push(next);
            tables.push(table);
        }
        self.landmarks = chosen.len();
        self.landmark_dist = vec![UNREACHED; n * self.landmarks];
        for (l, table) in tables.iter().enumerate() {
            for (node, &d) in table.iter().enumerate() {
                self.landmark_dist[node * self.landmarks + l] = d;
            }
        }
    }

    /// Dijkstra over the graph from node `from`: distance to every node in milli-tiles.
    fn distances_from(&self, from: u32) -> Vec<u32> {
        let mut dist = vec![UNREACHED; self.node_count()];
        let mut heap = BinaryHeap::new();
        dist[from as usize] = 0;
        heap.push(Reverse((0u32, from)));
        while let Some(Reverse((d, node))) = heap.pop() {
            if d > dist[node as usize] {
                continue;
            }
            for (_, e) in self.edges_of(node) {
                let nd = d.saturating_add(e.cost);
                if nd < dist[e.to as usize] {
                    dist[e.to as usize] = nd;
                    heap.push(Reverse((nd, e.to)));
                }
            }
        }
        dist
    }

    /// Distances of node `n` from every landmark.
    pub(crate) fn landmark_row(&self, n: u32) -> &[u32] {
        let l = self.landmarks;
        &self.landmark_dist[n as usize * l..(n as usize + 1) * l]
    }

    /// Landmarks in use.
    pub(crate) fn landmark_count(&self) -> usize {
        self.landmarks
    }

    /// Map width in tiles.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Map height in tiles.
    pub fn height(&self) -> u16 {
        self.height
    }

    /// Cluster side in tiles.
    pub fn cluster_side(&self) -> u16 {
        self.side
    }

    /// Nodes in the graph.
    pub fn node_count(&self) -> usize {
        self.node_tile.len()
    }

    /// Edges in the graph.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// True when both tiles are passable and connected by some walk.
    pub fn connected(&self, a: TilePos, b: TilePos) -> bool {
        match (self.region(a), self.region(b)) {
            (Some(ra), Some(rb)) => ra != 0 && ra == rb,
            _ => false,
        }
    }

    fn region(&self, p: TilePos) -> Option<u32> {
        (p.x < self.width && p.y < self.height)
            .then(|| self.regions[usize::from(p.y) * usize::from(self.width) + usize::from(p.x)])
    }

    /// Cluster holding tile `p`.
    pub(crate) fn cluster_of(&self, p: TilePos) -> u32 {
        u32::from(p.y / self.side) * u32::from(self.cols) + u32::from(p.x / self.side)
    }

    /// The tiles of cluster `c`.
    pub(crate) fn cluster_rect(&self, c: u32) -> TileRect {
        let (cx, cy) = (
            (c % u32::from(self.cols)) as u16,
            (c / u32::from(self.cols)) as u16,
        );
        TileRect {
            x0: cx * self.side,
            y0: cy * self.side,
            x1: ((cx + 1) * self.side).min(self.width) - 1,
            y1: ((cy + 1) * self.side).min(self.height) - 1,
        }
    }

    /// Nodes of cluster `c`.
    pub(crate) fn cluster_nodes(&self, c: u32) -> std::ops::Range<u32> {
        self.cluster_first[c as usize]..self.cluster_first[c as usize + 1]
    }

    /// Tile of node `n`.
    pub(crate) fn tile(&self, n: u32) -> TilePos {
        self.node_tile[n as usize]
    }

    /// Edges leaving node `n`, with their indices.
    pub(crate) fn edges_of(&self, n: u32) -> impl Iterator<Item = (u32, Edge)> + '_ {
        let (a, b) = (self.edge_first[n as usize], self.edge_first[n as usize + 1]);
        (a..b).map(|i| (i, self.edges[i as usize]))
    }

    /// Appends the waypoints of edge `i` (leaving node `from`) to `out`, without repeating the
    /// tile `out` already ends on.
    pub(crate) fn append_edge(&self, from: u32, i: u32, out: &mut Vec<TilePos>) {
        let e = self.edges[i as usize];
        let tiles: &[TilePos] = if e.path == Edge::STEP {
            &[self.node_tile[from as usize], self.node_tile[e.to as usize]]
        } else {
            let p = e.path as usize;
            &self.path_tiles[self.path_first[p] as usize..self.path_first[p + 1] as usize]
        };
        append(out, tiles);
    }

    /// The node standing on tile `p`, if any.
    pub(crate) fn node_at(&self, p: TilePos) -> Option<u32> {
        let c = self.cluster_of(p) as usize;
        let (a, b) = (self.cluster_first[c], self.cluster_first[c + 1]);
        let slice = &self.node_tile[a as usize..b as usize];
        slice.binary_search(&p).ok().map(|i| a + i as u32)
    }

    /// Shortest in-cluster paths between every ordered pair of cluster `c`'s nodes.
    fn cluster_edges(
        &self,
        terrain: &Terrain,
        search: &mut RectSearch,
        c: u32,
    ) -> Vec<InClusterEdge> {
        let rect = self.cluster_rect(c);
        let nodes = self.cluster_nodes(c);
        let mut out = Vec::new();
        for from in nodes.clone() {
            search.run(terrain, rect, self.tile(from), None, usize::MAX);
            for to in nodes.clone() {
                if to == from {
                    continue;
                }
                if let (Some(cost), Some(path)) = (
                    search.dist(self.tile(to)),
                    search.waypoints_to(self.tile(to)),
                ) {
                    out.push((from, to, cost as u32, path));
                }
            }
        }
        out
    }
}

/// Every crossing between neighbouring clusters, as (tile on the west/north side, tile on the
/// east/south side), in a fixed order.
fn crossings(terrain: &Terrain, side: u16, cols: u16, rows: u16) -> Vec<(TilePos, TilePos)> {
    let (w, h) = (terrain.width(), terrain.height());
    let mut out = Vec::new();
    // Borders between a cluster and the one east of it.
    for cx in 0..cols.saturating_sub(1) {
        let x = (cx + 1) * side - 1;
        for cy in 0..rows {
            let (y0, y1) = (cy * side, ((cy + 1) * side).min(h) - 1);
            let open = |y: u16| {
                terrain.passable(TilePos::new(x, y)) && terrain.passable(TilePos::new(x + 1, y))
            };
            for along in entrance_crossings(y0, y1, open) {
                out.push((TilePos::new(x, along), TilePos::new(x + 1, along)));
            }
        }
    }
    // Borders between a cluster and the one south of it.
    for cy in 0..rows.saturating_sub(1) {
        let y = (cy + 1) * side - 1;
        for cx in 0..cols {
            let (x0, x1) = (cx * side, ((cx + 1) * side).min(w) - 1);
            let open = |x: u16| {
                terrain.passable(TilePos::new(x, y)) && terrain.passable(TilePos::new(x, y + 1))
            };
            for along in entrance_crossings(x0, x1, open) {
                out.push((TilePos::new(along, y), TilePos::new(along, y + 1)));
            }
        }
    }
    out
}

/// Positions along one border (`lo..=hi`) where crossings go: for each maximal open stretch, its
/// middle, or both ends when it is at least [`WIDE_ENTRANCE`] wide.
fn entrance_crossings(lo: u16, hi: u16, open: impl Fn(u16) -> bool) -> Vec<u16> {
    let mut out = Vec::new();
    let mut run_start: Option<u16> = None;
    for at in lo..=hi + 1 {
        let is_open = at <= hi && open(at);
        match (run_start, is_open) {
            (None, true) => run_start = Some(at),
            (Some(s), false) => {
                let e = at - 1;
                if e - s + 1 >= WIDE_ENTRANCE {
                    out.extend([s, e]);
                } else {
                    out.push(s + (e - s) / 2);
                }
                run_start = None;
            }
            _ => {}
        }
    }
    out
}

/// Appends `tiles` to `out`, skipping the first when `out` already ends on it.
pub(crate) fn append(out: &mut Vec<TilePos>, tiles: &[TilePos]) {
    let skip = usize::from(!tiles.is_empty() && out.last() == tiles.first());
    out.extend_from_slice(&tiles[skip..]);
}
