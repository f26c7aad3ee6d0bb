//! `cargo bench --bench aoi`: the AOI of the default kingdom (300k objects) with 50k marches out
//! and 10k observers, beside a floor measured on the same data in the same run; plus the
//! bandwidth of one busy viewport against re-sending its full snapshot every tick.
//!
//! - **AOI + encode**: the Interest phase (change collection, index upkeep, per-observer diffs)
//!   plus draining the tick's `DeltaBatch`, encoding it (`encode_batch`: each shared view and
//!   update once) and framing each observer's `WorldDelta` as the push a client receives. The
//!   plain path (`drain_deltas` + `encode` per delta) is measured beside it.
//! - **Floor**: the naive per-tick rescan the AOI replaces, with nothing else: compute every
//!   march's current tile from its route, rebuild a uniform grid (32-tile cells, counting sort)
//!   of those and every standing object, and answer each observer's viewport with the ids inside
//!   that its zoom shows. It produces no diff, no march-crossing and no encoding, so it is a floor
//!   for any rescan design.
//! - **Bandwidth**: one observer on the viewport (80×80 at zoom 1) crossed by the most marches;
//!   bytes on the wire per second of game time in steady state (its first, full enter excluded),
//!   against a full snapshot of the same view framed every tick.
//!
//! - **Bursts**: 10k small (30×20, zoom 0) viewports on the same world; one tick in five, 1,000
//!   of them pan at once by up to a screen. AOI + encode of those ticks (median, p99) against the
//!   10 ms tick budget.
//!
//! The world: 10k players, 5 marches each (gathering fields or attacking monsters 8–40 tiles
//! away; a bot sends a new march whenever one comes home), observers around their own city at
//! realistic zooms (70% 40×24 at zoom 0, 25% 96×56 at zoom 1, 5% 240×140 at zoom 2); each tick 3%
//! of observers pan a few tiles and 0.5% change zoom.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dominion::assets::load_dir;
use dominion_net::proto::delta::{encode, encode_batch};
use dominion_net::proto::{PUSH_REQUEST_ID, ServerMessage, WorldDelta};
use dominion_sim::Kingdom;
use dominion_sim::aoi::{
    CELL, ObjectKind, ObserverDelta, Observers, Viewport, march_view, visible,
};
use dominion_sim::city::{City, Players};
use dominion_sim::command::Command;
use dominion_sim::map::{CitySlot, MapObject, Monster, ResourceField};
use dominion_sim::march::{March, Mission};
use dominion_sim::schedule::TickPhase;
use dominion_sim::types::{ObjectId, PlayerId, TilePos, Troops};

const SEED: u64 = 1;
const PLAYERS: u64 = 10_000;
const MARCHES_EACH: u32 = 5;
const OBSERVERS: u64 = 10_000;
const WARMUP_TICKS: u64 = 100;
const MEASURED_TICKS: usize = 200;
const BUSY: u64 = u64::MAX;

/// A small deterministic generator (the bench needs no crate for this).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Fields and monsters by 32-tile cell, to pick march targets near a city.
struct Targets {
    cols: usize,
    cells: Vec<Vec<(ObjectId, TilePos, bool)>>,
}

impl Targets {
    fn pick(&self, rng: &mut Rng, from: TilePos) -> Option<(ObjectId, bool)> {
        for _ in 0..16 {
            let d = 8 + rng.below(33) as i64;
            let angle = rng.below(8);
            let (dx, dy) = [
                (1, 0),
                (1, 1),
                (0, 1),
                (-1, 1),
                (-1, 0),
                (-1, -1),
                (0, -1),
                (1, -1),
            ][angle as usize];
            let x = i64::from(from.x) + dx * d + rng.below(9) as i64 - 4;
            let y = i64::from(from.y) + dy * d + rng.below(9) as i64 - 4;
            if x < 0 || y < 0 || x >= 1200 || y >= 1200 {
                continue;
            }
            let cell = (y as usize / 32) * self.cols + x as usize / 32;
            let list = &self.cells[cell];
            if list.is_empty() {
                continue;
            }
            let near = list.iter().min_by_key(|(_, p, _)| {
                (i64::from(p.x) - x).abs().max((i64::from(p.y) - y).abs())
            })?;
            return Some((near.0, near.2));
        }
        None
    }
}

