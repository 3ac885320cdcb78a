//! The fluent chain: owned stage values that carry what the next stage needs, one per notebook cell.
//!
//! In: a [`Sky`] and the cluster catalogs (on the synthetic sky, with its [`Truth`]'s sources as
//! contaminants). Out, stage by stage:
//!
//! | call | value | holds |
//! |---|---|---|
//! | `sky.tiles(Tiling::default())` | [`Tiled`] | the sky and its train / val / test tiles |
//! | `.patches(cats.planck_z()?)` | [`Sampled`] | which clusters seed patches, and how patches are cut and labelled |
//! | `.normalise(Normaliser::mad())?` | [`Data`] | the normaliser fitted on the training tiles, the validation set (cut once), the training stream (fresh shifts and rotations each epoch) |
//! | `Model::unet().fit(&data)?` | [`Trained`] | the best network, its history, and what its inputs must be |
//! | `trained.scan(&data)?` | [`Scan`] | probability maps of the test tiles (or [`Cover`]: given tiles, the full sky, a shard) |
//! | `.detect()?` | [`Detected`] | merged detections on the sky |
//! | `.crossmatch(&cats)?` | [`Matched`] | known / unknown / contaminant, per-catalog counts |
//! | `.evaluate(&truth)?` | [`Evaluation`] | purity and completeness against the synthetic sky's [`Truth`] |
//!
//! Every value is owned, `Clone` and `'static` (maps and big tables are shared behind `Arc`), shows an
//! HTML summary as a notebook cell's value, and has `.df()` for its table and `.plot()` for its figure.

use std::sync::Arc;

use polars::prelude::*;

use crate::catalog::{Catalog, Catalogs};
use crate::crossmatch::{CrossMatch, Footprint, Matched};
use crate::dataset::Dataset;
use crate::detect::{Detection, Detections};
use crate::error::{ensure_param, Error, Result};
use crate::evaluate::{Evaluation, Evaluator};
use crate::labels::Disk;
use crate::normalise::{Normaliser, NormaliserSpec};
use crate::patches::{PatchSampler, Patches};
use crate::plot::Figure;
use crate::predict::Predictions;
use crate::sky::{Band, Sky};
use crate::synthetic::Truth;
use crate::tiles::{Split, Tiling, N_TILES};
use crate::train::{Augmented, Model, Trained};

/// Patches kept with a scan for its figures: the most confident ones.
pub const EXAMPLES: usize = 16;

/// Probability maps computed per call of the network.
const PREDICT_BATCH: usize = 64;

impl Sky {
    /// The first stage of the chain: this sky split into training, validation and test tiles.
    pub fn tiles(&self, tiling: Tiling) -> Tiled {
        Tiled { sky: self.clone(), tiling }
    }
}

/// A sky and its tiling (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Tiled {
    sky: Sky,
    tiling: Tiling,
}

impl Tiled {
    /// Patches seeded by `clusters`, with the default sampling and label rule (the params file's).
    pub fn patches(&self, clusters: &Catalog) -> Sampled {
        Sampled {
            sky: self.sky.clone(),
            tiling: self.tiling.clone(),
            clusters: clusters.clone(),
            sampler: PatchSampler::train(&self.tiling, clusters),
            disk: Disk::default(),
            progress: false,
        }
    }
    /// The sky.
    pub fn sky(&self) -> &Sky {
        &self.sky
    }
    /// The tiling.
    pub fn tiling(&self) -> &Tiling {
        &self.tiling
    }
    /// One row per tile: `tile`, `split`, `glon`, `glat` of its centre.
    pub fn df(&self) -> Result<DataFrame> {
        self.tiling.df()
    }
    /// The tiles coloured by split, over the sky.
    pub fn plot(&self) -> Figure {
        self.tiling.plot()
    }
}

/// How patches are cut from a tiled sky and labelled, before normalisation (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Sampled {
    sky: Sky,
    tiling: Tiling,
    clusters: Catalog,
    sampler: PatchSampler,
    disk: Disk,
    progress: bool,
}

