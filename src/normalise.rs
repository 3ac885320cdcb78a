//! Normalisation: one scale σ per band, fitted on the training split only.
//!
//! In: the training patches (or the training tiles of a sky). Out: a [`Normaliser`] holding σ per
//! band, which maps every value x to `x/σ` (or `arcsinh(x/σ)` with range compression) for the
//! training, validation and test patches and every later prediction, and is saved as JSON next to a
//! model. σ is either astropy's `mad_std` (1.482602218505602 × median |x − median x|; the median is
//! not subtracted from x) or the width of a Gaussian fitted to the histogram mirrored about its mode.
//!
//! Medians of 10⁸ values are exact without sorting or copying them: a histogram narrows the search
//! to one bin per pass, and the few values left in that bin are selected in place of a sort.

use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ensure_param, Error, Result};
use crate::output::write_atomic;
use crate::patches::Patches;
use crate::sky::{Band, Ordering, Sky};
use crate::tiles::{Split, Tiling};

/// astropy's `mad_std` factor, 1/Φ⁻¹(3/4).
pub const MAD_TO_STD: f64 = 1.482602218505602;
/// Bins of the mode-fit histogram (the original's 200).
pub const MODE_FIT_BINS: usize = 200;

/// How σ is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// astropy `mad_std`.
    Mad,
    /// |σ| of a Gaussian fitted to the histogram (200 bins) up to its mode, mirrored about the mode.
    FitUpToMode,
}

/// A normaliser still to be fitted: the method and whether to compress the range.
/// `NormaliserSpec::default()` is the params file's (`fit_up_to_mode`, `range_compression`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormaliserSpec {
    method: Method,
    range_compression: bool,
}

impl NormaliserSpec {
    /// Apply `arcsinh(x/σ)` instead of `x/σ` (default on).
    pub fn range_compression(mut self, on: bool) -> Self {
        self.range_compression = on;
        self
    }

    /// Fit σ per band over every pixel of `train` (the training patches).
    pub fn fit(self, train: &Patches) -> Result<Normaliser> {
        ensure_param!(!train.is_empty(), "normaliser", "cannot fit on an empty set of patches");
        ensure_param!(!train.is_normalised(), "normaliser", "these patches are already normalised");
        let hw = train.size() * train.size();
        let sigma = (0..train.bands().len())
            .map(|c| {
                let chunks: Vec<&[f32]> = (0..train.len()).map(|n| train.image(n, c)).collect();
                self.sigma(&chunks)
            })
            .collect::<Result<Vec<f64>>>()?;
        debug_assert!(hw > 0);
        self.build(train.bands().to_vec(), sigma)
    }

    /// Fit σ per band over every map pixel of the training tiles of `sky`: the same σ for every shard
    /// of a sharded run, whatever patches it cuts.
    pub fn fit_sky(self, sky: &Sky, tiling: &Tiling, bands: &[Band]) -> Result<Normaliser> {
        let train = tiling.tiles(Split::Train);
        let sigma = bands
            .iter()
            .map(|&b| {
                let map = sky.band(b).ok_or_else(|| Error::param("bands", format!("band {b} is not in the sky")))?;
                match map.ordering {
                    // Each nside-2 tile is one contiguous run of NESTED pixels: no copy needed.
                    Ordering::Nested => {
                        let per_tile = map.npix() / crate::tiles::N_TILES as usize;
                        let grid = Tiling::grid();
                        let chunks: Vec<&[f32]> = train
                            .iter()
                            .map(|&t| {
                                let first = grid.ring2nest(t as u64) as usize * per_tile;
                                &map.data[first..first + per_tile]
                            })
                            .collect();
                        self.sigma(&chunks)
                    }
                    Ordering::Ring => {
                        let mut values = Vec::new();
                        for &t in &train {
                            values.extend(Tiling::pixels(t, map.grid())?.into_iter().map(|p| map.data[p as usize]));
                        }
                        self.sigma(&[&values])
                    }
                }
            })
            .collect::<Result<Vec<f64>>>()?;
        self.build(bands.to_vec(), sigma)
    }