/// How observers move in a tick.
#[derive(Clone, Copy)]
enum Motion {
    /// The mixed scenario: 3% pan a few tiles, 0.5% change zoom.
    Mixed,
    /// Nobody moves (the world's changes alone).
    Still,
    /// `n` observers pan at once, each up to a screen (±30 × ±20 tiles).
    Burst(u64),
}

struct World {
    kingdom: Kingdom,
    motion: Motion,
    /// Observers registered (ids `0..observers`).
    observers: u64,
    rng: Rng,
    targets: Targets,
    homes: Vec<TilePos>,
    viewports: Vec<Viewport>,
    /// The floor's copy of every standing object (tile, kind), taken at setup.
    standing: Vec<(TilePos, ObjectKind, u64)>,
    /// Time of each Interest phase alone (without draining and encoding).
    phase: Vec<Duration>,
}

fn send(k: &mut Kingdom, rng: &mut Rng, targets: &Targets, player: PlayerId, home: TilePos) {
    if let Some((target, field)) = targets.pick(rng, home) {
        let troops = Troops(vec![
            1000 + rng.below(3000) as u32,
            500 + rng.below(2000) as u32,
        ]);
        let mission = if field {
            Mission::Gather
        } else {
            Mission::Attack
        };
        k.submit(
            player,
            0,
            Command::SendMarch {
                troops,
                target,
                mission,
            },
        );
    }
}

fn setup() -> World {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let assets =
        Arc::new(load_dir(&dir).unwrap_or_else(|e| panic!("default assets invalid:\n{e}")));
    let t = Instant::now();
    let mut kingdom = Kingdom::generate(SEED, assets);
    let mut homes = Vec::new();
    for p in 1..=PLAYERS {
        let city = kingdom.add_player(PlayerId(p)).expect("free slot");
        let pos = kingdom
            .world
            .query::<&MapObject>()
            .get(
                &kingdom.world,
                kingdom
                    .world
                    .resource::<dominion_sim::map::ObjectIndex>()
                    .entity(city)
                    .expect("city"),
            )
            .expect("city on map")
            .pos;
        homes.push(pos);
    }
    let cols = 1200usize.div_ceil(32);
    let mut cells = vec![Vec::new(); cols * cols];
    let mut standing = Vec::new();
    for (o, f, m, c, s) in kingdom
        .world
        .query::<(
            &MapObject,
            Option<&ResourceField>,
            Option<&Monster>,
            Option<&City>,
            Option<&CitySlot>,
        )>()
        .iter(&kingdom.world)
    {
        if f.is_some() || m.is_some() {
            cells[(usize::from(o.pos.y) / 32) * cols + usize::from(o.pos.x) / 32].push((
                o.id,
                o.pos,
                f.is_some(),
            ));
        }
        let kind = match (f, m, c, s) {
            (_, _, Some(_), _) => ObjectKind::City,
            (Some(_), ..) => ObjectKind::Field,
            (_, Some(_), ..) => ObjectKind::Monster,
            _ => ObjectKind::CitySlot,
        };
        standing.push((o.pos, kind, o.id.0));
    }
    let targets = Targets { cols, cells };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (i, home) in homes.iter().enumerate() {
        for _ in 0..MARCHES_EACH {
            send(
                &mut kingdom,
                &mut rng,
                &targets,
                PlayerId(i as u64 + 1),
                *home,
            );
        }
    }
    kingdom.tick();
    kingdom.drain_events();
    eprintln!(
        "setup: {} objects, {} marches out after launch, {:.1?}",
        kingdom.object_counts().total(),
        kingdom.object_counts().marches,
        t.elapsed()
    );
    let mut viewports = Vec::new();
    for o in 0..OBSERVERS {
        let home = homes[(rng.below(PLAYERS)) as usize];
        let (w, h, zoom) = match rng.below(100) {
            0..70 => (40, 24, 0),
            70..95 => (96, 56, 1),
            _ => (240, 140, 2),
        };
        let centre = if rng.below(10) == 0 {
            TilePos::new(rng.below(1200) as u16, rng.below(1200) as u16)
        } else {
            home
        };
        let vp = Viewport::new(
            centre.x.saturating_sub(w / 2),
            centre.y.saturating_sub(h / 2),
            w,
            h,
            zoom,
        );
        let applied = kingdom
            .world
            .resource_mut::<Observers>()
            .set_viewport(o, vp);
        viewports.push(applied);
    }
    World {
        kingdom,
        motion: Motion::Mixed,
        observers: OBSERVERS,
        rng,
        targets,
        homes,
        viewports,
        standing,
        phase: Vec::new(),
    }
}

