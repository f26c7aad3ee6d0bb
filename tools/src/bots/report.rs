//! Measurements of a bots run and the final report: latency histograms (HdrHistogram, in
//! microseconds), counters, errors by kind, and command outcomes (rule refusals are outcomes,
//! not errors).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use dominion_net::client::ClientError;
use dominion_net::proto::{CloseCode, CommandOutcome, ErrorCode, ServerMessage};
use hdrhistogram::Histogram;

/// Where in a session an error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// QUIC handshake and opening the request stream.
    Connect,
    /// The Login request.
    Login,
    /// A request of a logged-in session (viewport, command).
    Request,
}

/// Error kinds counted in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The connection could not be established (handshake failed or timed out, bad pin).
    Connect,
    /// The server refused or failed the login.
    Login,
    /// A request got no reply within the request timeout.
    Timeout,
    /// Malformed replies, unexpected message types, protocol-level error codes, or the server
    /// closing the connection as a protocol violation. Any of these fails the run.
    Protocol,
    /// A request was answered with an error reply that is not a protocol error (rate limited,
    /// maintenance, internal).
    Server,
    /// The server closed or lost the connection for another reason (kick, slow consumer,
    /// shutdown, idle timeout).
    Closed,
    /// A world delta decoded but did not fit the bot's mirror (client and server views
    /// diverged); the bot resets its mirror and asks for its viewport again.
    Desync,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Connect,
        ErrorKind::Login,
        ErrorKind::Timeout,
        ErrorKind::Protocol,
        ErrorKind::Server,
        ErrorKind::Closed,
        ErrorKind::Desync,
    ];

    /// Short name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Login => "login",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Server => "server-error",
            ErrorKind::Closed => "closed-by-server",
            ErrorKind::Desync => "mirror-desync",
        }
    }
}

/// Error codes of the protocol layer that mean a malformed or out-of-order exchange.
fn is_protocol_code(code: u16) -> bool {
    [
        ErrorCode::MALFORMED,
        ErrorCode::OVERSIZE,
        ErrorCode::UNKNOWN_TYPE,
        ErrorCode::NOT_AUTHENTICATED,
        ErrorCode::ALREADY_AUTHENTICATED,
    ]
    .iter()
    .any(|c| c.0 == code)
}

/// Classifies a connection-level end: a protocol-violation close is a protocol error, any other
/// server close is [`ErrorKind::Closed`]; `None` for a close this side made.
pub fn classify_close(err: &quinn::ConnectionError) -> Option<ErrorKind> {
    match err {
        quinn::ConnectionError::LocallyClosed => None,
        quinn::ConnectionError::ApplicationClosed(close)
            if close.error_code.into_inner() == u64::from(CloseCode::PROTOCOL_VIOLATION.0) =>
        {
            Some(ErrorKind::Protocol)
        }
        quinn::ConnectionError::TransportError(_) => Some(ErrorKind::Protocol),
        _ => Some(ErrorKind::Closed),
    }
}

/// Classifies a client error that happened in `phase`.
pub fn classify(err: &ClientError, phase: Phase) -> ErrorKind {
    match err {
        ClientError::Protocol(_) | ClientError::Unexpected { .. } | ClientError::Encode(_) => {
            ErrorKind::Protocol
        }
        ClientError::Server { code, .. } if is_protocol_code(*code) => ErrorKind::Protocol,
        ClientError::Connection(e) if phase != Phase::Connect => {
            classify_close(e).unwrap_or(ErrorKind::Closed)
        }
        _ => match phase {
            Phase::Connect => ErrorKind::Connect,
            Phase::Login => match err {
                ClientError::Timeout(_) => ErrorKind::Timeout,
                ClientError::Server { .. } => ErrorKind::Login,
                _ => ErrorKind::Closed,
            },
            Phase::Request => match err {
                ClientError::Timeout(_) => ErrorKind::Timeout,
                ClientError::Server { .. } => ErrorKind::Server,
                _ => ErrorKind::Closed,
            },
        },
    }
}

/// A latency histogram in microseconds (1 µs .. 1 h, 3 significant digits).
#[derive(Clone, Debug)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"))
    }
}

