//! Detection: components equal scipy.ndimage (label + center_of_mass, 8- and 4-connectivity) on a
//! committed fixture; edge cases (touching components, wider than 15′, single pixels, map edges,
//! empty maps); sightings in overlapping patches merge into one object with the right count.

use serde::Deserialize;
use xcluster::detect::{components, Detection};
use xcluster::patches::{Gnomonic, PatchInfo};
use xcluster::predict::Predictions;
use xcluster::tiles::Split;

#[derive(Deserialize)]
struct Fixture {
    maps: Vec<Vec<f32>>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    map: usize,
    threshold: f32,
    connectivity: u8,
    sizes: Vec<usize>,
    centres: Vec<[f64; 2]>,
}

fn detection(threshold: f32, min_pixels: usize, connectivity: u8) -> Detection {
    Detection { threshold, min_pixels, connectivity, ..Detection::default() }
}

#[test]
fn components_equal_scipy_ndimage() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/detect_components.json")).unwrap();
    let f: Fixture = serde_json::from_str(&text).unwrap();
    assert_eq!(f.cases.len(), 24);
    for c in &f.cases {
        let got = components(&f.maps[c.map], 64, &detection(c.threshold, 1, c.connectivity), 1e9);
        let tag = format!("map {} threshold {} connectivity {}", c.map, c.threshold, c.connectivity);
        assert_eq!(got.iter().map(|g| g.pixels.len()).collect::<Vec<_>>(), c.sizes, "{tag}");
        for (g, want) in got.iter().zip(&c.centres) {
            assert!(
                (g.centre.0 - want[0]).abs() < 1e-6 && (g.centre.1 - want[1]).abs() < 1e-6,
                "{tag}: {:?} vs {want:?}",
                g.centre
            );
        }
    }
}

fn map_with(pixels: &[(usize, usize, f32)], size: usize) -> Vec<f32> {
    let mut m = vec![0.0; size * size];
    for &(i, j, p) in pixels {
        m[i * size + j] = p;
    }
    m
}

#[test]
fn edge_cases() {
    let d8 = detection(0.9, 4, 8);
    // Two 2×2 squares touching diagonally: one component with 8-connectivity, two with 4.
    let m = map_with(
        &[(1, 1, 1.0), (1, 2, 1.0), (2, 1, 1.0), (2, 2, 1.0), (3, 3, 1.0), (3, 4, 1.0), (4, 3, 1.0), (4, 4, 1.0)],
        8,
    );
    assert_eq!(components(&m, 8, &d8, 1e9).len(), 1);
    assert_eq!(components(&m, 8, &detection(0.9, 4, 4), 1e9).len(), 2);
    // A single pixel is below min_pixels 4, kept with min_pixels 1, centred on itself.
    let m = map_with(&[(5, 6, 0.95)], 8);
    assert!(components(&m, 8, &d8, 1e9).is_empty());
    let one = components(&m, 8, &detection(0.9, 1, 8), 1e9);
    assert_eq!((one.len(), one[0].centre, one[0].peak), (1, (5.0, 6.0), (0.95, 46)));
    // A pixel and three neighbours, in a corner of the map: exactly min_pixels.
    let m = map_with(&[(0, 0, 0.99), (0, 1, 0.91), (1, 0, 0.91), (1, 1, 0.91)], 8);
    let c = components(&m, 8, &d8, 1e9);
    assert_eq!(c.len(), 1);
    let w = 0.99 + 3.0 * 0.91;
    assert!((c[0].centre.0 - (0.91 + 0.91) / w).abs() < 1e-6);
    // An empty map has no component.
    assert!(components(&vec![0.0; 64], 8, &d8, 1e9).is_empty());
    // A 1×40 bar with its peak at column 5 and max radius 10 px: split at the radius into pieces, none
    // wider than 10 px from its own peak, all pixels accounted for.
    let bar: Vec<(usize, usize, f32)> = (0..40).map(|j| (3, j, if j == 5 { 1.0 } else { 0.95 })).collect();
    let m = map_with(&bar, 64);
    let parts = components(&m, 64, &detection(0.9, 1, 8), 10.0);
    assert!(parts.len() >= 2, "{}", parts.len());
    assert_eq!(parts.iter().map(|p| p.pixels.len()).sum::<usize>(), 40);
    assert_eq!(parts[0].pixels.len(), 16, "columns 0…15 lie within 10 px of the peak at 5");
    for p in &parts {
        let peak_j = (p.peak.1 % 64) as f64;
        assert!(p.pixels.iter().all(|&k| ((k % 64) as f64 - peak_j).abs() <= 10.0));
    }
}

fn info(id: u64, glon: f64, glat: f64) -> PatchInfo {
    PatchInfo {
        id,
        projection: Gnomonic::new(glon, glat, 64, 1.7).unwrap(),
        tile: 6,
        split: Split::Test,
        seed_cluster: None,
        shift: (0.0, 0.0),
        clusters: vec![],
    }
}

/// A 3-pixel-radius disk of probability `p` around sky position (l, b) on patch `info`.
fn blob(probs: &mut [f32], info: &PatchInfo, l: f64, b: f64, p: f32) {
    let (ci, cj) = info.projection.galactic_to_pixel(l, b).unwrap();
    for (k, v) in probs.iter_mut().enumerate() {
        let (i, j) = ((k / 64) as f64, (k % 64) as f64);
        if (i - ci).hypot(j - cj) <= 3.0 {
            *v = v.max(p);
        }
    }
}

#[test]
fn overlapping_patches_merge_into_one_object() {
    // Three patches overlapping around (l, b) = (100, 40): a cluster at (100.1, 40.05) seen by all
    // three (with different peaks), another at (99.5, 40.3) seen by one, 0.6° away.
    let infos = vec![info(0, 100.0, 40.0), info(1, 100.4, 40.0), info(2, 100.2, 40.3)];
    let mut probs = vec![0.0f32; 3 * 64 * 64];
    for (n, p) in [0.95f32, 0.99, 0.97].into_iter().enumerate() {
        blob(&mut probs[n * 4096..(n + 1) * 4096], &infos[n], 100.1, 40.05, p);
    }
    blob(&mut probs[..4096], &infos[0], 99.5, 40.3, 0.93);
    let pred = Predictions::from_parts(probs, 64, infos).unwrap();
    let det = pred.detect(Detection::default()).unwrap();
    let df = det.df();
    assert_eq!(df.height(), 2, "{df}");
    let n_patches: Vec<u32> = df.column("n_patches").unwrap().u32().unwrap().into_no_null_iter().collect();
    let peaks: Vec<f32> = df.column("peak").unwrap().f32().unwrap().into_no_null_iter().collect();
    assert_eq!(n_patches, [3, 1]);
    assert!((peaks[0] - 0.99).abs() < 1e-6 && (peaks[1] - 0.93).abs() < 1e-6);
    let (l, b) = (
        df.column("glon").unwrap().f64().unwrap().get(0).unwrap(),
        df.column("glat").unwrap().f64().unwrap().get(0).unwrap(),
    );
    let sep = xcluster::prelude::angular_separation_deg(l, b, 100.1, 40.05) * 60.0;
    assert!(sep < 0.5, "merged object {sep}′ from the injected position");
    assert_eq!(det.per_patch().height(), 4);
    // Thresholds are validated.
    let err = pred.detect(Detection { threshold: 0.0, ..Detection::default() }).unwrap_err().to_string();
    assert!(err.contains("threshold: must be in (0, 1], got 0"), "{err}");
}
