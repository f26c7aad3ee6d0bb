//! The process-wide bound on bytes queued for clients, over real QUIC on 127.0.0.1: clients
//! that stop reading are closed, the slowest first, with `SLOW_CONSUMER`, before the process
//! total passes its bound; a client that keeps reading stays.

use std::time::Duration;

use bytes::Bytes;
use dominion_net::client::{Client, ClientOptions};
use dominion_net::proto::{
    ClientMessage, CloseCode, ErrorCode, FrameDecoder, Login, LoginOk, PUSH_REQUEST_ID,
    ServerMessage,
};
use dominion_net::transport::tls::{DEFAULT_SERVER_NAME, pinned_client_config};
use dominion_net::transport::{Server, ServerEvent, ServerOptions, SessionId};
use dominion_sim::types::PlayerId;
use tokio::sync::mpsc;

const MIB: usize = 1024 * 1024;

/// A server whose application logs everyone in and reports each new session.
fn start(
    tweak: impl FnOnce(&mut ServerOptions),
) -> (Server, mpsc::Receiver<SessionId>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ServerOptions::new("127.0.0.1:0".parse().unwrap(), dir.path());
    tweak(&mut opts);
    let (server, mut events) = Server::bind(opts).unwrap();
    let handle = server.handle();
    let (tx, rx) = mpsc::channel(16);
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
                handle.bind_player(session, PlayerId(next)).unwrap();
                let ok = LoginOk {
                    player_id: next,
                    resume_token: String::new(),
                    server_time_tick: 0,
                };
                let _ = handle.reply(session, request_id, &ServerMessage::from(ok));
                let _ = tx.send(session).await;
            }
        }
    });
    (server, rx, dir)
}

fn login() -> Login {
    Login {
        openid: "p".into(),
        platform_token: "t".into(),
        client_version: "test".into(),
    }
}

/// Logs in and then never reads a push: its push stream fills QUIC's window, then its queue.
/// (The streams are returned so they stay open: dropping them ends the session.)
async fn stalled_client(
    server: &Server,
) -> (
    quinn::Endpoint,
    quinn::Connection,
    (quinn::SendStream, quinn::RecvStream),
) {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let (config, _) = pinned_client_config(server.fingerprint()).unwrap();
    let conn = endpoint
        .connect_with(config, server.local_addr(), DEFAULT_SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&ClientMessage::from(login()).encode_frame(1).unwrap())
        .await
        .unwrap();
    let mut decoder = FrameDecoder::new(u32::MAX);
    loop {
        if let Some(f) = decoder.next_frame() {
            assert_eq!(f.unwrap().request_id, 1);
            break;
        }
        let chunk = recv.read_chunk(usize::MAX, true).await.unwrap().unwrap();
        decoder.feed(&chunk.bytes);
    }
    (endpoint, conn, (send, recv))
}

fn close_code(err: &quinn::ConnectionError) -> Option<u32> {
    match err {
        quinn::ConnectionError::ApplicationClosed(c) => Some(c.error_code.into_inner() as u32),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slowest_readers_are_closed_at_the_process_bound() {
    let (server, mut sessions, _dir) = start(|o| {
        o.max_outbound_bytes = 3 * MIB;
        // Per-session bounds far away: only the process bound can act.
        o.outbound_queue_bytes = 64 * MIB;
        o.outbound_queue = 100_000;
    });
    let handle = server.handle();
    let (_e1, slowest, _s1) = stalled_client(&server).await;
    let slowest_id = sessions.recv().await.unwrap();
    let (_e2, slow, _s2) = stalled_client(&server).await;
    let slow_id = sessions.recv().await.unwrap();
    let (reader, mut pushes) = Client::connect(
        server.local_addr(),
        ClientOptions::new(server.fingerprint()),
    )
    .await
    .unwrap();
    reader.login(login()).await.unwrap();
    let reader_id = sessions.recv().await.unwrap();
    tokio::spawn(async move { while pushes.recv().await.is_some() {} });

    // A 16 KiB push.
    let big = Bytes::from(
        ServerMessage::error(ErrorCode::INTERNAL, "x".repeat(16 * 1024))
            .encode_frame(PUSH_REQUEST_ID)
            .unwrap(),
    );
    // The slowest one gets a head start, then everyone gets the same stream of pushes.
    for _ in 0..64 {
        let _ = handle.push_frame(slowest_id, big.clone());
    }
    let mut peak = 0;
    for i in 0..2_000 {
        for id in [slowest_id, slow_id] {
            let _ = handle.push_frame(id, big.clone());
        }
        if i % 10 == 0 {
            // The reader gets a push per millisecond (16 MB/s), which it keeps up with.
            let _ = handle.push_frame(reader_id, big.clone());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        peak = peak.max(handle.stats().outbound_bytes);
    }
    let stats = handle.stats();
    assert!(stats.memory_closes >= 1, "{stats:?}");
    // Unbounded, the two stalled sessions alone would hold ~64 MB by now. Above the bound only
    // by what arrives while closed sessions wind down.
    assert!(peak < (6 * MIB) as u64, "peak {peak}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = handle.stats().outbound_bytes;
    assert!(settled <= (3 * MIB) as u64, "still queued {settled}");
    let closed = tokio::time::timeout(Duration::from_secs(10), slowest.closed())
        .await
        .expect("the slowest reader is closed");
    assert_eq!(
        close_code(&closed),
        Some(CloseCode::SLOW_CONSUMER.0),
        "{closed:?}"
    );
    let _ = slow;
    // The reader kept up and is still served.
    reader.ping().await.expect("the reader is still connected");
    assert!(reader.connection().close_reason().is_none());
}
