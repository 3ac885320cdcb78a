//! FITS I/O: maps written by healpy / astropy are read right, ours are read by healpy, bad files
//! give errors that name the file and the problem.

use crate::common::{fixture, smooth_map_value};
use xcluster::sky::{read_map, write_map, write_maps, Column, HealpixMap, Ordering};

/// Check `m` holds the smooth map of make_fixtures.py (f32 rounding only).
fn assert_smooth_map(m: &HealpixMap) {
    assert_eq!(m.nside, 16);
    assert_eq!(m.data.len(), 3072);
    let g = m.grid();
    for p in 0..3072u64 {
        let ring = if m.ordering == Ordering::Nested { g.nest2ring(p) } else { p };
        let expect = smooth_map_value(&g, ring) as f32;
        assert!((m.data[p as usize] - expect).abs() <= 1e-6, "pixel {p}: {} vs {expect}", m.data[p as usize]);
    }
}

#[test]
fn reads_healpy_maps_in_every_layout() {
    let cases = [
        ("healpy_map_nside16_ring.fits", Column::from("I_STOKES"), Ordering::Ring, "K_CMB"),
        ("healpy_map_nside16_ring_idl.fits", Column::from(0), Ordering::Ring, "K_CMB"),
        ("healpy_map_nside16_nest.fits", Column::from("temperature"), Ordering::Nested, "uK"),
        ("healpy_map_nside16_1024perrow.fits", Column::from("TEMPERATURE"), Ordering::Ring, "K_CMB"),
        ("healpy_map_nside16_f64.fits", Column::from("FULL"), Ordering::Ring, "y"),
        ("healpy_map_nside16_3col.fits", Column::from("I_STOKES"), Ordering::Ring, "K_CMB"),
    ];
    for (file, column, ordering, unit) in cases {
        let m = read_map(fixture(file), column).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(m.ordering, ordering, "{file}");
        assert_eq!(m.unit, unit, "{file}");
        assert_smooth_map(&m);
    }
    let q = read_map(fixture("healpy_map_nside16_3col.fits"), 1).unwrap();
    let u = read_map(fixture("healpy_map_nside16_3col.fits"), "U_STOKES").unwrap();
    let i = read_map(fixture("healpy_map_nside16_3col.fits"), 0).unwrap();
    for p in 0..3072 {
        assert_eq!(q.data[p], 2.0 * i.data[p]);
        assert_eq!(u.data[p], -i.data[p]);
    }
}

#[test]
fn reads_the_wmap_maps_of_debian_healpy_data() {
    let path = std::path::Path::new("/usr/share/healpy/test/data/wmap_band_iqumap_r9_7yr_W_v4_udgraded32.fits");
    assert!(
        path.exists(),
        "{} is missing: install Debian's healpy-data (`apt-get install healpy-data`, done by .ci/run)",
        path.display()
    );
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("wmap_reference.json")).unwrap()).unwrap();
    let fields = reference["read_map_nest_None"].as_array().expect("fields");
    assert!(fields.len() >= 2);
    for (k, field) in fields.iter().enumerate() {
        let m = read_map(path, k).unwrap();
        assert_eq!(m.ordering, Ordering::Ring);
        assert_eq!(m.nside, 32);
        assert_eq!(m.data.len() as u64, field["npix"].as_u64().unwrap());
        let by_name = read_map(path, field["name"].as_str().unwrap()).unwrap();
        assert_eq!(by_name.data, m.data);
        for (i, v) in field["indices"].as_array().unwrap().iter().zip(field["values"].as_array().unwrap()) {
            // The reference values are f32 widened to f64; serde_json's default float parser may be
            // 1 ulp (f64) off, which narrowing back to f32 removes.
            assert_eq!(m.data[i.as_u64().unwrap() as usize], v.as_f64().unwrap() as f32, "field {k} pixel {i}");
        }
        let sum: f64 = m.data.iter().map(|&v| v as f64).sum();
        let expect = field["sum_f64"].as_f64().unwrap();
        assert!((sum - expect).abs() < 1e-9 * expect.abs().max(1.0), "field {k}: sum {sum} vs {expect}");
        let max = m.data.iter().cloned().fold(f32::MIN, f32::max);
        assert_eq!(max, field["max"].as_f64().unwrap() as f32);
    }
}

