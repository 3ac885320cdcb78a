//! Evaluation figures: completeness in bins of a truth column, the purity–completeness curve.
//!
//! Both figures read their table when made (missing columns and empty tables are errors then) and
//! own the numbers they draw.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::evaluate::Evaluation;

use super::canvas::{draw_mesh, text, Axes, OrPlot};
use super::curves::{column, series_colour, tick};
use super::{Drawing, Figure};

/// Fill and outline of the completeness bars, colour of the all-bins line.
const BAR_FILL: RGBColor = RGBColor(158, 202, 225);
const BAR_EDGE: RGBColor = RGBColor(31, 119, 180);
const ALL_BINS: RGBColor = RGBColor(214, 39, 40);

/// The x-axis label of truth column `column`, with its unit.
fn axis_label(column: &str) -> String {
    match column {
        "m500" => "M500 [10¹⁴ M☉]",
        "y5r500_arcmin2" => "Y5R500 [arcmin²]",
        "z" => "redshift z",
        other => other,
    }
    .to_string()
}

/// One bin as drawn: its extent on the axis (open ends closed at a made-up edge, and then
/// labelled), the counts and the completeness (`None` for an empty bin).
struct Bin {
    lo: f64,
    hi: f64,
    n: u32,
    completeness: Option<f64>,
    /// "≥ 12" or "< 2.5e-4" for a bin whose table edge is open (infinite, or 0 on a log axis).
    open: Option<String>,
}

/// Completeness per bin with binomial errors and counts.
struct Completeness {
    title: String,
    xlabel: String,
    bins: Vec<Bin>,
    log: bool,
    x: (f64, f64),
    /// x ticks: the table's (finite) bin edges, when there are few enough to label them all.
    ticks: Vec<f64>,
    /// found, n over all bins.
    all: (u32, u32),
}

