//! The QUIC server: accepts connections, runs one [`Session`] core per connection, hands
//! validated messages to the application as [`ServerEvent`]s, and lets the application reply,
//! push, bind players and kick through a cloneable [`ServerHandle`].
//!
//! Tasks per connection: a *reader* (owns the [`Session`] core, reads the request stream, obeys
//! control messages) and a *writer* (owns both send streams, drains the bounded outbound queue).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dominion_sim::types::PlayerId;
use tokio::sync::{Semaphore, mpsc};

use super::outbound::{OutboundBudget, QueueBytes, pick_slowest};
use super::rate_keys::RateBuckets;
use super::slots::{Slot, SlotLimits, Slots};
use super::socket::{DEFAULT_UDP_BUFFER, SocketBuffers, bind_udp};
use super::tls::{CertSource, Fingerprint, TlsError, load_or_generate, server_crypto};
use crate::proto::{
    Action, ClientMessage, CloseCode, EncodeError, Kick, PUSH_REQUEST_ID, ServerMessage, Session,
    SessionConfig,
};

/// Identifies one connection for its lifetime; never reused within a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session:{}", self.0)
    }
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// UDP address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where a generated certificate is kept (`<data_dir>/tls/`).
    pub data_dir: PathBuf,
    /// Operator certificate chain and key (PEM). `None` = self-signed in `data_dir`.
    pub cert_files: Option<(PathBuf, PathBuf)>,
    /// Protocol core settings (frame limit, rate limit, violation policy).
    pub session: SessionConfig,
    /// Frames queued per session before the session is disconnected as a slow consumer.
    pub outbound_queue: usize,
    /// Bytes queued per session before the session is disconnected as a slow consumer (a single
    /// frame larger than this is still accepted into an empty queue).
    pub outbound_queue_bytes: usize,
    /// Bytes queued in all sessions together; above it the sessions with the most bytes waiting
    /// are closed ([`crate::proto::CloseCode::SLOW_CONSUMER`]) until the total is back under
    /// three quarters of it.
    pub max_outbound_bytes: usize,
    /// Events buffered for the application before connection readers wait (backpressure).
    pub event_queue: usize,
    /// Simultaneous connections; more are refused at the QUIC level.
    pub max_connections: usize,
    /// Connections per client address, and those of them not logged in yet; more are refused
    /// at the QUIC level.
    pub slots: SlotLimits,
    /// With more unauthenticated connections than this (all addresses), a handshake from an
    /// address not yet validated is answered with a QUIC Retry first, so a spoofed source
    /// address cannot hold a slot. 0 = always.
    pub retry_above_unauthenticated: usize,
    /// Close a connection whose QUIC handshake has not completed by then.
    pub handshake_timeout: Duration,
    /// Requested UDP socket buffers.
    pub udp_buffer: usize,
    /// Close a connection silent for this long (clients keep alive more often).
    pub idle_timeout: Duration,
    /// Close a connection that has not opened its request stream by then.
    pub stream_open_timeout: Duration,
    /// On close, how long to wait for queued frames (e.g. a Kick) to be acknowledged.
    pub flush_timeout: Duration,
}

impl ServerOptions {
    /// Default per-address connection slots: generous for players behind one carrier NAT, far
    /// below the whole server.
    pub const DEFAULT_SLOTS: SlotLimits = SlotLimits {
        per_ip: 1024,
        unauthenticated_per_ip: 64,
    };

    /// Defaults listening on `listen` with generated certificates under `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        ServerOptions {
            listen,
            data_dir: data_dir.into(),
            cert_files: None,
            session: SessionConfig::default(),
            outbound_queue: 1024,
            outbound_queue_bytes: 4 * 1024 * 1024,
            max_outbound_bytes: 1024 * 1024 * 1024,
            event_queue: 16 * 1024,
            max_connections: 20_000,
            slots: Self::DEFAULT_SLOTS,
            retry_above_unauthenticated: 256,
            handshake_timeout: Duration::from_secs(5),
            udp_buffer: DEFAULT_UDP_BUFFER,
            idle_timeout: Duration::from_secs(30),
            stream_open_timeout: Duration::from_secs(5),
            flush_timeout: Duration::from_secs(2),
        }
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Certificate or TLS configuration.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Binding the UDP socket or creating the endpoint.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The listen address.
        addr: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// A transport setting was out of range.
    #[error("transport configuration: {0}")]
    Config(String),
}

