//! The [`Coordination`] trait: short-lived shared state between instances — player presence,
//! locks with expiry, and the instance registry — with two backends, [`RedisCoordination`]
//! (production) and [`EmbeddedCoordination`] (a SQLite file shared by processes on one machine).
//!
//! Everything here expires by the wall clock: coordination is outside the sim. Nothing here is
//! durable game state; that lives in the [`crate::Store`].

mod embedded;
mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use dominion_sim::types::PlayerId;
use serde::{Deserialize, Serialize};

use crate::error::CoordError;

pub use embedded::EmbeddedCoordination;
pub use redis::RedisCoordination;

/// Proof of holding a lock: only the holder's token unlocks or extends it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LockToken(pub String);

impl LockToken {
    /// A token unique across processes and time (pid, nanoseconds, counter).
    pub fn generate() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        LockToken(format!(
            "{}-{:x}-{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

/// A registered server instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// Unique instance id (e.g. `host:pid:start`).
    pub id: String,
    /// Address clients connect to (QUIC).
    pub address: String,
    /// Kingdoms it hosts.
    pub kingdoms: Vec<u32>,
    /// Server version.
    pub version: String,
    /// Wall-clock start time, ms since the Unix epoch.
    pub started_unix_ms: i64,
}

/// Shared coordination state. Every TTL must be at least one millisecond.
#[async_trait]
pub trait Coordination: Send + Sync + 'static {
    /// `"redis"` or `"embedded"`.
    fn backend(&self) -> &'static str;

    /// Records that `player` is on `instance` for `ttl` (refresh by calling again).
    async fn set_presence(
        &self,
        player: PlayerId,
        instance: &str,
        ttl: Duration,
    ) -> Result<(), CoordError>;

    /// Writes `player`'s presence on `instance` again for `ttl`, atomically only if it is absent
    /// (expired, or lost by a coordination restart) or already `instance`'s — never over another
    /// instance's. Returns false (nothing written) when another instance holds it.
    async fn refresh_presence(
        &self,
        player: PlayerId,
        instance: &str,
        ttl: Duration,
    ) -> Result<bool, CoordError>;

    /// The instance `player` is on, if the presence has not expired.
    async fn get_presence(&self, player: PlayerId) -> Result<Option<String>, CoordError>;

    /// Clears the presence only if it is still `instance`'s (an old instance logging a player
    /// out must not clear the new instance's entry). Returns whether it cleared.
    async fn clear_presence(&self, player: PlayerId, instance: &str) -> Result<bool, CoordError>;

    /// Takes the lock `name` for `ttl` if nobody holds it (SET NX PX). Returns the holder's token.
    async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<LockToken>, CoordError>;

    /// Extends a held lock to `ttl` from now; false if `token` no longer holds it.
    async fn extend_lock(
        &self,
        name: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, CoordError>;

    /// Releases the lock if `token` still holds it; returns whether it did.
    async fn unlock(&self, name: &str, token: &LockToken) -> Result<bool, CoordError>;

    /// Registers or refreshes (heartbeat) an instance for `ttl`.
    async fn register_instance(&self, info: &InstanceInfo, ttl: Duration)
    -> Result<(), CoordError>;

    /// Removes an instance from the registry.
    async fn deregister_instance(&self, id: &str) -> Result<(), CoordError>;

    /// Instances whose registration has not expired, sorted by id.
    async fn list_instances(&self) -> Result<Vec<InstanceInfo>, CoordError>;
}

/// Validates a TTL and returns it in milliseconds.
pub(crate) fn ttl_ms(ttl: Duration) -> Result<i64, CoordError> {
    let ms = ttl.as_millis();
    if ms == 0 || ms > i64::MAX as u128 / 2 {
        return Err(CoordError::Invalid(format!(
            "ttl {ttl:?} must be between 1 ms and ~146 million years"
        )));
    }
    Ok(ms as i64)
}

/// Validates a lock or instance name.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), CoordError> {
    if name.is_empty() {
        return Err(CoordError::Invalid(format!("empty {what}")));
    }
    Ok(())
}
