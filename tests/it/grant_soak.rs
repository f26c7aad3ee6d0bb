//! The fault test of claims and tickets with real processes: round after round, a real
//! `dominion serve` (SQLite) serves players who claim every attachment they see — often twice
//! at once, as two devices would — while `dominion ticket` processes deliver compensation
//! tickets to them, and both are killed with `kill -9` at random moments (a killed ticket is
//! issued again while the server is down, as an operator would). At the end one clean run
//! claims what is left, and the store is checked:
//! - every ticket is delivered, and each recipient holds exactly one mail of it;
//! - per player, the resources granted equal the attachments claimed: the storehouse is the
//!   starting resources plus every ticket's attachments, once (0 duplicate, 0 lost grants);
//! - no mail was answered "granted" twice.
//!
//! Rounds: `DOMINION_GRANT_ROUNDS` (default 2 to keep the suite fast; `tools/grant_soak.sh`
//! runs 20 or more).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dominion_net::client::{Claim, Client, ClientOptions};
use dominion_net::proto::{Login, MailList, ServerMessage};
use dominion_persistence::store::now_unix_ms;
use dominion_persistence::{
    KingdomId, Migrations, PlayerRecord, StoreConfig, TicketStatus, load_records, open_mail_store,
};
use dominion_sim::types::{PlayerId, Resources};

use crate::support::{dominion_bin, parse_ok, runtime, small_asset_files, start_game_server};

const PLAYERS: usize = 12;
const TICKETS_PER_ROUND: usize = 8;

/// A small deterministic generator for kill moments and amounts.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// One ticket as issued by `dominion ticket`.
#[derive(Clone)]
struct SoakTicket {
    id: String,
    to: Vec<PlayerId>,
    attachments: Vec<(u8, u64)>,
}

