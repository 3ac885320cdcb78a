//! Helpers shared by the integration tests: fixture paths, the fixtures' CSV format, tensor values.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// Weight initialisation, dropout and random tensors draw from burn's one random generator per
/// device, which `fit` seeds: trainings (or any random draws) running at once in one process would
/// interleave their draws, and the integration tests are one process. Every test that draws from it
/// holds this lock.
static DEVICE_RNG: Mutex<()> = Mutex::new(());

/// A tensor's values as f64, in row-major order.
pub fn values<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()
}

/// Hold the device's random generator for the rest of the test (see [`DEVICE_RNG`]).
pub fn device_rng() -> MutexGuard<'static, ()> {
    DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// Path of a file under tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Rows of a fixture CSV (`#` comment lines, one header line, comma separated) as maps header → text.
pub fn rows(name: &str) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    let mut lines = text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let header: Vec<String> = lines.next().expect("header line").split(',').map(str::to_string).collect();
    lines.map(|l| header.iter().cloned().zip(l.split(',').map(str::to_string)).collect()).collect()
}

/// A field parsed as `T`.
pub fn get<T: std::str::FromStr>(row: &std::collections::HashMap<String, String>, key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    row.get(key).unwrap_or_else(|| panic!("no column {key}")).parse().expect(key)
}

/// The smooth test map of make_fixtures.py at RING pixel `p` of nside 16, computed here from the
/// pixel centre: cos θ + 0.5 sin θ cos 2φ + 0.1 p/npix.
pub fn smooth_map_value(grid: &xcluster::sky::Grid, ring_pix: u64) -> f64 {
    let (lon, lat) = xcluster::sky::Grid::new(grid.nside(), xcluster::sky::Ordering::Ring).unwrap().pix2ang(ring_pix);
    let theta = (90.0 - lat).to_radians();
    let phi = lon.to_radians();
    theta.cos() + 0.5 * theta.sin() * (2.0 * phi).cos() + 0.1 * ring_pix as f64 / grid.npix() as f64
}

/// Angular distance between two longitudes in degrees, modulo 360.
pub fn lon_diff(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// A catalog of clusters at Galactic `points` named `c0`, `c1`, … (z = 0.1, M500 = 5e14 M☉).
pub fn catalog_at(points: &[(f64, f64)]) -> xcluster::catalog::Catalog {
    use polars::prelude::*;
    let n = points.len();
    let df = DataFrame::new(
        n,
        vec![
            Column::new("name".into(), (0..n).map(|k| format!("c{k}")).collect::<Vec<_>>()),
            Column::new("glon".into(), points.iter().map(|p| p.0).collect::<Vec<_>>()),
            Column::new("glat".into(), points.iter().map(|p| p.1).collect::<Vec<_>>()),
            Column::new("z".into(), vec![0.1; n]),
            Column::new("m500".into(), vec![5.0; n]),
        ],
    )
    .unwrap();
    xcluster::catalog::Catalog::from_df("test", df, &xcluster::catalog::ColumnMap::auto()).unwrap()
}

/// Render `fig` to PNG and SVG and check both: the PNG decodes to the figure's size and is not
/// blank (more than `min_colours` distinct colours, at least 5 % non-white pixels); the SVG is a
/// document of the same size with text in it; both save under those extensions. Returns the RGB
/// pixels for figure-specific checks.
pub fn check_figure(fig: &xcluster::plot::Figure, min_colours: usize) -> Vec<u8> {
    let (w, h) = fig.size();
    let png = fig.png().unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (w, h), "{fig:?}: PNG size");
    let rgb = img.into_raw();
    let colours: std::collections::HashSet<&[u8]> = rgb.chunks(3).collect();
    assert!(colours.len() > min_colours, "{fig:?}: only {} colours", colours.len());
    let non_white = rgb.chunks(3).filter(|p| p != &[255, 255, 255]).count();
    assert!(non_white * 20 > (w * h) as usize, "{fig:?}: {non_white} of {} pixels drawn", w * h);
    assert_eq!(rgb, fig.rgb().unwrap(), "{fig:?}: PNG and raw pixels differ");

    let svg = fig.svg().unwrap();
    assert!(svg.starts_with("<svg"), "{fig:?}: not an SVG document");
    assert!(svg.contains(&format!("width=\"{w}\"")) && svg.contains(&format!("height=\"{h}\"")), "{fig:?}: SVG size");
    assert!(svg.contains("<text"), "{fig:?}: SVG has no text");

    let dir = tempfile::tempdir().unwrap();
    for ext in ["png", "svg"] {
        let path = fig.save(dir.path().join(format!("f.{ext}"))).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 1000, "{fig:?}: {ext} file too small");
    }
    assert!(fig.save(dir.path().join("f.jpg")).is_err(), "unknown extensions are refused");
    rgb
}

/// The RGB colour of pixel (x, y) of a figure's pixels.
pub fn pixel(rgb: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
    let k = 3 * (y * width + x) as usize;
    [rgb[k], rgb[k + 1], rgb[k + 2]]
}

/// A catalog `name` of objects at Galactic `points`, named `<name>-0`, `<name>-1`, …
pub fn catalog(name: &str, points: &[(f64, f64)]) -> xcluster::catalog::Catalog {
    use polars::prelude::*;
    let df = df!(
        "name" => (0..points.len()).map(|k| format!("{name}-{k}")).collect::<Vec<_>>(),
        "glon" => points.iter().map(|p| p.0).collect::<Vec<_>>(),
        "glat" => points.iter().map(|p| p.1).collect::<Vec<_>>(),
    )
    .unwrap();
    xcluster::catalog::Catalog::from_df(name, df, &xcluster::catalog::ColumnMap::auto()).unwrap()
}
