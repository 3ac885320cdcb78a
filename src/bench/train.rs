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
use crate::model::{check_driver, scalar, Architecture, NetConfig};
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
/// step, images per second, the median inference time of one batch, the untrained network's loss in
/// inference mode, and the loss after the first and the last step. Weights and inputs are drawn on
/// the CPU from seed 1 and then moved to `device`, so that the losses on a GPU and on the CPU can be
/// compared (`scripts/gpu-check.sh`). With a `peer`, the same for Keras (every network) and PyTorch
/// (the original U-Net), and our time over theirs.
///
/// `rounds` rounds, one after the other, each the peers' then ours: every time is the median over
/// rounds, every ratio the median of the rounds' ratios, and the step's ratio to Keras comes with
/// its lowest and highest round. On a shared machine the speed of both sides drifts by several per
/// cent from minute to minute; rounds side by side show how much.
pub fn run_train(
    archs: &[Architecture],
    sizes: TrainBench,
    device: &Device,
    peer: Option<&Peer>,
    mut report: impl FnMut(&str, usize, f64),
) -> Result<DataFrame> {
    let TrainBench { batch, bands, steps, rounds } = sizes;
    ensure_param!(
        batch >= 1 && bands >= 1 && steps >= 1 && rounds >= 1,
        "bench",
        "batch, bands, steps and rounds must be ≥ 1"
    );
    check_driver(device)?;
    let names: Vec<&str> = archs.iter().map(|a| a.name()).collect();
    let mut done: Vec<Round> = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        // The peer first: if it cannot run, say so before our part's minutes are spent.
        if peer.is_some() {
            report(&format!("round {round}/{rounds}: Keras and PyTorch"), batch, 0.0);
        }
        let peers = peer.map(|p| p.run("train", batch, bands, steps, &names)).transpose()?.unwrap_or_default();
        let mut ours = Vec::with_capacity(archs.len());
        for &arch in archs {
            let timed = time_network(arch, batch, bands, steps, device)?;
            report(&format!("round {round}/{rounds}, {arch}: train step"), batch, timed.step_s);
            ours.push(timed);
        }
        done.push(Round { peers, ours });
    }
    let mut columns = TrainColumns::default();
    for (i, name) in names.iter().enumerate() {
        columns.push(name, &done, i, batch);
    }
    Ok(columns.frame(&done[0], &names)?)
}

/// The sizes of `xcluster bench train`: patches per step, input bands, timed steps per network and
/// rounds (see [`run_train`]).
#[derive(Debug, Clone, Copy)]
pub struct TrainBench {
    /// Patches per step.
    pub batch: usize,
    /// Input bands.
    pub bands: usize,
    /// Timed steps per network, after 2 warm-up steps.
    pub steps: usize,
    /// Rounds of the peers' timing then ours.
    pub rounds: usize,
}

/// One round of [`run_train`]: the peers' rows, then our times, network by network.
struct Round {
    peers: Vec<PeerRow>,
    ours: Vec<NetworkTimes>,
}

/// The columns of [`run_train`]'s table, a network at a time.
#[derive(Default)]
struct TrainColumns {
    params: Vec<u64>,
    step_ms: Vec<f64>,
    train_per_s: Vec<f64>,
    keras_step: Vec<Option<f64>>,
    step_vs_keras: Vec<Option<f64>>,
    step_vs_keras_min: Vec<Option<f64>>,
    step_vs_keras_max: Vec<Option<f64>>,
    torch_step: Vec<Option<f64>>,
    step_vs_torch: Vec<Option<f64>>,
    infer_ms: Vec<f64>,
    infer_per_s: Vec<f64>,
    keras_infer: Vec<Option<f64>>,
    infer_vs_keras: Vec<Option<f64>>,
}

impl TrainColumns {
    /// Network `i` (`name`) over the rounds.
    fn push(&mut self, name: &str, rounds: &[Round], i: usize, batch: usize) {
        let ours = |f: fn(&NetworkTimes) -> f64| rounds.iter().map(|r| f(&r.ours[i]) * 1e3).collect::<Vec<_>>();
        let (step, infer) = (ours(|t| t.step_s), ours(|t| t.infer_s));
        // A peer's figure in every round, or none.
        let theirs = |framework: &str, pass: &str| {
            rounds.iter().map(|r| peer_ms(&r.peers, framework, name, "", pass)).collect::<Option<Vec<_>>>()
        };
        let ratios = |ours: &[f64], theirs: &Option<Vec<f64>>| {
            theirs.as_ref().map(|t| ours.iter().zip(t).map(|(a, b)| a / b).collect::<Vec<_>>())
        };
        let (keras_step, torch_step, keras_infer) =
            (theirs("keras", "train step"), theirs("torch", "train step"), theirs("keras", "inference"));
        let step_vs_keras = ratios(&step, &keras_step);
        let extreme = |pick: fn(f64, f64) -> f64| step_vs_keras.as_ref().and_then(|r| r.iter().copied().reduce(pick));
        let (step_ms, infer_ms) = (median(&step), median(&infer));
        self.params.push(rounds[0].ours[i].params);
        self.step_ms.push(step_ms);
        self.train_per_s.push(batch as f64 * 1e3 / step_ms);
        self.keras_step.push(keras_step.as_deref().map(median));
        self.step_vs_keras.push(step_vs_keras.as_deref().map(median));
        self.step_vs_keras_min.push(extreme(f64::min));
        self.step_vs_keras_max.push(extreme(f64::max));
        self.torch_step.push(torch_step.as_deref().map(median));
        self.step_vs_torch.push(ratios(&step, &torch_step).as_deref().map(median));
        self.infer_ms.push(infer_ms);
        self.infer_per_s.push(batch as f64 * 1e3 / infer_ms);
        self.keras_infer.push(keras_infer.as_deref().map(median));
        self.infer_vs_keras.push(ratios(&infer, &keras_infer).as_deref().map(median));
    }

