//! Runs the bots: opens a few shared quinn endpoints, starts clients at the ramp rate, lets each
//! one play its [`Bot`] scenario until the deadline, and merges what they measured.
//!
//! Each client runs two loops at once, as a game client does: viewport changes and commands (each
//! awaiting its own reply), plus a push reader. Commands follow their schedule (open loop): a
//! slow reply delays only that bot's next command, never the others'.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use dominion_net::client::{Client, ClientError, ClientOptions};
use dominion_net::mirror::Mirror;
use dominion_net::player_view::PlayerView;
use dominion_net::proto::{CommandOutcome, Login, ServerMessage, delta};
use dominion_net::transport::socket::bind_udp;
use dominion_sim::aoi::{Body, ObjectView, ObserverDelta};
use dominion_sim::types::PlayerId;
use tokio::time::{Instant, sleep_until};

use super::config::{BotsConfig, Progress};
use super::report::{ErrorKind, Phase, Report, Stats, classify, classify_close};
use super::scenario::{Bot, TargetKind};

/// The client version bots announce at login.
pub const CLIENT_VERSION: &str = concat!("dominion-bots/", env!("CARGO_PKG_VERSION"));

/// Object ids learned from any bot's outcomes (other players' cities and marches), shared so a
/// bot can aim at things that exist.
#[derive(Default)]
struct TargetPool {
    ids: VecDeque<u64>,
    /// Ids ever offered; a bot remembers the last one it took.
    seq: u64,
}

/// Ids kept in the shared pool.
const POOL_SIZE: usize = 4096;
/// Ids a bot takes from the pool before each command.
const POOL_TAKE: usize = 8;

impl TargetPool {
    fn offer(&mut self, id: u64) {
        if self.ids.len() == POOL_SIZE {
            self.ids.pop_front();
        }
        self.ids.push_back(id);
        self.seq += 1;
    }

    /// Teaches `bot` the ids offered since `seen` (at most [`POOL_TAKE`], newest first).
    fn teach(&self, bot: &mut Bot, seen: &mut u64) {
        let fresh = (self.seq - *seen).min(POOL_TAKE as u64) as usize;
        for &id in self.ids.iter().rev().take(fresh) {
            bot.learn_target(id);
        }
        *seen = self.seq;
    }
}

/// State shared by every client of a run.
struct Shared {
    config: BotsConfig,
    stats: Mutex<Stats>,
    started: AtomicUsize,
    logged_in: AtomicUsize,
    answered: AtomicU64,
    targets: Mutex<TargetPool>,
    first_command: OnceLock<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections only add to counters; a poisoned lock still holds consistent numbers.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.stats)
    }

    fn session_failed(&self, kind: ErrorKind, message: impl std::fmt::Display) {
        let mut s = self.stats();
        s.sessions_failed += 1;
        s.error(kind, message);
    }
}

/// Runs `config.clients` bots against the server and returns the report. Errors only when the
/// run cannot start (no UDP socket); everything that goes wrong in a session is counted.
pub async fn run(config: BotsConfig) -> anyhow::Result<Report> {
    let endpoints = open_endpoints(&config)?;
    let shared = Arc::new(Shared {
        config,
        stats: Mutex::new(Stats::default()),
        started: AtomicUsize::new(0),
        logged_in: AtomicUsize::new(0),
        answered: AtomicU64::new(0),
        targets: Mutex::new(TargetPool::default()),
        first_command: OnceLock::new(),
    });
    let config = &shared.config;
    let start = Instant::now();
    let deadline = start + config.ramp_duration() + config.duration;

    let done = Arc::new(AtomicBool::new(false));
    let progress = (config.progress == Progress::Stderr)
        .then(|| tokio::spawn(show_progress(shared.clone(), done.clone(), start)));

    let mut tasks = Vec::with_capacity(config.clients);
    for i in 0..config.clients {
        let at = start + ramp_offset(i, config.ramp_per_sec);
        sleep_until(at).await;
        let endpoint = endpoints[i / config.clients_per_endpoint.max(1)].clone();
        shared.started.fetch_add(1, Ordering::Relaxed);
        tasks.push(tokio::spawn(run_bot(i, endpoint, shared.clone(), deadline)));
    }
    for t in tasks {
        if let Err(e) = t.await {
            shared
                .stats()
                .error(ErrorKind::Closed, format!("bot task failed: {e}"));
        }
    }
    let end = Instant::now();
    done.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.await;
    }
    // Let the close frames go out so the server frees the sessions at once.
    for ep in &endpoints {
        let _ = tokio::time::timeout(Duration::from_secs(2), ep.wait_idle()).await;
    }
    let command_window = shared
        .first_command
        .get()
        .map(|&t| end.saturating_duration_since(t))
        .unwrap_or_default();
    let stats = shared.stats().clone();
    Ok(Report {
        clients: shared.config.clients,
        elapsed: end - start,
        command_window,
        stats,
    })
}

