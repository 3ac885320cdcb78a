//! Patch figures: patches per band with their label masks, pixel distributions per band.
//!
//! Patch images are drawn as the sky is seen from inside the sphere: rows grow upwards (pixel row
//! `i` grows with latitude, see [`Gnomonic`](crate::patches::Gnomonic)) and columns to the right
//! (against longitude), so an unrotated patch shows north up and east to the left. The axes are the
//! offsets from the patch centre in arcmin along the patch's columns (Δx) and rows (Δy); a rotated or
//! flipped patch (training augmentation) says so in its row label.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::patches::{Frame, PatchInfo, Patches};
use crate::sky::Band;

use super::canvas::{image_panel, short, text, Colormap, Image, OrPlot, Scale};
use super::{Drawing, Figure};

/// Unit of a band's maps.
pub(super) fn band_unit(band: Band) -> &'static str {
    match band {
        Band::F545 | Band::F857 => "MJy/sr",
        Band::YMap => "y",
        _ => "K_CMB",
    }
}

/// A band's name with its unit, or "normalised" for normalised patches: `143GHz [K_CMB]`.
pub(super) fn band_title(band: Band, normalised: bool) -> String {
    if normalised {
        format!("{} (normalised)", band.name())
    } else {
        format!("{} [{}]", band.name(), band_unit(band))
    }
}

/// Colour map of a band's images: blue–red for the CMB-dominated bands and normalised patches
/// (fluctuations about a mean), viridis for the dust bands and the y-map.
pub(super) fn band_colormap(band: Band, normalised: bool) -> Colormap {
    match band {
        _ if normalised => Colormap::Coolwarm,
        Band::F100 | Band::F143 | Band::F217 => Colormap::Coolwarm,
        _ => Colormap::Viridis,
    }
}

/// An H×W patch image (row `i` = 0 first) reordered for drawing north up: row `i` = H−1 first.
pub(super) fn north_up(image: &[f32], size: usize) -> Vec<f32> {
    image.chunks(size.max(1)).rev().flatten().copied().collect()
}

/// Axis position (Δx, Δy) in arcmin of fractional patch pixel (`i` row, `j` column).
pub(super) fn pixel_to_axes(info: &PatchInfo, i: f64, j: f64) -> (f64, f64) {
    let g = &info.projection;
    let c = g.center_pixel();
    ((j - c) * g.pixel_arcmin(), (i - c) * g.pixel_arcmin())
}

/// Half the side of a patch in arcmin: its axes run from −half to +half.
pub(super) fn half_side(info: &PatchInfo) -> f64 {
    info.projection.size() as f64 * info.projection.pixel_arcmin() / 2.0
}

/// How the image of a patch is oriented on the sky.
pub(super) fn orientation(info: &PatchInfo) -> String {
    let g = &info.projection;
    let frame = match g.frame() {
        Frame::Galactic => "Galactic",
        Frame::Icrs => "ICRS",
    };
    match g.transform().index() {
        0 => format!("{frame} N up, E left"),
        k => format!("{frame} axes, rotation/flip {k}"),
    }
}

/// Centre of a patch as `(l, b) = (112.50°, +41.80°)`.
pub(super) fn centre_text(info: &PatchInfo) -> String {
    let (l, b) = info.projection.center_galactic();
    format!("(l, b) = ({l:.2}°, {b:+.2}°)")
}

/// One image of the grid, drawn north up.
struct Cell {
    values: Vec<f32>,
    scale: Scale,
    cmap: Colormap,
    /// The caption: the colour range.
    caption: String,
}

/// One patch: its label and one cell per column.
struct Row {
    label: String,
    half: f64,
    cells: Vec<Cell>,
}

/// Patches as a grid: one row per patch, one column per band (and optionally the label mask).
struct PatchGrid {
    title: String,
    columns: Vec<String>,
    rows: Vec<Row>,
    size: usize,
}

