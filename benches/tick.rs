//! `cargo bench --bench tick`: one tick of the default kingdom beside a plain-Rust floor over
//! the same data, measured in the same run; plus map generation time.
//!
//! Two worlds:
//! - `tick/kingdom_tick_*_objects`: the generated map alone (~300k objects, no players).
//! - `tick/busy_tick_*`: the same map with 11,000 player cities and ~50,000 marches in mixed
//!   states (outbound, gathering, returning, stationed in allied cities, fighting monsters,
//!   scouting), kept busy by a bot
//!   driver that re-sends every march that comes home, so each measured tick also applies the
//!   commands of the previous one, as a live server does.
//!
//! - `tick/far_burst_*`: the generated map with the same 11,000 cities, each sending five
//!   marches to fields and monsters at least 300 tiles away in another zone ring (so each route
//!   crosses a wall through a pass). All orders of a wave are submitted at once, so each timed
//!   tick spends the whole `route_budget_per_tick` on far orders (planning their routes on rayon's
//!   workers)
//!   while the marches of earlier waves travel. Reported beside the near-target busy world. With
//!   the default budget this is what a host that does not plan ahead (a replay, a cold start)
//!   pays.
//! - `far planned ahead` (summary line only): the same waves as the live server takes them —
//!   routes planned between ticks (at most 80 ms of each period), a tick taking the planned
//!   orders and at most 8 unplanned ones (`dominion::route_admission`), the rest waiting.
//!
//! The floors are plain loops over a `Vec` holding the same data, touching each item once: what
//! any tick that visits every object (and every march clock) must at least pay on this machine
//! today. A summary line prints median, p99 and the ratio to the floor, timed directly in the
//! same run; a second line compares the per-tick march-clock scan run serially and with rayon.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dominion::assets::load_dir;
use dominion_sim::Kingdom;
use dominion_sim::city::City;
use dominion_sim::command::{
    Command, CommandInbox, Refusal, RoutePlanning, needs_far_search, prefetch_routes,
};
use dominion_sim::events::WorldEvent;
use dominion_sim::map::{MapObject, Monster, ObjectIndex, ResourceField, generate_map};
use dominion_sim::march::path::octile;
use dominion_sim::march::{MarchClock, MarchState, Mission, RouteGraph};
use dominion_sim::rng::SimRng;
use dominion_sim::timing::SystemTimes;
use dominion_sim::types::{ObjectId, PlayerId, TilePos, Troops};
use rayon::prelude::*;

const SEED: u64 = 1;
const PLAYERS: u64 = 11_000;
/// Cities in one square of this many tiles form an alliance (so neighbours can reinforce).
const ALLIANCE_BLOCK: u16 = 150;
const MARCHES_PER_PLAYER: usize = 5;

fn default_assets() -> Arc<dominion_sim::config::Assets> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    Arc::new(load_dir(&dir).unwrap_or_else(|e| panic!("default assets invalid:\n{e}")))
}

/// Median and p99 of `runs` direct timings of `f`.
fn time(runs: usize, f: &mut dyn FnMut()) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (samples[runs / 2], samples[runs * 99 / 100])
}

