//! The production [`Store`] backend: MongoDB through the official `mongodb` 3.x driver, using
//! standard commands only (CRUD, `findAndModify`, multi-document transactions).
//!
//! Write batches and snapshot commits run in a transaction whose first statement is a
//! conditional update of the kingdom's epoch document (`{_id: kingdom, epoch: held}`): a stale
//! writer matches nothing and aborts, and a concurrent epoch bump write-conflicts with it, so
//! fencing cannot race. Transactions need a replica set or sharded cluster (a single-node replica
//! set is enough). The write concern defaults to `j: true` unless the URL sets one.
//!
//! Not here: deployment (replica set setup, users, backups).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use futures_util::TryStreamExt;
use mongodb::error::{
    ErrorKind, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT, WriteFailure,
};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument, WriteConcern};
use mongodb::{Client, ClientSession, Database, IndexModel};
use tokio::sync::OnceCell;

use crate::error::{StoreError, redact_url};
use crate::records::{Collection, KingdomId, StoredDoc};
use crate::store::{Snapshot, SnapshotManifest, Store, WriteBatch};

mod mail;
mod tickets;

const BACKEND: &str = "mongodb";
const EPOCHS: &str = "kingdom_epochs";
const SEQUENCES: &str = "sequences";
const MANIFESTS: &str = "snapshot_manifests";
const CHUNKS: &str = "snapshot_chunks";
/// How many times a transaction is retried on `TransientTransactionError`.
const TXN_ATTEMPTS: usize = 8;
/// Ids per `$in` list, well below the 16 MiB command limit.
const IDS_PER_DELETE: usize = 20_000;

/// The MongoDB store. Cheap to clone; clones share the driver's connection pool.
#[derive(Clone)]
pub struct MongoStore {
    url: Arc<str>,
    client: Client,
    db: Database,
    indexes: Arc<OnceCell<()>>,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("url", &self.url)
            .field("database", &self.db.name())
            .finish()
    }
}

/// What a transaction does.
enum TxnBody<'b> {
    Apply { epoch: u64, batch: &'b WriteBatch },
    Manifest(&'b SnapshotManifest),
}

/// Outcome of one transaction attempt.
enum TxnError {
    Stale(StoreError),
    Mongo(mongodb::error::Error),
}

impl From<mongodb::error::Error> for TxnError {
    fn from(e: mongodb::error::Error) -> Self {
        TxnError::Mongo(e)
    }
}

/// What to do about a MongoDB without transactions.
pub const MONGO_TRANSACTIONS_REMEDY: &str = "MongoDB supports transactions only on a replica set \
     or through mongos: start mongod with --replSet rs0 and run rs.initiate() once (a \
     one-member replica set is enough), point --store at the replica set, or use the embedded \
     sqlite:// store";

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(we)) => we.code == 11000,
        ErrorKind::Command(ce) => ce.code == 11000,
        ErrorKind::InsertMany(ie) => ie
            .write_errors
            .as_ref()
            .is_some_and(|w| w.iter().any(|x| x.code == 11000)),
        _ => false,
    }
}

