//! Rate-limit buckets that outlive connections: one per player once logged in, one per client
//! address before. A reconnect (or a second connection) draws from the same budget instead of
//! starting with a full bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use dominion_sim::types::PlayerId;

use crate::proto::{RateLimit, SharedBucket};

/// Whose budget a bucket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RateKey {
    Address(IpAddr),
    Player(PlayerId),
}

/// The buckets in use or not yet refilled. Forgotten once idle (no session holds one and it
/// is full again), so the map stays as large as the set of recent clients.
pub(crate) struct RateBuckets {
    player: RateLimit,
    address: RateLimit,
    buckets: Mutex<HashMap<RateKey, SharedBucket>>,
}

impl RateBuckets {
    pub(crate) fn new(player: RateLimit, address: RateLimit) -> Self {
        RateBuckets {
            player,
            address,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: RateKey, limit: RateLimit, now: Instant) -> SharedBucket {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key)
            .or_insert_with(|| SharedBucket::new(limit, now))
            .clone()
    }

    /// The budget of unauthenticated connections from `ip`.
    pub(crate) fn for_address(&self, ip: IpAddr, now: Instant) -> SharedBucket {
        self.get(RateKey::Address(ip), self.address, now)
    }

    /// The budget of `player`, whichever connection it uses.
    pub(crate) fn for_player(&self, player: PlayerId, now: Instant) -> SharedBucket {
        self.get(RateKey::Player(player), self.player, now)
    }

    /// Forgets idle buckets; returns how many remain.
    pub(crate) fn sweep(&self, now: Instant) -> usize {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, b| !b.is_idle(now));
        map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_player_keeps_its_budget_across_connections() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 1.0,
            burst: 3,
        };
        let rates = RateBuckets::new(limit, limit);
        let first = rates.for_player(PlayerId(9), t0);
        for _ in 0..3 {
            assert!(first.try_take(t0));
        }
        drop(first);
        assert_eq!(rates.sweep(t0), 1, "an empty bucket is remembered");
        let again = rates.for_player(PlayerId(9), t0);
        assert!(!again.try_take(t0), "reconnecting refills nothing");
        assert!(rates.for_player(PlayerId(10), t0).try_take(t0));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(rates.for_address(ip, t0).try_take(t0));
        drop(again);
        assert_eq!(rates.sweep(t0 + Duration::from_secs(10)), 0);
    }
}
