//! The AOI delta on the wire: the payload of a [`WorldDelta`] push, converted from and to the
//! sim's plain [`ObserverDelta`], and encoded for a whole tick at once from a [`DeltaBatch`].
//!
//! The payload is a byte string, little-endian, no padding: a header, then one record per line
//! of the delta. The header is the format byte [`FORMAT`] and the record count (`u32`). Each
//! record is a tag byte and fixed fields (a route adds its waypoints):
//!
//! | tag | record | bytes | carries |
//! |---|---|---|---|
//! | 1 | standing | 25 | an entering city / slot / field / monster: id u64, x u16, y u16, kind u8, sub u16, level u8, value u64 |
//! | 2 | march | 41 + 4 per waypoint | an entering march: id u64, owner u64, depart tick u64, troops u64, speed u32, mission u8, phase u8, waypoint count u16, waypoints (x u16, y u16) |
//! | 3 | moved | 13 | a new tile (relocated city, march with a new destination): id u64, x u16, y u16 |
//! | 4 | remaining | 17 | a field's new rounded `remaining`: id u64, value u64 |
//! | 5 | owner | 17 | a city's new owner: id u64, player u64 |
//! | 6 | march update | 10 + fields by mask | id u64, mask u8, then phase u8 ([`MASK_PHASE`]), depart tick u64 + speed u32 + waypoint count u16 + waypoints ([`MASK_ROUTE`]), troops u64 ([`MASK_TROOPS`]) |
//! | 7 | leave | 9 | an id leaving the view: id u64 |
//! | 8 | city | 31 + tag bytes | an entering city: id u64, x u16, y u16, owner u64, in an alliance u8 (0/1), alliance u64 (0 when not), tag length u8, tag (UTF-8, at most [`MAX_TAG_BYTES`]; the guild's tag, empty when unknown) |
//!
//! Tags 1, 2 and 8 with [`REPLACES`] set replace the body of an object already in view (it
//! changed kind, or a city's alliance changed; a standing or city record's x/y are then
//! ignored: the tile comes from a `moved` record). Cities travel as city records (format 3 on);
//! a standing record's `kind` is [`ObjectKind`] as `u8` (0 city, 1 city slot, 2 field, 3
//! monster), `sub` a field's resource (0 food, 1 wood, 2 stone, 3 gold) or a monster's kind,
//! `value` a field's `remaining` or a city's owner. A march's tile is not sent: it is its route's
//! destination.
//!
//! Records are self-contained byte strings, so [`encode_batch`] encodes each entering object and
//! each update once per tick and copies those bytes into every observer's payload that needs
//! them. Decoding ([`decode`]) checks every length, tag, discriminant and route and that no id
//! appears in two roles, and never panics or allocates more than the payload justifies.
//!
//! **Compatibility:** the format byte names the layout; a changed layout takes a new format
//! byte (a decoder refuses formats it does not know), never a reinterpretation of this one.

use std::collections::BTreeMap;

use dominion_sim::aoi::{
    Body, BodyUpdate, DeltaBatch, FieldUpdate, MarchPhase, MarchView, ObjectKind, ObjectView,
    ObserverDelta,
};
use dominion_sim::march::{Mission, Route};
use dominion_sim::types::{ObjectId, PlayerId, ResourceKind, TilePos};

use super::messages::WorldDelta;

/// Most waypoints a route may have on the wire.
pub const MAX_WAYPOINTS: usize = 16_384;

/// First byte of every payload: the layout described in this module (3: cities carry their
/// alliance and guild tag).
pub const FORMAT: u8 = 3;

/// Longest guild tag a city record carries (bytes).
pub const MAX_TAG_BYTES: usize = 32;

/// Where the encoder finds a guild's tag for an alliance id (the sim knows ids; the host's
/// guild service knows tags).
pub trait GuildTags {
    /// The tag of alliance `id`, if known.
    fn tag(&self, id: u64) -> Option<&str>;
}

/// No tags known: cities are sent with their alliance id and an empty tag.
pub struct NoTags;

