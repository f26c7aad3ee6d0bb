//! Login over real QUIC against a running `dominion serve`: account creation, duplicate-login
//! kicks, command round trips through the sim, resume after a dropped connection, HMAC tokens.

use std::time::Duration;

use dominion::login::{codes, sign_token};
use dominion_net::client::{Client, ClientOptions};
use dominion_net::proto::{CommandBody, CommandOutcome, ErrorCode, Login, ServerMessage};
use dominion_sim::types::PlayerId;

use crate::support::{runtime, start_game_server};

fn login(openid: &str, token: &str) -> Login {
    Login {
        openid: openid.into(),
        platform_token: token.into(),
        client_version: "test".into(),
    }
}

#[test]
fn first_login_creates_the_account_and_later_logins_find_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = start_game_server(dir.path(), &["--server-id", "7"]);
    runtime().block_on(async {
        let (a, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let ok = a.login(login("alice", "dev")).await.unwrap();
        assert_eq!(PlayerId(ok.player_id), PlayerId::compose(1, 7));
        assert_eq!(ok.resume_token.len(), 64);
        let (b, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let ok_b = b.login(login("bob", "dev")).await.unwrap();
        assert_eq!(PlayerId(ok_b.player_id), PlayerId::compose(2, 7));
        // Alice again, on a new connection: same id (and her old session is kicked).
        let (a2, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let again = a2.login(login("alice", "dev")).await.unwrap();
        assert_eq!(again.player_id, ok.player_id);
    });
    drop(server);
}

#[test]
fn duplicate_login_kicks_the_older_session_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let (old, mut old_pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        old.login(login("carol", "dev")).await.unwrap();
        let (new, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        new.login(login("carol", "dev")).await.unwrap();
        let kick = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match old_pushes.recv().await {
                    Some(ServerMessage::Kick(k)) => break k,
                    Some(_) => continue,
                    None => panic!("push channel closed without a Kick"),
                }
            }
        })
        .await
        .expect("kick within 10 s");
        assert_eq!(kick.code, codes::KICK_DUPLICATE_LOGIN);
        assert_eq!(kick.reason, "logged in from another session");
        // The old connection is closed; the new one still works.
        tokio::time::timeout(Duration::from_secs(10), old.closed())
            .await
            .expect("old closed");
        let outcome = new
            .command(CommandBody::Recall { march_id: 424242 })
            .await
            .unwrap();
        assert!(
            matches!(
                outcome,
                CommandOutcome::Refused {
                    reason_code: 11,
                    ..
                }
            ),
            "{outcome:?}"
        );
    });
    drop(server);
}

#[test]
fn commands_round_trip_through_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let (c, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        c.login(login("dave", "dev")).await.unwrap();
        // A march that does not exist: refused by the sim with its reason.
        assert_eq!(
            c.command(CommandBody::Recall { march_id: 999_999 }).await.unwrap(),
            CommandOutcome::Refused {
                reason_code: 11,
                message: "that march no longer exists".into()
            }
        );
        // A target that does not exist.
        let gone = c
            .command(CommandBody::SendMarch { troops: vec![(0, 10)], target: 999_999_999, mission: 1 })
            .await
            .unwrap();
        assert_eq!(
            gone,
            CommandOutcome::Refused { reason_code: 20, message: "the target is no longer there".into() }
        );
        // Relocating off the map.
        let outside = c.command(CommandBody::RelocateCity { x: 5000, y: 5 }).await.unwrap();
        assert!(
            matches!(&outside, CommandOutcome::Refused { reason_code: 25, message } if message.contains("outside the map")),
            "{outside:?}"
        );
        // A bad mission code never reaches the sim: the protocol core rejects the frame.
        let err = c
            .command(CommandBody::SendMarch { troops: vec![(0, 1)], target: 1, mission: 77 })
            .await
            .unwrap_err();
        assert_eq!(err.server_code(), Some(ErrorCode::MALFORMED), "{err}");
    });
    drop(server);
}

#[test]
fn resume_after_a_dropped_connection_keeps_the_player() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let (mut c, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let first = c.login(login("erin", "dev")).await.unwrap();
        let again = c.reconnect(None, None).await.expect("resume");
        assert_eq!(again.player_id, first.player_id);
        assert_ne!(
            again.resume_token, first.resume_token,
            "tokens rotate on use"
        );
        let outcome = c
            .command(CommandBody::Recall { march_id: 1 })
            .await
            .unwrap();
        assert!(
            matches!(outcome, CommandOutcome::Refused { .. }),
            "{outcome:?}"
        );
        // The first token was used up: presenting it again is refused.
        let (other, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let err = other.resume(first.resume_token).await.unwrap_err();
        assert_eq!(err.server_code(), Some(codes::RESUME_REFUSED), "{err}");
    });
    drop(server);
}

