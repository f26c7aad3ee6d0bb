//! AOI integration tests: observers' sets against the brute-force rule, a client copy rebuilt from
//! the delta stream against the server's view, enter/leave symmetry, march-crossing visibility,
//! zoom filtering, field buckets and config reloads.

mod common;

use common::{asset_files, assets};
use dominion_sim::config::Assets;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dominion_sim::Kingdom;
use dominion_sim::aoi::{
    Body, BodyUpdate, MarchPhase, ObjectKind, ObjectView, ObserverDelta, Observers, Viewport,
    mark_changed, reference_interest,
};
use dominion_sim::command::Command;
use dominion_sim::map::{MapObject, NextObjectId, ResourceField};
use dominion_sim::march::{March, MarchState, Mission, Route};
use dominion_sim::types::{ObjectId, PlayerId, Resources, TilePos, Troops};
use proptest::prelude::*;

/// Client-side copies of every observer's view, rebuilt only from drained deltas.
#[derive(Default)]
struct Clients {
    mirrors: BTreeMap<u64, BTreeMap<ObjectId, ObjectView>>,
    /// Every delta applied, per observer, in order.
    log: BTreeMap<u64, Vec<ObserverDelta>>,
}

impl Clients {
    /// Drains the kingdom's deltas, checks each against the client's copy, and applies it.
    /// Returns what was drained.
    fn drain(&mut self, k: &mut Kingdom) -> Vec<(u64, ObserverDelta)> {
        let drained = k.world.resource_mut::<Observers>().drain_deltas();
        for (observer, delta) in drained.iter().cloned() {
            assert!(!delta.is_empty(), "empty deltas are not queued");
            let mirror = self.mirrors.entry(observer).or_default();
            let mut ids = BTreeSet::new();
            for v in &delta.enter {
                assert!(ids.insert(v.id), "{} twice in one delta", v.id);
                assert!(!mirror.contains_key(&v.id), "{} entered twice", v.id);
            }
            for u in &delta.update {
                assert!(ids.insert(u.id), "{} twice in one delta", u.id);
                assert!(mirror.contains_key(&u.id), "update for unseen {}", u.id);
            }
            for id in &delta.leave {
                assert!(ids.insert(*id), "{id} twice in one delta");
                assert!(mirror.contains_key(id), "leave for unseen {id}");
            }
            for list in [
                delta.enter.iter().map(|v| v.id).collect::<Vec<_>>(),
                delta.update.iter().map(|u| u.id).collect(),
                delta.leave.clone(),
            ] {
                assert!(
                    list.windows(2).all(|w| w[0] < w[1]),
                    "lists are in id order"
                );
            }
            delta.apply_to(mirror);
            self.log.entry(observer).or_default().push(delta);
        }
        drained
    }

    /// Asserts each client's copy equals the server's view and the brute-force rule.
    fn check(&self, k: &mut Kingdom, requested: &BTreeMap<u64, Viewport>) {
        for (&observer, &vp) in requested {
            let server = k
                .world
                .resource::<Observers>()
                .view_of(observer)
                .expect("registered observer");
            let reference = reference_interest(&mut k.world, vp);
            assert_eq!(server, reference, "observer {observer} at {vp:?}");
            let empty = BTreeMap::new();
            let mirror = self.mirrors.get(&observer).unwrap_or(&empty);
            let client: Vec<ObjectView> = mirror.values().cloned().collect();
            assert_eq!(client, server, "client copy of observer {observer}");
        }
    }
}

fn set_viewport(k: &mut Kingdom, observer: u64, vp: Viewport) {
    k.world
        .resource_mut::<Observers>()
        .set_viewport(observer, vp);
}

fn pos_of(k: &mut Kingdom, id: ObjectId) -> TilePos {
    k.world
        .query::<&MapObject>()
        .iter(&k.world)
        .find(|o| o.id == id)
        .map(|o| o.pos)
        .expect("object on the map")
}

