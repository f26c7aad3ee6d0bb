//! The commands a tick left waiting (over its route budget) are world state: they apply, in
//! order, at the next ticks. Saves carry them and their sequence counter so a restored world
//! applies them exactly as the saved one would have.

use std::collections::VecDeque;

use super::{CommandInbox, Submitted};

impl CommandInbox {
    /// Commands accepted and not yet applied, in sequence order.
    pub fn waiting(&self) -> &VecDeque<Submitted> {
        &self.queue
    }

    /// The sequence number the next submitted command gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Rebuilds a saved inbox: the waiting commands keep their sequence numbers, and new ones
    /// number on from `next_seq` (raised past every saved command).
    pub fn restore(mut waiting: Vec<Submitted>, next_seq: u64) -> CommandInbox {
        waiting.sort_by_key(|s| s.seq);
        let past_saved = waiting.last().map_or(0, |s| s.seq + 1);
        CommandInbox {
            next_seq: next_seq.max(past_saved),
            queue: waiting.into(),
        }
    }
}
