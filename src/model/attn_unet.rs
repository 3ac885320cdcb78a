//! Attention U-Net (Oktay et al. 2018), keras-unet-collection's `att_unet_2d` as configured for
//! xCluster: `filter_num=[64,128,256,512]`, two convolutions per level down and up, ReLU, additive
//! attention with a ReLU, `batch_norm=True`, `pool=False` (strided 2×2 convolutions down),
//! `unpool=False` (3×3 transposed convolutions up), sigmoid output; 10,887,844 trainable /
//! 10,896,164 total parameters with 6 bands.
//!
//! Each decoder level gates its skip connection with an attention map computed from the skip and
//! the up-sampled coarser features, then concatenates and convolves as a U-Net.
//!
//! In: `[N, bands, H, W]` with H, W divisible by 2^(levels − 1); out: `[N, 1, H, W]` probabilities.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::{activation, Device, Tensor};

use super::blocks::{cat, conv, ConvOpts, ConvStack, Down, Head, Up};

/// Keras' `attention_gate` with `attention='add'`: the skip `x` is scaled pixel-wise by
/// `sigmoid(psi(relu(theta(x) + phi(g))))`, `g` being the up-sampled coarser features.
#[derive(Module, Debug)]
struct AttentionGate {
    theta_x: Conv2d,
    phi_g: Conv2d,
    psi_f: Conv2d,
}

impl AttentionGate {
    /// 1×1 convolutions (with bias): `x` (`cx` channels) and `g` (`cg`) to `inter`, then to 1.
    fn new(cx: usize, cg: usize, inter: usize, device: &Device) -> Self {
        Self {
            theta_x: conv(cx, inter, 1, 1, true, device),
            phi_g: conv(cg, inter, 1, 1, true, device),
            psi_f: conv(inter, 1, 1, 1, true, device),
        }
    }

    /// # Shapes
    /// `x: [N, cx, H, W]`, `g: [N, cg, H, W]` → `[N, cx, H, W]`
    fn forward(&self, x: Tensor<4>, g: Tensor<4>) -> Tensor<4> {
        let query = activation::relu(self.theta_x.forward(x.clone()) + self.phi_g.forward(g));
        let coef = activation::sigmoid(self.psi_f.forward(query)); // [N, 1, H, W]
        x * coef
    }
}

/// One decoder level (`UNET_att_right`): transposed convolution up, attention on the skip,
/// concatenation, two convolutions.
#[derive(Module, Debug)]
struct Right {
    up: Up,
    gate: AttentionGate,
    conv: ConvStack,
}

/// keras-unet-collection's `att_unet_2d`: `filters` per level, finest first (default [64, 128, 256, 512]).
#[derive(Module, Debug)]
pub struct AttnUnet {
    down0: ConvStack,
    down: Vec<Down>,
    left: Vec<ConvStack>,
    right: Vec<Right>,
    head: Head,
}

impl AttnUnet {
    /// Build for `bands` input channels and level widths `filters`.
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        let opts = ConvOpts::relu3(true);
        let down0 = ConvStack::new(bands, filters[0], 2, opts, device);
        let (mut down, mut left) = (Vec::new(), Vec::new());
        for pair in filters.windows(2) {
            let (cin, f) = (pair[0], pair[1]);
            down.push(Down::strided(cin, f, opts, device));
            left.push(ConvStack::new(f, f, 2, opts, device));
        }
        let mut right = Vec::new();
        let mut prev = filters[filters.len() - 1];
        for &f in filters[..filters.len() - 1].iter().rev() {
            right.push(Right {
                up: Up::transposed(prev, f, 3, opts, device),
                // Keras uses f // 2 intermediate channels; at least one so that width-1 levels work.
                gate: AttentionGate::new(f, f, (f / 2).max(1), device),
                conv: ConvStack::new(2 * f, f, 2, opts, device),
            });
            prev = f;
        }
        Self { down0, down, left, right, head: Head::new(prev, device) }
    }

    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = self.down0.forward(x); // [N, f0, H, W]
        let mut skips = Vec::with_capacity(self.left.len());
        for (down, left) in self.down.iter().zip(&self.left) {
            skips.push(x.clone());
            x = left.forward(down.forward(x)); // [N, f, h/2, w/2]
        }
        for (right, skip) in self.right.iter().zip(skips.into_iter().rev()) {
            let up = right.up.forward(x); // [N, f, 2h, 2w]
            let skip = right.gate.forward(skip, up.clone()); // [N, f, 2h, 2w]
            x = right.conv.forward(cat(vec![up, skip])); // [N, f, 2h, 2w]
        }
        self.head.forward(x)
    }
}
