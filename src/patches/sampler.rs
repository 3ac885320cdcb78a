//! Where patches go: cluster-centred training/validation patches and scan grids.
//!
//! In: the [`Tiling`], a cluster [`Catalog`] and the patch geometry. Out: a plan, one [`PatchInfo`]
//! per patch (projection with its shift and rotation, tile, split, clusters inside), which
//! [`PatchSampler::extract`] cuts from a [`Sky`] into [`Patches`] and [`PatchSampler::stream`]
//! cuts batch by batch, a fresh random draw per epoch, so training needs no dataset on disk.
//!
//! Leak-free by construction (SEED.md §2): a cluster belongs to the split of its own tile, and a
//! training patch whose footprint (widened by the reach of the interpolation) touches a validation
//! or test tile is redrawn, so no sky is shared between training and the held-out splits.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::{Dihedral, Frame, Gnomonic, Interpolation, Patches};
use crate::catalog::Catalog;
use crate::error::{ensure_param, Error, Result};
use crate::sky::{angular_separation_deg, Band, Grid, Ordering, Sky};
use crate::tiles::{Split, Tiling};

/// The settings of a [`PatchSampler`] that the params file sets (`patch_size`, `pixel_size_arcmin`,
/// `loops`, `seed`). `SamplerSettings::default()` is the params file's defaults (64 pixels of 1.7′,
/// 10 loops, seed 1), which every sampler starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerSettings {
    /// Patch side in pixels.
    pub size: u32,
    /// Pixel size in arcmin.
    pub pixel_arcmin: f64,
    /// Patches per cluster.
    pub loops: u32,
    /// Seed of the shifts, rotations and epoch shuffles.
    pub seed: u64,
}

/// A training patch is redrawn this many times at most before its cluster is skipped for the loop.
const MAX_DRAWS: u32 = 64;
/// Largest label disk (arcmin): clusters this close outside a patch still get their disk drawn.
pub(crate) const MAX_LABEL_RADIUS_ARCMIN: f64 = 15.0;

/// A catalog cluster seen by a patch.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInPatch {
    /// Row of the cluster in the sampler's catalog.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Patch pixel (row, column, fractional) of its centre; may lie up to 15′ outside the patch,
    /// where its label disk still reaches in.
    pub i: f64,
    /// See `i`.
    pub j: f64,
    /// θ500 in arcmin when the catalog gives mass and redshift.
    pub theta500_arcmin: Option<f64>,
}

/// One patch of a plan: where it is and what it contains.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchInfo {
    /// Position in the plan (0-based).
    pub id: u64,
    /// The patch geometry, including its rotation/flip.
    pub projection: Gnomonic,
    /// Tile of the patch centre.
    pub tile: u32,
    /// The split the patch serves: its cluster's for cluster patches, its centre's for scans.
    pub split: Split,
    /// Row of the cluster the patch was centred on (cluster patches only).
    pub seed_cluster: Option<u32>,
    /// Shift (rows, columns) of that cluster from the patch centre, in pixels before rotation.
    pub shift: (f64, f64),
    /// Clusters whose label disks can reach the patch.
    pub clusters: Vec<ClusterInPatch>,
}

impl PatchInfo {
    /// Number of clusters whose centre lies on the patch.
    pub fn n_inside(&self) -> usize {
        self.clusters.iter().filter(|c| self.projection.contains_pixel(c.i, c.j)).count()
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Clusters(Split),
    Scan(Vec<u32>),
}

/// Plans and cuts patches. Build with [`PatchSampler::train`], [`PatchSampler::val`] or
/// [`PatchSampler::scan`], adjust with the setters, then [`extract`](PatchSampler::extract) or
/// [`stream`](PatchSampler::stream).
///
/// ```no_run
/// # use xcluster::prelude::*;
/// # fn main() -> xcluster::Result<()> {
/// # let sky = Sky::new(); let cats = Catalogs::builtin()?; let tiling = Tiling::default();
/// let train = PatchSampler::train(&tiling, cats.planck_z()?).loops(10).seed(1).extract(&sky)?;
/// let test = PatchSampler::scan(&tiling, cats.planck_z()?, &tiling.tiles(Split::Test)).extract(&sky)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PatchSampler {
    tiling: Tiling,
    catalog: Catalog,
    kind: Kind,
    size: u32,
    pixel_arcmin: f64,
    frame: Frame,
    interpolation: Interpolation,
    loops: u32,
    seed: u64,
    max_shift: Option<f64>,
    rotations: bool,
    step: Option<u32>,
    bands: Option<Vec<Band>>,
    shard: Option<(u32, u32)>,
    progress: Option<indicatif::ProgressBar>,
}

