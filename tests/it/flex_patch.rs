//! The operations our patch to burn's CPU backend replaces (kernel/burn-flex-conv.diff), as autodiff
//! computes them, against references in f64:
//! - conv2d and conv_transpose2d (unfold/fold and gemm), forward and both gradients, equal a direct
//!   sum over each operation's definition — for strides, paddings, dilations, groups, rectangular
//!   kernels, images cut into blocks of rows and blocks of several images — and, for stride-1
//!   convolutions, the weight gradient equals burn's own formula: a forward conv2d with the batch
//!   and channel axes swapped; this includes 3×3 "same" convolutions of at least 16 channels on
//!   maps of at least 16×16, which run as Winograd's F(2×2, 3×3) (below 32×32) and F(4×4, 3×3),
//!   on odd sizes (partial tiles), several images per block and an image cut into blocks of tile
//!   rows, also right after a larger convolution (whose stale values its kept buffers hold);
//! - batch normalisation (one pass per channel), forward with the batch's statistics and with given
//!   ones, equals its definition, and its three gradients equal central finite differences of that
//!   definition;
//! - 2×2 stride-2 max pooling (one pass) equals the window's maximum, with the index of its first
//!   maximum, on odd sizes and on ties, and its gradient goes to that index;
//! - concatenation along channels (copied per image in parallel) equals its inputs side by side,
//!   and its gradient (slices copied a row at a time) equals the output gradient's slices;
//! - bilinear resizing (two one-axis passes) equals TensorFlow's definition of each output value
//!   from its four neighbours, up by 2, 4 and 8, to and from odd sizes, with and without aligned
//!   corners, and its gradient equals that definition's transpose;
//! - `mask_fill` on a tensor no other handle shares (in place, a select rather than a branch)
//!   equals its definition;
//! - ReLU and its gradient on tensors large enough to run in parallel chunks, shared or not, equal
//!   their definitions, NaN kept as PyTorch keeps it; and a dropout mask (its u64s drawn at once,
//!   decided in parallel) equals rand's Bernoulli drawn value by value, draw after draw.
//!
//! Tolerance: 1e-5 of the largest value.

use burn::tensor::module::{
    batch_norm, batch_norm_train, conv2d, conv_transpose2d, interpolate, max_pool2d, max_pool2d_with_indices,
};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, InterpolateMode, InterpolateOptions, MaxPoolOptions};
use burn::tensor::{Device, Distribution, Tensor};

use crate::common::values;

/// A convolution's shapes and geometry (per axis: rows, columns).
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    o: usize,
    size: [usize; 2],
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Case {
    fn conv(self) -> ConvOptions<2> {
        ConvOptions::new(self.stride, self.pad, self.dilation, self.groups)
    }

    /// conv2d's input `[n, c, h, w]` and weight `[o, c/groups, kh, kw]` shapes.
    fn conv_shapes(self) -> ([usize; 4], [usize; 4]) {
        let [kh, kw] = self.k;
        ([self.n, self.c, self.size[0], self.size[1]], [self.o, self.c / self.groups, kh, kw])
    }
}

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// The input pixel that kernel tap `t` of output position `q` reads on one axis, if inside.
fn tap(q: usize, t: usize, stride: usize, dilation: usize, pad: usize, len: usize) -> Option<usize> {
    (q * stride + t * dilation).checked_sub(pad).filter(|&i| i < len)
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: sizes");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
    assert!(scale > 0.1, "{what}: a degenerate case (largest value {scale})");
    assert!(worst <= 1e-5 * scale, "{what}: max |Δ| = {worst:e}, largest value {scale}");
}

/// Every product of conv2d's definition, as [input index, weight index, output index]:
/// y[b, o, p, q] = Σ_{cl, i, j} W[o, cl, i, j] · x[b, g·C/G + cl, p·s + i·d − pad, q·s + j·d − pad]
/// with g = o / (O/G), for an output of `out` pixels.
fn conv_terms(case: Case, out: [usize; 2]) -> Vec<[usize; 3]> {
    let Case { n, c, o, size: [h, w], k: [kh, kw], stride, pad, dilation, groups } = case;
    let (cg, og) = (c / groups, o / groups);
    let mut terms = Vec::new();
    for b in 0..n {
        for oc in 0..o {
            for p in 0..out[0] {
                for q in 0..out[1] {
                    let yi = ((b * o + oc) * out[0] + p) * out[1] + q;
                    for cl in 0..cg {
                        let ch = oc / og * cg + cl;
                        for i in 0..kh {
                            let Some(y) = tap(p, i, stride[0], dilation[0], pad[0], h) else { continue };
                            for j in 0..kw {
                                let Some(xx) = tap(q, j, stride[1], dilation[1], pad[1], w) else { continue };
                                terms.push([((b * c + ch) * h + y) * w + xx, ((oc * cg + cl) * kh + i) * kw + j, yi]);
                            }
                        }
                    }
                }
            }
        }
    }
    terms
}

/// `out[t[to]] += a[t[ia]] · b[t[ib]]` over the terms: the forward pass and both gradients are this
/// sum with the roles of input (0), weight (1) and output (2) exchanged.
fn sum_terms(
    terms: &[[usize; 3]],
    len: usize,
    (a, ia): (&[f64], usize),
    (b, ib): (&[f64], usize),
    to: usize,
) -> Vec<f64> {
    let mut out = vec![0.0; len];
    for t in terms {
        out[t[to]] += a[t[ia]] * b[t[ib]];
    }
    out
}