/// Width and height of a grid cell in pixels, without the axis descriptions.
const CELL: (u32, u32) = (220, 226);
/// Extra width of the left column (y-axis description) and height of the bottom row (x-axis one).
const AXIS_DESC: u32 = 16;
/// Height of the figure title plus the column titles, and of each row's label strip.
const HEADER: u32 = 54;
const ROW_LABEL: u32 = 20;
/// Narrowest grid figure, so that the title and the row labels fit beside one or two columns.
const MIN_WIDTH: u32 = 560;

impl PatchGrid {
    /// The first `n` patches of `patches`, with the matching masks (H×W each) as a last column.
    fn new(what: &str, patches: &Patches, n: usize, masks: Option<&dyn Fn(usize) -> Vec<f32>>) -> Result<Self> {
        if n == 0 || patches.is_empty() {
            return Err(Error::param(
                format!("{what} n"),
                format!("asked for {n} of {} patches: give n ≥ 1 and at least one patch", patches.len()),
            ));
        }
        if patches.bands().is_empty() || patches.size() == 0 {
            return Err(Error::param(what, "the patches have no band or no pixel: nothing to draw"));
        }
        let n = n.min(patches.len());
        let size = patches.size();
        let normalised = patches.is_normalised();
        let mut columns: Vec<String> = patches.bands().iter().map(|&b| band_title(b, normalised)).collect();
        if masks.is_some() {
            columns.push("label mask".into());
        }
        let rows = (0..n)
            .map(|k| {
                let info = &patches.info()[k];
                let mut cells: Vec<Cell> = patches
                    .bands()
                    .iter()
                    .enumerate()
                    .map(|(c, &band)| {
                        let image = patches.image(k, c);
                        let scale = Scale::robust(image);
                        Cell {
                            values: north_up(image, size),
                            scale,
                            cmap: band_colormap(band, normalised),
                            caption: format!("{} … {}", short(scale.lo), short(scale.hi)),
                        }
                    })
                    .collect();
                if let Some(mask) = masks {
                    cells.push(Cell {
                        values: north_up(&mask(k), size),
                        scale: Scale::new(0.0, 1.0),
                        cmap: Colormap::Greys,
                        caption: "white 0, black 1".into(),
                    });
                }
                let label = format!(
                    "patch {} · tile {} {} · {} · {}",
                    info.id,
                    info.tile,
                    info.split,
                    centre_text(info),
                    orientation(info)
                );
                Row { label, half: half_side(info), cells }
            })
            .collect();
        let kind = if normalised { "normalised" } else { "raw" };
        let mut title = format!("{n} of {} {kind} patches, {size}×{size} px", patches.len());
        title += if masks.is_some() { ", with label masks" } else { "" };
        Ok(PatchGrid { title, columns, rows, size })
    }

    fn figure(self, name: &str) -> Figure {
        let (w, h) = CELL;
        let width = (AXIS_DESC + w * self.columns.len() as u32).max(MIN_WIDTH);
        let height = HEADER + (ROW_LABEL + h) * self.rows.len() as u32 + AXIS_DESC;
        Figure::new(name, (width, height), self)
    }
}

impl Drawing for PatchGrid {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let t = self.title.as_str();
        let (cw, ch) = CELL;
        let centre = Pos::new(HPos::Center, VPos::Top);
        root.draw_text(t, &text(17).pos(centre), ((root.dim_in_pixel().0 / 2) as i32, 6)).or_plot(t)?;
        // Column titles centred over each column's image (cells lose ~36 px to the y ticks on the left).
        for (c, title) in self.columns.iter().enumerate() {
            let x = AXIS_DESC + cw * c as u32 + (cw + 30) / 2;
            root.draw_text(title, &text(15).pos(centre), (x as i32, 32)).or_plot(t)?;
        }
        let last = self.rows.len() - 1;
        for (r, row) in self.rows.iter().enumerate() {
            let top = HEADER + (ROW_LABEL + ch) * r as u32;
            root.draw_text(&row.label, &text(13), (AXIS_DESC as i32 + 8, top as i32 + 3)).or_plot(t)?;
            let extent = (-row.half, row.half, -row.half, row.half);
            for (c, cell) in row.cells.iter().enumerate() {
                let (left, bottom) = (c == 0, r == last);
                let x = if left { 0 } else { AXIS_DESC + cw * c as u32 };
                let area = root.clone().shrink(
                    (x, top + ROW_LABEL),
                    (cw + if left { AXIS_DESC } else { 0 }, ch + if bottom { AXIS_DESC } else { 0 }),
                );
                let image = Image {
                    values: &cell.values,
                    nx: self.size,
                    ny: self.size,
                    extent,
                    scale: cell.scale,
                    cmap: cell.cmap,
                };
                let labels = (if bottom { "Δx [arcmin]" } else { "" }, if left { "Δy [arcmin]" } else { "" });
                image_panel(&area, &cell.caption, labels, &image)?;
            }
        }
        Ok(())
    }
}

