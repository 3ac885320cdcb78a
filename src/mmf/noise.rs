//! The noise of the MMF: the bands' cross-power spectrum P(k) (MMF.md §3), estimated from the
//! patch itself or given analytically, regularised and inverted per |k| bin.
//!
//! In: the tapered Fourier transforms M̃_ν of one patch (or a function ℓ ↦ P(ℓ)) and a
//! [`Binning`]. Out: a [`NoiseSpectrum`], P and P⁻¹ per bin and the bin of every Fourier mode;
//! modes outside [ℓ_min, ℓ_max] and k = 0 belong to no bin, so the filter ignores them.
//!
//! Estimate: Ĉ_νν′(k) = Δ² Re[M̃_ν M̃*_ν′] / (N² ⟨w²⟩) (w the taper), averaged over annuli
//! `width` fundamentals wide; annuli with fewer than `min_modes` modes are merged with the next,
//! because P̂⁻¹ from n modes is biased by n/(n − N_f − 1) (inverse Wishart). Regularisation: P is
//! scaled to a correlation matrix (so that bands in K_CMB and in MJy/sr weigh alike), its
//! eigenvalues are floored at `eigen_floor`·λ_max, and the inverse is taken from the eigenvectors.

use rustfft::num_complex::Complex64;

use super::template::Geometry;
use crate::error::{ensure_param, Error, Result};

/// The bin of a mode the filter does not use.
pub(crate) const UNUSED: u32 = u32::MAX;

/// How P(k) is binned and regularised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Binning {
    /// Lowest multipole used (modes below are ignored).
    pub ell_min: f64,
    /// Highest multipole used.
    pub ell_max: f64,
    /// Annulus width in fundamentals 2π/(NΔ) (szifi: 2).
    pub width: f64,
    /// Fewest modes per annulus (counting k and −k); narrower annuli are merged.
    pub min_modes: usize,
    /// Eigenvalues of the correlation matrix are floored at this fraction of the largest.
    pub eigen_floor: f64,
}

impl Default for Binning {
    /// ℓ ∈ [100, 2500] (szifi on Planck), annuli of 2 fundamentals, ≥ 100 modes, floor 10⁻⁶.
    fn default() -> Self {
        Binning { ell_min: 100.0, ell_max: 2500.0, width: 2.0, min_modes: 100, eigen_floor: 1e-6 }
    }
}

impl Binning {
    /// Check the settings.
    pub fn validate(&self) -> Result<()> {
        ensure_param!(
            self.ell_min >= 0.0 && self.ell_max > self.ell_min,
            "mmf ell range",
            "need 0 ≤ ell_min < ell_max, got [{}, {}]",
            self.ell_min,
            self.ell_max
        );
        ensure_param!(self.width > 0.0, "mmf bin width", "must be > 0 fundamentals, got {}", self.width);
        ensure_param!(self.min_modes >= 1, "mmf min_modes", "must be at least 1, got {}", self.min_modes);
        ensure_param!(
            (0.0..1.0).contains(&self.eigen_floor),
            "mmf eigen_floor",
            "must be in [0, 1), got {}",
            self.eigen_floor
        );
        Ok(())
    }
}

/// P(k) and its regularised inverse, per bin of |k|, for N_f bands.
#[derive(Clone)]
pub struct NoiseSpectrum {
    n_bands: usize,
    bin_of: Vec<u32>,
    ell: Vec<f64>,
    modes: Vec<u32>,
    power: Vec<f64>,
    inverse: Vec<f64>,
}

impl std::fmt::Debug for NoiseSpectrum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseSpectrum")
            .field("bands", &self.n_bands)
            .field("bins", &self.ell.len())
            .field("ell", &(self.ell.first(), self.ell.last()))
            .finish()
    }
}

