//! `dominion serve`: loads assets, builds the kingdom, serves metrics, runs the tick loop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context;
use dominion_sim::Kingdom;

use crate::assets::load_dir;
use crate::metrics::{self, Metrics};
use crate::tick_loop::{Stop, run_ticks};
use crate::watch::watch_assets;

/// Options of `dominion serve`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Designer configs.
    pub assets: PathBuf,
    /// Where embedded databases and generated certificates live.
    pub data: PathBuf,
    /// Map seed.
    pub seed: u64,
    /// Stop after this many ticks.
    pub ticks: Option<u64>,
    /// Prometheus endpoint address (port 0 picks a free one).
    pub metrics_addr: SocketAddr,
}

/// Runs the server until `--ticks` is reached or a shutdown signal arrives.
pub fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let assets = load_dir(&opts.assets).map_err(|errors| {
        anyhow::anyhow!(
            "assets in {} are invalid ({} error(s)):\n{errors}",
            opts.assets.display(),
            errors.0.len()
        )
    })?;
    std::fs::create_dir_all(&opts.data)
        .with_context(|| format!("creating data folder {}", opts.data.display()))?;
    tracing::info!(assets = %opts.assets.display(), "{}", assets.summary());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("dominion-io")
        .build()
        .context("starting the async runtime")?;

    let metrics = Metrics::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);

    let (metrics_addr, metrics_server) = runtime
        .block_on(metrics::bind(
            opts.metrics_addr,
            metrics.clone(),
            shutdown_rx,
        ))
        .with_context(|| format!("binding the metrics endpoint on {}", opts.metrics_addr))?;
    let metrics_task = runtime.spawn(metrics_server);
    println!("dominion: metrics on http://{metrics_addr}/metrics");
    tracing::info!(%metrics_addr, "metrics endpoint listening");

    {
        let stop = stop.clone();
        runtime.spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            stop.store(true, Ordering::Relaxed);
        });
    }

    let started = Instant::now();
    let mut kingdom = Kingdom::generate(opts.seed, Arc::new(assets));
    let counts = kingdom.object_counts();
    tracing::info!(
        seed = opts.seed,
        objects = counts.total(),
        resource_fields = counts.resource_fields,
        monsters = counts.monsters,
        city_slots = counts.city_slots,
        took_ms = started.elapsed().as_millis() as u64,
        "kingdom generated"
    );
    metrics
        .config_version
        .set(i64::from(kingdom.config().version));

    let (reload_tx, reload_rx) = mpsc::channel();
    let _watcher = watch_assets(&opts.assets, reload_tx)
        .with_context(|| format!("watching {}", opts.assets.display()))?;
    println!(
        "dominion: kingdom running at {} Hz (seed {}, {} objects); watching {} for changes",
        kingdom.config().assets.world.tick_hz,
        opts.seed,
        counts.total(),
        opts.assets.display()
    );

    let tick_metrics = metrics.clone();
    let tick_stop = stop.clone();
    let limit = opts.ticks;
    let tick_thread = std::thread::Builder::new()
        .name("tick".into())
        .spawn(move || {
            let why = run_ticks(&mut kingdom, &tick_metrics, &reload_rx, &tick_stop, limit);
            (why, kingdom.tick_count())
        })
        .context("starting the tick thread")?;
    let (why, last_tick) = tick_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the tick thread panicked"))?;

    let _ = shutdown_tx.send(true);
    let _ = runtime.block_on(metrics_task);
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    let reason = match why {
        Stop::TickLimit => "tick limit reached",
        Stop::Requested => "shutdown requested",
    };
    tracing::info!(last_tick, "stopped: {reason}");
    println!("dominion: stopped after tick {last_tick} ({reason})");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
