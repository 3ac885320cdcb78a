//! `Patches`: cut-out images with one metadata row per patch.
//!
//! In: a [`Sky`], the bands to cut and a plan of [`PatchInfo`]s. Out: an `N×C×H×W` f32 tensor
//! (flat, row-major, NCHW as the networks take it) and a polars DataFrame of the metadata.

use indicatif::ProgressBar;
use polars::prelude::*;
use rayon::prelude::*;

use super::{sample_patches, ClusterInPatch, Dihedral, Frame, Gnomonic, Interpolation, PatchInfo};
use crate::error::{ensure_param, Error, Result};
use crate::sky::{galactic_to_icrs, Band, HealpixMap, Sky};
use crate::tiles::Split;

/// Patches are sampled this many at a time, so progress advances and memory for a plan's
/// interpolation state stays small.
const CHUNK: usize = 256;

/// Patches cut from a sky: images (N×C×H×W) and per-patch metadata.
#[derive(Debug, Clone)]
pub struct Patches {
    bands: Vec<Band>,
    size: usize,
    data: Vec<f32>,
    info: Vec<PatchInfo>,
    normalised: bool,
}

impl Patches {
    /// Cut `plan` from the `bands` of `sky` (all bands share one nside and ordering).
    pub fn cut(
        sky: &Sky,
        bands: &[Band],
        plan: Vec<PatchInfo>,
        method: Interpolation,
        progress: Option<&ProgressBar>,
    ) -> Result<Self> {
        if bands.is_empty() {
            return Err(Error::param("bands", "no band to cut: list at least one"));
        }
        let maps: Vec<&HealpixMap> = bands
            .iter()
            .map(|&b| {
                sky.band(b).ok_or_else(|| {
                    Error::param("bands", format!("band {b} is not in the sky (it has {:?})", sky.bands()))
                })
            })
            .collect::<Result<_>>()?;
        let size = plan.first().map_or(0, |p| p.projection.size() as usize);
        let mut data = Vec::with_capacity(plan.len() * bands.len() * size * size);
        for chunk in plan.chunks(CHUNK) {
            let projections: Vec<_> = chunk.iter().map(|p| p.projection).collect();
            data.extend(sample_patches(&maps, &projections, method)?);
            if let Some(bar) = progress {
                bar.inc(chunk.len() as u64);
            }
        }
        Ok(Patches { bands: bands.to_vec(), size, data, info: plan, normalised: false })
    }

    /// Patches from raw parts: `data` is N×C×H×W with C = `bands.len()` and H = W = `size`.
    pub fn from_parts(bands: Vec<Band>, size: usize, data: Vec<f32>, info: Vec<PatchInfo>) -> Result<Self> {
        let expect = info.len() * bands.len() * size * size;
        if data.len() != expect {
            return Err(Error::param(
                "patches",
                format!(
                    "{} values for {} patches × {} bands × {size}²: expected {expect}",
                    data.len(),
                    info.len(),
                    bands.len()
                ),
            ));
        }
        Ok(Patches { bands, size, data, info, normalised: false })
    }

    /// Number of patches.
    pub fn len(&self) -> usize {
        self.info.len()
    }

    /// True when there are no patches.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// The bands (channels), in order.
    pub fn bands(&self) -> &[Band] {
        &self.bands
    }

    /// Patch side in pixels.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Values per patch (C·H·W).
    pub fn patch_len(&self) -> usize {
        self.bands.len() * self.size * self.size
    }

    /// All images, N×C×H×W.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// All images, mutable (normalisation works in place).
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The H×W image of patch `n`, band index `c`.
    pub fn image(&self, n: usize, c: usize) -> &[f32] {
        let hw = self.size * self.size;
        let at = n * self.patch_len() + c * hw;
        &self.data[at..at + hw]
    }

    /// Metadata of every patch.
    pub fn info(&self) -> &[PatchInfo] {
        &self.info
    }

    /// Whether a normaliser has been applied.
    pub fn is_normalised(&self) -> bool {
        self.normalised
    }

    pub(crate) fn set_normalised(&mut self) {
        self.normalised = true;
    }

    /// The patches at `indices`, in that order (normalised if these are).
    pub fn select(&self, indices: &[usize]) -> Result<Patches> {
        let n = self.patch_len();
        let mut data = Vec::with_capacity(indices.len() * n);
        for &k in indices {
            ensure_param!(
                k < self.len(),
                "Patches::select indices",
                "index {k} is out of range: {} patches",
                self.len()
            );
            data.extend_from_slice(&self.data[k * n..(k + 1) * n]);
        }
        let info = indices.iter().map(|&k| self.info[k].clone()).collect();
        Ok(Patches { bands: self.bands.clone(), size: self.size, data, info, normalised: self.normalised })
    }

