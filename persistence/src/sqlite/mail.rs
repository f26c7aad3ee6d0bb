//! [`MailStore`] on SQLite: the `mail` table (an integer primary key that only grows, so ids are
//! newest-highest), indexed by (kingdom, player, id).

use async_trait::async_trait;
use dominion_sim::types::PlayerId;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{SqliteStore, map_err};
use crate::error::StoreError;
use crate::mail::{Deleted, Mail, MailKind, MailPage, MailStore, NewMail, trim_plan};
use crate::records::KingdomId;
use crate::tickets::TicketRecord;

/// The table and its index (created with the rest of the schema).
pub(super) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS mail (id INTEGER PRIMARY KEY AUTOINCREMENT, \
     kingdom INTEGER NOT NULL, player INTEGER NOT NULL, kind INTEGER NOT NULL, sent_ms INTEGER NOT NULL, \
     expires_ms INTEGER, title TEXT NOT NULL, body BLOB NOT NULL, attachments BLOB NOT NULL, \
     read INTEGER NOT NULL DEFAULT 0, claimed INTEGER NOT NULL DEFAULT 0);\n\
     CREATE INDEX IF NOT EXISTS mail_box ON mail(kingdom, player, id);\n";

/// Attachments as bytes: per entry a resource code byte and a little-endian `u64`.
pub(crate) fn encode_attachments(a: &[(u8, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() * 9);
    for (code, amount) in a {
        out.push(*code);
        out.extend_from_slice(&amount.to_le_bytes());
    }
    out
}

/// The inverse of [`encode_attachments`]; `None` for a length that is not a whole entry.
pub(crate) fn decode_attachments(b: &[u8]) -> Option<Vec<(u8, u64)>> {
    if !b.len().is_multiple_of(9) {
        return None;
    }
    Some(
        b.chunks_exact(9)
            .map(|c| {
                let mut n = [0u8; 8];
                n.copy_from_slice(&c[1..]);
                (c[0], u64::from_le_bytes(n))
            })
            .collect(),
    )
}

/// Inserts `mails` and trims each recipient's mailbox to `keep`, inside the caller's
/// transaction; returns the new ids in order.
pub(super) fn insert_and_trim(
    tx: &rusqlite::Transaction<'_>,
    kingdom: KingdomId,
    mails: &[NewMail],
    keep: u32,
) -> rusqlite::Result<Vec<u64>> {
    let mut ids = Vec::with_capacity(mails.len());
    let mut insert = tx.prepare_cached(
        "INSERT INTO mail (kingdom, player, kind, sent_ms, expires_ms, title, body, attachments) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
    )?;
    for m in mails {
        let id: i64 = insert.query_row(
            params![
                i64::from(kingdom.0),
                m.player.0 as i64,
                m.kind.code(),
                m.sent_unix_ms,
                m.expires_unix_ms,
                m.title,
                m.body,
                encode_attachments(&m.attachments),
            ],
            |r| r.get(0),
        )?;
        ids.push(id as u64);
    }
    let mut players: Vec<PlayerId> = mails.iter().map(|m| m.player).collect();
    players.sort_unstable();
    players.dedup();
    let mut count =
        tx.prepare_cached("SELECT count(*) FROM mail WHERE kingdom = ?1 AND player = ?2")?;
    let mut rows = tx.prepare_cached(
        "SELECT id, kind, length(attachments) > 0 AND claimed = 0 FROM mail \
             WHERE kingdom = ?1 AND player = ?2",
    )?;
    let mut delete = tx.prepare_cached("DELETE FROM mail WHERE id = ?1")?;
    for p in players {
        let n: i64 = count.query_row(params![i64::from(kingdom.0), p.0 as i64], |r| r.get(0))?;
        if n as u64 <= u64::from(keep) {
            continue;
        }
        let box_rows: Vec<(u64, MailKind, bool)> = rows
            .query_map(params![i64::from(kingdom.0), p.0 as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    MailKind::from_code(r.get(1)?).unwrap_or(MailKind::System),
                    r.get::<_, bool>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for id in trim_plan(box_rows, keep) {
            delete.execute([id as i64])?;
        }
    }
    Ok(ids)
}

const COLUMNS: &str =
    "id, player, kind, sent_ms, expires_ms, title, body, attachments, read, claimed";

fn row_to_mail(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Mail, String>> {
    let id: i64 = r.get(0)?;
    let kind: i64 = r.get(2)?;
    let attachments: Vec<u8> = r.get(7)?;
    let Some(kind) = MailKind::from_code(kind) else {
        return Ok(Err(format!("mail {id}: unknown kind {kind}")));
    };
    let Some(attachments) = decode_attachments(&attachments) else {
        return Ok(Err(format!(
            "mail {id}: attachments of {} bytes",
            attachments.len()
        )));
    };
    Ok(Ok(Mail {
        id: id as u64,
        mail: NewMail {
            player: PlayerId(r.get::<_, i64>(1)? as u64),
            kind,
            sent_unix_ms: r.get(3)?,
            expires_unix_ms: r.get(4)?,
            title: r.get(5)?,
            body: r.get(6)?,
            attachments,
        },
        read: r.get::<_, i64>(8)? != 0,
        claimed: r.get::<_, i64>(9)? != 0,
    }))
}

fn corrupt(id: String, reason: String) -> StoreError {
    StoreError::Corrupt {
        collection: "mail",
        id,
        reason,
    }
}

#[async_trait]
impl MailStore for SqliteStore {
    async fn prepare_mail(&self) -> Result<(), StoreError> {
        // The table and index are created with the schema when the store opens.
        Ok(())
    }

    async fn deliver(
        &self,
        kingdom: KingdomId,
        mails: &[NewMail],
        keep: u32,
    ) -> Result<Vec<u64>, StoreError> {
        let mails = mails.to_vec();
        self.run(true, "deliver mail", move |c, url| {
            let e = |e| map_err(url, "deliver mail", e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            let ids = insert_and_trim(&tx, kingdom, &mails, keep).map_err(e)?;
            tx.commit().map_err(e)?;
            Ok(ids)
        })
        .await
    }

    async fn list(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        before: Option<u64>,
        limit: u32,
        now_unix_ms: i64,
    ) -> Result<MailPage, StoreError> {
        self.run(false, "list mail", move |c, url| {
            let e = |e| map_err(url, "list mail", e);
            let (k, p) = (i64::from(kingdom.0), player.0 as i64);
            let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM mail WHERE kingdom = ?1 AND player = ?2 AND id < ?3 \
                     AND (expires_ms IS NULL OR expires_ms > ?4) ORDER BY id DESC LIMIT ?5"
                ))
                .map_err(e)?;
            let mails = stmt
                .query_map(
                    params![k, p, before, now_unix_ms, i64::from(limit)],
                    row_to_mail,
                )
                .map_err(e)?
                .map(|r| r.map_err(e)?.map_err(|m| corrupt(player.to_string(), m)))
                .collect::<Result<Vec<_>, _>>()?;
            let (total, unread): (i64, i64) = c
                .prepare_cached(
                    "SELECT count(*), coalesce(sum(read = 0), 0) FROM mail WHERE kingdom = ?1 \
                     AND player = ?2 AND (expires_ms IS NULL OR expires_ms > ?3)",
                )
                .map_err(e)?
                .query_row(params![k, p, now_unix_ms], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(e)?;
            Ok(MailPage {
                mails,
                unread: unread as u64,
                total: total as u64,
            })
        })
        .await
    }

    async fn get(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        id: u64,
    ) -> Result<Option<Mail>, StoreError> {
        self.run(false, "read mail", move |c, url| {
            let e = |e| map_err(url, "read mail", e);
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM mail WHERE kingdom = ?1 AND player = ?2 AND id = ?3"
            ))
            .map_err(e)?
            .query_row(
                params![i64::from(kingdom.0), player.0 as i64, id as i64],
                row_to_mail,
            )
            .optional()
            .map_err(e)?
            .transpose()
            .map_err(|m| corrupt(id.to_string(), m))
        })
        .await
    }

    async fn mark_read(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        ids: &[u64],
    ) -> Result<u64, StoreError> {
        let ids = ids.to_vec();
        self.run(true, "mark mail read", move |c, url| {
            let e = |e| map_err(url, "mark mail read", e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            let mut n = 0;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE mail SET read = 1 WHERE kingdom = ?1 AND player = ?2 AND id = ?3 AND read = 0",
                    )
                    .map_err(e)?;
                for id in ids {
                    n += stmt
                        .execute(params![i64::from(kingdom.0), player.0 as i64, id as i64])
                        .map_err(e)? as u64;
                }
            }
            tx.commit().map_err(e)?;
            Ok(n)
        })
        .await
    }

    async fn delete(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        id: u64,
    ) -> Result<Deleted, StoreError> {
        self.run(true, "delete mail", move |c, url| {
            let e = |e| map_err(url, "delete mail", e);
            let (k, p) = (i64::from(kingdom.0), player.0 as i64);
            let n = c
                .prepare_cached(
                    "DELETE FROM mail WHERE kingdom = ?1 AND player = ?2 AND id = ?3 \
                     AND (length(attachments) = 0 OR claimed = 1)",
                )
                .map_err(e)?
                .execute(params![k, p, id as i64])
                .map_err(e)?;
            if n > 0 {
                return Ok(Deleted::Deleted);
            }
            let exists = c
                .prepare_cached("SELECT 1 FROM mail WHERE kingdom = ?1 AND player = ?2 AND id = ?3")
                .map_err(e)?
                .query_row(params![k, p, id as i64], |_| Ok(()))
                .optional()
                .map_err(e)?
                .is_some();
            Ok(if exists {
                Deleted::HasUnclaimedAttachments
            } else {
                Deleted::NotFound
            })
        })
        .await
    }

    async fn mark_claimed(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        id: u64,
    ) -> Result<bool, StoreError> {
        self.run(true, "mark mail claimed", move |c, url| {
            c.prepare_cached(
                "UPDATE mail SET claimed = 1 WHERE kingdom = ?1 AND player = ?2 AND id = ?3 AND claimed = 0",
            )
            .and_then(|mut s| s.execute(params![i64::from(kingdom.0), player.0 as i64, id as i64]))
            .map(|n| n > 0)
            .map_err(|e| map_err(url, "mark mail claimed", e))
        })
        .await
    }

    async fn oldest_claimable(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        now_unix_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        self.run(false, "find the oldest claimable mail", move |c, url| {
            c.prepare_cached(
                "SELECT min(id) FROM mail WHERE kingdom = ?1 AND player = ?2 AND claimed = 0 \
                 AND length(attachments) > 0 AND (expires_ms IS NULL OR expires_ms > ?3)",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![i64::from(kingdom.0), player.0 as i64, now_unix_ms],
                    |r| r.get::<_, Option<i64>>(0),
                )
            })
            .map(|id| id.map(|id| id as u64))
            .map_err(|e| map_err(url, "find the oldest claimable mail", e))
        })
        .await
    }

    async fn unclaimed_attachments(
        &self,
        kingdom: KingdomId,
    ) -> Result<Vec<(PlayerId, u64)>, StoreError> {
        self.run(false, "list unclaimed attachments", move |c, url| {
            let e = |e| map_err(url, "list unclaimed attachments", e);
            let mut stmt = c
                .prepare_cached(
                    "SELECT player, id FROM mail WHERE kingdom = ?1 AND claimed = 0 \
                     AND length(attachments) > 0 ORDER BY id",
                )
                .map_err(e)?;
            stmt.query_map([i64::from(kingdom.0)], |r| {
                Ok((
                    PlayerId(r.get::<_, i64>(0)? as u64),
                    r.get::<_, i64>(1)? as u64,
                ))
            })
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)
        })
        .await
    }

    async fn open_ticket(
        &self,
        kingdom: KingdomId,
        ticket: &TicketRecord,
    ) -> Result<Option<TicketRecord>, StoreError> {
        self.open_ticket_row(kingdom, ticket).await
    }

    async fn deliver_ticket(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        mails: &[NewMail],
        keep: u32,
    ) -> Result<u64, StoreError> {
        self.deliver_ticket_rows(kingdom, ticket, mails, keep).await
    }

    async fn finish_ticket(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        delivered: u64,
        finished_unix_ms: i64,
    ) -> Result<(), StoreError> {
        self.finish_ticket_row(kingdom, ticket, delivered, finished_unix_ms)
            .await
    }

    async fn ticket(
        &self,
        kingdom: KingdomId,
        ticket: &str,
    ) -> Result<Option<TicketRecord>, StoreError> {
        self.ticket_row(kingdom, ticket).await
    }

    async fn tickets(
        &self,
        kingdom: KingdomId,
        before_unix_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        self.ticket_rows(kingdom, before_unix_ms, limit).await
    }
}
