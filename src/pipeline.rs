//! The command line's jobs: the params file turned into the [`chain`](crate::chain)'s values, with
//! every file and figure written.
//!
//! In: [`Params`]. Out: a [`Job`] whose methods are the CLI's subcommands (`catalogs`, `dataset`,
//! `train`, `predict`, `mmf`, `run`), each saying on stderr what it does (step lines, which also show where
//! progress bars cannot, e.g. a Slurm job's log) and returning what it made and wrote.

use chrono::Local;
use polars::prelude::*;
use polars_io::prelude::*;

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::Catalogs;
use crate::chain::{keep_confident, Cover, Data, Sampled, Scan};
use crate::compare::{Comparison, HeadToHead};
use crate::crossmatch::{CrossMatch, Matched};
use crate::detect::{Detection, Detections, Sightings};
use crate::error::{ensure_param, Error, Result};
use crate::evaluate::Evaluation;
use crate::labels::Disk;
use crate::mmf::{Mmf, MmfDetections, SourceMask};
use crate::normalise::Normaliser;
use crate::output::{write_csv, write_parquet, OutputDirs};
use crate::params::{Params, SkySource};
use crate::patches::PatchInfo;
use crate::sky::{Band, Sky};
use crate::synthetic::Truth;
use crate::tiles::Split;
use crate::train::{default_device, Device, Model, Trained};

pub use crate::chain::EXAMPLES;

/// A run of the params file: its output folders and catalogs, and the stages as methods.
#[derive(Debug, Clone)]
pub struct Job {
    params: Params,
    dirs: OutputDirs,
    cats: Catalogs,
    device: Device,
}

impl Job {
    /// Validate `params`, create the output folders and load the catalogs. Networks train and run on
    /// [`default_device`] unless [`Job::device`] says otherwise.
    pub fn new(params: &Params) -> Result<Job> {
        params.validate()?;
        let dirs = OutputDirs::resolve(params, Local::now().date_naive())?;
        dirs.create()?;
        let cats = Catalogs::from_params(params)?;
        Ok(Job { params: params.clone(), dirs, cats, device: default_device() })
    }

    /// Train, resume and scan on `device` (the CLI's `--device`; [`crate::train::device_named`]).
    pub fn device(mut self, device: Device) -> Job {
        self.device = device;
        self
    }

    /// Error at once, before the sky is built, when `device` is a GPU this machine cannot reach.
    pub fn check_device(&self) -> Result<()> {
        crate::model::check_driver(&self.device)
    }

    /// The catalogs with the contaminants a cross-match flags detections with: on the Planck sky
    /// PCCS2 and PGCC, on the synthetic sky its own injected sources (`truth`).
    pub fn with_contaminants(&self, truth: Option<&Truth>) -> Result<Catalogs> {
        let p = &self.params;
        let contaminants = match (p.sky, truth) {
            (SkySource::Planck, _) => crate::catalog::contaminants(p.path.join(&p.catalog_path), &p.bands)?,
            (SkySource::Synthetic, Some(truth)) => truth.contaminants()?,
            (SkySource::Synthetic, None) => {
                return Err(Error::param("sky", "the synthetic sky's contaminants are its truth's sources: none given"))
            }
        };
        Ok(self.cats.clone().with_contaminants(contaminants))
    }

    /// The output folders.
    pub fn dirs(&self) -> &OutputDirs {
        &self.dirs
    }
    /// The catalogs.
    pub fn catalogs(&self) -> &Catalogs {
        &self.cats
    }
    /// The folder of the trained `params.model` and its checkpoints: `models/<model>/`.
    pub fn model_dir(&self) -> PathBuf {
        self.dirs.models.join(self.params.model.name())
    }

    /// The catalog stage: select `params.dataset`, assign tiles and splits, and write
    /// `files/catalogs.csv` and `files/dataset_clusters.csv`.
    pub fn catalog_stage(&self) -> Result<CatalogStage> {
        let files = vec![self.dirs.files.join("catalogs.csv"), self.dirs.files.join("dataset_clusters.csv")];
        let summary = self.cats.summary()?;
        write_csv(&files[0], &summary)?;
        let clusters = self.cats.dataset(self.params.dataset)?.with_tiles(&self.params.tiling()?)?;
        write_csv(&files[1], &clusters)?;
        Ok(CatalogStage { summary, clusters, files })
    }

