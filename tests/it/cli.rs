//! The `xcluster` binary end to end, in a temporary folder.

use std::process::Command;

fn xcluster(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xcluster")).args(args).current_dir(dir).output().expect("run xcluster")
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn init_writes_a_params_file_that_loads_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let o = xcluster(dir.path(), &["init", "my.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    let written = std::fs::read_to_string(dir.path().join("my.toml")).unwrap();
    assert_eq!(written, xcluster::params::DEFAULT_PARAMS);
    let o = xcluster(dir.path(), &["init", "my.toml"]);
    assert!(!o.status.success() && text(&o).contains("--force"), "{}", text(&o));
    assert!(xcluster(dir.path(), &["init", "my.toml", "--force"]).status.success());
}

/// The files `run` says it wrote under files/ (its `wrote <files>/{a,b,…}` line), each checked to exist.
fn listed_files(out: &str, files: &std::path::Path) -> Vec<String> {
    let line =
        out.lines().find(|l| l.starts_with("wrote ") && l.contains("files/{")).unwrap_or_else(|| panic!("{out}"));
    let names = line.split_once("/{").unwrap().1.trim_end_matches('}');
    let names: Vec<String> = names.split(',').map(str::to_string).collect();
    for n in &names {
        assert!(files.join(n).is_file(), "{n} listed but not written");
    }
    names
}

#[test]
fn run_goes_end_to_end_on_a_tiny_sky() {
    let dir = tempfile::tempdir().unwrap();
    let params = "dataset = \"MCXC\"\nnside = 64\nloops = 1\nepochs = 1\nbatch = 8\nsteps_per_epoch = 2\n\
                  filters = [4, 8]\npatience = 2\nlr_patience = 1\n";
    std::fs::write(dir.path().join("p.toml"), params).unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "run"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for what in [
        "training history",
        "patches scanned",
        "per catalog",
        "results.txt",
        "purity",
        "the matched filter on the y-map alone",
    ] {
        assert!(out.contains(what), "{what} missing: {out}");
    }
    let day = std::fs::read_dir(dir.path().join("output/MCXC")).unwrap().next().unwrap().unwrap().path();
    let clusters = std::fs::read_to_string(day.join("files/dataset_clusters.csv")).unwrap();
    assert_eq!(clusters.lines().count(), 1 + 1094 + 559 + 1193);
    assert!(clusters.lines().next().unwrap().starts_with("name,catalog,ra,dec,glon,glat,z,m500"));
    for f in [
        "catalogs.csv",
        "sightings.parquet",
        "detections.parquet",
        "detections.csv",
        "summary.csv",
        "results.txt",
        "evaluation.csv",
    ] {
        assert!(day.join("files").join(f).is_file(), "{f} missing");
    }
    let mut written = listed_files(&out, &day.join("files"));
    written.sort();
    let mut expected = [
        "catalogs.csv",
        "dataset_clusters.csv",
        "sightings.parquet",
        "detections.parquet",
        "detections.csv",
        "summary.csv",
        "results.txt",
        "footprint.moc.fits",
        "evaluation.csv",
        "completeness_catalog.csv",
        "completeness_m500.csv",
        "completeness_y5r500_arcmin2.csv",
        "completeness_z.csv",
        "evaluation_detections.csv",
        "evaluation_clusters.csv",
        "comparison.csv",
        "comparison_found_by.csv",
        "comparison_clusters.csv",
        "comparison_curves.csv",
        "comparison_candidates.csv",
        // The tiny network reaches purity 0.9 on no threshold: the table says so, and there are no bins.
        "comparison_equal_purity.csv",
        // The network reads the y-map and the filter does not: the head to head again, the filter on it.
        "comparison_ymap.csv",
        "comparison_ymap_equal_purity.csv",
        "mmf_evaluation.csv",
        "mmf_sightings.parquet",
        "mmf_detections.parquet",
        "mmf_detections.csv",
    ];
    expected.sort();
    assert_eq!(written, expected);
    // results.txt has one line per built-in catalog, then the detection counts.
    let results = std::fs::read_to_string(day.join("files/results.txt")).unwrap();
    assert_eq!(results.lines().count(), 6, "{results}");
    assert!(results.lines().last().unwrap().starts_with("detections: "), "{results}");
    assert!(day.join("models/unet/weights.bpk").is_file());
    // The scanned footprint as a MOC: the test tiles' patches, some tens of deg² at nside 64.
    let moc = xcluster::region::Moc::read_fits(day.join("files/footprint.moc.fits")).unwrap();
    assert_eq!(moc.depth(), xcluster::region::FOOTPRINT_DEPTH);
    assert!(moc.area_deg2() > 1.0 && moc.area_deg2() < 41_253.0 / 2.0, "{}", moc.area_deg2());
    // The default params ask for every figure: the dataset's, the training curves, the prediction
    // panel, the detections map, completeness, and one panel per kept patch.
    let figures = day.join("figures");
    for f in ["tiles.png", "sky_100GHz.png", "sky_353GHz.png", "dataset_val.png", "training.png", "detections.png"] {
        let len = std::fs::metadata(figures.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 10_000, "figure {f}: {len} bytes");
    }
    assert!(out.contains("U-Net vs matched filter vs combined") && out.contains("by who found them"), "{out}");
    for f in ["completeness_m500.png", "completeness_y5r500_arcmin2.png", "purity_completeness.png"] {
        assert!(figures.join(f).is_file(), "{f} missing");
    }
    let panels = std::fs::read_dir(figures.join("patches")).unwrap().count();
    assert!(figures.join("prediction.png").is_file() && panels == xcluster::pipeline::EXAMPLES, "{panels} panels");
    assert!(out.contains("figures ("), "{out}");

    // Purity and completeness equal a recomputation from the written files and the sky's truth
    // (written again by `synth` from the same params), by brute force over all pairs.
    let o = xcluster(dir.path(), &["--params", "p.toml", "synth", "--out", "truth"]);
    assert!(o.status.success(), "{}", text(&o));
    let positions = |path: &std::path::Path| -> Vec<(f64, f64)> {
        let t = std::fs::read_to_string(path).unwrap();
        let header: Vec<&str> = t.lines().next().unwrap().split(',').collect();
        let (l, b) =
            (header.iter().position(|h| *h == "glon").unwrap(), header.iter().position(|h| *h == "glat").unwrap());
        t.lines()
            .skip(1)
            .map(|r| r.split(',').collect::<Vec<_>>())
            .map(|r| (r[l].parse().unwrap(), r[b].parse().unwrap()))
            .collect()
    };
    let near = |a: (f64, f64), b: &[(f64, f64)]| {
        b.iter().any(|&p| xcluster::prelude::angular_separation_deg(a.0, a.1, p.0, p.1) * 60.0 <= 7.0)
    };
    let detections = positions(&day.join("files/detections.csv"));
    let truth = positions(&dir.path().join("truth/truth_clusters.csv"));
    let in_footprint = positions(&day.join("files/evaluation_clusters.csv"));
    let eval = std::fs::read_to_string(day.join("files/evaluation.csv")).unwrap();
    let (names, values) = (
        eval.lines().next().unwrap().split(',').collect::<Vec<_>>(),
        eval.lines().nth(1).unwrap().split(',').collect::<Vec<_>>(),
    );
    let value = |k: &str| -> f64 { values[names.iter().position(|n| *n == k).unwrap()].parse().unwrap_or(f64::NAN) };
    let true_detections = detections.iter().filter(|&&d| near(d, &truth)).count();
    assert_eq!(value("n_detections") as usize, detections.len());
    assert_eq!(value("n_true") as usize, true_detections);
    if !detections.is_empty() {
        assert!((value("purity") - true_detections as f64 / detections.len() as f64).abs() < 1e-12);
    }
    let found = in_footprint.iter().filter(|&&c| near(c, &detections)).count();
    assert_eq!((value("n_injected") as usize, value("n_found") as usize), (in_footprint.len(), found));
}

#[test]
fn bad_params_exit_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.toml"), "nside = 32\n").unwrap();
    let o = xcluster(dir.path(), &["--params", "tiny.toml", "dataset"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("nside"), "{}", text(&o));
    std::fs::write(dir.path().join("planck.toml"), "sky = \"planck\"\nplanck_path = \"nowhere\"\n").unwrap();
    let o = xcluster(dir.path(), &["--params", "planck.toml", "dataset"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("nowhere/HFI_SkyMap_100-field-IQU_2048_R3.00_full.fits"), "{}", text(&o));
    let o = xcluster(dir.path(), &["dataset", "--shard", "4/4"]);
    assert_eq!(o.status.code(), Some(2), "clap rejects a bad shard");
    assert!(text(&o).contains("0 ≤ i < N"), "{}", text(&o));
    std::fs::write(dir.path().join("bad.toml"), "bands = [\"70GHz\"]\n").unwrap();
    let o = xcluster(dir.path(), &["--params", "bad.toml", "catalogs"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("70GHz"), "{}", text(&o));
}

#[test]
fn bench_patches_quick_reports_rates_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let o = xcluster(dir.path(), &["bench", "patches", "--quick"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for name in [
        "build 7 bands nside 256",
        "training patches 64×64×7",
        "scan of the test tile",
        "normaliser MAD",
        "mad_std over",
    ] {
        assert!(out.contains(name), "{name} missing: {out}");
    }
    assert!(out.contains("peak_rss_mb"), "{out}");
}

#[test]
fn bench_quick_reports_every_benchmark() {
    let dir = tempfile::tempdir().unwrap();
    let o = xcluster(dir.path(), &["bench", "--quick"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for name in [
        "ang2pix NESTED",
        "ang2pix RING",
        "bilinear interpolation",
        "crossmatch",
        "patches 64×64×4 bands",
        "FITS read nside 256 f64",
    ] {
        assert!(out.contains(name), "{name} missing: {out}");
    }
    // The real-data read: 7 nside-256 bands written in the Planck layouts and read back (21 MB of maps).
    let o = xcluster(dir.path(), &["bench", "real", "--quick"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("read the Planck-format sky") && out.contains("┆ 21.0 "), "{out}");
}

#[test]
fn catalogs_prints_every_dataset_per_split_and_writes_the_selected_one() {
    let dir = tempfile::tempdir().unwrap();
    let o = xcluster(dir.path(), &["catalogs"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for (name, n) in [("planck_z", 1094), ("planck_no-z", 1653), ("MCXC", 2846), ("RM30", 18145), ("RM50", 7622)] {
        let line = out.lines().find(|l| l.starts_with(&format!("dataset {name} "))).unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains(&format!(" {n} clusters: test ")), "{line}");
    }
    let day = std::fs::read_dir(dir.path().join("output/planck_z")).unwrap().next().unwrap().unwrap().path();
    let csv = std::fs::read_to_string(day.join("files/dataset_clusters.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 1094);
}

/// Four nside-128 NESTED bands in the Planck file layout, each a smooth field plus noise.
fn write_planck_like_maps(dir: &std::path::Path) {
    use xcluster::manifest::Manifest;
    use xcluster::sky::{write_map, Band, HealpixMap, Ordering};
    let manifest = Manifest::builtin().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    for (k, band) in [Band::F100, Band::F143, Band::F217, Band::F353].into_iter().enumerate() {
        let map = HealpixMap::from_fn(128, Ordering::Nested, "K_CMB", |l, b| {
            ((k as f64 + 1.0) * 1e-4 * ((3.0 * l.to_radians()).sin() + (5.0 * b.to_radians()).cos() + (l * b).sin()))
                as f32
        })
        .unwrap();
        write_map(dir.join(&manifest.map(band).unwrap().file), &map, "I_STOKES").unwrap();
    }
}

#[test]
fn dataset_writes_normalised_labelled_splits_and_shards_by_tile() {
    use xcluster::dataset::Dataset;
    use xcluster::tiles::Split;
    let dir = tempfile::tempdir().unwrap();
    write_planck_like_maps(&dir.path().join("maps"));
    std::fs::write(
        dir.path().join("p.toml"),
        "sky = \"planck\"\nplanck_path = \"maps\"\nloops = 1\n\
         bands = [\"100GHz\", \"143GHz\", \"217GHz\", \"353GHz\"]\nmmf_bands = [\"100GHz\", \"143GHz\", \"217GHz\", \"353GHz\"]\n",
    )
    .unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "dataset", "--nodes", "2"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("sky: reading the Planck maps") && out.contains("train: "), "step lines on stderr: {out}");
    let day = std::fs::read_dir(dir.path().join("output/planck_z")).unwrap().next().unwrap().unwrap().path();
    let files = day.join("files");
    let norm = xcluster::normalise::Normaliser::load(files.join("normaliser.json")).unwrap();
    assert_eq!(norm.sigma().len(), 4);
    for (split, stem) in [(Split::Train, "train"), (Split::Val, "val"), (Split::Test, "test")] {
        let d = Dataset::load(&files, stem).unwrap();
        assert!(d.len() > 10, "{stem}: {} patches", d.len());
        assert!(d.patches().is_normalised());
        assert_eq!(d.patches().bands().len(), 4);
        assert!(d.patches().info().iter().all(|p| p.split == split || split == Split::Test), "{stem}");
        assert!(d.masks().contains(&1.0), "{stem} has labelled pixels");
        assert!(out.contains(&format!("{stem}.npz")), "{out}");
    }
    let test = Dataset::load(&files, "test").unwrap();
    assert!(test.patches().info().iter().any(|p| p.tile == 6));
    // Shard 1 of 4: only clusters of tiles t with t mod 4 = 1.
    let o = xcluster(dir.path(), &["--params", "p.toml", "dataset", "--shard", "1/4"]);
    assert!(o.status.success(), "{}", text(&o));
    let shard = Dataset::load(&files, "train.shard-1-of-4").unwrap();
    assert!(!shard.is_empty());
    let cats = xcluster::catalog::Catalogs::builtin().unwrap();
    let pos = cats.planck_z().unwrap().galactic().unwrap();
    for p in shard.patches().info() {
        let (l, b) = pos[p.seed_cluster.unwrap() as usize];
        assert_eq!(xcluster::tiles::Tiling::tile_of(l, b) % 4, 1);
    }
}

#[test]
fn synth_writes_planck_named_maps_that_the_real_data_path_reads() {
    use xcluster::manifest::Manifest;
    use xcluster::sky::{read_map, Band};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), "nside = 64\nbands = [\"143GHz\", \"y-map\"]\n").unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "synth", "--out", "sky"]);
    assert!(o.status.success(), "{}", text(&o));
    let file = Manifest::builtin().unwrap().map(Band::F143).unwrap().file.clone();
    let m = read_map(dir.path().join("sky").join(file), "I_STOKES").unwrap();
    assert_eq!((m.nside, m.unit.as_str()), (64, "K_CMB"));
    let y = read_map(dir.path().join("sky/milca_ymaps.fits"), "FULL").unwrap();
    assert!(y.data.iter().any(|&v| v > 1e-6));
    let clusters = std::fs::read_to_string(dir.path().join("sky/truth_clusters.csv")).unwrap();
    assert!(clusters.lines().next().unwrap().starts_with("name,catalog,ra,dec,glon,glat,z,m500"));
    assert!(dir.path().join("sky/truth_sources.parquet").is_file());
}

#[test]
fn run_goes_end_to_end_through_the_real_data_path_on_maps_written_by_synth() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pla/catalogs");
    let bands = "bands = [\"100GHz\", \"143GHz\", \"353GHz\", \"y-map\"]\n";
    std::fs::write(dir.path().join("synth.toml"), format!("nside = 64\n{bands}")).unwrap();
    let o = xcluster(dir.path(), &["--params", "synth.toml", "synth", "--out", "maps"]);
    assert!(o.status.success(), "{}", text(&o));
    // The real-data path: Planck-named FITS maps, and the PCCS2 / PGCC files (PLA layout) as contaminants.
    let params = format!(
        "sky = \"planck\"\nplanck_path = \"maps\"\nmilca_path = \"maps\"\ncatalog_path = {:?}\n{bands}\
         dataset = \"MCXC\"\nloops = 1\nepochs = 1\nbatch = 8\nsteps_per_epoch = 2\nfilters = [4, 8]\n\
         patience = 2\nlr_patience = 1\nplot_individual_patchs = false\n",
        fixtures.display().to_string()
    );
    std::fs::write(dir.path().join("p.toml"), params).unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "run"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("sky: reading the Planck maps"), "{out}");
    assert!(!out.contains("against the injected clusters"), "no truth on the real-data path: {out}");
    let day = std::fs::read_dir(dir.path().join("output/MCXC")).unwrap().next().unwrap().unwrap().path();
    let files = day.join("files");
    assert!(!files.join("evaluation.csv").exists());
    // Only what was written is listed: no evaluation without a truth.
    assert_eq!(
        listed_files(&out, &files),
        [
            "catalogs.csv",
            "dataset_clusters.csv",
            "sightings.parquet",
            "detections.parquet",
            "detections.csv",
            "summary.csv",
            "results.txt",
            "footprint.moc.fits",
            "mmf_sightings.parquet",
            "mmf_detections.parquet",
            "mmf_detections.csv"
        ]
    );
    let detections = std::fs::read_to_string(files.join("detections.csv")).unwrap();
    let header = detections.lines().next().unwrap();
    assert!(header.contains("contaminant_name"), "{header}");
    // The network saw four inputs, the y-map among them, read from milca_ymaps.fits.
    let norm = xcluster::normalise::Normaliser::load(day.join("models/unet/normaliser.json")).unwrap();
    assert_eq!(norm.sigma().len(), 4);
    assert!(norm.sigma().iter().all(|s| s.is_finite() && *s > 0.0), "{:?}", norm.sigma());
    // Without the contaminant catalogs the run stops at once (before training) and says how to get them.
    let params = std::fs::read_to_string(dir.path().join("p.toml")).unwrap();
    let empty = dir.path().join("no-catalogs");
    std::fs::create_dir_all(&empty).unwrap();
    let params = params
        .replace(&format!("catalog_path = {:?}", fixtures.display().to_string()), "catalog_path = \"no-catalogs\"");
    std::fs::write(dir.path().join("q.toml"), params).unwrap();
    let o = xcluster(dir.path(), &["--params", "q.toml", "run"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("xcluster fetch pccs2-100") && !text(&o).contains("epoch"), "{}", text(&o));
}

#[test]
fn train_then_predict_sharded_or_not_and_bench_train() {
    let dir = tempfile::tempdir().unwrap();
    let params = "dataset = \"MCXC\"\nnside = 64\nloops = 1\nepochs = 2\nbatch = 8\nsteps_per_epoch = 2\n\
                  filters = [4, 8]\npatience = 2\nlr_patience = 1\nloss = \"dice_loss\"\noptimizer = \"adam\"\nlr = 1e-3\n";
    std::fs::write(dir.path().join("p.toml"), params).unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "train", "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("val_dice"), "history printed: {}", text(&o));
    let day = std::fs::read_dir(dir.path().join("output/MCXC")).unwrap().next().unwrap().unwrap().path();
    let model = day.join("models/unet");
    for f in [
        "weights.bpk",
        "best.bpk",
        "last.bpk",
        "optimizer.bpk",
        "model.json",
        "history.csv",
        "normaliser.json",
        "params.toml",
    ] {
        assert!(model.join(f).is_file(), "{f} missing");
    }
    let trained = xcluster::train::Trained::load_on(&model, &burn::tensor::Device::flex()).unwrap();
    assert_eq!(trained.device(), &burn::tensor::Device::flex());
    assert_eq!(trained.history().height(), 2);
    assert_eq!(trained.config().net.filters, [4, 8]);
    assert_eq!(trained.normaliser().unwrap().bands(), xcluster::params::Params::default().bands.as_slice());

    let o =
        xcluster(dir.path(), &["bench", "train", "--model", "unet", "--batch", "2", "--bands", "2", "--steps", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ms_per_step") && text(&o).contains("7726721"), "{}", text(&o));
    let o = xcluster(dir.path(), &["bench", "detect", "--quick"]);
    assert!(o.status.success() && text(&o).contains("detect + merge, 500 maps"), "{}", text(&o));
}

/// `--device` of the commands that train or run a network: a name that is no device, or a GPU this
/// build was made without, stops before any work (no output folder) and says what to do.
#[test]
fn a_bad_device_stops_train_predict_run_and_bench_train_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for command in [&["train"][..], &["predict"], &["run"], &["bench", "train"]] {
        let o = xcluster(dir.path(), &[command, &["--device", "tpu"]].concat());
        assert!(!o.status.success(), "{command:?}: {}", text(&o));
        let out = text(&o);
        assert!(
            out.contains("'--device <cpu|cuda|wgpu>'")
                && out.contains("\"tpu\" is not a device: use cpu, cuda or wgpu"),
            "{command:?}: {out}"
        );
        #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
        for gpu in ["cuda", "wgpu"] {
            let o = xcluster(dir.path(), &[command, &["--device", gpu]].concat());
            let out = text(&o);
            let wanted = format!("this build has no {gpu}: build with `--features {gpu}`");
            assert!(!o.status.success() && out.contains(&wanted), "{command:?} {gpu}: {out}");
        }
    }
    assert!(!dir.path().join("output").exists(), "nothing written");
}

/// `bench mmf --quick` with a stand-in for the peer's Python (a shell script that checks it was
/// handed the patches' .npz and prints the peer's JSON line): the table has the peer's seconds,
/// the ratio and the q difference; a peer that fails names the variable that chose it.
#[test]
fn bench_mmf_runs_the_peer_on_the_patches_it_writes_and_reports_a_failing_one() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    // $1: the peer script, $2: the .npz, then --threads N.
    let q: Vec<String> = (0..24).map(|_| "5.0".to_string()).collect();
    let fake = script(
        "fake-python",
        &format!(
            "grep -q mmf_peer \"$1\" && test -s \"$2\" && test \"$3\" = --threads || exit 3\n\
             echo '{{\"framework\": \"stand-in\", \"patches\": 24, \"seconds\": 2.0, \"q_max\": [{}]}}'",
            q.join(", ")
        ),
    );
    let run = |python: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_xcluster"))
            .args(["bench", "mmf", "--quick"])
            .env("XCLUSTER_PEER_PYTHON", python)
            .current_dir(dir.path())
            .output()
            .expect("run xcluster")
    };
    let o = run(&fake);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let row = out.lines().find(|l| l.contains("vs stand-in")).unwrap_or_else(|| panic!("no peer row: {out}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | benchmark | patches | seconds | patches/s | detections | peer_seconds | ratio | max_abs_dq |
    assert_eq!(cells[2], "24", "{row}");
    let (ours, peer, ratio): (f64, f64, f64) =
        (cells[3].parse().unwrap(), cells[6].parse().unwrap(), cells[7].parse().unwrap());
    assert_eq!(peer, 2.0, "{row}");
    assert!((ratio - ours / 2.0).abs() < 1e-3 * ratio.max(1e-3) + 1e-4, "{row}");
    assert!(cells[8].parse::<f64>().unwrap() > 0.0, "our highest q equals the stand-in's 5.0 everywhere: {row}");
    assert!(out.contains("| test tile 6, nside 256 | 119 |"), "{out}");

    let o = run(&script("failing-python", "echo 'no numpy here' >&2; exit 1"));
    assert!(!o.status.success());
    assert!(text(&o).contains("XCLUSTER_PEER_PYTHON") && text(&o).contains("no numpy here"), "{}", text(&o));
}

/// `bench train --rounds 2` with a stand-in for the peer's Python (a shell script that counts its
/// calls and prints Keras' and PyTorch's JSON lines, the same every round): the peer runs once a
/// round; its times are its own; each ratio is the median of the rounds' (with two rounds, the mean
/// of the lowest and the highest), and with the peer's time fixed it is our median time over it.
#[test]
fn bench_train_rounds_run_the_peer_each_round_and_take_medians() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let fake = dir.path().join("fake-python");
    let line = |framework: &str, pass: &str, ms: f64| {
        format!("echo '{{\"framework\": \"{framework}\", \"name\": \"unet\", \"pass\": \"{pass}\", \"ms\": {ms}}}'")
    };
    let body = [
        "grep -q keras_unet_collection \"$1\" && test \"$2\" = train || exit 3".to_string(),
        format!("echo call >> '{}'", calls.display()),
        line("keras", "train step", 1000.0),
        line("keras", "inference", 500.0),
        line("torch", "train step", 2000.0),
    ];
    std::fs::write(&fake, format!("#!/bin/sh\n{}\n", body.join("\n"))).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_xcluster"))
        .args(["bench", "train", "--model", "unet", "--batch", "2", "--bands", "2", "--steps", "1", "--rounds", "2"])
        .env("XCLUSTER_PEER_PYTHON", &fake)
        .current_dir(dir.path())
        .output()
        .expect("run xcluster");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 2, "one peer run per round");
    assert!(out.contains("2 round(s)"), "{out}");
    let header = out.lines().find(|l| l.starts_with("| model |")).unwrap_or_else(|| panic!("no table: {out}"));
    let row = out.lines().find(|l| l.starts_with("| unet |")).unwrap_or_else(|| panic!("no unet row: {out}"));
    let names: Vec<&str> = header.split('|').map(str::trim).collect();
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let cell = |name: &str| -> f64 {
        let at = names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("no column {name}: {header}"));
        cells[at].parse().unwrap_or_else(|e| panic!("{name} = {:?}: {e}", cells[at]))
    };
    assert_eq!((cell("keras_ms_per_step"), cell("torch_ms_per_step")), (1000.0, 2000.0), "{row}");
    assert_eq!(cell("keras_ms_per_inference_batch"), 500.0, "{row}");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-3 * b.abs() + 1e-4;
    let (ratio, low, high) = (cell("step_vs_keras"), cell("step_vs_keras_min"), cell("step_vs_keras_max"));
    assert!(low <= ratio && ratio <= high, "{row}");
    assert!(close(ratio, (low + high) / 2.0), "the median of two rounds is their mean: {row}");
    assert!(close(ratio, cell("ms_per_step") / 1000.0), "{row}");
    assert!(close(cell("step_vs_torch"), cell("ms_per_step") / 2000.0), "{row}");
    assert!(close(cell("inference_vs_keras"), cell("ms_per_inference_batch") / 500.0), "{row}");
}

/// Params for a run of seconds: nside 64, one epoch of two steps of a two-level network, no figures.
const TINY: &str = "dataset = \"MCXC\"\nnside = 64\nloops = 1\nepochs = 1\nbatch = 8\nsteps_per_epoch = 2\n\
                    filters = [4, 8]\npatience = 2\nlr_patience = 1\nplot_dataset = false\n\
                    plot_prediction = false\nplot_individual_patchs = false\n";

/// The one dated output folder of dataset MCXC under `dir`, as the binary names it (relative to `dir`).
fn mcxc_day(dir: &std::path::Path) -> std::path::PathBuf {
    let day = std::fs::read_dir(dir.join("output/MCXC")).unwrap().next().unwrap().unwrap().file_name();
    std::path::Path::new(".").join("output/MCXC").join(day)
}

#[test]
fn train_resume_refuses_an_empty_folder_and_params_that_change_the_network_before_loading_the_sky() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), TINY).unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "train", "--resume"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let models = mcxc_day(dir.path()).join("models/unet");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: model checkpoint {}: nothing to resume: no epoch has completed here (no model.json, \
             state.json, last.bpk, best.bpk, optimizer.bpk, history.csv); run `xcluster train` without --resume \
             to start afresh\n",
            models.display()
        )
    );

    let o = xcluster(dir.path(), &["--params", "p.toml", "train"]);
    assert!(o.status.success(), "{}", text(&o));
    // The same params resume (the one epoch is done: nothing more to train).
    let o = xcluster(dir.path(), &["--params", "p.toml", "train", "--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    let changed =
        TINY.replace("filters = [4, 8]", "filters = [8, 16]\nbands = [\"100GHz\", \"143GHz\"]\npatch_size = 32");
    std::fs::write(dir.path().join("q.toml"), changed).unwrap();
    let o = xcluster(dir.path(), &["--params", "q.toml", "train", "--resume"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: model checkpoint {}: the params change the network it holds: filters: saved [4, 8], params \
             [8, 16]; bands: saved [\"100GHz\", \"143GHz\", \"217GHz\", \"353GHz\", \"y-map\"], params [\"100GHz\", \
             \"143GHz\"]; patch_size: saved 64, params 32; set them back to resume, or train afresh with \
             `xcluster train` (without --resume; it replaces this checkpoint)\n",
            models.display()
        ),
        "refused before the sky is built"
    );
}

#[test]
fn predict_scans_a_tile_listed_twice_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), TINY).unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "train"]);
    assert!(o.status.success(), "{}", text(&o));
    let scanned = |tiles: &str| {
        let o = xcluster(dir.path(), &["--params", "p.toml", "predict", "--tiles", tiles]);
        assert!(o.status.success(), "{}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr).to_string();
        let steps: Vec<String> =
            stderr.lines().filter(|l| l.starts_with("predict: tile")).map(str::to_string).collect();
        let line =
            String::from_utf8_lossy(&o.stdout).lines().find(|l| l.contains("patches scanned")).unwrap().to_string();
        (steps, line)
    };
    let (once, once_line) = scanned("6");
    let (twice, twice_line) = scanned("6,6");
    assert_eq!(once, ["predict: tile 6 (1/1): cutting, normalising, predicting, detecting…"]);
    assert_eq!(twice, once);
    assert_eq!(twice_line, once_line);
    let (two, _) = scanned("7,6,7");
    assert_eq!(two.iter().map(|l| &l[..20]).collect::<Vec<_>>(), ["predict: tile 7 (1/2", "predict: tile 6 (2/2"]);
}

