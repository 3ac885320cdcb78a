//! The 48 nside-2 tiles and the train/val/test split.

use xcluster::sky::{Grid, Ordering};
use xcluster::tiles::{Split, Tiling, N_TILES};

#[test]
fn default_split_is_the_originals() {
    let t = Tiling::default();
    assert_eq!(t.tiles(Split::Val), vec![9, 25, 38, 41]);
    assert_eq!(t.tiles(Split::Test), vec![6]);
    assert_eq!(t.tiles(Split::Train).len(), 43);
    let df = t.df().unwrap();
    assert_eq!(df.height(), 48);
    let area: f64 = df.column("area_deg2").unwrap().f64().unwrap().iter().map(|v| v.unwrap()).sum();
    assert!((area - 41252.96124941928).abs() < 1e-6, "{area}");
}

#[test]
fn tile_of_is_the_nside_2_ring_pixel_and_split_follows() {
    let t = Tiling::default();
    let g = Grid::new(2, Ordering::Ring).unwrap();
    for tile in 0..N_TILES {
        let (l, b) = Tiling::tile_center(tile);
        assert_eq!(g.ang2pix(l, b), tile as u64);
        assert_eq!(Tiling::tile_of(l, b), tile);
        assert!(Tiling::contains(tile, l, b));
        assert!(!Tiling::contains((tile + 1) % N_TILES, l, b));
    }
    // Tile 6 (ring pixel 6 of nside 2) is centred at glon 112.5°, glat +41.8° (asin 2/3).
    let (l, b) = Tiling::tile_center(6);
    assert!((l - 112.5).abs() < 1e-9 && (b - 41.810314895778596).abs() < 1e-9, "({l}, {b})");
    assert_eq!(t.split_of(l, b), Split::Test);
    assert_eq!(t.split_of(0.0, 89.0), Split::Train);
}

#[test]
fn tile_pixels_partition_any_map_and_agree_with_tile_of() {
    for ordering in [Ordering::Ring, Ordering::Nested] {
        let g = Grid::new(16, ordering).unwrap();
        let mut seen = vec![false; g.npix() as usize];
        for tile in 0..N_TILES {
            let pix = Tiling::pixels(tile, g).unwrap();
            assert_eq!(pix.len(), 64);
            for p in pix {
                assert!(!seen[p as usize]);
                seen[p as usize] = true;
                let (l, b) = g.pix2ang(p);
                assert_eq!(Tiling::tile_of(l, b), tile, "{ordering:?} pixel {p}");
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
    assert!(Tiling::pixels(48, Grid::new(16, Ordering::Ring).unwrap()).is_err());
    assert!(Tiling::pixels(0, Grid::new(1, Ordering::Ring).unwrap()).is_err());
}

#[test]
fn invalid_splits_are_rejected_with_the_key() {
    let e = Tiling::new(&[9, 48], &[6]).unwrap_err().to_string();
    assert!(e.contains("val_tiles") && e.contains("48"), "{e}");
    let e = Tiling::new(&[9], &[9]).unwrap_err().to_string();
    assert!(e.contains("test_tiles") && e.contains("tile 9"), "{e}");
    let e = Tiling::new(&[9], &[]).unwrap_err().to_string();
    assert!(e.contains("test_tiles"), "{e}");
    let custom = Tiling::new(&[], &[6, 7]).unwrap();
    assert_eq!(custom.tiles(Split::Test), vec![6, 7]);
    assert_eq!(custom.tiles(Split::Train).len(), 46);
}
