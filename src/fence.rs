//! Fencing: noticing that this instance no longer owns its kingdom, so that it stops.
//!
//! An instance that takes the kingdom's owner epoch (`Store::take_epoch`, at its start) fences
//! every older one: the store refuses their writes from then on. An older instance learns it in
//! one of two ways — a save refused for its stale epoch (the save queue's `fenced` flag), or the
//! store's epoch seen past its own by [`watch_owner_epoch`], which asks every
//! `--epoch-check-ms` so that an instance with nothing to save notices too. Either trips the
//! [`Fence`]. The tick thread looks at it before every tick and again before a tick's results go
//! out, so a fenced instance stops ticking and acknowledges nothing from the tick it noticed on;
//! `serve` then closes every session with `CloseCode::FENCED`, skips the final save (the store
//! would refuse it), sets its journal aside (its records belong to an epoch that no longer
//! owns the kingdom and must never be replayed onto the new owner's saves) and exits with code
//! [`EXIT_FENCED`].
//!
//! What it cannot do: commands acknowledged between the other instance's takeover and this
//! instance noticing (at most one check interval) were applied to a world the new owner never
//! loaded. An orderly rotation freezes the old instance before the new one takes the epoch, so
//! that window is empty; fencing is the guard for the disorderly case (a second instance
//! started by mistake, a network partition).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dominion_persistence::{KingdomId, SaveStats, Store};

/// The process exit code of an instance that stopped because it was fenced.
pub const EXIT_FENCED: u8 = 3;

/// Whether this instance has been fenced out of its kingdom, and why. Cheap to clone and check.
#[derive(Clone, Debug, Default)]
pub struct Fence(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    tripped: AtomicBool,
    why: Mutex<Option<String>>,
}

impl Fence {
    /// A fence not tripped.
    pub fn new() -> Fence {
        Fence::default()
    }

    /// Records that this instance is fenced, and why; true the first time (later reasons are
    /// dropped: the first one is what happened).
    pub fn trip(&self, why: impl Into<String>) -> bool {
        let mut slot = self.0.why.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return false;
        }
        let why = why.into();
        tracing::error!("FENCED: {why}; this instance stops ticking and acknowledging");
        *slot = Some(why);
        self.0.tripped.store(true, Ordering::Release);
        true
    }

    /// True once tripped.
    pub fn is_tripped(&self) -> bool {
        self.0.tripped.load(Ordering::Acquire)
    }

    /// Why it tripped (`None` while not tripped).
    pub fn why(&self) -> Option<String> {
        self.0.why.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Trips the fence if the save queue was fenced out (a save refused for a stale epoch).
    pub fn check_saves(&self, saves: &SaveStats, epoch: u64) -> bool {
        if saves.fenced.load(Ordering::Relaxed) && !self.is_tripped() {
            self.trip(format!(
                "the store refused a save for owner epoch {epoch}: another instance took the \
                 kingdom"
            ));
        }
        self.is_tripped()
    }
}

/// What a look at the store's owner epoch says about an instance holding `held`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochCheck {
    /// The store still names `held`.
    Owner,
    /// The store names another epoch: another instance took the kingdom.
    Fenced {
        /// The epoch the store names.
        current: u64,
    },
}

/// Compares the store's epoch with the one this instance holds.
pub fn check_epoch(held: u64, current: u64) -> EpochCheck {
    if current == held {
        EpochCheck::Owner
    } else {
        EpochCheck::Fenced { current }
    }
}

/// Asks the store for the kingdom's owner epoch every `every` until `shutdown` (or until
/// fenced), and trips `fence` when it moved past `held` or when the save queue was fenced. A
/// store that does not answer is not a fence (the database may be down; saves retry): the
/// check is simply tried again.
pub async fn watch_owner_epoch(
    store: Arc<dyn Store>,
    kingdom: KingdomId,
    held: u64,
    saves: Arc<SaveStats>,
    fence: Fence,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut unanswered = 0u64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if fence.check_saves(&saves, held) {
            return;
        }
        match store.current_epoch(kingdom).await {
            Ok(current) => {
                unanswered = 0;
                if let EpochCheck::Fenced { current } = check_epoch(held, current) {
                    fence.trip(format!(
                        "kingdom {}'s owner epoch in the store is {current}, this instance holds \
                         {held}: another instance took the kingdom",
                        kingdom.0
                    ));
                    return;
                }
            }
            Err(e) => {
                unanswered += 1;
                // Once, then every minute or so: the save queue reports the outage itself.
                if unanswered == 1 || unanswered.is_multiple_of(60) {
                    tracing::warn!(
                        attempts = unanswered,
                        "could not check the kingdom's owner epoch: {e}; trying again"
                    );
                }
            }
        }
    }
}

/// Moves a fenced instance's journal folder aside (to `<dir>.fenced-epoch<held>-<unix ms>`), so
/// that a later start on this data folder never replays records of an epoch that lost the
/// kingdom onto the new owner's saves. Returns where it went.
pub fn set_journal_aside(dir: &std::path::Path, held: u64) -> std::io::Result<std::path::PathBuf> {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".fenced-epoch{held}-{}",
        dominion_persistence::store::now_unix_ms()
    ));
    let to = dir.with_file_name(name);
    std::fs::rename(dir, &to)?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_keeps_its_first_reason() {
        let f = Fence::new();
        assert!(!f.is_tripped() && f.why().is_none());
        assert!(f.trip("first"));
        assert!(!f.trip("second"));
        assert!(f.clone().is_tripped());
        assert_eq!(f.why().as_deref(), Some("first"));
    }

    #[test]
    fn only_the_held_epoch_is_ownership() {
        assert_eq!(check_epoch(4, 4), EpochCheck::Owner);
        assert_eq!(check_epoch(4, 5), EpochCheck::Fenced { current: 5 });
        // A store restored from an older backup names a smaller epoch: not ours either.
        assert_eq!(check_epoch(4, 3), EpochCheck::Fenced { current: 3 });
    }

    #[test]
    fn a_fenced_save_queue_trips_the_fence() {
        let f = Fence::new();
        let saves = SaveStats::default();
        assert!(!f.check_saves(&saves, 2));
        saves.fenced.store(true, Ordering::Relaxed);
        assert!(f.check_saves(&saves, 2));
        assert!(f.why().unwrap().contains("epoch 2"));
    }

    #[test]
    fn a_journal_set_aside_is_out_of_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        std::fs::create_dir(&journal).unwrap();
        std::fs::write(journal.join("seg"), b"x").unwrap();
        let to = set_journal_aside(&journal, 7).unwrap();
        assert!(!journal.exists());
        assert!(to.join("seg").exists());
        assert!(
            to.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("journal.fenced-epoch7-")
        );
    }
}
