//! Issue 15, failing dependencies: the real services stopped and started under a running
//! `dominion serve`.

use std::time::{Duration, Instant};

use dominion_net::client::{Client, ClientOptions};
use dominion_net::proto::{Login, ServerMessage};

use crate::private_redis::PrivateRedis;
use crate::support::{eventually, runtime, start_game_server};

fn login(openid: &str) -> Login {
    Login {
        openid: openid.into(),
        platform_token: "dev".into(),
        client_version: "test".into(),
    }
}

#[test]
fn a_redis_restart_under_online_players_restores_presence_and_logins() {
    let mut redis = PrivateRedis::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, fp) = start_game_server(
        dir.path(),
        &[
            "--coordination",
            &redis.url(),
            "--presence-refresh-secs",
            "1",
        ],
    );
    let rt = runtime();
    let (pia, mut pia_pushes) = rt
        .block_on(Client::connect(addr, ClientOptions::new(fp)))
        .unwrap();
    let ok = rt.block_on(pia.login(login("pia"))).unwrap();
    let key = format!("dominion:presence:{}", ok.player_id);
    let instance = redis.get(&key);
    assert!(!instance.is_empty(), "presence recorded at login");

    // Redis dies and comes back empty (no persistence), as a cache restart does.
    redis.stop();
    std::thread::sleep(Duration::from_millis(500));
    redis.resume();
    assert_eq!(redis.get(&key), "", "the restarted Redis knows nothing");
    assert!(
        eventually(Duration::from_secs(20), || redis.get(&key) == instance),
        "presence of an online player came back"
    );

    rt.block_on(async {
        // Logins work again (the first request after the restart may meet the dropped
        // connection; the client retries as a player would).
        let (quin, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        let mut tries = 0;
        loop {
            match quin.login(login("quin")).await {
                Ok(_) => break,
                Err(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("login after the restart: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("logins do not work after the restart: {e}"),
            }
        }
        // Nobody online twice: pia logging in again elsewhere kicks her first session, and her
        // presence still names this one instance.
        let (again, _) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        again.login(login("pia")).await.unwrap();
        let kicked = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match pia_pushes.recv().await {
                    Some(ServerMessage::Kick(k)) => break k,
                    Some(_) => continue,
                    None => panic!("push channel closed without a Kick"),
                }
            }
        })
        .await
        .expect("the first session is kicked");
        assert!(kicked.reason.contains("another session"), "{kicked:?}");
        assert_eq!(redis.get(&key), instance);
        again.ping().await.expect("the new session is served");
    });
    drop(server);
}

