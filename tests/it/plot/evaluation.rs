//! Evaluation figures: completeness in bins of a truth column (linear and log axes) from a real
//! [`Evaluation`] of a toy sky, and the purity–completeness curve.

use polars::prelude::*;

use crate::common::{check_figure, pixel};
use crate::plot::curves::{near, Axes, BLUE};
use xcluster::detect::Detection;
use xcluster::evaluate::{Evaluation, Evaluator};
use xcluster::patches::{Gnomonic, PatchInfo};
use xcluster::plot::purity_completeness;
use xcluster::predict::Predictions;
use xcluster::tiles::Split;

/// Bar fill, error bars and the all-bins line of the completeness figure.
const BAR_FILL: [u8; 3] = [158, 202, 225];
const BLACK: [u8; 3] = [0, 0, 0];
const RED: [u8; 3] = [214, 39, 40];

const N: usize = 64;
/// Six slots per patch, 20 px (34′) apart, far from the edges.
const SLOTS: [(f64, f64); 6] = [(12.0, 12.0), (12.0, 32.0), (12.0, 52.0), (32.0, 12.0), (32.0, 32.0), (32.0, 52.0)];

/// M500 [10¹⁴ M☉] and Y5R500 [arcmin²] of the clusters on slots 0…9.
const M500: [f64; 10] = [1.5, 1.5, 2.5, 2.5, 3.5, 5.0, 7.0, 10.0, 13.0, 15.0];
const Y5R500: [f64; 10] = [7e-4, 1e-4, 1.5e-3, 3e-3, 3e-4, 5e-3, 1e-4, 1e-2, 2e-2, 1.2e-3];
/// Slots with a detection.
const DETECTED: [usize; 7] = [0, 2, 3, 5, 7, 8, 9];

fn patches() -> Vec<PatchInfo> {
    [(60.0, 50.0), (250.0, -45.0)]
        .iter()
        .enumerate()
        .map(|(k, &(l, b))| PatchInfo {
            id: k as u64,
            projection: Gnomonic::new(l, b, N as u32, 1.7).unwrap(),
            tile: 3,
            split: Split::Test,
            seed_cluster: None,
            shift: (0.0, 0.0),
            clusters: vec![],
        })
        .collect()
}

/// Evaluation of a toy sky: clusters on slots 0…9 (M500, Y5R500 above), detections (0.99 disks)
/// on the slots of `DETECTED`. With `on_sky` false the clusters are moved off the patches.
fn toy(on_sky: bool) -> (Evaluation, Predictions, DataFrame) {
    let patches = patches();
    let slot = |s: usize| (s / 6, SLOTS[s % 6].0, SLOTS[s % 6].1);
    let pos: Vec<(f64, f64)> = (0..10)
        .map(|s| {
            let (n, i, j) = slot(s);
            if on_sky {
                patches[n].projection.pixel_to_galactic(i, j)
            } else {
                (150.0, 10.0 + s as f64)
            }
        })
        .collect();
    let truth = df!(
        "name" => (0..10).map(|k| format!("T{k}")).collect::<Vec<_>>(),
        "glon" => pos.iter().map(|p| p.0).collect::<Vec<_>>(),
        "glat" => pos.iter().map(|p| p.1).collect::<Vec<_>>(),
        "m500" => M500.to_vec(),
        "y5r500_arcmin2" => Y5R500.to_vec(),
        "z" => vec![0.15; 10],
    )
    .unwrap();
    let mut probs = vec![0.0f32; 2 * N * N];
    for s in DETECTED {
        let (n, ci, cj) = slot(s);
        for k in 0..N * N {
            let (i, j) = ((k / N) as f64, (k % N) as f64);
            if (i - ci).hypot(j - cj) <= 3.0 {
                probs[n * N * N + k] = 0.99;
            }
        }
    }
    let pred = Predictions::from_parts(probs, N, patches).unwrap();
    let det = pred.detect(Detection::default()).unwrap();
    let ev = Evaluator::new().evaluate(&det, &truth, &pred).unwrap();
    (ev, pred, truth)
}

