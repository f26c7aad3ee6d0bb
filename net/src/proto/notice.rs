//! Event pushes on the wire: the [`PlayerEvent`] push, converted from the sim's
//! [`Notice`] (march arrived / failed / returned / destroyed / intercepted, gathered, battle
//! report, scout report, incoming attack).
//!
//! Codes used below: mission 0 gather, 1 attack, 2 reinforce, 3 scout; resource 0 food, 1 wood,
//! 2 stone, 3 gold; arrival failure 0 target gone, 1 field occupied, 2 no capacity, 3 friendly,
//! 4 not allied, 5 out of reach; combatant 0 city, 1 march, 2 monster. Troops are counts by unit
//! type index, resources `[food, wood, stone, gold]`.
//!
//! Not responsible for: deciding who is told what (the sim's `player_events`).

use dominion_sim::battle::{BattleReport, Combatant, Participant};
use dominion_sim::march::{ArrivalFailure, Mission, ScoutInfo};
use dominion_sim::player_events::Notice;
use rkyv::{Archive, Deserialize, Serialize};

pub use event_enums::{EventBody, ScoutWire};

/// Server → client push: something that happened to the player this tick.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PlayerEvent {
    /// World tick it happened at.
    pub tick: u64,
    /// What happened.
    pub event: EventBody,
}

/// One army in a battle report.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ParticipantWire {
    /// 0 city, 1 march, 2 monster.
    pub kind: u8,
    /// Owner (0 for a monster).
    pub player: u64,
    /// The city, march or monster object.
    pub object: u64,
    /// A monster's kind index (0 otherwise).
    pub monster_kind: u16,
    /// Troops before.
    pub before: Vec<u32>,
    /// Troops fit to fight after.
    pub after: Vec<u32>,
    /// Troops wounded.
    pub wounded: Vec<u32>,
    /// Troops dead.
    pub dead: Vec<u32>,
    /// Resources won.
    pub gained: [u64; 4],
    /// Resources lost.
    pub lost: [u64; 4],
}

/// A battle report.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BattleReportWire {
    /// Battle number (unique in the kingdom).
    pub battle: u64,
    /// Tick it was fought.
    pub tick: u64,
    /// Config version whose rules applied.
    pub config_version: u32,
    /// Tile column.
    pub x: u16,
    /// Tile row.
    pub y: u16,
    /// The attacking side.
    pub attackers: Vec<ParticipantWire>,
    /// The defending side (garrison first, then reinforcements).
    pub defenders: Vec<ParticipantWire>,
    /// Rounds fought.
    pub rounds: u32,
    /// True if the attacker won.
    pub attacker_won: bool,
}

// rkyv's derive does not copy docs onto archived enum variant fields (see `messages.rs`).
#[allow(missing_docs)]
mod event_enums {
    use rkyv::{Archive, Deserialize, Serialize};

    use super::BattleReportWire;

    /// What happened. Append-only: the archived discriminant is the variant's position.
    #[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
    pub enum EventBody {
        /// The player's march reached its target tile.
        MarchArrived { march: u64, x: u16, y: u16 },
        /// The player's march could not act and turns home (failure code).
        MarchFailed { march: u64, reason: u8 },
        /// The player's march is home with troops, wounded and load.
        MarchReturned {
            march: u64,
            troops: Vec<u32>,
            wounded: Vec<u32>,
            load: [u64; 4],
        },
        /// The player's march lost every troop; its load is lost.
        MarchDestroyed { march: u64, load_lost: [u64; 4] },
        /// The player's march was attacked by player `by` (battle `battle`).
        MarchIntercepted { march: u64, by: u64, battle: u64 },
        /// The player's march loaded `amount` of resource `kind` from `field`.
        Gathered {
            march: u64,
            field: u64,
            kind: u8,
            amount: u64,
        },
        /// A battle the player fought in.
        Battle(BattleReportWire),
        /// What the player's scout saw at `target`.
        Scout {
            march: u64,
            target: u64,
            info: ScoutWire,
        },
        /// A hostile march (mission code) set out for the player's city or march `target`.
        IncomingAttack {
            march: u64,
            from: u64,
            mission: u8,
            target: u64,
            arrival_tick: u64,
        },
    }

