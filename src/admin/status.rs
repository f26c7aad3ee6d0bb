//! `GET /v1/status`: how the kingdom is doing right now, read without touching the world
//! (counters the tick thread publishes, the save queue's atomics, the session registry).

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AdminContext;

/// The status document.
pub async fn status(State(ctx): State<AdminContext>) -> Json<Value> {
    let times = ctx.metrics.status.tick_times(Instant::now());
    let save = &ctx.save;
    let last_success = save.last_success_unix_ms.load(Ordering::Relaxed);
    Json(json!({
        "kingdom": ctx.kingdom,
        "instance_id": ctx.instance_id,
        "role": if ctx.standby { "standby" } else { "owner" },
        "owner_epoch": ctx.epoch,
        "fenced": ctx.metrics.fenced.get() == 1,
        "tick": ctx.tick.load(Ordering::Relaxed),
        "tick_hz": ctx.metrics.status.tick_hz(),
        "tick_time_ms": {
            "window_seconds": crate::tick_status::TICK_WINDOW.as_secs(),
            "samples": times.samples,
            "p50": times.p50_ms,
            "p99": times.p99_ms,
            "max": times.max_ms,
        },
        "sessions": ctx.net.session_count(),
        "config_version": ctx.metrics.config_version.get(),
        "save": {
            "queue_depth": save.queue_depth.load(Ordering::Relaxed),
            "failing": save.failing.load(Ordering::Relaxed),
            "fenced": save.fenced.load(Ordering::Relaxed),
            "last_success_unix_ms": (last_success > 0).then_some(last_success),
            "batches_written": save.batches_written.load(Ordering::Relaxed),
            "failures": save.failures.load(Ordering::Relaxed),
        },
        "uptime_seconds": ctx.started.elapsed().as_secs(),
    }))
}