/// An operation's output, input, weight and output gradient, and the gradients of x and W that
/// autodiff gives for Σ gy ⊙ op(x, W), all in f64, and the output's height and width.
struct Run {
    y: Vec<f64>,
    x: Vec<f64>,
    w: Vec<f64>,
    gy: Vec<f64>,
    dx: Vec<f64>,
    dw: Vec<f64>,
    out: [usize; 2],
}

/// The caller holds the device's random-generator lock.
fn run(x_shape: [usize; 4], w_shape: [usize; 4], op: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>) -> Run {
    let device = Device::flex().autodiff();
    device.seed(7);
    let x = random(x_shape, &device).require_grad();
    let weight = random(w_shape, &device).require_grad();
    let y = op(x.clone(), weight.clone());
    let gy = random(y.dims(), &device);
    let [_, _, oh, ow] = y.dims();
    let grads = (y.clone() * gy.clone()).sum().backward();
    let dx = x.grad(&grads).expect("the input requires a gradient");
    let dw = weight.grad(&grads).expect("the weight requires a gradient");
    Run {
        y: values(y.inner()),
        x: values(x.inner()),
        w: values(weight.inner()),
        gy: values(gy.inner()),
        dx: values(dx),
        dw: values(dw),
        out: [oh, ow],
    }
}

/// conv2d: y = Σ W·x, dx = Σ W·gy, dW = Σ gy·x over the definition's terms.
fn check_conv(case: Case) {
    let _serial = crate::common::device_rng();
    let (x_shape, w_shape) = case.conv_shapes();
    let r = run(x_shape, w_shape, |x, w| conv2d(x, w, None, case.conv()));
    let terms = conv_terms(case, r.out);
    let what = format!("conv2d {case:?}");
    assert_close(&r.y, &sum_terms(&terms, r.y.len(), (&r.w, 1), (&r.x, 0), 2), &format!("{what}: forward"));
    assert_close(&r.dx, &sum_terms(&terms, r.x.len(), (&r.w, 1), (&r.gy, 2), 0), &format!("{what}: input gradient"));
    assert_close(&r.dw, &sum_terms(&terms, r.w.len(), (&r.gy, 2), (&r.x, 0), 1), &format!("{what}: weight gradient"));
}

/// conv_transpose2d of x `[n, c, h, w]` (weight `[c, o/G, kh, kw]`) is, read backwards, the conv2d
/// from its output `[n, o, OH, OW]` to `[n, c, h, w]` with the same weight: its input plays
/// conv2d's output (index 2) and its output conv2d's input (index 0).
fn check_transposed(case: Case, pad_out: [usize; 2]) {
    let _serial = crate::common::device_rng();
    let [kh, kw] = case.k;
    let w_shape = [case.c, case.o / case.groups, kh, kw];
    let x_shape = [case.n, case.c, case.size[0], case.size[1]];
    let options = ConvTransposeOptions::new(case.stride, case.pad, pad_out, case.dilation, case.groups);
    let r = run(x_shape, w_shape, |x, w| conv_transpose2d(x, w, None, options.clone()));
    let terms = conv_terms(Case { c: case.o, o: case.c, size: r.out, ..case }, case.size);
    let what = format!("conv_transpose2d {case:?}");
    assert_close(&r.y, &sum_terms(&terms, r.y.len(), (&r.w, 1), (&r.x, 2), 0), &format!("{what}: forward"));
    assert_close(&r.dx, &sum_terms(&terms, r.x.len(), (&r.w, 1), (&r.gy, 0), 2), &format!("{what}: input gradient"));
    assert_close(&r.dw, &sum_terms(&terms, r.w.len(), (&r.x, 2), (&r.gy, 0), 1), &format!("{what}: weight gradient"));
}

const UNET_3X3: Case =
    Case { n: 3, c: 5, o: 4, size: [12, 12], k: [3, 3], stride: [1, 1], pad: [1, 1], dilation: [1, 1], groups: 1 };

