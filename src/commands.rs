//! Converting gameplay commands between the wire (`dominion-net`) and the sim (`dominion-sim`).
//!
//! The wire form is checked for shape by `net`; here it becomes a typed sim [`Command`], and sim
//! outcomes and refusals become wire outcomes with stable numeric reason codes.

use dominion_net::proto::{CommandBody, CommandOutcome as WireOutcome};
use dominion_sim::command::{Command, CommandOutcome, Refusal};
use dominion_sim::march::Mission;
use dominion_sim::types::{ObjectId, TilePos, Troops, UnitTypeId};

/// Refusal code for a command whose wire form the sim can't express (an unknown mission code).
pub const REFUSAL_BAD_MISSION: u16 = 1;

/// The wire's mission codes.
pub fn mission_from_code(code: u8) -> Option<Mission> {
    match code {
        0 => Some(Mission::Gather),
        1 => Some(Mission::Attack),
        2 => Some(Mission::Reinforce),
        3 => Some(Mission::Scout),
        _ => None,
    }
}

/// The wire code of a mission.
pub fn mission_code(mission: Mission) -> u8 {
    match mission {
        Mission::Gather => 0,
        Mission::Attack => 1,
        Mission::Reinforce => 2,
        Mission::Scout => 3,
    }
}

/// Turns a validated wire command into a sim command, or a refusal the client gets at once.
pub fn command_from_wire(body: &CommandBody) -> Result<Command, WireOutcome> {
    match body {
        CommandBody::SendMarch {
            troops,
            target,
            mission,
        } => {
            let Some(mission) = mission_from_code(*mission) else {
                return Err(WireOutcome::Refused {
                    reason_code: REFUSAL_BAD_MISSION,
                    message: format!("unknown mission code {mission}"),
                });
            };
            let mut t = Troops::default();
            for &(unit, count) in troops {
                let have = t.get(UnitTypeId(unit));
                t.set(UnitTypeId(unit), have.saturating_add(count));
            }
            Ok(Command::SendMarch {
                troops: t,
                target: ObjectId(*target),
                mission,
            })
        }
        CommandBody::Recall { march_id } => Ok(Command::Recall {
            march: ObjectId(*march_id),
        }),
        CommandBody::RelocateCity { x, y } => Ok(Command::RelocateCity {
            to: TilePos::new(*x, *y),
        }),
    }
}

/// Stable wire code of a refusal (10 and up; codes below 10 are the gateway's own).
pub fn refusal_code(r: &Refusal) -> u16 {
    match r {
        Refusal::NoCity => 10,
        Refusal::UnknownMarch => 11,
        Refusal::NotYourMarch => 12,
        Refusal::AlreadyReturning => 13,
        Refusal::NoTroops => 14,
        Refusal::ScoutTakesNoTroops => 15,
        Refusal::UnknownUnitType { .. } => 16,
        Refusal::TooManyTroops { .. } => 17,
        Refusal::NotEnoughTroops { .. } => 18,
        Refusal::QueueFull { .. } => 19,
        Refusal::TargetGone => 20,
        Refusal::WrongTarget { .. } => 21,
        Refusal::OwnTarget => 22,
        Refusal::AlliedTarget => 23,
        Refusal::NotAllied => 24,
        Refusal::OutsideMap { .. } => 25,
        Refusal::TileNotBuildable { .. } => 26,
        Refusal::TileOccupied { .. } => 27,
        Refusal::MarchesOut { .. } => 28,
        Refusal::Unreachable => 29,
    }
}

/// A sim result as a wire outcome.
pub fn outcome_to_wire(result: &Result<CommandOutcome, Refusal>) -> WireOutcome {
    match result {
        Ok(CommandOutcome::MarchSent {
            march,
            arrival_tick,
        }) => WireOutcome::MarchSent {
            march_id: march.0,
            arrival_tick: *arrival_tick,
        },
        Ok(CommandOutcome::Recalled {
            march,
            arrival_tick,
        }) => WireOutcome::Recalled {
            march_id: march.0,
            arrival_tick: *arrival_tick,
        },
        Ok(CommandOutcome::Relocated { city, to }) => WireOutcome::Relocated {
            city_id: city.0,
            x: to.x,
            y: to.y,
        },
        Err(r) => WireOutcome::Refused {
            reason_code: refusal_code(r),
            message: r.to_string(),
        },
    }
}
