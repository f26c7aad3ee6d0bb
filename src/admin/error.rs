//! Errors of the admin API: an HTTP status and a JSON body `{"code": …, "message": …}` whose
//! `code` is stable (scripts test it; the message is for people and may change).

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (see [`codes`]).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

/// The stable error codes.
pub mod codes {
    /// No token, or a token not in the token file (401).
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// The request is malformed: bad JSON, a missing field, a value out of range (400).
    pub const BAD_REQUEST: &str = "bad_request";
    /// No such player (404).
    pub const PLAYER_NOT_FOUND: &str = "player_not_found";
    /// The player has no session on this server (409).
    pub const PLAYER_OFFLINE: &str = "player_offline";
    /// No such route (404).
    pub const NOT_FOUND: &str = "not_found";
    /// The world did not answer in time or has stopped (503).
    pub const WORLD_UNAVAILABLE: &str = "world_unavailable";
    /// The store or mail service failed (503).
    pub const STORE_UNAVAILABLE: &str = "store_unavailable";
    /// The assets folder is invalid or the live world refused it (422).
    pub const ASSETS_REJECTED: &str = "assets_rejected";
    /// A ticket with this id was issued for other recipients, mail, attachments or reason;
    /// nothing was sent (409).
    pub const TICKET_CONFLICT: &str = "ticket_conflict";
    /// No ticket with this id (404).
    pub const TICKET_NOT_FOUND: &str = "ticket_not_found";
    /// This instance is a standby (`serve --standby`): it writes nothing, so requests that
    /// would (system mail, tickets) go to the owner instance (409).
    pub const STANDBY: &str = "standby";
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 409 `standby`: `what` would write, and a standby writes nothing.
    pub fn standby(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            codes::STANDBY,
            format!(
                "this instance is a standby (a read-only copy of the kingdom) and writes \
                 nothing: {what} goes to the owner instance"
            ),
        )
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
