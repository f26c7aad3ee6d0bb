//! `dominion serve`: loads assets, builds the kingdom, serves metrics, runs the tick loop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context;

use dominion_net::proto::CloseCode;
use dominion_net::transport::{Server, ServerOptions};
use dominion_persistence::{
    CoordinationConfig, KingdomId, Migrations, Store, StoreConfig, StoreError, WriteBatch,
    open_mail_store,
};

use crate::admin::{self, AdminContext, AdminOptions};
use crate::assets::load_dir;
use crate::fence::{Fence, set_journal_aside, watch_owner_epoch};
use crate::gateway::Gateway;
use crate::grants::GrantDesk;
use crate::guild::{AllianceDesk, GuildLimits, GuildService};
use crate::inbox::InboxLimits;
use crate::journal::{JournalSettings, TickJournal};
use crate::login::{AuthSettings, LoginService, LoginSettings, choose_verifier, keep_presence};
use crate::mail::{MailService, MailSettings};
use crate::map_watch::MapWatchers;
use crate::metrics::{self, Metrics};
use crate::persist::{Persister, load_or_generate};
use crate::recovery::recover;
use crate::tick_loop::{Stop, run_ticks};
use crate::watch::watch_assets;
use crate::world_bridge::WorldBridge;
use crate::world_query::QueryPort;
use dominion_persistence::journal::JournalInput;

/// Options of `dominion serve`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Designer configs.
    pub assets: PathBuf,
    /// Where embedded databases and generated certificates live.
    pub data: PathBuf,
    /// Map seed.
    pub seed: u64,
    /// Stop after this many ticks.
    pub ticks: Option<u64>,
    /// Prometheus endpoint address (port 0 picks a free one).
    pub metrics_addr: SocketAddr,
    /// QUIC address clients connect to (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Certificate chain and key (PEM); `None` generates a self-signed one under `data`.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Store URL; `None` = `sqlite://<data>/dominion.db`.
    pub store_url: Option<String>,
    /// Coordination URL; `None` = `embedded://<data>`.
    pub coordination_url: Option<String>,
    /// This kingdom's server id (low 16 bits of player ids).
    pub server_id: u16,
    /// HMAC secret for platform tokens; `None` = development mode, any token accepted (only on
    /// a loopback `listen`, unless `insecure_dev_login`).
    pub auth_secret: Option<Vec<u8>>,
    /// Accept any login token even on a non-loopback `listen` (no secret given).
    pub insecure_dev_login: bool,
    /// The longest a platform token may live (its expiry minus now).
    pub max_token_lifetime: std::time::Duration,
    /// Connections per client address, and those not logged in yet.
    pub connection_slots: dominion_net::transport::SlotLimits,
    /// Requests per second one client address may send before login (bursts of four times as
    /// many); see [`dominion_net::proto::SessionConfig::address_rate`].
    pub pre_login_rate: f64,
    /// March orders a tick takes on whose far route is not planned yet (see
    /// [`crate::route_admission`]).
    pub unplanned_routes_per_tick: usize,
    /// How long the final save at shutdown may take before the server gives up on it (and
    /// says what was not saved).
    pub final_save_timeout: std::time::Duration,
    /// How often online players' presence is written again (also restores it after the
    /// coordination service lost it).
    pub presence_refresh: std::time::Duration,
    /// How often changed entities are saved (a crash loses at most this much).
    pub save_interval: std::time::Duration,
    /// Bounds of the queue from sessions to the tick thread.
    pub inbox: InboxLimits,
    /// The tick-input journal (`None`: off — a crash then loses the last save window).
    pub journal: Option<JournalSettings>,
    /// The admin API's address and tokens.
    pub admin: AdminOptions,
    /// How often the store's owner epoch is checked (see [`crate::fence`]).
    pub epoch_check: std::time::Duration,
    /// A standby (rotation stage 1): the kingdom as last saved, served without writing
    /// anything — no owner epoch, saves dropped, no journal (`journal` must be `None`), no
    /// data-fix write-back, no new accounts or presence, mailboxes read-only.
    pub standby: bool,
}

