//! The params file: every parameter of the original `params.py` under its own name, plus ours.
//!
//! In: a TOML file (write a commented default with `xcluster init`). Out: validated [`Params`].
//! An unknown key, an unknown band / dataset / model / loss / optimizer or an out-of-range value is
//! an error naming the key and what is allowed. Keys left out take the defaults of [`DEFAULT_PARAMS`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::ClusterSet;
use crate::error::{ensure_param, Error, Result};
use crate::sky::Band;
use crate::tiles::{Split, Tiling, N_TILES};

/// Network names accepted by `model` (the original's, plus `unet_2d` and `vnet`; `attn_unet` = `attn_net`).
pub const MODELS: [&str; 10] =
    ["unet", "unet_2d", "vnet", "r2u_net", "unet_plus", "attn_net", "attn_unet", "resunet_a", "u2net", "unet_3plus"];

/// Loss names accepted by `loss` (the original's nine).
pub const LOSSES: [&str; 9] = [
    "binary_crossentropy",
    "focal_loss",
    "dice_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "focal_dice_loss",
    "combo_loss",
    "cosine_tversky_loss",
    "mixed_focal_loss",
];

/// Optimizer names accepted by `optimizer`.
pub const OPTIMIZERS: [&str; 3] = ["adam", "sgd", "rmsprop"];

/// The default params file, with a comment on every key; `xcluster init` writes it.
/// It is also the single source of the defaults: [`Params::default`] parses it.
pub const DEFAULT_PARAMS: &str = include_str!("params.default.toml");

/// Where the sky maps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SkySource {
    /// The embedded Planck-like synthetic sky (no download).
    Synthetic,
    /// Planck HFI + MILCA maps from `planck_path` / `milca_path`.
    Planck,
}

/// Where the cluster catalogs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogSource {
    /// The catalogs shipped with the crate (`data/catalogs/`, as the original prepared them).
    Builtin,
    /// The real PSZ2 union, MCXC and redMaPPer FITS files in `catalog_path` (`xcluster fetch`),
    /// prepared the original's way (see [`crate::catalog::Catalogs::fetched`]).
    Fetched,
}

/// Radius of the label disks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DiskRadius {
    /// The same radius for every cluster, in arcmin (original default 2.5).
    Arcmin(f64),
    /// A named rule: `"t500-distribution"` (the original's `None`: a radius per patch drawn from
    /// the T500 distribution, 0–15′) or `"theta500"` (each cluster's own θ500 where known).
    Rule(DiskRule),
}

/// What `disk_radius` accepts, as its errors say it.
const DISK_RADIUS_ALLOWED: &str = "must be a number of arcmin in (0, 15], \"t500-distribution\" or \"theta500\"";

