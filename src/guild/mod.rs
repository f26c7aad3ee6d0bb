//! The guild service (seed 002): a tokio task of its own, like login and mail, that owns every
//! guild of the kingdom and answers players' [`GuildRequest`]s.
//!
//! Requests are run one at a time on the task, so two players racing for a guild's last slot
//! are decided by arrival order: exactly one gets in, the other is told "the guild is full".
//! Each change is applied to a copy of the registry, written to the store (one document per
//! guild, under the owner epoch, like the world: a fenced instance cannot change guilds), and
//! only then made current, answered, pushed to the members online and handed to the world
//! ([`alliances`]): a store that fails changes nothing, and the world never allies players the
//! store does not. At start the world's alliances are reconciled with the stored guilds.
//!
//! Guild chat ([`chat`]): a member's message is checked (length, rate), written with the
//! oldest messages beyond the history's size deleted in the same batch, then answered and
//! pushed to the other members online; history pages come from memory.

pub mod alliances;
pub mod chat;
pub mod rules;

use std::sync::Arc;

use dominion_net::proto::{
    ErrorCode, GuildActionWire, GuildChatPage, GuildMemberWire, GuildPush, GuildReply, GuildWire,
    ServerMessage,
};
use dominion_net::transport::{ServerHandle, SessionId};
use dominion_persistence::store::now_unix_ms;
use dominion_persistence::{
    GuildChatRecord, GuildRecord, GuildRole, KingdomId, Migrations, SaveStats, Store, StoreError,
    WriteBatch, load_records,
};
use dominion_sim::types::PlayerId;
use tokio::sync::mpsc;

pub use alliances::{AllianceDesk, AllianceSender};
pub use chat::{Chat, ChatRefusal};
pub use rules::{GuildAction, GuildChange, GuildLimits, GuildRefusal, Guilds};

/// Application error codes of the guild service.
pub mod codes {
    use dominion_net::proto::ErrorCode;
    /// The rules refused the action; the message says which rule.
    pub const GUILD_REFUSED: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 40);
    /// The store failed: nothing changed, try again.
    pub const GUILD_UNAVAILABLE: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 41);
    /// No such guild (Show, Find).
    pub const GUILD_NOT_FOUND: ErrorCode = ErrorCode(ErrorCode::APPLICATION_BASE + 42);
}

/// Every guild's tag by guild (alliance) id, for the tick thread's AOI encoder: cities are sent
/// with their guild's tag. Written by the guild service when a guild is created or disbanded.
pub type GuildTagBoard = Arc<std::sync::RwLock<std::collections::HashMap<u64, String>>>;

/// The guild limits in force (`assets/guilds.toml`), replaced by the tick thread when a reloaded
/// config is applied, so a designer's edit reaches the guild service without a restart.
pub type GuildLimitsBoard = Arc<std::sync::RwLock<GuildLimits>>;

/// Most requests waiting for the service; more are answered `RATE_LIMITED`.
pub const QUEUE: usize = 4096;

/// What a player asks of the guild service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuildAsk {
    /// A guild action (answered [`GuildReply`]).
    Action(GuildActionWire),
    /// Say something in the guild's chat (answered [`GuildChatPage`] with the message).
    ChatSend(String),
    /// A page of the chat history (answered [`GuildChatPage`]).
    ChatHistory {
        /// Only messages with a smaller id; 0 for the newest.
        before: u64,
        /// How many.
        limit: u16,
    },
}

/// A player's request and where its reply goes.
struct GuildInput {
    session: SessionId,
    request_id: u32,
    player: PlayerId,
    ask: GuildAsk,
}

/// Sends requests to the guild service. Cheap to clone; never waits.
#[derive(Clone)]
pub struct GuildHandle {
    tx: mpsc::Sender<GuildInput>,
    net: Option<ServerHandle>,
}

