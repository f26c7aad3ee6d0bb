//! Compensation tickets from operators: issue one, look one up, list them (seed 001). The rules
//! (each recipient gets a ticket's mail once, however often it is issued) are the mail
//! service's ([`crate::mail::tickets`]); this file turns requests into [`Ticket`]s and audit
//! records into JSON.
//!
//! - `POST /v1/tickets`: 201 with the receipt on the first issue; 200 on a repeat (nothing new
//!   sent, unless an earlier delivery was cut off); 409 `ticket_conflict` when the id was issued
//!   for something else; 400 when malformed; 503 `store_unavailable` when the store failed
//!   (issuing the same ticket again is safe and resumes).
//! - `GET /v1/tickets/{id}`: the audit record, or 404 `ticket_not_found`.
//! - `GET /v1/tickets?before=&limit=`: newest first; `next_before` pages on.
//!
//! The operator recorded is the token's label ([`Operator`]), never the token.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use dominion_persistence::{StoreError, TicketRecipients, TicketRecord};
use dominion_sim::types::ResourceKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminContext;
use super::auth::Operator;
use super::error::{ApiError, codes};
use super::mail::{Attachment, MAX_TITLE_BYTES, To, attachments, recipients};
use crate::mail::{Ticket, TicketError, TicketReceipt};

/// Tickets listed when `limit` is not given.
pub const DEFAULT_LIST_LIMIT: u32 = 50;
/// Most tickets one list answers with.
pub const MAX_LIST_LIMIT: u32 = 500;

/// Body of `POST /v1/tickets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketBody {
    id: String,
    to: To,
    title: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    attachments: Vec<Attachment>,
    reason: String,
    #[serde(default)]
    expires_unix_ms: Option<i64>,
}

/// `?before=&limit=` of a list.
#[derive(Deserialize)]
pub struct ListQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::STORE_UNAVAILABLE,
        e.to_string(),
    )
}

fn to_json(r: &TicketRecipients) -> Value {
    match r {
        TicketRecipients::One(p) => json!(p.0),
        TicketRecipients::List(v) => json!(v.iter().map(|p| p.0).collect::<Vec<_>>()),
        TicketRecipients::All => json!("all"),
    }
}

/// A ticket's audit record as JSON: what was asked (`to`, mail, attachments, reason, expiry),
/// by whom and when, and what became of it (`status`, `delivered`, `finished_unix_ms`,
/// `repeats`).
pub fn record_json(t: &TicketRecord) -> Value {
    let attachments: Vec<Value> = t
        .attachments
        .iter()
        .map(|&(code, amount)| {
            let resource = ResourceKind::ALL
                .into_iter()
                .find(|k| k.index() == usize::from(code))
                .map_or_else(|| format!("code {code}"), |k| k.name().to_owned());
            json!({ "resource": resource, "amount": amount })
        })
        .collect();
    json!({
        "id": t.id,
        "operator": t.operator,
        "issued_unix_ms": t.issued_unix_ms,
        "to": to_json(&t.recipients),
        "title": t.title,
        "text": t.text,
        "attachments": attachments,
        "reason": t.reason,
        "expires_unix_ms": t.expires_unix_ms,
        "status": t.status.name(),
        "delivered": t.delivered,
        "finished_unix_ms": t.finished_unix_ms,
        "repeats": t.repeats,
    })
}

fn receipt_json(r: &TicketReceipt) -> Value {
    json!({
        "first_issue": r.first_issue,
        "delivered_now": r.delivered_now,
        "ticket": record_json(&r.ticket),
    })
}

/// `POST /v1/tickets`: issues a ticket (see the [module docs](self) for the answers).
pub async fn issue(
    State(ctx): State<AdminContext>,
    Extension(operator): Extension<Operator>,
    body: Result<Json<TicketBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if ctx.standby {
        return Err(ApiError::standby("issuing a ticket"));
    }
    let Json(body) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if body.title.trim().is_empty() || body.title.len() > MAX_TITLE_BYTES {
        return Err(ApiError::bad_request(format!(
            "title must be 1 to {MAX_TITLE_BYTES} bytes"
        )));
    }
    if body.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "reason must say why the ticket is issued (kept in the audit)",
        ));
    }
    let ticket = Ticket {
        id: body.id,
        operator: operator.0,
        to: recipients(body.to)?,
        title: body.title,
        text: body.text,
        attachments: attachments(&body.attachments)?,
        reason: body.reason,
        expires_unix_ms: body.expires_unix_ms,
    };
    match ctx.mail.issue_ticket(ticket).await {
        Ok(receipt) => {
            let status = if receipt.first_issue {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(receipt_json(&receipt))))
        }
        Err(TicketError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(e @ TicketError::Conflict { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::TICKET_CONFLICT,
            format!("{e}; GET /v1/tickets/{{id}} shows it as first issued"),
        )),
        Err(TicketError::Store(e)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::STORE_UNAVAILABLE,
            format!("{e} (issuing the same ticket again is safe and resumes the delivery)"),
        )),
    }
}