impl Sampled {
    /// Training patches per cluster, each with its own shift and rotation (the params file's `loops`).
    pub fn loops(mut self, loops: u32) -> Self {
        self.sampler = self.sampler.loops(loops);
        self
    }
    /// Seed of shifts, rotations and epoch order.
    pub fn seed(mut self, seed: u64) -> Self {
        self.sampler = self.sampler.seed(seed);
        self
    }
    /// Bands to cut, in this order (default: every band of the sky).
    pub fn bands(mut self, bands: &[Band]) -> Self {
        self.sampler = self.sampler.bands(bands);
        self
    }
    /// Patch side in pixels.
    pub fn size(mut self, size: u32) -> Self {
        self.sampler = self.sampler.size(size);
        self
    }
    /// Patch pixel in arcmin.
    pub fn pixel_arcmin(mut self, pixel_arcmin: f64) -> Self {
        self.sampler = self.sampler.pixel_arcmin(pixel_arcmin);
        self
    }
    /// The label rule: a disk of fixed radius, or drawn radii.
    pub fn disk(mut self, disk: Disk) -> Self {
        self.disk = disk;
        self
    }
    /// Any other sampler setting: `.sampler(|s| s.max_shift(10.0))`.
    pub fn sampler(mut self, f: impl FnOnce(PatchSampler) -> PatchSampler) -> Self {
        self.sampler = f(self.sampler);
        self
    }
    /// The sampler settings every split is cut with.
    pub fn settings(&self) -> &PatchSampler {
        &self.sampler
    }
    /// The label rule.
    pub fn label_rule(&self) -> Disk {
        self.disk
    }
    /// Say on stderr what is being cut, with a progress bar per split.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Fit `spec` on the training tiles, cut, normalise and label the validation patches once, and set
    /// up the training stream.
    pub fn normalise(&self, spec: NormaliserSpec) -> Result<Data> {
        let bands = self.sampler.bands_or(&self.sky);
        let normaliser = spec.fit_sky(&self.sky, &self.tiling, &bands)?;
        let sampler = self.sampler.clone().bands(&bands);
        if self.progress {
            eprintln!("val: cutting, normalising and labelling the validation patches…");
        }
        let val_sampler = sampler.for_split(Split::Val);
        let val = normaliser.apply(val_sampler.extract(&self.sky)?)?.labels(self.disk)?;
        ensure_param!(
            !val.is_empty(),
            "val_tiles",
            "no cluster of {} lies in the validation tiles",
            self.clusters.name()
        );
        let train = Augmented::new(sampler.for_split(Split::Train), &self.sky, &normaliser, self.disk)?;
        Ok(Data {
            sky: self.sky.clone(),
            tiling: self.tiling.clone(),
            clusters: self.clusters.clone(),
            sampler,
            disk: self.disk,
            normaliser,
            val: Arc::new(val),
            train,
            progress: self.progress,
        })
    }

    /// Four training patches of epoch 0, raw, with their masks.
    pub fn plot(&self) -> Figure {
        let cut = || -> Result<Figure> {
            let mut plan = self.sampler.plan(crate::patches::sky_nside(&self.sky)?)?;
            plan.truncate(4);
            Ok(self.sampler.cut(&self.sky, plan)?.labels(self.disk)?.plot(4))
        };
        Figure::or_failed("Sampled::plot", cut())
    }
}

/// Training and validation data, ready for [`Model::fit`] (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Data {
    sky: Sky,
    tiling: Tiling,
    clusters: Catalog,
    sampler: PatchSampler,
    disk: Disk,
    normaliser: Normaliser,
    val: Arc<Dataset>,
    train: Augmented,
    progress: bool,
}

impl Data {
    /// The sky the patches are cut from.
    pub fn sky(&self) -> &Sky {
        &self.sky
    }
    /// The tiling.
    pub fn tiling(&self) -> &Tiling {
        &self.tiling
    }
    /// The clusters that seed training and validation patches.
    pub fn clusters(&self) -> &Catalog {
        &self.clusters
    }
    /// The normaliser fitted on the training tiles.
    pub fn normaliser(&self) -> &Normaliser {
        &self.normaliser
    }
    /// The bands, in the order the network sees them.
    pub fn bands(&self) -> &[Band] {
        self.normaliser.bands()
    }
    /// The label rule.
    pub fn disk(&self) -> Disk {
        self.disk
    }
    /// The validation patches (normalised, labelled), cut once.
    pub fn val(&self) -> &Dataset {
        &self.val
    }
    /// The training stream: patches cut afresh each epoch.
    pub fn train(&self) -> &Augmented {
        &self.train
    }
    /// The sampler settings every split is cut with (its kind is the training one).
    pub fn sampler(&self) -> &PatchSampler {
        &self.sampler
    }
    /// One row per split: `split`, `patches` (per epoch for training), `clusters` (seeding them).
    pub fn df(&self) -> Result<DataFrame> {
        use crate::train::TrainData;
        let seeds = |split: Split| -> Result<u32> {
            let tiled = self.clusters.with_tiles(&self.tiling)?;
            Ok(tiled.column("split")?.str()?.iter().filter(|s| *s == Some(split.name())).count() as u32)
        };
        Ok(df!(
            "split" => [Split::Train.name(), Split::Val.name()],
            "patches" => [self.train.len() as u32, self.val.len() as u32],
            "clusters" => [seeds(Split::Train)?, seeds(Split::Val)?],
        )?)
    }
    /// Six validation patches, each band and its mask.
    pub fn plot(&self) -> Figure {
        self.val.plot(6)
    }
}

