//! The synthetic sky: PHYSICS.md check values, noise depths, tSZ spectral ratios, the CMB spectrum,
//! truth tables and reproducibility.

use xcluster::sky::sht::anafast;
use xcluster::sky::synthetic::{band_model, ClusterSz, Synthetic};
use xcluster::sky::{Band, Grid, Ordering, Sky};

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
    let sky = Sky::synthetic(only_noise(128, 3)).unwrap();
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
    let a = Sky::synthetic(recipe.clone().seed(5)).unwrap();
    let b = Sky::synthetic(recipe.clone().seed(5)).unwrap();
    let c = Sky::synthetic(recipe.seed(6)).unwrap();
    for band in [Band::F143, Band::F857] {
        assert_eq!(a.band(band).unwrap().data, b.band(band).unwrap().data);
        assert_ne!(a.band(band).unwrap().data, c.band(band).unwrap().data);
        assert_eq!(a.band(band).unwrap().ordering, Ordering::Nested);
    }
    assert_eq!(a.band(Band::F143).unwrap().unit, "K_CMB");
    assert_eq!(a.band(Band::F857).unwrap().unit, "MJy/sr");
    let truth = a.truth().unwrap();
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
fn tsz_has_the_tabulated_spectral_ratios_at_cluster_positions() {
    let recipe = only_noise(256, 1).noise(false).tsz(true).beams(false).unknown_clusters(0);
    let sky = Sky::synthetic(recipe).unwrap();
    let truth = sky.truth().unwrap();
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
    let sky = Sky::synthetic(recipe).unwrap();
    let lmax = 2 * nside as usize;
    let cl = anafast(sky.band(Band::F143).unwrap(), lmax).unwrap();
    let dl: Vec<f64> = include_str!("../data/cmb/planck2018_lcdm_tt.csv")
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
