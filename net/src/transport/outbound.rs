//! Outbound memory: every session's queued bytes, and their sum across the process, bounded.
//!
//! Each session counts what it has queued and not yet handed to QUIC ([`QueueBytes`]); the sum
//! over all sessions is one process-wide counter ([`OutboundBudget`]). A session's queue has its
//! own bound (a client that stops reading is cut off alone); the process bound catches the case
//! where many sessions are each below theirs. When it is reached, the sessions with the most
//! bytes waiting — the slowest readers — are closed first, until the total would be back under
//! three quarters of the bound ([`pick_slowest`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The process-wide outbound byte counter and its bound.
#[derive(Debug)]
pub(crate) struct OutboundBudget {
    used: AtomicUsize,
    max: usize,
}

impl OutboundBudget {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(OutboundBudget {
            used: AtomicUsize::new(0),
            max: max.max(1),
        })
    }

    /// Bytes queued in all sessions now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Bytes to free so the total is back under three quarters of the bound (0 below the bound).
    pub(crate) fn excess(&self) -> usize {
        let used = self.used();
        if used <= self.max {
            0
        } else {
            used - self.max / 4 * 3
        }
    }
}

/// One session's queued-bytes counter, also counted in the process total. When the last holder
/// (queue senders, the writer) is gone, whatever it still counted leaves the total with it.
#[derive(Debug)]
pub(crate) struct QueueBytes {
    mine: AtomicUsize,
    budget: Arc<OutboundBudget>,
    /// Closed to free memory: takes nothing more.
    shed: AtomicBool,
}

impl QueueBytes {
    pub(crate) fn new(budget: Arc<OutboundBudget>) -> Arc<Self> {
        Arc::new(QueueBytes {
            mine: AtomicUsize::new(0),
            budget,
            shed: AtomicBool::new(false),
        })
    }

    /// Bytes this session has queued.
    pub(crate) fn get(&self) -> usize {
        self.mine.load(Ordering::Relaxed)
    }

    /// Counts `n` more bytes; returns the session's count before.
    pub(crate) fn add(&self, n: usize) -> usize {
        self.budget.used.fetch_add(n, Ordering::Relaxed);
        self.mine.fetch_add(n, Ordering::Relaxed)
    }

    /// Counts `n` bytes gone (written or given up).
    pub(crate) fn sub(&self, n: usize) {
        self.budget.used.fetch_sub(n, Ordering::Relaxed);
        self.mine.fetch_sub(n, Ordering::Relaxed);
    }

    /// The process-wide budget this queue counts in.
    pub(crate) fn budget(&self) -> &OutboundBudget {
        &self.budget
    }

    /// The process total is above its bound.
    pub(crate) fn over_budget(&self) -> bool {
        self.budget.used() > self.budget.max
    }

    /// Marks the session closed for memory; true the first time.
    pub(crate) fn mark_shed(&self) -> bool {
        !self.shed.swap(true, Ordering::Relaxed)
    }

    /// Whether the session was closed for memory.
    pub(crate) fn is_shed(&self) -> bool {
        self.shed.load(Ordering::Relaxed)
    }
}

impl Drop for QueueBytes {
    fn drop(&mut self) {
        let left = *self.mine.get_mut();
        self.budget.used.fetch_sub(left, Ordering::Relaxed);
    }
}

/// The sessions to close to free `excess` bytes: most bytes waiting first (ties: lower id first,
/// the older session), until their bytes cover `excess`.
pub(crate) fn pick_slowest<K: Copy + Ord>(mut queued: Vec<(K, usize)>, excess: usize) -> Vec<K> {
    queued.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut freed = 0;
    let mut out = Vec::new();
    for (k, bytes) in queued {
        if freed >= excess || bytes == 0 {
            break;
        }
        freed += bytes;
        out.push(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_follows_every_session_and_their_end() {
        let budget = OutboundBudget::new(100);
        let a = QueueBytes::new(budget.clone());
        let b = QueueBytes::new(budget.clone());
        a.add(60);
        b.add(30);
        assert_eq!(budget.used(), 90);
        assert!(!a.over_budget());
        b.add(20);
        assert!(a.over_budget());
        assert_eq!(budget.excess(), 110 - 75);
        a.sub(10);
        drop(b);
        assert_eq!(budget.used(), 50, "a dropped queue leaves the total");
        assert!(a.mark_shed() && !a.mark_shed() && a.is_shed());
    }

    #[test]
    fn the_slowest_go_first_and_only_as_many_as_needed() {
        let q = vec![(1u64, 10), (2, 500), (3, 300), (4, 0), (5, 300)];
        assert_eq!(pick_slowest(q.clone(), 600), vec![2, 3]);
        assert_eq!(pick_slowest(q.clone(), 500), vec![2]);
        assert_eq!(pick_slowest(q.clone(), 1), vec![2]);
        assert_eq!(pick_slowest(q.clone(), 0), Vec::<u64>::new());
        assert_eq!(pick_slowest(q, 10_000), vec![2, 3, 5, 1]);
    }
}
