//! The AOI delta on the wire: the payload of a [`WorldDelta`] push, converted from and to the
//! sim's plain [`ObserverDelta`].
//!
//! The payload is the rkyv archive of one [`DeltaPayload`]: compact, fixed-size records in
//! per-kind lists rather than rkyv enums (ids `u64`, tiles `u16`, small enums `u8`, a bitmask
//! for which march fields an update carries):
//!
//! | list | record | bytes | carries |
//! |---|---|---|---|
//! | `standing` | [`WireStanding`] | 24 | an entering city / slot / field / monster (or a kind change) |
//! | `marches` | [`WireMarch`] | 48 + 4 per waypoint | an entering march: route, departure tick, speed |
//! | `moved` | [`WireMoved`] | 16 | a new tile (relocated city, march with a new destination) |
//! | `remaining` | [`WireValue`] | 16 | a field's new rounded `remaining` |
//! | `owners` | [`WireValue`] | 16 | a city's new owner |
//! | `march_updates` | [`WireMarchUpdate`] | 40 (+ 4 per waypoint with a route) | phase / route / troops, by mask |
//! | `leave` | `u64` | 8 | an id leaving the view |
//!
//! A march's tile is not sent: it is its route's destination. Decoding ([`decode`]) validates
//! the archive with bytecheck, then every discriminant, every route and that no id appears in two
//! roles; it never panics on any input.
//!
//! **Compatibility:** like the messages, records are positional; a changed layout needs a new
//! message type, never a reinterpretation of this one.

use std::collections::BTreeMap;

use dominion_sim::aoi::{
    Body, BodyUpdate, FieldUpdate, MarchPhase, MarchView, ObjectKind, ObjectView, ObserverDelta,
};
use dominion_sim::march::{Mission, Route};
use dominion_sim::types::{ObjectId, PlayerId, ResourceKind, TilePos};
use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use super::messages::WorldDelta;

/// Most waypoints a route may have on the wire.
pub const MAX_WAYPOINTS: usize = 16_384;

/// Bit 7 of [`WireStanding::kind`] / [`WireMarch::flags`]: the record replaces the body of an
/// object already in view (it changed kind) instead of entering it.
pub const REPLACES: u8 = 0x80;

/// [`WireMarchUpdate::mask`]: the phase changed.
pub const MASK_PHASE: u8 = 1;
/// [`WireMarchUpdate::mask`]: the route changed (waypoints, departure tick, speed).
pub const MASK_ROUTE: u8 = 2;
/// [`WireMarchUpdate::mask`]: the troop total changed.
pub const MASK_TROOPS: u8 = 4;

/// A tile.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct WirePoint {
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
}

/// A standing object (city, city slot, field, monster).
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireStanding {
    /// Object id.
    pub id: u64,
    /// A field's `remaining`, a city's owner; 0 otherwise.
    pub value: u64,
    /// Column (ignored when [`REPLACES`] is set: the tile comes from `moved`).
    pub x: u16,
    /// Row (idem).
    pub y: u16,
    /// A field's resource kind (0 food, 1 wood, 2 stone, 3 gold), a monster's kind; 0 otherwise.
    pub sub: u16,
    /// [`ObjectKind`] as `u8` (0 city, 1 city slot, 2 field, 3 monster), plus [`REPLACES`].
    pub kind: u8,
    /// A field's or monster's level; 0 otherwise.
    pub level: u8,
}

/// A march.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WireMarch {
    /// Object id.
    pub id: u64,
    /// Owner's player id.
    pub owner: u64,
    /// Tick it left the first waypoint.
    pub depart_tick: u64,
    /// Troops fit to fight.
    pub troops: u64,
    /// Milli-tiles per tick.
    pub speed: u32,
    /// 0 gather, 1 attack, 2 reinforce, 3 scout.
    pub mission: u8,
    /// 0 outbound, 1 gathering, 2 stationed, 3 returning.
    pub phase: u8,
    /// [`REPLACES`] or 0.
    pub flags: u8,
    /// Route corners, first = start, last = destination (the march's tile); never empty.
    pub waypoints: Vec<WirePoint>,
}

/// An object's new tile.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireMoved {
    /// Object id.
    pub id: u64,
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
}

