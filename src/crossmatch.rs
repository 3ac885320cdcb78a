//! Cross-matching: detections → known clusters, unknown candidates and likely contaminants.
//!
//! In: [`Detections`], cluster catalogs (PSZ2, MCXC, redMaPPer, or the synthetic truth's), contaminant
//! catalogs (infrared sources, point sources, cold clumps: PCCS2 / PGCC for real data, the synthetic
//! truth's `radio` / `ir` / `cold_clump` sources) and the scanned patches (a [`Predictions`]).
//! Out: [`Matched`] — the detection table with its matches, a per-catalog summary and the original's
//! `results.txt` (SEED.md §9).
//!
//! Rules (all separations on the sphere, Galactic positions):
//! - per cluster catalog, each detection takes the nearest catalog cluster within
//!   `cluster_radius_arcmin` (7′); a detection matched in any catalog is `known`;
//! - each detection takes the nearest contaminant source within `contaminant_radius_arcmin` (5′) over
//!   all contaminant catalogs; an unknown detection with such a source is a `contaminant`;
//! - a catalog cluster is *possible* when its position falls on at least one scanned patch
//!   (the patch's exact projection, see [`Footprint`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

use crate::catalog::{match_pairs, Catalog, Match};
use crate::detect::Detections;
use crate::error::{ensure_param, Error, Result};
use crate::output::{write_atomic, write_csv, write_parquet};
use crate::patches::PatchInfo;
use crate::predict::Predictions;
use crate::sky::{Grid, Ordering};

pub use crate::catalog::{CLUSTER_RADIUS_ARCMIN, CONTAMINANT_RADIUS_ARCMIN};
/// Largest radius the HEALPix-indexed [`crate::catalog::crossmatch`] accepts, arcmin.
const MAX_INDEXED_RADIUS_ARCMIN: f64 = 600.0;

/// The sky covered by a set of scanned patches: each patch is the square of its pixels (half a
/// pixel beyond the outer pixel centres), through its exact gnomonic projection, in its frame and
/// rotation.
#[derive(Debug, Clone)]
pub struct Footprint {
    patches: std::sync::Arc<[PatchInfo]>,
    /// Largest centre-to-corner angle of any patch (plus a margin), arcmin: no position farther
    /// than this from a patch centre is on that patch.
    reach_arcmin: f64,
}

impl Footprint {
    /// The footprint of `patches`.
    pub fn new(patches: &[PatchInfo]) -> Self {
        // Tangent-plane half-diagonal (size/2 · √2 pixels); the angle atan(x) is never larger.
        let reach = patches
            .iter()
            .map(|p| p.projection.size() as f64 * p.projection.pixel_arcmin() * std::f64::consts::FRAC_1_SQRT_2)
            .fold(0.0, f64::max);
        Footprint { patches: patches.into(), reach_arcmin: reach * 1.01 + 1e-6 }
    }

    /// The footprint of the patches a [`Predictions`] was made on.
    pub fn of(predictions: &Predictions) -> Self {
        Self::new(predictions.info())
    }

    /// The patches.
    pub fn patches(&self) -> &[PatchInfo] {
        &self.patches
    }

    /// Whether Galactic (`glon_deg`, `glat_deg`) lies on patch `patch`.
    fn on_patch(patch: &PatchInfo, glon_deg: f64, glat_deg: f64) -> bool {
        let proj = &patch.projection;
        proj.galactic_to_pixel(glon_deg, glat_deg).is_some_and(|(i, j)| proj.contains_pixel(i, j))
    }

    /// For each Galactic position (degrees), the number of patches it lies on (0 = outside the footprint).
    pub fn patch_counts(&self, positions: &[(f64, f64)]) -> Result<Vec<u32>> {
        let mut counts = vec![0u32; positions.len()];
        for (k, p) in self.candidates(positions)? {
            let (l, b) = positions[k];
            if Self::on_patch(&self.patches[p], l, b) {
                counts[k] += 1;
            }
        }
        Ok(counts)
    }

