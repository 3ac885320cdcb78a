//! HEALPix geometry and maps.
//!
//! In: an `nside` (a power of two, 1…8192), an [`Ordering`] and sky positions in degrees
//! (longitude, latitude — *not* colatitude). Out: pixel indices, pixel centres, neighbours, discs,
//! interpolated values, and [`HealpixMap`], the f32 map every later stage samples.
//!
//! Geometry comes from `cdshealpix` (Górski et al. 2005, ApJ 622, 759): pixel centres, ring ↔ nest,
//! neighbours, discs. Two pieces are written here to equal healpy exactly: `ang2pix` (HEALPix C++
//! `loc2pix`; cdshealpix may choose the other pixel for a position exactly on a pixel boundary) and
//! the ring-based 4-pixel interpolation (`get_interp_val`, HEALPix C++ `get_interpol`), which
//! `cdshealpix::bilinear_interpolation` does not reproduce.

use std::f64::consts::{FRAC_PI_2, PI, TAU};

use cdshealpix::compass_point::MainWind;
use cdshealpix::nested::{self, Layer};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ensure_param, Result};

/// Largest nside supported by xcluster (pixels of 0.43′).
pub const NSIDE_MAX: u32 = 8192;

/// Pixel numbering scheme of a HEALPix map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Ordering {
    /// Iso-latitude rings from north to south (healpy's default).
    Ring,
    /// Hierarchical nested scheme (Planck's maps are NESTED).
    Nested,
}

impl Ordering {
    /// The FITS `ORDERING` keyword value: `RING` or `NESTED`.
    pub fn fits_name(self) -> &'static str {
        match self {
            Ordering::Ring => "RING",
            Ordering::Nested => "NESTED",
        }
    }

    /// Parse a FITS `ORDERING` value (`RING`, `NESTED`, or `NEST`, any case).
    pub fn from_fits_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "RING" => Some(Ordering::Ring),
            "NESTED" | "NEST" => Some(Ordering::Nested),
            _ => None,
        }
    }
}

/// A HEALPix pixelisation: `nside` and pixel ordering. Cheap to copy.
///
/// All positions are in degrees: longitude in [0, 360) (any value is wrapped), latitude in [−90, 90].
#[derive(Clone, Copy)]
pub struct Grid {
    nside: u32,
    ordering: Ordering,
    layer: &'static Layer,
}

impl PartialEq for Grid {
    fn eq(&self, other: &Self) -> bool {
        (self.nside, self.ordering) == (other.nside, other.ordering)
    }
}

impl Eq for Grid {}

impl std::fmt::Debug for Grid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grid").field("nside", &self.nside).field("ordering", &self.ordering).finish()
    }
}

impl Grid {
    /// A grid of `nside` (power of two in 1…8192) in `ordering`.
    ///
    /// ```
    /// use xcluster::sky::{Grid, Ordering};
    /// let g = Grid::new(2, Ordering::Ring).unwrap();
    /// assert_eq!(g.npix(), 48);
    /// assert!(Grid::new(3, Ordering::Ring).is_err());
    /// ```
    pub fn new(nside: u32, ordering: Ordering) -> Result<Self> {
        ensure_param!(
            (1..=NSIDE_MAX).contains(&nside) && nside.is_power_of_two(),
            "nside",
            "must be a power of two in 1…{NSIDE_MAX}, got {nside}"
        );
        let layer = nested::get(cdshealpix::depth(nside));
        Ok(Grid { nside, ordering, layer })
    }

    /// The resolution parameter.
    pub fn nside(&self) -> u32 {
        self.nside
    }

    /// The pixel ordering.
    pub fn ordering(&self) -> Ordering {
        self.ordering
    }

    /// Number of pixels, 12·nside².
    pub fn npix(&self) -> u64 {
        12 * (self.nside as u64) * (self.nside as u64)
    }

    /// Pixel side (square root of the pixel area) in arcmin.
    pub fn resolution_arcmin(&self) -> f64 {
        (4.0 * PI / self.npix() as f64).sqrt().to_degrees() * 60.0
    }

