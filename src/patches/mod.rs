//! Patches: square cut-outs of the sky maps around clusters or on a scan grid.
//!
//! In: a centre, a size in pixels and a pixel size. Out (so far): the gnomonic projection between
//! patch pixels and the sky. Sampling, the patch sampler and patch tables come with the rest of the
//! patches stage.

mod projection;

pub use projection::Gnomonic;
