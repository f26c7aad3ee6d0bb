//! Compensation tickets (seed 001), the service side: an operator's ticket becomes system mail
//! with attachments, exactly once per recipient, and leaves an audit record in the store.
//!
//! Issuing a ticket ([`issue_ticket`], also [`super::MailHandle::issue_ticket`]):
//! - checks it (a non-empty id of at most [`MAX_TICKET_ID`] printable characters, an operator,
//!   known resource codes, positive amounts, a future expiry, a non-empty list);
//! - records it (status *delivering*) unless a ticket with its id exists. An existing ticket
//!   asking for something else (recipients, title, text, attachments, reason; the expiry of the
//!   first issue holds) is refused ([`TicketError::Conflict`]); one already *delivered*
//!   is reported as it stands and nothing is sent; one still *delivering* (a delivery cut off
//!   by a crash) is delivered again, which sends only to recipients who did not get it;
//! - delivers in chunks of the mail service's chunk size, each recipient at most once per
//!   ticket (the store keeps a mark per (ticket, player));
//! - marks it *delivered* with the number of recipients holding its mail.
//!
//! "Every player" means every player with a saved record when the ticket is delivered.
//!
//! Not responsible for: who may issue tickets (the admin API in front of this), granting the
//! attachments (a player claims them: [`super::claims`]).

use std::sync::Arc;

use dominion_persistence::store::now_unix_ms;
use dominion_persistence::{
    KingdomId, MailKind, MailStore, Migrations, NewMail, PlayerRecord, Store, StoreError,
    TicketRecipients, TicketRecord, TicketStatus, load_records,
};
use dominion_sim::types::{PlayerId, ResourceKind};
use tokio::sync::Mutex;

use super::Recipients;

/// Longest ticket id.
pub const MAX_TICKET_ID: usize = 128;
/// Most attachments on one ticket.
pub const MAX_TICKET_ATTACHMENTS: usize = 16;
/// Longest title.
pub const MAX_TICKET_TITLE: usize = 200;
/// Longest text or reason.
pub const MAX_TICKET_TEXT: usize = 10_000;

/// An operator's compensation ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The operator's unique id for it: issuing the same id again sends nothing new.
    pub id: String,
    /// Who issues it (kept in the audit).
    pub operator: String,
    /// Who gets it.
    pub to: Recipients,
    /// The mail's title.
    pub title: String,
    /// The mail's text.
    pub text: String,
    /// Attachments: (resource code 0 food, 1 wood, 2 stone, 3 gold; amount > 0).
    pub attachments: Vec<(u8, u64)>,
    /// Why (kept in the audit; not shown to players).
    pub reason: String,
    /// The mail expires then (ms since the Unix epoch); `None`: never.
    pub expires_unix_ms: Option<i64>,
}

/// What issuing a ticket did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketReceipt {
    /// The ticket's audit record as it stands now.
    pub ticket: TicketRecord,
    /// False when the id was issued before (a repeat: success, and nothing sent unless an
    /// earlier delivery was cut off).
    pub first_issue: bool,
    /// Recipients who got its mail during this call.
    pub delivered_now: u64,
}

/// Why a ticket was not issued.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// The ticket is malformed; nothing was recorded.
    #[error("invalid ticket: {0}")]
    Invalid(String),
    /// A ticket with this id exists and asks for something else; nothing was sent.
    #[error("ticket {id} was issued before with other recipients, mail, attachments or reason")]
    Conflict {
        /// The id.
        id: String,
        /// The ticket as first issued.
        existing: Box<TicketRecord>,
    },
    /// The store failed; issuing the same ticket again is safe and resumes the delivery.
    #[error("the store failed while issuing the ticket (issuing it again resumes): {0}")]
    Store(#[from] StoreError),
}

