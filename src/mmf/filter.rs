//! The matched filter of one patch (MMF.md §1 and §6), in its discrete form for unnormalised FFTs:
//!
//! - σ_θ⁻² = (1/(N²Δ²)) Σ_k F†P⁻¹F, with F_ν = j_ν B_ν T̂_θ,
//! - Ŷ_θ(x_q) = σ_θ² · Re IFFT\[Σ_ν Q_ν M̃_ν\](q) / N², with Q = P⁻¹F, and q_θ = Ŷ_θ/σ_θ.
//!
//! F factorises into T̂_θ(k) times the band vector r(k) = j∘B(k), so per patch G(k) = P⁻¹r,
//! H(k) = r·G and D(k) = Σ_ν G_ν M̃_ν are computed once and each scale costs one product and one
//! inverse FFT: σ_θ⁻² = Σ T̂²H/(N²Δ²), Ŷ_θ = σ_θ² IFFT(T̂D)/N².
//!
//! In: the band maps of one N×N patch (map units) and either an analytic [`NoiseSpectrum`] or
//! none (then P is estimated from the patch, and re-estimated once with the detections masked: the
//! iterative MMF). Out: [`Filtered`], the S/N cube q(x, θ), σ_θ, and from them peaks and
//! fixed-position photometry ([`Measurement`]); Y in arcmin², positions in fractional pixels.

use std::sync::Arc;

use rustfft::num_complex::Complex64;

use super::fft::{signed_index, Fft2};
use super::noise::{inpaint, taper, NoiseSpectrum};
use super::template::{phases, Geometry, TemplateBank};
use super::Mmf;
use crate::error::{ensure_param, Result};

/// Most bands one filter combines (the six HFI bands and the y-map).
pub const MAX_BANDS: usize = 7;
const RAD_TO_ARCMIN: f64 = 180.0 * 60.0 / std::f64::consts::PI;

/// A prepared filter: the settings of an [`Mmf`], its templates and FFT plans. Shared by every
/// patch (and thread) of a run; cloning it is cheap (the templates, plans and taper are shared), so
/// each [`Filtered`] keeps its own handle and lives on its own, e.g. across notebook cells.
#[derive(Clone)]
pub struct MmfFilter {
    cfg: Mmf,
    bank: Arc<TemplateBank>,
    fft: Arc<Fft2>,
    taper: Arc<Vec<f64>>,
    w2: f64,
}

/// The result of filtering one patch.
#[derive(Clone)]
pub struct Filtered {
    filter: MmfFilter,
    sigma: Vec<f64>,
    kx2: Vec<f64>,
    q: Vec<f32>,
    data: Vec<Complex64>,
    h: Vec<f64>,
    noise: NoiseSpectrum,
    iterated: bool,
}

/// A cluster measured by the filter: a peak, or photometry at a given position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Row of the patch (fractional pixel).
    pub i: f64,
    /// Column of the patch (fractional pixel).
    pub j: f64,
    /// Index of the scale in the grid.
    pub scale: usize,
    /// θ500 of that scale, arcmin.
    pub theta500_arcmin: f64,
    /// Signal-to-noise q = Ŷ/σ_θ.
    pub snr: f64,
    /// Ŷ5R500 in arcmin².
    pub y5r500_arcmin2: f64,
    /// σ_θ, its 1σ error, arcmin².
    pub y5r500_err_arcmin2: f64,
    /// 1σ error of the position along each axis, arcmin: 1/(q √⟨k_x²⟩) (Fisher information).
    pub position_err_arcmin: f64,
}

impl std::fmt::Debug for MmfFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmfFilter").field("settings", &self.cfg).field("templates", &self.bank).finish()
    }
}

impl std::fmt::Debug for Filtered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q_max = self.q.iter().copied().fold(f32::MIN, f32::max);
        f.debug_struct("Filtered")
            .field("scales", &self.scales())
            .field("sigma_arcmin2", &self.sigma)
            .field("q_max", &q_max)
            .field("noise_bins", &self.noise.n_bins())
            .field("iterated", &self.iterated)
            .finish()
    }
}

