//! ICRS ↔ Galactic, separations and position angles against astropy (tests/fixtures).

use crate::common;

use crate::common::{get, lon_diff, rows};
use xcluster::sky::{
    angular_separation_deg, galactic_to_icrs, icrs_to_galactic, icrs_to_galactic_matrix, position_angle_deg,
};

/// Positions agree to `tol` degrees (longitude ignored at the poles, where it is undefined).
fn assert_close(got: (f64, f64), expect: (f64, f64), tol: f64, what: &str) {
    assert!((got.1 - expect.1).abs() < tol, "{what}: lat {} vs {}", got.1, expect.1);
    if expect.1.abs() < 90.0 - 1e-7 {
        let scale = expect.1.to_radians().cos();
        assert!(lon_diff(got.0, expect.0) * scale < tol, "{what}: lon {} vs {}", got.0, expect.0);
    }
}

#[test]
fn rotation_matrix_equals_astropys() {
    let text = std::fs::read_to_string(common::fixture("coords_matrix.txt")).unwrap();
    let expect: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace().map(|v| v.parse::<f64>().unwrap()))
        .collect();
    let m = icrs_to_galactic_matrix();
    for i in 0..3 {
        for j in 0..3 {
            assert!((m[i][j] - expect[3 * i + j]).abs() < 1e-14, "M[{i}][{j}] = {} vs {}", m[i][j], expect[3 * i + j]);
        }
    }
}

#[test]
fn icrs_to_galactic_matches_astropy_to_1e_9_deg() {
    let rows = rows("coords.csv");
    assert!(rows.len() >= 300);
    for r in rows {
        let (ra, dec) = (get(&r, "ra_deg"), get(&r, "dec_deg"));
        let expect = (get(&r, "glon_deg"), get(&r, "glat_deg"));
        assert_close(icrs_to_galactic(ra, dec), expect, 1e-9, &format!("({ra}, {dec})"));
    }
}

#[test]
fn galactic_to_icrs_matches_astropy_to_1e_9_deg() {
    for r in rows("coords_gal2icrs.csv") {
        let (l, b) = (get(&r, "glon_deg"), get(&r, "glat_deg"));
        let expect = (get(&r, "ra_deg"), get(&r, "dec_deg"));
        assert_close(galactic_to_icrs(l, b), expect, 1e-9, &format!("({l}, {b})"));
        let (ra, dec) = galactic_to_icrs(l, b);
        assert_close(icrs_to_galactic(ra, dec), (l, b), 1e-10, "round trip");
    }
}

#[test]
fn separation_and_position_angle_match_astropy() {
    let rows = rows("separations.csv");
    assert!(rows.len() >= 300);
    for r in rows {
        let (ra1, dec1, ra2, dec2) = (get(&r, "ra1_deg"), get(&r, "dec1_deg"), get(&r, "ra2_deg"), get(&r, "dec2_deg"));
        let (sep, pa): (f64, f64) = (get(&r, "sep_deg"), get(&r, "pa_deg"));
        let s = angular_separation_deg(ra1, dec1, ra2, dec2);
        assert!((s - sep).abs() < 1e-9, "sep ({ra1},{dec1})-({ra2},{dec2}): {s} vs {sep}");
        // The position angle is undefined for (nearly) coincident points and from a pole.
        if sep > 1e-9 && dec1.abs() < 90.0 - 1e-9 {
            let p = position_angle_deg(ra1, dec1, ra2, dec2);
            assert!((0.0..360.0).contains(&p));
            assert!(lon_diff(p, pa) < 1e-9, "pa ({ra1},{dec1})-({ra2},{dec2}): {p} vs {pa}");
        }
    }
}