// By hand rather than `untagged`: serde's untagged error ("data did not match any variant") names
// neither the value nor what is allowed.
impl<'de> Deserialize<'de> for DiskRadius {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DiskRadius;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(DISK_RADIUS_ALLOWED.trim_start_matches("must be "))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<DiskRadius, E> {
                Ok(DiskRadius::Arcmin(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<DiskRadius, E> {
                Ok(DiskRadius::Arcmin(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<DiskRadius, E> {
                Ok(DiskRadius::Arcmin(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<DiskRadius, E> {
                use serde::de::IntoDeserializer;
                let rule: serde::de::value::StrDeserializer<'_, E> = v.into_deserializer();
                DiskRule::deserialize(rule)
                    .map(DiskRadius::Rule)
                    .map_err(|_| E::custom(format!("{DISK_RADIUS_ALLOWED}; got {v:?}")))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The named radius rules of [`DiskRadius`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskRule {
    /// Radius drawn from the original's T500 distribution.
    T500Distribution,
    /// Each cluster's own θ500.
    Theta500,
}

/// Every parameter of a run. Field names are those of the original `params.py` where it had one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    // PATHS
    /// Base folder: outputs go to `<path>/output/<dataset>/<yyyy-mm-dd>/`.
    pub path: PathBuf,
    /// Folder with the Planck HFI full-sky maps (`sky = "planck"`).
    pub planck_path: PathBuf,
    /// Folder with the MILCA Compton-y map (`sky = "planck"`).
    pub milca_path: PathBuf,
    /// Folder for the all-sky tile figures, relative to `path`.
    pub healpix_path: PathBuf,
    /// Folder with the real catalogs (PSZ2 union, MCXC, redMaPPer, PCCS2, PGCC) from `xcluster fetch`.
    pub catalog_path: PathBuf,
    // GLOBAL
    /// Which clusters seed training patches (cumulative: planck_z ⊂ planck_no-z ⊂ MCXC ⊂ RM30/RM50).
    pub dataset: ClusterSet,
    /// Input bands of the network.
    pub bands: Vec<Band>,
    /// Reuse the most recent dated output folder instead of creating today's.
    pub merge_daily_output_directory: bool,
    /// Label disk radius.
    pub disk_radius: DiskRadius,
    // CATALOGS
    /// Plot the catalogs on the sky.
    pub plot_catalogs: bool,
    // DATASET
    /// Training patches per cluster (one per loop, each with a new random shift and rotation).
    pub loops: u32,
    /// Normalise with a Gaussian fit up to the histogram mode instead of the MAD.
    pub fit_up_to_mode: bool,
    /// Apply arcsinh(x/σ) after scaling.
    pub range_compression: bool,
    /// Plot example training patches.
    pub plot_dataset: bool,
    // TRAIN
    /// Maximum training epochs.
    pub epochs: u32,
    /// Batch size.
    pub batch: u32,
    /// Initial learning rate.
    pub lr: f64,
    /// Early-stopping patience in epochs.
    pub patience: u32,
    /// ReduceLROnPlateau patience in epochs, below `patience`.
    pub lr_patience: u32,
    /// Training steps per epoch; 0 = one pass over the training patches.
    pub steps_per_epoch: u32,
    /// Encoder widths of the network, finest first; empty = the architecture's reference widths.
    pub filters: Vec<usize>,
    /// Network architecture, one of [`MODELS`].
    pub model: String,
    /// Loss function, one of [`LOSSES`].
    pub loss: String,
    /// Optimizer, one of [`OPTIMIZERS`].
    pub optimizer: String,
    // PREDICT
    /// Plot the prediction panel of the test tile.
    pub plot_prediction: bool,
    /// Plot every predicted patch.
    pub plot_individual_patchs: bool,
    // OURS
    /// Seed of every random draw (same params → same outputs).
    pub seed: u64,
    /// Where the maps come from: the synthetic sky or Planck files.
    pub sky: SkySource,
    /// Where the cluster catalogs come from: the shipped ones or the fetched FITS files.
    pub catalogs: CatalogSource,
    /// nside of the synthetic sky.
    pub nside: u32,
    /// Validation tiles (RING pixels 0…47 of nside 2).
    pub val_tiles: Vec<u32>,
    /// Test tiles.
    pub test_tiles: Vec<u32>,
    /// Patch side in pixels.
    pub patch_size: u32,
    /// Patch pixel size in arcmin.
    pub pixel_size_arcmin: f64,
}

impl Default for Params {
    fn default() -> Self {
        match Params::from_toml("") {
            Ok(p) => p,
            Err(e) => panic!("the shipped default params file is invalid: {e}"),
        }
    }
}

impl Params {
    /// Read and validate a params file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text).map_err(|e| match e {
            Error::Param { what, message } => Error::param(format!("{}: {what}", path.display()), message),
            other => other,
        })
    }

    /// Parse and validate params from TOML text; keys left out take the values of [`DEFAULT_PARAMS`].
    pub fn from_toml(text: &str) -> Result<Self> {
        let syntax = |source: &str, e: toml::de::Error| {
            // toml's span is in bytes; an editor shows lines and columns (of characters).
            let at = e.span().and_then(|s| {
                let before = source.get(..s.start)?;
                let line = before.matches('\n').count() + 1;
                let column = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
                let near = source.get(s).map(str::trim).filter(|n| !n.is_empty());
                Some(format!(
                    " line {line}, column {column}{}",
                    near.map(|n| format!(" near {n:?}")).unwrap_or_default()
                ))
            });
            Error::param(format!("params{}", at.unwrap_or_default()), e.message().to_string())
        };
        let mut table: toml::Table = DEFAULT_PARAMS.parse().map_err(|e| syntax(DEFAULT_PARAMS, e))?;
        let user: toml::Table = text.parse().map_err(|e| syntax(text, e))?;
        let parse = |table: toml::Table| -> Result<Params, toml::de::Error> { toml::Value::Table(table).try_into() };
        let defaults = table.clone();
        table.extend(user.clone());
        let params = parse(table).map_err(|e| {
            // The merged table has no spans: find the user's key that fails on its own.
            let culprit = user.iter().find(|(k, v)| {
                let mut one = defaults.clone();
                one.insert(k.to_string(), (*v).clone());
                parse(one).is_err()
            });
            let key = culprit.map(|(k, _)| k.as_str()).unwrap_or("");
            Error::param(format!("params {key}").trim_end(), e.message().to_string())
        })?;
        params.validate()?;
        Ok(params)
    }

    /// Check every value; the error names the key and the allowed values or range.
    pub fn validate(&self) -> Result<()> {
        ensure_param!(!self.bands.is_empty(), "bands", "at least one band is needed");
        for (i, b) in self.bands.iter().enumerate() {
            ensure_param!(!self.bands[..i].contains(b), "bands", "band {b} is listed twice");
        }
        if let DiskRadius::Arcmin(r) = self.disk_radius {
            ensure_param!(r > 0.0 && r <= 15.0, "disk_radius", "{DISK_RADIUS_ALLOWED}; got {r}");
        }
        ensure_param!((1..=10_000).contains(&self.loops), "loops", "must be in 1…10000, got {}", self.loops);
        ensure_param!((1..=100_000).contains(&self.epochs), "epochs", "must be in 1…100000, got {}", self.epochs);
        ensure_param!((1..=100_000).contains(&self.batch), "batch", "must be in 1…100000, got {}", self.batch);
        ensure_param!(self.lr > 0.0 && self.lr <= 10.0, "lr", "must be in (0, 10], got {}", self.lr);
        ensure_param!(
            self.lr_patience >= 1 && self.lr_patience < self.patience,
            "lr_patience",
            "must be in 1…patience − 1 = {} so the learning rate drops before training stops, got {}",
            self.patience.saturating_sub(1),
            self.lr_patience
        );
        ensure_param!(
            self.filters.is_empty()
                || (self.filters.len() >= 2 && self.filters.iter().all(|&f| (1..=4096).contains(&f))),
            "filters",
            "must be empty (reference widths) or list at least two widths in 1…4096, got {:?}",
            self.filters
        );
        one_of("model", &self.model, &MODELS)?;
        one_of("loss", &self.loss, &LOSSES)?;
        one_of("optimizer", &self.optimizer, &OPTIMIZERS)?;
        ensure_param!(
            self.nside.is_power_of_two() && (64..=2048).contains(&self.nside),
            "nside",
            "must be a power of two in 64…2048, got {}",
            self.nside
        );
        let tiling = self.tiling()?;
        // Training validates after every epoch and fits the normaliser on the training tiles: without
        // either it would fail only after the sky is built (e.g. "median: no values").
        ensure_param!(
            !self.val_tiles.is_empty(),
            "val_tiles",
            "at least one validation tile is needed: training measures the validation loss after every epoch"
        );
        ensure_param!(
            !tiling.tiles(Split::Train).is_empty(),
            "val_tiles",
            "with test_tiles it covers all {N_TILES} tiles ({} validation, {} test), leaving none for training; \
             remove at least one",
            self.val_tiles.len(),
            self.test_tiles.len()
        );
        ensure_param!(
            self.patch_size.is_multiple_of(2) && (8..=512).contains(&self.patch_size),
            "patch_size",
            "must be even and in 8…512, got {}",
            self.patch_size
        );
        ensure_param!(
            self.pixel_size_arcmin > 0.0 && self.pixel_size_arcmin <= 60.0,
            "pixel_size_arcmin",
            "must be in (0, 60], got {}",
            self.pixel_size_arcmin
        );
        Ok(())
    }

    /// The tiling of `val_tiles` / `test_tiles`.
    pub fn tiling(&self) -> Result<Tiling> {
        Tiling::new(&self.val_tiles, &self.test_tiles)
    }

    /// The params as TOML (without comments), e.g. to save next to outputs.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::param("params", e.to_string()))
    }
}

fn one_of(key: &str, value: &str, allowed: &[&str]) -> Result<()> {
    ensure_param!(allowed.contains(&value), key, "unknown value {value:?}; allowed: {}", allowed.join(", "));
    Ok(())
}