/// What happened, for the application. Events of one session arrive in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// A client finished the QUIC handshake.
    Connected {
        /// The new session.
        session: SessionId,
        /// The client's address.
        remote: SocketAddr,
    },
    /// A validated message. Reply with [`ServerHandle::reply`] using `request_id` (unless it is
    /// [`PUSH_REQUEST_ID`]).
    Message {
        /// From whom.
        session: SessionId,
        /// The client's request id.
        request_id: u32,
        /// The validated message.
        message: ClientMessage,
    },
    /// The session is gone; its id is no longer valid.
    Disconnected {
        /// The session.
        session: SessionId,
        /// The player it was bound to, if any (and only if still bound to this session).
        player: Option<PlayerId>,
        /// Why.
        reason: String,
    },
}

/// Why a push or reply could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No such session (it disconnected).
    #[error("{0} is not connected")]
    UnknownSession(SessionId),
    /// The session's outbound queue was full: it was disconnected as a slow consumer.
    #[error("{0} outbound queue full: disconnected as a slow consumer")]
    Overflow(SessionId),
    /// The message could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Result of [`ServerHandle::push_many`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Sessions the frame was queued for.
    pub queued: usize,
    /// Sessions not connected (ignored).
    pub unknown: usize,
    /// Sessions disconnected because their queue was full.
    pub overflowed: usize,
}

enum Outbound {
    Reply(Bytes),
    Push(Bytes),
    Close { code: CloseCode, reason: String },
}

impl Outbound {
    fn len(&self) -> usize {
        match self {
            Outbound::Reply(b) | Outbound::Push(b) => b.len(),
            Outbound::Close { .. } => 0,
        }
    }
}

/// A session's outbound queue, bounded in frames (the channel) and in bytes (the counter, which
/// the writer decrements as frames go out, and which also counts in the process total).
#[derive(Clone)]
struct OutQueue {
    tx: mpsc::Sender<Outbound>,
    bytes: Arc<QueueBytes>,
    max_bytes: usize,
}

enum QueueError {
    Full,
    Closed,
}

impl OutQueue {
    fn try_send(&self, item: Outbound) -> Result<(), QueueError> {
        if self.bytes.is_shed() {
            return Err(QueueError::Closed);
        }
        let len = item.len();
        let before = self.bytes.add(len);
        if before > 0 && before + len > self.max_bytes {
            self.bytes.sub(len);
            return Err(QueueError::Full);
        }
        self.tx.try_send(item).map_err(|e| {
            self.bytes.sub(len);
            match e {
                mpsc::error::TrySendError::Full(_) => QueueError::Full,
                mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
            }
        })
    }
}

enum Control {
    Authenticate(PlayerId),
    LoginRefused,
    Close { code: CloseCode, reason: String },
}

struct Entry {
    out: OutQueue,
    ctrl: mpsc::UnboundedSender<Control>,
    conn: quinn::Connection,
    remote: SocketAddr,
    player: Option<PlayerId>,
}

#[derive(Default)]
struct Registry {
    sessions: HashMap<SessionId, Entry>,
    players: HashMap<PlayerId, SessionId>,
}

struct Shared {
    // A std RwLock, not tokio's: every critical section is a few map operations and a
    // non-blocking `try_send`, never an `.await`, and pushes (read lock) vastly outnumber
    // connects/disconnects (write lock).
    registry: RwLock<Registry>,
    next_id: AtomicU64,
    counters: Counters,
    /// Bytes queued in every session, and their bound.
    outbound: Arc<OutboundBudget>,
    /// Rate-limit budgets by player and by address, kept across connections.
    rates: RateBuckets,
}

/// Monotonic counters, updated with relaxed atomics (exact ordering does not matter for metrics).
#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    handshake_failures: AtomicU64,
    refused: AtomicU64,
    refused_per_ip: AtomicU64,
    retries: AtomicU64,
    frames: AtomicU64,
    delivered: AtomicU64,
    rate_limited: AtomicU64,
    violations: AtomicU64,
    protocol_closes: AtomicU64,
    slow_consumer_closes: AtomicU64,
    memory_closes: AtomicU64,
    kicks: AtomicU64,
}