    /// (position, patch) pairs closer than the reach: a superset of the pairs with the position on the patch.
    fn candidates(&self, positions: &[(f64, f64)]) -> Result<Vec<(usize, usize)>> {
        if positions.is_empty() || self.patches.is_empty() {
            return Ok(vec![]);
        }
        if self.reach_arcmin > MAX_INDEXED_RADIUS_ARCMIN {
            let n = self.patches.len();
            return Ok((0..positions.len()).flat_map(|k| (0..n).map(move |p| (k, p))).collect());
        }
        let centres: Vec<(f64, f64)> = self.patches.iter().map(|p| p.projection.center_galactic()).collect();
        let pairs = match_pairs(positions, &centres, self.reach_arcmin, Match::All)?;
        Ok(pairs.into_iter().map(|p| (p.a as usize, p.b as usize)).collect())
    }

    /// Area of the footprint in deg²: the number of distinct HEALPix pixels of `nside` (a power of two
    /// up to 8192) whose centres lie on at least one patch, times the pixel area 41 252.96/(12·nside²) deg².
    /// Overlaps count once. The pixel centres alias against the patch edges: a single 64 × 1.7′ patch
    /// is measured to about 1 % at nside 2048 (1.7′ pixels) and 0.1 % at 8192; unions of many patches
    /// do better, as the edge errors average out.
    pub fn area_deg2(&self, nside: u32) -> Result<f64> {
        use rayon::prelude::*;
        use std::sync::atomic::{AtomicU64, Ordering as Atomic};
        let grid = Grid::new(nside, Ordering::Nested)?;
        let bits: Vec<AtomicU64> = (0..grid.npix().div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        self.patches.par_iter().for_each(|patch| {
            let (l0, b0) = patch.projection.center_galactic();
            for pix in grid.query_disc(l0, b0, self.reach_arcmin / 60.0, false) {
                let (l, b) = grid.pix2ang(pix);
                if Self::on_patch(patch, l, b) {
                    bits[(pix / 64) as usize].fetch_or(1 << (pix % 64), Atomic::Relaxed);
                }
            }
        });
        let n: u64 = bits.iter().map(|w| w.load(Atomic::Relaxed).count_ones() as u64).sum();
        Ok(n as f64 * full_sky_deg2() / grid.npix() as f64)
    }
}

/// 4π sr in deg².
pub(crate) fn full_sky_deg2() -> f64 {
    4.0 * std::f64::consts::PI * (180.0 / std::f64::consts::PI).powi(2)
}

/// Cross-match radii; `CrossMatch::default()` is the params file's (`cluster_radius_arcmin`,
/// `contaminant_radius_arcmin`), the original's 7′ for clusters and 5′ for contaminants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossMatch {
    /// A detection is a catalog cluster when one lies within this, arcmin in (0, 600] (7).
    pub cluster_radius_arcmin: f64,
    /// An unknown detection is a contaminant when a source lies within this, arcmin in (0, 600] (5).
    pub contaminant_radius_arcmin: f64,
}

/// Match counts of one cluster catalog, as in the original's `matched_unique(matched)/possible_unique(possible)`.
#[derive(Debug, Clone, PartialEq)]
struct Counts {
    catalog: String,
    n: u32,
    possible: u32,
    possible_unique: u32,
    matched: u32,
    matched_unique: u32,
}

/// Nearest-match columns of one catalog: per detection, the name and separation of its match.
struct Nearest {
    row: Vec<Option<u32>>,
    name: Vec<Option<String>>,
    sep: Vec<Option<f64>>,
}

impl CrossMatch {
    /// Check the radii (called by [`CrossMatch::run`] and the params file's validation).
    pub fn validate(&self) -> Result<()> {
        for (what, r) in [
            ("cluster_radius_arcmin", self.cluster_radius_arcmin),
            ("contaminant_radius_arcmin", self.contaminant_radius_arcmin),
        ] {
            ensure_param!(r > 0.0 && r <= MAX_INDEXED_RADIUS_ARCMIN, what, "must be in (0, 600] arcmin, got {r}");
        }
        Ok(())
    }

    /// Cross-match `detections` with the cluster `catalogs` and the `contaminants`, counting possible
    /// clusters on the patches of `footprint`. Catalog names must be distinct (they name columns).
    pub fn run(
        &self,
        detections: &Detections,
        catalogs: &[&Catalog],
        contaminants: &[&Catalog],
        footprint: &Predictions,
    ) -> Result<Matched> {
        self.run_on(detections, catalogs, contaminants, &Footprint::of(footprint))
    }

