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
//! With (x, y) the plane coordinates in radians (x = −(j − c)·p eastwards, y = (i − c)·p northwards),
//! the sky position is the direction of the tangent-plane point **c** + x **e** + y **n** (**c** the
//! centre's unit vector, **e**, **n** the unit east and north vectors there): the gnomonic projection
//! is the central projection onto that plane (Snyder 1987, *Map Projections*, §22). The inverse
//! divides by cos c = **c**·**v** (Snyder eqs. 22-4, 22-5).

use serde::{Deserialize, Serialize};

use crate::error::{ensure_param, named_enum, Result};
use crate::sky::{galactic_to_icrs, icrs_to_galactic, lonlat, rotate_icrs_to_galactic};

/// The sky frame whose meridians a patch's columns follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Frame {
    /// Galactic (l, b): the maps' own frame, the default.
    #[default]
    Galactic,
    /// ICRS (ra, dec): the original's hpproj axes.
    Icrs,
}

impl Frame {
    /// Both frames.
    pub const ALL: [Frame; 2] = [Frame::Galactic, Frame::Icrs];

    /// `galactic` or `icrs`.
    pub fn name(self) -> &'static str {
        match self {
            Frame::Galactic => "galactic",
            Frame::Icrs => "icrs",
        }
    }
}
named_enum!(Frame, "frame");

/// One of the 8 symmetries of the square (rotations by k·90° after an optional flip), applied to a
/// patch about its centre: `Dihedral(k)`, k = rotation + 4·flip in 0..8; `Dihedral(0)` is the identity.
///
/// It is part of a patch's geometry: pixel (i, j) of a transformed patch shows the sky that pixel
/// `transform.to_base(i, j)` of the untransformed patch shows, so images, masks and cluster positions
/// computed through the same [`Gnomonic`] always stay aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Dihedral(u8);

impl Dihedral {
    /// The identity.
    pub const IDENTITY: Dihedral = Dihedral(0);

    /// All 8 transforms.
    pub const ALL: [Dihedral; 8] =
        [Dihedral(0), Dihedral(1), Dihedral(2), Dihedral(3), Dihedral(4), Dihedral(5), Dihedral(6), Dihedral(7)];

    /// Transform `k` (0..8): a flip of the columns when k ≥ 4, then k mod 4 quarter turns.
    pub fn new(k: u8) -> Result<Self> {
        ensure_param!(k < 8, "rotation", "must be in 0..8 (4 rotations × flip), got {k}");
        Ok(Dihedral(k))
    }

    /// The index k in 0..8.
    pub fn index(self) -> u8 {
        self.0
    }

    /// Offsets (u, v) from the centre in this patch → offsets in the untransformed patch.
    fn to_base(self, mut u: f64, mut v: f64) -> (f64, f64) {
        for _ in 0..self.0 % 4 {
            (u, v) = (v, -u);
        }
        if self.0 >= 4 {
            v = -v;
        }
        (u, v)
    }

