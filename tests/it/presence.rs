//! Presence refresh rounds against a real Redis and a real QUIC server: the round's player list
//! is older than its writes, and a refresh must never bring back a player who logged out during
//! the round, nor take the presence from another instance the player logged in on meanwhile.

use std::sync::Arc;
use std::time::Duration;

use dominion::login::{DevVerifier, LoginService, LoginSettings, PresenceRound};
use dominion_net::client::{Client, ClientOptions};
use dominion_net::transport::{Server, ServerEvent, ServerOptions};
use dominion_persistence::{Migrations, RedisCoordination, SqliteStore};
use dominion_sim::types::PlayerId;

use crate::private_redis::PrivateRedis;
use crate::support::runtime;

#[test]
fn a_refresh_round_never_resurrects_a_logged_out_player_nor_takes_another_instances_presence() {
    let redis = PrivateRedis::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let store = Arc::new(
            SqliteStore::open(dir.path().join("store.db"), Duration::from_secs(5))
                .await
                .unwrap(),
        );
        let coord = Arc::new(
            RedisCoordination::connect(&redis.url(), "pr:")
                .await
                .unwrap(),
        );
        let login = LoginService::new(
            store,
            coord.clone(),
            Arc::new(Migrations::builtin()),
            Arc::new(DevVerifier),
            LoginSettings::new(1, "here"),
        );
        let (server, mut events) = Server::bind(ServerOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path(),
        ))
        .unwrap();
        let net = server.handle();
        // One player really online here: a QUIC session bound to it.
        let (_client, _pushes) = Client::connect(
            server.local_addr(),
            ClientOptions::new(server.fingerprint()),
        )
        .await
        .unwrap();
        let session = loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Some(ServerEvent::Connected { session, .. })) => break session,
                Ok(Some(_)) => continue,
                other => panic!("no session: {other:?}"),
            }
        };
        let (online, left, moved) = (
            PlayerId(1 << 16 | 1),
            PlayerId(2 << 16 | 1),
            PlayerId(3 << 16 | 1),
        );
        net.bind_player(session, online).unwrap();
        let key = |p: PlayerId| format!("pr:presence:{}", p.0);

        // The round's list was taken while all three were online here. Since then `left` logged
        // out (its presence cleared) and `moved` logged in on another instance.
        use dominion_persistence::Coordination;
        coord
            .set_presence(moved, "there", Duration::from_secs(300))
            .await
            .unwrap();
        let round = login.refresh_presence(&net, &[online, left, moved]).await;
        assert_eq!(
            round,
            PresenceRound {
                written: 1,
                gone: 1,
                elsewhere: 1,
                failed: 0
            }
        );
        assert_eq!(
            redis.get(&key(online)),
            "here",
            "the online player's presence stands"
        );
        assert_eq!(
            redis.get(&key(left)),
            "",
            "the logged-out player is not brought back"
        );
        assert_eq!(
            redis.get(&key(moved)),
            "there",
            "another instance's presence is left alone"
        );

        // The same when the logout's clear ran before the round's write: still not resurrected,
        // and a Redis that lost everything gets the online player back.
        coord
            .set_presence(left, "here", Duration::from_secs(300))
            .await
            .unwrap();
        coord.clear_presence(left, "here").await.unwrap();
        let round = login.refresh_presence(&net, &[online, left]).await;
        assert_eq!((round.written, round.gone), (1, 1), "{round:?}");
        assert_eq!(redis.get(&key(left)), "");
        server.shutdown("done", Duration::from_millis(200)).await;
    });
}
