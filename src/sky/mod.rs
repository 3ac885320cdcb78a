//! The sky: HEALPix maps, the bands of a Planck-like sky, FITS I/O and coordinates.
//!
//! In: maps (from FITS files or built in memory). Out: a [`Sky`], named bands sharing one nside,
//! which the tiling and patch stages sample.

mod coords;
mod fits;
mod healpix;
mod planck;
pub mod sht;

use std::collections::BTreeMap;

pub use crate::band::Band;
pub use coords::{
    angular_separation_deg, galactic_to_icrs, icrs_to_galactic, icrs_to_galactic_matrix, lonlat, position_angle_deg,
    rotate_icrs_to_galactic, unit_vector,
};
pub(crate) use fits::create_healpix_table;
pub use fits::{map_columns, read_map, write_map, write_maps, Column};
pub(crate) use healpix::to_radians;
pub use healpix::{Grid, HealpixMap, Ordering, NSIDE_MAX};
pub use planck::read_band;

use crate::error::{Error, Result};

/// Named maps of one nside: the input of the tiling and patch stages.
#[derive(Debug, Clone, Default)]
pub struct Sky {
    // Behind `Arc`: a sky is cloned into every stage value that cuts patches from it.
    bands: BTreeMap<Band, std::sync::Arc<HealpixMap>>,
}

impl Sky {
    /// An empty sky; add maps with [`Sky::with_band`].
    pub fn new() -> Self {
        Sky::default()
    }

    /// Add (or replace) `band`; fails if `map` has another nside than the bands already there.
    pub fn with_band(mut self, band: Band, map: HealpixMap) -> Result<Self> {
        if let Some((other, m)) = self.bands.iter().find(|(b, _)| **b != band) {
            if m.nside != map.nside {
                return Err(Error::param(
                    format!("sky band {band}"),
                    format!(
                        "nside {} differs from band {other} (nside {}); all bands must share one nside",
                        map.nside, m.nside
                    ),
                ));
            }
        }
        self.bands.insert(band, std::sync::Arc::new(map));
        Ok(self)
    }

    /// The map of `band`, if present.
    pub fn band(&self, band: Band) -> Option<&HealpixMap> {
        self.bands.get(&band).map(|m| &**m)
    }

    /// The bands present, in the original's order.
    pub fn bands(&self) -> Vec<Band> {
        self.bands.keys().copied().collect()
    }

    /// The shared nside, or `None` for an empty sky.
    pub fn nside(&self) -> Option<u32> {
        self.bands.values().next().map(|m| m.nside)
    }

    /// Every band converted to `ordering` (done once, on load, for the sampler).
    pub fn to_ordering(self, ordering: Ordering) -> Self {
        let bands = self.bands.into_iter().map(|(b, m)| {
            let m = std::sync::Arc::try_unwrap(m).unwrap_or_else(|shared| (*shared).clone());
            (b, std::sync::Arc::new(m.to_ordering(ordering)))
        });
        Sky { bands: bands.collect() }
    }
}
