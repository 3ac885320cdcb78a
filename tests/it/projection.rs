//! The gnomonic patch projection against astropy's TAN WCS (tests/fixtures/gnomonic_wcs.csv).

use crate::common;

use crate::common::{get, lon_diff, rows};
use xcluster::patches::Gnomonic;
use xcluster::sky::angular_separation_deg;

#[test]
fn pixel_to_sky_equals_astropy_tan_wcs() {
    let rows = rows("gnomonic_wcs.csv");
    assert!(rows.len() >= 150);
    for r in rows {
        let g =
            Gnomonic::new(get(&r, "lon0_deg"), get(&r, "lat0_deg"), get(&r, "size"), get(&r, "pixel_arcmin")).unwrap();
        let (i, j): (f64, f64) = (get(&r, "i"), get(&r, "j"));
        let (lon, lat) = g.pixel_to_sky(i, j);
        let (elon, elat): (f64, f64) = (get(&r, "lon_deg"), get(&r, "lat_deg"));
        assert!(angular_separation_deg(lon, lat, elon, elat) < 1e-9, "{r:?}: ({lon}, {lat})");
        let (bi, bj) = g.sky_to_pixel(elon, elat).unwrap();
        assert!((bi - i).abs() < 1e-7 && (bj - j).abs() < 1e-7, "{r:?}: back to ({bi}, {bj})");
    }
}

#[test]
fn inverse_is_exact_and_orientation_follows_fits() {
    let g = Gnomonic::new(359.5, -30.0, 64, 1.7).unwrap();
    assert_eq!(g.center_pixel(), 31.5);
    for i in (0..64).step_by(7) {
        for j in (0..64).step_by(5) {
            let (l, b) = g.pixel_to_sky(i as f64, j as f64);
            let (bi, bj) = g.sky_to_pixel(l, b).unwrap();
            assert!((bi - i as f64).abs() < 1e-9 && (bj - j as f64).abs() < 1e-9);
        }
    }
    // Neighbouring pixels at the centre are one pixel size apart; rows go north, columns go west.
    let (l0, b0) = g.pixel_to_sky(31.5, 31.5);
    let (l1, b1) = g.pixel_to_sky(32.5, 31.5);
    let (l2, b2) = g.pixel_to_sky(31.5, 32.5);
    assert!((angular_separation_deg(l0, b0, l1, b1) * 60.0 - 1.7).abs() < 1e-6);
    assert!(b1 > b0 && lon_diff(l1, l0) < 1e-9);
    assert!((l2 - l0).rem_euclid(360.0) > 180.0 && (b2 - b0).abs() < 1e-4, "column +1 is to the west: {l0} → {l2}");
    // The far hemisphere has no pixel.
    assert!(g.sky_to_pixel(179.5, 30.0).is_none());
}

#[test]
fn bad_parameters_are_rejected() {
    assert!(Gnomonic::new(0.0, 0.0, 0, 1.7).unwrap_err().to_string().contains("patch size"));
    assert!(Gnomonic::new(0.0, 0.0, 64, 0.0).unwrap_err().to_string().contains("pixel_size_arcmin"));
    assert!(Gnomonic::new(0.0, 0.0, 64, 90.0).unwrap_err().to_string().contains("narrower than 90"));
    assert!(Gnomonic::new(0.0, 91.0, 64, 1.7).unwrap_err().to_string().contains("latitude"));
}

#[test]
fn patches_sampled_from_a_map_equal_healpy_at_wcs_pixel_centres() {
    use xcluster::patches::{sample_patches, Interpolation};
    use xcluster::sky::{read_map, Ordering};
    let ring = read_map(common::fixture("healpy_map_nside16_ring.fits"), "I_STOKES").unwrap();
    let nest = ring.clone().to_ordering(Ordering::Nested);
    let rows = rows("patch_sampling.csv");
    assert_eq!(rows.len(), 64 + 36);
    let mut start = 0;
    while start < rows.len() {
        let r = &rows[start];
        let size: u32 = get(r, "size");
        let n = (size * size) as usize;
        let g = Gnomonic::new(get(r, "lon0_deg"), get(r, "lat0_deg"), size, get(r, "pixel_arcmin")).unwrap();
        for map in [&ring, &nest] {
            // Two bands (the same map twice) and two identical patches: every copy must agree.
            let bil = sample_patches(&[map, map], &[g, g], Interpolation::Bilinear).unwrap();
            let near = sample_patches(&[map, map], &[g, g], Interpolation::Nearest).unwrap();
            assert_eq!(bil.len(), 2 * 2 * n);
            for (k, row) in rows[start..start + n].iter().enumerate() {
                let at = get::<usize>(row, "i") * size as usize + get::<usize>(row, "j");
                assert_eq!(at, k);
                let (eb, en): (f64, f64) = (get(row, "bilinear"), get(row, "nearest"));
                for copy in 0..4 {
                    assert!((bil[copy * n + at] as f64 - eb).abs() < 1e-6, "{row:?}: {}", bil[copy * n + at]);
                    assert_eq!(near[copy * n + at], en as f32, "{row:?}");
                }
            }
        }
        start += n;
    }
}
