//! Guilds on the wire: one request carrying an action, one reply with the guild as it stands
//! after it, one push telling members (and the applicant, invitee or kicked player) what
//! changed.
//!
//! | request | reply |
//! |---|---|
//! | [`GuildRequest`] with a [`GuildActionWire`] | [`GuildReply`]: the guild after the action (none after leaving, being refused nothing), or an error with the guild service's code and a specific reason ("the guild is full (100/100)", "only the leader may disband the guild") |
//!
//! [`GuildPush`] (push) goes to every online member of a guild that changed, and to the
//! player an action was about; it carries the guild as it now stands (or none: disbanded, or
//! the receiver is no longer in it).
//!
//! Roles: 0 leader, 1 officer, 2 member. [`GuildActionWire`] variants may only be appended.

use rkyv::{Archive, Deserialize, Serialize};

/// Longest guild name or tag a request may carry (bytes; the rules are stricter).
pub const MAX_NAME_BYTES: usize = 128;
/// Longest notice a request may carry (bytes; `guilds.toml` sets the real limit).
pub const MAX_NOTICE_BYTES: usize = 10_000;

#[allow(missing_docs)] // rkyv's archived twin of the enum has undocumented variant fields
mod action {
    use rkyv::{Archive, Deserialize, Serialize};

    /// What a player asks of the guilds.
    #[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
    pub enum GuildActionWire {
        /// Found a guild and lead it.
        Create {
            /// Name.
            name: String,
            /// Tag.
            tag: String,
        },
        /// Ask to join a guild (joins at once if it invited you).
        Apply {
            /// The guild.
            guild: u64,
        },
        /// Invite a player (joins at once if they applied).
        Invite {
            /// The player.
            player: u64,
        },
        /// Let an applicant in.
        AcceptApplicant {
            /// The applicant.
            player: u64,
        },
        /// Turn an applicant away.
        DeclineApplicant {
            /// The applicant.
            player: u64,
        },
        /// Join a guild that invited you.
        AcceptInvite {
            /// The guild.
            guild: u64,
        },
        /// Refuse an invitation.
        DeclineInvite {
            /// The guild.
            guild: u64,
        },
        /// Leave your guild.
        Leave,
        /// Remove a member.
        Kick {
            /// The member.
            player: u64,
        },
        /// Make a member an officer (1) or an officer a member (2).
        SetRole {
            /// The member.
            player: u64,
            /// 1 officer, 2 member.
            role: u8,
        },
        /// Hand the leadership to a member.
        Transfer {
            /// The new leader.
            player: u64,
        },
        /// Replace the notice board's text.
        EditNotice {
            /// The text.
            text: String,
        },
        /// End the guild.
        Disband,
        /// Show a guild (0: your own).
        Show {
            /// The guild, or 0.
            guild: u64,
        },
        /// Look a guild up by name or tag.
        Find {
            /// Name or tag.
            name_or_tag: String,
        },
    }
}
pub use action::{ArchivedGuildActionWire, GuildActionWire};

/// Client → server: a guild action.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GuildRequest {
    /// The action.
    pub action: GuildActionWire,
}

/// One member as shown.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GuildMemberWire {
    /// Player id.
    pub player: u64,
    /// 0 leader, 1 officer, 2 member.
    pub role: u8,
    /// Joined at (ms since the Unix epoch).
    pub joined_unix_ms: i64,
}

/// A guild as shown to players.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GuildWire {
    /// Id (also the alliance id in the world).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Tag.
    pub tag: String,
    /// Notice board text.
    pub notice: String,
    /// Members in joining order.
    pub members: Vec<GuildMemberWire>,
    /// The member cap.
    pub member_cap: u32,
    /// Pending applicants (shown to the leader and officers; empty for others).
    pub applicants: Vec<u64>,
    /// Pending invitations (shown to the leader and officers; empty for others).
    pub invited: Vec<u64>,
}

/// Server → client: reply to [`GuildRequest`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GuildReply {
    /// The guild the action was about, as it stands now (none: you left, it was disbanded, or
    /// the guild asked for does not exist).
    pub guild: Option<GuildWire>,
}

/// Server → client (push): a guild you are in, or that acted on you, changed.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GuildPush {
    /// The guild.
    pub guild_id: u64,
    /// Who did it.
    pub by: u64,
    /// What happened, for people ("player 5 joined", "you were removed").
    pub what: String,
    /// The guild as it now stands for you (none: disbanded, or you are not in it).
    pub guild: Option<GuildWire>,
}

impl super::messages::Validate for GuildRequest {
    fn validate(&self) -> Result<(), String> {
        match &self.action {
            GuildActionWire::Create { name, tag }
                if name.len() > MAX_NAME_BYTES || tag.len() > MAX_NAME_BYTES =>
            {
                return Err(format!(
                    "GuildRequest.Create: name and tag at most {MAX_NAME_BYTES} bytes"
                ));
            }
            GuildActionWire::Find { name_or_tag } if name_or_tag.len() > MAX_NAME_BYTES => {
                return Err(format!("GuildRequest.Find: at most {MAX_NAME_BYTES} bytes"));
            }
            GuildActionWire::EditNotice { text } if text.len() > MAX_NOTICE_BYTES => {
                return Err(format!(
                    "GuildRequest.EditNotice: at most {MAX_NOTICE_BYTES} bytes"
                ));
            }
            GuildActionWire::SetRole { role, .. } if !matches!(role, 1 | 2) => {
                return Err(format!(
                    "GuildRequest.SetRole.role = {role}, expected 1 (officer) or 2 (member)"
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Most messages one [`GuildChatHistory`] may ask for.
pub const MAX_CHAT_PAGE: u16 = 100;
/// Longest chat message a request may carry (bytes; `guilds.toml` sets the real limit).
pub const MAX_CHAT_BYTES: usize = 10_000;

/// Client → server: say something in your guild's chat; the reply is a [`GuildChatPage`]
/// holding the message as stored, and every other online member gets it pushed.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GuildChatSend {
    /// The text (UTF-8).
    pub text: String,
}

/// Client → server: a page of your guild's chat history, newest first.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GuildChatHistory {
    /// Only messages with a smaller id (the last id of the previous page); 0 for the newest.
    pub before: u64,
    /// How many (1..=[`MAX_CHAT_PAGE`]).
    pub limit: u16,
}

/// One chat message.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GuildChatWire {
    /// Id within the guild; newer messages have higher ids.
    pub id: u64,
    /// Who wrote it.
    pub from: u64,
    /// When (ms since the Unix epoch).
    pub sent_unix_ms: i64,
    /// The text.
    pub text: String,
}

/// Server → client: reply to [`GuildChatSend`] and [`GuildChatHistory`], and the push of a new
/// message to the other members online.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GuildChatPage {
    /// The guild.
    pub guild_id: u64,
    /// Messages, newest first.
    pub messages: Vec<GuildChatWire>,
}

impl super::messages::Validate for GuildChatSend {
    fn validate(&self) -> Result<(), String> {
        if self.text.len() > MAX_CHAT_BYTES {
            return Err(format!(
                "GuildChatSend.text is {} bytes, at most {MAX_CHAT_BYTES}",
                self.text.len()
            ));
        }
        Ok(())
    }
}

impl super::messages::Validate for GuildChatHistory {
    fn validate(&self) -> Result<(), String> {
        if self.limit == 0 || self.limit > MAX_CHAT_PAGE {
            return Err(format!(
                "GuildChatHistory.limit {} outside 1..={MAX_CHAT_PAGE}",
                self.limit
            ));
        }
        Ok(())
    }
}
