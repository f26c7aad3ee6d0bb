//! What is stored: the collections, the document envelope shared by every backend, and the typed
//! records (accounts, players, map objects, marches, world meta) with their BSON field mapping.
//!
//! Every stored document is a BSON document with the envelope fields `_id` (`"{kingdom}:{key}"`),
//! `kingdom`, `key` and `schema_version`, followed by the record's own fields. MongoDB stores it
//! as is; SQLite stores the same BSON bytes in a table per collection keyed by `_id`, so data
//! fixes ([`crate::migrate`]) see identical documents on both backends.
//!
//! Unsigned 64-bit numbers (ids, resources, ticks) are stored as BSON `int64` holding the same
//! bits (`u64 as i64`), which round-trips every value exactly.
//!
//! Not here: the sim's ECS components (the root converts between those and these records), and
//! compensation tickets / mail attachments, which will be new [`Collection`] variants later.

use std::fmt;

use bson::{Bson, Document, doc};
use dominion_sim::types::{ObjectId, PlayerId, ResourceKind, Resources, TilePos, Troops};

use crate::error::StoreError;

/// A kingdom (one world map, one owning instance at a time). For accounts it is the server id
/// that allocated the player id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KingdomId(pub u32);

impl fmt::Display for KingdomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kingdom:{}", self.0)
    }
}

/// A stored collection of versioned documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    /// [`AccountRecord`]: openid → player id, scoped by server id.
    Accounts,
    /// [`PlayerRecord`].
    Players,
    /// [`MapObjectRecord`].
    MapObjects,
    /// [`MarchRecord`].
    Marches,
    /// [`WorldMetaRecord`].
    WorldMeta,
    /// [`GuildRecord`].
    Guilds,
    /// [`GuildChatRecord`].
    GuildChat,
}

impl Collection {
    /// Every versioned collection, in a fixed order.
    pub const ALL: [Collection; 7] = [
        Collection::Accounts,
        Collection::Players,
        Collection::MapObjects,
        Collection::Marches,
        Collection::WorldMeta,
        Collection::Guilds,
        Collection::GuildChat,
    ];

    /// The stored name (MongoDB collection, SQLite table).
    pub fn name(self) -> &'static str {
        match self {
            Collection::Accounts => "accounts",
            Collection::Players => "players",
            Collection::MapObjects => "map_objects",
            Collection::Marches => "marches",
            Collection::WorldMeta => "world_meta",
            Collection::Guilds => "guilds",
            Collection::GuildChat => "guild_chat",
        }
    }

    /// Parses a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        Collection::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The schema version this server writes for this collection.
    pub fn current_version(self) -> i32 {
        match self {
            Collection::Accounts => AccountRecord::SCHEMA_VERSION,
            Collection::Players => PlayerRecord::SCHEMA_VERSION,
            Collection::MapObjects => MapObjectRecord::SCHEMA_VERSION,
            Collection::Marches => MarchRecord::SCHEMA_VERSION,
            Collection::WorldMeta => WorldMetaRecord::SCHEMA_VERSION,
            Collection::Guilds => GuildRecord::SCHEMA_VERSION,
            Collection::GuildChat => GuildChatRecord::SCHEMA_VERSION,
        }
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `_id` of a document: `"{kingdom}:{key}"`.
pub fn doc_id(kingdom: KingdomId, key: &str) -> String {
    format!("{}:{}", kingdom.0, key)
}

/// One stored document with its envelope fields already read out.
///
/// `body` is the complete document, envelope included, exactly as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDoc {
    /// Collection it belongs to.
    pub collection: Collection,
    /// `_id`.
    pub id: String,
    /// `kingdom`.
    pub kingdom: KingdomId,
    /// `schema_version`.
    pub schema_version: i32,
    /// The whole document.
    pub body: Document,
}

impl StoredDoc {
    /// Builds a document from a record's fields, adding the envelope at the front.
    pub fn new(
        collection: Collection,
        kingdom: KingdomId,
        key: &str,
        schema_version: i32,
        fields: Document,
    ) -> Self {
        let id = doc_id(kingdom, key);
        let mut body = doc! {
            "_id": id.clone(),
            "kingdom": i64::from(kingdom.0),
            "key": key,
            "schema_version": schema_version,
        };
        for (k, v) in fields {
            if !matches!(k.as_str(), "_id" | "kingdom" | "key" | "schema_version") {
                body.insert(k, v);
            }
        }
        StoredDoc {
            collection,
            id,
            kingdom,
            schema_version,
            body,
        }
    }

    /// Builds a stored document from a record at its current schema version.
    pub fn from_record<R: Record>(kingdom: KingdomId, record: &R) -> Self {
        let key = record.key();
        let id = doc_id(kingdom, &key);
        let mut body = doc! {
            "_id": id.clone(),
            "kingdom": i64::from(kingdom.0),
            "key": key,
            "schema_version": R::SCHEMA_VERSION,
        };
        // Records never use the envelope's field names (see [`Record::encode`]).
        record.encode(&mut body);
        StoredDoc {
            collection: R::COLLECTION,
            id,
            kingdom,
            schema_version: R::SCHEMA_VERSION,
            body,
        }
    }

    /// Reads the envelope of a document loaded from a backend; a missing or mistyped envelope
    /// field is reported as [`StoreError::Corrupt`] naming the document.
    pub fn from_document(collection: Collection, body: Document) -> Result<Self, StoreError> {
        let id = match body.get("_id") {
            Some(Bson::String(s)) => s.clone(),
            Some(other) => {
                return Err(StoreError::Corrupt {
                    collection: collection.name(),
                    id: other.to_string(),
                    reason: "_id is not a string".into(),
                });
            }
            None => {
                return Err(StoreError::Corrupt {
                    collection: collection.name(),
                    id: "<missing _id>".into(),
                    reason: "document has no _id".into(),
                });
            }
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            collection: collection.name(),
            id: id.clone(),
            reason,
        };
        let kingdom = match body.get("kingdom") {
            Some(Bson::Int64(k)) => {
                u32::try_from(*k).map_err(|_| corrupt(format!("kingdom {k} out of range")))?
            }
            Some(Bson::Int32(k)) => {
                u32::try_from(*k).map_err(|_| corrupt(format!("kingdom {k} out of range")))?
            }
            _ => return Err(corrupt("missing or non-integer kingdom".into())),
        };
        let schema_version = match body.get("schema_version") {
            Some(Bson::Int32(v)) => *v,
            Some(Bson::Int64(v)) => i32::try_from(*v)
                .map_err(|_| corrupt(format!("schema_version {v} out of range")))?,
            _ => return Err(corrupt("missing or non-integer schema_version".into())),
        };
        if schema_version < 1 {
            return Err(corrupt(format!("schema_version {schema_version} < 1")));
        }
        Ok(StoredDoc {
            collection,
            id,
            kingdom: KingdomId(kingdom),
            schema_version,
            body,
        })
    }

