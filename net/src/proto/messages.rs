//! Wire messages: rkyv 0.8 types, each with a stable `u16` type id.
//!
//! A frame's body is the rkyv archive of exactly one message struct; the frame's type id says
//! which. Client→server ids are below `0x8000`; server→client ids have the high bit set, so a
//! frame travelling the wrong way is rejected by id alone.
//!
//! | id | message | direction | request id |
//! |---|---|---|---|
//! | `0x0001` | [`Login`] | C→S | request |
//! | `0x0002` | [`Resume`] | C→S | request |
//! | `0x0003` | [`SetViewport`] | C→S | request (or push: no reply) |
//! | `0x0004` | [`Ping`] | C→S | request |
//! | `0x0010` | [`Command`] | C→S | request |
//! | `0x0020`–`0x0023` | [`MailList`], [`MailRead`], [`MailMarkRead`], [`MailDelete`] | C→S | request |
//! | `0x0024` | [`MailClaim`] | C→S | request |
//! | `0x0030` | [`GuildRequest`] | C→S | request |
//! | `0x0031`, `0x0032` | [`GuildChatSend`], [`GuildChatHistory`] | C→S | request |
//! | `0x8000` | [`ErrorReply`] | S→C | reply (or push for errors on pushes) |
//! | `0x8001` | [`LoginOk`] | S→C | reply to Login/Resume |
//! | `0x8003` | [`ViewportSet`] | S→C | reply to SetViewport |
//! | `0x8004` | [`Pong`] | S→C | reply to Ping |
//! | `0x8010` | [`CommandResult`] | S→C | reply to Command |
//! | `0x8020`–`0x8022` | [`MailPage`], [`MailItem`], [`MailDone`] | S→C | replies to mail requests |
//! | `0x8023` | [`MailClaimed`] | S→C | reply to MailClaim |
//! | `0x8030` | [`GuildReply`] | S→C | reply to GuildRequest |
//! | `0x8031` | [`GuildChatPage`] | S→C | reply to GuildChatSend/History; push of a new message |
//! | `0x8100` | [`Kick`] | S→C | push |
//! | `0x8101` | [`MoveTo`] | S→C | push |
//! | `0x8200` | [`WorldDelta`] | S→C | push |
//! | `0x8201` | [`PlayerDelta`] | S→C | push |
//! | `0x8202` | [`PlayerEvent`] | S→C | push |
//! | `0x8203` | [`GuildPush`] | S→C | push |
//!
//! **Compatibility rules:** ids are never reused or renumbered. rkyv archives are positional, so a
//! message struct's fields are never reordered or retyped; a new field means a new message type.
//! [`CommandBody`] and [`CommandOutcome`] are rkyv enums whose variants may only be *appended*
//! (the archived discriminant is the variant's position).
//!
//! Every inbound body is checked with `rkyv::access` (bytecheck: bounds, alignment, UTF-8, enum
//! discriminants, bools) and then against the semantic limits in [`limits`]; the error names the
//! message type and the reason.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

/// Semantic limits checked on every inbound message after bytecheck validation.
pub mod limits {
    /// Longest accepted `openid` (bytes).
    pub const MAX_OPENID_LEN: usize = 128;
    /// Longest accepted platform token (bytes).
    pub const MAX_PLATFORM_TOKEN_LEN: usize = 4096;
    /// Longest accepted client version string (bytes).
    pub const MAX_CLIENT_VERSION_LEN: usize = 64;
    /// Longest accepted resume token (bytes).
    pub const MAX_RESUME_TOKEN_LEN: usize = 256;
    /// Largest viewport width or height in tiles.
    pub const MAX_VIEWPORT_SPAN: u16 = 512;
    /// Highest zoom level.
    pub const MAX_ZOOM: u8 = 7;
    /// Most troop entries in one march.
    pub const MAX_MARCH_TROOP_ENTRIES: usize = 64;
}

