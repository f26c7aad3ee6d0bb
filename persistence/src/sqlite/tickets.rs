//! Compensation tickets on SQLite: the `mail_tickets` table (one row per ticket: the request
//! and its audit fields) and `mail_ticket_sent` (one row per (ticket, player) that got the
//! ticket's mail, written in the same transaction as that mail, so a delivery cut off anywhere
//! resumes without sending anyone a second one).

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::mail::{decode_attachments, encode_attachments, insert_and_trim};
use super::{SqliteStore, map_err};
use crate::error::StoreError;
use crate::mail::NewMail;
use crate::records::KingdomId;
use crate::tickets::{TicketRecipients, TicketRecord, TicketStatus};

/// The tables (created with the rest of the schema).
pub(super) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS mail_tickets (kingdom INTEGER NOT NULL, \
     id TEXT NOT NULL, operator TEXT NOT NULL, issued_ms INTEGER NOT NULL, recipients TEXT NOT NULL, \
     title TEXT NOT NULL, text TEXT NOT NULL, attachments BLOB NOT NULL, reason TEXT NOT NULL, \
     expires_ms INTEGER, status INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0, \
     finished_ms INTEGER, repeats INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kingdom, id)) WITHOUT ROWID;\n\
     CREATE INDEX IF NOT EXISTS mail_tickets_issued ON mail_tickets(kingdom, issued_ms);\n\
     CREATE TABLE IF NOT EXISTS mail_ticket_sent (kingdom INTEGER NOT NULL, ticket TEXT NOT NULL, \
     player INTEGER NOT NULL, mail INTEGER NOT NULL, PRIMARY KEY (kingdom, ticket, player)) WITHOUT ROWID;\n";

const COLUMNS: &str = "id, operator, issued_ms, recipients, title, text, attachments, reason, \
     expires_ms, status, delivered, finished_ms, repeats";

fn row_to_ticket(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TicketRecord, String>> {
    let id: String = r.get(0)?;
    let recipients: String = r.get(3)?;
    let attachments: Vec<u8> = r.get(6)?;
    let status: i64 = r.get(9)?;
    let Ok(recipients) = TicketRecipients::decode(&recipients) else {
        return Ok(Err(format!("ticket {id}: recipients {recipients:?}")));
    };
    let Some(attachments) = decode_attachments(&attachments) else {
        return Ok(Err(format!(
            "ticket {id}: attachments of {} bytes",
            attachments.len()
        )));
    };
    let Some(status) = TicketStatus::from_code(status) else {
        return Ok(Err(format!("ticket {id}: status {status}")));
    };
    Ok(Ok(TicketRecord {
        operator: r.get(1)?,
        issued_unix_ms: r.get(2)?,
        recipients,
        title: r.get(4)?,
        text: r.get(5)?,
        attachments,
        reason: r.get(7)?,
        expires_unix_ms: r.get(8)?,
        status,
        delivered: r.get::<_, i64>(10)? as u64,
        finished_unix_ms: r.get(11)?,
        repeats: r.get::<_, i64>(12)? as u64,
        id,
    }))
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        collection: "mail_tickets",
        id: String::new(),
        reason,
    }
}

fn select_one(
    c: &rusqlite::Connection,
    kingdom: KingdomId,
    id: &str,
) -> rusqlite::Result<Option<Result<TicketRecord, String>>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM mail_tickets WHERE kingdom = ?1 AND id = ?2"
    ))?
    .query_row(params![i64::from(kingdom.0), id], row_to_ticket)
    .optional()
}

impl SqliteStore {
    pub(super) async fn open_ticket_row(
        &self,
        kingdom: KingdomId,
        ticket: &TicketRecord,
    ) -> Result<Option<TicketRecord>, StoreError> {
        let t = ticket.clone();
        self.run(true, "open ticket", move |c, url| {
            let e = |e| map_err(url, "open ticket", e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            let existing = select_one(&tx, kingdom, &t.id).map_err(e)?;
            let out = match existing {
                Some(found) => {
                    tx.execute(
                        "UPDATE mail_tickets SET repeats = repeats + 1 WHERE kingdom = ?1 AND id = ?2",
                        params![i64::from(kingdom.0), t.id],
                    )
                    .map_err(e)?;
                    let mut found = found.map_err(corrupt)?;
                    found.repeats += 1;
                    Some(found)
                }
                None => {
                    tx.execute(
                        "INSERT INTO mail_tickets (kingdom, id, operator, issued_ms, recipients, title, \
                         text, attachments, reason, expires_ms, status) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        params![
                            i64::from(kingdom.0),
                            t.id,
                            t.operator,
                            t.issued_unix_ms,
                            t.recipients.encode(),
                            t.title,
                            t.text,
                            encode_attachments(&t.attachments),
                            t.reason,
                            t.expires_unix_ms,
                            TicketStatus::Delivering.code(),
                        ],
                    )
                    .map_err(e)?;
                    None
                }
            };
            tx.commit().map_err(e)?;
            Ok(out)
        })
        .await
    }