    /// The table; the losses are the first round's (every round starts from seed 1).
    fn frame(self, first: &Round, names: &[&str]) -> PolarsResult<DataFrame> {
        df!(
            "model" => names,
            "params" => self.params,
            "ms_per_step" => self.step_ms,
            "train_images_per_s" => self.train_per_s,
            "keras_ms_per_step" => self.keras_step,
            "step_vs_keras" => self.step_vs_keras,
            "step_vs_keras_min" => self.step_vs_keras_min,
            "step_vs_keras_max" => self.step_vs_keras_max,
            "torch_ms_per_step" => self.torch_step,
            "step_vs_torch" => self.step_vs_torch,
            "ms_per_inference_batch" => self.infer_ms,
            "inference_images_per_s" => self.infer_per_s,
            "keras_ms_per_inference_batch" => self.keras_infer,
            "inference_vs_keras" => self.infer_vs_keras,
            "untrained_loss" => first.ours.iter().map(|t| t.untrained_loss).collect::<Vec<_>>(),
            "first_loss" => first.ours.iter().map(|t| t.first_loss).collect::<Vec<_>>(),
            "last_loss" => first.ours.iter().map(|t| t.last_loss).collect::<Vec<_>>(),
        )
    }
}

/// What [`time_network`] measures.
struct NetworkTimes {
    params: u64,
    step_s: f64,
    infer_s: f64,
    /// The untrained network's loss in inference mode (no dropout) on the batch.
    untrained_loss: f64,
    /// The loss of the first and of the last step.
    first_loss: f64,
    last_loss: f64,
}