impl GuildTags for NoTags {
    fn tag(&self, _: u64) -> Option<&str> {
        None
    }
}

impl<S: std::hash::BuildHasher> GuildTags for std::collections::HashMap<u64, String, S> {
    fn tag(&self, id: u64) -> Option<&str> {
        self.get(&id).map(String::as_str)
    }
}

impl GuildTags for BTreeMap<u64, String> {
    fn tag(&self, id: u64) -> Option<&str> {
        self.get(&id).map(String::as_str)
    }
}

/// Bytes before the first record: the format byte and the record count.
const HEADER: usize = 5;

const TAG_STANDING: u8 = 1;
const TAG_MARCH: u8 = 2;
const TAG_MOVED: u8 = 3;
const TAG_REMAINING: u8 = 4;
const TAG_OWNER: u8 = 5;
const TAG_MARCH_UPDATE: u8 = 6;
const TAG_LEAVE: u8 = 7;
const TAG_CITY: u8 = 8;

/// Bit 7 of a standing or march record's tag: the record replaces the body of an object already
/// in view (it changed kind) instead of entering it.
pub const REPLACES: u8 = 0x80;

/// March update mask: the phase changed.
pub const MASK_PHASE: u8 = 1;
/// March update mask: the route changed (waypoints, departure tick, speed).
pub const MASK_ROUTE: u8 = 2;
/// March update mask: the troop total changed.
pub const MASK_TROOPS: u8 = 4;

/// Why a delta could not be encoded or decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    /// A value the format cannot carry (a route longer than [`MAX_WAYPOINTS`]).
    #[error("encoding a delta: {0}")]
    Serialize(String),
    /// The payload is cut short, has trailing bytes, an unknown format or an unknown record.
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

/// Encodes one observer's delta as the [`WorldDelta`] push to send it (no guild tags).
pub fn encode(delta: &ObserverDelta) -> Result<WorldDelta, DeltaError> {
    encode_tagged(delta, &NoTags)
}

/// [`encode`], with cities' guild tags from `tags`.
pub fn encode_tagged(
    delta: &ObserverDelta,
    tags: &dyn GuildTags,
) -> Result<WorldDelta, DeltaError> {
    let mut payload = header();
    let mut records = 0u32;
    for v in &delta.enter {
        put_view(&mut payload, v.id, v.pos, &v.body, false, tags)?;
        records += 1;
    }
    for u in &delta.update {
        records += put_update(&mut payload, u, tags)?;
    }
    for id in &delta.leave {
        put_leave(&mut payload, *id);
        records += 1;
    }
    set_count(&mut payload, records);
    Ok(WorldDelta {
        tick: delta.tick,
        payload,
    })
}

/// Encodes a whole tick: every observer's [`WorldDelta`], in the batch's observer order. Each
/// shared view and update is encoded once and its bytes copied into each payload that lists it;
/// the payloads are byte-identical to [`encode`] of each observer's [`DeltaBatch::delta`].
pub fn encode_batch(batch: &DeltaBatch) -> Result<Vec<(u64, WorldDelta)>, DeltaError> {
    encode_batch_tagged(batch, &NoTags)
}

