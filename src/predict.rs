//! Inference: a [`Trained`] network turns normalised patches into probability maps.
//!
//! In: [`Patches`] normalised like the training data (same bands, side a multiple of 2^levels).
//! Out: [`Predictions`] — one `size`×`size` map of cluster probabilities per patch, row-major like the
//! patch images, with the patches' metadata (for detection and mapping back to the sky).
//! Batches of `batch` patches go through the network in turn; each batch uses every core (the backend
//! parallelises the convolutions), so no outer thread pool is stacked on top.

use polars::prelude::DataFrame;

use crate::error::{ensure_param, Result};
use crate::model::values;
use crate::patches::{PatchInfo, Patches};
use crate::train::Trained;
use burn::tensor::{Tensor, TensorData};

/// Probability maps of a set of patches.
#[derive(Debug, Clone)]
pub struct Predictions {
    probs: Vec<f32>,
    size: usize,
    info: Vec<PatchInfo>,
}

impl Predictions {
    /// Probability maps `probs` (N×`size`×`size`) of the patches described by `info`.
    pub fn from_parts(probs: Vec<f32>, size: usize, info: Vec<PatchInfo>) -> Result<Self> {
        ensure_param!(
            probs.len() == info.len() * size * size,
            "predictions",
            "{} values for {} maps of {size}²",
            probs.len(),
            info.len()
        );
        Ok(Self { probs, size, info })
    }

    /// Number of patches.
    pub fn len(&self) -> usize {
        self.info.len()
    }
    /// True when there is no patch.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }
    /// Patch side in pixels.
    pub fn size(&self) -> usize {
        self.size
    }
    /// All maps, N×H×W.
    pub fn probs(&self) -> &[f32] {
        &self.probs
    }
    /// The map of patch `n`, H×W row-major.
    pub fn prob(&self, n: usize) -> &[f32] {
        let len = self.size * self.size;
        &self.probs[n * len..(n + 1) * len]
    }
    /// The patches' metadata (centres, projection, clusters inside).
    pub fn info(&self) -> &[PatchInfo] {
        &self.info
    }
    /// The highest probability of each map.
    pub fn peaks(&self) -> Vec<f32> {
        (0..self.len()).map(|n| self.prob(n).iter().copied().fold(0.0, f32::max)).collect()
    }

    /// Indices of the (at most) `k` maps with the highest peak probability, highest first.
    pub fn most_confident(&self, k: usize) -> Vec<usize> {
        let peaks = self.peaks();
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| peaks[b].total_cmp(&peaks[a]).then(a.cmp(&b)));
        order.truncate(k);
        order
    }

    /// The maps at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Predictions> {
        let mut probs = Vec::with_capacity(indices.len() * self.size * self.size);
        for &k in indices {
            ensure_param!(
                k < self.len(),
                "Predictions::select indices",
                "index {k} is out of range: {} maps",
                self.len()
            );
            probs.extend_from_slice(self.prob(k));
        }
        Predictions::from_parts(probs, self.size, indices.iter().map(|&k| self.info[k].clone()).collect())
    }

    /// The same maps with `offset` added to every patch id (ids restart at 0 in each scan).
    pub fn offset_ids(mut self, offset: u64) -> Self {
        self.info.iter_mut().for_each(|i| i.id += offset);
        self
    }

    /// These maps followed by `other`'s (same size, or an error).
    pub fn stack(&self, other: &Predictions) -> Result<Predictions> {
        ensure_param!(
            self.size == other.size,
            "Predictions::stack",
            "cannot stack {}-pixel maps with {}-pixel maps",
            self.size,
            other.size
        );
        let probs = [self.probs(), other.probs()].concat();
        Predictions::from_parts(probs, self.size, self.info.iter().chain(&other.info).cloned().collect())
    }

    /// The patches' metadata as a DataFrame (see [`Patches::df`]), plus `max_prob`.
    pub fn df(&self) -> Result<DataFrame> {
        let mut df = crate::patches::info_df(&self.info)?;
        df.with_column(polars::prelude::Column::new("max_prob".into(), self.peaks()))?;
        Ok(df)
    }
}

impl Trained {
    /// Probability maps of `patches`, `batch` patches at a time (64 is a good CPU default). With a
    /// normaliser attached, the patches' bands must be its bands in its order, and raw patches are
    /// normalised first.
    pub fn predict(&self, patches: &Patches, batch: usize) -> Result<Predictions> {
        if let Some(n) = self.normaliser() {
            self.check_bands(patches.bands())?;
            if !patches.is_normalised() {
                return self.predict(&n.apply(patches.clone())?, batch);
            }
        }
        let bands = self.config().net.bands;
        let size = patches.size();
        ensure_param!(batch >= 1, "batch", "must be at least 1, got {batch}");
        ensure_param!(
            patches.bands().len() == bands,
            "predict",
            "the network takes {bands} bands but the patches have {}",
            patches.bands().len()
        );
        self.config().net.check_size(size)?;
        let device = self.device();
        let len = patches.patch_len();
        let mut probs = Vec::with_capacity(patches.len() * size * size);
        for chunk in patches.data().chunks(batch * len) {
            let n = chunk.len() / len;
            let x = Tensor::<4>::from_data(TensorData::new(chunk.to_vec(), [n, bands, size, size]), device);
            probs.extend(values(self.net().forward(x))?);
        }
        Ok(Predictions { probs, size, info: patches.info().to_vec() })
    }
}
