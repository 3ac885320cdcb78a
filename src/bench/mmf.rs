//! `xcluster bench mmf`: the matched filter's speed on a synthetic sky of the six HFI bands, with
//! its compact sources masked as `xcluster run` masks them; and, with the peer, the filter alone on
//! the same patches beside a numpy implementation of the same formulas (`benches/mmf_peer.py`).

use std::time::Instant;

use ndarray::{Array1, Array4};
use polars::prelude::*;
use rayon::prelude::*;

use super::Peer;
use crate::error::{Error, Result};
use crate::mmf::{Mmf, SourceMask};
use crate::sky::{Band, Sky};
use crate::synthetic::Synthetic;
use crate::tiles::N_TILES;

/// The peer script: the filter in numpy (shared/MMF.md's formulas, vectorised).
const PEER_SCRIPT: &str = include_str!("../../benches/mmf_peer.py");

/// Patches of the test tile filtered by both, ours and the peer.
const PEER_PATCHES: usize = 24;

/// The peer's JSON line.
#[derive(Debug, serde::Deserialize)]
struct PeerRun {
    framework: String,
    seconds: f64,
    q_max: Vec<f64>,
}

/// One row of the table.
struct Row {
    name: String,
    /// Patches filtered (none for the synthesis).
    patches: Option<u64>,
    seconds: f64,
    detections: Option<u64>,
    /// The peer's seconds on the same work.
    peer_seconds: Option<f64>,
    /// The largest |Δ| of a patch's highest q, ours against the peer's.
    max_abs_dq: Option<f64>,
}

impl Row {
    fn timed(name: String, patches: Option<u64>, seconds: f64) -> Self {
        Row { name, patches, seconds, detections: None, peer_seconds: None, max_abs_dq: None }
    }
}

/// Synthesise the sky at `nside` (six HFI bands), then time [`Mmf::run`] of
/// [`Mmf::planck_like`] (10′ source masks) on test tile 6 and, with `full_sky`, on all 48 tiles.
/// With a `peer`, also the filter alone (P(k), its inverse, q at the 26 scales; no iteration, no
/// masks, no peaks) on the first patches of tile 6, ours and the peer's on the same patches.
/// One row per step: `benchmark`, `patches` (filtered; null for the synthesis), `seconds`,
/// `patches_per_second`, `detections`, `peer_seconds`, `ratio_to_peer` (ours / the peer's) and
/// `max_abs_dq` (the largest difference of a patch's highest q, ours against the peer's).
pub fn run_mmf(
    nside: u32,
    full_sky: bool,
    peer: Option<&Peer>,
    mut report: impl FnMut(&str, usize, f64),
) -> Result<DataFrame> {
    let hfi = &Band::ALL[..6];
    let t = Instant::now();
    let (sky, truth) = Sky::synthetic(Synthetic::planck_like().nside(nside).bands(hfi))?;
    let synth = Row::timed(format!("synthesise the 6 HFI bands at nside {nside}"), None, t.elapsed().as_secs_f64());
    report(&synth.name, 6, synth.seconds);
    let mmf = Mmf::planck_like().mask_sources(SourceMask::of_catalogs(&truth.contaminants()?, 10.0)?);
    let mut covers = vec![(format!("test tile 6, nside {nside}"), vec![6])];
    if full_sky {
        covers.push((format!("full sky (48 tiles), nside {nside}"), (0..N_TILES).collect()));
    }
    let mut rows: Vec<Row> = vec![synth];
    if let Some(peer) = peer {
        rows.push(versus_peer(&sky, peer, &mut report)?);
    }
    for (name, tiles) in covers {
        let patches = mmf.plan(&sky, &tiles)?.len();
        let t = Instant::now();
        let found = mmf.run(&sky, &tiles)?;
        let secs = t.elapsed().as_secs_f64();
        report(&name, patches, secs);
        rows.push(Row { detections: Some(found.df().height() as u64), ..Row::timed(name, Some(patches as u64), secs) });
    }
    Ok(df!(
        "benchmark" => rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        "patches" => rows.iter().map(|r| r.patches).collect::<Vec<_>>(),
        "seconds" => rows.iter().map(|r| r.seconds).collect::<Vec<_>>(),
        "patches_per_second" => rows.iter().map(|r| r.patches.map(|n| n as f64 / r.seconds)).collect::<Vec<_>>(),
        "detections" => rows.iter().map(|r| r.detections).collect::<Vec<_>>(),
        "peer_seconds" => rows.iter().map(|r| r.peer_seconds).collect::<Vec<_>>(),
        "ratio_to_peer" => rows.iter().map(|r| r.peer_seconds.map(|p| r.seconds / p)).collect::<Vec<_>>(),
        "max_abs_dq" => rows.iter().map(|r| r.max_abs_dq).collect::<Vec<_>>(),
    )?)
}

