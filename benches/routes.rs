//! `cargo bench --bench routes`: route planning on the default 1200×1200 map, beside exact tile
//! A* (the floor to beat) on the same pairs, in one run.
//!
//! Pairs: seeded random passable tiles of one region, at least 300 tiles apart and in different
//! zone rings, so every route crosses at least one wall through a pass (what a player sending a
//! march from the outer ring toward the centre asks for).
//!
//! Prints, before criterion's timings:
//! - the route graph's build time, nodes and edges;
//! - routes per second: the planner on one thread, the planner as the tick uses it (a batch on
//!   rayon's workers), and exact A* (no budget) on a subset;
//! - the length ratio route / exact A* over the subset: mean and worst.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dominion::assets::load_dir;
use dominion_sim::map::{Terrain, generate_map};
use dominion_sim::march::path::octile;
use dominion_sim::march::{CLUSTER_SIDE, PathScratch, RouteCache, RouteGraph, RouteScratch};
use dominion_sim::rng::SimRng;
use dominion_sim::types::TilePos;

const SEED: u64 = 1;
const PAIRS: usize = 2_000;
const EXACT_PAIRS: usize = 60;

fn length(w: &[TilePos]) -> u64 {
    w.windows(2).map(|s| octile(s[0], s[1])).sum()
}

fn world() -> (Terrain, RouteGraph, Duration) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let assets = load_dir(&dir).unwrap_or_else(|e| panic!("default assets invalid:\n{e}"));
    let terrain = generate_map(SEED, &assets).terrain;
    let t = Instant::now();
    let graph = RouteGraph::build(&terrain, CLUSTER_SIDE);
    (terrain, graph, t.elapsed())
}

/// Seeded far pairs of one region in different zone rings.
fn far_pairs(terrain: &Terrain, graph: &RouteGraph, n: usize) -> Vec<(TilePos, TilePos)> {
    let mut rng = SimRng::new(SEED, 77);
    let (w, h) = (u64::from(terrain.width()), u64::from(terrain.height()));
    let tile = |rng: &mut SimRng| loop {
        let p = TilePos::new(rng.below(w) as u16, rng.below(h) as u16);
        if terrain.passable(p) {
            return p;
        }
    };
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (a, b) = (tile(&mut rng), tile(&mut rng));
        let zone = |p| terrain.get(p).map(|t| t.zone());
        if octile(a, b) >= 300_000 && zone(a) != zone(b) && graph.connected(a, b) {
            out.push((a, b));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let (terrain, graph, build) = world();
    println!(
        "route graph: built in {:.0} ms, {} nodes, {} edges, clusters of {} tiles",
        build.as_secs_f64() * 1e3,
        graph.node_count(),
        graph.edge_count(),
        graph.cluster_side()
    );
    let pairs = far_pairs(&terrain, &graph, PAIRS);

    // Planner, one thread.
    let mut scratch = RouteScratch::default();
    let t = Instant::now();
    let planned: Vec<Vec<TilePos>> = pairs
        .iter()
        .map(|&(a, b)| {
            graph
                .route(&terrain, &mut scratch, a, b)
                .unwrap_or_else(|e| panic!("{a} → {b} in one region: {e:?}"))
        })
        .collect();
    let serial = t.elapsed();
    println!(
        "graph nodes expanded per far route: {:.0}",
        scratch.expanded() as f64 / PAIRS as f64
    );

    // Planner as the tick uses it: one batch on rayon's workers.
    let mut cache = RouteCache::default();
    let t = Instant::now();
    cache.plan_all(&graph, &terrain, &pairs);
    let batch = t.elapsed();

    // Exact A* on a subset, no budget.
    let mut exact = PathScratch::default();
    let t = Instant::now();
    let exact_paths: Vec<Vec<TilePos>> = pairs[..EXACT_PAIRS]
        .iter()
        .map(|&(a, b)| {
            exact
                .find(&terrain, a, b, u32::MAX)
                .unwrap_or_else(|e| panic!("exact {a} → {b}: {e:?}"))
        })
        .collect();
    let exact_time = t.elapsed();

    let ratios: Vec<f64> = exact_paths
        .iter()
        .zip(&planned)
        .map(|(e, p)| length(p) as f64 / length(e) as f64)
        .collect();
    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
    let worst = ratios.iter().cloned().fold(1.0, f64::max);
    let per_sec = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let (planner, exact_rate) = (per_sec(PAIRS, serial), per_sec(EXACT_PAIRS, exact_time));
    println!(
        "far routes/s: planner {:.0} (1 thread, {:.1} µs each), planner batch on rayon {:.0}, exact A* {:.1} ({:.1} ms each) → planner {:.0}× exact",
        planner,
        serial.as_secs_f64() * 1e6 / PAIRS as f64,
        per_sec(PAIRS, batch),
        exact_rate,
        exact_time.as_secs_f64() * 1e3 / EXACT_PAIRS as f64,
        planner / exact_rate
    );
    println!(
        "length vs exact A* over {EXACT_PAIRS} far pairs: mean {:.4}×, worst {:.4}×",
        mean, worst
    );

    // The cluster side, chosen by measurement: the same pairs on graphs of other sides.
    for (side, landmarks) in [(8u16, 16), (16, 0), (16, 8), (16, 32), (24, 16), (32, 16)] {
        let t = Instant::now();
        let other = RouteGraph::build_with(&terrain, side, landmarks);
        let built = t.elapsed();
        let mut scratch = RouteScratch::default();
        let t = Instant::now();
        let routes: Vec<Vec<TilePos>> = pairs
            .iter()
            .map(|&(a, b)| {
                other
                    .route(&terrain, &mut scratch, a, b)
                    .unwrap_or_default()
            })
            .collect();
        let took = t.elapsed();
        let ratios: Vec<f64> = exact_paths
            .iter()
            .zip(&routes)
            .map(|(e, p)| length(p) as f64 / length(e) as f64)
            .collect();
        println!(
            "clusters of {side}, {landmarks} landmarks: built in {:.0} ms, {} nodes; {:.1} µs per far route ({:.2}× the default graph's time); length mean {:.4}×, worst {:.4}×",
            built.as_secs_f64() * 1e3,
            other.node_count(),
            took.as_secs_f64() * 1e6 / PAIRS as f64,
            took.as_secs_f64() / serial.as_secs_f64(),
            ratios.iter().sum::<f64>() / ratios.len() as f64,
            ratios.iter().cloned().fold(1.0, f64::max)
        );
    }

    let mut g = c.benchmark_group("routes");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("planner_far_route", |b| {
        let mut i = 0;
        b.iter(|| {
            let (a, z) = pairs[i % pairs.len()];
            i += 1;
            black_box(graph.route(&terrain, &mut scratch, a, z).ok())
        })
    });
    g.bench_function("exact_astar_far_route", |b| {
        let mut i = 0;
        b.iter(|| {
            let (a, z) = pairs[i % EXACT_PAIRS];
            i += 1;
            black_box(exact.find(&terrain, a, z, u32::MAX).ok())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