fn ramp_offset(i: usize, per_sec: f64) -> Duration {
    if per_sec <= 0.0 || !per_sec.is_finite() {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(i as f64 / per_sec)
}

/// One quinn client endpoint per `clients_per_endpoint` clients, each on a UDP socket with
/// raised buffers (PITFALLS: default buffers make handshake storms take seconds and fail).
fn open_endpoints(config: &BotsConfig) -> anyhow::Result<Vec<quinn::Endpoint>> {
    let per = config.clients_per_endpoint.max(1);
    let count = config.clients.div_ceil(per).max(1);
    let bind: SocketAddr = if config.server.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    (0..count)
        .map(|_| {
            let (socket, _) = bind_udp(bind, config.udp_buffer)?;
            let endpoint = quinn::Endpoint::new(
                quinn::EndpointConfig::default(),
                None,
                socket,
                Arc::new(quinn::TokioRuntime),
            )?;
            Ok(endpoint)
        })
        .collect()
}

/// What a loop does after an error.
enum AfterError {
    /// Keep playing (a timeout or an error reply).
    Continue,
    /// The connection is gone: stop this loop (the close is reported once, by the session).
    Stop,
}

/// Counts a request error; connection-level ends are left to the session's close watcher.
fn request_error(shared: &Shared, err: ClientError) -> AfterError {
    match err {
        ClientError::Connection(_) => AfterError::Stop,
        ClientError::ConnectionLost | ClientError::Write(_) => {
            shared.stats().error(ErrorKind::Closed, &err);
            AfterError::Stop
        }
        other => {
            let kind = classify(&other, Phase::Request);
            shared.stats().error(kind, &other);
            AfterError::Continue
        }
    }
}

async fn run_bot(index: usize, endpoint: quinn::Endpoint, shared: Arc<Shared>, deadline: Instant) {
    let config = &shared.config;
    let bot = Bot::new(&config.scenario, index as u64);
    let mut options = ClientOptions::new(config.fingerprint);
    options.request_timeout = config.request_timeout;

    let t = Instant::now();
    let connecting = Client::connect_with_endpoint(endpoint, config.server, options);
    let (client, pushes) = match tokio::time::timeout(config.connect_timeout, connecting).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            shared.session_failed(classify(&e, Phase::Connect), e);
            return;
        }
        Err(_) => {
            shared.session_failed(
                ErrorKind::Connect,
                format!("no connection within {:?}", config.connect_timeout),
            );
            return;
        }
    };
    shared.stats().connect.record(t.elapsed());

    let login = Login {
        openid: bot.openid(),
        platform_token: "dev".into(),
        client_version: CLIENT_VERSION.into(),
    };
    let t = Instant::now();
    let me = match client.login(login).await {
        Ok(ok) => {
            let mut s = shared.stats();
            s.login.record(t.elapsed());
            s.sessions_ok += 1;
            PlayerId(ok.player_id)
        }
        Err(e) => {
            shared.session_failed(classify(&e, Phase::Login), e);
            client.close();
            return;
        }
    };
    shared.logged_in.fetch_add(1, Ordering::Relaxed);
    let session_start = Instant::now();

    // The first viewport, then both loops until the deadline.
    let first_view = bot.viewport();
    let bot = Arc::new(Mutex::new(bot));
    let resync = Arc::new(AtomicBool::new(false));
    let answered = AtomicBool::new(false);
    // Pushes: counted locally, merged at the end. The channel ends when the client is dropped.
    let push_task = tokio::spawn(read_pushes(pushes, bot.clone(), me, resync.clone()));

    let play = async {
        let t = Instant::now();
        match client.set_viewport(first_view).await {
            Ok(_) => {
                let mut s = shared.stats();
                s.viewport_rtt.record(t.elapsed());
                s.viewports += 1;
            }
            Err(e) => {
                if let AfterError::Stop = request_error(&shared, e) {
                    return std::future::pending().await;
                }
            }
        }
        tokio::join!(
            command_loop(&client, &bot, &shared, deadline, &answered, me),
            pan_loop(&client, &bot, &shared, deadline, &resync),
        );
    };
    tokio::select! {
        _ = play => {}
        reason = client.closed() => {
            if let Some(kind) = classify_close(&reason) {
                shared.stats().error(kind, format!("connection closed: {reason}"));
            }
        }
        // A loop stopped on a lost connection that never reported its close.
        _ = sleep_until(deadline + config.request_timeout) => {}
    }

    let conn_stats = client.connection().stats();
    let session_seconds = session_start.elapsed().as_secs_f64();
    client.close();
    drop(client);
    shared.logged_in.fetch_sub(1, Ordering::Relaxed);
    let push_counts = push_task.await.unwrap_or_default();
    let mut s = shared.stats();
    s.bytes_rx += conn_stats.udp_rx.bytes;
    s.bytes_tx += conn_stats.udp_tx.bytes;
    s.session_seconds += session_seconds;
    if answered.load(Ordering::Relaxed) {
        s.sessions_answered += 1;
    }
    s.absorb_push_counts(push_counts);
}

