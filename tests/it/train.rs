//! The trainer: the early-stopping / LR-plateau schedule on a scripted loss sequence, a small U-Net
//! that learns disks in noise (validation dice > 0.8), save → load and checkpoint → resume giving
//! identical predictions, and clear errors for bad settings.

use polars::prelude::DataType;
use rand::{Rng, SeedableRng};
use xcluster::patches::{Gnomonic, PatchInfo};
use xcluster::prelude::*;
use xcluster::train::Schedule;

/// `n` two-band `size`² patches of unit white noise with a disk of radius 3–5 px, amplitude 1.5σ in
/// band 0 and 1σ in band 1, at a random position; the mask is the disk.
fn disks(n: usize, size: usize, seed: u64) -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut data, mut masks) = (Vec::new(), Vec::new());
    let info: Vec<PatchInfo> = (0..n)
        .map(|id| PatchInfo {
            id: id as u64,
            projection: Gnomonic::new(0.0, 0.0, size as u32, 1.7).unwrap(),
            tile: 0,
            split: Split::Train,
            seed_cluster: None,
            shift: (0.0, 0.0),
            clusters: vec![],
        })
        .collect();
    for _ in 0..n {
        let (ci, cj, r) =
            (rng.gen_range(6.0..size as f64 - 6.0), rng.gen_range(6.0..size as f64 - 6.0), rng.gen_range(3.0..5.0));
        let mask: Vec<f32> = (0..size * size)
            .map(|k| {
                let (i, j) = ((k / size) as f64, (k % size) as f64);
                ((i - ci).powi(2) + (j - cj).powi(2) <= r * r) as u8 as f32
            })
            .collect();
        for amp in [1.5f32, 1.0] {
            data.extend(mask.iter().map(|&m| amp * m + standard_normal(&mut rng)));
        }
        masks.extend(mask);
    }
    let patches = Patches::from_parts(vec![Band::F143, Band::YMap], size, data, info).unwrap();
    Dataset::new(patches, masks).unwrap()
}

fn standard_normal(rng: &mut impl Rng) -> f32 {
    // Box–Muller
    let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
    ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
}

fn small_unet() -> Model {
    Model::unet()
        .filters(&[8, 16, 32])
        .loss(Loss::dice())
        .optimizer(OptimizerKind::Adam, 3e-3)
        .batch(16)
        .steps_per_epoch(0)
        .patience(4)
        .lr_patience(2)
        .seed(3)
        .progress(false)
}

#[test]
fn schedule_fires_at_the_right_epochs() {
    // patience 4, plateau patience 2, factor 0.1, lr 1.
    let mut s = Schedule::new(4, 2, 0.1, 1.0);
    let losses = [1.0, 0.9, 0.95, 0.95, 0.89995, 0.92, 0.93, 0.94];
    let mut seen = Vec::new();
    for (epoch, &l) in losses.iter().enumerate() {
        let d = s.step(epoch, l);
        seen.push((d.improved, d.lr, d.stop));
        if d.stop {
            break;
        }
    }
    let want = [
        (true, 1.0, false),  // 0: first epoch is the best so far
        (true, 1.0, false),  // 1: 0.9 improves both
        (false, 1.0, false), // 2: plateau wait 1
        (false, 0.1, false), // 3: plateau wait 2 → lr × 0.1
        // 4: best for early stopping (0.89995 < 0.9) but not by LR min_delta 1e-4: plateau wait 1
        (true, 0.1, false),
        (false, 0.010000000000000002, false), // 5: plateau wait 2 → lr × 0.1; stop wait 1
        (false, 0.010000000000000002, false), // 6: stop wait 2
        (false, 0.0010000000000000002, false), // 7: plateau fires again; stop wait 3
    ];
    assert_eq!(seen, want);
    assert_eq!(s.best, Some((0.89995, 4)));
    // One more epoch without improvement: wait reaches the patience of 4.
    assert!(s.step(8, 0.95).stop);
}

