//! [`MailStore`] on MongoDB: the `mail` collection, `_id` = a kingdom-wide id reserved from the
//! `mail_ids` sequence (newest = highest), indexed by (kingdom, player, `_id`).
//!
//! A delivery is one `insertMany` of the whole batch (ordered: a failure part way leaves a prefix
//! delivered), then the trimming of each recipient's mailbox.

use async_trait::async_trait;
use bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use dominion_sim::types::PlayerId;
use futures_util::TryStreamExt;
use mongodb::IndexModel;
use mongodb::options::ReturnDocument;

use super::{MongoStore, SEQUENCES};
use crate::error::StoreError;
use crate::mail::{Deleted, Mail, MailKind, MailPage, MailStore, NewMail, trim_plan};
use crate::records::KingdomId;
use crate::tickets::TicketRecord;

pub(super) const MAIL: &str = "mail";
const MAIL_IDS: &str = "mail_ids";

pub(super) fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })
}

pub(super) fn attachments_bytes(a: &[(u8, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() * 9);
    for (code, amount) in a {
        out.push(*code);
        out.extend_from_slice(&amount.to_le_bytes());
    }
    out
}

pub(super) fn corrupt(id: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        collection: MAIL,
        id: id.to_string(),
        reason: reason.into(),
    }
}

fn to_mail(d: &Document) -> Result<Mail, StoreError> {
    let id = d.get_i64("_id").map_err(|e| corrupt("?", e.to_string()))?;
    let sid = id.to_string();
    let bad = |e: &dyn std::fmt::Display| corrupt(&sid, e.to_string());
    let kind = d.get_i64("kind").map_err(|e| bad(&e))?;
    let kind = MailKind::from_code(kind).ok_or_else(|| corrupt(&sid, format!("kind {kind}")))?;
    let raw = d.get_binary_generic("attachments").map_err(|e| bad(&e))?;
    if !raw.len().is_multiple_of(9) {
        return Err(corrupt(&sid, format!("attachments of {} bytes", raw.len())));
    }
    let attachments = raw
        .chunks_exact(9)
        .map(|c| {
            let mut n = [0u8; 8];
            n.copy_from_slice(&c[1..]);
            (c[0], u64::from_le_bytes(n))
        })
        .collect();
    Ok(Mail {
        id: id as u64,
        mail: NewMail {
            player: PlayerId(d.get_i64("player").map_err(|e| bad(&e))? as u64),
            kind,
            sent_unix_ms: d.get_i64("sent_ms").map_err(|e| bad(&e))?,
            expires_unix_ms: d.get_i64("expires_ms").ok(),
            title: d.get_str("title").map_err(|e| bad(&e))?.to_string(),
            body: d.get_binary_generic("body").map_err(|e| bad(&e))?.clone(),
            attachments,
        },
        read: d.get_bool("read").map_err(|e| bad(&e))?,
        claimed: d.get_bool("claimed").map_err(|e| bad(&e))?,
    })
}

/// A mail as stored; a ticket's mail names its ticket.
pub(super) fn mail_doc(kingdom: KingdomId, m: &NewMail, id: u64, ticket: Option<&str>) -> Document {
    let mut d = doc! {
        "_id": id as i64,
        "kingdom": i64::from(kingdom.0),
        "player": m.player.0 as i64,
        "kind": m.kind.code(),
        "sent_ms": m.sent_unix_ms,
        "expires_ms": m.expires_unix_ms.map_or(Bson::Null, Bson::Int64),
        "title": m.title.clone(),
        "body": binary(m.body.clone()),
        "attachments": binary(attachments_bytes(&m.attachments)),
        "has_attachments": !m.attachments.is_empty(),
        "read": false,
        "claimed": false,
    };
    if let Some(t) = ticket {
        d.insert("ticket", t);
    }
    d
}

/// Mail of one player not expired at `now`.
fn mailbox(kingdom: KingdomId, player: PlayerId, now: i64) -> Document {
    doc! {
        "kingdom": i64::from(kingdom.0),
        "player": player.0 as i64,
        "$or": [ { "expires_ms": Bson::Null }, { "expires_ms": { "$gt": now } } ],
    }
}

impl MongoStore {
    async fn create_mail_index(&self) -> Result<(), StoreError> {
        for (coll, keys) in [
            (MAIL, doc! { "kingdom": 1, "player": 1, "_id": -1 }),
            (MAIL, doc! { "kingdom": 1, "ticket": 1, "player": 1 }),
            ("mail_tickets", doc! { "kingdom": 1, "issued_ms": -1 }),
        ] {
            self.coll(coll)
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(|e| self.map_err("create mail index", e))?;
        }
        Ok(())
    }

