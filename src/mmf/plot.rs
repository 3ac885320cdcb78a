//! The matched filter's S/N map of one patch as a [`Figure`].
//!
//! In: a [`Filtered`] patch (or a sky and a position, for [`Mmf::plot_patch`]). Out: a figure of the
//! highest S/N over the filter scales at every pixel (the tapered border greyed out), the peaks
//! above the threshold circled, with a colour bar.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Filtered, Mmf};
use crate::error::Result;
use crate::plot::{colorbar, image_panel, Colormap, Drawing, Figure, Image, OrPlot, Scale};
use crate::sky::Sky;

/// What the S/N figure draws, owned.
struct SnrMap {
    q: Vec<f32>,
    n: usize,
    pixel_arcmin: f64,
    peaks: Vec<(f64, f64, f64)>,
    threshold: f64,
    title: String,
}

impl Filtered {
    /// The S/N map (max over θ500) of this patch with its peaks of q ≥ `threshold` circled;
    /// `title` names the patch.
    pub fn plot(&self, threshold: f64, title: &str) -> Figure {
        let g = self.mmf_filter().geometry();
        let (mut q, _) = self.q_max_map();
        let margin = self.mmf_filter().settings().taper_px;
        let n = g.size;
        for i in 0..n {
            for j in 0..n {
                if i < margin || j < margin || i >= n - margin || j >= n - margin {
                    q[i * n + j] = f32::NAN;
                }
            }
        }
        let peaks = self.peaks(threshold).iter().map(|m| (m.i, m.j, m.snr)).collect();
        Figure::new(
            "mmf_snr",
            (720, 780),
            SnrMap { q, n, pixel_arcmin: g.pixel_arcmin, peaks, threshold, title: title.to_string() },
        )
    }
}

impl Mmf {
    /// The S/N map of the patch of this filter centred on Galactic (`glon`, `glat`) of `sky` (see
    /// [`Filtered::plot`]), its peaks at this filter's threshold circled.
    pub fn plot_patch(&self, sky: &Sky, glon: f64, glat: f64) -> Figure {
        let made = (|| -> Result<Figure> {
            let maps = self.sky_maps(sky)?;
            let filter = self.on_maps(&maps).prepare()?;
            let proj = crate::patches::Gnomonic::new(glon, glat, self.size as u32, self.pixel_arcmin)?;
            let cut = super::scan::cut(self, &maps, &proj)?;
            let slices: Vec<&[f32]> = cut.chunks(self.size * self.size).collect();
            let f = filter.filter(&slices)?;
            let title = format!("MMF S/N around l = {glon:.2}°, b = {glat:.2}°");
            f.plot(self.snr_threshold, &title).result()
        })();
        Figure::or_failed("Mmf::plot_patch", made)
    }
}

impl Drawing for SnrMap {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).or_plot(&self.title)?;
        let (_, h) = root.dim_in_pixel();
        let (top, bar) = root.split_vertically(h - 60);
        let half = self.n as f64 * self.pixel_arcmin / 2.0;
        let finite: Vec<f32> = self.q.iter().copied().filter(|v| v.is_finite()).collect();
        let hi = finite.iter().copied().fold(self.threshold as f32, f32::max) as f64;
        let lo = finite.iter().copied().fold(f32::INFINITY, f32::min).min(0.0) as f64;
        let scale = Scale::new(lo, hi.max(lo + 1.0));
        let image = Image {
            values: &self.q,
            nx: self.n,
            ny: self.n,
            extent: (-half, half, -half, half),
            scale,
            cmap: Colormap::Viridis,
        };
        let caption = format!("{}: {} peaks with q ≥ {}", self.title, self.peaks.len(), self.threshold);
        let chart = image_panel(&top, &caption, ("Δx [arcmin]", "Δy [arcmin]"), &image)?;
        let at = |i: f64, j: f64| ((j + 0.5) * self.pixel_arcmin - half, half - (i + 0.5) * self.pixel_arcmin);
        for &(i, j, q) in &self.peaks {
            let p = at(i, j);
            chart
                .plotting_area()
                .draw(&(EmptyElement::at(p) + Circle::new((0, 0), 9, RED.stroke_width(2))))
                .or_plot(&self.title)?;
            chart
                .plotting_area()
                .draw(&Text::new(format!("{q:.1}"), p, ("sans-serif", 13).into_font().color(&RED)))
                .or_plot(&self.title)?;
        }
        colorbar(&bar, scale, Colormap::Viridis, "S/N q (highest over the θ500 scales)")
    }
}
