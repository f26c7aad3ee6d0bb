//! Compensation tickets through the admin API and `dominion-admin ticket` against a real
//! `dominion serve`: a ticket issued twice sends one mail (the player's QUIC client lists its
//! mailbox and sees it once, with the attachments), a conflicting re-issue is refused with 409,
//! and look-up and list return the audit record under the token's label (never the token).

use std::time::Duration;

use dominion_net::client::{Client, ClientOptions};
use dominion_net::proto::mail::MailWire;
use dominion_net::proto::{MailList, MailPage, ServerMessage};
use dominion_tools::admin::AdminClient;
use serde_json::{Value, json};

use crate::admin::{TOKEN, admin_addr, cli, login, token_file};
use crate::support::{runtime, start_game_server};

/// The label [`TOKEN`] is audited under: `token:` and the first 8 hex digits of its SHA-256
/// (`printf %s admin-test-token-5f2c9a7e1d | sha256sum`).
const TOKEN_LABEL: &str = "token:5ab2f3c4";

async fn mailbox(c: &Client) -> MailPage {
    match c
        .request(MailList {
            before: 0,
            limit: 50,
        })
        .await
        .unwrap()
    {
        ServerMessage::MailPage(p) => p,
        other => panic!("expected a MailPage, got {other:?}"),
    }
}

fn titled<'a>(page: &'a MailPage, title: &str) -> Vec<&'a MailWire> {
    page.mails.iter().filter(|m| m.title == title).collect()
}

