//! Datasets: normalised patches with their label masks, ready for training.
//!
//! In: [`Patches`] (usually normalised) and their masks (from [`Patches::labels`]). Out: a
//! [`Dataset`] that shuffles, yields batches (NCHW inputs, N×1×H×W masks) and saves/loads as `.npz`
//! (`inputs` N×H×W×C and `masks` N×H×W×1 float32, NHWC as numpy/Keras expect) plus the patch
//! metadata as Parquet next to it.

use std::fs::File;
use std::path::{Path, PathBuf};

use std::io::Write;

use ndarray::Array4;
use ndarray_npy::NpzReader;
use polars::prelude::*;
use polars_io::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{ensure_param, Error, Result};
use crate::output::{write_atomic, write_parquet};
use crate::patches::{info_from_df, Patches};
use crate::sky::Band;

impl Patches {
    /// These patches with their disk masks ([`crate::labels::masks`]): a [`Dataset`].
    pub fn labels(self, disk: crate::labels::Disk) -> Result<Dataset> {
        let masks = crate::labels::masks(&self, disk)?;
        Dataset::new(self, masks)
    }
}

/// Inputs and label masks of a set of patches, with their metadata.
#[derive(Debug, Clone)]
pub struct Dataset {
    patches: Patches,
    masks: Vec<f32>,
}

/// One batch: borrowed NCHW inputs and N×1×H×W masks.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Inputs, N×C×H×W.
    pub inputs: &'a [f32],
    /// Masks, N×1×H×W.
    pub masks: &'a [f32],
    /// Patches in the batch.
    pub n: usize,
    /// Channels.
    pub channels: usize,
    /// Patch side.
    pub size: usize,
}

impl Dataset {
    /// A dataset of `patches` and their `masks` (N×1×H×W).
    pub fn new(patches: Patches, masks: Vec<f32>) -> Result<Self> {
        let hw = patches.size() * patches.size();
        ensure_param!(
            masks.len() == patches.len() * hw,
            "dataset",
            "{} mask values for {} patches of {}²",
            masks.len(),
            patches.len(),
            patches.size()
        );
        Ok(Dataset { patches, masks })
    }

    /// Number of patches.
    pub fn len(&self) -> usize {
        self.patches.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }

    /// The patches (inputs and metadata).
    pub fn patches(&self) -> &Patches {
        &self.patches
    }

    /// Inputs, N×C×H×W.
    pub fn inputs(&self) -> &[f32] {
        self.patches.data()
    }

    /// Masks, N×1×H×W.
    pub fn masks(&self) -> &[f32] {
        &self.masks
    }

    /// The H×W mask of patch `n`.
    pub fn mask(&self, n: usize) -> &[f32] {
        let hw = self.patches.size() * self.patches.size();
        &self.masks[n * hw..(n + 1) * hw]
    }

    /// Patch metadata (see [`Patches::df`]) with `mask_pixels`, the labelled pixels of each patch.
    pub fn df(&self) -> Result<DataFrame> {
        let mut df = self.patches.df()?;
        let hw = (self.patches.size() * self.patches.size()).max(1);
        let on: Vec<u32> = self.masks.chunks(hw).map(|m| m.iter().filter(|&&v| v > 0.5).count() as u32).collect();
        df.with_column(Column::new("mask_pixels".into(), on))?;
        Ok(df)
    }

