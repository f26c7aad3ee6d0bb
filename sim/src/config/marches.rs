//! `marches.toml`: march rules (queue limits, troop caps, gathering) and battle rules.

use super::reader::FileReader;

/// Rules for sending marches and gathering.
#[derive(Clone, Debug, PartialEq)]
pub struct MarchRules {
    /// Marches one player may have out at once.
    pub queue_limit: u32,
    /// Most troops in one march.
    pub max_troops: u32,
    /// Resources a gathering march loads per minute of game time.
    pub gather_per_minute: u32,
    /// Scouts travel at this many tiles per minute regardless of troops.
    pub scout_speed: u32,
    /// Route planning a tick may do: a march order to a near target costs 1, to a far one 8;
    /// orders over the budget wait for the next tick in order.
    pub route_budget_per_tick: u32,
    /// An attack on a moving march hits if the target is within this many tiles on arrival.
    pub intercept_range: u32,
}

/// Rules for resolving battles.
#[derive(Clone, Debug, PartialEq)]
pub struct BattleRules {
    /// A battle ends after this many rounds even if both sides stand.
    pub max_rounds: u32,
    /// Share of losses that become wounded (the rest die), per-mille.
    pub wounded_permille: u32,
    /// Scales all damage, per-mille; tunes how fast battles end.
    pub damage_permille: u32,
    /// Share of a defeated march's load (or a defeated city's resources) the winner carries off,
    /// per-mille.
    pub loot_permille: u32,
}

/// `marches.toml` as a whole.
#[derive(Clone, Debug, PartialEq)]
pub struct MarchesConfig {
    /// March rules.
    pub march: MarchRules,
    /// Battle rules.
    pub battle: BattleRules,
}

pub(crate) fn parse(r: &mut FileReader<'_>) -> Option<MarchesConfig> {
    let doc = r.parse()?;
    let root = r.root(&doc);
    r.deny_unknown(root, &["march", "battle"]);
    let march = r.table(root, "march", "march").and_then(|t| {
        r.deny_unknown(
            t,
            &[
                "queue_limit",
                "max_troops",
                "gather_per_minute",
                "scout_speed",
                "route_budget_per_tick",
                "intercept_range",
            ],
        );
        let q = r.int(t, "queue_limit", 1..=20);
        let m = r.int(t, "max_troops", 1..=10_000_000);
        let g = r.int(t, "gather_per_minute", 1..=10_000_000);
        let s = r.int(t, "scout_speed", 1..=10_000);
        let routes = r.int(t, "route_budget_per_tick", 1..=1_000_000);
        let range = r.int(t, "intercept_range", 0..=100);
        Some(MarchRules {
            queue_limit: q? as u32,
            max_troops: m? as u32,
            gather_per_minute: g? as u32,
            scout_speed: s? as u32,
            route_budget_per_tick: routes? as u32,
            intercept_range: range? as u32,
        })
    });
    let battle = r.table(root, "battle", "battle").and_then(|t| {
        r.deny_unknown(
            t,
            &["max_rounds", "wounded_share", "damage_scale", "loot_share"],
        );
        let rounds = r.int(t, "max_rounds", 1..=100);
        let wounded = r.float(t, "wounded_share", 0.0..=1.0);
        let damage = r.float(t, "damage_scale", 0.001..=100.0);
        let loot = r.float(t, "loot_share", 0.0..=1.0);
        Some(BattleRules {
            max_rounds: rounds? as u32,
            wounded_permille: (wounded? * 1000.0).round() as u32,
            damage_permille: (damage? * 1000.0).round() as u32,
            loot_permille: (loot? * 1000.0).round() as u32,
        })
    });
    Some(MarchesConfig {
        march: march?,
        battle: battle?,
    })
}