#[test]
fn a_ticket_issued_twice_mails_once_a_conflict_is_refused_and_the_audit_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let (mut server, quic, fp) = start_game_server(
        dir.path(),
        &["--admin-token-file", tokens.to_str().unwrap()],
    );
    let addr = admin_addr(&mut server);
    runtime().block_on(async {
        let admin = AdminClient::new(addr, TOKEN);
        let (c, _pushes) = Client::connect(quic, ClientOptions::new(fp)).await.unwrap();
        let me = c.login(login("tix-ana")).await.unwrap().player_id;

        let ticket = json!({
            "id": "INC-7",
            "to": [me],
            "title": "Sorry for the outage",
            "text": "Servers were down for an hour.",
            "attachments": [{"resource": "gold", "amount": 100}, {"resource": "food", "amount": 50}],
            "reason": "outage 2026-12-01 14:00-15:00",
        });
        let first = admin.post("/v1/tickets", &ticket).await.unwrap();
        assert_eq!(first.status, 201, "{first:?}");
        assert_eq!(first.body["first_issue"], true);
        assert_eq!(first.body["delivered_now"], 1);
        let t = &first.body["ticket"];
        assert_eq!(t["operator"], TOKEN_LABEL);
        assert_eq!(t["status"], "delivered");
        assert_eq!(t["delivered"], 1);
        assert_eq!(t["to"], json!([me]));

        // The same ticket again (an operator's retry): 200, nothing sent.
        let again = admin.post("/v1/tickets", &ticket).await.unwrap();
        assert_eq!(again.status, 200, "{again:?}");
        assert_eq!(again.body["first_issue"], false);
        assert_eq!(again.body["delivered_now"], 0);
        assert_eq!(again.body["ticket"]["repeats"], 1);

        // The player's client sees exactly one mail, with the attachments.
        let page = mailbox(&c).await;
        let mails = titled(&page, "Sorry for the outage");
        assert_eq!(mails.len(), 1, "{page:?}");
        assert_eq!(mails[0].kind, 3, "system mail");
        assert_eq!(mails[0].attachments, vec![(3, 100), (0, 50)]);
        assert!(!mails[0].claimed);

        // The same id asking for more gold: 409, nothing sent.
        let mut greedy = ticket.clone();
        greedy["attachments"] = json!([{"resource": "gold", "amount": 1000}]);
        let conflict = admin.post("/v1/tickets", &greedy).await.unwrap();
        assert_eq!(conflict.status, 409, "{conflict:?}");
        assert_eq!(conflict.body["code"], "ticket_conflict");
        assert_eq!(titled(&mailbox(&c).await, "Sorry for the outage").len(), 1);

        // Malformed tickets: 400, nothing recorded.
        for (bad, why) in [
            (json!({"to": "everyone"}), "unknown word for recipients"),
            (json!({"to": []}), "empty list"),
            (json!({"attachments": [{"resource": "gems", "amount": 1}]}), "unknown resource"),
            (json!({"attachments": [{"resource": "gold", "amount": 0}]}), "amount 0"),
            (json!({"expires_unix_ms": 1000}), "expiry in the past"),
            (json!({"reason": " "}), "no reason"),
            (json!({"title": ""}), "no title"),
            (json!({"id": ""}), "no id"),
            (json!({"expires_at": 1}), "unknown field"),
        ] {
            let mut body = ticket.clone();
            body["id"] = json!("INC-bad");
            for (k, v) in bad.as_object().unwrap() {
                body[k] = v.clone();
            }
            let a = admin.post("/v1/tickets", &body).await.unwrap();
            assert_eq!(
                (a.status, a.body["code"].as_str()),
                (400, Some("bad_request")),
                "{why}: {a:?}"
            );
        }
        let a = admin.get("/v1/tickets/INC-bad").await.unwrap();
        assert_eq!((a.status, a.body["code"].as_str()), (404, Some("ticket_not_found")));

        // The audit record: who (the token's label), to whom, what, why, delivered, repeats
        // (the retry and the refused conflict).
        let shown = admin.get("/v1/tickets/INC-7").await.unwrap();
        assert_eq!(shown.status, 200, "{shown:?}");
        let s = &shown.body;
        assert_eq!(s["id"], "INC-7");
        assert_eq!(s["operator"], TOKEN_LABEL);
        assert_eq!(s["to"], json!([me]));
        assert_eq!(s["title"], "Sorry for the outage");
        assert_eq!(s["attachments"], ticket["attachments"]);
        assert_eq!(s["reason"], "outage 2026-12-01 14:00-15:00");
        assert_eq!(s["status"], "delivered");
        assert_eq!(s["delivered"], 1);
        assert_eq!(s["repeats"], 2);
        assert!(s["finished_unix_ms"].as_i64() >= s["issued_unix_ms"].as_i64());
        assert!(!s.to_string().contains(TOKEN), "the token is never recorded");

        // A second ticket (later), then the list: newest first, paged.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = admin
            .post(
                "/v1/tickets",
                &json!({"id": "INC-8", "to": me, "title": "Event fix", "reason": "wrong rewards",
                        "attachments": [{"resource": "wood", "amount": 7}]}),
            )
            .await
            .unwrap();
        assert_eq!(second.status, 201, "{second:?}");
        let all = admin.get("/v1/tickets").await.unwrap();
        assert_eq!(all.status, 200);
        let ids: Vec<&str> = all.body["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["INC-8", "INC-7"]);
        assert_eq!(all.body["tickets"][1], *s, "list and look-up agree");
        assert_eq!(all.body["next_before"], Value::Null);
        let p1 = admin.get("/v1/tickets?limit=1").await.unwrap().body;
        assert_eq!(p1["tickets"][0]["id"], "INC-8");
        let before = p1["next_before"].as_i64().expect("a next page");
        let p2 = admin
            .get(&format!("/v1/tickets?limit=1&before={before}"))
            .await
            .unwrap()
            .body;
        assert_eq!(p2["tickets"][0]["id"], "INC-7");
        assert_eq!(p2["next_before"], Value::Null);
        for bad in ["/v1/tickets?limit=0", "/v1/tickets?limit=501", "/v1/tickets?before=x"] {
            let a = admin.get(bad).await.unwrap();
            assert_eq!((a.status, a.body["code"].as_str()), (400, Some("bad_request")), "{bad}");
        }
        // Without a token: 401, like every admin route.
        let a = AdminClient::new(addr, "").post("/v1/tickets", &ticket).await.unwrap();
        assert_eq!(a.status, 401);

        let page = mailbox(&c).await;
        assert_eq!(titled(&page, "Sorry for the outage").len(), 1);
        assert_eq!(titled(&page, "Event fix")[0].attachments, vec![(1, 7)]);
    });
    let (_, lines) = server.terminate();
    for l in &lines {
        assert!(!l.contains(TOKEN), "the token leaked into the log: {l}");
    }
}

