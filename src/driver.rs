//! Tick pacing: when the next tick is due, how to catch up after a slow one, when to skip.
//!
//! Pure: it takes `now` and answers; the serve loop owns the clock and the sleeping. Deadlines
//! advance by exactly one period per tick, so the rate does not drift with tick duration.

use std::time::{Duration, Instant};

/// What the loop should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Run a tick now.
    Tick,
    /// Nothing is due; sleep until this instant.
    SleepUntil(Instant),
}

/// Keeps a fixed tick rate against the wall clock.
#[derive(Clone, Debug)]
pub struct TickDriver {
    period: Duration,
    next_due: Instant,
    max_catch_up: u32,
    /// Ticks that started late because an earlier tick overran.
    pub late_ticks: u64,
    /// Ticks dropped because the world fell further behind than `max_catch_up` periods.
    pub skipped_ticks: u64,
}

impl TickDriver {
    /// A driver whose first tick is due at `start`.
    pub fn new(tick_hz: u32, max_catch_up: u32, start: Instant) -> Self {
        TickDriver {
            period: Self::period_for(tick_hz),
            next_due: start,
            max_catch_up,
            late_ticks: 0,
            skipped_ticks: 0,
        }
    }

    /// The tick period for a rate.
    pub fn period_for(tick_hz: u32) -> Duration {
        Duration::from_nanos(1_000_000_000 / u64::from(tick_hz.max(1)))
    }

    /// The current period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Changes the rate (hot reload); the next deadline keeps its place.
    pub fn set_rate(&mut self, tick_hz: u32, max_catch_up: u32) {
        self.period = Self::period_for(tick_hz);
        self.max_catch_up = max_catch_up;
    }

    /// Decides what to do at `now`. After answering [`Pace::Tick`], the caller runs one tick.
    pub fn poll(&mut self, now: Instant) -> Pace {
        if now < self.next_due {
            return Pace::SleepUntil(self.next_due);
        }
        let behind = now.duration_since(self.next_due);
        let limit = self.period * self.max_catch_up.max(1);
        if behind > limit {
            // Too far behind to catch up without a burst: drop the missed ticks, keep the phase.
            let missed = (behind.as_nanos() / self.period.as_nanos()) as u64;
            self.skipped_ticks += missed;
            self.next_due += self.period * missed as u32;
        } else if behind >= self.period {
            self.late_ticks += 1;
        }
        self.next_due += self.period;
        Pace::Tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_rate_without_drift() {
        let t0 = Instant::now();
        let mut d = TickDriver::new(10, 20, t0);
        assert_eq!(d.poll(t0), Pace::Tick);
        // A tick that took 30 ms: next is still due at t0 + 100 ms, not t0 + 130 ms.
        assert_eq!(
            d.poll(t0 + Duration::from_millis(30)),
            Pace::SleepUntil(t0 + Duration::from_millis(100))
        );
        assert_eq!(d.poll(t0 + Duration::from_millis(100)), Pace::Tick);
        assert_eq!(d.late_ticks, 0);
    }

    #[test]
    fn catches_up_after_a_slow_tick() {
        let t0 = Instant::now();
        let mut d = TickDriver::new(10, 20, t0);
        assert_eq!(d.poll(t0), Pace::Tick);
        // The first tick took 350 ms: ticks due at 100, 200, 300 run back-to-back.
        let now = t0 + Duration::from_millis(350);
        for _ in 0..3 {
            assert_eq!(d.poll(now), Pace::Tick);
        }
        assert_eq!(
            d.poll(now),
            Pace::SleepUntil(t0 + Duration::from_millis(400))
        );
        assert_eq!(d.late_ticks, 2);
        assert_eq!(d.skipped_ticks, 0);
    }

    #[test]
    fn skips_when_too_far_behind() {
        let t0 = Instant::now();
        let mut d = TickDriver::new(10, 5, t0);
        assert_eq!(d.poll(t0), Pace::Tick);
        // Stalled 2.05 s: far beyond 5 periods, so missed ticks are dropped, phase kept.
        let now = t0 + Duration::from_millis(2050);
        assert_eq!(d.poll(now), Pace::Tick);
        assert_eq!(d.skipped_ticks, 19);
        assert_eq!(
            d.poll(now),
            Pace::SleepUntil(t0 + Duration::from_millis(2100))
        );
    }
}
