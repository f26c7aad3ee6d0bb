//! The player's own view on the wire: the [`PlayerDelta`] push, converted from and to the sim's
//! plain [`OwnState`] / [`OwnDelta`].
//!
//! After login or resume the server pushes one `PlayerDelta` with `whole` set and every field
//! present (the whole state: city, troops, wounded, resources, alliance, every march); after
//! that at most one per tick, carrying only what changed: a field is present only when it
//! changed, `marches` holds new marches (whole), `changed` the changed fields of marches
//! already sent (phase, route, troops, wounded, load), `gone` the ids of marches that ended. Troops are counts by unit type index; resources are food, wood, stone, gold.
//!
//! Not responsible for: deciding what changed (the sim's `player_view`) or holding the client's
//! copy ([`crate::player_view::PlayerView`]).

use std::collections::BTreeMap;

use dominion_sim::march::{MarchState, Mission, Route};
use dominion_sim::player_view::{MarchChange, OwnDelta, OwnMarch, OwnState};
use dominion_sim::types::{ObjectId, PlayerId, Resources, TilePos, Troops};
use rkyv::{Archive, Deserialize, Serialize};

/// Most waypoints a march route may have on the wire.
pub const MAX_WAYPOINTS: usize = 16_384;
/// Most troop entries (unit types) in one troop list.
pub const MAX_TROOP_ENTRIES: usize = 64;

/// Server → client push: the player's whole state (`whole`) or what changed in it this tick.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PlayerDelta {
    /// World tick the message brings the client to.
    pub tick: u64,
    /// True for the whole state (after login or resume): replace the client's copy.
    pub whole: bool,
    /// The player.
    pub player: u64,
    /// City id and tile, when changed.
    pub city: Option<CityPlace>,
    /// Troops at home by unit type, when changed.
    pub troops: Option<Vec<u32>>,
    /// Wounded at home by unit type, when changed.
    pub wounded: Option<Vec<u32>>,
    /// Resources (food, wood, stone, gold), when changed.
    pub resources: Option<[u64; 4]>,
    /// Alliance, when changed (inner `None`: no alliance).
    pub alliance: Option<Option<u64>>,
    /// New marches, whole.
    pub marches: Vec<OwnMarchWire>,
    /// Changed fields of marches already sent.
    pub changed: Vec<MarchChangeWire>,
    /// Ids of marches that ended (home or destroyed).
    pub gone: Vec<u64>,
}

/// A march's phase: 0 outbound, 1 gathering (`object` the field, `since`, `amount`),
/// 2 stationed (`object` the city), 3 returning.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseWire {
    /// Phase code.
    pub phase: u8,
    /// The field or city, else 0.
    pub object: u64,
    /// Gathering: tick it began, else 0.
    pub since: u64,
    /// Gathering: what it will have loaded, else 0.
    pub amount: u64,
}

/// A route: corners from start to destination, departure tick, speed (milli-tiles per tick).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RouteWire {
    /// Tick it left the first corner.
    pub depart_tick: u64,
    /// Milli-tiles per tick.
    pub speed: u32,
    /// Corners (x, y).
    pub waypoints: Vec<(u16, u16)>,
}

/// The changed fields of one march.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MarchChangeWire {
    /// The march.
    pub id: u64,
    /// New phase.
    pub phase: Option<PhaseWire>,
    /// New route.
    pub route: Option<RouteWire>,
    /// Troops fit to fight.
    pub troops: Option<Vec<u32>>,
    /// Wounded.
    pub wounded: Option<Vec<u32>>,
    /// Load.
    pub load: Option<[u64; 4]>,
}

fn phase_wire(p: MarchState) -> PhaseWire {
    let (phase, object, since, amount) = match p {
        MarchState::Outbound => (0, 0, 0, 0),
        MarchState::Gathering {
            field,
            since,
            amount,
        } => (1, field.0, since, amount),
        MarchState::Stationed { city } => (2, city.0, 0, 0),
        MarchState::Returning => (3, 0, 0, 0),
    };
    PhaseWire {
        phase,
        object,
        since,
        amount,
    }
}

fn phase_of(march: u64, p: &PhaseWire) -> Result<MarchState, PlayerDeltaError> {
    Ok(match p.phase {
        0 => MarchState::Outbound,
        1 => MarchState::Gathering {
            field: ObjectId(p.object),
            since: p.since,
            amount: p.amount,
        },
        2 => MarchState::Stationed {
            city: ObjectId(p.object),
        },
        3 => MarchState::Returning,
        code => return Err(PlayerDeltaError::Phase { march, code }),
    })
}

