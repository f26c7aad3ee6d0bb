//! Compensation tickets on MongoDB: the `mail_tickets` collection (`_id` = "kingdom:ticket",
//! the request and its audit fields) and `mail_ticket_sent` (`_id` = "kingdom:ticket:player",
//! one mark per recipient that got the ticket's mail).
//!
//! Without a multi-document transaction, a recipient's mail is inserted first (naming its
//! ticket) and the mark after it; a delivery resumed after a cut between the two finds the mail
//! by its ticket and only writes the mark. A ticket's mail that is deleted or trimmed writes its
//! mark first (`mail.rs`), so a mark or the mail itself always remembers the delivery. Two
//! deliveries of one ticket must not run at the same time (the root's mail service runs them
//! one at a time).

use bson::{Bson, Document, doc};
use dominion_sim::types::PlayerId;
use futures_util::TryStreamExt;

use super::MongoStore;
use super::mail::{MAIL, attachments_bytes, binary, corrupt, mail_doc};
use crate::error::StoreError;
use crate::mail::NewMail;
use crate::records::KingdomId;
use crate::tickets::{TicketRecipients, TicketRecord, TicketStatus};

const TICKETS: &str = "mail_tickets";
const SENT: &str = "mail_ticket_sent";

fn ticket_key(kingdom: KingdomId, ticket: &str) -> String {
    format!("{}:{ticket}", kingdom.0)
}

fn sent_key(kingdom: KingdomId, ticket: &str, player: PlayerId) -> String {
    format!("{}:{ticket}:{}", kingdom.0, player.0)
}

fn to_ticket(d: &Document) -> Result<TicketRecord, StoreError> {
    let id = d
        .get_str("ticket")
        .map_err(|e| corrupt("?", e.to_string()))?;
    let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt {
        collection: TICKETS,
        id: id.to_string(),
        reason: e.to_string(),
    };
    let recipients = TicketRecipients::decode(d.get_str("recipients").map_err(|e| bad(&e))?)
        .map_err(|e| bad(&e))?;
    let raw = d.get_binary_generic("attachments").map_err(|e| bad(&e))?;
    if !raw.len().is_multiple_of(9) {
        return Err(bad(&format!("attachments of {} bytes", raw.len())));
    }
    let attachments = raw
        .chunks_exact(9)
        .map(|c| {
            let mut n = [0u8; 8];
            n.copy_from_slice(&c[1..]);
            (c[0], u64::from_le_bytes(n))
        })
        .collect();
    let status = d.get_i64("status").map_err(|e| bad(&e))?;
    Ok(TicketRecord {
        id: id.to_string(),
        operator: d.get_str("operator").map_err(|e| bad(&e))?.to_string(),
        issued_unix_ms: d.get_i64("issued_ms").map_err(|e| bad(&e))?,
        recipients,
        title: d.get_str("title").map_err(|e| bad(&e))?.to_string(),
        text: d.get_str("text").map_err(|e| bad(&e))?.to_string(),
        attachments,
        reason: d.get_str("reason").map_err(|e| bad(&e))?.to_string(),
        expires_unix_ms: d.get_i64("expires_ms").ok(),
        status: TicketStatus::from_code(status).ok_or_else(|| bad(&format!("status {status}")))?,
        delivered: d.get_i64("delivered").map_err(|e| bad(&e))? as u64,
        finished_unix_ms: d.get_i64("finished_ms").ok(),
        repeats: d.get_i64("repeats").map_err(|e| bad(&e))? as u64,
    })
}

impl MongoStore {
    /// Records that `player` got ticket `ticket`'s mail `mail` (idempotent).
    pub(super) async fn mark_ticket_sent(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        player: PlayerId,
        mail: u64,
    ) -> Result<(), StoreError> {
        self.coll(SENT)
            .update_one(
                doc! { "_id": sent_key(kingdom, ticket, player) },
                doc! { "$set": { "kingdom": i64::from(kingdom.0), "ticket": ticket, "player": player.0 as i64, "mail": mail as i64 } },
            )
            .upsert(true)
            .await
            .map(|_| ())
            .map_err(|e| self.map_err("mark ticket mail sent", e))
    }

    pub(super) async fn open_ticket_doc(
        &self,
        kingdom: KingdomId,
        t: &TicketRecord,
    ) -> Result<Option<TicketRecord>, StoreError> {
        let d = doc! {
            "_id": ticket_key(kingdom, &t.id),
            "kingdom": i64::from(kingdom.0),
            "ticket": t.id.clone(),
            "operator": t.operator.clone(),
            "issued_ms": t.issued_unix_ms,
            "recipients": t.recipients.encode(),
            "title": t.title.clone(),
            "text": t.text.clone(),
            "attachments": binary(attachments_bytes(&t.attachments)),
            "reason": t.reason.clone(),
            "expires_ms": t.expires_unix_ms.map_or(Bson::Null, Bson::Int64),
            "status": TicketStatus::Delivering.code(),
            "delivered": 0_i64,
            "finished_ms": Bson::Null,
            "repeats": 0_i64,
        };
        let insert_error = match self.coll(TICKETS).insert_one(d).await {
            Ok(_) => return Ok(None),
            Err(e) => e,
        };
        // Most likely the id exists; anything else shows when reading it back.
        let key = doc! { "_id": ticket_key(kingdom, &t.id) };
        let found = self
            .coll(TICKETS)
            .find_one(key.clone())
            .await
            .map_err(|e| self.map_err("open ticket", e))?;
        let Some(found) = found else {
            return Err(self.map_err("open ticket", insert_error));
        };
        self.coll(TICKETS)
            .update_one(key, doc! { "$inc": { "repeats": 1_i64 } })
            .await
            .map_err(|e| self.map_err("open ticket", e))?;
        let mut found = to_ticket(&found)?;
        found.repeats += 1;
        Ok(Some(found))
    }

