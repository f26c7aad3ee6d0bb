//! The bounded, fair queue between the gateway and the tick thread.
//!
//! The gateway pushes what sessions ask of the world; the tick thread drains it at tick start.
//! Pure data: no IO, no clock, no channels (both sides share it behind a mutex, see
//! `world_bridge`).
//!
//! - **Bounded.** A session may have at most [`InboxLimits::max_pending_per_session`] commands
//!   accepted and not yet answered (queued here, or handed to the world and waiting for their
//!   result), and the process at most [`InboxLimits::max_pending_total`]. A command over either
//!   cap is [`Refused`] on the spot and nothing is queued, so a flooding client costs neither
//!   memory nor tick time; the caller answers it at once (`RATE_LIMITED`).
//! - **Fair.** [`Inbox::drain`] serves sessions round-robin, one item per session per round, at
//!   most [`InboxLimits::max_per_session_per_tick`] items per session and
//!   [`InboxLimits::max_per_tick`] in all per tick. What is left stays queued, in order; the
//!   sessions the budget did not reach are served first next tick, those that used their full
//!   share last. One session's burst therefore never pushes another's commands to a later tick.
//! - **Ordered.** A session's commands and its `PlayerOnline` leave in the order they came, and
//!   its `SessionClosed` only after all of them.
//! - **Control inputs are never dropped.** `PlayerOnline` and `SessionClosed` are not subject to
//!   the caps. Viewports are coalesced per session (only the latest is applied) but every request
//!   id is kept for its reply; a session with [`MAX_VIEWPORT_REPLIES_WAITING`] viewport requests
//!   already waiting for one tick has the next one refused, not dropped.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use dominion_net::proto::{CommandBody, SetViewport};
use dominion_net::transport::SessionId;
use dominion_sim::types::PlayerId;

/// Most viewport requests of one session waiting for the next tick (the net layer's rate limit
/// keeps a well-behaved client far below this; it only bounds the reply list).
pub const MAX_VIEWPORT_REPLIES_WAITING: usize = 64;

/// The inbox's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxLimits {
    /// Commands one session may have accepted and not yet answered.
    pub max_pending_per_session: u32,
    /// Commands all sessions together may have accepted and not yet answered.
    pub max_pending_total: u32,
    /// Items taken from one session's queue per tick.
    pub max_per_session_per_tick: u32,
    /// Items taken from all queues per tick.
    pub max_per_tick: u32,
}

impl Default for InboxLimits {
    /// A player issues a command every few seconds and waits for its answer; 16 in flight is far
    /// above that, and four per tick (40/s at 10 Hz) above the protocol's sustained rate limit of
    /// 20/s, so only a flood is refused or carried over. 32,768 pending commands in all bound the
    /// memory to a few MiB; 4,096 per tick bound the work one tick is handed.
    fn default() -> Self {
        InboxLimits {
            max_pending_per_session: 16,
            max_pending_total: 32_768,
            max_per_session_per_tick: 4,
            max_per_tick: 4_096,
        }
    }
}

/// Something a session asks of the world, as the tick thread receives it.
#[derive(Clone, Debug, PartialEq)]
pub enum WorldInput {
    /// A player logged in or resumed on `session`: make sure they have a city.
    PlayerOnline {
        /// The player.
        player: PlayerId,
        /// Their session.
        session: SessionId,
    },
    /// The session watches a new viewport; the applied (clamped) one is replied to every request.
    Viewport {
        /// The session (its id is the AOI observer id).
        session: SessionId,
        /// Every request coalesced into this one, oldest first; each gets the reply.
        request_ids: Vec<u32>,
        /// The latest requested viewport.
        viewport: SetViewport,
    },
    /// The session ended: stop computing its interest.
    SessionClosed {
        /// The session.
        session: SessionId,
    },
    /// A gameplay command; the result is replied to `session` with `request_id`.
    Command {
        /// Sender.
        player: PlayerId,
        /// Sender's session.
        session: SessionId,
        /// Echoed in the reply.
        request_id: u32,
        /// The validated wire command.
        body: CommandBody,
        /// When the gateway queued it (for `dominion_command_server_seconds`).
        received: Instant,
    },
}

