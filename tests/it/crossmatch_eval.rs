//! Cross-matching and evaluation: matches and counts equal a brute-force loop over all pairs on
//! random positions; "possible" counts on a hand-made sky (patches in both frames, clusters placed
//! inside, outside, in overlaps, in a patch's circumscribed circle but off the square); purity and
//! completeness of a toy case known by construction; the results.txt format; written files.

use crate::common::catalog;

use polars::prelude::*;
use polars_io::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xcluster::catalog::Catalog;
use xcluster::crossmatch::{CrossMatch, Footprint, Matched};
use xcluster::detect::Detection;
use xcluster::evaluate::Evaluator;
use xcluster::patches::{Dihedral, Frame, Gnomonic, PatchInfo};
use xcluster::predict::Predictions;
use xcluster::prelude::{angular_separation_deg, galactic_to_icrs};
use xcluster::synthetic::Truth;
use xcluster::tiles::Split;

const N: usize = 64;
const PIX: f64 = 1.7;

fn info(id: u64, projection: Gnomonic) -> PatchInfo {
    PatchInfo { id, projection, tile: 3, split: Split::Test, seed_cluster: None, shift: (0.0, 0.0), clusters: vec![] }
}

fn galactic(l: f64, b: f64) -> Gnomonic {
    Gnomonic::new(l, b, N as u32, PIX).unwrap()
}

/// A 3-pixel-radius disk of probability `p` centred on patch pixel (ci, cj) of map `map`.
fn blob(map: &mut [f32], ci: f64, cj: f64, p: f32) {
    for (k, v) in map.iter_mut().enumerate().take(N * N) {
        let (i, j) = ((k / N) as f64, (k % N) as f64);
        if (i - ci).hypot(j - cj) <= 3.0 {
            *v = v.max(p);
        }
    }
}

/// Predictions of `patches` with blobs `(patch, i, j, p)`.
fn predictions(patches: Vec<PatchInfo>, blobs: &[(usize, f64, f64, f32)]) -> Predictions {
    let mut probs = vec![0.0f32; patches.len() * N * N];
    for &(n, i, j, p) in blobs {
        blob(&mut probs[n * N * N..(n + 1) * N * N], i, j, p);
    }
    Predictions::from_parts(probs, N, patches).unwrap()
}

fn f64s(df: &DataFrame, c: &str) -> Vec<Option<f64>> {
    df.column(c).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().iter().collect()
}
fn u32s(df: &DataFrame, c: &str) -> Vec<u32> {
    df.column(c).unwrap().cast(&DataType::UInt32).unwrap().u32().unwrap().into_no_null_iter().collect()
}
fn strs(df: &DataFrame, c: &str) -> Vec<Option<String>> {
    df.column(c).unwrap().str().unwrap().iter().map(|s| s.map(str::to_string)).collect()
}
fn sep_arcmin(a: (f64, f64), b: (f64, f64)) -> f64 {
    angular_separation_deg(a.0, a.1, b.0, b.1) * 60.0
}
fn positions(df: &DataFrame) -> Vec<(f64, f64)> {
    f64s(df, "glon").into_iter().zip(f64s(df, "glat")).map(|(l, b)| (l.unwrap(), b.unwrap())).collect()
}
fn on_patch(p: &PatchInfo, (l, b): (f64, f64)) -> bool {
    p.projection.galactic_to_pixel(l, b).is_some_and(|(i, j)| p.projection.contains_pixel(i, j))
}

/// (l, b) moved by `r_arcmin` towards position angle `theta` (small offsets).
fn offset((l, b): (f64, f64), r_arcmin: f64, theta: f64) -> (f64, f64) {
    let r = r_arcmin / 60.0;
    (l + r * theta.cos() / b.to_radians().cos(), b + r * theta.sin())
}

