//! Every figure type renders to PNG and SVG with the right size and non-blank content, and shows
//! what it should where it should (checked on pixels where the geometry is known).

mod curves;
mod detections;
mod evaluation;
mod patches;
mod prediction;
mod sky;
