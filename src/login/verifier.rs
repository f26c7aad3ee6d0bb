//! Platform token verification (seed 002: openid + platform token).
//!
//! Development accepts any token. Production checks an HMAC-SHA256 token with an expiry, signed
//! with a secret shared with the platform's account service, for one kingdom:
//! `token = "<expiry unix seconds>.<hex hmac_sha256(secret, kingdom + "." + openid + "." + expiry)>"`
//! (`kingdom` is the server id in decimal). A token for another kingdom does not verify, and a
//! token whose expiry lies further ahead than the server's maximum lifetime is refused, so a
//! leaked token is worth one kingdom for a bounded time.

use std::time::Duration;

use ring::hmac;

/// Why a platform token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `<expiry>.<hex mac>`.
    #[error("platform token is malformed (expected <expiry>.<hex mac>)")]
    Malformed,
    /// The expiry has passed.
    #[error("platform token expired at {expiry} (now {now})")]
    Expired {
        /// Token expiry (unix seconds).
        expiry: u64,
        /// Server time (unix seconds).
        now: u64,
    },
    /// The MAC does not match the kingdom, openid and expiry.
    #[error("platform token signature does not match (or it is for another kingdom)")]
    BadSignature,
    /// The expiry lies further ahead than tokens may live.
    #[error(
        "platform token lives too long: expires at {expiry}, at most {max_lifetime_secs} s after now ({now})"
    )]
    TooLong {
        /// Token expiry (unix seconds).
        expiry: u64,
        /// Server time (unix seconds).
        now: u64,
        /// The longest lifetime accepted.
        max_lifetime_secs: u64,
    },
}

/// Checks that a platform token vouches for an openid.
pub trait TokenVerifier: Send + Sync + 'static {
    /// `Ok` if `token` proves `openid` at `now_unix` (seconds).
    fn verify(&self, openid: &str, token: &str, now_unix: u64) -> Result<(), TokenError>;
    /// Name for logs (`dev` or `hmac`).
    fn name(&self) -> &'static str;
}

/// Accepts every token: local development and bots only.
#[derive(Clone, Copy, Debug, Default)]
pub struct DevVerifier;

impl TokenVerifier for DevVerifier {
    fn verify(&self, _: &str, _: &str, _: u64) -> Result<(), TokenError> {
        Ok(())
    }
    fn name(&self) -> &'static str {
        "dev"
    }
}

/// How long a platform token may live by default: a day.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Verifies HMAC-SHA256 tokens signed with a shared secret for one kingdom.
pub struct HmacVerifier {
    key: hmac::Key,
    kingdom: u16,
    max_lifetime: Duration,
}

impl HmacVerifier {
    /// A verifier for tokens signed with `secret` for `kingdom`, refusing expiries more than
    /// `max_lifetime` ahead.
    pub fn new(secret: &[u8], kingdom: u16, max_lifetime: Duration) -> Self {
        HmacVerifier {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            kingdom,
            max_lifetime,
        }
    }
}

fn message(kingdom: u16, openid: &str, expiry: u64) -> String {
    format!("{kingdom}.{openid}.{expiry}")
}

/// Signs a token for `openid` on `kingdom` valid until `expiry` (unix seconds), as the
/// platform would.
pub fn sign_token(secret: &[u8], kingdom: u16, openid: &str, expiry: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, message(kingdom, openid, expiry).as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{expiry}.{hex}")
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

impl TokenVerifier for HmacVerifier {
    fn verify(&self, openid: &str, token: &str, now_unix: u64) -> Result<(), TokenError> {
        let (expiry, mac) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let expiry: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
        let mac = unhex(mac).ok_or(TokenError::Malformed)?;
        // Check the signature first so an attacker learns nothing from expiry handling.
        hmac::verify(
            &self.key,
            message(self.kingdom, openid, expiry).as_bytes(),
            &mac,
        )
        .map_err(|_| TokenError::BadSignature)?;
        if expiry < now_unix {
            return Err(TokenError::Expired {
                expiry,
                now: now_unix,
            });
        }
        let max_lifetime_secs = self.max_lifetime.as_secs();
        if expiry - now_unix > max_lifetime_secs {
            return Err(TokenError::TooLong {
                expiry,
                now: now_unix,
                max_lifetime_secs,
            });
        }
        Ok(())
    }
    fn name(&self) -> &'static str {
        "hmac"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_tokens_verify_and_expire() {
        let v = HmacVerifier::new(b"secret", 7, Duration::from_secs(100_000));
        let t = sign_token(b"secret", 7, "alice", 1_000);
        assert_eq!(v.verify("alice", &t, 999), Ok(()));
        assert_eq!(v.verify("alice", &t, 1_000), Ok(()));
        assert_eq!(
            v.verify("alice", &t, 1_001),
            Err(TokenError::Expired {
                expiry: 1_000,
                now: 1_001
            })
        );
        assert_eq!(v.verify("bob", &t, 10), Err(TokenError::BadSignature));
        let other = sign_token(b"other", 7, "alice", 1_000);
        assert_eq!(v.verify("alice", &other, 10), Err(TokenError::BadSignature));
        // A forged expiry breaks the MAC.
        let forged = t.replacen("1000", "9999", 1);
        assert_eq!(
            v.verify("alice", &forged, 10),
            Err(TokenError::BadSignature)
        );
        for bad in ["", "x", "12", "12.zz", "abc.00", "12.0"] {
            assert_eq!(
                v.verify("alice", bad, 10),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn tokens_are_for_one_kingdom_and_a_bounded_time() {
        let v = HmacVerifier::new(b"secret", 7, Duration::from_secs(3_600));
        let elsewhere = sign_token(b"secret", 8, "alice", 2_000);
        assert_eq!(
            v.verify("alice", &elsewhere, 1_000),
            Err(TokenError::BadSignature)
        );
        let here = sign_token(b"secret", 7, "alice", 4_600);
        assert_eq!(v.verify("alice", &here, 1_000), Ok(()));
        let forever = sign_token(b"secret", 7, "alice", 4_601);
        assert_eq!(
            v.verify("alice", &forever, 1_000),
            Err(TokenError::TooLong {
                expiry: 4_601,
                now: 1_000,
                max_lifetime_secs: 3_600
            })
        );
    }
}
