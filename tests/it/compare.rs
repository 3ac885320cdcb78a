//! The matched filter as a job (params, sharding) and the head to head with the U-Net (issue 15 §1–§2).

use xcluster::chain::Cover;
use xcluster::compare::HeadToHead;
use xcluster::mmf::Mmf;
use xcluster::params::Params;
use xcluster::pipeline::Job;
use xcluster::polars::prelude::*;
use xcluster::prelude::*;

use crate::common::device_rng;

fn f64s(df: &DataFrame, c: &str) -> Vec<f64> {
    df.column(c)
        .unwrap()
        .cast(&DataType::Float64)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

fn u32_at(df: &DataFrame, c: &str, row: usize) -> u32 {
    df.column(c).unwrap().u32().unwrap().get(row).unwrap()
}

fn bools(df: &DataFrame, c: &str) -> Vec<bool> {
    df.column(c).unwrap().bool().unwrap().iter().map(|v| v == Some(true)).collect()
}

#[test]
fn mmf_params_are_validated_in_one_place_and_name_the_key() {
    let p = Params::default();
    let m = Mmf::from_params(&p);
    // The six HFI bands, as Planck's SZ searches; the sky holds them beside the network's bands.
    assert_eq!(m, Mmf::planck_like());
    assert_eq!(p.sky_bands(), Band::ALL);
    assert_eq!((p.mmf_snr_threshold, p.mmf_patch_size, p.mmf_merge_radius_arcmin), (4.5, 256, 10.0));
    assert_eq!(p.mmf_source_mask_arcmin, 10.0);
    // The y-map alone; never with HFI bands.
    let y = Params::from_toml("bands = [\"y-map\"]\nmmf_bands = [\"y-map\"]").unwrap();
    assert_eq!(Mmf::from_params(&y), Mmf::planck_like().bands(&[Band::YMap]));
    assert_eq!(y.sky_bands(), [Band::YMap]);
    for (toml, key) in [
        ("mmf_snr_threshold = -1.0", "mmf_snr_threshold"),
        ("mmf_patch_size = 8", "mmf_patch_size"),
        ("mmf_merge_radius_arcmin = 0.0", "mmf_merge_radius_arcmin"),
        ("mmf_pixel_size_arcmin = 0.0", "mmf_pixel_size_arcmin"),
        ("mmf_iterations = 9", "mmf_iterations"),
        ("mmf_bands = [\"143GHz\", \"y-map\"]", "mmf_bands"),
        ("mmf_bands = []", "mmf_bands"),
        ("mmf_source_mask_arcmin = 61.0", "mmf_source_mask_arcmin"),
    ] {
        let e = Params::from_toml(toml).unwrap_err().to_string();
        assert!(e.contains(key), "{toml}: {e}");
    }
}

#[test]
fn three_mmf_shards_merged_equal_one_unsharded_run() {
    // A y-map sky at nside 256, filtered on 64² patches of 6.87′, tiles 6 and 7: shard 2 of 3 has no tile.
    let dir = tempfile::tempdir().unwrap();
    let params = Params::from_toml(&format!(
        "path = {:?}\nnside = 256\nbands = [\"y-map\"]\nmmf_bands = [\"y-map\"]\nmmf_patch_size = 64\nmmf_pixel_size_arcmin = 6.87\n",
        dir.path().to_string_lossy()
    ))
    .unwrap();
    let job = Job::new(&params).unwrap();
    let (sky, truth) = job.sky_and_truth().unwrap();
    // The synthetic sky's sources masked, as `run` does.
    let cats = job.with_contaminants(truth.as_ref()).unwrap();
    let cover = Cover::tiles(&[6, 7]);
    let whole = job.mmf(&sky, &cats, cover.clone()).unwrap();
    let one = whole.detections.clone().unwrap();
    let names: Vec<String> = whole.files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(names, ["mmf_sightings.parquet", "mmf_detections.parquet", "mmf_detections.csv"]);
    assert!(one.len() >= 5, "{}", one.df());
    for i in 0..3 {
        let s = job.mmf(&sky, &cats, cover.clone().shard(i, 3)).unwrap();
        assert!(s.detections.is_none());
        assert_eq!(s.tiles, [[6u32].as_slice(), &[7], &[]][i as usize]);
        assert!(s.files[0].ends_with(format!("mmf_sightings.shard-{i}-of-3.parquet")), "{:?}", s.files);
    }
    let (merged, files) = job.merge_mmf_shards().unwrap();
    assert!(files[0].ends_with("mmf_detections.parquet"));
    eprintln!(
        "unsharded: {} objects from {} sightings; merged shards: {}",
        one.len(),
        whole.sightings.height(),
        merged.len()
    );
    assert!(merged.df().equals_missing(one.df()), "merged\n{}\nunsharded\n{}", merged.df(), one.df());
    assert_eq!(merged.sightings().height(), whole.sightings.height());

    // The S/N map of the patch around the brightest object: drawn, with that object circled.
    let (l, b) = (f64s(one.df(), "glon")[0], f64s(one.df(), "glat")[0]);
    let fig = Mmf::from_params(&params).plot_patch(&sky, l, b);
    crate::common::check_figure(&fig, 20);
}

/// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592)
            * t
            * (-x * x).exp();
    y.copysign(x)
}

