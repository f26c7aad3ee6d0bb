//! The kinds of objects on the map, as the AOI replicates and `aoi.toml` filters them.

/// The kinds of replicated objects; zoom levels filter by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ObjectKind {
    /// A player's city.
    City = 0,
    /// A free tile reserved for a city.
    CitySlot = 1,
    /// A resource field.
    Field = 2,
    /// A monster.
    Monster = 3,
    /// A march.
    March = 4,
}

impl ObjectKind {
    /// Every kind, in discriminant order.
    pub const ALL: [ObjectKind; 5] = [
        ObjectKind::City,
        ObjectKind::CitySlot,
        ObjectKind::Field,
        ObjectKind::Monster,
        ObjectKind::March,
    ];

    /// The name used in `aoi.toml`.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::City => "city",
            ObjectKind::CitySlot => "city_slot",
            ObjectKind::Field => "field",
            ObjectKind::Monster => "monster",
            ObjectKind::March => "march",
        }
    }

    /// Parses an `aoi.toml` kind name.
    pub fn from_name(name: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A set of [`ObjectKind`]s (one bit per kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct KindSet(pub u8);

impl KindSet {
    /// No kind.
    pub const EMPTY: KindSet = KindSet(0);
    /// Every kind.
    pub const ALL: KindSet = KindSet(0b1_1111);

    /// The set of `kinds`.
    pub fn of(kinds: &[ObjectKind]) -> KindSet {
        let mut s = KindSet::EMPTY;
        for &k in kinds {
            s.insert(k);
        }
        s
    }
    /// Adds a kind.
    pub fn insert(&mut self, kind: ObjectKind) {
        self.0 |= 1 << kind as u8;
    }
    /// True if `kind` is in the set.
    pub fn contains(self, kind: ObjectKind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }
    /// True if any kind standing on a tile (not a march) is in the set.
    pub fn any_static(self) -> bool {
        self.0 & !(1 << ObjectKind::March as u8) != 0
    }
}
