//! Async client SDK: connect with a pinned certificate fingerprint, log in, set the viewport,
//! send commands and await their results by request id, receive pushes through a channel, and
//! reconnect (or follow a rotation [`MoveTo`]) with the resume token without a new login.
//!
//! Used by bots, load tests, tools and the integration tests; a game client in another language
//! implements the same wire protocol ([`crate::proto`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::proto::{
    ClientMessage, Command, CommandBody, CommandOutcome, EncodeError, ErrorCode, FrameDecoder,
    Login, LoginOk, MessageType, MoveTo, PUSH_REQUEST_ID, Ping, Resume, ServerMessage, SetViewport,
    ViewportSet,
};
use crate::transport::tls::{
    DEFAULT_SERVER_NAME, Fingerprint, FingerprintMismatch, TlsError, pinned_client_config,
};

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// SHA-256 of the server certificate (printed by the server at start).
    pub fingerprint: Fingerprint,
    /// SNI name sent to the server.
    pub server_name: String,
    /// Largest inbound frame accepted from the server (world snapshots can be large).
    pub max_frame_len: u32,
    /// Pushes buffered before the client stops reading (then flow control pushes back on the
    /// server, which disconnects a client that stays behind).
    pub push_queue: usize,
    /// How long a request waits for its reply.
    pub request_timeout: Duration,
    /// QUIC keep-alive interval (must be below the server's idle timeout).
    pub keep_alive: Duration,
}

impl ClientOptions {
    /// Defaults pinning `fingerprint`.
    pub fn new(fingerprint: Fingerprint) -> Self {
        ClientOptions {
            fingerprint,
            server_name: DEFAULT_SERVER_NAME.to_string(),
            max_frame_len: 4 * 1024 * 1024,
            push_queue: 4096,
            request_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
        }
    }
}

/// What claiming a mail's attachments did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Granted now: these (resource code, amount) are in the storehouse.
    Granted(Vec<(u8, u64)>),
    /// Claimed before (a retry, another device): nothing added now.
    AlreadyClaimed(Vec<(u8, u64)>),
}

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Building the TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The server's certificate is not the pinned one.
    #[error(transparent)]
    FingerprintMismatch(#[from] FingerprintMismatch),
    /// The connection attempt could not start.
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or was closed (by the server: see the application close code).
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing a request failed.
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    /// The connection ended before the reply arrived.
    #[error("connection lost before the reply arrived")]
    ConnectionLost,
    /// No reply within the request timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The server answered with an [`crate::proto::ErrorReply`].
    #[error("server error {code}: {message}")]
    Server {
        /// An [`ErrorCode`] value.
        code: u16,
        /// The server's message.
        message: String,
    },
    /// The reply had an unexpected type.
    #[error("expected {expected} reply, got {got}")]
    Unexpected {
        /// What the request expects.
        expected: MessageType,
        /// What came.
        got: MessageType,
    },
    /// A request could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The server sent something undecodable.
    #[error("protocol error from server: {0}")]
    Protocol(String),
    /// Resume needs a token from an earlier LoginOk or MoveTo.
    #[error("no resume token: log in first")]
    NoResumeToken,
    /// An address could not be parsed or resolved.
    #[error("bad address {0:?}")]
    BadAddress(String),
    /// A local socket operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The server error code, if this is a server error reply.
    pub fn server_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(ErrorCode(*code)),
            _ => None,
        }
    }
}

type Reply = Result<ServerMessage, String>;
type Pending = Arc<Mutex<HashMap<u32, oneshot::Sender<Reply>>>>;