    /// The maps of [`Job::sky_and_truth`].
    pub fn sky(&self) -> Result<Sky> {
        Ok(self.sky_and_truth()?.0)
    }

    /// [`Sky::load`], saying what is loaded and how long it took.
    pub fn sky_and_truth(&self) -> Result<(Sky, Option<Truth>)> {
        let p = &self.params;
        let t = std::time::Instant::now();
        let what = match p.sky {
            SkySource::Synthetic => format!("synthesising the Planck-like sky, nside {}, seed {}", p.nside, p.seed),
            SkySource::Planck => format!("reading the Planck maps from {}", p.path.join(&p.planck_path).display()),
        };
        eprintln!("sky: {what} ({} bands)…", p.sky_bands().len());
        let loaded = Sky::load(p)?;
        eprintln!("sky: ready in {:.1} s", t.elapsed().as_secs_f64());
        Ok(loaded)
    }

    /// The patches of `params.dataset`'s clusters on `sky`, cut as the params say.
    pub fn sampled(&self, sky: &Sky) -> Result<Sampled> {
        let p = &self.params;
        let clusters = self.cats.dataset(p.dataset)?;
        Ok(sky
            .tiles(p.tiling()?)
            .patches(&clusters)
            .bands(&p.bands)
            .sampler(|s| s.params(p))
            .disk(Disk::from_params(&p.disk_radius, p.seed))
            .progress(true))
    }

    /// Training data: the normaliser fitted on the training tiles, the validation set, the stream.
    pub fn data(&self, sky: &Sky) -> Result<Data> {
        self.sampled(sky)?.normalise(Normaliser::from_params(&self.params))
    }

    /// The dataset stage: fit the normaliser on the training tiles, cut the training and validation
    /// patches (`loops` per cluster) and the scan of the test tiles, normalise and label them, and
    /// write each split under `files/`. `shard` = (i, N) keeps only the tiles t with t mod N = i; σ
    /// comes from all training tiles, so shards agree.
    pub fn dataset_stage(&self, sky: &Sky, shard: Option<(u32, u32)>) -> Result<DatasetStage> {
        if let Some((i, n)) = shard {
            ensure_param!(n > 0 && i < n, "shard", "shard {i}/{n}: need 0 ≤ i < N");
        }
        let p = &self.params;
        let sampled = self.sampled(sky)?;
        let tiling = p.tiling()?;
        let normaliser = Normaliser::from_params(p).fit_sky(sky, &tiling, &p.bands)?;
        let mut files = vec![self.dirs.files.join("normaliser.json")];
        normaliser.save(&files[0])?;
        let suffix = shard.map_or(String::new(), |(i, n)| format!(".shard-{i}-of-{n}"));
        let (mut names, mut counts, mut seen, mut labelled) = (vec![], vec![], vec![], vec![]);
        let test_tiles = tiling.tiles(Split::Test);
        for split in [Split::Train, Split::Val, Split::Test] {
            let base = sampled.settings().clone().bands(&p.bands);
            let sampler = match split {
                Split::Test => base.for_scan(&test_tiles),
                _ => base.for_split(split),
            };
            let mut sampler = sampler.progress(bar(split.name()));
            if let Some((i, n)) = shard {
                sampler = sampler.shard(i, n);
            }
            eprintln!("{}: planning, cutting, normalising and labelling patches…", split.name());
            let name = format!("{}{suffix}", split.name());
            let written =
                crate::dataset::write_split(&self.dirs.files, &name, &sampler, sky, &normaliser, sampled.label_rule())?;
            eprintln!("{}: {} patches written to {}", split.name(), written.patches, written.npz.display());
            files.extend([written.npz, written.parquet]);
            names.push(split.name());
            counts.push(written.patches as u32);
            seen.push(written.clusters_seen as u32);
            labelled.push(written.labelled_fraction);
        }
        let summary = df!(
            "split" => names,
            "patches" => counts,
            "clusters_seen" => seen,
            "labelled_pixels" => labelled,
        )?;
        Ok(DatasetStage { normaliser, summary, files })
    }