    /// Decodes raw BSON bytes (SQLite rows) into a stored document.
    pub fn from_bson_bytes(
        collection: Collection,
        row_id: &str,
        bytes: &[u8],
    ) -> Result<Self, StoreError> {
        let body = Document::from_reader(bytes).map_err(|e| StoreError::Corrupt {
            collection: collection.name(),
            id: row_id.to_string(),
            reason: format!("undecodable BSON: {e}"),
        })?;
        let doc = StoredDoc::from_document(collection, body)?;
        if doc.id != row_id {
            return Err(StoreError::Corrupt {
                collection: collection.name(),
                id: row_id.to_string(),
                reason: format!("row key differs from the document's _id {:?}", doc.id),
            });
        }
        Ok(doc)
    }

    /// Encodes the body as BSON bytes.
    pub fn to_bson_bytes(&self) -> Result<Vec<u8>, StoreError> {
        self.body.to_vec().map_err(|e| {
            StoreError::Invalid(format!(
                "cannot encode {} document {}: {e}",
                self.collection, self.id
            ))
        })
    }

    /// The record key (`_id` without the kingdom prefix).
    pub fn key(&self) -> &str {
        match self.body.get("key") {
            Some(Bson::String(k)) => k,
            _ => self.id.split_once(':').map(|(_, k)| k).unwrap_or(&self.id),
        }
    }

    /// Sets `schema_version` in both the envelope and the body.
    pub fn set_schema_version(&mut self, version: i32) {
        self.schema_version = version;
        self.body.insert("schema_version", version);
    }

    /// Decodes the body as a record; it must already be at the record's current version.
    pub fn decode<R: Record>(&self) -> Result<R, StoreError> {
        if self.schema_version != R::SCHEMA_VERSION {
            return Err(StoreError::Corrupt {
                collection: self.collection.name(),
                id: self.id.clone(),
                reason: format!(
                    "expected schema version {} after migration, found {}",
                    R::SCHEMA_VERSION,
                    self.schema_version
                ),
            });
        }
        R::decode(&self.body).map_err(|reason| StoreError::Corrupt {
            collection: self.collection.name(),
            id: self.id.clone(),
            reason,
        })
    }
}

/// A typed record stored as one document.
pub trait Record: Sized + Send + Sync + 'static {
    /// Collection it lives in.
    const COLLECTION: Collection;
    /// Schema version written by this server; older documents are migrated on load.
    const SCHEMA_VERSION: i32;
    /// Its key, unique within the kingdom (becomes `_id` = `"{kingdom}:{key}"`).
    fn key(&self) -> String;
    /// Appends its fields to `doc`, which already holds the envelope; never uses the envelope
    /// names `_id`, `kingdom`, `key`, `schema_version`.
    fn encode(&self, doc: &mut Document);
    /// Reads its fields from a current-version document; the error names the bad field.
    fn decode(doc: &Document) -> Result<Self, String>;
}

// ---------------------------------------------------------------------------------------------
// Field helpers: every one reports the field name on failure and never panics.

/// Reads an unsigned 64-bit number stored as int64 bits (int32 accepted when non-negative).
pub fn get_u64(doc: &Document, field: &str) -> Result<u64, String> {
    match doc.get(field) {
        Some(Bson::Int64(v)) => Ok(*v as u64),
        Some(Bson::Int32(v)) if *v >= 0 => Ok(*v as u64),
        Some(other) => Err(format!("field {field}: expected integer, found {other}")),
        None => Err(format!("field {field} is missing")),
    }
}

fn get_bounded<T: TryFrom<u64>>(doc: &Document, field: &str) -> Result<T, String> {
    let v = get_u64(doc, field)?;
    T::try_from(v).map_err(|_| format!("field {field}: value {v} out of range"))
}

fn get_str<'a>(doc: &'a Document, field: &str) -> Result<&'a str, String> {
    match doc.get(field) {
        Some(Bson::String(s)) => Ok(s),
        Some(other) => Err(format!("field {field}: expected string, found {other}")),
        None => Err(format!("field {field} is missing")),
    }
}

fn get_array<'a>(doc: &'a Document, field: &str) -> Result<&'a [Bson], String> {
    match doc.get(field) {
        Some(Bson::Array(a)) => Ok(a),
        Some(other) => Err(format!("field {field}: expected array, found {other}")),
        None => Err(format!("field {field} is missing")),
    }
}

fn bson_to_u64(v: &Bson, what: &str) -> Result<u64, String> {
    match v {
        Bson::Int64(v) => Ok(*v as u64),
        Bson::Int32(v) if *v >= 0 => Ok(*v as u64),
        other => Err(format!("{what}: expected integer, found {other}")),
    }
}

fn tile_to_bson(t: TilePos) -> Bson {
    Bson::Array(vec![
        Bson::Int32(i32::from(t.x)),
        Bson::Int32(i32::from(t.y)),
    ])
}

fn bson_to_tile(v: &Bson, what: &str) -> Result<TilePos, String> {
    let Bson::Array(a) = v else {
        return Err(format!("{what}: expected [x, y], found {v}"));
    };
    if a.len() != 2 {
        return Err(format!(
            "{what}: expected [x, y], found {} elements",
            a.len()
        ));
    }
    let x = bson_to_u64(&a[0], what)?;
    let y = bson_to_u64(&a[1], what)?;
    match (u16::try_from(x), u16::try_from(y)) {
        (Ok(x), Ok(y)) => Ok(TilePos::new(x, y)),
        _ => Err(format!("{what}: tile ({x}, {y}) out of range")),
    }
}