/// Four overlapping patches near (121°, 35°), one in the ICRS frame and one rotated.
fn random_sky_patches() -> Vec<PatchInfo> {
    let (ra, dec) = galactic_to_icrs(121.0, 36.4);
    vec![
        info(0, galactic(120.0, 35.0)),
        info(1, galactic(121.2, 35.5).transformed(Dihedral::new(5).unwrap())),
        info(2, galactic(122.0, 34.2)),
        info(
            3,
            Gnomonic::in_frame(Frame::Icrs, ra, dec, N as u32, PIX).unwrap().transformed(Dihedral::new(1).unwrap()),
        ),
    ]
}

#[test]
fn crossmatch_equals_brute_force() {
    let mut rng = StdRng::seed_from_u64(7);
    let patches = random_sky_patches();
    // 24 blobs at random pixels of random patches, at least 15′ apart.
    let mut blobs: Vec<(usize, f64, f64, f32)> = Vec::new();
    let mut sky: Vec<(f64, f64)> = Vec::new();
    while blobs.len() < 24 {
        let (n, i, j) = (rng.gen_range(0..4), rng.gen_range(5.0..58.0), rng.gen_range(5.0..58.0));
        let pos = patches[n].projection.pixel_to_galactic(i, j);
        if sky.iter().all(|&s| sep_arcmin(s, pos) > 15.0) {
            blobs.push((n, i, j, rng.gen_range(0.92..0.999)));
            sky.push(pos);
        }
    }
    let pred = predictions(patches.clone(), &blobs);
    let det = pred.detect(Detection::default()).unwrap();
    assert_eq!(det.len(), 24);
    // Catalogs: random objects over the region, plus objects 0–10′ from half the blobs (so that some
    // fall on either side of the radius, and some detections stay unknown).
    let mut make = |name: &str, n_random: usize, near: f64| {
        let mut pts: Vec<(f64, f64)> =
            (0..n_random).map(|_| (rng.gen_range(117.0..125.0), rng.gen_range(31.0..39.0))).collect();
        for &s in &sky {
            if rng.gen_bool(0.5) {
                pts.push(offset(s, rng.gen_range(0.0..near), rng.gen_range(0.0..std::f64::consts::TAU)));
            }
        }
        catalog(name, &pts)
    };
    let (alpha, beta) = (make("alpha", 300, 10.0), make("beta", 100, 10.0));
    let (c1, c2) = (make("c1", 200, 8.0), make("c2", 200, 8.0));
    let m = det.crossmatch(&[&alpha, &beta], &[&c1, &c2], &pred).unwrap();
    let df = m.detections();
    let dpos = positions(df);
    // Nearest within the radius, by looping over every pair.
    let nearest = |cat: &Catalog, r: f64| -> Vec<Option<(usize, f64)>> {
        let cpos = cat.galactic().unwrap();
        dpos.iter()
            .map(|&d| {
                (0..cpos.len())
                    .map(|k| (k, sep_arcmin(d, cpos[k])))
                    .filter(|x| x.1 <= r)
                    .min_by(|x, y| x.1.total_cmp(&y.1))
            })
            .collect()
    };
    let mut known = vec![false; dpos.len()];
    for (cat, row) in [(&alpha, 0usize), (&beta, 1)] {
        let want = nearest(cat, 7.0);
        let names = strs(df, &format!("{}_name", cat.name()));
        let seps = f64s(df, &format!("{}_sep_arcmin", cat.name()));
        for k in 0..dpos.len() {
            assert_eq!(names[k], want[k].map(|w| format!("{}-{}", cat.name(), w.0)), "{} detection {k}", cat.name());
            assert!(seps[k].zip(want[k]).is_none_or(|(s, w)| (s - w.1).abs() < 1e-6));
            known[k] |= want[k].is_some();
        }
        // Counts over all (cluster, patch) pairs.
        let cpos = cat.galactic().unwrap();
        let per: Vec<u32> = cpos.iter().map(|&c| patches.iter().filter(|p| on_patch(p, c)).count() as u32).collect();
        let mut rows: Vec<usize> = want.iter().flatten().map(|w| w.0).collect();
        let matched = rows.len() as u32;
        rows.sort_unstable();
        rows.dedup();
        let matched_unique = rows.iter().filter(|&&r| per[r] > 0).count() as u32;
        let s = m.summary();
        let got: Vec<u32> =
            ["n", "possible", "possible_unique", "matched", "matched_unique"].iter().map(|c| u32s(s, c)[row]).collect();
        let possible_unique = per.iter().filter(|&&c| c > 0).count() as u32;
        let want = [cpos.len() as u32, per.iter().sum(), possible_unique, matched, matched_unique];
        assert_eq!(got, want, "{}: n, possible, possible_unique, matched, matched_unique", cat.name());
        assert!(want[1] > want[2] && want[3] > 5, "the random sky exercises overlaps and matches: {want:?}");
    }
    // Contaminants: nearest over both catalogs within 5′; class from known and contaminant.
    let (w1, w2) = (nearest(&c1, 5.0), nearest(&c2, 5.0));
    let which = strs(df, "contaminant");
    let class = strs(df, "class");
    for k in 0..dpos.len() {
        let best = match (w1[k], w2[k]) {
            (Some(a), Some(b)) => Some(if a.1 <= b.1 { "c1" } else { "c2" }),
            (Some(_), None) => Some("c1"),
            (None, Some(_)) => Some("c2"),
            (None, None) => None,
        };
        assert_eq!(which[k].as_deref(), best, "detection {k}");
        let want = if known[k] {
            "known"
        } else if best.is_some() {
            "contaminant"
        } else {
            "unknown"
        };
        assert_eq!(class[k].as_deref(), Some(want), "detection {k}");
    }
    let known_col: Vec<bool> = df.column("known").unwrap().bool().unwrap().iter().map(|v| v.unwrap()).collect();
    assert_eq!(known_col, known);
    println!("{}", m.results_txt());
}

