//! Line charts: generic curves, training histories, runs compared on one column. Points are checked
//! where the axes put them: the axes are found on the pixels (the longest black runs), and the data
//! ranges are known (the data ± 5 %, or [0, 1] for scores).

use polars::prelude::*;

use crate::common::check_figure;
use xcluster::plot::{compare, curves, history, Series};

/// Series colours (matplotlib's tab10, in order) and the best-epoch line's grey.
pub const BLUE: [u8; 3] = [31, 119, 180];
pub const ORANGE: [u8; 3] = [255, 127, 14];
pub const GREEN: [u8; 3] = [44, 160, 44];
const GREY: [u8; 3] = [90, 90, 90];

/// A chart's plotting area in pixels, found from its black axis lines, and its data ranges.
#[derive(Debug, Clone, Copy)]
pub struct Axes {
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub x: (f64, f64),
    pub y: (f64, f64),
    /// Logarithmic x axis.
    pub log_x: bool,
}

impl Axes {
    /// The axes of the chart in columns `cols` of a `w`-wide figure: the y axis is the column with
    /// the longest vertical run of black pixels, the x axis the row with the longest horizontal run.
    pub fn find(rgb: &[u8], w: u32, cols: std::ops::Range<u32>, x: (f64, f64), y: (f64, f64)) -> Axes {
        let h = (rgb.len() / 3) as u32 / w;
        let black = |px: u32, py: u32| {
            let k = 3 * (py * w + px) as usize;
            rgb[k..k + 3] == [0, 0, 0]
        };
        let longest = |cells: &mut dyn Iterator<Item = bool>| {
            let (mut best, mut run, mut end) = (0u32, 0u32, 0u32);
            for (k, b) in cells.enumerate() {
                run = if b { run + 1 } else { 0 };
                if run > best {
                    (best, end) = (run, k as u32);
                }
            }
            (best, end + 1 - best, end)
        };
        let (mut v, mut hz) = ((0, 0, 0, 0), (0, 0, 0, 0));
        for px in cols.clone() {
            let (len, from, to) = longest(&mut (0..h).map(|py| black(px, py)));
            if len > v.0 {
                v = (len, px, from, to);
            }
        }
        for py in 0..h {
            let (len, from, to) = longest(&mut cols.clone().map(|px| black(px, py)));
            if len > hz.0 {
                hz = (len, py, cols.start + from, cols.start + to);
            }
        }
        assert!(v.0 > 100 && hz.0 > 100, "no axes found: vertical {v:?}, horizontal {hz:?}");
        Axes { left: v.1 as f64, right: hz.3 as f64, top: v.2 as f64, bottom: hz.1 as f64, x, y, log_x: false }
    }

    /// Pixel of data point (x, y).
    pub fn at(&self, x: f64, y: f64) -> (u32, u32) {
        let u = if self.log_x {
            (x.ln() - self.x.0.ln()) / (self.x.1.ln() - self.x.0.ln())
        } else {
            (x - self.x.0) / (self.x.1 - self.x.0)
        };
        let v = (y - self.y.0) / (self.y.1 - self.y.0);
        (
            (self.left + u * (self.right - self.left)).round() as u32,
            (self.bottom - v * (self.bottom - self.top)).round() as u32,
        )
    }
}

/// Whether `colour` is within `r` pixels of (x, y).
pub fn near(rgb: &[u8], w: u32, (x, y): (u32, u32), r: u32, colour: [u8; 3]) -> bool {
    let h = (rgb.len() / 3) as u32 / w;
    (y.saturating_sub(r)..=(y + r).min(h - 1)).any(|py| {
        (x.saturating_sub(r)..=(x + r).min(w - 1)).any(|px| {
            let k = 3 * (py * w + px) as usize;
            rgb[k..k + 3] == colour
        })
    })
}

/// `lo..hi` ± 5 %, as the charts pad their data.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
}

/// A 10-epoch history: loss falls, val_loss is lowest at epoch 7, the scores rise.
fn ten_epochs() -> DataFrame {
    let e: Vec<u32> = (1..=10).collect();
    let f = |g: &dyn Fn(f64) -> f64| e.iter().map(|&e| g(e as f64)).collect::<Vec<f64>>();
    df!(
        "epoch" => e.clone(),
        "loss" => f(&|e| 1.0 / e),
        "dice" => f(&|e| 0.08 * e),
        "precision" => f(&|e| 0.09 * e),
        "recall" => f(&|e| 0.07 * e),
        "iou" => f(&|e| 0.05 * e),
        "lr" => f(&|_| 1e-3),
        "val_loss" => f(&|e| 0.3 + 0.01 * (e - 7.0).powi(2)),
        "val_dice" => f(&|e| 0.07 * e),
        "val_precision" => f(&|e| 0.5 + 0.04 * e),
        "val_recall" => f(&|e| 0.06 * e),
        "val_iou" => f(&|e| 0.04 * e),
        "seconds" => f(&|e| 10.0 * e),
    )
    .unwrap()
}