#[test]
fn the_admin_cli_issues_shows_and_lists_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let tf = tokens.to_str().unwrap();
    let (mut server, quic, fp) = start_game_server(dir.path(), &["--admin-token-file", tf]);
    let addr = admin_addr(&mut server);
    let rt = runtime();
    let (c, _pushes, me) = rt.block_on(async {
        let (c, pushes) = Client::connect(quic, ClientOptions::new(fp)).await.unwrap();
        let me = c.login(login("tix-cli-bo")).await.unwrap().player_id;
        (c, pushes, me)
    });
    let me_s = me.to_string();
    let issue = |extra: &[&str]| {
        let mut args = vec!["--json", "--token-file", tf, "ticket", "issue", "CLI-1"];
        args.extend_from_slice(&["--to", &me_s, "--title", "Compensation", "--text", "Sorry"]);
        args.extend_from_slice(&["--attach", "stone=30", "--reason", "lag spike"]);
        args.extend_from_slice(extra);
        cli(addr, &args, None)
    };

    let (code, out, err) = issue(&[]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(out.trim()).expect("--json prints JSON");
    assert_eq!(r["first_issue"], true);
    assert_eq!(r["delivered_now"], 1);
    assert_eq!(r["ticket"]["operator"], TOKEN_LABEL);
    let (code, out, err) = issue(&[]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (r["first_issue"].clone(), r["delivered_now"].clone()),
        (json!(false), json!(0))
    );
    // Refused (exit 1) with the server's code; bad usage (exit 2).
    let (code, _, err) = issue(&["--attach", "gold=5"]);
    assert_eq!(code, 1);
    assert!(err.contains("409 ticket_conflict"), "{err}");
    let (code, _, err) = cli(
        addr,
        &[
            "--token-file",
            tf,
            "ticket",
            "issue",
            "CLI-2",
            "--to",
            "x",
            "--title",
            "t",
            "--reason",
            "r",
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("--to must be"), "{err}");
    let (code, _, _) = cli(
        addr,
        &["--token-file", tf, "ticket", "issue", "CLI-2"],
        None,
    );
    assert_eq!(code, 2, "missing required options");

    let (code, out, err) = cli(
        addr,
        &["--json", "--token-file", tf, "ticket", "show", "CLI-1"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let shown: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["operator"], TOKEN_LABEL);
    assert_eq!(shown["to"], json!([me]));
    assert_eq!(shown["delivered"], 1);
    assert_eq!(shown["repeats"], 2);
    assert_eq!(
        shown["attachments"],
        json!([{"resource": "stone", "amount": 30}])
    );
    let (code, out, _) = cli(addr, &["--token-file", tf, "ticket", "show", "CLI-1"], None);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("operator     {TOKEN_LABEL}")),
        "{out}"
    );
    assert!(out.contains("attachments  stone 30"), "{out}");
    let (code, _, err) = cli(
        addr,
        &["--token-file", tf, "ticket", "show", "NOPE/1"],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("404 ticket_not_found"), "{err}");

    let (code, out, err) = cli(
        addr,
        &["--json", "--token-file", tf, "ticket", "list"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let list: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(list["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(list["tickets"][0], shown);
    let (code, out, _) = cli(
        addr,
        &["--token-file", tf, "ticket", "list", "--limit", "5"],
        None,
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("TICKET"), "{out}");
    assert!(out.contains("CLI-1") && out.contains(TOKEN_LABEL), "{out}");

    rt.block_on(async {
        let page = mailbox(&c).await;
        let mails = titled(&page, "Compensation");
        assert_eq!(mails.len(), 1, "{page:?}");
        assert_eq!(mails[0].attachments, vec![(2, 30)]);
    });
}
