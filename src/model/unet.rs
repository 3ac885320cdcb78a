//! U-Net (Ronneberger et al. 2015) in two configurations:
//! - [`XclusterUnet`]: the original xCluster network (encoder 32-64-128-256 of 2×[conv3 BN ReLU] with
//!   2×2 max-pooling, dropout 0.2 after the last two levels, bottleneck 2×conv512 ReLU, 2×2 transposed
//!   convolutions up, no batch norm in the decoder, a single convolution at the 64-filter level);
//!   7,725,953 trainable / 7,727,873 total parameters with 6 bands, as the original.
//! - [`Unet2d`]: keras-unet-collection's `unet_2d` (\[64,128,256,512\], two convolutions per level, no
//!   batch norm, max-pooling down, bilinear up then one convolution before the concatenation);
//!   8,559,233 parameters with 6 bands.
//!
//! In: `[N, bands, H, W]` with H, W divisible by 2^(levels); out: `[N, 1, H, W]` probabilities.

use burn::module::Module;
use burn::nn::conv::{ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, Tensor};

use super::blocks::{cat, encoder, ConvOpts, ConvStack, Down, Head, Up};

/// The original xCluster U-Net. `filters` are the encoder widths (default [32, 64, 128, 256]);
/// the bottleneck has twice the last width.
#[derive(Module, Debug)]
pub struct XclusterUnet {
    down: Vec<ConvStack>,
    pool: Down,
    dropout: Dropout,
    bottleneck: ConvStack,
    up: Vec<ConvTranspose2d>,
    decode: Vec<ConvStack>,
    head: Head,
}

impl XclusterUnet {
    /// Build for `bands` input channels and encoder widths `filters`.
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        // Plain Keras Conv2D keeps its bias in front of batch norm (960 of the 7,725,953 parameters).
        let bn = ConvOpts::relu3(true).bias(true);
        let plain = ConvOpts::relu3(false);
        let down = encoder(bands, filters, 2, bn, device);
        let cin = filters[filters.len() - 1];
        let bottom = 2 * cin;
        let bottleneck = ConvStack::new(cin, bottom, 2, plain, device);
        let (mut up, mut decode) = (Vec::new(), Vec::new());
        let mut prev = bottom;
        let levels = filters.len();
        for (level, &f) in filters.iter().enumerate().rev() {
            up.push(ConvTranspose2dConfig::new([prev, f], [2, 2]).with_stride([2, 2]).init(device));
            // The original decoder has a single convolution at its second-finest level.
            let stack = if levels >= 2 && level == 1 { 1 } else { 2 };
            decode.push(ConvStack::new(2 * f, f, stack, plain, device));
            prev = f;
        }
        Self {
            down,
            pool: Down::max_pool(),
            dropout: DropoutConfig::new(0.2).init(),
            bottleneck,
            up,
            decode,
            head: Head::new(prev, device),
        }
    }

    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let levels = self.down.len();
        let mut skips = Vec::with_capacity(levels);
        let mut x = x;
        for (level, stack) in self.down.iter().enumerate() {
            x = stack.forward(x); // [N, f, H/2^level, W/2^level]
            if level + 2 >= levels {
                x = self.dropout.forward(x); // dropout on the two deepest levels, as the original
            }
            skips.push(x.clone());
            x = self.pool.forward(x);
        }
        let mut x = self.bottleneck.forward(x); // [N, 2f_last, H/2^L, W/2^L]
        for ((up, decode), skip) in self.up.iter().zip(&self.decode).zip(skips.into_iter().rev()) {
            x = up.forward(x); // [N, f, 2h, 2w]
            x = decode.forward(cat(vec![x, skip])); // [N, f, 2h, 2w]
        }
        self.head.forward(x)
    }
}

/// keras-unet-collection's `unet_2d`: `filters` per level (default [64, 128, 256, 512]), two
/// convolutions per level, ReLU, no batch norm, max-pooling down, bilinear up.
#[derive(Module, Debug)]
pub struct Unet2d {
    down: Vec<ConvStack>,
    pool: Down,
    up: Up,
    before_concat: Vec<ConvStack>,
    after_concat: Vec<ConvStack>,
    head: Head,
    /// Concatenate the encoder skips (false only for the skip-less `unet_plus_2d`, see `unet_plus`).
    skips: bool,
}

impl Unet2d {
    /// Build for `bands` input channels and level widths `filters`.
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        Self::build(bands, filters, true, device)
    }

    /// The same network without the skip concatenations (what keras-unet-collection's
    /// `unet_plus_2d` builds, see [`super::unet_plus`]).
    pub fn without_skips(bands: usize, filters: &[usize], device: &Device) -> Self {
        Self::build(bands, filters, false, device)
    }

    fn build(bands: usize, filters: &[usize], skips: bool, device: &Device) -> Self {
        let opts = ConvOpts::relu3(false);
        let down = encoder(bands, filters, 2, opts, device);
        let (mut before_concat, mut after_concat) = (Vec::new(), Vec::new());
        let mut prev = filters[filters.len() - 1];
        for &f in filters[..filters.len() - 1].iter().rev() {
            before_concat.push(ConvStack::new(prev, f, 1, opts, device));
            let cin = if skips { 2 * f } else { f };
            after_concat.push(ConvStack::new(cin, f, 2, opts, device));
            prev = f;
        }
        Self {
            down,
            pool: Down::max_pool(),
            up: Up::bilinear(),
            before_concat,
            after_concat,
            head: Head::new(prev, device),
            skips,
        }
    }

    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.down.len());
        let mut x = x;
        for (level, stack) in self.down.iter().enumerate() {
            if level > 0 {
                x = self.pool.forward(x);
            }
            x = stack.forward(x);
            skips.push(x.clone());
        }
        let mut x = skips.pop().expect("at least one level");
        for ((before, after), skip) in self.before_concat.iter().zip(&self.after_concat).zip(skips.into_iter().rev()) {
            x = before.forward(self.up.forward(x)); // [N, f, 2h, 2w]
            x = after.forward(if self.skips { cat(vec![x, skip]) } else { x });
        }
        self.head.forward(x)
    }
}
