//! The journal on disk: a folder of append-only segment files `seg-<first tick>.djr`, one
//! framed [`TickRecord`] after another, each tick's record made durable with one `fdatasync`
//! (group commit: every input of the tick in one write).
//!
//! A new segment starts after every save is queued ([`JournalWriter::roll`]), so once a save is
//! durable, every segment whose records all precede it is deleted whole
//! ([`JournalWriter::compact`]). Reading ([`scan`]) checks every frame's checksum; a bad frame at
//! the end of the newest segment is a torn write (the process died mid-append, so that tick's
//! results were never sent) and is cut off, while a bad frame anywhere else is corruption and an
//! error.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::codec::{DecodeError, TickRecord, decode_record, encode_record};

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A record before the end of the journal is damaged.
    #[error(
        "journal {path} is corrupt at byte {offset}: {error} (not at the end of the newest segment, so not a torn write)"
    )]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong with it.
        error: DecodeError,
    },
    /// Records are not in tick order, or one is missing.
    #[error(
        "journal {path}: record for tick {tick} follows tick {after} but says it follows {prev}"
    )]
    Gap {
        /// The segment.
        path: PathBuf,
        /// The record's tick.
        tick: u64,
        /// The tick of the record before it in the files.
        after: u64,
        /// The tick the record names as its predecessor.
        prev: u64,
    },
}