#[test]
fn production_tokens_are_verified() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let (server, addr, fp) = start_game_server(
        dir.path(),
        &["--auth-secret-file", secret.to_str().unwrap()],
    );
    runtime().block_on(async {
        let (c, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let err = c.login(login("frank", "dev")).await.unwrap_err();
        assert_eq!(err.server_code(), Some(ErrorCode::AUTH_FAILED), "{err}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let soon = now + 3_600;
        let forged = sign_token(b"wrong", 1, "frank", soon);
        let err = c.login(login("frank", &forged)).await.unwrap_err();
        assert_eq!(err.server_code(), Some(ErrorCode::AUTH_FAILED), "{err}");
        let expired = sign_token(b"s3cret", 1, "frank", 1_000);
        let err = c.login(login("frank", &expired)).await.unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        // Signed for another kingdom, or living longer than a day: refused.
        let elsewhere = sign_token(b"s3cret", 2, "frank", soon);
        let err = c.login(login("frank", &elsewhere)).await.unwrap_err();
        assert!(err.to_string().contains("another kingdom"), "{err}");
        let forever = sign_token(b"s3cret", 1, "frank", 4_000_000_000);
        let err = c.login(login("frank", &forever)).await.unwrap_err();
        assert!(err.to_string().contains("lives too long"), "{err}");
        let good = sign_token(b"s3cret", 1, "frank", soon);
        c.login(login("frank", &good))
            .await
            .expect("a signed token logs in");
    });
    drop(server);
}

#[test]
fn viewport_deltas_build_the_client_mirror_and_show_a_march() {
    use dominion_net::mirror::Mirror;
    use dominion_net::proto::SetViewport;
    use dominion_sim::aoi::Body;

    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let (c, mut pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let me = PlayerId(c.login(login("hana", "dev")).await.unwrap().player_id);
        // The kingdom view (zoom 2) spans the whole 200x200 test map but shows cities only.
        let applied = c
            .set_viewport(SetViewport {
                x: 0,
                y: 0,
                w: 200,
                h: 200,
                zoom: 2,
            })
            .await
            .unwrap();
        assert_eq!((applied.w, applied.h, applied.zoom), (200, 200, 2));
        let mut mirror = Mirror::new();
        let mut next_delta = async || loop {
            match tokio::time::timeout(Duration::from_secs(10), pushes.recv()).await {
                Ok(Some(ServerMessage::WorldDelta(d))) => break d,
                Ok(Some(_)) => continue,
                other => panic!("no world delta: {other:?}"),
            }
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let city = loop {
            let d = next_delta().await;
            mirror.apply(&d).expect("valid delta");
            assert!(
                mirror
                    .objects()
                    .values()
                    .all(|o| matches!(o.body, Body::City { .. } | Body::March(_))),
                "zoom 2 shows cities and marches only"
            );
            if let Some(c) = mirror
                .objects()
                .values()
                .find(|o| matches!(o.body, Body::City { owner, .. } if owner == me))
            {
                break c.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "our city never entered the view"
            );
        };
        // Zoom in around the city: a 64x64 close view (a bigger request is clamped).
        let applied = c
            .set_viewport(SetViewport {
                x: city.pos.x.saturating_sub(32),
                y: city.pos.y.saturating_sub(32),
                w: 100,
                h: 100,
                zoom: 0,
            })
            .await
            .unwrap();
        assert_eq!(
            (applied.w, applied.h),
            (64, 64),
            "zoom 0 is clamped to 64x64"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !mirror
            .objects()
            .values()
            .any(|o| matches!(o.body, Body::Monster { .. }))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no monster entered the close view"
            );
            let d = next_delta().await;
            mirror.apply(&d).expect("valid delta");
        }
        // Send a scout to the nearest monster; the march enters the view.
        let target = mirror
            .objects()
            .values()
            .filter(|o| matches!(o.body, Body::Monster { .. }))
            .min_by_key(|o| {
                (i32::from(o.pos.x) - i32::from(city.pos.x)).abs()
                    + (i32::from(o.pos.y) - i32::from(city.pos.y)).abs()
            })
            .expect("a monster in view")
            .id;
        let outcome = c
            .command(CommandBody::SendMarch {
                troops: vec![],
                target: target.0,
                mission: 3,
            })
            .await
            .unwrap();
        let CommandOutcome::MarchSent { march_id, .. } = outcome else {
            panic!("scout refused: {outcome:?}");
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while mirror
            .get(dominion_sim::types::ObjectId(march_id))
            .is_none()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the march never entered the view"
            );
            let d = next_delta().await;
            mirror.apply(&d).expect("valid delta");
        }
        assert!(matches!(
            mirror.get(dominion_sim::types::ObjectId(march_id)).unwrap().body,
            Body::March(ref m) if m.owner == me
        ));
    });
    drop(server);
}
