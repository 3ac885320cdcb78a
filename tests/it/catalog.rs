//! Catalogs: the shipped tables, user loaders, the dataset selection and cross-matching.

use crate::common;

use polars::prelude::*;
use polars_io::prelude::*;
use xcluster::catalog::{crossmatch, Catalog, Catalogs, ClusterSet, ColumnMap, Match};
use xcluster::sky::{angular_separation_deg, icrs_to_galactic};

fn f64s(df: &DataFrame, col: &str) -> Vec<Option<f64>> {
    df.column(col).unwrap().f64().unwrap().iter().collect()
}

#[test]
fn builtin_catalogs_have_the_documented_rows_and_normalised_columns() {
    let cats = Catalogs::builtin().unwrap();
    for (name, rows) in [("planck_z", 1094), ("planck_no-z", 559), ("MCXC", 1193), ("RM50", 4776), ("RM30", 15299)] {
        let c = cats.get(name).unwrap();
        assert_eq!(c.len(), rows, "{name}");
        let names: Vec<String> = c.df().get_column_names().iter().map(|s| s.to_string()).collect();
        assert_eq!(&names[..8], &xcluster::catalog::NORMALISED_COLUMNS, "{name}");
        for col in ["ra", "dec", "glon", "glat"] {
            assert_eq!(c.df().column(col).unwrap().null_count(), 0, "{name}.{col}");
        }
    }
    let e = cats.get("PSZ1").unwrap_err().to_string();
    assert!(e.contains("PSZ1") && e.contains("planck_z") && e.contains("RM50"), "{e}");
}

#[test]
fn builtin_units_and_names_are_normalised() {
    let cats = Catalogs::builtin().unwrap();
    let mcxc = cats.mcxc().unwrap().df();
    // MCXC M500 is 3.177e14 Msun in the CSV's first row.
    assert!((f64s(mcxc, "m500")[0].unwrap() - 3.177).abs() < 1e-12);
    assert!(mcxc.column("r500_mpc").is_ok());
    let psz = cats.planck_z().unwrap().df();
    assert_eq!(psz.column("name").unwrap().str().unwrap().get(0), Some("PSZ2 G000.04+45.13"));
    assert!(psz.column("y5r500").is_ok() && psz.column("redmapper").is_ok());
    // PSZ2 without redshift has no mass: the CSV's 0 becomes missing.
    assert_eq!(cats.planck_no_z().unwrap().df().column("m500").unwrap().null_count(), 559);
    // RM30 row 0 has no redshift, row 1 has one.
    let z = f64s(cats.rm30().unwrap().df(), "z");
    assert!(z[0].is_none() && (z[1].unwrap() - 0.27071142196655273).abs() < 1e-15);
}

#[test]
fn computed_galactic_positions_agree_with_the_catalogs_own() {
    // planck_z gives both RA/DEC and GLON/GLAT: our conversion reproduces GLON/GLAT to the
    // catalog's own precision (the PSZ2 team's conversion differs from astropy's by ~25 mas).
    let cats = Catalogs::builtin().unwrap();
    let df = cats.planck_z().unwrap().df();
    let (ra, dec, l, b) = (f64s(df, "ra"), f64s(df, "dec"), f64s(df, "glon"), f64s(df, "glat"));
    let worst = (0..df.height())
        .map(|i| {
            let (gl, gb) = icrs_to_galactic(ra[i].unwrap(), dec[i].unwrap());
            angular_separation_deg(gl, gb, l[i].unwrap(), b[i].unwrap())
        })
        .fold(0.0, f64::max);
    assert!(worst < 2e-5, "worst disagreement {worst} deg");
}

#[test]
fn dataset_selection_is_cumulative_like_the_original() {
    let cats = Catalogs::builtin().unwrap();
    let sizes: Vec<usize> = ClusterSet::ALL.iter().map(|&d| cats.dataset(d).unwrap().len()).collect();
    assert_eq!(sizes, vec![1094, 1094 + 559, 1094 + 559 + 1193, 1094 + 559 + 1193 + 15299, 1094 + 559 + 1193 + 4776]);
    let mcxc = cats.dataset(ClusterSet::Mcxc).unwrap();
    let origin = mcxc.df().column("catalog").unwrap().str().unwrap().clone();
    assert_eq!(origin.get(0), Some("planck_z"));
    assert_eq!(origin.get(1094 + 559), Some("MCXC"));
    assert_eq!("planck_no-z".parse::<ClusterSet>().unwrap(), ClusterSet::PlanckNoZ);
    let e = "ACT".parse::<ClusterSet>().unwrap_err().to_string();
    assert!(e.contains("ACT") && e.contains("planck_no-z"), "{e}");
}

