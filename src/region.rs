//! Sky regions: filter any table with positions by a cone, a box, tiles, a latitude cut or a
//! HEALPix MOC; the scanned footprint of a run as a MOC.
//!
//! In: a [`Region`] and a table with `glon`/`glat` or `ra`/`dec` in degrees (detections, a
//! [`Catalog`], any DataFrame). Out: the rows inside the region ([`within`], [`Catalog::within`],
//! [`Matched::within`]); [`Moc`]s read from and written to IVOA MOC 2.0 FITS files (CDS's `moc`
//! crate), made from a cone or from a run's scanned patches ([`Moc::from_footprint`]).
//!
//! Rules: a cone holds the positions whose great-circle separation from its centre is at most its
//! radius; a box holds longitudes from `lon_min` eastwards to `lon_max` (wrapping through 0 when
//! `lon_min > lon_max`) and latitudes in `[lat_min, lat_max]`; a MOC (always ICRS, as the standard
//! says) holds a position when the cell of its finest depth containing it is in the MOC, and a MOC
//! made here from a cone or a footprint holds the cells whose **centres** lie inside (as healpy's
//! `query_disc(…, inclusive=False)`).
//!
//! ```
//! use xcluster::region::{Frame, Region};
//! let north = Region::cone(Frame::Galactic, 0.0, 90.0, 30.0)?;
//! assert!(north.contains(123.0, 70.0) && !north.contains(123.0, 50.0));
//! let wrap = Region::lon_lat_box(Frame::Galactic, (350.0, 10.0), (-5.0, 5.0))?;
//! assert!(wrap.contains(355.0, 0.0) && wrap.contains(5.0, 0.0) && !wrap.contains(20.0, 0.0));
//! assert!(Region::abs_glat_above(30.0)?.contains(10.0, -45.0));
//! # Ok::<(), xcluster::Error>(())
//! ```

use std::io::BufReader;
use std::path::Path;

use moc::deser::fits::{from_fits_ivoa, ranges_to_fits_ivoa, MocIdxType, MocQtyType};
use moc::moc::range::RangeMOC;
use moc::moc::RangeMOCIntoIterator;
use moc::qty::Hpx;
use polars::prelude::*;

use crate::catalog::Catalog;
use crate::crossmatch::{Footprint, Matched};
use crate::error::{ensure_param, Error, Result};
use crate::join::galactic_positions;
use crate::output::write_atomic;
use crate::sky::{galactic_to_icrs, icrs_to_galactic};
use crate::tiles::{Tiling, N_TILES};

/// The coordinate frame of a cone or a box: the patches' [`Frame`] (`Galactic` or `Icrs`).
pub use crate::patches::Frame;

/// A region of the sky (see the [module docs](self)).
#[derive(Debug, Clone)]
pub enum Region {
    /// Positions within `radius_deg` of (`lon`, `lat`) in `frame`.
    Cone {
        /// The frame of the centre.
        frame: Frame,
        /// Centre longitude, degrees.
        lon: f64,
        /// Centre latitude, degrees.
        lat: f64,
        /// Radius, degrees.
        radius_deg: f64,
    },
    /// A longitude range (wrapping through 0 when `lon.0 > lon.1`) × a latitude range, in `frame`.
    Box {
        /// The frame.
        frame: Frame,
        /// (from, to) longitude, degrees in [0, 360].
        lon: (f64, f64),
        /// (min, max) latitude, degrees.
        lat: (f64, f64),
    },
    /// The HEALPix tiles (nside-2 RING pixels 0…47) of [`Tiling`].
    Tiles(Vec<u32>),
    /// |Galactic latitude| strictly above this many degrees.
    AbsGlatAbove(f64),
    /// A HEALPix MOC (ICRS).
    Moc(Moc),
    /// Inside every one of these.
    And(Vec<Region>),
    /// Outside this one.
    Not(Box<Region>),
}