impl PatchSampler {
    fn new(tiling: &Tiling, catalog: &Catalog, kind: Kind) -> Self {
        let defaults = SamplerSettings::default();
        PatchSampler {
            tiling: tiling.clone(),
            catalog: catalog.clone(),
            kind,
            size: defaults.size,
            pixel_arcmin: defaults.pixel_arcmin,
            frame: Frame::Galactic,
            interpolation: Interpolation::Bilinear,
            loops: defaults.loops,
            seed: defaults.seed,
            max_shift: None,
            rotations: true,
            step: None,
            bands: None,
            shard: None,
            progress: None,
        }
    }

    /// Training patches: `loops` per cluster of a training tile, shifted and rotated at random.
    pub fn train(tiling: &Tiling, catalog: &Catalog) -> Self {
        Self::new(tiling, catalog, Kind::Clusters(Split::Train))
    }

    /// Validation patches: as training, for the clusters of the validation tiles.
    pub fn val(tiling: &Tiling, catalog: &Catalog) -> Self {
        Self::new(tiling, catalog, Kind::Clusters(Split::Val))
    }

    /// Cluster-centred patches for the clusters of `split`'s tiles.
    pub fn clusters(tiling: &Tiling, catalog: &Catalog, split: Split) -> Self {
        Self::new(tiling, catalog, Kind::Clusters(split))
    }

    /// A grid of overlapping patches covering `tiles` (the test tiles, or any up to all 48);
    /// `catalog` names the clusters each patch contains.
    pub fn scan(tiling: &Tiling, catalog: &Catalog, tiles: &[u32]) -> Self {
        Self::new(tiling, catalog, Kind::Scan(tiles.to_vec()))
    }

