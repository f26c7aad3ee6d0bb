//! Issue 15, hostile clients: each hole gets a test over a real `dominion serve`, real QUIC and
//! real stores.

use std::time::Duration;

use dominion::login::codes;
use dominion_net::client::{Client, ClientOptions};
use dominion_net::proto::{ClientMessage, CommandBody, ErrorCode, Login, ServerMessage};

use crate::private_redis::PrivateRedis;
use crate::raw_client::RawClient;
use crate::support::{ServerProcess, runtime, small_asset_files, write_assets};

fn login(openid: &str, token: &str) -> Login {
    Login {
        openid: openid.into(),
        platform_token: token.into(),
        client_version: "test".into(),
    }
}

/// A data and assets folder for a server started by hand.
fn folders(dir: &std::path::Path) -> (String, String) {
    let assets = dir.join("assets");
    write_assets(&assets, &small_asset_files(200));
    (
        assets.to_str().unwrap().to_owned(),
        dir.join("data").to_str().unwrap().to_owned(),
    )
}

#[test]
fn open_login_is_refused_on_the_network_and_warned_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (assets, data) = folders(dir.path());
    let base = ["--assets", assets.as_str(), "--data", data.as_str()];

    // No secret on an address other machines reach: refused before anything starts.
    let (status, lines) = ServerProcess::start_listening("0.0.0.0:0", &base).wait();
    let all = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{all}");
    assert!(all.contains("is not a loopback address"), "{all}");
    assert!(all.contains("--insecure-dev-login"), "{all}");
    assert!(!all.contains("QUIC on"), "{all}");

    // An empty or whitespace-only secret file is refused, wherever it listens.
    let blank = dir.path().join("blank-secret");
    std::fs::write(&blank, " \n\t\n").unwrap();
    let mut args = base.to_vec();
    args.extend(["--auth-secret-file", blank.to_str().unwrap()]);
    let (status, lines) = ServerProcess::start(&args).wait();
    let all = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{all}");
    assert!(all.contains("--auth-secret-file is empty"), "{all}");

    // Asked for by name, the open login runs on the network, with a warning.
    let mut args = base.to_vec();
    args.push("--insecure-dev-login");
    let mut server = ServerProcess::start_listening("0.0.0.0:0", &args);
    let warning = server.wait_for("insecure-dev-login", Duration::from_secs(60));
    assert!(warning.contains("ANY login token"), "{warning}");
    let (addr, fp) = server.quic_endpoint();
    server.wait_for("kingdom running", Duration::from_secs(60));
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()));
    runtime().block_on(async {
        let (c, _) = Client::connect(local, ClientOptions::new(fp))
            .await
            .unwrap();
        c.login(login("ivy", "anything")).await.expect("dev login");
    });
    drop(server);

    // On loopback the development login still runs, and says so in the log.
    let mut server = ServerProcess::start(&base);
    let warning = server.wait_for("development login", Duration::from_secs(60));
    assert!(warning.contains("ANY token is accepted"), "{warning}");
    server.wait_for("kingdom running", Duration::from_secs(60));
    drop(server);
}

#[test]
fn a_second_login_on_one_connection_before_the_answer_is_refused() {
    use dominion_net::proto::Ping;
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = crate::support::start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let mut raw = RawClient::connect(addr, fp).await;
        // Both Logins in one write: the second is read while the first is still being
        // answered, so it must meet LOGIN_PENDING (not ALREADY_AUTHENTICATED after the fact).
        let mut bytes = ClientMessage::from(login("lena", "dev"))
            .encode_frame(1)
            .unwrap();
        bytes.extend(
            ClientMessage::from(login("mona", "dev"))
                .encode_frame(2)
                .unwrap(),
        );
        raw.send_bytes(&bytes).await;
        let wait = Duration::from_secs(10);
        let (mut first, mut second) = (None, None);
        while first.is_none() || second.is_none() {
            match raw.next(wait).await {
                Some((1, m)) => first = Some(m),
                Some((2, m)) => second = Some(m),
                Some(_) => continue,
                None => panic!("no answers: {first:?} / {second:?}"),
            }
        }
        let ok = match first.unwrap() {
            ServerMessage::LoginOk(ok) => ok,
            other => panic!("the first login is served: {other:?}"),
        };
        match second.unwrap() {
            ServerMessage::ErrorReply(e) => assert_eq!(e.code, ErrorCode::LOGIN_PENDING.0, "{e:?}"),
            other => panic!("the second login is refused as pending: {other:?}"),
        }
        assert_ne!(ok.player_id, 0);
        // The refused player is not bound to this connection: logging it in elsewhere kicks
        // nobody here, and this connection is still served.
        let (d, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        d.login(login("mona", "dev")).await.unwrap();
        raw.send(Ping { nonce: 7 }, 3).await;
        match raw.reply_to(3, wait).await {
            ServerMessage::Pong(p) => assert_eq!(p.nonce, 7),
            other => panic!("a ping after mona's login elsewhere: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            raw.conn.close_reason().is_none(),
            "lena's connection was closed: {:?}",
            raw.conn.close_reason()
        );
        raw.send(Ping { nonce: 8 }, 4).await;
        assert!(matches!(
            raw.reply_to(4, wait).await,
            ServerMessage::Pong(_)
        ));
    });
    drop(server);
}

