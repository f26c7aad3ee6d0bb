//! What each player is told about a tick: the world's events turned into [`Notice`]s addressed
//! to every player concerned — the owner of a march that arrived, failed, came home, was
//! destroyed or gathered; both sides of a battle and the owners of reinforcements in it; a
//! scout's owner; and the owner of a city or march a hostile march sets out for (with its ETA).
//!
//! A pure function of the events (and, for incoming attacks, of who owns the target), costing
//! the events of the tick. Not responsible for: who is online, pushes or mail (the host
//! delivers notices to sessions and mailboxes).

use std::sync::Arc;

use bevy_ecs::prelude::*;

use crate::battle::{BattleReport, Combatant};
use crate::city::City;
use crate::events::WorldEvent;
use crate::map::ObjectIndex;
use crate::march::{ArrivalFailure, March, Mission, ScoutInfo};
use crate::types::{ObjectId, PlayerId, ResourceKind, Resources, TilePos, Troops};

/// Something one player is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Their march reached its target.
    MarchArrived {
        /// The march.
        march: ObjectId,
        /// Where.
        pos: TilePos,
    },
    /// Their march could not do what it came for and turns home.
    MarchFailed {
        /// The march.
        march: ObjectId,
        /// Why.
        reason: ArrivalFailure,
    },
    /// Their march is home with what it brought.
    MarchReturned {
        /// The march.
        march: ObjectId,
        /// Troops back fit to fight.
        troops: Troops,
        /// Wounded brought back.
        wounded: Troops,
        /// Resources brought back.
        load: Resources,
    },
    /// Their march lost every troop and is gone.
    MarchDestroyed {
        /// The march.
        march: ObjectId,
        /// Resources it carried, now lost.
        load_lost: Resources,
    },
    /// Their march was attacked by another player's march (the battle report follows).
    MarchIntercepted {
        /// Their march.
        march: ObjectId,
        /// The attacking player.
        by: PlayerId,
        /// The battle's number (see the report).
        battle: u64,
    },
    /// Their march loaded resources from a field.
    Gathered {
        /// The march.
        march: ObjectId,
        /// The field.
        field: ObjectId,
        /// What.
        kind: ResourceKind,
        /// How much.
        amount: u64,
    },
    /// A battle they fought in (one report, shared by every side).
    Battle(Arc<BattleReport>),
    /// What their scout saw.
    Scout {
        /// The scouting march.
        march: ObjectId,
        /// The object scouted.
        target: ObjectId,
        /// What it saw.
        info: ScoutInfo,
    },
    /// A hostile march set out for their city or one of their marches.
    IncomingAttack {
        /// The hostile march.
        march: ObjectId,
        /// Its owner.
        from: PlayerId,
        /// Attack or scout.
        mission: Mission,
        /// Their city or march it goes to.
        target: ObjectId,
        /// Tick it arrives.
        arrival_tick: u64,
    },
}

/// The owner of a city or march standing in the world now.
fn owner_of(world: &World, id: ObjectId) -> Option<PlayerId> {
    let e = world.resource::<ObjectIndex>().entity(id)?;
    world
        .get::<City>(e)
        .map(|c| c.owner)
        .or_else(|| world.get::<March>(e).map(|m| m.owner))
}

/// Appends the notices of `events` (one tick's, in order) to `out` as (recipient, notice), in
/// event order. Reads [`ObjectIndex`], cities and marches (incoming attacks' targets).
pub fn notices(world: &World, events: &[WorldEvent], out: &mut Vec<(PlayerId, Notice)>) {
    for event in events {
        match event {
            WorldEvent::MarchArrived { march, player, pos } => out.push((
                *player,
                Notice::MarchArrived {
                    march: *march,
                    pos: *pos,
                },
            )),
            WorldEvent::MarchFailed {
                march,
                player,
                reason,
            } => out.push((
                *player,
                Notice::MarchFailed {
                    march: *march,
                    reason: *reason,
                },
            )),
            WorldEvent::MarchReturned {
                march,
                player,
                troops,
                wounded,
                load,
            } => out.push((
                *player,
                Notice::MarchReturned {
                    march: *march,
                    troops: troops.clone(),
                    wounded: wounded.clone(),
                    load: *load,
                },
            )),
            WorldEvent::MarchDestroyed {
                march,
                player,
                load_lost,
            } => out.push((
                *player,
                Notice::MarchDestroyed {
                    march: *march,
                    load_lost: *load_lost,
                },
            )),
            WorldEvent::Gathered {
                march,
                player,
                field,
                kind,
                amount,
            } => out.push((
                *player,
                Notice::Gathered {
                    march: *march,
                    field: *field,
                    kind: *kind,
                    amount: *amount,
                },
            )),
            WorldEvent::BattleReport(report) => battle_notices(report, out),
            WorldEvent::ScoutReport {
                march,
                player,
                target,
                info,
            } => out.push((
                *player,
                Notice::Scout {
                    march: *march,
                    target: *target,
                    info: info.clone(),
                },
            )),
            WorldEvent::MarchStarted {
                march,
                player,
                mission: mission @ (Mission::Attack | Mission::Scout),
                target,
                route,
                ..
            } => {
                if let Some(owner) = owner_of(world, *target)
                    && owner != *player
                {
                    out.push((
                        owner,
                        Notice::IncomingAttack {
                            march: *march,
                            from: *player,
                            mission: *mission,
                            target: *target,
                            arrival_tick: route.arrival_tick(),
                        },
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Every player in a battle gets the report once; owners of marches attacked by a player's
/// march are also told their march was intercepted.
fn battle_notices(report: &BattleReport, out: &mut Vec<(PlayerId, Notice)>) {
    let shared = Arc::new(report.clone());
    let mut told: Vec<PlayerId> = Vec::new();
    for p in report.attackers.iter().chain(&report.defenders) {
        if let Some(player) = p.who.player()
            && !told.contains(&player)
        {
            told.push(player);
            out.push((player, Notice::Battle(shared.clone())));
        }
    }
    let attacker = report.attackers.first().and_then(|p| p.who.player());
    if let (Some(by), Some(first)) = (attacker, report.defenders.first())
        && let Combatant::March { player, march } = first.who
    {
        out.push((
            player,
            Notice::MarchIntercepted {
                march,
                by,
                battle: report.battle,
            },
        ));
    }
}
