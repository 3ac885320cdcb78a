//! Detection: probability maps → connected components → sky positions → one row per object.
//!
//! In: [`Predictions`] (probability maps of scan patches with their projections).
//! Out: [`Detections`] — per-patch components of pixels ≥ `threshold` (8- or 4-connected) with at
//! least `min_pixels` pixels, none reaching farther than `max_radius_arcmin` from its peak (pixels
//! beyond start another component), centred on their probability-weighted barycentre and mapped to
//! the sky with the patch's exact inverse projection; then detections of overlapping patches closer
//! than `merge_radius_arcmin` are merged into one object (the highest peak's position, the number
//! of patches that saw it).

use polars::prelude::*;

use crate::error::{ensure_param, Result};
use crate::predict::Predictions;
use crate::sky::galactic_to_icrs;

/// Detection thresholds; `Detection::default()` is the params file's (`threshold`, `min_pixels`,
/// `max_radius_arcmin`, `connectivity`, `merge_radius_arcmin`), the original's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Probability threshold in (0, 1] (0.9).
    pub threshold: f32,
    /// Smallest component in pixels, ≥ 1 (4: a pixel and three neighbours).
    pub min_pixels: usize,
    /// No component extends farther than this from its peak, arcmin > 0 (15).
    pub max_radius_arcmin: f64,
    /// 8 (diagonal neighbours join) or 4.
    pub connectivity: u8,
    /// Detections of different patches closer than this are one object, arcmin > 0 (4).
    pub merge_radius_arcmin: f64,
}

impl Detection {
    /// Check the thresholds (called by [`Predictions::detect`] and the params file's validation).
    pub fn validate(&self) -> Result<()> {
        ensure_param!(
            self.threshold > 0.0 && self.threshold <= 1.0,
            "threshold",
            "must be in (0, 1], got {}",
            self.threshold
        );
        ensure_param!(self.min_pixels >= 1, "min_pixels", "must be at least 1, got {}", self.min_pixels);
        ensure_param!(
            self.max_radius_arcmin.is_finite() && self.max_radius_arcmin > 0.0,
            "max_radius_arcmin",
            "must be > 0, got {}",
            self.max_radius_arcmin
        );
        ensure_param!(matches!(self.connectivity, 4 | 8), "connectivity", "must be 4 or 8, got {}", self.connectivity);
        ensure_param!(
            self.merge_radius_arcmin > 0.0 && self.merge_radius_arcmin <= 600.0,
            "merge_radius_arcmin",
            "must be in (0, 600], got {}",
            self.merge_radius_arcmin
        );
        Ok(())
    }
}

/// One connected component of one probability map, in patch pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Pixels (row-major indices) in the component.
    pub pixels: Vec<usize>,
    /// Probability-weighted barycentre (row, column).
    pub centre: (f64, f64),
    /// Highest probability and its pixel index.
    pub peak: (f32, usize),
}

/// Components of a `size`×`size` map: pixels ≥ `threshold`, `connectivity`-connected, split so that
/// none reaches farther than `max_radius_px` from its peak, keeping those with ≥ `min_pixels` pixels.
/// Components come in the order of their first pixel (row-major), like scipy's `ndimage.label`.
pub fn components(map: &[f32], size: usize, d: &Detection, max_radius_px: f64) -> Vec<Component> {
    let mut free: Vec<bool> = map.iter().map(|&p| p >= d.threshold).collect();
    let mut out = Vec::new();
    let (mut stack, mut pixels) = (Vec::new(), Vec::new());
    for start in 0..map.len() {
        if !free[start] {
            continue;
        }
        // Flood-fill the whole connected set, then peel off peak-centred disks until none is left.
        pixels.clear();
        stack.push(start);
        free[start] = false;
        while let Some(k) = stack.pop() {
            pixels.push(k);
            for n in neighbours(k, size, d.connectivity) {
                if free[n] {
                    free[n] = false;
                    stack.push(n);
                }
            }
        }
        split_by_radius(map, size, &mut pixels, d, max_radius_px, &mut out);
    }
    out.sort_by_key(|c| c.pixels[0]);
    out
}

