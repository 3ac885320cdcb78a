//! The trainer: a [`Model`] (architecture + loss + optimizer + schedule) is fitted on training batches
//! and validated each epoch, giving a [`Trained`] network and its history.
//!
//! In: training data — a saved or in-memory [`Dataset`], or [`Augmented`] patches cut afresh from the
//! sky every epoch (new shifts and rotations) — and a validation [`Dataset`].
//! Out: [`Trained`] (the best-validation-loss weights, restored at the end), its history DataFrame
//! (epoch, loss, dice, precision, recall, iou, lr, val_* …), and, when a checkpoint folder is set, that
//! folder: `best.bpk` (best weights), `last.bpk` + `optimizer.bpk` (to resume), `model.json` (every setting:
//! the [`TrainConfig`]), `state.json` (where the run stands: epochs done, the schedule's best loss, waits
//! and learning rate, whether early stopping fired), `history.csv`, and the normaliser / params attached
//! to the model. Only the trainer writes `state.json`; [`Trained::save`] writes the model, never the
//! training state, so [`Model::resume`] continues a finished, interrupted or early-stopped run where it was.
//!
//! The defaults of [`Model::new`] are the params file's (`TrainConfig::default()` is built from it).
//!
//! Schedule, as Keras' callbacks with one fix: early stopping on the validation loss with `patience`
//! and restore-best-weights; ReduceLROnPlateau (factor 0.1, min_delta 1e-4) with its own
//! `lr_patience`, which must be below `patience` (the original used the same number, so it never fired).

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use crate::model::{default_device, device_name, device_named};
use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, RmsPropConfig, SgdConfig};
use burn::store::ModuleRecord;
pub use burn::tensor::Device;
use burn::tensor::{Tensor, TensorData};
use polars::prelude::*;
use polars_io::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{ensure_param, named_enum, Error, Result};
use crate::labels::Disk;
use crate::loss::{Confusion, Loss};
use crate::model::{check_driver, scalar, values, Architecture, Net, NetConfig};
use crate::normalise::Normaliser;
use crate::output::{write_atomic, write_csv};
use crate::patches::PatchSampler;
use crate::sky::{Band, Sky};

mod adam;

/// Which optimizer, with Keras' defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OptimizerKind {
    /// Adam (β1 0.9, β2 0.999, ε 1e-7).
    Adam,
    /// SGD with momentum 0.9 (no dampening, no Nesterov).
    Sgd,
    /// RMSprop (ρ 0.9, ε 1e-7, no momentum).
    Rmsprop,
}

impl OptimizerKind {
    /// Every optimizer.
    pub const ALL: [OptimizerKind; 3] = [Self::Adam, Self::Sgd, Self::Rmsprop];

    /// The name used in params files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Adam => "adam",
            Self::Sgd => "sgd",
            Self::Rmsprop => "rmsprop",
        }
    }

    /// The optimizer, as training and `xcluster bench train` run it.
    pub(crate) fn init(self) -> ModuleOptimizer {
        match self {
            Self::Adam => ModuleOptimizer::from(adam::FusedAdam::keras()),
            Self::Sgd => SgdConfig::new()
                .with_momentum(Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0)))
                .init(),
            Self::Rmsprop => RmsPropConfig::new().with_alpha(0.9).with_momentum(0.0).with_epsilon(1e-7).init(),
        }
    }
}

named_enum!(OptimizerKind, "optimizer");

/// ReduceLROnPlateau's factor (Keras' 0.1, as the original): the learning rate after a plateau.
pub const LR_FACTOR: f64 = 0.1;

/// Every setting of a training run; saved as `model.json` with the checkpoints. `TrainConfig::default()`
/// is the params file's defaults (`model`, `filters`, `loss`, `optimizer`, `lr`, `epochs`, `batch`,
/// `steps_per_epoch`, `patience`, `lr_patience`, `seed`; `bands` is the number of its `bands`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network (its `bands` is set from the training data by [`Model::fit`]).
    pub net: NetConfig,
    /// The loss.
    pub loss: Loss,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Initial learning rate.
    pub lr: f64,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Patches per step.
    pub batch: usize,
    /// Steps per epoch; 0 = one pass over the training data.
    pub steps_per_epoch: usize,
    /// Early stopping: epochs without a lower validation loss before stopping.
    pub patience: usize,
    /// ReduceLROnPlateau: epochs without improvement before the rate is multiplied by `lr_factor`.
    pub lr_patience: usize,
    /// ReduceLROnPlateau factor.
    pub lr_factor: f64,
    /// Seed of the initial weights, dropout and batch order.
    pub seed: u64,
}

impl TrainConfig {
    /// Check every setting; called by [`Model::fit`] before any work, and for the params file's keys
    /// by its validation.
    pub fn validate(&self) -> Result<()> {
        self.net.validate()?;
        self.loss.validate()?;
        ensure_param!(self.lr > 0.0 && self.lr <= 10.0, "lr", "must be in (0, 10], got {}", self.lr);
        ensure_param!((1..=100_000).contains(&self.epochs), "epochs", "must be in 1…100000, got {}", self.epochs);
        ensure_param!((1..=100_000).contains(&self.batch), "batch", "must be in 1…100000, got {}", self.batch);
        ensure_param!(self.patience >= 1, "patience", "must be at least 1, got {}", self.patience);
        ensure_param!(
            self.lr_patience >= 1 && self.lr_patience < self.patience,
            "lr_patience",
            "must be in 1..patience ({}) so the learning rate drops before training stops, got {}",
            self.patience,
            self.lr_patience
        );
        ensure_param!(
            self.lr_factor > 0.0 && self.lr_factor < 1.0,
            "lr_factor",
            "must be in (0, 1), got {}",
            self.lr_factor
        );
        Ok(())
    }
}

