//! Settings of a bots run, and the `bots` command line that fills them.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use dominion_net::proto::CommandOutcome;
use dominion_net::transport::tls::Fingerprint;

use super::scenario::{CommandMix, ScenarioConfig};

/// How progress is shown while the run goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    Off,
    /// One status line on stderr every second (rewritten in place on a terminal).
    Stderr,
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct BotsConfig {
    /// The server's QUIC address.
    pub server: SocketAddr,
    /// SHA-256 of the server's certificate (the `certificate sha256` it prints).
    pub fingerprint: Fingerprint,
    /// Concurrent clients.
    pub clients: usize,
    /// How long the bots play after the last one started connecting.
    pub duration: Duration,
    /// New connections started per second.
    pub ramp_per_sec: f64,
    /// Clients sharing one UDP socket / quinn endpoint.
    pub clients_per_endpoint: usize,
    /// Requested UDP receive and send buffer per endpoint (bytes).
    pub udp_buffer: usize,
    /// How long a request waits for its reply before it counts as a timeout.
    pub request_timeout: Duration,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// What the bots do.
    pub scenario: ScenarioConfig,
    /// Progress display.
    pub progress: Progress,
    /// Where every command the server reported as done goes, as (player id, outcome), when a
    /// caller wants to check later that the server kept them (the crash tests).
    pub successes: Option<tokio::sync::mpsc::UnboundedSender<(u64, CommandOutcome)>>,
}

impl BotsConfig {
    /// Defaults for `clients` bots against `server`, pinning `fingerprint`.
    pub fn new(server: SocketAddr, fingerprint: Fingerprint, clients: usize) -> Self {
        BotsConfig {
            server,
            fingerprint,
            clients,
            duration: Duration::from_secs(30),
            ramp_per_sec: 500.0,
            clients_per_endpoint: 500,
            udp_buffer: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
            scenario: ScenarioConfig::default(),
            progress: Progress::Off,
            successes: None,
        }
    }

    /// Time to start every connection at the ramp rate.
    pub fn ramp_duration(&self) -> Duration {
        if self.ramp_per_sec <= 0.0 || !self.ramp_per_sec.is_finite() {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.clients as f64 / self.ramp_per_sec)
    }
}