/// Everything issuing tickets needs. Deliveries run one at a time (the MongoDB backend needs it:
/// see `persistence::mongo::tickets`).
pub struct TicketDesk {
    /// Mailboxes and tickets.
    pub mail: Arc<dyn MailStore>,
    /// The world's records (for "every player").
    pub world: Arc<dyn Store>,
    /// Record migrations.
    pub migrations: Arc<Migrations>,
    /// The kingdom.
    pub kingdom: KingdomId,
    /// Mails a mailbox keeps.
    pub keep: u32,
    /// Mails written per store call.
    pub chunk: usize,
    serial: Mutex<()>,
}

impl TicketDesk {
    /// A desk on these stores.
    pub fn new(
        mail: Arc<dyn MailStore>,
        world: Arc<dyn Store>,
        migrations: Arc<Migrations>,
        kingdom: KingdomId,
        keep: u32,
        chunk: usize,
    ) -> TicketDesk {
        TicketDesk {
            mail,
            world,
            migrations,
            kingdom,
            keep,
            chunk: chunk.max(1),
            serial: Mutex::new(()),
        }
    }
}

fn check(t: &Ticket, now: i64) -> Result<(), String> {
    if t.id.is_empty() || t.id.len() > MAX_TICKET_ID || t.id.chars().any(char::is_control) {
        return Err(format!(
            "the id must be 1..={MAX_TICKET_ID} bytes without control characters"
        ));
    }
    if t.operator.trim().is_empty() {
        return Err("the operator is missing".into());
    }
    if t.title.len() > MAX_TICKET_TITLE {
        return Err(format!("the title is over {MAX_TICKET_TITLE} bytes"));
    }
    if t.text.len() > MAX_TICKET_TEXT || t.reason.len() > MAX_TICKET_TEXT {
        return Err(format!(
            "the text or reason is over {MAX_TICKET_TEXT} bytes"
        ));
    }
    if t.attachments.len() > MAX_TICKET_ATTACHMENTS {
        return Err(format!(
            "{} attachments, at most {MAX_TICKET_ATTACHMENTS}",
            t.attachments.len()
        ));
    }
    for &(code, amount) in &t.attachments {
        if usize::from(code) >= ResourceKind::ALL.len() {
            return Err(format!(
                "attachment resource code {code} is unknown (0 food, 1 wood, 2 stone, 3 gold)"
            ));
        }
        if amount == 0 {
            return Err(format!("attachment of resource {code} has amount 0"));
        }
    }
    if let Some(e) = t.expires_unix_ms
        && e <= now
    {
        return Err(format!("it expires at {e}, which is not in the future"));
    }
    if matches!(&t.to, Recipients::List(v) if v.is_empty()) {
        return Err("the recipient list is empty".into());
    }
    Ok(())
}

fn stored_recipients(r: &Recipients) -> TicketRecipients {
    match r {
        Recipients::One(p) => TicketRecipients::One(*p),
        Recipients::List(v) => {
            let mut v = v.clone();
            v.sort_unstable();
            v.dedup();
            TicketRecipients::List(v)
        }
        Recipients::All => TicketRecipients::All,
    }
}

async fn resolve(desk: &TicketDesk, r: &TicketRecipients) -> Result<Vec<PlayerId>, StoreError> {
    Ok(match r {
        TicketRecipients::One(p) => vec![*p],
        TicketRecipients::List(v) => v.clone(),
        TicketRecipients::All => {
            load_records::<PlayerRecord>(desk.world.as_ref(), &desk.migrations, desk.kingdom)
                .await?
                .into_iter()
                .map(|r| r.player)
                .collect()
        }
    })
}

