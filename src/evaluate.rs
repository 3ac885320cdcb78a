//! Evaluation against a synthetic sky's truth: purity, completeness, false detections per deg².
//!
//! In: [`Detections`] (or a [`Predictions`] and detection thresholds, for a curve), the truth
//! clusters (a DataFrame with `glon`, `glat` in degrees, optionally `catalog` and the binned
//! quantities: [`Truth::clusters`](crate::synthetic::Truth::clusters) has all of them) and the scanned patches.
//! Out: [`Evaluation`] — summary numbers, completeness per catalog and in bins of M500, Y5R500 and z,
//! the detections and the in-footprint clusters with their matches — and purity–completeness curves.
//!
//! Definitions (`r` = the match radius, 7′ by default):
//! - a detection is *true* when an injected cluster (anywhere) lies within `r`; purity = true / detections;
//! - an injected cluster is *in the footprint* when it lies on a scanned patch ([`Footprint`]), and
//!   *found* when a detection lies within `r`; completeness = found / in the footprint;
//! - `unknown` clusters are those whose `catalog` is `unknown` (no catalog lists them);
//! - false detections per deg² = (detections − true) / footprint area, the area being the distinct
//!   HEALPix pixels at `area_nside` (2048) whose centres lie on a patch ([`Footprint::area_deg2`]).

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::catalog::{match_pairs, Match};
use crate::crossmatch::{lists_as_text, positions, Footprint, CLUSTER_RADIUS_ARCMIN};
use crate::detect::{Detection, Detections};
use crate::error::{ensure_param, Error, Result};
use crate::output::write_csv;
use crate::predict::Predictions;

/// Default bin edges: M500 in 10¹⁴ M☉.
pub const M500_EDGES: [f64; 9] = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, f64::INFINITY];
/// Default bin edges: Y5R500 in arcmin².
pub const Y5R500_EDGES: [f64; 9] = [0.0, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, f64::INFINITY];
/// Default bin edges: redshift.
pub const Z_EDGES: [f64; 10] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, f64::INFINITY];

/// How detections are scored; `Evaluator::default()` uses 7′, nside 2048 and bins of `m500`,
/// `y5r500_arcmin2` and `z` ([`M500_EDGES`], [`Y5R500_EDGES`], [`Z_EDGES`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluator {
    radius_arcmin: f64,
    area_nside: u32,
    bins: Vec<(String, Vec<f64>)>,
}

impl Default for Evaluator {
    fn default() -> Self {
        Evaluator {
            radius_arcmin: CLUSTER_RADIUS_ARCMIN,
            area_nside: 2048,
            bins: vec![
                ("m500".into(), M500_EDGES.to_vec()),
                ("y5r500_arcmin2".into(), Y5R500_EDGES.to_vec()),
                ("z".into(), Z_EDGES.to_vec()),
            ],
        }
    }
}

/// Numbers of one detection run against the truth.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scores {
    n_detections: u32,
    n_true: u32,
    n_injected: u32,
    n_found: u32,
    n_unknown: u32,
    unknown_found: u32,
    area_deg2: f64,
}

impl Scores {
    fn purity(&self) -> Option<f64> {
        ratio(self.n_true, self.n_detections)
    }
    fn completeness(&self) -> Option<f64> {
        ratio(self.n_found, self.n_injected)
    }
    fn false_per_deg2(&self) -> Option<f64> {
        (self.area_deg2 > 0.0).then(|| (self.n_detections - self.n_true) as f64 / self.area_deg2)
    }
}

fn ratio(a: u32, b: u32) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The truth reduced to what scoring needs: every cluster's position, and which lie in the footprint.
struct Prepared {
    all: Vec<(f64, f64)>,
    /// Rows of the truth in the footprint, and their positions.
    inside: Vec<usize>,
    inside_pos: Vec<(f64, f64)>,
    n_patches: Vec<u32>,
    unknown: Vec<bool>,
    area_deg2: f64,
}

impl Evaluator {
    /// The defaults (see [`Evaluator`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Match radius in arcmin, in (0, 600] (7).
    pub fn radius_arcmin(mut self, radius_arcmin: f64) -> Self {
        self.radius_arcmin = radius_arcmin;
        self
    }

    /// HEALPix nside of the footprint area (power of two ≤ 8192; 2048).
    pub fn area_nside(mut self, nside: u32) -> Self {
        self.area_nside = nside;
        self
    }

