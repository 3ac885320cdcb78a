//! The all-sky map of detections, coloured by match class (known, unknown, likely contaminant),
//! over the tiles coloured by split.

use plotters::style::RGBColor;
use polars::prelude::*;

use crate::crossmatch::Matched;
use crate::error::{Error, Result};
use crate::tiles::Tiling;

use super::prediction::{CONTAMINANT, KNOWN, UNKNOWN};
use super::sky::{AllSky, Markers};
use super::Figure;

/// Marker colours of the match classes, as in the prediction panel.
const CLASSES: [(&str, RGBColor); 3] = [("known", KNOWN), ("unknown", UNKNOWN), ("contaminant", CONTAMINANT)];

impl Matched {
    /// Mollweide map of the detections, one colour per `class`, over the tiles and split of the scan
    /// they come from (the default tiling for a table not made by the chain).
    pub fn plot(&self) -> Figure {
        let tiling = self.origin().map_or_else(Tiling::default, |o| o.tiling.clone());
        self.plot_on(&tiling)
    }

    /// Mollweide map of the detections, one colour per `class`, over `tiling`'s tiles and split.
    pub fn plot_on(&self, tiling: &Tiling) -> Figure {
        Figure::or_failed(
            "Matched::plot",
            (|| -> Result<Figure> {
                let df = self.detections();
                let col = |name: &str| -> Result<Vec<Option<f64>>> {
                    Ok(df.column(name)?.cast(&DataType::Float64)?.f64()?.iter().collect())
                };
                let (glon, glat) = (col("glon")?, col("glat")?);
                let class = df.column("class")?.str()?.clone();
                let mut markers: Vec<Markers> = CLASSES
                    .iter()
                    .map(|&(name, colour)| Markers { name: name.into(), colour, points: Vec::new() })
                    .collect();
                for k in 0..df.height() {
                    let (Some(l), Some(b), Some(c)) = (glon[k], glat[k], class.get(k)) else { continue };
                    let set = markers
                        .iter_mut()
                        .find(|m| m.name == c)
                        .ok_or_else(|| Error::param("Matched::plot", format!("unknown detection class {c:?}")))?;
                    set.points.push((l, b));
                }
                let mut sky = AllSky::splits(format!("{} detections by match class", df.height()), tiling);
                sky.markers = markers;
                Ok(sky.figure("detections"))
            })(),
        )
    }
}