    /// [`CrossMatch::run`] on a [`Footprint`] built from patch metadata, for scans whose probability
    /// maps are not kept (e.g. tile by tile: collect each tile's `Predictions::info`).
    pub fn run_on(
        &self,
        detections: &Detections,
        catalogs: &[&Catalog],
        contaminants: &[&Catalog],
        fp: &Footprint,
    ) -> Result<Matched> {
        self.validate()?;
        check_names(detections.df(), catalogs, contaminants)?;
        let pos = positions(detections.df())?;
        let mut df = detections.df().clone();
        let mut known = vec![false; pos.len()];
        let mut counts = Vec::with_capacity(catalogs.len());
        for cat in catalogs {
            let near = nearest(&pos, cat, self.cluster_radius_arcmin)?;
            known.iter_mut().zip(&near.row).for_each(|(k, r)| *k |= r.is_some());
            counts.push(catalog_counts(cat, &near, fp)?);
            df.with_column(Column::new(format!("{}_name", cat.name()).into(), near.name))?;
            df.with_column(Column::new(format!("{}_sep_arcmin", cat.name()).into(), near.sep))?;
        }
        let contaminant = nearest_contaminant(&pos, contaminants, self.contaminant_radius_arcmin)?;
        let class: Vec<&str> = known
            .iter()
            .zip(&contaminant.0)
            .map(|(&k, c)| match (k, c) {
                (true, _) => "known",
                (false, Some(_)) => "contaminant",
                (false, None) => "unknown",
            })
            .collect();
        df.with_column(Column::new("known".into(), known))?;
        df.with_column(Column::new("class".into(), class))?;
        df.with_column(Column::new("contaminant".into(), contaminant.0))?;
        df.with_column(Column::new("contaminant_name".into(), contaminant.1.name))?;
        df.with_column(Column::new("contaminant_sep_arcmin".into(), contaminant.1.sep))?;
        Matched::new(df, counts)
    }
}

/// Catalog names must be distinct and must not collide with the detection columns (nor with
/// `contaminant_name`, `contaminant_sep_arcmin`).
fn check_names(df: &DataFrame, catalogs: &[&Catalog], contaminants: &[&Catalog]) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for cat in catalogs {
        ensure_param!(
            !seen.contains(&cat.name()),
            "crossmatch catalogs",
            "two cluster catalogs are called {:?}: names must be distinct (they name the columns)",
            cat.name()
        );
        let col = format!("{}_name", cat.name());
        ensure_param!(
            df.get_column_index(&col).is_none() && cat.name() != "contaminant",
            "crossmatch catalogs",
            "catalog {:?} would overwrite the detection column {col:?}",
            cat.name()
        );
        seen.push(cat.name());
    }
    let mut seen: Vec<&str> = Vec::new();
    for cat in contaminants {
        ensure_param!(
            !seen.contains(&cat.name()),
            "crossmatch contaminants",
            "two contaminant catalogs are called {:?}",
            cat.name()
        );
        seen.push(cat.name());
    }
    Ok(())
}

/// Galactic (glon, glat) of each row of a table with `glon`, `glat` columns (degrees, no nulls).
pub(crate) fn positions(df: &DataFrame) -> Result<Vec<(f64, f64)>> {
    let get = |c: &str| -> Result<Vec<f64>> {
        let col = df.column(c).map_err(|_| {
            Error::param("positions", format!("no column {c:?}; columns are {:?}", df.get_column_names()))
        })?;
        let col = col.cast(&DataType::Float64)?;
        col.f64()?
            .iter()
            .enumerate()
            .map(|(row, v)| {
                v.filter(|x| x.is_finite())
                    .ok_or_else(|| Error::param("positions", format!("row {row} has no valid {c}")))
            })
            .collect()
    };
    Ok(get("glon")?.into_iter().zip(get("glat")?).collect())
}

/// Per position, the nearest object of `cat` within `radius_arcmin`.
fn nearest(pos: &[(f64, f64)], cat: &Catalog, radius_arcmin: f64) -> Result<Nearest> {
    let names = cat.df().column("name")?.cast(&DataType::String)?;
    let names = names.str()?;
    let mut out = Nearest { row: vec![None; pos.len()], name: vec![None; pos.len()], sep: vec![None; pos.len()] };
    for pair in match_pairs(pos, &cat.galactic()?, radius_arcmin, Match::Nearest)? {
        let a = pair.a as usize;
        out.row[a] = Some(pair.b);
        out.name[a] = names.get(pair.b as usize).map(str::to_string);
        out.sep[a] = Some(pair.sep_arcmin);
    }
    Ok(out)
}

