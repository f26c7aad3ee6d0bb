//! Mailboxes: one per player per kingdom, in the same database as the world, behind the
//! [`MailStore`] trait (SQLite: [`crate::sqlite`]'s `mail` table; MongoDB: the `mail`
//! collection).
//!
//! A mail has a kingdom-wide increasing id (newest = highest), a kind (a battle or scout
//! report, or system mail from operators), an optional expiry, a title, an opaque body (the
//! root stores a report's wire encoding there) and optional attachments. A mailbox holds at most
//! a configured number of mails: delivering beyond it removes the oldest reports first, then the
//! oldest other mail — never mail whose attachments are unclaimed.
//!
//! Mail is not fenced by the kingdom's owner epoch: it belongs to the mail service, which writes
//! only whole mails and idempotent flags.
//!
//! Compensation tickets ([`crate::tickets`]) live beside the mailboxes: their audit records and
//! a per-(ticket, player) mark so a ticket's mail reaches each recipient once.
//!
//! Not responsible for: who gets which mail, the wire protocol, or granting attachments (the
//! root's mail service).

use async_trait::async_trait;
use dominion_sim::types::PlayerId;

use crate::error::StoreError;
use crate::records::KingdomId;
use crate::tickets::TicketRecord;

/// What a mail is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// A battle report.
    Battle,
    /// A scout report.
    Scout,
    /// Mail from operators (announcements, compensation).
    System,
}

impl MailKind {
    /// The stored code.
    pub fn code(self) -> i64 {
        match self {
            MailKind::Battle => 1,
            MailKind::Scout => 2,
            MailKind::System => 3,
        }
    }

    /// The kind of a stored code.
    pub fn from_code(code: i64) -> Option<MailKind> {
        match code {
            1 => Some(MailKind::Battle),
            2 => Some(MailKind::Scout),
            3 => Some(MailKind::System),
            _ => None,
        }
    }

    /// True for reports (the first to go when a mailbox is full).
    pub fn is_report(self) -> bool {
        matches!(self, MailKind::Battle | MailKind::Scout)
    }
}

/// A mail to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMail {
    /// Recipient.
    pub player: PlayerId,
    /// Kind.
    pub kind: MailKind,
    /// Wall-clock time of sending (ms since the Unix epoch).
    pub sent_unix_ms: i64,
    /// Hidden and removable after this time (ms since the Unix epoch); `None`: never expires.
    pub expires_unix_ms: Option<i64>,
    /// Title.
    pub title: String,
    /// Body (opaque here).
    pub body: Vec<u8>,
    /// Attachments: (resource code, amount); empty for none.
    pub attachments: Vec<(u8, u64)>,
}

/// A stored mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// Kingdom-wide id; newer mail has a higher id.
    pub id: u64,
    /// What was delivered.
    pub mail: NewMail,
    /// Read by the player.
    pub read: bool,
    /// Attachments claimed.
    pub claimed: bool,
}

impl Mail {
    /// True while it has attachments nobody claimed.
    pub fn unclaimed(&self) -> bool {
        !self.mail.attachments.is_empty() && !self.claimed
    }
}

/// One page of a mailbox, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailPage {
    /// Mails (bodies included), newest first.
    pub mails: Vec<Mail>,
    /// Unread mails in the whole mailbox (not expired).
    pub unread: u64,
    /// Mails in the whole mailbox (not expired).
    pub total: u64,
}

/// What deleting a mail did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// Gone.
    Deleted,
    /// No such mail in the player's mailbox.
    NotFound,
    /// Kept: its attachments are not claimed yet.
    HasUnclaimedAttachments,
}