#[test]
fn a_small_unet_learns_disks_in_noise() {
    let _serial = crate::common::device_rng();
    let (train, val) = (disks(320, 32, 1), disks(64, 32, 2));
    let trained = small_unet().epochs(12).fit_on(&train, &val).unwrap();
    let h = trained.history();
    let col = |name: &str| -> Vec<f64> { h.column(name).unwrap().f64().unwrap().into_no_null_iter().collect() };
    let best = col("val_dice").into_iter().fold(0.0, f64::max);
    eprintln!("{h}");
    assert!(best > 0.8, "best validation dice {best}");
    let names: Vec<String> = h.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names[..3], ["epoch", "loss", "dice"]);

    // The returned network is the best epoch's: its validation dice is the history's best.
    let probs = trained.predict(val.patches(), 64).unwrap();
    let mut m = xcluster::loss::Confusion::default();
    m.add(probs.probs(), val.masks());
    let val_loss = col("val_loss");
    let min_loss_row = (0..val_loss.len()).min_by(|&a, &b| val_loss[a].total_cmp(&val_loss[b])).unwrap();
    let dice_at_best = col("val_dice")[min_loss_row];
    // Other batch shapes change the parallel float sums, so a few pixels at p ≈ 0.5 may flip.
    assert!((m.dice() - dice_at_best).abs() < 2e-3, "{} vs {dice_at_best}", m.dice());
    assert_eq!(trained.best_epoch(), Some((min_loss_row as u32 + 1, val_loss[min_loss_row], dice_at_best)));

    // save → load gives identical predictions.
    let dir = tempfile::tempdir().unwrap();
    trained.save(dir.path()).unwrap();
    let loaded = Trained::load(dir.path()).unwrap();
    assert_eq!(loaded.predict(val.patches(), 64).unwrap().probs(), probs.probs());
    assert_eq!(loaded.history().height(), h.height());
    assert_eq!(loaded.best_epoch(), trained.best_epoch(), "the history read back from history.csv");
}

#[test]
fn checkpoint_then_resume_continues_the_run() {
    let _serial = crate::common::device_rng();
    let (train, val) = (disks(64, 16, 5), disks(16, 16, 6));
    let model = || {
        Model::unet()
            .filters(&[4, 8])
            .optimizer(OptimizerKind::Sgd, 1e-2)
            .batch(16)
            .steps_per_epoch(0)
            .progress(false)
            .seed(9)
    };
    let dir = tempfile::tempdir().unwrap();
    let first = model().epochs(2).checkpoint(dir.path()).fit_on(&train, &val).unwrap();
    assert_eq!(first.history().height(), 2);
    for f in ["best.bpk", "last.bpk", "optimizer.bpk", "model.json", "state.json", "history.csv"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    // Raise the epoch budget in model.json, as a user continuing a run would.
    let path = dir.path().join("model.json");
    let text = std::fs::read_to_string(&path).unwrap().replace("\"epochs\": 2", "\"epochs\": 3");
    std::fs::write(&path, text).unwrap();
    let resumed = Model::resume(dir.path(), &train, &val).unwrap();
    let epochs: Vec<u32> = resumed.history().column("epoch").unwrap().u32().unwrap().into_no_null_iter().collect();
    assert_eq!(epochs, [1, 2, 3]);
    // The checkpoint's best weights load as a model and predict like the resumed run's best.
    let loaded = Trained::load(dir.path()).unwrap();
    assert_eq!(loaded.predict(val.patches(), 16).unwrap().probs(), resumed.predict(val.patches(), 16).unwrap().probs());
}

#[test]
fn bad_settings_fail_before_training() {
    let (train, val) = (disks(8, 16, 1), disks(4, 16, 2));
    let err = small_unet().lr_patience(4).fit_on(&train, &val).unwrap_err().to_string();
    assert!(err.contains("lr_patience: must be in 1..patience (4)"), "{err}");
    let err =
        Model::unet().filters(&[2, 4, 8, 16, 32, 64]).progress(false).fit_on(&train, &val).unwrap_err().to_string();
    assert!(err.contains("patch_size: 16 px is not a multiple of 32, which unet with 6 levels needs"), "{err}");
    let err = Trained::load("/nonexistent/model").unwrap_err().to_string();
    assert!(err.contains("/nonexistent/model/model.json"), "{err}");
}

/// In a build with neither GPU backend (the default, which CI tests).
#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
#[test]
fn devices_are_named_and_a_missing_gpu_build_says_which_feature() {
    use xcluster::train::{device_name, device_named};
    let cpu = device_named("cpu").unwrap();
    assert_eq!(cpu, burn::tensor::Device::flex());
    // The name comes back for the device and for its autodiff twin, which training runs on.
    assert_eq!(device_name(&cpu), "cpu");
    assert_eq!(device_name(&cpu.autodiff()), "cpu");
    for gpu in ["cuda", "wgpu"] {
        let err = device_named(gpu).unwrap_err().to_string();
        assert!(err.contains(&format!("this build has no {gpu}: build with `--features {gpu}`")), "{err}");
    }
    let err = device_named("tpu").unwrap_err().to_string();
    assert!(err.contains("\"tpu\" is not a device: use cpu, cuda or wgpu"), "{err}");
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let _serial = crate::common::device_rng();
    let (train, val) = (disks(48, 16, 7), disks(16, 16, 8));
    let run = |seed| {
        Model::unet()
            .filters(&[4, 8])
            .optimizer(OptimizerKind::Sgd, 1e-2)
            .epochs(2)
            .batch(8)
            .steps_per_epoch(0)
            .seed(seed)
            .progress(false)
            .fit_on(&train, &val)
            .unwrap()
    };
    let (a, b, c) = (run(4), run(4), run(5));
    let losses = |t: &Trained| -> Vec<f64> {
        t.history().column("val_loss").unwrap().f64().unwrap().into_no_null_iter().collect()
    };
    // Same seed: the same weights, batches and dropout; only the order of parallel float sums may
    // differ between runs (bitwise equal on one thread).
    for (x, y) in losses(&a).iter().zip(losses(&b)) {
        assert!((x - y).abs() < 1e-4 * x.abs(), "{x} vs {y}");
    }
    let max_diff = |x: &Trained, y: &Trained| {
        let (p, q) = (x.predict(val.patches(), 16).unwrap(), y.predict(val.patches(), 16).unwrap());
        p.probs().iter().zip(q.probs()).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max)
    };
    assert!(max_diff(&a, &b) < 1e-3, "same seed: {}", max_diff(&a, &b));
    assert!(max_diff(&a, &c) > 0.05, "another seed, other weights: {}", max_diff(&a, &c));
}

