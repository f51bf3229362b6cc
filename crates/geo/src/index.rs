//! Point → unit grid → community → street → district → city.
//!
//! Every case, alarm and device position is located, so this sits on the hot
//! path: a [`Locator`] is built once from the stored areas and grids (and
//! rebuilt after an import; share it behind an `Arc`), then answers lookups
//! without allocating. Each level has an R-tree over the polygons' bounding
//! boxes; candidates are confirmed by a banded point-in-polygon test
//! (`pip::PolygonSet`), which is several times faster than geo's general
//! `Contains`/`Relate` on real boundaries.
//!
//! The finest match decides: once a grid is found, its community, street,
//! district and city come from the code hierarchy (so areas imported as a code
//! list without boundaries are still named), and only the levels the hierarchy
//! leaves open are searched geometrically.

use crate::pip::PolygonSet;
use chengyun_domain::city::{Area, Location, NamedCode, UnitGrid};
use chengyun_domain::codes::{AreaLevel, DivisionCode, GridCode};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use std::collections::HashMap;

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// The levels a [`Location`] reports, finest first.
const LEVELS: [AreaLevel; 4] = [
    AreaLevel::Community,
    AreaLevel::Street,
    AreaLevel::District,
    AreaLevel::City,
];

/// The result of [`Locator::locate_hit`]: indices into the locator's grids
/// and areas. Cheap to copy; read it with the locator's accessors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Hit {
    pub grid: Option<u32>,
    pub community: Option<u32>,
    pub street: Option<u32>,
    pub district: Option<u32>,
    pub city: Option<u32>,
}

impl Hit {
    /// Whether nothing at all was found.
    pub fn is_empty(&self) -> bool {
        self.grid.is_none()
            && self.community.is_none()
            && self.street.is_none()
            && self.district.is_none()
            && self.city.is_none()
    }

    /// The area index found at `level` (always `None` for provinces).
    pub fn area(&self, level: AreaLevel) -> Option<u32> {
        match level {
            AreaLevel::Province => None,
            AreaLevel::City => self.city,
            AreaLevel::District => self.district,
            AreaLevel::Street => self.street,
            AreaLevel::Community => self.community,
        }
    }

    fn slot(&mut self, level: AreaLevel) -> Option<&mut Option<u32>> {
        match level {
            AreaLevel::Province => None,
            AreaLevel::City => Some(&mut self.city),
            AreaLevel::District => Some(&mut self.district),
            AreaLevel::Street => Some(&mut self.street),
            AreaLevel::Community => Some(&mut self.community),
        }
    }
}

#[derive(Debug, Clone)]
struct AreaEntry {
    code: DivisionCode,
    name: String,
    level: AreaLevel,
    /// The nearest known enclosing area, always of a coarser level.
    parent: Option<u32>,
}

#[derive(Debug, Clone)]
struct GridEntry {
    code: GridCode,
    name: Option<String>,
    /// The nearest known area the grid belongs to.
    area: Option<u32>,
}

/// Polygons of one level with their R-tree; `owners[i]` is the grid or area
/// index of polygon `i`.
#[derive(Debug, Clone, Default)]
struct LevelIndex {
    shapes: PolygonSet,
    owners: Vec<u32>,
    tree: RTree<Entry>,
}

impl LevelIndex {
    fn from_shapes<'a>(
        items: impl Iterator<Item = (u32, &'a geo::MultiPolygon<f64>)>,
    ) -> LevelIndex {
        let mut shapes = PolygonSet::default();
        let mut owners = Vec::new();
        let mut entries = Vec::new();
        for (owner, mp) in items {
            let idx = shapes.len() as u32;
            owners.push(owner);
            if let Some(r) = shapes.push(mp) {
                entries.push(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    idx,
                ));
            }
        }
        LevelIndex {
            shapes,
            owners,
            tree: RTree::bulk_load(entries),
        }
    }

    /// The owner of the first polygon containing the point.
    #[inline]
    fn find(&self, x: f64, y: f64) -> Option<u32> {
        self.tree
            .locate_all_at_point(&[x, y])
            .find(|e| self.shapes.contains(e.data as usize, x, y))
            .and_then(|e| self.owners.get(e.data as usize).copied())
    }

    fn len(&self) -> usize {
        self.tree.size()
    }
}