impl NoiseSpectrum {
    /// Estimate P from the tapered transforms `fourier` (one per band, N² each) of a patch whose
    /// taper has mean square `w2`.
    pub fn estimate(geometry: Geometry, fourier: &[Vec<Complex64>], w2: f64, binning: &Binning) -> Result<Self> {
        binning.validate()?;
        let nb = fourier.len();
        ensure_param!(nb > 0, "mmf bands", "at least one band is needed");
        ensure_param!(w2 > 0.0, "mmf taper", "the taper is zero everywhere");
        let ell = geometry.ell_grid();
        let (bin_of, nbins) = annuli(geometry, &ell, binning);
        ensure_param!(
            nbins > 0,
            "mmf ell range",
            "no Fourier mode of the patch lies in [{}, {}]",
            binning.ell_min,
            binning.ell_max
        );
        let mut sums = vec![0.0; nbins * nb * nb];
        let mut modes = vec![0u32; nbins];
        let mut ell_sum = vec![0.0; nbins];
        for (k, &b) in bin_of.iter().enumerate() {
            if b == UNUSED {
                continue;
            }
            let b = b as usize;
            modes[b] += 1;
            ell_sum[b] += ell[k];
            let s = &mut sums[b * nb * nb..(b + 1) * nb * nb];
            for x in 0..nb {
                for y in x..nb {
                    let (m, n) = (fourier[x][k], fourier[y][k]);
                    s[x * nb + y] += m.re * n.re + m.im * n.im;
                }
            }
        }
        let area = geometry.pixel_arcmin * geometry.pixel_arcmin;
        let norm = area / (geometry.len() as f64 * w2);
        for b in 0..nbins {
            let s = &mut sums[b * nb * nb..(b + 1) * nb * nb];
            for x in 0..nb {
                for y in x..nb {
                    let v = s[x * nb + y] * norm / modes[b] as f64;
                    s[x * nb + y] = v;
                    s[y * nb + x] = v;
                }
            }
        }
        let ell_mean = ell_sum.iter().zip(&modes).map(|(s, &m)| s / m as f64).collect();
        Self::from_parts(nb, bin_of, ell_mean, modes, sums, binning.eigen_floor)
    }

    /// P given by `power(ℓ)` (N_f² values, row-major, in map units² × arcmin²) for the modes with
    /// ℓ ∈ [`ell_min`, `ell_max`], exactly per |k| (one bin per distinct |k|).
    pub fn from_fn(
        geometry: Geometry,
        n_bands: usize,
        (ell_min, ell_max): (f64, f64),
        eigen_floor: f64,
        power: impl Fn(f64) -> Vec<f64>,
    ) -> Result<Self> {
        ensure_param!(n_bands > 0, "mmf bands", "at least one band is needed");
        ensure_param!(ell_max > ell_min, "mmf ell range", "need ell_min < ell_max, got [{ell_min}, {ell_max}]");
        let n = geometry.size;
        let ell = geometry.ell_grid();
        // |k|² in fundamentals² is an integer: one bin per distinct value.
        let f2 = |p: usize| {
            let (a, b) = (super::fft::signed_index(p / n, n), super::fft::signed_index(p % n, n));
            (a * a + b * b) as usize
        };
        let mut bin_of_f2 = vec![UNUSED; n * n / 2 + n + 1];
        let mut bin_of = vec![UNUSED; n * n];
        let (mut ells, mut modes) = (Vec::new(), Vec::new());
        for p in 1..n * n {
            if ell[p] < ell_min || ell[p] > ell_max {
                continue;
            }
            let slot = &mut bin_of_f2[f2(p)];
            if *slot == UNUSED {
                *slot = ells.len() as u32;
                ells.push(ell[p]);
                modes.push(0);
            }
            bin_of[p] = *slot;
            modes[*slot as usize] += 1;
        }
        let mut powers = Vec::with_capacity(ells.len() * n_bands * n_bands);
        for &l in &ells {
            let p = power(l);
            ensure_param!(
                p.len() == n_bands * n_bands,
                "mmf noise power",
                "P(ℓ) must have {} values ({n_bands} bands squared), got {}",
                n_bands * n_bands,
                p.len()
            );
            powers.extend(p);
        }
        Self::from_parts(n_bands, bin_of, ells, modes, powers, eigen_floor)
    }