/// How long the store may take to answer its first ping at start.
const STORE_ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the server until `--ticks` is reached, a shutdown signal arrives or another instance
/// takes the kingdom; says which.
pub fn serve(opts: ServeOptions) -> anyhow::Result<Stop> {
    // Login settings first: a server that would run open on the network never starts.
    let auth = AuthSettings {
        secret: opts.auth_secret.clone(),
        insecure_dev_login: opts.insecure_dev_login,
        kingdom: opts.server_id,
        max_token_lifetime: opts.max_token_lifetime,
    };
    let verifier = choose_verifier(&auth, opts.listen)?;
    let assets = load_dir(&opts.assets).map_err(|errors| {
        anyhow::anyhow!(
            "assets in {} are invalid ({} error(s)):\n{errors}",
            opts.assets.display(),
            errors.0.len()
        )
    })?;
    std::fs::create_dir_all(&opts.data)
        .with_context(|| format!("creating data folder {}", opts.data.display()))?;
    // One server per data folder: two would append to one journal and overwrite each other's
    // certificate files. Held until this function returns.
    let _data_lock = lock_data_folder(&opts.data)?;
    tracing::info!(assets = %opts.assets.display(), "{}", assets.summary());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("dominion-io")
        .build()
        .context("starting the async runtime")?;

    let metrics = Metrics::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);

    let (metrics_addr, metrics_server) = runtime
        .block_on(metrics::bind(
            opts.metrics_addr,
            metrics.clone(),
            shutdown_rx.clone(),
        ))
        .with_context(|| format!("binding the metrics endpoint on {}", opts.metrics_addr))?;
    let metrics_task = runtime.spawn(metrics_server);
    println!("dominion: metrics on http://{metrics_addr}/metrics");
    tracing::info!(%metrics_addr, "metrics endpoint listening");

    {
        let stop = stop.clone();
        runtime.spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            stop.store(true, Ordering::Relaxed);
        });
    }

    // Persistence: the account store and coordination (presence, login locks).
    let store_url = opts
        .store_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", opts.data.join("dominion.db").display()));
    let coord_url = opts
        .coordination_url
        .clone()
        .unwrap_or_else(|| format!("embedded://{}", opts.data.display()));
    let store_cfg = StoreConfig::from_url(&store_url).context("--store")?;
    let coord_cfg = CoordinationConfig::from_url(&coord_url).context("--coordination")?;
    let store = runtime
        .block_on(store_cfg.open())
        .with_context(|| format!("opening the store {}", store_cfg.redacted()))?;
    // A store that does not answer stops the start with a clear error and a non-zero exit,
    // rather than a server waiting with a half-visible state: the supervisor (systemd, k8s)
    // restarts it with back-off and shows the failure where operators look, and no client is
    // accepted by a server that could not load or save the world.
    match runtime.block_on(async { tokio::time::timeout(STORE_ANSWER_TIMEOUT, store.ping()).await })
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => anyhow::bail!(
            "the store {} is unavailable at start: {e}; not starting",
            store_cfg.redacted()
        ),
        Err(_) => anyhow::bail!(
            "the store {} did not answer within {STORE_ANSWER_TIMEOUT:?} at start; not starting",
            store_cfg.redacted()
        ),
    }
    // What saves need (MongoDB: transactions) is checked now, not found missing at the first
    // save while the server already serves.
    runtime
        .block_on(store.check_capabilities())
        .context("checking the store at start; not starting")?;
    let coord = runtime
        .block_on(coord_cfg.open())
        .with_context(|| format!("opening coordination {}", coord_cfg.redacted()))?;
    tracing::info!(store = %store_cfg.redacted(), coordination = %coord_cfg.redacted(), "persistence ready");

    // The owner epoch first, with a compare-and-set e -> e+1 before anything is read: an older
    // instance is fenced from here on, and of two starts racing on one kingdom exactly one wins;
    // the loser stops before it has read (or written) anything.
    let kingdom_id = KingdomId(u32::from(opts.server_id));
    let epoch = if opts.standby {
        // A standby leaves the epoch alone: the owner keeps serving and saving beside it.
        anyhow::ensure!(opts.journal.is_none(), "a standby keeps no journal");
        let seen = runtime
            .block_on(store.current_epoch(kingdom_id))
            .context("reading the kingdom's owner epoch")?;
        tracing::info!(owner_epoch = seen, "standby: the owner epoch is left alone");
        seen
    } else {
        let epoch = runtime
            .block_on(take_epoch(store.as_ref(), kingdom_id))
            .context("taking the kingdom's owner epoch")?;
        tracing::info!(epoch, "owner epoch taken");
        epoch
    };
    metrics.standby.set(i64::from(opts.standby));
    // The world: the last save (or a new world from the seed), then the journal replayed on it.
    // Data fixes run in memory; the migrated documents are written below, fenced by the epoch.
    let mut fixes = WriteBatch::new(kingdom_id);
    let migrations = Arc::new(Migrations::builtin());
    let started = Instant::now();
    let assets = Arc::new(assets);
    let mut loaded_ids = std::collections::BTreeSet::new();
    let (mut kingdom, loaded, mut journal) = match &opts.journal {
        Some(settings) => {
            let r = runtime
                .block_on(recover(
                    store.as_ref(),
                    &migrations,
                    kingdom_id,
                    opts.seed,
                    assets.clone(),
                    &settings.dir,
                    &mut fixes,
                ))
                .context("recovering the kingdom (last save + journal)")?;
            tracing::info!(
                save_tick = r.save_tick,
                replayed = r.replayed,
                checked = r.checked,
                tick = r.kingdom.tick_count(),
                torn_bytes = r.torn_bytes,
                "journal replayed on the last save"
            );
            let mut recovered = r.kingdom;
            println!(
                "dominion: recovered at tick {} (state hash {})",
                recovered.tick_count(),
                dominion_sim::state_hash::hex(&recovered.state_hash())
            );
            if r.replayed > 0 {
                println!(
                    "dominion: journal replayed from tick {} to tick {} ({} records, {} hash checks)",
                    r.save_tick,
                    recovered.tick_count(),
                    r.replayed,
                    r.checked
                );
            }
            let journal = TickJournal::open(settings.clone(), r.last_record_tick)
                .context("opening the tick journal")?;
            journal
                .keep_config(&assets.digest, &assets.sources)
                .context("keeping the config beside the journal")?;
            loaded_ids = r.loaded_ids;
            (recovered, r.loaded, Some(journal))
        }
        None => runtime
            .block_on(load_or_generate(
                store.as_ref(),
                &migrations,
                kingdom_id,
                opts.seed,
                assets.clone(),
                &mut fixes,
            ))
            .map(|(k, loaded)| (k, loaded, None))
            .context("loading the kingdom from the store")?,
    };
    if opts.standby && !loaded {
        anyhow::bail!(
            "the store {} holds no saved world of kingdom {}: a standby serves a copy of a live \
             kingdom's last save; start the owner instance first (or leave out --standby)",
            store_cfg.redacted(),
            kingdom_id.0
        );
    }
    // The world runs on the assets folder: a config changed while the server was down applies
    // at the first tick, as a reload (journaled like one).
    if kingdom.config().assets.digest != assets.digest {
        match kingdom.stage_config(assets.clone()) {
            Ok(()) => {
                if let Some(j) = journal.as_mut() {
                    j.push(JournalInput::Config {
                        digest: assets.digest,
                    });
                }
            }
            Err(refused) => anyhow::bail!(
                "the assets folder cannot replace the config the world was saved with: {refused}"
            ),
        }
    }
    let counts = kingdom.object_counts();
    tracing::info!(
        seed = opts.seed,
        tick = kingdom.tick_count(),
        objects = counts.total(),
        resource_fields = counts.resource_fields,
        monsters = counts.monsters,
        city_slots = counts.city_slots,
        took_ms = started.elapsed().as_millis() as u64,
        "kingdom {}",
        if loaded {
            "loaded from the store"
        } else {
            "generated"
        }
    );
    if loaded {
        println!(
            "dominion: kingdom loaded from the store at tick {} ({} objects)",
            kingdom.tick_count(),
            counts.total()
        );
    }
    metrics
        .config_version
        .set(i64::from(kingdom.config().version));
    if opts.standby && !fixes.is_empty() {
        tracing::info!(
            documents = fixes.len(),
            "data fix: documents migrated in memory only (a standby writes nothing back)"
        );
    } else if !fixes.is_empty() {
        let n = fixes.len();
        runtime
            .block_on(store.apply(epoch, &fixes))
            .context("writing the data-fixed documents back under the new epoch")?;
        tracing::info!(
            documents = n,
            epoch,
            "data fix: migrated documents written back"
        );
    }
    let save_interval_ticks = (opts.save_interval.as_secs_f64()
        * f64::from(kingdom.config().assets.world.tick_hz))
    .ceil()
    .max(1.0) as u64;
    let save_started = Instant::now();
    let persister = if opts.standby {
        Persister::discard(kingdom_id, save_interval_ticks, &mut kingdom)
    } else {
        let _guard = runtime.enter();
        Persister::start_after_replay(
            store.clone(),
            kingdom_id,
            epoch,
            save_interval_ticks,
            &mut kingdom,
            &loaded_ids,
        )
    };
    tracing::info!(
        epoch,
        save_interval_ticks,
        gather_ms = save_started.elapsed().as_millis() as u64,
        "{}",
        if opts.standby {
            "standby: saves are gathered and dropped"
        } else {
            "persistence enabled; first save queued"
        }
    );
    // From here on another instance may take the kingdom: notice it and stop. A standby holds
    // no epoch, so nothing can be taken from it.
    let fence = Fence::new();
    if !opts.standby {
        runtime.spawn(watch_owner_epoch(
            store.clone(),
            kingdom_id,
            epoch,
            persister.stats(),
            fence.clone(),
            opts.epoch_check,
            shutdown_rx.clone(),
        ));
    }

    // Network: the QUIC server, the gateway task and the tick thread's bridge.
    let mut net_opts = ServerOptions::new(opts.listen, opts.data.clone());
    net_opts.cert_files = opts.cert.clone();
    net_opts.slots = opts.connection_slots;
    net_opts.session.address_rate = dominion_net::proto::RateLimit {
        per_second: opts.pre_login_rate,
        burst: (opts.pre_login_rate * 4.0).clamp(1.0, f64::from(u32::MAX)) as u32,
    };
    let (server, net_events) = {
        let _guard = runtime.enter();
        Server::bind(net_opts).context("starting the QUIC server")?
    };
    let instance_id = format!("{}-{}", hostname(), std::process::id());
    let login = Arc::new(LoginService::new(
        store.clone(),
        coord.clone(),
        migrations.clone(),
        verifier,
        LoginSettings {
            standby: opts.standby,
            ..LoginSettings::new(opts.server_id, instance_id.clone())
        },
    ));
    runtime.spawn(keep_presence(
        login.clone(),
        server.handle(),
        opts.presence_refresh,
    ));
    let tick = Arc::new(std::sync::atomic::AtomicU64::new(kingdom.tick_count()));
    let (mut bridge, world_tx) = WorldBridge::new(server.handle(), tick.clone(), opts.inbox);
    // Mail: its own connections to the same database, a task of its own.
    let mail_store = runtime
        .block_on(open_mail_store(&store_cfg))
        .with_context(|| format!("opening the mailboxes in {}", store_cfg.redacted()))?;
    // Claimed attachments go to the world through the grant desk, answered once saved.
    // A standby has no grants: claims would write, and its mailboxes are read-only.
    let grants = if opts.standby {
        None
    } else {
        let (grant_desk, grants) = GrantDesk::new();
        bridge.set_grants(grant_desk);
        Some(grants)
    };
    bridge.set_unplanned_route_limit(opts.unplanned_routes_per_tick);
    let (mail, _mail_task) = {
        let _guard = runtime.enter();
        MailService::spawn_with_grants(
            mail_store,
            store.clone(),
            migrations.clone(),
            kingdom_id,
            Some(server.handle()),
            MailSettings {
                read_only: opts.standby,
                ..MailSettings::default()
            },
            grants,
        )
    };
    bridge.set_mail(mail.clone());
    // Guilds: loaded now, the world's alliances reconciled with them at the first tick.
    let (alliance_desk, alliance_sender) = AllianceDesk::new();
    bridge.set_alliances(alliance_desk);
    let world_alliances: Vec<_> = kingdom
        .export_players()
        .into_iter()
        .map(|p| (p.player, p.alliance))
        .collect();
    let guild_service = runtime
        .block_on(GuildService::load(
            store.clone(),
            &migrations,
            kingdom_id,
            epoch,
            GuildLimits::from_config(&kingdom.config().assets.guilds),
            Some(server.handle()),
            alliance_sender,
            &world_alliances,
            opts.standby,
        ))
        .context("loading the guilds")?
        .with_save_stats(persister.stats());
    bridge.set_guild_tags(guild_service.tag_board());
    bridge.set_guild_limits(guild_service.limits_board());
    let (guilds, _guild_task) = {
        let _guard = runtime.enter();
        guild_service.spawn()
    };
    let (reload_tx, reload_rx) = mpsc::channel();
    let (query_port, queries) = QueryPort::new();
    bridge.set_queries(query_port);
    let map_watchers = MapWatchers::default();
    bridge.set_map_watchers(map_watchers.clone());
    let admin_ctx = AdminContext {
        net: server.handle(),
        tick: tick.clone(),
        metrics: metrics.clone(),
        save: persister.stats(),
        epoch,
        standby: opts.standby,
        instance_id,
        kingdom: kingdom_id.0,
        queries,
        started,
        store: store.clone(),
        migrations: migrations.clone(),
        mail: mail.clone(),
        assets_dir: opts.assets.clone(),
        reload: reload_tx.clone(),
        world: world_tx.clone(),
        map_watchers,
        zooms: admin::map::zooms_json(&kingdom.config().assets.aoi),
    };
    let admin_task = start_admin(&runtime, &opts, admin_ctx, shutdown_rx)?;
    tracing::info!(limits = ?opts.inbox, "world inbox bounded");
    runtime.spawn(
        Gateway {
            net: server.handle(),
            login: login.clone(),
            world: world_tx,
            tick,
            mail: mail.clone(),
            guilds,
        }
        .run(net_events),
    );
    println!(
        "dominion: QUIC on {} (certificate sha256 {}), login verifier {}",
        server.local_addr(),
        server.fingerprint(),
        login.verifier_name()
    );

    let _watcher = watch_assets(&opts.assets, reload_tx)
        .with_context(|| format!("watching {}", opts.assets.display()))?;
    println!(
        "dominion: kingdom running at {} Hz (seed {}, {} objects); watching {} for changes",
        kingdom.config().assets.world.tick_hz,
        opts.seed,
        counts.total(),
        opts.assets.display()
    );

    if opts.standby {
        println!(
            "dominion: STANDBY: a read-only copy of kingdom {} as saved at tick {} (owner epoch \
             {epoch}, left alone); nothing is written: saves dropped, no journal, no data-fix \
             write-back, no new accounts, no presence, mailboxes read-only",
            kingdom_id.0,
            kingdom.tick_count()
        );
    }
    let tick_metrics = metrics.clone();
    let tick_stop = stop.clone();
    let tick_fence = fence.clone();
    let limit = opts.ticks;
    let mut persister = persister;
    let tick_thread = std::thread::Builder::new()
        .name("tick".into())
        .spawn(move || {
            let why = run_ticks(
                &mut kingdom,
                &tick_metrics,
                &reload_rx,
                &tick_stop,
                &tick_fence,
                limit,
                Some(&mut bridge),
                Some(&mut persister),
                journal.as_mut(),
            );
            (why, kingdom, persister)
        })
        .context("starting the tick thread")?;
    let (why, mut kingdom, persister) = tick_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the tick thread panicked"))?;
    let last_tick = kingdom.tick_count();
    let flush_started = Instant::now();
    let mut persister = persister;
    let save_stats = persister.stats();
    let durable = persister.durable_tick();
    if why == Stop::Fenced {
        return Ok(stop_fenced(
            runtime,
            server,
            &fence,
            epoch,
            last_tick,
            opts.journal.as_ref(),
            shutdown_tx,
        ));
    }
    let final_save = if opts.standby {
        tracing::info!(
            last_tick,
            dropped = save_stats.dropped.load(Ordering::Relaxed),
            "standby: nothing saved (save batches dropped)"
        );
        None
    } else {
        Some(runtime.block_on(async {
            tokio::time::timeout(opts.final_save_timeout, persister.shutdown(&mut kingdom)).await
        }))
    };
    match final_save {
        None => {}
        Some(Ok(Ok(()))) => tracing::info!(
            last_tick,
            took_ms = flush_started.elapsed().as_millis() as u64,
            "world saved"
        ),
        Some(Ok(Err(e))) => tracing::error!(last_tick, "final save failed: {e}"),
        Some(Err(_)) => {
            // Dropping the save queue stops its writer; the journal still holds every input
            // acknowledged since the last durable save, so nothing acknowledged is lost.
            let pending = save_stats.queue_depth.load(Ordering::Relaxed);
            let since = durable.map_or_else(
                || "the last durable save".to_owned(),
                |t| format!("tick {t}"),
            );
            let journal = if opts.journal.is_some() {
                "the journal keeps their inputs and the next start replays them"
            } else {
                "there is no journal (--no-journal): they are lost"
            };
            let msg = format!(
                "final save gave up after {:?}: the world's changes since {since} up to tick \
                 {last_tick} were not saved ({pending} save batch(es) pending; the store did \
                 not answer in time); {journal}",
                opts.final_save_timeout
            );
            tracing::error!("{msg}");
            println!("dominion: {msg}");
        }
    }
    // Reports of the last ticks reach the mailboxes before the process ends.
    match runtime.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(10), mail.flush()).await
    }) {
        Ok(Ok(())) => tracing::info!("mail flushed"),
        Ok(Err(e)) => tracing::error!("flushing mail failed: {e}"),
        Err(_) => tracing::error!("flushing mail took over 10 s; queued mail is lost"),
    }

    let _ = shutdown_tx.send(true);
    runtime.block_on(server.shutdown("server shutting down", std::time::Duration::from_secs(2)));
    let _ = runtime.block_on(metrics_task);
    // Requests in flight get a moment to finish (a reload waits up to 10 s).
    let _ = runtime.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(12), admin_task).await
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    let reason = match why {
        Stop::TickLimit => "tick limit reached",
        Stop::Requested | Stop::Fenced => "shutdown requested",
    };
    tracing::info!(last_tick, "stopped: {reason}");
    println!("dominion: stopped after tick {last_tick} ({reason})");
    Ok(why)
}