#[test]
fn a_login_that_fails_leaves_nothing_bound_and_tells_no_internals() {
    // Redis lets this server take login locks but not write presence: the login fails after
    // the account exists, exactly where the old order had already bound the session.
    let acl = tempfile::tempdir().unwrap();
    let acl_file = acl.path().join("users.acl");
    std::fs::write(
        &acl_file,
        "user default on nopass ~* &* +@all\n\
         user game on >pw ~dominion:lock:* ~dominion:instance* +@all\n",
    )
    .unwrap();
    let redis = PrivateRedis::start(&["--aclfile", acl_file.to_str().unwrap()]);
    let coord = redis.url().replace("redis://", "redis://game:pw@");
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr, fp) =
        crate::support::start_game_server(dir.path(), &["--coordination", &coord]);
    runtime().block_on(async {
        let (c, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        for _ in 0..2 {
            // Twice: a refused login may be retried on the same connection.
            let err = c.login(login("kim", "dev")).await.unwrap_err();
            assert_eq!(err.server_code(), Some(codes::UNAVAILABLE), "{err}");
            let text = err.to_string();
            for secret in ["redis", "127.0.0.1", "NOPERM", "game", "presence"] {
                assert!(!text.contains(secret), "{secret:?} leaked: {text}");
            }
        }
        // Not logged in: a command is refused by the protocol core.
        let err = c
            .command(CommandBody::Recall { march_id: 1 })
            .await
            .unwrap_err();
        assert_eq!(
            err.server_code(),
            Some(ErrorCode::NOT_AUTHENTICATED),
            "{err}"
        );
    });
    // The operator sees the detail.
    let line = server.wait_for("login failed", Duration::from_secs(10));
    assert!(line.contains("set presence failed: NoPerm"), "{line}");
    drop(server);
}

/// Sends `n` requests at once; returns how many were answered `RATE_LIMITED`.
async fn burst(
    client: &std::sync::Arc<Client>,
    n: usize,
    message: impl Fn(usize) -> dominion_net::proto::ClientMessage,
) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let c = client.clone();
        let m = message(i);
        tasks.spawn(async move { c.request(m).await });
    }
    let mut limited = 0;
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r.unwrap()
            && e.server_code() == Some(ErrorCode::RATE_LIMITED)
        {
            limited += 1;
        }
    }
    limited
}

#[test]
fn rate_limits_follow_the_player_and_the_address_across_connections() {
    use dominion_net::proto::Ping;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = crate::support::start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        // A player spends its budget (20/s, burst 40), drops the connection and resumes.
        let (c, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let c = Arc::new(c);
        c.login(login("nina", "dev")).await.unwrap();
        let token = c.resume_token().unwrap();
        let ping = |i: usize| ClientMessage::from(Ping { nonce: i as u64 });
        assert!(burst(&c, 60, ping).await > 0, "60 at once exceed the burst");
        c.close();
        let (c2, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let c2 = Arc::new(c2);
        c2.resume(token).await.unwrap();
        // A fresh bucket would take 30 at once; the player's own is nearly empty.
        assert!(
            burst(&c2, 30, ping).await > 0,
            "the reconnect refilled the budget"
        );

        // Before login, every connection from one address shares a budget (100/s, burst 400).
        let (a, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let (b, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let (a, b) = (Arc::new(a), Arc::new(b));
        // Resumes with unknown tokens: refused, so both stay unauthenticated.
        let attempt = |i: usize| {
            ClientMessage::from(dominion_net::proto::Resume {
                resume_token: format!("unknown-{i}"),
            })
        };
        assert!(burst(&a, 420, attempt).await > 0);
        assert!(
            burst(&b, 30, attempt).await > 0,
            "a second connection from the same address got a budget of its own"
        );
    });
    drop(server);
}

#[test]
fn a_viewport_push_gets_no_reply_and_a_repeated_request_id_is_refused() {
    use dominion_net::proto::{Command, CommandOutcome, Ping, SetViewport};
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = crate::support::start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let wait = Duration::from_secs(10);
        let mut c = RawClient::connect(addr, fp).await;
        c.send(login("olga", "dev"), 1).await;
        assert!(matches!(
            c.reply_to(1, wait).await,
            ServerMessage::LoginOk(_)
        ));
        // A viewport sent as a push (request id 0) asks for no reply.
        let viewport = SetViewport {
            x: 10,
            y: 10,
            w: 20,
            h: 20,
            zoom: 1,
        };
        c.send(viewport, 0).await;
        tokio::time::sleep(Duration::from_millis(600)).await; // several ticks
        c.send(Ping { nonce: 5 }, 2).await;
        loop {
            match c.next(wait).await {
                Some((2, ServerMessage::Pong(_))) => break,
                Some((0, ServerMessage::ViewportSet(v))) => {
                    panic!("a push was answered: {v:?}")
                }
                Some(_) => continue,
                None => panic!("no pong"),
            }
        }
        // Two commands with one request id in one write (so in one tick): the second is
        // refused at once, the first gets its result.
        let recall = || Command {
            body: CommandBody::Recall { march_id: 424242 },
        };
        let mut both = ClientMessage::from(recall()).encode_frame(7).unwrap();
        both.extend(ClientMessage::from(recall()).encode_frame(7).unwrap());
        c.send_bytes(&both).await;
        let (mut results, mut refusals) = (0, 0);
        while results + refusals < 2 {
            match c.next(wait).await {
                Some((7, ServerMessage::CommandResult(r))) => {
                    assert!(
                        matches!(
                            r.outcome,
                            CommandOutcome::Refused {
                                reason_code: 11,
                                ..
                            }
                        ),
                        "{r:?}"
                    );
                    results += 1;
                }
                Some((7, ServerMessage::ErrorReply(e))) => {
                    assert_eq!(e.code, ErrorCode::MALFORMED.0, "{e:?}");
                    assert!(e.message.contains("already used"), "{}", e.message);
                    refusals += 1;
                }
                Some(_) => continue,
                None => panic!("only {results} result(s) and {refusals} refusal(s)"),
            }
        }
        assert_eq!((results, refusals), (1, 1));
    });
    drop(server);
}

