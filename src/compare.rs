//! Head to head: the U-Net and the matched filter (MMF) on the same sky, the same footprint, the
//! same truth and the same matching radius (issue 15 §2).
//!
//! **In:** the U-Net's cross-matched detections as the chain makes them ([`Matched`], whose
//! [`Origin`](crate::crossmatch::Origin) holds the synthetic sky with its truth and the scanned
//! patches), optionally its probability maps ([`Predictions`], to sweep its threshold), and the
//! matched filter's settings ([`Mmf`]). **Out:** a [`Comparison`]:
//! - the MMF run over the U-Net's footprint (its tiles, plus the peaks on the patches overhanging
//!   them) at S/N ≥ [`CURVE_SNR_MIN`], from which every higher threshold is cut exactly
//!   ([`MmfDetections::above`]);
//! - each detector scored by one [`Evaluator`] on the U-Net's [`Footprint`]: the U-Net at its
//!   threshold, the MMF at `snr_threshold`, and the *combined* detector — the U-Net's positions
//!   ranked by the MMF S/N measured there ([`Mmf::photometry`]), cut at the same `snr_threshold`;
//! - purity–completeness curves of the three (U-Net probability threshold; S/N threshold of the MMF
//!   and of the combined detector);
//! - the injected clusters of the footprint found by both, the U-Net only, the MMF only, neither;
//! - the U-Net's candidates with the MMF's `snr`, `y5r500_arcmin2`, `y5r500_err_arcmin2` and
//!   `theta500_arcmin` at their positions.
//!
//! ```no_run
//! # use xcluster::prelude::*;
//! # fn main() -> xcluster::Result<()> {
//! # let (matched, truth): (Matched, Truth) = todo!();
//! let sky = &matched.origin().unwrap().sky;
//! let vs = matched.versus_mmf(&xcluster::mmf::Mmf::planck_like().on_bands_of(sky), &truth)?;
//! println!("{}", vs.table());
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::crossmatch::{Footprint, Matched};
use crate::detect::Detection;
use crate::error::{ensure_param, Error, Result};
use crate::evaluate::{Evaluation, Evaluator};
use crate::mmf::{Mmf, MmfDetections};
use crate::output::write_csv;
use crate::plot::{curves, Figure, Series};
use crate::predict::Predictions;
use crate::sky::Sky;
use crate::synthetic::Truth;
use crate::tiles::{Tiling, N_TILES};

/// The lowest S/N the MMF is run at for the curves (szifi's and Planck's peak-finding threshold).
pub const CURVE_SNR_MIN: f64 = 4.0;
/// S/N thresholds of the MMF and combined curves (those below the run's threshold are left out).
pub const CURVE_SNR: [f64; 14] = [4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 8.0, 9.0, 10.0, 12.0, 15.0, 20.0, 30.0];
/// Probability thresholds of the U-Net curve.
pub const CURVE_PROB: [f32; 12] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99];
/// "Massive" clusters: M500 ≥ this, 10¹⁴ M☉ (the completeness issue 15 asks for).
pub const MASSIVE_M500: f64 = 6.0;

/// The purity at which the detectors' completeness is compared: issue 15's target for the default
/// run (PSZ2 claims ≥ 0.83).
pub const EQUAL_PURITY: f64 = 0.9;
/// The truth columns the completeness at equal purity is binned in.
pub const EQUAL_PURITY_BINS: [&str; 3] = ["m500", "y5r500_arcmin2", "z"];

/// The columns of the MMF photometry added to the U-Net's candidates.
pub const PHOTOMETRY_COLUMNS: [&str; 4] = ["snr", "y5r500_arcmin2", "y5r500_err_arcmin2", "theta500_arcmin"];