impl MongoStore {
    /// Connects to the database named in the URL path (default `dominion`). The driver connects
    /// lazily: a server that is down makes later operations fail with
    /// [`StoreError::Unavailable`], not this call.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_database(url, None).await
    }

    /// Like [`MongoStore::connect`] with an explicit database name (tests use one per test).
    pub async fn connect_database(url: &str, database: Option<&str>) -> Result<Self, StoreError> {
        let redacted: Arc<str> = redact_url(url).into();
        let mut options = ClientOptions::parse(url)
            .await
            .map_err(|e| StoreError::Unavailable {
                backend: BACKEND,
                url: redacted.to_string(),
                reason: format!("cannot parse or resolve URL: {e}"),
            })?;
        if options.app_name.is_none() {
            options.app_name = Some("dominion".into());
        }
        if options.write_concern.is_none() {
            let mut wc = WriteConcern::default();
            wc.journal = Some(true);
            options.write_concern = Some(wc);
        }
        let name = database
            .map(str::to_string)
            .or_else(|| options.default_database.clone())
            .unwrap_or_else(|| "dominion".to_string());
        let client = Client::with_options(options).map_err(|e| StoreError::Unavailable {
            backend: BACKEND,
            url: redacted.to_string(),
            reason: e.to_string(),
        })?;
        let db = client.database(&name);
        Ok(MongoStore {
            url: redacted,
            client,
            db,
            indexes: Arc::new(OnceCell::new()),
        })
    }

    /// The database in use.
    pub fn database(&self) -> &Database {
        &self.db
    }

    fn map_err(&self, operation: &'static str, e: mongodb::error::Error) -> StoreError {
        let unavailable = matches!(
            e.kind.as_ref(),
            ErrorKind::ServerSelection { .. }
                | ErrorKind::Io(_)
                | ErrorKind::ConnectionPoolCleared { .. }
                | ErrorKind::DnsResolve { .. }
        );
        if unavailable {
            StoreError::Unavailable {
                backend: BACKEND,
                url: self.url.to_string(),
                reason: format!("{operation}: {e}"),
            }
        } else {
            StoreError::Backend {
                backend: BACKEND,
                url: self.url.to_string(),
                operation,
                reason: e.to_string(),
            }
        }
    }

    fn coll(&self, name: &str) -> mongodb::Collection<Document> {
        self.db.collection(name)
    }

    /// Creates the secondary indexes once per process (idempotent on the server).
    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        self.indexes
            .get_or_try_init(|| async {
                for c in Collection::ALL {
                    let models = vec![
                        IndexModel::builder().keys(doc! { "kingdom": 1 }).build(),
                        IndexModel::builder()
                            .keys(doc! { "schema_version": 1 })
                            .build(),
                    ];
                    self.coll(c.name())
                        .create_indexes(models)
                        .await
                        .map_err(|e| self.map_err("create indexes", e))?;
                }
                let unique = IndexOptions::builder().unique(true).build();
                self.coll(CHUNKS)
                    .create_indexes(vec![
                        IndexModel::builder()
                            .keys(doc! { "snapshot_id": 1, "part": 1, "idx": 1 })
                            .options(unique)
                            .build(),
                        IndexModel::builder().keys(doc! { "kingdom": 1 }).build(),
                    ])
                    .await
                    .map_err(|e| self.map_err("create indexes", e))?;
                Ok(())
            })
            .await
            .map(|_| ())
    }

    async fn read_epoch(
        &self,
        kingdom: KingdomId,
        session: Option<&mut ClientSession>,
    ) -> Result<u64, mongodb::error::Error> {
        let coll = self.coll(EPOCHS);
        let found = match session {
            Some(s) => {
                coll.find_one(doc! { "_id": i64::from(kingdom.0) })
                    .session(s)
                    .await?
            }
            None => coll.find_one(doc! { "_id": i64::from(kingdom.0) }).await?,
        };
        Ok(found
            .and_then(|d| crate::records::get_u64(&d, "epoch").ok())
            .unwrap_or(0))
    }

    /// Fencing statement inside a transaction: touches the epoch document only if it still holds
    /// `held`; a concurrent bump then conflicts with this transaction.
    async fn fence(
        &self,
        session: &mut ClientSession,
        kingdom: KingdomId,
        held: u64,
    ) -> Result<(), TxnError> {
        let r = self
            .coll(EPOCHS)
            .update_one(
                doc! { "_id": i64::from(kingdom.0), "epoch": held as i64 },
                doc! { "$inc": { "fenced_writes": 1_i64 } },
            )
            .session(&mut *session)
            .await?;
        if r.matched_count == 1 && held != 0 {
            return Ok(());
        }
        let current = self.read_epoch(kingdom, Some(session)).await?;
        Err(TxnError::Stale(StoreError::StaleEpoch {
            kingdom,
            held,
            current,
        }))
    }

    async fn apply_in(
        &self,
        session: &mut ClientSession,
        epoch: u64,
        batch: &WriteBatch,
    ) -> Result<(), TxnError> {
        self.fence(session, batch.kingdom(), epoch).await?;
        for (c, upserts, deletes) in batch.by_collection() {
            let coll = self.coll(c.name());
            let ids: Vec<&str> = upserts
                .iter()
                .map(|d| d.id.as_str())
                .chain(deletes.iter().copied())
                .collect();
            for chunk in ids.chunks(IDS_PER_DELETE) {
                coll.delete_many(doc! { "_id": { "$in": chunk } })
                    .session(&mut *session)
                    .await?;
            }
            if !upserts.is_empty() {
                coll.insert_many(upserts.iter().map(|d| &d.body))
                    .session(&mut *session)
                    .await?;
            }
        }
        Ok(())
    }

    async fn commit_manifest_in(
        &self,
        session: &mut ClientSession,
        manifest: &SnapshotManifest,
    ) -> Result<(), TxnError> {
        self.fence(session, manifest.kingdom, manifest.epoch)
            .await?;
        let mut d = manifest.to_document();
        d.insert("_id", i64::from(manifest.kingdom.0));
        self.coll(MANIFESTS)
            .replace_one(doc! { "_id": i64::from(manifest.kingdom.0) }, d)
            .upsert(true)
            .session(&mut *session)
            .await?;
        Ok(())
    }

    async fn run_body(
        &self,
        session: &mut ClientSession,
        body: &TxnBody<'_>,
    ) -> Result<(), TxnError> {
        match body {
            TxnBody::Apply { epoch, batch } => self.apply_in(session, *epoch, batch).await,
            TxnBody::Manifest(m) => self.commit_manifest_in(session, m).await,
        }
    }

    /// Runs `body` in a transaction, retrying transient errors and unknown commit results.
    async fn in_transaction(
        &self,
        operation: &'static str,
        body: TxnBody<'_>,
    ) -> Result<(), StoreError> {
        let mut session = self
            .client
            .start_session()
            .await
            .map_err(|e| self.map_err(operation, e))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            session
                .start_transaction()
                .await
                .map_err(|e| self.map_err(operation, e))?;
            match self.run_body(&mut session, &body).await {
                Ok(()) => {}
                Err(TxnError::Stale(e)) => {
                    let _ = session.abort_transaction().await;
                    return Err(e);
                }
                Err(TxnError::Mongo(e)) => {
                    let _ = session.abort_transaction().await;
                    if e.contains_label(TRANSIENT_TRANSACTION_ERROR) && attempt < TXN_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
                        continue;
                    }
                    return Err(self.map_err(operation, e));
                }
            }
            // Commit, retrying the commit alone while its result is unknown.
            let mut commits = 0;
            loop {
                commits += 1;
                match session.commit_transaction().await {
                    Ok(()) => return Ok(()),
                    Err(e)
                        if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                            && commits < TXN_ATTEMPTS =>
                    {
                        continue;
                    }
                    Err(e)
                        if e.contains_label(TRANSIENT_TRANSACTION_ERROR)
                            && attempt < TXN_ATTEMPTS =>
                    {
                        break;
                    }
                    Err(e) => return Err(self.map_err(operation, e)),
                }
            }
        }
    }

    fn decode_all(
        collection: Collection,
        docs: Vec<Document>,
    ) -> Result<Vec<StoredDoc>, StoreError> {
        docs.into_iter()
            .map(|d| StoredDoc::from_document(collection, d))
            .collect()
    }
}

