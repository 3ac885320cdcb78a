//! The nine segmentation losses of the original (SEED.md §7) and the pixel metrics.
//!
//! In: predicted probabilities `p` and labels `y`, both `[N, 1, H, W]` (or any `[N, …]`), `y` in [0, 1].
//! Out: a scalar loss tensor `[1]` (mean over the batch of per-sample losses; pixel means for the
//! cross-entropy family). Per sample, TP = Σ y·p, FN = Σ y·(1−p), FP = Σ (1−y)·p.
//!
//! Numerical safety: `p` is clipped to [1e-7, 1 − 1e-7] (Keras' epsilon) inside every logarithm, so
//! saturated predictions give finite values and gradients; the overlap indices use `p` unclipped
//! (no logarithm there, and a clip would stop the gradient of a network stuck at 0) and carry a
//! `smooth` term so empty masks give 0/0-free ratios; (1 − TI) is floored at 1e-7 under fractional powers.
//!
//! [`Confusion`] counts thresholded pixels (p ≥ 0.5) for the metrics dice, IoU, precision and recall.

use std::f64::consts::FRAC_PI_2;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{ensure_param, named_enum, Result};

/// Keras' epsilon: probabilities are kept in [EPS, 1 − EPS].
pub const EPS: f64 = 1e-7;

/// A loss with its hyper-parameters. Build with the constructors (`Loss::focal_tversky()`, …), which
/// hold the original's defaults, or [`Loss::from_name`]; change a hyper-parameter with the `with_*`
/// setters, checked by [`Loss::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Loss {
    /// Mean binary cross-entropy −[y log p + (1−y) log(1−p)].
    BinaryCrossentropy,
    /// Focal loss (Lin 2017) over both classes: mean −[y (1−p)^γ log p + (1−y) p^γ log(1−p)].
    Focal {
        /// Focusing exponent γ ≥ 0 (2).
        gamma: f64,
    },
    /// 1 − (TP + s) / (TP + ½FN + ½FP + s).
    Dice {
        /// Smoothing s > 0 (1e-6).
        smooth: f64,
    },
    /// 1 − TI with TI = (TP + s) / (TP + δ·FN + (1−δ)·FP + s).
    Tversky {
        /// Weight δ of false negatives in [0, 1] (0.9 as the original; the literature uses 0.7).
        delta: f64,
        /// Smoothing s (1e-6).
        smooth: f64,
    },
    /// (1 − TI)^γ (Abraham & Khan 2019).
    FocalTversky {
        /// δ of the Tversky index (0.9, the original's Tversky δ).
        delta: f64,
        /// Exponent γ (0.75).
        gamma: f64,
        /// Smoothing s (1e-6).
        smooth: f64,
    },
    /// (1 − TI_δ)^γ with δ = 0.7, γ = 0.75: the original's "focal dice".
    FocalDice {
        /// δ of the Tversky index (0.7).
        delta: f64,
        /// Exponent γ (0.75).
        gamma: f64,
        /// Smoothing s (1e-6).
        smooth: f64,
    },
    /// α·CE_β − (1−α)·DSC (Taghanaki 2019), CE_β = mean −[β y log p + (1−β)(1−y) log(1−p)],
    /// DSC = (2TP + s) / (2TP + FN + FP + s).
    Combo {
        /// Weight α of the cross-entropy in [0, 1] (0.5).
        alpha: f64,
        /// Weight β of the positive class inside the cross-entropy in [0, 1] (0.5).
        beta: f64,
        /// Smoothing s (1e-6).
        smooth: f64,
    },
    /// 1 − cos^γ(π/2 · (1 − TI)): 0 at perfect overlap, 1 at none (the original had it inverted).
    CosineTversky {
        /// δ of the Tversky index (0.7).
        delta: f64,
        /// Exponent γ (1).
        gamma: f64,
        /// Smoothing s (1e-6).
        smooth: f64,
    },
    /// w·FocalDice + (1−w)·Focal (Yeung 2022).
    MixedFocal {
        /// Weight w of the focal-dice term in [0, 1] (0.5).
        weight: f64,
        /// δ of the focal-dice term (0.7).
        delta: f64,
        /// Exponent of the focal-dice term (0.75).
        gamma_dice: f64,
        /// Exponent of the focal term (2).
        gamma_focal: f64,
        /// Smoothing s (1e-6).
        smooth: f64,
    },
}

