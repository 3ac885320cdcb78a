//! Cluster catalogs: the shipped PSZ2 / MCXC / redMaPPer tables, user catalogs, cross-matching.
//!
//! In: the built-in tables (compiled into the crate from `data/catalogs/`) or any CSV, Parquet or
//! FITS table with a [`ColumnMap`]. Out: [`Catalog`], a polars DataFrame with the normalised columns
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `name` | str | object name |
//! | `catalog` | str | the catalog the row comes from (kept through [`Catalogs::dataset`]) |
//! | `ra`, `dec` | f64 | ICRS, degrees |
//! | `glon`, `glat` | f64 | Galactic, degrees |
//! | `z` | f64, nullable | redshift |
//! | `m500` | f64, nullable | M500 in 10¹⁴ M☉ |
//!
//! followed by the catalog's other columns (lower-cased). Missing ra/dec or glon/glat are computed;
//! a negative redshift or a non-positive M500 is a missing value.
//!
//! The real published catalogs (PSZ2 union, MCXC, redMaPPer, PCCS2, PGCC) load with [`RealCatalog`];
//! [`Catalogs::fetched`] prepares the training catalogs from them.

mod crossmatch;
mod load;
mod real;
mod votable;

use std::fmt;
use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::manifest::RealCatalog;
pub(crate) use crossmatch::friends_of_friends;
pub use crossmatch::{crossmatch, match_pairs, Match, Pair, CLUSTER_RADIUS_ARCMIN, CONTAMINANT_RADIUS_ARCMIN};
pub use load::{parse_angle, read_csv, read_fits_table, read_parquet, read_table, ColumnMap};
pub use real::contaminants;
pub use votable::read_votable;

use crate::error::{named_enum, Error, Result};
use crate::sky::{galactic_to_icrs, icrs_to_galactic};
use crate::tiles::Tiling;

/// The redMaPPer richness column (`LAMBDA` in the published tables; extra columns are lower-cased).
pub const RICHNESS_COLUMN: &str = "lambda";

/// The normalised columns every [`Catalog`] starts with.
pub const NORMALISED_COLUMNS: [&str; 8] = ["name", "catalog", "ra", "dec", "glon", "glat", "z", "m500"];

/// A table of sky objects with the normalised columns of the module docs.
#[derive(Debug, Clone)]
pub struct Catalog {
    name: String,
    df: DataFrame,
}

