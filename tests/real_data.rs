//! The real-data loaders: maps and catalogs in the exact layouts of the published products
//! (`tests/fixtures/pla/`, built by `tests/fixtures/make_pla_fixtures.py` with astropy), a real
//! published catalog (nemo-sz's ACTPol clusters, `tests/fixtures/nemo/`), and unit handling.

use std::path::{Path, PathBuf};

use xcluster::catalog::{contaminants, Catalog, Catalogs, RealCatalog};
use xcluster::manifest::Manifest;
use xcluster::sky::{read_band, write_map, Band, HealpixMap, Ordering};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn pla(file: &str) -> PathBuf {
    fixtures().join("pla").join(file)
}

#[test]
fn frequency_maps_in_microkelvin_are_scaled_and_wrong_units_refused() {
    let dir = tempfile::tempdir().unwrap();
    let map = HealpixMap::from_fn(8, Ordering::Ring, "uK_CMB", |l, b| (l + 2.0 * b) as f32).unwrap();
    let path = dir.path().join("uk.fits");
    write_map(&path, &map, "I_STOKES").unwrap();
    let read = read_band(&path, Band::F143, "I_STOKES").unwrap();
    assert_eq!((read.ordering, read.unit.as_str()), (Ordering::Nested, "K_CMB"));
    let nested = map.to_ordering(Ordering::Nested);
    for (a, b) in read.data.iter().zip(&nested.data) {
        assert!((a - b * 1e-6).abs() <= 1e-6 * b.abs() * 1e-6 + 1e-12, "{a} vs {b} µK");
    }
    let err = read_band(&path, Band::F545, "I_STOKES").unwrap_err().to_string();
    assert!(err.contains("uk.fits") && err.contains("\"uK_CMB\"") && err.contains("545GHz"), "{err}");
    let bare = dir.path().join("bare.fits");
    write_map(&bare, &HealpixMap::from_fn(8, Ordering::Ring, "", |_, _| 1.0).unwrap(), "I_STOKES").unwrap();
    let err = read_band(&bare, Band::F100, "I_STOKES").unwrap_err().to_string();
    assert!(err.contains("bare.fits") && err.contains("no unit"), "{err}");
    // y is dimensionless: no unit is fine.
    assert_eq!(read_band(&bare, Band::YMap, "I_STOKES").unwrap().data[0], 1.0);
}

#[test]
fn band_units_convert_to_the_pipeline_units() {
    assert_eq!(Band::F100.scale_from("K_CMB"), Some(1.0));
    assert_eq!(Band::F100.scale_from("Kcmb"), Some(1.0));
    assert_eq!(Band::F217.scale_from("mK_CMB"), Some(1e-3));
    assert_eq!(Band::F353.scale_from("µK_CMB"), Some(1e-6));
    assert_eq!(Band::F857.scale_from("MJy/sr"), Some(1.0));
    assert_eq!(Band::F857.scale_from("K_CMB"), None);
    assert_eq!(Band::F100.scale_from("MJy/sr"), None);
    assert_eq!(Band::YMap.scale_from(""), Some(1.0));
    assert_eq!(Band::YMap.scale_from("K_CMB"), None);
}
