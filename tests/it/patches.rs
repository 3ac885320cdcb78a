//! The patch sampler against hpproj (the original's cutter), and its properties: exact projection
//! round trips, independent shifts, aligned rotations, no training sky in held-out tiles, scans
//! that cover whole tiles, streaming.

use crate::common;

use crate::common::{catalog_at, get, rows};
use rand::{Rng, SeedableRng};
use xcluster::catalog::Catalogs;
use xcluster::patches::{
    footprint_tiles, sample_patches, ClusterInPatch, Dihedral, Frame, Gnomonic, Interpolation, PatchInfo, PatchSampler,
};
use xcluster::sky::{angular_separation_deg, read_map, Band, Grid, HealpixMap, Ordering, Sky};
use xcluster::tiles::{Split, Tiling};

#[test]
fn patches_equal_hpproj_nearest_exactly_and_bilinear_to_1e5() {
    let ring = read_map(common::fixture("hpproj_map_nside64.fits"), 0).unwrap();
    let nest = ring.clone().to_ordering(Ordering::Nested);
    let rows = rows("hpproj_patches.csv");
    assert_eq!(rows.len(), 5 * 24 * 24);
    for case in rows.chunks(24 * 24) {
        let r = &case[0];
        let frame: Frame = get::<String>(r, "frame").parse().unwrap();
        let g = Gnomonic::in_frame(frame, get(r, "lon0_deg"), get(r, "lat0_deg"), 24, get(r, "pixel_arcmin")).unwrap();
        for map in [&ring, &nest] {
            let near = sample_patches(&[map], &[g], Interpolation::Nearest).unwrap();
            let bil = sample_patches(&[map], &[g], Interpolation::Bilinear).unwrap();
            for row in case {
                let at = get::<usize>(row, "i") * 24 + get::<usize>(row, "j");
                assert_eq!(near[at], get::<f32>(row, "nearest"), "{row:?}");
                let e: f64 = get(row, "bilinear");
                assert!((bil[at] as f64 - e).abs() <= 1e-5 * e.abs().max(1.0), "{row:?}: {}", bil[at]);
            }
        }
    }
}

#[test]
fn projection_round_trips_below_a_microarcsecond_in_every_frame_and_rotation() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let arcsec = 1.0 / 3600.0;
    for _ in 0..300 {
        let frame = if rng.gen_bool(0.5) { Frame::Galactic } else { Frame::Icrs };
        let (lon, lat) = (rng.gen_range(0.0..360.0), rng.gen_range(-89.99..89.99));
        let g = Gnomonic::in_frame(frame, lon, lat, 64, 1.7)
            .unwrap()
            .transformed(Dihedral::new(rng.gen_range(0..8)).unwrap());
        let (i, j) = (rng.gen_range(-0.5..63.5), rng.gen_range(-0.5..63.5));
        let (l, b) = g.pixel_to_galactic(i, j);
        let (bi, bj) = g.galactic_to_pixel(l, b).unwrap();
        let (l2, b2) = g.pixel_to_galactic(bi, bj);
        assert!(angular_separation_deg(l, b, l2, b2) < 1e-6 * arcsec, "{frame:?} ({lon}, {lat}) pixel ({i}, {j})");
        assert!((bi - i).abs() < 1e-8 && (bj - j).abs() < 1e-8);
    }
}

#[test]
fn icrs_patches_follow_meridians_of_right_ascension() {
    let g = Gnomonic::in_frame(Frame::Icrs, 194.95, 27.98, 64, 1.7).unwrap();
    let (ra, dec) = g.pixel_to_sky(40.0, 31.5);
    assert!((ra - 194.95).abs() < 1e-9 && dec > 27.98, "rows go north in dec: ({ra}, {dec})");
    let (l, b) = xcluster::sky::icrs_to_galactic(194.95, 27.98);
    assert!(angular_separation_deg(g.center_galactic().0, g.center_galactic().1, l, b) < 1e-12);
}

/// A map with a Gaussian blob (σ = 8′) at (glon, glat).
fn blob_map(nside: u32, glon: f64, glat: f64) -> HealpixMap {
    HealpixMap::from_fn(nside, Ordering::Ring, "K_CMB", |l, b| {
        let d = angular_separation_deg(l, b, glon, glat) * 60.0;
        (-(d * d) / (2.0 * 64.0)).exp() as f32
    })
    .unwrap()
}