/// The early-stopping and learning-rate-plateau state machine (Keras `EarlyStopping` with
/// `restore_best_weights` and `ReduceLROnPlateau`, both on the validation loss). Saved in a
/// checkpoint's `state.json` (a NaN loss, as a diverging run gives, is written as `"NaN"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ScheduleFile", into = "ScheduleFile")]
pub struct Schedule {
    patience: usize,
    lr_patience: usize,
    lr_factor: f64,
    /// Best validation loss so far and its epoch.
    pub best: Option<(f64, usize)>,
    wait: usize,
    lr_best: Option<f64>,
    lr_wait: usize,
    /// Current learning rate.
    pub lr: f64,
}

/// [`Schedule`] as JSON, every float a number or, when not finite, `"NaN"`, `"inf"` or `"-inf"`
/// (JSON numbers cannot be NaN: serde_json would write `null` and fail to read it back).
#[derive(Serialize, Deserialize)]
struct ScheduleFile {
    patience: usize,
    lr_patience: usize,
    lr_factor: JsonFloat,
    best: Option<(JsonFloat, usize)>,
    wait: usize,
    lr_best: Option<JsonFloat>,
    lr_wait: usize,
    lr: JsonFloat,
}

impl From<Schedule> for ScheduleFile {
    fn from(s: Schedule) -> Self {
        ScheduleFile {
            patience: s.patience,
            lr_patience: s.lr_patience,
            lr_factor: JsonFloat(s.lr_factor),
            best: s.best.map(|(loss, epoch)| (JsonFloat(loss), epoch)),
            wait: s.wait,
            lr_best: s.lr_best.map(JsonFloat),
            lr_wait: s.lr_wait,
            lr: JsonFloat(s.lr),
        }
    }
}

impl From<ScheduleFile> for Schedule {
    fn from(f: ScheduleFile) -> Self {
        Schedule {
            patience: f.patience,
            lr_patience: f.lr_patience,
            lr_factor: f.lr_factor.0,
            best: f.best.map(|(loss, epoch)| (loss.0, epoch)),
            wait: f.wait,
            lr_best: f.lr_best.map(|l| l.0),
            lr_wait: f.lr_wait,
            lr: f.lr.0,
        }
    }
}

/// An f64 that survives JSON: finite values as numbers, others as `"NaN"`, `"inf"`, `"-inf"`.
#[derive(Debug, Clone, Copy)]
struct JsonFloat(f64);

impl Serialize for JsonFloat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            x if x.is_finite() => s.serialize_f64(x),
            x if x.is_nan() => s.serialize_str("NaN"),
            x if x > 0.0 => s.serialize_str("inf"),
            _ => s.serialize_str("-inf"),
        }
    }
}

impl<'de> Deserialize<'de> for JsonFloat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(x) => Ok(JsonFloat(x)),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(JsonFloat(f64::NAN)),
                "inf" => Ok(JsonFloat(f64::INFINITY)),
                "-inf" => Ok(JsonFloat(f64::NEG_INFINITY)),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"NaN\", \"inf\" or \"-inf\", got {other:?}"
                ))),
            },
        }
    }
}

/// What the schedule decided after an epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The validation loss is the best so far (save these weights).
    pub improved: bool,
    /// The learning rate for the next epoch.
    pub lr: f64,
    /// Stop training now.
    pub stop: bool,
}

/// Keras' ReduceLROnPlateau default: an improvement must beat the best by this much.
const LR_MIN_DELTA: f64 = 1e-4;

impl Schedule {
    /// A fresh schedule starting at rate `lr`.
    pub fn new(patience: usize, lr_patience: usize, lr_factor: f64, lr: f64) -> Self {
        Self { patience, lr_patience, lr_factor, best: None, wait: 0, lr_best: None, lr_wait: 0, lr }
    }

    /// This schedule's state under other limits (e.g. a resumed run's edited `model.json`): early
    /// stopping has fired when its wait reaches the new `patience`.
    pub fn limits(mut self, patience: usize, lr_patience: usize, lr_factor: f64) -> Self {
        (self.patience, self.lr_patience, self.lr_factor) = (patience, lr_patience, lr_factor);
        self
    }

    /// True once early stopping has fired.
    pub fn stopped(&self) -> bool {
        self.wait >= self.patience
    }

