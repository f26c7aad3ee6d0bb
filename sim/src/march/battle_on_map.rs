//! Battle on the map, the world side: gathering the armies at the target (a monster, a city
//! with its garrison and stationed reinforcements, a march within reach), applying the losses
//! [`crate::battle`] computes, loot, who goes home and who is wiped out, and the report.

use bevy_ecs::prelude::*;

use super::clock::MarchClock;
use super::gathering::{settle_gathering, start_gathering};
use super::reinforcement::stationed_at;
use super::travel::{destroy, fail, go_home};
use super::{March, MarchState};
use crate::active_config::ActiveConfig;
use crate::battle::{fight, split_losses, wounded_and_dead};
use crate::city::{City, Players};
use crate::events::{Outbox, WorldEvent};
use crate::map::{MapObject, Monster};
use crate::monster::{defeat_monster, monster_troops};
use crate::types::{
    ArrivalFailure, BattleReport, Combatant, ObjectId, Participant, Resources, TilePos, Troops,
};

/// Battle numbers handed out so far.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BattleCounter(pub u64);

/// One army in a battle and where its troops live.
#[derive(Clone, Copy)]
enum Army {
    March(Entity),
    City(Entity),
    Monster(Entity, ObjectId),
}

/// Resolves an attack by the march `entity` on `target` (a monster, city or march).
pub(super) fn attack(world: &mut World, entity: Entity, target: Entity, now: u64) {
    let Some(att) = world.get::<March>(entity).cloned() else {
        return;
    };
    let here = att.route.destination();
    let mut armies: Vec<(Army, Combatant, Troops)> = Vec::new();
    if let Some(m) = world.get::<Monster>(target).copied() {
        let Some(obj) = world.get::<MapObject>(target).copied() else {
            return;
        };
        armies.push((
            Army::Monster(target, obj.id),
            Combatant::Monster {
                monster: obj.id,
                kind: m.kind,
            },
            monster_troops(world, m.kind),
        ));
    } else if let Some(c) = world.get::<City>(target).cloned() {
        if world.resource::<Players>().friendly(att.owner, c.owner) {
            return fail(world, entity, now, ArrivalFailure::Friendly);
        }
        let Some(id) = world.get::<MapObject>(target).map(|o| o.id) else {
            return;
        };
        armies.push((
            Army::City(target),
            Combatant::City {
                player: c.owner,
                city: id,
            },
            c.troops.clone(),
        ));
        for (mid, e) in stationed_at(world, id) {
            if let Some(m) = world.get::<March>(e) {
                armies.push((
                    Army::March(e),
                    Combatant::March {
                        player: m.owner,
                        march: mid,
                    },
                    m.troops.clone(),
                ));
            }
        }
    } else if let Some(t) = world.get::<March>(target).cloned() {
        if world.resource::<Players>().friendly(att.owner, t.owner) {
            return fail(world, entity, now, ArrivalFailure::Friendly);
        }
        if matches!(t.state, MarchState::Stationed { .. }) {
            return fail(world, entity, now, ArrivalFailure::TargetGone);
        }
        let range = world
            .resource::<ActiveConfig>()
            .assets
            .marches
            .march
            .intercept_range;
        let there = t.position_at(now);
        if u32::from(there.x.abs_diff(here.x).max(there.y.abs_diff(here.y))) > range {
            return fail(world, entity, now, ArrivalFailure::OutOfReach);
        }
        if matches!(t.state, MarchState::Gathering { .. }) {
            settle_gathering(world, target, now);
        }
        let troops = world
            .get::<March>(target)
            .map(|m| m.troops.clone())
            .unwrap_or_default();
        armies.push((
            Army::March(target),
            Combatant::March {
                player: t.owner,
                march: t.id,
            },
            troops,
        ));
    } else {
        return fail(world, entity, now, ArrivalFailure::TargetGone);
    }
    battle(world, entity, &att, armies, here, now);
}

