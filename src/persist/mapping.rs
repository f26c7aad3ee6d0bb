//! Sim state ↔ stored records. The only place that knows both shapes.

use std::collections::BTreeMap;

use dominion_persistence::journal::{decode_waiting, encode_waiting};
use dominion_persistence::{
    FreeSlotsRecord, GrantsRecord, MapObjectKind, MapObjectRecord, MarchPhase, MarchPurpose,
    MarchRecord, PlayerRecord, RespawnRecord, TerrainRecord, WorldMetaRecord,
};
use dominion_sim::city::{City, GrantLedger};
use dominion_sim::map::{MapObject, Monster, ResourceField, Respawn, Terrain, Tile};
use dominion_sim::march::{March, MarchState, Mission, Route};
use dominion_sim::snapshot::{
    MarchSnapshot, ObjectBody, ObjectState, PlayerState, WorldMeta, WorldState,
};
use dominion_sim::types::{ObjectId, PlayerId};

/// A map object as a record; a city also yields its owner's player record (with what `players`
/// knows of the owner beyond the city).
pub fn object_records(
    o: &ObjectState,
    players: &BTreeMap<PlayerId, PlayerState>,
) -> (MapObjectRecord, Option<PlayerRecord>) {
    let (kind, player) = match &o.body {
        ObjectBody::Field(f) => (
            MapObjectKind::ResourceField {
                resource: f.kind,
                level: f.level,
                remaining: f.remaining,
            },
            None,
        ),
        ObjectBody::Monster(m) => (
            MapObjectKind::Monster {
                kind: m.kind,
                level: m.level,
            },
            None,
        ),
        ObjectBody::CitySlot => (MapObjectKind::CitySlot, None),
        ObjectBody::City(c) => (
            MapObjectKind::City { owner: c.owner },
            Some(PlayerRecord {
                player: c.owner,
                name: String::new(),
                city_id: o.object.id,
                city: o.object.pos,
                troops: c.troops.clone(),
                wounded: c.wounded.clone(),
                resources: c.resources,
                grants: GrantsRecord {
                    floor: c.grants.floor(),
                    applied: c.grants.applied().collect(),
                },
                alliance: players.get(&c.owner).and_then(|p| p.alliance),
                relocated_at: players.get(&c.owner).and_then(|p| p.relocated_at),
            }),
        ),
    };
    (
        MapObjectRecord {
            id: o.object.id,
            tile: o.object.pos,
            kind,
        },
        player,
    )
}

fn purpose(m: Mission) -> MarchPurpose {
    match m {
        Mission::Gather => MarchPurpose::Gather,
        Mission::Attack => MarchPurpose::Attack,
        Mission::Reinforce => MarchPurpose::Reinforce,
        Mission::Scout => MarchPurpose::Scout,
    }
}

fn mission(p: MarchPurpose) -> Mission {
    match p {
        MarchPurpose::Gather => Mission::Gather,
        MarchPurpose::Attack => Mission::Attack,
        MarchPurpose::Reinforce => Mission::Reinforce,
        MarchPurpose::Scout => Mission::Scout,
    }
}

/// A march as a record.
pub fn march_record(s: &MarchSnapshot) -> MarchRecord {
    let m = &s.march;
    MarchRecord {
        id: m.id,
        owner: m.owner,
        home: m.home,
        purpose: purpose(m.mission),
        target: m.target,
        phase: match m.state {
            MarchState::Outbound => MarchPhase::Outbound,
            MarchState::Gathering {
                field,
                since,
                amount,
            } => MarchPhase::Gathering {
                field,
                since,
                amount,
            },
            MarchState::Stationed { city } => MarchPhase::Stationed { city },
            MarchState::Returning => MarchPhase::Returning,
        },
        path: m.route.waypoints.clone(),
        depart_tick: m.route.depart_tick,
        speed: m.route.speed,
        next_event: s.next_event,
        troops: m.troops.clone(),
        wounded: m.wounded.clone(),
        carried: m.load,
    }
}

fn march_from_record(r: MarchRecord) -> MarchSnapshot {
    MarchSnapshot {
        march: March {
            id: r.id,
            owner: r.owner,
            home: r.home,
            mission: mission(r.purpose),
            target: r.target,
            troops: r.troops,
            wounded: r.wounded,
            load: r.carried,
            state: match r.phase {
                MarchPhase::Outbound => MarchState::Outbound,
                MarchPhase::Gathering {
                    field,
                    since,
                    amount,
                } => MarchState::Gathering {
                    field,
                    since,
                    amount,
                },
                MarchPhase::Stationed { city } => MarchState::Stationed { city },
                MarchPhase::Returning => MarchState::Returning,
            },
            route: Route {
                waypoints: r.path,
                depart_tick: r.depart_tick,
                speed: r.speed.max(1),
            },
        },
        next_event: r.next_event,
    }
}

