//! Exact path finding on the whole tile grid: A* over 8 neighbours with a node budget, returning
//! the corner tiles of the path (waypoints) rather than every tile.
//!
//! Marches do not use this: a far search floods much of a zone ring (~20 ms on the default
//! map). Routes come from [`super::route_graph`] and [`super::route_plan`]; this search is the
//! exact reference they are measured and tested against (`cargo bench --bench routes`).
//!
//! Deterministic: ties in the open list break on (f, h, tile index), never on memory addresses or
//! hash order. The passable tiles are labelled once into connected regions, so a target in
//! another region is refused at once; within a region the search gives up after `budget`
//! expanded tiles.

pub use super::rect_search::compress;
use super::rect_search::{RectSearch, TileRect};
use crate::map::Terrain;
use crate::types::TilePos;
pub use crate::types::{DIAGONAL, STRAIGHT, octile};

/// Why no path was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoPath {
    /// Start or goal is off the map or impassable.
    Blocked,
    /// The goal lies in another region: no walk around mountains and water leads there (or,
    /// for the exact search only, the search ran out of its budget).
    Unreachable,
}

/// Reusable search buffers, sized to the map on first use, so a search allocates nothing per call.
/// The search itself is [`RectSearch`] over the whole map.
#[derive(Default, Debug)]
pub struct PathScratch {
    /// Connected region of each tile (0 = impassable), labelled on first use.
    regions: Vec<u32>,
    search: RectSearch,
}

impl PathScratch {
    /// Finds a shortest 8-neighbour path from `start` to `goal` that never cuts a blocked corner,
    /// exploring at most `budget` tiles. Returns the waypoints: start, every tile where the
    /// direction changes, and goal.
    pub fn find(
        &mut self,
        terrain: &Terrain,
        start: TilePos,
        goal: TilePos,
        budget: u32,
    ) -> Result<Vec<TilePos>, NoPath> {
        if !terrain.passable(start) || !terrain.passable(goal) {
            return Err(NoPath::Blocked);
        }
        if start == goal {
            return Ok(vec![start]);
        }
        if self.regions.len() != terrain.tiles().len() {
            self.regions = label_regions(terrain);
        }
        if self.regions[terrain.index(start)] != self.regions[terrain.index(goal)] {
            return Err(NoPath::Unreachable);
        }
        let whole = TileRect::around(start, start, u16::MAX, terrain.width(), terrain.height());
        if self
            .search
            .run(terrain, whole, start, Some(goal), budget as usize)
        {
            self.search.waypoints_to(goal).ok_or(NoPath::Unreachable)
        } else {
            Err(NoPath::Unreachable)
        }
    }
}

/// Labels 4-connected regions of passable tiles (1, 2, …; 0 for impassable). A* never cuts a
/// corner, so its 8-neighbour moves connect exactly the tiles 4-neighbour moves do.
pub(crate) fn label_regions(terrain: &Terrain) -> Vec<u32> {
    let (w, h) = (usize::from(terrain.width()), usize::from(terrain.height()));
    let tiles = terrain.tiles();
    let mut region = vec![0u32; tiles.len()];
    let mut next = 0u32;
    let mut stack = Vec::new();
    for start in 0..tiles.len() {
        if region[start] != 0 || !tiles[start].kind().passable() {
            continue;
        }
        next += 1;
        region[start] = next;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if region[j] == 0 && tiles[j].kind().passable() {
                    region[j] = next;
                    stack.push(j);
                }
            };
            if x + 1 < w {
                visit(i + 1);
            }
            if x > 0 {
                visit(i - 1);
            }
            if y + 1 < h {
                visit(i + w);
            }
            if y > 0 {
                visit(i - w);
            }
        }
    }
    region
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{TerrainKind, Tile};

    fn grid(rows: &[&str]) -> Terrain {
        let h = rows.len() as u16;
        let w = rows[0].len() as u16;
        let tiles = rows
            .iter()
            .flat_map(|r| {
                r.chars().map(|c| {
                    let kind = match c {
                        '#' => TerrainKind::Mountain,
                        '~' => TerrainKind::Water,
                        'p' => TerrainKind::Pass,
                        _ => TerrainKind::Plain,
                    };
                    Tile::new(kind, 1)
                })
            })
            .collect();
        Terrain::from_tiles(w, h, tiles)
    }

    #[test]
    fn open_ground_path_is_a_diagonal_then_straight() {
        let t = grid(&[".........", ".........", ".........", "........."]);
        let mut s = PathScratch::default();
        let p = s
            .find(&t, TilePos::new(0, 0), TilePos::new(8, 3), 10_000)
            .unwrap();
        let len: u64 = p.windows(2).map(|w| octile(w[0], w[1])).sum();
        assert_eq!(len, octile(TilePos::new(0, 0), TilePos::new(8, 3)));
        assert_eq!(p.first(), Some(&TilePos::new(0, 0)));
        assert_eq!(p.last(), Some(&TilePos::new(8, 3)));
        assert_eq!(
            p.len(),
            3,
            "one corner between a diagonal and a straight run: {p:?}"
        );
    }

    #[test]
    fn path_goes_through_the_pass_and_never_cuts_corners() {
        let t = grid(&[
            ".....#.....",
            ".....#.....",
            ".....p.....",
            ".....#.....",
            ".....#.....",
        ]);
        let mut s = PathScratch::default();
        let p = s
            .find(&t, TilePos::new(0, 0), TilePos::new(10, 0), 10_000)
            .unwrap();
        // Walk the waypoints tile by tile: every tile passable, every diagonal step clear.
        let mut tiles = vec![p[0]];
        for w in p.windows(2) {
            let (mut x, mut y) = (i32::from(w[0].x), i32::from(w[0].y));
            let (tx, ty) = (i32::from(w[1].x), i32::from(w[1].y));
            while (x, y) != (tx, ty) {
                let (dx, dy) = ((tx - x).signum(), (ty - y).signum());
                if dx != 0 && dy != 0 {
                    assert!(t.passable(TilePos::new((x + dx) as u16, y as u16)));
                    assert!(t.passable(TilePos::new(x as u16, (y + dy) as u16)));
                }
                x += dx;
                y += dy;
                tiles.push(TilePos::new(x as u16, y as u16));
            }
        }
        assert!(tiles.iter().all(|&p| t.passable(p)));
        assert!(tiles.contains(&TilePos::new(5, 2)), "crosses at the pass");
    }

    #[test]
    fn walled_off_target_is_unreachable_within_budget() {
        let t = grid(&["..#..", "..#..", "..#.."]);
        let mut s = PathScratch::default();
        assert_eq!(
            s.find(&t, TilePos::new(0, 0), TilePos::new(4, 0), 1_000),
            Err(NoPath::Unreachable)
        );
        assert_eq!(
            s.find(&t, TilePos::new(0, 0), TilePos::new(2, 0), 1_000),
            Err(NoPath::Blocked)
        );
        let open = grid(&["...................."; 20]);
        let mut s = PathScratch::default();
        assert_eq!(
            s.find(&open, TilePos::new(0, 0), TilePos::new(19, 19), 3),
            Err(NoPath::Unreachable),
            "a tiny budget gives up instead of searching on"
        );
        assert!(
            s.find(&open, TilePos::new(0, 0), TilePos::new(19, 19), 100)
                .is_ok(),
            "a bigger budget finds it"
        );
    }
}