#[test]
fn with_tiles_adds_tile_and_split() {
    let cats = Catalogs::builtin().unwrap();
    let df = cats.planck_z().unwrap().with_tiles(&xcluster::tiles::Tiling::default()).unwrap();
    let split = df.column("split").unwrap().str().unwrap();
    let tile = df.column("tile").unwrap().u32().unwrap();
    let test = split.iter().filter(|s| *s == Some("test")).count();
    let tile6 = tile.iter().filter(|t| *t == Some(6)).count();
    assert_eq!(test, tile6);
    assert!(test > 10, "the test tile holds PSZ2 clusters ({test})");
}

#[test]
fn csv_and_parquet_loaders_use_the_column_map() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("mine.csv");
    std::fs::write(
        &csv,
        "id,RAdeg,DEdeg,zspec,Mass,richness\nA,194.9529,27.9806,0.0231,6.5e14,120\nB,10.0,-80.0,,,30\n",
    )
    .unwrap();
    let map = ColumnMap::auto().name("id").m500("Mass").m500_scale(1e-14);
    let c = Catalog::from_csv(&csv, "mine", &map).unwrap();
    assert_eq!(c.len(), 2);
    let df = c.df();
    assert_eq!(df.column("name").unwrap().str().unwrap().get(0), Some("A"));
    assert!((f64s(df, "m500")[0].unwrap() - 6.5).abs() < 1e-12);
    assert_eq!(f64s(df, "z")[1], None);
    assert!(df.column("richness").is_ok());
    let (l, b) = icrs_to_galactic(194.9529, 27.9806);
    assert!((f64s(df, "glon")[0].unwrap() - l).abs() < 1e-12 && (f64s(df, "glat")[0].unwrap() - b).abs() < 1e-12);

    let pq = dir.path().join("mine.parquet");
    let mut out = df.clone();
    ParquetWriter::new(std::fs::File::create(&pq).unwrap()).finish(&mut out).unwrap();
    let back = Catalog::from_parquet(&pq, "mine", &ColumnMap::auto()).unwrap();
    assert_eq!(f64s(back.df(), "ra"), f64s(df, "ra"));
    assert_eq!(f64s(back.df(), "m500"), f64s(df, "m500"));

    // Galactic-only input: ra/dec are computed.
    let gal = dir.path().join("gal.csv");
    std::fs::write(&gal, "GLON,GLAT\n58.0,88.0\n").unwrap();
    let g = Catalog::from_csv(&gal, "gal", &ColumnMap::auto()).unwrap();
    let (ra, dec) = xcluster::sky::galactic_to_icrs(58.0, 88.0);
    assert!(
        (f64s(g.df(), "ra")[0].unwrap() - ra).abs() < 1e-12 && (f64s(g.df(), "dec")[0].unwrap() - dec).abs() < 1e-12
    );
}

#[test]
fn fits_tables_load_with_nan_as_missing_and_vector_columns_skipped() {
    let map = ColumnMap::auto().ra("RADeg").dec("DECDeg");
    let c = Catalog::from_fits(common::fixture("catalog_small.fits"), "small", &map).unwrap();
    let df = c.df();
    assert_eq!(df.height(), 5);
    assert_eq!(df.column("name").unwrap().str().unwrap().get(2), Some("A2163"));
    assert_eq!(f64s(df, "z")[4], None);
    assert!((f64s(df, "z")[0].unwrap() - 0.0231).abs() < 1e-15);
    assert_eq!(f64s(df, "m500")[4], None);
    assert!((f64s(df, "m500")[2].unwrap() - 16.1).abs() < 1e-5);
    assert_eq!(df.column("flag").unwrap().bool().unwrap().get(1), Some(false));
    assert_eq!(df.column("nobs").unwrap().i64().unwrap().get(2), Some(4));
    assert!(df.column("flux").is_err(), "vector column skipped");
}

#[test]
fn loader_errors_name_the_catalog_and_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("nopos.csv");
    std::fs::write(&csv, "x,y\n1,2\n").unwrap();
    let e = Catalog::from_csv(&csv, "nopos", &ColumnMap::auto()).unwrap_err().to_string();
    assert!(e.contains("nopos") && e.contains("RA and DEC") && e.contains("\"x\""), "{e}");
    let e = Catalog::from_csv(&csv, "nopos", &ColumnMap::auto().ra("RAJ")).unwrap_err().to_string();
    assert!(e.contains("\"RAJ\"") && e.contains("ra"), "{e}");
    let e = Catalog::from_csv(dir.path().join("absent.csv"), "x", &ColumnMap::auto()).unwrap_err().to_string();
    assert!(e.contains("absent.csv"), "{e}");
    let e = Catalog::from_fits(dir.path().join("absent.fits"), "x", &ColumnMap::auto()).unwrap_err().to_string();
    assert!(e.contains("absent.fits") && e.contains("no such file"), "{e}");
}

