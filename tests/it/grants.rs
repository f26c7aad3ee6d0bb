//! Attachments claimed exactly once and compensation tickets, on a real store (an SQLite file,
//! and the MongoDB-wire server when `DOMINION_TEST_MONGO_URL` is set): the world runs on a
//! thread of its own with the real `Persister` and grant desk, the mail service on tokio.
//!
//! - a ticket's mail reaches every recipient once; the same ticket id again reports success and
//!   sends nothing; the same id asking for something else is refused; the audit says who, when,
//!   to whom and what became of it;
//! - a claim made twice at once grants once (one answer "granted", the other "already
//!   claimed"), and the resources and the ledger entry land in the same player record;
//! - a grant saved but never marked (a crash between the save and the mark) is marked by the
//!   next start's reconciliation, and claiming it then grants nothing more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dominion::grants::{GrantAnswer, GrantDesk, GrantSender};
use dominion::mail::{
    MailHandle, MailRequest, MailService, MailSettings, Recipients, SystemMail, Ticket,
    TicketError, codes,
};
use dominion::persist::{Persister, load_world};
use dominion_net::proto::{MailClaim, ServerMessage};
use dominion_persistence::store::now_unix_ms;
use dominion_persistence::{
    KingdomId, MailStore, Migrations, PlayerRecord, Store, StoreConfig, TicketRecipients,
    TicketStatus, load_records, open_mail_store,
};
use dominion_sim::Kingdom;
use dominion_sim::types::{PlayerId, Resources};

use crate::support::{parse_ok, runtime, small_asset_files};

const PLAYERS: u64 = 5;

/// The world on its own thread: grants in before each tick, a save every tick, answers out once
/// saves are durable.
struct RunningWorld {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Kingdom, Persister)>,
}

fn start_world(
    rt: &tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    k: KingdomId,
    mut kingdom: Kingdom,
) -> (RunningWorld, GrantSender) {
    let epoch = rt.block_on(store.bump_epoch(k)).unwrap();
    let mut persister = {
        let _g = rt.enter();
        Persister::start(store, k, epoch, 1, &mut kingdom)
    };
    let (mut desk, sender) = GrantDesk::new();
    let stop = Arc::new(AtomicBool::new(false));
    let halt = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut journaled = Vec::new();
        while !halt.load(Ordering::Relaxed) {
            desk.before_tick(&mut kingdom, &mut journaled);
            journaled.clear();
            kingdom.tick();
            kingdom.drain_events();
            persister.after_tick(&mut kingdom);
            if let Some(t) = persister.durable_tick() {
                desk.saves_durable(t);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (kingdom, persister)
    });
    (RunningWorld { stop, thread }, sender)
}

fn stop_world(rt: &tokio::runtime::Runtime, w: RunningWorld) {
    w.stop.store(true, Ordering::Relaxed);
    let (mut kingdom, persister) = w.thread.join().expect("world thread");
    rt.block_on(persister.shutdown(&mut kingdom)).unwrap();
}

async fn claim(handle: &MailHandle, player: PlayerId, id: u64) -> ServerMessage {
    handle
        .ask(player, MailRequest::Claim(MailClaim { id }))
        .await
        .unwrap()
}

async fn stored_player(store: &dyn Store, k: KingdomId, p: PlayerId) -> PlayerRecord {
    load_records::<PlayerRecord>(store, &Migrations::builtin(), k)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.player == p)
        .expect("player record")
}

async fn mail_titled(mail: &dyn MailStore, k: KingdomId, p: PlayerId, title: &str) -> Vec<u64> {
    mail.list(k, p, None, 100, now_unix_ms())
        .await
        .unwrap()
        .mails
        .iter()
        .filter(|m| m.mail.title == title)
        .map(|m| m.id)
        .collect()
}

fn ticket(id: &str, to: Recipients, attachments: Vec<(u8, u64)>) -> Ticket {
    Ticket {
        id: id.into(),
        operator: "ops-ann".into(),
        to,
        title: id.into(),
        text: format!("{id}: sorry for the outage"),
        attachments,
        reason: "outage of the 1st".into(),
        expires_unix_ms: Some(now_unix_ms() + 3_600_000),
    }
}

