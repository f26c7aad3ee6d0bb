//! `dominion replay`: rebuild a kingdom from its last save (or from its seed) and its journal,
//! checking every recorded hash, for bug reports and balance what-ifs. Read-only: it neither
//! writes the store nor repairs the journal.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use dominion_persistence::journal::{ConfigBlobs, scan};
use dominion_persistence::{KingdomId, Migrations, StoreConfig, WorldMetaRecord, load_record};
use dominion_sim::Kingdom;
use dominion_sim::snapshot::{ObjectBody, WorldState};
use dominion_sim::state_hash::hex;
use serde_json::{Value, json};

use crate::assets::load_dir;
use crate::persist::load_world;
use crate::recovery::saved_config;
use crate::replay::{HashCheck, ReplayConfigs, apply_record};

/// What to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// The server's data folder (journal in `journal/`, SQLite store by default).
    pub data: PathBuf,
    /// Store URL; default `sqlite://<data>/dominion.db`.
    pub store_url: Option<String>,
    /// Kingdom id.
    pub server_id: u16,
    /// 0: rebuild from the seed; otherwise hashes are reported from this tick (the world starts
    /// at the last save).
    pub from_tick: Option<u64>,
    /// Last tick to replay.
    pub to_tick: Option<u64>,
    /// Replay on these assets instead of the recorded configs.
    pub assets: Option<PathBuf>,
    /// Seed for a rebuild from scratch when no save says it.
    pub seed: Option<u64>,
    /// Write the world at this tick to this file as JSON.
    pub dump: Option<(u64, PathBuf)>,
}

/// What a replay found.
#[derive(Clone, Debug, Default)]
pub struct ReplayReport {
    /// Tick the replay started from.
    pub start_tick: u64,
    /// Whether it started from a save (else from the seed).
    pub from_save: bool,
    /// Records replayed.
    pub records: usize,
    /// Hash checkpoints compared (from `from_tick` on).
    pub checks: usize,
    /// Checkpoints that differed.
    pub mismatches: usize,
    /// The first checkpoint that differed.
    pub first_divergence: Option<HashCheck>,
    /// Tick the world ended at, and its hash.
    pub end: (u64, [u8; 32]),
    /// Where a dump was written.
    pub dumped: Option<(u64, PathBuf)>,
    /// Bytes of a torn tail the replay stopped before (not repaired).
    pub torn_bytes: Option<u64>,
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "replayed {} journal records from {} at tick {} to tick {}",
            self.records,
            if self.from_save {
                "the save"
            } else {
                "the seed"
            },
            self.start_tick,
            self.end.0
        )?;
        if let Some(b) = self.torn_bytes {
            writeln!(f, "the journal ends in a torn record ({b} bytes), ignored")?;
        }
        match &self.first_divergence {
            None => writeln!(f, "{} hash checks, all matched", self.checks)?,
            Some(c) => writeln!(
                f,
                "{} of {} hash checks differ; first divergence at tick {}: recorded {} replayed {}",
                self.mismatches,
                self.checks,
                c.tick,
                hex(&c.recorded),
                hex(&c.replayed)
            )?,
        }
        if let Some((tick, path)) = &self.dumped {
            writeln!(f, "world at tick {tick} written to {}", path.display())?;
        }
        writeln!(f, "final state hash {}", hex(&self.end.1))
    }
}

/// Runs a replay (blocking; starts its own small runtime for the store).
pub fn run_replay(opts: &ReplayOptions) -> anyhow::Result<ReplayReport> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let journal_dir = opts.data.join("journal");
    let journal = scan(&journal_dir, false).context("reading the journal")?;
    let mut configs = ReplayConfigs::new(ConfigBlobs::new(&journal_dir));
    let override_assets = match &opts.assets {
        Some(dir) => Some(Arc::new(load_dir(dir).map_err(|e| {
            anyhow::anyhow!("assets in {} are invalid:\n{e}", dir.display())
        })?)),
        None => None,
    };
    configs.override_assets = override_assets.clone();

    let store_url = opts
        .store_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", opts.data.join("dominion.db").display()));
    let store_cfg = StoreConfig::from_url(&store_url).context("--store")?;
    let store = runtime
        .block_on(store_cfg.open())
        .with_context(|| format!("opening the store {}", store_cfg.redacted()))?;
    let kingdom_id = KingdomId(u32::from(opts.server_id));
    let migrations = Migrations::builtin();
    let state = runtime.block_on(load_world(store.as_ref(), &migrations, kingdom_id))?;
    let meta = runtime.block_on(load_record::<WorldMetaRecord>(
        store.as_ref(),
        &migrations,
        kingdom_id,
        "world",
    ))?;
    let saved_assets = match &meta {
        Some(m) => saved_config(&mut configs, &m.config_version)?,
        None => None,
    };
    let base_assets = override_assets.clone().or(saved_assets);
    let (mut kingdom, from_save) = match (opts.from_tick, state) {
        (Some(0), state) | (_, state @ None) => {
            let seed = opts
                .seed
                .or(state.as_ref().map(|s| s.meta.seed))
                .context("no save in the store: give --seed to rebuild the world from scratch")?;
            let assets = base_assets.context(
                "rebuilding from scratch needs the config the world started on: give --assets",
            )?;
            if journal.records.first().is_some_and(|r| r.prev_tick != 0) {
                anyhow::bail!(
                    "the journal starts after tick {} (compacted): rebuilding from the seed needs a journal kept from the start (serve --journal-keep-all)",
                    journal.records[0].prev_tick
                );
            }
            (Kingdom::generate(seed, assets), false)
        }
        (from, Some(state)) => {
            if let Some(f) = from
                && f < state.meta.tick
            {
                anyhow::bail!(
                    "the save is at tick {}; replay can start there or from 0 (the seed), not at tick {f}",
                    state.meta.tick
                );
            }
            let assets = base_assets.context(
                "the save's config is not kept beside the journal: give --assets to replay on a config",
            )?;
            (Kingdom::from_state(assets, state)?, true)
        }
    };
    let start_tick = kingdom.tick_count();
    let report_from = opts.from_tick.unwrap_or(0);
    let to = opts.to_tick.unwrap_or(u64::MAX);
    let mut report = ReplayReport {
        start_tick,
        from_save,
        torn_bytes: journal.torn.as_ref().map(|t| t.2),
        ..ReplayReport::default()
    };
    let mut dump = opts.dump.clone();
    let mut previous = None;
    for record in journal
        .records
        .iter()
        .filter(|r| r.tick > start_tick && r.tick <= to)
    {
        if let Some((at, path)) = &dump
            && *at < record.tick
        {
            write_dump(&mut kingdom, *at, path)?;
            report.dumped = dump.take();
        }
        let check = apply_record(&mut kingdom, record, &mut configs, previous, None)?;
        previous = Some(record.tick);
        report.records += 1;
        if let Some(c) = check
            && c.tick >= report_from
        {
            report.checks += 1;
            if !c.matches() {
                report.mismatches += 1;
                report.first_divergence.get_or_insert(c);
            }
        }
    }
    if let Some((at, path)) = &dump {
        write_dump(&mut kingdom, *at, path)?;
        report.dumped = dump.take();
    }
    // Ticks after the last record up to --to-tick had no inputs (a record is written for every
    // tick that had one).
    if let Some(to) = opts.to_tick {
        while kingdom.tick_count() < to {
            kingdom.tick();
            kingdom.drain_events();
        }
    }
    report.end = (kingdom.tick_count(), kingdom.state_hash());
    Ok(report)
}

