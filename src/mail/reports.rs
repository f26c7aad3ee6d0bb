//! Battle and scout reports as mail: one per player per report (every side of a battle, the
//! owners of reinforcements included), whose body is the same [`PlayerEvent`] an online player
//! got pushed.

use std::time::Duration;

use dominion_net::proto::PlayerEvent;
use dominion_net::proto::mail::encode_report;
use dominion_net::proto::notice::EventBody;
use dominion_persistence::{MailKind, NewMail};
use dominion_sim::player_events::Notice;
use dominion_sim::types::PlayerId;

/// The report mails of one tick's notices (sent at `now_unix_ms`, expiring after `ttl`).
pub fn report_mails(
    tick: u64,
    notices: &[(PlayerId, Notice)],
    now_unix_ms: i64,
    ttl: Duration,
) -> Vec<NewMail> {
    let expires = now_unix_ms.saturating_add(ttl.as_millis().min(i64::MAX as u128) as i64);
    let mut out = Vec::new();
    for (player, notice) in notices {
        let (kind, title) = match notice {
            Notice::Battle(r) => {
                let attacking = r.attackers.iter().any(|p| p.who.player() == Some(*player));
                let won = attacking == r.attacker_won;
                (
                    MailKind::Battle,
                    format!(
                        "Battle #{} at ({}, {}): {}",
                        r.battle,
                        r.at.x,
                        r.at.y,
                        if won { "victory" } else { "defeat" }
                    ),
                )
            }
            Notice::Scout { target, .. } => {
                (MailKind::Scout, format!("Scout report on #{}", target.0))
            }
            _ => continue,
        };
        out.push(NewMail {
            player: *player,
            kind,
            sent_unix_ms: now_unix_ms,
            expires_unix_ms: Some(expires),
            title,
            body: encode_report(&PlayerEvent {
                tick,
                event: EventBody::of(notice),
            }),
            attachments: Vec::new(),
        });
    }
    out
}
