//! The tile grid: terrain kind and zone level of every tile.

use bevy_ecs::prelude::Resource;

use crate::types::TilePos;

/// What a tile is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TerrainKind {
    /// Open ground: passable, objects may stand here.
    Plain = 0,
    /// Impassable.
    Mountain = 1,
    /// Impassable river.
    Water = 2,
    /// A gap through a wall or a bridge over a river: passable, never holds an object.
    Pass = 3,
}

impl TerrainKind {
    fn from_bits(b: u8) -> Self {
        match b & 0b11 {
            0 => TerrainKind::Plain,
            1 => TerrainKind::Mountain,
            2 => TerrainKind::Water,
            _ => TerrainKind::Pass,
        }
    }
    /// Marches may cross this tile.
    pub fn passable(self) -> bool {
        matches!(self, TerrainKind::Plain | TerrainKind::Pass)
    }
}

/// One tile packed in a byte: terrain kind in the low 2 bits, zone level above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Tile(u8);

impl Tile {
    /// Packs a tile.
    pub fn new(kind: TerrainKind, zone: u8) -> Self {
        Tile((zone << 2) | kind as u8)
    }
    /// Terrain kind.
    pub fn kind(self) -> TerrainKind {
        TerrainKind::from_bits(self.0)
    }
    /// Zone level (1 at the edge).
    pub fn zone(self) -> u8 {
        self.0 >> 2
    }
    /// The packed byte, for hashing and storage.
    pub fn bits(self) -> u8 {
        self.0
    }
    /// A tile from its packed byte (as stored by [`Tile::bits`]).
    pub fn from_bits(bits: u8) -> Self {
        Tile(bits)
    }
}

/// The whole tile grid, row-major.
#[derive(Resource, Clone, Debug, PartialEq, Eq)]
pub struct Terrain {
    width: u16,
    height: u16,
    tiles: Vec<Tile>,
}

impl Terrain {
    /// A grid from row-major tiles; `tiles.len()` must be `width * height`.
    pub fn from_tiles(width: u16, height: u16, tiles: Vec<Tile>) -> Self {
        assert_eq!(tiles.len(), usize::from(width) * usize::from(height));
        Terrain {
            width,
            height,
            tiles,
        }
    }
    /// Tiles east-west.
    pub fn width(&self) -> u16 {
        self.width
    }
    /// Tiles north-south.
    pub fn height(&self) -> u16 {
        self.height
    }
    /// True if `pos` is on the map.
    pub fn contains(&self, pos: TilePos) -> bool {
        pos.x < self.width && pos.y < self.height
    }
    /// The tile at `pos`, `None` off the map.
    pub fn get(&self, pos: TilePos) -> Option<Tile> {
        self.contains(pos).then(|| self.tiles[self.index(pos)])
    }
    /// Row-major index of an on-map tile.
    pub fn index(&self, pos: TilePos) -> usize {
        usize::from(pos.y) * usize::from(self.width) + usize::from(pos.x)
    }
    /// True if marches may cross `pos` (false off the map).
    pub fn passable(&self, pos: TilePos) -> bool {
        self.get(pos).is_some_and(|t| t.kind().passable())
    }
    /// All tiles, row-major.
    pub fn tiles(&self) -> &[Tile] {
        &self.tiles
    }
    /// Number of tiles of each kind, indexed by `TerrainKind as usize`.
    pub fn census(&self) -> [usize; 4] {
        let mut c = [0; 4];
        for t in &self.tiles {
            c[t.kind() as usize] += 1;
        }
        c
    }
}