/// A snapshot of the server's counters since start (for `/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections that completed the QUIC handshake.
    pub accepted: u64,
    /// Handshakes that failed (bad TLS, timeouts...).
    pub handshake_failures: u64,
    /// Connections refused at the connection limit.
    pub refused: u64,
    /// Connections refused at a per-address limit.
    pub refused_per_ip: u64,
    /// Handshakes answered with a QUIC Retry (address validation under load).
    pub retries: u64,
    /// Inbound frames processed.
    pub frames: u64,
    /// Messages delivered to the application.
    pub delivered: u64,
    /// Frames dropped by rate limiting.
    pub rate_limited: u64,
    /// Malformed, oversized or forbidden frames.
    pub violations: u64,
    /// Sessions closed by the protocol core (violations, flooding, login timeout).
    pub protocol_closes: u64,
    /// Sessions disconnected because their outbound queue was full.
    pub slow_consumer_closes: u64,
    /// Sessions closed (slowest first) because the process-wide outbound bound was reached.
    pub memory_closes: u64,
    /// Kicks requested by the application.
    pub kicks: u64,
    /// Sessions connected now.
    pub sessions: u64,
    /// Bytes queued for clients in all sessions, now.
    pub outbound_bytes: u64,
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        // Poisoning only means a panic elsewhere while holding the lock; the maps stay consistent
        // because no critical section can panic half-way through an update.
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn close_reason(reason: &str) -> &[u8] {
    // Keep CONNECTION_CLOSE frames well inside one packet.
    let mut end = reason.len().min(200);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason.as_bytes()[..end]
}

/// Queues `item`; on a full queue disconnects the session as a slow consumer. If the process
/// total is then above its bound, sheds the slowest sessions.
fn enqueue(
    counters: &Counters,
    reg: &Registry,
    id: SessionId,
    entry: &Entry,
    item: Outbound,
) -> Result<(), SendError> {
    let result = match entry.out.try_send(item) {
        Ok(()) => Ok(()),
        Err(QueueError::Full) => {
            counters
                .slow_consumer_closes
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(%id, "outbound queue full; disconnecting slow consumer");
            entry.conn.close(
                CloseCode::SLOW_CONSUMER.0.into(),
                b"outbound queue full: client too slow",
            );
            Err(SendError::Overflow(id))
        }
        Err(QueueError::Closed) => Err(SendError::UnknownSession(id)),
    };
    if entry.out.bytes.over_budget() {
        shed_slowest(counters, reg, entry.out.bytes.budget());
    }
    result
}

/// Closes the sessions with the most bytes waiting until the process total would be back under
/// three quarters of its bound. Their queues are dropped as their connections end; bytes still
/// held by sessions already closed this way count as freed, so a client that keeps up is not
/// closed for memory that is on its way out.
fn shed_slowest(counters: &Counters, reg: &Registry, budget: &OutboundBudget) {
    let (used, max) = (budget.used(), budget.max());
    let mut leaving = 0;
    let mut queued = Vec::new();
    for (&id, e) in reg.sessions.iter() {
        if e.out.bytes.is_shed() {
            leaving += e.out.bytes.get();
        } else {
            queued.push((id, e.out.bytes.get()));
        }
    }
    let excess = budget.excess().saturating_sub(leaving);
    for id in pick_slowest(queued, excess) {
        let Some(entry) = reg.sessions.get(&id) else {
            continue;
        };
        if entry.out.bytes.mark_shed() {
            counters.memory_closes.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                %id,
                queued = entry.out.bytes.get(),
                used,
                max,
                "outbound memory bound reached; closing the slowest client"
            );
            entry.conn.close(
                CloseCode::SLOW_CONSUMER.0.into(),
                b"server outbound memory bound reached: slowest clients closed first",
            );
        }
    }
}

