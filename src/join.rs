//! Positional joins: any table with sky positions joined with any catalog, in one call.
//!
//! In: a left table (detections, a [`Catalog`], any DataFrame with `glon`/`glat` or `ra`/`dec` in
//! degrees), a right table (the same) and a [`PositionJoin`] (radius, [`Match`] mode, suffix).
//! Out: a DataFrame — the left table's columns, then every column of the right table with the
//! suffix appended, then `sep_arcmin<suffix>` (the separation, arcmin). It is a left join: every
//! left row is kept (with nulls on the right when nothing lies within the radius) unless
//! [`PositionJoin::inner`] asks for matched rows only.
//!
//! - `PositionJoin::nearest(r)`: each left row once, with its nearest right row within `r`;
//! - `PositionJoin::all(r)`: a left row once per right row within `r` (nearest first);
//! - `PositionJoin::one_to_one(r)`: pairs taken by increasing separation, each row of either side
//!   used at most once.
//!
//! Matching runs on Galactic positions with the HEALPix-indexed [`crate::catalog::match_pairs()`].
//!
//! ```
//! use xcluster::join::{join_position, PositionJoin};
//! use xcluster::polars::prelude::*;
//! let det = df!("id" => [0u32, 1], "glon" => [10.0, 50.0], "glat" => [20.0, -30.0])?;
//! let cat = df!("name" => ["A", "B"], "glon" => [10.0, 120.0], "glat" => [20.05, 0.0])?;
//! let j = join_position(&det, &cat, &PositionJoin::nearest(5.0).suffix("_cat"))?;
//! assert_eq!(j.height(), 2);                                   // a left join keeps detection 1
//! assert_eq!(j.column("name_cat")?.str()?.get(0), Some("A"));
//! assert!((j.column("sep_arcmin_cat")?.f64()?.get(0).unwrap() - 3.0).abs() < 1e-9);
//! assert_eq!(j.column("name_cat")?.null_count(), 1);
//! # Ok::<(), xcluster::Error>(())
//! ```

use polars::prelude::*;

use crate::catalog::{match_pairs, Catalog, ColumnMap, Match};
use crate::crossmatch::Matched;
use crate::error::{ensure_param, Error, Result};
use crate::query::sql_name;
use crate::sky::icrs_to_galactic;

/// How two tables are joined by position (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct PositionJoin {
    radius_arcmin: f64,
    mode: Match,
    suffix: Option<String>,
    inner: bool,
}

impl PositionJoin {
    /// Each left row with its nearest right row within `radius_arcmin` (0 < r ≤ 600).
    pub fn nearest(radius_arcmin: f64) -> Self {
        PositionJoin { radius_arcmin, mode: Match::Nearest, suffix: None, inner: false }
    }
    /// Every (left, right) pair within `radius_arcmin`, nearest first for each left row.
    pub fn all(radius_arcmin: f64) -> Self {
        PositionJoin { mode: Match::All, ..Self::nearest(radius_arcmin) }
    }
    /// Pairs within `radius_arcmin` by increasing separation, each row of either side used once.
    pub fn one_to_one(radius_arcmin: f64) -> Self {
        PositionJoin { mode: Match::OneToOne, ..Self::nearest(radius_arcmin) }
    }
    /// A join of `mode` within `radius_arcmin`.
    pub fn new(radius_arcmin: f64, mode: Match) -> Self {
        PositionJoin { mode, ..Self::nearest(radius_arcmin) }
    }
    /// Appended to every right column and to `sep_arcmin` (default: `_` + the right catalog's SQL
    /// name, e.g. `_planck_z`; `_right` for a bare DataFrame).
    pub fn suffix(mut self, suffix: &str) -> Self {
        self.suffix = Some(suffix.to_string());
        self
    }
    /// Keep only left rows with a match (an inner join).
    pub fn inner(mut self) -> Self {
        self.inner = true;
        self
    }
    /// The radius, arcmin.
    pub fn radius_arcmin(&self) -> f64 {
        self.radius_arcmin
    }
    /// The match mode.
    pub fn mode(&self) -> Match {
        self.mode
    }
}

/// Galactic (glon, glat) of each row of `df`, from `glon`/`glat` or else `ra`/`dec` (ICRS, degrees);
/// `None` for a row with a missing or non-finite coordinate. `what` names the table in errors.
pub fn galactic_positions(df: &DataFrame, what: &str) -> Result<Vec<Option<(f64, f64)>>> {
    let has = |c: &str| df.get_column_index(c).is_some();
    let (lon, lat, icrs) = if has("glon") && has("glat") {
        ("glon", "glat", false)
    } else if has("ra") && has("dec") {
        ("ra", "dec", true)
    } else {
        return Err(Error::catalog(
            what,
            format!(
                "no position columns: need glon and glat, or ra and dec (degrees); columns are {:?}",
                df.get_column_names()
            ),
        ));
    };
    let values = |c: &str| -> Result<Vec<Option<f64>>> {
        let col = df.column(c)?;
        let cast = col
            .cast(&DataType::Float64)
            .map_err(|_| Error::catalog(what, format!("column {c:?} is {}, expected degrees", col.dtype())))?;
        Ok(cast.f64()?.iter().map(|v| v.filter(|x| x.is_finite())).collect())
    };
    Ok(values(lon)?
        .into_iter()
        .zip(values(lat)?)
        .map(|(a, b)| {
            let (a, b) = (a?, b?);
            if !(-90.0..=90.0).contains(&b) {
                return None;
            }
            Some(if icrs { icrs_to_galactic(a, b) } else { (a, b) })
        })
        .collect())
}