/// [`encode_batch`], with cities' guild tags from `tags`.
pub fn encode_batch_tagged(
    batch: &DeltaBatch,
    tags: &dyn GuildTags,
) -> Result<Vec<(u64, WorldDelta)>, DeltaError> {
    // Only what some observer lists is encoded (all of it, as the sim builds batches).
    let mut bytes: Vec<u8> = Vec::new();
    let mut views: Vec<(u32, u32)> = Vec::with_capacity(batch.views.len());
    for v in &batch.views {
        let start = bytes.len() as u32;
        put_view(&mut bytes, v.id, v.pos, &v.body, false, tags)?;
        views.push((start, bytes.len() as u32));
    }
    // Updates: (start, end, records).
    let mut updates: Vec<(u32, u32, u32)> = Vec::with_capacity(batch.updates.len());
    for u in &batch.updates {
        let start = bytes.len() as u32;
        let n = put_update(&mut bytes, u, tags)?;
        updates.push((start, bytes.len() as u32, n));
    }
    let missing = |what: &str, j: u32| {
        DeltaError::Serialize(format!("batch lists {what} {j}, which it does not hold"))
    };
    let mut out = Vec::with_capacity(batch.len());
    for i in 0..batch.len() {
        let enter = batch.enter_indices(i);
        let update = batch.update_indices(i);
        let leave = batch.leave_of(i);
        let mut size = HEADER + leave.len() * 9;
        let mut records = (enter.len() + leave.len()) as u32;
        for &j in enter {
            let (a, b) = *views.get(j as usize).ok_or_else(|| missing("view", j))?;
            size += (b - a) as usize;
        }
        for &j in update {
            let (a, b, n) = *updates
                .get(j as usize)
                .ok_or_else(|| missing("update", j))?;
            size += (b - a) as usize;
            records += n;
        }
        let mut payload = Vec::with_capacity(size);
        payload.push(FORMAT);
        payload.extend_from_slice(&records.to_le_bytes());
        // Every index was checked above.
        for &j in enter {
            let (a, b) = views[j as usize];
            payload.extend_from_slice(&bytes[a as usize..b as usize]);
        }
        for &j in update {
            let (a, b, _) = updates[j as usize];
            payload.extend_from_slice(&bytes[a as usize..b as usize]);
        }
        for id in leave {
            put_leave(&mut payload, *id);
        }
        out.push((
            batch.observer(i),
            WorldDelta {
                tick: batch.tick,
                payload,
            },
        ));
    }
    Ok(out)
}

/// Validates a received [`WorldDelta`] and converts it back into the sim's plain delta (lists in
/// id order).
pub fn decode(message: &WorldDelta) -> Result<ObserverDelta, DeltaError> {
    decode_tagged(message).map(|(d, _)| d)
}

/// [`decode`], and the guild tags its city records carried (alliance id → tag; empty tags are
/// left out).
pub fn decode_tagged(
    message: &WorldDelta,
) -> Result<(ObserverDelta, BTreeMap<u64, String>), DeltaError> {
    let mut r = Reader {
        bytes: &message.payload,
        at: 0,
    };
    let format = r.u8()?;
    if format != FORMAT {
        return Err(DeltaError::Malformed(format!(
            "delta format {format} (this client reads {FORMAT})"
        )));
    }
    let records = r.u32()?;
    let mut d = Decoded::default();
    for _ in 0..records {
        d.record(&mut r)?;
    }
    if r.at != r.bytes.len() {
        return Err(DeltaError::Malformed(format!(
            "{} bytes after the last of {records} records",
            r.bytes.len() - r.at
        )));
    }
    let tags = std::mem::take(&mut d.tags);
    Ok((d.finish(message.tick)?, tags))
}

fn header() -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.push(FORMAT);
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

