//! Building blocks shared by the networks, named after keras-unet-collection's `layer_utils`
//! (`CONV_stack`, `encode_layer`, `decode_layer`) so each network file reads like its reference.
//!
//! Every block maps an NCHW tensor to an NCHW tensor; spatial sizes are "same" unless stated.
//! Convolutions carry a bias only when no batch norm follows them (`use_bias = not batch_norm`, [`ConvOpts::bias`]),
//! which is what makes parameter counts equal the Keras ones.

use burn::module::{Module, Param, ParamId};
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
        self.act.forward(conv_bn(&self.conv, self.bn.as_ref(), x))
    }
}

/// `conv`, then `bn`: in inference mode as one convolution whose weights and bias carry the batch
/// norm's per-channel scale and shift ([`inference_affine`]), so the network reads each of those
/// feature maps once fewer (TensorFlow's predict folds batch norm the same way).
///
/// # Shapes
/// `[N, cin, H, W]` → `[N, cout, H', W']`
fn conv_bn(conv: &Conv2d, bn: Option<&BatchNorm>, x: Tensor<4>) -> Tensor<4> {
    let Some(bn) = bn else { return conv.forward(x) };
    let Some(affine) = inference_affine(bn, &x, &conv.weight) else { return bn.forward(conv.forward(x)) };
    let (weight, bias) = fold(&conv.weight, 0, conv.bias.as_ref(), affine);
    Conv2d { weight, bias, ..conv.clone() }.forward(x)
}

/// [`conv_bn`] for a transposed convolution; folded for one group, whose weight is `[cin, cout, k, k]`.
fn conv_transpose_bn(conv: &ConvTranspose2d, bn: Option<&BatchNorm>, x: Tensor<4>) -> Tensor<4> {
    let Some(bn) = bn else { return conv.forward(x) };
    let affine = inference_affine(bn, &x, &conv.weight).filter(|_| conv.groups == 1);
    let Some(affine) = affine else { return bn.forward(conv.forward(x)) };
    let (weight, bias) = fold(&conv.weight, 1, conv.bias.as_ref(), affine);
    ConvTranspose2d { weight, bias, ..conv.clone() }.forward(x)
}

/// Batch norm in inference mode as `x·scale + shift` per channel, `scale = γ/√(σ² + ε)` and
/// `shift = β − μ·scale` from its running statistics. `None` when it normalises with the batch's
/// statistics instead: when it trains on an autodiff device, as [`BatchNorm::forward`] decides from
/// the convolution's output, which is on that device when the input `x` or the `weight` is.
fn inference_affine(bn: &BatchNorm, x: &Tensor<4>, weight: &Param<Tensor<4>>) -> Option<(Tensor<1>, Tensor<1>)> {
    let device = weight.val().device();
    if (x.device().is_autodiff() || device.is_autodiff()) && bn.training.is_enabled() {
        return None;
    }
    let var = bn.running_var.value().to_device(&device);
    let mean = bn.running_mean.value().to_device(&device);
    let scale = bn.gamma.val() / var.add_scalar(bn.epsilon).sqrt();
    let shift = bn.beta.val() - mean * scale.clone();
    Some((scale, shift))
}

/// A convolution's weight and bias once batch norm's `(scale, shift)` follow it: the weight times
/// `scale` along its output-channel `axis`, the bias `bias·scale + shift`. Neither is trained.
fn fold(
    weight: &Param<Tensor<4>>,
    axis: usize,
    bias: Option<&Param<Tensor<1>>>,
    (scale, shift): (Tensor<1>, Tensor<1>),
) -> (Param<Tensor<4>>, Option<Param<Tensor<1>>>) {
    let mut shape = [1; 4];
    shape[axis] = weight.dims()[axis];
    let folded = weight.val() * scale.clone().reshape(shape);
    let bias = match bias {
        Some(bias) => bias.val() * scale + shift,
        None => shift,
    };
    (constant(folded), Some(constant(bias)))
}