#[test]
fn a_final_save_the_store_cannot_take_gives_up_in_time_and_says_what_was_not_saved() {
    use crate::support::{fetch_metrics, metric_value};
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _, _) = start_game_server(
        dir.path(),
        &[
            "--final-save-timeout-secs",
            "3",
            "--save-interval-ms",
            "200",
        ],
    );
    let metrics = server.metrics_addr();
    assert!(
        eventually(Duration::from_secs(60), || {
            metric_value(&fetch_metrics(&metrics), "dominion_save_batches_written")
                .is_some_and(|n| n >= 1.0)
        }),
        "the first save lands"
    );
    // Another process holds the database's write lock: every save attempt now waits and fails.
    let db = rusqlite::Connection::open(dir.path().join("data").join("dominion.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    let (status, lines) = server.terminate();
    let took = asked.elapsed();
    let all = lines.join("\n");
    assert!(
        took < Duration::from_secs(30),
        "shutdown took {took:?}:\n{all}"
    );
    assert!(status.success(), "{all}");
    let said = lines
        .iter()
        .find(|l| l.starts_with("dominion: final save gave up"))
        .unwrap_or_else(|| panic!("no word on the unsaved changes:\n{all}"));
    assert!(
        said.contains("were not saved") && said.contains("the journal keeps their inputs"),
        "{said}"
    );
    eprintln!("{said} (shutdown took {took:?})");
    db.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn a_store_that_is_down_at_start_stops_the_start_with_a_clear_error() {
    use crate::support::{ServerProcess, small_asset_files, write_assets};
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    write_assets(&assets, &small_asset_files(200));
    // Nothing listens on this port: the database is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("mongodb://127.0.0.1:{port}/dominion?serverSelectionTimeoutMS=1500");
    let started = Instant::now();
    let (status, lines) = ServerProcess::start(&[
        "--assets",
        assets.to_str().unwrap(),
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--store",
        &url,
    ])
    .wait();
    let all = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{all}");
    assert!(started.elapsed() < Duration::from_secs(30), "{all}");
    let line = lines
        .iter()
        .find(|l| l.starts_with("dominion: the store"))
        .unwrap_or_else(|| panic!("no clear error:\n{all}"));
    assert!(
        line.contains(&format!("127.0.0.1:{port}")) && line.contains("not starting"),
        "{line}"
    );
    eprintln!("{line}");
    assert!(!all.contains("QUIC on"), "{all}");
}

#[test]
fn a_mongodb_without_transactions_stops_the_start_saying_what_to_do() {
    use crate::private_secantus::PrivateSecantus;
    use crate::support::{ServerProcess, small_asset_files, write_assets};
    const TEST: &str = "a_mongodb_without_transactions_stops_the_start_saying_what_to_do";
    // A MongoDB-wire server that presents itself as a standalone mongod: no transactions.
    let Some(db) = PrivateSecantus::start_with(TEST, &["--standalone"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    write_assets(&assets, &small_asset_files(200));
    let (status, lines) = ServerProcess::start(&[
        "--assets",
        assets.to_str().unwrap(),
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--store",
        &db.store_url("dominion"),
    ])
    .wait_within(Duration::from_secs(60));
    let all = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{all}");
    let line = lines
        .iter()
        .find(|l| l.starts_with("dominion: checking the store at start"))
        .unwrap_or_else(|| panic!("no clear error:\n{all}"));
    assert!(line.contains("cannot hold a kingdom"), "{line}");
    assert!(
        line.contains("--replSet rs0") && line.contains("rs.initiate()"),
        "{line}"
    );
    eprintln!("{line}");
    // Refused before it took the epoch or served anyone.
    assert!(!all.contains("owner epoch taken"), "{all}");
    assert!(!all.contains("QUIC on"), "{all}");
}

/// Makes files immutable (`chattr +i`: even root cannot write them) until dropped.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(paths: Vec<std::path::PathBuf>) -> Option<Immutable> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .args(&paths)
            .status()
            .is_ok_and(|s| s.success());
        let guard = Immutable(paths);
        ok.then_some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .args(&self.0)
            .status();
    }
}

#[test]
fn a_read_only_sqlite_database_fails_saves_loudly_and_recovers_uncorrupted() {
    use crate::support::{fetch_metrics, metric_value};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, addr, fp) = start_game_server(dir.path(), &["--save-interval-ms", "200"]);
    let metrics = server.metrics_addr();
    let metric = |name: &str| metric_value(&fetch_metrics(&metrics), name).unwrap_or(-1.0);
    assert!(eventually(Duration::from_secs(60), || metric(
        "dominion_save_batches_written"
    ) >= 1.0));
    // A player keeps the world changing, so every save has something to write.
    let rt = runtime();
    let (c, _) = rt
        .block_on(Client::connect(addr, ClientOptions::new(fp)))
        .unwrap();
    rt.block_on(c.login(login("ros"))).unwrap();
    let files: Vec<_> = ["dominion.db", "dominion.db-wal"]
        .iter()
        .map(|f| data.join(f))
        .filter(|p| p.exists())
        .collect();
    let Some(guard) = Immutable::set(files) else {
        skip_unless_required(
            "failing_deps::a_read_only_sqlite_database_fails_saves_loudly_and_recovers_uncorrupted",
            "chattr +i is not available here; a read-only store was NOT tested",
        );
        return;
    };
    assert!(
        eventually(Duration::from_secs(30), || metric("dominion_save_failing")
            == 1.0),
        "saves fail while the database is read-only"
    );
    let ticks = metric("dominion_ticks_total");
    std::thread::sleep(Duration::from_millis(500));
    assert!(metric("dominion_ticks_total") > ticks, "ticks go on");
    // An open database whose file the OS stops writing (EPERM) is SQLite's I/O error: the
    // message names what to check, not SQLite's bare "disk I/O error".
    const SAID: &str = "the database file cannot be written (read-only file or file system";
    server.wait_for(SAID, Duration::from_secs(10));
    let loud = server
        .seen
        .iter()
        .find(|l| {
            l.contains("ERROR") && l.contains(SAID) && l.contains("saves resume by themselves")
        })
        .cloned();
    let written = metric("dominion_save_batches_written");
    drop(guard);
    assert!(
        eventually(Duration::from_secs(30), || metric("dominion_save_failing")
            == 0.0
            && metric("dominion_save_batches_written") > written),
        "saves catch up once the database is writable again"
    );
    let (status, lines) = server.terminate();
    assert!(status.success(), "{}", lines.join("\n"));
    let loud = loud.or_else(|| {
        lines
            .iter()
            .find(|l| l.contains("ERROR") && l.contains(SAID))
            .cloned()
    });
    assert!(
        loud.is_some(),
        "no specific error naming the read-only database:\n{}",
        lines.join("\n")
    );
    eprintln!("{}", loud.unwrap());
    // Nothing corrupted: the file checks out and the world loads from it.
    let db = rusqlite::Connection::open(data.join("dominion.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(db);
    let (again, _, _) = start_game_server(dir.path(), &[]);
    drop(again);
}

/// Skips a test that cannot run on this machine, loudly — or fails it when
/// `DOMINION_TEST_REQUIRE_SERVICES=1` (as `.ci/run` sets) says everything must run.
fn skip_unless_required(test: &str, why: &str) {
    assert!(
        std::env::var("DOMINION_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{test}: {why}, but DOMINION_TEST_REQUIRE_SERVICES=1"
    );
    eprintln!("\n!!!!! SKIPPED {test}: {why} !!!!!\n");
}

/// A small real file system (a size-limited tmpfs) mounted on a folder until dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> Result<SmallDisk, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(SmallDisk(dir.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let done = std::process::Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !done {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
}

/// Appends to `path` until the file system says it is full; returns the bytes written. Called
/// again, it takes back whatever was freed meanwhile (the server deleting a journal segment).
fn fill_disk(path: &std::path::Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the filler");
    let chunk = vec![0xa5u8; 1 << 20];
    let mut total = 0u64;
    for size in [1 << 20, 64 << 10, 4 << 10, 256, 1] {
        loop {
            match f.write(&chunk[..size]) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
        }
    }
    total
}

#[test]
fn a_full_disk_refuses_commands_holds_their_results_and_loses_nothing_when_space_returns() {
    use crate::support::{fetch_metrics, metric_value};
    use dominion_net::proto::{CommandBody, CommandOutcome};
    use std::sync::{Arc, Mutex};
    const TEST: &str = "failing_deps::a_full_disk_refuses_commands_holds_their_results_and_loses_nothing_when_space_returns";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let disk = match SmallDisk::mount(&data, "48m") {
        Ok(d) => d,
        Err(why) => {
            skip_unless_required(
                TEST,
                &format!("cannot mount a small tmpfs here ({why}); a full disk was NOT tested"),
            );
            return;
        }
    };
    free_moving_assets(dir.path());
    // No hash-only records: every journal record holds this test's commands.
    let (mut server, addr, fp) = start_game_server(
        dir.path(),
        &["--save-interval-ms", "200", "--journal-hash-every", "0"],
    );
    let metrics = server.metrics_addr();
    let metric = |name: &str| metric_value(&fetch_metrics(&metrics), name).unwrap_or(-1.0);
    assert!(eventually(Duration::from_secs(60), || metric(
        "dominion_save_batches_written"
    ) >= 1.0));
    let rt = runtime();
    let (c, mut pushes) = rt
        .block_on(Client::connect(addr, ClientOptions::new(fp)))
        .unwrap();
    rt.block_on(c.login(login("dana"))).unwrap();
    let home = rt.block_on(whole_city(&mut pushes));
    // Pushes are read (and dropped) so they never hold the connection up.
    rt.spawn(async move { while pushes.recv().await.is_some() {} });
    let c = Arc::new(c);
    let relocate = |(x, y): (u16, u16)| {
        let c = c.clone();
        async move { c.command(CommandBody::RelocateCity { x, y }).await }
    };
    // Two tiles the city moves between.
    let spots = rt.block_on(async {
        let a = move_near(&c, home, &[]).await;
        [a, move_near(&c, home, &[a]).await]
    });

    // Saves must grow the WAL from here on (a checkpoint empties it), so they need new space.
    let db = rusqlite::Connection::open(data.join("dominion.db")).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || db
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r
                .get::<_, i64>(0))
            .is_ok_and(|busy| busy == 0)),
        "the WAL is checkpointed"
    );
    drop(db);
    let filler = data.join("filler");
    let filled = fill_disk(&filler);
    eprintln!("filled the disk with {filled} bytes");

    // Moves go on, one every 100 ms (each waits for its own answer), until one is refused
    // because the journal cannot take it.
    type Answer = (usize, Instant, Result<CommandOutcome, String>);
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let sent = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut n = 0;
        loop {
            fill_disk(&filler);
            let (mine, moved) = (answers.clone(), relocate(spots[n % 2]));
            tokio::spawn(async move {
                let r = moved.await.map_err(|e| e.to_string());
                mine.lock().unwrap().push((n, Instant::now(), r));
            });
            n += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let refused = answers
                .lock()
                .unwrap()
                .iter()
                .any(|a| matches!(&a.2, Ok(CommandOutcome::Refused { reason_code: 4, .. })));
            if refused {
                break n;
            }
            assert!(
                Instant::now() < deadline,
                "no command was refused on a full disk: {:?}",
                answers.lock().unwrap()
            );
        }
    });
    let refusal = answers
        .lock()
        .unwrap()
        .iter()
        .find_map(|a| match &a.2 {
            Ok(CommandOutcome::Refused {
                reason_code: 4,
                message,
            }) => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(refusal.contains("disk is full"), "{refusal}");
    assert!(!refusal.contains('/'), "no paths for clients: {refusal}");
    // The command whose tick the journal could not take is not answered: its result waits.
    // (The disk is topped up again: the server may free a little, e.g. compacting the journal
    // behind a save that was in flight when the disk filled.)
    assert!(
        eventually(Duration::from_secs(20), || {
            fill_disk(&filler);
            metric("dominion_journal_failing") == 1.0
                && metric("dominion_journal_held_results") >= 1.0
        }),
        "the journal fails and holds the results of the tick it could not take"
    );
    assert!(metric("dominion_journal_write_failures_total") >= 1.0);
    let journal_line = server.wait_for(
        "the tick journal cannot be written",
        Duration::from_secs(10),
    );
    assert!(
        journal_line.contains("ERROR") && journal_line.contains("the disk is full"),
        "{journal_line}"
    );
    assert!(
        eventually(Duration::from_secs(30), || {
            fill_disk(&filler);
            metric("dominion_save_failing") == 1.0
        }),
        "saves fail while the disk is full"
    );
    let save_line = server.wait_for("saving failed", Duration::from_secs(10));
    assert!(
        save_line.contains("ERROR") && save_line.contains("the disk is full: free space"),
        "{save_line}"
    );
    let ticks = metric("dominion_ticks_total");
    assert!(
        eventually(Duration::from_secs(10), || metric("dominion_ticks_total")
            > ticks + 5.0),
        "ticks go on"
    );
    // A command now is refused at once, changing nothing.
    fill_disk(&filler);
    match rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), relocate(spots[sent % 2])).await
    }) {
        Ok(Ok(CommandOutcome::Refused { reason_code: 4, .. })) => {}
        other => panic!("a command on a full disk: {other:?}"),
    }

    // Space comes back: the journal takes the waiting record, the held results go out, saves
    // catch up and commands are accepted again.
    let written = metric("dominion_save_batches_written");
    fill_disk(&filler);
    assert!(metric("dominion_journal_held_results") >= 1.0);
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    assert!(
        eventually(Duration::from_secs(30), || metric(
            "dominion_journal_failing"
        ) == 0.0
            && metric("dominion_journal_held_results") == 0.0
            && metric("dominion_save_failing") == 0.0
            && metric("dominion_save_batches_written") > written),
        "the journal and saves catch up once space returns"
    );
    assert!(
        eventually(Duration::from_secs(10), || answers.lock().unwrap().len()
            == sent),
        "every command is answered"
    );
    server.wait_for("the tick journal is durable again", Duration::from_secs(10));
    let mut answers = std::mem::take(&mut *answers.lock().unwrap());
    answers.sort_by_key(|a| a.0);
    assert!(
        answers
            .iter()
            .any(|a| a.1 >= freed && matches!(a.2, Ok(CommandOutcome::Relocated { .. }))),
        "the held command was answered, once durable: {answers:?}"
    );
    for a in &answers {
        assert!(a.2.is_ok(), "{a:?}");
    }
    // The city is where the last acknowledged move put it; it moves to the other tile now.
    let at = answers
        .iter()
        .rev()
        .find_map(|a| match a.2 {
            Ok(CommandOutcome::Relocated { x, y, .. }) => Some((x, y)),
            _ => None,
        })
        .unwrap_or(spots[1]);
    let other = if at == spots[0] { spots[1] } else { spots[0] };
    let last = rt.block_on(relocate(other)).unwrap();
    let CommandOutcome::Relocated { x, y, .. } = last else {
        panic!("commands are accepted again: {last:?}")
    };
    eprintln!(
        "{journal_line}\n{save_line}\nrefused: {refusal}; {} answers, the last move to ({x}, {y})",
        answers.len()
    );

    // A crash now loses nothing acknowledged: the file is intact and the city is where the last
    // acknowledged move put it.
    c.close();
    drop(server);
    let db = rusqlite::Connection::open(data.join("dominion.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(db);
    let (again, addr, fp) = start_game_server(dir.path(), &[]);
    rt.block_on(async {
        let (c, mut pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        c.login(login("dana")).await.unwrap();
        assert_eq!(whole_city(&mut pushes).await, (x, y));
    });
    let (status, lines) = again.terminate();
    assert!(status.success(), "{}", lines.join("\n"));
    drop(disk);
}

/// The city tile in the next whole `PlayerDelta` (sent after each login).
async fn whole_city(pushes: &mut tokio::sync::mpsc::Receiver<ServerMessage>) -> (u16, u16) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match pushes.recv().await {
                Some(ServerMessage::PlayerDelta(d)) if d.whole => {
                    let city = d.city.expect("a whole state names the city");
                    break (city.x, city.y);
                }
                Some(_) => continue,
                None => panic!("push channel closed before the own state"),
            }
        }
    })
    .await
    .expect("the own state is pushed after login")
}

