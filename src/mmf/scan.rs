//! The MMF on the sphere: overlapping gnomonic patches, peaks, and friends-of-friends merging.
//!
//! In: a [`Sky`], the tiles to search and an [`Mmf`]. Out: [`MmfDetections`]. Patches come from the
//! patch sampler's scan grid ([`PatchSampler::scan`], `step` apart) and are cut with
//! [`sample_patches`] (bilinear), one at a time inside the rayon workers so memory stays at a few
//! patches per thread. A peak is kept only by the patch whose centre is nearest to it (the
//! patch it is most central in: the sphere is covered without gaps, each position searched once)
//! and only inside the requested tiles; peaks of different patches closer than the merge radius
//! (transitively) are one object, measured by its highest-q sighting.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use polars::prelude::*;
use rayon::prelude::*;

use super::{Measurement, Mmf, MmfFilter};
use crate::catalog::{Catalog, ColumnMap};
use crate::error::{ensure_param, Result};
use crate::patches::{footprint_tiles, sample_patches, Gnomonic, Interpolation, PatchInfo, PatchSampler};
use crate::sky::{galactic_to_icrs, unit_vector, HealpixMap, Sky};
use crate::tiles::{Tiling, N_TILES};

/// Candidates of a matched-filter search: one row per merged object, and the sightings before merging.
#[derive(Debug, Clone)]
pub struct MmfDetections {
    df: DataFrame,
    sightings: DataFrame,
    // The same sightings, typed: what re-cutting (`above`, `on_tiles`, `on`) merges again.
    peaks: Arc<Vec<Sighting>>,
}

/// One peak of one patch, on the sky.
#[derive(Debug, Clone)]
struct Sighting {
    patch: u64,
    tile: u32,
    glon: f64,
    glat: f64,
    m: Measurement,
}

impl MmfDetections {
    /// One row per object, by decreasing `snr`: `id, glon, glat, ra, dec, snr, y5r500_arcmin2,
    /// y5r500_err_arcmin2, theta500_arcmin, position_err_arcmin, tile, patch, n_sightings` (the
    /// values of the highest-q sighting; `position_err_arcmin` is the 1σ error per axis).
    pub fn df(&self) -> &DataFrame {
        &self.df
    }

    /// No object (e.g. a shard with no tile), with the columns of a run's tables.
    pub fn none() -> Result<Self> {
        merge(&[], 10.0)
    }

    /// Every kept peak before merging: `patch` (the patch's id, the same in every run: the NESTED
    /// pixel of its centre at nside 8192), `tile, glon, glat, i, j` (patch pixels) and the
    /// measurements, plus `object` (the `id` it was merged into). Sightings of separate runs
    /// (tiles, shards) can be stacked and merged with [`MmfDetections::from_sightings`].
    pub fn sightings(&self) -> &DataFrame {
        &self.sightings
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.df.height()
    }

    /// True when nothing was detected.
    pub fn is_empty(&self) -> bool {
        self.df.height() == 0
    }

    /// Merge stacked sightings (the `sightings` tables of several runs) closer than
    /// `merge_radius_arcmin` into objects.
    pub fn from_sightings(sightings: &DataFrame, merge_radius_arcmin: f64) -> Result<Self> {
        ensure_param!(
            merge_radius_arcmin > 0.0 && merge_radius_arcmin <= 600.0,
            "mmf_merge_radius_arcmin",
            "must be in (0, 600], got {merge_radius_arcmin}"
        );
        merge(&sightings_from_df(sightings)?, merge_radius_arcmin)
    }

    /// The objects a run at the S/N threshold `snr` gives: the sightings with q ≥ `snr` merged again.
    /// Peaks and the iMMF mask do not depend on the threshold, so a run at a low threshold
    /// (a purity–completeness curve's lowest) gives every higher one exactly.
    pub fn above(&self, snr: f64, merge_radius_arcmin: f64) -> Result<Self> {
        self.keep_sightings(merge_radius_arcmin, |s| s.m.snr >= snr)
    }

    /// The objects of the sightings in `tiles` only (what a run on those tiles gives).
    pub fn in_tiles(&self, tiles: &[u32], merge_radius_arcmin: f64) -> Result<Self> {
        self.keep_sightings(merge_radius_arcmin, |s| tiles.contains(&s.tile))
    }