/// Random positions concentrated in a 10° × 10° field so that many pairs fall within the radius.
fn field(n: usize, seed: u64) -> Vec<(f64, f64)> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| (rng.gen_range(355.0..365.0f64).rem_euclid(360.0), rng.gen_range(-5.0..5.0))).collect()
}

fn brute_all(a: &[(f64, f64)], b: &[(f64, f64)], r: f64) -> Vec<(u32, u32, f64)> {
    let mut out = Vec::new();
    for (i, p) in a.iter().enumerate() {
        for (j, q) in b.iter().enumerate() {
            let s = angular_separation_deg(p.0, p.1, q.0, q.1) * 60.0;
            if s <= r {
                out.push((i as u32, j as u32, s));
            }
        }
    }
    out
}

fn triples(df: &DataFrame) -> Vec<(u32, u32, f64)> {
    let a = df.column("idx_a").unwrap().u32().unwrap();
    let b = df.column("idx_b").unwrap().u32().unwrap();
    let s = df.column("sep_arcmin").unwrap().f64().unwrap();
    (0..df.height()).map(|k| (a.get(k).unwrap(), b.get(k).unwrap(), s.get(k).unwrap())).collect()
}

fn same_pairs(mut got: Vec<(u32, u32, f64)>, mut expect: Vec<(u32, u32, f64)>) {
    got.sort_by_key(|p| (p.0, p.1));
    expect.sort_by_key(|p| (p.0, p.1));
    assert_eq!(got.len(), expect.len());
    for (g, e) in got.iter().zip(&expect) {
        assert_eq!((g.0, g.1), (e.0, e.1));
        assert!((g.2 - e.2).abs() < 1e-8, "{g:?} vs {e:?}");
    }
}

#[test]
fn crossmatch_equals_brute_force_in_every_mode() {
    let (a, b) = (field(1500, 1), field(2000, 2));
    for r in [0.5, 7.0, 30.0] {
        let all = brute_all(&a, &b, r);
        assert!(all.len() > 3, "radius {r}: {} pairs", all.len());
        same_pairs(triples(&crossmatch(&a, &b, r, Match::All).unwrap()), all.clone());

        let mut nearest: Vec<(u32, u32, f64)> = Vec::new();
        for p in &all {
            match nearest.iter_mut().find(|n| n.0 == p.0) {
                Some(n) if p.2 < n.2 => *n = *p,
                Some(_) => {}
                None => nearest.push(*p),
            }
        }
        same_pairs(triples(&crossmatch(&a, &b, r, Match::Nearest).unwrap()), nearest);

        let mut sorted = all.clone();
        sorted.sort_by(|x, y| x.2.total_cmp(&y.2));
        let (mut ua, mut ub) = (vec![false; a.len()], vec![false; b.len()]);
        let greedy: Vec<_> = sorted
            .into_iter()
            .filter(|p| {
                let ok = !ua[p.0 as usize] && !ub[p.1 as usize];
                if ok {
                    ua[p.0 as usize] = true;
                    ub[p.1 as usize] = true;
                }
                ok
            })
            .collect();
        same_pairs(triples(&crossmatch(&a, &b, r, Match::OneToOne).unwrap()), greedy);
    }
}

#[test]
fn crossmatch_handles_poles_wraparound_and_large_radii() {
    let a = [(0.0, 90.0), (359.999, 0.0), (10.0, -89.9)];
    let b = [(180.0, 89.95), (0.001, 0.0), (10.0, -89.95), (100.0, 0.0)];
    let m = triples(&crossmatch(&a, &b, 7.0, Match::Nearest).unwrap());
    assert_eq!(m.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(), vec![(0, 0), (1, 1), (2, 2)]);
    assert!((m[1].2 - 0.12).abs() < 1e-9);
    let wide = crossmatch(&a, &b, 600.0, Match::All).unwrap();
    same_pairs(triples(&wide), brute_all(&a, &b, 600.0));
    let e = crossmatch(&a, &b, 0.0, Match::All).unwrap_err().to_string();
    assert!(e.contains("radius_arcmin"), "{e}");
}

#[test]
fn catalog_crossmatch_reports_names() {
    let cats = Catalogs::builtin().unwrap();
    let rm30 = cats.rm30().unwrap();
    let rm50 = cats.rm50().unwrap();
    // RM30 includes the RM50 clusters: every RM50 cluster finds itself at 0′.
    let m = rm50.crossmatch(rm30, 0.01, Match::Nearest).unwrap();
    assert_eq!(m.height(), rm50.len());
    let sep = m.column("sep_arcmin").unwrap().f64().unwrap();
    assert!(sep.max().unwrap() < 1e-6);
    assert!(m.column("name_a").is_ok() && m.column("name_b").is_ok());
}
