//! Which march orders a live tick takes on: at most a bounded number whose far route is not
//! planned yet.
//!
//! Route planning between ticks ([`crate::route_prefetch`]) plans nearly every order before
//! its tick; what it has not reached yet (an order that came in the last few milliseconds, a
//! burst after a start) would be searched on the tick thread. [`hold_unplanned`] lets a tick
//! take on `limit` of those and holds the rest, with every later command of their sessions (a
//! session's commands apply in the order it sent them), for the next tick, while their routes
//! are planned meanwhile.
//!
//! The decision is made here, before the commands reach the sim and the journal: a command is
//! journaled in the tick that applies it, so a replay applies the same commands in the same
//! ticks whatever its route cache holds. The sim's own bound (`route_budget_per_tick`) stays
//! blind to the cache for the same reason.

use dominion_net::transport::SessionId;
use dominion_sim::Kingdom;
use dominion_sim::command::{Command, needs_far_search};
use dominion_sim::types::PlayerId;

use crate::commands::command_from_wire;
use crate::inbox::WorldInput;

/// Moves out of `inputs` (in order) into `held` every command this tick should not take on:
/// march orders needing a far search beyond the first `limit`, and every command after one of
/// those from the same session. Other inputs, and commands that do not decode (answered when
/// applied), stay. Returns the held march orders, oldest first, for planning ahead.
pub fn hold_unplanned(
    kingdom: &Kingdom,
    inputs: &mut Vec<WorldInput>,
    limit: usize,
    held: &mut Vec<WorldInput>,
) -> Vec<(PlayerId, Command)> {
    let unit_types = kingdom.config().assets.units.types.len();
    let mut held_sessions: Vec<SessionId> = Vec::new();
    let mut to_plan = Vec::new();
    let mut unplanned = 0usize;
    let mut kept = Vec::with_capacity(inputs.len());
    for input in inputs.drain(..) {
        let WorldInput::Command {
            player,
            session,
            body,
            ..
        } = &input
        else {
            kept.push(input);
            continue;
        };
        let Ok(command) = command_from_wire(body, unit_types) else {
            kept.push(input);
            continue;
        };
        let hold = held_sessions.contains(session)
            || (needs_far_search(&kingdom.world, *player, &command) && {
                unplanned += 1;
                unplanned > limit
            });
        if !hold {
            kept.push(input);
            continue;
        }
        if !held_sessions.contains(session) {
            held_sessions.push(*session);
        }
        if matches!(command, Command::SendMarch { .. }) {
            to_plan.push((*player, command));
        }
        held.push(input);
    }
    *inputs = kept;
    to_plan
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use dominion_net::proto::CommandBody;
    use dominion_sim::command::prefetch_routes;
    use dominion_sim::map::{MapObject, ResourceField};
    use dominion_sim::march::path::octile;
    use dominion_sim::types::ObjectId;

    use super::*;

    /// A field at least 80 tiles from `p`'s city (beyond a near search), the `skip`-th such.
    fn far_field(k: &mut Kingdom, p: PlayerId, skip: usize) -> ObjectId {
        let (city, _) = k.city(p).unwrap();
        let home = k
            .world
            .query::<&MapObject>()
            .iter(&k.world)
            .find(|o| o.id == city)
            .unwrap()
            .pos;
        let mut fields: Vec<(ObjectId, u64)> = k
            .world
            .query::<(&MapObject, &ResourceField)>()
            .iter(&k.world)
            .map(|(o, _)| (o.id, octile(home, o.pos)))
            .filter(|&(_, d)| d >= 80_000)
            .collect();
        fields.sort();
        fields[skip % fields.len()].0
    }

    fn march(target: ObjectId) -> CommandBody {
        CommandBody::SendMarch {
            troops: vec![(0, 100)],
            target: target.0,
            mission: 0,
        }
    }

    fn command(session: u64, player: u64, request_id: u32, body: CommandBody) -> WorldInput {
        WorldInput::Command {
            player: PlayerId(player),
            session: SessionId(session),
            request_id,
            body,
            received: Instant::now(),
        }
    }

    fn ids(inputs: &[WorldInput]) -> Vec<(u64, u32)> {
        inputs
            .iter()
            .filter_map(|i| match i {
                WorldInput::Command {
                    session,
                    request_id,
                    ..
                } => Some((session.0, *request_id)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn far_orders_over_the_limit_wait_with_their_sessions_later_commands() {
        let mut k = crate::assets::small_kingdom(3, 240);
        for p in 1..=4 {
            k.add_player(PlayerId(p)).unwrap();
        }
        let t: Vec<ObjectId> = (1..=4)
            .map(|p| far_field(&mut k, PlayerId(p), p as usize))
            .collect();
        let mut inputs = vec![
            command(1, 1, 1, march(t[0])),
            command(2, 2, 1, march(t[1])),
            // Session 2's recall comes after its held order: it waits too.
            command(2, 2, 2, CommandBody::Recall { march_id: 7 }),
            command(3, 3, 1, CommandBody::Recall { march_id: 8 }),
            command(3, 3, 2, march(t[2])),
            WorldInput::SessionClosed {
                session: SessionId(9),
            },
            // Not a valid troop type: answered when applied, never held.
            command(
                4,
                4,
                1,
                CommandBody::SendMarch {
                    troops: vec![(999, 1)],
                    target: t[3].0,
                    mission: 0,
                },
            ),
        ];
        let mut held = Vec::new();
        let planned = hold_unplanned(&k, &mut inputs, 1, &mut held);
        assert_eq!(ids(&inputs), vec![(1, 1), (3, 1), (4, 1)]);
        assert!(matches!(inputs[2], WorldInput::SessionClosed { .. }));
        assert_eq!(ids(&held), vec![(2, 1), (2, 2), (3, 2)]);
        assert_eq!(
            planned.iter().map(|(p, _)| p.0).collect::<Vec<_>>(),
            vec![2, 3],
            "the held orders are handed to planning, oldest first"
        );

        // Once their routes are planned, nothing is held: known routes cost no search.
        prefetch_routes(&mut k.world, planned.iter().map(|(p, c)| (*p, c)));
        let mut again = std::mem::take(&mut held);
        assert!(hold_unplanned(&k, &mut again, 0, &mut held).is_empty());
        assert!(held.is_empty());
        assert_eq!(ids(&again), vec![(2, 1), (2, 2), (3, 2)]);
    }

    #[test]
    fn near_orders_and_other_commands_are_never_held() {
        let mut k = crate::assets::small_kingdom(3, 240);
        k.add_player(PlayerId(1)).unwrap();
        let mut inputs = vec![
            command(1, 1, 1, CommandBody::Recall { march_id: 3 }),
            command(1, 1, 2, CommandBody::RelocateCity { x: 5, y: 5 }),
        ];
        let mut held = Vec::new();
        assert!(hold_unplanned(&k, &mut inputs, 0, &mut held).is_empty());
        assert_eq!(ids(&inputs), vec![(1, 1), (1, 2)]);
        assert!(held.is_empty());
    }
}
