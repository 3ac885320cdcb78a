//! The params file: defaults, validation messages, output folders.

use chrono::NaiveDate;
use xcluster::catalog::ClusterSet;
use xcluster::output::OutputDirs;
use xcluster::params::{DiskRadius, DiskRule, Params, DEFAULT_PARAMS};
use xcluster::sky::Band;

fn err(toml: &str) -> String {
    Params::from_toml(toml).expect_err(toml).to_string()
}

#[test]
fn defaults_are_the_originals_but_for_a_short_main_job_and_the_commented_file_parses_to_them() {
    let p = Params::default();
    assert_eq!(p.dataset, ClusterSet::PlanckZ);
    assert_eq!(p.bands, vec![Band::F100, Band::F143, Band::F217, Band::F353, Band::YMap]);
    assert_eq!(p.disk_radius, DiskRadius::Arcmin(2.5));
    // The original's loops 100, epochs 30, SGD at 1e-2 and full widths would take hours on 2 cores;
    // the defaults keep `xcluster run` short (the default file says how to get the original back).
    assert_eq!((p.loops, p.epochs, p.batch, p.patience, p.lr_patience, p.steps_per_epoch), (10, 20, 20, 12, 4, 100));
    assert_eq!((p.lr, p.filters.clone()), (3e-3, vec![8, 16, 32, 64]));
    assert_eq!((p.model.name(), p.loss.name(), p.optimizer.name()), ("unet", "tversky_loss", "adam"));
    assert_eq!((p.val_tiles.clone(), p.test_tiles.clone()), (vec![9, 25, 38, 41], vec![6]));
    assert_eq!((p.patch_size, p.pixel_size_arcmin), (64, 1.7));
    assert_eq!(Params::from_toml(DEFAULT_PARAMS).unwrap(), p);
    assert_eq!(Params::from_toml("").unwrap(), p);
    // Every key of the struct appears (commented) in the default file.
    let keys = p.to_toml().unwrap();
    for line in keys.lines().filter(|l| l.contains(" = ")) {
        let key = line.split(" = ").next().unwrap();
        assert!(DEFAULT_PARAMS.contains(&format!("\n{key} = ")), "{key} missing from the default file");
    }
    assert_eq!(Params::from_toml(&keys).unwrap(), p, "to_toml round-trips");
}

#[test]
fn values_are_parsed() {
    let p = Params::from_toml(
        "dataset = \"RM30\"\nbands = [\"545GHz\", \"y-map\"]\ndisk_radius = \"t500-distribution\"\nval_tiles = [9]\ntest_tiles = [6, 7]\n",
    )
    .unwrap();
    assert_eq!(p.dataset, ClusterSet::Rm30);
    assert_eq!(p.bands, vec![Band::F545, Band::YMap]);
    assert_eq!(p.disk_radius, DiskRadius::Rule(DiskRule::T500Distribution));
    assert_eq!((p.val_tiles, p.test_tiles), (vec![9], vec![6, 7]));
    // A whole number of arcmin is a number too.
    assert_eq!(Params::from_toml("disk_radius = 3").unwrap().disk_radius, DiskRadius::Arcmin(3.0));
    assert_eq!(
        Params::from_toml("disk_radius = \"theta500\"").unwrap().disk_radius,
        DiskRadius::Rule(DiskRule::Theta500)
    );
}

#[test]
fn bad_values_name_the_key_and_what_is_allowed() {
    let e = err("epoch = 3");
    assert!(e.contains("epoch") && e.contains("epochs"), "{e}");
    let e = err("bands = [\"100GHz\", \"70GHz\"]");
    assert!(e.contains("70GHz") && e.contains("857GHz"), "{e}");
    let e = err("model = \"resnet\"");
    assert!(e.contains("model") && e.contains("resnet") && e.contains("unet_3plus"), "{e}");
    let e = err("loss = \"mse\"");
    assert!(e.contains("loss") && e.contains("focal_tversky_loss"), "{e}");
    let e = err("optimizer = \"adagrad\"");
    assert!(e.contains("optimizer") && e.contains("adam, sgd, rmsprop"), "{e}");
    let e = err("dataset = \"ACT\"");
    assert!(e.contains("ACT") && e.contains("planck_z"), "{e}");
    let e = err("catalogs = \"vizier\"");
    assert!(e.contains("catalogs") && e.contains("builtin") && e.contains("fetched"), "{e}");
    let e = err("disk_radius = 20.0");
    assert!(e.contains("disk_radius") && e.contains("20"), "{e}");
    let e = err("lr = -1.0");
    assert!(e.contains("lr"), "{e}");
    let e = err("loops = 0");
    assert!(e.contains("loops"), "{e}");
    let e = err("patch_size = 63");
    assert!(e.contains("patch_size") && e.contains("63"), "{e}");
    let e = err("nside = 1000");
    assert!(e.contains("nside") && e.contains("1000"), "{e}");
    let e = err("val_tiles = [6]");
    assert!(e.contains("test_tiles") && e.contains("tile 6"), "{e}");
    let e = err("bands = [\"100GHz\", \"100GHz\"]");
    assert!(e.contains("bands") && e.contains("twice"), "{e}");
    let e = err("bands = []");
    assert!(e.contains("bands"), "{e}");
    let e = err("epochs = \"many\"");
    assert!(e.contains("epochs") || e.contains("many"), "{e}");
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "model = \"resnet\"\n").unwrap();
    let e = Params::load(&path).unwrap_err().to_string();
    assert!(e.contains("p.toml") && e.contains("resnet"), "{e}");
    let e = Params::load(dir.path().join("none.toml")).unwrap_err().to_string();
    assert!(e.contains("none.toml"), "{e}");
}

