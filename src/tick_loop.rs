//! The tick thread: paces ticks, applies reloads at tick boundaries, times phases, logs events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use dominion_sim::Kingdom;
use dominion_sim::events::WorldEvent;
use dominion_sim::schedule::TickPhase;
use dominion_sim::timing::SystemTimes;

use dominion_persistence::journal::JournalInput;

use crate::commands::{journal_unavailable, saving_behind};
use crate::driver::{Pace, TickDriver};
use crate::fence::Fence;
use crate::journal::TickJournal;
use crate::metrics::Metrics;
use crate::persist::Persister;
use crate::tick_status::ReloadResult;
use crate::watch::Reload;
use crate::world_bridge::WorldBridge;
use dominion_persistence::store::now_unix_ms;

/// Why the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// `--ticks N` reached.
    TickLimit,
    /// Shutdown requested (Ctrl-C, SIGTERM).
    Requested,
    /// Another instance took the kingdom (see [`crate::fence`]): the last tick's results were
    /// not sent.
    Fenced,
}

/// How often a journal that keeps failing is reported again.
const JOURNAL_FAILURE_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// A run of failed journal appends, for the log.
struct JournalOutage {
    since: Instant,
    first_tick: u64,
    attempts: u64,
    disk_full: bool,
    reported: Instant,
}

impl JournalOutage {
    /// Logs a failed append at `tick`: the first loudly with what it means, then every
    /// [`JOURNAL_FAILURE_REPORT_EVERY`].
    fn failed(
        outage: &mut Option<JournalOutage>,
        tick: u64,
        e: &dominion_persistence::journal::JournalError,
        waiting: usize,
    ) {
        let now = Instant::now();
        let disk_full = e.is_disk_full();
        let what = if disk_full {
            "the disk is full (free space on it; the journal resumes by itself)"
        } else {
            "the disk cannot be written (check the file system; the journal resumes by itself)"
        };
        match outage {
            None => {
                tracing::error!(
                    tick,
                    "the tick journal cannot be written: {what}: {e}; commands are refused \
                     (code 4) and the results of tick {tick} on are held until their inputs are \
                     durable; the world keeps ticking and the journal is retried every tick"
                );
                *outage = Some(JournalOutage {
                    since: now,
                    first_tick: tick,
                    attempts: 1,
                    disk_full,
                    reported: now,
                });
            }
            Some(o) => {
                o.attempts += 1;
                o.disk_full = disk_full;
                if now.duration_since(o.reported) >= JOURNAL_FAILURE_REPORT_EVERY {
                    o.reported = now;
                    tracing::error!(
                        tick,
                        "the tick journal still cannot be written after {} attempts over {:.0?}: \
                         {what}: {e}; {waiting} tick record(s) wait (since tick {})",
                        o.attempts,
                        now.duration_since(o.since),
                        o.first_tick
                    );
                }
            }
        }
    }

    /// Logs the end of an outage.
    fn ended(outage: &mut Option<JournalOutage>, tick: u64) {
        if let Some(o) = outage.take() {
            tracing::warn!(
                tick,
                "the tick journal is durable again after {} failed attempts over {:.0?} (ticks \
                 {}..{tick}); commands are accepted again and the held results are sent",
                o.attempts,
                o.since.elapsed(),
                o.first_tick
            );
        }
    }
}

