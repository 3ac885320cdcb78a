//! The original's prediction panel for one patch: input (y-map), true mask, predicted probability,
//! and the detections on the patch marked by match class.

use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::patches::Patches;
use crate::predict::Predictions;

use super::Figure;

/// Panel for patch `n` of `patches` / `predictions`, with its label `masks` (N×H×W) and the
/// detections table `detections` (`glon`, `glat`, optionally `class`).
pub fn prediction(patches: &Patches, masks: &[f32], predictions: &Predictions, detections: &DataFrame, n: usize) -> Result<Figure> {
    let _ = (patches, masks, predictions, detections);
    Err(Error::plot(format!("prediction {n}"), "not built yet"))
}