/// Why a request was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The session has too many commands waiting for the world.
    #[error(
        "{pending} commands of this session are still waiting for the world (limit {limit}); wait for their results"
    )]
    SessionFull {
        /// Commands of the session accepted and not yet answered.
        pending: u32,
        /// The per-session limit.
        limit: u32,
    },
    /// All sessions together have too many commands waiting for the world.
    #[error(
        "the server has {pending} commands waiting for the world (limit {limit}); retry shortly"
    )]
    ServerFull {
        /// Commands accepted and not yet answered, all sessions.
        pending: u32,
        /// The process-wide limit.
        limit: u32,
    },
    /// The session has too many viewport requests waiting for the next tick.
    #[error("{waiting} viewport requests of this session are waiting for the next tick")]
    ViewportBacklog {
        /// Requests waiting.
        waiting: usize,
    },
}

impl Refused {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Refused::SessionFull { .. } => "session",
            Refused::ServerFull { .. } => "server",
            Refused::ViewportBacklog { .. } => "viewport",
        }
    }
}

/// Counters since start and current depths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboxStats {
    /// Commands accepted.
    pub commands_queued: u64,
    /// Commands refused because their session had too many pending.
    pub refused_session: u64,
    /// Commands refused because the process had too many pending.
    pub refused_server: u64,
    /// Viewport requests refused because too many of the session's were waiting.
    pub refused_viewport: u64,
    /// Viewport requests folded into a later one (each still answered).
    pub viewports_coalesced: u64,
    /// Items left queued at the end of a drain, summed over drains (work carried to a later
    /// tick).
    pub carried: u64,
    /// Commands accepted and not yet answered, now.
    pub pending: u64,
    /// Items queued and not yet drained, now.
    pub queued: u64,
}

/// What one session has waiting.
#[derive(Debug)]
enum Queued {
    PlayerOnline {
        player: PlayerId,
    },
    Command {
        player: PlayerId,
        request_id: u32,
        received: Instant,
        body: CommandBody,
    },
}

#[derive(Debug, Default)]
struct SessionQueue {
    queue: VecDeque<Queued>,
    viewport: Option<(SetViewport, Vec<u32>)>,
    /// The session closed; `SessionClosed` leaves once `queue` is empty.
    close_pending: bool,
    /// Closed (and `SessionClosed` emitted or pending): nothing is waited for any more.
    closed: bool,
    /// Commands accepted and not yet answered.
    pending: u32,
    in_ring: bool,
    in_control: bool,
    /// Items taken in the current drain.
    taken: u32,
}

impl SessionQueue {
    fn idle(&self) -> bool {
        self.queue.is_empty()
            && self.viewport.is_none()
            && !self.close_pending
            && (self.closed || self.pending == 0)
    }
}

/// The fair, bounded queue. See the module docs.
#[derive(Debug)]
pub struct Inbox {
    limits: InboxLimits,
    sessions: HashMap<SessionId, SessionQueue>,
    /// Sessions with queued items, in service order.
    ring: VecDeque<SessionId>,
    /// Sessions with a viewport or a close waiting.
    control: Vec<SessionId>,
    pending_total: u32,
    queued_total: usize,
    stats: InboxStats,
    /// March orders queued since the tick thread last took them for route planning
    /// ([`Inbox::take_new_marches`]), bounded like the queues (a refused command is not added).
    new_marches: Vec<(PlayerId, CommandBody)>,
}