/// Stable message type ids (the `u16` in every frame header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MessageType {
    /// [`Login`].
    Login = 0x0001,
    /// [`Resume`].
    Resume = 0x0002,
    /// [`SetViewport`].
    SetViewport = 0x0003,
    /// [`Ping`].
    Ping = 0x0004,
    /// [`Command`].
    Command = 0x0010,
    /// [`MailList`].
    MailList = 0x0020,
    /// [`MailRead`].
    MailRead = 0x0021,
    /// [`MailMarkRead`].
    MailMarkRead = 0x0022,
    /// [`MailDelete`].
    MailDelete = 0x0023,
    /// [`MailClaim`].
    MailClaim = 0x0024,
    /// [`GuildRequest`].
    GuildRequest = 0x0030,
    /// [`GuildChatSend`].
    GuildChatSend = 0x0031,
    /// [`GuildChatHistory`].
    GuildChatHistory = 0x0032,
    /// [`ErrorReply`].
    ErrorReply = 0x8000,
    /// [`LoginOk`].
    LoginOk = 0x8001,
    /// [`ViewportSet`].
    ViewportSet = 0x8003,
    /// [`Pong`].
    Pong = 0x8004,
    /// [`CommandResult`].
    CommandResult = 0x8010,
    /// [`MailPage`].
    MailPage = 0x8020,
    /// [`MailItem`].
    MailItem = 0x8021,
    /// [`MailDone`].
    MailDone = 0x8022,
    /// [`MailClaimed`].
    MailClaimed = 0x8023,
    /// [`GuildReply`].
    GuildReply = 0x8030,
    /// [`GuildChatPage`].
    GuildChatPage = 0x8031,
    /// [`Kick`].
    Kick = 0x8100,
    /// [`MoveTo`].
    MoveTo = 0x8101,
    /// [`WorldDelta`].
    WorldDelta = 0x8200,
    /// [`PlayerDelta`].
    PlayerDelta = 0x8201,
    /// [`PlayerEvent`].
    PlayerEvent = 0x8202,
    /// [`GuildPush`].
    GuildPush = 0x8203,
}

impl MessageType {
    /// Every known type.
    pub const ALL: [MessageType; 30] = [
        MessageType::Login,
        MessageType::Resume,
        MessageType::SetViewport,
        MessageType::Ping,
        MessageType::Command,
        MessageType::ErrorReply,
        MessageType::LoginOk,
        MessageType::ViewportSet,
        MessageType::Pong,
        MessageType::CommandResult,
        MessageType::Kick,
        MessageType::MoveTo,
        MessageType::WorldDelta,
        MessageType::PlayerDelta,
        MessageType::PlayerEvent,
        MessageType::MailList,
        MessageType::MailRead,
        MessageType::MailMarkRead,
        MessageType::MailDelete,
        MessageType::MailPage,
        MessageType::MailItem,
        MessageType::MailDone,
        MessageType::MailClaim,
        MessageType::MailClaimed,
        MessageType::GuildRequest,
        MessageType::GuildReply,
        MessageType::GuildPush,
        MessageType::GuildChatSend,
        MessageType::GuildChatHistory,
        MessageType::GuildChatPage,
    ];

    /// The wire id.
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// The type for a wire id, if known.
    pub fn from_id(id: u16) -> Option<Self> {
        MessageType::ALL.into_iter().find(|t| t.id() == id)
    }

    /// True for server→client types (high bit set).
    pub const fn is_server_to_client(self) -> bool {
        self.id() & 0x8000 != 0
    }