impl World {
    /// Viewport moves, then Receive + Simulate; the bot refills marches.
    fn before_interest(&mut self) {
        let k = &mut self.kingdom;
        let n = self.observers;
        let (pans, zooms) = match self.motion {
            Motion::Mixed => (n * 3 / 100, n / 200),
            Motion::Still => (0, 0),
            Motion::Burst(_) => (0, 0),
        };
        if let Motion::Burst(burst) = self.motion {
            for _ in 0..burst {
                let o = self.rng.below(n);
                let vp = &mut self.viewports[o as usize];
                vp.x = (i64::from(vp.x) + self.rng.below(61) as i64 - 30).clamp(0, 1199) as u16;
                vp.y = (i64::from(vp.y) + self.rng.below(41) as i64 - 20).clamp(0, 1199) as u16;
                *vp = k.world.resource_mut::<Observers>().set_viewport(o, *vp);
            }
        }
        for _ in 0..pans {
            let o = self.rng.below(n);
            let vp = &mut self.viewports[o as usize];
            vp.x = (i64::from(vp.x) + self.rng.below(13) as i64 - 6).clamp(0, 1199) as u16;
            vp.y = (i64::from(vp.y) + self.rng.below(13) as i64 - 6).clamp(0, 1199) as u16;
            *vp = k.world.resource_mut::<Observers>().set_viewport(o, *vp);
        }
        for _ in 0..zooms {
            let o = self.rng.below(n);
            let vp = &mut self.viewports[o as usize];
            let (w, h, zoom) = match vp.zoom {
                0 => (96, 56, 1),
                1 if self.rng.below(2) == 0 => (240, 140, 2),
                _ => (40, 24, 0),
            };
            *vp = Viewport::new(vp.x, vp.y, w, h, zoom);
            *vp = k.world.resource_mut::<Observers>().set_viewport(o, *vp);
        }
        k.run_phase(TickPhase::Receive);
        k.run_phase(TickPhase::Simulate);
    }

    /// Send phase, then the bot sends a march for every player under its quota.
    fn after_interest(&mut self) {
        let k = &mut self.kingdom;
        k.run_phase(TickPhase::Send);
        k.drain_events();
        let short: Vec<(PlayerId, u32)> = k
            .world
            .resource::<Players>()
            .0
            .iter()
            .filter(|(_, r)| r.marches < MARCHES_EACH)
            .map(|(p, r)| (*p, MARCHES_EACH - r.marches))
            .collect();
        for (p, missing) in short {
            let home = self.homes[(p.0 - 1) as usize];
            for _ in 0..missing.min(1) {
                send(k, &mut self.rng, &self.targets, p, home);
            }
        }
    }

    /// Interest phase, drain, encode every delta as a framed push (the shared path: one
    /// `DeltaBatch` per tick, each view and update encoded once). Returns (bytes, deltas, bytes
    /// for the busy observer).
    fn interest_and_encode(&mut self) -> (usize, usize, usize) {
        let k = &mut self.kingdom;
        let t = Instant::now();
        k.run_phase(TickPhase::Interest);
        self.phase.push(t.elapsed());
        let (mut bytes, mut busy, mut count) = (0, 0, 0);
        for batch in k.world.resource_mut::<Observers>().drain_batches() {
            for (o, wire) in encode_batch(&batch).expect("encodes") {
                let n = frame(wire);
                bytes += n;
                count += 1;
                if o == BUSY {
                    busy += n;
                }
            }
        }
        (bytes, count, busy)
    }