impl Latency {
    /// Records one duration (clamped into the histogram's range).
    pub fn record(&mut self, d: Duration) {
        self.0
            .saturating_record(d.as_micros().clamp(1, u128::from(u64::MAX)) as u64);
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The `q` quantile (0..=1) in milliseconds; 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    /// The largest sample in milliseconds; 0 when empty.
    pub fn max_ms(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.max() as f64 / 1000.0
    }
}

/// Everything measured during a run, merged over all bots.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// QUIC handshake (and request stream) time per successful connection.
    pub connect: Latency,
    /// Login request round trip per successful login.
    pub login: Latency,
    /// Command round trip (send to `CommandResult`), answered commands only.
    pub command_rtt: Latency,
    /// SetViewport round trip.
    pub viewport_rtt: Latency,
    /// Sessions that logged in.
    pub sessions_ok: u64,
    /// Sessions that failed to connect or log in.
    pub sessions_failed: u64,
    /// Sessions that got at least one command answered.
    pub sessions_answered: u64,
    /// World deltas applied to the bots' mirrors.
    pub deltas_applied: u64,
    /// Objects in view at the end of the sessions, summed over bots.
    pub objects_in_view: u64,
    /// Commands sent.
    pub commands_sent: u64,
    /// Commands answered with a `CommandResult`.
    pub commands_answered: u64,
    /// Accepted outcomes by name (`MarchSent`, `Recalled`, `Relocated`).
    pub accepted: BTreeMap<&'static str, u64>,
    /// Rule refusals by reason code.
    pub refused: BTreeMap<u16, u64>,
    /// One refusal message per reason code, for the report.
    pub refusal_messages: BTreeMap<u16, String>,
    /// Viewport changes answered.
    pub viewports: u64,
    /// Pushes received, by message type name.
    pub pushes: BTreeMap<&'static str, u64>,
    /// Frame bytes of the player's own pushes (`PlayerDelta`, `PlayerEvent`), by type name.
    pub own_push_bytes: BTreeMap<&'static str, u64>,
    /// Errors by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// The first few error messages per kind.
    pub error_examples: BTreeMap<ErrorKind, Vec<String>>,
    /// Bytes received over UDP (QUIC `udp_rx`), summed over sessions.
    pub bytes_rx: u64,
    /// Bytes sent over UDP, summed over sessions.
    pub bytes_tx: u64,
    /// Logged-in time summed over sessions (seconds), the denominator of per-client rates.
    pub session_seconds: f64,
}

/// Error messages kept per kind.
const EXAMPLES_PER_KIND: usize = 3;

impl Stats {
    /// Counts one error with its message.
    pub fn error(&mut self, kind: ErrorKind, message: impl fmt::Display) {
        *self.errors.entry(kind).or_default() += 1;
        let examples = self.error_examples.entry(kind).or_default();
        if examples.len() < EXAMPLES_PER_KIND {
            examples.push(message.to_string());
        }
    }

    /// Counts one answered command.
    pub fn outcome(&mut self, outcome: &CommandOutcome, rtt: Duration) {
        self.commands_answered += 1;
        self.command_rtt.record(rtt);
        match outcome {
            CommandOutcome::MarchSent { .. } => *self.accepted.entry("MarchSent").or_default() += 1,
            CommandOutcome::Recalled { .. } => *self.accepted.entry("Recalled").or_default() += 1,
            CommandOutcome::Relocated { .. } => *self.accepted.entry("Relocated").or_default() += 1,
            CommandOutcome::Refused {
                reason_code,
                message,
            } => {
                *self.refused.entry(*reason_code).or_default() += 1;
                self.refusal_messages
                    .entry(*reason_code)
                    .or_insert_with(|| message.clone());
            }
        }
    }

    /// Counts one push.
    pub fn push(&mut self, message: &ServerMessage) {
        *self
            .pushes
            .entry(message.message_type().name())
            .or_default() += 1;
    }

    /// Adds the counters a session's push reader kept (pushes, mirror figures, errors).
    pub fn absorb_push_counts(&mut self, other: Stats) {
        for (name, n) in other.pushes {
            *self.pushes.entry(name).or_default() += n;
        }
        for (name, n) in other.own_push_bytes {
            *self.own_push_bytes.entry(name).or_default() += n;
        }
        self.deltas_applied += other.deltas_applied;
        self.objects_in_view += other.objects_in_view;
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
            let mine = self.error_examples.entry(kind).or_default();
            for e in other.error_examples.get(&kind).into_iter().flatten() {
                if mine.len() < EXAMPLES_PER_KIND {
                    mine.push(e.clone());
                }
            }
        }
    }

    /// Errors of `kind` so far.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors.get(&kind).copied().unwrap_or(0)
    }
}

/// The end-of-run report.
#[derive(Clone, Debug)]
pub struct Report {
    /// Clients asked for.
    pub clients: usize,
    /// Wall time from the first connection attempt to the last session's end.
    pub elapsed: Duration,
    /// Time from the first command sent to the end of the run (the commands/s denominator).
    pub command_window: Duration,
    /// Everything measured.
    pub stats: Stats,
}

