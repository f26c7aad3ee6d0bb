//! The tick thread's side of the network: inputs from sessions applied at tick start, command
//! results replied after the tick.
//!
//! Sessions never touch the world: the gateway pushes into a shared [`Inbox`] through a
//! [`WorldSender`], which refuses commands over the inbox's caps at once, and the tick thread
//! drains the inbox's fair, bounded share at the start of each tick (the sim orders commands by
//! the sequence number `submit` assigns, so the order is deterministic for a given input log).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dominion_net::proto::delta::{NoTags, encode_batch_tagged};
use dominion_net::proto::{
    CommandBody, CommandOutcome as WireOutcome, CommandResult, ErrorCode, PUSH_REQUEST_ID,
    ServerMessage, SetViewport, ViewportSet,
};
use dominion_net::transport::{ServerHandle, SessionId};
use dominion_sim::Kingdom;
use dominion_sim::aoi::{Observers, Viewport};
use dominion_sim::city::FoundCityError;
use dominion_sim::events::WorldEvent;
use dominion_sim::types::PlayerId;

use dominion_persistence::journal::JournalInput;

use crate::commands::{command_from_wire, outcome_to_wire};
use crate::grants::GrantDesk;
use crate::guild::AllianceDesk;
use crate::inbox::{Inbox, InboxLimits, InboxStats, Refused, WorldInput};
use crate::mail::MailHandle;
use crate::map_watch::MapWatchers;
use crate::own_view::OwnViews;
use crate::route_admission::hold_unplanned;
use crate::route_prefetch::RoutePrefetch;
use crate::world_query::QueryPort;
use dominion_persistence::store::now_unix_ms;

