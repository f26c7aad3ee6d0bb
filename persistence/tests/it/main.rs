//! Integration tests of dominion-persistence against real backends: one behavioural suite per
//! trait, run against every backend (SQLite + MongoDB stores, embedded + Redis coordination),
//! plus the save pipeline with the database down.

#[macro_use]
mod common;
mod coordination;
mod mail;
mod multiprocess;
mod save_queue;
mod store;
