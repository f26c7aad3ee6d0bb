//! [`Coordination`] on Redis through a reconnecting `ConnectionManager`: presence and instance
//! keys with `PX` expiry, locks as `SET NX PX` released or extended by a compare-token Lua script.
//!
//! All keys start with a configurable prefix (`dominion:` by default) so several deployments or
//! tests can share one Redis.

use std::time::Duration;

use async_trait::async_trait;
use dominion_sim::types::PlayerId;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{Coordination, InstanceInfo, LockToken, check_name, ttl_ms};
use crate::error::{CoordError, redact_url};

const BACKEND: &str = "redis";

/// Deletes KEYS[1] if its value is ARGV[1].
const COMPARE_DEL: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Sets KEYS[1] to ARGV[1] for ARGV[2] ms if it is missing or already ARGV[1].
const SET_IF_MINE_OR_FREE: &str = r#"
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#;

/// Sets KEYS[1]'s expiry to ARGV[2] ms if its value is ARGV[1].
const COMPARE_PEXPIRE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// Removes from set KEYS[1] every id in ARGV[2..] whose key ARGV[1]..id no longer exists
/// (atomic, so a registration racing with the prune is never removed).
const PRUNE_EXPIRED: &str = r#"
local n = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    n = n + redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return n
"#;

/// Redis-backed coordination. Cheap to clone.
#[derive(Clone)]
pub struct RedisCoordination {
    url: String,
    prefix: String,
    conn: ConnectionManager,
    compare_del: redis::Script,
    set_if_mine_or_free: redis::Script,
    compare_pexpire: redis::Script,
    prune_expired: redis::Script,
}

impl std::fmt::Debug for RedisCoordination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCoordination")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisCoordination {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`); every key starts with `prefix`.
    /// Fails with [`CoordError::Unavailable`] when Redis does not answer.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, CoordError> {
        let redacted = redact_url(url);
        let unavailable = |reason: String| CoordError::Unavailable {
            backend: BACKEND,
            url: redacted.clone(),
            reason,
        };
        let client = redis::Client::open(url).map_err(|e| unavailable(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(RedisCoordination {
            url: redacted,
            prefix: prefix.to_string(),
            conn,
            compare_del: redis::Script::new(COMPARE_DEL),
            set_if_mine_or_free: redis::Script::new(SET_IF_MINE_OR_FREE),
            compare_pexpire: redis::Script::new(COMPARE_PEXPIRE),
            prune_expired: redis::Script::new(PRUNE_EXPIRED),
        })
    }

    fn err(&self, operation: &'static str, e: redis::RedisError) -> CoordError {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
        {
            CoordError::Unavailable {
                backend: BACKEND,
                url: self.url.clone(),
                reason: format!("{operation}: {e}"),
            }
        } else {
            CoordError::Backend {
                backend: BACKEND,
                url: self.url.clone(),
                operation,
                reason: e.to_string(),
            }
        }
    }

    fn presence_key(&self, player: PlayerId) -> String {
        format!("{}presence:{}", self.prefix, player.0)
    }
    fn lock_key(&self, name: &str) -> String {
        format!("{}lock:{name}", self.prefix)
    }
    fn instance_key(&self, id: &str) -> String {
        format!("{}instance:{id}", self.prefix)
    }
    fn instances_set(&self) -> String {
        format!("{}instances", self.prefix)
    }
}