/// Reads one session's pushes until the client is dropped: counts them, keeps the bot's mirror
/// of its view and teaches the bot the objects that enter it.
async fn read_pushes(
    mut pushes: tokio::sync::mpsc::Receiver<ServerMessage>,
    bot: Arc<Mutex<Bot>>,
    me: PlayerId,
    resync: Arc<AtomicBool>,
) -> Stats {
    let mut counts = Stats::default();
    let mut mirror = Mirror::new();
    let mut own = PlayerView::new();
    let mut desynced = false;
    while let Some(message) = pushes.recv().await {
        counts.push(&message);
        if matches!(
            message,
            ServerMessage::PlayerDelta(_) | ServerMessage::PlayerEvent(_)
        ) && let Ok(body) = message.encode_body()
        {
            *counts
                .own_push_bytes
                .entry(message.message_type().name())
                .or_default() += (dominion_net::proto::HEADER_LEN + body.len()) as u64;
        }
        match &message {
            ServerMessage::PlayerDelta(d) => {
                if let Err(e) = own.apply(d) {
                    counts.error(ErrorKind::Desync, format!("player view: {e}"));
                }
            }
            ServerMessage::Kick(k) => counts.error(
                ErrorKind::Closed,
                format!("kicked ({}): {}", k.code, k.reason),
            ),
            ServerMessage::WorldDelta(d) => match delta::decode(d) {
                Err(e) => counts.error(
                    ErrorKind::Protocol,
                    format!("undecodable WorldDelta for tick {}: {e}", d.tick),
                ),
                Ok(decoded) => match mirror.apply_decoded(&decoded) {
                    Ok(()) => {
                        counts.deltas_applied += 1;
                        desynced = false;
                        learn_from_delta(&mut lock(&bot), me, &decoded);
                    }
                    Err(e) => {
                        // Counted once per divergence, not for every delta until resynced.
                        if !desynced {
                            counts.error(ErrorKind::Desync, e);
                            desynced = true;
                        }
                        mirror.reset();
                        resync.store(true, Ordering::Relaxed);
                    }
                },
            },
            _ => {}
        }
    }
    counts.objects_in_view = mirror.len() as u64;
    counts
}

/// Teaches `bot` the objects entering its view (and those that changed kind); its own city
/// becomes its home, its own marches are no targets.
fn learn_from_delta(bot: &mut Bot, me: PlayerId, delta: &ObserverDelta) {
    let replaced = delta.update.iter().filter_map(|u| match &u.body {
        dominion_sim::aoi::BodyUpdate::Replaced(body) => Some((u.id, u.pos, body)),
        _ => None,
    });
    let entered = delta
        .enter
        .iter()
        .map(|v: &ObjectView| (v.id, Some(v.pos), &v.body));
    for (id, pos, body) in entered.chain(replaced) {
        let kind = match body {
            Body::Field { .. } => TargetKind::Field,
            Body::Monster { .. } => TargetKind::Monster,
            Body::City { owner, .. } if *owner == me => {
                if let Some(p) = pos {
                    bot.set_home(p.x, p.y);
                }
                continue;
            }
            Body::City { .. } => TargetKind::City,
            Body::March(m) if m.owner == me => continue,
            Body::March(_) => TargetKind::March,
            Body::CitySlot => continue,
        };
        bot.learn_object(id.0, kind);
    }
}