impl MmfFilter {
    pub(crate) fn new(cfg: Mmf) -> Result<Self> {
        cfg.validate()?;
        let g = cfg.geometry();
        let fft = Fft2::new(g.size);
        let bank = TemplateBank::new(g, &cfg.scales, &cfg.responses, cfg.smoothing_arcmin(), &fft)?;
        let taper = taper(g.size, cfg.taper_px);
        let w2 = taper.iter().map(|w| w * w).sum::<f64>() / taper.len() as f64;
        Ok(MmfFilter { cfg, bank: Arc::new(bank), fft: Arc::new(fft), taper: Arc::new(taper), w2 })
    }

    /// The settings.
    pub fn settings(&self) -> &Mmf {
        &self.cfg
    }

    /// The patch geometry.
    pub fn geometry(&self) -> Geometry {
        self.bank.geometry()
    }

    /// The templates (per scale) and band responses.
    pub fn templates(&self) -> &TemplateBank {
        &self.bank
    }

    /// The FFT plans.
    pub fn fft(&self) -> &Fft2 {
        &self.fft
    }

    /// θ500 of every scale, arcmin.
    pub fn scales(&self) -> &[f64] {
        self.bank.scales()
    }

    /// Maps (one per band) of a cluster of `y5r500_arcmin2` and `theta500_arcmin` at fractional
    /// pixel `at`, with this filter's bands and beams: for injections.
    pub fn cluster_maps(&self, y5r500_arcmin2: f64, theta500_arcmin: f64, at: (f64, f64)) -> Vec<Vec<f64>> {
        self.bank.cluster_maps(y5r500_arcmin2, theta500_arcmin, at, &self.fft)
    }

    /// Filter one patch (`maps`: one N² row-major slice per band, map units), estimating P from it
    /// and, `iterations` times, again with its detections (q ≥ `mask_snr`) masked and inpainted.
    pub fn filter<T: Copy + Into<f64>>(&self, maps: &[&[T]]) -> Result<Filtered> {
        let maps = self.checked(maps)?;
        let fourier = self.transform(&maps);
        let noise = self.estimate(&fourier)?;
        let mut out = self.apply(&fourier, noise)?;
        for _ in 0..self.cfg.iterations {
            let Some(masked) = self.masked_copies(&out, &maps) else { break };
            let noise = self.estimate(&self.transform(&masked))?;
            out = Filtered { iterated: true, ..self.apply(&fourier, noise)? };
        }
        Ok(out)
    }

    /// Filter one patch with a given P (e.g. an analytic one, or the oracle of a cluster-free sky).
    pub fn filter_with<T: Copy + Into<f64>>(&self, maps: &[&[T]], noise: &NoiseSpectrum) -> Result<Filtered> {
        let maps = self.checked(maps)?;
        self.apply(&self.transform(&maps), noise.clone())
    }

    /// P estimated from one patch, without iterating.
    pub fn estimate_noise<T: Copy + Into<f64>>(&self, maps: &[&[T]]) -> Result<NoiseSpectrum> {
        let maps = self.checked(maps)?;
        self.estimate(&self.transform(&maps))
    }

    fn estimate(&self, fourier: &[Vec<Complex64>]) -> Result<NoiseSpectrum> {
        NoiseSpectrum::estimate(self.geometry(), fourier, self.w2, &self.cfg.binning)
    }

    /// The maps in f64, checked, with non-finite pixels inpainted.
    fn checked<T: Copy + Into<f64>>(&self, maps: &[&[T]]) -> Result<Vec<Vec<f64>>> {
        let (nb, len) = (self.bank.n_bands(), self.geometry().len());
        ensure_param!(maps.len() == nb, "mmf maps", "the filter has {nb} bands, got {} maps", maps.len());
        maps.iter()
            .enumerate()
            .map(|(b, m)| {
                ensure_param!(m.len() == len, "mmf maps", "band {b} has {} pixels, the patch {len}", m.len());
                let mut v: Vec<f64> = m.iter().map(|&x| x.into()).collect();
                let bad: Vec<usize> = (0..len).filter(|&p| !v[p].is_finite()).collect();
                ensure_param!(bad.len() < len, "mmf maps", "band {b} has no finite pixel");
                inpaint(&mut v, &bad, self.geometry().size, self.cfg.inpaint_sweeps);
                Ok(v)
            })
            .collect()
    }

