//! The synthetic sky: PHYSICS.md check values, noise depths, tSZ spectral ratios, the CMB spectrum,
//! truth tables and reproducibility.

use xcluster::sky::sht::anafast;
use xcluster::sky::{Band, Grid, Ordering, Sky};
use xcluster::synthetic::{band_model, ClusterSz, Synthetic};

fn rel(a: f64, b: f64) -> f64 {
    (a / b - 1.0).abs()
}

#[test]
fn cluster_check_values_of_physics_md() {
    let c = ClusterSz::new(5.0, 0.2);
    assert!(rel(xcluster::cosmology::r500_mpc(5.0, 0.2), 1.129) < 0.02);
    assert!(rel(c.theta500_arcmin(), 5.70) < 0.02, "{}", c.theta500_arcmin());
    assert!(rel(c.y_central(), 1.06e-4) < 0.02, "{}", c.y_central());
    assert!(rel(c.y5r500_arcmin2(), 2.2e-3) < 0.02, "{}", c.y5r500_arcmin2());
    let peak = c.y_beamed(0.0, 7.22);
    assert!(rel(peak, 1.7e-5) < 0.02, "{peak}");
    // −48 µK at 143 GHz.
    assert!(rel(peak * band_model(Band::F143).tsz_per_y * 1e6, -48.0) < 0.02);
    let big = ClusterSz::new(10.0, 0.5);
    assert!(rel(big.theta500_arcmin(), 3.47) < 0.02, "{}", big.theta500_arcmin());
    assert!(rel(big.y_beamed(0.0, 7.22), 2.7e-5) < 0.02, "{}", big.y_beamed(0.0, 7.22));
}

fn rms(data: &[f32]) -> f64 {
    let n = data.len() as f64;
    let mean = data.iter().map(|&v| v as f64).sum::<f64>() / n;
    (data.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt()
}

fn only_noise(nside: u32, seed: u64) -> Synthetic {
    Synthetic::planck_like().nside(nside).seed(seed).cmb(false).tsz(false).dust(false).cib(false).sources(false)
}

#[test]
fn noise_rms_matches_the_planck_depths() {
    let (sky, _) = Sky::synthetic(only_noise(128, 3)).unwrap();
    let pixel = Grid::new(128, Ordering::Ring).unwrap().resolution_arcmin();
    for band in Band::ALL {
        let m = band_model(band);
        let got = rms(&sky.band(band).unwrap().data);
        assert!(rel(got, m.depth / pixel) < 0.02, "{band}: {got} vs {}", m.depth / pixel);
    }
    // 143 GHz at nside 2048 would be 19 µK per pixel (PHYSICS.md).
    assert!(rel(band_model(Band::F143).depth / 1.718 * 1e6, 19.2) < 0.01);
}

#[test]
fn same_seed_same_sky_other_seed_other_sky() {
    let recipe = Synthetic::planck_like().nside(64).bands(&[Band::F143, Band::F857]).unknown_clusters(200);
    let (a, truth) = Sky::synthetic(recipe.clone().seed(5)).unwrap();
    let (b, _) = Sky::synthetic(recipe.clone().seed(5)).unwrap();
    let (c, _) = Sky::synthetic(recipe.seed(6)).unwrap();
    for band in [Band::F143, Band::F857] {
        assert_eq!(a.band(band).unwrap().data, b.band(band).unwrap().data);
        assert_ne!(a.band(band).unwrap().data, c.band(band).unwrap().data);
        assert_eq!(a.band(band).unwrap().ordering, Ordering::Nested);
    }
    assert_eq!(a.band(Band::F143).unwrap().unit, "K_CMB");
    assert_eq!(a.band(Band::F857).unwrap().unit, "MJy/sr");
    assert_eq!(truth.clusters.height(), 1094 + 559 + 1193 + 15299 + 200);
    let unknown =
        truth.clusters.column("catalog").unwrap().str().unwrap().iter().filter(|c| *c == Some("unknown")).count();
    assert_eq!(unknown, 200);
    let kinds: std::collections::HashSet<_> =
        truth.sources.column("kind").unwrap().str().unwrap().iter().flatten().map(str::to_string).collect();
    assert_eq!(kinds.len(), 3);
    // About 5300 radio sources above 0.1 Jy, 8250 IR, 3000 clumps.
    assert!((15_000..18_000).contains(&truth.sources.height()), "{}", truth.sources.height());
}

#[test]
fn a_band_reads_the_same_whichever_bands_are_made_beside_it() {
    let all = Synthetic::planck_like().nside(64).seed(4);
    let (seven, truth7) = Sky::synthetic(all.clone()).unwrap();
    let (two, truth2) = Sky::synthetic(all.bands(&[Band::F353, Band::YMap])).unwrap();
    for band in [Band::F353, Band::YMap] {
        assert_eq!(two.band(band).unwrap().data, seven.band(band).unwrap().data, "{band}");
    }
    assert!(truth2.clusters.equals_missing(&truth7.clusters) && truth2.sources.equals_missing(&truth7.sources));
}

#[test]
fn tsz_has_the_tabulated_spectral_ratios_at_cluster_positions() {
    let recipe = only_noise(256, 1).noise(false).tsz(true).beams(false).unknown_clusters(0);
    let (sky, truth) = Sky::synthetic(recipe).unwrap();
    let grid = Grid::new(256, Ordering::Nested).unwrap();
    let glon = truth.clusters.column("glon").unwrap().f64().unwrap().clone();
    let glat = truth.clusters.column("glat").unwrap().f64().unwrap().clone();
    let mut checked = 0;
    for k in (0..1094).step_by(50) {
        let p = grid.ang2pix(glon.get(k).unwrap(), glat.get(k).unwrap()) as usize;
        let y = sky.band(Band::YMap).unwrap().data[p] as f64;
        assert!(y > 0.0);
        for band in [Band::F100, Band::F143, Band::F217, Band::F353, Band::F545, Band::F857] {
            let v = sky.band(band).unwrap().data[p] as f64;
            assert!(
                rel(v / y, band_model(band).tsz_per_y) < 1e-4,
                "{band}: {} vs {}",
                v / y,
                band_model(band).tsz_per_y
            );
        }
        assert!(sky.band(Band::F100).unwrap().data[p] < 0.0 && sky.band(Band::F353).unwrap().data[p] > 0.0);
        checked += 1;
    }
    assert!(checked > 20);
}

#[test]
#[allow(clippy::needless_range_loop)] // ℓ indexes two spectra and weighs by 2ℓ+1
fn cmb_spectrum_matches_the_input_within_cosmic_variance() {
    let nside = 128;
    let recipe = only_noise(nside, 2).noise(false).cmb(true).beams(false).bands(&[Band::F143]);
    let (sky, _) = Sky::synthetic(recipe).unwrap();
    let lmax = 2 * nside as usize;
    let cl = anafast(sky.band(Band::F143).unwrap(), lmax).unwrap();
    let dl: Vec<f64> = include_str!("../../data/cmb/planck2018_lcdm_tt.csv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("ell"))
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let input = |l: usize| dl[l] * 2.0 * std::f64::consts::PI / (l * (l + 1)) as f64 * 1e-12;
    for start in (2..lmax - 10).step_by(10) {
        let (mut num, mut den, mut modes) = (0.0, 0.0, 0.0);
        for l in start..start + 10 {
            num += cl[l] * (2 * l + 1) as f64;
            den += input(l) * (2 * l + 1) as f64;
            modes += (2 * l + 1) as f64;
        }
        let ratio = num / den;
        assert!((ratio - 1.0).abs() < 4.0 * (2.0 / modes).sqrt() + 0.03, "ℓ {start}…: ratio {ratio}");
    }
    // Pixel rms ≈ 100 µK (PHYSICS.md), smoothed here only by the ℓ ≤ 256 band limit.
    let r = rms(&sky.band(Band::F143).unwrap().data) * 1e6;
    assert!((60.0..140.0).contains(&r), "{r} µK");
}

/// The richness λ of every row of the shipped redMaPPer λ > 30 table, read straight from its CSV.
fn shipped_rm30_lambdas() -> Vec<f64> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/catalogs/RM30_no_planck.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "LAMBDA").expect("LAMBDA column");
    lines.map(|l| l.split(',').nth(col).unwrap().parse().unwrap()).collect()
}

