//! The end-to-end run: every stage that exists, in order.
//!
//! In: [`Params`]. Out: the output folders, the tables of the stages that ran, and the list of
//! stages this version cannot run yet (filled in by later work; `xcluster run` prints it).

use chrono::Local;
use polars::prelude::*;
use polars_io::prelude::*;

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::Catalogs;
use crate::error::{ensure_param, Result};
use crate::labels::Disk;
use crate::normalise::Normaliser;
use crate::output::{write_csv, OutputDirs};
use crate::params::{Params, SkySource};
use crate::patches::PatchSampler;
use crate::sky::Sky;
use crate::tiles::Split;

/// What [`run`] produced.
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
    /// The scan of the test tiles and its detections.
    pub predict: PredictStage,
    /// Detections cross-matched with the catalogs, and the per-catalog summary.
    pub matched: crate::crossmatch::Matched,
    /// Purity and completeness against the injected clusters (synthetic sky only).
    pub evaluation: Option<crate::evaluate::Evaluation>,
    /// Every file written under `files/`, each once, in the order first written.
    pub files: Vec<PathBuf>,
    /// The figures written under `figures/` (training curves and validation patches come from the
    /// training stage; see [`figures_stage`] for the rest).
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

/// The catalog stage: from `catalogs`, select `params.dataset`, assign tiles and splits, and write
/// `files/catalogs.csv` and `files/dataset_clusters.csv` under `dirs`.
pub fn catalog_stage(params: &Params, catalogs: &Catalogs, dirs: &OutputDirs) -> Result<CatalogStage> {
    let files = vec![dirs.files.join("catalogs.csv"), dirs.files.join("dataset_clusters.csv")];
    let summary = catalogs.summary()?;
    write_csv(&files[0], &summary)?;
    let clusters = catalogs.dataset(params.dataset)?.with_tiles(&params.tiling()?)?;
    write_csv(&files[1], &clusters)?;
    Ok(CatalogStage { summary, clusters, files })
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

/// Run the whole pipeline: catalogs (`files/catalogs.csv`, `files/dataset_clusters.csv`), the sky,
/// training (`models/<model>/`), the scan of the test tiles with detection (`files/sightings.parquet`),
/// the cross-match with the cluster catalogs (`catalogs`) and the contaminant sources (the synthetic
/// sky's own, or PCCS2 and PGCC from `catalog_path` on the Planck sky)
/// (`files/detections.{parquet,csv}`, `summary.csv`, `results.txt`) and, on the synthetic sky, the
/// evaluation against the injected clusters (`files/evaluation*.csv`, `completeness_*.csv`).
pub fn run(params: &Params) -> Result<RunReport> {
    use crate::crossmatch::{CrossMatch, Footprint};
    use crate::evaluate::{truth_contaminants, Evaluator};
    params.validate()?;
    let dirs = OutputDirs::resolve(params, Local::now().date_naive())?;
    dirs.create()?;
    let cats = Catalogs::from_params(params)?;
    let CatalogStage { summary, clusters, files: mut written } = catalog_stage(params, &cats, &dirs)?;
    let split_counts = split_counts(&clusters)?;
    // Read before the long stages, so a missing file stops the run at once.
    let real_contaminants = match params.sky {
        SkySource::Planck => crate::catalog::contaminants(params.path.join(&params.catalog_path), &params.bands)?,
        SkySource::Synthetic => vec![],
    };
    let sky = load_sky(params, true)?;
    let train = train_stage(params, &sky, &cats, &dirs, false, true)?;
    let test_tiles = params.tiling()?.tiles(Split::Test);
    let predict = predict_stage(params, &sky, &cats, &dirs, &test_tiles, None, true)?;
    let detections = predict.detections.as_ref().expect("an unsharded scan merges its detections");
    let footprint = Footprint::new(&predict.infos);
    let known = [cats.planck_z()?, cats.planck_no_z()?, cats.mcxc()?, cats.rm50()?, cats.rm30()?];
    let contaminants = match sky.truth() {
        Some(truth) => truth_contaminants(truth)?,
        None => real_contaminants,
    };
    let contaminant_refs: Vec<&crate::catalog::Catalog> = contaminants.iter().collect();
    let matched = CrossMatch::default().run_on(detections, &known, &contaminant_refs, &footprint)?;
    written.extend(predict.files.iter().cloned());
    written.extend(matched.write(&dirs.files)?);
    let evaluation = match sky.truth() {
        Some(truth) => {
            let e = Evaluator::default().evaluate_on(detections, &truth.clusters, &footprint)?;
            written.extend(e.write(&dirs.files)?);
            Some(e)
        }
        None => None,
    };
    // The cross-match rewrites the scan's detections.{parquet,csv} with its columns: list them once.
    let mut seen = std::collections::HashSet::new();
    written.retain(|f| seen.insert(f.clone()));
    let figures = figures_stage(params, &sky, &predict, &matched, evaluation.as_ref(), &dirs)?;
    Ok(RunReport {
        dirs,
        catalogs: summary,
        split_counts,
        train,
        predict,
        matched,
        evaluation,
        files: written,
        figures,
    })
}

/// The figures of a run, under `dirs.figures`, as the params file's switches ask:
/// - `plot_dataset`: `tiles.png` (the split) and `sky_<band>.png` (each band with the tiles);
/// - `plot_prediction`: `prediction.png` (the panel of the most confident scanned patch),
///   `detections.png` (all-sky, by match class) and, with a truth, `completeness_<column>.png`;
/// - `plot_individual_patchs`: `patches/patch_<id>.png`, the panels of the [`EXAMPLES`] most
///   confident scanned patches.
pub fn figures_stage(
    params: &Params,
    sky: &Sky,
    predict: &PredictStage,
    matched: &crate::crossmatch::Matched,
    evaluation: Option<&crate::evaluate::Evaluation>,
    dirs: &OutputDirs,
) -> Result<Vec<PathBuf>> {
    use crate::plot::prediction;
    let tiling = params.tiling()?;
    let mut written = Vec::new();
    if params.plot_dataset {
        written.push(tiling.plot().save(dirs.figures.join("tiles.png"))?);
        for &band in &params.bands {
            written.push(sky.plot(band, &tiling)?.save(dirs.figures.join(format!("sky_{}.png", band.name())))?);
        }
    }
    let masks =
        |p: &crate::patches::Patches| crate::labels::masks(p, Disk::from_params(&params.disk_radius, params.seed));
    if params.plot_prediction {
        if let Some((patches, probs)) = &predict.examples {
            let fig = prediction(patches, &masks(patches)?, probs, matched.detections(), 0)?;
            written.push(fig.save(dirs.figures.join("prediction.png"))?);
        }
        written.push(matched.plot(&tiling)?.save(dirs.figures.join("detections.png"))?);
        // Completeness needs injected clusters on the scanned patches.
        for column in ["m500", "y5r500_arcmin2"] {
            if let Some(e) = evaluation.filter(|e| e.completeness().is_some()) {
                let path = dirs.figures.join(format!("completeness_{column}.png"));
                written.push(e.plot_completeness(column)?.save(path)?);
            }
        }
    }
    if let (true, Some((patches, probs))) = (params.plot_individual_patchs, &predict.examples) {
        let dir = dirs.figures.join("patches");
        std::fs::create_dir_all(&dir).map_err(|e| crate::error::Error::io(&dir, e))?;
        let masks = masks(patches)?;
        for (n, info) in patches.info().iter().enumerate() {
            let fig = prediction(patches, &masks, probs, matched.detections(), n)?;
            written.push(fig.save(dir.join(format!("patch_{}.png", info.id)))?);
        }
    }
    Ok(written)
}

/// [`Sky::load`], saying on stderr (when `progress`) what is loaded and how long it took: the step
/// lines also show where progress bars cannot (stderr not a terminal, e.g. a Slurm job's log).
pub fn load_sky(params: &Params, progress: bool) -> Result<Sky> {
    let t = std::time::Instant::now();
    if progress {
        let what = match params.sky {
            SkySource::Synthetic => {
                format!("synthesising the Planck-like sky, nside {}, seed {}", params.nside, params.seed)
            }
            SkySource::Planck => {
                format!("reading the Planck maps from {}", params.path.join(&params.planck_path).display())
            }
        };
        eprintln!("sky: {what} ({} bands)…", params.bands.len());
    }
    let sky = Sky::load(params)?;
    if progress {
        eprintln!("sky: ready in {:.1} s", t.elapsed().as_secs_f64());
    }
    Ok(sky)
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

/// The dataset stage: fit the normaliser on the training tiles of `sky`, cut the training and
/// validation patches (`loops` per cluster of `params.dataset`) and the scan of the test tiles,
/// normalise and label them, and write each split under `dirs.files`. `shard` = (i, N) keeps only
/// the tiles t with t mod N = i; σ comes from all training tiles, so shards agree.
pub fn dataset_stage(
    params: &Params,
    sky: &Sky,
    catalogs: &Catalogs,
    dirs: &OutputDirs,
    shard: Option<(u32, u32)>,
    progress: bool,
) -> Result<DatasetStage> {
    params.validate()?;
    if let Some((i, n)) = shard {
        ensure_param!(n > 0 && i < n, "shard", "shard {i}/{n}: need 0 ≤ i < N");
    }
    let tiling = params.tiling()?;
    let clusters = catalogs.dataset(params.dataset)?;
    let normaliser = Normaliser::from_params(params).fit_sky(sky, &tiling, &params.bands)?;
    let mut files = vec![dirs.files.join("normaliser.json")];
    normaliser.save(&files[0])?;
    let suffix = shard.map_or(String::new(), |(i, n)| format!(".shard-{i}-of-{n}"));
    let (mut names, mut counts, mut seen, mut labelled) = (vec![], vec![], vec![], vec![]);
    let test_tiles = tiling.tiles(Split::Test);
    for split in [Split::Train, Split::Val, Split::Test] {
        let sampler = match split {
            Split::Test => PatchSampler::scan(&tiling, &clusters, &test_tiles),
            _ => PatchSampler::clusters(&tiling, &clusters, split),
        };
        let mut sampler = sampler.params(params).bands(&params.bands);
        if let Some((i, n)) = shard {
            sampler = sampler.shard(i, n);
        }
        if progress {
            sampler = sampler.progress(bar(split.name()));
            eprintln!("{}: planning, cutting, normalising and labelling patches…", split.name());
        }
        let written = crate::dataset::write_split(
            &dirs.files,
            &format!("{}{suffix}", split.name()),
            &sampler,
            sky,
            &normaliser,
            Disk::from_params(&params.disk_radius, params.seed),
        )?;
        if progress {
            eprintln!("{}: {} patches written to {}", split.name(), written.patches, written.npz.display());
        }
        files.extend([written.npz, written.parquet]);
        names.push(split.name());
        counts.push(written.patches as u32);
        seen.push(written.clusters_seen as u32);
        labelled.push(written.labelled_fraction);
    }
    let summary = DataFrame::new(
        names.len(),
        vec![
            Column::new("split".into(), names),
            Column::new("patches".into(), counts),
            Column::new("clusters_seen".into(), seen),
            Column::new("labelled_pixels".into(), labelled),
        ],
    )?;
    Ok(DatasetStage { normaliser, summary, files })
}

fn bar(split: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix:>5} [{bar:40}] {pos}/{len} patches ({per_sec}, eta {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(0).with_style(style).with_prefix(split.to_string())
}

/// The folder of the trained `params.model` and its checkpoints: `models/<model>/`.
pub fn model_dir(params: &Params, dirs: &OutputDirs) -> PathBuf {
    dirs.models.join(&params.model)
}

/// What the training stage produced.
#[derive(Debug)]
pub struct TrainStage {
    /// The best network, its history and normaliser.
    pub trained: crate::train::Trained,
    /// Where it was saved: `models/<model>/` (weights.bpk, model.json, history.csv, normaliser.json,
    /// params.toml, plus the checkpoints best.bpk, last.bpk, optimizer.bpk to resume).
    pub dir: PathBuf,
}

/// The training stage: fit the normaliser on the training tiles of `sky`, cut and label the validation
/// patches once, and train `params.model` on training patches cut afresh every epoch (new shifts and
/// rotations), checkpointing every epoch under `dirs.models/<model>/`. With `resume`, an interrupted
/// run in that folder continues from its last completed epoch.
pub fn train_stage(
    params: &Params,
    sky: &Sky,
    catalogs: &Catalogs,
    dirs: &OutputDirs,
    resume: bool,
    progress: bool,
) -> Result<TrainStage> {
    use crate::train::{Augmented, Model, TrainData};
    params.validate()?;
    let dir = model_dir(params, dirs);
    if resume {
        crate::train::check_resume(&dir, params)?;
    }
    let tiling = params.tiling()?;
    let clusters = catalogs.dataset(params.dataset)?;
    let normaliser = match resume {
        true => Normaliser::load(dir.join("normaliser.json"))?,
        false => Normaliser::from_params(params).fit_sky(sky, &tiling, &params.bands)?,
    };
    let disk = Disk::from_params(&params.disk_radius, params.seed);
    if progress {
        eprintln!("val: cutting, normalising and labelling the validation patches…");
    }
    let val_sampler = PatchSampler::val(&tiling, &clusters).params(params).bands(&params.bands);
    let val = normaliser.apply(val_sampler.extract(sky)?)?.labels(disk)?;
    let train_sampler = PatchSampler::train(&tiling, &clusters).params(params).bands(&params.bands);
    let train = Augmented::new(train_sampler, sky, &normaliser, disk)?;
    if progress {
        eprintln!(
            "train: {} on {} training patches per epoch (cut afresh each epoch), {} validation patches",
            params.model,
            train.len(),
            val.len()
        );
    }
    let trained = if resume {
        Model::resume(&dir, &train, &val)?
    } else {
        Model::from_params(params)?
            .normaliser(normaliser.clone())
            .progress(progress)
            .checkpoint(&dir)
            .fit(&train, &val)?
    };
    trained.save(&dir)?;
    if params.plot_dataset {
        val.plot(6)?.save(dirs.figures.join("dataset_val.png"))?;
    }
    trained.plot()?.save(dirs.figures.join("training.png"))?;
    Ok(TrainStage { trained, dir })
}

/// What the prediction stage produced.
#[derive(Debug)]
pub struct PredictStage {
    /// Merged detections (None for a shard: its sightings are merged by [`merge_shards`]).
    pub detections: Option<crate::detect::Detections>,
    /// Sightings (one row per component per patch) of the scanned tiles.
    pub sightings: DataFrame,
    /// Patches scanned.
    pub patches: usize,
    /// The scanned patches' metadata (the footprint for cross-matching and evaluation).
    pub infos: Vec<crate::patches::PatchInfo>,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The most confident scanned patches (normalised) and their maps, for the prediction figures:
    /// [`EXAMPLES`] of them with `plot_individual_patchs`, one with `plot_prediction`, else none.
    pub examples: Option<(crate::patches::Patches, crate::predict::Predictions)>,
}

/// Patches kept for figures by the prediction stage with `plot_individual_patchs`.
pub const EXAMPLES: usize = 16;

/// The prediction stage: load the trained `models/<model>/`, scan `tiles` (each once, one tile at a time, so
/// memory stays at one tile's patches) with its normaliser, detect with the params' thresholds, and
/// write `files/sightings[.shard-i-of-N].parquet`; without a shard, also merge them into
/// `files/detections.{parquet,csv}`. `shard` = (i, N) keeps the tiles t with t mod N = i.
pub fn predict_stage(
    params: &Params,
    sky: &Sky,
    catalogs: &Catalogs,
    dirs: &OutputDirs,
    tiles: &[u32],
    shard: Option<(u32, u32)>,
    progress: bool,
) -> Result<PredictStage> {
    use crate::detect::{Detection, Detections};
    use crate::output::write_parquet;
    params.validate()?;
    let dir = model_dir(params, dirs);
    ensure_param!(
        dir.join("model.json").exists(),
        "predict",
        "no trained {} model in {}: run `xcluster train` first (same params)",
        params.model,
        dir.display()
    );
    let trained = crate::train::Trained::load(&dir)?;
    let normaliser = trained.normaliser().cloned().ok_or_else(|| {
        crate::error::Error::model(&dir, "no normaliser.json next to the weights: retrain with `xcluster train`")
    })?;
    let tiling = params.tiling()?;
    let clusters = catalogs.dataset(params.dataset)?;
    // A tile listed twice is scanned once: twice would count each of its sightings twice.
    let mut mine: Vec<u32> = Vec::with_capacity(tiles.len());
    for &t in tiles.iter().filter(|&&t| shard.is_none_or(|(i, n)| t % n == i)) {
        if !mine.contains(&t) {
            mine.push(t);
        }
    }
    let d = Detection::default();
    let keep = match (params.plot_individual_patchs, params.plot_prediction) {
        (true, _) => EXAMPLES,
        (false, true) => 1,
        (false, false) => 0,
    };
    let (mut parts, mut infos, mut examples) = (Vec::new(), Vec::new(), None);
    for (k, &tile) in mine.iter().enumerate() {
        if progress {
            eprintln!("predict: tile {tile} ({}/{}): cutting, normalising, predicting, detecting…", k + 1, mine.len());
        }
        let cut =
            PatchSampler::scan(&tiling, &clusters, &[tile]).params(params).bands(normaliser.bands()).extract(sky)?;
        let normalised = normaliser.apply(cut)?;
        let probs = trained.predict(&normalised, 64)?;
        if keep > 0 {
            examples = Some(keep_confident(examples, &normalised, &probs, keep)?);
        }
        infos.extend_from_slice(probs.info());
        parts.push(probs.sightings(d)?.lazy());
    }
    let mut sightings = match parts.is_empty() {
        true => crate::predict::Predictions::from_parts(vec![], 64, vec![])?.sightings(d)?,
        false => concat(parts, UnionArgs::default())?.collect()?,
    };
    let suffix = shard.map_or(String::new(), |(i, n)| format!(".shard-{i}-of-{n}"));
    let path = dirs.files.join(format!("sightings{suffix}.parquet"));
    write_parquet(&path, &mut sightings)?;
    let mut files = vec![path];
    let detections = match shard {
        Some(_) => None,
        None => {
            let det = Detections::from_sightings(&sightings, d.merge_radius_arcmin)?;
            files.extend(write_detections(&det, dirs)?);
            Some(det)
        }
    };
    Ok(PredictStage { detections, sightings, patches: infos.len(), infos, files, examples })
}

type Examples = (crate::patches::Patches, crate::predict::Predictions);

/// The `keep` most confident of the kept examples and a new tile's patches.
fn keep_confident(
    kept: Option<Examples>,
    patches: &crate::patches::Patches,
    probs: &crate::predict::Predictions,
    keep: usize,
) -> Result<Examples> {
    let idx = probs.most_confident(keep);
    let (p, q) = (patches.select(&idx)?, probs.select(&idx)?);
    let Some((kp, kq)) = kept else { return Ok((p, q)) };
    // Few patches (≤ 2·keep): stack them and choose again.
    let mut data = kp.data().to_vec();
    data.extend_from_slice(p.data());
    let mut info = kp.info().to_vec();
    info.extend_from_slice(p.info());
    let mut both = crate::patches::Patches::from_parts(kp.bands().to_vec(), kp.size(), data, info.clone())?;
    if kp.is_normalised() {
        both.set_normalised();
    }
    let mut maps = kq.probs().to_vec();
    maps.extend_from_slice(q.probs());
    let both_q = crate::predict::Predictions::from_parts(maps, kq.size(), info)?;
    let idx = both_q.most_confident(keep);
    Ok((both.select(&idx)?, both_q.select(&idx)?))
}

/// Stack every `files/sightings.shard-*.parquet` and merge them into `files/detections.{parquet,csv}`.
pub fn merge_shards(dirs: &OutputDirs) -> Result<(crate::detect::Detections, Vec<PathBuf>)> {
    use crate::detect::{Detection, Detections};
    let mut shards: Vec<PathBuf> = std::fs::read_dir(&dirs.files)
        .map_err(|e| crate::error::Error::io(&dirs.files, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sightings.shard-")))
        .collect();
    shards.sort();
    ensure_param!(!shards.is_empty(), "predict --merge", "no sightings.shard-*.parquet in {}", dirs.files.display());
    let mut sightings: Option<DataFrame> = None;
    for p in &shards {
        let file = std::fs::File::open(p).map_err(|e| crate::error::Error::io(p, e))?;
        let part = ParquetReader::new(file).finish()?;
        sightings = Some(match sightings {
            None => part,
            Some(mut all) => {
                all.vstack_mut(&part)?;
                all
            }
        });
    }
    let sightings = sightings.expect("at least one shard");
    let det = Detections::from_sightings(&sightings, Detection::default().merge_radius_arcmin)?;
    let files = write_detections(&det, dirs)?;
    Ok((det, files))
}

fn write_detections(det: &crate::detect::Detections, dirs: &OutputDirs) -> Result<Vec<PathBuf>> {
    let parquet = dirs.files.join("detections.parquet");
    crate::output::write_parquet(&parquet, &mut det.df().clone())?;
    // CSV has no list type: the patch ids become a space-separated string.
    let ids = det.df().column("patch_ids")?.list()?.clone();
    let joined: Vec<String> = (0..ids.len())
        .map(|k| {
            ids.get_as_series(k)
                .and_then(|s| {
                    s.u64().ok().map(|v| v.into_no_null_iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" "))
                })
                .unwrap_or_default()
        })
        .collect();
    let mut csv_df = det.df().clone();
    csv_df.with_column(Column::new("patch_ids".into(), joined))?;
    let csv = dirs.files.join("detections.csv");
    write_csv(&csv, &csv_df)?;
    Ok(vec![parquet, csv])
}