    /// Shuffle the patches (inputs, masks and metadata together), reproducibly from `seed`.
    pub fn shuffle(&mut self, seed: u64) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let hw = self.patches.size() * self.patches.size();
        self.masks = order.iter().flat_map(|&k| self.masks[k * hw..(k + 1) * hw].iter().copied()).collect();
        self.patches.permute(&order);
    }

    /// Consecutive batches of `batch` patches (the last may be smaller).
    pub fn batches(&self, batch: usize) -> impl Iterator<Item = Batch<'_>> {
        let batch = batch.max(1);
        let (len, hw) = (self.patches.patch_len(), self.patches.size() * self.patches.size());
        let channels = self.patches.bands().len();
        let size = self.patches.size();
        (0..self.len()).step_by(batch).map(move |start| {
            let end = (start + batch).min(self.len());
            Batch {
                inputs: &self.inputs()[start * len..end * len],
                masks: &self.masks[start * hw..end * hw],
                n: end - start,
                channels,
                size,
            }
        })
    }

    /// Save as `<stem>.npz` (`inputs` N×H×W×C and `masks` N×H×W×1 float32; `bands`, the band names
    /// joined by commas as uint8 bytes; `normalised`, one uint8) and `<stem>.parquet` (the metadata of
    /// [`Dataset::df`]), both written atomically. Returns the two paths.
    pub fn save(&self, dir: impl AsRef<Path>, stem: &str) -> Result<(PathBuf, PathBuf)> {
        let dir = dir.as_ref();
        let (npz, parquet) = (dir.join(format!("{stem}.npz")), dir.join(format!("{stem}.parquet")));
        let layout = NpzLayout { n: self.len(), size: self.patches.size(), bands: self.patches.bands() };
        write_npz(
            &npz,
            &layout,
            self.patches.is_normalised(),
            |w| w.write_all(&nhwc_bytes(&self.patches)),
            |w| w.write_all(&f32_bytes(&self.masks)),
        )?;
        write_parquet(&parquet, &mut self.df()?)?;
        Ok((npz, parquet))
    }

    /// Load a dataset saved by [`Dataset::save`] from `<stem>.npz` and `<stem>.parquet`.
    pub fn load(dir: impl AsRef<Path>, stem: &str) -> Result<Self> {
        let dir = dir.as_ref();
        let (npz, parquet) = (dir.join(format!("{stem}.npz")), dir.join(format!("{stem}.parquet")));
        let file = File::open(&npz).map_err(|e| Error::io(&npz, e))?;
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::param(npz.display().to_string(), format!("not an xcluster dataset ({what}: {e})"))
        };
        let mut r = NpzReader::new(file).map_err(|e| bad("zip", &e))?;
        let inputs: Array4<f32> = r.by_name("inputs").map_err(|e| bad("inputs", &e))?;
        let masks: Array4<f32> = r.by_name("masks").map_err(|e| bad("masks", &e))?;
        let bands: ndarray::Array1<u8> = r.by_name("bands").map_err(|e| bad("bands", &e))?;
        let normalised: ndarray::Array1<u8> = r.by_name("normalised").map_err(|e| bad("normalised", &e))?;
        let bands: Vec<Band> = String::from_utf8_lossy(&bands.to_vec())
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_>>()?;
        let (n, s, _, c) = inputs.dim();
        ensure_param!(
            c == bands.len() && masks.dim() == (n, s, s, 1),
            "dataset",
            "inconsistent arrays in {}",
            npz.display()
        );
        let data: Vec<f32> = inputs.permuted_axes([0, 3, 1, 2]).iter().copied().collect();
        let masks: Vec<f32> = masks.iter().copied().collect();
        let file = File::open(&parquet).map_err(|e| Error::io(&parquet, e))?;
        let df = ParquetReader::new(file).finish()?;
        let mut patches = Patches::from_parts(bands, s, data, info_from_df(&df)?)?;
        if normalised.iter().any(|&v| v == 1) {
            patches.set_normalised();
        }
        Dataset::new(patches, masks)
    }
}

/// Patches cut per chunk when a split is streamed to disk.
const STREAM_CHUNK: usize = 4096;

/// What [`write_split`] wrote.
#[derive(Debug, Clone)]
pub struct SplitFiles {
    /// The `.npz` file.
    pub npz: PathBuf,
    /// The metadata `.parquet` file.
    pub parquet: PathBuf,
    /// Patches written.
    pub patches: usize,
    /// Distinct catalog clusters on the patches.
    pub clusters_seen: usize,
    /// Fraction of mask pixels set.
    pub labelled_fraction: f64,
}

