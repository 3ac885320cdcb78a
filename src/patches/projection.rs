//! The gnomonic (TAN) projection between patch pixels and the sky.
//!
//! In: a patch centre (lon, lat in degrees, in the frame of the maps: Galactic by default), the
//! patch side in pixels and the pixel size in arcmin. Out: the sky position of any (fractional)
//! patch pixel and back. Conventions (DESIGN.md, FITS WCS "TAN", Calabretta & Greisen 2002):
//! pixel (i, j) is (row, column), 0-based; the centre is at ((N−1)/2, (N−1)/2), i.e. FITS CRPIX
//! (N+1)/2; rows grow with latitude and columns grow *against* longitude (CDELT1 < 0), as on a sky
//! image seen from inside the sphere. Equal to astropy's TAN WCS to 1e-9 deg
//! (tests/fixtures/gnomonic_wcs.csv).
//!
//! With (x, y) the plane coordinates in radians (x = −(j − c)·p eastwards, y = (i − c)·p northwards)
//! and ρ = √(x² + y²), c = atan ρ (Snyder 1987, *Map Projections*, eqs. 22-4, 22-5, 20-14, 20-15):
//!
//! ```math
//! \sin b = \cos c \sin b_0 + y \sin c \cos b_0 / ρ, \qquad
//! l = l_0 + \operatorname{atan2}(x \sin c,\; ρ \cos b_0 \cos c - y \sin b_0 \sin c)
//! ```

use crate::error::{ensure_param, Result};

/// A gnomonic projection of an N×N patch centred on (`lon0`, `lat0`).
///
/// ```
/// use xcluster::patches::Gnomonic;
/// let g = Gnomonic::new(112.5, 41.8, 64, 1.7).unwrap();
/// let (l, b) = g.pixel_to_sky(31.5, 31.5);             // the centre of a 64-pixel patch
/// assert!((l - 112.5).abs() < 1e-12 && (b - 41.8).abs() < 1e-12);
/// let (i, j) = g.sky_to_pixel(l + 0.1, b).unwrap();   // east is to the left
/// assert!(j < 31.5 && (i - 31.5).abs() < 0.1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gnomonic {
    lon0_deg: f64,
    lat0_deg: f64,
    size: u32,
    pixel_arcmin: f64,
    sin_lat0: f64,
    cos_lat0: f64,
    pixel_rad: f64,
}

impl Gnomonic {
    /// A projection centred on (`lon0_deg`, `lat0_deg`) for a `size`×`size` patch (1…4096) of
    /// `pixel_arcmin` pixels (the patch spanning less than 90°).
    pub fn new(lon0_deg: f64, lat0_deg: f64, size: u32, pixel_arcmin: f64) -> Result<Self> {
        ensure_param!((1..=4096).contains(&size), "patch size", "must be in 1…4096 pixels, got {size}");
        ensure_param!(
            pixel_arcmin > 0.0 && size as f64 * pixel_arcmin < 90.0 * 60.0,
            "pixel_size_arcmin",
            "must be positive with the patch narrower than 90°, got {pixel_arcmin}′ × {size} pixels"
        );
        ensure_param!(
            lon0_deg.is_finite() && (-90.0..=90.0).contains(&lat0_deg),
            "patch centre",
            "latitude must be in [−90, 90] and longitude finite, got ({lon0_deg}, {lat0_deg})"
        );
        let (sin_lat0, cos_lat0) = lat0_deg.to_radians().sin_cos();
        Ok(Gnomonic {
            lon0_deg: lon0_deg.rem_euclid(360.0),
            lat0_deg,
            size,
            pixel_arcmin,
            sin_lat0,
            cos_lat0,
            pixel_rad: (pixel_arcmin / 60.0).to_radians(),
        })
    }

    /// The centre (lon, lat) in degrees.
    pub fn center(&self) -> (f64, f64) {
        (self.lon0_deg, self.lat0_deg)
    }

    /// Patch side in pixels.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Pixel size in arcmin.
    pub fn pixel_arcmin(&self) -> f64 {
        self.pixel_arcmin
    }

    /// The pixel coordinate of the centre, (N − 1)/2.
    pub fn center_pixel(&self) -> f64 {
        (self.size as f64 - 1.0) / 2.0
    }

    /// Sky position (lon in [0, 360), lat) in degrees of patch pixel (`i` row, `j` column); fractional
    /// pixels are allowed (integer values are pixel centres).
    pub fn pixel_to_sky(&self, i: f64, j: f64) -> (f64, f64) {
        let c = self.center_pixel();
        let x = -(j - c) * self.pixel_rad;
        let y = (i - c) * self.pixel_rad;
        let rho = x.hypot(y);
        if rho == 0.0 {
            return (self.lon0_deg, self.lat0_deg);
        }
        let (sin_c, cos_c) = rho.atan().sin_cos();
        let lat = (cos_c * self.sin_lat0 + y * sin_c * self.cos_lat0 / rho).clamp(-1.0, 1.0).asin();
        let dlon = (x * sin_c).atan2(rho * self.cos_lat0 * cos_c - y * self.sin_lat0 * sin_c);
        ((self.lon0_deg + dlon.to_degrees()).rem_euclid(360.0), lat.to_degrees())
    }

    /// Patch pixel (`i` row, `j` column, fractional) of a sky position, or `None` on the hemisphere
    /// facing away from the centre, where the projection is undefined. The exact inverse of
    /// [`Gnomonic::pixel_to_sky`].
    pub fn sky_to_pixel(&self, lon_deg: f64, lat_deg: f64) -> Option<(f64, f64)> {
        let (sin_lat, cos_lat) = lat_deg.to_radians().sin_cos();
        let (sin_dl, cos_dl) = (lon_deg - self.lon0_deg).to_radians().sin_cos();
        let cos_c = self.sin_lat0 * sin_lat + self.cos_lat0 * cos_lat * cos_dl;
        if cos_c <= 0.0 {
            return None;
        }
        let x = cos_lat * sin_dl / cos_c;
        let y = (self.cos_lat0 * sin_lat - self.sin_lat0 * cos_lat * cos_dl) / cos_c;
        let c = self.center_pixel();
        Some((c + y / self.pixel_rad, c - x / self.pixel_rad))
    }
}
