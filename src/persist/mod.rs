//! The kingdom's persistence: load the world at start, save what changed every save interval,
//! flush at shutdown. Writes go through the persistence crate's [`SaveQueue`], so the tick thread
//! only gathers records; encoding and database IO happen on the writer task, with retries.

mod mapping;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use dominion_persistence::{
    FreeSlotsRecord, KingdomId, MapObjectRecord, MarchRecord, Migrations, PlayerRecord, SaveQueue,
    SaveQueueConfig, SaveStats, Store, StoreError, TerrainRecord, WorldMetaRecord, WriteBatch,
    load_record, load_record_fixing, load_records, load_records_fixing,
};
use dominion_sim::Kingdom;
use dominion_sim::config::Assets;
use dominion_sim::snapshot::WorldState;
use dominion_sim::types::ObjectId;

pub use mapping::{StoredWorld, digest_hex, world_from_records};
use mapping::{free_slots_record, march_record, meta_record, object_records, terrain_record};

/// Why the stored world could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored documents don't form a world.
    #[error("the stored world is inconsistent: {0}")]
    Inconsistent(String),
    /// Parts of the world are missing.
    #[error("the stored world is incomplete: {0} is missing")]
    Missing(&'static str),
}

/// Loads the kingdom's world from the store; `None` if none was ever saved. Documents of an older
/// schema are migrated and written back at once (not fenced; tools and tests). `serve` uses
/// [`load_world_fixing`] instead.
pub async fn load_world(
    store: &dyn Store,
    migrations: &Migrations,
    kingdom: KingdomId,
) -> Result<Option<WorldState>, LoadError> {
    let Some(meta) = load_record::<WorldMetaRecord>(store, migrations, kingdom, "world").await?
    else {
        return Ok(None);
    };
    let terrain = load_record::<TerrainRecord>(store, migrations, kingdom, "terrain")
        .await?
        .ok_or(LoadError::Missing("the terrain"))?;
    let free_slots = load_record::<FreeSlotsRecord>(store, migrations, kingdom, "free_city_slots")
        .await?
        .ok_or(LoadError::Missing("the free city slots"))?;
    let objects = load_records::<MapObjectRecord>(store, migrations, kingdom).await?;
    let players = load_records::<PlayerRecord>(store, migrations, kingdom).await?;
    let marches = load_records::<MarchRecord>(store, migrations, kingdom).await?;
    world_from_records(StoredWorld {
        meta,
        terrain,
        free_slots,
        objects,
        players,
        marches,
    })
    .map(Some)
    .map_err(LoadError::Inconsistent)
}

/// [`load_world`] that writes nothing: data fixes run in memory and the migrated documents are
/// added to `fixes`, for the caller to write under the epoch it holds (a fenced batch), so a
/// start that lost the epoch, or a standby, never writes a document. Also returns the world's
/// meta record as stored (its config version).
pub async fn load_world_fixing(
    store: &dyn Store,
    migrations: &Migrations,
    kingdom: KingdomId,
    fixes: &mut WriteBatch,
) -> Result<Option<(WorldState, WorldMetaRecord)>, LoadError> {
    let Some(meta) =
        load_record_fixing::<WorldMetaRecord>(store, migrations, kingdom, "world", fixes).await?
    else {
        return Ok(None);
    };
    let terrain = load_record_fixing::<TerrainRecord>(store, migrations, kingdom, "terrain", fixes)
        .await?
        .ok_or(LoadError::Missing("the terrain"))?;
    let free_slots =
        load_record_fixing::<FreeSlotsRecord>(store, migrations, kingdom, "free_city_slots", fixes)
            .await?
            .ok_or(LoadError::Missing("the free city slots"))?;
    let objects = load_records_fixing::<MapObjectRecord>(store, migrations, kingdom, fixes).await?;
    let players = load_records_fixing::<PlayerRecord>(store, migrations, kingdom, fixes).await?;
    let marches = load_records_fixing::<MarchRecord>(store, migrations, kingdom, fixes).await?;
    world_from_records(StoredWorld {
        meta: meta.clone(),
        terrain,
        free_slots,
        objects,
        players,
        marches,
    })
    .map(|w| Some((w, meta)))
    .map_err(LoadError::Inconsistent)
}

