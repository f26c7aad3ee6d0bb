//! Geometry of interest: viewports, the visibility rule, and the uniform grid of cells the
//! indexes are built on. Integer only, so the index and the brute-force reference agree exactly.

use crate::config::AoiConfig;
use crate::types::TilePos;

use super::view::{Body, ObjectView};

/// Side of a grid cell in tiles.
pub const CELL: u16 = 32;

/// What an observer watches: a rectangle of tiles and a zoom level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Viewport {
    /// West edge (tile column).
    pub x: u16,
    /// North edge (tile row).
    pub y: u16,
    /// Width in tiles (at least 1 once clamped).
    pub w: u16,
    /// Height in tiles (at least 1 once clamped).
    pub h: u16,
    /// Zoom level (0 = closest).
    pub zoom: u8,
}

impl Viewport {
    /// A viewport.
    pub const fn new(x: u16, y: u16, w: u16, h: u16, zoom: u8) -> Viewport {
        Viewport { x, y, w, h, zoom }
    }

    /// The viewport as applied: zoom capped at the last configured level, size capped by that
    /// level's maximum and at least one tile, and the rectangle kept inside a `width × height` map.
    pub fn clamped(self, config: &AoiConfig, width: u16, height: u16) -> Viewport {
        let zoom = (usize::from(self.zoom).min(config.zooms.len().saturating_sub(1))) as u8;
        let z = config.zoom(zoom);
        let w = self.w.clamp(1, z.max_width.min(width).max(1));
        let h = self.h.clamp(1, z.max_height.min(height).max(1));
        let x = self.x.min(width.saturating_sub(w));
        let y = self.y.min(height.saturating_sub(h));
        Viewport { x, y, w, h, zoom }
    }

    /// The tiles covered, as an inclusive rectangle.
    pub fn rect(&self) -> Rect {
        Rect {
            x0: i64::from(self.x),
            y0: i64::from(self.y),
            x1: i64::from(self.x) + i64::from(self.w.max(1)) - 1,
            y1: i64::from(self.y) + i64::from(self.h.max(1)) - 1,
        }
    }
}

/// A closed axis-aligned rectangle `[x0, x1] × [y0, y1]` in tile coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// West edge.
    pub x0: i64,
    /// North edge.
    pub y0: i64,
    /// East edge (inclusive).
    pub x1: i64,
    /// South edge (inclusive).
    pub y1: i64,
}

impl Rect {
    /// True if the tile is inside.
    pub fn contains(&self, p: TilePos) -> bool {
        let (x, y) = (i64::from(p.x), i64::from(p.y));
        self.x0 <= x && x <= self.x1 && self.y0 <= y && y <= self.y1
    }

    /// True if the straight segment between the centres-of-coordinates `a` and `b` touches the
    /// rectangle (separating-axis test: both axes and the segment's normal).
    pub fn touches_segment(&self, a: TilePos, b: TilePos) -> bool {
        let (ax, ay, bx, by) = (
            i64::from(a.x),
            i64::from(a.y),
            i64::from(b.x),
            i64::from(b.y),
        );
        if ax.max(bx) < self.x0
            || ax.min(bx) > self.x1
            || ay.max(by) < self.y0
            || ay.min(by) > self.y1
        {
            return false;
        }
        let (dx, dy) = (bx - ax, by - ay);
        let side = |x: i64, y: i64| (dx * (y - ay) - dy * (x - ax)).signum();
        let s = [
            side(self.x0, self.y0),
            side(self.x1, self.y0),
            side(self.x0, self.y1),
            side(self.x1, self.y1),
        ];
        !(s.iter().all(|&v| v > 0) || s.iter().all(|&v| v < 0))
    }

    /// True if the polyline through `points` touches the rectangle (a single point: contains it).
    pub fn touches_path(&self, points: &[TilePos]) -> bool {
        match points {
            [] => false,
            [p] => self.contains(*p),
            _ => points.windows(2).any(|w| self.touches_segment(w[0], w[1])),
        }
    }
}

/// The tiles an object occupies for interest: a standing object its tile; a travelling march its
/// whole route; a march standing still (gathering, stationed) the tile at the end of its route.
pub fn footprint(view: &ObjectView) -> &[TilePos] {
    match &view.body {
        Body::March(m) if m.phase.moving() => &m.route.waypoints,
        _ => std::slice::from_ref(&view.pos),
    }
}

/// The interest rule, applied to one object: its kind is shown at the viewport's zoom and its
/// footprint touches the viewport's rectangle. `viewport` must already be clamped.
pub fn visible(view: &ObjectView, viewport: &Viewport, config: &AoiConfig) -> bool {
    config.zoom(viewport.zoom).shows.contains(view.kind())
        && viewport.rect().touches_path(footprint(view))
}

/// A uniform grid of [`CELL`]-tile cells over a `width × height` map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Cells per row.
    pub cols: u32,
    /// Cells per column.
    pub rows: u32,
}

impl Grid {
    /// The grid over a map.
    pub fn new(width: u16, height: u16) -> Grid {
        Grid {
            cols: u32::from(width.max(1)).div_ceil(u32::from(CELL)),
            rows: u32::from(height.max(1)).div_ceil(u32::from(CELL)),
        }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        (self.cols * self.rows) as usize
    }

