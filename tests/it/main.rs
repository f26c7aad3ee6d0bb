//! Integration tests of the `dominion` server, linked as one binary.

mod assets_golden;
mod fair_inbox;
mod hot_reload;
mod login;
mod mail;
mod map_determinism;
mod persistence;
mod player_events;
mod player_view;
mod serve_smoke;
mod support;