async fn command_loop(
    client: &Client,
    bot: &Mutex<Bot>,
    shared: &Shared,
    deadline: Instant,
    answered: &AtomicBool,
    me: PlayerId,
) {
    let mut next = Instant::now() + lock(bot).first_command_delay();
    let mut seen = 0u64;
    while next < deadline {
        sleep_until(next).await;
        let body = {
            let mut b = lock(bot);
            lock(&shared.targets).teach(&mut b, &mut seen);
            b.next_command()
        };
        shared.first_command.get_or_init(Instant::now);
        shared.stats().commands_sent += 1;
        let t = Instant::now();
        match client.command(body.clone()).await {
            Ok(outcome) => {
                shared.stats().outcome(&outcome, t.elapsed());
                shared.answered.fetch_add(1, Ordering::Relaxed);
                answered.store(true, Ordering::Relaxed);
                if let Some(log) = &shared.config.successes
                    && !matches!(outcome, CommandOutcome::Refused { .. })
                {
                    let _ = log.send((me.0, outcome.clone()));
                }
                match &outcome {
                    CommandOutcome::MarchSent { march_id: id, .. }
                    | CommandOutcome::Relocated { city_id: id, .. } => {
                        lock(&shared.targets).offer(*id);
                    }
                    _ => {}
                }
                lock(bot).observe(&body, &outcome);
            }
            Err(e) => {
                if let AfterError::Stop = request_error(shared, e) {
                    return std::future::pending().await;
                }
            }
        }
        // Keep the schedule; after a slow reply, go on from now rather than burst to catch up.
        next = (next + lock(bot).next_command_delay()).max(Instant::now());
    }
}

async fn pan_loop(
    client: &Client,
    bot: &Mutex<Bot>,
    shared: &Shared,
    deadline: Instant,
    resync: &AtomicBool,
) {
    let mut next = Instant::now() + lock(bot).next_pan_delay();
    while next < deadline {
        sleep_until(next).await;
        // After a mirror desync, ask for the same view again (the server re-sends it whole).
        let viewport = if resync.swap(false, Ordering::Relaxed) {
            lock(bot).viewport()
        } else {
            lock(bot).next_pan()
        };
        let t = Instant::now();
        match client.set_viewport(viewport).await {
            Ok(_) => {
                let mut s = shared.stats();
                s.viewport_rtt.record(t.elapsed());
                s.viewports += 1;
            }
            Err(e) => {
                if let AfterError::Stop = request_error(shared, e) {
                    return std::future::pending().await;
                }
            }
        }
        next = (next + lock(bot).next_pan_delay()).max(Instant::now());
    }
}

