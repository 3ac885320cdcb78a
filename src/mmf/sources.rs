//! Point-source masking: what the Planck SZ searches do with the PCCS sources before filtering.
//!
//! In: source positions (Galactic degrees, e.g. PCCS2 and PGCC, or the synthetic sky's own
//! sources: `truth.contaminants()`) and a radius. Out: on a cut patch, the pixels within the radius
//! of a source set to NaN in every band (the filter inpaints non-finite pixels before its FFTs,
//! [`super::MmfFilter::filter`]); and the test that drops peaks inside the mask. A bright compact
//! source rings through the filter into a ring of false peaks; masked, it leaves a smooth hole.

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::error::{ensure_param, Result};
use crate::patches::Gnomonic;
use crate::sky::unit_vector;

/// Point sources and the radius masked around each; the default masks nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceMask {
    // (glon, glat) in degrees and the unit vector of each; shared, since every patch reads them.
    positions: Arc<Vec<(f64, f64)>>,
    vectors: Arc<Vec<[f64; 3]>>,
    radius_arcmin: f64,
}

impl SourceMask {
    /// Mask `radius_arcmin` around each Galactic position (degrees).
    pub fn new(positions: &[(f64, f64)], radius_arcmin: f64) -> Self {
        SourceMask {
            vectors: Arc::new(positions.iter().map(|&(l, b)| unit_vector(l, b)).collect()),
            positions: Arc::new(positions.to_vec()),
            radius_arcmin,
        }
    }

    /// Mask `radius_arcmin` around every row of `catalogs` (e.g. `cats.contaminants()`).
    pub fn of_catalogs(catalogs: &[Catalog], radius_arcmin: f64) -> Result<Self> {
        let mut positions = Vec::new();
        for c in catalogs {
            positions.extend(c.galactic()?);
        }
        Ok(SourceMask::new(&positions, radius_arcmin))
    }

    /// How many sources.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True when nothing is masked.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty() || self.radius_arcmin == 0.0
    }

    /// The radius masked around each source, arcmin.
    pub fn radius_arcmin(&self) -> f64 {
        self.radius_arcmin
    }

    pub(crate) fn validate(&self) -> Result<()> {
        ensure_param!(
            self.radius_arcmin.is_finite() && (0.0..=60.0).contains(&self.radius_arcmin),
            "mmf_source_mask_arcmin",
            "must be in 0…60 arcmin, got {}",
            self.radius_arcmin
        );
        for &(l, b) in self.positions.iter() {
            ensure_param!(
                l.is_finite() && (-90.0..=90.0).contains(&b),
                "mmf masked sources",
                "({l}, {b}) is not a Galactic position in degrees"
            );
        }
        Ok(())
    }

    /// Whether the unit vector `v` lies within the radius of a source.
    pub fn covers(&self, v: [f64; 3]) -> bool {
        let cos_r = (self.radius_arcmin / 60.0).to_radians().cos();
        !self.is_empty() && self.vectors.iter().any(|s| s[0] * v[0] + s[1] * v[1] + s[2] * v[2] >= cos_r)
    }

    /// Set to NaN, in every band of `data` (bands × N², row-major), the pixels of the patch `proj`
    /// within the radius of a source; returns how many pixels per band.
    pub fn apply(&self, data: &mut [f32], proj: &Gnomonic) -> usize {
        if self.is_empty() {
            return 0;
        }
        let n = proj.size() as usize;
        let r_px = self.radius_arcmin / proj.pixel_arcmin();
        // Sources farther from the centre than the half-diagonal plus the radius cannot reach a pixel.
        let reach_deg = (n as f64 * std::f64::consts::SQRT_2 / 2.0 * proj.pixel_arcmin() + self.radius_arcmin) / 60.0;
        let (l0, b0) = proj.center_galactic();
        let (centre, cos_reach) = (unit_vector(l0, b0), reach_deg.to_radians().cos());
        let mut inside = vec![false; n * n];
        for (s, &(l, b)) in self.vectors.iter().zip(self.positions.iter()) {
            if s[0] * centre[0] + s[1] * centre[1] + s[2] * centre[2] < cos_reach {
                continue;
            }
            let Some((i, j)) = proj.galactic_to_pixel(l, b) else { continue };
            let (lo_i, hi_i) = ((i - r_px).floor().max(0.0) as usize, (i + r_px).ceil().min(n as f64 - 1.0));
            let (lo_j, hi_j) = ((j - r_px).floor().max(0.0) as usize, (j + r_px).ceil().min(n as f64 - 1.0));
            if hi_i < 0.0 || hi_j < 0.0 {
                continue;
            }
            for a in lo_i..=hi_i as usize {
                for c in lo_j..=hi_j as usize {
                    if (a as f64 - i).hypot(c as f64 - j) <= r_px {
                        inside[a * n + c] = true;
                    }
                }
            }
        }
        let masked: Vec<usize> = (0..n * n).filter(|&p| inside[p]).collect();
        for band in data.chunks_mut(n * n) {
            masked.iter().for_each(|&p| band[p] = f32::NAN);
        }
        masked.len()
    }
}