#[test]
fn redmapper_truth_masses_follow_the_richness_relation() {
    let (_, truth) = Sky::synthetic(only_noise(64, 1).bands(&[Band::F143])).unwrap();
    let truth = &truth.clusters;
    let rows = |catalog: &str| -> Vec<usize> {
        let cats = truth.column("catalog").unwrap().str().unwrap();
        cats.iter().enumerate().filter(|(_, c)| *c == Some(catalog)).map(|(i, _)| i).collect()
    };
    let m500 = truth.column("m500").unwrap().f64().unwrap();
    let mass_drawn = truth.column("mass_drawn").unwrap().bool().unwrap();
    let lambdas = shipped_rm30_lambdas();
    let rm30 = rows("RM30");
    assert_eq!(rm30.len(), lambdas.len());
    for (&row, &lambda) in rm30.iter().zip(&lambdas) {
        // M500 ≈ 1.3·10¹⁴ (λ/30)^1.08 M☉, the relation the simulator documents.
        let want = 1.3 * (lambda / 30.0).powf(1.08);
        let got = m500.get(row).unwrap();
        assert!(rel(got, want) < 1e-9, "row {row}: λ = {lambda}, M500 {got} vs {want}");
        assert_eq!(mass_drawn.get(row), Some(false), "row {row}");
    }
    // λ > 30 means M500 > 1.3·10¹⁴ M☉, and most redMaPPer clusters are far below PSZ2 masses.
    let mut masses: Vec<f64> = rm30.iter().map(|&r| m500.get(r).unwrap()).collect();
    masses.sort_by(f64::total_cmp);
    assert!(masses[0] >= 1.3 * 0.999, "{}", masses[0]);
    assert!(masses[masses.len() / 2] < 2.5, "median RM30 M500 {}", masses[masses.len() / 2]);
    // PSZ2 with z keeps its catalog masses; MCXC has masses for all; none of them is drawn.
    let cats = xcluster::catalog::Catalogs::builtin().unwrap();
    let psz_m500 = cats.planck_z().unwrap().df().column("m500").unwrap().f64().unwrap().clone();
    for (k, &row) in rows("PSZ2").iter().enumerate() {
        assert_eq!(m500.get(row), psz_m500.get(k));
        assert_eq!(mass_drawn.get(row), Some(false));
    }
    // PSZ2 without z has no masses: each is drawn.
    assert!(rows("PSZ2 no-z").iter().all(|&r| mass_drawn.get(r) == Some(true)));
}

#[test]
fn richness_of_a_catalog_without_it_is_an_error() {
    let cats = xcluster::catalog::Catalogs::builtin().unwrap();
    let rm30 = cats.rm30().unwrap().richness().unwrap();
    assert_eq!(rm30.len(), 15299);
    assert!(rm30.iter().all(|l| l.is_some_and(|l| l > 30.0)));
    let err = cats.planck_z().unwrap().richness().unwrap_err().to_string();
    assert!(err.contains("planck_z") && err.contains("lambda"), "{err}");
}