    /// The objects of the sightings for which `keep(glon, glat)` holds (e.g. on a footprint).
    pub fn where_position(&self, merge_radius_arcmin: f64, keep: impl Fn(f64, f64) -> bool) -> Result<Self> {
        self.keep_sightings(merge_radius_arcmin, |s| keep(s.glon, s.glat))
    }

    fn keep_sightings(&self, merge_radius_arcmin: f64, keep: impl Fn(&Sighting) -> bool) -> Result<Self> {
        ensure_param!(
            merge_radius_arcmin > 0.0 && merge_radius_arcmin <= 600.0,
            "mmf_merge_radius_arcmin",
            "must be in (0, 600], got {merge_radius_arcmin}"
        );
        let kept: Vec<Sighting> = self.peaks.iter().filter(|s| keep(s)).cloned().collect();
        merge(&kept, merge_radius_arcmin)
    }
}

impl Mmf {
    /// Search `tiles` (RING nside-2 tiles, 0…47) of `sky`, in parallel over patches on the global
    /// rayon pool, with one progress line per tile on stderr.
    pub fn run(&self, sky: &Sky, tiles: &[u32]) -> Result<MmfDetections> {
        self.run_keeping(sky, tiles, &|_, _| false)
    }

    /// [`Mmf::run`] that also keeps the peaks outside `tiles` for which `keep(glon, glat)` holds
    /// (e.g. those on another detector's footprint, which overhangs the tiles), as long as a patch
    /// of the plan owns them (the plan reaches half a patch beyond the tiles).
    pub fn run_keeping(
        &self,
        sky: &Sky,
        tiles: &[u32],
        keep: &(dyn Fn(f64, f64) -> bool + Sync),
    ) -> Result<MmfDetections> {
        ensure_param!(!tiles.is_empty(), "mmf tiles", "no tile to search");
        for &t in tiles {
            ensure_param!(t < N_TILES, "mmf tiles", "tile {t} does not exist; tiles are 0…47");
        }
        let maps = self.sky_maps(sky)?;
        let filter = self.on_maps(&maps).prepare()?;
        let plan = self.plan(sky, tiles)?;
        let centres: Vec<[f64; 3]> = plan.iter().map(|p| centre_vector(&p.projection)).collect();
        let mut sightings = Vec::new();
        for (tile, members) in group_by_tile(&plan, tiles) {
            let start = Instant::now();
            let found: Vec<Vec<Sighting>> = members
                .par_iter()
                .map(|&k| patch_sightings(&filter, &maps, &plan, k, &centres, tiles, keep))
                .collect::<Result<_>>()?;
            let n_found: usize = found.iter().map(Vec::len).sum();
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "mmf: tile {tile}: {} patches in {secs:.1} s ({:.2} patches/s), {n_found} peaks with S/N ≥ {}",
                members.len(),
                members.len() as f64 / secs.max(1e-9),
                self.snr_threshold
            );
            sightings.extend(found.into_iter().flatten());
        }
        merge(&sightings, self.merge_radius_arcmin)
    }

    /// These settings with the resolution of the sky's maps (unless set).
    pub(crate) fn on_maps(&self, maps: &[&HealpixMap]) -> Mmf {
        let r = self.map_resolution_arcmin.or_else(|| maps.first().map(|m| m.grid().resolution_arcmin()));
        self.clone().map_resolution_arcmin(r)
    }

    /// The scan patches over `tiles` (the patch sampler's grid, `step` apart).
    pub fn plan(&self, sky: &Sky, tiles: &[u32]) -> Result<Vec<PatchInfo>> {
        self.validate()?;
        let nside = sky.nside().ok_or_else(|| crate::Error::param("sky", "has no bands to filter"))?;
        let none =
            Catalog::from_df("none", df!("ra" => Vec::<f64>::new(), "dec" => Vec::<f64>::new())?, &ColumnMap::auto())?;
        let tiling = Tiling::default();
        PatchSampler::scan(&tiling, &none, tiles)
            .size(self.size as u32)
            .pixel_arcmin(self.pixel_arcmin)
            .step(self.scan_step() as u32)
            .plan(nside)
    }

    /// Photometry at Galactic `positions` (degrees): for each, q, Ŷ5R500 ± σ, θ500 at the scale of
    /// highest q there, and the position error — the measurements an MMF peak would have, at a
    /// position chosen by someone else (the U-Net). Positions are grouped into patches centred on
    /// one of them, each holding those within half a step of its centre. One row per position, in
    /// order: `glon, glat, snr, y5r500_arcmin2, y5r500_err_arcmin2, theta500_arcmin, position_err_arcmin`.
    pub fn photometry(&self, sky: &Sky, positions: &[(f64, f64)]) -> Result<DataFrame> {
        self.measure(sky, positions, |f, _, i, j| Ok(f.photometry(i, j)))
    }

    /// [`Mmf::photometry`] with the template of a given θ500 per position (arcmin; e.g. the true
    /// size of an injected cluster), not the best of the grid.
    pub fn photometry_fixed(&self, sky: &Sky, positions: &[(f64, f64)], theta500_arcmin: &[f64]) -> Result<DataFrame> {
        ensure_param!(
            theta500_arcmin.len() == positions.len(),
            "mmf photometry theta500",
            "{} θ500 for {} positions",
            theta500_arcmin.len(),
            positions.len()
        );
        self.measure(sky, positions, |f, k, i, j| f.photometry_fixed(i, j, theta500_arcmin[k]))
    }

    fn measure(
        &self,
        sky: &Sky,
        positions: &[(f64, f64)],
        at: impl Fn(&super::Filtered, usize, f64, f64) -> Result<Measurement> + Sync,
    ) -> Result<DataFrame> {
        let maps = self.sky_maps(sky)?;
        let filter = self.on_maps(&maps).prepare()?;
        for &(l, b) in positions {
            ensure_param!(
                l.is_finite() && (-90.0..=90.0).contains(&b),
                "mmf photometry positions",
                "({l}, {b}) is not a Galactic position in degrees"
            );
        }
        let groups = self.group_positions(positions);
        let measured: Vec<Vec<(usize, Measurement)>> = groups
            .par_iter()
            .map(|(centre, members)| {
                let (l, b) = positions[*centre];
                let proj = Gnomonic::new(l, b, self.size as u32, self.pixel_arcmin)?;
                let cut = cut(self, &maps, &proj)?;
                let slices: Vec<&[f32]> = cut.chunks(self.size * self.size).collect();
                let f = filter.filter(&slices)?;
                let mut out = Vec::with_capacity(members.len());
                for &k in members {
                    if let Some((i, j)) = proj.galactic_to_pixel(positions[k].0, positions[k].1) {
                        out.push((k, at(&f, k, i, j)?));
                    }
                }
                Ok(out)
            })
            .collect::<Result<_>>()?;
        let mut rows: Vec<Option<Measurement>> = vec![None; positions.len()];
        for (k, m) in measured.into_iter().flatten() {
            rows[k] = Some(m);
        }
        let col = |f: fn(&Measurement) -> f64| rows.iter().map(|m| m.as_ref().map(f)).collect::<Vec<Option<f64>>>();
        Ok(df!(
            "glon" => positions.iter().map(|p| p.0).collect::<Vec<_>>(),
            "glat" => positions.iter().map(|p| p.1).collect::<Vec<_>>(),
            "snr" => col(|m| m.snr),
            "y5r500_arcmin2" => col(|m| m.y5r500_arcmin2),
            "y5r500_err_arcmin2" => col(|m| m.y5r500_err_arcmin2),
            "theta500_arcmin" => col(|m| m.theta500_arcmin),
            "position_err_arcmin" => col(|m| m.position_err_arcmin),
        )?)
    }

    /// Greedy groups: the first ungrouped position becomes a centre and takes every ungrouped
    /// position within half a step of it.
    fn group_positions(&self, positions: &[(f64, f64)]) -> Vec<(usize, Vec<usize>)> {
        let cos_reach = (self.scan_step() as f64 * self.pixel_arcmin / 120.0).to_radians().cos();
        let vectors: Vec<[f64; 3]> = positions.iter().map(|&(l, b)| unit_vector(l, b)).collect();
        let mut grouped = vec![false; positions.len()];
        let mut groups = Vec::new();
        for c in 0..positions.len() {
            if grouped[c] {
                continue;
            }
            let members: Vec<usize> =
                (c..positions.len()).filter(|&k| !grouped[k] && dot(vectors[c], vectors[k]) >= cos_reach).collect();
            members.iter().for_each(|&k| grouped[k] = true);
            groups.push((c, members));
        }
        groups
    }
}

