//! Replaying the journal on a world: each record's inputs are applied exactly as the tick thread
//! applied them (cities founded and commands submitted in order, configs staged, alliances set),
//! the tick runs, and on checkpoint ticks the world's hash is compared with the recorded one.
//! Ticks without a record had no inputs and run as they are. Shared by start-up recovery and
//! `dominion replay`.

use std::collections::BTreeMap;
use std::sync::Arc;

use dominion_persistence::journal::{ConfigBlobs, JournalInput, TickRecord};
use dominion_sim::Kingdom;
use dominion_sim::config::Assets;
use dominion_sim::events::WorldEvent;
use dominion_sim::state_hash::hex;
use dominion_sim::types::PlayerId;

/// Why a replay cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The replayed world's hash differs from the recorded one.
    #[error(
        "replay diverged at tick {tick}: the journal recorded state hash {recorded} but the replayed world hashes {replayed}"
    )]
    HashMismatch {
        /// The checkpoint tick.
        tick: u64,
        /// Hex of the recorded hash.
        recorded: String,
        /// Hex of the replayed world's hash.
        replayed: String,
    },
    /// A record names a predecessor the journal does not hold (records were lost).
    #[error(
        "the journal is missing records: the record for tick {tick} follows tick {prev}, but the world is at tick {world_tick}"
    )]
    Gap {
        /// The record's tick.
        tick: u64,
        /// Its predecessor.
        prev: u64,
        /// Where the world stood.
        world_tick: u64,
    },
    /// A record's tick is not after the world's.
    #[error("journal record for tick {tick} cannot be replayed on a world at tick {world_tick}")]
    Behind {
        /// The record's tick.
        tick: u64,
        /// Where the world stood.
        world_tick: u64,
    },
    /// A config the journal names is not kept beside it.
    #[error("tick {tick}: config {digest} named by the journal is not in the journal's configs")]
    MissingConfig {
        /// The tick.
        tick: u64,
        /// Hex digest.
        digest: String,
    },
    /// A kept config does not parse or cannot replace the running one.
    #[error("tick {tick}: config {digest} cannot be applied: {reason}")]
    BadConfig {
        /// The tick.
        tick: u64,
        /// Hex digest.
        digest: String,
        /// Why.
        reason: String,
    },
    /// A recorded city founding failed on replay.
    #[error("tick {tick}: founding {player}'s city failed on replay: {reason}")]
    FoundCity {
        /// The tick.
        tick: u64,
        /// The player.
        player: PlayerId,
        /// Why.
        reason: String,
    },
    /// Reading the journal's configs failed.
    #[error(transparent)]
    Journal(#[from] dominion_persistence::journal::JournalError),
}

/// The configs a replay runs on: by digest from the journal's config folder, parsed once; or,
/// for a designer's what-if, one override for every tick.
pub struct ReplayConfigs {
    blobs: ConfigBlobs,
    parsed: BTreeMap<[u8; 32], Arc<Assets>>,
    /// When set, every config staged by the journal is replaced by this one.
    pub override_assets: Option<Arc<Assets>>,
}

impl ReplayConfigs {
    /// Configs from a journal's config folder.
    pub fn new(blobs: ConfigBlobs) -> ReplayConfigs {
        ReplayConfigs {
            blobs,
            parsed: BTreeMap::new(),
            override_assets: None,
        }
    }

    /// Makes `assets` known under its digest (the config a world was loaded with).
    pub fn insert(&mut self, assets: Arc<Assets>) {
        self.parsed.insert(assets.digest, assets);
    }

    /// The config with `digest`, parsed from its kept texts.
    pub fn get(&mut self, tick: u64, digest: &[u8; 32]) -> Result<Arc<Assets>, ReplayError> {
        if let Some(a) = self.parsed.get(digest) {
            return Ok(a.clone());
        }
        let Some(files) = self.blobs.get(digest)? else {
            return Err(ReplayError::MissingConfig {
                tick,
                digest: hex(digest),
            });
        };
        let assets = Assets::parse(&files).map_err(|e| ReplayError::BadConfig {
            tick,
            digest: hex(digest),
            reason: e.to_string(),
        })?;
        let assets = Arc::new(assets);
        self.parsed.insert(*digest, assets.clone());
        Ok(assets)
    }
}

