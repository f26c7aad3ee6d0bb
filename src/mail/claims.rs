//! Claiming a mail's attachments, exactly once (seed 001: a player never keeps what the store
//! could lose).
//!
//! A claim, for one player at a time (a per-player lock: a second device's claim of the same
//! mail waits for the first and then finds it claimed):
//! 1. reads the mail: the player's, with attachments, not claimed, not expired;
//! 2. hands the world a grant carrying the mail's id and the player's oldest claimable mail
//!    ([`GrantSender::grant`]); the world applies it unless the player's ledger already holds
//!    that id, journals it, and answers once a save holding the resources and the ledger entry
//!    (one record) is durable;
//! 3. marks the mail claimed, then answers the player.
//!
//! A crash between any two steps: before 2 reaches the journal, nothing happened and the claim
//! can be made again; after it, the world's recovery replays the grant, and [`Claims::reconcile`]
//! (run at start, before any claim is served) marks every mail whose grant a ledger lists —
//! after the first save of the recovered world is durable. A claim of a mail whose grant was
//! applied but not yet marked is refused by the ledger and answered "already claimed" (and the
//! mail marked). A mail marked claimed whose grant is not applied cannot exist: marking waits
//! for the grant's save.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dominion_persistence::store::now_unix_ms;
use dominion_persistence::{KingdomId, MailStore};
use dominion_sim::city::GrantRefusal;
use dominion_sim::types::{PlayerId, ResourceKind, Resources};
use tokio::sync::watch;

use crate::grants::{GrantAnswer, GrantSender};

/// Why a claim granted nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// No such mail in the player's mailbox.
    #[error("no mail {0} in your mailbox")]
    NotFound(u64),
    /// The mail has no attachments.
    #[error("mail {0} has nothing to claim")]
    NothingToClaim(u64),
    /// The mail expired before it was claimed.
    #[error("mail {0} has expired")]
    Expired(u64),
    /// The world refused the grant (nothing added; the mail stays claimable).
    #[error("mail {id}: {refusal}")]
    Refused {
        /// The mail.
        id: u64,
        /// Why.
        refusal: GrantRefusal,
    },
    /// An attachment names no resource this server knows.
    #[error("mail {id}: attachment resource code {code} is unknown")]
    UnknownResource {
        /// The mail.
        id: u64,
        /// The code.
        code: u8,
    },
    /// The store or the world is unavailable; claiming again is safe.
    #[error("claiming is unavailable, try again: {0}")]
    Unavailable(String),
}

/// A claim's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// The mail.
    pub id: u64,
    /// True when the attachments were claimed before (nothing added now).
    pub already_claimed: bool,
    /// The mail's attachments.
    pub attachments: Vec<(u8, u64)>,
}

/// Counters.
#[derive(Debug, Default)]
pub struct ClaimStats {
    /// Claims that granted.
    pub granted: AtomicU64,
    /// Claims answered "already claimed".
    pub already: AtomicU64,
    /// Mails marked claimed by start-up reconciliation.
    pub reconciled: AtomicU64,
}

/// What start-up reconciliation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Mails with unclaimed attachments checked against the ledgers.
    pub checked: u64,
    /// Of those, grants the ledgers list as applied: now marked claimed.
    pub marked: u64,
}

/// The claim desk of the mail service.
pub struct Claims {
    mail: Arc<dyn MailStore>,
    kingdom: KingdomId,
    world: GrantSender,
    locks: Mutex<BTreeMap<PlayerId, Arc<tokio::sync::Mutex<()>>>>,
    ready_tx: watch::Sender<bool>,
    /// Counters.
    pub stats: ClaimStats,
}

/// The resources of a mail's attachments.
fn resources_of(id: u64, attachments: &[(u8, u64)]) -> Result<Resources, ClaimError> {
    let mut r = Resources::default();
    for &(code, amount) in attachments {
        let kind = ResourceKind::ALL
            .get(usize::from(code))
            .copied()
            .ok_or(ClaimError::UnknownResource { id, code })?;
        r.add(kind, amount);
    }
    Ok(r)
}

