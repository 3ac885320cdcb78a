//! Line charts: training curves from a history DataFrame, and runs compared on one metric.
//!
//! The figures own their data: columns are read and checked when the figure is made, so a missing
//! column is an error then, not when the figure is shown.

use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::{DataFrame, DataType};

use crate::error::{Error, Result};
use crate::train::Trained;

use super::canvas::{draw_mesh, short, text, Axes, OrPlot};
use super::{Drawing, Figure};

/// One line of a chart: its legend name and (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// The colour of the `i`-th series: matplotlib's ten "tab" colours, then plotters' `Palette99`.
pub(super) fn series_colour(i: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = if i < TAB10.len() { TAB10[i] } else { Palette99::pick(i).rgb() };
    RGBColor(r, g, b)
}

/// Colour of the best-epoch marker line.
pub(super) const BEST: RGBColor = RGBColor(90, 90, 90);

/// A tick label: [`short`] without trailing zeros (`0.5`, not `0.500`; `2.5e-4`, not `2.50e-4`).
pub(super) fn tick(v: f64) -> String {
    let s = short(v);
    let (mantissa, exponent) = s.split_once('e').map_or((s.as_str(), None), |(m, e)| (m, Some(e)));
    let mantissa = if mantissa.contains('.') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
    match exponent {
        Some(e) => format!("{mantissa}e{e}"),
        None => mantissa.to_string(),
    }
}

/// Column `name` of `df` as f64 (nulls become NaN); the error names the figure, the column and the
/// columns there are.
pub(super) fn column(df: &DataFrame, name: &str, figure: &str) -> Result<Vec<f64>> {
    let col = df.column(name).map_err(|_| {
        let have: Vec<&str> = df.get_column_names().iter().map(|c| c.as_str()).collect();
        Error::plot(figure, format!("the table has no column {name:?} (it has {})", have.join(", ")))
    })?;
    let values = col
        .cast(&DataType::Float64)
        .map_err(|e| Error::plot(figure, format!("column {name:?} is not numeric: {e}")))?;
    Ok(values.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// `lo..hi` widened by 5 % on each side (or by a unit around a single value).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let d = 0.05 * (hi - lo);
        (lo - d, hi + d)
    } else {
        let d = if lo == 0.0 { 0.5 } else { 0.1 * lo.abs() };
        (lo - d, hi + d)
    }
}

/// Smallest and largest of `values` (finite ones only); `None` when there are none.
fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// One drawn line: legend name, colour, stroke width and finite points.
struct Line {
    name: String,
    colour: RGBColor,
    width: u32,
    points: Vec<(f64, f64)>,
}

impl Line {
    /// `points` without the non-finite ones; a line left with none says so in its legend entry.
    fn new(name: &str, colour: RGBColor, width: u32, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let points: Vec<(f64, f64)> = points.into_iter().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
        let name = if points.is_empty() { format!("{name} (no finite values)") } else { name.to_string() };
        Line { name, colour, width, points }
    }
}

/// One chart: lines over padded data ranges (or a fixed y range), an optional best-epoch marker.
struct Panel {
    title: String,
    xlabel: String,
    ylabel: String,
    lines: Vec<Line>,
    x: (f64, f64),
    y: (f64, f64),
    /// Ticks only at whole numbers (epochs).
    integer_x: bool,
    /// x of a vertical dashed line and its legend entry.
    marker: Option<(f64, String)>,
}

impl Panel {
    /// Error (naming `title`) when there are no lines or no finite point at all.
    fn new(title: &str, (xlabel, ylabel): (&str, &str), lines: Vec<Line>, y: Option<(f64, f64)>) -> Result<Self> {
        if lines.is_empty() {
            return Err(Error::plot(title, "no series to draw: give at least one"));
        }
        let all = || lines.iter().flat_map(|l| l.points.iter());
        let (Some((x0, x1)), Some((y0, y1))) = (extent(all().map(|p| p.0)), extent(all().map(|p| p.1))) else {
            let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
            return Err(Error::plot(title, format!("no finite point in any series ({})", names.join(", "))));
        };
        Ok(Panel {
            title: title.to_string(),
            xlabel: xlabel.to_string(),
            ylabel: ylabel.to_string(),
            x: padded(x0, x1),
            y: y.unwrap_or_else(|| padded(y0, y1)),
            lines,
            integer_x: false,
            marker: None,
        })
    }