    /// Patch side in pixels (default: the params file's `patch_size`, 64).
    pub fn size(mut self, size: u32) -> Self {
        self.size = size;
        self
    }
    /// Pixel size in arcmin (default: the params file's `pixel_size_arcmin`, 1.7).
    pub fn pixel_arcmin(mut self, pixel_arcmin: f64) -> Self {
        self.pixel_arcmin = pixel_arcmin;
        self
    }
    /// Axes of the patches (default Galactic).
    pub fn frame(mut self, frame: Frame) -> Self {
        self.frame = frame;
        self
    }
    /// Map sampling (default bilinear).
    pub fn interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }
    /// Patches per cluster (default: the params file's `loops`, 10).
    pub fn loops(mut self, loops: u32) -> Self {
        self.loops = loops;
        self
    }
    /// Seed of the shifts, rotations and epoch shuffles (default: the params file's `seed`, 1).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Largest shift of the cluster from the centre, in pixels, per axis (default 30, the original's
    /// ±0.85°, or (size − 1)/2 for smaller patches); at most (size − 1)/2 so the cluster stays on the
    /// patch. 0 centres every cluster.
    pub fn max_shift(mut self, pixels: f64) -> Self {
        self.max_shift = Some(pixels);
        self
    }

    fn shift_limit(&self) -> f64 {
        self.max_shift.unwrap_or_else(|| (30.0f64).min((self.size as f64 - 1.0) / 2.0))
    }
    /// Draw one of the 8 rotations/flips per patch (default true).
    pub fn rotations(mut self, on: bool) -> Self {
        self.rotations = on;
        self
    }
    /// Scan grid step in pixels (default ¾ of the size: 48 for 64-pixel patches, which overlap by 16).
    pub fn step(mut self, pixels: u32) -> Self {
        self.step = Some(pixels);
        self
    }

    fn scan_step(&self) -> u32 {
        self.step.unwrap_or((self.size * 3 / 4).max(1))
    }
    /// Bands to cut, in this order (default: every band of the sky).
    pub fn bands(mut self, bands: &[Band]) -> Self {
        self.bands = Some(bands.to_vec());
        self
    }
    /// Keep only the tiles t with t mod `count` = `index` (for Slurm arrays / MPI ranks).
    pub fn shard(mut self, index: u32, count: u32) -> Self {
        self.shard = Some((index, count));
        self
    }
    /// Report cut patches on this progress bar.
    pub fn progress(mut self, bar: indicatif::ProgressBar) -> Self {
        self.progress = Some(bar);
        self
    }

    /// Patch side in pixels.
    pub fn patch_size(&self) -> u32 {
        self.size
    }
    /// The settings the params file sets: size, pixel size, loops, seed.
    pub fn settings(&self) -> SamplerSettings {
        SamplerSettings { size: self.size, pixel_arcmin: self.pixel_arcmin, loops: self.loops, seed: self.seed }
    }
    /// Patch pixel in arcmin.
    pub fn pixel_size(&self) -> f64 {
        self.pixel_arcmin
    }
    /// The bands set with [`PatchSampler::bands`], or else every band of `sky`.
    pub fn bands_or(&self, sky: &Sky) -> Vec<Band> {
        self.bands.clone().unwrap_or_else(|| sky.bands())
    }
    /// The same settings, for the cluster-centred patches of `split`'s tiles.
    pub fn for_split(&self, split: Split) -> Self {
        PatchSampler { kind: Kind::Clusters(split), ..self.clone() }
    }
    /// The same settings, for the scan grid of `tiles`.
    pub fn for_scan(&self, tiles: &[u32]) -> Self {
        PatchSampler { kind: Kind::Scan(tiles.to_vec()), ..self.clone() }
    }

    fn validate(&self) -> Result<()> {
        Gnomonic::new(0.0, 0.0, self.size, self.pixel_arcmin)?;
        let c = (self.size as f64 - 1.0) / 2.0;
        ensure_param!(
            (0.0..=c).contains(&self.shift_limit()),
            "max_shift",
            "must be in 0…{c} pixels so the cluster stays on a {}-pixel patch, got {}",
            self.size,
            self.shift_limit()
        );
        ensure_param!(
            (1..=self.size).contains(&self.scan_step()),
            "step",
            "the scan step must be in 1…{} pixels (the patch size), got {}",
            self.size,
            self.scan_step()
        );
        if let Some((i, n)) = self.shard {
            ensure_param!(n > 0 && i < n, "shard", "shard {i}/{n}: need 0 ≤ i < N");
        }
        if let Kind::Scan(tiles) = &self.kind {
            ensure_param!(!tiles.is_empty(), "scan tiles", "no tile to scan");
            for &t in tiles {
                ensure_param!(t < crate::tiles::N_TILES, "scan tiles", "tile {t} does not exist; tiles are 0…47");
            }
        }
        Ok(())
    }

    fn in_shard(&self, tile: u32) -> bool {
        self.shard.is_none_or(|(i, n)| tile % n == i)
    }

    /// The patches of epoch 0 for maps of `map_nside` (its resolution sets the leak margin).
    pub fn plan(&self, map_nside: u32) -> Result<Vec<PatchInfo>> {
        self.plan_epoch(map_nside, 0)
    }

    /// The patches of `epoch`: every epoch draws new shifts and rotations (scans do not change).
    pub fn plan_epoch(&self, map_nside: u32, epoch: u64) -> Result<Vec<PatchInfo>> {
        self.validate()?;
        let grid = Grid::new(map_nside, Ordering::Ring)?;
        // Bilinear reads map pixels up to about one pixel away from the sampled point: widen the
        // footprint by two map pixels (at least one patch pixel) for the leak check.
        let margin = (2.0 * grid.resolution_arcmin() / self.pixel_arcmin).ceil().max(1.0);
        let index = ClusterIndex::new(&self.catalog)?;
        let mut plan = match &self.kind {
            Kind::Clusters(split) => self.plan_clusters(*split, &index, margin, epoch)?,
            Kind::Scan(tiles) => self.plan_scan(tiles, &index)?,
        };
        for (id, p) in plan.iter_mut().enumerate() {
            p.id = id as u64;
        }
        Ok(plan)
    }

    fn plan_clusters(&self, split: Split, index: &ClusterIndex, margin: f64, epoch: u64) -> Result<Vec<PatchInfo>> {
        let seeds: Vec<u32> = (0..index.len() as u32)
            .filter(|&k| {
                let (l, b) = index.galactic[k as usize];
                let tile = Tiling::tile_of(l, b);
                l.is_finite() && b.is_finite() && self.tiling.split_of_tile(tile) == split && self.in_shard(tile)
            })
            .collect();
        let jobs: Vec<(u32, u32)> = (0..self.loops).flat_map(|l| seeds.iter().map(move |&k| (l, k))).collect();
        let plan: Vec<Option<PatchInfo>> = jobs
            .par_iter()
            .map(|&(l, k)| {
                let mut rng = StdRng::seed_from_u64(mix(&[self.seed, epoch, l as u64, k as u64]));
                (0..MAX_DRAWS).find_map(|_| self.draw(split, index, k, margin, &mut rng))
            })
            .collect();
        Ok(plan.into_iter().flatten().collect())
    }

    /// One random patch around cluster `k`, or `None` if a training patch would touch held-out sky.
    fn draw(&self, split: Split, index: &ClusterIndex, k: u32, margin: f64, rng: &mut StdRng) -> Option<PatchInfo> {
        let m = self.shift_limit();
        let (di, dj) = if m > 0.0 { (rng.gen_range(-m..=m), rng.gen_range(-m..=m)) } else { (0.0, 0.0) };
        let transform = if self.rotations { Dihedral::ALL[rng.gen_range(0..8)] } else { Dihedral::IDENTITY };
        let (lon, lat) = index.in_frame(k, self.frame);
        let projection = self.centre_for(lon, lat, di, dj)?.transformed(transform);
        if split == Split::Train && footprint_tiles(&projection, margin).any(|t| self.tiling.split_of_tile(t) != split)
        {
            return None;
        }
        Some(self.info(projection, split, Some(k), (di, dj), index))
    }

    /// The projection that shows (`lon`, `lat`) at pixel (c + `di`, c + `dj`), c the centre pixel.
    /// Near the poles meridians converge, so the offset is corrected until it is exact (< 1e-6 px).
    fn centre_for(&self, lon: f64, lat: f64, di: f64, dj: f64) -> Option<Gnomonic> {
        let mut p = Gnomonic::in_frame(self.frame, lon, lat, self.size, self.pixel_arcmin).ok()?;
        let c = p.center_pixel();
        let (mut ri, mut rj) = (-di, -dj);
        for _ in 0..20 {
            let (clon, clat) = p.pixel_to_sky(c + ri, c + rj);
            p = Gnomonic::in_frame(self.frame, clon, clat, self.size, self.pixel_arcmin).ok()?;
            let (i, j) = p.sky_to_pixel(lon, lat)?;
            (ri, rj) = (i - c - di, j - c - dj);
            if ri.hypot(rj) < 1e-6 {
                break;
            }
        }
        Some(p)
    }

    fn plan_scan(&self, tiles: &[u32], index: &ClusterIndex) -> Result<Vec<PatchInfo>> {
        let tiles: Vec<u32> = tiles.iter().copied().filter(|&t| self.in_shard(t)).collect();
        let step_deg = self.scan_step() as f64 * self.pixel_arcmin / 60.0;
        let half_diagonal = self.size as f64 * self.pixel_arcmin / 60.0 / std::f64::consts::SQRT_2;
        let centers = scan_centers(step_deg);
        let plan: Vec<Option<PatchInfo>> = centers
            .par_iter()
            .map(|&(lon, lat)| {
                let projection = Gnomonic::in_frame(self.frame, lon, lat, self.size, self.pixel_arcmin).ok()?;
                let (gl, gb) = projection.center_galactic();
                // A tile reaches at most ~30° from its centre: skip far candidates before sampling them.
                let near = tiles.iter().any(|&t| {
                    let (tl, tb) = Tiling::tile_center(t);
                    angular_separation_deg(gl, gb, tl, tb) < 35.0 + half_diagonal
                });
                if !near || !footprint_tiles(&projection, 0.0).any(|t| tiles.contains(&t)) {
                    return None;
                }
                let split = self.tiling.split_of_tile(Tiling::tile_of(gl, gb));
                Some(self.info(projection, split, None, (0.0, 0.0), index))
            })
            .collect();
        Ok(plan.into_iter().flatten().collect())
    }

    fn info(
        &self,
        projection: Gnomonic,
        split: Split,
        seed_cluster: Option<u32>,
        shift: (f64, f64),
        index: &ClusterIndex,
    ) -> PatchInfo {
        let (gl, gb) = projection.center_galactic();
        let reach = MAX_LABEL_RADIUS_ARCMIN / self.pixel_arcmin;
        let radius_deg = self.size as f64 * self.pixel_arcmin / 60.0 + MAX_LABEL_RADIUS_ARCMIN / 60.0;
        let mut clusters: Vec<ClusterInPatch> = index
            .near(gl, gb, radius_deg)
            .filter_map(|k| {
                let (l, b) = index.galactic[k as usize];
                let (i, j) = projection.galactic_to_pixel(l, b)?;
                let hi = self.size as f64 - 0.5 + reach;
                let on = (-0.5 - reach..hi).contains(&i) && (-0.5 - reach..hi).contains(&j);
                on.then(|| ClusterInPatch {
                    index: k,
                    name: index.names[k as usize].clone(),
                    i,
                    j,
                    theta500_arcmin: index.theta500[k as usize],
                })
            })
            .collect();
        clusters.sort_by_key(|c| c.index);
        PatchInfo { id: 0, projection, tile: Tiling::tile_of(gl, gb), split, seed_cluster, shift, clusters }
    }

    /// Cut the patches of epoch 0 from `sky`.
    pub fn extract(&self, sky: &Sky) -> Result<Patches> {
        let plan = self.plan(sky_nside(sky)?)?;
        self.cut(sky, plan)
    }

    /// Cut the patches of a plan (from [`PatchSampler::plan`]) from `sky`.
    pub fn cut(&self, sky: &Sky, plan: Vec<PatchInfo>) -> Result<Patches> {
        let bands = self.bands_or(sky);
        if let Some(bar) = &self.progress {
            bar.set_length(plan.len() as u64);
        }
        Patches::cut(sky, &bands, plan, self.interpolation, self.progress.as_ref())
    }

    /// The patches of `epoch`, shuffled, cut `batch` at a time as the iterator is consumed.
    pub fn stream(&self, sky: &Sky, batch: usize, epoch: u64) -> Result<PatchStream> {
        ensure_param!(batch > 0, "batch", "must be at least 1");
        let mut plan = self.plan_epoch(sky_nside(sky)?, epoch)?;
        plan.shuffle(&mut StdRng::seed_from_u64(mix(&[self.seed, epoch, u64::MAX])));
        let bands = self.bands_or(sky);
        Ok(PatchStream { sky: sky.clone(), bands, plan, batch, next: 0, interpolation: self.interpolation })
    }
}