#[test]
fn all_eight_rotations_keep_image_and_mask_aligned() {
    let (glon, glat) = (123.4, -30.2);
    let sky = Sky::new().with_band(Band::F143, blob_map(512, glon, glat)).unwrap();
    let base = Gnomonic::new(123.0, -30.0, 64, 1.7).unwrap();
    let image0 = sample_patches(&[sky.band(Band::F143).unwrap()], &[base], Interpolation::Bilinear).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut masked = Vec::new();
    for d in Dihedral::ALL {
        let g = base.transformed(d);
        let image = sample_patches(&[sky.band(Band::F143).unwrap()], &[g], Interpolation::Bilinear).unwrap();
        // The transformed image is a permutation of the untransformed one, pixel for pixel.
        let mut sorted_a = image.clone();
        let mut sorted_b = image0.clone();
        sorted_a.sort_by(f32::total_cmp);
        sorted_b.sort_by(f32::total_cmp);
        assert_eq!(sorted_a, sorted_b, "{d:?}");
        assert!(seen.insert(image.iter().map(|v| v.to_bits()).collect::<Vec<_>>()), "{d:?} repeats another transform");
        // The mask (disk of 8′) is centred on the cluster, where the image peaks, and selects the same
        // sky pixels under every transform.
        let (ci, cj) = g.galactic_to_pixel(glon, glat).unwrap();
        let info = PatchInfo {
            id: 0,
            projection: g,
            tile: Tiling::tile_of(glon, glat),
            split: Split::Train,
            seed_cluster: None,
            shift: (0.0, 0.0),
            clusters: vec![ClusterInPatch { index: 0, name: "c0".into(), i: ci, j: cj, theta500_arcmin: None }],
        };
        let patches = xcluster::patches::Patches::from_parts(vec![Band::F143], 64, image.clone(), vec![info]).unwrap();
        let data = patches.labels(xcluster::labels::Disk::arcmin(8.0)).unwrap();
        let mask = data.mask(0);
        let (mut si, mut sj, mut n) = (0.0, 0.0, 0.0);
        let mut under: Vec<f32> = Vec::new();
        for (k, &m) in mask.iter().enumerate() {
            si += m as f64 * (k / 64) as f64;
            sj += m as f64 * (k % 64) as f64;
            n += m as f64;
            if m > 0.5 {
                under.push(image[k]);
            }
        }
        assert!(
            (si / n - ci).abs() < 0.5 && (sj / n - cj).abs() < 0.5,
            "{d:?}: mask at ({}, {}), cluster ({ci}, {cj})",
            si / n,
            sj / n
        );
        let peak = image.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert!(((peak / 64) as f64 - ci).abs() <= 2.0 && ((peak % 64) as f64 - cj).abs() <= 2.0);
        under.sort_by(f32::total_cmp);
        masked.push(under);
    }
    assert_eq!(seen.len(), 8);
    assert!(masked.windows(2).all(|w| w[0] == w[1]), "every transform masks the same sky pixels");
}

fn random_clusters(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| (rng.gen_range(0.0..360.0), rng.gen_range(-1.0f64..1.0).asin().to_degrees())).collect()
}

#[test]
fn shifts_are_independent_in_x_and_y_and_keep_the_cluster_inside() {
    let cat = catalog_at(&random_clusters(1500, 5));
    let tiling = Tiling::default();
    let plan = PatchSampler::train(&tiling, &cat).loops(2).seed(9).plan(2048).unwrap();
    assert!(plan.len() > 1500, "{} training patches", plan.len());
    let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in &plan {
        let (di, dj) = p.shift;
        assert!(di.abs() <= 30.0 && dj.abs() <= 30.0 && di != dj);
        (sx, sy, sxx, syy, sxy) = (sx + di, sy + dj, sxx + di * di, syy + dj * dj, sxy + di * dj);
        let seed = p.clusters.iter().find(|c| Some(c.index) == p.seed_cluster).expect("seed cluster listed");
        assert!(p.projection.contains_pixel(seed.i, seed.j), "{p:?}");
        // Its distance from the centre is the drawn shift (rotations preserve it), even near the poles.
        let c = p.projection.center_pixel();
        let r = (seed.i - c).hypot(seed.j - c);
        assert!((r - di.hypot(dj)).abs() < 1e-5, "{r} vs shift {:?}", p.shift);
        if p.projection.transform() == Dihedral::IDENTITY {
            assert!((seed.i - c - di).abs() < 1e-5 && (seed.j - c - dj).abs() < 1e-5);
        }
    }
    let n = plan.len() as f64;
    let corr = (sxy / n - sx / n * sy / n) / ((sxx / n - (sx / n).powi(2)) * (syy / n - (sy / n).powi(2))).sqrt();
    assert!(corr.abs() < 0.08, "shift correlation {corr}");
    // Same seed, same plan; another seed or epoch, other shifts.
    let again = PatchSampler::train(&tiling, &cat).loops(2).seed(9).plan(2048).unwrap();
    assert_eq!(plan, again);
    let other = PatchSampler::train(&tiling, &cat).loops(2).seed(9).plan_epoch(2048, 1).unwrap();
    assert_ne!(plan[0].shift, other[0].shift);
    let rotations: std::collections::HashSet<u8> = plan.iter().map(|p| p.projection.transform().index()).collect();
    assert_eq!(rotations.len(), 8);
}

