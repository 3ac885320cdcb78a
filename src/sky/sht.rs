//! Spherical-harmonic synthesis and analysis on the HEALPix grid.
//!
//! In: harmonic coefficients a_ℓm (healpy's layout) or a RING map. Out: the map
//! f(θ, φ) = Σ_ℓm a_ℓm Y_ℓm(θ, φ) ([`alm2map`], equal to healpy's `alm2map`), the coefficients back
//! ([`map2alm`], healpy's `map2alm` without iterations) and the power spectrum C_ℓ ([`anafast`]).
//!
//! Ring by ring: the Legendre sums f_m(θ) = Σ_ℓ a_ℓm λ_ℓm(cos θ) (λ the normalised associated
//! Legendre functions, by the standard three-term recursion in ℓ, with an exponent kept beside
//! the value so that sin^m θ never underflows), then one FFT per ring for the sum over m. North and
//! south rings share their recursion (λ_ℓm(−z) = (−1)^(ℓ+m) λ_ℓm(z)), and several coefficient sets
//! share it too ([`alm2map_many`]). Rings run in parallel with rayon.

use std::f64::consts::PI;

use rand::Rng;
use rayon::prelude::*;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

use super::{Grid, HealpixMap, Ordering};
use crate::error::{ensure_param, Result};

/// Harmonic coefficients a_ℓm for 0 ≤ m ≤ ℓ ≤ lmax (m < 0 follow from the map being real), in
/// healpy's order: index(ℓ, m) = m(2·lmax + 1 − m)/2 + ℓ.
#[derive(Debug, Clone, PartialEq)]
pub struct Alm {
    lmax: usize,
    data: Vec<Complex64>,
}

impl Alm {
    /// All-zero coefficients up to `lmax`.
    pub fn zeros(lmax: usize) -> Self {
        Alm { lmax, data: vec![Complex64::new(0.0, 0.0); (lmax + 1) * (lmax + 2) / 2] }
    }

    /// Coefficients from healpy's flat layout.
    pub fn from_vec(lmax: usize, data: Vec<Complex64>) -> Result<Self> {
        let n = (lmax + 1) * (lmax + 2) / 2;
        ensure_param!(data.len() == n, "alm", "lmax {lmax} needs {n} coefficients, got {}", data.len());
        Ok(Alm { lmax, data })
    }

    /// A Gaussian random field with power spectrum `cl` (C_ℓ for ℓ = 0…lmax): a_ℓ0 ~ N(0, C_ℓ) real,
    /// Re and Im of a_ℓm ~ N(0, C_ℓ/2) for m > 0 (healpy's `synalm`).
    pub fn gaussian(cl: &[f64], rng: &mut impl Rng) -> Self {
        let lmax = cl.len().saturating_sub(1);
        let mut alm = Alm::zeros(lmax);
        let mut normal = || standard_normal(rng);
        for m in 0..=lmax {
            for (l, &c) in cl.iter().enumerate().skip(m) {
                let sd = c.max(0.0).sqrt();
                alm.data[Self::index_in(lmax, l, m)] = if m == 0 {
                    Complex64::new(sd * normal(), 0.0)
                } else {
                    Complex64::new(sd * normal(), sd * normal()) * std::f64::consts::FRAC_1_SQRT_2
                };
            }
        }
        alm
    }

    /// The largest ℓ.
    pub fn lmax(&self) -> usize {
        self.lmax
    }

    /// The flat coefficients.
    pub fn data(&self) -> &[Complex64] {
        &self.data
    }

    fn index_in(lmax: usize, l: usize, m: usize) -> usize {
        m * (2 * lmax + 1 - m) / 2 + l
    }

    /// a_ℓm.
    pub fn get(&self, l: usize, m: usize) -> Complex64 {
        self.data[Self::index_in(self.lmax, l, m)]
    }

    /// Multiply every a_ℓm by `f(ℓ)` (a beam or window b_ℓ, a transfer function).
    pub fn scale_by(&mut self, f: impl Fn(usize) -> f64) {
        let lmax = self.lmax;
        let fl: Vec<f64> = (0..=lmax).map(f).collect();
        for m in 0..=lmax {
            let base = Self::index_in(lmax, 0, m);
            for (a, &s) in self.data[base + m..=base + lmax].iter_mut().zip(&fl[m..]) {
                *a *= s;
            }
        }
    }