#[async_trait]
impl Store for MongoStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn url(&self) -> &str {
        &self.url
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|e| self.map_err("ping", e))
    }

    async fn check_capabilities(&self) -> Result<(), StoreError> {
        // Transactions need a replica set member or mongos: the server's `hello` says which it
        // is (drivers decide transaction support the same way).
        let hello = self
            .db
            .run_command(doc! { "hello": 1 })
            .await
            .map_err(|e| self.map_err("hello", e))?;
        let replica_set = hello.get_str("setName").ok();
        let mongos = hello.get_str("msg").ok() == Some("isdbgrid");
        if replica_set.is_none() && !mongos {
            return Err(StoreError::Unsupported {
                backend: BACKEND,
                url: self.url.to_string(),
                reason: "it is a standalone server (its hello names no replica set and it is not \
                         mongos), and standalone MongoDB has no multi-document transactions, \
                         which saves need (they are fenced by the owner epoch inside one)"
                    .to_owned(),
                remedy: MONGO_TRANSACTIONS_REMEDY,
            });
        }
        // Then a real transaction with one read in it, so that a server that claims a replica
        // set but refuses transactions is caught now too.
        let trial = async {
            let mut session = self.client.start_session().await?;
            session.start_transaction().await?;
            match self.read_epoch(KingdomId(0), Some(&mut session)).await {
                Ok(_) => session.commit_transaction().await,
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    Err(e)
                }
            }
        };
        match trial.await {
            Ok(()) => Ok(()),
            Err(e) => match self.map_err("transaction check", e) {
                unavailable @ StoreError::Unavailable { .. } => Err(unavailable),
                other => Err(StoreError::Unsupported {
                    backend: BACKEND,
                    url: self.url.to_string(),
                    reason: format!(
                        "a multi-document transaction failed ({other}); saves are fenced by \
                         the owner epoch inside transactions"
                    ),
                    remedy: MONGO_TRANSACTIONS_REMEDY,
                }),
            },
        }
    }

    async fn current_epoch(&self, kingdom: KingdomId) -> Result<u64, StoreError> {
        self.read_epoch(kingdom, None)
            .await
            .map_err(|e| self.map_err("read epoch", e))
    }

    async fn acquire_epoch(&self, kingdom: KingdomId, new_epoch: u64) -> Result<(), StoreError> {
        if new_epoch == 0 || new_epoch > i64::MAX as u64 {
            return Err(StoreError::Invalid(format!(
                "epoch {new_epoch} out of range 1..=2^63-1"
            )));
        }
        let r = self
            .coll(EPOCHS)
            .update_one(
                doc! { "_id": i64::from(kingdom.0), "epoch": { "$lt": new_epoch as i64 } },
                doc! { "$set": { "epoch": new_epoch as i64 } },
            )
            .upsert(true)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                let current = self.current_epoch(kingdom).await?;
                Err(StoreError::StaleEpoch {
                    kingdom,
                    held: new_epoch,
                    current,
                })
            }
            Err(e) => Err(self.map_err("acquire epoch", e)),
        }
    }

    async fn take_epoch(&self, kingdom: KingdomId, expected: u64) -> Result<u64, StoreError> {
        if expected >= i64::MAX as u64 {
            return Err(StoreError::Invalid(format!(
                "epoch {expected} cannot be taken: out of range"
            )));
        }
        let next = expected + 1;
        let id = i64::from(kingdom.0);
        let won = if expected == 0 {
            // Never owned: the first owner creates the epoch document; a racer's insert of the
            // same _id fails with a duplicate key. A document left at epoch 0 is taken by update.
            match self
                .coll(EPOCHS)
                .insert_one(doc! { "_id": id, "epoch": next as i64 })
                .await
            {
                Ok(_) => true,
                Err(e) if is_duplicate_key(&e) => {
                    self.coll(EPOCHS)
                        .update_one(
                            doc! { "_id": id, "epoch": 0_i64 },
                            doc! { "$set": { "epoch": next as i64 } },
                        )
                        .await
                        .map_err(|e| self.map_err("take epoch", e))?
                        .modified_count
                        == 1
                }
                Err(e) => return Err(self.map_err("take epoch", e)),
            }
        } else {
            self.coll(EPOCHS)
                .update_one(
                    doc! { "_id": id, "epoch": expected as i64 },
                    doc! { "$set": { "epoch": next as i64 } },
                )
                .await
                .map_err(|e| self.map_err("take epoch", e))?
                .modified_count
                == 1
        };
        if won {
            return Ok(next);
        }
        let current = self.current_epoch(kingdom).await?;
        Err(StoreError::StaleEpoch {
            kingdom,
            held: expected,
            current,
        })
    }

    async fn bump_epoch(&self, kingdom: KingdomId) -> Result<u64, StoreError> {
        for _ in 0..3 {
            let r = self
                .coll(EPOCHS)
                .find_one_and_update(
                    doc! { "_id": i64::from(kingdom.0) },
                    doc! { "$inc": { "epoch": 1_i64 } },
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match r {
                Ok(Some(d)) => {
                    return crate::records::get_u64(&d, "epoch").map_err(|reason| {
                        StoreError::Corrupt {
                            collection: EPOCHS,
                            id: kingdom.0.to_string(),
                            reason,
                        }
                    });
                }
                Ok(None) => {}
                // Two first-time upserts raced on the _id; the loser retries as an update.
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(self.map_err("bump epoch", e)),
            }
        }
        Err(StoreError::Backend {
            backend: BACKEND,
            url: self.url.to_string(),
            operation: "bump epoch",
            reason: "findAndModify returned no document three times".into(),
        })
    }

    async fn apply(&self, epoch: u64, batch: &WriteBatch) -> Result<(), StoreError> {
        self.ensure_indexes().await?;
        self.in_transaction("apply write batch", TxnBody::Apply { epoch, batch })
            .await
    }

    async fn load_kingdom(
        &self,
        collection: Collection,
        kingdom: KingdomId,
    ) -> Result<Vec<StoredDoc>, StoreError> {
        let docs: Vec<Document> = self
            .coll(collection.name())
            .find(doc! { "kingdom": i64::from(kingdom.0) })
            .batch_size(10_000)
            .await
            .map_err(|e| self.map_err("load collection", e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err("load collection", e))?;
        Self::decode_all(collection, docs)
    }

    async fn get(&self, collection: Collection, id: &str) -> Result<Option<StoredDoc>, StoreError> {
        self.coll(collection.name())
            .find_one(doc! { "_id": id })
            .await
            .map_err(|e| self.map_err("get document", e))?
            .map(|d| StoredDoc::from_document(collection, d))
            .transpose()
    }

    async fn scan_outdated(
        &self,
        collection: Collection,
        below: i32,
    ) -> Result<Vec<StoredDoc>, StoreError> {
        let docs: Vec<Document> = self
            .coll(collection.name())
            .find(doc! { "schema_version": { "$lt": below } })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| self.map_err("scan outdated", e))?
            .try_collect()
            .await
            .map_err(|e| self.map_err("scan outdated", e))?;
        Self::decode_all(collection, docs)
    }

    async fn replace_if_version(&self, docs: &[(StoredDoc, i32)]) -> Result<usize, StoreError> {
        let mut n = 0;
        for (d, expected) in docs {
            let r = self
                .coll(d.collection.name())
                .replace_one(
                    doc! { "_id": d.id.as_str(), "schema_version": *expected },
                    &d.body,
                )
                .await
                .map_err(|e| self.map_err("write back migrated document", e))?;
            n += r.modified_count as usize;
        }
        Ok(n)
    }

    async fn insert_if_absent(&self, doc: &StoredDoc) -> Result<bool, StoreError> {
        self.ensure_indexes().await?;
        match self.coll(doc.collection.name()).insert_one(&doc.body).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(self.map_err("insert document", e)),
        }
    }

    async fn next_sequence(&self, name: &str) -> Result<u64, StoreError> {
        for _ in 0..3 {
            let r = self
                .coll(SEQUENCES)
                .find_one_and_update(doc! { "_id": name }, doc! { "$inc": { "value": 1_i64 } })
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match r {
                Ok(Some(d)) => {
                    return crate::records::get_u64(&d, "value").map_err(|reason| {
                        StoreError::Corrupt {
                            collection: SEQUENCES,
                            id: name.to_string(),
                            reason,
                        }
                    });
                }
                Ok(None) => {}
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(self.map_err("next sequence", e)),
            }
        }
        Err(StoreError::Backend {
            backend: BACKEND,
            url: self.url.to_string(),
            operation: "next sequence",
            reason: "findAndModify returned no document three times".into(),
        })
    }

    async fn write_snapshot(
        &self,
        kingdom: KingdomId,
        epoch: u64,
        snapshot: &Snapshot,
    ) -> Result<SnapshotManifest, StoreError> {
        self.ensure_indexes().await?;
        // Cheap early refusal; the authoritative check is the fenced commit below.
        let current = self.current_epoch(kingdom).await?;
        if current == 0 || current != epoch {
            return Err(StoreError::StaleEpoch {
                kingdom,
                held: epoch,
                current,
            });
        }
        let (manifest, chunks) = SnapshotManifest::plan(kingdom, epoch, snapshot)?;
        let chunk_coll = self.coll(CHUNKS);
        let mut docs = Vec::new();
        for (p, cs) in chunks.iter().enumerate() {
            for (i, data) in cs.iter().enumerate() {
                docs.push(doc! {
                    "_id": format!("{}:{p}:{i}", manifest.snapshot_id),
                    "kingdom": i64::from(kingdom.0),
                    "snapshot_id": manifest.snapshot_id.as_str(),
                    "part": p as i64,
                    "idx": i as i64,
                    "data": Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: data.to_vec() }),
                });
            }
            // Bound memory: flush every few chunks.
            if docs.len() >= 8 {
                chunk_coll
                    .insert_many(std::mem::take(&mut docs))
                    .await
                    .map_err(|e| self.map_err("write snapshot chunks", e))?;
            }
        }
        if !docs.is_empty() {
            chunk_coll
                .insert_many(docs)
                .await
                .map_err(|e| self.map_err("write snapshot chunks", e))?;
        }
        let committed = self
            .in_transaction("commit snapshot manifest", TxnBody::Manifest(&manifest))
            .await;
        // Whatever happened, chunks not referenced by the current manifest are garbage.
        let keep = match &committed {
            Ok(()) => manifest.snapshot_id.clone(),
            Err(_) => self
                .coll(MANIFESTS)
                .find_one(doc! { "_id": i64::from(kingdom.0) })
                .await
                .ok()
                .flatten()
                .and_then(|d| d.get_str("snapshot_id").ok().map(str::to_string))
                .unwrap_or_default(),
        };
        if let Err(e) = chunk_coll
            .delete_many(doc! { "kingdom": i64::from(kingdom.0), "snapshot_id": { "$ne": keep } })
            .await
        {
            tracing::warn!(kingdom = kingdom.0, error = %e, "could not delete old snapshot chunks; they will be removed by the next snapshot");
        }
        committed.map(|()| manifest)
    }

    async fn read_snapshot(
        &self,
        kingdom: KingdomId,
    ) -> Result<Option<(SnapshotManifest, Snapshot)>, StoreError> {
        let mut last_err = None;
        // A snapshot committed while we read deletes the chunks we are reading: re-read.
        for _ in 0..3 {
            let Some(d) = self
                .coll(MANIFESTS)
                .find_one(doc! { "_id": i64::from(kingdom.0) })
                .await
                .map_err(|e| self.map_err("read snapshot manifest", e))?
            else {
                return Ok(None);
            };
            let manifest = SnapshotManifest::from_document(kingdom, &d)?;
            let mut parts: Vec<Vec<Vec<u8>>> = vec![Vec::new(); manifest.parts.len()];
            let mut cursor = self
                .coll(CHUNKS)
                .find(doc! { "snapshot_id": manifest.snapshot_id.as_str() })
                .sort(doc! { "part": 1, "idx": 1 })
                .batch_size(4)
                .await
                .map_err(|e| self.map_err("read snapshot chunks", e))?;
            let mut bad = None;
            while let Some(c) = cursor
                .try_next()
                .await
                .map_err(|e| self.map_err("read snapshot chunks", e))?
            {
                let part = crate::records::get_u64(&c, "part")
                    .ok()
                    .and_then(|p| parts.get_mut(p as usize));
                match (part, c.get("data")) {
                    (Some(slot), Some(Bson::Binary(b))) => slot.push(b.bytes.clone()),
                    _ => {
                        bad = Some(StoreError::Snapshot {
                            kingdom,
                            snapshot: manifest.snapshot_id.clone(),
                            reason: format!("malformed chunk {:?}", c.get("_id")),
                        });
                        break;
                    }
                }
            }
            let result = match bad {
                Some(e) => Err(e),
                None => manifest.assemble(parts),
            };
            match result {
                Ok(s) => return Ok(Some((manifest, s))),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| StoreError::Invalid("snapshot read failed".into())))
    }
}