impl Model {
    /// Train on `data`: its training stream, validated on its validation set after every epoch. The
    /// trained model keeps `data`'s normaliser, bands and label rule, so it scans raw patches itself.
    pub fn fit(self, data: &Data) -> Result<Trained> {
        let trained = self.normaliser(data.normaliser.clone()).fit_on(&data.train, &data.val)?;
        Ok(trained.with_inputs(data.sampler.patch_size(), data.sampler.pixel_size(), data.disk))
    }
}

impl Model {
    /// The model saved in `dir` if it was trained with these settings on data like `data` (the same
    /// bands, normaliser, patch geometry and label rule); otherwise train it on `data` and save it
    /// there. A notebook that needs the model of an earlier notebook calls this with the same chain.
    pub fn fit_or_load(self, data: &Data, dir: impl AsRef<std::path::Path>) -> Result<Trained> {
        let dir = dir.as_ref();
        let why = match Trained::load_on(dir, &self.device) {
            Ok(saved) => match self.differences(&saved, data) {
                None => {
                    eprintln!("model: loaded {} (trained with these settings on this data)", dir.display());
                    return Ok(saved);
                }
                Some(d) => format!("the model saved there differs ({d})"),
            },
            Err(_) if !dir.join(crate::train::MODEL_FILE).exists() => "no model is saved there".to_string(),
            Err(e) => format!("the model saved there cannot be read ({e})"),
        };
        eprintln!("model: training, then saving to {}: {why}", dir.display());
        let trained = self.fit(data)?;
        trained.save(dir)?;
        Ok(trained)
    }

    /// What differs between `saved` and what this model would be trained into on `data`, or `None`.
    fn differences(&self, saved: &Trained, data: &Data) -> Option<String> {
        let mut config = self.config().clone();
        config.net.bands = data.bands().len();
        let inputs = crate::train::Inputs {
            size: data.sampler.patch_size(),
            pixel_arcmin: data.sampler.pixel_size(),
            disk: data.disk,
        };
        let mut d = Vec::new();
        if saved.config() != &config {
            d.push("training settings");
        }
        if saved.normaliser() != Some(&data.normaliser) {
            d.push("normaliser or bands");
        }
        if saved.inputs() != Some(&inputs) {
            d.push("patch geometry or label rule");
        }
        (!d.is_empty()).then(|| d.join(", "))
    }
}

/// Which tiles a [`Trained::scan_cover`] covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    tiles: Option<Vec<u32>>,
    full_sky: bool,
    shard: Option<(u32, u32)>,
}

impl Cover {
    /// The test tiles of the data's tiling (what [`Trained::scan`] covers).
    pub fn test() -> Self {
        Cover { tiles: None, full_sky: false, shard: None }
    }
    /// The given tiles (0…47), each scanned once.
    pub fn tiles(tiles: &[u32]) -> Self {
        Cover { tiles: Some(tiles.to_vec()), full_sky: false, shard: None }
    }
    /// All 48 tiles.
    pub fn full_sky() -> Self {
        Cover { tiles: None, full_sky: true, shard: None }
    }
    /// Keep only the tiles t with t mod `count` = `index` (a Slurm array task's share).
    pub fn shard(mut self, index: u32, count: u32) -> Self {
        self.shard = Some((index, count));
        self
    }

    /// The shard (index, count), if one was set.
    pub fn shard_index(&self) -> Option<(u32, u32)> {
        self.shard
    }