/// A spatial index of a city's areas and unit grids. Immutable once built,
/// `Send + Sync`: build a new one after an import and swap the `Arc`.
#[derive(Debug, Clone, Default)]
pub struct Locator {
    areas: Vec<AreaEntry>,
    by_code: HashMap<DivisionCode, u32>,
    grids: Vec<GridEntry>,
    grid_index: LevelIndex,
    /// Indexed like [`LEVELS`].
    level_index: [LevelIndex; 4],
}

impl Locator {
    /// A locator that finds nothing (before any area is imported).
    pub fn empty() -> Locator {
        Locator::default()
    }

    /// Builds the index. Areas are WGS-84; areas without a boundary are known
    /// by code only (named through the hierarchy). Provinces are kept for the
    /// hierarchy but never reported. When a code appears twice, the first wins.
    pub fn build(areas: &[Area], grids: &[UnitGrid]) -> Locator {
        let mut by_code = HashMap::with_capacity(areas.len());
        let mut kept: Vec<&Area> = Vec::with_capacity(areas.len());
        for a in areas {
            if !by_code.contains_key(&a.code) {
                by_code.insert(a.code.clone(), kept.len() as u32);
                kept.push(a);
            }
        }
        let entries: Vec<AreaEntry> = kept
            .iter()
            .map(|a| {
                let level = a.code.level();
                let start = a.parent_code.clone().or_else(|| a.code.parent());
                AreaEntry {
                    code: a.code.clone(),
                    name: a.name.clone(),
                    level,
                    parent: known_ancestor(&by_code, &kept, start, Some(level)),
                }
            })
            .collect();
        let grid_entries: Vec<GridEntry> = grids
            .iter()
            .map(|g| GridEntry {
                code: g.code.clone(),
                name: g.name.clone(),
                // Any area level is coarser than a grid.
                area: known_ancestor(&by_code, &kept, Some(g.area_code.clone()), None),
            })
            .collect();
        let grid_index = LevelIndex::from_shapes(
            grids
                .iter()
                .enumerate()
                .map(|(i, g)| (i as u32, &g.boundary)),
        );
        let level_index = LEVELS.map(|level| {
            LevelIndex::from_shapes(kept.iter().enumerate().filter_map(|(i, a)| {
                (a.code.level() == level)
                    .then_some(())
                    .and(a.boundary.as_ref())
                    .map(|b| (i as u32, b))
            }))
        });
        Locator {
            areas: entries,
            by_code,
            grids: grid_entries,
            grid_index,
            level_index,
        }
    }

    /// Number of unit grids indexed.
    pub fn grid_count(&self) -> usize {
        self.grids.len()
    }

    /// Number of areas known (with or without boundary).
    pub fn area_count(&self) -> usize {
        self.areas.len()
    }

    /// Locates a WGS-84 point without allocating.
    #[inline]
    pub fn locate_hit(&self, lon: f64, lat: f64) -> Hit {
        let mut hit = Hit::default();
        if !lon.is_finite() || !lat.is_finite() {
            return hit;
        }
        if let Some(g) = self.grid_index.find(lon, lat) {
            hit.grid = Some(g);
            self.fill_up(&mut hit, self.grids.get(g as usize).and_then(|e| e.area));
        }
        for (level, index) in LEVELS.iter().zip(&self.level_index) {
            if hit.area(*level).is_none()
                && index.len() > 0
                && let Some(a) = index.find(lon, lat)
            {
                self.fill_up(&mut hit, Some(a));
            }
        }
        hit
    }

    /// Locates a WGS-84 point and names everything found.
    pub fn locate(&self, lon: f64, lat: f64) -> Location {
        let hit = self.locate_hit(lon, lat);
        self.location(&hit, lon, lat)
    }

    /// Turns a hit into an owned [`Location`]. A grid without a name is
    /// reported under its code.
    pub fn location(&self, hit: &Hit, lon: f64, lat: f64) -> Location {
        let named = |level| {
            self.area(hit, level).map(|(code, name)| NamedCode {
                code: code.to_string(),
                name: name.to_string(),
            })
        };
        Location {
            lon,
            lat,
            grid: self.grid(hit).map(|(code, name)| NamedCode {
                code: code.to_string(),
                name: name.unwrap_or(code.as_str()).to_string(),
            }),
            community: named(AreaLevel::Community),
            street: named(AreaLevel::Street),
            district: named(AreaLevel::District),
            city: named(AreaLevel::City),
        }
    }

