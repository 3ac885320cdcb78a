//! The multi-frequency matched filter (MMF): galaxy clusters found by their thermal SZ signal, the
//! method of the Planck SZ catalogues (Herranz et al. 2002; Melin, Bartlett & Delabrouille 2006;
//! Planck 2015 XXVII), as a baseline for the U-Net. `shared/MMF.md` gives the formulas in the
//! discrete form implemented here.
//!
//! **In:** a [`Sky`] (the bands to combine: by default the six HFI bands, in their map units) and the
//! tiles to search; or, for one flat patch, its band maps. **Out:** [`MmfDetections`], one row per
//! cluster candidate with its position (`glon, glat, ra, dec`), `snr`, `y5r500_arcmin2` ±
//! `y5r500_err_arcmin2`, `theta500_arcmin` and `position_err_arcmin`; for a patch, [`Filtered`]:
//! the S/N maps q_θ of every scale, σ_θ, peaks and fixed-position photometry; and
//! [`Mmf::photometry`], the same measurements at given sky positions (the U-Net's candidates).
//!
//! Steps: the sky is cut into overlapping gnomonic patches (256² of 1.7′, every 128 pixels, with the
//! patch sampler of [`crate::patches`]); each patch is filtered at every θ500 of the Planck grid
//! ([`template`]: Arnaud profile, beams, tSZ factors of our sky), with the noise P(k) estimated from
//! the patch and re-estimated with its detections masked ([`noise`]); peaks above the S/N threshold
//! ([`filter`]) are kept by the patch whose centre is nearest (so each sky position is searched by
//! the patch it is most central in) and merged across patches friends-of-friends ([`scan`]).
//!
//! ```no_run
//! use xcluster::mmf::Mmf;
//! # fn main() -> xcluster::Result<()> {
//! # let sky = xcluster::sky::Sky::new();
//! let found = Mmf::planck_like().snr_threshold(4.5).run(&sky, &[6])?;
//! println!("{}", found.df());
//! # Ok(()) }
//! ```

pub mod fft;
pub mod filter;
pub mod noise;
pub mod plot;
pub mod scan;
mod sources;
pub mod template;

pub use fft::Fft2;
pub use filter::{Filtered, Measurement, MmfFilter, MAX_BANDS};
pub use noise::{Binning, NoiseSpectrum};
pub use rustfft::num_complex::Complex64;
pub use scan::MmfDetections;
pub use sources::SourceMask;
pub use template::{scale_grid, BandResponse, Geometry, TemplateBank};

use crate::error::{ensure_param, Result};
use crate::sky::{Band, Sky};

/// The settings of a matched-filter search; [`Mmf::planck_like`] gives Planck's, then adjust with
/// the setters and call [`Mmf::run`] (a sky), [`Mmf::photometry`] (positions on a sky) or
/// [`Mmf::prepare`] (flat patches).
#[derive(Debug, Clone, PartialEq)]
pub struct Mmf {
    pub(crate) bands: Vec<Band>,
    pub(crate) responses: Vec<BandResponse>,
    pub(crate) size: usize,
    pub(crate) pixel_arcmin: f64,
    pub(crate) step: Option<usize>,
    pub(crate) scales: Vec<f64>,
    pub(crate) snr_threshold: f64,
    pub(crate) binning: Binning,
    pub(crate) taper_px: usize,
    pub(crate) iterations: u32,
    pub(crate) mask_snr: f64,
    pub(crate) mask_radius_theta500: f64,
    pub(crate) inpaint_sweeps: usize,
    pub(crate) merge_radius_arcmin: f64,
    pub(crate) map_resolution_arcmin: Option<f64>,
    pub(crate) pixel_window: bool,
    pub(crate) sources: SourceMask,
}

const HFI: [Band; 6] = [Band::F100, Band::F143, Band::F217, Band::F353, Band::F545, Band::F857];

impl Mmf {
    /// The six HFI bands; 256² patches of 1.7′ every 128 pixels (half a patch); the 26 θ500 of the Planck grid
    /// from 0.94′ to 17.4′; S/N ≥ 4.5 (PSZ2); P(k) in annuli of 2 fundamentals with ≥ 100 modes
    /// over ℓ ∈ [100, 2500], eigenvalue floor 10⁻⁶; a 16-pixel cosine taper; one iMMF iteration
    /// masking q ≥ 4 within 3θ500; friends-of-friends merging at 10′ (MMF.md §3–§4).
    pub fn planck_like() -> Self {
        Mmf {
            bands: HFI.to_vec(),
            responses: HFI.iter().map(|&b| BandResponse::of(b)).collect(),
            size: 256,
            pixel_arcmin: 1.7,
            step: None,
            scales: scale_grid(26),
            snr_threshold: 4.5,
            binning: Binning::default(),
            taper_px: 16,
            iterations: 1,
            mask_snr: 4.0,
            mask_radius_theta500: 3.0,
            inpaint_sweeps: 100,
            merge_radius_arcmin: 10.0,
            map_resolution_arcmin: None,
            pixel_window: false,
            sources: SourceMask::default(),
        }
    }