/// Per position, the nearest source over all `contaminants` within `radius_arcmin`, and its catalog.
fn nearest_contaminant(
    pos: &[(f64, f64)],
    contaminants: &[&Catalog],
    radius_arcmin: f64,
) -> Result<(Vec<Option<String>>, Nearest)> {
    let mut which: Vec<Option<String>> = vec![None; pos.len()];
    let mut best = Nearest { row: vec![None; pos.len()], name: vec![None; pos.len()], sep: vec![None; pos.len()] };
    for cat in contaminants {
        let near = nearest(pos, cat, radius_arcmin)?;
        #[allow(clippy::needless_range_loop)] // k indexes four parallel columns
        for k in 0..pos.len() {
            if let Some(s) = near.sep[k].filter(|&s| best.sep[k].is_none_or(|b| s < b)) {
                best.row[k] = near.row[k];
                best.name[k] = near.name[k].clone();
                best.sep[k] = Some(s);
                which[k] = Some(cat.name().to_string());
            }
        }
    }
    Ok((which, best))
}

/// The counts of one catalog: possible from the footprint, matched from the nearest matches.
fn catalog_counts(cat: &Catalog, near: &Nearest, fp: &Footprint) -> Result<Counts> {
    let on = fp.patch_counts(&cat.galactic()?)?;
    let mut rows: Vec<u32> = near.row.iter().flatten().copied().collect();
    let matched = rows.len() as u32;
    rows.sort_unstable();
    rows.dedup();
    Ok(Counts {
        catalog: cat.name().to_string(),
        n: cat.len() as u32,
        possible: on.iter().sum(),
        possible_unique: on.iter().filter(|&&c| c > 0).count() as u32,
        matched,
        matched_unique: rows.iter().filter(|&&r| on[r as usize] > 0).count() as u32,
    })
}

impl Detections {
    /// Cross-match with the original's radii (7′ clusters, 5′ contaminants): see [`CrossMatch::run`]
    /// and the module docs. `footprint` is the prediction the detections come from.
    pub fn crossmatch(
        &self,
        catalogs: &[&Catalog],
        contaminants: &[&Catalog],
        footprint: &Predictions,
    ) -> Result<Matched> {
        CrossMatch::default().run(self, catalogs, contaminants, footprint)
    }
}

/// Detections with their matches, and the per-catalog counts.
#[derive(Debug, Clone)]
pub struct Matched {
    detections: DataFrame,
    summary: DataFrame,
    counts: Vec<Counts>,
    origin: Option<Arc<Origin>>,
}

/// Where matched detections come from, when made by the chain (`scan → detect → crossmatch`): what
/// evaluating and drawing them needs.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The scanned sky (with its truth, when synthetic).
    pub sky: crate::sky::Sky,
    /// Its tiling.
    pub tiling: crate::tiles::Tiling,
    /// The label rule of the training data.
    pub disk: crate::labels::Disk,
    /// The detections, typed.
    pub detections: Detections,
    /// The scanned patches.
    pub footprint: Footprint,
    /// The most confident scanned patches (normalised) and their maps.
    pub examples: Option<(crate::patches::Patches, Predictions)>,
}

impl Matched {
    fn new(detections: DataFrame, counts: Vec<Counts>) -> Result<Self> {
        let completeness: Vec<Option<f64>> = counts
            .iter()
            .map(|c| (c.possible_unique > 0).then(|| c.matched_unique as f64 / c.possible_unique as f64))
            .collect();
        let summary = df!(
            "catalog" => counts.iter().map(|c| c.catalog.as_str()).collect::<Vec<_>>(),
            "n" => counts.iter().map(|c| c.n).collect::<Vec<_>>(),
            "possible" => counts.iter().map(|c| c.possible).collect::<Vec<_>>(),
            "possible_unique" => counts.iter().map(|c| c.possible_unique).collect::<Vec<_>>(),
            "matched" => counts.iter().map(|c| c.matched).collect::<Vec<_>>(),
            "matched_unique" => counts.iter().map(|c| c.matched_unique).collect::<Vec<_>>(),
            "completeness" => completeness,
        )?;
        Ok(Matched { detections, summary, counts, origin: None })
    }

