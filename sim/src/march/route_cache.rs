//! Routes already planned, by (start, goal), and the batch planner that fills them in parallel.
//!
//! The terrain never changes in a running world and planning is a pure function of it, so a
//! remembered answer is exactly what a new search would return: the cache changes how fast a
//! command is applied, never what it does (a restored world starts with it empty and evolves
//! the same). Players re-sending to the same fields hit it.

use std::collections::BTreeMap;

use bevy_ecs::prelude::Resource;
use rayon::prelude::*;

use super::path::NoPath;
use super::route_graph::RouteGraph;
use super::route_plan::RouteScratch;
use crate::map::Terrain;
use crate::types::TilePos;

/// Answers kept before the cache is emptied (about 100 bytes each).
const CACHE_LIMIT: usize = 100_000;

/// Below this many new requests a batch is planned on the calling thread: rayon's hand-off
/// costs more than a few searches.
const PARALLEL_FROM: usize = 4;

thread_local! {
    /// Each rayon worker's search buffers, kept between batches (they are sized to the route
    /// graph, so making them per batch would cost more than a search).
    static WORKER_SCRATCH: std::cell::RefCell<RouteScratch> =
        std::cell::RefCell::new(RouteScratch::default());
}

/// A planned route: corner waypoints, or why there is none.
pub type Planned = Result<Vec<TilePos>, NoPath>;

/// Routes planned so far, with the scratch buffers of the tick thread's own searches.
#[derive(Resource, Debug, Default)]
pub struct RouteCache {
    known: BTreeMap<(TilePos, TilePos), Planned>,
    scratch: RouteScratch,
}

impl RouteCache {
    /// The route from `start` to `goal`, planned now unless it is known.
    pub fn route(
        &mut self,
        graph: &RouteGraph,
        terrain: &Terrain,
        start: TilePos,
        goal: TilePos,
    ) -> Planned {
        if let Some(known) = self.known.get(&(start, goal)) {
            return known.clone();
        }
        let planned = graph.route(terrain, &mut self.scratch, start, goal);
        self.remember(start, goal, planned.clone());
        planned
    }

    /// Plans every request of `pairs` not yet known, in parallel on rayon's workers, and keeps
    /// the answers. Returns how many were planned (cache misses).
    pub fn plan_all(
        &mut self,
        graph: &RouteGraph,
        terrain: &Terrain,
        pairs: &[(TilePos, TilePos)],
    ) -> usize {
        let mut missing: Vec<(TilePos, TilePos)> = pairs
            .iter()
            .copied()
            .filter(|p| !self.known.contains_key(p))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let planned: Vec<Planned> = if missing.len() < PARALLEL_FROM {
            missing
                .iter()
                .map(|&(a, b)| graph.route(terrain, &mut self.scratch, a, b))
                .collect()
        } else {
            missing
                .par_iter()
                .map(|&(a, b)| {
                    WORKER_SCRATCH.with(|s| graph.route(terrain, &mut s.borrow_mut(), a, b))
                })
                .collect()
        };
        let count = missing.len();
        for ((a, b), p) in missing.into_iter().zip(planned) {
            self.remember(a, b, p);
        }
        count
    }

    /// True when the route from `start` to `goal` is remembered (asking for it costs no search).
    pub fn knows(&self, start: TilePos, goal: TilePos) -> bool {
        self.known.contains_key(&(start, goal))
    }

    /// Answers remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    fn remember(&mut self, start: TilePos, goal: TilePos, planned: Planned) {
        if self.known.len() >= CACHE_LIMIT {
            self.known.clear();
        }
        self.known.insert((start, goal), planned);
    }
}
