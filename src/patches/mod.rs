//! Patches: square cut-outs of the sky maps around clusters or on a scan grid.
//!
//! In: a centre, a size in pixels and a pixel size, and the band maps. Out (so far): the gnomonic
//! projection between patch pixels and the sky, and `N×C×H×W` tensors sampled from the maps.
//! The patch sampler (training shifts and rotations, scan grids) and patch tables come with the rest
//! of the patches stage.

mod projection;
mod sample;

pub use projection::Gnomonic;
pub use sample::{sample_patches, Interpolation};