impl GuildHandle {
    /// Queues a player's request; the reply goes to `session`. A full queue is answered
    /// `RATE_LIMITED` at once.
    pub fn request(&self, session: SessionId, request_id: u32, player: PlayerId, ask: GuildAsk) {
        let input = GuildInput {
            session,
            request_id,
            player,
            ask,
        };
        if self.tx.try_send(input).is_err()
            && let Some(net) = &self.net
        {
            let _ = net.reply(
                session,
                request_id,
                &ServerMessage::error(
                    ErrorCode::RATE_LIMITED,
                    "the guild service is busy; try again in a moment",
                ),
            );
        }
    }
}

/// Where the service writes and whom it tells.
pub struct GuildService {
    store: Arc<dyn Store>,
    kingdom: KingdomId,
    epoch: u64,
    limits: GuildLimitsBoard,
    guilds: Guilds,
    chat: Chat,
    net: Option<ServerHandle>,
    world: AllianceSender,
    /// A standby answers reads and refuses every change.
    standby: bool,
    /// The world's save counters: while saves fail (the store is down), changes are refused at
    /// once instead of waiting out the store's retries.
    saves: Option<Arc<SaveStats>>,
    /// Tags for the AOI encoder.
    tags: GuildTagBoard,
}

impl GuildService {
    /// Loads the kingdom's guilds from the store. `world_alliances` (player → alliance, as the
    /// loaded world holds them) is reconciled with them: every difference is sent to the world
    /// (members get their guild, players allied to no stored guild get none).
    #[allow(clippy::too_many_arguments)]
    pub async fn load(
        store: Arc<dyn Store>,
        migrations: &Migrations,
        kingdom: KingdomId,
        epoch: u64,
        limits: GuildLimits,
        net: Option<ServerHandle>,
        world: AllianceSender,
        world_alliances: &[(PlayerId, Option<u64>)],
        standby: bool,
    ) -> Result<GuildService, StoreError> {
        let records: Vec<GuildRecord> = load_records(store.as_ref(), migrations, kingdom).await?;
        let (guilds, problems) = Guilds::from_records(records);
        for p in &problems {
            tracing::warn!("guilds: {p}");
        }
        let messages: Vec<GuildChatRecord> =
            load_records(store.as_ref(), migrations, kingdom).await?;
        let chat = Chat::from_records(messages, limits.chat_keep);
        let guilds_tags = guilds.tags().collect();
        let should = guilds.alliances();
        let mut sent = 0;
        for &(player, now) in world_alliances {
            let want = should.get(&player).copied();
            if now != want {
                world.set(player, want);
                sent += 1;
            }
        }
        tracing::info!(
            guilds = guilds.len(),
            reconciled = sent,
            "guilds loaded; the world's alliances follow them"
        );
        Ok(GuildService {
            store,
            kingdom,
            epoch,
            limits: Arc::new(std::sync::RwLock::new(limits)),
            guilds,
            chat,
            net,
            world,
            standby,
            saves: None,
            tags: Arc::new(std::sync::RwLock::new(guilds_tags)),
        })
    }

    /// The limits board this service reads at every request (see [`GuildLimitsBoard`]).
    pub fn limits_board(&self) -> GuildLimitsBoard {
        self.limits.clone()
    }

