//! `aoi.toml`: what each zoom level shows, how large a viewport may be at that zoom, and how coarse
//! a resource field's "remaining" is when replicated.
//!
//! The file is optional: an assets folder without it gets [`AoiConfig::default`], which equals the
//! shipped `assets/aoi.toml`. A file that is present is validated like every other asset file.

use std::collections::BTreeMap;

use super::reader::{FileReader, entry_path, join};
use crate::types::{KindSet, ObjectKind};

/// One zoom level: the kinds it shows and the largest viewport it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoomLevel {
    /// Kinds of objects shown at this zoom.
    pub shows: KindSet,
    /// Widest viewport in tiles; wider requests are clamped.
    pub max_width: u16,
    /// Tallest viewport in tiles; taller requests are clamped.
    pub max_height: u16,
}

/// `aoi.toml` as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AoiConfig {
    /// Zoom levels by level number (index 0 = closest); never empty.
    pub zooms: Vec<ZoomLevel>,
    /// A field's `remaining` is replicated rounded up to a multiple of this, so gathering changes
    /// it on the wire only when it crosses a step.
    pub field_remaining_step: u64,
    /// Viewport moves (pans, zooms, new observers) applied per tick at most; the rest keep their
    /// current view (and its updates) and move in the next ticks, in turn (round robin over
    /// observers), so a burst of moves cannot stretch one tick and no observer waits more than
    /// `waiting / viewport_moves_per_tick` ticks.
    pub viewport_moves_per_tick: u32,
}

impl Default for AoiConfig {
    /// The values of the shipped `assets/aoi.toml`.
    fn default() -> Self {
        use ObjectKind::*;
        AoiConfig {
            zooms: vec![
                ZoomLevel {
                    shows: KindSet::of(&[City, CitySlot, Field, Monster, March]),
                    max_width: 64,
                    max_height: 64,
                },
                ZoomLevel {
                    shows: KindSet::of(&[City, Field, Monster, March]),
                    max_width: 128,
                    max_height: 128,
                },
                ZoomLevel {
                    shows: KindSet::of(&[City, March]),
                    max_width: 320,
                    max_height: 320,
                },
            ],
            field_remaining_step: 1000,
            viewport_moves_per_tick: DEFAULT_VIEWPORT_MOVES_PER_TICK,
        }
    }
}

impl AoiConfig {
    /// The rules of `zoom`; levels beyond the last configured one use the last.
    pub fn zoom(&self, zoom: u8) -> &ZoomLevel {
        let i = usize::from(zoom).min(self.zooms.len().saturating_sub(1));
        &self.zooms[i]
    }
}

/// `viewport_moves_per_tick` when the file does not say: measured with `cargo bench --bench aoi`
/// (burst scenario), a move costs ~25-35 µs of AOI and encoding, so 128 keep a burst within
/// ~5 ms of the tick.
pub const DEFAULT_VIEWPORT_MOVES_PER_TICK: u32 = 128;

/// Highest zoom level a file may define (the wire carries zoom as a `u8`, the protocol caps it).
const MAX_LEVEL: usize = 7;

pub(crate) fn parse(r: &mut FileReader<'_>) -> Option<AoiConfig> {
    let doc = r.parse()?;
    let root = r.root(&doc);
    r.deny_unknown(
        root,
        &["field_remaining_step", "viewport_moves_per_tick", "zoom"],
    );
    let step = r.int(root, "field_remaining_step", 1..=1_000_000_000);
    let moves = r.int_or(
        root,
        "viewport_moves_per_tick",
        1..=1_000_000,
        i64::from(DEFAULT_VIEWPORT_MOVES_PER_TICK),
    );
    let entries = r.tables(root, "zoom");
    let paths: Vec<String> = (0..entries.len())
        .map(|i| entry_path("", "zoom", i))
        .collect();
    let mut ok = !entries.is_empty();
    let mut zooms = Vec::new();
    for (i, (entry, path)) in entries.into_iter().zip(&paths).enumerate() {
        let t = entry.with_path(path);
        r.deny_unknown(t, &["level", "shows", "max_width", "max_height"]);
        if i > MAX_LEVEL {
            let line = r.line_of_key(t, "level");
            r.push(
                line,
                path,
                format!("at most {} zoom levels may be listed", MAX_LEVEL + 1),
            );
            ok = false;
            continue;
        }
        let level = r.int(t, "level", 0..=MAX_LEVEL as i64);
        if let Some(level) = level
            && level != i as i64
        {
            let line = r.line_of_key(t, "level");
            r.push(
                line,
                &join(path, "level"),
                format!("must be {i} (levels are listed in order from 0), found {level}"),
            );
            ok = false;
        }
        let shows = shows(r, t.inner, path, r.line_of_key(t, "shows"));
        let w = r.int(t, "max_width", 1..=4096);
        let h = r.int(t, "max_height", 1..=4096);
        match (level, shows, w, h) {
            (Some(_), Some(shows), Some(w), Some(h)) => zooms.push(ZoomLevel {
                shows,
                max_width: w as u16,
                max_height: h as u16,
            }),
            _ => ok = false,
        }
    }
    let (step, moves) = (step?, moves?);
    ok.then_some(AoiConfig {
        zooms,
        field_remaining_step: step as u64,
        viewport_moves_per_tick: moves as u32,
    })
}