impl Report {
    /// Protocol errors (a non-zero count fails the run).
    pub fn protocol_errors(&self) -> u64 {
        self.stats.errors_of(ErrorKind::Protocol)
    }

    /// Answered commands per second over the command window.
    pub fn commands_per_sec(&self) -> f64 {
        per_sec(self.stats.commands_answered, self.command_window)
    }

    /// Mean UDP bytes received per logged-in client per second.
    pub fn rx_bytes_per_client_sec(&self) -> f64 {
        if self.stats.session_seconds <= 0.0 {
            return 0.0;
        }
        self.stats.bytes_rx as f64 / self.stats.session_seconds
    }

    /// Mean frame bytes of one own-push type (`PlayerDelta`, `PlayerEvent`) per logged-in
    /// client per second.
    pub fn own_push_bytes_per_client_sec(&self, name: &str) -> f64 {
        if self.stats.session_seconds <= 0.0 {
            return 0.0;
        }
        self.stats.own_push_bytes.get(name).copied().unwrap_or(0) as f64
            / self.stats.session_seconds
    }

    /// Mean UDP bytes sent per logged-in client per second.
    pub fn tx_bytes_per_client_sec(&self) -> f64 {
        if self.stats.session_seconds <= 0.0 {
            return 0.0;
        }
        self.stats.bytes_tx as f64 / self.stats.session_seconds
    }

    /// Rule refusals in total.
    pub fn refusals(&self) -> u64 {
        self.stats.refused.values().sum()
    }
}

fn per_sec(n: u64, window: Duration) -> f64 {
    let s = window.as_secs_f64();
    if s <= 0.0 { 0.0 } else { n as f64 / s }
}

