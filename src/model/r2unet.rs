//! Recurrent residual U-Net, R2U-Net (Alom et al. 2018), keras-unet-collection's `r2_unet_2d` as
//! configured for xCluster: `filter_num=[64,128,256,512]`, two recurrent layers per level down and up,
//! two recurrent iterations, ReLU, no batch norm, 2×2 max-pooling down, bilinear up-sampling then one
//! convolution before each concatenation, sigmoid output; 25,348,609 parameters with 6 bands.
//!
//! In: `[N, bands, H, W]` with H, W divisible by 2^(levels − 1); out: `[N, 1, H, W]` probabilities.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};

use super::blocks::{cat, conv, ConvBnAct, ConvOpts, ConvStack, Down, Head, Up};

/// Layers per recurrent block (`stack_num_down`, `stack_num_up`) and recurrent iterations (`recur_num`).
const STACK_NUM: usize = 2;
const RECUR_NUM: usize = 2;

/// One recurrent convolutional layer of `RR_CONV`: a convolution, then `RECUR_NUM` times a
/// convolution of (its last output + the layer input); each convolution has its own weights.
#[derive(Module, Debug)]
struct RecurrentLayer {
    first: ConvBnAct,
    recur: Vec<ConvBnAct>,
}

impl RecurrentLayer {
    /// `1 + RECUR_NUM` convolutions `channels` → `channels` (3×3, bias, ReLU).
    fn new(channels: usize, device: &Device) -> Self {
        let opts = ConvOpts::relu3(false);
        Self {
            first: ConvBnAct::new(channels, channels, opts, device),
            recur: (0..RECUR_NUM).map(|_| ConvBnAct::new(channels, channels, opts, device)).collect(),
        }
    }

    /// # Shapes
    /// `[N, C, H, W]` → `[N, C, H, W]`
    fn forward(&self, main: Tensor<4>) -> Tensor<4> {
        let res = self.first.forward(main.clone());
        self.recur.iter().fold(res, |res, conv| conv.forward(res + main.clone()))
    }
}

/// Keras' `RR_CONV`: a 1×1 convolution to `channels`, `STACK_NUM` recurrent layers, and the 1×1
/// output added back (the residual).
#[derive(Module, Debug)]
struct RrConv {
    skip: Conv2d,
    layers: Vec<RecurrentLayer>,
}

impl RrConv {
    /// `cin` → `channels`.
    fn new(cin: usize, channels: usize, device: &Device) -> Self {
        Self {
            skip: conv(cin, channels, 1, 1, true, device),
            layers: (0..STACK_NUM).map(|_| RecurrentLayer::new(channels, device)).collect(),
        }
    }

    /// # Shapes
    /// `[N, cin, H, W]` → `[N, channels, H, W]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let skip = self.skip.forward(x);
        let main = self.layers.iter().fold(skip.clone(), |main, layer| layer.forward(main));
        main + skip
    }
}

/// One decoder level (`UNET_RR_right`): bilinear up-sampling, one convolution, concatenation with the
/// skip, recurrent block.
#[derive(Module, Debug)]
struct Right {
    before_concat: ConvStack,
    rr: RrConv,
}

/// keras-unet-collection's `r2_unet_2d`: `filters` per level, finest first (default [64, 128, 256, 512]).
#[derive(Module, Debug)]
pub struct R2Unet {
    down: Vec<RrConv>,
    pool: Down,
    up: Up,
    right: Vec<Right>,
    head: Head,
}

impl R2Unet {
    /// Build for `bands` input channels and level widths `filters`.
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        let mut cin = bands;
        let down = filters
            .iter()
            .map(|&f| {
                let rr = RrConv::new(cin, f, device);
                cin = f;
                rr
            })
            .collect();
        let mut right = Vec::new();
        let mut prev = cin;
        for &f in filters[..filters.len() - 1].iter().rev() {
            right.push(Right {
                before_concat: ConvStack::new(prev, f, 1, ConvOpts::relu3(false), device),
                rr: RrConv::new(2 * f, f, device),
            });
            prev = f;
        }
        Self { down, pool: Down::max_pool(), up: Up::bilinear(), right, head: Head::new(prev, device) }
    }

    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.down.len());
        let mut x = x;
        for (level, rr) in self.down.iter().enumerate() {
            if level > 0 {
                x = self.pool.forward(x); // [N, C, h/2, w/2]
            }
            x = rr.forward(x); // [N, f, h, w]
            skips.push(x.clone());
        }
        let mut x = skips.pop().expect("at least one level");
        for (right, skip) in self.right.iter().zip(skips.into_iter().rev()) {
            x = right.before_concat.forward(self.up.forward(x)); // [N, f, 2h, 2w]
            x = right.rr.forward(cat(vec![x, skip])); // [N, f, 2h, 2w]
        }
        self.head.forward(x)
    }
}