    /// Bin completeness in truth column `column` with `edges` (≥ 2, strictly increasing, the last may be
    /// `f64::INFINITY`; bins are [lo, hi)); replaces the bins of that column if set.
    pub fn bins(mut self, column: &str, edges: &[f64]) -> Self {
        self.bins.retain(|(c, _)| c != column);
        self.bins.push((column.to_string(), edges.to_vec()));
        self
    }

    /// No binned completeness (for truth tables without `m500`, `y5r500_arcmin2` or `z`).
    pub fn without_bins(mut self) -> Self {
        self.bins.clear();
        self
    }

    /// Check radius, nside and bin edges.
    pub fn validate(&self) -> Result<()> {
        let r = self.radius_arcmin;
        ensure_param!(r > 0.0 && r <= 600.0, "evaluate radius_arcmin", "must be in (0, 600], got {r}");
        crate::sky::Grid::new(self.area_nside, crate::sky::Ordering::Nested)
            .map_err(|e| Error::param("evaluate area_nside", e.to_string()))?;
        for (column, e) in &self.bins {
            let ok = e.len() >= 2 && e.iter().all(|x| !x.is_nan()) && e.windows(2).all(|w| w[0] < w[1]);
            ensure_param!(ok, format!("evaluate bins {column}"), "need ≥ 2 strictly increasing edges, got {e:?}");
        }
        Ok(())
    }

    /// Score `detections` against the `truth` clusters on the patches of `footprint`.
    pub fn evaluate(&self, detections: &Detections, truth: &DataFrame, footprint: &Predictions) -> Result<Evaluation> {
        self.evaluate_on(detections, truth, &Footprint::of(footprint))
    }

    /// [`Evaluator::evaluate`] on a [`Footprint`] built from patch metadata (scans not kept in memory).
    pub fn evaluate_on(&self, detections: &Detections, truth: &DataFrame, footprint: &Footprint) -> Result<Evaluation> {
        self.evaluate_table(detections.df(), truth, footprint)
    }

    /// [`Evaluator::evaluate_on`] for any detection table with `glon`, `glat` in degrees (another
    /// detector's, e.g. the matched filter's [`crate::mmf::MmfDetections::df`]): scored the same way.
    pub fn evaluate_table(&self, det: &DataFrame, truth: &DataFrame, footprint: &Footprint) -> Result<Evaluation> {
        self.validate()?;
        let prep = self.prepare(truth, footprint)?;
        let det_pos = positions(det)?;
        let (true_of, found_of) = self.pairs(&prep, &det_pos)?;
        let scores = self.scores(&prep, &det_pos, &true_of, &found_of);
        let clusters = clusters_df(truth, &prep, &found_of)?;
        let found: Vec<bool> = found_of.iter().map(Option::is_some).collect();
        let mut binned = Vec::with_capacity(self.bins.len());
        for (column, edges) in &self.bins {
            binned.push((column.clone(), binned_df(&clusters, &found, column, edges)?));
        }
        Ok(Evaluation {
            summary: summary_df(&[scores], None)?,
            by_catalog: by_catalog_df(&clusters, &found)?,
            binned,
            detections: detections_df(det, truth, &true_of)?,
            clusters,
            scores,
            found,
        })
    }

    /// Purity–completeness curve: `predictions` detected with `detection` at each of `thresholds`
    /// (the other thresholds unchanged), scored against `truth`. One row per threshold: `threshold`
    /// (f32) then the columns of [`Evaluation::summary`].
    pub fn curve(
        &self,
        predictions: &Predictions,
        detection: Detection,
        thresholds: &[f32],
        truth: &DataFrame,
    ) -> Result<DataFrame> {
        self.validate()?;
        ensure_param!(!thresholds.is_empty(), "curve thresholds", "give at least one threshold");
        let prep = self.prepare(truth, &Footprint::of(predictions))?;
        let mut rows = Vec::with_capacity(thresholds.len());
        for &threshold in thresholds {
            let det = predictions.detect(Detection { threshold, ..detection })?;
            let det_pos = positions(det.df())?;
            let (true_of, found_of) = self.pairs(&prep, &det_pos)?;
            rows.push(self.scores(&prep, &det_pos, &true_of, &found_of));
        }
        summary_df(&rows, Some(thresholds))
    }

