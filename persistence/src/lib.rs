//! Dominion's storage layer: the [`Store`] (durable game state, with SQLite and MongoDB
//! backends), [`Coordination`] (presence, locks, instance registry, with embedded and Redis
//! backends), schema migrations ([`migrate`]), and the save pipeline's writer ([`SaveQueue`]).
//!
//! What it stores: accounts and user-id sequences, players, map objects, marches in flight,
//! world meta ([`records`]), each as a versioned document; the kingdom's owner epoch used to fence
//! writers; chunked full-world snapshots for rotation; and players' mailboxes ([`mail`]).
//!
//! Not responsible for: the sim's ECS state or deciding what is dirty (the root converts between
//! sim components and [`records`]), exporting metrics (the root reads [`SaveStats`]), rotation
//! and compensation logic (the root, on top of this crate), or running database servers.
//!
//! ```no_run
//! use std::sync::Arc;
//! use dominion_persistence::*;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = StoreConfig::from_url("sqlite:///var/lib/dominion/world.db")?.open().await?;
//! let coord = CoordinationConfig::from_url("embedded:///var/lib/dominion")?.open().await?;
//! let migrations = Migrations::builtin();
//! let kingdom = KingdomId(1);
//!
//! // Take ownership (rotation: the new instance bumps the epoch), then load with data fixes.
//! let epoch = store.bump_epoch(kingdom).await?;
//! let players: Vec<PlayerRecord> = load_records(store.as_ref(), &migrations, kingdom).await?;
//!
//! // Save dirty records every second without blocking the tick.
//! let queue = SaveQueue::spawn(store.clone(), kingdom, epoch, SaveQueueConfig::default());
//! let mut batch = WriteBatch::new(kingdom);
//! for p in players {
//!     batch.upsert(p); // moved in; encoded later by the writer task
//! }
//! queue.submit(batch)?; // never waits; coalesces when the writer is behind
//! let stats: Arc<SaveStats> = queue.stats(); // export these atomics as metrics
//! queue.shutdown().await?; // flushes
//!
//! // `dominion datafix --dry-run`
//! let plan = plan_migrations(store.as_ref(), &migrations, true).await?;
//! print!("{}", migrate::render_plan(&plan, true));
//! # let _ = (coord, stats);
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod coordination;
pub mod error;
pub mod journal;
pub mod mail;
pub mod migrate;
pub mod mongo;
pub mod records;
pub mod save_queue;
pub mod sqlite;
pub mod store;
pub mod tickets;

pub use config::{CoordinationConfig, StoreConfig};
pub use coordination::{
    Coordination, EmbeddedCoordination, InstanceInfo, LockToken, RedisCoordination,
};
pub use error::{ConfigError, CoordError, StoreError};
pub use mail::{Deleted, Mail, MailKind, MailPage, MailStore, NewMail, open_mail_store};
pub use migrate::{Migrations, plan_migrations};
pub use mongo::MongoStore;
pub use records::{
    AccountRecord, Collection, FreeSlotsRecord, GrantsRecord, GuildChatRecord, GuildMemberRecord,
    GuildRecord, GuildRole, KingdomId, MapObjectKind, MapObjectRecord, MarchPhase, MarchPurpose,
    MarchRecord, PlayerRecord, Record, RespawnRecord, StoredDoc, TerrainRecord, WorldMetaRecord,
};
pub use save_queue::{SaveQueue, SaveQueueConfig, SaveStats};
pub use sqlite::SqliteStore;
pub use store::{
    Snapshot, SnapshotManifest, SnapshotPart, Store, WriteBatch, find_account,
    get_or_create_account, load_record, load_record_fixing, load_records, load_records_fixing,
};
pub use tickets::{TicketRecipients, TicketRecord, TicketStatus};