impl Inbox {
    /// An empty inbox with these bounds (zeros are raised to one).
    pub fn new(limits: InboxLimits) -> Inbox {
        Inbox {
            limits: InboxLimits {
                max_pending_per_session: limits.max_pending_per_session.max(1),
                max_pending_total: limits.max_pending_total.max(1),
                max_per_session_per_tick: limits.max_per_session_per_tick.max(1),
                max_per_tick: limits.max_per_tick.max(1),
            },
            sessions: HashMap::new(),
            ring: VecDeque::new(),
            control: Vec::new(),
            pending_total: 0,
            queued_total: 0,
            stats: InboxStats::default(),
            new_marches: Vec::new(),
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> InboxLimits {
        self.limits
    }

    /// Queues a command, or refuses it (and queues nothing) when its session or the process has
    /// too many commands accepted and not yet answered.
    pub fn push_command(
        &mut self,
        session: SessionId,
        player: PlayerId,
        request_id: u32,
        body: CommandBody,
    ) -> Result<(), Refused> {
        let have = self.sessions.get(&session).map_or(0, |s| s.pending);
        let refused = if have >= self.limits.max_pending_per_session {
            Some(Refused::SessionFull {
                pending: have,
                limit: self.limits.max_pending_per_session,
            })
        } else if self.pending_total >= self.limits.max_pending_total {
            Some(Refused::ServerFull {
                pending: self.pending_total,
                limit: self.limits.max_pending_total,
            })
        } else {
            None
        };
        if let Some(r) = refused {
            if let Refused::SessionFull { .. } = r {
                self.stats.refused_session += 1;
            } else {
                self.stats.refused_server += 1;
            }
            return Err(r);
        }
        let s = self.sessions.entry(session).or_default();
        s.pending += 1;
        self.pending_total += 1;
        self.stats.commands_queued += 1;
        if matches!(body, CommandBody::SendMarch { .. })
            && self.new_marches.len() < self.limits.max_pending_total as usize
        {
            self.new_marches.push((player, body.clone()));
        }
        s.queue.push_back(Queued::Command {
            player,
            request_id,
            body,
            received: Instant::now(),
        });
        self.queued_total += 1;
        Self::enter_ring(&mut self.ring, session, s);
        Ok(())
    }

    /// Moves into `out` the march orders queued since the last call, in arrival order, so the
    /// tick thread can plan their routes before the tick that applies them (they stay queued
    /// for [`Inbox::drain`] as well). Holds at most as many as the pending caps allow.
    pub fn take_new_marches(&mut self, out: &mut Vec<(PlayerId, CommandBody)>) {
        out.append(&mut self.new_marches);
    }

    /// Queues a player's arrival on a session; never refused.
    pub fn push_player_online(&mut self, session: SessionId, player: PlayerId) {
        let s = self.sessions.entry(session).or_default();
        s.queue.push_back(Queued::PlayerOnline { player });
        self.queued_total += 1;
        Self::enter_ring(&mut self.ring, session, s);
    }

    /// Sets the session's next viewport, replacing one still waiting (whose request id is kept
    /// for the reply). Refused only when [`MAX_VIEWPORT_REPLIES_WAITING`] requests are waiting.
    pub fn push_viewport(
        &mut self,
        session: SessionId,
        request_id: u32,
        viewport: SetViewport,
    ) -> Result<(), Refused> {
        let s = self.sessions.entry(session).or_default();
        match &mut s.viewport {
            Some((_, ids)) if ids.len() >= MAX_VIEWPORT_REPLIES_WAITING => {
                self.stats.refused_viewport += 1;
                return Err(Refused::ViewportBacklog { waiting: ids.len() });
            }
            Some((latest, ids)) => {
                *latest = viewport;
                ids.push(request_id);
                self.stats.viewports_coalesced += 1;
            }
            None => s.viewport = Some((viewport, vec![request_id])),
        }
        Self::enter_control(&mut self.control, session, s);
        Ok(())
    }

    /// The session ended. Its queued commands still go to the world (they were accepted); a
    /// viewport still waiting is dropped (nobody is left to watch it or read the reply), and
    /// `SessionClosed` follows the session's last queued item.
    pub fn push_session_closed(&mut self, session: SessionId) {
        let s = self.sessions.entry(session).or_default();
        s.viewport = None;
        s.close_pending = true;
        s.closed = true;
        Self::enter_control(&mut self.control, session, s);
    }

    /// Records that `n` commands of `session` were answered (their result replied, or refused
    /// before reaching the world), freeing their places.
    pub fn answered(&mut self, session: SessionId, n: u32) {
        let Some(s) = self.sessions.get_mut(&session) else {
            // Already forgotten: its count left the total when it was.
            return;
        };
        let n = n.min(s.pending);
        s.pending -= n;
        self.pending_total -= n;
        if s.idle() {
            self.forget(session);
        }
    }

    /// Takes this tick's share into `out`: every waiting viewport, then queued items round-robin
    /// within the per-session and per-tick budgets, then `SessionClosed` for closed sessions with
    /// nothing left queued.
    pub fn drain(&mut self, out: &mut Vec<WorldInput>) {
        let mut closing = Vec::new();
        for session in std::mem::take(&mut self.control) {
            let Some(s) = self.sessions.get_mut(&session) else {
                continue;
            };
            s.in_control = false;
            if let Some((viewport, request_ids)) = s.viewport.take() {
                out.push(WorldInput::Viewport {
                    session,
                    request_ids,
                    viewport,
                });
            }
            if s.close_pending {
                closing.push(session);
            } else if s.idle() {
                self.forget(session);
            }
        }

        let mut budget = self.limits.max_per_tick;
        let mut used_share = Vec::new();
        let mut touched = Vec::new();
        let mut emptied = Vec::new();
        while budget > 0 {
            let Some(session) = self.ring.pop_front() else {
                break;
            };
            let Some(s) = self.sessions.get_mut(&session) else {
                continue;
            };
            let Some(item) = s.queue.pop_front() else {
                s.in_ring = false;
                continue;
            };
            self.queued_total -= 1;
            budget -= 1;
            if s.taken == 0 {
                touched.push(session);
            }
            s.taken += 1;
            out.push(match item {
                Queued::PlayerOnline { player } => WorldInput::PlayerOnline { player, session },
                Queued::Command {
                    player,
                    request_id,
                    body,
                    received,
                } => WorldInput::Command {
                    player,
                    session,
                    request_id,
                    body,
                    received,
                },
            });
            if s.queue.is_empty() {
                s.in_ring = false;
                emptied.push(session);
            } else if s.taken >= self.limits.max_per_session_per_tick {
                used_share.push(session);
            } else {
                self.ring.push_back(session);
            }
        }
        // Sessions the budget did not reach stay in front; those that used their share go last.
        self.ring.extend(used_share);
        for session in touched {
            if let Some(s) = self.sessions.get_mut(&session) {
                s.taken = 0;
            }
        }
        for session in emptied {
            if self.sessions.get(&session).is_some_and(SessionQueue::idle) {
                self.forget(session);
            }
        }

        for session in closing {
            let Some(s) = self.sessions.get_mut(&session) else {
                continue;
            };
            if s.queue.is_empty() {
                s.close_pending = false;
                out.push(WorldInput::SessionClosed { session });
                if s.idle() {
                    self.forget(session);
                }
            } else {
                Self::enter_control(&mut self.control, session, s);
            }
        }
        self.stats.carried += self.queued_total as u64;
    }

    /// Counters and depths.
    pub fn stats(&self) -> InboxStats {
        InboxStats {
            pending: u64::from(self.pending_total),
            queued: self.queued_total as u64,
            ..self.stats
        }
    }

    /// Sessions with something tracked (queued, waiting, or pending answers).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    fn enter_ring(ring: &mut VecDeque<SessionId>, session: SessionId, s: &mut SessionQueue) {
        if !s.in_ring {
            s.in_ring = true;
            ring.push_back(session);
        }
    }

    fn enter_control(control: &mut Vec<SessionId>, session: SessionId, s: &mut SessionQueue) {
        if !s.in_control {
            s.in_control = true;
            control.push(session);
        }
    }

    /// Drops an idle session's entry; commands of a closed session still in the world leave the
    /// total now (their answers are not waited for).
    fn forget(&mut self, session: SessionId) {
        if let Some(s) = self.sessions.remove(&session) {
            self.pending_total -= s.pending;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_session: u32, total: u32, share: u32, per_tick: u32) -> InboxLimits {
        InboxLimits {
            max_pending_per_session: per_session,
            max_pending_total: total,
            max_per_session_per_tick: share,
            max_per_tick: per_tick,
        }
    }

    fn recall(id: u64) -> CommandBody {
        CommandBody::Recall { march_id: id }
    }

    fn view(x: u16) -> SetViewport {
        SetViewport {
            x,
            y: 0,
            w: 10,
            h: 10,
            zoom: 0,
        }
    }

    const P: PlayerId = PlayerId(7);

    fn drain(inbox: &mut Inbox) -> Vec<WorldInput> {
        let mut out = Vec::new();
        inbox.drain(&mut out);
        out
    }

    /// (session, request id) of each drained command, in order.
    fn commands(out: &[WorldInput]) -> Vec<(u64, u32)> {
        out.iter()
            .filter_map(|i| match i {
                WorldInput::Command {
                    session,
                    request_id,
                    ..
                } => Some((session.0, *request_id)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn new_march_orders_are_handed_out_once_for_route_planning_and_stay_queued() {
        let mut inbox = Inbox::new(limits(2, 3, 4, 100));
        let march = |target| CommandBody::SendMarch {
            troops: vec![(0, 10)],
            target,
            mission: 1,
        };
        inbox.push_command(SessionId(1), P, 1, march(5)).unwrap();
        inbox.push_command(SessionId(1), P, 2, recall(9)).unwrap();
        // Over the session's cap: refused, so not planned either.
        assert!(inbox.push_command(SessionId(1), P, 3, march(6)).is_err());
        inbox.push_command(SessionId(2), P, 4, march(7)).unwrap();
        let mut new = Vec::new();
        inbox.take_new_marches(&mut new);
        assert_eq!(new, vec![(P, march(5)), (P, march(7))]);
        new.clear();
        inbox.take_new_marches(&mut new);
        assert!(new.is_empty(), "each order is handed out once");
        assert_eq!(commands(&drain(&mut inbox)), vec![(1, 1), (2, 4), (1, 2)]);
    }

    #[test]
    fn a_session_over_its_cap_is_refused_and_nothing_is_queued() {
        let mut inbox = Inbox::new(limits(3, 100, 10, 100));
        let a = SessionId(1);
        for r in 0..3 {
            inbox.push_command(a, P, r, recall(1)).unwrap();
        }
        assert_eq!(
            inbox.push_command(a, P, 3, recall(1)),
            Err(Refused::SessionFull {
                pending: 3,
                limit: 3
            })
        );
        assert_eq!(inbox.stats().queued, 3);
        // Drained but not answered: still pending, still refused.
        assert_eq!(commands(&drain(&mut inbox)), vec![(1, 0), (1, 1), (1, 2)]);
        assert!(inbox.push_command(a, P, 4, recall(1)).is_err());
        // One answer frees one place.
        inbox.answered(a, 1);
        inbox.push_command(a, P, 5, recall(1)).unwrap();
        assert!(inbox.push_command(a, P, 6, recall(1)).is_err());
        // Another session is not affected.
        inbox.push_command(SessionId(2), P, 0, recall(1)).unwrap();
        let s = inbox.stats();
        assert_eq!(
            (s.commands_queued, s.refused_session, s.pending, s.queued),
            (5, 3, 4, 2)
        );
    }

    #[test]
    fn the_process_cap_bounds_all_sessions_together() {
        let mut inbox = Inbox::new(limits(10, 4, 10, 100));
        for s in 1..=4 {
            inbox.push_command(SessionId(s), P, 0, recall(1)).unwrap();
        }
        assert_eq!(
            inbox.push_command(SessionId(5), P, 0, recall(1)),
            Err(Refused::ServerFull {
                pending: 4,
                limit: 4
            })
        );
        assert_eq!(inbox.stats().refused_server, 1);
        inbox.answered(SessionId(2), 1);
        inbox.push_command(SessionId(5), P, 0, recall(1)).unwrap();
    }

    #[test]
    fn a_burst_does_not_push_another_session_to_a_later_tick() {
        let mut inbox = Inbox::new(limits(16, 100, 4, 100));
        let (a, b) = (SessionId(1), SessionId(2));
        for r in 0..16 {
            inbox.push_command(a, P, r, recall(1)).unwrap();
        }
        inbox.push_command(b, P, 100, recall(1)).unwrap();
        let first = commands(&drain(&mut inbox));
        // Round-robin: A, B, then A's remaining share; A's order is kept.
        assert_eq!(first, vec![(1, 0), (2, 100), (1, 1), (1, 2), (1, 3)]);
        assert_eq!(inbox.stats().queued, 12);
        assert_eq!(inbox.stats().carried, 12);
        let mut rest = Vec::new();
        for _ in 0..3 {
            let tick = commands(&drain(&mut inbox));
            assert_eq!(tick.len(), 4, "at most the per-session share each tick");
            rest.extend(tick);
        }
        assert_eq!(rest, (4..16).map(|r| (1, r)).collect::<Vec<_>>());
        assert!(drain(&mut inbox).is_empty());
    }

    #[test]
    fn the_per_tick_budget_rotates_over_sessions() {
        let mut inbox = Inbox::new(limits(16, 100, 10, 4));
        for s in 1..=3 {
            for r in 0..4 {
                inbox.push_command(SessionId(s), P, r, recall(1)).unwrap();
            }
        }
        let t1 = commands(&drain(&mut inbox));
        assert_eq!(t1, vec![(1, 0), (2, 0), (3, 0), (1, 1)]);
        // Sessions 2 and 3 were not reached in the last round: they go first.
        let t2 = commands(&drain(&mut inbox));
        assert_eq!(t2, vec![(2, 1), (3, 1), (1, 2), (2, 2)]);
        let t3 = commands(&drain(&mut inbox));
        assert_eq!(t3, vec![(3, 2), (1, 3), (2, 3), (3, 3)]);
        assert!(drain(&mut inbox).is_empty());
    }

    #[test]
    fn a_session_that_used_its_share_goes_behind_the_unserved() {
        let mut inbox = Inbox::new(limits(16, 100, 1, 2));
        for s in 1..=3 {
            for r in 0..2 {
                inbox.push_command(SessionId(s), P, r, recall(1)).unwrap();
            }
        }
        assert_eq!(commands(&drain(&mut inbox)), vec![(1, 0), (2, 0)]);
        // Session 3 was not reached: it is served first, before 1 and 2 take their next turn.
        assert_eq!(commands(&drain(&mut inbox)), vec![(3, 0), (1, 1)]);
        assert_eq!(commands(&drain(&mut inbox)), vec![(2, 1), (3, 1)]);
        assert!(drain(&mut inbox).is_empty());
    }

    #[test]
    fn control_inputs_keep_their_place_and_are_never_refused() {
        let mut inbox = Inbox::new(limits(2, 2, 1, 100));
        let a = SessionId(1);
        inbox.push_player_online(a, P);
        inbox.push_command(a, P, 1, recall(1)).unwrap();
        inbox.push_command(a, P, 2, recall(1)).unwrap();
        assert!(inbox.push_command(a, P, 3, recall(1)).is_err());
        inbox.push_session_closed(a);
        // One item per tick for this session: PlayerOnline, 1, 2, then the close.
        assert_eq!(
            drain(&mut inbox),
            vec![WorldInput::PlayerOnline {
                player: P,
                session: a
            }]
        );
        assert_eq!(commands(&drain(&mut inbox)), vec![(1, 1)]);
        let last = drain(&mut inbox);
        assert_eq!(commands(&last), vec![(1, 2)]);
        assert_eq!(last[1], WorldInput::SessionClosed { session: a });
        assert!(drain(&mut inbox).is_empty());
        // The closed session's answers are not waited for.
        assert_eq!(inbox.sessions(), 0);
        assert_eq!(inbox.stats().pending, 0);
        inbox.answered(a, 2);
        assert_eq!(inbox.stats().pending, 0);
    }

    #[test]
    fn viewports_are_coalesced_but_every_request_is_kept() {
        let mut inbox = Inbox::new(InboxLimits::default());
        let a = SessionId(1);
        for (r, x) in [(1, 10), (2, 20), (3, 30)] {
            inbox.push_viewport(a, r, view(x)).unwrap();
        }
        inbox.push_viewport(SessionId(2), 9, view(5)).unwrap();
        assert_eq!(
            drain(&mut inbox),
            vec![
                WorldInput::Viewport {
                    session: a,
                    request_ids: vec![1, 2, 3],
                    viewport: view(30)
                },
                WorldInput::Viewport {
                    session: SessionId(2),
                    request_ids: vec![9],
                    viewport: view(5)
                },
            ]
        );
        assert_eq!(inbox.stats().viewports_coalesced, 2);
        assert_eq!(inbox.sessions(), 0);
        for r in 0..MAX_VIEWPORT_REPLIES_WAITING as u32 {
            inbox.push_viewport(a, r, view(1)).unwrap();
        }
        assert_eq!(
            inbox.push_viewport(a, 999, view(1)),
            Err(Refused::ViewportBacklog {
                waiting: MAX_VIEWPORT_REPLIES_WAITING
            })
        );
    }

    #[test]
    fn viewports_are_not_held_back_by_queued_commands() {
        let mut inbox = Inbox::new(limits(16, 100, 1, 100));
        let a = SessionId(1);
        for r in 0..5 {
            inbox.push_command(a, P, r, recall(1)).unwrap();
        }
        inbox.push_viewport(a, 50, view(3)).unwrap();
        let out = drain(&mut inbox);
        assert!(matches!(out[0], WorldInput::Viewport { .. }));
        assert_eq!(commands(&out), vec![(1, 0)]);
    }

    #[test]
    fn a_close_drops_the_waiting_viewport_and_follows_queued_commands() {
        let mut inbox = Inbox::new(limits(16, 100, 2, 100));
        let a = SessionId(1);
        for r in 0..3 {
            inbox.push_command(a, P, r, recall(1)).unwrap();
        }
        inbox.push_viewport(a, 50, view(3)).unwrap();
        inbox.push_session_closed(a);
        let out = drain(&mut inbox);
        assert_eq!(commands(&out), vec![(1, 0), (1, 1)]);
        assert_eq!(out.len(), 2, "no viewport, no close yet: {out:?}");
        let out = drain(&mut inbox);
        assert_eq!(commands(&out), vec![(1, 2)]);
        assert!(
            matches!(
                &out[..],
                [
                    WorldInput::Command { player: P, body, .. },
                    WorldInput::SessionClosed { session }
                ] if *body == recall(1) && *session == a
            ),
            "{out:?}"
        );
        assert_eq!(inbox.sessions(), 0);
    }

    #[test]
    fn zero_limits_are_raised_to_one() {
        let inbox = Inbox::new(limits(0, 0, 0, 0));
        assert_eq!(inbox.limits(), limits(1, 1, 1, 1));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            Command(u64),
            Online(u64),
            Viewport(u64),
            Close(u64),
            Answer(u64),
            Drain,
        }

        fn op() -> impl Strategy<Value = Op> {
            let s = 1u64..5;
            prop_oneof![
                6 => s.clone().prop_map(Op::Command),
                1 => s.clone().prop_map(Op::Online),
                2 => s.clone().prop_map(Op::Viewport),
                1 => s.clone().prop_map(Op::Close),
                3 => s.prop_map(Op::Answer),
                3 => Just(Op::Drain),
            ]
        }

        #[derive(Default)]
        struct Seen {
            delivered: HashMap<u64, Vec<u32>>,
            /// Drained and not yet answered, per session (what the bridge answers later).
            in_world: HashMap<u64, u32>,
            /// Sessions whose close was pushed; true once `SessionClosed` came out.
            closed: HashMap<u64, bool>,
        }

        fn check_drain(
            inbox: &mut Inbox,
            lim: InboxLimits,
            seen: &mut Seen,
        ) -> Result<(), TestCaseError> {
            let out = drain(inbox);
            let mut per_session: HashMap<u64, u32> = HashMap::new();
            let mut queue_items = 0;
            for i in &out {
                match i {
                    WorldInput::Command {
                        session,
                        request_id,
                        ..
                    } => {
                        prop_assert!(
                            !seen.closed.get(&session.0).copied().unwrap_or(false),
                            "command after close"
                        );
                        seen.delivered
                            .entry(session.0)
                            .or_default()
                            .push(*request_id);
                        *seen.in_world.entry(session.0).or_default() += 1;
                        *per_session.entry(session.0).or_default() += 1;
                        queue_items += 1;
                    }
                    WorldInput::PlayerOnline { session, .. } => {
                        *per_session.entry(session.0).or_default() += 1;
                        queue_items += 1;
                    }
                    WorldInput::SessionClosed { session } => {
                        prop_assert_eq!(seen.closed.insert(session.0, true), Some(false));
                        seen.in_world.remove(&session.0);
                    }
                    WorldInput::Viewport { .. } => {}
                }
            }
            prop_assert!(queue_items <= lim.max_per_tick);
            for n in per_session.values() {
                prop_assert!(*n <= lim.max_per_session_per_tick);
            }
            Ok(())
        }

        proptest! {
            /// Every accepted command leaves exactly once, in its session's order, within the
            /// per-tick bounds; the caps hold; a session's close comes once, after its last
            /// command.
            #[test]
            fn bounds_order_and_delivery(ops in proptest::collection::vec(op(), 0..300)) {
                let lim = limits(4, 10, 2, 5);
                let mut inbox = Inbox::new(lim);
                let mut next_id = 0u32;
                let mut accepted: HashMap<u64, Vec<u32>> = HashMap::new();
                let mut seen = Seen::default();
                for op in ops {
                    match op {
                        // The gateway sends nothing for a session after its close.
                        Op::Command(s) if !seen.closed.contains_key(&s) => {
                            next_id += 1;
                            if inbox.push_command(SessionId(s), P, next_id, recall(1)).is_ok() {
                                accepted.entry(s).or_default().push(next_id);
                            }
                        }
                        Op::Online(s) if !seen.closed.contains_key(&s) => {
                            inbox.push_player_online(SessionId(s), P);
                        }
                        Op::Viewport(s) if !seen.closed.contains_key(&s) => {
                            let _ = inbox.push_viewport(SessionId(s), 0, view(1));
                        }
                        Op::Close(s) if !seen.closed.contains_key(&s) => {
                            seen.closed.insert(s, false);
                            inbox.push_session_closed(SessionId(s));
                        }
                        Op::Answer(s) => {
                            if let Some(n) = seen.in_world.get_mut(&s).filter(|n| **n > 0) {
                                *n -= 1;
                                inbox.answered(SessionId(s), 1);
                            }
                        }
                        Op::Drain => check_drain(&mut inbox, lim, &mut seen)?,
                        _ => {}
                    }
                    let st = inbox.stats();
                    prop_assert!(st.pending <= u64::from(lim.max_pending_total));
                    let accepted_n: u64 = accepted.values().map(|v| v.len() as u64).sum();
                    let delivered_n: u64 = seen.delivered.values().map(|v| v.len() as u64).sum();
                    let in_world_n: u64 = seen.in_world.values().map(|&n| u64::from(n)).sum();
                    prop_assert!(st.pending <= accepted_n - delivered_n + in_world_n);
                }
                // Drain what is left: the inbox empties, every accepted command came out once
                // and in order, and every close was delivered.
                for _ in 0..200 {
                    check_drain(&mut inbox, lim, &mut seen)?;
                }
                prop_assert_eq!(inbox.stats().queued, 0);
                prop_assert_eq!(&accepted, &seen.delivered);
                for (s, done) in &seen.closed {
                    prop_assert!(*done, "session {} never got its SessionClosed", s);
                }
            }
        }
    }
}