/// Fields by distance from `from` (id, tile), nearest first, at least `min` tiles away.
fn fields_from(k: &mut Kingdom, from: TilePos, min: u16) -> Vec<(ObjectId, TilePos)> {
    let mut v: Vec<(u32, ObjectId, TilePos)> = k
        .world
        .query::<(&MapObject, &ResourceField)>()
        .iter(&k.world)
        .map(|(o, _)| {
            let d = u32::from(o.pos.x.abs_diff(from.x).max(o.pos.y.abs_diff(from.y)));
            (d, o.id, o.pos)
        })
        .filter(|(d, _, _)| *d >= u32::from(min))
        .collect();
    v.sort();
    v.into_iter().map(|(_, id, p)| (id, p)).collect()
}

/// Spawns a march the rules never touch (no clock), for geometry and mutation tests.
fn spawn_march(
    k: &mut Kingdom,
    waypoints: Vec<TilePos>,
    state: MarchState,
    troops: u32,
) -> ObjectId {
    let id = k.world.resource_mut::<NextObjectId>().allocate();
    k.world.spawn(March {
        id,
        owner: PlayerId(9_999),
        home: ObjectId(0),
        mission: Mission::Attack,
        target: ObjectId(0),
        troops: Troops(vec![troops]),
        wounded: Troops::default(),
        load: Resources::default(),
        state,
        route: Route {
            waypoints,
            depart_tick: 1,
            speed: 100,
        },
    });
    id
}

fn march_entity(k: &mut Kingdom, id: ObjectId) -> Option<bevy_ecs::entity::Entity> {
    k.world
        .query::<(bevy_ecs::entity::Entity, &March)>()
        .iter(&k.world)
        .find(|(_, m)| m.id == id)
        .map(|(e, _)| e)
}

#[test]
fn a_march_is_seen_where_its_path_crosses_and_updated_only_on_change() {
    let mut k = Kingdom::generate(11, assets(120));
    let player = PlayerId(1);
    let city = k.add_player(player).expect("slot");
    let home = pos_of(&mut k, city);
    let (field, at) = fields_from(&mut k, home, 12)[0];
    // A viewport around the middle of the way, holding neither the city nor the field.
    let mid = TilePos::new(
        ((u32::from(home.x) + u32::from(at.x)) / 2) as u16,
        ((u32::from(home.y) + u32::from(at.y)) / 2) as u16,
    );
    let vp = Viewport::new(mid.x.saturating_sub(1), mid.y.saturating_sub(1), 3, 3, 2);
    let mut requested = BTreeMap::from([(7, vp)]);
    set_viewport(&mut k, 7, vp);
    let mut clients = Clients::default();
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);

    k.submit(
        player,
        1,
        Command::SendMarch {
            troops: Troops(vec![1000]),
            target: field,
            mission: Mission::Gather,
        },
    );
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
    let march = k.marches()[0].id;
    let first = clients.log[&7].last().expect("the march entered");
    assert_eq!(first.enter.len(), 1);
    assert_eq!(first.enter[0].id, march);
    let Body::March(m) = &first.enter[0].body else {
        panic!("a march view")
    };
    assert_eq!(m.phase, MarchPhase::Outbound);
    assert_eq!(m.troops, 1000);
    assert!(m.route.waypoints.len() >= 2);
    // The march is outside the viewport itself: only its path crosses it.
    let rect = vp.rect();
    assert!(!rect.contains(m.route.start()) && !rect.contains(m.route.destination()));

    // Travelling sends nothing: the client interpolates the route.
    let sent_before = clients.log[&7].len();
    let arrival = k.march(march).expect("out").route.arrival_tick();
    while k.tick_count() + 1 < arrival {
        k.tick();
        clients.drain(&mut k);
    }
    assert_eq!(
        clients.log[&7].len(),
        sent_before,
        "no delta while it travels"
    );
    clients.check(&mut k, &requested);

    // It starts gathering at the field, outside the viewport: it leaves.
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
    assert!(matches!(
        k.march(march).expect("gathering").state,
        MarchState::Gathering { .. }
    ));
    assert_eq!(clients.log[&7].last().unwrap().leave, vec![march]);

    // A wide viewport at the closest zoom sees the gathering march stand at the field; a recall
    // sends it home along a new route: one update with phase and route.
    let wide = Viewport::new(0, 0, 120, 120, 1);
    requested.insert(8, wide);
    set_viewport(&mut k, 8, wide);
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
    k.submit(player, 2, Command::Recall { march });
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
    let recall = clients.log[&8].last().expect("a delta for the recall");
    let update = recall
        .update
        .iter()
        .find(|u| u.id == march)
        .expect("the march updated");
    let BodyUpdate::March { phase, route, .. } = &update.body else {
        panic!("a march update, got {update:?}")
    };
    assert_eq!(*phase, Some(MarchPhase::Returning));
    assert!(route.is_some());
    // If its way home crosses the narrow viewport again, it re-enters there (A* may pick
    // another way back than out, so this depends on the route).
    let home_route = k.march(march).expect("returning").route.clone();
    let entered: Vec<ObjectId> = clients.log[&7]
        .last()
        .map(|d| d.enter.iter().map(|v| v.id).collect())
        .unwrap_or_default();
    assert_eq!(
        entered.contains(&march),
        rect.touches_path(&home_route.waypoints),
        "re-entry follows the route home"
    );

    // Home: it ends and leaves every view; the field's remaining changed by a bucket or not at all.
    let home_at = k.march(march).expect("returning").route.arrival_tick();
    while k.tick_count() < home_at {
        k.tick();
        clients.drain(&mut k);
        clients.check(&mut k, &requested);
    }
    assert!(k.march(march).is_none());
    if rect.touches_path(&home_route.waypoints) {
        assert!(clients.log[&7].last().unwrap().leave.contains(&march));
    }
    assert!(clients.log[&8].last().unwrap().leave.contains(&march));
}

