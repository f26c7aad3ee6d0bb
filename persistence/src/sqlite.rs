//! The embedded [`Store`] backend: one SQLite file in WAL mode, shareable by two processes on one
//! machine (rotation runs the old and new instance side by side).
//!
//! Each versioned collection is a table `(id TEXT PRIMARY KEY, kingdom, schema_version, doc BLOB)`
//! holding the same BSON documents MongoDB would. Writes take the write lock up front
//! (`BEGIN IMMEDIATE`) and check the kingdom's epoch inside that transaction, so fencing cannot
//! race. Every rusqlite call runs on tokio's blocking pool, never on a runtime worker.
//!
//! Not here: connection pooling beyond one writer and one reader connection, or online backups.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::error::StoreError;
use crate::records::{Collection, KingdomId, StoredDoc};
use crate::store::{Snapshot, SnapshotManifest, Store, WriteBatch};

mod mail;
mod tickets;

const BACKEND: &str = "sqlite";

/// Default time a statement waits for another process's write lock before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite store. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    url: Arc<str>,
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// One encoded row of a write batch: `(collection, id, Some((kingdom, version, bson)) | None)`.
type Row = (Collection, String, Option<(u32, i32, Vec<u8>)>);

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path`, with the given lock wait.
    pub async fn open(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let url: Arc<str> = format!("sqlite://{}", path.display()).into();
        let (p, u) = (path.clone(), url.clone());
        let (writer, reader) = tokio::task::spawn_blocking(move || {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable {
                    backend: BACKEND,
                    url: u.to_string(),
                    reason: format!("cannot create data dir {}: {e}", dir.display()),
                })?;
            }
            let writer = open_conn(&p, &u, busy_timeout)?;
            create_schema(&writer).map_err(|e| map_err(&u, "create schema", e))?;
            let reader = open_conn(&p, &u, busy_timeout)?;
            Ok::<_, StoreError>((writer, reader))
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("sqlite open task failed: {e}")))??;
        Ok(SqliteStore {
            url,
            path,
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn run<T: Send + 'static>(
        &self,
        write: bool,
        operation: &'static str,
        f: impl FnOnce(&mut Connection, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = if write {
            self.writer.clone()
        } else {
            self.reader.clone()
        };
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Backend {
                backend: BACKEND,
                url: url.to_string(),
                operation,
                reason: "connection mutex poisoned by an earlier panic".into(),
            })?;
            f(&mut guard, &url)
        })
        .await
        .map_err(|e| StoreError::Backend {
            backend: BACKEND,
            url: self.url.to_string(),
            operation,
            reason: format!("blocking task failed: {e}"),
        })?
    }
}

fn open_conn(path: &Path, url: &str, busy: Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Unavailable {
        backend: BACKEND,
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    conn.busy_timeout(busy)
        .map_err(|e| map_err(url, "set busy_timeout", e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| map_err(url, "enable WAL", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend {
            backend: BACKEND,
            url: url.to_string(),
            operation: "enable WAL",
            reason: format!("journal_mode is {mode}"),
        });
    }
    conn.execute_batch("PRAGMA synchronous=FULL;")
        .map_err(|e| map_err(url, "set synchronous", e))?;
    Ok(conn)
}

fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    let mut sql = String::from("BEGIN IMMEDIATE;\n");
    for c in Collection::ALL {
        let t = c.name();
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY NOT NULL, kingdom INTEGER NOT NULL, \
             schema_version INTEGER NOT NULL, doc BLOB NOT NULL) WITHOUT ROWID;\n\
             CREATE INDEX IF NOT EXISTS {t}_kingdom ON {t}(kingdom);\n\
             CREATE INDEX IF NOT EXISTS {t}_schema_version ON {t}(schema_version);\n"
        ));
    }
    sql.push_str(
        "CREATE TABLE IF NOT EXISTS kingdom_epochs (kingdom INTEGER PRIMARY KEY, epoch INTEGER NOT NULL);\n\
         CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;\n\
         CREATE TABLE IF NOT EXISTS snapshot_manifests (kingdom INTEGER PRIMARY KEY, doc BLOB NOT NULL);\n\
         CREATE TABLE IF NOT EXISTS snapshot_chunks (kingdom INTEGER NOT NULL, snapshot_id TEXT NOT NULL, \
           part INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (snapshot_id, part, idx)) WITHOUT ROWID;\n\
         CREATE INDEX IF NOT EXISTS snapshot_chunks_kingdom ON snapshot_chunks(kingdom);\n",
    );
    sql.push_str(mail::SCHEMA);
    sql.push_str(tickets::SCHEMA);
    sql.push_str("COMMIT;");
    conn.execute_batch(&sql)
}

fn map_err(url: &str, operation: &'static str, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let unavailable = matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::PermissionDenied
        )
    );
    if unavailable {
        // Say which of the machine's problems it is, in the operator's words: SQLite's own text
        // for a read-only or full disk is a bare "disk I/O error".
        let what = match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => {
                "the disk is full: free space; saves resume by themselves (nothing is lost: \
                 the batch is kept and retried)"
            }
            Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
                "the database file is read-only or not permitted: make it writable; saves \
                 resume by themselves (the batch is kept and retried)"
            }
            Some(ErrorCode::SystemIoFailure) => {
                "the database file cannot be written (read-only file or file system, disk full, \
                 or a failing disk): check space and permissions; saves resume by themselves \
                 (the batch is kept and retried)"
            }
            _ => "the database file cannot be opened: check the path and permissions",
        };
        StoreError::Unavailable {
            backend: BACKEND,
            url: url.to_string(),
            reason: format!("{operation}: {e}: {what}"),
        }
    } else {
        StoreError::Backend {
            backend: BACKEND,
            url: url.to_string(),
            operation,
            reason: e.to_string(),
        }
    }
}

fn read_epoch(conn: &Connection, kingdom: KingdomId) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT epoch FROM kingdom_epochs WHERE kingdom = ?1",
        [i64::from(kingdom.0)],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|v| v.unwrap_or(0) as u64)
}

/// Fails with [`StoreError::StaleEpoch`] unless `held` is the kingdom's current (non-zero) epoch.
fn check_epoch(
    conn: &Connection,
    url: &str,
    kingdom: KingdomId,
    held: u64,
) -> Result<(), StoreError> {
    let current = read_epoch(conn, kingdom).map_err(|e| map_err(url, "check epoch", e))?;
    if current == 0 || current != held {
        return Err(StoreError::StaleEpoch {
            kingdom,
            held,
            current,
        });
    }
    Ok(())
}

fn decode_rows(
    collection: Collection,
    rows: Vec<(String, Vec<u8>)>,
) -> Result<Vec<StoredDoc>, StoreError> {
    rows.into_iter()
        .map(|(id, bytes)| StoredDoc::from_bson_bytes(collection, &id, &bytes))
        .collect()
}

fn query_rows(
    conn: &Connection,
    sql: &str,
    param: i64,
) -> rusqlite::Result<Vec<(String, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([param], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    rows.collect()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn url(&self) -> &str {
        &self.url
    }

    async fn check_capabilities(&self) -> Result<(), StoreError> {
        // Transactions and the epoch check are SQLite's own; nothing can be missing.
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(false, "ping", |c, url| {
            c.query_row("SELECT count(*) FROM kingdom_epochs", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|_| ())
            .map_err(|e| map_err(url, "ping", e))
        })
        .await
    }

    async fn current_epoch(&self, kingdom: KingdomId) -> Result<u64, StoreError> {
        self.run(false, "read epoch", move |c, url| {
            read_epoch(c, kingdom).map_err(|e| map_err(url, "read epoch", e))
        })
        .await
    }

    async fn acquire_epoch(&self, kingdom: KingdomId, new_epoch: u64) -> Result<(), StoreError> {
        if new_epoch == 0 || new_epoch > i64::MAX as u64 {
            return Err(StoreError::Invalid(format!(
                "epoch {new_epoch} out of range 1..=2^63-1"
            )));
        }
        self.run(true, "acquire epoch", move |c, url| {
            let e = |e| map_err(url, "acquire epoch", e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            let current = read_epoch(&tx, kingdom).map_err(e)?;
            if new_epoch <= current {
                return Err(StoreError::StaleEpoch {
                    kingdom,
                    held: new_epoch,
                    current,
                });
            }
            tx.execute(
                "INSERT INTO kingdom_epochs(kingdom, epoch) VALUES (?1, ?2) \
                 ON CONFLICT(kingdom) DO UPDATE SET epoch = excluded.epoch",
                params![i64::from(kingdom.0), new_epoch as i64],
            )
            .map_err(e)?;
            tx.commit().map_err(e)
        })
        .await
    }

    async fn take_epoch(&self, kingdom: KingdomId, expected: u64) -> Result<u64, StoreError> {
        if expected >= i64::MAX as u64 {
            return Err(StoreError::Invalid(format!(
                "epoch {expected} cannot be taken: out of range"
            )));
        }
        self.run(true, "take epoch", move |c, url| {
            let e = |e| map_err(url, "take epoch", e);
            // The write lock first: the read and the set are one step for every process.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            let current = read_epoch(&tx, kingdom).map_err(e)?;
            if current != expected {
                return Err(StoreError::StaleEpoch {
                    kingdom,
                    held: expected,
                    current,
                });
            }
            tx.execute(
                "INSERT INTO kingdom_epochs(kingdom, epoch) VALUES (?1, ?2) \
                 ON CONFLICT(kingdom) DO UPDATE SET epoch = excluded.epoch",
                params![i64::from(kingdom.0), (expected + 1) as i64],
            )
            .map_err(e)?;
            tx.commit().map_err(e)?;
            Ok(expected + 1)
        })
        .await
    }

    async fn bump_epoch(&self, kingdom: KingdomId) -> Result<u64, StoreError> {
        self.run(true, "bump epoch", move |c, url| {
            c.query_row(
                "INSERT INTO kingdom_epochs(kingdom, epoch) VALUES (?1, 1) \
                 ON CONFLICT(kingdom) DO UPDATE SET epoch = epoch + 1 RETURNING epoch",
                [i64::from(kingdom.0)],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v as u64)
            .map_err(|e| map_err(url, "bump epoch", e))
        })
        .await
    }

    async fn apply(&self, epoch: u64, batch: &WriteBatch) -> Result<(), StoreError> {
        let kingdom = batch.kingdom();
        let mut rows: Vec<Row> = Vec::with_capacity(batch.len());
        for (c, id, doc) in batch.ops() {
            let body = match doc {
                Some(d) => Some((d.kingdom.0, d.schema_version, d.to_bson_bytes()?)),
                None => None,
            };
            // Encoding happens here, on the writer's task, not where the batch was built.
            rows.push((c, id.to_string(), body));
        }
        self.run(true, "apply write batch", move |c, url| {
            let e = |e| map_err(url, "apply write batch", e);
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(e)?;
            check_epoch(&tx, url, kingdom, epoch)?;
            for (coll, id, body) in &rows {
                let t = coll.name();
                match body {
                    Some((k, v, bytes)) => {
                        let mut stmt = tx
                            .prepare_cached(&format!(
                                "INSERT INTO {t}(id, kingdom, schema_version, doc) VALUES (?1, ?2, ?3, ?4) \
                                 ON CONFLICT(id) DO UPDATE SET kingdom = excluded.kingdom, \
                                 schema_version = excluded.schema_version, doc = excluded.doc"
                            ))
                            .map_err(e)?;
                        stmt.execute(params![id, i64::from(*k), v, bytes]).map_err(e)?;
                    }
                    None => {
                        let mut stmt = tx
                            .prepare_cached(&format!("DELETE FROM {t} WHERE id = ?1"))
                            .map_err(e)?;
                        stmt.execute([id]).map_err(e)?;
                    }
                }
            }
            tx.commit().map_err(e)
        })
        .await
    }

    async fn load_kingdom(
        &self,
        collection: Collection,
        kingdom: KingdomId,
    ) -> Result<Vec<StoredDoc>, StoreError> {
        self.run(false, "load collection", move |c, url| {
            let sql = format!(
                "SELECT id, doc FROM {} WHERE kingdom = ?1",
                collection.name()
            );
            let rows = query_rows(c, &sql, i64::from(kingdom.0))
                .map_err(|e| map_err(url, "load collection", e))?;
            decode_rows(collection, rows)
        })
        .await
    }

    async fn get(&self, collection: Collection, id: &str) -> Result<Option<StoredDoc>, StoreError> {
        let id = id.to_string();
        self.run(false, "get document", move |c, url| {
            let bytes: Option<Vec<u8>> = c
                .prepare_cached(&format!(
                    "SELECT doc FROM {} WHERE id = ?1",
                    collection.name()
                ))
                .and_then(|mut s| s.query_row([&id], |r| r.get(0)).optional())
                .map_err(|e| map_err(url, "get document", e))?;
            bytes
                .map(|b| StoredDoc::from_bson_bytes(collection, &id, &b))
                .transpose()
        })
        .await
    }

    async fn scan_outdated(
        &self,
        collection: Collection,
        below: i32,
    ) -> Result<Vec<StoredDoc>, StoreError> {
        self.run(false, "scan outdated", move |c, url| {
            let sql = format!(
                "SELECT id, doc FROM {} WHERE schema_version < ?1 ORDER BY id",
                collection.name()
            );
            let rows = query_rows(c, &sql, i64::from(below))
                .map_err(|e| map_err(url, "scan outdated", e))?;
            decode_rows(collection, rows)
        })
        .await
    }

    async fn replace_if_version(&self, docs: &[(StoredDoc, i32)]) -> Result<usize, StoreError> {
        let mut rows = Vec::with_capacity(docs.len());
        for (d, expected) in docs {
            rows.push((
                d.collection,
                d.id.clone(),
                d.schema_version,
                d.to_bson_bytes()?,
                *expected,
            ));
        }
        self.run(true, "write back migrated documents", move |c, url| {
            let e = |e| map_err(url, "write back migrated documents", e);
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(e)?;
            let mut n = 0;
            for (coll, id, version, bytes, expected) in &rows {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "UPDATE {} SET schema_version = ?1, doc = ?2 WHERE id = ?3 AND schema_version = ?4",
                        coll.name()
                    ))
                    .map_err(e)?;
                n += stmt.execute(params![version, bytes, id, expected]).map_err(e)?;
            }
            tx.commit().map_err(e)?;
            Ok(n)
        })
        .await
    }

    async fn insert_if_absent(&self, doc: &StoredDoc) -> Result<bool, StoreError> {
        let (coll, id, k, v, bytes) = (
            doc.collection,
            doc.id.clone(),
            doc.kingdom.0,
            doc.schema_version,
            doc.to_bson_bytes()?,
        );
        self.run(true, "insert document", move |c, url| {
            c.execute(
                &format!(
                    "INSERT INTO {}(id, kingdom, schema_version, doc) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(id) DO NOTHING",
                    coll.name()
                ),
                params![id, i64::from(k), v, bytes],
            )
            .map(|n| n == 1)
            .map_err(|e| map_err(url, "insert document", e))
        })
        .await
    }

    async fn next_sequence(&self, name: &str) -> Result<u64, StoreError> {
        let name = name.to_string();
        self.run(true, "next sequence", move |c, url| {
            c.query_row(
                "INSERT INTO sequences(name, value) VALUES (?1, 1) \
                 ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                [&name],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v as u64)
            .map_err(|e| map_err(url, "next sequence", e))
        })
        .await
    }

    async fn write_snapshot(
        &self,
        kingdom: KingdomId,
        epoch: u64,
        snapshot: &Snapshot,
    ) -> Result<SnapshotManifest, StoreError> {
        let (manifest, chunks) = SnapshotManifest::plan(kingdom, epoch, snapshot)?;
        let owned: Vec<Vec<Vec<u8>>> = chunks
            .into_iter()
            .map(|cs| cs.into_iter().map(<[u8]>::to_vec).collect())
            .collect();
        let manifest_bytes = manifest
            .to_document()
            .to_vec()
            .map_err(|e| StoreError::Invalid(format!("cannot encode snapshot manifest: {e}")))?;
        let m = manifest.clone();
        self.run(true, "write snapshot", move |c, url| {
            let e = |e| map_err(url, "write snapshot", e);
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(e)?;
            check_epoch(&tx, url, kingdom, epoch)?;
            tx.execute(
                "DELETE FROM snapshot_chunks WHERE kingdom = ?1",
                [i64::from(kingdom.0)],
            )
            .map_err(e)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO snapshot_chunks(kingdom, snapshot_id, part, idx, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(e)?;
                for (p, cs) in owned.iter().enumerate() {
                    for (i, data) in cs.iter().enumerate() {
                        stmt.execute(params![i64::from(kingdom.0), m.snapshot_id, p as i64, i as i64, data])
                            .map_err(e)?;
                    }
                }
            }
            tx.execute(
                "INSERT INTO snapshot_manifests(kingdom, doc) VALUES (?1, ?2) \
                 ON CONFLICT(kingdom) DO UPDATE SET doc = excluded.doc",
                params![i64::from(kingdom.0), manifest_bytes],
            )
            .map_err(e)?;
            tx.commit().map_err(e)
        })
        .await?;
        Ok(manifest)
    }

    async fn read_snapshot(
        &self,
        kingdom: KingdomId,
    ) -> Result<Option<(SnapshotManifest, Snapshot)>, StoreError> {
        self.run(false, "read snapshot", move |c, url| {
            let e = |e| map_err(url, "read snapshot", e);
            // One read transaction: the manifest and its chunks come from the same commit.
            let tx = c.transaction_with_behavior(TransactionBehavior::Deferred).map_err(e)?;
            let doc: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT doc FROM snapshot_manifests WHERE kingdom = ?1",
                    [i64::from(kingdom.0)],
                    |r| r.get(0),
                )
                .optional()
                .map_err(e)?;
            let Some(doc) = doc else { return Ok(None) };
            let d = bson::Document::from_reader(doc.as_slice()).map_err(|err| StoreError::Corrupt {
                collection: "snapshot_manifests",
                id: kingdom.0.to_string(),
                reason: format!("undecodable BSON: {err}"),
            })?;
            let manifest = SnapshotManifest::from_document(kingdom, &d)?;
            let mut parts: Vec<Vec<Vec<u8>>> = vec![Vec::new(); manifest.parts.len()];
            {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT part, data FROM snapshot_chunks WHERE snapshot_id = ?1 ORDER BY part, idx",
                    )
                    .map_err(e)?;
                let rows = stmt
                    .query_map([&manifest.snapshot_id], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })
                    .map_err(e)?;
                for row in rows {
                    let (p, data) = row.map_err(e)?;
                    let slot = usize::try_from(p).ok().and_then(|p| parts.get_mut(p)).ok_or_else(|| {
                        StoreError::Snapshot {
                            kingdom,
                            snapshot: manifest.snapshot_id.clone(),
                            reason: format!("chunk of unknown part {p}"),
                        }
                    })?;
                    slot.push(data);
                }
            }
            let snapshot = manifest.assemble(parts)?;
            Ok(Some((manifest, snapshot)))
        })
        .await
    }
}