    /// True for a grid of no cells (never, for a real map).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn col(&self, x: i64) -> u32 {
        (x.max(0) / i64::from(CELL)).min(i64::from(self.cols) - 1) as u32
    }

    fn row(&self, y: i64) -> u32 {
        (y.max(0) / i64::from(CELL)).min(i64::from(self.rows) - 1) as u32
    }

    /// The cell holding a tile.
    pub fn cell_of(&self, p: TilePos) -> u32 {
        self.row(i64::from(p.y)) * self.cols + self.col(i64::from(p.x))
    }

    /// Inclusive cell ranges `(c0, r0, c1, r1)` a rectangle overlaps.
    pub fn range(&self, r: &Rect) -> (u32, u32, u32, u32) {
        (
            self.col(r.x0),
            self.row(r.y0),
            self.col(r.x1),
            self.row(r.y1),
        )
    }

    /// Calls `f` for each cell a rectangle overlaps, row by row.
    pub fn for_cells(&self, r: &Rect, mut f: impl FnMut(u32)) {
        let (c0, r0, c1, r1) = self.range(r);
        for row in r0..=r1 {
            for col in c0..=c1 {
                f(row * self.cols + col);
            }
        }
    }

    /// Calls `f` for every cell a segment touches (a superset: each cell is tested with its
    /// closed square one tile larger than its own tiles, so a segment passing between two cells'
    /// tiles is reported for both). `a == b` is the cell of that tile.
    pub fn segment_cells(&self, a: TilePos, b: TilePos, mut f: impl FnMut(u32)) {
        let bbox = Rect {
            x0: i64::from(a.x.min(b.x)),
            y0: i64::from(a.y.min(b.y)),
            x1: i64::from(a.x.max(b.x)),
            y1: i64::from(a.y.max(b.y)),
        };
        let (c0, r0, c1, r1) = self.range(&bbox);
        for row in r0..=r1 {
            for col in c0..=c1 {
                let cell = Rect {
                    x0: i64::from(col) * i64::from(CELL),
                    y0: i64::from(row) * i64::from(CELL),
                    x1: i64::from(col + 1) * i64::from(CELL),
                    y1: i64::from(row + 1) * i64::from(CELL),
                };
                if c0 == c1 || r0 == r1 || cell.touches_segment(a, b) {
                    f(row * self.cols + col);
                }
            }
        }
    }

    /// Pushes every cell a path touches ([`Grid::segment_cells`] of each segment). Sorted,
    /// without repeats.
    pub fn path_cells(&self, points: &[TilePos], out: &mut Vec<u32>) {
        out.clear();
        if points.len() < 2 {
            if let Some(p) = points.first() {
                out.push(self.cell_of(*p));
            }
            return;
        }
        for w in points.windows(2) {
            self.segment_cells(w[0], w[1], |c| out.push(c));
        }
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(x: u16, y: u16) -> TilePos {
        TilePos::new(x, y)
    }

    #[test]
    fn segments_touch_rectangles_exactly() {
        let r = Viewport::new(10, 10, 5, 5, 0).rect(); // [10,14]²
        assert!(r.touches_segment(t(0, 12), t(30, 12))); // straight through
        assert!(r.touches_segment(t(0, 0), t(20, 20))); // diagonal through
        assert!(!r.touches_segment(t(0, 0), t(9, 30))); // passes west
        assert!(r.touches_segment(t(14, 14), t(40, 40))); // starts on the corner
        assert!(!r.touches_segment(t(0, 20), t(20, 31))); // below
        assert!(r.touches_segment(t(9, 16), t(16, 9))); // anti-diagonal clips the corner
        assert!(r.touches_segment(t(0, 20), t(20, 0))); // x + y = 20 meets the corner (10, 10)
        assert!(!r.touches_segment(t(0, 19), t(19, 0))); // x + y = 19 passes north-west
        assert!(!r.touches_segment(t(9, 20), t(20, 9))); // x + y = 29 passes south-east
        assert!(r.touches_path(&[t(12, 12)]));
        assert!(!r.touches_path(&[t(15, 12)]));
    }

    #[test]
    fn path_cells_cover_every_point_of_the_path() {
        let g = Grid::new(200, 200);
        let mut cells = Vec::new();
        let path = [t(3, 5), t(150, 40), t(150, 199), t(0, 199)];
        g.path_cells(&path, &mut cells);
        // Every integer point on the path (sampled finely) lies in a recorded cell.
        for w in path.windows(2) {
            for i in 0..=1000i64 {
                let x = i64::from(w[0].x) + (i64::from(w[1].x) - i64::from(w[0].x)) * i / 1000;
                let y = i64::from(w[0].y) + (i64::from(w[1].y) - i64::from(w[0].y)) * i / 1000;
                let c = g.cell_of(t(x as u16, y as u16));
                assert!(cells.binary_search(&c).is_ok(), "({x},{y}) cell {c}");
            }
        }
        assert!(cells.len() < g.len());
    }

    #[test]
    fn viewports_are_clamped_to_zoom_and_map() {
        let c = AoiConfig::default();
        let v = Viewport::new(1190, 5, 500, 0, 9).clamped(&c, 1200, 1200);
        assert_eq!(v, Viewport::new(880, 5, 320, 1, 2));
        let v = Viewport::new(0, 0, 100, 100, 0).clamped(&c, 50, 1200);
        assert_eq!(v, Viewport::new(0, 0, 50, 64, 0));
    }
}