/// How to compare: the matched filter, the scoring and the thresholds. [`HeadToHead::new`] takes the
/// filter (its `snr_threshold` is the MMF's and the combined detector's operating point).
#[derive(Debug, Clone)]
pub struct HeadToHead {
    mmf: Mmf,
    evaluator: Evaluator,
    unet_rule: Detection,
    unet_thresholds: Vec<f32>,
    snr_thresholds: Vec<f64>,
    equal_purity: f64,
}

impl HeadToHead {
    /// Compare with `mmf`, scored by `Evaluator::default()` (7′), the U-Net's curve detected with
    /// `Detection::default()` at [`CURVE_PROB`], the S/N curves at [`CURVE_SNR`].
    pub fn new(mmf: &Mmf) -> Self {
        HeadToHead {
            mmf: mmf.clone(),
            evaluator: Evaluator::default(),
            unet_rule: Detection::default(),
            unet_thresholds: CURVE_PROB.to_vec(),
            snr_thresholds: CURVE_SNR.to_vec(),
            equal_purity: EQUAL_PURITY,
        }
    }

    /// The purity at which completeness is compared (default [`EQUAL_PURITY`]): each detector at
    /// the lowest threshold of its curve whose purity reaches it.
    pub fn equal_purity(mut self, purity: f64) -> Self {
        self.equal_purity = purity;
        self
    }

    /// Score with `evaluator` (its radius is every detector's matching radius).
    pub fn evaluator(mut self, evaluator: Evaluator) -> Self {
        self.evaluator = evaluator;
        self
    }

    /// The U-Net's detection rule for its curve (the threshold is swept; the rest kept).
    pub fn unet_rule(mut self, rule: Detection) -> Self {
        self.unet_rule = rule;
        self
    }

    /// Probability thresholds of the U-Net's curve.
    pub fn unet_thresholds(mut self, thresholds: &[f32]) -> Self {
        self.unet_thresholds = thresholds.to_vec();
        self
    }

    /// S/N thresholds of the MMF's and the combined detector's curves.
    pub fn snr_thresholds(mut self, thresholds: &[f64]) -> Self {
        self.snr_thresholds = thresholds.to_vec();
        self
    }

    /// Compare on `matched`'s sky and footprint (made by the chain, on the synthetic sky) against
    /// `truth`; with
    /// `predictions` (the scan's maps) the U-Net's threshold is swept, without it its curve is its
    /// one operating point.
    pub fn compare(&self, matched: &Matched, truth: &Truth, predictions: Option<&Predictions>) -> Result<Comparison> {
        let origin = matched.origin().ok_or_else(|| {
            Error::param("compare", "these matches do not come from a scan: make them with the chain")
        })?;
        self.compare_on(&origin.sky, &truth.clusters, matched.detections(), &origin.footprint, predictions)
    }