#[derive(Default, Clone)]
struct ResumeState {
    token: Option<String>,
    viewport: Option<SetViewport>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Critical sections only move values in and out of maps; a poison cannot leave them torn.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One QUIC connection and its reader tasks.
struct Link {
    conn: quinn::Connection,
    // tokio Mutex: held across the `write_all().await` so frames never interleave.
    send: tokio::sync::Mutex<quinn::SendStream>,
    pending: Pending,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A connected client. Pushes arrive on the receiver returned by [`Client::connect`]; it stays
/// the same across [`Client::reconnect`]. Dropping it drops the pushes; requests still work.
pub struct Client {
    options: ClientOptions,
    endpoint: quinn::Endpoint,
    link: Link,
    next_id: AtomicU32,
    pushes: mpsc::Sender<ServerMessage>,
    state: Arc<Mutex<ResumeState>>,
    server: SocketAddr,
}

impl Client {
    /// Connects to `server`, checking its certificate against `options.fingerprint`.
    pub async fn connect(
        server: SocketAddr,
        options: ClientOptions,
    ) -> Result<(Client, mpsc::Receiver<ServerMessage>), ClientError> {
        let bind: SocketAddr = if server.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let endpoint = quinn::Endpoint::client(bind)?;
        Client::connect_with_endpoint(endpoint, server, options).await
    }

    /// Like [`Client::connect`] on an existing client endpoint, so many clients (bots, load
    /// tests) can share one UDP socket.
    pub async fn connect_with_endpoint(
        endpoint: quinn::Endpoint,
        server: SocketAddr,
        options: ClientOptions,
    ) -> Result<(Client, mpsc::Receiver<ServerMessage>), ClientError> {
        let (push_tx, push_rx) = mpsc::channel(options.push_queue.max(1));
        let state = Arc::new(Mutex::new(ResumeState::default()));
        let link = open_link(&endpoint, server, &options, &push_tx, &state).await?;
        Ok((
            Client {
                options,
                endpoint,
                link,
                next_id: AtomicU32::new(1),
                pushes: push_tx,
                state,
                server,
            },
            push_rx,
        ))
    }

    /// The server this client is connected to.
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }

    /// The token a [`Client::reconnect`] will resume with.
    pub fn resume_token(&self) -> Option<String> {
        lock(&self.state).token.clone()
    }

    /// The underlying QUIC connection (for stats such as RTT).
    pub fn connection(&self) -> &quinn::Connection {
        &self.link.conn
    }

    /// Logs in; remembers the resume token.
    pub async fn login(&self, login: Login) -> Result<LoginOk, ClientError> {
        match self.request(login).await? {
            ServerMessage::LoginOk(ok) => Ok(ok),
            other => Err(unexpected(MessageType::LoginOk, &other)),
        }
    }

    /// Resumes a session with `token`; remembers the new token.
    pub async fn resume(&self, token: impl Into<String>) -> Result<LoginOk, ClientError> {
        let msg = Resume {
            resume_token: token.into(),
        };
        match self.request(msg).await? {
            ServerMessage::LoginOk(ok) => Ok(ok),
            other => Err(unexpected(MessageType::LoginOk, &other)),
        }
    }

    /// Sets the viewport; remembers it so a reconnect restores it.
    pub async fn set_viewport(&self, viewport: SetViewport) -> Result<SetViewport, ClientError> {
        match self.request(viewport).await? {
            ServerMessage::ViewportSet(ViewportSet { viewport }) => {
                lock(&self.state).viewport = Some(viewport);
                Ok(viewport)
            }
            other => Err(unexpected(MessageType::ViewportSet, &other)),
        }
    }

    /// Sends a gameplay command and waits for its outcome.
    pub async fn command(&self, body: CommandBody) -> Result<CommandOutcome, ClientError> {
        match self.request(Command { body }).await? {
            ServerMessage::CommandResult(r) => Ok(r.outcome),
            other => Err(unexpected(MessageType::CommandResult, &other)),
        }
    }

    /// Claims mail `id`'s attachments into the storehouse. Answers once the grant is saved:
    /// [`Claim::Granted`] the first time, [`Claim::AlreadyClaimed`] for every later claim (a
    /// retry after a lost reply or a timeout, another device) — the resources arrive once.
    /// Safe to retry on any error. Errors from the server carry the mail service's codes
    /// (unknown mail, nothing to claim, expired, refused, unavailable).
    pub async fn claim_mail(&self, id: u64) -> Result<Claim, ClientError> {
        match self.request(crate::proto::MailClaim { id }).await? {
            ServerMessage::MailClaimed(c) if c.id == id => Ok(if c.already_claimed {
                Claim::AlreadyClaimed(c.attachments)
            } else {
                Claim::Granted(c.attachments)
            }),
            ServerMessage::MailClaimed(c) => Err(ClientError::Protocol(format!(
                "claim of mail {id} answered for mail {}",
                c.id
            ))),
            other => Err(unexpected(MessageType::MailClaimed, &other)),
        }
    }