#[test]
fn the_server_takes_no_datagrams() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = crate::support::start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let c = RawClient::connect(addr, fp).await;
        assert_eq!(c.conn.max_datagram_size(), None);
        let sent = c.conn.send_datagram(bytes::Bytes::from_static(b"hello?"));
        assert!(
            matches!(sent, Err(quinn::SendDatagramError::UnsupportedByPeer)),
            "{sent:?}"
        );
    });
    drop(server);
}

#[test]
fn relocating_again_meets_the_cooldown_and_one_gold_short_meets_the_cost() {
    use dominion_net::proto::CommandOutcome;
    let dir = tempfile::tempdir().unwrap();
    // A move costs 20,000 gold (and 50,000 stone); the city starts with 39,999 gold, so after
    // one move it is exactly one gold short of the next.
    let mut files = small_asset_files(200);
    let cities = files.get_mut("cities.toml").unwrap();
    *cities = cities.replace("gold = 100000", "gold = 39999");
    assert!(cities.contains("cost = { gold = 20000, stone = 50000 }"));
    write_assets(&dir.path().join("assets"), &files);
    let (mut server, addr, fp) = crate::support::start_game_server(dir.path(), &[]);
    runtime().block_on(async {
        let (c, _pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        c.login(login("rhea", "dev")).await.unwrap();
        let relocate = |x: u16, y: u16| c.command(CommandBody::RelocateCity { x, y });
        // The first move to a free tile goes through.
        let mut moved = None;
        'search: for y in (10u16..190).step_by(7) {
            for x in (10u16..190).step_by(7) {
                match relocate(x, y).await.unwrap() {
                    CommandOutcome::Relocated { .. } => {
                        moved = Some((x, y));
                        break 'search;
                    }
                    CommandOutcome::Refused { reason_code, .. } => {
                        assert!(matches!(reason_code, 26 | 27), "code {reason_code}")
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        let (x, y) = moved.expect("a free tile");
        // Right after, the cooldown refuses the next move.
        match relocate(x + 3, y).await.unwrap() {
            CommandOutcome::Refused {
                reason_code: 30,
                message,
            } => assert!(message.contains("moved recently"), "{message}"),
            other => panic!("a second move within the cooldown: {other:?}"),
        }
        (x, y)
    });
    // Without a cooldown (a designer's reload), the cost refuses it: one gold short.
    let cities = files.get_mut("cities.toml").unwrap();
    *cities = cities.replace("cooldown_seconds = 3600", "cooldown_seconds = 0");
    write_assets(&dir.path().join("assets"), &files);
    server.wait_for("config version 2 applied", Duration::from_secs(30));
    runtime().block_on(async {
        let (c, _pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        c.login(login("rhea", "dev")).await.unwrap();
        let mut refused = None;
        'search: for y in (12u16..190).step_by(7) {
            for x in (12u16..190).step_by(7) {
                match c.command(CommandBody::RelocateCity { x, y }).await.unwrap() {
                    CommandOutcome::Refused {
                        reason_code: 26 | 27,
                        ..
                    } => continue,
                    other => {
                        refused = Some(other);
                        break 'search;
                    }
                }
            }
        }
        match refused.expect("a free tile") {
            CommandOutcome::Refused {
                reason_code: 31,
                message,
            } => assert_eq!(message, "not enough gold: you have 19999, it costs 20000"),
            other => panic!("a move one gold short: {other:?}"),
        }
    });
    drop(server);
}