/// Routes are planned ahead only while the next tick is at least this far off.
const PLAN_AHEAD_LEAD: std::time::Duration = std::time::Duration::from_millis(10);
/// March orders planned ahead per batch: about 2 ms of far searches on two workers.
const PLAN_AHEAD_BATCH: usize = 16;
/// How often the waiting tick thread looks for new orders to plan ahead.
const PLAN_AHEAD_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// Runs ticks until `limit` ticks have run, `stop` is set or `fence` trips. With a journal, each
/// tick's inputs are made durable after the tick runs and before its results are sent; a fence
/// tripped by then keeps them from being sent at all.
#[allow(clippy::too_many_arguments)]
pub fn run_ticks(
    kingdom: &mut Kingdom,
    metrics: &Metrics,
    reloads: &mpsc::Receiver<Reload>,
    stop: &Arc<AtomicBool>,
    fence: &Fence,
    limit: Option<u64>,
    mut bridge: Option<&mut WorldBridge>,
    mut persist: Option<&mut Persister>,
    mut journal: Option<&mut TickJournal>,
) -> Stop {
    let save_stats = persist.as_ref().map(|p| p.stats());
    let world_cfg = kingdom.config().assets.world.clone();
    let mut driver = TickDriver::new(
        world_cfg.tick_hz,
        world_cfg.max_catch_up_ticks,
        Instant::now(),
    );
    let mut ran = 0u64;
    let mut outage: Option<JournalOutage> = None;
    metrics.status.set_tick_hz(world_cfg.tick_hz);
    kingdom
        .world
        .insert_resource(SystemTimes::new(Instant::now));
    update_entity_gauges(kingdom, metrics);
    loop {
        let why = if fence.is_tripped() {
            metrics.fenced.set(1);
            Some(Stop::Fenced)
        } else if stop.load(Ordering::Relaxed) {
            Some(Stop::Requested)
        } else if limit.is_some_and(|n| ran >= n) {
            Some(Stop::TickLimit)
        } else {
            None
        };
        if let Some(why) = why {
            if let Some(j) = journal.as_deref()
                && j.failing()
            {
                tracing::error!(
                    "stopping with {} tick record(s) the journal could not take (since tick {}): \
                     their command results were never sent; the final save covers them if it lands",
                    j.waiting_records(),
                    j.durable_through(kingdom.tick_count()) + 1
                );
            }
            return why;
        }
        match driver.poll(Instant::now()) {
            Pace::SleepUntil(t) => {
                let wait = t.saturating_duration_since(Instant::now());
                // While the next tick is a while off, plan the routes of the march orders that
                // came in meanwhile (a batch at a time, so the tick is never held up long).
                if wait >= PLAN_AHEAD_LEAD
                    && let Some(b) = bridge.as_deref_mut()
                {
                    let t = Instant::now();
                    let searched = b.routes_searched_ahead();
                    if b.plan_routes_ahead(kingdom, PLAN_AHEAD_BATCH) > 0 {
                        metrics.observe_system("route_prefetch", t.elapsed());
                        metrics
                            .route_searches_ahead
                            .inc_by(b.routes_searched_ahead() - searched);
                        continue;
                    }
                }
                // Wake often enough to plan new orders ahead and to notice a shutdown request.
                std::thread::sleep(wait.min(PLAN_AHEAD_POLL));
                continue;
            }
            Pace::Tick => {}
        }
        while let Ok(reload) = reloads.try_recv() {
            stage_reload(kingdom, metrics, reload, journal.as_deref_mut());
        }
        let started = Instant::now();
        if let Some(b) = bridge.as_deref_mut() {
            b.set_refusal(match journal.as_deref() {
                Some(j) if j.failing() => Some(journal_unavailable(
                    outage.as_ref().is_none_or(|o| o.disk_full),
                )),
                Some(j) if j.behind() => Some(saving_behind()),
                _ => None,
            });
            b.before_tick(kingdom);
            if let Some(j) = journal.as_deref_mut() {
                j.extend(b.take_journaled());
            } else {
                b.take_journaled();
            }
            metrics.observe_inbox(&b.inbox_stats());
            metrics.observe_system("bridge_inbox", started.elapsed());
        }
        // The tick's journal record is closed once its world state is final (after Simulate)
        // and made durable on a helper thread while the Interest phase runs: the `fdatasync`
        // overlaps the AOI instead of adding to the tick. Results still wait for it (the join
        // below comes before `after_tick`).
        let mut committed = None;
        std::thread::scope(|scope| {
            let mut writer = None;
            let mut to_commit = journal.as_deref_mut();
            for phase in TickPhase::ALL {
                if phase == TickPhase::Interest
                    && let Some(j) = to_commit.take()
                {
                    j.seal(kingdom);
                    writer = Some(scope.spawn(move || {
                        let t = Instant::now();
                        (j.write_waiting(), t.elapsed())
                    }));
                }
                let t = Instant::now();
                kingdom.run_phase(phase);
                metrics
                    .phase_seconds
                    .with_label_values(&[phase.name()])
                    .observe(t.elapsed().as_secs_f64());
            }
            if let Some(w) = writer {
                committed = Some(w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
        });
        if let Some(j) = journal.as_deref_mut() {
            let tick = kingdom.tick_count();
            let committed = committed.unwrap_or_else(|| {
                let t = Instant::now();
                (j.commit(kingdom), t.elapsed())
            });
            match committed {
                (Ok(wrote), spent) => {
                    if wrote {
                        metrics
                            .phase_seconds
                            .with_label_values(&["journal"])
                            .observe(spent.as_secs_f64());
                    }
                    JournalOutage::ended(&mut outage, tick);
                }
                (Err(e), _) => {
                    // The tick's record waits in memory and is retried next tick; its results
                    // are held back until it is durable (see `crate::journal`).
                    metrics.journal_write_failures.inc();
                    JournalOutage::failed(&mut outage, tick, &e, j.waiting_records());
                }
            }
            metrics.journal_failing.set(i64::from(j.failing()));
            if let Some(b) = bridge.as_deref_mut() {
                b.set_durable_through(j.durable_through(tick));
            }
        }
        let took = started.elapsed();
        metrics.tick_seconds.observe(took.as_secs_f64());
        metrics.status.record_tick(Instant::now(), took);
        for &(system, spent) in kingdom.world.resource::<SystemTimes>().laps() {
            metrics.observe_system(system, spent);
        }
        metrics.observe_routes(
            kingdom
                .world
                .resource::<dominion_sim::command::RoutePlanning>(),
        );
        metrics.ticks.inc();
        if took > driver.period() {
            metrics.tick_overruns.inc();
            tracing::warn!(
                tick = kingdom.tick_count(),
                took_ms = took.as_secs_f64() * 1e3,
                "tick overran its period"
            );
        }
        {
            let observers = kingdom.world.resource::<dominion_sim::aoi::Observers>();
            metrics
                .aoi_moves_waiting
                .set(observers.moves_waiting() as i64);
            sync_counter(&metrics.aoi_moves_deferred, observers.moves_deferred());
        }
        sync_counter(&metrics.ticks_late, driver.late_ticks);
        sync_counter(&metrics.ticks_skipped, driver.skipped_ticks);
        let events = kingdom.drain_events();
        // Fenced while this tick ran: its results (and anything after) are never acknowledged,
        // and nothing more is saved.
        if fence.is_tripped() {
            metrics.fenced.set(1);
            return Stop::Fenced;
        }
        if let Some(b) = bridge.as_deref_mut() {
            let t = Instant::now();
            b.after_tick(kingdom, &events);
            metrics.journal_held_results.set(b.held_results() as i64);
            metrics.observe_system("bridge_push", t.elapsed());
            for spent in b.take_command_latencies() {
                metrics.command_server_seconds.observe(spent.as_secs_f64());
            }
        }
        for event in events {
            if let WorldEvent::ConfigApplied { version, tick } = event {
                let cfg = &kingdom.config().assets;
                driver.set_rate(cfg.world.tick_hz, cfg.world.max_catch_up_ticks);
                metrics.status.set_tick_hz(cfg.world.tick_hz);
                metrics.config_version.set(i64::from(version));
                tracing::info!(
                    version,
                    tick,
                    summary = %cfg.summary(),
                    "config version {version} applied"
                );
            }
        }
        if let Some(p) = persist.as_deref_mut() {
            let queued = p.after_tick(kingdom);
            // Grants are answered only once a save covering them is durable.
            if let (Some(b), Some(saved)) = (bridge.as_deref_mut(), p.durable_tick()) {
                b.saves_durable(saved);
            }
            if let Some(j) = journal.as_deref_mut() {
                if queued {
                    j.save_queued();
                }
                if let Some(saved) = p.durable_tick()
                    && let Err(e) = j.save_durable(saved)
                {
                    tracing::error!(
                        "compacting the journal behind the save of tick {saved} failed: {e}"
                    );
                }
            }
        }
        if let Some(stats) = &save_stats {
            metrics.observe_saves(stats);
        }
        ran += 1;
        if kingdom.tick_count().is_multiple_of(50) {
            update_entity_gauges(kingdom, metrics);
        }
    }
}

fn sync_counter(counter: &prometheus::IntCounter, value: u64) {
    let have = counter.get();
    if value > have {
        counter.inc_by(value - have);
    }
}

/// Validated configs are staged for the next tick boundary (and, with a journal, kept by digest
/// and journaled as an input of that tick); invalid ones are logged and dropped.
fn stage_reload(
    kingdom: &mut Kingdom,
    metrics: &Metrics,
    reload: Reload,
    journal: Option<&mut TickJournal>,
) {
    match reload {
        Ok(assets) => {
            if assets.digest == kingdom.config().assets.digest {
                tracing::debug!("assets touched but unchanged; nothing to reload");
                metrics
                    .status
                    .record_reload(now_unix_ms(), ReloadResult::Unchanged);
                return;
            }
            if let Some(j) = &journal
                && let Err(e) = j.keep_config(&assets.digest, &assets.sources)
            {
                metrics.config_reload_failures.inc();
                tracing::error!(
                    "asset reload not applied: keeping the config for the journal failed: {e}"
                );
                metrics.status.record_reload(
                    now_unix_ms(),
                    ReloadResult::Refused(format!(
                        "keeping the config for the journal failed: {e}"
                    )),
                );
                return;
            }
            let digest = assets.digest;
            if let Err(refused) = kingdom.stage_config(Arc::new(assets)) {
                metrics.config_reload_failures.inc();
                tracing::error!(
                    version = kingdom.config().version,
                    "asset reload rejected, keeping config version {}: {refused}",
                    kingdom.config().version
                );
                metrics
                    .status
                    .record_reload(now_unix_ms(), ReloadResult::Refused(refused.to_string()));
            } else {
                if let Some(j) = journal {
                    j.push(JournalInput::Config { digest });
                }
                metrics
                    .status
                    .record_reload(now_unix_ms(), ReloadResult::Staged);
            }
        }
        Err(errors) => {
            metrics.config_reload_failures.inc();
            let version = kingdom.config().version;
            tracing::error!(
                version,
                "asset reload rejected ({} error(s)), keeping config version {version}:\n{errors}",
                errors.0.len()
            );
            metrics.status.record_reload(
                now_unix_ms(),
                ReloadResult::Invalid(errors.0.iter().map(ToString::to_string).collect()),
            );
        }
    }
}

/// Sets the entity gauges from the world.
pub fn update_entity_gauges(kingdom: &mut Kingdom, metrics: &Metrics) {
    let c = kingdom.object_counts();
    for (kind, n) in [
        ("resource_field", c.resource_fields),
        ("monster", c.monsters),
        ("city_slot", c.city_slots),
    ] {
        metrics.entities.with_label_values(&[kind]).set(n as i64);
    }
}
