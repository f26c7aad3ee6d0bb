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
//! sends its viewport again. Each bot also keeps a [`dominion_net::player_view::PlayerView`] of
//! its `PlayerDelta` pushes (a refusal is a desync); the report gives the frame bytes per client
//! per second of `PlayerDelta` and `PlayerEvent` pushes (measured 2026-11-30, release,
//! `tools/capacity.sh 1000 40`, default mix: 128.5 B/s `PlayerDelta` and 14.8 B/s
//! `PlayerEvent` per client, of 5,245 B/s received in all; 0 desyncs).

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
//!
//! Server at 89849cb (plus the AOI strip/segment-cell work), 1000 bots, 60 s, by route budget:
//! - 128: 0 skipped, 1 overrun; tick p50 ≤ 25.6 ms, p99 ≤ 51 ms (histogram bounds); cmd p50
//!   1.46 s, p99 3.3 s (far orders queue behind the budget); viewport p50 55 ms, p99 307 ms.
//! - 192 (the default): 0 skipped, 1 overrun; same tick figures; cmd p50 122 ms, p99 1.35 s;
//!   viewport p99 274 ms; server 44 s CPU in 62 s (0.7 core, ~0.7 core-ms per
//!   session-second), bots 35.5 s.
//! - 256: 22 overruns, tick p99 ≤ 205 ms, viewport p99 1.16 s.
//!
//! Server at 46e0b92 (AOI deltas encoded once per tick and shared), 1000 bots, 60 s, budget 192:
//! 0 skipped, 0 overruns; tick p50 ≤ 25.6 ms, p99 ≤ 51 ms; cmd p50 120 ms, p99 951 ms;
//! viewport p50 55 ms, p99 649 ms; server 43 s CPU in 62 s, bots 36.6 s.
//! Not yet the target (tick p99 ≤ 10 ms, cmd p99 ≤ 150 ms): AOI ~10 ms and Receive ~8 ms a tick.
//!
//! Server at fd6b780 (routes planned between ticks, a live tick taking at most 8 unplanned far
//! orders, the sim's budget 2048; `--pre-login-requests-per-ip-per-sec` lifted by capacity.sh,
//! without which 401 of the 1,000 logins from one address were refused), 1000 bots, 60 s:
//! 0 skipped, 0 overruns; tick p50 ≤ 10.8 ms, p99 ≤ 21.5 ms (bucket bounds; AOI p50 ≤ 12.8 ms
//! is most of it); cmd p50 76 ms, p99 133 ms, max 233 ms; viewport p99 102 ms; server 30.4 s
//! CPU in 62 s (~0.49 core, 0.49 core-ms per session-second), bots 23.7 s.
//! Still not the target for ticks (p99 ≤ 10 ms): the AOI's pans and change diffs.

pub mod config;
pub mod report;
pub mod rng;
pub mod runner;
pub mod scenario;

pub use config::{BotsArgs, BotsConfig, Progress};
pub use report::{ErrorKind, Report, Stats};
pub use runner::run;
pub use scenario::{Bot, CommandMix, ScenarioConfig, TargetKind};