    /// The tiles to scan, each once, in order.
    pub fn resolve(&self, tiling: &Tiling) -> Result<Vec<u32>> {
        if let Some((i, n)) = self.shard {
            ensure_param!(n > 0 && i < n, "shard", "shard {i}/{n}: need 0 ≤ i < N");
        }
        let listed = match (&self.tiles, self.full_sky) {
            (Some(t), _) => t.clone(),
            (None, true) => (0..N_TILES).collect(),
            (None, false) => tiling.tiles(Split::Test),
        };
        let mut tiles: Vec<u32> = Vec::with_capacity(listed.len());
        for t in listed {
            ensure_param!(t < N_TILES, "scan tiles", "tile {t} does not exist; tiles are 0…47");
            if !tiles.contains(&t) && self.shard.is_none_or(|(i, n)| t % n == i) {
                tiles.push(t);
            }
        }
        Ok(tiles)
    }
}

impl Trained {
    /// The training history, one row per epoch (see [`Trained::history`]).
    pub fn df(&self) -> DataFrame {
        self.history().clone()
    }

    /// Scan the test tiles of `data`'s tiling: see [`Trained::scan_cover`].
    pub fn scan(&self, data: &Data) -> Result<Scan> {
        self.scan_cover(data, Cover::test())
    }

    /// Cut the grid of overlapping patches over `cover`'s tiles from `data`'s sky, tile by tile,
    /// normalise them with this model's own normaliser and compute the probability maps. The
    /// patches' bands must be this model's, in its order.
    pub fn scan_cover(&self, data: &Data, cover: Cover) -> Result<Scan> {
        self.scan_source(&data.source(), cover)
    }

    /// [`Trained::scan_cover`] straight from sampled patches: no normaliser is fitted and no
    /// validation set is cut, since the model brings its own normaliser.
    pub fn scan_sampled(&self, sampled: &Sampled, cover: Cover) -> Result<Scan> {
        self.scan_source(&sampled.source(), cover)
    }

    fn scan_source(&self, src: &Source, cover: Cover) -> Result<Scan> {
        self.check_bands(&src.bands)?;
        let tiles = cover.resolve(src.tiling)?;
        let sampler = self.scan_sampler(src.sampler)?;
        let (mut probs, mut info, mut examples): (Vec<f32>, Vec<_>, Option<Examples>) = (vec![], vec![], None);
        for (k, &tile) in tiles.iter().enumerate() {
            if src.progress {
                eprintln!("scan: tile {tile} ({}/{}): cutting, normalising, predicting…", k + 1, tiles.len());
            }
            let mut cut = sampler.for_scan(&[tile]).extract(src.sky)?;
            // Patch ids restart at 0 in each tile's plan: offset them so they stay unique.
            cut.offset_ids(info.len() as u64);
            let normalised = self.inputs_normaliser()?.apply(cut)?;
            let p = self.predict(&normalised, PREDICT_BATCH)?;
            examples = Some(keep_confident(examples, &normalised, &p, EXAMPLES)?);
            probs.extend_from_slice(p.probs());
            info.extend_from_slice(p.info());
        }
        Ok(Scan {
            sky: src.sky.clone(),
            tiling: src.tiling.clone(),
            disk: src.disk,
            tiles,
            predictions: Arc::new(Predictions::from_parts(probs, sampler.patch_size() as usize, info)?),
            examples,
        })
    }
}

/// What a scan needs from [`Data`] or [`Sampled`].
struct Source<'a> {
    sky: &'a Sky,
    tiling: &'a Tiling,
    sampler: &'a PatchSampler,
    disk: Disk,
    bands: Vec<Band>,
    progress: bool,
}

impl Data {
    fn source(&self) -> Source<'_> {
        let bands = self.bands().to_vec();
        Source {
            sky: &self.sky,
            tiling: &self.tiling,
            sampler: &self.sampler,
            disk: self.disk,
            bands,
            progress: self.progress,
        }
    }
}

impl Sampled {
    fn source(&self) -> Source<'_> {
        let bands = self.sampler.bands_or(&self.sky);
        Source {
            sky: &self.sky,
            tiling: &self.tiling,
            sampler: &self.sampler,
            disk: self.disk,
            bands,
            progress: self.progress,
        }
    }
}

type Examples = (Patches, Predictions);

