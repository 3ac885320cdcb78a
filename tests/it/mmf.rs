//! The matched filter (shared/MMF.md §6 unit tests): FFT identities, unbiased Y with the scatter
//! σ_θ predicts (white noise; six beamed bands with CMB; P estimated, with and without iMMF), scale
//! and position recovery, the false-peak rate of pure noise against the Gaussian expectation, an
//! independent numpy implementation (tests/fixtures/make_mmf_fixture.py) and a search of a sky.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xcluster::mmf::{scale_grid, BandResponse, Complex64, Fft2, Geometry, Mmf, NoiseSpectrum};
use xcluster::sky::Band;
use xcluster::synthetic::band_model;

const HFI: [Band; 6] = [Band::F100, Band::F143, Band::F217, Band::F353, Band::F545, Band::F857];
const RAD_TO_ARCMIN: f64 = 180.0 * 60.0 / std::f64::consts::PI;

/// Standard normal draws (Box–Muller).
struct Normal(StdRng);

impl Normal {
    fn new(seed: u64) -> Self {
        Normal(StdRng::seed_from_u64(seed))
    }
    fn draw(&mut self) -> f64 {
        let (u, v): (f64, f64) = (self.0.gen::<f64>().max(1e-300), self.0.gen());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn white(&mut self, n: usize, sigma: f64) -> Vec<f64> {
        (0..n).map(|_| sigma * self.draw()).collect()
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn std(x: &[f64]) -> f64 {
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
}

/// A flat-patch filter with analytic P: no taper, every mode, no iteration.
fn flat(n: usize, responses: &[BandResponse], scales: &[f64]) -> Mmf {
    Mmf::planck_like()
        .without_sky_bands()
        .responses(responses)
        .size(n)
        .scales(scales)
        .taper(0)
        .iterations(0)
        .ell_range(0.0, 1e9)
}

/// The six HFI bands in K_CMB (tSZ factor, beam, white-noise σ per 1.7′ pixel in K).
fn hfi_kcmb() -> (Vec<BandResponse>, Vec<f64>) {
    HFI.iter()
        .map(|&b| {
            let m = band_model(b);
            let per_k = if m.kcmb { 1.0 } else { m.kcmb_to_mjy };
            (BandResponse { tsz_per_y: m.tsz_per_y / per_k, fwhm_arcmin: m.fwhm_arcmin }, m.depth / per_k / 1.7)
        })
        .unzip()
}

/// The shipped Planck 2018 ΛCDM C_ℓ (K² sr), linearly interpolated in ℓ.
fn cmb_cl() -> impl Fn(f64) -> f64 {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/cmb/planck2018_lcdm_tt.csv")).unwrap();
    let dl: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("ell"))
        .map(|l| l.split(',').nth(1).unwrap().trim().parse().unwrap())
        .collect();
    move |ell: f64| {
        let l = ell.clamp(2.0, (dl.len() - 2) as f64);
        let (k, t) = (l.floor() as usize, l - l.floor());
        let d = dl[k] * (1.0 - t) + dl[k + 1] * t;
        d * 2.0 * std::f64::consts::PI / (l * (l + 1.0)) * 1e-12
    }
}

/// P(ℓ) of CMB (common, beamed) plus white noise, in K² arcmin².
fn cmb_plus_noise(responses: &[BandResponse], sigma_pix: &[f64], pixel: f64) -> impl Fn(f64) -> Vec<f64> {
    let cl = cmb_cl();
    let (responses, sigma_pix) = (responses.to_vec(), sigma_pix.to_vec());
    move |ell| {
        let c = cl(ell) * RAD_TO_ARCMIN * RAD_TO_ARCMIN;
        let nb = responses.len();
        let mut p = vec![0.0; nb * nb];
        for a in 0..nb {
            for b in 0..nb {
                p[a * nb + b] = c * responses[a].beam(ell) * responses[b].beam(ell);
            }
            p[a * nb + a] += sigma_pix[a] * sigma_pix[a] * pixel * pixel;
        }
        p
    }
}

/// One sky of the six bands: one CMB realisation (beamed per band) plus white noise, plus `signal`.
fn cmb_sky(
    fft: &Fft2,
    g: Geometry,
    resp: &[BandResponse],
    sigma_pix: &[f64],
    rng: &mut Normal,
    signal: &[Vec<f64>],
) -> Vec<Vec<f32>> {
    let (n, cl) = (g.size, cmb_cl());
    let ell = g.ell_grid();
    let mut white: Vec<Complex64> = rng.white(n * n, 1.0).into_iter().map(|v| Complex64::new(v, 0.0)).collect();
    fft.forward(&mut white);
    let amp: Vec<f64> = ell
        .iter()
        .map(|&l| if l > 0.0 { (cl(l) * RAD_TO_ARCMIN.powi(2)).sqrt() / g.pixel_arcmin } else { 0.0 })
        .collect();
    resp.iter()
        .zip(sigma_pix)
        .zip(signal)
        .map(|((r, &s), sig)| {
            let mut buf: Vec<Complex64> = (0..n * n).map(|k| white[k] * (amp[k] * r.beam(ell[k]))).collect();
            fft.inverse(&mut buf);
            buf.iter().zip(sig).map(|(c, x)| (c.re / (n * n) as f64 + s * rng.draw() + x) as f32).collect()
        })
        .collect()
}

fn slices(maps: &[Vec<f32>]) -> Vec<&[f32]> {
    maps.iter().map(Vec::as_slice).collect()
}

// ---------------------------------------------------------------------------------------------
// T1 — identities

#[test]
fn fft_identities_and_unit_response() {
    let n = 32;
    let fft = Fft2::new(n);
    let mut rng = Normal::new(1);
    let x: Vec<Complex64> = (0..n * n).map(|_| Complex64::new(rng.draw(), rng.draw())).collect();
    let mut y = x.clone();
    fft.forward(&mut y);
    // Parseval for the unnormalised pair: Σ|x|² = Σ|X̃|²/N².
    let (ex, ey): (f64, f64) = (x.iter().map(|c| c.norm_sqr()).sum(), y.iter().map(|c| c.norm_sqr()).sum());
    assert!((ex - ey / (n * n) as f64).abs() < 1e-10 * ex, "Parseval: {ex} vs {}", ey / (n * n) as f64);
    fft.inverse(&mut y);
    let err = x.iter().zip(&y).map(|(a, b)| (a - b / (n * n) as f64).norm()).fold(0.0, f64::max);
    assert!(err < 1e-12, "IFFT(FFT(x))/N² − x = {err}");
    // Sign convention (numpy's): a unit impulse at pixel (0, 1) has X̃(0, 1) = e^{−2πi/N}.
    let mut d = vec![Complex64::new(0.0, 0.0); n * n];
    d[1] = Complex64::new(1.0, 0.0);
    fft.forward(&mut d);
    let want = Complex64::from_polar(1.0, -2.0 * std::f64::consts::PI / n as f64);
    assert!((d[1] - want).norm() < 1e-14, "{} vs {want}", d[1]);
    // F_ν(0) = j_ν: T̂(0) = 1 and B(0) = 1 for every scale and band.
    let (resp, _) = hfi_kcmb();
    let f = flat(64, &resp, &[1.0, 3.0, 9.0]).prepare().unwrap();
    for s in 0..3 {
        assert!((f.templates().profile(s)[0] - 1.0).abs() < 1e-12);
    }
    for (b, r) in resp.iter().enumerate() {
        assert!((f.templates().response(b)[0] - r.tsz_per_y).abs() < 1e-12 * r.tsz_per_y.abs());
    }
}

// ---------------------------------------------------------------------------------------------
// T2 — one band, white noise, no beam

#[test]
fn white_noise_recovers_y_without_bias_and_with_the_predicted_scatter() {
    let (n, pixel, theta) = (128, 1.7, 3.0);
    let resp = [BandResponse { tsz_per_y: 1.0, fwhm_arcmin: 0.0 }];
    let f = flat(n, &resp, &[theta]).prepare().unwrap();
    let g = f.geometry();
    let noise = NoiseSpectrum::from_fn(g, 1, (0.0, 1e9), 0.0, |_| vec![pixel * pixel]).unwrap();
    // A filtered patch owns what it needs: it outlives its filter (a value a notebook cell can keep).
    let kept = {
        let own = flat(n, &resp, &[theta]).prepare().unwrap();
        own.filter_with(&[vec![0f32; n * n].as_slice()], &noise).unwrap()
    };
    assert_eq!(kept.scales(), [theta]);
    // Exact: σ_Y = σ_pix/√(Σ_p τ_p²) with σ_pix = 1 (k = 0, unused by the filter, removed).
    let t = f.templates().profile(0);
    let sum_tau2 = t.iter().skip(1).map(|v| v * v).sum::<f64>() / (pixel.powi(4) * (n * n) as f64);
    let exact = 1.0 / sum_tau2.sqrt();
    let zero = vec![0f32; n * n];
    let sigma = f.filter_with(&[zero.as_slice()], &noise).unwrap().sigma(0);
    assert!((sigma / exact - 1.0).abs() < 1e-9, "σ_θ {sigma} vs exact {exact}");

    let y_true = 10.0 * sigma;
    let cluster = &f.cluster_maps(y_true, theta, (64.0, 64.0))[0];
    let mut rng = Normal::new(2);
    let (mut y_hat, mut q_noise) = (Vec::new(), Vec::new());
    for r in 0..500 {
        let map: Vec<f32> = cluster.iter().map(|c| (c + rng.draw()) as f32).collect();
        let out = f.filter_with(&[map.as_slice()], &noise).unwrap();
        y_hat.push(out.q_map(0)[64 * n + 64] as f64 * out.sigma(0));
        if r < 40 {
            // Pure noise far from the cluster (the template reaches 15′ = 9 pixels).
            let q = out.q_map(0);
            q_noise.extend(
                (0..n * n).filter(|p| (p / n).abs_diff(64) > 20 || (p % n).abs_diff(64) > 20).map(|p| q[p] as f64),
            );
        }
    }
    let (m, s) = (mean(&y_hat), std(&y_hat));
    eprintln!(
        "T2 white noise: ⟨Ŷ⟩/Y = {:.4}, bias/(σ/√500) = {:.2}, std(Ŷ)/σ = {:.4}, std(q noise) = {:.4}",
        m / y_true,
        (m - y_true) / (sigma / 500f64.sqrt()),
        s / sigma,
        std(&q_noise)
    );
    assert!((m - y_true).abs() < 3.0 * sigma / 500f64.sqrt(), "bias {} σ", (m - y_true) / sigma);
    assert!((0.93..=1.07).contains(&(s / sigma)), "std(Ŷ)/σ = {}", s / sigma);
    assert!((std(&q_noise) - 1.0).abs() < 0.03, "std(q) of noise = {}", std(&q_noise));
}

// ---------------------------------------------------------------------------------------------
// T3 — six bands, beams, CMB and white noise, analytic P

#[test]
fn six_bands_with_cmb_recover_y_without_bias_and_with_the_predicted_scatter() {
    let (n, pixel, theta) = (128, 1.7, 5.0);
    let (resp, sigma_pix) = hfi_kcmb();
    let f = flat(n, &resp, &[theta]).prepare().unwrap();
    let g = f.geometry();
    let noise = NoiseSpectrum::from_fn(g, 6, (0.0, 1e9), 0.0, cmb_plus_noise(&resp, &sigma_pix, pixel)).unwrap();
    let zero = vec![vec![0f32; n * n]; 6];
    let sigma = f.filter_with(&slices(&zero), &noise).unwrap().sigma(0);

    // White-noise limit: σ⁻² = Σ_ν j_ν² Σ_p (b_ν∗τ)_p² / σ_ν².
    let white = NoiseSpectrum::from_fn(g, 6, (0.0, 1e9), 0.0, |_| {
        let mut p = vec![0.0; 36];
        (0..6).for_each(|a| p[a * 7] = (sigma_pix[a] * pixel).powi(2));
        p
    })
    .unwrap();
    let sigma_white = f.filter_with(&slices(&zero), &white).unwrap().sigma(0);
    let unit = f.cluster_maps(1.0, theta, (0.0, 0.0));
    // (the filter ignores k = 0, the mean: Σ_p x_p² − (Σ_p x_p)²/N² is Parseval's sum without it)
    let sum_sq = |m: &Vec<f64>| m.iter().map(|v| v * v).sum::<f64>() - m.iter().sum::<f64>().powi(2) / (n * n) as f64;
    let inv_var: f64 = unit.iter().zip(&sigma_pix).map(|(m, s)| sum_sq(m) / (s * s)).sum();
    assert!(
        (sigma_white * inv_var.sqrt() - 1.0).abs() < 1e-9,
        "white limit: σ {sigma_white} vs {}",
        1.0 / inv_var.sqrt()
    );
    // The CMB costs S/N: σ with CMB is larger, but not by orders of magnitude (217–353 GHz see it
    // with opposite tSZ signs, so it is largely projected out).
    assert!(sigma > sigma_white && sigma < 3.0 * sigma_white, "σ {sigma} vs white-noise σ {sigma_white}");

    let y_true = 5.0 * sigma;
    let signal = f.cluster_maps(y_true, theta, (64.0, 64.0));
    let mut rng = Normal::new(3);
    let y_hat: Vec<f64> = (0..500)
        .map(|_| {
            let maps = cmb_sky(f.fft(), g, &resp, &sigma_pix, &mut rng, &signal);
            let out = f.filter_with(&slices(&maps), &noise).unwrap();
            out.q_map(0)[64 * n + 64] as f64 * out.sigma(0)
        })
        .collect();
    let (m, s) = (mean(&y_hat), std(&y_hat));
    eprintln!(
        "T3 six bands + CMB: σ_θ = {sigma:.3e} arcmin² (white only {sigma_white:.3e}), ⟨Ŷ⟩/Y = {:.4}, bias/(σ/√500) = {:.2}, std(Ŷ)/σ = {:.4}",
        m / y_true,
        (m - y_true) / (sigma / 500f64.sqrt()),
        s / sigma
    );
    assert!((m - y_true).abs() < 3.0 * sigma / 500f64.sqrt(), "bias {} σ", (m - y_true) / sigma);
    assert!((0.93..=1.07).contains(&(s / sigma)), "std(Ŷ)/σ = {}", s / sigma);
}

// ---------------------------------------------------------------------------------------------
// T4 — P estimated from the patch, with and without the iteration

#[test]
fn estimated_noise_gives_y_and_q_within_ten_percent() {
    // The production patch (256² of 1.7′: 64² or 128² hold too few modes per annulus for P⁻¹),
    // default binning and taper, a q = 8 cluster at θ500 = 5′ in six bands with CMB. Each
    // realisation is also filtered with the true P (the oracle), so the scatter of Ŷ is compared
    // with the oracle's on the same skies, which removes most of the ±9 % sampling error of a
    // standard deviation from 64 draws (the oracle's own std/σ = 1 is T3's, from 500 draws).
    let (n, c, pixel, theta, reals) = (256, 128usize, 1.7, 5.0, 64);
    let (resp, sigma_pix) = hfi_kcmb();
    let base = Mmf::planck_like().without_sky_bands().responses(&resp).scales(&[theta]);
    let plain = base.clone().iterations(0).prepare().unwrap();
    let immf = base.iterations(1).prepare().unwrap();
    let oracle_filter = flat(n, &resp, &[theta]).prepare().unwrap();
    let g = plain.geometry();
    let oracle = NoiseSpectrum::from_fn(g, 6, (100.0, 2500.0), 0.0, cmb_plus_noise(&resp, &sigma_pix, pixel)).unwrap();
    let zero = vec![vec![0f32; n * n]; 6];
    let sigma_true = oracle_filter.filter_with(&slices(&zero), &oracle).unwrap().sigma(0);
    let q_true = 8.0;
    let y_true = q_true * sigma_true;
    let signal = plain.cluster_maps(y_true, theta, (c as f64, c as f64));
    let mut rng = Normal::new(4);
    let mut rows = [Vec::new(), Vec::new(), Vec::new()]; // (Ŷ, σ_θ, q): plain, iMMF, oracle
    for _ in 0..reals {
        let maps = cmb_sky(plain.fft(), g, &resp, &sigma_pix, &mut rng, &signal);
        for (k, out) in [
            plain.filter(&slices(&maps)),
            immf.filter(&slices(&maps)),
            oracle_filter.filter_with(&slices(&maps), &oracle),
        ]
        .into_iter()
        .enumerate()
        {
            let out = out.unwrap();
            let q = out.q_map(0)[c * n + c] as f64;
            rows[k].push((q * out.sigma(0), out.sigma(0), q));
        }
    }
    let column = |k: usize, f: fn(&(f64, f64, f64)) -> f64| rows[k].iter().map(f).collect::<Vec<f64>>();
    let std_oracle = std(&column(2, |r| r.0));
    eprintln!("T4 oracle P: std(Ŷ)/σ_true = {:.3} ({reals} realisations)", std_oracle / sigma_true);
    for (k, name) in ["plain MMF", "iMMF"].iter().enumerate() {
        let (y, s, q) = (column(k, |r| r.0), column(k, |r| r.1), column(k, |r| r.2));
        let (bias, sig, snr) = (mean(&y) / y_true, mean(&s) / sigma_true, mean(&q) / q_true);
        let (raw, paired) = (std(&y) / mean(&s), std(&y) / std_oracle / sig);
        eprintln!(
            "T4 {name} (P from the patch, q_true = {q_true}): ⟨Ŷ⟩/Y = {bias:.3}, std(Ŷ)/⟨σ_θ⟩ = {raw:.3} \
             (paired with the oracle: {paired:.3}), ⟨σ_θ⟩/σ_true = {sig:.3}, ⟨q⟩/q_true = {snr:.3}"
        );
        // Means within 10 % (MMF.md; their standard errors are ≈ 1.5 %). The paired scatter ratio
        // still varies by ±6 % between seeds at 64 realisations (0.97–1.09 for the iMMF over three
        // seeds): within 15 %.
        for (what, r, tol) in [
            ("⟨Ŷ⟩/Y", bias, 0.10),
            ("⟨σ⟩/σ_true", sig, 0.10),
            ("⟨q⟩/q_true", snr, 0.10),
            ("paired std/σ", paired, 0.15),
        ] {
            assert!((r - 1.0).abs() < tol, "{name}: {what} = {r}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// An independent implementation (numpy, tests/fixtures/make_mmf_fixture.py)

#[test]
fn matches_the_independent_numpy_implementation() {
    use ndarray::{Array1, Array3};
    let file = std::fs::File::open(crate::common::fixture("mmf_patch.npz")).unwrap();
    let mut npz = ndarray_npy::NpzReader::new(file).unwrap();
    let maps: Array3<f64> = npz.by_name("maps.npy").unwrap();
    let j: Array1<f64> = npz.by_name("tsz_per_y.npy").unwrap();
    let fwhm: Array1<f64> = npz.by_name("fwhm_arcmin.npy").unwrap();
    let scales: Array1<f64> = npz.by_name("scales.npy").unwrap();
    let set: Array1<f64> = npz.by_name("settings.npy").unwrap();
    let q_ref: Array3<f64> = npz.by_name("q.npy").unwrap();
    let sigma_ref: Array1<f64> = npz.by_name("sigma.npy").unwrap();
    let t_ref: Array3<f64> = npz.by_name("t_hat.npy").unwrap();
    let n_bins: Array1<f64> = npz.by_name("n_bins.npy").unwrap();
    let n = set[0] as usize;
    let resp: Vec<BandResponse> =
        j.iter().zip(fwhm.iter()).map(|(&j, &f)| BandResponse { tsz_per_y: j, fwhm_arcmin: f }).collect();
    let binning = xcluster::mmf::Binning {
        ell_min: set[2],
        ell_max: set[3],
        width: set[4],
        min_modes: set[5] as usize,
        eigen_floor: set[6],
    };
    let f = Mmf::planck_like()
        .without_sky_bands()
        .responses(&resp)
        .size(n)
        .pixel_arcmin(set[1])
        .scales(scales.as_slice().unwrap())
        .binning(binning)
        .taper(set[7] as usize)
        .map_resolution_arcmin(Some(set[8]))
        .iterations(0)
        .prepare()
        .unwrap();
    let bands: Vec<Vec<f64>> =
        (0..resp.len()).map(|b| maps.index_axis(ndarray::Axis(0), b).iter().copied().collect()).collect();
    let refs: Vec<&[f64]> = bands.iter().map(Vec::as_slice).collect();
    let out = f.filter(&refs).unwrap();
    assert_eq!(out.noise().n_bins(), n_bins[0] as usize, "number of annuli after merging");
    let (mut t_err, mut s_err, mut q_err, mut q_max) = (0f64, 0f64, 0f64, 0f64);
    for s in 0..scales.len() {
        let t = f.templates().profile(s);
        t_err = t_err.max(
            t.iter().zip(t_ref.index_axis(ndarray::Axis(0), s).iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max),
        );
        s_err = s_err.max((out.sigma(s) / sigma_ref[s] - 1.0).abs());
        let q = out.q_map(s);
        for (a, b) in q.iter().zip(q_ref.index_axis(ndarray::Axis(0), s).iter()) {
            q_err = q_err.max((*a as f64 - b).abs());
            q_max = q_max.max(b.abs());
        }
    }
    eprintln!(
        "numpy fixture: max |ΔT̂| = {t_err:.2e} (T̂(0) = 1), max |Δσ_θ|/σ_θ = {s_err:.2e}, max |Δq| = {q_err:.2e} (max |q| = {q_max:.2})"
    );
    // Tolerances: the profiles differ only by the line-of-sight integration (a tabulated Simpson
    // rule here, Gauss–Legendre there) and the q maps by f32 storage.
    assert!(t_err < 1e-4, "template differs by {t_err}");
    assert!(s_err < 5e-5, "σ_θ differs by {s_err} (relative)");
    assert!(q_err < 5e-5 * q_max, "q differs by {q_err}");
}

// ---------------------------------------------------------------------------------------------
// T5 — scale, T6 — position (six bands, analytic P)

#[test]
fn scale_of_a_resolved_cluster_is_recovered() {
    let (n, pixel, theta) = (128, 1.7, 8.0);
    let (resp, sigma_pix) = hfi_kcmb();
    let scales = scale_grid(26);
    let f = flat(n, &resp, &scales).prepare().unwrap();
    let g = f.geometry();
    let noise = NoiseSpectrum::from_fn(g, 6, (0.0, 1e9), 0.0, cmb_plus_noise(&resp, &sigma_pix, pixel)).unwrap();
    let zero = vec![vec![0f32; n * n]; 6];
    let nearest =
        (0..26).min_by(|&a, &b| (scales[a] / theta).ln().abs().total_cmp(&(scales[b] / theta).ln().abs())).unwrap();
    let sigma = f.filter_with(&slices(&zero), &noise).unwrap().sigma(nearest);
    let y_true = 20.0 * sigma;
    let signal = f.cluster_maps(y_true, theta, (64.0, 64.0));
    let mut rng = Normal::new(5);
    let (mut steps, mut ratio) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let maps = cmb_sky(f.fft(), g, &resp, &sigma_pix, &mut rng, &signal);
        let out = f.filter_with(&slices(&maps), &noise).unwrap();
        let peak = out
            .peaks(4.5)
            .into_iter()
            .min_by(|a, b| ((a.i - 64.0).hypot(a.j - 64.0)).total_cmp(&(b.i - 64.0).hypot(b.j - 64.0)));
        let p = peak.expect("a q ≈ 20 cluster is found");
        assert!((p.i - 64.0).hypot(p.j - 64.0) < 2.0, "peak at ({}, {})", p.i, p.j);
        steps.push(p.scale as i64 - nearest as i64);
        ratio.push(p.y5r500_arcmin2 / y_true);
    }
    let within = steps.iter().filter(|s| s.abs() <= 1).count();
    let rms = (steps.iter().map(|s| (s * s) as f64).sum::<f64>() / steps.len() as f64).sqrt();
    let bias = steps.iter().sum::<i64>() as f64 / steps.len() as f64;
    eprintln!(
        "T5 scale: θ500 = {theta}′ at q ≈ 20, grid steps from the nearest scale {steps:?} (rms {rms:.2}, mean {bias:+.2}), \
         Ŷ/Y mean {:.3} rms scatter {:.3}",
        mean(&ratio),
        std(&ratio)
    );
    // θ* within ±1 grid step: rms ≤ 1.25 steps, no bias beyond half a step, ≥ 80 % within ±1.
    assert!(rms <= 1.25 && bias.abs() <= 0.5 && within >= 16, "steps rms {rms}, mean {bias}, {within}/20 within ±1");
    assert!((mean(&ratio) - 1.0).abs() < 0.10, "⟨Ŷ⟩/Y = {}", mean(&ratio));
}

#[test]
fn position_scatter_matches_the_fisher_error() {
    let (n, pixel, theta) = (128, 1.7, 3.0);
    let (resp, sigma_pix) = hfi_kcmb();
    let f = flat(n, &resp, &[theta]).prepare().unwrap();
    let g = f.geometry();
    let noise = NoiseSpectrum::from_fn(g, 6, (0.0, 1e9), 0.0, cmb_plus_noise(&resp, &sigma_pix, pixel)).unwrap();
    let zero = vec![vec![0f32; n * n]; 6];
    let sigma = f.filter_with(&slices(&zero), &noise).unwrap().sigma(0);
    let mut rng = Normal::new(6);
    let (mut d2, mut err2) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let at = (60.0 + 8.0 * rng.0.gen::<f64>(), 60.0 + 8.0 * rng.0.gen::<f64>());
        let signal = f.cluster_maps(10.0 * sigma, theta, at);
        let maps = cmb_sky(f.fft(), g, &resp, &sigma_pix, &mut rng, &signal);
        let out = f.filter_with(&slices(&maps), &noise).unwrap();
        let p = out
            .peaks(4.5)
            .into_iter()
            .min_by(|a, b| ((a.i - at.0).hypot(a.j - at.1)).total_cmp(&(b.i - at.0).hypot(b.j - at.1)));
        let p = p.expect("a q ≈ 10 cluster is found");
        d2.push(((p.i - at.0).powi(2) + (p.j - at.1).powi(2)) / 2.0 * pixel * pixel);
        err2.push(p.position_err_arcmin.powi(2));
    }
    let (rms, predicted) = (mean(&d2).sqrt(), mean(&err2).sqrt());
    eprintln!(
        "T6 position: rms offset per axis {rms:.3}′, predicted σ_x {predicted:.3}′, ratio {:.3}",
        rms / predicted
    );
    assert!((rms / predicted - 1.0).abs() < 0.20, "rms {rms}′ vs σ_x {predicted}′");
}

// ---------------------------------------------------------------------------------------------
// T7 — false peaks in cluster-free noise

#[test]
fn false_peaks_follow_the_gaussian_expectation() {
    // One band with a 5′ beam in white noise, θ500 = 3′, 1′ pixels: q is a smooth Gaussian field of
    // unit variance whose gradient variance per axis is ⟨k_x²⟩ (the filter's own spectral moment).
    let (n, pixel, theta) = (256, 1.0, 3.0);
    let resp = [BandResponse { tsz_per_y: 1.0, fwhm_arcmin: 5.0 }];
    let f = flat(n, &resp, &[theta]).pixel_arcmin(pixel).prepare().unwrap();
    let g = f.geometry();
    let noise = NoiseSpectrum::from_fn(g, 1, (0.0, 1e9), 0.0, |_| vec![pixel * pixel]).unwrap();
    let mut rng = Normal::new(7);
    let (u, u_pix) = (3.5, 2.5);
    let (mut maxima, mut above, mut kx2) = (0usize, 0usize, 0.0);
    let maps = 150;
    for _ in 0..maps {
        let m: Vec<f32> = rng.white(n * n, 1.0).into_iter().map(|v| v as f32).collect();
        let out = f.filter_with(&[m.as_slice()], &noise).unwrap();
        kx2 = out.kx2_per_arcmin2(0);
        let q = out.q_map(0);
        above += q.iter().filter(|&&v| v as f64 > u_pix).count();
        maxima += (0..n * n).filter(|&p| q[p] as f64 > u && is_max(q, n, p)).count();
    }
    let area = (n * n * maps) as f64 * pixel * pixel;
    // Euler-characteristic density of a 2-D Gaussian field: ⟨k_x²⟩/(2π)^{3/2} · u e^{−u²/2}.
    let expected = area * kx2 / (2.0 * std::f64::consts::PI).powf(1.5) * u * (-u * u / 2.0).exp();
    let tail = 0.5 * erfc(u_pix / 2f64.sqrt());
    let frac = above as f64 / (n * n * maps) as f64;
    eprintln!(
        "T7 false peaks: {maxima} maxima above q = {u} in {maps} maps, expected {expected:.0} (ratio {:.3}); \
         pixel fraction above {u_pix}: {frac:.5} vs {tail:.5} (ratio {:.3}); rate above 4.5 ≈ {:.2e} per arcmin² \
         (same formula, per θ500 = 3′ map)",
        maxima as f64 / expected,
        frac / tail,
        kx2 / (2.0 * std::f64::consts::PI).powf(1.5) * 4.5 * (-4.5f64 * 4.5 / 2.0).exp()
    );
    assert!((maxima as f64 / expected - 1.0).abs() < 0.15, "{maxima} maxima vs {expected}");
    assert!((frac / tail - 1.0).abs() < 0.10, "tail fraction {frac} vs {tail}");
}

fn is_max(q: &[f32], n: usize, p: usize) -> bool {
    let (i, j) = ((p / n) as isize, (p % n) as isize);
    let w = |a: isize, b: isize| q[(a.rem_euclid(n as isize) * n as isize + b.rem_euclid(n as isize)) as usize];
    (-1..=1).all(|a| (-1..=1).all(|b| (a == 0 && b == 0) || w(i + a, j + b) < q[p]))
}

/// erfc by Abramowitz & Stegun 7.1.26 (|ε| < 1.5e-7).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    poly * (-x * x).exp()
}

/// The sky's six bands in their own units (K_CMB, MJy/sr): responses and σ per 1.7′ pixel.
fn hfi_native() -> (Vec<BandResponse>, Vec<f64>, Vec<f64>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for b in HFI {
        let m = band_model(b);
        out.0.push(BandResponse::of(b));
        out.1.push(m.depth / 1.7);
        out.2.push(if m.kcmb { 1.0 } else { m.kcmb_to_mjy });
    }
    out
}

#[test]
fn planck_like_patch_time_and_detection() {
    // The production geometry: 256² of 1.7′, six bands in map units, 26 scales, P from the patch
    // and one iMMF iteration. A cluster of q ≈ 10 at θ500 = 4′ is found at its place and scale.
    let mmf = Mmf::planck_like().without_sky_bands();
    let f = mmf.prepare().unwrap();
    let (n, g) = (256, f.geometry());
    let (resp, sigma_pix, to_units) = hfi_native();
    let kcmb: Vec<BandResponse> =
        resp.iter().zip(&to_units).map(|(r, u)| BandResponse { tsz_per_y: r.tsz_per_y / u, ..*r }).collect();
    let sigma_k: Vec<f64> = sigma_pix.iter().zip(&to_units).map(|(s, u)| s / u).collect();
    let p_k = cmb_plus_noise(&kcmb, &sigma_k, 1.7);
    let native =
        |ell: f64| p_k(ell).into_iter().enumerate().map(|(k, p)| p * to_units[k / 6] * to_units[k % 6]).collect();
    let oracle = NoiseSpectrum::from_fn(g, 6, (100.0, 2500.0), 0.0, native).unwrap();
    let zero = vec![vec![0f32; n * n]; 6];
    let s4 = 13; // θ500 = 4.2′
    let sigma = f.filter_with(&slices(&zero), &oracle).unwrap().sigma(s4);
    let theta = f.scales()[s4];
    let signal = f.cluster_maps(10.0 * sigma, theta, (100.3, 150.6));
    let mut rng = Normal::new(8);
    // The CMB in K_CMB, converted to each band's unit with the noise and the cluster.
    let unit_signal: Vec<Vec<f64>> =
        signal.iter().zip(&to_units).map(|(m, u)| m.iter().map(|v| v / u).collect()).collect();
    let maps: Vec<Vec<f32>> = cmb_sky(f.fft(), g, &kcmb, &sigma_k, &mut rng, &unit_signal)
        .into_iter()
        .zip(&to_units)
        .map(|(m, u)| m.into_iter().map(|v| (v as f64 * u) as f32).collect())
        .collect();
    let out = f.filter(&slices(&maps)).unwrap();
    let (qmax, arg) = out.q_max_map();
    let best = (0..n * n).max_by(|&a, &b| qmax[a].total_cmp(&qmax[b])).unwrap();
    eprintln!(
        "σ oracle {sigma:.3e}, σ estimated {:.3e}; max q {} at ({}, {}) scale {}",
        out.sigma(s4),
        qmax[best],
        best / n,
        best % n,
        arg[best]
    );
    let start = std::time::Instant::now();
    let runs = 3;
    let mut peaks = Vec::new();
    for _ in 0..runs {
        peaks = f.filter(&slices(&maps)).unwrap().peaks(4.5);
    }
    let per_patch = start.elapsed().as_secs_f64() / runs as f64;
    eprintln!(
        "speed: one 256² patch, 6 bands × 26 scales, P estimated + 1 iMMF pass + peaks: {:.0} ms (test build: \
         opt-level 2 with debug assertions); {} peaks ≥ 4.5, best {:?}",
        per_patch * 1e3,
        peaks.len(),
        peaks.first()
    );
    let p = peaks.iter().find(|p| (p.i - 100.3).hypot(p.j - 150.6) < 1.5).expect("the injected cluster");
    assert!((p.snr / 10.0 - 1.0).abs() < 0.3, "q = {}", p.snr);
    assert!((p.scale as i64 - s4 as i64).abs() <= 3, "scale {} vs {s4}", p.scale);
}

// ---------------------------------------------------------------------------------------------
// On the sphere: patches, ownership, merging, photometry

/// A HEALPix y-map (nside 512, NESTED) with clusters (M500 in 10¹⁴ M☉, z, position) painted with
/// the synthetic sky's beamed Arnaud profile (10′ beam), compact `sources` (peak, position) through
/// the same beam, and white noise of `sigma` per pixel.
fn y_sky(
    clusters: &[(f64, f64, f64, f64)],
    sources: &[(f64, f64, f64)],
    sigma: f64,
) -> (xcluster::sky::Sky, Vec<(f64, f64)>) {
    use xcluster::sky::{angular_separation_deg, HealpixMap, Ordering, Sky};
    use xcluster::synthetic::ClusterSz;
    let sz: Vec<ClusterSz> = clusters.iter().map(|c| ClusterSz::new(c.0, c.1)).collect();
    let truth: Vec<(f64, f64)> = sz.iter().map(|c| (c.y5r500_arcmin2(), c.theta500_arcmin())).collect();
    let map = HealpixMap::from_fn(512, Ordering::Nested, "y", |lon, lat| {
        let mut y = 0.0;
        for (c, k) in sz.iter().zip(clusters) {
            let d = angular_separation_deg(lon, lat, k.2, k.3) * 60.0;
            if d < 5.0 * c.theta500_arcmin() + 15.0 {
                y += c.y_beamed(d, 10.0);
            }
        }
        for &(peak, l, b) in sources {
            let d = angular_separation_deg(lon, lat, l, b) * 60.0;
            y += peak * (-4.0 * 2f64.ln() * (d / 10.0).powi(2)).exp();
        }
        // Reproducible noise from the position's bits (a splitmix64 hash, Box–Muller).
        let h = |x: u64| {
            let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let a = h(lon.to_bits() ^ h(lat.to_bits()));
        let (u, v) = (((a >> 11) as f64 + 0.5) / (1u64 << 53) as f64, (h(a) >> 11) as f64 / (1u64 << 53) as f64);
        (y + sigma * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    })
    .unwrap();
    (Sky::new().with_band(Band::YMap, map).unwrap(), truth)
}

/// The y-map filter at nside 512: 64² patches of 6.87′ (7.3°), at θ500 `scales` (arcmin).
fn y_filter(scales: &[f64]) -> Mmf {
    Mmf::planck_like().bands(&[Band::YMap]).size(64).pixel_arcmin(6.87).scales(scales).taper(8).ell_range(100.0, 1500.0)
}

#[test]
fn sky_search_finds_each_cluster_once_with_its_y() {
    use xcluster::sky::angular_separation_deg;
    use xcluster::tiles::Tiling;
    let (l0, b0) = Tiling::tile_center(6);
    let clusters = [(8.0, 0.05, l0, b0), (6.0, 0.06, l0 + 4.0, b0 + 3.0), (5.0, 0.08, l0 - 5.0, b0 - 4.0)];
    for c in &clusters {
        assert_eq!(Tiling::tile_of(c.2, c.3), 6, "test cluster outside tile 6");
    }
    let (sky, truth) = y_sky(&clusters, &[], 3e-6);
    // The scale grid holds the true θ500s, 13.0′, 18.1′ and 23.7′, and their neighbours.
    let mut scales: Vec<f64> = truth.iter().map(|t| t.1).chain([9.0, 30.0]).collect();
    scales.sort_by(f64::total_cmp);
    let mmf = y_filter(&scales);
    let found = mmf.run(&sky, &[6]).unwrap();
    let df = found.df();
    eprintln!("sky search: {df}");
    let col = |name: &str| df.column(name).unwrap().f64().unwrap().into_no_null_iter().collect::<Vec<f64>>();
    let (glon, glat, snr, y, theta) =
        (col("glon"), col("glat"), col("snr"), col("y5r500_arcmin2"), col("theta500_arcmin"));
    let tiles: Vec<u32> = df.column("tile").unwrap().u32().unwrap().into_no_null_iter().collect();
    assert!(tiles.iter().all(|&t| t == 6) && glon.iter().zip(&glat).all(|(&l, &b)| Tiling::tile_of(l, b) == 6));
    // Each cluster is one object (no duplicate from overlapping patches), at its place, with its Y.
    let bright: Vec<usize> = (0..df.height()).filter(|&k| snr[k] > 8.0).collect();
    assert_eq!(bright.len(), clusters.len(), "objects with q > 8: {bright:?}");
    for (c, (y_true, theta_true)) in clusters.iter().zip(&truth) {
        let k = *bright
            .iter()
            .min_by(|&&a, &&b| {
                angular_separation_deg(glon[a], glat[a], c.2, c.3)
                    .total_cmp(&angular_separation_deg(glon[b], glat[b], c.2, c.3))
            })
            .unwrap();
        let sep = angular_separation_deg(glon[k], glat[k], c.2, c.3) * 60.0;
        eprintln!(
            "cluster θ500 {theta_true:.1}′ Y {y_true:.4}: found {sep:.2}′ away, q {:.1}, Y {:.4} ({:+.1} %), θ500 {:.0}′",
            snr[k],
            y[k],
            (y[k] / y_true - 1.0) * 100.0,
            theta[k]
        );
        assert!(sep < 3.0, "position off by {sep}′");
        // With θ free, Y follows the chosen scale (the Y–θ degeneracy: q(θ) is flat to < 1 % over
        // ±30 % in θ, so at q ≈ 15–40 the scale wanders by a grid step or two).
        assert!((y[k] / y_true - 1.0).abs() < 0.5, "Y {} vs {y_true}", y[k]);
    }
    // Merging the sightings again gives the same objects; photometry at the true positions
    // measures what the search measured.
    let again = xcluster::mmf::MmfDetections::from_sightings(found.sightings(), 10.0).unwrap();
    assert_eq!(again.df().height(), df.height());
    let positions: Vec<(f64, f64)> = clusters.iter().map(|c| (c.2, c.3)).collect();
    let free = mmf.photometry(&sky, &positions).unwrap();
    let thetas: Vec<f64> = truth.iter().map(|t| t.1).collect();
    let fixed = mmf.photometry_fixed(&sky, &positions, &thetas).unwrap();
    let get = |df: &polars::prelude::DataFrame, c: &str, k: usize| df.column(c).unwrap().f64().unwrap().get(k).unwrap();
    for (k, &(y_true, _)) in truth.iter().enumerate().take(clusters.len()) {
        let (y_fixed, err) = (get(&fixed, "y5r500_arcmin2", k), get(&fixed, "y5r500_err_arcmin2", k));
        eprintln!(
            "photometry at cluster {k}: θ free q {:.1} Y {:.4} at {:.1}′; θ true q {:.1} Y {y_fixed:.4} ± {err:.4} (truth {:.4}, {:+.1} σ)",
            get(&free, "snr", k),
            get(&free, "y5r500_arcmin2", k),
            get(&free, "theta500_arcmin", k),
            get(&fixed, "snr", k),
            y_true,
            (y_fixed - y_true) / err
        );
        // At the true size Y is unbiased to within its noise plus the ≲ 4 % that 6.87′ pixels cost
        // (bilinear interpolation modelled as a Gaussian of variance r²/6).
        assert!((y_fixed - y_true).abs() < 3.0 * err + 0.05 * y_true, "Y {y_fixed} ± {err} vs {y_true}");
    }
}

#[test]
fn a_masked_source_leaves_no_peak_and_the_cluster_its_signal() {
    use xcluster::mmf::SourceMask;
    use xcluster::patches::Gnomonic;
    use xcluster::sky::{angular_separation_deg, unit_vector};
    use xcluster::tiles::Tiling;
    let (l0, b0) = Tiling::tile_center(6);
    let cluster = (8.0, 0.05, l0, b0);
    let source = (l0 + 3.0, b0 - 2.0);
    // A compact source 50 times the cluster's central y, as a bright radio source is at 100 GHz.
    let (sky, _) = y_sky(&[cluster], &[(5e-4, source.0, source.1)], 3e-6);
    let mmf = y_filter(&[9.0, 13.0, 18.0, 30.0]);
    let nearest = |df: &polars::prelude::DataFrame, at: (f64, f64)| -> (f64, f64) {
        let col = |c: &str| df.column(c).unwrap().f64().unwrap().into_no_null_iter().collect::<Vec<f64>>();
        let (l, b, q) = (col("glon"), col("glat"), col("snr"));
        (0..df.height())
            .map(|k| (angular_separation_deg(l[k], b[k], at.0, at.1) * 60.0, q[k]))
            .min_by(|x, y| x.0.total_cmp(&y.0))
            .unwrap_or((f64::INFINITY, 0.0))
    };
    let plain = mmf.run(&sky, &[6]).unwrap();
    let (sep, q_source) = nearest(plain.df(), source);
    assert!(sep < 10.0 && q_source > 20.0, "unmasked, the source is a detection: {sep}′, q {q_source}");
    let (_, q_plain) = nearest(plain.df(), (cluster.2, cluster.3));

    let mask = SourceMask::new(&[source], 15.0);
    let masked = mmf.clone().mask_sources(mask.clone()).run(&sky, &[6]).unwrap();
    eprintln!("unmasked:\n{}\nmasked:\n{}", plain.df(), masked.df());
    let (sep, _) = nearest(masked.df(), source);
    assert!(sep > 15.0, "a peak {sep}′ from the masked source");
    // The source no longer inflates the noise spectrum: the cluster keeps (here gains) its S/N.
    let (sep, q_masked) = nearest(masked.df(), (cluster.2, cluster.3));
    assert!(sep < 3.0 && q_masked >= 0.95 * q_plain, "cluster at {sep}′, q {q_masked} vs {q_plain} unmasked");

    // The masked pixels are those whose centre lies within 15′ of the source, up to the gnomonic
    // scale (< 0.1 % across a 15′ disc 0.4° off the patch centre).
    let proj = Gnomonic::new(source.0, source.1 - 0.4, 64, 1.7).unwrap();
    let mut data = vec![1.0f32; 2 * 64 * 64];
    let n_masked = mask.apply(&mut data, &proj);
    let mut inside = 0;
    for p in 0..64 * 64 {
        let (l, b) = proj.pixel_to_galactic((p / 64) as f64, (p % 64) as f64);
        let d = angular_separation_deg(l, b, source.0, source.1) * 60.0;
        let nan = data[p].is_nan();
        assert_eq!(nan, data[64 * 64 + p].is_nan(), "both bands masked alike");
        assert!(
            if d < 14.9 {
                nan
            } else if d > 15.1 {
                !nan
            } else {
                true
            },
            "pixel {p} at {d}′: NaN {nan}"
        );
        inside += nan as usize;
    }
    assert_eq!(inside, n_masked);
    let expected = std::f64::consts::PI * (15.0 / 1.7f64).powi(2);
    assert!((n_masked as f64 / expected - 1.0).abs() < 0.1, "{n_masked} pixels vs πr² = {expected:.0}");
    assert!(mask.covers(unit_vector(source.0, source.1 + 14.0 / 60.0)));
    assert!(!mask.covers(unit_vector(source.0, source.1 + 16.0 / 60.0)));
    let err = mmf.mask_sources(SourceMask::new(&[source], 90.0)).validate().unwrap_err().to_string();
    assert!(err.contains("mmf_source_mask_arcmin") && err.contains("90"), "{err}");
}

#[test]
fn errors_name_the_setting() {
    let e = Mmf::planck_like().bands(&[Band::F143, Band::YMap]).validate().unwrap_err().to_string();
    assert!(e.contains("mmf_bands") && e.contains("y-map"), "{e}");
    let e = Mmf::planck_like().snr_threshold(-1.0).validate().unwrap_err().to_string();
    assert!(e.contains("mmf_snr_threshold") && e.contains("-1"), "{e}");
    let e = Mmf::planck_like().scales(&[50.0]).prepare().unwrap_err().to_string();
    assert!(e.contains("mmf scales") && e.contains("50"), "{e}");
    let (sky, _) = y_sky(&[], &[], 1e-6);
    let e = y_filter(&[10.0]).run(&sky, &[48]).unwrap_err().to_string();
    assert!(e.contains("mmf tiles") && e.contains("48"), "{e}");
    let e = Mmf::planck_like().run(&sky, &[6]).unwrap_err().to_string();
    assert!(e.contains("mmf_bands") && e.contains("100GHz"), "{e}");
    let f = y_filter(&[10.0]).without_sky_bands().prepare().unwrap();
    let e = f.filter(&[&[0f32; 10][..]]).unwrap_err().to_string();
    assert!(e.contains("mmf maps") && e.contains("10 pixels"), "{e}");
}
