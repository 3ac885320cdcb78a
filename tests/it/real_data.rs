//! The real-data loaders: maps and catalogs in the exact layouts of the published products
//! (`tests/fixtures/pla/`, built by `tests/fixtures/make_pla_fixtures.py` with astropy), a real
//! published catalog (nemo-sz's ACTPol clusters, `tests/fixtures/nemo/`), and unit handling.

use std::path::{Path, PathBuf};

use xcluster::catalog::{contaminants, Catalog, Catalogs, RealCatalog};
use xcluster::sky::{read_band, write_map, Band, HealpixMap, Ordering};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn pla(file: &str) -> PathBuf {
    fixtures().join("pla").join(file)
}

#[test]
fn frequency_maps_in_microkelvin_are_scaled_and_wrong_units_refused() {
    let dir = tempfile::tempdir().unwrap();
    let map = HealpixMap::from_fn(8, Ordering::Ring, "uK_CMB", |l, b| (l + 2.0 * b) as f32).unwrap();
    let path = dir.path().join("uk.fits");
    write_map(&path, &map, "I_STOKES").unwrap();
    let read = read_band(&path, Band::F143, "I_STOKES").unwrap();
    assert_eq!((read.ordering, read.unit.as_str()), (Ordering::Nested, "K_CMB"));
    let nested = map.to_ordering(Ordering::Nested);
    for (a, b) in read.data.iter().zip(&nested.data) {
        assert!((a - b * 1e-6).abs() <= 1e-6 * b.abs() * 1e-6 + 1e-12, "{a} vs {b} µK");
    }
    let err = read_band(&path, Band::F545, "I_STOKES").unwrap_err().to_string();
    assert!(err.contains("uk.fits") && err.contains("\"uK_CMB\"") && err.contains("545GHz"), "{err}");
    let bare = dir.path().join("bare.fits");
    write_map(&bare, &HealpixMap::from_fn(8, Ordering::Ring, "", |_, _| 1.0).unwrap(), "I_STOKES").unwrap();
    let err = read_band(&bare, Band::F100, "I_STOKES").unwrap_err().to_string();
    assert!(err.contains("bare.fits") && err.contains("no unit"), "{err}");
    // y is dimensionless: no unit is fine.
    assert_eq!(read_band(&bare, Band::YMap, "I_STOKES").unwrap().data[0], 1.0);
}

#[test]
fn band_units_convert_to_the_pipeline_units() {
    assert_eq!(Band::F100.scale_from("K_CMB"), Some(1.0));
    assert_eq!(Band::F100.scale_from("Kcmb"), Some(1.0));
    assert_eq!(Band::F217.scale_from("mK_CMB"), Some(1e-3));
    assert_eq!(Band::F353.scale_from("µK_CMB"), Some(1e-6));
    assert_eq!(Band::F857.scale_from("MJy/sr"), Some(1.0));
    assert_eq!(Band::F857.scale_from("K_CMB"), None);
    assert_eq!(Band::F100.scale_from("MJy/sr"), None);
    assert_eq!(Band::YMap.scale_from(""), Some(1.0));
    assert_eq!(Band::YMap.scale_from("K_CMB"), None);
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(pla("expected.json")).unwrap()).unwrap()
}