    /// [`HeadToHead::compare`] from its parts: the sky (with the MMF's bands), the truth clusters,
    /// the U-Net's detection table (`glon`, `glat`; e.g. [`Matched::detections`]) and its footprint.
    pub fn compare_on(
        &self,
        sky: &Sky,
        truth: &DataFrame,
        unet: &DataFrame,
        footprint: &Footprint,
        predictions: Option<&Predictions>,
    ) -> Result<Comparison> {
        let q_th = self.mmf.snr_threshold;
        let radius = self.mmf.merge_radius_arcmin;
        let tiles = footprint_tiles(footprint)?;
        ensure_param!(!tiles.is_empty(), "compare footprint", "no tile centre lies on the footprint: scan whole tiles");
        let on_footprint = |l: f64, b: f64| footprint.patch_counts(&[(l, b)]).is_ok_and(|c| c[0] > 0);
        eprintln!(
            "compare: the matched filter on tiles {tiles:?} and the footprint's overhang, S/N ≥ {}",
            q_th.min(CURVE_SNR_MIN)
        );
        let run = self.mmf.clone().snr_threshold(q_th.min(CURVE_SNR_MIN)).run_keeping(sky, &tiles, &on_footprint)?;
        let mmf_tiles = run.in_tiles(&tiles, radius)?.above(q_th, radius)?;
        let low = run.where_position(radius, on_footprint)?;
        let mmf_fp = low.above(q_th, radius)?;

        eprintln!("compare: MMF photometry at the {} U-Net candidates", unet.height());
        let positions = crate::crossmatch::positions(unet)?;
        let phot = self.mmf.photometry(sky, &positions)?;
        let mut candidates = unet.clone();
        for c in PHOTOMETRY_COLUMNS {
            candidates.with_column(phot.column(c)?.clone())?;
        }
        let combined = cut_by_snr(&candidates, q_th)?;

        let ev = &self.evaluator;
        let unet_eval = ev.evaluate_table(unet, truth, footprint)?;
        let mmf_eval = ev.evaluate_table(mmf_fp.df(), truth, footprint)?;
        let combined_eval = ev.evaluate_table(&combined, truth, footprint)?;

        let unet_curve = match predictions {
            Some(p) => ev.curve(p, self.unet_rule, &self.unet_thresholds, truth)?,
            None => {
                let mut s = unet_eval.summary().clone();
                s.insert_column(0, Column::new("threshold".into(), vec![self.unet_rule.threshold]))?;
                s
            }
        };
        let mut snr: Vec<f64> = self.snr_thresholds.iter().copied().filter(|&t| t >= q_th.min(CURVE_SNR_MIN)).collect();
        snr.sort_by(f64::total_cmp);
        let mmf_tables: Vec<(f32, DataFrame)> =
            snr.iter().map(|&t| Ok((t as f32, low.above(t, radius)?.df().clone()))).collect::<Result<_>>()?;
        let combined_tables: Vec<(f32, DataFrame)> =
            snr.iter().map(|&t| Ok((t as f32, cut_by_snr(&candidates, t)?))).collect::<Result<_>>()?;
        let curves = stack_curves(&[
            ("unet", unet_curve),
            ("mmf", ev.curve_tables(&mmf_tables, truth, footprint)?),
            ("combined", ev.curve_tables(&combined_tables, truth, footprint)?),
        ])?;

        let target = self.equal_purity;
        ensure_param!((0.0..=1.0).contains(&target), "compare equal purity", "must be in 0…1, got {target}");
        let mut unet_probs: Vec<f64> = self.unet_thresholds.iter().map(|&t| round6(t as f64)).collect();
        unet_probs.sort_by(f64::total_cmp);
        let at_purity = vec![
            match predictions {
                Some(p) => at_purity("unet", target, &unet_probs, |t| {
                    let rule = Detection { threshold: t as f32, ..self.unet_rule };
                    ev.evaluate_on(&p.detect(rule)?, truth, footprint)
                })?,
                None => {
                    at_purity("unet", target, &[round6(self.unet_rule.threshold as f64)], |_| Ok(unet_eval.clone()))?
                }
            },
            at_purity("mmf", target, &snr, |t| ev.evaluate_table(low.above(t, radius)?.df(), truth, footprint))?,
            at_purity("combined", target, &snr, |t| ev.evaluate_table(&cut_by_snr(&candidates, t)?, truth, footprint))?,
        ];

        let clusters = found_by_clusters(&unet_eval, &mmf_eval, &combined_eval)?;
        let found_by = found_by_counts(&clusters)?;
        let table = table(&[
            ("unet", format!("p >= {}", self.unet_rule.threshold), &unet_eval),
            ("mmf", format!("q >= {q_th}"), &mmf_eval),
            ("combined", format!("U-Net positions, q >= {q_th}"), &combined_eval),
        ])?;
        Ok(Comparison {
            tiles,
            mmf_run: run,
            mmf_tiles,
            mmf_footprint: mmf_fp,
            candidates,
            combined,
            unet: unet_eval,
            mmf: mmf_eval,
            combined_eval,
            curves,
            clusters,
            found_by,
            table,
            equal_purity: target,
            at_purity,
        })
    }
}

