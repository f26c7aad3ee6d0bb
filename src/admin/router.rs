//! The admin API's routes, all behind the token check.

use axum::Router;
use axum::routing::{get, post};

use super::AdminContext;
use super::auth::{Tokens, require_token};
use super::error::{ApiError, codes};
use super::status::status;
use super::{assets, mail, map, players, tickets};

/// Every route of the admin API; each request must carry an accepted token.
pub fn router(ctx: AdminContext, tokens: Tokens) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/players", get(players::by_openid))
        .route("/v1/players/{id}", get(players::by_id))
        .route("/v1/players/{id}/kick", post(players::kick))
        .route("/v1/mail", post(mail::send))
        .route("/v1/tickets", post(tickets::issue).get(tickets::list))
        .route("/v1/tickets/{id}", get(tickets::show))
        .route("/v1/assets", get(assets::show))
        .route("/v1/assets/reload", post(assets::reload))
        .route("/map", get(map::page))
        .route("/map/info", get(map::info))
        .route("/map/terrain", get(map::terrain))
        .route("/map/ws", get(map::stream))
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                "no such admin endpoint",
            )
        })
        .with_state(ctx)
        // Outermost: unknown routes are refused 401 too without a token.
        .layer(axum::middleware::from_fn_with_state(tokens, require_token))
}