#[test]
fn curves_draw_each_series_where_the_axes_put_it() {
    let series = [
        Series { name: "rising".into(), points: vec![(0.0, 0.0), (5.0, f64::NAN), (10.0, 10.0)] },
        Series { name: "falling".into(), points: vec![(0.0, 10.0), (f64::INFINITY, 3.0), (10.0, 5.0)] },
    ];
    let fig = curves("two lines", ("x", "y"), &series).result().unwrap();
    assert_eq!(fig.size(), (800, 500));
    let rgb = check_figure(&fig, 10);
    let axes = Axes::find(&rgb, 800, 0..800, padded(0.0, 10.0), padded(0.0, 10.0));
    // Rising: through (2.5, 2.5) and (7.5, 7.5); falling through (2.5, 8.75) and (7.5, 6.25). The
    // non-finite points are left out (a NaN or ∞ would wreck the axis ranges).
    assert!(near(&rgb, 800, axes.at(2.5, 2.5), 3, BLUE), "rising line not at (2.5, 2.5): {axes:?}");
    assert!(near(&rgb, 800, axes.at(7.5, 7.5), 3, BLUE), "rising line not at (7.5, 7.5)");
    assert!(!near(&rgb, 800, axes.at(2.5, 8.75), 6, BLUE), "rising line at (2.5, 8.75)");
    assert!(near(&rgb, 800, axes.at(2.5, 8.75), 3, ORANGE), "falling line not at (2.5, 8.75)");
    assert!(near(&rgb, 800, axes.at(7.5, 6.25), 3, ORANGE), "falling line not at (7.5, 6.25)");
    assert!(!near(&rgb, 800, axes.at(7.5, 7.5), 6, ORANGE), "falling line at (7.5, 7.5)");
    // Markers at the four end points, none hidden by the legend (it goes to the empty lower right).
    for (p, c) in [((0.0, 0.0), BLUE), ((10.0, 10.0), BLUE), ((0.0, 10.0), ORANGE), ((10.0, 5.0), ORANGE)] {
        assert!(near(&rgb, 800, axes.at(p.0, p.1), 1, c), "no marker at {p:?}");
    }
    let legend_border = [170, 170, 170];
    assert!(near(&rgb, 800, axes.at(9.0, 1.0), 30, legend_border), "legend in the lower right");
    let svg = fig.svg().unwrap();
    assert!(svg.contains("rising") && svg.contains("falling") && svg.contains("two lines"), "legend and title");
    // Errors: no series, no finite point.
    let err = curves("empty", ("x", "y"), &[]).result().unwrap_err().to_string();
    assert!(err.contains("empty") && err.contains("no series"), "{err}");
    let nan = Series { name: "nan".into(), points: vec![(1.0, f64::NAN), (f64::NAN, 2.0)] };
    let err = curves("nan", ("x", "y"), &[nan]).result().unwrap_err().to_string();
    assert!(err.contains("no finite point"), "{err}");
}

#[test]
fn history_marks_the_best_epoch_where_val_loss_is_lowest() {
    let fig = history(&ten_epochs()).result().unwrap();
    let (w, h) = fig.size();
    assert_eq!((w, h), (1100, 450));
    let rgb = check_figure(&fig, 20);
    // Left panel: loss on the data range; right panel: scores on [0, 1].
    let (vmin, vmax) = (0.3, 0.3 + 0.01 * 36.0);
    let loss = Axes::find(&rgb, w, 0..w / 2, padded(1.0, 10.0), padded(0.1, 1.0f64.max(vmax)));
    let score = Axes::find(&rgb, w, w / 2..w, padded(1.0, 10.0), (0.0, 1.0));
    for axes in [loss, score] {
        // The dashed line: the column with the most grey pixels, at epoch 7.
        let mut counts = vec![0u32; w as usize];
        for py in axes.top as u32..axes.bottom as u32 {
            for px in axes.left as u32 + 1..axes.right as u32 {
                if crate::common::pixel(&rgb, w, px, py) == GREY {
                    counts[px as usize] += 1;
                }
            }
        }
        let column = (0..w as usize).max_by_key(|&k| counts[k]).unwrap() as u32;
        let want = axes.at(7.0, 0.5).0;
        assert!(column.abs_diff(want) <= 2, "best-epoch line at x = {column}, epoch 7 at {want}: {axes:?}");
        assert!(counts[column as usize] as f64 > 0.4 * (axes.bottom - axes.top), "the line spans the panel");
        assert!(near(&rgb, w, axes.at(7.0, axes.y.0 + 0.5 * (axes.y.1 - axes.y.0)), 8, GREY));
    }
    // val_loss (orange) has its lowest point (largest pixel row) at epoch 7, at val_loss 0.3.
    let lowest = (loss.left as u32..loss.right as u32)
        .flat_map(|px| (loss.top as u32..loss.bottom as u32).map(move |py| (px, py)))
        .filter(|&(px, py)| crate::common::pixel(&rgb, w, px, py) == ORANGE)
        .max_by_key(|p| p.1)
        .unwrap();
    let (px, py) = loss.at(7.0, vmin);
    assert!(
        lowest.0.abs_diff(px) <= 4 && lowest.1.abs_diff(py) <= 4,
        "val_loss minimum at {lowest:?}, want ({px}, {py})"
    );
    // Scores on [0, 1]: dice (blue) at epoch 10 is 0.8, val_precision (green) at epoch 10 is 0.9.
    assert!(near(&rgb, w, score.at(10.0, 0.8), 3, BLUE), "dice at (10, 0.8): {score:?}");
    assert!(near(&rgb, w, score.at(10.0, 0.9), 3, GREEN), "val_precision at (10, 0.9)");
    assert!(near(&rgb, w, loss.at(1.0, 1.0), 3, BLUE), "loss at (1, 1): {loss:?}");
    let svg = fig.svg().unwrap();
    for s in ["best epoch 7", "val_loss", "val_dice", "val_precision", "val_recall"] {
        assert!(svg.contains(s), "no {s:?} in the figure");
    }
}

