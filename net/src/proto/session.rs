//! One client session as a pure state machine: bytes and `now` in, [`Action`]s out.
//!
//! States: [`SessionState::Connecting`] → (the application calls [`Session::authenticate`] after a
//! successful Login/Resume) → [`SessionState::Authenticated`] → (first valid SetViewport) →
//! [`SessionState::Playing`] → [`SessionState::Closing`] (after a Close action; input is then
//! ignored).
//!
//! The session enforces, in this order for each frame:
//! 1. framing errors (oversize, too short) → `ErrorReply` (keeping the request id when the header
//!    was readable) and a violation;
//! 2. the per-session token bucket → `ErrorReply{RATE_LIMITED}`; the frame is dropped undecoded;
//! 3. message validation (type id, direction, rkyv `access`, semantic limits) → `ErrorReply` and a
//!    violation;
//! 4. state rules: only Login/Resume before authentication (else `NOT_AUTHENTICATED` and a
//!    violation), one at a time (a second one before the application answered the first gets
//!    `LOGIN_PENDING`, so one connection can never be bound to two players), no Login/Resume
//!    after it (`ALREADY_AUTHENTICATED`);
//! 5. Ping is answered here with a Pong; everything else is [`Action::Deliver`]ed to the
//!    application, which replies with the same request id.
//!
//! `max_violations` violations within `violation_window` produce an [`Action::Close`] with
//! [`CloseCode::PROTOCOL_VIOLATION`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dominion_sim::types::PlayerId;

use super::frame::{DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, FrameError, PUSH_REQUEST_ID};
use super::messages::{ClientMessage, ErrorCode, MessageError, Pong, ServerMessage};
use super::rate::{RateLimit, SharedBucket};

/// QUIC application close codes used by Dominion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u32);

impl CloseCode {
    /// Orderly close (client left, or server finished).
    pub const NORMAL: CloseCode = CloseCode(0);
    /// Too many malformed/oversized/forbidden frames.
    pub const PROTOCOL_VIOLATION: CloseCode = CloseCode(1);
    /// The application kicked the session (a `Kick` push was sent first when possible).
    pub const KICKED: CloseCode = CloseCode(2);
    /// The session's outbound queue overflowed: the client does not read fast enough.
    pub const SLOW_CONSUMER: CloseCode = CloseCode(3);
    /// The server is shutting down.
    pub const SHUTDOWN: CloseCode = CloseCode(4);
    /// The client did not open its request stream, or log in, in time.
    pub const LOGIN_TIMEOUT: CloseCode = CloseCode(5);
    /// The client kept sending far above its rate limit.
    pub const FLOODING: CloseCode = CloseCode(6);
    /// The server no longer owns the kingdom: another instance took its owner epoch. Nothing
    /// this server did after that was acknowledged; reconnect (to the kingdom's address) and
    /// resend what was not answered.
    pub const FENCED: CloseCode = CloseCode(7);
}

/// Settings of the protocol core for one session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Largest inbound frame `length` accepted.
    pub max_frame_len: u32,
    /// Request rate limit of a logged-in player (the transport keys the bucket by player, so
    /// it survives reconnects).
    pub rate: RateLimit,
    /// Request rate limit of one client address before login (shared by every unauthenticated
    /// connection from that address).
    pub address_rate: RateLimit,
    /// Violations tolerated within `violation_window`; reaching it closes the session.
    pub max_violations: u32,
    /// Sliding window for counting violations and rate-limited frames.
    pub violation_window: Duration,
    /// Rate-limited frames tolerated within `violation_window`; beyond that the client is
    /// flooding (each drop costs an error reply) and the session is closed.
    pub max_rate_limited: u32,
    /// An oversize frame claiming more than this is not skipped but closes the session at once:
    /// such a length means the stream is garbage (or hostile), not one too-large request, and
    /// skipping it would leave the session discarding gigabytes.
    pub max_skip_len: u32,
    /// A session still not logged in after this long is closed.
    pub login_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            rate: RateLimit::default(),
            address_rate: RateLimit {
                per_second: 100.0,
                burst: 400,
            },
            max_violations: 5,
            violation_window: Duration::from_secs(10),
            max_rate_limited: 200,
            max_skip_len: 1024 * 1024,
            login_timeout: Duration::from_secs(10),
        }
    }
}

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Connected; only Login/Resume accepted.
    Connecting,
    /// Logged in; no viewport yet.
    Authenticated,
    /// Logged in and watching a viewport.
    Playing,
    /// Closing; input ignored.
    Closing,
}