/// Cheap, cloneable access to the live sessions for the application.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// Sends `message` as the reply to `request_id` on `session`. A request sent as a push
    /// ([`PUSH_REQUEST_ID`]) asked for no reply and gets none: this does nothing for it.
    pub fn reply(
        &self,
        session: SessionId,
        request_id: u32,
        message: &ServerMessage,
    ) -> Result<(), SendError> {
        if request_id == PUSH_REQUEST_ID {
            return Ok(());
        }
        let frame = Bytes::from(message.encode_frame(request_id)?);
        let reg = self.shared.read();
        let entry = reg
            .sessions
            .get(&session)
            .ok_or(SendError::UnknownSession(session))?;
        enqueue(
            &self.shared.counters,
            &reg,
            session,
            entry,
            Outbound::Reply(frame),
        )
    }

    /// Pushes `message` (request id 0) on the session's push stream.
    pub fn push(&self, session: SessionId, message: &ServerMessage) -> Result<(), SendError> {
        let frame = Bytes::from(message.encode_frame(PUSH_REQUEST_ID)?);
        self.push_frame(session, frame)
    }

    /// Pushes an already encoded frame (see [`ServerMessage::encode_frame`]).
    pub fn push_frame(&self, session: SessionId, frame: Bytes) -> Result<(), SendError> {
        let reg = self.shared.read();
        let entry = reg
            .sessions
            .get(&session)
            .ok_or(SendError::UnknownSession(session))?;
        enqueue(
            &self.shared.counters,
            &reg,
            session,
            entry,
            Outbound::Push(frame),
        )
    }

    /// Pushes one message to many sessions: encoded once, the bytes shared (reference-counted)
    /// by every queue, under one lock acquisition.
    pub fn push_many(
        &self,
        sessions: impl IntoIterator<Item = SessionId>,
        message: &ServerMessage,
    ) -> Result<PushReport, SendError> {
        let frame = Bytes::from(message.encode_frame(PUSH_REQUEST_ID)?);
        let reg = self.shared.read();
        let mut report = PushReport::default();
        for id in sessions {
            match reg.sessions.get(&id) {
                None => report.unknown += 1,
                Some(entry) => match enqueue(
                    &self.shared.counters,
                    &reg,
                    id,
                    entry,
                    Outbound::Push(frame.clone()),
                ) {
                    Ok(()) => report.queued += 1,
                    Err(SendError::Overflow(_)) => report.overflowed += 1,
                    Err(_) => report.unknown += 1,
                },
            }
        }
        Ok(report)
    }

    /// Binds `session` to `player` after the application accepted its Login/Resume, and moves
    /// the session core to `Authenticated`. Call it before replying `LoginOk`.
    ///
    /// Returns the session previously bound to `player`, if another one was: the application
    /// decides what to do with it (normally [`ServerHandle::kick`] it: one login per player).
    pub fn bind_player(
        &self,
        session: SessionId,
        player: PlayerId,
    ) -> Result<Option<SessionId>, SendError> {
        let mut reg = self.shared.write();
        let entry = reg
            .sessions
            .get_mut(&session)
            .ok_or(SendError::UnknownSession(session))?;
        let old_player = entry.player.replace(player);
        entry
            .ctrl
            .send(Control::Authenticate(player))
            .map_err(|_| SendError::UnknownSession(session))?;
        if let Some(old) = old_player.filter(|&p| p != player)
            && reg.players.get(&old) == Some(&session)
        {
            reg.players.remove(&old);
        }
        let previous = reg.players.insert(player, session);
        Ok(previous.filter(|&s| s != session))
    }

    /// Answers a refused Login/Resume with `message` and lets the session try again (until
    /// then a second Login/Resume on it is answered `LOGIN_PENDING`).
    pub fn refuse_login(
        &self,
        session: SessionId,
        request_id: u32,
        message: &ServerMessage,
    ) -> Result<(), SendError> {
        {
            let reg = self.shared.read();
            let entry = reg
                .sessions
                .get(&session)
                .ok_or(SendError::UnknownSession(session))?;
            // Before the reply: a retry sent after reading it must find the session ready.
            entry
                .ctrl
                .send(Control::LoginRefused)
                .map_err(|_| SendError::UnknownSession(session))?;
        }
        self.reply(session, request_id, message)
    }

    /// The player bound to `session`.
    pub fn session_player(&self, session: SessionId) -> Option<PlayerId> {
        self.shared.read().sessions.get(&session)?.player
    }

    /// Every player bound to a session now.
    pub fn players(&self) -> Vec<PlayerId> {
        self.shared.read().players.keys().copied().collect()
    }

    /// The session `player` is bound to.
    pub fn player_session(&self, player: PlayerId) -> Option<SessionId> {
        self.shared.read().players.get(&player).copied()
    }

    /// The client's address.
    pub fn remote_addr(&self, session: SessionId) -> Option<SocketAddr> {
        Some(self.shared.read().sessions.get(&session)?.remote)
    }

    /// Connected sessions.
    pub fn session_count(&self) -> usize {
        self.shared.read().sessions.len()
    }

    /// Counters since start.
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ServerStats {
            accepted: get(&c.accepted),
            handshake_failures: get(&c.handshake_failures),
            refused: get(&c.refused),
            refused_per_ip: get(&c.refused_per_ip),
            retries: get(&c.retries),
            frames: get(&c.frames),
            delivered: get(&c.delivered),
            rate_limited: get(&c.rate_limited),
            violations: get(&c.violations),
            protocol_closes: get(&c.protocol_closes),
            slow_consumer_closes: get(&c.slow_consumer_closes),
            memory_closes: get(&c.memory_closes),
            kicks: get(&c.kicks),
            sessions: self.session_count() as u64,
            outbound_bytes: self.shared.outbound.used() as u64,
        }
    }

    /// Every connected session id.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.shared.read().sessions.keys().copied().collect()
    }

    /// Kicks a session: pushes [`Kick`]`{code, reason}`, stops accepting its input, waits (up to
    /// the flush timeout) for the push to be acknowledged, then closes with
    /// [`CloseCode::KICKED`]. If its queue is full the connection is closed at once.
    pub fn kick(
        &self,
        session: SessionId,
        code: u16,
        reason: impl Into<String>,
    ) -> Result<(), SendError> {
        self.kick_and_close(session, code, reason.into(), CloseCode::KICKED)
    }

    fn kick_and_close(
        &self,
        session: SessionId,
        code: u16,
        reason: String,
        close: CloseCode,
    ) -> Result<(), SendError> {
        let frame = Bytes::from(
            ServerMessage::from(Kick {
                code,
                reason: reason.clone(),
            })
            .encode_frame(PUSH_REQUEST_ID)?,
        );
        let reg = self.shared.read();
        let entry = reg
            .sessions
            .get(&session)
            .ok_or(SendError::UnknownSession(session))?;
        enqueue(
            &self.shared.counters,
            &reg,
            session,
            entry,
            Outbound::Push(frame),
        )?;
        self.shared.counters.kicks.fetch_add(1, Ordering::Relaxed);
        // The reader turns this into the queued Close after the Kick.
        let _ = entry.ctrl.send(Control::Close {
            code: close,
            reason,
        });
        Ok(())
    }

    /// Closes a session after flushing what is already queued, without a Kick push.
    pub fn close(
        &self,
        session: SessionId,
        code: CloseCode,
        reason: impl Into<String>,
    ) -> Result<(), SendError> {
        let reg = self.shared.read();
        let entry = reg
            .sessions
            .get(&session)
            .ok_or(SendError::UnknownSession(session))?;
        entry
            .ctrl
            .send(Control::Close {
                code,
                reason: reason.into(),
            })
            .map_err(|_| SendError::UnknownSession(session))
    }
}