    /// Record the validation loss of `epoch` (0-based) and decide.
    pub fn step(&mut self, epoch: usize, val_loss: f64) -> Decision {
        // NaN never improves, so a diverging run stops after `patience` epochs with its best weights.
        let improved = self.best.is_none_or(|(best, _)| val_loss < best);
        if improved {
            self.best = Some((val_loss, epoch));
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        if self.lr_best.is_none_or(|best| val_loss < best - LR_MIN_DELTA) {
            self.lr_best = Some(val_loss);
            self.lr_wait = 0;
        } else {
            self.lr_wait += 1;
            if self.lr_wait >= self.lr_patience {
                self.lr *= self.lr_factor;
                self.lr_wait = 0;
            }
        }
        Decision { improved, lr: self.lr, stop: self.wait >= self.patience }
    }
}

/// One batch of training data, owned: inputs `[n, bands, size, size]`, masks `[n, 1, size, size]`.
#[derive(Debug, Clone)]
pub struct BatchData {
    /// Inputs, NCHW.
    pub inputs: Vec<f32>,
    /// Masks, N×1×H×W.
    pub masks: Vec<f32>,
    /// Patches in the batch.
    pub n: usize,
}

/// Where training batches come from.
pub trait TrainData {
    /// Input channels.
    fn bands(&self) -> usize;
    /// Patch side in pixels.
    fn size(&self) -> usize;
    /// Patches in one epoch.
    fn len(&self) -> usize;
    /// True when an epoch has no patch.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The batches of `epoch`, in an order drawn from `seed` and `epoch`.
    fn batches(&self, epoch: u64, batch: usize, seed: u64) -> Result<Box<dyn Iterator<Item = Result<BatchData>> + '_>>;
}

impl TrainData for Dataset {
    fn bands(&self) -> usize {
        self.patches().bands().len()
    }
    fn size(&self) -> usize {
        self.patches().size()
    }
    fn len(&self) -> usize {
        Dataset::len(self)
    }
    fn batches(&self, epoch: u64, batch: usize, seed: u64) -> Result<Box<dyn Iterator<Item = Result<BatchData>> + '_>> {
        let mut order: Vec<usize> = (0..Dataset::len(self)).collect();
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let (input_len, mask_len) = (self.patches().patch_len(), self.size() * self.size());
        let (inputs, masks) = (self.inputs(), self.masks());
        Ok(Box::new(order.chunks(batch).map(|ids| ids.to_vec()).collect::<Vec<_>>().into_iter().map(move |ids| {
            let mut b =
                BatchData { inputs: Vec::with_capacity(ids.len() * input_len), masks: Vec::new(), n: ids.len() };
            for &i in &ids {
                b.inputs.extend_from_slice(&inputs[i * input_len..(i + 1) * input_len]);
                b.masks.extend_from_slice(&masks[i * mask_len..(i + 1) * mask_len]);
            }
            Ok(b)
        })))
    }
}

/// Training patches cut afresh from the sky every epoch (new shifts and rotations: on-the-fly
/// augmentation), normalised and labelled batch by batch, so memory stays at one batch.
#[derive(Debug, Clone)]
pub struct Augmented {
    sampler: PatchSampler,
    sky: Sky,
    normaliser: Normaliser,
    disk: Disk,
    len: usize,
}

impl Augmented {
    /// Stream `sampler`'s patches of `sky`, normalised by `normaliser`, labelled with `disk`.
    pub fn new(sampler: PatchSampler, sky: &Sky, normaliser: &Normaliser, disk: Disk) -> Result<Self> {
        let len = sampler.plan(crate::patches::sky_nside(sky)?)?.len();
        ensure_param!(len > 0, "train", "the training sampler yields no patch (no cluster in the training tiles?)");
        Ok(Self { sampler, sky: sky.clone(), normaliser: normaliser.clone(), disk, len })
    }
}

impl TrainData for Augmented {
    fn bands(&self) -> usize {
        self.normaliser.bands().len()
    }
    fn size(&self) -> usize {
        self.sampler.patch_size() as usize
    }
    fn len(&self) -> usize {
        self.len
    }
    fn batches(
        &self,
        epoch: u64,
        batch: usize,
        _seed: u64,
    ) -> Result<Box<dyn Iterator<Item = Result<BatchData>> + '_>> {
        // The sampler's own seed drives shifts, rotations and order, per epoch.
        let stream = self.sampler.stream(&self.sky, batch, epoch)?;
        Ok(Box::new(stream.map(move |patches| {
            let set = self.normaliser.apply(patches?)?.labels(self.disk)?;
            Ok(BatchData { inputs: set.inputs().to_vec(), masks: set.masks().to_vec(), n: set.len() })
        })))
    }
}

/// A network to train: the fluent entry point (`Model::unet().loss(Loss::dice()).epochs(10).fit_on(&train, &val)`).
#[derive(Debug, Clone)]
pub struct Model {
    config: TrainConfig,
    checkpoint: Option<PathBuf>,
    normaliser: Option<Normaliser>,
    /// The params file, as TOML, saved as `params.toml` with the checkpoints.
    params_toml: Option<String>,
    progress: bool,
    pub(crate) device: Device,
}

macro_rules! architectures {
    ($($fn:ident => $arch:ident),* $(,)?) => {
        $(
            #[doc = concat!("A model with the `", stringify!($fn), "` network (see [`Architecture::", stringify!($arch), "`]).")]
            pub fn $fn() -> Self {
                Self::new(Architecture::$arch)
            }
        )*
    };
}

impl Model {
    /// `architecture` with the params file's training defaults (what a params file holding only
    /// `model = "<architecture>"` gives): widths `filters` (\[8, 16, 32, 64\]), tversky loss, Adam at
    /// 3e-3, 20 epochs of 100 steps of batch 20, patience 12 (LR plateau 4), seed 1. See
    /// `src/params.default.toml`, which also gives the original's settings.
    pub fn new(architecture: Architecture) -> Self {
        Self::from_config(TrainConfig::defaults(architecture))
    }