const SMOOTH: f64 = 1e-6;

impl Loss {
    /// Every loss with its default hyper-parameters, in the original's order.
    pub const ALL: [Loss; 9] = [
        Loss::BinaryCrossentropy,
        Loss::Focal { gamma: 2.0 },
        Loss::Dice { smooth: SMOOTH },
        Loss::Tversky { delta: 0.9, smooth: SMOOTH },
        Loss::FocalTversky { delta: 0.9, gamma: 0.75, smooth: SMOOTH },
        Loss::FocalDice { delta: 0.7, gamma: 0.75, smooth: SMOOTH },
        Loss::Combo { alpha: 0.5, beta: 0.5, smooth: SMOOTH },
        Loss::CosineTversky { delta: 0.7, gamma: 1.0, smooth: SMOOTH },
        Loss::MixedFocal { weight: 0.5, delta: 0.7, gamma_dice: 0.75, gamma_focal: 2.0, smooth: SMOOTH },
    ];

    /// The name used in params files (`loss = "focal_tversky_loss"`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::Focal { .. } => "focal_loss",
            Loss::Dice { .. } => "dice_loss",
            Loss::Tversky { .. } => "tversky_loss",
            Loss::FocalTversky { .. } => "focal_tversky_loss",
            Loss::FocalDice { .. } => "focal_dice_loss",
            Loss::Combo { .. } => "combo_loss",
            Loss::CosineTversky { .. } => "cosine_tversky_loss",
            Loss::MixedFocal { .. } => "mixed_focal_loss",
        }
    }

    /// Parse a params-file name into the loss with its default hyper-parameters.
    pub fn from_name(name: &str) -> Result<Self> {
        name.parse()
    }

    /// Binary cross-entropy.
    pub fn binary_crossentropy() -> Self {
        Self::ALL[0]
    }
    /// Focal loss, γ = 2.
    pub fn focal() -> Self {
        Self::ALL[1]
    }
    /// Dice loss.
    pub fn dice() -> Self {
        Self::ALL[2]
    }
    /// Tversky loss, δ = 0.9.
    pub fn tversky() -> Self {
        Self::ALL[3]
    }
    /// Focal Tversky loss, δ = 0.9, γ = 0.75.
    pub fn focal_tversky() -> Self {
        Self::ALL[4]
    }
    /// Focal dice loss, δ = 0.7, γ = 0.75.
    pub fn focal_dice() -> Self {
        Self::ALL[5]
    }
    /// Combo loss, α = β = 0.5.
    pub fn combo() -> Self {
        Self::ALL[6]
    }
    /// Cosine Tversky loss, δ = 0.7, γ = 1.
    pub fn cosine_tversky() -> Self {
        Self::ALL[7]
    }
    /// Mixed focal loss, w = 0.5, δ = 0.7, γ_dice = 0.75, γ_focal = 2.
    pub fn mixed_focal() -> Self {
        Self::ALL[8]
    }

    /// Check the hyper-parameters: weights in [0, 1], exponents ≥ 0, smoothing ≥ 0, all finite.
    pub fn validate(&self) -> Result<()> {
        let unit = |what: &str, v: f64| -> Result<()> {
            ensure_param!((0.0..=1.0).contains(&v), "loss", "{}: {what} must be in [0, 1], got {v}", self.name());
            Ok(())
        };
        let positive = |what: &str, v: f64| -> Result<()> {
            ensure_param!(v.is_finite() && v >= 0.0, "loss", "{}: {what} must be ≥ 0, got {v}", self.name());
            Ok(())
        };
        match *self {
            Loss::BinaryCrossentropy => Ok(()),
            Loss::Focal { gamma } => positive("gamma", gamma),
            Loss::Dice { smooth } => positive("smooth", smooth),
            Loss::Tversky { delta, smooth } => unit("delta", delta).and(positive("smooth", smooth)),
            Loss::FocalTversky { delta, gamma, smooth }
            | Loss::FocalDice { delta, gamma, smooth }
            | Loss::CosineTversky { delta, gamma, smooth } => {
                unit("delta", delta)?;
                positive("gamma", gamma)?;
                positive("smooth", smooth)
            }
            Loss::Combo { alpha, beta, smooth } => {
                unit("alpha", alpha)?;
                unit("beta", beta)?;
                positive("smooth", smooth)
            }
            Loss::MixedFocal { weight, delta, gamma_dice, gamma_focal, smooth } => {
                unit("weight", weight)?;
                unit("delta", delta)?;
                positive("gamma_dice", gamma_dice)?;
                positive("gamma_focal", gamma_focal)?;
                positive("smooth", smooth)
            }
        }
    }

    /// The loss of probabilities `p` against labels `y` (same shape `[N, …]`), averaged over the batch.
    ///
    /// # Shapes
    /// `p`, `y`: `[N, 1, H, W]` → `[1]`
    pub fn forward(&self, p: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
        let n = p.dims()[0];
        // [N, H·W]. Only the logarithms see p clipped to [EPS, 1 − EPS]: a clip in front of the
        // overlap sums would zero the gradient of a network whose outputs all fell below EPS, and
        // Adam could never bring it back.
        let p: Tensor<2> = p.reshape([n as i32, -1]);
        let y: Tensor<2> = y.reshape([n as i32, -1]);
        match *self {
            Loss::BinaryCrossentropy => bce(p, y, 0.5).mul_scalar(2.0).mean(),
            Loss::Focal { gamma } => focal(p, y, gamma),
            Loss::Dice { smooth } => tversky_index(p, y, 0.5, smooth).neg().add_scalar(1.0).mean(),
            Loss::Tversky { delta, smooth } => tversky_index(p, y, delta, smooth).neg().add_scalar(1.0).mean(),
            Loss::FocalTversky { delta, gamma, smooth } | Loss::FocalDice { delta, gamma, smooth } => {
                focal_tversky(p, y, delta, gamma, smooth)
            }
            Loss::Combo { alpha, beta, smooth } => {
                let ce = bce(p.clone(), y.clone(), beta).mean();
                let dsc = tversky_index(p, y, 0.5, smooth).mean();
                ce.mul_scalar(alpha) - dsc.mul_scalar(1.0 - alpha)
            }
            Loss::CosineTversky { delta, gamma, smooth } => {
                let ti = tversky_index(p, y, delta, smooth);
                let cos = ti.neg().add_scalar(1.0).mul_scalar(FRAC_PI_2).cos();
                // cos(π/2·(1−TI)) ≥ 0 for TI in [0, 1]; clamp so a rounding −0 cannot meet a fractional power.
                cos.clamp(0.0, 1.0).powf_scalar(gamma).neg().add_scalar(1.0).mean()
            }
            Loss::MixedFocal { weight, delta, gamma_dice, gamma_focal, smooth } => {
                let fd = focal_tversky(p.clone(), y.clone(), delta, gamma_dice, smooth);
                let fl = focal(p, y, gamma_focal);
                fd.mul_scalar(weight) + fl.mul_scalar(1.0 - weight)
            }
        }
    }
}