    /// Pixel containing the position (`lon_deg`, `lat_deg`), equal to healpy `ang2pix(..., lonlat=True)`
    /// including positions exactly on pixel boundaries.
    ///
    /// This is HEALPix C++ `loc2pix`, with healpy's conversion θ = radians(90 − lat): `cdshealpix`
    /// agrees everywhere except on boundaries, where it may pick the neighbouring pixel, and exact
    /// boundary values (lat 0, lon 90, …) are common in grids of patch centres.
    pub fn ang2pix(&self, lon_deg: f64, lat_deg: f64) -> u64 {
        let theta = (90.0 - lat_deg.clamp(-90.0, 90.0)).to_radians();
        let (sth, z) = theta.sin_cos();
        let have_sth = !(0.01..=PI - 0.01).contains(&theta);
        let tt = fmodulo(lon_deg.to_radians() * (2.0 / PI), 4.0);
        let nside = self.nside as i64;
        let za = z.abs();
        // nside·√(3(1−|z|)), from sin θ near the poles where 1−|z| loses precision.
        let polar_tmp = || {
            if za < 0.99 || !have_sth {
                nside as f64 * (3.0 * (1.0 - za)).sqrt()
            } else {
                nside as f64 * sth / ((1.0 + za) / 3.0).sqrt()
            }
        };
        // The equatorial branches compute the same edge-line indices, but HEALPix C++ rounds
        // nside·z·0.75 in a different order in each; kept apart so boundary ties stay healpy's.
        match self.ordering {
            Ordering::Ring if za <= 2.0 / 3.0 => {
                let nl4 = 4 * nside;
                let temp1 = nside as f64 * (0.5 + tt);
                let temp2 = nside as f64 * z * 0.75;
                let (jp, jm) = ((temp1 - temp2) as i64, (temp1 + temp2) as i64);
                let ir = nside + 1 + jp - jm;
                let kshift = 1 - (ir & 1);
                let ip = ((jp + jm - nside + kshift + 1 + 2 * nl4) >> 1) & (nl4 - 1);
                (2 * nside * (nside - 1) + (ir - 1) * nl4 + ip) as u64
            }
            Ordering::Ring => {
                let tp = tt - (tt as i64) as f64;
                let tmp = polar_tmp();
                let (jp, jm) = ((tp * tmp) as i64, ((1.0 - tp) * tmp) as i64);
                let ir = jp + jm + 1;
                let ip = (tt * ir as f64) as i64;
                let pix = if z > 0.0 { 2 * ir * (ir - 1) + ip } else { 12 * nside * nside - 2 * ir * (ir + 1) + ip };
                pix as u64
            }
            Ordering::Nested if za <= 2.0 / 3.0 => {
                let temp1 = nside as f64 * (0.5 + tt);
                let temp2 = nside as f64 * (z * 0.75);
                let (jp, jm) = ((temp1 - temp2) as i64, (temp1 + temp2) as i64);
                let order = self.nside.trailing_zeros();
                let (ifp, ifm) = (jp >> order, jm >> order);
                let face = if ifp == ifm {
                    ifp | 4
                } else if ifp < ifm {
                    ifp
                } else {
                    ifm + 8
                };
                self.xyf2nest(jm & (nside - 1), nside - (jp & (nside - 1)) - 1, face)
            }
            Ordering::Nested => {
                let ntt = (tt as i64).min(3);
                let tp = tt - ntt as f64;
                let tmp = polar_tmp();
                let jp = ((tp * tmp) as i64).min(nside - 1);
                let jm = (((1.0 - tp) * tmp) as i64).min(nside - 1);
                if z >= 0.0 {
                    self.xyf2nest(nside - jm - 1, nside - jp - 1, ntt)
                } else {
                    self.xyf2nest(jp, jm, ntt + 8)
                }
            }
        }
    }

    /// NESTED index of the pixel at (`ix`, `iy`) in base cell `face`: the bits of ix and iy interleaved.
    fn xyf2nest(&self, ix: i64, iy: i64, face: i64) -> u64 {
        fn spread(v: u64) -> u64 {
            // Move bit k of a 32-bit value to bit 2k.
            let mut v = v & 0xFFFF_FFFF;
            v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
            v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
            v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
            v = (v | (v << 2)) & 0x3333_3333_3333_3333;
            (v | (v << 1)) & 0x5555_5555_5555_5555
        }
        let npface = (self.nside as u64).pow(2);
        face as u64 * npface + spread(ix as u64) + (spread(iy as u64) << 1)
    }