    /// What a scout saw. Append-only.
    #[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
    pub enum ScoutWire {
        /// A city: defenders (garrison and reinforcements) and storehouse.
        City {
            owner: u64,
            troops: Vec<u32>,
            resources: [u64; 4],
        },
        /// A monster of kind index `kind`.
        Monster { kind: u16, troops: Vec<u32> },
        /// A field: resource code, what is left, who gathers it.
        Field {
            kind: u8,
            remaining: u64,
            gatherer: Option<u64>,
        },
        /// A march: owner, troops, load.
        March {
            owner: u64,
            troops: Vec<u32>,
            load: [u64; 4],
        },
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

fn failure_code(f: ArrivalFailure) -> u8 {
    match f {
        ArrivalFailure::TargetGone => 0,
        ArrivalFailure::FieldOccupied => 1,
        ArrivalFailure::NoCapacity => 2,
        ArrivalFailure::Friendly => 3,
        ArrivalFailure::NotAllied => 4,
        ArrivalFailure::OutOfReach => 5,
    }
}

fn participant(p: &Participant) -> ParticipantWire {
    let (kind, player, object, monster_kind) = match p.who {
        Combatant::City { player, city } => (0, player.0, city.0, 0),
        Combatant::March { player, march } => (1, player.0, march.0, 0),
        Combatant::Monster { monster, kind } => (2, 0, monster.0, kind),
    };
    ParticipantWire {
        kind,
        player,
        object,
        monster_kind,
        before: p.before.0.clone(),
        after: p.after.0.clone(),
        wounded: p.wounded.0.clone(),
        dead: p.dead.0.clone(),
        gained: p.gained.0,
        lost: p.lost.0,
    }
}

impl BattleReportWire {
    /// The wire form of a report.
    pub fn of(r: &BattleReport) -> BattleReportWire {
        BattleReportWire {
            battle: r.battle,
            tick: r.tick,
            config_version: r.config_version,
            x: r.at.x,
            y: r.at.y,
            attackers: r.attackers.iter().map(participant).collect(),
            defenders: r.defenders.iter().map(participant).collect(),
            rounds: r.rounds,
            attacker_won: r.attacker_won,
        }
    }
}

impl ScoutWire {
    /// The wire form of what a scout saw.
    pub fn of(info: &ScoutInfo) -> ScoutWire {
        match info {
            ScoutInfo::City {
                owner,
                troops,
                resources,
            } => ScoutWire::City {
                owner: owner.0,
                troops: troops.0.clone(),
                resources: resources.0,
            },
            ScoutInfo::Monster { kind, troops } => ScoutWire::Monster {
                kind: *kind,
                troops: troops.0.clone(),
            },
            ScoutInfo::Field {
                kind,
                remaining,
                gatherer,
            } => ScoutWire::Field {
                kind: kind.index() as u8,
                remaining: *remaining,
                gatherer: gatherer.map(|g| g.0),
            },
            ScoutInfo::March {
                owner,
                troops,
                load,
            } => ScoutWire::March {
                owner: owner.0,
                troops: troops.0.clone(),
                load: load.0,
            },
        }
    }
}

impl EventBody {
    /// The wire form of a notice.
    pub fn of(n: &Notice) -> EventBody {
        match n {
            Notice::MarchArrived { march, pos } => EventBody::MarchArrived {
                march: march.0,
                x: pos.x,
                y: pos.y,
            },
            Notice::MarchFailed { march, reason } => EventBody::MarchFailed {
                march: march.0,
                reason: failure_code(*reason),
            },
            Notice::MarchReturned {
                march,
                troops,
                wounded,
                load,
            } => EventBody::MarchReturned {
                march: march.0,
                troops: troops.0.clone(),
                wounded: wounded.0.clone(),
                load: load.0,
            },
            Notice::MarchDestroyed { march, load_lost } => EventBody::MarchDestroyed {
                march: march.0,
                load_lost: load_lost.0,
            },
            Notice::MarchIntercepted { march, by, battle } => EventBody::MarchIntercepted {
                march: march.0,
                by: by.0,
                battle: *battle,
            },
            Notice::Gathered {
                march,
                field,
                kind,
                amount,
            } => EventBody::Gathered {
                march: march.0,
                field: field.0,
                kind: kind.index() as u8,
                amount: *amount,
            },
            Notice::Battle(r) => EventBody::Battle(BattleReportWire::of(r)),
            Notice::Scout {
                march,
                target,
                info,
            } => EventBody::Scout {
                march: march.0,
                target: target.0,
                info: ScoutWire::of(info),
            },
            Notice::IncomingAttack {
                march,
                from,
                mission,
                target,
                arrival_tick,
            } => EventBody::IncomingAttack {
                march: march.0,
                from: from.0,
                mission: mission_code(*mission),
                target: target.0,
                arrival_tick: *arrival_tick,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{MessageType, ServerMessage};
    use dominion_sim::types::{ObjectId, PlayerId, ResourceKind, Resources, TilePos, Troops};
    use std::sync::Arc;

    fn report() -> BattleReport {
        BattleReport {
            battle: 9,
            tick: 300,
            config_version: 2,
            at: TilePos::new(5, 6),
            attackers: vec![Participant {
                who: Combatant::March {
                    player: PlayerId(1),
                    march: ObjectId(77),
                },
                before: Troops(vec![100]),
                after: Troops(vec![90]),
                wounded: Troops(vec![7]),
                dead: Troops(vec![3]),
                gained: Resources([5, 0, 0, 0]),
                lost: Resources::default(),
            }],
            defenders: vec![Participant {
                who: Combatant::City {
                    player: PlayerId(2),
                    city: ObjectId(8),
                },
                before: Troops(vec![10, 1]),
                after: Troops(vec![0, 0]),
                wounded: Troops(vec![6, 1]),
                dead: Troops(vec![4, 0]),
                gained: Resources::default(),
                lost: Resources([5, 0, 0, 0]),
            }],
            rounds: 3,
            attacker_won: true,
        }
    }

    #[test]
    fn every_notice_kind_survives_a_frame() {
        let notices = vec![
            Notice::MarchArrived {
                march: ObjectId(1),
                pos: TilePos::new(3, 4),
            },
            Notice::MarchFailed {
                march: ObjectId(1),
                reason: ArrivalFailure::OutOfReach,
            },
            Notice::Gathered {
                march: ObjectId(1),
                field: ObjectId(2),
                kind: ResourceKind::Stone,
                amount: 450,
            },
            Notice::Battle(Arc::new(report())),
            Notice::Scout {
                march: ObjectId(1),
                target: ObjectId(2),
                info: ScoutInfo::Field {
                    kind: ResourceKind::Gold,
                    remaining: 10,
                    gatherer: None,
                },
            },
            Notice::IncomingAttack {
                march: ObjectId(5),
                from: PlayerId(2),
                mission: Mission::Attack,
                target: ObjectId(8),
                arrival_tick: 420,
            },
        ];
        for n in &notices {
            let msg = ServerMessage::from(PlayerEvent {
                tick: 3,
                event: EventBody::of(n),
            });
            let body = msg.encode_body().unwrap();
            let back = ServerMessage::decode(MessageType::PlayerEvent.id(), &body).unwrap();
            assert_eq!(back, msg);
        }
        let EventBody::Battle(w) = EventBody::of(&notices[3]) else {
            panic!("a battle")
        };
        assert_eq!(
            (w.x, w.y, w.attackers[0].kind, w.defenders[0].kind),
            (5, 6, 1, 0)
        );
        assert_eq!(w.defenders[0].lost, [5, 0, 0, 0]);
        let EventBody::Gathered { kind, .. } = EventBody::of(&notices[2]) else {
            panic!("gathered")
        };
        assert_eq!(kind, 2);
    }
}
