//! The guild rules, pure: the registry of guilds and what each request does to it, with the
//! permission table and every refusal spelled out. The service ([`super::GuildService`]) owns
//! one [`Guilds`], runs requests on it one at a time (so two players racing for the last slot
//! are decided by order: exactly one gets in), writes what changed, and then tells members and
//! the world.
//!
//! Permissions (✓ allowed):
//!
//! | action | leader | officer | member |
//! |---|---|---|---|
//! | invite, accept or decline an applicant | ✓ | ✓ | |
//! | kick a member | ✓ | ✓ | |
//! | kick an officer | ✓ | | |
//! | promote / demote | ✓ | | |
//! | edit the notice | ✓ | ✓ | |
//! | transfer leadership, disband | ✓ | | |
//! | leave | (transfer or disband first, unless alone) | ✓ | ✓ |

use std::collections::{BTreeMap, BTreeSet};

use dominion_persistence::{GuildMemberRecord, GuildRecord, GuildRole};
use dominion_sim::types::PlayerId;

/// Name, tag and notice limits and the member cap (`assets/guilds.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuildLimits {
    /// Most members a guild holds.
    pub member_cap: usize,
    /// Name length in characters.
    pub name_chars: std::ops::RangeInclusive<usize>,
    /// Tag length in characters (letters and digits).
    pub tag_chars: std::ops::RangeInclusive<usize>,
    /// Longest notice, in bytes.
    pub notice_bytes: usize,
    /// Most pending applications (and, separately, invitations) one guild keeps.
    pub pending_cap: usize,
    /// Words no name or tag may be (compared case-insensitively, also as a name's word).
    pub reserved: Vec<String>,
    /// Longest chat message, in bytes.
    pub chat_bytes: usize,
    /// Chat messages one member may send per minute (bursts of as many).
    pub chat_per_minute: u32,
    /// Chat messages a guild's history keeps.
    pub chat_keep: usize,
}

impl GuildLimits {
    /// The limits of the shipped `assets/guilds.toml`.
    pub fn from_config(c: &dominion_sim::config::GuildsConfig) -> GuildLimits {
        GuildLimits {
            member_cap: c.member_cap as usize,
            name_chars: c.name_min as usize..=c.name_max as usize,
            tag_chars: c.tag_min as usize..=c.tag_max as usize,
            notice_bytes: c.notice_max_bytes as usize,
            pending_cap: c.pending_max as usize,
            reserved: c.reserved.iter().map(|w| w.to_lowercase()).collect(),
            chat_bytes: c.chat_max_bytes as usize,
            chat_per_minute: c.chat_per_minute,
            chat_keep: c.chat_keep as usize,
        }
    }
}

/// A request on the guilds, by `actor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuildAction {
    /// Found a guild and lead it.
    Create {
        /// Name.
        name: String,
        /// Tag.
        tag: String,
    },
    /// Ask to join `guild` (joins at once if it invited the actor).
    Apply {
        /// The guild.
        guild: u64,
    },
    /// Invite `player` (joins at once if they applied).
    Invite {
        /// The player.
        player: PlayerId,
    },
    /// Let an applicant in.
    AcceptApplicant {
        /// The applicant.
        player: PlayerId,
    },
    /// Turn an applicant away.
    DeclineApplicant {
        /// The applicant.
        player: PlayerId,
    },
    /// Join the guild that invited the actor.
    AcceptInvite {
        /// The guild.
        guild: u64,
    },
    /// Refuse an invitation.
    DeclineInvite {
        /// The guild.
        guild: u64,
    },
    /// Leave one's guild.
    Leave,
    /// Remove a member.
    Kick {
        /// The member.
        player: PlayerId,
    },
    /// Make a member an officer or an officer a member.
    SetRole {
        /// The member.
        player: PlayerId,
        /// [`GuildRole::Officer`] or [`GuildRole::Member`].
        role: GuildRole,
    },
    /// Hand the leadership to a member (the old leader becomes an officer).
    Transfer {
        /// The new leader.
        player: PlayerId,
    },
    /// Replace the notice board's text.
    EditNotice {
        /// The text.
        text: String,
    },
    /// End the guild: every member leaves it.
    Disband,
}

