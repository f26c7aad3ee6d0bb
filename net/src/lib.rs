//! `dominion-net`: Dominion's client protocol and its QUIC transport.
//!
//! **Responsible for:**
//! - the wire format ([`proto::frame`]: `u32 length | u16 type | u32 request id | rkyv body`) and
//!   the message types with their stable ids ([`proto::messages`]);
//! - validating every inbound body (rkyv `access` with bytecheck, then semantic limits) and
//!   answering bad input with a specific error, never a panic;
//! - the per-session protocol state machine ([`proto::Session`]): auth gating, rate limiting,
//!   closing sessions that keep sending bad frames; it is sans-IO (time passed in as `now`);
//! - the QUIC server shell ([`transport`]): TLS 1.3 (rustls + ring), self-signed certificate
//!   generation and pinning by SHA-256, session registry, bounded per-session outbound queues,
//!   kicks and pushes;
//! - the async client SDK ([`client`]) used by bots, tests and tools, with the client-side copies
//!   of the map view ([`mirror`]) and of the player's own state ([`player_view`]).
//!
//! **Not responsible for:** verifying platform tokens, creating accounts, issuing or checking
//! resume tokens, duplicate-login policy, rotation orchestration (all in the root crate, built
//! on [`transport::ServerHandle`]); the meaning of gameplay commands and the content of
//! [`proto::WorldDelta`] payloads (the sim and AOI work); persistence of anything.
//!
//! # How the root crate uses it
//!
//! ```no_run
//! use dominion_net::proto::{ClientMessage, ErrorCode, LoginOk, ServerMessage};
//! use dominion_net::transport::{Server, ServerEvent, ServerOptions};
//! use dominion_sim::types::PlayerId;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (server, mut events) = Server::bind(ServerOptions::new(
//!     "0.0.0.0:4433".parse()?,
//!     "data",
//! ))?;
//! println!("certificate sha256 {}", server.fingerprint()); // clients pin this
//! let net = server.handle();
//! while let Some(event) = events.recv().await {
//!     match event {
//!         ServerEvent::Message { session, request_id, message: ClientMessage::Login(login) } => {
//!             // The login service verifies `login.platform_token` and loads/creates the account.
//!             let player = PlayerId::compose(1, 1);
//!             if let Some(old) = net.bind_player(session, player)? {
//!                 net.kick(old, 1001, "logged in elsewhere")?; // one session per player
//!             }
//!             let ok = LoginOk { player_id: player.0, resume_token: "…".into(), server_time_tick: 0 };
//!             net.reply(session, request_id, &ok.into())?;
//!         }
//!         ServerEvent::Message { session, request_id, message } => {
//!             // Commands go to the sim's inbox; the result is replied with the same request id.
//!             # let _ = message;
//!             net.reply(session, request_id, &ServerMessage::error(ErrorCode::MAINTENANCE, "later"))?;
//!         }
//!         ServerEvent::Connected { .. } | ServerEvent::Disconnected { .. } => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Per tick, the AOI system's deltas go out with [`transport::ServerHandle::push`] (or
//! [`transport::ServerHandle::push_many`] for one message to many sessions, encoded once).

pub mod client;
pub mod mirror;
pub mod player_view;
pub mod proto;
pub mod transport;
