//! What the stage values show as a notebook cell's value: an HTML card with their key numbers
//! (and their table where they have one). The chain's own values are summarised in
//! [`crate::chain`]; these are the stage types below it.

use super::table::{card, card_or_error, NotebookDisplay, Summary};
use crate::catalog::{Catalog, Catalogs};
use crate::crossmatch::Matched;
use crate::dataset::Dataset;
use crate::detect::Detections;
use crate::evaluate::Evaluation;
use crate::normalise::Normaliser;
use crate::patches::Patches;
use crate::predict::Predictions;
use crate::sky::Sky;
use crate::synthetic::Truth;
use crate::tiles::{Split, Tiling};
use crate::train::{Model, Trained};

/// Band names joined with commas.
pub(crate) fn band_list(bands: &[crate::sky::Band]) -> String {
    bands.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
}

/// `x` to 3 significant digits, or `–` when absent.
pub(crate) fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{x:.3}"))
}

impl NotebookDisplay for Sky {
    fn to_html(&self) -> String {
        let rows = [
            ("bands", band_list(&self.bands())),
            ("nside", self.nside().map_or_else(|| "– (empty)".into(), |n| n.to_string())),
        ];
        card("Sky", &rows, None)
    }
}

impl NotebookDisplay for Truth {
    fn to_html(&self) -> String {
        let rows = [
            ("injected clusters", self.clusters.height().to_string()),
            ("compact sources", self.sources.height().to_string()),
        ];
        card("Truth", &rows, Some(&self.clusters))
    }
}

impl NotebookDisplay for Tiling {
    fn to_html(&self) -> String {
        let list = |s: Split| format!("{:?}", self.tiles(s));
        let rows = [
            ("train tiles", self.tiles(Split::Train).len().to_string()),
            ("val tiles", list(Split::Val)),
            ("test tiles", list(Split::Test)),
        ];
        card("Tiling", &rows, None)
    }
}

impl NotebookDisplay for Catalog {
    fn to_html(&self) -> String {
        card(&format!("Catalog {}", self.name()), &[("rows", self.len().to_string())], Some(self.df()))
    }
}

impl NotebookDisplay for Catalogs {
    fn to_html(&self) -> String {
        let made = self.summary().map(|df| {
            let contaminants: Vec<&str> = self.contaminants().iter().map(|c| c.name()).collect();
            (vec![("contaminant catalogs", format!("{contaminants:?}"))], Some(df))
        });
        card_or_error("Catalogs", made)
    }
}

impl NotebookDisplay for Normaliser {
    fn to_html(&self) -> String {
        let rows = vec![
            ("method", format!("{:?}", self.method())),
            ("range compression", self.range_compressed().to_string()),
        ];
        card_or_error("Normaliser", self.df().map(|df| (rows, Some(df))))
    }
}

impl NotebookDisplay for Patches {
    fn to_html(&self) -> String {
        let rows = [
            ("patches", self.len().to_string()),
            ("bands", band_list(self.bands())),
            ("size", format!("{0} × {0} px", self.size())),
            ("normalised", self.is_normalised().to_string()),
        ];
        card("Patches", &rows, None)
    }
}

impl NotebookDisplay for Dataset {
    fn to_html(&self) -> String {
        let masks = self.masks();
        let labelled = masks.iter().filter(|&&m| m > 0.5).count() as f64 / masks.len().max(1) as f64;
        let rows = [
            ("patches", self.len().to_string()),
            ("bands", band_list(self.patches().bands())),
            ("size", format!("{0} × {0} px", self.patches().size())),
            ("labelled pixels", format!("{:.2} %", 100.0 * labelled)),
        ];
        card("Dataset", &rows, None)
    }
}

impl NotebookDisplay for Predictions {
    fn to_html(&self) -> String {
        let peaks = self.peaks();
        let rows = [
            ("maps", self.len().to_string()),
            ("highest probability", num(peaks.iter().copied().reduce(f32::max).map(f64::from))),
            ("maps with a pixel ≥ 0.9", peaks.iter().filter(|&&p| p >= 0.9).count().to_string()),
        ];
        card("Predictions", &rows, None)
    }
}

impl NotebookDisplay for Detections {
    fn to_html(&self) -> String {
        card("Detections", &[("detections", self.len().to_string())], Some(self.df()))
    }
}

impl NotebookDisplay for Matched {
    fn to_html(&self) -> String {
        let text = self.results_txt();
        let last = text.lines().last().unwrap_or_default().to_string();
        card("Matched", &[("classes", last)], Some(self.summary()))
    }
}

impl NotebookDisplay for Evaluation {
    fn to_html(&self) -> String {
        let rows = [
            ("purity", num(self.purity())),
            ("completeness", num(self.completeness())),
            ("false detections per deg²", num(self.false_per_deg2())),
        ];
        card("Evaluation", &rows, Some(self.summary()))
    }
}

impl NotebookDisplay for Model {
    fn to_html(&self) -> String {
        let c = self.config();
        let rows = [
            ("network", format!("{} {:?}", c.net.architecture.name(), c.net.filters)),
            ("loss", c.loss.name().to_string()),
            ("optimizer", format!("{} at lr {:.1e}", c.optimizer.name(), c.lr)),
            ("schedule", format!("{} epochs × {} steps of {} patches", c.epochs, c.steps_per_epoch, c.batch)),
        ];
        card("Model (untrained)", &rows, None)
    }
}

impl NotebookDisplay for Trained {
    fn to_html(&self) -> String {
        let c = self.config();
        let h = self.history();
        let best = || -> crate::error::Result<Summary> {
            let rows = vec![
                ("network", format!("{} {:?}, {} loss", c.net.architecture.name(), c.net.filters, c.loss.name())),
                (
                    "bands",
                    self.normaliser().map_or_else(|| "– (no normaliser attached)".into(), |n| band_list(n.bands())),
                ),
                ("epochs run", h.height().to_string()),
                (
                    "best epoch",
                    self.best_epoch().map_or_else(
                        || "–".into(),
                        |(k, loss, dice)| format!("{k}: val_loss {} val_dice {}", num(Some(loss)), num(Some(dice))),
                    ),
                ),
            ];
            Ok((rows, Some(h.clone())))
        };
        card_or_error("Trained", best())
    }
}
