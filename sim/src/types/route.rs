//! A march's route: corner waypoints, departure tick and speed, from which its position at any
//! tick is computed; and the octile metric its lengths are measured in. Integer only: the same
//! numbers on every machine. Plain data: events, the AOI view and persistence carry it as it is.

use super::TilePos;

/// Cost of a straight step, in milli-tiles.
pub const STRAIGHT: u64 = 1000;
/// Cost of a diagonal step, in milli-tiles (√2 rounded).
pub const DIAGONAL: u64 = 1414;

/// Octile distance between two tiles in milli-tiles: the length of the shortest 8-neighbour walk
/// on open ground, and the exact length of a straight or diagonal route segment.
pub fn octile(a: TilePos, b: TilePos) -> u64 {
    let dx = u64::from(a.x.abs_diff(b.x));
    let dy = u64::from(a.y.abs_diff(b.y));
    let (lo, hi) = if dx < dy { (dx, dy) } else { (dy, dx) };
    hi * STRAIGHT + lo * (DIAGONAL - STRAIGHT)
}

/// Where a march goes and how fast: it leaves `waypoints[0]` at `depart_tick` and moves along the
/// straight (or diagonal) segments between waypoints at `speed` milli-tiles per tick.
///
/// The AOI can send this as it is (path + start tick + speed) and clients interpolate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// Corner tiles of the path, first = start, last = destination (never empty).
    pub waypoints: Vec<TilePos>,
    /// Tick the march left `waypoints[0]`.
    pub depart_tick: u64,
    /// Milli-tiles per tick (at least 1).
    pub speed: u32,
}

impl Route {
    /// A march standing still at `pos` from `tick`.
    pub fn at(pos: TilePos, tick: u64) -> Route {
        Route {
            waypoints: vec![pos],
            depart_tick: tick,
            speed: 1,
        }
    }

    /// Total length in milli-tiles.
    pub fn length(&self) -> u64 {
        self.waypoints.windows(2).map(|w| octile(w[0], w[1])).sum()
    }

    /// Tick of arrival at the destination: at least one tick after departure.
    pub fn arrival_tick(&self) -> u64 {
        let speed = u64::from(self.speed.max(1));
        self.depart_tick + self.length().div_ceil(speed).max(1)
    }

    /// Start tile.
    pub fn start(&self) -> TilePos {
        self.waypoints.first().copied().unwrap_or_default()
    }

    /// Destination tile.
    pub fn destination(&self) -> TilePos {
        self.waypoints.last().copied().unwrap_or_default()
    }

    /// The way back to the start from where the march is at `tick`: its position, then the
    /// waypoints it has passed, in reverse. It came that way, so the way is open.
    pub fn retrace(&self, tick: u64) -> Vec<TilePos> {
        let here = self.position_at(tick);
        let travelled = tick
            .saturating_sub(self.depart_tick)
            .saturating_mul(u64::from(self.speed.max(1)));
        // Waypoints reached (or passed) so far.
        let mut passed = 1;
        let mut left = travelled;
        for w in self.waypoints.windows(2) {
            let len = octile(w[0], w[1]);
            if left < len {
                break;
            }
            left -= len;
            passed += 1;
        }
        let mut out = vec![here];
        for &p in self.waypoints[..passed.min(self.waypoints.len())]
            .iter()
            .rev()
        {
            if out.last() != Some(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The tile the march is on at `tick` (the start before departure, the destination after
    /// arrival); partial progress along a segment rounds toward the segment's start.
    pub fn position_at(&self, tick: u64) -> TilePos {
        let travelled = tick
            .saturating_sub(self.depart_tick)
            .saturating_mul(u64::from(self.speed.max(1)));
        let mut left = travelled;
        for w in self.waypoints.windows(2) {
            let (a, b) = (w[0], w[1]);
            let len = octile(a, b);
            if left < len {
                let lerp = |from: u16, to: u16| -> u16 {
                    let (from, to) = (i64::from(from), i64::from(to));
                    (from + (to - from) * left as i64 / len as i64) as u16
                };
                return TilePos::new(lerp(a.x, b.x), lerp(a.y, b.y));
            }
            left -= len;
        }
        self.destination()
    }
}

/// Converts a speed in tiles per minute into milli-tiles per tick at `tick_hz` (at least 1).
pub fn milli_tiles_per_tick(tiles_per_minute: u32, tick_hz: u32) -> u32 {
    let per_tick = u64::from(tiles_per_minute) * 1000 / (60 * u64::from(tick_hz.max(1)));
    per_tick.clamp(1, u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_moves_along_segments_and_stops_at_the_end() {
        let r = Route {
            waypoints: vec![TilePos::new(0, 0), TilePos::new(10, 0), TilePos::new(10, 5)],
            depart_tick: 100,
            speed: 500,
        };
        assert_eq!(r.length(), 15_000);
        assert_eq!(r.arrival_tick(), 130);
        assert_eq!(r.position_at(50), TilePos::new(0, 0));
        assert_eq!(r.position_at(101), TilePos::new(0, 0));
        assert_eq!(r.position_at(110), TilePos::new(5, 0));
        assert_eq!(r.position_at(124), TilePos::new(10, 2));
        assert_eq!(r.position_at(130), TilePos::new(10, 5));
        assert_eq!(r.position_at(10_000), TilePos::new(10, 5));
    }

    #[test]
    fn retrace_leads_back_over_the_passed_waypoints() {
        let r = Route {
            waypoints: vec![TilePos::new(0, 0), TilePos::new(10, 0), TilePos::new(10, 5)],
            depart_tick: 100,
            speed: 500,
        };
        assert_eq!(r.retrace(100), vec![TilePos::new(0, 0)]);
        assert_eq!(r.retrace(110), vec![TilePos::new(5, 0), TilePos::new(0, 0)]);
        assert_eq!(
            r.retrace(120),
            vec![TilePos::new(10, 0), TilePos::new(0, 0)]
        );
        assert_eq!(
            r.retrace(124),
            vec![TilePos::new(10, 2), TilePos::new(10, 0), TilePos::new(0, 0)]
        );
        assert_eq!(
            r.retrace(500),
            vec![TilePos::new(10, 5), TilePos::new(10, 0), TilePos::new(0, 0)]
        );
    }

    #[test]
    fn speed_converts_with_the_tick_rate() {
        assert_eq!(milli_tiles_per_tick(40, 10), 66);
        assert_eq!(milli_tiles_per_tick(60, 10), 100);
        assert_eq!(milli_tiles_per_tick(1, 60), 1);
        assert_eq!(Route::at(TilePos::new(3, 3), 7).arrival_tick(), 8);
    }
}
