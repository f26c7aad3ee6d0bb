//! `dominion-admin`: the admin API from a shell. One subcommand per endpoint; human tables by
//! default, `--json` prints the server's JSON as is (for scripts). The token comes from
//! `--token-file` or `DOMINION_ADMIN_TOKEN`.
//!
//! Exit codes: 0 done; 1 the server refused (any error answer: its `code` and `message` are
//! printed); 2 unreachable or bad usage.

pub mod client;
pub mod table;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

pub use client::{AdminClient, Answer, ClientError};

/// Command line of `dominion-admin`.
#[derive(Parser, Debug)]
#[command(
    name = "dominion-admin",
    version,
    about = "Operate a running Dominion kingdom"
)]
pub struct AdminArgs {
    /// Admin API address.
    #[arg(long, default_value = "127.0.0.1:9101", global = true)]
    pub addr: SocketAddr,
    /// File holding the bearer token (first non-comment line); else DOMINION_ADMIN_TOKEN.
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// One subcommand per endpoint.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Tick, tick time, sessions, config version, saves, owner epoch (GET /v1/status).
    Status,
    /// A player's city, troops, resources, marches (GET /v1/players/{id} or ?openid=).
    Player {
        /// Player id.
        #[arg(required_unless_present = "openid", conflicts_with = "openid")]
        id: Option<u64>,
        /// Look up by the platform's account id instead.
        #[arg(long)]
        openid: Option<String>,
    },
    /// Disconnect a player's session; their client is told the reason (POST …/kick).
    Kick {
        /// Player id.
        id: u64,
        /// Why (shown to the player).
        #[arg(long)]
        reason: String,
    },
    /// Send a system mail (POST /v1/mail).
    Mail {
        /// `all`, or player ids separated by commas.
        #[arg(long)]
        to: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// Text.
        #[arg(long)]
        text: String,
        /// An attachment, `resource=amount` (food, wood, stone, gold); repeatable.
        #[arg(long = "attach")]
        attachments: Vec<String>,
        /// Hide the mail after this time (ms since the Unix epoch).
        #[arg(long)]
        expires_unix_ms: Option<i64>,
    },
    /// Compensation tickets: issue, show, list (/v1/tickets).
    Ticket {
        /// What to do.
        #[command(subcommand)]
        action: TicketAction,
    },
    /// Config version and the last reload's outcome (GET /v1/assets).
    Assets,
    /// Reload the assets folder now (POST /v1/assets/reload).
    Reload,
}

/// `dominion-admin ticket …`.
#[derive(Subcommand, Debug)]
pub enum TicketAction {
    /// Issue a ticket (POST /v1/tickets). Issuing the same id again sends nothing new; the
    /// same id with other recipients, mail, attachments or reason is refused.
    Issue {
        /// The ticket's unique id (e.g. the incident number).
        id: String,
        /// `all`, or player ids separated by commas.
        #[arg(long)]
        to: String,
        /// The mail's title.
        #[arg(long)]
        title: String,
        /// The mail's text.
        #[arg(long, default_value = "")]
        text: String,
        /// An attachment, `resource=amount` (food, wood, stone, gold); repeatable.
        #[arg(long = "attach")]
        attachments: Vec<String>,
        /// Why (kept in the audit; players don't see it).
        #[arg(long)]
        reason: String,
        /// Hide the mail after this time (ms since the Unix epoch).
        #[arg(long)]
        expires_unix_ms: Option<i64>,
    },
    /// A ticket's audit record (GET /v1/tickets/{id}).
    Show {
        /// The ticket's id.
        id: String,
    },
    /// Tickets, newest first (GET /v1/tickets).
    List {
        /// Only tickets first issued before this time (ms since the Unix epoch): the previous
        /// page's `next_before`.
        #[arg(long)]
        before: Option<i64>,
        /// Most tickets listed (1 to 500; the server's default 50).
        #[arg(long)]
        limit: Option<u32>,
    },
}

/// Outcome of a run, mapped to the exit code by the binary.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done (exit 0).
    Ok,
    /// The server answered with an error (exit 1).
    Refused,
    /// Unreachable or bad usage (exit 2).
    Failed,
}

impl Outcome {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Refused => 1,
            Outcome::Failed => 2,
        }
    }
}