/// A running server. Dropping it does not stop the accept loop; call [`Server::shutdown`].
pub struct Server {
    endpoint: quinn::Endpoint,
    handle: ServerHandle,
    fingerprint: Fingerprint,
    cert_source: CertSource,
    socket_buffers: SocketBuffers,
    local_addr: SocketAddr,
}

impl Server {
    /// Loads or generates the certificate, binds the socket and starts accepting. Must run
    /// inside a tokio runtime. Returns the server and the application's event stream.
    pub fn bind(
        options: ServerOptions,
    ) -> Result<(Server, mpsc::Receiver<ServerEvent>), ServerError> {
        let material = load_or_generate(
            options
                .cert_files
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path())),
            &options.data_dir,
        )?;
        let crypto = server_crypto(&material)?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        // One long-lived request stream per client; the server opens the push stream.
        transport.max_concurrent_bidi_streams(1u32.into());
        transport.max_concurrent_uni_streams(0u32.into());
        // No datagrams: nothing reads them (pushes ride a stream, see the module docs), and
        // quinn's default would buffer up to 1.25 MB of them per connection. Off, the client is
        // told in the handshake and cannot send any.
        transport.datagram_receive_buffer_size(None);
        transport.datagram_send_buffer_size(0);
        transport.max_idle_timeout(Some(
            options
                .idle_timeout
                .try_into()
                .map_err(|_| ServerError::Config("idle_timeout too large".into()))?,
        ));
        server_config.transport_config(Arc::new(transport));

        let (socket, socket_buffers) =
            bind_udp(options.listen, options.udp_buffer).map_err(|source| ServerError::Bind {
                addr: options.listen,
                source,
            })?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| ServerError::Bind {
            addr: options.listen,
            source,
        })?;
        let local_addr = endpoint.local_addr().map_err(|source| ServerError::Bind {
            addr: options.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            registry: RwLock::new(Registry::default()),
            next_id: AtomicU64::new(1),
            counters: Counters::default(),
            outbound: OutboundBudget::new(options.max_outbound_bytes),
            rates: RateBuckets::new(options.session.rate, options.session.address_rate),
        });
        let (events_tx, events_rx) = mpsc::channel(options.event_queue.max(1));
        tokio::spawn(accept_loop(
            endpoint.clone(),
            shared.clone(),
            events_tx,
            Arc::new(options),
        ));
        tracing::info!(%local_addr, fingerprint = %material.fingerprint, "QUIC server listening");
        Ok((
            Server {
                endpoint,
                handle: ServerHandle { shared },
                fingerprint: material.fingerprint,
                cert_source: material.source,
                socket_buffers,
                local_addr,
            },
            events_rx,
        ))
    }

    /// A handle for replies, pushes, player binding and kicks.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// SHA-256 of the certificate: print its hex for clients to pin.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Where the certificate came from.
    pub fn cert_source(&self) -> &CertSource {
        &self.cert_source
    }

    /// UDP buffer sizes the kernel granted.
    pub fn socket_buffers(&self) -> SocketBuffers {
        self.socket_buffers
    }

    /// Stops accepting, kicks every session with `reason` ([`Kick`] code and QUIC close code
    /// [`CloseCode::SHUTDOWN`]), waits up to `grace` for them to go, then closes the endpoint.
    pub async fn shutdown(self, reason: &str, grace: Duration) {
        self.shutdown_with(CloseCode::SHUTDOWN, reason, grace).await;
    }

    /// [`Server::shutdown`] with another close code (e.g. [`CloseCode::FENCED`]): every session
    /// gets a `Kick` with `code` and is closed with it.
    pub async fn shutdown_with(self, code: CloseCode, reason: &str, grace: Duration) {
        self.endpoint.set_server_config(None);
        let handle = self.handle();
        for id in handle.sessions() {
            let _ = handle.kick_and_close(id, code.0 as u16, reason.to_string(), code);
        }
        let deadline = Instant::now() + grace;
        while handle.session_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.endpoint.close(code.0.into(), close_reason(reason));
        let _ = tokio::time::timeout(grace, self.endpoint.wait_idle()).await;
    }
}

