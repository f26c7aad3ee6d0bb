//! What an accepted command did, and why a refused one was refused, in words a player
//! understands: the answer every command gets.

use super::{ObjectId, TilePos};

/// What an accepted command did.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CommandOutcome {
    /// A march left.
    MarchSent {
        /// Its id.
        march: ObjectId,
        /// Tick it will reach its target.
        arrival_tick: u64,
    },
    /// A march turned home.
    Recalled {
        /// The march.
        march: ObjectId,
        /// Tick it will be home.
        arrival_tick: u64,
    },
    /// The city moved.
    Relocated {
        /// The city.
        city: ObjectId,
        /// Its new tile.
        to: TilePos,
    },
}

/// Why a command was refused, in words a player understands.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refusal {
    /// The player has no city in this kingdom.
    #[error("you have no city in this kingdom")]
    NoCity,
    /// The march does not exist (any more).
    #[error("that march no longer exists")]
    UnknownMarch,
    /// The march belongs to someone else.
    #[error("that march is not yours")]
    NotYourMarch,
    /// The march is already on its way home.
    #[error("that march is already on its way home")]
    AlreadyReturning,
    /// A march needs troops.
    #[error("choose at least one troop to send")]
    NoTroops,
    /// Scouts go alone.
    #[error("scouts go alone: send no troops with a scout")]
    ScoutTakesNoTroops,
    /// A unit type that does not exist.
    #[error("unknown troop type #{unit}")]
    UnknownUnitType {
        /// The index asked for.
        unit: u16,
    },
    /// More troops than one march may take.
    #[error("a march takes at most {max} troops, you chose {asked}")]
    TooManyTroops {
        /// The limit from `marches.toml`.
        max: u32,
        /// Troops chosen.
        asked: u64,
    },
    /// Not enough fit troops of a type at home.
    #[error("not enough {unit} at home: you have {have}, you chose {asked}")]
    NotEnoughTroops {
        /// Unit type name.
        unit: String,
        /// Fit troops of that type at home.
        have: u32,
        /// Troops chosen.
        asked: u32,
    },
    /// Every march slot is in use.
    #[error("all {limit} march slots are in use; wait for a march to return")]
    QueueFull {
        /// The limit from `marches.toml`.
        limit: u32,
    },
    /// The target is gone (gathered out, defeated, returned home…) or never existed.
    #[error("the target is no longer there")]
    TargetGone,
    /// The mission does not fit the target.
    #[error("you cannot {mission} that target")]
    WrongTarget {
        /// The mission, in words.
        mission: &'static str,
    },
    /// Attacking or scouting oneself.
    #[error("that is yours")]
    OwnTarget,
    /// Attacking an ally.
    #[error("that belongs to an ally")]
    AlliedTarget,
    /// Reinforcing someone who is not an ally.
    #[error("you can only reinforce an ally's city")]
    NotAllied,
    /// A tile beyond the map's edge.
    #[error("{pos} is outside the map")]
    OutsideMap {
        /// The tile asked for.
        pos: TilePos,
    },
    /// A tile a city cannot stand on.
    #[error("a city cannot stand on {pos}: only open plain will do")]
    TileNotBuildable {
        /// The tile asked for.
        pos: TilePos,
    },
    /// A tile with something on it.
    #[error("{pos} is taken")]
    TileOccupied {
        /// The tile asked for.
        pos: TilePos,
    },
    /// Relocating with marches out.
    #[error("call your {marches} march(es) home before moving your city")]
    MarchesOut {
        /// Marches out.
        marches: u32,
    },
    /// No way there around mountains and water.
    #[error("there is no way from your city to that target")]
    Unreachable,
    /// The city moved too recently.
    #[error("your city moved recently; it can move again at tick {ready_at}")]
    RelocationCooldown {
        /// First tick a move is allowed again.
        ready_at: u64,
    },
    /// The storehouse lacks what the action costs.
    #[error("not enough {resource}: you have {have}, it costs {cost}")]
    CannotAfford {
        /// Resource name.
        resource: &'static str,
        /// Amount in the storehouse.
        have: u64,
        /// Amount needed.
        cost: u64,
    },
}
