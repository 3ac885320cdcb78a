//! Spherical-harmonic synthesis and analysis against healpy (tests/fixtures/make_sky_fixtures.py).

use crate::common::{get, rows};
use rand::SeedableRng;
use rustfft::num_complex::Complex64;
use xcluster::sky::sht::{alm2map, alm2map_many, anafast, gaussian_beam, map2alm, Alm};

fn fixture_alm() -> Alm {
    let rows = rows("sht_alm.csv");
    let mut data = vec![Complex64::new(0.0, 0.0); 41 * 42 / 2];
    for r in &rows {
        let (l, m): (usize, usize) = (get(r, "l"), get(r, "m"));
        data[m * (2 * 40 + 1 - m) / 2 + l] = Complex64::new(get(r, "re"), get(r, "im"));
    }
    Alm::from_vec(40, data).unwrap()
}

#[test]
fn alm2map_equals_healpy() {
    let map = alm2map(&fixture_alm(), 16).unwrap();
    let expect = rows("sht_map.csv");
    assert_eq!(expect.len(), map.npix());
    let scale = expect.iter().map(|r| get::<f64>(r, "value").abs()).fold(0.0, f64::max);
    for r in &expect {
        let p: usize = get(r, "pixel");
        let e: f64 = get(r, "value");
        assert!((map.data[p] as f64 - e).abs() < 1e-5 * scale, "pixel {p}: {} vs {e}", map.data[p]);
    }
    // Several sets at once give the same maps.
    let other = Alm::from_vec(40, fixture_alm().data().iter().map(|c| c * 2.0).collect()).unwrap();
    let both = alm2map_many(&[&fixture_alm(), &other], 16).unwrap();
    assert_eq!(both[0].data, map.data);
    for (a, b) in both[1].data.iter().zip(&map.data) {
        assert!((a - 2.0 * b).abs() <= 1e-6 * scale as f32);
    }
}

#[test]
fn anafast_equals_healpy_and_map2alm_inverts_alm2map() {
    let map = alm2map(&fixture_alm(), 16).unwrap();
    let cl = anafast(&map, 40).unwrap();
    for r in &rows("sht_cl.csv") {
        let l: usize = get(r, "l");
        let e: f64 = get(r, "cl");
        assert!((cl[l] - e).abs() < 1e-4 * e.abs() + 1e-12, "C_{l}: {} vs {e}", cl[l]);
    }
    // Band-limited to lmax = 2·nside, analysis recovers the input to quadrature accuracy.
    let alm = map2alm(&map, 32).unwrap();
    let input = fixture_alm();
    for l in [2, 5, 10, 20] {
        for m in [0, 1, l] {
            assert!((alm.get(l, m) - input.get(l, m)).norm() < 0.05 * input.get(l, m).norm() + 2e-3, "a_{l}{m}");
        }
    }
}

#[test]
fn gaussian_fields_have_the_input_spectrum_within_cosmic_variance() {
    let nside = 64;
    let lmax = 2 * nside as usize;
    let cl: Vec<f64> = (0..=lmax).map(|l| if l < 2 { 0.0 } else { 1.0 / (l * (l + 1)) as f64 }).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let map = alm2map(&Alm::gaussian(&cl, &mut rng), nside).unwrap();
    let measured = anafast(&map, lmax).unwrap();
    // Bins of 8 multipoles: relative scatter √(2/Σ(2ℓ+1)); allow 4σ (plus 3 % for the quadrature).
    for start in (2..lmax - 8).step_by(8) {
        let (mut num, mut den, mut modes) = (0.0, 0.0, 0.0);
        for l in start..start + 8 {
            num += measured[l] * (2 * l + 1) as f64;
            den += cl[l] * (2 * l + 1) as f64;
            modes += (2 * l + 1) as f64;
        }
        let ratio = num / den;
        assert!((ratio - 1.0).abs() < 4.0 * (2.0 / modes).sqrt() + 0.03, "ℓ {start}…: ratio {ratio}");
    }
    assert!((gaussian_beam(60.0, 0) - 1.0).abs() < 1e-15);
    // FWHM 60′: σ = 0.00741 rad, b_100 = exp(−100·101·σ²/2) = 0.758.
    assert!((gaussian_beam(60.0, 100) - 0.7580).abs() < 1e-3);
}
