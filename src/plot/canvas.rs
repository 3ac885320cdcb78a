//! Drawing pieces shared by the figures: colour maps and scales, image panels with axes, colour
//! bars, text styles and error conversion.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

use super::FAMILY;

/// Turn a plotters error into [`Error::Plot`] naming the drawing step.
pub(crate) trait OrPlot<T> {
    fn or_plot(self, what: &str) -> Result<T>;
}

impl<T, E: std::fmt::Display> OrPlot<T> for std::result::Result<T, E> {
    fn or_plot(self, what: &str) -> Result<T> {
        self.map_err(|e| Error::plot(what, e))
    }
}

/// Text in the figures' font at `size` px.
pub(crate) fn text(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

/// What an xy chart's grid shows: axis titles, about how many ticks per axis, and the x tick text.
pub(crate) struct Axes<'f> {
    pub x_desc: &'f str,
    pub y_desc: &'f str,
    pub x_labels: usize,
    pub y_labels: usize,
    pub x_format: &'f dyn Fn(&f64) -> String,
}

/// Draw the grid, ticks and axis titles every xy figure shares (light grey lines, 12-px tick labels,
/// 13-px titles; y ticks written by `y_format`), on any f64 x axis, linear or logarithmic.
pub(crate) fn draw_mesh<'a, DB: DrawingBackend + 'a, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    axes: Axes<'_>,
    y_format: &dyn Fn(&f64) -> String,
    what: &str,
) -> Result<()>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .x_labels(axes.x_labels)
        .y_labels(axes.y_labels)
        .x_label_formatter(axes.x_format)
        .y_label_formatter(y_format)
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(RGBColor(245, 245, 245))
        .label_style(text(12))
        .axis_desc_style(text(13))
        .draw()
        .or_plot(what)
}

/// A 2-D chart over f64 axes, as the figures build them.
pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Colour maps for image panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colormap {
    /// matplotlib's perceptually uniform default, dark blue → yellow: maps and probabilities.
    Viridis,
    /// White → black: label masks.
    Greys,
    /// Blue → white → red around the middle of the scale: CMB-dominated bands, normalised patches.
    Coolwarm,
}

/// Anchor colours, evenly spaced in [0, 1]; linear interpolation between them.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];
const GREYS: [(u8, u8, u8); 2] = [(255, 255, 255), (0, 0, 0)];
const COOLWARM: [(u8, u8, u8); 5] = [(59, 76, 192), (141, 176, 254), (221, 221, 221), (244, 154, 123), (180, 4, 38)];

impl Colormap {
    /// The colour at `t` in [0, 1] (clamped).
    pub fn colour(self, t: f64) -> RGBColor {
        let anchors: &[(u8, u8, u8)] = match self {
            Colormap::Viridis => &VIRIDIS,
            Colormap::Greys => &GREYS,
            Colormap::Coolwarm => &COOLWARM,
        };
        let x = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * (anchors.len() - 1) as f64;
        let k = (x.floor() as usize).min(anchors.len() - 2);
        let f = x - k as f64;
        let (a, b) = (anchors[k], anchors[k + 1]);
        let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
        RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}

/// Maps data values linearly onto [0, 1] between `lo` and `hi`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Value drawn with the first colour of the map.
    pub lo: f64,
    /// Value drawn with the last colour of the map.
    pub hi: f64,
}

impl Scale {
    /// The given limits.
    pub fn new(lo: f64, hi: f64) -> Self {
        Scale { lo, hi }
    }

    /// Limits at the 0.5 and 99.5 percentiles of the finite values, so that a few bright point
    /// sources or the Galactic centre do not wash out the rest of a map.
    pub fn robust(values: &[f32]) -> Self {
        let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Scale::new(0.0, 1.0);
        }
        let at = |q: f64, v: &mut Vec<f32>| {
            let k = ((v.len() - 1) as f64 * q).round() as usize;
            *v.select_nth_unstable_by(k, f32::total_cmp).1 as f64
        };
        let (lo, hi) = (at(0.005, &mut v), at(0.995, &mut v));
        if hi > lo {
            Scale::new(lo, hi)
        } else {
            Scale::new(lo - 0.5, lo + 0.5)
        }
    }

    /// Where `v` falls, 0 at `lo` and 1 at `hi` (not clamped).
    pub fn t(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo)
    }
}

