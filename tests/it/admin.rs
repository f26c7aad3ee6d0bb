//! The admin API and the `dominion-admin` command line against a real `dominion serve`: tokens
//! (none or wrong → 401, never logged), status, player lookup and kick over real QUIC, system
//! mail read back by the player's client, asset reload now.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use dominion_net::client::{Client, ClientOptions};
use dominion_net::proto::{Login, MailList, ServerMessage};
use dominion_tools::admin::{AdminClient, Answer};
use serde_json::{Value, json};

use crate::support::{ServerProcess, runtime, start_game_server};

/// A token only these tests know.
pub const TOKEN: &str = "admin-test-token-5f2c9a7e1d";

/// Writes a token file with [`TOKEN`] into `dir`; returns its path.
pub fn token_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("admin-tokens");
    std::fs::write(&path, format!("# test operators\n{TOKEN}\n")).unwrap();
    path
}

/// The admin address printed at start-up.
pub fn admin_addr(server: &mut ServerProcess) -> SocketAddr {
    let line = server.wait_for("admin API on http://", Duration::from_secs(60));
    let start = line.find("http://").unwrap() + "http://".len();
    let rest = &line[start..];
    rest[..rest.find(' ').unwrap()]
        .parse()
        .expect("admin address")
}

pub fn login(openid: &str) -> Login {
    Login {
        openid: openid.into(),
        platform_token: "dev".into(),
        client_version: "test".into(),
    }
}

async fn ok(client: &AdminClient, method: &str, path: &str, body: Option<Value>) -> Value {
    let a = client.send(method, path, body.as_ref()).await.unwrap();
    assert_eq!(a.status, 200, "{method} {path}: {a:?}");
    a.body
}

#[test]
fn requests_without_the_right_token_get_401_and_the_token_is_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let (mut server, _, _) = start_game_server(
        dir.path(),
        &["--admin-token-file", tokens.to_str().unwrap()],
    );
    let addr = admin_addr(&mut server);
    runtime().block_on(async {
        for token in ["", "admin-test-token-5f2c9a7e1e", "wrong"] {
            for (method, path) in [
                ("GET", "/v1/status"),
                ("GET", "/v1/players/1"),
                ("POST", "/v1/assets/reload"),
                ("GET", "/no/such/route"),
            ] {
                let a = AdminClient::new(addr, token)
                    .send(method, path, None)
                    .await
                    .unwrap();
                assert_eq!(
                    a,
                    Answer {
                        status: 401,
                        body: json!({
                            "code": "unauthorized",
                            "message": "a valid bearer token is required (Authorization: Bearer <token>)"
                        })
                    },
                    "{method} {path} with token {token:?}"
                );
            }
        }
        // A token in the query is not accepted outside the map page.
        let a = AdminClient::new(addr, "")
            .get(&format!("/v1/status?token={TOKEN}"))
            .await
            .unwrap();
        assert_eq!(a.status, 401);

        // The first tick may not have run yet when the server says it is running.
        let status = loop {
            let s = ok(&AdminClient::new(addr, TOKEN), "GET", "/v1/status", None).await;
            if s["tick"].as_u64() >= Some(1) {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(status["kingdom"], 1);
        assert_eq!(status["config_version"], 1);
        assert_eq!(status["sessions"], 0);
        assert!(status["owner_epoch"].as_u64().unwrap() >= 1, "{status}");
        assert!(status["tick"].as_u64().unwrap() >= 1, "{status}");
        assert!(status["tick_time_ms"]["samples"].as_u64().unwrap() >= 1);
        assert!(status["tick_time_ms"]["p99"].as_f64().unwrap() > 0.0);
        assert!(
            status["instance_id"]
                .as_str()
                .unwrap()
                .ends_with(&format!("-{}", server.child.id())),
            "{status}"
        );
        assert_eq!(status["save"]["fenced"], false);
        let a = AdminClient::new(addr, TOKEN).get("/no/such/route").await.unwrap();
        assert_eq!(a.status, 404);
        assert_eq!(a.body["code"], "not_found");
    });
    let (_, lines) = server.terminate();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("admin request") && l.contains("status=401")),
        "refused requests are logged (without the token)"
    );
    for l in &lines {
        assert!(!l.contains(TOKEN), "the token leaked into the log: {l}");
        assert!(!l.contains("5f2c9a7e1e"), "a presented token leaked: {l}");
    }
}

