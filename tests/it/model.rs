//! Networks: parameter counts equal the reference Keras models (keras-unet-collection 0.1.13 and the
//! original xCluster U-Net, 6 bands, as listed in issue 5), and every network maps
//! `[N, bands, 64, 64]` to `[N, 1, 64, 64]` probabilities.

use burn::tensor::{Device, Distribution, Tensor};
use xcluster::model::{Architecture, NetConfig};

use crate::common::values;

/// `(trainable, total)` with 6 bands; total includes batch-norm running statistics.
fn expected(arch: Architecture) -> (usize, usize) {
    match arch {
        Architecture::Unet => (7_725_953, 7_727_873),
        Architecture::Unet2d => (8_559_233, 8_559_233),
        Architecture::Vnet => (4_606_817, 4_612_449),
        Architecture::AttnNet => (10_887_844, 10_896_164),
        Architecture::R2uNet => (25_348_609, 25_348_609),
        Architecture::UnetPlus => (7_785_089, 7_785_089),
        Architecture::ResunetA => (23_485_889, 23_507_905),
        Architecture::U2net => (48_881_229, 48_881_229),
        Architecture::Unet3plus => (7_640_641, 7_642_177),
    }
}

fn check_counts(arch: Architecture) {
    let _serial = crate::common::device_rng();
    let device = Device::default().autodiff();
    let net = NetConfig::new(arch, 6).init(&device).unwrap();
    assert_eq!(net.param_counts(), expected(arch), "{arch}: (trainable, total) parameters");
}