impl Catalog {
    /// Normalise `raw` (any table) into a catalog called `name`, using `map` to find its columns.
    ///
    /// Errors name the catalog and the missing or unknown column, and list the columns there are.
    pub fn from_df(name: &str, raw: DataFrame, map: &ColumnMap) -> Result<Self> {
        let cols = Resolved::new(name, &raw, map)?;
        let n = raw.height();
        let get = |key: &str| -> Result<Option<Vec<Option<f64>>>> {
            cols.get(key)
                .map(|c| match (key, raw.column(c)?.dtype()) {
                    // Text positions: decimal degrees, or sexagesimal (RA in hours, Dec in degrees).
                    ("ra" | "dec" | "glon" | "glat", DataType::String) => {
                        load::angle_values(name, &raw, c, key == "ra")
                    }
                    _ => f64_values(name, &raw, c),
                })
                .transpose()
        };
        let (ra, dec, glon, glat) = match (get("ra")?.zip(get("dec")?), get("glon")?.zip(get("glat")?)) {
            (Some((ra, dec)), Some((glon, glat))) => (ra, dec, glon, glat),
            (Some((ra, dec)), None) => {
                let (glon, glat) = convert(&ra, &dec, icrs_to_galactic);
                (ra, dec, glon, glat)
            }
            (None, Some((glon, glat))) => {
                let (ra, dec) = convert(&glon, &glat, galactic_to_icrs);
                (ra, dec, glon, glat)
            }
            (None, None) => {
                return Err(Error::catalog(
                    name,
                    format!(
                        "no position columns: need RA and DEC or GLON and GLAT (set them with ColumnMap::ra/dec/glon/glat); \
                         columns are {:?}",
                        raw.get_column_names()
                    ),
                ))
            }
        };
        let missing = ra.iter().zip(&dec).position(|(a, d)| a.is_none() || d.is_none());
        if let Some(row) = missing {
            return Err(Error::catalog(name, format!("row {row} has no position")));
        }
        let names: Vec<String> = match cols.get("name") {
            Some(c) => raw
                .column(c)?
                .cast(&DataType::String)?
                .str()?
                .iter()
                .enumerate()
                .map(|(i, s)| s.map(str::to_string).unwrap_or_else(|| format!("{name}-{i:05}")))
                .collect(),
            None => (0..n).map(|i| format!("{name}-{i:05}")).collect(),
        };
        // Negative redshifts are the "unknown" of PSZ2 (−1) and redMaPPer (Z_SPEC = −1).
        let z = get("z")?
            .map(|z| z.into_iter().map(|v| v.filter(|&x| x >= 0.0)).collect())
            .unwrap_or_else(|| vec![None; n]);
        let m500 = get("m500")?
            .map(|m| m.into_iter().map(|v| v.filter(|&x| x > 0.0).map(|x| x * map.m500_scale)).collect())
            .unwrap_or_else(|| vec![None; n]);
        let mut columns = vec![
            Column::new("name".into(), names),
            Column::new("catalog".into(), vec![name; n]),
            Column::new("ra".into(), ra),
            Column::new("dec".into(), dec),
            Column::new("glon".into(), glon),
            Column::new("glat".into(), glat),
            Column::new("z".into(), z),
            Column::new("m500".into(), m500),
        ];
        for c in raw.columns() {
            let lower = c.name().to_lowercase();
            if !cols.used.contains(&c.name().to_string()) && !NORMALISED_COLUMNS.contains(&lower.as_str()) {
                columns.push(c.clone().with_name(lower.into()));
            }
        }
        Ok(Catalog { name: name.to_string(), df: DataFrame::new(n, columns)? })
    }

    /// Load a CSV file (header line, empty = missing) as catalog `name`.
    pub fn from_csv(path: impl AsRef<Path>, name: &str, map: &ColumnMap) -> Result<Self> {
        Self::from_df(name, read_csv(path.as_ref())?, map)
    }

    /// Load a Parquet file as catalog `name`.
    pub fn from_parquet(path: impl AsRef<Path>, name: &str, map: &ColumnMap) -> Result<Self> {
        Self::from_df(name, read_parquet(path.as_ref())?, map)
    }

    /// Load the first table extension of a FITS file as catalog `name`.
    pub fn from_fits(path: impl AsRef<Path>, name: &str, map: &ColumnMap) -> Result<Self> {
        Self::from_df(name, read_fits_table(path.as_ref())?, map)
    }

    /// Load a VOTable (TABLEDATA serialisation, the first TABLE) as catalog `name`.
    pub fn from_votable(path: impl AsRef<Path>, name: &str, map: &ColumnMap) -> Result<Self> {
        Self::from_df(name, read_votable(path.as_ref())?, map)
    }

    /// Load a CSV, Parquet, FITS (binary table) or VOTable file, chosen by its extension (`.csv`,
    /// `.parquet`/`.pq`, `.fits`/`.fit`/`.fits.gz`, `.vot`/`.votable`/`.xml`), as catalog `name`.
    pub fn from_file(path: impl AsRef<Path>, name: &str, map: &ColumnMap) -> Result<Self> {
        Self::from_df(name, read_table(path.as_ref())?, map)
    }

    /// The rows where `mask` holds, under the same name (every column, `catalog` included, kept).
    pub(crate) fn retain(&self, mask: &BooleanChunked) -> Result<Catalog> {
        Ok(Catalog { name: self.name.clone(), df: self.df.filter(mask)? })
    }