/// The filter alone on the first [`PEER_PATCHES`] patches of tile 6, ours (rayon over patches)
/// then the peer's (as many processes as our threads) on the same patches, written to an .npz.
fn versus_peer(sky: &Sky, peer: &Peer, report: &mut impl FnMut(&str, usize, f64)) -> Result<Row> {
    let hfi = Mmf::planck_like().iterations(0);
    let maps = hfi.sky_maps(sky)?;
    let mmf = hfi.on_maps(&maps);
    let filter = mmf.prepare()?;
    let plan: Vec<_> = mmf.plan(sky, &[6])?.into_iter().take(PEER_PATCHES).collect();
    let patches: Vec<Vec<f32>> =
        plan.iter().map(|p| crate::mmf::scan::cut(&mmf, &maps, &p.projection)).collect::<Result<_>>()?;
    let (n, bands) = (mmf.geometry().size, maps.len());
    let name = format!("filter alone (P, 26 scales), {} patches of tile 6", plan.len());
    let t = Instant::now();
    let ours: Vec<f64> = patches
        .par_iter()
        .map(|p| {
            let slices: Vec<&[f32]> = p.chunks(n * n).collect();
            let (q, _) = filter.filter(&slices)?.q_max_map();
            Ok(q.into_iter().fold(f64::NEG_INFINITY, |m, v| m.max(f64::from(v))))
        })
        .collect::<Result<_>>()?;
    let secs = t.elapsed().as_secs_f64();
    report(&name, plan.len(), secs);
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let npz = dir.path().join("patches.npz");
    write_patches(&npz, &patches, &mmf, bands)?;
    report("peer: numpy, same patches", plan.len(), 0.0);
    let args = [npz.display().to_string(), "--threads".into(), rayon::current_num_threads().to_string()];
    let text = peer.output("mmf_peer.py", PEER_SCRIPT, &args)?;
    let line = text.lines().find(|l| l.starts_with('{')).unwrap_or("");
    let run: PeerRun =
        serde_json::from_str(line).map_err(|e| Error::param(Peer::ENV, format!("mmf peer printed {line:?}: {e}")))?;
    let dq = ours.iter().zip(&run.q_max).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    Ok(Row {
        peer_seconds: Some(run.seconds),
        max_abs_dq: Some(dq),
        ..Row::timed(format!("{name}, vs {}", run.framework), Some(plan.len() as u64), secs)
    })
}

/// The patches (`maps`: patches × bands × N × N, f32) and the filter's settings in the layout
/// `benches/mmf_peer.py` reads.
fn write_patches(path: &std::path::Path, patches: &[Vec<f32>], mmf: &Mmf, bands: usize) -> Result<()> {
    let n = mmf.geometry().size;
    let flat: Vec<f32> = patches.iter().flatten().copied().collect();
    let maps = Array4::from_shape_vec((patches.len(), bands, n, n), flat)
        .map_err(|e| Error::param("mmf peer", e.to_string()))?;
    let resp = &mmf.responses;
    let b = &mmf.binning;
    let settings = [
        n as f64,
        mmf.geometry().pixel_arcmin,
        b.ell_min,
        b.ell_max,
        b.width,
        b.min_modes as f64,
        b.eigen_floor,
        mmf.taper_px as f64,
        mmf.smoothing_arcmin(),
    ];
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = ndarray_npy::NpzWriter::new(file);
    let npz = |e: ndarray_npy::WriteNpzError| Error::param("mmf peer", format!("{}: {e}", path.display()));
    w.add_array("maps", &maps).map_err(npz)?;
    w.add_array("tsz_per_y", &resp.iter().map(|r| r.tsz_per_y).collect::<Array1<f64>>()).map_err(npz)?;
    w.add_array("fwhm_arcmin", &resp.iter().map(|r| r.fwhm_arcmin).collect::<Array1<f64>>()).map_err(npz)?;
    w.add_array("scales", &Array1::from(mmf.scales.clone())).map_err(npz)?;
    w.add_array("settings", &Array1::from(settings.to_vec())).map_err(npz)?;
    w.finish().map_err(npz)?;
    Ok(())
}