/// A forward pass of a narrow copy (widths / 8) keeps the shape and gives probabilities.
fn check_forward(arch: Architecture) {
    let _serial = crate::common::device_rng();
    let device = Device::default();
    let filters: Vec<usize> = arch.default_filters().iter().map(|f| f / 8).collect();
    let net = NetConfig::new(arch, 3).filters(&filters).init(&device).unwrap();
    let x = Tensor::<4>::random([2, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);
    let y = net.forward(x);
    assert_eq!(y.dims(), [2, 1, 64, 64], "{arch}");
    let v: Vec<f32> = y.into_data().try_to_vec().unwrap();
    assert!(v.iter().all(|p| (0.0..=1.0).contains(p)), "{arch}: outputs are probabilities");
}

macro_rules! arch_tests {
    ($($name:ident => $arch:expr),* $(,)?) => {
        mod counts { use super::*; $( #[test] fn $name() { check_counts($arch) } )* }
        mod forward { use super::*; $( #[test] fn $name() { check_forward($arch) } )* }
    };
}

arch_tests! {
    unet => Architecture::Unet,
    unet_2d => Architecture::Unet2d,
    vnet => Architecture::Vnet,
    attn_net => Architecture::AttnNet,
    r2u_net => Architecture::R2uNet,
    unet_plus => Architecture::UnetPlus,
    resunet_a => Architecture::ResunetA,
    u2net => Architecture::U2net,
    unet_3plus => Architecture::Unet3plus,
}

/// Every weight of a network, flattened, in the order burn visits them.
fn weights(net: &xcluster::model::Net) -> Vec<f32> {
    use burn::module::{Module, ModuleVisitor, Param};
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(param.val().into_data().iter::<f32>());
        }
    }
    let mut all = Collect(Vec::new());
    net.visit(&mut all);
    all.0
}

/// `drawn()` draws the weights from the generator's state then. burn draws a parameter at its first
/// use, and one not yet drawn that `fork` or `to_device` moves is drawn there: a network built on the
/// CPU from a seed and moved to a GPU got the GPU generator's weights (`scripts/gpu-check.sh` compared
/// such networks). Here the move is to the same device after re-seeding, which shows it on the CPU.
#[test]
fn weights_drawn_before_a_move_are_the_seeds() {
    use burn::module::Module;
    let _serial = crate::common::device_rng();
    let device = Device::default().autodiff();
    let build = |seed| {
        device.seed(seed);
        NetConfig::new(Architecture::Unet, 3).filters(&[4, 8]).init(&device).unwrap()
    };
    let seed_1 = weights(&build(1));
    let moved_lazy = build(1);
    let moved_drawn = build(1).drawn();
    device.seed(2);
    assert_eq!(weights(&moved_drawn.fork(&device)), seed_1);
    assert_ne!(weights(&moved_lazy.fork(&device)), seed_1, "burn draws a lazy weight where it is moved");
}

#[test]
fn names_parse_and_aliases() {
    for arch in Architecture::ALL {
        assert_eq!(Architecture::from_name(arch.name()).unwrap(), arch);
    }
    assert_eq!(Architecture::from_name("attn_unet").unwrap(), Architecture::AttnNet);
    let err = Architecture::from_name("resnet").unwrap_err().to_string();
    assert!(err.contains("unknown model \"resnet\""), "{err}");
}

#[test]
fn invalid_configs_are_rejected_when_built() {
    let device = Device::default();
    let err = NetConfig::new(Architecture::Unet, 0).init(&device).unwrap_err().to_string();
    assert!(err.contains("bands must be at least 1, got 0"), "{err}");
    let err = NetConfig::new(Architecture::Unet, 6).filters(&[32]).init(&device).unwrap_err().to_string();
    assert!(err.contains("filters: must list at least two widths in 1…4096, got [32]"), "{err}");
}

#[test]
fn dilated_convolutions_keep_the_size() {
    use xcluster::model::blocks::{ConvBnAct, ConvOpts};
    let device = Device::default();
    for (k, d) in [(3, 1), (3, 3), (3, 15), (5, 2), (1, 4)] {
        let layer = ConvBnAct::new(2, 3, ConvOpts::relu3(false).kernel(k).dilation(d), &device);
        let y = layer.forward(Tensor::<4>::ones([1, 2, 32, 32], &device));
        assert_eq!(y.dims(), [1, 3, 32, 32], "k {k}, dilation {d}");
    }
}

#[test]
fn patch_sizes_are_checked_per_architecture() {
    let cfg = |arch| NetConfig::new(arch, 6);
    cfg(Architecture::Unet).check_size(64).unwrap();
    let err = cfg(Architecture::Unet).check_size(60).unwrap_err().to_string();
    assert!(err.contains("60 px is not a multiple of 8, which unet with 4 levels needs"), "{err}");
    let err = cfg(Architecture::U2net).check_size(48).unwrap_err().to_string();
    assert!(err.contains("not a multiple of 32"), "{err}");
    let err = cfg(Architecture::Vnet).check_size(128).unwrap_err().to_string();
    assert!(err.contains("vnet takes 64 px patches only"), "{err}");
}

/// After `flush_denormals` (which building a network calls), an f32 product below the normal range
/// is 0, on the calling thread and on each of rayon's; IEEE arithmetic (a thread that has not
/// flushed) gives 1e-40, a denormal.
#[cfg(target_arch = "x86_64")]
#[test]
fn denormals_flush_to_zero_on_every_training_thread() {
    use std::hint::black_box;
    let product = || black_box(1e-20f32) * black_box(1e-20f32);
    // First on a thread that has not flushed (libtest's thread for this test has not): denormal.
    let fresh = std::thread::spawn(product).join().unwrap();
    assert!(fresh > 0.0 && fresh < f32::MIN_POSITIVE, "{fresh}");
    xcluster::model::flush_denormals();
    assert_eq!(product(), 0.0);
    let on_pool = rayon::broadcast(|_| (product(), black_box(1e-40f32) + 0.0));
    assert!(on_pool.iter().all(|&(p, d)| p == 0.0 && d == 0.0), "{on_pool:?}");
}

/// Keras' PReLU with per-pixel slopes, `x` for x > 0 and `α·x` otherwise: its values on the autodiff
/// path (a slope map built with `mask_fill`) and on the inference path (burn's fused `prelu` over the
/// flattened `C·H·W` axis), and its gradients `dx = gy·(1 or α)` and `dα = Σ_batch gy·x·[x ≤ 0]`,
/// against that definition. Some inputs are exactly 0, where the slope is α's (the value is 0 either way).
#[test]
fn prelu_and_its_gradients_equal_their_definition() {
    use xcluster::model::blocks::prelu;
    let _serial = crate::common::device_rng();
    let device = Device::default().autodiff();
    device.seed(4);
    let [n, c, h, w] = [3, 4, 5, 6];
    let zeros = Tensor::<4>::random([n, c, h, w], Distribution::Bernoulli(0.2), &device).equal_elem(1.0);
    let x =
        Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device).mask_fill(zeros, 0.0).require_grad();
    let alpha = Tensor::<3>::random([c, h, w], Distribution::Uniform(-0.5, 1.5), &device).require_grad();
    let gy = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
    let out = prelu(x.clone(), alpha.clone());
    let grads = (out.clone() * gy.clone()).sum().backward();
    let (xv, av, gv) = (values(x.clone().inner()), values(alpha.clone().inner()), values(gy.inner()));
    assert!(xv.iter().filter(|&&v| v == 0.0).count() > 10, "the test's inputs hold zeros");
    let plane = c * h * w;
    let (mut want, mut want_dx, mut want_da) = (Vec::new(), Vec::new(), vec![0.0; plane]);
    for (i, (&x, &g)) in xv.iter().zip(&gv).enumerate() {
        let a = av[i % plane];
        want.push(if x > 0.0 { x } else { a * x });
        want_dx.push(if x > 0.0 { g } else { a * g });
        if x <= 0.0 {
            want_da[i % plane] += g * x;
        }
    }
    let close = |got: Vec<f64>, want: &[f64], what: &str| {
        let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
        assert!(got.len() == want.len() && worst <= 1e-5, "{what}: max |Δ| {worst}");
    };
    close(values(out.inner()), &want, "autodiff values");
    close(values(x.grad(&grads).unwrap()), &want_dx, "dx");
    close(values(alpha.grad(&grads).unwrap()), &want_da, "dα");
    close(values(prelu(x.inner(), alpha.inner())), &want, "inference values");
}

/// What a device computed comes back through `model::values` / `model::scalar`, which turn a device's
/// failure into an error naming the device (a GPU's; the CPU's reads do not fail) instead of a panic.
#[test]
fn values_and_scalars_read_back_what_the_device_holds() {
    let device = Device::flex();
    let t = Tensor::<2>::from_data([[1.5f32, -2.0], [0.25, 4.0]], &device);
    assert_eq!(xcluster::model::values(t.clone()).unwrap(), [1.5, -2.0, 0.25, 4.0]);
    assert_eq!(xcluster::model::scalar(t.clone().sum()).unwrap(), 3.75);
    let err = xcluster::model::scalar(t).unwrap_err().to_string();
    assert!(err.contains("device") && err.contains("a scalar read back as 4 values"), "{err}");
}
