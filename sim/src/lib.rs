//! The kingdom as a pure, fixed-tick `bevy_ecs` world.
//!
//! Contains: designer config parsing and validation ([`config`]), deterministic map generation
//! and respawns ([`map`]), the world and its tick phases ([`kingdom`], [`schedule`]), hot-reload
//! hand-over ([`active_config`]), the gameplay rules — commands in ([`command`]), cities
//! ([`city`]), marches and path finding ([`march`]), gathering ([`gather`]), monsters
//! ([`monster`]), battles ([`battle`]) — events out ([`events`]), each player's own view
//! ([`player_view`]) and what each player is told ([`player_events`]), a state digest
//! ([`state_hash`]), and the plain data types shared with the boundary crates ([`types`]).
//!
//! Not responsible for: files, sockets, databases, threads that wait, or the wall clock. Time is
//! the tick count; asset files arrive as strings; the root binary does all IO. `clippy.toml`
//! bans wall-clock and unseeded-random calls here.

pub mod active_config;
pub mod aoi;
pub mod battle;
pub mod city;
pub mod clock;
pub mod command;
pub mod config;
pub mod events;
pub mod gather;
pub mod kingdom;
pub mod map;
pub mod march;
pub mod monster;
pub mod player_events;
pub mod player_view;
pub mod rng;
pub mod schedule;
pub mod snapshot;
pub mod state_hash;
pub mod timing;
pub mod types;

#[cfg(test)]
pub(crate) mod test_support;

pub use kingdom::Kingdom;
