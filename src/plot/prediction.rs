//! The original's prediction panel for one patch: input (y-map), true mask, predicted probability,
//! and the detections on the patch marked by match class.
//!
//! Images are drawn north up like the patch grids (see [`super::patches`]): axes are the offsets in
//! arcmin from the patch centre along its columns (Δx) and rows (Δy).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use polars::prelude::{DataFrame, DataType};

use crate::error::{Error, Result};
use crate::patches::Patches;
use crate::predict::Predictions;
use crate::sky::Band;

use super::canvas::{colorbar, image_panel, text, Colormap, Image, OrPlot, Scale};
use super::patches::{band_colormap, band_title, centre_text, half_side, north_up, orientation, pixel_to_axes};
use super::{Drawing, Figure};

/// Marker colour of detections matched to a known cluster (green circles).
pub(crate) const KNOWN: RGBColor = RGBColor(0, 160, 0);
/// Marker colour of unknown detections (red crosses).
pub(crate) const UNKNOWN: RGBColor = RGBColor(230, 0, 0);
/// Marker colour of likely contaminants (orange triangles).
pub(crate) const CONTAMINANT: RGBColor = RGBColor(255, 140, 0);
/// Marker colour of detections without a match class (magenta circles).
pub(crate) const DETECTION: RGBColor = RGBColor(230, 0, 230);

/// A detection's class and how it is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Known,
    Unknown,
    Contaminant,
    /// No `class` column.
    Detection,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Known => "known",
            Class::Unknown => "unknown",
            Class::Contaminant => "contaminant",
            Class::Detection => "detection",
        }
    }

    fn parse(s: &str) -> Option<Class> {
        [Class::Known, Class::Unknown, Class::Contaminant].into_iter().find(|c| c.name() == s)
    }

    fn colour(self) -> RGBColor {
        match self {
            Class::Known => KNOWN,
            Class::Unknown => UNKNOWN,
            Class::Contaminant => CONTAMINANT,
            Class::Detection => DETECTION,
        }
    }
}

/// Draw `class`'s marker at each of `points` on `area` (chart or pixel coordinates).
fn markers<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    class: Class,
    points: &[CT::From],
) -> Result<()>
where
    CT::From: Clone,
{
    let style = class.colour().stroke_width(2);
    let what = class.name();
    for p in points {
        let p = p.clone();
        match class {
            Class::Known | Class::Detection => area.draw(&Circle::new(p, 7, style)),
            Class::Unknown => area.draw(&Cross::new(p, 6, style)),
            Class::Contaminant => area.draw(&TriangleMarker::new(p, 8, style)),
        }
        .or_plot(what)?;
    }
    Ok(())
}

/// Plus signs (catalogue clusters) of `colour`, arms of 5 px, at each of `points` on `area`.
fn plus_signs<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    points: &[CT::From],
    colour: RGBColor,
) -> Result<()>
where
    CT::From: Clone,
{
    let style = colour.stroke_width(2);
    for p in points {
        let sign = EmptyElement::at(p.clone())
            + PathElement::new(vec![(-5, 0), (5, 0)], style)
            + PathElement::new(vec![(0, -5), (0, 5)], style);
        area.draw(&sign).or_plot("catalogue clusters")?;
    }
    Ok(())
}

/// An image drawn north up with its scale and colour map.
struct Panel {
    values: Vec<f32>,
    scale: Scale,
    cmap: Colormap,
}

/// The four panels of one patch, with everything they draw copied in.
struct PredictionPanel {
    title: String,
    size: usize,
    half: f64,
    input_title: String,
    input: Panel,
    mask: Panel,
    prob: Panel,
    /// Catalogue clusters on the patch, axis units.
    clusters: Vec<(f64, f64)>,
    /// Detections on the patch by class, axis units; every class of the table, empty ones too.
    detections: Vec<(Class, Vec<(f64, f64)>)>,
}

/// Panel width and height in pixels (the first panel is wider by the y-axis description).
const PANEL: (u32, u32) = (270, 262);
const Y_DESC: u32 = 16;
/// Heights of the title and of the strip below the panels (colour bars and legends).
const TITLE: u32 = 36;
const STRIP: u32 = 78;
/// Height of the colour bars at the top of the strip.
const BAR: u32 = 52;