    /// The same through the plain path: `drain_deltas` (a copy of every view per observer) and
    /// one `encode` per delta.
    fn interest_and_encode_plain(&mut self) -> (usize, usize) {
        let k = &mut self.kingdom;
        k.run_phase(TickPhase::Interest);
        let deltas = k.world.resource_mut::<Observers>().drain_deltas();
        let bytes = deltas.iter().map(|(_, d)| frame_len(d)).sum();
        (bytes, deltas.len())
    }

    /// The floor: march tiles from routes, grid rebuild, one query per observer.
    fn floor(&mut self, scratch: &mut FloorScratch) -> usize {
        let tick = self.kingdom.tick_count();
        scratch.points.clear();
        scratch.points.extend(self.standing.iter().copied());
        let mut q = self.kingdom.world.query::<&March>();
        q.iter(&self.kingdom.world).for_each(|m| {
            scratch
                .points
                .push((m.position_at(tick), ObjectKind::March, m.id.0));
        });
        let cols = 1200usize.div_ceil(usize::from(CELL));
        let cell_of = |p: TilePos| {
            (usize::from(p.y) / usize::from(CELL)) * cols + usize::from(p.x) / usize::from(CELL)
        };
        scratch.start.clear();
        scratch.start.resize(cols * cols + 1, 0);
        for (p, _, _) in &scratch.points {
            scratch.start[cell_of(*p) + 1] += 1;
        }
        for i in 1..scratch.start.len() {
            scratch.start[i] += scratch.start[i - 1];
        }
        scratch.sorted.clear();
        scratch.sorted.resize(
            scratch.points.len(),
            (TilePos::default(), ObjectKind::City, 0),
        );
        scratch.fill.clear();
        scratch
            .fill
            .extend_from_slice(&scratch.start[..cols * cols]);
        for &(p, kind, id) in &scratch.points {
            let c = cell_of(p);
            scratch.sorted[scratch.fill[c]] = (p, kind, id);
            scratch.fill[c] += 1;
        }
        let config = self.kingdom.config().assets.aoi.clone();
        let mut found = 0;
        for vp in &self.viewports {
            let shows = config.zoom(vp.zoom).shows;
            let r = vp.rect();
            scratch.out.clear();
            let (c0, r0) = (
                r.x0 as usize / usize::from(CELL),
                r.y0 as usize / usize::from(CELL),
            );
            let (c1, r1) = (
                (r.x1 as usize / usize::from(CELL)).min(cols - 1),
                (r.y1 as usize / usize::from(CELL)).min(cols - 1),
            );
            for row in r0..=r1 {
                for col in c0..=c1 {
                    let c = row * cols + col;
                    for &(p, kind, id) in &scratch.sorted[scratch.start[c]..scratch.start[c + 1]] {
                        if shows.contains(kind) && r.contains(p) {
                            scratch.out.push(id);
                        }
                    }
                }
            }
            found += scratch.out.len();
        }
        black_box(found)
    }
}

#[derive(Default)]
struct FloorScratch {
    points: Vec<(TilePos, ObjectKind, u64)>,
    sorted: Vec<(TilePos, ObjectKind, u64)>,
    start: Vec<usize>,
    fill: Vec<usize>,
    out: Vec<u64>,
}

/// Bytes on the wire for one delta: the framed `WorldDelta` push.
fn frame_len(d: &ObserverDelta) -> usize {
    frame(encode(d).expect("encodes"))
}

/// Frames an encoded delta as the push a client receives; returns its length.
fn frame(wire: WorldDelta) -> usize {
    black_box(
        ServerMessage::WorldDelta(wire)
            .encode_frame(PUSH_REQUEST_ID)
            .expect("frame"),
    )
    .len()
}