    /// Runs a guild action and returns the guild as it now stands for this player (`None`
    /// after leaving or disbanding, or when a `Show { guild: 0 }` finds no guild of yours).
    /// A refusal is [`ClientError::Server`] with the guild service's code and the rule that
    /// refused ("the guild is full (100/100)", "only the leader may disband the guild");
    /// nothing changed then. Changes made by others arrive as [`crate::proto::GuildPush`]es.
    pub async fn guild(
        &self,
        action: crate::proto::GuildActionWire,
    ) -> Result<Option<crate::proto::GuildWire>, ClientError> {
        match self.request(crate::proto::GuildRequest { action }).await? {
            ServerMessage::GuildReply(r) => Ok(r.guild),
            other => Err(unexpected(MessageType::GuildReply, &other)),
        }
    }

    /// Says `text` in the player's guild chat; returns the message as stored (its id and
    /// time). The other members online get it pushed as a [`crate::proto::GuildChatPage`].
    /// Refusals: not in a guild, empty or too long (the guild service's code), too many
    /// messages a minute (`RATE_LIMITED`, with the wait).
    pub async fn guild_chat(
        &self,
        text: impl Into<String>,
    ) -> Result<crate::proto::GuildChatWire, ClientError> {
        let text = text.into();
        match self.request(crate::proto::GuildChatSend { text }).await? {
            ServerMessage::GuildChatPage(mut p) if p.messages.len() == 1 => {
                Ok(p.messages.remove(0))
            }
            other => Err(unexpected(MessageType::GuildChatPage, &other)),
        }
    }

    /// Up to `limit` (1..=100) messages of the guild chat with an id below `before` (0: the
    /// newest), newest first; page on with the last id.
    pub async fn guild_chat_history(
        &self,
        before: u64,
        limit: u16,
    ) -> Result<Vec<crate::proto::GuildChatWire>, ClientError> {
        match self
            .request(crate::proto::GuildChatHistory { before, limit })
            .await?
        {
            ServerMessage::GuildChatPage(p) => Ok(p.messages),
            other => Err(unexpected(MessageType::GuildChatPage, &other)),
        }
    }

    /// Round trip of a Ping through the server's protocol core.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let nonce = u64::from(self.next_request_id()) << 32 | 0x5eed;
        let start = Instant::now();
        match self.request(Ping { nonce }).await? {
            ServerMessage::Pong(p) if p.nonce == nonce => Ok(start.elapsed()),
            ServerMessage::Pong(p) => Err(ClientError::Protocol(format!(
                "pong nonce {} for ping {nonce}",
                p.nonce
            ))),
            other => Err(unexpected(MessageType::Pong, &other)),
        }
    }

    /// Sends any request and awaits the reply with the same request id. An
    /// [`crate::proto::ErrorReply`] becomes [`ClientError::Server`].
    pub async fn request(
        &self,
        message: impl Into<ClientMessage>,
    ) -> Result<ServerMessage, ClientError> {
        let id = self.next_request_id();
        let frame = message.into().encode_frame(id)?;
        let (tx, rx) = oneshot::channel();
        lock(&self.link.pending).insert(id, tx);
        let written = {
            let mut send = self.link.send.lock().await;
            send.write_all(&frame).await
        };
        if let Err(e) = written {
            lock(&self.link.pending).remove(&id);
            return Err(e.into());
        }
        let reply = match tokio::time::timeout(self.options.request_timeout, rx).await {
            Ok(Ok(reply)) => reply.map_err(ClientError::Protocol)?,
            Ok(Err(_)) => {
                return Err(match self.link.conn.close_reason() {
                    Some(reason) => ClientError::Connection(reason),
                    None => ClientError::ConnectionLost,
                });
            }
            Err(_) => {
                lock(&self.link.pending).remove(&id);
                return Err(ClientError::Timeout(self.options.request_timeout));
            }
        };
        match reply {
            ServerMessage::ErrorReply(e) => Err(ClientError::Server {
                code: e.code,
                message: e.message,
            }),
            ServerMessage::LoginOk(ok) => {
                lock(&self.state).token = Some(ok.resume_token.clone());
                Ok(ServerMessage::LoginOk(ok))
            }
            other => Ok(other),
        }
    }

