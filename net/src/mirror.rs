//! The client-side mirror of an observer's view: applies [`WorldDelta`] pushes in order and holds
//! what the server says this client sees, with march positions interpolated locally.
//!
//! The mirror is strict: a delta that enters an object already held, updates or removes one not
//! held, or goes back in time is refused whole (nothing applied), because it means the client
//! and server views have diverged; the client should then [`Mirror::reset`] and ask for its
//! viewport again (the server answers a new observer with everything in view).
//!
//! Not responsible for: rendering, prediction beyond route interpolation, or sessions.

use std::collections::BTreeMap;

use dominion_sim::aoi::{Body, ObjectView, ObserverDelta};
use dominion_sim::types::{ObjectId, TilePos};

use crate::proto::WorldDelta;
use crate::proto::delta::{DeltaError, decode_tagged};

/// Why a delta was refused by the mirror (the mirror is unchanged).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    /// The payload is malformed or invalid.
    #[error(transparent)]
    Decode(#[from] DeltaError),
    /// The delta is older than one already applied.
    #[error("delta for tick {got} after tick {last}")]
    Stale {
        /// Its tick.
        got: u64,
        /// The last tick applied.
        last: u64,
    },
    /// An entering object is already held.
    #[error("{0} entered but is already in view")]
    AlreadyInView(ObjectId),
    /// An update or leave names an object not held.
    #[error("{0} is not in view")]
    NotInView(ObjectId),
}

/// One client's copy of its view, rebuilt from the server's deltas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirror {
    tick: u64,
    objects: BTreeMap<ObjectId, ObjectView>,
    /// Guild tags seen on cities: alliance id → tag.
    tags: BTreeMap<u64, String>,
}

impl Mirror {
    /// An empty mirror (nothing in view yet).
    pub fn new() -> Mirror {
        Mirror::default()
    }

    /// Validates and applies one received delta. On error nothing changes.
    pub fn apply(&mut self, message: &WorldDelta) -> Result<(), MirrorError> {
        let (delta, tags) = decode_tagged(message)?;
        self.apply_decoded(&delta)?;
        self.tags.extend(tags);
        Ok(())
    }

    /// The guild tag of a city in view (its owner's guild), if it has one.
    pub fn city_tag(&self, id: ObjectId) -> Option<&str> {
        match self.objects.get(&id)?.body {
            Body::City {
                alliance: Some(a), ..
            } => self.tags.get(&a).map(String::as_str),
            _ => None,
        }
    }

    /// Applies an already decoded delta (leave, then enter, then update), after checking it
    /// against what the mirror holds. On error nothing changes.
    pub fn apply_decoded(&mut self, delta: &ObserverDelta) -> Result<(), MirrorError> {
        if delta.tick < self.tick {
            return Err(MirrorError::Stale {
                got: delta.tick,
                last: self.tick,
            });
        }
        for id in &delta.leave {
            if !self.objects.contains_key(id) {
                return Err(MirrorError::NotInView(*id));
            }
        }
        for v in &delta.enter {
            if self.objects.contains_key(&v.id) {
                return Err(MirrorError::AlreadyInView(v.id));
            }
        }
        for u in &delta.update {
            if !self.objects.contains_key(&u.id) {
                return Err(MirrorError::NotInView(u.id));
            }
        }
        delta.apply_to(&mut self.objects);
        self.tick = delta.tick;
        Ok(())
    }

    /// Forgets everything (after a reconnect, before the first delta of the new session).
    pub fn reset(&mut self) {
        *self = Mirror::default();
    }

    /// Tick of the last delta applied (0 before any).
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Everything in view, by id.
    pub fn objects(&self) -> &BTreeMap<ObjectId, ObjectView> {
        &self.objects
    }

    /// One object in view.
    pub fn get(&self, id: ObjectId) -> Option<&ObjectView> {
        self.objects.get(&id)
    }

