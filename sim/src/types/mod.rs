//! The ground floor of the sim: plain data shared by every game concept and with `net` and
//! `persistence` — ids, tile positions, resources, troops, routes, missions, the kinds of map
//! objects, the world seed, and the payloads of events (battle reports, command outcomes).
//!
//! Nothing here imports another sim module: concepts build on these types, never the reverse.
//! These carry no ECS, wire or database meaning; each boundary crate converts them into its own
//! format (rkyv messages in `net`, documents in `persistence`).

mod battle_report;
mod command_outcome;
mod mission;
mod object_kind;
mod route;
mod seed;

use std::fmt;

pub use battle_report::{BattleReport, Combatant, Participant};
pub use command_outcome::{CommandOutcome, Refusal};
pub use mission::{ArrivalFailure, Mission, ScoutInfo};
pub use object_kind::{KindSet, ObjectKind};
pub use route::{DIAGONAL, Route, STRAIGHT, milli_tiles_per_tick, octile};
pub use seed::WorldSeed;

/// A player's account id: `(sequence << 16) | server_id` (seed 002: 6-byte sequence, 2-byte server).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PlayerId(pub u64);

impl PlayerId {
    /// Builds an id from the account sequence number and the server id.
    pub fn compose(sequence: u64, server_id: u16) -> Self {
        PlayerId((sequence << 16) | u64::from(server_id))
    }
    /// The server id in the low 16 bits.
    pub fn server_id(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
    /// The account sequence number in the high 48 bits.
    pub fn sequence(self) -> u64 {
        self.0 >> 16
    }
}

impl fmt::Display for PlayerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "player:{}", self.0)
    }
}

/// Stable id of a map object or march, unique within a kingdom and never reused.
///
/// Unlike a bevy `Entity`, it survives save/load and rotation, so clients and the store use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ObjectId(pub u64);

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "obj:{}", self.0)
    }
}

/// A tile coordinate on the kingdom map; `(0, 0)` is the north-west corner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TilePos {
    /// Column, `0..width`.
    pub x: u16,
    /// Row, `0..height`.
    pub y: u16,
}

impl TilePos {
    /// A tile at column `x`, row `y`.
    pub const fn new(x: u16, y: u16) -> Self {
        TilePos { x, y }
    }
}

impl fmt::Display for TilePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

/// The four resources of the kingdom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// Feeds troops.
    Food,
    /// Builds.
    Wood,
    /// Builds and upgrades.
    Stone,
    /// Rare; researches.
    Gold,
}