#[test]
fn a_public_admin_address_without_a_token_file_is_refused_and_loopback_gets_a_made_token() {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    crate::support::write_assets(&assets, &crate::support::small_asset_files(100));
    let data = dir.path().join("data");
    // `--admin-addr` is given by ServerProcess (loopback, port 0); a second one would clash, so
    // this runs the binary directly.
    let out = std::process::Command::new(crate::support::dominion_bin())
        .args(["serve", "--assets", assets.to_str().unwrap(), "--data"])
        .arg(&data)
        .args(["--metrics-addr", "127.0.0.1:0", "--listen", "127.0.0.1:0"])
        .args(["--admin-addr", "0.0.0.0:0", "--ticks", "5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "refusing to serve the admin API on 0.0.0.0:0 (not a loopback address) without --admin-token-file"
        ),
        "{stderr}"
    );

    let (mut server, _, _) = start_game_server(dir.path(), &[]);
    let addr = admin_addr(&mut server);
    let made = std::fs::read_to_string(dir.path().join("data/admin.token")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data/admin.token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the made token is private to its owner");
    }
    runtime().block_on(async {
        let status = ok(
            &AdminClient::new(addr, made.trim()),
            "GET",
            "/v1/status",
            None,
        )
        .await;
        assert_eq!(status["kingdom"], 1);
    });
}

#[test]
fn players_are_looked_up_kicked_with_a_reason_and_mailed() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let (mut server, quic, fp) = start_game_server(
        dir.path(),
        &["--admin-token-file", tokens.to_str().unwrap()],
    );
    let addr = admin_addr(&mut server);
    runtime().block_on(async {
        let admin = AdminClient::new(addr, TOKEN);
        let (c, mut pushes) = Client::connect(quic, ClientOptions::new(fp)).await.unwrap();
        let me = c.login(login("ops-dana")).await.unwrap().player_id;

        // By openid: the account, then the world's view of the player (a city once online).
        let p = loop {
            let a = admin
                .get("/v1/players?openid=ops-dana")
                .await
                .unwrap();
            if a.status == 200 {
                break a.body;
            }
            assert_eq!(a.body["code"], "player_not_found", "{a:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(p["player"], me);
        assert_eq!(p["openid"], "ops-dana");
        assert_eq!(p["online"], true);
        assert!(p["last_login_unix_ms"].as_i64().unwrap() > 0);
        assert!(p["troops"].as_array().unwrap().iter().any(|n| n.as_u64() > Some(0)));
        assert!(p["resources"]["food"].as_u64().is_some());
        assert_eq!(p["marches"], json!([]));
        let by_id = ok(&admin, "GET", &format!("/v1/players/{me}"), None).await;
        assert_eq!(by_id["city"], p["city"]);
        assert_eq!(by_id["openid"], Value::Null);

        let a = admin.get("/v1/players?openid=nobody").await.unwrap();
        assert_eq!((a.status, a.body["code"].as_str()), (404, Some("player_not_found")));
        let a = admin.get("/v1/players/12345678").await.unwrap();
        assert_eq!((a.status, a.body["code"].as_str()), (404, Some("player_not_found")));
        let a = admin.get("/v1/players/abc").await.unwrap();
        assert_eq!((a.status, a.body["code"].as_str()), (400, Some("bad_request")));

        // System mail to the player; their client reads it.
        let sent = ok(
            &admin,
            "POST",
            "/v1/mail",
            Some(json!({"to": me, "title": "Maintenance at 20:00", "text": "Back in 10 minutes."})),
        )
        .await;
        assert_eq!(sent, json!({"delivered": 1}));
        let page = match c.request(MailList { before: 0, limit: 10 }).await.unwrap() {
            ServerMessage::MailPage(p) => p,
            other => panic!("expected a MailPage, got {other:?}"),
        };
        assert_eq!(page.mails.len(), 1);
        assert_eq!(page.mails[0].title, "Maintenance at 20:00");
        // A list (a player listed twice gets one mail).
        let sent = ok(
            &admin,
            "POST",
            "/v1/mail",
            Some(json!({"to": [me, me], "title": "Listed", "text": "You were on the list."})),
        )
        .await;
        assert_eq!(sent, json!({"delivered": 1}));
        assert_eq!(page.mails[0].kind, 3, "system mail");
        let a = admin
            .post("/v1/mail", &json!({"to": "everyone", "title": "x", "text": "y"}))
            .await
            .unwrap();
        assert_eq!((a.status, a.body["code"].as_str()), (400, Some("bad_request")));
        let a = admin
            .post("/v1/mail", &json!({"to": [me], "title": "x"}))
            .await
            .unwrap();
        assert_eq!((a.status, a.body["code"].as_str()), (400, Some("bad_request")), "{a:?}");
        let all = ok(
            &admin,
            "POST",
            "/v1/mail",
            Some(json!({"to": "all", "title": "Welcome", "text": "", "attachments": [{"resource": "gold", "amount": 50}]})),
        )
        .await;
        assert!(all["delivered"].as_u64().is_some(), "{all}");

        // Kick: the client gets the Kick push with the reason, then the connection closes.
        let kicked = ok(
            &admin,
            "POST",
            &format!("/v1/players/{me}/kick"),
            Some(json!({"reason": "account under review"})),
        )
        .await;
        assert_eq!(kicked["kicked"], true);
        let kick = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match pushes.recv().await {
                    Some(ServerMessage::Kick(k)) => break k,
                    Some(_) => continue,
                    None => panic!("push channel closed without a Kick"),
                }
            }
        })
        .await
        .expect("kick within 10 s");
        assert_eq!(kick.reason, "account under review");
        assert_eq!(kick.code, dominion::admin::players::KICK_BY_OPERATOR);
        tokio::time::timeout(Duration::from_secs(10), c.closed())
            .await
            .expect("closed after the kick");
        // Offline now: a second kick is refused, the lookup says offline.
        let gone = loop {
            let p = ok(&admin, "GET", &format!("/v1/players/{me}"), None).await;
            if p["online"] == false {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(gone["session"], Value::Null);
        let a = admin
            .post(&format!("/v1/players/{me}/kick"), &json!({"reason": "again"}))
            .await
            .unwrap();
        assert_eq!((a.status, a.body["code"].as_str()), (409, Some("player_offline")));
        let a = admin
            .post(&format!("/v1/players/{me}/kick"), &json!({"reason": ""}))
            .await
            .unwrap();
        assert_eq!((a.status, a.body["code"].as_str()), (400, Some("bad_request")));
    });
}