impl Evaluation {
    /// Completeness in the bins of truth column `column` (`m500`, `y5r500_arcmin2` or `z` by
    /// default; see [`Evaluation::completeness_by`]) as bars with binomial errors √(c(1−c)/n),
    /// the number of clusters written above each bin, and the completeness over all bins as a
    /// dashed line; the key sits under the title. The x axis is labelled with the column's unit and
    /// ticked at the bin edges, y spans [0, 1.05].
    ///
    /// Empty bins at either end are left out (an empty bin in between shows its count, 0, and no
    /// bar); an open last bin (up to ∞) is drawn as wide as its neighbour and labelled "≥ lo". The x
    /// axis is logarithmic when the bin edges are ≥ 0 and the positive ones span more than a factor
    /// 20 (a first bin from 0 is then drawn as wide as its neighbour and labelled "< hi").
    /// Error if `column` was not binned or no cluster falls in a bin.
    pub fn plot_completeness(&self, column: &str) -> Figure {
        Figure::or_failed(
            "plot_completeness",
            (|| -> Result<Figure> {
                let df = self.completeness_by(column)?;
                let what = format!("completeness_{column}");
                let get = |name: &str| self::column(df, name, &what);
                let (lo, hi, n, found, c) =
                    (get("bin_lo")?, get("bin_hi")?, get("n")?, get("found")?, get("completeness")?);
                let count = |v: f64| if v.is_finite() && v > 0.0 { v.round() as u32 } else { 0 };
                let total = (found.iter().map(|&v| count(v)).sum::<u32>(), n.iter().map(|&v| count(v)).sum::<u32>());
                let (Some(first), Some(last)) =
                    (n.iter().position(|&v| count(v) > 0), n.iter().rposition(|&v| count(v) > 0))
                else {
                    return Err(Error::plot(
                        &what,
                        format!("no in-footprint cluster falls in a bin of {column}: there is nothing to plot"),
                    ));
                };
                let keep = first..last + 1;
                let (lo, hi) = (&lo[keep.clone()], &hi[keep.clone()]);

                // Log axis when every finite edge is ≥ 0 (a first bin may start at 0), the lower edges are
                // not −∞, and the positive edges span more than a factor 20.
                let finite: Vec<f64> = lo.iter().chain(hi).copied().filter(|e| e.is_finite()).collect();
                let smallest = finite.iter().copied().filter(|&e| e > 0.0).fold(f64::INFINITY, f64::min);
                let largest = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let log = finite.iter().all(|&e| e >= 0.0)
                    && lo.iter().all(|e| *e != f64::NEG_INFINITY)
                    && smallest.is_finite()
                    && largest / smallest > 20.0;

                // Width (a difference, or a ratio on a log axis) of each bin with both edges drawable.
                let closed = |k: usize| lo[k].is_finite() && hi[k].is_finite() && (!log || lo[k] > 0.0);
                let widths: Vec<Option<f64>> =
                    (0..lo.len()).map(|k| closed(k).then(|| if log { hi[k] / lo[k] } else { hi[k] - lo[k] })).collect();
                let default_width = if log {
                    2.0
                } else if largest.is_finite() {
                    largest.abs().max(1.0)
                } else {
                    1.0
                };
                let nearest_width = |k: usize| {
                    (1..lo.len())
                        .flat_map(|d| [k.checked_sub(d), Some(k + d)])
                        .flatten()
                        .find_map(|j| widths.get(j).copied().flatten())
                };
                let grow = |e: f64, w: f64| if log { e * w } else { e + w };
                let shrink = |e: f64, w: f64| if log { e / w } else { e - w };
                let bins = (0..lo.len())
                    .map(|k| {
                        let w = nearest_width(k).unwrap_or(default_width);
                        let lo_ok = lo[k].is_finite() && (!log || lo[k] > 0.0);
                        let hi_ok = hi[k].is_finite();
                        let ((a, b), open) = match (lo_ok, hi_ok) {
                            (true, true) => ((lo[k], hi[k]), None),
                            (true, false) => ((lo[k], grow(lo[k], w)), Some(format!("≥ {}", tick(lo[k])))),
                            (false, true) => ((shrink(hi[k], w), hi[k]), Some(format!("< {}", tick(hi[k])))),
                            (false, false) => (
                                (if log { 1.0 } else { 0.0 }, grow(if log { 1.0 } else { 0.0 }, w)),
                                Some("all".into()),
                            ),
                        };
                        let j = first + k;
                        Bin { lo: a, hi: b, n: count(n[j]), completeness: c[j].is_finite().then_some(c[j]), open }
                    })
                    .collect::<Vec<_>>();
                let (x0, x1) = (bins[0].lo, bins[bins.len() - 1].hi);
                let x = if log {
                    let f = (x1 / x0).powf(0.02);
                    (x0 / f, x1 * f)
                } else {
                    let d = 0.02 * (x1 - x0);
                    (x0 - d, x1 + d)
                };
                // Ticks at the table's edges of the drawn bins (not at the made-up ends of open bins).
                let mut ticks: Vec<f64> = Vec::new();
                for (k, b) in bins.iter().enumerate() {
                    for e in [lo[k], hi[k]] {
                        if (e == b.lo || e == b.hi) && ticks.last() != Some(&e) {
                            ticks.push(e);
                        }
                    }
                }
                if ticks.len() < 2 || ticks.len() > 14 {
                    ticks.clear();
                }
                let fig = Completeness {
                    title: format!("Completeness in bins of {column}: {} of {} clusters found", total.0, total.1),
                    xlabel: axis_label(column),
                    bins,
                    log,
                    x,
                    ticks,
                    all: total,
                };
                Ok(Figure::new(what, (800, 500), fig))
            })(),
        )
    }
}

impl Completeness {
    /// Where a bin's error bar and count go: its middle (geometric on a log axis).
    fn centre(&self, b: &Bin) -> f64 {
        if self.log {
            (b.lo * b.hi).sqrt()
        } else {
            0.5 * (b.lo + b.hi)
        }
    }

