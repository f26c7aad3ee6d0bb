//! Assets: the config in force, the last reload's outcome, and "reload now" (the assets folder
//! read and validated here, off the tick thread, then handed to the tick loop exactly like a
//! change the folder watcher saw: staged, journaled, applied whole at a tick boundary).

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AdminContext;
use super::error::{ApiError, codes};
use crate::tick_status::{ReloadOutcome, ReloadResult};

/// How long "reload now" waits for the tick loop to take the config.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

fn outcome_json(o: &ReloadOutcome) -> Value {
    let (result, errors): (&str, Vec<String>) = match &o.result {
        ReloadResult::Staged => ("staged", Vec::new()),
        ReloadResult::Unchanged => ("unchanged", Vec::new()),
        ReloadResult::Invalid(errors) => ("invalid", errors.clone()),
        ReloadResult::Refused(why) => ("refused", vec![why.clone()]),
    };
    json!({ "seq": o.seq, "at_unix_ms": o.at_unix_ms, "result": result, "errors": errors })
}

/// `GET /v1/assets`.
pub async fn show(State(ctx): State<AdminContext>) -> Json<Value> {
    Json(json!({
        "config_version": ctx.metrics.config_version.get(),
        "assets_dir": ctx.assets_dir.display().to_string(),
        "last_reload": ctx.metrics.status.last_reload().as_ref().map(outcome_json),
    }))
}

/// `POST /v1/assets/reload`: reads the folder now; answers once the tick loop has taken it
/// (and, when staged, once the new version is in force), or with the errors.
pub async fn reload(State(ctx): State<AdminContext>) -> Result<Json<Value>, ApiError> {
    let before_seq = ctx.metrics.status.reloads();
    let before_version = ctx.metrics.config_version.get();
    let dir = ctx.assets_dir.clone();
    let loaded = tokio::task::spawn_blocking(move || crate::assets::load_dir(&dir))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    ctx.reload.send(loaded).map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::WORLD_UNAVAILABLE,
            "the tick loop has stopped",
        )
    })?;
    let deadline = Instant::now() + RELOAD_WAIT;
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::WORLD_UNAVAILABLE,
            format!("the tick loop did not take the reload within {RELOAD_WAIT:?}"),
        )
    };
    // Reloads are handled in order, so the first outcome numbered after `before_seq` that the
    // folder watcher didn't race in is ours or a newer read of the same folder.
    let outcome = loop {
        if let Some(o) = ctx.metrics.status.last_reload()
            && o.seq > before_seq
        {
            break o;
        }
        if Instant::now() >= deadline {
            return Err(unavailable());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    match &outcome.result {
        ReloadResult::Invalid(_) | ReloadResult::Refused(_) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::ASSETS_REJECTED,
                match &outcome.result {
                    ReloadResult::Invalid(e) => e.join("\n"),
                    ReloadResult::Refused(why) => why.clone(),
                    _ => String::new(),
                },
            ));
        }
        ReloadResult::Staged => {
            while ctx.metrics.config_version.get() == before_version {
                if Instant::now() >= deadline {
                    return Err(unavailable());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        ReloadResult::Unchanged => {}
    }
    Ok(Json(json!({
        "config_version": ctx.metrics.config_version.get(),
        "reload": outcome_json(&outcome),
    })))
}