fn get_tile(doc: &Document, field: &str) -> Result<TilePos, String> {
    match doc.get(field) {
        Some(v) => bson_to_tile(v, &format!("field {field}")),
        None => Err(format!("field {field} is missing")),
    }
}

fn troops_to_bson(t: &Troops) -> Bson {
    Bson::Array(t.0.iter().map(|&c| Bson::Int64(i64::from(c))).collect())
}

fn get_troops(doc: &Document, field: &str) -> Result<Troops, String> {
    get_array(doc, field)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let n = bson_to_u64(v, &format!("field {field}[{i}]"))?;
            u32::try_from(n).map_err(|_| format!("field {field}[{i}]: {n} out of range"))
        })
        .collect::<Result<Vec<u32>, String>>()
        .map(Troops)
}

/// Encodes resources as a 4-element int64 array in [`ResourceKind::ALL`] order.
pub fn resources_to_bson(r: &Resources) -> Bson {
    Bson::Array(r.0.iter().map(|&v| Bson::Int64(v as i64)).collect())
}

fn get_resources(doc: &Document, field: &str) -> Result<Resources, String> {
    let a = get_array(doc, field)?;
    if a.len() != 4 {
        return Err(format!(
            "field {field}: expected 4 amounts, found {}",
            a.len()
        ));
    }
    let mut out = [0u64; 4];
    for (i, v) in a.iter().enumerate() {
        out[i] = bson_to_u64(v, &format!("field {field}[{i}]"))?;
    }
    Ok(Resources(out))
}

fn resource_from_name(name: &str) -> Result<ResourceKind, String> {
    ResourceKind::from_name(name).ok_or_else(|| format!("unknown resource kind {name:?}"))
}

// ---------------------------------------------------------------------------------------------

/// An account: which player id an openid got on a server. Key: the openid; kingdom: server id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    /// The platform's account id.
    pub openid: String,
    /// The player id allocated for it.
    pub player: PlayerId,
    /// Wall-clock creation time (milliseconds since the Unix epoch).
    pub created_unix_ms: i64,
}

impl Record for AccountRecord {
    const COLLECTION: Collection = Collection::Accounts;
    const SCHEMA_VERSION: i32 = 1;
    fn key(&self) -> String {
        self.openid.clone()
    }
    fn encode(&self, doc: &mut Document) {
        doc.insert("openid", self.openid.clone());
        doc.insert("player", self.player.0 as i64);
        doc.insert("created_unix_ms", self.created_unix_ms);
    }
    fn decode(doc: &Document) -> Result<Self, String> {
        Ok(AccountRecord {
            openid: get_str(doc, "openid")?.to_string(),
            player: PlayerId(get_u64(doc, "player")?),
            created_unix_ms: get_u64(doc, "created_unix_ms")? as i64,
        })
    }
}

/// A player's persistent state. Key: the player id in decimal.
///
/// Schema history: v1 stored resources as four fields `food`, `wood`, `stone`, `gold`;
/// v2 stores them as the array `resources` (see [`crate::migrate::players_v1_to_v2`]);
/// v3 adds the ledger of applied grants `grants: { floor, applied }`, in the same document as
/// the resources they added (see [`crate::migrate::players_v2_to_v3`]; a v2 server refuses v3
/// documents instead of saving them back without their ledger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerRecord {
    /// Player id.
    pub player: PlayerId,
    /// Display name.
    pub name: String,
    /// The city's object id.
    pub city_id: ObjectId,
    /// Tile of the player's city.
    pub city: TilePos,
    /// Troops at home.
    pub troops: Troops,
    /// Wounded troops in the hospital.
    pub wounded: Troops,
    /// Resources in the city.
    pub resources: Resources,
    /// Alliance, if any.
    pub alliance: Option<u64>,
    /// Grants (claimed mail attachments) already added to the resources.
    pub grants: GrantsRecord,
    /// Tick the city last moved, if ever (absent in older documents: never).
    pub relocated_at: Option<u64>,
}

/// A player's ledger of applied grants as stored (the sim's `GrantLedger`): every grant id below
/// `floor` is settled, `applied` lists the applied ids at or above it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantsRecord {
    /// Ids below this are settled.
    pub floor: u64,
    /// Applied ids at or above `floor`, ascending.
    pub applied: Vec<u64>,
}

impl Record for PlayerRecord {
    const COLLECTION: Collection = Collection::Players;
    const SCHEMA_VERSION: i32 = 3;
    fn key(&self) -> String {
        self.player.0.to_string()
    }
    fn encode(&self, doc: &mut Document) {
        doc.insert("player", self.player.0 as i64);
        doc.insert("name", self.name.clone());
        doc.insert("city_id", self.city_id.0 as i64);
        doc.insert("city", tile_to_bson(self.city));
        doc.insert("troops", troops_to_bson(&self.troops));
        doc.insert("wounded", troops_to_bson(&self.wounded));
        doc.insert("resources", resources_to_bson(&self.resources));
        if let Some(a) = self.alliance {
            doc.insert("alliance", a as i64);
        }
        doc.insert(
            "grants",
            doc! {
                "floor": self.grants.floor as i64,
                "applied": self.grants.applied.iter().map(|&id| Bson::Int64(id as i64)).collect::<Vec<_>>(),
            },
        );
        if let Some(t) = self.relocated_at {
            doc.insert("relocated_at", t as i64);
        }
    }
    fn decode(doc: &Document) -> Result<Self, String> {
        let grants = doc
            .get_document("grants")
            .map_err(|e| format!("field grants: {e}"))?;
        let applied = get_array(grants, "applied")?
            .iter()
            .enumerate()
            .map(|(i, v)| bson_to_u64(v, &format!("field grants.applied[{i}]")))
            .collect::<Result<Vec<u64>, String>>()?;
        Ok(PlayerRecord {
            grants: GrantsRecord {
                floor: get_u64(grants, "floor")?,
                applied,
            },
            player: PlayerId(get_u64(doc, "player")?),
            name: get_str(doc, "name")?.to_string(),
            city_id: ObjectId(get_u64(doc, "city_id")?),
            city: get_tile(doc, "city")?,
            troops: get_troops(doc, "troops")?,
            wounded: get_troops(doc, "wounded")?,
            resources: get_resources(doc, "resources")?,
            alliance: get_opt_u64(doc, "alliance")?,
            relocated_at: get_opt_u64(doc, "relocated_at")?,
        })
    }
}