#[test]
fn conv2d_and_its_gradients_equal_their_definition() {
    check_conv(UNET_3X3);
    // Images of more than 512 pixels, cut into blocks of rows (two of 13 rows of 24).
    check_conv(Case { n: 2, c: 3, size: [26, 24], ..UNET_3X3 });
    // ResUNet-a's dilated convolutions, also with the dilation wider than the image (its rate-31
    // branch on an 8×8 map: most taps fall in the padding).
    check_conv(Case { n: 2, c: 4, o: 3, size: [16, 16], k: [3, 3], pad: [3, 3], dilation: [3, 3], ..UNET_3X3 });
    check_conv(Case { n: 2, c: 4, o: 3, size: [4, 5], k: [3, 3], pad: [6, 6], dilation: [6, 6], ..UNET_3X3 });
    // V-Net's and the attention U-Net's 2×2 stride-2 down-convolutions; a 3×3 stride-2 one on odd
    // sides, whose last tap of a row is the row's last pixel (stride 2 is unfolded and folded in
    // pairs, with the last value apart).
    check_conv(Case { n: 2, c: 3, o: 4, size: [8, 8], k: [2, 2], stride: [2, 2], pad: [0, 0], ..UNET_3X3 });
    check_conv(Case { n: 2, c: 3, o: 4, size: [9, 11], stride: [2, 2], ..UNET_3X3 });
    // Groups, a rectangular kernel with a row stride, a 1×1 head.
    check_conv(Case { c: 6, groups: 2, size: [9, 9], ..UNET_3X3 });
    check_conv(Case { size: [10, 11], k: [3, 5], stride: [1, 2], pad: [1, 2], ..UNET_3X3 });
    check_conv(Case { o: 1, k: [1, 1], pad: [0, 0], ..UNET_3X3 });
    // With stride 1 the input gradient runs as the "full" convolution of gy with the flipped
    // kernel: a rectangular kernel with unequal paddings, and a padding wider than the kernel
    // reaches (no full convolution exists: the gradient folds instead).
    check_conv(Case { size: [10, 11], k: [3, 5], pad: [2, 1], ..UNET_3X3 });
    check_conv(Case { size: [6, 7], pad: [3, 2], ..UNET_3X3 });
    // Winograd's F(2×2, 3×3) (16+ channels, 8 to 31 pixels a side): odd sides leave partial
    // tiles; five 17×17 images run in four blocks on two threads, one of two images; a 26×24
    // image (13 rows of 12 tiles and a spare) is cut into blocks of 7 and 6 tile rows; three 8×9
    // images, the smallest maps, 4 rows of 5 tiles and a spare, the last tile of a row partial.
    // Its input gradient is the same kind of convolution.
    check_conv(Case { n: 5, c: 16, o: 16, size: [17, 17], ..UNET_3X3 });
    check_conv(Case { n: 1, c: 16, o: 17, size: [26, 24], ..UNET_3X3 });
    check_conv(Case { n: 3, c: 17, o: 16, size: [8, 9], ..UNET_3X3 });
    // F(4×4, 3×3) (32+ pixels a side), the same way: five 32×33 images (8 rows of 9 tiles and a
    // spare) in four blocks; a 50×45 image (13 rows of 12 tiles and a spare, the last tiles
    // partial on both axes) in blocks of 7 and 6 tile rows.
    check_conv(Case { n: 5, c: 16, o: 16, size: [32, 33], ..UNET_3X3 });
    check_conv(Case { n: 1, c: 17, o: 16, size: [50, 45], ..UNET_3X3 });
}

/// A run's buffers are kept from one operation to the next and never shortened, so after a larger
/// convolution they hold stale values past a smaller one's blocks, which it must never read: each
/// kind of block (Winograd's F(4×4) and F(2×2), im2col), forward and both gradients, equals its
/// definition right after a larger convolution of the same kind.
#[test]
fn convolutions_after_larger_ones_equal_their_definition() {
    let cases = [
        (
            Case { n: 5, c: 16, o: 16, size: [32, 33], ..UNET_3X3 },
            Case { n: 4, c: 48, o: 40, size: [64, 64], ..UNET_3X3 },
        ),
        (
            Case { n: 5, c: 16, o: 16, size: [17, 17], ..UNET_3X3 },
            Case { n: 4, c: 48, o: 40, size: [24, 24], ..UNET_3X3 },
        ),
        (Case { n: 2, c: 3, size: [26, 24], ..UNET_3X3 }, Case { n: 8, c: 64, o: 40, size: [7, 7], ..UNET_3X3 }),
    ];
    for (small, large) in cases {
        {
            let _serial = crate::common::device_rng();
            let (x_shape, w_shape) = large.conv_shapes();
            run(x_shape, w_shape, |x, w| conv2d(x, w, None, large.conv()));
        }
        check_conv(small);
    }
}

#[test]
fn conv_transpose2d_and_its_gradients_equal_their_definition() {
    let up = Case { n: 2, c: 5, o: 3, size: [6, 6], k: [2, 2], stride: [2, 2], pad: [0, 0], ..UNET_3X3 };
    // The U-Net's 2×2 stride-2 up-convolution, also to an image of more than 512 pixels.
    check_transposed(up, [0, 0]);
    check_transposed(Case { size: [13, 12], ..up }, [0, 0]);
    // With an output padding, the last row and column are no input pixel's: they are zeroed where
    // the others are written once.
    check_transposed(up, [1, 1]);
    // Keras' "same" 3×3 stride-2 transposed convolution (V-Net, attention U-Net), and groups.
    check_transposed(Case { k: [3, 3], pad: [1, 1], ..up }, [1, 1]);
    check_transposed(Case { c: 4, o: 6, groups: 2, ..up }, [0, 0]);
    // Stride 1: its forward pass is conv2d's input gradient as a full convolution, with the bias.
    check_transposed(Case { k: [3, 3], stride: [1, 1], pad: [1, 1], ..up }, [0, 0]);
}