/// Panel for patch `n` of `patches` / `predictions`, with its label `masks` (N×H×W) and the
/// detections table `detections` (`glon`, `glat` in degrees, optionally `class`: `known`,
/// `unknown` or `contaminant`): (a) the input (the y-map band if there is one, else the first band)
/// with the catalogue clusters of the patch as white plus signs, (b) the true label mask, (c) the
/// predicted probability on [0, 1], (d) the probability with the detections that fall on the patch:
/// known = green circle, unknown = red cross, contaminant = orange triangle (magenta circles when
/// the table has no `class`), counted in the legend.
pub fn prediction(
    patches: &Patches,
    masks: &[f32],
    predictions: &Predictions,
    detections: &DataFrame,
    n: usize,
) -> Figure {
    Figure::or_failed(
        "prediction",
        (|| -> Result<Figure> {
            let (len, size) = (patches.len(), patches.size());
            if n >= len {
                return Err(Error::param("prediction n", format!("patch {n} does not exist: there are {len} patches")));
            }
            if patches.bands().is_empty() || size == 0 {
                return Err(Error::param(
                    "prediction patches",
                    "the patches have no band or no pixel: nothing to draw",
                ));
            }
            let hw = size * size;
            if masks.len() != len * hw {
                return Err(Error::param(
                    "prediction masks",
                    format!("{} mask values for {len} patches of {size}²: expected {} (N×H×W)", masks.len(), len * hw),
                ));
            }
            if predictions.len() != len || predictions.size() != size {
                return Err(Error::param(
                    "prediction predictions",
                    format!(
                        "{} maps of {}² for {len} patches of {size}²: pass the predictions of these patches",
                        predictions.len(),
                        predictions.size()
                    ),
                ));
            }
            let info = &patches.info()[n];
            if predictions.info()[n].projection != info.projection {
                return Err(Error::param(
                    "prediction predictions",
                    format!(
                        "map {n} is centred at {} but patch {n} at {}: pass the predictions of these patches",
                        centre_text(&predictions.info()[n]),
                        centre_text(info)
                    ),
                ));
            }
            let detections = on_patch(detections, patches, n)?;

            let bands = patches.bands();
            let c = bands.iter().position(|&b| b == Band::YMap).unwrap_or(0);
            let image = patches.image(n, c);
            let normalised = patches.is_normalised();
            let input = Panel {
                values: north_up(image, size),
                scale: Scale::robust(image),
                cmap: band_colormap(bands[c], normalised),
            };
            let mask = Panel {
                values: north_up(&masks[n * hw..(n + 1) * hw], size),
                scale: Scale::new(0.0, 1.0),
                cmap: Colormap::Greys,
            };
            let prob = Panel {
                values: north_up(predictions.prob(n), size),
                scale: Scale::new(0.0, 1.0),
                cmap: Colormap::Viridis,
            };
            let clusters = info
                .clusters
                .iter()
                .filter(|k| info.projection.contains_pixel(k.i, k.j))
                .map(|k| pixel_to_axes(info, k.i, k.j))
                .collect();
            let title = format!(
                "Patch {} · tile {} {} · {} · {}",
                info.id,
                info.tile,
                info.split,
                centre_text(info),
                orientation(info)
            );
            let drawing = PredictionPanel {
                title,
                size,
                half: half_side(info),
                input_title: band_title(bands[c], normalised),
                input,
                mask,
                prob,
                clusters,
                detections,
            };
            let (w, h) = PANEL;
            Ok(Figure::new(format!("prediction_{}", info.id), (Y_DESC + 4 * w, TITLE + h + STRIP), drawing))
        })(),
    )
}

/// Points in a panel's axis units, of one match class.
type ClassPoints = (Class, Vec<(f64, f64)>);

/// The detections of `table` whose position falls on patch `n`, by class, in axis units.
fn on_patch(table: &DataFrame, patches: &Patches, n: usize) -> Result<Vec<ClassPoints>> {
    let bad = |message: String| Error::param("prediction detections", message);
    let column = |name: &str| -> Result<Vec<Option<f64>>> {
        let col = table.column(name).map_err(|_| {
            let have: Vec<&str> = table.get_column_names().into_iter().map(|s| s.as_str()).collect();
            bad(format!("no column {name:?} (Galactic degrees) in the table; it has {}", have.join(", ")))
        })?;
        let col = col.cast(&DataType::Float64).map_err(|e| bad(format!("column {name:?} is not numeric: {e}")))?;
        Ok(col.f64()?.iter().collect())
    };
    let (glon, glat) = (column("glon")?, column("glat")?);
    let classes: Option<Vec<Option<String>>> = match table.column("class") {
        Err(_) => None,
        Ok(col) => {
            let col = col.str().map_err(|_| bad(format!("column \"class\" must be text, it is {}", col.dtype())))?;
            Some(col.iter().map(|s| s.map(str::to_string)).collect())
        }
    };
    let mut out: Vec<(Class, Vec<(f64, f64)>)> = match classes {
        Some(_) => [Class::Known, Class::Unknown, Class::Contaminant].into_iter().map(|c| (c, Vec::new())).collect(),
        None => vec![(Class::Detection, Vec::new())],
    };
    let info = &patches.info()[n];
    for k in 0..table.height() {
        let class = match &classes {
            None => Class::Detection,
            Some(c) => match c[k].as_deref() {
                None => continue,
                Some(s) => Class::parse(s).ok_or_else(|| {
                    bad(format!("row {k}: unknown class {s:?}; the classes are known, unknown and contaminant"))
                })?,
            },
        };
        let (Some(l), Some(b)) = (glon[k], glat[k]) else { continue };
        let Some((i, j)) = info.projection.galactic_to_pixel(l, b) else { continue };
        if info.projection.contains_pixel(i, j) {
            let set = out.iter_mut().find(|(c, _)| *c == class).map(|(_, v)| v);
            if let Some(points) = set {
                points.push(pixel_to_axes(info, i, j));
            }
        }
    }
    Ok(out)
}