    /// [`Evaluator::curve`] for detection tables already cut (another detector's at each of its
    /// thresholds): one row per `(threshold, table)`, the footprint's area measured once.
    pub fn curve_tables(
        &self,
        tables: &[(f32, DataFrame)],
        truth: &DataFrame,
        footprint: &Footprint,
    ) -> Result<DataFrame> {
        self.validate()?;
        ensure_param!(!tables.is_empty(), "curve thresholds", "give at least one threshold");
        let prep = self.prepare(truth, footprint)?;
        let mut rows = Vec::with_capacity(tables.len());
        for (_, det) in tables {
            let det_pos = positions(det)?;
            let (true_of, found_of) = self.pairs(&prep, &det_pos)?;
            rows.push(self.scores(&prep, &det_pos, &true_of, &found_of));
        }
        let thresholds: Vec<f32> = tables.iter().map(|t| t.0).collect();
        summary_df(&rows, Some(&thresholds))
    }

    fn prepare(&self, truth: &DataFrame, fp: &Footprint) -> Result<Prepared> {
        let all = positions(truth).map_err(|e| Error::param("truth clusters", e.to_string()))?;
        let counts = fp.patch_counts(&all)?;
        let inside: Vec<usize> = (0..all.len()).filter(|&k| counts[k] > 0).collect();
        let unknown = match truth.column("catalog") {
            Ok(c) => c.cast(&DataType::String)?.str()?.iter().map(|v| v == Some("unknown")).collect(),
            Err(_) => vec![false; all.len()],
        };
        Ok(Prepared {
            inside_pos: inside.iter().map(|&k| all[k]).collect(),
            n_patches: inside.iter().map(|&k| counts[k]).collect(),
            inside,
            all,
            unknown,
            area_deg2: fp.area_deg2(self.area_nside)?,
        })
    }

    /// Per detection its nearest truth cluster (row, arcmin) within the radius; per in-footprint
    /// cluster its nearest detection (id, arcmin).
    #[allow(clippy::type_complexity)]
    fn pairs(
        &self,
        prep: &Prepared,
        det_pos: &[(f64, f64)],
    ) -> Result<(Vec<Option<(u32, f64)>>, Vec<Option<(u32, f64)>>)> {
        let nearest = |a: &[(f64, f64)], b: &[(f64, f64)]| -> Result<Vec<Option<(u32, f64)>>> {
            let mut out = vec![None; a.len()];
            for pair in match_pairs(a, b, self.radius_arcmin, Match::Nearest)? {
                out[pair.a as usize] = Some((pair.b, pair.sep_arcmin));
            }
            Ok(out)
        };
        Ok((nearest(det_pos, &prep.all)?, nearest(&prep.inside_pos, det_pos)?))
    }

    fn scores(
        &self,
        prep: &Prepared,
        det_pos: &[(f64, f64)],
        true_of: &[Option<(u32, f64)>],
        found_of: &[Option<(u32, f64)>],
    ) -> Scores {
        let unknown_inside = prep.inside.iter().map(|&k| prep.unknown[k]);
        Scores {
            n_detections: det_pos.len() as u32,
            n_true: true_of.iter().flatten().count() as u32,
            n_injected: prep.inside.len() as u32,
            n_found: found_of.iter().flatten().count() as u32,
            n_unknown: unknown_inside.clone().filter(|&u| u).count() as u32,
            unknown_found: unknown_inside.zip(found_of).filter(|(u, f)| *u && f.is_some()).count() as u32,
            area_deg2: prep.area_deg2,
        }
    }
}

/// `Evaluator::default().evaluate(...)`: purity, completeness and the rest with the original's 7′.
pub fn evaluate(detections: &Detections, truth: &DataFrame, footprint: &Predictions) -> Result<Evaluation> {
    Evaluator::default().evaluate(detections, truth, footprint)
}

/// One row per entry of `scores` (see [`Evaluation::summary`]), with a leading `threshold` column if given.
fn summary_df(scores: &[Scores], thresholds: Option<&[f32]>) -> Result<DataFrame> {
    let col = |f: fn(&Scores) -> u32| scores.iter().map(f).collect::<Vec<u32>>();
    let opt = |f: fn(&Scores) -> Option<f64>| scores.iter().map(f).collect::<Vec<Option<f64>>>();
    let mut df = df!(
        "n_detections" => col(|s| s.n_detections),
        "n_true" => col(|s| s.n_true),
        "n_false" => col(|s| s.n_detections - s.n_true),
        "purity" => opt(Scores::purity),
        "n_injected" => col(|s| s.n_injected),
        "n_found" => col(|s| s.n_found),
        "completeness" => opt(Scores::completeness),
        "n_unknown" => col(|s| s.n_unknown),
        "unknown_found" => col(|s| s.unknown_found),
        "area_deg2" => scores.iter().map(|s| s.area_deg2).collect::<Vec<f64>>(),
        "false_per_deg2" => opt(Scores::false_per_deg2),
    )?;
    if let Some(t) = thresholds {
        df.insert_column(0, Column::new("threshold".into(), t.to_vec()))?;
    }
    Ok(df)
}

