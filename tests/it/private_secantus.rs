//! A SecantusDB (MongoDB wire protocol) server of a test's own on a free loopback port, started
//! from the binary `.ci/services.sh` exports in `DOMINION_TEST_SECANTUSD`, so a test can kill it
//! and start it again on the same storage without disturbing anything else.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private SecantusDB; killed on drop.
pub struct PrivateSecantus {
    bin: String,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra: Vec<String>,
}

impl PrivateSecantus {
    /// Starts one, or `None` (after a loud message) when `DOMINION_TEST_SECANTUSD` is not set —
    /// a failure instead when `DOMINION_TEST_REQUIRE_SERVICES=1`.
    pub fn start(test: &str) -> Option<PrivateSecantus> {
        PrivateSecantus::start_with(test, &[])
    }

    /// [`PrivateSecantus::start`] with more `secantusd-py` options (e.g. `--standalone`).
    pub fn start_with(test: &str, extra: &[&str]) -> Option<PrivateSecantus> {
        let bin = match std::env::var("DOMINION_TEST_SECANTUSD") {
            Ok(v) if !v.is_empty() => v,
            _ => {
                assert!(
                    std::env::var("DOMINION_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                    "{test}: DOMINION_TEST_SECANTUSD is not set but DOMINION_TEST_REQUIRE_SERVICES=1"
                );
                eprintln!(
                    "\n!!!!! SKIPPED {test}: DOMINION_TEST_SECANTUSD is not set; MongoDB was NOT \
                     tested. `source .ci/services.sh` provides it. !!!!!\n"
                );
                return None;
            }
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut s = PrivateSecantus {
            bin,
            port,
            dir: tempfile::tempdir().expect("secantus dir"),
            child: None,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        s.resume();
        Some(s)
    }

    /// A store URL for database `db` that gives up quickly while the server is down.
    pub fn store_url(&self, db: &str) -> String {
        format!(
            "mongodb://127.0.0.1:{}/{db}?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000",
            self.port
        )
    }

    /// Starts the server (again) on the same port and storage; waits until it listens.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "SecantusDB is already running");
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("secantus data dir");
        let log = std::fs::File::create(self.dir.path().join("secantusd.log")).expect("log");
        let child = Command::new(&self.bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--storage-path")
            .arg(&data)
            .args(["--log-level", "WARNING"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start secantusd-py");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "SecantusDB did not listen on {}; log:\n{}",
            self.port,
            std::fs::read_to_string(self.dir.path().join("secantusd.log")).unwrap_or_default()
        );
    }

    /// Kills the server (SIGKILL: the database is simply gone).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateSecantus {
    fn drop(&mut self) {
        self.stop();
    }
}
