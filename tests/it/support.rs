//! Shared helpers: the repository's assets with overrides, temp asset folders, small worlds.

use std::path::{Path, PathBuf};

use dominion::assets::read_dir;
use dominion_sim::config::{AssetFiles, Assets};

/// The repository's `assets/` folder.
pub fn repo_assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

/// The repository's asset files as text.
pub fn repo_asset_files() -> AssetFiles {
    read_dir(&repo_assets()).expect("repository assets are readable")
}

/// The repository's assets with a smaller map, so debug-build tests stay fast.
pub fn small_asset_files(size: u16) -> AssetFiles {
    let mut files = repo_asset_files();
    let map = files.get_mut("map.toml").expect("map.toml exists");
    *map = map
        .replace("width = 1200", &format!("width = {size}"))
        .replace("height = 1200", &format!("height = {size}"));
    files
}

/// Parses files that must be valid.
pub fn parse_ok(files: &AssetFiles) -> Assets {
    Assets::parse(files).unwrap_or_else(|e| panic!("assets should be valid:\n{e}"))
}

/// Writes `files` into `dir` (created if needed).
pub fn write_assets(dir: &Path, files: &AssetFiles) {
    std::fs::create_dir_all(dir).expect("create assets dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write asset file");
    }
}

/// The built `dominion` binary.
pub fn dominion_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dominion"))
}

/// A `dominion serve` child process whose output lines are collected as they arrive.
pub struct ServerProcess {
    /// The child.
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every line seen so far (stdout and stderr interleaved).
    pub seen: Vec<String>,
}

impl ServerProcess {
    /// Starts `dominion serve` with `args` (plus free metrics and QUIC ports).
    pub fn start(args: &[&str]) -> ServerProcess {
        ServerProcess::start_listening("127.0.0.1:0", args)
    }

    /// Starts `dominion serve` with `args`, a free metrics port and QUIC on `listen`.
    pub fn start_listening(listen: &str, args: &[&str]) -> ServerProcess {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(dominion_bin())
            .arg("serve")
            .args(args)
            .args(["--metrics-addr", "127.0.0.1:0", "--listen", listen])
            .args(["--admin-addr", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dominion serve");
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(line);
            }
        });
        ServerProcess {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits until a line containing `needle` arrives; panics with everything seen on timeout.
    pub fn wait_for(&mut self, needle: &str, timeout: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "timed out waiting for {needle:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The metrics address printed at start-up.
    pub fn metrics_addr(&mut self) -> String {
        let line = self.wait_for("metrics on http://", std::time::Duration::from_secs(60));
        let start = line.find("http://").unwrap() + "http://".len();
        let rest = &line[start..];
        rest[..rest.find('/').unwrap()].to_owned()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let status = self.child.wait().expect("wait for dominion");
        while let Ok(l) = self
            .lines
            .recv_timeout(std::time::Duration::from_millis(200))
        {
            self.seen.push(l);
        }
        (status, std::mem::take(&mut self.seen))
    }

    /// Waits up to `timeout` for the process to exit on its own; kills it and panics with its
    /// output if it does not.
    pub fn wait_within(
        mut self,
        timeout: std::time::Duration,
    ) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = std::time::Instant::now() + timeout;
        while self.child.try_wait().expect("poll dominion").is_none() {
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                while let Ok(l) = self.lines.try_recv() {
                    self.seen.push(l);
                }
                panic!(
                    "dominion did not exit within {timeout:?}; output:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.wait()
    }

    /// Waits for the process to exit on its own.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().expect("wait for dominion");
        while let Ok(l) = self
            .lines
            .recv_timeout(std::time::Duration::from_millis(200))
        {
            self.seen.push(l);
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for ServerProcess {
    /// Kills the child and reaps it, so that what it held (its data folder's lock, its ports)
    /// is free when the drop returns.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /metrics` over a plain TCP socket; returns the body.
pub fn fetch_metrics(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read metrics");
    assert!(buf.starts_with("HTTP/1.1 200"), "metrics answered: {buf}");
    buf.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// The value of an unlabelled metric line `name value`.
pub fn metric_value(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

impl ServerProcess {
    /// The QUIC address and certificate fingerprint printed at start-up.
    pub fn quic_endpoint(
        &mut self,
    ) -> (
        std::net::SocketAddr,
        dominion_net::transport::tls::Fingerprint,
    ) {
        let line = self.wait_for("QUIC on ", std::time::Duration::from_secs(60));
        let rest = &line[line.find("QUIC on ").unwrap() + "QUIC on ".len()..];
        let addr = rest[..rest.find(' ').unwrap()]
            .parse()
            .expect("QUIC address");
        let hex_start = rest.find("sha256 ").unwrap() + "sha256 ".len();
        let hex = &rest[hex_start..hex_start + 64];
        let fp = dominion_net::transport::tls::Fingerprint::from_hex(hex).expect("fingerprint");
        (addr, fp)
    }
}

/// Starts a server on a small map with free ports and its own data folder; returns it with the
/// QUIC endpoint. `extra` adds options (e.g. `--auth-secret-file`).
pub fn start_game_server(
    dir: &Path,
    extra: &[&str],
) -> (
    ServerProcess,
    std::net::SocketAddr,
    dominion_net::transport::tls::Fingerprint,
) {
    start_game_server_within(dir, extra, std::time::Duration::from_secs(60))
}

/// [`start_game_server`], waiting up to `patience` for the endpoint and for the kingdom to run
/// (a restart after a kill -9 against MongoDB may wait for the dead instance's locks).
pub fn start_game_server_within(
    dir: &Path,
    extra: &[&str],
    patience: std::time::Duration,
) -> (
    ServerProcess,
    std::net::SocketAddr,
    dominion_net::transport::tls::Fingerprint,
) {
    let assets = dir.join("assets");
    if !assets.exists() {
        write_assets(&assets, &small_asset_files(200));
    }
    let data = dir.join("data");
    let mut args = vec![
        "--assets",
        assets.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut server = ServerProcess::start(&args);
    server.wait_for("QUIC on ", patience);
    let (addr, fp) = server.quic_endpoint();
    server.wait_for("kingdom running", patience);
    (server, addr, fp)
}

/// Polls `f` until it is true or `within` passes.
pub fn eventually(within: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + within;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    f()
}

/// A tokio runtime for a test's clients (two workers).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The MongoDB-wire server tests use (`DOMINION_TEST_MONGO_URL`); `None` (after a loud message)
/// skips, unless `DOMINION_TEST_REQUIRE_SERVICES=1` makes it a failure.
pub fn mongo_url(test: &str) -> Option<String> {
    match std::env::var("DOMINION_TEST_MONGO_URL") {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("DOMINION_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{test}: DOMINION_TEST_MONGO_URL is not set but DOMINION_TEST_REQUIRE_SERVICES=1"
            );
            eprintln!(
                "\n!!!!! SKIPPED {test}: DOMINION_TEST_MONGO_URL is not set; MongoDB was NOT \
                 tested. `source .ci/services.sh` starts the servers. !!!!!\n"
            );
            None
        }
    }
}

/// `url` with its database path set to `db` (query options kept).
pub fn mongo_store_url(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