fn route_of(r: &RouteWire) -> Result<Route, PlayerDeltaError> {
    check_len("march waypoints", r.waypoints.len(), 1, MAX_WAYPOINTS)?;
    Ok(Route {
        waypoints: r
            .waypoints
            .iter()
            .map(|&(x, y)| TilePos::new(x, y))
            .collect(),
        depart_tick: r.depart_tick,
        speed: r.speed,
    })
}

impl MarchChangeWire {
    /// The wire form of a change.
    pub fn of(c: &MarchChange) -> MarchChangeWire {
        MarchChangeWire {
            id: c.id.0,
            phase: c.phase.map(phase_wire),
            route: c.route.as_ref().map(|r| RouteWire {
                depart_tick: r.depart_tick,
                speed: r.speed,
                waypoints: r.waypoints.iter().map(|p| (p.x, p.y)).collect(),
            }),
            troops: c.troops.as_ref().map(|t| t.0.clone()),
            wounded: c.wounded.as_ref().map(|t| t.0.clone()),
            load: c.load.map(|l| l.0),
        }
    }

    /// The sim's form, checking codes and lengths.
    pub fn to_sim(&self) -> Result<MarchChange, PlayerDeltaError> {
        Ok(MarchChange {
            id: ObjectId(self.id),
            phase: self
                .phase
                .as_ref()
                .map(|p| phase_of(self.id, p))
                .transpose()?,
            route: self.route.as_ref().map(route_of).transpose()?,
            troops: self
                .troops
                .as_deref()
                .map(|t| troops(t, "march troops"))
                .transpose()?,
            wounded: self
                .wounded
                .as_deref()
                .map(|t| troops(t, "march wounded"))
                .transpose()?,
            load: self.load.map(Resources),
        })
    }
}

/// A city's id and tile.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct CityPlace {
    /// The city.
    pub id: u64,
    /// Tile column.
    pub x: u16,
    /// Tile row.
    pub y: u16,
}

/// One of the player's marches.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OwnMarchWire {
    /// The march.
    pub id: u64,
    /// Mission: 0 gather, 1 attack, 2 reinforce, 3 scout.
    pub mission: u8,
    /// The object it was sent to.
    pub target: u64,
    /// Troops fit to fight, by unit type.
    pub troops: Vec<u32>,
    /// Troops wounded on the way, by unit type.
    pub wounded: Vec<u32>,
    /// Resources carried.
    pub load: [u64; 4],
    /// Phase: 0 outbound, 1 gathering, 2 stationed, 3 returning.
    pub phase: u8,
    /// Gathering: the field; stationed: the city it defends; otherwise 0.
    pub phase_object: u64,
    /// Gathering: tick it began; otherwise 0.
    pub gather_since: u64,
    /// Gathering: what it will have loaded when done; otherwise 0.
    pub gather_amount: u64,
    /// Tick it left the route's first waypoint.
    pub depart_tick: u64,
    /// Milli-tiles per tick.
    pub speed: u32,
    /// Route corners (x, y), first = start, last = destination.
    pub waypoints: Vec<(u16, u16)>,
}

/// Why a [`PlayerDelta`] could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlayerDeltaError {
    /// A whole state lacks a field.
    #[error("whole player state without {0}")]
    Incomplete(&'static str),
    /// A march carries a mission code that does not exist.
    #[error("march {march}: unknown mission code {code}")]
    Mission {
        /// The march.
        march: u64,
        /// The code.
        code: u8,
    },
    /// A march carries a phase code that does not exist.
    #[error("march {march}: unknown phase code {code}")]
    Phase {
        /// The march.
        march: u64,
        /// The code.
        code: u8,
    },
    /// A list is longer than the protocol allows, or a route has no waypoint.
    #[error("{what}: {len} entries (allowed {min}..={max})")]
    Length {
        /// Which list.
        what: &'static str,
        /// Its length.
        len: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
    },
}

const MISSIONS: [Mission; 4] = [
    Mission::Gather,
    Mission::Attack,
    Mission::Reinforce,
    Mission::Scout,
];

fn mission_code(m: Mission) -> u8 {
    match m {
        Mission::Gather => 0,
        Mission::Attack => 1,
        Mission::Reinforce => 2,
        Mission::Scout => 3,
    }
}

impl OwnMarchWire {
    /// The wire form of a march.
    pub fn of(m: &OwnMarch) -> OwnMarchWire {
        let PhaseWire {
            phase,
            object: phase_object,
            since: gather_since,
            amount: gather_amount,
        } = phase_wire(m.phase);
        OwnMarchWire {
            id: m.id.0,
            mission: mission_code(m.mission),
            target: m.target.0,
            troops: m.troops.0.clone(),
            wounded: m.wounded.0.clone(),
            load: m.load.0,
            phase,
            phase_object,
            gather_since,
            gather_amount,
            depart_tick: m.route.depart_tick,
            speed: m.route.speed,
            waypoints: m.route.waypoints.iter().map(|p| (p.x, p.y)).collect(),
        }
    }

