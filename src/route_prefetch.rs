//! Route planning between ticks: the tick thread sleeps most of each period, so while it waits
//! it plans the routes of the march orders that arrived meanwhile (and of those the last tick
//! left waiting over its route budget). When the next tick applies them, their routes are
//! already in the sim's route cache and the tick spends its time on the world instead.
//!
//! The world does not change between ticks, so a route planned now is the one the tick would
//! plan; and the sim charges its per-tick route budget by order, never by cache, so which orders
//! apply in which tick (and every replay) is the same with or without this
//! (`dominion_sim::command::prefetch_routes`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use dominion_net::proto::CommandBody;
use dominion_sim::Kingdom;
use dominion_sim::command::{Command, CommandInbox, prefetch_routes};
use dominion_sim::types::PlayerId;

use crate::commands::command_from_wire;
use crate::inbox::Inbox;

/// What the tick thread has yet to plan ahead.
pub struct RoutePrefetch {
    inbox: Arc<Mutex<Inbox>>,
    /// Orders taken from the inbox and not planned yet, oldest first.
    to_plan: VecDeque<(PlayerId, Command)>,
    /// The tick whose leftover orders (waiting over the route budget) were planned.
    waiting_planned_at: Option<u64>,
    /// Buffer for the inbox's new orders.
    fresh: Vec<(PlayerId, CommandBody)>,
    /// Routes searched ahead so far.
    pub searched: u64,
}

/// Orders kept waiting for planning at most; beyond, the oldest are left for the tick to plan.
const MAX_BACKLOG: usize = 4_096;

impl RoutePrefetch {
    pub(crate) fn new(inbox: Arc<Mutex<Inbox>>) -> RoutePrefetch {
        RoutePrefetch {
            inbox,
            to_plan: VecDeque::new(),
            waiting_planned_at: None,
            fresh: Vec::new(),
            searched: 0,
        }
    }

    /// Plans the routes of at most `max` orders: first, once per tick, those the last tick left
    /// waiting; then those that arrived since the last call, oldest first (the rest wait for
    /// the next call). Returns how many orders it looked at (their routes were searched or
    /// found known).
    pub fn plan(&mut self, kingdom: &mut Kingdom, max: usize) -> usize {
        let tick = kingdom.tick_count();
        if self.waiting_planned_at != Some(tick) {
            self.waiting_planned_at = Some(tick);
            let waiting = kingdom.world.resource::<CommandInbox>().waiting();
            // The leftovers apply first next tick: put them before anything newer.
            for s in waiting.iter().rev() {
                if matches!(s.command, Command::SendMarch { .. }) {
                    self.to_plan.push_front((s.player, s.command.clone()));
                }
            }
        }
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take_new_marches(&mut self.fresh);
        let unit_types = kingdom.config().assets.units.types.len();
        for (player, body) in self.fresh.drain(..) {
            // A malformed order is answered when the tick drains it; nothing to plan.
            if let Ok(command) = command_from_wire(&body, unit_types) {
                self.to_plan.push_back((player, command));
            }
        }
        if self.to_plan.len() > MAX_BACKLOG {
            let over = self.to_plan.len() - MAX_BACKLOG;
            self.to_plan.drain(..over);
        }
        let n = self.to_plan.len().min(max);
        if n == 0 {
            return 0;
        }
        let batch: Vec<(PlayerId, Command)> = self.to_plan.drain(..n).collect();
        let searched = prefetch_routes(&mut kingdom.world, batch.iter().map(|(p, c)| (*p, c)));
        self.searched += searched as u64;
        n
    }

    /// Puts `orders` (held back by the bridge for the next tick, oldest first) before
    /// everything else still to plan.
    pub fn plan_first(&mut self, orders: Vec<(PlayerId, Command)>) {
        for order in orders.into_iter().rev() {
            self.to_plan.push_front(order);
        }
    }

