//! Battles: deterministic rounds from unit stats and counters, losses split into wounded and dead,
//! and the battle report.
//!
//! [`fight`] is pure integer maths over two troop totals; [`split_losses`] shares a side's losses
//! among the armies that fought on it. The world-facing part (who fights, loot, rewards, where the
//! survivors go) lives in [`crate::march`], which calls these.

use crate::config::{BattleRules, Units};
pub use crate::types::{BattleReport, Combatant, Participant};
use crate::types::{Troops, UnitTypeId};

/// Result of the rounds of one battle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fight {
    /// Rounds fought (0 if one side had no troops).
    pub rounds: u32,
    /// Troops the attacking side lost, by unit type.
    pub attacker_losses: Troops,
    /// Troops the defending side lost, by unit type.
    pub defender_losses: Troops,
}

/// Damage multiplier of a defence value, per-mille: `100 / (100 + defence)`.
fn defence_permille(defence: u32) -> u128 {
    100_000 / (100 + u128::from(defence))
}

/// Losses one round of `from` inflicts on `to`, by unit type of `to`.
///
/// Each attacking unit type spreads its damage over the defending types in proportion to their
/// counts; damage is `count × attack × counter × damage_scale × defence factor`, and every full
/// `health` of damage kills (or wounds) one unit.
fn round_losses(from: &[u32], to: &[u32], units: &Units, rules: &BattleRules) -> Vec<u32> {
    let total_to: u128 = to.iter().map(|&c| u128::from(c)).sum();
    let mut losses = vec![0u32; to.len()];
    if total_to == 0 {
        return losses;
    }
    for (j, &b) in to.iter().enumerate() {
        let Some(target) = units.get(UnitTypeId(j as u16)) else {
            continue;
        };
        if b == 0 {
            continue;
        }
        let mut raw: u128 = 0;
        for (i, &a) in from.iter().enumerate() {
            let Some(u) = units.get(UnitTypeId(i as u16)) else {
                continue;
            };
            let counter = u.counters_permille.get(j).copied().unwrap_or(1000);
            raw += u128::from(a) * u128::from(u.attack) * u128::from(counter);
        }
        let damage = raw
            * u128::from(b)
            * u128::from(rules.damage_permille)
            * defence_permille(target.defence)
            / (total_to * 1_000_000_000);
        let kills = damage / u128::from(target.health.max(1));
        losses[j] = kills.min(u128::from(b)) as u32;
    }
    losses
}

/// Fights up to `max_rounds` rounds; both sides strike at once each round from the troops they
/// had at its start. Stops early when a side has no troops left.
pub fn fight(attacker: &Troops, defender: &Troops, units: &Units, rules: &BattleRules) -> Fight {
    let n = attacker.0.len().max(defender.0.len());
    let pad = |t: &Troops| {
        let mut v = t.0.clone();
        v.resize(n, 0);
        v
    };
    let (mut a, mut d) = (pad(attacker), pad(defender));
    let mut rounds = 0;
    while rounds < rules.max_rounds && a.iter().any(|&c| c > 0) && d.iter().any(|&c| c > 0) {
        rounds += 1;
        let to_d = round_losses(&a, &d, units, rules);
        let to_a = round_losses(&d, &a, units, rules);
        for (c, l) in d.iter_mut().zip(&to_d) {
            *c -= l;
        }
        for (c, l) in a.iter_mut().zip(&to_a) {
            *c -= l;
        }
    }
    let lost = |before: &Troops, after: &[u32]| {
        Troops(
            after
                .iter()
                .enumerate()
                .map(|(i, &c)| before.get(UnitTypeId(i as u16)) - c)
                .collect(),
        )
        .trimmed()
    };
    Fight {
        rounds,
        attacker_losses: lost(attacker, &a),
        defender_losses: lost(defender, &d),
    }
}