/// One network's parameter count, median seconds per training step and per inference batch, and
/// its losses.
fn time_network(arch: Architecture, batch: usize, bands: usize, steps: usize, device: &Device) -> Result<NetworkTimes> {
    let (cpu, ad) = (Device::flex(), device.clone().autodiff());
    cpu.seed(1);
    let mut net = NetConfig::new(arch, bands).init(&cpu.clone().autodiff())?.drawn().fork(&ad);
    let (_, params) = net.param_counts();
    let mut optim = OptimizerKind::Adam.init();
    let x = Tensor::<4>::random([batch, bands, 64, 64], Distribution::Normal(0.0, 1.0), &cpu).to_device(&ad);
    let y = Tensor::<4>::random([batch, 1, 64, 64], Distribution::Bernoulli(0.05), &cpu).to_device(&ad);
    // Training draws dropout masks on the device, so a GPU's losses drift from the CPU's; inference has
    // no dropout, so this one is the same on every device up to float rounding.
    let untrained_loss =
        scalar(Loss::focal_tversky().forward(net.valid().forward(x.clone().inner()), y.clone().inner()))?;
    let (mut times, mut losses) = (Vec::with_capacity(steps), Vec::with_capacity(steps + 2));
    for step in 0..steps + 2 {
        let t = Instant::now();
        let loss = Loss::focal_tversky().forward(net.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-3, net, grads);
        // Reading the loss waits for the step to finish on asynchronous backends (CUDA).
        let value = scalar(loss)?;
        losses.push(f64::from(value));
        if step >= 2 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let infer_net = net.valid();
    let xi = x.inner();
    // One untimed batch, then three timed: as the peer script times Keras' `predict_on_batch`.
    let infer_ms = time_ms(3, || scalar(infer_net.forward(xi.clone()).mean()).map(drop))?;
    Ok(NetworkTimes {
        params: params as u64,
        step_s: median(&times),
        infer_s: infer_ms / 1e3,
        untrained_loss: f64::from(untrained_loss),
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
    check_driver(device)?;
    if peer.is_some() {
        report("peer: PyTorch", batch, 0.0);
    }
    let peers = peer.map(|p| p.run("breakdown", batch, bands, steps, &[])).transpose()?.unwrap_or_default();
    let mut rows = step_parts(batch, bands, steps, device)?;
    for row in &rows {
        report(&format!("unet {}", row.pass), batch, row.ms / 1e3);
    }
    rows.extend(layer_ops(batch, steps, device, &mut report)?);
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
        scalar(loss.clone())?;
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
        .map(|(pass, p)| Timed { name: "unet step".into(), shape: shape.clone(), pass, ms: median(&p) })
        .collect())
}

/// Median milliseconds of `f` over `steps` calls after one warm-up; `f`'s first error ends it.
fn time_ms(steps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let t = (0..steps)
        .map(|_| {
            let t = Instant::now();
            f()?;
            Ok(t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<Vec<f64>>>()?;
    Ok(median(&t))
}

/// Median milliseconds of a backward pass through `forward()` (built untimed, once per call) from
/// `sum(out)`, as the peer script times PyTorch's. (A loss of `sum(out · 1)` had added a product's
/// backward over the whole output, which PyTorch's figure did not hold: about 1 ms for the
/// concatenation's 20×64×64×64, whose backward went from 4.1 to 3.2 ms.)
fn time_backward(steps: usize, forward: impl Fn() -> Tensor<4>) -> f64 {
    let t: Vec<f64> = (0..steps + 1)
        .map(|_| {
            let loss = forward().sum();
            let t = Instant::now();
            let _grads = loss.backward();
            t.elapsed().as_secs_f64() * 1e3
        })
        .skip(1)
        .collect();
    median(&t)
}

/// Forward (plain device), input-gradient and weight-gradient milliseconds of `op` on `module`.
/// Each gradient is timed alone: the other operand does not require one.
fn grad_times<M: Module + Clone>(
    module: M,
    x: Tensor<4>,
    steps: usize,
    op: impl Fn(&M, Tensor<4>) -> Tensor<4>,
) -> Result<[f64; 3]> {
    let (plain, plain_x) = (module.valid(), x.clone().inner());
    let (frozen, tracked_x) = (module.clone().no_grad(), x.clone().require_grad());
    let forward = time_ms(steps, || scalar(op(&plain, plain_x.clone()).sum()).map(drop))?;
    let input_grad = time_backward(steps, || op(&frozen, tracked_x.clone()));
    let weight_grad = time_backward(steps, || op(&module, x.clone()));
    Ok([forward, input_grad, weight_grad])
}

/// Forward and backward milliseconds of a parameter-free `op` (the same for burn and us).
fn plain_times(x: Tensor<4>, steps: usize, op: impl Fn(Tensor<4>) -> Tensor<4>) -> Result<[f64; 2]> {
    let plain_x = x.clone().inner();
    let forward = time_ms(steps, || scalar(op(plain_x.clone()).sum()).map(drop))?;
    let tracked_x = x.require_grad();
    Ok([forward, time_backward(steps, || op(tracked_x.clone()))])
}

/// The U-Net's layer shapes at batch `n`: 3×3 convolutions `(channels in, out, size)` and 2×2
/// stride-2 up-convolutions `(in, out, input size)`.
const CONV3: [(usize, usize, usize); 5] = [(32, 32, 64), (64, 64, 32), (128, 128, 16), (256, 256, 8), (512, 512, 4)];
const UPCONV: [(usize, usize, usize); 2] = [(256, 128, 8), (64, 32, 32)];

/// Each operation at the U-Net's shapes.
fn layer_ops(n: usize, steps: usize, device: &Device, report: &mut impl FnMut(&str, usize, f64)) -> Result<Vec<Timed>> {
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
        let times = grad_times(conv, random([n, cin, size, size]), steps, |c, x| c.forward(x))?;
        for (pass, t) in passes.into_iter().zip(times) {
            push("conv2d 3x3", format!("{n}×{cin}×{size}×{size} → {cout}"), pass, t);
        }
    }
    for (cin, cout, size) in UPCONV {
        let conv: ConvTranspose2d = ConvTranspose2dConfig::new([cin, cout], [2, 2]).with_stride([2, 2]).init(&ad);
        let times = grad_times(conv, random([n, cin, size, size]), steps, |c, x| c.forward(x))?;
        for (pass, t) in passes.into_iter().zip(times) {
            push("conv_transpose2d 2x2/2", format!("{n}×{cin}×{size}×{size} → {cout}"), pass, t);
        }
    }
    let shape = format!("{n}×32×64×64");
    let bn = BatchNormConfig::new(32).init(&ad);
    let times = grad_times(bn, random([n, 32, 64, 64]), steps, |bn, x| bn.forward(x))?;
    for (pass, t) in passes.into_iter().zip(times) {
        push("batch norm", shape.clone(), pass, t);
    }
    let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
    let max_pool = |x| pool.forward(x);
    let ops: [(&str, &dyn Fn(Tensor<4>) -> Tensor<4>); 2] =
        [("max-pool 2x2", &max_pool), ("concatenate", &concat_with_itself)];
    for (name, op) in ops {
        let [forward, backward] = plain_times(random([n, 32, 64, 64]), steps, op)?;
        push(name, shape.clone(), "forward", forward);
        push(name, shape.clone(), "input grad", backward);
    }
    Ok(rows)
}

fn concat_with_itself(x: Tensor<4>) -> Tensor<4> {
    Tensor::cat(vec![x.clone(), x], 1)
}

/// The median of `v` (the mean of the middle two of an even count); `v` is not empty.
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let half = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[half - 1] + v[half]) / 2.0
    } else {
        v[half]
    }
}
