//! The mail service: a tokio task owning the mailboxes ([`MailStore`]). It takes battle and scout
//! reports from the tick thread (every side of every battle gets one, online or not), system
//! mail from operators (one player, a list, or everyone; with an expiry), and players' mailbox
//! requests from the gateway, all through one unbounded channel ([`MailHandle`]), so neither the
//! tick nor a session ever waits for the database.
//!
//! Deliveries queue inside the service and go out in chunks of at most
//! [`MailSettings::chunk`] mails, one chunk per turn of the loop, with every request waiting in
//! the channel answered between two chunks: a broadcast to a whole kingdom delays a player's
//! mailbox request by at most one chunk's write. A failed write is retried (with a pause) and
//! nothing queued is dropped.
//!
//! Claims of attachments ([`claims`]) and compensation tickets ([`tickets`]) run beside the
//! loop as tasks of their own: a claim waits for the world to save its grant, a ticket for its
//! whole delivery, and neither holds up the mailbox requests.
//!
//! Not responsible for: deciding who is told what (the sim's `player_events`), applying grants
//! (the world, through [`crate::grants`]).

pub mod claims;
mod reports;
pub mod tickets;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dominion_net::proto::mail::MailWire;
use dominion_net::proto::{
    ErrorCode, MailDelete, MailDone, MailItem, MailList, MailMarkRead, MailPage, MailRead,
    ServerMessage,
};
use dominion_net::transport::{ServerHandle, SessionId};
use dominion_persistence::store::now_unix_ms;
use dominion_persistence::{
    Deleted, KingdomId, Mail, MailKind, MailStore, Migrations, NewMail, PlayerRecord, Store,
    StoreError, load_records,
};
use dominion_sim::player_events::Notice;
use dominion_sim::types::PlayerId;
use tokio::sync::{mpsc, oneshot};

pub use claims::{ClaimError, Claimed, Claims, Reconciled};
pub use reports::report_mails;
pub use tickets::{Ticket, TicketDesk, TicketError, TicketReceipt, issue_ticket};

use crate::grants::GrantSender;
use dominion_net::proto::{MailClaim, MailClaimed};
use dominion_persistence::TicketRecord;

/// Application error codes of the mail service.
pub mod codes {
    use dominion_net::proto::ErrorCode;
    /// No such mail in the player's mailbox.
    pub const MAIL_NOT_FOUND: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 20);
    /// The mail's attachments are not claimed: it cannot be deleted.
    pub const MAIL_HAS_ATTACHMENTS: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 21);
    /// The mail store is unavailable: try again later.
    pub const MAIL_UNAVAILABLE: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 22);
    /// The mail has no attachments to claim.
    pub const MAIL_NOTHING_TO_CLAIM: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 23);
    /// The mail expired before its attachments were claimed.
    pub const MAIL_EXPIRED: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 24);
    /// The world refused the grant (no city; too many newer attachments claimed before the
    /// oldest; an unknown resource): nothing added, the mail stays claimable.
    pub const MAIL_CLAIM_REFUSED: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 25);
}

/// Tunables.
#[derive(Clone, Copy, Debug)]
pub struct MailSettings {
    /// Mails a mailbox keeps (oldest reports go first; unclaimed attachments never).
    pub keep: u32,
    /// Reports expire this long after they are sent.
    pub report_ttl: Duration,
    /// Most mails written per chunk (and per transaction).
    pub chunk: usize,
    /// A standby's mailboxes (`serve --standby`): pages and mails are read, nothing is written
    /// — reports are dropped (counted in [`MailStats::dropped_reports`]), and marking read,
    /// deleting, claiming and system mail are refused with `MAINTENANCE`.
    pub read_only: bool,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            keep: 200,
            report_ttl: Duration::from_secs(30 * 24 * 3600),
            chunk: 1000,
            read_only: false,
        }
    }
}

/// Who gets a system mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipients {
    /// One player.
    One(PlayerId),
    /// These players.
    List(Vec<PlayerId>),
    /// Every player of the kingdom (as last saved).
    All,
}

/// Mail from operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemMail {
    /// Who gets it.
    pub to: Recipients,
    /// Title.
    pub title: String,
    /// Text.
    pub text: String,
    /// Attachments: (resource code, amount).
    pub attachments: Vec<(u8, u64)>,
    /// Hidden after this time (ms since the Unix epoch).
    pub expires_unix_ms: Option<i64>,
}

/// A player's request on their mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailRequest {
    /// A page, newest first.
    List(MailList),
    /// One mail (marked read).
    Read(MailRead),
    /// Mark read.
    MarkRead(MailMarkRead),
    /// Delete.
    Delete(MailDelete),
    /// Claim the attachments.
    Claim(MailClaim),
}

