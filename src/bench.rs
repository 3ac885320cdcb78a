//! Throughput benchmarks of the foundation (`xcluster bench`, `cargo bench`).
//!
//! In: problem sizes. Out: a DataFrame `benchmark`, `n`, `seconds`, `rate_m_per_s` (millions of
//! items per second). Speed targets are checked here, never by timed assertions in tests.

use std::time::Instant;

use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::catalog::{crossmatch, Match};
use crate::error::Result;
use crate::sky::{Grid, HealpixMap, Ordering};

/// Sizes of a benchmark run.
#[derive(Debug, Clone, Copy)]
pub struct BenchSizes {
    /// Positions for ang2pix and interpolation.
    pub points: usize,
    /// nside of the interpolated map.
    pub nside: u32,
    /// Positions in each catalog of the cross-match.
    pub catalog: usize,
}

impl BenchSizes {
    /// The sizes of the issue: 1e7 positions on an nside-2048 map, a 1e6 × 1e6 cross-match.
    pub fn full() -> Self {
        BenchSizes { points: 10_000_000, nside: 2048, catalog: 1_000_000 }
    }

    /// A quick run (seconds) to check the benchmarks themselves.
    pub fn quick() -> Self {
        BenchSizes { points: 200_000, nside: 256, catalog: 20_000 }
    }
}

/// Uniform random positions on the sphere (lon, lat) in degrees.
pub fn random_positions(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (rng.gen_range(0.0..360.0), rng.gen_range(-1.0f64..1.0).asin().to_degrees()))
        .collect()
}

/// Run every benchmark; `report` is called with each row as it completes.
pub fn run(sizes: BenchSizes, mut report: impl FnMut(&str, usize, f64)) -> Result<DataFrame> {
    let mut rows: Vec<(String, usize, f64)> = Vec::new();
    let mut record = |name: &str, n: usize, secs: f64| {
        report(name, n, secs);
        rows.push((name.to_string(), n, secs));
    };
    let points = random_positions(sizes.points, 1);
    for ordering in [Ordering::Nested, Ordering::Ring] {
        let grid = Grid::new(sizes.nside, ordering)?;
        let t = Instant::now();
        let sum: u64 = points.iter().map(|&(l, b)| grid.ang2pix(l, b)).fold(0, u64::wrapping_add);
        std::hint::black_box(sum);
        record(&format!("ang2pix {} nside {} (1 thread)", ordering.fits_name(), sizes.nside), points.len(), t.elapsed().as_secs_f64());
    }
    let map = HealpixMap::from_fn(sizes.nside, Ordering::Ring, "", |l, b| (l.to_radians().cos() * b.to_radians().cos()) as f32)?;
    let t = Instant::now();
    let sum: f64 = points.iter().map(|&(l, b)| map.interpolate(l, b)).sum();
    std::hint::black_box(sum);
    record(&format!("bilinear interpolation nside {} (1 thread)", sizes.nside), points.len(), t.elapsed().as_secs_f64());
    let t = Instant::now();
    let sum: f64 = points.par_iter().map(|&(l, b)| map.interpolate(l, b)).sum();
    std::hint::black_box(sum);
    let threads = rayon::current_num_threads();
    record(&format!("bilinear interpolation nside {} ({threads} threads)", sizes.nside), points.len(), t.elapsed().as_secs_f64());
    let a = random_positions(sizes.catalog, 2);
    let b = random_positions(sizes.catalog, 3);
    let t = Instant::now();
    let m = crossmatch(&a, &b, 7.0, Match::Nearest)?;
    std::hint::black_box(m.height());
    record(&format!("crossmatch {0} x {0}, 7 arcmin, nearest ({threads} threads)", sizes.catalog), sizes.catalog, t.elapsed().as_secs_f64());
    let df = df!(
        "benchmark" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "n" => rows.iter().map(|r| r.1 as u64).collect::<Vec<_>>(),
        "seconds" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "rate_m_per_s" => rows.iter().map(|r| r.1 as f64 / r.2 / 1e6).collect::<Vec<_>>(),
    )?;
    Ok(df)
}