/// Gathers changed entities into write batches on the tick thread and hands them to the queue.
pub struct Persister {
    /// Where batches go; `None` on a standby, which gathers them like an owner (the same work
    /// per save) and drops them, counted in `stats.dropped`.
    queue: Option<SaveQueue>,
    stats: Arc<SaveStats>,
    kingdom: KingdomId,
    interval_ticks: u64,
    last_save_tick: u64,
    config_digest: String,
    /// Saves queued and not yet known durable: (queue sequence number, tick).
    unconfirmed: std::collections::VecDeque<(u64, u64)>,
    /// Tick of the newest save known durable.
    durable_tick: Option<u64>,
}

impl Persister {
    /// Starts saving `kingdom` with `epoch` (the caller has taken it) every `interval_ticks`.
    /// Must be called inside a tokio runtime (the writer task is spawned on it).
    pub fn start(
        store: Arc<dyn Store>,
        kingdom: KingdomId,
        epoch: u64,
        interval_ticks: u64,
        world: &mut Kingdom,
    ) -> Persister {
        Persister::start_after_replay(
            store,
            kingdom,
            epoch,
            interval_ticks,
            world,
            &BTreeSet::new(),
        )
    }

    /// [`start`](Self::start) for a world loaded and then moved on by a journal replay: the
    /// objects and marches of the save that are gone from the world (`loaded` minus what exists
    /// now) are deleted in the same first batch that writes the whole world, so the store never
    /// holds the new world with ghosts of the old one.
    pub fn start_after_replay(
        store: Arc<dyn Store>,
        kingdom: KingdomId,
        epoch: u64,
        interval_ticks: u64,
        world: &mut Kingdom,
        loaded: &BTreeSet<ObjectId>,
    ) -> Persister {
        let queue = SaveQueue::spawn(store, kingdom, epoch, SaveQueueConfig::default());
        Persister::new(Some(queue), kingdom, interval_ticks, world, loaded)
    }

    /// A standby's persister: changes are gathered every `interval_ticks` exactly as an
    /// owner's are, then dropped and counted (`stats().dropped`); nothing reaches a store.
    pub fn discard(kingdom: KingdomId, interval_ticks: u64, world: &mut Kingdom) -> Persister {
        Persister::new(None, kingdom, interval_ticks, world, &BTreeSet::new())
    }

    fn new(
        queue: Option<SaveQueue>,
        kingdom: KingdomId,
        interval_ticks: u64,
        world: &mut Kingdom,
        loaded: &BTreeSet<ObjectId>,
    ) -> Persister {
        let stats = queue
            .as_ref()
            .map_or_else(|| Arc::new(SaveStats::default()), SaveQueue::stats);
        world.track_changes();
        let config_digest = digest_hex(&world.config().assets.digest);
        let mut p = Persister {
            queue,
            stats,
            kingdom,
            interval_ticks: interval_ticks.max(1),
            last_save_tick: world.tick_count(),
            config_digest,
            unconfirmed: std::collections::VecDeque::new(),
            durable_tick: None,
        };
        // The terrain never changes: written once with the first save.
        let mut first = WriteBatch::new(kingdom);
        let now = world.entity_ids();
        for id in loaded.difference(&now) {
            let key = id.0.to_string();
            first.delete::<MapObjectRecord>(&key);
            first.delete::<MarchRecord>(&key);
        }
        first.upsert(terrain_record(
            world.world.resource::<dominion_sim::map::Terrain>(),
        ));
        p.save_changes(world, first);
        p
    }

    /// The writer's counters (for metrics).
    pub fn stats(&self) -> Arc<SaveStats> {
        self.stats.clone()
    }