    /// A model with every setting of `config` (e.g. a saved `model.json`'s).
    pub fn from_config(config: TrainConfig) -> Self {
        Self { config, checkpoint: None, normaliser: None, params_toml: None, progress: true, device: default_device() }
    }

    architectures! {
        unet => Unet, unet_2d => Unet2d, vnet => Vnet, r2u_net => R2uNet, unet_plus => UnetPlus,
        attn_net => AttnNet, attn_unet => AttnNet, resunet_a => ResunetA, u2net => U2net, unet_3plus => Unet3plus,
    }

    /// Save `text` (the params file as TOML) as `params.toml` with the checkpoints; set by
    /// `Model::from_params`.
    pub(crate) fn params_toml(mut self, text: String) -> Self {
        self.params_toml = Some(text);
        self
    }

    /// Encoder widths, finest first (default: the params file's `filters`).
    pub fn filters(mut self, filters: &[usize]) -> Self {
        self.config.net.filters = filters.to_vec();
        self
    }
    /// The loss (default: the params file's, tversky with δ = 0.9).
    pub fn loss(mut self, loss: impl Into<Loss>) -> Self {
        self.config.loss = loss.into();
        self
    }
    /// Optimizer and initial learning rate (default: the params file's, Adam at 3e-3).
    pub fn optimizer(mut self, kind: OptimizerKind, lr: f64) -> Self {
        self.config.optimizer = kind;
        self.config.lr = lr;
        self
    }
    /// Maximum number of epochs, in 1…100000 (default: the params file's, 6).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.config.epochs = epochs;
        self
    }
    /// Patches per step, in 1…100000 (default: the params file's, 20).
    pub fn batch(mut self, batch: usize) -> Self {
        self.config.batch = batch;
        self
    }
    /// Steps per epoch, 0 = one full pass over the training data (default: the params file's, 100).
    pub fn steps_per_epoch(mut self, steps: usize) -> Self {
        self.config.steps_per_epoch = steps;
        self
    }
    /// Early-stopping patience in epochs, ≥ 1 (default: the params file's, 12).
    pub fn patience(mut self, patience: usize) -> Self {
        self.config.patience = patience;
        self
    }
    /// ReduceLROnPlateau patience, in 1..patience (default: the params file's, 6).
    pub fn lr_patience(mut self, lr_patience: usize) -> Self {
        self.config.lr_patience = lr_patience;
        self
    }
    /// Seed of weights, dropout and batch order (default: the params file's, 1). Weights and dropout draw from the
    /// device's single random generator, which `fit` seeds: two trainings running at the same time in
    /// one process interleave their draws and are then not reproducible.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }
    /// Write checkpoints to `dir` (created if missing) every epoch.
    pub fn checkpoint(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(dir.into());
        self
    }
    /// Save `normaliser` with the checkpoints (and keep it in the [`Trained`] model).
    pub fn normaliser(mut self, normaliser: Normaliser) -> Self {
        self.normaliser = Some(normaliser);
        self
    }
    /// Show a progress bar per epoch (default true).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }
    /// Train on `device` (default: [`default_device`]; [`device_named`] makes one from a name).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }
    /// The settings so far.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Train on `train`, validating on `val` after every epoch; returns the best-validation-loss network.
    pub fn fit_on(mut self, train: &dyn TrainData, val: &Dataset) -> Result<Trained> {
        self.config.net.bands = train.bands();
        self.config.validate()?;
        check_data(&self.config, train, val)?;
        if let Some(dir) = &self.checkpoint {
            // A fresh run: the training state of an earlier run in this folder no longer applies.
            remove_if_present(&dir.join(STATE_FILE))?;
        }
        check_driver(&self.device)?;
        self.device.seed(self.config.seed);
        let ad = self.device.clone().autodiff();
        let net = self.config.net.init(&ad)?;
        let state = RunState {
            net,
            optimizer: self.config.optimizer.init(),
            schedule: Schedule::new(
                self.config.patience,
                self.config.lr_patience,
                self.config.lr_factor,
                self.config.lr,
            ),
            history: History::default(),
            best: None,
            epoch: 0,
        };
        self.run(state, train, val)
    }

    /// Continue the run checkpointed in `dir` where it was: its settings (`model.json`), its last
    /// completed epoch's weights, optimizer state and history, and its training state (`state.json`:
    /// epochs done, best validation loss, early-stopping and plateau waits, learning rate).
    ///
    /// An interrupted run continues from its last completed epoch with the saved learning rate and
    /// waits, up to `model.json`'s `epochs`. A finished run (all its epochs done) or an early-stopped
    /// one returns its best weights and history without training more — unless `model.json` was edited
    /// to allow more: a higher `epochs` continues a finished run, a higher `patience` an early-stopped
    /// one (`lr_patience` and `lr_factor` are taken from `model.json` too).
    pub fn resume(dir: impl AsRef<Path>, train: &dyn TrainData, val: &Dataset) -> Result<Trained> {
        Self::resume_on(dir, &default_device(), train, val)
    }

    /// [`Model::resume`] on `device` (a run checkpointed on one device continues on any other).
    pub fn resume_on(dir: impl AsRef<Path>, device: &Device, train: &dyn TrainData, val: &Dataset) -> Result<Trained> {
        let dir = dir.as_ref();
        resumable(dir)?;
        let config = ModelFile::read(dir)?.config;
        let state = TrainingState::read(dir)?;
        let model = Self {
            checkpoint: Some(dir.to_path_buf()),
            normaliser: load_normaliser(dir)?,
            device: device.clone(),
            ..Self::from_config(config)
        };
        check_data(&model.config, train, val)?;
        let ad = model.device.clone().autodiff();
        let net = load_weights(model.config.net.init(&ad)?, &dir.join("last.bpk"))?;
        let best = load_weights(model.config.net.init(&model.device)?, &dir.join("best.bpk"))?;
        let optimizer = model
            .config
            .optimizer
            .init()
            .load(dir.join("optimizer.bpk"))
            .map_err(|e| Error::model(dir.join("optimizer.bpk"), e.to_string()))?;
        let mut history = History::read(&dir.join("history.csv"))?;
        // The history may hold an epoch whose checkpoint did not complete: keep the saved state's.
        history.rows.truncate(state.epochs_done);
        let c = &model.config;
        let schedule = state.schedule.limits(c.patience, c.lr_patience, c.lr_factor);
        let state = RunState { net, optimizer, schedule, history, best: Some(best), epoch: state.epochs_done };
        model.run(state, train, val)
    }

    fn run(self, mut s: RunState, train: &dyn TrainData, val: &Dataset) -> Result<Trained> {
        if let Some(dir) = &self.checkpoint {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            if let Some(n) = &self.normaliser {
                n.save(dir.join("normaliser.json"))?;
            }
            if let Some(text) = &self.params_toml {
                write_atomic(&dir.join("params.toml"), |f| std::io::Write::write_all(f, text.as_bytes()))?;
            }
        }
        let c = &self.config;
        while s.epoch < c.epochs && !s.schedule.stopped() {
            let started = Instant::now();
            let lr = s.schedule.lr;
            let (train_loss, train_m) = self.train_epoch(&mut s, train)?;
            let (val_loss, val_m) = evaluate(&s.net.valid(), val, c, &self.device)?;
            let decision = s.schedule.step(s.epoch, val_loss);
            s.history.push(s.epoch, train_loss, train_m, val_loss, val_m, lr, started.elapsed().as_secs_f64());
            if decision.improved || s.best.is_none() {
                // A snapshot in inference mode: a clone would share the batch-norm running statistics,
                // which later epochs keep updating.
                s.best = Some(s.net.valid());
            }
            s.epoch += 1;
            if let Some(dir) = &self.checkpoint {
                self.save_checkpoint(dir, &s, decision.improved)?;
            }
            if self.progress {
                eprintln!(
                    "epoch {:>3}/{}: loss {train_loss:.4} dice {:.3} · val_loss {val_loss:.4} val_dice {:.3} · lr {lr:.1e}{}",
                    s.epoch,
                    c.epochs,
                    train_m.dice(),
                    val_m.dice(),
                    if decision.improved { " · best" } else { "" }
                );
            }
            if decision.stop {
                break;
            }
        }
        let best = s.best.unwrap_or_else(|| s.net.valid());
        Ok(Trained {
            net: best,
            config: c.clone(),
            history: s.history.df()?,
            epochs: s.history,
            normaliser: self.normaliser,
            inputs: None,
            device: self.device,
        })
    }

    fn train_epoch(&self, s: &mut RunState, train: &dyn TrainData) -> Result<(f64, Confusion)> {
        let c = &self.config;
        let full = train.len().div_ceil(c.batch);
        let steps = if c.steps_per_epoch == 0 { full } else { c.steps_per_epoch };
        let bar = progress_bar(self.progress, steps as u64, s.epoch + 1, c.epochs);
        let (mut sum, mut n, mut m) = (0.0, 0usize, Confusion::default());
        let device = self.device.clone().autodiff();
        let (bands, size) = (train.bands(), train.size());
        let mut step = 0;
        // With steps_per_epoch beyond one pass, further passes come in fresh orders.
        'passes: for pass in 0u64.. {
            for batch in train.batches((s.epoch as u64) << 16 | pass, c.batch, c.seed)? {
                if step == steps {
                    break 'passes;
                }
                let b = batch?;
                let x = tensor(b.inputs, [b.n, bands, size, size], &device);
                let y = tensor(b.masks.clone(), [b.n, 1, size, size], &device);
                let p = s.net.forward(x);
                let loss = c.loss.forward(p.clone(), y);
                let value = scalar(loss.clone())?;
                let grads = GradientsParams::from_grads(loss.backward(), &s.net);
                s.net = s.optimizer.step(s.schedule.lr, s.net.clone(), grads);
                m.add(&values(p.detach())?, &b.masks);
                sum += value as f64 * b.n as f64;
                n += b.n;
                step += 1;
                bar.inc(1);
                bar.set_message(format!("loss {:.4}", sum / n as f64));
            }
            if step == steps {
                break;
            }
        }
        bar.finish_and_clear();
        Ok((sum / n.max(1) as f64, m))
    }

    fn save_checkpoint(&self, dir: &Path, s: &RunState, improved: bool) -> Result<()> {
        if improved {
            save_weights(&s.net, &dir.join("best.bpk"))?;
        }
        save_weights(&s.net, &dir.join("last.bpk"))?;
        let bytes = s.optimizer.into_bytes().map_err(|e| Error::model(dir, e.to_string()))?;
        write_atomic(&dir.join("optimizer.bpk"), |f| std::io::Write::write_all(f, &bytes))?;
        write_csv(&dir.join("history.csv"), &s.history.df()?)?;
        ModelFile { config: self.config.clone() }.write(dir)?;
        // Last: the state names an epoch whose files are all written.
        let stopped = s.schedule.stopped();
        TrainingState { epochs_done: s.epoch, stopped, schedule: s.schedule.clone() }.write(dir)
    }
}

