//! Data fixes: the registry of schema migrations `(collection, from_version) -> fn`, applied in
//! order to documents older than the collection's current version, and the planner/runner behind
//! `dominion datafix [--dry-run]`.
//!
//! A migration is a plain function over the BSON document, so it runs identically on every
//! backend. On load ([`crate::load_records`]) migrated documents are written back with a
//! compare-and-set on the old version, so each migration runs at most once per document.
//!
//! Not here: deciding when to run the data fix (the root binary) or changing record types
//! ([`crate::records`]).

use std::collections::BTreeMap;

use bson::{Bson, Document};

use crate::error::StoreError;
use crate::records::{Collection, StoredDoc};
use crate::store::Store;

/// A migration step: rewrites a document of version `from` into version `from + 1` in place
/// (the registry sets `schema_version`). The error text is reported with collection, id and
/// versions.
pub type MigrationFn = fn(&mut Document) -> Result<(), String>;

/// The registry of migrations, keyed by `(collection, from_version)`.
#[derive(Clone, Default)]
pub struct Migrations {
    steps: BTreeMap<(Collection, i32), (&'static str, MigrationFn)>,
}

impl std::fmt::Debug for Migrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.steps
                    .iter()
                    .map(|((c, v), (name, _))| format!("{c} v{v}->v{}: {name}", v + 1)),
            )
            .finish()
    }
}

impl Migrations {
    /// An empty registry (documents at an old version then fail to load).
    pub fn empty() -> Self {
        Migrations::default()
    }

    /// Every migration this server ships with, checked to form a complete chain from version 1
    /// to each collection's current version.
    pub fn builtin() -> Self {
        let mut m = Migrations::empty();
        m.register(
            Collection::Players,
            1,
            "players: resources fields food/wood/stone/gold -> array",
            players_v1_to_v2,
        );
        m.register(
            Collection::Players,
            2,
            "players: an empty ledger of applied grants",
            players_v2_to_v3,
        );
        debug_assert!(m.check_complete().is_ok(), "{:?}", m.check_complete());
        m
    }

    /// Registers the step from `from` to `from + 1` of `collection`, replacing any earlier one.
    pub fn register(
        &mut self,
        collection: Collection,
        from: i32,
        name: &'static str,
        step: MigrationFn,
    ) -> &mut Self {
        self.steps.insert((collection, from), (name, step));
        self
    }

    /// Checks that every collection has a step for each version from 1 up to its current one.
    pub fn check_complete(&self) -> Result<(), String> {
        for c in Collection::ALL {
            for v in 1..c.current_version() {
                if !self.steps.contains_key(&(c, v)) {
                    return Err(format!(
                        "no migration registered for {c} v{v} -> v{}",
                        v + 1
                    ));
                }
            }
        }
        Ok(())
    }

    /// Migrates `doc` to its collection's current version. Returns whether anything changed.
    /// A document newer than this server is refused with [`StoreError::FutureSchema`]; a failing
    /// step leaves `doc` untouched and returns [`StoreError::Migration`].
    pub fn migrate(&self, doc: &mut StoredDoc) -> Result<bool, StoreError> {
        let target = doc.collection.current_version();
        if doc.schema_version > target {
            return Err(StoreError::FutureSchema {
                collection: doc.collection.name(),
                id: doc.id.clone(),
                found: doc.schema_version,
                supported: target,
            });
        }
        if doc.schema_version == target {
            return Ok(false);
        }
        let mut body = doc.body.clone();
        let mut version = doc.schema_version;
        while version < target {
            let fail = |reason: String| StoreError::Migration {
                collection: doc.collection.name(),
                id: doc.id.clone(),
                from: version,
                to: version + 1,
                reason,
            };
            let Some((_, step)) = self.steps.get(&(doc.collection, version)) else {
                return Err(fail("no migration registered for this step".into()));
            };
            step(&mut body).map_err(fail)?;
            version += 1;
        }
        doc.body = body;
        doc.set_schema_version(version);
        Ok(true)
    }
}