/// World scalars as a record.
pub fn meta_record(m: &WorldMeta, config_digest: &str) -> WorldMetaRecord {
    WorldMetaRecord {
        tick: m.tick,
        seed: m.seed,
        config_version: config_digest.to_owned(),
        next_object_id: m.next_object_id,
        battles: m.battles,
        respawns: m
            .respawns
            .iter()
            .map(|&(due, seq, what)| match what {
                Respawn::Field { kind, zone } => RespawnRecord::Field {
                    due,
                    seq,
                    resource: kind,
                    zone,
                },
                Respawn::Monster { kind, zone } => RespawnRecord::Monster {
                    due,
                    seq,
                    kind,
                    zone,
                },
            })
            .collect(),
        respawn_next_seq: m.respawn_next_seq,
        config_number: m.config_version,
        waiting_commands: encode_waiting(&m.waiting_commands),
        command_next_seq: m.command_next_seq,
    }
}

/// The free-slot order as a record.
pub fn free_slots_record(m: &WorldMeta) -> FreeSlotsRecord {
    FreeSlotsRecord {
        slots: m.free_city_slots.clone(),
    }
}

/// The tile grid as a record.
pub fn terrain_record(t: &Terrain) -> TerrainRecord {
    TerrainRecord {
        width: t.width(),
        height: t.height(),
        tiles: t.tiles().iter().map(|t| t.bits()).collect(),
    }
}

/// Everything loaded from the store for one kingdom.
pub struct StoredWorld {
    /// World scalars.
    pub meta: WorldMetaRecord,
    /// Tile grid.
    pub terrain: TerrainRecord,
    /// Free slots.
    pub free_slots: FreeSlotsRecord,
    /// Map objects.
    pub objects: Vec<MapObjectRecord>,
    /// Players.
    pub players: Vec<PlayerRecord>,
    /// Marches.
    pub marches: Vec<MarchRecord>,
}

/// Rebuilds the sim's plain state from records; errors name what is inconsistent.
pub fn world_from_records(stored: StoredWorld) -> Result<WorldState, String> {
    let StoredWorld {
        meta,
        terrain,
        free_slots,
        objects,
        players,
        marches,
    } = stored;
    let tiles = terrain.tiles.iter().map(|&b| Tile::from_bits(b)).collect();
    let terrain = Terrain::from_tiles(terrain.width, terrain.height, tiles);
    let by_player: BTreeMap<PlayerId, PlayerRecord> =
        players.into_iter().map(|p| (p.player, p)).collect();
    let mut out_objects = Vec::with_capacity(objects.len());
    let mut out_players = Vec::new();
    for o in objects {
        let body = match o.kind {
            MapObjectKind::ResourceField {
                resource,
                level,
                remaining,
            } => ObjectBody::Field(ResourceField {
                kind: resource,
                level,
                remaining,
            }),
            MapObjectKind::Monster { kind, level } => ObjectBody::Monster(Monster { kind, level }),
            MapObjectKind::CitySlot => ObjectBody::CitySlot,
            MapObjectKind::City { owner } => {
                let p = by_player.get(&owner).ok_or_else(|| {
                    format!("city {} names {owner}, who has no player record", o.id)
                })?;
                if p.city_id != o.id {
                    return Err(format!(
                        "{owner}'s record names city {} but city {} names them",
                        p.city_id, o.id
                    ));
                }
                out_players.push(PlayerState {
                    player: owner,
                    city: o.id,
                    alliance: p.alliance,
                    relocated_at: p.relocated_at,
                });
                ObjectBody::City(City {
                    owner,
                    troops: p.troops.clone(),
                    wounded: p.wounded.clone(),
                    resources: p.resources,
                    grants: GrantLedger::from_parts(
                        p.grants.floor,
                        p.grants.applied.iter().copied(),
                    ),
                })
            }
        };
        out_objects.push(ObjectState {
            object: MapObject {
                id: o.id,
                pos: o.tile,
            },
            body,
        });
    }
    out_objects.sort_by_key(|o| o.object.id);
    out_players.sort_by_key(|p| p.player);
    let mut out_marches: Vec<MarchSnapshot> = marches.into_iter().map(march_from_record).collect();
    out_marches.sort_by_key(|m| m.march.id);
    Ok(WorldState {
        meta: WorldMeta {
            seed: meta.seed,
            tick: meta.tick,
            next_object_id: meta.next_object_id,
            battles: meta.battles,
            respawns: meta
                .respawns
                .iter()
                .map(|r| match *r {
                    RespawnRecord::Field {
                        due,
                        seq,
                        resource,
                        zone,
                    } => (
                        due,
                        seq,
                        Respawn::Field {
                            kind: resource,
                            zone,
                        },
                    ),
                    RespawnRecord::Monster {
                        due,
                        seq,
                        kind,
                        zone,
                    } => (due, seq, Respawn::Monster { kind, zone }),
                })
                .collect(),
            respawn_next_seq: meta.respawn_next_seq,
            free_city_slots: free_slots.slots,
            config_version: meta.config_number,
            waiting_commands: decode_waiting(&meta.waiting_commands)
                .map_err(|e| format!("world meta: waiting commands: {e}"))?,
            command_next_seq: meta.command_next_seq,
        },
        terrain,
        objects: out_objects,
        players: out_players,
        marches: out_marches,
    })
}

/// Hex of a config digest, stored as the world's config version.
pub fn digest_hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ids as a set, for `export_entities`.
pub fn id_set(ids: impl IntoIterator<Item = ObjectId>) -> std::collections::BTreeSet<ObjectId> {
    ids.into_iter().collect()
}