impl ResourceKind {
    /// Every kind, in storage order.
    pub const ALL: [ResourceKind; 4] = [
        ResourceKind::Food,
        ResourceKind::Wood,
        ResourceKind::Stone,
        ResourceKind::Gold,
    ];
    /// Index into a [`Resources`] array.
    pub fn index(self) -> usize {
        self as usize
    }
    /// The name used in asset files and logs.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::Food => "food",
            ResourceKind::Wood => "wood",
            ResourceKind::Stone => "stone",
            ResourceKind::Gold => "gold",
        }
    }
    /// Parses the asset-file name of a kind.
    pub fn from_name(name: &str) -> Option<Self> {
        ResourceKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Amounts of each resource, indexed by [`ResourceKind::index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Resources(pub [u64; 4]);

impl Resources {
    /// Amount of one kind.
    pub fn get(&self, kind: ResourceKind) -> u64 {
        self.0[kind.index()]
    }
    /// Adds to one kind, saturating.
    pub fn add(&mut self, kind: ResourceKind, amount: u64) {
        let slot = &mut self.0[kind.index()];
        *slot = slot.saturating_add(amount);
    }
    /// Sum over all kinds.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    /// Adds every kind of `other`, saturating.
    pub fn add_all(&mut self, other: &Resources) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = a.saturating_add(b);
        }
    }
    /// Takes every kind of `other` away, stopping at zero.
    pub fn sub_all(&mut self, other: &Resources) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = a.saturating_sub(b);
        }
    }
    /// `permille / 1000` of each kind, rounded down.
    pub fn share_permille(&self, permille: u32) -> Resources {
        Resources(
            self.0
                .map(|a| (u128::from(a) * u128::from(permille.min(1000)) / 1000) as u64),
        )
    }
    /// True when every kind is zero.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&a| a == 0)
    }
}

/// Index of a unit type in the loaded `units.toml` (its order in the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnitTypeId(pub u16);

/// Troop counts per unit type, indexed by [`UnitTypeId`]; trailing zeros may be omitted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Troops(pub Vec<u32>);

/// Why `(unit type, count)` pairs do not make a [`Troops`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TroopsError {
    /// A unit type at or past the number of types.
    #[error("unknown troop type #{unit} (there are {unit_types} troop types)")]
    UnknownUnit {
        /// The type asked for.
        unit: u16,
        /// How many types exist.
        unit_types: usize,
    },
    /// A type listed twice.
    #[error("troop type #{unit} is listed twice")]
    Duplicate {
        /// The type.
        unit: u16,
    },
    /// A count of zero.
    #[error("troop type #{unit} has a count of 0")]
    ZeroCount {
        /// The type.
        unit: u16,
    },
}

impl Troops {
    /// Troops from `(unit type, count)` pairs, each type below `unit_types`, listed once, with a
    /// non-zero count. Every pair is checked before the vector is sized, so an absurd type
    /// allocates nothing.
    pub fn from_pairs(pairs: &[(u16, u32)], unit_types: usize) -> Result<Troops, TroopsError> {
        let mut len = 0;
        for &(unit, count) in pairs {
            if usize::from(unit) >= unit_types {
                return Err(TroopsError::UnknownUnit { unit, unit_types });
            }
            if count == 0 {
                return Err(TroopsError::ZeroCount { unit });
            }
            len = len.max(usize::from(unit) + 1);
        }
        let mut t = Troops(vec![0; len]);
        for &(unit, count) in pairs {
            let slot = &mut t.0[usize::from(unit)];
            if *slot != 0 {
                return Err(TroopsError::Duplicate { unit });
            }
            *slot = count;
        }
        Ok(t)
    }
    /// Count of one unit type.
    pub fn get(&self, unit: UnitTypeId) -> u32 {
        self.0.get(usize::from(unit.0)).copied().unwrap_or(0)
    }
    /// Sets the count of one unit type, growing the vector as needed.
    pub fn set(&mut self, unit: UnitTypeId, count: u32) {
        let i = usize::from(unit.0);
        if self.0.len() <= i {
            self.0.resize(i + 1, 0);
        }
        self.0[i] = count;
    }
    /// Total troops of every type.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&c| u64::from(c)).sum()
    }
    /// True when no troops are left.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&c| c == 0)
    }
    /// Adds every type of `other`, saturating.
    pub fn add_all(&mut self, other: &Troops) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, &b) in self.0.iter_mut().zip(&other.0) {
            *a = a.saturating_add(b);
        }
    }
    /// Takes every type of `other` away, stopping at zero.
    pub fn sub_all(&mut self, other: &Troops) {
        for (a, &b) in self.0.iter_mut().zip(&other.0) {
            *a = a.saturating_sub(b);
        }
    }
    /// True if there are at least as many of every type as in `other`.
    pub fn covers(&self, other: &Troops) -> bool {
        other
            .0
            .iter()
            .enumerate()
            .all(|(i, &c)| self.get(UnitTypeId(i as u16)) >= c)
    }
    /// The same counts without trailing zeros (canonical form for hashing and comparing).
    pub fn trimmed(&self) -> Troops {
        let mut v = self.0.clone();
        while v.last() == Some(&0) {
            v.pop();
        }
        Troops(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn player_id_packs_sequence_and_server() {
        let id = PlayerId::compose(0x0000_1234_5678, 7);
        assert_eq!(id.sequence(), 0x1234_5678);
        assert_eq!(id.server_id(), 7);
        assert_eq!(id.0, (0x1234_5678 << 16) | 7);
    }

    #[test]
    fn troops_grow_and_total() {
        let mut t = Troops::default();
        t.set(UnitTypeId(3), 10);
        t.set(UnitTypeId(0), 5);
        assert_eq!(t.get(UnitTypeId(3)), 10);
        assert_eq!(t.get(UnitTypeId(9)), 0);
        assert_eq!(t.total(), 15);
        assert!(!t.is_empty());
    }

    #[test]
    fn troops_from_pairs_checks_before_sizing() {
        let t = Troops::from_pairs(&[(2, 7), (0, 1)], 4).unwrap();
        assert_eq!(t, Troops(vec![1, 0, 7]));
        assert_eq!(Troops::from_pairs(&[], 4).unwrap(), Troops::default());
        assert_eq!(
            Troops::from_pairs(&[(0, 1), (65535, 1)], 4),
            Err(TroopsError::UnknownUnit {
                unit: 65535,
                unit_types: 4
            })
        );
        assert_eq!(
            Troops::from_pairs(&[(4, 1)], 4),
            Err(TroopsError::UnknownUnit {
                unit: 4,
                unit_types: 4
            })
        );
        assert_eq!(
            Troops::from_pairs(&[(1, 3), (1, 3)], 4),
            Err(TroopsError::Duplicate { unit: 1 })
        );
        assert_eq!(
            Troops::from_pairs(&[(1, 0)], 4),
            Err(TroopsError::ZeroCount { unit: 1 })
        );
    }
}