/// Assets whose cities move without a cooldown at a trivial cost: every relocation is an
/// acknowledged change of the world.
fn free_moving_assets(dir: &std::path::Path) {
    use crate::support::{small_asset_files, write_assets};
    let mut files = small_asset_files(200);
    let cities = files.get_mut("cities.toml").unwrap();
    *cities = cities
        .replace("cooldown_seconds = 3600", "cooldown_seconds = 0")
        .replace(
            "cost = { gold = 20000, stone = 50000 }",
            "cost = { gold = 1 }",
        );
    write_assets(&dir.join("assets"), &files);
}

/// A free tile near `home` the player's city moves to (it has moved when this returns).
async fn move_near(c: &Client, home: (u16, u16), not: &[(u16, u16)]) -> (u16, u16) {
    use dominion_net::proto::{CommandBody, CommandOutcome};
    for d in 3i32..40 {
        for (dx, dy) in [(d, 0), (-d, 0), (0, d), (0, -d), (d, d), (-d, -d)] {
            let (x, y) = (i32::from(home.0) + dx, i32::from(home.1) + dy);
            if !(0..200).contains(&x)
                || !(0..200).contains(&y)
                || not.contains(&(x as u16, y as u16))
            {
                continue;
            }
            let (x, y) = (x as u16, y as u16);
            if let CommandOutcome::Relocated { .. } =
                c.command(CommandBody::RelocateCity { x, y }).await.unwrap()
            {
                return (x, y);
            }
        }
    }
    panic!("no free tile near {home:?}")
}

