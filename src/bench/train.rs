//! Training speed (`xcluster bench train [--breakdown]`), ours beside the peers'.
//!
//! In: the networks, batch, bands and step counts, and optionally a [`Peer`] (a Python with
//! TensorFlow + keras-unet-collection and PyTorch). Out: DataFrames of milliseconds per step and
//! images per second, with the peer's figures and the ratios when the peer runs in the same call.
//! The peer script is `benches/peer.py`, embedded in the binary so that the bench runs anywhere.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNormConfig, PaddingConfig2d};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor};
use polars::prelude::*;

use crate::error::{ensure_param, Error, Result};
use crate::loss::Loss;
use crate::model::{Architecture, NetConfig};
use crate::train::OptimizerKind;

/// The peer script: Keras (the original's stack) and PyTorch, timed like the functions here.
const PEER_SCRIPT: &str = include_str!("../../benches/peer.py");

/// A Python interpreter with the peers installed, named by `XCLUSTER_PEER_PYTHON`
/// (`scripts/bench-peers.sh` makes one and sets it).
#[derive(Debug, Clone)]
pub struct Peer {
    python: PathBuf,
}

/// One JSON line printed by the peer script.
#[derive(Debug, serde::Deserialize)]
struct PeerRow {
    framework: String,
    /// A network (`unet`, …) or an operation (`conv2d 3x3`, …).
    name: String,
    #[serde(default)]
    shape: String,
    /// `train step`, `inference`, `forward`, `input grad`, `weight grad`, …
    pass: String,
    ms: f64,
}

impl Peer {
    /// The environment variable naming the peer's Python.
    pub const ENV: &'static str = "XCLUSTER_PEER_PYTHON";

    /// The peer named by [`Peer::ENV`], if set.
    pub fn from_env() -> Option<Peer> {
        std::env::var_os(Self::ENV).filter(|p| !p.is_empty()).map(|p| Peer { python: p.into() })
    }