/// The mutable state of a run.
struct RunState {
    net: Net,
    optimizer: ModuleOptimizer,
    schedule: Schedule,
    history: History,
    /// The best epoch's network, in inference mode.
    best: Option<Net>,
    epoch: usize,
}

/// The training state's file in a checkpoint folder.
const STATE_FILE: &str = "state.json";

/// The files a completed epoch leaves in a checkpoint folder, all of which [`Model::resume`] reads.
/// The settings of a saved model or checkpoint.
pub const MODEL_FILE: &str = "model.json";

const CHECKPOINT_FILES: [&str; 6] = [MODEL_FILE, STATE_FILE, "last.bpk", "best.bpk", "optimizer.bpk", "history.csv"];

/// The params keys that fix the network's shape (`model`, `filters`, the number of `bands`) or what
/// its inputs are (which `bands`, the patch geometry, the normalisation). A resumed run takes the
/// network and normaliser of its checkpoint, so resuming with other values would silently ignore them.
pub const NETWORK_KEYS: [&str; 7] =
    ["model", "filters", "bands", "patch_size", "pixel_size_arcmin", "fit_up_to_mode", "range_compression"];

/// Error unless `dir` holds a completed epoch to resume.
fn resumable(dir: &Path) -> Result<()> {
    let missing: Vec<&str> = CHECKPOINT_FILES.into_iter().filter(|f| !dir.join(f).is_file()).collect();
    match missing.is_empty() {
        true => Ok(()),
        false => Err(Error::model(
            dir,
            format!(
                "nothing to resume: no epoch has completed here (no {}); run `xcluster train` without --resume \
                 to start afresh",
                missing.join(", ")
            ),
        )),
    }
}