    fn from_parts(
        n_bands: usize,
        bin_of: Vec<u32>,
        ell: Vec<f64>,
        modes: Vec<u32>,
        power: Vec<f64>,
        floor: f64,
    ) -> Result<Self> {
        let nn = n_bands * n_bands;
        let mut inverse = vec![0.0; power.len()];
        for (b, (p, inv)) in power.chunks(nn).zip(inverse.chunks_mut(nn)).enumerate() {
            regularised_inverse(p, n_bands, floor, inv)
                .map_err(|m| Error::param("mmf noise power", format!("bin at ℓ ≈ {:.0}: {m}", ell[b])))?;
        }
        Ok(NoiseSpectrum { n_bands, bin_of, ell, modes, power, inverse })
    }

    /// Number of bands.
    pub fn n_bands(&self) -> usize {
        self.n_bands
    }

    /// Number of |k| bins.
    pub fn n_bins(&self) -> usize {
        self.ell.len()
    }

    /// Mean ℓ of bin `b`.
    pub fn bin_ell(&self, b: usize) -> f64 {
        self.ell[b]
    }

    /// Fourier modes in bin `b`.
    pub fn bin_modes(&self, b: usize) -> u32 {
        self.modes[b]
    }

    /// P of bin `b` (N_f² values, row-major; map units² × arcmin²), before regularisation.
    pub fn power(&self, b: usize) -> &[f64] {
        let nn = self.n_bands * self.n_bands;
        &self.power[b * nn..(b + 1) * nn]
    }

    /// The regularised P⁻¹ of bin `b`.
    pub fn inverse(&self, b: usize) -> &[f64] {
        let nn = self.n_bands * self.n_bands;
        &self.inverse[b * nn..(b + 1) * nn]
    }

    /// The bin of every Fourier mode (FFT layout), `None` where the filter ignores the mode.
    pub fn bin_of(&self, k: usize) -> Option<usize> {
        let b = self.bin_of[k];
        (b != UNUSED).then_some(b as usize)
    }

    pub(crate) fn bins(&self) -> &[u32] {
        &self.bin_of
    }
}

/// The annulus of every mode (UNUSED outside the ℓ range and at k = 0) and the number of annuli.
fn annuli(geometry: Geometry, ell: &[f64], binning: &Binning) -> (Vec<u32>, usize) {
    let step = binning.width * geometry.fundamental();
    let base = |l: f64| ((l - binning.ell_min) / step).floor() as usize;
    let used = |k: usize| k != 0 && ell[k] >= binning.ell_min && ell[k] <= binning.ell_max;
    let n_base = base(binning.ell_max) + 1;
    let mut counts = vec![0usize; n_base];
    for k in (0..ell.len()).filter(|&k| used(k)) {
        counts[base(ell[k])] += 1;
    }
    // Merge consecutive annuli until each holds min_modes; a short last one joins its neighbour.
    let mut merged = vec![0u32; n_base];
    let (mut bin, mut held, mut total_bins) = (0u32, 0usize, 0usize);
    for (a, &c) in counts.iter().enumerate() {
        merged[a] = bin;
        held += c;
        if held >= binning.min_modes {
            total_bins = bin as usize + 1;
            bin += 1;
            held = 0;
        }
    }
    if held > 0 {
        if total_bins == 0 {
            total_bins = 1;
        } else {
            merged.iter_mut().filter(|m| **m as usize == total_bins).for_each(|m| *m = total_bins as u32 - 1);
        }
    }
    let bin_of = (0..ell.len()).map(|k| if used(k) { merged[base(ell[k])] } else { UNUSED }).collect();
    (bin_of, total_bins)
}

