//! HEALPix geometry against healpy (tests/fixtures/make_fixtures.py).

use crate::common;

use crate::common::{get, lon_diff, rows};
use xcluster::sky::{angular_separation_deg, Band, Grid, HealpixMap, Ordering, Sky};

fn grid(nside: u32, ordering: Ordering) -> Grid {
    Grid::new(nside, ordering).unwrap()
}

#[test]
fn ang2pix_matches_healpy_in_both_orderings() {
    let rows = rows("healpix_ang2pix.csv");
    assert!(rows.len() > 1000);
    for r in &rows {
        let nside: u32 = get(r, "nside");
        let (lon, lat): (f64, f64) = (get(r, "lon_deg"), get(r, "lat_deg"));
        assert_eq!(grid(nside, Ordering::Ring).ang2pix(lon, lat), get::<u64>(r, "ring"), "ring {r:?}");
        assert_eq!(grid(nside, Ordering::Nested).ang2pix(lon, lat), get::<u64>(r, "nest"), "nest {r:?}");
    }
}

#[test]
fn pix2ang_matches_healpy_in_both_orderings() {
    for r in rows("healpix_pix2ang.csv") {
        let nside: u32 = get(&r, "nside");
        let pix: u64 = get(&r, "pix");
        for (ordering, lon_key, lat_key) in
            [(Ordering::Ring, "ring_lon_deg", "ring_lat_deg"), (Ordering::Nested, "nest_lon_deg", "nest_lat_deg")]
        {
            let (lon, lat) = grid(nside, ordering).pix2ang(pix);
            let (elon, elat): (f64, f64) = (get(&r, lon_key), get(&r, lat_key));
            assert!((lat - elat).abs() < 1e-10, "{ordering:?} nside {nside} pix {pix}: lat {lat} vs {elat}");
            if elat.abs() < 90.0 - 1e-9 {
                assert!(lon_diff(lon, elon) < 1e-10, "{ordering:?} nside {nside} pix {pix}: lon {lon} vs {elon}");
            }
        }
    }
}

#[test]
fn ring_nest_conversion_matches_healpy() {
    for r in rows("healpix_ring2nest.csv") {
        let g = grid(get(&r, "nside"), Ordering::Ring);
        let (ring, nest): (u64, u64) = (get(&r, "ring"), get(&r, "nest"));
        assert_eq!(g.ring2nest(ring), nest);
        assert_eq!(g.nest2ring(nest), ring);
    }
}

#[test]
fn neighbours_match_healpy_including_base_cell_corners() {
    let rows = rows("healpix_neighbours.csv");
    let mut missing = 0;
    for r in &rows {
        let ordering = if r["ordering"] == "RING" { Ordering::Ring } else { Ordering::Nested };
        let g = grid(get(r, "nside"), ordering);
        let got = g.neighbours(get(r, "pix"));
        for (k, n) in got.iter().enumerate() {
            let expect: i64 = get(r, &format!("n{k}"));
            assert_eq!(n.map(|v| v as i64).unwrap_or(-1), expect, "{r:?} neighbour {k}");
            missing += n.is_none() as usize;
        }
    }
    assert!(missing >= 48, "the fixture exercises pixels with only 7 neighbours ({missing})");
}

#[test]
fn interpolation_matches_healpy_get_interp_val() {
    let ring = xcluster::sky::read_map(common::fixture("healpy_map_nside16_ring.fits"), "I_STOKES").unwrap();
    let nest = xcluster::sky::read_map(common::fixture("healpy_map_nside16_nest.fits"), "TEMPERATURE").unwrap();
    assert_eq!(nest.ordering, Ordering::Nested);
    let rows = rows("healpix_interp.csv");
    assert!(rows.len() > 300);
    for r in &rows {
        let (lon, lat): (f64, f64) = (get(r, "lon_deg"), get(r, "lat_deg"));
        let (er, en): (f64, f64) = (get(r, "ring_value"), get(r, "nest_value"));
        assert!(
            (ring.interpolate(lon, lat) - er).abs() < 1e-12,
            "ring at ({lon}, {lat}): {} vs {er}",
            ring.interpolate(lon, lat)
        );
        assert!((nest.interpolate(lon, lat) - en).abs() < 1e-12, "nest at ({lon}, {lat})");
    }
}

