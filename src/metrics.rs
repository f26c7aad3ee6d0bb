//! Prometheus metrics of the server and their HTTP endpoint.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::inbox::InboxStats;

/// Every metric the server exports.
#[derive(Clone)]
pub struct Metrics {
    /// Where they are registered.
    pub registry: Registry,
    /// Duration of each tick phase.
    pub phase_seconds: HistogramVec,
    /// Duration of whole ticks.
    pub tick_seconds: Histogram,
    /// Time a command spends in the server: from the gateway queueing it to its reply pushed.
    pub command_server_seconds: Histogram,
    /// Duration of each system set of the tick (`dominion_sim::timing`), and of the world
    /// bridge's two steps around it (`bridge_inbox`: commands and viewports in; `bridge_push`:
    /// results and AOI deltas out).
    pub system_seconds: HistogramVec,
    /// Tick durations of the last minute and reload outcomes, for the admin API.
    pub status: crate::tick_status::TickStatus,
    /// Ticks run.
    pub ticks: IntCounter,
    /// Ticks that took longer than the tick period.
    pub tick_overruns: IntCounter,
    /// Ticks that started late because an earlier one overran.
    pub ticks_late: IntCounter,
    /// Ticks dropped because the world fell too far behind.
    pub ticks_skipped: IntCounter,
    /// Entities by kind.
    pub entities: IntGaugeVec,
    /// Version of the config in force.
    pub config_version: IntGauge,
    /// Observers whose viewport move waits for a later tick (`viewport_moves_per_tick`).
    pub aoi_moves_waiting: IntGauge,
    /// Viewport moves left waiting, summed over ticks.
    pub aoi_moves_deferred: IntCounter,
    /// Rejected asset reloads.
    pub config_reload_failures: IntCounter,
    /// Save batches waiting for the database.
    pub save_queue_depth: IntGauge,
    /// Save batches written.
    pub save_batches: IntGauge,
    /// Failed save attempts (each is retried).
    pub save_failures: IntGauge,
    /// 1 while the database is failing, else 0.
    pub save_failing: IntGauge,
    /// Unix ms of the last successful save.
    pub save_last_success: IntGauge,
    /// 1 while tick records wait because the journal cannot be written (the disk is full or
    /// failing), else 0.
    pub journal_failing: IntGauge,
    /// Failed attempts to append to the journal (each is retried the next tick).
    pub journal_write_failures: IntCounter,
    /// 1 once another instance took the kingdom's owner epoch (this one stops; see
    /// [`crate::fence`]), else 0.
    pub fenced: IntGauge,
    /// 1 on a standby (`serve --standby`: a read-only copy that writes nothing), else 0.
    pub standby: IntGauge,
    /// Save batches a standby gathered and dropped unwritten.
    pub save_dropped: IntGauge,
    /// Command results held back until their tick's inputs are durable.
    pub journal_held_results: IntGauge,
    /// Commands the gateway queued for the world.
    pub inbox_commands_queued: IntCounter,
    /// Requests answered `RATE_LIMITED` by the world's inbox, by reason (`session`: the session
    /// had too many commands waiting; `server`: the process had; `viewport`: too many viewport
    /// requests waiting).
    pub inbox_refused: IntCounterVec,
    /// Viewport requests folded into a later one of the same session (each still answered).
    pub inbox_viewports_coalesced: IntCounter,
    /// Items left queued after a tick's drain, summed over ticks.
    pub inbox_carried: IntCounter,
    /// Commands accepted and not yet answered.
    pub inbox_commands_pending: IntGauge,
    /// Items queued for the world and not yet drained.
    pub inbox_queued: IntGauge,
    /// March orders the world applied.
    pub route_orders: IntCounter,
    /// Route searches their planning ran (the rest of the orders found their route known or
    /// were refused before routing).
    pub route_searches: IntCounter,
    /// Route searches run between ticks for orders waiting to apply (`route_prefetch`).
    pub route_searches_ahead: IntCounter,
    /// Route budget spent per tick.
    pub route_budget_spent: Histogram,
    /// Commands the route budget left waiting for the next tick, after the last tick.
    pub route_deferred: IntGauge,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("dominion".into()), None)
            .expect("static registry prefix is valid");
        // Buckets from 50 µs to ~1.6 s: a tick budget is 100 ms at 10 Hz.
        let buckets = prometheus::exponential_buckets(0.000_05, 2.0, 16)
            .expect("static bucket parameters are valid");
        let phase_seconds = HistogramVec::new(
            HistogramOpts::new("tick_phase_seconds", "Duration of each tick phase")
                .buckets(buckets.clone()),
            &["phase"],
        )
        .expect("static metric definition");
        let system_seconds = HistogramVec::new(
            HistogramOpts::new(
                "tick_system_seconds",
                "Duration of each system set of the tick, and of the world bridge's steps around it",
            )
            .buckets(buckets.clone()),
            &["system"],
        )
        .expect("static metric definition");
        let command_server_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "command_server_seconds",
                "Time a command spends in the server, from the gateway queueing it to its reply pushed",
            )
            .buckets(prometheus::exponential_buckets(0.001, 2.0, 14).expect("static buckets")),
        )
        .expect("static metric definition");
        // Whole ticks get four buckets per doubling (…, 6.4, 7.6, 9.1, 10.8, 12.8 ms, …), so a
        // p99 read from them tells 10 ms from 12 ms.
        let fine = prometheus::exponential_buckets(0.000_05, 2f64.powf(0.25), 61)
            .expect("static bucket parameters are valid");
        let tick_seconds = Histogram::with_opts(
            HistogramOpts::new("tick_seconds", "Duration of whole ticks").buckets(fine),
        )
        .expect("static metric definition");
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("static metric definition");
        let m = Metrics {
            phase_seconds,
            system_seconds,
            command_server_seconds,
            tick_seconds,
            status: crate::tick_status::TickStatus::default(),
            ticks: counter("ticks_total", "Ticks run"),
            tick_overruns: counter(
                "tick_overruns_total",
                "Ticks that took longer than the tick period",
            ),
            ticks_late: counter(
                "ticks_late_total",
                "Ticks started late to catch up after an overrun",
            ),
            ticks_skipped: counter(
                "ticks_skipped_total",
                "Ticks dropped because the world fell too far behind",
            ),
            entities: IntGaugeVec::new(Opts::new("entities", "Entities by kind"), &["kind"])
                .expect("static metric definition"),
            config_version: IntGauge::new("config_version", "Version of the config in force")
                .expect("static metric definition"),
            aoi_moves_waiting: IntGauge::new(
                "aoi_viewport_moves_waiting",
                "Observers whose viewport move waits for a later tick",
            )
            .expect("static metric definition"),
            aoi_moves_deferred: counter(
                "aoi_viewport_moves_deferred_total",
                "Viewport moves left waiting by a tick over viewport_moves_per_tick, per tick waited",
            ),
            config_reload_failures: counter(
                "config_reload_failures_total",
                "Asset reloads rejected as invalid",
            ),
            save_queue_depth: IntGauge::new(
                "save_queue_depth",
                "Save batches waiting for the database",
            )
            .expect("static metric definition"),
            save_batches: IntGauge::new("save_batches_written", "Save batches written")
                .expect("static metric definition"),
            save_failures: IntGauge::new("save_failures", "Failed save attempts (each is retried)")
                .expect("static metric definition"),
            save_failing: IntGauge::new("save_failing", "1 while the database is failing")
                .expect("static metric definition"),
            save_last_success: IntGauge::new(
                "save_last_success_unix_ms",
                "Unix milliseconds of the last successful save",
            )
            .expect("static metric definition"),
            journal_failing: IntGauge::new(
                "journal_failing",
                "1 while tick records wait because the journal cannot be written",
            )
            .expect("static metric definition"),
            fenced: IntGauge::new(
                "fenced",
                "1 once another instance took the kingdom's owner epoch (this one stops)",
            )
            .expect("static metric definition"),
            standby: IntGauge::new(
                "standby",
                "1 on a standby instance (a read-only copy that writes nothing), else 0",
            )
            .expect("static metric definition"),
            save_dropped: IntGauge::new(
                "save_batches_dropped",
                "Save batches a standby gathered and dropped unwritten",
            )
            .expect("static metric definition"),
            journal_write_failures: counter(
                "journal_write_failures_total",
                "Failed journal appends (each retried the next tick)",
            ),
            journal_held_results: IntGauge::new(
                "journal_held_results",
                "Command results held back until their tick's inputs are durable",
            )
            .expect("static metric definition"),
            inbox_commands_queued: counter(
                "inbox_commands_queued_total",
                "Commands queued for the world",
            ),
            inbox_refused: IntCounterVec::new(
                Opts::new(
                    "inbox_refused_total",
                    "Requests answered RATE_LIMITED by the world's inbox, by reason",
                ),
                &["reason"],
            )
            .expect("static metric definition"),
            inbox_viewports_coalesced: counter(
                "inbox_viewports_coalesced_total",
                "Viewport requests folded into a later one of the same session",
            ),
            inbox_carried: counter(
                "inbox_carried_total",
                "Items left queued after a tick's drain, summed over ticks",
            ),
            inbox_commands_pending: IntGauge::new(
                "inbox_commands_pending",
                "Commands accepted and not yet answered",
            )
            .expect("static metric definition"),
            inbox_queued: IntGauge::new(
                "inbox_queued",
                "Items queued for the world and not yet drained",
            )
            .expect("static metric definition"),
            route_orders: counter("route_orders_total", "March orders the world applied"),
            route_searches: counter(
                "route_searches_total",
                "Route searches run for march orders (the rest were known or refused first)",
            ),
            route_searches_ahead: counter(
                "route_searches_ahead_total",
                "Route searches run between ticks for orders waiting to apply (the tick then finds them known)",
            ),
            route_budget_spent: Histogram::with_opts(
                HistogramOpts::new(
                    "route_budget_spent",
                    "Route budget spent per tick (near order 1, far order 8)",
                )
                .buckets(vec![
                    0.0, 1.0, 4.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
                ]),
            )
            .expect("static metric definition"),
            route_deferred: IntGauge::new(
                "route_deferred_commands",
                "Commands the route budget left waiting for the next tick",
            )
            .expect("static metric definition"),
            registry,
        };
        let r = &m.registry;
        for c in [
            Box::new(m.phase_seconds.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.system_seconds.clone()),
            Box::new(m.command_server_seconds.clone()),
            Box::new(m.tick_seconds.clone()),
            Box::new(m.ticks.clone()),
            Box::new(m.tick_overruns.clone()),
            Box::new(m.ticks_late.clone()),
            Box::new(m.ticks_skipped.clone()),
            Box::new(m.entities.clone()),
            Box::new(m.config_version.clone()),
            Box::new(m.config_reload_failures.clone()),
            Box::new(m.save_queue_depth.clone()),
            Box::new(m.save_batches.clone()),
            Box::new(m.save_failures.clone()),
            Box::new(m.save_failing.clone()),
            Box::new(m.save_last_success.clone()),
            Box::new(m.journal_failing.clone()),
            Box::new(m.journal_write_failures.clone()),
            Box::new(m.fenced.clone()),
            Box::new(m.standby.clone()),
            Box::new(m.save_dropped.clone()),
            Box::new(m.journal_held_results.clone()),
            Box::new(m.inbox_commands_queued.clone()),
            Box::new(m.inbox_refused.clone()),
            Box::new(m.inbox_viewports_coalesced.clone()),
            Box::new(m.inbox_carried.clone()),
            Box::new(m.inbox_commands_pending.clone()),
            Box::new(m.inbox_queued.clone()),
            Box::new(m.route_orders.clone()),
            Box::new(m.route_searches.clone()),
            Box::new(m.route_searches_ahead.clone()),
            Box::new(m.route_budget_spent.clone()),
            Box::new(m.route_deferred.clone()),
            Box::new(m.aoi_moves_waiting.clone()),
            Box::new(m.aoi_moves_deferred.clone()),
        ] {
            r.register(c).expect("each metric is registered once");
        }
        m
    }

    /// Copies the save writer's counters into the gauges.
    pub fn observe_saves(&self, s: &dominion_persistence::SaveStats) {
        use std::sync::atomic::Ordering::Relaxed;
        self.save_queue_depth
            .set(s.queue_depth.load(Relaxed) as i64);
        self.save_batches
            .set(s.batches_written.load(Relaxed) as i64);
        self.save_failures.set(s.failures.load(Relaxed) as i64);
        self.save_dropped.set(s.dropped.load(Relaxed) as i64);
        self.save_failing.set(i64::from(s.failing.load(Relaxed)));
        self.save_last_success
            .set(s.last_success_unix_ms.load(Relaxed));
    }

    /// Records the time one system set (or bridge step) took this tick.
    pub fn observe_system(&self, system: &str, spent: std::time::Duration) {
        self.system_seconds
            .with_label_values(&[system])
            .observe(spent.as_secs_f64());
    }

    /// Records what the last tick's command phase did with march orders.
    pub fn observe_routes(&self, r: &dominion_sim::command::RoutePlanning) {
        self.route_orders.inc_by(u64::from(r.requests));
        self.route_searches.inc_by(u64::from(r.searched));
        self.route_budget_spent.observe(f64::from(r.budget_spent));
        self.route_deferred.set(i64::from(r.deferred));
    }

    /// Copies the world inbox's counters and depths into the metrics.
    pub fn observe_inbox(&self, s: &InboxStats) {
        raise_to(&self.inbox_commands_queued, s.commands_queued);
        for (reason, n) in [
            ("session", s.refused_session),
            ("server", s.refused_server),
            ("viewport", s.refused_viewport),
        ] {
            raise_to(&self.inbox_refused.with_label_values(&[reason]), n);
        }
        raise_to(&self.inbox_viewports_coalesced, s.viewports_coalesced);
        raise_to(&self.inbox_carried, s.carried);
        self.inbox_commands_pending.set(s.pending as i64);
        self.inbox_queued.set(s.queued as i64);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Raises a counter to a running total kept elsewhere.
fn raise_to(counter: &IntCounter, total: u64) {
    let have = counter.get();
    if total > have {
        counter.inc_by(total - have);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Binds the metrics endpoint; returns the bound address and the server future.
pub async fn bind(
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move {
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    m.render(),
                )
                    .into_response()
            }
        }),
    );
    let mut shutdown = shutdown;
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    });
    Ok((local, async move { serve.await }))
}