/// A detector at the lowest threshold of its curve whose purity reaches the target.
#[derive(Debug, Clone)]
pub struct AtPurity {
    /// `unet`, `mmf` or `combined`.
    pub detector: &'static str,
    /// The threshold (probability or S/N) and its evaluation; `None` when no threshold of the
    /// curve reaches the purity.
    pub operating_point: Option<(f64, Evaluation)>,
}

/// Scan `thresholds` (ascending) for the first whose evaluation reaches `purity`.
fn at_purity(
    detector: &'static str,
    purity: f64,
    thresholds: &[f64],
    evaluate: impl Fn(f64) -> Result<Evaluation>,
) -> Result<AtPurity> {
    for &t in thresholds {
        let e = evaluate(t)?;
        if e.purity().is_some_and(|p| p >= purity) {
            return Ok(AtPurity { detector, operating_point: Some((t, e)) });
        }
    }
    Ok(AtPurity { detector, operating_point: None })
}

impl Matched {
    /// The head to head with the matched filter `mmf` on these matches' sky and footprint, against
    /// the synthetic sky's `truth` (see the
    /// [`compare`](crate::compare) module): [`HeadToHead::compare`] without the U-Net's maps, so its
    /// curve is its one operating point; give `scan.predictions()` to
    /// [`HeadToHead::compare`] to sweep it.
    pub fn versus_mmf(&self, mmf: &Mmf, truth: &Truth) -> Result<Comparison> {
        HeadToHead::new(mmf).compare(self, truth, None)
    }
}

/// The tiles whose centre lies on `footprint` (the tiles a scan of whole tiles covered; the
/// patches overhanging their edges do not reach a neighbour's centre).
pub fn footprint_tiles(footprint: &Footprint) -> Result<Vec<u32>> {
    let centres: Vec<(f64, f64)> = (0..N_TILES).map(Tiling::tile_center).collect();
    let counts = footprint.patch_counts(&centres)?;
    Ok((0..N_TILES).filter(|&t| counts[t as usize] > 0).collect())
}

/// The rows of `candidates` with `snr` ≥ `q` (nulls left out), by decreasing `snr`.
fn cut_by_snr(candidates: &DataFrame, q: f64) -> Result<DataFrame> {
    Ok(candidates
        .clone()
        .lazy()
        .filter(col("snr").gt_eq(lit(q)))
        .sort(["snr"], SortMultipleOptions::default().with_order_descending(true).with_maintain_order(true))
        .collect()?)
}