    /// The name used in errors and logs.
    pub const fn name(self) -> &'static str {
        match self {
            MessageType::Login => "Login",
            MessageType::Resume => "Resume",
            MessageType::SetViewport => "SetViewport",
            MessageType::Ping => "Ping",
            MessageType::Command => "Command",
            MessageType::ErrorReply => "ErrorReply",
            MessageType::LoginOk => "LoginOk",
            MessageType::ViewportSet => "ViewportSet",
            MessageType::Pong => "Pong",
            MessageType::CommandResult => "CommandResult",
            MessageType::Kick => "Kick",
            MessageType::MoveTo => "MoveTo",
            MessageType::WorldDelta => "WorldDelta",
            MessageType::PlayerDelta => "PlayerDelta",
            MessageType::PlayerEvent => "PlayerEvent",
            MessageType::MailList => "MailList",
            MessageType::MailRead => "MailRead",
            MessageType::MailMarkRead => "MailMarkRead",
            MessageType::MailDelete => "MailDelete",
            MessageType::MailPage => "MailPage",
            MessageType::MailItem => "MailItem",
            MessageType::MailDone => "MailDone",
            MessageType::MailClaim => "MailClaim",
            MessageType::MailClaimed => "MailClaimed",
            MessageType::GuildRequest => "GuildRequest",
            MessageType::GuildReply => "GuildReply",
            MessageType::GuildPush => "GuildPush",
            MessageType::GuildChatSend => "GuildChatSend",
            MessageType::GuildChatHistory => "GuildChatHistory",
            MessageType::GuildChatPage => "GuildChatPage",
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:#06x})", self.name(), self.id())
    }
}

/// Error codes carried by [`ErrorReply::code`]. Codes below 1000 belong to the protocol layer;
/// the application defines its own from 1000 up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// The frame or body could not be decoded or failed validation.
    pub const MALFORMED: ErrorCode = ErrorCode(1);
    /// The frame exceeded the size limit.
    pub const OVERSIZE: ErrorCode = ErrorCode(2);
    /// Unknown message type, or a server→client type sent by a client.
    pub const UNKNOWN_TYPE: ErrorCode = ErrorCode(3);
    /// Only Login or Resume is allowed before authentication.
    pub const NOT_AUTHENTICATED: ErrorCode = ErrorCode(4);
    /// Login or Resume on an already authenticated session.
    pub const ALREADY_AUTHENTICATED: ErrorCode = ErrorCode(5);
    /// The per-session request rate was exceeded; the request was dropped.
    pub const RATE_LIMITED: ErrorCode = ErrorCode(6);
    /// Login or resume refused (bad token, unknown account...).
    pub const AUTH_FAILED: ErrorCode = ErrorCode(7);
    /// The action is blocked during maintenance (rotation stage 2).
    pub const MAINTENANCE: ErrorCode = ErrorCode(8);
    /// The server failed; the request may be retried.
    pub const INTERNAL: ErrorCode = ErrorCode(9);
    /// A Login or Resume on this session is still being answered; wait for its reply.
    pub const LOGIN_PENDING: ErrorCode = ErrorCode(10);
    /// First code available to the application.
    pub const APPLICATION_BASE: u16 = 1000;
}

/// Client → server: log in with a platform identity.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// Platform account id.
    pub openid: String,
    /// Token the platform issued, verified by the login service.
    pub platform_token: String,
    /// Client build, for compatibility checks.
    pub client_version: String,
}

/// Server → client: reply to [`Login`] or [`Resume`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LoginOk {
    /// The player's id ([`dominion_sim::types::PlayerId`]).
    pub player_id: u64,
    /// Opaque token for [`Resume`] after a disconnect or a [`MoveTo`].
    pub resume_token: String,
    /// World tick at the time of the reply.
    pub server_time_tick: u64,
}

/// Client → server: resume a session (after a reconnect or a rotation) without a new login.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// Token from the last [`LoginOk`] or [`MoveTo`].
    pub resume_token: String,
}

/// Client → server: the rectangle of the map the client watches.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetViewport {
    /// West edge (tile column).
    pub x: u16,
    /// North edge (tile row).
    pub y: u16,
    /// Width in tiles, `1..=MAX_VIEWPORT_SPAN`.
    pub w: u16,
    /// Height in tiles, `1..=MAX_VIEWPORT_SPAN`.
    pub h: u16,
    /// Zoom level, `0..=MAX_ZOOM`; higher levels filter small objects.
    pub zoom: u8,
}

/// Server → client: reply to [`SetViewport`], the viewport as applied (possibly clamped).
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewportSet {
    /// The applied viewport.
    pub viewport: SetViewport,
}

/// Client → server: liveness/RTT probe, answered by the protocol core itself.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// Echoed in the [`Pong`].
    pub nonce: u64,
}

/// Server → client: reply to [`Ping`].
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pong {
    /// The ping's nonce.
    pub nonce: u64,
}