    /// The grid of a hit: its code and name.
    pub fn grid(&self, hit: &Hit) -> Option<(&GridCode, Option<&str>)> {
        let g = self.grids.get(hit.grid? as usize)?;
        Some((&g.code, g.name.as_deref()))
    }

    /// The grid code of a hit.
    pub fn grid_code(&self, hit: &Hit) -> Option<&GridCode> {
        self.grid(hit).map(|(c, _)| c)
    }

    /// The area of a hit at `level`: its code and name.
    pub fn area(&self, hit: &Hit, level: AreaLevel) -> Option<(&DivisionCode, &str)> {
        let a = self.areas.get(hit.area(level)? as usize)?;
        Some((&a.code, a.name.as_str()))
    }

    /// The code of the finest area of a hit (community, else street, district, city).
    pub fn finest_area_code(&self, hit: &Hit) -> Option<&DivisionCode> {
        LEVELS
            .iter()
            .find_map(|l| self.area(hit, *l))
            .map(|(c, _)| c)
    }

    /// Looks an area up by code: its name and level.
    pub fn area_by_code(&self, code: &DivisionCode) -> Option<(&str, AreaLevel)> {
        let a = self.areas.get(*self.by_code.get(code)? as usize)?;
        Some((a.name.as_str(), a.level))
    }

    /// The most detailed area an address names (地址 → 社区/街道/区): the
    /// community, street or district whose full name occurs in `address`. When
    /// several do, the finest level wins, then the one whose named ancestors
    /// agree with the address (every ancestor named in it must be its own), then
    /// the longest name. Areas of a city or province level are never answered
    /// (they say nothing about where in the city).
    pub fn area_in_address(&self, address: &str) -> Option<(&DivisionCode, &str)> {
        let address = address.trim();
        if address.is_empty() {
            return None;
        }
        let named: Vec<u32> = self
            .areas
            .iter()
            .enumerate()
            .filter(|(_, a)| a.name.chars().count() >= 2 && address.contains(a.name.as_str()))
            .map(|(i, _)| i as u32)
            .collect();
        let ancestors = |mut i: Option<u32>| {
            std::iter::from_fn(move || {
                let a = self.areas.get(i? as usize)?;
                i = a.parent;
                Some(a)
            })
        };
        let consistent = |i: u32| {
            // Every named area of a coarser level must be an ancestor (or the
            // city/province, which never conflicts).
            named.iter().all(|&j| {
                let b = &self.areas[j as usize];
                j == i
                    || matches!(b.level, AreaLevel::City | AreaLevel::Province)
                    || b.level >= self.areas[i as usize].level
                    || ancestors(Some(i)).any(|a| a.code == b.code)
            })
        };
        named
            .iter()
            .copied()
            .filter(|&i| {
                matches!(
                    self.areas[i as usize].level,
                    AreaLevel::Community | AreaLevel::Street | AreaLevel::District
                )
            })
            .max_by_key(|&i| {
                let a = &self.areas[i as usize];
                (a.level, consistent(i), a.name.chars().count())
            })
            .map(|i| {
                let a = &self.areas[i as usize];
                (&a.code, a.name.as_str())
            })
    }

    /// Fills the slots of `area` and its known ancestors that are still empty.
    #[inline]
    fn fill_up(&self, hit: &mut Hit, mut area: Option<u32>) {
        // Parents are strictly coarser, so this ends within five steps.
        while let Some(i) = area {
            let Some(a) = self.areas.get(i as usize) else {
                return;
            };
            if let Some(slot) = hit.slot(a.level)
                && slot.is_none()
            {
                *slot = Some(i);
            }
            area = a.parent;
        }
    }
}