/// The end of an instance another one took the kingdom from: no final save (the store would
/// refuse it), every session closed with `CloseCode::FENCED`, the journal set aside so a later
/// start here never replays it onto the new owner's saves, and a `FENCED` line that says what
/// happened. Report mail still queued is dropped: it may tell of ticks the new owner never
/// loaded.
fn stop_fenced(
    runtime: tokio::runtime::Runtime,
    server: Server,
    fence: &Fence,
    epoch: u64,
    last_tick: u64,
    journal: Option<&JournalSettings>,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
) -> Stop {
    let why = fence
        .why()
        .unwrap_or_else(|| "another instance took the kingdom".to_owned());
    runtime.block_on(server.shutdown_with(
        CloseCode::FENCED,
        "this server no longer owns the kingdom: reconnect",
        std::time::Duration::from_secs(2),
    ));
    let _ = shutdown_tx.send(true);
    let journal = match journal.filter(|j| j.dir.exists()) {
        None => String::new(),
        Some(j) => match set_journal_aside(&j.dir, epoch) {
            Ok(to) => format!(
                "; its journal was moved to {} and is never replayed",
                to.display()
            ),
            Err(e) => {
                tracing::error!("moving the fenced journal {} aside: {e}", j.dir.display());
                format!(
                    "; moving its journal {} aside failed ({e}): remove it before starting here                      again",
                    j.dir.display()
                )
            }
        },
    };
    let msg = format!(
        "FENCED at tick {last_tick}: {why}; this instance (epoch {epoch}) stopped without \
         acknowledging that tick or saving{journal}"
    );
    tracing::error!("{msg}");
    println!("dominion: {msg}");
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Stop::Fenced
}