/// P⁻¹ of a symmetric `p` (n×n): scaled to a correlation matrix, eigenvalues floored at
/// `floor`·λ_max, inverted and scaled back. Bands with no power get zero rows (they are ignored).
pub(crate) fn regularised_inverse(p: &[f64], n: usize, floor: f64, out: &mut [f64]) -> std::result::Result<(), String> {
    out.iter_mut().for_each(|v| *v = 0.0);
    if p.iter().any(|v| !v.is_finite()) {
        return Err("P has non-finite values (a map with NaN or infinite pixels?)".into());
    }
    let active: Vec<usize> = (0..n).filter(|&i| p[i * n + i] > 0.0).collect();
    let m = active.len();
    if m == 0 {
        return Ok(());
    }
    let d: Vec<f64> = active.iter().map(|&i| p[i * n + i].sqrt()).collect();
    let mut a = vec![0.0; m * m];
    for (x, &i) in active.iter().enumerate() {
        for (y, &j) in active.iter().enumerate() {
            a[x * m + y] = 0.5 * (p[i * n + j] + p[j * n + i]) / (d[x] * d[y]);
        }
    }
    let mut v = vec![0.0; m * m];
    jacobi_eigen(&mut a, &mut v, m);
    let lmax = (0..m).map(|i| a[i * m + i]).fold(f64::MIN, f64::max);
    let inv_l: Vec<f64> = (0..m).map(|i| 1.0 / a[i * m + i].max(floor * lmax).max(f64::MIN_POSITIVE)).collect();
    for (x, &i) in active.iter().enumerate() {
        for (y, &j) in active.iter().enumerate() {
            let s: f64 = (0..m).map(|e| v[x * m + e] * inv_l[e] * v[y * m + e]).sum();
            out[i * n + j] = s / (d[x] * d[y]);
        }
    }
    Ok(())
}

/// Eigen-decomposition of the symmetric n×n `a` by cyclic Jacobi rotations (n ≤ 7 here): on return
/// the diagonal of `a` holds the eigenvalues and the columns of `v` the eigenvectors.
pub(crate) fn jacobi_eigen(a: &mut [f64], v: &mut [f64], n: usize) {
    v.iter_mut().enumerate().for_each(|(k, x)| *x = if k / n == k % n { 1.0 } else { 0.0 });
    let scale: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..64 {
        let off: f64 = (0..n).flat_map(|p| (p + 1..n).map(move |q| (p, q))).map(|(p, q)| a[p * n + q].powi(2)).sum();
        if off <= 1e-30 * scale {
            return;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                rotate(a, n, p, q, c, s);
                for k in 0..n {
                    let (vp, vq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vp - s * vq;
                    v[k * n + q] = s * vp + c * vq;
                }
            }
        }
    }
}