/// players v1 → v2: the four resource fields `food`, `wood`, `stone`, `gold` become the array
/// `resources` in [`dominion_sim::types::ResourceKind::ALL`] order. A missing field counts as 0;
/// a non-integer or negative one fails the migration.
pub fn players_v1_to_v2(doc: &mut Document) -> Result<(), String> {
    let mut amounts = Vec::with_capacity(4);
    for name in ["food", "wood", "stone", "gold"] {
        let v = match doc.remove(name) {
            None | Some(Bson::Null) => 0,
            Some(Bson::Int64(v)) if v >= 0 => v,
            Some(Bson::Int32(v)) if v >= 0 => i64::from(v),
            Some(Bson::Double(v)) if v >= 0.0 && v.fract() == 0.0 && v < 9.0e18 => v as i64,
            Some(other) => {
                return Err(format!(
                    "field {name}: expected a non-negative integer, found {other}"
                ));
            }
        };
        amounts.push(Bson::Int64(v));
    }
    doc.insert("resources", Bson::Array(amounts));
    Ok(())
}

/// Players v2 -> v3: adds the ledger of applied grants, empty (no grant was applied before it
/// existed).
pub fn players_v2_to_v3(doc: &mut Document) -> Result<(), String> {
    if !doc.contains_key("grants") {
        doc.insert(
            "grants",
            bson::doc! { "floor": 0_i64, "applied": Bson::Array(Vec::new()) },
        );
    }
    Ok(())
}

/// What a data fix found (and, unless dry run, did) in one collection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectionPlan {
    /// Schema version documents are migrated to.
    pub target_version: i32,
    /// Number of documents below the target version.
    pub outdated: usize,
    /// Outdated documents per stored version.
    pub by_version: BTreeMap<i32, usize>,
    /// Up to [`EXAMPLE_IDS`] ids of outdated documents.
    pub example_ids: Vec<String>,
    /// Documents whose migration succeeds (in memory for a dry run).
    pub would_migrate: usize,
    /// Documents actually rewritten (0 for a dry run; may be below `would_migrate` when a newer
    /// save replaced a document meanwhile).
    pub written: usize,
    /// Migration failures: the error text of each (first [`EXAMPLE_IDS`] only), and the count.
    pub failures: Vec<String>,
    /// Total number of failing documents.
    pub failed: usize,
}

/// How many example ids and failures a plan lists per collection.
pub const EXAMPLE_IDS: usize = 5;

/// The result of [`plan_migrations`], per collection name.
pub type MigrationPlan = BTreeMap<&'static str, CollectionPlan>;

/// Finds every outdated document in every collection (all kingdoms), runs its migrations in
/// memory and reports counts and example ids. Unless `dry_run`, writes the migrated documents
/// back (compare-and-set on the old version). Migration failures are reported, not fatal.
pub async fn plan_migrations(
    store: &dyn Store,
    migrations: &Migrations,
    dry_run: bool,
) -> Result<MigrationPlan, StoreError> {
    let mut plan = MigrationPlan::new();
    for c in Collection::ALL {
        let target = c.current_version();
        let mut p = CollectionPlan {
            target_version: target,
            ..CollectionPlan::default()
        };
        let docs = store.scan_outdated(c, target).await?;
        let mut write_back = Vec::new();
        for mut doc in docs {
            p.outdated += 1;
            *p.by_version.entry(doc.schema_version).or_default() += 1;
            if p.example_ids.len() < EXAMPLE_IDS {
                p.example_ids.push(doc.id.clone());
            }
            let old = doc.schema_version;
            match migrations.migrate(&mut doc) {
                Ok(_) => {
                    p.would_migrate += 1;
                    if !dry_run {
                        write_back.push((doc, old));
                    }
                }
                Err(e) => {
                    p.failed += 1;
                    if p.failures.len() < EXAMPLE_IDS {
                        p.failures.push(e.to_string());
                    }
                }
            }
        }
        for chunk in write_back.chunks(1000) {
            p.written += store.replace_if_version(chunk).await?;
        }
        plan.insert(c.name(), p);
    }
    Ok(plan)
}

