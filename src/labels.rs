//! Labels: binary disk masks around the catalog clusters of each patch.
//!
//! In: [`Patches`] (their metadata lists the clusters whose disks reach each patch) and a [`Disk`]
//! rule. Out: one H×W mask per patch (N×1×H×W, 1 inside a disk, 0 elsewhere), which
//! `Patches::labels` (in [`crate::dataset`]) puts beside the patches. A pixel is inside when the angle between its centre and the cluster is at
//! most the radius, measured on the sphere, so masks follow the patch's rotation and projection.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::error::{ensure_param, Result};
use crate::patches::{mix, PatchInfo, Patches, MAX_LABEL_RADIUS_ARCMIN};
use crate::sky::unit_vector;

/// Bin edges (arcmin) of the original's T500 radius distribution (SEED.md §4).
pub const T500_EDGES_ARCMIN: [f64; 9] = [0.0, 1.875, 3.75, 5.625, 7.5, 9.375, 11.25, 13.125, 15.0];
/// Probability of each bin.
pub const T500_PROBABILITIES: [f64; 8] = [0.3045, 0.1893, 0.1782, 0.1078, 0.0918, 0.0568, 0.0387, 0.0329];

/// How big a cluster's label disk is. `Disk::default()` is the params file's (`disk_radius`, `seed`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Disk {
    /// A fixed radius in arcmin (the original's default 2.5′).
    Arcmin(f64),
    /// One radius per patch drawn from the original's T500 distribution: a bin by its probability,
    /// then uniformly within the bin.
    T500Distribution {
        /// Seed of the draws (combined with each patch id).
        seed: u64,
    },
    /// Each cluster's own θ500 where the catalog gives M500 and z, else a draw from the T500
    /// distribution (the metadata column `cluster_theta500_arcmin` shows which clusters had one).
    Theta500 {
        /// Seed of the draws for clusters without θ500.
        seed: u64,
    },
}

impl Disk {
    /// A fixed radius in arcmin.
    pub fn arcmin(radius: f64) -> Self {
        Disk::Arcmin(radius)
    }

    /// Check the radius: a fixed one in (0, 15] arcmin (the params file's `disk_radius`).
    pub fn validate(&self) -> Result<()> {
        if let Disk::Arcmin(r) = *self {
            ensure_param!(
                r > 0.0 && r <= MAX_LABEL_RADIUS_ARCMIN,
                "disk_radius",
                "must be a number of arcmin in (0, {MAX_LABEL_RADIUS_ARCMIN}], \"t500-distribution\" or \"theta500\"; got {r}"
            );
        }
        Ok(())
    }

    /// Radius in arcmin of each cluster of `patch`.
    fn radii(&self, patch: &PatchInfo) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(mix(&[self.seed(), patch.id]));
        let drawn = t500_draw(&mut rng);
        patch
            .clusters
            .iter()
            .map(|c| match *self {
                Disk::Arcmin(r) => r,
                Disk::T500Distribution { .. } => drawn,
                Disk::Theta500 { .. } => c.theta500_arcmin.map_or(drawn, |t| t.min(MAX_LABEL_RADIUS_ARCMIN)),
            })
            .collect()
    }

    fn seed(&self) -> u64 {
        match *self {
            Disk::Arcmin(_) => 0,
            Disk::T500Distribution { seed } | Disk::Theta500 { seed } => seed,
        }
    }
}

/// One radius (arcmin) from the T500 distribution.
pub fn t500_draw(rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.gen();
    let mut acc = 0.0;
    for (k, p) in T500_PROBABILITIES.iter().enumerate() {
        acc += p;
        if u < acc || k == T500_PROBABILITIES.len() - 1 {
            return rng.gen_range(T500_EDGES_ARCMIN[k]..T500_EDGES_ARCMIN[k + 1]);
        }
    }
    unreachable!("the loop returns at its last bin")
}

/// The N×1×H×W masks of `patches` under `disk`.
pub fn masks(patches: &Patches, disk: Disk) -> Result<Vec<f32>> {
    masks_of(patches.info(), patches.size(), disk)
}

/// The masks of patches of side `size` from their metadata alone (no pixel data needed).
pub fn masks_of(info: &[PatchInfo], size: usize, disk: Disk) -> Result<Vec<f32>> {
    disk.validate()?;
    let mut out = vec![0f32; info.len() * size * size];
    out.par_chunks_mut((size * size).max(1))
        .zip(info)
        .for_each(|(mask, info)| draw_disks(mask, info, &disk.radii(info)));
    Ok(out)
}

/// Set to 1 the pixels of `mask` within `radii[k]` arcmin of cluster k.
fn draw_disks(mask: &mut [f32], info: &PatchInfo, radii: &[f64]) {
    let g = &info.projection;
    let n = g.size() as i64;
    for (c, &r) in info.clusters.iter().zip(radii) {
        let (l, b) = g.pixel_to_sky(c.i, c.j);
        let centre = unit_vector(l, b);
        let cos_r = (r / 60.0).to_radians().cos();
        // Pixels farther than r (+ margin for projection distortion) in pixel units cannot be inside.
        let reach = (r / g.pixel_arcmin() * 1.01 + 1.0).ceil() as i64;
        let (ci, cj) = (c.i.round() as i64, c.j.round() as i64);
        for i in (ci - reach).max(0)..=(ci + reach).min(n - 1) {
            for j in (cj - reach).max(0)..=(cj + reach).min(n - 1) {
                let (pl, pb) = g.pixel_to_sky(i as f64, j as f64);
                let p = unit_vector(pl, pb);
                if p[0] * centre[0] + p[1] * centre[1] + p[2] * centre[2] >= cos_r {
                    mask[(i * n + j) as usize] = 1.0;
                }
            }
        }
    }
}