    /// These patches followed by `other`'s: same bands, size and normalisation, or an error.
    pub fn stack(&self, other: &Patches) -> Result<Patches> {
        ensure_param!(
            self.bands == other.bands && self.size == other.size && self.normalised == other.normalised,
            "Patches::stack",
            "cannot stack {:?} {}-pixel patches{} with {:?} {}-pixel patches{}",
            self.bands,
            self.size,
            if self.normalised { " (normalised)" } else { "" },
            other.bands,
            other.size,
            if other.normalised { " (normalised)" } else { "" }
        );
        let mut data = Vec::with_capacity(self.data.len() + other.data.len());
        data.extend_from_slice(&self.data);
        data.extend_from_slice(&other.data);
        let info = self.info.iter().chain(&other.info).cloned().collect();
        Ok(Patches { bands: self.bands.clone(), size: self.size, data, info, normalised: self.normalised })
    }

    /// Add `offset` to every patch id (ids restart at 0 in each plan; scans of several plans stay unique).
    pub fn offset_ids(&mut self, offset: u64) {
        self.info.iter_mut().for_each(|i| i.id += offset);
    }

    /// Reorder patches: patch k of the result is patch `order[k]` of `self`.
    pub(crate) fn permute(&mut self, order: &[usize]) {
        let n = self.patch_len();
        let mut data = vec![0f32; self.data.len()];
        data.par_chunks_mut(n.max(1))
            .zip(order)
            .for_each(|(dst, &k)| dst.copy_from_slice(&self.data[k * n..(k + 1) * n]));
        self.data = data;
        self.info = order.iter().map(|&k| self.info[k].clone()).collect();
    }

    /// One row per patch: `id`, `glon`, `glat`, `ra`, `dec` (centre, degrees), `frame`, `tile`, `split`,
    /// `seed_cluster`, `shift_i`, `shift_j` (pixels), `rotation` (0…7), `n_clusters` (centres on the
    /// patch), and list columns `cluster_names`, `cluster_i`, `cluster_j` (patch pixels; clusters up to
    /// 15′ outside included, as their label disks reach in).
    pub fn df(&self) -> Result<DataFrame> {
        info_df(&self.info)
    }
}