    /// Train `params.model` on `data`, checkpointing every epoch under `models/<model>/`, and save the
    /// best network there with its figures.
    pub fn train(&self, data: &Data) -> Result<TrainStage> {
        let dir = self.model_dir();
        eprintln!(
            "train: {} on {} training patches per epoch (cut afresh each epoch), {} validation patches",
            self.params.model.name(),
            crate::train::TrainData::len(data.train()),
            data.val().len()
        );
        let trained = Model::from_params(&self.params)?.device(self.device.clone()).checkpoint(&dir).fit(data)?;
        self.trained_stage(trained, data)
    }

    /// Continue the interrupted, finished or early-stopped training in `models/<model>/` where it was.
    pub fn resume(&self, data: &Data) -> Result<TrainStage> {
        let dir = self.model_dir();
        eprintln!("train: resuming {}", dir.display());
        let trained = Model::resume_on(&dir, &self.device, data.train(), data.val())?;
        let trained = trained.with_inputs(data.sampler().patch_size(), data.sampler().pixel_size(), data.disk());
        self.trained_stage(trained, data)
    }

    /// Error, before anything expensive, unless `models/<model>/` can be resumed with these params.
    pub fn check_resume(&self) -> Result<()> {
        crate::train::check_resume(&self.model_dir(), &self.params)
    }

    fn trained_stage(&self, trained: Trained, data: &Data) -> Result<TrainStage> {
        let dir = self.model_dir();
        trained.save(&dir)?;
        let mut figures = Vec::new();
        if self.params.plot_dataset {
            figures.push(data.plot().save(self.dirs.figures.join("dataset_val.png"))?);
        }
        figures.push(trained.plot().save(self.dirs.figures.join("training.png"))?);
        Ok(TrainStage { trained, dir, figures })
    }

    /// The model trained by `xcluster train` with these params.
    pub fn trained(&self) -> Result<Trained> {
        let dir = self.model_dir();
        ensure_param!(
            dir.join(crate::train::MODEL_FILE).exists(),
            "predict",
            "no trained {} model in {}: run `xcluster train` first (same params)",
            self.params.model.name(),
            dir.display()
        );
        let trained = Trained::load_on(&dir, &self.device)?;
        trained.normaliser().ok_or_else(|| {
            Error::model(&dir, "no normaliser.json next to the weights: retrain with `xcluster train`")
        })?;
        Ok(trained)
    }

    /// Scan `cover` with `trained`, one tile at a time (memory stays at one tile's maps), and write
    /// `files/sightings[.shard-i-of-N].parquet`; without a shard, also merge them into
    /// `files/detections.{parquet,csv}`.
    pub fn predict(&self, trained: &Trained, sampled: &Sampled, cover: Cover) -> Result<PredictStage> {
        let shard = cover.shard_index();
        let tiles = cover.resolve(&self.params.tiling()?)?;
        let rule = Detection::from_params(&self.params);
        let (mut sightings, mut infos, mut examples) = (Sightings::default(), Vec::<PatchInfo>::new(), None);
        let quiet = sampled.clone().progress(false);
        for (k, &tile) in tiles.iter().enumerate() {
            eprintln!("predict: tile {tile} ({}/{}): cutting, normalising, predicting, detecting…", k + 1, tiles.len());
            let scan = trained.scan_sampled(&quiet, Cover::tiles(&[tile]))?;
            // Each scan's patch ids start at 0: offset them so sightings of different tiles stay apart.
            let maps = scan.predictions().clone().offset_ids(infos.len() as u64);
            sightings.extend(maps.sightings(rule)?);
            infos.extend_from_slice(maps.info());
            if let Some((p, q)) = scan.examples() {
                examples = Some(keep_confident(examples, p, q, EXAMPLES)?);
            }
        }
        let suffix = shard.map_or(String::new(), |(i, n)| format!(".shard-{i}-of-{n}"));
        let path = self.dirs.files.join(format!("sightings{suffix}.parquet"));
        write_parquet(&path, &mut sightings.df()?)?;
        let mut files = vec![path];
        let detections = match shard {
            Some(_) => None,
            None => {
                let det = Detections::from_sightings(&sightings, rule.merge_radius_arcmin)?;
                files.extend(write_detections(&det, &self.dirs)?);
                Some(det)
            }
        };
        Ok(PredictStage { detections, sightings, patches: infos.len(), infos, files, examples })
    }

