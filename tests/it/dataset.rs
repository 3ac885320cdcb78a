//! Labels, the normaliser (against astropy / scipy fixtures) and datasets (.npz read by numpy).

use crate::common;

use crate::common::catalog_at;
use rand::{Rng, SeedableRng};
use xcluster::dataset::Dataset;
use xcluster::labels::{t500_draw, Disk, T500_EDGES_ARCMIN, T500_PROBABILITIES};
use xcluster::normalise::{mad_std, median, mode_fit_sigma, Normaliser};
use xcluster::patches::{ClusterInPatch, Gnomonic, PatchInfo, PatchSampler, Patches};
use xcluster::sky::{angular_separation_deg, Band, HealpixMap, Ordering, Sky};
use xcluster::tiles::{Split, Tiling};

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(common::fixture("normalise_reference.json")).unwrap()).unwrap()
}

fn values() -> Vec<f32> {
    let file = std::fs::File::open(common::fixture("normalise_values.npy")).unwrap();
    let a: ndarray::Array1<f32> = ndarray_npy::ReadNpyExt::read_npy(file).unwrap();
    a.to_vec()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn mad_equals_astropy_mad_std_for_odd_and_even_counts() {
    let r = reference();
    let x = values();
    assert_eq!(x.len(), 60001);
    assert_eq!(median(&[&x], |v| v as f64).unwrap(), r["median"].as_f64().unwrap());
    assert!(rel(mad_std(&[&x]).unwrap(), r["mad_std"].as_f64().unwrap()) < 1e-12);
    let even = &x[..60000];
    // Split in uneven chunks: the result cannot depend on how values are grouped.
    let chunks = [&even[..7], &even[7..31000], &even[31000..]];
    assert!(rel(median(&chunks, |v| v as f64).unwrap(), r["median_even"].as_f64().unwrap()) < 1e-12);
    assert!(rel(mad_std(&chunks).unwrap(), r["mad_std_even"].as_f64().unwrap()) < 1e-12);
}

#[test]
fn mode_fit_equals_scipy_curve_fit() {
    let r = reference();
    let s = mode_fit_sigma(&[&values()]).unwrap();
    assert!(rel(s, r["mode_fit_sigma"].as_f64().unwrap()) < 1e-5, "{s}");
}

#[test]
fn median_by_selection_equals_sorting_on_millions_of_values_with_ties() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    // 3M values: more than one histogram pass, with heavy ties (a third are exactly 1.0).
    let x: Vec<f32> =
        (0..3_000_001).map(|k| if k % 3 == 0 { 1.0 } else { rng.gen_range(-5.0f32..5.0).powi(3) }).collect();
    let mut sorted: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(median(&[&x], |v| v as f64).unwrap(), sorted[x.len() / 2]);
    let constant = vec![2.5f32; 2_000_000];
    assert_eq!(median(&[&constant], |v| v as f64).unwrap(), 2.5);
    assert!(Normaliser::mad().fit_sky(&Sky::new(), &Tiling::default(), &[Band::F100]).is_err());
    let nan = [1.0f32, f32::NAN, 3.0];
    assert!(median(&[&nan], |v| v as f64).unwrap_err().to_string().contains("NaN"));
}

fn patches_from(values: Vec<f32>, n: usize, size: usize, split: Split) -> Patches {
    let info = (0..n)
        .map(|k| PatchInfo {
            id: k as u64,
            projection: Gnomonic::new(10.0 * k as f64, 20.0, size as u32, 1.7).unwrap(),
            tile: 0,
            split,
            seed_cluster: None,
            shift: (0.0, 0.0),
            clusters: vec![],
        })
        .collect();
    Patches::from_parts(vec![Band::F100, Band::F143], size, values, info).unwrap()
}

