//! All-sky figures in the Mollweide projection (Galactic coordinates, longitude increasing to the
//! left and 0° at the centre, as healpy's `mollview`): a band or the y-map with the 48 tiles and
//! the train / val / test split, the split alone, and markers (detections) on top.

use std::f64::consts::{PI, SQRT_2};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::sky::{Band, HealpixMap, Sky};
use crate::tiles::{Split, Tiling, N_TILES};

use super::canvas::{colorbar, text, Colormap, OrPlot, Scale, NO_DATA};
use super::{Drawing, Figure};

/// Resolution at which a map is sampled for its figure (its plotting area is about this size).
const RASTER: (usize, usize) = (800, 400);

/// Mollweide projection of Galactic (`lon`, `lat`) in degrees onto x ∈ [−2√2, 2√2] (longitude
/// increasing to the left) and y ∈ [−√2, √2].
pub fn mollweide(lon_deg: f64, lat_deg: f64) -> (f64, f64) {
    let lat = lat_deg.to_radians();
    // Longitude in (−180°, 180°], drawn increasing to the left.
    let lam = -((lon_deg + 180.0).rem_euclid(360.0) - 180.0).to_radians();
    // Solve 2θ + sin 2θ = π sin φ by Newton's method (converges in a few steps except at the poles).
    let target = PI * lat.sin();
    let mut theta = lat;
    for _ in 0..50 {
        let f = 2.0 * theta + (2.0 * theta).sin() - target;
        let df = 2.0 + 2.0 * (2.0 * theta).cos();
        if df.abs() < 1e-12 {
            break;
        }
        let step = f / df;
        theta -= step;
        if step.abs() < 1e-12 {
            break;
        }
    }
    (2.0 * SQRT_2 / PI * lam * theta.cos(), SQRT_2 * theta.sin())
}

/// Inverse of [`mollweide`]: Galactic (`lon` in [0, 360), `lat`) in degrees, or `None` outside the
/// ellipse.
pub fn mollweide_inverse(x: f64, y: f64) -> Option<(f64, f64)> {
    if (x / (2.0 * SQRT_2)).powi(2) + (y / SQRT_2).powi(2) > 1.0 {
        return None;
    }
    let theta = (y / SQRT_2).clamp(-1.0, 1.0).asin();
    let lat = ((2.0 * theta + (2.0 * theta).sin()) / PI).clamp(-1.0, 1.0).asin();
    let lam = if theta.cos() < 1e-12 { 0.0 } else { PI * x / (2.0 * SQRT_2 * theta.cos()) };
    Some(((-lam.to_degrees()).rem_euclid(360.0), lat.to_degrees()))
}

/// Galactic position of the centre of raster pixel (`px`, `py`) of a `w` × `h` raster covering the
/// Mollweide ellipse.
fn raster_position(px: usize, py: usize, (w, h): (usize, usize)) -> Option<(f64, f64)> {
    let x = 2.0 * SQRT_2 * (1.0 - 2.0 * (px as f64 + 0.5) / w as f64);
    let y = SQRT_2 * (1.0 - 2.0 * (py as f64 + 0.5) / h as f64);
    mollweide_inverse(-x, y)
}

/// What the ellipse is filled with.
enum Background {
    /// Map values sampled on the raster (NaN outside the sky), their scale, colour map and the
    /// colour-bar label.
    Map { values: Vec<f32>, scale: Scale, cmap: Colormap, label: String },
    /// Each tile coloured by its split.
    Splits,
}

/// A set of markers drawn on an all-sky figure, with its legend entry.
pub(crate) struct Markers {
    pub name: String,
    pub colour: RGBColor,
    /// Galactic (lon, lat) in degrees.
    pub points: Vec<(f64, f64)>,
}

/// An all-sky figure: a background, optionally the tiles and their split, and markers.
pub(crate) struct AllSky {
    pub title: String,
    background: Background,
    tiling: Option<Tiling>,
    pub markers: Vec<Markers>,
}

/// Colours of the splits, used for tile outlines, the split map and legends.
pub(crate) fn split_colour(split: Split) -> RGBColor {
    match split {
        Split::Train => RGBColor(158, 202, 225),
        Split::Val => RGBColor(253, 174, 97),
        Split::Test => RGBColor(215, 48, 39),
    }
}

impl AllSky {
    /// `map` sampled on the figure's raster.
    pub fn map(title: impl Into<String>, map: &HealpixMap, label: impl Into<String>) -> Result<Self> {
        let grid = map.grid();
        let (w, h) = RASTER;
        let values: Vec<f32> = (0..w * h)
            .map(|k| match raster_position(k % w, k / w, RASTER) {
                Some((lon, lat)) => map.data[grid.ang2pix(lon, lat) as usize],
                None => f32::NAN,
            })
            .collect();
        let scale = Scale::robust(&values);
        Ok(AllSky {
            title: title.into(),
            background: Background::Map { values, scale, cmap: Colormap::Viridis, label: label.into() },
            tiling: None,
            markers: Vec::new(),
        })
    }