impl Claims {
    /// A desk claiming into the world behind `world`. Claims wait for [`reconcile`]
    /// (Self::reconcile) to have run.
    pub fn new(mail: Arc<dyn MailStore>, kingdom: KingdomId, world: GrantSender) -> Claims {
        Claims {
            mail,
            kingdom,
            world,
            locks: Mutex::new(BTreeMap::new()),
            ready_tx: watch::channel(false).0,
            stats: ClaimStats::default(),
        }
    }

    fn player_lock(&self, player: PlayerId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Forget locks nobody holds or waits for, so the map stays as small as the claims in
        // flight.
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(player).or_default().clone()
    }

    /// Marks mail `id` claimed, retrying a failing store a few times. A mark that still fails
    /// is left to the next claim of the mail (refused by the ledger, then marked) or the next
    /// start's reconciliation.
    async fn mark(&self, player: PlayerId, id: u64) {
        let mut pause = Duration::from_millis(50);
        for attempt in 1..=6 {
            match self.mail.mark_claimed(self.kingdom, player, id).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(%player, mail = id, attempt, "marking mail claimed failed: {e}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Claims mail `id` of `player`. See the [module docs](self).
    pub async fn claim(&self, player: PlayerId, id: u64) -> Result<Claimed, ClaimError> {
        let mut ready = self.ready_tx.subscribe();
        if ready.wait_for(|r| *r).await.is_err() {
            return Err(ClaimError::Unavailable(
                "the mail service is stopping".into(),
            ));
        }
        let lock = self.player_lock(player);
        let _held = lock.lock().await;
        let unavailable = |e: dominion_persistence::StoreError| {
            ClaimError::Unavailable(format!("the mail store failed: {e}"))
        };
        let mail = self
            .mail
            .get(self.kingdom, player, id)
            .await
            .map_err(unavailable)?
            .ok_or(ClaimError::NotFound(id))?;
        let attachments = mail.mail.attachments.clone();
        if attachments.is_empty() {
            return Err(ClaimError::NothingToClaim(id));
        }
        if mail.claimed {
            self.stats.already.fetch_add(1, Ordering::Relaxed);
            return Ok(Claimed {
                id,
                already_claimed: true,
                attachments,
            });
        }
        let now = now_unix_ms();
        if mail.mail.expires_unix_ms.is_some_and(|e| e <= now) {
            return Err(ClaimError::Expired(id));
        }
        let resources = resources_of(id, &attachments)?;
        let oldest_open = self
            .mail
            .oldest_claimable(self.kingdom, player, now)
            .await
            .map_err(unavailable)?
            .map_or(id, |o| o.min(id));
        let answer = self
            .world
            .grant(player, id, oldest_open, resources)
            .await
            .ok_or_else(|| {
                ClaimError::Unavailable("the world stopped before saving the grant".into())
            })?;
        let already_claimed = match answer {
            GrantAnswer::Applied => false,
            GrantAnswer::Refused(GrantRefusal::AlreadyApplied) => true,
            GrantAnswer::Refused(refusal) => return Err(ClaimError::Refused { id, refusal }),
        };
        self.mark(player, id).await;
        let counter = if already_claimed {
            &self.stats.already
        } else {
            &self.stats.granted
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(Claimed {
            id,
            already_claimed,
            attachments,
        })
    }

    /// Marks claimed every mail whose grant a ledger lists as applied (once the world's first
    /// save is durable), then lets claims through. Retries while the store fails; gives up only
    /// if the world stops.
    pub async fn reconcile(&self) -> Result<Reconciled, String> {
        let mut pause = Duration::from_millis(100);
        let open = loop {
            match self.mail.unclaimed_attachments(self.kingdom).await {
                Ok(v) => break v,
                Err(e) => {
                    tracing::warn!("listing unclaimed attachments failed, retrying: {e}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        };
        let listed = self
            .world
            .listed(open.clone())
            .await
            .ok_or_else(|| "the world stopped before reconciling the mailboxes".to_string())?;
        let mut done = Reconciled {
            checked: open.len() as u64,
            marked: 0,
        };
        for ((player, id), applied) in open.into_iter().zip(listed) {
            if applied {
                self.mark(player, id).await;
                done.marked += 1;
            }
        }
        self.stats
            .reconciled
            .fetch_add(done.marked, Ordering::Relaxed);
        self.ready_tx.send_replace(true);
        Ok(done)
    }
}