/// The model of the resume tests: a two-level U-Net on 16-pixel patches, SGD, patience 3 (plateau 1).
fn tiny(epochs: usize) -> Model {
    Model::unet()
        .filters(&[4, 8])
        .optimizer(OptimizerKind::Sgd, 1e-2)
        .batch(16)
        .steps_per_epoch(0)
        .epochs(epochs)
        .patience(3)
        .lr_patience(1)
        .progress(false)
        .seed(9)
}

fn column(t: &Trained, name: &str) -> Vec<f64> {
    t.history().column(name).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().into_no_null_iter().collect()
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Training data whose batches fail once, at the start of epoch `fail_at` (0-based): a run killed
/// during that epoch, after the checkpoint of the one before.
struct InterruptedAt {
    data: Dataset,
    fail_at: u64,
    failed: std::sync::atomic::AtomicBool,
}

impl xcluster::train::TrainData for InterruptedAt {
    fn bands(&self) -> usize {
        xcluster::train::TrainData::bands(&self.data)
    }
    fn size(&self) -> usize {
        xcluster::train::TrainData::size(&self.data)
    }
    fn len(&self) -> usize {
        self.data.len()
    }
    fn batches(
        &self,
        epoch: u64,
        batch: usize,
        seed: u64,
    ) -> xcluster::Result<Box<dyn Iterator<Item = xcluster::Result<xcluster::train::BatchData>> + '_>> {
        // The trainer asks for epoch e's passes as e << 16 | pass.
        if epoch >> 16 == self.fail_at && !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(xcluster::Error::param("train", "interrupted"));
        }
        xcluster::train::TrainData::batches(&self.data, epoch, batch, seed)
    }
}

