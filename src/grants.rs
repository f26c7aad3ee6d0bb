//! The grant desk: where the mail service hands claimed attachments to the world, and learns
//! when what the world did with them is durable.
//!
//! The mail service sends a [`GrantRequest`] (or, at start, a [`LedgerQuery`]) through a
//! [`GrantSender`]; the tick thread takes them at the start of the next tick
//! ([`GrantDesk::before_tick`]): a grant is applied with `Kingdom::grant` (the player's ledger
//! refuses a grant id it already holds) and journaled, a query reads the ledgers. Neither answer
//! leaves the tick thread until a save of the world covering that tick is durable in the store
//! ([`GrantDesk::saves_durable`], fed by the `Persister`'s `durable_tick`): the mail service
//! marks a mail claimed only after the grant and the ledger entry it added are saved, so a
//! player never keeps a claim the store could lose.
//!
//! Not responsible for: reading or marking mail (the mail service), deciding `oldest_open`.

use std::collections::VecDeque;

use dominion_persistence::journal::JournalInput;
use dominion_sim::Kingdom;
use dominion_sim::city::GrantRefusal;
use dominion_sim::types::{PlayerId, Resources};
use tokio::sync::{mpsc, oneshot};

/// What the world did with a grant, told once it is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantAnswer {
    /// Added to the player's storehouse and ledger, and saved.
    Applied,
    /// Not applied: the ledger refused it (already applied, full) or the player has no city.
    Refused(GrantRefusal),
}

/// A claimed mail's attachments for a player's storehouse.
#[derive(Debug)]
pub struct GrantRequest {
    /// The player.
    pub player: PlayerId,
    /// The grant id: the mail's id.
    pub grant: u64,
    /// The player's oldest claimable mail as the mail service read it (see
    /// [`dominion_sim::city::GrantLedger`]).
    pub oldest_open: u64,
    /// What it adds.
    pub resources: Resources,
    /// The answer, once durable.
    pub reply: oneshot::Sender<GrantAnswer>,
}

/// At start: which of these mails' grants the ledgers list as applied (answered once a save
/// covering the world as it stands is durable).
#[derive(Debug)]
pub struct LedgerQuery {
    /// (player, grant id) pairs.
    pub grants: Vec<(PlayerId, u64)>,
    /// One flag per pair: listed as applied.
    pub reply: oneshot::Sender<Vec<bool>>,
}

/// Input to the desk.
#[derive(Debug)]
pub enum DeskInput {
    /// Apply a grant.
    Grant(GrantRequest),
    /// Read ledgers.
    Query(LedgerQuery),
}

/// The mail service's side: never waits on the tick thread to send.
#[derive(Clone, Debug)]
pub struct GrantSender {
    tx: mpsc::UnboundedSender<DeskInput>,
}

impl GrantSender {
    /// Hands a grant to the world; resolves once what it did is durable, or `None` if the world
    /// stopped before (the grant may or may not have been applied: the start-up reconciliation
    /// of the next run settles it).
    pub async fn grant(
        &self,
        player: PlayerId,
        grant: u64,
        oldest_open: u64,
        resources: Resources,
    ) -> Option<GrantAnswer> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(DeskInput::Grant(GrantRequest {
                player,
                grant,
                oldest_open,
                resources,
                reply,
            }))
            .ok()?;
        wait.await.ok()
    }

    /// Which of `grants` the ledgers list as applied, once that is durable; `None` if the world
    /// stopped first.
    pub async fn listed(&self, grants: Vec<(PlayerId, u64)>) -> Option<Vec<bool>> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(DeskInput::Query(LedgerQuery { grants, reply }))
            .ok()?;
        wait.await.ok()
    }
}

enum Waiting {
    Grant(oneshot::Sender<GrantAnswer>, GrantAnswer),
    Query(oneshot::Sender<Vec<bool>>, Vec<bool>),
}

/// The tick thread's side.
pub struct GrantDesk {
    rx: mpsc::UnboundedReceiver<DeskInput>,
    /// Answers held until a save of at least this tick is durable, in tick order.
    waiting: VecDeque<(u64, Waiting)>,
    /// Grants applied (for metrics and tests).
    pub applied: u64,
    /// Grants refused.
    pub refused: u64,
}

impl GrantDesk {
    /// A desk and the sender the mail service uses.
    pub fn new() -> (GrantDesk, GrantSender) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            GrantDesk {
                rx,
                waiting: VecDeque::new(),
                applied: 0,
                refused: 0,
            },
            GrantSender { tx },
        )
    }

    /// Applies the grants and answers the queries that arrived, in arrival order, before the
    /// coming tick; each applied grant is pushed to `journaled` (the tick's inputs, in order).
    pub fn before_tick(&mut self, kingdom: &mut Kingdom, journaled: &mut Vec<JournalInput>) {
        // Durable once a save of the coming tick (or later) lands: that save holds what
        // changes now.
        let tick = kingdom.tick_count() + 1;
        while let Ok(input) = self.rx.try_recv() {
            match input {
                DeskInput::Grant(g) => {
                    let answer = match kingdom.grant(g.player, g.grant, g.oldest_open, &g.resources)
                    {
                        Ok(()) => {
                            self.applied += 1;
                            GrantAnswer::Applied
                        }
                        Err(r) => {
                            self.refused += 1;
                            GrantAnswer::Refused(r)
                        }
                    };
                    // Journaled refused or not: replay refuses it the same way, and the journal
                    // says what was asked.
                    journaled.push(JournalInput::Grant {
                        player: g.player,
                        grant: g.grant,
                        oldest_open: g.oldest_open,
                        resources: g.resources,
                    });
                    self.waiting
                        .push_back((tick, Waiting::Grant(g.reply, answer)));
                }
                DeskInput::Query(q) => {
                    let listed = q
                        .grants
                        .iter()
                        .map(|&(player, id)| {
                            kingdom
                                .city(player)
                                .is_some_and(|(_, c)| c.grants.lists(id))
                        })
                        .collect();
                    self.waiting
                        .push_back((tick, Waiting::Query(q.reply, listed)));
                }
            }
        }
    }

    /// A save of the world after `tick` is durable: answers everything it covers.
    pub fn saves_durable(&mut self, tick: u64) {
        while self.waiting.front().is_some_and(|(t, _)| *t <= tick) {
            if let Some((_, w)) = self.waiting.pop_front() {
                // A claim whose caller went away is settled by the mailbox and the ledger.
                match w {
                    Waiting::Grant(reply, answer) => {
                        let _ = reply.send(answer);
                    }
                    Waiting::Query(reply, listed) => {
                        let _ = reply.send(listed);
                    }
                }
            }
        }
    }

    /// Answers held for a durable save.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}