/// Cut one patch (bands × N², f32) from the maps, with the pixels of `mmf`'s masked sources NaN
/// (the filter inpaints them).
pub(crate) fn cut(mmf: &Mmf, maps: &[&HealpixMap], projection: &Gnomonic) -> Result<Vec<f32>> {
    let mut data = sample_patches(maps, std::slice::from_ref(projection), Interpolation::Bilinear)?;
    mmf.sources.apply(&mut data, projection);
    Ok(data)
}

/// The sky search looks at the q-map's pixel maxima down to this fraction of the threshold and
/// keeps those whose refined (sub-pixel) q reaches it: a detection is q ≥ threshold at its refined
/// position, whatever its pixel value (up to ~10 % lower), so a run at a low threshold cut at a
/// higher one ([`MmfDetections::above`]) gives exactly the run at the higher one.
const PEAK_SEARCH_FRACTION: f64 = 0.8;

/// Filter patch `k` of the plan and keep its peaks that lie in `tiles` and nearest its centre.
fn patch_sightings(
    filter: &MmfFilter,
    maps: &[&HealpixMap],
    plan: &[PatchInfo],
    k: usize,
    centres: &[[f64; 3]],
    tiles: &[u32],
    keep: &(dyn Fn(f64, f64) -> bool + Sync),
) -> Result<Vec<Sighting>> {
    let info = &plan[k];
    let n = filter.geometry().size;
    let settings = filter.settings();
    let data = cut(settings, maps, &info.projection)?;
    let slices: Vec<&[f32]> = data.chunks(n * n).collect();
    let filtered = filter.filter(&slices)?;
    let threshold = settings.snr_threshold;
    Ok(filtered
        .peaks(threshold * PEAK_SEARCH_FRACTION)
        .into_iter()
        .filter(|m| m.snr >= threshold)
        .filter_map(|m| {
            let (glon, glat) = info.projection.pixel_to_galactic(m.i, m.j);
            let tile = Tiling::tile_of(glon, glat);
            let v = unit_vector(glon, glat);
            let owned = nearest(centres, v) == k && !settings.sources.covers(v);
            (owned && (tiles.contains(&tile) || keep(glon, glat))).then(|| Sighting {
                patch: patch_id(&info.projection),
                tile,
                glon,
                glat,
                m,
            })
        })
        .collect())
}

