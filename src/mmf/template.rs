//! The cluster template of the MMF (MMF.md §2, §6 step 3): the Arnaud et al. (2010) pressure
//! profile projected along the line of sight and truncated at 5 R500 (the synthetic sky's own
//! `ProfileTable`, so the filter and the injected clusters share one shape), pixelised on the
//! patch grid (5×5 sub-pixels per pixel, then the averaging's window divided out) and normalised so
//! that its amplitude is Y5R500; then, per band, the tSZ spectral factor, the Gaussian beam and the
//! smoothing of the map → patch interpolation, in Fourier space.
//!
//! In: the patch [`Geometry`], the θ500 grid and each band's [`BandResponse`]. Out: a
//! [`TemplateBank`] holding T̂_θ(k) (real, T̂(0) = 1) per scale and j_ν·B_ν(|k|) per band, computed
//! once per run and shared by every patch.

use std::f64::consts::PI;

use rustfft::num_complex::Complex64;

use super::fft::{signed_index, Fft2};
use crate::error::{ensure_param, Result};
use crate::sky::Band;
use crate::synthetic::{band_model, ProfileTable};

/// First θ500 of the Planck SZ scale grid in arcmin (`SZ_thetas.txt`, MMF.md §2).
pub const THETA500_FIRST_ARCMIN: f64 = 0.9418;
/// Ratio of consecutive θ500 of that grid.
pub const THETA500_RATIO: f64 = 1.12402;
/// The profile is truncated at this many R500.
pub const TRUNCATION_R500: f64 = 5.0;
/// Sub-pixels per pixel side when the profile is pixelised.
const SUBPIXELS: usize = 5;

/// The first `n` θ500 of the Planck grid, 0.9418′ · 1.12402^i (26 reach 17.5′, MMF.md's choice for
/// 256² patches of 1.7′).
///
/// ```
/// let s = xcluster::mmf::scale_grid(26);
/// assert!((s[0] - 0.9418).abs() < 1e-12 && (s[25] - 17.511).abs() < 0.001);
/// ```
pub fn scale_grid(n: usize) -> Vec<f64> {
    (0..n).map(|i| THETA500_FIRST_ARCMIN * THETA500_RATIO.powi(i as i32)).collect()
}

/// A flat N×N patch of square pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Side N in pixels.
    pub size: usize,
    /// Pixel side Δ in arcmin.
    pub pixel_arcmin: f64,
}

impl Geometry {
    /// Pixel side in radians.
    pub fn pixel_rad(&self) -> f64 {
        (self.pixel_arcmin / 60.0).to_radians()
    }

    /// The fundamental wavenumber 2π/(NΔ) in rad⁻¹ (≈ the multipole ℓ of one cycle per patch).
    pub fn fundamental(&self) -> f64 {
        2.0 * PI / (self.size as f64 * self.pixel_rad())
    }

    /// Number of pixels N².
    pub fn len(&self) -> usize {
        self.size * self.size
    }

    /// Whether the patch has no pixel.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// |k| (≈ ℓ) of every Fourier mode, in the FFT's layout.
    pub fn ell_grid(&self) -> Vec<f64> {
        let (n, kf) = (self.size, self.fundamental());
        (0..n * n).map(|p| kf * signed_index(p / n, n).hypot(signed_index(p % n, n))).collect()
    }
}

/// How one band responds to a cluster: its tSZ factor and beam.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandResponse {
    /// Map units per unit Compton y (K_CMB, MJy/sr, or 1 for a y-map).
    pub tsz_per_y: f64,
    /// Gaussian beam FWHM in arcmin (0: no beam).
    pub fwhm_arcmin: f64,
}

impl BandResponse {
    /// The synthetic sky's band (PHYSICS.md: bandpass-integrated tSZ factors, 2018 beams, map units
    /// K_CMB at 100–353 GHz and MJy/sr at 545–857 GHz; the y-map with j = 1 and MILCA's 10′ beam).
    pub fn of(band: Band) -> Self {
        let m = band_model(band);
        BandResponse { tsz_per_y: m.tsz_per_y, fwhm_arcmin: m.fwhm_arcmin }
    }