#[test]
fn a_database_down_during_play_keeps_ticking_applies_back_pressure_and_catches_up() {
    use crate::private_secantus::PrivateSecantus;
    use crate::support::{fetch_metrics, metric_value};
    use dominion_net::proto::{CommandBody, CommandOutcome};
    const TEST: &str = "failing_deps::a_database_down_during_play_keeps_ticking_applies_back_pressure_and_catches_up";
    let Some(mut db) = PrivateSecantus::start(TEST) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    free_moving_assets(dir.path());
    let store = db.store_url("downplay");
    // A journal bound of 16 KiB, so a few seconds of commands pass it.
    let args = [
        "--store",
        store.as_str(),
        "--save-interval-ms",
        "200",
        "--journal-max-mib",
        "0.015625",
        "--journal-hash-every",
        "0",
    ];
    let (mut server, addr, fp) = start_game_server(dir.path(), &args);
    let metrics = server.metrics_addr();
    let metric = |name: &str| metric_value(&fetch_metrics(&metrics), name).unwrap_or(-1.0);
    assert!(eventually(Duration::from_secs(60), || metric(
        "dominion_save_batches_written"
    ) >= 1.0));
    let rt = runtime();
    let (players, home) = rt.block_on(async {
        let mut players = Vec::new();
        let mut home = None;
        for i in 0..5 {
            let (c, mut pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
            c.login(login(&format!("down{i}"))).await.unwrap();
            if i == 0 {
                home = Some(whole_city(&mut pushes).await);
            }
            tokio::spawn(async move { while pushes.recv().await.is_some() {} });
            players.push(c);
        }
        (players, home.unwrap())
    });

    // The database dies.
    db.stop();
    assert!(
        eventually(Duration::from_secs(30), || metric("dominion_save_failing")
            == 1.0),
        "saves fail while the database is down"
    );
    let down = Instant::now();
    let ticks = metric("dominion_ticks_total");
    // A move while it is down is acknowledged: the journal holds it.
    let moved_to = rt.block_on(move_near(&players[0], home, &[]));
    // Everyone keeps commanding; the journal grows behind the missing saves until commands are
    // refused with code 3 instead of acknowledged.
    let refusal = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answers = futures_util::future::join_all(
                players
                    .iter()
                    .map(|c| c.command(CommandBody::Recall { march_id: 1 })),
            )
            .await;
            if let Some(message) = answers.into_iter().find_map(|a| match a {
                Ok(CommandOutcome::Refused {
                    reason_code: 3,
                    message,
                }) => Some(message),
                _ => None,
            }) {
                break message;
            }
            assert!(
                Instant::now() < deadline,
                "no back-pressure after 30 s of commands with the database down"
            );
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    });
    assert!(refusal.contains("catching up on saving"), "{refusal}");
    assert_eq!(metric("dominion_save_failing"), 1.0);
    assert_eq!(
        metric("dominion_journal_failing"),
        0.0,
        "the journal itself is fine"
    );
    // Ticks went on all along, at the tick rate.
    let ran = metric("dominion_ticks_total") - ticks;
    let secs = down.elapsed().as_secs_f64();
    assert!(
        ran >= secs * 5.0,
        "{ran} ticks in {secs:.1} s with the database down"
    );
    eprintln!("back-pressure after {secs:.1} s down ({ran} ticks): {refusal}");

    // The database comes back on the same storage: the backlog is written, the journal is
    // compacted and commands are acknowledged again.
    let written = metric("dominion_save_batches_written");
    db.resume();
    assert!(
        eventually(Duration::from_secs(40), || metric("dominion_save_failing")
            == 0.0
            && metric("dominion_save_batches_written") > written),
        "saves catch up once the database is back"
    );
    server.wait_for("saving recovered", Duration::from_secs(10));
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match players[1]
                .command(CommandBody::Recall { march_id: 1 })
                .await
            {
                Ok(CommandOutcome::Refused { reason_code: 3, .. }) => {
                    assert!(Instant::now() < deadline, "commands still refused");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(CommandOutcome::Refused {
                    reason_code: 11, ..
                }) => break,
                other => panic!("a command once saves caught up: {other:?}"),
            }
        }
    });

    // A restarted server loads the world from the database, with the move made while it was
    // down.
    for c in &players {
        c.close();
    }
    let (status, lines) = server.terminate();
    assert!(status.success(), "{}", lines.join("\n"));
    let (again, addr, fp) = start_game_server(dir.path(), &args);
    assert!(
        again
            .seen
            .iter()
            .any(|l| l.contains("kingdom loaded from the store")),
        "the world is loaded, not generated:\n{}",
        again.seen.join("\n")
    );
    rt.block_on(async {
        let (c, mut pushes) = Client::connect(addr, ClientOptions::new(fp)).await.unwrap();
        c.login(login("down0")).await.unwrap();
        assert_eq!(whole_city(&mut pushes).await, moved_to);
    });
    drop(again);
}