/// Server → client: a request failed (or a push was rejected, with request id 0).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    /// An [`ErrorCode`] value.
    pub code: u16,
    /// Human-readable reason.
    pub message: String,
}

/// Server → client push: the session is being closed by the server.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Kick {
    /// Machine-readable reason (an [`ErrorCode`]-style value).
    pub code: u16,
    /// Human-readable reason ("logged in elsewhere", "server shutting down"...).
    pub reason: String,
}

/// Server → client push (rotation stage 3): reconnect to `address` and [`Resume`] with the token.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MoveTo {
    /// `host:port` of the new instance.
    pub address: String,
    /// Token to present in [`Resume`] there.
    pub resume_token: String,
    /// SHA-256 of the new instance's certificate, or empty if it is the same certificate.
    pub cert_sha256: Vec<u8>,
}

/// Client → server: a gameplay command; the reply is a [`CommandResult`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// What to do.
    pub body: CommandBody,
}

/// Server → client: reply to [`Command`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CommandResult {
    /// Outcome of the command.
    pub outcome: CommandOutcome,
}

pub use super::guild::{
    GuildChatHistory, GuildChatPage, GuildChatSend, GuildPush, GuildReply, GuildRequest,
};
pub use super::mail::{
    MailClaim, MailClaimed, MailDelete, MailDone, MailItem, MailList, MailMarkRead, MailPage,
    MailRead,
};
pub use super::notice::PlayerEvent;
pub use super::player::PlayerDelta;
pub use command_enums::{CommandBody, CommandOutcome};

// rkyv's derive copies the docs of struct fields onto the archived types, but not those of enum
// variant fields, so the generated `Archived*` enums would trip `missing_docs`; every item here
// is documented by hand.
#[allow(missing_docs)]
mod command_enums {
    use rkyv::{Archive, Deserialize, Serialize};

    /// Gameplay commands. Append-only (see the module docs).
    #[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
    pub enum CommandBody {
        /// Send a march from the player's city to a target object.
        SendMarch {
            /// `(unit type, count)` pairs; empty for a scout.
            troops: Vec<(u16, u32)>,
            /// The target object ([`dominion_sim::types::ObjectId`]): a field, monster, city
            /// or march.
            target: u64,
            /// Mission code: 0 gather, 1 attack, 2 reinforce, 3 scout.
            mission: u8,
        },
        /// Recall one of the player's marches.
        Recall {
            /// The march ([`dominion_sim::types::ObjectId`]).
            march_id: u64,
        },
        /// Move the player's city to an empty plain tile.
        RelocateCity {
            /// Tile column.
            x: u16,
            /// Tile row.
            y: u16,
        },
    }

    /// Outcome of a command. Append-only (see the module docs).
    #[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
    pub enum CommandOutcome {
        /// A march left; it reaches its target at `arrival_tick`.
        MarchSent {
            /// The new march ([`dominion_sim::types::ObjectId`]).
            march_id: u64,
            /// World tick of arrival.
            arrival_tick: u64,
        },
        /// A march turned home; it is back at `arrival_tick`.
        Recalled {
            /// The march.
            march_id: u64,
            /// World tick it is home.
            arrival_tick: u64,
        },
        /// The city moved.
        Relocated {
            /// The city ([`dominion_sim::types::ObjectId`]).
            city_id: u64,
            /// New tile column.
            x: u16,
            /// New tile row.
            y: u16,
        },
        /// Refused by the rules.
        Refused {
            /// Machine-readable reason (application codes).
            reason_code: u16,
            /// Human-readable reason.
            message: String,
        },
    }
}

/// Server → client push: one tick's AOI changes for this client.
///
/// The payload is opaque to `net`: the AOI work (in `sim`) defines its content (enter / update /
/// leave records). `net` only carries it.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WorldDelta {
    /// World tick the delta brings the client to.
    pub tick: u64,
    /// Encoded delta, defined by the AOI work.
    pub payload: Vec<u8>,
}