fn lock(inbox: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    // The inbox's invariants hold between calls; a panic elsewhere while holding the lock
    // leaves it usable.
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The gateway's handle: pushes into the inbox the tick thread drains. Cheap to clone.
#[derive(Clone)]
pub struct WorldSender {
    inbox: Arc<Mutex<Inbox>>,
}

impl WorldSender {
    /// Queues a command, or refuses it (nothing queued) when its session or the server has too
    /// many commands waiting for the world.
    pub fn command(
        &self,
        session: SessionId,
        player: PlayerId,
        request_id: u32,
        body: CommandBody,
    ) -> Result<(), Refused> {
        lock(&self.inbox).push_command(session, player, request_id, body)
    }

    /// Queues a viewport (coalesced with one still waiting); refused only when the session has
    /// too many viewport requests waiting.
    pub fn viewport(
        &self,
        session: SessionId,
        request_id: u32,
        viewport: SetViewport,
    ) -> Result<(), Refused> {
        lock(&self.inbox).push_viewport(session, request_id, viewport)
    }

    /// Queues a player's arrival (never refused).
    pub fn player_online(&self, session: SessionId, player: PlayerId) {
        lock(&self.inbox).push_player_online(session, player);
    }

    /// Queues the end of a session (never refused).
    pub fn session_closed(&self, session: SessionId) {
        lock(&self.inbox).push_session_closed(session);
    }
}

/// The tick thread's bridge to the network.
pub struct WorldBridge {
    inbox: Arc<Mutex<Inbox>>,
    net: ServerHandle,
    /// Where to send each pending command's result: sessions in submit order per (player,
    /// request id), so a client reusing a request id still gets every answer.
    /// (with when the gateway queued each).
    pending: HashMap<(PlayerId, u32), VecDeque<(SessionId, Instant)>>,
    /// Commands answered since the inbox was last told.
    answered: HashMap<SessionId, u32>,
    /// How long each command answered since the last [`WorldBridge::take_command_latencies`]
    /// spent in the server, from the gateway queueing it to its reply being pushed.
    latencies: Vec<Duration>,
    /// This tick's inputs (the buffer is kept between ticks).
    inputs: Vec<WorldInput>,
    /// The inbox's counters as of the last drain.
    stats: InboxStats,
    /// The last tick run, readable by the gateway (login replies carry it).
    tick: Arc<AtomicU64>,
    /// Online players' own views.
    own: OwnViews,
    /// Where battle and scout reports go as mail.
    mail: Option<MailHandle>,
    /// What this tick's inputs changed in the world, in order, for the journal.
    journaled: Vec<JournalInput>,
    /// While set, commands are answered with this refusal instead of being applied (the journal
    /// is over its bound behind the last durable save, or cannot be written).
    refusal: Option<WireOutcome>,
    /// The newest tick whose inputs (and every earlier tick's) are durable: results of later
    /// ticks are held back in `held` until it passes them.
    durable_through: u64,
    /// Command results held back until their tick is durable, in the order they were produced:
    /// (tick, session, request id, outcome, when the gateway queued it).
    held: VecDeque<(u64, SessionId, u32, WireOutcome, Instant)>,
    /// March orders whose routes the tick thread plans while it waits for the next tick.
    prefetch: RoutePrefetch,
    /// Operators' reads (the admin API), answered after each tick.
    queries: Option<QueryPort>,
    /// Admin web-map pages: observers whose deltas go to them instead of a session.
    map_watchers: Option<MapWatchers>,
    /// Claimed attachments from the mail service.
    grants: Option<GrantDesk>,
    alliances: Option<AllianceDesk>,
    guild_tags: Option<crate::guild::GuildTagBoard>,
    guild_limits: Option<crate::guild::GuildLimitsBoard>,
    /// Commands held back from the last tick (see [`WorldBridge::before_tick`]); they go first
    /// next tick, in the order they came.
    held_inputs: Vec<WorldInput>,
    /// March orders a tick takes on whose far route is not planned yet, at most.
    max_unplanned_routes: usize,
}

/// Default of [`WorldBridge::set_unplanned_route_limit`]: a far search takes ~0.2–0.5 ms
/// (`cargo bench --bench routes`), so eight on two workers stay within ~2 ms of a tick.
pub const DEFAULT_UNPLANNED_ROUTES_PER_TICK: usize = 8;

impl WorldBridge {
    /// A bridge with the inbox's bounds, and the sender the gateway uses.
    pub fn new(
        net: ServerHandle,
        tick: Arc<AtomicU64>,
        limits: InboxLimits,
    ) -> (WorldBridge, WorldSender) {
        let inbox = Arc::new(Mutex::new(Inbox::new(limits)));
        (
            WorldBridge {
                inbox: inbox.clone(),
                net,
                pending: HashMap::new(),
                latencies: Vec::new(),
                answered: HashMap::new(),
                inputs: Vec::new(),
                stats: InboxStats::default(),
                tick,
                own: OwnViews::default(),
                mail: None,
                journaled: Vec::new(),
                refusal: None,
                durable_through: u64::MAX,
                held: VecDeque::new(),
                prefetch: RoutePrefetch::new(inbox.clone()),
                queries: None,
                map_watchers: None,
                grants: None,
                alliances: None,
                guild_tags: None,
                guild_limits: None,
                held_inputs: Vec::new(),
                max_unplanned_routes: DEFAULT_UNPLANNED_ROUTES_PER_TICK,
            },
            WorldSender { inbox },
        )
    }

    /// A tick takes on at most `n` march orders whose far route is not planned yet; later
    /// commands of their sessions wait with them for the next tick (see
    /// [`WorldBridge::before_tick`]).
    pub fn set_unplanned_route_limit(&mut self, n: usize) {
        self.max_unplanned_routes = n;
    }

    /// Commands held back for the next tick (their routes are being planned).
    pub fn held_commands(&self) -> usize {
        self.held_inputs.len()
    }

    /// Sends each tick's battle and scout reports to the mail service.
    pub fn set_mail(&mut self, mail: MailHandle) {
        self.mail = Some(mail);
    }

    /// Takes claimed attachments from the mail service at each tick start (see
    /// [`crate::grants`]).
    pub fn set_grants(&mut self, desk: GrantDesk) {
        self.grants = Some(desk);
    }

    /// Where a reloaded `guilds.toml` goes when its config is applied.
    pub fn set_guild_limits(&mut self, board: crate::guild::GuildLimitsBoard) {
        self.guild_limits = Some(board);
    }

    /// Where the AOI encoder finds guild tags for cities.
    pub fn set_guild_tags(&mut self, board: crate::guild::GuildTagBoard) {
        self.guild_tags = Some(board);
    }

    /// Where guild membership reaches the world (see [`crate::guild::alliances`]).
    pub fn set_alliances(&mut self, desk: AllianceDesk) {
        self.alliances = Some(desk);
    }

    /// A save of the world after `tick` is durable: answers the grants it covers.
    pub fn saves_durable(&mut self, tick: u64) {
        if let Some(desk) = &mut self.grants {
            desk.saves_durable(tick);
        }
    }

    /// Bytes of own-state pushes (`PlayerDelta`) sent so far.
    pub fn player_delta_bytes(&self) -> u64 {
        self.own.bytes_pushed
    }

    /// The inbox's counters as of the last drain (for metrics).
    pub fn inbox_stats(&self) -> InboxStats {
        self.stats
    }

    /// What this tick's inputs changed in the world so far, in the order applied (for the
    /// journal); empties the list.
    pub fn take_journaled(&mut self) -> std::vec::Drain<'_, JournalInput> {
        self.journaled.drain(..)
    }

    /// Answers operators' reads of the world after each tick.
    pub fn set_queries(&mut self, port: QueryPort) {
        self.queries = Some(port);
    }

    /// Hands the deltas of map-watcher observers to their pages.
    pub fn set_map_watchers(&mut self, watchers: MapWatchers) {
        self.map_watchers = Some(watchers);
    }

    /// While set, commands are answered at once with this refusal (e.g.
    /// [`crate::commands::saving_behind`]) and change nothing.
    pub fn set_refusal(&mut self, refusal: Option<WireOutcome>) {
        self.refusal = refusal;
    }

    /// The inputs of every tick up to `tick` are durable (the journal took them, or a save
    /// covers them): results of those ticks may go out. Without a call every tick counts as
    /// durable (no journal).
    pub fn set_durable_through(&mut self, tick: u64) {
        self.durable_through = tick;
    }

    /// Command results held back because their tick is not durable yet.
    pub fn held_results(&self) -> usize {
        self.held.len()
    }

    /// Between ticks: plans the routes of at most `max` march orders waiting to apply (see
    /// [`crate::route_prefetch`]). Returns how many orders it looked at.
    pub fn plan_routes_ahead(&mut self, kingdom: &mut Kingdom, max: usize) -> usize {
        self.prefetch.plan(kingdom, max)
    }

    /// Route searches run ahead of the ticks so far.
    pub fn routes_searched_ahead(&self) -> u64 {
        self.prefetch.searched
    }

    /// Applies this tick's share of the inputs that arrived (see [`Inbox::drain`]), after the
    /// commands held back from the last tick: a tick takes on at most `max_unplanned_routes`
    /// march orders whose far route is not planned yet, the rest wait with their sessions'
    /// later commands while their routes are planned ([`crate::route_admission`]).
    pub fn before_tick(&mut self, kingdom: &mut Kingdom) {
        let mut inputs = std::mem::take(&mut self.inputs);
        inputs.append(&mut self.held_inputs);
        {
            let mut inbox = lock(&self.inbox);
            inbox.drain(&mut inputs);
            self.stats = inbox.stats();
        }
        if self.refusal.is_none() {
            let to_plan = hold_unplanned(
                kingdom,
                &mut inputs,
                self.max_unplanned_routes,
                &mut self.held_inputs,
            );
            self.prefetch.plan_first(to_plan);
        }
        let unit_types = kingdom.config().assets.units.types.len();
        for input in inputs.drain(..) {
            match input {
                WorldInput::PlayerOnline { player, session } => {
                    if let Some(q) = self.queries.as_mut() {
                        q.came_online(player, now_unix_ms());
                    }
                    match kingdom.add_player(player) {
                        Ok(city) => {
                            self.journaled.push(JournalInput::FoundCity { player });
                            tracing::info!(%player, %city, "city founded");
                            self.own.online(kingdom, &self.net, session, player);
                        }
                        Err(FoundCityError::AlreadyHasCity { .. }) => {
                            self.own.online(kingdom, &self.net, session, player);
                        }
                        Err(e @ FoundCityError::KingdomFull) => {
                            tracing::error!(%player, "{e}");
                            let _ = self.net.kick(session, 1100, e.to_string());
                        }
                    }
                }
                WorldInput::Viewport {
                    session,
                    request_ids,
                    viewport: v,
                } => {
                    let applied = kingdom
                        .world
                        .resource_mut::<Observers>()
                        .set_viewport(session.0, Viewport::new(v.x, v.y, v.w, v.h, v.zoom));
                    let reply = ServerMessage::from(ViewportSet {
                        viewport: SetViewport {
                            x: applied.x,
                            y: applied.y,
                            w: applied.w,
                            h: applied.h,
                            zoom: applied.zoom,
                        },
                    });
                    for request_id in request_ids {
                        let _ = self.net.reply(session, request_id, &reply);
                    }
                }
                WorldInput::SessionClosed { session } => {
                    self.own.closed(kingdom, session);
                    kingdom
                        .world
                        .resource_mut::<Observers>()
                        .remove_observer(session.0);
                }
                WorldInput::Command {
                    player,
                    session,
                    request_id,
                    body,
                    received,
                } => match command_from_wire(&body, unit_types) {
                    Ok(_)
                        if request_id != PUSH_REQUEST_ID
                            && (self
                                .pending
                                .get(&(player, request_id))
                                .is_some_and(|w| w.iter().any(|&(s, _)| s == session))
                                || self
                                    .held
                                    .iter()
                                    .any(|h| h.1 == session && h.2 == request_id)) =>
                    {
                        // Its result could not be told from the first one's: refuse it, unapplied.
                        let _ = self.net.reply(
                            session,
                            request_id,
                            &ServerMessage::error(
                                ErrorCode::MALFORMED,
                                format!(
                                    "request id {request_id} is already used by a command of \
                                     this session still waiting for its result"
                                ),
                            ),
                        );
                        self.latencies.push(received.elapsed());
                        *self.answered.entry(session).or_default() += 1;
                    }
                    Ok(_) if self.refusal.is_some() => {
                        let outcome = self.refusal.clone().expect("checked just above");
                        let _ = self.net.reply(
                            session,
                            request_id,
                            &ServerMessage::from(CommandResult { outcome }),
                        );
                        self.latencies.push(received.elapsed());
                        *self.answered.entry(session).or_default() += 1;
                    }
                    Ok(command) => {
                        self.journaled.push(JournalInput::Command {
                            player,
                            request_id,
                            command: command.clone(),
                        });
                        kingdom.submit(player, request_id, command);
                        self.pending
                            .entry((player, request_id))
                            .or_default()
                            .push_back((session, received));
                    }
                    Err(outcome) => {
                        let _ = self.net.reply(
                            session,
                            request_id,
                            &ServerMessage::from(CommandResult { outcome }),
                        );
                        self.latencies.push(received.elapsed());
                        *self.answered.entry(session).or_default() += 1;
                    }
                },
            }
        }
        self.inputs = inputs;
        if let Some(desk) = &mut self.grants {
            desk.before_tick(kingdom, &mut self.journaled);
        }
        // After the sessions' inputs: a player who just came online has a city by now.
        if let Some(desk) = &mut self.alliances {
            desk.before_tick(kingdom, &mut self.journaled);
        }
    }

    /// Replies command results from this tick's events, pushes each observer's AOI delta and each
    /// online player's own-state changes, and publishes the tick number.
    pub fn after_tick(&mut self, kingdom: &mut Kingdom, events: &[WorldEvent]) {
        self.tick.store(kingdom.tick_count(), Ordering::Relaxed);
        if let Some(board) = &self.guild_limits
            && events
                .iter()
                .any(|e| matches!(e, WorldEvent::ConfigApplied { .. }))
        {
            let limits = crate::guild::GuildLimits::from_config(&kingdom.config().assets.guilds);
            *board.write().unwrap_or_else(PoisonError::into_inner) = limits;
        }
        // Each object's view or update is encoded once per tick and its bytes shared by every
        // observer that sees it (`encode_batch`).
        // Cities go out with their guild's tag (read under the board's lock for this loop).
        let board_owner = self.guild_tags.clone();
        let board = board_owner
            .as_ref()
            .map(|b| b.read().unwrap_or_else(PoisonError::into_inner));
        let tags: &dyn dominion_net::proto::delta::GuildTags = match &board {
            Some(b) => &**b,
            None => &NoTags,
        };
        for batch in kingdom.world.resource_mut::<Observers>().drain_batches() {
            match encode_batch_tagged(&batch, tags) {
                Ok(messages) => {
                    for (observer, message) in messages {
                        if MapWatchers::is_watcher(observer) {
                            if let Some(w) = &self.map_watchers {
                                w.deliver(observer, message);
                            }
                            continue;
                        }
                        // A session that closed meanwhile is removed from the observers next
                        // tick.
                        let _ = self
                            .net
                            .push(SessionId(observer), &ServerMessage::from(message));
                    }
                }
                Err(e) => tracing::error!("encoding this tick's AOI deltas failed: {e}"),
            }
        }
        drop(board);
        let told = self.own.after_tick(kingdom, &self.net, events);
        if let Some(mail) = &self.mail {
            mail.reports(kingdom.tick_count(), &told);
        }
        // Results of ticks that became durable go out first, in the order they were produced.
        while self
            .held
            .front()
            .is_some_and(|h| h.0 <= self.durable_through)
        {
            let (_, session, request_id, outcome, received) =
                self.held.pop_front().expect("checked just above");
            self.reply_result(session, request_id, outcome, received);
        }
        let tick = kingdom.tick_count();
        for event in events {
            if let WorldEvent::CommandResult {
                player,
                request_id,
                result,
            } = event
                && let Some((session, received)) = self.take_pending(*player, *request_id)
            {
                let outcome = outcome_to_wire(result);
                if tick > self.durable_through {
                    // Not durable yet: told only once it is, never before.
                    self.held
                        .push_back((tick, session, *request_id, outcome, received));
                } else {
                    self.reply_result(session, *request_id, outcome, received);
                }
            }
        }
        if let Some(q) = self.queries.as_mut() {
            q.answer(kingdom);
        }
        if !self.answered.is_empty() {
            let mut inbox = lock(&self.inbox);
            for (session, n) in self.answered.drain() {
                inbox.answered(session, n);
            }
        }
    }

    /// How long each command answered since the last call spent in the server (gateway queue
    /// to reply pushed); empties the list.
    pub fn take_command_latencies(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.latencies)
    }

    fn reply_result(
        &mut self,
        session: SessionId,
        request_id: u32,
        outcome: WireOutcome,
        received: Instant,
    ) {
        // A session that closed meanwhile simply misses its reply.
        let _ = self.net.reply(
            session,
            request_id,
            &ServerMessage::from(CommandResult { outcome }),
        );
        self.latencies.push(received.elapsed());
        *self.answered.entry(session).or_default() += 1;
    }

    fn take_pending(&mut self, player: PlayerId, request_id: u32) -> Option<(SessionId, Instant)> {
        let key = (player, request_id);
        let sessions = self.pending.get_mut(&key)?;
        let session = sessions.pop_front();
        if sessions.is_empty() {
            self.pending.remove(&key);
        }
        session
    }
}