#[test]
fn completeness_bars_sit_on_their_bins() {
    let (ev, _, _) = toy(true);
    assert_eq!(ev.completeness(), Some(0.7));
    let fig = ev.plot_completeness("m500").result().unwrap();
    let (w, _) = fig.size();
    let rgb = check_figure(&fig, 10);
    // Bins kept: [1, 2) … [12, ∞) (the empty [0, 1) is left out), the open one drawn as [12, 16);
    // x spans 1…16 ± 2 %, y 0…1.05.
    let axes = Axes::find(&rgb, w, 0..w, (0.7, 16.3), (0.0, 1.05));
    let at = |x: f64, y: f64| axes.at(x, y);
    // [1, 2): 1 of 2 found, c = 0.5 ± √(0.25/2) = 0.354.
    assert!(near(&rgb, w, at(1.5, 0.25), 2, BAR_FILL), "bar [1, 2) up to 0.5: {axes:?}");
    assert!(!near(&rgb, w, at(1.5, 0.62), 3, BAR_FILL), "bar [1, 2) stops at 0.5");
    assert!(near(&rgb, w, at(1.5, 0.8), 2, BLACK), "error bar of [1, 2) reaches 0.85");
    assert!(!near(&rgb, w, at(1.5, 0.95), 3, BLACK), "error bar of [1, 2) stops at 0.85");
    // [2, 3): 2 of 2, up to 1; [3, 4): 0 of 1, no bar; [12, ∞): 2 of 2, drawn to 16.
    assert!(near(&rgb, w, at(2.5, 0.9), 2, BAR_FILL), "bar [2, 3) up to 1");
    assert!(!near(&rgb, w, at(3.5, 0.3), 6, BAR_FILL), "no bar on [3, 4)");
    assert!(near(&rgb, w, at(15.0, 0.5), 2, BAR_FILL), "the open bin is drawn up to 16");
    assert!(!near(&rgb, w, at(0.85, 0.5), 2, BAR_FILL), "nothing left of the first bin");
    // The all-bins line (dashed) at 7 / 10.
    let (_, row) = at(8.0, 0.7);
    let red = (axes.left as u32..axes.right as u32)
        .filter(|&px| (row - 1..=row + 1).any(|py| pixel(&rgb, w, px, py) == RED))
        .count();
    assert!(red as f64 > 0.4 * (axes.right - axes.left), "all-bins line at 0.7: {red} red columns");
    let svg = fig.svg().unwrap();
    for s in ["M500 [10¹⁴ M☉]", "≥ 12", "7 of 10"] {
        assert!(svg.contains(s), "no {s:?} in the figure");
    }
    // z: every cluster is in [0.1, 0.2), a single bin on a linear axis.
    check_figure(&ev.plot_completeness("z").result().unwrap(), 5);
}

#[test]
fn completeness_uses_a_log_axis_for_y5r500() {
    let (ev, _, _) = toy(true);
    let fig = ev.plot_completeness("y5r500_arcmin2").result().unwrap();
    let (w, _) = fig.size();
    let rgb = check_figure(&fig, 10);
    let axes = Axes::find(&rgb, w, 0..w, (0.0, 1.0), (0.0, 1.05));
    // The bins from 5e-4 up all have completeness 1 and double in width: on a log axis each is as
    // wide as the next (the open [1.6e-2, ∞) drawn to 3.2e-2), where a linear axis would double them.
    let (_, row) = axes.at(0.5, 0.8);
    let mut runs: Vec<u32> = Vec::new();
    let mut run = 0;
    for px in axes.left as u32..axes.right as u32 {
        if pixel(&rgb, w, px, row) == BAR_FILL {
            run += 1;
        } else if run > 0 {
            runs.push(run);
            run = 0;
        }
    }
    assert_eq!(runs.len(), 6, "six full bars at 0.8: {runs:?}");
    let (lo, hi) = (runs.iter().min().unwrap(), runs.iter().max().unwrap());
    assert!(hi - lo <= 2 && *lo > 40, "equal widths on a log axis: {runs:?}");
    // The first bin, [0, 2.5e-4), has 2 clusters and none found; it reads "< 2.5e-4".
    let svg = fig.svg().unwrap();
    assert!(svg.contains("&lt; 2.5e-4") || svg.contains("< 2.5e-4"), "open first bin label");
    assert!(svg.contains("Y5R500 [arcmin²]") && svg.contains("≥ 0.016"));
}