    /// The catalog's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table (normalised columns first).
    pub fn df(&self) -> &DataFrame {
        &self.df
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.df.height()
    }

    /// True when the catalog has no objects.
    pub fn is_empty(&self) -> bool {
        self.df.height() == 0
    }

    /// Galactic positions (glon, glat) in degrees, one per row.
    pub fn galactic(&self) -> Result<Vec<(f64, f64)>> {
        self.positions("glon", "glat")
    }

    /// ICRS positions (ra, dec) in degrees, one per row.
    pub fn icrs(&self) -> Result<Vec<(f64, f64)>> {
        self.positions("ra", "dec")
    }

    /// θ500 in arcmin of each row where M500 (> 0) and z are known (flat ΛCDM, see [`crate::cosmology`]).
    pub fn theta500_arcmin(&self) -> Result<Vec<Option<f64>>> {
        let m500 = self.df.column("m500")?.cast(&DataType::Float64)?;
        let z = self.df.column("z")?.cast(&DataType::Float64)?;
        Ok(m500
            .f64()?
            .iter()
            .zip(z.f64()?.iter())
            .map(|(m, z)| match (m, z) {
                (Some(m), Some(z)) if m > 0.0 && z > 0.0 => Some(crate::cosmology::theta500_arcmin(m, z)),
                _ => None,
            })
            .collect())
    }

    /// The redMaPPer richness λ of each row (column [`RICHNESS_COLUMN`]; missing values are `None`).
    ///
    /// Errors when the catalog has no such column: a richness relation must never silently fall
    /// back to another mass.
    pub fn richness(&self) -> Result<Vec<Option<f64>>> {
        if self.df.get_column_index(RICHNESS_COLUMN).is_none() {
            return Err(Error::catalog(
                &self.name,
                format!("no richness column {RICHNESS_COLUMN:?}; columns are {:?}", self.df.get_column_names()),
            ));
        }
        f64_values(&self.name, &self.df, RICHNESS_COLUMN)
    }

    fn positions(&self, lon: &str, lat: &str) -> Result<Vec<(f64, f64)>> {
        let lon = self.df.column(lon)?.f64()?;
        let lat = self.df.column(lat)?.f64()?;
        Ok(lon.iter().zip(lat.iter()).map(|(l, b)| (l.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN))).collect())
    }

    /// The table with two more columns: `tile` (0…47) and `split` (`train`/`val`/`test`) of each object.
    pub fn with_tiles(&self, tiling: &Tiling) -> Result<DataFrame> {
        let pos = self.galactic()?;
        let tiles: Vec<u32> = pos.iter().map(|&(l, b)| Tiling::tile_of(l, b)).collect();
        let splits: Vec<&str> = tiles.iter().map(|&t| tiling.split_of_tile(t).name()).collect();
        let mut df = self.df.clone();
        df.with_column(Column::new("tile".into(), tiles))?;
        df.with_column(Column::new("split".into(), splits))?;
        Ok(df)
    }

    /// Match this catalog (A) against `other` (B) within `radius_arcmin` on Galactic positions:
    /// `idx_a`, `idx_b`, `sep_arcmin`, `name_a`, `name_b`. See [`crossmatch`].
    pub fn crossmatch(&self, other: &Catalog, radius_arcmin: f64, mode: Match) -> Result<DataFrame> {
        let pairs = match_pairs(&self.galactic()?, &other.galactic()?, radius_arcmin, mode)?;
        let (a, b): (Vec<u32>, Vec<u32>) = pairs.iter().map(|p| (p.a, p.b)).unzip();
        let name = |cat: &Catalog, rows: &[u32], col: &str| -> Result<Column> {
            let names = cat.df.column("name")?.as_materialized_series().take_slice(rows)?;
            Ok(names.with_name(col.into()).into_column())
        };
        let (name_a, name_b) = (name(self, &a, "name_a")?, name(other, &b, "name_b")?);
        Ok(df!(
            "idx_a" => a,
            "idx_b" => b,
            "sep_arcmin" => pairs.iter().map(|p| p.sep_arcmin).collect::<Vec<f64>>(),
        )?
        .hstack(&[name_a, name_b])?)
    }

    /// The union of `parts` under `name`: their normalised columns stacked (extras dropped);
    /// the `catalog` column keeps each row's origin.
    pub fn concat(name: &str, parts: &[&Catalog]) -> Result<Self> {
        let mut df = DataFrame::empty();
        for (i, part) in parts.iter().enumerate() {
            let p = part.df.select(NORMALISED_COLUMNS)?;
            df = if i == 0 { p } else { df.vstack(&p)? };
        }
        Ok(Catalog { name: name.to_string(), df })
    }
}

