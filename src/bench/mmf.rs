//! `xcluster bench mmf`: the matched filter's speed on a synthetic sky of the six HFI bands, with
//! its compact sources masked as `xcluster run` masks them.

use std::time::Instant;

use polars::prelude::*;

use crate::error::Result;
use crate::mmf::{Mmf, SourceMask};
use crate::sky::{Band, Sky};
use crate::synthetic::Synthetic;
use crate::tiles::N_TILES;

/// Synthesise the sky at `nside` (six HFI bands), then time [`Mmf::run`] of
/// [`Mmf::planck_like`] (10′ source masks) on test tile 6 and, with `full_sky`, on all 48 tiles.
/// One row per step: `benchmark`, `patches` (filtered; null for the synthesis), `seconds`,
/// `patches_per_second`, `detections`.
pub fn run_mmf(nside: u32, full_sky: bool, mut report: impl FnMut(&str, usize, f64)) -> Result<DataFrame> {
    let hfi = &Band::ALL[..6];
    let t = Instant::now();
    let (sky, truth) = Sky::synthetic(Synthetic::planck_like().nside(nside).bands(hfi))?;
    let synth = (format!("synthesise the 6 HFI bands at nside {nside}"), None, t.elapsed().as_secs_f64(), None);
    report(&synth.0, 6, synth.2);
    let mmf = Mmf::planck_like().mask_sources(SourceMask::of_catalogs(&truth.contaminants()?, 10.0)?);
    let mut covers = vec![(format!("test tile 6, nside {nside}"), vec![6])];
    if full_sky {
        covers.push((format!("full sky (48 tiles), nside {nside}"), (0..N_TILES).collect()));
    }
    let mut rows: Vec<(String, Option<u64>, f64, Option<u64>)> = vec![synth];
    for (name, tiles) in covers {
        let patches = mmf.plan(&sky, &tiles)?.len();
        let t = Instant::now();
        let found = mmf.run(&sky, &tiles)?;
        let secs = t.elapsed().as_secs_f64();
        report(&name, patches, secs);
        rows.push((name, Some(patches as u64), secs, Some(found.df().height() as u64)));
    }
    Ok(df!(
        "benchmark" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "patches" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "seconds" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "patches_per_second" => rows.iter().map(|r| r.1.map(|n| n as f64 / r.2)).collect::<Vec<_>>(),
        "detections" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
    )?)
}
