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
//! - the async client SDK ([`client`]) used by bots, tests and tools.
//!
//! **Not responsible for:** verifying platform tokens, creating accounts, issuing or checking
//! resume tokens, duplicate-login policy, rotation orchestration (all in the root crate, built
//! on [`transport::ServerHandle`]); the meaning of gameplay commands and the content of
//! [`proto::WorldDelta`] payloads (the sim and AOI work); persistence of anything.

pub mod client;
pub mod proto;
pub mod transport;
