//! Throughput benchmarks (`xcluster bench [foundation|patches]`, `cargo bench`).
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

mod mmf;
mod query;
mod train;
pub use mmf::run_mmf;
pub use query::run_query;
pub use train::{run_train, run_train_breakdown, Peer, TrainBench};

/// `df` as a Markdown table (every column, however many; numbers to 4 significant digits, nulls
/// empty), for benchmark tables too wide for polars' own display.
pub fn markdown(df: &DataFrame) -> Result<String> {
    let columns = df.columns();
    let cell = |col: &Column, row: usize| -> Result<String> {
        Ok(match col.get(row)? {
            AnyValue::Null => String::new(),
            AnyValue::Float64(v) => round(v),
            AnyValue::Float32(v) => round(f64::from(v)),
            other => match other.get_str() {
                Some(text) => text.to_string(),
                None => other.to_string(),
            },
        })
    };
    let mut out = format!("| {} |\n", columns.iter().map(|c| c.name().as_str()).collect::<Vec<_>>().join(" | "));
    out += &format!("|{}\n", "---|".repeat(columns.len()));
    for row in 0..df.height() {
        let cells = columns.iter().map(|c| cell(c, row)).collect::<Result<Vec<_>>>()?;
        out += &format!("| {} |\n", cells.join(" | "));
    }
    Ok(out)
}

fn round(v: f64) -> String {
    match v.abs() {
        a if a >= 1000.0 || a == 0.0 => format!("{v:.0}"),
        a if a >= 100.0 => format!("{v:.1}"),
        a if a >= 10.0 => format!("{v:.2}"),
        _ => format!("{v:.4}"),
    }
}

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

/// Sizes of the patches benchmark (`xcluster bench patches`).
#[derive(Debug, Clone, Copy)]
pub struct PatchBenchSizes {
    /// nside of the 7 band maps.
    pub nside: u32,
    /// Training loops over the PSZ2 clusters (≈ 900 patches each).
    pub loops: u32,
    /// Values in the median/MAD benchmark.
    pub mad_values: usize,
}

impl PatchBenchSizes {
    /// The sizes: 7 bands at nside 2048, ~9000 training patches, MAD over 1e8 values.
    pub fn full() -> Self {
        PatchBenchSizes { nside: 2048, loops: 10, mad_values: 100_000_000 }
    }

    /// A quick run (seconds).
    pub fn quick() -> Self {
        PatchBenchSizes { nside: 256, loops: 1, mad_values: 1_000_000 }
    }
}