    /// Offsets in the untransformed patch → offsets in this patch (the inverse of `to_base`).
    fn to_patch(self, mut u: f64, mut v: f64) -> (f64, f64) {
        if self.0 >= 4 {
            v = -v;
        }
        for _ in 0..self.0 % 4 {
            (u, v) = (-v, u);
        }
        (u, v)
    }
}

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
    /// Unit vectors of the centre and of east and north there, in the frame: the tangent plane.
    basis: [[f64; 3]; 3],
    frame: Frame,
    transform: Dihedral,
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
        let (sin_lon0, cos_lon0) = lon0_deg.to_radians().sin_cos();
        let basis = [
            [cos_lat0 * cos_lon0, cos_lat0 * sin_lon0, sin_lat0],
            [-sin_lon0, cos_lon0, 0.0],
            [-sin_lat0 * cos_lon0, -sin_lat0 * sin_lon0, cos_lat0],
        ];
        Ok(Gnomonic {
            basis,
            lon0_deg: lon0_deg.rem_euclid(360.0),
            lat0_deg,
            size,
            pixel_arcmin,
            sin_lat0,
            cos_lat0,
            pixel_rad: (pixel_arcmin / 60.0).to_radians(),
            frame: Frame::Galactic,
            transform: Dihedral::IDENTITY,
        })
    }

    /// A projection whose centre and axes are in `frame` (`lon0_deg`, `lat0_deg` are ra, dec for ICRS).
    pub fn in_frame(frame: Frame, lon0_deg: f64, lat0_deg: f64, size: u32, pixel_arcmin: f64) -> Result<Self> {
        Ok(Gnomonic { frame, ..Gnomonic::new(lon0_deg, lat0_deg, size, pixel_arcmin)? })
    }

    /// The same patch turned by `transform` about its centre.
    pub fn transformed(self, transform: Dihedral) -> Self {
        Gnomonic { transform, ..self }
    }

    /// The frame of the axes.
    pub fn frame(&self) -> Frame {
        self.frame
    }

    /// The rotation/flip applied to the patch.
    pub fn transform(&self) -> Dihedral {
        self.transform
    }

    /// The centre in Galactic (lon, lat) degrees, whatever the frame.
    pub fn center_galactic(&self) -> (f64, f64) {
        match self.frame {
            Frame::Galactic => (self.lon0_deg, self.lat0_deg),
            Frame::Icrs => icrs_to_galactic(self.lon0_deg, self.lat0_deg),
        }
    }

    /// Galactic (lon, lat) in degrees of patch pixel (`i`, `j`): what the sampler reads from the maps.
    pub fn pixel_to_galactic(&self, i: f64, j: f64) -> (f64, f64) {
        match self.frame {
            Frame::Galactic => self.pixel_to_sky(i, j),
            Frame::Icrs => lonlat(rotate_icrs_to_galactic(self.plane_point(i, j))),
        }
    }

    /// The point of the tangent plane (unit distance from the sphere's centre) under pixel (i, j):
    /// its direction is the pixel's sky position, the plane coordinates x = −(v)·p east, y = u·p north.
    fn plane_point(&self, i: f64, j: f64) -> [f64; 3] {
        let c = self.center_pixel();
        let (u, v) = self.transform.to_base(i - c, j - c);
        let (x, y) = (-v * self.pixel_rad, u * self.pixel_rad);
        let [c0, e, n] = &self.basis;
        [0, 1, 2].map(|k| c0[k] + x * e[k] + y * n[k])
    }

    /// Patch pixel of a Galactic position (see [`Gnomonic::sky_to_pixel`]).
    pub fn galactic_to_pixel(&self, glon_deg: f64, glat_deg: f64) -> Option<(f64, f64)> {
        match self.frame {
            Frame::Galactic => self.sky_to_pixel(glon_deg, glat_deg),
            Frame::Icrs => {
                let (ra, dec) = galactic_to_icrs(glon_deg, glat_deg);
                self.sky_to_pixel(ra, dec)
            }
        }
    }

    /// Whether fractional pixel (`i`, `j`) lies on the patch (within half a pixel of the outer centres).
    pub fn contains_pixel(&self, i: f64, j: f64) -> bool {
        let hi = self.size as f64 - 0.5;
        (-0.5..hi).contains(&i) && (-0.5..hi).contains(&j)
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

    /// Sky position (lon in [0, 360), lat) in degrees, in the projection's frame, of patch pixel (`i`
    /// row, `j` column); fractional pixels are allowed (integer values are pixel centres).
    pub fn pixel_to_sky(&self, i: f64, j: f64) -> (f64, f64) {
        let c = self.center_pixel();
        if i == c && j == c {
            return (self.lon0_deg, self.lat0_deg);
        }
        lonlat(self.plane_point(i, j))
    }

    /// Patch pixel (`i` row, `j` column, fractional) of a sky position in the projection's frame, or `None` on the hemisphere
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
        let (u, v) = self.transform.to_patch(y / self.pixel_rad, -x / self.pixel_rad);
        Some((c + u, c + v))
    }
}