enum MailInput {
    /// A tick's report notices, sent at `sent_ms`; encoded into mail by the service.
    Reports {
        tick: u64,
        sent_ms: i64,
        notices: Vec<(PlayerId, Notice)>,
    },
    Request {
        session: SessionId,
        request_id: u32,
        player: PlayerId,
        request: MailRequest,
    },
    System(SystemMail, oneshot::Sender<Result<u64, String>>),
    Flush(oneshot::Sender<Result<u64, String>>),
    Ask(PlayerId, MailRequest, oneshot::Sender<ServerMessage>),
}

/// Counters for metrics and benches.
#[derive(Debug, Default)]
pub struct MailStats {
    /// Mails written.
    pub delivered: AtomicU64,
    /// Chunks written.
    pub chunks: AtomicU64,
    /// Failed writes (each retried).
    pub failures: AtomicU64,
    /// Requests answered.
    pub requests: AtomicU64,
    /// Mails queued, not yet written.
    pub queued: AtomicU64,
    /// Report mails a read-only (standby) service dropped unwritten.
    pub dropped_reports: AtomicU64,
}

/// Sends work to the mail service. Cheap to clone; never waits.
#[derive(Clone)]
pub struct MailHandle {
    tx: mpsc::UnboundedSender<MailInput>,
    stats: Arc<MailStats>,
    tickets: Arc<TicketDesk>,
    claims: Option<Arc<Claims>>,
}

impl MailHandle {
    /// Queues the report mails of a tick's notices (battle and scout reports, for every side).
    /// The tick thread only picks the reports out (a battle report is shared, not copied); the
    /// service encodes them.
    pub fn reports(&self, tick: u64, notices: &[(PlayerId, Notice)]) {
        let reports: Vec<(PlayerId, Notice)> = notices
            .iter()
            .filter(|(_, n)| matches!(n, Notice::Battle(_) | Notice::Scout { .. }))
            .cloned()
            .collect();
        if !reports.is_empty() {
            self.stats
                .queued
                .fetch_add(reports.len() as u64, Ordering::Relaxed);
            let _ = self.tx.send(MailInput::Reports {
                tick,
                sent_ms: now_unix_ms(),
                notices: reports,
            });
        }
    }

    /// Queues a player's mailbox request; the reply goes to `session`.
    pub fn request(
        &self,
        session: SessionId,
        request_id: u32,
        player: PlayerId,
        request: MailRequest,
    ) {
        let _ = self.tx.send(MailInput::Request {
            session,
            request_id,
            player,
            request,
        });
    }

    /// Sends a system mail; resolves with the number of mails delivered once all are written.
    pub async fn system(&self, mail: SystemMail) -> Result<u64, String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(MailInput::System(mail, done))
            .map_err(|_| "the mail service has stopped".to_string())?;
        wait.await
            .map_err(|_| "the mail service stopped before delivering".to_string())?
    }

    /// Answers a player's request here instead of on a session (operators, tests, benches).
    pub async fn ask(
        &self,
        player: PlayerId,
        request: MailRequest,
    ) -> Result<ServerMessage, String> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(MailInput::Ask(player, request, reply))
            .map_err(|_| "the mail service has stopped".to_string())?;
        wait.await
            .map_err(|_| "the mail service stopped before answering".to_string())
    }

    /// Resolves once everything queued before it is written (at shutdown).
    pub async fn flush(&self) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(MailInput::Flush(done))
            .map_err(|_| "the mail service has stopped".to_string())?;
        wait.await
            .map_err(|_| "the mail service stopped before flushing".to_string())?
            .map(|_| ())
    }

    /// The service's counters.
    pub fn stats(&self) -> Arc<MailStats> {
        self.stats.clone()
    }

    /// The claim desk (absent when the service runs without a world: claims are then answered
    /// unavailable).
    pub fn claims(&self) -> Option<Arc<Claims>> {
        self.claims.clone()
    }

    /// Issues an operator's compensation ticket: its mail reaches each recipient once, however
    /// often the same ticket id is issued; resolves when the delivery is complete. See
    /// [`tickets`] for the rules. Runs on the caller's task (deliveries one at a time).
    pub async fn issue_ticket(&self, ticket: Ticket) -> Result<TicketReceipt, TicketError> {
        issue_ticket(&self.tickets, ticket).await
    }

    /// A ticket's audit record: who issued it and when, recipients, attachments, reason,
    /// expiry, status, recipients delivered, repeats.
    pub async fn ticket(&self, id: &str) -> Result<Option<TicketRecord>, StoreError> {
        self.tickets.mail.ticket(self.tickets.kingdom, id).await
    }

    /// Up to `limit` tickets first issued before `before_unix_ms` (all when `None`), newest
    /// first: page with the last one's `issued_unix_ms`.
    pub async fn tickets(
        &self,
        before_unix_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<TicketRecord>, StoreError> {
        self.tickets
            .mail
            .tickets(self.tickets.kingdom, before_unix_ms, limit)
            .await
    }
}