/// Shares `losses` (by unit type) among `armies` in proportion to what each brought of that type;
/// leftover units go to the largest fractional shares, ties to the earlier army. Never takes more
/// of a type than an army has, and the shares add up to `losses` exactly (if the armies had them).
pub fn split_losses(armies: &[Troops], losses: &Troops) -> Vec<Troops> {
    let mut out = vec![Troops::default(); armies.len()];
    for (j, &loss) in losses.0.iter().enumerate() {
        let unit = UnitTypeId(j as u16);
        let total: u64 = armies.iter().map(|a| u64::from(a.get(unit))).sum();
        if loss == 0 || total == 0 {
            continue;
        }
        let loss = u64::from(loss).min(total);
        let mut given = 0u64;
        let mut rems: Vec<(u64, usize)> = Vec::with_capacity(armies.len());
        for (k, a) in armies.iter().enumerate() {
            let c = u64::from(a.get(unit));
            let exact = loss * c;
            let share = exact / total;
            given += share;
            out[k].set(unit, share as u32);
            if share < c {
                rems.push((exact % total, k));
            }
        }
        rems.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        for &(_, k) in rems.iter().take((loss - given) as usize) {
            let cur = out[k].get(unit);
            out[k].set(unit, cur + 1);
        }
    }
    out.iter().map(Troops::trimmed).collect()
}

/// Splits losses into (wounded, dead) by the wounded share.
pub fn wounded_and_dead(losses: &Troops, wounded_permille: u32) -> (Troops, Troops) {
    let wounded = Troops(
        losses
            .0
            .iter()
            .map(|&l| (u64::from(l) * u64::from(wounded_permille.min(1000)) / 1000) as u32)
            .collect(),
    );
    let dead = Troops(
        losses
            .0
            .iter()
            .zip(&wounded.0)
            .map(|(&l, &w)| l - w)
            .collect(),
    );
    (wounded, dead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::small_assets;

    #[test]
    fn counters_and_defence_decide_the_losses_exactly() {
        let assets = small_assets();
        let (units, rules) = (&assets.units, &assets.marches.battle);
        // 1000 infantry vs 200 infantry + 120 archers (barbarians_1). By hand, round 1:
        // infantry take 1000×10 attack × 200/320 share × 0.892 defence = 5575 damage = 185 dead of
        // 30 hp; archers take 3536 = all 120 of 20 hp; the attacker takes (200×10 + 120×14×1.3)
        // × 0.892 = 3732 = 124 infantry. Round 2: 876 infantry finish the last 15; those 15 hit
        // back for 133 damage = 4 infantry. Attacker lost 128 in 2 rounds.
        let f = fight(&Troops(vec![1000]), &Troops(vec![200, 120]), units, rules);
        assert_eq!(f.rounds, 2);
        assert_eq!(f.attacker_losses, Troops(vec![128]));
        assert_eq!(f.defender_losses, Troops(vec![200, 120]));
    }

    #[test]
    fn losses_split_in_proportion_and_add_up() {
        let armies = [Troops(vec![10, 0, 3]), Troops(vec![20, 5]), Troops(vec![1])];
        let shares = split_losses(&armies, &Troops(vec![16, 5, 2]));
        assert_eq!(shares[0], Troops(vec![5, 0, 2]));
        // 16 of 31 infantry: exact shares 5.16, 10.32, 0.52 → 5, 10, and the leftover one to the
        // largest remainder (the third army).
        assert_eq!(shares[1], Troops(vec![10, 5]));
        assert_eq!(shares[2], Troops(vec![1]));
        let (w, d) = wounded_and_dead(&Troops(vec![10, 3]), 700);
        assert_eq!((w, d), (Troops(vec![7, 2]), Troops(vec![3, 1])));
    }

    #[test]
    fn an_empty_side_fights_no_rounds() {
        let assets = small_assets();
        let f = fight(
            &Troops(vec![5]),
            &Troops::default(),
            &assets.units,
            &assets.marches.battle,
        );
        assert_eq!(f.rounds, 0);
        assert!(f.attacker_losses.is_empty() && f.defender_losses.is_empty());
    }
}