    /// FFT of each map times the taper, after removing its taper-weighted mean. The maps are real,
    /// so two go through one complex FFT (a + ib) and are separated by Hermitian symmetry.
    fn transform(&self, maps: &[Vec<f64>]) -> Vec<Vec<Complex64>> {
        let n = self.geometry().size;
        let mut scratch = self.fft.scratch();
        let wsum: f64 = self.taper.iter().sum();
        let tapered = |m: &[f64]| -> Vec<f64> {
            let mean = m.iter().zip(self.taper.iter()).map(|(v, w)| v * w).sum::<f64>() / wsum;
            m.iter().zip(self.taper.iter()).map(|(v, w)| (v - mean) * w).collect()
        };
        let mut out = Vec::with_capacity(maps.len());
        for pair in maps.chunks(2) {
            let mut z: Vec<Complex64> = match pair {
                [a, b] => tapered(a).into_iter().zip(tapered(b)).map(|(x, y)| Complex64::new(x, y)).collect(),
                _ => tapered(&pair[0]).into_iter().map(|x| Complex64::new(x, 0.0)).collect(),
            };
            self.fft.forward_with(&mut z, &mut scratch);
            if pair.len() == 1 {
                out.push(z);
                continue;
            }
            let mirror = |k: usize| ((n - k / n) % n) * n + (n - k % n) % n;
            let half = Complex64::new(0.5, 0.0);
            let a = (0..n * n).map(|k| (z[k] + z[mirror(k)].conj()) * half).collect();
            let b = (0..n * n).map(|k| (z[k] - z[mirror(k)].conj()) * Complex64::new(0.0, -0.5)).collect();
            out.push(a);
            out.push(b);
        }
        out
    }

    /// Copies of `maps` with discs of `mask_radius_theta500`·θ* around every peak of q ≥
    /// `mask_snr` inpainted, or `None` when there is no such peak.
    fn masked_copies(&self, filtered: &Filtered, maps: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
        let peaks = filtered.peaks(self.cfg.mask_snr);
        if peaks.is_empty() {
            return None;
        }
        let g = self.geometry();
        let n = g.size as isize;
        let mut inside = vec![false; g.len()];
        for p in &peaks {
            let r = self.cfg.mask_radius_theta500 * p.theta500_arcmin / g.pixel_arcmin;
            let (lo_i, hi_i) = (((p.i - r).floor() as isize).max(0), ((p.i + r).ceil() as isize).min(n - 1));
            let (lo_j, hi_j) = (((p.j - r).floor() as isize).max(0), ((p.j + r).ceil() as isize).min(n - 1));
            for a in lo_i..=hi_i {
                for b in lo_j..=hi_j {
                    if (a as f64 - p.i).hypot(b as f64 - p.j) <= r {
                        inside[(a * n + b) as usize] = true;
                    }
                }
            }
        }
        let masked: Vec<usize> = (0..g.len()).filter(|&p| inside[p]).collect();
        Some(
            maps.iter()
                .map(|m| {
                    let mut c = m.clone();
                    inpaint(&mut c, &masked, g.size, self.cfg.inpaint_sweeps);
                    c
                })
                .collect(),
        )
    }

    /// G = P⁻¹r, H = r·G and D = Σ_ν G_ν M̃_ν per mode, then σ_θ, ⟨k_x²⟩ and q_θ per scale.
    fn apply(&self, fourier: &[Vec<Complex64>], noise: NoiseSpectrum) -> Result<Filtered> {
        let g = self.geometry();
        let (nb, len) = (self.bank.n_bands(), g.len());
        ensure_param!(
            noise.n_bands() == nb && noise.bins().len() == len,
            "mmf noise",
            "the noise spectrum has {} bands and {} modes, the filter {nb} and {len}",
            noise.n_bands(),
            noise.bins().len()
        );
        let (h, data) = self.combine(fourier, &noise);
        let (mut sigma, mut kx2) = (Vec::new(), Vec::new());
        for (s, &theta) in self.scales().iter().enumerate() {
            let (sig, k2) = self.moments(self.bank.profile(s), &h, theta)?;
            sigma.push(sig);
            kx2.push(k2);
        }
        let q = self.q_cube(&data, &sigma);
        Ok(Filtered { filter: self.clone(), sigma, kx2, q, data, h, noise, iterated: false })
    }