enum Queued {
    Mail(NewMail),
    /// Resolves a system mail once everything before it is written.
    Done(oneshot::Sender<Result<u64, String>>, u64),
}

/// The service task's state.
pub struct MailService {
    mail: Arc<dyn MailStore>,
    world: Arc<dyn Store>,
    migrations: Arc<Migrations>,
    kingdom: KingdomId,
    net: Option<ServerHandle>,
    settings: MailSettings,
    stats: Arc<MailStats>,
    queue: VecDeque<Queued>,
    claims: Option<Arc<Claims>>,
}

impl MailService {
    /// Starts the service on the current tokio runtime, without a world: claims are answered
    /// unavailable. `net` (absent in benches) carries the replies to players' requests; `world`
    /// lists the players of a broadcast.
    pub fn spawn(
        mail: Arc<dyn MailStore>,
        world: Arc<dyn Store>,
        migrations: Arc<Migrations>,
        kingdom: KingdomId,
        net: Option<ServerHandle>,
        settings: MailSettings,
    ) -> (MailHandle, tokio::task::JoinHandle<()>) {
        Self::spawn_with_grants(mail, world, migrations, kingdom, net, settings, None)
    }

    /// [`spawn`](Self::spawn) with the world's grant desk: claims go to the world, and the
    /// mailboxes are reconciled with the players' ledgers first (a task of its own; claims wait
    /// for it).
    pub fn spawn_with_grants(
        mail: Arc<dyn MailStore>,
        world: Arc<dyn Store>,
        migrations: Arc<Migrations>,
        kingdom: KingdomId,
        net: Option<ServerHandle>,
        settings: MailSettings,
        grants: Option<GrantSender>,
    ) -> (MailHandle, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(MailStats::default());
        let claims = grants.map(|g| Arc::new(Claims::new(mail.clone(), kingdom, g)));
        if let Some(c) = &claims {
            let c = c.clone();
            tokio::spawn(async move {
                match c.reconcile().await {
                    Ok(r) => tracing::info!(
                        checked = r.checked,
                        marked = r.marked,
                        "mailboxes reconciled with the grant ledgers"
                    ),
                    Err(e) => tracing::warn!("mailbox reconciliation stopped: {e}"),
                }
            });
        }
        let tickets = Arc::new(TicketDesk::new(
            mail.clone(),
            world.clone(),
            migrations.clone(),
            kingdom,
            settings.keep,
            settings.chunk,
        ));
        let service = MailService {
            mail,
            world,
            migrations,
            kingdom,
            net,
            settings,
            stats: stats.clone(),
            queue: VecDeque::new(),
            claims: claims.clone(),
        };
        let task = tokio::spawn(service.run(rx));
        (
            MailHandle {
                tx,
                stats,
                tickets,
                claims,
            },
            task,
        )
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<MailInput>) {
        loop {
            if self.queue.is_empty() {
                match rx.recv().await {
                    Some(input) => self.accept(input).await,
                    None => return,
                }
            }
            while let Ok(input) = rx.try_recv() {
                self.accept(input).await;
            }
            self.write_chunk().await;
        }
    }