    /// A normaliser with given σ per band.
    pub fn with_sigma(self, bands: Vec<Band>, sigma: Vec<f64>) -> Result<Normaliser> {
        self.build(bands, sigma)
    }

    fn sigma(&self, chunks: &[&[f32]]) -> Result<f64> {
        match self.method {
            Method::Mad => mad_std(chunks),
            Method::FitUpToMode => mode_fit_sigma(chunks),
        }
    }

    fn build(self, bands: Vec<Band>, sigma: Vec<f64>) -> Result<Normaliser> {
        ensure_param!(bands.len() == sigma.len(), "normaliser", "{} bands but {} sigmas", bands.len(), sigma.len());
        for (b, s) in bands.iter().zip(&sigma) {
            ensure_param!(
                s.is_finite() && *s > 0.0,
                "normaliser",
                "σ of band {b} is {s}: the band is constant or empty, so it cannot be normalised"
            );
        }
        Ok(Normaliser { method: self.method, range_compression: self.range_compression, bands, sigma })
    }
}

/// σ per band and how to apply it. Fitted with [`Normaliser::mad`] / [`Normaliser::fit_up_to_mode`].
///
/// ```
/// # use xcluster::normalise::Normaliser;
/// # use xcluster::sky::Band;
/// let n = Normaliser::mad().range_compression(true).with_sigma(vec![Band::F143], vec![2.0]).unwrap();
/// assert_eq!(n.transform(0, 4.0), 2.0f32.asinh());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normaliser {
    method: Method,
    range_compression: bool,
    bands: Vec<Band>,
    sigma: Vec<f64>,
}

impl Normaliser {
    /// MAD (astropy `mad_std`), range compression on.
    pub fn mad() -> NormaliserSpec {
        NormaliserSpec { method: Method::Mad, range_compression: true }
    }

    /// Gaussian fit up to the histogram mode, range compression on.
    pub fn fit_up_to_mode() -> NormaliserSpec {
        NormaliserSpec { method: Method::FitUpToMode, range_compression: true }
    }

    /// σ of each band.
    pub fn sigma(&self) -> &[f64] {
        &self.sigma
    }

    /// The bands, in channel order.
    pub fn bands(&self) -> &[Band] {
        &self.bands
    }

    /// Whether `arcsinh` is applied.
    pub fn range_compressed(&self) -> bool {
        self.range_compression
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Normalised value of `x` in channel `c`.
    pub fn transform(&self, c: usize, x: f32) -> f32 {
        let y = x / self.sigma[c] as f32;
        if self.range_compression {
            y.asinh()
        } else {
            y
        }
    }

    /// Normalise `patches` (whose bands must be this normaliser's, in order).
    pub fn apply(&self, mut patches: Patches) -> Result<Patches> {
        ensure_param!(!patches.is_normalised(), "normaliser", "these patches are already normalised");
        ensure_param!(
            patches.bands() == self.bands.as_slice(),
            "normaliser",
            "patch bands {:?} differ from the normaliser's {:?}",
            patches.bands(),
            self.bands
        );
        let hw = patches.size() * patches.size();
        let len = patches.patch_len().max(1);
        patches.data_mut().par_chunks_mut(len).for_each(|patch| {
            for (c, image) in patch.chunks_mut(hw.max(1)).enumerate() {
                image.iter_mut().for_each(|x| *x = self.transform(c, *x));
            }
        });
        patches.set_normalised();
        Ok(patches)
    }

    /// One row per band: `band`, `sigma`, `method`, `range_compression`.
    pub fn df(&self) -> Result<DataFrame> {
        let n = self.bands.len();
        Ok(DataFrame::new(
            n,
            vec![
                Column::new("band".into(), self.bands.iter().map(|b| b.name()).collect::<Vec<_>>()),
                Column::new("sigma".into(), self.sigma.clone()),
                Column::new("method".into(), vec![format!("{:?}", self.method); n]),
                Column::new("range_compression".into(), vec![self.range_compression; n]),
            ],
        )?)
    }

    /// Write as JSON (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::param("normaliser", e.to_string()))?;
        write_atomic(path.as_ref(), |f| std::io::Write::write_all(f, json.as_bytes()))
    }