#[test]
fn zoom_filters_kinds_and_zooming_sends_only_the_difference() {
    let mut k = Kingdom::generate(5, assets(100));
    for p in 1..=20 {
        k.add_player(PlayerId(p)).expect("slot");
    }
    let near = Viewport::new(20, 20, 60, 60, 0);
    set_viewport(&mut k, 1, near);
    let mut clients = Clients::default();
    k.tick();
    clients.drain(&mut k);
    let mut requested = BTreeMap::from([(1, near)]);
    clients.check(&mut k, &requested);
    let kinds = |c: &Clients| -> BTreeSet<ObjectKind> {
        c.mirrors[&1].values().map(|v| v.kind()).collect()
    };
    assert!(kinds(&clients).contains(&ObjectKind::CitySlot));
    assert!(kinds(&clients).contains(&ObjectKind::Field));
    let cities_before: BTreeSet<ObjectId> = clients.mirrors[&1]
        .values()
        .filter(|v| v.kind() == ObjectKind::City)
        .map(|v| v.id)
        .collect();

    let far = Viewport { zoom: 2, ..near };
    requested.insert(1, far);
    set_viewport(&mut k, 1, far);
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
    let d = clients.log[&1].last().unwrap();
    assert!(
        d.enter.is_empty(),
        "zooming out at the same place enters nothing"
    );
    assert!(!d.leave.is_empty());
    assert!(
        kinds(&clients)
            .iter()
            .all(|k| matches!(k, ObjectKind::City | ObjectKind::March))
    );
    let cities_after: BTreeSet<ObjectId> = clients.mirrors[&1].keys().copied().collect();
    assert_eq!(
        cities_before, cities_after,
        "cities stay without being re-sent"
    );

    // Zoom levels past the last configured one behave as the last.
    let beyond = Viewport { zoom: 7, ..near };
    requested.insert(1, beyond);
    set_viewport(&mut k, 1, beyond);
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
}

