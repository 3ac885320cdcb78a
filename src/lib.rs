//! # xcluster — galaxy clusters in full-sky microwave maps with U-Net segmentation
//!
//! xcluster re-creates the xCluster pipeline (Jiménez 2021): Planck HFI maps (100–857 GHz) and a
//! Compton-y map are cut into HEALPix tiles, turned into 64×64 patches around known clusters,
//! normalised, used to train a U-Net-family network, and the network's detections on a held-out
//! tile are cross-matched with cluster, infrared and point-source catalogs.
//!
//! ## The chain: one line per stage
//! Each stage returns an owned value that keeps what the next one needs ([`chain`]), so each line
//! can be its own notebook cell, where the value shows a summary; `.df()` gives its table and
//! `.plot()` its figure. On a tiny synthetic sky (seconds):
//! ```
//! use xcluster::prelude::*;
//! let (sky, truth) = Sky::synthetic(Synthetic::planck_like().nside(128).bands(&[Band::F143, Band::YMap]))?;
//! let cats = Catalogs::builtin()?.with_contaminants(truth.contaminants()?); // the sky's own sources
//! let data = sky.tiles(Tiling::default()).patches(cats.planck_z()?).loops(1).normalise(Normaliser::mad())?;
//! let trained = Model::unet().filters(&[4, 8]).loss(FocalTversky).epochs(1).steps_per_epoch(2).batch(4)
//!     .progress(false).fit(&data)?;
//! let matched = trained.scan(&data)?.detect()?.crossmatch(&cats)?;
//! let evaluation = matched.evaluate(&truth)?;            // only the simulation knows its clusters
//! assert_eq!(trained.history().height(), 1);
//! assert_eq!(matched.summary().height(), 5);             // PSZ2 z, PSZ2 no-z, MCXC, RM50, RM30
//! assert!(evaluation.completeness().is_some(), "clusters lie on the scanned test tile");
//! # Ok::<(), xcluster::Error>(())
//! ```
//! The truth travels beside the sky, not inside it: the maps are what a detector sees, and only
//! the evaluation and the synthetic sky's contaminant list read the truth. With a params file,
//! `let (sky, truth) = Sky::load(&params)?` reads the sky it names (the synthetic one with its
//! truth, or the Planck maps with none), and the command line (`xcluster run`) runs the same chain
//! with its values.
//!
//! ## The pipeline, one module per stage
//! | stage | module | in → out |
//! |---|---|---|
//! | parameters | [`params`] | TOML file → validated [`params::Params`] (typed: [`model::Architecture`], [`loss::Loss`], [`train::OptimizerKind`], detection and cross-match settings); the one place it turns into stage values (`Sky::load(&params)`, `Model::from_params`, …), and the source of the builders' defaults |
//! | bands | [`band`] | `100GHz` … `857GHz`, `y-map` → [`band::Band`], the key of every map, patch channel and normaliser entry |
//! | sky | [`sky`] | FITS files / memory → [`sky::HealpixMap`], [`sky::Sky`]; coordinates; spherical harmonics ([`sky::sht`]) |
//! | synthetic sky | [`synthetic`] | recipe → Planck-like [`sky::Sky`] (6 HFI bands + y) and beside it its [`synthetic::Truth`] |
//! | tiles | [`tiles`] | positions → tile (0…47) and split (train / val / test) |
//! | catalogs | [`catalog`] | CSV / Parquet / FITS → [`catalog::Catalog`]; the published catalogs ([`catalog::RealCatalog`]: PSZ2 union, MCXC, redMaPPer, PCCS2, PGCC); cross-matching |
//! | patches | [`patches`] | sky + tiling + catalog → [`patches::Patches`] (N×C×H×W + metadata): training shifts/rotations, scan grids, streaming |
//! | normalise | [`normalise`] | training patches → [`normalise::Normaliser`] (σ per band, MAD or mode fit, arcsinh) |
//! | labels | [`labels`] | patches + disk rule → masks ([`labels::Disk`]) |
//! | dataset | [`dataset`] | patches + masks → [`dataset::Dataset`]: shuffle, batches, `.npz` + Parquet |
//! | networks | [`model`] | [`model::NetConfig`] (architecture, bands, widths) → [`model::Net`]: `[N, bands, H, W]` → `[N, 1, H, W]` probabilities (burn; CPU, or a GPU with the `cuda` or `wgpu` feature) |
//! | losses | [`loss`] | probabilities + masks → one of nine losses; [`loss::Confusion`] metrics |
//! | training | [`train`] | [`train::Model`] + training data + validation [`dataset::Dataset`] → [`train::Trained`] (best weights, history DataFrame; checkpoints: settings in `model.json`, training state in `state.json`, resumable) |
//! | prediction | [`predict`] | trained network + normalised patches → [`predict::Predictions`] (probability maps) |
//! | detection | [`detect`] | probability maps → components → sky positions → merged [`detect::Detections`] |
//! | cross-match | [`crossmatch`] | detections + cluster / contaminant catalogs + scanned patches → [`crossmatch::Matched`]: known / unknown / contaminant, `matched_unique(matched)/possible_unique(possible)` |
//! | queries | [`query`], [`join`], [`region`], [`export`] | any table → SQL results ([`query::Tables`], `matched.sql(…)`), positional joins with any catalog ([`join::PositionJoin`]), rows inside a cone / box / tiles / latitude cut / HEALPix MOC ([`region::Region`], [`region::Moc`]), files TOPCAT / Aladin / astropy open (CSV, Parquet, FITS, VOTable, DS9 regions) |
//! | evaluation | [`evaluate`] | detections + synthetic truth → [`evaluate::Evaluation`]: purity, completeness (binned), false detections per deg², purity–completeness curves |
//! | outputs | [`output`] | params → `output/<dataset>/<date>/{files,figures,models}`, atomic writes |
//! | real data | [`manifest`], [`fetch`] | `datasets-manifest/planck.toml` → the Planck maps and catalogs, downloaded, resumed, verified |
//! | chain | [`chain`] | the stages above as owned values, one call each: `sky.tiles().patches().normalise()`, `fit`, `scan().detect().crossmatch()`, `evaluate()` |
//! | run | [`pipeline`] | params → the chain, with every file and figure written |
//! | benchmarks | [`mod@bench`] | sizes → throughput table |
//!
//! | figures | [`plot`] | any of the above → [`plot::Figure`]: inline in evcxr, `.save("x.png" \| "x.svg")` |
//!
//!
//! ## Quick start
//! ```
//! use xcluster::prelude::*;
//! let cats = Catalogs::builtin()?;
//! let tiling = Tiling::default();
//! let psz2 = cats.dataset(ClusterSet::PlanckZ)?.with_tiles(&tiling)?;   // adds tile, split
//! assert_eq!(psz2.height(), 1094);
//! let (l, b) = icrs_to_galactic(194.95, 27.98);                         // Coma
//! assert_eq!(Tiling::tile_of(l, b), Tiling::tile_of(58.1, 88.0));
//! # Ok::<(), xcluster::Error>(())
//! ```
//!
//! Angles are f64 degrees at the API (latitude, not colatitude), radii in arcmin where the
//! original used arcmin; maps are f32. Errors are [`Error`], naming the file or parameter at fault.