#[test]
fn output_folders_follow_the_daily_layout_and_merge_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Params { path: dir.path().to_path_buf(), ..Params::default() };
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let base = dir.path().join("output/planck_z");
    let d = OutputDirs::resolve(&p, day(20)).unwrap();
    assert_eq!(d.root, base.join("2026-11-20"));
    d.create().unwrap();
    assert!(d.files.is_dir() && d.figures.is_dir() && d.models.is_dir());
    // merge: the most recent existing dated folder is reused on a later day.
    assert_eq!(OutputDirs::resolve(&p, day(23)).unwrap().root, base.join("2026-11-20"));
    std::fs::create_dir_all(base.join("2026-11-21")).unwrap();
    std::fs::create_dir_all(base.join("not-a-date")).unwrap();
    assert_eq!(OutputDirs::resolve(&p, day(23)).unwrap().root, base.join("2026-11-21"));
    p.merge_daily_output_directory = false;
    assert_eq!(OutputDirs::resolve(&p, day(23)).unwrap().root, base.join("2026-11-23"));
}

#[test]
fn a_disk_radius_that_is_neither_a_number_nor_a_rule_is_quoted_with_what_is_allowed() {
    assert_eq!(
        err("disk_radius = \"abc\""),
        "params disk_radius: must be a number of arcmin in (0, 15], \"t500-distribution\" or \"theta500\"; got \"abc\""
    );
    assert_eq!(
        err("disk_radius = 20.0"),
        "disk_radius: must be a number of arcmin in (0, 15], \"t500-distribution\" or \"theta500\"; got 20"
    );
}

#[test]
fn the_tile_split_needs_training_and_validation_tiles_and_one_split_per_tile() {
    // Every tile but the test tile for validation: the training would fail late on an empty sky.
    let all_but_6: Vec<String> = (0..48).filter(|&t| t != 6).map(|t| t.to_string()).collect();
    assert_eq!(
        err(&format!("val_tiles = [{}]", all_but_6.join(", "))),
        "val_tiles: with test_tiles it covers all 48 tiles (47 validation, 1 test), leaving none for training; \
         remove at least one"
    );
    assert_eq!(
        err("val_tiles = []"),
        "val_tiles: at least one validation tile is needed: training measures the validation loss after every epoch"
    );
    assert_eq!(err("val_tiles = [9, 6]"), "test_tiles: tile 6 is also in val_tiles; a tile belongs to one split only");
    assert_eq!(err("val_tiles = [9, 9]"), "val_tiles: tile 9 is listed twice");
    assert_eq!(
        err("test_tiles = [6, 48]"),
        "test_tiles: tile 48 does not exist; tiles are RING pixels 0…47 of nside 2"
    );
    assert_eq!(err("test_tiles = []"), "test_tiles: at least one test tile is needed");
}

#[test]
fn the_keys_a_resume_compares_are_params_keys() {
    // check_resume compares these by name in the checkpoint's params.toml: a renamed key would
    // silently never differ.
    let keys = Params::default().to_toml().unwrap().parse::<toml::Table>().unwrap();
    for key in xcluster::train::NETWORK_KEYS {
        assert!(keys.contains_key(key), "{key}");
    }
}

#[test]
fn toml_syntax_errors_give_the_line_and_column() {
    assert_eq!(err("epochs = 3\nlr = = 2\n"), "params line 2, column 6 near \"=\": invalid string\nexpected `\"`, `'`");
    // Through a file, the column counts characters, not bytes (σ is two bytes in UTF-8).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "# σ in arcmin\npath = \"σσ\" x\n").unwrap();
    let e = Params::load(&path).unwrap_err().to_string();
    assert_eq!(e, format!("{}: params line 2, column 13 near \"x\": expected newline, `#`", path.display()));
}
