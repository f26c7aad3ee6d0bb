//! `cargo bench --bench tick`: one tick of the default kingdom beside a plain-Rust floor over
//! the same data, measured in the same run; plus map generation time.
//!
//! The floor is a plain loop over a `Vec` holding the same map objects, touching each once: what
//! any tick that visits every object must at least pay on this machine today.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dominion::assets::load_dir;
use dominion_sim::Kingdom;
use dominion_sim::map::{MapObject, ResourceField, generate_map};

const SEED: u64 = 1;

fn default_assets() -> Arc<dominion_sim::config::Assets> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    Arc::new(load_dir(&dir).unwrap_or_else(|e| panic!("default assets invalid:\n{e}")))
}

fn bench(c: &mut Criterion) {
    let assets = default_assets();

    let mut group = c.benchmark_group("map");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("generate_default_kingdom", |b| {
        b.iter(|| black_box(generate_map(SEED, &assets)))
    });
    group.finish();

    let mut kingdom = Kingdom::generate(SEED, assets.clone());
    let objects = kingdom.object_counts().total();
    // The floor's data: the same objects as plain structs in one Vec.
    let mut plain: Vec<(MapObject, u64)> = kingdom
        .world
        .query::<(&MapObject, Option<&ResourceField>)>()
        .iter(&kingdom.world)
        .map(|(o, f)| (*o, f.map_or(0, |f| f.remaining)))
        .collect();

    let mut group = c.benchmark_group("tick");
    group.bench_function(format!("kingdom_tick_{objects}_objects"), |b| {
        b.iter(|| kingdom.tick())
    });
    group.bench_function(format!("floor_plain_loop_{objects}_objects"), |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for (o, remaining) in plain.iter_mut() {
                *remaining = remaining.wrapping_add(u64::from(o.pos.x));
                acc = acc.wrapping_add(*remaining);
            }
            black_box(acc)
        })
    });
    group.finish();

    // A compact summary line with the ratio, from direct timing in the same run.
    let time = |f: &mut dyn FnMut()| {
        let runs = 200;
        let mut samples: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        samples.sort();
        (samples[runs / 2], samples[runs * 99 / 100])
    };
    let (tick_med, tick_p99) = time(&mut || kingdom.tick());
    let (floor_med, _) = time(&mut || {
        let mut acc = 0u64;
        for (o, remaining) in plain.iter_mut() {
            *remaining = remaining.wrapping_add(u64::from(o.pos.x));
            acc = acc.wrapping_add(*remaining);
        }
        black_box(acc);
    });
    println!(
        "summary: {objects} objects; tick median {:?} p99 {:?}; floor median {:?}; tick/floor = {:.2}",
        tick_med,
        tick_p99,
        floor_med,
        tick_med.as_secs_f64() / floor_med.as_secs_f64().max(1e-12)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