    /// The sim's form, checking codes and lengths.
    pub fn to_sim(&self) -> Result<OwnMarch, PlayerDeltaError> {
        let mission =
            *MISSIONS
                .get(usize::from(self.mission))
                .ok_or(PlayerDeltaError::Mission {
                    march: self.id,
                    code: self.mission,
                })?;
        let phase = phase_of(
            self.id,
            &PhaseWire {
                phase: self.phase,
                object: self.phase_object,
                since: self.gather_since,
                amount: self.gather_amount,
            },
        )?;
        check_len("march waypoints", self.waypoints.len(), 1, MAX_WAYPOINTS)?;
        Ok(OwnMarch {
            id: ObjectId(self.id),
            mission,
            target: ObjectId(self.target),
            troops: troops(&self.troops, "march troops")?,
            wounded: troops(&self.wounded, "march wounded")?,
            load: Resources(self.load),
            phase,
            route: Route {
                waypoints: self
                    .waypoints
                    .iter()
                    .map(|&(x, y)| TilePos::new(x, y))
                    .collect(),
                depart_tick: self.depart_tick,
                speed: self.speed,
            },
        })
    }
}

fn check_len(
    what: &'static str,
    len: usize,
    min: usize,
    max: usize,
) -> Result<(), PlayerDeltaError> {
    if len < min || len > max {
        return Err(PlayerDeltaError::Length {
            what,
            len,
            min,
            max,
        });
    }
    Ok(())
}

fn troops(counts: &[u32], what: &'static str) -> Result<Troops, PlayerDeltaError> {
    check_len(what, counts.len(), 0, MAX_TROOP_ENTRIES)?;
    Ok(Troops(counts.to_vec()))
}

impl PlayerDelta {
    /// The whole state, as sent after login or resume.
    pub fn whole(tick: u64, s: &OwnState) -> PlayerDelta {
        PlayerDelta {
            tick,
            whole: true,
            player: s.player.0,
            city: Some(CityPlace {
                id: s.city.0,
                x: s.city_pos.x,
                y: s.city_pos.y,
            }),
            troops: Some(s.troops.0.clone()),
            wounded: Some(s.wounded.0.clone()),
            resources: Some(s.resources.0),
            alliance: Some(s.alliance),
            marches: s.marches.values().map(OwnMarchWire::of).collect(),
            changed: Vec::new(),
            gone: Vec::new(),
        }
    }

    /// What changed this tick.
    pub fn changes(tick: u64, d: &OwnDelta) -> PlayerDelta {
        PlayerDelta {
            tick,
            whole: false,
            player: d.player.0,
            city: d.city.map(|(id, pos)| CityPlace {
                id: id.0,
                x: pos.x,
                y: pos.y,
            }),
            troops: d.troops.as_ref().map(|t| t.0.clone()),
            wounded: d.wounded.as_ref().map(|t| t.0.clone()),
            resources: d.resources.map(|r| r.0),
            alliance: d.alliance,
            marches: d.marches.iter().map(OwnMarchWire::of).collect(),
            changed: d.changed.iter().map(MarchChangeWire::of).collect(),
            gone: d.gone.iter().map(|id| id.0).collect(),
        }
    }

    /// The sim's form of a change message (also valid for a whole one, as a delta from nothing).
    pub fn to_delta(&self) -> Result<OwnDelta, PlayerDeltaError> {
        Ok(OwnDelta {
            player: PlayerId(self.player),
            city: self.city.map(|c| (ObjectId(c.id), TilePos::new(c.x, c.y))),
            troops: self
                .troops
                .as_deref()
                .map(|t| troops(t, "troops"))
                .transpose()?,
            wounded: self
                .wounded
                .as_deref()
                .map(|t| troops(t, "wounded"))
                .transpose()?,
            resources: self.resources.map(Resources),
            alliance: self.alliance,
            marches: self
                .marches
                .iter()
                .map(OwnMarchWire::to_sim)
                .collect::<Result<_, _>>()?,
            changed: self
                .changed
                .iter()
                .map(MarchChangeWire::to_sim)
                .collect::<Result<_, _>>()?,
            gone: self.gone.iter().map(|&id| ObjectId(id)).collect(),
        })
    }

