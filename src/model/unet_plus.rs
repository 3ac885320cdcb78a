//! UNet++ (Zhou et al. 2018) as keras-unet-collection 0.1.13 builds it:
//! `unet_plus_2d(input, [64, 128, 256, 512], 1, stack_num_down=2, stack_num_up=2, activation='ReLU',
//! output_activation='Sigmoid', batch_norm=False, pool=True, unpool=True, deep_supervision=False)`;
//! 7,785,089 parameters with 6 bands, as the Keras model.
//!
//! **What the reference really is.** `unet_plus_2d_base` calls every nested decoder node
//! (`UNET_right`) with `concat=False`, so the skip tensors it collects are never concatenated. Each
//! nested node then depends on one deeper node only, and the model output `X_nest_skip[-1][0]`
//! depends only on the chain `down{L-1} → up0_from{L-2} → up1_from{L-3} → … → up{L-2}_from0`. Keras
//! keeps only the layers between the input and the output, so every other nested node is dropped
//! from the model (and from its parameter count). The network is therefore an encoder–decoder with
//! **no skip connections**; this port reproduces exactly that chain (and so the Keras count), not the
//! dense nested skips of the paper.
//!
//! Encoder: per level a stack of two 3×3 convolutions + ReLU, 2×2 max-pooling between levels.
//! Decoder, from the deepest level up to the finest: bilinear ×2 up-sampling, one 3×3 convolution to
//! the level's width ("before concat"), two 3×3 convolutions ("after concat"), ReLU, no batch norm;
//! then a 1×1 convolution + sigmoid.
//!
//! In: `[N, bands, H, W]` with H, W divisible by 2^(levels − 1); out: `[N, 1, H, W]` probabilities.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::unet::Unet2d;

/// keras-unet-collection's `unet_plus_2d` (the layers its Keras model actually contains, see the
/// module doc): `unet_2d` without the skip concatenations, `filters` per level (default [64, 128, 256, 512]).
#[derive(Module, Debug)]
pub struct UnetPlus {
    inner: Unet2d,
}

impl UnetPlus {
    /// Build for `bands` input channels and level widths `filters`.
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        Self { inner: Unet2d::without_skips(bands, filters, device) }
    }

    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.inner.forward(x)
    }
}