/// The truth rows in the footprint plus `n_patches`, `found`, `detection_id`, `sep_arcmin`.
fn clusters_df(truth: &DataFrame, prep: &Prepared, found_of: &[Option<(u32, f64)>]) -> Result<DataFrame> {
    let rows = IdxCa::from_vec("rows".into(), prep.inside.iter().map(|&k| k as IdxSize).collect());
    let mut df = truth.take(&rows)?;
    df.with_column(Column::new("n_patches".into(), prep.n_patches.clone()))?;
    df.with_column(Column::new("found".into(), found_of.iter().map(Option::is_some).collect::<Vec<_>>()))?;
    df.with_column(Column::new("detection_id".into(), found_of.iter().map(|f| f.map(|x| x.0)).collect::<Vec<_>>()))?;
    df.with_column(Column::new("sep_arcmin".into(), found_of.iter().map(|f| f.map(|x| x.1)).collect::<Vec<_>>()))?;
    Ok(df)
}

/// The detection table plus `true_cluster`, `truth_name`, `truth_catalog`, `truth_sep_arcmin`.
fn detections_df(det: &DataFrame, truth: &DataFrame, true_of: &[Option<(u32, f64)>]) -> Result<DataFrame> {
    let text = |c: &str| -> Result<Vec<Option<String>>> {
        let Ok(col) = truth.column(c) else { return Ok(vec![None; true_of.len()]) };
        let col = col.cast(&DataType::String)?;
        let s = col.str()?;
        Ok(true_of.iter().map(|t| t.and_then(|(k, _)| s.get(k as usize).map(str::to_string))).collect())
    };
    let mut df = det.clone();
    df.with_column(Column::new("true_cluster".into(), true_of.iter().map(Option::is_some).collect::<Vec<_>>()))?;
    df.with_column(Column::new("truth_name".into(), text("name")?))?;
    df.with_column(Column::new("truth_catalog".into(), text("catalog")?))?;
    df.with_column(Column::new("truth_sep_arcmin".into(), true_of.iter().map(|t| t.map(|x| x.1)).collect::<Vec<_>>()))?;
    Ok(df)
}

/// Completeness of `clusters` (`found`: one per row) in bins [lo, hi) of `column`; null values are
/// left out.
fn binned_df(clusters: &DataFrame, found: &[bool], column: &str, edges: &[f64]) -> Result<DataFrame> {
    let values = clusters.column(column).map_err(|_| {
        Error::param(
            format!("evaluate bins {column}"),
            format!(
                "the truth has no column {column:?} (columns: {:?}); set bins with Evaluator::bins or Evaluator::without_bins",
                clusters.get_column_names()
            ),
        )
    })?;
    let values = values.cast(&DataType::Float64)?;
    let nb = edges.len() - 1;
    let (mut n, mut hit) = (vec![0u32; nb], vec![0u32; nb]);
    for (v, &f) in values.f64()?.iter().zip(found) {
        let Some(v) = v else { continue };
        if let Some(b) = (0..nb).find(|&b| edges[b] <= v && v < edges[b + 1]) {
            n[b] += 1;
            hit[b] += f as u32;
        }
    }
    let completeness: Vec<Option<f64>> = n.iter().zip(&hit).map(|(&n, &h)| ratio(h, n)).collect();
    Ok(df!(
        "bin_lo" => edges[..nb].to_vec(),
        "bin_hi" => edges[1..].to_vec(),
        "n" => n,
        "found" => hit,
        "completeness" => completeness,
    )?)
}

/// Completeness per value of the truth's `catalog` column (first-appearance order); empty without one.
fn by_catalog_df(clusters: &DataFrame, found: &[bool]) -> Result<DataFrame> {
    let mut rows: Vec<(String, u32, u32)> = Vec::new();
    if let Ok(cat) = clusters.column("catalog") {
        let cat = cat.cast(&DataType::String)?;
        for (c, &f) in cat.str()?.iter().zip(found) {
            let c = c.unwrap_or("").to_string();
            let k = match rows.iter().position(|r| r.0 == c) {
                Some(k) => k,
                None => {
                    rows.push((c, 0, 0));
                    rows.len() - 1
                }
            };
            rows[k].1 += 1;
            rows[k].2 += f as u32;
        }
    }
    Ok(df!(
        "catalog" => rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        "n" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "found" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "completeness" => rows.iter().map(|r| ratio(r.2, r.1)).collect::<Vec<_>>(),
    )?)
}

