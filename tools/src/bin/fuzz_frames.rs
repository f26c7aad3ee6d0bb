//! `fuzz_frames`: a long fuzz run outside the test suite. Pushes N random and mutated frames
//! (default 10⁷) through the protocol core exactly as the server runs it — frame decoder,
//! message validation, session state machine with rate limits and violation policy — in random
//! chunk sizes, on sessions before and after login. Checks that nothing panics, that every reply
//! the core sends decodes as a server message, and that every delivered message re-encodes to
//! itself (it passed validation). Prints the count and the time; exits non-zero on a failure
//! with the seed that reproduces it.
//!
//!   cargo run --release -p dominion-tools --bin fuzz_frames -- [--frames N] [--seed S]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use dominion_net::proto::{
    Action, ClientMessage, Command, CommandBody, FrameDecoder, GuildActionWire, GuildChatHistory,
    GuildChatSend, GuildRequest, Login, MailDelete, MailList, MailMarkRead, MailRead, Ping,
    RateLimit, Resume, ServerMessage, Session, SessionConfig, SessionState, SetViewport,
};
use dominion_sim::types::PlayerId;

#[derive(Parser)]
#[command(about = "Fuzz the protocol core with random and mutated frames")]
struct Args {
    /// Frames to push through (each a random or mutated frame).
    #[arg(long, default_value_t = 10_000_000)]
    frames: u64,
    /// Seed of the run (the same seed replays the same inputs).
    #[arg(long, default_value_t = 0x5eed_f00d)]
    seed: u64,
    /// Frames per session before a fresh one starts.
    #[arg(long, default_value_t = 2_000)]
    frames_per_session: u64,
}

/// SplitMix64: small, fast, and reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Valid frames of every client message kind, some at their limits.
fn valid_frames(rng: &mut Rng) -> Vec<Vec<u8>> {
    let long = "x".repeat(rng.below(300));
    let msgs: Vec<ClientMessage> = vec![
        Login {
            openid: "alice".into(),
            platform_token: format!("{}.{}", rng.next(), long),
            client_version: "1.0.0".into(),
        }
        .into(),
        Resume {
            resume_token: long.clone(),
        }
        .into(),
        SetViewport {
            x: rng.next() as u16,
            y: rng.next() as u16,
            w: (rng.below(80)) as u16,
            h: (rng.below(80)) as u16,
            zoom: rng.below(5) as u8,
        }
        .into(),
        Ping { nonce: rng.next() }.into(),
        Command {
            body: CommandBody::SendMarch {
                troops: (0..rng.below(6))
                    .map(|i| (i as u16, rng.next() as u32))
                    .collect(),
                target: rng.next(),
                mission: rng.below(6) as u8,
            },
        }
        .into(),
        Command {
            body: CommandBody::Recall {
                march_id: rng.next(),
            },
        }
        .into(),
        Command {
            body: CommandBody::RelocateCity {
                x: rng.next() as u16,
                y: rng.next() as u16,
            },
        }
        .into(),
        MailList {
            before: rng.next(),
            limit: rng.next() as u16,
        }
        .into(),
        MailRead { id: rng.next() }.into(),
        MailMarkRead {
            ids: (0..rng.below(40)).map(|_| rng.next()).collect(),
        }
        .into(),
        MailDelete { id: rng.next() }.into(),
        dominion_net::proto::MailClaim { id: rng.next() }.into(),
        GuildRequest {
            action: match rng.below(6) {
                0 => GuildActionWire::Create {
                    name: long.clone(),
                    tag: "NW".into(),
                },
                1 => GuildActionWire::Invite { player: rng.next() },
                2 => GuildActionWire::SetRole {
                    player: rng.next(),
                    role: rng.below(4) as u8,
                },
                3 => GuildActionWire::EditNotice { text: long.clone() },
                4 => GuildActionWire::Find {
                    name_or_tag: long.clone(),
                },
                _ => GuildActionWire::Leave,
            },
        }
        .into(),
        GuildChatSend { text: long.clone() }.into(),
        GuildChatHistory {
            before: rng.next(),
            limit: rng.next() as u16,
        }
        .into(),
    ];
    msgs.iter()
        .map(|m| {
            let id = if rng.chance(10) { 0 } else { rng.next() as u32 };
            m.encode_frame(id).expect("sample messages encode")
        })
        .collect()
}