#[test]
fn reload_now_applies_a_changed_asset_and_reports_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let (mut server, _, _) = start_game_server(
        dir.path(),
        &["--admin-token-file", tokens.to_str().unwrap()],
    );
    let addr = admin_addr(&mut server);
    let units = dir.path().join("assets/units.toml");
    let original = std::fs::read_to_string(&units).unwrap();
    runtime().block_on(async {
        let admin = AdminClient::new(addr, TOKEN);
        let a = ok(&admin, "GET", "/v1/assets", None).await;
        assert_eq!(a["config_version"], 1);
        assert_eq!(a["last_reload"], Value::Null);

        // A valid change: applied (by this reload, or the folder watcher's if it came first).
        std::fs::write(&units, original.replacen("attack = 10", "attack = 15", 1)).unwrap();
        let r = ok(&admin, "POST", "/v1/assets/reload", None).await;
        assert_eq!(r["config_version"], 2, "{r}");
        let a = ok(&admin, "GET", "/v1/assets", None).await;
        assert_eq!(a["config_version"], 2);
        let status = ok(&admin, "GET", "/v1/status", None).await;
        assert_eq!(status["config_version"], 2);

        // An invalid change: refused with the file, line and field; version 2 stays.
        std::fs::write(&units, original.replacen("defence = 12", "defence = -1", 1)).unwrap();
        let a = admin.post("/v1/assets/reload", &json!(null)).await.unwrap();
        assert_eq!(a.status, 422, "{a:?}");
        assert_eq!(a.body["code"], "assets_rejected");
        assert_eq!(
            a.body["message"],
            "units.toml:7: unit[0].defence: must be between 0 and 1000000, found -1"
        );
        let a = ok(&admin, "GET", "/v1/assets", None).await;
        assert_eq!(a["config_version"], 2);
        assert_eq!(a["last_reload"]["result"], "invalid");
        assert_eq!(
            a["last_reload"]["errors"],
            json!(["units.toml:7: unit[0].defence: must be between 0 and 1000000, found -1"])
        );
    });
}