/// The bias is added per output channel, by both convolutions (conv2d adds it while writing each
/// block): the output with a bias equals the output without one plus the bias broadcast.
#[test]
fn conv_bias_is_added_per_output_channel() {
    let _serial = crate::common::device_rng();
    let device = Device::flex();
    device.seed(3);
    // 26×24 pixels: conv2d's output is written in blocks of rows.
    let (x, w, b) = (random([2, 3, 26, 24], &device), random([4, 3, 3, 3], &device), random::<1>([4], &device));
    let with = conv2d(x.clone(), w.clone(), Some(b.clone()), UNET_3X3.conv());
    let without = conv2d(x.clone(), w, None, UNET_3X3.conv()) + b.clone().reshape([1, 4, 1, 1]);
    assert_close(&values(with), &values(without), "conv2d bias");
    // 16 channels on 17×17 and 33×33 maps: Winograd's F(2×2) and F(4×4) add it while writing
    // each tile.
    for side in [17, 33] {
        let (x16, w16, b16) =
            (random([2, 16, side, side], &device), random([16, 16, 3, 3], &device), random::<1>([16], &device));
        let with = conv2d(x16.clone(), w16.clone(), Some(b16.clone()), UNET_3X3.conv());
        let without = conv2d(x16, w16, None, UNET_3X3.conv()) + b16.reshape([1, 16, 1, 1]);
        assert_close(&values(with), &values(without), &format!("conv2d bias, Winograd, {side}×{side}"));
    }
    let options = ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1);
    let wt = random([3, 4, 2, 2], &device);
    let with = conv_transpose2d(x.clone(), wt.clone(), Some(b.clone()), options.clone());
    let without = conv_transpose2d(x, wt, None, options) + b.reshape([1, 4, 1, 1]);
    assert_close(&values(with), &values(without), "conv_transpose2d bias");
}

/// A bias's gradient is the output gradient summed over the batch and the pixels, per output
/// channel, for both convolutions.
#[test]
fn conv_bias_gradient_is_the_output_gradient_summed_per_channel() {
    let _serial = crate::common::device_rng();
    let device = Device::flex().autodiff();
    device.seed(4);
    let transposed = ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1);
    check_bias_gradient("conv2d", &device, |x, b| conv2d(x, random([5, 3, 3, 3], &device), Some(b), UNET_3X3.conv()));
    check_bias_gradient("conv_transpose2d", &device, |x, b| {
        conv_transpose2d(x, random([3, 5, 2, 2], &device), Some(b), transposed.clone())
    });
}

/// `op(x, b)`'s gradient with respect to its bias `b` of 5 channels, for x `[2, 3, 11, 13]`.
fn check_bias_gradient(what: &str, device: &Device, op: impl Fn(Tensor<4>, Tensor<1>) -> Tensor<4>) {
    let x = random([2, 3, 11, 13], device);
    let b = random::<1>([5], device).require_grad();
    let y = op(x, b.clone());
    let [n, o, h, w] = y.dims();
    let gy = random([n, o, h, w], device);
    let grads = (y * gy.clone()).sum().backward();
    let gy = values(gy.inner());
    let want: Vec<f64> =
        (0..o).map(|ch| (0..n).map(|i| gy[(i * o + ch) * h * w..][..h * w].iter().sum::<f64>()).sum()).collect();
    assert_close(&values(b.grad(&grads).expect("the bias requires a gradient")), &want, what);
}

/// burn's own formula for a stride-1 convolution's weight gradient (what its generic backward
/// computes): conv2d of xᵀ by gyᵀ (batch and channels swapped), with stride and dilation exchanged.
#[test]
fn conv2d_weight_grad_equals_burns_swapped_convolution() {
    let _serial = crate::common::device_rng();
    let plain = Device::flex();
    let dilated = Case { n: 2, c: 4, o: 3, size: [16, 16], pad: [2, 2], dilation: [2, 2], ..UNET_3X3 };
    let winograd_2 = Case { n: 2, c: 16, o: 24, size: [16, 18], ..UNET_3X3 };
    let winograd_4 = Case { n: 2, c: 16, o: 24, size: [33, 34], ..UNET_3X3 };
    // Four blocks of one image, on two threads two runs, whose sums (16 products of 48×48 channel
    // pairs, 36,864 values) are added in parallel chunks.
    let winograd_wide = Case { n: 4, c: 48, o: 48, size: [16, 16], ..UNET_3X3 };
    for case in [UNET_3X3, dilated, winograd_2, winograd_4, winograd_wide] {
        let w_shape = [case.o, case.c, case.k[0], case.k[1]];
        let x_shape = [case.n, case.c, case.size[0], case.size[1]];
        let r = run(x_shape, w_shape, |x, w| conv2d(x, w, None, case.conv()));
        let tensor = |v: &[f64], shape: [usize; 4]| {
            Tensor::<1>::from_floats(v.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(), &plain).reshape(shape)
        };
        let (x, gy) = (tensor(&r.x, x_shape), tensor(&r.gy, [case.n, case.o, r.out[0], r.out[1]]));
        let swapped = ConvOptions::new(case.dilation, case.pad, case.stride, 1);
        let burn = conv2d(x.swap_dims(0, 1), gy.swap_dims(0, 1), None, swapped).swap_dims(0, 1);
        assert_eq!(burn.dims(), w_shape);
        assert_close(&r.dw, &values(burn), &format!("burn's formula, {case:?}"));
    }
}