/// One changed number of an object.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireValue {
    /// Object id.
    pub id: u64,
    /// The new value.
    pub value: u64,
}

/// A march's changed fields; `mask` says which are meaningful (the others are zero).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WireMarchUpdate {
    /// Object id.
    pub id: u64,
    /// New troop total ([`MASK_TROOPS`]).
    pub troops: u64,
    /// New departure tick ([`MASK_ROUTE`]).
    pub depart_tick: u64,
    /// New speed ([`MASK_ROUTE`]).
    pub speed: u32,
    /// Which fields changed.
    pub mask: u8,
    /// New phase ([`MASK_PHASE`]).
    pub phase: u8,
    /// New waypoints ([`MASK_ROUTE`]; empty otherwise).
    pub waypoints: Vec<WirePoint>,
}

/// The payload of a [`WorldDelta`]: one observer's enter / update / leave for one tick.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct DeltaPayload {
    /// Standing objects entering (or changing kind, with [`REPLACES`]).
    pub standing: Vec<WireStanding>,
    /// Marches entering (or an object becoming a march, with [`REPLACES`]).
    pub marches: Vec<WireMarch>,
    /// New tiles of objects in view.
    pub moved: Vec<WireMoved>,
    /// New rounded `remaining` of fields in view.
    pub remaining: Vec<WireValue>,
    /// New owners of cities in view.
    pub owners: Vec<WireValue>,
    /// Changed fields of marches in view.
    pub march_updates: Vec<WireMarchUpdate>,
    /// Ids leaving the view.
    pub leave: Vec<u64>,
}

/// Why a delta could not be encoded or decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    /// rkyv could not serialize (allocation failure only).
    #[error("serializing a delta: {0}")]
    Serialize(String),
    /// The payload failed rkyv/bytecheck validation.
    #[error("malformed delta payload: {0}")]
    Malformed(String),
    /// A record holds a value no sender produces.
    #[error("invalid delta record for obj:{id}: {reason}")]
    Invalid {
        /// The record's object id.
        id: u64,
        /// What is wrong.
        reason: String,
    },
    /// An id appears in two roles (e.g. entering and leaving) in one delta.
    #[error("obj:{0} appears twice in one delta")]
    Duplicate(u64),
}

/// Encodes one observer's delta as the [`WorldDelta`] push to send it.
pub fn encode(delta: &ObserverDelta) -> Result<WorldDelta, DeltaError> {
    let payload = to_payload(delta);
    let bytes = rkyv::to_bytes::<rancor::Error>(&payload)
        .map_err(|e| DeltaError::Serialize(e.to_string()))?;
    Ok(WorldDelta {
        tick: delta.tick,
        payload: bytes.into_vec(),
    })
}

/// Validates a received [`WorldDelta`] and converts it back into the sim's plain delta (lists in
/// id order).
pub fn decode(message: &WorldDelta) -> Result<ObserverDelta, DeltaError> {
    // The payload sits at an arbitrary offset in the message; rkyv needs it aligned.
    let mut aligned = AlignedVec::<16>::with_capacity(message.payload.len());
    aligned.extend_from_slice(&message.payload);
    let p = rkyv::access::<ArchivedDeltaPayload, rancor::Error>(&aligned)
        .map_err(|e| DeltaError::Malformed(e.to_string()))?;
    from_archived(p, message.tick)
}

fn point(p: TilePos) -> WirePoint {
    WirePoint { x: p.x, y: p.y }
}

fn standing(view_id: ObjectId, pos: TilePos, body: &Body, replaces: bool) -> Option<WireStanding> {
    let flag = if replaces { REPLACES } else { 0 };
    let (kind, sub, level, value) = match body {
        Body::City { owner } => (ObjectKind::City, 0, 0, owner.0),
        Body::CitySlot => (ObjectKind::CitySlot, 0, 0, 0),
        Body::Field {
            kind,
            level,
            remaining,
        } => (ObjectKind::Field, kind.index() as u16, *level, *remaining),
        Body::Monster { kind, level } => (ObjectKind::Monster, *kind, *level, 0),
        Body::March(_) => return None,
    };
    Some(WireStanding {
        id: view_id.0,
        value,
        x: pos.x,
        y: pos.y,
        sub,
        kind: kind as u8 | flag,
        level,
    })
}