/// A computed tensor as a parameter that is not trained (`Param::from_tensor` would track it as a
/// leaf, which a product of tracked weights cannot be).
fn constant<const D: usize>(value: Tensor<D>) -> Param<Tensor<D>> {
    Param::initialized(ParamId::new(), value)
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
        let x = match &self.conv {
            Some(conv) => conv_bn(conv, self.bn.as_ref(), x),
            None => x,
        };
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
        let x = conv_transpose_bn(conv, self.bn.as_ref(), x);
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

#[cfg(test)]
mod tests {
    use burn::module::RunningState;
    use burn::tensor::module::batch_norm_train;
    use burn::tensor::Distribution;

    use super::*;

    fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    /// A batch norm with drawn scale, shift and running statistics (variances in [0.1, 2)).
    fn trained_bn(c: usize, device: &Device) -> BatchNorm {
        let mut bn = BatchNormConfig::new(c).init(device);
        bn.gamma = Param::from_tensor(normal([c], device));
        bn.beta = Param::from_tensor(normal([c], device));
        bn.running_mean = RunningState::new(normal([c], device));
        bn.running_var = RunningState::new(Tensor::random([c], Distribution::Uniform(0.1, 2.0), device));
        bn
    }

    /// `folded` equals `reference` within 1e-5 of the reference's largest value.
    fn assert_close(folded: Tensor<4>, reference: Tensor<4>) {
        assert_eq!(folded.dims(), reference.dims());
        let values = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        let (a, b) = (values(folded), values(reference));
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-5 * scale, "largest difference {worst} of values up to {scale}");
    }

    #[test]
    fn convolutions_with_batch_norm_folded_equal_burns_two_operations() {
        let device = Device::flex();
        let plain = ConvOpts::relu3(true);
        for (cin, cout, opts) in [
            (6, 32, plain.bias(true)),
            (16, 16, plain),
            (8, 8, plain.dilation(2)),
            (12, 12, plain.groups(12).dilation(3)),
            (4, 24, plain.kernel(1)),
        ] {
            let mut layer = ConvBnAct::new(cin, cout, opts, &device);
            let bn = trained_bn(cout, &device);
            layer.bn = Some(bn.clone());
            let x = normal([3, cin, 17, 20], &device);
            let reference = layer.act.forward(bn.forward(layer.conv.forward(x.clone())));
            assert_close(layer.forward(x), reference);
        }

        let mut down = Down::strided(8, 16, plain, &device);
        let bn = trained_bn(16, &device);
        down.bn = Some(bn.clone());
        let x = normal([2, 8, 16, 16], &device);
        let reference = activation::relu(bn.forward(down.conv.as_ref().unwrap().forward(x.clone())));
        assert_close(down.forward(x), reference);

        for k in [2, 3] {
            let mut up = Up::transposed(16, 8, k, plain, &device);
            let bn = trained_bn(8, &device);
            up.bn = Some(bn.clone());
            let x = normal([2, 16, 9, 8], &device);
            let reference = activation::relu(bn.forward(up.conv.as_ref().unwrap().forward(x.clone())));
            assert_close(up.forward(x), reference);
        }
    }

    /// On an autodiff device a trainable batch norm normalises with the batch's statistics even when
    /// the input is plain data (only the weights tracked); a frozen one folds there too.
    #[test]
    fn batch_norm_that_trains_is_not_folded() {
        let ad = Device::flex().autodiff();
        let mut layer = ConvBnAct::new(6, 16, ConvOpts::relu3(true), &ad);
        let x = normal([4, 6, 12, 12], &Device::flex()).to_device(&ad);
        let bn = trained_bn(16, &ad);
        layer.bn = Some(bn.clone());
        let batch_stats = batch_norm_train(layer.conv.forward(x.clone()), bn.gamma.val(), bn.beta.val(), bn.epsilon);
        assert_close(layer.forward(x.clone()), activation::relu(batch_stats.output));

        let frozen = BatchNorm { training: Param::from_bool(false), ..bn };
        layer.bn = Some(frozen.clone());
        let reference = activation::relu(frozen.forward(layer.conv.forward(x.clone())));
        assert_close(layer.forward(x), reference);
    }
}
