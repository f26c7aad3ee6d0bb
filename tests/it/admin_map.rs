//! The live web map in a real headless Chromium (Debian's `chromium`, driven over the DevTools
//! protocol): the page loads with a token, a screenshot shows a wall and a city at known tiles
//! in their colours, a march a test client sends appears on the page within a second, and
//! clicking the city shows the server's values.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dominion_net::client::{Client, ClientOptions};
use dominion_net::proto::{CommandBody, CommandOutcome, Login};
use dominion_tools::admin::AdminClient;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::admin::{TOKEN, admin_addr, token_file};
use crate::support::{runtime, small_asset_files, start_game_server, write_assets};

/// Kills the browser however the test ends.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromium() -> &'static str {
    for name in ["chromium", "chromium-browser"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name;
        }
    }
    panic!("chromium not found: `apt-get install -y chromium` (.ci/run installs it)");
}

/// Starts headless Chromium; returns it and its DevTools port.
fn start_browser(profile: &std::path::Path) -> (Browser, u16) {
    let mut child = Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1000,800",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.strip_prefix("DevTools listening on ws://127.0.0.1:") {
                let _ = tx.send(rest[..rest.find('/').unwrap()].parse::<u16>().unwrap());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("chromium printed its DevTools address");
    (Browser(child), port)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One page's DevTools session.
struct Page {
    ws: Socket,
    next: u64,
}

impl Page {
    async fn open(port: u16) -> Page {
        let devtools = SocketAddr::from(([127, 0, 0, 1], port));
        let list = AdminClient::new(devtools, "")
            .get("/json/list")
            .await
            .unwrap();
        let url = list
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["webSocketDebuggerUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Page { ws, next: 0 }
    }

    /// Sends a command and returns its result (events in between are skipped).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({ "id": id, "method": method, "params": params });
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("DevTools answered")
                .unwrap()
                .unwrap();
            let Message::Text(text) = m else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates a JavaScript expression and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy.
    async fn wait_for(&mut self, expression: &str, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.eval(expression).await.as_bool() == Some(true) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "timed out waiting for {expression}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A screenshot of the viewport, decoded: width, bytes per pixel, rows.
    async fn screenshot(&mut self, save_as: &std::path::Path) -> (u32, usize, Vec<u8>) {
        use base64::Engine;
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let png_bytes = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(save_as, &png_bytes).unwrap();
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("screenshot colour type {other:?}"),
        };
        (info.width, channels, buf[..info.buffer_size()].to_vec())
    }

    async fn click(&mut self, x: f64, y: f64) {
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await;
        }
    }
}

fn pixel(shot: &(u32, usize, Vec<u8>), x: f64, y: f64) -> [u8; 3] {
    let (w, channels, data) = shot;
    let i = ((y.floor() as usize) * (*w as usize) + x.floor() as usize) * channels;
    [data[i], data[i + 1], data[i + 2]]
}

#[test]
fn the_live_map_shows_terrain_cities_and_marches_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    // Fast troops (20 tiles a second), so an attack reaches a monster near the city in a moment.
    let mut files = small_asset_files(200);
    let units = files.get_mut("units.toml").unwrap();
    *units = units
        .lines()
        .map(|l| {
            if l.starts_with("speed = ") {
                "speed = 1200".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    write_assets(&dir.path().join("assets"), &files);
    let tokens = token_file(dir.path());
    let (mut server, quic, fp) = start_game_server(
        dir.path(),
        &["--admin-token-file", tokens.to_str().unwrap()],
    );
    let addr = admin_addr(&mut server);
    let (_browser, port) = start_browser(&dir.path().join("chromium"));
    let shots = std::env::var_os("DOMINION_TEST_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().to_owned());
    std::fs::create_dir_all(&shots).unwrap();
    runtime().block_on(async {
        let admin = AdminClient::new(addr, TOKEN);
        let (c, _pushes) = Client::connect(quic, ClientOptions::new(fp)).await.unwrap();
        let me = c
            .login(Login {
                openid: "map-fay".into(),
                platform_token: "dev".into(),
                client_version: "test".into(),
            })
            .await
            .unwrap()
            .player_id;
        let player = loop {
            let a = admin.get(&format!("/v1/players/{me}")).await.unwrap();
            if a.status == 200 {
                break a.body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (cx, cy) = (
            player["city"]["x"].as_u64().unwrap() as i64,
            player["city"]["y"].as_u64().unwrap() as i64,
        );
        let terrain = admin.get_bytes("/map/terrain").await.unwrap();
        let w = i64::from(u16::from_le_bytes([terrain[0], terrain[1]]));
        let h = i64::from(u16::from_le_bytes([terrain[2], terrain[3]]));
        let tiles = &terrain[4..];

        // Without the token the page is refused.
        let mut page = Page::open(port).await;
        page.call("Page.enable", json!({})).await;
        page.call("Page.navigate", json!({ "url": format!("http://{addr}/map") }))
            .await;
        page.wait_for("document.readyState === 'complete'", Duration::from_secs(20))
            .await;
        let body = page.eval("document.body.innerText").await;
        assert!(body.as_str().unwrap().contains("unauthorized"), "{body}");

        // With it: terrain, then the stream.
        page.call(
            "Page.navigate",
            json!({ "url": format!("http://{addr}/map?token={TOKEN}") }),
        )
        .await;
        page.wait_for(
            "!!(window.dominionMap && dominionMap.ready && dominionMap.deltas > 0)",
            Duration::from_secs(30),
        )
        .await;
        // Close in on the city (zoom 0: every kind shown).
        page.eval(&format!("dominionMap.setView({}.5, {}.5, 8)", cx, cy))
            .await;
        page.wait_for(
            "dominionMap.observed && dominionMap.observed.zoom === 0 && \
             [...dominionMap.objects.values()].some(o => o.kind === 'city_slot')",
            Duration::from_secs(10),
        )
        .await;
        // The canvas fills the window; the city is at its centre.
        let size = page
            .eval("[document.getElementById('map').width, document.getElementById('map').height]")
            .await;
        let (cw, ch) = (size[0].as_f64().unwrap(), size[1].as_f64().unwrap());
        let (mx, my) = (cw / 2.0, ch / 2.0);
        // The wall tile nearest the city that is on screen and clear of the page's panels.
        let mut wall = None;
        for r in 1..40i64 {
            for y in (cy - r).max(0)..=(cy + r).min(h - 1) {
                for x in (cx - r).max(0)..=(cx + r).min(w - 1) {
                    if wall.is_none() && tiles[(y * w + x) as usize] & 3 == 1 {
                        let (sx, sy) = (mx + (x - cx) as f64 * 8.0, my + (y - cy) as f64 * 8.0);
                        if (60.0..cw - 60.0).contains(&sx) && (60.0..ch - 100.0).contains(&sy) {
                            wall = Some((x, y, sx, sy));
                        }
                    }
                }
            }
        }
        let (wx, wy, wsx, wsy) = wall.expect("a wall near the city");
        let at = page
            .eval(&format!("dominionMap.tileToScreen({wx}, {wy})"))
            .await;
        assert_eq!(
            (at[0].as_f64(), at[1].as_f64()),
            (Some(wsx), Some(wsy)),
            "the page's projection"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let shot = page.screenshot(&shots.join("map-city.png")).await;
        assert_eq!(
            pixel(&shot, wsx, wsy),
            [110, 90, 70],
            "wall at tile ({wx}, {wy})"
        );
        assert_eq!(pixel(&shot, mx, my), [255, 64, 160], "city at ({cx}, {cy})");

        // A march: the client scouts the nearest monster in view; the page has it within a
        // second of the acknowledgement.
        let target = page
            .eval(&format!(
                "[...dominionMap.objects.values()].filter(o => o.kind === 'monster')\
                 .sort((a, b) => Math.hypot(a.pos[0]-{cx}, a.pos[1]-{cy}) - Math.hypot(b.pos[0]-{cx}, b.pos[1]-{cy}))[0].id"
            ))
            .await
            .as_u64()
            .expect("a monster in view");
        let outcome = c
            .command(CommandBody::SendMarch {
                troops: vec![],
                target,
                mission: 3,
            })
            .await
            .unwrap();
        let acked = Instant::now();
        let CommandOutcome::MarchSent { march_id, .. } = outcome else {
            panic!("scouting refused: {outcome:?}")
        };
        page.wait_for(
            &format!("dominionMap.objects.has({march_id})"),
            Duration::from_secs(5),
        )
        .await;
        let seen_after = acked.elapsed();
        eprintln!("map: march {march_id} on the page {seen_after:?} after its acknowledgement");
        assert!(
            seen_after < Duration::from_secs(1),
            "the march reached the page {seen_after:?} after the acknowledgement"
        );
        let march = page
            .eval(&format!("dominionMap.objects.get({march_id})"))
            .await;
        assert_eq!(march["owner"], me);
        assert_eq!(march["mission"], "scout");
        assert_eq!(march["route"]["waypoints"][0], json!([cx, cy]));
        let head = page
            .eval(&format!(
                "(() => {{ const o = dominionMap.objects.get({march_id}); \
                 const d = o.route.waypoints[o.route.waypoints.length - 1]; \
                 return dominionMap.tileToScreen(d[0], d[1]); }})()"
            ))
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let shot = page.screenshot(&shots.join("map-march.png")).await;
        // The route's end (its line runs to the target) is drawn in the march colour, unless
        // the march already stands there, which also draws it.
        let (hx, hy) = (head[0].as_f64().unwrap(), head[1].as_f64().unwrap());
        let near: Vec<[u8; 3]> = (-3..=3)
            .flat_map(|dy| (-3..=3).map(move |dx| (dx, dy)))
            .map(|(dx, dy)| pixel(&shot, hx + f64::from(dx), hy + f64::from(dy)))
            .collect();
        assert!(
            near.contains(&[0, 220, 255]),
            "march colour near its target at ({hx}, {hy}): {near:?}"
        );

        // The march-density overlay tints the 16×16 cell the march's route starts in.
        let corner = page
            .eval(&format!(
                "dominionMap.tileToScreen(Math.floor({cx} / 16) * 16, Math.floor({cy} / 16) * 16)"
            ))
            .await;
        let (kx, ky) = (
            corner[0].as_f64().unwrap() - 4.0 + 2.0,
            corner[1].as_f64().unwrap() - 4.0 + 2.0,
        );
        page.eval("document.getElementById('ov-density').click()").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let tinted = page.screenshot(&shots.join("map-density.png")).await;
        assert_eq!(
            page.eval(&format!("dominionMap.objects.has({march_id})")).await,
            json!(true),
            "the march is still out"
        );
        page.eval("document.getElementById('ov-density').click()").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let plain = page.screenshot(&shots.join("map-plain.png")).await;
        let (before, after) = (pixel(&plain, kx, ky), pixel(&tinted, kx, ky));
        assert!(
            before != after && after[0] >= before[0] && after[2] <= before[2],
            "density tint at ({kx}, {ky}): {before:?} -> {after:?}"
        );

        // Clicking the city shows the server's values.
        page.click(mx, my).await;
        let shown = page
            .eval("document.getElementById('inspect').textContent")
            .await;
        let shown = shown.as_str().unwrap();
        assert!(shown.contains("kind: city"), "{shown}");
        assert!(
            shown.contains(&format!("id: {}", player["city"]["id"])),
            "{shown}"
        );
        assert!(shown.contains(&format!("owner: {me}")), "{shown}");
        assert!(shown.contains(&format!("pos: {cx}, {cy}")), "{shown}");

        // Battle activity: an attack on the nearest monster is marked where it fought.
        let monster = page
            .eval(&format!(
                "[...dominionMap.objects.values()].filter(o => o.kind === 'monster')\
                 .sort((a, b) => Math.hypot(a.pos[0]-{cx}, a.pos[1]-{cy}) - Math.hypot(b.pos[0]-{cx}, b.pos[1]-{cy}))[0]"
            ))
            .await;
        let troops: Vec<(u16, u32)> = player["troops"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let n = n.as_u64().unwrap() as u32;
                (n > 0).then_some((i as u16, n))
            })
            .collect();
        let outcome = c
            .command(CommandBody::SendMarch {
                troops,
                target: monster["id"].as_u64().unwrap(),
                mission: 1,
            })
            .await
            .unwrap();
        assert!(
            matches!(outcome, CommandOutcome::MarchSent { .. }),
            "attack refused: {outcome:?}"
        );
        page.wait_for(
            &format!(
                "dominionMap.battles.some(b => b.x === {} && b.y === {})",
                monster["pos"][0], monster["pos"][1]
            ),
            Duration::from_secs(15),
        )
        .await;
        page.screenshot(&shots.join("map-battle.png")).await;

        // Tick, sessions and config version on screen.
        page.wait_for(
            "document.getElementById('config').textContent === '1' && \
             document.getElementById('sessions').textContent === '1'",
            Duration::from_secs(5),
        )
        .await;
        // A designer's config change lands on screen.
        let units = dir.path().join("assets/units.toml");
        let text = std::fs::read_to_string(&units).unwrap();
        std::fs::write(&units, text.replacen("attack = 10", "attack = 11", 1)).unwrap();
        let r = admin.post("/v1/assets/reload", &json!(null)).await.unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        page.wait_for(
            "document.getElementById('config').textContent === '2'",
            Duration::from_secs(5),
        )
        .await;

        // Each zoom shows its kinds: the kingdom view (zoom 2) only cities and marches.
        page.eval("dominionMap.setView(100, 100, 2)").await;
        page.wait_for(
            "dominionMap.observed.zoom === 2 && dominionMap.objects.size > 0 && \
             [...dominionMap.objects.values()].every(o => o.kind === 'city' || o.kind === 'march')",
            Duration::from_secs(10),
        )
        .await;
        // Zoom 1 adds fields and monsters, not city slots.
        page.eval("dominionMap.setView(100, 100, 4)").await;
        page.wait_for(
            "dominionMap.observed.zoom === 1 && \
             [...dominionMap.objects.values()].some(o => o.kind === 'field') && \
             [...dominionMap.objects.values()].every(o => o.kind !== 'city_slot')",
            Duration::from_secs(10),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        page.screenshot(&shots.join("map-kingdom.png")).await;
    });
    // An open page does not hold the server's shutdown.
    let (status, lines) = server.terminate();
    assert!(status.success(), "{status}:\n{}", lines.join("\n"));
}