named_enum!(Loss, "loss");

/// Per-pixel weighted cross-entropy −[β y log p + (1−β)(1−y) log(1−p)], `[N, P]`, p clipped.
fn bce(p: Tensor<2>, y: Tensor<2>, beta: f64) -> Tensor<2> {
    let p = p.clamp(EPS, 1.0 - EPS);
    let pos = y.clone() * p.clone().log();
    let neg = y.neg().add_scalar(1.0) * p.neg().add_scalar(1.0).log();
    (pos.mul_scalar(beta) + neg.mul_scalar(1.0 - beta)).neg()
}

/// Mean focal loss over both classes, p clipped.
fn focal(p: Tensor<2>, y: Tensor<2>, gamma: f64) -> Tensor<1> {
    let p = p.clamp(EPS, 1.0 - EPS);
    let q = p.clone().neg().add_scalar(1.0); // 1 − p
    let pos = y.clone() * q.clone().powf_scalar(gamma) * p.clone().log();
    let neg = y.neg().add_scalar(1.0) * p.powf_scalar(gamma) * q.log();
    (pos + neg).neg().mean()
}

/// Tversky index per sample, `[N, 1]`: (TP + s) / (TP + δ·FN + (1−δ)·FP + s).
fn tversky_index(p: Tensor<2>, y: Tensor<2>, delta: f64, smooth: f64) -> Tensor<2> {
    let tp = (y.clone() * p.clone()).sum_dim(1);
    let fn_ = (y.clone() * p.clone().neg().add_scalar(1.0)).sum_dim(1);
    let fp = (y.neg().add_scalar(1.0) * p).sum_dim(1);
    let num = tp.clone().add_scalar(smooth);
    num / (tp + fn_.mul_scalar(delta) + fp.mul_scalar(1.0 - delta)).add_scalar(smooth)
}