/// Grey for pixels with no data (NaN, outside the sky).
pub(crate) const NO_DATA: RGBColor = RGBColor(235, 235, 235);

/// An image: `ny` rows of `nx` values, row 0 drawn at the top, over `extent` = (x0, x1, y0, y1)
/// in axis units (x0 at the left, y1 at the top).
pub(crate) struct Image<'a> {
    pub values: &'a [f32],
    pub nx: usize,
    pub ny: usize,
    pub extent: (f64, f64, f64, f64),
    pub scale: Scale,
    pub cmap: Colormap,
}

impl Image<'_> {
    /// RGB pixels of the image resampled (nearest value) to `w` × `h`.
    pub fn resample(&self, w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity((w * h * 3) as usize);
        for py in 0..h as usize {
            let iy = (py * self.ny / h as usize).min(self.ny - 1);
            for px in 0..w as usize {
                let ix = (px * self.nx / w as usize).min(self.nx - 1);
                let v = self.values[iy * self.nx + ix];
                let c = if v.is_finite() { self.cmap.colour(self.scale.t(v as f64)) } else { NO_DATA };
                out.extend_from_slice(&[c.0, c.1, c.2]);
            }
        }
        out
    }
}

/// Draw `image` as a chart with a caption and labelled axes on `area`; the chart is returned so
/// that markers can be drawn over the image in axis units.
pub(crate) fn image_panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    (xlabel, ylabel): (&str, &str),
    image: &Image,
) -> Result<Chart<'a, DB>> {
    let (x0, x1, y0, y1) = image.extent;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, text(15))
        .margin(6)
        .x_label_area_size(if xlabel.is_empty() { 18 } else { 34 })
        .y_label_area_size(if ylabel.is_empty() { 30 } else { 46 })
        .build_cartesian_2d(x0..x1, y0..y1)
        .or_plot(caption)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(xlabel)
        .y_desc(ylabel)
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .label_style(text(11))
        .axis_desc_style(text(12))
        .draw()
        .or_plot(caption)?;
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (w, h) = ((xr.end - xr.start).max(1) as u32, (yr.end - yr.start).max(1) as u32);
    let pixels = image.resample(w, h);
    let element = BitMapElement::with_owned_buffer((x0, y1), (w, h), pixels)
        .ok_or_else(|| Error::plot(caption, "image buffer size mismatch"))?;
    chart.plotting_area().draw(&element).or_plot(caption)?;
    Ok(chart)
}

/// A horizontal colour bar for `scale` and `cmap`, with its end values and `label` (units).
pub(crate) fn colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    scale: Scale,
    cmap: Colormap,
    label: &str,
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .margin_left(60)
        .margin_right(60)
        .margin_top(2)
        .x_label_area_size(30)
        .build_cartesian_2d(scale.lo..scale.hi, 0.0..1.0)
        .or_plot("colour bar")?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_labels((area.dim_in_pixel().0 / 110).clamp(2, 7) as usize)
        .x_label_formatter(&|v| short(*v))
        .x_desc(label)
        .label_style(text(11))
        .axis_desc_style(text(12))
        .draw()
        .or_plot("colour bar")?;
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (w, h) = ((xr.end - xr.start).max(1) as u32, (yr.end - yr.start).max(1) as u32);
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for _ in 0..h {
        for px in 0..w {
            let c = cmap.colour(px as f64 / (w - 1).max(1) as f64);
            pixels.extend_from_slice(&[c.0, c.1, c.2]);
        }
    }
    let element = BitMapElement::with_owned_buffer((scale.lo, 1.0), (w, h), pixels)
        .ok_or_else(|| Error::plot("colour bar", "image buffer size mismatch"))?;
    chart.plotting_area().draw(&element).or_plot("colour bar")?;
    Ok(())
}

/// A compact number for tick labels and titles: 3 significant digits, scientific when tiny or huge.
pub(crate) fn short(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.2e}")
    } else {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 5) as usize;
        format!("{v:.decimals$}")
    }
}