/// Reads `shows = ["city", …]`: a non-empty list of known kind names, each at most once.
fn shows(
    r: &mut FileReader<'_>,
    t: &dyn toml_edit::TableLike,
    path: &str,
    line: usize,
) -> Option<KindSet> {
    let field = join(path, "shows");
    let names: Vec<&str> = ObjectKind::ALL.iter().map(|k| k.name()).collect();
    let Some(item) = t.get("shows").filter(|i| !i.is_none()) else {
        r.push(line, &field, "missing field");
        return None;
    };
    let Some(array) = item.as_array() else {
        r.push(
            line,
            &field,
            format!(
                "expected a list of kind names (one of: {}), found {}",
                names.join(", "),
                item.type_name()
            ),
        );
        return None;
    };
    let mut set = KindSet::EMPTY;
    let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
    let mut ok = true;
    for v in array.iter() {
        let Some(name) = v.as_str() else {
            r.push(
                line,
                &field,
                format!("expected a kind name, found {}", v.type_name()),
            );
            ok = false;
            continue;
        };
        match ObjectKind::from_name(name) {
            Some(kind) if seen.insert(kind.name(), ()).is_none() => set.insert(kind),
            Some(_) => {
                r.push(line, &field, format!("\"{name}\" is listed twice"));
                ok = false;
            }
            None => {
                r.push(
                    line,
                    &field,
                    format!(
                        "unknown kind \"{name}\" (expected one of: {})",
                        names.join(", ")
                    ),
                );
                ok = false;
            }
        }
    }
    if ok && set == KindSet::EMPTY {
        r.push(line, &field, "must list at least one kind");
        ok = false;
    }
    ok.then_some(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        let mut r = FileReader::new("aoi.toml", text);
        let _ = parse(&mut r);
        r.errors.sort_by_key(|e| e.line);
        r.errors.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn shipped_file_equals_the_default() {
        let mut r = FileReader::new("aoi.toml", include_str!("../../../assets/aoi.toml"));
        let parsed = parse(&mut r);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(parsed, Some(AoiConfig::default()));
    }

    #[test]
    fn bad_files_get_exact_errors() {
        let text = "field_remaining_step = 0\n\
                    viewport_moves_per_tick = 0\n\
                    [[zoom]]\n\
                    level = 0\n\
                    shows = [\"city\", \"castle\", \"city\"]\n\
                    max_width = 64\n\
                    max_height = 64\n\
                    [[zoom]]\n\
                    level = 2\n\
                    shows = []\n\
                    max_width = 0\n\
                    max_height = 64\n\
                    colour = 1\n";
        assert_eq!(
            errors(text),
            vec![
                "aoi.toml:1: field_remaining_step: must be between 1 and 1000000000, found 0",
                "aoi.toml:2: viewport_moves_per_tick: must be between 1 and 1000000, found 0",
                "aoi.toml:5: zoom[0].shows: unknown kind \"castle\" (expected one of: city, city_slot, field, monster, march)",
                "aoi.toml:5: zoom[0].shows: \"city\" is listed twice",
                "aoi.toml:9: zoom[1].level: must be 1 (levels are listed in order from 0), found 2",
                "aoi.toml:10: zoom[1].shows: must list at least one kind",
                "aoi.toml:11: zoom[1].max_width: must be between 1 and 4096, found 0",
                "aoi.toml:13: zoom[1].colour: unknown field (expected one of: level, shows, max_width, max_height)",
            ]
        );
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let text = "field_remaining_step = 10\n[[zoom]]\nlevel = 0\nshows = \"city\"\n";
        assert_eq!(
            errors(text),
            vec![
                "aoi.toml:2: zoom[0].max_width: missing field",
                "aoi.toml:2: zoom[0].max_height: missing field",
                "aoi.toml:4: zoom[0].shows: expected a list of kind names (one of: city, city_slot, field, monster, march), found string",
            ]
        );
    }

    #[test]
    fn zoom_beyond_the_last_level_uses_the_last() {
        let c = AoiConfig::default();
        assert_eq!(c.zoom(7), &c.zooms[2]);
        assert!(c.zoom(0).shows.contains(ObjectKind::CitySlot));
        assert!(!c.zoom(2).shows.contains(ObjectKind::Field));
    }
}