/// On large maps the weight gradient is summed from blocks of images computed on several threads;
/// the blocks are added in a fixed order, so the gradient is the same bit for bit on every call
/// (and a seed fixes a training run).
#[test]
fn conv2d_weight_grad_is_the_same_bit_for_bit_on_every_call() {
    // By im2col (8 channels), and by Winograd's F(2×2) (16 channels, 16×16) and F(4×4) (32×32).
    for (channels, side) in [(8, 32), (16, 16), (16, 32)] {
        let case = Case { n: 8, c: channels, o: channels, size: [side, side], ..UNET_3X3 };
        let w_shape = [case.o, case.c, 3, 3];
        let x_shape = [case.n, case.c, side, side];
        let grads: Vec<Vec<f64>> = (0..4)
            .map(|_| {
                let _serial = crate::common::device_rng();
                run(x_shape, w_shape, |x, w| conv2d(x, w, None, case.conv())).dw
            })
            .collect();
        for g in &grads[1..] {
            let same = g.iter().zip(&grads[0]).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{channels} channels, {side}×{side}: the gradients differ between calls");
        }
    }
}

/// Batch normalisation of `x` `[n, c, plane]` by its definition (f64): per channel, mean and biased
/// variance over the batch and the plane, then [`normalised`].
fn batch_norm_by_definition(x: &[f64], gamma: &[f64], beta: &[f64], c: usize, plane: usize, eps: f64) -> Vec<f64> {
    let n = x.len() / (c * plane);
    let count = (n * plane) as f64;
    let of_channel = |ch: usize| planes(n, c, plane, ch).map(|i| x[i]);
    let mean: Vec<f64> = (0..c).map(|ch| of_channel(ch).sum::<f64>() / count).collect();
    let var: Vec<f64> = (0..c).map(|ch| of_channel(ch).map(|v| (v - mean[ch]).powi(2)).sum::<f64>() / count).collect();
    normalised(x, gamma, beta, [&mean, &var], plane, eps)
}

/// The indices of channel `ch`'s values in `[n, c, plane]`.
fn planes(n: usize, c: usize, plane: usize, ch: usize) -> impl Iterator<Item = usize> {
    (0..n).flat_map(move |b| (b * c + ch) * plane..(b * c + ch + 1) * plane)
}

/// `(x − μ)/√(σ² + ε)·γ + β` per channel of `x` `[n, c, plane]`, for the given `[μ, σ²]`.
fn normalised(x: &[f64], gamma: &[f64], beta: &[f64], [mean, var]: [&[f64]; 2], plane: usize, eps: f64) -> Vec<f64> {
    let c = gamma.len();
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let ch = (i / plane) % c;
            (v - mean[ch]) / (var[ch] + eps).sqrt() * gamma[ch] + beta[ch]
        })
        .collect()
}

/// Central differences of L = Σ gy ⊙ f(v) with respect to every element of v (f64, step 1e-4).
fn finite_differences(v: &[f64], gy: &[f64], f: impl Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let loss = |v: &[f64]| f(v).iter().zip(gy).map(|(y, g)| y * g).sum::<f64>();
    (0..v.len())
        .map(|i| {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[i] += 1e-4;
            down[i] -= 1e-4;
            (loss(&up) - loss(&down)) / 2e-4
        })
        .collect()
}

#[test]
fn batch_norm_and_its_gradients_equal_their_definition() {
    let _serial = crate::common::device_rng();
    let device = Device::flex().autodiff();
    device.seed(11);
    let (c, eps) = (3, 1e-3);
    // A plane of 7×9 (odd sizes), and one of 64×64 with twenty images (the U-Net's first layer);
    // then values of spread 1e-3 about 1000, where the variance as E[x²] − μ² is off by per cents
    // even summed in f64 (μ²/σ² ≈ 1e12; 3.6 % in eight running sums, by numpy on such values).
    for (shape, spread, mean) in [([4, c, 7, 9], 2.0, 0.5), ([20, c, 64, 64], 2.0, 0.5), ([20, c, 64, 64], 1e-3, 1e3)] {
        let plane = shape[2] * shape[3];
        let x = random(shape, &device).mul_scalar(spread).add_scalar(mean).require_grad();
        let gamma = random([c], &device).require_grad();
        let beta = random([c], &device).require_grad();
        let out = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), eps);
        let gy = random(shape, &device);
        let grads = (out.output.clone() * gy.clone()).sum().backward();
        let [xv, gv, bv, gyv] = [
            values(x.clone().inner()),
            values(gamma.clone().inner()),
            values(beta.clone().inner()),
            values(gy.inner()),
        ];
        let what = format!("batch norm {shape:?}");
        let want = batch_norm_by_definition(&xv, &gv, &bv, c, plane, eps);
        assert_close(&values(out.output.inner()), &want, &format!("{what}: forward"));
        let mean = values(out.mean.inner());
        let var = values(out.variance.inner());
        // The same normalisation with given statistics (inference).
        let plain = Device::flex();
        let tensor =
            |v: &[f64]| Tensor::<1>::from_floats(v.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(), &plain);
        let inference =
            batch_norm(tensor(&xv).reshape(shape), tensor(&gv), tensor(&bv), tensor(&mean), tensor(&var), eps);
        // Against the statistics as given, rounded to f32: 1000 ± 1e-3 keeps only about four digits of
        // its spread there.
        let given = normalised(&xv, &gv, &bv, [&mean, &var], plane, eps);
        assert_close(&values(inference), &given, &format!("{what}: with given statistics"));
        if plane > 100 {
            continue; // finite differences on the small case only
        }
        let dx = finite_differences(&xv, &gyv, |x| batch_norm_by_definition(x, &gv, &bv, c, plane, eps));
        let dg = finite_differences(&gv, &gyv, |g| batch_norm_by_definition(&xv, g, &bv, c, plane, eps));
        let db = finite_differences(&bv, &gyv, |b| batch_norm_by_definition(&xv, &gv, b, c, plane, eps));
        assert_close(&values(x.grad(&grads).unwrap()), &dx, &format!("{what}: input gradient"));
        assert_close(&values(gamma.grad(&grads).unwrap()), &dg, &format!("{what}: gamma gradient"));
        assert_close(&values(beta.grad(&grads).unwrap()), &db, &format!("{what}: beta gradient"));
    }
}

