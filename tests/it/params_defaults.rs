//! One source for every default and name: the builders' defaults are the params file's, read here
//! from the file's text independently of `Params`, and every name a type accepts is accepted by the
//! params file (there is one list per type).

use xcluster::crossmatch::{CrossMatch, CLUSTER_RADIUS_ARCMIN, CONTAMINANT_RADIUS_ARCMIN};
use xcluster::detect::Detection;
use xcluster::labels::Disk;
use xcluster::loss::Loss;
use xcluster::model::Architecture;
use xcluster::normalise::{Normaliser, NormaliserSpec};
use xcluster::params::{Params, DEFAULT_PARAMS};
use xcluster::patches::{PatchSampler, SamplerSettings};
use xcluster::tiles::Tiling;
use xcluster::train::{Model, OptimizerKind, TrainConfig, LR_FACTOR};

/// The default params file's keys, read from its text.
fn file() -> toml::Table {
    DEFAULT_PARAMS.parse().unwrap()
}

fn float(t: &toml::Table, key: &str) -> f64 {
    t[key].as_float().unwrap_or_else(|| panic!("{key} is not a float"))
}

fn int(t: &toml::Table, key: &str) -> i64 {
    t[key].as_integer().unwrap_or_else(|| panic!("{key} is not an integer"))
}

fn text<'a>(t: &'a toml::Table, key: &str) -> &'a str {
    t[key].as_str().unwrap_or_else(|| panic!("{key} is not a string"))
}

fn err(toml: &str) -> String {
    Params::from_toml(toml).expect_err(toml).to_string()
}

#[test]
fn model_builders_start_from_the_params_files_training_settings() {
    let f = file();
    let c = Model::unet().config().clone();
    assert_eq!(c, *Model::from_params(&Params::default()).unwrap().config());
    assert_eq!(c, TrainConfig::default());
    assert_eq!(c.net.architecture.name(), text(&f, "model"));
    let filters: Vec<usize> =
        f["filters"].as_array().unwrap().iter().map(|v| v.as_integer().unwrap() as usize).collect();
    assert_eq!(c.net.filters, filters);
    assert_eq!(c.net.bands, f["bands"].as_array().unwrap().len());
    assert_eq!(c.loss, Loss::from_name(text(&f, "loss")).unwrap());
    assert_eq!(c.optimizer.name(), text(&f, "optimizer"));
    assert_eq!(c.lr, float(&f, "lr"));
    assert_eq!(c.epochs as i64, int(&f, "epochs"));
    assert_eq!(c.batch as i64, int(&f, "batch"));
    assert_eq!(c.steps_per_epoch as i64, int(&f, "steps_per_epoch"));
    assert_eq!(c.patience as i64, int(&f, "patience"));
    assert_eq!(c.lr_patience as i64, int(&f, "lr_patience"));
    assert_eq!(c.seed as i64, int(&f, "seed"));
    assert_eq!(c.lr_factor, LR_FACTOR);
    // Today's values, as the README and the builder docs give them.
    assert_eq!((c.optimizer, c.lr, c.epochs, c.steps_per_epoch, c.batch), (OptimizerKind::Adam, 3e-3, 20, 100, 20));
    assert_eq!((c.net.filters.as_slice(), c.loss), ([8, 16, 32, 64].as_slice(), Loss::tversky()));
    // Every architecture's builder is the params file with that `model`.
    for arch in Architecture::ALL {
        let p = Params::from_toml(&format!("model = \"{}\"", arch.name())).unwrap();
        assert_eq!(Model::new(arch).config(), Model::from_params(&p).unwrap().config(), "{arch}");
    }
    // `filters = []` gives each architecture its reference widths.
    let p = Params::from_toml("model = \"vnet\"\nfilters = []").unwrap();
    assert_eq!(TrainConfig::from_params(&p).net.filters, Architecture::Vnet.default_filters());
}

