//! The live web map: one page (`map.html`: a canvas and a small script, no build step), the
//! terrain as bytes, and a WebSocket on which the page is an AOI observer like a game client:
//! it sets viewports through the world's inbox and receives the same encoded `WorldDelta`s a
//! session is pushed ([`crate::map_watch`]), decoded here and re-sent as JSON.
//!
//! Token-gated like the rest of the admin API; a browser passes it as `?token=` (it can't set
//! headers on a page load or a WebSocket), the page's own requests send it as a bearer header.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use dominion_net::proto::SetViewport;
use dominion_net::proto::delta::decode;
use dominion_net::transport::SessionId;
use dominion_sim::aoi::{Body, BodyUpdate, MarchPhase, ObjectView, ObserverDelta};
use dominion_sim::config::AoiConfig;
use dominion_sim::types::{ObjectKind, Route, TilePos};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminContext;
use super::error::{ApiError, codes};
use super::players::{mission_name, route_json};

/// The page.
const PAGE: &str = include_str!("map.html");

/// `GET /map`: the page.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /map/terrain`: `width u16, height u16` (little-endian), then one byte per tile,
/// row-major: kind in the low 2 bits (0 plain, 1 mountain, 2 water, 3 pass), zone level above.
pub async fn terrain(State(ctx): State<AdminContext>) -> Result<Response, ApiError> {
    let t = ctx
        .queries
        .terrain(Duration::from_secs(5))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::WORLD_UNAVAILABLE,
                e.to_string(),
            )
        })?;
    let mut out = Vec::with_capacity(4 + t.tiles.len());
    out.extend_from_slice(&t.width.to_le_bytes());
    out.extend_from_slice(&t.height.to_le_bytes());
    out.extend_from_slice(&t.tiles);
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], out).into_response())
}

/// `GET /map/info`: what the page needs to draw the rest (tick rate, zoom levels).
pub async fn info(State(ctx): State<AdminContext>) -> Json<Value> {
    Json(json!({
        "tick_hz": ctx.metrics.status.tick_hz(),
        "zooms": ctx.zooms,
    }))
}