#[test]
fn footprint_counts_and_area_equal_brute_force() {
    let mut rng = StdRng::seed_from_u64(11);
    let patches = random_sky_patches();
    let fp = Footprint::new(&patches);
    let pts: Vec<(f64, f64)> = (0..3000).map(|_| (rng.gen_range(117.0..125.0), rng.gen_range(31.0..39.0))).collect();
    let got = fp.patch_counts(&pts).unwrap();
    let want: Vec<u32> = pts.iter().map(|&q| patches.iter().filter(|p| on_patch(p, q)).count() as u32).collect();
    assert_eq!(got, want);
    assert!(want.iter().filter(|&&c| c >= 2).count() > 50, "overlaps exercised");
    // Area: one 64 × 1.7′ gnomonic square is 4·asin(sin²a) sr, tan a = 32·1.7′ in radians.
    let a = (32.0 * PIX / 60.0f64).to_radians().atan();
    let one_sr = 4.0 * (a.sin() * a.sin()).asin();
    let one = one_sr * (180.0 / std::f64::consts::PI).powi(2);
    // Pixel centres alias against the square's edges: about 1 % at nside 2048, 0.1 % at 8192.
    let single = Footprint::new(&patches[..1]).area_deg2(2048).unwrap();
    assert!((single / one - 1.0).abs() < 0.015, "{single} vs {one}");
    let fine = Footprint::new(&patches[..1]).area_deg2(8192).unwrap();
    assert!((fine / one - 1.0).abs() < 0.003, "{fine} vs {one}");
    // The same patch twice counts once; a copy shifted by half a patch adds half its area.
    let twice = vec![patches[0].clone(), patches[0].clone()];
    assert_eq!(Footprint::new(&twice).area_deg2(2048).unwrap(), single);
    let (l, b) = patches[0].projection.pixel_to_galactic(31.5, 63.5);
    let halves = vec![patches[0].clone(), info(1, galactic(l, b))];
    let union = Footprint::new(&halves).area_deg2(2048).unwrap();
    assert!((union / (1.5 * one) - 1.0).abs() < 0.015, "{union} vs {}", 1.5 * one);
    assert!(Footprint::new(&patches).area_deg2(3).is_err(), "nside must be a power of two");
}