/// Fights the battle of `att` against `defenders` at `at`: the losses [`fight`] computes are
/// applied to the armies, the winner takes its spoils, survivors go on, and the report goes out
/// ([`WorldEvent::BattleReport`], and [`WorldEvent::ResourcesChanged`] for a looted city).
fn battle(
    world: &mut World,
    attacker: Entity,
    att: &March,
    defenders: Vec<(Army, Combatant, Troops)>,
    at: TilePos,
    now: u64,
) {
    let config = world.resource::<ActiveConfig>().clone();
    let (units, rules) = (&config.assets.units, &config.assets.marches.battle);
    let mut defending = Troops::default();
    for (_, _, t) in &defenders {
        defending.add_all(t);
    }
    let f = fight(&att.troops, &defending, units, rules);
    let def_armies: Vec<Troops> = defenders.iter().map(|(_, _, t)| t.clone()).collect();
    let def_shares = split_losses(&def_armies, &f.defender_losses);

    let participant = |who: Combatant, before: &Troops, loss: &Troops| {
        let (wounded, dead) = wounded_and_dead(loss, rules.wounded_permille);
        let mut after = before.clone();
        after.sub_all(loss);
        Participant {
            who,
            before: before.clone(),
            after,
            wounded,
            dead,
            gained: Resources::default(),
            lost: Resources::default(),
        }
    };
    let mut attackers = vec![participant(
        Combatant::March {
            player: att.owner,
            march: att.id,
        },
        &att.troops,
        &f.attacker_losses,
    )];
    let mut defs: Vec<Participant> = defenders
        .iter()
        .zip(&def_shares)
        .map(|((_, who, before), loss)| participant(*who, before, loss))
        .collect();

    apply_losses(world, Army::March(attacker), &attackers[0]);
    for ((army, _, _), p) in defenders.iter().zip(&defs) {
        apply_losses(world, *army, p);
    }
    let attacker_won = !attackers[0].after.is_empty() && defs.iter().all(|p| p.after.is_empty());
    let mut looted_city = None;
    if attacker_won {
        let spoils = take_spoils(world, defenders[0].0, &mut defs[0], rules.loot_permille);
        if let Army::City(e) = defenders[0].0
            && let Some(c) = world.get::<City>(e)
        {
            looted_city = Some((c.owner, c.resources));
        }
        if let Some(mut m) = world.get_mut::<March>(attacker) {
            m.load.add_all(&spoils);
        }
        attackers[0].gained.add_all(&spoils);
    }
    survivors_go_on(
        world,
        attacker,
        &mut attackers[0],
        &defenders,
        &mut defs,
        now,
    );

    let mut counter = world.resource_mut::<BattleCounter>();
    counter.0 += 1;
    let report = BattleReport {
        battle: counter.0,
        tick: now,
        config_version: config.version,
        at,
        attackers,
        defenders: defs,
        rounds: f.rounds,
        attacker_won,
    };
    let mut outbox = world.resource_mut::<Outbox>();
    outbox.push(WorldEvent::BattleReport(Box::new(report)));
    if let Some((player, resources)) = looted_city
        && let Some(city) = defenders.first().map(|d| d.1)
        && let Combatant::City { city, .. } = city
    {
        outbox.push(WorldEvent::ResourcesChanged {
            player,
            city,
            resources,
        });
    }
}

/// Applies one side's losses to the army that lives in the world (a monster's army is rebuilt
/// from its kind each fight, so it keeps none).
fn apply_losses(world: &mut World, army: Army, p: &Participant) {
    match army {
        Army::March(e) => {
            if let Some(mut m) = world.get_mut::<March>(e) {
                m.troops = p.after.clone();
                m.wounded.add_all(&p.wounded);
            }
        }
        Army::City(e) => {
            if let Some(mut c) = world.get_mut::<City>(e) {
                c.troops = p.after.clone();
                c.wounded.add_all(&p.wounded);
            }
        }
        Army::Monster(..) => {}
    }
}

/// The spoils of a won battle from the first defender: a monster's rewards (it is defeated), or
/// `loot_permille` of a city's storehouse or a march's load (booked as `lost` on its side).
fn take_spoils(
    world: &mut World,
    army: Army,
    loser: &mut Participant,
    loot_permille: u32,
) -> Resources {
    match army {
        Army::Monster(e, id) => defeat_monster(world, id, e),
        Army::City(e) => {
            let mut loot = Resources::default();
            if let Some(mut c) = world.get_mut::<City>(e) {
                loot = c.resources.share_permille(loot_permille);
                c.resources.sub_all(&loot);
            }
            loser.lost.add_all(&loot);
            loot
        }
        Army::March(e) => {
            let mut loot = Resources::default();
            if let Some(mut m) = world.get_mut::<March>(e) {
                loot = m.load.share_permille(loot_permille);
                m.load.sub_all(&loot);
            }
            loser.lost.add_all(&loot);
            loot
        }
    }
}

/// After the battle: the attacker turns home (or ends, wiped out, losing its load); beaten
/// defending marches go home; wiped-out ones end; a gatherer that held its ground goes back to
/// work (or home when it cannot).
fn survivors_go_on(
    world: &mut World,
    attacker: Entity,
    att: &mut Participant,
    defenders: &[(Army, Combatant, Troops)],
    defs: &mut [Participant],
    now: u64,
) {
    let wiped = |world: &World, e: Entity| {
        world
            .get::<March>(e)
            .is_some_and(|m| m.troops.is_empty() && m.wounded.is_empty())
    };
    if wiped(world, attacker) {
        let lost = destroy(world, attacker);
        att.lost.add_all(&lost);
    } else {
        go_home(world, attacker, now);
    }
    for ((army, _, _), p) in defenders.iter().zip(defs.iter_mut()) {
        let Army::March(e) = *army else { continue };
        let Some(state) = world.get::<March>(e).map(|m| m.state) else {
            continue;
        };
        if wiped(world, e) {
            let lost = destroy(world, e);
            p.lost.add_all(&lost);
        } else if p.after.is_empty() {
            if state != MarchState::Returning {
                go_home(world, e, now);
            }
        } else if state == MarchState::Outbound
            && world
                .get::<MarchClock>(e)
                .is_some_and(|c| c.next == MarchClock::IDLE)
        {
            let field = world.get::<March>(e).map(|m| m.target);
            let restarted = field.is_some_and(|f| start_gathering(world, e, f, now).is_ok());
            if !restarted {
                go_home(world, e, now);
            }
        }
    }
}