    async fn accept(&mut self, input: MailInput) {
        let input = if self.settings.read_only {
            match self.refuse_writes(input) {
                Some(input) => input,
                None => return,
            }
        } else {
            input
        };
        match input {
            MailInput::Reports {
                tick,
                sent_ms,
                notices,
            } => {
                let mails = report_mails(tick, &notices, sent_ms, self.settings.report_ttl);
                self.queue.extend(mails.into_iter().map(Queued::Mail));
            }
            MailInput::Request {
                session,
                request_id,
                player,
                request: MailRequest::Claim(c),
            } => {
                let claims = self.claims.clone();
                let net = self.net.clone();
                let stats = self.stats.clone();
                tokio::spawn(async move {
                    let reply = claim_reply(claims.as_deref(), player, c.id).await;
                    stats.requests.fetch_add(1, Ordering::Relaxed);
                    if let Some(net) = net {
                        let _ = net.reply(session, request_id, &reply);
                    }
                });
            }
            MailInput::Ask(player, MailRequest::Claim(c), reply) => {
                let claims = self.claims.clone();
                let stats = self.stats.clone();
                tokio::spawn(async move {
                    let answer = claim_reply(claims.as_deref(), player, c.id).await;
                    stats.requests.fetch_add(1, Ordering::Relaxed);
                    let _ = reply.send(answer);
                });
            }
            MailInput::Request {
                session,
                request_id,
                player,
                request,
            } => {
                let reply = self.answer(player, request).await;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                if let Some(net) = &self.net {
                    // A session that closed meanwhile misses its reply.
                    let _ = net.reply(session, request_id, &reply);
                }
            }
            MailInput::Flush(done) => self.queue.push_back(Queued::Done(done, 0)),
            MailInput::Ask(player, request, reply) => {
                let answer = self.answer(player, request).await;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(answer);
            }
            MailInput::System(mail, done) => match self.recipients(&mail.to).await {
                Ok(players) => {
                    let now = now_unix_ms();
                    let n = players.len() as u64;
                    self.stats.queued.fetch_add(n, Ordering::Relaxed);
                    self.queue.extend(players.into_iter().map(|player| {
                        Queued::Mail(NewMail {
                            player,
                            kind: MailKind::System,
                            sent_unix_ms: now,
                            expires_unix_ms: mail.expires_unix_ms,
                            title: mail.title.clone(),
                            body: mail.text.clone().into_bytes(),
                            attachments: mail.attachments.clone(),
                        })
                    }));
                    self.queue.push_back(Queued::Done(done, n));
                }
                Err(e) => {
                    let _ = done.send(Err(format!("listing the recipients failed: {e}")));
                }
            },
        }
    }

    async fn recipients(&self, to: &Recipients) -> Result<Vec<PlayerId>, StoreError> {
        Ok(match to {
            Recipients::One(p) => vec![*p],
            Recipients::List(v) => {
                let mut v = v.clone();
                v.sort_unstable();
                v.dedup();
                v
            }
            Recipients::All => {
                load_records::<PlayerRecord>(self.world.as_ref(), &self.migrations, self.kingdom)
                    .await?
                    .into_iter()
                    .map(|r| r.player)
                    .collect()
            }
        })
    }

