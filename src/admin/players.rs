//! Players: look one up by id or openid (city, troops, resources, marches, online, last login),
//! kick one with a reason (their client gets the `Kick` push carrying it).
//!
//! The world part is read by the tick thread between ticks ([`crate::world_query`]); the
//! account (openid → id) comes from the store.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use dominion_net::proto::ErrorCode;
use dominion_persistence::{AccountRecord, KingdomId, load_record};
use dominion_sim::march::MarchState;
use dominion_sim::player_view::OwnMarch;
use dominion_sim::types::{Mission, PlayerId, ResourceKind, Resources, Route};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminContext;
use super::error::{ApiError, codes};
use crate::world_query::{PlayerFacts, QueryError};

/// Kick code an operator's kick carries.
pub const KICK_BY_OPERATOR: u16 = ErrorCode::APPLICATION_BASE + 30;

/// Longest kick reason accepted (it travels in the `Kick` push).
pub const MAX_REASON_BYTES: usize = 256;

/// How long a lookup waits for the tick thread.
const WORLD_WAIT: Duration = Duration::from_secs(3);

/// `?openid=` of a lookup.
#[derive(Deserialize)]
pub struct ByOpenid {
    openid: String,
}

/// Body of a kick.
#[derive(Deserialize)]
pub struct KickBody {
    reason: String,
}

fn parse_player(id: &str) -> Result<PlayerId, ApiError> {
    id.parse::<u64>()
        .map(PlayerId)
        .map_err(|_| ApiError::bad_request(format!("player id must be a number, got {id:?}")))
}

fn not_found(what: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::PLAYER_NOT_FOUND, what)
}

fn world_error(e: QueryError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::WORLD_UNAVAILABLE,
        e.to_string(),
    )
}

/// `GET /v1/players/{id}`.
pub async fn by_id(
    State(ctx): State<AdminContext>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let player = parse_player(&id)?;
    describe(&ctx, player, None).await.map(Json)
}

/// `GET /v1/players?openid=…`.
pub async fn by_openid(
    State(ctx): State<AdminContext>,
    Query(q): Query<ByOpenid>,
) -> Result<Json<Value>, ApiError> {
    if q.openid.is_empty() || q.openid.len() > 128 {
        return Err(ApiError::bad_request("openid must be 1 to 128 bytes"));
    }
    let account = load_record::<AccountRecord>(
        ctx.store.as_ref(),
        &ctx.migrations,
        KingdomId(ctx.kingdom),
        &q.openid,
    )
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::STORE_UNAVAILABLE,
            e.to_string(),
        )
    })?
    .ok_or_else(|| not_found(format!("no account for openid {:?}", q.openid)))?;
    describe(&ctx, account.player, Some(&q.openid))
        .await
        .map(Json)
}

async fn describe(
    ctx: &AdminContext,
    player: PlayerId,
    openid: Option<&str>,
) -> Result<Value, ApiError> {
    let facts = ctx
        .queries
        .player(player, WORLD_WAIT)
        .await
        .map_err(world_error)?
        .ok_or_else(|| not_found(format!("player {} has no city in this kingdom", player.0)))?;
    let session = ctx.net.player_session(player);
    Ok(player_json(&facts, openid, session.map(|s| s.0)))
}

/// A player's facts as the API shows them.
pub fn player_json(facts: &PlayerFacts, openid: Option<&str>, session: Option<u64>) -> Value {
    let s = &facts.state;
    json!({
        "player": s.player.0,
        "openid": openid,
        "online": session.is_some(),
        "session": session,
        "last_login_unix_ms": facts.last_login_unix_ms,
        "tick": facts.tick,
        "city": { "id": s.city.0, "x": s.city_pos.x, "y": s.city_pos.y },
        "alliance": s.alliance,
        "troops": s.troops.0,
        "wounded": s.wounded.0,
        "resources": resources_json(&s.resources),
        "marches": s.marches.values().map(march_json).collect::<Vec<_>>(),
    })
}

/// Resources by name.
pub fn resources_json(r: &Resources) -> Value {
    let mut m = serde_json::Map::new();
    for kind in ResourceKind::ALL {
        m.insert(kind.name().to_owned(), json!(r.get(kind)));
    }
    Value::Object(m)
}

/// A mission's name.
pub fn mission_name(m: Mission) -> &'static str {
    match m {
        Mission::Gather => "gather",
        Mission::Attack => "attack",
        Mission::Reinforce => "reinforce",
        Mission::Scout => "scout",
    }
}

/// A march phase's name.
pub fn phase_name(p: &MarchState) -> &'static str {
    match p {
        MarchState::Outbound => "outbound",
        MarchState::Gathering { .. } => "gathering",
        MarchState::Stationed { .. } => "stationed",
        MarchState::Returning => "returning",
    }
}

/// A route: its corner tiles, departure, speed and arrival.
pub fn route_json(r: &Route) -> Value {
    json!({
        "waypoints": r.waypoints.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
        "depart_tick": r.depart_tick,
        "speed_milli_tiles_per_tick": r.speed,
        "arrival_tick": r.arrival_tick(),
    })
}

fn march_json(m: &OwnMarch) -> Value {
    json!({
        "id": m.id.0,
        "mission": mission_name(m.mission),
        "target": m.target.0,
        "phase": phase_name(&m.phase),
        "troops": m.troops.0,
        "wounded": m.wounded.0,
        "load": resources_json(&m.load),
        "route": route_json(&m.route),
    })
}

/// `POST /v1/players/{id}/kick` with `{"reason": "…"}`.
pub async fn kick(
    State(ctx): State<AdminContext>,
    Path(id): Path<String>,
    body: Result<Json<KickBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let player = parse_player(&id)?;
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > MAX_REASON_BYTES {
        return Err(ApiError::bad_request(format!(
            "reason must be 1 to {MAX_REASON_BYTES} bytes"
        )));
    }
    let offline = || {
        ApiError::new(
            StatusCode::CONFLICT,
            codes::PLAYER_OFFLINE,
            format!("player {} has no session on this server", player.0),
        )
    };
    let session = ctx.net.player_session(player).ok_or_else(offline)?;
    // The session may end between the lookup and the kick.
    ctx.net
        .kick(session, KICK_BY_OPERATOR, reason)
        .map_err(|_| offline())?;
    tracing::info!(%player, session = session.0, reason, "kicked by an operator");
    Ok(Json(json!({
        "player": player.0,
        "session": session.0,
        "kicked": true,
        "code": KICK_BY_OPERATOR,
        "reason": reason,
    })))
}