/// Cut, normalise and label the patches of `sampler` from `sky` and write them as
/// `<dir>/<stem>.npz` + `.parquet` — the layout of [`Dataset::save`] — 4,096 (`STREAM_CHUNK`) patches at a
/// time, so memory stays bounded however many patches the split has. Both files are written to a
/// temporary name and renamed.
pub fn write_split(
    dir: &Path,
    stem: &str,
    sampler: &crate::patches::PatchSampler,
    sky: &crate::sky::Sky,
    normaliser: &crate::normalise::Normaliser,
    disk: crate::labels::Disk,
) -> Result<SplitFiles> {
    let plan = sampler.plan(crate::patches::sky_nside(sky)?)?;
    let n = plan.len();
    let size = sampler.patch_size() as usize;
    let bands = normaliser.bands().to_vec();
    let npz = dir.join(format!("{stem}.npz"));
    let parquet = dir.join(format!("{stem}.parquet"));
    let mut mask_pixels: Vec<u32> = Vec::with_capacity(n);
    let layout = NpzLayout { n, size, bands: &bands };
    let other = |e: Error| std::io::Error::other(e.to_string());
    write_npz(
        &npz,
        &layout,
        true,
        |w| {
            for chunk in plan.chunks(STREAM_CHUNK) {
                let patches = normaliser.apply(sampler.cut(sky, chunk.to_vec()).map_err(other)?).map_err(other)?;
                w.write_all(&nhwc_bytes(&patches))?;
            }
            Ok(())
        },
        |w| {
            for chunk in plan.chunks(STREAM_CHUNK) {
                let masks = crate::labels::masks_of(chunk, size, disk).map_err(other)?;
                mask_pixels.extend(masks.chunks(size * size).map(|m| m.iter().filter(|&&v| v > 0.5).count() as u32));
                w.write_all(&f32_bytes(&masks))?;
            }
            Ok(())
        },
    )?;
    let mut df = crate::patches::info_df(&plan)?;
    let labelled: u64 = mask_pixels.iter().map(|&m| m as u64).sum();
    df.with_column(Column::new("mask_pixels".into(), mask_pixels))?;
    write_parquet(&parquet, &mut df)?;
    let mut seen: Vec<u32> = plan.iter().flat_map(|p| p.clusters.iter().map(|c| c.index)).collect();
    seen.sort_unstable();
    seen.dedup();
    let pixels = (n * size * size).max(1) as f64;
    Ok(SplitFiles { npz, parquet, patches: n, clusters_seen: seen.len(), labelled_fraction: labelled as f64 / pixels })
}

/// Shape of a dataset's `.npz`: patches, side, bands.
struct NpzLayout<'a> {
    n: usize,
    size: usize,
    bands: &'a [Band],
}

/// Write a dataset `.npz` atomically: `inputs` (N×H×W×C) and `masks` (N×H×W×1) float32, whose bytes
/// the two callbacks write in order (so they can be produced chunk by chunk), then `bands` and
/// `normalised`. Uncompressed zip64, readable by numpy and ndarray-npy.
fn write_npz(
    path: &Path,
    layout: &NpzLayout<'_>,
    normalised: bool,
    inputs: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    masks: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    let NpzLayout { n, size, bands } = *layout;
    write_atomic(path, |file| {
        let mut zip = ::zip::ZipWriter::new(file);
        let options = ::zip::write::SimpleFileOptions::default()
            .compression_method(::zip::CompressionMethod::Stored)
            .large_file(true);
        let err = |e: ::zip::result::ZipError| std::io::Error::other(e);
        zip.start_file("inputs.npy", options).map_err(err)?;
        zip.write_all(&npy_header("<f4", &[n, size, size, bands.len()]))?;
        inputs(&mut zip)?;
        zip.start_file("masks.npy", options).map_err(err)?;
        zip.write_all(&npy_header("<f4", &[n, size, size, 1]))?;
        masks(&mut zip)?;
        let names = bands.iter().map(|b| b.name()).collect::<Vec<_>>().join(",").into_bytes();
        zip.start_file("bands.npy", options).map_err(err)?;
        zip.write_all(&npy_header("|u1", &[names.len()]))?;
        zip.write_all(&names)?;
        zip.start_file("normalised.npy", options).map_err(err)?;
        zip.write_all(&npy_header("|u1", &[1]))?;
        zip.write_all(&[normalised as u8])?;
        zip.finish().map_err(err)?;
        Ok(())
    })
}

/// Little-endian bytes of f32 values.
fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A `.npy` version 1.0 header for a C-ordered array of `descr` and `shape`, padded to 64 bytes.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict.into_bytes());
    out
}

/// The little-endian bytes of `patches` in N×H×W×C order.
fn nhwc_bytes(patches: &Patches) -> Vec<u8> {
    let (c, s) = (patches.bands().len(), patches.size());
    let mut out = Vec::with_capacity(patches.data().len() * 4);
    for k in 0..patches.len() {
        for at in 0..s * s {
            for ch in 0..c {
                out.extend(patches.image(k, ch)[at].to_le_bytes());
            }
        }
    }
    out
}
