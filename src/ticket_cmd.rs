//! `dominion ticket`: issues an operator's compensation ticket straight into the store (the
//! mail a running server's players then list and claim), or shows tickets' audit records. The
//! same code the mail service's [`crate::mail::MailHandle::issue_ticket`] runs; issuing a ticket
//! id again sends nothing new, so a command cut off (or killed) half way is simply run again.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use dominion_persistence::store::now_unix_ms;
use dominion_persistence::{KingdomId, Migrations, StoreConfig, TicketRecord, open_mail_store};
use dominion_sim::types::PlayerId;

use crate::mail::{MailSettings, Recipients, Ticket, TicketDesk, issue_ticket};

/// What to do.
#[derive(Clone, Debug)]
pub enum TicketAction {
    /// Issue (or issue again) a ticket.
    Issue(Ticket),
    /// Show one ticket's audit record.
    Show(String),
    /// List the newest tickets.
    List(u32),
}

/// Options of `dominion ticket`.
#[derive(Clone, Debug)]
pub struct TicketOptions {
    /// Data folder (SQLite store by default).
    pub data: PathBuf,
    /// Store URL.
    pub store_url: Option<String>,
    /// Kingdom / server id.
    pub server_id: u16,
    /// What to do.
    pub action: TicketAction,
}

/// Parses `all`, or player ids separated by commas.
pub fn parse_recipients(s: &str) -> Result<Recipients, String> {
    if s == "all" {
        return Ok(Recipients::All);
    }
    let ids = s
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<u64>()
                .map(PlayerId)
                .map_err(|_| format!("recipient {t:?} is not a player id (or use \"all\")"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match ids.as_slice() {
        [one] => Recipients::One(*one),
        _ => Recipients::List(ids),
    })
}

/// Parses `CODE:AMOUNT,CODE:AMOUNT` (codes 0 food, 1 wood, 2 stone, 3 gold).
pub fn parse_attachments(s: &str) -> Result<Vec<(u8, u64)>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|pair| {
            let (c, a) = pair
                .split_once(':')
                .ok_or_else(|| format!("attachment {pair:?}: expected CODE:AMOUNT"))?;
            let code = c
                .trim()
                .parse::<u8>()
                .map_err(|_| format!("attachment {pair:?}: bad resource code"))?;
            let amount = a
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("attachment {pair:?}: bad amount"))?;
            Ok((code, amount))
        })
        .collect()
}

fn line(t: &TicketRecord) -> String {
    format!(
        "ticket {}: {} by {} at {} to {} — {} recipient(s) delivered, issued again {} time(s), attachments {:?}, reason {:?}",
        t.id,
        t.status.name(),
        t.operator,
        t.issued_unix_ms,
        t.recipients.encode(),
        t.delivered,
        t.repeats,
        t.attachments,
        t.reason
    )
}

/// Runs the command; returns what to print.
pub fn run_ticket(opts: TicketOptions) -> anyhow::Result<String> {
    let url = opts
        .store_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", opts.data.join("dominion.db").display()));
    let cfg = StoreConfig::from_url(&url).context("--store")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let world = cfg
            .open()
            .await
            .with_context(|| format!("opening {}", cfg.redacted()))?;
        let mail = open_mail_store(&cfg)
            .await
            .with_context(|| format!("opening the mailboxes in {}", cfg.redacted()))?;
        let kingdom = KingdomId(u32::from(opts.server_id));
        match opts.action {
            TicketAction::Issue(ticket) => {
                let settings = MailSettings::default();
                let desk = TicketDesk::new(
                    mail,
                    world,
                    Arc::new(Migrations::builtin()),
                    kingdom,
                    settings.keep,
                    settings.chunk,
                );
                let r = issue_ticket(&desk, ticket).await?;
                Ok(format!(
                    "{} ({}; {} delivered now)\n",
                    line(&r.ticket),
                    if r.first_issue {
                        "first issue"
                    } else {
                        "issued before"
                    },
                    r.delivered_now
                ))
            }
            TicketAction::Show(id) => match mail.ticket(kingdom, &id).await? {
                Some(t) => Ok(format!("{}\n", line(&t))),
                None => anyhow::bail!("no ticket {id:?} in kingdom {}", kingdom.0),
            },
            TicketAction::List(limit) => {
                let mut out = String::new();
                for t in mail.tickets(kingdom, None, limit).await? {
                    out.push_str(&line(&t));
                    out.push('\n');
                }
                Ok(out)
            }
        }
    })
}

/// An expiry `secs` from now (ms since the Unix epoch).
pub fn expires_in(secs: u64) -> i64 {
    now_unix_ms().saturating_add(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_and_attachments_parse_or_say_why() {
        assert_eq!(parse_recipients("all"), Ok(Recipients::All));
        assert_eq!(parse_recipients("7"), Ok(Recipients::One(PlayerId(7))));
        assert_eq!(
            parse_recipients("7, 9"),
            Ok(Recipients::List(vec![PlayerId(7), PlayerId(9)]))
        );
        assert!(parse_recipients("7,x").unwrap_err().contains("\"x\""));
        assert_eq!(parse_attachments("0:5,3:1"), Ok(vec![(0, 5), (3, 1)]));
        assert_eq!(parse_attachments(""), Ok(vec![]));
        assert!(
            parse_attachments("0-5")
                .unwrap_err()
                .contains("CODE:AMOUNT")
        );
    }
}
