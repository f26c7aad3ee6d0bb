//! The tick thread's side of the network: inputs from sessions applied at tick start, command
//! results replied after the tick.
//!
//! Sessions never touch the world: the gateway sends [`WorldInput`]s over a channel, and the tick
//! thread drains them at the start of a tick in arrival order (the sim orders commands by the
//! sequence number `submit` assigns, so the order is deterministic for a given input log).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use dominion_net::proto::delta::encode as encode_delta;
use dominion_net::proto::{CommandBody, CommandResult, ServerMessage, SetViewport, ViewportSet};
use dominion_net::transport::{ServerHandle, SessionId};
use dominion_sim::Kingdom;
use dominion_sim::aoi::{Observers, Viewport};
use dominion_sim::city::FoundCityError;
use dominion_sim::events::WorldEvent;
use dominion_sim::types::PlayerId;

use crate::commands::{command_from_wire, outcome_to_wire};

/// Something a session asks of the world.
#[derive(Clone, Debug)]
pub enum WorldInput {
    /// A player logged in or resumed on `session`: make sure they have a city.
    PlayerOnline {
        /// The player.
        player: PlayerId,
        /// Their session.
        session: SessionId,
    },
    /// The session watches a new viewport; the applied (clamped) one is replied.
    Viewport {
        /// The session (its id is the AOI observer id).
        session: SessionId,
        /// Echoed in the reply.
        request_id: u32,
        /// The requested viewport.
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
    },
}

/// Sender half, held by the gateway.
pub type WorldSender = mpsc::Sender<WorldInput>;

/// The tick thread's bridge to the network.
pub struct WorldBridge {
    inputs: mpsc::Receiver<WorldInput>,
    net: ServerHandle,
    /// Where to send each pending command's result.
    pending: HashMap<(PlayerId, u32), SessionId>,
    /// The last tick run, readable by the gateway (login replies carry it).
    tick: Arc<AtomicU64>,
}

impl WorldBridge {
    /// A bridge and the sender the gateway uses.
    pub fn new(net: ServerHandle, tick: Arc<AtomicU64>) -> (WorldBridge, WorldSender) {
        let (tx, rx) = mpsc::channel();
        (
            WorldBridge {
                inputs: rx,
                net,
                pending: HashMap::new(),
                tick,
            },
            tx,
        )
    }

    /// Applies every input that arrived since the last tick.
    pub fn before_tick(&mut self, kingdom: &mut Kingdom) {
        while let Ok(input) = self.inputs.try_recv() {
            match input {
                WorldInput::PlayerOnline { player, session } => match kingdom.add_player(player) {
                    Ok(city) => tracing::info!(%player, %city, "city founded"),
                    Err(FoundCityError::AlreadyHasCity { .. }) => {}
                    Err(e @ FoundCityError::KingdomFull) => {
                        tracing::error!(%player, "{e}");
                        let _ = self.net.kick(session, 1100, e.to_string());
                    }
                },
                WorldInput::Viewport {
                    session,
                    request_id,
                    viewport: v,
                } => {
                    let applied = kingdom
                        .world
                        .resource_mut::<Observers>()
                        .set_viewport(session.0, Viewport::new(v.x, v.y, v.w, v.h, v.zoom));
                    let viewport = SetViewport {
                        x: applied.x,
                        y: applied.y,
                        w: applied.w,
                        h: applied.h,
                        zoom: applied.zoom,
                    };
                    let _ = self.net.reply(
                        session,
                        request_id,
                        &ServerMessage::from(ViewportSet { viewport }),
                    );
                }
                WorldInput::SessionClosed { session } => {
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
                } => match command_from_wire(&body, kingdom.config().assets.units.types.len()) {
                    Ok(command) => {
                        kingdom.submit(player, request_id, command);
                        self.pending.insert((player, request_id), session);
                    }
                    Err(outcome) => {
                        let _ = self.net.reply(
                            session,
                            request_id,
                            &ServerMessage::from(CommandResult { outcome }),
                        );
                    }
                },
            }
        }
    }

    /// Replies command results from this tick's events, pushes each observer's AOI delta, and
    /// publishes the tick number.
    pub fn after_tick(&mut self, kingdom: &mut Kingdom, events: &[WorldEvent]) {
        self.tick.store(kingdom.tick_count(), Ordering::Relaxed);
        for (observer, delta) in kingdom.world.resource_mut::<Observers>().drain_deltas() {
            match encode_delta(&delta) {
                // A session that closed meanwhile is removed from the observers next tick.
                Ok(message) => {
                    let _ = self
                        .net
                        .push(SessionId(observer), &ServerMessage::from(message));
                }
                Err(e) => tracing::error!(observer, "encoding an AOI delta failed: {e}"),
            }
        }
        for event in events {
            if let WorldEvent::CommandResult {
                player,
                request_id,
                result,
            } = event
                && let Some(session) = self.pending.remove(&(*player, *request_id))
            {
                // A session that closed meanwhile simply misses its reply.
                let _ = self.net.reply(
                    session,
                    *request_id,
                    &ServerMessage::from(CommandResult {
                        outcome: outcome_to_wire(result),
                    }),
                );
            }
        }
    }
}