    /// The title and, under it, the key (kept off the bars, which may reach 1 anywhere).
    fn key<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let t = self.title.as_str();
        let (w, _) = area.dim_in_pixel();
        let title = text(16).pos(Pos::new(HPos::Center, VPos::Top));
        area.draw(&Text::new(t, (w as i32 / 2, 8), title)).or_plot(t)?;
        let (found, n) = self.all;
        let bars = "completeness per bin ± binomial error; numbers: clusters per bin";
        let all =
            format!("all bins: {found} of {n} = {}", if n > 0 { tick(found as f64 / n as f64) } else { "–".into() });
        let width = |s: &str| area.estimate_text_size(s, &text(12)).map(|(w, _)| w as i32).or_plot(t);
        let (wb, wa) = (width(bars)?, width(&all)?);
        // [swatch 22] 6 [bars] 24 [line 22] 6 [all], centred.
        let mut x = (w as i32 - (22 + 6 + wb + 24 + 22 + 6 + wa)) / 2;
        let (y, label) = (42, text(12).pos(Pos::new(HPos::Left, VPos::Center)));
        area.draw(&Rectangle::new([(x, y - 6), (x + 22, y + 6)], BAR_FILL.filled())).or_plot(t)?;
        area.draw(&PathElement::new(
            vec![(x, y + 6), (x, y - 6), (x + 22, y - 6), (x + 22, y + 6)],
            BAR_EDGE.stroke_width(2),
        ))
        .or_plot(t)?;
        area.draw(&Text::new(bars, (x + 28, y), label.clone())).or_plot(t)?;
        x += 22 + 6 + wb + 24;
        for (a, b) in [(0, 8), (13, 22)] {
            area.draw(&PathElement::new(vec![(x + a, y), (x + b, y)], ALL_BINS.stroke_width(2))).or_plot(t)?;
        }
        area.draw(&Text::new(all, (x + 28, y), label)).or_plot(t)?;
        Ok(())
    }

    /// The top of a bin's error bar (or bar), where its count is written.
    fn count_y(&self, b: &Bin) -> f64 {
        b.completeness.map_or(0.0, |c| (c + (c * (1.0 - c) / b.n.max(1) as f64).sqrt()).min(1.0))
    }

    fn draw_chart<'a, DB: DrawingBackend + 'a, X>(
        &self,
        mut chart: ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    ) -> Result<()>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let t = self.title.as_str();
        let axes = Axes {
            x_desc: &self.xlabel,
            y_desc: "completeness (found / in footprint)",
            x_labels: 10,
            y_labels: 8,
            x_format: &|v| tick(*v),
        };
        draw_mesh(&mut chart, axes, &|v| tick(*v), t)?;
        let filled: Vec<(&Bin, f64)> = self.bins.iter().filter_map(|b| b.completeness.map(|c| (b, c))).collect();
        chart
            .draw_series(filled.iter().map(|&(b, c)| Rectangle::new([(b.lo, 0.0), (b.hi, c)], BAR_FILL.filled())))
            .or_plot(t)?;
        let edge = BAR_EDGE.stroke_width(2);
        chart
            .draw_series(
                filled
                    .iter()
                    .map(|&(b, c)| PathElement::new(vec![(b.lo, 0.0), (b.lo, c), (b.hi, c), (b.hi, 0.0)], edge)),
            )
            .or_plot(t)?;
        // Binomial errors, with 8-px caps.
        let bar = BLACK.stroke_width(1);
        for &(b, c) in &filled {
            let e = (c * (1.0 - c) / b.n.max(1) as f64).sqrt();
            if e > 0.0 {
                let (x, lo, hi) = (self.centre(b), (c - e).max(0.0), (c + e).min(1.0));
                let cap = |y: f64| EmptyElement::at((x, y)) + PathElement::new(vec![(-4, 0), (4, 0)], bar);
                chart.draw_series(std::iter::once(PathElement::new(vec![(x, lo), (x, hi)], bar))).or_plot(t)?;
                chart.draw_series([cap(lo), cap(hi)]).or_plot(t)?;
            }
        }
        // Counts above each bin (above its error bar), open-edge labels at the bottom of the bar.
        let above = text(12).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(self.bins.iter().map(|b| {
                EmptyElement::at((self.centre(b), self.count_y(b))) + Text::new(b.n.to_string(), (0, -3), above.clone())
            }))
            .or_plot(t)?;
        // Open-edge labels: inside a tall enough bar, else above the count.
        let small = text(11).pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .draw_series(self.bins.iter().filter_map(|b| {
                let label = b.open.clone()?;
                let c = b.completeness.unwrap_or(0.0);
                let (y, dy) = if c >= 0.3 { (0.5 * c, 0) } else { (self.count_y(b), -24) };
                Some(EmptyElement::at((self.centre(b), y)) + Text::new(label, (0, dy), small.clone()))
            }))
            .or_plot(t)?;
        let (found, n) = self.all;
        if n > 0 {
            let all = found as f64 / n as f64;
            let style = ALL_BINS.stroke_width(2);
            chart.draw_series(DashedLineSeries::new(vec![(self.x.0, all), (self.x.1, all)], 8, 5, style)).or_plot(t)?;
        }
        Ok(())
    }
}

