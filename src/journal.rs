//! The tick thread's journal: gathers each tick's inputs as they are applied, appends them as one
//! durable record after the tick ran and before its results are sent, carries the world's
//! `state_hash` every [`JournalSettings::hash_every_ticks`] ticks, rolls a segment per save and
//! drops segments once a save covering them is durable.
//!
//! Back-pressure: while the journal holds more than [`JournalSettings::max_bytes`] beyond the
//! newest durable save (the database is slow or down, so nothing can be compacted), the bridge
//! stops accepting commands — they are answered with [`crate::commands::REFUSAL_SAVING_BEHIND`]
//! at once — and checkpoint-only records are skipped, so the journal stops growing except for
//! the rare city founding or config reload, until saves land again.
//!
//! A journal that cannot be written (the disk is full, an I/O error) does not stop the world:
//! the tick's record is kept in memory and appended again at every following tick, in order,
//! until the disk takes it. Meanwhile [`TickJournal::failing`] is true, so the bridge refuses
//! commands ([`crate::commands::REFUSAL_JOURNAL_UNAVAILABLE`]) and holds back the results of the
//! ticks whose records are not durable yet ([`TickJournal::durable_through`]): nothing is
//! acknowledged before it is durable, and a crash meanwhile loses only what no client was told
//! succeeded. A durable save covering a waiting record makes it durable too (the store holds
//! its effect), so that record is dropped instead of written.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use dominion_persistence::journal::{
    ConfigBlobs, JournalError, JournalInput, JournalWriter, TickRecord,
};
use dominion_sim::Kingdom;
use dominion_sim::config::AssetFiles;

/// How the journal behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalSettings {
    /// Folder of the segment files and config texts.
    pub dir: PathBuf,
    /// A record carries the world's hash on ticks that are multiples of this (0: never).
    pub hash_every_ticks: u64,
    /// Journal bytes above which commands are refused until a save lands.
    pub max_bytes: u64,
    /// Keep every segment (no compaction), so `dominion replay --from-tick 0` can rebuild the
    /// world from its seed.
    pub keep_all: bool,
}

impl JournalSettings {
    /// Defaults for a data folder: `<data>/journal`, a hash every 600 ticks (a minute at 10 Hz:
    /// the hash of the default kingdom takes ~55 ms, `cargo bench --bench journal`), and
    /// 256 MiB (at 1,000 commands a tick, ~45 KiB a record, about 10 minutes without a save).
    pub fn in_data(data: &Path) -> JournalSettings {
        JournalSettings {
            dir: data.join("journal"),
            hash_every_ticks: 600,
            max_bytes: 256 << 20,
            keep_all: false,
        }
    }
}

/// The journal as the tick loop drives it.
pub struct TickJournal {
    writer: JournalWriter,
    configs: ConfigBlobs,
    settings: JournalSettings,
    inputs: Vec<JournalInput>,
    /// Tick of the newest save known durable.
    saved_tick: u64,
    /// Records that could not be written yet, oldest first (appended before any newer one).
    waiting: VecDeque<TickRecord>,
}

impl TickJournal {
    /// Opens the journal to append after `last_tick` (the newest record on disk, already
    /// scanned and repaired by recovery).
    pub fn open(settings: JournalSettings, last_tick: u64) -> Result<TickJournal, JournalError> {
        Ok(TickJournal {
            writer: JournalWriter::open(&settings.dir, last_tick)?,
            configs: ConfigBlobs::new(&settings.dir),
            settings,
            inputs: Vec::new(),
            saved_tick: 0,
            waiting: VecDeque::new(),
        })
    }

    /// Keeps a config's texts by digest (durably), so replays find it.
    pub fn keep_config(&self, digest: &[u8; 32], files: &AssetFiles) -> Result<(), JournalError> {
        self.configs.put(digest, files)
    }

    /// Notes an input applied for the coming tick.
    pub fn push(&mut self, input: JournalInput) {
        self.inputs.push(input);
    }

    /// Notes several inputs, in order.
    pub fn extend(&mut self, inputs: impl IntoIterator<Item = JournalInput>) {
        self.inputs.extend(inputs);
    }

    /// True while commands must be refused: the journal outgrew its bound behind the last save.
    pub fn behind(&self) -> bool {
        self.writer.bytes() > self.settings.max_bytes
    }

    /// Bytes of journal on disk.
    pub fn bytes(&self) -> u64 {
        self.writer.bytes()
    }

    /// Appends the tick that just ran (its inputs, and its hash on checkpoint ticks) and makes
    /// it durable, after any records still waiting from ticks the disk did not take. Ticks with
    /// no inputs and no checkpoint add nothing. Returns whether a record was written.
    ///
    /// On an error the tick's record is not lost: it waits (in memory, in order) and the next
    /// call tries again; see [`TickJournal::failing`] and [`TickJournal::durable_through`].
    pub fn commit(&mut self, kingdom: &mut Kingdom) -> Result<bool, JournalError> {
        self.seal(kingdom);
        self.write_waiting()
    }