/// What a map object is, with the fields of that kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapObjectKind {
    /// A gatherable resource field.
    ResourceField {
        /// Resource it yields.
        resource: ResourceKind,
        /// Level (from the zone).
        level: u8,
        /// Amount left.
        remaining: u64,
    },
    /// A monster.
    Monster {
        /// Index of its kind in `monsters.toml`.
        kind: u16,
        /// Level.
        level: u8,
    },
    /// A free tile reserved for a city.
    CitySlot,
    /// A player city (its troops and resources are in the player's record).
    City {
        /// Owner.
        owner: PlayerId,
    },
}

/// A map object. Key: the object id in decimal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapObjectRecord {
    /// Stable id.
    pub id: ObjectId,
    /// Where it stands.
    pub tile: TilePos,
    /// Kind and kind-specific fields.
    pub kind: MapObjectKind,
}

impl Record for MapObjectRecord {
    const COLLECTION: Collection = Collection::MapObjects;
    const SCHEMA_VERSION: i32 = 1;
    fn key(&self) -> String {
        self.id.0.to_string()
    }
    fn encode(&self, doc: &mut Document) {
        doc.insert("id", self.id.0 as i64);
        doc.insert("tile", tile_to_bson(self.tile));
        match &self.kind {
            MapObjectKind::ResourceField {
                resource,
                level,
                remaining,
            } => {
                doc.insert("kind", "resource_field");
                doc.insert("resource", resource.name());
                doc.insert("level", i32::from(*level));
                doc.insert("remaining", *remaining as i64);
            }
            MapObjectKind::Monster { kind, level } => {
                doc.insert("kind", "monster");
                doc.insert("monster", i32::from(*kind));
                doc.insert("level", i32::from(*level));
            }
            MapObjectKind::CitySlot => {
                doc.insert("kind", "city_slot");
            }
            MapObjectKind::City { owner } => {
                doc.insert("kind", "city");
                doc.insert("owner", owner.0 as i64);
            }
        }
    }
    fn decode(doc: &Document) -> Result<Self, String> {
        let kind = match get_str(doc, "kind")? {
            "resource_field" => MapObjectKind::ResourceField {
                resource: resource_from_name(get_str(doc, "resource")?)?,
                level: get_bounded(doc, "level")?,
                remaining: get_u64(doc, "remaining")?,
            },
            "monster" => MapObjectKind::Monster {
                kind: get_bounded(doc, "monster")?,
                level: get_bounded(doc, "level")?,
            },
            "city_slot" => MapObjectKind::CitySlot,
            "city" => MapObjectKind::City {
                owner: PlayerId(get_u64(doc, "owner")?),
            },
            other => return Err(format!("field kind: unknown map object kind {other:?}")),
        };
        Ok(MapObjectRecord {
            id: ObjectId(get_u64(doc, "id")?),
            tile: get_tile(doc, "tile")?,
            kind,
        })
    }
}

/// Why a march is out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarchPurpose {
    /// Gather a resource field.
    Gather,
    /// Attack a monster, city or march.
    Attack,
    /// Reinforce an ally.
    Reinforce,
    /// Scout.
    Scout,
}

impl MarchPurpose {
    const ALL: [MarchPurpose; 4] = [
        MarchPurpose::Gather,
        MarchPurpose::Attack,
        MarchPurpose::Reinforce,
        MarchPurpose::Scout,
    ];
    /// Stored name.
    pub fn name(self) -> &'static str {
        match self {
            MarchPurpose::Gather => "gather",
            MarchPurpose::Attack => "attack",
            MarchPurpose::Reinforce => "reinforce",
            MarchPurpose::Scout => "scout",
        }
    }
    /// Parses a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        MarchPurpose::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// What a march is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarchPhase {
    /// On the way to its target.
    Outbound,
    /// Loading `amount` from `field` since tick `since`.
    Gathering {
        /// The field.
        field: ObjectId,
        /// Tick gathering began.
        since: u64,
        /// Amount it will have when done.
        amount: u64,
    },
    /// Defending an allied city.
    Stationed {
        /// The city.
        city: ObjectId,
    },
    /// On the way home.
    Returning,
}

/// A march in flight. Key: the march's object id in decimal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarchRecord {
    /// Stable id.
    pub id: ObjectId,
    /// Owning player.
    pub owner: PlayerId,
    /// The city it left from.
    pub home: ObjectId,
    /// Why it is out.
    pub purpose: MarchPurpose,
    /// Target object (a field, monster, city or march).
    pub target: ObjectId,
    /// What it is doing.
    pub phase: MarchPhase,
    /// Corner waypoints of its current route (start first).
    pub path: Vec<TilePos>,
    /// Tick it left the start of `path`.
    pub depart_tick: u64,
    /// Milli-tiles per tick.
    pub speed: u32,
    /// Tick of its next scheduled event (`u64::MAX` = none).
    pub next_event: u64,
    /// Troops fit to fight.
    pub troops: Troops,
    /// Wounded carried home.
    pub wounded: Troops,
    /// Resources it carries.
    pub carried: Resources,
}

