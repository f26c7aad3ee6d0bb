//! Mail: system mail from operators to one player, a list, or everyone, through the mail
//! service ([`crate::mail`]), which writes it in bounded chunks; the answer comes once every
//! mail is written.
//!
//! The request's parts shared with compensation tickets ([`super::tickets`]): who it is for
//! ([`To`], [`recipients`]) and what is attached ([`Attachment`], [`attachments`]).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use dominion_sim::types::{PlayerId, ResourceKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminContext;
use super::error::{ApiError, codes};
use crate::mail::{Recipients, SystemMail};

/// Longest title, bytes.
pub const MAX_TITLE_BYTES: usize = 200;
/// Longest text, bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Most players in one list.
pub const MAX_RECIPIENTS: usize = 100_000;

/// Who: `"all"`, a player id, or a list of ids.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum To {
    /// One player.
    One(u64),
    /// These players.
    List(Vec<u64>),
    /// `"all"`.
    Word(String),
}

/// An attachment: a resource by name and an amount.
#[derive(Deserialize)]
pub struct Attachment {
    resource: String,
    amount: u64,
}

/// Body of `POST /v1/mail`.
#[derive(Deserialize)]
pub struct MailBody {
    to: To,
    title: String,
    text: String,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    expires_unix_ms: Option<i64>,
}

/// The recipients `to` names; an empty or oversized list or a word other than `all` is a 400.
pub fn recipients(to: To) -> Result<Recipients, ApiError> {
    Ok(match to {
        To::One(p) => Recipients::One(PlayerId(p)),
        To::List(v) if v.is_empty() => return Err(ApiError::bad_request("no recipients")),
        To::List(v) if v.len() > MAX_RECIPIENTS => {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_RECIPIENTS} recipients per list; use \"all\""
            )));
        }
        To::List(v) => Recipients::List(v.into_iter().map(PlayerId).collect()),
        To::Word(w) if w == "all" => Recipients::All,
        To::Word(w) => {
            return Err(ApiError::bad_request(format!(
                "to must be \"all\", a player id or a list of ids, got {w:?}"
            )));
        }
    })
}

/// The attachments as (resource code, amount); an unknown resource or an amount of 0 is a 400.
pub fn attachments(list: &[Attachment]) -> Result<Vec<(u8, u64)>, ApiError> {
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        let kind = ResourceKind::ALL
            .into_iter()
            .find(|k| k.name() == a.resource)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown resource {:?} (food, wood, stone, gold)",
                    a.resource
                ))
            })?;
        if a.amount == 0 {
            return Err(ApiError::bad_request(
                "an attachment's amount must be above 0",
            ));
        }
        out.push((kind.index() as u8, a.amount));
    }
    Ok(out)
}

/// `POST /v1/mail`: sends a system mail; answers `{"delivered": n}` once written.
pub async fn send(
    State(ctx): State<AdminContext>,
    body: Result<Json<MailBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    if ctx.standby {
        return Err(ApiError::standby("system mail"));
    }
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if body.title.trim().is_empty() || body.title.len() > MAX_TITLE_BYTES {
        return Err(ApiError::bad_request(format!(
            "title must be 1 to {MAX_TITLE_BYTES} bytes"
        )));
    }
    if body.text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::bad_request(format!(
            "text must be at most {MAX_TEXT_BYTES} bytes"
        )));
    }
    let attachments = attachments(&body.attachments)?;
    let to = recipients(body.to)?;
    let delivered = ctx
        .mail
        .system(SystemMail {
            to,
            title: body.title,
            text: body.text,
            attachments,
            expires_unix_ms: body.expires_unix_ms,
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::STORE_UNAVAILABLE, e))?;
    tracing::info!(delivered, "system mail sent by an operator");
    Ok(Json(json!({ "delivered": delivered })))
}