/// The outcome of one checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashCheck {
    /// The tick.
    pub tick: u64,
    /// What the journal recorded.
    pub recorded: [u8; 32],
    /// What the replayed world hashes.
    pub replayed: [u8; 32],
}

impl HashCheck {
    /// Whether the replayed world matches.
    pub fn matches(&self) -> bool {
        self.recorded == self.replayed
    }

    /// The mismatch as an error.
    pub fn into_error(self) -> ReplayError {
        ReplayError::HashMismatch {
            tick: self.tick,
            recorded: hex(&self.recorded),
            replayed: hex(&self.replayed),
        }
    }
}

/// Runs the input-free ticks before `record`, applies its inputs, runs its tick and, if it
/// carries a hash, returns the comparison. `previous` is the tick of the record replayed before
/// this one (`None` for the first on this world, whose predecessor may be older than the world:
/// compacted away); a record naming another predecessor means records are missing. The world's
/// events of those ticks are appended to `events` when given.
pub fn apply_record(
    kingdom: &mut Kingdom,
    record: &TickRecord,
    configs: &mut ReplayConfigs,
    previous: Option<u64>,
    mut events: Option<&mut Vec<WorldEvent>>,
) -> Result<Option<HashCheck>, ReplayError> {
    let world_tick = kingdom.tick_count();
    if record.tick <= world_tick {
        return Err(ReplayError::Behind {
            tick: record.tick,
            world_tick,
        });
    }
    let gap = match previous {
        None => record.prev_tick > world_tick,
        Some(p) => record.prev_tick != p,
    };
    if gap {
        return Err(ReplayError::Gap {
            tick: record.tick,
            prev: record.prev_tick,
            world_tick,
        });
    }
    let mut keep = |kingdom: &mut Kingdom| {
        let drained = kingdom.drain_events();
        if let Some(out) = events.as_deref_mut() {
            out.extend(drained);
        }
    };
    while kingdom.tick_count() + 1 < record.tick {
        kingdom.tick();
        keep(kingdom);
    }
    for input in &record.inputs {
        apply_input(kingdom, record.tick, input, configs)?;
    }
    kingdom.tick();
    keep(kingdom);
    Ok(record.state_hash.map(|recorded| HashCheck {
        tick: record.tick,
        recorded,
        replayed: kingdom.state_hash(),
    }))
}

fn apply_input(
    kingdom: &mut Kingdom,
    tick: u64,
    input: &JournalInput,
    configs: &mut ReplayConfigs,
) -> Result<(), ReplayError> {
    match input {
        JournalInput::Command {
            player,
            request_id,
            command,
        } => {
            kingdom.submit(*player, *request_id, command.clone());
        }
        JournalInput::FoundCity { player } => {
            kingdom
                .add_player(*player)
                .map_err(|e| ReplayError::FoundCity {
                    tick,
                    player: *player,
                    reason: e.to_string(),
                })?;
        }
        JournalInput::Alliance { player, alliance } => {
            kingdom.set_alliance(*player, *alliance);
        }
        JournalInput::Grant {
            player,
            grant,
            oldest_open,
            resources,
        } => {
            // Refused on replay exactly when it was refused live (the ledger is world state).
            let _ = kingdom.grant(*player, *grant, *oldest_open, resources);
        }
        JournalInput::Config { digest } => {
            let assets = match &configs.override_assets {
                Some(a) => a.clone(),
                None => configs.get(tick, digest)?,
            };
            if assets.digest != kingdom.config().assets.digest {
                kingdom
                    .stage_config(assets)
                    .map_err(|e| ReplayError::BadConfig {
                        tick,
                        digest: hex(digest),
                        reason: e.to_string(),
                    })?;
            }
        }
    }
    Ok(())
}