/// The patches stage at scale: 7 NESTED f32 bands, training patches streamed in batches of 256 from
/// the PSZ2 clusters (planning included), the scan of the test tile, the normaliser fitted on the
/// training tiles, and mad_std over `mad_values` values. `peak_rss_mb` is the process's peak
/// memory after each step (Linux), which shows the maps are held once, as f32.
pub fn run_patches(sizes: PatchBenchSizes, mut report: impl FnMut(&str, usize, f64)) -> Result<DataFrame> {
    use crate::catalog::Catalogs;
    use crate::normalise::{mad_std, Normaliser};
    use crate::patches::PatchSampler;
    use crate::sky::{Band, Sky};
    use crate::tiles::{Split, Tiling};

    let mut rows: Vec<(String, usize, f64, Option<f64>)> = Vec::new();
    let mut record = |name: &str, n: usize, secs: f64| {
        report(name, n, secs);
        rows.push((name.to_string(), n, secs, status_kb("VmHWM").map(|kb| kb as f64 / 1024.0)));
    };
    let threads = rayon::current_num_threads();
    let npix = 12 * (sizes.nside as usize).pow(2);
    let t = Instant::now();
    let mut sky = Sky::new();
    for (k, band) in Band::ALL.into_iter().enumerate() {
        // Cheap deterministic noise (a 32-bit hash of the pixel): realistic memory, no trig.
        let data: Vec<f32> = (0..npix as u32)
            .into_par_iter()
            .map(|p| {
                ((p ^ (k as u32).wrapping_mul(0x9E37_79B9)).wrapping_mul(0x85EB_CA6B) >> 8) as f32 / 16_777_216.0 - 0.5
            })
            .collect();
        sky = sky.with_band(band, HealpixMap::new(sizes.nside, Ordering::Nested, "K_CMB", data)?)?;
    }
    record(&format!("build 7 bands nside {} f32 NESTED", sizes.nside), 7 * npix, t.elapsed().as_secs_f64());
    let cats = Catalogs::builtin()?;
    let tiling = Tiling::default();
    let train = PatchSampler::train(&tiling, cats.planck_z()?).loops(sizes.loops).seed(1);
    let t = Instant::now();
    let plan = train.plan(sizes.nside)?;
    record(
        &format!("training plan only: shifts, leak checks, clusters ({threads} threads)"),
        plan.len(),
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    let mut n = 0;
    for batch in train.stream(&sky, 256, 0)? {
        n += batch?.len();
    }
    record(
        &format!("training patches 64×64×7 bilinear, planned + streamed ({threads} threads)"),
        n,
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    let scan = PatchSampler::scan(&tiling, cats.planck_z()?, &tiling.tiles(Split::Test)).extract(&sky)?;
    record(&format!("scan of the test tile 64×64×7 ({threads} threads)"), scan.len(), t.elapsed().as_secs_f64());
    drop(scan);
    let t = Instant::now();
    let norm = Normaliser::mad().fit_sky(&sky, &tiling, &Band::ALL)?;
    std::hint::black_box(norm.sigma());
    let train_pixels = tiling.tiles(Split::Train).len() * npix / 48;
    record(
        &format!("normaliser MAD, 7 bands × training tiles ({threads} threads)"),
        7 * train_pixels,
        t.elapsed().as_secs_f64(),
    );
    drop(sky);
    let values: Vec<f32> =
        (0..sizes.mad_values as u32).into_par_iter().map(|k| (k.wrapping_mul(2_654_435_761) >> 8) as f32).collect();
    let t = Instant::now();
    std::hint::black_box(mad_std(&[&values])?);
    record(
        &format!("mad_std over {} values ({threads} threads)", sizes.mad_values),
        sizes.mad_values,
        t.elapsed().as_secs_f64(),
    );
    Ok(df!(
        "benchmark" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "n" => rows.iter().map(|r| r.1 as u64).collect::<Vec<_>>(),
        "seconds" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "per_second" => rows.iter().map(|r| r.1 as f64 / r.2).collect::<Vec<_>>(),
        "peak_rss_mb" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
    )?)
}

/// The synthetic sky at scale (`xcluster bench sky`): full-sky 7-band generation time and the
/// process's peak memory, next to the maps' own size, at each nside.
pub fn run_sky(nsides: &[u32], mut report: impl FnMut(&str, usize, f64)) -> Result<DataFrame> {
    use crate::sky::Sky;
    use crate::synthetic::Synthetic;
    let mut rows = Vec::new();
    let threads = rayon::current_num_threads();
    for &nside in nsides {
        let name = format!("synthetic sky, 7 bands, nside {nside} ({threads} threads)");
        rows.push(measure_sky(
            name,
            nside,
            || Sky::synthetic(Synthetic::planck_like().nside(nside)).map(|(sky, _truth)| sky),
            &mut report,
        )?);
    }
    sky_rows_df(&rows)
}

/// A row of [`run_sky`] / [`run_real`]: name, seconds, the maps' own size and the peak memory added.
type SkyRow = (String, f64, f64, Option<f64>);

/// Time `make` (a 7-band sky at `nside`) and the peak memory it adds to the process (Linux), next
/// to the size of one f32 copy of the 7 maps; the sky is dropped afterwards.
fn measure_sky(
    name: String,
    nside: u32,
    make: impl FnOnce() -> Result<crate::sky::Sky>,
    report: &mut impl FnMut(&str, usize, f64),
) -> Result<SkyRow> {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let base = status_kb("VmRSS");
    let t = Instant::now();
    let sky = make()?;
    let secs = t.elapsed().as_secs_f64();
    let peak = base.zip(status_kb("VmHWM")).map(|(b, h)| h.saturating_sub(b) as f64 / 1024.0);
    drop(sky);
    let maps_mb = 7.0 * 12.0 * (nside as f64).powi(2) * 4.0 / 1_048_576.0;
    report(&name, 7 * 12 * (nside as usize).pow(2), secs);
    Ok((name, secs, maps_mb, peak))
}

fn sky_rows_df(rows: &[SkyRow]) -> Result<DataFrame> {
    Ok(df!(
        "benchmark" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "seconds" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "maps_mb" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "peak_added_mb" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
    )?)
}

/// Reading the real sky (`xcluster bench real`): for each nside, write the 7 bands under their
/// Planck file names and layouts (I, Q, U columns for 100–353 GHz, I for 545/857, `FULL` for y;
/// NESTED, as the HFI maps) in a temporary folder, then time [`Sky::planck`](crate::sky::Sky::planck)
/// reading them all. `maps_mb` is one f32 copy of 7 maps; `peak_added_mb` the process's peak memory
/// added while reading (Linux), which should equal it: only the intensity column is read, as f32.
pub fn run_real(nsides: &[u32], mut report: impl FnMut(&str, usize, f64)) -> Result<DataFrame> {
    use crate::manifest::Manifest;
    use crate::sky::{write_maps, Band, Sky};
    let manifest = Manifest::builtin()?;
    let mut rows = Vec::new();
    for &nside in nsides {
        let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        {
            let mut map = HealpixMap::from_fn(nside, Ordering::Nested, "", |l, b| (l * 1e-6 + b * 1e-7) as f32)?;
            for band in Band::ALL {
                let dataset = manifest.map(band)?;
                map.unit = band.unit().to_string();
                let columns: &[&str] = match band {
                    Band::F545 | Band::F857 => &["I_STOKES"],
                    Band::YMap => &["FULL"],
                    _ => &["I_STOKES", "Q_STOKES", "U_STOKES"],
                };
                let maps: Vec<(&str, &HealpixMap)> = columns.iter().map(|c| (*c, &map)).collect();
                write_maps(dir.path().join(&dataset.file), &maps)?;
            }
        }
        let name = format!("read the Planck-format sky, 7 bands, nside {nside}");
        rows.push(measure_sky(name, nside, || Sky::planck_from(dir.path(), dir.path(), &Band::ALL), &mut report)?);
    }
    sky_rows_df(&rows)
}

/// Detection at full-sky scale (`xcluster bench detect`): `n` probability maps of 64×64 on scan
/// patches spread over the sky, each with a few disks above threshold (some shared with a
/// neighbouring patch), then components + merge, and the cross-match of the detections with the
/// built-in catalogs; seconds and rates for each step.
pub fn run_detect(n: usize, mut report: impl FnMut(&str, usize, f64)) -> Result<DataFrame> {
    use crate::catalog::Catalogs;
    use crate::crossmatch::CrossMatch;
    use crate::detect::Detection;
    use crate::patches::{Gnomonic, PatchInfo};
    use crate::predict::Predictions;
    use crate::tiles::{Split, Tiling};
    crate::error::ensure_param!(n >= 1, "bench", "need at least one patch");
    let mut rng = StdRng::seed_from_u64(3);
    let size = 64usize;
    let (mut probs, mut infos) = (vec![0.0f32; n * size * size], Vec::with_capacity(n));
    for (k, (l, b)) in random_positions(n, 11).into_iter().enumerate() {
        infos.push(PatchInfo {
            id: k as u64,
            projection: Gnomonic::new(l, b, size as u32, 1.7)?,
            tile: Tiling::tile_of(l, b),
            split: Split::Test,
            seed_cluster: None,
            shift: (0.0, 0.0),
            clusters: vec![],
        });
        let map = &mut probs[k * size * size..(k + 1) * size * size];
        for _ in 0..rng.gen_range(0..4) {
            let (ci, cj, r) = (rng.gen_range(0.0..64.0), rng.gen_range(0.0..64.0), rng.gen_range(1.0..4.0f64));
            for (q, p) in map.iter_mut().enumerate() {
                let d = ((q / size) as f64 - ci).hypot((q % size) as f64 - cj);
                *p = p.max((0.99 * (-d * d / (2.0 * r * r)).exp()) as f32);
            }
        }
    }
    let pred = Predictions::from_parts(probs, size, infos)?;
    let mut rows = Vec::new();
    let t = Instant::now();
    let det = pred.detect(Detection::default())?;
    let secs = t.elapsed().as_secs_f64();
    report("detect + merge", n, secs);
    rows.push((format!("detect + merge, {n} maps of 64×64 → {} objects", det.len()), n, secs));
    let cats = Catalogs::builtin()?;
    let known = [cats.planck_z()?, cats.planck_no_z()?, cats.mcxc()?, cats.rm50()?, cats.rm30()?];
    let t = Instant::now();
    let matched = CrossMatch::default().run(&det, &known, &[], &pred)?;
    let secs = t.elapsed().as_secs_f64();
    report("cross-match", det.len(), secs);
    rows.push((
        format!("cross-match {} detections with 5 catalogs + footprint counts", matched.detections().height()),
        det.len(),
        secs,
    ));
    timed_rows_df(&rows)
}

/// Rows of (benchmark, items, seconds) as `benchmark`, `n`, `seconds`, `per_second`.
pub(crate) fn timed_rows_df(rows: &[(String, usize, f64)]) -> Result<DataFrame> {
    Ok(df!(
        "benchmark" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "n" => rows.iter().map(|r| r.1 as u64).collect::<Vec<_>>(),
        "seconds" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "per_second" => rows.iter().map(|r| r.1 as f64 / r.2).collect::<Vec<_>>(),
    )?)
}
