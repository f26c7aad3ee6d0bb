//! Mail over real QUIC against a running `dominion serve` (SQLite, and MongoDB when
//! `DOMINION_TEST_MONGO_URL` is set): a player offline during an attack on their city reads the
//! battle report at their next login; the attacker, online, got the push and has the same report
//! as mail; list / read / mark read / delete answer as documented. And the mail service itself:
//! system mail to one player, a list, or everyone, with expiry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dominion::mail::{MailService, MailSettings, Recipients, SystemMail, codes};
use dominion_net::client::{Client, ClientError, ClientOptions};
use dominion_net::proto::mail::decode_report;
use dominion_net::proto::notice::{BattleReportWire, EventBody};
use dominion_net::proto::{
    CommandBody, CommandOutcome, Login, MailDelete, MailList, MailMarkRead, MailRead, ServerMessage,
};
use dominion_persistence::store::now_unix_ms;
use dominion_persistence::{
    KingdomId, MailKind, Migrations, PlayerRecord, StoreConfig, WriteBatch, open_mail_store,
};
use dominion_sim::types::{ObjectId, PlayerId, Resources, TilePos, Troops};

use crate::support::{runtime, small_asset_files, start_game_server, write_assets};

fn login(name: &str) -> Login {
    Login {
        openid: name.into(),
        platform_token: "dev".into(),
        client_version: "test".into(),
    }
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

async fn list(c: &Client, before: u64, limit: u16) -> dominion_net::proto::MailPage {
    match c.request(MailList { before, limit }).await.unwrap() {
        ServerMessage::MailPage(p) => p,
        other => panic!("expected a MailPage, got {other:?}"),
    }
}

async fn read_report(c: &Client, id: u64) -> BattleReportWire {
    let ServerMessage::MailItem(item) = c.request(MailRead { id }).await.unwrap() else {
        panic!("expected a MailItem")
    };
    assert!(item.mail.read);
    match decode_report(&item.mail.body).expect("report body").event {
        EventBody::Battle(r) => r,
        other => panic!("expected a battle report, got {other:?}"),
    }
}

/// The mail scenario against a server started with `extra` options.
fn offline_defender_reads_the_report_at_next_login(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    write_assets(&dir.path().join("assets"), &small_asset_files(96));
    let (server, addr, fp) = start_game_server(dir.path(), extra);
    runtime().block_on(async {
        let (ada, mut ada_pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        ada.login(login("ada")).await.unwrap();
        let pushed = Arc::new(Mutex::new(Vec::new()));
        let (p, own) = (pushed.clone(), Arc::new(Mutex::new(None)));
        let own2 = own.clone();
        tokio::spawn(async move {
            while let Some(m) = ada_pushes.recv().await {
                match m {
                    ServerMessage::PlayerEvent(e) => p.lock().unwrap().push(e.event),
                    ServerMessage::PlayerDelta(d) if d.whole => {
                        *own2.lock().unwrap() = Some((d.city.unwrap().x, d.city.unwrap().y))
                    }
                    _ => {}
                }
            }
        });
        let (ax, ay) = until("ada's city", 10, || *own.lock().unwrap()).await;

        // Bo settles next to ada, then goes offline.
        let (bo, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let bo_id = bo.login(login("bo")).await.unwrap().player_id;
        let mut city = None;
        'search: for r in 3i32..12 {
            for (dx, dy) in [(r, 0), (-r, 0), (0, r), (0, -r), (r, r), (-r, -r)] {
                let (x, y) = (i32::from(ax) + dx, i32::from(ay) + dy);
                if !(0..96).contains(&x) || !(0..96).contains(&y) {
                    continue;
                }
                if let CommandOutcome::Relocated { city_id, .. } = bo
                    .command(CommandBody::RelocateCity {
                        x: x as u16,
                        y: y as u16,
                    })
                    .await
                    .unwrap()
                {
                    city = Some(city_id);
                    break 'search;
                }
            }
        }
        let city = city.expect("a free tile near ada");
        bo.close();
        drop(bo);

        let CommandOutcome::MarchSent { march_id, .. } = ada
            .command(CommandBody::SendMarch {
                troops: vec![(0, 6000), (2, 2000)],
                target: city,
                mission: 1,
            })
            .await
            .unwrap()
        else {
            panic!("attack refused")
        };
        // Ada, online, gets the report pushed...
        let pushed_report = until("ada's battle push", 60, || {
            pushed.lock().unwrap().iter().find_map(|e| match e {
                EventBody::Battle(r) if r.attackers[0].object == march_id => Some(r.clone()),
                _ => None,
            })
        })
        .await;
        // ...and as mail.
        let page = {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let page = list(&ada, 0, 10).await;
                if !page.mails.is_empty() || Instant::now() > deadline {
                    break page;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        assert_eq!((page.total, page.unread), (1, 1));
        let m = &page.mails[0];
        assert_eq!(m.kind, MailKind::Battle.code() as u8);
        assert!(m.body.is_empty(), "pages carry no bodies");
        assert!(
            m.title
                .starts_with(&format!("Battle #{}", pushed_report.battle))
        );
        assert_eq!(read_report(&ada, m.id).await, pushed_report);
        assert_eq!(list(&ada, 0, 10).await.unread, 0, "reading marks it read");

        // Bo logs in later and finds the report of the attack on his city.
        let (bo, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        assert_eq!(bo.login(login("bo")).await.unwrap().player_id, bo_id);
        let page = list(&bo, 0, 10).await;
        assert_eq!((page.total, page.unread), (1, 1), "{page:?}");
        let report = read_report(&bo, page.mails[0].id).await;
        assert_eq!(report, pushed_report);
        assert_eq!(report.defenders[0].object, city);
        assert_eq!(report.defenders[0].player, bo_id);
        assert!(
            page.mails[0].title.ends_with(if report.attacker_won {
                "defeat"
            } else {
                "victory"
            }),
            "the title is from bo's side: {}",
            page.mails[0].title
        );

        // Mark read and delete answer; others' mail is not reachable.
        let ServerMessage::MailDone(d) = bo
            .request(MailMarkRead {
                ids: vec![page.mails[0].id],
            })
            .await
            .unwrap()
        else {
            panic!("MailDone")
        };
        assert_eq!(d.changed, 0, "already read by reading it");
        let ada_mail = list(&ada, 0, 10).await.mails[0].id;
        let err = bo.request(MailRead { id: ada_mail }).await.unwrap_err();
        assert_eq!(err.server_code(), Some(codes::MAIL_NOT_FOUND), "{err}");
        let ServerMessage::MailDone(d) = bo
            .request(MailDelete {
                id: page.mails[0].id,
            })
            .await
            .unwrap()
        else {
            panic!("MailDone")
        };
        assert_eq!(d.changed, 1);
        assert_eq!(list(&bo, 0, 10).await.total, 0);
        // A bad page size is refused by the protocol layer with a reason.
        let err = bo
            .request(MailList {
                before: 0,
                limit: 0,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::Server { .. }),
            "a zero-sized page is refused: {err}"
        );
    });
    let (status, lines) = server.terminate();
    assert!(status.success(), "{}", lines.join("\n"));
}

#[test]
fn offline_defender_reads_the_battle_report_at_next_login_sqlite() {
    offline_defender_reads_the_report_at_next_login(&[]);
}

#[test]
fn offline_defender_reads_the_battle_report_at_next_login_mongodb() {
    let Some(url) = crate::support::mongo_url("mail over QUIC on MongoDB") else {
        return;
    };
    let db = format!("mailq{}", std::process::id());
    let store = crate::support::mongo_store_url(&url, &db);
    offline_defender_reads_the_report_at_next_login(&["--store", &store]);
}

/// System mail through the service on a real store: one player, a list, everyone (the players
/// saved in the store), with expiry hiding it.
async fn system_mail_reaches_one_a_list_and_everyone(store_url: &str) {
    let cfg = StoreConfig::from_url(store_url).unwrap();
    let world = cfg.open().await.unwrap();
    let mail = open_mail_store(&cfg).await.unwrap();
    let k = KingdomId(9);
    let epoch = world.bump_epoch(k).await.unwrap();
    let mut batch = WriteBatch::new(k);
    for p in 1..=30u64 {
        batch.upsert(PlayerRecord {
            player: PlayerId(p),
            name: format!("p{p}"),
            city_id: ObjectId(p),
            city: TilePos::new(p as u16, 1),
            troops: Troops(vec![1]),
            wounded: Troops::default(),
            resources: Resources::default(),
            alliance: None,
            grants: Default::default(),
            relocated_at: None,
        });
    }
    world.apply(epoch, &batch).await.unwrap();
    let settings = MailSettings {
        chunk: 7,
        ..MailSettings::default()
    };
    let (handle, _task) = MailService::spawn(
        mail.clone(),
        world,
        Arc::new(Migrations::builtin()),
        k,
        None,
        settings,
    );
    let sys = |to, title: &str, expires| SystemMail {
        to,
        title: title.into(),
        text: format!("{title} text"),
        attachments: Vec::new(),
        expires_unix_ms: expires,
    };
    assert_eq!(
        handle
            .system(sys(Recipients::One(PlayerId(3)), "hi", None))
            .await,
        Ok(1)
    );
    assert_eq!(
        handle
            .system(sys(
                Recipients::List(vec![PlayerId(1), PlayerId(2), PlayerId(2)]),
                "pair",
                None
            ))
            .await,
        Ok(2),
        "a list names each player once"
    );
    let soon = now_unix_ms() + 60_000;
    assert_eq!(
        handle
            .system(sys(Recipients::All, "everyone", Some(soon)))
            .await,
        Ok(30)
    );
    let now = now_unix_ms();
    let p3 = mail.list(k, PlayerId(3), None, 10, now).await.unwrap();
    let titles: Vec<&str> = p3.mails.iter().map(|m| m.mail.title.as_str()).collect();
    assert_eq!(titles, vec!["everyone", "hi"]);
    assert_eq!(p3.mails[1].mail.body, b"hi text");
    let p2 = mail.list(k, PlayerId(2), None, 10, now).await.unwrap();
    assert_eq!(p2.total, 2);
    let p30 = mail.list(k, PlayerId(30), None, 10, now).await.unwrap();
    assert_eq!(p30.total, 1);
    // After its expiry the broadcast is gone from every mailbox's view.
    let later = mail
        .list(k, PlayerId(30), None, 10, soon + 1)
        .await
        .unwrap();
    assert_eq!(later.total, 0);
    let stats = handle.stats();
    assert_eq!(
        stats.delivered.load(std::sync::atomic::Ordering::Relaxed),
        33
    );
    assert!(
        stats.chunks.load(std::sync::atomic::Ordering::Relaxed) >= 5,
        "30 in chunks of 7"
    );
}

#[test]
fn system_mail_reaches_one_a_list_and_everyone_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    runtime().block_on(system_mail_reaches_one_a_list_and_everyone(&url));
}

#[test]
fn system_mail_reaches_one_a_list_and_everyone_mongodb() {
    let Some(url) = crate::support::mongo_url("system mail on MongoDB") else {
        return;
    };
    let store = crate::support::mongo_store_url(&url, &format!("mails{}", std::process::id()));
    runtime().block_on(system_mail_reaches_one_a_list_and_everyone(&store));
}
