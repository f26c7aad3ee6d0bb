//! Compensation tickets as stored: an operator's ticket (unique id, recipients, attachments,
//! reason, expiry) and its audit trail (who issued it, when, what became of it). The mail it
//! sends is ordinary mail; each recipient gets at most one mail per ticket, however often the
//! ticket is issued or its delivery resumed (the backends keep a per-(ticket, player) mark, see
//! [`crate::MailStore::deliver_ticket`]).
//!
//! Not responsible for: resolving "every player" or chunking the delivery (the root's mail
//! service).

use dominion_sim::types::PlayerId;

/// Who a ticket is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketRecipients {
    /// One player.
    One(PlayerId),
    /// These players.
    List(Vec<PlayerId>),
    /// Every player of the kingdom with a saved record at delivery.
    All,
}

impl TicketRecipients {
    /// The stored text form: `one:ID`, `list:ID,ID,…` or `all`.
    pub fn encode(&self) -> String {
        match self {
            TicketRecipients::One(p) => format!("one:{}", p.0),
            TicketRecipients::List(v) => format!(
                "list:{}",
                v.iter()
                    .map(|p| p.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            TicketRecipients::All => "all".to_string(),
        }
    }

    /// Parses [`encode`](Self::encode)'s text.
    pub fn decode(s: &str) -> Result<TicketRecipients, String> {
        if s == "all" {
            return Ok(TicketRecipients::All);
        }
        let id = |t: &str| {
            t.parse::<u64>()
                .map(PlayerId)
                .map_err(|_| format!("recipient {t:?} is not a player id"))
        };
        if let Some(one) = s.strip_prefix("one:") {
            return id(one).map(TicketRecipients::One);
        }
        if let Some(list) = s.strip_prefix("list:") {
            if list.is_empty() {
                return Ok(TicketRecipients::List(Vec::new()));
            }
            return list
                .split(',')
                .map(id)
                .collect::<Result<_, _>>()
                .map(TicketRecipients::List);
        }
        Err(format!(
            "recipients {s:?}: expected one:ID, list:ID,… or all"
        ))
    }
}

/// What became of a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    /// Accepted; mail is being delivered (or the delivery was cut off and resumes when the
    /// ticket is issued again).
    Delivering,
    /// Every recipient has the ticket's mail.
    Delivered,
}

impl TicketStatus {
    /// The stored code.
    pub fn code(self) -> i64 {
        match self {
            TicketStatus::Delivering => 1,
            TicketStatus::Delivered => 2,
        }
    }

    /// The status of a stored code.
    pub fn from_code(code: i64) -> Option<TicketStatus> {
        match code {
            1 => Some(TicketStatus::Delivering),
            2 => Some(TicketStatus::Delivered),
            _ => None,
        }
    }

    /// Its name in logs and the audit.
    pub fn name(self) -> &'static str {
        match self {
            TicketStatus::Delivering => "delivering",
            TicketStatus::Delivered => "delivered",
        }
    }
}

/// A ticket and its audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketRecord {
    /// The operator's unique id for it.
    pub id: String,
    /// Who issued it.
    pub operator: String,
    /// When it was first issued (ms since the Unix epoch).
    pub issued_unix_ms: i64,
    /// Who gets it.
    pub recipients: TicketRecipients,
    /// The mail's title.
    pub title: String,
    /// The mail's text.
    pub text: String,
    /// Attachments: (resource code, amount).
    pub attachments: Vec<(u8, u64)>,
    /// Why (for the audit; not shown to players).
    pub reason: String,
    /// The mail expires then (ms since the Unix epoch).
    pub expires_unix_ms: Option<i64>,
    /// What became of it.
    pub status: TicketStatus,
    /// Recipients holding its mail (set when delivered).
    pub delivered: u64,
    /// When the delivery finished (ms since the Unix epoch).
    pub finished_unix_ms: Option<i64>,
    /// Times it was issued again after the first (each sent nothing new once delivered).
    pub repeats: u64,
}

impl TicketRecord {
    /// True if `other` asks for the same thing (recipients, mail, attachments, reason); who
    /// issued it, when, and the expiry do not count (a retry computing "a week from now" again
    /// is the same ticket: the first issue's expiry holds).
    pub fn same_request(&self, other: &TicketRecord) -> bool {
        self.recipients == other.recipients
            && self.title == other.title
            && self.text == other.text
            && self.attachments == other.attachments
            && self.reason == other.reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_round_trip_and_bad_text_is_named() {
        for r in [
            TicketRecipients::One(PlayerId(7)),
            TicketRecipients::List(vec![PlayerId(1), PlayerId(u64::MAX)]),
            TicketRecipients::List(Vec::new()),
            TicketRecipients::All,
        ] {
            assert_eq!(TicketRecipients::decode(&r.encode()), Ok(r));
        }
        assert!(TicketRecipients::decode("some").is_err());
        assert!(
            TicketRecipients::decode("list:1,x")
                .unwrap_err()
                .contains("\"x\"")
        );
    }
}
