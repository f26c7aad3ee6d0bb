//! Backend selection from URLs: [`StoreConfig::from_url`] and [`CoordinationConfig::from_url`],
//! and opening the chosen backend as a trait object.
//!
//! Accepted forms:
//! - store: `sqlite:///abs/path/world.db`, `sqlite://relative/world.db` (optional
//!   `?busy_timeout_ms=N`), `mongodb://[user:pass@]host[:port][,host…]/[database][?options]`,
//!   `mongodb+srv://…` (database defaults to `dominion`);
//! - coordination: `embedded:///abs/dir`, `embedded://relative/dir`,
//!   `redis://[:pass@]host[:port][/db][?prefix=P]`, `rediss://…` (prefix defaults to `dominion:`).
//!
//! Errors never echo a password.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::coordination::{Coordination, EmbeddedCoordination, RedisCoordination};
use crate::error::{ConfigError, CoordError, StoreError, redact_url};
use crate::mongo::MongoStore;
use crate::sqlite::{DEFAULT_BUSY_TIMEOUT, SqliteStore};
use crate::store::Store;

/// Which store to open.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An SQLite file.
    Sqlite {
        /// Database file.
        path: PathBuf,
        /// How long a write waits for another process's lock.
        busy_timeout: Duration,
    },
    /// A MongoDB deployment.
    Mongo {
        /// The full connection string (may hold a password; see [`StoreConfig::redacted`]).
        url: String,
    },
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn bad(url: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        url: redact_url(url),
        reason: reason.into(),
    }
}

/// Splits `scheme://rest` and a `?query` off `rest`.
fn split_url(url: &str) -> Option<(&str, &str, Option<&str>)> {
    let (scheme, rest) = url.split_once("://")?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    Some((scheme, path, query))
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

const STORE_FORMS: &str = "expected sqlite:///path/file.db, sqlite://relative/file.db, mongodb://host[:port]/[db] or mongodb+srv://host/[db]";
const COORD_FORMS: &str = "expected embedded:///path/dir, embedded://relative/dir, redis://host[:port][/db][?prefix=P] or rediss://…";

impl StoreConfig {
    /// Parses a store URL (forms in the [module docs](self)).
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let Some((scheme, path, query)) = split_url(url) else {
            return Err(bad(url, format!("no scheme; {STORE_FORMS}")));
        };
        match scheme {
            "sqlite" => {
                if path.is_empty() || path.ends_with('/') {
                    return Err(bad(
                        url,
                        format!("missing database file name; {STORE_FORMS}"),
                    ));
                }
                let mut busy_timeout = DEFAULT_BUSY_TIMEOUT;
                for (k, v) in query_pairs(query) {
                    match k.as_str() {
                        "busy_timeout_ms" => {
                            let ms: u64 = v.parse().map_err(|_| {
                                bad(
                                    url,
                                    format!("busy_timeout_ms must be an integer, got {v:?}"),
                                )
                            })?;
                            busy_timeout = Duration::from_millis(ms);
                        }
                        other => {
                            return Err(bad(
                                url,
                                format!("unknown sqlite option {other:?} (known: busy_timeout_ms)"),
                            ));
                        }
                    }
                }
                Ok(StoreConfig::Sqlite {
                    path: PathBuf::from(path),
                    busy_timeout,
                })
            }
            "mongodb" | "mongodb+srv" => {
                let host = path.split('/').next().unwrap_or("");
                let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
                if host.is_empty() {
                    return Err(bad(url, format!("missing host; {STORE_FORMS}")));
                }
                Ok(StoreConfig::Mongo {
                    url: url.to_string(),
                })
            }
            other => Err(bad(url, format!("unknown scheme {other:?}; {STORE_FORMS}"))),
        }
    }

    /// The URL with any password removed, for logs.
    pub fn redacted(&self) -> String {
        match self {
            StoreConfig::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            StoreConfig::Mongo { url } => redact_url(url),
        }
    }

    /// Opens the configured store.
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            StoreConfig::Sqlite { path, busy_timeout } => {
                Arc::new(SqliteStore::open(path, *busy_timeout).await?)
            }
            StoreConfig::Mongo { url } => Arc::new(MongoStore::connect(url).await?),
        })
    }
}

/// Which coordination backend to open.
#[derive(Clone, PartialEq, Eq)]
pub enum CoordinationConfig {
    /// A SQLite file in a directory.
    Embedded {
        /// Directory holding `coordination.sqlite`.
        dir: PathBuf,
    },
    /// A Redis server.
    Redis {
        /// Connection URL without the `prefix` option (may hold a password).
        url: String,
        /// Prefix of every key.
        prefix: String,
    },
}

impl std::fmt::Debug for CoordinationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Default Redis key prefix.
pub const DEFAULT_REDIS_PREFIX: &str = "dominion:";