    /// The legend goes in the corner where it hides the least of the lines (points and the lines
    /// between them, sampled), trying upper right, upper left, lower right, lower left in turn.
    /// `plot` is the plotting area's size in pixels, roughly.
    fn legend_corner(&self, plot: (f64, f64)) -> SeriesLabelPosition {
        let (x0, x1, y0, y1) = (self.x.0, self.x.1, self.y.0, self.y.1);
        let entries = self.lines.len() + self.marker.is_some() as usize;
        let chars =
            self.lines.iter().map(|l| l.name.chars().count()).chain(self.marker.iter().map(|m| m.1.chars().count()));
        let (bw, bh) =
            ((chars.max().unwrap_or(0) as f64 * 7.0 + 58.0) / plot.0, (entries as f64 * 17.0 + 22.0) / plot.1);
        let mut samples: Vec<(f64, f64)> = Vec::new();
        for line in &self.lines {
            let uv = |(x, y): (f64, f64)| ((x - x0) / (x1 - x0), (y - y0) / (y1 - y0));
            samples.extend(line.points.iter().map(|&p| uv(p)));
            for w in line.points.windows(2) {
                let ((ua, va), (ub, vb)) = (uv(w[0]), uv(w[1]));
                samples.extend((1..8).map(|k| (ua + (ub - ua) * k as f64 / 8.0, va + (vb - va) * k as f64 / 8.0)));
            }
        }
        let hidden = |right: bool, top: bool| {
            let inside = |&&(u, v): &&(f64, f64)| {
                (if right { u > 1.0 - bw } else { u < bw }) && (if top { v > 1.0 - bh } else { v < bh })
            };
            samples.iter().filter(inside).count()
        };
        let corners = [
            (hidden(true, true), SeriesLabelPosition::UpperRight),
            (hidden(false, true), SeriesLabelPosition::UpperLeft),
            (hidden(true, false), SeriesLabelPosition::LowerRight),
            (hidden(false, false), SeriesLabelPosition::LowerLeft),
        ];
        corners.into_iter().min_by_key(|c| c.0).map_or(SeriesLabelPosition::UpperRight, |c| c.1)
    }

    fn draw_on<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let t = self.title.as_str();
        let (w, h) = area.dim_in_pixel();
        let mut chart = ChartBuilder::on(area)
            .caption(t, text(16))
            .margin(10)
            .margin_right(20)
            .x_label_area_size(42)
            .y_label_area_size(62)
            .build_cartesian_2d(self.x.0..self.x.1, self.y.0..self.y.1)
            .or_plot(t)?;
        let integer_x = self.integer_x;
        let x_format = move |v: &f64| {
            if integer_x && (v - v.round()).abs() > 1e-9 {
                String::new()
            } else {
                tick(*v)
            }
        };
        let x_labels =
            if integer_x { ((self.x.1.floor() - self.x.0.ceil()).max(0.0) as usize + 1).clamp(2, 10) } else { 8 };
        let axes = Axes { x_desc: &self.xlabel, y_desc: &self.ylabel, x_labels, y_labels: 6, x_format: &x_format };
        draw_mesh(&mut chart, axes, &|v| tick(*v), t)?;
        if let Some((x, label)) = &self.marker {
            let style = BEST.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(vec![(*x, self.y.0), (*x, self.y.1)], 8, 5, style))
                .or_plot(t)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y), (x + 12, y), (x + 20, y)], style));
        }
        for line in &self.lines {
            let style = line.colour.filled().stroke_width(line.width);
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style).point_size(line.width + 1))
                .or_plot(t)?
                .label(line.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .configure_series_labels()
            .position(self.legend_corner((w as f64 - 92.0, h as f64 - 90.0)))
            .margin(8)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(170, 170, 170))
            .label_font(text(12))
            .draw()
            .or_plot(t)?;
        Ok(())
    }
}

/// Panels side by side.
struct Panels(Vec<Panel>);

impl Drawing for Panels {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let areas = root.split_evenly((1, self.0.len().max(1)));
        for (panel, area) in self.0.iter().zip(&areas) {
            panel.draw_on(area)?;
        }
        Ok(())
    }
}

/// A file-name friendly version of `title` (letters, digits and `_`).
fn slug(title: &str) -> String {
    let s: String =
        title.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    let s = s.split('_').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("_");
    if s.is_empty() {
        "curves".into()
    } else {
        s
    }
}

