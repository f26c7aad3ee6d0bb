//! `dominion-tools`: operator and load-testing tools for Dominion.
//!
//! - [`bots`]: many concurrent QUIC clients that log in, pan viewports and send a realistic
//!   command mix against a running `dominion serve`, then report sessions, latencies, traffic
//!   and errors. The `bots` binary is a thin command line over [`bots::run`].
//! - [`admin`]: the `dominion-admin` command line and its client for the admin API.

pub mod admin;
pub mod bots;