    /// Centre of pixel `pix` as (lon, lat) in degrees, like healpy `pix2ang(..., lonlat=True)`.
    pub fn pix2ang(&self, pix: u64) -> (f64, f64) {
        let (lon, lat) = match self.ordering {
            Ordering::Nested => self.layer.center(pix),
            Ordering::Ring => cdshealpix::ring::center(self.nside, pix),
        };
        (lon.to_degrees(), lat.to_degrees())
    }

    /// The index of RING pixel `ring` in the NESTED scheme.
    pub fn ring2nest(&self, ring: u64) -> u64 {
        self.layer.from_ring(ring)
    }

    /// The index of NESTED pixel `nest` in the RING scheme.
    pub fn nest2ring(&self, nest: u64) -> u64 {
        self.layer.to_ring(nest)
    }

    fn nest_index(&self, pix: u64) -> u64 {
        match self.ordering {
            Ordering::Nested => pix,
            Ordering::Ring => self.ring2nest(pix),
        }
    }

    fn index_of_nest(&self, nest: u64) -> u64 {
        match self.ordering {
            Ordering::Nested => nest,
            Ordering::Ring => self.nest2ring(nest),
        }
    }

    /// The 8 neighbours of `pix` in healpy's order SW, W, NW, N, NE, E, SE, S
    /// (`get_all_neighbours`); `None` where a base-cell corner has only 7 neighbours.
    pub fn neighbours(&self, pix: u64) -> [Option<u64>; 8] {
        const HEALPY_ORDER: [MainWind; 8] = [
            MainWind::SW,
            MainWind::W,
            MainWind::NW,
            MainWind::N,
            MainWind::NE,
            MainWind::E,
            MainWind::SE,
            MainWind::S,
        ];
        let map = self.layer.neighbours(self.nest_index(pix), false);
        HEALPY_ORDER.map(|dir| map.get(dir).map(|&n| self.index_of_nest(n)))
    }

    /// Pixels of the disc of `radius_deg` around (`lon_deg`, `lat_deg`), sorted.
    ///
    /// `inclusive = false`: pixels whose centre lies in the disc (healpy `query_disc(inclusive=False)`).
    /// `inclusive = true`: every pixel that overlaps the disc (a superset, possibly with a few extra
    /// pixels near the rim, like healpy's `inclusive=True`).
    pub fn query_disc(&self, lon_deg: f64, lat_deg: f64, radius_deg: f64, inclusive: bool) -> Vec<u64> {
        let (lon, lat) = to_radians(lon_deg, lat_deg);
        let radius = radius_deg.to_radians().clamp(1e-12, PI);
        let bmoc = if inclusive {
            self.layer.cone_coverage_approx(lon, lat, radius)
        } else {
            self.layer.cone_coverage_centers(lon, lat, radius)
        };
        let mut pix: Vec<u64> = bmoc.flat_iter().map(|n| self.index_of_nest(n)).collect();
        pix.sort_unstable();
        pix
    }

    /// The 4 pixels and weights of healpy's bilinear interpolation at (`lon_deg`, `lat_deg`)
    /// (`get_interp_weights`): linear in longitude along the two rings that bracket the position,
    /// then linear in colatitude between them; at the poles the missing ring is replaced by the
    /// mean of the 4 polar pixels. Weights sum to 1.
    pub fn interpolation_weights(&self, lon_deg: f64, lat_deg: f64) -> ([u64; 4], [f64; 4]) {
        let (phi, lat) = to_radians(lon_deg, lat_deg);
        let theta = FRAC_PI_2 - lat;
        let nside = self.nside as u64;
        let npix = self.npix();
        let ir1 = self.ring_above(theta.cos());
        let ir2 = ir1 + 1;
        let mut pix = [0u64; 4];
        let mut wgt = [0f64; 4];
        let mut theta1 = 0.0;
        let mut theta2 = 0.0;
        if ir1 > 0 {
            let ring = self.ring_info(ir1);
            theta1 = ring.theta;
            (pix[0], pix[1], wgt[0], wgt[1]) = ring.bracket(phi);
        }
        if ir2 < 4 * nside {
            let ring = self.ring_info(ir2);
            theta2 = ring.theta;
            (pix[2], pix[3], wgt[2], wgt[3]) = ring.bracket(phi);
        }
        if ir1 == 0 {
            let wtheta = theta / theta2;
            let fac = (1.0 - wtheta) * 0.25;
            wgt = [fac, fac, wgt[2] * wtheta + fac, wgt[3] * wtheta + fac];
            pix[0] = (pix[2] + 2) & 3;
            pix[1] = (pix[3] + 2) & 3;
        } else if ir2 == 4 * nside {
            let wtheta = (theta - theta1) / (PI - theta1);
            let fac = wtheta * 0.25;
            wgt = [wgt[0] * (1.0 - wtheta) + fac, wgt[1] * (1.0 - wtheta) + fac, fac, fac];
            pix[2] = ((pix[0] + 2) & 3) + npix - 4;
            pix[3] = ((pix[1] + 2) & 3) + npix - 4;
        } else {
            let wtheta = (theta - theta1) / (theta2 - theta1);
            wgt = [wgt[0] * (1.0 - wtheta), wgt[1] * (1.0 - wtheta), wgt[2] * wtheta, wgt[3] * wtheta];
        }
        if self.ordering == Ordering::Nested {
            pix = pix.map(|p| self.ring2nest(p));
        }
        (pix, wgt)
    }

