//! Building blocks shared by the networks, named after keras-unet-collection's `layer_utils`
//! (`CONV_stack`, `encode_layer`, `decode_layer`) so each network file reads like its reference.
//!
//! Every block maps an NCHW tensor to an NCHW tensor; spatial sizes are "same" unless stated.
//! Convolutions carry a bias only when no batch norm follows them (`use_bias = not batch_norm`, [`ConvOpts::bias`]),
//! which is what makes parameter counts equal the Keras ones.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{activation, Device, Tensor};

/// The non-linearity after a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ActKind {
    /// max(0, x).
    Relu,
    /// Keras `PReLU()` with its default (no shared axes): one learned slope per channel *and* pixel,
    /// so it needs the spatial size of its input.
    PRelu,
}

/// An activation module: ReLU, or a PReLU whose slopes are a `[C, H, W]` parameter (Keras default).
#[derive(Module, Debug)]
pub struct Act {
    /// PReLU slopes `[C, H, W]`, initialised to 0 as in Keras; `None` means ReLU.
    alpha: Option<Param<Tensor<3>>>,
}

impl Act {
    /// A ReLU, or a PReLU for `channels` maps of `size`×`size` pixels.
    pub fn new(kind: ActKind, channels: usize, size: usize, device: &Device) -> Self {
        let alpha = match kind {
            ActKind::Relu => None,
            ActKind::PRelu => Some(Initializer::Zeros.init([channels, size, size], device)),
        };
        Self { alpha }
    }

    /// # Shapes
    /// `[N, C, H, W]` → `[N, C, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.alpha {
            None => activation::relu(x),
            Some(alpha) => prelu(x, alpha.val()),
        }
    }
}

/// PReLU with per-pixel slopes: x for x > 0, α·x otherwise, α `[C, H, W]` broadcast over the batch.
///
/// Inference runs burn's fused `prelu` over the flattened `C·H·W` axis: one pass. Training multiplies x
/// by a slope map (1 where x > 0, α elsewhere): α repeated over the batch (a copy no other handle
/// shares, so `mask_fill` fills it in place) and `mask_fill`ed, whose backward is one masked copy.
/// `prelu`'s autodiff path goes through `mask_where`, whose backward allocates and fills two zero
/// tensors: it made V-Net's training step 40 % slower when measured.
pub fn prelu(x: Tensor<4>, alpha: Tensor<3>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    if x.is_autodiff() || alpha.is_autodiff() {
        let slopes = alpha.unsqueeze::<4>().repeat_dim(0, n).mask_fill(x.clone().greater_elem(0.0), 1.0);
        x * slopes
    } else {
        activation::prelu(x.reshape([n, c * h * w]), alpha.reshape([c * h * w])).reshape([n, c, h, w])
    }
}

/// A `k`×`k` convolution (k odd) with "same" padding and dilation, bias iff `bias`.
pub fn conv(cin: usize, cout: usize, k: usize, dilation: usize, bias: bool, device: &Device) -> Conv2d {
    grouped_conv(cin, cout, k, dilation, 1, bias, device)
}

/// [`conv`] in `groups` groups (`groups = cin`: depthwise).
fn grouped_conv(
    cin: usize,
    cout: usize,
    k: usize,
    dilation: usize,
    groups: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    // Explicit padding: burn 0.22's `PaddingConfig2d::Same` ignores the dilation.
    let p = dilation * (k - 1) / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_dilation([dilation, dilation])
        .with_groups(groups)
        .with_bias(bias)
        .init(device)
}

/// Conv → (BatchNorm) → activation: one layer of Keras' `CONV_stack`.
#[derive(Module, Debug)]
pub struct ConvBnAct {
    conv: Conv2d,
    bn: Option<BatchNorm>,
    act: Act,
}

/// Options of a convolution layer: kernel, dilation, batch norm, activation, spatial size (for PReLU).
#[derive(Debug, Clone, Copy)]
pub struct ConvOpts {
    /// Kernel size (square).
    pub kernel: usize,
    /// Dilation rate.
    pub dilation: usize,
    /// Batch normalisation after the convolution.
    pub batch_norm: bool,
    /// The activation.
    pub act: ActKind,
    /// Spatial size of the layer's output, needed by PReLU only.
    pub size: usize,
    /// Convolution bias; keras-unet-collection sets it to `!batch_norm`, plain Keras `Conv2D` (the
    /// original U-Net) keeps it with batch norm too.
    pub bias: bool,
    /// Convolution groups (1; the input width for a depthwise convolution).
    pub groups: usize,
}

