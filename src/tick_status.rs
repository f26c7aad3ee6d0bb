//! What the tick thread publishes about itself for operators, beside the Prometheus metrics:
//! each tick's duration over the last minute (for exact p50/p99 of that window, which a
//! histogram's buckets can't give) and the outcome of every asset reload.
//!
//! The tick thread writes under a short lock once per tick; readers (the admin API) copy out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How far back tick durations are kept.
pub const TICK_WINDOW: Duration = Duration::from_secs(60);

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct TickStatus {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    ticks: VecDeque<(Instant, Duration)>,
    reloads: u64,
    last_reload: Option<ReloadOutcome>,
    tick_hz: u32,
}

/// What happened to one asset reload (from the folder watcher or an operator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Counts reloads since start (1 = the first).
    pub seq: u64,
    /// Wall-clock time it was handled, ms since the Unix epoch.
    pub at_unix_ms: i64,
    /// What came of it.
    pub result: ReloadResult,
}

/// The result of one reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadResult {
    /// Valid and compatible: applies at the next tick boundary.
    Staged,
    /// Same digest as the config in force: nothing to do.
    Unchanged,
    /// Invalid files: every error, `file:line: field: message`.
    Invalid(Vec<String>),
    /// Valid but refused by the live world (e.g. a changed map size), or not journaled.
    Refused(String),
}

/// Percentiles of tick durations over [`TICK_WINDOW`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TickTimes {
    /// Ticks in the window.
    pub samples: usize,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Longest, milliseconds.
    pub max_ms: f64,
}

impl TickStatus {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain data: usable after a panic elsewhere.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a tick that ended at `now` and took `took`; forgets ticks older than the window.
    pub fn record_tick(&self, now: Instant, took: Duration) {
        let mut inner = self.lock();
        inner.ticks.push_back((now, took));
        while let Some(&(t, _)) = inner.ticks.front() {
            if now.saturating_duration_since(t) > TICK_WINDOW {
                inner.ticks.pop_front();
            } else {
                break;
            }
        }
    }

    /// Percentiles of the ticks of the last minute as of `now` (nearest rank).
    pub fn tick_times(&self, now: Instant) -> TickTimes {
        let mut took: Vec<Duration> = self
            .lock()
            .ticks
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= TICK_WINDOW)
            .map(|&(_, d)| d)
            .collect();
        if took.is_empty() {
            return TickTimes::default();
        }
        took.sort_unstable();
        let rank = |p: f64| {
            let i = ((p * took.len() as f64).ceil() as usize).clamp(1, took.len()) - 1;
            took[i].as_secs_f64() * 1e3
        };
        TickTimes {
            samples: took.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: took[took.len() - 1].as_secs_f64() * 1e3,
        }
    }

    /// Records the tick rate in force (at start and when a config changes it).
    pub fn set_tick_hz(&self, hz: u32) {
        self.lock().tick_hz = hz;
    }

    /// The tick rate in force (0 before the tick loop starts).
    pub fn tick_hz(&self) -> u32 {
        self.lock().tick_hz
    }

    /// Records what came of a reload.
    pub fn record_reload(&self, at_unix_ms: i64, result: ReloadResult) {
        let mut inner = self.lock();
        inner.reloads += 1;
        let seq = inner.reloads;
        inner.last_reload = Some(ReloadOutcome {
            seq,
            at_unix_ms,
            result,
        });
    }

    /// The last reload's outcome, if any.
    pub fn last_reload(&self) -> Option<ReloadOutcome> {
        self.lock().last_reload.clone()
    }

    /// Reloads handled so far.
    pub fn reloads(&self) -> u64 {
        self.lock().reloads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_cover_only_the_last_minute() {
        let s = TickStatus::default();
        let t0 = Instant::now();
        s.record_tick(t0, Duration::from_millis(500));
        let later = t0 + TICK_WINDOW + Duration::from_secs(1);
        for ms in 1..=100 {
            s.record_tick(later, Duration::from_millis(ms));
        }
        let t = s.tick_times(later);
        assert_eq!(t.samples, 100, "the 500 ms tick is older than a minute");
        assert_eq!(t.p50_ms, 50.0);
        assert_eq!(t.p99_ms, 99.0);
        assert_eq!(t.max_ms, 100.0);
    }

    #[test]
    fn reloads_are_numbered() {
        let s = TickStatus::default();
        assert_eq!(s.last_reload(), None);
        s.record_reload(5, ReloadResult::Staged);
        s.record_reload(
            6,
            ReloadResult::Invalid(vec!["units.toml:7: x: bad".into()]),
        );
        let last = s.last_reload().unwrap();
        assert_eq!(last.seq, 2);
        assert_eq!(
            last.result,
            ReloadResult::Invalid(vec!["units.toml:7: x: bad".into()])
        );
    }
}