#[test]
fn detection_and_crossmatch_defaults_are_the_params_files() {
    let f = file();
    let d = Detection::default();
    assert_eq!(d, Detection::from_params(&Params::default()));
    assert_eq!(d.threshold, float(&f, "threshold") as f32);
    assert_eq!(d.min_pixels as i64, int(&f, "min_pixels"));
    assert_eq!(d.max_radius_arcmin, float(&f, "max_radius_arcmin"));
    assert_eq!(d.connectivity as i64, int(&f, "connectivity"));
    assert_eq!(d.merge_radius_arcmin, float(&f, "merge_radius_arcmin"));
    // The original's thresholds.
    assert_eq!(
        (d.threshold, d.min_pixels, d.max_radius_arcmin, d.connectivity, d.merge_radius_arcmin),
        (0.9, 4, 15.0, 8, 4.0)
    );
    let m = CrossMatch::default();
    assert_eq!(m, CrossMatch::from_params(&Params::default()));
    assert_eq!(m.cluster_radius_arcmin, float(&f, "cluster_radius_arcmin"));
    assert_eq!(m.contaminant_radius_arcmin, float(&f, "contaminant_radius_arcmin"));
    assert_eq!(
        (m.cluster_radius_arcmin, m.contaminant_radius_arcmin),
        (CLUSTER_RADIUS_ARCMIN, CONTAMINANT_RADIUS_ARCMIN)
    );
    assert_eq!((CLUSTER_RADIUS_ARCMIN, CONTAMINANT_RADIUS_ARCMIN), (7.0, 5.0));

    // The keys reach the stage values, and each range is the stage type's.
    let p = Params::from_toml(
        "threshold = 0.5\nmin_pixels = 2\nmax_radius_arcmin = 10.0\nconnectivity = 4\nmerge_radius_arcmin = 3.0\n\
         cluster_radius_arcmin = 9.0\ncontaminant_radius_arcmin = 2.5\n",
    )
    .unwrap();
    assert_eq!(
        Detection::from_params(&p),
        Detection { threshold: 0.5, min_pixels: 2, max_radius_arcmin: 10.0, connectivity: 4, merge_radius_arcmin: 3.0 }
    );
    assert_eq!(CrossMatch::from_params(&p), CrossMatch { cluster_radius_arcmin: 9.0, contaminant_radius_arcmin: 2.5 });
    assert_eq!(Params::from_toml(&p.to_toml().unwrap()).unwrap(), p, "to_toml round-trips");
    assert_eq!(err("threshold = 1.5"), "threshold: must be in (0, 1], got 1.5");
    assert_eq!(err("min_pixels = 0"), "min_pixels: must be at least 1, got 0");
    assert_eq!(err("connectivity = 6"), "connectivity: must be 4 or 8, got 6");
    assert_eq!(err("merge_radius_arcmin = 0.0"), "merge_radius_arcmin: must be in (0, 600], got 0");
    assert_eq!(err("cluster_radius_arcmin = 700.0"), "cluster_radius_arcmin: must be in (0, 600] arcmin, got 700");
    assert_eq!(
        err("contaminant_radius_arcmin = -1.0"),
        "contaminant_radius_arcmin: must be in (0, 600] arcmin, got -1"
    );
    let e = Detection { threshold: 1.5, ..Detection::default() }.validate().unwrap_err().to_string();
    assert_eq!(e, "threshold: must be in (0, 1], got 1.5", "the same check, in the same words");
}

#[test]
fn sampler_normaliser_and_disk_defaults_are_the_params_files() {
    let f = file();
    let (tiling, cat) = (Tiling::default(), crate::common::catalog_at(&[]));
    let s = PatchSampler::train(&tiling, &cat).settings();
    assert_eq!(s, SamplerSettings::default());
    assert_eq!(s, SamplerSettings::from_params(&Params::default()));
    assert_eq!(s.size as i64, int(&f, "patch_size"));
    assert_eq!(s.pixel_arcmin, float(&f, "pixel_size_arcmin"));
    assert_eq!(s.loops as i64, int(&f, "loops"));
    assert_eq!(s.seed as i64, int(&f, "seed"));
    assert_eq!((s.size, s.pixel_arcmin), (64, 1.7));
    for sampler in [PatchSampler::val(&tiling, &cat), PatchSampler::scan(&tiling, &cat, &[6])] {
        assert_eq!(sampler.settings(), s);
    }
    let p = Params::from_toml("patch_size = 32\npixel_size_arcmin = 3.4\nloops = 2\nseed = 7").unwrap();
    assert_eq!(
        PatchSampler::train(&tiling, &cat).params(&p).settings(),
        SamplerSettings { size: 32, pixel_arcmin: 3.4, loops: 2, seed: 7 }
    );

    assert_eq!(NormaliserSpec::default(), Normaliser::from_params(&Params::default()));
    let mode = f["fit_up_to_mode"].as_bool().unwrap();
    let compress = f["range_compression"].as_bool().unwrap();
    let spec = if mode { Normaliser::fit_up_to_mode() } else { Normaliser::mad() };
    assert_eq!(NormaliserSpec::default(), spec.range_compression(compress));

    assert_eq!(Disk::default(), Disk::arcmin(float(&f, "disk_radius")));
    assert_eq!(Disk::default(), Disk::arcmin(2.5));
}

