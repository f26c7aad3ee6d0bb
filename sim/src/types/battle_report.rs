//! The report of a battle: who fought, with what, and what each side lost and won. Plain data
//! (the maths that fills it lives in `battle`, the world side in `march`).

use super::{ObjectId, PlayerId, Resources, TilePos, Troops};

/// Who fought in a battle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combatant {
    /// A player's city garrison.
    City {
        /// Owner.
        player: PlayerId,
        /// The city.
        city: ObjectId,
    },
    /// A player's march.
    March {
        /// Owner.
        player: PlayerId,
        /// The march.
        march: ObjectId,
    },
    /// A monster of the map.
    Monster {
        /// The monster object.
        monster: ObjectId,
        /// Index into `monsters.toml`.
        kind: u16,
    },
}

impl Combatant {
    /// The player behind it (none for monsters).
    pub fn player(&self) -> Option<PlayerId> {
        match *self {
            Combatant::City { player, .. } | Combatant::March { player, .. } => Some(player),
            Combatant::Monster { .. } => None,
        }
    }
}

/// One army's part in a battle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// Whose army.
    pub who: Combatant,
    /// Troops before the battle.
    pub before: Troops,
    /// Troops still fit to fight after it.
    pub after: Troops,
    /// Losses that became wounded.
    pub wounded: Troops,
    /// Losses that died.
    pub dead: Troops,
    /// Resources this army won (loot, monster rewards).
    pub gained: Resources,
    /// Resources this army lost (looted, or carried by a march that was wiped out).
    pub lost: Resources,
}

/// The report of one battle, sent to both sides (mail delivers it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BattleReport {
    /// Battle number, unique in the kingdom.
    pub battle: u64,
    /// Tick it was fought.
    pub tick: u64,
    /// Config version whose rules applied.
    pub config_version: u32,
    /// Where.
    pub at: TilePos,
    /// The attacking side (one march).
    pub attackers: Vec<Participant>,
    /// The defending side (a monster, a march, or a city garrison with its reinforcements).
    pub defenders: Vec<Participant>,
    /// Rounds fought.
    pub rounds: u32,
    /// True when the attacker has troops left and the defenders have none.
    pub attacker_won: bool,
}