impl Patches {
    /// The first `n` patches (at most all), one row each, one column per band: each image with its
    /// own 0.5–99.5 percentile colour range, axes in arcmin from the patch centre, north up for an
    /// unrotated patch. Errors when `n` is 0 or there is no patch.
    pub fn plot(&self, n: usize) -> Figure {
        Figure::or_failed(
            "Patches::plot",
            (|| -> Result<Figure> { Ok(PatchGrid::new("Patches::plot", self, n, None)?.figure("patches")) })(),
        )
    }
}

impl Dataset {
    /// The first `n` patches (at most all), one row each: one column per band as
    /// [`Patches::plot`], then the label mask (white 0, black 1). Errors when `n` is 0 or the
    /// dataset is empty.
    pub fn plot(&self, n: usize) -> Figure {
        Figure::or_failed(
            "Dataset::plot",
            (|| -> Result<Figure> {
                let mask = |k: usize| self.mask(k).to_vec();
                Ok(PatchGrid::new("Dataset::plot", self.patches(), n, Some(&mask))?.figure("dataset"))
            })(),
        )
    }
}

/// Bins of each histogram.
const BINS: usize = 60;

/// Bar colours of the sets, row by row (matplotlib's tab10 blue, orange, green, red, purple).
pub(crate) const SET_COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// The histogram of one band of one set.
struct Histogram {
    caption: String,
    xlabel: String,
    lo: f64,
    hi: f64,
    counts: Vec<u64>,
    colour: RGBColor,
}

impl Histogram {
    /// `BINS` bins between the 0.1 and 99.9 percentiles of the finite `values`.
    fn new(caption: String, xlabel: String, mut values: Vec<f32>, colour: RGBColor) -> Self {
        values.retain(|v| v.is_finite());
        let (lo, hi) = if values.is_empty() {
            (0.0, 1.0)
        } else {
            let mut at = |q: f64| {
                let k = ((values.len() - 1) as f64 * q).round() as usize;
                *values.select_nth_unstable_by(k, f32::total_cmp).1 as f64
            };
            let (lo, hi) = (at(0.001), at(0.999));
            if hi > lo {
                (lo, hi)
            } else {
                (lo - 0.5, lo + 0.5)
            }
        };
        let mut counts = vec![0u64; BINS];
        for &v in &values {
            let v = v as f64;
            if (lo..=hi).contains(&v) {
                counts[(((v - lo) / (hi - lo) * BINS as f64) as usize).min(BINS - 1)] += 1;
            }
        }
        Histogram { caption, xlabel, lo, hi, counts, colour }
    }
}

/// Pixel distributions: one row per set, one column per band.
struct Histograms {
    title: String,
    columns: usize,
    cells: Vec<Histogram>,
}

/// Size of one histogram cell in pixels.
const HIST_CELL: (u32, u32) = (300, 230);