fn set_count(payload: &mut [u8], records: u32) {
    payload[1..HEADER].copy_from_slice(&records.to_le_bytes());
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_leave(out: &mut Vec<u8>, id: ObjectId) {
    out.push(TAG_LEAVE);
    put_u64(out, id.0);
}

fn put_route(out: &mut Vec<u8>, id: ObjectId, route: &Route) -> Result<(), DeltaError> {
    let n = route.waypoints.len();
    if n > MAX_WAYPOINTS {
        return Err(DeltaError::Serialize(format!(
            "{id}: route of {n} waypoints (at most {MAX_WAYPOINTS})"
        )));
    }
    put_u16(out, n as u16);
    out.reserve(n * 4);
    for p in &route.waypoints {
        put_u16(out, p.x);
        put_u16(out, p.y);
    }
    Ok(())
}

/// An entering object (or, with `replaces`, a kind change of one in view).
fn put_view(
    out: &mut Vec<u8>,
    id: ObjectId,
    pos: TilePos,
    body: &Body,
    replaces: bool,
    tags: &dyn GuildTags,
) -> Result<(), DeltaError> {
    let flag = if replaces { REPLACES } else { 0 };
    let (kind, sub, level, value) = match body {
        Body::City { owner, alliance } => {
            out.push(TAG_CITY | flag);
            put_u64(out, id.0);
            put_u16(out, pos.x);
            put_u16(out, pos.y);
            put_u64(out, owner.0);
            out.push(u8::from(alliance.is_some()));
            put_u64(out, alliance.unwrap_or(0));
            let tag = alliance
                .and_then(|a| tags.tag(a))
                .filter(|t| t.len() <= MAX_TAG_BYTES)
                .unwrap_or("");
            out.push(tag.len() as u8);
            out.extend_from_slice(tag.as_bytes());
            return Ok(());
        }
        Body::CitySlot => (ObjectKind::CitySlot, 0, 0, 0),
        Body::Field {
            kind,
            level,
            remaining,
        } => (ObjectKind::Field, kind.index() as u16, *level, *remaining),
        Body::Monster { kind, level } => (ObjectKind::Monster, *kind, *level, 0),
        Body::March(m) => return put_march(out, id, m, flag),
    };
    out.push(TAG_STANDING | flag);
    put_u64(out, id.0);
    put_u16(out, pos.x);
    put_u16(out, pos.y);
    out.push(kind as u8);
    put_u16(out, sub);
    out.push(level);
    put_u64(out, value);
    Ok(())
}

fn put_march(out: &mut Vec<u8>, id: ObjectId, m: &MarchView, flag: u8) -> Result<(), DeltaError> {
    out.push(TAG_MARCH | flag);
    put_u64(out, id.0);
    put_u64(out, m.owner.0);
    put_u64(out, m.route.depart_tick);
    put_u64(out, m.troops);
    put_u32(out, m.route.speed);
    out.push(mission_code(m.mission));
    out.push(m.phase as u8);
    put_route(out, id, &m.route)
}

/// The records of one update; returns how many.
fn put_update(out: &mut Vec<u8>, u: &FieldUpdate, tags: &dyn GuildTags) -> Result<u32, DeltaError> {
    let mut n = 0;
    if let Some(pos) = u.pos {
        out.push(TAG_MOVED);
        put_u64(out, u.id.0);
        put_u16(out, pos.x);
        put_u16(out, pos.y);
        n += 1;
    }
    match &u.body {
        BodyUpdate::None => return Ok(n),
        BodyUpdate::Remaining(r) => {
            out.push(TAG_REMAINING);
            put_u64(out, u.id.0);
            put_u64(out, *r);
        }
        BodyUpdate::Owner(o) => {
            out.push(TAG_OWNER);
            put_u64(out, u.id.0);
            put_u64(out, o.0);
        }
        BodyUpdate::March {
            phase,
            route,
            troops,
        } => {
            let mask = if phase.is_some() { MASK_PHASE } else { 0 }
                | if route.is_some() { MASK_ROUTE } else { 0 }
                | if troops.is_some() { MASK_TROOPS } else { 0 };
            out.push(TAG_MARCH_UPDATE);
            put_u64(out, u.id.0);
            out.push(mask);
            if let Some(p) = phase {
                out.push(*p as u8);
            }
            if let Some(r) = route {
                put_u64(out, r.depart_tick);
                put_u32(out, r.speed);
                put_route(out, u.id, r)?;
            }
            if let Some(t) = troops {
                put_u64(out, *t);
            }
        }
        BodyUpdate::Replaced(b) => put_view(out, u.id, u.pos.unwrap_or_default(), b, true, tags)?,
    }
    Ok(n + 1)
}

fn mission_code(m: Mission) -> u8 {
    match m {
        Mission::Gather => 0,
        Mission::Attack => 1,
        Mission::Reinforce => 2,
        Mission::Scout => 3,
    }
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

/// Bounds-checked little-endian reads.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DeltaError> {
        let end = self.at.checked_add(N).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(DeltaError::Malformed(format!(
                "cut short at byte {} of {}",
                self.at,
                self.bytes.len()
            )));
        };
        let mut a = [0; N];
        a.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DeltaError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DeltaError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, DeltaError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, DeltaError> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    /// A waypoint count and the waypoints, then the route they make.
    fn route(&mut self, id: u64, depart_tick: u64, speed: u32) -> Result<Route, DeltaError> {
        let n = usize::from(self.u16()?);
        if n == 0 || n > MAX_WAYPOINTS {
            return Err(invalid(
                id,
                format!("route of {n} waypoints (1..={MAX_WAYPOINTS})"),
            ));
        }
        if self.bytes.len() - self.at < n * 4 {
            return Err(DeltaError::Malformed(format!(
                "route of obj:{id} cut short at byte {}",
                self.at
            )));
        }
        if speed == 0 {
            return Err(invalid(id, "march speed 0"));
        }
        let mut waypoints = Vec::with_capacity(n);
        for _ in 0..n {
            let x = self.u16()?;
            let y = self.u16()?;
            waypoints.push(TilePos::new(x, y));
        }
        Ok(Route {
            waypoints,
            depart_tick,
            speed,
        })
    }
}

