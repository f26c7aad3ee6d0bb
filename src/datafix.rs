//! `dominion datafix [--dry-run]`: runs the registered schema migrations over every stored
//! document (each at most once), or lists what they would change.

use std::path::Path;

use anyhow::Context;
use dominion_persistence::migrate::render_plan;
use dominion_persistence::{Migrations, StoreConfig, plan_migrations};

/// Runs (or plans) the data fixes; returns the printed report.
pub fn run(data: &Path, store_url: Option<&str>, dry_run: bool) -> anyhow::Result<String> {
    let url = store_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}", data.join("dominion.db").display()));
    let cfg = StoreConfig::from_url(&url).context("--store")?;
    if let StoreConfig::Sqlite { path, .. } = &cfg
        && !path.exists()
    {
        anyhow::bail!("no store at {} (nothing to fix)", path.display());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = cfg
            .open()
            .await
            .with_context(|| format!("opening {}", cfg.redacted()))?;
        let plan = plan_migrations(store.as_ref(), &Migrations::builtin(), dry_run).await?;
        Ok(render_plan(&plan, dry_run))
    })
}