async fn accept_loop(
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    events: mpsc::Sender<ServerEvent>,
    options: Arc<ServerOptions>,
) {
    let limit = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let slots = Slots::new(options.slots);
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        // Under load, make an unvalidated address prove it receives our packets before it may
        // hold anything (costs the client one round trip).
        if !incoming.remote_address_validated()
            && incoming.may_retry()
            && slots.unauthenticated() >= options.retry_above_unauthenticated
        {
            shared.counters.retries.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = incoming.retry() {
                e.into_incoming().refuse();
            }
            continue;
        }
        let slot = match slots.take(remote.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                shared
                    .counters
                    .refused_per_ip
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%remote, "refusing connection: {why}");
                incoming.refuse();
                continue;
            }
        };
        match limit.clone().try_acquire_owned() {
            Ok(permit) => {
                let shared = shared.clone();
                let events = events.clone();
                let options = options.clone();
                tokio::spawn(async move {
                    run_connection(incoming, shared, events, options, slot).await;
                    drop(permit);
                });
            }
            Err(_) => {
                shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%remote, "connection limit reached; refusing");
                incoming.refuse();
            }
        }
    }
}

async fn run_connection(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    events: mpsc::Sender<ServerEvent>,
    options: Arc<ServerOptions>,
    mut slot: Slot,
) {
    let remote = incoming.remote_address();
    // Dropping an unfinished handshake closes it.
    let handshake = tokio::time::timeout(options.handshake_timeout, incoming);
    let conn = match handshake.await {
        Ok(Ok(conn)) => conn,
        Err(_) => {
            shared
                .counters
                .handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%remote, "handshake not finished in time");
            return;
        }
        Ok(Err(e)) => {
            shared
                .counters
                .handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%remote, %e, "handshake failed");
            return;
        }
    };
    shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
    let id = SessionId(shared.next_id.fetch_add(1, Ordering::Relaxed));
    let (tx, out_rx) = mpsc::channel(options.outbound_queue.max(1));
    let out_tx = OutQueue {
        tx,
        bytes: QueueBytes::new(shared.outbound.clone()),
        max_bytes: options.outbound_queue_bytes,
    };
    let (ctrl_tx, ctrl_rx) = mpsc::unbounded_channel();
    shared.write().sessions.insert(
        id,
        Entry {
            out: out_tx.clone(),
            ctrl: ctrl_tx,
            conn: conn.clone(),
            remote,
            player: None,
        },
    );
    let reason = if events
        .send(ServerEvent::Connected {
            session: id,
            remote,
        })
        .await
        .is_err()
    {
        conn.close(CloseCode::SHUTDOWN.0.into(), b"server stopping");
        "application stopped".to_string()
    } else {
        let reason = read_session(
            id, &conn, &shared, out_tx, out_rx, ctrl_rx, &events, &options, &mut slot,
        )
        .await;
        // No-op if already closed; otherwise (client finished its stream) end the connection.
        conn.close(CloseCode::NORMAL.0.into(), b"session ended");
        reason
    };
    let player = {
        let mut reg = shared.write();
        let player = reg.sessions.remove(&id).and_then(|e| e.player);
        match player {
            Some(p) if reg.players.get(&p) == Some(&id) => {
                reg.players.remove(&p);
                Some(p)
            }
            _ => None,
        }
    };
    if id.0.is_multiple_of(64) {
        shared.rates.sweep(Instant::now());
    }
    tracing::debug!(%id, %remote, %reason, "session ended");
    let _ = events
        .send(ServerEvent::Disconnected {
            session: id,
            player,
            reason,
        })
        .await;
}

