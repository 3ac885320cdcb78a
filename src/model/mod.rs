//! The networks: eight U-Net-family architectures (burn; CPU `flex` backend by default, CUDA with
//! the `cuda` feature), one file each, sharing [`blocks`].
//!
//! In: `[N, bands, H, W]` normalised patches (H = W = 64 by default, divisible by 2^levels);
//! out: `[N, 1, H, W]` cluster probabilities (sigmoid, never softmax on one channel — the
//! original's bug). [`Architecture`] names a network, [`NetConfig`] adds its widths and the number
//! of bands, [`NetConfig::init`] builds a [`Net`].

pub mod attn_unet;
pub mod blocks;
pub mod r2unet;
pub mod resunet_a;
pub mod u2net;
pub mod unet;
pub mod unet_3plus;
pub mod unet_plus;
pub mod vnet;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{ensure_param, named_enum, Result};

/// A network architecture, by the name used in the params file (`model = "unet"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Architecture {
    /// The original xCluster U-Net (encoder 32-64-128-256 with batch norm, transposed-conv decoder).
    Unet,
    /// keras-unet-collection `unet_2d` (\[64,128,256,512\], no batch norm, bilinear up).
    Unet2d,
    /// V-Net (Milletari 2016), keras-unet-collection `vnet_2d`.
    Vnet,
    /// Recurrent residual U-Net (Alom 2018), `r2_unet_2d`.
    R2uNet,
    /// UNet++ (Zhou 2018), `unet_plus_2d`.
    UnetPlus,
    /// Attention U-Net (Oktay 2018), `att_unet_2d`.
    AttnNet,
    /// ResUNet-a (Diakogiannis 2020), `resunet_a_2d`.
    ResunetA,
    /// U²-Net (Qin 2020), `u2net_2d`.
    U2net,
    /// UNet 3+ (Huang 2020), `unet_3plus_2d`.
    Unet3plus,
}

named_enum!(Architecture, "model", aliases: Architecture::ALIASES);

impl Architecture {
    /// Every architecture, the original U-Net first.
    pub const ALL: [Architecture; 9] = [
        Self::Unet,
        Self::Unet2d,
        Self::Vnet,
        Self::R2uNet,
        Self::UnetPlus,
        Self::AttnNet,
        Self::ResunetA,
        Self::U2net,
        Self::Unet3plus,
    ];

    /// The name used in params files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unet => "unet",
            Self::Unet2d => "unet_2d",
            Self::Vnet => "vnet",
            Self::R2uNet => "r2u_net",
            Self::UnetPlus => "unet_plus",
            Self::AttnNet => "attn_net",
            Self::ResunetA => "resunet_a",
            Self::U2net => "u2net",
            Self::Unet3plus => "unet_3plus",
        }
    }

    /// Parse a name from the params file (the same as `name.parse()`, and the params file's `model`):
    /// the names of [`Architecture::ALL`], and `attn_unet` for `attn_net`, `unet_standard` for `unet_2d`.
    pub fn from_name(name: &str) -> Result<Self> {
        name.parse()
    }

    /// The other names that parse, each with its architecture: `attn_unet` (keras-unet-collection's
    /// name) and `unet_standard` (the original's).
    pub const ALIASES: [(&'static str, Architecture); 2] =
        [("attn_unet", Self::AttnNet), ("unet_standard", Self::Unet2d)];

    /// The reference encoder widths: [32, 64, 128, 256] for the original U-Net, [16, 32, 64, 128, 256]
    /// for V-Net, [64, 128, 256, 512] for the others.
    pub fn default_filters(self) -> Vec<usize> {
        match self {
            Self::Unet => vec![32, 64, 128, 256],
            Self::Vnet => vec![16, 32, 64, 128, 256],
            _ => vec![64, 128, 256, 512],
        }
    }
}

/// What to build: an architecture, its widths and the number of input bands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// The architecture.
    pub architecture: Architecture,
    /// Number of input channels (bands).
    pub bands: usize,
    /// Encoder widths, finest level first (see [`Architecture::default_filters`]).
    pub filters: Vec<usize>,
}

impl NetConfig {
    /// The reference configuration of `architecture` for `bands` input channels.
    pub fn new(architecture: Architecture, bands: usize) -> Self {
        Self { architecture, bands, filters: architecture.default_filters() }
    }

