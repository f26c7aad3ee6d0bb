//! Token bucket for per-session request rate limiting; time is passed in (`now`), never read.

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