#[test]
fn moving_away_and_back_leaves_and_enters_the_same_objects() {
    let mut k = Kingdom::generate(3, assets(128));
    let a = Viewport::new(10, 10, 40, 40, 0);
    let b = Viewport::new(30, 20, 40, 40, 0); // overlaps `a`
    let c = Viewport::new(80, 80, 40, 40, 0); // disjoint from `a`
    let mut clients = Clients::default();
    let mut requested = BTreeMap::new();
    for (step, vp) in [a, b, a, c, a].into_iter().enumerate() {
        requested.insert(1, vp);
        set_viewport(&mut k, 1, vp);
        k.tick();
        clients.drain(&mut k);
        clients.check(&mut k, &requested);
        let d = clients.log[&1].last().unwrap();
        if step == 0 {
            assert!(d.leave.is_empty());
        }
    }
    let log = &clients.log[&1];
    let ids = |d: &ObserverDelta| -> BTreeSet<ObjectId> { d.enter.iter().map(|v| v.id).collect() };
    // a→b then b→a: what left going to b enters coming back, and vice versa.
    assert_eq!(
        log[1].leave.iter().copied().collect::<BTreeSet<_>>(),
        ids(&log[2])
    );
    assert_eq!(
        ids(&log[1]),
        log[2].leave.iter().copied().collect::<BTreeSet<_>>()
    );
    // a→c is disjoint: everything leaves, c's objects enter; c→a mirrors it.
    assert_eq!(
        log[3].leave.iter().copied().collect::<BTreeSet<_>>(),
        ids(&log[0])
    );
    assert_eq!(ids(&log[4]), ids(&log[0]));
    // Overlap is never re-sent.
    assert!(ids(&log[1]).is_disjoint(&ids(&log[0])));
    // Over the whole stream each id alternates enter/leave, starting with enter.
    let mut seen: BTreeMap<ObjectId, bool> = BTreeMap::new();
    for d in log {
        for v in &d.enter {
            assert_ne!(seen.insert(v.id, true), Some(true));
        }
        for id in &d.leave {
            assert_eq!(seen.insert(*id, false), Some(true));
        }
    }
}

#[test]
fn field_remaining_is_sent_by_bucket_and_removed_objects_leave() {
    let mut k = Kingdom::generate(9, assets(80));
    let mut clients = Clients::default();
    let vp = Viewport::new(0, 0, 64, 64, 0);
    let requested = BTreeMap::from([(1, vp)]);
    set_viewport(&mut k, 1, vp);
    k.tick();
    clients.drain(&mut k);
    let step = k.config().assets.aoi.field_remaining_step;
    let (entity, id, remaining) = {
        let mut q = k
            .world
            .query::<(bevy_ecs::entity::Entity, &MapObject, &ResourceField)>();
        let (e, o, f) = q
            .iter(&k.world)
            .find(|(_, o, f)| o.pos.x < 64 && o.pos.y < 64 && f.remaining > 3 * step)
            .expect("a field in view");
        (e, o.id, f.remaining)
    };
    let shown = |c: &Clients| match &c.mirrors[&1][&id].body {
        Body::Field { remaining, .. } => *remaining,
        other => panic!("a field, got {other:?}"),
    };
    assert_eq!(shown(&clients), remaining.div_ceil(step) * step);
    // Taking less than what crosses a bucket boundary sends nothing.
    let within = (remaining - 1) % step;
    k.world.get_mut::<ResourceField>(entity).unwrap().remaining -= within;
    mark_changed(&mut k.world, entity);
    k.tick();
    clients.drain(&mut k);
    assert!(clients.log[&1].len() == 1, "no update inside a bucket");
    k.world.get_mut::<ResourceField>(entity).unwrap().remaining -= step;
    mark_changed(&mut k.world, entity);
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
    let d = clients.log[&1].last().unwrap();
    assert_eq!(d.update.len(), 1);
    assert_eq!(
        d.update[0].body,
        BodyUpdate::Remaining(shown(&clients)),
        "only the remaining field"
    );
    assert_eq!(d.update[0].pos, None);
    k.world.despawn(entity);
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
    assert_eq!(clients.log[&1].last().unwrap().leave, vec![id]);
}