#[test]
fn normaliser_is_fitted_on_training_patches_and_applied_to_the_others() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let (n, s) = (20, 8);
    // Band 100 has σ ≈ 2, band 143 σ ≈ 50 in training; validation is 10× wider.
    let gen = |scale: f32, rng: &mut rand::rngs::StdRng| -> Vec<f32> {
        let mut v = Vec::new();
        for _ in 0..n {
            for sd in [2.0f32, 50.0] {
                v.extend((0..s * s).map(|_| sd * scale * rng.gen_range(-1.0f32..1.0)));
            }
        }
        v
    };
    let train = patches_from(gen(1.0, &mut rng), n, s, Split::Train);
    let val = patches_from(gen(10.0, &mut rng), n, s, Split::Val);
    let norm = Normaliser::mad().range_compression(true).fit(&train).unwrap();
    let band = |p: &Patches, c: usize| -> Vec<f32> { (0..p.len()).flat_map(|k| p.image(k, c).to_vec()).collect() };
    for c in 0..2 {
        assert!(rel(norm.sigma()[c], mad_std(&[&band(&train, c)]).unwrap()) < 1e-12);
    }
    let raw = val.data().to_vec();
    let val = norm.apply(val).unwrap();
    assert!(val.is_normalised());
    for (k, (&x, &y)) in raw.iter().zip(val.data()).enumerate() {
        let c = (k / (s * s)) % 2;
        assert_eq!(y, (x / norm.sigma()[c] as f32).asinh());
    }
    assert!(norm.apply(val).unwrap_err().to_string().contains("already normalised"));
    // JSON round trip, next to a model.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("normaliser.json");
    norm.save(&path).unwrap();
    // σ is applied as f32; JSON keeps it to the last bit of f32 (and within 1 ulp of f64).
    let back = Normaliser::load(&path).unwrap();
    for (a, b) in back.sigma().iter().zip(norm.sigma()) {
        assert!(rel(*a, *b) < 1e-15 && *a as f32 == *b as f32);
    }
    assert_eq!((back.bands(), back.method(), back.range_compressed()), (norm.bands(), norm.method(), true));
    std::fs::write(&path, "{}").unwrap();
    assert!(Normaliser::load(&path).unwrap_err().to_string().contains("normaliser.json"));
    // Without range compression the output is x/σ.
    let lin = Normaliser::fit_up_to_mode().range_compression(false).fit(&train).unwrap();
    assert_eq!(lin.transform(1, 3.0), 3.0 / lin.sigma()[1] as f32);
}

#[test]
fn fit_sky_uses_training_tiles_only() {
    // Validation/test tiles are 1000× brighter: σ must equal mad_std of the training pixels alone.
    let tiling = Tiling::default();
    for ordering in [Ordering::Ring, Ordering::Nested] {
        let map = HealpixMap::from_fn(16, ordering, "K_CMB", |l, b| {
            let x = (l.to_radians() * 7.0 + b.to_radians() * 3.0).sin() + 0.3;
            (x * if tiling.split_of(l, b) == Split::Train { 1.0 } else { 1000.0 }) as f32
        })
        .unwrap();
        let grid = map.grid();
        let train: Vec<f32> = (0..map.npix())
            .filter(|&p| {
                let (l, b) = grid.pix2ang(p as u64);
                tiling.split_of(l, b) == Split::Train
            })
            .map(|p| map.data[p])
            .collect();
        let sky = Sky::new().with_band(Band::F143, map).unwrap();
        let norm = Normaliser::mad().fit_sky(&sky, &tiling, &[Band::F143]).unwrap();
        assert!(rel(norm.sigma()[0], mad_std(&[&train]).unwrap()) < 1e-12, "{ordering:?}: {}", norm.sigma()[0]);
        assert!(norm.sigma()[0] < 2.0);
    }
}