    /// Encoder widths (finest first); every architecture scales its other widths with them.
    pub fn filters(mut self, filters: &[usize]) -> Self {
        self.filters = filters.to_vec();
        self
    }

    /// Check the configuration: at least one band, two levels, widths in 1…4096.
    pub fn validate(&self) -> Result<()> {
        ensure_param!(self.bands >= 1, "model", "bands must be at least 1, got {}", self.bands);
        ensure_param!(
            self.filters.len() >= 2 && self.filters.iter().all(|&f| (1..=4096).contains(&f)),
            "filters",
            "must list at least two widths in 1…4096, got {:?}",
            self.filters
        );
        Ok(())
    }

    /// Patch sides must be multiples of this: 2^(levels − 1), and 2^(levels + 1) for U²-Net, whose two
    /// extra "4F" levels pool twice more.
    pub fn size_multiple(&self) -> usize {
        match self.architecture {
            Architecture::U2net => 1 << (self.filters.len() + 1),
            _ => 1 << (self.filters.len() - 1),
        }
    }

    /// Check that `size`×`size` patches fit the network: a multiple of 2^(levels − 1), and exactly
    /// [`vnet::INPUT_SIZE`] for V-Net, whose Keras-default PReLU has one slope per pixel.
    pub fn check_size(&self, size: usize) -> Result<()> {
        let m = self.size_multiple();
        ensure_param!(
            size.is_multiple_of(m),
            "patch_size",
            "{size} px is not a multiple of {m}, which {} with {} levels needs",
            self.architecture,
            self.filters.len()
        );
        ensure_param!(
            self.architecture != Architecture::Vnet || size == vnet::INPUT_SIZE,
            "patch_size",
            "vnet takes {} px patches only (its PReLU slopes are per pixel), got {size}",
            vnet::INPUT_SIZE
        );
        Ok(())
    }

    /// Build the network on `device` with fresh weights, drawn from the device's generator at their
    /// first use (burn's lazy parameters; [`Net::drawn`] draws them at once).
    pub fn init(&self, device: &Device) -> Result<Net> {
        self.validate()?;
        check_driver(device)?;
        keep_freed_memory();
        flush_denormals();
        let (b, f) = (self.bands, self.filters.as_slice());
        Ok(match self.architecture {
            Architecture::Unet => Net::Unet(unet::XclusterUnet::new(b, f, device)),
            Architecture::Unet2d => Net::Unet2d(unet::Unet2d::new(b, f, device)),
            Architecture::Vnet => Net::Vnet(vnet::Vnet::new(b, f, device)),
            Architecture::R2uNet => Net::R2uNet(r2unet::R2Unet::new(b, f, device)),
            Architecture::UnetPlus => Net::UnetPlus(unet_plus::UnetPlus::new(b, f, device)),
            Architecture::AttnNet => Net::AttnNet(attn_unet::AttnUnet::new(b, f, device)),
            Architecture::ResunetA => Net::ResunetA(resunet_a::ResunetA::new(b, f, device)),
            Architecture::U2net => Net::U2net(u2net::U2net::new(b, f, device)),
            Architecture::Unet3plus => Net::Unet3plus(unet_3plus::Unet3plus::new(b, f, device)),
        })
    }
}

/// The largest block glibc's malloc serves from its heap instead of a fresh mmap (its maximum).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Keep freed memory in the process (once per process; glibc only). Each layer of a CPU training
/// step allocates and frees tensors of several MB. By default glibc maps each with mmap and unmaps
/// it when freed, or trims the heap top: every step then pays page faults, zeroing and TLB
/// shootdowns across the threads. Served from the heap and never trimmed, a U-Net step of
/// `xcluster bench train` took 690 ms instead of 860 (2 cores). The cost: memory freed after
/// training stays with the process (a notebook kernel) for its next use, not returned to the system.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only sets malloc's parameters; it is called once, before the big allocations.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        });
    }
}

