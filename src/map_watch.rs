//! Map watchers: admin web-map pages observing the world like game clients do.
//!
//! A watcher is an AOI observer with an id in its own range ([`MAP_WATCHER_BIT`] set, so it
//! never meets a QUIC session id); it sets its viewport and leaves through the same inbox as a
//! session ([`crate::world_bridge::WorldSender`]), and the bridge hands it the same encoded
//! `WorldDelta`s a client's session would be pushed. A watcher that falls behind (its queue is
//! full) is dropped, as a slow client is disconnected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dominion_net::proto::WorldDelta;
use tokio::sync::mpsc;

/// Bit set in every watcher's observer id.
pub const MAP_WATCHER_BIT: u64 = 1 << 63;

/// Deltas a watcher may have waiting before it is dropped.
pub const WATCHER_QUEUE: usize = 256;

/// The registry of watchers (cheap to clone, shared by the admin API and the tick thread).
#[derive(Clone, Default)]
pub struct MapWatchers {
    inner: Arc<Mutex<HashMap<u64, mpsc::Sender<WorldDelta>>>>,
    next: Arc<AtomicU64>,
}

impl MapWatchers {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, mpsc::Sender<WorldDelta>>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True when `observer` is a watcher's id (not a session's).
    pub fn is_watcher(observer: u64) -> bool {
        observer & MAP_WATCHER_BIT != 0
    }

    /// A new watcher: its observer id and where its deltas arrive.
    pub fn join(&self) -> (u64, mpsc::Receiver<WorldDelta>) {
        let id = MAP_WATCHER_BIT | (self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let (tx, rx) = mpsc::channel(WATCHER_QUEUE);
        self.lock().insert(id, tx);
        (id, rx)
    }

    /// Forgets a watcher (its receiver then ends).
    pub fn leave(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Forgets every watcher, ending their streams (at shutdown: an open page must not hold
    /// the admin server's graceful shutdown).
    pub fn close_all(&self) {
        self.lock().clear();
    }

    /// Watchers connected.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Hands a watcher its delta without waiting; a watcher whose queue is full is dropped.
    pub fn deliver(&self, observer: u64, delta: WorldDelta) {
        let mut watchers = self.lock();
        if let Some(tx) = watchers.get(&observer)
            && tx.try_send(delta).is_err()
        {
            tracing::warn!(observer, "map watcher fell behind or left; dropped");
            watchers.remove(&observer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_that_falls_behind_is_dropped() {
        let w = MapWatchers::default();
        let (id, mut rx) = w.join();
        assert!(MapWatchers::is_watcher(id));
        assert!(!MapWatchers::is_watcher(42));
        w.deliver(
            id,
            WorldDelta {
                tick: 1,
                payload: vec![],
            },
        );
        assert_eq!(rx.try_recv().unwrap().tick, 1);
        for t in 0..=WATCHER_QUEUE as u64 {
            w.deliver(
                id,
                WorldDelta {
                    tick: t,
                    payload: vec![],
                },
            );
        }
        assert_eq!(w.count(), 0);
    }
}