/// Per-system-set times of the ticks run, from the kingdom's [`SystemTimes`] stopwatch, in run
/// order.
#[derive(Default)]
struct SetTimes(Vec<(&'static str, Vec<Duration>)>);

impl SetTimes {
    /// Starts timing `k`'s sets (the clock handed to the sim is the bench's).
    fn start(k: &mut Kingdom) -> SetTimes {
        k.world.insert_resource(SystemTimes::new(Instant::now));
        SetTimes::default()
    }
    /// Takes the laps of the tick just run.
    fn record(&mut self, k: &Kingdom) {
        for &(name, spent) in k.world.resource::<SystemTimes>().laps() {
            match self.0.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(spent),
                None => self.0.push((name, vec![spent])),
            }
        }
    }
    /// "name median/p99" for every set.
    fn summary(&mut self) -> String {
        self.0
            .iter_mut()
            .map(|(name, v)| {
                v.sort();
                format!(
                    "{name} {:.2?}/{:.2?}",
                    v[v.len() / 2],
                    v[v.len() * 99 / 100]
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What each bot player sends: five missions to objects near its city.
struct Bot {
    orders: BTreeMap<PlayerId, Vec<Command>>,
    reinforce: BTreeMap<PlayerId, Command>,
    next: BTreeMap<PlayerId, usize>,
    failures: BTreeMap<PlayerId, u32>,
    request: u32,
    /// Commands submitted so far.
    sent: u64,
}

impl Bot {
    /// Picks, for every player, targets in a square around its city: the three nearest fields
    /// (gather), the nearest monster (attack), the next field (scout), and once, the nearest
    /// allied city (reinforce, staying until the end).
    fn plan(k: &mut Kingdom) -> Bot {
        let mut orders = BTreeMap::new();
        let mut reinforce = BTreeMap::new();
        let cities: Vec<(PlayerId, TilePos)> = (1..=PLAYERS)
            .filter_map(|p| {
                let (id, _) = k.city(PlayerId(p))?;
                let e = k.world.resource::<ObjectIndex>().entity(id)?;
                Some((PlayerId(p), k.world.get::<MapObject>(e)?.pos))
            })
            .collect();
        let block =
            |p: TilePos| u64::from(p.x / ALLIANCE_BLOCK) * 1000 + u64::from(p.y / ALLIANCE_BLOCK);
        for &(p, home) in &cities {
            k.set_alliance(p, Some(block(home)));
        }
        for (p, home) in cities {
            let mut fields = Vec::new();
            let mut monster = None;
            let mut ally = None;
            'ring: for r in 1i32..=30 {
                for dy in -r..=r {
                    for dx in -r..=r {
                        if dx.abs() != r && dy.abs() != r {
                            continue;
                        }
                        let (x, y) = (i32::from(home.x) + dx, i32::from(home.y) + dy);
                        if x < 0 || y < 0 {
                            continue;
                        }
                        let index = k.world.resource::<ObjectIndex>();
                        let Some(e) = index.at(TilePos::new(x as u16, y as u16)) else {
                            continue;
                        };
                        let Some(o) = k.world.get::<MapObject>(e) else {
                            continue;
                        };
                        if k.world.get::<ResourceField>(e).is_some() && fields.len() < 4 {
                            fields.push(o.id);
                        }
                        if k.world.get::<Monster>(e).is_some() && monster.is_none() {
                            monster = Some(o.id);
                        }
                        if ally.is_none()
                            && o.pos != home
                            && block(o.pos) == block(home)
                            && k.world.get::<City>(e).is_some()
                        {
                            ally = Some(o.id);
                        }
                        if fields.len() == 4 && monster.is_some() && ally.is_some() {
                            break 'ring;
                        }
                    }
                }
            }
            let mut list: Vec<Command> = fields
                .iter()
                .take(3)
                .enumerate()
                .map(|(i, &f)| Command::SendMarch {
                    troops: Troops(vec![1000 + 200 * i as u32, 200]),
                    target: f,
                    mission: Mission::Gather,
                })
                .collect();
            if let Some(m) = monster {
                list.push(Command::SendMarch {
                    troops: Troops(vec![2500, 2500, 500]),
                    target: m,
                    mission: Mission::Attack,
                });
            }
            if let Some(&f) = fields.get(3).or(fields.first()) {
                list.push(Command::SendMarch {
                    troops: Troops::default(),
                    target: f,
                    mission: Mission::Scout,
                });
            }
            orders.insert(p, list);
            if let Some(city) = ally {
                reinforce.insert(
                    p,
                    Command::SendMarch {
                        troops: Troops(vec![500, 500]),
                        target: city,
                        mission: Mission::Reinforce,
                    },
                );
            }
        }
        Bot {
            orders,
            reinforce,
            next: BTreeMap::new(),
            failures: BTreeMap::new(),
            request: 0,
            sent: 0,
        }
    }

    /// Queues `player`'s next order (cycling through its list).
    fn send_next(&mut self, k: &mut Kingdom, player: PlayerId) {
        let Some(list) = self.orders.get(&player) else {
            return;
        };
        if list.is_empty() {
            return;
        }
        let i = self.next.entry(player).or_insert(0);
        let c = list[*i % list.len()].clone();
        *i += 1;
        self.request = self.request.wrapping_add(1);
        self.sent += 1;
        k.submit(player, self.request, c);
    }

    /// Re-sends a march for every one that came home this tick, and tries the next order after
    /// a refusal (up to four times in a row, as a player would, then waits for a return).
    fn react(&mut self, k: &mut Kingdom, events: &[WorldEvent]) {
        for e in events {
            match e {
                WorldEvent::MarchReturned { player, .. }
                | WorldEvent::MarchDestroyed { player, .. } => {
                    self.failures.remove(player);
                    self.send_next(k, *player);
                }
                WorldEvent::CommandResult {
                    player,
                    result: Ok(_),
                    ..
                } => {
                    self.failures.remove(player);
                }
                WorldEvent::CommandResult {
                    player,
                    result: Err(r),
                    ..
                } if !matches!(r, Refusal::QueueFull { .. }) => {
                    let f = self.failures.entry(*player).or_insert(0);
                    *f += 1;
                    if *f < 5 {
                        self.send_next(k, *player);
                    }
                }
                _ => {}
            }
        }
    }
}

/// For every player, five orders to objects at least 300 tiles away in another zone ring and in
/// the city's region: three fields (gather), a monster (attack), a field (scout).
fn far_orders(k: &mut Kingdom) -> BTreeMap<PlayerId, Vec<Command>> {
    let mut fields = Vec::new();
    let mut monsters = Vec::new();
    for (o, f, m) in k
        .world
        .query::<(&MapObject, Option<&ResourceField>, Option<&Monster>)>()
        .iter(&k.world)
    {
        if f.is_some() {
            fields.push((o.id, o.pos));
        } else if m.is_some() {
            monsters.push((o.id, o.pos));
        }
    }
    fields.sort_unstable();
    monsters.sort_unstable();
    let mut orders = BTreeMap::new();
    for p in 1..=PLAYERS {
        let Some((id, _)) = k.city(PlayerId(p)) else {
            continue;
        };
        let index = k.world.resource::<ObjectIndex>();
        let Some(home) = index
            .entity(id)
            .and_then(|e| k.world.get::<MapObject>(e))
            .map(|o| o.pos)
        else {
            continue;
        };
        let graph = k.world.resource::<RouteGraph>();
        let terrain = k.world.resource::<dominion_sim::map::Terrain>();
        let zone = |t: TilePos| terrain.get(t).map(|t| t.zone());
        let mut rng = SimRng::new(SEED, 1000 + p);
        let mut far = |pool: &[(ObjectId, TilePos)]| {
            for _ in 0..500 {
                let (id, pos) = pool[rng.below(pool.len() as u64) as usize];
                if octile(home, pos) >= 300_000
                    && zone(home) != zone(pos)
                    && graph.connected(home, pos)
                {
                    return Some(id);
                }
            }
            None
        };
        let mut list = Vec::new();
        for i in 0..3 {
            if let Some(f) = far(&fields) {
                list.push(Command::SendMarch {
                    troops: Troops(vec![1000 + 200 * i, 200]),
                    target: f,
                    mission: Mission::Gather,
                });
            }
        }
        if let Some(m) = far(&monsters) {
            list.push(Command::SendMarch {
                troops: Troops(vec![2500, 2500, 500]),
                target: m,
                mission: Mission::Attack,
            });
        }
        if let Some(f) = far(&fields) {
            list.push(Command::SendMarch {
                troops: Troops::default(),
                target: f,
                mission: Mission::Scout,
            });
        }
        orders.insert(PlayerId(p), list);
    }
    orders
}

fn census(k: &mut Kingdom) -> String {
    let mut c = [0usize; 4];
    for m in k.marches() {
        c[match m.state {
            MarchState::Outbound => 0,
            MarchState::Gathering { .. } => 1,
            MarchState::Stationed { .. } => 2,
            MarchState::Returning => 3,
        }] += 1;
    }
    format!(
        "{} marches: {} outbound, {} gathering, {} stationed, {} returning",
        c.iter().sum::<usize>(),
        c[0],
        c[1],
        c[2],
        c[3]
    )
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
    let floor = |plain: &mut Vec<(MapObject, u64)>| {
        let mut acc = 0u64;
        for (o, remaining) in plain.iter_mut() {
            *remaining = remaining.wrapping_add(u64::from(o.pos.x));
            acc = acc.wrapping_add(*remaining);
        }
        black_box(acc);
    };

    let mut group = c.benchmark_group("tick");
    group.bench_function(format!("kingdom_tick_{objects}_objects"), |b| {
        b.iter(|| kingdom.tick())
    });
    group.bench_function(format!("floor_plain_loop_{objects}_objects"), |b| {
        b.iter(|| floor(&mut plain))
    });
    group.finish();

    let (tick_med, tick_p99) = time(200, &mut || kingdom.tick());
    let (floor_med, _) = time(200, &mut || floor(&mut plain));
    println!(
        "summary: {objects} objects; tick median {:?} p99 {:?}; floor median {:?}; tick/floor = {:.2}",
        tick_med,
        tick_p99,
        floor_med,
        tick_med.as_secs_f64() / floor_med.as_secs_f64().max(1e-12)
    );

    // The busy world: 10k cities, 50k marches in mixed states.
    let t = Instant::now();
    let mut busy = Kingdom::generate(SEED, assets.clone());
    for p in 1..=PLAYERS {
        busy.add_player(PlayerId(p)).expect("enough city slots");
    }
    let mut bot = Bot::plan(&mut busy);
    // Stagger the first orders over 400 ticks so arrivals, gathering and returns interleave.
    let players: Vec<PlayerId> = bot.orders.keys().copied().collect();
    for (&p, c) in &bot.reinforce {
        busy.submit(p, 0, c.clone());
    }
    for wave in 0..MARCHES_PER_PLAYER - 1 {
        for &p in &players {
            bot.send_next(&mut busy, p);
        }
        for _ in 0..80 {
            busy.tick();
            let events = busy.drain_events();
            if wave + 2 == MARCHES_PER_PLAYER {
                bot.react(&mut busy, &events);
            }
        }
    }
    // Settle into a steady state before measuring.
    for _ in 0..600 {
        busy.tick();
        let events = busy.drain_events();
        bot.react(&mut busy, &events);
    }
    let setup = t.elapsed();
    let busy_objects = busy.object_counts();
    let marches = busy_objects.marches;
    println!(
        "busy world: {} map objects + {} cities, {}; built in {:.1?}",
        busy_objects.resource_fields + busy_objects.monsters + busy_objects.city_slots,
        busy_objects.cities,
        census(&mut busy),
        setup
    );

    // Floor over the same data: every map object and every march clock, touched once.
    let mut busy_plain: Vec<(MapObject, u64)> = busy
        .world
        .query::<(&MapObject, Option<&ResourceField>)>()
        .iter(&busy.world)
        .map(|(o, f)| (*o, f.map_or(0, |f| f.remaining)))
        .collect();
    let mut clocks: Vec<(ObjectId, u64)> = busy
        .world
        .query::<&MarchClock>()
        .iter(&busy.world)
        .map(|c| (c.id, c.next))
        .collect();
    let busy_floor = |plain: &mut Vec<(MapObject, u64)>, clocks: &mut Vec<(ObjectId, u64)>| {
        floor(plain);
        let now = 1_000u64;
        let mut due = 0usize;
        for (_, next) in clocks.iter_mut() {
            due += usize::from(*next <= now);
            *next = next.wrapping_add(1);
        }
        black_box(due);
    };

    let busy_tick = |k: &mut Kingdom, bot: &mut Bot| {
        k.tick();
        let events = k.drain_events();
        bot.react(k, &events);
        black_box(events.len());
    };
    let mut group = c.benchmark_group("tick");
    group.bench_function(
        format!("busy_tick_{objects}_objects_{marches}_marches"),
        |b| b.iter(|| busy_tick(&mut busy, &mut bot)),
    );
    group.bench_function(
        format!("floor_plain_loop_{objects}_objects_{marches}_marches"),
        |b| b.iter(|| busy_floor(&mut busy_plain, &mut clocks)),
    );
    group.finish();

    let (sent0, tick0) = (bot.sent, busy.tick_count());
    let mut sets = SetTimes::start(&mut busy);
    let (busy_med, busy_p99) = time(1000, &mut || {
        busy_tick(&mut busy, &mut bot);
        sets.record(&busy);
    });
    let per_tick = (bot.sent - sent0) as f64 / (busy.tick_count() - tick0) as f64;
    let (bfloor_med, _) = time(1000, &mut || busy_floor(&mut busy_plain, &mut clocks));
    println!(
        "summary busy: {} map objects, {} cities, {}, {:.0} commands/tick; tick median {:?} p99 {:?}; floor median {:?}; tick/floor = {:.2}",
        objects,
        busy_objects.cities,
        census(&mut busy),
        per_tick,
        busy_med,
        busy_p99,
        bfloor_med,
        busy_med.as_secs_f64() / bfloor_med.as_secs_f64().max(1e-12)
    );
    println!(
        "summary busy per system set (median/p99): {}",
        sets.summary()
    );

    // Does rayon pay for the per-tick scan of march clocks? Serial vs data-parallel, same data.
    let now = busy.tick_count();
    let (serial, _) = time(500, &mut || {
        let due: Vec<ObjectId> = clocks.iter().filter(|c| c.1 <= now).map(|c| c.0).collect();
        black_box(due);
    });
    let (parallel, _) = time(500, &mut || {
        let due: Vec<ObjectId> = clocks
            .par_iter()
            .filter(|c| c.1 <= now)
            .map(|c| c.0)
            .collect();
        black_box(due);
    });
    println!(
        "march clock scan over {} clocks: serial median {:?}, rayon median {:?} ({} threads)",
        clocks.len(),
        serial,
        parallel,
        rayon::current_num_threads()
    );
    drop(busy);

    // Far targets: waves of orders across zone rings, each tick applying the per-tick cap.
    let mut far = Kingdom::generate(SEED, assets.clone());
    for p in 1..=PLAYERS {
        far.add_player(PlayerId(p)).expect("enough city slots");
    }
    let orders = far_orders(&mut far);
    let cap = assets.marches.march.route_budget_per_tick;
    let mut samples = Vec::new();
    let mut far_sets = SetTimes::start(&mut far);
    let mut searched = 0u64;
    let mut sent = 0usize;
    let mut request = 0u32;
    for wave in 0..MARCHES_PER_PLAYER {
        for (&p, list) in &orders {
            if let Some(c) = list.get(wave) {
                request += 1;
                sent += 1;
                far.submit(p, request, c.clone());
            }
        }
        while !far.world.resource::<CommandInbox>().is_empty() {
            let t = Instant::now();
            far.tick();
            samples.push(t.elapsed());
            far_sets.record(&far);
            black_box(far.drain_events());
            searched += u64::from(far.world.resource::<RoutePlanning>().searched);
        }
    }
    let mut far_plain: Vec<(MapObject, u64)> = far
        .world
        .query::<(&MapObject, Option<&ResourceField>)>()
        .iter(&far.world)
        .map(|(o, f)| (*o, f.map_or(0, |f| f.remaining)))
        .collect();
    let mut far_clocks: Vec<(ObjectId, u64)> = far
        .world
        .query::<&MarchClock>()
        .iter(&far.world)
        .map(|c| (c.id, c.next))
        .collect();
    let (far_floor, _) = time(200, &mut || busy_floor(&mut far_plain, &mut far_clocks));
    samples.sort();
    let ticks = samples.len();
    let (far_med, far_p99) = (samples[ticks / 2], samples[ticks * 99 / 100]);
    println!(
        "summary far burst: {} far orders over {} ticks (route budget {} per tick), {:.0} route searches/tick, {}; tick median {:?} p99 {:?}; floor median {:?}; tick/floor = {:.2}",
        sent,
        ticks,
        cap,
        searched as f64 / ticks as f64,
        census(&mut far),
        far_med,
        far_p99,
        far_floor,
        far_med.as_secs_f64() / far_floor.as_secs_f64().max(1e-12)
    );
    println!(
        "summary far burst per system set (median/p99): {}",
        far_sets.summary()
    );
    drop(far);
    far_planned_ahead(assets, orders);
}

/// Between two ticks the live server has ~90 ms in which the tick thread would sleep.
const BETWEEN_TICKS: Duration = Duration::from_millis(80);
/// `dominion::world_bridge::DEFAULT_UNPLANNED_ROUTES_PER_TICK`.
const UNPLANNED_PER_TICK: usize = dominion::world_bridge::DEFAULT_UNPLANNED_ROUTES_PER_TICK;

/// The same waves of far orders as the live server takes them: between ticks (untimed, but at
/// most [`BETWEEN_TICKS`] of it) the routes of queued orders are planned ahead
/// (`dominion::route_prefetch`); a tick takes every queued order whose route is planned and at
/// most [`UNPLANNED_PER_TICK`] that are not (`dominion::route_admission`), the rest wait.
fn far_planned_ahead(
    assets: Arc<dominion_sim::config::Assets>,
    orders: BTreeMap<PlayerId, Vec<Command>>,
) {
    let mut far = Kingdom::generate(SEED, assets);
    for p in 1..=PLAYERS {
        far.add_player(PlayerId(p)).expect("enough city slots");
    }
    let mut queue: std::collections::VecDeque<(PlayerId, Command)> = Default::default();
    let mut samples = Vec::new();
    let mut planning = Duration::ZERO;
    let mut sets = SetTimes::start(&mut far);
    let (mut searched, mut applied, mut request) = (0u64, 0usize, 0u32);
    let started_waves = Instant::now();
    let mut ticks_run = 0usize;
    for wave in 0..MARCHES_PER_PLAYER {
        queue.extend(
            orders
                .iter()
                .filter_map(|(&p, list)| list.get(wave).map(|c| (p, c.clone()))),
        );
        while !queue.is_empty() || !far.world.resource::<CommandInbox>().is_empty() {
            // Between ticks: plan queued orders ahead, batches of 16, while time remains.
            let t = Instant::now();
            let mut next = 0;
            while next < queue.len() && t.elapsed() < BETWEEN_TICKS {
                let end = (next + 16).min(queue.len());
                let batch: Vec<(PlayerId, Command)> = queue.range(next..end).cloned().collect();
                prefetch_routes(&mut far.world, batch.iter().map(|(p, c)| (*p, c)));
                next = end;
            }
            planning += t.elapsed();
            // Admission: planned orders go in; at most UNPLANNED_PER_TICK unplanned ones.
            let mut unplanned = 0;
            let mut waiting = std::collections::VecDeque::new();
            for (p, c) in queue.drain(..) {
                if needs_far_search(&far.world, p, &c) {
                    unplanned += 1;
                    if unplanned > UNPLANNED_PER_TICK {
                        waiting.push_back((p, c));
                        continue;
                    }
                }
                request += 1;
                applied += 1;
                far.submit(p, request, c);
            }
            queue = waiting;
            let t = Instant::now();
            far.tick();
            samples.push(t.elapsed());
            ticks_run += 1;
            sets.record(&far);
            black_box(far.drain_events());
            searched += u64::from(far.world.resource::<RoutePlanning>().searched);
        }
    }
    let game_seconds = ticks_run as f64 / 10.0;
    samples.sort();
    let ticks = samples.len();
    let (med, p99) = (samples[ticks / 2], samples[ticks * 99 / 100]);
    println!(
        "summary far planned ahead: {} far orders over {} ticks ({:.0} applied per game second at 10 Hz; {:.1} s of wall time), {:.1} route searches/tick inside ticks, planning ahead {:.1} ms/tick between ticks (budget {:?}); tick median {:?} p99 {:?}",
        applied,
        ticks,
        applied as f64 / game_seconds,
        started_waves.elapsed().as_secs_f64(),
        searched as f64 / ticks as f64,
        planning.as_secs_f64() * 1e3 / ticks as f64,
        BETWEEN_TICKS,
        med,
        p99
    );
    println!(
        "summary far planned ahead per system set (median/p99): {}",
        sets.summary()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
