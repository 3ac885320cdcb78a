//! The params file: every parameter of the original `params.py` under its own name, plus ours.
//!
//! In: a TOML file (write a commented default with `xcluster init`). Out: validated [`Params`], whose
//! values are the stages' own types: `model` an [`Architecture`], `loss` a [`Loss`], `optimizer` an
//! [`OptimizerKind`], each parsed through that type's one list of names. An unknown key, an unknown
//! band / dataset / model / loss / optimizer or an out-of-range value is an error naming the key and
//! what is allowed; each range is checked once, by the stage type's own `validate`
//! ([`TrainConfig`], [`Disk`], [`Detection`], [`CrossMatch`]), which [`Params::validate`] calls.
//! Keys left out take the defaults of [`DEFAULT_PARAMS`].
//!
//! This module is also the one place where the params file turns into stage values, so no stage
//! module depends on it: the adapters [`Sky::load`], [`Sky::planck`], [`Synthetic::from_params`],
//! [`Catalogs::from_params`], [`Model::from_params`], [`TrainConfig::from_params`],
//! [`Normaliser::from_params`], [`PatchSampler::params`], [`SamplerSettings::from_params`],
//! [`Disk::from_params`], [`Detection::from_params`], [`CrossMatch::from_params`], [`Mmf::from_params`],
//! [`OutputDirs::resolve`], [`Folder::of`], [`Dataset::path`] and [`Manifest::select`] are defined
//! here. The builders' defaults are the params file's: `TrainConfig::default()` (and so
//! [`Model::new`]), `SamplerSettings::default()` (and so every [`PatchSampler`]),
//! `NormaliserSpec::default()`, `Disk::default()`, `Detection::default()` and `CrossMatch::default()`
//! are built from [`Params::default`].

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalogs, ClusterSet};
use crate::crossmatch::CrossMatch;
use crate::detect::Detection;
use crate::error::{ensure_param, Error, Result};
use crate::labels::Disk;
use crate::loss::Loss;
use crate::manifest::{Dataset, Folder, Manifest};
use crate::mmf::Mmf;
use crate::model::{Architecture, NetConfig};
use crate::normalise::{Normaliser, NormaliserSpec};
use crate::output::OutputDirs;
use crate::patches::{PatchSampler, SamplerSettings};
use crate::sky::{Band, Sky};
use crate::synthetic::{Synthetic, Truth};
use crate::tiles::{Split, Tiling, N_TILES};
use crate::train::{Model, OptimizerKind, TrainConfig, LR_FACTOR};

/// The default params file, with a comment on every key; `xcluster init` writes it.
/// It is also the single source of the defaults: [`Params::default`] parses it.
pub const DEFAULT_PARAMS: &str = include_str!("params.default.toml");