/// Why a body could not be turned into a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// No message has this id.
    #[error("unknown message type {0:#06x}")]
    UnknownType(u16),
    /// A known type that may not travel in this direction.
    #[error("message type {0} may not be sent in this direction")]
    WrongDirection(MessageType),
    /// The body failed rkyv/bytecheck validation.
    #[error("malformed {msg_type} body: {reason}")]
    Malformed {
        /// The frame's type.
        msg_type: MessageType,
        /// What bytecheck said.
        reason: String,
    },
    /// The body decoded but breaks a semantic limit.
    #[error("invalid {msg_type}: {reason}")]
    Invalid {
        /// The frame's type.
        msg_type: MessageType,
        /// Which field and why.
        reason: String,
    },
}

/// Error serializing a message.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// rkyv failed (does not happen for these types short of allocation failure).
    #[error("serializing {msg_type}: {source}")]
    Serialize {
        /// The message type.
        msg_type: MessageType,
        /// rkyv's error.
        source: rancor::Error,
    },
    /// The encoded frame is too large for the `u32` length.
    #[error(transparent)]
    TooLarge(#[from] super::frame::FrameTooLarge),
}

/// Validates `body` with `rkyv::access` (checked) and deserializes it.
fn decode_body<T>(msg_type: MessageType, body: &[u8]) -> Result<T, MessageError>
where
    T: Archive,
    T::Archived: rkyv::Portable
        + for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rancor::Error>>,
{
    // The body sits at an arbitrary offset in the receive buffer; rkyv needs it aligned.
    let mut aligned = AlignedVec::<16>::with_capacity(body.len());
    aligned.extend_from_slice(body);
    let archived = rkyv::access::<T::Archived, rancor::Error>(&aligned).map_err(|e| {
        MessageError::Malformed {
            msg_type,
            reason: e.to_string(),
        }
    })?;
    rkyv::deserialize::<T, rancor::Error>(archived).map_err(|e| MessageError::Malformed {
        msg_type,
        reason: e.to_string(),
    })
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!("{field} is {} bytes, limit {max}", value.len()));
    }
    Ok(())
}

fn check_nonempty(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    Ok(())
}

/// Semantic checks on a decoded inbound message.
pub(crate) trait Validate {
    fn validate(&self) -> Result<(), String>;
}

impl Validate for Login {
    fn validate(&self) -> Result<(), String> {
        check_nonempty("openid", &self.openid)?;
        check_len("openid", &self.openid, limits::MAX_OPENID_LEN)?;
        check_len(
            "platform_token",
            &self.platform_token,
            limits::MAX_PLATFORM_TOKEN_LEN,
        )?;
        check_len(
            "client_version",
            &self.client_version,
            limits::MAX_CLIENT_VERSION_LEN,
        )
    }
}

impl Validate for Resume {
    fn validate(&self) -> Result<(), String> {
        check_nonempty("resume_token", &self.resume_token)?;
        check_len(
            "resume_token",
            &self.resume_token,
            limits::MAX_RESUME_TOKEN_LEN,
        )
    }
}

impl Validate for SetViewport {
    fn validate(&self) -> Result<(), String> {
        for (name, v) in [("w", self.w), ("h", self.h)] {
            if v == 0 || v > limits::MAX_VIEWPORT_SPAN {
                return Err(format!(
                    "{name} = {v}, must be 1..={}",
                    limits::MAX_VIEWPORT_SPAN
                ));
            }
        }
        if self.zoom > limits::MAX_ZOOM {
            return Err(format!(
                "zoom = {}, must be 0..={}",
                self.zoom,
                limits::MAX_ZOOM
            ));
        }
        Ok(())
    }
}

