//! Sampling HEALPix maps onto patch pixels.
//!
//! In: the maps of the bands (one nside, one ordering) and one [`Gnomonic`] projection per patch.
//! Out: an `N×C×H×W` f32 tensor (flat, row-major), patch pixel (i, j) at `[n][c][i][j]`.
//! The interpolation pixels and weights of a patch pixel depend only on the grid, so they are
//! computed once and applied to every band; patches are filled in parallel with no allocation
//! inside the loop.

use rayon::prelude::*;

use super::Gnomonic;
use crate::error::{ensure_param, Result};
use crate::sky::HealpixMap;

/// How a map is read at a patch pixel centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// healpy's bilinear interpolation (`get_interp_val`) — the default.
    #[default]
    Bilinear,
    /// The value of the HEALPix pixel containing the position (the original's hpproj behaviour).
    Nearest,
}

/// Cut one patch per projection from `maps`: an `N×C×H×W` tensor, N = `projections.len()`,
/// C = `maps.len()`, H = W = the projections' size.
///
/// ```
/// use xcluster::patches::{sample_patches, Gnomonic, Interpolation};
/// use xcluster::sky::{HealpixMap, Ordering};
/// let map = HealpixMap::from_fn(64, Ordering::Nested, "K_CMB", |_, lat| lat as f32).unwrap();
/// let patches = [Gnomonic::new(10.0, 20.0, 8, 10.0).unwrap()];
/// let t = sample_patches(&[&map], &patches, Interpolation::Nearest).unwrap();
/// assert_eq!(t.len(), 1 * 1 * 8 * 8);
/// assert!(t[7 * 8] > t[0]);                      // row 7 lies north of row 0
/// ```
pub fn sample_patches(maps: &[&HealpixMap], projections: &[Gnomonic], method: Interpolation) -> Result<Vec<f32>> {
    let first =
        maps.first().ok_or_else(|| crate::Error::param("sample_patches maps", "at least one band is needed"))?;
    for m in maps {
        ensure_param!(
            m.nside == first.nside && m.ordering == first.ordering,
            "sample_patches maps",
            "all bands must share nside and ordering; got nside {} {:?} and nside {} {:?}",
            first.nside,
            first.ordering,
            m.nside,
            m.ordering
        );
    }
    let Some(size) = projections.first().map(|p| p.size() as usize) else {
        return Ok(Vec::new());
    };
    ensure_param!(
        projections.iter().all(|p| p.size() as usize == size),
        "sample_patches projections",
        "all patches must have the same size"
    );
    let grid = first.grid();
    let per_patch = maps.len() * size * size;
    let mut out = vec![0f32; projections.len() * per_patch];
    out.par_chunks_mut(per_patch).zip(projections).for_each(|(patch, proj)| {
        for i in 0..size {
            for j in 0..size {
                let (lon, lat) = proj.pixel_to_galactic(i as f64, j as f64);
                let at = i * size + j;
                match method {
                    Interpolation::Nearest => {
                        let p = grid.ang2pix(lon, lat) as usize;
                        for (c, m) in maps.iter().enumerate() {
                            patch[c * size * size + at] = m.data[p];
                        }
                    }
                    Interpolation::Bilinear => {
                        let (pix, w) = grid.interpolation_weights(lon, lat);
                        for (c, m) in maps.iter().enumerate() {
                            patch[c * size * size + at] = m.weighted_sum(&pix, &w) as f32;
                        }
                    }
                }
            }
        }
    });
    Ok(out)
}