#[test]
fn no_training_patch_touches_validation_or_test_sky() {
    let cats = Catalogs::builtin().unwrap();
    let cat = cats.planck_z().unwrap();
    let tiling = Tiling::default();
    let nside = 2048;
    let plan = PatchSampler::train(&tiling, cat).loops(1).seed(2).plan(nside).unwrap();
    let train_clusters =
        cat.galactic().unwrap().iter().filter(|&&(l, b)| tiling.split_of(l, b) == Split::Train).count();
    assert!(plan.len() as f64 > 0.9 * train_clusters as f64, "{} of {train_clusters}", plan.len());
    let grid = Grid::new(nside, Ordering::Ring).unwrap();
    for p in &plan {
        assert_eq!(p.split, Split::Train);
        let (l, b) = p
            .clusters
            .iter()
            .find(|c| Some(c.index) == p.seed_cluster)
            .map(|c| p.projection.pixel_to_galactic(c.i, c.j))
            .unwrap();
        assert_eq!(tiling.split_of(l, b), Split::Train, "the seed cluster lies in a training tile");
        for i in 0..64 {
            for j in 0..64 {
                let (l, b) = p.projection.pixel_to_galactic(i as f64, j as f64);
                assert_eq!(tiling.split_of(l, b), Split::Train, "patch {} pixel ({i}, {j})", p.id);
                if i == 0 || j == 0 || i == 63 || j == 63 {
                    // Every map pixel the bilinear interpolation reads is training sky too.
                    for pix in grid.interpolation_weights(l, b).0 {
                        let (pl, pb) = grid.pix2ang(pix);
                        assert_eq!(tiling.split_of(pl, pb), Split::Train, "patch {} reads pixel {pix}", p.id);
                    }
                }
            }
        }
    }
    // Validation patches are not restricted, and follow their clusters' tiles.
    let val = PatchSampler::val(&tiling, cat).plan(nside).unwrap();
    assert!(val.iter().all(|p| p.split == Split::Val));
}

/// Every pixel centre of `tiles` at `nside` lies on at least one patch of the scan.
fn assert_scan_covers(tiles: &[u32], nside: u32, size: u32, pixel: f64, step: u32) -> usize {
    let cat = catalog_at(&[]);
    let tiling = Tiling::default();
    let plan = PatchSampler::scan(&tiling, &cat, tiles).size(size).pixel_arcmin(pixel).step(step).plan(2048).unwrap();
    let grid = Grid::new(nside, Ordering::Ring).unwrap();
    let reach = size as f64 * pixel / 60.0;
    for &t in tiles {
        for pix in Tiling::pixels(t, grid).unwrap() {
            let (l, b) = grid.pix2ang(pix);
            let covered = plan.iter().any(|p| {
                let (cl, cb) = p.projection.center_galactic();
                angular_separation_deg(l, b, cl, cb) < reach
                    && p.projection.galactic_to_pixel(l, b).is_some_and(|(i, j)| p.projection.contains_pixel(i, j))
            });
            assert!(covered, "tile {t}: ({l}, {b}) is on no patch");
        }
    }
    plan.len()
}

#[test]
fn scans_cover_whole_tiles_including_the_poles() {
    let n = assert_scan_covers(&[6], 128, 64, 1.7, 48);
    // Tile 6 is ~860 deg²; a 48-pixel step is 1.36°, so ~465 patches plus its border.
    assert!((465..900).contains(&n), "{n} patches");
    assert_scan_covers(&[0, 1, 2, 3, 44, 45, 46, 47], 32, 16, 60.0, 12);
    let all: Vec<u32> = (0..48).collect();
    assert_scan_covers(&all, 16, 16, 90.0, 12);
}

#[test]
fn scan_includes_empty_patches_and_lists_clusters_with_positions() {
    let cats = Catalogs::builtin().unwrap();
    let tiling = Tiling::default();
    let scan = PatchSampler::scan(&tiling, cats.planck_z().unwrap(), &[6]).plan(2048).unwrap();
    let empty = scan.iter().filter(|p| p.n_inside() == 0).count();
    assert!(empty > scan.len() / 2, "most scan patches hold no PSZ2 cluster: {empty} of {}", scan.len());
    let with: Vec<_> = scan.iter().filter(|p| p.n_inside() > 0).collect();
    assert!(!with.is_empty());
    let pos = cats.planck_z().unwrap().galactic().unwrap();
    for p in with {
        for c in &p.clusters {
            let (l, b) = p.projection.pixel_to_galactic(c.i, c.j);
            let (el, eb) = pos[c.index as usize];
            assert!(angular_separation_deg(l, b, el, eb) < 1e-9);
        }
    }
    // The footprint helper sees tile 6 under every scan patch.
    assert!(scan.iter().all(|p| footprint_tiles(&p.projection, 0.0).any(|t| t == 6)));
}

