//! Every figure type renders to PNG and SVG with the right size and non-blank content, and shows
//! what it should where it should (checked on pixels where the geometry is known).

mod common;

#[path = "plot/sky.rs"]
mod sky;
#[path = "plot/patches.rs"]
mod patches;
#[path = "plot/prediction.rs"]
mod prediction;
#[path = "plot/curves.rs"]
mod curves;
#[path = "plot/evaluation.rs"]
mod evaluation;
#[path = "plot/detections.rs"]
mod detections;