    /// The beam transfer function B(ℓ) = exp(−ℓ(ℓ+1)σ²/2), σ = FWHM/√(8 ln 2).
    pub fn beam(&self, ell: f64) -> f64 {
        let sigma = (self.fwhm_arcmin / 60.0).to_radians() / (8.0 * 2f64.ln()).sqrt();
        (-ell * (ell + 1.0) * sigma * sigma / 2.0).exp()
    }
}

/// Templates of every scale and band responses on one patch geometry.
#[derive(Clone)]
pub struct TemplateBank {
    geometry: Geometry,
    scales: Vec<f64>,
    /// T̂_θ(k) per scale (real: the profile is centred on pixel (0, 0) and symmetric).
    t_hat: Vec<Vec<f64>>,
    /// j_ν B_ν(|k|) per band.
    response: Vec<Vec<f64>>,
    ell: Vec<f64>,
    profile: std::sync::Arc<ProfileTable>,
}

impl std::fmt::Debug for TemplateBank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateBank")
            .field("geometry", &self.geometry)
            .field("scales", &self.scales)
            .field("bands", &self.response.len())
            .finish()
    }
}

impl TemplateBank {
    /// Templates for θ500 `scales` (arcmin) and `bands` on `geometry`; the truncated profile of the
    /// largest scale must fit in half the patch. `smoothing_arcmin` is the σ of a Gaussian that every
    /// band's maps went through besides the beam (the interpolation from the HEALPix maps), 0 if none.
    pub fn new(
        geometry: Geometry,
        scales: &[f64],
        bands: &[BandResponse],
        smoothing_arcmin: f64,
        fft: &Fft2,
    ) -> Result<Self> {
        ensure_param!(!scales.is_empty(), "mmf scales", "give at least one θ500");
        for &t in scales {
            check_fits(geometry, t)?;
        }
        let profile = std::sync::Arc::new(ProfileTable::new());
        let t_hat = scales.iter().map(|&t| fourier_profile(geometry, &profile, t, fft)).collect();
        let ell = geometry.ell_grid();
        let smooth = (smoothing_arcmin / 60.0).to_radians();
        let window = |l: f64| (-l * l * smooth * smooth / 2.0).exp();
        let response =
            bands.iter().map(|b| ell.iter().map(|&l| b.tsz_per_y * b.beam(l) * window(l)).collect()).collect();
        Ok(TemplateBank { geometry, scales: scales.to_vec(), t_hat, response, ell, profile })
    }

    /// The patch geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// θ500 of every scale, arcmin.
    pub fn scales(&self) -> &[f64] {
        &self.scales
    }

    /// T̂ of any θ500 (arcmin) on this geometry (its 5 R500 profile must fit in half the patch).
    pub fn profile_for(&self, theta500_arcmin: f64, fft: &Fft2) -> Result<Vec<f64>> {
        check_fits(self.geometry, theta500_arcmin)?;
        Ok(fourier_profile(self.geometry, &self.profile, theta500_arcmin, fft))
    }

    /// T̂ of scale `s` in the FFT layout (T̂(0) = 1).
    pub fn profile(&self, s: usize) -> &[f64] {
        &self.t_hat[s]
    }

    /// j_ν B_ν(|k|) of band `b`.
    pub fn response(&self, b: usize) -> &[f64] {
        &self.response[b]
    }

    /// Number of bands.
    pub fn n_bands(&self) -> usize {
        self.response.len()
    }

    /// |k| of every mode.
    pub fn ell(&self) -> &[f64] {
        &self.ell
    }

