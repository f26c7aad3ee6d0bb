//! The [`Store`] trait (object safe, used as `Arc<dyn Store>`), write batches, chunked world
//! snapshots, and the typed helpers built once on top of it for every backend: loading records
//! with migrations ([`load_records`]) and allocating accounts ([`get_or_create_account`]).
//!
//! Not here: backend code ([`crate::sqlite`], [`crate::mongo`]), the migration registry
//! ([`crate::migrate`]) and the background writer ([`crate::save_queue`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use dominion_sim::types::PlayerId;

use crate::error::StoreError;
use crate::migrate::Migrations;
use crate::records::{AccountRecord, Collection, KingdomId, Record, StoredDoc, doc_id};

/// Largest stored chunk of a snapshot part (MongoDB documents are limited to 16 MiB).
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// A record waiting in a batch; it is encoded to BSON only when the batch is written, so
/// building a batch on the tick thread costs a move, not an encoding.
trait PendingRecord: Send + Sync {
    fn encode(&self, kingdom: KingdomId) -> StoredDoc;
}

impl<R: Record> PendingRecord for R {
    fn encode(&self, kingdom: KingdomId) -> StoredDoc {
        StoredDoc::from_record(kingdom, self)
    }
}

/// One collection's share of a batch: `(collection, upserts, deleted ids)`.
pub type CollectionOps<'a> = (Collection, Vec<Cow<'a, StoredDoc>>, Vec<&'a str>);

#[derive(Clone)]
enum Op {
    Record(Arc<dyn PendingRecord>),
    Doc(StoredDoc),
    Delete,
}

/// A set of upserts and deletes for one kingdom, applied atomically, fenced by the writer's epoch.
///
/// Holds at most one operation per document: a later upsert or delete of the same id replaces
/// the earlier one. Records are kept as they are and encoded when the batch is written (by the
/// save queue's writer, off the caller's thread). Cloning is cheap (records are shared).
#[derive(Clone, Default)]
pub struct WriteBatch {
    kingdom: KingdomId,
    ops: BTreeMap<(Collection, String), Op>,
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("kingdom", &self.kingdom)
            .field("ops", &self.ops.len())
            .finish()
    }
}

impl WriteBatch {
    /// An empty batch for `kingdom`.
    pub fn new(kingdom: KingdomId) -> Self {
        WriteBatch {
            kingdom,
            ops: BTreeMap::new(),
        }
    }

    /// The kingdom every operation belongs to.
    pub fn kingdom(&self) -> KingdomId {
        self.kingdom
    }

    /// Adds (or replaces) the upsert of a record, stored at its current schema version.
    /// The record is encoded when the batch is written.
    pub fn upsert<R: Record>(&mut self, record: R) -> &mut Self {
        let id = doc_id(self.kingdom, &record.key());
        self.ops
            .insert((R::COLLECTION, id), Op::Record(Arc::new(record)));
        self
    }

    /// Adds (or replaces) the upsert of a prepared document. Fails when the document belongs to
    /// another kingdom.
    pub fn upsert_doc(&mut self, doc: StoredDoc) -> Result<&mut Self, StoreError> {
        if doc.kingdom != self.kingdom {
            return Err(StoreError::Invalid(format!(
                "document {} of {} added to a batch for {}",
                doc.id, doc.kingdom, self.kingdom
            )));
        }
        self.ops
            .insert((doc.collection, doc.id.clone()), Op::Doc(doc));
        Ok(self)
    }

    /// Adds (or replaces) the delete of the record with `key`.
    pub fn delete<R: Record>(&mut self, key: &str) -> &mut Self {
        self.delete_in(R::COLLECTION, key)
    }

    /// Adds (or replaces) the delete of `key` in `collection`.
    pub fn delete_in(&mut self, collection: Collection, key: &str) -> &mut Self {
        self.ops
            .insert((collection, doc_id(self.kingdom, key)), Op::Delete);
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Operations in (collection, id) order, encoding records on the way: `Some(doc)` upserts,
    /// `None` deletes.
    pub fn ops(&self) -> impl Iterator<Item = (Collection, &str, Option<Cow<'_, StoredDoc>>)> {
        self.ops.iter().map(|((c, id), op)| {
            let doc = match op {
                Op::Record(r) => Some(Cow::Owned(r.encode(self.kingdom))),
                Op::Doc(d) => Some(Cow::Borrowed(d)),
                Op::Delete => None,
            };
            (*c, id.as_str(), doc)
        })
    }

    /// Operations grouped by collection, records encoded: `(collection, upserts, deleted ids)`.
    pub fn by_collection(&self) -> Vec<CollectionOps<'_>> {
        let mut out: Vec<CollectionOps<'_>> = Vec::new();
        for (c, id, op) in self.ops() {
            if out.last().map(|(last, _, _)| *last != c).unwrap_or(true) {
                out.push((c, Vec::new(), Vec::new()));
            }
            let Some(slot) = out.last_mut() else { continue };
            match op {
                Some(d) => slot.1.push(d),
                None => slot.2.push(id),
            }
        }
        out
    }