/// One status line per second on stderr: started, logged in, failed, commands/s, RTT p99 so far.
async fn show_progress(shared: Arc<Shared>, done: Arc<AtomicBool>, start: Instant) {
    use std::io::{IsTerminal, Write};
    let tty = std::io::stderr().is_terminal();
    let mut last_answered = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while !done.load(Ordering::Relaxed) {
        tick.tick().await;
        let answered = shared.answered.load(Ordering::Relaxed);
        let (failed, p99, errors) = {
            let s = shared.stats();
            (
                s.sessions_failed,
                s.command_rtt.quantile_ms(0.99),
                s.errors.values().sum::<u64>(),
            )
        };
        let line = format!(
            "[{:>5.0} s] started {} online {} failed {} | cmds/s {} | cmd rtt p99 {:.1} ms | errors {}",
            start.elapsed().as_secs_f64(),
            shared.started.load(Ordering::Relaxed),
            shared.logged_in.load(Ordering::Relaxed),
            failed,
            answered - last_answered,
            p99,
            errors
        );
        last_answered = answered;
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
    if tty {
        let _ = writeln!(std::io::stderr());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bots::scenario::ScenarioConfig;

    #[test]
    fn the_pool_teaches_only_fresh_ids_newest_first() {
        let mut pool = TargetPool::default();
        let mut bot = Bot::new(&ScenarioConfig::default(), 0);
        let mut seen = 0;
        for id in 1..=20 {
            pool.offer(id);
        }
        pool.teach(&mut bot, &mut seen);
        assert_eq!(
            bot.known_targets().collect::<Vec<_>>(),
            [20, 19, 18, 17, 16, 15, 14, 13]
        );
        pool.teach(&mut bot, &mut seen);
        assert_eq!(
            bot.known_targets().count(),
            8,
            "nothing new, nothing learned"
        );
        pool.offer(99);
        pool.teach(&mut bot, &mut seen);
        assert_eq!(bot.known_targets().last(), Some(99));
    }

    #[test]
    fn the_pool_is_bounded() {
        let mut pool = TargetPool::default();
        for id in 0..(POOL_SIZE as u64 + 100) {
            pool.offer(id);
        }
        assert_eq!(pool.ids.len(), POOL_SIZE);
        assert_eq!(pool.ids.front(), Some(&100));
    }

    fn view(id: u64, x: u16, body: Body) -> ObjectView {
        ObjectView {
            id: dominion_sim::types::ObjectId(id),
            pos: dominion_sim::types::TilePos::new(x, 7),
            body,
        }
    }

    fn world_delta(tick: u64, enter: Vec<ObjectView>, leave: Vec<u64>) -> ServerMessage {
        let d = ObserverDelta {
            tick,
            enter,
            update: Vec::new(),
            leave: leave
                .into_iter()
                .map(dominion_sim::types::ObjectId)
                .collect(),
        };
        ServerMessage::WorldDelta(delta::encode(&d).expect("encode delta"))
    }

    #[tokio::test]
    async fn pushes_feed_the_mirror_and_the_bot() {
        let me = PlayerId::compose(1, 1);
        let other = PlayerId::compose(2, 1);
        let bot = Arc::new(Mutex::new(Bot::new(&ScenarioConfig::default(), 0)));
        let resync = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let reader = tokio::spawn(read_pushes(rx, bot.clone(), me, resync.clone()));
        let field = Body::Field {
            kind: dominion_sim::types::ResourceKind::Wood,
            level: 2,
            remaining: 5000,
        };
        let monster = Body::Monster { kind: 0, level: 1 };
        tx.send(world_delta(
            5,
            vec![
                view(10, 1, field),
                view(11, 2, monster),
                view(
                    12,
                    3,
                    Body::City {
                        owner: other,
                        alliance: None,
                    },
                ),
                view(
                    13,
                    40,
                    Body::City {
                        owner: me,
                        alliance: Some(3),
                    },
                ),
                view(14, 5, Body::CitySlot),
            ],
            vec![],
        ))
        .await
        .unwrap();
        // Leaving an object the mirror does not hold: the views diverged.
        tx.send(world_delta(6, vec![], vec![999])).await.unwrap();
        tx.send(world_delta(7, vec![], vec![998])).await.unwrap();
        // A payload that does not decode is a protocol error.
        tx.send(ServerMessage::WorldDelta(dominion_net::proto::WorldDelta {
            tick: 8,
            payload: vec![1, 2, 3],
        }))
        .await
        .unwrap();
        tx.send(world_delta(9, vec![view(20, 9, Body::CitySlot)], vec![]))
            .await
            .unwrap();
        drop(tx);
        let counts = reader.await.unwrap();
        assert_eq!(counts.pushes.get("WorldDelta"), Some(&5));
        assert_eq!(counts.deltas_applied, 2);
        assert_eq!(counts.errors_of(ErrorKind::Desync), 1, "one per divergence");
        assert_eq!(counts.errors_of(ErrorKind::Protocol), 1);
        assert!(
            resync.load(Ordering::Relaxed),
            "the pan loop is asked to resync"
        );
        assert_eq!(
            counts.objects_in_view, 1,
            "reset at the desync, then one slot"
        );
        let b = lock(&bot);
        assert_eq!(
            b.known_objects().collect::<Vec<_>>(),
            [
                (10, TargetKind::Field),
                (11, TargetKind::Monster),
                (12, TargetKind::City)
            ],
            "own city and slots are no targets"
        );
        assert_eq!(b.city(), Some((40, 7)), "own city is home");
    }

    #[test]
    fn ramp_spreads_connections() {
        assert_eq!(ramp_offset(0, 100.0), Duration::ZERO);
        assert_eq!(ramp_offset(50, 100.0), Duration::from_millis(500));
        assert_eq!(ramp_offset(50, 0.0), Duration::ZERO, "0 = all at once");
    }
}