/// Flush denormal floats to zero, as TensorFlow and oneDNN do, on the calling thread and rayon's
/// (x86-64: MXCSR's flush-to-zero and denormals-are-zero bits; elsewhere nothing). Why: as training
/// converges, products of small gradients and activations fall below f32's normal range, and every
/// operation on such a value takes a slow microcode path. In the default run each epoch took twice
/// as long as the first by epoch 5 (12.7 s, then 15.7, 25.3, 26.6, 29.4 s for the same 100 steps).
/// Values below 1.2·10⁻³⁸ (f32) or 2.2·10⁻³⁰⁸ (f64) become 0.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    {
        fn set() {
            const FTZ_DAZ: u32 = 0x8040;
            let mut csr = 0u32;
            // SAFETY: stmxcsr/ldmxcsr read and write this thread's SSE control register; setting
            // FTZ and DAZ changes only how denormal values round.
            unsafe {
                std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
                csr |= FTZ_DAZ;
                std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
            }
        }
        set();
        rayon::broadcast(|_| set());
    }
}

/// A built network of any architecture.
#[derive(Module, Debug)]
#[allow(missing_docs, clippy::large_enum_variant)]
pub enum Net {
    Unet(unet::XclusterUnet),
    Unet2d(unet::Unet2d),
    Vnet(vnet::Vnet),
    R2uNet(r2unet::R2Unet),
    UnetPlus(unet_plus::UnetPlus),
    AttnNet(attn_unet::AttnUnet),
    ResunetA(resunet_a::ResunetA),
    U2net(u2net::U2net),
    Unet3plus(unet_3plus::Unet3plus),
}

impl Net {
    /// # Shapes
    /// `[N, bands, H, W]` → `[N, 1, H, W]`, probabilities in (0, 1)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Net::Unet(n) => n.forward(x),
            Net::Unet2d(n) => n.forward(x),
            Net::Vnet(n) => n.forward(x),
            Net::R2uNet(n) => n.forward(x),
            Net::UnetPlus(n) => n.forward(x),
            Net::AttnNet(n) => n.forward(x),
            Net::ResunetA(n) => n.forward(x),
            Net::U2net(n) => n.forward(x),
            Net::Unet3plus(n) => n.forward(x),
        }
    }

    /// The network with every weight drawn now. burn draws a parameter at its first use, and one not
    /// yet drawn that `fork` or `to_device` moves is drawn on the new device: a network built on the
    /// CPU from a seed and moved to a GPU gets the GPU generator's weights unless it is `drawn()` first.
    pub fn drawn(self) -> Self {
        struct Draw;
        impl ModuleVisitor for Draw {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let _ = param.val();
            }
        }
        self.visit(&mut Draw);
        self
    }

    /// Parameter counts `(trainable, total)`; total includes batch-norm running statistics, as
    /// Keras' "Total params". Counted on the tensors' gradient flags, so build on an autodiff device.
    pub fn param_counts(&self) -> (usize, usize) {
        struct Count {
            trainable: usize,
            total: usize,
        }
        impl ModuleVisitor for Count {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let n = param.lazy_shape().num_elements();
                self.total += n;
                if param.val().is_require_grad() {
                    self.trainable += n;
                }
            }
        }
        let mut count = Count { trainable: 0, total: 0 };
        self.visit(&mut count);
        (count.trainable, count.total)
    }
}

/// The first NVIDIA GPU, the device of a build with the `cuda` feature.
#[cfg(feature = "cuda")]
pub(crate) fn cuda_device() -> Device {
    Device::cuda(0)
}

/// wgpu's choice of adapter: its most powerful GPU, or the one `CUBECL_WGPU_DEFAULT_DEVICE` names
/// (`Cpu` for a software Vulkan such as Mesa's lavapipe).
#[cfg(feature = "wgpu")]
pub(crate) fn wgpu_device() -> Device {
    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)
}

/// The device networks run on: the first CUDA GPU with the `cuda` feature, else the GPU wgpu finds
/// with the `wgpu` feature, else the CPU (flex backend).
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    return cuda_device();
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    return wgpu_device();
    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    Device::flex()
}

/// The names `--device` takes: the CPU, and the GPUs of the `cuda` and `wgpu` features.
const DEVICE_NAMES: [&str; 3] = ["cpu", "cuda", "wgpu"];

