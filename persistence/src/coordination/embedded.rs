//! [`Coordination`] in a SQLite file (WAL mode), so processes on one machine share presence,
//! locks and the instance registry without Redis. Expiry is a stored wall-clock deadline
//! (ms since the Unix epoch); an expired row counts as absent and is replaced or pruned.
//!
//! Every statement is a single atomic SQL statement (or an immediate transaction), and all of
//! them run on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dominion_sim::types::PlayerId;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Coordination, InstanceInfo, LockToken, check_name, ttl_ms};
use crate::error::CoordError;
use crate::store::now_unix_ms;

const BACKEND: &str = "embedded";

/// Coordination in a SQLite file. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedCoordination {
    url: Arc<str>,
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for EmbeddedCoordination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedCoordination")
            .field("path", &self.path)
            .finish()
    }
}

fn map_err(url: &str, operation: &'static str, e: rusqlite::Error) -> CoordError {
    CoordError::Backend {
        backend: BACKEND,
        url: url.to_string(),
        operation,
        reason: e.to_string(),
    }
}

impl EmbeddedCoordination {
    /// File name used inside the directory given to [`EmbeddedCoordination::open_dir`].
    pub const FILE_NAME: &'static str = "coordination.sqlite";

    /// Opens (creating if needed) `dir/coordination.sqlite`.
    pub async fn open_dir(dir: impl AsRef<Path>) -> Result<Self, CoordError> {
        Self::open_file(dir.as_ref().join(Self::FILE_NAME)).await
    }

    /// Opens (creating if needed) the coordination database at `path`.
    pub async fn open_file(path: impl AsRef<Path>) -> Result<Self, CoordError> {
        let path = path.as_ref().to_path_buf();
        let url: Arc<str> = format!("embedded://{}", path.display()).into();
        let (p, u) = (path.clone(), url.clone());
        let conn = tokio::task::spawn_blocking(move || {
            let unavailable = |reason: String| CoordError::Unavailable {
                backend: BACKEND,
                url: u.to_string(),
                reason,
            };
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
            }
            let conn = Connection::open(&p).map_err(|e| unavailable(e.to_string()))?;
            conn.busy_timeout(Duration::from_secs(5))
                .map_err(|e| map_err(&u, "set busy_timeout", e))?;
            conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
                .map_err(|e| map_err(&u, "enable WAL", e))?;
            conn.execute_batch(
                "PRAGMA synchronous=NORMAL;
                 BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS presence (player INTEGER PRIMARY KEY, instance TEXT NOT NULL, expires_ms INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY NOT NULL, token TEXT NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY NOT NULL, info TEXT NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
                 COMMIT;",
            )
            .map_err(|e| map_err(&u, "create schema", e))?;
            Ok::<_, CoordError>(conn)
        })
        .await
        .map_err(|e| CoordError::Invalid(format!("open task failed: {e}")))??;
        Ok(EmbeddedCoordination {
            url,
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Connection, i64) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, CoordError> {
        let conn = self.conn.clone();
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().map_err(|_| CoordError::Backend {
                backend: BACKEND,
                url: url.to_string(),
                operation,
                reason: "connection mutex poisoned".into(),
            })?;
            f(&guard, now_unix_ms()).map_err(|e| map_err(&url, operation, e))
        })
        .await
        .map_err(|e| CoordError::Backend {
            backend: BACKEND,
            url: self.url.to_string(),
            operation,
            reason: format!("blocking task failed: {e}"),
        })?
    }
}