/// The curves one under the other, with a leading `detector` column and `threshold` as f64.
fn stack_curves(parts: &[(&str, DataFrame)]) -> Result<DataFrame> {
    let mut out: Option<DataFrame> = None;
    for (name, df) in parts {
        let mut df = df.clone();
        let t = df.column("threshold")?.cast(&DataType::Float64)?;
        df.with_column(t)?;
        df.insert_column(0, Column::new("detector".into(), vec![*name; df.height()]))?;
        // f32 thresholds of the S/N curves back to their decimal values.
        let t: Vec<Option<f64>> = df.column("threshold")?.f64()?.iter().map(|v| v.map(round6)).collect();
        df.with_column(Column::new("threshold".into(), t))?;
        match &mut out {
            None => out = Some(df),
            Some(o) => {
                o.vstack_mut(&df)?;
            }
        }
    }
    out.ok_or_else(|| Error::param("compare curves", "no curve"))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Per in-footprint truth cluster: the truth's descriptive columns and `found_unet`,
/// `found_mmf`, `found_combined`, `found_by` (`both`, `unet`, `mmf`, `neither`).
fn found_by_clusters(unet: &Evaluation, mmf: &Evaluation, combined: &Evaluation) -> Result<DataFrame> {
    let (a, b, c) = (unet.clusters(), mmf.clusters(), combined.clusters());
    ensure_param!(
        a.height() == b.height() && a.height() == c.height(),
        "compare",
        "the evaluations have different footprints ({}, {}, {} clusters)",
        a.height(),
        b.height(),
        c.height()
    );
    let (fu, fm, fc) = (unet.found().to_vec(), mmf.found().to_vec(), combined.found().to_vec());
    let keep: Vec<Column> = ["name", "catalog", "glon", "glat", "z", "m500", "y5r500_arcmin2", "theta500_arcmin"]
        .iter()
        .filter_map(|n| a.column(n).ok().cloned())
        .collect();
    let mut df = DataFrame::new(a.height(), keep)?;
    let by: Vec<&str> = fu
        .iter()
        .zip(&fm)
        .map(|(&u, &m)| match (u, m) {
            (true, true) => "both",
            (true, false) => "unet",
            (false, true) => "mmf",
            (false, false) => "neither",
        })
        .collect();
    df.with_column(Column::new("found_unet".into(), fu))?;
    df.with_column(Column::new("found_mmf".into(), fm))?;
    df.with_column(Column::new("found_combined".into(), fc))?;
    df.with_column(Column::new("found_by".into(), by))?;
    Ok(df)
}

/// `clusters` (all, and M500 ≥ [`MASSIVE_M500`]) counted by who found them.
fn found_by_counts(clusters: &DataFrame) -> Result<DataFrame> {
    let by: Vec<String> = clusters.column("found_by")?.str()?.iter().map(|v| v.unwrap_or("").to_string()).collect();
    let massive: Vec<bool> = match clusters.column("m500") {
        Ok(m) => m.cast(&DataType::Float64)?.f64()?.iter().map(|v| v.is_some_and(|m| m >= MASSIVE_M500)).collect(),
        Err(_) => vec![false; by.len()],
    };
    let mut rows: Vec<(String, [u32; 5])> = Vec::new();
    for (label, sel) in [("all", None), ("m500 >= 6e14", Some(true))] {
        let mut n = [0u32; 5];
        for (k, b) in by.iter().enumerate() {
            if sel.is_some_and(|s| massive[k] != s) {
                continue;
            }
            n[0] += 1;
            let i = match b.as_str() {
                "both" => 1,
                "unet" => 2,
                "mmf" => 3,
                _ => 4,
            };
            n[i] += 1;
        }
        rows.push((label.to_string(), n));
    }
    let get = |i: usize| rows.iter().map(|r| r.1[i]).collect::<Vec<u32>>();
    Ok(df!(
        "clusters" => rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        "n" => get(0),
        "both" => get(1),
        "unet_only" => get(2),
        "mmf_only" => get(3),
        "neither" => get(4),
    )?)
}

/// One row per detector: its operating point and scores.
fn table(rows: &[(&str, String, &Evaluation)]) -> Result<DataFrame> {
    let (mut n_det, mut n_true, mut n_inj, mut n_found, mut n_mass, mut found_mass) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (_, _, e) in rows {
        n_det.push(e.n_detections());
        n_true.push(e.n_true());
        n_inj.push(e.n_injected());
        n_found.push(e.n_found());
        let (n, f) = massive_counts(e)?;
        n_mass.push(n);
        found_mass.push(f);
    }
    let ratio = |a: &[u32], b: &[u32]| -> Vec<Option<f64>> {
        a.iter().zip(b).map(|(&a, &b)| (b > 0).then(|| a as f64 / b as f64)).collect()
    };
    Ok(df!(
        "detector" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "operating_point" => rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        "n_detections" => n_det.clone(),
        "n_true" => n_true.clone(),
        "purity" => ratio(&n_true, &n_det),
        "n_injected" => n_inj.clone(),
        "n_found" => n_found.clone(),
        "completeness" => ratio(&n_found, &n_inj),
        "n_massive" => n_mass.clone(),
        "found_massive" => found_mass.clone(),
        "completeness_massive" => ratio(&found_mass, &n_mass),
        "false_per_deg2" => rows.iter().map(|r| r.2.false_per_deg2()).collect::<Vec<_>>(),
    )?)
}

/// In-footprint clusters with M500 ≥ [`MASSIVE_M500`], and how many of them were found.
fn massive_counts(e: &Evaluation) -> Result<(u32, u32)> {
    // `m500` is the truth's own column (a truth table may lack it).
    let Ok(m) = e.clusters().column("m500") else { return Ok((0, 0)) };
    let m = m.cast(&DataType::Float64)?;
    let (mut n, mut f) = (0, 0);
    for (m, &hit) in m.f64()?.iter().zip(e.found()) {
        if m.is_some_and(|m| m >= MASSIVE_M500) {
            n += 1;
            f += hit as u32;
        }
    }
    Ok((n, f))
}

/// The result of [`HeadToHead::compare`] (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Comparison {
    tiles: Vec<u32>,
    mmf_run: MmfDetections,
    mmf_tiles: MmfDetections,
    mmf_footprint: MmfDetections,
    candidates: DataFrame,
    combined: DataFrame,
    unet: Evaluation,
    mmf: Evaluation,
    combined_eval: Evaluation,
    curves: DataFrame,
    clusters: DataFrame,
    found_by: DataFrame,
    table: DataFrame,
    equal_purity: f64,
    at_purity: Vec<AtPurity>,
}

