//! Weight gradients of conv2d and conv_transpose2d, as autodiff computes them on the CPU backend
//! (burn-flex with our patch kernel/burn-flex-weight-grad.diff: one gemm per group), equal a direct
//! sum over each operation's definition in f64 — for strides, paddings, dilations, groups and
//! rectangular kernels — and, for stride-1 convolutions, burn's own formula: a forward conv2d with
//! the batch and channel axes swapped. Tolerance: 1e-5 of the largest gradient.

use burn::tensor::module::{conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor};

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
}

fn values(t: Tensor<4>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
}

fn random(shape: [usize; 4], device: &Device) -> Tensor<4> {
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
    assert!(scale > 0.1, "{what}: a degenerate case (largest gradient {scale})");
    assert!(worst <= 1e-5 * scale, "{what}: max |Δ| = {worst:e}, largest gradient {scale}");
}

/// conv2d's weight gradient from its definition: y[n, o, p, q] = Σ_{cl, i, j} W[o, cl, i, j] ·
/// x[n, g·C/G + cl, p·s + i·d − pad, q·s + j·d − pad] with g = o / (O/G), so
/// dW[o, cl, i, j] = Σ_{n, p, q} gy[n, o, p, q] · x[n, g·C/G + cl, …].
fn conv_weight_grad_by_definition(case: Case, x: &[f64], gy: &[f64], out: [usize; 2]) -> Vec<f64> {
    let Case { n, c, o, size: [h, w], k: [kh, kw], stride, pad, dilation, groups } = case;
    let (cg, og) = (c / groups, o / groups);
    let mut dw = vec![0.0; o * cg * kh * kw];
    for (idx, d) in dw.iter_mut().enumerate() {
        let (oc, cl, i, j) = (idx / (cg * kh * kw), idx / (kh * kw) % cg, idx / kw % kh, idx % kw);
        let ch = oc / og * cg + cl;
        for b in 0..n {
            for p in 0..out[0] {
                let Some(y) = tap(p, i, stride[0], dilation[0], pad[0], h) else { continue };
                for q in 0..out[1] {
                    let Some(xx) = tap(q, j, stride[1], dilation[1], pad[1], w) else { continue };
                    *d += gy[((b * o + oc) * out[0] + p) * out[1] + q] * x[((b * c + ch) * h + y) * w + xx];
                }
            }
        }
    }
    dw
}

/// conv_transpose2d's weight gradient from its definition: x[n, c, p, q] adds W[c, ol, i, j] · x
/// to y[n, g·O/G + ol, p·s + i·d − pad, q·s + j·d − pad] with g = c / (C/G), so
/// dW[c, ol, i, j] = Σ_{n, p, q} x[n, c, p, q] · gy[n, g·O/G + ol, …].
fn transposed_weight_grad_by_definition(case: Case, x: &[f64], gy: &[f64], out: [usize; 2]) -> Vec<f64> {
    let Case { n, c, o, size: [h, w], k: [kh, kw], stride, pad, dilation, groups } = case;
    let (cg, og) = (c / groups, o / groups);
    let mut dw = vec![0.0; c * og * kh * kw];
    for (idx, d) in dw.iter_mut().enumerate() {
        let (ci, ol, i, j) = (idx / (og * kh * kw), idx / (kh * kw) % og, idx / kw % kh, idx % kw);
        let oc = ci / cg * og + ol;
        for b in 0..n {
            for p in 0..h {
                let Some(y) = tap(p, i, stride[0], dilation[0], pad[0], out[0]) else { continue };
                for q in 0..w {
                    let Some(yy) = tap(q, j, stride[1], dilation[1], pad[1], out[1]) else { continue };
                    *d += x[((b * c + ci) * h + p) * w + q] * gy[((b * o + oc) * out[0] + y) * out[1] + yy];
                }
            }
        }
    }
    dw
}

/// The weight gradient autodiff gives for Σ gy ⊙ op(x, W), and x, gy and the output size. The
/// caller holds the device's random-generator lock.
fn autodiff_weight_grad(
    x_shape: [usize; 4],
    w_shape: [usize; 4],
    op: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, [usize; 2]) {
    let device = Device::default().autodiff();
    device.seed(7);
    let x = random(x_shape, &device);
    let weight = random(w_shape, &device).require_grad();
    let y = op(x.clone(), weight.clone());
    let gy = random(y.dims(), &device);
    let [_, _, oh, ow] = y.dims();
    let grads = (y * gy.clone()).sum().backward();
    let dw = weight.grad(&grads).expect("the weight requires a gradient");
    (values(dw), values(x.inner()), values(gy.inner()), [oh, ow])
}

fn check_conv(case: Case) {
    let _serial = crate::common::device_rng();
    let [kh, kw] = case.k;
    let w_shape = [case.o, case.c / case.groups, kh, kw];
    let x_shape = [case.n, case.c, case.size[0], case.size[1]];
    let (dw, x, gy, out) = autodiff_weight_grad(x_shape, w_shape, |x, w| conv2d(x, w, None, case.conv()));
    assert_close(&dw, &conv_weight_grad_by_definition(case, &x, &gy, out), &format!("conv2d {case:?}"));
}

