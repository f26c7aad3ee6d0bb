//! Integration tests of the `dominion` server, linked as one binary.

mod admin;
mod admin_map;
mod admin_tickets;
mod assets_golden;
mod crash_recovery;
mod exact_restore;
mod failing_deps;
mod fair_inbox;
mod fencing;
mod grant_soak;
mod grants;
mod hostile_clients;
mod hot_reload;
mod journal_replay;
mod login;
mod mail;
mod map_determinism;
mod persistence;
mod player_events;
mod player_view;
mod presence;
mod private_redis;
mod private_secantus;
mod raw_client;
mod serve_smoke;
mod support;