impl Comparison {
    /// The purity the detectors are compared at ([`HeadToHead::equal_purity`]).
    pub fn equal_purity(&self) -> f64 {
        self.equal_purity
    }
    /// Each detector (`unet`, `mmf`, `combined`) at the lowest threshold where its purity reaches
    /// [`Comparison::equal_purity`].
    pub fn at_purity(&self) -> &[AtPurity] {
        &self.at_purity
    }
    /// One row per detector at equal purity: `detector`, `threshold`, `purity`, `completeness`,
    /// `n_detections`, `n_found` (null where its curve never reaches the purity).
    pub fn equal_purity_table(&self) -> Result<DataFrame> {
        let point = |f: fn(&(f64, Evaluation)) -> Option<f64>| -> Vec<Option<f64>> {
            self.at_purity.iter().map(|a| a.operating_point.as_ref().and_then(f)).collect()
        };
        let count = |f: fn(&Evaluation) -> u32| -> Vec<Option<u32>> {
            self.at_purity.iter().map(|a| a.operating_point.as_ref().map(|(_, e)| f(e))).collect()
        };
        Ok(df!(
            "detector" => self.at_purity.iter().map(|a| a.detector).collect::<Vec<_>>(),
            "threshold" => point(|(t, _)| Some(*t)),
            "purity" => point(|(_, e)| e.purity()),
            "completeness" => point(|(_, e)| e.completeness()),
            "n_detections" => count(Evaluation::n_detections),
            "n_found" => count(Evaluation::n_found),
        )?)
    }
    /// Completeness at equal purity binned in each of [`EQUAL_PURITY_BINS`]: `detector`,
    /// `threshold`, `column`, then [`Evaluation::completeness_by`]'s `bin_lo`, `bin_hi`, `n`,
    /// `found`, `completeness` (detectors whose curve never reaches the purity are left out).
    pub fn equal_purity_bins(&self) -> Result<DataFrame> {
        let mut out: Option<DataFrame> = None;
        for a in &self.at_purity {
            let Some((t, e)) = &a.operating_point else { continue };
            for column in EQUAL_PURITY_BINS {
                let Ok(bins) = e.completeness_by(column) else { continue };
                let mut df = bins.clone();
                let h = df.height();
                df.insert_column(0, Column::new("column".into(), vec![column; h]))?;
                df.insert_column(0, Column::new("threshold".into(), vec![*t; h]))?;
                df.insert_column(0, Column::new("detector".into(), vec![a.detector; h]))?;
                match &mut out {
                    None => out = Some(df),
                    Some(o) => {
                        o.vstack_mut(&df)?;
                    }
                }
            }
        }
        out.ok_or_else(|| {
            Error::param(
                "compare equal purity",
                format!("no detector reaches purity {} on its curve", self.equal_purity),
            )
        })
    }
    /// The tiles the matched filter searched (those whose centre the footprint covers).
    pub fn tiles(&self) -> &[u32] {
        &self.tiles
    }
    /// The matched filter's run: the tiles and the footprint's overhang, S/N ≥ [`CURVE_SNR_MIN`]
    /// (or its threshold, if lower).
    pub fn mmf_run(&self) -> &MmfDetections {
        &self.mmf_run
    }
    /// The matched filter's detections on the tiles at its threshold: what `xcluster mmf` on them gives.
    pub fn mmf_detections(&self) -> &MmfDetections {
        &self.mmf_tiles
    }
    /// The matched filter's detections on the footprint at its threshold: those it is scored by.
    pub fn mmf_on_footprint(&self) -> &MmfDetections {
        &self.mmf_footprint
    }
    /// The U-Net's detections (as given, e.g. cross-matched) plus the MMF photometry at their
    /// positions: `snr`, `y5r500_arcmin2`, `y5r500_err_arcmin2`, `theta500_arcmin` (f64; null
    /// where no patch holds the position).
    pub fn candidates(&self) -> &DataFrame {
        &self.candidates
    }
    /// The combined detector's detections: the candidates with `snr` ≥ the MMF threshold, by
    /// decreasing `snr` (every row is a U-Net detection, at its position).
    pub fn combined(&self) -> &DataFrame {
        &self.combined
    }
    /// The U-Net's evaluation.
    pub fn unet(&self) -> &Evaluation {
        &self.unet
    }
    /// The matched filter's evaluation (its detections on the footprint).
    pub fn mmf(&self) -> &Evaluation {
        &self.mmf
    }
    /// The combined detector's evaluation.
    pub fn combined_evaluation(&self) -> &Evaluation {
        &self.combined_eval
    }
    /// Purity–completeness curves: `detector` (`unet`, `mmf`, `combined`), `threshold` (f64: the
    /// probability for the U-Net, the S/N for the others), then the columns of [`Evaluation::summary`].
    pub fn curves(&self) -> &DataFrame {
        &self.curves
    }
    /// The injected clusters of the footprint with `found_unet`, `found_mmf`, `found_combined` and
    /// `found_by` (`both`, `unet`, `mmf`, `neither`).
    pub fn clusters(&self) -> &DataFrame {
        &self.clusters
    }
    /// Those clusters counted by who found them: `clusters` (`all`, `m500 >= 6e14`), `n`, `both`,
    /// `unet_only`, `mmf_only`, `neither` (u32).
    pub fn found_by(&self) -> &DataFrame {
        &self.found_by
    }
    /// One row per detector (`unet`, `mmf`, `combined`): `operating_point`, `n_detections`,
    /// `n_true`, `purity`, `n_injected`, `n_found`, `completeness`, `n_massive` (in-footprint clusters
    /// of M500 ≥ 6·10¹⁴ M☉), `found_massive`, `completeness_massive`, `false_per_deg2`.
    pub fn table(&self) -> &DataFrame {
        &self.table
    }

