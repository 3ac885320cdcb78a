//! Throughput benchmarks of the foundation (`xcluster bench`, `cargo bench`).
//!
//! In: problem sizes. Out: a DataFrame `benchmark`, `n`, `seconds`, `rate_m_per_s` (millions of
//! items per second), `peak_rss_mb` (memory added while reading a FITS map, Linux only). Speed
//! targets are checked here, never by timed assertions in tests.

use std::time::Instant;

use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::catalog::{crossmatch, Match};
use crate::error::{Error, Result};
use crate::patches::{sample_patches, Gnomonic, Interpolation};
use crate::sky::{create_healpix_table, read_map, Grid, HealpixMap, Ordering};

/// Sizes of a benchmark run.
#[derive(Debug, Clone, Copy)]
pub struct BenchSizes {
    /// Positions for ang2pix and interpolation.
    pub points: usize,
    /// nside of the interpolated map.
    pub nside: u32,
    /// Positions in each catalog of the cross-match.
    pub catalog: usize,
    /// 64×64 patches sampled from 4 bands.
    pub patches: usize,
}

impl BenchSizes {
    /// The sizes of the issue: 1e7 positions on an nside-2048 map, a 1e6 × 1e6 cross-match.
    pub fn full() -> Self {
        BenchSizes { points: 10_000_000, nside: 2048, catalog: 1_000_000, patches: 10_000 }
    }

    /// A quick run (seconds) to check the benchmarks themselves.
    pub fn quick() -> Self {
        BenchSizes { points: 200_000, nside: 256, catalog: 20_000, patches: 200 }
    }
}

/// Uniform random positions on the sphere (lon, lat) in degrees.
pub fn random_positions(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| (rng.gen_range(0.0..360.0), rng.gen_range(-1.0f64..1.0).asin().to_degrees())).collect()
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
        record(
            &format!("ang2pix {} nside {} (1 thread)", ordering.fits_name(), sizes.nside),
            points.len(),
            t.elapsed().as_secs_f64(),
        );
    }
    let map = HealpixMap::from_fn(sizes.nside, Ordering::Ring, "", |l, b| {
        (l.to_radians().cos() * b.to_radians().cos()) as f32
    })?;
    let t = Instant::now();
    let sum: f64 = points.iter().map(|&(l, b)| map.interpolate(l, b)).sum();
    std::hint::black_box(sum);
    record(
        &format!("bilinear interpolation nside {} (1 thread)", sizes.nside),
        points.len(),
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    let sum: f64 = points.par_iter().map(|&(l, b)| map.interpolate(l, b)).sum();
    std::hint::black_box(sum);
    let threads = rayon::current_num_threads();
    record(
        &format!("bilinear interpolation nside {} ({threads} threads)", sizes.nside),
        points.len(),
        t.elapsed().as_secs_f64(),
    );
    let centres = random_positions(sizes.patches, 4);
    let projections = centres.iter().map(|&(l, b)| Gnomonic::new(l, b, 64, 1.7)).collect::<Result<Vec<_>>>()?;
    let t = Instant::now();
    let tensor = sample_patches(&[&map, &map, &map, &map], &projections, Interpolation::Bilinear)?;
    std::hint::black_box(tensor.len());
    record(
        &format!("patches 64×64×4 bands bilinear nside {} ({threads} threads)", sizes.nside),
        sizes.patches,
        t.elapsed().as_secs_f64(),
    );
    let a = random_positions(sizes.catalog, 2);
    let b = random_positions(sizes.catalog, 3);
    let t = Instant::now();
    let m = crossmatch(&a, &b, 7.0, Match::Nearest)?;
    std::hint::black_box(m.height());
    record(
        &format!("crossmatch {0} x {0}, 7 arcmin, nearest ({threads} threads)", sizes.catalog),
        sizes.catalog,
        t.elapsed().as_secs_f64(),
    );
    let (secs, peak) = fits_read_f64(sizes.nside)?;
    record(&format!("FITS read nside {} f64 column → f32 map", sizes.nside), 12 * (sizes.nside as usize).pow(2), secs);
    // Only the FITS row (the last) measures memory.
    let mut peaks = vec![None; rows.len()];
    peaks[rows.len() - 1] = peak;
    let df = df!(
        "benchmark" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "n" => rows.iter().map(|r| r.1 as u64).collect::<Vec<_>>(),
        "seconds" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "rate_m_per_s" => rows.iter().map(|r| r.1 as f64 / r.2 / 1e6).collect::<Vec<_>>(),
        "peak_rss_mb" => peaks,
    )?;
    Ok(df)
}

/// Write a full-sky f64 map of `nside` (as MILCA's y-map is stored) in 1-million-row chunks, then time
/// reading it with [`read_map`]. Returns the seconds and, on Linux, the peak memory added while
/// reading in MB: about 4·npix bytes (one f32 copy), not 12·npix (an f64 copy as well).
fn fits_read_f64(nside: u32) -> Result<(f64, Option<f64>)> {
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let path = dir.path().join("f64_map.fits");
    let fits_err = |e: fitsio::errors::Error| Error::fits(&path, e.to_string());
    let (mut file, hdu) =
        create_healpix_table(&path, &[("FULL", fitsio::tables::ColumnDataType::Double)], nside, Ordering::Nested)
            .map_err(fits_err)?;
    let npix = 12 * (nside as usize).pow(2);
    let chunk = 1 << 20;
    for start in (0..npix).step_by(chunk) {
        let end = (start + chunk).min(npix);
        let values: Vec<f64> = (start..end).map(|p| p as f64 * 1e-9).collect();
        hdu.write_col_range(&mut file, "FULL", &values, &(start..end)).map_err(fits_err)?;
    }
    drop(file);
    // Linux: writing 5 to clear_refs resets the peak-RSS counter (VmHWM) of this process.
    let baseline = std::fs::write("/proc/self/clear_refs", "5").ok().and_then(|_| status_kb("VmRSS"));
    let t = Instant::now();
    let map = read_map(&path, "FULL")?;
    let secs = t.elapsed().as_secs_f64();
    let peak = baseline.zip(status_kb("VmHWM")).map(|(base, hwm)| (hwm.saturating_sub(base)) as f64 / 1024.0);
    std::hint::black_box(map.data.len());
    Ok((secs, peak))
}

/// A `kB` field of /proc/self/status.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