    /// Run the peer script's `what` (`train` or `breakdown`) at our sizes and threads (for `train`,
    /// on `models`); its JSON lines.
    fn run(&self, what: &str, batch: usize, bands: usize, steps: usize, models: &[&str]) -> Result<Vec<PeerRow>> {
        let mut args: Vec<String> = [what, "--batch", &batch.to_string(), "--bands", &bands.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend([
            "--steps".into(),
            steps.to_string(),
            "--threads".into(),
            rayon::current_num_threads().to_string(),
        ]);
        if !models.is_empty() {
            args.push("--model".into());
            args.extend(models.iter().map(|m| m.to_string()));
        }
        let text = self.output("peer.py", PEER_SCRIPT, &args)?;
        text.lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).map_err(|e| Error::param(Self::ENV, format!("peer printed {l:?}: {e}"))))
            .collect()
    }

    /// Run `script` (written to a temporary `name`) with `args`; its standard output. A failure
    /// names the command and quotes the last line of its standard error.
    pub(crate) fn output(&self, name: &str, script: &str, args: &[String]) -> Result<String> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let path = dir.path().join(name);
        std::fs::write(&path, script).map_err(|e| Error::io(&path, e))?;
        let out = std::process::Command::new(&self.python)
            .arg(&path)
            .args(args)
            .output()
            .map_err(|e| Error::param(Self::ENV, format!("cannot run {}: {e}", self.python.display())))?;
        if !out.status.success() {
            return Err(Error::param(
                Self::ENV,
                format!(
                    "{} {name} {} failed ({}): {}",
                    self.python.display(),
                    args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
                ),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Milliseconds of a peer's row, if it printed one.
fn peer_ms(rows: &[PeerRow], framework: &str, name: &str, shape: &str, pass: &str) -> Option<f64> {
    rows.iter().find(|r| r.framework == framework && r.name == name && r.shape == shape && r.pass == pass).map(|r| r.ms)
}

/// Training-step speed of the networks (`xcluster bench train`) on `device`: for each
/// architecture, 2 untimed steps, then `steps` timed Adam steps on random `[batch, bands, 64, 64]`
/// inputs and masks (focal Tversky loss, the original's default widths); the median milliseconds per
/// step, images per second, the median inference time of one batch, and the loss after the first and
/// the last step. Weights and inputs are drawn on the CPU from seed 1 and then moved to `device`, so
/// that the losses on a GPU and on the CPU can be compared (`scripts/gpu-check.sh`). With a `peer`,
/// the same for Keras (every network) and PyTorch (the original U-Net), and our time over theirs.
pub fn run_train(
    archs: &[Architecture],
    batch: usize,
    bands: usize,
    steps: usize,
    device: &Device,
    peer: Option<&Peer>,
    mut report: impl FnMut(&str, usize, f64),
) -> Result<DataFrame> {
    ensure_param!(batch >= 1 && bands >= 1 && steps >= 1, "bench", "batch, bands and steps must be ≥ 1");
    // The peer first: if it cannot run, say so before our part's minutes are spent.
    let names: Vec<&str> = archs.iter().map(|a| a.name()).collect();
    if peer.is_some() {
        report("peers: Keras and PyTorch", batch, 0.0);
    }
    let peers = peer.map(|p| p.run("train", batch, bands, steps, &names)).transpose()?.unwrap_or_default();
    let mut ours = Vec::new();
    for &arch in archs {
        let timed = time_network(arch, batch, bands, steps, device)?;
        report(&format!("{arch}: train step"), batch, timed.step_s);
        ours.push((arch.name(), timed));
    }
    let peer_col = |framework: &str, pass: &str| {
        ours.iter().map(|(name, _)| peer_ms(&peers, framework, name, "", pass)).collect::<Vec<_>>()
    };
    let (keras_step, keras_infer, torch_step) =
        (peer_col("keras", "train step"), peer_col("keras", "inference"), peer_col("torch", "train step"));
    let ms = |f: fn(&NetworkTimes) -> f64| ours.iter().map(|(_, t)| f(t) * 1e3).collect::<Vec<_>>();
    let (step_ms, infer_ms) = (ms(|t| t.step_s), ms(|t| t.infer_s));
    let ratio = |a: &[f64], b: &[Option<f64>]| a.iter().zip(b).map(|(a, b)| b.map(|b| a / b)).collect::<Vec<_>>();
    let per_s = |ms: &[f64]| ms.iter().map(|ms| batch as f64 * 1e3 / ms).collect::<Vec<_>>();
    Ok(df!(
        "model" => ours.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        "params" => ours.iter().map(|(_, t)| t.params).collect::<Vec<_>>(),
        "ms_per_step" => step_ms.clone(),
        "train_images_per_s" => per_s(&step_ms),
        "keras_ms_per_step" => keras_step.clone(),
        "step_vs_keras" => ratio(&step_ms, &keras_step),
        "torch_ms_per_step" => torch_step.clone(),
        "step_vs_torch" => ratio(&step_ms, &torch_step),
        "ms_per_inference_batch" => infer_ms.clone(),
        "inference_images_per_s" => per_s(&infer_ms),
        "keras_ms_per_inference_batch" => keras_infer.clone(),
        "inference_vs_keras" => ratio(&infer_ms, &keras_infer),
        "first_loss" => ours.iter().map(|(_, t)| t.first_loss).collect::<Vec<_>>(),
        "last_loss" => ours.iter().map(|(_, t)| t.last_loss).collect::<Vec<_>>(),
    )?)
}

/// What [`time_network`] measures.
struct NetworkTimes {
    params: u64,
    step_s: f64,
    infer_s: f64,
    /// The loss of the first and of the last step.
    first_loss: f64,
    last_loss: f64,
}

/// One network's parameter count, median seconds per training step and per inference batch, and
/// its losses.
fn time_network(arch: Architecture, batch: usize, bands: usize, steps: usize, device: &Device) -> Result<NetworkTimes> {
    let (cpu, ad) = (Device::default(), device.clone().autodiff());
    cpu.seed(1);
    let mut net = NetConfig::new(arch, bands).init(&cpu.clone().autodiff())?.to_device(&ad);
    let (_, params) = net.param_counts();
    let mut optim = OptimizerKind::Adam.init();
    let x = Tensor::<4>::random([batch, bands, 64, 64], Distribution::Normal(0.0, 1.0), &cpu).to_device(&ad);
    let y = Tensor::<4>::random([batch, 1, 64, 64], Distribution::Bernoulli(0.05), &cpu).to_device(&ad);
    let (mut times, mut losses) = (Vec::with_capacity(steps), Vec::with_capacity(steps + 2));
    for step in 0..steps + 2 {
        let t = Instant::now();
        let loss = Loss::focal_tversky().forward(net.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-3, net, grads);
        // Reading the loss waits for the step to finish on asynchronous backends (CUDA).
        let value: f32 = loss.into_scalar();
        losses.push(f64::from(value));
        if step >= 2 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let infer_net = net.valid();
    let xi = x.inner();
    // One untimed batch, then three timed: as the peer script times Keras' `predict_on_batch`.
    let infer_ms = time_ms(3, || {
        let _: f32 = infer_net.forward(xi.clone()).mean().into_scalar();
    });
    Ok(NetworkTimes {
        params: params as u64,
        step_s: median(&mut times),
        infer_s: infer_ms / 1e3,
        first_loss: losses[0],
        last_loss: losses[losses.len() - 1],
    })
}

/// One row of the breakdown: what was timed, at which shape, in which pass, in milliseconds.
struct Timed {
    name: String,
    shape: String,
    pass: &'static str,
    ms: f64,
}

/// Where a training step's time goes (`xcluster bench train --breakdown`): the original U-Net's
/// forward pass (with the loss), backward pass and optimizer step; then each operation at the U-Net's layer shapes — conv2d (forward, input gradient,
/// weight gradient), conv_transpose2d (the same), batch norm, max-pool and concatenation (forward,
/// backward). With a `peer`, PyTorch's time for each on the same threads.
pub fn run_train_breakdown(
    batch: usize,
    bands: usize,
    steps: usize,
    device: &Device,
    peer: Option<&Peer>,
    mut report: impl FnMut(&str, usize, f64),
) -> Result<DataFrame> {
    ensure_param!(batch >= 1 && bands >= 1 && steps >= 1, "bench", "batch, bands and steps must be ≥ 1");
    if peer.is_some() {
        report("peer: PyTorch", batch, 0.0);
    }
    let peers = peer.map(|p| p.run("breakdown", batch, bands, steps, &[])).transpose()?.unwrap_or_default();
    let mut rows = step_parts(batch, bands, steps, device)?;
    for row in &rows {
        report(&format!("unet {}", row.pass), batch, row.ms / 1e3);
    }
    rows.extend(layer_ops(batch, steps, device, &mut report));
    let torch: Vec<Option<f64>> = rows.iter().map(|r| peer_ms(&peers, "torch", &r.name, &r.shape, r.pass)).collect();
    Ok(df!(
        "what" => rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        "shape" => rows.iter().map(|r| r.shape.clone()).collect::<Vec<_>>(),
        "pass" => rows.iter().map(|r| r.pass).collect::<Vec<_>>(),
        "ms" => rows.iter().map(|r| r.ms).collect::<Vec<_>>(),
        "torch_ms" => torch.clone(),
        "vs_torch" => rows.iter().zip(&torch).map(|(r, t)| t.map(|t| r.ms / t)).collect::<Vec<_>>(),
    )?)
}

/// The original U-Net's step in three parts, median over `steps` after one warm-up step.
fn step_parts(batch: usize, bands: usize, steps: usize, device: &Device) -> Result<Vec<Timed>> {
    let ad = device.clone().autodiff();
    device.seed(1);
    let mut net = NetConfig::new(Architecture::Unet, bands).init(&ad)?;
    let mut optim = OptimizerKind::Adam.init();
    let x = Tensor::<4>::random([batch, bands, 64, 64], Distribution::Normal(0.0, 1.0), &ad);
    let y = Tensor::<4>::random([batch, 1, 64, 64], Distribution::Bernoulli(0.05), &ad);
    let mut parts = [Vec::new(), Vec::new(), Vec::new()];
    for step in 0..steps + 1 {
        let t0 = Instant::now();
        let loss = Loss::focal_tversky().forward(net.forward(x.clone()), y.clone());
        let _: f32 = loss.clone().into_scalar();
        let t1 = Instant::now();
        let grads = loss.backward();
        let t2 = Instant::now();
        let grads = GradientsParams::from_grads(grads, &net);
        net = optim.step(1e-3, net, grads);
        let t3 = Instant::now();
        if step >= 1 {
            for (part, (a, b)) in parts.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3)]) {
                part.push((b - a).as_secs_f64() * 1e3);
            }
        }
    }
    let shape = format!("{batch}×{bands}×64×64");
    let passes = ["forward + loss", "backward", "optimizer step"];
    Ok(passes
        .into_iter()
        .zip(parts)
        .map(|(pass, mut p)| Timed { name: "unet step".into(), shape: shape.clone(), pass, ms: median(&mut p) })
        .collect())
}

/// Median milliseconds of `f` over `steps` calls after one warm-up.
fn time_ms(steps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..steps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(&mut t)
}

/// Median milliseconds of a backward pass through `forward()` (built untimed, once per call) from
/// `sum(out)`, as the peer script times PyTorch's. (A loss of `sum(out · 1)` had added a product's
/// backward over the whole output, which PyTorch's figure did not hold: about 1 ms for the
/// concatenation's 20×64×64×64, whose backward went from 4.1 to 3.2 ms.)
fn time_backward(steps: usize, forward: impl Fn() -> Tensor<4>) -> f64 {
    let mut t: Vec<f64> = (0..steps + 1)
        .map(|_| {
            let loss = forward().sum();
            let t = Instant::now();
            let _grads = loss.backward();
            t.elapsed().as_secs_f64() * 1e3
        })
        .skip(1)
        .collect();
    median(&mut t)
}

/// Forward (plain device), input-gradient and weight-gradient milliseconds of `op` on `module`.
/// Each gradient is timed alone: the other operand does not require one.
fn grad_times<M: Module + Clone>(
    module: M,
    x: Tensor<4>,
    steps: usize,
    op: impl Fn(&M, Tensor<4>) -> Tensor<4>,
) -> [f64; 3] {
    let (plain, plain_x) = (module.valid(), x.clone().inner());
    let (frozen, tracked_x) = (module.clone().no_grad(), x.clone().require_grad());
    let forward = time_ms(steps, || {
        let _: f32 = op(&plain, plain_x.clone()).sum().into_scalar();
    });
    let input_grad = time_backward(steps, || op(&frozen, tracked_x.clone()));
    let weight_grad = time_backward(steps, || op(&module, x.clone()));
    [forward, input_grad, weight_grad]
}

/// Forward and backward milliseconds of a parameter-free `op` (the same for burn and us).
fn plain_times(x: Tensor<4>, steps: usize, op: impl Fn(Tensor<4>) -> Tensor<4>) -> [f64; 2] {
    let plain_x = x.clone().inner();
    let forward = time_ms(steps, || {
        let _: f32 = op(plain_x.clone()).sum().into_scalar();
    });
    let tracked_x = x.require_grad();
    [forward, time_backward(steps, || op(tracked_x.clone()))]
}

/// The U-Net's layer shapes at batch `n`: 3×3 convolutions `(channels in, out, size)` and 2×2
/// stride-2 up-convolutions `(in, out, input size)`.
const CONV3: [(usize, usize, usize); 5] = [(32, 32, 64), (64, 64, 32), (128, 128, 16), (256, 256, 8), (512, 512, 4)];
const UPCONV: [(usize, usize, usize); 2] = [(256, 128, 8), (64, 32, 32)];

/// Each operation at the U-Net's shapes.
fn layer_ops(n: usize, steps: usize, device: &Device, report: &mut impl FnMut(&str, usize, f64)) -> Vec<Timed> {
    let ad = device.clone().autodiff();
    let random = |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &ad);
    let mut rows = Vec::new();
    let mut push = |name: &str, shape: String, pass: &'static str, ms: f64| {
        report(&format!("{name} {shape} {pass}"), n, ms / 1e3);
        rows.push(Timed { name: name.into(), shape, pass, ms });
    };
    let passes = ["forward", "input grad", "weight grad"];
    for (cin, cout, size) in CONV3 {
        let conv: Conv2d =
            Conv2dConfig::new([cin, cout], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(&ad);
        let times = grad_times(conv, random([n, cin, size, size]), steps, |c, x| c.forward(x));
        for (pass, t) in passes.into_iter().zip(times) {
            push("conv2d 3x3", format!("{n}×{cin}×{size}×{size} → {cout}"), pass, t);
        }
    }
    for (cin, cout, size) in UPCONV {
        let conv: ConvTranspose2d = ConvTranspose2dConfig::new([cin, cout], [2, 2]).with_stride([2, 2]).init(&ad);
        let times = grad_times(conv, random([n, cin, size, size]), steps, |c, x| c.forward(x));
        for (pass, t) in passes.into_iter().zip(times) {
            push("conv_transpose2d 2x2/2", format!("{n}×{cin}×{size}×{size} → {cout}"), pass, t);
        }
    }
    let shape = format!("{n}×32×64×64");
    let bn = BatchNormConfig::new(32).init(&ad);
    let times = grad_times(bn, random([n, 32, 64, 64]), steps, |bn, x| bn.forward(x));
    for (pass, t) in passes.into_iter().zip(times) {
        push("batch norm", shape.clone(), pass, t);
    }
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    let max_pool = |x| pool.forward(x);
    let ops: [(&str, &dyn Fn(Tensor<4>) -> Tensor<4>); 2] =
        [("max-pool 2x2", &max_pool), ("concatenate", &concat_with_itself)];
    for (name, op) in ops {
        let [forward, backward] = plain_times(random([n, 32, 64, 64]), steps, op);
        push(name, shape.clone(), "forward", forward);
        push(name, shape.clone(), "input grad", backward);
    }
    rows
}

fn concat_with_itself(x: Tensor<4>) -> Tensor<4> {
    Tensor::cat(vec![x.clone(), x], 1)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