    /// The tiles coloured by split.
    pub fn splits(title: impl Into<String>, tiling: &Tiling) -> Self {
        AllSky {
            title: title.into(),
            background: Background::Splits,
            tiling: Some(tiling.clone()),
            markers: Vec::new(),
        }
    }

    /// Draw the tile outlines, numbers and split over the background.
    pub fn with_tiles(mut self, tiling: &Tiling) -> Self {
        self.tiling = Some(tiling.clone());
        self
    }

    pub fn figure(self, name: &str) -> Figure {
        let colourbar = matches!(self.background, Background::Map { .. });
        Figure::new(name, (900, if colourbar { 560 } else { 500 }), self)
    }

    /// The background's RGB pixels at `w` × `h`, tile borders drawn in their split's colour.
    fn pixels(&self, w: usize, h: usize) -> Vec<u8> {
        let tile_at = |px: usize, py: usize| raster_position(px, py, (w, h)).map(|(l, b)| Tiling::tile_of(l, b));
        let tiles: Vec<Option<u32>> = (0..w * h).map(|k| tile_at(k % w, k / w)).collect();
        let mut out = Vec::with_capacity(w * h * 3);
        for py in 0..h {
            for px in 0..w {
                let k = py * w + px;
                let c = match (tiles[k], &self.background) {
                    (None, _) => WHITE,
                    (Some(t), Background::Splits) => {
                        let c = self.tiling.as_ref().map_or(NO_DATA, |tl| split_colour(tl.split_of_tile(t)));
                        // Pale fills under markers, so that a marker on the test tile stays visible.
                        if self.markers.is_empty() {
                            c
                        } else {
                            pale(c)
                        }
                    }
                    (Some(_), Background::Map { values, scale, cmap, .. }) => {
                        let (rw, rh) = RASTER;
                        let v = values[(py * rh / h).min(rh - 1) * rw + (px * rw / w).min(rw - 1)];
                        if v.is_finite() {
                            cmap.colour(scale.t(v as f64))
                        } else {
                            NO_DATA
                        }
                    }
                };
                let c = match (&self.tiling, tiles[k]) {
                    (Some(tiling), Some(t)) => border(tiling, t, &tiles, px, py, w, h).unwrap_or(c),
                    _ => c,
                };
                out.extend_from_slice(&[c.0, c.1, c.2]);
            }
        }
        out
    }
}

/// `c` mixed with three parts of white.
fn pale(c: RGBColor) -> RGBColor {
    let mix = |v: u8| ((v as u16 + 3 * 255) / 4) as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// The colour of a tile-border pixel (one with a neighbour in another tile): the colour of the
/// higher split of the two tiles, or white between two training tiles.
fn border(
    tiling: &Tiling,
    t: u32,
    tiles: &[Option<u32>],
    px: usize,
    py: usize,
    w: usize,
    h: usize,
) -> Option<RGBColor> {
    let at = |x: usize, y: usize| if x < w && y < h { tiles[y * w + x] } else { None };
    let around = [
        at(px + 1, py),
        at(px, py + 1),
        px.checked_sub(1).and_then(|x| at(x, py)),
        py.checked_sub(1).and_then(|y| at(px, y)),
    ];
    let split = around.into_iter().flatten().filter(|&u| u != t).map(|u| tiling.split_of_tile(u)).max()?;
    let split = split.max(tiling.split_of_tile(t));
    Some(if split == Split::Train { WHITE } else { split_colour(split) })
}

impl Drawing for AllSky {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let t = self.title.as_str();
        let (_, h) = root.dim_in_pixel();
        // Maps keep 60 px at the bottom for their colour bar.
        let bar_height = if matches!(self.background, Background::Map { .. }) { 60 } else { 0 };
        let (map_area, bar_area) = root.split_vertically(h - bar_height);
        let (a, b) = (2.0 * SQRT_2, SQRT_2);
        let mut chart = ChartBuilder::on(&map_area)
            .caption(t, text(18))
            .margin(10)
            .margin_left(40)
            .build_cartesian_2d(-a..a, -b..b)
            .or_plot(t)?;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let (w, h) = ((xr.end - xr.start).max(2) as usize, (yr.end - yr.start).max(2) as usize);
        let element = BitMapElement::with_owned_buffer((-a, b), (w as u32, h as u32), self.pixels(w, h))
            .ok_or_else(|| Error::plot(t, "image buffer size mismatch"))?;
        chart.plotting_area().draw(&element).or_plot(t)?;
        graticule(&mut chart, t)?;
        if let Some(tiling) = &self.tiling {
            for tile in 0..N_TILES {
                let (l, bb) = Tiling::tile_center(tile);
                let (x, y) = mollweide(l, bb);
                let colour = if tiling.split_of_tile(tile) == Split::Train { BLACK } else { WHITE };
                let style = text(10).color(&colour);
                chart
                    .draw_series(std::iter::once(Text::new(tile.to_string(), (x - 0.04, y + 0.04), style)))
                    .or_plot(t)?;
            }
            for split in [Split::Train, Split::Val, Split::Test] {
                let c = split_colour(split);
                chart
                    .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                    .or_plot(t)?
                    .label(format!("{split} tiles"))
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
            }
        }
        for m in &self.markers {
            let c = m.colour;
            let points = m.points.iter().map(|&(l, bb)| mollweide(l, bb));
            chart
                .draw_series(points.map(|p| Circle::new(p, 4, c.stroke_width(2))))
                .or_plot(t)?
                .label(format!("{} ({})", m.name, m.points.len()))
                .legend(move |(x, y)| Circle::new((x + 7, y), 4, c.stroke_width(2)));
        }
        if self.tiling.is_some() || !self.markers.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(text(12))
                .draw()
                .or_plot(t)?;
        }
        if let Background::Map { scale, cmap, label, .. } = &self.background {
            colorbar(&bar_area, *scale, *cmap, label)?;
        }
        Ok(())
    }
}

