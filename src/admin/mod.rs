//! The admin API: an HTTP server (axum) on its own address, for operators and their tools
//! (`dominion-admin`). Every request needs a bearer token ([`auth`]); answers and errors are
//! JSON ([`error`]).
//!
//! It reads the world only through what the tick thread publishes ([`crate::tick_status`],
//! the save queue's counters) or through queries the tick thread answers between ticks
//! ([`crate::world_query`]); it never holds up a tick.
//!
//! Not responsible for: `/metrics` (its own endpoint, [`crate::metrics`]).

pub mod assets;
pub mod auth;
pub mod error;
pub mod mail;
pub mod map;
pub mod players;
pub mod router;
pub mod status;
pub mod tickets;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use anyhow::Context;
use dominion_net::transport::ServerHandle;
use dominion_persistence::{Migrations, SaveStats, Store};

use crate::mail::MailHandle;
use crate::map_watch::MapWatchers;
use crate::metrics::Metrics;
use crate::watch::Reload;
use crate::world_bridge::WorldSender;
use crate::world_query::WorldQueries;

/// Where the admin API listens and who may use it.
#[derive(Clone, Debug)]
pub struct AdminOptions {
    /// Address (port 0 picks a free one).
    pub addr: SocketAddr,
    /// Token file; `None` on a loopback address makes a token in `<data>/admin.token`.
    pub token_file: Option<PathBuf>,
}

/// Everything the handlers read. Cheap to clone.
#[derive(Clone)]
pub struct AdminContext {
    /// The QUIC server (sessions, kicks).
    pub net: ServerHandle,
    /// The last tick run.
    pub tick: Arc<AtomicU64>,
    /// Metrics and what the tick thread publishes ([`Metrics::status`]).
    pub metrics: Metrics,
    /// The save queue's counters.
    pub save: Arc<SaveStats>,
    /// This instance's owner epoch of the kingdom (on a standby: the owner's epoch it saw at
    /// start, not its own).
    pub epoch: u64,
    /// True on a standby (`serve --standby`): requests that would write are refused.
    pub standby: bool,
    /// This process's instance id.
    pub instance_id: String,
    /// The kingdom (server id).
    pub kingdom: u32,
    /// Reads of the live world, answered by the tick thread.
    pub queries: WorldQueries,
    /// When the server started.
    pub started: Instant,
    /// Accounts (openid → player id).
    pub store: Arc<dyn Store>,
    /// Data fixes for records read.
    pub migrations: Arc<Migrations>,
    /// System mail.
    pub mail: MailHandle,
    /// The assets folder the world runs on.
    pub assets_dir: PathBuf,
    /// Where reloads go (the tick loop's reload channel, shared with the folder watcher).
    pub reload: std::sync::mpsc::Sender<Reload>,
    /// The world's inbox (map pages set their viewports through it, like sessions).
    pub world: WorldSender,
    /// Map pages watching the world.
    pub map_watchers: MapWatchers,
    /// Zoom levels of `aoi.toml` at start ([`map::zooms_json`]).
    pub zooms: serde_json::Value,
}

/// Binds the admin API and returns its address, the token file in use and the server future
/// (run it on the runtime; it ends when `shutdown` turns true).
pub async fn bind(
    opts: &AdminOptions,
    data: &std::path::Path,
    ctx: AdminContext,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(
    SocketAddr,
    PathBuf,
    impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
)> {
    let (tokens, token_file) = auth::Tokens::for_address(
        opts.addr,
        opts.token_file.as_deref(),
        &data.join("admin.token"),
    )?;
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("binding the admin API on {}", opts.addr))?;
    let local = listener.local_addr()?;
    let watchers = ctx.map_watchers.clone();
    let app = router::router(ctx, tokens);
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
        // Map pages' streams never end by themselves.
        watchers.close_all();
    });
    Ok((local, token_file, async move { serve.await }))
}