impl Region {
    /// A cone of `radius_deg` (0 < r ≤ 180) around (`lon`, `lat`) in `frame`.
    pub fn cone(frame: Frame, lon: f64, lat: f64, radius_deg: f64) -> Result<Self> {
        check_lat("Region::cone lat", lat)?;
        ensure_param!(lon.is_finite(), "Region::cone lon", "must be finite, got {lon}");
        ensure_param!(
            radius_deg > 0.0 && radius_deg <= 180.0,
            "Region::cone radius_deg",
            "must be in (0, 180], got {radius_deg}"
        );
        Ok(Region::Cone { frame, lon, lat, radius_deg })
    }

    /// A box: longitudes from `lon.0` eastwards to `lon.1` (both in [0, 360]; wrapping through 0 when
    /// `lon.0 > lon.1`), latitudes in `[lat.0, lat.1]`.
    pub fn lon_lat_box(frame: Frame, lon: (f64, f64), lat: (f64, f64)) -> Result<Self> {
        for l in [lon.0, lon.1] {
            ensure_param!((0.0..=360.0).contains(&l), "Region::lon_lat_box lon", "must be in [0, 360], got {l}");
        }
        check_lat("Region::lon_lat_box lat", lat.0)?;
        check_lat("Region::lon_lat_box lat", lat.1)?;
        ensure_param!(lat.0 <= lat.1, "Region::lon_lat_box lat", "min {} > max {}", lat.0, lat.1);
        Ok(Region::Box { frame, lon, lat })
    }

    /// The tiles `tiles` (0…47).
    pub fn tiles(tiles: &[u32]) -> Result<Self> {
        for &t in tiles {
            ensure_param!(t < N_TILES, "Region::tiles", "tile {t} does not exist; tiles are 0…47");
        }
        Ok(Region::Tiles(tiles.to_vec()))
    }

    /// |b| > `deg` (0 ≤ deg < 90): away from the Galactic plane.
    pub fn abs_glat_above(deg: f64) -> Result<Self> {
        ensure_param!((0.0..90.0).contains(&deg), "Region::abs_glat_above", "must be in [0, 90), got {deg}");
        Ok(Region::AbsGlatAbove(deg))
    }

    /// The sky a MOC covers.
    pub fn moc(moc: Moc) -> Self {
        Region::Moc(moc)
    }

    /// Inside both this region and `other`.
    pub fn and(self, other: Region) -> Self {
        match self {
            Region::And(mut v) => {
                v.push(other);
                Region::And(v)
            }
            r => Region::And(vec![r, other]),
        }
    }

    /// Outside this region.
    pub fn complement(self) -> Self {
        Region::Not(Box::new(self))
    }

    /// Whether Galactic (`glon`, `glat`) in degrees lies in the region.
    pub fn contains(&self, glon: f64, glat: f64) -> bool {
        let in_frame = |frame: Frame| match frame {
            Frame::Galactic => (glon, glat),
            Frame::Icrs => galactic_to_icrs(glon, glat),
        };
        match self {
            Region::Cone { frame, lon, lat, radius_deg } => {
                let (l, b) = in_frame(*frame);
                separation_deg(l, b, *lon, *lat) <= *radius_deg
            }
            Region::Box { frame, lon, lat } => {
                let (l, b) = in_frame(*frame);
                let l = l.rem_euclid(360.0);
                let in_lon = if lon.0 <= lon.1 { (lon.0..=lon.1).contains(&l) } else { l >= lon.0 || l <= lon.1 };
                in_lon && (lat.0..=lat.1).contains(&b)
            }
            Region::Tiles(tiles) => tiles.contains(&Tiling::tile_of(glon, glat)),
            Region::AbsGlatAbove(deg) => glat.abs() > *deg,
            Region::Moc(moc) => {
                let (ra, dec) = galactic_to_icrs(glon, glat);
                moc.contains_icrs(ra, dec)
            }
            Region::And(regions) => regions.iter().all(|r| r.contains(glon, glat)),
            Region::Not(r) => !r.contains(glon, glat),
        }
    }

    /// For each row of `df` (positions from `glon`/`glat` or `ra`/`dec`), whether it lies in the
    /// region; a row without a valid position does not.
    pub fn mask(&self, df: &DataFrame, what: &str) -> Result<BooleanChunked> {
        let pos = galactic_positions(df, what)?;
        Ok(pos.iter().map(|p| p.is_some_and(|(l, b)| self.contains(l, b))).collect::<BooleanChunked>())
    }
}