impl fmt::Display for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "catalog {} ({} objects)", self.name, self.len())?;
        write!(f, "{}", self.df)
    }
}

/// Column names of `raw` chosen for each normalised quantity.
struct Resolved {
    found: Vec<(&'static str, String)>,
    used: Vec<String>,
}

impl Resolved {
    fn new(catalog: &str, raw: &DataFrame, map: &ColumnMap) -> Result<Self> {
        let names: Vec<String> = raw.get_column_names().iter().map(|s| s.to_string()).collect();
        let find = |want: &str| names.iter().find(|n| n.eq_ignore_ascii_case(want)).cloned();
        let mut found = Vec::new();
        for (key, aliases) in load::ALIASES {
            let column = match map.explicit(key) {
                Some(want) => Some(find(want).ok_or_else(|| {
                    Error::catalog(catalog, format!("no column {want:?} (asked for {key}); columns are {names:?}"))
                })?),
                None => aliases.iter().find_map(|a| find(a)),
            };
            if let Some(c) = column {
                found.push((key, c));
            }
        }
        let used = found.iter().map(|(_, c)| c.clone()).collect();
        Ok(Resolved { found, used })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.found.iter().find(|(k, _)| *k == key).map(|(_, c)| c.as_str())
    }
}

fn f64_values(catalog: &str, df: &DataFrame, column: &str) -> Result<Vec<Option<f64>>> {
    let c = df.column(column)?;
    let cast = c
        .cast(&DataType::Float64)
        .map_err(|_| Error::catalog(catalog, format!("column {column:?} is {}, expected numbers", c.dtype())))?;
    Ok(cast.f64()?.iter().map(|v| v.filter(|x| x.is_finite())).collect())
}

type Convert = fn(f64, f64) -> (f64, f64);

fn convert(lon: &[Option<f64>], lat: &[Option<f64>], f: Convert) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    lon.iter()
        .zip(lat)
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => {
                let (x, y) = f(*a, *b);
                (Some(x), Some(y))
            }
            _ => (None, None),
        })
        .unzip()
}

/// The original's training-set choices, cumulative:
/// planck_z ⊂ planck_no-z ⊂ MCXC ⊂ RM30 / RM50.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ClusterSet {
    /// PSZ2 clusters with redshift.
    PlanckZ,
    /// All PSZ2 clusters (with and without redshift).
    PlanckNoZ,
    /// PSZ2 plus MCXC clusters.
    Mcxc,
    /// PSZ2, MCXC and redMaPPer λ > 30.
    Rm30,
    /// PSZ2, MCXC and redMaPPer λ > 50.
    Rm50,
}

impl ClusterSet {
    /// Every dataset, smallest first.
    pub const ALL: [ClusterSet; 5] =
        [ClusterSet::PlanckZ, ClusterSet::PlanckNoZ, ClusterSet::Mcxc, ClusterSet::Rm30, ClusterSet::Rm50];