impl ConvOpts {
    /// 3×3, no dilation, ReLU, with or without batch norm.
    pub fn relu3(batch_norm: bool) -> Self {
        Self { kernel: 3, dilation: 1, batch_norm, act: ActKind::Relu, size: 0, bias: !batch_norm, groups: 1 }
    }
    /// The same options in `groups` groups (`groups` = input width: depthwise).
    pub fn groups(self, groups: usize) -> Self {
        Self { groups, ..self }
    }
    /// The same options with (or without) a convolution bias.
    pub fn bias(self, bias: bool) -> Self {
        Self { bias, ..self }
    }
    /// The same options with another kernel size.
    pub fn kernel(self, kernel: usize) -> Self {
        Self { kernel, ..self }
    }
    /// The same options with another dilation rate.
    pub fn dilation(self, dilation: usize) -> Self {
        Self { dilation, ..self }
    }
    /// The same options at another spatial size (PReLU).
    pub fn size(self, size: usize) -> Self {
        Self { size, ..self }
    }
}

impl ConvBnAct {
    /// A convolution `cin` → `cout` with `opts`.
    pub fn new(cin: usize, cout: usize, opts: ConvOpts, device: &Device) -> Self {
        Self {
            conv: grouped_conv(cin, cout, opts.kernel, opts.dilation, opts.groups, opts.bias, device),
            bn: opts.batch_norm.then(|| BatchNormConfig::new(cout).init(device)),
            act: Act::new(opts.act, cout, opts.size, device),
        }
    }

    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        };
        self.act.forward(x)
    }
}

/// `stack` layers of [`ConvBnAct`]: Keras' `CONV_stack`.
#[derive(Module, Debug)]
pub struct ConvStack {
    layers: Vec<ConvBnAct>,
}

impl ConvStack {
    /// `stack` convolutions, the first `cin` → `cout`, the others `cout` → `cout`.
    pub fn new(cin: usize, cout: usize, stack: usize, opts: ConvOpts, device: &Device) -> Self {
        let layers = (0..stack).map(|i| ConvBnAct::new(if i == 0 { cin } else { cout }, cout, opts, device)).collect();
        Self { layers }
    }

    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.layers.iter().fold(x, |x, layer| layer.forward(x))
    }
}

/// The encoder stacks of a U-Net: one `stack`-layer [`ConvStack`] per width in `filters`, the first
/// taking `bands` channels, each next one the previous width.
pub fn encoder(bands: usize, filters: &[usize], stack: usize, opts: ConvOpts, device: &Device) -> Vec<ConvStack> {
    let inputs = std::iter::once(bands).chain(filters.iter().copied());
    inputs.zip(filters).map(|(cin, &f)| ConvStack::new(cin, f, stack, opts, device)).collect()
}

/// Halve the spatial size: 2×2 max-pooling, or a strided 2×2 convolution (+BN, activation),
/// Keras' `encode_layer(pool=True|False)`.
#[derive(Module, Debug)]
pub struct Down {
    pool: Option<MaxPool2d>,
    conv: Option<Conv2d>,
    bn: Option<BatchNorm>,
    act: Option<Act>,
}

impl Down {
    /// 2×2 max-pooling.
    pub fn max_pool() -> Self {
        Self { pool: Some(MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init()), conv: None, bn: None, act: None }
    }

    /// A 2×2 stride-2 convolution `cin` → `cout`, then batch norm (if `opts.batch_norm`) and the activation
    /// at the output size `opts.size`.
    pub fn strided(cin: usize, cout: usize, opts: ConvOpts, device: &Device) -> Self {
        Self {
            pool: None,
            conv: Some(Conv2dConfig::new([cin, cout], [2, 2]).with_stride([2, 2]).with_bias(opts.bias).init(device)),
            bn: opts.batch_norm.then(|| BatchNormConfig::new(cout).init(device)),
            act: Some(Act::new(opts.act, cout, opts.size, device)),
        }
    }

    /// # Shapes
    /// `[N, C, H, W]` → `[N, C', H/2, W/2]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if let Some(pool) = &self.pool {
            return pool.forward(x);
        }
        let mut x = self.conv.as_ref().map_or(x.clone(), |c| c.forward(x));
        if let Some(bn) = &self.bn {
            x = bn.forward(x);
        }
        match &self.act {
            Some(act) => act.forward(x),
            None => x,
        }
    }
}

/// Double the spatial size: bilinear up-sampling, or a 3×3 stride-2 transposed convolution (with
/// bias) + BN + activation, Keras' `decode_layer(unpool=True|False)`.
#[derive(Module, Debug)]
pub struct Up {
    conv: Option<ConvTranspose2d>,
    bn: Option<BatchNorm>,
    act: Option<Act>,
}

impl Up {
    /// Bilinear ×2 up-sampling (Keras `UpSampling2D(interpolation='bilinear')`: half-pixel centres).
    pub fn bilinear() -> Self {
        Self { conv: None, bn: None, act: None }
    }