impl Drawing for Histograms {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let t = self.title.as_str();
        let (cw, ch) = HIST_CELL;
        root.draw_text(t, &text(17).pos(Pos::new(HPos::Center, VPos::Top)), ((root.dim_in_pixel().0 / 2) as i32, 6))
            .or_plot(t)?;
        for (k, cell) in self.cells.iter().enumerate() {
            let (r, c) = ((k / self.columns) as u32, (k % self.columns) as u32);
            let area = root.clone().shrink((c * cw, 30 + r * ch), (cw, ch));
            let top = cell.counts.iter().copied().max().unwrap_or(0).max(1) as f64;
            let floor = 0.7;
            let caption = cell.caption.as_str();
            let mut chart = ChartBuilder::on(&area)
                .caption(caption, text(14))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(if c == 0 { 56 } else { 42 })
                .build_cartesian_2d(cell.lo..cell.hi, (floor..top * 2.0).log_scale())
                .or_plot(caption)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(WHITE.mix(0.0))
                .bold_line_style(BLACK.mix(0.08))
                .x_desc(cell.xlabel.as_str())
                .y_desc(if c == 0 { "pixels" } else { "" })
                .x_labels(5)
                .y_labels(5)
                .x_label_formatter(&|v| short(*v))
                .y_label_formatter(&|v| if *v < 1e4 { format!("{v:.0}") } else { format!("{v:.0e}") })
                .label_style(text(11))
                .axis_desc_style(text(12))
                .draw()
                .or_plot(caption)?;
            let width = (cell.hi - cell.lo) / BINS as f64;
            let colour = cell.colour;
            let bars = cell.counts.iter().enumerate().filter(|(_, &n)| n > 0).map(|(b, &n)| {
                let x0 = cell.lo + b as f64 * width;
                Rectangle::new([(x0, floor), (x0 + width, n as f64)], colour.filled())
            });
            chart.draw_series(bars).or_plot(caption)?;
        }
        Ok(())
    }
}

/// Pixel distributions of named sets of patches (e.g. `("raw", &raw)` and
/// `("normalised (MAD + arcsinh)", &normalised)`): one row per set, one column per band, each a
/// histogram of 60 bins between the 0.1 and 99.9 percentiles of that band's pixels, counts on a
/// log axis so the tails that normalisation compresses stay visible. The sets must share their
/// bands; errors for an empty list or sets without patches.
pub fn histograms(sets: &[(&str, &Patches)]) -> Figure {
    Figure::or_failed(
        "histograms",
        (|| -> Result<Figure> {
            let Some((first_name, first)) = sets.first() else {
                return Err(Error::param("histograms sets", "no set given: pass at least one (name, patches) pair"));
            };
            if first.bands().is_empty() {
                return Err(Error::param("histograms sets", format!("set {first_name:?} has no band")));
            }
            for (name, p) in sets {
                if p.bands() != first.bands() {
                    let names = |p: &Patches| p.bands().iter().map(|b| b.name()).collect::<Vec<_>>().join(", ");
                    return Err(Error::param(
                        "histograms sets",
                        format!(
                        "set {name:?} has bands [{}] but set {first_name:?} has [{}]: the sets must share their bands",
                        names(p),
                        names(first)
                    ),
                    ));
                }
                if p.is_empty() {
                    return Err(Error::param("histograms sets", format!("set {name:?} has no patches")));
                }
            }
            let mut cells = Vec::with_capacity(sets.len() * first.bands().len());
            for (r, (name, p)) in sets.iter().enumerate() {
                for (c, &band) in p.bands().iter().enumerate() {
                    let values: Vec<f32> = (0..p.len()).flat_map(|k| p.image(k, c).iter().copied()).collect();
                    let xlabel = if p.is_normalised() {
                        "normalised value".to_string()
                    } else {
                        format!("value [{}]", band_unit(band))
                    };
                    let caption = format!("{} — {name}", band.name());
                    cells.push(Histogram::new(caption, xlabel, values, SET_COLOURS[r % SET_COLOURS.len()]));
                }
            }
            let columns = first.bands().len();
            let title = format!("Pixel distributions ({BINS} bins, 0.1–99.9 percentiles, log counts)");
            let (cw, ch) = HIST_CELL;
            let size = ((cw * columns as u32).max(MIN_WIDTH), 30 + ch * sets.len() as u32);
            Ok(Figure::new("histograms", size, Histograms { title, columns, cells }))
        })(),
    )
}