fn indices(v: &serde_json::Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn strings(cat: &Catalog, column: &str) -> Vec<String> {
    let c = cat.df().column(column).unwrap().str().unwrap().clone();
    c.iter().map(|s| s.unwrap_or_default().to_string()).collect()
}

fn floats(cat: &Catalog, column: &str) -> Vec<Option<f64>> {
    cat.df().column(column).unwrap().f64().unwrap().iter().collect()
}

#[test]
fn planck_maps_in_the_pla_layouts_load_through_the_params_file() {
    use xcluster::params::{Params, SkySource};
    let params = Params {
        sky: SkySource::Planck,
        planck_path: pla("maps"),
        milca_path: pla("maps"),
        bands: Band::ALL.to_vec(),
        ..Default::default()
    };
    let (sky, truth) = xcluster::sky::Sky::load(&params).unwrap();
    assert!(truth.is_none(), "real maps have no truth");
    assert_eq!(sky.nside(), Some(8));
    // The generator's formula: I = s·((p mod 97) + k) at NESTED pixel p, k = 1…6 for 100…857 GHz.
    for (k, band) in Band::ALL[..6].iter().enumerate() {
        let map = sky.band(*band).unwrap();
        assert_eq!((map.ordering, map.unit.as_str()), (Ordering::Nested, band.unit()));
        let s = if k < 4 { 1e-6 } else { 1e-2 };
        for (p, v) in map.data.iter().enumerate() {
            let want = (s * ((p % 97) as f64 + k as f64 + 1.0)) as f32;
            assert_eq!(*v, want, "{band} pixel {p}");
        }
    }
    let y = sky.band(Band::YMap).unwrap();
    for (p, v) in y.data.iter().enumerate() {
        assert_eq!(*v, (1e-7 * ((p % 89) as f64 - 10.0)) as f32, "y pixel {p}");
    }
    // The full R3.01 layout (10 columns, HITS as integers) reads the same intensity column.
    let full = read_band(pla("maps/HFI_SkyMap_100_2048_R3.01_full.fits"), Band::F100, "I_STOKES").unwrap();
    assert_eq!(full.data, sky.band(Band::F100).unwrap().data);
    // A missing map names the file and the fetch command.
    let params = Params { planck_path: "nowhere".into(), ..params };
    let err = xcluster::sky::Sky::load(&params).unwrap_err().to_string();
    assert!(err.contains("nowhere/HFI_SkyMap_100-field-IQU_2048_R3.00_full.fits"), "{err}");
    assert!(err.contains("xcluster fetch hfi-100"), "{err}");
}

#[test]
fn the_psz2_union_loads_gzipped_with_unknown_redshifts_and_masses_missing() {
    let gz = RealCatalog::Psz2Union.read(pla("catalogs/HFI_PCCS_SZ-union_R2.08.fits.gz"), "psz2").unwrap();
    let plain = RealCatalog::Psz2Union.read(pla("catalogs/HFI_PCCS_SZ-union_R2.08.fits"), "psz2").unwrap();
    assert!(gz.df().equals_missing(plain.df()));
    assert_eq!(gz.len(), 12);
    let z = floats(&gz, "z");
    let m500 = floats(&gz, "m500");
    assert_eq!(z.iter().filter(|v| v.is_some()).count(), 8);
    for (z, m) in z.iter().zip(&m500) {
        assert_eq!(z.is_none(), m.is_none(), "REDSHIFT = -1 goes with MSZ = 0");
    }
    // The rows are real PSZ2 clusters: each sits on a shipped PSZ2 cluster, under the same name.
    let shipped = Catalogs::builtin().unwrap().dataset(xcluster::catalog::ClusterSet::PlanckNoZ).unwrap();
    let m = gz.crossmatch(&shipped, 0.01, xcluster::catalog::Match::Nearest).unwrap();
    assert_eq!(m.height(), 12);
    let (a, b) = (m.column("name_a").unwrap().str().unwrap(), m.column("name_b").unwrap().str().unwrap());
    assert!(a.iter().zip(b.iter()).all(|(a, b)| a == b), "{m}");
    for extra in ["y5r500", "snr", "q_neural", "mcxc", "redmapper"] {
        assert!(gz.df().column(extra).is_ok(), "{extra} kept");
    }
}

#[test]
fn mcxc_from_the_cds_text_table_has_consistent_positions_and_masses() {
    let mcxc = RealCatalog::Mcxc.read(pla("catalogs/mcxc.dat"), "MCXC").unwrap();
    assert_eq!(mcxc.len(), 12);
    let names = strings(&mcxc, "name");
    assert_eq!(names[0], "MCXC J0000.1+0816");
    // Row 0 is a verbatim line of the real file: RAdeg 0.030, DEdeg 8.274, z 0.0396, M500 0.7373e14, R500 0.6296 Mpc.
    assert_eq!(mcxc.icrs().unwrap()[0], (0.030, 8.274));
    assert_eq!((floats(&mcxc, "z")[0], floats(&mcxc, "m500")[0]), (Some(0.0396), Some(0.7373)));
    assert_eq!(floats(&mcxc, "r500_mpc")[0], Some(0.6296));
    // The byte ranges are right when RAdeg/DEdeg, converted, land on the file's own GLON/GLAT.
    for ((ra, dec), (l, b)) in mcxc.icrs().unwrap().into_iter().zip(mcxc.galactic().unwrap()) {
        let (l2, b2) = xcluster::sky::icrs_to_galactic(ra, dec);
        assert!(
            xcluster::sky::angular_separation_deg(l, b, l2, b2) < 0.01,
            "({ra}, {dec}) → ({l2}, {b2}) vs ({l}, {b})"
        );
    }
    let err = RealCatalog::Mcxc.read(pla("catalogs/HFI_PCCS_GCC_R2.02.fits"), "MCXC").unwrap_err().to_string();
    assert!(err.contains("HFI_PCCS_GCC_R2.02.fits"), "{err}");
}

#[test]
fn fetched_catalogs_are_prepared_the_way_the_original_prepared_the_shipped_ones() {
    let e = expected();
    let cats = Catalogs::fetched(pla("catalogs")).unwrap();
    assert_eq!(cats.names(), ["planck_z", "planck_no-z", "MCXC", "RM30", "RM50"]);
    assert_eq!(cats.planck_z().unwrap().len(), 8);
    assert_eq!(cats.planck_no_z().unwrap().len(), 4);
    assert!(floats(cats.planck_no_z().unwrap(), "z").iter().all(Option::is_none));
    // MCXC and redMaPPer lose their clusters within 7′ of a PSZ2 cluster.
    let mcxc_all = strings(&RealCatalog::Mcxc.read(pla("catalogs/mcxc.dat"), "x").unwrap(), "name");
    let kept: Vec<String> =
        indices(&e["mcxc"]["kept_after_7arcmin_no_planck_filter"]).into_iter().map(|i| mcxc_all[i].clone()).collect();
    assert_eq!(strings(cats.mcxc().unwrap(), "name"), kept);
    let rm = RealCatalog::Redmapper.read(pla("catalogs/redmapper_dr8_public_v6.3_catalog.fits.gz"), "rm").unwrap();
    let rm_names = strings(&rm, "name");
    for (name, key) in [("RM30", "RM30_rows (LAMBDA > 30, far)"), ("RM50", "RM50_rows (LAMBDA > 50, far)")] {
        let want: Vec<String> = indices(&e["redmapper"][key]).into_iter().map(|i| rm_names[i].clone()).collect();
        let got = cats.get(name).unwrap();
        assert_eq!(strings(got, "name"), want, "{name}");
        assert!(strings(got, "catalog").iter().all(|c| c == name));
    }
    // Z_SPEC = -1 is a missing redshift; Z_LAMBDA stays as a column.
    let no_z = indices(&e["redmapper"]["z_spec_minus_one_rows"]);
    let z = floats(&rm, "z");
    assert!((0..rm.len()).all(|i| z[i].is_none() == no_z.contains(&i)), "{z:?}");
    assert!(rm.df().column("z_lambda").is_ok() && rm.df().column("lambda").is_ok());
    // A folder without the files says what to fetch.
    let err = Catalogs::fetched(pla("maps")).unwrap_err().to_string();
    assert!(err.contains("xcluster fetch psz2-union"), "{err}");
}

#[test]
fn contaminant_catalogs_follow_the_bands_and_sit_where_the_generator_put_them() {
    let e = expected();
    let bands = [Band::F100, Band::F545, Band::YMap];
    let cats = contaminants(pla("catalogs"), &bands).unwrap();
    let names: Vec<&str> = cats.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["PCCS2-100GHz", "PCCS2-545GHz", "PGCC"]);
    let psz2 = RealCatalog::Psz2Union.read(pla("catalogs/HFI_PCCS_SZ-union_R2.08.fits.gz"), "psz2").unwrap();
    for (cat, key) in cats.iter().zip([&e["pccs2"]["100"], &e["pccs2"]["545"], &e["pgcc"]]) {
        assert_eq!(
            strings(cat, "name"),
            key["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>()
        );
        // Sources within 2′ of a PSZ2 cluster: exactly the rows the generator placed there.
        let m = cat.crossmatch(&psz2, 2.0, xcluster::catalog::Match::All).unwrap();
        let rows: Vec<usize> =
            m.column("idx_a").unwrap().u32().unwrap().into_no_null_iter().map(|i| i as usize).collect();
        assert_eq!(rows, indices(&key["rows_within_2arcmin"]), "{}", cat.name());
    }
}

#[test]
fn actpol_psz2match_flags_agree_with_our_crossmatch_against_the_shipped_psz2() {
    use xcluster::catalog::{ClusterSet, ColumnMap, Match};
    use xcluster::crossmatch::CLUSTER_RADIUS_ARCMIN;
    let map = ColumnMap::auto().name("name").ra("RADeg").dec("decDeg").z("z").m500("M500cUPP");
    let act = Catalog::from_fits(fixtures().join("nemo/E-D56Clusters.fits"), "ACTPol", &map).unwrap();
    assert_eq!(act.len(), 182);
    let flags: Vec<bool> =
        act.df().column("psz2match").unwrap().i64().unwrap().into_no_null_iter().map(|f| f == 1).collect();
    assert_eq!(flags.iter().filter(|f| **f).count(), 30);
    let psz2 = Catalogs::builtin().unwrap().dataset(ClusterSet::PlanckNoZ).unwrap();
    let m = act.crossmatch(&psz2, CLUSTER_RADIUS_ARCMIN, Match::Nearest).unwrap();
    let mut ours = vec![false; act.len()];
    for i in m.column("idx_a").unwrap().u32().unwrap().into_no_null_iter() {
        ours[i as usize] = true;
    }
    assert_eq!(ours, flags, "our 7′ PSZ2 match vs the ACT team's PSZ2Match");
    // Where the ACT team's internal table records the PSZ2 counterpart, our separation and name agree.
    let cut = xcluster::catalog::read_fits_table(&fixtures().join("nemo/ACTPol_clusters_psz2cut.fits")).unwrap();
    let dist = cut.column("PSZ2_distArcmin").unwrap().f64().unwrap();
    let act_names = cut.column("name").unwrap().str().unwrap();
    let psz2_names = cut.column("PSZ2_name").unwrap().str().unwrap();
    let mut checked = 0;
    for row in 0..m.height() {
        let a = m.column("name_a").unwrap().str().unwrap().get(row).unwrap();
        let sep = m.column("sep_arcmin").unwrap().f64().unwrap().get(row).unwrap();
        let theirs = (0..cut.height()).find(|&i| act_names.get(i) == Some(a)).unwrap();
        if let (Some(d), Some(name)) = (dist.get(theirs), psz2_names.get(theirs)) {
            if name.is_empty() {
                continue;
            }
            assert!((d - sep).abs() < 0.05, "{a}: {sep:.3}′ vs ACT {d:.3}′");
            assert_eq!(m.column("name_b").unwrap().str().unwrap().get(row), Some(name), "{a}");
            checked += 1;
        }
    }
    assert!(checked >= 25, "{checked} ACT rows with a recorded PSZ2 counterpart checked");
}
