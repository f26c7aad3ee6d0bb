//! Resume tokens: a reconnecting client (dropped link, or a rotation's move) gets its session
//! back without a new platform login.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dominion_sim::types::PlayerId;
use ring::rand::{SecureRandom, SystemRandom};

/// Issued tokens with their owner and expiry. A std `Mutex` is right here: every operation is a
/// short map access with no await inside.
pub struct ResumeTokens {
    ttl: Duration,
    rng: SystemRandom,
    tokens: Mutex<HashMap<String, (PlayerId, Instant)>>,
}

impl ResumeTokens {
    /// Tokens valid for `ttl` after issue.
    pub fn new(ttl: Duration) -> Self {
        ResumeTokens {
            ttl,
            rng: SystemRandom::new(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Issues a fresh 256-bit token for `player`, revoking the player's older tokens.
    pub fn issue(&self, player: PlayerId, now: Instant) -> String {
        let mut bytes = [0u8; 32];
        // The OS RNG failing is not recoverable in any useful way for a login server.
        self.rng
            .fill(&mut bytes)
            .expect("the operating system's random source failed");
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (p, exp)| *p != player && *exp > now);
        map.insert(token.clone(), (player, now + self.ttl));
        token
    }

    /// Consumes a token: the player it was issued to, if it is known and not expired.
    /// A token works once; the resumed session gets a new one.
    pub fn redeem(&self, token: &str, now: Instant) -> Option<PlayerId> {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        match map.remove(token) {
            Some((player, exp)) if exp > now => Some(player),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_redeem_once_and_expire() {
        let t0 = Instant::now();
        let tokens = ResumeTokens::new(Duration::from_secs(60));
        let p = PlayerId(7);
        let a = tokens.issue(p, t0);
        assert_eq!(a.len(), 64);
        assert_eq!(tokens.redeem(&a, t0), Some(p));
        assert_eq!(tokens.redeem(&a, t0), None, "a token works once");
        let b = tokens.issue(p, t0);
        assert_eq!(
            tokens.redeem(&b, t0 + Duration::from_secs(61)),
            None,
            "expired"
        );
        let c = tokens.issue(p, t0);
        let d = tokens.issue(p, t0);
        assert_eq!(
            tokens.redeem(&c, t0),
            None,
            "a newer token revokes older ones"
        );
        assert_eq!(tokens.redeem(&d, t0), Some(p));
        assert_eq!(tokens.redeem("nonsense", t0), None);
    }
}