    pub(super) async fn deliver_ticket_rows(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        mails: &[NewMail],
        keep: u32,
    ) -> Result<u64, StoreError> {
        let ticket = ticket.to_string();
        let mails = mails.to_vec();
        self.run(true, "deliver ticket mail", move |c, url| {
            let e = |e| map_err(url, "deliver ticket mail", e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            let mut fresh = Vec::with_capacity(mails.len());
            {
                let mut sent = tx
                    .prepare_cached(
                        "SELECT 1 FROM mail_ticket_sent WHERE kingdom = ?1 AND ticket = ?2 AND player = ?3",
                    )
                    .map_err(e)?;
                for m in mails {
                    let had = sent
                        .query_row(
                            params![i64::from(kingdom.0), ticket, m.player.0 as i64],
                            |_| Ok(()),
                        )
                        .optional()
                        .map_err(e)?
                        .is_some();
                    if !had && !fresh.iter().any(|f: &NewMail| f.player == m.player) {
                        fresh.push(m);
                    }
                }
            }
            let ids = insert_and_trim(&tx, kingdom, &fresh, keep).map_err(e)?;
            {
                let mut mark = tx
                    .prepare_cached(
                        "INSERT INTO mail_ticket_sent (kingdom, ticket, player, mail) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .map_err(e)?;
                for (m, id) in fresh.iter().zip(&ids) {
                    mark.execute(params![
                        i64::from(kingdom.0),
                        ticket,
                        m.player.0 as i64,
                        *id as i64
                    ])
                    .map_err(e)?;
                }
            }
            tx.commit().map_err(e)?;
            Ok(fresh.len() as u64)
        })
        .await
    }

    pub(super) async fn finish_ticket_row(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        delivered: u64,
        finished_unix_ms: i64,
    ) -> Result<(), StoreError> {
        let ticket = ticket.to_string();
        self.run(true, "finish ticket", move |c, url| {
            c.execute(
                "UPDATE mail_tickets SET status = ?3, delivered = ?4, finished_ms = ?5 \
                 WHERE kingdom = ?1 AND id = ?2",
                params![
                    i64::from(kingdom.0),
                    ticket,
                    TicketStatus::Delivered.code(),
                    delivered as i64,
                    finished_unix_ms
                ],
            )
            .map(|_| ())
            .map_err(|e| map_err(url, "finish ticket", e))
        })
        .await
    }

    pub(super) async fn ticket_row(
        &self,
        kingdom: KingdomId,
        ticket: &str,
    ) -> Result<Option<TicketRecord>, StoreError> {
        let ticket = ticket.to_string();
        self.run(false, "read ticket", move |c, url| {
            select_one(c, kingdom, &ticket)
                .map_err(|e| map_err(url, "read ticket", e))?
                .transpose()
                .map_err(corrupt)
        })
        .await
    }

    pub(super) async fn ticket_rows(
        &self,
        kingdom: KingdomId,
        before_unix_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        self.run(false, "list tickets", move |c, url| {
            let e = |e| map_err(url, "list tickets", e);
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM mail_tickets WHERE kingdom = ?1 AND issued_ms < ?2 \
                     ORDER BY issued_ms DESC, id DESC LIMIT ?3"
                ))
                .map_err(e)?;
            stmt.query_map(
                params![
                    i64::from(kingdom.0),
                    before_unix_ms.unwrap_or(i64::MAX),
                    i64::from(limit)
                ],
                row_to_ticket,
            )
            .map_err(e)?
            .map(|r| r.map_err(e)?.map_err(corrupt))
            .collect()
        })
        .await
    }
}