/// The 2×2 stride-2 max pool of one `[h, w]` plane by its definition: each window's maximum and
/// the plane index of its first maximum in row-major order (odd last rows and columns dropped).
fn max_pool_by_definition(plane: &[f64], h: usize, w: usize) -> (Vec<f64>, Vec<i64>) {
    let (mut out, mut at) = (Vec::new(), Vec::new());
    for oy in 0..h / 2 {
        for ox in 0..w / 2 {
            let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(i, j)| (2 * oy + i) * w + 2 * ox + j);
            let first = window.into_iter().fold(window[0], |b, k| if plane[k] > plane[b] { k } else { b });
            out.push(plane[first]);
            at.push(first as i64);
        }
    }
    (out, at)
}

#[test]
fn max_pool_2x2_and_its_gradient_equal_their_definition() {
    let _serial = crate::common::device_rng();
    let device = Device::flex().autodiff();
    device.seed(5);
    // An odd size (the last row and column are dropped), the U-Net's first pool, and ties: values
    // rounded to halves repeat within windows, where the first maximum must win.
    for (shape, round) in [([2, 3, 7, 9], false), ([20, 2, 64, 64], false), ([2, 2, 8, 6], true)] {
        let [n, c, h, w] = shape;
        let mut x = random(shape, &device);
        if round {
            x = x.mul_scalar(2.0).round().div_scalar(2.0);
        }
        let x = x.require_grad();
        let options = MaxPoolOptions::new([2, 2]).with_stride([2, 2]);
        let (pooled, indices) = max_pool2d_with_indices(x.clone(), options.clone());
        let gy = random([n, c, h / 2, w / 2], &device);
        let grads = (pooled.clone() * gy.clone()).sum().backward();
        let (xv, gyv) = (values(x.clone().inner()), values(gy.inner()));
        let (mut want, mut want_at, mut want_dx) = (Vec::new(), Vec::new(), vec![0.0; xv.len()]);
        for (p, plane) in xv.chunks(h * w).enumerate() {
            let (out, at) = max_pool_by_definition(plane, h, w);
            for (q, &k) in at.iter().enumerate() {
                want_dx[p * h * w + k as usize] += gyv[p * (h / 2) * (w / 2) + q];
            }
            want.extend(out);
            want_at.extend(at);
        }
        let what = format!("max pool {shape:?}");
        assert_close(&values(pooled.inner()), &want, &format!("{what}: values"));
        let got_at = indices.inner().into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        assert_eq!(got_at, want_at, "{what}: indices");
        assert_close(&values(x.grad(&grads).unwrap()), &want_dx, &format!("{what}: gradient"));
        // Without indices (inference): the same values.
        let plain = max_pool2d(x.inner(), options);
        assert_close(&values(plain), &want, &format!("{what}: values without indices"));
    }
}

#[test]
fn channel_concatenation_and_its_gradient_equal_their_definition() {
    let _serial = crate::common::device_rng();
    let device = Device::flex().autodiff();
    device.seed(9);
    // Large enough for the parallel copies (over 2^18 values out, over 2^20 per gradient slice),
    // and small, with channel counts that differ.
    for (n, [ca, cb], side) in [(3, [12, 13], 200), (2, [2, 3], 5)] {
        let a = random([n, ca, side, side], &device).require_grad();
        let b = random([n, cb, side, side], &device).require_grad();
        let out = Tensor::cat(vec![a.clone(), b.clone()], 1);
        let gy = random([n, ca + cb, side, side], &device);
        let grads = (out.clone() * gy.clone()).sum().backward();
        let (av, bv, gyv) = (values(a.clone().inner()), values(b.clone().inner()), values(gy.inner()));
        let plane = side * side;
        // out[m, k] is a[m, k] for k < ca, else b[m, k − ca]; the gradients are gy's slices.
        let (mut want, mut want_da, mut want_db) = (Vec::new(), Vec::new(), Vec::new());
        for m in 0..n {
            want.extend_from_slice(&av[m * ca * plane..(m + 1) * ca * plane]);
            want.extend_from_slice(&bv[m * cb * plane..(m + 1) * cb * plane]);
            let g = &gyv[m * (ca + cb) * plane..(m + 1) * (ca + cb) * plane];
            want_da.extend_from_slice(&g[..ca * plane]);
            want_db.extend_from_slice(&g[ca * plane..]);
        }
        let what = format!("cat of {n}×{ca} and {n}×{cb} planes of {side}²");
        assert_eq!(values(out.inner()), want, "{what}: values");
        assert_eq!(values(a.grad(&grads).unwrap()), want_da, "{what}: first gradient");
        assert_eq!(values(b.grad(&grads).unwrap()), want_db, "{what}: second gradient");
    }
}