fn ticket_command(data: &Path, t: &SoakTicket) -> Command {
    let to: Vec<String> = t.to.iter().map(|p| p.0.to_string()).collect();
    let attach: Vec<String> = t
        .attachments
        .iter()
        .map(|(c, a)| format!("{c}:{a}"))
        .collect();
    let mut c = Command::new(dominion_bin());
    c.args(["ticket", "--data"])
        .arg(data)
        .args(["--id", &t.id, "--operator", "soak", "--title", &t.id])
        .args(["--to", &to.join(","), "--attach", &attach.join(",")])
        .args(["--reason", "grant soak", "--expires-in-secs", "86400"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn issue_to_completion(data: &Path, t: &SoakTicket) {
    for _ in 0..20 {
        if ticket_command(data, t)
            .status()
            .expect("run dominion ticket")
            .success()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("ticket {} could not be issued", t.id);
}

/// Claim figures of the whole run.
#[derive(Default)]
struct Figures {
    claims: u64,
    granted: u64,
    already: u64,
    failed: u64,
    /// (player, mail) answered "granted".
    granted_mails: BTreeMap<(u64, u64), u32>,
}

/// Lists the player's mailbox and claims every unclaimed attachment (twice at once every other
/// time), until `stop`.
async fn claim_loop(
    c: Arc<Client>,
    player: u64,
    figures: Arc<Mutex<Figures>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut twice = false;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok(ServerMessage::MailPage(page)) = c
            .request(MailList {
                before: 0,
                limit: 100,
            })
            .await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let open: Vec<u64> = page
            .mails
            .iter()
            .filter(|m| !m.attachments.is_empty() && !m.claimed)
            .map(|m| m.id)
            .collect();
        if open.is_empty() {
            tokio::time::sleep(Duration::from_millis(30)).await;
            continue;
        }
        for id in open {
            twice = !twice;
            let answers = if twice {
                let (a, b) = tokio::join!(c.claim_mail(id), c.claim_mail(id));
                vec![a, b]
            } else {
                vec![c.claim_mail(id).await]
            };
            let mut f = figures.lock().unwrap();
            for a in answers {
                f.claims += 1;
                match a {
                    Ok(Claim::Granted(_)) => {
                        f.granted += 1;
                        *f.granted_mails.entry((player, id)).or_default() += 1;
                    }
                    Ok(Claim::AlreadyClaimed(_)) => f.already += 1,
                    Err(_) => f.failed += 1,
                }
            }
        }
    }
}

/// The mails the server's start-up reconciliation marked claimed (its log line).
fn reconciled_marks(server: &mut crate::support::ServerProcess) -> u64 {
    let line = server.wait_for("mailboxes reconciled", Duration::from_secs(60));
    line.split("marked=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}"))
}

fn login(name: &str) -> Login {
    Login {
        openid: name.into(),
        platform_token: "dev".into(),
        client_version: "soak".into(),
    }
}

async fn connect_all(
    addr: std::net::SocketAddr,
    fp: dominion_net::transport::tls::Fingerprint,
) -> Vec<(Arc<Client>, u64)> {
    let mut out = Vec::new();
    for i in 0..PLAYERS {
        let mut opts = ClientOptions::new(fp);
        opts.request_timeout = Duration::from_secs(2);
        let (c, _pushes) = Client::connect(addr, opts).await.expect("connect");
        let ok = c.login(login(&format!("soak{i}"))).await.expect("login");
        out.push((Arc::new(c), ok.player_id));
    }
    out
}

/// The run; returns a summary line.
pub fn grant_soak(rounds: usize) -> String {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--seed", "5", "--save-interval-ms", "200"];
    let rt = runtime();
    let mut rng = Lcg(u64::from(std::process::id()) ^ 0x5eed);
    let figures = Arc::new(Mutex::new(Figures::default()));
    let mut tickets: Vec<SoakTicket> = Vec::new();
    let mut killed_tickets = 0u64;
    let mut players: Vec<u64> = Vec::new();
    let mut reconciled = 0u64;
    for round in 0..rounds {
        let (mut server, addr, fp) = start_game_server(dir.path(), &args);
        reconciled += reconciled_marks(&mut server);
        let clients = rt.block_on(connect_all(addr, fp));
        players = clients.iter().map(|(_, p)| *p).collect();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tasks: Vec<_> = clients
            .iter()
            .map(|(c, p)| rt.spawn(claim_loop(c.clone(), *p, figures.clone(), stop.clone())))
            .collect();
        // The server dies at a random moment of the round: during the ticket deliveries or
        // the claims that follow them.
        let pid = server.child.id().to_string();
        let kill_after = Duration::from_millis(400 + rng.below(3_000));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(kill_after);
            let _ = Command::new("kill").args(["-9", &pid]).status();
        });
        // Tickets, some of them killed part way.
        let mut cut: Vec<SoakTicket> = Vec::new();
        let mut running: Vec<(Child, SoakTicket)> = Vec::new();
        for n in 0..TICKETS_PER_ROUND {
            let to: Vec<PlayerId> = players
                .iter()
                .filter(|_| rng.below(3) > 0)
                .map(|&p| PlayerId(p))
                .collect();
            let to = if to.is_empty() {
                vec![PlayerId(players[0])]
            } else {
                to
            };
            let t = SoakTicket {
                id: format!("R{round}-T{n}"),
                to,
                attachments: vec![
                    (rng.below(4) as u8, 1 + rng.below(1000)),
                    (3, 1 + rng.below(9)),
                ],
            };
            let child = ticket_command(&data, &t)
                .spawn()
                .expect("spawn dominion ticket");
            running.push((child, t.clone()));
            tickets.push(t);
            std::thread::sleep(Duration::from_millis(rng.below(150)));
        }
        for (mut child, t) in running {
            if rng.below(3) == 0 {
                let _ = child.kill();
                killed_tickets += 1;
                cut.push(t);
            }
            let _ = child.wait();
        }
        killer.join().expect("killer thread");
        let _ = server.child.wait();
        // Claims in flight when it died time out; the next round's start reconciles them.
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in tasks {
            let _ = rt.block_on(t);
        }
        for (c, _) in &clients {
            c.close();
        }
        drop(server);
        // The operator issues the cut-off tickets again while the server is down.
        for t in &cut {
            issue_to_completion(&data, t);
        }
    }
    // Every killed ticket is complete; issue every ticket once more: nothing new is sent.
    for t in &tickets {
        issue_to_completion(&data, t);
    }
    // One clean run claims whatever is left, then stops cleanly (final save).
    let (mut server, addr, fp) = start_game_server(dir.path(), &args);
    reconciled += reconciled_marks(&mut server);
    rt.block_on(async {
        let clients = connect_all(addr, fp).await;
        for (c, p) in &clients {
            let ServerMessage::MailPage(page) = c
                .request(MailList {
                    before: 0,
                    limit: 100,
                })
                .await
                .unwrap()
            else {
                panic!("expected a page")
            };
            for m in page.mails.iter().filter(|m| !m.attachments.is_empty()) {
                // The session's rate limit answers a burst of claims "retry later".
                let mut tries = 0;
                let answer = loop {
                    match c.claim_mail(m.id).await {
                        Ok(a) => break a,
                        Err(e) if tries < 50 => {
                            tries += 1;
                            eprintln!("final claim of {} again after: {e}", m.id);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => panic!("final claim of {}: {e}", m.id),
                    }
                };
                let mut f = figures.lock().unwrap();
                f.claims += 1;
                match answer {
                    Claim::Granted(_) => {
                        f.granted += 1;
                        *f.granted_mails.entry((*p, m.id)).or_default() += 1;
                    }
                    Claim::AlreadyClaimed(_) => f.already += 1,
                }
            }
        }
        for (c, _) in &clients {
            c.close();
        }
    });
    let (status, _) = server.terminate();
    assert!(status.success(), "the clean stop failed: {status}");

    // The checks, on the store.
    let url = format!("sqlite://{}", data.join("dominion.db").display());
    let cfg = StoreConfig::from_url(&url).unwrap();
    let k = KingdomId(1);
    let start = parse_ok(&small_asset_files(200))
        .cities
        .city
        .starting_resources;
    let (lost, dup) = rt.block_on(async {
        let store = cfg.open().await.unwrap();
        let mail = open_mail_store(&cfg).await.unwrap();
        let records = load_records::<PlayerRecord>(store.as_ref(), &Migrations::builtin(), k)
            .await
            .unwrap();
        let mut expected: BTreeMap<u64, Resources> = BTreeMap::new();
        for t in &tickets {
            let stored = mail
                .ticket(k, &t.id)
                .await
                .unwrap()
                .expect("ticket recorded");
            assert_eq!(stored.status, TicketStatus::Delivered, "ticket {}", t.id);
            assert_eq!(stored.delivered, t.to.len() as u64, "ticket {}", t.id);
            for p in &t.to {
                let r = expected.entry(p.0).or_insert(start);
                for &(code, amount) in &t.attachments {
                    r.0[usize::from(code)] += amount;
                }
            }
        }
        let (mut lost, mut dup) = (0u64, 0u64);
        for &p in &players {
            let page = mail
                .list(k, PlayerId(p), None, 1000, now_unix_ms())
                .await
                .unwrap();
            let mut titles: BTreeMap<&str, u32> = BTreeMap::new();
            for m in page.mails.iter().filter(|m| !m.mail.attachments.is_empty()) {
                *titles.entry(m.mail.title.as_str()).or_default() += 1;
                assert!(m.claimed, "{p}: mail {} left unclaimed", m.id);
            }
            for t in tickets.iter().filter(|t| t.to.contains(&PlayerId(p))) {
                assert_eq!(
                    titles.get(t.id.as_str()).copied(),
                    Some(1),
                    "{p} holds ticket {} once",
                    t.id
                );
            }
            let have = records
                .iter()
                .find(|r| r.player.0 == p)
                .map(|r| r.resources)
                .expect("player saved");
            let want = expected.get(&p).copied().unwrap_or(start);
            for i in 0..4 {
                lost += want.0[i].saturating_sub(have.0[i]);
                dup += have.0[i].saturating_sub(want.0[i]);
            }
        }
        (lost, dup)
    });
    let f = figures.lock().unwrap();
    let granted_twice = f.granted_mails.values().filter(|&&n| n > 1).count();
    let mails_granted: BTreeSet<_> = f.granted_mails.keys().collect();
    let summary = format!(
        "grant soak: {rounds} rounds (+1 clean) in {:.0} s; {} players; {} tickets ({} ticket processes killed -9 and issued again); \
         {} claims: {} granted, {} already claimed, {} failed (server killed / timed out); \
         {} mails granted; {reconciled} grants applied but unmarked at a kill, marked by the next start; duplicate grants {dup}, lost grants {lost}, mails answered granted twice {granted_twice}",
        started.elapsed().as_secs_f64(),
        players.len(),
        tickets.len(),
        killed_tickets,
        f.claims,
        f.granted,
        f.already,
        f.failed,
        mails_granted.len(),
    );
    assert_eq!(dup, 0, "{summary}");
    assert_eq!(lost, 0, "{summary}");
    assert_eq!(granted_twice, 0, "{summary}");
    summary
}

#[test]
fn claims_and_tickets_survive_kill_9() {
    let rounds = std::env::var("DOMINION_GRANT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let summary = grant_soak(rounds);
    println!("{summary}");
}