/// A ← Jᵀ A J for the Jacobi rotation J of (p, q) by (c, s).
fn rotate(a: &mut [f64], n: usize, p: usize, q: usize, c: f64, s: f64) {
    for k in 0..n {
        let (akp, akq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
    }
    for k in 0..n {
        let (apk, aqk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
    }
}

/// The separable cosine taper: 0.5(1 − cos(π(i + ½)/W)) over the outer `width` pixels of each axis.
pub(crate) fn taper(n: usize, width: usize) -> Vec<f64> {
    let edge = |i: usize| {
        let d = i.min(n - 1 - i);
        if d < width {
            0.5 * (1.0 - (std::f64::consts::PI * (d as f64 + 0.5) / width as f64).cos())
        } else {
            1.0
        }
    };
    let t: Vec<f64> = (0..n).map(edge).collect();
    (0..n * n).map(|p| t[p / n] * t[p % n]).collect()
}

/// Fill the `masked` pixels of an n×n `map` by diffusion (Gauss–Seidel sweeps of the 4-neighbour
/// mean, starting from the mean of the unmasked pixels), so that holes carry no edge into P(k).
pub(crate) fn inpaint(map: &mut [f64], masked: &[usize], n: usize, sweeps: usize) {
    if masked.is_empty() {
        return;
    }
    let mut is_masked = vec![false; map.len()];
    masked.iter().for_each(|&p| is_masked[p] = true);
    let kept = map.len() - masked.len();
    let mean = if kept > 0 {
        map.iter().zip(&is_masked).filter(|(_, m)| !**m).map(|(v, _)| v).sum::<f64>() / kept as f64
    } else {
        0.0
    };
    masked.iter().for_each(|&p| map[p] = mean);
    for _ in 0..sweeps {
        for &p in masked {
            let (i, j) = (p / n, p % n);
            let (mut s, mut c) = (0.0, 0.0);
            for (a, b) in [(i.wrapping_sub(1), j), (i + 1, j), (i, j.wrapping_sub(1)), (i, j + 1)] {
                if a < n && b < n {
                    s += map[a * n + b];
                    c += 1.0;
                }
            }
            map[p] = s / c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_reconstructs_a_symmetric_matrix() {
        let n = 4;
        let a0 = [4.0, 1.0, -2.0, 0.5, 1.0, 3.0, 0.0, 1.5, -2.0, 0.0, 5.0, -1.0, 0.5, 1.5, -1.0, 2.0];
        let mut a = a0.to_vec();
        let mut v = vec![0.0; 16];
        jacobi_eigen(&mut a, &mut v, n);
        for i in 0..n {
            for j in 0..n {
                let r: f64 = (0..n).map(|e| v[i * n + e] * a[e * n + e] * v[j * n + e]).sum();
                assert!((r - a0[i * n + j]).abs() < 1e-12, "({i},{j}): {r} vs {}", a0[i * n + j]);
            }
        }
        // Trace is preserved: 4 + 3 + 5 + 2.
        assert!(((0..n).map(|i| a[i * n + i]).sum::<f64>() - 14.0).abs() < 1e-12);
    }

    #[test]
    fn regularised_inverse_is_the_inverse_of_a_well_conditioned_matrix() {
        // A 3×3 covariance with very different band units (1e-10 and 1e2).
        let s = [1e-5, 1.0, 10.0];
        let c = [1.0, 0.3, 0.1, 0.3, 1.0, 0.5, 0.1, 0.5, 1.0];
        let p: Vec<f64> = (0..9).map(|k| c[k] * s[k / 3] * s[k % 3]).collect();
        let mut inv = vec![0.0; 9];
        regularised_inverse(&p, 3, 1e-6, &mut inv).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let e: f64 = (0..3).map(|k| p[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((e - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9, "(P P⁻¹)[{i},{j}] = {e}");
            }
        }
    }

    #[test]
    fn singular_matrix_is_floored_not_infinite() {
        // Rank one (a pure common mode): the floor keeps the inverse finite, ≈ 1e6 along the null space.
        let p = [1.0, 1.0, 1.0, 1.0];
        let mut inv = vec![0.0; 4];
        regularised_inverse(&p, 2, 1e-6, &mut inv).unwrap();
        assert!(inv.iter().all(|v| v.is_finite()));
        let null = (inv[0] - inv[1] - inv[2] + inv[3]) / 2.0; // (1,−1)/√2 direction
        assert!((null / 1e6 - 0.5).abs() < 1e-3, "{null}");
    }

    #[test]
    fn annuli_hold_at_least_min_modes() {
        let g = Geometry { size: 64, pixel_arcmin: 1.7 };
        let b = Binning { ell_min: 100.0, ell_max: 6000.0, width: 2.0, min_modes: 100, eigen_floor: 1e-6 };
        let ell = g.ell_grid();
        let (bins, n) = annuli(g, &ell, &b);
        let mut counts = vec![0; n];
        bins.iter().filter(|&&x| x != UNUSED).for_each(|&x| counts[x as usize] += 1);
        assert!(counts.iter().all(|&c| c >= 100), "{counts:?}");
        assert_eq!(bins[0], UNUSED);
        assert_eq!(
            counts.iter().sum::<usize>(),
            ell.iter().skip(1).filter(|&&l| (100.0..=6000.0).contains(&l)).count()
        );
    }
}
