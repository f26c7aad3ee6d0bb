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

use crate::driver::{Pace, TickDriver};
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
    /// A tick's inputs could not be made durable: the tick's results were not sent and the
    /// server must stop (recovery replays up to the last durable tick).
    JournalFailed,
}

/// Routes are planned ahead only while the next tick is at least this far off.
const PLAN_AHEAD_LEAD: std::time::Duration = std::time::Duration::from_millis(10);
/// March orders planned ahead per batch: about 2 ms of far searches on two workers.
const PLAN_AHEAD_BATCH: usize = 16;
/// How often the waiting tick thread looks for new orders to plan ahead.
const PLAN_AHEAD_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// Runs ticks until `limit` ticks have run or `stop` is set. With a journal, each tick's inputs
/// are made durable after the tick runs and before its results are sent.
#[allow(clippy::too_many_arguments)]
pub fn run_ticks(
    kingdom: &mut Kingdom,
    metrics: &Metrics,
    reloads: &mpsc::Receiver<Reload>,
    stop: &Arc<AtomicBool>,
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
    metrics.status.set_tick_hz(world_cfg.tick_hz);
    kingdom
        .world
        .insert_resource(SystemTimes::new(Instant::now));
    update_entity_gauges(kingdom, metrics);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Stop::Requested;
        }
        if limit.is_some_and(|n| ran >= n) {
            return Stop::TickLimit;
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
            b.set_refuse_commands(journal.as_deref().is_some_and(TickJournal::behind));
            b.before_tick(kingdom);
            if let Some(j) = journal.as_deref_mut() {
                j.extend(b.take_journaled());
            } else {
                b.take_journaled();
            }
            metrics.observe_inbox(&b.inbox_stats());
            metrics.observe_system("bridge_inbox", started.elapsed());
        }
        for phase in TickPhase::ALL {
            let t = Instant::now();
            kingdom.run_phase(phase);
            metrics
                .phase_seconds
                .with_label_values(&[phase.name()])
                .observe(t.elapsed().as_secs_f64());
        }
        if let Some(j) = journal.as_deref_mut() {
            let t = Instant::now();
            match j.commit(kingdom) {
                Ok(true) => metrics
                    .phase_seconds
                    .with_label_values(&["journal"])
                    .observe(t.elapsed().as_secs_f64()),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(
                        tick = kingdom.tick_count(),
                        "journaling the tick's inputs failed, stopping before its results are sent: {e}"
                    );
                    return Stop::JournalFailed;
                }
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
        if let Some(b) = bridge.as_deref_mut() {
            let t = Instant::now();
            b.after_tick(kingdom, &events);
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