    /// Saves if a save interval has passed since the last save. Never waits on the database.
    /// Returns whether a save was queued.
    pub fn after_tick(&mut self, world: &mut Kingdom) -> bool {
        if world.tick_count() >= self.last_save_tick + self.interval_ticks {
            self.save_changes(world, WriteBatch::new(self.kingdom));
            return true;
        }
        false
    }

    /// The tick of the newest save known to be durable (the store holds the world as it was
    /// after that tick), if any. Never waits.
    pub fn durable_tick(&mut self) -> Option<u64> {
        let Some(queue) = &self.queue else {
            return None;
        };
        let durable = queue.durable_seq();
        while let Some(&(seq, tick)) = self.unconfirmed.front() {
            if seq > durable {
                break;
            }
            self.durable_tick = Some(tick);
            self.unconfirmed.pop_front();
        }
        self.durable_tick
    }

    /// Queues everything changed since the last save, plus the world meta.
    pub fn save_changes(&mut self, world: &mut Kingdom, mut batch: WriteBatch) {
        let started = Instant::now();
        self.config_digest = digest_hex(&world.config().assets.digest);
        let changes = world.take_changes();
        let players: BTreeMap<_, _> = world
            .export_players()
            .into_iter()
            .map(|p| (p.player, p))
            .collect();
        let (objects, marches) = world.export_entities(&changes.changed);
        for o in &objects {
            let (record, player) = object_records(o, &players);
            batch.upsert(record);
            if let Some(p) = player {
                batch.upsert(p);
            }
        }
        for m in &marches {
            batch.upsert(march_record(m));
        }
        if changes.players {
            // Alliance changes live on player records: rewrite every city's owner record.
            let ids = mapping::id_set(players.values().map(|p| p.city));
            let (cities, _) = world.export_entities(&ids);
            for c in &cities {
                if let (_, Some(p)) = object_records(c, &players) {
                    batch.upsert(p);
                }
            }
        }
        for id in &changes.removed {
            // An id is either a map object or a march; deleting both keys is idempotent.
            let key = id.0.to_string();
            batch.delete::<MapObjectRecord>(&key);
            batch.delete::<MarchRecord>(&key);
        }
        let meta = world.export_meta();
        if changes.free_slots {
            batch.upsert(free_slots_record(&meta));
        }
        batch.upsert(meta_record(&meta, &self.config_digest));
        let ops = batch.len();
        match &self.queue {
            Some(queue) => match queue.submit(batch) {
                Ok(()) => self
                    .unconfirmed
                    .push_back((queue.submitted_seq(), meta.tick)),
                Err(e) => tracing::error!("saving tick {} failed: {e}", meta.tick),
            },
            None => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.last_save_tick = meta.tick;
        tracing::debug!(
            tick = meta.tick,
            ops,
            gather_ms = started.elapsed().as_secs_f64() * 1e3,
            "save queued"
        );
    }

    /// Saves the last changes and waits until everything queued is written.
    pub async fn shutdown(mut self, world: &mut Kingdom) -> Result<(), StoreError> {
        self.save_changes(world, WriteBatch::new(self.kingdom));
        match self.queue {
            Some(queue) => queue.shutdown().await,
            None => Ok(()),
        }
    }
}

/// Builds the kingdom: from the store if a world was saved there, else freshly generated.
/// Returns the kingdom and whether it was loaded; data fixes go to `fixes` (see
/// [`load_world_fixing`]).
pub async fn load_or_generate(
    store: &dyn Store,
    migrations: &Migrations,
    kingdom: KingdomId,
    seed: u64,
    assets: Arc<Assets>,
    fixes: &mut WriteBatch,
) -> anyhow::Result<(Kingdom, bool)> {
    match load_world_fixing(store, migrations, kingdom, fixes).await? {
        Some((state, _meta)) => {
            let k = Kingdom::from_state(assets, state)?;
            Ok((k, true))
        }
        None => Ok((Kingdom::generate(seed, assets), false)),
    }
}