/// Parts of one object's update gathered from its records.
#[derive(Default)]
struct Parts {
    pos: Option<TilePos>,
    body: Option<BodyUpdate>,
}

/// A delta being decoded.
#[derive(Default)]
struct Decoded {
    enter: BTreeMap<u64, ObjectView>,
    updates: BTreeMap<u64, Parts>,
    leave: Vec<ObjectId>,
    /// Alliance id → guild tag, from city records.
    tags: BTreeMap<u64, String>,
}

impl Decoded {
    fn set_body(&mut self, id: u64, body: BodyUpdate) -> Result<(), DeltaError> {
        let parts = self.updates.entry(id).or_default();
        if parts.body.replace(body).is_some() {
            return Err(DeltaError::Duplicate(id));
        }
        Ok(())
    }

    fn enter_or_replace(&mut self, view: ObjectView, replaces: bool) -> Result<(), DeltaError> {
        let id = view.id.0;
        if replaces {
            return self.set_body(id, BodyUpdate::Replaced(view.body));
        }
        if self.enter.insert(id, view).is_some() {
            return Err(DeltaError::Duplicate(id));
        }
        Ok(())
    }

    fn record(&mut self, r: &mut Reader<'_>) -> Result<(), DeltaError> {
        let tag = r.u8()?;
        let replaces = tag & REPLACES != 0;
        match tag & !REPLACES {
            TAG_STANDING => {
                let id = r.u64()?;
                let (x, y) = (r.u16()?, r.u16()?);
                let kind = r.u8()?;
                let sub = r.u16()?;
                let level = r.u8()?;
                let value = r.u64()?;
                let body = match kind {
                    0 => {
                        return Err(invalid(
                            id,
                            "a city in a standing record (format 3 sends cities as city records)",
                        ));
                    }
                    1 => Body::CitySlot,
                    2 => Body::Field {
                        kind: *ResourceKind::ALL
                            .get(usize::from(sub))
                            .ok_or_else(|| invalid(id, format!("resource kind {sub}")))?,
                        level,
                        remaining: value,
                    },
                    3 => Body::Monster { kind: sub, level },
                    other => return Err(invalid(id, format!("standing object kind {other}"))),
                };
                let view = ObjectView {
                    id: ObjectId(id),
                    pos: TilePos::new(x, y),
                    body,
                };
                self.enter_or_replace(view, replaces)
            }
            TAG_CITY => {
                let id = r.u64()?;
                let (x, y) = (r.u16()?, r.u16()?);
                let owner = r.u64()?;
                let allied = r.u8()?;
                let alliance = r.u64()?;
                let len = usize::from(r.u8()?);
                if len > MAX_TAG_BYTES {
                    return Err(invalid(id, format!("guild tag of {len} bytes")));
                }
                if r.bytes.len() - r.at < len {
                    return Err(DeltaError::Malformed(format!(
                        "tag of obj:{id} cut short at byte {}",
                        r.at
                    )));
                }
                let tag = std::str::from_utf8(&r.bytes[r.at..r.at + len])
                    .map_err(|_| invalid(id, "guild tag is not UTF-8"))?
                    .to_owned();
                r.at += len;
                let alliance = match (allied, alliance, len) {
                    (0, 0, 0) => None,
                    (1, a, _) => Some(a),
                    _ => return Err(invalid(id, format!("alliance flag {allied}"))),
                };
                if let (Some(a), false) = (alliance, tag.is_empty()) {
                    self.tags.insert(a, tag);
                }
                let view = ObjectView {
                    id: ObjectId(id),
                    pos: TilePos::new(x, y),
                    body: Body::City {
                        owner: PlayerId(owner),
                        alliance,
                    },
                };
                self.enter_or_replace(view, replaces)
            }
            TAG_MARCH => {
                let id = r.u64()?;
                let owner = r.u64()?;
                let depart_tick = r.u64()?;
                let troops = r.u64()?;
                let speed = r.u32()?;
                let mission = r.u8()?;
                let phase = r.u8()?;
                let route = r.route(id, depart_tick, speed)?;
                let view = ObjectView {
                    id: ObjectId(id),
                    pos: route.destination(),
                    body: Body::March(MarchView {
                        owner: PlayerId(owner),
                        mission: mission_of(id, mission)?,
                        phase: phase_of(id, phase)?,
                        route,
                        troops,
                    }),
                };
                self.enter_or_replace(view, replaces)
            }
            _ if replaces => Err(DeltaError::Malformed(format!(
                "record tag {tag:#04x} at byte {}",
                r.at - 1
            ))),
            TAG_MOVED => {
                let id = r.u64()?;
                let (x, y) = (r.u16()?, r.u16()?);
                let parts = self.updates.entry(id).or_default();
                if parts.pos.replace(TilePos::new(x, y)).is_some() {
                    return Err(DeltaError::Duplicate(id));
                }
                Ok(())
            }
            TAG_REMAINING => {
                let id = r.u64()?;
                let value = r.u64()?;
                self.set_body(id, BodyUpdate::Remaining(value))
            }
            TAG_OWNER => {
                let id = r.u64()?;
                let value = r.u64()?;
                self.set_body(id, BodyUpdate::Owner(PlayerId(value)))
            }
            TAG_MARCH_UPDATE => {
                let id = r.u64()?;
                let mask = r.u8()?;
                if mask & !(MASK_PHASE | MASK_ROUTE | MASK_TROOPS) != 0 || mask == 0 {
                    return Err(invalid(id, format!("march update mask {mask:#04x}")));
                }
                let phase = if mask & MASK_PHASE != 0 {
                    Some(phase_of(id, r.u8()?)?)
                } else {
                    None
                };
                let route = if mask & MASK_ROUTE != 0 {
                    let depart_tick = r.u64()?;
                    let speed = r.u32()?;
                    Some(r.route(id, depart_tick, speed)?)
                } else {
                    None
                };
                let troops = if mask & MASK_TROOPS != 0 {
                    Some(r.u64()?)
                } else {
                    None
                };
                self.set_body(
                    id,
                    BodyUpdate::March {
                        phase,
                        route,
                        troops,
                    },
                )
            }
            TAG_LEAVE => {
                self.leave.push(ObjectId(r.u64()?));
                Ok(())
            }
            _ => Err(DeltaError::Malformed(format!(
                "record tag {tag:#04x} at byte {}",
                r.at - 1
            ))),
        }
    }