/// Check, before any expensive work, that the checkpoint in `dir` can be resumed with `params` (the
/// params file's `Params`, or any value that serialises to its keys): an epoch has completed there,
/// and the [`NETWORK_KEYS`] of `params` equal those it was trained with (its `params.toml`). The
/// error names each difference, saved value and params value.
pub fn check_resume(dir: &Path, params: &impl Serialize) -> Result<()> {
    resumable(dir)?;
    let path = dir.join("params.toml");
    let not_ours = |why: String| {
        Error::model(
            &path,
            format!("{why}: cannot check that the params match the checkpoint; train afresh with `xcluster train`"),
        )
    };
    let text = std::fs::read_to_string(&path).map_err(|e| not_ours(e.to_string()))?;
    let saved: toml::Table = text.parse().map_err(|e: toml::de::Error| not_ours(e.message().to_string()))?;
    let current = toml::Value::try_from(params).map_err(|e| Error::param("params", e.to_string()))?;
    let show = |v: Option<&toml::Value>| v.map_or_else(|| "(none)".to_string(), |v| v.to_string());
    let differences: Vec<String> = NETWORK_KEYS
        .iter()
        .map(|&key| (key, saved.get(key), current.get(key)))
        .filter(|(_, was, now)| was != now)
        .map(|(key, was, now)| format!("{key}: saved {}, params {}", show(was), show(now)))
        .collect();
    match differences.is_empty() {
        true => Ok(()),
        false => Err(Error::model(
            dir,
            format!(
                "the params change the network it holds: {}; set them back to resume, or train afresh with \
                 `xcluster train` (without --resume; it replaces this checkpoint)",
                differences.join("; ")
            ),
        )),
    }
}

/// `model.json`: the model's settings, written by the checkpoints and [`Trained::save`]. (Folders
/// written before `state.json` existed also hold the schedule here; it is ignored.)
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ModelFile {
    config: TrainConfig,
}

impl ModelFile {
    fn write(&self, dir: &Path) -> Result<()> {
        write_json(dir, MODEL_FILE, self)
    }

    fn read(dir: &Path) -> Result<Self> {
        read_json(dir, MODEL_FILE)
    }
}

/// `state.json`: where a run stands after its last completed epoch; written by the trainer's
/// checkpoints only, read by [`Model::resume`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainingState {
    /// Epochs completed.
    epochs_done: usize,
    /// Early stopping had fired (for the reader: resuming recomputes it from the schedule's wait and
    /// `model.json`'s patience).
    stopped: bool,
    /// Best validation loss and its epoch, waits, learning rate.
    schedule: Schedule,
}

impl TrainingState {
    fn write(&self, dir: &Path) -> Result<()> {
        write_json(dir, STATE_FILE, self)
    }

    fn read(dir: &Path) -> Result<Self> {
        read_json(dir, STATE_FILE)
    }
}

fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::model(dir.join(name), e.to_string()))?;
    write_atomic(&dir.join(name), |f| std::io::Write::write_all(f, text.as_bytes()))
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<T> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("not a {name} written by xcluster train: {e}")))
}

/// Remove `path` if it exists.
fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// One row per epoch.
#[derive(Debug, Clone, Default)]
struct History {
    rows: Vec<[f64; 13]>,
}

const HISTORY_COLUMNS: [&str; 13] = [
    "epoch",
    "loss",
    "dice",
    "precision",
    "recall",
    "iou",
    "lr",
    "val_loss",
    "val_dice",
    "val_precision",
    "val_recall",
    "val_iou",
    "seconds",
];