    /// Purity (y) against completeness (x) of the three detectors, one line each.
    pub fn plot(&self) -> Figure {
        let made = (|| -> Result<Figure> {
            let mut series = Vec::new();
            for (name, label) in [
                ("unet", "U-Net (probability)"),
                ("mmf", "matched filter (S/N)"),
                ("combined", "U-Net positions, MMF S/N"),
            ] {
                let d = self.curves.clone().lazy().filter(col("detector").eq(lit(name))).collect()?;
                let (c, p) = (d.column("completeness")?.f64()?, d.column("purity")?.f64()?);
                let points: Vec<(f64, f64)> = c.iter().zip(p.iter()).filter_map(|(c, p)| Some((c?, p?))).collect();
                series.push(Series { name: label.to_string(), points });
            }
            curves("purity vs completeness: U-Net, matched filter, combined", ("completeness", "purity"), &series)
                .result()
        })();
        Figure::or_failed("Comparison::plot", made)
    }

    /// Completeness against truth column `column` (one of [`EQUAL_PURITY_BINS`]) of the detectors at
    /// equal purity, one line each.
    pub fn plot_equal_purity(&self, column: &str) -> Figure {
        let made = (|| -> Result<Figure> {
            let mut series = Vec::new();
            for a in &self.at_purity {
                let Some((t, e)) = &a.operating_point else { continue };
                let bins = e.completeness_by(column)?;
                let f64s = |c: &str| -> Result<Vec<Option<f64>>> { Ok(bins.column(c)?.f64()?.iter().collect()) };
                let (lo, hi, c) = (f64s("bin_lo")?, f64s("bin_hi")?, f64s("completeness")?);
                let points = (0..c.len())
                    .filter_map(|k| {
                        let (lo, hi, c) = (lo[k]?, hi[k]?, c[k]?);
                        (lo.is_finite() && hi.is_finite()).then_some(((lo + hi) / 2.0, c))
                    })
                    .collect();
                series.push(Series { name: format!("{} (threshold {t})", a.detector), points });
            }
            ensure_param!(
                !series.is_empty(),
                "compare equal purity",
                "no detector reaches purity {} on its curve",
                self.equal_purity
            );
            let title = format!("completeness at purity ≥ {}", self.equal_purity);
            curves(&title, (column, "completeness"), &series).result()
        })();
        Figure::or_failed("Comparison::plot_equal_purity", made)
    }