/// Patches grouped by the requested tile they serve: their centre's, or for patches centred outside
/// the tiles, the first requested tile under them.
fn group_by_tile(plan: &[PatchInfo], tiles: &[u32]) -> BTreeMap<u32, Vec<usize>> {
    let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (k, p) in plan.iter().enumerate() {
        let tile = if tiles.contains(&p.tile) {
            Some(p.tile)
        } else {
            footprint_tiles(&p.projection, 0.0).find(|t| tiles.contains(t))
        };
        groups.entry(tile.unwrap_or(p.tile)).or_default().push(k);
    }
    groups
}

/// A patch's id that every run shares (whatever tiles it plans): the NESTED pixel of its centre at
/// nside 8192 (0.43′ pixels; scan centres are degrees apart).
fn patch_id(p: &Gnomonic) -> u64 {
    static GRID: std::sync::LazyLock<Option<crate::sky::Grid>> =
        std::sync::LazyLock::new(|| crate::sky::Grid::new(8192, crate::sky::Ordering::Nested).ok());
    let (l, b) = p.center_galactic();
    GRID.as_ref().map_or(0, |g| g.ang2pix(l, b))
}

fn centre_vector(p: &Gnomonic) -> [f64; 3] {
    let (l, b) = p.center_galactic();
    unit_vector(l, b)
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Index of the centre nearest `v` (the first on a tie).
fn nearest(centres: &[[f64; 3]], v: [f64; 3]) -> usize {
    let mut best = (f64::MIN, 0);
    for (k, c) in centres.iter().enumerate() {
        let d = dot(*c, v);
        if d > best.0 {
            best = (d, k);
        }
    }
    best.1
}

const SIGHTING_F64: [&str; 10] = [
    "glon",
    "glat",
    "i",
    "j",
    "snr",
    "y5r500_arcmin2",
    "y5r500_err_arcmin2",
    "theta500_arcmin",
    "position_err_arcmin",
    "scale",
];

fn sightings_df(s: &[Sighting]) -> Result<DataFrame> {
    let f = |g: fn(&Sighting) -> f64| s.iter().map(g).collect::<Vec<f64>>();
    let values: [Vec<f64>; 10] = [
        f(|x| x.glon),
        f(|x| x.glat),
        f(|x| x.m.i),
        f(|x| x.m.j),
        f(|x| x.m.snr),
        f(|x| x.m.y5r500_arcmin2),
        f(|x| x.m.y5r500_err_arcmin2),
        f(|x| x.m.theta500_arcmin),
        f(|x| x.m.position_err_arcmin),
        f(|x| x.m.scale as f64),
    ];
    let mut columns = vec![
        Column::new("patch".into(), s.iter().map(|x| x.patch).collect::<Vec<_>>()),
        Column::new("tile".into(), s.iter().map(|x| x.tile).collect::<Vec<_>>()),
    ];
    for (name, v) in SIGHTING_F64.iter().zip(values) {
        columns.push(Column::new((*name).into(), v));
    }
    Ok(DataFrame::new(s.len(), columns)?)
}

fn sightings_from_df(df: &DataFrame) -> Result<Vec<Sighting>> {
    let f64s = |name: &str| -> Result<Vec<f64>> {
        Ok(df.column(name)?.cast(&DataType::Float64)?.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    };
    let u64s = |name: &str| -> Result<Vec<u64>> {
        Ok(df.column(name)?.cast(&DataType::UInt64)?.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
    };
    let (patch, tile) = (u64s("patch")?, u64s("tile")?);
    let cols: Vec<Vec<f64>> = SIGHTING_F64.iter().map(|c| f64s(c)).collect::<Result<_>>()?;
    Ok((0..df.height())
        .map(|k| Sighting {
            patch: patch[k],
            tile: tile[k] as u32,
            glon: cols[0][k],
            glat: cols[1][k],
            m: Measurement {
                i: cols[2][k],
                j: cols[3][k],
                snr: cols[4][k],
                y5r500_arcmin2: cols[5][k],
                y5r500_err_arcmin2: cols[6][k],
                theta500_arcmin: cols[7][k],
                position_err_arcmin: cols[8][k],
                scale: cols[9][k] as usize,
            },
        })
        .collect())
}

/// Friends-of-friends groups of sightings within `radius_arcmin`; each group is measured by its
/// highest-q sighting; objects by decreasing q.
fn merge(s: &[Sighting], radius_arcmin: f64) -> Result<MmfDetections> {
    let pos: Vec<(f64, f64)> = s.iter().map(|x| (x.glon, x.glat)).collect();
    let groups = crate::catalog::friends_of_friends(&pos, radius_arcmin)?;
    let by_snr = |a: &usize, b: &usize| s[*a].m.snr.total_cmp(&s[*b].m.snr).then(b.cmp(a));
    let mut objects: Vec<(usize, Vec<usize>)> =
        groups.into_iter().map(|g| (*g.iter().max_by(|a, b| by_snr(a, b)).unwrap_or(&g[0]), g)).collect();
    objects.sort_by(|x, y| by_snr(&y.0, &x.0));
    let mut object_of = vec![0u32; s.len()];
    for (id, (_, g)) in objects.iter().enumerate() {
        g.iter().for_each(|&k| object_of[k] = id as u32);
    }
    let best: Vec<&Sighting> = objects.iter().map(|(b, _)| &s[*b]).collect();
    let radec: Vec<(f64, f64)> = best.iter().map(|x| galactic_to_icrs(x.glon, x.glat)).collect();
    let f = |g: fn(&Sighting) -> f64| best.iter().map(|x| g(x)).collect::<Vec<f64>>();
    let df = df!(
        "id" => (0..best.len() as u32).collect::<Vec<_>>(),
        "glon" => f(|x| x.glon),
        "glat" => f(|x| x.glat),
        "ra" => radec.iter().map(|p| p.0).collect::<Vec<_>>(),
        "dec" => radec.iter().map(|p| p.1).collect::<Vec<_>>(),
        "snr" => f(|x| x.m.snr),
        "y5r500_arcmin2" => f(|x| x.m.y5r500_arcmin2),
        "y5r500_err_arcmin2" => f(|x| x.m.y5r500_err_arcmin2),
        "theta500_arcmin" => f(|x| x.m.theta500_arcmin),
        "position_err_arcmin" => f(|x| x.m.position_err_arcmin),
        "tile" => best.iter().map(|x| x.tile).collect::<Vec<_>>(),
        "patch" => best.iter().map(|x| x.patch).collect::<Vec<_>>(),
        "n_sightings" => objects.iter().map(|(_, g)| g.len() as u32).collect::<Vec<_>>(),
    )?;
    let mut sightings = sightings_df(s)?;
    sightings.with_column(Column::new("object".into(), object_of))?;
    Ok(MmfDetections { df, sightings, peaks: Arc::new(s.to_vec()) })
}