    /// Number (1…4·nside−1, from the north) of the ring just north of `z = cos θ`; 0 above the first.
    fn ring_above(&self, z: f64) -> u64 {
        let nside = self.nside as f64;
        let az = z.abs();
        if az <= 2.0 / 3.0 {
            return (nside * (2.0 - 1.5 * z)) as u64;
        }
        let iring = (nside * (3.0 * (1.0 - az)).sqrt()) as u64;
        if z > 0.0 {
            iring
        } else {
            4 * self.nside as u64 - iring - 1
        }
    }

    /// Start pixel, length, colatitude and shift of ring `ring` (HEALPix C++ `get_ring_info2`).
    pub(crate) fn ring_info(&self, ring: u64) -> RingInfo {
        let nside = self.nside as u64;
        let npix = self.npix();
        let fact2 = 4.0 / npix as f64;
        let northring = if ring > 2 * nside { 4 * nside - ring } else { ring };
        let (mut start, len, mut theta, shifted) = if northring < nside {
            let tmp = (northring * northring) as f64 * fact2;
            let (cos, sin) = (1.0 - tmp, (tmp * (2.0 - tmp)).sqrt());
            (2 * northring * (northring - 1), 4 * northring, sin.atan2(cos), true)
        } else {
            let fact1 = (2 * nside) as f64 * fact2;
            let theta = ((2 * nside - northring) as f64 * fact1).acos();
            let ncap = 2 * nside * (nside - 1);
            (ncap + (northring - nside) * 4 * nside, 4 * nside, theta, (northring - nside) & 1 == 0)
        };
        if northring != ring {
            theta = PI - theta;
            start = npix - start - len;
        }
        RingInfo { start, len, theta, shifted }
    }
}

pub(crate) struct RingInfo {
    pub(crate) start: u64,
    pub(crate) len: u64,
    pub(crate) theta: f64,
    pub(crate) shifted: bool,
}

impl RingInfo {
    /// The two pixels of this ring bracketing longitude `phi` (radians) and their linear weights.
    fn bracket(&self, phi: f64) -> (u64, u64, f64, f64) {
        let dphi = TAU / self.len as f64;
        let shift = if self.shifted { 0.5 } else { 0.0 };
        let tmp = phi / dphi - shift;
        let i1 = if tmp < 0.0 { tmp as i64 - 1 } else { tmp as i64 };
        let w1 = (phi - (i1 as f64 + shift) * dphi) / dphi;
        let len = self.len as i64;
        let wrap = |i: i64| self.start + i.rem_euclid(len) as u64;
        (wrap(i1), wrap(i1 + 1), 1.0 - w1, w1)
    }
}

/// `v1` modulo `v2` in [0, v2), as HEALPix C++ `fmodulo`.
fn fmodulo(v1: f64, v2: f64) -> f64 {
    if v1 >= 0.0 {
        return if v1 < v2 { v1 } else { v1 % v2 };
    }
    let tmp = v1 % v2 + v2;
    if tmp == v2 {
        0.0
    } else {
        tmp
    }
}

/// Degrees → radians with longitude wrapped into [0, 2π) and latitude clamped to [−π/2, π/2].
pub(crate) fn to_radians(lon_deg: f64, lat_deg: f64) -> (f64, f64) {
    let lon = lon_deg.to_radians().rem_euclid(TAU);
    // rem_euclid can round up to exactly 2π for tiny negative inputs.
    let lon = if lon >= TAU { 0.0 } else { lon };
    (lon, lat_deg.to_radians().clamp(-FRAC_PI_2, FRAC_PI_2))
}