/// The AOI reads only the entities reported to it; a debug build catches an in-place change of
/// a standing object's replicated fields that nobody reported.
#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "without aoi::mark_changed")]
fn an_unreported_in_place_change_is_caught_in_debug_builds() {
    let mut k = Kingdom::generate(9, assets(80));
    set_viewport(&mut k, 1, Viewport::new(0, 0, 64, 64, 0));
    k.tick();
    let mut q = k.world.query::<&mut ResourceField>();
    if let Some(mut f) = q.iter_mut(&mut k.world).next() {
        f.remaining /= 2;
    }
    k.tick();
}

#[test]
fn a_city_slot_becoming_a_city_is_one_update_and_removed_observers_hear_nothing() {
    let mut k = Kingdom::generate(4, assets(80));
    let whole = Viewport::new(0, 0, 64, 64, 0);
    let mut clients = Clients::default();
    let mut requested = BTreeMap::from([(1, whole), (2, Viewport { zoom: 2, ..whole })]);
    for (&o, &vp) in &requested {
        set_viewport(&mut k, o, vp);
    }
    k.tick();
    clients.drain(&mut k);
    let mut founded = None;
    for p in 1..=40 {
        let city = k.add_player(PlayerId(p)).expect("slot");
        let pos = pos_of(&mut k, city);
        if pos.x < 64 && pos.y < 64 {
            founded = Some(city);
            break;
        }
    }
    let city = founded.expect("a city founded in view");
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
    let near = clients.log[&1].last().unwrap();
    let u = near.update.iter().find(|u| u.id == city).expect("updated");
    assert!(matches!(u.body, BodyUpdate::Replaced(Body::City { .. })));
    let far = clients.log[&2].last().unwrap();
    assert!(
        far.enter.iter().any(|v| v.id == city),
        "far zoom sees the new city enter"
    );

    assert!(k.world.resource_mut::<Observers>().remove_observer(2));
    requested.remove(&2);
    assert!(!k.world.resource_mut::<Observers>().remove_observer(2));
    k.add_player(PlayerId(100)).expect("slot");
    k.tick();
    assert!(
        k.world
            .resource_mut::<Observers>()
            .drain_deltas()
            .iter()
            .all(|(o, _)| *o != 2)
    );
}

#[test]
fn a_city_whose_owner_joins_or_leaves_an_alliance_is_sent_again_with_it() {
    let mut k = Kingdom::generate(4, assets(80));
    let whole = Viewport::new(0, 0, 64, 64, 0);
    let mut clients = Clients::default();
    let requested = BTreeMap::from([(1, whole)]);
    set_viewport(&mut k, 1, whole);
    let (player, city) = (1..=40)
        .find_map(|p| {
            let city = k.add_player(PlayerId(p)).expect("slot");
            let pos = pos_of(&mut k, city);
            (pos.x < 64 && pos.y < 64).then_some((PlayerId(p), city))
        })
        .expect("a city in view");
    k.tick();
    clients.drain(&mut k);
    for alliance in [Some(7), Some(8), None] {
        k.set_alliance(player, alliance);
        k.tick();
        clients.drain(&mut k);
        clients.check(&mut k, &requested);
        let last = clients.log[&1].last().unwrap();
        let u = last
            .update
            .iter()
            .find(|u| u.id == city)
            .expect("the city is sent again");
        assert_eq!(
            u.body,
            BodyUpdate::Replaced(Body::City {
                owner: player,
                alliance
            })
        );
    }
    // Setting the same alliance again sends nothing.
    k.set_alliance(player, None);
    k.tick();
    assert!(clients.drain(&mut k).is_empty());
}

