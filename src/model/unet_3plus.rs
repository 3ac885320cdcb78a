//! PLACEHOLDER — to be replaced by the real Unet3plus (a helper is writing it). Currently a plain U-Net.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// Placeholder network.
#[derive(Module, Debug)]
pub struct Unet3plus {
    inner: super::unet::Unet2d,
}

impl Unet3plus {
    /// Build for `bands` input channels and encoder widths `filters`.
    pub fn new(bands: usize, filters: &[usize], device: &Device) -> Self {
        Self { inner: super::unet::Unet2d::new(bands, filters, device) }
    }

    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.inner.forward(x)
    }
}