    fn finish(self, tick: u64) -> Result<ObserverDelta, DeltaError> {
        let Decoded {
            enter,
            updates,
            mut leave,
            tags: _,
        } = self;
        for id in &leave {
            if enter.contains_key(&id.0) || updates.contains_key(&id.0) {
                return Err(DeltaError::Duplicate(id.0));
            }
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
                ObjectView {
                    id: ObjectId(7),
                    pos: TilePos::new(11, 12),
                    body: Body::City {
                        owner: PlayerId(65537),
                        alliance: None,
                    },
                },
                ObjectView {
                    id: ObjectId(8),
                    pos: TilePos::new(13, 14),
                    body: Body::City {
                        owner: PlayerId(131073),
                        alliance: Some(u64::MAX),
                    },
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
                    body: BodyUpdate::Replaced(Body::City {
                        owner: PlayerId(5),
                        alliance: Some(0),
                    }),
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
    fn cities_carry_their_guild_tag_and_bad_tags_are_refused() {
        let d = sample();
        let tags: BTreeMap<u64, String> = [(u64::MAX, "NW".to_owned()), (0, "Ω".to_owned())].into();
        let wire = encode_tagged(&d, &tags).expect("encodes");
        let (back, seen) = decode_tagged(&wire).expect("valid");
        assert_eq!(back, d);
        assert_eq!(seen, tags, "both tagged cities' tags arrive");
        // Without tags the ids still arrive, the tags do not.
        let (back, seen) = decode_tagged(&encode(&d).unwrap()).expect("valid");
        assert_eq!(back, d);
        assert!(seen.is_empty());
        // A city record: 31 bytes and the tag.
        let one = ObserverDelta {
            enter: vec![d.enter[5].clone()],
            ..ObserverDelta::default()
        };
        let bytes = encode_tagged(&one, &tags).unwrap().payload;
        assert_eq!(bytes.len(), HEADER + 31 + 2);
        // A tag longer than the limit, a tag that is not UTF-8, an alliance flag of 2.
        let at_len = HEADER + 1 + 8 + 4 + 8 + 1 + 8;
        for (at, value, why) in [
            (at_len, 33u8, "guild tag of 33 bytes"),
            (at_len + 1, 0xff, "guild tag is not UTF-8"),
            (HEADER + 1 + 8 + 4 + 8, 2, "alliance flag 2"),
        ] {
            let mut bad = bytes.clone();
            bad[at] = value;
            let e = decode(&WorldDelta {
                tick: 0,
                payload: bad,
            })
            .unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    #[test]
    fn records_are_compact() {
        // An entering field: 25 bytes of record; an empty delta: the 5-byte header.
        let empty = encode(&ObserverDelta::default()).expect("encodes");
        let one = encode(&ObserverDelta {
            enter: vec![sample().enter[0].clone()],
            ..ObserverDelta::default()
        })
        .expect("encodes");
        assert_eq!(empty.payload, vec![FORMAT, 0, 0, 0, 0]);
        assert_eq!(one.payload.len() - empty.payload.len(), 25);
        // A march: 41 bytes and 4 per waypoint; a leave: 9.
        let march = encode(&ObserverDelta {
            enter: vec![sample().enter[3].clone()],
            leave: vec![ObjectId(1)],
            ..ObserverDelta::default()
        })
        .expect("encodes");
        assert_eq!(march.payload.len() - empty.payload.len(), 41 + 3 * 4 + 9);
    }

    /// Start of each record of a well-formed payload.
    fn record_starts(payload: &[u8]) -> Vec<usize> {
        let mut at = HEADER;
        let mut starts = Vec::new();
        let u16_at = |i: usize| usize::from(u16::from_le_bytes([payload[i], payload[i + 1]]));
        while at < payload.len() {
            starts.push(at);
            at += match payload[at] & !REPLACES {
                TAG_STANDING => 25,
                TAG_MARCH => 41 + 4 * u16_at(at + 39),
                TAG_MOVED => 13,
                TAG_REMAINING | TAG_OWNER => 17,
                TAG_LEAVE => 9,
                TAG_CITY => 31 + usize::from(payload[at + 30]),
                TAG_MARCH_UPDATE => {
                    let mask = payload[at + 9];
                    let mut n = 10;
                    if mask & MASK_PHASE != 0 {
                        n += 1;
                    }
                    if mask & MASK_ROUTE != 0 {
                        n += 14 + 4 * u16_at(at + n + 12);
                    }
                    if mask & MASK_TROOPS != 0 {
                        n += 8;
                    }
                    n
                }
                other => panic!("tag {other}"),
            };
        }
        starts
    }

    /// The sample's payload changed by `f` (given the record starts), decoded.
    fn tampered(f: impl FnOnce(&mut Vec<u8>, &[usize])) -> Result<ObserverDelta, DeltaError> {
        let mut payload = encode(&sample()).expect("encodes").payload;
        let starts = record_starts(&payload);
        f(&mut payload, &starts);
        decode(&WorldDelta { tick: 1, payload })
    }

    /// Appends one more record.
    fn append(payload: &mut Vec<u8>, record: &[u8]) {
        payload.extend_from_slice(record);
        let n = u32::from_le_bytes([payload[1], payload[2], payload[3], payload[4]]) + 1;
        payload[1..HEADER].copy_from_slice(&n.to_le_bytes());
    }

    fn value_record(tag: u8, id: u64, value: u64) -> Vec<u8> {
        let mut r = vec![tag];
        r.extend_from_slice(&id.to_le_bytes());
        r.extend_from_slice(&value.to_le_bytes());
        r
    }

    #[test]
    fn invalid_records_are_refused_with_a_reason() {
        // Records: 6 enters (field, monster, slot, march, 2 cities), remaining, moved, moved +
        // march update, march update, replaced city, owner, 2 leaves.
        let e = tampered(|p, s| p[s[0] + 13] = 9).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:3: standing object kind 9"
        );
        let e = tampered(|p, s| p[s[0] + 14] = 4).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:3: resource kind 4"
        );
        let e = tampered(|p, s| p[s[3] + 39..s[3] + 41].fill(0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:6: route of 0 waypoints (1..=16384)"
        );
        let e = tampered(|p, s| p[s[3] + 38] = 4).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:6: march phase 4"
        );
        let e = tampered(|p, s| p[s[3] + 37] = 7).unwrap_err();
        assert_eq!(e.to_string(), "invalid delta record for obj:6: mission 7");
        let e = tampered(|p, s| p[s[3] + 33..s[3] + 37].fill(0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:6: march speed 0"
        );
        let e = tampered(|p, s| p[s[9] + 9] = 0x10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid delta record for obj:12: march update mask 0x10"
        );
        let e = tampered(|p, s| p[s[6]] = 0x84).unwrap_err();
        assert!(matches!(e, DeltaError::Malformed(_)), "{e}");
        let e = tampered(|p, s| p[s[6]] = 9).unwrap_err();
        assert!(matches!(e, DeltaError::Malformed(_)), "{e}");
        let e = tampered(|p, _| p[0] = 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed delta payload: delta format 1 (this client reads 3)"
        );
        let e = tampered(|p, _| p.push(0)).unwrap_err();
        assert!(matches!(e, DeltaError::Malformed(_)), "{e}");
        let e = tampered(|p, _| append(p, &value_record(TAG_LEAVE, 3, 0)[..9])).unwrap_err();
        assert_eq!(e, DeltaError::Duplicate(3));
        let e = tampered(|p, _| append(p, &value_record(TAG_LEAVE, 20, 0)[..9])).unwrap_err();
        assert_eq!(e, DeltaError::Duplicate(20));
        let e = tampered(|p, _| append(p, &value_record(TAG_REMAINING, 10, 5))).unwrap_err();
        assert_eq!(e, DeltaError::Duplicate(10));
        let e = tampered(|p, _| append(p, &value_record(TAG_OWNER, 3, 1))).unwrap_err();
        assert_eq!(e, DeltaError::Duplicate(3));
    }

    #[test]
    fn a_claimed_count_beyond_the_payload_is_refused_without_allocating() {
        let mut payload = vec![FORMAT];
        payload.extend_from_slice(&u32::MAX.to_le_bytes());
        payload.push(TAG_MARCH);
        payload.extend_from_slice(&[0; 38]);
        payload.extend_from_slice(&u16::MAX.to_le_bytes());
        let e = decode(&WorldDelta { tick: 1, payload }).unwrap_err();
        assert!(e.to_string().contains("65535 waypoints"), "{e}");
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
