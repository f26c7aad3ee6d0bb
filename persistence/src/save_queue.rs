//! The save pipeline's writer: a [`SaveQueue`] accepts [`WriteBatch`]es from the tick thread
//! without ever blocking it, coalesces them (the latest write per document wins), and a tokio
//! task writes them to the [`Store`] with the instance's epoch, retrying with exponential
//! backoff while the database is down. Counters are plain atomics in [`SaveStats`] for the root
//! to export.
//!
//! Ordering: submissions are totally ordered (a short mutex guards the channel send and the
//! overflow batch), and every write covers a prefix of that order, so [`SaveQueue::flush`] knows
//! exactly what is durable.
//!
//! Errors: every failure except a stale epoch is retried with backoff (loud `error!` per attempt,
//! [`SaveStats::failing`] set, `info!` on recovery); nothing is ever dropped while the instance
//! owns the kingdom. A stale epoch stops the queue for good ([`SaveStats::fenced`]): another
//! instance owns the kingdom, so its unsaved batches are discarded.
//!
//! Not here: deciding what is dirty (the root collects dirty entities each save interval) or
//! exporting metrics (the root reads [`SaveStats`]).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::StoreError;
use crate::records::KingdomId;
use crate::store::{Store, WriteBatch, now_unix_ms};

/// Tuning of a [`SaveQueue`].
#[derive(Clone, Debug)]
pub struct SaveQueueConfig {
    /// Batches the channel holds before submissions are merged into the overflow batch.
    pub capacity: usize,
    /// First retry delay after a failed write.
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
}