    /// Read a normaliser written by [`Normaliser::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let n: Normaliser = serde_json::from_str(&text)
            .map_err(|e| Error::param(path.display().to_string(), format!("not a normaliser JSON file: {e}")))?;
        NormaliserSpec { method: n.method, range_compression: n.range_compression }.build(n.bands, n.sigma)
    }
}

/// astropy `mad_std`: 1.482602218505602 × median(|x − median x|), exact, over all `chunks`.
pub fn mad_std(chunks: &[&[f32]]) -> Result<f64> {
    let m = median(chunks, |x| x as f64)?;
    Ok(MAD_TO_STD * median(chunks, |x| (x as f64 - m).abs())?)
}

/// Exact median of `f(x)` over all values of `chunks` (numpy's: the mean of the two middle values
/// for an even count). NaN values are an error.
pub fn median(chunks: &[&[f32]], f: impl Fn(f32) -> f64 + Sync) -> Result<f64> {
    let n: usize = chunks.iter().map(|c| c.len()).sum();
    ensure_param!(n > 0, "median", "no values");
    // Pieces of 64k values: enough parallel work whatever the caller's chunking.
    let pieces: Vec<&[f32]> = chunks.iter().flat_map(|c| c.chunks(1 << 16)).collect();
    let chunks = &pieces[..];
    if n % 2 == 1 {
        Ok(kth_pair(chunks, &f, n / 2)?.0)
    } else {
        let (a, b) = kth_pair(chunks, &f, n / 2 - 1)?;
        Ok(0.5 * (a + b))
    }
}

/// Bins per histogram pass of the selection.
const SELECT_BINS: usize = 4096;
/// Values left in range below which the selection copies and finishes them.
const SELECT_COPY: usize = 1 << 20;

/// The `k`-th and (`k`+1)-th smallest (0-based; the second is +∞ when k is the last) of `f(x)` over
/// `chunks`. Histogram passes narrow [lo, hi] to the bin holding rank k, using each bin's actual
/// min/max so ranks stay exact, until few values remain; those are copied and selected. The value
/// just above the range is tracked, so both middle ranks of an even count come from one search.
fn kth_pair(chunks: &[&[f32]], f: &(impl Fn(f32) -> f64 + Sync), k: usize) -> Result<(f64, f64)> {
    let (mut lo, mut hi, nan) = range(chunks, f);
    ensure_param!(!nan, "median", "the values contain NaN");
    let mut below = 0usize; // values < lo
    let mut count: usize = chunks.iter().map(|c| c.len()).sum(); // values in [lo, hi]
    let mut above = f64::INFINITY; // smallest value > hi
    loop {
        if lo == hi {
            // All values left are equal.
            return Ok((lo, if below + count > k + 1 { lo } else { above }));
        }
        if count <= SELECT_COPY {
            let mut values: Vec<f64> = chunks
                .par_iter()
                .flat_map_iter(|c| c.iter().map(|&x| f(x)).filter(|v| (lo..=hi).contains(v)))
                .collect();
            let (_, v, right) = values.select_nth_unstable_by(k - below, f64::total_cmp);
            return Ok((*v, right.iter().copied().fold(above, f64::min)));
        }
        let hist = chunks
            .par_iter()
            .fold(Hist::new, |mut h, c| {
                h.add_all(c, f, lo, hi);
                h
            })
            .reduce(Hist::new, Hist::merge);
        let mut seen = below;
        let b = (0..SELECT_BINS)
            .find(|&b| {
                seen += hist.count[b];
                seen > k
            })
            .ok_or_else(|| Error::param("median", "rank outside the values (internal error)"))?;
        below = seen - hist.count[b];
        count = hist.count[b];
        if let Some(next) = (b + 1..SELECT_BINS).find(|&n| hist.count[n] > 0) {
            above = hist.min[next];
        }
        (lo, hi) = (hist.min[b], hist.max[b]);
    }
}