/// Runs input-free ticks up to `tick` (between records nothing came from outside) and writes
/// the world as JSON.
fn write_dump(kingdom: &mut Kingdom, tick: u64, path: &std::path::Path) -> anyhow::Result<()> {
    if tick < kingdom.tick_count() {
        anyhow::bail!(
            "cannot dump tick {tick}: the replay starts at tick {}",
            kingdom.tick_count()
        );
    }
    while kingdom.tick_count() < tick {
        kingdom.tick();
        kingdom.drain_events();
    }
    let hash = kingdom.state_hash();
    let state = kingdom.export_state();
    let json = world_json(&state, &hash);
    let text = serde_json::to_string_pretty(&json)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The world as readable JSON (the terrain is summarised, not listed tile by tile).
pub fn world_json(state: &WorldState, hash: &[u8; 32]) -> Value {
    let m = &state.meta;
    let objects: Vec<Value> = state
        .objects
        .iter()
        .map(|o| {
            let mut v = json!({
                "id": o.object.id.0,
                "x": o.object.pos.x,
                "y": o.object.pos.y,
            });
            let body = match &o.body {
                ObjectBody::Field(f) => json!({
                    "kind": "field",
                    "resource": f.kind.name(),
                    "level": f.level,
                    "remaining": f.remaining,
                }),
                ObjectBody::Monster(mo) => json!({
                    "kind": "monster",
                    "monster": mo.kind,
                    "level": mo.level,
                }),
                ObjectBody::CitySlot => json!({ "kind": "city_slot" }),
                ObjectBody::City(c) => json!({
                    "kind": "city",
                    "owner": c.owner.0,
                    "troops": c.troops.0,
                    "wounded": c.wounded.0,
                    "resources": c.resources.0,
                }),
            };
            if let (Value::Object(a), Value::Object(b)) = (&mut v, body) {
                a.extend(b);
            }
            v
        })
        .collect();
    let marches: Vec<Value> = state
        .marches
        .iter()
        .map(|s| {
            let mr = &s.march;
            json!({
                "id": mr.id.0,
                "owner": mr.owner.0,
                "home": mr.home.0,
                "mission": format!("{:?}", mr.mission),
                "target": mr.target.0,
                "troops": mr.troops.0,
                "wounded": mr.wounded.0,
                "load": mr.load.0,
                "state": format!("{:?}", mr.state),
                "route": {
                    "waypoints": mr.route.waypoints.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
                    "depart_tick": mr.route.depart_tick,
                    "speed": mr.route.speed,
                },
                "next_event": s.next_event,
            })
        })
        .collect();
    json!({
        "tick": m.tick,
        "state_hash": hex(hash),
        "seed": m.seed,
        "config_version": m.config_version,
        "next_object_id": m.next_object_id,
        "battles": m.battles,
        "map": { "width": state.terrain.width(), "height": state.terrain.height() },
        "respawns": m.respawns.iter().map(|(due, seq, what)| json!({
            "due": due, "seq": seq, "what": format!("{what:?}"),
        })).collect::<Vec<_>>(),
        "respawn_next_seq": m.respawn_next_seq,
        "waiting_commands": m.waiting_commands.iter().map(|c| json!({
            "seq": c.seq, "player": c.player.0, "request_id": c.request_id,
            "command": format!("{:?}", c.command),
        })).collect::<Vec<_>>(),
        "free_city_slots": m.free_city_slots.len(),
        "players": state.players.iter().map(|p| json!({
            "player": p.player.0, "city": p.city.0, "alliance": p.alliance,
        })).collect::<Vec<_>>(),
        "objects": objects,
        "marches": marches,
    })
}