/// [`DEFAULT_PARAMS`] parsed, once.
static DEFAULTS: LazyLock<Params> = LazyLock::new(|| match Params::from_toml("") {
    Ok(p) => p,
    Err(e) => panic!("the shipped default params file is invalid: {e}"),
});

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
    /// Network architecture, by one of the names of [`Architecture::ALL`] (or [`Architecture::ALIASES`]).
    pub model: Architecture,
    /// Loss function: a name of [`Loss::ALL`] (`loss = "tversky_loss"`: its default hyper-parameters),
    /// or a table of the name and the hyper-parameters to change (`loss = { name = "tversky_loss", delta = 0.7 }`).
    #[serde(with = "loss_by_name")]
    pub loss: Loss,
    /// Optimizer, by one of the names of [`OptimizerKind::ALL`].
    pub optimizer: OptimizerKind,
    // PREDICT
    /// Plot the prediction panel of the test tile.
    pub plot_prediction: bool,
    /// Plot every predicted patch.
    pub plot_individual_patchs: bool,
    // DETECT ([`Detection`])
    /// Probability threshold of a detection's pixels, in (0, 1].
    pub threshold: f64,
    /// Smallest component in pixels, ≥ 1.
    pub min_pixels: u32,
    /// No component reaches farther than this from its peak, arcmin > 0.
    pub max_radius_arcmin: f64,
    /// 8 (diagonal neighbours join a component) or 4.
    pub connectivity: u8,
    /// Detections of different patches closer than this are one object, arcmin in (0, 600].
    pub merge_radius_arcmin: f64,
    // CROSSMATCH ([`CrossMatch`])
    /// A detection is a catalog cluster when one lies within this, arcmin in (0, 600].
    pub cluster_radius_arcmin: f64,
    /// An unknown detection is a contaminant when a source lies within this, arcmin in (0, 600].
    pub contaminant_radius_arcmin: f64,
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
    // MMF ([`Mmf`]: the matched filter, `xcluster mmf` and the comparison of `xcluster run`)
    /// Matched-filter detection threshold on S/N (Planck PSZ2: 4.5).
    pub mmf_snr_threshold: f64,
    /// Matched-filter patch side in pixels (256: enough modes per annulus for a stable P(k)⁻¹).
    pub mmf_patch_size: u32,
    /// Matched-filter patch pixel size in arcmin.
    pub mmf_pixel_size_arcmin: f64,
    /// Matched-filter peaks of different patches closer than this are one object, arcmin in (0, 600].
    pub mmf_merge_radius_arcmin: f64,
    /// iMMF iterations: P(k) re-estimated with the detections masked (0 = plain MMF).
    pub mmf_iterations: u32,
    /// Radius masked around each contaminant source before the matched filter, arcmin (0 = none).
    pub mmf_source_mask_arcmin: f64,
    /// The bands the matched filter combines (HFI bands, or the y-map alone).
    pub mmf_bands: Vec<Band>,
}

