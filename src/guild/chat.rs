//! Guild chat: each guild's recent messages in memory (the newest `chat_keep`, as stored), the
//! per-member send rate, and the checks a message passes before it is written.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use dominion_net::proto::GuildChatWire;
use dominion_persistence::GuildChatRecord;
use dominion_sim::types::PlayerId;

use super::rules::GuildLimits;

/// Why a message was not sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChatRefusal {
    /// Empty or only spaces.
    #[error("a chat message may not be empty")]
    Empty,
    /// Over the byte limit.
    #[error("the message is {len} bytes, at most {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The member sent too many messages lately.
    #[error("you may send {per_minute} guild chat messages a minute; wait {wait_ms} ms")]
    TooFast {
        /// The rate.
        per_minute: u32,
        /// Until the next one is allowed.
        wait_ms: u64,
    },
}

/// Every guild's recent chat and every member's send budget.
#[derive(Default)]
pub struct Chat {
    /// Per guild, oldest first.
    history: BTreeMap<u64, VecDeque<GuildChatRecord>>,
    /// Per member: tokens left and when they were counted.
    budgets: HashMap<PlayerId, (f64, Instant)>,
}

impl Chat {
    /// The chat as stored (any order), keeping the newest `keep` of each guild.
    pub fn from_records(mut records: Vec<GuildChatRecord>, keep: usize) -> Chat {
        records.sort_by_key(|r| (r.guild, r.id));
        let mut chat = Chat::default();
        for r in records {
            let h = chat.history.entry(r.guild).or_default();
            h.push_back(r);
            if h.len() > keep {
                h.pop_front();
            }
        }
        chat
    }

    /// Checks `text` from `player` and takes one message from their budget.
    pub fn admit(
        &mut self,
        limits: &GuildLimits,
        player: PlayerId,
        text: &str,
        now: Instant,
    ) -> Result<(), ChatRefusal> {
        if text.trim().is_empty() {
            return Err(ChatRefusal::Empty);
        }
        if text.len() > limits.chat_bytes {
            return Err(ChatRefusal::TooLong {
                len: text.len(),
                max: limits.chat_bytes,
            });
        }
        let cap = f64::from(limits.chat_per_minute);
        let per_sec = cap / 60.0;
        let (tokens, at) = self.budgets.entry(player).or_insert((cap, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * per_sec).min(cap);
        *at = now;
        if *tokens < 1.0 {
            return Err(ChatRefusal::TooFast {
                per_minute: limits.chat_per_minute,
                wait_ms: ((1.0 - *tokens) / per_sec * 1000.0).ceil() as u64,
            });
        }
        *tokens -= 1.0;
        Ok(())
    }

    /// The next message of `guild`, and the stored messages it pushes out of the history.
    pub fn next(
        &self,
        limits: &GuildLimits,
        guild: u64,
        from: PlayerId,
        text: String,
        sent_unix_ms: i64,
    ) -> (GuildChatRecord, Vec<String>) {
        let h = self.history.get(&guild);
        let id = h.and_then(|h| h.back()).map_or(1, |m| m.id + 1);
        let len = h.map_or(0, VecDeque::len);
        let drop = (len + 1).saturating_sub(limits.chat_keep);
        let gone = h
            .into_iter()
            .flatten()
            .take(drop)
            .map(|m| GuildChatRecord::key_of(m.guild, m.id))
            .collect();
        (
            GuildChatRecord {
                guild,
                id,
                from,
                sent_unix_ms,
                text,
            },
            gone,
        )
    }

    /// Keeps a written message (and forgets what it pushed out).
    pub fn keep(&mut self, limits: &GuildLimits, m: GuildChatRecord) {
        let h = self.history.entry(m.guild).or_default();
        h.push_back(m);
        while h.len() > limits.chat_keep {
            h.pop_front();
        }
    }

    /// Up to `limit` messages of `guild` with an id below `before` (0: the newest), newest
    /// first.
    pub fn page(&self, guild: u64, before: u64, limit: u16) -> Vec<GuildChatWire> {
        self.history
            .get(&guild)
            .into_iter()
            .flat_map(|h| h.iter().rev())
            .filter(|m| before == 0 || m.id < before)
            .take(usize::from(limit))
            .map(wire)
            .collect()
    }

    /// The stored keys of a guild's messages (to delete with the guild).
    pub fn keys_of(&self, guild: u64) -> Vec<String> {
        self.history
            .get(&guild)
            .into_iter()
            .flatten()
            .map(|m| GuildChatRecord::key_of(m.guild, m.id))
            .collect()
    }

    /// Forgets a disbanded guild's chat.
    pub fn forget(&mut self, guild: u64) {
        self.history.remove(&guild);
    }
}

/// A message on the wire.
pub fn wire(m: &GuildChatRecord) -> GuildChatWire {
    GuildChatWire {
        id: m.id,
        from: m.from.0,
        sent_unix_ms: m.sent_unix_ms,
        text: m.text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> GuildLimits {
        GuildLimits {
            chat_keep: 3,
            chat_per_minute: 2,
            chat_bytes: 10,
            ..GuildLimits::from_config(&dominion_sim::config::GuildsConfig::default())
        }
    }

    #[test]
    fn a_member_sends_at_the_configured_rate_and_no_faster() {
        let l = limits();
        let mut c = Chat::default();
        let t0 = Instant::now();
        let p = PlayerId(1);
        assert_eq!(c.admit(&l, p, " ", t0), Err(ChatRefusal::Empty));
        assert_eq!(
            c.admit(&l, p, "12345678901", t0),
            Err(ChatRefusal::TooLong { len: 11, max: 10 })
        );
        c.admit(&l, p, "a", t0).unwrap();
        c.admit(&l, p, "b", t0).unwrap();
        assert_eq!(
            c.admit(&l, p, "c", t0),
            Err(ChatRefusal::TooFast {
                per_minute: 2,
                wait_ms: 30_000
            })
        );
        // Another member has a budget of their own; time refills it.
        c.admit(&l, PlayerId(2), "d", t0).unwrap();
        c.admit(&l, p, "e", t0 + std::time::Duration::from_secs(30))
            .unwrap();
    }

    #[test]
    fn the_history_keeps_the_newest_and_pages_newest_first() {
        let l = limits();
        let mut c = Chat::default();
        let mut gone_all = Vec::new();
        for i in 0..5 {
            let (m, gone) = c.next(&l, 7, PlayerId(1), format!("m{i}"), i);
            gone_all.extend(gone);
            c.keep(&l, m);
        }
        assert_eq!(
            gone_all,
            vec![GuildChatRecord::key_of(7, 1), GuildChatRecord::key_of(7, 2)]
        );
        let ids: Vec<u64> = c.page(7, 0, 10).iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![5, 4, 3]);
        let ids: Vec<u64> = c.page(7, 5, 1).iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![4]);
        assert!(c.page(8, 0, 10).is_empty());
    }
}