#[test]
fn an_aoi_config_reload_recomputes_every_observer() {
    let mut k = Kingdom::generate(2, assets(80));
    let vp = Viewport::new(0, 0, 60, 60, 1);
    let requested = BTreeMap::from([(1, vp)]);
    set_viewport(&mut k, 1, vp);
    let mut clients = Clients::default();
    k.tick();
    clients.drain(&mut k);
    assert!(
        clients.mirrors[&1]
            .values()
            .all(|v| v.kind() != ObjectKind::CitySlot)
    );
    let mut files = asset_files(80);
    let aoi = files["aoi.toml"].replace(
        "shows = [\"city\", \"field\", \"monster\", \"march\"]",
        "shows = [\"city\", \"city_slot\", \"march\"]",
    );
    files.insert("aoi.toml".into(), aoi);
    let next = Arc::new(Assets::parse(&files).expect("valid"));
    k.stage_config(next).expect("reload accepted");
    k.tick();
    clients.drain(&mut k);
    clients.check(&mut k, &requested);
    let kinds: BTreeSet<ObjectKind> = clients.mirrors[&1].values().map(|v| v.kind()).collect();
    assert!(kinds.contains(&ObjectKind::CitySlot));
    assert!(!kinds.contains(&ObjectKind::Field));
}

/// The viewports the observers' sets were computed for, as the server applied them.
fn applied(k: &Kingdom, observers: impl IntoIterator<Item = u64>) -> BTreeMap<u64, Viewport> {
    let obs = k.world.resource::<Observers>();
    observers
        .into_iter()
        .filter_map(|o| Some((o, obs.viewport(o)?)))
        .collect()
}

#[test]
fn a_burst_of_moves_over_the_budget_moves_in_turn_over_the_next_ticks() {
    let mut files = asset_files(80);
    let aoi = files["aoi.toml"].replace(
        "viewport_moves_per_tick = 128",
        "viewport_moves_per_tick = 2",
    );
    files.insert("aoi.toml".into(), aoi);
    let mut k = Kingdom::generate(6, Arc::new(Assets::parse(&files).expect("valid")));
    for p in 1..=3 {
        k.add_player(PlayerId(p)).expect("slot");
    }
    let mut clients = Clients::default();
    let all = 1..=5u64;
    for o in all.clone() {
        set_viewport(&mut k, o, Viewport::new(o as u16 * 10, 5, 20, 20, 0));
    }
    // Five new observers, two moves a tick: 2, then 4, then all 5 see their view.
    for (tick, (seeing, waiting, deferred)) in
        [(2, 3, 3), (4, 1, 4), (5, 0, 4)].into_iter().enumerate()
    {
        k.tick();
        clients.drain(&mut k);
        let now = applied(&k, all.clone());
        assert_eq!(
            now.len(),
            seeing,
            "observers with a view after tick {}",
            tick + 1
        );
        let obs = k.world.resource::<Observers>();
        assert_eq!(obs.moves_waiting(), waiting);
        assert_eq!(obs.moves_deferred(), deferred);
        clients.check(&mut k, &now);
    }
    // All five pan at once while the world goes on (a march sets out across their views): the
    // ones still waiting keep their old view and hear every change in it, the others move.
    let home = k
        .city(PlayerId(1))
        .map(|(_, c)| c.troops.clone())
        .expect("city");
    let target = fields_from(&mut k, TilePos::new(40, 15), 0)[0].0;
    k.submit(
        PlayerId(1),
        1,
        Command::SendMarch {
            troops: Troops(home.0.iter().map(|&n| n.min(10)).collect()),
            target,
            mission: Mission::Gather,
        },
    );
    for o in all.clone() {
        set_viewport(&mut k, o, Viewport::new(o as u16 * 10 + 3, 30, 20, 20, 0));
    }
    let mut moved_per_tick = Vec::new();
    for _ in 0..4 {
        let before = applied(&k, all.clone());
        k.tick();
        clients.drain(&mut k);
        let now = applied(&k, all.clone());
        moved_per_tick.push(all.clone().filter(|o| before[o] != now[o]).count());
        clients.check(&mut k, &now);
    }
    assert_eq!(
        moved_per_tick,
        vec![2, 2, 1, 0],
        "two moves a tick, each observer once"
    );
}

#[test]
fn a_missing_aoi_file_means_the_defaults() {
    let mut files = asset_files(80);
    files.remove("aoi.toml");
    let parsed = Assets::parse(&files).expect("aoi.toml is optional");
    assert_eq!(parsed.aoi, assets(80).aoi);
}