/// A full-sky HEALPix map of f32 values.
///
/// `data[p]` is the value of pixel `p` in `ordering`; `data.len() == 12·nside²`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealpixMap {
    /// Resolution parameter, a power of two in 1…8192.
    pub nside: u32,
    /// Pixel ordering of `data`.
    pub ordering: Ordering,
    /// Physical unit, as in the FITS `TUNIT` keyword (e.g. `K_CMB`, `MJy/sr`); may be empty.
    pub unit: String,
    /// One value per pixel.
    pub data: Vec<f32>,
}

impl HealpixMap {
    /// A map from its parts; fails unless `nside` is valid and `data.len() == 12·nside²`.
    pub fn new(nside: u32, ordering: Ordering, unit: impl Into<String>, data: Vec<f32>) -> Result<Self> {
        let grid = Grid::new(nside, ordering)?;
        ensure_param!(
            data.len() as u64 == grid.npix(),
            "HealpixMap data",
            "nside {nside} needs {} values, got {}",
            grid.npix(),
            data.len()
        );
        Ok(HealpixMap { nside, ordering, unit: unit.into(), data })
    }

    /// A map of zeros.
    pub fn zeros(nside: u32, ordering: Ordering, unit: impl Into<String>) -> Result<Self> {
        let npix = Grid::new(nside, ordering)?.npix() as usize;
        Self::new(nside, ordering, unit, vec![0.0; npix])
    }

    /// A map whose pixel values are `f(lon_deg, lat_deg)` at the pixel centres.
    pub fn from_fn(
        nside: u32,
        ordering: Ordering,
        unit: impl Into<String>,
        f: impl Fn(f64, f64) -> f32 + Sync,
    ) -> Result<Self> {
        let grid = Grid::new(nside, ordering)?;
        let data = (0..grid.npix())
            .into_par_iter()
            .map(|p| {
                let (lon, lat) = grid.pix2ang(p);
                f(lon, lat)
            })
            .collect();
        Self::new(nside, ordering, unit, data)
    }

    /// The map's pixelisation.
    pub fn grid(&self) -> Grid {
        // The fields are public, so re-validate instead of trusting them.
        match Grid::new(self.nside, self.ordering) {
            Ok(grid) => grid,
            Err(e) => panic!("HealpixMap with an invalid nside was built by hand: {e}"),
        }
    }

    /// Number of pixels.
    pub fn npix(&self) -> usize {
        self.data.len()
    }

    /// The same map in `ordering` (a no-op when it already is).
    pub fn to_ordering(self, ordering: Ordering) -> Self {
        if self.ordering == ordering {
            return self;
        }
        let grid = self.grid();
        let src = &self.data;
        let mut data = vec![0f32; src.len()];
        data.par_iter_mut().enumerate().with_min_len(4096).for_each(|(p, v)| {
            // `p` is an index in the target ordering; find it in the source ordering.
            let q = match ordering {
                Ordering::Nested => grid.nest2ring(p as u64),
                Ordering::Ring => grid.ring2nest(p as u64),
            };
            *v = src[q as usize];
        });
        HealpixMap { data, ordering, ..self }
    }

    /// Value of the pixel containing (`lon_deg`, `lat_deg`).
    pub fn value_at(&self, lon_deg: f64, lat_deg: f64) -> f32 {
        self.data[self.grid().ang2pix(lon_deg, lat_deg) as usize]
    }

    /// Bilinear interpolation at (`lon_deg`, `lat_deg`), equal to healpy `get_interp_val`.
    pub fn interpolate(&self, lon_deg: f64, lat_deg: f64) -> f64 {
        let (pix, wgt) = self.grid().interpolation_weights(lon_deg, lat_deg);
        self.weighted_sum(&pix, &wgt)
    }

    /// Σ wₖ·data\[pₖ\] for interpolation pixels and weights from [`Grid::interpolation_weights`].
    pub fn weighted_sum(&self, pix: &[u64; 4], weights: &[f64; 4]) -> f64 {
        pix.iter().zip(weights).map(|(&p, w)| self.data[p as usize] as f64 * w).sum()
    }
}