/// A line chart of `series` titled `title` with axis labels `(x, y)`: lines with small point markers,
/// a legend, axes spanning the data with a little padding. Non-finite points are left out. Error
/// when there is no series or no finite point.
pub fn curves(title: &str, labels: (&str, &str), series: &[Series]) -> Figure {
    Figure::or_failed(
        "curves",
        (|| -> Result<Figure> {
            let lines = series
                .iter()
                .enumerate()
                .map(|(k, s)| Line::new(&s.name, series_colour(k), 2, s.points.iter().copied()));
            let panel = Panel::new(title, labels, lines.collect(), None)?;
            Ok(Figure::new(slug(title), (800, 500), Panels(vec![panel])))
        })(),
    )
}

/// Training curves of a history DataFrame ([`Trained::history`]), two panels side by side: `loss`
/// and `val_loss` by epoch; `dice` and `val_dice` (and `val_precision`, `val_recall` when present)
/// by epoch on [0, 1]. A dashed line marks the best epoch (lowest `val_loss`). Error naming the
/// column when `epoch`, `loss`, `val_loss`, `dice` or `val_dice` is missing, or when there are no rows.
pub fn history(history: &DataFrame) -> Figure {
    Figure::or_failed(
        "history",
        (|| -> Result<Figure> {
            let what = "history";
            let get = |name: &str| column(history, name, what);
            let (epoch, loss, val_loss, dice, val_dice) =
                (get("epoch")?, get("loss")?, get("val_loss")?, get("dice")?, get("val_dice")?);
            let optional = |name: &str| history.column(name).is_ok().then(|| get(name)).transpose();
            let (precision, recall) = (optional("val_precision")?, optional("val_recall")?);
            if epoch.is_empty() {
                return Err(Error::plot(what, "the history has no rows (no epoch finished)"));
            }
            let by_epoch = |ys: &[f64]| epoch.iter().copied().zip(ys.iter().copied()).collect::<Vec<_>>();
            let best = epoch
                .iter()
                .zip(&val_loss)
                .filter(|(e, v)| e.is_finite() && v.is_finite())
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(&e, &v)| (e, v));

            let title = match best {
                Some((e, v)) => format!("loss (best val_loss {} at epoch {})", short(v), tick(e)),
                None => "loss".to_string(),
            };
            let lines = vec![
                Line::new("loss", series_colour(0), 2, by_epoch(&loss)),
                Line::new("val_loss", series_colour(1), 2, by_epoch(&val_loss)),
            ];
            let mut left = Panel::new(&title, ("epoch", "loss"), lines, None)?;

            let mut lines = vec![
                Line::new("dice", series_colour(0), 2, by_epoch(&dice)),
                Line::new("val_dice", series_colour(1), 2, by_epoch(&val_dice)),
            ];
            if let Some(p) = &precision {
                lines.push(Line::new("val_precision", series_colour(2), 1, by_epoch(p)));
            }
            if let Some(r) = &recall {
                lines.push(Line::new("val_recall", series_colour(3), 1, by_epoch(r)));
            }
            let title = if precision.is_some() || recall.is_some() { "dice, precision, recall" } else { "dice" };
            let mut right = Panel::new(title, ("epoch", "score"), lines, Some((0.0, 1.0)))?;

            for panel in [&mut left, &mut right] {
                panel.integer_x = true;
                panel.marker = best.map(|(e, _)| (e, format!("best epoch {}", tick(e))));
            }
            Ok(Figure::new("history", (1100, 450), Panels(vec![left, right])))
        })(),
    )
}

/// Column `column` (e.g. `val_dice`) of several histories, one line per (name, history), by epoch.
/// Error when `histories` is empty or a history lacks `epoch` or `column` (naming the run).
pub fn compare(histories: &[(&str, &DataFrame)], column: &str) -> Figure {
    Figure::or_failed(
        "compare",
        (|| -> Result<Figure> {
            let title = format!("{column} by epoch");
            if histories.is_empty() {
                return Err(Error::plot(&title, "no histories to compare: give at least one (name, history)"));
            }
            let lines = histories
                .iter()
                .enumerate()
                .map(|(k, (name, df))| {
                    let what = format!("{title}, run {name:?}");
                    let (x, y) = (self::column(df, "epoch", &what)?, self::column(df, column, &what)?);
                    Ok(Line::new(name, series_colour(k), 2, x.into_iter().zip(y)))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut panel = Panel::new(&title, ("epoch", column), lines, None)?;
            panel.integer_x = true;
            Ok(Figure::new(format!("compare_{}", slug(column)), (800, 500), Panels(vec![panel])))
        })(),
    )
}

impl Trained {
    /// The training curves of this network ([`history`]).
    pub fn plot(&self) -> Figure {
        history(self.history())
    }
}
