//! The alliance desk: how guild membership reaches the world. The guild service sends each
//! member's new alliance once the guild change is saved; the tick thread applies them at the
//! start of the next tick, in arrival order, with `Kingdom::change_alliance` (reinforcements
//! between former allies go home) and journals each as `JournalInput::Alliance`, so a replay
//! applies it at the same point. A player with no city yet (never logged in) keeps the alliance
//! waiting here until their city is founded.

use std::collections::BTreeMap;

use dominion_persistence::journal::JournalInput;
use dominion_sim::Kingdom;
use dominion_sim::types::PlayerId;
use tokio::sync::mpsc;

/// The guild service's side: never waits.
#[derive(Clone, Debug)]
pub struct AllianceSender {
    tx: mpsc::UnboundedSender<(PlayerId, Option<u64>)>,
}

impl AllianceSender {
    /// `player`'s alliance becomes `alliance` at the next tick.
    pub fn set(&self, player: PlayerId, alliance: Option<u64>) {
        let _ = self.tx.send((player, alliance));
    }
}

/// The tick thread's side.
pub struct AllianceDesk {
    rx: mpsc::UnboundedReceiver<(PlayerId, Option<u64>)>,
    /// Alliances of players without a city yet, applied once they have one.
    waiting: BTreeMap<PlayerId, Option<u64>>,
    /// Alliance changes applied (for tests and logs).
    pub applied: u64,
}

impl AllianceDesk {
    /// A desk and the sender the guild service uses.
    pub fn new() -> (AllianceDesk, AllianceSender) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            AllianceDesk {
                rx,
                waiting: BTreeMap::new(),
                applied: 0,
            },
            AllianceSender { tx },
        )
    }

    /// Applies what arrived (and what waited for a city) before the coming tick; each applied
    /// change is pushed to `journaled`. Reads and writes the players' alliances and, through
    /// `change_alliance`, stationed marches.
    pub fn before_tick(&mut self, kingdom: &mut Kingdom, journaled: &mut Vec<JournalInput>) {
        let mut due: Vec<(PlayerId, Option<u64>)> = Vec::new();
        if !self.waiting.is_empty() {
            let ready: Vec<PlayerId> = self
                .waiting
                .keys()
                .copied()
                .filter(|p| kingdom.city(*p).is_some())
                .collect();
            for p in ready {
                if let Some(a) = self.waiting.remove(&p) {
                    due.push((p, a));
                }
            }
        }
        while let Ok(change) = self.rx.try_recv() {
            due.push(change);
        }
        for (player, alliance) in due {
            match kingdom.change_alliance(player, alliance) {
                Some(sent_home) => {
                    self.applied += 1;
                    journaled.push(JournalInput::Alliance { player, alliance });
                    if !sent_home.is_empty() {
                        tracing::info!(%player, ?alliance, marches = sent_home.len(),
                            "alliance changed: reinforcements between former allies sent home");
                    }
                }
                None => {
                    self.waiting.insert(player, alliance);
                }
            }
        }
    }
}
