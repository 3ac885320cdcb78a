//! ResUNet-a (Diakogiannis et al. 2020), keras-unet-collection's `resunet_a_2d` as configured for
//! xCluster: `filter_num=[64,128,256,512]`, `dilation_num=[1,3,15,31]`, `aspp_num_down=256`,
//! `aspp_num_up=128`, ReLU, `batch_norm=True`, `pool=True` (2×2 max-pooling down), `unpool=True`
//! (bilinear up), sigmoid output; 23,485,889 trainable / 23,507,905 total parameters with 6 bands.
//!
//! - An input mapping (1×1 convolution with bias, ReLU) to `filters[0]`.
//! - Every level is a ResUNet-a block: one two-convolution stack (3×3, BN, ReLU) per dilation rate
//!   of the level, run in parallel on the same input and summed. The rates per level follow Keras'
//!   automatic rule for a flat `dilation_num` ([`level_dilations`]): all four at the two finest
//!   levels, the first three down to level `(levels − 2) / 2 + 1`, then only 1. The decoder level
//!   `i` reuses the rates of encoder level `i`.
//! - Atrous spatial pyramid pooling (`Aspp`) at the bottom and after the last decoder level
//!   (concatenated with the input mapping); each returns five branches of its width.
//! - Widths: the ASPP widths are half and a quarter of the last filter (256 and 128 for the
//!   defaults, Keras' `aspp_num_down` / `aspp_num_up`), at least 1.
//!
//! Keras resizes the ASPP's global-average-pooling branch back with `align_corners=True`
//! bilinear interpolation; from a 1×1 map that is a broadcast, which is what is done here.
//!
//! In: `[N, bands, H, W]` with H, W divisible by 2^(levels − 1); out: `[N, 1, H, W]` probabilities.

use burn::module::Module;
use burn::nn::conv::Conv2d;

use burn::tensor::{activation, Device, Tensor};

use super::blocks::{cat, conv, ConvBnAct, ConvOpts, Down, Head, Up};

/// Keras' `dilation_num`: the dilation rates of the finest levels.
pub const DILATIONS: [usize; 4] = [1, 3, 15, 31];

/// Dilation rates of each level for a network of `levels` levels, Keras' automatic rule for a flat
/// `dilation_num` (`[[1,3,15,31], [1,3,15,31], [1,3,15], [1]]` for four levels).
pub fn level_dilations(levels: usize) -> Vec<Vec<usize>> {
    let deep = levels.saturating_sub(2) / 2;
    (0..levels)
        .map(|i| match i {
            0 | 1 => DILATIONS.to_vec(),
            i if i <= deep + 1 => DILATIONS[..DILATIONS.len() - 1].to_vec(),
            _ => vec![1],
        })
        .collect()
}

/// Keras' `ResUNET_a_block`: per dilation rate a stack of two 3×3 convolutions (BN, ReLU), the
/// parallel stacks summed.
#[derive(Module, Debug)]
struct ResBlock {
    branches: Vec<Vec<ConvBnAct>>,
}

impl ResBlock {
    /// `cin` → `cout` with one branch per rate in `dilations`.
    fn new(cin: usize, cout: usize, dilations: &[usize], device: &Device) -> Self {
        let branches = dilations
            .iter()
            .map(|&d| {
                let opts = ConvOpts::relu3(true).dilation(d);
                vec![ConvBnAct::new(cin, cout, opts, device), ConvBnAct::new(cout, cout, opts, device)]
            })
            .collect();
        Self { branches }
    }

    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, H, W]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.branches
            .iter()
            .map(|stack| stack.iter().fold(x.clone(), |x, layer| layer.forward(x)))
            .reduce(|sum, branch| sum + branch)
            .expect("a ResUNet-a block has at least one dilation rate")
    }
}

/// Keras' `ASPP_conv`: five branches of `width` channels concatenated — global average pooling →
/// 1×1 conv (broadcast back), a 1×1 conv, and three depthwise-separable 3×3 convolutions with
/// dilation 6, 9 and 12; every convolution is followed by BN and ReLU (and has no bias).
#[derive(Module, Debug)]
struct Aspp {
    pooled: ConvBnAct,
    pointwise: ConvBnAct,
    /// Per rate: depthwise 3×3 then pointwise 1×1.
    separable: Vec<[ConvBnAct; 2]>,
}