fn march(id: ObjectId, m: &MarchView, replaces: bool) -> WireMarch {
    WireMarch {
        id: id.0,
        owner: m.owner.0,
        depart_tick: m.route.depart_tick,
        troops: m.troops,
        speed: m.route.speed,
        mission: mission_code(m.mission),
        phase: m.phase as u8,
        flags: if replaces { REPLACES } else { 0 },
        waypoints: m.route.waypoints.iter().copied().map(point).collect(),
    }
}

fn mission_code(m: Mission) -> u8 {
    match m {
        Mission::Gather => 0,
        Mission::Attack => 1,
        Mission::Reinforce => 2,
        Mission::Scout => 3,
    }
}

fn to_payload(d: &ObserverDelta) -> DeltaPayload {
    let mut p = DeltaPayload::default();
    let body = |id: ObjectId, pos: TilePos, b: &Body, replaces: bool, p: &mut DeltaPayload| match b
    {
        Body::March(m) => p.marches.push(march(id, m, replaces)),
        other => p.standing.extend(standing(id, pos, other, replaces)),
    };
    for v in &d.enter {
        body(v.id, v.pos, &v.body, false, &mut p);
    }
    for u in &d.update {
        if let Some(pos) = u.pos {
            p.moved.push(WireMoved {
                id: u.id.0,
                x: pos.x,
                y: pos.y,
            });
        }
        match &u.body {
            BodyUpdate::None => {}
            BodyUpdate::Remaining(r) => p.remaining.push(WireValue {
                id: u.id.0,
                value: *r,
            }),
            BodyUpdate::Owner(o) => p.owners.push(WireValue {
                id: u.id.0,
                value: o.0,
            }),
            BodyUpdate::March {
                phase,
                route,
                troops,
            } => {
                let mut w = WireMarchUpdate {
                    id: u.id.0,
                    troops: 0,
                    depart_tick: 0,
                    speed: 0,
                    mask: 0,
                    phase: 0,
                    waypoints: Vec::new(),
                };
                if let Some(ph) = phase {
                    w.mask |= MASK_PHASE;
                    w.phase = *ph as u8;
                }
                if let Some(r) = route {
                    w.mask |= MASK_ROUTE;
                    w.depart_tick = r.depart_tick;
                    w.speed = r.speed;
                    w.waypoints = r.waypoints.iter().copied().map(point).collect();
                }
                if let Some(t) = troops {
                    w.mask |= MASK_TROOPS;
                    w.troops = *t;
                }
                p.march_updates.push(w);
            }
            BodyUpdate::Replaced(b) => body(u.id, u.pos.unwrap_or_default(), b, true, &mut p),
        }
    }
    p.leave = d.leave.iter().map(|id| id.0).collect();
    p
}

fn invalid(id: u64, reason: impl Into<String>) -> DeltaError {
    DeltaError::Invalid {
        id,
        reason: reason.into(),
    }
}

fn phase_of(id: u64, code: u8) -> Result<MarchPhase, DeltaError> {
    Ok(match code {
        0 => MarchPhase::Outbound,
        1 => MarchPhase::Gathering,
        2 => MarchPhase::Stationed,
        3 => MarchPhase::Returning,
        other => return Err(invalid(id, format!("march phase {other}"))),
    })
}

fn mission_of(id: u64, code: u8) -> Result<Mission, DeltaError> {
    Ok(match code {
        0 => Mission::Gather,
        1 => Mission::Attack,
        2 => Mission::Reinforce,
        3 => Mission::Scout,
        other => return Err(invalid(id, format!("mission {other}"))),
    })
}

fn route_of(
    id: u64,
    points: &rkyv::vec::ArchivedVec<ArchivedWirePoint>,
    depart_tick: u64,
    speed: u32,
) -> Result<Route, DeltaError> {
    if points.is_empty() || points.len() > MAX_WAYPOINTS {
        return Err(invalid(
            id,
            format!("route of {} waypoints (1..={MAX_WAYPOINTS})", points.len()),
        ));
    }
    if speed == 0 {
        return Err(invalid(id, "march speed 0"));
    }
    Ok(Route {
        waypoints: points
            .iter()
            .map(|p| TilePos::new(p.x.to_native(), p.y.to_native()))
            .collect(),
        depart_tick,
        speed,
    })
}