/// The zoom levels as the page reads them: each level's largest viewport and the kinds shown.
pub fn zooms_json(aoi: &AoiConfig) -> Value {
    Value::Array(
        aoi.zooms
            .iter()
            .map(|z| {
                json!({
                    "max_width": z.max_width,
                    "max_height": z.max_height,
                    "shows": ObjectKind::ALL
                        .into_iter()
                        .filter(|k| z.shows.contains(*k))
                        .map(ObjectKind::name)
                        .collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// `GET /map/ws`: the observer stream.
pub async fn stream(State(ctx): State<AdminContext>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| watch(ctx, socket))
}

/// What the page sends.
#[derive(Deserialize)]
struct PageMessage {
    viewport: Option<SetViewportJson>,
}

#[derive(Deserialize)]
struct SetViewportJson {
    x: u16,
    y: u16,
    w: u16,
    h: u16,
    zoom: u8,
}

async fn watch(ctx: AdminContext, mut socket: WebSocket) {
    let (observer, mut deltas) = ctx.map_watchers.join();
    let session = SessionId(observer);
    tracing::info!(observer, "map watcher joined");
    let hello =
        json!({ "type": "hello", "observer": observer, "tick_hz": ctx.metrics.status.tick_hz() });
    let mut request_id = 0u32;
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_ok()
    {
        loop {
            tokio::select! {
                delta = deltas.recv() => {
                    let Some(delta) = delta else { break };
                    let text = match decode(&delta) {
                        Ok(d) => delta_json(&d).to_string(),
                        Err(e) => {
                            tracing::error!(observer, "a map watcher's delta did not decode: {e}");
                            break;
                        }
                    };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                incoming = socket.recv() => {
                    let text = match incoming {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => continue,
                        _ => break,
                    };
                    let Ok(PageMessage { viewport: Some(v) }) = serde_json::from_str(text.as_str()) else {
                        let _ = socket
                            .send(Message::Text(json!({"type": "error", "message": "expected {\"viewport\": {x, y, w, h, zoom}}"}).to_string().into()))
                            .await;
                        continue;
                    };
                    request_id = request_id.wrapping_add(1);
                    // Coalesced with one still waiting; refused only when too many wait.
                    let _ = ctx.world.viewport(
                        session,
                        request_id,
                        SetViewport { x: v.x, y: v.y, w: v.w, h: v.h, zoom: v.zoom },
                    );
                }
            }
        }
    }
    ctx.map_watchers.leave(observer);
    ctx.world.session_closed(session);
    tracing::info!(observer, "map watcher left");
}

fn pos(p: TilePos) -> Value {
    json!([p.x, p.y])
}

fn phase_name(p: MarchPhase) -> &'static str {
    match p {
        MarchPhase::Outbound => "outbound",
        MarchPhase::Gathering => "gathering",
        MarchPhase::Stationed => "stationed",
        MarchPhase::Returning => "returning",
    }
}

fn body_json(out: &mut serde_json::Map<String, Value>, body: &Body) {
    match body {
        Body::Field {
            kind,
            level,
            remaining,
        } => {
            out.insert("kind".into(), json!("field"));
            out.insert("resource".into(), json!(kind.name()));
            out.insert("level".into(), json!(level));
            out.insert("remaining".into(), json!(remaining));
        }
        Body::Monster { kind, level } => {
            out.insert("kind".into(), json!("monster"));
            out.insert("monster".into(), json!(kind));
            out.insert("level".into(), json!(level));
        }
        Body::CitySlot => {
            out.insert("kind".into(), json!("city_slot"));
        }
        Body::City { owner, alliance } => {
            out.insert("kind".into(), json!("city"));
            out.insert("owner".into(), json!(owner.0));
            out.insert("alliance".into(), json!(alliance));
        }
        Body::March(m) => {
            out.insert("kind".into(), json!("march"));
            out.insert("owner".into(), json!(m.owner.0));
            out.insert("mission".into(), json!(mission_name(m.mission)));
            out.insert("phase".into(), json!(phase_name(m.phase)));
            out.insert("troops".into(), json!(m.troops));
            out.insert("route".into(), route_of(&m.route));
        }
    }
}

fn route_of(r: &Route) -> Value {
    route_json(r)
}

fn view_json(v: &ObjectView) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(v.id.0));
    m.insert("pos".into(), pos(v.pos));
    body_json(&mut m, &v.body);
    Value::Object(m)
}

/// A decoded delta as the page reads it.
pub fn delta_json(d: &ObserverDelta) -> Value {
    let update: Vec<Value> = d
        .update
        .iter()
        .map(|u| {
            let mut m = serde_json::Map::new();
            m.insert("id".into(), json!(u.id.0));
            if let Some(p) = u.pos {
                m.insert("pos".into(), pos(p));
            }
            match &u.body {
                BodyUpdate::None => {}
                BodyUpdate::Remaining(r) => {
                    m.insert("remaining".into(), json!(r));
                }
                BodyUpdate::Owner(o) => {
                    m.insert("owner".into(), json!(o.0));
                }
                BodyUpdate::March {
                    phase,
                    route,
                    troops,
                } => {
                    if let Some(p) = phase {
                        m.insert("phase".into(), json!(phase_name(*p)));
                    }
                    if let Some(r) = route {
                        m.insert("route".into(), route_of(r));
                    }
                    if let Some(t) = troops {
                        m.insert("troops".into(), json!(t));
                    }
                }
                BodyUpdate::Replaced(body) => body_json(&mut m, body),
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "type": "delta",
        "tick": d.tick,
        "enter": d.enter.iter().map(view_json).collect::<Vec<_>>(),
        "update": update,
        "leave": d.leave.iter().map(|id| id.0).collect::<Vec<_>>(),
    })
}