/// The 80×80 zoom-1 viewport crossed by the most marches (sampled on a 40-tile lattice).
fn busiest_viewport(k: &mut Kingdom) -> (Viewport, usize) {
    let config = k.config().assets.aoi.clone();
    let views: Vec<_> = k
        .world
        .query::<&March>()
        .iter(&k.world)
        .map(march_view)
        .collect();
    let mut best = (Viewport::default(), 0);
    for y in (0..1120u16).step_by(40) {
        for x in (0..1120u16).step_by(40) {
            let vp = Viewport::new(x, y, 80, 80, 1);
            let n = views.iter().filter(|v| visible(v, &vp, &config)).count();
            if n > best.1 {
                best = (vp, n);
            }
        }
    }
    best
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

fn bench(c: &mut Criterion) {
    let mut w = setup();
    // `AOI_BENCH_BURSTS_ONLY=1`: the burst scenario alone (for profiling it).
    if std::env::var_os("AOI_BENCH_BURSTS_ONLY").is_some() {
        spikes(&mut w);
        return;
    }
    let t = Instant::now();
    // The first Interest phase indexes every object and enters every observer's view.
    w.before_interest();
    let (first_bytes, first_deltas, _) = w.interest_and_encode();
    w.after_interest();
    eprintln!(
        "first interest tick (index build + 10k full enters): {:.1?}, {first_deltas} deltas, {:.1} MB",
        t.elapsed(),
        first_bytes as f64 / 1e6
    );
    for _ in 0..WARMUP_TICKS {
        w.before_interest();
        w.interest_and_encode();
        w.after_interest();
    }

    let (busy_vp, crossing) = busiest_viewport(&mut w.kingdom);
    w.kingdom
        .world
        .resource_mut::<Observers>()
        .set_viewport(BUSY, busy_vp);
    w.before_interest();
    w.interest_and_encode();
    w.after_interest();
    let busy_objects = w
        .kingdom
        .world
        .resource::<Observers>()
        .view_of(BUSY)
        .map_or(0, |v| v.len());

    let mut scratch = FloorScratch::default();
    w.phase.clear();
    let (mut aoi, mut floor, mut simulate) = (Vec::new(), Vec::new(), Vec::new());
    let (mut total_bytes, mut total_deltas, mut busy_bytes, mut snapshot_bytes) = (0, 0, 0, 0);
    for _ in 0..MEASURED_TICKS {
        let t = Instant::now();
        w.before_interest();
        simulate.push(t.elapsed());
        let t = Instant::now();
        let (bytes, deltas, busy) = w.interest_and_encode();
        aoi.push(t.elapsed());
        total_bytes += bytes;
        total_deltas += deltas;
        busy_bytes += busy;
        let t = Instant::now();
        w.floor(&mut scratch);
        floor.push(t.elapsed());
        let view = w
            .kingdom
            .world
            .resource::<Observers>()
            .view_of(BUSY)
            .unwrap_or_default();
        snapshot_bytes += frame_len(&ObserverDelta {
            tick: w.kingdom.tick_count(),
            enter: view,
            ..ObserverDelta::default()
        });
        w.after_interest();
    }

    let mut phase: Vec<Duration> = std::mem::take(&mut w.phase);
    // The same phase on a one-thread rayon pool: does the data-parallel path pay on 2 cores?
    let serial_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    let mut serial = Vec::new();
    for _ in 0..MEASURED_TICKS / 2 {
        w.before_interest();
        let t = Instant::now();
        serial_pool.install(|| black_box(w.interest_and_encode()));
        serial.push(t.elapsed());
        w.after_interest();
    }

    // Still viewports: what the world's changes alone cost (marches starting, arriving, turning
    // home, ending; fields and cities changing).
    w.motion = Motion::Still;
    let mut still = Vec::new();
    let mut still_deltas = 0;
    for _ in 0..MEASURED_TICKS / 2 {
        w.before_interest();
        let t = Instant::now();
        still_deltas += w.interest_and_encode().1;
        still.push(t.elapsed());
        w.after_interest();
    }
    w.motion = Motion::Mixed;

    // The plain path on the same scenario: a copy of each delta per observer, encoded one by one.
    let mut plain = Vec::new();
    for _ in 0..MEASURED_TICKS / 4 {
        w.before_interest();
        let t = Instant::now();
        black_box(w.interest_and_encode_plain());
        plain.push(t.elapsed());
        w.after_interest();
    }

    // Criterion's view of the same two operations (fewer samples: each tick is tens of ms).
    // `AOI_BENCH_SUMMARY_ONLY=1` skips them (for profiling runs).
    let criterion_too = std::env::var_os("AOI_BENCH_SUMMARY_ONLY").is_none();
    let mut group = c.benchmark_group("aoi");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    if criterion_too {
        group.bench_function("interest_and_encode_10k_observers_50k_marches", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    w.before_interest();
                    let t = Instant::now();
                    black_box(w.interest_and_encode());
                    total += t.elapsed();
                    w.after_interest();
                }
                total
            })
        });
        group.bench_function("floor_grid_rebuild_and_10k_queries", |b| {
            b.iter(|| w.floor(&mut scratch))
        });
    }
    group.finish();

    let ticks = MEASURED_TICKS as f64;
    let seconds = ticks / f64::from(w.kingdom.config().assets.world.tick_hz);
    let counts = w.kingdom.object_counts();
    let (aoi_med, aoi_p99) = (percentile(&mut aoi, 50), percentile(&mut aoi, 99));
    let floor_med = percentile(&mut floor, 50);
    println!(
        "summary: {} objects, {} marches, {} observers; per tick over {MEASURED_TICKS} ticks: \
         AOI+encode median {aoi_med:.2?} p99 {aoi_p99:.2?}; floor (grid rebuild + {OBSERVERS} queries) \
         median {floor_med:.2?}; AOI/floor = {:.2}; simulate median {:.2?}; {:.0} deltas/tick, {:.1} kB/tick encoded",
        counts.total(),
        counts.marches,
        OBSERVERS + 1,
        aoi_med.as_secs_f64() / floor_med.as_secs_f64().max(1e-12),
        percentile(&mut simulate, 50),
        total_deltas as f64 / ticks,
        total_bytes as f64 / ticks / 1e3,
    );
    println!(
        "still viewports (world changes only): AOI+encode median {:.2?}, {:.0} deltas/tick",
        percentile(&mut still, 50),
        still_deltas as f64 / (MEASURED_TICKS / 2) as f64
    );
    println!(
        "breakdown: Interest phase alone median {:.2?}; draining + encoding the rest",
        percentile(&mut phase, 50)
    );
    println!(
        "paths: shared (drain_batches + encode_batch) median {aoi_med:.2?}; plain (drain_deltas + encode per delta) median {:.2?}",
        percentile(&mut plain, 50)
    );
    println!(
        "threads: AOI+encode median {aoi_med:.2?} on the default pool ({} threads) vs {:.2?} on one thread",
        rayon::current_num_threads(),
        percentile(&mut serial, 50)
    );
    println!(
        "bandwidth: busy viewport {}x{} at zoom {} ({crossing} marches crossing, {busy_objects} objects in view): \
         deltas {:.0} B/s = {:.2} kbit/s; full snapshot every tick {:.0} B/s = {:.0} kbit/s; ratio {:.0}x",
        busy_vp.w,
        busy_vp.h,
        busy_vp.zoom,
        busy_bytes as f64 / seconds,
        busy_bytes as f64 * 8.0 / seconds / 1e3,
        snapshot_bytes as f64 / seconds,
        snapshot_bytes as f64 * 8.0 / seconds / 1e3,
        snapshot_bytes as f64 / (busy_bytes as f64).max(1.0),
    );

    spikes(&mut w);
    idle(&mut w);
}

