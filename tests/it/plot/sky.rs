//! All-sky figures: the Mollweide projection, a band with its tiles, the split map.

use crate::common::{check_figure, pixel};
use xcluster::plot::{mollweide, mollweide_inverse};
use xcluster::prelude::*;

#[test]
fn mollweide_round_trips_and_matches_known_points() {
    // Equator and prime meridian at the centre; the poles at (0, ±√2); l = 90° to the left.
    let (x, y) = mollweide(0.0, 0.0);
    assert!(x.abs() < 1e-12 && y.abs() < 1e-12);
    let (x, y) = mollweide(123.0, 90.0);
    assert!(x.abs() < 1e-9 && (y - 2f64.sqrt()).abs() < 1e-9);
    let (x, _) = mollweide(90.0, 0.0);
    assert!((x + 2f64.sqrt()).abs() < 1e-12, "l = 90° lies at x = −√2, got {x}");
    for &(l, b) in &[(10.0, 20.0), (200.0, -45.0), (359.0, 80.0), (181.0, -89.0), (90.0, 0.5)] {
        let (x, y) = mollweide(l, b);
        let (l2, b2) = mollweide_inverse(x, y).unwrap();
        assert!((l2 - l).abs() < 1e-6 && (b2 - b).abs() < 1e-6, "({l}, {b}) → ({l2}, {b2})");
    }
    assert!(mollweide_inverse(2.0, 1.3).is_none(), "outside the ellipse");
}

#[test]
fn a_band_with_its_tiles_renders() {
    let (sky, _) =
        Sky::synthetic(xcluster::synthetic::Synthetic::planck_like().nside(64).bands(&[Band::F353, Band::YMap]))
            .unwrap();
    let fig = sky.plot(Band::F353, &Tiling::default()).result().unwrap();
    assert_eq!(fig.size(), (900, 560));
    let rgb = check_figure(&fig, 200);
    // The test tile's border is drawn in the test colour somewhere on the map.
    assert!(rgb.chunks(3).any(|p| p == [215, 48, 39]), "no test-tile border");
    // The corner outside the ellipse stays white.
    assert_eq!(pixel(&rgb, 900, 60, 50), [255, 255, 255]);
    assert!(sky.plot(Band::F100, &Tiling::default()).result().is_err(), "a band the sky lacks");
    let y = sky.band(Band::YMap).unwrap().plot("Compton y").result().unwrap();
    check_figure(&y, 100);
}

#[test]
fn the_split_map_colours_each_tile_by_split() {
    let tiling = Tiling::default();
    let fig = tiling.plot();
    let rgb = check_figure(&fig, 4);
    let count = |c: [u8; 3]| rgb.chunks(3).filter(|p| *p == c).count();
    let (train, val, test) = (count([158, 202, 225]), count([253, 174, 97]), count([215, 48, 39]));
    // Equal-area tiles: 43 train, 4 val and 1 test tile, so the areas go roughly 43 : 4 : 1.
    let ratio = train as f64 / test as f64;
    assert!((30.0..60.0).contains(&ratio), "train/test area ratio {ratio}");
    let ratio = val as f64 / test as f64;
    assert!((2.5..6.0).contains(&ratio), "val/test area ratio {ratio}");
}

/// Writes the figures under target/figures for a look by eye (not an assertion).
#[test]
fn write_sky_figures_for_inspection() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("figures");
    let (sky, _) =
        Sky::synthetic(xcluster::synthetic::Synthetic::planck_like().nside(64).bands(&[Band::F353])).unwrap();
    xcluster::plot::save_all(
        &[sky.plot(Band::F353, &Tiling::default()).result().unwrap(), Tiling::default().plot()],
        &dir,
    )
    .unwrap();
}