/// The `dominion-admin` binary (built by `cargo test --workspace`, or
/// `cargo build -p dominion-tools --bin dominion-admin`).
fn admin_cli() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-… → target/<profile>/dominion-admin
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join(format!("dominion-admin{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build -p dominion-tools --bin dominion-admin` \
         (`cargo test --workspace` builds it)",
        bin.display()
    );
    bin
}

pub fn cli(addr: SocketAddr, args: &[&str], token_env: Option<&str>) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(admin_cli());
    cmd.args(["--addr", &addr.to_string()]).args(args);
    cmd.env_remove("DOMINION_ADMIN_TOKEN");
    if let Some(t) = token_env {
        cmd.env("DOMINION_ADMIN_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_admin_cli_drives_a_real_server_with_tables_json_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let tf = tokens.to_str().unwrap();
    let (mut server, quic, fp) = start_game_server(dir.path(), &["--admin-token-file", tf]);
    let addr = admin_addr(&mut server);

    // Human table.
    let (code, out, err) = cli(addr, &["--token-file", tf, "status"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("config version  1"), "{out}");
    assert!(out.contains("sessions        0"), "{out}");
    // --json, token from the environment.
    let (code, out, err) = cli(addr, &["--json", "status"], Some(TOKEN));
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(out.trim()).expect("--json prints JSON");
    assert_eq!(status["config_version"], 1);
    assert!(status["tick"].as_u64().is_some(), "{status}");

    // A player online, looked up, mailed and kicked through the CLI.
    let rt = runtime();
    let (c, _pushes) = rt.block_on(async {
        let (c, pushes) = Client::connect(quic, ClientOptions::new(fp)).await.unwrap();
        c.login(login("cli-erin")).await.unwrap();
        (c, pushes)
    });
    let player = loop {
        let (code, out, _) = cli(
            addr,
            &[
                "--json",
                "--token-file",
                tf,
                "player",
                "--openid",
                "cli-erin",
            ],
            None,
        );
        if code == 0 {
            break serde_json::from_str::<Value>(out.trim()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let id = player["player"].as_u64().unwrap().to_string();
    let (code, out, _) = cli(addr, &["--token-file", tf, "player", &id], None);
    assert_eq!(code, 0);
    assert!(out.contains("online      true"), "{out}");
    assert!(out.contains("marches     none"), "{out}");
    let (code, out, err) = cli(
        addr,
        &[
            "--json",
            "--token-file",
            tf,
            "mail",
            "--to",
            &id,
            "--title",
            "Hi",
            "--text",
            "From ops",
            "--attach",
            "food=100",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap(),
        json!({"delivered": 1})
    );
    let (code, out, _) = cli(
        addr,
        &["--token-file", tf, "kick", &id, "--reason", "cli test"],
        None,
    );
    assert_eq!(code, 0);
    assert!(out.contains("kicked player"), "{out}");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), c.closed())
            .await
            .expect("closed after the kick");
    });
    let (code, out, _) = cli(addr, &["--json", "--token-file", tf, "assets"], None);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["config_version"],
        1
    );

    // Refused: wrong token (1), unknown player (1) with the server's code on stderr.
    let (code, _, err) = cli(addr, &["status"], Some("not-the-admin-token-at-all"));
    assert_eq!(code, 1);
    assert!(err.contains("401 unauthorized"), "{err}");
    let (code, out, err) = cli(
        addr,
        &["--json", "--token-file", tf, "player", "999999999"],
        None,
    );
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["code"],
        "player_not_found"
    );
    assert!(err.contains("404 player_not_found"), "{err}");
    // Unreachable (2), bad usage (2), no token (2).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, err) = cli(closed, &["status"], Some(TOKEN));
    assert_eq!(code, 2);
    assert!(err.contains("unreachable"), "{err}");
    let (code, _, _) = cli(addr, &["frobnicate"], Some(TOKEN));
    assert_eq!(code, 2);
    let (code, _, err) = cli(addr, &["status"], None);
    assert_eq!(code, 2);
    assert!(err.contains("DOMINION_ADMIN_TOKEN"), "{err}");
}