/// What the shell must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Hand a validated message to the application; reply with the same `request_id`
    /// (none when it is [`PUSH_REQUEST_ID`]).
    Deliver {
        /// The client's request id.
        request_id: u32,
        /// The validated message.
        message: ClientMessage,
    },
    /// Send this encoded frame to the client on the reply stream.
    Send(Bytes),
    /// Close the connection (after flushing what was queued before).
    Close {
        /// QUIC application close code.
        code: CloseCode,
        /// Human-readable reason.
        reason: String,
    },
}

/// Counters for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Frames decoded (valid or not).
    pub frames: u64,
    /// Messages delivered to the application.
    pub delivered: u64,
    /// Frames dropped by the rate limiter.
    pub rate_limited: u64,
    /// Violations (malformed, oversize, forbidden before auth).
    pub violations: u64,
}

/// The protocol core of one session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: SessionState,
    decoder: FrameDecoder,
    bucket: SharedBucket,
    recent_violations: VecDeque<Instant>,
    recent_rate_limited: VecDeque<Instant>,
    login_deadline: Instant,
    /// A Login/Resume was delivered and the application has not answered it yet.
    login_pending: bool,
    actions: VecDeque<Action>,
    player: Option<PlayerId>,
    stats: SessionStats,
}

impl Session {
    /// A new session in [`SessionState::Connecting`].
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Session {
            login_deadline: now.checked_add(config.login_timeout).unwrap_or(now),
            decoder: FrameDecoder::new(config.max_frame_len),
            bucket: SharedBucket::new(config.rate, now),
            config,
            state: SessionState::Connecting,
            login_pending: false,
            recent_violations: VecDeque::new(),
            recent_rate_limited: VecDeque::new(),
            actions: VecDeque::new(),
            player: None,
            stats: SessionStats::default(),
        }
    }

    /// Current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The player bound by [`Session::authenticate`], if any.
    pub fn player(&self) -> Option<PlayerId> {
        self.player
    }

    /// Counters so far.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Feeds bytes received on the request stream and processes every complete frame.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        if self.state == SessionState::Closing {
            return;
        }
        self.decoder.feed(data);
        while self.state != SessionState::Closing {
            match self.decoder.next_frame() {
                None => break,
                Some(Ok(frame)) => self.handle_frame(now, frame),
                Some(Err(err)) => self.handle_frame_error(now, err),
            }
        }
    }

    /// Processes one decoded frame.
    pub fn handle_frame(&mut self, now: Instant, frame: Frame) {
        if self.state == SessionState::Closing {
            return;
        }
        self.stats.frames += 1;
        if !self.bucket.try_take(now) {
            self.stats.rate_limited += 1;
            let wait = self.bucket.time_to_next(now);
            let limit = self.bucket.limit();
            self.reply(
                frame.request_id,
                ServerMessage::error(
                    ErrorCode::RATE_LIMITED,
                    format!(
                        "rate limit of {}/s (burst {}) exceeded; retry in {} ms",
                        limit.per_second,
                        limit.burst,
                        wait.as_millis().max(1)
                    ),
                ),
            );
            if record(
                &mut self.recent_rate_limited,
                now,
                self.config.violation_window,
            ) > self.config.max_rate_limited as usize
            {
                self.close(
                    CloseCode::FLOODING,
                    format!(
                        "more than {} rate-limited requests within {:?}",
                        self.config.max_rate_limited, self.config.violation_window
                    ),
                );
            }
            return;
        }
        let message = match ClientMessage::decode(frame.msg_type, &frame.body) {
            Ok(m) => m,
            Err(err) => {
                let code = match err {
                    MessageError::UnknownType(_) | MessageError::WrongDirection(_) => {
                        ErrorCode::UNKNOWN_TYPE
                    }
                    MessageError::Malformed { .. } | MessageError::Invalid { .. } => {
                        ErrorCode::MALFORMED
                    }
                };
                self.violation(now, frame.request_id, code, err.to_string());
                return;
            }
        };
        let is_auth = matches!(message, ClientMessage::Login(_) | ClientMessage::Resume(_));
        match self.state {
            SessionState::Connecting if !is_auth => {
                let msg = format!(
                    "{} is not allowed before Login or Resume",
                    message.message_type()
                );
                self.violation(now, frame.request_id, ErrorCode::NOT_AUTHENTICATED, msg);
                return;
            }
            SessionState::Connecting if self.login_pending => {
                self.reply(
                    frame.request_id,
                    ServerMessage::error(
                        ErrorCode::LOGIN_PENDING,
                        format!(
                            "{} while an earlier Login or Resume is still being answered",
                            message.message_type()
                        ),
                    ),
                );
                return;
            }
            SessionState::Connecting => self.login_pending = true,
            SessionState::Authenticated | SessionState::Playing if is_auth => {
                self.reply(
                    frame.request_id,
                    ServerMessage::error(
                        ErrorCode::ALREADY_AUTHENTICATED,
                        format!("{} on an authenticated session", message.message_type()),
                    ),
                );
                return;
            }
            _ => {}
        }
        match message {
            ClientMessage::Ping(ping) => {
                if frame.request_id != PUSH_REQUEST_ID {
                    self.reply(frame.request_id, Pong { nonce: ping.nonce }.into());
                }
            }
            message => {
                if matches!(message, ClientMessage::SetViewport(_))
                    && self.state == SessionState::Authenticated
                {
                    self.state = SessionState::Playing;
                }
                self.stats.delivered += 1;
                self.actions.push_back(Action::Deliver {
                    request_id: frame.request_id,
                    message,
                });
            }
        }
    }

    /// Processes a framing error reported by the decoder.
    pub fn handle_frame_error(&mut self, now: Instant, err: FrameError) {
        if self.state == SessionState::Closing {
            return;
        }
        self.stats.frames += 1;
        let (request_id, code) = match err {
            FrameError::Oversize { request_id, .. } => (request_id, ErrorCode::OVERSIZE),
            FrameError::TooShort { .. } => (PUSH_REQUEST_ID, ErrorCode::MALFORMED),
        };
        self.violation(now, request_id, code, err.to_string());
        if let FrameError::Oversize { len, .. } = err
            && len > self.config.max_skip_len
        {
            self.close(
                CloseCode::PROTOCOL_VIOLATION,
                format!(
                    "frame length {len} is beyond any request (skip limit {}): stream is garbage",
                    self.config.max_skip_len
                ),
            );
        }
    }

    /// Marks the session as logged in as `player` (the application accepted Login/Resume).
    /// Call it *before* sending the `LoginOk` reply, so requests the client sends after
    /// reading `LoginOk` find the session authenticated.
    pub fn authenticate(&mut self, player: PlayerId) {
        self.login_pending = false;
        if self.state == SessionState::Connecting {
            self.state = SessionState::Authenticated;
        }
        if self.state != SessionState::Closing {
            self.player = Some(player);
        }
    }

    /// Draws requests from `bucket` from now on (the transport hands the address's bucket at
    /// connect and the player's at login). A new session has a private bucket of
    /// [`SessionConfig::rate`].
    pub fn use_bucket(&mut self, bucket: SharedBucket) {
        self.bucket = bucket;
    }

    /// The application refused the pending Login/Resume: the session may try again. Call it
    /// *before* sending the refusal, so a retry sent after reading it is accepted.
    pub fn login_refused(&mut self) {
        self.login_pending = false;
    }

    /// Starts closing: further input is ignored and a Close action is emitted once.
    pub fn close(&mut self, code: CloseCode, reason: impl Into<String>) {
        if self.state == SessionState::Closing {
            return;
        }
        self.state = SessionState::Closing;
        self.actions.push_back(Action::Close {
            code,
            reason: reason.into(),
        });
    }

    /// When [`Session::handle_timeout`] must next be called, if ever (the login deadline while
    /// not authenticated).
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.state == SessionState::Connecting).then_some(self.login_deadline)
    }

    /// Applies timers due at `now`: closes a session that has not logged in by its deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == SessionState::Connecting && now >= self.login_deadline {
            self.close(
                CloseCode::LOGIN_TIMEOUT,
                format!("not logged in within {:?}", self.config.login_timeout),
            );
        }
    }

    /// The next action for the shell, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn reply(&mut self, request_id: u32, message: ServerMessage) {
        // Encoding our own small messages cannot fail; if it somehow did, there is nothing
        // useful to send.
        if let Ok(bytes) = message.encode_frame(request_id) {
            self.actions.push_back(Action::Send(Bytes::from(bytes)));
        }
    }

    fn violation(&mut self, now: Instant, request_id: u32, code: ErrorCode, message: String) {
        self.stats.violations += 1;
        self.reply(request_id, ServerMessage::error(code, message.clone()));
        let n = record(
            &mut self.recent_violations,
            now,
            self.config.violation_window,
        );
        if n >= self.config.max_violations.max(1) as usize {
            self.close(
                CloseCode::PROTOCOL_VIOLATION,
                format!(
                    "{n} bad frames within {:?}; last: {message}",
                    self.config.violation_window
                ),
            );
        }
    }
}

