//! Converting gameplay commands between the wire (`dominion-net`) and the sim (`dominion-sim`).
//!
//! The wire form is checked for shape by `net`; here it becomes a typed sim [`Command`], and sim
//! outcomes and refusals become wire outcomes with stable numeric reason codes.

use dominion_net::proto::{CommandBody, CommandOutcome as WireOutcome};
use dominion_sim::command::{Command, CommandOutcome, Refusal};
use dominion_sim::march::Mission;
use dominion_sim::types::{ObjectId, TilePos, Troops, TroopsError};

/// Refusal code for a command whose wire form the sim can't express (an unknown mission code).
pub const REFUSAL_BAD_MISSION: u16 = 1;
/// Refusal code for a troop list naming a unit type twice or with a count of zero.
pub const REFUSAL_BAD_TROOPS: u16 = 2;

/// Refusal code for a command refused because the server's saves are far behind (the database
/// is slow or down and the tick-input journal reached its bound); nothing changed, retry later.
pub const REFUSAL_SAVING_BEHIND: u16 = 3;

/// The answer to a command refused with [`REFUSAL_SAVING_BEHIND`].
pub fn saving_behind() -> WireOutcome {
    WireOutcome::Refused {
        reason_code: REFUSAL_SAVING_BEHIND,
        message: "the server is catching up on saving the world; retry in a few seconds".to_owned(),
    }
}

/// Refusal code for a command refused because the server cannot make commands durable right now
/// (its tick-input journal cannot be written: the disk is full or failing); nothing changed,
/// retry later.
pub const REFUSAL_JOURNAL_UNAVAILABLE: u16 = 4;

/// The answer to a command refused with [`REFUSAL_JOURNAL_UNAVAILABLE`]; `disk_full` says whether
/// the disk is full (else it cannot be written for another reason).
pub fn journal_unavailable(disk_full: bool) -> WireOutcome {
    let why = if disk_full {
        "its disk is full"
    } else {
        "its disk cannot be written"
    };
    WireOutcome::Refused {
        reason_code: REFUSAL_JOURNAL_UNAVAILABLE,
        message: format!(
            "the server cannot record commands right now ({why}); nothing was changed, retry later"
        ),
    }
}

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
///
/// Troops are checked against `unit_types` (the number of unit types in the active config)
/// before anything is sized by them: an unknown type is refused with the sim's own
/// [`Refusal::UnknownUnitType`] code, a duplicate or zero entry with [`REFUSAL_BAD_TROOPS`].
pub fn command_from_wire(body: &CommandBody, unit_types: usize) -> Result<Command, WireOutcome> {
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
            let troops = match Troops::from_pairs(troops, unit_types) {
                Ok(t) => t,
                Err(TroopsError::UnknownUnit { unit, .. }) => {
                    return Err(outcome_to_wire(&Err(Refusal::UnknownUnitType { unit })));
                }
                Err(e @ (TroopsError::Duplicate { .. } | TroopsError::ZeroCount { .. })) => {
                    return Err(WireOutcome::Refused {
                        reason_code: REFUSAL_BAD_TROOPS,
                        message: e.to_string(),
                    });
                }
            };
            Ok(Command::SendMarch {
                troops,
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
        Refusal::RelocationCooldown { .. } => 30,
        Refusal::CannotAfford { .. } => 31,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn march(troops: Vec<(u16, u32)>) -> CommandBody {
        CommandBody::SendMarch {
            troops,
            target: 1,
            mission: 1,
        }
    }

    fn refusal(r: Result<Command, WireOutcome>) -> (u16, String) {
        match r {
            Err(WireOutcome::Refused {
                reason_code,
                message,
            }) => (reason_code, message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_unit_type_is_refused_with_the_sims_code() {
        let (code, message) = refusal(command_from_wire(&march(vec![(65535, 1)]), 4));
        assert_eq!(
            code,
            refusal_code(&Refusal::UnknownUnitType { unit: 65535 })
        );
        assert_eq!(message, "unknown troop type #65535");
        // One past the last type is unknown too.
        let (code, _) = refusal(command_from_wire(&march(vec![(0, 5), (4, 1)]), 4));
        assert_eq!(code, 16);
    }

    #[test]
    fn duplicate_and_zero_entries_are_refused() {
        let (code, message) = refusal(command_from_wire(&march(vec![(1, 2), (1, 3)]), 4));
        assert_eq!(
            (code, message.as_str()),
            (REFUSAL_BAD_TROOPS, "troop type #1 is listed twice")
        );
        let (code, message) = refusal(command_from_wire(&march(vec![(2, 0)]), 4));
        assert_eq!(
            (code, message.as_str()),
            (REFUSAL_BAD_TROOPS, "troop type #2 has a count of 0")
        );
    }

    #[test]
    fn known_troops_convert_sized_by_the_highest_type_used() {
        match command_from_wire(&march(vec![(2, 10), (0, 3)]), 4) {
            Ok(Command::SendMarch {
                troops, mission, ..
            }) => {
                assert_eq!(troops, Troops(vec![3, 0, 10]));
                assert_eq!(mission, Mission::Attack);
            }
            other => panic!("expected a march, got {other:?}"),
        }
    }
}