/// Split one connected set into components no wider than `max_radius_px` around their peak: the
/// pixels within the radius of the set's peak that stay connected to it form one component, the rest
/// are labelled again.
fn split_by_radius(map: &[f32], size: usize, set: &mut Vec<usize>, d: &Detection, r: f64, out: &mut Vec<Component>) {
    while !set.is_empty() {
        let &peak = set.iter().max_by(|&&a, &&b| map[a].total_cmp(&map[b]).then(b.cmp(&a))).expect("non-empty");
        let (pi, pj) = ((peak / size) as f64, (peak % size) as f64);
        let near = |k: usize| ((k / size) as f64 - pi).hypot((k % size) as f64 - pj) <= r;
        // Connected part of the set within the radius, grown from the peak.
        let mut inside = std::collections::HashSet::new();
        let in_set: std::collections::HashSet<usize> = set.iter().copied().collect();
        let mut stack = vec![peak];
        inside.insert(peak);
        while let Some(k) = stack.pop() {
            for n in neighbours(k, size, d.connectivity) {
                if in_set.contains(&n) && near(n) && inside.insert(n) {
                    stack.push(n);
                }
            }
        }
        let mut pixels: Vec<usize> = inside.into_iter().collect();
        pixels.sort_unstable();
        set.retain(|k| pixels.binary_search(k).is_err());
        if pixels.len() >= d.min_pixels {
            out.push(component(map, size, pixels, peak));
        }
        // The remaining pixels may now form several disconnected groups: relabel each.
        if !set.is_empty() {
            let rest = std::mem::take(set);
            let mut groups = groups_of(&rest, size, d.connectivity);
            for g in groups.iter_mut() {
                split_by_radius(map, size, g, d, r, out);
            }
        }
    }
}

fn groups_of(pixels: &[usize], size: usize, connectivity: u8) -> Vec<Vec<usize>> {
    let mut left: std::collections::HashSet<usize> = pixels.iter().copied().collect();
    let mut groups = Vec::new();
    for &start in pixels {
        if !left.remove(&start) {
            continue;
        }
        let (mut group, mut stack) = (vec![], vec![start]);
        while let Some(k) = stack.pop() {
            group.push(k);
            for n in neighbours(k, size, connectivity) {
                if left.remove(&n) {
                    stack.push(n);
                }
            }
        }
        groups.push(group);
    }
    groups
}

fn component(map: &[f32], size: usize, pixels: Vec<usize>, peak: usize) -> Component {
    let (mut w, mut si, mut sj) = (0.0, 0.0, 0.0);
    for &k in &pixels {
        let p = map[k] as f64;
        w += p;
        si += p * (k / size) as f64;
        sj += p * (k % size) as f64;
    }
    Component { pixels, centre: (si / w, sj / w), peak: (map[peak], peak) }
}

/// The in-map neighbours of pixel `k` (4 or 8 of them away from the edges).
fn neighbours(k: usize, size: usize, connectivity: u8) -> impl Iterator<Item = usize> {
    let (i, j) = ((k / size) as isize, (k % size) as isize);
    const STEPS: [(isize, isize); 8] = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)];
    let n = if connectivity == 8 { 8 } else { 4 };
    STEPS[..n].iter().filter_map(move |&(di, dj)| {
        let (a, b) = (i + di, j + dj);
        (a >= 0 && b >= 0 && a < size as isize && b < size as isize).then(|| a as usize * size + b as usize)
    })
}

/// Detections of a scan: one row per merged object.
#[derive(Debug, Clone)]
pub struct Detections {
    df: DataFrame,
    per_patch: DataFrame,
}

impl Detections {
    /// One row per merged object: `id, glon, glat, ra, dec, peak, npix, area_arcmin2, n_patches, tile,
    /// patch_ids` (the patches that saw it); position, peak, size and tile are the highest-peak sighting's.
    pub fn df(&self) -> &DataFrame {
        &self.df
    }
    /// One row per component of each patch, before merging (see [`Predictions::sightings`]), plus
    /// `object`, the `id` of the object it was merged into.
    pub fn per_patch(&self) -> &DataFrame {
        &self.per_patch
    }
    /// Number of merged objects.
    pub fn len(&self) -> usize {
        self.df.height()
    }
    /// True when nothing was detected.
    pub fn is_empty(&self) -> bool {
        self.df.height() == 0
    }
}