impl Default for SaveQueueConfig {
    fn default() -> Self {
        SaveQueueConfig {
            capacity: 64,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Counters of a save queue, updated with relaxed atomics; read them for metrics.
#[derive(Debug, Default)]
pub struct SaveStats {
    /// Batches submitted.
    pub submitted: AtomicU64,
    /// Submissions merged into the overflow batch because the channel was full (or already
    /// overflowing): coalesced, never dropped.
    pub overflowed: AtomicU64,
    /// Successful store writes (each covers one or more coalesced submissions).
    pub batches_written: AtomicU64,
    /// Submissions durably written.
    pub submissions_written: AtomicU64,
    /// Document operations written (after coalescing).
    pub ops_written: AtomicU64,
    /// Failed write attempts.
    pub failures: AtomicU64,
    /// Write attempts made after a failure.
    pub retries: AtomicU64,
    /// Submissions not yet durably written (queued, overflowing or being retried).
    pub queue_depth: AtomicU64,
    /// Wall-clock time of the last successful write, ms since the Unix epoch (0: never).
    pub last_success_unix_ms: AtomicI64,
    /// True while the latest write attempt failed.
    pub failing: AtomicBool,
    /// True once the store rejected this instance's epoch: the queue has stopped for good.
    pub fenced: AtomicBool,
    /// Batches gathered and dropped unwritten: a standby (`dominion serve --standby`) writes
    /// nothing, and counts here what it would have saved.
    pub dropped: AtomicU64,
}

type Item = (u64, WriteBatch);

struct Gate {
    /// Sequence number of the last submission.
    last_seq: u64,
    /// Submissions made while the channel was full, coalesced; newer than everything queued.
    overflow: Option<(u64, u64, WriteBatch)>, // (last seq, submissions, batch)
    tx: Option<mpsc::Sender<Item>>,
}

struct Shared {
    kingdom: KingdomId,
    gate: Mutex<Gate>,
    wake: Notify,
    stats: Arc<SaveStats>,
    written: watch::Sender<u64>,
    fenced_error: Mutex<Option<StoreError>>,
}

/// Handle to a running save writer for one kingdom and epoch. See the [module docs](self).
pub struct SaveQueue {
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SaveQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaveQueue")
            .field("kingdom", &self.shared.kingdom)
            .field("stats", &self.shared.stats)
            .finish()
    }
}

fn stopped_error(shared: &Shared) -> StoreError {
    match shared.fenced_error.lock() {
        Ok(g) => match &*g {
            Some(StoreError::StaleEpoch {
                kingdom,
                held,
                current,
            }) => StoreError::StaleEpoch {
                kingdom: *kingdom,
                held: *held,
                current: *current,
            },
            _ => StoreError::Invalid("save queue is shut down".into()),
        },
        Err(_) => StoreError::Invalid("save queue is shut down".into()),
    }
}

impl SaveQueue {
    /// Starts the writer task on the current tokio runtime. Every write carries `epoch`.
    pub fn spawn(
        store: Arc<dyn Store>,
        kingdom: KingdomId,
        epoch: u64,
        config: SaveQueueConfig,
    ) -> Self {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let shared = Arc::new(Shared {
            kingdom,
            gate: Mutex::new(Gate {
                last_seq: 0,
                overflow: None,
                tx: Some(tx),
            }),
            wake: Notify::new(),
            stats: Arc::new(SaveStats::default()),
            written: watch::channel(0).0,
            fenced_error: Mutex::new(None),
        });
        let task = tokio::spawn(writer(shared.clone(), store, epoch, config, rx));
        SaveQueue {
            shared,
            task: Some(task),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Arc<SaveStats> {
        self.shared.stats.clone()
    }

    /// Queues `batch` without waiting: into the channel if it has room, otherwise merged into
    /// the overflow batch (never dropped). Callable from any thread. Fails only when the batch
    /// is for another kingdom or the queue has stopped (fenced out or shut down).
    pub fn submit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.kingdom() != self.shared.kingdom {
            return Err(StoreError::Invalid(format!(
                "batch for {} submitted to the save queue of {}",
                batch.kingdom(),
                self.shared.kingdom
            )));
        }
        if self.shared.stats.fenced.load(Ordering::Relaxed) {
            return Err(stopped_error(&self.shared));
        }
        let stats = &self.shared.stats;
        let mut gate = self
            .shared
            .gate
            .lock()
            .map_err(|_| StoreError::Invalid("save queue mutex poisoned".into()))?;
        let Some(tx) = gate.tx.clone() else {
            return Err(stopped_error(&self.shared));
        };
        gate.last_seq += 1;
        let seq = gate.last_seq;
        stats.submitted.fetch_add(1, Ordering::Relaxed);
        stats.queue_depth.fetch_add(1, Ordering::Relaxed);
        // Once overflowing, everything goes to the overflow batch until the writer takes it,
        // so the channel never holds anything newer than the overflow.
        let batch = if gate.overflow.is_none() {
            match tx.try_send((seq, batch)) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full((_, b))) => Some(b),
                Err(mpsc::error::TrySendError::Closed((_, b))) => {
                    // The writer stopped between the checks above and now.
                    drop(b);
                    stats.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    return Err(stopped_error(&self.shared));
                }
            }
        } else {
            Some(batch)
        };
        if let Some(b) = batch {
            stats.overflowed.fetch_add(1, Ordering::Relaxed);
            match &mut gate.overflow {
                Some((last, n, pending)) => {
                    pending.merge(b)?;
                    *last = seq;
                    *n += 1;
                }
                None => gate.overflow = Some((seq, 1, b)),
            }
            drop(gate);
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Sequence number of the newest submission (submissions are numbered from 1).
    pub fn submitted_seq(&self) -> u64 {
        self.shared.gate.lock().map_or(0, |g| g.last_seq)
    }

    /// Every submission up to this sequence number is durably written.
    pub fn durable_seq(&self) -> u64 {
        *self.shared.written.borrow()
    }

    /// Waits until every submission made before this call is durably written. Fails with the
    /// stale-epoch error if the queue was fenced out, or when it was shut down with data unsaved.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let target = self
            .shared
            .gate
            .lock()
            .map_err(|_| StoreError::Invalid("save queue mutex poisoned".into()))?
            .last_seq;
        let mut rx = self.shared.written.subscribe();
        loop {
            if *rx.borrow_and_update() >= target {
                return Ok(());
            }
            if self.shared.stats.fenced.load(Ordering::Relaxed) {
                return Err(stopped_error(&self.shared));
            }
            if rx.changed().await.is_err() {
                return Err(stopped_error(&self.shared));
            }
        }
    }

    /// Stops accepting batches, writes everything queued (retrying as usual) and stops the
    /// writer. Bound it with `tokio::time::timeout` if the database may stay down.
    pub async fn shutdown(mut self) -> Result<(), StoreError> {
        if let Ok(mut gate) = self.shared.gate.lock() {
            gate.tx = None;
        }
        self.shared.wake.notify_one();
        let flushed = self.flush().await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        flushed
    }
}

impl Drop for SaveQueue {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Dropped without shutdown: whatever is unsaved is lost with the process anyway;
            // stop the task so it does not retry forever.
            task.abort();
        }
    }
}