#[test]
fn a_file_where_a_folder_belongs_is_named_with_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), "not a folder").unwrap();
    std::fs::write(dir.path().join("p.toml"), "nside = 64\n").unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "synth", "--out", "f.txt"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "error: f.txt is a file, not a folder: choose another path, or move the file away\n"
    );
    // Inside a file, too.
    let o = xcluster(dir.path(), &["--params", "p.toml", "synth", "--out", "f.txt/sky"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "error: f.txt is a file, not a folder: choose another path, or move the file away\n"
    );
    // fetch stops at the folder, before any download.
    let o = xcluster(dir.path(), &["fetch", "pgcc", "--to", "f.txt"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.lines().any(|l| l == "error: f.txt is a file, not a folder: choose another path, or move the file away"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("f.txt")).unwrap(), "not a folder");
}

#[test]
fn init_into_a_missing_folder_names_the_file_and_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let o = xcluster(dir.path(), &["init", "no/such/dir/x.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "error: cannot write no/such/dir/x.toml: its folder no/such/dir does not exist; create it first\n"
    );
    assert!(!dir.path().join("no").exists());
}

#[test]
fn an_io_error_says_its_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = xcluster(dir.path(), &["--params", "none.toml", "catalogs"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "error: none.toml: No such file or directory (os error 2)\n");
}

/// Run `xcluster ARGS` in `dir` with stdout on `stdout`; stderr captured.
fn xcluster_to(dir: &std::path::Path, args: &[&str], stdout: std::process::Stdio) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xcluster"))
        .args(args)
        .current_dir(dir)
        .stdout(stdout)
        .output()
        .expect("run xcluster")
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    // A pipe whose reader is gone before the command starts: its first line already meets EPIPE,
    // as with `| head -1` once head has its line, but without depending on who is faster.
    for args in [&["fetch", "--list"][..], &["catalogs"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = xcluster_to(dir.path(), args, writer.into());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        if args[0] == "fetch" {
            assert_eq!(stderr, "", "{args:?}");
        }
    }
    // `xcluster fetch --list | head -1`: one line read, then the pipe closed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_xcluster"))
        .args(["fetch", "--list"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(first.starts_with("hfi-100 ") && first.contains("Planck HFI 100 GHz full-mission map"), "{first}");
    assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()), (Some(0), ""));
}

#[test]
fn a_full_stdout_is_an_error_naming_stdout() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["fetch", "--list"][..], &["catalogs"]] {
        let full = std::fs::File::create("/dev/full").unwrap();
        let o = xcluster_to(dir.path(), args, full.into());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error: writing to stdout: No space left on device"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn stale_temporary_files_of_a_killed_write_are_removed_by_the_next_write_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let make = |name: &str| {
        let f = std::fs::File::create(dir.path().join(name)).unwrap();
        f.set_modified(hour_ago).unwrap();
        f
    };
    // Left by a killed run: ours by name, an hour old, nobody holds it.
    make(".xcluster-a1B2c3.part");
    make(".xcluster-ZZZZZZ.part");
    // Ours by name but locked: another process is still writing it.
    let busy = make(".xcluster-busy01.part");
    busy.lock().unwrap();
    // Not ours: other names that merely look alike, and a folder.
    let others =
        [".xcluster-abc12.part", ".xcluster-abc123.part.keep", "xcluster-abc123.part", ".xcluster-abc-12.part"];
    for name in others {
        make(name);
    }
    std::fs::create_dir(dir.path().join(".xcluster-dir123.part")).unwrap();
    let o = xcluster(dir.path(), &["init", "x.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    let mut expected: Vec<&str> = others.to_vec();
    expected.extend([".xcluster-busy01.part", ".xcluster-dir123.part", "x.toml"]);
    expected.sort();
    assert_eq!(left, expected);
    drop(busy);
}

#[test]
fn mmf_searches_tiles_sharded_or_not_and_merges_the_shards() {
    // A y-map sky at nside 128 filtered on 64² patches of 6.87′: the command, its files and the merge.
    let dir = tempfile::tempdir().unwrap();
    let params = "nside = 128\nbands = [\"y-map\"]\nmmf_bands = [\"y-map\"]\nmmf_patch_size = 64\nmmf_pixel_size_arcmin = 6.87\n";
    std::fs::write(dir.path().join("p.toml"), params).unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "mmf", "--tiles", "6,7"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("tiles [6, 7] searched"), "{}", text(&o));
    let day = std::fs::read_dir(dir.path().join("output/planck_z")).unwrap().next().unwrap().unwrap().path();
    let files = day.join("files");
    let whole = std::fs::read_to_string(files.join("mmf_detections.csv")).unwrap();
    assert!(whole.starts_with("id,glon,glat,ra,dec,snr,y5r500_arcmin2,"), "{whole}");
    for shard in ["0/2", "1/2"] {
        let o = xcluster(dir.path(), &["--params", "p.toml", "mmf", "--tiles", "6,7", "--shard", shard]);
        assert!(o.status.success(), "{}", text(&o));
    }
    assert!(files.join("mmf_sightings.shard-0-of-2.parquet").is_file());
    let o = xcluster(dir.path(), &["--params", "p.toml", "mmf", "--merge"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(files.join("mmf_detections.csv")).unwrap(), whole);
    let o = xcluster(dir.path(), &["--params", "p.toml", "mmf", "--merge", "--tiles", "6"]);
    assert!(!o.status.success());
}