/// A component of one patch, on the sky.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    /// The patch's id.
    pub patch: u64,
    /// The patch's tile.
    pub tile: u32,
    /// Galactic longitude of the barycentre, degrees.
    pub glon: f64,
    /// Galactic latitude of the barycentre, degrees.
    pub glat: f64,
    /// The component's highest probability.
    pub peak: f32,
    /// Its pixels.
    pub npix: u32,
    /// Barycentre row in patch pixels.
    pub i: f64,
    /// Barycentre column in patch pixels.
    pub j: f64,
    /// The patch's pixel, arcmin.
    pub pixel_arcmin: f64,
}

/// Every component of every scanned map, before merging ([`Predictions::sightings`]); sightings of
/// separate scans (tiles, shards) stack with [`Sightings::extend`] and merge with
/// [`Detections::from_sightings`]. As a table ([`Sightings::df`], `files/sightings.parquet`): `patch,
/// tile, glon, glat, peak, npix, i, j, pixel_arcmin`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sightings(pub Vec<Sighting>);

impl Sightings {
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Append `other`'s sightings (another tile's or shard's).
    pub fn extend(&mut self, other: Sightings) {
        self.0.extend(other.0);
    }
    /// One row per sighting (the columns of the type docs).
    pub fn df(&self) -> Result<DataFrame> {
        sightings_df(&self.0)
    }
    /// Read back a table written by [`Sightings::df`] (e.g. stacked shard files); a missing column
    /// is an error naming it.
    pub fn from_df(df: &DataFrame) -> Result<Sightings> {
        sightings_from_df(df).map(Sightings)
    }
}

impl Predictions {
    /// Detect clusters in every map and merge sightings across overlapping patches.
    pub fn detect(&self, d: Detection) -> Result<Detections> {
        Detections::from_sightings(&self.sightings(d)?, d.merge_radius_arcmin)
    }

    /// Every component of every map, before merging (see [`Sightings`]).
    pub fn sightings(&self, d: Detection) -> Result<Sightings> {
        d.validate()?;
        use rayon::prelude::*;
        let s: Vec<Sighting> = (0..self.len())
            .into_par_iter()
            .flat_map_iter(|n| {
                let info = &self.info()[n];
                let pixel_arcmin = info.projection.pixel_arcmin();
                components(self.prob(n), self.size(), &d, d.max_radius_arcmin / pixel_arcmin).into_iter().map(
                    move |c| {
                        let (glon, glat) = info.projection.pixel_to_galactic(c.centre.0, c.centre.1);
                        Sighting {
                            patch: info.id,
                            tile: info.tile,
                            glon,
                            glat,
                            peak: c.peak.0,
                            npix: c.pixels.len() as u32,
                            i: c.centre.0,
                            j: c.centre.1,
                            pixel_arcmin,
                        }
                    },
                )
            })
            .collect();
        Ok(Sightings(s))
    }
}

fn sightings_df(s: &[Sighting]) -> Result<DataFrame> {
    Ok(DataFrame::new(
        s.len(),
        vec![
            Column::new("patch".into(), s.iter().map(|x| x.patch).collect::<Vec<_>>()),
            Column::new("tile".into(), s.iter().map(|x| x.tile).collect::<Vec<_>>()),
            Column::new("glon".into(), s.iter().map(|x| x.glon).collect::<Vec<_>>()),
            Column::new("glat".into(), s.iter().map(|x| x.glat).collect::<Vec<_>>()),
            Column::new("peak".into(), s.iter().map(|x| x.peak).collect::<Vec<_>>()),
            Column::new("npix".into(), s.iter().map(|x| x.npix).collect::<Vec<_>>()),
            Column::new("i".into(), s.iter().map(|x| x.i).collect::<Vec<_>>()),
            Column::new("j".into(), s.iter().map(|x| x.j).collect::<Vec<_>>()),
            Column::new("pixel_arcmin".into(), s.iter().map(|x| x.pixel_arcmin).collect::<Vec<_>>()),
        ],
    )?)
}

fn sightings_from_df(df: &DataFrame) -> Result<Vec<Sighting>> {
    let f64s = |name: &str| -> Result<Vec<f64>> {
        Ok(df.column(name)?.cast(&DataType::Float64)?.f64()?.into_no_null_iter().collect())
    };
    let u64s = |name: &str| -> Result<Vec<u64>> {
        Ok(df.column(name)?.cast(&DataType::UInt64)?.u64()?.into_no_null_iter().collect())
    };
    let (patch, tile, npix) = (u64s("patch")?, u64s("tile")?, u64s("npix")?);
    let (glon, glat, peak, i, j, px) =
        (f64s("glon")?, f64s("glat")?, f64s("peak")?, f64s("i")?, f64s("j")?, f64s("pixel_arcmin")?);
    Ok((0..df.height())
        .map(|k| Sighting {
            patch: patch[k],
            tile: tile[k] as u32,
            glon: glon[k],
            glat: glat[k],
            peak: peak[k] as f32,
            npix: npix[k] as u32,
            i: i[k],
            j: j[k],
            pixel_arcmin: px[k],
        })
        .collect())
}

