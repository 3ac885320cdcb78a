//! Patches: square cut-outs of the sky maps around clusters or on a scan grid.
//!
//! In: the band maps, the tiling and a cluster catalog. Out: [`Patches`], `N×C×H×W` f32 images
//! with one metadata row per patch. [`Gnomonic`] maps patch pixels to the sky and back (exactly),
//! [`sample_patches`] reads the maps at patch pixels, and [`PatchSampler`] decides where patches go:
//! shifted and rotated around the clusters of a split (leak-free), or on a grid over whole tiles.

mod projection;
mod sample;
mod sampler;
mod set;

pub use projection::{Dihedral, Frame, Gnomonic};
pub use sample::{sample_patches, Interpolation};
pub use sampler::footprint_tiles;
pub(crate) use sampler::{mix, sky_nside, MAX_LABEL_RADIUS_ARCMIN};
pub use sampler::{ClusterInPatch, PatchInfo, PatchSampler, PatchStream, SamplerSettings};
pub use set::Patches;
pub(crate) use set::{info_df, info_from_df};
