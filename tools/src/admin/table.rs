//! Human renderings of the admin API's answers: aligned `key  value` rows and small tables.

use serde_json::Value;

use super::{AdminCommand, TicketAction};

fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn rows(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<width$}  {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table: header row, then rows, columns padded to their widest cell.
pub fn grid(header: &[&str], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in body {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.len());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(body.iter().cloned().map(line));
    out.join("\n")
}

fn resources(v: &Value) -> String {
    ["food", "wood", "stone", "gold"]
        .iter()
        .map(|k| format!("{k} {}", show(&v[k])))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `to` of a ticket: `all`, an id, or ids separated by commas.
fn recipients(v: &Value) -> String {
    match v {
        Value::Array(ids) => ids.iter().map(show).collect::<Vec<_>>().join(","),
        other => show(other),
    }
}

fn attachments(v: &Value) -> String {
    let list: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{} {}", show(&a["resource"]), show(&a["amount"])))
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// A ticket's audit record as rows.
fn ticket(t: &Value) -> String {
    rows(&[
        ("ticket", show(&t["id"])),
        ("operator", show(&t["operator"])),
        ("issued", show(&t["issued_unix_ms"])),
        ("to", recipients(&t["to"])),
        ("title", show(&t["title"])),
        ("text", show(&t["text"])),
        ("attachments", attachments(&t["attachments"])),
        ("reason", show(&t["reason"])),
        ("expires", show(&t["expires_unix_ms"])),
        ("status", show(&t["status"])),
        ("delivered", show(&t["delivered"])),
        ("finished", show(&t["finished_unix_ms"])),
        ("repeats", show(&t["repeats"])),
    ])
}

fn tickets(action: &TicketAction, v: &Value) -> String {
    match action {
        TicketAction::Issue { .. } => {
            let head = if v["first_issue"] == true {
                format!(
                    "ticket issued: {} mail(s) delivered",
                    show(&v["delivered_now"])
                )
            } else {
                format!(
                    "ticket issued before: {} new mail(s) delivered",
                    show(&v["delivered_now"])
                )
            };
            format!("{head}\n\n{}", ticket(&v["ticket"]))
        }
        TicketAction::Show { .. } => ticket(v),
        TicketAction::List { .. } => {
            let body: Vec<Vec<String>> = v["tickets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    vec![
                        show(&t["id"]),
                        show(&t["issued_unix_ms"]),
                        show(&t["operator"]),
                        recipients(&t["to"]),
                        show(&t["status"]),
                        show(&t["delivered"]),
                        show(&t["repeats"]),
                        show(&t["title"]),
                    ]
                })
                .collect();
            if body.is_empty() {
                return "no tickets".into();
            }
            let mut out = grid(
                &[
                    "TICKET",
                    "ISSUED",
                    "OPERATOR",
                    "TO",
                    "STATUS",
                    "DELIVERED",
                    "REPEATS",
                    "TITLE",
                ],
                &body,
            );
            if !v["next_before"].is_null() {
                out.push_str(&format!("\nmore: --before {}", show(&v["next_before"])));
            }
            out
        }
    }
}

/// Renders an answer for people.
pub fn render(command: &AdminCommand, v: &Value) -> String {
    match command {
        AdminCommand::Status => {
            let t = &v["tick_time_ms"];
            let s = &v["save"];
            rows(&[
                ("kingdom", show(&v["kingdom"])),
                ("instance", show(&v["instance_id"])),
                ("owner epoch", show(&v["owner_epoch"])),
                (
                    "tick",
                    format!("{} ({} Hz)", show(&v["tick"]), show(&v["tick_hz"])),
                ),
                (
                    "tick time",
                    format!(
                        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} ticks",
                        t["p50"].as_f64().unwrap_or(0.0),
                        t["p99"].as_f64().unwrap_or(0.0),
                        t["max"].as_f64().unwrap_or(0.0),
                        show(&t["samples"])
                    ),
                ),
                ("sessions", show(&v["sessions"])),
                ("config version", show(&v["config_version"])),
                (
                    "saves",
                    format!(
                        "queue {}, failing {}, fenced {}, last success {}",
                        show(&s["queue_depth"]),
                        show(&s["failing"]),
                        show(&s["fenced"]),
                        show(&s["last_success_unix_ms"])
                    ),
                ),
                ("uptime", format!("{} s", show(&v["uptime_seconds"]))),
            ])
        }
        AdminCommand::Player { .. } => {
            let head = rows(&[
                ("player", show(&v["player"])),
                ("openid", show(&v["openid"])),
                ("online", show(&v["online"])),
                ("last login", show(&v["last_login_unix_ms"])),
                (
                    "city",
                    format!(
                        "{} at ({}, {})",
                        show(&v["city"]["id"]),
                        show(&v["city"]["x"]),
                        show(&v["city"]["y"])
                    ),
                ),
                ("troops", show(&v["troops"])),
                ("wounded", show(&v["wounded"])),
                ("resources", resources(&v["resources"])),
            ]);
            let marches: Vec<Vec<String>> = v["marches"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|m| {
                            vec![
                                show(&m["id"]),
                                show(&m["mission"]),
                                show(&m["phase"]),
                                show(&m["target"]),
                                show(&m["troops"]),
                                show(&m["route"]["arrival_tick"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            if marches.is_empty() {
                format!("{head}\nmarches     none")
            } else {
                format!(
                    "{head}\n\n{}",
                    grid(
                        &["MARCH", "MISSION", "PHASE", "TARGET", "TROOPS", "ARRIVES"],
                        &marches
                    )
                )
            }
        }
        AdminCommand::Kick { .. } => format!(
            "kicked player {} (session {}): {}",
            show(&v["player"]),
            show(&v["session"]),
            show(&v["reason"])
        ),
        AdminCommand::Mail { .. } => format!("delivered {} mail(s)", show(&v["delivered"])),
        AdminCommand::Ticket { action } => tickets(action, v),
        AdminCommand::Assets => {
            let last = &v["last_reload"];
            let mut out = rows(&[
                ("config version", show(&v["config_version"])),
                ("assets", show(&v["assets_dir"])),
                (
                    "last reload",
                    if last.is_null() {
                        "none".into()
                    } else {
                        format!(
                            "#{} {} at {}",
                            show(&last["seq"]),
                            show(&last["result"]),
                            show(&last["at_unix_ms"])
                        )
                    },
                ),
            ]);
            for e in last["errors"].as_array().into_iter().flatten() {
                out.push_str(&format!("\n  {}", show(e)));
            }
            out
        }
        AdminCommand::Reload => format!(
            "reload {}: config version {}",
            show(&v["reload"]["result"]),
            show(&v["config_version"])
        ),
    }
}
