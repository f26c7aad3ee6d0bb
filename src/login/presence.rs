//! Keeping presence true while players stay online: every online player's presence is written
//! again each round, before its TTL runs out. This is also how presence comes back after the
//! coordination service lost it (a Redis restarted empty): the next round writes it all again,
//! from the sessions this instance really holds, so nobody is shown online twice or not at all
//! for longer than one round. A refresh never resurrects a player who logged out during the
//! round, nor overwrites another instance's entry (see [`LoginService::refresh_presence`]).

use std::sync::Arc;
use std::time::Duration;

use dominion_net::transport::ServerHandle;

use super::LoginService;

/// Rewrites the presence of every player bound to a session on `net`, every `every`, until the
/// task is dropped. A failed round is logged and retried at the next one.
pub async fn keep_presence(login: Arc<LoginService>, net: ServerHandle, every: Duration) {
    let mut failing = false;
    loop {
        tokio::time::sleep(every).await;
        let players = net.players();
        let round = login.refresh_presence(&net, &players).await;
        let (written, failed) = (round.written, round.failed);
        if failed > 0 && !failing {
            tracing::warn!(
                written,
                failed,
                "refreshing presence failed; retrying every {every:?}"
            );
        } else if failed == 0 && failing {
            tracing::info!(written, "presence refreshed again after failures");
        }
        failing = failed > 0;
    }
}