fn spawn_mail(
    mail: Arc<dyn MailStore>,
    world: Arc<dyn Store>,
    k: KingdomId,
    grants: GrantSender,
) -> MailHandle {
    MailService::spawn_with_grants(
        mail,
        world,
        Arc::new(Migrations::builtin()),
        k,
        None,
        MailSettings {
            chunk: 2,
            ..MailSettings::default()
        },
        Some(grants),
    )
    .0
}

fn claims_grant_once_and_tickets_send_once(store_url: &str) {
    let rt = runtime();
    let cfg = StoreConfig::from_url(store_url).unwrap();
    let store = rt.block_on(cfg.open()).unwrap();
    let mail = rt.block_on(open_mail_store(&cfg)).unwrap();
    let k = KingdomId(31);
    let assets = Arc::new(parse_ok(&small_asset_files(96)));
    let mut kingdom = Kingdom::generate(3, assets.clone());
    let players: Vec<PlayerId> = (1..=PLAYERS).map(PlayerId).collect();
    for &p in &players {
        kingdom.add_player(p).unwrap();
    }
    let start = kingdom.city(players[0]).unwrap().1.resources;

    let (world, grants) = start_world(&rt, store.clone(), k, kingdom);
    let handle = {
        let _g = rt.enter();
        spawn_mail(mail.clone(), store.clone(), k, grants.clone())
    };
    rt.block_on(async {
        // Reconciliation runs once the first save is durable; the players are saved by then.
        let deadline = Instant::now() + Duration::from_secs(30);
        while load_records::<PlayerRecord>(store.as_ref(), &Migrations::builtin(), k)
            .await
            .unwrap()
            .len()
            < PLAYERS as usize
        {
            assert!(Instant::now() < deadline, "the first save never landed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // A ticket to everyone: once each; again: success, nothing sent; other content: refused.
        let t1 = ticket("T-1", Recipients::All, vec![(0, 500), (3, 7)]);
        let r = handle.issue_ticket(t1.clone()).await.unwrap();
        assert!(r.first_issue);
        assert_eq!(r.delivered_now, PLAYERS);
        assert_eq!(r.ticket.status, TicketStatus::Delivered);
        assert_eq!(r.ticket.delivered, PLAYERS);
        assert_eq!(r.ticket.operator, "ops-ann");
        assert_eq!(r.ticket.recipients, TicketRecipients::All);
        assert!(r.ticket.finished_unix_ms.is_some());
        let again = handle.issue_ticket(t1.clone()).await.unwrap();
        assert!(!again.first_issue);
        assert_eq!(again.delivered_now, 0);
        assert_eq!(again.ticket.repeats, 1, "the audit counts the repeat");
        let other = handle
            .issue_ticket(Ticket {
                attachments: vec![(0, 501)],
                ..t1.clone()
            })
            .await;
        assert!(
            matches!(other, Err(TicketError::Conflict { .. })),
            "{other:?}"
        );
        for &p in &players {
            assert_eq!(
                mail_titled(mail.as_ref(), k, p, "T-1").await.len(),
                1,
                "{p} holds T-1 once"
            );
        }
        let t2 = ticket(
            "T-2",
            Recipients::List(vec![players[1], players[2]]),
            vec![(1, 40)],
        );
        assert_eq!(handle.issue_ticket(t2).await.unwrap().delivered_now, 2);
        let audit = handle.tickets(None, 10).await.unwrap();
        assert_eq!(
            audit.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            vec!["T-2", "T-1"]
        );
        assert_eq!(
            handle.ticket("T-2").await.unwrap().unwrap().recipients,
            TicketRecipients::List(vec![players[1], players[2]])
        );

        // Two claims of one mail at once: one grants, the other is "already claimed".
        let p1 = players[0];
        let m1 = mail_titled(mail.as_ref(), k, p1, "T-1").await[0];
        let (a, b) = tokio::join!(claim(&handle, p1, m1), claim(&handle, p1, m1));
        let flags: Vec<bool> = [a, b]
            .into_iter()
            .map(|m| match m {
                ServerMessage::MailClaimed(c) => {
                    assert_eq!(c.attachments, vec![(0, 500), (3, 7)]);
                    c.already_claimed
                }
                other => panic!("claim answered {other:?}"),
            })
            .collect();
        assert_eq!(
            flags.iter().filter(|&&f| f).count(),
            1,
            "one of the two is already claimed: {flags:?}"
        );
        match claim(&handle, p1, m1).await {
            ServerMessage::MailClaimed(c) => assert!(c.already_claimed),
            other => panic!("{other:?}"),
        }
        let saved = stored_player(store.as_ref(), k, p1).await;
        let mut expect = start;
        expect.add_all(&Resources([500, 0, 0, 7]));
        assert_eq!(saved.resources, expect, "granted once");
        assert!(
            saved.grants.applied.contains(&m1),
            "the ledger entry is in the same record as the resources: {:?}",
            saved.grants
        );
        assert!(mail.get(k, p1, m1).await.unwrap().unwrap().claimed);

        // Mail without attachments, unknown mail, someone else's mail.
        handle
            .system(SystemMail {
                to: Recipients::One(p1),
                title: "news".into(),
                text: "no gifts".into(),
                attachments: Vec::new(),
                expires_unix_ms: None,
            })
            .await
            .unwrap();
        let news = mail_titled(mail.as_ref(), k, p1, "news").await[0];
        for (id, who, code) in [
            (news, p1, codes::MAIL_NOTHING_TO_CLAIM),
            (u64::MAX, p1, codes::MAIL_NOT_FOUND),
            (m1, players[1], codes::MAIL_NOT_FOUND),
        ] {
            match claim(&handle, who, id).await {
                ServerMessage::ErrorReply(e) => assert_eq!(e.code, code.0, "{e:?}"),
                other => panic!("expected an error, got {other:?}"),
            }
        }

        // A crash between the save and the mark: the grant goes through the desk, never marked.
        let p2 = players[1];
        let m2 = mail_titled(mail.as_ref(), k, p2, "T-2").await[0];
        let answer = grants.grant(p2, m2, m2, Resources([0, 40, 0, 0])).await;
        assert_eq!(answer, Some(GrantAnswer::Applied));
        assert!(!mail.get(k, p2, m2).await.unwrap().unwrap().claimed);
    });
    stop_world(&rt, world);
    drop(handle);

    // Restart from the store: reconciliation marks the applied grant; claiming grants nothing.
    let state = rt
        .block_on(load_world(store.as_ref(), &Migrations::builtin(), k))
        .unwrap()
        .unwrap();
    let kingdom = Kingdom::from_state(assets, state).unwrap();
    let p2 = players[1];
    let before = kingdom.city(p2).unwrap().1.resources;
    let (world, grants) = start_world(&rt, store.clone(), k, kingdom);
    let handle = {
        let _g = rt.enter();
        spawn_mail(mail.clone(), store.clone(), k, grants)
    };
    rt.block_on(async {
        let m2 = mail_titled(mail.as_ref(), k, p2, "T-2").await[0];
        let deadline = Instant::now() + Duration::from_secs(30);
        while !mail.get(k, p2, m2).await.unwrap().unwrap().claimed {
            assert!(
                Instant::now() < deadline,
                "reconciliation never marked {m2}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let claims = handle.claims().unwrap();
        assert_eq!(claims.stats.reconciled.load(Ordering::Relaxed), 1);
        match claim(&handle, p2, m2).await {
            ServerMessage::MailClaimed(c) => assert!(c.already_claimed),
            other => panic!("{other:?}"),
        }
        // Player 3's T-2 mail was never claimed: it still grants, once.
        let p3 = players[2];
        let m3 = mail_titled(mail.as_ref(), k, p3, "T-2").await[0];
        match claim(&handle, p3, m3).await {
            ServerMessage::MailClaimed(c) => assert!(!c.already_claimed),
            other => panic!("{other:?}"),
        }
        assert_eq!(stored_player(store.as_ref(), k, p2).await.resources, before);
    });
    stop_world(&rt, world);
}

#[test]
fn claims_grant_once_and_tickets_send_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("grants.db").display());
    claims_grant_once_and_tickets_send_once(&url);
}

#[test]
fn claims_grant_once_and_tickets_send_once_mongodb() {
    let Some(url) = crate::support::mongo_url("grants on MongoDB") else {
        return;
    };
    let store = crate::support::mongo_store_url(&url, &format!("grants{}", std::process::id()));
    claims_grant_once_and_tickets_send_once(&store);
}
