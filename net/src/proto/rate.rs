//! Token buckets for request rate limiting; time is passed in (`now`), never read.
//!
//! A [`SharedBucket`] is one bucket several sessions draw from: the transport keys them by
//! player (and by address before login), so reconnecting does not refill anyone's budget.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rate-limit settings: a steady rate and a burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second (sustained requests per second).
    pub per_second: f64,
    /// Bucket capacity (requests allowed back to back after a quiet period).
    pub burst: u32,
}

impl Default for RateLimit {
    /// 20 requests/s sustained, bursts of 40: far above what a human player issues, well below
    /// what a scripted flood sends.
    fn default() -> Self {
        RateLimit {
            per_second: 20.0,
            burst: 40,
        }
    }
}

/// A token bucket. Starts full.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket as of `now`.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        TokenBucket {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        // A `now` earlier than the last one (callers mixing clocks) adds nothing.
        let elapsed = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        let rate = if self.limit.per_second.is_finite() && self.limit.per_second > 0.0 {
            self.limit.per_second
        } else {
            0.0
        };
        self.tokens = (self.tokens + elapsed.as_secs_f64() * rate).min(f64::from(self.limit.burst));
    }

    /// Takes one token if available.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now`.
    pub fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        self.tokens as u32
    }

    /// Time until one token is available, from `now`.
    pub fn time_to_next(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 || self.limit.per_second <= 0.0 || !self.limit.per_second.is_finite()
        {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((1.0 - self.tokens) / self.limit.per_second)
    }
}

/// A token bucket shared by every session that holds a clone.
#[derive(Clone, Debug)]
pub struct SharedBucket(Arc<Mutex<TokenBucket>>);

impl SharedBucket {
    /// A full bucket as of `now`, held by nobody else yet.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        SharedBucket(Arc::new(Mutex::new(TokenBucket::new(limit, now))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenBucket> {
        // A bucket is two numbers; a panic elsewhere cannot leave it half-updated.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one token if available.
    pub fn try_take(&self, now: Instant) -> bool {
        self.lock().try_take(now)
    }

    /// Time until one token is available, from `now`.
    pub fn time_to_next(&self, now: Instant) -> Duration {
        self.lock().time_to_next(now)
    }

    /// The bucket's settings.
    pub fn limit(&self) -> RateLimit {
        self.lock().limit
    }

    /// Whether this is the only handle and the bucket is full at `now`: forgetting it then
    /// changes nothing (a new one starts full).
    pub fn is_idle(&self, now: Instant) -> bool {
        Arc::strong_count(&self.0) == 1 && {
            let mut b = self.lock();
            b.available(now) >= b.limit.burst
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(
            RateLimit {
                per_second: 10.0,
                burst: 5,
            },
            t0,
        );
        for _ in 0..5 {
            assert!(b.try_take(t0));
        }
        assert!(!b.try_take(t0));
        assert_eq!(b.time_to_next(t0), Duration::from_millis(100));
        assert!(!b.try_take(t0 + Duration::from_millis(99)));
        assert!(b.try_take(t0 + Duration::from_millis(100)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.available(later), 5);
    }

    #[test]
    fn a_shared_bucket_is_one_budget() {
        let t0 = Instant::now();
        let limit = RateLimit {
            per_second: 1.0,
            burst: 2,
        };
        let a = SharedBucket::new(limit, t0);
        let b = a.clone();
        assert!(a.try_take(t0));
        assert!(!a.is_idle(t0), "held twice");
        assert!(b.try_take(t0));
        assert!(!a.try_take(t0), "one budget for both holders");
        drop(b);
        assert!(!a.is_idle(t0), "not full yet");
        assert!(a.is_idle(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(
            RateLimit {
                per_second: 1.0,
                burst: 1,
            },
            t0,
        );
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 - Duration::from_secs(5)));
        assert!(!b.try_take(t0 + Duration::from_millis(500)));
        assert!(b.try_take(t0 + Duration::from_secs(1)));
    }
}