/// One random mutation of the world between ticks.
#[derive(Clone, Debug)]
enum Op {
    /// Move or zoom an observer.
    View(u64, Viewport),
    /// Pan an observer's viewport by a few tiles (same size and zoom), or resize it a little.
    Pan(u64, i16, i16, i16, i16),
    /// Drop an observer.
    Drop(u64),
    /// Spawn a free-standing march with a random path and state.
    Spawn(Vec<(u16, u16)>, u8, u32),
    /// Re-route, re-state or re-troop the n-th free-standing march.
    Mutate(usize, Vec<(u16, u16)>, u8, u32),
    /// Despawn the n-th free-standing march.
    Despawn(usize),
    /// A player sends a real march to the n-th field from its city.
    Send(u64, usize),
    /// A player recalls its oldest march.
    Recall(u64),
    /// Take some of the n-th field.
    Drain(usize, u64),
    /// Nothing this tick (time passes).
    Wait,
}

const SIZE: u16 = 96;

fn viewport() -> impl Strategy<Value = Viewport> {
    (0..SIZE + 8, 0..SIZE + 8, 0u16..90, 0u16..90, 0u8..5)
        .prop_map(|(x, y, w, h, z)| Viewport::new(x, y, w, h, z))
}

fn path() -> impl Strategy<Value = Vec<(u16, u16)>> {
    prop::collection::vec((0..SIZE, 0..SIZE), 1..5)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..6, viewport()).prop_map(|(o, v)| Op::View(o, v)),
        4 => (0u64..6, -12i16..13, -12i16..13, -3i16..4, -3i16..4)
            .prop_map(|(o, dx, dy, dw, dh)| Op::Pan(o, dx, dy, dw, dh)),
        1 => (0u64..6).prop_map(Op::Drop),
        3 => (path(), 0u8..4, 1u32..5000).prop_map(|(p, s, t)| Op::Spawn(p, s, t)),
        3 => (0usize..20, path(), 0u8..4, 1u32..5000).prop_map(|(i, p, s, t)| Op::Mutate(i, p, s, t)),
        1 => (0usize..20).prop_map(Op::Despawn),
        2 => (1u64..4, 0usize..6).prop_map(|(p, i)| Op::Send(p, i)),
        1 => (1u64..4).prop_map(Op::Recall),
        1 => (0usize..50, 1u64..20_000).prop_map(|(i, a)| Op::Drain(i, a)),
        2 => Just(Op::Wait),
    ]
}

fn state_of(s: u8) -> MarchState {
    match s {
        0 => MarchState::Outbound,
        1 => MarchState::Returning,
        2 => MarchState::Gathering {
            field: ObjectId(0),
            since: 0,
            amount: 1,
        },
        _ => MarchState::Stationed { city: ObjectId(0) },
    }
}

fn points(p: &[(u16, u16)]) -> Vec<TilePos> {
    p.iter().map(|&(x, y)| TilePos::new(x, y)).collect()
}

