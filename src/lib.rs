//! The Dominion server: wires the pure sim to the wall clock, files, metrics and (as they land)
//! the network, persistence and services.
//!
//! Not responsible for: game rules (`dominion-sim`), wire formats (`dominion-net`), database
//! formats (`dominion-persistence`).

pub mod admin;
pub mod assets;
pub mod commands;
pub mod datafix;
pub mod driver;
pub mod fence;
pub mod gateway;
pub mod grants;
pub mod guild;
pub mod inbox;
pub mod journal;
pub mod login;
pub mod mail;
pub mod map_watch;
pub mod metrics;
pub mod own_view;
pub mod persist;
pub mod preview;
pub mod recovery;
pub mod replay;
pub mod replay_cmd;
pub mod route_admission;
pub mod route_prefetch;
pub mod serve;
pub mod tick_loop;
pub mod tick_status;
pub mod ticket_cmd;
pub mod watch;
pub mod world_bridge;
pub mod world_query;