impl Validate for Ping {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Validate for Command {
    fn validate(&self) -> Result<(), String> {
        match &self.body {
            CommandBody::SendMarch {
                troops, mission, ..
            } => {
                // Whether a mission needs troops is a game rule (the sim answers with a reason);
                // here only the shape is checked.
                if *mission > 3 {
                    return Err(format!("SendMarch.mission = {mission}, expected 0..=3"));
                }
                if troops.len() > limits::MAX_MARCH_TROOP_ENTRIES {
                    return Err(format!(
                        "SendMarch.troops has {} entries, limit {}",
                        troops.len(),
                        limits::MAX_MARCH_TROOP_ENTRIES
                    ));
                }
                let mut seen = std::collections::HashSet::with_capacity(troops.len());
                for &(unit, count) in troops {
                    if count == 0 {
                        return Err(format!("SendMarch.troops: unit {unit} has count 0"));
                    }
                    if !seen.insert(unit) {
                        return Err(format!("SendMarch.troops: unit {unit} listed twice"));
                    }
                }
                Ok(())
            }
            CommandBody::Recall { .. } | CommandBody::RelocateCity { .. } => Ok(()),
        }
    }
}

/// Server-side outbound messages carry no inbound semantic limits beyond bytecheck.
macro_rules! no_semantic_limits {
    ($($t:ty),*) => { $(impl Validate for $t { fn validate(&self) -> Result<(), String> { Ok(()) } })* };
}
no_semantic_limits!(
    LoginOk,
    ViewportSet,
    Pong,
    ErrorReply,
    Kick,
    MoveTo,
    CommandResult,
    WorldDelta,
    PlayerDelta,
    PlayerEvent,
    MailPage,
    MailItem,
    MailDone,
    MailRead,
    MailDelete,
    MailClaim,
    MailClaimed,
    GuildReply,
    GuildPush,
    GuildChatPage
);

macro_rules! message_enum {
    (
        $(#[$meta:meta])*
        $name:ident, server_to_client = $dir:expr, { $($(#[$vmeta:meta])* $variant:ident),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant($variant),)*
        }

        impl $name {
            /// This message's type id.
            pub fn message_type(&self) -> MessageType {
                match self {
                    $($name::$variant(_) => MessageType::$variant,)*
                }
            }

            /// Serializes the body (without frame header).
            pub fn encode_body(&self) -> Result<AlignedVec, EncodeError> {
                let msg_type = self.message_type();
                match self {
                    $($name::$variant(m) => rkyv::to_bytes::<rancor::Error>(m),)*
                }
                .map_err(|source| EncodeError::Serialize { msg_type, source })
            }

            /// Encodes a whole frame (header + body) for `request_id`.
            pub fn encode_frame(&self, request_id: u32) -> Result<Vec<u8>, EncodeError> {
                let body = self.encode_body()?;
                let mut out = Vec::with_capacity(super::frame::HEADER_LEN + body.len());
                super::frame::encode_frame(self.message_type().id(), request_id, &body, &mut out)?;
                Ok(out)
            }

            /// Validates (rkyv `access`, then semantic limits) and decodes a body of type `id`.
            pub fn decode(id: u16, body: &[u8]) -> Result<Self, MessageError> {
                let msg_type = MessageType::from_id(id).ok_or(MessageError::UnknownType(id))?;
                if msg_type.is_server_to_client() != $dir {
                    return Err(MessageError::WrongDirection(msg_type));
                }
                let msg = match msg_type {
                    $(MessageType::$variant => {
                        let m: $variant = decode_body(msg_type, body)?;
                        m.validate()
                            .map_err(|reason| MessageError::Invalid { msg_type, reason })?;
                        $name::$variant(m)
                    })*
                    #[allow(unreachable_patterns)]
                    other => return Err(MessageError::WrongDirection(other)),
                };
                Ok(msg)
            }
        }

        $(
            impl From<$variant> for $name {
                fn from(m: $variant) -> Self {
                    $name::$variant(m)
                }
            }
        )*
    };
}

message_enum!(
    /// Any message a client may send.
    ClientMessage, server_to_client = false, {
        /// See [`Login`].
        Login,
        /// See [`Resume`].
        Resume,
        /// See [`SetViewport`].
        SetViewport,
        /// See [`Ping`].
        Ping,
        /// See [`Command`].
        Command,
        /// See [`MailList`].
        MailList,
        /// See [`MailRead`].
        MailRead,
        /// See [`MailMarkRead`].
        MailMarkRead,
        /// See [`MailDelete`].
        MailDelete,
        /// See [`MailClaim`].
        MailClaim,
        /// See [`GuildRequest`].
        GuildRequest,
        /// See [`GuildChatSend`].
        GuildChatSend,
        /// See [`GuildChatHistory`].
        GuildChatHistory,
    }
);

message_enum!(
    /// Any message the server may send.
    ServerMessage, server_to_client = true, {
        /// See [`ErrorReply`].
        ErrorReply,
        /// See [`LoginOk`].
        LoginOk,
        /// See [`ViewportSet`].
        ViewportSet,
        /// See [`Pong`].
        Pong,
        /// See [`CommandResult`].
        CommandResult,
        /// See [`Kick`].
        Kick,
        /// See [`MoveTo`].
        MoveTo,
        /// See [`WorldDelta`].
        WorldDelta,
        /// See [`PlayerDelta`].
        PlayerDelta,
        /// See [`PlayerEvent`].
        PlayerEvent,
        /// See [`MailPage`].
        MailPage,
        /// See [`MailItem`].
        MailItem,
        /// See [`MailDone`].
        MailDone,
        /// See [`MailClaimed`].
        MailClaimed,
        /// See [`GuildReply`].
        GuildReply,
        /// See [`GuildPush`].
        GuildPush,
        /// See [`GuildChatPage`].
        GuildChatPage,
    }
);

impl ServerMessage {
    /// An [`ErrorReply`] with `code` and `message`.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMessage::ErrorReply(ErrorReply {
            code: code.0,
            message: message.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples_client() -> Vec<ClientMessage> {
        vec![
            Login {
                openid: "o-1".into(),
                platform_token: "tok".into(),
                client_version: "1.2.3".into(),
            }
            .into(),
            Resume {
                resume_token: "r".into(),
            }
            .into(),
            SetViewport {
                x: 10,
                y: 20,
                w: 30,
                h: 40,
                zoom: 2,
            }
            .into(),
            Ping { nonce: 99 }.into(),
            Command {
                body: CommandBody::SendMarch {
                    troops: vec![(1, 100), (3, 7)],
                    target: 600,
                    mission: 1,
                },
            }
            .into(),
            Command {
                body: CommandBody::Recall { march_id: 77 },
            }
            .into(),
        ]
    }

    fn samples_server() -> Vec<ServerMessage> {
        vec![
            ServerMessage::error(ErrorCode::RATE_LIMITED, "slow down"),
            LoginOk {
                player_id: 1 << 16 | 7,
                resume_token: "tok".into(),
                server_time_tick: 12,
            }
            .into(),
            ViewportSet {
                viewport: SetViewport {
                    x: 1,
                    y: 2,
                    w: 3,
                    h: 4,
                    zoom: 0,
                },
            }
            .into(),
            Pong { nonce: 3 }.into(),
            CommandResult {
                outcome: CommandOutcome::MarchSent {
                    march_id: 9,
                    arrival_tick: 1234,
                },
            }
            .into(),
            CommandResult {
                outcome: CommandOutcome::Refused {
                    reason_code: 1001,
                    message: "no troops".into(),
                },
            }
            .into(),
            Kick {
                code: 1,
                reason: "bye".into(),
            }
            .into(),
            MoveTo {
                address: "127.0.0.1:4433".into(),
                resume_token: "t".into(),
                cert_sha256: vec![1; 32],
            }
            .into(),
            WorldDelta {
                tick: 5,
                payload: vec![1, 2, 3],
            }
            .into(),
        ]
    }

    #[test]
    fn type_ids_are_unique_and_directional() {
        let mut ids: Vec<u16> = MessageType::ALL.iter().map(|t| t.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), MessageType::ALL.len());
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_id(t.id()), Some(t));
        }
        assert!(!MessageType::Login.is_server_to_client());
        assert!(MessageType::Kick.is_server_to_client());
        // The table in the module docs is the contract: pin a few ids.
        assert_eq!(MessageType::Login.id(), 0x0001);
        assert_eq!(MessageType::Command.id(), 0x0010);
        assert_eq!(MessageType::ErrorReply.id(), 0x8000);
        assert_eq!(MessageType::WorldDelta.id(), 0x8200);
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples_client() {
            let body = m.encode_body().unwrap();
            let back = ClientMessage::decode(m.message_type().id(), &body).unwrap();
            assert_eq!(back, m);
        }
        for m in samples_server() {
            let body = m.encode_body().unwrap();
            let back = ServerMessage::decode(m.message_type().id(), &body).unwrap();
            assert_eq!(back, m);
        }
    }

    #[test]
    fn decode_tolerates_unaligned_bodies() {
        let m: ClientMessage = Ping {
            nonce: 0x0102_0304_0506_0708,
        }
        .into();
        let body = m.encode_body().unwrap();
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&body);
        assert_eq!(
            ClientMessage::decode(MessageType::Ping.id(), &shifted[1..]).unwrap(),
            m
        );
    }