/// Batches of freshly cut patches for one epoch (see [`PatchSampler::stream`]).
#[derive(Debug)]
pub struct PatchStream {
    sky: Sky,
    bands: Vec<Band>,
    plan: Vec<PatchInfo>,
    batch: usize,
    next: usize,
    interpolation: Interpolation,
}

impl PatchStream {
    /// Patches in this epoch.
    pub fn n_patches(&self) -> usize {
        self.plan.len()
    }
}

impl Iterator for PatchStream {
    type Item = Result<Patches>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.plan.len() {
            return None;
        }
        let end = (self.next + self.batch).min(self.plan.len());
        let infos = self.plan[self.next..end].to_vec();
        self.next = end;
        Some(Patches::cut(&self.sky, &self.bands, infos, self.interpolation, None))
    }
}

pub(crate) fn sky_nside(sky: &Sky) -> Result<u32> {
    sky.nside().ok_or_else(|| Error::param("sky", "has no bands to cut patches from"))
}

/// Mix seeds (splitmix64 steps) into one: every (seed, epoch, loop, cluster) gets its own stream,
/// so parallel planning is reproducible.
pub(crate) fn mix(parts: &[u64]) -> u64 {
    parts.iter().fold(0x9E37_79B9_7F4A_7C15, |h, &p| {
        let mut z = (h ^ p).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// Tiles under the patch: its outline widened by `margin` pixels, sampled every half pixel, plus an
/// interior grid. A tile (≫ a patch) that overlaps the patch must cross this outline.
pub fn footprint_tiles(projection: &Gnomonic, margin: f64) -> impl Iterator<Item = u32> + '_ {
    let n = projection.size() as f64;
    let (lo, hi) = (-margin, n - 1.0 + margin);
    let steps = ((hi - lo) * 2.0).ceil() as usize;
    let edge = (0..=steps).flat_map(move |s| {
        let t = lo + (hi - lo) * s as f64 / steps as f64;
        [(lo, t), (hi, t), (t, lo), (t, hi)]
    });
    let inner = (0..projection.size())
        .step_by(8)
        .flat_map(move |i| (0..projection.size()).step_by(8).map(move |j| (i as f64, j as f64)));
    edge.chain(inner).map(move |(i, j)| {
        let (l, b) = projection.pixel_to_galactic(i, j);
        Tiling::tile_of(l, b)
    })
}

/// Patch centres on iso-latitude rings `step_deg` apart, each ring's centres `step_deg` apart at its
/// equator-side edge, so squares of side > `step_deg` cover the sphere.
fn scan_centers(step_deg: f64) -> Vec<(f64, f64)> {
    let n_rings = (180.0 / step_deg).ceil() as usize + 1;
    let dlat = 180.0 / (n_rings - 1) as f64;
    let mut centers = Vec::new();
    for r in 0..n_rings {
        let lat = -90.0 + r as f64 * dlat;
        let edge = (lat.abs() - dlat / 2.0).max(0.0);
        let n_lon = ((360.0 * edge.to_radians().cos() / step_deg).ceil() as usize).max(1);
        centers.extend((0..n_lon).map(|k| (360.0 * k as f64 / n_lon as f64, lat)));
    }
    centers
}

/// Catalog clusters bucketed by HEALPix cell (nside 32, ~1.8°) for patch lookups.
struct ClusterIndex {
    grid: Grid,
    cells: HashMap<u64, Vec<u32>>,
    galactic: Vec<(f64, f64)>,
    icrs: Vec<(f64, f64)>,
    names: Vec<String>,
    theta500: Vec<Option<f64>>,
}

impl ClusterIndex {
    fn new(catalog: &Catalog) -> Result<Self> {
        let grid = Grid::new(32, Ordering::Ring)?;
        let galactic = catalog.galactic()?;
        let mut cells: HashMap<u64, Vec<u32>> = HashMap::new();
        for (k, &(l, b)) in galactic.iter().enumerate() {
            if l.is_finite() && b.is_finite() {
                cells.entry(grid.ang2pix(l, b)).or_default().push(k as u32);
            }
        }
        let names = catalog.df().column("name")?.str()?.iter().map(|s| s.unwrap_or("").to_string()).collect();
        Ok(ClusterIndex { grid, cells, icrs: catalog.icrs()?, galactic, names, theta500: catalog.theta500_arcmin()? })
    }

    fn len(&self) -> usize {
        self.galactic.len()
    }

    fn in_frame(&self, k: u32, frame: Frame) -> (f64, f64) {
        match frame {
            Frame::Galactic => self.galactic[k as usize],
            Frame::Icrs => self.icrs[k as usize],
        }
    }

    /// Clusters in the cells within `radius_deg` of (glon, glat) (a superset of those within it).
    fn near(&self, glon: f64, glat: f64, radius_deg: f64) -> impl Iterator<Item = u32> + '_ {
        let cells = self.grid.query_disc(glon, glat, radius_deg, true);
        cells.into_iter().flat_map(|c| self.cells.get(&c).into_iter().flatten().copied())
    }
}