/// The devices of this build, by name.
fn devices() -> Vec<(&'static str, Device)> {
    // Not `Device::default()`: with a GPU feature burn's default device is the GPU.
    #[allow(unused_mut)]
    let mut all = vec![(DEVICE_NAMES[0], Device::flex())];
    #[cfg(feature = "cuda")]
    all.push((DEVICE_NAMES[1], cuda_device()));
    #[cfg(feature = "wgpu")]
    all.push((DEVICE_NAMES[2], wgpu_device()));
    all
}

/// The device called `name`: `cpu` (burn's flex backend), `cuda` (the first NVIDIA GPU, in a build
/// with the `cuda` feature) or `wgpu` (in a build with the `wgpu` feature), as `--device` takes it.
pub fn device_named(name: &str) -> Result<Device> {
    if let Some((_, device)) = devices().into_iter().find(|(n, _)| *n == name) {
        return Ok(device);
    }
    ensure_param!(DEVICE_NAMES.contains(&name), "device", "{name:?} is not a device: use cpu, cuda or wgpu");
    Err(crate::error::Error::param(
        "device",
        format!("this build has no {name}: build with `--features {name}` (README.md, \"GPU training\")"),
    ))
}

/// The name [`device_named`] gives `device` (with or without autodiff), or its debug form for
/// another device (a second GPU).
pub fn device_name(device: &Device) -> String {
    // Device equality ignores autodiff.
    devices().into_iter().find(|(_, d)| d == device).map_or_else(|| format!("{device:?}"), |(n, _)| n.to_string())
}

/// The values of `t`, read back from its device. An asynchronous device (a GPU) reports here what
/// failed since the last read, such as a buffer it could not allocate: as xcluster's error, naming the
/// device and what to do, where burn's `into_data` would panic.
pub fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    // Named only on failure: this runs at every training step.
    let device = t.device();
    let data = t.try_into_data().map_err(|e| {
        crate::error::Error::param(
            "device",
            format!(
                "{} failed running the network: {e}\nWhere it could not allocate a buffer, the batch is too \
                 large for this device: lower `batch` (or `--batch` of `bench train`), or use another device (`--device cpu`)",
                device_name(&device)
            ),
        )
    })?;
    data.try_into_vec::<f32>()
        .map_err(|e| crate::error::Error::param("device", format!("{}: not f32 data: {e:?}", device_name(&device))))
}

/// The value of the one-element tensor `t` (a loss), read back as [`values`] reads.
pub fn scalar<const D: usize>(t: Tensor<D>) -> Result<f32> {
    let v = values(t)?;
    ensure_param!(v.len() == 1, "device", "a scalar read back as {} values", v.len());
    Ok(v[0])
}

/// A GPU `device` this machine cannot reach is this error: on CUDA where NVIDIA's driver cannot be
/// loaded (rather than cudarc's panic at its first use), on wgpu where no adapter is found (rather
/// than cubecl's panic). Asked where networks are built, trained or benchmarked. Always `Ok` for the
/// CPU and in a build without a GPU feature.
pub fn check_driver(device: &Device) -> Result<()> {
    // Device equality ignores autodiff.
    #[cfg(feature = "cuda")]
    if *device == cuda_device() {
        // SAFETY: it only tries to load libcuda (dlopen) and closes it again.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            let why = "NVIDIA's driver (libcuda.so) cannot be loaded on this machine";
            return Err(no_gpu("cuda", why, "use a machine where `nvidia-smi` works"));
        }
    }
    #[cfg(feature = "wgpu")]
    if *device == wgpu_device() && Device::enumerate(burn::tensor::DeviceType::Wgpu).is_empty() {
        return Err(no_gpu(
            "wgpu",
            "no GPU adapter found (Vulkan, Metal, DirectX 12 or OpenGL)",
            "install the GPU's driver or Mesa's lavapipe (Debian: mesa-vulkan-drivers), which runs the GPU code on the CPU",
        ));
    }
    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    let _ = device;
    Ok(())
}

/// The error for the GPU of `feature` that this machine cannot reach, and the way to the CPU.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn no_gpu(feature: &str, why: &str, or: &str) -> crate::error::Error {
    crate::error::Error::param(
        "device",
        format!("{feature}: {why}: use the CPU (`--device cpu`, or a build without `--features {feature}`), or {or}"),
    )
}