/// Our writer's output for the smooth map; `XCLUSTER_WRITE_FIXTURES=1` also stores it under
/// tests/fixtures, where `make_fixtures.py` checks that healpy reads it.
#[test]
fn maps_we_write_are_read_back_exactly_and_are_the_committed_healpy_checked_files() {
    let ring = read_map(fixture("healpy_map_nside16_ring.fits"), "I_STOKES").unwrap();
    let nest = ring.clone().to_ordering(Ordering::Nested);
    let nest = HealpixMap { unit: "uK".into(), ..nest };
    let dir = tempfile::tempdir().unwrap();
    for (map, column, name) in [
        (&ring, "I_STOKES", "xcluster_written_nside16_ring.fits"),
        (&nest, "TEMPERATURE", "xcluster_written_nside16_nest.fits"),
    ] {
        let path = dir.path().join(name);
        write_map(&path, map, column).unwrap();
        let back = read_map(&path, column).unwrap();
        assert_eq!(&back, map);
        // Overwriting an existing file works and leaves no temporary file behind.
        write_map(&path, map, column).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), if column == "I_STOKES" { 1 } else { 2 });
        let committed = fixture(name);
        if std::env::var_os("XCLUSTER_WRITE_FIXTURES").is_some() {
            std::fs::copy(&path, &committed).unwrap();
        }
        let ours = std::fs::read(&path).unwrap();
        let theirs = std::fs::read(&committed).expect("committed fixture (XCLUSTER_WRITE_FIXTURES=1 writes it)");
        assert!(ours == theirs, "{name}: the writer's output changed; regenerate and re-check with make_fixtures.py");
    }
}

#[test]
fn several_columns_are_written_and_mismatched_maps_refused() {
    let dir = tempfile::tempdir().unwrap();
    let i = HealpixMap::from_fn(8, Ordering::Nested, "K_CMB", |l, _| l as f32).unwrap();
    let q = HealpixMap { unit: "uK".into(), ..i.clone() };
    let path = dir.path().join("iq.fits");
    write_maps(&path, &[("I_STOKES", &i), ("Q_STOKES", &q)]).unwrap();
    assert_eq!(xcluster::sky::map_columns(&path).unwrap(), vec!["I_STOKES", "Q_STOKES"]);
    assert_eq!(read_map(&path, "Q_STOKES").unwrap(), q);
    let other = HealpixMap::zeros(16, Ordering::Nested, "").unwrap();
    let e = write_maps(dir.path().join("bad.fits"), &[("A", &i), ("B", &other)]).unwrap_err().to_string();
    assert!(e.contains("bad.fits") && e.contains("\"B\"") && e.contains("nside 16"), "{e}");
    assert!(!dir.path().join("bad.fits").exists());
}

fn read_err(path: &std::path::Path, column: impl Into<Column>) -> String {
    read_map(path, column).expect_err("must fail").to_string()
}

#[test]
fn bad_inputs_give_errors_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.fits");
    let e = read_err(&missing, 0);
    assert!(e.contains("nope.fits") && e.contains("no such file"), "{e}");

    let text = dir.path().join("notes.fits");
    std::fs::write(&text, "this is not a FITS file\n".repeat(200)).unwrap();
    let e = read_err(&text, 0);
    assert!(e.contains("notes.fits") && e.contains("not a FITS file"), "{e}");

    let e = read_err(dir.path(), 0);
    assert!(e.contains("directory"), "{e}");

    let bytes = std::fs::read(fixture("healpy_map_nside16_ring.fits")).unwrap();
    let truncated = dir.path().join("truncated.fits");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_err(&truncated, "I_STOKES");
    assert!(e.contains("truncated.fits") && e.contains("truncated"), "{e}");

    // Cut inside the table's header, and right after the primary HDU (no extension at all).
    for (len, name) in [(4000, "cut_header.fits"), (2880, "primary_only.fits")] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes[..len]).unwrap();
        let e = read_err(&path, 0);
        assert!(e.contains(name) && e.contains("HDU 1") && e.contains("truncated"), "{e}");
    }

    let e = read_err(&fixture("healpy_map_nside16_ring.fits"), "Q_STOKES");
    assert!(e.contains("healpy_map_nside16_ring.fits") && e.contains("Q_STOKES") && e.contains("I_STOKES"), "{e}");
    let e = read_err(&fixture("healpy_map_nside16_ring.fits"), 3);
    assert!(e.contains("column index 3"), "{e}");

    let e = read_err(&fixture("bad_nside_mismatch.fits"), 0);
    assert!(
        e.contains("bad_nside_mismatch.fits") && e.contains("NSIDE = 32") && e.contains("12288") && e.contains("3072"),
        "{e}"
    );

    let e = read_err(&fixture("bad_not_healpix.fits"), 0);
    assert!(e.contains("bad_not_healpix.fits") && e.contains("not a HEALPix table"), "{e}");

    let e = read_err(&fixture("bad_no_ordering.fits"), 0);
    assert!(e.contains("bad_no_ordering.fits") && e.contains("ORDERING"), "{e}");
}
