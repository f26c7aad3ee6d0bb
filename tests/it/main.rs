//! Integration tests of the `dominion` server, linked as one binary.

mod assets_golden;
mod exact_restore;
mod fair_inbox;
mod hot_reload;
mod login;
mod map_determinism;
mod persistence;
mod serve_smoke;
mod support;