fn check_lat(what: &str, lat: f64) -> Result<()> {
    ensure_param!((-90.0..=90.0).contains(&lat), what, "must be in [-90, 90], got {lat}");
    Ok(())
}

/// Great-circle separation in degrees (haversine, accurate at small angles).
pub fn separation_deg(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (l1, b1, l2, b2) = (lon1.to_radians(), lat1.to_radians(), lon2.to_radians(), lat2.to_radians());
    let h = ((b2 - b1) / 2.0).sin().powi(2) + b1.cos() * b2.cos() * ((l2 - l1) / 2.0).sin().powi(2);
    (2.0 * h.sqrt().min(1.0).asin()).to_degrees()
}

/// The rows of `df` inside `region` (positions from `glon`/`glat` or `ra`/`dec`, degrees).
pub fn within(df: &DataFrame, region: &Region) -> Result<DataFrame> {
    Ok(df.filter(&region.mask(df, "table")?)?)
}

impl Catalog {
    /// The objects of this catalog inside `region`.
    pub fn within(&self, region: &Region) -> Result<Catalog> {
        self.retain(&region.mask(self.df(), self.name())?)
    }
}

impl Matched {
    /// The detections (with their matches) inside `region`.
    pub fn within(&self, region: &Region) -> Result<DataFrame> {
        Ok(self.detections().filter(&region.mask(self.detections(), "detections")?)?)
    }

    /// The scanned footprint as a MOC of `depth` (see [`Moc::from_footprint`]); an error for
    /// matches not made by the chain.
    pub fn footprint_moc(&self, depth: u8) -> Result<Moc> {
        let origin = self.origin().ok_or_else(|| {
            Error::param("footprint_moc", "these matches do not come from a scan: no footprint is known")
        })?;
        Moc::from_footprint(&origin.footprint, depth)
    }
}

/// Default depth of a footprint MOC: HEALPix order 10 (3.4′ cells, half a patch pixel of 1.7′ … 2 pixels).
pub const FOOTPRINT_DEPTH: u8 = 10;

/// A HEALPix multi-order coverage map (IVOA MOC 2.0, spatial, ICRS), via CDS's `moc` crate.
#[derive(Debug, Clone)]
pub struct Moc {
    moc: RangeMOC<u64, Hpx<u64>>,
}

impl Moc {
    /// The cells of `depth` (0…29) in NESTED order, any order, repeated or not.
    pub fn from_cells(depth: u8, cells: impl IntoIterator<Item = u64>) -> Result<Self> {
        ensure_param!(depth <= 29, "Moc depth", "must be in 0…29, got {depth}");
        let mut cells: Vec<u64> = cells.into_iter().collect();
        let n = 12u64 << (2 * depth as u32);
        if let Some(bad) = cells.iter().find(|&&c| c >= n) {
            return Err(Error::param("Moc cells", format!("cell {bad} does not exist at depth {depth} (< {n})")));
        }
        cells.sort_unstable();
        cells.dedup();
        Ok(Moc { moc: RangeMOC::from_fixed_depth_cells(depth, cells.into_iter(), None) })
    }

    /// The cells of `depth` whose centres lie within `radius_deg` of ICRS (`ra`, `dec`) — the
    /// cells healpy's `query_disc(nside, vec, radius, inclusive=False, nest=True)` returns.
    pub fn cone(ra: f64, dec: f64, radius_deg: f64, depth: u8) -> Result<Self> {
        Region::cone(Frame::Icrs, ra, dec, radius_deg)?;
        ensure_param!(depth <= 29, "Moc depth", "must be in 0…29, got {depth}");
        let layer = cdshealpix::nested::get(depth);
        let bmoc = layer.cone_coverage_approx(ra.to_radians(), dec.to_radians(), radius_deg.to_radians());
        let cells = bmoc.flat_iter().filter(|&c| {
            let (lon, lat) = layer.center(c);
            separation_deg(lon.to_degrees(), lat.to_degrees(), ra, dec) <= radius_deg
        });
        Self::from_cells(depth, cells.collect::<Vec<_>>())
    }