#[test]
fn mask_fill_in_place_equals_its_definition() {
    let _serial = crate::common::device_rng();
    let device = Device::flex();
    device.seed(12);
    // A tensor no other handle shares is filled in place (the patched loop); odd length, random mask.
    let t = random([3, 5, 7, 9], &device);
    let mask = random([3, 5, 7, 9], &device).greater_elem(0.0);
    let (tv, mv): (Vec<f64>, Vec<bool>) = (values(t.clone()), mask.clone().into_data().try_to_vec().unwrap());
    let want: Vec<f64> = tv.iter().zip(&mv).map(|(&t, &m)| if m { 7.5 } else { t }).collect();
    assert!(mv.iter().any(|&m| m) && mv.iter().any(|&m| !m));
    assert_eq!(values(t.mask_fill(mask, 7.5)), want);
}

/// 266,240 values: above the patch's threshold for parallel chunks (262,144), and not a whole number
/// of its chunks (16,384).
const PARALLEL_SHAPE: [usize; 4] = [2, 8, 128, 130];

/// Values spread over [-1, 1), with a NaN, a zero and a negative zero among them.
fn relu_input() -> Vec<f32> {
    let len = PARALLEL_SHAPE.iter().product();
    let mut v: Vec<f32> = (0..len).map(|i| (i * 7919 % 1000) as f32 / 500.0 - 1.0).collect();
    v[1000] = f32::NAN;
    (v[1001], v[1002]) = (0.0, -0.0);
    v
}

/// ReLU's definition: max(x, 0), NaN where x is NaN.
fn relu_by_definition(x: f64) -> f64 {
    if x.is_nan() || x > 0.0 {
        x
    } else {
        0.0
    }
}

fn assert_same(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: sizes");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g == w || g.is_nan() && w.is_nan(), "{what}: value {i} is {g}, want {w}");
    }
}

#[test]
fn relu_and_its_gradient_in_parallel_equal_their_definition() {
    use burn::tensor::activation::relu;
    use burn::tensor::TensorData;
    let _serial = crate::common::device_rng();
    let device = Device::flex();
    let data = || TensorData::new(relu_input(), PARALLEL_SHAPE);
    let x: Vec<f64> = relu_input().into_iter().map(f64::from).collect();
    let want: Vec<f64> = x.iter().map(|&v| relu_by_definition(v)).collect();
    assert!(
        want.iter().filter(|v| **v > 0.0).count() > 100_000 && want.iter().filter(|v| **v == 0.0).count() > 100_000
    );
    // Not shared: computed in place.
    assert_same(&values(relu(Tensor::<4>::from_data(data(), &device))), &want, "relu in place");
    // Shared with `kept`: into a new tensor, `kept` unchanged.
    let kept = Tensor::<4>::from_data(data(), &device);
    assert_same(&values(relu(kept.clone())), &want, "relu of a shared tensor");
    assert_same(&values(kept), &x, "relu's shared input");
    // The gradient: the output gradient where the output is positive (or NaN), else zero.
    let ad = device.autodiff();
    ad.seed(13);
    let leaf = Tensor::<4>::from_data(data(), &ad).require_grad();
    let gy = random(PARALLEL_SHAPE, &ad);
    let grads = (relu(leaf.clone()) * gy.clone()).sum().backward();
    let gy = values(gy.inner());
    let want_dx: Vec<f64> = x.iter().zip(&gy).map(|(&x, &g)| if x.is_nan() || x > 0.0 { g } else { 0.0 }).collect();
    assert_same(&values(leaf.grad(&grads).expect("the input requires a gradient")), &want_dx, "relu's gradient");
}

/// A dropout mask is rand's `Bernoulli` drawn value by value from the seeded generator: the patch
/// draws all its u64s at once and decides them in parallel. Draws follow one another on one stream:
/// Bernoulli(1) draws nothing, and three Uniform values (one u32 each) leave the next draw starting
/// half-way through a u64.
#[test]
fn a_dropout_mask_is_rands_bernoulli_draw_by_draw() {
    use rand_burn::distr::{Bernoulli, Distribution as _, Uniform};
    use rand_burn::{rngs::StdRng, SeedableRng};
    let _serial = crate::common::device_rng();
    let device = Device::flex();
    device.seed(14);
    let mut reference = StdRng::seed_from_u64(14);
    enum Draw {
        Mask(f64),
        ThreeUniform,
    }
    let n = (1 << 20) + 3;
    for draw in
        [Draw::Mask(0.8), Draw::Mask(0.05), Draw::Mask(1.0), Draw::Mask(0.0), Draw::ThreeUniform, Draw::Mask(0.8)]
    {
        let p = match draw {
            Draw::Mask(p) => p,
            Draw::ThreeUniform => {
                let got = values(Tensor::<1>::random([3], Distribution::Uniform(0.0, 1.0), &device));
                let uniform = Uniform::new(0.0f32, 1.0).expect("a valid range");
                let want: Vec<f64> = (0..3).map(|_| uniform.sample(&mut reference) as f64).collect();
                assert_eq!(got, want, "the uniform values between the masks");
                continue;
            }
        };
        let mask = values(Tensor::<1>::random([n], Distribution::Bernoulli(p), &device));
        let bernoulli = Bernoulli::new(p).expect("a probability");
        let differ = mask.iter().filter(|&&v| v != f64::from(u8::from(bernoulli.sample(&mut reference)))).count();
        assert_eq!(differ, 0, "Bernoulli({p}): {differ} of {n} values differ from rand's draws");
        // The share of ones is within 5 standard deviations of p.
        let share = mask.iter().sum::<f64>() / n as f64;
        let sd = (p * (1.0 - p) / n as f64).sqrt();
        assert!((share - p).abs() <= 5.0 * sd, "Bernoulli({p}): {share} ones a value");
    }
}