impl PredictionPanel {
    /// `panel` as an image over the patch's axes.
    fn image<'a>(&self, panel: &'a Panel) -> Image<'a> {
        Image {
            values: &panel.values,
            nx: self.size,
            ny: self.size,
            extent: (-self.half, self.half, -self.half, self.half),
            scale: panel.scale,
            cmap: panel.cmap,
        }
    }
}

impl Drawing for PredictionPanel {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let t = self.title.as_str();
        let (w, h) = PANEL;
        let (width, _) = root.dim_in_pixel();
        root.draw_text(t, &text(17).pos(Pos::new(HPos::Center, VPos::Top)), ((width / 2) as i32, 8)).or_plot(t)?;
        let left = |k: u32| if k == 0 { 0 } else { Y_DESC + w * k };
        let wide = |k: u32| w + if k == 0 { Y_DESC } else { 0 };
        let panel = |k: u32| root.clone().shrink((left(k), TITLE), (wide(k), h));
        let x = "Δx [arcmin]";
        let style = text(12);

        // (a) the input with the catalogue clusters; its colour bar spans (a) and (b), as its tick
        // labels (often 1e-5-sized numbers) need the room.
        let area = panel(0);
        let caption = format!("(a) {}", self.input_title);
        let chart = image_panel(&area, &caption, (x, "Δy [arcmin]"), &self.image(&self.input))?;
        plus_signs(chart.plotting_area(), &self.clusters, WHITE)?;
        let below_ab = |y: u32, height: u32| root.clone().shrink((0, TITLE + h + y), (left(2), height));
        colorbar(&below_ab(0, BAR), self.input.scale, self.input.cmap, &self.input_title)?;

        // (b) the true mask; the legend of the mask and of (a)'s plus signs goes below the bar.
        let area = panel(1);
        image_panel(&area, "(b) true label mask", (x, ""), &self.image(&self.mask))?;
        let legend = below_ab(BAR, STRIP - BAR);
        let y = ((STRIP - BAR) / 2) as i32;
        let clusters = format!("catalogue clusters in (a): {}", self.clusters.len());
        let middle = Pos::new(HPos::Left, VPos::Center);
        legend.draw(&Rectangle::new([(73, y - 7), (87, y + 7)], BLACK.filled())).or_plot(t)?;
        legend.draw_text("(b) label mask = 1 (cluster disk)", &style.pos(middle), (95, y)).or_plot(t)?;
        legend
            .draw(&Rectangle::new([(313, y - 7), (327, y + 7)], Colormap::Viridis.colour(0.0).filled()))
            .or_plot(t)?;
        plus_signs(&legend, &[(320, y)], WHITE)?;
        legend.draw_text(&clusters, &style.pos(middle), (335, y)).or_plot(t)?;

        // (c) the probability with its colour bar.
        let area = panel(2);
        image_panel(&area, "(c) predicted probability", (x, ""), &self.image(&self.prob))?;
        colorbar(&root.clone().shrink((left(2), TITLE + h), (w, BAR)), self.prob.scale, self.prob.cmap, "probability")?;

        // (d) the probability with the detections, counted in the legend below.
        let total: usize = self.detections.iter().map(|(_, p)| p.len()).sum();
        let caption = format!("(d) detections on the patch: {total}");
        let area = panel(3);
        let chart = image_panel(&area, &caption, (x, ""), &self.image(&self.prob))?;
        for (class, points) in &self.detections {
            markers(chart.plotting_area(), *class, points)?;
        }
        let legend = root.clone().shrink((left(3), TITLE + h), (w, STRIP));
        for (k, (class, points)) in self.detections.iter().enumerate() {
            let y = 14 + 22 * k as i32;
            markers(&legend, *class, &[(60, y)])?;
            legend.draw_text(&format!("{}: {}", class.name(), points.len()), &style.pos(middle), (78, y)).or_plot(t)?;
        }
        Ok(())
    }
}
