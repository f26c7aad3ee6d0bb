//! Load-testing bots: many QUIC clients that behave like players.
//!
//! Each bot logs in with a dev token as `bot-<seed>-<i>` (the server founds its city), sets a
//! viewport and then, until the run ends, pans it (small drags, jumps, zoom steps) and sends
//! commands (marches at objects it has learned of or at plausible object ids, recalls of its own
//! marches, city relocations), measuring each request's round trip. Clients share a few quinn
//! endpoints whose UDP sockets have 4 MiB buffers.
//!
//! - [`config`]: run settings and the `bots` command line;
//! - [`scenario`]: the seeded, IO-free behaviour of one bot;
//! - [`runner`]: the async driver ([`run`]);
//! - [`report`]: histograms, counters, error classification and the printed report;
//! - [`rng`]: the deterministic generator behind the scenario.
//!
//! ```no_run
//! # async fn demo(fp: dominion_net::transport::tls::Fingerprint) -> anyhow::Result<()> {
//! use dominion_tools::bots::{self, BotsConfig};
//! let mut config = BotsConfig::new("127.0.0.1:4433".parse()?, fp, 500);
//! config.duration = std::time::Duration::from_secs(20);
//! let report = bots::run(config).await?;
//! println!("{report}");
//! assert_eq!(report.protocol_errors(), 0);
//! # Ok(()) }
//! ```
//!
//! Targets: each bot keeps a [`dominion_net::mirror::Mirror`] of the `WorldDelta` pushes it
//! receives and aims its marches at objects in view that suit the mission (fields for gathering,
//! monsters, cities and marches for attacks, cities for reinforcements); it also hears of ids
//! from other bots' outcomes (cities from relocations, marches from `MarchSent`), and otherwise
//! aims at ids in `1..=max_object_id`. A delta that does not decode is a protocol error; one the
//! mirror refuses (views diverged) is counted as a desync, and the bot resets its mirror and
//! sends its viewport again.

//!
//! # Measured (2 cores shared by server and bots, release, 1200×1200 kingdom, 10 Hz)
//!
//! 20 s after a 200/s ramp, commands every 2 s and pans every 1 s per bot. Commands (and, since
//! the AOI wiring, viewport changes) wait for the next tick, so their RTT has a floor of one tick
//! period (p99 ≈ 100 ms even when idle); "passes" below means p99 ≤ 150 ms, no failures.
//!
//! Server at 2f8b081 (AOI deltas pushed; every bot's mirror applied them with no desync):
//! - Relocations only (`--mix 0,0,1`): 1000 bots pass (cmd p99 119 ms, viewport p99 114 ms,
//!   ~0.29 server core-ms per session-second, ~1.5 KB/s received per client); 2000 fail
//!   (p99 1.2 s).
//! - Default mix (60 % marches): 50 bots already fail (cmd p99 539 ms, ticks overrun to
//!   876 ms); 200 bots keep the tick thread at one full core (cmd p99 3.6 s). `SendMarch` route
//!   searches at random far targets dominate the tick (5–7 core-ms per session-second).
//!
//! Server at 42346b9 (no AOI pushes): relocations only, 1500 bots pass; default mix, 25 fail.
//!
//! Server at 6adcc3b (routes from the precomputed route graph, route budget 128 per tick),
//! `tools/capacity.sh N SECONDS` (waits for the first full save, then runs the default mix):
//! - 300 bots, 20 s: 0 skipped ticks, 0 overruns; cmd p50 67 ms, p99 240 ms; viewport p99
//!   327 ms (before: cmd p50 4.0 s, 198 skipped ticks).
//! - 1000 bots, 30–60 s: 0 skipped ticks once the first save is done, but ticks take 25–100 ms
//!   (AOI ~23 ms and Receive ~21 ms a tick) and far march orders (random ids are mostly far)
//!   queue behind the route budget: cmd p50 1.6–2.8 s. Not yet the 1,000-session target.

pub mod config;
pub mod report;
pub mod rng;
pub mod runner;
pub mod scenario;

pub use config::{BotsArgs, BotsConfig, Progress};
pub use report::{ErrorKind, Report, Stats};
pub use runner::run;
pub use scenario::{Bot, CommandMix, ScenarioConfig, TargetKind};