    /// Moves every operation of `newer` into this batch; `newer`'s operations win.
    pub fn merge(&mut self, newer: WriteBatch) -> Result<(), StoreError> {
        if newer.kingdom != self.kingdom {
            return Err(StoreError::Invalid(format!(
                "cannot merge a batch for {} into one for {}",
                newer.kingdom, self.kingdom
            )));
        }
        self.ops.extend(newer.ops);
        Ok(())
    }
}

/// One named part of a world snapshot (e.g. `"map"`, `"marches"`): opaque bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotPart {
    /// Name, unique within the snapshot.
    pub name: String,
    /// Contents (any size; the store splits it into chunks).
    pub bytes: Vec<u8>,
}

/// A full-world snapshot handed over during rotation: opaque parts written and read as a unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// World tick the snapshot was taken at.
    pub tick: u64,
    /// Parts, in order.
    pub parts: Vec<SnapshotPart>,
}

/// Description of one stored part in a [`SnapshotManifest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartManifest {
    /// Part name.
    pub name: String,
    /// Total length in bytes.
    pub len: u64,
    /// Number of stored chunks.
    pub chunks: u32,
    /// blake3 hash of the whole part, hex.
    pub blake3: String,
}

/// The manifest of the kingdom's current snapshot; written last, it commits the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotManifest {
    /// Kingdom.
    pub kingdom: KingdomId,
    /// Unique id of this snapshot (chunks are stored under it).
    pub snapshot_id: String,
    /// Epoch of the writer.
    pub epoch: u64,
    /// World tick.
    pub tick: u64,
    /// Wall-clock time of writing (ms since the Unix epoch).
    pub created_unix_ms: i64,
    /// Parts.
    pub parts: Vec<PartManifest>,
}

/// Each part's chunks, borrowed from the snapshot: `chunks[part][index]`.
pub(crate) type PlannedChunks<'a> = Vec<Vec<&'a [u8]>>;