    /// Writes the next chunk of queued mail (retrying until it lands), then resolves the
    /// system mails it completed.
    async fn write_chunk(&mut self) {
        let mut chunk = Vec::new();
        while chunk.len() < self.settings.chunk {
            match self.queue.front() {
                Some(Queued::Mail(_)) => {
                    if let Some(Queued::Mail(m)) = self.queue.pop_front() {
                        chunk.push(m);
                    }
                }
                _ => break,
            }
        }
        if !chunk.is_empty() {
            let mut pause = Duration::from_millis(100);
            loop {
                match self
                    .mail
                    .deliver(self.kingdom, &chunk, self.settings.keep)
                    .await
                {
                    Ok(_) => break,
                    Err(e) => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            mails = chunk.len(),
                            "delivering mail failed, retrying: {e}"
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                    }
                }
            }
            let n = chunk.len() as u64;
            self.stats.delivered.fetch_add(n, Ordering::Relaxed);
            self.stats.chunks.fetch_add(1, Ordering::Relaxed);
            self.stats.queued.fetch_sub(n, Ordering::Relaxed);
        }
        while let Some(Queued::Done(..)) = self.queue.front() {
            if let Some(Queued::Done(done, n)) = self.queue.pop_front() {
                let _ = done.send(Ok(n));
            }
        }
    }

    /// On a read-only service: answers or drops every input that would write, and returns the
    /// rest (pages, mails, flushes) to be served as usual.
    fn refuse_writes(&self, input: MailInput) -> Option<MailInput> {
        const WHY: &str = "this server is a standby (a read-only copy of the kingdom): \
                           mailboxes can be read here but not changed";
        let refused = || ServerMessage::error(ErrorCode::MAINTENANCE, WHY);
        let writes = |r: &MailRequest| !matches!(r, MailRequest::List(_) | MailRequest::Read(_));
        match input {
            MailInput::Reports { notices, .. } => {
                let n = notices.len() as u64;
                self.stats.queued.fetch_sub(n, Ordering::Relaxed);
                self.stats.dropped_reports.fetch_add(n, Ordering::Relaxed);
                None
            }
            MailInput::Request {
                session,
                request_id,
                request,
                ..
            } if writes(&request) => {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                if let Some(net) = &self.net {
                    let _ = net.reply(session, request_id, &refused());
                }
                None
            }
            MailInput::Ask(_, request, reply) if writes(&request) => {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(refused());
                None
            }
            MailInput::System(_, done) => {
                let _ = done.send(Err(WHY.to_owned()));
                None
            }
            other => Some(other),
        }
    }

    async fn answer(&self, player: PlayerId, request: MailRequest) -> ServerMessage {
        match self.try_answer(player, request).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%player, "mail request failed: {e}");
                // The store's text (driver errors, addresses) stays in the log.
                ServerMessage::error(
                    codes::MAIL_UNAVAILABLE,
                    "mail is unavailable; try again later",
                )
            }
        }
    }

    async fn try_answer(
        &self,
        player: PlayerId,
        request: MailRequest,
    ) -> Result<ServerMessage, StoreError> {
        let k = self.kingdom;
        Ok(match request {
            MailRequest::List(l) => {
                let before = (l.before != 0).then_some(l.before);
                let page = self
                    .mail
                    .list(k, player, before, u32::from(l.limit), now_unix_ms())
                    .await?;
                ServerMessage::from(MailPage {
                    mails: page.mails.iter().map(|m| wire(m, false)).collect(),
                    unread: page.unread,
                    total: page.total,
                })
            }
            MailRequest::Read(r) => match self.mail.get(k, player, r.id).await? {
                Some(mut m) => {
                    if !m.read && !self.settings.read_only {
                        self.mail.mark_read(k, player, &[r.id]).await?;
                        m.read = true;
                    }
                    ServerMessage::from(MailItem {
                        mail: wire(&m, true),
                    })
                }
                None => not_found(r.id),
            },
            MailRequest::MarkRead(m) => ServerMessage::from(MailDone {
                changed: self.mail.mark_read(k, player, &m.ids).await?,
            }),
            MailRequest::Delete(d) => match self.mail.delete(k, player, d.id).await? {
                Deleted::Deleted => ServerMessage::from(MailDone { changed: 1 }),
                Deleted::NotFound => not_found(d.id),
                Deleted::HasUnclaimedAttachments => ServerMessage::error(
                    codes::MAIL_HAS_ATTACHMENTS,
                    format!("mail {} has attachments to claim first", d.id),
                ),
            },
            // Routed to the claim desk before this point; answered here only if that changes.
            MailRequest::Claim(c) => claim_reply(self.claims.as_deref(), player, c.id).await,
        })
    }
}

/// A claim's answer on the wire.
async fn claim_reply(claims: Option<&Claims>, player: PlayerId, id: u64) -> ServerMessage {
    let Some(claims) = claims else {
        return ServerMessage::error(
            codes::MAIL_UNAVAILABLE,
            "claiming is unavailable: this mail service has no world",
        );
    };
    match claims.claim(player, id).await {
        Ok(c) => ServerMessage::from(MailClaimed {
            id: c.id,
            already_claimed: c.already_claimed,
            attachments: c.attachments,
        }),
        Err(e) => {
            let code = match &e {
                ClaimError::NotFound(_) => codes::MAIL_NOT_FOUND,
                ClaimError::NothingToClaim(_) => codes::MAIL_NOTHING_TO_CLAIM,
                ClaimError::Expired(_) => codes::MAIL_EXPIRED,
                ClaimError::Refused { .. } | ClaimError::UnknownResource { .. } => {
                    codes::MAIL_CLAIM_REFUSED
                }
                ClaimError::Unavailable(_) => {
                    // The store's text (driver errors, paths, addresses) stays in the log.
                    tracing::warn!(%player, mail = id, "claim failed: {e}");
                    return ServerMessage::error(
                        codes::MAIL_UNAVAILABLE,
                        "claiming is unavailable right now; try again later (claiming again is safe)",
                    );
                }
            };
            ServerMessage::error(code, e.to_string())
        }
    }
}

fn not_found(id: u64) -> ServerMessage {
    ServerMessage::error(
        codes::MAIL_NOT_FOUND,
        format!("no mail {id} in your mailbox"),
    )
}

/// The wire form of a stored mail (body only when asked).
fn wire(m: &Mail, body: bool) -> MailWire {
    MailWire {
        id: m.id,
        kind: m.mail.kind.code() as u8,
        sent_unix_ms: m.mail.sent_unix_ms,
        expires_unix_ms: m.mail.expires_unix_ms,
        title: m.mail.title.clone(),
        body: if body {
            m.mail.body.clone()
        } else {
            Vec::new()
        },
        attachments: m.mail.attachments.clone(),
        read: m.read,
        claimed: m.claimed,
    }
}