/// Takes an exclusive lock on `<data>/dominion.lock` (released when the file is dropped, or
/// when the process dies), or says which process holds it.
fn lock_data_folder(data: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::io::Write;
    let path = data.join("dominion.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "the data folder {} is in use by another dominion serve ({}); give each \
                 instance its own --data",
                data.display(),
                match holder.trim() {
                    "" => "process unknown".to_owned(),
                    pid => format!("pid {pid}"),
                }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}

/// Reads the kingdom's owner epoch `e` and takes `e + 1` with a compare-and-set. When another
/// instance moved the epoch in between, the start fails with what happened and what to do.
async fn take_epoch(store: &dyn Store, kingdom: KingdomId) -> anyhow::Result<u64> {
    let seen = store.current_epoch(kingdom).await?;
    match store.take_epoch(kingdom, seen).await {
        Ok(epoch) => Ok(epoch),
        Err(StoreError::StaleEpoch { current, .. }) => anyhow::bail!(
            "lost the race for kingdom {}'s owner epoch: it was {seen} when this instance \
             started and another instance took {current} before this one could; that instance \
             owns the kingdom now, so this one read nothing and does not start (stop the \
             other instance first)",
            kingdom.0
        ),
        Err(e) => Err(e.into()),
    }
}

/// Binds the admin API (see [`crate::admin`]) and runs it on the runtime until shutdown.
fn start_admin(
    runtime: &tokio::runtime::Runtime,
    opts: &ServeOptions,
    ctx: AdminContext,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let (addr, token_file, server) =
        runtime.block_on(admin::bind(&opts.admin, &opts.data, ctx, shutdown))?;
    println!(
        "dominion: admin API on http://{addr} (tokens in {})",
        token_file.display()
    );
    tracing::info!(%addr, "admin API listening");
    Ok(runtime.spawn(server))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "dominion".to_owned())
}
