//! The client-side copy of the player's own state: applies [`PlayerDelta`] pushes in order and
//! holds what the server says the player has (city, troops, wounded, resources, alliance,
//! marches), beside the map [`crate::mirror::Mirror`].
//!
//! A whole state (sent after every login and resume, so a reconnect restores the copy) replaces
//! whatever was held; a change needs a whole state first and applies only forward in time.
//! A refused message changes nothing.
//!
//! Not responsible for: rendering, sessions, or deciding what changed (the server does).

use dominion_sim::player_view::OwnState;

use crate::proto::PlayerDelta;
use crate::proto::player::PlayerDeltaError;

/// Why a message was refused by the [`PlayerView`] (the view is unchanged).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlayerViewError {
    /// The message is malformed.
    #[error(transparent)]
    Decode(#[from] PlayerDeltaError),
    /// A change arrived before any whole state.
    #[error("a change for tick {0} arrived before the whole state")]
    NoState(u64),
    /// The message is older than one already applied.
    #[error("player state for tick {got} after tick {last}")]
    Stale {
        /// Its tick.
        got: u64,
        /// The last tick applied.
        last: u64,
    },
    /// A change to a march the view does not hold.
    #[error("a change to march {0}, which is not in the view")]
    UnknownMarch(u64),
    /// A change for another player than the whole state's.
    #[error("a change for player {got} on the view of player {have}")]
    WrongPlayer {
        /// The change's player.
        got: u64,
        /// The view's player.
        have: u64,
    },
}

/// One client's copy of its own state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlayerView {
    tick: u64,
    state: Option<OwnState>,
}

impl PlayerView {
    /// An empty view (no whole state yet).
    pub fn new() -> PlayerView {
        PlayerView::default()
    }

    /// Validates and applies one received message. On error nothing changes.
    pub fn apply(&mut self, message: &PlayerDelta) -> Result<(), PlayerViewError> {
        if message.whole {
            self.state = Some(message.to_state()?);
            self.tick = message.tick;
            return Ok(());
        }
        let Some(state) = self.state.as_mut() else {
            return Err(PlayerViewError::NoState(message.tick));
        };
        if message.tick < self.tick {
            return Err(PlayerViewError::Stale {
                got: message.tick,
                last: self.tick,
            });
        }
        if message.player != state.player.0 {
            return Err(PlayerViewError::WrongPlayer {
                got: message.player,
                have: state.player.0,
            });
        }
        let delta = message.to_delta()?;
        if let Some(c) = delta
            .changed
            .iter()
            .find(|c| !state.marches.contains_key(&c.id))
        {
            return Err(PlayerViewError::UnknownMarch(c.id.0));
        }
        state.apply(&delta);
        self.tick = message.tick;
        Ok(())
    }

    /// The player's state as last told, once a whole state arrived.
    pub fn state(&self) -> Option<&OwnState> {
        self.state.as_ref()
    }

    /// Tick of the last message applied.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Forgets everything (the next message must be a whole state).
    pub fn reset(&mut self) {
        *self = PlayerView::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dominion_sim::types::{ObjectId, PlayerId, Resources, TilePos, Troops};

    fn state(player: u64) -> OwnState {
        OwnState {
            player: PlayerId(player),
            city: ObjectId(3),
            city_pos: TilePos::new(4, 5),
            troops: Troops(vec![10]),
            wounded: Troops::default(),
            resources: Resources([1, 1, 1, 1]),
            alliance: None,
            marches: Default::default(),
        }
    }

    #[test]
    fn changes_need_a_whole_state_and_go_forward_only() {
        let mut v = PlayerView::new();
        let s = state(1);
        let mut richer = s.clone();
        richer.resources.0[2] = 99;
        let change = PlayerDelta::changes(12, &s.diff(&richer).unwrap());
        assert_eq!(v.apply(&change), Err(PlayerViewError::NoState(12)));
        v.apply(&PlayerDelta::whole(10, &s)).unwrap();
        v.apply(&change).unwrap();
        assert_eq!(v.state(), Some(&richer));
        assert_eq!(v.tick(), 12);
        let mut old = change.clone();
        old.tick = 11;
        assert_eq!(
            v.apply(&old),
            Err(PlayerViewError::Stale { got: 11, last: 12 })
        );
        let mut other = change.clone();
        other.player = 2;
        assert!(matches!(
            v.apply(&other),
            Err(PlayerViewError::WrongPlayer { got: 2, have: 1 })
        ));
        let mut ghost = change.clone();
        ghost.changed = vec![crate::proto::player::MarchChangeWire {
            id: 5,
            phase: None,
            route: None,
            troops: Some(vec![1]),
            wounded: None,
            load: None,
        }];
        assert_eq!(v.apply(&ghost), Err(PlayerViewError::UnknownMarch(5)));
        assert_eq!(v.state(), Some(&richer), "refusals change nothing");
        // A whole state (a reconnect) replaces the copy, even an older tick's.
        v.apply(&PlayerDelta::whole(5, &s)).unwrap();
        assert_eq!(v.state(), Some(&s));
        v.reset();
        assert_eq!(v.state(), None);
    }
}