impl Aspp {
    /// `cin` → `5·width` channels.
    fn new(cin: usize, width: usize, device: &Device) -> Self {
        let one = ConvOpts::relu3(true).kernel(1);
        let separable = [6, 9, 12]
            .iter()
            .map(|&d| {
                [
                    ConvBnAct::new(cin, cin, ConvOpts::relu3(true).dilation(d).groups(cin), device),
                    ConvBnAct::new(cin, width, one, device),
                ]
            })
            .collect();
        Self {
            pooled: ConvBnAct::new(cin, width, one, device),
            pointwise: ConvBnAct::new(cin, width, one, device),
            separable,
        }
    }

    /// # Shapes
    /// `[N, cin, H, W]` → `[N, 5·width, H, W]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, _, h, w] = x.dims();
        let pooled = self.pooled.forward(x.clone().mean_dim(2).mean_dim(3)); // [N, width, 1, 1]
        let width = pooled.dims()[1];
        let mut branches = vec![pooled.expand([n, width, h, w]), self.pointwise.forward(x.clone())];
        for [depthwise, pointwise] in &self.separable {
            branches.push(pointwise.forward(depthwise.forward(x.clone())));
        }
        cat(branches)
    }
}

/// keras-unet-collection's `resunet_a_2d`: `filters` per level (default [64, 128, 256, 512]).
#[derive(Module, Debug)]
pub struct ResunetA {
    input_mapping: Conv2d,
    encode: Vec<ResBlock>,
    pool: Down,
    aspp_bottom: Aspp,
    up: Up,
    decode: Vec<ResBlock>,
    aspp_out: Aspp,
    head: Head,
}

impl ResunetA {
    /// Build for `bands` input channels and level widths `filters`.
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        let last = filters[filters.len() - 1];
        let (aspp_down, aspp_up) = ((last / 2).max(1), (last / 4).max(1));
        let dilations = level_dilations(filters.len());
        let mut cin = filters[0];
        let encode = filters
            .iter()
            .zip(&dilations)
            .map(|(&f, rates)| {
                let block = ResBlock::new(cin, f, rates, device);
                cin = f;
                block
            })
            .collect();
        let mut prev = 5 * aspp_down;
        let shallow = filters.len() - 1;
        let decode = filters[..shallow]
            .iter()
            .zip(&dilations[..shallow])
            .rev()
            .map(|(&f, rates)| {
                let block = ResBlock::new(prev + f, f, rates, device);
                prev = f;
                block
            })
            .collect();
        Self {
            input_mapping: conv(bands, filters[0], 1, 1, true, device),
            encode,
            pool: Down::max_pool(),
            aspp_bottom: Aspp::new(last, aspp_down, device),
            up: Up::bilinear(),
            decode,
            aspp_out: Aspp::new(2 * filters[0], aspp_up, device),
            head: Head::new(5 * aspp_up, device),
        }
    }

    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mapped = activation::relu(self.input_mapping.forward(x)); // [N, f0, H, W]
        let mut skips = Vec::with_capacity(self.encode.len());
        let mut x = mapped.clone();
        for (level, block) in self.encode.iter().enumerate() {
            if level > 0 {
                x = self.pool.forward(x);
            }
            x = block.forward(x); // [N, f, H/2^level, W/2^level]
            skips.push(x.clone());
        }
        skips.pop(); // the deepest level feeds the bottom ASPP, not a skip connection
        let mut x = self.aspp_bottom.forward(x); // [N, 5·aspp_down, h, w]
        for (block, skip) in self.decode.iter().zip(skips.into_iter().rev()) {
            x = block.forward(cat(vec![self.up.forward(x), skip])); // [N, f, 2h, 2w]
        }
        let x = self.aspp_out.forward(cat(vec![mapped, x])); // [N, 5·aspp_up, H, W]
        self.head.forward(x)
    }
}