    /// Write `comparison.csv` ([`Comparison::table`]), `comparison_found_by.csv`,
    /// `comparison_clusters.csv`, `comparison_curves.csv`, `comparison_candidates.csv`,
    /// `mmf_evaluation.csv` (the MMF's summary), `comparison_equal_purity.csv`
    /// ([`Comparison::equal_purity_table`]) and, when a detector reaches that purity,
    /// `comparison_equal_purity_bins.csv` into `dir`; returns their paths.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        crate::output::create_dir_all(dir)?;
        let mut files: Vec<(PathBuf, DataFrame)> = vec![
            (dir.join("comparison.csv"), self.table.clone()),
            (dir.join("comparison_found_by.csv"), self.found_by.clone()),
            (dir.join("comparison_clusters.csv"), self.clusters.clone()),
            (dir.join("comparison_curves.csv"), self.curves.clone()),
            (dir.join("comparison_candidates.csv"), crate::crossmatch::lists_as_text(&self.candidates)?),
            (dir.join("mmf_evaluation.csv"), self.mmf.summary().clone()),
            (dir.join("comparison_equal_purity.csv"), self.equal_purity_table()?),
        ];
        if self.at_purity.iter().any(|a| a.operating_point.is_some()) {
            files.push((dir.join("comparison_equal_purity_bins.csv"), self.equal_purity_bins()?));
        }
        let mut out = Vec::with_capacity(files.len());
        for (path, df) in files {
            write_csv(&path, &df)?;
            out.push(path);
        }
        Ok(out)
    }
}

impl crate::plot::NotebookDisplay for Comparison {
    /// The three detectors side by side, then who found the injected clusters.
    fn to_html(&self) -> String {
        let by = crate::plot::NotebookDisplay::to_html(self.found_by());
        let html = crate::plot::card("Comparison: U-Net vs matched filter", &[], Some(self.table()));
        let equal = crate::plot::card_or_error(
            &format!("At equal purity (≥ {})", self.equal_purity),
            self.equal_purity_table().map(|t| (vec![], Some(t))),
        );
        format!("{html}{equal}{by}")
    }
}