/// The reader: runs the session core until the connection ends; returns why it ended.
#[allow(clippy::too_many_arguments)]
async fn read_session(
    id: SessionId,
    conn: &quinn::Connection,
    shared: &Shared,
    out_tx: OutQueue,
    out_rx: mpsc::Receiver<Outbound>,
    mut ctrl_rx: mpsc::UnboundedReceiver<Control>,
    events: &mpsc::Sender<ServerEvent>,
    options: &ServerOptions,
    slot: &mut Slot,
) -> String {
    let (send, mut recv) =
        match tokio::time::timeout(options.stream_open_timeout, conn.accept_bi()).await {
            Ok(Ok(streams)) => streams,
            Ok(Err(e)) => return format!("connection lost before opening a stream: {e}"),
            Err(_) => {
                conn.close(
                    CloseCode::LOGIN_TIMEOUT.0.into(),
                    b"no request stream opened in time",
                );
                return "no request stream opened in time".into();
            }
        };
    tokio::spawn(write_session(
        conn.clone(),
        send,
        out_rx,
        out_tx.bytes.clone(),
        options.flush_timeout,
    ));
    let mut session = Session::new(options.session.clone(), Instant::now());
    session.use_bucket(
        shared
            .rates
            .for_address(conn.remote_address().ip(), Instant::now()),
    );
    let mut reported = session.stats();
    loop {
        tokio::select! {
            // Control first: an Authenticate sent before the LoginOk reply must be applied
            // before any request the client sends after reading that reply.
            biased;
            ctrl = ctrl_rx.recv() => match ctrl {
                Some(Control::Authenticate(player)) => {
                    session.authenticate(player);
                    slot.authenticated();
                    session.use_bucket(shared.rates.for_player(player, Instant::now()));
                }
                Some(Control::LoginRefused) => session.login_refused(),
                Some(Control::Close { code, reason }) => session.close(code, reason),
                None => {}
            },
            _ = sleep_until(session.poll_timeout()) => session.handle_timeout(Instant::now()),
            chunk = recv.read_chunk(usize::MAX, true) => match chunk {
                Ok(Some(chunk)) => session.handle_bytes(Instant::now(), &chunk.bytes),
                Ok(None) => break "client finished its request stream".to_string(),
                Err(e) => break format!("connection lost: {e}"),
            },
        }
        let stats = session.stats();
        let c = &shared.counters;
        c.frames
            .fetch_add(stats.frames - reported.frames, Ordering::Relaxed);
        c.delivered
            .fetch_add(stats.delivered - reported.delivered, Ordering::Relaxed);
        c.rate_limited.fetch_add(
            stats.rate_limited - reported.rate_limited,
            Ordering::Relaxed,
        );
        c.violations
            .fetch_add(stats.violations - reported.violations, Ordering::Relaxed);
        reported = stats;
        let mut closing = None;
        while let Some(action) = session.poll_action() {
            match action {
                Action::Deliver {
                    request_id,
                    message,
                } => {
                    let ev = ServerEvent::Message {
                        session: id,
                        request_id,
                        message,
                    };
                    if events.send(ev).await.is_err() {
                        conn.close(CloseCode::SHUTDOWN.0.into(), b"server stopping");
                        closing = Some("application stopped".to_string());
                    }
                }
                Action::Send(frame) => {
                    if let Err(QueueError::Full) = out_tx.try_send(Outbound::Reply(frame)) {
                        shared
                            .counters
                            .slow_consumer_closes
                            .fetch_add(1, Ordering::Relaxed);
                        conn.close(
                            CloseCode::SLOW_CONSUMER.0.into(),
                            b"outbound queue full: client too slow",
                        );
                        closing = Some("outbound queue full".to_string());
                    }
                }
                Action::Close { code, reason } => {
                    if code != CloseCode::KICKED && code != CloseCode::SHUTDOWN {
                        shared
                            .counters
                            .protocol_closes
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::info!(%id, code = code.0, %reason, "closing session");
                    if out_tx
                        .try_send(Outbound::Close {
                            code,
                            reason: reason.clone(),
                        })
                        .is_err()
                    {
                        conn.close(code.0.into(), close_reason(&reason));
                    }
                    closing = Some(reason);
                }
            }
        }
        if let Some(reason) = closing {
            // Let the writer flush and close; bound the wait in case the peer never acks.
            let _ = tokio::time::timeout(
                options.flush_timeout + Duration::from_secs(1),
                conn.closed(),
            )
            .await;
            conn.close(CloseCode::NORMAL.0.into(), b"");
            break reason;
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// The writer: replies on the client's bidirectional stream, pushes on one server-opened
/// unidirectional stream, in queue order.
async fn write_session(
    conn: quinn::Connection,
    reply: quinn::SendStream,
    mut rx: mpsc::Receiver<Outbound>,
    queued_bytes: Arc<QueueBytes>,
    flush_timeout: Duration,
) {
    write_frames(conn, reply, &mut rx, &queued_bytes, flush_timeout).await;
    // Whatever is still queued will never be written: it leaves the counts now, not when the
    // session's last handle goes.
    rx.close();
    while let Ok(item) = rx.try_recv() {
        queued_bytes.sub(item.len());
    }
}

async fn write_frames(
    conn: quinn::Connection,
    mut reply: quinn::SendStream,
    rx: &mut mpsc::Receiver<Outbound>,
    queued_bytes: &QueueBytes,
    flush_timeout: Duration,
) {
    let mut push: Option<quinn::SendStream> = None;
    while let Some(item) = rx.recv().await {
        // Out of the queue: from here the frame is QUIC's (bounded by its windows).
        queued_bytes.sub(item.len());
        let result = match item {
            Outbound::Reply(frame) => reply.write_chunk(frame).await.map_err(|e| e.to_string()),
            Outbound::Push(frame) => {
                if push.is_none() {
                    match conn.open_uni().await {
                        Ok(s) => push = Some(s),
                        Err(e) => return tracing::debug!(%e, "opening push stream failed"),
                    }
                }
                match push.as_mut() {
                    Some(s) => s.write_chunk(frame).await.map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
            Outbound::Close { code, reason } => {
                let _ = reply.finish();
                if let Some(p) = push.as_mut() {
                    let _ = p.finish();
                }
                let flushed = async {
                    let _ = reply.stopped().await;
                    if let Some(p) = push.as_ref() {
                        let _ = p.stopped().await;
                    }
                };
                let _ = tokio::time::timeout(flush_timeout, flushed).await;
                conn.close(code.0.into(), close_reason(&reason));
                return;
            }
        };
        if let Err(e) = result {
            tracing::debug!(%e, "write failed; connection is going away");
            return;
        }
    }
}