    /// The name used in params files: `planck_z`, `planck_no-z`, `MCXC`, `RM30`, `RM50`.
    pub fn name(self) -> &'static str {
        match self {
            ClusterSet::PlanckZ => "planck_z",
            ClusterSet::PlanckNoZ => "planck_no-z",
            ClusterSet::Mcxc => "MCXC",
            ClusterSet::Rm30 => "RM30",
            ClusterSet::Rm50 => "RM50",
        }
    }

    /// The built-in catalogs this dataset stacks, in order.
    pub fn catalogs(self) -> &'static [&'static str] {
        match self {
            ClusterSet::PlanckZ => &["planck_z"],
            ClusterSet::PlanckNoZ => &["planck_z", "planck_no-z"],
            ClusterSet::Mcxc => &["planck_z", "planck_no-z", "MCXC"],
            ClusterSet::Rm30 => &["planck_z", "planck_no-z", "MCXC", "RM30"],
            ClusterSet::Rm50 => &["planck_z", "planck_no-z", "MCXC", "RM50"],
        }
    }
}

named_enum!(ClusterSet, "dataset");

/// A set of named catalogs: the built-ins plus any the user adds.
#[derive(Debug, Clone, Default)]
pub struct Catalogs {
    catalogs: Vec<Catalog>,
    /// Sources that mimic clusters (PCCS2, PGCC on the Planck sky): see [`Catalogs::with_contaminants`].
    contaminants: Vec<Catalog>,
}

/// (name, CSV text, column map) of the shipped catalogs.
fn builtin_sources() -> [(&'static str, &'static str, ColumnMap); 5] {
    [
        ("planck_z", include_str!("../../data/catalogs/planck_z.csv"), ColumnMap::auto()),
        ("planck_no-z", include_str!("../../data/catalogs/planck_no-z.csv"), ColumnMap::auto()),
        // MCXC gives M500 in M☉.
        ("MCXC", include_str!("../../data/catalogs/MCXC_no_planck.csv"), ColumnMap::auto().m500_scale(1e-14)),
        ("RM30", include_str!("../../data/catalogs/RM30_no_planck.csv"), ColumnMap::auto()),
        ("RM50", include_str!("../../data/catalogs/RM50_no_planck.csv"), ColumnMap::auto()),
    ]
}

impl Catalogs {
    /// The shipped catalogs (see `data/catalogs/README.md`): `planck_z` (1094), `planck_no-z` (559),
    /// `MCXC` (1193), `RM30` (15299), `RM50` (4776). Planck names are rebuilt from GLON/GLAT as
    /// `PSZ2 Glll.ll±bb.bb`; the planck `R500` column, which holds Y5R500 (10⁻³ arcmin²), is renamed
    /// `y5r500`; MCXC `R500` (Mpc) becomes `r500_mpc`.
    ///
    /// ```
    /// let cats = xcluster::catalog::Catalogs::builtin().unwrap();
    /// assert_eq!(cats.get("planck_z").unwrap().len(), 1094);
    /// ```
    pub fn builtin() -> Result<Self> {
        let catalogs = builtin_sources()
            .into_iter()
            .map(|(name, text, map)| {
                let mut raw = load::csv_from_reader(Cursor::new(text.as_bytes()))
                    .map_err(|e| Error::catalog(name, format!("shipped CSV unreadable: {e}")))?;
                // Both tables call it R500, but PSZ2's column holds Y5R500 and MCXC's R500 in Mpc.
                let r500 = if name.starts_with("planck") { "y5r500" } else { "r500_mpc" };
                if raw.get_column_index("R500").is_some() {
                    raw.rename("R500", r500.into())?;
                }
                let cat = Catalog::from_df(name, raw, &map)?;
                if name.starts_with("planck") {
                    return with_psz2_names(cat);
                }
                Ok(cat)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Catalogs { catalogs, contaminants: Vec::new() })
    }

    /// Add (or replace, by name) a catalog.
    pub fn with(mut self, catalog: Catalog) -> Self {
        self.catalogs.retain(|c| c.name != catalog.name);
        self.catalogs.push(catalog);
        self
    }

    /// Set the contaminant catalogs (infrared and radio sources, cold clumps) a cross-match of a real
    /// sky flags detections with; on the synthetic sky its own sources are used instead.
    pub fn with_contaminants(mut self, contaminants: Vec<Catalog>) -> Self {
        self.contaminants = contaminants;
        self
    }

    /// The contaminant catalogs set with [`Catalogs::with_contaminants`] (none for the built-ins).
    pub fn contaminants(&self) -> &[Catalog] {
        &self.contaminants
    }

    /// The cluster catalogs detections are cross-matched with, in the original's order: PSZ2 with and
    /// without redshift, MCXC, RM50, RM30.
    pub fn known(&self) -> Result<Vec<&Catalog>> {
        Ok(vec![self.planck_z()?, self.planck_no_z()?, self.mcxc()?, self.rm50()?, self.rm30()?])
    }

    /// The catalog called `name`; the error lists the names there are.
    pub fn get(&self, name: &str) -> Result<&Catalog> {
        self.catalogs
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| Error::catalog(name, format!("no such catalog; available: {}", self.names().join(", "))))
    }