/// The result of [`Evaluator::evaluate`].
#[derive(Debug, Clone)]
pub struct Evaluation {
    summary: DataFrame,
    by_catalog: DataFrame,
    binned: Vec<(String, DataFrame)>,
    detections: DataFrame,
    clusters: DataFrame,
    scores: Scores,
    found: Vec<bool>,
}

impl Evaluation {
    /// One row: `n_detections`, `n_true` (within the radius of an injected cluster), `n_false`,
    /// `purity` (f64, `n_true / n_detections`, null without detections), `n_injected` (truth clusters on
    /// the scanned patches), `n_found`, `completeness` (`n_found / n_injected`, null when 0), `n_unknown`
    /// (in-footprint clusters with `catalog` = `unknown`), `unknown_found`, `area_deg2` (footprint area),
    /// `false_per_deg2` (`n_false / area_deg2`). Counts are u32.
    pub fn summary(&self) -> &DataFrame {
        &self.summary
    }

    /// Purity (`None` without detections).
    pub fn purity(&self) -> Option<f64> {
        self.scores.purity()
    }

    /// Completeness (`None` without injected clusters in the footprint).
    pub fn completeness(&self) -> Option<f64> {
        self.scores.completeness()
    }

    /// False detections per deg² (`None` for an empty footprint).
    pub fn false_per_deg2(&self) -> Option<f64> {
        self.scores.false_per_deg2()
    }

    /// Detections scored.
    pub fn n_detections(&self) -> u32 {
        self.scores.n_detections
    }

    /// Detections within the radius of an injected cluster.
    pub fn n_true(&self) -> u32 {
        self.scores.n_true
    }

    /// Injected clusters in the footprint.
    pub fn n_injected(&self) -> u32 {
        self.scores.n_injected
    }

    /// Injected clusters found.
    pub fn n_found(&self) -> u32 {
        self.scores.n_found
    }

    /// Whether each row of [`Evaluation::clusters`] was found.
    pub fn found(&self) -> &[bool] {
        &self.found
    }

    /// Completeness in bins of truth column `column` (`m500`, `y5r500_arcmin2`, `z` by default):
    /// `bin_lo`, `bin_hi` (f64, bins [lo, hi)), `n` (u32: in-footprint clusters in the bin), `found`
    /// (u32), `completeness` (f64, null for an empty bin). Error if that column was not binned.
    pub fn completeness_by(&self, column: &str) -> Result<&DataFrame> {
        self.binned.iter().find(|(c, _)| c == column).map(|(_, df)| df).ok_or_else(|| {
            let have: Vec<&str> = self.binned.iter().map(|(c, _)| c.as_str()).collect();
            Error::param("completeness_by", format!("no bins of {column:?}; binned: {have:?}"))
        })
    }

    /// Completeness per truth `catalog` value: `catalog` (str), `n`, `found` (u32), `completeness` (f64).
    pub fn by_catalog(&self) -> &DataFrame {
        &self.by_catalog
    }

    /// The detection table plus `true_cluster` (bool), `truth_name`, `truth_catalog` (str) and
    /// `truth_sep_arcmin` (f64) of the nearest injected cluster within the radius (null when none).
    pub fn detections(&self) -> &DataFrame {
        &self.detections
    }

    /// The truth clusters on the scanned patches (truth columns), plus `n_patches` (u32: patches they lie
    /// on), `found` (bool), `detection_id` (u32, the nearest detection's `id`) and `sep_arcmin` (f64).
    pub fn clusters(&self) -> &DataFrame {
        &self.clusters
    }

    /// Write `evaluation.csv` (the summary), `completeness_catalog.csv`, `completeness_<column>.csv` per
    /// binned column, `evaluation_detections.csv` and `evaluation_clusters.csv` into `dir` (created if
    /// missing), atomically; returns their paths.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        crate::output::create_dir_all(dir)?;
        let mut files = vec![dir.join("evaluation.csv"), dir.join("completeness_catalog.csv")];
        write_csv(&files[0], &self.summary)?;
        write_csv(&files[1], &self.by_catalog)?;
        for (column, df) in &self.binned {
            let path = dir.join(format!("completeness_{column}.csv"));
            write_csv(&path, df)?;
            files.push(path);
        }
        let (detections, clusters) = (dir.join("evaluation_detections.csv"), dir.join("evaluation_clusters.csv"));
        write_csv(&detections, &lists_as_text(&self.detections)?)?;
        write_csv(&clusters, &self.clusters)?;
        files.extend([detections, clusters]);
        Ok(files)
    }
}
