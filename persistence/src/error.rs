//! Error types of the persistence layer: [`StoreError`], [`CoordError`] and [`ConfigError`].
//!
//! Every variant names what failed (backend, redacted URL, collection, document id, versions) so
//! an operator can act on the message alone. Nothing here decides whether to retry; see
//! [`StoreError::is_retryable`].

use std::fmt;

use crate::records::KingdomId;

/// Which store collection an error refers to, as stored (`"players"`, `"map_objects"`, ...).
pub type CollectionName = &'static str;

/// Errors from a [`crate::Store`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the connection; retrying later may succeed.
    #[error("{backend} store at {url} is unavailable: {reason}")]
    Unavailable {
        /// `"sqlite"` or `"mongodb"`.
        backend: &'static str,
        /// The store URL with any password removed.
        url: String,
        /// What the driver reported.
        reason: String,
    },
    /// The database answered but the operation failed (constraint, lock held too long, I/O).
    #[error("{backend} store at {url}: {operation} failed: {reason}")]
    Backend {
        /// `"sqlite"` or `"mongodb"`.
        backend: &'static str,
        /// The store URL with any password removed.
        url: String,
        /// The operation that failed, e.g. `"apply write batch"`.
        operation: &'static str,
        /// What the driver reported.
        reason: String,
    },
    /// A write carried an epoch that is not the kingdom's current owner epoch: another instance
    /// owns the kingdom now. The write was not applied.
    #[error(
        "stale epoch for kingdom {kingdom}: writer holds epoch {held}, store's current epoch is {current}"
    )]
    StaleEpoch {
        /// The kingdom written to.
        kingdom: KingdomId,
        /// The epoch the writer presented.
        held: u64,
        /// The epoch in the store (0 when no instance has ever acquired the kingdom).
        current: u64,
    },
    /// The database answers but lacks something saves need (MongoDB without transactions: a
    /// standalone server); `remedy` says what to do. Retrying does not help.
    #[error("{backend} store at {url} cannot hold a kingdom: {reason}; {remedy}")]
    Unsupported {
        /// `"sqlite"` or `"mongodb"`.
        backend: &'static str,
        /// The store URL with any password removed.
        url: String,
        /// What is missing, with what the driver reported.
        reason: String,
        /// What the operator can do.
        remedy: &'static str,
    },
    /// A stored document could not be decoded.
    #[error("corrupt document {id} in collection {collection}: {reason}")]
    Corrupt {
        /// Collection holding the document.
        collection: CollectionName,
        /// The document's `_id` (or the row key when even that is unreadable).
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A data-fix migration failed on a document; the document was left as stored.
    #[error(
        "migration of {collection} document {id} from schema version {from} to {to} failed: {reason}"
    )]
    Migration {
        /// Collection holding the document.
        collection: CollectionName,
        /// The document's `_id`.
        id: String,
        /// Schema version before the failing step.
        from: i32,
        /// Schema version the failing step targets.
        to: i32,
        /// What the migration reported.
        reason: String,
    },
    /// A document carries a schema version newer than this binary knows: it was written by a
    /// newer server version. Loading it would silently drop fields, so it is refused.
    #[error(
        "{collection} document {id} has schema version {found}, newer than this server's {supported}"
    )]
    FutureSchema {
        /// Collection holding the document.
        collection: CollectionName,
        /// The document's `_id`.
        id: String,
        /// Version found in the store.
        found: i32,
        /// Highest version this binary supports.
        supported: i32,
    },
    /// A chunked snapshot is incomplete or fails its checksum.
    #[error("snapshot {snapshot} of kingdom {kingdom} is invalid: {reason}")]
    Snapshot {
        /// The kingdom.
        kingdom: KingdomId,
        /// The snapshot id.
        snapshot: String,
        /// What is wrong.
        reason: String,
    },
    /// The caller asked for something the store cannot do (e.g. an epoch that does not move
    /// forward, an id that is not valid).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl StoreError {
    /// True when the same operation may succeed later without any change by the caller
    /// (database down, lock contention). Stale epochs, corrupt data and invalid requests are not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Backend { .. }
        )
    }
}

/// Errors from a [`crate::Coordination`] backend.
#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// The backend could not be reached.
    #[error("{backend} coordination at {url} is unavailable: {reason}")]
    Unavailable {
        /// `"redis"` or `"embedded"`.
        backend: &'static str,
        /// The URL with any password removed.
        url: String,
        /// What the driver reported.
        reason: String,
    },
    /// The backend answered but the operation failed.
    #[error("{backend} coordination at {url}: {operation} failed: {reason}")]
    Backend {
        /// `"redis"` or `"embedded"`.
        backend: &'static str,
        /// The URL with any password removed.
        url: String,
        /// The operation that failed.
        operation: &'static str,
        /// What the driver reported.
        reason: String,
    },
    /// A stored value could not be decoded.
    #[error("corrupt coordination entry {key}: {reason}")]
    Corrupt {
        /// The key or row.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The caller passed something unusable (empty name, zero TTL).
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// Errors parsing a [`crate::StoreConfig`] or [`crate::CoordinationConfig`] URL.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The URL as given, with any password removed.
    pub url: String,
    /// What is wrong with it and what forms are accepted.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad URL {:?}: {}", self.url, self.reason)
    }
}

/// Removes the password from a URL-like string (`scheme://user:pass@host` → `scheme://user:***@host`).
///
/// Works on strings that do not parse as URLs too, so it is safe on any input.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let redacted = match userinfo.find(':') {
                Some(colon) => format!("{}:***", &userinfo[..colon]),
                None => userinfo.to_string(),
            };
            format!("{}{}{}", &url[..scheme_end + 3], redacted, &rest[at..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("mongodb://admin:s3cret@db1:27017,db2/x?w=1"),
            "mongodb://admin:***@db1:27017,db2/x?w=1"
        );
        assert_eq!(redact_url("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact_url("sqlite:///tmp/a@b.db"), "sqlite:///tmp/a@b.db");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
