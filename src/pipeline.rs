//! The end-to-end run: every stage that exists, in order.
//!
//! In: [`Params`]. Out: the output folders, the tables of the stages that ran, and the list of
//! stages this version cannot run yet (filled in by later work; `xcluster run` prints it).

use chrono::Local;
use polars::prelude::*;

use crate::catalog::Catalogs;
use crate::error::Result;
use crate::output::{write_csv, OutputDirs};
use crate::params::{Params, SkySource};

/// A stage of the pipeline and whether this version implements it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Params, output folders, catalogs, tiles and the train/val/test assignment of clusters.
    Foundation,
    /// The embedded Planck-like synthetic sky.
    SyntheticSky,
    /// Real Planck / MILCA maps from files.
    PlanckMaps,
    /// Patches, labels, normalisation and datasets.
    Patches,
    /// Networks, losses and training.
    Train,
    /// Scanning, detection, cross-matching and evaluation.
    Detect,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] =
        [Stage::Foundation, Stage::SyntheticSky, Stage::PlanckMaps, Stage::Patches, Stage::Train, Stage::Detect];

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Foundation => "foundation (params, catalogs, tiles)",
            Stage::SyntheticSky => "synthetic sky",
            Stage::PlanckMaps => "Planck maps",
            Stage::Patches => "patches / labels / normalisation / dataset",
            Stage::Train => "model training",
            Stage::Detect => "detection / cross-match / evaluation",
        }
    }

    /// Whether this version of xcluster implements the stage.
    pub fn is_built(self) -> bool {
        matches!(self, Stage::Foundation)
    }
}

/// What [`run`] produced.
#[derive(Debug)]
pub struct RunReport {
    /// The run's output folders.
    pub dirs: OutputDirs,
    /// One row per built-in catalog: `catalog`, `n`, `with_z`, `with_m500`.
    pub catalogs: DataFrame,
    /// Clusters of `params.dataset` per split: `split`, `clusters`.
    pub split_counts: DataFrame,
    /// Stages needed by `params` that this version cannot run yet.
    pub missing: Vec<Stage>,
}

/// What the catalog stage produced (and wrote under `files/`).
#[derive(Debug)]
pub struct CatalogStage {
    /// One row per built-in catalog (`catalogs.csv`).
    pub summary: DataFrame,
    /// The clusters of `params.dataset` with their tile and split (`dataset_clusters.csv`).
    pub clusters: DataFrame,
}

/// The catalog stage: from `catalogs`, select `params.dataset`, assign tiles and splits, and write
/// `files/catalogs.csv` and `files/dataset_clusters.csv` under `dirs`.
pub fn catalog_stage(params: &Params, catalogs: &Catalogs, dirs: &OutputDirs) -> Result<CatalogStage> {
    let summary = catalogs.summary()?;
    write_csv(&dirs.files.join("catalogs.csv"), &summary)?;
    let clusters = catalogs.dataset(params.dataset)?.with_tiles(&params.tiling()?)?;
    write_csv(&dirs.files.join("dataset_clusters.csv"), &clusters)?;
    Ok(CatalogStage { summary, clusters })
}

/// Rows per split of a table with a `split` column: `split`, `clusters`, sorted by split.
pub fn split_counts(clusters: &DataFrame) -> Result<DataFrame> {
    Ok(clusters
        .clone()
        .lazy()
        .group_by([col("split")])
        .agg([len().cast(DataType::UInt32).alias("clusters")])
        .sort(["split"], Default::default())
        .collect()?)
}

/// Run every stage that exists, writing `files/catalogs.csv` and `files/dataset_clusters.csv`.
pub fn run(params: &Params) -> Result<RunReport> {
    params.validate()?;
    let dirs = OutputDirs::resolve(params, Local::now().date_naive())?;
    dirs.create()?;
    let CatalogStage { summary, clusters } = catalog_stage(params, &Catalogs::builtin()?, &dirs)?;
    let split_counts = split_counts(&clusters)?;
    let sky_stage = match params.sky {
        SkySource::Synthetic => Stage::SyntheticSky,
        SkySource::Planck => Stage::PlanckMaps,
    };
    let missing =
        [sky_stage, Stage::Patches, Stage::Train, Stage::Detect].into_iter().filter(|s| !s.is_built()).collect();
    Ok(RunReport { dirs, catalogs: summary, split_counts, missing })
}
