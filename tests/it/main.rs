//! The integration tests, one binary: each module links polars and burn once instead of once per file.

mod catalog;
mod cli;
mod common;
mod coords;
mod crossmatch_eval;
mod dataset;
mod detect;
mod end_to_end;
mod fetch;
mod fits;
mod healpix;
mod loss;
mod model;
mod params;
mod patches;
mod plot;
mod projection;
mod real_data;
mod sht;
mod synthetic;
mod tiles;
mod train;