/// The Interest phase when nobody observes: on the busy world (50k marches changing), and on a
/// fresh default kingdom where nothing changes (the per-tick cost of the AOI itself).
fn idle(w: &mut World) {
    let ids: Vec<u64> = (0..w.observers).collect();
    {
        let mut obs = w.kingdom.world.resource_mut::<Observers>();
        for o in ids {
            obs.remove_observer(o);
        }
    }
    w.observers = 0;
    w.motion = Motion::Still;
    let mut busy = Vec::new();
    for _ in 0..MEASURED_TICKS / 2 {
        w.before_interest();
        let t = Instant::now();
        w.kingdom.run_phase(TickPhase::Interest);
        busy.push(t.elapsed());
        w.after_interest();
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let assets = Arc::new(load_dir(&dir).expect("default assets"));
    let mut empty = Kingdom::generate(SEED, assets);
    empty.tick();
    let mut quiet = Vec::new();
    for _ in 0..1000 {
        empty.run_phase(TickPhase::Receive);
        empty.run_phase(TickPhase::Simulate);
        let t = Instant::now();
        empty.run_phase(TickPhase::Interest);
        quiet.push(t.elapsed());
        empty.run_phase(TickPhase::Send);
    }
    println!(
        "no observers: Interest phase median {:.2?} on the busy world ({} marches); {:.2?} (p99 {:.2?}) on a fresh kingdom of {} objects where nothing changes",
        percentile(&mut busy, 50),
        w.kingdom.object_counts().marches,
        percentile(&mut quiet, 50),
        percentile(&mut quiet, 99),
        empty.object_counts().total(),
    );
}

/// Ticks of the burst scenario measured (each preceded by four still ticks).
const BURSTS: usize = 50;
/// Small viewports in the burst scenario, and how many of them pan in a burst tick.
const SMALL: u64 = 10_000;
const BURST: u64 = 1_000;

/// The burst scenario: 10k small (30×20, zoom 0) viewports on the same world; in one tick of
/// every five, 1,000 of them pan at once by up to a screen. Reports AOI+encode per tick for
/// still ticks and for burst ticks (median, p99) beside the 10 ms tick budget.
fn spikes(w: &mut World) {
    {
        let mut obs = w.kingdom.world.resource_mut::<Observers>();
        for o in 0..w.observers {
            obs.remove_observer(o);
        }
        obs.remove_observer(BUSY);
    }
    w.viewports.clear();
    for o in 0..SMALL {
        let home = w.homes[w.rng.below(PLAYERS) as usize];
        let centre = if w.rng.below(10) == 0 {
            TilePos::new(w.rng.below(1200) as u16, w.rng.below(1200) as u16)
        } else {
            home
        };
        let vp = Viewport::new(
            centre.x.saturating_sub(15),
            centre.y.saturating_sub(10),
            30,
            20,
            0,
        );
        let applied = w
            .kingdom
            .world
            .resource_mut::<Observers>()
            .set_viewport(o, vp);
        w.viewports.push(applied);
    }
    w.observers = SMALL;
    w.motion = Motion::Still;
    for _ in 0..20 {
        w.before_interest();
        w.interest_and_encode();
        w.after_interest();
    }
    let (mut still, mut burst, mut burst_phase) = (Vec::new(), Vec::new(), Vec::new());
    let (mut burst_deltas, mut burst_bytes) = (0, 0);
    let deferred0 = w.kingdom.world.resource::<Observers>().moves_deferred();
    let mut most_waiting = 0;
    for _ in 0..BURSTS {
        for i in 0..5 {
            w.motion = if i == 4 {
                Motion::Burst(BURST)
            } else {
                Motion::Still
            };
            w.before_interest();
            let t = Instant::now();
            let (bytes, deltas, _) = w.interest_and_encode();
            let took = t.elapsed();
            w.after_interest();
            if i == 4 {
                burst_phase.push(w.phase.last().copied().unwrap_or_default());
                burst.push(took);
                burst_deltas += deltas;
                burst_bytes += bytes;
            } else {
                still.push(took);
            }
            most_waiting =
                most_waiting.max(w.kingdom.world.resource::<Observers>().moves_waiting());
        }
    }
    let waited = w.kingdom.world.resource::<Observers>().moves_deferred() - deferred0;
    let moves_per_tick = w.kingdom.config().assets.aoi.viewport_moves_per_tick;
    let mut every: Vec<Duration> = still.iter().chain(&burst).copied().collect();
    w.motion = Motion::Mixed;
    println!(
        "bursts: {SMALL} viewports 30x20 at zoom 0; AOI+encode per still tick median {:.2?} p99 {:.2?}; \
         per tick with {BURST} panning at once (n={BURSTS}) median {:.2?} p99 {:.2?} (budget 10 ms); \
         Interest phase alone median {:.2?}; {:.0} deltas, {:.1} kB per burst tick; \
         every tick p99 {:.2?}; with viewport_moves_per_tick = {moves_per_tick} a move waited \
         {:.2} ticks on average, at most {most_waiting} moves waiting",
        percentile(&mut still, 50),
        percentile(&mut still, 99),
        percentile(&mut burst, 50),
        percentile(&mut burst, 99),
        percentile(&mut burst_phase, 50),
        burst_deltas as f64 / BURSTS as f64,
        burst_bytes as f64 / BURSTS as f64 / 1e3,
        percentile(&mut every, 99),
        waited as f64 / (BURSTS as u64 * BURST) as f64,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