/// The `keep` most confident of the kept examples and a new tile's patches.
pub(crate) fn keep_confident(
    kept: Option<Examples>,
    patches: &Patches,
    probs: &Predictions,
    keep: usize,
) -> Result<Examples> {
    let idx = probs.most_confident(keep);
    let (p, q) = (patches.select(&idx)?, probs.select(&idx)?);
    let Some((kp, kq)) = kept else { return Ok((p, q)) };
    let both = kp.stack(&p)?;
    let both_q = kq.stack(&q)?;
    let idx = both_q.most_confident(keep);
    Ok((both.select(&idx)?, both_q.select(&idx)?))
}

/// Probability maps of the scanned tiles (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Scan {
    sky: Sky,
    tiling: Tiling,
    disk: Disk,
    tiles: Vec<u32>,
    predictions: Arc<Predictions>,
    examples: Option<Examples>,
}

impl Scan {
    /// The probability maps and their patches' metadata.
    pub fn predictions(&self) -> &Predictions {
        &self.predictions
    }
    /// The tiles scanned.
    pub fn tiles(&self) -> &[u32] {
        &self.tiles
    }
    /// The most confident patches (normalised) and their maps, for figures.
    pub fn examples(&self) -> Option<&(Patches, Predictions)> {
        self.examples.as_ref()
    }
    /// Detections with the default rule (the params file's thresholds).
    pub fn detect(&self) -> Result<Detected> {
        self.detect_with(Detection::default())
    }
    /// Detections with `rule`: components above its threshold, merged across patches.
    pub fn detect_with(&self, rule: Detection) -> Result<Detected> {
        Ok(Detected {
            sky: self.sky.clone(),
            tiling: self.tiling.clone(),
            disk: self.disk,
            detections: self.predictions.detect(rule)?,
            footprint: Footprint::of(&self.predictions),
            examples: self.examples.clone(),
        })
    }
    /// Purity–completeness against the synthetic sky's `truth`, one row per probability threshold.
    pub fn curve(&self, thresholds: &[f32], truth: &Truth) -> Result<DataFrame> {
        Evaluator::default().curve(&self.predictions, Detection::default(), thresholds, &truth.clusters)
    }
    /// One row per scanned patch: its metadata and `max_prob`.
    pub fn df(&self) -> Result<DataFrame> {
        self.predictions.df()
    }
    /// The most confident patch: y-map (or first band), true mask, probability, detections.
    pub fn plot(&self) -> Figure {
        let made = self.predictions.detect(Detection::default()).and_then(|d| panel(&self.examples, self.disk, d.df()));
        Figure::or_failed("Scan::plot", made)
    }
}

/// The prediction panel of the most confident example patch.
fn panel(examples: &Option<Examples>, disk: Disk, detections: &DataFrame) -> Result<Figure> {
    let (patches, probs) =
        examples.as_ref().ok_or_else(|| Error::param("scan", "no patch was scanned: nothing to show"))?;
    let masks = crate::labels::masks(patches, disk)?;
    crate::plot::prediction(patches, &masks, probs, detections, 0).result()
}

/// Merged detections of a scan (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Detected {
    sky: Sky,
    tiling: Tiling,
    disk: Disk,
    detections: Detections,
    footprint: Footprint,
    examples: Option<Examples>,
}

impl Detected {
    /// The detections.
    pub fn detections(&self) -> &Detections {
        &self.detections
    }
    /// The scanned patches.
    pub fn footprint(&self) -> &Footprint {
        &self.footprint
    }
    /// Cross-match with `cats`' cluster catalogs (PSZ2 with and without z, MCXC, RM50, RM30) at the
    /// default radii, flagging the contaminants set with [`Catalogs::with_contaminants`]: PCCS2 and
    /// PGCC on the Planck sky, [`Truth::contaminants`] on the synthetic sky.
    pub fn crossmatch(&self, cats: &Catalogs) -> Result<Matched> {
        self.crossmatch_with(cats, CrossMatch::default())
    }
    /// [`Detected::crossmatch`] with other radii.
    pub fn crossmatch_with(&self, cats: &Catalogs, radii: CrossMatch) -> Result<Matched> {
        ensure_param!(
            !cats.contaminants().is_empty(),
            "crossmatch contaminants",
            "no contaminant catalogs are set: on the synthetic sky use its sources, \
             `cats.with_contaminants(truth.contaminants()?)`; on the Planck sky load PCCS2 and PGCC, \
             `cats.with_contaminants(xcluster::catalog::contaminants(dir, &bands)?)`"
        );
        let refs: Vec<&Catalog> = cats.contaminants().iter().collect();
        let matched = radii.run_on(&self.detections, &cats.known()?, &refs, &self.footprint)?;
        Ok(matched.with_origin(crate::crossmatch::Origin {
            sky: self.sky.clone(),
            tiling: self.tiling.clone(),
            disk: self.disk,
            detections: self.detections.clone(),
            footprint: self.footprint.clone(),
            examples: self.examples.clone(),
        }))
    }
    /// One row per detection (see [`Detections::df`]).
    pub fn df(&self) -> DataFrame {
        self.detections.df().clone()
    }
    /// The most confident patch with its detections.
    pub fn plot(&self) -> Figure {
        Figure::or_failed("Detected::plot", panel(&self.examples, self.disk, self.detections.df()))
    }
}