impl Record for MarchRecord {
    const COLLECTION: Collection = Collection::Marches;
    const SCHEMA_VERSION: i32 = 1;
    fn key(&self) -> String {
        self.id.0.to_string()
    }
    fn encode(&self, doc: &mut Document) {
        doc.insert("id", self.id.0 as i64);
        doc.insert("owner", self.owner.0 as i64);
        doc.insert("home", self.home.0 as i64);
        doc.insert("purpose", self.purpose.name());
        doc.insert("target", self.target.0 as i64);
        match self.phase {
            MarchPhase::Outbound => {
                doc.insert("phase", "outbound");
            }
            MarchPhase::Gathering {
                field,
                since,
                amount,
            } => {
                doc.insert("phase", "gathering");
                doc.insert("field", field.0 as i64);
                doc.insert("since", since as i64);
                doc.insert("amount", amount as i64);
            }
            MarchPhase::Stationed { city } => {
                doc.insert("phase", "stationed");
                doc.insert("city", city.0 as i64);
            }
            MarchPhase::Returning => {
                doc.insert("phase", "returning");
            }
        }
        doc.insert(
            "path",
            Bson::Array(self.path.iter().map(|&t| tile_to_bson(t)).collect()),
        );
        doc.insert("depart_tick", self.depart_tick as i64);
        doc.insert("speed", i64::from(self.speed));
        doc.insert("next_event", self.next_event as i64);
        doc.insert("troops", troops_to_bson(&self.troops));
        doc.insert("wounded", troops_to_bson(&self.wounded));
        doc.insert("carried", resources_to_bson(&self.carried));
    }
    fn decode(doc: &Document) -> Result<Self, String> {
        let purpose = get_str(doc, "purpose")?;
        let phase = match get_str(doc, "phase")? {
            "outbound" => MarchPhase::Outbound,
            "gathering" => MarchPhase::Gathering {
                field: ObjectId(get_u64(doc, "field")?),
                since: get_u64(doc, "since")?,
                amount: get_u64(doc, "amount")?,
            },
            "stationed" => MarchPhase::Stationed {
                city: ObjectId(get_u64(doc, "city")?),
            },
            "returning" => MarchPhase::Returning,
            other => return Err(format!("field phase: unknown march phase {other:?}")),
        };
        let path: Vec<TilePos> = get_array(doc, "path")?
            .iter()
            .enumerate()
            .map(|(i, v)| bson_to_tile(v, &format!("field path[{i}]")))
            .collect::<Result<_, _>>()?;
        if path.is_empty() {
            return Err("field path: a route needs at least one waypoint".into());
        }
        Ok(MarchRecord {
            id: ObjectId(get_u64(doc, "id")?),
            owner: PlayerId(get_u64(doc, "owner")?),
            home: ObjectId(get_u64(doc, "home")?),
            purpose: MarchPurpose::from_name(purpose)
                .ok_or_else(|| format!("field purpose: unknown march purpose {purpose:?}"))?,
            target: ObjectId(get_u64(doc, "target")?),
            phase,
            path,
            depart_tick: get_u64(doc, "depart_tick")?,
            speed: get_bounded(doc, "speed")?,
            next_event: get_u64(doc, "next_event")?,
            troops: get_troops(doc, "troops")?,
            wounded: get_troops(doc, "wounded")?,
            carried: get_resources(doc, "carried")?,
        })
    }
}

/// A pending respawn in the world meta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespawnRecord {
    /// A resource field of `resource` in zone `zone`, due at `due`.
    Field {
        /// Due tick.
        due: u64,
        /// Sequence number (seeds the respawn's RNG; older documents lack it: their position).
        seq: u64,
        /// Resource kind.
        resource: ResourceKind,
        /// Zone level.
        zone: u8,
    },
    /// A monster of kind `kind` in zone `zone`, due at `due`.
    Monster {
        /// Due tick.
        due: u64,
        /// Sequence number (seeds the respawn's RNG; older documents lack it: their position).
        seq: u64,
        /// Monster kind index.
        kind: u16,
        /// Zone level.
        zone: u8,
    },
}

/// The kingdom's world clock, counters and queues. Key: `"world"` (one per kingdom).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldMetaRecord {
    /// Last tick run.
    pub tick: u64,
    /// Map generation seed.
    pub seed: u64,
    /// Version (hash) of the designer config in force.
    pub config_version: String,
    /// Next unused object id.
    pub next_object_id: u64,
    /// Battles fought so far.
    pub battles: u64,
    /// Pending respawns in due order.
    pub respawns: Vec<RespawnRecord>,
    /// The sequence number the next respawn gets (older documents lack it: 0, raised past the
    /// saved respawns on load).
    pub respawn_next_seq: u64,
    /// Number of the config in force: 1 for the config the world started with, +1 per reload
    /// (older documents lack it: 1).
    pub config_number: u32,
    /// Commands a tick left waiting for a later tick's route budget, in the journal's command
    /// encoding ([`crate::journal::encode_waiting`]); empty in older documents.
    pub waiting_commands: Vec<u8>,
    /// The sequence number the next submitted command gets (older documents lack it: 0).
    pub command_next_seq: u64,
}