    /// Every `files/<stem>.shard-*.parquet`, stacked in file-name order; `command` names the merge
    /// in the error when there is none.
    fn stacked_shards(&self, stem: &str, command: &str) -> Result<DataFrame> {
        let files = &self.dirs.files;
        let prefix = format!("{stem}.shard-");
        let mut shards: Vec<PathBuf> = std::fs::read_dir(files)
            .map_err(|e| Error::io(files, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
            .collect();
        shards.sort();
        ensure_param!(!shards.is_empty(), command, "no {prefix}*.parquet in {}", files.display());
        let mut parts = Vec::with_capacity(shards.len());
        for p in &shards {
            let file = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
            parts.push(ParquetReader::new(file).finish()?.lazy());
        }
        Ok(concat(parts, UnionArgs::default())?.collect()?)
    }

    /// Stack every `files/sightings.shard-*.parquet` and merge them into `files/detections.{parquet,csv}`.
    pub fn merge_shards(&self) -> Result<(Detections, Vec<PathBuf>)> {
        let sightings = Sightings::from_df(&self.stacked_shards("sightings", "predict --merge")?)?;
        let det = Detections::from_sightings(&sightings, Detection::from_params(&self.params).merge_radius_arcmin)?;
        let files = write_detections(&det, &self.dirs)?;
        Ok((det, files))
    }

    /// The params' matched filter ([`Mmf::from_params`]) masking `mmf_source_mask_arcmin` around
    /// every source of `cats`' contaminants ([`Job::with_contaminants`]).
    pub fn mmf_settings(&self, cats: &Catalogs) -> Result<Mmf> {
        let mask = SourceMask::of_catalogs(cats.contaminants(), self.params.mmf_source_mask_arcmin)?;
        Ok(Mmf::from_params(&self.params).mask_sources(mask))
    }

    /// Run the matched filter of [`Job::mmf_settings`] over `cover`'s tiles of `sky` and
    /// write `files/mmf_sightings[.shard-i-of-N].parquet`; without a shard, also
    /// `files/mmf_detections.{parquet,csv}` (the sightings merged). A shard's sightings are merged
    /// with the others' by [`Job::merge_mmf_shards`]; patch ids are the same in every run, so N
    /// shards merged equal one unsharded run.
    pub fn mmf(&self, sky: &Sky, cats: &Catalogs, cover: Cover) -> Result<MmfStage> {
        let shard = cover.shard_index();
        let tiles = cover.resolve(&self.params.tiling()?)?;
        let mmf = self.mmf_settings(cats)?;
        let t = std::time::Instant::now();
        eprintln!(
            "mmf: {} bands {:?}, S/N ≥ {}, {} sources masked within {}′, tiles {tiles:?}",
            mmf.bands.len(),
            mmf.bands,
            mmf.snr_threshold,
            mmf.source_mask().len(),
            mmf.source_mask().radius_arcmin()
        );
        let found = match tiles.is_empty() {
            true => MmfDetections::none()?,
            false => mmf.run(sky, &tiles)?,
        };
        let seconds = t.elapsed().as_secs_f64();
        let suffix = shard.map_or(String::new(), |(i, n)| format!(".shard-{i}-of-{n}"));
        let path = self.dirs.files.join(format!("mmf_sightings{suffix}.parquet"));
        write_parquet(&path, &mut found.sightings().clone())?;
        let mut files = vec![path];
        let detections = match shard {
            Some(_) => None,
            None => {
                files.extend(write_mmf_detections(&found, &self.dirs)?);
                Some(found.clone())
            }
        };
        Ok(MmfStage { tiles, sightings: found.sightings().clone(), detections, seconds, files })
    }

    /// Stack every `files/mmf_sightings.shard-*.parquet` and merge them into
    /// `files/mmf_detections.{parquet,csv}` (friends-of-friends at `mmf_merge_radius_arcmin`).
    pub fn merge_mmf_shards(&self) -> Result<(MmfDetections, Vec<PathBuf>)> {
        let sightings = self.stacked_shards("mmf_sightings", "mmf --merge")?;
        let det = MmfDetections::from_sightings(&sightings, self.params.mmf_merge_radius_arcmin)?;
        let files = write_mmf_detections(&det, &self.dirs)?;
        Ok((det, files))
    }

    /// The head to head of the U-Net's `matched` detections (from `scan`) with the params' matched
    /// filter on the same footprint and truth ([`HeadToHead::compare`]); writes `files/comparison*.csv`,
    /// `files/mmf_evaluation.csv`, `files/mmf_sightings.parquet`, `files/mmf_detections.{parquet,csv}`
    /// (the filter on the scanned tiles, as `xcluster mmf` gives them), `figures/purity_completeness.png`,
    /// `figures/completeness_equal_purity.png` (completeness vs M500 of the three at equal purity)
    /// and `figures/mmf_snr_patch.png` (the S/N map around the filter's most significant detection).
    pub fn compare(
        &self,
        scan: &Scan,
        matched: &Matched,
        truth: &Truth,
        cats: &Catalogs,
    ) -> Result<(Comparison, Vec<PathBuf>, Vec<PathBuf>)> {
        let mmf = self.mmf_settings(cats)?;
        let vs = self.head_to_head(&mmf, scan, matched, truth, "")?;
        let mut files = vs.write(&self.dirs.files)?;
        let path = self.dirs.files.join("mmf_sightings.parquet");
        write_parquet(&path, &mut vs.mmf_detections().sightings().clone())?;
        files.push(path);
        files.extend(write_mmf_detections(vs.mmf_detections(), &self.dirs)?);
        let mut figures = Vec::new();
        // A tiny sky may leave no threshold with both a purity and a completeness: nothing to draw.
        match vs.plot().result() {
            Ok(fig) => figures.push(fig.save(self.dirs.figures.join("purity_completeness.png"))?),
            Err(e) => eprintln!("compare: no purity–completeness figure: {e}"),
        }
        match vs.plot_equal_purity("m500").result() {
            Ok(fig) => figures.push(fig.save(self.dirs.figures.join("completeness_equal_purity.png"))?),
            Err(e) => eprintln!("compare: no completeness figure at equal purity: {e}"),
        }
        // The S/N map of the patch around the most significant detection of the filter.
        let best = vs.mmf_on_footprint().df();
        if let (Some(origin), true) = (matched.origin(), best.height() > 0) {
            let at = |c: &str| best.column(c).ok().and_then(|c| c.f64().ok()?.get(0));
            if let (Some(l), Some(b)) = (at("glon"), at("glat")) {
                let fig = mmf.plot_patch(&origin.sky, l, b);
                figures.push(fig.save(self.dirs.figures.join("mmf_snr_patch.png"))?);
            }
        }
        Ok((vs, files, figures))
    }

    /// [`HeadToHead::compare`] of the scan's detections with `mmf`, the U-Net's curve swept with the
    /// params' detection rule, saying how long it took (`what` names the run on stderr).
    fn head_to_head(&self, mmf: &Mmf, scan: &Scan, matched: &Matched, truth: &Truth, what: &str) -> Result<Comparison> {
        let t = std::time::Instant::now();
        let vs = HeadToHead::new(mmf).unet_rule(Detection::from_params(&self.params)).compare(
            matched,
            truth,
            Some(scan.predictions()),
        )?;
        eprintln!("compare{what}: done in {:.1} s", t.elapsed().as_secs_f64());
        Ok(vs)
    }

    /// When the network reads the y-map and the params' filter does not: the head to head again with
    /// the filter on the y-map alone ([`Job::mmf_settings`] on [`Band::YMap`]), the comparison on the
    /// same information; writes `files/comparison_ymap.csv` and `comparison_ymap_equal_purity.csv`.
    pub fn compare_on_ymap(
        &self,
        scan: &Scan,
        matched: &Matched,
        truth: &Truth,
        cats: &Catalogs,
    ) -> Result<Option<(Comparison, Vec<PathBuf>)>> {
        let p = &self.params;
        if !p.bands.contains(&Band::YMap) || p.mmf_bands.contains(&Band::YMap) {
            return Ok(None);
        }
        let mmf = self.mmf_settings(cats)?.bands(&[Band::YMap]);
        let vs = self.head_to_head(&mmf, scan, matched, truth, " (the matched filter on the y-map alone)")?;
        let files = [
            (self.dirs.files.join("comparison_ymap.csv"), vs.table().clone()),
            (self.dirs.files.join("comparison_ymap_equal_purity.csv"), vs.equal_purity_table()?),
        ];
        for (path, df) in &files {
            write_csv(path, df)?;
        }
        Ok(Some((vs, files.into_iter().map(|(p, _)| p).collect())))
    }

    /// Run the whole chain on the params' sky: catalogs, sky, training, the scan of the test tiles with
    /// detection (`files/sightings.parquet`), the cross-match (`files/detections.{parquet,csv}`,
    /// `summary.csv`, `results.txt`), the scanned footprint as a MOC (`files/footprint.moc.fits`)
    /// and, on the synthetic sky, the evaluation against the injected
    /// clusters (`files/evaluation*.csv`, `completeness_*.csv`), with the figures the params ask for;
    /// then the matched filter on the scanned tiles (`files/mmf_sightings.parquet`,
    /// `files/mmf_detections.{parquet,csv}`) and, on the synthetic sky, the head to head of the two
    /// and the combined detector ([`Job::compare`]: `files/comparison*.csv`,
    /// `figures/purity_completeness.png`, `figures/mmf_snr_patch.png`).
    pub fn run(&self) -> Result<RunReport> {
        // Before the sky is built: a GPU this machine cannot reach should not cost minutes first.
        self.check_device()?;
        let p = &self.params;
        let catalogs = self.catalog_stage()?;
        let split_counts = split_counts(&catalogs.clusters)?;
        let (sky, truth) = self.sky_and_truth()?;
        // Read before the long stages, so a missing file stops the run at once.
        let cats = self.with_contaminants(truth.as_ref())?;
        let data = self.data(&sky)?;
        let train = self.train(&data)?;
        eprintln!("scan: the test tiles {:?}", p.tiling()?.tiles(Split::Test));
        let scan = train.trained.scan(&data)?;
        let sightings = scan.predictions().sightings(Detection::from_params(p))?;
        let mut files = catalogs.files;
        let path = self.dirs.files.join("sightings.parquet");
        write_parquet(&path, &mut sightings.df()?)?;
        files.push(path);
        let matched =
            scan.detect_with(Detection::from_params(p))?.crossmatch_with(&cats, CrossMatch::from_params(p))?;
        files.extend(matched.write(&self.dirs.files)?);
        // The scanned sky as an IVOA MOC, to intersect with other surveys' footprints.
        let moc = self.dirs.files.join("footprint.moc.fits");
        matched.footprint_moc(crate::region::FOOTPRINT_DEPTH)?.write_fits(&moc)?;
        files.push(moc);
        let evaluation = match &truth {
            Some(truth) => {
                let e = matched.evaluate(truth)?;
                files.extend(e.write(&self.dirs.files)?);
                Some(e)
            }
            None => None,
        };
        let mut figures = train.figures.clone();
        figures.extend(self.figures(&sky, &scan, &matched, evaluation.as_ref())?);
        // The matched filter on the same tiles, and (with a truth) the head to head.
        let (comparison, comparison_ymap) = match &truth {
            Some(truth) => {
                let (vs, f, fig) = self.compare(&scan, &matched, truth, &cats)?;
                files.extend(f);
                figures.extend(fig);
                let on_y = self.compare_on_ymap(&scan, &matched, truth, &cats)?.map(|(vs, f)| {
                    files.extend(f);
                    vs
                });
                (Some(vs), on_y)
            }
            None => {
                let stage = self.mmf(&sky, &cats, Cover::tiles(scan.tiles()))?;
                files.extend(stage.files);
                (None, None)
            }
        };
        Ok(RunReport {
            dirs: self.dirs.clone(),
            catalogs: catalogs.summary,
            split_counts,
            train,
            patches: scan.predictions().len(),
            sightings,
            matched,
            evaluation,
            comparison,
            comparison_ymap,
            files,
            figures,
        })
    }

    /// The figures of a run, under `figures/`, as the params file's switches ask:
    /// - `plot_dataset`: `tiles.png` (the split) and `sky_<band>.png` (each band with the tiles);
    /// - `plot_prediction`: `prediction.png` (the panel of the most confident scanned patch),
    ///   `detections.png` (all-sky, by match class) and, with a truth, `completeness_<column>.png`;
    /// - `plot_individual_patchs`: `patches/patch_<id>.png`, the panels of the [`EXAMPLES`] most
    ///   confident scanned patches.
    fn figures(
        &self,
        sky: &Sky,
        scan: &Scan,
        matched: &Matched,
        evaluation: Option<&Evaluation>,
    ) -> Result<Vec<PathBuf>> {
        let (p, dir) = (&self.params, &self.dirs.figures);
        let tiling = p.tiling()?;
        let mut written = Vec::new();
        if p.plot_dataset {
            written.push(tiling.plot().save(dir.join("tiles.png"))?);
            for &band in &p.bands {
                written.push(sky.plot(band, &tiling).save(dir.join(format!("sky_{}.png", band.name())))?);
            }
        }
        let panel = |n: usize| -> Result<crate::plot::Figure> {
            let (patches, probs) = scan.examples().ok_or_else(|| Error::param("scan", "no patch was scanned"))?;
            let masks = crate::labels::masks(patches, Disk::from_params(&p.disk_radius, p.seed))?;
            Ok(crate::plot::prediction(patches, &masks, probs, matched.detections(), n))
        };
        if p.plot_prediction {
            written.push(panel(0)?.save(dir.join("prediction.png"))?);
            written.push(matched.plot_on(&tiling).save(dir.join("detections.png"))?);
            // Completeness needs injected clusters on the scanned patches.
            for column in ["m500", "y5r500_arcmin2"] {
                if let Some(e) = evaluation.filter(|e| e.completeness().is_some()) {
                    written.push(e.plot_completeness(column).save(dir.join(format!("completeness_{column}.png")))?);
                }
            }
        }
        if let (true, Some((patches, _))) = (p.plot_individual_patchs, scan.examples()) {
            let dir = dir.join("patches");
            crate::output::create_dir_all(&dir)?;
            for (n, info) in patches.info().iter().enumerate() {
                written.push(panel(n)?.save(dir.join(format!("patch_{}.png", info.id)))?);
            }
        }
        Ok(written)
    }
}

/// Run the whole pipeline: [`Job::run`].
pub fn run(params: &Params) -> Result<RunReport> {
    Job::new(params)?.run()
}

/// What [`Job::run`] produced.
#[derive(Debug)]
pub struct RunReport {
    /// The run's output folders.
    pub dirs: OutputDirs,
    /// One row per built-in catalog: `catalog`, `n`, `with_z`, `with_m500`.
    pub catalogs: DataFrame,
    /// Clusters of `params.dataset` per split: `split`, `clusters`.
    pub split_counts: DataFrame,
    /// The training stage: the best network and its history.
    pub train: TrainStage,
    /// Patches scanned on the test tiles.
    pub patches: usize,
    /// Sightings (components per patch, before merging) of the test tiles.
    pub sightings: Sightings,
    /// Detections cross-matched with the catalogs, and the per-catalog summary.
    pub matched: Matched,
    /// Purity and completeness against the injected clusters (synthetic sky only).
    pub evaluation: Option<Evaluation>,
    /// The U-Net against the matched filter and the combined detector (synthetic sky only; on a
    /// real sky the filter's detections are only written).
    pub comparison: Option<Comparison>,
    /// The same with the filter on the y-map alone (synthetic sky, when the network reads the y-map
    /// and `mmf_bands` do not hold it: [`Job::compare_on_ymap`]).
    pub comparison_ymap: Option<Comparison>,
    /// Every file written under `files/`, each once, in the order first written.
    pub files: Vec<PathBuf>,
    /// The figures written under `figures/`.
    pub figures: Vec<PathBuf>,
}

/// What the catalog stage produced (and wrote under `files/`).
#[derive(Debug)]
pub struct CatalogStage {
    /// One row per built-in catalog (`catalogs.csv`).
    pub summary: DataFrame,
    /// The clusters of `params.dataset` with their tile and split (`dataset_clusters.csv`).
    pub clusters: DataFrame,
    /// The files written: `catalogs.csv`, `dataset_clusters.csv`.
    pub files: Vec<PathBuf>,
}

/// What the dataset stage produced.
#[derive(Debug)]
pub struct DatasetStage {
    /// The normaliser fitted on the training tiles (`files/normaliser.json`).
    pub normaliser: Normaliser,
    /// One row per split: `split`, `patches`, `clusters_seen` (distinct clusters on the patches),
    /// `labelled_pixels` (fraction of mask pixels set).
    pub summary: DataFrame,
    /// The files written: `<split>[.shard-i-of-N].{npz,parquet}` and `normaliser.json`.
    pub files: Vec<PathBuf>,
}

/// What the training stage produced.
#[derive(Debug)]
pub struct TrainStage {
    /// The best network, its history, normaliser and input geometry.
    pub trained: Trained,
    /// Where it was saved: `models/<model>/` (weights.bpk, model.json, inputs.json, history.csv,
    /// normaliser.json, params.toml, plus the checkpoints best.bpk, last.bpk, optimizer.bpk and
    /// state.json to resume).
    pub dir: PathBuf,
    /// `figures/training.png`, and `figures/dataset_val.png` with `plot_dataset`.
    pub figures: Vec<PathBuf>,
}

/// What the prediction stage produced.
#[derive(Debug)]
pub struct PredictStage {
    /// Merged detections (None for a shard: its sightings are merged by [`Job::merge_shards`]).
    pub detections: Option<Detections>,
    /// Sightings (components per patch, before merging) of the scanned tiles.
    pub sightings: Sightings,
    /// Patches scanned.
    pub patches: usize,
    /// The scanned patches' metadata (the footprint for cross-matching and evaluation).
    pub infos: Vec<PatchInfo>,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The most confident scanned patches (normalised) and their maps.
    pub examples: Option<(crate::patches::Patches, crate::predict::Predictions)>,
}

/// What [`Job::mmf`] produced.
#[derive(Debug)]
pub struct MmfStage {
    /// The tiles searched (this shard's).
    pub tiles: Vec<u32>,
    /// Every kept peak before merging (see [`MmfDetections::sightings`]).
    pub sightings: DataFrame,
    /// Merged detections (None for a shard: merged by [`Job::merge_mmf_shards`]).
    pub detections: Option<MmfDetections>,
    /// Seconds the search took.
    pub seconds: f64,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// Rows per split of a table with a `split` column: `split`, `clusters`, sorted by split.
pub fn split_counts(clusters: &DataFrame) -> Result<DataFrame> {
    Ok(clusters
        .clone()
        .lazy()
        .group_by([col("split")])
        .agg([len().cast(DataType::UInt32).alias("clusters")])
        .sort(["split"], Default::default())
        .collect()?)
}

fn bar(split: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix:>5} [{bar:40}] {pos}/{len} patches ({per_sec}, eta {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(0).with_style(style).with_prefix(split.to_string())
}

/// `detections.parquet` and `detections.csv` (the list column `patch_ids` as text).
fn write_detections(det: &Detections, dirs: &OutputDirs) -> Result<Vec<PathBuf>> {
    let parquet = dirs.files.join("detections.parquet");
    write_parquet(&parquet, &mut det.df().clone())?;
    let csv = dirs.files.join("detections.csv");
    write_csv(&csv, &crate::crossmatch::lists_as_text(det.df())?)?;
    Ok(vec![parquet, csv])
}

/// `mmf_detections.parquet` and `mmf_detections.csv`.
fn write_mmf_detections(det: &MmfDetections, dirs: &OutputDirs) -> Result<Vec<PathBuf>> {
    let parquet = dirs.files.join("mmf_detections.parquet");
    write_parquet(&parquet, &mut det.df().clone())?;
    let csv = dirs.files.join("mmf_detections.csv");
    write_csv(&csv, det.df())?;
    Ok(vec![parquet, csv])
}

/// The latest dated run folder under `<path>/output/<dataset>/` that holds `files/detections.parquet`.
pub fn latest_run(params: &Params) -> Result<PathBuf> {
    let base = params.path.join("output").join(params.dataset.name());
    let entries = std::fs::read_dir(&base).map_err(|e| {
        Error::param(
            "run",
            format!(
                "no run of dataset {} in {} ({e}): run `xcluster run` first, or pass --run DIR",
                params.dataset,
                base.display()
            ),
        )
    })?;
    let mut dated: Vec<(chrono::NaiveDate, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let date = chrono::NaiveDate::parse_from_str(p.file_name()?.to_str()?, "%Y-%m-%d").ok()?;
            Some((date, p))
        })
        .filter(|(_, p)| p.join("files/detections.parquet").is_file())
        .collect();
    dated.sort();
    dated.pop().map(|(_, p)| p).ok_or_else(|| {
        Error::param(
            "run",
            format!(
                "no dated folder under {} holds files/detections.parquet: run `xcluster run` first, or pass --run DIR",
                base.display()
            ),
        )
    })
}