impl Drawing for Completeness {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let t = self.title.as_str();
        let (header, body) = root.split_vertically(58);
        self.key(&header)?;
        let mut builder = ChartBuilder::on(&body);
        builder.margin(12).margin_top(6).margin_right(24).x_label_area_size(46).y_label_area_size(62);
        let (x0, x1) = self.x;
        let y = 0.0..1.05;
        match (self.log, self.ticks.is_empty()) {
            (true, true) => self.draw_chart(builder.build_cartesian_2d((x0..x1).log_scale(), y).or_plot(t)?),
            (true, false) => {
                let x = Ticked { inner: LogCoord::from((x0..x1).log_scale()), ticks: self.ticks.clone() };
                self.draw_chart(builder.build_cartesian_2d(x, y).or_plot(t)?)
            }
            (false, true) => self.draw_chart(builder.build_cartesian_2d(x0..x1, y).or_plot(t)?),
            (false, false) => {
                let x = Ticked { inner: RangedCoordf64::from(x0..x1), ticks: self.ticks.clone() };
                self.draw_chart(builder.build_cartesian_2d(x, y).or_plot(t)?)
            }
        }
    }
}

/// An axis `inner` with its tick marks and grid lines at `ticks` only (plotters' `WithKeyPoints`
/// cannot be formatted on a linear f64 axis).
struct Ticked<R> {
    inner: R,
    ticks: Vec<f64>,
}

impl<R: Ranged<ValueType = f64>> Ranged for Ticked<R> {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Purity against completeness, one point per threshold joined in threshold order.
struct PurityCompleteness {
    /// (completeness, purity) in threshold order.
    points: Vec<(f64, f64)>,
    /// Each distinct point with the thresholds that give it.
    labels: Vec<((f64, f64), String)>,
}

/// The purity–completeness curve of [`Evaluator::curve`](crate::evaluate::Evaluator::curve)'s table:
/// completeness (x) against purity (y), both on [0, 1], the points joined in threshold order and
/// labelled with their threshold (thresholds giving the same point share one label). Rows with a
/// null purity or completeness are left out. Error naming the column when `threshold`, `purity` or
/// `completeness` is missing, or when no row has both values.
pub fn purity_completeness(curve: &DataFrame) -> Figure {
    Figure::or_failed(
        "purity_completeness",
        (|| -> Result<Figure> {
            let what = "purity_completeness";
            let (threshold, purity, completeness) = (
                column(curve, "threshold", what)?,
                column(curve, "purity", what)?,
                column(curve, "completeness", what)?,
            );
            let mut rows: Vec<(f64, f64, f64)> = threshold
                .into_iter()
                .zip(completeness)
                .zip(purity)
                .map(|((t, c), p)| (t, c, p))
                .filter(|&(_, c, p)| c.is_finite() && p.is_finite())
                .collect();
            if rows.is_empty() {
                return Err(Error::plot(
                    what,
                    "no threshold has both a purity and a completeness (no detections, or no cluster in the footprint)",
                ));
            }
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut labels: Vec<((f64, f64), String)> = Vec::new();
            for &(t, c, p) in &rows {
                match labels.iter_mut().find(|(q, _)| *q == (c, p)) {
                    Some((_, label)) => *label = format!("{label}, {}", tick(t)),
                    None => labels.push(((c, p), tick(t))),
                }
            }
            let points = rows.iter().map(|&(_, c, p)| (c, p)).collect();
            Ok(Figure::new(what, (640, 600), PurityCompleteness { points, labels }))
        })(),
    )
}

impl Drawing for PurityCompleteness {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let t = "purity vs completeness by detection threshold";
        let mut chart = ChartBuilder::on(root)
            .caption(t, text(16))
            .margin(14)
            .margin_right(24)
            .x_label_area_size(46)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .or_plot(t)?;
        let axes = Axes {
            x_desc: "completeness (found / in footprint)",
            y_desc: "purity (true / detections)",
            x_labels: 11,
            y_labels: 11,
            x_format: &|v| tick(*v),
        };
        draw_mesh(&mut chart, axes, &|v| tick(*v), t)?;
        let style = series_colour(0).filled().stroke_width(2);
        chart.draw_series(LineSeries::new(self.points.iter().copied(), style).point_size(4)).or_plot(t)?;
        // Labels right of and above each point; left of it near the right edge, below it near the top.
        chart
            .draw_series(self.labels.iter().map(|&((c, p), ref label)| {
                let (h, dx) = if c > 0.8 { (HPos::Right, -7) } else { (HPos::Left, 7) };
                let (v, dy) = if p > 0.93 { (VPos::Top, 7) } else { (VPos::Bottom, -7) };
                EmptyElement::at((c, p)) + Text::new(label.clone(), (dx, dy), text(12).pos(Pos::new(h, v)))
            }))
            .or_plot(t)?;
        Ok(())
    }
}