fn latency_line(f: &mut fmt::Formatter<'_>, name: &str, l: &Latency) -> fmt::Result {
    writeln!(
        f,
        "  {name:<13} n={:<8} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        l.count(),
        l.quantile_ms(0.50),
        l.quantile_ms(0.90),
        l.quantile_ms(0.99),
        l.max_ms()
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(f, "== dominion bots report ==")?;
        writeln!(
            f,
            "sessions: {} requested, {} connected, {} failed, {} with answered commands ({:.1} s run)",
            self.clients,
            s.sessions_ok,
            s.sessions_failed,
            s.sessions_answered,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "latency:")?;
        latency_line(f, "connect", &s.connect)?;
        latency_line(f, "login", &s.login)?;
        latency_line(f, "command rtt", &s.command_rtt)?;
        latency_line(f, "viewport rtt", &s.viewport_rtt)?;
        writeln!(
            f,
            "commands: {} sent, {} answered, {:.1}/s over {:.1} s; viewport changes {}",
            s.commands_sent,
            s.commands_answered,
            self.commands_per_sec(),
            self.command_window.as_secs_f64(),
            s.viewports
        )?;
        let accepted: Vec<String> = s.accepted.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(
            f,
            "  accepted: {}",
            if accepted.is_empty() {
                "none".to_string()
            } else {
                accepted.join(", ")
            }
        )?;
        writeln!(
            f,
            "  refused by rule (outcomes, not errors): {}",
            self.refusals()
        )?;
        for (code, n) in &s.refused {
            let msg = s
                .refusal_messages
                .get(code)
                .map(String::as_str)
                .unwrap_or("");
            writeln!(f, "    {code:>4}: {n:<8} e.g. {msg:?}")?;
        }
        let pushes: Vec<String> = s.pushes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(
            f,
            "traffic: {:.0} B/s received and {:.0} B/s sent per client (QUIC udp bytes, replies + pushes); pushes: {}",
            self.rx_bytes_per_client_sec(),
            self.tx_bytes_per_client_sec(),
            if pushes.is_empty() {
                "none".to_string()
            } else {
                pushes.join(", ")
            }
        )?;
        writeln!(
            f,
            "own view: {:.1} B/s PlayerDelta and {:.1} B/s PlayerEvent per client (frame bytes)",
            self.own_push_bytes_per_client_sec("PlayerDelta"),
            self.own_push_bytes_per_client_sec("PlayerEvent"),
        )?;
        writeln!(
            f,
            "mirrors: {} world deltas applied; {:.1} objects in view per client at the end",
            s.deltas_applied,
            if s.sessions_ok == 0 {
                0.0
            } else {
                s.objects_in_view as f64 / s.sessions_ok as f64
            }
        )?;
        let total: u64 = s.errors.values().sum();
        writeln!(f, "errors: {total}")?;
        for kind in ErrorKind::ALL {
            let n = s.errors_of(kind);
            if n == 0 {
                continue;
            }
            writeln!(f, "  {:<16} {n}", kind.name())?;
            for e in s.error_examples.get(&kind).into_iter().flatten() {
                writeln!(f, "    e.g. {e}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latency::default();
        assert_eq!(l.quantile_ms(0.99), 0.0, "empty histogram reads 0");
        for ms in 1..=1000u64 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.count(), 1000);
        // 3 significant digits: within 0.1 %.
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(l.quantile_ms(0.50), 500.0), "{}", l.quantile_ms(0.5));
        assert!(close(l.quantile_ms(0.99), 990.0), "{}", l.quantile_ms(0.99));
        assert!(close(l.max_ms(), 1000.0), "{}", l.max_ms());
        let mut other = Latency::default();
        other.record(Duration::from_secs(5));
        l.merge(&other);
        assert_eq!(l.count(), 1001);
        assert!(close(l.max_ms(), 5000.0));
        // Sub-microsecond samples count as 1 µs rather than vanishing.
        let mut tiny = Latency::default();
        tiny.record(Duration::from_nanos(10));
        assert_eq!(tiny.count(), 1);
    }

    #[test]
    fn errors_are_classified_by_phase_and_kind() {
        let timeout = ClientError::Timeout(Duration::from_secs(1));
        assert_eq!(classify(&timeout, Phase::Request), ErrorKind::Timeout);
        assert_eq!(classify(&timeout, Phase::Login), ErrorKind::Timeout);
        assert_eq!(classify(&timeout, Phase::Connect), ErrorKind::Connect);
        let bad = ClientError::Protocol("undecodable".into());
        assert_eq!(classify(&bad, Phase::Request), ErrorKind::Protocol);
        let malformed = ClientError::Server {
            code: ErrorCode::MALFORMED.0,
            message: "bad".into(),
        };
        assert_eq!(classify(&malformed, Phase::Request), ErrorKind::Protocol);
        let auth = ClientError::Server {
            code: ErrorCode::AUTH_FAILED.0,
            message: "no".into(),
        };
        assert_eq!(classify(&auth, Phase::Login), ErrorKind::Login);
        let limited = ClientError::Server {
            code: ErrorCode::RATE_LIMITED.0,
            message: "slow".into(),
        };
        assert_eq!(classify(&limited, Phase::Request), ErrorKind::Server);
        assert_eq!(
            classify(&ClientError::ConnectionLost, Phase::Request),
            ErrorKind::Closed
        );
        assert_eq!(
            classify_close(&quinn::ConnectionError::LocallyClosed),
            None,
            "our own close is no error"
        );
        assert_eq!(
            classify_close(&quinn::ConnectionError::TimedOut),
            Some(ErrorKind::Closed)
        );
    }

    #[test]
    fn report_counts_outcomes_apart_from_errors() {
        let mut s = Stats {
            sessions_ok: 2,
            commands_sent: 4,
            ..Stats::default()
        };
        s.outcome(
            &CommandOutcome::MarchSent {
                march_id: 1,
                arrival_tick: 2,
            },
            Duration::from_millis(40),
        );
        for _ in 0..2 {
            s.outcome(
                &CommandOutcome::Refused {
                    reason_code: 20,
                    message: "the target is no longer there".into(),
                },
                Duration::from_millis(60),
            );
        }
        s.error(ErrorKind::Timeout, "no reply within 10s");
        for i in 0..5 {
            s.error(ErrorKind::Protocol, format!("bad {i}"));
        }
        s.bytes_rx = 10_000;
        s.session_seconds = 4.0;
        let r = Report {
            clients: 2,
            elapsed: Duration::from_secs(3),
            command_window: Duration::from_secs(2),
            stats: s,
        };
        assert_eq!(r.refusals(), 2);
        assert_eq!(r.protocol_errors(), 5);
        assert_eq!(r.stats.error_examples[&ErrorKind::Protocol].len(), 3);
        assert!((r.commands_per_sec() - 1.5).abs() < 1e-9);
        assert!((r.rx_bytes_per_client_sec() - 2500.0).abs() < 1e-9);
        let text = r.to_string();
        assert!(
            text.contains("2 requested, 2 connected, 0 failed"),
            "{text}"
        );
        assert!(text.contains("accepted: MarchSent 1"), "{text}");
        assert!(
            text.contains("refused by rule (outcomes, not errors): 2"),
            "{text}"
        );
        assert!(text.contains("20: 2"), "{text}");
        assert!(text.contains("timeout          1"), "{text}");
        assert!(text.contains("protocol         5"), "{text}");
        assert!(text.contains("2500 B/s received"), "{text}");
    }
}