/// Applies `ops` with `ticks_between` ticks after each; checks every observer after every tick
/// when `check_each_tick` (always after the last).
fn run_ops(
    seed: u64,
    ops: &[Op],
    ticks_between: u64,
    check_each_tick: bool,
) -> Vec<(u64, ObserverDelta)> {
    let mut k = Kingdom::generate(seed, assets(SIZE));
    for p in 1..=3 {
        k.add_player(PlayerId(p)).expect("slot");
    }
    let mut requested: BTreeMap<u64, Viewport> = BTreeMap::new();
    let mut clients = Clients::default();
    let mut free: Vec<ObjectId> = Vec::new();
    let mut stream = Vec::new();
    for op in ops {
        match op {
            Op::View(o, vp) => {
                requested.insert(*o, *vp);
                set_viewport(&mut k, *o, *vp);
            }
            Op::Pan(o, dx, dy, dw, dh) => {
                if let Some(vp) = requested.get(o).copied() {
                    let shift = |v: u16, d: i16| (i32::from(v) + i32::from(d)).clamp(0, 200) as u16;
                    let vp = Viewport::new(
                        shift(vp.x, *dx),
                        shift(vp.y, *dy),
                        shift(vp.w, *dw),
                        shift(vp.h, *dh),
                        vp.zoom,
                    );
                    requested.insert(*o, vp);
                    set_viewport(&mut k, *o, vp);
                }
            }
            Op::Drop(o) => {
                requested.remove(o);
                k.world.resource_mut::<Observers>().remove_observer(*o);
                clients.mirrors.remove(o);
                clients.log.remove(o);
            }
            Op::Spawn(p, s, t) => free.push(spawn_march(&mut k, points(p), state_of(*s), *t)),
            Op::Mutate(i, p, s, t) => {
                if !free.is_empty() {
                    let id = free[i % free.len()];
                    if let Some(e) = march_entity(&mut k, id) {
                        let mut m = k.world.get_mut::<March>(e).unwrap();
                        m.route.waypoints = points(p);
                        m.state = state_of(*s);
                        m.troops = Troops(vec![*t]);
                    }
                }
            }
            Op::Despawn(i) => {
                if !free.is_empty() {
                    let id = free.remove(i % free.len());
                    if let Some(e) = march_entity(&mut k, id) {
                        k.world.despawn(e);
                    }
                }
            }
            Op::Send(p, i) => {
                let (city, _) = k.city(PlayerId(*p)).expect("city");
                let home = pos_of(&mut k, city);
                let fields = fields_from(&mut k, home, 3);
                if let Some(&(field, _)) = fields.get(*i) {
                    k.submit(
                        PlayerId(*p),
                        0,
                        Command::SendMarch {
                            troops: Troops(vec![500]),
                            target: field,
                            mission: Mission::Gather,
                        },
                    );
                }
            }
            Op::Recall(p) => {
                if let Some(m) = k.marches().into_iter().find(|m| m.owner == PlayerId(*p)) {
                    k.submit(PlayerId(*p), 0, Command::Recall { march: m.id });
                }
            }
            Op::Drain(i, amount) => {
                // An in-place change outside the rules is reported to the AOI.
                let mut q = k
                    .world
                    .query::<(bevy_ecs::entity::Entity, &mut ResourceField)>();
                let drained = q.iter_mut(&mut k.world).nth(*i).map(|(e, mut f)| {
                    f.remaining = f.remaining.saturating_sub(*amount).max(1);
                    e
                });
                if let Some(e) = drained {
                    mark_changed(&mut k.world, e);
                }
            }
            Op::Wait => {}
        }
        for _ in 0..ticks_between {
            k.tick();
            stream.extend(clients.drain(&mut k));
            if check_each_tick {
                clients.check(&mut k, &requested);
            }
        }
    }
    clients.check(&mut k, &requested);
    stream
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Over random worlds, viewports, zooms and march changes, every observer's set equals the
    /// brute-force rule and a copy rebuilt from the deltas equals the server's view.
    #[test]
    fn observers_match_the_brute_force_rule(
        seed in 0u64..1000,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run_ops(seed, &ops, 2, true);
    }
}

#[test]
fn deltas_are_deterministic_with_many_observers() {
    // Enough observers to take the parallel path (1024); the streams of two runs are identical.
    let mut ops: Vec<Op> = (0..1100u64)
        .map(|o| {
            let x = (o * 37 % 80) as u16;
            let y = (o * 53 % 80) as u16;
            Op::View(
                o,
                Viewport::new(x, y, 20 + (o % 30) as u16, 16, (o % 3) as u8),
            )
        })
        .collect();
    for i in 0..12 {
        ops.push(Op::Spawn(
            vec![(i * 7, 3), (90 - i * 5, 80), (10, 90)],
            0,
            100,
        ));
        ops.push(Op::Send(1 + u64::from(i % 3), usize::from(i % 4)));
    }
    ops.push(Op::Wait);
    let a = run_ops(21, &ops, 1, false);
    let b = run_ops(21, &ops, 1, false);
    assert!(a.len() >= 1100);
    assert_eq!(a, b);
}