    /// The maps (one per band, map units) of a cluster of `y5r500_arcmin2` and θ500 `theta500_arcmin`
    /// centred on fractional pixel (`i`, `j`): Y·j_ν·(b_ν ∗ τ_θ), shifted in Fourier space. For
    /// injections in tests and simulations.
    pub fn cluster_maps(
        &self,
        y5r500_arcmin2: f64,
        theta500_arcmin: f64,
        (i, j): (f64, f64),
        fft: &Fft2,
    ) -> Vec<Vec<f64>> {
        let g = self.geometry;
        let n = g.size;
        let t_hat = fourier_profile(g, &self.profile, theta500_arcmin, fft);
        let (row, col) = (phases(n, -i), phases(n, -j));
        let scale = y5r500_arcmin2 / (g.pixel_arcmin * g.pixel_arcmin * (n * n) as f64);
        self.response
            .iter()
            .map(|resp| {
                let mut buf: Vec<Complex64> =
                    (0..n * n).map(|p| row[p / n] * col[p % n] * (t_hat[p] * resp[p] * scale)).collect();
                fft.inverse(&mut buf);
                buf.iter().map(|c| c.re).collect()
            })
            .collect()
    }
}

/// θ500 must be positive and its truncated profile fit in half the patch.
fn check_fits(g: Geometry, theta500: f64) -> Result<()> {
    let half = g.size as f64 * g.pixel_arcmin / 2.0;
    ensure_param!(
        theta500 > 0.0 && TRUNCATION_R500 * theta500 + g.pixel_arcmin < half,
        "mmf scales",
        "θ500 = {theta500}′ must be positive and its 5 R500 profile fit in half the patch ({half:.1}′)"
    );
    Ok(())
}

/// e^{2πi·f·x/N} for every FFT frequency f of an N-point axis.
pub(crate) fn phases(n: usize, x: f64) -> Vec<Complex64> {
    (0..n).map(|a| Complex64::from_polar(1.0, 2.0 * PI * signed_index(a, n) * x / n as f64)).collect()
}

/// τ_θ pixelised around pixel (0, 0) with wrap-around, Σ_p τ_p Δ² = 1 (in arcmin⁻²).
pub(crate) fn pixel_profile(g: Geometry, profile: &ProfileTable, theta500: f64) -> Vec<f64> {
    let n = g.size;
    let mut tau = vec![0.0; n * n];
    // Only pixels within the truncation radius (plus the sub-pixel reach) are non-zero.
    let reach = (TRUNCATION_R500 * theta500 / g.pixel_arcmin).ceil() as isize + 1;
    let sub: Vec<f64> = (0..SUBPIXELS).map(|s| (s as f64 + 0.5) / SUBPIXELS as f64 - 0.5).collect();
    let wrap = |d: isize| d.rem_euclid(n as isize) as usize;
    for di in -reach..=reach {
        for dj in -reach..=reach {
            let mut sum = 0.0;
            for su in &sub {
                for sv in &sub {
                    let r = (di as f64 + su).hypot(dj as f64 + sv) * g.pixel_arcmin;
                    sum += profile.at(r / theta500);
                }
            }
            tau[wrap(di) * n + wrap(dj)] = sum;
        }
    }
    let total: f64 = tau.iter().sum::<f64>() * g.pixel_arcmin * g.pixel_arcmin;
    tau.iter_mut().for_each(|t| *t /= total);
    tau
}

/// T̂_θ(k): the Fourier transform of the continuous profile, T̂(0) = 1. Computed as Re[Δ²·FFT(τ_p)]
/// of the sub-pixel-averaged τ_p divided by the averaging's box window sinc(k_xΔ/2)·sinc(k_yΔ/2):
/// the maps hold point samples of the beamed sky, not pixel averages (the averaging only tames the
/// profile's cusp and aliasing).
fn fourier_profile(g: Geometry, profile: &ProfileTable, theta500: f64, fft: &Fft2) -> Vec<f64> {
    let (n, area) = (g.size, g.pixel_arcmin * g.pixel_arcmin);
    let mut buf: Vec<Complex64> =
        pixel_profile(g, profile, theta500).into_iter().map(|t| Complex64::new(t, 0.0)).collect();
    fft.forward(&mut buf);
    let sinc = |a: usize| {
        let x = PI * signed_index(a, n) / n as f64;
        if x == 0.0 {
            1.0
        } else {
            x.sin() / x
        }
    };
    let window: Vec<f64> = (0..n).map(sinc).collect();
    buf.iter().enumerate().map(|(k, c)| c.re * area / (window[k / n] * window[k % n])).collect()
}
