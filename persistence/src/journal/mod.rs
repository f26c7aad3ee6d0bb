//! The tick-input journal: every tick's inputs from outside the world (commands with their
//! player and request ids, cities founded, alliance changes, configs staged), one checksummed,
//! versioned record per tick, made durable before that tick's results are sent. With the last
//! save it rebuilds the world exactly (the sim is deterministic), and every so often a record
//! carries the world's `state_hash` so a replay proves it got there.
//!
//! It lives in local append-only files beside the store, whatever the store is (SQLite or
//! MongoDB): measured with `cargo bench --bench journal`, see ARCHITECTURE.md.
//!
//! - [`codec`]: the record format (framing, checksum, inputs).
//! - [`file`]: segments on disk, appending with one `fdatasync` per tick, scanning with torn-tail
//!   repair, compaction behind durable saves.
//! - [`configs`]: config texts by digest, for replays.

pub mod codec;
pub mod configs;
pub mod file;

pub use codec::{DecodeError, JournalInput, TickRecord, decode_waiting, encode_waiting};
pub use configs::ConfigBlobs;
pub use file::{JournalError, JournalWriter, Scan, scan, segments};