fn standing_body(w: &ArchivedWireStanding) -> Result<(Body, bool), DeltaError> {
    let id = w.id.to_native();
    let replaces = w.kind & REPLACES != 0;
    let (sub, value) = (w.sub.to_native(), w.value.to_native());
    let body = match w.kind & !REPLACES {
        0 => Body::City {
            owner: PlayerId(value),
        },
        1 => Body::CitySlot,
        2 => Body::Field {
            kind: *ResourceKind::ALL
                .get(usize::from(sub))
                .ok_or_else(|| invalid(id, format!("resource kind {sub}")))?,
            level: w.level,
            remaining: value,
        },
        3 => Body::Monster {
            kind: sub,
            level: w.level,
        },
        other => return Err(invalid(id, format!("standing object kind {other}"))),
    };
    Ok((body, replaces))
}

fn march_body(w: &ArchivedWireMarch) -> Result<(Body, TilePos, bool), DeltaError> {
    let id = w.id.to_native();
    if w.flags & !REPLACES != 0 {
        return Err(invalid(id, format!("march flags {:#04x}", w.flags)));
    }
    let route = route_of(
        id,
        &w.waypoints,
        w.depart_tick.to_native(),
        w.speed.to_native(),
    )?;
    let pos = route.destination();
    let body = Body::March(MarchView {
        owner: PlayerId(w.owner.to_native()),
        mission: mission_of(id, w.mission)?,
        phase: phase_of(id, w.phase)?,
        route,
        troops: w.troops.to_native(),
    });
    Ok((body, pos, w.flags & REPLACES != 0))
}

/// Parts of one object's update gathered from the update lists.
#[derive(Default)]
struct Parts {
    pos: Option<TilePos>,
    body: Option<BodyUpdate>,
}

