//! `xcluster bench query`: SQL, positional joins, regions and exports at scale.

use polars::prelude::*;

use super::{random_positions, timed_rows_df};
use crate::error::{ensure_param, Error, Result};

/// `xcluster bench query`: the time of a SQL query, a positional join, a cone filter and a FITS
/// export on `n` random detections (and a catalog of `n` random objects); `report` is called with
/// each row as it completes. One row per step: `benchmark`, `n`, `seconds`, `per_second`.
pub fn run_query(n: usize, mut report: impl FnMut(&str, usize, f64)) -> Result<DataFrame> {
    use crate::join::{join_position, PositionJoin};
    use crate::query::Tables;
    use crate::region::{within, Frame, Region};
    use std::time::Instant;
    ensure_param!(n >= 1, "bench", "need at least one row");
    let (a, b) = (random_positions(n, 5), random_positions(n, 6));
    let classes = ["known", "unknown", "contaminant"];
    let det = df!(
        "id" => (0..n as u32).collect::<Vec<_>>(),
        "glon" => a.iter().map(|p| p.0).collect::<Vec<_>>(),
        "glat" => a.iter().map(|p| p.1).collect::<Vec<_>>(),
        "peak" => (0..n).map(|k| 0.9 + 0.1 * ((k * 7919) % 1000) as f64 / 1000.0).collect::<Vec<_>>(),
        "class" => (0..n).map(|k| classes[k % 3]).collect::<Vec<_>>(),
    )?;
    let cat = df!(
        "cid" => (0..n as u32).rev().collect::<Vec<_>>(),
        "name" => (0..n).map(|k| format!("c{k}")).collect::<Vec<_>>(),
        "glon" => b.iter().map(|p| p.0).collect::<Vec<_>>(),
        "glat" => b.iter().map(|p| p.1).collect::<Vec<_>>(),
    )?;
    let mut rows: Vec<(String, usize, f64)> = Vec::new();
    let mut time = |name: String, rows_in: usize, f: &mut dyn FnMut() -> Result<usize>| -> Result<()> {
        let t = Instant::now();
        let out = f()?;
        let secs = t.elapsed().as_secs_f64();
        report(&name, rows_in, secs);
        rows.push((format!("{name} → {out} rows"), rows_in, secs));
        Ok(())
    };
    let tables = Tables::new().with("detections", &det)?.with("cat", &cat)?;
    let q = "SELECT class, COUNT(*) AS n, AVG(peak) AS peak FROM detections \
             WHERE ABS(glat) > 30 AND peak BETWEEN 0.95 AND 1 GROUP BY class";
    time(format!("SQL filter + group-by on {n} detections"), n, &mut || Ok(tables.sql(q)?.height()))?;
    let q = "SELECT d.id, c.name FROM detections d JOIN cat c ON d.id = c.cid WHERE d.glat > 60";
    time(format!("SQL join on a key, {n} × {n}"), n, &mut || Ok(tables.sql(q)?.height()))?;
    time(
        format!("the index cross-match alone (catalog::crossmatch, nearest within 5′), {n} × {n}"),
        n,
        &mut || Ok(crate::catalog::crossmatch(&a, &b, 5.0, crate::catalog::Match::Nearest)?.height()),
    )?;
    time(format!("positional join (nearest within 5′), {n} × {n}"), n, &mut || {
        Ok(join_position(&det, &cat, &PositionJoin::nearest(5.0))?.height())
    })?;
    time(format!("positional join (all pairs within 5′), {n} × {n}"), n, &mut || {
        Ok(join_position(&det, &cat, &PositionJoin::all(5.0))?.height())
    })?;
    let cone = Region::cone(Frame::Galactic, 0.0, 90.0, 30.0)?;
    time(format!("cone filter on {n} detections"), n, &mut || Ok(within(&det, &cone)?.height()))?;
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    time(format!("FITS export of {n} detections"), n, &mut || {
        crate::export::export(&det, dir.path().join("d.fits"))?;
        Ok(n)
    })?;
    timed_rows_df(&rows)
}