/// Min and max of `f(x)` over `chunks` (NaN ignored) and whether a NaN was seen.
fn range(chunks: &[&[f32]], f: &(impl Fn(f32) -> f64 + Sync)) -> (f64, f64, bool) {
    chunks
        .par_iter()
        .flat_map_iter(|c| c.iter())
        .map(|&x| f(x))
        .fold(|| (f64::INFINITY, f64::NEG_INFINITY, false), |(a, b, n), v| (a.min(v), b.max(v), n || v.is_nan()))
        .reduce(|| (f64::INFINITY, f64::NEG_INFINITY, false), |(a, b, n), (c, d, m)| (a.min(c), b.max(d), n || m))
}

struct Hist {
    below: usize,
    count: Vec<usize>,
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Hist {
    fn new() -> Self {
        Hist {
            below: 0,
            count: vec![0; SELECT_BINS],
            min: vec![f64::INFINITY; SELECT_BINS],
            max: vec![f64::NEG_INFINITY; SELECT_BINS],
        }
    }

    /// Count the values of `c` (through `f`) in [lo, hi] into SELECT_BINS equal bins.
    fn add_all(&mut self, c: &[f32], f: &impl Fn(f32) -> f64, lo: f64, hi: f64) {
        let scale = if hi > lo { SELECT_BINS as f64 / (hi - lo) } else { 0.0 };
        for &x in c {
            let v = f(x);
            if v < lo {
                self.below += 1;
            } else if v <= hi {
                // Monotone in v, so every bin is an interval and its min/max bound it exactly.
                let b = (((v - lo) * scale) as usize).min(SELECT_BINS - 1);
                self.count[b] += 1;
                self.min[b] = self.min[b].min(v);
                self.max[b] = self.max[b].max(v);
            }
        }
    }

    fn merge(mut self, o: Hist) -> Hist {
        self.below += o.below;
        for b in 0..SELECT_BINS {
            self.count[b] += o.count[b];
            self.min[b] = self.min[b].min(o.min[b]);
            self.max[b] = self.max[b].max(o.max[b]);
        }
        self
    }
}

/// The `fit_up_to_mode` σ: a 200-bin histogram over [min, max] (numpy's bins), the mode = centre of
/// the fullest bin, the bins up to the mode mirrored about it, and a least-squares Gaussian
/// A·exp(−(x−μ)²/2σ²) fitted to the mirrored histogram (Levenberg–Marquardt from the mirrored
/// histogram's moments); returns |σ|. `tests/fixtures/make_fixtures.py` does the same with scipy.
pub fn mode_fit_sigma(chunks: &[&[f32]]) -> Result<f64> {
    let (lo, hi, nan) = range(chunks, &|x| x as f64);
    ensure_param!(
        !nan && lo.is_finite() && hi.is_finite() && hi > lo,
        "fit_up_to_mode",
        "needs finite, non-constant values"
    );
    let nb = MODE_FIT_BINS;
    // numpy.linspace's arithmetic, so bins agree with numpy.histogram to the last bit.
    let step = (hi - lo) / nb as f64;
    let mut edges: Vec<f64> = (0..=nb).map(|k| k as f64 * step + lo).collect();
    edges[nb] = hi;
    let counts = chunks
        .par_iter()
        .fold(
            || vec![0u64; nb],
            |mut h, c| {
                for &x in c.iter() {
                    h[numpy_bin(&edges, x as f64)] += 1;
                }
                h
            },
        )
        .reduce(|| vec![0u64; nb], |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect());
    let centres: Vec<f64> = edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    let k = (0..nb).fold(0, |best, i| if counts[i] > counts[best] { i } else { best });
    let mode = centres[k];
    let mut xs: Vec<f64> = centres[..=k].to_vec();
    let mut ys: Vec<f64> = counts[..=k].iter().map(|&c| c as f64).collect();
    for i in (0..k).rev() {
        xs.push(2.0 * mode - centres[i]);
        ys.push(counts[i] as f64);
    }
    let total: f64 = ys.iter().sum();
    let var = xs.iter().zip(&ys).map(|(x, y)| y * (x - mode).powi(2)).sum::<f64>() / total;
    let width = edges[1] - edges[0];
    let p0 = [counts[k] as f64, mode, var.sqrt().max(width)];
    Ok(gaussian_least_squares(&xs, &ys, p0).2.abs())
}

/// numpy's histogram bin of `x` for uniform `edges` (last bin closed): the division, corrected by
/// comparing with the edges as numpy does.
fn numpy_bin(edges: &[f64], x: f64) -> usize {
    let nb = edges.len() - 1;
    let (lo, hi) = (edges[0], edges[nb]);
    let mut b = ((x - lo) * (nb as f64 / (hi - lo))) as usize;
    if b >= nb {
        return nb - 1;
    }
    if x < edges[b] {
        b -= 1;
    } else if x >= edges[b + 1] && b + 1 < nb {
        b += 1;
    }
    b
}

/// Levenberg–Marquardt fit of A·exp(−(x−μ)²/(2σ²)) to (xs, ys) from `p0` = (A, μ, σ).
fn gaussian_least_squares(xs: &[f64], ys: &[f64], p0: [f64; 3]) -> (f64, f64, f64) {
    let residuals = |p: &[f64; 3]| -> f64 {
        xs.iter().zip(ys).map(|(x, y)| (p[0] * (-(x - p[1]).powi(2) / (2.0 * p[2] * p[2])).exp() - y).powi(2)).sum()
    };
    let mut p = p0;
    let mut cost = residuals(&p);
    let mut lambda = 1e-3;
    for _ in 0..500 {
        // Normal equations JᵀJ δ = −Jᵀr with the analytic Jacobian.
        let mut jtj = [[0.0; 3]; 3];
        let mut jtr = [0.0; 3];
        for (x, y) in xs.iter().zip(ys) {
            let d = x - p[1];
            let e = (-(d * d) / (2.0 * p[2] * p[2])).exp();
            let r = p[0] * e - y;
            let j = [e, p[0] * e * d / (p[2] * p[2]), p[0] * e * d * d / p[2].powi(3)];
            for a in 0..3 {
                jtr[a] += j[a] * r;
                for b in 0..3 {
                    jtj[a][b] += j[a] * j[b];
                }
            }
        }
        let mut improved = false;
        while lambda < 1e12 {
            let mut m = jtj;
            for (a, row) in m.iter_mut().enumerate() {
                row[a] += lambda * jtj[a][a].max(1e-300);
            }
            let Some(delta) = solve3(m, [-jtr[0], -jtr[1], -jtr[2]]) else { break };
            let trial = [p[0] + delta[0], p[1] + delta[1], p[2] + delta[2]];
            let c = residuals(&trial);
            if c < cost {
                let converged = (cost - c) <= 1e-15 * cost;
                (p, cost, lambda) = (trial, c, (lambda / 10.0).max(1e-12));
                improved = !converged;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (p[0], p[1], p[2])
}

/// Solve a 3×3 system by Cramer's rule (None when singular).
fn solve3(m: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&m);
    if d == 0.0 || !d.is_finite() {
        return None;
    }
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let mut mc = m;
        for r in 0..3 {
            mc[r][c] = b[r];
        }
        *o = det(&mc) / d;
    }
    Some(out)
}
