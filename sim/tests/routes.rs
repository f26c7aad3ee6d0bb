//! Route planning on the default 1200×1200 map against exact tile A* and an independent flood:
//! every target in the start's region gets a route, the route is a legal walk, and its length
//! stays within the stated bound of the shortest.

mod common;

use std::collections::VecDeque;

use common::assets;
use dominion_sim::map::{Terrain, generate_map};
use dominion_sim::march::path::octile;
use dominion_sim::march::{CLUSTER_SIDE, NoPath, PathScratch, RouteGraph, RouteScratch};
use dominion_sim::rng::SimRng;
use dominion_sim::types::TilePos;

/// Worst route length allowed, as a multiple of the exact shortest (see ARCHITECTURE.md).
const WORST_RATIO: f64 = 1.05;
/// Mean route length allowed over the sample.
const MEAN_RATIO: f64 = 1.02;

/// Tiles reachable from `from` by 4-neighbour steps: an independent ground truth for regions.
fn flood(terrain: &Terrain, from: TilePos) -> Vec<bool> {
    let (w, h) = (usize::from(terrain.width()), usize::from(terrain.height()));
    let mut seen = vec![false; w * h];
    let mut queue = VecDeque::from([from]);
    seen[terrain.index(from)] = true;
    while let Some(p) = queue.pop_front() {
        let (x, y) = (i32::from(p.x), i32::from(p.y));
        for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let (nx, ny) = (x + dx, y + dy);
            if nx < 0 || ny < 0 || nx >= w as i32 || ny >= h as i32 {
                continue;
            }
            let q = TilePos::new(nx as u16, ny as u16);
            if terrain.passable(q) && !seen[terrain.index(q)] {
                seen[terrain.index(q)] = true;
                queue.push_back(q);
            }
        }
    }
    seen
}

/// Walks the route tile by tile: legs straight or diagonal, every tile passable, no diagonal
/// step cutting a blocked corner.
fn assert_legal(terrain: &Terrain, route: &[TilePos], a: TilePos, b: TilePos) {
    assert_eq!(route.first(), Some(&a));
    assert_eq!(route.last(), Some(&b));
    for leg in route.windows(2) {
        let (dx, dy) = (
            i32::from(leg[1].x) - i32::from(leg[0].x),
            i32::from(leg[1].y) - i32::from(leg[0].y),
        );
        assert!(
            dx == 0 || dy == 0 || dx.abs() == dy.abs(),
            "leg {:?} is neither straight nor diagonal",
            leg
        );
        let (sx, sy) = (dx.signum(), dy.signum());
        let (mut x, mut y) = (i32::from(leg[0].x), i32::from(leg[0].y));
        let pass = |x: i32, y: i32| terrain.passable(TilePos::new(x as u16, y as u16));
        while (x, y) != (i32::from(leg[1].x), i32::from(leg[1].y)) {
            if sx != 0 && sy != 0 {
                assert!(
                    pass(x + sx, y) && pass(x, y + sy),
                    "corner cut at ({x},{y})"
                );
            }
            x += sx;
            y += sy;
            assert!(pass(x, y), "({x},{y}) on {a} → {b} is blocked");
        }
    }
}

fn length(w: &[TilePos]) -> u64 {
    w.windows(2).map(|s| octile(s[0], s[1])).sum()
}

#[test]
fn every_target_in_the_region_gets_a_route_close_to_the_shortest() {
    let terrain = generate_map(1, &assets(1200)).terrain;
    let graph = RouteGraph::build(&terrain, CLUSTER_SIDE);
    let mut rng = SimRng::new(9, 1);
    let tile = |rng: &mut SimRng| loop {
        let p = TilePos::new(rng.below(1200) as u16, rng.below(1200) as u16);
        if terrain.passable(p) {
            return p;
        }
    };
    let mut scratch = RouteScratch::default();
    let mut exact = PathScratch::default();
    let mut ratios = Vec::new();
    let mut refused = 0;
    for i in 0..40 {
        let a = tile(&mut rng);
        let region = flood(&terrain, a);
        // Half near (within ~50 tiles), half anywhere on the map.
        let b = if i % 2 == 0 {
            loop {
                let b = TilePos::new(
                    (i32::from(a.x) + rng.below(101) as i32 - 50).clamp(0, 1199) as u16,
                    (i32::from(a.y) + rng.below(101) as i32 - 50).clamp(0, 1199) as u16,
                );
                if terrain.passable(b) {
                    break b;
                }
            }
        } else {
            tile(&mut rng)
        };
        let routed = graph.route(&terrain, &mut scratch, a, b);
        if !region[terrain.index(b)] {
            assert_eq!(
                routed,
                Err(NoPath::Unreachable),
                "{a} → {b} crosses regions"
            );
            refused += 1;
            continue;
        }
        let route = routed.unwrap_or_else(|e| panic!("{a} → {b} is in one region: {e:?}"));
        assert_legal(&terrain, &route, a, b);
        let shortest = exact.find(&terrain, a, b, u32::MAX).expect("exact path");
        let ratio = length(&route) as f64 / length(&shortest).max(1) as f64;
        assert!(
            ratio <= WORST_RATIO,
            "{a} → {b}: route {} vs shortest {} ({ratio:.4}×)",
            length(&route),
            length(&shortest)
        );
        ratios.push(ratio);
    }
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    assert!(mean <= MEAN_RATIO, "mean ratio {mean:.4}");
    assert!(
        ratios.len() >= 30,
        "most samples share a region ({refused} refused)"
    );
}

#[test]
fn a_walled_off_pocket_is_refused_and_the_graph_is_deterministic() {
    let terrain = generate_map(1, &assets(200)).terrain;
    let a = TilePos::new(0, 0);
    let g1 = RouteGraph::build(&terrain, CLUSTER_SIDE);
    let g2 = RouteGraph::build(&terrain, CLUSTER_SIDE);
    assert_eq!(
        (g1.node_count(), g1.edge_count()),
        (g2.node_count(), g2.edge_count())
    );
    // Every passable tile: routed from a fixed start exactly when the flood reaches it.
    let start = (0..200u16)
        .flat_map(|y| (0..200u16).map(move |x| TilePos::new(x, y)))
        .find(|&p| terrain.passable(p))
        .unwrap_or(a);
    let region = flood(&terrain, start);
    let mut scratch = RouteScratch::default();
    for y in (0..200u16).step_by(7) {
        for x in (0..200u16).step_by(7) {
            let b = TilePos::new(x, y);
            let r1 = g1.route(&terrain, &mut scratch, start, b);
            assert_eq!(
                r1,
                g2.route(&terrain, &mut RouteScratch::default(), start, b)
            );
            match r1 {
                Ok(route) => {
                    assert!(region[terrain.index(b)]);
                    assert_legal(&terrain, &route, start, b);
                }
                Err(NoPath::Blocked) => assert!(!terrain.passable(b)),
                Err(NoPath::Unreachable) => {
                    assert!(terrain.passable(b) && !region[terrain.index(b)])
                }
            }
        }
    }
}
