//! Who may use the admin API: bearer tokens read from a file, compared in constant time.
//!
//! The token file holds one token per line (blank lines and `#` comments ignored; at least 16
//! characters each). Without a file, on a loopback address only, the server makes a random
//! token and writes it to `<data>/admin.token` (owner-only permissions). A token is never
//! logged; request logs carry the method, path and status only.
//!
//! Tokens carry no names: what a request's token did is recorded under its [`Operator`] label
//! (`token:` and the first 8 hex digits of the token's SHA-256), stable for a token and useless
//! for presenting it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ring::digest::{SHA256, digest};

use super::error::ApiError;

/// Shortest token accepted from a token file.
pub const MIN_TOKEN_LEN: usize = 16;

/// The accepted tokens (their SHA-256 digests: comparing digests keeps the comparison's time
/// independent of the tokens' lengths).
#[derive(Clone)]
pub struct Tokens {
    digests: Arc<Vec<[u8; 32]>>,
}

/// Why the admin API cannot start with these tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The token file has no usable token, or a short one.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A non-loopback address without a token file.
    #[error(
        "refusing to serve the admin API on {0} (not a loopback address) without --admin-token-file"
    )]
    NeedsTokenFile(SocketAddr),
    /// The system's random generator failed.
    #[error("generating an admin token failed")]
    Random,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// Who made a request, as audits record it: the label of the token it presented (never the
/// token). Set by [`require_token`] on every accepted request; handlers take it as an
/// `Extension<Operator>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator(pub String);

impl Operator {
    /// The label of `token`: `token:` and the first 8 hex digits of its SHA-256.
    pub fn of_token(token: &str) -> Operator {
        let d = sha256(token.as_bytes());
        let hex: String = d[..4].iter().map(|b| format!("{b:02x}")).collect();
        Operator(format!("token:{hex}"))
    }
}

/// Equal in time independent of where the inputs differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Tokens {
    /// The tokens listed in `text` (one per line).
    pub fn parse(path: &Path, text: &str) -> Result<Tokens, TokenError> {
        let mut digests = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let token = line.trim();
            if token.is_empty() || token.starts_with('#') {
                continue;
            }
            if token.len() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
                return Err(TokenError::Invalid {
                    path: path.to_owned(),
                    message: format!(
                        "line {}: a token must be at least {MIN_TOKEN_LEN} characters without spaces",
                        i + 1
                    ),
                });
            }
            digests.push(sha256(token.as_bytes()));
        }
        if digests.is_empty() {
            return Err(TokenError::Invalid {
                path: path.to_owned(),
                message: "no token in the file".into(),
            });
        }
        Ok(Tokens {
            digests: Arc::new(digests),
        })
    }

    /// Reads the token file.
    pub fn read(path: &Path) -> Result<Tokens, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io {
            path: path.to_owned(),
            source,
        })?;
        Tokens::parse(path, &text)
    }

    /// The tokens for an admin API on `addr`: the token file's, or (loopback only) a fresh one
    /// written to `generated` with owner-only permissions. Returns the file the tokens are in.
    pub fn for_address(
        addr: SocketAddr,
        file: Option<&Path>,
        generated: &Path,
    ) -> Result<(Tokens, PathBuf), TokenError> {
        if let Some(file) = file {
            return Ok((Tokens::read(file)?, file.to_owned()));
        }
        if !addr.ip().is_loopback() {
            return Err(TokenError::NeedsTokenFile(addr));
        }
        let mut raw = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
            .map_err(|_| TokenError::Random)?;
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        write_private(generated, &format!("{token}\n")).map_err(|source| TokenError::Io {
            path: generated.to_owned(),
            source,
        })?;
        Ok((Tokens::parse(generated, &token)?, generated.to_owned()))
    }

    /// True when `token` is one of the accepted tokens.
    pub fn accepts(&self, token: &str) -> bool {
        let d = sha256(token.as_bytes());
        // Every token is compared, whichever matches.
        self.digests.iter().fold(false, |ok, t| ok | same(t, &d))
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// The token a request carries: `Authorization: Bearer <token>`, or, for the map page and its
/// stream only (a browser can't set headers on a page load or a WebSocket), `?token=<token>`.
fn presented(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    if request.uri().path().starts_with("/map") {
        return request.uri().query()?.split('&').find_map(|pair| {
            pair.strip_prefix("token=")
                .map(|t| percent_decode(t).unwrap_or_default())
        });
    }
    None
}

/// Decodes `%XX` escapes (tokens are plain ASCII; anything else fails to match anyway).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Middleware: refuses a request without an accepted token with 401; logs method, path and
/// status of every request (successful reads at debug level; never the token, the query or the
/// headers).
pub async fn require_token(
    State(tokens): State<Tokens>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let operator = presented(&request)
        .filter(|t| tokens.accepts(t))
        .map(|t| Operator::of_token(&t));
    let response = match operator {
        Some(operator) => {
            request.extensions_mut().insert(operator);
            next.run(request).await
        }
        None => ApiError::unauthorized().into_response(),
    };
    let status = response.status().as_u16();
    // Reads that succeed are routine (an open map page polls status every second); changes and
    // refusals are what an operator audits.
    if method == axum::http::Method::GET && response.status().is_success() {
        tracing::debug!(%method, path, status, "admin request");
    } else {
        tracing::info!(%method, path, status, "admin request");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_tokens_are_accepted() {
        let t = Tokens::parse(
            Path::new("t"),
            "# operators\n0123456789abcdef\n\n  fedcba9876543210xyz  \n",
        )
        .unwrap();
        assert!(t.accepts("0123456789abcdef"));
        assert!(t.accepts("fedcba9876543210xyz"));
        assert!(!t.accepts("0123456789abcdeF"));
        assert!(!t.accepts(""));
    }

    #[test]
    fn short_or_missing_tokens_are_refused() {
        let e = Tokens::parse(Path::new("t"), "short\n").err().unwrap();
        assert_eq!(
            e.to_string(),
            "t: line 1: a token must be at least 16 characters without spaces"
        );
        let e = Tokens::parse(Path::new("t"), "# none\n").err().unwrap();
        assert_eq!(e.to_string(), "t: no token in the file");
    }

    #[test]
    fn a_public_address_needs_a_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = Tokens::for_address(
            "0.0.0.0:9101".parse().unwrap(),
            None,
            &dir.path().join("admin.token"),
        )
        .err()
        .unwrap();
        assert!(matches!(e, TokenError::NeedsTokenFile(_)));
        let (t, file) = Tokens::for_address(
            "127.0.0.1:0".parse().unwrap(),
            None,
            &dir.path().join("admin.token"),
        )
        .unwrap();
        let token = std::fs::read_to_string(&file).unwrap();
        assert!(t.accepts(token.trim()));
    }

    #[test]
    fn an_operator_label_is_stable_short_and_not_the_token() {
        let a = Operator::of_token("0123456789abcdef");
        assert_eq!(a, Operator::of_token("0123456789abcdef"));
        assert_ne!(a, Operator::of_token("0123456789abcdeF"));
        // sha256("0123456789abcdef") starts 9f9f5111.
        assert_eq!(a.0, "token:9f9f5111");
    }

    #[test]
    fn escaped_query_tokens_decode() {
        assert_eq!(percent_decode("ab%2Bcd").as_deref(), Some("ab+cd"));
        assert_eq!(percent_decode("ab%2"), None);
    }
}