    fn limits(&self) -> GuildLimits {
        self.limits
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The tags board this service keeps (every guild's tag by id), for the AOI encoder.
    pub fn tag_board(&self) -> GuildTagBoard {
        self.tags.clone()
    }

    /// Refuses changes at once while the world's saves are failing (see `saves`).
    pub fn with_save_stats(mut self, saves: Arc<SaveStats>) -> GuildService {
        self.saves = Some(saves);
        self
    }

    /// The refusal while the world's saves are failing (the store is down), if they are.
    fn store_down(&self) -> Option<ServerMessage> {
        self.saves
            .as_ref()
            .is_some_and(|s| s.failing.load(std::sync::atomic::Ordering::Relaxed))
            .then(|| {
                ServerMessage::error(
                    codes::GUILD_UNAVAILABLE,
                    "the store is unavailable right now; nothing changed, try again",
                )
            })
    }

    /// Writes `batch` unless the store is known to be down; the error reply otherwise.
    async fn write(&self, batch: &WriteBatch) -> Result<(), ServerMessage> {
        if let Some(refusal) = self.store_down() {
            return Err(refusal);
        }
        self.store
            .apply(self.epoch, batch)
            .await
            .map_err(|e| unavailable(&e))
    }

    /// Starts the service on the current tokio runtime.
    pub fn spawn(self) -> (GuildHandle, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let handle = GuildHandle {
            tx,
            net: self.net.clone(),
        };
        (handle, tokio::spawn(self.run(rx)))
    }

    async fn run(mut self, mut rx: mpsc::Receiver<GuildInput>) {
        while let Some(GuildInput {
            session,
            request_id,
            player,
            ask,
        }) = rx.recv().await
        {
            let reply = self.serve(player, ask).await;
            if let Some(net) = &self.net {
                let _ = net.reply(session, request_id, &reply);
            }
        }
    }

    async fn serve(&mut self, actor: PlayerId, ask: GuildAsk) -> ServerMessage {
        match ask {
            GuildAsk::Action(a) => self.answer(actor, a).await,
            GuildAsk::ChatSend(text) => self.chat_send(actor, text).await,
            GuildAsk::ChatHistory { before, limit } => match self.guilds.guild_of(actor) {
                Some(g) => ServerMessage::from(GuildChatPage {
                    guild_id: g.id,
                    messages: self.chat.page(g.id, before, limit),
                }),
                None => ServerMessage::error(codes::GUILD_REFUSED, "you are not in a guild"),
            },
        }
    }

    /// Checks, writes, answers and pushes one chat message.
    async fn chat_send(&mut self, actor: PlayerId, text: String) -> ServerMessage {
        if self.standby {
            return standby_refusal();
        }
        let Some(g) = self.guilds.guild_of(actor) else {
            return ServerMessage::error(codes::GUILD_REFUSED, "you are not in a guild");
        };
        let (gid, members): (u64, Vec<PlayerId>) =
            (g.id, g.members.iter().map(|m| m.player).collect());
        let limits = self.limits();
        match self
            .chat
            .admit(&limits, actor, &text, std::time::Instant::now())
        {
            Ok(()) => {}
            Err(e @ ChatRefusal::TooFast { .. }) => {
                return ServerMessage::error(ErrorCode::RATE_LIMITED, e.to_string());
            }
            Err(e) => return ServerMessage::error(codes::GUILD_REFUSED, e.to_string()),
        }
        let (message, gone) = self.chat.next(&limits, gid, actor, text, now_unix_ms());
        let mut batch = WriteBatch::new(self.kingdom);
        batch.upsert(message.clone());
        for key in &gone {
            batch.delete::<GuildChatRecord>(key);
        }
        if let Err(reply) = self.write(&batch).await {
            return reply;
        }
        let page = ServerMessage::from(GuildChatPage {
            guild_id: gid,
            messages: vec![chat::wire(&message)],
        });
        self.chat.keep(&limits, message);
        if let Some(net) = &self.net {
            for p in members.into_iter().filter(|p| *p != actor) {
                if let Some(session) = net.player_session(p) {
                    let _ = net.push(session, &page);
                }
            }
        }
        page
    }

    async fn answer(&mut self, actor: PlayerId, action: GuildActionWire) -> ServerMessage {
        let action = match action {
            GuildActionWire::Show { guild } => {
                let g = if guild == 0 {
                    self.guilds.guild_of(actor)
                } else {
                    self.guilds.get(guild)
                };
                return match g {
                    Some(g) => reply(Some(self.wire(g, actor))),
                    None if guild == 0 => reply(None),
                    None => ServerMessage::error(
                        codes::GUILD_NOT_FOUND,
                        format!("there is no guild {guild}"),
                    ),
                };
            }
            GuildActionWire::Find { name_or_tag } => {
                return match self.guilds.find(&name_or_tag) {
                    Some(g) => reply(Some(self.wire(g, actor))),
                    None => ServerMessage::error(
                        codes::GUILD_NOT_FOUND,
                        format!("no guild is named or tagged {name_or_tag:?}"),
                    ),
                };
            }
            other => match from_wire(other) {
                Some(a) => a,
                None => {
                    return ServerMessage::error(
                        codes::GUILD_REFUSED,
                        "a member can only be made an officer (1) or a member (2)",
                    );
                }
            },
        };
        if self.standby {
            return standby_refusal();
        }
        let new_id = match &action {
            GuildAction::Create { .. } => {
                if let Some(refusal) = self.store_down() {
                    return refusal;
                }
                let seq = format!("guild_id:{}", self.kingdom.0);
                match self.store.next_sequence(&seq).await {
                    Ok(id) => id,
                    Err(e) => return unavailable(&e),
                }
            }
            _ => 0,
        };
        let mut next = self.guilds.clone();
        let limits = self.limits();
        let change = match next.apply(&limits, actor, action, || new_id, now_unix_ms()) {
            Ok(c) => c,
            Err(refusal) => return ServerMessage::error(codes::GUILD_REFUSED, refusal.to_string()),
        };
        let mut batch = WriteBatch::new(self.kingdom);
        match next.get(change.guild) {
            Some(g) => {
                batch.upsert(g.clone());
            }
            None => {
                batch.delete::<GuildRecord>(&change.guild.to_string());
                for key in self.chat.keys_of(change.guild) {
                    batch.delete::<GuildChatRecord>(&key);
                }
            }
        }
        if let Err(reply) = self.write(&batch).await {
            return reply;
        }
        let before = self.guilds.get(change.guild).cloned();
        self.guilds = next;
        if change.disbanded {
            self.chat.forget(change.guild);
        }
        {
            let mut board = self.tags.write().unwrap_or_else(|p| p.into_inner());
            match self.guilds.get(change.guild) {
                Some(g) => board.insert(g.id, g.tag.clone()),
                None => board.remove(&change.guild),
            };
        }
        for &(player, alliance) in &change.alliances {
            self.world.set(player, alliance);
        }
        self.tell(actor, &change, before.as_ref());
        reply(self.guilds.get(change.guild).and_then(|g| {
            g.members
                .iter()
                .any(|m| m.player == actor)
                .then(|| self.wire(g, actor))
        }))
    }

    /// Pushes the change to every online member (before and after) and to whom it was about.
    fn tell(&self, actor: PlayerId, change: &GuildChange, before: Option<&GuildRecord>) {
        let Some(net) = &self.net else { return };
        let now = self.guilds.get(change.guild);
        let mut to: Vec<PlayerId> = before
            .into_iter()
            .chain(now)
            .flat_map(|g| g.members.iter().map(|m| m.player))
            .chain(change.also_tell.iter().copied())
            .filter(|p| *p != actor)
            .collect();
        to.sort_unstable();
        to.dedup();
        let what = describe(actor, change, before, now);
        for p in to {
            let Some(session) = net.player_session(p) else {
                continue;
            };
            let guild = now
                .filter(|g| g.members.iter().any(|m| m.player == p))
                .map(|g| self.wire(g, p));
            let push = ServerMessage::from(GuildPush {
                guild_id: change.guild,
                by: actor.0,
                what: what.clone(),
                guild,
            });
            let _ = net.push(session, &push);
        }
    }

    /// `g` as `viewer` sees it: pending lists only for its leader and officers.
    fn wire(&self, g: &GuildRecord, viewer: PlayerId) -> GuildWire {
        let leads = g
            .members
            .iter()
            .any(|m| m.player == viewer && m.role != GuildRole::Member);
        GuildWire {
            id: g.id,
            name: g.name.clone(),
            tag: g.tag.clone(),
            notice: g.notice.clone(),
            members: g
                .members
                .iter()
                .map(|m| GuildMemberWire {
                    player: m.player.0,
                    role: m.role.code(),
                    joined_unix_ms: m.joined_unix_ms,
                })
                .collect(),
            member_cap: self.limits().member_cap as u32,
            applicants: if leads {
                g.applicants.iter().map(|p| p.0).collect()
            } else {
                Vec::new()
            },
            invited: if leads {
                g.invited.iter().map(|p| p.0).collect()
            } else {
                Vec::new()
            },
        }
    }
}

fn standby_refusal() -> ServerMessage {
    ServerMessage::error(
        ErrorCode::MAINTENANCE,
        "this server is a standby (a read-only copy of the kingdom): guilds can be looked at \
         here but not changed",
    )
}

fn reply(guild: Option<GuildWire>) -> ServerMessage {
    ServerMessage::from(GuildReply { guild })
}

fn unavailable(e: &StoreError) -> ServerMessage {
    tracing::warn!("guild change not saved: {e}");
    let why = if matches!(e, StoreError::StaleEpoch { .. }) {
        "this server no longer holds the kingdom; reconnect"
    } else {
        "the store failed while saving the guild change; try again (Show tells what stands)"
    };
    ServerMessage::error(codes::GUILD_UNAVAILABLE, why)
}

/// The rules' action for a wire action (`None`: a role that cannot be given).
fn from_wire(a: GuildActionWire) -> Option<GuildAction> {
    let p = PlayerId;
    Some(match a {
        GuildActionWire::Create { name, tag } => GuildAction::Create { name, tag },
        GuildActionWire::Apply { guild } => GuildAction::Apply { guild },
        GuildActionWire::Invite { player } => GuildAction::Invite { player: p(player) },
        GuildActionWire::AcceptApplicant { player } => {
            GuildAction::AcceptApplicant { player: p(player) }
        }
        GuildActionWire::DeclineApplicant { player } => {
            GuildAction::DeclineApplicant { player: p(player) }
        }
        GuildActionWire::AcceptInvite { guild } => GuildAction::AcceptInvite { guild },
        GuildActionWire::DeclineInvite { guild } => GuildAction::DeclineInvite { guild },
        GuildActionWire::Leave => GuildAction::Leave,
        GuildActionWire::Kick { player } => GuildAction::Kick { player: p(player) },
        GuildActionWire::SetRole { player, role } => GuildAction::SetRole {
            player: p(player),
            role: match GuildRole::from_code(role)? {
                GuildRole::Leader => return None,
                r => r,
            },
        },
        GuildActionWire::Transfer { player } => GuildAction::Transfer { player: p(player) },
        GuildActionWire::EditNotice { text } => GuildAction::EditNotice { text },
        GuildActionWire::Disband => GuildAction::Disband,
        GuildActionWire::Show { .. } | GuildActionWire::Find { .. } => return None,
    })
}

/// A sentence for the push.
fn describe(
    actor: PlayerId,
    change: &GuildChange,
    before: Option<&GuildRecord>,
    now: Option<&GuildRecord>,
) -> String {
    if change.disbanded {
        return format!("the guild was disbanded by player {}", actor.0);
    }
    let members = |g: Option<&GuildRecord>| -> Vec<PlayerId> {
        g.map(|g| g.members.iter().map(|m| m.player).collect())
            .unwrap_or_default()
    };
    let (was, is) = (members(before), members(now));
    if let Some(joined) = is.iter().find(|p| !was.contains(p)) {
        return format!("player {} joined", joined.0);
    }
    if let Some(left) = was.iter().find(|p| !is.contains(p)) {
        return if *left == actor {
            format!("player {} left", left.0)
        } else {
            format!("player {} was removed by player {}", left.0, actor.0)
        };
    }
    format!("changed by player {}", actor.0)
}
