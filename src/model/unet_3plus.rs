//! UNet 3+ (Huang et al. 2020) as keras-unet-collection 0.1.13 builds it:
//! `unet_3plus_2d(input, 1, [64, 128, 256, 512], filter_num_skip='auto', filter_num_aggregate='auto',
//! stack_num_down=2, stack_num_up=1, activation='ReLU', output_activation='Sigmoid', batch_norm=False,
//! pool=True, unpool=True, deep_supervision=False)`; 7,640,641 trainable / 7,642,177 total parameters
//! with 6 bands, as the Keras model.
//!
//! Widths follow Keras' 'auto' mode: every full-scale skip has `filters[0]` channels and every
//! aggregation `levels × filters[0]` (64 and 256 by default).
//!
//! Encoder: per level a stack of two 3×3 convolutions + ReLU (no batch norm), 2×2 max-pooling between
//! levels. Each decoder level (deepest first) fuses one tensor per coarser-or-equal scale: deeper
//! decoder outputs (the bottom encoder level counting as the first) up-sampled bilinearly by 2^k, the
//! encoder output of the same level, and shallower encoder outputs max-pooled by 2^k; each goes
//! through one 3×3 convolution + ReLU to the skip width, then they are concatenated and fused by one
//! 3×3 convolution + **batch norm** + ReLU to the aggregate width. Keras hard-codes
//! `batch_norm=True` in that fusion stack whatever `batch_norm` says, which is where the reference's
//! 768 batch-norm channels (3 levels × 256) come from. The finest decoder output goes through a
//! **3×3** convolution + sigmoid (`CONV_output(kernel_size=3)`), not the usual 1×1.
//!
//! Quirk of the reference, reproduced: the full-scale loop runs over `depth − 1` sources
//! (`for lev in range(depth_decode)`), so the finest encoder level is never a skip input — not even
//! at the finest decoder level, which fuses only up-sampled deeper tensors. Each fusion therefore
//! concatenates `levels − 1` skips (192 channels by default) while the paper uses `levels`.
//!
//! In: `[N, bands, H, W]` with H, W divisible by 2^(levels − 1); out: `[N, 1, H, W]` probabilities.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::{activation, Device, Tensor};

use super::blocks::{cat, conv, encoder, upsample, ConvOpts, ConvStack, Down};

/// keras-unet-collection's `unet_3plus_2d`: encoder widths `filters` (default [64, 128, 256, 512]),
/// skip width `filters[0]`, aggregate width `levels × filters[0]`.
#[derive(Module, Debug)]
pub struct Unet3plus {
    down: Vec<ConvStack>,
    pool: Down,
    stages: Vec<FusionStage>,
    head: Conv2d,
}

/// One decoder level: a convolution per source scale, then the batch-normalised fusion.
#[derive(Module, Debug)]
struct FusionStage {
    /// One per source, deepest source first (the Keras concatenation order).
    scale: Vec<ConvStack>,
    fusion: ConvStack,
}

impl Unet3plus {
    /// Build for `bands` input channels and encoder widths `filters`.
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        let levels = filters.len();
        let plain = ConvOpts::relu3(false);
        let down = encoder(bands, filters, 2, plain, device);
        // Keras 'auto': filter_num_skip = filters[0] for every level, aggregate = depth × filters[0].
        let skip = filters[0];
        let aggregate = levels * skip;
        let stages = (0..levels - 1)
            .map(|stage| {
                let target = levels - 2 - stage;
                let scale = (1..levels)
                    .rev()
                    .map(|source| {
                        // Deeper sources are decoder outputs (aggregate wide), except the bottom encoder level.
                        let width = if source > target && source < levels - 1 { aggregate } else { filters[source] };
                        ConvStack::new(width, skip, 1, plain, device)
                    })
                    .collect();
                // The reference fixes batch_norm=True here (stack_num_up = 1 convolution).
                let fusion = ConvStack::new((levels - 1) * skip, aggregate, 1, ConvOpts::relu3(true), device);
                FusionStage { scale, fusion }
            })
            .collect();
        Self { down, pool: Down::max_pool(), stages, head: conv(aggregate, 1, 3, 1, true, device) }
    }

    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let levels = self.down.len();
        let mut encoded = Vec::with_capacity(levels);
        let mut x = x;
        for (level, stack) in self.down.iter().enumerate() {
            if level > 0 {
                x = self.pool.forward(x);
            }
            x = stack.forward(x); // [N, f_level, H/2^level, W/2^level]
            encoded.push(x.clone());
        }
        // decoded[k] is at level levels − 1 − k; the bottom encoder output counts as the first.
        let mut decoded = vec![x];
        for (stage, fusion) in self.stages.iter().enumerate() {
            let target = levels - 2 - stage;
            let parts = fusion
                .scale
                .iter()
                .enumerate()
                .map(|(k, layer)| {
                    let source = levels - 1 - k;
                    // [N, skip, H/2^target, W/2^target]
                    layer.forward(self.rescale(&encoded, &decoded, source, target))
                })
                .collect();
            decoded.push(fusion.fusion.forward(cat(parts))); // [N, aggregate, H/2^target, W/2^target]
        }
        let last = decoded.pop().expect("at least one decoder level");
        activation::sigmoid(self.head.forward(last)) // [N, 1, H, W]
    }

    /// The tensor of level `source` brought to level `target`: a decoder output up-sampled by
    /// 2^(source − target), the encoder output itself, or an encoder output max-pooled by
    /// 2^(target − source).
    fn rescale(&self, encoded: &[Tensor<4>], decoded: &[Tensor<4>], source: usize, target: usize) -> Tensor<4> {
        if source > target {
            let levels = encoded.len();
            return upsample(decoded[levels - 1 - source].clone(), 1 << (source - target));
        }
        // Repeated 2×2 max-pooling equals one 2^k×2^k max-pooling (maxima over nested disjoint blocks).
        (source..target).fold(encoded[source].clone(), |x, _| self.pool.forward(x))
    }
}