#![warn(missing_docs)]

pub mod band;
pub mod bench;
pub mod catalog;
pub mod chain;
pub mod compare;
pub mod cosmology;
pub mod crossmatch;
pub mod dataset;
pub mod detect;
mod error;
pub mod evaluate;
pub mod export;
pub mod fetch;
pub mod join;
pub mod labels;
pub mod loss;
pub mod manifest;
pub mod mmf;
pub mod model;
pub mod normalise;
pub mod output;
pub mod params;
pub mod patches;
pub mod pipeline;
pub mod plot;
pub mod predict;
pub mod prelude;
pub mod query;
pub mod region;
pub mod sky;
pub mod synthetic;
pub mod tiles;
pub mod train;

pub use error::{Error, Result};
/// The polars version xcluster is built with: notebooks use `xcluster::polars` instead of their own
/// `:dep polars`, which could resolve to another, incompatible version. Its prelude also holds the
/// eager CSV and Parquet readers and writers (from polars-io, see Cargo.toml).
pub mod polars {
    pub use ::polars::*;
    /// polars' prelude plus polars-io's (`CsvReadOptions`, `ParquetReader`, `CsvWriter`, …).
    pub mod prelude {
        pub use ::polars::prelude::*;
        // Both preludes export a `slice`; polars' (the expression) is the one a query means.
        pub use ::polars::prelude::slice;
        pub use ::polars_io::prelude::*;
    }
}
