//! The tick thread's side of what online players are told about themselves: who watches which
//! player, the whole state pushed when a session comes online (login or resume), each tick's
//! changes to it, and the tick's event pushes (arrivals, returns, battle and scout reports,
//! incoming attacks…) to the sessions of every player concerned.
//!
//! The sim decides what changed and who is told what ([`dominion_sim::player_view`],
//! [`dominion_sim::player_events`]); this only maps players to sessions and encodes
//! [`PlayerDelta`] and [`PlayerEvent`] pushes.

use std::collections::HashMap;

use dominion_net::proto::notice::EventBody;
use dominion_net::proto::{PlayerDelta, PlayerEvent, ServerMessage};
use dominion_net::transport::{ServerHandle, SessionId};
use dominion_sim::Kingdom;
use dominion_sim::events::WorldEvent;
use dominion_sim::player_events::{Notice, notices};
use dominion_sim::player_view::{collect_deltas, unwatch, watch};
use dominion_sim::types::PlayerId;

/// Sessions watching their player's own state.
#[derive(Default)]
pub struct OwnViews {
    player_of: HashMap<SessionId, PlayerId>,
    sessions_of: HashMap<PlayerId, Vec<SessionId>>,
    /// Bytes of `PlayerDelta` frames pushed so far (whole states and changes).
    pub bytes_pushed: u64,
    /// Bytes of `PlayerEvent` frames pushed so far.
    pub event_bytes_pushed: u64,
}

impl OwnViews {
    /// A session of `player` came online: watch the player and push their whole state.
    pub fn online(
        &mut self,
        kingdom: &mut Kingdom,
        net: &ServerHandle,
        session: SessionId,
        player: PlayerId,
    ) {
        let Some(state) = watch(&mut kingdom.world, player) else {
            return;
        };
        if let Some(old) = self.player_of.insert(session, player) {
            // The same session again (cannot happen: a session logs in once); keep counts right.
            self.forget(kingdom, session, old);
        }
        self.sessions_of.entry(player).or_default().push(session);
        let msg = ServerMessage::from(PlayerDelta::whole(kingdom.tick_count(), &state));
        self.bytes_pushed += self.push(net, session, &msg);
    }

    /// A session ended: stop watching for it.
    pub fn closed(&mut self, kingdom: &mut Kingdom, session: SessionId) {
        if let Some(player) = self.player_of.remove(&session) {
            self.forget(kingdom, session, player);
        }
    }

    fn forget(&mut self, kingdom: &mut Kingdom, session: SessionId, player: PlayerId) {
        unwatch(&mut kingdom.world, player);
        if let Some(list) = self.sessions_of.get_mut(&player) {
            list.retain(|s| *s != session);
            if list.is_empty() {
                self.sessions_of.remove(&player);
            }
        }
    }

    /// After a tick: pushes each watched player's changes (from this tick's `events`) and the
    /// tick's notices to their sessions. Returns every notice (online or not), for the services
    /// that keep them (mail).
    pub fn after_tick(
        &mut self,
        kingdom: &mut Kingdom,
        net: &ServerHandle,
        events: &[WorldEvent],
    ) -> Vec<(PlayerId, Notice)> {
        let tick = kingdom.tick_count();
        let mut told = Vec::new();
        notices(&kingdom.world, events, &mut told);
        for delta in collect_deltas(&mut kingdom.world, events) {
            let Some(sessions) = self.sessions_of.get(&delta.player) else {
                continue;
            };
            let msg = ServerMessage::from(PlayerDelta::changes(tick, &delta));
            for session in sessions.clone() {
                self.bytes_pushed += self.push(net, session, &msg);
            }
        }
        for (player, notice) in &told {
            let Some(sessions) = self.sessions_of.get(player) else {
                continue;
            };
            let msg = ServerMessage::from(PlayerEvent {
                tick,
                event: EventBody::of(notice),
            });
            for session in sessions.clone() {
                self.event_bytes_pushed += self.push(net, session, &msg);
            }
        }
        told
    }

    /// Pushes `msg` to `session`; returns the bytes sent.
    fn push(&self, net: &ServerHandle, session: SessionId, msg: &ServerMessage) -> u64 {
        match msg.encode_frame(dominion_net::proto::PUSH_REQUEST_ID) {
            Ok(frame) => {
                let n = frame.len() as u64;
                // A session that closed meanwhile is forgotten when its close arrives.
                let _ = net.push_frame(session, frame.into());
                n
            }
            Err(e) => {
                tracing::error!(
                    ?session,
                    "encoding a {} push failed: {e}",
                    msg.message_type()
                );
                0
            }
        }
    }
}