/// The token: the file's first non-empty, non-comment line, or `DOMINION_ADMIN_TOKEN`.
pub fn read_token(file: Option<&std::path::Path>) -> Result<String, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the token file {}: {e}", path.display()))?;
        return text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .ok_or_else(|| format!("no token in {}", path.display()));
    }
    match std::env::var("DOMINION_ADMIN_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
        _ => Err("no token: pass --token-file or set DOMINION_ADMIN_TOKEN".into()),
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `--to`: `all`, or player ids separated by commas.
fn to_json(to: &str) -> Result<Value, String> {
    if to == "all" {
        return Ok(json!("all"));
    }
    let ids = to
        .split(',')
        .map(|s| s.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("--to must be `all` or ids separated by commas: {to}"))?;
    Ok(json!(ids))
}

/// `--attach resource=amount`, each.
fn attachments_json(attachments: &[String]) -> Result<Vec<Value>, String> {
    attachments
        .iter()
        .map(|a| {
            let (resource, amount) = a
                .split_once('=')
                .ok_or_else(|| format!("--attach must be resource=amount: {a}"))?;
            let amount: u64 = amount
                .parse()
                .map_err(|_| format!("--attach amount must be a number: {a}"))?;
            Ok(json!({ "resource": resource, "amount": amount }))
        })
        .collect()
}

/// The request a subcommand makes: method, path, body.
pub fn request_of(command: &AdminCommand) -> Result<(&'static str, String, Option<Value>), String> {
    Ok(match command {
        AdminCommand::Status => ("GET", "/v1/status".into(), None),
        AdminCommand::Player { id: Some(id), .. } => ("GET", format!("/v1/players/{id}"), None),
        AdminCommand::Player {
            openid: Some(openid),
            ..
        } => (
            "GET",
            format!("/v1/players?openid={}", percent_encode(openid)),
            None,
        ),
        AdminCommand::Player { .. } => return Err("give a player id or --openid".into()),
        AdminCommand::Kick { id, reason } => (
            "POST",
            format!("/v1/players/{id}/kick"),
            Some(json!({ "reason": reason })),
        ),
        AdminCommand::Mail {
            to,
            title,
            text,
            attachments,
            expires_unix_ms,
        } => (
            "POST",
            "/v1/mail".into(),
            Some(json!({
                "to": to_json(to)?,
                "title": title,
                "text": text,
                "attachments": attachments_json(attachments)?,
                "expires_unix_ms": expires_unix_ms,
            })),
        ),
        AdminCommand::Ticket { action } => match action {
            TicketAction::Issue {
                id,
                to,
                title,
                text,
                attachments,
                reason,
                expires_unix_ms,
            } => (
                "POST",
                "/v1/tickets".into(),
                Some(json!({
                    "id": id,
                    "to": to_json(to)?,
                    "title": title,
                    "text": text,
                    "attachments": attachments_json(attachments)?,
                    "reason": reason,
                    "expires_unix_ms": expires_unix_ms,
                })),
            ),
            TicketAction::Show { id } => {
                ("GET", format!("/v1/tickets/{}", percent_encode(id)), None)
            }
            TicketAction::List { before, limit } => {
                let mut query: Vec<String> = Vec::new();
                if let Some(b) = before {
                    query.push(format!("before={b}"));
                }
                if let Some(l) = limit {
                    query.push(format!("limit={l}"));
                }
                let path = if query.is_empty() {
                    "/v1/tickets".to_owned()
                } else {
                    format!("/v1/tickets?{}", query.join("&"))
                };
                ("GET", path, None)
            }
        },
        AdminCommand::Assets => ("GET", "/v1/assets".into(), None),
        AdminCommand::Reload => ("POST", "/v1/assets/reload".into(), None),
    })
}

/// Runs one subcommand, printing to `out` (answers) and `err` (failures).
pub async fn run(
    args: &AdminArgs,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> Outcome {
    let token = match read_token(args.token_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "dominion-admin: {e}");
            return Outcome::Failed;
        }
    };
    let (method, path, body) = match request_of(&args.command) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "dominion-admin: {e}");
            return Outcome::Failed;
        }
    };
    let client = AdminClient::new(args.addr, token);
    let answer = match client.send(method, &path, body.as_ref()).await {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "dominion-admin: {e}");
            return Outcome::Failed;
        }
    };
    if !(200..300).contains(&answer.status) {
        if args.json {
            let _ = writeln!(out, "{}", answer.body);
        }
        let code = answer.body["code"].as_str().unwrap_or("unknown");
        let message = answer.body["message"].as_str().unwrap_or("");
        let _ = writeln!(
            err,
            "dominion-admin: refused ({} {code}): {message}",
            answer.status
        );
        return Outcome::Refused;
    }
    let text = if args.json {
        answer.body.to_string()
    } else {
        table::render(&args.command, &answer.body)
    };
    let _ = writeln!(out, "{text}");
    Outcome::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(action: TicketAction) -> (&'static str, String, Option<Value>) {
        request_of(&AdminCommand::Ticket { action }).unwrap()
    }

    #[test]
    fn ticket_subcommands_make_the_endpoints_requests() {
        let (method, path, body) = ticket(TicketAction::Issue {
            id: "INC-1".into(),
            to: "7, 9".into(),
            title: "Sorry".into(),
            text: String::new(),
            attachments: vec!["gold=100".into()],
            reason: "outage".into(),
            expires_unix_ms: None,
        });
        assert_eq!((method, path.as_str()), ("POST", "/v1/tickets"));
        assert_eq!(
            body.unwrap(),
            json!({"id": "INC-1", "to": [7, 9], "title": "Sorry", "text": "",
                   "attachments": [{"resource": "gold", "amount": 100}],
                   "reason": "outage", "expires_unix_ms": null})
        );
        // An id is one path segment, whatever it holds.
        let (_, path, _) = ticket(TicketAction::Show { id: "a/b c".into() });
        assert_eq!(path, "/v1/tickets/a%2Fb%20c");
        let (_, path, _) = ticket(TicketAction::List {
            before: Some(1_700_000_000_000),
            limit: Some(20),
        });
        assert_eq!(path, "/v1/tickets?before=1700000000000&limit=20");
        let (_, path, _) = ticket(TicketAction::List {
            before: None,
            limit: None,
        });
        assert_eq!(path, "/v1/tickets");
        let e = request_of(&AdminCommand::Ticket {
            action: TicketAction::Issue {
                id: "X".into(),
                to: "all".into(),
                title: "t".into(),
                text: String::new(),
                attachments: vec!["gold100".into()],
                reason: "r".into(),
                expires_unix_ms: None,
            },
        })
        .unwrap_err();
        assert!(e.contains("resource=amount"), "{e}");
    }
}