#[test]
fn disk_masks_select_pixels_within_the_radius_on_the_sphere() {
    let (glon, glat) = (200.0, 10.0);
    let cat = catalog_at(&[(glon, glat), (glon + 0.75, glat + 0.2)]);
    let tiling = Tiling::default();
    let sky = Sky::new().with_band(Band::F143, HealpixMap::zeros(64, Ordering::Ring, "K_CMB").unwrap()).unwrap();
    let patches =
        PatchSampler::clusters(&tiling, &cat, tiling.split_of(glon, glat)).loops(4).seed(6).extract(&sky).unwrap();
    let data = patches.clone().labels(Disk::arcmin(5.0)).unwrap();
    for (k, p) in patches.info().iter().enumerate() {
        let mask = data.mask(k);
        for (at, &m) in mask.iter().enumerate() {
            let (l, b) = p.projection.pixel_to_galactic((at / 64) as f64, (at % 64) as f64);
            let near = p.clusters.iter().any(|c| {
                let (cl, cb) = p.projection.pixel_to_galactic(c.i, c.j);
                angular_separation_deg(l, b, cl, cb) * 60.0 <= 5.0
            });
            assert_eq!(m == 1.0, near, "patch {k} pixel {at}");
        }
        // Each full disk of 5′ at 1.7′ pixels covers about π (5/1.7)² ≈ 27 pixels.
        let on = mask.iter().filter(|&&m| m == 1.0).count();
        assert!((20..=2 * 34).contains(&on), "{on} pixels");
    }
    assert!(patches.clone().labels(Disk::arcmin(20.0)).unwrap_err().to_string().contains("disk_radius"));
    // θ500 disks use the catalog's M500 = 5e14 M☉ at z = 0.1: θ500 ≈ 10.6′ (cosmology).
    let theta = xcluster::cosmology::theta500_arcmin(5.0, 0.1);
    assert!(patches.info()[0].clusters.iter().all(|c| c.theta500_arcmin == Some(theta)));
    let big = patches.labels(Disk::Theta500 { seed: 1 }).unwrap();
    let on = big.mask(0).iter().filter(|&&m| m == 1.0).count() as f64;
    let expect = std::f64::consts::PI * (theta / 1.7).powi(2);
    assert!(on > 0.5 * expect && on < 2.0 * expect, "{on} vs {expect}");
}

#[test]
fn t500_distribution_follows_the_original_probabilities() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let n = 200_000;
    let mut counts = [0usize; 8];
    for _ in 0..n {
        let r = t500_draw(&mut rng);
        assert!((0.0..15.0).contains(&r));
        counts[T500_EDGES_ARCMIN.iter().rposition(|&e| e <= r).unwrap()] += 1;
    }
    for (c, p) in counts.iter().zip(T500_PROBABILITIES) {
        let f = *c as f64 / n as f64;
        assert!((f - p).abs() < 4.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-4, "{f} vs {p}");
    }
}

/// A dataset of `n` patches, 3 bands, `s`² pixels: input[n][c][i][j] = 1000 n + 100 c + i + j/100,
/// mask = (i == j) — the pattern make_patch_fixtures.py checks in numpy.
fn pattern_dataset(n: usize, s: usize) -> Dataset {
    let mut data = Vec::new();
    for k in 0..n {
        for c in 0..3 {
            for i in 0..s {
                for j in 0..s {
                    data.push((1000 * k + 100 * c + i) as f32 + j as f32 / 100.0);
                }
            }
        }
    }
    let masks: Vec<f32> = (0..n).flat_map(|_| (0..s * s).map(|at| if at / s == at % s { 1.0 } else { 0.0 })).collect();
    let info = (0..n)
        .map(|k| PatchInfo {
            id: k as u64,
            projection: Gnomonic::in_frame(xcluster::patches::Frame::Icrs, 30.0 * k as f64, -10.0, s as u32, 2.0)
                .unwrap()
                .transformed(xcluster::patches::Dihedral::new((k % 8) as u8).unwrap()),
            tile: k as u32,
            split: Split::Val,
            seed_cluster: Some(k as u32),
            shift: (k as f64 * 0.5, -1.25),
            clusters: (0..k % 3)
                .map(|m| ClusterInPatch {
                    index: m as u32,
                    name: format!("PSZ2 {m}"),
                    i: 1.5,
                    j: m as f64,
                    theta500_arcmin: (m == 1).then_some(4.5),
                })
                .collect(),
        })
        .collect();
    let patches = Patches::from_parts(vec![Band::F100, Band::F143, Band::F217], s, data, info).unwrap();
    Dataset::new(patches, masks).unwrap()
}