#[test]
fn every_name_a_type_accepts_the_params_file_accepts_and_writes_back() {
    let names = Architecture::ALL.map(|a| (a.name(), a));
    for (name, arch) in names.into_iter().chain(Architecture::ALIASES) {
        assert_eq!(Architecture::from_name(name).unwrap(), arch, "{name}");
        let p = Params::from_toml(&format!("model = \"{name}\"")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.model, arch, "{name}");
        let written = p.to_toml().unwrap();
        assert!(written.contains(&format!("\nmodel = \"{}\"\n", arch.name())), "{written}");
        assert_eq!(Params::from_toml(&written).unwrap(), p, "{name}: to_toml round-trips");
    }
    assert_eq!(Params::from_toml("model = \"unet_standard\"").unwrap().model, Architecture::Unet2d);
    for loss in Loss::ALL {
        let p = Params::from_toml(&format!("loss = \"{}\"", loss.name())).unwrap();
        assert_eq!(p.loss, loss);
        assert_eq!(Params::from_toml(&p.to_toml().unwrap()).unwrap(), p, "{}", loss.name());
    }
    for kind in OptimizerKind::ALL {
        let p = Params::from_toml(&format!("optimizer = \"{}\"", kind.name())).unwrap();
        assert_eq!(p.optimizer, kind);
        assert_eq!(Params::from_toml(&p.to_toml().unwrap()).unwrap(), p, "{kind}");
    }
    // An unknown name: the key, the value, then the one list (and the other names).
    assert_eq!(
        err("model = \"resnet\""),
        "params model: unknown model \"resnet\"; allowed: unet, unet_2d, vnet, r2u_net, unet_plus, attn_net, \
         resunet_a, u2net, unet_3plus; also attn_unet (= attn_net), unet_standard (= unet_2d)"
    );
    let all: Vec<&str> = Loss::ALL.iter().map(|l| l.name()).collect();
    assert_eq!(err("loss = \"mse\""), format!("params loss: unknown loss \"mse\"; allowed: {}", all.join(", ")));
    assert_eq!(
        err("optimizer = \"adagrad\""),
        "params optimizer: unknown optimizer \"adagrad\"; allowed: adam, sgd, rmsprop"
    );
}

#[test]
fn a_loss_with_other_hyper_parameters_is_a_table_and_round_trips() {
    let p = Params::from_toml("loss = { name = \"tversky_loss\", delta = 0.7 }").unwrap();
    assert_eq!(p.loss, Loss::Tversky { delta: 0.7, smooth: 1e-6 }, "smooth keeps its default");
    assert_eq!(TrainConfig::from_params(&p).loss, p.loss);
    let written = p.to_toml().unwrap();
    assert!(written.contains("delta = 0.7") && written.contains("name = \"tversky_loss\""), "{written}");
    assert_eq!(Params::from_toml(&written).unwrap(), p, "to_toml round-trips");
    // With the defaults, the name alone is written.
    let p = Params::from_toml("loss = { name = \"focal_tversky_loss\", gamma = 0.75 }").unwrap();
    assert_eq!(p.loss, Loss::focal_tversky());
    assert!(p.to_toml().unwrap().contains("\nloss = \"focal_tversky_loss\"\n"));
    // The range is the loss's own check; a misspelt hyper-parameter is an error.
    assert_eq!(
        err("loss = { name = \"tversky_loss\", delta = 1.5 }"),
        "loss: tversky_loss: delta must be in [0, 1], got 1.5"
    );
    assert_eq!(
        err("loss = { name = \"tversky_loss\", delt = 0.7 }"),
        "params loss: tversky_loss has no \"delt\"; its hyper-parameters: delta, smooth"
    );
    assert_eq!(err("loss = { delta = 0.7 }"), "params loss: a loss table needs its name: { name = \"…\", … }");
}
