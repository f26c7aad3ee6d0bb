//! One scenario through the main rules — gather, fight a monster, fight a player, recall — with
//! the exact outcome numbers. Battle numbers are worked out by hand in the comments from
//! `units.toml` and `marches.toml` (infantry: attack 10, defence 12, health 30; archers: attack
//! 14, ×1.3 against infantry; defence factor 100/(100+defence); wounded share 0.7; loot 0.3).

mod common;

use common::{city_pos, fields_near, kingdom, monsters_near, run_until};
use dominion_sim::battle::Combatant;
use dominion_sim::city::City;
use dominion_sim::command::{Command, CommandOutcome};
use dominion_sim::events::WorldEvent;
use dominion_sim::march::Mission;
use dominion_sim::march::path::octile;
use dominion_sim::types::{PlayerId, ResourceKind, Resources, Troops};

const A: PlayerId = PlayerId(1);
const B: PlayerId = PlayerId(2);

fn sent(events: &[WorldEvent], request: u32) -> (dominion_sim::types::ObjectId, u64) {
    events
        .iter()
        .find_map(|e| match e {
            WorldEvent::CommandResult {
                request_id,
                result:
                    Ok(CommandOutcome::MarchSent {
                        march,
                        arrival_tick,
                    }),
                ..
            } if *request_id == request => Some((*march, *arrival_tick)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("request {request} not accepted: {events:?}"))
}

fn city(k: &dominion_sim::Kingdom, p: PlayerId) -> City {
    k.city(p).expect("city").1.clone()
}

#[test]
fn gather_fight_a_monster_fight_a_player_recall() {
    let mut k = kingdom(7, 2);
    let start = city(&k, A);
    let home = city_pos(&mut k, A);

    // 1. Gather: 1000 infantry carry 1000 × 10 = 10,000; at 6000 per minute and 10 Hz that is
    //    10 per tick, so 1000 ticks at the field.
    let (field, remaining) = fields_near(&mut k, home, ResourceKind::Food)[0];
    k.submit(
        A,
        1,
        Command::SendMarch {
            troops: Troops(vec![1000]),
            target: field,
            mission: Mission::Gather,
        },
    );
    k.tick();
    let ev = k.drain_events();
    let (march, arrival) = sent(&ev, 1);
    assert_eq!(city(&k, A).troops.get(Default::default()), 19_000);
    let amount = remaining.min(10_000);
    let events = run_until(&mut k, 5000, |e| {
        matches!(e, WorldEvent::MarchReturned { .. })
    });
    let gathered: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            WorldEvent::Gathered { amount, .. } => Some(*amount),
            _ => None,
        })
        .collect();
    assert_eq!(gathered, vec![amount]);
    let back_route = events
        .iter()
        .find_map(|e| match e {
            WorldEvent::MarchReturning { route, .. } => Some(route.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(back_route.depart_tick, arrival + amount.div_ceil(10));
    assert_eq!(k.tick_count(), back_route.arrival_tick());
    assert!(k.march(march).is_none());
    let c = city(&k, A);
    assert_eq!(c.troops, start.troops);
    assert_eq!(c.resources.get(ResourceKind::Food), 1_000_000 + amount);

    // 2. Monster: 1000 infantry vs barbarians_1 (200 infantry, 120 archers). Round 1: the
    //    infantry take 1000×10×(200/320)×0.892 = 5575 damage → 185 dead; archers 3536 → all 120;
    //    our side takes (200×10 + 120×14×1.3)×0.892 = 3732 → 124. Round 2: 876 finish the last
    //    15, who deal 133 → 4. Lost 128: 89 wounded (70%), 39 dead. Rewards 4000 food, 4000 wood.
    let monster = monsters_near(&mut k, home, 0)[0];
    k.submit(
        A,
        2,
        Command::SendMarch {
            troops: Troops(vec![1000]),
            target: monster,
            mission: Mission::Attack,
        },
    );
    let events = run_until(&mut k, 5000, |e| {
        matches!(e, WorldEvent::MarchReturned { .. })
    });
    let report = events
        .iter()
        .find_map(|e| match e {
            WorldEvent::BattleReport(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(report.rounds, 2);
    assert!(report.attacker_won);
    assert_eq!(report.config_version, 1);
    let att = &report.attackers[0];
    assert_eq!(att.before, Troops(vec![1000]));
    assert_eq!(att.after, Troops(vec![872]));
    assert_eq!(att.wounded, Troops(vec![89]));
    assert_eq!(att.dead, Troops(vec![39]));
    assert_eq!(att.gained, Resources([4000, 4000, 0, 0]));
    let def = &report.defenders[0];
    assert!(matches!(def.who, Combatant::Monster { monster: m, kind: 0 } if m == monster));
    assert_eq!(def.before, Troops(vec![200, 120]));
    assert!(def.after.is_empty());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, WorldEvent::ObjectRemoved { id, .. } if *id == monster))
    );
    let c = city(&k, A);
    assert_eq!(c.troops.get(Default::default()), 20_000 - 128);
    assert_eq!(c.wounded, Troops(vec![89]));
    assert_eq!(
        c.resources.get(ResourceKind::Food),
        1_000_000 + amount + 4000
    );
    assert_eq!(c.resources.get(ResourceKind::Wood), 1_004_000);

    // 3. Player: B's garrison is cut to 100 infantry for a hand-checkable fight. 1000 infantry
    //    deal 1000×10×0.892 = 8920 → all 100 fall (70 wounded, 30 dead); they deal 100×10×0.892 =
    //    892 → 29 (20 wounded, 9 dead). A wins and carries off 30% of B's storehouse.
    let (_, b_entity) = dominion_sim::city::city_entity(&k.world, B).unwrap();
    k.world.get_mut::<City>(b_entity).unwrap().troops = Troops(vec![100]);
    let (b_city, _) = k.city(B).unwrap();
    k.submit(
        A,
        3,
        Command::SendMarch {
            troops: Troops(vec![1000]),
            target: b_city,
            mission: Mission::Attack,
        },
    );
    let events = run_until(&mut k, 20_000, |e| {
        matches!(e, WorldEvent::MarchReturned { .. })
    });
    let report = events
        .iter()
        .find_map(|e| match e {
            WorldEvent::BattleReport(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(report.rounds, 1);
    assert!(report.attacker_won);
    assert_eq!(report.attackers[0].after, Troops(vec![971]));
    assert_eq!(report.attackers[0].wounded, Troops(vec![20]));
    assert_eq!(report.attackers[0].dead, Troops(vec![9]));
    let loot = Resources([300_000, 300_000, 150_000, 30_000]);
    assert_eq!(report.attackers[0].gained, loot);
    assert_eq!(report.defenders[0].wounded, Troops(vec![70]));
    assert_eq!(report.defenders[0].dead, Troops(vec![30]));
    assert_eq!(report.defenders[0].lost, loot);
    let b = city(&k, B);
    assert!(b.troops.is_empty());
    assert_eq!(b.wounded, Troops(vec![70]));
    assert_eq!(b.resources, Resources([700_000, 700_000, 350_000, 70_000]));
    let c = city(&k, A);
    assert_eq!(c.troops.get(Default::default()), 20_000 - 128 - 29);
    assert_eq!(c.wounded, Troops(vec![89 + 20]));
    assert_eq!(
        c.resources,
        Resources([
            1_000_000 + amount + 4000 + 300_000,
            1_304_000,
            650_000,
            130_000
        ])
    );

    // 4. Recall: a march to a field at least 20 tiles away turns back after 5 ticks from the tile
    //    it reached, and is home one return trip later with nothing gathered.
    let far = fields_near(&mut k, home, ResourceKind::Wood)
        .into_iter()
        .find(|(id, _)| {
            let p = common::pos_of(&mut k, *id).unwrap();
            octile(home, p) >= 20_000
        })
        .unwrap()
        .0;
    k.submit(
        A,
        4,
        Command::SendMarch {
            troops: Troops(vec![500]),
            target: far,
            mission: Mission::Gather,
        },
    );
    k.tick();
    let ev = k.drain_events();
    let (march, _) = sent(&ev, 4);
    let out_route = k.march(march).unwrap().route.clone();
    for _ in 0..5 {
        k.tick();
    }
    k.drain_events();
    k.submit(A, 5, Command::Recall { march });
    k.tick();
    let ev = k.drain_events();
    let now = k.tick_count();
    let recalled_at = out_route.position_at(now);
    let back = ev
        .iter()
        .find_map(|e| match e {
            WorldEvent::MarchReturning { route, .. } => Some(route.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(back.start(), recalled_at);
    assert_eq!(back.destination(), home);
    assert!(ev.iter().any(|e| matches!(
        e,
        WorldEvent::CommandResult { request_id: 5, result: Ok(CommandOutcome::Recalled { arrival_tick, .. }), .. }
            if *arrival_tick == back.arrival_tick()
    )));
    let before = city(&k, A);
    let events = run_until(&mut k, 5000, |e| {
        matches!(e, WorldEvent::MarchReturned { .. })
    });
    assert_eq!(k.tick_count(), back.arrival_tick());
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, WorldEvent::Gathered { .. }))
    );
    let after = city(&k, A);
    assert_eq!(
        after.troops.get(Default::default()),
        before.troops.get(Default::default()) + 500
    );
    assert_eq!(after.resources, before.resources);
}