#[test]
fn history_errors_name_the_missing_column() {
    let full = ten_epochs();
    for column in ["epoch", "loss", "val_loss", "dice", "val_dice"] {
        let err = history(&full.drop(column).unwrap()).result().unwrap_err().to_string();
        assert!(err.contains(&format!("no column \"{column}\"")), "{column}: {err}");
    }
    let err = history(&full.head(Some(0))).result().unwrap_err().to_string();
    assert!(err.contains("no rows"), "{err}");
    // A single epoch still draws (its point, in the middle of a unit-wide epoch axis).
    let one = history(&full.head(Some(1))).result().unwrap();
    let rgb = check_figure(&one, 10);
    let axes = Axes::find(&rgb, 1100, 0..550, (0.9, 1.1), padded(0.66, 1.0));
    assert!(near(&rgb, 1100, axes.at(1.0, 1.0), 2, BLUE), "the one loss point: {axes:?}");
    // Without validation precision and recall the right panel shows the dice scores only.
    let fig = history(&full.drop("val_precision").unwrap().drop("val_recall").unwrap()).result().unwrap();
    let rgb = check_figure(&fig, 10);
    assert!(!rgb.chunks(3).any(|p| p == GREEN), "no val_precision line");
    assert!(!fig.svg().unwrap().contains("val_recall"));
}

#[test]
fn compare_draws_one_line_per_run() {
    let run = |v: f64, epochs: u32| {
        df!("epoch" => (1..=epochs).collect::<Vec<u32>>(), "val_dice" => vec![v; epochs as usize]).unwrap()
    };
    let (a, b) = (run(0.8, 6), run(0.2, 4));
    let fig = compare(&[("dice loss", &a), ("focal loss", &b)], "val_dice").result().unwrap();
    let (w, _) = fig.size();
    let rgb = check_figure(&fig, 10);
    let axes = Axes::find(&rgb, w, 0..w, padded(1.0, 6.0), padded(0.2, 0.8));
    assert!(near(&rgb, w, axes.at(5.0, 0.8), 3, BLUE), "first run at 0.8 to epoch 6: {axes:?}");
    assert!(near(&rgb, w, axes.at(3.0, 0.2), 3, ORANGE), "second run at 0.2");
    assert!(!near(&rgb, w, axes.at(5.5, 0.2), 4, ORANGE), "second run stops at epoch 4");
    let svg = fig.svg().unwrap();
    assert!(svg.contains("dice loss") && svg.contains("focal loss"));
    // Errors name the run and the column.
    let no_column = df!("epoch" => [1u32, 2], "loss" => [1.0, 0.5]).unwrap();
    let err = compare(&[("dice loss", &a), ("old", &no_column)], "val_dice").result().unwrap_err().to_string();
    assert!(err.contains("\"old\"") && err.contains("no column \"val_dice\""), "{err}");
    assert!(compare(&[], "val_dice").result().is_err());
}

/// Writes the figures under target/tmp/figures for a look by eye (not an assertion).
#[test]
fn write_curve_figures_for_inspection() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("figures");
    let h = ten_epochs();
    let waves: Vec<Series> = (0..3)
        .map(|k| Series {
            name: format!("wave {k}"),
            points: (0..50).map(|i| (i as f64 * 0.2, (i as f64 * 0.2 + k as f64).sin() * 1e-3)).collect(),
        })
        .collect();
    let figures = [
        history(&h).result().unwrap(),
        compare(&[("dice loss", &h), ("focal loss", &h.head(Some(6)))], "val_loss").result().unwrap(),
        curves("Three waves", ("t [s]", "amplitude"), &waves).result().unwrap(),
        curves(
            "two lines",
            ("x", "y"),
            &[
                Series { name: "rising".into(), points: vec![(0.0, 0.0), (10.0, 10.0)] },
                Series { name: "falling".into(), points: vec![(0.0, 10.0), (10.0, 5.0)] },
            ],
        )
        .result()
        .unwrap(),
    ];
    xcluster::plot::save_all(&figures, &dir).unwrap();
}
