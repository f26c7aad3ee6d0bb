//! What a march is sent to do and what became of it on arrival: the plain data that commands,
//! events, the AOI view and reports share.

use super::{ObjectId, PlayerId, ResourceKind, Resources, Troops};

/// What a march goes to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mission {
    /// Gather a resource field.
    Gather,
    /// Attack a monster, a city or a march.
    Attack,
    /// Reinforce an allied city.
    Reinforce,
    /// Look at a target and report (no troops).
    Scout,
}

/// Why a march could not act on arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArrivalFailure {
    /// The target is no longer there (gathered out, defeated, returned home…).
    TargetGone,
    /// Another march is gathering the field.
    FieldOccupied,
    /// The march cannot carry any more.
    NoCapacity,
    /// The target's owner is now an ally.
    Friendly,
    /// The city is no longer allied.
    NotAllied,
    /// The target march had moved out of reach.
    OutOfReach,
}

/// What a scout saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScoutInfo {
    /// A city: its garrison plus stationed reinforcements, and its storehouse.
    City {
        /// Owner.
        owner: PlayerId,
        /// Defending troops.
        troops: Troops,
        /// Resources.
        resources: Resources,
    },
    /// A monster and its army.
    Monster {
        /// Kind index.
        kind: u16,
        /// Army.
        troops: Troops,
    },
    /// A resource field.
    Field {
        /// Resource.
        kind: ResourceKind,
        /// What is left.
        remaining: u64,
        /// The march gathering it, if any.
        gatherer: Option<ObjectId>,
    },
    /// A march.
    March {
        /// Owner.
        owner: PlayerId,
        /// Troops fit to fight.
        troops: Troops,
        /// Load.
        load: Resources,
    },
}
