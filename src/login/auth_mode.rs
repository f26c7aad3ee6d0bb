//! Which platform-token verifier `serve` runs with, decided once at start-up.
//!
//! With a secret: HMAC tokens. Without one, the development verifier accepts any token, so it
//! is allowed only where nobody else can reach the server (a loopback `--listen`), or when the
//! operator asked for it by name (`--insecure-dev-login`); a warning goes to the log either way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::verifier::{DevVerifier, HmacVerifier, TokenVerifier};

/// Why the server refuses to start with the login settings it was given.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthModeError {
    /// No secret, and clients from other machines could reach the dev verifier.
    #[error(
        "no --auth-secret-file and --listen {listen} is not a loopback address: any login token \
         would be accepted from the network. Give --auth-secret-file, or pass \
         --insecure-dev-login to run open on purpose"
    )]
    OpenOnNetwork {
        /// The listen address.
        listen: SocketAddr,
    },
    /// The secret file held nothing but whitespace.
    #[error(
        "the --auth-secret-file is empty (or only whitespace): an empty HMAC key proves nothing"
    )]
    EmptySecret,
}

/// How `serve` checks platform tokens.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// HMAC secret (already read from its file); `None` = development login.
    pub secret: Option<Vec<u8>>,
    /// Run the development login on a non-loopback address.
    pub insecure_dev_login: bool,
    /// The kingdom tokens must be signed for (the server id).
    pub kingdom: u16,
    /// The longest a token may live (expiry minus now).
    pub max_token_lifetime: Duration,
}

/// The verifier for `auth` at `listen`.
pub fn choose_verifier(
    auth: &AuthSettings,
    listen: SocketAddr,
) -> Result<Arc<dyn TokenVerifier>, AuthModeError> {
    let insecure_dev_login = auth.insecure_dev_login;
    match auth.secret.as_deref() {
        Some(s) if s.trim_ascii().is_empty() => Err(AuthModeError::EmptySecret),
        Some(s) => Ok(Arc::new(HmacVerifier::new(
            s.trim_ascii(),
            auth.kingdom,
            auth.max_token_lifetime,
        ))),
        None if listen.ip().is_loopback() => {
            tracing::warn!(
                %listen,
                "no --auth-secret-file: development login, ANY token is accepted (loopback only)"
            );
            Ok(Arc::new(DevVerifier))
        }
        None if insecure_dev_login => {
            tracing::warn!(
                %listen,
                "--insecure-dev-login: ANY login token is accepted from the network"
            );
            Ok(Arc::new(DevVerifier))
        }
        None => Err(AuthModeError::OpenOnNetwork { listen }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(
        secret: Option<&[u8]>,
        listen: SocketAddr,
        insecure_dev_login: bool,
    ) -> Result<Arc<dyn TokenVerifier>, AuthModeError> {
        let auth = AuthSettings {
            secret: secret.map(<[u8]>::to_vec),
            insecure_dev_login,
            kingdom: 1,
            max_token_lifetime: Duration::from_secs(60),
        };
        choose_verifier(&auth, listen)
    }

    #[test]
    fn open_login_only_on_loopback_or_on_request() {
        let lo: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let lo6: SocketAddr = "[::1]:4433".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:4433".parse().unwrap();
        assert_eq!(choose(None, lo, false).unwrap().name(), "dev");
        assert_eq!(choose(None, lo6, false).unwrap().name(), "dev");
        assert_eq!(
            choose(None, any, false).err(),
            Some(AuthModeError::OpenOnNetwork { listen: any })
        );
        assert_eq!(choose(None, any, true).unwrap().name(), "dev");
        assert_eq!(choose(Some(b"k"), any, false).unwrap().name(), "hmac");
        for empty in [&b""[..], b"  \n\t "] {
            assert_eq!(
                choose(Some(empty), lo, true).err(),
                Some(AuthModeError::EmptySecret)
            );
        }
    }
}