impl Record for WorldMetaRecord {
    const COLLECTION: Collection = Collection::WorldMeta;
    const SCHEMA_VERSION: i32 = 1;
    fn key(&self) -> String {
        "world".to_string()
    }
    fn encode(&self, doc: &mut Document) {
        doc.insert("tick", self.tick as i64);
        doc.insert("seed", self.seed as i64);
        doc.insert("config_version", self.config_version.clone());
        doc.insert("next_object_id", self.next_object_id as i64);
        doc.insert("battles", self.battles as i64);
        let respawns: Vec<Bson> = self
            .respawns
            .iter()
            .map(|r| {
                Bson::Document(match *r {
                    RespawnRecord::Field {
                        due,
                        seq,
                        resource,
                        zone,
                    } => {
                        doc! { "due": due as i64, "seq": seq as i64, "resource": resource.name(), "zone": i32::from(zone) }
                    }
                    RespawnRecord::Monster {
                        due,
                        seq,
                        kind,
                        zone,
                    } => {
                        doc! { "due": due as i64, "seq": seq as i64, "monster": i32::from(kind), "zone": i32::from(zone) }
                    }
                })
            })
            .collect();
        doc.insert("respawns", respawns);
        doc.insert("respawn_next_seq", self.respawn_next_seq as i64);
        doc.insert("config_number", i64::from(self.config_number));
        doc.insert("waiting_commands", binary(self.waiting_commands.clone()));
        doc.insert("command_next_seq", self.command_next_seq as i64);
    }
    fn decode(doc: &Document) -> Result<Self, String> {
        let respawns = get_array(doc, "respawns")?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let Bson::Document(d) = v else {
                    return Err(format!("field respawns[{i}]: expected a document"));
                };
                let due = get_u64(d, "due").map_err(|e| format!("respawns[{i}]: {e}"))?;
                let zone = get_bounded(d, "zone").map_err(|e| format!("respawns[{i}]: {e}"))?;
                let seq = get_opt_u64(d, "seq")
                    .map_err(|e| format!("respawns[{i}]: {e}"))?
                    .unwrap_or(i as u64);
                if let Ok(name) = get_str(d, "resource") {
                    Ok(RespawnRecord::Field {
                        due,
                        seq,
                        resource: resource_from_name(name)?,
                        zone,
                    })
                } else {
                    Ok(RespawnRecord::Monster {
                        due,
                        seq,
                        kind: get_bounded(d, "monster")
                            .map_err(|e| format!("respawns[{i}]: {e}"))?,
                        zone,
                    })
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(WorldMetaRecord {
            tick: get_u64(doc, "tick")?,
            seed: get_u64(doc, "seed")?,
            config_version: get_str(doc, "config_version")?.to_string(),
            next_object_id: get_u64(doc, "next_object_id")?,
            battles: get_u64(doc, "battles")?,
            respawns,
            respawn_next_seq: get_opt_u64(doc, "respawn_next_seq")?.unwrap_or(0),
            config_number: match get_opt_u64(doc, "config_number")? {
                None => 1,
                Some(n) => u32::try_from(n)
                    .map_err(|_| format!("field config_number: value {n} out of range"))?,
            },
            waiting_commands: match doc.get("waiting_commands") {
                None | Some(Bson::Null) => Vec::new(),
                Some(_) => get_binary(doc, "waiting_commands")?.to_vec(),
            },
            command_next_seq: get_opt_u64(doc, "command_next_seq")?.unwrap_or(0),
        })
    }
}

/// The tile grid, written once per world. Key: `"terrain"` in the world-meta collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerrainRecord {
    /// Tiles east-west.
    pub width: u16,
    /// Tiles north-south.
    pub height: u16,
    /// One byte per tile, row-major.
    pub tiles: Vec<u8>,
}

impl Record for TerrainRecord {
    const COLLECTION: Collection = Collection::WorldMeta;
    const SCHEMA_VERSION: i32 = WorldMetaRecord::SCHEMA_VERSION;
    fn key(&self) -> String {
        "terrain".to_string()
    }
    fn encode(&self, doc: &mut Document) {
        doc.insert("width", i32::from(self.width));
        doc.insert("height", i32::from(self.height));
        doc.insert("tiles", binary(self.tiles.clone()));
    }
    fn decode(doc: &Document) -> Result<Self, String> {
        let r = TerrainRecord {
            width: get_bounded(doc, "width")?,
            height: get_bounded(doc, "height")?,
            tiles: get_binary(doc, "tiles")?.to_vec(),
        };
        if r.tiles.len() != usize::from(r.width) * usize::from(r.height) {
            return Err(format!(
                "field tiles: {} bytes for a {}x{} map",
                r.tiles.len(),
                r.width,
                r.height
            ));
        }
        Ok(r)
    }
}

/// Free city slots in the order founding draws from them. Key: `"free_city_slots"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreeSlotsRecord {
    /// Slot object ids.
    pub slots: Vec<ObjectId>,
}

impl Record for FreeSlotsRecord {
    const COLLECTION: Collection = Collection::WorldMeta;
    const SCHEMA_VERSION: i32 = WorldMetaRecord::SCHEMA_VERSION;
    fn key(&self) -> String {
        "free_city_slots".to_string()
    }
    fn encode(&self, doc: &mut Document) {
        // Packed little-endian u64s: tens of thousands of ids stay one compact value.
        let bytes: Vec<u8> = self
            .slots
            .iter()
            .flat_map(|id| id.0.to_le_bytes())
            .collect();
        doc.insert("slots", binary(bytes));
    }
    fn decode(doc: &Document) -> Result<Self, String> {
        let bytes = get_binary(doc, "slots")?;
        if bytes.len() % 8 != 0 {
            return Err(format!(
                "field slots: {} bytes is not a list of u64",
                bytes.len()
            ));
        }
        Ok(FreeSlotsRecord {
            slots: bytes
                .chunks_exact(8)
                .map(|c| ObjectId(u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))))
                .collect(),
        })
    }
}

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes,
    })
}

fn get_binary<'a>(doc: &'a Document, field: &str) -> Result<&'a [u8], String> {
    match doc.get(field) {
        Some(Bson::Binary(b)) => Ok(&b.bytes),
        Some(other) => Err(format!("field {field}: expected binary, found {other}")),
        None => Err(format!("field {field} is missing")),
    }
}

/// A guild member's rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GuildRole {
    /// Leads the guild (exactly one).
    Leader,
    /// Helps lead: invites, accepts, kicks members, edits the notice.
    Officer,
    /// A member.
    Member,
}

impl GuildRole {
    /// Stored and wire code.
    pub fn code(self) -> u8 {
        match self {
            GuildRole::Leader => 0,
            GuildRole::Officer => 1,
            GuildRole::Member => 2,
        }
    }

    /// From [`code`](Self::code).
    pub fn from_code(code: u8) -> Option<GuildRole> {
        match code {
            0 => Some(GuildRole::Leader),
            1 => Some(GuildRole::Officer),
            2 => Some(GuildRole::Member),
            _ => None,
        }
    }
}

/// One member of a guild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuildMemberRecord {
    /// The player.
    pub player: PlayerId,
    /// Their rank.
    pub role: GuildRole,
    /// When they joined (ms since the Unix epoch).
    pub joined_unix_ms: i64,
}

