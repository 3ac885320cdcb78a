//! Figures: every plot of the pipeline as a [`Figure`] that displays inline in an evcxr notebook
//! and saves to PNG or SVG.
//!
//! In: the pipeline's values (maps, tilings, patches, histories, predictions, detections,
//! evaluations). Out: a [`Figure`], drawn with plotters only when it is shown or saved, at the
//! same size on every backend.
//!
//! | figure | made by |
//! |---|---|
//! | Mollweide all-sky map of a band, with the 48 tiles and the split | [`Sky::plot`](crate::sky::Sky::plot), [`HealpixMap::plot`](crate::sky::HealpixMap::plot), [`Tiling::plot`](crate::tiles::Tiling::plot) |
//! | all-sky map of detections by match class | [`Matched::plot`](crate::crossmatch::Matched::plot) |
//! | patches per band with their label masks | [`Dataset::plot`](crate::dataset::Dataset::plot), [`Patches::plot`](crate::patches::Patches::plot) |
//! | pixel distributions per band | [`histograms`] |
//! | training curves | [`Trained::plot`](crate::train::Trained::plot), [`history`], [`compare`] |
//! | prediction panel (y-map, true mask, probability, detections) | [`prediction`] |
//! | completeness vs a truth column, purity–completeness curve | [`Evaluation::plot_completeness`](crate::evaluate::Evaluation::plot_completeness), [`purity_completeness`] |
//!
//! Tables: [`NotebookDisplay`] shows any polars `DataFrame` as an HTML table in Jupyter.
//!
//! Text is drawn with the DejaVu Sans font shipped in `data/fonts/`, so no system font library is
//! needed. Images inside SVG files are embedded as PNG, which keeps an all-sky SVG small.

mod canvas;
mod curves;
mod detections;
mod evaluation;
mod patches;
mod prediction;
mod sky;
mod table;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::output::write_atomic;

pub use curves::{compare, curves, history, Series};
pub use evaluation::purity_completeness;
pub use patches::histograms;
pub use prediction::prediction;
pub use sky::{mollweide, mollweide_inverse};
pub use table::NotebookDisplay;
pub(crate) use table::{card, card_or_error};
pub(crate) mod summary;

pub(crate) use canvas::*;

/// Something that draws itself on any plotters backend (bitmap or SVG).
pub(crate) trait Drawing: Send + Sync + 'static {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// The object-safe face of [`Drawing`]: one method per backend a figure is rendered on.
trait Paint: Send + Sync {
    fn paint_bitmap(&self, root: &DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>;
    fn paint_svg(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>;
}

impl<T: Drawing> Paint for T {
    fn paint_bitmap(&self, root: &DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()> {
        self.draw(root)
    }
    fn paint_svg(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
        self.draw(root)
    }
}

/// A figure: shown inline by evcxr (as PNG), saved with [`Figure::save`] as `.png` or `.svg`.
///
/// Cheap to clone; drawing happens when the figure is displayed, encoded or saved.
/// A plot method returns a `Figure` even when its inputs cannot be drawn: the figure then carries
/// the error, which a notebook shows in place of the image and [`Figure::save`] / [`Figure::result`]
/// return.
#[derive(Clone)]
pub struct Figure {
    name: String,
    size: (u32, u32),
    painter: Arc<dyn Paint>,
    failed: Option<Arc<str>>,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Figure({:?}, {}×{} px)", self.name, self.size.0, self.size.1)
    }
}

impl Figure {
    pub(crate) fn new(name: impl Into<String>, size: (u32, u32), drawing: impl Drawing) -> Self {
        Figure { name: name.into(), size, painter: Arc::new(drawing), failed: None }
    }

    /// The figure `make` returns, or one that carries its error (named `name`).
    pub(crate) fn or_failed(name: &str, made: Result<Figure>) -> Figure {
        made.unwrap_or_else(|e| Figure {
            name: name.into(),
            size: (0, 0),
            painter: Arc::new(Blank),
            failed: Some(e.to_string().into()),
        })
    }

    /// The figure, or the error that kept it from being made (its inputs could not be drawn).
    pub fn result(self) -> Result<Figure> {
        match &self.failed {
            Some(message) => Err(Error::plot(&self.name, message)),
            None => Ok(self),
        }
    }

    fn check(&self) -> Result<()> {
        self.failed.as_ref().map_or(Ok(()), |message| Err(Error::plot(&self.name, message)))
    }

    /// What the figure shows (used in error messages and as the default file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The figure as 8-bit RGB pixels, row by row from the top.
    pub fn rgb(&self) -> Result<Vec<u8>> {
        self.check()?;
        register_font();
        let (w, h) = self.size;
        let mut buf = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| self.err(e))?;
            self.painter.paint_bitmap(&root).map_err(|e| self.wrap(e))?;
            root.present().map_err(|e| self.err(e))?;
        }
        Ok(buf)
    }

    /// The figure encoded as PNG.
    pub fn png(&self) -> Result<Vec<u8>> {
        use image::ImageEncoder;
        let rgb = self.rgb()?;
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(&rgb, self.size.0, self.size.1, image::ColorType::Rgb8)
            .map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// The figure as an SVG document.
    pub fn svg(&self) -> Result<String> {
        self.check()?;
        register_font();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| self.err(e))?;
            self.painter.paint_svg(&root).map_err(|e| self.wrap(e))?;
            root.present().map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// Write the figure to `path` (`.png` or `.svg`, chosen by the extension), atomically.
    /// Returns the path written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let bytes = match ext.as_deref() {
            Some("png") => self.png()?,
            Some("svg") => self.svg()?.into_bytes(),
            _ => {
                return Err(Error::plot(
                    path.display().to_string(),
                    "unknown image format: give the file name a .png or .svg extension",
                ))
            }
        };
        write_atomic(path, |f| f.write_all(&bytes))?;
        Ok(path.to_path_buf())
    }

    /// evcxr's display hook: a notebook cell whose value is a `Figure` shows it inline as PNG.
    pub fn evcxr_display(&self) {
        use base64::Engine;
        match self.png() {
            Ok(png) => {
                let data = base64::engine::general_purpose::STANDARD.encode(png);
                println!("EVCXR_BEGIN_CONTENT image/png\n{data}\nEVCXR_END_CONTENT");
            }
            Err(e) => println!("EVCXR_BEGIN_CONTENT text/plain\nerror: {e}\nEVCXR_END_CONTENT"),
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::plot(&self.name, e)
    }

    /// Errors raised while drawing name the drawing step; add the figure's name.
    fn wrap(&self, e: Error) -> Error {
        match e {
            Error::Plot { what, message } => Error::plot(format!("{} ({what})", self.name), message),
            other => other,
        }
    }
}

/// The painter of a figure that failed: never called, since [`Figure::check`] stops first.
struct Blank;

impl Drawing for Blank {
    fn draw<DB: DrawingBackend>(&self, _root: &DrawingArea<DB, Shift>) -> Result<()> {
        Ok(())
    }
}

/// The font the figures use, shipped with the crate (DejaVu Sans, Bitstream Vera licence).
static FONT: &[u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");

/// The family name every text style in this module uses.
pub(crate) const FAMILY: &str = "sans-serif";

fn register_font() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // The shipped font is valid; an error here would be a broken build, and plotters then
        // falls back to drawing no text, which the figure tests catch.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Save `figures` as PNG under `dir` (named after each figure), creating `dir`. Returns the paths.
pub fn save_all(figures: &[Figure], dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    figures.iter().map(|f| f.save(dir.join(format!("{}.png", f.name())))).collect()
}