#[test]
fn mail_requests_against_a_dead_mail_store_get_a_code_and_a_generic_message() {
    use crate::private_secantus::PrivateSecantus;
    use dominion::mail::codes;
    use dominion_net::proto::MailList;
    const TEST: &str =
        "failing_deps::mail_requests_against_a_dead_mail_store_get_a_code_and_a_generic_message";
    let Some(mut db) = PrivateSecantus::start(TEST) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = db.store_url("deadmail");
    let (mut server, addr, fp) = start_game_server(dir.path(), &["--store", &store]);
    let rt = runtime();
    let (c, _pushes) = rt
        .block_on(Client::connect(addr, ClientOptions::new(fp)))
        .unwrap();
    rt.block_on(c.login(login("mia"))).unwrap();
    // The mail service is up (a listing works), then its store dies.
    rt.block_on(c.request(MailList {
        before: 0,
        limit: 10,
    }))
    .expect("mail works while the store is up");
    // Claims are served once the mail service has reconciled mailboxes with the world: a claim
    // of a mail that does not exist is answered "no such mail" from then on.
    let no_mail = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match c.claim_mail(424_242).await {
                Err(e) if e.server_code() == Some(codes::MAIL_NOT_FOUND) => break e,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "claims are never served: {other:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    eprintln!("before the store dies: {no_mail}");
    db.stop();
    let leaks = |message: &str| {
        [
            "mongodb",
            "127.0.0.1",
            "sqlite",
            "/",
            "store failed",
            "Kind:",
            "deadmail",
        ]
        .into_iter()
        .find(|s| message.to_lowercase().contains(&s.to_lowercase()))
    };
    rt.block_on(async {
        let claim = c.claim_mail(1).await.expect_err("no claim without a store");
        let (code, message) = match &claim {
            dominion_net::client::ClientError::Server { code, message } => (*code, message.clone()),
            other => panic!("a claim against a dead store: {other}"),
        };
        assert_eq!(code, codes::MAIL_UNAVAILABLE.0, "{message}");
        assert_eq!(
            leaks(&message),
            None,
            "the claim's reply leaks detail: {message}"
        );
        assert!(message.contains("try again"), "{message}");
        let list = c
            .request(MailList {
                before: 0,
                limit: 10,
            })
            .await
            .expect_err("no listing without a store");
        assert_eq!(list.server_code(), Some(codes::MAIL_UNAVAILABLE), "{list}");
        assert_eq!(leaks(&list.to_string()), None, "{list}");
        eprintln!("claim: {message}; list: {list}");
    });
    // The detail is in the server's log.
    let logged = server.wait_for("claim failed", Duration::from_secs(10));
    assert!(logged.contains("the mail store failed"), "{logged}");
    drop(server);
}