fn check_transposed(case: Case, pad_out: [usize; 2]) {
    let _serial = crate::common::device_rng();
    let [kh, kw] = case.k;
    let w_shape = [case.c, case.o / case.groups, kh, kw];
    let x_shape = [case.n, case.c, case.size[0], case.size[1]];
    let options = ConvTransposeOptions::new(case.stride, case.pad, pad_out, case.dilation, case.groups);
    let (dw, x, gy, out) = autodiff_weight_grad(x_shape, w_shape, |x, w| conv_transpose2d(x, w, None, options.clone()));
    assert_close(&dw, &transposed_weight_grad_by_definition(case, &x, &gy, out), &format!("conv_transpose2d {case:?}"));
}

const UNET_3X3: Case =
    Case { n: 3, c: 5, o: 4, size: [12, 12], k: [3, 3], stride: [1, 1], pad: [1, 1], dilation: [1, 1], groups: 1 };

#[test]
fn conv2d_weight_grad_equals_its_definition() {
    check_conv(UNET_3X3);
    // ResUNet-a's dilated convolutions, also with the dilation wider than the image (its rate-31
    // branch on an 8×8 map: most taps fall in the padding).
    check_conv(Case { n: 2, c: 4, o: 3, size: [16, 16], k: [3, 3], pad: [3, 3], dilation: [3, 3], ..UNET_3X3 });
    check_conv(Case { n: 2, c: 4, o: 3, size: [4, 5], k: [3, 3], pad: [6, 6], dilation: [6, 6], ..UNET_3X3 });
    // V-Net's and the attention U-Net's 2×2 stride-2 down-convolutions.
    check_conv(Case { n: 2, c: 3, o: 4, size: [8, 8], k: [2, 2], stride: [2, 2], pad: [0, 0], ..UNET_3X3 });
    // Groups, a rectangular kernel with a row stride, a 1×1 head.
    check_conv(Case { c: 6, groups: 2, size: [9, 9], ..UNET_3X3 });
    check_conv(Case { size: [10, 11], k: [3, 5], stride: [1, 2], pad: [1, 2], ..UNET_3X3 });
    check_conv(Case { o: 1, k: [1, 1], pad: [0, 0], ..UNET_3X3 });
}

#[test]
fn conv_transpose2d_weight_grad_equals_its_definition() {
    let up = Case { n: 2, c: 5, o: 3, size: [6, 6], k: [2, 2], stride: [2, 2], pad: [0, 0], ..UNET_3X3 };
    // The U-Net's 2×2 stride-2 up-convolution.
    check_transposed(up, [0, 0]);
    // Keras' "same" 3×3 stride-2 transposed convolution (V-Net, attention U-Net), and groups.
    check_transposed(Case { k: [3, 3], pad: [1, 1], ..up }, [1, 1]);
    check_transposed(Case { c: 4, o: 6, groups: 2, ..up }, [0, 0]);
}

/// burn's own formula for a stride-1 convolution's weight gradient (what its generic backward
/// computes): conv2d of xᵀ by gyᵀ (batch and channels swapped), with stride and dilation exchanged.
#[test]
fn conv2d_weight_grad_equals_burns_swapped_convolution() {
    let _serial = crate::common::device_rng();
    let plain = Device::default();
    for case in [UNET_3X3, Case { n: 2, c: 4, o: 3, size: [16, 16], pad: [2, 2], dilation: [2, 2], ..UNET_3X3 }] {
        let w_shape = [case.o, case.c, case.k[0], case.k[1]];
        let x_shape = [case.n, case.c, case.size[0], case.size[1]];
        let (dw, x, gy, [oh, ow]) = autodiff_weight_grad(x_shape, w_shape, |x, w| conv2d(x, w, None, case.conv()));
        let x = Tensor::<1>::from_floats(x.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(), &plain)
            .reshape(x_shape);
        let gy = Tensor::<1>::from_floats(gy.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(), &plain)
            .reshape([case.n, case.o, oh, ow]);
        let swapped = ConvOptions::new(case.dilation, case.pad, case.stride, 1);
        let burn = conv2d(x.swap_dims(0, 1), gy.swap_dims(0, 1), None, swapped).swap_dims(0, 1);
        assert_eq!(burn.dims(), w_shape);
        assert_close(&dw, &values(burn), &format!("burn's formula, {case:?}"));
    }
}

/// On large maps the weight gradient is summed from chunks of images computed on several threads;
/// the chunks are added in a fixed order, so the gradient is the same bit for bit on every call
/// (and a seed fixes a training run).
#[test]
fn conv2d_weight_grad_is_the_same_bit_for_bit_on_every_call() {
    let case = Case { n: 8, c: 8, o: 8, size: [32, 32], ..UNET_3X3 };
    let w_shape = [case.o, case.c, 3, 3];
    let x_shape = [case.n, case.c, 32, 32];
    let grads: Vec<Vec<f64>> = (0..4)
        .map(|_| {
            let _serial = crate::common::device_rng();
            autodiff_weight_grad(x_shape, w_shape, |x, w| conv2d(x, w, None, case.conv())).0
        })
        .collect();
    for g in &grads[1..] {
        assert!(g.iter().zip(&grads[0]).all(|(a, b)| a.to_bits() == b.to_bits()), "the gradients differ between calls");
    }
}