    /// σ_θ (arcmin²) and ⟨k_x²⟩ (rad⁻²) of template `t`: σ⁻² = Σ T̂²H/(N²Δ²), and ⟨k_x²⟩ half of
    /// ⟨|k|²⟩ weighted by T̂²H (the weights are symmetric under x ↔ y).
    fn moments(&self, t: &[f64], h: &[f64], theta500: f64) -> Result<(f64, f64)> {
        let g = self.geometry();
        let (mut sum_h, mut sum_l2) = (0.0, 0.0);
        for ((t, h), l) in t.iter().zip(h).zip(self.bank.ell()) {
            let w = t * t * h;
            sum_h += w;
            sum_l2 += w * l * l;
        }
        ensure_param!(
            sum_h.is_finite() && sum_h > 0.0,
            "mmf noise",
            "no usable Fourier mode at θ500 = {theta500:.2}′ (all bands without power?)"
        );
        Ok(((g.len() as f64 * g.pixel_arcmin * g.pixel_arcmin / sum_h).sqrt(), sum_l2 / sum_h / 2.0))
    }

    /// q_θ = σ_θ Re IFFT(T̂_θ D)/N² for every scale. T̂D is Hermitian (real maps, even T̂ and P),
    /// so IFFT(T̂₁D + iT̂₂D) holds two scales, one in each part: one inverse FFT per two scales.
    fn q_cube(&self, data: &[Complex64], sigma: &[f64]) -> Vec<f32> {
        let (len, n_scales) = (self.geometry().len(), sigma.len());
        let mut q = vec![0f32; n_scales * len];
        let mut buf = vec![Complex64::new(0.0, 0.0); len];
        let mut scratch = self.fft.scratch();
        for s in (0..n_scales).step_by(2) {
            let s2 = (s + 1).min(n_scales - 1);
            let (t1, t2) = (self.bank.profile(s), self.bank.profile(s2));
            buf.iter_mut().zip(data).enumerate().for_each(|(k, (b, d))| *b = d * Complex64::new(t1[k], t2[k]));
            self.fft.inverse_with(&mut buf, &mut scratch);
            let (c1, c2) = (sigma[s] / len as f64, sigma[s2] / len as f64);
            q[s * len..(s + 1) * len].iter_mut().zip(&buf).for_each(|(q, b)| *q = (b.re * c1) as f32);
            if s2 > s {
                q[s2 * len..(s2 + 1) * len].iter_mut().zip(&buf).for_each(|(q, b)| *q = (b.im * c2) as f32);
            }
        }
        q
    }

    /// H(k) = rᵀP⁻¹r and D(k) = rᵀP⁻¹M̃ (zero on modes the noise spectrum leaves out).
    fn combine(&self, fourier: &[Vec<Complex64>], noise: &NoiseSpectrum) -> (Vec<f64>, Vec<Complex64>) {
        let nb = self.bank.n_bands();
        let len = self.geometry().len();
        let (mut h, mut data) = (vec![0.0; len], vec![Complex64::new(0.0, 0.0); len]);
        let mut r = [0.0; MAX_BANDS];
        for k in 0..len {
            let Some(b) = noise.bin_of(k) else { continue };
            let inv = noise.inverse(b);
            for (x, rx) in r.iter_mut().enumerate().take(nb) {
                *rx = self.bank.response(x)[k];
            }
            let (mut hk, mut dk) = (0.0, Complex64::new(0.0, 0.0));
            for x in 0..nb {
                let gx: f64 = (0..nb).map(|y| inv[x * nb + y] * r[y]).sum();
                hk += r[x] * gx;
                dk += fourier[x][k] * gx;
            }
            h[k] = hk;
            data[k] = dk;
        }
        (h, data)
    }
}

impl Filtered {
    /// The filter that made this (its settings and geometry).
    pub fn mmf_filter(&self) -> &MmfFilter {
        &self.filter
    }

    /// θ500 of every scale, arcmin.
    pub fn scales(&self) -> &[f64] {
        self.filter.scales()
    }

    /// σ_θ of scale `s` in arcmin²: the error of Ŷ5R500, and the Y of q = 1.
    pub fn sigma(&self, s: usize) -> f64 {
        self.sigma[s]
    }

    /// ⟨k_x²⟩ of scale `s` in arcmin⁻², the spectral moment of the filtered noise (so the S/N map's
    /// gradient has variance ⟨k_x²⟩ per axis).
    pub fn kx2_per_arcmin2(&self, s: usize) -> f64 {
        self.kx2[s] / (RAD_TO_ARCMIN * RAD_TO_ARCMIN)
    }