/// Renders a plan as the text `dominion datafix [--dry-run]` prints: one line per collection,
/// then example ids and failures.
pub fn render_plan(plan: &MigrationPlan, dry_run: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "data fix {}:",
        if dry_run {
            "plan (dry run, nothing written)"
        } else {
            "run"
        }
    );
    for (name, p) in plan {
        let versions: Vec<String> = p
            .by_version
            .iter()
            .map(|(v, n)| format!("v{v}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  {name}: {} outdated (target v{}){}; {} {}, {} failing, {} written",
            p.outdated,
            p.target_version,
            if versions.is_empty() {
                String::new()
            } else {
                format!(" [{}]", versions.join(", "))
            },
            p.would_migrate,
            if dry_run { "would migrate" } else { "migrated" },
            p.failed,
            p.written,
        );
        if !p.example_ids.is_empty() {
            let _ = writeln!(out, "    e.g. {}", p.example_ids.join(", "));
        }
        for f in &p.failures {
            let _ = writeln!(out, "    FAILED: {f}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{KingdomId, PlayerRecord};
    use bson::doc;

    #[test]
    fn plan_renders_counts_examples_and_failures() {
        let mut plan = MigrationPlan::new();
        plan.insert(
            "players",
            CollectionPlan {
                target_version: 2,
                outdated: 3,
                by_version: [(1, 3)].into_iter().collect(),
                example_ids: vec!["1:65537".into()],
                would_migrate: 2,
                written: 0,
                failures: vec!["migration of players document 1:9 failed".into()],
                failed: 1,
            },
        );
        let text = render_plan(&plan, true);
        assert!(text.contains("dry run"), "{text}");
        assert!(
            text.contains(
                "players: 3 outdated (target v2) [v1: 3]; 2 would migrate, 1 failing, 0 written"
            ),
            "{text}"
        );
        assert!(
            text.contains("e.g. 1:65537")
                && text.contains("FAILED: migration of players document 1:9"),
            "{text}"
        );
    }

    #[test]
    fn builtin_chain_is_complete() {
        assert_eq!(Migrations::builtin().check_complete(), Ok(()));
        assert!(Migrations::empty().check_complete().is_err());
    }

    #[test]
    fn v1_player_migrates_and_decodes() {
        let mut d = StoredDoc::new(
            Collection::Players,
            KingdomId(3),
            "42",
            1,
            doc! { "player": 42_i64, "name": "old", "city_id": 8_i64, "city": [1, 2], "troops": [5_i64],
            "wounded": [], "food": 10_i64, "wood": 20_i32, "gold": 40_i64 },
        );
        assert!(Migrations::builtin().migrate(&mut d).expect("migrates"));
        assert_eq!(d.schema_version, 3);
        let p: PlayerRecord = d.decode().expect("decodes");
        assert_eq!(p.resources.0, [10, 20, 0, 40]);
        assert_eq!(p.grants, crate::records::GrantsRecord::default());
        assert!(!Migrations::builtin().migrate(&mut d).expect("no-op"));
    }

    #[test]
    fn failing_and_future_documents_are_named() {
        let mut bad = StoredDoc::new(
            Collection::Players,
            KingdomId(3),
            "7",
            1,
            doc! { "food": "lots" },
        );
        let before = bad.clone();
        let e = Migrations::builtin()
            .migrate(&mut bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("players")
                && e.contains("3:7")
                && e.contains("version 1 to 2")
                && e.contains("food"),
            "{e}"
        );
        assert_eq!(bad, before);
        let mut future = StoredDoc::new(Collection::Players, KingdomId(3), "8", 9, doc! {});
        assert!(matches!(
            Migrations::builtin().migrate(&mut future),
            Err(StoreError::FutureSchema {
                found: 9,
                supported: 3,
                ..
            })
        ));
    }
}