/// One input: a valid frame, a mutated one, a splice of two, or random bytes.
fn input(rng: &mut Rng, frames: &[Vec<u8>]) -> Vec<u8> {
    let pick = |rng: &mut Rng| frames[rng.below(frames.len())].clone();
    match rng.below(10) {
        0 => pick(rng),
        1 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
        2 => {
            // A valid header with a random body.
            let mut f = pick(rng);
            f.truncate(10);
            let n = rng.below(200);
            f[..4].copy_from_slice(&((6 + n) as u32).to_le_bytes());
            f.extend((0..n).map(|_| rng.next() as u8));
            f
        }
        3 => {
            let (a, b) = (pick(rng), pick(rng));
            let cut = rng.below(a.len());
            let mut f = a[..cut].to_vec();
            f.extend_from_slice(&b[rng.below(b.len())..]);
            f
        }
        _ => {
            let mut f = pick(rng);
            for _ in 0..1 + rng.below(4) {
                mutate(rng, &mut f);
            }
            f
        }
    }
}

fn mutate(rng: &mut Rng, buf: &mut Vec<u8>) {
    if buf.is_empty() {
        buf.push(rng.next() as u8);
        return;
    }
    let n = buf.len();
    match rng.below(12) {
        0 | 6 | 7 => buf[rng.below(n)] ^= 1 << rng.below(8),
        1 | 8 | 9 => buf[rng.below(n)] = rng.next() as u8,
        2 => buf.truncate(rng.below(n + 1)),
        3 => {
            let at = rng.below(n + 1);
            let extra: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
            buf.splice(at..at, extra);
        }
        4 | 10 => {
            let at = rng.below(n);
            let end = (at + 1 + rng.below(16)).min(n);
            buf.drain(at..end);
        }
        _ => {
            // A hostile length field.
            let len = [0u32, 1, 5, 6, 7, 255, 65_536, u32::MAX][rng.below(8)];
            if n >= 4 {
                buf[..4].copy_from_slice(&len.to_le_bytes());
            }
        }
    }
}

fn config(rng: &mut Rng) -> SessionConfig {
    let tight = rng.chance(20);
    SessionConfig {
        max_frame_len: [256, 4096, 64 * 1024][rng.below(3)],
        rate: if tight {
            RateLimit {
                per_second: 5.0,
                burst: 3,
            }
        } else {
            RateLimit {
                per_second: 1e9,
                burst: u32::MAX,
            }
        },
        max_violations: if rng.chance(50) { u32::MAX } else { 5 },
        max_rate_limited: if rng.chance(50) { u32::MAX } else { 200 },
        // Small enough that a hostile length closes the session (a fresh one takes the next
        // inputs) instead of skipping a megabyte of them.
        max_skip_len: [1024, 4096][rng.below(2)],
        ..SessionConfig::default()
    }
}

/// Checks one action; returns an error text for a broken invariant.
fn check(action: Action, state: SessionState) -> Result<(), String> {
    match action {
        Action::Send(frame) => {
            let mut d = FrameDecoder::new(u32::MAX);
            d.feed(&frame);
            let f = d
                .next_frame()
                .ok_or("a reply is not a whole frame")?
                .map_err(|e| format!("a reply frame is bad: {e}"))?;
            ServerMessage::decode(f.msg_type, &f.body)
                .map_err(|e| format!("a reply does not decode: {e}"))?;
            if d.next_frame().is_some() {
                return Err("a Send action held more than one frame".into());
            }
        }
        Action::Deliver { message, .. } => {
            let body = message
                .encode_body()
                .map_err(|e| format!("a delivered message does not re-encode: {e}"))?;
            let back = ClientMessage::decode(message.message_type().id(), &body)
                .map_err(|e| format!("a delivered message does not decode again: {e}"))?;
            if back != message {
                return Err(format!("round trip changed {message:?} into {back:?}"));
            }
        }
        Action::Close { .. } => {
            if state != SessionState::Closing {
                return Err(format!("Close emitted in state {state:?}"));
            }
        }
    }
    Ok(())
}

