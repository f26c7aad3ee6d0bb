//! Event pushes over real QUIC: a player whose city a hostile march sets out for is warned with
//! the march's ETA; both sides get the same battle report; the attacker is told of the arrival
//! and the return, with what came home — and their own views agree with the pushes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dominion_net::client::{Client, ClientOptions};
use dominion_net::player_view::PlayerView;
use dominion_net::proto::notice::EventBody;
use dominion_net::proto::{CommandBody, CommandOutcome, Login, ServerMessage};
use dominion_sim::player_view::OwnState;

use crate::support::{runtime, small_asset_files, start_game_server, write_assets};

#[derive(Default)]
struct Inbox {
    own: PlayerView,
    events: Vec<(u64, EventBody)>,
}

async fn player(
    addr: std::net::SocketAddr,
    fp: dominion_net::transport::tls::Fingerprint,
    name: &str,
) -> (Client, Arc<Mutex<Inbox>>) {
    let (c, mut pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
    c.login(Login {
        openid: name.into(),
        platform_token: "dev".into(),
        client_version: "test".into(),
    })
    .await
    .unwrap();
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let i = inbox.clone();
    tokio::spawn(async move {
        while let Some(m) = pushes.recv().await {
            let mut i = i.lock().unwrap();
            match m {
                ServerMessage::PlayerDelta(d) => i.own.apply(&d).expect("player delta applies"),
                ServerMessage::PlayerEvent(e) => i.events.push((e.tick, e.event)),
                _ => {}
            }
        }
    });
    (c, inbox)
}

async fn until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn own(i: &Arc<Mutex<Inbox>>) -> Option<OwnState> {
    i.lock().unwrap().own.state().cloned()
}

#[test]
fn an_attack_warns_the_defender_and_reports_the_battle_to_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    write_assets(&dir.path().join("assets"), &small_asset_files(96));
    let (server, addr, fp) = start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let (attacker, a) = player(addr, fp, "ada").await;
        let (defender, d) = player(addr, fp, "bo").await;
        let a_home = until("ada's state", 10, || own(&a)).await;
        until("bo's state", 10, || own(&d)).await;
        // Bo moves next door, so the march is short.
        let mut moved = None;
        'search: for r in 3i32..12 {
            for (dx, dy) in [(r, 0), (-r, 0), (0, r), (0, -r), (r, r), (-r, -r)] {
                let (x, y) = (
                    i32::from(a_home.city_pos.x) + dx,
                    i32::from(a_home.city_pos.y) + dy,
                );
                if !(0..96).contains(&x) || !(0..96).contains(&y) {
                    continue;
                }
                let out = defender
                    .command(CommandBody::RelocateCity {
                        x: x as u16,
                        y: y as u16,
                    })
                    .await
                    .unwrap();
                if let CommandOutcome::Relocated { city_id, .. } = out {
                    moved = Some(city_id);
                    break 'search;
                }
            }
        }
        let city = moved.expect("a free plain tile near ada");
        until("bo's view shows the new tile", 10, || {
            own(&d).filter(|s| s.city.0 == city && s.city_pos != a_home.city_pos)
        })
        .await;

        let CommandOutcome::MarchSent {
            march_id,
            arrival_tick,
        } = attacker
            .command(CommandBody::SendMarch {
                troops: vec![(0, 8000), (2, 3000)],
                target: city,
                mission: 1,
            })
            .await
            .unwrap()
        else {
            panic!("the attack is refused")
        };

        // Bo is warned, with the march's ETA.
        let warning = until("the incoming-attack warning", 10, || {
            d.lock().unwrap().events.iter().find_map(|(_, e)| match e {
                EventBody::IncomingAttack {
                    march,
                    from,
                    mission,
                    target,
                    arrival_tick,
                } if *march == march_id => Some((*from, *mission, *target, *arrival_tick)),
                _ => None,
            })
        })
        .await;
        assert_eq!(warning, (a_home.player.0, 1, city, arrival_tick));
        // Ada's own view has the march, with the same ETA.
        let m = until("ada's march in her view", 10, || {
            own(&a).and_then(|s| {
                s.marches
                    .get(&dominion_sim::types::ObjectId(march_id))
                    .cloned()
            })
        })
        .await;
        assert_eq!(m.route.arrival_tick(), arrival_tick);

        // Both sides get the same battle report.
        let battle = |i: &Arc<Mutex<Inbox>>| {
            i.lock().unwrap().events.iter().find_map(|(_, e)| match e {
                EventBody::Battle(r) => Some(r.clone()),
                _ => None,
            })
        };
        let report_a = until("ada's battle report", 60, || battle(&a)).await;
        let report_d = until("bo's battle report", 10, || battle(&d)).await;
        assert_eq!(report_a, report_d);
        assert_eq!(report_a.attackers[0].object, march_id);
        assert_eq!(report_a.defenders[0].object, city);
        let bo = own(&d).unwrap().player.0;
        assert_eq!(report_a.defenders[0].player, bo);
        // Bo's garrison in his own view is what the report says is left (plus nothing else:
        // he had no marches out).
        let garrison = until("bo's troops after the battle", 10, || {
            own(&d).filter(|s| s.troops.0 == report_d.defenders[0].after)
        })
        .await;
        assert!(
            garrison.wounded.total() > 0,
            "the battle wounded some of bo's troops"
        );

        // Ada is told of the arrival and the return; her view ends with the march gone and
        // its survivors home.
        let home = until("ada's march home", 120, || {
            a.lock().unwrap().events.iter().find_map(|(_, e)| match e {
                EventBody::MarchReturned { march, troops, .. } if *march == march_id => {
                    Some(troops.clone())
                }
                _ => None,
            })
        })
        .await;
        assert_eq!(home, report_a.attackers[0].after, "survivors come home");
        assert!(a.lock().unwrap().events.iter().any(
            |(_, e)| matches!(e, EventBody::MarchArrived { march, .. } if *march == march_id)
        ));
        until("ada's view without the march", 10, || {
            own(&a).filter(|s| s.marches.is_empty())
        })
        .await;
        // Pushes go to the players concerned only.
        assert!(!d.lock().unwrap().events.iter().any(|(_, e)| matches!(
            e,
            EventBody::MarchReturned { .. } | EventBody::MarchArrived { .. }
        )));
    });
    drop(server);
}