impl Matched {
    /// One row per detection with its matches (see [`Matched::detections`]).
    pub fn df(&self) -> DataFrame {
        self.detections().clone()
    }

    /// Purity and completeness of the detections against the synthetic sky's `truth`, on the scanned
    /// patches; an error for a table not made by [`Detected::crossmatch`].
    pub fn evaluate(&self, truth: &Truth) -> Result<Evaluation> {
        let origin = self.origin().ok_or_else(|| {
            Error::param("evaluate", "these matches do not come from a scan: evaluate with `Evaluator` instead")
        })?;
        Evaluator::default().evaluate_on(&origin.detections, &truth.clusters, &origin.footprint)
    }
}

impl Evaluation {
    /// Purity, completeness and false detections per deg² (see [`Evaluation::summary`]).
    pub fn df(&self) -> DataFrame {
        self.summary().clone()
    }
    /// Completeness against M500.
    pub fn plot(&self) -> Figure {
        self.plot_completeness("m500")
    }
}

mod show {
    //! The chain's values as notebook cells.
    use super::*;
    use crate::plot::{card, card_or_error, NotebookDisplay};

    fn bands(b: &[Band]) -> String {
        crate::plot::summary::band_list(b)
    }

    impl NotebookDisplay for Tiled {
        fn to_html(&self) -> String {
            let list = |s: Split| format!("{:?}", self.tiling.tiles(s));
            let rows = [
                ("bands", bands(&self.sky.bands())),
                ("nside", self.sky.nside().map_or_else(|| "–".into(), |n| n.to_string())),
                ("train tiles", self.tiling.tiles(Split::Train).len().to_string()),
                ("val tiles", list(Split::Val)),
                ("test tiles", list(Split::Test)),
            ];
            card("Tiled sky", &rows, None)
        }
    }

    impl NotebookDisplay for Sampled {
        fn to_html(&self) -> String {
            let s = &self.sampler;
            let rows = [
                ("clusters", format!("{} ({} rows)", self.clusters.name(), self.clusters.len())),
                ("bands", bands(&s.bands_or(&self.sky))),
                ("patch", format!("{0} × {0} px of {1}′", s.patch_size(), s.pixel_size())),
                ("labels", format!("{:?}", self.disk)),
            ];
            card("Sampled", &rows, None)
        }
    }

    impl NotebookDisplay for Data {
        fn to_html(&self) -> String {
            let rows = vec![
                ("bands", bands(self.bands())),
                ("patch", format!("{0} × {0} px of {1}′", self.sampler.patch_size(), self.sampler.pixel_size())),
                ("labels", format!("{:?}", self.disk)),
                (
                    "normaliser σ",
                    self.normaliser.sigma().iter().map(|s| format!("{s:.3e}")).collect::<Vec<_>>().join(", "),
                ),
            ];
            card_or_error("Data", self.df().map(|df| (rows, Some(df))))
        }
    }

    impl NotebookDisplay for Scan {
        fn to_html(&self) -> String {
            let peaks = self.predictions.peaks();
            let rows = [
                ("tiles", format!("{:?}", self.tiles)),
                ("patches", self.predictions.len().to_string()),
                ("patches with a pixel ≥ 0.9", peaks.iter().filter(|&&p| p >= 0.9).count().to_string()),
            ];
            card("Scan", &rows, None)
        }
    }

    impl NotebookDisplay for Detected {
        fn to_html(&self) -> String {
            let rows = [("detections", self.detections.len().to_string())];
            card("Detected", &rows, Some(self.detections.df()))
        }
    }
}
