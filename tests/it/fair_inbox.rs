//! The gateway → tick inbox over real QUIC: a client flooding commands is answered RATE_LIMITED
//! at once for what exceeds its per-session cap, while another client's command, sent after the
//! flood, is answered before the flooder's backlog; troop types beyond the config are refused
//! before reaching the world.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dominion_net::client::{Client, ClientError, ClientOptions};
use dominion_net::proto::{CommandBody, CommandOutcome, ErrorCode, Login};

use crate::support::{fetch_metrics, metric_value, start_game_server};

/// The server's tick period (assets/world.toml: 10 Hz).
const TICK: Duration = Duration::from_millis(100);
/// The flooder's cap of commands waiting for the world (passed to the server).
const CAP: usize = 8;
/// Commands the flooder sends at once: within the protocol's burst of 40, over the cap.
const FLOOD: usize = 30;

fn login(openid: &str) -> Login {
    Login {
        openid: openid.into(),
        platform_token: "dev".into(),
        client_version: "test".into(),
    }
}

/// The value of the metric line starting with `prefix` (name and labels).
fn metric_line(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {prefix} in:\n{body}"))
}

#[test]
fn a_flooding_session_is_rate_limited_and_does_not_delay_another() {
    let dir = tempfile::tempdir().unwrap();
    let cap = CAP.to_string();
    let (mut server, addr, fp) = start_game_server(
        dir.path(),
        &[
            "--max-pending-commands-per-session",
            &cap,
            "--inputs-per-session-per-tick",
            "1",
        ],
    );
    let metrics = server.metrics_addr();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (flood, other_rtt, other_answered) = rt.block_on(async {
        let (flooder, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        flooder.login(login("flooder")).await.unwrap();
        let (other, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        other.login(login("other")).await.unwrap();
        // Both players' arrivals have gone through a tick before the flood.
        for c in [&flooder, &other] {
            c.command(CommandBody::Recall { march_id: 1 })
                .await
                .unwrap();
        }

        let flooder = Arc::new(flooder);
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..FLOOD as u64 {
            let c = flooder.clone();
            let done = done_tx.clone();
            tokio::spawn(async move {
                let r = c.command(CommandBody::Recall { march_id: 900 + i }).await;
                let _ = done.send((r, Instant::now()));
            });
        }
        drop(done_tx);
        // A refusal is answered by the gateway at once: when one arrives, the flooder's cap is
        // full and its backlog waits for the world.
        let mut flood = Vec::new();
        loop {
            let (r, at) = done_rx
                .recv()
                .await
                .expect("every flood command is answered");
            let refused = matches!(&r, Err(ClientError::Server { code, .. })
                if *code == ErrorCode::RATE_LIMITED.0);
            flood.push((r, at));
            if refused {
                break;
            }
        }
        let sent = Instant::now();
        let outcome = other
            .command(CommandBody::Recall { march_id: 2 })
            .await
            .unwrap();
        let other_answered = Instant::now();
        assert!(
            matches!(
                outcome,
                CommandOutcome::Refused {
                    reason_code: 11,
                    ..
                }
            ),
            "the sim answered the other player: {outcome:?}"
        );
        while let Some(done) = done_rx.recv().await {
            flood.push(done);
        }

        // A troop type far beyond the config's is refused with the sim's code, not applied.
        let outcome = other
            .command(CommandBody::SendMarch {
                troops: vec![(65535, 1)],
                target: 1,
                mission: 1,
            })
            .await
            .unwrap();
        assert_eq!(
            outcome,
            CommandOutcome::Refused {
                reason_code: 16,
                message: "unknown troop type #65535".into()
            }
        );
        (flood, other_answered - sent, other_answered)
    });

    let mut accepted = Vec::new();
    let mut refused = 0;
    for (r, at) in &flood {
        match r {
            Ok(CommandOutcome::Refused {
                reason_code: 11, ..
            }) => accepted.push(*at),
            Err(ClientError::Server { code, message }) if *code == ErrorCode::RATE_LIMITED.0 => {
                assert!(
                    message.contains("still waiting for the world"),
                    "refused by the inbox, not the protocol's rate limit: {message}"
                );
                refused += 1;
            }
            other => panic!("unexpected answer to a flood command: {other:?}"),
        }
    }
    assert_eq!(accepted.len() + refused, FLOOD);
    // Ticks that ran while the flood arrived may have freed a place or two.
    assert!(
        (CAP..CAP + 4).contains(&accepted.len()),
        "{} accepted",
        accepted.len()
    );
    // The other player was served within a few ticks, before most of the flooder's backlog
    // (which leaves at one command per tick).
    let before_other = accepted.iter().filter(|&&at| at < other_answered).count();
    assert!(
        before_other <= 3,
        "{before_other} of the flooder's {} commands were answered before the other player's \
         (answered in {other_rtt:?})",
        accepted.len()
    );
    assert!(
        other_rtt < 5 * TICK,
        "other player answered in {other_rtt:?}"
    );

    // The counters say the same: every refusal counted, nothing of it queued, backlog carried.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = fetch_metrics(&metrics);
        let refused_metric = metric_line(&body, "dominion_inbox_refused_total{reason=\"session\"}");
        let queued = metric_value(&body, "dominion_inbox_commands_queued_total").unwrap_or(0.0);
        let pending = metric_value(&body, "dominion_inbox_commands_pending").unwrap_or(-1.0);
        // Queued: two warm-up commands, the accepted flood, two of the other player's.
        let expected_queued = (2 + accepted.len() + 2) as f64;
        if refused_metric == refused as f64 && queued == expected_queued && pending == 0.0 {
            assert!(metric_value(&body, "dominion_inbox_carried_total").unwrap_or(0.0) > 0.0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics: refused {refused_metric} (want {refused}), queued {queued} (want \
             {expected_queued}), pending {pending}:\n{body}"
        );
        std::thread::sleep(TICK);
    }
    drop(server);
}
