//! A digest of the whole world state, for determinism tests and rotation checks.
//!
//! Entities are hashed in [`ObjectId`] order, never in archetype or spawn order, so two worlds
//! with the same content hash the same however they were built.

use bevy_ecs::prelude::*;

use crate::active_config::ActiveConfig;
use crate::city::{City, FreeCitySlots, Players};
use crate::clock::Tick;
use crate::command::{Command, CommandInbox, Submitted};
use crate::gather::Gatherer;
use crate::map::{
    CitySlot, MapObject, Monster, NextObjectId, ResourceField, Respawn, Respawns, Terrain,
};
use crate::march::{BattleCounter, March, MarchClock, MarchState, Mission};
use crate::types::{ObjectId, Resources, TilePos, Troops, WorldSeed};

fn troops(b: &mut Vec<u8>, t: &Troops) {
    let t = t.trimmed();
    b.extend_from_slice(&(t.0.len() as u32).to_le_bytes());
    for c in &t.0 {
        b.extend_from_slice(&c.to_le_bytes());
    }
}

fn resources(b: &mut Vec<u8>, r: &Resources) {
    for a in r.0 {
        b.extend_from_slice(&a.to_le_bytes());
    }
}

fn pos(b: &mut Vec<u8>, p: TilePos) {
    b.extend_from_slice(&p.x.to_le_bytes());
    b.extend_from_slice(&p.y.to_le_bytes());
}

fn march_bytes(m: &March, clock: Option<&MarchClock>) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    b.push(5);
    b.extend_from_slice(&m.owner.0.to_le_bytes());
    b.extend_from_slice(&m.home.0.to_le_bytes());
    b.push(match m.mission {
        Mission::Gather => 0,
        Mission::Attack => 1,
        Mission::Reinforce => 2,
        Mission::Scout => 3,
    });
    b.extend_from_slice(&m.target.0.to_le_bytes());
    troops(&mut b, &m.troops);
    troops(&mut b, &m.wounded);
    resources(&mut b, &m.load);
    match m.state {
        MarchState::Outbound => b.push(0),
        MarchState::Gathering {
            field,
            since,
            amount,
        } => {
            b.push(1);
            b.extend_from_slice(&field.0.to_le_bytes());
            b.extend_from_slice(&since.to_le_bytes());
            b.extend_from_slice(&amount.to_le_bytes());
        }
        MarchState::Stationed { city } => {
            b.push(2);
            b.extend_from_slice(&city.0.to_le_bytes());
        }
        MarchState::Returning => b.push(3),
    }
    b.extend_from_slice(&(m.route.waypoints.len() as u32).to_le_bytes());
    for &p in &m.route.waypoints {
        pos(&mut b, p);
    }
    b.extend_from_slice(&m.route.depart_tick.to_le_bytes());
    b.extend_from_slice(&m.route.speed.to_le_bytes());
    b.extend_from_slice(&clock.map_or(0, |c| c.next).to_le_bytes());
    b
}

/// A command waiting for a later tick: sender, request id and the command itself.
fn waiting_command_bytes(s: &Submitted) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&s.player.0.to_le_bytes());
    b.extend_from_slice(&s.request_id.to_le_bytes());
    match &s.command {
        Command::SendMarch {
            troops: t,
            target,
            mission,
        } => {
            b.push(1);
            troops(&mut b, t);
            b.extend_from_slice(&target.0.to_le_bytes());
            b.push(*mission as u8);
        }
        Command::Recall { march } => {
            b.push(2);
            b.extend_from_slice(&march.0.to_le_bytes());
        }
        Command::RelocateCity { to } => {
            b.push(3);
            pos(&mut b, *to);
        }
    }
    b
}