impl SnapshotManifest {
    /// Builds the manifest for `snapshot` and returns it with each part's chunks.
    pub(crate) fn plan(
        kingdom: KingdomId,
        epoch: u64,
        snapshot: &Snapshot,
    ) -> Result<(SnapshotManifest, PlannedChunks<'_>), StoreError> {
        let mut names = std::collections::HashSet::new();
        let mut parts = Vec::new();
        let mut chunks = Vec::new();
        for p in &snapshot.parts {
            if !names.insert(p.name.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "snapshot part name {:?} used twice",
                    p.name
                )));
            }
            let c: Vec<&[u8]> = p.bytes.chunks(SNAPSHOT_CHUNK_BYTES).collect();
            parts.push(PartManifest {
                name: p.name.clone(),
                len: p.bytes.len() as u64,
                chunks: c.len() as u32,
                blake3: blake3::hash(&p.bytes).to_hex().to_string(),
            });
            chunks.push(c);
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ok((
            SnapshotManifest {
                kingdom,
                snapshot_id: format!(
                    "t{}-e{}-{}-{}",
                    snapshot.tick,
                    epoch,
                    nanos,
                    std::process::id()
                ),
                epoch,
                tick: snapshot.tick,
                created_unix_ms: now_unix_ms(),
                parts,
            },
            chunks,
        ))
    }

    /// Reassembles and verifies parts from their chunks (`chunks[part][index]`).
    pub(crate) fn assemble(&self, chunks: Vec<Vec<Vec<u8>>>) -> Result<Snapshot, StoreError> {
        let bad = |reason: String| StoreError::Snapshot {
            kingdom: self.kingdom,
            snapshot: self.snapshot_id.clone(),
            reason,
        };
        if chunks.len() != self.parts.len() {
            return Err(bad(format!(
                "manifest lists {} parts, store holds {}",
                self.parts.len(),
                chunks.len()
            )));
        }
        let mut parts = Vec::with_capacity(self.parts.len());
        for (pm, cs) in self.parts.iter().zip(chunks) {
            if cs.len() != pm.chunks as usize {
                return Err(bad(format!(
                    "part {:?}: expected {} chunks, found {}",
                    pm.name,
                    pm.chunks,
                    cs.len()
                )));
            }
            let mut bytes = Vec::with_capacity(pm.len as usize);
            for c in cs {
                bytes.extend_from_slice(&c);
            }
            if bytes.len() as u64 != pm.len {
                return Err(bad(format!(
                    "part {:?}: expected {} bytes, found {}",
                    pm.name,
                    pm.len,
                    bytes.len()
                )));
            }
            if blake3::hash(&bytes).to_hex().as_str() != pm.blake3 {
                return Err(bad(format!("part {:?}: checksum mismatch", pm.name)));
            }
            parts.push(SnapshotPart {
                name: pm.name.clone(),
                bytes,
            });
        }
        Ok(Snapshot {
            tick: self.tick,
            parts,
        })
    }

    /// Encodes the manifest as a BSON document (without `_id`).
    pub(crate) fn to_document(&self) -> bson::Document {
        let parts: Vec<bson::Bson> = self
            .parts
            .iter()
            .map(|p| {
                bson::Bson::Document(bson::doc! {
                    "name": p.name.clone(),
                    "len": p.len as i64,
                    "chunks": i64::from(p.chunks),
                    "blake3": p.blake3.clone(),
                })
            })
            .collect();
        bson::doc! {
            "kingdom": i64::from(self.kingdom.0),
            "snapshot_id": self.snapshot_id.clone(),
            "epoch": self.epoch as i64,
            "tick": self.tick as i64,
            "created_unix_ms": self.created_unix_ms,
            "parts": parts,
        }
    }

    /// Decodes a manifest document; errors name the kingdom.
    pub(crate) fn from_document(
        kingdom: KingdomId,
        d: &bson::Document,
    ) -> Result<Self, StoreError> {
        use crate::records::get_u64;
        let bad = |reason: String| StoreError::Corrupt {
            collection: "snapshot_manifests",
            id: kingdom.0.to_string(),
            reason,
        };
        let snapshot_id = d
            .get_str("snapshot_id")
            .map_err(|e| bad(format!("snapshot_id: {e}")))?
            .to_string();
        let mut parts = Vec::new();
        for p in d
            .get_array("parts")
            .map_err(|e| bad(format!("parts: {e}")))?
        {
            let bson::Bson::Document(p) = p else {
                return Err(bad("parts: element is not a document".into()));
            };
            parts.push(PartManifest {
                name: p
                    .get_str("name")
                    .map_err(|e| bad(format!("parts.name: {e}")))?
                    .to_string(),
                len: get_u64(p, "len").map_err(bad)?,
                chunks: u32::try_from(get_u64(p, "chunks").map_err(bad)?)
                    .map_err(|_| bad("parts.chunks out of range".into()))?,
                blake3: p
                    .get_str("blake3")
                    .map_err(|e| bad(format!("parts.blake3: {e}")))?
                    .to_string(),
            });
        }
        Ok(SnapshotManifest {
            kingdom,
            snapshot_id,
            epoch: get_u64(d, "epoch").map_err(bad)?,
            tick: get_u64(d, "tick").map_err(bad)?,
            created_unix_ms: get_u64(d, "created_unix_ms").map_err(bad)? as i64,
            parts,
        })
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The persistent store of one or more kingdoms. Implementations: [`crate::SqliteStore`],
/// [`crate::MongoStore`]. All methods are cancel-safe with respect to the store's consistency
/// (a dropped future either applied its write atomically or not at all).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"mongodb"`.
    fn backend(&self) -> &'static str;

    /// The store's URL with any password removed.
    fn url(&self) -> &str;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Checks, once at start, that the store can do what fenced saves need (for MongoDB:
    /// multi-document transactions, which a standalone server refuses); fails with
    /// [`StoreError::Unsupported`] saying what to do. SQLite always can.
    async fn check_capabilities(&self) -> Result<(), StoreError>;

    /// The kingdom's owner epoch; 0 when no instance has acquired it yet.
    async fn current_epoch(&self, kingdom: KingdomId) -> Result<u64, StoreError>;

    /// Takes ownership with `new_epoch`, which must be greater than the current epoch; otherwise
    /// fails with [`StoreError::StaleEpoch`] (`held` = `new_epoch`).
    async fn acquire_epoch(&self, kingdom: KingdomId, new_epoch: u64) -> Result<(), StoreError>;

    /// Compare-and-set of the owner epoch: moves it from `expected` (0 = never owned) to
    /// `expected + 1`, atomically, and returns the new epoch. When the epoch is no longer
    /// `expected` (another instance took it in between), changes nothing and fails with
    /// [`StoreError::StaleEpoch`] (`held` = `expected`, `current` = what the store holds).
    /// `serve` calls it before it reads the world, so two starts racing on one kingdom end with
    /// exactly one owner, and the loser has read nothing.
    async fn take_epoch(&self, kingdom: KingdomId, expected: u64) -> Result<u64, StoreError>;

    /// Takes ownership with the current epoch + 1 and returns it, unconditionally (tests and
    /// tools; `serve` uses [`Store::take_epoch`]).
    async fn bump_epoch(&self, kingdom: KingdomId) -> Result<u64, StoreError>;

    /// Applies every upsert and delete of `batch` atomically, if `epoch` is the kingdom's
    /// current epoch; otherwise applies nothing and fails with [`StoreError::StaleEpoch`].
    async fn apply(&self, epoch: u64, batch: &WriteBatch) -> Result<(), StoreError>;

    /// Every document of `collection` in `kingdom`, as stored (not migrated).
    async fn load_kingdom(
        &self,
        collection: Collection,
        kingdom: KingdomId,
    ) -> Result<Vec<StoredDoc>, StoreError>;

    /// One document by `_id`, as stored.
    async fn get(&self, collection: Collection, id: &str) -> Result<Option<StoredDoc>, StoreError>;

    /// Every document of `collection` (all kingdoms) whose schema version is below `below`.
    async fn scan_outdated(
        &self,
        collection: Collection,
        below: i32,
    ) -> Result<Vec<StoredDoc>, StoreError>;

    /// Replaces documents only where the stored schema version still equals the given expected
    /// version (a compare-and-set, so a migration write-back never clobbers a newer save).
    /// Returns how many were replaced. Not fenced: it only rewrites what is already stored.
    async fn replace_if_version(&self, docs: &[(StoredDoc, i32)]) -> Result<usize, StoreError>;

    /// Inserts `doc` unless a document with its `_id` exists; returns whether it inserted.
    /// Not fenced (used for accounts, which belong to login, not to a kingdom's owner).
    async fn insert_if_absent(&self, doc: &StoredDoc) -> Result<bool, StoreError>;

    /// Atomically increments the named sequence and returns the new value (first call: 1).
    async fn next_sequence(&self, name: &str) -> Result<u64, StoreError>;

    /// Writes `snapshot` as the kingdom's current snapshot, fenced by `epoch`: chunks first, then
    /// the manifest in one fenced step, so readers see the old snapshot or the new one whole.
    async fn write_snapshot(
        &self,
        kingdom: KingdomId,
        epoch: u64,
        snapshot: &Snapshot,
    ) -> Result<SnapshotManifest, StoreError>;

    /// The kingdom's current snapshot and its manifest, verified against the manifest.
    async fn read_snapshot(
        &self,
        kingdom: KingdomId,
    ) -> Result<Option<(SnapshotManifest, Snapshot)>, StoreError>;
}

/// Loads every `R` of `kingdom`, migrating old documents in memory, writing the migrated ones
/// back (compare-and-set on the old version, so each migration runs once per document) and
/// decoding them.
pub async fn load_records<R: Record>(
    store: &dyn Store,
    migrations: &Migrations,
    kingdom: KingdomId,
) -> Result<Vec<R>, StoreError> {
    let docs = store.load_kingdom(R::COLLECTION, kingdom).await?;
    let mut out = Vec::with_capacity(docs.len());
    let mut write_back = Vec::new();
    for mut doc in docs {
        let old = doc.schema_version;
        if migrations.migrate(&mut doc)? {
            write_back.push((doc.clone(), old));
        }
        out.push(doc.decode::<R>()?);
    }
    if !write_back.is_empty() {
        let n = store.replace_if_version(&write_back).await?;
        tracing::info!(
            collection = R::COLLECTION.name(),
            kingdom = kingdom.0,
            migrated = write_back.len(),
            written_back = n,
            "data fix: migrated documents on load"
        );
    }
    Ok(out)
}

/// Loads every `R` of `kingdom`, migrating old documents in memory only: the migrated documents
/// are added to `fixes` (to be written by the caller under its epoch, fenced like any save).
pub async fn load_records_fixing<R: Record>(
    store: &dyn Store,
    migrations: &Migrations,
    kingdom: KingdomId,
    fixes: &mut WriteBatch,
) -> Result<Vec<R>, StoreError> {
    let docs = store.load_kingdom(R::COLLECTION, kingdom).await?;
    let mut out = Vec::with_capacity(docs.len());
    for mut doc in docs {
        if migrations.migrate(&mut doc)? {
            out.push(doc.decode::<R>()?);
            fixes.upsert_doc(doc)?;
        } else {
            out.push(doc.decode::<R>()?);
        }
    }
    Ok(out)
}

/// Loads one `R` by key, migrating in memory like [`load_records_fixing`].
pub async fn load_record_fixing<R: Record>(
    store: &dyn Store,
    migrations: &Migrations,
    kingdom: KingdomId,
    key: &str,
    fixes: &mut WriteBatch,
) -> Result<Option<R>, StoreError> {
    let Some(mut doc) = store.get(R::COLLECTION, &doc_id(kingdom, key)).await? else {
        return Ok(None);
    };
    let migrated = migrations.migrate(&mut doc)?;
    let r = doc.decode::<R>()?;
    if migrated {
        fixes.upsert_doc(doc)?;
    }
    Ok(Some(r))
}

/// Loads one `R` by key, migrating (and writing back) like [`load_records`].
pub async fn load_record<R: Record>(
    store: &dyn Store,
    migrations: &Migrations,
    kingdom: KingdomId,
    key: &str,
) -> Result<Option<R>, StoreError> {
    let Some(mut doc) = store.get(R::COLLECTION, &doc_id(kingdom, key)).await? else {
        return Ok(None);
    };
    let old = doc.schema_version;
    if migrations.migrate(&mut doc)? {
        store.replace_if_version(&[(doc.clone(), old)]).await?;
    }
    doc.decode::<R>().map(Some)
}

/// Name of the user-id sequence of a server.
pub fn user_sequence_name(server_id: u16) -> String {
    format!("user_id:{server_id}")
}

/// The player of the account behind `openid` on `server_id`, if it exists; never writes (a
/// standby logs in only accounts the live instance created).
pub async fn find_account(
    store: &dyn Store,
    migrations: &Migrations,
    server_id: u16,
    openid: &str,
) -> Result<Option<PlayerId>, StoreError> {
    let scope = KingdomId(u32::from(server_id));
    Ok(
        load_record::<AccountRecord>(store, migrations, scope, openid)
            .await?
            .map(|a| a.player),
    )
}

/// Returns the player id of `openid` on `server_id`, allocating one from the server's user-id
/// sequence on first login. Concurrent first logins of one openid agree on a single id (the
/// loser's sequence number is skipped, never reused). Returns `(id, created)`.
pub async fn get_or_create_account(
    store: &dyn Store,
    migrations: &Migrations,
    server_id: u16,
    openid: &str,
) -> Result<(PlayerId, bool), StoreError> {
    if openid.is_empty() {
        return Err(StoreError::Invalid("empty openid".into()));
    }
    let scope = KingdomId(u32::from(server_id));
    if let Some(player) = find_account(store, migrations, server_id, openid).await? {
        return Ok((player, false));
    }
    let seq = store.next_sequence(&user_sequence_name(server_id)).await?;
    if seq >= 1 << 48 {
        return Err(StoreError::Invalid(format!(
            "user-id sequence of server {server_id} exhausted"
        )));
    }
    let record = AccountRecord {
        openid: openid.to_string(),
        player: PlayerId::compose(seq, server_id),
        created_unix_ms: now_unix_ms(),
    };
    if store
        .insert_if_absent(&StoredDoc::from_record(scope, &record))
        .await?
    {
        return Ok((record.player, true));
    }
    match find_account(store, migrations, server_id, openid).await? {
        Some(player) => Ok((player, false)),
        None => Err(StoreError::Invalid(format!(
            "account {openid} on server {server_id} vanished during creation"
        ))),
    }
}
