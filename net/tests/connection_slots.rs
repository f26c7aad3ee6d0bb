//! Connection slots over real QUIC on 127.0.0.1: one address cannot take every connection, nor
//! hold many handshakes or connections that never log in; under load a handshake first proves
//! its address with a QUIC Retry.

use std::time::Duration;

use dominion_net::client::{Client, ClientOptions};
use dominion_net::proto::{ClientMessage, Login, LoginOk, ServerMessage};
use dominion_net::transport::{Server, ServerEvent, ServerOptions, SlotLimits};
use dominion_sim::types::PlayerId;

/// A server whose application logs everyone in as a new player.
fn start(tweak: impl FnOnce(&mut ServerOptions)) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ServerOptions::new("127.0.0.1:0".parse().unwrap(), dir.path());
    tweak(&mut opts);
    let (server, mut events) = Server::bind(opts).unwrap();
    let handle = server.handle();
    tokio::spawn(async move {
        let mut next = 1;
        while let Some(ev) = events.recv().await {
            if let ServerEvent::Message {
                session,
                request_id,
                message: ClientMessage::Login(_),
            } = ev
            {
                next += 1;
                let player = PlayerId(next);
                handle.bind_player(session, player).unwrap();
                let ok = LoginOk {
                    player_id: player.0,
                    resume_token: String::new(),
                    server_time_tick: 0,
                };
                let _ = handle.reply(session, request_id, &ServerMessage::from(ok));
            }
        }
    });
    (server, dir)
}

async fn connect(server: &Server) -> Result<Client, String> {
    let mut options = ClientOptions::new(server.fingerprint());
    options.request_timeout = Duration::from_secs(5);
    match tokio::time::timeout(
        Duration::from_secs(10),
        Client::connect(server.local_addr(), options),
    )
    .await
    {
        // A refused connection fails its handshake.
        Ok(Ok((c, _))) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

fn login() -> Login {
    Login {
        openid: "p".into(),
        platform_token: "t".into(),
        client_version: "test".into(),
    }
}

#[tokio::test]
async fn one_address_is_bounded_in_connections_and_in_handshakes() {
    let (server, _dir) = start(|o| {
        o.slots = SlotLimits {
            per_ip: 3,
            unauthenticated_per_ip: 2,
        };
        o.retry_above_unauthenticated = usize::MAX;
    });
    let a = connect(&server).await.expect("first");
    let _b = connect(&server).await.expect("second");
    // Two connections not logged in: a third is refused.
    let refused = connect(&server).await;
    assert!(
        refused.is_err(),
        "third unauthenticated connection accepted"
    );
    // Logging in frees a handshake slot.
    a.login(login()).await.unwrap();
    let c = connect(&server).await.expect("after a login");
    c.login(login()).await.unwrap();
    // Three from this address in all.
    assert!(
        connect(&server).await.is_err(),
        "fourth connection accepted"
    );
    let stats = server.handle().stats();
    assert_eq!(stats.refused_per_ip, 2, "{stats:?}");
    // A closed connection gives its slot back.
    c.close();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match connect(&server).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("slot not returned: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test]
async fn under_load_handshakes_are_validated_with_a_retry() {
    let (server, _dir) = start(|o| o.retry_above_unauthenticated = 0);
    let a = connect(&server).await.expect("connects through the retry");
    a.login(login()).await.unwrap();
    let _b = connect(&server).await.expect("and again");
    assert!(server.handle().stats().retries >= 2);
}

#[test]
fn unauthenticated_connections_get_short_deadlines() {
    let opts = ServerOptions::new("127.0.0.1:0".parse().unwrap(), "/nonexistent");
    // Handshake, then the request stream, then the login: at most 20 s in all without a login
    // (it was ~40 s).
    assert!(opts.handshake_timeout <= Duration::from_secs(5));
    assert!(opts.stream_open_timeout <= Duration::from_secs(5));
    assert!(opts.session.login_timeout <= Duration::from_secs(10));
}
