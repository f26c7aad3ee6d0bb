//! Designer configs kept beside the journal by digest, so a replay can run every tick on the
//! exact config it ran on: a record names a config by its BLAKE3 digest, the texts live in
//! `configs/<digest hex>.json` (file name → text), written durably before any record names them.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::file::JournalError;

/// The config store of one journal folder.
#[derive(Clone, Debug)]
pub struct ConfigBlobs {
    dir: PathBuf,
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl ConfigBlobs {
    /// The configs of the journal in `journal_dir`.
    pub fn new(journal_dir: &Path) -> ConfigBlobs {
        ConfigBlobs {
            dir: journal_dir.join("configs"),
        }
    }

    fn path(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}.json", hex(digest)))
    }

    /// Keeps `files` under `digest` (durably: written, synced, renamed into place, folder
    /// synced). A digest already kept is left as it is.
    pub fn put(
        &self,
        digest: &[u8; 32],
        files: &BTreeMap<String, String>,
    ) -> Result<(), JournalError> {
        let path = self.path(digest);
        if path.exists() {
            return Ok(());
        }
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(io)?;
        let json = serde_json::to_vec(files).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = self.dir.join(format!("{}.tmp", hex(digest)));
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }

    /// The texts kept under `digest`, if any.
    pub fn get(&self, digest: &[u8; 32]) -> Result<Option<BTreeMap<String, String>>, JournalError> {
        let path = self.path(digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(JournalError::Io { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| JournalError::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_round_trip_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = ConfigBlobs::new(dir.path());
        let mut files = BTreeMap::new();
        files.insert("world.toml".to_owned(), "tick_hz = 10\n".to_owned());
        assert_eq!(blobs.get(&[1; 32]).unwrap(), None);
        blobs.put(&[1; 32], &files).unwrap();
        blobs.put(&[1; 32], &files).unwrap();
        assert_eq!(blobs.get(&[1; 32]).unwrap(), Some(files));
    }
}
