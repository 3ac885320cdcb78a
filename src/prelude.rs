//! Everything a notebook needs: `use xcluster::prelude::*;`. (A FITS map column is chosen by name,
//! `read_map(path, "I_STOKES")`, or with `xcluster::sky::Column`: the prelude leaves the name `Column`
//! to polars, whose prelude a notebook also imports.)

pub use crate::catalog::{crossmatch, Catalog, Catalogs, ClusterSet, ColumnMap, Match};
pub use crate::chain::{Cover, Data, Detected, Sampled, Scan, Tiled};
pub use crate::compare::HeadToHead;
pub use crate::crossmatch::{CrossMatch, Footprint, Matched};
pub use crate::dataset::Dataset;
pub use crate::detect::{Detection, Detections};
pub use crate::error::{Error, Result};
pub use crate::evaluate::{Evaluation, Evaluator};
pub use crate::export::{export, Format};
pub use crate::join::PositionJoin;
pub use crate::labels::Disk;
pub use crate::loss::names::{
    BinaryCrossentropy, Combo, CosineTversky, Dice, Focal, FocalDice, FocalTversky, MixedFocal, Tversky,
};
pub use crate::loss::Loss;
pub use crate::mmf::{Mmf, SourceMask};
pub use crate::model::{Architecture, NetConfig};
pub use crate::normalise::Normaliser;
pub use crate::output::OutputDirs;
pub use crate::params::Params;
pub use crate::patches::{Frame, Interpolation, PatchSampler, Patches};
pub use crate::plot::{Figure, NotebookDisplay};
pub use crate::predict::Predictions;
pub use crate::query::Tables;
pub use crate::region::{Moc, Region};
pub use crate::sky::{
    angular_separation_deg, galactic_to_icrs, icrs_to_galactic, position_angle_deg, read_map, write_map, Band, Grid,
    HealpixMap, Ordering, Sky,
};
pub use crate::synthetic::{Synthetic, Truth};
pub use crate::tiles::{Split, Tiling};
pub use crate::train::{Augmented, Model, OptimizerKind, Trained};
pub use polars::prelude::DataFrame;