    /// The sky bands to combine, each with the synthetic sky's tSZ factor and beam
    /// ([`BandResponse::of`]). The y-map is filtered on its own (single band, j = 1): never with the
    /// HFI bands, of which it is a linear combination (P would be singular).
    pub fn bands(mut self, bands: &[Band]) -> Self {
        self.bands = bands.to_vec();
        self.responses = bands.iter().map(|&b| BandResponse::of(b)).collect();
        self
    }

    /// These settings on the HFI bands that `sky` has (the y-map left out: the filter refuses it
    /// with them), or on its y-map alone when it has no HFI band.
    pub fn on_bands_of(self, sky: &Sky) -> Self {
        self.bands(&hfi_or_y(&sky.bands()))
    }

    /// Other tSZ factors and beams, one per band (for flat patches, any number of bands ≤ 7 with
    /// no sky bands: [`Mmf::without_sky_bands`]).
    pub fn responses(mut self, responses: &[BandResponse]) -> Self {
        self.responses = responses.to_vec();
        self
    }

    /// Forget the sky bands (filters of flat patches, whose bands are only [`Mmf::responses`]).
    pub fn without_sky_bands(mut self) -> Self {
        self.bands.clear();
        self
    }

    /// Patch side in pixels (default 256; 64² patches hold too few modes per annulus for P⁻¹).
    pub fn size(mut self, pixels: usize) -> Self {
        self.size = pixels;
        self
    }

    /// Pixel side in arcmin (default 1.7).
    pub fn pixel_arcmin(mut self, arcmin: f64) -> Self {
        self.pixel_arcmin = arcmin;
        self
    }

    /// Distance between patch centres in pixels (default half the patch size: 128).
    pub fn step(mut self, pixels: usize) -> Self {
        self.step = Some(pixels);
        self
    }

    /// The distance between patch centres in pixels.
    pub fn scan_step(&self) -> usize {
        self.step.unwrap_or(self.size / 2)
    }

    /// θ500 of the filter scales, arcmin (default [`scale_grid`]`(26)`).
    pub fn scales(mut self, theta500_arcmin: &[f64]) -> Self {
        self.scales = theta500_arcmin.to_vec();
        self
    }

    /// Detection threshold on q (default 4.5).
    pub fn snr_threshold(mut self, q: f64) -> Self {
        self.snr_threshold = q;
        self
    }

    /// Multipoles used, [ℓ_min, ℓ_max] (default [100, 2500]).
    pub fn ell_range(mut self, ell_min: f64, ell_max: f64) -> Self {
        self.binning.ell_min = ell_min;
        self.binning.ell_max = ell_max;
        self
    }

    /// The whole P(k) binning and regularisation.
    pub fn binning(mut self, binning: Binning) -> Self {
        self.binning = binning;
        self
    }

    /// Width of the cosine taper in pixels (default 16); peaks are not searched within it.
    pub fn taper(mut self, pixels: usize) -> Self {
        self.taper_px = pixels;
        self
    }

    /// iMMF iterations: P re-estimated with the detections masked (default 1; 0 = plain MMF).
    pub fn iterations(mut self, n: u32) -> Self {
        self.iterations = n;
        self
    }

    /// Detections of q ≥ `snr` are masked within `radius_theta500`·θ500 for the iteration (4, 3).
    pub fn mask(mut self, snr: f64, radius_theta500: f64) -> Self {
        self.mask_snr = snr;
        self.mask_radius_theta500 = radius_theta500;
        self
    }

    /// Point sources to mask (default none): their pixels are inpainted in every band before
    /// filtering and no peak is kept within the mask, as the Planck SZ searches mask the PCCS
    /// sources. See [`SourceMask`].
    pub fn mask_sources(mut self, sources: SourceMask) -> Self {
        self.sources = sources;
        self
    }

    /// The point sources masked.
    pub fn source_mask(&self) -> &SourceMask {
        &self.sources
    }

    /// Friends-of-friends linking length across patches, arcmin (default 10).
    pub fn merge_radius_arcmin(mut self, arcmin: f64) -> Self {
        self.merge_radius_arcmin = arcmin;
        self
    }

    /// Resolution of the HEALPix maps the patches are interpolated from, arcmin (set by
    /// [`Mmf::run`] and [`Mmf::photometry`] from the sky's nside; none for flat patches). Bilinear
    /// interpolation smooths like a Gaussian of variance r²/6 per axis, which the templates include.
    pub fn map_resolution_arcmin(mut self, arcmin: Option<f64>) -> Self {
        self.map_resolution_arcmin = arcmin;
        self
    }

