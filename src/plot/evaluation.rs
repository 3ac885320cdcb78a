//! Evaluation figures: completeness in bins of a truth column, the purity–completeness curve.

use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::evaluate::Evaluation;

use super::Figure;

impl Evaluation {
    /// Completeness in the bins of truth column `column` (`m500`, `y5r500_arcmin2` or `z`).
    pub fn plot_completeness(&self, column: &str) -> Result<Figure> {
        Err(Error::plot(column, "not built yet"))
    }
}

/// The purity–completeness curve of [`Evaluator::curve`](crate::evaluate::Evaluator::curve)'s table.
pub fn purity_completeness(curve: &DataFrame) -> Result<Figure> {
    let _ = curve;
    Err(Error::plot("purity_completeness", "not built yet"))
}