/// Where `val_loss` and `val_dice` sit in a history row.
const VAL_LOSS: usize = 7;
const VAL_DICE: usize = 8;
const _: () = assert!(matches!(HISTORY_COLUMNS[VAL_LOSS].as_bytes(), b"val_loss"));
const _: () = assert!(matches!(HISTORY_COLUMNS[VAL_DICE].as_bytes(), b"val_dice"));

impl History {
    /// The epoch (1-based) of the lowest validation loss, with that loss and its dice.
    fn best(&self) -> Option<(u32, f64, f64)> {
        let loss = |r: &[f64; 13]| if r[VAL_LOSS].is_nan() { f64::MAX } else { r[VAL_LOSS] };
        let r = self.rows.iter().min_by(|a, b| loss(a).total_cmp(&loss(b)))?;
        Some((r[0] as u32, r[VAL_LOSS], r[VAL_DICE]))
    }

    #[allow(clippy::too_many_arguments)]
    fn push(&mut self, epoch: usize, loss: f64, m: Confusion, val_loss: f64, v: Confusion, lr: f64, seconds: f64) {
        self.rows.push([
            (epoch + 1) as f64,
            loss,
            m.dice(),
            m.precision(),
            m.recall(),
            m.iou(),
            lr,
            val_loss,
            v.dice(),
            v.precision(),
            v.recall(),
            v.iou(),
            seconds,
        ]);
    }

    fn df(&self) -> Result<DataFrame> {
        let cols = HISTORY_COLUMNS
            .iter()
            .enumerate()
            .map(|(k, name)| {
                if k == 0 {
                    Column::new((*name).into(), self.rows.iter().map(|r| r[0] as u32).collect::<Vec<_>>())
                } else {
                    Column::new((*name).into(), self.rows.iter().map(|r| r[k]).collect::<Vec<_>>())
                }
            })
            .collect();
        Ok(DataFrame::new(self.rows.len(), cols)?)
    }

    fn read(path: &Path) -> Result<Self> {
        let df = CsvReadOptions::default()
            .try_into_reader_with_file_path(Some(path.to_path_buf()))?
            .finish()
            .map_err(|e| Error::model(path, format!("cannot read the history: {e}")))?;
        let cols: Vec<Vec<f64>> = HISTORY_COLUMNS
            .iter()
            .map(|name| -> Result<Vec<f64>> {
                let s = df.column(name)?.cast(&DataType::Float64)?;
                Ok(s.f64()?.into_no_null_iter().collect())
            })
            .collect::<Result<_>>()?;
        let rows = (0..df.height()).map(|i| std::array::from_fn(|k| cols[k][i])).collect();
        Ok(Self { rows })
    }
}

/// A trained network with its settings, history and (if attached) normaliser and input geometry.
#[derive(Debug, Clone)]
pub struct Trained {
    net: Net,
    config: TrainConfig,
    history: DataFrame,
    // The same history, typed: what the summary reads.
    epochs: History,
    normaliser: Option<Normaliser>,
    inputs: Option<Inputs>,
    device: Device,
}

/// The patches a network was trained on (saved as `inputs.json`): scanning cuts the same. The bands
/// and their order are the normaliser's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    /// Patch side in pixels.
    pub size: u32,
    /// Patch pixel in arcmin.
    pub pixel_arcmin: f64,
    /// The label rule of the training data (the disks of the true masks in figures).
    pub disk: Disk,
}

const INPUTS_FILE: &str = "inputs.json";

impl Trained {
    /// One row per epoch: epoch, loss, dice, precision, recall, iou, lr, val_loss, val_dice,
    /// val_precision, val_recall, val_iou, seconds.
    pub fn history(&self) -> &DataFrame {
        &self.history
    }
    /// The epoch (1-based) of the lowest validation loss, with that `val_loss` and its `val_dice`:
    /// the weights this network holds.
    pub fn best_epoch(&self) -> Option<(u32, f64, f64)> {
        self.epochs.best()
    }
    /// The network (inference mode: batch norm uses its running statistics, no dropout).
    pub fn net(&self) -> &Net {
        &self.net
    }
    /// The settings it was trained with.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }
    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// The normaliser its inputs need, when one was attached.
    pub fn normaliser(&self) -> Option<&Normaliser> {
        self.normaliser.as_ref()
    }
    /// The patch geometry and label rule it was trained with, when known (trained by
    /// [`Model::fit`] or loaded from a folder that has `inputs.json`).
    pub fn inputs(&self) -> Option<&Inputs> {
        self.inputs.as_ref()
    }

    pub(crate) fn with_inputs(mut self, size: u32, pixel_arcmin: f64, disk: Disk) -> Self {
        self.inputs = Some(Inputs { size, pixel_arcmin, disk });
        self
    }

    /// The normaliser, or an error saying how to get a model that has one.
    pub(crate) fn inputs_normaliser(&self) -> Result<&Normaliser> {
        self.normaliser.as_ref().ok_or_else(|| {
            Error::param(
                "model",
                "this model has no normaliser, so it cannot tell what its inputs must be: train it with \
                 `Model::fit(&data)` or load a folder written by `xcluster train`",
            )
        })
    }