/// The first known area on the chain `start`, `start.parent()`, … whose level
/// is strictly coarser than `below` (any level when `below` is `None`, as for
/// a grid). The level check keeps a bad `parent_code` from making a cycle.
fn known_ancestor(
    by_code: &HashMap<DivisionCode, u32>,
    kept: &[&Area],
    start: Option<DivisionCode>,
    below: Option<AreaLevel>,
) -> Option<u32> {
    let mut code = start;
    while let Some(c) = code {
        if let Some(&i) = by_code.get(&c)
            && below.is_none_or(|b| kept[i as usize].code.level() < b)
        {
            return Some(i);
        }
        code = c.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, polygon};

    fn square(x: f64, y: f64, s: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![polygon![
            (x: x, y: y), (x: x + s, y: y), (x: x + s, y: y + s), (x: x, y: y + s), (x: x, y: y)
        ]])
    }

    fn area(code: &str, name: &str, boundary: Option<MultiPolygon<f64>>) -> Area {
        let code = DivisionCode::parse(code).unwrap();
        Area {
            level: code.level(),
            parent_code: code.parent(),
            code,
            name: name.into(),
            boundary,
        }
    }

    #[test]
    fn addresses_name_their_finest_consistent_area() {
        let areas = vec![
            area("360600", "鹰潭市", None),
            area("360602", "月湖区", None),
            area("360603", "余江区", None),
            area("360602001", "江边街道", None),
            area("360602002", "交通街道", None),
            area("360603001", "邓埠街道", None),
            area("360602001002", "胜利社区", None),
            // The same community name in another district.
            area("360603001004", "胜利社区", None),
        ];
        let l = Locator::build(&areas, &[]);
        let at = |s: &str| {
            l.area_in_address(s)
                .map(|(c, n)| (c.to_string(), n.to_string()))
        };
        assert_eq!(
            at("月湖区江边街道胜利社区5栋门口").unwrap().0,
            "360602001002"
        );
        assert_eq!(at("余江区胜利社区东门").unwrap().0, "360603001004");
        assert_eq!(at("鹰潭市交通街道站前路12号").unwrap().0, "360602002");
        assert_eq!(at("余江区某小区").unwrap().0, "360603");
        assert_eq!(at("鹰潭市某处"), None, "the city alone locates nothing");
        assert_eq!(at("北京市朝阳区"), None);
        assert_eq!(at("  "), None);
    }

    fn fixture() -> Locator {
        let areas = vec![
            area("360600", "鹰潭市", Some(square(0.0, 0.0, 10.0))),
            area("360602", "月湖区", Some(square(0.0, 0.0, 5.0))),
            area("360603", "余江区", Some(square(5.0, 0.0, 5.0))),
            // Known by code only: no boundary.
            area("360602001", "江边街道", None),
            area("360602001002", "某社区", None),
        ];
        let grids = vec![UnitGrid {
            code: GridCode::parse("360602001002001").unwrap(),
            name: Some("一号网格".into()),
            area_code: DivisionCode::parse("360602001002").unwrap(),
            boundary: square(1.0, 1.0, 1.0),
            area_m2: 1.0,
        }];
        Locator::build(&areas, &grids)
    }

    #[test]
    fn grid_hit_names_the_whole_hierarchy() {
        let l = fixture();
        assert_eq!((l.grid_count(), l.area_count()), (1, 5));
        let loc = l.locate(1.5, 1.5);
        assert_eq!(loc.grid.unwrap().code, "360602001002001");
        assert_eq!(loc.community.unwrap().name, "某社区");
        assert_eq!(loc.street.unwrap().name, "江边街道");
        assert_eq!(loc.district.unwrap().code, "360602");
        assert_eq!(loc.city.unwrap().code, "360600");
    }

    #[test]
    fn without_grid_levels_are_searched_geometrically() {
        let l = fixture();
        let hit = l.locate_hit(7.0, 3.0);
        assert_eq!(hit.grid, None);
        assert_eq!(hit.street, None);
        assert_eq!(l.area(&hit, AreaLevel::District).unwrap().1, "余江区");
        assert_eq!(l.area(&hit, AreaLevel::City).unwrap().1, "鹰潭市");
        assert_eq!(l.finest_area_code(&hit).map(|c| c.as_str()), Some("360603"));
        assert!(l.locate_hit(20.0, 20.0).is_empty());
        assert!(l.locate_hit(f64::NAN, 1.0).is_empty());
        assert!(Locator::empty().locate_hit(1.5, 1.5).is_empty());
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Locator>();
        check::<Hit>();
    }
}
