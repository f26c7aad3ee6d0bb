//! The sans-IO protocol core: framing, message types, validation, rate limiting and the session
//! state machine.
//!
//! Nothing here does IO, spawns tasks or reads the clock: bytes and `now` go in, frames and
//! [`Action`]s come out (quinn-proto's `handle_*` / `poll_*` shape). It is tested and fuzzed
//! without sockets; [`crate::transport`] and [`crate::client`] are the thin async shells.

pub mod delta;
pub mod frame;
pub mod guild;
pub mod mail;
pub mod messages;
pub mod notice;
pub mod player;
pub mod rate;
pub mod session;

pub use frame::{
    DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, FrameError, HEADER_LEN, PUSH_REQUEST_ID,
    encode_frame,
};
pub use guild::{
    GuildActionWire, GuildChatHistory, GuildChatPage, GuildChatSend, GuildChatWire,
    GuildMemberWire, GuildPush, GuildReply, GuildRequest, GuildWire,
};
pub use messages::{
    ClientMessage, Command, CommandBody, CommandOutcome, CommandResult, EncodeError, ErrorCode,
    ErrorReply, Kick, Login, LoginOk, MailClaim, MailClaimed, MailDelete, MailDone, MailItem,
    MailList, MailMarkRead, MailPage, MailRead, MessageError, MessageType, MoveTo, Ping,
    PlayerDelta, PlayerEvent, Pong, Resume, ServerMessage, SetViewport, ViewportSet, WorldDelta,
    limits,
};
pub use rate::{RateLimit, SharedBucket, TokenBucket};
pub use session::{Action, CloseCode, Session, SessionConfig, SessionState, SessionStats};

#[cfg(test)]
mod fuzz;
