//! Watches the assets folder and hands validated configs (or their errors) to the tick loop.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use dominion_sim::config::{AssetErrors, Assets};
use notify::{RecursiveMode, Watcher};

use crate::assets::load_dir;

/// What a change to the assets folder produced.
pub type Reload = Result<Assets, AssetErrors>;

/// Quiet time after the last file event before reloading, so an editor's save (often several
/// writes and a rename) is read once, whole.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Keeps the watcher alive; dropping it stops watching.
pub struct AssetWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Starts watching `dir`; every settled change is parsed and sent on `out`.
pub fn watch_assets(dir: &Path, out: mpsc::Sender<Reload>) -> notify::Result<AssetWatcher> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && !ev.kind.is_access()
        {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    let dir: PathBuf = dir.to_owned();
    std::thread::Builder::new()
        .name("asset-watch".into())
        .spawn(move || {
            // Ends when the watcher (and so `tx`) is dropped.
            while rx.recv().is_ok() {
                while rx.recv_timeout(DEBOUNCE).is_ok() {}
                if out.send(load_dir(&dir)).is_err() {
                    break;
                }
            }
        })
        .map_err(notify::Error::io)?;
    Ok(AssetWatcher { _watcher: watcher })
}