    /// The S/N map q_θ of scale `s` (N² values, row-major).
    pub fn q_map(&self, s: usize) -> &[f32] {
        let len = self.filter.geometry().len();
        &self.q[s * len..(s + 1) * len]
    }

    /// The map of Ŷ_θ (arcmin²) of scale `s`.
    pub fn y_map(&self, s: usize) -> Vec<f64> {
        self.q_map(s).iter().map(|&q| q as f64 * self.sigma[s]).collect()
    }

    /// The highest q over the scales at every pixel, and the scale where it is reached.
    pub fn q_max_map(&self) -> (Vec<f32>, Vec<u16>) {
        let len = self.filter.geometry().len();
        let mut best = self.q_map(0).to_vec();
        let mut arg = vec![0u16; len];
        for s in 1..self.sigma.len() {
            for ((b, a), &q) in best.iter_mut().zip(arg.iter_mut()).zip(self.q_map(s)) {
                if q > *b {
                    *b = q;
                    *a = s as u16;
                }
            }
        }
        (best, arg)
    }

    /// The noise spectrum the filter used (after the iteration, if any).
    pub fn noise(&self) -> &NoiseSpectrum {
        &self.noise
    }

    /// Whether P was re-estimated with detections masked.
    pub fn iterated(&self) -> bool {
        self.iterated
    }

    /// Peaks with q ≥ `threshold`: pixels of the max-over-scales S/N map that are maxima of their
    /// 3×3 neighbourhood, outside the tapered border; the scale is the one of highest q there, and
    /// the position is refined to the maximum of the band-limited q_θ* (Newton steps on its Fourier
    /// series). Sorted by decreasing q.
    pub fn peaks(&self, threshold: f64) -> Vec<Measurement> {
        let n = self.filter.geometry().size;
        let margin = self.filter.cfg.taper_px.max(1);
        let (best, arg) = self.q_max_map();
        let mut out = Vec::new();
        for i in margin..n.saturating_sub(margin) {
            for j in margin..n - margin {
                let p = i * n + j;
                let v = best[p];
                if (v as f64) < threshold || !is_local_max(&best, n, i, j) {
                    continue;
                }
                let s = arg[p] as usize;
                let (pi, pj) = self.refine(s, i as f64, j as f64);
                out.push(self.photometry_at(pi, pj, s));
            }
        }
        out.sort_by(|a, b| b.snr.total_cmp(&a.snr));
        out
    }

    /// Photometry at fractional pixel (`i`, `j`) at the scale of highest q there (szifi's fixed
    /// position extraction with θ free).
    pub fn photometry(&self, i: f64, j: f64) -> Measurement {
        let q: Vec<f64> = (0..self.sigma.len()).map(|s| self.series(s, i, j, false)[0]).collect();
        let s = (0..q.len()).max_by(|&a, &b| q[a].total_cmp(&q[b])).unwrap_or(0);
        self.measurement(i, j, s, q[s])
    }

    /// Photometry at fractional pixel (`i`, `j`) and scale `s` (position and size fixed).
    pub fn photometry_at(&self, i: f64, j: f64, s: usize) -> Measurement {
        self.measurement(i, j, s, self.series(s, i, j, false)[0])
    }

    /// Photometry at fractional pixel (`i`, `j`) with the template of any `theta500_arcmin` (szifi's
    /// `extraction_mode = "fixed"`, e.g. at a cluster's true size); `scale` is the grid scale nearest.
    pub fn photometry_fixed(&self, i: f64, j: f64, theta500_arcmin: f64) -> Result<Measurement> {
        let bank = &self.filter.bank;
        let t = bank.profile_for(theta500_arcmin, &self.filter.fft)?;
        let (sigma, kx2) = self.filter.moments(&t, &self.h, theta500_arcmin)?;
        let q = self.series_of(&t, sigma, i, j, false)[0];
        let nearest = (0..self.sigma.len())
            .min_by(|&a, &b| {
                let d = |s: usize| (self.scales()[s] / theta500_arcmin).ln().abs();
                d(a).total_cmp(&d(b))
            })
            .unwrap_or(0);
        let kx = kx2.sqrt() / RAD_TO_ARCMIN;
        Ok(Measurement {
            i,
            j,
            scale: nearest,
            theta500_arcmin,
            snr: q,
            y5r500_arcmin2: q * sigma,
            y5r500_err_arcmin2: sigma,
            position_err_arcmin: if q > 0.0 { 1.0 / (q * kx) } else { f64::INFINITY },
        })
    }

