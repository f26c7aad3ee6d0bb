//! The tick-input journal's record format (see [`codec`]).

pub mod codec;

pub use codec::{DecodeError, JournalInput, TickRecord, decode_waiting, encode_waiting};