fn from_archived(p: &ArchivedDeltaPayload, tick: u64) -> Result<ObserverDelta, DeltaError> {
    let mut enter: BTreeMap<u64, ObjectView> = BTreeMap::new();
    let mut updates: BTreeMap<u64, Parts> = BTreeMap::new();
    let mut set_body = |id: u64, body: BodyUpdate| -> Result<(), DeltaError> {
        let parts = updates.entry(id).or_default();
        if parts.body.replace(body).is_some() {
            return Err(DeltaError::Duplicate(id));
        }
        Ok(())
    };
    let mut add_enter = |view: ObjectView| -> Result<(), DeltaError> {
        let id = view.id.0;
        if enter.insert(id, view).is_some() {
            return Err(DeltaError::Duplicate(id));
        }
        Ok(())
    };
    for w in p.standing.iter() {
        let id = w.id.to_native();
        let (body, replaces) = standing_body(w)?;
        if replaces {
            set_body(id, BodyUpdate::Replaced(body))?;
        } else {
            add_enter(ObjectView {
                id: ObjectId(id),
                pos: TilePos::new(w.x.to_native(), w.y.to_native()),
                body,
            })?;
        }
    }
    for w in p.marches.iter() {
        let id = w.id.to_native();
        let (body, pos, replaces) = march_body(w)?;
        if replaces {
            set_body(id, BodyUpdate::Replaced(body))?;
        } else {
            add_enter(ObjectView {
                id: ObjectId(id),
                pos,
                body,
            })?;
        }
    }
    for w in p.remaining.iter() {
        set_body(w.id.to_native(), BodyUpdate::Remaining(w.value.to_native()))?;
    }
    for w in p.owners.iter() {
        set_body(
            w.id.to_native(),
            BodyUpdate::Owner(PlayerId(w.value.to_native())),
        )?;
    }
    for w in p.march_updates.iter() {
        let id = w.id.to_native();
        if w.mask & !(MASK_PHASE | MASK_ROUTE | MASK_TROOPS) != 0 || w.mask == 0 {
            return Err(invalid(id, format!("march update mask {:#04x}", w.mask)));
        }
        let phase = if w.mask & MASK_PHASE != 0 {
            Some(phase_of(id, w.phase)?)
        } else {
            None
        };
        let route = if w.mask & MASK_ROUTE != 0 {
            Some(route_of(
                id,
                &w.waypoints,
                w.depart_tick.to_native(),
                w.speed.to_native(),
            )?)
        } else if !w.waypoints.is_empty() {
            return Err(invalid(id, "waypoints without a route change"));
        } else {
            None
        };
        let troops = (w.mask & MASK_TROOPS != 0).then(|| w.troops.to_native());
        set_body(
            id,
            BodyUpdate::March {
                phase,
                route,
                troops,
            },
        )?;
    }
    for w in p.moved.iter() {
        let id = w.id.to_native();
        let parts = updates.entry(id).or_default();
        if parts
            .pos
            .replace(TilePos::new(w.x.to_native(), w.y.to_native()))
            .is_some()
        {
            return Err(DeltaError::Duplicate(id));
        }
    }
    let mut leave: Vec<ObjectId> = Vec::with_capacity(p.leave.len());
    for id in p.leave.iter() {
        let id = id.to_native();
        if enter.contains_key(&id) || updates.contains_key(&id) {
            return Err(DeltaError::Duplicate(id));
        }
        leave.push(ObjectId(id));
    }
    leave.sort_unstable();
    if let Some(w) = leave.windows(2).find(|w| w[0] == w[1]) {
        return Err(DeltaError::Duplicate(w[0].0));
    }
    if let Some(id) = updates.keys().find(|id| enter.contains_key(id)) {
        return Err(DeltaError::Duplicate(*id));
    }
    Ok(ObserverDelta {
        tick,
        enter: enter.into_values().collect(),
        update: updates
            .into_iter()
            .map(|(id, parts)| FieldUpdate {
                id: ObjectId(id),
                pos: parts.pos,
                body: parts.body.unwrap_or(BodyUpdate::None),
            })
            .collect(),
        leave,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn route(points: &[(u16, u16)], depart_tick: u64) -> Route {
        Route {
            waypoints: points.iter().map(|&(x, y)| TilePos::new(x, y)).collect(),
            depart_tick,
            speed: 66,
        }
    }

    fn sample() -> ObserverDelta {
        let march = MarchView {
            owner: PlayerId(77),
            mission: Mission::Gather,
            phase: MarchPhase::Outbound,
            route: route(&[(1, 2), (40, 2), (45, 7)], 100),
            troops: 12_000,
        };
        ObserverDelta {
            tick: 123,
            enter: vec![
                ObjectView {
                    id: ObjectId(3),
                    pos: TilePos::new(5, 6),
                    body: Body::Field {
                        kind: ResourceKind::Stone,
                        level: 3,
                        remaining: 45_000,
                    },
                },
                ObjectView {
                    id: ObjectId(4),
                    pos: TilePos::new(7, 8),
                    body: Body::Monster { kind: 2, level: 4 },
                },
                ObjectView {
                    id: ObjectId(5),
                    pos: TilePos::new(9, 9),
                    body: Body::CitySlot,
                },
                ObjectView {
                    id: ObjectId(6),
                    pos: TilePos::new(45, 7),
                    body: Body::March(march.clone()),
                },
            ],
            update: vec![
                FieldUpdate {
                    id: ObjectId(10),
                    pos: None,
                    body: BodyUpdate::Remaining(1000),
                },
                FieldUpdate {
                    id: ObjectId(11),
                    pos: Some(TilePos::new(100, 200)),
                    body: BodyUpdate::None,
                },
                FieldUpdate {
                    id: ObjectId(12),
                    pos: Some(TilePos::new(1, 2)),
                    body: BodyUpdate::March {
                        phase: Some(MarchPhase::Returning),
                        route: Some(route(&[(45, 7), (1, 2)], 400)),
                        troops: None,
                    },
                },
                FieldUpdate {
                    id: ObjectId(13),
                    pos: None,
                    body: BodyUpdate::March {
                        phase: None,
                        route: None,
                        troops: Some(9),
                    },
                },
                FieldUpdate {
                    id: ObjectId(14),
                    pos: None,
                    body: BodyUpdate::Replaced(Body::City { owner: PlayerId(5) }),
                },
                FieldUpdate {
                    id: ObjectId(15),
                    pos: None,
                    body: BodyUpdate::Owner(PlayerId(8)),
                },
            ],
            leave: vec![ObjectId(20), ObjectId(21)],
        }
    }

    #[test]
    fn every_record_round_trips() {
        let d = sample();
        let wire = encode(&d).expect("encodes");
        assert_eq!(wire.tick, 123);
        assert_eq!(decode(&wire).expect("valid"), d);
        // Through a whole frame and the message decoder as a client receives it.
        let frame = super::super::ServerMessage::WorldDelta(wire.clone())
            .encode_frame(0)
            .expect("frame");
        let mut dec = super::super::FrameDecoder::new(1 << 20);
        dec.feed(&frame);
        let f = dec.next_frame().expect("a frame").expect("valid frame");
        let msg = super::super::ServerMessage::decode(f.msg_type, &f.body).expect("valid");
        let super::super::ServerMessage::WorldDelta(back) = msg else {
            panic!("a world delta")
        };
        assert_eq!(decode(&back).expect("valid"), d);
    }

    #[test]
    fn records_are_compact() {
        // An entering field: 24 bytes of record; an empty delta: the seven list headers.
        let empty = encode(&ObserverDelta::default()).expect("encodes");
        let one = encode(&ObserverDelta {
            enter: vec![sample().enter[0].clone()],
            ..ObserverDelta::default()
        })
        .expect("encodes");
        assert_eq!(empty.payload.len(), 7 * 8);
        assert_eq!(one.payload.len() - empty.payload.len(), 24);
    }

    fn tampered(f: impl FnOnce(&mut DeltaPayload)) -> Result<ObserverDelta, DeltaError> {
        let mut p = to_payload(&sample());
        f(&mut p);
        let bytes = rkyv::to_bytes::<rancor::Error>(&p).expect("encodes");
        decode(&WorldDelta {
            tick: 1,
            payload: bytes.into_vec(),
        })
    }

    #[test]
    fn invalid_records_are_refused_with_a_reason() {
        let e = tampered(|p| p.standing[0].kind = 9).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:3: standing object kind 9"
        );
        let e = tampered(|p| p.standing[0].sub = 4).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:3: resource kind 4"
        );
        let e = tampered(|p| p.marches[0].waypoints.clear()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:6: route of 0 waypoints (1..=16384)"
        );
        let e = tampered(|p| p.marches[0].phase = 4).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:6: march phase 4"
        );
        let e = tampered(|p| p.marches[0].mission = 7).unwrap_err();
        assert_eq!(e.to_string(), "invalid delta record for obj:6: mission 7");
        let e = tampered(|p| p.march_updates[0].mask = 0x10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:12: march update mask 0x10"
        );
        let e = tampered(|p| p.leave.push(3)).unwrap_err();
        assert_eq!(e, DeltaError::Duplicate(3));
        let e = tampered(|p| p.leave.push(20)).unwrap_err();
        assert_eq!(e, DeltaError::Duplicate(20));
        let e = tampered(|p| {
            let again = p.remaining[0];
            p.remaining.push(again);
        })
        .unwrap_err();
        assert_eq!(e, DeltaError::Duplicate(10));
        let e = tampered(|p| p.owners.push(WireValue { id: 3, value: 1 })).unwrap_err();
        assert_eq!(e, DeltaError::Duplicate(3));
    }

    #[test]
    fn truncated_and_flipped_payloads_never_panic() {
        let wire = encode(&sample()).expect("encodes");
        for cut in 0..wire.payload.len() {
            let short = WorldDelta {
                tick: 1,
                payload: wire.payload[..cut].to_vec(),
            };
            assert!(decode(&short).is_err(), "cut at {cut} accepted");
        }
        for i in 0..wire.payload.len() {
            for bit in 0..8 {
                let mut bytes = wire.payload.clone();
                bytes[i] ^= 1 << bit;
                // Either refused or decoded into something that re-encodes losslessly.
                if let Ok(d) = decode(&WorldDelta {
                    tick: 1,
                    payload: bytes,
                }) {
                    let again = decode(&encode(&d).expect("encodes")).expect("valid");
                    assert_eq!(again, d);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&WorldDelta { tick: 0, payload: bytes });
        }
    }
}