/// `GET /v1/tickets/{id}`: a ticket's audit record.
pub async fn show(
    State(ctx): State<AdminContext>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match ctx.mail.ticket(&id).await.map_err(store_error)? {
        Some(t) => Ok(Json(record_json(&t))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            codes::TICKET_NOT_FOUND,
            format!("no ticket {id:?}"),
        )),
    }
}

/// Cuts `fetched` (up to `limit + 1` tickets, newest first) to a page and the `before` of the
/// next one. The store pages strictly before a time, so tickets first issued in the same
/// millisecond as the page's last are moved whole to the next page (unless they fill it).
fn page_of(mut fetched: Vec<TicketRecord>, limit: usize) -> (Vec<TicketRecord>, Option<i64>) {
    if fetched.len() <= limit {
        return (fetched, None);
    }
    fetched.truncate(limit + 1);
    let next = fetched.pop().map(|t| t.issued_unix_ms);
    let last = fetched.last().map(|t| t.issued_unix_ms);
    let first = fetched.first().map(|t| t.issued_unix_ms);
    if next == last
        && first != last
        && let Some(m) = last
    {
        fetched.retain(|t| t.issued_unix_ms != m);
        return (fetched, Some(m + 1));
    }
    (fetched, last)
}

/// `GET /v1/tickets?before=&limit=`: tickets first issued before `before` (ms since the Unix
/// epoch; all when absent), newest first, at most `limit` ([`DEFAULT_LIST_LIMIT`], at most
/// [`MAX_LIST_LIMIT`]). `next_before` is the `before` of the next page, `null` on the last;
/// a page may hold fewer than `limit` when tickets share a millisecond ([`page_of`]).
pub async fn list(
    State(ctx): State<AdminContext>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if limit == 0 || limit > MAX_LIST_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_LIST_LIMIT}"
        )));
    }
    let fetched = ctx
        .mail
        .tickets(q.before, limit + 1)
        .await
        .map_err(store_error)?;
    let (page, next_before) = page_of(fetched, limit as usize);
    Ok(Json(json!({
        "tickets": page.iter().map(record_json).collect::<Vec<_>>(),
        "next_before": next_before,
    })))
}

#[cfg(test)]
mod tests {
    use dominion_persistence::TicketStatus;

    use super::*;

    fn at(id: &str, ms: i64) -> TicketRecord {
        TicketRecord {
            id: id.into(),
            operator: "token:00000000".into(),
            issued_unix_ms: ms,
            recipients: TicketRecipients::All,
            title: "t".into(),
            text: String::new(),
            attachments: vec![(3, 1)],
            reason: "r".into(),
            expires_unix_ms: None,
            status: TicketStatus::Delivered,
            delivered: 0,
            finished_unix_ms: None,
            repeats: 0,
        }
    }

    fn ids(page: &[TicketRecord]) -> Vec<&str> {
        page.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn pages_never_split_a_millisecond_and_the_last_page_says_so() {
        // Last page: no next.
        let (p, next) = page_of(vec![at("a", 30), at("b", 20)], 2);
        assert_eq!((ids(&p), next), (vec!["a", "b"], None));
        // More to come, no tie at the cut.
        let (p, next) = page_of(vec![at("a", 30), at("b", 20), at("c", 10)], 2);
        assert_eq!((ids(&p), next), (vec!["a", "b"], Some(20)));
        // A tie at the cut: the 20s move whole to the next page (before 21).
        let (p, next) = page_of(vec![at("a", 30), at("b", 20), at("c", 20)], 2);
        assert_eq!((ids(&p), next), (vec!["a"], Some(21)));
        // A page all of one millisecond cannot move; the page is kept.
        let (p, next) = page_of(vec![at("a", 20), at("b", 20), at("c", 20)], 2);
        assert_eq!((ids(&p), next), (vec!["a", "b"], Some(20)));
    }

    #[test]
    fn records_show_resources_by_name_and_recipients_as_asked() {
        let mut t = at("T", 5);
        t.recipients = TicketRecipients::List(vec![
            dominion_sim::types::PlayerId(1),
            dominion_sim::types::PlayerId(2),
        ]);
        t.attachments = vec![(0, 10), (3, 50)];
        let v = record_json(&t);
        assert_eq!(v["to"], json!([1, 2]));
        assert_eq!(
            v["attachments"],
            json!([{"resource": "food", "amount": 10}, {"resource": "gold", "amount": 50}])
        );
        assert_eq!(v["status"], "delivered");
    }
}