/// What one run saw.
#[derive(Default)]
struct Counts {
    /// Inputs fed (each a random or mutated frame).
    inputs: u64,
    /// Frames the core decoded out of them (valid or not).
    decoded: u64,
    /// Replies the core sent (each decoded again here).
    replies: u64,
    /// Messages delivered to the application (each round-tripped here).
    delivered: u64,
}

/// One session's worth of inputs from `seed`.
fn run_session(seed: u64, frames: u64) -> Result<Counts, String> {
    let mut rng = Rng(seed);
    let valid = valid_frames(&mut rng);
    let start = Instant::now();
    let mut session = Session::new(config(&mut rng), start);
    if rng.chance(50) {
        session.authenticate(PlayerId(rng.next() >> 16));
    }
    let (mut replies, mut delivered, mut decoded) = (0, 0, 0);
    let mut clock = start;
    let mut fed = 0;
    while fed < frames {
        let mut bytes = Vec::new();
        let batch = 1 + rng.below(8) as u64;
        for _ in 0..batch {
            bytes.extend(input(&mut rng, &valid));
        }
        fed += batch;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let take = (1 + rng.below(300)).min(rest.len());
            clock += Duration::from_micros(rng.below(20_000) as u64);
            session.handle_timeout(clock);
            session.handle_bytes(clock, &rest[..take]);
            rest = &rest[take..];
            while let Some(a) = session.poll_action() {
                match &a {
                    Action::Send(_) => replies += 1,
                    Action::Deliver { message, .. } => {
                        delivered += 1;
                        // The application answers logins either way, as the gateway does.
                        if matches!(message, ClientMessage::Login(_) | ClientMessage::Resume(_)) {
                            if rng.chance(50) {
                                session.authenticate(PlayerId(7));
                            } else {
                                session.login_refused();
                            }
                        }
                    }
                    Action::Close { .. } => {}
                }
                check(a, session.state())?;
            }
        }
        if session.state() == SessionState::Closing {
            // A closed session ignores input; start a fresh one to keep the inputs useful.
            decoded += session.stats().frames;
            session = Session::new(config(&mut rng), clock);
        }
    }
    let stats = session.stats();
    if stats.delivered > stats.frames {
        return Err(format!("more delivered than decoded: {stats:?}"));
    }
    Ok(Counts {
        inputs: fed,
        decoded: decoded + stats.frames,
        replies,
        delivered,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let mut rng = Rng(args.seed);
    let mut total = Counts::default();
    let mut sessions = 0u64;
    let mut next_report = started + Duration::from_secs(10);
    while total.inputs < args.frames {
        let seed = rng.next();
        let n = args
            .frames_per_session
            .min(args.frames - total.inputs)
            .max(1);
        let result = std::panic::catch_unwind(|| run_session(seed, n));
        match result {
            Ok(Ok(c)) => {
                total.inputs += c.inputs;
                total.decoded += c.decoded;
                total.replies += c.replies;
                total.delivered += c.delivered;
                sessions += 1;
            }
            Ok(Err(why)) => {
                eprintln!("fuzz_frames: FAILED at session seed {seed:#x}: {why}");
                return ExitCode::FAILURE;
            }
            Err(_) => {
                eprintln!("fuzz_frames: PANIC at session seed {seed:#x} (see the message above)");
                return ExitCode::FAILURE;
            }
        }
        if Instant::now() >= next_report {
            eprintln!(
                "fuzz_frames: {} inputs, {:.0} s",
                total.inputs,
                started.elapsed().as_secs_f64()
            );
            next_report += Duration::from_secs(10);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz_frames: {} inputs in {sessions} sessions, {} frames decoded by the core, {} replies \
         (all decode), {} delivered (all round-trip), no panic; {secs:.1} s ({:.0} inputs/s), \
         seed {:#x}",
        total.inputs,
        total.decoded,
        total.replies,
        total.delivered,
        total.inputs as f64 / secs,
        args.seed
    );
    ExitCode::SUCCESS
}
