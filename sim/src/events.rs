//! Events out of the world: appended during a tick, drained by the host after it.

use bevy_ecs::prelude::Resource;

use crate::types::{
    ArrivalFailure, BattleReport, CommandOutcome, Mission, ObjectId, PlayerId, Refusal,
    ResourceKind, Resources, Route, ScoutInfo, TilePos, Troops,
};

/// Something the world tells the outside (network, services, logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorldEvent {
    /// A hot-reloaded config took effect at the start of `tick`.
    ConfigApplied {
        /// New config version.
        version: u32,
        /// Tick at whose start it applied.
        tick: u64,
    },
    /// The answer to a submitted command: what it did, or why it was refused.
    CommandResult {
        /// Who sent it.
        player: PlayerId,
        /// The sender's request id, echoed.
        request_id: u32,
        /// Outcome.
        result: Result<CommandOutcome, Refusal>,
    },
    /// A player's city was founded on a city slot.
    CityFounded {
        /// Owner.
        player: PlayerId,
        /// The city (the slot's id).
        city: ObjectId,
        /// Its tile.
        pos: TilePos,
    },
    /// A city moved to another tile.
    CityRelocated {
        /// Owner.
        player: PlayerId,
        /// The city.
        city: ObjectId,
        /// Old tile.
        from: TilePos,
        /// New tile.
        to: TilePos,
        /// What the move took from the storehouse.
        paid: Resources,
    },
    /// A march left its city.
    MarchStarted {
        /// The march.
        march: ObjectId,
        /// Owner.
        player: PlayerId,
        /// What it goes to do.
        mission: Mission,
        /// Target object.
        target: ObjectId,
        /// Troops sent.
        troops: Troops,
        /// Its way there.
        route: Route,
    },
    /// A march reached its target.
    MarchArrived {
        /// The march.
        march: ObjectId,
        /// Owner.
        player: PlayerId,
        /// Where.
        pos: TilePos,
    },
    /// A march could not do what it came for and turns home.
    MarchFailed {
        /// The march.
        march: ObjectId,
        /// Owner.
        player: PlayerId,
        /// Why.
        reason: ArrivalFailure,
    },
    /// A march took a new route home (after acting, a recall, or a battle).
    MarchReturning {
        /// The march.
        march: ObjectId,
        /// Owner.
        player: PlayerId,
        /// Its way home.
        route: Route,
    },
    /// A march is back in its city; its troops, wounded and load are home.
    MarchReturned {
        /// The march.
        march: ObjectId,
        /// Owner.
        player: PlayerId,
        /// Troops back fit to fight.
        troops: Troops,
        /// Wounded brought back.
        wounded: Troops,
        /// Resources brought back.
        load: Resources,
    },
    /// A march lost every troop (none even wounded) and is gone, with its load.
    MarchDestroyed {
        /// The march.
        march: ObjectId,
        /// Owner.
        player: PlayerId,
        /// Resources it carried, now lost.
        load_lost: Resources,
    },
    /// A reinforcing march took up station in an allied city.
    MarchStationed {
        /// The march.
        march: ObjectId,
        /// Owner.
        player: PlayerId,
        /// The city it defends.
        city: ObjectId,
    },
    /// A gathering march loaded resources from a field.
    Gathered {
        /// The march.
        march: ObjectId,
        /// Owner.
        player: PlayerId,
        /// The field.
        field: ObjectId,
        /// What was gathered.
        kind: ResourceKind,
        /// How much.
        amount: u64,
    },
    /// A battle was fought.
    BattleReport(Box<BattleReport>),
    /// What a scout saw on arrival.
    ScoutReport {
        /// The scouting march.
        march: ObjectId,
        /// Owner.
        player: PlayerId,
        /// The object scouted.
        target: ObjectId,
        /// What it saw.
        info: ScoutInfo,
    },
    /// A city's resources changed.
    ResourcesChanged {
        /// Owner.
        player: PlayerId,
        /// The city.
        city: ObjectId,
        /// New totals.
        resources: Resources,
    },
    /// A map object appeared (a respawned field or monster).
    ObjectSpawned {
        /// The new object (ids are never reused).
        id: ObjectId,
        /// Its tile.
        pos: TilePos,
    },
    /// A map object disappeared (a depleted field or defeated monster).
    ObjectRemoved {
        /// The object.
        id: ObjectId,
        /// Its tile.
        pos: TilePos,
    },
}

/// Events of the current tick, in the order they happened. The host drains it after each tick.
#[derive(Resource, Default, Debug)]
pub struct Outbox(Vec<WorldEvent>);

impl Outbox {
    /// Appends an event.
    pub fn push(&mut self, event: WorldEvent) {
        self.0.push(event);
    }
    /// Takes every event out.
    pub fn drain(&mut self) -> Vec<WorldEvent> {
        std::mem::take(&mut self.0)
    }
    /// Events waiting.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when no events wait.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