    /// Error unless `bands` are this model's, by name and in order.
    pub fn check_bands(&self, bands: &[Band]) -> Result<()> {
        let mine = self.inputs_normaliser()?.bands();
        let names = |b: &[Band]| b.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ");
        ensure_param!(
            mine == bands,
            "bands",
            "the model was trained on [{}] but the patches have [{}]: cut them with the model's bands, in its order",
            names(mine),
            names(bands)
        );
        Ok(())
    }

    /// `sampler`'s settings with this model's bands and, when known, its patch geometry.
    pub(crate) fn scan_sampler(&self, sampler: &PatchSampler) -> Result<PatchSampler> {
        let bands = self.inputs_normaliser()?.bands();
        let sampler = sampler.clone().bands(bands);
        Ok(match &self.inputs {
            Some(i) => sampler.size(i.size).pixel_arcmin(i.pixel_arcmin),
            None => sampler,
        })
    }

    /// Write `weights.bpk`, `model.json` (the settings), `history.csv` (and `normaliser.json`) to `dir`.
    /// No training state: saving into a checkpoint folder leaves its `state.json`, so
    /// [`Model::resume`] still continues that run where it was.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        save_weights(&self.net, &dir.join("weights.bpk"))?;
        ModelFile { config: self.config.clone() }.write(dir)?;
        write_csv(&dir.join("history.csv"), &self.history)?;
        if let Some(n) = &self.normaliser {
            n.save(dir.join("normaliser.json"))?;
        }
        if let Some(i) = &self.inputs {
            let text = serde_json::to_string_pretty(i).map_err(|e| Error::model(dir, e.to_string()))?;
            write_atomic(&dir.join(INPUTS_FILE), |f| std::io::Write::write_all(f, text.as_bytes()))?;
        }
        Ok(())
    }

    /// Load a model saved by [`Trained::save`] — or the best weights of a checkpoint folder — onto the
    /// default device ([`default_device`]).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_on(dir, &default_device())
    }

    /// [`Trained::load`] onto `device` (a model trained on one device runs on any other).
    pub fn load_on(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let saved = ModelFile::read(dir)?;
        let weights =
            ["weights.bpk", "best.bpk"].iter().map(|f| dir.join(f)).find(|p| p.exists()).ok_or_else(|| {
                Error::model(dir, "no weights.bpk or best.bpk here: point at a folder written by `xcluster train`")
            })?;
        let net = load_weights(saved.config.net.init(device)?, &weights)?;
        let epochs = History::read(&dir.join("history.csv"))?;
        let normaliser = load_normaliser(dir)?;
        let inputs = load_inputs(dir)?;
        let history = epochs.df()?;
        Ok(Self { net, config: saved.config, history, epochs, normaliser, inputs, device: device.clone() })
    }
}

/// The input geometry saved in a model folder, if there is one (a corrupt one is an error).
fn load_inputs(dir: &Path) -> Result<Option<Inputs>> {
    let path = dir.join(INPUTS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let inputs = serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("not an inputs.json: {e}")))?;
    Ok(Some(inputs))
}

/// The normaliser saved in a model folder, if there is one (a corrupt one is an error).
fn load_normaliser(dir: &Path) -> Result<Option<Normaliser>> {
    let path = dir.join("normaliser.json");
    Ok(if path.exists() { Some(Normaliser::load(path)?) } else { None })
}

/// Mean loss and metrics of `net` over `data`, in batches of `config.batch`.
fn evaluate(net: &Net, data: &Dataset, config: &TrainConfig, device: &Device) -> Result<(f64, Confusion)> {
    let (bands, size) = (data.patches().bands().len(), data.patches().size());
    let (mut sum, mut m) = (0.0, Confusion::default());
    for b in data.batches(config.batch) {
        let x = tensor(b.inputs.to_vec(), [b.n, bands, size, size], device);
        let y = tensor(b.masks.to_vec(), [b.n, 1, size, size], device);
        let p = net.forward(x);
        let loss = scalar(config.loss.forward(p.clone(), y))?;
        m.add(&values(p)?, b.masks);
        sum += loss as f64 * b.n as f64;
    }
    Ok((sum / data.len().max(1) as f64, m))
}

fn check_data(c: &TrainConfig, train: &dyn TrainData, val: &Dataset) -> Result<()> {
    ensure_param!(!train.is_empty(), "train", "the training data has no patch");
    ensure_param!(!val.is_empty(), "val", "the validation data has no patch");
    let vb = val.patches().bands().len();
    ensure_param!(
        vb == c.net.bands && val.patches().size() == train.size(),
        "val",
        "validation patches are {vb} bands × {} px but training ones {} × {} px",
        val.patches().size(),
        c.net.bands,
        train.size()
    );
    c.net.check_size(train.size())?;
    Ok(())
}

fn tensor(data: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn save_weights(net: &Net, path: &Path) -> Result<()> {
    let bytes = net.clone().into_record().into_bytes().map_err(|e| Error::model(path, e.to_string()))?;
    write_atomic(path, |f| std::io::Write::write_all(f, &bytes))
}

fn load_weights(net: Net, path: &Path) -> Result<Net> {
    let record = ModuleRecord::load(path).map_err(|e| Error::model(path, e.to_string()))?;
    net.try_load_record(record).map_err(|e| Error::model(path, format!("weights do not fit this network: {e}")))
}

fn progress_bar(on: bool, steps: u64, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if !on {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "epoch {epoch}/{epochs} {{bar:30}} {{pos}}/{{len}} steps · {{msg}} · ETA {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
