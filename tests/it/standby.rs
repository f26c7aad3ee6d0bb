//! Issue 13, stage 1: `dominion serve --standby` beside a live owner. The standby serves the
//! kingdom as last saved to clients on its own address (logins of existing accounts, commands,
//! viewports, mailbox pages) and writes nothing: the owner epoch, the accounts, presence and
//! mailboxes are left as the owner keeps them, and its saves are dropped and counted.

use std::time::Duration;

use dominion_net::client::{Client, ClientError, ClientOptions};
use dominion_net::proto::{
    CommandBody, CommandOutcome, ErrorCode, MailList, MailMarkRead, ServerMessage,
};
use dominion_persistence::{CoordinationConfig, KingdomId, Migrations, StoreConfig, find_account};
use dominion_tools::admin::AdminClient;
use serde_json::json;

use crate::admin::{TOKEN, admin_addr, login, token_file};
use crate::private_redis::PrivateRedis;
use crate::support::{
    ServerProcess, eventually, fetch_metrics, metric_value, runtime, start_game_server,
};

#[test]
fn a_standby_serves_the_saved_kingdom_on_its_own_address_and_writes_nothing() {
    let redis = PrivateRedis::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let tf = tokens.to_str().unwrap();
    let coordination = redis.url();
    let (mut owner, owner_quic, owner_fp) = start_game_server(
        dir.path(),
        &["--coordination", &coordination, "--admin-token-file", tf],
    );
    let owner_admin = admin_addr(&mut owner);
    let owner_metrics = owner.metrics_addr();
    let db = dir.path().join("data").join("dominion.db");
    let store_url = format!("sqlite://{}", db.display());

    // Pia plays on the owner; the standby starts once her city is in a save.
    let rt = runtime();
    let (pia_a, mut pushes_a) = rt
        .block_on(Client::connect(owner_quic, ClientOptions::new(owner_fp)))
        .unwrap();
    let pia_id = rt.block_on(pia_a.login(login("pia"))).unwrap().player_id;
    let pia = dominion_sim::types::PlayerId(pia_id);
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match pushes_a.recv().await {
                    Some(ServerMessage::PlayerDelta(d)) if d.whole => break,
                    Some(_) => continue,
                    None => panic!("push channel closed"),
                }
            }
        })
        .await
        .expect("pia's own state")
    });
    rt.spawn(async move { while pushes_a.recv().await.is_some() {} });
    let written = |addr: &str| {
        metric_value(&fetch_metrics(addr), "dominion_save_batches_written").unwrap_or(0.0)
    };
    let before = written(&owner_metrics);
    assert!(eventually(Duration::from_secs(30), || written(
        &owner_metrics
    ) > before));

    let store = rt
        .block_on(StoreConfig::from_url(&store_url).unwrap().open())
        .unwrap();
    let coord = rt
        .block_on(CoordinationConfig::from_url(&coordination).unwrap().open())
        .unwrap();
    let kingdom = KingdomId(1);
    let epoch = rt.block_on(store.current_epoch(kingdom)).unwrap();
    let owner_instance = rt.block_on(coord.get_presence(pia)).unwrap();
    assert!(owner_instance.is_some());

    let standby_dir = tempfile::tempdir().unwrap();
    let mut standby = ServerProcess::start(&[
        "--standby",
        "--assets",
        dir.path().join("assets").to_str().unwrap(),
        "--data",
        standby_dir.path().join("data").to_str().unwrap(),
        "--store",
        &store_url,
        "--coordination",
        &coordination,
        "--admin-token-file",
        tf,
    ]);
    let line = standby.wait_for("dominion: STANDBY:", Duration::from_secs(60));
    assert!(
        line.contains(&format!("owner epoch {epoch}, left alone")),
        "{line}"
    );
    let (quic, fp) = standby.quic_endpoint();
    standby.wait_for("kingdom running", Duration::from_secs(60));
    let standby_admin = admin_addr(&mut standby);
    let standby_metrics = standby.metrics_addr();

    // Pia logs in on the standby as the same player (her account, read from the store), sees
    // her city and gets her commands answered by its world.
    let (pia_b, mut pushes_b) = rt
        .block_on(Client::connect(quic, ClientOptions::new(fp)))
        .unwrap();
    let ok = rt.block_on(pia_b.login(login("pia"))).unwrap();
    assert_eq!(ok.player_id, pia_id);
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match pushes_b.recv().await {
                    Some(ServerMessage::PlayerDelta(d)) if d.whole => {
                        assert!(d.city.is_some(), "the standby loaded pia's city");
                        break;
                    }
                    Some(_) => continue,
                    None => panic!("push channel closed"),
                }
            }
        })
        .await
        .expect("pia's own state on the standby")
    });
    rt.spawn(async move { while pushes_b.recv().await.is_some() {} });
    let outcome = rt
        .block_on(pia_b.command(CommandBody::Recall { march_id: 1 }))
        .unwrap();
    assert!(
        !matches!(outcome, CommandOutcome::Recalled { .. }),
        "{outcome:?}"
    );
    // Guilds are read, not changed.
    match rt.block_on(pia_b.guild(dominion_net::proto::GuildActionWire::Create {
        name: "Standby Club".into(),
        tag: "SBC".into(),
    })) {
        Err(ClientError::Server { code, message }) => {
            assert_eq!(code, ErrorCode::MAINTENANCE.0);
            assert!(message.contains("standby"), "{message}");
        }
        other => panic!("a guild on a standby: {other:?}"),
    }
    assert_eq!(
        rt.block_on(pia_b.guild(dominion_net::proto::GuildActionWire::Show { guild: 0 }))
            .unwrap(),
        None
    );
    // Mailboxes are read, not changed.
    let page = rt.block_on(pia_b.request(MailList {
        before: 0,
        limit: 10,
    }));
    assert!(matches!(page, Ok(ServerMessage::MailPage(_))), "{page:?}");
    match rt.block_on(pia_b.request(MailMarkRead { ids: vec![1] })) {
        Err(ClientError::Server { code, message }) => {
            assert_eq!(code, ErrorCode::MAINTENANCE.0);
            assert!(message.contains("standby"), "{message}");
        }
        other => panic!("marking read on a standby: {other:?}"),
    }

    // A new player is sent to the live server: a standby creates no accounts.
    let (newbie, _newbie_pushes) = rt
        .block_on(Client::connect(quic, ClientOptions::new(fp)))
        .unwrap();
    match rt.block_on(newbie.login(login("newbie"))) {
        Err(ClientError::Server { code, message }) => {
            assert_eq!(code, ErrorCode::MAINTENANCE.0);
            assert!(message.contains("creates no accounts"), "{message}");
        }
        other => panic!("a new account on a standby: {other:?}"),
    }
    let migrations = Migrations::builtin();
    assert_eq!(
        rt.block_on(find_account(store.as_ref(), &migrations, 1, "newbie"))
            .unwrap(),
        None
    );

    // It says what it is, refuses what would write, and counts the saves it dropped.
    rt.block_on(async {
        let admin = AdminClient::new(standby_admin, TOKEN);
        let status = admin.get("/v1/status").await.unwrap();
        assert_eq!(status.body["role"], "standby", "{status:?}");
        assert_eq!(status.body["owner_epoch"], epoch);
        let mail = admin
            .send(
                "POST",
                "/v1/mail",
                Some(&json!({"to": {"player": pia_id}, "title": "hi", "text": "x"})),
            )
            .await
            .unwrap();
        assert_eq!(mail.status, 409, "{mail:?}");
        assert_eq!(mail.body["code"], "standby");
        let owner_status = AdminClient::new(owner_admin, TOKEN)
            .get("/v1/status")
            .await
            .unwrap();
        assert_eq!(owner_status.body["role"], "owner");
    });
    let dropped = || {
        metric_value(
            &fetch_metrics(&standby_metrics),
            "dominion_save_batches_dropped",
        )
        .unwrap_or(0.0)
    };
    assert!(eventually(Duration::from_secs(30), || dropped() >= 2.0));
    let body = fetch_metrics(&standby_metrics);
    assert_eq!(metric_value(&body, "dominion_standby"), Some(1.0));
    assert_eq!(
        metric_value(&body, "dominion_save_batches_written"),
        Some(0.0)
    );

    // The owner still holds the kingdom, keeps saving, and pia's presence still names it.
    assert_eq!(rt.block_on(store.current_epoch(kingdom)).unwrap(), epoch);
    assert_eq!(
        rt.block_on(coord.get_presence(pia)).unwrap(),
        owner_instance
    );
    let before = written(&owner_metrics);
    assert!(eventually(Duration::from_secs(30), || written(
        &owner_metrics
    ) > before));

    let (status, lines) = standby.terminate();
    assert!(status.success(), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("standby: nothing saved")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("world saved")),
        "{lines:#?}"
    );
    // The owner was never fenced and stops as usual, with its final save.
    assert_eq!(rt.block_on(store.current_epoch(kingdom)).unwrap(), epoch);
    drop(pia_a);
    let (status, lines) = owner.terminate();
    assert!(status.success(), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("world saved")),
        "{lines:#?}"
    );
}

#[test]
fn a_standby_of_a_store_with_no_saved_world_stops_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::write_assets(
        &dir.path().join("assets"),
        &crate::support::small_asset_files(200),
    );
    let empty = dir.path().join("empty.db");
    let standby = ServerProcess::start(&[
        "--standby",
        "--assets",
        dir.path().join("assets").to_str().unwrap(),
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--store",
        &format!("sqlite://{}", empty.display()),
    ]);
    let (status, lines) = standby.wait_within(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("holds no saved world of kingdom 1")
                && l.contains("start the owner instance first")),
        "{lines:#?}"
    );
}