/// Mailbox storage. All operations on one player's mailbox see their own earlier writes.
#[async_trait]
pub trait MailStore: Send + Sync + 'static {
    /// Creates what the mailboxes need (indexes) once, before the first use.
    async fn prepare_mail(&self) -> Result<(), StoreError>;

    /// Delivers `mails` in one transaction and returns their ids (in order); then trims each
    /// recipient's mailbox to `keep` mails (oldest reports first; never unclaimed attachments).
    async fn deliver(
        &self,
        kingdom: KingdomId,
        mails: &[NewMail],
        keep: u32,
    ) -> Result<Vec<u64>, StoreError>;

    /// Up to `limit` mails older than `before` (all when `None`), newest first, with the
    /// mailbox's unread count; expired mail (at `now_unix_ms`) is left out.
    async fn list(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        before: Option<u64>,
        limit: u32,
        now_unix_ms: i64,
    ) -> Result<MailPage, StoreError>;

    /// One mail of the player's mailbox.
    async fn get(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        id: u64,
    ) -> Result<Option<Mail>, StoreError>;

    /// Marks the player's mails `ids` read; returns how many changed.
    async fn mark_read(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        ids: &[u64],
    ) -> Result<u64, StoreError>;

    /// Deletes one mail, unless its attachments are unclaimed.
    async fn delete(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        id: u64,
    ) -> Result<Deleted, StoreError>;

    /// Marks a mail's attachments claimed; returns false if it was already (or does not exist).
    async fn mark_claimed(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        id: u64,
    ) -> Result<bool, StoreError>;

    /// The id of the player's oldest mail still claimable at `now_unix_ms` (attachments, not
    /// claimed, not expired), if any.
    async fn oldest_claimable(
        &self,
        kingdom: KingdomId,
        player: PlayerId,
        now_unix_ms: i64,
    ) -> Result<Option<u64>, StoreError>;

    /// Every mail of the kingdom whose attachments are not claimed (expired or not), as
    /// (player, id) by ascending id: what start-up reconciles with the players' grant ledgers.
    async fn unclaimed_attachments(
        &self,
        kingdom: KingdomId,
    ) -> Result<Vec<(PlayerId, u64)>, StoreError>;

    /// Records `ticket` (status delivering) unless a ticket with its id exists. Returns `None`
    /// when recorded now; otherwise the stored ticket, whose `repeats` is counted up.
    async fn open_ticket(
        &self,
        kingdom: KingdomId,
        ticket: &TicketRecord,
    ) -> Result<Option<TicketRecord>, StoreError>;

    /// Delivers ticket `ticket`'s mail to each recipient of `mails` who never got it (one mail
    /// per (ticket, player), whatever happened to it since), trimming mailboxes to `keep` like
    /// [`deliver`](Self::deliver). Returns how many got it now.
    async fn deliver_ticket(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        mails: &[NewMail],
        keep: u32,
    ) -> Result<u64, StoreError>;

    /// Marks ticket `ticket` delivered to `delivered` recipients at `finished_unix_ms`.
    async fn finish_ticket(
        &self,
        kingdom: KingdomId,
        ticket: &str,
        delivered: u64,
        finished_unix_ms: i64,
    ) -> Result<(), StoreError>;

    /// One ticket with its audit fields.
    async fn ticket(
        &self,
        kingdom: KingdomId,
        ticket: &str,
    ) -> Result<Option<TicketRecord>, StoreError>;

    /// Up to `limit` tickets first issued before `before_unix_ms` (all when `None`), newest
    /// first.
    async fn tickets(
        &self,
        kingdom: KingdomId,
        before_unix_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<TicketRecord>, StoreError>;
}

/// Opens the mailboxes of the store `config` names (its own connections to the same database).
pub async fn open_mail_store(
    config: &crate::config::StoreConfig,
) -> Result<std::sync::Arc<dyn MailStore>, StoreError> {
    use crate::config::StoreConfig;
    let store: std::sync::Arc<dyn MailStore> = match config {
        StoreConfig::Sqlite { path, busy_timeout } => {
            std::sync::Arc::new(crate::sqlite::SqliteStore::open(path, *busy_timeout).await?)
        }
        StoreConfig::Mongo { url } => {
            std::sync::Arc::new(crate::mongo::MongoStore::connect(url).await?)
        }
    };
    store.prepare_mail().await?;
    Ok(store)
}

/// Ids to remove from a mailbox of `(id, kind, unclaimed)` rows (any order) so that at most
/// `keep` remain: reports oldest first, then other mail oldest first; never unclaimed ones.
pub fn trim_plan(mut rows: Vec<(u64, MailKind, bool)>, keep: u32) -> Vec<u64> {
    let over = rows.len().saturating_sub(keep as usize);
    if over == 0 {
        return Vec::new();
    }
    rows.retain(|(_, _, unclaimed)| !unclaimed);
    rows.sort_unstable_by_key(|(id, kind, _)| (!kind.is_report(), *id));
    rows.into_iter().take(over).map(|(id, _, _)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_takes_old_reports_first_and_never_unclaimed_attachments() {
        let rows = vec![
            (1, MailKind::System, true),
            (2, MailKind::System, false),
            (3, MailKind::Battle, false),
            (4, MailKind::Scout, false),
            (5, MailKind::Battle, false),
        ];
        assert_eq!(trim_plan(rows.clone(), 5), Vec::<u64>::new());
        assert_eq!(trim_plan(rows.clone(), 3), vec![3, 4]);
        assert_eq!(trim_plan(rows.clone(), 1), vec![3, 4, 5, 2]);
        // Mail 1 stays even past the limit.
        assert_eq!(trim_plan(rows, 0), vec![3, 4, 5, 2]);
    }
}