#[async_trait]
impl Coordination for RedisCoordination {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn set_presence(
        &self,
        player: PlayerId,
        instance: &str,
        ttl: Duration,
    ) -> Result<(), CoordError> {
        check_name("instance id", instance)?;
        let ms = ttl_ms(ttl)?;
        let mut c = self.conn.clone();
        redis::cmd("SET")
            .arg(self.presence_key(player))
            .arg(instance)
            .arg("PX")
            .arg(ms)
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| self.err("set presence", e))
    }

    async fn refresh_presence(
        &self,
        player: PlayerId,
        instance: &str,
        ttl: Duration,
    ) -> Result<bool, CoordError> {
        check_name("instance id", instance)?;
        let ms = ttl_ms(ttl)?;
        let mut c = self.conn.clone();
        let n: i64 = self
            .set_if_mine_or_free
            .key(self.presence_key(player))
            .arg(instance)
            .arg(ms)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.err("refresh presence", e))?;
        Ok(n == 1)
    }

    async fn get_presence(&self, player: PlayerId) -> Result<Option<String>, CoordError> {
        let mut c = self.conn.clone();
        c.get(self.presence_key(player))
            .await
            .map_err(|e| self.err("get presence", e))
    }

    async fn clear_presence(&self, player: PlayerId, instance: &str) -> Result<bool, CoordError> {
        let mut c = self.conn.clone();
        let n: i64 = self
            .compare_del
            .key(self.presence_key(player))
            .arg(instance)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.err("clear presence", e))?;
        Ok(n == 1)
    }

    async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<LockToken>, CoordError> {
        check_name("lock name", name)?;
        let ms = ttl_ms(ttl)?;
        let token = LockToken::generate();
        let mut c = self.conn.clone();
        let ok: Option<String> = redis::cmd("SET")
            .arg(self.lock_key(name))
            .arg(&token.0)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut c)
            .await
            .map_err(|e| self.err("try lock", e))?;
        Ok(ok.map(|_| token))
    }

    async fn extend_lock(
        &self,
        name: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, CoordError> {
        let ms = ttl_ms(ttl)?;
        let mut c = self.conn.clone();
        let n: i64 = self
            .compare_pexpire
            .key(self.lock_key(name))
            .arg(&token.0)
            .arg(ms)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.err("extend lock", e))?;
        Ok(n == 1)
    }

    async fn unlock(&self, name: &str, token: &LockToken) -> Result<bool, CoordError> {
        let mut c = self.conn.clone();
        let n: i64 = self
            .compare_del
            .key(self.lock_key(name))
            .arg(&token.0)
            .invoke_async(&mut c)
            .await
            .map_err(|e| self.err("unlock", e))?;
        Ok(n == 1)
    }

    async fn register_instance(
        &self,
        info: &InstanceInfo,
        ttl: Duration,
    ) -> Result<(), CoordError> {
        check_name("instance id", &info.id)?;
        let ms = ttl_ms(ttl)?;
        let json = serde_json::to_string(info)
            .map_err(|e| CoordError::Invalid(format!("cannot encode instance info: {e}")))?;
        let mut c = self.conn.clone();
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.instance_key(&info.id))
            .arg(json)
            .arg("PX")
            .arg(ms)
            .ignore()
            .cmd("SADD")
            .arg(self.instances_set())
            .arg(&info.id)
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| self.err("register instance", e))
    }

    async fn deregister_instance(&self, id: &str) -> Result<(), CoordError> {
        let mut c = self.conn.clone();
        redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(self.instance_key(id))
            .ignore()
            .cmd("SREM")
            .arg(self.instances_set())
            .arg(id)
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| self.err("deregister instance", e))
    }

    async fn list_instances(&self) -> Result<Vec<InstanceInfo>, CoordError> {
        let mut c = self.conn.clone();
        let mut ids: Vec<String> = c
            .smembers(self.instances_set())
            .await
            .map_err(|e| self.err("list instances", e))?;
        ids.sort();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.instance_key(id)).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut c)
            .await
            .map_err(|e| self.err("list instances", e))?;
        let mut out = Vec::new();
        let mut expired = Vec::new();
        for (id, v) in ids.into_iter().zip(values) {
            match v {
                Some(json) => {
                    out.push(serde_json::from_str::<InstanceInfo>(&json).map_err(|e| {
                        CoordError::Corrupt {
                            key: self.instance_key(&id),
                            reason: e.to_string(),
                        }
                    })?)
                }
                None => expired.push(id),
            }
        }
        if !expired.is_empty() {
            // Expired registrations leave their id in the set; prune them atomically.
            let mut inv = self.prune_expired.key(self.instances_set());
            inv.arg(self.instance_key(""));
            for id in &expired {
                inv.arg(id);
            }
            if let Err(e) = inv.invoke_async::<i64>(&mut c).await {
                tracing::warn!(error = %e, "could not prune expired instance ids");
            }
        }
        Ok(out)
    }
}