    #[test]
    fn wrong_direction_and_unknown_types_are_rejected() {
        let body = ServerMessage::from(Pong { nonce: 1 })
            .encode_body()
            .unwrap();
        assert_eq!(
            ClientMessage::decode(MessageType::Pong.id(), &body),
            Err(MessageError::WrongDirection(MessageType::Pong))
        );
        assert_eq!(
            ClientMessage::decode(0x7777, &body),
            Err(MessageError::UnknownType(0x7777))
        );
    }

    #[test]
    fn malformed_bodies_name_the_type_and_reason() {
        let err = ClientMessage::decode(MessageType::Login.id(), &[1, 2, 3]).unwrap_err();
        match &err {
            MessageError::Malformed { msg_type, reason } => {
                assert_eq!(*msg_type, MessageType::Login);
                assert!(!reason.is_empty());
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        assert!(err.to_string().starts_with("malformed Login (0x0001) body"));
    }

    #[test]
    fn bad_enum_discriminant_is_rejected() {
        let m: ClientMessage = Command {
            body: CommandBody::Recall { march_id: 1 },
        }
        .into();
        let mut body = m.encode_body().unwrap().to_vec();
        // Find the discriminant byte of Recall (1) and corrupt it to an undefined variant.
        let good = ClientMessage::decode(MessageType::Command.id(), &body).is_ok();
        assert!(good);
        let mut rejected = false;
        for i in 0..body.len() {
            let saved = body[i];
            body[i] = 0xEE;
            if ClientMessage::decode(MessageType::Command.id(), &body).is_err() {
                rejected = true;
            }
            body[i] = saved;
        }
        assert!(rejected, "some corruption of an enum body must be rejected");
    }

    #[test]
    fn semantic_limits_are_enforced() {
        let cases: Vec<(ClientMessage, &str)> = vec![
            (
                Login {
                    openid: String::new(),
                    platform_token: "t".into(),
                    client_version: "v".into(),
                }
                .into(),
                "openid is empty",
            ),
            (
                Login {
                    openid: "x".repeat(limits::MAX_OPENID_LEN + 1),
                    platform_token: "t".into(),
                    client_version: "v".into(),
                }
                .into(),
                "openid is 129 bytes",
            ),
            (
                SetViewport {
                    x: 0,
                    y: 0,
                    w: 0,
                    h: 1,
                    zoom: 0,
                }
                .into(),
                "w = 0",
            ),
            (
                SetViewport {
                    x: 0,
                    y: 0,
                    w: 1,
                    h: 1,
                    zoom: 200,
                }
                .into(),
                "zoom = 200",
            ),
            (
                Command {
                    body: CommandBody::SendMarch {
                        troops: vec![(1, 5), (1, 6)],
                        target: 0,
                        mission: 0,
                    },
                }
                .into(),
                "unit 1 listed twice",
            ),
            (
                Command {
                    body: CommandBody::SendMarch {
                        troops: vec![],
                        target: 0,
                        mission: 9,
                    },
                }
                .into(),
                "mission = 9",
            ),
        ];
        for (m, want) in cases {
            let body = m.encode_body().unwrap();
            let err = ClientMessage::decode(m.message_type().id(), &body).unwrap_err();
            assert!(
                matches!(err, MessageError::Invalid { .. }) && err.to_string().contains(want),
                "{err} should contain {want:?}"
            );
        }
    }
}
