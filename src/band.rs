//! The instrument's channels: the six Planck HFI frequencies and the Compton-y map.
//!
//! In: a band name (`100GHz` … `857GHz`, `y-map`). Out: a [`Band`], the key of every map, patch
//! channel and normaliser entry. Below every stage: the manifest, the sky and the catalogs name bands.

use serde::{Deserialize, Serialize};

use crate::error::{named_enum, Result};

/// A frequency band of Planck HFI, or the Compton-y map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Band {
    /// 100 GHz (K_CMB).
    F100,
    /// 143 GHz (K_CMB).
    F143,
    /// 217 GHz (K_CMB).
    F217,
    /// 353 GHz (K_CMB).
    F353,
    /// 545 GHz (MJy/sr).
    F545,
    /// 857 GHz (MJy/sr).
    F857,
    /// The Compton-y map (MILCA on real data; dimensionless).
    YMap,
}

impl Band {
    /// All bands in the original's order.
    pub const ALL: [Band; 7] = [Band::F100, Band::F143, Band::F217, Band::F353, Band::F545, Band::F857, Band::YMap];

    /// The name used in params files and by the original: `100GHz` … `857GHz`, `y-map`.
    pub fn name(self) -> &'static str {
        match self {
            Band::F100 => "100GHz",
            Band::F143 => "143GHz",
            Band::F217 => "217GHz",
            Band::F353 => "353GHz",
            Band::F545 => "545GHz",
            Band::F857 => "857GHz",
            Band::YMap => "y-map",
        }
    }

    /// Parse a band name (any case); the error lists the allowed names.
    pub fn from_name(name: &str) -> Result<Band> {
        name.parse()
    }
}

named_enum!(Band, "band");