/// The hand-made sky of `possible_counts_and_results_txt`: three patches (two overlapping Galactic
/// ones, one ICRS rotated) and the positions used there.
struct Toy {
    patches: Vec<PatchInfo>,
    pred: Predictions,
    clusters: Catalog,
    other: Catalog,
    radio: Catalog,
    ir: Catalog,
}

fn toy() -> Toy {
    let (ra, dec) = galactic_to_icrs(200.0, -30.0);
    let p2 = Gnomonic::in_frame(Frame::Icrs, ra, dec, N as u32, PIX).unwrap().transformed(Dihedral::new(3).unwrap());
    let patches = vec![info(0, galactic(100.0, 40.0)), info(1, galactic(101.5, 40.0)), info(2, p2)];
    let at = |i: f64, j: f64| p2.pixel_to_galactic(i, j);
    // A: centre of patch 0 only (69′ from patch 1's centre, whose half-width is 54.4′); B: midway,
    // on both; C: on patch 2; D: 43 px off patch 2; E: far; F: 40 px from patch 2's centre (within
    // its circumscribed circle of 45 px) but off the square; G: one pixel off patch 2's right edge.
    let (a, b, c, d, e, f, g) =
        ((100.0, 40.0), (100.75, 40.0), at(10.0, 50.0), at(31.5, 75.0), (10.0, -60.0), at(66.5, 51.5), at(31.5, 64.5));
    let clusters = catalog("clusters", &[a, b, c, d, e, f, g]);
    let other = catalog("other", &[(100.0, 40.0 + 2.0 / 60.0)]);
    // Detections: A (patch 0), B (patches 0 and 1: one object), G (patch 2's edge, 5′ from G),
    // U1 (patch 2, a radio source 3′ away: contaminant), U2 (patch 0, a radio source 10′ away: unknown).
    let c0 = patches[0].projection;
    let (ai, aj) = c0.galactic_to_pixel(a.0, a.1).unwrap();
    let (bi, bj) = c0.galactic_to_pixel(b.0, b.1).unwrap();
    let (bi1, bj1) = patches[1].projection.galactic_to_pixel(b.0, b.1).unwrap();
    let blobs = [
        (0, ai, aj, 0.99),
        (0, bi, bj, 0.97),
        (1, bi1, bj1, 0.98),
        (2, 31.5, 62.0, 0.95),
        (2, 10.0, 10.0, 0.96),
        (0, 50.0, 50.0, 0.93),
    ];
    let u1 = at(10.0, 10.0);
    let u2 = c0.pixel_to_galactic(50.0, 50.0);
    let radio = catalog("radio", &[(u1.0, u1.1 + 3.0 / 60.0), (u2.0, u2.1 + 10.0 / 60.0)]);
    let ir = catalog("ir", &[(a.0, a.1 - 2.0 / 60.0)]);
    Toy { pred: predictions(patches.clone(), &blobs), patches, clusters, other, radio, ir }
}

