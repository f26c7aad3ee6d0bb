//! `dominion`: the world server binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dominion::admin::AdminOptions;
use dominion::assets::load_dir;
use dominion::inbox::InboxLimits;
use dominion::journal::JournalSettings;
use dominion::mail::Ticket;
use dominion::replay_cmd::{ReplayOptions, run_replay};
use dominion::serve::{ServeOptions, serve};
use dominion::ticket_cmd::{
    TicketAction, TicketOptions, expires_in, parse_attachments, parse_recipients, run_ticket,
};
use dominion_net::transport::{ServerOptions, SlotLimits};

#[derive(Parser)]
#[command(
    name = "dominion",
    version,
    about = "World server for SLG strategy games"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once at start-up")]
enum Command {
    /// Run a kingdom on the embedded defaults.
    Serve {
        /// Designer configs.
        #[arg(long, default_value = "assets")]
        assets: PathBuf,
        /// Where databases and generated certificates live.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Map seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Exit cleanly after this many ticks.
        #[arg(long)]
        ticks: Option<u64>,
        /// Prometheus metrics address (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:9100")]
        metrics_addr: SocketAddr,
        /// QUIC address clients connect to (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:4433")]
        listen: SocketAddr,
        /// TLS certificate chain (PEM); with --key. Default: a self-signed one under --data.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// TLS private key (PEM); with --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Store URL: sqlite:///path/file.db or mongodb://host/db. Default: sqlite in --data.
        #[arg(long)]
        store: Option<String>,
        /// Coordination URL: embedded:///dir or redis://host:port. Default: embedded in --data.
        #[arg(long)]
        coordination: Option<String>,
        /// This kingdom's server id (the low 16 bits of player ids).
        #[arg(long, default_value_t = 1)]
        server_id: u16,
        /// File holding the platform's HMAC secret; without it any login token is accepted
        /// (development), which is refused on a non-loopback --listen unless
        /// --insecure-dev-login.
        #[arg(long)]
        auth_secret_file: Option<PathBuf>,
        /// Run the development login (any token accepted) on a non-loopback --listen.
        #[arg(long, conflicts_with = "auth_secret_file")]
        insecure_dev_login: bool,
        /// Connections one client address may hold (more are refused at the QUIC level).
        #[arg(long, default_value_t = ServerOptions::DEFAULT_SLOTS.per_ip)]
        max_connections_per_ip: usize,
        /// Connections one client address may hold before they log in (handshakes included).
        #[arg(long, default_value_t = ServerOptions::DEFAULT_SLOTS.unauthenticated_per_ip)]
        max_unauthenticated_per_ip: usize,
        /// Requests per second one client address may send before login, shared by all its
        /// connections not logged in yet (bursts of four times as many). A load test whose
        /// clients all come from one address lifts it.
        #[arg(long, default_value_t = 100.0)]
        pre_login_requests_per_ip_per_sec: f64,
        /// March orders a tick takes on whose far route is not planned yet; more wait, with
        /// their sessions' later commands, for the next tick while their routes are planned.
        #[arg(long, default_value_t = dominion::world_bridge::DEFAULT_UNPLANNED_ROUTES_PER_TICK)]
        unplanned_routes_per_tick: usize,
        /// Seconds the final save at shutdown may take before the server gives up on it.
        #[arg(long, default_value_t = 30)]
        final_save_timeout_secs: u64,
        /// Milliseconds between two checks of the kingdom's owner epoch in the store: once
        /// another instance took it, this one stops (exit code 3) within about this long.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..))]
        epoch_check_ms: u64,
        /// Run as a standby (rotation stage 1): a read-only copy of the kingdom as last saved,
        /// serving clients on its own address for smoke tests. It takes no owner epoch and
        /// writes nothing: saves are dropped and counted, no journal, no data-fix write-back,
        /// no new accounts, no presence, mailboxes read-only.
        #[arg(long)]
        standby: bool,
        /// Seconds between two rewrites of online players' presence (its TTL is 300 s); also how
        /// long presence stays missing after the coordination service lost it.
        #[arg(long, default_value_t = 60)]
        presence_refresh_secs: u64,
        /// Longest lifetime (seconds from now to its expiry) of a platform token accepted.
        #[arg(long, default_value_t = dominion::login::DEFAULT_MAX_TOKEN_LIFETIME.as_secs())]
        max_token_lifetime_secs: u64,
        /// Milliseconds between incremental saves (a crash loses at most this window).
        #[arg(long, default_value_t = 1000)]
        save_interval_ms: u64,
        /// Commands one session may have waiting for the world; more are answered RATE_LIMITED.
        #[arg(long, default_value_t = InboxLimits::default().max_pending_per_session)]
        max_pending_commands_per_session: u32,
        /// Commands all sessions may have waiting for the world; more are answered RATE_LIMITED.
        #[arg(long, default_value_t = InboxLimits::default().max_pending_total)]
        max_pending_commands: u32,
        /// Inputs the tick takes from one session per tick (the rest wait, in order).
        #[arg(long, default_value_t = InboxLimits::default().max_per_session_per_tick)]
        inputs_per_session_per_tick: u32,
        /// Inputs the tick takes from all sessions per tick (served round-robin).
        #[arg(long, default_value_t = InboxLimits::default().max_per_tick)]
        inputs_per_tick: u32,
        /// Run without the tick-input journal (a crash then loses up to a save window of
        /// acknowledged commands); for comparisons only.
        #[arg(long)]
        no_journal: bool,
        /// A journal record carries the world's state hash every N ticks (0: never).
        #[arg(long, default_value_t = 600)]
        journal_hash_every: u64,
        /// Journal size (MiB, fractions allowed) behind the last durable save above which
        /// commands are refused until saves catch up.
        #[arg(long, default_value_t = 256.0, value_parser = parse_mib)]
        journal_max_mib: f64,
        /// Keep the whole journal (no compaction), so `dominion replay --from-tick 0` can
        /// rebuild the world from its seed.
        #[arg(long)]
        journal_keep_all: bool,
        /// Admin API address (port 0 picks a free port). Off loopback it needs
        /// --admin-token-file.
        #[arg(long, default_value = "127.0.0.1:9101")]
        admin_addr: SocketAddr,
        /// File of admin bearer tokens, one per line (at least 16 characters each). Without it,
        /// on a loopback address, a random token is written to <data>/admin.token.
        #[arg(long)]
        admin_token_file: Option<PathBuf>,
    },
    /// Rebuild the world from the last save and the journal, checking every recorded hash;
    /// optionally on other assets (a balance what-if) or writing the world at a tick as JSON.
    Replay {
        /// Data folder of the server (store, journal).
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Store URL (default: sqlite in --data).
        #[arg(long)]
        store: Option<String>,
        /// Kingdom/server id.
        #[arg(long, default_value_t = 1)]
        server_id: u16,
        /// Start: 0 rebuilds the world from its seed (needs a journal kept from the start);
        /// by default the last save. Hashes are reported from this tick on.
        #[arg(long)]
        from_tick: Option<u64>,
        /// Stop after this tick.
        #[arg(long)]
        to_tick: Option<u64>,
        /// Replay on these assets instead of the recorded configs, and report where the world
        /// diverges.
        #[arg(long)]
        assets: Option<PathBuf>,
        /// Map seed when rebuilding from scratch with no save (default: the save's).
        #[arg(long)]
        seed: Option<u64>,
        /// Write the world as JSON at this tick (with --dump).
        #[arg(long, requires = "dump")]
        dump_at: Option<u64>,
        /// File the JSON dump goes to.
        #[arg(long, requires = "dump_at")]
        dump: Option<PathBuf>,
    },
    /// Render the map a seed and assets folder generate to a PNG (one pixel per tile).
    PreviewMap {
        /// Designer configs.
        #[arg(long, default_value = "assets")]
        assets: PathBuf,
        /// Map seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output PNG file.
        #[arg(long, default_value = "map.png")]
        out: PathBuf,
    },
    /// Run the registered data fixes (schema migrations) over every stored document.
    Datafix {
        /// List what would change without writing.
        #[arg(long)]
        dry_run: bool,
        /// Data folder of the embedded store.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Store URL (default: sqlite in --data).
        #[arg(long)]
        store: Option<String>,
    },
    /// Issue an operator's compensation ticket as mail (issuing the same --id again sends
    /// nothing new), or show tickets' audit records.
    Ticket {
        /// Data folder of the embedded store.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Store URL (default: sqlite in --data).
        #[arg(long)]
        store: Option<String>,
        /// Kingdom/server id.
        #[arg(long, default_value_t = 1)]
        server_id: u16,
        /// The ticket's unique id.
        #[arg(long)]
        id: Option<String>,
        /// Who issues it (kept in the audit).
        #[arg(long, default_value = "")]
        operator: String,
        /// Recipients: `all`, or player ids separated by commas.
        #[arg(long, default_value = "")]
        to: String,
        /// The mail's title.
        #[arg(long, default_value = "Compensation")]
        title: String,
        /// The mail's text.
        #[arg(long, default_value = "")]
        text: String,
        /// Attachments: CODE:AMOUNT,… (0 food, 1 wood, 2 stone, 3 gold).
        #[arg(long, default_value = "")]
        attach: String,
        /// Why (kept in the audit).
        #[arg(long, default_value = "")]
        reason: String,
        /// The mail expires this many seconds after issuing (default: never).
        #[arg(long)]
        expires_in_secs: Option<u64>,
        /// Show the ticket --id instead of issuing it.
        #[arg(long)]
        show: bool,
        /// List the newest N tickets instead of issuing.
        #[arg(long)]
        list: Option<u32>,
    },
    /// Validate an assets folder: print every error (file:line: field: message), or a summary.
    CheckAssets {
        /// The folder to check.
        #[arg(default_value = "assets")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckAssets { dir } => match load_dir(&dir) {
            Ok(assets) => {
                println!("{}: ok: {}", dir.display(), assets.summary());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in &errors.0 {
                    println!("{e}");
                }
                eprintln!("{}: {} error(s)", dir.display(), errors.0.len());
                ExitCode::FAILURE
            }
        },
        Command::Datafix {
            dry_run,
            data,
            store,
        } => {
            init_tracing();
            match dominion::datafix::run(&data, store.as_deref(), dry_run) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("dominion: datafix: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Replay {
            data,
            store,
            server_id,
            from_tick,
            to_tick,
            assets,
            seed,
            dump_at,
            dump,
        } => {
            init_tracing();
            let opts = ReplayOptions {
                data,
                store_url: store,
                server_id,
                from_tick,
                to_tick,
                assets,
                seed,
                dump: dump_at.zip(dump),
            };
            match run_replay(&opts) {
                Ok(report) => {
                    print!("{report}");
                    if report.first_divergence.is_some() {
                        ExitCode::from(2)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("dominion: replay: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Ticket {
            data,
            store,
            server_id,
            id,
            operator,
            to,
            title,
            text,
            attach,
            reason,
            expires_in_secs,
            show,
            list,
        } => {
            init_tracing();
            let action = match (list, show, id) {
                (Some(n), _, _) => TicketAction::List(n),
                (None, true, Some(id)) => TicketAction::Show(id),
                (None, _, None) => {
                    eprintln!("dominion: ticket: --id is required (or --list N)");
                    return ExitCode::FAILURE;
                }
                (None, false, Some(id)) => {
                    let parsed = parse_recipients(&to).and_then(|to| {
                        parse_attachments(&attach).map(|attachments| (to, attachments))
                    });
                    let (to, attachments) = match parsed {
                        Ok(p) => p,
                        Err(e) => {
                            eprintln!("dominion: ticket: {e}");
                            return ExitCode::FAILURE;
                        }
                    };
                    TicketAction::Issue(Ticket {
                        id,
                        operator,
                        to,
                        title,
                        text,
                        attachments,
                        reason,
                        expires_unix_ms: expires_in_secs.map(expires_in),
                    })
                }
            };
            match run_ticket(TicketOptions {
                data,
                store_url: store,
                server_id,
                action,
            }) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("dominion: ticket: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::PreviewMap { assets, seed, out } => {
            let assets = match load_dir(&assets) {
                Ok(a) => a,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::FAILURE;
                }
            };
            match dominion::preview::render_map(&assets, seed, &out) {
                Ok(objects) => {
                    println!("{}: seed {seed}, {objects} objects", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("dominion: writing {}: {e:#}", out.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve {
            assets,
            data,
            seed,
            ticks,
            metrics_addr,
            listen,
            cert,
            key,
            store,
            coordination,
            server_id,
            auth_secret_file,
            insecure_dev_login,
            max_token_lifetime_secs,
            max_connections_per_ip,
            max_unauthenticated_per_ip,
            pre_login_requests_per_ip_per_sec,
            unplanned_routes_per_tick,
            presence_refresh_secs,
            final_save_timeout_secs,
            epoch_check_ms,
            standby,
            save_interval_ms,
            max_pending_commands_per_session,
            max_pending_commands,
            inputs_per_session_per_tick,
            inputs_per_tick,
            no_journal,
            journal_hash_every,
            journal_max_mib,
            journal_keep_all,
            admin_addr,
            admin_token_file,
        } => {
            init_tracing();
            if !(pre_login_requests_per_ip_per_sec.is_finite()
                && pre_login_requests_per_ip_per_sec > 0.0)
            {
                eprintln!(
                    "dominion: --pre-login-requests-per-ip-per-sec must be a positive number, \
                     not {pre_login_requests_per_ip_per_sec}"
                );
                return ExitCode::FAILURE;
            }
            let auth_secret = match auth_secret_file.map(std::fs::read).transpose() {
                Ok(secret) => secret.map(|s| s.trim_ascii().to_vec()),
                Err(e) => {
                    eprintln!("dominion: reading --auth-secret-file: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let journal = (!no_journal && !standby).then(|| JournalSettings {
                hash_every_ticks: journal_hash_every,
                // Positive and finite (checked by `parse_mib`); `as` saturates.
                max_bytes: (journal_max_mib * f64::from(1u32 << 20)) as u64,
                keep_all: journal_keep_all,
                ..JournalSettings::in_data(&data)
            });
            match serve(ServeOptions {
                assets,
                data,
                seed,
                ticks,
                metrics_addr,
                listen,
                cert: cert.zip(key),
                store_url: store,
                coordination_url: coordination,
                server_id,
                auth_secret,
                insecure_dev_login,
                max_token_lifetime: std::time::Duration::from_secs(max_token_lifetime_secs),
                presence_refresh: std::time::Duration::from_secs(presence_refresh_secs.max(1)),
                final_save_timeout: std::time::Duration::from_secs(final_save_timeout_secs),
                epoch_check: std::time::Duration::from_millis(epoch_check_ms),
                standby,
                connection_slots: SlotLimits {
                    per_ip: max_connections_per_ip,
                    unauthenticated_per_ip: max_unauthenticated_per_ip,
                },
                pre_login_rate: pre_login_requests_per_ip_per_sec,
                unplanned_routes_per_tick,
                save_interval: std::time::Duration::from_millis(save_interval_ms),
                inbox: InboxLimits {
                    max_pending_per_session: max_pending_commands_per_session,
                    max_pending_total: max_pending_commands,
                    max_per_session_per_tick: inputs_per_session_per_tick,
                    max_per_tick: inputs_per_tick,
                },
                journal,
                admin: AdminOptions {
                    addr: admin_addr,
                    token_file: admin_token_file,
                },
            }) {
                Ok(dominion::tick_loop::Stop::Fenced) => {
                    ExitCode::from(dominion::fence::EXIT_FENCED)
                }
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("dominion: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

/// A size in MiB: a positive number, fractions allowed (`0.05` is 51.2 KiB).
fn parse_mib(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err(format!("{s:?} is not a positive size in MiB")),
        Err(e) => Err(format!("{s:?} is not a number of MiB: {e}")),
    }
}