/// Join `left` and `right` by position as `how` says (see the [module docs](self)).
pub fn join_position(left: &DataFrame, right: &DataFrame, how: &PositionJoin) -> Result<DataFrame> {
    join_named(left, "left", right, "right", how)
}

fn join_named(
    left: &DataFrame,
    left_name: &str,
    right: &DataFrame,
    right_name: &str,
    how: &PositionJoin,
) -> Result<DataFrame> {
    ensure_param!(
        how.radius_arcmin > 0.0 && how.radius_arcmin <= 600.0,
        "join radius_arcmin",
        "must be in (0, 600], got {}",
        how.radius_arcmin
    );
    let suffix = how.suffix.clone().unwrap_or_else(|| format!("_{}", sql_name(right_name)));
    let (pa, ia) = valid(&galactic_positions(left, left_name)?);
    let (pb, ib) = valid(&galactic_positions(right, right_name)?);
    // Pairs in original row numbers, grouped by left row (pairs come sorted by row then separation).
    let mut by_left: Vec<Vec<(IdxSize, f64)>> = vec![Vec::new(); left.height()];
    for pair in match_pairs(&pa, &pb, how.radius_arcmin, how.mode)? {
        by_left[ia[pair.a as usize]].push((ib[pair.b as usize] as IdxSize, pair.sep_arcmin));
    }
    let (mut li, mut ri, mut sep): (Vec<IdxSize>, Vec<Option<IdxSize>>, Vec<Option<f64>>) = (vec![], vec![], vec![]);
    for (i, matches) in by_left.iter().enumerate() {
        if matches.is_empty() && !how.inner {
            li.push(i as IdxSize);
            ri.push(None);
            sep.push(None);
        }
        for &(j, s) in matches {
            li.push(i as IdxSize);
            ri.push(Some(j));
            sep.push(Some(s));
        }
    }
    let mut out = left.take(&IdxCa::from_vec("idx".into(), li))?;
    let right_rows = right.take(&IdxCa::from_iter_options("idx".into(), ri.into_iter()))?;
    for col in right_rows.columns() {
        let name = format!("{}{suffix}", col.name());
        ensure_param!(
            out.get_column_index(&name).is_none(),
            "join suffix",
            "column {name:?} is already in the left table: choose another suffix (.suffix(\"_x\"))"
        );
        out.with_column(col.clone().with_name(name.into()))?;
    }
    let sep_name = format!("sep_arcmin{suffix}");
    ensure_param!(
        out.get_column_index(&sep_name).is_none(),
        "join suffix",
        "column {sep_name:?} is already in the left table"
    );
    out.with_column(Column::new(sep_name.into(), sep))?;
    Ok(out)
}

/// The valid positions and, for each, its row number.
fn valid(pos: &[Option<(f64, f64)>]) -> (Vec<(f64, f64)>, Vec<usize>) {
    pos.iter().enumerate().filter_map(|(k, p)| p.map(|p| (p, k))).unzip()
}

impl Catalog {
    /// This catalog joined by position with `other` (see the [`join`](crate::join) module): every
    /// row of this catalog, `other`'s columns with the suffix (default `_<other's SQL name>`), and the
    /// separation `sep_arcmin<suffix>`.
    pub fn join_position(&self, other: &Catalog, how: &PositionJoin) -> Result<DataFrame> {
        join_named(self.df(), self.name(), other.df(), other.name(), how)
    }
}

impl Matched {
    /// The detections (with their matches) joined by position with `other`, e.g. a user catalog
    /// loaded with `Catalog::from_file`: every detection, `other`'s columns with the suffix (default
    /// `_<other's SQL name>`), and the separation `sep_arcmin<suffix>`.
    pub fn join_position(&self, other: &Catalog, how: &PositionJoin) -> Result<DataFrame> {
        join_named(self.detections(), "detections", other.df(), other.name(), how)
    }

    /// The detections (with their matches) as a [`Catalog`] called `detections`, named by their `id`:
    /// what every catalog method (`join_position`, `within`, `crossmatch`, `export`) takes.
    pub fn catalog(&self) -> Result<Catalog> {
        Catalog::from_df("detections", self.detections().clone(), &ColumnMap::auto().name("id"))
    }

    /// [`Matched::join_position`] with any table holding `glon`/`glat` or `ra`/`dec`.
    pub fn join_position_df(&self, other: &DataFrame, how: &PositionJoin) -> Result<DataFrame> {
        join_named(self.detections(), "detections", other, "right", how)
    }
}