/// `bots`: drive many QUIC clients against a running `dominion serve` and report latencies,
/// traffic and errors. Exits 1 on protocol errors, 2 when the run could not start.
#[derive(Parser, Debug, Clone)]
#[command(name = "bots", version)]
pub struct BotsArgs {
    /// Server QUIC address, e.g. 127.0.0.1:4433.
    #[arg(long)]
    pub server: SocketAddr,
    /// Server certificate SHA-256 in hex (printed by `dominion serve` as `certificate sha256 …`).
    #[arg(long)]
    pub fingerprint: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Seconds the bots play after the last one started connecting.
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
    /// New connections per second while ramping up.
    #[arg(long, default_value_t = 500.0)]
    pub ramp_per_sec: f64,
    /// Mean milliseconds between two commands of one bot (each gap is 0.5×..1.5× of it).
    #[arg(long, default_value_t = 2000)]
    pub command_interval_ms: u64,
    /// Mean milliseconds between two viewport changes of one bot.
    #[arg(long, default_value_t = 1000)]
    pub pan_interval_ms: u64,
    /// Run seed: bot i logs in as `bot-<seed>-<i>` and draws its actions from (seed, i).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Map width in tiles (must match the server's map.toml).
    #[arg(long, default_value_t = 1200)]
    pub map_width: u16,
    /// Map height in tiles.
    #[arg(long, default_value_t = 1200)]
    pub map_height: u16,
    /// Highest object id to aim at when a bot knows no target (objects are numbered from 1 at
    /// map generation; the server prints the count at start).
    #[arg(long, default_value_t = 20_000)]
    pub max_object_id: u64,
    /// Command weights `march,recall,relocate`.
    #[arg(long, default_value = "60,25,15", value_parser = parse_mix)]
    pub mix: CommandMix,
    /// Clients per UDP socket (quinn endpoint).
    #[arg(long, default_value_t = 500)]
    pub clients_per_endpoint: usize,
    /// Requested UDP buffer per socket in bytes (capped by net.core.rmem_max / wmem_max).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub udp_buffer: usize,
    /// Seconds a request waits for its reply.
    #[arg(long, default_value_t = 10.0)]
    pub request_timeout: f64,
    /// Hide the per-second progress line.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_mix(s: &str) -> Result<CommandMix, String> {
    let parts: Vec<u32> = s
        .split(',')
        .map(|p| p.trim().parse::<u32>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts[..] {
        [march, recall, relocate] if march + recall + relocate > 0 => Ok(CommandMix {
            march,
            recall,
            relocate,
        }),
        _ => Err("expected three weights `march,recall,relocate`, not all zero".into()),
    }
}

impl BotsArgs {
    /// The run settings these arguments describe.
    pub fn into_config(self) -> Result<BotsConfig, String> {
        let fingerprint = Fingerprint::from_hex(self.fingerprint.trim())
            .map_err(|e| format!("--fingerprint: {e}"))?;
        if self.clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        for (name, v) in [
            ("--seconds", self.seconds),
            ("--request-timeout", self.request_timeout),
        ] {
            if !v.is_finite() || v <= 0.0 {
                return Err(format!("{name} must be a positive number of seconds"));
            }
        }
        if self.command_interval_ms == 0 || self.pan_interval_ms == 0 {
            return Err("--command-interval-ms and --pan-interval-ms must be above 0".into());
        }
        if self.map_width == 0 || self.map_height == 0 {
            return Err("--map-width and --map-height must be above 0".into());
        }
        let mut c = BotsConfig::new(self.server, fingerprint, self.clients);
        c.duration = Duration::from_secs_f64(self.seconds);
        c.ramp_per_sec = self.ramp_per_sec;
        c.clients_per_endpoint = self.clients_per_endpoint.max(1);
        c.udp_buffer = self.udp_buffer;
        c.request_timeout = Duration::from_secs_f64(self.request_timeout);
        c.scenario = ScenarioConfig {
            seed: self.seed,
            map_width: self.map_width,
            map_height: self.map_height,
            max_object_id: self.max_object_id.max(1),
            command_interval: Duration::from_millis(self.command_interval_ms),
            pan_interval: Duration::from_millis(self.pan_interval_ms),
            mix: self.mix,
        };
        c.progress = if self.quiet {
            Progress::Off
        } else {
            Progress::Stderr
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn command_line_becomes_a_config() {
        let args = BotsArgs::try_parse_from([
            "bots",
            "--server",
            "127.0.0.1:4433",
            "--fingerprint",
            FP,
            "--clients",
            "2000",
            "--seconds",
            "5",
            "--ramp-per-sec",
            "1000",
            "--command-interval-ms",
            "500",
            "--seed",
            "9",
            "--mix",
            "1,2,3",
        ])
        .unwrap();
        let c = args.into_config().unwrap();
        assert_eq!(c.clients, 2000);
        assert_eq!(c.duration, Duration::from_secs(5));
        assert_eq!(c.ramp_duration(), Duration::from_secs(2));
        assert_eq!(c.scenario.seed, 9);
        assert_eq!(c.scenario.command_interval, Duration::from_millis(500));
        assert_eq!(
            c.scenario.mix,
            CommandMix {
                march: 1,
                recall: 2,
                relocate: 3
            }
        );
        assert_eq!(c.fingerprint.to_hex(), FP);
        assert_eq!(c.progress, Progress::Stderr);
    }

    #[test]
    fn bad_values_are_refused() {
        let base = ["bots", "--server", "127.0.0.1:4433", "--fingerprint"];
        let parse = |extra: &[&str], fp: &str| {
            let mut v: Vec<&str> = base.to_vec();
            v.push(fp);
            v.extend_from_slice(extra);
            BotsArgs::try_parse_from(v)
                .map_err(|e| e.to_string())
                .and_then(|a| a.into_config().map(|_| ()))
        };
        assert!(parse(&[], "abc").unwrap_err().contains("--fingerprint"));
        assert!(parse(&["--clients", "0"], FP).is_err());
        assert!(parse(&["--seconds", "0"], FP).is_err());
        assert!(parse(&["--mix", "0,0,0"], FP).is_err());
        assert!(parse(&["--mix", "1,2"], FP).is_err());
        assert!(parse(&[], FP).is_ok());
    }
}