    /// Trims the mailboxes of `mails`' recipients to `keep` (oldest reports first; never
    /// unclaimed attachments).
    pub(super) async fn trim_mailboxes(
        &self,
        kingdom: KingdomId,
        mails: &[NewMail],
        keep: u32,
    ) -> Result<(), StoreError> {
        let mut players: Vec<PlayerId> = mails.iter().map(|m| m.player).collect();
        players.sort_unstable();
        players.dedup();
        for p in players {
            let filter = doc! { "kingdom": i64::from(kingdom.0), "player": p.0 as i64 };
            let n = self
                .coll(MAIL)
                .count_documents(filter.clone())
                .await
                .map_err(|e| self.map_err("count mail", e))?;
            if n <= u64::from(keep) {
                continue;
            }
            let docs: Vec<Document> = self
                .coll(MAIL)
                .find(filter)
                .projection(
                    doc! { "_id": 1, "kind": 1, "has_attachments": 1, "claimed": 1, "ticket": 1 },
                )
                .await
                .map_err(|e| self.map_err("trim mail", e))?
                .try_collect()
                .await
                .map_err(|e| self.map_err("trim mail", e))?;
            let rows: Vec<(u64, MailKind, bool)> = docs
                .iter()
                .map(|d| {
                    (
                        d.get_i64("_id").unwrap_or(0) as u64,
                        MailKind::from_code(d.get_i64("kind").unwrap_or(3))
                            .unwrap_or(MailKind::System),
                        d.get_bool("has_attachments").unwrap_or(true)
                            && !d.get_bool("claimed").unwrap_or(false),
                    )
                })
                .collect();
            let gone: Vec<i64> = trim_plan(rows, keep)
                .into_iter()
                .map(|id| id as i64)
                .collect();
            if !gone.is_empty() {
                // A ticket's mail leaves its (ticket, player) mark behind before it goes.
                for d in &docs {
                    if let (Ok(id), Ok(ticket)) = (d.get_i64("_id"), d.get_str("ticket"))
                        && gone.contains(&id)
                    {
                        self.mark_ticket_sent(kingdom, ticket, p, id as u64).await?;
                    }
                }
                self.coll(MAIL)
                    .delete_many(doc! { "_id": { "$in": gone } })
                    .await
                    .map_err(|e| self.map_err("trim mail", e))?;
            }
        }
        Ok(())
    }

    /// Reserves `n` consecutive mail ids; returns the first.
    pub(super) async fn reserve_mail_ids(&self, n: u64) -> Result<u64, StoreError> {
        let d = self
            .coll(SEQUENCES)
            .find_one_and_update(
                doc! { "_id": MAIL_IDS },
                doc! { "$inc": { "value": n as i64 } },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| self.map_err("reserve mail ids", e))?
            .ok_or_else(|| corrupt(MAIL_IDS, "the sequence returned no document"))?;
        let last = crate::records::get_u64(&d, "value").map_err(|r| corrupt(MAIL_IDS, r))?;
        Ok(last + 1 - n)
    }
}

#[async_trait]
impl MailStore for MongoStore {
    async fn prepare_mail(&self) -> Result<(), StoreError> {
        self.create_mail_index().await
    }

    async fn deliver(
        &self,
        kingdom: KingdomId,
        mails: &[NewMail],
        keep: u32,
    ) -> Result<Vec<u64>, StoreError> {
        if mails.is_empty() {
            return Ok(Vec::new());
        }
        let first = self.reserve_mail_ids(mails.len() as u64).await?;
        let ids: Vec<u64> = (first..first + mails.len() as u64).collect();
        let docs: Vec<Document> = mails
            .iter()
            .zip(&ids)
            .map(|(m, id)| mail_doc(kingdom, m, *id, None))
            .collect();
        self.coll(MAIL)
            .insert_many(docs)
            .await
            .map_err(|e| self.map_err("deliver mail", e))?;
        self.trim_mailboxes(kingdom, mails, keep).await?;
        Ok(ids)
    }

    async fn list(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        before: Option<u64>,
        limit: u32,
        now_unix_ms: i64,
    ) -> Result<MailPage, StoreError> {
        let all = mailbox(kingdom, player, now_unix_ms);
        let mut page = all.clone();
        if let Some(b) = before {
            page.insert("_id", doc! { "$lt": b.min(i64::MAX as u64) as i64 });
        }
        let docs: Vec<Document> = self
            .coll(MAIL)
            .find(page)
            .sort(doc! { "_id": -1 })
            .limit(i64::from(limit))
            .await
            .map_err(|e| self.map_err("list mail", e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err("list mail", e))?;
        let mails = docs.iter().map(to_mail).collect::<Result<Vec<_>, _>>()?;
        let total = self
            .coll(MAIL)
            .count_documents(all.clone())
            .await
            .map_err(|e| self.map_err("count mail", e))?;
        let mut unread_filter = all;
        unread_filter.insert("read", false);
        let unread = self
            .coll(MAIL)
            .count_documents(unread_filter)
            .await
            .map_err(|e| self.map_err("count unread mail", e))?;
        Ok(MailPage {
            mails,
            unread,
            total,
        })
    }

    async fn get(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        id: u64,
    ) -> Result<Option<Mail>, StoreError> {
        let d = self
            .coll(MAIL)
            .find_one(doc! { "_id": id as i64, "kingdom": i64::from(kingdom.0), "player": player.0 as i64 })
            .await
            .map_err(|e| self.map_err("read mail", e))?;
        d.as_ref().map(to_mail).transpose()
    }

    async fn mark_read(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        ids: &[u64],
    ) -> Result<u64, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let r = self
            .coll(MAIL)
            .update_many(
                doc! { "_id": { "$in": ids }, "kingdom": i64::from(kingdom.0), "player": player.0 as i64, "read": false },
                doc! { "$set": { "read": true } },
            )
            .await
            .map_err(|e| self.map_err("mark mail read", e))?;
        Ok(r.modified_count)
    }