/// Meridians every 60° and parallels every 30°, with their labels in degrees.
fn graticule<DB: DrawingBackend>(chart: &mut super::Chart<'_, DB>, t: &str) -> Result<()> {
    let grey = RGBColor(120, 120, 120).mix(0.6);
    for lon in [0.0, 60.0, 120.0, 179.999, 240.0, 300.0, 180.001] {
        let line = (-90..=90).map(|b| mollweide(lon, b as f64));
        chart.draw_series(std::iter::once(PathElement::new(line.collect::<Vec<_>>(), grey))).or_plot(t)?;
    }
    for lat in [-60.0, -30.0, 0.0, 30.0, 60.0] {
        let line: Vec<_> = (0..=360).map(|l| mollweide(180.001 + l as f64 * 0.99999, lat)).collect();
        chart.draw_series(std::iter::once(PathElement::new(line, grey))).or_plot(t)?;
        let (x, y) = mollweide(179.999, lat);
        chart
            .draw_series(std::iter::once(Text::new(format!("{lat:+.0}°"), (x - 0.32, y + 0.05), text(11))))
            .or_plot(t)?;
    }
    for lon in [60.0, 120.0, 240.0, 300.0] {
        let (x, y) = mollweide(lon, 0.0);
        chart.draw_series(std::iter::once(Text::new(format!("{lon:.0}°"), (x, y), text(11)))).or_plot(t)?;
    }
    Ok(())
}

impl HealpixMap {
    /// Mollweide all-sky view of this map, titled `title` (give the unit in it).
    pub fn plot(&self, title: &str) -> Figure {
        Figure::or_failed(
            "HealpixMap::plot",
            (|| -> Result<Figure> {
                let label = if self.unit.is_empty() { "value".to_string() } else { format!("[{}]", self.unit) };
                Ok(AllSky::map(title, self, label)?.figure("map"))
            })(),
        )
    }
}

impl Sky {
    /// Mollweide all-sky view of `band` with the 48 tiles and the split of `tiling` drawn on it.
    pub fn plot(&self, band: Band, tiling: &Tiling) -> Figure {
        Figure::or_failed(
            "Sky::plot",
            (|| -> Result<Figure> {
                let map = self.band(band).ok_or_else(|| {
                    let have: Vec<&str> = self.bands().iter().map(|b| b.name()).collect();
                    Error::param(
                        "Sky::plot band",
                        format!("{} is not in this sky (it has {})", band.name(), have.join(", ")),
                    )
                })?;
                let unit = if map.unit.is_empty() { "dimensionless".to_string() } else { map.unit.clone() };
                let title = format!("{} [{unit}], nside {}: tiles and split", band.name(), map.nside);
                let label = format!("{} [{unit}] (0.5–99.5 percentile range)", band.name());
                Ok(AllSky::map(title, map, label)?.with_tiles(tiling).figure(&format!("sky_{}", band.name())))
            })(),
        )
    }
}

impl Tiling {
    /// The 48 tiles (HEALPix nside 2, RING numbers) coloured by their split, Mollweide projection.
    pub fn plot(&self) -> Figure {
        let counts = |s: Split| self.tiles(s).len();
        let title = format!(
            "Tiles (HEALPix nside 2, RING): {} train, {} val, {} test",
            counts(Split::Train),
            counts(Split::Val),
            counts(Split::Test)
        );
        AllSky::splits(title, self).figure("tiles")
    }
}
