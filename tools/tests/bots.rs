//! The bots against a real `dominion serve` process on a small map: 20 clients for 3 s must all
//! log in, get their commands answered, and see no protocol error.
//!
//! The server binary comes from `DOMINION_BIN`, else `../target/debug/dominion` (build it with
//! `cargo build` at the workspace root first). Without it the test says so on stderr and passes:
//! a binary of another package cannot be built from this one's tests.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use dominion_net::transport::tls::Fingerprint;
use dominion_tools::bots::{self, BotsConfig, ErrorKind};

/// Kills the server when the test ends, however it ends.
struct ServerGuard(Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server_binary() -> Option<PathBuf> {
    // `cargo test --workspace` builds the server binary into the (possibly relocated) target dir.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = match std::env::var_os("DOMINION_BIN") {
        Some(p) => PathBuf::from(p),
        None => target.join("debug/dominion"),
    };
    if !path.exists() && std::env::var_os("DOMINION_TEST_REQUIRE_SERVICES").is_some() {
        panic!(
            "server binary {} not found (set DOMINION_BIN)",
            path.display()
        );
    }
    path.exists().then_some(path)
}

/// Copies the repository's assets with the map shrunk to `size`×`size`.
fn small_assets(into: &Path, size: u16) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
    std::fs::create_dir_all(into).unwrap();
    for entry in std::fs::read_dir(&repo).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().and_then(|n| n.to_str()) == Some("map.toml") {
            assert!(text.contains("width = 1200") && text.contains("height = 1200"));
            text = text
                .replace("width = 1200", &format!("width = {size}"))
                .replace("height = 1200", &format!("height = {size}"));
        }
        std::fs::write(into.join(path.file_name().unwrap()), text).unwrap();
    }
}

/// Parses `dominion: QUIC on ADDR (certificate sha256 HEX), …`.
fn parse_quic_line(line: &str) -> Option<(std::net::SocketAddr, Fingerprint)> {
    let rest = &line[line.find("QUIC on ")? + "QUIC on ".len()..];
    let addr = rest[..rest.find(' ')?].parse().ok()?;
    let hex_start = rest.find("sha256 ")? + "sha256 ".len();
    let fp = Fingerprint::from_hex(rest.get(hex_start..hex_start + 64)?).ok()?;
    Some((addr, fp))
}

#[test]
fn twenty_bots_log_in_and_get_answers() {
    let Some(bin) = server_binary() else {
        eprintln!(
            "SKIPPED: no server binary (set DOMINION_BIN or run `cargo build` at the workspace \
             root to get target/debug/dominion)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    small_assets(&assets, 200);
    let mut child = Command::new(&bin)
        .arg("serve")
        .arg("--assets")
        .arg(&assets)
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
        .args(["--admin-addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dominion serve");
    let stdout = child.stdout.take().unwrap();
    let server = ServerGuard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut endpoint = None;
    // The tick loop starts after the QUIC line; wait for both.
    while endpoint.is_none() || !seen.iter().any(|l: &String| l.contains("kingdom running")) {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("server did not start; output:\n{}", seen.join("\n")));
        if let Some(e) = parse_quic_line(&line) {
            endpoint = Some(e);
        }
        seen.push(line);
    }
    let (addr, fingerprint) = endpoint.unwrap();

    let mut config = BotsConfig::new(addr, fingerprint, 20);
    config.duration = Duration::from_secs(3);
    config.ramp_per_sec = 200.0;
    config.clients_per_endpoint = 8;
    config.scenario.seed = 7;
    config.scenario.map_width = 200;
    config.scenario.map_height = 200;
    config.scenario.max_object_id = 500;
    config.scenario.command_interval = Duration::from_millis(300);
    config.scenario.pan_interval = Duration::from_millis(300);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(bots::run(config)).expect("run the bots");
    eprintln!("{report}");
    drop(server);

    let s = &report.stats;
    assert_eq!(s.sessions_ok, 20, "every client logged in:\n{report}");
    assert_eq!(s.sessions_failed, 0, "{report}");
    assert_eq!(s.login.count(), 20);
    assert_eq!(
        s.sessions_answered, 20,
        "every client got commands answered:\n{report}"
    );
    // ~10 commands per bot in 3 s at a 300 ms mean interval.
    assert!(s.commands_answered >= 100, "{report}");
    assert_eq!(s.commands_answered, s.commands_sent, "{report}");
    assert!(s.viewports >= 100, "{report}");
    assert_eq!(report.protocol_errors(), 0, "{report}");
    assert_eq!(s.errors_of(ErrorKind::Timeout), 0, "{report}");
    // Commands are applied at the next 10 Hz tick: answers come within a few ticks.
    assert!(s.command_rtt.quantile_ms(0.5) < 1000.0, "{report}");
    assert!(report.rx_bytes_per_client_sec() > 0.0, "{report}");
    let accepted: u64 = s.accepted.values().sum();
    assert!(
        accepted > 0,
        "some commands pass the rules (marches, relocations):\n{report}"
    );
}