impl CoordinationConfig {
    /// Parses a coordination URL (forms in the [module docs](self)).
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let Some((scheme, path, query)) = split_url(url) else {
            return Err(bad(url, format!("no scheme; {COORD_FORMS}")));
        };
        match scheme {
            "embedded" => {
                if path.is_empty() {
                    return Err(bad(url, format!("missing directory; {COORD_FORMS}")));
                }
                if query.is_some() {
                    return Err(bad(url, "embedded coordination takes no options"));
                }
                Ok(CoordinationConfig::Embedded {
                    dir: PathBuf::from(path),
                })
            }
            "redis" | "rediss" => {
                let mut parsed = url::Url::parse(url).map_err(|e| bad(url, e.to_string()))?;
                if parsed.host_str().unwrap_or("").is_empty() {
                    return Err(bad(url, format!("missing host; {COORD_FORMS}")));
                }
                let mut prefix = DEFAULT_REDIS_PREFIX.to_string();
                let mut rest = Vec::new();
                for (k, v) in parsed.query_pairs() {
                    if k == "prefix" {
                        prefix = v.into_owned();
                    } else {
                        rest.push((k.into_owned(), v.into_owned()));
                    }
                }
                if rest.is_empty() {
                    parsed.set_query(None);
                } else {
                    parsed.query_pairs_mut().clear().extend_pairs(rest);
                }
                Ok(CoordinationConfig::Redis {
                    url: parsed.to_string(),
                    prefix,
                })
            }
            other => Err(bad(url, format!("unknown scheme {other:?}; {COORD_FORMS}"))),
        }
    }

    /// The URL with any password removed, for logs.
    pub fn redacted(&self) -> String {
        match self {
            CoordinationConfig::Embedded { dir } => format!("embedded://{}", dir.display()),
            CoordinationConfig::Redis { url, prefix } => {
                format!("{} (prefix {prefix:?})", redact_url(url))
            }
        }
    }

    /// Opens the configured backend (Redis: connects and fails if it does not answer).
    pub async fn open(&self) -> Result<Arc<dyn Coordination>, CoordError> {
        Ok(match self {
            CoordinationConfig::Embedded { dir } => {
                Arc::new(EmbeddedCoordination::open_dir(dir).await?)
            }
            CoordinationConfig::Redis { url, prefix } => {
                Arc::new(RedisCoordination::connect(url, prefix).await?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert_eq!(
            StoreConfig::from_url("sqlite:///var/lib/dominion/world.db?busy_timeout_ms=250")
                .expect("ok"),
            StoreConfig::Sqlite {
                path: "/var/lib/dominion/world.db".into(),
                busy_timeout: Duration::from_millis(250)
            }
        );
        assert_eq!(
            StoreConfig::from_url("sqlite://data/w.db").expect("ok"),
            StoreConfig::Sqlite {
                path: "data/w.db".into(),
                busy_timeout: DEFAULT_BUSY_TIMEOUT
            }
        );
        assert!(matches!(
            StoreConfig::from_url("mongodb://u:p@h1:27017,h2/game?replicaSet=rs0").expect("ok"),
            StoreConfig::Mongo { .. }
        ));
        for bad in [
            "sqlite://",
            "sqlite:///dir/",
            "sqlite:///x.db?busy_timeout_ms=soon",
            "sqlite:///x.db?cache=shared",
            "mongodb://",
            "postgres://h/db",
            "/just/a/path",
        ] {
            assert!(StoreConfig::from_url(bad).is_err(), "{bad} accepted");
        }
        let e = StoreConfig::from_url("mysql://root:hunter2@h/db")
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("hunter2") && e.contains("mysql") && e.contains("sqlite:///"),
            "{e}"
        );
        let dbg = format!(
            "{:?}",
            StoreConfig::from_url("mongodb://u:hunter2@h/db").expect("ok")
        );
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn coordination_urls() {
        assert_eq!(
            CoordinationConfig::from_url("embedded:///run/dominion").expect("ok"),
            CoordinationConfig::Embedded {
                dir: "/run/dominion".into()
            }
        );
        assert_eq!(
            CoordinationConfig::from_url("redis://:pw@127.0.0.1:6380/2?prefix=k7:").expect("ok"),
            CoordinationConfig::Redis {
                url: "redis://:pw@127.0.0.1:6380/2".into(),
                prefix: "k7:".into()
            }
        );
        match CoordinationConfig::from_url("redis://h").expect("ok") {
            CoordinationConfig::Redis { prefix, .. } => assert_eq!(prefix, DEFAULT_REDIS_PREFIX),
            other => panic!("{other:?}"),
        }
        for bad in ["embedded://", "redis://", "memcached://h", "redis"] {
            assert!(CoordinationConfig::from_url(bad).is_err(), "{bad} accepted");
        }
        let e = CoordinationConfig::from_url("zk://u:secret@h")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
    }
}
