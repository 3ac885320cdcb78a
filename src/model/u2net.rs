//! U²-Net (Qin et al. 2020), keras-unet-collection's `u2net_2d` as configured for xCluster:
//! `filter_num_down=[64,128,256,512]` (and the same widths up), intermediate widths
//! `[16,32,64,128]`, two RSU-4F levels of 512 with intermediate width 256, ReLU, no batch norm,
//! 2×2 max-pooling down, bilinear up, sigmoid output, no deep supervision; 48,881,229 parameters
//! with 6 bands.
//!
//! - Every level is a residual U-block: `Rsu` (a small U-Net of depth `levels + 1 − level`
//!   whose output is added to its input convolution) at the `filters` levels, then two `Rsu4f`
//!   levels (dilated convolutions instead of pooling) below them; the decoder mirrors all but the
//!   bottom one, each decoder block taking the up-sampled previous output concatenated with the
//!   encoder output of its level.
//! - The output: one 3×3 convolution to one channel per decoder level and the bottom, each
//!   up-sampled (bilinear) to full size and passed through a sigmoid, fused by a 1×1 convolution
//!   and a sigmoid. Keras' deep-supervision variant also returns the side outputs; only the fused
//!   output is used (it is the whole Keras model when `deep_supervision=False`).
//! - Widths derive from `filters` as Keras' 'auto' settings do: intermediate widths are `filters/4`,
//!   the RSU-4F widths the last filter, their intermediate width half of it (all at least 1).
//!
//! In: `[N, bands, H, W]` with H, W divisible by 2^(levels + 1) (the bottom RSU-4F works at
//! H/2^(levels + 1), and the finest RSU pools `levels + 1` times); out: `[N, 1, H, W]` probabilities.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::{activation, Device, Tensor};

use super::blocks::{cat, conv, upsample, ConvBnAct, ConvOpts, Down, Head, Up};

/// 3×3 convolution (with bias, no batch norm, dilation `dilation`) → ReLU: Keras' one-layer
/// `CONV_stack` as U²-Net uses it.
fn relu_conv(cin: usize, cout: usize, dilation: usize, device: &Device) -> ConvBnAct {
    ConvBnAct::new(cin, cout, ConvOpts::relu3(false).dilation(dilation), device)
}

/// Dilation rates of the RSU-4F blocks (fixed in Keras).
const RSU4F_DILATIONS: [usize; 4] = [1, 2, 4, 8];

/// Keras' `RSU`: an input convolution to `cout`, a U-Net of `depth` poolings at width `mid` (a
/// dilated convolution at the bottom), an output convolution to `cout` added to the input one.
#[derive(Module, Debug)]
struct Rsu {
    input: ConvBnAct,
    /// `depth + 1` convolutions, the first at full size.
    down: Vec<ConvBnAct>,
    bottom: ConvBnAct,
    /// `depth` convolutions, deepest first, each followed by an up-sampling.
    up: Vec<ConvBnAct>,
    output: ConvBnAct,
    pool: Down,
    unpool: Up,
}