/// Records an event at `now` in a sliding window and returns how many are in it.
fn record(window: &mut VecDeque<Instant>, now: Instant, span: Duration) -> usize {
    let start = now.checked_sub(span);
    while let Some(&t) = window.front() {
        if start.is_some_and(|start| t < start) {
            window.pop_front();
        } else {
            break;
        }
    }
    window.push_back(now);
    window.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::encode_frame;
    use crate::proto::messages::*;

    fn t0() -> Instant {
        Instant::now()
    }

    fn wire(m: impl Into<ClientMessage>, id: u32) -> Vec<u8> {
        m.into().encode_frame(id).unwrap()
    }

    fn login() -> Login {
        Login {
            openid: "alice".into(),
            platform_token: "tok".into(),
            client_version: "1.0".into(),
        }
    }

    fn drain(s: &mut Session) -> Vec<Action> {
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    /// Decodes a `Send` action into (request id, message).
    fn sent(a: &Action) -> (u32, ServerMessage) {
        let Action::Send(bytes) = a else {
            panic!("expected Send, got {a:?}")
        };
        let mut d = FrameDecoder::new(u32::MAX);
        d.feed(bytes);
        let f = d.next_frame().unwrap().unwrap();
        (
            f.request_id,
            ServerMessage::decode(f.msg_type, &f.body).unwrap(),
        )
    }

    fn error_code(a: &Action) -> (u32, u16) {
        match sent(a) {
            (id, ServerMessage::ErrorReply(e)) => (id, e.code),
            other => panic!("expected ErrorReply, got {other:?}"),
        }
    }

    #[test]
    fn login_then_viewport_then_command_flow() {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        assert_eq!(s.state(), SessionState::Connecting);
        s.handle_bytes(now, &wire(login(), 1));
        let acts = drain(&mut s);
        assert_eq!(
            acts,
            vec![Action::Deliver {
                request_id: 1,
                message: login().into()
            }]
        );
        s.authenticate(PlayerId(42));
        assert_eq!(s.state(), SessionState::Authenticated);
        assert_eq!(s.player(), Some(PlayerId(42)));

        let vp = SetViewport {
            x: 1,
            y: 2,
            w: 30,
            h: 20,
            zoom: 1,
        };
        let cmd = Command {
            body: CommandBody::Recall { march_id: 5 },
        };
        let mut bytes = wire(vp, 2);
        bytes.extend(wire(cmd.clone(), 3));
        bytes.extend(wire(Ping { nonce: 77 }, 4));
        s.handle_bytes(now, &bytes);
        let acts = drain(&mut s);
        assert_eq!(s.state(), SessionState::Playing);
        assert_eq!(acts.len(), 3);
        assert_eq!(
            acts[0],
            Action::Deliver {
                request_id: 2,
                message: vp.into()
            }
        );
        assert_eq!(
            acts[1],
            Action::Deliver {
                request_id: 3,
                message: cmd.into()
            }
        );
        assert_eq!(sent(&acts[2]), (4, Pong { nonce: 77 }.into()));
    }

    #[test]
    fn only_login_or_resume_before_auth() {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        s.handle_bytes(now, &wire(Ping { nonce: 1 }, 9));
        s.handle_bytes(
            now,
            &wire(
                Command {
                    body: CommandBody::Recall { march_id: 1 },
                },
                10,
            ),
        );
        let acts = drain(&mut s);
        assert_eq!(error_code(&acts[0]), (9, ErrorCode::NOT_AUTHENTICATED.0));
        assert_eq!(error_code(&acts[1]), (10, ErrorCode::NOT_AUTHENTICATED.0));
        s.handle_bytes(
            now,
            &wire(
                Resume {
                    resume_token: "r".into(),
                },
                11,
            ),
        );
        assert!(matches!(
            drain(&mut s)[..],
            [Action::Deliver { request_id: 11, .. }]
        ));
        s.authenticate(PlayerId(1));
        s.handle_bytes(now, &wire(login(), 12));
        let acts = drain(&mut s);
        assert_eq!(
            error_code(&acts[0]),
            (12, ErrorCode::ALREADY_AUTHENTICATED.0)
        );
    }

    #[test]
    fn one_login_at_a_time() {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        let mut bytes = wire(login(), 1);
        bytes.extend(wire(
            Resume {
                resume_token: "r".into(),
            },
            2,
        ));
        bytes.extend(wire(login(), 3));
        s.handle_bytes(now, &bytes);
        let acts = drain(&mut s);
        assert!(matches!(acts[0], Action::Deliver { request_id: 1, .. }));
        assert_eq!(error_code(&acts[1]), (2, ErrorCode::LOGIN_PENDING.0));
        assert_eq!(error_code(&acts[2]), (3, ErrorCode::LOGIN_PENDING.0));
        assert_eq!(acts.len(), 3);
        assert_eq!(s.stats().violations, 0, "waiting is not a violation");
        // Refused: the client may try again.
        s.login_refused();
        s.handle_bytes(now, &wire(login(), 4));
        assert!(matches!(
            drain(&mut s)[..],
            [Action::Deliver { request_id: 4, .. }]
        ));
        s.authenticate(PlayerId(5));
        s.handle_bytes(now, &wire(login(), 5));
        assert_eq!(
            error_code(&drain(&mut s)[0]),
            (5, ErrorCode::ALREADY_AUTHENTICATED.0)
        );
    }

    #[test]
    fn rate_limit_answers_rate_limited_and_refills() {
        let now = t0();
        let cfg = SessionConfig {
            rate: RateLimit {
                per_second: 10.0,
                burst: 3,
            },
            ..SessionConfig::default()
        };
        let mut s = Session::new(cfg, now);
        s.authenticate(PlayerId(1));
        let recall = || Command {
            body: CommandBody::Recall { march_id: 1 },
        };
        for id in 1..=5 {
            s.handle_bytes(now, &wire(recall(), id));
        }
        let acts = drain(&mut s);
        assert_eq!(acts.len(), 5);
        for a in &acts[..3] {
            assert!(matches!(a, Action::Deliver { .. }));
        }
        assert_eq!(error_code(&acts[3]), (4, ErrorCode::RATE_LIMITED.0));
        assert_eq!(error_code(&acts[4]), (5, ErrorCode::RATE_LIMITED.0));
        assert_eq!(s.stats().rate_limited, 2);
        // Rate limiting is not a violation: the session stays open.
        assert_ne!(s.state(), SessionState::Closing);
        // 100 ms later one token is back.
        let later = now + Duration::from_millis(100);
        s.handle_bytes(later, &wire(recall(), 6));
        assert!(matches!(
            drain(&mut s)[..],
            [Action::Deliver { request_id: 6, .. }]
        ));
    }

    #[test]
    fn malformed_frames_get_errors_with_request_id_then_close() {
        let now = t0();
        let cfg = SessionConfig {
            max_violations: 3,
            max_frame_len: 128,
            ..SessionConfig::default()
        };
        let mut s = Session::new(cfg, now);
        let mut garbage = Vec::new();
        encode_frame(MessageType::Login.id(), 21, &[0xFF; 3], &mut garbage).unwrap();
        s.handle_bytes(now, &garbage);
        let acts = drain(&mut s);
        assert_eq!(error_code(&acts[0]), (21, ErrorCode::MALFORMED.0));
        let (_, ServerMessage::ErrorReply(e)) = sent(&acts[0]) else {
            unreachable!()
        };
        assert!(e.message.contains("Login"), "{}", e.message);

        let mut oversize = Vec::new();
        encode_frame(MessageType::Login.id(), 22, &[0; 500], &mut oversize).unwrap();
        s.handle_bytes(now, &oversize);
        let acts = drain(&mut s);
        assert_eq!(error_code(&acts[0]), (22, ErrorCode::OVERSIZE.0));
        assert_eq!(acts.len(), 1);

        let mut unknown = Vec::new();
        encode_frame(0x7abc, 23, &[], &mut unknown).unwrap();
        s.handle_bytes(now, &unknown);
        let acts = drain(&mut s);
        assert_eq!(error_code(&acts[0]), (23, ErrorCode::UNKNOWN_TYPE.0));
        assert!(matches!(
            &acts[1],
            Action::Close { code, .. } if *code == CloseCode::PROTOCOL_VIOLATION
        ));
        assert_eq!(s.state(), SessionState::Closing);
        // Input after closing is ignored.
        s.handle_bytes(now, &wire(login(), 24));
        assert!(drain(&mut s).is_empty());
    }

    #[test]
    fn absurd_length_closes_at_once() {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        let mut wire = Vec::new();
        wire.extend_from_slice(&0x4000_0000u32.to_le_bytes());
        wire.extend_from_slice(&1u16.to_le_bytes());
        wire.extend_from_slice(&77u32.to_le_bytes());
        s.handle_bytes(now, &wire);
        let acts = drain(&mut s);
        assert_eq!(error_code(&acts[0]), (77, ErrorCode::OVERSIZE.0));
        assert!(matches!(
            &acts[1],
            Action::Close { code: CloseCode::PROTOCOL_VIOLATION, reason } if reason.contains("garbage")
        ));
    }

    #[test]
    fn violations_outside_the_window_are_forgotten() {
        let now = t0();
        let cfg = SessionConfig {
            max_violations: 2,
            violation_window: Duration::from_secs(1),
            ..SessionConfig::default()
        };
        let mut s = Session::new(cfg, now);
        let mut bad = Vec::new();
        encode_frame(0x7000, 1, &[], &mut bad).unwrap();
        for i in 0..5u64 {
            s.handle_bytes(now + Duration::from_secs(2 * i), &bad);
        }
        assert_ne!(s.state(), SessionState::Closing);
        s.handle_bytes(now + Duration::from_millis(8500), &bad);
        assert_eq!(s.state(), SessionState::Closing);
    }

    #[test]
    fn server_to_client_type_from_client_is_rejected() {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        let frame = ServerMessage::from(Kick {
            code: 1,
            reason: "x".into(),
        })
        .encode_frame(5)
        .unwrap();
        s.handle_bytes(now, &frame);
        let acts = drain(&mut s);
        assert_eq!(error_code(&acts[0]), (5, ErrorCode::UNKNOWN_TYPE.0));
    }

    #[test]
    fn login_deadline_closes_unauthenticated_sessions_only() {
        let now = t0();
        let cfg = SessionConfig {
            login_timeout: Duration::from_secs(5),
            ..SessionConfig::default()
        };
        let mut s = Session::new(cfg.clone(), now);
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(5)));
        s.handle_timeout(now + Duration::from_secs(4));
        assert!(drain(&mut s).is_empty());
        s.handle_timeout(now + Duration::from_secs(5));
        assert!(matches!(
            drain(&mut s)[..],
            [Action::Close {
                code: CloseCode::LOGIN_TIMEOUT,
                ..
            }]
        ));
        assert_eq!(s.poll_timeout(), None);

        let mut s = Session::new(cfg, now);
        s.authenticate(PlayerId(1));
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(now + Duration::from_secs(60));
        assert!(drain(&mut s).is_empty());
    }

    #[test]
    fn sustained_flooding_closes_the_session() {
        let now = t0();
        let cfg = SessionConfig {
            rate: RateLimit {
                per_second: 1.0,
                burst: 1,
            },
            max_rate_limited: 10,
            ..SessionConfig::default()
        };
        let mut s = Session::new(cfg, now);
        let mut bytes = Vec::new();
        for id in 1..=12 {
            bytes.extend(wire(login(), id));
        }
        s.handle_bytes(now, &bytes);
        let acts = drain(&mut s);
        // 1 delivered, 11 rate-limited replies, then the close (and nothing after it).
        assert!(matches!(acts[0], Action::Deliver { .. }));
        assert_eq!(acts.len(), 13);
        assert!(matches!(
            acts[12],
            Action::Close {
                code: CloseCode::FLOODING,
                ..
            }
        ));
    }

    #[test]
    fn application_close_emits_one_close_action() {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        s.close(CloseCode::KICKED, "dup login");
        s.close(CloseCode::KICKED, "again");
        assert_eq!(
            drain(&mut s),
            vec![Action::Close {
                code: CloseCode::KICKED,
                reason: "dup login".into()
            }]
        );
        s.authenticate(PlayerId(3));
        assert_eq!(s.player(), None);
    }
}