pub(crate) fn info_df(info: &[PatchInfo]) -> Result<DataFrame> {
    // The centre in the patch's own frame is exact; the other frame is converted from it.
    let gal: Vec<(f64, f64)> = info.iter().map(|p| p.projection.center_galactic()).collect();
    let icrs: Vec<(f64, f64)> = info
        .iter()
        .zip(&gal)
        .map(|(p, &(l, b))| match p.projection.frame() {
            Frame::Icrs => p.projection.center(),
            Frame::Galactic => galactic_to_icrs(l, b),
        })
        .collect();
    let list = |name: &str, f: &dyn Fn(&PatchInfo) -> Series| -> Column {
        info.iter().map(f).collect::<ListChunked>().with_name(name.into()).into_column()
    };
    let columns = vec![
        Column::new("id".into(), info.iter().map(|p| p.id).collect::<Vec<_>>()),
        Column::new("glon".into(), gal.iter().map(|g| g.0).collect::<Vec<_>>()),
        Column::new("glat".into(), gal.iter().map(|g| g.1).collect::<Vec<_>>()),
        Column::new("ra".into(), icrs.iter().map(|g| g.0).collect::<Vec<_>>()),
        Column::new("dec".into(), icrs.iter().map(|g| g.1).collect::<Vec<_>>()),
        Column::new("frame".into(), info.iter().map(|p| p.projection.frame().name()).collect::<Vec<_>>()),
        Column::new("size".into(), info.iter().map(|p| p.projection.size()).collect::<Vec<_>>()),
        Column::new("pixel_arcmin".into(), info.iter().map(|p| p.projection.pixel_arcmin()).collect::<Vec<_>>()),
        Column::new("tile".into(), info.iter().map(|p| p.tile).collect::<Vec<_>>()),
        Column::new("split".into(), info.iter().map(|p| p.split.name()).collect::<Vec<_>>()),
        Column::new("seed_cluster".into(), info.iter().map(|p| p.seed_cluster).collect::<Vec<_>>()),
        Column::new("shift_i".into(), info.iter().map(|p| p.shift.0).collect::<Vec<_>>()),
        Column::new("shift_j".into(), info.iter().map(|p| p.shift.1).collect::<Vec<_>>()),
        Column::new(
            "rotation".into(),
            info.iter().map(|p| p.projection.transform().index() as u32).collect::<Vec<_>>(),
        ),
        Column::new("n_clusters".into(), info.iter().map(|p| p.n_inside() as u32).collect::<Vec<_>>()),
        list("cluster_names", &|p| {
            Series::new("".into(), p.clusters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
        }),
        list("cluster_index", &|p| Series::new("".into(), p.clusters.iter().map(|c| c.index).collect::<Vec<_>>())),
        list("cluster_i", &|p| Series::new("".into(), p.clusters.iter().map(|c| c.i).collect::<Vec<_>>())),
        list("cluster_j", &|p| Series::new("".into(), p.clusters.iter().map(|c| c.j).collect::<Vec<_>>())),
        list("cluster_theta500_arcmin", &|p| {
            Series::new("".into(), p.clusters.iter().map(|c| c.theta500_arcmin).collect::<Vec<_>>())
        }),
    ];
    Ok(DataFrame::new(info.len(), columns)?)
}

/// The plan back from a metadata table written by [`info_df`] (e.g. a dataset's Parquet file).
pub(crate) fn info_from_df(df: &DataFrame) -> Result<Vec<PatchInfo>> {
    let f64s = |name: &str| -> Result<Vec<f64>> {
        Ok(df.column(name)?.cast(&DataType::Float64)?.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    };
    let u32s = |name: &str| -> Result<Vec<Option<u32>>> {
        Ok(df.column(name)?.cast(&DataType::UInt32)?.u32()?.iter().collect())
    };
    let strs = |name: &str| -> Result<Vec<String>> {
        Ok(df.column(name)?.str()?.iter().map(|s| s.unwrap_or("").to_string()).collect())
    };
    let lists = |name: &str, dtype: DataType| -> Result<Vec<Series>> {
        let col = df.column(name)?.list()?.clone();
        (0..col.len()).map(|k| Ok(col.get_as_series(k).unwrap_or_default().cast(&dtype)?)).collect()
    };
    let (id, glon, glat, ra, dec) = (u32s("id")?, f64s("glon")?, f64s("glat")?, f64s("ra")?, f64s("dec")?);
    let (frame, split) = (strs("frame")?, strs("split")?);
    let (size, pixel, tile, seed) = (u32s("size")?, f64s("pixel_arcmin")?, u32s("tile")?, u32s("seed_cluster")?);
    let (si, sj, rot) = (f64s("shift_i")?, f64s("shift_j")?, u32s("rotation")?);
    let names = lists("cluster_names", DataType::String)?;
    let index = lists("cluster_index", DataType::UInt32)?;
    let ci = lists("cluster_i", DataType::Float64)?;
    let cj = lists("cluster_j", DataType::Float64)?;
    let theta = lists("cluster_theta500_arcmin", DataType::Float64)?;
    (0..df.height())
        .map(|k| {
            let frame: Frame = frame[k].parse()?;
            let (lon, lat) = match frame {
                Frame::Galactic => (glon[k], glat[k]),
                Frame::Icrs => (ra[k], dec[k]),
            };
            let transform = Dihedral::new(rot[k].unwrap_or(0) as u8)?;
            let projection =
                Gnomonic::in_frame(frame, lon, lat, size[k].unwrap_or(0), pixel[k])?.transformed(transform);
            let split = match split[k].as_str() {
                "train" => Split::Train,
                "val" => Split::Val,
                "test" => Split::Test,
                other => return Err(Error::param("split", format!("unknown split {other:?} in patch metadata"))),
            };
            let clusters = (0..names[k].len())
                .map(|m| -> Result<ClusterInPatch> {
                    Ok(ClusterInPatch {
                        index: index[k].u32()?.get(m).unwrap_or(0),
                        name: names[k].str()?.get(m).unwrap_or("").to_string(),
                        i: ci[k].f64()?.get(m).unwrap_or(f64::NAN),
                        j: cj[k].f64()?.get(m).unwrap_or(f64::NAN),
                        theta500_arcmin: theta[k].f64()?.get(m),
                    })
                })
                .collect::<Result<_>>()?;
            Ok(PatchInfo {
                id: id[k].unwrap_or(k as u32) as u64,
                projection,
                tile: tile[k].unwrap_or(0),
                split,
                seed_cluster: seed[k],
                shift: (si[k], sj[k]),
                clusters,
            })
        })
        .collect()
}