impl Detections {
    /// Merge `sightings` (as returned by [`Predictions::sightings`], possibly stacked from several
    /// scans) closer than `merge_radius_arcmin` into objects.
    pub fn from_sightings(sightings: &Sightings, merge_radius_arcmin: f64) -> Result<Self> {
        ensure_param!(
            merge_radius_arcmin > 0.0 && merge_radius_arcmin <= 600.0,
            "merge_radius_arcmin",
            "must be in (0, 600], got {merge_radius_arcmin}"
        );
        merge(&sightings.0, merge_radius_arcmin)
    }
}

/// Group sightings closer than `radius` (transitively: a chain of overlapping sightings is one
/// object) and keep the highest peak of each group.
fn merge(s: &[Sighting], radius_arcmin: f64) -> Result<Detections> {
    let pos: Vec<(f64, f64)> = s.iter().map(|x| (x.glon, x.glat)).collect();
    let groups = crate::catalog::friends_of_friends(&pos, radius_arcmin)?;
    // Objects ordered by decreasing peak, so id 0 is the most confident.
    let mut objects: Vec<(usize, Vec<usize>)> = groups
        .into_iter()
        .map(|g| {
            let best = *g.iter().max_by(|&&a, &&b| s[a].peak.total_cmp(&s[b].peak).then(b.cmp(&a))).expect("non-empty");
            (best, g)
        })
        .collect();
    objects.sort_by(|x, y| s[y.0].peak.total_cmp(&s[x.0].peak).then(x.0.cmp(&y.0)));
    let mut object_of = vec![0u32; s.len()];
    for (id, (_, g)) in objects.iter().enumerate() {
        for &k in g {
            object_of[k] = id as u32;
        }
    }
    let best: Vec<&Sighting> = objects.iter().map(|(b, _)| &s[*b]).collect();
    let radec: Vec<(f64, f64)> = best.iter().map(|x| galactic_to_icrs(x.glon, x.glat)).collect();
    let patch_ids: Vec<Series> = objects
        .iter()
        .map(|(_, g)| {
            let mut ids: Vec<u64> = g.iter().map(|&k| s[k].patch).collect();
            ids.sort_unstable();
            ids.dedup();
            Series::new("".into(), ids)
        })
        .collect();
    let n_patches: Vec<u32> = patch_ids.iter().map(|p| p.len() as u32).collect();
    let df = DataFrame::new(
        best.len(),
        vec![
            Column::new("id".into(), (0..best.len() as u32).collect::<Vec<_>>()),
            Column::new("glon".into(), best.iter().map(|x| x.glon).collect::<Vec<_>>()),
            Column::new("glat".into(), best.iter().map(|x| x.glat).collect::<Vec<_>>()),
            Column::new("ra".into(), radec.iter().map(|x| x.0).collect::<Vec<_>>()),
            Column::new("dec".into(), radec.iter().map(|x| x.1).collect::<Vec<_>>()),
            Column::new("peak".into(), best.iter().map(|x| x.peak).collect::<Vec<_>>()),
            Column::new("npix".into(), best.iter().map(|x| x.npix).collect::<Vec<_>>()),
            Column::new(
                "area_arcmin2".into(),
                best.iter().map(|x| x.npix as f64 * x.pixel_arcmin * x.pixel_arcmin).collect::<Vec<_>>(),
            ),
            Column::new("n_patches".into(), n_patches),
            Column::new("tile".into(), best.iter().map(|x| x.tile).collect::<Vec<_>>()),
            // Typed even when empty (an empty list of Series would be a Null column).
            Series::new("patch_ids".into(), patch_ids).cast(&DataType::List(Box::new(DataType::UInt64)))?.into_column(),
        ],
    )?;
    let mut per_patch = sightings_df(s)?;
    per_patch.with_column(Column::new("object".into(), object_of))?;
    Ok(Detections { df, per_patch })
}