/// Batch mean of (1 − TI_δ)^γ.
fn focal_tversky(p: Tensor<2>, y: Tensor<2>, delta: f64, gamma: f64, smooth: f64) -> Tensor<1> {
    // 1 − TI ≥ 0 up to rounding; the floor keeps a fractional power and its gradient finite at a
    // perfect overlap (d/dx x^0.75 is infinite at 0).
    let one_minus = tversky_index(p, y, delta, smooth).neg().add_scalar(1.0).clamp(EPS, 1.0);
    one_minus.powf_scalar(gamma).mean()
}

/// Pixel counts of thresholded predictions (p ≥ 0.5) against labels (y ≥ 0.5), summed over batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    /// Predicted and true.
    pub tp: u64,
    /// Predicted, not true.
    pub fp: u64,
    /// True, not predicted.
    pub fn_: u64,
    /// Neither.
    pub tn: u64,
}

impl Confusion {
    /// Add the pixels of probabilities `p` against labels `y` (same length).
    pub fn add(&mut self, p: &[f32], y: &[f32]) {
        for (&p, &y) in p.iter().zip(y) {
            match (p >= 0.5, y >= 0.5) {
                (true, true) => self.tp += 1,
                (true, false) => self.fp += 1,
                (false, true) => self.fn_ += 1,
                (false, false) => self.tn += 1,
            }
        }
    }

    /// 2TP / (2TP + FP + FN); 1 when neither labels nor predictions have a positive pixel.
    pub fn dice(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
    /// TP / (TP + FP + FN); 1 when both are empty.
    pub fn iou(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp + self.fn_)
    }
    /// TP / (TP + FP); 1 when nothing is predicted.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    /// TP / (TP + FN); 1 when there is nothing to find.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

/// Each loss by name, as a value: `Model::unet().loss(FocalTversky)` (with the original's
/// hyper-parameters; `Loss::focal_tversky().with_…` to change them).
pub mod names {
    use super::Loss;

    macro_rules! loss_names {
        ($($name:ident => $ctor:ident),* $(,)?) => {$(
            #[doc = concat!("[`Loss::", stringify!($ctor), "`] as a value.")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $name;

            impl From<$name> for Loss {
                fn from(_: $name) -> Loss {
                    Loss::$ctor()
                }
            }
        )*};
    }

    loss_names! {
        BinaryCrossentropy => binary_crossentropy, Focal => focal, Dice => dice, Tversky => tversky,
        FocalTversky => focal_tversky, FocalDice => focal_dice, Combo => combo, CosineTversky => cosine_tversky,
        MixedFocal => mixed_focal,
    }
}