    pub(super) async fn deliver_ticket_docs(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        mails: &[NewMail],
        keep: u32,
    ) -> Result<u64, StoreError> {
        if mails.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = mails
            .iter()
            .map(|m| sent_key(kingdom, ticket, m.player))
            .collect();
        let marked: Vec<Document> = self
            .coll(SENT)
            .find(doc! { "_id": { "$in": keys } })
            .projection(doc! { "player": 1 })
            .await
            .map_err(|e| self.map_err("read ticket marks", e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err("read ticket marks", e))?;
        let marked: Vec<i64> = marked
            .iter()
            .filter_map(|d| d.get_i64("player").ok())
            .collect();
        let mut unmarked: Vec<&NewMail> = Vec::new();
        for m in mails {
            let p = m.player.0 as i64;
            if !marked.contains(&p) && !unmarked.iter().any(|u| u.player == m.player) {
                unmarked.push(m);
            }
        }
        if unmarked.is_empty() {
            return Ok(0);
        }
        // Mail delivered by a run cut off before its mark.
        let players: Vec<i64> = unmarked.iter().map(|m| m.player.0 as i64).collect();
        let sent: Vec<Document> = self
            .coll(MAIL)
            .find(doc! { "kingdom": i64::from(kingdom.0), "ticket": ticket, "player": { "$in": players } })
            .projection(doc! { "_id": 1, "player": 1 })
            .await
            .map_err(|e| self.map_err("find ticket mail", e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err("find ticket mail", e))?;
        let mut fresh: Vec<NewMail> = Vec::new();
        for m in unmarked {
            let had = sent
                .iter()
                .find(|d| d.get_i64("player").ok() == Some(m.player.0 as i64));
            match had.and_then(|d| d.get_i64("_id").ok()) {
                Some(id) => {
                    self.mark_ticket_sent(kingdom, ticket, m.player, id as u64)
                        .await?
                }
                None => fresh.push(m.clone()),
            }
        }
        if fresh.is_empty() {
            return Ok(0);
        }
        let first = self.reserve_mail_ids(fresh.len() as u64).await?;
        let ids: Vec<u64> = (first..first + fresh.len() as u64).collect();
        let docs: Vec<Document> = fresh
            .iter()
            .zip(&ids)
            .map(|(m, id)| mail_doc(kingdom, m, *id, Some(ticket)))
            .collect();
        self.coll(MAIL)
            .insert_many(docs)
            .await
            .map_err(|e| self.map_err("deliver ticket mail", e))?;
        for (m, id) in fresh.iter().zip(&ids) {
            self.mark_ticket_sent(kingdom, ticket, m.player, *id)
                .await?;
        }
        self.trim_mailboxes(kingdom, &fresh, keep).await?;
        Ok(fresh.len() as u64)
    }

    pub(super) async fn finish_ticket_doc(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        delivered: u64,
        finished_unix_ms: i64,
    ) -> Result<(), StoreError> {
        self.coll(TICKETS)
            .update_one(
                doc! { "_id": ticket_key(kingdom, ticket) },
                doc! { "$set": {
                    "status": TicketStatus::Delivered.code(),
                    "delivered": delivered as i64,
                    "finished_ms": finished_unix_ms,
                } },
            )
            .await
            .map(|_| ())
            .map_err(|e| self.map_err("finish ticket", e))
    }

    pub(super) async fn ticket_doc(
        &self,
        kingdom: KingdomId,
        ticket: &str,
    ) -> Result<Option<TicketRecord>, StoreError> {
        self.coll(TICKETS)
            .find_one(doc! { "_id": ticket_key(kingdom, ticket) })
            .await
            .map_err(|e| self.map_err("read ticket", e))?
            .as_ref()
            .map(to_ticket)
            .transpose()
    }

    pub(super) async fn ticket_docs(
        &self,
        kingdom: KingdomId,
        before_unix_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        let docs: Vec<Document> = self
            .coll(TICKETS)
            .find(doc! {
                "kingdom": i64::from(kingdom.0),
                "issued_ms": { "$lt": before_unix_ms.unwrap_or(i64::MAX) },
            })
            .sort(doc! { "issued_ms": -1, "ticket": -1 })
            .limit(i64::from(limit))
            .await
            .map_err(|e| self.map_err("list tickets", e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err("list tickets", e))?;
        docs.iter().map(to_ticket).collect()
    }
}
