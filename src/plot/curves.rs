//! Line charts: training curves from a history DataFrame, and runs compared on one metric.

use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::train::Trained;

use super::Figure;

/// One line of a chart: its legend name and (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart of `series` titled `title` with axis labels `(x, y)`.
pub fn curves(title: &str, labels: (&str, &str), series: &[Series]) -> Result<Figure> {
    let _ = (labels, series);
    Err(Error::plot(title, "not built yet"))
}

/// Training curves of a history DataFrame ([`Trained::history`]).
pub fn history(history: &DataFrame) -> Result<Figure> {
    let _ = history;
    Err(Error::plot("history", "not built yet"))
}

/// Column `column` (e.g. `val_dice`) of several histories, one line per (name, history).
pub fn compare(histories: &[(&str, &DataFrame)], column: &str) -> Result<Figure> {
    let _ = histories;
    Err(Error::plot(column, "not built yet"))
}

impl Trained {
    /// The training curves of this network ([`history`]).
    pub fn plot(&self) -> Result<Figure> {
        history(self.history())
    }
}