    /// Sends a message as a push (request id 0): no reply is expected.
    pub async fn send_push(&self, message: impl Into<ClientMessage>) -> Result<(), ClientError> {
        let frame = message.into().encode_frame(PUSH_REQUEST_ID)?;
        let mut send = self.link.send.lock().await;
        send.write_all(&frame).await?;
        Ok(())
    }

    /// Reconnects (to `server`, or the same address) and resumes with the stored token, then
    /// restores the last viewport. `fingerprint` replaces the pin when the new server has another
    /// certificate. Pending requests of the old connection fail with `ConnectionLost`.
    pub async fn reconnect(
        &mut self,
        server: Option<SocketAddr>,
        fingerprint: Option<Fingerprint>,
    ) -> Result<LoginOk, ClientError> {
        let saved = lock(&self.state).clone();
        let token = saved.token.ok_or(ClientError::NoResumeToken)?;
        if let Some(fp) = fingerprint {
            self.options.fingerprint = fp;
        }
        let server = server.unwrap_or(self.server);
        self.link.conn.close(0u32.into(), b"reconnecting");
        self.link = open_link(
            &self.endpoint,
            server,
            &self.options,
            &self.pushes,
            &self.state,
        )
        .await?;
        self.server = server;
        let ok = self.resume(token).await?;
        if let Some(vp) = saved.viewport {
            self.set_viewport(vp).await?;
        }
        Ok(ok)
    }

    /// Follows a rotation [`MoveTo`] push: reconnects to its address (pinning its certificate
    /// if it names one) and resumes with its token.
    pub async fn follow_move(&mut self, to: &MoveTo) -> Result<LoginOk, ClientError> {
        // Resolved on tokio's blocking pool: the address may be a host name.
        let addr = tokio::net::lookup_host(to.address.as_str())
            .await
            .map_err(|_| ClientError::BadAddress(to.address.clone()))?
            .next()
            .ok_or_else(|| ClientError::BadAddress(to.address.clone()))?;
        let fp = if to.cert_sha256.is_empty() {
            None
        } else {
            Some(Fingerprint::from_slice(&to.cert_sha256).ok_or_else(|| {
                ClientError::Protocol("MoveTo.cert_sha256 is not 32 bytes".into())
            })?)
        };
        lock(&self.state).token = Some(to.resume_token.clone());
        self.reconnect(Some(addr), fp).await
    }

    /// Waits until the connection is closed and returns why (e.g. a kick's close code).
    pub async fn closed(&self) -> quinn::ConnectionError {
        self.link.conn.closed().await
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.link.conn.close(0u32.into(), b"client closing");
    }

    fn next_request_id(&self) -> u32 {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if id != PUSH_REQUEST_ID {
                return id;
            }
        }
    }
}

fn unexpected(expected: MessageType, got: &ServerMessage) -> ClientError {
    ClientError::Unexpected {
        expected,
        got: got.message_type(),
    }
}