#[test]
fn possible_counts_and_results_txt() {
    let t = toy();
    let counts = Footprint::new(&t.patches).patch_counts(&t.clusters.galactic().unwrap()).unwrap();
    assert_eq!(counts, [1, 2, 1, 0, 0, 0, 0], "A, B, C, D, E, F, G");
    let det = t.pred.detect(Detection::default()).unwrap();
    assert_eq!(u32s(det.df(), "n_patches"), [1, 2, 1, 1, 1], "A, B (two patches), U1, G, U2");
    let m = det.crossmatch(&[&t.clusters, &t.other], &[&t.radio, &t.ir], &t.pred).unwrap();
    let df = m.detections();
    println!("{df}\n{}", m.summary());
    assert_eq!(
        strs(df, "clusters_name"),
        [Some("clusters-0"), Some("clusters-1"), None, Some("clusters-6"), None].map(|s| s.map(String::from))
    );
    assert_eq!(strs(df, "other_name")[0].as_deref(), Some("other-0"));
    let class = strs(df, "class");
    assert_eq!(class, ["known", "known", "contaminant", "known", "unknown"].map(|s| Some(s.to_string())));
    // The known detection at A has the IR source 2′ away: filled, though its class stays known.
    assert_eq!(strs(df, "contaminant"), [Some("ir"), None, Some("radio"), None, None].map(|s| s.map(String::from)));
    let sep = f64s(df, "contaminant_sep_arcmin");
    assert!((sep[2].unwrap() - 3.0).abs() < 1.0, "{sep:?}");
    // G is matched (counts in `matched`) but lies off the footprint (not in `matched_unique`).
    let s = m.summary();
    assert_eq!(u32s(s, "possible"), [4, 1]);
    assert_eq!(u32s(s, "possible_unique"), [3, 1]);
    assert_eq!(u32s(s, "matched"), [3, 1]);
    assert_eq!(u32s(s, "matched_unique"), [2, 1]);
    assert_eq!(f64s(s, "completeness"), [Some(2.0 / 3.0), Some(1.0)]);
    assert_eq!(
        m.results_txt(),
        "clusters: 2(3)/3(4)\nother: 1(1)/1(1)\ndetections: 5, known: 3, unknown: 1, contaminant: 1\n"
    );
    // The same through the builder with a larger contaminant radius: U2's source at 10′ now counts.
    let wide = CrossMatch { contaminant_radius_arcmin: 11.0, ..CrossMatch::default() };
    let m = wide.run(&det, &[&t.clusters], &[&t.radio], &t.pred).unwrap();
    assert!(m.results_txt().ends_with("unknown: 0, contaminant: 2\n"), "{}", m.results_txt());
    // From patch metadata alone (scans not kept in memory): the same table.
    let again = wide.run_on(&det, &[&t.clusters], &[&t.radio], &Footprint::new(&t.patches)).unwrap();
    assert!(again.detections().equals_missing(m.detections()) && again.summary().equals_missing(m.summary()));
}

