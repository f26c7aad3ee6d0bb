//! The Coordination behavioural suite, run against the embedded (SQLite) and Redis backends.
//! `second` is an independent handle on the same state (another process on the same machine).

use std::time::Duration;

use dominion_persistence::{CoordError, CoordinationConfig, InstanceInfo, LockToken};
use dominion_sim::types::PlayerId;

use crate::common::CoordHarness;

per_coord_backend!(
    presence_is_shared_expires_and_clears_only_for_its_instance,
    refreshing_presence_never_takes_it_from_another_instance,
    lock_is_exclusive_token_guarded_and_expires,
    instance_registry_heartbeats_and_expires,
    invalid_requests_are_refused,
);

async fn presence_is_shared_expires_and_clears_only_for_its_instance(h: CoordHarness) {
    let (a, b) = (h.coord.as_ref(), h.second.as_ref());
    let p = PlayerId::compose(77, 2);
    assert_eq!(a.get_presence(p).await.expect("get"), None);
    a.set_presence(p, "old-instance", Duration::from_secs(30))
        .await
        .expect("set");
    assert_eq!(
        b.get_presence(p).await.expect("get").as_deref(),
        Some("old-instance")
    );
    // Login on the new instance moves the player.
    b.set_presence(p, "new-instance", Duration::from_secs(30))
        .await
        .expect("move");
    // The old instance's late logout must not clear the new presence.
    assert!(
        !a.clear_presence(p, "old-instance")
            .await
            .expect("clear stale")
    );
    assert_eq!(
        a.get_presence(p).await.expect("get").as_deref(),
        Some("new-instance")
    );
    assert!(b.clear_presence(p, "new-instance").await.expect("clear"));
    assert_eq!(a.get_presence(p).await.expect("get"), None);
    // Expiry.
    a.set_presence(p, "x", Duration::from_millis(500))
        .await
        .expect("short");
    assert_eq!(b.get_presence(p).await.expect("get").as_deref(), Some("x"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(b.get_presence(p).await.expect("expired"), None);
}

async fn refreshing_presence_never_takes_it_from_another_instance(h: CoordHarness) {
    let (a, b) = (h.coord.as_ref(), h.second.as_ref());
    let p = PlayerId::compose(78, 2);
    let ttl = Duration::from_secs(30);
    // Absent (a coordination restart lost it, or it expired): a refresh writes it back.
    assert!(a.refresh_presence(p, "a", ttl).await.expect("refresh"));
    assert_eq!(b.get_presence(p).await.expect("get").as_deref(), Some("a"));
    // Its own: rewritten, with a new expiry.
    assert!(
        a.refresh_presence(p, "a", Duration::from_millis(400))
            .await
            .expect("own")
    );
    assert!(a.refresh_presence(p, "a", ttl).await.expect("own"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        b.get_presence(p).await.expect("get").as_deref(),
        Some("a"),
        "expiry renewed"
    );
    // The player logged in on another instance meanwhile: a stale refresh changes nothing.
    b.set_presence(p, "b", ttl).await.expect("move");
    assert!(
        !a.refresh_presence(p, "a", ttl)
            .await
            .expect("stale refresh")
    );
    assert_eq!(a.get_presence(p).await.expect("get").as_deref(), Some("b"));
    // Another instance's expired entry is free again.
    b.set_presence(p, "b", Duration::from_millis(300))
        .await
        .expect("short");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(a.refresh_presence(p, "a", ttl).await.expect("after expiry"));
    assert_eq!(b.get_presence(p).await.expect("get").as_deref(), Some("a"));
    assert!(a.clear_presence(p, "a").await.expect("clear"));
}

async fn lock_is_exclusive_token_guarded_and_expires(h: CoordHarness) {
    let (a, b) = (h.coord.as_ref(), h.second.as_ref());
    let t1 = a
        .try_lock("rotation:k1", Duration::from_secs(30))
        .await
        .expect("lock")
        .expect("free");
    assert_eq!(
        b.try_lock("rotation:k1", Duration::from_secs(30))
            .await
            .expect("lock"),
        None
    );
    // Another lock name is independent.
    let other = b
        .try_lock("rotation:k2", Duration::from_secs(30))
        .await
        .expect("lock")
        .expect("free");
    // Only the holder unlocks or extends.
    let forged = LockToken("forged".into());
    assert!(
        !b.unlock("rotation:k1", &forged)
            .await
            .expect("unlock forged")
    );
    assert!(
        !b.extend_lock("rotation:k1", &forged, Duration::from_secs(60))
            .await
            .expect("extend forged")
    );
    assert!(
        b.unlock("rotation:k1", &t1)
            .await
            .expect("holder's token unlocks from anywhere")
    );
    assert!(!a.unlock("rotation:k1", &t1).await.expect("double unlock"));
    // Expiry hands the lock over; the old holder's token is then useless.
    let t2 = a
        .try_lock("rotation:k1", Duration::from_millis(400))
        .await
        .expect("lock")
        .expect("free");
    assert!(
        a.extend_lock("rotation:k1", &t2, Duration::from_millis(500))
            .await
            .expect("extend")
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t3 = b
        .try_lock("rotation:k1", Duration::from_secs(30))
        .await
        .expect("lock")
        .expect("expired");
    assert_ne!(t2, t3);
    assert!(!a.unlock("rotation:k1", &t2).await.expect("old token"));
    assert!(
        !a.extend_lock("rotation:k1", &t2, Duration::from_secs(1))
            .await
            .expect("old token")
    );
    assert!(b.unlock("rotation:k1", &t3).await.expect("unlock"));
    assert!(b.unlock("rotation:k2", &other).await.expect("unlock"));
    // Many contenders at once: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let c = if i % 2 == 0 {
            h.coord.clone()
        } else {
            h.second.clone()
        };
        tasks.push(tokio::spawn(async move {
            c.try_lock("contended", Duration::from_secs(30))
                .await
                .expect("lock")
                .is_some()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.expect("task"));
    }
    assert_eq!(winners, 1);
}

fn info(id: &str) -> InstanceInfo {
    InstanceInfo {
        id: id.into(),
        address: format!("{id}.local:4433"),
        kingdoms: vec![1, 2],
        version: "0.1.0".into(),
        started_unix_ms: 1_700_000_000_000,
    }
}

async fn instance_registry_heartbeats_and_expires(h: CoordHarness) {
    let (a, b) = (h.coord.as_ref(), h.second.as_ref());
    assert!(a.list_instances().await.expect("list").is_empty());
    a.register_instance(&info("b-new"), Duration::from_secs(30))
        .await
        .expect("reg");
    b.register_instance(&info("a-old"), Duration::from_millis(600))
        .await
        .expect("reg");
    let listed = a.list_instances().await.expect("list");
    assert_eq!(listed, vec![info("a-old"), info("b-new")]);
    // Heartbeats keep a-old alive past its first TTL.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.register_instance(&info("a-old"), Duration::from_millis(600))
            .await
            .expect("beat");
    }
    assert_eq!(a.list_instances().await.expect("list").len(), 2);
    // Without heartbeats it expires.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(a.list_instances().await.expect("list"), vec![info("b-new")]);
    // It can come back, and deregistering removes it at once.
    b.register_instance(&info("a-old"), Duration::from_secs(30))
        .await
        .expect("back");
    assert_eq!(b.list_instances().await.expect("list").len(), 2);
    a.deregister_instance("b-new").await.expect("dereg");
    assert_eq!(b.list_instances().await.expect("list"), vec![info("a-old")]);
}

async fn invalid_requests_are_refused(h: CoordHarness) {
    let a = h.coord.as_ref();
    assert!(matches!(
        a.try_lock("", Duration::from_secs(1)).await,
        Err(CoordError::Invalid(_))
    ));
    assert!(matches!(
        a.try_lock("x", Duration::ZERO).await,
        Err(CoordError::Invalid(_))
    ));
    assert!(matches!(
        a.set_presence(PlayerId(1), "", Duration::from_secs(1))
            .await,
        Err(CoordError::Invalid(_))
    ));
}

#[tokio::test]
async fn redis_down_is_a_clear_error_without_password() {
    // Port 1 on loopback: nothing listens there.
    let cfg =
        CoordinationConfig::from_url("redis://:hunter2@127.0.0.1:1/0?prefix=t:").expect("url");
    let err = match cfg.open().await {
        Ok(_) => panic!("connected to a closed port"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(
        matches!(
            err,
            CoordError::Unavailable {
                backend: "redis",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("hunter2"),
        "{text}"
    );
}
