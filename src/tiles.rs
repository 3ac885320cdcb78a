//! The 48 HEALPix nside-2 tiles and the train / validation / test split.
//!
//! In: lists of RING tile numbers (0…47) for validation and test. Out: a [`Tiling`] that tells the
//! tile and split of any Galactic position, the pixels of a tile at any nside, and a table of tiles.
//! Each tile is one nside-2 pixel (~860 deg²). The original's README numbered them from 1; here they
//! are the 0-based RING pixel numbers: default validation {9, 25, 38, 41}, test {6}.

use std::fmt;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ensure_param, Result};
use crate::sky::{Grid, Ordering};

/// Number of tiles (nside 2 → 12·2² pixels).
pub const N_TILES: u32 = 48;
/// The tiles' nside.
pub const TILE_NSIDE: u32 = 2;

/// Which part of the sky a tile serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training tiles: every tile not listed as validation or test.
    Train,
    /// Validation tiles (early stopping, learning-rate schedule).
    Val,
    /// Held-out test tiles (scanned for detections).
    Test,
}

impl Split {
    /// `train`, `val` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The tiling of the sky into 48 nside-2 RING tiles with their split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiling {
    splits: [Split; N_TILES as usize],
}

impl Default for Tiling {
    /// Validation tiles {9, 25, 38, 41}, test tile {6}, as the original's README.
    fn default() -> Self {
        match Tiling::new(&[9, 25, 38, 41], &[6]) {
            Ok(t) => t,
            Err(e) => unreachable!("default tiling is valid: {e}"),
        }
    }
}

impl Tiling {
    /// A tiling with `val` and `test` tiles (RING numbers 0…47, disjoint, test non-empty);
    /// all other tiles are for training.
    ///
    /// ```
    /// use xcluster::tiles::{Split, Tiling};
    /// let t = Tiling::new(&[9, 25, 38, 41], &[6]).unwrap();
    /// assert_eq!(t.split_of_tile(6), Split::Test);
    /// assert!(Tiling::new(&[6], &[6]).is_err());
    /// ```
    pub fn new(val: &[u32], test: &[u32]) -> Result<Self> {
        let mut splits = [Split::Train; N_TILES as usize];
        for (list, split, key) in [(val, Split::Val, "val_tiles"), (test, Split::Test, "test_tiles")] {
            for &t in list {
                ensure_param!(t < N_TILES, key, "tile {t} does not exist; tiles are RING pixels 0…47 of nside 2");
                let current = splits[t as usize];
                ensure_param!(current != split, key, "tile {t} is listed twice");
                // Validation tiles are placed first, so a clash is a test tile already in val_tiles.
                ensure_param!(
                    current == Split::Train,
                    key,
                    "tile {t} is also in val_tiles; a tile belongs to one split only"
                );
                splits[t as usize] = split;
            }
        }
        ensure_param!(!test.is_empty(), "test_tiles", "at least one test tile is needed");
        Ok(Tiling { splits })
    }

    pub(crate) fn grid() -> Grid {
        match Grid::new(TILE_NSIDE, Ordering::Ring) {
            Ok(g) => g,
            Err(e) => unreachable!("nside 2 is valid: {e}"),
        }
    }

    /// The tile (0…47) containing Galactic (`glon_deg`, `glat_deg`).
    pub fn tile_of(glon_deg: f64, glat_deg: f64) -> u32 {
        Self::grid().ang2pix(glon_deg, glat_deg) as u32
    }

    /// Is Galactic (`glon_deg`, `glat_deg`) inside tile `tile`?
    pub fn contains(tile: u32, glon_deg: f64, glat_deg: f64) -> bool {
        Self::tile_of(glon_deg, glat_deg) == tile
    }

    /// Centre of `tile`, Galactic (glon, glat) in degrees.
    pub fn tile_center(tile: u32) -> (f64, f64) {
        Self::grid().pix2ang(tile as u64)
    }

    /// The split of `tile` (panics for tile ≥ 48).
    pub fn split_of_tile(&self, tile: u32) -> Split {
        self.splits[tile as usize]
    }

    /// The split of the tile containing Galactic (`glon_deg`, `glat_deg`).
    pub fn split_of(&self, glon_deg: f64, glat_deg: f64) -> Split {
        self.split_of_tile(Self::tile_of(glon_deg, glat_deg))
    }

    /// Tiles of `split`, ascending.
    pub fn tiles(&self, split: Split) -> Vec<u32> {
        (0..N_TILES).filter(|&t| self.splits[t as usize] == split).collect()
    }

    /// Pixels of the map grid `grid` (nside ≥ 2) that lie in `tile`, ascending.
    ///
    /// A HEALPix pixel of nside ≥ 2 lies in exactly one nside-2 pixel, so the tiles partition every map.
    pub fn pixels(tile: u32, grid: Grid) -> Result<Vec<u64>> {
        ensure_param!(tile < N_TILES, "tile", "tile {tile} does not exist; tiles are 0…47");
        ensure_param!(grid.nside() >= TILE_NSIDE, "nside", "a map of nside {} is coarser than the tiles", grid.nside());
        let per_tile = (grid.nside() as u64 / TILE_NSIDE as u64).pow(2);
        let first = Self::grid().ring2nest(tile as u64) * per_tile;
        let nested = first..first + per_tile;
        let mut pix: Vec<u64> = match grid.ordering() {
            Ordering::Nested => nested.collect(),
            Ordering::Ring => nested.map(|p| grid.nest2ring(p)).collect(),
        };
        pix.sort_unstable();
        Ok(pix)
    }

    /// One row per tile: `tile`, `split`, `glon_deg`, `glat_deg` (centre), `area_deg2`.
    pub fn df(&self) -> Result<DataFrame> {
        let centers: Vec<(f64, f64)> = (0..N_TILES).map(Self::tile_center).collect();
        let area = 4.0 * 180.0f64.powi(2) / std::f64::consts::PI / N_TILES as f64;
        let df = df!(
            "tile" => (0..N_TILES).collect::<Vec<u32>>(),
            "split" => self.splits.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "glon_deg" => centers.iter().map(|c| c.0).collect::<Vec<_>>(),
            "glat_deg" => centers.iter().map(|c| c.1).collect::<Vec<_>>(),
            "area_deg2" => vec![area; N_TILES as usize],
        )?;
        Ok(df)
    }
}