    /// Names of the catalogs, in insertion order.
    pub fn names(&self) -> Vec<&str> {
        self.catalogs.iter().map(|c| c.name.as_str()).collect()
    }

    /// Iterate over the catalogs.
    pub fn iter(&self) -> impl Iterator<Item = &Catalog> {
        self.catalogs.iter()
    }

    /// PSZ2 clusters with redshift.
    pub fn planck_z(&self) -> Result<&Catalog> {
        self.get("planck_z")
    }

    /// PSZ2 clusters without redshift.
    pub fn planck_no_z(&self) -> Result<&Catalog> {
        self.get("planck_no-z")
    }

    /// MCXC clusters not in PSZ2.
    pub fn mcxc(&self) -> Result<&Catalog> {
        self.get("MCXC")
    }

    /// redMaPPer λ > 30 clusters not in PSZ2.
    pub fn rm30(&self) -> Result<&Catalog> {
        self.get("RM30")
    }

    /// redMaPPer λ > 50 clusters not in PSZ2.
    pub fn rm50(&self) -> Result<&Catalog> {
        self.get("RM50")
    }

    /// The clusters of the original's `dataset` parameter: its catalogs stacked (see [`ClusterSet`]).
    pub fn dataset(&self, dataset: ClusterSet) -> Result<Catalog> {
        let parts = dataset.catalogs().iter().map(|n| self.get(n)).collect::<Result<Vec<_>>>()?;
        Catalog::concat(dataset.name(), &parts)
    }

    /// One row per catalog: `catalog`, `n`, `with_z`, `with_m500`.
    pub fn summary(&self) -> Result<DataFrame> {
        let count = |c: &Catalog, col: &str| -> Result<u32> { Ok((c.len() - c.df.column(col)?.null_count()) as u32) };
        let df = df!(
            "catalog" => self.names(),
            "n" => self.catalogs.iter().map(|c| c.len() as u32).collect::<Vec<_>>(),
            "with_z" => self.catalogs.iter().map(|c| count(c, "z")).collect::<Result<Vec<_>>>()?,
            "with_m500" => self.catalogs.iter().map(|c| count(c, "m500")).collect::<Result<Vec<_>>>()?,
        )?;
        Ok(df)
    }
}

/// Replace the generated names of a PSZ2 catalog with `PSZ2 Glll.ll±bb.bb` from its Galactic position.
fn with_psz2_names(mut cat: Catalog) -> Result<Catalog> {
    let names: Vec<String> = cat
        .galactic()?
        .into_iter()
        .map(|(l, b)| {
            // PSZ2 names truncate, not round, the coordinates to 0.01°.
            let t = |x: f64| (x * 100.0).trunc() / 100.0;
            let sign = if b < 0.0 { '-' } else { '+' };
            format!("PSZ2 G{:06.2}{sign}{:05.2}", t(l), t(b.abs()))
        })
        .collect();
    cat.df.with_column(Column::new("name".into(), names))?;
    Ok(cat)
}