    /// The first half of [`TickJournal::commit`]: closes the record of the tick being run (its
    /// inputs, and on checkpoint ticks the world's hash, so it must be called once the tick's
    /// world state is final — after Simulate; the Interest phase changes no hashed state) and
    /// queues it behind any waiting records. Cheap except on checkpoint ticks.
    pub fn seal(&mut self, kingdom: &mut Kingdom) {
        let tick = kingdom.tick_count();
        let every = self.settings.hash_every_ticks;
        // While behind or failing, hash-only records are skipped: they add bytes, not inputs.
        let checkpoint =
            every > 0 && tick.is_multiple_of(every) && !self.behind() && !self.failing();
        if !self.inputs.is_empty() || checkpoint {
            self.waiting.push_back(TickRecord {
                tick,
                prev_tick: 0,
                state_hash: checkpoint.then(|| kingdom.state_hash()),
                inputs: std::mem::take(&mut self.inputs),
            });
        }
    }

    /// The second half of [`TickJournal::commit`]: appends the waiting records in order and
    /// makes them durable (the `fdatasync`). Needs no world, so the tick thread runs it on a
    /// helper thread while the Interest phase runs. Returns whether a record was written.
    pub fn write_waiting(&mut self) -> Result<bool, JournalError> {
        let mut wrote = false;
        while let Some(record) = self.waiting.front_mut() {
            self.writer.append(record)?;
            self.waiting.pop_front();
            wrote = true;
        }
        Ok(wrote)
    }

    /// True while records wait for the disk: commands must be refused and results held back.
    pub fn failing(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Records waiting for the disk.
    pub fn waiting_records(&self) -> usize {
        self.waiting.len()
    }

    /// The newest tick `t` such that the inputs of every tick up to `t` are durable, given that
    /// `now` is the tick that just ran: results of ticks after it must not be sent yet.
    pub fn durable_through(&self, now: u64) -> u64 {
        self.waiting
            .front()
            .map_or(now, |r| r.tick.saturating_sub(1))
    }

    /// A save of the world at `tick` was queued: later records go to a new segment.
    pub fn save_queued(&mut self) {
        self.writer.roll();
    }

    /// The save of `tick` is durable: drop the segments it covers (unless keeping everything).
    pub fn save_durable(&mut self, tick: u64) -> Result<usize, JournalError> {
        if tick <= self.saved_tick && self.saved_tick != 0 {
            return Ok(0);
        }
        self.saved_tick = tick;
        if self.settings.keep_all {
            return Ok(0);
        }
        // The store now holds the effect of waiting records up to `tick`: they are durable.
        while self.waiting.front().is_some_and(|r| r.tick <= tick) {
            self.waiting.pop_front();
        }
        self.writer.compact(tick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dominion_persistence::journal::scan;
    use dominion_sim::command::Command;
    use dominion_sim::types::{ObjectId, PlayerId};

    fn small_kingdom() -> Kingdom {
        crate::assets::small_kingdom(1, 120)
    }

    fn recall(n: u64) -> JournalInput {
        JournalInput::Command {
            player: PlayerId(n),
            request_id: n as u32,
            command: Command::Recall { march: ObjectId(n) },
        }
    }

    #[test]
    fn the_journal_is_bounded_behind_saves_and_compacted_when_they_land() {
        let dir = tempfile::tempdir().unwrap();
        let settings = JournalSettings {
            max_bytes: 2_000,
            hash_every_ticks: 4,
            ..JournalSettings::in_data(dir.path())
        };
        let mut j = TickJournal::open(settings.clone(), 0).unwrap();
        let mut k = small_kingdom();
        // Ticks without inputs write nothing, except hash checkpoints.
        k.tick();
        assert!(!j.commit(&mut k).unwrap());
        // A save is queued after tick 1; ticks with inputs follow until the bound is passed.
        j.save_queued();
        let mut n = 0;
        while !j.behind() {
            n += 1;
            j.extend((0..10).map(|i| recall(n * 10 + i)));
            k.tick();
            assert!(j.commit(&mut k).unwrap());
        }
        let grown = j.bytes();
        assert!(grown > settings.max_bytes);
        // While behind, checkpoint-only ticks are skipped so the journal stops growing.
        while !k.tick_count().is_multiple_of(4) {
            k.tick();
        }
        assert!(!j.commit(&mut k).unwrap(), "no checkpoint while behind");
        assert_eq!(j.bytes(), grown);
        // A save of the latest tick lands: everything before it goes.
        j.save_queued();
        assert_eq!(j.save_durable(k.tick_count()).unwrap(), 1);
        assert!(!j.behind());
        assert!(j.bytes() < grown);
        assert!(
            scan(&settings.dir, false)
                .unwrap()
                .records
                .iter()
                .all(|r| r.tick > k.tick_count())
        );
    }
}
