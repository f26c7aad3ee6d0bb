//! A player's ledger of applied grants (mail attachments claimed): which grant ids already put
//! resources into the city, so a claim that arrives twice — a retry, two devices, a crash
//! between any two steps of a claim — grants once.
//!
//! Grant ids are the ids of the mails whose attachments they carry: kingdom-wide, increasing.
//! The ledger keeps a **floor** and the **applied ids at or above it**: every id below the floor
//! is settled (applied, or never claimable again) and refused. Each grant names the oldest
//! mail of the player still claimable when it was sent (`oldest_open`, which the mail service
//! reads from the mailbox: unclaimed, unexpired, with attachments); the floor rises to it and
//! the ids below it are dropped. So the ledger holds only the grants applied above the player's
//! oldest claimable mail, and never more than [`MAX_OPEN_GRANTS`] + 1: past that a grant is
//! refused (nothing applied, the mail stays claimable) unless it is the player's oldest
//! claimable mail, whose claim always goes through and lets the next grant raise the floor.
//!
//! Not responsible for: adding the resources (the kingdom's `grant`), or the mailbox.

use std::collections::BTreeSet;

/// Most applied grant ids a ledger keeps above its floor.
pub const MAX_OPEN_GRANTS: usize = 1000;

/// Why a grant was not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum GrantRefusal {
    /// The grant id was applied before (or is below the floor: settled): nothing added again.
    #[error("already claimed")]
    AlreadyApplied,
    /// The ledger holds [`MAX_OPEN_GRANTS`] ids above its floor.
    #[error("too many newer attachments claimed: claim your oldest attachments first")]
    LedgerFull,
    /// The player has no city to receive it.
    #[error("you have no city in this kingdom")]
    NoCity,
}

/// The grants applied to one player's city. See the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GrantLedger {
    floor: u64,
    applied: BTreeSet<u64>,
}

impl GrantLedger {
    /// A ledger as stored: its floor and the applied ids (those below the floor are dropped).
    pub fn from_parts(floor: u64, applied: impl IntoIterator<Item = u64>) -> GrantLedger {
        GrantLedger {
            floor,
            applied: applied.into_iter().filter(|&id| id >= floor).collect(),
        }
    }

    /// Every id below this is settled.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The applied ids at or above the floor, ascending.
    pub fn applied(&self) -> impl Iterator<Item = u64> + '_ {
        self.applied.iter().copied()
    }

    /// Applied ids kept.
    pub fn len(&self) -> usize {
        self.applied.len()
    }

    /// True when nothing was ever applied or settled.
    pub fn is_empty(&self) -> bool {
        self.floor == 0 && self.applied.is_empty()
    }

    /// True if grant `id` was applied and is still listed (its mail may not be marked claimed
    /// yet). Ids below the floor are settled and not listed.
    pub fn lists(&self, id: u64) -> bool {
        self.applied.contains(&id)
    }

    /// True if grant `id` must be refused as already applied.
    pub fn refuses(&self, id: u64) -> bool {
        id < self.floor || self.applied.contains(&id)
    }

    /// Records grant `id` as applied, raising the floor to `oldest_open` (the oldest mail of the
    /// player still claimable when the grant was sent; at most `id`). Refuses an id already
    /// applied or settled, and a new id other than the oldest claimable one while the ledger is
    /// full; a refusal changes nothing.
    pub fn admit(&mut self, id: u64, oldest_open: u64) -> Result<(), GrantRefusal> {
        if self.refuses(id) {
            return Err(GrantRefusal::AlreadyApplied);
        }
        let floor = oldest_open.min(id).max(self.floor);
        // Claiming the oldest claimable mail always goes through: it is how a full ledger
        // empties (the next grant's floor passes it and everything below).
        let kept = self.applied.range(floor..).count();
        if id != floor && kept >= MAX_OPEN_GRANTS {
            return Err(GrantRefusal::LedgerFull);
        }
        self.applied.insert(id);
        if floor > self.floor {
            self.floor = floor;
            self.applied = self.applied.split_off(&floor);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_applies_once_and_the_floor_drops_settled_ids() {
        let mut l = GrantLedger::default();
        assert_eq!(l.admit(5, 5), Ok(()));
        assert_eq!(l.admit(5, 5), Err(GrantRefusal::AlreadyApplied));
        assert_eq!(l.admit(9, 5), Ok(()));
        assert_eq!(l.applied().collect::<Vec<_>>(), vec![5, 9]);
        // Mail 5 is claimed: the oldest claimable mail is now 7.
        assert_eq!(l.admit(7, 7), Ok(()));
        assert_eq!(l.floor(), 7);
        assert_eq!(l.applied().collect::<Vec<_>>(), vec![7, 9]);
        assert!(l.refuses(5), "settled below the floor");
        assert!(!l.lists(5));
        assert_eq!(l.admit(5, 5), Err(GrantRefusal::AlreadyApplied));
        assert_eq!(l.admit(9, 7), Err(GrantRefusal::AlreadyApplied));
        // A stale `oldest_open` never lowers the floor.
        assert_eq!(l.admit(8, 1), Ok(()));
        assert_eq!(l.floor(), 7);
        assert_eq!(GrantLedger::from_parts(7, [3, 7, 8, 9]), l);
    }

    #[test]
    fn a_full_ledger_refuses_new_grants_until_the_oldest_is_claimed() {
        let mut l = GrantLedger::default();
        for id in 10..10 + MAX_OPEN_GRANTS as u64 {
            assert_eq!(l.admit(id, 1), Ok(()));
        }
        let next = 10 + MAX_OPEN_GRANTS as u64;
        assert_eq!(l.admit(next, 1), Err(GrantRefusal::LedgerFull));
        assert_eq!(l.len(), MAX_OPEN_GRANTS);
        // Claiming the oldest claimable mail (1) always goes through; the next grant, whose
        // oldest claimable mail is newer, raises the floor past the applied ids.
        assert_eq!(l.admit(1, 1), Ok(()));
        assert_eq!(l.len(), MAX_OPEN_GRANTS + 1);
        assert_eq!(l.admit(next, next), Ok(()));
        assert_eq!(l.len(), 1);
    }
}