#[async_trait]
impl Coordination for EmbeddedCoordination {
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
        let instance = instance.to_string();
        self.run("set presence", move |c, now| {
            c.execute(
                "INSERT INTO presence(player, instance, expires_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(player) DO UPDATE SET instance = excluded.instance, expires_ms = excluded.expires_ms",
                params![player.0 as i64, instance, now + ms],
            )
            .map(|_| ())
        })
        .await
    }

    async fn refresh_presence(
        &self,
        player: PlayerId,
        instance: &str,
        ttl: Duration,
    ) -> Result<bool, CoordError> {
        check_name("instance id", instance)?;
        let ms = ttl_ms(ttl)?;
        let instance = instance.to_string();
        self.run("refresh presence", move |c, now| {
            // Insert, or rewrite our own or an expired entry; another instance's live entry
            // makes this change nothing.
            c.execute(
                "INSERT INTO presence(player, instance, expires_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(player) DO UPDATE SET instance = excluded.instance, expires_ms = excluded.expires_ms \
                 WHERE presence.instance = excluded.instance OR presence.expires_ms <= ?4",
                params![player.0 as i64, instance, now + ms, now],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn get_presence(&self, player: PlayerId) -> Result<Option<String>, CoordError> {
        self.run("get presence", move |c, now| {
            c.query_row(
                "SELECT instance FROM presence WHERE player = ?1 AND expires_ms > ?2",
                params![player.0 as i64, now],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn clear_presence(&self, player: PlayerId, instance: &str) -> Result<bool, CoordError> {
        let instance = instance.to_string();
        self.run("clear presence", move |c, now| {
            c.execute(
                "DELETE FROM presence WHERE player = ?1 AND instance = ?2 AND expires_ms > ?3",
                params![player.0 as i64, instance, now],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<LockToken>, CoordError> {
        check_name("lock name", name)?;
        let ms = ttl_ms(ttl)?;
        let name = name.to_string();
        let token = LockToken::generate();
        let t = token.0.clone();
        let took = self
            .run("try lock", move |c, now| {
                // Insert, or take over an expired lock; a live lock makes this change nothing.
                c.execute(
                    "INSERT INTO locks(name, token, expires_ms) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(name) DO UPDATE SET token = excluded.token, expires_ms = excluded.expires_ms \
                     WHERE locks.expires_ms <= ?4",
                    params![name, t, now + ms, now],
                )
                .map(|n| n == 1)
            })
            .await?;
        Ok(took.then_some(token))
    }

    async fn extend_lock(
        &self,
        name: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Result<bool, CoordError> {
        let ms = ttl_ms(ttl)?;
        let (name, t) = (name.to_string(), token.0.clone());
        self.run("extend lock", move |c, now| {
            c.execute(
                "UPDATE locks SET expires_ms = ?1 WHERE name = ?2 AND token = ?3 AND expires_ms > ?4",
                params![now + ms, name, t, now],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn unlock(&self, name: &str, token: &LockToken) -> Result<bool, CoordError> {
        let (name, t) = (name.to_string(), token.0.clone());
        self.run("unlock", move |c, now| {
            c.execute(
                "DELETE FROM locks WHERE name = ?1 AND token = ?2 AND expires_ms > ?3",
                params![name, t, now],
            )
            .map(|n| n == 1)
        })
        .await
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
        let id = info.id.clone();
        self.run("register instance", move |c, now| {
            c.execute(
                "INSERT INTO instances(id, info, expires_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(id) DO UPDATE SET info = excluded.info, expires_ms = excluded.expires_ms",
                params![id, json, now + ms],
            )
            .map(|_| ())
        })
        .await
    }

    async fn deregister_instance(&self, id: &str) -> Result<(), CoordError> {
        let id = id.to_string();
        self.run("deregister instance", move |c, _| {
            c.execute("DELETE FROM instances WHERE id = ?1", [id])
                .map(|_| ())
        })
        .await
    }

    async fn list_instances(&self) -> Result<Vec<InstanceInfo>, CoordError> {
        let rows: Vec<(String, String)> = self
            .run("list instances", |c, now| {
                c.execute("DELETE FROM instances WHERE expires_ms <= ?1", [now])?;
                let mut s = c.prepare_cached(
                    "SELECT id, info FROM instances WHERE expires_ms > ?1 ORDER BY id",
                )?;
                let rows = s.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .await?;
        rows.into_iter()
            .map(|(id, json)| {
                serde_json::from_str(&json).map_err(|e| CoordError::Corrupt {
                    key: format!("instances/{id}"),
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}