#[test]
fn resuming_an_early_stopped_run_keeps_its_schedule() {
    let _serial = crate::common::device_rng();
    let train = disks(64, 16, 5);
    // A validation loss that never improves (NaN inputs, as a diverging network gives): the first epoch
    // is the best, the plateau cuts the learning rate after each later epoch, and early stopping fires
    // after patience (3) epochs more.
    let val = {
        let v = disks(16, 16, 6);
        let nan = vec![f32::NAN; v.patches().len() * 2 * 16 * 16];
        let patches = Patches::from_parts(v.patches().bands().to_vec(), 16, nan, v.patches().info().to_vec()).unwrap();
        Dataset::new(patches, v.masks().to_vec()).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let first = tiny(10).checkpoint(dir.path()).fit_on(&train, &val).unwrap();
    assert_eq!(column(&first, "epoch"), [1.0, 2.0, 3.0, 4.0], "stopped early, after epoch 4 of 10");
    // The rate each epoch ran at: cut ×0.1 after every epoch from the second on.
    let cut = |k: usize| (0..k).fold(1e-2, |lr, _| lr * 0.1);
    let lr = column(&first, "lr");
    assert_eq!(lr, [cut(0), cut(0), cut(1), cut(2)]);
    let state_path = dir.path().join("state.json");
    let state = json(&state_path);
    assert_eq!((state["epochs_done"].as_u64(), state["stopped"].as_bool()), (Some(4), Some(true)), "{state}");
    assert_eq!(state["schedule"]["best"], serde_json::json!(["NaN", 0]), "a NaN loss is written as \"NaN\"");
    assert_eq!(state["schedule"]["lr"].as_f64(), Some(cut(3)), "{state}");
    let state_text = std::fs::read_to_string(&state_path).unwrap();

    // What `xcluster train` does at the end: save the best model into the checkpoint folder. It writes
    // no training state.
    first.save(dir.path()).unwrap();
    assert_eq!(std::fs::read_to_string(&state_path).unwrap(), state_text, "save leaves state.json");
    let saved = json(&dir.path().join("model.json"));
    assert!(saved.get("schedule").is_none() && saved.get("epochs_done").is_none(), "model.json: config only");

    // Resume: nothing more to train, the same history and best weights, the state untouched.
    let resumed = Model::resume(dir.path(), &train, &val).unwrap();
    assert_eq!(column(&resumed, "epoch"), column(&first, "epoch"), "no extra epoch");
    assert_eq!(column(&resumed, "lr"), lr);
    assert_eq!(column(&resumed, "loss"), column(&first, "loss"));
    assert_eq!(std::fs::read_to_string(&state_path).unwrap(), state_text);
    assert_eq!(
        resumed.predict(train.patches(), 16).unwrap().probs(),
        first.predict(train.patches(), 16).unwrap().probs(),
        "the best (first) epoch's weights"
    );
    // Raising `epochs` does not undo early stopping; raising `patience` in model.json does, from the
    // saved learning rate and waits: two more epochs without improvement reach the new patience of 5.
    let path = dir.path().join("model.json");
    let edited = std::fs::read_to_string(&path).unwrap().replace("\"epochs\": 10", "\"epochs\": 20");
    std::fs::write(&path, &edited).unwrap();
    assert_eq!(column(&Model::resume(dir.path(), &train, &val).unwrap(), "epoch").len(), 4);
    std::fs::write(&path, edited.replace("\"patience\": 3", "\"patience\": 5")).unwrap();
    let more = Model::resume(dir.path(), &train, &val).unwrap();
    assert_eq!(column(&more, "epoch"), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(column(&more, "lr")[4..], [cut(3), cut(4)]);
}

#[test]
fn resuming_an_interrupted_run_continues_from_the_saved_epoch_and_learning_rate() {
    let _serial = crate::common::device_rng();
    let (data, val) = (disks(64, 16, 5), disks(16, 16, 6));
    let interrupted = InterruptedAt { data: disks(64, 16, 5), fail_at: 2, failed: false.into() };
    let dir = tempfile::tempdir().unwrap();
    let err = tiny(4).checkpoint(dir.path()).fit_on(&interrupted, &val).unwrap_err().to_string();
    assert!(err.contains("interrupted"), "{err}");
    let state_path = dir.path().join("state.json");
    let mut state = json(&state_path);
    assert_eq!((state["epochs_done"].as_u64(), state["stopped"].as_bool()), (Some(2), Some(false)), "{state}");
    let history = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3, "header and two epochs");

    // Mark the saved state so that its use shows: another learning rate, and an early-stopping wait one
    // short of the patience behind a best loss no epoch can beat (the dice loss is ≥ 0).
    let other = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), other.path().join(f.file_name())).unwrap();
    }
    state["schedule"]["lr"] = serde_json::json!(7e-3);
    std::fs::write(&state_path, state.to_string()).unwrap();
    state["schedule"]["wait"] = serde_json::json!(2);
    state["schedule"]["best"] = serde_json::json!([-1.0, 1]);
    std::fs::write(other.path().join("state.json"), state.to_string()).unwrap();

    // Continues with epoch 3 at the saved rate, up to the 4 epochs of model.json.
    let resumed = Model::resume(dir.path(), &data, &val).unwrap();
    assert_eq!(column(&resumed, "epoch"), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(column(&resumed, "lr")[2], 7e-3, "epoch 3 ran at the saved learning rate");
    let csv = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
    assert!(csv.starts_with(&history), "the first two epochs' rows are kept:\n{history}\n{csv}");
    let state = json(&state_path);
    assert_eq!((state["epochs_done"].as_u64(), state["stopped"].as_bool()), (Some(4), Some(false)), "{state}");

    // With the saved wait of 2 (patience 3), one more epoch without improvement stops the run.
    let stopped = Model::resume(other.path(), &data, &val).unwrap();
    assert_eq!(column(&stopped, "epoch"), [1.0, 2.0, 3.0]);
    let state = json(&other.path().join("state.json"));
    assert_eq!((state["epochs_done"].as_u64(), state["stopped"].as_bool()), (Some(3), Some(true)), "{state}");
}