#[test]
fn interpolation_weights_sum_to_one_and_reproduce_a_pixel_value_at_its_centre() {
    let g = grid(64, Ordering::Nested);
    for pix in [0u64, 17, 12345, g.npix() - 1] {
        let (lon, lat) = g.pix2ang(pix);
        let (p, w) = g.interpolation_weights(lon, lat);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Away from the poles, the centre of a pixel gets all the weight.
        if lat.abs() < 80.0 {
            let k = p.iter().position(|&q| q == pix).expect("pixel among its own interpolation pixels");
            assert!((w[k] - 1.0).abs() < 1e-9, "pix {pix}: weights {w:?}");
        }
    }
}

#[test]
fn ordering_conversion_round_trips_and_keeps_values_at_positions() {
    let m = HealpixMap::from_fn(32, Ordering::Ring, "K_CMB", |l, b| (l * 0.01 + b) as f32).unwrap();
    let n = m.clone().to_ordering(Ordering::Nested);
    assert_eq!(n.ordering, Ordering::Nested);
    for (lon, lat) in [(10.0, 20.0), (200.0, -70.0), (359.0, 89.0)] {
        assert_eq!(m.value_at(lon, lat), n.value_at(lon, lat));
        assert!((m.interpolate(lon, lat) - n.interpolate(lon, lat)).abs() < 1e-12);
    }
    assert_eq!(n.to_ordering(Ordering::Ring), m);
}

#[test]
fn query_disc_equals_brute_force_on_pixel_centres() {
    for ordering in [Ordering::Ring, Ordering::Nested] {
        let g = grid(64, ordering);
        for (lon, lat, r) in [(10.0, 20.0, 3.0), (0.5, 89.0, 5.0), (180.0, -45.0, 0.9), (300.0, 0.0, 10.0)] {
            let disc = g.query_disc(lon, lat, r, false);
            let brute: Vec<u64> = (0..g.npix())
                .filter(|&p| {
                    let (l, b) = g.pix2ang(p);
                    angular_separation_deg(lon, lat, l, b) <= r
                })
                .collect();
            assert_eq!(disc, brute, "{ordering:?} disc ({lon}, {lat}, {r})");
            let inclusive = g.query_disc(lon, lat, r, true);
            assert!(brute.iter().all(|p| inclusive.binary_search(p).is_ok()));
            assert!(inclusive.len() > brute.len());
        }
    }
}

#[test]
fn invalid_nside_and_lengths_are_rejected() {
    for nside in [0, 3, 16384] {
        let e = Grid::new(nside, Ordering::Ring).unwrap_err().to_string();
        assert!(e.contains("nside") && e.contains(&nside.to_string()), "{e}");
    }
    let e = HealpixMap::new(4, Ordering::Ring, "", vec![0.0; 100]).unwrap_err().to_string();
    assert!(e.contains("192") && e.contains("100"), "{e}");
    assert_eq!(Grid::new(8192, Ordering::Nested).unwrap().npix(), 805_306_368);
}

#[test]
fn sky_bands_must_share_one_nside() {
    let a = HealpixMap::zeros(16, Ordering::Ring, "K_CMB").unwrap();
    let b = HealpixMap::zeros(32, Ordering::Ring, "K_CMB").unwrap();
    let sky = Sky::new().with_band(Band::F100, a.clone()).unwrap();
    let e = sky.clone().with_band(Band::F143, b).unwrap_err().to_string();
    assert!(e.contains("143GHz") && e.contains("100GHz") && e.contains("32") && e.contains("16"), "{e}");
    let sky = sky.with_band(Band::YMap, a).unwrap();
    assert_eq!(sky.bands(), vec![Band::F100, Band::YMap]);
    assert_eq!(sky.nside(), Some(16));
    let e = Band::from_name("70GHz").unwrap_err().to_string();
    assert!(e.contains("70GHz") && e.contains("857GHz") && e.contains("y-map"), "{e}");
}