    /// The power spectrum C_ℓ = (|a_ℓ0|² + 2 Σ_m>0 |a_ℓm|²) / (2ℓ + 1).
    pub fn power_spectrum(&self) -> Vec<f64> {
        (0..=self.lmax)
            .map(|l| {
                let s: f64 = (0..=l).map(|m| self.get(l, m).norm_sqr() * if m == 0 { 1.0 } else { 2.0 }).sum();
                s / (2 * l + 1) as f64
            })
            .collect()
    }
}

/// A standard normal draw (Box–Muller: rand's own normal lives in rand_distr, one more crate for one line).
pub(crate) fn standard_normal(rng: &mut impl Rng) -> f64 {
    let (u, v): (f64, f64) = (rng.gen::<f64>().max(f64::MIN_POSITIVE), rng.gen());
    (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
}

/// Gaussian beam transfer b_ℓ = exp(−ℓ(ℓ+1)σ²/2), σ = FWHM/√(8 ln 2).
pub fn gaussian_beam(fwhm_arcmin: f64, l: usize) -> f64 {
    let sigma = (fwhm_arcmin / 60.0).to_radians() / (8.0 * 2f64.ln()).sqrt();
    (-((l * (l + 1)) as f64) * sigma * sigma / 2.0).exp()
}

/// Recursion coefficients of λ_ℓm for all (ℓ, m), in the alm layout, and the starting values' parts.
struct Legendre {
    lmax: usize,
    /// (a_ℓm, b_ℓm): λ_ℓm = a (z λ_ℓ−1,m − b λ_ℓ−2,m).
    ab: Vec<(f64, f64)>,
    /// log2 of √((2m+1)/4π · Π (2k−1)/2k), the factor of sin^m θ in λ_mm (sign (−1)^m aside).
    log2_mm: Vec<f64>,
}

/// Values are rescaled by 2^±SCALE_BITS; a value whose exponent is negative is below 2^−600 and
/// contributes nothing.
const SCALE_BITS: i32 = 600;

impl Legendre {
    fn new(lmax: usize) -> Self {
        let mut ab = vec![(0.0, 0.0); (lmax + 1) * (lmax + 2) / 2];
        for m in 0..=lmax {
            for l in m + 1..=lmax {
                let (lf, mf) = (l as f64, m as f64);
                let a = ((4.0 * lf * lf - 1.0) / (lf * lf - mf * mf)).sqrt();
                let b = if l >= m + 2 {
                    (((lf - 1.0) * (lf - 1.0) - mf * mf) / (4.0 * (lf - 1.0) * (lf - 1.0) - 1.0)).sqrt()
                } else {
                    0.0
                };
                ab[Alm::index_in(lmax, l, m)] = (a, b);
            }
        }
        let mut log2_mm = Vec::with_capacity(lmax + 1);
        let mut acc = (1.0 / (4.0 * PI)).log2();
        for m in 0..=lmax {
            if m > 0 {
                acc += ((2 * m - 1) as f64 / (2 * m) as f64).log2();
            }
            log2_mm.push(0.5 * (acc + ((2 * m + 1) as f64).log2()));
        }
        Legendre { lmax, ab, log2_mm }
    }

    /// For each coefficient set, f_m on the north (+z) and south (−z) ring of the pair at `z`:
    /// `north[k][m]`, `south[k][m]`.
    fn ring_sums(
        &self,
        sets: &[&Alm],
        z: f64,
        sin_theta: f64,
        north: &mut [Vec<Complex64>],
        south: &mut [Vec<Complex64>],
    ) {
        let lmax = self.lmax;
        let zero = Complex64::new(0.0, 0.0);
        let (mut even, mut odd) = (vec![zero; sets.len()], vec![zero; sets.len()]);
        for m in 0..=lmax {
            even.fill(zero);
            odd.fill(zero);
            let base = Alm::index_in(lmax, 0, m);
            self.walk(m, z, sin_theta, |l, p| {
                let target = if (l - m) % 2 == 0 { &mut even } else { &mut odd };
                for (k, set) in sets.iter().enumerate() {
                    target[k] += set.data[base + l] * p;
                }
            });
            for k in 0..sets.len() {
                north[k][m] = even[k] + odd[k];
                south[k][m] = even[k] - odd[k];
            }
        }
    }

    /// Call `visit(ℓ, λ_ℓm(z))` for ℓ = m…lmax where λ is not negligible (> 2^−600).
    #[inline]
    fn walk(&self, m: usize, z: f64, sin_theta: f64, mut visit: impl FnMut(usize, f64)) {
        let big = (SCALE_BITS as f64).exp2();
        // λ_mm = (−1)^m 2^lg, lg < 0, kept as p · 2^(SCALE_BITS·scale) with scale ≤ 0 and p ≤ 1.
        let lg = self.log2_mm[m] + m as f64 * sin_theta.log2();
        let mut scale = (lg / SCALE_BITS as f64).floor() as i32 + 1;
        let sign = if m.is_multiple_of(2) { 1.0 } else { -1.0 };
        let (mut p2, mut p1) = (0.0, sign * (lg - (scale * SCALE_BITS) as f64).exp2());
        let base = Alm::index_in(self.lmax, 0, m);
        for l in m..=self.lmax {
            if l > m {
                let (a, b) = self.ab[base + l];
                (p2, p1) = (p1, a * (z * p1 - b * p2));
            }
            if scale < 0 && p1.abs() > big {
                p1 /= big;
                p2 /= big;
                scale += 1;
            }
            if scale == 0 {
                visit(l, p1);
            }
        }
    }
}

/// The RING map of `alm` at `nside` (healpy `alm2map(alm, nside, lmax)`).
pub fn alm2map(alm: &Alm, nside: u32) -> Result<HealpixMap> {
    Ok(alm2map_many(&[alm], nside)?.pop().unwrap_or_else(|| unreachable!("one set in, one map out")))
}

/// The RING maps of several coefficient sets (all with the same lmax) at `nside`, sharing the
/// Legendre recursion: cheaper than one [`alm2map`] per set.
pub fn alm2map_many(sets: &[&Alm], nside: u32) -> Result<Vec<HealpixMap>> {
    let grid = Grid::new(nside, Ordering::Ring)?;
    let Some(first) = sets.first() else { return Ok(Vec::new()) };
    let lmax = first.lmax;
    ensure_param!(sets.iter().all(|s| s.lmax == lmax), "alm", "every coefficient set must have the same lmax");
    let legendre = Legendre::new(lmax);
    let n_rings = 4 * nside as usize - 1;
    let npix = grid.npix() as usize;
    let mut maps: Vec<Vec<f32>> = vec![vec![0.0; npix]; sets.len()];
    // Hand each ring pair the disjoint slices of its two rings in every map, so rings are written
    // in place, in parallel, with no copy of the maps.
    let mut pairs: Vec<RingPair> = (1..=2 * nside as usize).map(|r| (r, Vec::new(), Vec::new())).collect();
    for map in maps.iter_mut() {
        let mut rest: &mut [f32] = map;
        for r in 1..=n_rings {
            let len = grid.ring_info(r as u64).len as usize;
            let (ring, tail) = std::mem::take(&mut rest).split_at_mut(len);
            rest = tail;
            if r <= 2 * nside as usize {
                pairs[r - 1].1.push(ring);
            } else {
                pairs[n_rings - r].2.push(ring);
            }
        }
    }
    pairs.par_iter_mut().for_each_init(FftPlanner::<f64>::new, |planner, (r, north_rings, south_rings)| {
        let ring = grid.ring_info(*r as u64);
        let (sin_t, z) = ring.theta.sin_cos();
        let mut north = vec![vec![Complex64::new(0.0, 0.0); lmax + 1]; sets.len()];
        let mut south = north.clone();
        legendre.ring_sums(sets, z, sin_t, &mut north, &mut south);
        for (f, out) in north.iter().zip(north_rings.iter_mut()) {
            ring_values(planner, &ring, f, out);
        }
        let mirror = grid.ring_info((n_rings + 1 - *r) as u64);
        for (f, out) in south.iter().zip(south_rings.iter_mut()) {
            ring_values(planner, &mirror, f, out);
        }
    });
    maps.into_iter().map(|data| HealpixMap::new(nside, Ordering::Ring, "", data)).collect()
}

/// A ring pair's index and its north and south ring slices in every map.
type RingPair<'a> = (usize, Vec<&'a mut [f32]>, Vec<&'a mut [f32]>);

/// Pixel values of one ring from its f_m (m = 0…lmax): Σ_m f_m e^{imφ} + c.c., by an FFT of the
/// ring length with m folded modulo it.
fn ring_values(planner: &mut FftPlanner<f64>, ring: &super::healpix::RingInfo, f: &[Complex64], out: &mut [f32]) {
    let n = ring.len as usize;
    let phi0 = if ring.shifted { PI / n as f64 } else { 0.0 };
    let mut g = vec![Complex64::new(0.0, 0.0); n];
    for (m, &fm) in f.iter().enumerate() {
        let rot = Complex64::from_polar(1.0, m as f64 * phi0);
        g[m % n] += fm * rot;
        if m > 0 {
            g[(n - m % n) % n] += (fm * rot).conj();
        }
    }
    planner.plan_fft_inverse(n).process(&mut g);
    for (o, c) in out.iter_mut().zip(g) {
        *o = c.re as f32;
    }
}

/// The coefficients of a map up to `lmax` by quadrature with equal pixel weights 4π/npix (healpy
/// `map2alm(map, lmax, iter=0, use_weights=False)`). Accurate to ~1e-3 for band-limited maps
/// with lmax ≤ 2·nside; enough for power spectra.
pub fn map2alm(map: &HealpixMap, lmax: usize) -> Result<Alm> {
    let map = map.clone().to_ordering(Ordering::Ring);
    let nside = map.nside;
    let grid = Grid::new(nside, Ordering::Ring)?;
    let legendre = Legendre::new(lmax);
    let n_rings = 4 * nside as u64 - 1;
    let w = 4.0 * PI / grid.npix() as f64;
    let per_pair: Vec<Alm> = (1..=2 * nside as u64)
        .into_par_iter()
        .map_init(FftPlanner::<f64>::new, |planner, r| {
            let ring = grid.ring_info(r);
            let (sin_t, z) = ring.theta.sin_cos();
            let fn_ = ring_modes(planner, &ring, &map.data, lmax, w);
            let mirror = n_rings + 1 - r;
            let fs = if mirror != r {
                ring_modes(planner, &grid.ring_info(mirror), &map.data, lmax, w)
            } else {
                vec![Complex64::new(0.0, 0.0); lmax + 1]
            };
            // a_ℓm = Σ_rings λ_ℓm(z) F_m: the transpose of the synthesis sums.
            let mut alm = Alm::zeros(lmax);
            legendre.accumulate(&mut alm, z, sin_t, &fn_, &fs);
            alm
        })
        .collect();
    let mut alm = Alm::zeros(lmax);
    for a in per_pair {
        for (x, y) in alm.data.iter_mut().zip(a.data) {
            *x += y;
        }
    }
    Ok(alm)
}

/// w · Σ_j map_j e^{−imφ_j} for m = 0…lmax on one ring.
fn ring_modes(
    planner: &mut FftPlanner<f64>,
    ring: &super::healpix::RingInfo,
    data: &[f32],
    lmax: usize,
    w: f64,
) -> Vec<Complex64> {
    let n = ring.len as usize;
    let phi0 = if ring.shifted { PI / n as f64 } else { 0.0 };
    let mut g: Vec<Complex64> =
        data[ring.start as usize..ring.start as usize + n].iter().map(|&x| Complex64::new(x as f64, 0.0)).collect();
    planner.plan_fft_forward(n).process(&mut g);
    (0..=lmax).map(|m| g[m % n] * Complex64::from_polar(w, -(m as f64) * phi0)).collect()
}

impl Legendre {
    /// alm += λ_ℓm(z) north_m + λ_ℓm(−z) south_m for one ring pair.
    fn accumulate(&self, alm: &mut Alm, z: f64, sin_theta: f64, north: &[Complex64], south: &[Complex64]) {
        for m in 0..=self.lmax {
            let (even, odd) = (north[m] + south[m], north[m] - south[m]);
            let base = Alm::index_in(self.lmax, 0, m);
            self.walk(m, z, sin_theta, |l, p| {
                alm.data[base + l] += if (l - m) % 2 == 0 { even } else { odd } * p;
            });
        }
    }
}

/// The angular power spectrum C_ℓ (ℓ = 0…lmax) of a map (healpy `anafast` with iter=0).
pub fn anafast(map: &HealpixMap, lmax: usize) -> Result<Vec<f64>> {
    Ok(map2alm(map, lmax)?.power_spectrum())
}