#[test]
fn write_files_and_errors() {
    let t = toy();
    let det = t.pred.detect(Detection::default()).unwrap();
    let m: Matched = det.crossmatch(&[&t.clusters, &t.other], &[&t.radio], &t.pred).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("files");
    m.write(&out).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("results.txt")).unwrap(), m.results_txt());
    let csv = std::fs::read_to_string(out.join("detections.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("patch_ids") && csv.contains(",0 1,"), "{csv}");
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(summary
        .starts_with("catalog,n,possible,possible_unique,matched,matched_unique,completeness\nclusters,7,4,3,3,2,"));
    let back = ParquetReader::new(std::fs::File::open(out.join("detections.parquet")).unwrap()).finish().unwrap();
    assert!(back.equals_missing(m.detections()));
    // Nothing detected: every count but `possible` is 0, purity undefined.
    let empty = predictions(t.patches.clone(), &[]);
    let none = empty.detect(Detection::default()).unwrap();
    let m0 = none.crossmatch(&[&t.clusters], &[&t.radio], &empty).unwrap();
    assert_eq!(m0.results_txt(), "clusters: 0(0)/3(4)\ndetections: 0, known: 0, unknown: 0, contaminant: 0\n");
    m0.write(dir.path().join("empty")).unwrap();
    let truth = t.clusters.df().clone();
    let ev = Evaluator::new().without_bins().evaluate(&none, &truth, &empty).unwrap();
    assert_eq!((ev.purity(), ev.completeness()), (None, Some(0.0)));
    // Errors: a repeated catalog name, a bad radius.
    let err = det.crossmatch(&[&t.clusters, &t.clusters], &[], &t.pred).unwrap_err().to_string();
    assert!(err.contains("two cluster catalogs are called \"clusters\""), "{err}");
    let bad = CrossMatch { cluster_radius_arcmin: 0.0, ..CrossMatch::default() };
    let err = bad.run(&det, &[&t.clusters], &[], &t.pred).unwrap_err().to_string();
    assert!(err.contains("cluster_radius_arcmin: must be in (0, 600] arcmin, got 0"), "{err}");
}

/// Two far-apart patches with 6 slots each, 20 px (34′) apart.
fn eval_patches() -> Vec<PatchInfo> {
    vec![info(0, galactic(60.0, 50.0)), info(1, galactic(250.0, -45.0))]
}
const SLOTS: [(f64, f64); 6] = [(12.0, 12.0), (12.0, 32.0), (12.0, 52.0), (32.0, 12.0), (32.0, 32.0), (32.0, 52.0)];

/// 10 injected clusters on slots 0…9 (and one off the footprint), detections on slots 0, 1, 2, 6, 7, 8
/// (peak 0.99) and false ones on slots 10, 11 (peak 0.95).
fn eval_case() -> (Predictions, DataFrame) {
    let patches = eval_patches();
    let slot = |s: usize| (s / 6, SLOTS[s % 6].0, SLOTS[s % 6].1);
    let sky = |s: usize| {
        let (n, i, j) = slot(s);
        patches[n].projection.pixel_to_galactic(i, j)
    };
    let mut pos: Vec<(f64, f64)> = (0..10).map(sky).collect();
    pos.push((0.0, 0.0));
    let truth = df!(
        "name" => (0..11).map(|k| format!("T{k}")).collect::<Vec<_>>(),
        "catalog" => (0..11).map(|k| if k >= 7 { "unknown" } else { "PSZ2" }).collect::<Vec<_>>(),
        "glon" => pos.iter().map(|p| p.0).collect::<Vec<_>>(),
        "glat" => pos.iter().map(|p| p.1).collect::<Vec<_>>(),
        "m500" => [2.0, 2.0, 2.0, 2.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 3.0],
        "z" => [0.15, 0.15, 0.15, 0.15, 0.15, 0.55, 0.55, 0.55, 0.55, 0.55, 0.3],
        "y5r500_arcmin2" => [1.5e-3; 11],
    )
    .unwrap();
    let mut blobs: Vec<(usize, f64, f64, f32)> = Vec::new();
    for s in [0, 1, 2, 6, 7, 8] {
        let (n, i, j) = slot(s);
        blobs.push((n, i, j, 0.99));
    }
    for s in [10, 11] {
        let (n, i, j) = slot(s);
        blobs.push((n, i, j, 0.95));
    }
    (predictions(patches, &blobs), truth)
}

#[test]
fn evaluation_toy_purity_completeness() {
    let (pred, truth) = eval_case();
    let det = pred.detect(Detection::default()).unwrap();
    assert_eq!(det.len(), 8);
    let ev = Evaluator::new().bins("m500", &[0.0, 4.0, 10.0]).evaluate(&det, &truth, &pred).unwrap();
    println!("{}\n{}", ev.summary(), ev.by_catalog());
    let s = ev.summary();
    assert_eq!(u32s(s, "n_detections"), [8]);
    assert_eq!(u32s(s, "n_true"), [6]);
    assert_eq!(u32s(s, "n_false"), [2]);
    assert_eq!(ev.purity(), Some(6.0 / 8.0));
    assert_eq!(u32s(s, "n_injected"), [10], "the 11th cluster is off the footprint");
    assert_eq!(ev.completeness(), Some(6.0 / 10.0));
    assert_eq!((u32s(s, "n_unknown"), u32s(s, "unknown_found")), (vec![3], vec![2]));
    let area = f64s(s, "area_deg2")[0].unwrap();
    let one = (64.0 * PIX / 60.0f64).powi(2);
    assert!((area / (2.0 * one) - 1.0).abs() < 0.01, "{area}");
    assert!((ev.false_per_deg2().unwrap() - 2.0 / area).abs() < 1e-12);
    // Bins: M500 [0, 4): clusters 0–3, 3 found; [4, 10): 4–9, 3 found.
    let m = ev.completeness_by("m500").unwrap();
    assert_eq!((u32s(m, "n"), u32s(m, "found")), (vec![4, 6], vec![3, 3]));
    assert_eq!(f64s(m, "completeness"), [Some(0.75), Some(0.5)]);
    // z (default edges): 0.15 → [0.1, 0.2) 5 clusters, 3 found; 0.55 → [0.5, 0.6) 5, 3 found; others empty.
    let z = ev.completeness_by("z").unwrap();
    let (n, found) = (u32s(z, "n"), u32s(z, "found"));
    assert_eq!((n[1], found[1], n[5], found[5], n.iter().sum::<u32>()), (5, 3, 5, 3, 10));
    assert_eq!(f64s(z, "completeness")[0], None, "an empty bin has no completeness");
    let y = ev.completeness_by("y5r500_arcmin2").unwrap();
    assert_eq!((u32s(y, "n")[3], u32s(y, "found")[3]), (10, 6), "1.5e-3 arcmin² is in [1e-3, 2e-3)");
    assert!(ev.completeness_by("lambda").is_err());
    let c = ev.by_catalog();
    assert_eq!(strs(c, "catalog"), [Some("PSZ2".to_string()), Some("unknown".to_string())]);
    assert_eq!((u32s(c, "n"), u32s(c, "found")), (vec![7, 3], vec![4, 2]));
    let on = Evaluator::new().evaluate_on(&det, &truth, &Footprint::of(&pred)).unwrap();
    assert!(on.summary().equals_missing(ev.summary()));
    let truth_of = strs(ev.detections(), "truth_name");
    assert_eq!(truth_of.iter().flatten().count(), 6);
    assert_eq!(ev.clusters().height(), 10);
    // A purity–completeness curve: at 0.97 the false detections (0.95) drop out.
    let curve = Evaluator::new().curve(&pred, Detection::default(), &[0.5, 0.9, 0.97], &truth).unwrap();
    println!("{curve}");
    assert_eq!(u32s(&curve, "n_detections"), [8, 8, 6]);
    assert_eq!(f64s(&curve, "purity"), [Some(0.75), Some(0.75), Some(1.0)]);
    assert_eq!(f64s(&curve, "completeness"), [Some(0.6); 3]);
    assert_eq!(f64s(&curve, "false_per_deg2")[2], Some(0.0));
    // Files and errors.
    let dir = tempfile::tempdir().unwrap();
    ev.write(dir.path()).unwrap();
    for f in [
        "evaluation.csv",
        "completeness_m500.csv",
        "completeness_z.csv",
        "completeness_catalog.csv",
        "evaluation_clusters.csv",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let err = Evaluator::new().bins("z", &[1.0, 0.5]).evaluate(&det, &truth, &pred).unwrap_err().to_string();
    assert!(err.contains("evaluate bins z"), "{err}");
    let no_y = truth.drop("y5r500_arcmin2").unwrap();
    let err = Evaluator::new().evaluate(&det, &no_y, &pred).unwrap_err().to_string();
    assert!(err.contains("no column \"y5r500_arcmin2\"") && err.contains("without_bins"), "{err}");
    assert!(Evaluator::new().without_bins().evaluate(&det, &no_y, &pred).is_ok());
}

#[test]
fn truth_catalogs_split_by_catalog_and_kind() {
    let (_, clusters) = eval_case();
    let sources = df!(
        "kind" => ["radio", "ir", "radio", "cold_clump"],
        "glon" => [1.0, 2.0, 3.0, 4.0],
        "glat" => [5.0, 6.0, 7.0, 8.0],
    )
    .unwrap();
    let truth = Truth { clusters, sources };
    let cats = truth.catalogs().unwrap();
    assert_eq!(cats.iter().map(|c| (c.name(), c.len())).collect::<Vec<_>>(), [("PSZ2", 7)]);
    let cont = truth.contaminants().unwrap();
    assert_eq!(
        cont.iter().map(|c| (c.name(), c.len())).collect::<Vec<_>>(),
        [("radio", 2), ("ir", 1), ("cold_clump", 1)]
    );
}