    /// Orders taken and not planned yet.
    pub fn backlog(&self) -> usize {
        self.to_plan.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dominion_sim::command::RoutePlanning;
    use dominion_sim::map::{MapObject, ResourceField};
    use dominion_sim::march::path::octile;
    use dominion_sim::types::ObjectId;

    use crate::inbox::InboxLimits;
    use dominion_net::transport::SessionId;

    fn kingdom() -> Kingdom {
        crate::assets::small_kingdom(3, 240)
    }

    /// A field at least 80 tiles from player `p`'s city (beyond the near search).
    fn far_field(k: &mut Kingdom, p: PlayerId, skip: usize) -> ObjectId {
        let (city, _) = k.city(p).unwrap();
        let home = k
            .world
            .query::<&MapObject>()
            .iter(&k.world)
            .find(|o| o.id == city)
            .unwrap()
            .pos;
        let mut far: Vec<ObjectId> = k
            .world
            .query::<(&MapObject, &ResourceField)>()
            .iter(&k.world)
            .filter(|(o, _)| octile(home, o.pos) >= 80_000)
            .map(|(o, _)| o.id)
            .collect();
        far.sort_unstable();
        far[skip * 7 % far.len()]
    }

    #[test]
    fn orders_planned_ahead_find_their_routes_known_in_the_tick() {
        let mut k = kingdom();
        let inbox = Arc::new(Mutex::new(Inbox::new(InboxLimits::default())));
        let mut prefetch = RoutePrefetch::new(inbox.clone());
        for p in 1..=6 {
            k.add_player(PlayerId(p)).unwrap();
            let target = far_field(&mut k, PlayerId(p), p as usize);
            let body = CommandBody::SendMarch {
                troops: vec![(0, 100)],
                target: target.0,
                mission: 0,
            };
            inbox
                .lock()
                .unwrap()
                .push_command(SessionId(p), PlayerId(p), 1, body)
                .unwrap();
        }
        // A batch at a time: four now, two on the next call, none after.
        assert_eq!(prefetch.plan(&mut k, 4), 4);
        assert_eq!(prefetch.backlog(), 2);
        assert_eq!(prefetch.plan(&mut k, 4), 2);
        assert_eq!(prefetch.plan(&mut k, 4), 0);
        assert_eq!(prefetch.searched, 6, "six far routes searched ahead");
        // The tick applies them without a search of its own.
        let mut inputs = Vec::new();
        inbox.lock().unwrap().drain(&mut inputs);
        let unit_types = k.config().assets.units.types.len();
        for input in inputs {
            if let crate::inbox::WorldInput::Command {
                player,
                request_id,
                body,
                ..
            } = input
            {
                let command = command_from_wire(&body, unit_types).unwrap();
                k.submit(player, request_id, command);
            }
        }
        k.tick();
        let planning = *k.world.resource::<RoutePlanning>();
        assert_eq!(planning.requests, 6);
        assert_eq!(planning.searched, 0, "every route was known: {planning:?}");
    }

    #[test]
    fn orders_left_waiting_by_the_route_budget_are_planned_before_newer_ones() {
        // A budget of eight far orders a tick.
        let mut k = crate::assets::small_kingdom_with(3, 240, |files| {
            let m = files.get_mut("marches.toml").unwrap();
            *m = m.replace("route_budget_per_tick = 2048", "route_budget_per_tick = 64");
        });
        let inbox = Arc::new(Mutex::new(Inbox::new(InboxLimits::default())));
        let mut prefetch = RoutePrefetch::new(inbox.clone());
        let budget = k.config().assets.marches.march.route_budget_per_tick;
        let far = dominion_sim::command::FAR_ROUTE_COST;
        // More far orders than one tick's budget: the rest wait in the sim's inbox.
        let players = (budget / far + 4) as u64;
        for p in 1..=players {
            k.add_player(PlayerId(p)).unwrap();
            let target = far_field(&mut k, PlayerId(p), p as usize);
            k.submit(
                PlayerId(p),
                1,
                Command::SendMarch {
                    troops: dominion_sim::types::Troops(vec![100]),
                    target,
                    mission: dominion_sim::types::Mission::Gather,
                },
            );
        }
        k.tick();
        let left = k.world.resource::<CommandInbox>().waiting().len();
        assert!(left >= 4, "some orders wait over the budget ({left})");
        assert_eq!(
            prefetch.plan(&mut k, 1000),
            left,
            "each waiting order is planned"
        );
        assert_eq!(prefetch.plan(&mut k, 1000), 0, "once per tick");
        k.tick();
        let planning = *k.world.resource::<RoutePlanning>();
        assert_eq!(planning.requests as usize, left);
        assert_eq!(planning.searched, 0, "{planning:?}");
    }
}
