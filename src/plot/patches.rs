//! Patch figures: patches per band with their label masks, pixel distributions per band.

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::patches::Patches;

use super::Figure;

impl Patches {
    /// The first `n` patches, one row each, one column per band.
    pub fn plot(&self, n: usize) -> Result<Figure> {
        Err(Error::plot(format!("patches {n}"), "not built yet"))
    }
}

impl Dataset {
    /// The first `n` patches, one row each: one column per band, then the label mask.
    pub fn plot(&self, n: usize) -> Result<Figure> {
        Err(Error::plot(format!("dataset {n}"), "not built yet"))
    }
}

/// Pixel distributions: one row per (name, patches) set, one column per band.
pub fn histograms(sets: &[(&str, &Patches)]) -> Result<Figure> {
    let _ = sets;
    Err(Error::plot("histograms", "not built yet"))
}