    fn measurement(&self, i: f64, j: f64, s: usize, q: f64) -> Measurement {
        let kx = self.kx2_per_arcmin2(s).sqrt();
        Measurement {
            i,
            j,
            scale: s,
            theta500_arcmin: self.scales()[s],
            snr: q,
            y5r500_arcmin2: q * self.sigma[s],
            y5r500_err_arcmin2: self.sigma[s],
            position_err_arcmin: if q > 0.0 { 1.0 / (q * kx) } else { f64::INFINITY },
        }
    }

    /// The maximum of q_s near pixel (`i`, `j`) by Newton steps; the pixel itself if the surface is
    /// not concave there or the step leaves the pixel's neighbourhood.
    fn refine(&self, s: usize, i: f64, j: f64) -> (f64, f64) {
        let (mut x, mut y) = (i, j);
        for _ in 0..8 {
            let [_, gi, gj, hii, hij, hjj] = self.series(s, x, y, true);
            let det = hii * hjj - hij * hij;
            if hii >= 0.0 || det <= 0.0 {
                return (i, j);
            }
            let (dx, dy) = (-(hjj * gi - hij * gj) / det, -(hii * gj - hij * gi) / det);
            x += dx;
            y += dy;
            if (x - i).abs() > 1.0 || (y - j).abs() > 1.0 {
                return (i, j);
            }
            if dx.hypot(dy) < 1e-6 {
                break;
            }
        }
        (x, y)
    }

    /// q_s at fractional pixel (i, j), with its gradient and Hessian if `derivatives`.
    fn series(&self, s: usize, i: f64, j: f64, derivatives: bool) -> [f64; 6] {
        self.series_of(self.filter.bank.profile(s), self.sigma[s], i, j, derivatives)
    }

    /// The S/N of template `t` (σ_θ = `sigma`) at fractional pixel (i, j) from the Fourier series
    /// σ/N² Re Σ T̂D e^{ik·x} (exact between pixels for the band-limited map), and, if
    /// `derivatives`, its gradient and Hessian in pixel units: [q, ∂i, ∂j, ∂ii, ∂ij, ∂jj].
    fn series_of(&self, t: &[f64], sigma: f64, i: f64, j: f64, derivatives: bool) -> [f64; 6] {
        let n = self.filter.geometry().size;
        let (row, col) = (phases(n, i), phases(n, j));
        let omega: Vec<f64> = (0..n).map(|a| 2.0 * std::f64::consts::PI * signed_index(a, n) / n as f64).collect();
        let mut out = [0.0; 6];
        let iu = Complex64::new(0.0, 1.0);
        for a in 0..n {
            let (mut s0, mut s1, mut s2) = (Complex64::default(), Complex64::default(), Complex64::default());
            let (d, t) = (&self.data[a * n..(a + 1) * n], &t[a * n..(a + 1) * n]);
            for b in 0..n {
                let c = d[b] * t[b] * col[b];
                s0 += c;
                if derivatives {
                    s1 += c * omega[b];
                    s2 -= c * (omega[b] * omega[b]);
                }
            }
            let r0 = row[a] * s0;
            out[0] += r0.re;
            if derivatives {
                let (wa, r1) = (omega[a], row[a] * s1 * iu);
                out[1] += (r0 * iu * wa).re;
                out[2] += r1.re;
                out[3] -= (r0 * (wa * wa)).re;
                out[4] += (r1 * iu * wa).re;
                out[5] += (row[a] * s2).re;
            }
        }
        let scale = sigma / (n * n) as f64;
        out.map(|v| v * scale)
    }
}

/// Whether pixel (i, j) of `map` is ≥ its 8 neighbours, and > those before it in row-major order
/// (so a plateau yields one peak).
fn is_local_max(map: &[f32], n: usize, i: usize, j: usize) -> bool {
    let v = map[i * n + j];
    for a in i.saturating_sub(1)..=(i + 1).min(n - 1) {
        for b in j.saturating_sub(1)..=(j + 1).min(n - 1) {
            let w = map[a * n + b];
            let before = (a, b) < (i, j);
            if w > v || (before && w == v) {
                return false;
            }
        }
    }
    true
}