#[test]
fn npz_round_trips_and_is_nhwc_for_numpy() {
    let d = pattern_dataset(5, 6);
    let dir = tempfile::tempdir().unwrap();
    let (npz, parquet) = d.save(dir.path(), "val").unwrap();
    assert!(npz.ends_with("val.npz") && parquet.ends_with("val.parquet"));
    let back = Dataset::load(dir.path(), "val").unwrap();
    assert_eq!(back.inputs(), d.inputs());
    assert_eq!(back.masks(), d.masks());
    assert_eq!(back.patches().bands(), d.patches().bands());
    assert_eq!(back.patches().info(), d.patches().info());
    // NHWC on disk: element (n, i, j, c) of `inputs`.
    let mut r = ndarray_npy::NpzReader::new(std::fs::File::open(&npz).unwrap()).unwrap();
    let a: ndarray::Array4<f32> = r.by_name("inputs").unwrap();
    assert_eq!(a.dim(), (5, 6, 6, 3));
    assert_eq!(a[[4, 2, 5, 1]], 4102.05);
    if std::env::var_os("XCLUSTER_WRITE_FIXTURES").is_some() {
        std::fs::copy(&npz, common::fixture("xcluster_dataset.npz")).unwrap();
    }
    // The committed file (checked by numpy in make_patch_fixtures.py) still loads here.
    let mut r =
        ndarray_npy::NpzReader::new(std::fs::File::open(common::fixture("xcluster_dataset.npz")).unwrap()).unwrap();
    let fixture: ndarray::Array4<f32> = r.by_name("inputs").unwrap();
    assert_eq!(fixture, a);
    let e = Dataset::load(dir.path(), "missing").unwrap_err().to_string();
    assert!(e.contains("missing.npz"), "{e}");
}

#[test]
fn shuffle_and_batches_keep_inputs_masks_and_metadata_together() {
    let mut d = pattern_dataset(10, 4);
    d.shuffle(3);
    let ids: Vec<u64> = d.patches().info().iter().map(|p| p.id).collect();
    assert_ne!(ids, (0..10).collect::<Vec<_>>());
    for (k, &id) in ids.iter().enumerate() {
        assert_eq!(d.patches().image(k, 0)[0], 1000.0 * id as f32, "inputs follow the metadata");
    }
    let batches: Vec<_> = d.batches(4).collect();
    assert_eq!(batches.iter().map(|b| b.n).collect::<Vec<_>>(), vec![4, 4, 2]);
    assert_eq!(batches[2].inputs.len(), 2 * 3 * 16);
    assert_eq!(batches[2].masks.len(), 2 * 16);
    assert_eq!(batches[1].inputs[0], 1000.0 * ids[4] as f32);
    let df = d.df().unwrap();
    assert_eq!(df.column("mask_pixels").unwrap().u32().unwrap().get(0), Some(4));
}

#[test]
fn streamed_split_equals_the_in_memory_dataset() {
    let sky = Sky::new()
        .with_band(
            Band::F100,
            HealpixMap::from_fn(256, Ordering::Nested, "K_CMB", |l, b| (l.to_radians().sin() + b.to_radians()) as f32)
                .unwrap(),
        )
        .unwrap()
        .with_band(
            Band::F143,
            HealpixMap::from_fn(256, Ordering::Nested, "K_CMB", |l, b| (l * 0.01 - b * 0.02) as f32).unwrap(),
        )
        .unwrap();
    let tiling = Tiling::default();
    // Three clusters at the centres of training tiles, far from held-out sky.
    let centres: Vec<(f64, f64)> = tiling.tiles(Split::Train)[..3].iter().map(|&t| Tiling::tile_center(t)).collect();
    let cat = catalog_at(&centres);
    let sampler = PatchSampler::clusters(&tiling, &cat, Split::Train).loops(3).seed(2).size(16).pixel_arcmin(10.0);
    let norm = Normaliser::mad().fit_sky(&sky, &tiling, &[Band::F100, Band::F143]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let written =
        xcluster::dataset::write_split(dir.path(), "train", &sampler, &sky, &norm, Disk::arcmin(15.0)).unwrap();
    assert_eq!(written.patches, 9);
    let streamed = Dataset::load(dir.path(), "train").unwrap();
    let memory = norm.apply(sampler.extract(&sky).unwrap()).unwrap().labels(Disk::arcmin(15.0)).unwrap();
    assert_eq!(streamed.inputs(), memory.inputs());
    assert_eq!(streamed.masks(), memory.masks());
    assert_eq!(streamed.patches().info(), memory.patches().info());
    assert!(streamed.patches().is_normalised());
    assert!(written.labelled_fraction > 0.0 && written.clusters_seen == 3);
    if std::env::var_os("XCLUSTER_WRITE_FIXTURES").is_some() {
        std::fs::copy(&written.npz, common::fixture("xcluster_streamed.npz")).unwrap();
    }
}