/// A guild, whole: members, pending applications and invitations, notice. Key: the guild id in
/// decimal (the id is also the alliance id the world knows). Written by the guild service
/// under the owner epoch, like the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuildRecord {
    /// Guild id (from the `guild_id:{server}` sequence).
    pub id: u64,
    /// Name as created (unique, compared case-insensitively).
    pub name: String,
    /// Short tag shown on cities (unique, compared case-insensitively).
    pub tag: String,
    /// The notice board's text.
    pub notice: String,
    /// Created at (ms since the Unix epoch).
    pub created_unix_ms: i64,
    /// Members in joining order; exactly one is the leader.
    pub members: Vec<GuildMemberRecord>,
    /// Players who applied, oldest first.
    pub applicants: Vec<PlayerId>,
    /// Players invited, oldest first.
    pub invited: Vec<PlayerId>,
}

fn players_to_bson(ps: &[PlayerId]) -> Bson {
    Bson::Array(ps.iter().map(|p| Bson::Int64(p.0 as i64)).collect())
}

fn get_players(doc: &Document, field: &str) -> Result<Vec<PlayerId>, String> {
    get_array(doc, field)?
        .iter()
        .enumerate()
        .map(|(i, v)| bson_to_u64(v, &format!("field {field}[{i}]")).map(PlayerId))
        .collect()
}

