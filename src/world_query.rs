//! Operators' reads of the live world, answered by the tick thread between ticks.
//!
//! The admin API never touches the world: it queues a [`WorldQuery`] through [`WorldQueries`]
//! and awaits the answer; the bridge answers everything queued once per tick, after the tick's
//! results went out ([`QueryPort::answer`]), so a query costs the tick a lookup, never a wait.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use dominion_sim::Kingdom;
use dominion_sim::map::Terrain;
use dominion_sim::player_view::{OwnState, own_state};
use dominion_sim::types::PlayerId;
use tokio::sync::oneshot;

/// A read of the world.
pub enum WorldQuery {
    /// A player's own state (what their client sees of themselves), and when they last came
    /// online to this process.
    Player {
        /// Who.
        player: PlayerId,
        /// The answer: `None` for a player without a city.
        reply: oneshot::Sender<Option<PlayerFacts>>,
    },
    /// The terrain grid: width, height and one byte per tile, row-major (kind in the low 2
    /// bits: 0 plain, 1 mountain, 2 water, 3 pass; zone level above).
    Terrain {
        /// The answer.
        reply: oneshot::Sender<TerrainBytes>,
    },
}

/// The terrain as bytes (see [`WorldQuery::Terrain`]).
#[derive(Clone, Debug)]
pub struct TerrainBytes {
    /// Tiles east-west.
    pub width: u16,
    /// Tiles north-south.
    pub height: u16,
    /// One byte per tile, row-major.
    pub tiles: Vec<u8>,
}

/// What the world knows of a player.
#[derive(Clone, Debug)]
pub struct PlayerFacts {
    /// Their own state as of the last tick.
    pub state: OwnState,
    /// The tick it was read at.
    pub tick: u64,
    /// When a session of theirs last came online in this process (ms since the Unix epoch).
    pub last_login_unix_ms: Option<i64>,
}

/// The asking side (cheap to clone).
#[derive(Clone)]
pub struct WorldQueries {
    tx: mpsc::Sender<WorldQuery>,
}

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The tick thread has stopped.
    #[error("the world has stopped")]
    Stopped,
    /// No answer within the wait (the tick thread is stalled or far behind).
    #[error("the world did not answer within {0:?}")]
    TimedOut(Duration),
}

impl WorldQueries {
    /// Asks for a player's facts; waits up to `wait` for the next tick boundary.
    pub async fn player(
        &self,
        player: PlayerId,
        wait: Duration,
    ) -> Result<Option<PlayerFacts>, QueryError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(WorldQuery::Player { player, reply })
            .map_err(|_| QueryError::Stopped)?;
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(facts)) => Ok(facts),
            Ok(Err(_)) => Err(QueryError::Stopped),
            Err(_) => Err(QueryError::TimedOut(wait)),
        }
    }
}

impl WorldQueries {
    /// Asks for the terrain; waits up to `wait` for the next tick boundary.
    pub async fn terrain(&self, wait: Duration) -> Result<TerrainBytes, QueryError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(WorldQuery::Terrain { reply })
            .map_err(|_| QueryError::Stopped)?;
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(_)) => Err(QueryError::Stopped),
            Err(_) => Err(QueryError::TimedOut(wait)),
        }
    }
}

/// The tick thread's side.
pub struct QueryPort {
    rx: mpsc::Receiver<WorldQuery>,
    last_login: HashMap<PlayerId, i64>,
}

impl QueryPort {
    /// A port and the handle that asks it.
    pub fn new() -> (QueryPort, WorldQueries) {
        let (tx, rx) = mpsc::channel();
        (
            QueryPort {
                rx,
                last_login: HashMap::new(),
            },
            WorldQueries { tx },
        )
    }

    /// Notes that a session of `player` came online at `unix_ms`.
    pub fn came_online(&mut self, player: PlayerId, unix_ms: i64) {
        self.last_login.insert(player, unix_ms);
    }

    /// Answers every query waiting. Reads a player's city and marches (see [`own_state`]), the
    /// terrain.
    pub fn answer(&mut self, kingdom: &mut Kingdom) {
        while let Ok(query) = self.rx.try_recv() {
            match query {
                WorldQuery::Player { player, reply } => {
                    let facts = own_state(&mut kingdom.world, player).map(|state| PlayerFacts {
                        state,
                        tick: kingdom.tick_count(),
                        last_login_unix_ms: self.last_login.get(&player).copied(),
                    });
                    // The asker may have given up meanwhile.
                    let _ = reply.send(facts);
                }
                WorldQuery::Terrain { reply } => {
                    let t = kingdom.world.resource::<Terrain>();
                    let _ = reply.send(TerrainBytes {
                        width: t.width(),
                        height: t.height(),
                        tiles: t.tiles().iter().map(|tile| tile.bits()).collect(),
                    });
                }
            }
        }
    }
}