    async fn delete(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        id: u64,
    ) -> Result<Deleted, StoreError> {
        let mine =
            doc! { "_id": id as i64, "kingdom": i64::from(kingdom.0), "player": player.0 as i64 };
        let mut deletable = mine.clone();
        deletable.insert(
            "$or",
            vec![doc! { "has_attachments": false }, doc! { "claimed": true }],
        );
        // A ticket's mail leaves its (ticket, player) mark behind before it goes, so issuing
        // the ticket again never sends it twice.
        if let Some(d) = self
            .coll(MAIL)
            .find_one(deletable.clone())
            .projection(doc! { "ticket": 1 })
            .await
            .map_err(|e| self.map_err("delete mail", e))?
            && let Ok(ticket) = d.get_str("ticket")
        {
            self.mark_ticket_sent(kingdom, ticket, player, id).await?;
        }
        let r = self
            .coll(MAIL)
            .delete_one(deletable)
            .await
            .map_err(|e| self.map_err("delete mail", e))?;
        if r.deleted_count > 0 {
            return Ok(Deleted::Deleted);
        }
        let exists = self
            .coll(MAIL)
            .find_one(mine)
            .await
            .map_err(|e| self.map_err("delete mail", e))?
            .is_some();
        Ok(if exists {
            Deleted::HasUnclaimedAttachments
        } else {
            Deleted::NotFound
        })
    }

    async fn mark_claimed(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        id: u64,
    ) -> Result<bool, StoreError> {
        let r = self
            .coll(MAIL)
            .update_one(
                doc! { "_id": id as i64, "kingdom": i64::from(kingdom.0), "player": player.0 as i64, "claimed": false },
                doc! { "$set": { "claimed": true } },
            )
            .await
            .map_err(|e| self.map_err("mark mail claimed", e))?;
        Ok(r.modified_count > 0)
    }

    async fn oldest_claimable(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        now_unix_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let mut filter = mailbox(kingdom, player, now_unix_ms);
        filter.insert("has_attachments", true);
        filter.insert("claimed", false);
        let d = self
            .coll(MAIL)
            .find_one(filter)
            .sort(doc! { "_id": 1 })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|e| self.map_err("find the oldest claimable mail", e))?;
        Ok(d.and_then(|d| d.get_i64("_id").ok()).map(|id| id as u64))
    }

    async fn unclaimed_attachments(
        &self,
        kingdom: KingdomId,
    ) -> Result<Vec<(PlayerId, u64)>, StoreError> {
        let docs: Vec<Document> = self
            .coll(MAIL)
            .find(
                doc! { "kingdom": i64::from(kingdom.0), "has_attachments": true, "claimed": false },
            )
            .sort(doc! { "_id": 1 })
            .projection(doc! { "_id": 1, "player": 1 })
            .await
            .map_err(|e| self.map_err("list unclaimed attachments", e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err("list unclaimed attachments", e))?;
        docs.iter()
            .map(|d| {
                let id = d.get_i64("_id").map_err(|e| corrupt("?", e.to_string()))?;
                let player = d
                    .get_i64("player")
                    .map_err(|e| corrupt(&id.to_string(), e.to_string()))?;
                Ok((PlayerId(player as u64), id as u64))
            })
            .collect()
    }

    async fn open_ticket(
        &self,
        kingdom: KingdomId,
        ticket: &TicketRecord,
    ) -> Result<Option<TicketRecord>, StoreError> {
        self.open_ticket_doc(kingdom, ticket).await
    }

    async fn deliver_ticket(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        mails: &[NewMail],
        keep: u32,
    ) -> Result<u64, StoreError> {
        self.deliver_ticket_docs(kingdom, ticket, mails, keep).await
    }

    async fn finish_ticket(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        delivered: u64,
        finished_unix_ms: i64,
    ) -> Result<(), StoreError> {
        self.finish_ticket_doc(kingdom, ticket, delivered, finished_unix_ms)
            .await
    }

    async fn ticket(
        &self,
        kingdom: KingdomId,
        ticket: &str,
    ) -> Result<Option<TicketRecord>, StoreError> {
        self.ticket_doc(kingdom, ticket).await
    }

    async fn tickets(
        &self,
        kingdom: KingdomId,
        before_unix_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        self.ticket_docs(kingdom, before_unix_ms, limit).await
    }
}