/// Issues `ticket`. See the [module docs](self).
pub async fn issue_ticket(desk: &TicketDesk, ticket: Ticket) -> Result<TicketReceipt, TicketError> {
    let now = now_unix_ms();
    check(&ticket, now).map_err(TicketError::Invalid)?;
    let _one_at_a_time = desk.serial.lock().await;
    let record = TicketRecord {
        id: ticket.id.clone(),
        operator: ticket.operator.clone(),
        issued_unix_ms: now,
        recipients: stored_recipients(&ticket.to),
        title: ticket.title.clone(),
        text: ticket.text.clone(),
        attachments: ticket.attachments.clone(),
        reason: ticket.reason.clone(),
        expires_unix_ms: ticket.expires_unix_ms,
        status: TicketStatus::Delivering,
        delivered: 0,
        finished_unix_ms: None,
        repeats: 0,
    };
    let k = desk.kingdom;
    let existing = desk.mail.open_ticket(k, &record).await?;
    let first_issue = existing.is_none();
    let stored = match existing {
        Some(e) if !e.same_request(&record) => {
            tracing::warn!(ticket = %e.id, operator = %ticket.operator, "ticket id reused for another request: refused");
            return Err(TicketError::Conflict {
                id: e.id.clone(),
                existing: Box::new(e),
            });
        }
        Some(e) if e.status == TicketStatus::Delivered => {
            tracing::info!(ticket = %e.id, operator = %ticket.operator, "ticket issued again: already delivered, nothing sent");
            return Ok(TicketReceipt {
                ticket: e,
                first_issue: false,
                delivered_now: 0,
            });
        }
        Some(e) => e,
        None => record,
    };
    let players = resolve(desk, &stored.recipients).await?;
    let mut delivered_now = 0;
    for chunk in players.chunks(desk.chunk) {
        let mails: Vec<NewMail> = chunk
            .iter()
            .map(|&player| NewMail {
                player,
                kind: MailKind::System,
                sent_unix_ms: now,
                expires_unix_ms: stored.expires_unix_ms,
                title: stored.title.clone(),
                body: stored.text.clone().into_bytes(),
                attachments: stored.attachments.clone(),
            })
            .collect();
        delivered_now += desk
            .mail
            .deliver_ticket(k, &stored.id, &mails, desk.keep)
            .await?;
    }
    let finished = now_unix_ms();
    desk.mail
        .finish_ticket(k, &stored.id, players.len() as u64, finished)
        .await?;
    tracing::info!(
        ticket = %stored.id,
        operator = %ticket.operator,
        recipients = players.len(),
        delivered_now,
        first_issue,
        "ticket delivered"
    );
    let ticket = desk
        .mail
        .ticket(k, &stored.id)
        .await?
        .unwrap_or(TicketRecord {
            status: TicketStatus::Delivered,
            delivered: players.len() as u64,
            finished_unix_ms: Some(finished),
            ..stored
        });
    Ok(TicketReceipt {
        ticket,
        first_issue,
        delivered_now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            id: "T-1".into(),
            operator: "ops".into(),
            to: Recipients::One(PlayerId(1)),
            title: "Sorry".into(),
            text: "For the outage".into(),
            attachments: vec![(3, 100)],
            reason: "outage".into(),
            expires_unix_ms: None,
        }
    }

    #[test]
    fn malformed_tickets_are_named() {
        assert_eq!(check(&ticket(), 0), Ok(()));
        for (bad, needle) in [
            (
                Ticket {
                    id: String::new(),
                    ..ticket()
                },
                "id",
            ),
            (
                Ticket {
                    operator: " ".into(),
                    ..ticket()
                },
                "operator",
            ),
            (
                Ticket {
                    attachments: vec![(4, 1)],
                    ..ticket()
                },
                "code 4",
            ),
            (
                Ticket {
                    attachments: vec![(0, 0)],
                    ..ticket()
                },
                "amount 0",
            ),
            (
                Ticket {
                    expires_unix_ms: Some(5),
                    ..ticket()
                },
                "future",
            ),
            (
                Ticket {
                    to: Recipients::List(Vec::new()),
                    ..ticket()
                },
                "empty",
            ),
        ] {
            let e = check(&bad, 10).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }
}