/// One axis of TensorFlow's bilinear resize (`resize_bilinear`, as Keras' `UpSampling2D` calls it):
/// output `o` reads input `floor(c)` and `ceil(c)` (clamped to the axis) with weights `1 − f` and
/// `f`, `f = c − floor(c)`, where `c = (o + ½)·in/out − ½` floored at 0 (half-pixel centres) or
/// `c = o·(in − 1)/(out − 1)` (aligned corners).
fn bilinear_axis(o: usize, len: usize, out: usize, align_corners: bool) -> [(usize, f64); 2] {
    let c = if align_corners {
        o as f64 * (len as f64 - 1.0) / (out as f64 - 1.0).max(1.0)
    } else {
        ((o as f64 + 0.5) * len as f64 / out as f64 - 0.5).max(0.0)
    };
    let f = c - c.floor();
    [((c.floor() as usize).min(len - 1), 1.0 - f), ((c.ceil() as usize).min(len - 1), f)]
}

/// TensorFlow's bilinear resize of `x` (`[N, C, H, W]` values) to `out`, and the gradient it passes
/// back for the output gradient `gy`, from [`bilinear_axis`].
fn tensorflow_bilinear(
    x: &[f64],
    gy: &[f64],
    [n, c, h, w]: [usize; 4],
    [oh, ow]: [usize; 2],
    align_corners: bool,
) -> (Vec<f64>, Vec<f64>) {
    let (mut y, mut dx) = (vec![0.0; n * c * oh * ow], vec![0.0; x.len()]);
    for plane in 0..n * c {
        for p in 0..oh {
            for q in 0..ow {
                let o = (plane * oh + p) * ow + q;
                for (iy, wy) in bilinear_axis(p, h, oh, align_corners) {
                    for (ix, wx) in bilinear_axis(q, w, ow, align_corners) {
                        let i = (plane * h + iy) * w + ix;
                        y[o] += wy * wx * x[i];
                        dx[i] += wy * wx * gy[o];
                    }
                }
            }
        }
    }
    (y, dx)
}

/// Asserts that `y`, computed from `x` (which requires its gradient), is TensorFlow's bilinear resize
/// of `x`, and that the gradient passed back to `x` for a random output gradient is the resize's.
fn assert_tensorflow_bilinear(x: Tensor<4>, y: Tensor<4>, align_corners: bool, what: &str) {
    let [n, c, oh, ow] = y.dims();
    let gy = random([n, c, oh, ow], &x.device());
    let grads = (y.clone() * gy.clone()).sum().backward();
    let (xv, gyv) = (values(x.clone().inner()), values(gy.inner()));
    let (want, want_dx) = tensorflow_bilinear(&xv, &gyv, x.dims(), [oh, ow], align_corners);
    assert_close(&values(y.inner()), &want, &format!("{what}: values"));
    assert_close(&values(x.grad(&grads).unwrap()), &want_dx, &format!("{what}: gradient"));
}

#[test]
fn bilinear_resize_and_its_gradient_equal_their_definition() {
    let _serial = crate::common::device_rng();
    let device = Device::flex().autodiff();
    device.seed(11);
    // UNet 3+'s and U²-Net's factors (the second over 2^18 values out, so planes run in parallel),
    // odd sizes up and down, and aligned corners.
    let cases = [
        ([2, 3, 4, 5], [8, 10], false),
        ([20, 16, 8, 8], [64, 64], false),
        ([1, 2, 3, 3], [24, 12], false),
        ([2, 2, 5, 7], [7, 3], false),
        ([2, 2, 5, 7], [9, 16], true),
    ];
    for (shape, out, align_corners) in cases {
        let x = random(shape, &device).require_grad();
        let options =
            InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(align_corners).with_output_size(out);
        let y = interpolate(x.clone(), options);
        assert_tensorflow_bilinear(
            x,
            y,
            align_corners,
            &format!("bilinear {shape:?} → {out:?}, aligned corners {align_corners}"),
        );
    }
}

/// The up-sampling that GPU backends run (burn 0.22's have no gradient for bilinear interpolation),
/// here on the CPU: equal to TensorFlow's bilinear resize, values and gradient, at every factor the
/// networks use and on 1-pixel maps (U²-Net's deepest side output).
#[test]
fn composed_upsampling_and_its_gradient_equal_tensorflows_bilinear() {
    let _serial = crate::common::device_rng();
    let device = Device::flex().autodiff();
    device.seed(12);
    for (shape, k) in [([2, 3, 4, 5], 2), ([1, 2, 3, 3], 4), ([2, 2, 1, 1], 8), ([1, 1, 2, 7], 16)] {
        let [n, c, h, w] = shape;
        let x = random(shape, &device).require_grad();
        let y = xcluster::model::blocks::upsample_composed(x.clone(), k);
        assert_eq!(y.dims(), [n, c, h * k, w * k]);
        assert_tensorflow_bilinear(x, y, false, &format!("composed ×{k} up-sampling of {shape:?}"));
    }
}
