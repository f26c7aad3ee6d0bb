//! Lookups the rules need every tick: object id → entity, and tile → the object standing on it.
//!
//! Both are derived from the components (rebuilt, never persisted) and kept in step by every
//! system that spawns, moves or removes an object.

use std::collections::BTreeMap;

use bevy_ecs::prelude::{Entity, Resource};

use crate::types::{ObjectId, TilePos};

/// Where to find objects: by stable id (map objects, cities and marches) and by tile (objects that
/// stand on a tile; at most one per tile).
#[derive(Resource, Debug, Default)]
pub struct ObjectIndex {
    by_id: BTreeMap<ObjectId, Entity>,
    by_tile: Vec<Option<Entity>>,
    width: u16,
}

impl ObjectIndex {
    /// An empty index for a `width × height` map.
    pub fn new(width: u16, height: u16) -> Self {
        ObjectIndex {
            by_id: BTreeMap::new(),
            by_tile: vec![None; usize::from(width) * usize::from(height)],
            width,
        }
    }

    fn slot(&self, pos: TilePos) -> Option<usize> {
        let i = usize::from(pos.y) * usize::from(self.width) + usize::from(pos.x);
        (pos.x < self.width && i < self.by_tile.len()).then_some(i)
    }

    /// The entity of an id.
    pub fn entity(&self, id: ObjectId) -> Option<Entity> {
        self.by_id.get(&id).copied()
    }

    /// The object standing on `pos`.
    pub fn at(&self, pos: TilePos) -> Option<Entity> {
        self.slot(pos).and_then(|i| self.by_tile[i])
    }

    /// Records an id (marches have no tile).
    pub fn insert_id(&mut self, id: ObjectId, entity: Entity) {
        self.by_id.insert(id, entity);
    }

    /// Records an object standing on `pos`.
    pub fn insert(&mut self, id: ObjectId, pos: TilePos, entity: Entity) {
        self.by_id.insert(id, entity);
        if let Some(i) = self.slot(pos) {
            self.by_tile[i] = Some(entity);
        }
    }

    /// Forgets an id, and the tile `pos` if it holds that id's entity.
    pub fn remove(&mut self, id: ObjectId, pos: Option<TilePos>) {
        let entity = self.by_id.remove(&id);
        if let (Some(pos), Some(e)) = (pos, entity)
            && let Some(i) = self.slot(pos)
            && self.by_tile[i] == Some(e)
        {
            self.by_tile[i] = None;
        }
    }

    /// Moves a standing object from one tile to another.
    pub fn relocate(&mut self, from: TilePos, to: TilePos, entity: Entity) {
        if let Some(i) = self.slot(from)
            && self.by_tile[i] == Some(entity)
        {
            self.by_tile[i] = None;
        }
        if let Some(i) = self.slot(to) {
            self.by_tile[i] = Some(entity);
        }
    }

    /// Number of ids known.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no id is known.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