/// Why a request changed nothing. Every message says what to do or what the limit is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuildRefusal {
    /// The name breaks a rule.
    #[error("guild name {0}")]
    BadName(String),
    /// The tag breaks a rule.
    #[error("guild tag {0}")]
    BadTag(String),
    /// Another guild has the name.
    #[error("a guild named {0:?} already exists")]
    NameTaken(String),
    /// Another guild has the tag.
    #[error("the tag [{0}] is taken")]
    TagTaken(String),
    /// The actor is in a guild already.
    #[error("you are already in guild [{0}]; leave it first")]
    AlreadyInGuild(String),
    /// The other player is in a guild already.
    #[error("that player is already in guild [{0}]")]
    PlayerInGuild(String),
    /// The actor is in no guild.
    #[error("you are not in a guild")]
    NotInGuild,
    /// No such guild.
    #[error("there is no guild {0}")]
    NoSuchGuild(u64),
    /// The other player is not a member of the actor's guild.
    #[error("that player is not a member of your guild")]
    NotAMember,
    /// The guild is full.
    #[error("the guild is full ({members}/{cap})")]
    Full {
        /// Members now.
        members: usize,
        /// The cap.
        cap: usize,
    },
    /// Too many pending applications or invitations.
    #[error("the guild already has {0} pending {1}; wait until some are answered")]
    TooManyPending(usize, &'static str),
    /// Already applied / invited.
    #[error("{0}")]
    AlreadyPending(&'static str),
    /// No such application / invitation.
    #[error("{0}")]
    NothingPending(&'static str),
    /// The actor's role may not do this.
    #[error("only {0} may {1}")]
    NotAllowed(&'static str, &'static str),
    /// Nobody can kick the leader.
    #[error("the leader cannot be kicked (the leader may hand the lead over with transfer)")]
    KickLeader,
    /// The leader cannot leave a guild with other members.
    #[error("the leader cannot leave while others remain: transfer the leadership or disband")]
    LeaderMustStay,
    /// Acting on oneself where that makes no sense.
    #[error("you cannot {0} yourself")]
    Yourself(&'static str),
    /// The notice is too long.
    #[error("the notice is {len} bytes, at most {max}")]
    NoticeTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A role that cannot be given this way.
    #[error("a member can only be made an officer or a member; use transfer to hand over the lead")]
    BadRole,
}

/// What an applied request changed, for the service to write and tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuildChange {
    /// The guild the request was about (its state after the request is in the registry, or
    /// gone when `disbanded`).
    pub guild: u64,
    /// True when the guild no longer exists.
    pub disbanded: bool,
    /// Players whose alliance in the world changes: (player, new alliance).
    pub alliances: Vec<(PlayerId, Option<u64>)>,
    /// Players to tell about the change beyond the members (an applicant turned away, a kicked
    /// member, an invitee).
    pub also_tell: Vec<PlayerId>,
}

/// Every guild of the kingdom, with the indexes the rules need.
#[derive(Clone, Debug, Default)]
pub struct Guilds {
    by_id: BTreeMap<u64, GuildRecord>,
    /// Lower-cased name → id.
    names: BTreeMap<String, u64>,
    /// Lower-cased tag → id.
    tags: BTreeMap<String, u64>,
    /// Member → guild.
    member_of: BTreeMap<PlayerId, u64>,
}

/// Refuses when `g` holds its member cap.
fn has_room(g: &GuildRecord, limits: &GuildLimits) -> Result<(), GuildRefusal> {
    if g.members.len() >= limits.member_cap {
        return Err(GuildRefusal::Full {
            members: g.members.len(),
            cap: limits.member_cap,
        });
    }
    Ok(())
}

fn role_of(g: &GuildRecord, p: PlayerId) -> Option<GuildRole> {
    g.members.iter().find(|m| m.player == p).map(|m| m.role)
}

impl Guilds {
    /// The registry of these guilds (as loaded from the store). A player listed in two guilds
    /// (a store edited by hand) stays in the first by id; the rest is reported.
    pub fn from_records(records: Vec<GuildRecord>) -> (Guilds, Vec<String>) {
        let mut g = Guilds::default();
        let mut problems = Vec::new();
        for mut r in records {
            r.members.retain(|m| match g.member_of.get(&m.player) {
                Some(other) => {
                    problems.push(format!(
                        "player {} is listed in guilds {other} and {}; kept in {other}",
                        m.player, r.id
                    ));
                    false
                }
                None => true,
            });
            for m in &r.members {
                g.member_of.insert(m.player, r.id);
            }
            g.names.insert(r.name.to_lowercase(), r.id);
            g.tags.insert(r.tag.to_lowercase(), r.id);
            g.by_id.insert(r.id, r);
        }
        (g, problems)
    }

    /// A guild by id.
    pub fn get(&self, id: u64) -> Option<&GuildRecord> {
        self.by_id.get(&id)
    }

    /// The guild `player` is in.
    pub fn guild_of(&self, player: PlayerId) -> Option<&GuildRecord> {
        self.member_of
            .get(&player)
            .and_then(|id| self.by_id.get(id))
    }

    /// A guild by name or tag (case-insensitive).
    pub fn find(&self, name_or_tag: &str) -> Option<&GuildRecord> {
        let k = name_or_tag.trim().to_lowercase();
        self.names
            .get(&k)
            .or_else(|| self.tags.get(&k))
            .and_then(|id| self.by_id.get(id))
    }

    /// Every guild's tag by id.
    pub fn tags(&self) -> impl Iterator<Item = (u64, String)> + '_ {
        self.by_id.values().map(|g| (g.id, g.tag.clone()))
    }

    /// Every member's alliance as the guilds say it should be.
    pub fn alliances(&self) -> BTreeMap<PlayerId, u64> {
        self.member_of.clone()
    }

    /// Number of guilds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Applies `action` by `actor`; `new_id` is the id a created guild gets, `now_ms` the wall
    /// clock. On a refusal nothing changed.
    pub fn apply(
        &mut self,
        limits: &GuildLimits,
        actor: PlayerId,
        action: GuildAction,
        new_id: impl FnOnce() -> u64,
        now_ms: i64,
    ) -> Result<GuildChange, GuildRefusal> {
        match action {
            GuildAction::Create { name, tag } => {
                self.create(limits, actor, name, tag, new_id, now_ms)
            }
            GuildAction::Apply { guild } => self.apply_to(limits, actor, guild, now_ms),
            GuildAction::Invite { player } => self.invite(limits, actor, player, now_ms),
            GuildAction::AcceptApplicant { player } => {
                let gid =
                    self.officer_guild(actor, "officers and the leader", "accept applicants")?;
                let g = &self.by_id[&gid];
                if !g.applicants.contains(&player) {
                    return Err(GuildRefusal::NothingPending(
                        "that player has not applied to your guild",
                    ));
                }
                if let Some(other) = self.guild_of(player) {
                    // The application stays until declined: a refusal changes nothing.
                    return Err(GuildRefusal::PlayerInGuild(other.tag.clone()));
                }
                self.join(limits, gid, player, now_ms)
            }
            GuildAction::DeclineApplicant { player } => {
                let gid =
                    self.officer_guild(actor, "officers and the leader", "decline applicants")?;
                let g = self.guild_mut(gid);
                if !g.applicants.contains(&player) {
                    return Err(GuildRefusal::NothingPending(
                        "that player has not applied to your guild",
                    ));
                }
                g.applicants.retain(|p| *p != player);
                Ok(GuildChange {
                    guild: gid,
                    also_tell: vec![player],
                    ..GuildChange::default()
                })
            }
            GuildAction::AcceptInvite { guild } => {
                if let Some(g) = self.guild_of(actor) {
                    return Err(GuildRefusal::AlreadyInGuild(g.tag.clone()));
                }
                let g = self
                    .by_id
                    .get(&guild)
                    .ok_or(GuildRefusal::NoSuchGuild(guild))?;
                if !g.invited.contains(&actor) {
                    return Err(GuildRefusal::NothingPending(
                        "that guild has not invited you",
                    ));
                }
                self.join(limits, guild, actor, now_ms)
            }
            GuildAction::DeclineInvite { guild } => {
                let g = self
                    .by_id
                    .get_mut(&guild)
                    .ok_or(GuildRefusal::NoSuchGuild(guild))?;
                if !g.invited.contains(&actor) {
                    return Err(GuildRefusal::NothingPending(
                        "that guild has not invited you",
                    ));
                }
                g.invited.retain(|p| *p != actor);
                Ok(GuildChange {
                    guild,
                    also_tell: vec![actor],
                    ..GuildChange::default()
                })
            }
            GuildAction::Leave => {
                let gid = *self.member_of.get(&actor).ok_or(GuildRefusal::NotInGuild)?;
                let g = &self.by_id[&gid];
                if role_of(g, actor) == Some(GuildRole::Leader) {
                    if g.members.len() > 1 {
                        return Err(GuildRefusal::LeaderMustStay);
                    }
                    return Ok(self.disband(gid));
                }
                self.remove_member(gid, actor);
                Ok(GuildChange {
                    guild: gid,
                    alliances: vec![(actor, None)],
                    also_tell: vec![actor],
                    ..GuildChange::default()
                })
            }
            GuildAction::Kick { player } => {
                if player == actor {
                    return Err(GuildRefusal::Yourself("kick"));
                }
                let gid = self.officer_guild(actor, "officers and the leader", "kick members")?;
                let g = &self.by_id[&gid];
                let target = role_of(g, player).ok_or(GuildRefusal::NotAMember)?;
                let mine = role_of(g, actor);
                match (mine, target) {
                    (_, GuildRole::Leader) => return Err(GuildRefusal::KickLeader),
                    (Some(GuildRole::Officer), GuildRole::Officer) => {
                        return Err(GuildRefusal::NotAllowed("the leader", "kick an officer"));
                    }
                    _ => {}
                }
                self.remove_member(gid, player);
                Ok(GuildChange {
                    guild: gid,
                    alliances: vec![(player, None)],
                    also_tell: vec![player],
                    ..GuildChange::default()
                })
            }
            GuildAction::SetRole { player, role } => {
                if role == GuildRole::Leader {
                    return Err(GuildRefusal::BadRole);
                }
                if player == actor {
                    return Err(GuildRefusal::Yourself("promote or demote"));
                }
                let gid = self.leader_guild(actor, "promote or demote members")?;
                let g = self.guild_mut(gid);
                let m = g
                    .members
                    .iter_mut()
                    .find(|m| m.player == player)
                    .ok_or(GuildRefusal::NotAMember)?;
                m.role = role;
                Ok(GuildChange {
                    guild: gid,
                    ..GuildChange::default()
                })
            }
            GuildAction::Transfer { player } => {
                if player == actor {
                    return Err(GuildRefusal::Yourself("transfer the leadership to"));
                }
                let gid = self.leader_guild(actor, "transfer the leadership")?;
                let g = self.guild_mut(gid);
                if role_of(g, player).is_none() {
                    return Err(GuildRefusal::NotAMember);
                }
                for m in &mut g.members {
                    if m.player == player {
                        m.role = GuildRole::Leader;
                    } else if m.player == actor {
                        m.role = GuildRole::Officer;
                    }
                }
                Ok(GuildChange {
                    guild: gid,
                    ..GuildChange::default()
                })
            }
            GuildAction::EditNotice { text } => {
                let gid =
                    self.officer_guild(actor, "officers and the leader", "edit the notice")?;
                if text.len() > limits.notice_bytes {
                    return Err(GuildRefusal::NoticeTooLong {
                        len: text.len(),
                        max: limits.notice_bytes,
                    });
                }
                self.guild_mut(gid).notice = text;
                Ok(GuildChange {
                    guild: gid,
                    ..GuildChange::default()
                })
            }
            GuildAction::Disband => {
                let gid = self.leader_guild(actor, "disband the guild")?;
                Ok(self.disband(gid))
            }
        }
    }

    fn guild_mut(&mut self, id: u64) -> &mut GuildRecord {
        self.by_id.get_mut(&id).expect("indexed guild exists")
    }

    /// The actor's guild if they are its leader or an officer.
    fn officer_guild(
        &self,
        actor: PlayerId,
        who: &'static str,
        what: &'static str,
    ) -> Result<u64, GuildRefusal> {
        let gid = *self.member_of.get(&actor).ok_or(GuildRefusal::NotInGuild)?;
        match role_of(&self.by_id[&gid], actor) {
            Some(GuildRole::Leader | GuildRole::Officer) => Ok(gid),
            _ => Err(GuildRefusal::NotAllowed(who, what)),
        }
    }

    /// The actor's guild if they lead it.
    fn leader_guild(&self, actor: PlayerId, what: &'static str) -> Result<u64, GuildRefusal> {
        let gid = *self.member_of.get(&actor).ok_or(GuildRefusal::NotInGuild)?;
        match role_of(&self.by_id[&gid], actor) {
            Some(GuildRole::Leader) => Ok(gid),
            _ => Err(GuildRefusal::NotAllowed("the leader", what)),
        }
    }

    fn create(
        &mut self,
        limits: &GuildLimits,
        actor: PlayerId,
        name: String,
        tag: String,
        new_id: impl FnOnce() -> u64,
        now_ms: i64,
    ) -> Result<GuildChange, GuildRefusal> {
        if let Some(g) = self.guild_of(actor) {
            return Err(GuildRefusal::AlreadyInGuild(g.tag.clone()));
        }
        check_name(limits, &name).map_err(GuildRefusal::BadName)?;
        check_tag(limits, &tag).map_err(GuildRefusal::BadTag)?;
        if self.names.contains_key(&name.to_lowercase()) {
            return Err(GuildRefusal::NameTaken(name));
        }
        if self.tags.contains_key(&tag.to_lowercase()) {
            return Err(GuildRefusal::TagTaken(tag));
        }
        let id = new_id();
        self.names.insert(name.to_lowercase(), id);
        self.tags.insert(tag.to_lowercase(), id);
        self.member_of.insert(actor, id);
        self.by_id.insert(
            id,
            GuildRecord {
                id,
                name,
                tag,
                notice: String::new(),
                created_unix_ms: now_ms,
                members: vec![GuildMemberRecord {
                    player: actor,
                    role: GuildRole::Leader,
                    joined_unix_ms: now_ms,
                }],
                applicants: Vec::new(),
                invited: Vec::new(),
            },
        );
        Ok(GuildChange {
            guild: id,
            alliances: vec![(actor, Some(id))],
            ..GuildChange::default()
        })
    }

    fn apply_to(
        &mut self,
        limits: &GuildLimits,
        actor: PlayerId,
        guild: u64,
        now_ms: i64,
    ) -> Result<GuildChange, GuildRefusal> {
        if let Some(g) = self.guild_of(actor) {
            return Err(GuildRefusal::AlreadyInGuild(g.tag.clone()));
        }
        let g = self
            .by_id
            .get(&guild)
            .ok_or(GuildRefusal::NoSuchGuild(guild))?;
        if g.invited.contains(&actor) {
            return self.join(limits, guild, actor, now_ms);
        }
        has_room(g, limits)?;
        if g.applicants.contains(&actor) {
            return Err(GuildRefusal::AlreadyPending(
                "you have already applied to that guild",
            ));
        }
        if g.applicants.len() >= limits.pending_cap {
            return Err(GuildRefusal::TooManyPending(
                g.applicants.len(),
                "applications",
            ));
        }
        self.guild_mut(guild).applicants.push(actor);
        Ok(GuildChange {
            guild,
            also_tell: vec![actor],
            ..GuildChange::default()
        })
    }

    fn invite(
        &mut self,
        limits: &GuildLimits,
        actor: PlayerId,
        player: PlayerId,
        now_ms: i64,
    ) -> Result<GuildChange, GuildRefusal> {
        if player == actor {
            return Err(GuildRefusal::Yourself("invite"));
        }
        let gid = self.officer_guild(actor, "officers and the leader", "invite")?;
        if let Some(other) = self.guild_of(player) {
            return Err(GuildRefusal::PlayerInGuild(other.tag.clone()));
        }
        let g = &self.by_id[&gid];
        if g.applicants.contains(&player) {
            return self.join(limits, gid, player, now_ms);
        }
        has_room(g, limits)?;
        if g.invited.contains(&player) {
            return Err(GuildRefusal::AlreadyPending(
                "that player is already invited",
            ));
        }
        if g.invited.len() >= limits.pending_cap {
            return Err(GuildRefusal::TooManyPending(g.invited.len(), "invitations"));
        }
        self.guild_mut(gid).invited.push(player);
        Ok(GuildChange {
            guild: gid,
            also_tell: vec![player],
            ..GuildChange::default()
        })
    }

    /// `player` (in no guild) joins `gid` if there is room.
    fn join(
        &mut self,
        limits: &GuildLimits,
        gid: u64,
        player: PlayerId,
        now_ms: i64,
    ) -> Result<GuildChange, GuildRefusal> {
        let g = self.guild_mut(gid);
        has_room(g, limits)?;
        g.applicants.retain(|p| *p != player);
        g.invited.retain(|p| *p != player);
        g.members.push(GuildMemberRecord {
            player,
            role: GuildRole::Member,
            joined_unix_ms: now_ms,
        });
        self.member_of.insert(player, gid);
        Ok(GuildChange {
            guild: gid,
            alliances: vec![(player, Some(gid))],
            ..GuildChange::default()
        })
    }

    fn remove_member(&mut self, gid: u64, player: PlayerId) {
        self.guild_mut(gid).members.retain(|m| m.player != player);
        self.member_of.remove(&player);
    }

    fn disband(&mut self, gid: u64) -> GuildChange {
        let g = self.by_id.remove(&gid).expect("indexed guild exists");
        self.names.remove(&g.name.to_lowercase());
        self.tags.remove(&g.tag.to_lowercase());
        let mut alliances = Vec::new();
        for m in &g.members {
            self.member_of.remove(&m.player);
            alliances.push((m.player, None));
        }
        GuildChange {
            guild: gid,
            disbanded: true,
            also_tell: g.members.iter().map(|m| m.player).collect(),
            alliances,
        }
    }
}

/// Checks a guild name: length in characters, letters, digits, spaces, `'`, `-`, `_`; no
/// leading, trailing or double spaces; no reserved word.
pub fn check_name(limits: &GuildLimits, name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if !limits.name_chars.contains(&n) {
        return Err(format!(
            "must be {} to {} characters, not {n}",
            limits.name_chars.start(),
            limits.name_chars.end()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '\'' | '-' | '_')))
    {
        return Err(format!(
            "may hold letters, digits, spaces, ' - and _ only, not {c:?}"
        ));
    }
    if name.starts_with(' ') || name.ends_with(' ') || name.contains("  ") {
        return Err("may not start or end with a space or hold two in a row".to_owned());
    }
    let lower = name.to_lowercase();
    let words: BTreeSet<&str> = lower.split([' ', '-', '_', '\'']).collect();
    if let Some(w) = limits
        .reserved
        .iter()
        .find(|w| lower == **w || words.contains(w.as_str()))
    {
        return Err(format!("may not use the reserved word {w:?}"));
    }
    Ok(())
}

/// Checks a guild tag: length in characters, letters and digits only, no reserved word.
pub fn check_tag(limits: &GuildLimits, tag: &str) -> Result<(), String> {
    let n = tag.chars().count();
    if !limits.tag_chars.contains(&n) {
        return Err(format!(
            "must be {} to {} characters, not {n}",
            limits.tag_chars.start(),
            limits.tag_chars.end()
        ));
    }
    if let Some(c) = tag.chars().find(|c| !c.is_alphanumeric()) {
        return Err(format!("may hold letters and digits only, not {c:?}"));
    }
    let lower = tag.to_lowercase();
    if limits.reserved.contains(&lower) {
        return Err(format!("may not be the reserved word {lower:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(cap: usize) -> GuildLimits {
        GuildLimits {
            member_cap: cap,
            ..GuildLimits::from_config(&dominion_sim::config::GuildsConfig::default())
        }
    }

    const LEADER: PlayerId = PlayerId(1);
    const OFFICER: PlayerId = PlayerId(2);
    const MEMBER: PlayerId = PlayerId(3);
    const MEMBER2: PlayerId = PlayerId(4);
    const OFFICER2: PlayerId = PlayerId(5);
    const OUTSIDER: PlayerId = PlayerId(9);
    const APPLICANT: PlayerId = PlayerId(10);
    const NEWCOMER: PlayerId = PlayerId(11);

    fn ok(g: &mut Guilds, l: &GuildLimits, who: PlayerId, a: GuildAction) -> GuildChange {
        g.apply(l, who, a.clone(), || 7, 0)
            .unwrap_or_else(|e| panic!("{who} {a:?}: {e}"))
    }

    /// Guild 7 with a leader, two officers, two members and one applicant.
    fn guild() -> (Guilds, GuildLimits) {
        let l = limits(100);
        let mut g = Guilds::default();
        ok(
            &mut g,
            &l,
            LEADER,
            GuildAction::Create {
                name: "Night Watch".into(),
                tag: "NW".into(),
            },
        );
        for p in [OFFICER, MEMBER, MEMBER2, OFFICER2] {
            ok(&mut g, &l, LEADER, GuildAction::Invite { player: p });
            ok(&mut g, &l, p, GuildAction::AcceptInvite { guild: 7 });
        }
        for p in [OFFICER, OFFICER2] {
            ok(
                &mut g,
                &l,
                LEADER,
                GuildAction::SetRole {
                    player: p,
                    role: GuildRole::Officer,
                },
            );
        }
        ok(&mut g, &l, APPLICANT, GuildAction::Apply { guild: 7 });
        (g, l)
    }

    #[test]
    fn every_role_may_do_exactly_what_the_table_says() {
        use GuildAction as A;
        let actions: Vec<(&str, A)> = vec![
            ("invite", A::Invite { player: NEWCOMER }),
            ("accept", A::AcceptApplicant { player: APPLICANT }),
            ("decline", A::DeclineApplicant { player: APPLICANT }),
            ("kick member", A::Kick { player: MEMBER2 }),
            ("kick officer", A::Kick { player: OFFICER2 }),
            (
                "promote",
                A::SetRole {
                    player: MEMBER2,
                    role: GuildRole::Officer,
                },
            ),
            (
                "demote",
                A::SetRole {
                    player: OFFICER2,
                    role: GuildRole::Member,
                },
            ),
            ("notice", A::EditNotice { text: "hi".into() }),
            ("transfer", A::Transfer { player: MEMBER2 }),
            ("disband", A::Disband),
            ("leave", A::Leave),
        ];
        // (role, allowed actions)
        let table: [(PlayerId, &[&str]); 4] = [
            (
                LEADER,
                &[
                    "invite",
                    "accept",
                    "decline",
                    "kick member",
                    "kick officer",
                    "promote",
                    "demote",
                    "notice",
                    "transfer",
                    "disband",
                ],
            ),
            (
                OFFICER,
                &[
                    "invite",
                    "accept",
                    "decline",
                    "kick member",
                    "notice",
                    "leave",
                ],
            ),
            (MEMBER, &["leave"]),
            (OUTSIDER, &[]),
        ];
        for (who, allowed) in table {
            for (name, action) in &actions {
                let (mut g, l) = guild();
                let before = format!("{:?}", g.get(7));
                let r = g.apply(&l, who, action.clone(), || 8, 0);
                assert_eq!(r.is_ok(), allowed.contains(name), "{who} {name}: {r:?}");
                if let Err(e) = r {
                    assert_eq!(
                        format!("{:?}", g.get(7)),
                        before,
                        "a refusal changes nothing"
                    );
                    let text = e.to_string();
                    if who == OUTSIDER {
                        assert_eq!(text, "you are not in a guild");
                    } else if *name == "leave" {
                        assert!(
                            text.contains("transfer the leadership or disband"),
                            "{text}"
                        );
                    } else {
                        assert!(text.starts_with("only "), "{who} {name}: {text}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_last_slot_goes_to_whoever_comes_first() {
        let l = limits(2);
        let mut g = Guilds::default();
        ok(
            &mut g,
            &l,
            LEADER,
            GuildAction::Create {
                name: "Two Only".into(),
                tag: "TWO".into(),
            },
        );
        ok(&mut g, &l, LEADER, GuildAction::Invite { player: MEMBER });
        ok(&mut g, &l, LEADER, GuildAction::Invite { player: MEMBER2 });
        let first = ok(&mut g, &l, MEMBER2, GuildAction::AcceptInvite { guild: 7 });
        assert_eq!(first.alliances, vec![(MEMBER2, Some(7))]);
        let second = g.apply(&l, MEMBER, GuildAction::AcceptInvite { guild: 7 }, || 8, 0);
        assert_eq!(second, Err(GuildRefusal::Full { members: 2, cap: 2 }));
        assert_eq!(
            GuildRefusal::Full { members: 2, cap: 2 }.to_string(),
            "the guild is full (2/2)"
        );
    }

    #[test]
    fn names_and_tags_are_checked_and_unique_whatever_the_case() {
        let (mut g, l) = guild();
        for (name, tag, why) in [
            ("ab", "AB", "guild name must be 3 to 20 characters, not 2"),
            (
                "Good Name",
                "A",
                "guild tag must be 2 to 4 characters, not 1",
            ),
            (
                "Bad<Name>",
                "BN",
                "guild name may hold letters, digits, spaces, ' - and _ only, not '<'",
            ),
            (
                " Space",
                "SP",
                "guild name may not start or end with a space or hold two in a row",
            ),
            (
                "The GM Crew",
                "GMC",
                "guild name may not use the reserved word \"gm\"",
            ),
            (
                "Fine Name",
                "ADMIN",
                "guild tag must be 2 to 4 characters, not 5",
            ),
            (
                "Fine Name",
                "GM",
                "guild tag may not be the reserved word \"gm\"",
            ),
            (
                "night watch",
                "NEW",
                "a guild named \"night watch\" already exists",
            ),
            ("New Watch", "nw", "the tag [nw] is taken"),
        ] {
            let r = g.apply(
                &l,
                OUTSIDER,
                GuildAction::Create {
                    name: name.into(),
                    tag: tag.into(),
                },
                || 8,
                0,
            );
            assert_eq!(
                r.map_err(|e| e.to_string()),
                Err(why.to_owned()),
                "{name} [{tag}]"
            );
        }
        let r = g.apply(
            &l,
            MEMBER,
            GuildAction::Create {
                name: "Other".into(),
                tag: "OT".into(),
            },
            || 8,
            0,
        );
        assert_eq!(r, Err(GuildRefusal::AlreadyInGuild("NW".into())));
    }

    #[test]
    fn leaving_kicking_and_disbanding_say_who_loses_the_alliance() {
        let (mut g, l) = guild();
        let c = ok(&mut g, &l, MEMBER, GuildAction::Leave);
        assert_eq!(c.alliances, vec![(MEMBER, None)]);
        assert!(g.guild_of(MEMBER).is_none());
        let c = ok(&mut g, &l, OFFICER, GuildAction::Kick { player: MEMBER2 });
        assert_eq!(c.alliances, vec![(MEMBER2, None)]);
        ok(
            &mut g,
            &l,
            LEADER,
            GuildAction::Transfer { player: OFFICER },
        );
        assert_eq!(
            g.apply(&l, LEADER, GuildAction::Disband, || 8, 0),
            Err(GuildRefusal::NotAllowed("the leader", "disband the guild"))
        );
        let c = ok(&mut g, &l, OFFICER, GuildAction::Disband);
        assert!(c.disbanded);
        let mut lost: Vec<_> = c.alliances.iter().map(|a| a.0).collect();
        lost.sort();
        assert_eq!(lost, vec![LEADER, OFFICER, OFFICER2]);
        assert!(g.is_empty() && g.find("NW").is_none());
        // The name is free again.
        ok(
            &mut g,
            &l,
            MEMBER,
            GuildAction::Create {
                name: "Night Watch".into(),
                tag: "NW".into(),
            },
        );
    }
}