    /// Whether the maps are pixel averages (real Planck maps: the HEALPix pixel window, variance
    /// r²/12 more) rather than point samples (the synthetic sky; default).
    pub fn pixel_window(mut self, on: bool) -> Self {
        self.pixel_window = on;
        self
    }

    /// σ of the Gaussian smoothing, besides the beams, that the maps went through (arcmin).
    pub fn smoothing_arcmin(&self) -> f64 {
        let r = self.map_resolution_arcmin.unwrap_or(0.0);
        let window = if self.pixel_window { r * r / 12.0 } else { 0.0 };
        (r * r / 6.0 + window).sqrt()
    }

    /// The patch geometry.
    pub fn geometry(&self) -> Geometry {
        Geometry { size: self.size, pixel_arcmin: self.pixel_arcmin }
    }

    /// Check every setting; errors name the setting and its value.
    pub fn validate(&self) -> Result<()> {
        ensure_param!(
            (16..=4096).contains(&self.size),
            "mmf_patch_size",
            "must be in 16…4096 pixels, got {}",
            self.size
        );
        ensure_param!(
            self.pixel_arcmin.is_finite() && self.pixel_arcmin > 0.0,
            "mmf_pixel_size_arcmin",
            "must be > 0, got {}",
            self.pixel_arcmin
        );
        ensure_param!(
            (1..=self.size).contains(&self.scan_step()),
            "mmf step",
            "must be in 1…{} pixels (the patch size), got {}",
            self.size,
            self.scan_step()
        );
        ensure_param!(
            2 * self.taper_px < self.size,
            "mmf taper",
            "{} pixels leave nothing of a {}-pixel patch",
            self.taper_px,
            self.size
        );
        ensure_param!(
            self.snr_threshold.is_finite() && self.snr_threshold > 0.0,
            "mmf_snr_threshold",
            "must be > 0, got {}",
            self.snr_threshold
        );
        ensure_param!(
            self.mask_snr > 0.0 && self.mask_radius_theta500 > 0.0,
            "mmf mask",
            "S/N and radius must be > 0, got {} and {}",
            self.mask_snr,
            self.mask_radius_theta500
        );
        if let Some(r) = self.map_resolution_arcmin {
            ensure_param!(r.is_finite() && r >= 0.0, "mmf map_resolution_arcmin", "must be ≥ 0, got {r}");
        }
        ensure_param!(
            self.merge_radius_arcmin > 0.0 && self.merge_radius_arcmin <= 600.0,
            "mmf_merge_radius_arcmin",
            "must be in (0, 600], got {}",
            self.merge_radius_arcmin
        );
        ensure_param!(self.iterations <= 5, "mmf_iterations", "must be in 0…5, got {}", self.iterations);
        self.sources.validate()?;
        self.validate_bands()?;
        self.binning.validate()
    }

    fn validate_bands(&self) -> Result<()> {
        let n = self.responses.len();
        ensure_param!((1..=MAX_BANDS).contains(&n), "mmf_bands", "need 1…{MAX_BANDS} bands, got {n}");
        for r in &self.responses {
            ensure_param!(
                r.tsz_per_y.is_finite() && r.fwhm_arcmin.is_finite() && r.fwhm_arcmin >= 0.0,
                "mmf band response",
                "tSZ factor must be finite and the beam FWHM ≥ 0, got {r:?}"
            );
        }
        if !self.bands.is_empty() {
            ensure_param!(self.bands.len() == n, "mmf_bands", "{} sky bands but {n} band responses", self.bands.len());
            ensure_param!(
                !(self.bands.contains(&Band::YMap) && n > 1),
                "mmf_bands",
                "the y-map is a combination of the HFI bands: filter it alone, not with {:?}",
                self.bands
            );
        }
        Ok(())
    }

    /// Build the templates and FFT plans once, for any number of patches.
    pub fn prepare(&self) -> Result<MmfFilter> {
        MmfFilter::new(self.clone())
    }

    /// Bands the sky must have (an error names the missing one).
    pub(crate) fn sky_maps<'s>(&self, sky: &'s Sky) -> Result<Vec<&'s crate::sky::HealpixMap>> {
        ensure_param!(!self.bands.is_empty(), "mmf_bands", "no sky band to filter: set Mmf::bands");
        self.bands
            .iter()
            .map(|&b| {
                sky.band(b).ok_or_else(|| {
                    crate::Error::param("mmf_bands", format!("band {b} is not in the sky (it has {:?})", sky.bands()))
                })
            })
            .collect()
    }
}

/// The HFI bands of `bands` in their order, or the y-map alone when there is none: what a matched
/// filter of those inputs combines.
pub fn hfi_or_y(bands: &[Band]) -> Vec<Band> {
    let hfi: Vec<Band> = bands.iter().copied().filter(|&b| b != Band::YMap).collect();
    if hfi.is_empty() {
        vec![Band::YMap]
    } else {
        hfi
    }
}
