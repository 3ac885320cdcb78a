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

#[test]
fn run_does_the_built_stages_writes_outputs_and_lists_the_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), "dataset = \"MCXC\"\n").unwrap();
    let o = xcluster(dir.path(), &["--params", "p.toml", "run"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("Not built yet") && out.contains("synthetic sky") && out.contains("model training"), "{out}");
    let day = std::fs::read_dir(dir.path().join("output/MCXC")).unwrap().next().unwrap().unwrap().path();
    let clusters = std::fs::read_to_string(day.join("files/dataset_clusters.csv")).unwrap();
    assert_eq!(clusters.lines().count(), 1 + 1094 + 559 + 1193);
    assert!(clusters.lines().next().unwrap().starts_with("name,catalog,ra,dec,glon,glat,z,m500"));
    assert!(day.join("files/catalogs.csv").is_file() && day.join("models").is_dir());
}

#[test]
fn unbuilt_stages_and_bad_params_exit_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["dataset", "train", "predict", "fetch"] {
        let o = xcluster(dir.path(), &[cmd]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(text(&o).contains("not built yet"), "{cmd}: {}", text(&o));
    }
    std::fs::write(dir.path().join("bad.toml"), "bands = [\"70GHz\"]\n").unwrap();
    let o = xcluster(dir.path(), &["--params", "bad.toml", "catalogs"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("70GHz"), "{}", text(&o));
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
