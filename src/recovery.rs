//! Start-up recovery: the last durable save, then the journal replayed from the save's tick.
//!
//! The journal is scanned first; a torn tail (a record cut short or damaged by a crash mid-write,
//! whose tick's results were therefore never sent) is cut off. The world is loaded from the store
//! (or generated from the seed when no save exists yet) on the config it was saved with, found by
//! digest among the journal's configs, and every record after the save's tick is replayed. A
//! checkpoint whose hash differs stops the start with the tick and both hashes.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use dominion_persistence::journal::{ConfigBlobs, scan};
use dominion_persistence::{KingdomId, Migrations, Store};
use dominion_sim::Kingdom;
use dominion_sim::config::Assets;

use crate::persist::load_world_fixing;
use crate::replay::{ReplayConfigs, apply_record};

/// What recovery did.
pub struct Recovered {
    /// The world, as of the last journaled tick.
    pub kingdom: Kingdom,
    /// Whether a save was loaded (else the world was generated from the seed).
    pub loaded: bool,
    /// Tick of the save (0 when generated).
    pub save_tick: u64,
    /// Journal records replayed on top of it.
    pub replayed: usize,
    /// Hash checkpoints that matched.
    pub checked: usize,
    /// Tick of the newest record on disk (appends go after it).
    pub last_record_tick: u64,
    /// Bytes cut off a torn tail, if any.
    pub torn_bytes: Option<u64>,
    /// Ids of the objects and marches the save held (the first save after recovery deletes
    /// those the replay removed).
    pub loaded_ids: std::collections::BTreeSet<dominion_sim::types::ObjectId>,
}

/// Parses a digest stored as hex.
pub fn digest_from_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut d = [0u8; 32];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(d)
}

/// The config a saved world ran on: from the journal's configs by the save's digest, or the
/// folder's when they are the same. `None` when the digest is unknown (a save from before the
/// journal kept configs).
pub fn saved_config(
    configs: &mut ReplayConfigs,
    saved_digest: &str,
) -> anyhow::Result<Option<Arc<Assets>>> {
    let Some(digest) = digest_from_hex(saved_digest) else {
        return Ok(None);
    };
    match configs.get(0, &digest) {
        Ok(a) => Ok(Some(a)),
        Err(crate::replay::ReplayError::MissingConfig { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Loads the last save and replays the journal in `journal_dir` on it. `assets` is the assets
/// folder's config: the world runs on it when nothing was saved, or when the save's own config
/// is unknown and there is nothing to replay.
pub async fn recover(
    store: &dyn Store,
    migrations: &Migrations,
    kingdom_id: KingdomId,
    seed: u64,
    assets: Arc<Assets>,
    journal_dir: &Path,
    fixes: &mut dominion_persistence::WriteBatch,
) -> anyhow::Result<Recovered> {
    let journal = scan(journal_dir, true).context("reading the tick journal")?;
    let torn_bytes = journal.torn.as_ref().map(|(path, offset, dropped, why)| {
        tracing::warn!(
            segment = %path.display(),
            offset,
            dropped,
            "journal tail torn ({why}); cut off: that tick's results were never sent"
        );
        *dropped
    });
    let last_record_tick = journal.records.last().map_or(0, |r| r.tick);
    let mut configs = ReplayConfigs::new(ConfigBlobs::new(journal_dir));
    configs.insert(assets.clone());

    let mut loaded_ids = std::collections::BTreeSet::new();
    let state = load_world_fixing(store, migrations, kingdom_id, fixes)
        .await
        .context("loading the kingdom from the store")?;
    let (mut kingdom, loaded) = match state {
        Some((state, meta)) => {
            let pending = journal.records.iter().any(|r| r.tick > state.meta.tick);
            let run_on = match saved_config(&mut configs, &meta.config_version)? {
                Some(a) => a,
                None if !pending => {
                    if meta.config_version != crate::persist::digest_hex(&assets.digest) {
                        tracing::warn!(
                            saved = %meta.config_version,
                            "the save's config is not among the journal's configs; running on the assets folder's"
                        );
                    }
                    assets.clone()
                }
                None => anyhow::bail!(
                    "the save at tick {} ran on config {}, which is neither the assets folder's nor kept in {}; the journal after it cannot be replayed",
                    state.meta.tick,
                    meta.config_version,
                    journal_dir.display()
                ),
            };
            let mut k = Kingdom::from_state(run_on, state)?;
            loaded_ids = k.entity_ids();
            (k, true)
        }
        None => (Kingdom::generate(seed, assets.clone()), false),
    };
    let save_tick = kingdom.tick_count();
    let mut replayed = 0;
    let mut checked = 0;
    let mut previous = None;
    for record in journal.records.iter().filter(|r| r.tick > save_tick) {
        let check = apply_record(&mut kingdom, record, &mut configs, previous, None)?;
        previous = Some(record.tick);
        if let Some(check) = check {
            if !check.matches() {
                return Err(check.into_error().into());
            }
            checked += 1;
        }
        replayed += 1;
    }
    Ok(Recovered {
        kingdom,
        loaded,
        save_tick,
        replayed,
        checked,
        last_record_tick,
        torn_bytes,
        loaded_ids,
    })
}