#[test]
fn head_to_head_on_one_footprint_with_the_mmf_following_its_erf_completeness() {
    let _rng = device_rng();
    // A small synthetic sky (nside 512), a small U-Net trained briefly on the y-map and two bands,
    // scanned on test tile 6; the matched filter on the two HFI bands.
    let bands = [Band::F143, Band::F353, Band::YMap];
    let (sky, truth) = Sky::synthetic(Synthetic::planck_like().nside(512).bands(&bands).seed(1)).unwrap();
    let cats = Catalogs::builtin().unwrap().with_contaminants(truth.contaminants().unwrap());
    let data = sky
        .tiles(Tiling::default())
        .patches(cats.planck_z().unwrap())
        .loops(1)
        .bands(&bands)
        .normalise(Normaliser::mad())
        .unwrap();
    let model = Model::unet().filters(&[4, 8, 16]).epochs(1).steps_per_epoch(30).batch(8).progress(false);
    let trained = model.fit(&data).unwrap();
    let scan = trained.scan(&data).unwrap();
    let matched = scan.detect().unwrap().crossmatch(&cats).unwrap();
    let mmf = Mmf::planck_like().on_bands_of(&sky);
    assert_eq!(mmf, Mmf::planck_like().bands(&[Band::F143, Band::F353]));
    let t = std::time::Instant::now();
    let vs = HeadToHead::new(&mmf).compare(&matched, &truth, Some(scan.predictions())).unwrap();
    eprintln!("comparison in {:.1} s\n{}\n{}", t.elapsed().as_secs_f64(), vs.table(), vs.found_by());
    assert_eq!(vs.tiles(), [6]);

    // One footprint, one truth: the same clusters, in the same order, the same area, for all three.
    let (u, m, c) = (vs.unet(), vs.mmf(), vs.combined_evaluation());
    for e in [m, c] {
        assert!(e.clusters().column("name").unwrap().equals_missing(u.clusters().column("name").unwrap()));
        assert_eq!(f64s(e.summary(), "area_deg2"), f64s(u.summary(), "area_deg2"));
    }
    // The U-Net's own evaluation is the chain's.
    assert!(u.summary().equals_missing(matched.evaluate(&truth).unwrap().summary()));
    let n_injected = u32_at(u.summary(), "n_injected", 0);
    assert!(n_injected > 100, "{n_injected} injected clusters on tile 6");

    // Found-by counts add up and agree with each detector's evaluation.
    let fb = vs.found_by();
    for row in 0..2 {
        let (n, both, uo, mo, none) = (
            u32_at(fb, "n", row),
            u32_at(fb, "both", row),
            u32_at(fb, "unet_only", row),
            u32_at(fb, "mmf_only", row),
            u32_at(fb, "neither", row),
        );
        assert_eq!(both + uo + mo + none, n);
        if row == 0 {
            assert_eq!(n, n_injected);
            assert_eq!(both + uo, u32_at(u.summary(), "n_found", 0));
            assert_eq!(both + mo, u32_at(m.summary(), "n_found", 0));
        }
    }
    let table = vs.table();
    assert_eq!(u32_at(fb, "n", 1), u32_at(table, "n_massive", 0));
    assert_eq!(u32_at(fb, "both", 1) + u32_at(fb, "mmf_only", 1), u32_at(table, "found_massive", 1));

    // The combined detector: the U-Net's positions (all of them carry the MMF photometry), cut at q ≥ 4.5.
    let (cand, comb) = (vs.candidates(), vs.combined());
    assert_eq!(f64s(cand, "glon"), f64s(matched.detections(), "glon"));
    assert_eq!(f64s(cand, "glat"), f64s(matched.detections(), "glat"));
    let snr = f64s(cand, "snr");
    assert!(snr.iter().all(|q| q.is_finite()), "photometry at every U-Net position: {snr:?}");
    assert_eq!(comb.height(), snr.iter().filter(|&&q| q >= 4.5).count());
    let pos: Vec<(f64, f64)> = f64s(cand, "glon").into_iter().zip(f64s(cand, "glat")).collect();
    for (l, b) in f64s(comb, "glon").into_iter().zip(f64s(comb, "glat")) {
        assert!(pos.contains(&(l, b)), "combined detection ({l}, {b}) is not a U-Net position");
    }
    assert_eq!(u32_at(c.summary(), "n_detections", 0) as usize, comb.height());

    // The MMF's detections: on the footprint at q ≥ 4.5; the tiles' ones are those of a plain run.
    let on_fp = vs.mmf_on_footprint().df();
    assert!(f64s(on_fp, "snr").iter().all(|&q| q >= 4.5));
    assert_eq!(u32_at(m.summary(), "n_detections", 0) as usize, on_fp.height());
    let plain = mmf.run(&sky, &[6]).unwrap();
    assert!(plain.df().equals_missing(vs.mmf_detections().df()), "{}\n{}", plain.df(), vs.mmf_detections().df());
    // The curves pass through the operating points.
    let curves = vs.curves();
    let row = |det: &str, t: f64| {
        let d = f64s(curves, "threshold");
        let names = curves.column("detector").unwrap().str().unwrap().clone();
        (0..curves.height()).find(|&k| names.get(k) == Some(det) && (d[k] - t).abs() < 1e-9).unwrap()
    };
    assert_eq!(u32_at(curves, "n_found", row("mmf", 4.5)), u32_at(m.summary(), "n_found", 0));
    assert_eq!(u32_at(curves, "n_detections", row("unet", 0.9)), u32_at(u.summary(), "n_detections", 0));
    assert_eq!(u32_at(curves, "n_detections", row("combined", 4.5)), comb.height() as u32);

    // At equal purity each detector sits at the lowest threshold of its curve whose purity reaches
    // the target (the curves come from their own code path: the U-Net's detects at each threshold).
    let (thresholds, purity) = (f64s(curves, "threshold"), f64s(curves, "purity"));
    let names = curves.column("detector").unwrap().str().unwrap().clone();
    eprintln!("at purity ≥ {}:\n{}", vs.equal_purity(), vs.equal_purity_table().unwrap());
    assert_eq!(vs.at_purity().iter().map(|a| a.detector).collect::<Vec<_>>(), ["unet", "mmf", "combined"]);
    for a in vs.at_purity() {
        let mut rows: Vec<usize> = (0..curves.height()).filter(|&k| names.get(k) == Some(a.detector)).collect();
        rows.sort_by(|&x, &y| thresholds[x].total_cmp(&thresholds[y]));
        let expected = rows.into_iter().find(|&k| purity[k] >= vs.equal_purity());
        match (&a.operating_point, expected) {
            (Some((t, e)), Some(k)) => {
                assert!((thresholds[k] - t).abs() < 1e-9, "{}: {t} vs the curve's {}", a.detector, thresholds[k]);
                assert_eq!(e.n_found(), u32_at(curves, "n_found", k), "{}", a.detector);
                assert_eq!(e.n_detections(), u32_at(curves, "n_detections", k), "{}", a.detector);
                // Binned completeness: each bin's found / n, and no more found than in all.
                let bins = e.completeness_by("m500").unwrap();
                let (n, found, c) = (f64s(bins, "n"), f64s(bins, "found"), f64s(bins, "completeness"));
                assert!(found.iter().sum::<f64>() <= e.n_found() as f64);
                for k in 0..n.len() {
                    assert!(n[k] == 0.0 || (c[k] - found[k] / n[k]).abs() < 1e-12);
                }
            }
            (None, None) => {}
            (got, want) => panic!("{}: {:?} vs the curve's row {want:?}", a.detector, got.as_ref().map(|g| g.0)),
        }
    }

    // MMF completeness against the erf of its own σ at each cluster's true θ500 and position:
    // P(found) = ½[1 + erf((Y − 4.5σ)/(√2σ))].
    let cl = m.clusters();
    let pos: Vec<(f64, f64)> = f64s(cl, "glon").into_iter().zip(f64s(cl, "glat")).collect();
    let grid = xcluster::mmf::scale_grid(26);
    let (lo, hi) = (grid[0], grid[grid.len() - 1]);
    let theta: Vec<f64> = f64s(cl, "theta500_arcmin").into_iter().map(|t| t.clamp(lo, hi)).collect();
    let phot = mmf.photometry_fixed(&sky, &pos, &theta).unwrap();
    let (y, sigma, found) = (f64s(cl, "y5r500_arcmin2"), f64s(&phot, "y5r500_err_arcmin2"), bools(cl, "found"));
    // Measured (nside 512, seed 1, tile 6, 143 + 353 GHz; σ at the true θ500 and position):
    //   Y/σ       [0,2)  [2,3.5)  [3.5,4.5)  [4.5,5.5)  [5.5,7)  [7,10)  [10,∞)
    //   clusters   493     72       23          7          3        6       7
    //   found       12     13       10          5          2        6       7
    //   erf        0.2    2.4      6.7        4.7        2.8      6.0     7.0
    // Above the threshold the erf holds; near and below it the search finds more, as it should: the
    // erf is for one template at a fixed position, the search takes the best of 26 scales and of
    // the sub-pixel positions (its effective threshold is lower), and a faint cluster within 7′ of
    // a brighter one (the catalogues list some clusters twice) counts as found.
    let edges = [0.0, 2.0, 3.5, 4.5, 5.5, 7.0, 10.0, f64::INFINITY];
    let mut bins = Vec::new();
    let (mut total_obs, mut total_exp, mut total_var) = (0.0, 0.0, 0.0);
    for w in edges.windows(2) {
        let (mut n, mut obs, mut exp, mut var) = (0, 0.0, 0.0, 0.0);
        for k in 0..y.len() {
            let x = y[k] / sigma[k];
            if !(w[0]..w[1]).contains(&x) {
                continue;
            }
            let p = 0.5 * (1.0 + erf((x - 4.5) / std::f64::consts::SQRT_2));
            n += 1;
            obs += found[k] as u32 as f64;
            exp += p;
            var += p * (1.0 - p);
        }
        eprintln!(
            "Y/σ in [{}, {}): {n} clusters, found {obs}, erf expectation {exp:.1} ± {:.1}",
            w[0],
            w[1],
            var.sqrt()
        );
        bins.push((w[0], n, obs, exp, var.sqrt()));
        if w[0] >= 2.0 {
            total_obs += obs;
            total_exp += exp;
            total_var += var;
        }
    }
    eprintln!("Y/σ ≥ 2: found {total_obs}, expected {total_exp:.1} ± {:.1}", total_var.sqrt());
    assert!(total_exp >= 5.0, "too few clusters near or above the threshold: {total_exp}");
    let sum = |lo: f64, hi: f64| {
        bins.iter()
            .filter(|b| b.0 >= lo && b.0 < hi)
            .fold((0.0, 0.0, 0.0), |a, b| (a.0 + b.2, a.1 + b.3, a.2 + b.4 * b.4))
    };
    // Well above the threshold (Y/σ ≥ 5.5): the erf within 3σ of its binomial scatter, plus one cluster.
    let (obs, exp, var) = sum(5.5, f64::INFINITY);
    assert!((obs - exp).abs() <= 3.0 * var.sqrt() + 1.0, "Y/σ ≥ 5.5: found {obs}, erf {exp:.1} ± {:.1}", var.sqrt());
    // Around the threshold (3.5 ≤ Y/σ < 5.5): at least the erf, at most twice it (the scale and position search).
    let (obs, exp, var) = sum(3.5, 5.5);
    assert!(
        obs >= exp - 3.0 * var.sqrt() && obs <= 2.0 * exp + 3.0 * var.sqrt(),
        "3.5 ≤ Y/σ < 5.5: found {obs}, erf {exp:.1}"
    );
    // Far below it (Y/σ < 2) almost nothing is found (chance coincidences only).
    let (n_faint, found_faint) = (bins[0].1 as f64, bins[0].2);
    assert!(found_faint <= 0.05 * n_faint, "Y/σ < 2: {found_faint} of {n_faint} found");
}