    /// The whole state a `whole` message carries.
    pub fn to_state(&self) -> Result<OwnState, PlayerDeltaError> {
        let d = self.to_delta()?;
        let (city, city_pos) = d.city.ok_or(PlayerDeltaError::Incomplete("city"))?;
        let marches: BTreeMap<ObjectId, OwnMarch> =
            d.marches.into_iter().map(|m| (m.id, m)).collect();
        Ok(OwnState {
            player: d.player,
            city,
            city_pos,
            troops: d.troops.ok_or(PlayerDeltaError::Incomplete("troops"))?,
            wounded: d.wounded.ok_or(PlayerDeltaError::Incomplete("wounded"))?,
            resources: d
                .resources
                .ok_or(PlayerDeltaError::Incomplete("resources"))?,
            alliance: d.alliance.ok_or(PlayerDeltaError::Incomplete("alliance"))?,
            marches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ServerMessage, messages::MessageType};

    fn sample() -> OwnState {
        let m = OwnMarch {
            id: ObjectId(900),
            mission: Mission::Gather,
            target: ObjectId(12),
            troops: Troops(vec![100, 0, 5]),
            wounded: Troops(vec![0, 1]),
            load: Resources([1, 2, 3, 4]),
            phase: MarchState::Gathering {
                field: ObjectId(12),
                since: 40,
                amount: 700,
            },
            route: Route {
                waypoints: vec![TilePos::new(1, 2), TilePos::new(9, 9)],
                depart_tick: 30,
                speed: 250,
            },
        };
        OwnState {
            player: PlayerId(65_537),
            city: ObjectId(7),
            city_pos: TilePos::new(1, 2),
            troops: Troops(vec![5000, 3000, 2000, 100]),
            wounded: Troops(vec![3]),
            resources: Resources([10, 20, 30, 40]),
            alliance: Some(4),
            marches: [(m.id, m)].into_iter().collect(),
        }
    }

    #[test]
    fn whole_state_round_trips_through_a_frame() {
        let s = sample();
        let msg = ServerMessage::from(PlayerDelta::whole(77, &s));
        let body = msg.encode_body().unwrap();
        let back = ServerMessage::decode(MessageType::PlayerDelta.id(), &body).unwrap();
        let ServerMessage::PlayerDelta(d) = back else {
            panic!("wrong type")
        };
        assert_eq!(d.tick, 77);
        assert!(d.whole);
        assert_eq!(d.to_state().unwrap(), s);
    }

    #[test]
    fn a_change_round_trips_and_applies_like_the_original() {
        let before = sample();
        let mut after = before.clone();
        after.resources.0[0] += 50;
        after.alliance = None;
        let m = after.marches.get_mut(&ObjectId(900)).unwrap();
        m.phase = MarchState::Returning;
        let d = before.diff(&after).unwrap();
        let wire = PlayerDelta::changes(78, &d);
        assert!(wire.troops.is_none() && wire.city.is_none());
        assert_eq!(wire.alliance, Some(None));
        // The known march travels as its one changed field, not whole.
        assert!(wire.marches.is_empty());
        assert_eq!(wire.changed.len(), 1);
        let c = &wire.changed[0];
        assert!(c.phase.is_some() && c.route.is_none() && c.troops.is_none() && c.load.is_none());
        let whole_march = PlayerDelta {
            marches: vec![OwnMarchWire::of(&after.marches[&ObjectId(900)])],
            changed: Vec::new(),
            ..wire.clone()
        };
        let size = |d: &PlayerDelta| ServerMessage::from(d.clone()).encode_body().unwrap().len();
        assert!(
            size(&wire) < size(&whole_march),
            "{} vs {}",
            size(&wire),
            size(&whole_march)
        );
        let back = wire.to_delta().unwrap();
        assert_eq!(back, d);
        let mut copy = before.clone();
        copy.apply(&back);
        assert_eq!(copy, after);
    }

    #[test]
    fn bad_codes_and_lengths_are_refused_with_the_reason() {
        let s = sample();
        let mut w = PlayerDelta::whole(1, &s);
        w.marches[0].mission = 9;
        assert_eq!(
            w.to_delta().unwrap_err(),
            PlayerDeltaError::Mission {
                march: 900,
                code: 9
            }
        );
        let mut w = PlayerDelta::whole(1, &s);
        w.marches[0].phase = 4;
        assert!(matches!(
            w.to_delta(),
            Err(PlayerDeltaError::Phase { code: 4, .. })
        ));
        let mut w = PlayerDelta::whole(1, &s);
        w.marches[0].waypoints.clear();
        assert!(matches!(
            w.to_delta(),
            Err(PlayerDeltaError::Length { len: 0, .. })
        ));
        let mut w = PlayerDelta::whole(1, &s);
        w.troops = Some(vec![1; MAX_TROOP_ENTRIES + 1]);
        assert!(matches!(w.to_delta(), Err(PlayerDeltaError::Length { .. })));
        let mut w = PlayerDelta::whole(1, &s);
        w.resources = None;
        assert_eq!(
            w.to_state().unwrap_err(),
            PlayerDeltaError::Incomplete("resources")
        );
    }
}