async fn open_link(
    endpoint: &quinn::Endpoint,
    server: SocketAddr,
    options: &ClientOptions,
    pushes: &mpsc::Sender<ServerMessage>,
    state: &Arc<Mutex<ResumeState>>,
) -> Result<Link, ClientError> {
    let (mut config, verifier) = pinned_client_config(options.fingerprint)?;
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(options.keep_alive));
    config.transport_config(Arc::new(transport));
    let connecting = endpoint.connect_with(config, server, &options.server_name)?;
    let conn = match connecting.await {
        Ok(c) => c,
        Err(e) => {
            if let Some(actual) = verifier.last_mismatch() {
                return Err(FingerprintMismatch {
                    expected: options.fingerprint,
                    actual,
                }
                .into());
            }
            return Err(e.into());
        }
    };
    let (send, recv) = conn.open_bi().await?;
    let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let replies = tokio::spawn(read_replies(
        recv,
        options.max_frame_len,
        pending.clone(),
        pushes.clone(),
        state.clone(),
    ));
    let push_reader = tokio::spawn(accept_pushes(
        conn.clone(),
        options.max_frame_len,
        pushes.clone(),
        state.clone(),
    ));
    Ok(Link {
        conn,
        send: tokio::sync::Mutex::new(send),
        pending,
        tasks: vec![replies, push_reader],
    })
}

/// Reads frames from one receive stream and decodes them as server messages.
struct FrameReader {
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
}

impl FrameReader {
    fn new(recv: quinn::RecvStream, max_frame_len: u32) -> Self {
        FrameReader {
            recv,
            decoder: FrameDecoder::new(max_frame_len),
        }
    }

    /// The next frame as (request id, message or why it is undecodable); `None` at the end.
    async fn next(&mut self) -> Option<(u32, Reply)> {
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                return Some(match frame {
                    Ok(f) => (
                        f.request_id,
                        ServerMessage::decode(f.msg_type, &f.body).map_err(|e| e.to_string()),
                    ),
                    Err(e) => {
                        let id = match e {
                            crate::proto::FrameError::Oversize { request_id, .. } => request_id,
                            crate::proto::FrameError::TooShort { .. } => PUSH_REQUEST_ID,
                        };
                        (id, Err(e.to_string()))
                    }
                });
            }
            match self.recv.read_chunk(usize::MAX, true).await {
                Ok(Some(chunk)) => self.decoder.feed(&chunk.bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

fn remember_token(state: &Mutex<ResumeState>, msg: &ServerMessage) {
    if let ServerMessage::MoveTo(m) = msg {
        lock(state).token = Some(m.resume_token.clone());
    }
}

async fn read_replies(
    recv: quinn::RecvStream,
    max_frame_len: u32,
    pending: Pending,
    pushes: mpsc::Sender<ServerMessage>,
    state: Arc<Mutex<ResumeState>>,
) {
    let mut reader = FrameReader::new(recv, max_frame_len);
    while let Some((id, msg)) = reader.next().await {
        if id == PUSH_REQUEST_ID {
            // Errors about pushes we sent arrive with request id 0.
            match msg {
                Ok(m) => {
                    remember_token(&state, &m);
                    // A client that dropped its push receiver wants no pushes: replies still
                    // flow.
                    let _ = pushes.send(m).await;
                }
                Err(e) => tracing::warn!(%e, "undecodable frame from server"),
            }
        } else {
            let waiter = lock(&pending).remove(&id);
            match waiter {
                Some(tx) => {
                    let _ = tx.send(msg);
                }
                None => tracing::debug!(id, "reply for an unknown or timed-out request"),
            }
        }
    }
    // Dropping the waiters makes their requests fail with ConnectionLost.
    lock(&pending).clear();
}

async fn accept_pushes(
    conn: quinn::Connection,
    max_frame_len: u32,
    pushes: mpsc::Sender<ServerMessage>,
    state: Arc<Mutex<ResumeState>>,
) {
    while let Ok(recv) = conn.accept_uni().await {
        let mut reader = FrameReader::new(recv, max_frame_len);
        while let Some((_, msg)) = reader.next().await {
            match msg {
                Ok(m) => {
                    remember_token(&state, &m);
                    // Pushes are read (and dropped) even when nobody receives them, so the
                    // server never sees this client fall behind.
                    let _ = pushes.send(m).await;
                }
                Err(e) => tracing::warn!(%e, "undecodable push from server"),
            }
        }
    }
}
