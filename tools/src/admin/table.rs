//! Human renderings of the admin API's answers: aligned `key  value` rows and small tables.

use serde_json::Value;

use super::AdminCommand;

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