/// BLAKE3 over tick, seed, config, terrain, players, respawn queue, commands waiting for a later
/// tick and every map object, city and
/// march (in [`ObjectId`] order).
pub fn state_hash(world: &mut World) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&world.resource::<Tick>().0.to_le_bytes());
    h.update(&world.resource::<WorldSeed>().0.to_le_bytes());
    h.update(&world.resource::<NextObjectId>().0.to_le_bytes());
    let config = world.resource::<ActiveConfig>();
    h.update(&config.version.to_le_bytes());
    h.update(&config.assets.digest);
    let terrain = world.resource::<Terrain>();
    h.update(&terrain.width().to_le_bytes());
    h.update(&terrain.height().to_le_bytes());
    let bytes: Vec<u8> = terrain.tiles().iter().map(|t| t.bits()).collect();
    h.update(&bytes);

    h.update(&world.resource::<BattleCounter>().0.to_le_bytes());
    for (p, r) in &world.resource::<Players>().0 {
        h.update(&p.0.to_le_bytes());
        h.update(&r.city.0.to_le_bytes());
        h.update(&r.marches.to_le_bytes());
        h.update(&r.alliance.map_or(u64::MAX, |a| a).to_le_bytes());
        h.update(&[u8::from(r.alliance.is_some())]);
        h.update(&r.relocated_at.map_or(u64::MAX, |t| t).to_le_bytes());
        h.update(&[u8::from(r.relocated_at.is_some())]);
    }
    let slots = &world.resource::<FreeCitySlots>().0;
    h.update(&(slots.len() as u64).to_le_bytes());
    for s in slots {
        h.update(&s.0.to_le_bytes());
    }
    for (&(due, seq), what) in &world.resource::<Respawns>().queue {
        h.update(&due.to_le_bytes());
        h.update(&seq.to_le_bytes());
        match *what {
            Respawn::Field { kind, zone } => h.update(&[1, kind as u8, zone]),
            Respawn::Monster { kind, zone } => {
                h.update(&[2]);
                h.update(&kind.to_le_bytes());
                h.update(&[zone])
            }
        };
    }

    h.update(&world.resource::<Respawns>().next_seq().to_le_bytes());
    // Waiting commands in their order; their sequence numbers (and the counter) only order them
    // among themselves and later submissions, so their absolute values are not state.
    if let Some(inbox) = world.get_resource::<CommandInbox>() {
        h.update(&(inbox.waiting().len() as u64).to_le_bytes());
        for s in inbox.waiting() {
            h.update(&waiting_command_bytes(s));
        }
    }

    let mut objects: Vec<(ObjectId, Vec<u8>)> = world
        .query::<(
            &MapObject,
            Option<&ResourceField>,
            Option<&Monster>,
            Option<&CitySlot>,
            Option<&City>,
            Option<&Gatherer>,
        )>()
        .iter(world)
        .map(|(o, field, monster, slot, city, gatherer)| {
            let mut b = Vec::with_capacity(32);
            b.extend_from_slice(&o.pos.x.to_le_bytes());
            b.extend_from_slice(&o.pos.y.to_le_bytes());
            if let Some(f) = field {
                b.push(1);
                b.push(f.kind as u8);
                b.push(f.level);
                b.extend_from_slice(&f.remaining.to_le_bytes());
            }
            if let Some(m) = monster {
                b.push(2);
                b.extend_from_slice(&m.kind.to_le_bytes());
                b.push(m.level);
            }
            if slot.is_some() {
                b.push(3);
            }
            if let Some(c) = city {
                b.push(4);
                b.extend_from_slice(&c.owner.0.to_le_bytes());
                troops(&mut b, &c.troops);
                troops(&mut b, &c.wounded);
                resources(&mut b, &c.resources);
                // Only a ledger in use adds bytes, so worlds without grants hash as before.
                if !c.grants.is_empty() {
                    b.push(7);
                    b.extend_from_slice(&c.grants.floor().to_le_bytes());
                    b.extend_from_slice(&(c.grants.len() as u64).to_le_bytes());
                    for id in c.grants.applied() {
                        b.extend_from_slice(&id.to_le_bytes());
                    }
                }
            }
            if let Some(g) = gatherer {
                b.push(6);
                b.extend_from_slice(&g.0.0.to_le_bytes());
            }
            (o.id, b)
        })
        .collect();
    objects.extend(
        world
            .query::<(&March, Option<&MarchClock>)>()
            .iter(world)
            .map(|(m, c)| (m.id, march_bytes(m, c))),
    );
    objects.sort_unstable_by_key(|(id, _)| *id);
    for (id, b) in &objects {
        h.update(&id.0.to_le_bytes());
        h.update(&(b.len() as u32).to_le_bytes());
        h.update(b);
    }
    *h.finalize().as_bytes()
}

/// Hex form of a digest, for logs and test failure messages.
pub fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