    /// These matches, knowing the scan they come from.
    pub(crate) fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = Some(Arc::new(origin));
        self
    }

    /// The scan these matches come from, when made by the chain.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_deref()
    }

    /// One row per detection: the columns of [`Detections::df`], then for each cluster catalog `C`
    /// (in the order given) `C_name` (str) and `C_sep_arcmin` (f64) of its nearest cluster within the
    /// cluster radius (null when none), then `known` (bool: matched in any catalog), `class` (str:
    /// `known`, `unknown`, or `contaminant` = unknown with a contaminant source within the contaminant
    /// radius), `contaminant` (str: the contaminant catalog of the nearest source within that radius),
    /// `contaminant_name` (str) and `contaminant_sep_arcmin` (f64). The three contaminant columns are
    /// filled for known detections too (a cluster next to a radio source); only `class` ignores them.
    pub fn detections(&self) -> &DataFrame {
        &self.detections
    }

    /// One row per cluster catalog: `catalog` (str), `n` (u32, catalog size), `possible` (u32: catalog
    /// clusters on the scanned patches, once per patch they lie on), `possible_unique` (u32: distinct
    /// such clusters), `matched` (u32: detections whose nearest match is in this catalog, several
    /// detections of one cluster counting several times), `matched_unique` (u32: distinct *possible*
    /// clusters matched; a detection at the footprint's edge may match a cluster just outside it,
    /// counted in `matched` only, so that `matched_unique ≤ possible_unique`), `completeness` (f64:
    /// `matched_unique / possible_unique`, null when nothing is possible).
    pub fn summary(&self) -> &DataFrame {
        &self.summary
    }

    /// The original's results text: per catalog a line `<catalog>: matched_unique(matched)/possible_unique(possible)`,
    /// e.g. `PSZ2 z: 12(14)/20(35)`, then `detections: N, known: K, unknown: U, contaminant: C` (the
    /// `class` counts).
    pub fn results_txt(&self) -> String {
        let mut out = String::new();
        for c in &self.counts {
            out +=
                &format!("{}: {}({})/{}({})\n", c.catalog, c.matched_unique, c.matched, c.possible_unique, c.possible);
        }
        let count = |class: &str| -> usize {
            self.detections
                .column("class")
                .ok()
                .and_then(|c| c.str().ok().map(|s| s.iter().filter(|v| *v == Some(class)).count()))
                .unwrap_or(0)
        };
        out += &format!(
            "detections: {}, known: {}, unknown: {}, contaminant: {}\n",
            self.detections.height(),
            count("known"),
            count("unknown"),
            count("contaminant")
        );
        out
    }

    /// Write `detections.parquet`, `detections.csv` (list columns such as `patch_ids` joined with spaces),
    /// `summary.csv` and `results.txt` into `dir` (created if missing), each atomically; returns their paths.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        crate::output::create_dir_all(dir)?;
        let files = ["detections.parquet", "detections.csv", "summary.csv", "results.txt"].map(|f| dir.join(f));
        write_parquet(&files[0], &mut self.detections.clone())?;
        write_csv(&files[1], &lists_as_text(&self.detections)?)?;
        write_csv(&files[2], &self.summary)?;
        let text = self.results_txt();
        write_atomic(&files[3], |f| std::io::Write::write_all(f, text.as_bytes()))?;
        Ok(files.to_vec())
    }
}

/// `df` with every list column replaced by its items joined with spaces (CSV has no lists).
pub(crate) fn lists_as_text(df: &DataFrame) -> Result<DataFrame> {
    let mut out = df.clone();
    for col in df.columns() {
        if !matches!(col.dtype(), DataType::List(_)) {
            continue;
        }
        let list = col.list()?;
        let text: Vec<Option<String>> = (0..list.len())
            .map(|k| {
                list.get_as_series(k)
                    .map(|s| -> Result<String> {
                        let s = s.cast(&DataType::String)?;
                        Ok(s.str()?.iter().map(|v| v.unwrap_or("")).collect::<Vec<_>>().join(" "))
                    })
                    .transpose()
            })
            .collect::<Result<_>>()?;
        out.with_column(Column::new(col.name().clone(), text))?;
    }
    Ok(out)
}