    /// Number of objects in view.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when nothing is in view.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Where an object is at `tick`: a standing object's tile, a travelling march interpolated
    /// along its route (the same integer rule as the server's), a still march's tile.
    pub fn position_at(&self, id: ObjectId, tick: u64) -> Option<TilePos> {
        let v = self.objects.get(&id)?;
        Some(match &v.body {
            Body::March(m) if m.phase.moving() => m.route.position_at(tick),
            _ => v.pos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::delta::{encode, encode_batch};
    use dominion_sim::aoi::{FieldUpdate, ObjectView};
    use dominion_sim::types::PlayerId;

    fn city(id: u64) -> ObjectView {
        ObjectView {
            id: ObjectId(id),
            pos: TilePos::new(1, 1),
            body: Body::City {
                owner: PlayerId(1),
                alliance: None,
            },
        }
    }

    #[test]
    fn refused_deltas_change_nothing() {
        let mut m = Mirror::new();
        let first = ObserverDelta {
            tick: 5,
            enter: vec![city(1), city(2)],
            ..ObserverDelta::default()
        };
        m.apply(&encode(&first).unwrap()).unwrap();
        let before = m.clone();
        let again = ObserverDelta {
            tick: 6,
            enter: vec![city(3), city(1)],
            ..ObserverDelta::default()
        };
        assert_eq!(
            m.apply(&encode(&again).unwrap()),
            Err(MirrorError::AlreadyInView(ObjectId(1)))
        );
        let ghost = ObserverDelta {
            tick: 6,
            leave: vec![ObjectId(2), ObjectId(9)],
            ..ObserverDelta::default()
        };
        assert_eq!(
            m.apply(&encode(&ghost).unwrap()),
            Err(MirrorError::NotInView(ObjectId(9)))
        );
        let update = ObserverDelta {
            tick: 6,
            update: vec![FieldUpdate {
                id: ObjectId(4),
                pos: Some(TilePos::new(2, 2)),
                body: dominion_sim::aoi::BodyUpdate::None,
            }],
            ..ObserverDelta::default()
        };
        assert_eq!(
            m.apply(&encode(&update).unwrap()),
            Err(MirrorError::NotInView(ObjectId(4)))
        );
        let old = ObserverDelta {
            tick: 4,
            leave: vec![ObjectId(1)],
            ..ObserverDelta::default()
        };
        assert_eq!(
            m.apply(&encode(&old).unwrap()),
            Err(MirrorError::Stale { got: 4, last: 5 })
        );
        let garbage = WorldDelta {
            tick: 9,
            payload: vec![1, 2, 3],
        };
        assert!(matches!(m.apply(&garbage), Err(MirrorError::Decode(_))));
        assert_eq!(m, before);
        m.reset();
        assert!(m.is_empty());
        assert_eq!(m.tick(), 0);
    }

    /// The repo's assets on a small map.
    fn kingdom(size: u16) -> dominion_sim::Kingdom {
        use dominion_sim::config::{ASSET_FILES, AssetFiles, Assets};
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets");
        let mut files = AssetFiles::new();
        for name in ASSET_FILES {
            let text = std::fs::read_to_string(format!("{dir}/{name}")).expect("asset file");
            let text = text
                .replace("width = 1200", &format!("width = {size}"))
                .replace("height = 1200", &format!("height = {size}"));
            files.insert(name.to_owned(), text);
        }
        let assets = Assets::parse(&files).expect("repo assets are valid");
        dominion_sim::Kingdom::generate(17, std::sync::Arc::new(assets))
    }

    #[test]
    fn mirrors_fed_the_wire_stream_equal_the_server_view() {
        use dominion_sim::aoi::{BodyUpdate, MarchPhase, Observers, Viewport};
        use dominion_sim::command::Command;
        use dominion_sim::map::{MapObject, Monster, ResourceField};
        use dominion_sim::march::Mission;
        use dominion_sim::types::Troops;

        let mut k = kingdom(100);
        let players: Vec<PlayerId> = (1..=6).map(PlayerId).collect();
        for p in &players {
            k.add_player(*p).expect("slot");
        }
        // Targets: every field and monster, nearest first from each city.
        let targets: Vec<(ObjectId, TilePos, bool)> = k
            .world
            .query::<(&MapObject, Option<&ResourceField>, Option<&Monster>)>()
            .iter(&k.world)
            .filter(|(_, f, m)| f.is_some() || m.is_some())
            .map(|(o, f, _)| (o.id, o.pos, f.is_some()))
            .collect();
        let homes: Vec<TilePos> = players
            .iter()
            .map(|p| {
                let (id, _) = k.city(*p).expect("city");
                k.world
                    .query::<&MapObject>()
                    .iter(&k.world)
                    .find(|o| o.id == id)
                    .expect("city on map")
                    .pos
            })
            .collect();
        let mut viewports: BTreeMap<u64, Viewport> = BTreeMap::from([
            (1, Viewport::new(0, 0, 64, 64, 0)),
            (2, Viewport::new(30, 30, 12, 12, 1)),
            (3, Viewport::new(0, 0, 100, 100, 2)),
            (4, Viewport::new(50, 50, 5, 5, 0)),
        ]);
        for (o, vp) in &viewports {
            k.world.resource_mut::<Observers>().set_viewport(*o, *vp);
        }
        let mut mirrors: BTreeMap<u64, Mirror> = BTreeMap::new();
        let (mut entered, mut recalled, mut ended, mut bytes) = (0, 0, 0, 0usize);
        let mut deltas = Vec::new();
        for t in 0..600u64 {
            // Players send a march every so often; some get recalled.
            if t % 15 == 0 {
                let i = (t / 15) as usize % players.len();
                let home = homes[i];
                let mut near: Vec<&(ObjectId, TilePos, bool)> = targets
                    .iter()
                    .filter(|(_, p, _)| p.x.abs_diff(home.x).max(p.y.abs_diff(home.y)) >= 4)
                    .collect();
                near.sort_by_key(|(_, p, _)| p.x.abs_diff(home.x).max(p.y.abs_diff(home.y)));
                if let Some(&&(target, _, field)) = near.get((t / 90) as usize % 6) {
                    let mission = if field {
                        Mission::Gather
                    } else {
                        Mission::Attack
                    };
                    k.submit(
                        players[i],
                        0,
                        Command::SendMarch {
                            troops: Troops(vec![2000, 1000]),
                            target,
                            mission,
                        },
                    );
                }
            }
            if t % 70 == 35
                && let Some(m) = k.marches().into_iter().find(|m| m.owner == players[0])
            {
                k.submit(players[0], 0, Command::Recall { march: m.id });
            }
            // Viewports pan and zoom.
            if t % 40 == 20 {
                let o = 1 + (t / 40) % 4;
                let old = viewports[&o];
                let vp = Viewport::new(
                    (old.x + 7) % 90,
                    (old.y + 3) % 90,
                    old.w,
                    old.h,
                    (old.zoom + 1) % 3,
                );
                viewports.insert(o, vp);
                k.world.resource_mut::<Observers>().set_viewport(o, vp);
            }
            k.tick();
            for batch in k.world.resource_mut::<Observers>().drain_batches() {
                let wires = encode_batch(&batch).expect("encodes");
                assert_eq!(wires.len(), batch.len());
                for (i, (o, wire)) in wires.into_iter().enumerate() {
                    // The shared encoding is byte for byte the per-observer one.
                    let delta = batch.delta(i);
                    assert_eq!(o, batch.observer(i));
                    assert_eq!(wire, encode(&delta).expect("encodes"));
                    deltas.push((o, delta, wire));
                }
            }
            for (o, delta, wire) in deltas.drain(..) {
                bytes += wire.payload.len();
                mirrors
                    .entry(o)
                    .or_default()
                    .apply(&wire)
                    .expect("valid delta");
                for v in &delta.enter {
                    entered += usize::from(matches!(v.body, Body::March(_)));
                }
                for u in &delta.update {
                    if let BodyUpdate::March {
                        phase: Some(MarchPhase::Returning),
                        ..
                    } = u.body
                    {
                        recalled += 1;
                    }
                }
                ended += delta.leave.len();
            }
            let observers = k.world.resource::<Observers>();
            for o in viewports.keys() {
                let server = observers.view_of(*o).expect("observer");
                let client: Vec<ObjectView> = mirrors
                    .get(o)
                    .map(|m| m.objects().values().cloned().collect())
                    .unwrap_or_default();
                assert_eq!(client, server, "observer {o} after tick {}", k.tick_count());
            }
        }
        assert!(entered > 5, "marches entered views ({entered})");
        assert!(recalled > 2, "marches turned home in view ({recalled})");
        assert!(ended > 5, "objects left views ({ended})");
        assert!(bytes > 0);
    }
}