impl Rsu {
    /// `cin` → `cout` with intermediate width `mid` and `depth` poolings.
    fn new(cin: usize, mid: usize, cout: usize, depth: usize, device: &Device) -> Self {
        Self {
            input: relu_conv(cin, cout, 1, device),
            down: (0..=depth).map(|i| relu_conv(if i == 0 { cout } else { mid }, mid, 1, device)).collect(),
            bottom: relu_conv(mid, mid, 2, device),
            up: (0..depth).map(|_| relu_conv(2 * mid, mid, 1, device)).collect(),
            output: relu_conv(2 * mid, cout, 1, device),
            pool: Down::max_pool(),
            unpool: Up::bilinear(),
        }
    }

    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, H, W]` (H, W divisible by 2^depth)
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let input = self.input.forward(x); // [N, cout, H, W]
        let mut skips = Vec::with_capacity(self.down.len());
        let mut x = input.clone();
        for (i, layer) in self.down.iter().enumerate() {
            if i > 0 {
                x = self.pool.forward(x);
            }
            x = layer.forward(x); // [N, mid, H/2^i, W/2^i]
            skips.push(x.clone());
        }
        x = self.bottom.forward(x); // [N, mid, H/2^depth, W/2^depth]
        let finest = skips.remove(0);
        for (layer, skip) in self.up.iter().zip(skips.into_iter().rev()) {
            x = self.unpool.forward(layer.forward(cat(vec![x, skip]))); // [N, mid, 2h, 2w]
        }
        self.output.forward(cat(vec![x, finest])) + input
    }
}

/// Keras' `RSU4F`: like `Rsu` but without pooling, the U replaced by convolutions dilated by
/// 1, 2, 4, 8 down and 4, 2, 1 up.
#[derive(Module, Debug)]
struct Rsu4f {
    input: ConvBnAct,
    down: Vec<ConvBnAct>,
    /// Dilated 4 then 2.
    up: Vec<ConvBnAct>,
    output: ConvBnAct,
}

impl Rsu4f {
    /// `cin` → `cout` with intermediate width `mid`.
    fn new(cin: usize, mid: usize, cout: usize, device: &Device) -> Self {
        let down = RSU4F_DILATIONS
            .iter()
            .enumerate()
            .map(|(i, &d)| relu_conv(if i == 0 { cout } else { mid }, mid, d, device))
            .collect();
        let up = RSU4F_DILATIONS[1..3].iter().rev().map(|&d| relu_conv(2 * mid, mid, d, device)).collect();
        Self { input: relu_conv(cin, cout, 1, device), down, up, output: relu_conv(2 * mid, cout, 1, device) }
    }

    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, H, W]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let input = self.input.forward(x); // [N, cout, H, W]
        let mut skips = Vec::with_capacity(self.down.len());
        let mut x = input.clone();
        for layer in &self.down {
            x = layer.forward(x); // [N, mid, H, W]
            skips.push(x.clone());
        }
        skips.pop(); // the most dilated output continues as x
        for layer in &self.up {
            let skip = skips.pop().expect("one skip per up layer and one for the output");
            x = layer.forward(cat(vec![x, skip]));
        }
        let finest = skips.pop().expect("the first down layer's output");
        self.output.forward(cat(vec![x, finest])) + input
    }
}

/// A level of the network: a residual U-block or its dilated variant (a handful per network, so
/// the size difference of the variants does not matter).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
enum Stage {
    /// A pooling U-block.
    Rsu(Rsu),
    /// A dilated U-block (the deepest levels).
    Rsu4f(Rsu4f),
}

impl Stage {
    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, H, W]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Rsu(block) => block.forward(x),
            Self::Rsu4f(block) => block.forward(x),
        }
    }
}

/// keras-unet-collection's `u2net_2d`: `filters` per RSU level (default [64, 128, 256, 512]),
/// followed by two RSU-4F levels at the last width.
#[derive(Module, Debug)]
pub struct U2net {
    /// `levels` RSU levels then two RSU-4F levels, finest first.
    encode: Vec<Stage>,
    /// One RSU-4F level then `levels` RSU levels, deepest first.
    decode: Vec<Stage>,
    /// One 3×3 convolution to a channel per decoder level and the bottom, finest first.
    side: Vec<Conv2d>,
    pool: Down,
    up: Up,
    fuse: Head,
}

impl U2net {
    /// Build for `bands` input channels and RSU output widths `filters`.
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        let levels = filters.len();
        let last = filters[levels - 1];
        let mid = |f: usize| (f / 4).max(1);
        let mid_4f = (last / 2).max(1);
        let mut encode = Vec::with_capacity(levels + 2);
        let mut cin = bands;
        for (level, &f) in filters.iter().enumerate() {
            encode.push(Stage::Rsu(Rsu::new(cin, mid(f), f, levels + 1 - level, device)));
            cin = f;
        }
        for _ in 0..2 {
            encode.push(Stage::Rsu4f(Rsu4f::new(cin, mid_4f, last, device)));
            cin = last;
        }
        // The decoder RSU-4F takes the bottom output and the first RSU-4F output.
        let mut decode = vec![Stage::Rsu4f(Rsu4f::new(2 * last, mid_4f, last, device))];
        let mut prev = last;
        for (level, &f) in filters.iter().enumerate().rev() {
            decode.push(Stage::Rsu(Rsu::new(prev + f, mid(f), f, levels + 1 - level, device)));
            prev = f;
        }
        // Side outputs, finest first: the RSU decoder levels, the decoder RSU-4F, the bottom.
        let side = filters.iter().chain([&last, &last]).map(|&f| conv(f, 1, 3, 1, true, device)).collect();
        Self { encode, decode, side, pool: Down::max_pool(), up: Up::bilinear(), fuse: Head::new(levels + 2, device) }
    }

    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.encode.len());
        let mut x = x;
        for (level, stage) in self.encode.iter().enumerate() {
            if level > 0 {
                x = self.pool.forward(x);
            }
            x = stage.forward(x); // [N, f, H/2^level, W/2^level]
            skips.push(x.clone());
        }
        skips.pop(); // the bottom output is x itself
        let mut outs = vec![x.clone()]; // deepest first
        for (stage, skip) in self.decode.iter().zip(skips.into_iter().rev()) {
            x = stage.forward(cat(vec![self.up.forward(x), skip])); // [N, f, 2h, 2w]
            outs.push(x.clone());
        }
        let sides = self
            .side
            .iter()
            .zip(outs.into_iter().rev())
            .enumerate()
            .map(|(level, (conv, out))| {
                let side = conv.forward(out); // [N, 1, H/2^level, W/2^level]
                let side = if level == 0 { side } else { upsample(side, 1 << level) };
                activation::sigmoid(side) // [N, 1, H, W]
            })
            .collect();
        self.fuse.forward(cat(sides))
    }
}