#[test]
fn metadata_table_describes_every_patch() {
    let (glon, glat) = (100.0, 50.0);
    let sky = Sky::new()
        .with_band(Band::F100, blob_map(64, glon, glat))
        .unwrap()
        .with_band(Band::F143, blob_map(64, glon, glat))
        .unwrap();
    let cat = catalog_at(&[(glon, glat), (glon + 0.3, glat)]);
    let tiling = Tiling::default();
    let patches =
        PatchSampler::clusters(&tiling, &cat, tiling.split_of(glon, glat)).loops(3).seed(4).extract(&sky).unwrap();
    assert_eq!(patches.len(), 6);
    assert_eq!(patches.data().len(), 6 * 2 * 64 * 64);
    let df = patches.df().unwrap();
    assert_eq!(df.height(), 6);
    for c in [
        "id",
        "glon",
        "glat",
        "ra",
        "dec",
        "tile",
        "split",
        "shift_i",
        "shift_j",
        "rotation",
        "n_clusters",
        "cluster_names",
        "cluster_i",
        "cluster_j",
    ] {
        assert!(df.column(c).is_ok(), "column {c}");
    }
    let n: Vec<u32> = df.column("n_clusters").unwrap().u32().unwrap().iter().flatten().collect();
    assert!(n.iter().all(|&k| (1..=2).contains(&k)));
    let ra = df.column("ra").unwrap().f64().unwrap().get(0).unwrap();
    let dec = df.column("dec").unwrap().f64().unwrap().get(0).unwrap();
    let (l, b) = patches.info()[0].projection.center_galactic();
    let (el, eb) = xcluster::sky::icrs_to_galactic(ra, dec);
    assert!(angular_separation_deg(l, b, el, eb) < 1e-9);
}

#[test]
fn stream_cuts_each_epoch_in_batches() {
    let sky = Sky::new().with_band(Band::F143, blob_map(64, 0.0, 0.0)).unwrap();
    let cat = catalog_at(&random_clusters(50, 8));
    let tiling = Tiling::default();
    let sampler = PatchSampler::train(&tiling, &cat).loops(2).seed(3).size(16).pixel_arcmin(20.0);
    let plan = sampler.plan_epoch(64, 1).unwrap();
    let stream = sampler.stream(&sky, 7, 1).unwrap();
    assert_eq!(stream.n_patches(), plan.len());
    let batches: Vec<_> = stream.map(|b| b.unwrap()).collect();
    assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), plan.len());
    assert!(batches[..batches.len() - 1].iter().all(|b| b.len() == 7));
    // The epoch's patches, shuffled: the same set as the plan.
    let mut ids: Vec<u64> = batches.iter().flat_map(|b| b.info().iter().map(|p| p.id)).collect();
    assert_ne!(ids, (0..plan.len() as u64).collect::<Vec<_>>());
    ids.sort_unstable();
    assert_eq!(ids, (0..plan.len() as u64).collect::<Vec<_>>());
    // Each batch equals cutting its plan entries directly.
    let first = &batches[0];
    let direct = sampler.cut(&sky, first.info().to_vec()).unwrap();
    assert_eq!(first.data(), direct.data());
    // Another epoch draws other patches.
    let e2: Vec<_> = sampler.stream(&sky, 7, 2).unwrap().next().unwrap().unwrap().info().to_vec();
    assert_ne!(e2[0].projection, first.info()[0].projection);
}

#[test]
fn bad_sampler_settings_are_named() {
    let cat = catalog_at(&[(0.0, 0.0)]);
    let tiling = Tiling::default();
    let e = PatchSampler::train(&tiling, &cat).max_shift(40.0).plan(64).unwrap_err().to_string();
    assert!(e.contains("max_shift"), "{e}");
    let e = PatchSampler::scan(&tiling, &cat, &[6]).step(0).plan(64).unwrap_err().to_string();
    assert!(e.contains("step"), "{e}");
    let e = PatchSampler::scan(&tiling, &cat, &[48]).plan(64).unwrap_err().to_string();
    assert!(e.contains("tile 48"), "{e}");
    let e = PatchSampler::train(&tiling, &cat).extract(&Sky::new()).unwrap_err().to_string();
    assert!(e.contains("no bands"), "{e}");
}