#[test]
fn completeness_errors() {
    let (ev, pred, truth) = toy(true);
    let err = ev.plot_completeness("lambda").result().unwrap_err().to_string();
    assert!(err.contains("lambda"), "{err}");
    // No cluster on the patches: every bin is empty.
    let (off, _, _) = toy(false);
    let err = off.plot_completeness("m500").result().unwrap_err().to_string();
    assert!(err.contains("no in-footprint cluster"), "{err}");
    // Only a column the figure knows no unit for: labelled with its name.
    let det = pred.detect(Detection::default()).unwrap();
    let mut other = truth.clone();
    other.with_column(Column::new("name_len".into(), vec![2.0; 10])).unwrap();
    let ev = Evaluator::new().without_bins().bins("name_len", &[0.0, 5.0]).evaluate(&det, &other, &pred).unwrap();
    let fig = ev.plot_completeness("name_len").result().unwrap();
    check_figure(&fig, 5);
    assert!(fig.svg().unwrap().contains("name_len"));
}

/// A curve table: rows out of threshold order; 0.5 and 0.6 give the same point; 0.95 has no
/// purity (no detections).
fn hand_made_curve() -> DataFrame {
    df!(
        "threshold" => [0.9f32, 0.3, 0.7, 0.5, 0.6, 0.95],
        "purity" => [Some(0.95), Some(0.4), Some(0.8), Some(0.6), Some(0.6), None],
        "completeness" => [Some(0.3), Some(0.9), Some(0.6), Some(0.8), Some(0.8), Some(0.0)],
    )
    .unwrap()
}

#[test]
fn purity_completeness_joins_points_in_threshold_order() {
    let curve = hand_made_curve();
    let fig = purity_completeness(&curve).result().unwrap();
    let (w, _) = fig.size();
    let rgb = check_figure(&fig, 10);
    let axes = Axes::find(&rgb, w, 0..w, (0.0, 1.0), (0.0, 1.0));
    // Sorted by threshold: (0.9, 0.4) → (0.8, 0.6) → (0.6, 0.8) → (0.3, 0.95).
    assert!(near(&rgb, w, axes.at(0.8, 0.6), 2, BLUE), "point of 0.5: {axes:?}");
    assert!(near(&rgb, w, axes.at(0.7, 0.7), 2, BLUE), "segment 0.5 → 0.7");
    assert!(near(&rgb, w, axes.at(0.45, 0.875), 2, BLUE), "segment 0.7 → 0.9");
    // In row order the line would run 0.9 → 0.3 through (0.6, 0.675).
    assert!(!near(&rgb, w, axes.at(0.6, 0.675), 5, BLUE), "joined in row order");
    assert!(!near(&rgb, w, axes.at(0.0, 0.0), 5, BLUE), "the row without purity is left out");
    let svg = fig.svg().unwrap();
    // (plotters writes SVG text on a line of its own.)
    assert!(svg.contains("\n0.5, 0.6\n") && svg.contains("\n0.3\n") && !svg.contains("\n0.95\n"), "threshold labels");
    // Errors: a missing column, no row with both numbers.
    let err = purity_completeness(&curve.drop("purity").unwrap()).result().unwrap_err().to_string();
    assert!(err.contains("no column \"purity\""), "{err}");
    let err = purity_completeness(&curve.tail(Some(1))).result().unwrap_err().to_string();
    assert!(err.contains("no threshold has both"), "{err}");
}

#[test]
fn purity_completeness_of_a_real_curve() {
    let (_, pred, truth) = toy(true);
    let curve = Evaluator::new().curve(&pred, Detection::default(), &[0.5, 0.9, 0.995], &truth).unwrap();
    let fig = purity_completeness(&curve).result().unwrap();
    check_figure(&fig, 10);
}

/// Writes the figures under target/tmp/figures for a look by eye (not an assertion).
#[test]
fn write_evaluation_figures_for_inspection() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("figures");
    let (ev, pred, truth) = toy(true);
    let curve = Evaluator::new().curve(&pred, Detection::default(), &[0.3, 0.5, 0.9, 0.995], &truth).unwrap();
    let figures = [
        ev.plot_completeness("m500").result().unwrap(),
        ev.plot_completeness("y5r500_arcmin2").result().unwrap(),
        ev.plot_completeness("z").result().unwrap(),
        purity_completeness(&curve).result().unwrap(),
    ];
    xcluster::plot::save_all(&figures, &dir).unwrap();
    let hand = purity_completeness(&hand_made_curve()).result().unwrap();
    hand.save(dir.join("purity_completeness_hand_made.png")).unwrap();
}
