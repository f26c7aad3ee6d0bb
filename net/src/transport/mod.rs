//! The async shell around [`crate::proto`]: quinn 0.11 over tokio, TLS 1.3 with rustls + ring.
//!
//! ## Streams (decided, with reasons)
//! - **Requests and replies: one long-lived bidirectional stream per connection**, opened by the
//!   client. Frames already carry request ids, so replies need no per-request stream to be
//!   matched; one stream means one [`crate::proto::FrameDecoder`] and one rate limiter per
//!   session, no per-request stream-open cost or stream-credit bookkeeping, and a hard cap the
//!   server can enforce (`max_concurrent_bidi_streams = 1`, client uni streams = 0). The cost is
//!   head-of-line blocking between requests of one client, which is harmless: the world applies
//!   a client's commands in order at tick boundaries anyway, and requests are small. The
//!   integration test `request_rtt_one_stream_vs_stream_per_request` measures both on loopback
//!   with a plain quinn echo: one stream p50 27 µs / p99 146 µs, a stream per request p50
//!   32 µs / p99 171 µs (release, 2 cores, 500 sequential requests); the full stack (SDK →
//!   session core → Pong) p50 32 µs / p99 206 µs. Per-request streams buy nothing here.
//!
//! ## Figures (loopback, 2 cores, release)
//! One handshake 1–3 ms (first in a process up to ~11 ms); 200 concurrent handshakes + logins
//! 0.3–0.5 s; 1,000 concurrent 0.94 s with 4 MiB UDP buffers against 30 s and 5 timeouts with
//! 208 KiB (ignored test `handshake_storm`).
//! - **Pushes (world deltas, kicks, MoveTo): one server-opened unidirectional stream**, not
//!   datagrams. AOI deltas are incremental (enter / update / leave): a lost delta would corrupt
//!   the client's view until a resync, so they need reliable, ordered delivery; datagrams are
//!   lossy (PITFALLS: 3–26% lost on loopback under load, and `send_datagram` silently drops the
//!   oldest queued ones) and limited to one packet (~1200 bytes), too small for a busy viewport.
//!
//! ## Slow clients
//! Each session has a bounded outbound queue ([`ServerOptions::outbound_queue`] frames and
//! [`ServerOptions::outbound_queue_bytes`] bytes, 1024 frames / 4 MiB by default, so 10k
//! sessions cannot hold more than ~40 GiB even in the worst case, and normally hold nothing:
//! the queue only fills while QUIC flow control holds the writer back). When it is full the session is **disconnected** with [`crate::proto::CloseCode::SLOW_CONSUMER`], not
//! dropped-from: dropping a delta would silently desynchronise the client's AOI state, while a
//! disconnect is visible and the client SDK can resume (and get a fresh snapshot).
//!
//! ## Application API
//! [`Server::bind`] returns the [`Server`] and a `Receiver<`[`ServerEvent`]`>`; the application
//! reads events and acts through a cloneable [`ServerHandle`]: reply, push, push to many
//! sessions (encoded once), bind a session to a player (returns the player's previous session,
//! for kick-on-duplicate-login), kick (Kick push, flush, close), close.

mod outbound;
mod rate_keys;
mod server;
mod slots;
pub mod socket;
pub mod tls;

pub use server::{
    PushReport, SendError, Server, ServerError, ServerEvent, ServerHandle, ServerOptions, SessionId,
};
pub use slots::SlotLimits;
pub use socket::SocketBuffers;
pub use tls::{CertSource, Fingerprint, FingerprintMismatch, TlsError};