impl JournalError {
    /// True when the error is the disk (or the user's quota) being full: the write can succeed
    /// once space is freed.
    pub fn is_disk_full(&self) -> bool {
        match self {
            JournalError::Io { source, .. } => {
                matches!(
                    source.kind(),
                    io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
                ) || matches!(source.raw_os_error(), Some(28 | 122)) // ENOSPC, EDQUOT
            }
            _ => false,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

fn segment_name(first_tick: u64) -> String {
    format!("seg-{first_tick:020}.djr")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?
        .strip_suffix(".djr")?
        .parse()
        .ok()
}

/// The segment files of `dir`, oldest first, as (first tick, path).
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_segment_name) {
            out.push((first, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// What [`scan`] found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every intact record, in tick order.
    pub records: Vec<TickRecord>,
    /// A torn tail that was found at the end of the newest segment: (segment, offset, bytes
    /// after it, why it did not decode).
    pub torn: Option<(PathBuf, u64, u64, DecodeError)>,
    /// Bytes of intact records.
    pub bytes: u64,
}

/// Reads every record of the journal in `dir`. A damaged tail of the newest segment is
/// reported in [`Scan::torn`] and, when `repair` is set, cut off the file (durably) so new
/// records can follow it. Damage anywhere else, or records out of order, is an error.
pub fn scan(dir: &Path, repair: bool) -> Result<Scan, JournalError> {
    let segs = segments(dir)?;
    let mut out = Scan::default();
    let mut last: Option<u64> = None;
    for (i, (_, path)) in segs.iter().enumerate() {
        let newest = i + 1 == segs.len();
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_err(path))?;
        let mut at = 0usize;
        while at < bytes.len() {
            match decode_record(&bytes[at..]) {
                Ok((record, used)) => {
                    if let Some(after) = last
                        && (record.tick <= after || record.prev_tick != after)
                    {
                        return Err(JournalError::Gap {
                            path: path.clone(),
                            tick: record.tick,
                            after,
                            prev: record.prev_tick,
                        });
                    }
                    last = Some(record.tick);
                    out.records.push(record);
                    out.bytes += used as u64;
                    at += used;
                }
                Err(error) if newest => {
                    let dropped = (bytes.len() - at) as u64;
                    if repair {
                        let f = OpenOptions::new()
                            .write(true)
                            .open(path)
                            .map_err(io_err(path))?;
                        f.set_len(at as u64).map_err(io_err(path))?;
                        f.sync_all().map_err(io_err(path))?;
                    }
                    out.torn = Some((path.clone(), at as u64, dropped, error));
                    break;
                }
                Err(error) => {
                    return Err(JournalError::Corrupt {
                        path: path.clone(),
                        offset: at as u64,
                        error,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    // Makes a created, renamed or removed file's directory entry durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Appends tick records to the journal in a folder. Used by the tick thread only.
pub struct JournalWriter {
    dir: PathBuf,
    /// The segment being appended to, its first tick and its length up to the last durable
    /// record.
    current: Option<(File, u64, u64)>,
    /// Older segments still on disk (first tick, path), oldest first.
    closed: Vec<(u64, PathBuf)>,
    /// Tick of the last record written (or found on disk).
    last_tick: u64,
    buf: Vec<u8>,
    /// The current segment may hold the remains of a failed append after its last durable
    /// record (cutting them off failed too).
    torn: bool,
    /// Bytes in segments on disk.
    bytes: u64,
}

impl JournalWriter {
    /// Opens the journal in `dir` (created if missing) to append after `last_tick`, the tick of
    /// the newest record on disk (0 when none). Call [`scan`] with `repair` first: appends go to
    /// a new segment, so an old segment's tail is never written again.
    pub fn open(dir: &Path, last_tick: u64) -> Result<JournalWriter, JournalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut bytes = 0;
        let closed = segments(dir)?;
        for (_, p) in &closed {
            bytes += fs::metadata(p).map_err(io_err(p))?.len();
        }
        Ok(JournalWriter {
            dir: dir.to_owned(),
            current: None,
            closed,
            last_tick,
            buf: Vec::with_capacity(64 << 10),
            torn: false,
            bytes,
        })
    }

    /// Tick of the last record written.
    pub fn last_tick(&self) -> u64 {
        self.last_tick
    }

    /// Bytes of journal on disk (every segment).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Segment files on disk.
    pub fn segment_count(&self) -> usize {
        self.closed.len() + usize::from(self.current.is_some())
    }

    /// Appends one tick's record and makes it durable (one write, one `fdatasync`) before
    /// returning. `record.prev_tick` is filled in here.
    ///
    /// A failed append (a full disk, an I/O error) leaves the journal as it was before it: the
    /// partly written bytes are cut off the segment again, so the same record (or a later one)
    /// can be appended once the disk takes writes again. The bytes are written again from
    /// `record`, never trusted to the page cache after a failed `fdatasync`.
    pub fn append(&mut self, record: &mut TickRecord) -> Result<(), JournalError> {
        record.prev_tick = self.last_tick;
        self.buf.clear();
        encode_record(record, &mut self.buf);
        let (mut file, first, len) = match self.current.take() {
            Some(current) => current,
            None => {
                let path = self.dir.join(segment_name(record.tick));
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                // A segment is only ever created for a tick after every record on disk, so a
                // file of that name can only hold the cut-off remains of a failed append of
                // this very record: start it empty.
                f.set_len(0).map_err(io_err(&path))?;
                sync_dir(&self.dir)?;
                (f, record.tick, 0)
            }
        };
        let path = self.dir.join(segment_name(first));
        let written = self.cut_torn_tail(&file, len, &path).and_then(|()| {
            file.write_all(&self.buf)
                .and_then(|()| file.sync_data())
                .map_err(io_err(&path))
        });
        if let Err(e) = written {
            // Cut the partial record off, so the next append follows the last good one; if even
            // that fails, the next append tries again before it writes.
            self.torn = file.set_len(len).is_err();
            self.current = Some((file, first, len));
            return Err(e);
        }
        let len = len + self.buf.len() as u64;
        self.current = Some((file, first, len));
        self.last_tick = record.tick;
        self.bytes += self.buf.len() as u64;
        Ok(())
    }

    fn cut_torn_tail(&mut self, file: &File, len: u64, path: &Path) -> Result<(), JournalError> {
        if self.torn {
            file.set_len(len).map_err(io_err(path))?;
            self.torn = false;
        }
        Ok(())
    }

    /// Ends the current segment: the next record starts a new file. Called when a save is
    /// queued, so segments line up with saves for [`compact`](Self::compact).
    pub fn roll(&mut self) {
        if self.torn {
            // A segment is closed only once its tail is clean (else a later scan would find
            // damage before the newest segment); until then records keep going to it.
            match &self.current {
                Some((f, _, len)) if f.set_len(*len).is_ok() => self.torn = false,
                _ => return,
            }
        }
        if let Some((_, first, _)) = self.current.take() {
            self.closed
                .push((first, self.dir.join(segment_name(first))));
        }
    }

    /// Deletes every closed segment whose records all belong to ticks ≤ `saved_tick`, the tick
    /// of the newest durable save: a closed segment's records all precede the next segment's
    /// first tick. Returns the number of segments removed.
    pub fn compact(&mut self, saved_tick: u64) -> Result<usize, JournalError> {
        let mut removable = 0;
        for i in 0..self.closed.len() {
            let next_first = match self.closed.get(i + 1) {
                Some((f, _)) => *f,
                None => match &self.current {
                    Some((_, f, _)) => *f,
                    // The newest closed segment ends at the last record written.
                    None => self.last_tick + 1,
                },
            };
            if next_first <= saved_tick + 1 {
                removable = i + 1;
            } else {
                break;
            }
        }
        for (_, path) in self.closed.drain(..removable) {
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path)(e)),
            }
            self.bytes = self.bytes.saturating_sub(len);
        }
        if removable > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::codec::JournalInput;
    use dominion_sim::types::PlayerId;

    fn record(tick: u64) -> TickRecord {
        TickRecord {
            tick,
            prev_tick: 0,
            state_hash: None,
            inputs: vec![JournalInput::FoundCity {
                player: PlayerId(tick),
            }],
        }
    }

    #[test]
    fn appends_scan_back_and_compaction_drops_saved_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(dir.path(), 0).unwrap();
        for t in [1, 2, 5] {
            w.append(&mut record(t)).unwrap();
        }
        w.roll();
        for t in [6, 9] {
            w.append(&mut record(t)).unwrap();
        }
        w.roll();
        w.append(&mut record(10)).unwrap();
        let s = scan(dir.path(), false).unwrap();
        let ticks: Vec<u64> = s.records.iter().map(|r| r.tick).collect();
        assert_eq!(ticks, vec![1, 2, 5, 6, 9, 10]);
        assert!(s.torn.is_none());
        // A save at tick 7 covers the first segment only (the second holds tick 9).
        assert_eq!(w.compact(7).unwrap(), 1);
        assert_eq!(segments(dir.path()).unwrap().len(), 2);
        let ticks: Vec<u64> = scan(dir.path(), false)
            .unwrap()
            .records
            .iter()
            .map(|r| r.tick)
            .collect();
        assert_eq!(ticks, vec![6, 9, 10]);
        // The current segment is never removed.
        assert_eq!(w.compact(100).unwrap(), 1);
        assert_eq!(segments(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn a_torn_tail_is_cut_and_appends_continue_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(dir.path(), 0).unwrap();
        for t in 1..=3 {
            w.append(&mut record(t)).unwrap();
        }
        drop(w);
        let (_, path) = segments(dir.path()).unwrap().pop().unwrap();
        let full = fs::metadata(&path).unwrap().len();
        // Half of a fourth record, as a kill -9 mid-write leaves it.
        let mut extra = Vec::new();
        encode_record(&record(4), &mut extra);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&extra[..extra.len() / 2]).unwrap();
        drop(f);
        let s = scan(dir.path(), true).unwrap();
        assert_eq!(s.records.len(), 3);
        let (_, offset, dropped, _) = s.torn.expect("torn tail reported");
        assert_eq!(offset, full);
        assert_eq!(dropped, (extra.len() / 2) as u64);
        assert_eq!(fs::metadata(&path).unwrap().len(), full, "tail cut off");
        let mut w = JournalWriter::open(dir.path(), 3).unwrap();
        w.append(&mut record(4)).unwrap();
        let s = scan(dir.path(), false).unwrap();
        assert_eq!(s.records.len(), 4);
        assert!(s.torn.is_none());
    }

    #[test]
    fn damage_before_the_newest_segment_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(dir.path(), 0).unwrap();
        w.append(&mut record(1)).unwrap();
        w.append(&mut record(2)).unwrap();
        w.roll();
        w.append(&mut record(3)).unwrap();
        drop(w);
        let (_, oldest) = segments(dir.path()).unwrap().remove(0);
        let mut bytes = fs::read(&oldest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&oldest, bytes).unwrap();
        let err = scan(dir.path(), true).unwrap_err();
        assert!(
            matches!(err, JournalError::Corrupt { .. }),
            "unexpected: {err}"
        );
    }
}