    /// The scanned patches of `footprint` as the cells of `depth` (8…16 sensible; see
    /// [`FOOTPRINT_DEPTH`]) whose centres lie on at least one patch (the rule of
    /// [`Footprint::area_deg2`], here in ICRS cells).
    pub fn from_footprint(footprint: &Footprint, depth: u8) -> Result<Self> {
        use rayon::prelude::*;
        ensure_param!((1..=20).contains(&depth), "Moc::from_footprint depth", "must be in 1…20, got {depth}");
        let layer = cdshealpix::nested::get(depth);
        let cells: Vec<u64> = footprint
            .patches()
            .par_iter()
            .flat_map_iter(|patch| {
                let proj = &patch.projection;
                let reach = proj.size() as f64 * proj.pixel_arcmin() * std::f64::consts::FRAC_1_SQRT_2 * 1.01 / 60.0;
                let (l0, b0) = proj.center_galactic();
                let (ra, dec) = galactic_to_icrs(l0, b0);
                let bmoc = layer.cone_coverage_approx(ra.to_radians(), dec.to_radians(), reach.to_radians());
                bmoc.flat_iter()
                    .filter(|&c| {
                        let (lon, lat) = layer.center(c);
                        let (l, b) = icrs_to_galactic(lon.to_degrees(), lat.to_degrees());
                        proj.galactic_to_pixel(l, b).is_some_and(|(i, j)| proj.contains_pixel(i, j))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Self::from_cells(depth, cells)
    }

    /// Read an IVOA MOC FITS file (spatial; as written by mocpy, Aladin, CDS services or [`Moc::write_fits`]).
    pub fn read_fits(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let err = |m: String| Error::fits(path, m);
        let moc = match from_fits_ivoa(BufReader::new(file)).map_err(|e| err(format!("not a MOC FITS file: {e}")))? {
            MocIdxType::U16(MocQtyType::Hpx(m)) => m.collect_to_u64::<Hpx<u64>>(),
            MocIdxType::U32(MocQtyType::Hpx(m)) => m.collect_to_u64::<Hpx<u64>>(),
            MocIdxType::U64(MocQtyType::Hpx(m)) => m.collect(),
            _ => return Err(err("a time, frequency or space-time MOC, not a spatial (HEALPix) one".into())),
        };
        Ok(Moc { moc })
    }

    /// Write as an IVOA MOC 2.0 FITS file (atomically).
    pub fn write_fits(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut bytes = Vec::new();
        ranges_to_fits_ivoa((&self.moc).into_range_moc_iter(), None, None, &mut bytes)
            .map_err(|e| Error::fits(path, format!("cannot encode the MOC: {e}")))?;
        write_atomic(path, |f| std::io::Write::write_all(f, &bytes))
    }

    /// The finest depth (HEALPix order).
    pub fn depth(&self) -> u8 {
        self.moc.depth_max()
    }

    /// The covered cells at the finest depth, NESTED, sorted.
    pub fn cells(&self) -> Vec<u64> {
        let shift = 2 * (29 - self.moc.depth_max() as u32);
        (&self.moc).into_range_moc_iter().flat_map(|r| (r.start >> shift)..(r.end >> shift)).collect()
    }

    /// Whether ICRS (`ra`, `dec`) in degrees is covered.
    pub fn contains_icrs(&self, ra: f64, dec: f64) -> bool {
        dec.is_finite() && ra.is_finite() && self.moc.is_in(ra.rem_euclid(360.0).to_radians(), dec.to_radians())
    }

    /// Covered area, deg².
    pub fn area_deg2(&self) -> f64 {
        self.moc.coverage_percentage() * crate::crossmatch::full_sky_deg2()
    }

    /// Covered by both.
    pub fn and(&self, other: &Moc) -> Moc {
        Moc { moc: self.moc.and(&other.moc) }
    }

    /// Covered by either.
    pub fn or(&self, other: &Moc) -> Moc {
        Moc { moc: self.moc.or(&other.moc) }
    }

    /// Not covered.
    pub fn complement(&self) -> Moc {
        Moc { moc: self.moc.not() }
    }
}