async fn writer(
    shared: Arc<Shared>,
    store: Arc<dyn Store>,
    epoch: u64,
    config: SaveQueueConfig,
    mut rx: mpsc::Receiver<Item>,
) {
    let stats = shared.stats.clone();
    let kingdom = shared.kingdom;
    // What is being written: coalesced batch, last seq in it, number of submissions.
    let mut current: Option<(WriteBatch, u64, u64)> = None;
    let mut backoff = config.initial_backoff;
    let mut failing_since: Option<(Instant, u64)> = None;
    let mut closed = false;
    loop {
        let mut arrived: Vec<Item> = Vec::new();
        if current.is_none() && !closed {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(item) => arrived.push(item),
                    None => closed = true,
                },
                _ = shared.wake.notified() => {}
            }
        }
        // Take everything queued, then the overflow, under the gate: no submission can slip
        // into the channel in between, so what we take is a prefix of the submission order.
        let overflow = {
            let mut gate = match shared.gate.lock() {
                Ok(g) => g,
                Err(_) => {
                    tracing::error!(
                        kingdom = kingdom.0,
                        "save queue mutex poisoned; writer stops"
                    );
                    return;
                }
            };
            while let Ok(item) = rx.try_recv() {
                arrived.push(item);
            }
            if gate.tx.is_none() {
                closed = true;
            }
            gate.overflow.take()
        };
        for (seq, b) in arrived {
            merge_into(&mut current, seq, 1, b);
        }
        if let Some((seq, n, b)) = overflow {
            merge_into(&mut current, seq, n, b);
        }
        let Some((batch, last_seq, count)) = &current else {
            if closed {
                return;
            }
            continue;
        };
        if failing_since.is_some() {
            stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        match store.apply(epoch, batch).await {
            Ok(()) => {
                stats.batches_written.fetch_add(1, Ordering::Relaxed);
                stats
                    .submissions_written
                    .fetch_add(*count, Ordering::Relaxed);
                stats
                    .ops_written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                stats.queue_depth.fetch_sub(*count, Ordering::Relaxed);
                stats
                    .last_success_unix_ms
                    .store(now_unix_ms(), Ordering::Relaxed);
                stats.failing.store(false, Ordering::Relaxed);
                if let Some((since, attempts)) = failing_since.take() {
                    tracing::info!(
                        kingdom = kingdom.0,
                        backend = store.backend(),
                        url = store.url(),
                        failed_attempts = attempts,
                        down_for = ?since.elapsed(),
                        ops = batch.len(),
                        "saving recovered: coalesced backlog written"
                    );
                }
                // `send_replace`, not `send`: with no receiver subscribed (nobody flushing), `send`
                // would drop the value and `durable_seq` would never move.
                shared.written.send_replace(*last_seq);
                backoff = config.initial_backoff;
                current = None;
            }
            Err(e @ StoreError::StaleEpoch { .. }) => {
                tracing::error!(
                    kingdom = kingdom.0,
                    error = %e,
                    unsaved_submissions = *count,
                    "save queue fenced out: another instance owns the kingdom; dropping unsaved batches and stopping"
                );
                if let Ok(mut slot) = shared.fenced_error.lock() {
                    *slot = Some(e);
                }
                stats.fenced.store(true, Ordering::Relaxed);
                stats.failing.store(true, Ordering::Relaxed);
                if let Ok(mut gate) = shared.gate.lock() {
                    gate.tx = None;
                    gate.overflow = None;
                }
                // Wake flush() waiters so they see the fenced flag.
                shared.written.send_modify(|_| {});
                return;
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                stats.failing.store(true, Ordering::Relaxed);
                let attempts = match &mut failing_since {
                    Some((_, n)) => {
                        *n += 1;
                        *n
                    }
                    None => {
                        failing_since = Some((Instant::now(), 1));
                        1
                    }
                };
                tracing::error!(
                    kingdom = kingdom.0,
                    backend = store.backend(),
                    url = store.url(),
                    error = %e,
                    attempt = attempts,
                    pending_ops = batch.len(),
                    pending_submissions = *count,
                    retry_in = ?backoff,
                    "saving failed; keeping the batch and retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.max_backoff);
            }
        }
    }
}

fn merge_into(current: &mut Option<(WriteBatch, u64, u64)>, seq: u64, n: u64, b: WriteBatch) {
    match current {
        Some((batch, last, count)) => {
            // Same kingdom by construction (checked in submit).
            let _ = batch.merge(b);
            *last = seq;
            *count += n;
        }
        None => *current = Some((b, seq, n)),
    }
}
