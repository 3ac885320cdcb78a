//! V-Net (Milletari et al. 2016) in 2-d, keras-unet-collection's `vnet_2d` as configured for
//! xCluster: `filter_num=[16,32,64,128,256]`, `res_num_ini=1`, `res_num_max=3`, `activation='PReLU'`,
//! `batch_norm=True`, `pool=False` (strided 2×2 convolutions down), `unpool=False` (3×3 transposed
//! convolutions up), sigmoid output; 4,606,817 trainable / 4,612,449 total parameters with 6 bands.
//!
//! Every level is a residual block: `res_num` convolutions (1 at the finest level, one more per
//! level, at most 3) whose output is added to the block input and passed through a PReLU.
//! Keras' `PReLU()` has no shared axes, so every PReLU owns one slope per channel *and* pixel: the
//! network is built for [`INPUT_SIZE`]×[`INPUT_SIZE`] patches and accepts no other size (like the
//! Keras model built with `input_size=(64, 64, bands)`); 921,600 of its parameters are such slopes.
//!
//! In: `[N, bands, 64, 64]`; out: `[N, 1, 64, 64]` probabilities.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::blocks::{cat, Act, ActKind, ConvBnAct, ConvOpts, ConvStack, Down, Head, Up};

/// The patch side the network is built for: the per-pixel PReLU slopes fix the spatial size.
pub const INPUT_SIZE: usize = 64;

/// Keras' `res_num_ini` and `res_num_max`: convolutions in the residual path of level `i` are
/// `min(RES_NUM_INI + i, RES_NUM_MAX)`.
const RES_NUM_INI: usize = 1;
const RES_NUM_MAX: usize = 3;

/// Conv + BN + PReLU options at a level of side `size`.
fn prelu(size: usize) -> ConvOpts {
    ConvOpts { kernel: 3, dilation: 1, batch_norm: true, act: ActKind::PRelu, size, bias: false, groups: 1 }
}

/// Keras' `Res_CONV_stack`: `CONV_stack(x)`, plus a residual tensor, then an activation.
#[derive(Module, Debug)]
struct ResConvStack {
    stack: ConvStack,
    act: Act,
}

impl ResConvStack {
    /// `res_num` convolutions `cin` → `cout` (the first) then `cout` → `cout`, and the activation after
    /// the addition.
    fn new(cin: usize, cout: usize, res_num: usize, opts: ConvOpts, device: &Device) -> Self {
        Self {
            stack: ConvStack::new(cin, cout, res_num, opts, device),
            act: Act::new(opts.act, cout, opts.size, device),
        }
    }

    /// # Shapes
    /// `x: [N, cin, H, W]`, `residual: [N, cout, H, W]` → `[N, cout, H, W]`
    fn forward(&self, x: Tensor<4>, residual: Tensor<4>) -> Tensor<4> {
        self.act.forward(residual + self.stack.forward(x))
    }
}

/// One decoder level (`vnet_right`): transposed convolution up, concatenation with the skip, residual
/// block whose residual is the up-sampled tensor (not the concatenation).
#[derive(Module, Debug)]
struct Right {
    up: Up,
    res: ResConvStack,
}

/// keras-unet-collection's `vnet_2d`: `filters` per level, finest first (default [16, 32, 64, 128, 256]).
#[derive(Module, Debug)]
pub struct Vnet {
    input_conv: ConvBnAct,
    down0: ResConvStack,
    down: Vec<Down>,
    left: Vec<ResConvStack>,
    right: Vec<Right>,
    head: Head,
}

impl Vnet {
    /// Build for `bands` input channels and level widths `filters` (for [`INPUT_SIZE`]² patches).
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        let res_num = |level: usize| (RES_NUM_INI + level).min(RES_NUM_MAX);
        let size = |level: usize| INPUT_SIZE >> level;
        let f0 = filters[0];
        let input_conv = ConvBnAct::new(bands, f0, prelu(size(0)), device);
        let down0 = ResConvStack::new(f0, f0, res_num(0), prelu(size(0)), device);
        let (mut down, mut left) = (Vec::new(), Vec::new());
        for (level, pair) in filters.windows(2).enumerate().map(|(i, p)| (i + 1, p)) {
            let (cin, f) = (pair[0], pair[1]);
            let opts = prelu(size(level));
            down.push(Down::strided(cin, f, opts, device));
            left.push(ResConvStack::new(f, f, res_num(level), opts, device));
        }
        let mut right = Vec::new();
        let mut prev = filters[filters.len() - 1];
        for (level, &f) in filters.iter().enumerate().rev().skip(1) {
            let opts = prelu(size(level));
            right.push(Right {
                up: Up::transposed(prev, f, 3, opts, device),
                res: ResConvStack::new(2 * f, f, res_num(level), opts, device),
            });
            prev = f;
        }
        Self { input_conv, down0, down, left, right, head: Head::new(prev, device) }
    }

    /// # Shapes
    /// `[N, bands, 64, 64]` → `[N, 1, 64, 64]`
    ///
    /// # Panics
    /// If the patch is not [`INPUT_SIZE`]×[`INPUT_SIZE`] (the PReLU slopes would not broadcast).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        assert!(h == INPUT_SIZE && w == INPUT_SIZE, "V-Net takes {INPUT_SIZE}×{INPUT_SIZE} patches, got {h}×{w}");
        let x = self.input_conv.forward(x); // [N, f0, 64, 64]
        let mut x = self.down0.forward(x.clone(), x); // [N, f0, 64, 64]
        let mut skips = Vec::with_capacity(self.left.len());
        for (down, left) in self.down.iter().zip(&self.left) {
            skips.push(x.clone());
            let d = down.forward(x); // [N, f, h/2, w/2]
            x = left.forward(d.clone(), d);
        }
        for (right, skip) in self.right.iter().zip(skips.into_iter().rev()) {
            let up = right.up.forward(x); // [N, f, 2h, 2w]
            x = right.res.forward(cat(vec![up.clone(), skip]), up); // [N, f, 2h, 2w]
        }
        self.head.forward(x)
    }
}