impl Record for GuildRecord {
    const COLLECTION: Collection = Collection::Guilds;
    const SCHEMA_VERSION: i32 = 1;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn encode(&self, doc: &mut Document) {
        doc.insert("id", self.id as i64);
        doc.insert("name", self.name.clone());
        doc.insert("tag", self.tag.clone());
        doc.insert("notice", self.notice.clone());
        doc.insert("created_unix_ms", self.created_unix_ms);
        let members: Vec<Bson> = self
            .members
            .iter()
            .map(|m| {
                Bson::Document(bson::doc! {
                    "player": m.player.0 as i64,
                    "role": i32::from(m.role.code()),
                    "joined_unix_ms": m.joined_unix_ms,
                })
            })
            .collect();
        doc.insert("members", members);
        doc.insert("applicants", players_to_bson(&self.applicants));
        doc.insert("invited", players_to_bson(&self.invited));
    }
    fn decode(doc: &Document) -> Result<Self, String> {
        let members = get_array(doc, "members")?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let Bson::Document(m) = v else {
                    return Err(format!(
                        "field members[{i}]: expected a document, found {v}"
                    ));
                };
                let code =
                    get_bounded::<u8>(m, "role").map_err(|e| format!("field members[{i}].{e}"))?;
                Ok(GuildMemberRecord {
                    player: PlayerId(
                        get_u64(m, "player").map_err(|e| format!("field members[{i}].{e}"))?,
                    ),
                    role: GuildRole::from_code(code)
                        .ok_or_else(|| format!("field members[{i}].role: unknown role {code}"))?,
                    joined_unix_ms: get_u64(m, "joined_unix_ms")
                        .map_err(|e| format!("field members[{i}].{e}"))?
                        as i64,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(GuildRecord {
            id: get_u64(doc, "id")?,
            name: get_str(doc, "name")?.to_owned(),
            tag: get_str(doc, "tag")?.to_owned(),
            notice: get_str(doc, "notice")?.to_owned(),
            created_unix_ms: get_u64(doc, "created_unix_ms")? as i64,
            members,
            applicants: get_players(doc, "applicants")?,
            invited: get_players(doc, "invited")?,
        })
    }
}

/// One guild chat message. Key: `{guild}:{id}` with the id zero-padded, so keys sort by time.
/// The guild service keeps the newest `chat_keep` (`guilds.toml`) of each guild and deletes
/// older ones in the batch that writes a new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuildChatRecord {
    /// The guild.
    pub guild: u64,
    /// Message id within the guild, rising.
    pub id: u64,
    /// Who wrote it.
    pub from: PlayerId,
    /// When (ms since the Unix epoch).
    pub sent_unix_ms: i64,
    /// The text.
    pub text: String,
}

impl GuildChatRecord {
    /// The key of message `id` of `guild`.
    pub fn key_of(guild: u64, id: u64) -> String {
        format!("{guild}:{id:020}")
    }
}

impl Record for GuildChatRecord {
    const COLLECTION: Collection = Collection::GuildChat;
    const SCHEMA_VERSION: i32 = 1;
    fn key(&self) -> String {
        GuildChatRecord::key_of(self.guild, self.id)
    }
    fn encode(&self, doc: &mut Document) {
        doc.insert("guild", self.guild as i64);
        doc.insert("id", self.id as i64);
        doc.insert("from", self.from.0 as i64);
        doc.insert("sent_unix_ms", self.sent_unix_ms);
        doc.insert("text", self.text.clone());
    }
    fn decode(doc: &Document) -> Result<Self, String> {
        Ok(GuildChatRecord {
            guild: get_u64(doc, "guild")?,
            id: get_u64(doc, "id")?,
            from: PlayerId(get_u64(doc, "from")?),
            sent_unix_ms: get_u64(doc, "sent_unix_ms")? as i64,
            text: get_str(doc, "text")?.to_owned(),
        })
    }
}

fn get_opt_u64(doc: &Document, field: &str) -> Result<Option<u64>, String> {
    match doc.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => get_u64(doc, field).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<R: Record + PartialEq + fmt::Debug>(r: R) {
        let d = StoredDoc::from_record(KingdomId(7), &r);
        let bytes = d.to_bson_bytes().expect("encode");
        let back = StoredDoc::from_bson_bytes(R::COLLECTION, &d.id, &bytes).expect("decode");
        assert_eq!(back.kingdom, KingdomId(7));
        assert_eq!(back.decode::<R>().expect("record"), r);
    }

    #[test]
    fn a_guild_roundtrips_and_a_bad_member_is_named() {
        let g = GuildRecord {
            id: u64::MAX,
            name: "Night's Watch".into(),
            tag: "NW".into(),
            notice: "wall duty at 20:00".into(),
            created_unix_ms: 1,
            members: vec![
                GuildMemberRecord {
                    player: PlayerId(65537),
                    role: GuildRole::Leader,
                    joined_unix_ms: 1,
                },
                GuildMemberRecord {
                    player: PlayerId(u64::MAX),
                    role: GuildRole::Member,
                    joined_unix_ms: 2,
                },
            ],
            applicants: vec![PlayerId(3)],
            invited: vec![PlayerId(4), PlayerId(5)],
        };
        roundtrip(g.clone());
        roundtrip(GuildChatRecord {
            guild: 3,
            id: u64::MAX,
            from: PlayerId(65537),
            sent_unix_ms: 5,
            text: "rally at the pass ⚔".into(),
        });
        assert!(GuildChatRecord::key_of(3, 9) < GuildChatRecord::key_of(3, 10));
        let mut d = StoredDoc::from_record(KingdomId(7), &g);
        d.body.insert(
            "members",
            vec![Bson::Document(
                bson::doc! {"player": 1i64, "role": 9, "joined_unix_ms": 0i64},
            )],
        );
        let e = d.decode::<GuildRecord>().unwrap_err();
        assert!(
            e.to_string().contains("members[0].role: unknown role 9"),
            "{e}"
        );
    }

    #[test]
    fn records_roundtrip_with_full_u64_range() {
        roundtrip(PlayerRecord {
            player: PlayerId(u64::MAX),
            name: "ann".into(),
            city_id: ObjectId(u64::MAX - 1),
            city: TilePos::new(1199, 0),
            troops: Troops(vec![u32::MAX, 0, 3]),
            wounded: Troops(vec![]),
            resources: Resources([u64::MAX, 1, 2, 3]),
            alliance: Some(3),
            grants: GrantsRecord {
                floor: 7,
                applied: vec![7, 9, u64::MAX],
            },
            relocated_at: Some(u64::MAX - 7),
        });
        roundtrip(MapObjectRecord {
            id: ObjectId(5),
            tile: TilePos::new(3, 4),
            kind: MapObjectKind::ResourceField {
                resource: ResourceKind::Gold,
                level: 7,
                remaining: 9000,
            },
        });
        roundtrip(MapObjectRecord {
            id: ObjectId(6),
            tile: TilePos::new(3, 5),
            kind: MapObjectKind::Monster { kind: 4, level: 2 },
        });
        roundtrip(MapObjectRecord {
            id: ObjectId(8),
            tile: TilePos::new(9, 5),
            kind: MapObjectKind::CitySlot,
        });
        roundtrip(MarchRecord {
            id: ObjectId(9),
            owner: PlayerId(1),
            home: ObjectId(2),
            purpose: MarchPurpose::Gather,
            target: ObjectId(5),
            phase: MarchPhase::Gathering {
                field: ObjectId(5),
                since: 10,
                amount: 900,
            },
            path: vec![TilePos::new(0, 0), TilePos::new(5, 5)],
            depart_tick: 1,
            speed: 100,
            next_event: u64::MAX,
            troops: Troops(vec![1]),
            wounded: Troops(vec![0, 2]),
            carried: Resources::default(),
        });
        roundtrip(WorldMetaRecord {
            tick: 5,
            seed: 6,
            config_version: "ab".into(),
            next_object_id: 99,
            battles: 3,
            respawns: vec![
                RespawnRecord::Field {
                    due: 7,
                    seq: u64::MAX,
                    resource: ResourceKind::Wood,
                    zone: 2,
                },
                RespawnRecord::Monster {
                    due: 8,
                    seq: 4,
                    kind: 1,
                    zone: 3,
                },
            ],
            respawn_next_seq: 12,
            config_number: 7,
            waiting_commands: vec![1, 2, 3],
            command_next_seq: u64::MAX,
        });
        roundtrip(TerrainRecord {
            width: 2,
            height: 2,
            tiles: vec![1, 2, 3, 4],
        });
        roundtrip(FreeSlotsRecord {
            slots: vec![ObjectId(1), ObjectId(u64::MAX)],
        });
    }

    #[test]
    fn world_meta_from_before_exact_restores_reads_with_defaults() {
        let mut d = StoredDoc::from_record(
            KingdomId(1),
            &WorldMetaRecord {
                tick: 1,
                seed: 2,
                config_version: "x".into(),
                next_object_id: 1,
                battles: 0,
                respawns: vec![RespawnRecord::Monster {
                    due: 3,
                    seq: 9,
                    kind: 0,
                    zone: 1,
                }],
                respawn_next_seq: 10,
                config_number: 4,
                waiting_commands: vec![1],
                command_next_seq: 5,
            },
        );
        for f in [
            "respawn_next_seq",
            "config_number",
            "waiting_commands",
            "command_next_seq",
        ] {
            d.body.remove(f);
        }
        if let Some(Bson::Array(a)) = d.body.get_mut("respawns")
            && let Some(Bson::Document(r)) = a.first_mut()
        {
            r.remove("seq");
        }
        let m = d.decode::<WorldMetaRecord>().expect("older meta decodes");
        assert_eq!(m.config_number, 1);
        assert_eq!((m.respawn_next_seq, m.command_next_seq), (0, 0));
        assert!(m.waiting_commands.is_empty());
        assert_eq!(
            m.respawns,
            vec![RespawnRecord::Monster {
                due: 3,
                seq: 0,
                kind: 0,
                zone: 1
            }]
        );
    }

    #[test]
    fn corrupt_fields_are_named_not_panicked() {
        let mut d = StoredDoc::from_record(
            KingdomId(1),
            &WorldMetaRecord {
                tick: 1,
                seed: 2,
                config_version: "x".into(),
                next_object_id: 1,
                battles: 0,
                respawns: Vec::new(),
                respawn_next_seq: 0,
                config_number: 1,
                waiting_commands: Vec::new(),
                command_next_seq: 0,
            },
        );
        d.body.insert("tick", "soon");
        let err = d.decode::<WorldMetaRecord>().unwrap_err().to_string();
        assert!(
            err.contains("world_meta") && err.contains("1:world") && err.contains("tick"),
            "{err}"
        );
        let err = StoredDoc::from_bson_bytes(Collection::Players, "1:2", b"\x05\0\0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("players") && err.contains("1:2"), "{err}");
    }
}