impl Default for Params {
    /// The values of [`DEFAULT_PARAMS`].
    fn default() -> Self {
        DEFAULTS.clone()
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
            // A type's own error already starts with the key ("model: unknown model …").
            let message = e.message();
            let message = message.strip_prefix(&format!("{key}: ")).filter(|_| !key.is_empty()).unwrap_or(message);
            Error::param(format!("params {key}").trim_end(), message.to_string())
        })?;
        params.validate()?;
        Ok(params)
    }

    /// The bands the sky holds: `bands` (the network's) and `mmf_bands` (the matched filter's), in
    /// the original's band order.
    pub fn sky_bands(&self) -> Vec<Band> {
        Band::ALL.into_iter().filter(|b| self.bands.contains(b) || self.mmf_bands.contains(b)).collect()
    }

    /// Check every value; the error names the key and the allowed values or range.
    pub fn validate(&self) -> Result<()> {
        for (key, bands) in [("bands", &self.bands), ("mmf_bands", &self.mmf_bands)] {
            ensure_param!(!bands.is_empty(), key, "at least one band is needed");
            for (i, b) in bands.iter().enumerate() {
                ensure_param!(!bands[..i].contains(b), key, "band {b} is listed twice");
            }
        }
        Disk::from_params(&self.disk_radius, self.seed).validate()?;
        ensure_param!((1..=10_000).contains(&self.loops), "loops", "must be in 1…10000, got {}", self.loops);
        // model, filters, loss, optimizer, lr, epochs, batch, patience, lr_patience.
        TrainConfig::from_params(self).validate()?;
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
        Detection::from_params(self).validate()?;
        CrossMatch::from_params(self).validate()?;
        Mmf::from_params(self).validate()?;
        crate::mmf::SourceMask::new(&[], self.mmf_source_mask_arcmin).validate()?;
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

/// `loss` in the params file: the name alone when the hyper-parameters are the defaults, else a table
/// of the name and the hyper-parameters (`{ name = "tversky_loss", delta = 0.7, smooth = 1e-6 }`); a
/// table read may leave out hyper-parameters, which keep their defaults.
mod loss_by_name {
    use serde::de::Error as _;
    use serde::{Deserialize, Serialize};
    use serde_json::{Map, Value};

    use crate::loss::Loss;

    /// The hyper-parameters of `loss`, and the tag of its variant in its own serialisation.
    fn fields(loss: &Loss) -> (Map<String, Value>, Value) {
        let mut table = match serde_json::to_value(loss) {
            Ok(Value::Object(table)) => table,
            _ => unreachable!("a loss serialises to a table"),
        };
        let tag = table.remove("name").unwrap_or(Value::Null);
        (table, tag)
    }

    pub fn serialize<S: serde::Serializer>(loss: &Loss, s: S) -> Result<S::Ok, S::Error> {
        match Loss::from_name(loss.name()) {
            Ok(default) if default == *loss => s.serialize_str(loss.name()),
            _ => {
                let (mut table, _) = fields(loss);
                table.insert("name".into(), loss.name().into());
                table.serialize(s)
            }
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Loss, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Loss;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a loss name, or a table { name = \"…\", <hyper-parameter> = <value>, … }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Loss, E> {
                Loss::from_name(v).map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Loss, A::Error> {
                let mut given = Map::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                let name = match given.remove("name") {
                    Some(Value::String(name)) => name,
                    _ => return Err(A::Error::custom("a loss table needs its name: { name = \"…\", … }")),
                };
                let default = Loss::from_name(&name).map_err(A::Error::custom)?;
                let (mut table, tag) = fields(&default);
                for (key, value) in given {
                    if !table.contains_key(&key) {
                        let known: Vec<&str> = table.keys().map(String::as_str).collect();
                        let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                        return Err(A::Error::custom(format!("{name} has no {key:?}; its hyper-parameters: {known}")));
                    }
                    table.insert(key, value);
                }
                table.insert("name".into(), tag);
                serde_json::from_value(Value::Object(table)).map_err(|e| A::Error::custom(format!("{name}: {e}")))
            }
        }
        d.deserialize_any(Visitor)
    }
}

// ---- The adapters: the params file → stage values. ----

impl TrainConfig {
    /// The training settings of `p`: `model` with `filters` (empty: its reference widths) for its
    /// number of `bands`, `loss`, `optimizer`, `lr`, `epochs`, `batch`, `steps_per_epoch`, `patience`,
    /// `lr_patience` and `seed`; the plateau factor is [`LR_FACTOR`].
    pub fn from_params(p: &Params) -> Self {
        let net = NetConfig::new(p.model, p.bands.len());
        TrainConfig {
            net: if p.filters.is_empty() { net } else { net.filters(&p.filters) },
            loss: p.loss,
            optimizer: p.optimizer,
            lr: p.lr,
            epochs: p.epochs as usize,
            batch: p.batch as usize,
            steps_per_epoch: p.steps_per_epoch as usize,
            patience: p.patience as usize,
            lr_patience: p.lr_patience as usize,
            lr_factor: LR_FACTOR,
            seed: p.seed,
        }
    }

    /// The params file's defaults for `architecture`: what a params file holding only
    /// `model = "<architecture>"` gives ([`Model::new`] starts from it).
    pub fn defaults(architecture: Architecture) -> Self {
        Self::from_params(&Params { model: architecture, ..Params::default() })
    }
}

impl Default for TrainConfig {
    /// The params file's defaults (`model = "unet"`).
    fn default() -> Self {
        Self::from_params(&DEFAULTS)
    }
}

impl Model {
    /// Every training setting from the params file ([`TrainConfig::from_params`]); the params are
    /// saved with the checkpoints as `params.toml`.
    pub fn from_params(p: &Params) -> Result<Self> {
        Ok(Model::from_config(TrainConfig::from_params(p)).params_toml(p.to_toml()?))
    }
}

impl Normaliser {
    /// The method and range compression of the params file (`fit_up_to_mode`, `range_compression`).
    pub fn from_params(p: &Params) -> NormaliserSpec {
        let spec = if p.fit_up_to_mode { Self::fit_up_to_mode() } else { Self::mad() };
        spec.range_compression(p.range_compression)
    }
}

impl Default for NormaliserSpec {
    /// The params file's defaults: MAD (`fit_up_to_mode = false`), `range_compression = true`.
    fn default() -> Self {
        Normaliser::from_params(&DEFAULTS)
    }
}

impl Disk {
    /// The params file's `disk_radius`, seeded with its `seed`.
    pub fn from_params(radius: &DiskRadius, seed: u64) -> Self {
        match radius {
            DiskRadius::Arcmin(r) => Disk::Arcmin(*r),
            DiskRadius::Rule(DiskRule::T500Distribution) => Disk::T500Distribution { seed },
            DiskRadius::Rule(DiskRule::Theta500) => Disk::Theta500 { seed },
        }
    }
}

impl Default for Disk {
    /// The params file's default `disk_radius` (2.5′) and `seed`.
    fn default() -> Self {
        Disk::from_params(&DEFAULTS.disk_radius, DEFAULTS.seed)
    }
}

impl SamplerSettings {
    /// The params file's `patch_size`, `pixel_size_arcmin`, `loops` and `seed`.
    pub fn from_params(p: &Params) -> Self {
        SamplerSettings { size: p.patch_size, pixel_arcmin: p.pixel_size_arcmin, loops: p.loops, seed: p.seed }
    }
}

impl Default for SamplerSettings {
    /// The params file's defaults: 64 pixels of 1.7′, 10 loops, seed 1.
    fn default() -> Self {
        Self::from_params(&DEFAULTS)
    }
}

impl PatchSampler {
    /// Patch size, pixel size, loops and seed from the params file.
    pub fn params(self, p: &Params) -> Self {
        let s = SamplerSettings::from_params(p);
        self.size(s.size).pixel_arcmin(s.pixel_arcmin).loops(s.loops).seed(s.seed)
    }
}

impl Detection {
    /// The params file's detection settings: `threshold`, `min_pixels`, `max_radius_arcmin`,
    /// `connectivity`, `merge_radius_arcmin`.
    pub fn from_params(p: &Params) -> Self {
        Detection {
            threshold: p.threshold as f32,
            min_pixels: p.min_pixels as usize,
            max_radius_arcmin: p.max_radius_arcmin,
            connectivity: p.connectivity,
            merge_radius_arcmin: p.merge_radius_arcmin,
        }
    }
}

impl Default for Detection {
    /// The params file's defaults, the original's: threshold 0.9, 4 pixels, 15′, 8-connected, merged within 4′.
    fn default() -> Self {
        Self::from_params(&DEFAULTS)
    }
}

impl CrossMatch {
    /// The params file's radii: `cluster_radius_arcmin`, `contaminant_radius_arcmin`.
    pub fn from_params(p: &Params) -> Self {
        CrossMatch {
            cluster_radius_arcmin: p.cluster_radius_arcmin,
            contaminant_radius_arcmin: p.contaminant_radius_arcmin,
        }
    }
}

impl Default for CrossMatch {
    /// The params file's defaults, the original's: 7′ for clusters, 5′ for contaminants.
    fn default() -> Self {
        Self::from_params(&DEFAULTS)
    }
}

impl Mmf {
    /// The params file's matched filter: [`Mmf::planck_like`] on `mmf_bands` with
    /// `mmf_snr_threshold`, `mmf_patch_size`, `mmf_pixel_size_arcmin`, `mmf_merge_radius_arcmin`
    /// and `mmf_iterations` (no sources masked: they come with the catalogs, see
    /// [`crate::pipeline::Job::mmf_settings`]).
    pub fn from_params(p: &Params) -> Self {
        Mmf::planck_like()
            .bands(&p.mmf_bands)
            .snr_threshold(p.mmf_snr_threshold)
            .size(p.mmf_patch_size as usize)
            .pixel_arcmin(p.mmf_pixel_size_arcmin)
            .merge_radius_arcmin(p.mmf_merge_radius_arcmin)
            .iterations(p.mmf_iterations)
    }
}

impl Synthetic {
    /// The params file's `nside`, `seed` and bands ([`Params::sky_bands`]).
    pub fn from_params(p: &Params) -> Self {
        Self::planck_like().nside(p.nside).seed(p.seed).bands(&p.sky_bands())
    }
}

impl Sky {
    /// The sky of the params file (its bands: [`Params::sky_bands`], NESTED, one f32 copy each), and
    /// beside it the truth when the simulation knows one.
    ///
    /// `sky = "synthetic"` makes the embedded Planck-like sky at `nside` from `seed`, with its
    /// [`Truth`]; `sky = "planck"` reads the Planck files of the datasets manifest from
    /// `planck_path` (the y-map from `milca_path`), see [`Sky::planck`]: no truth.
    pub fn load(params: &Params) -> Result<(Sky, Option<Truth>)> {
        match params.sky {
            SkySource::Synthetic => Sky::synthetic(Synthetic::from_params(params)).map(|(s, t)| (s, Some(t))),
            SkySource::Planck => Ok((Sky::planck(params)?, None)),
        }
    }

    /// The real sky of `params`: each of its bands ([`Params::sky_bands`]) from the manifest's file in `planck_path`
    /// (the y-map in `milca_path`), see [`Sky::planck_from`].
    pub fn planck(params: &Params) -> Result<Sky> {
        Sky::planck_from(&Folder::PlanckPath.of(params), &Folder::MilcaPath.of(params), &params.sky_bands())
    }
}

impl Catalogs {
    /// The cluster catalogs of the params file: the shipped ones (`catalogs = "builtin"`) or those
    /// prepared from the files in `catalog_path` (`catalogs = "fetched"`, see [`Catalogs::fetched`]).
    pub fn from_params(params: &Params) -> Result<Self> {
        match params.catalogs {
            CatalogSource::Builtin => Catalogs::builtin(),
            CatalogSource::Fetched => Catalogs::fetched(Folder::CatalogPath.of(params)),
        }
    }
}

impl OutputDirs {
    /// The folders for `params` on `today`: `<path>/output/<dataset>/<yyyy-mm-dd>`, with
    /// `merge_daily_output_directory` the most recent existing dated folder (see [`OutputDirs::dated`]).
    /// Nothing is created: see [`OutputDirs::create`].
    pub fn resolve(params: &Params, today: NaiveDate) -> Result<Self> {
        let base = params.path.join("output").join(params.dataset.name());
        Self::dated(base, params.merge_daily_output_directory, today)
    }
}

impl Folder {
    /// The folder under `params.path` this key names.
    pub fn of(self, params: &Params) -> PathBuf {
        params.path.join(match self {
            Folder::PlanckPath => &params.planck_path,
            Folder::MilcaPath => &params.milca_path,
            Folder::CatalogPath => &params.catalog_path,
        })
    }
}

impl Dataset {
    /// Where this dataset lives for `params` (its key's folder), or under `to` when given.
    pub fn path(&self, params: &Params, to: Option<&Path>) -> PathBuf {
        match to {
            Some(dir) => dir.join(&self.file),
            None => self.param.of(params).join(&self.file),
        }
    }
}

impl Manifest {
    /// What `names` asks for: `all`, `maps`, `catalogs` or dataset names; no names = what `params`
    /// uses (the maps of its bands ([`Params::sky_bands`]), and every catalog). See [`Manifest::select_for`].
    pub fn select(&self, names: &[String], params: &Params) -> Result<Vec<&Dataset>> {
        self.select_for(names, &params.sky_bands())
    }
}