    /// A `k`×`k` stride-2 transposed convolution `cin` → `cout` (with bias; "same": output exactly 2×
    /// the input), then batch norm when `opts.batch_norm`, then the activation (at the output size
    /// `opts.size`), as Keras' `decode_layer(unpool=False)`.
    pub fn transposed(cin: usize, cout: usize, k: usize, opts: ConvOpts, device: &Device) -> Self {
        // Keras "same" for stride 2: total padding k - 2 split low/high; output_padding fixes the odd case.
        let pad = (k - 1) / 2;
        let pad_out = 2 + 2 * pad - k;
        Self {
            conv: Some(
                ConvTranspose2dConfig::new([cin, cout], [k, k])
                    .with_stride([2, 2])
                    .with_padding([pad, pad])
                    .with_padding_out([pad_out, pad_out])
                    .init(device),
            ),
            bn: opts.batch_norm.then(|| BatchNormConfig::new(cout).init(device)),
            act: Some(Act::new(opts.act, cout, opts.size, device)),
        }
    }

    /// # Shapes
    /// `[N, C, H, W]` → `[N, C', 2H, 2W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let Some(conv) = &self.conv else {
            return upsample(x, 2);
        };
        let mut x = conv.forward(x);
        if let Some(bn) = &self.bn {
            x = bn.forward(x);
        }
        match &self.act {
            Some(act) => act.forward(x),
            None => x,
        }
    }
}

/// Bilinear up-sampling by an integer `factor` with half-pixel centres (Keras `UpSampling2D`).
///
/// On the CPU this is burn's `interpolate` (two one-axis passes each way in our patch to burn's CPU
/// backend); elsewhere it is [`upsample_composed`]: burn 0.22's GPU backends have no gradient for
/// bilinear interpolation (`scripts/gpu-check.sh` found every network with bilinear up-sampling
/// failing its first training step on CUDA).
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C, factor·H, factor·W]`
pub fn upsample(x: Tensor<4>, factor: usize) -> Tensor<4> {
    if x.device() != Device::flex() {
        return upsample_composed(x, factor);
    }
    let [_, _, h, w] = x.dims();
    let size = [h * factor, w * factor];
    interpolate(x, InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size(size))
}

/// [`upsample`] of slices and weighted sums, which every backend can differentiate: one axis at a
/// time, output `k·i + r` is `(1 − |o|)·x[i] + |o|·x[i ± 1]`, `o = (r + ½)/k − ½` the offset of its
/// source coordinate (half-pixel centres; the sign of `o` picks the neighbour), with the neighbour
/// clamped at the edges as TensorFlow's resize clamps its coordinates.
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C, factor·H, factor·W]`
pub fn upsample_composed(x: Tensor<4>, factor: usize) -> Tensor<4> {
    upsample_axis(upsample_axis(x, 2, factor), 3, factor)
}

/// [`upsample_composed`] along `axis`.
fn upsample_axis(x: Tensor<4>, axis: usize, k: usize) -> Tensor<4> {
    let mut dims = x.dims();
    let n = dims[axis];
    let (prev, next) = if n == 1 {
        (x.clone(), x.clone())
    } else {
        (
            Tensor::cat(vec![x.clone().narrow(axis, 0, 1), x.clone().narrow(axis, 0, n - 1)], axis),
            Tensor::cat(vec![x.clone().narrow(axis, 1, n - 1), x.clone().narrow(axis, n - 1, 1)], axis),
        )
    };
    let phases = (0..k)
        .map(|r| {
            let o = (r as f64 + 0.5) / k as f64 - 0.5;
            let neighbour = if o < 0.0 { &prev } else { &next };
            x.clone().mul_scalar(1.0 - o.abs()).add(neighbour.clone().mul_scalar(o.abs()))
        })
        .collect();
    // The phases side by side after `axis`, then the two axes as one: k·i + r.
    let interleaved: Tensor<5> = Tensor::stack(phases, axis + 1);
    dims[axis] = n * k;
    interleaved.reshape(dims)
}

/// 1×1 convolution to one channel followed by a sigmoid: the probability head every network ends with.
#[derive(Module, Debug)]
pub struct Head {
    conv: Conv2d,
}

impl Head {
    /// A 1×1 convolution `cin` → 1 (with bias).
    pub fn new(cin: usize, device: &Device) -> Self {
        Self { conv: conv(cin, 1, 1, 1, true, device) }
    }

    /// # Shapes
    /// `[N, cin, H, W]` → `[N, 1, H, W]`, values in (0, 1)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        activation::sigmoid(self.conv.forward(x))
    }
}

/// Concatenate along channels.
pub fn cat(xs: Vec<Tensor<4>>) -> Tensor<4> {
    Tensor::cat(xs, 1)
}
