//! `xcluster`: the command line, a thin layer over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use xcluster::bench::{self, BenchSizes, PatchBenchSizes};
use xcluster::catalog::ClusterSet;
use xcluster::chain::Cover;
use xcluster::output::{write_atomic, OutputDirs};
use xcluster::params::{Params, DEFAULT_PARAMS};
use xcluster::pipeline::{self, Job};
use xcluster::train::Device;

/// Every command prints through this `println!`, which shadows std's: a failed write to stdout
/// returns from the calling function as [`xcluster::Error::Stdout`] instead of panicking with a
/// backtrace. [`main`] then ends quietly when the reader has gone (`xcluster … | head -1`) and
/// reports anything else (a full disk) as an error.
macro_rules! println {
    ($($arg:tt)*) => {
        ::std::io::Write::write_fmt(&mut ::std::io::stdout(), format_args!("{}\n", format_args!($($arg)*)))
            .map_err(xcluster::Error::Stdout)?
    };
}

/// Find galaxy clusters in full-sky microwave maps with U-Net segmentation networks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Params file (TOML; `xcluster init` writes a commented one). Defaults apply without it.
    #[arg(long, short = 'p', global = true, value_name = "FILE")]
    params: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented default params file.
    Init {
        /// Where to write it.
        #[arg(default_value = "xcluster.toml")]
        file: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Create the output folders output/<dataset>/<yyyy-mm-dd>/{files,figures,models}.
    MakeDirectories,
    /// Load the built-in catalogs, print their sizes and the clusters of `dataset` per split.
    Catalogs,
    /// Cut, normalise and label the train/val/test patches; write them under files/ as .npz + .parquet.
    Dataset {
        /// Worker threads (default: all cores).
        #[arg(long, value_name = "N")]
        nodes: Option<usize>,
        /// Only the tiles t with t mod N = i (0 ≤ i < N), e.g. a Slurm array task or an MPI rank.
        #[arg(long, value_name = "i/N", value_parser = parse_shard)]
        shard: Option<(u32, u32)>,
    },
    /// Train the network of the params file (`model`, `loss`, `optimizer`, `epochs`, …) on patches cut
    /// afresh from the sky every epoch; checkpoints and the best model go to output/…/models/<model>/.
    Train {
        /// Continue the interrupted run in output/…/models/<model>/ from its last completed epoch.
        #[arg(long)]
        resume: bool,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Scan tiles with the trained model of the params file and detect clusters: writes
    /// files/sightings[.shard-i-of-N].parquet and (unsharded, or with --merge) files/detections.{parquet,csv}.
    Predict {
        /// Tiles to scan (nside-2 RING pixels), e.g. `6,7`; default: the test tiles.
        #[arg(long, value_delimiter = ',', conflicts_with = "full_sky")]
        tiles: Vec<u32>,
        /// Scan all 48 tiles.
        #[arg(long)]
        full_sky: bool,
        /// Scan only the tiles t with t mod N = i (Slurm array task / MPI rank i of N).
        #[arg(long, value_parser = parse_shard, value_name = "i/N")]
        shard: Option<(u32, u32)>,
        /// Merge the sightings of every shard into detections (run once all shards are done).
        #[arg(long, conflicts_with_all = ["shard", "tiles", "full_sky"])]
        merge: bool,
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Search tiles with the multi-frequency matched filter (the `mmf_*` params, on the HFI bands of
    /// `bands`): writes files/mmf_sightings[.shard-i-of-N].parquet and (unsharded, or with --merge)
    /// files/mmf_detections.{parquet,csv}.
    Mmf {
        /// Tiles to search (nside-2 RING pixels), e.g. `6,7`; default: the test tiles.
        #[arg(long, value_delimiter = ',', conflicts_with = "full_sky")]
        tiles: Vec<u32>,
        /// Search all 48 tiles.
        #[arg(long)]
        full_sky: bool,
        /// Search only the tiles t with t mod N = i (Slurm array task / MPI rank i of N).
        #[arg(long, value_parser = parse_shard, value_name = "i/N")]
        shard: Option<(u32, u32)>,
        /// Merge the sightings of every shard into detections (run once all shards are done).
        #[arg(long, conflicts_with_all = ["shard", "tiles", "full_sky"])]
        merge: bool,
    },
    /// Run the whole pipeline: sky → tiles → patches → normalise → train → scan the test tiles →
    /// detect → cross-match → evaluate, printing the summary tables and writing every output.
    Run {
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Write the synthetic sky of the params file (nside, seed, bands) as Planck-named HEALPix FITS
    /// maps and its truth tables (clusters, sources) as Parquet and CSV.
    Synth {
        /// Output folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Download the real Planck maps and catalogs of the datasets manifest: resumes interrupted
    /// downloads, verifies size and SHA-256, never leaves a corrupt file under its final name.
    Fetch {
        /// Datasets (see --list), or `maps`, `catalogs`, `all`. None: what the params file uses
        /// (the maps of its `bands` and every catalog).
        names: Vec<String>,
        /// Put every file in DIR instead of the params file's planck_path / milca_path / catalog_path.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// List the datasets, their sizes and where they go; download nothing.
        #[arg(long)]
        list: bool,
        /// Read this manifest instead of the built-in datasets-manifest/planck.toml.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
    },
    /// Run SQL over the latest run's outputs (detections, summary, sightings, evaluation tables, the
    /// catalogs): e.g. `xcluster query "SELECT id, glon, glat, peak FROM detections WHERE class = 'unknown'"`.
    /// Column and table names are SQL-safe: lower case, `-` → `_` (`planck_no_z_name`).
    Query {
        /// The SQL query (polars SQL: SELECT … FROM … JOIN … WHERE … GROUP BY … ORDER BY … LIMIT).
        sql: Option<String>,
        /// The run folder `output/<dataset>/<date>` (default: the latest with detections).
        #[arg(long, value_name = "DIR")]
        run: Option<PathBuf>,
        /// Write the result to FILE (format from the extension: `.csv .parquet .fits .vot .reg`).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// List the tables and their columns instead of running a query.
        #[arg(long)]
        tables: bool,
    },
    /// Join a catalog file (CSV, Parquet, FITS, VOTable) by position with the latest run's detections,
    /// without retraining: every detection, the catalog's columns suffixed `_<catalog>`, and `sep_arcmin_<catalog>`.
    Crossmatch {
        /// The catalog file.
        #[arg(long, value_name = "FILE")]
        catalog: PathBuf,
        /// Match radius, arcmin.
        #[arg(long, default_value_t = 5.0)]
        radius: f64,
        /// `nearest` (each detection's nearest object), `all` (every pair), `one-to-one`.
        #[arg(long, default_value = "nearest", value_parser = parse_mode)]
        mode: xcluster::catalog::Match,
        /// Keep only detections with a match.
        #[arg(long)]
        inner: bool,
        /// Name of the catalog (the suffix of its columns; default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// Column of the object name.
        #[arg(long = "name-column", value_name = "COL")]
        name_column: Option<String>,
        /// Column of the right ascension (degrees, or sexagesimal hours as text).
        #[arg(long, value_name = "COL")]
        ra: Option<String>,
        /// Column of the declination (degrees, or sexagesimal degrees as text).
        #[arg(long, value_name = "COL")]
        dec: Option<String>,
        /// Column of the Galactic longitude, degrees.
        #[arg(long, value_name = "COL")]
        glon: Option<String>,
        /// Column of the Galactic latitude, degrees.
        #[arg(long, value_name = "COL")]
        glat: Option<String>,
        /// The run folder `output/<dataset>/<date>` (default: the latest with detections).
        #[arg(long, value_name = "DIR")]
        run: Option<PathBuf>,
        /// Write the joined table to FILE (format from the extension).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write the latest run's detections (or a query's result) as csv, parquet, fits, votable or a
    /// DS9/Aladin region file (reg).
    Export {
        /// csv, parquet, fits, votable or reg.
        #[arg(long)]
        format: String,
        /// The file to write (default: `files/detections.<ext>` of the run).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Export this query's result instead of the detections.
        #[arg(long, value_name = "SQL")]
        sql: Option<String>,
        /// The run folder `output/<dataset>/<date>` (default: the latest with detections).
        #[arg(long, value_name = "DIR")]
        run: Option<PathBuf>,
    },
    /// Measure throughput: `foundation` (ang2pix, interpolation, cross-match, FITS), `patches`
    /// (7 nside-2048 bands: patches per second, scan, normaliser, peak memory), `sky` (synthesis),
    /// `real` (reading 7 Planck-format nside-2048 maps: seconds, peak memory), `train`, `detect`,
    /// `query` (SQL, positional joins, a cone filter and a FITS export on 10⁶ rows), `mmf` (the
    /// matched filter on test tile 6 and the full sky of a synthetic nside-2048 sky; `--quick`:
    /// tile 6 at nside 256).
    Bench {
        /// Which benchmark.
        #[arg(value_enum, default_value = "foundation")]
        what: BenchKind,
        /// Small sizes (seconds) instead of 1e7 positions and a 1e6 × 1e6 cross-match.
        #[arg(long)]
        quick: bool,
        /// `train`: the network to time (default: every architecture).
        #[arg(long, value_name = "NAME")]
        model: Option<String>,
        /// `train`: patches per step.
        #[arg(long, default_value_t = 20)]
        batch: usize,
        /// `train`: input bands.
        #[arg(long, default_value_t = 6)]
        bands: usize,
        /// `train`: timed steps per network (after 2 warm-up steps).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// `train`: rounds of the peers' timing then ours, one after the other; each time is the
        /// median over rounds, each ratio the median of the rounds' ratios, and the step's ratio to
        /// Keras comes with its lowest and highest round.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// `train`: where the original U-Net's step goes (forward, backward, optimizer) and each
        /// layer operation at its shapes, burn's convolutions beside ours (and PyTorch's, with the peer).
        #[arg(long)]
        breakdown: bool,
        #[command(flatten)]
        device: DeviceArg,
    },
}

/// `--device`, for the commands that train or run a network.
#[derive(clap::Args)]
struct DeviceArg {
    /// Where networks train and run: `cpu`, or `cuda` / `wgpu` in a build with that feature
    /// (default: the build's GPU, else the CPU).
    #[arg(long, value_name = "cpu|cuda|wgpu", value_parser = parse_device)]
    device: Option<Device>,
}

impl DeviceArg {
    fn get(self) -> Device {
        self.device.unwrap_or_else(xcluster::train::default_device)
    }
}

fn parse_device(name: &str) -> Result<Device, String> {
    xcluster::train::device_named(name).map_err(|e| e.to_string())
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchKind {
    Foundation,
    Patches,
    Sky,
    Real,
    Train,
    Detect,
    Query,
    Mmf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        // The reader of a pipe closed it: it has what it wanted, as with SIGPIPE in a C program.
        Err(e) if stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain_once(&e));
            ExitCode::FAILURE
        }
    }
}

/// Whether `e` is a write to stdout that failed because nobody reads it any more (EPIPE).
fn stdout_closed(e: &anyhow::Error) -> bool {
    match e.downcast_ref::<xcluster::Error>() {
        Some(xcluster::Error::Stdout(io)) => io.kind() == std::io::ErrorKind::BrokenPipe,
        _ => false,
    }
}

/// The error and its causes, `: `-separated like `{:#}`, but each cause only when the text so far
/// does not already say it: the library's errors end with their source's text (so that a notebook's
/// `to_string()` says everything), which `{:#}` would print a second time.
fn chain_once(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

fn load_params(path: Option<&Path>) -> anyhow::Result<Params> {
    Ok(match path {
        Some(p) => Params::load(p)?,
        None => Params::default(),
    })
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Init { file, force } = &cli.command {
        return init(file, *force);
    }
    let params = load_params(cli.params.as_deref())?;
    match cli.command {
        Command::Init { .. } => unreachable!("handled above"),
        Command::MakeDirectories => {
            let dirs = OutputDirs::resolve(&params, chrono::Local::now().date_naive())?;
            dirs.create()?;
            println!("{}\n{}\n{}", dirs.files.display(), dirs.figures.display(), dirs.models.display());
        }
        Command::Catalogs => catalogs(&params)?,
        Command::Dataset { nodes, shard } => dataset(&params, nodes, shard)?,
        Command::Train { resume, device } => train(&params, resume, device.get())?,
        Command::Predict { tiles, full_sky, shard, merge, device } => {
            predict(&params, cover_of(&tiles, full_sky, shard), merge, device.get())?
        }
        Command::Mmf { tiles, full_sky, shard, merge } => mmf(&params, tiles, full_sky, shard, merge)?,
        Command::Fetch { names, to, list, manifest } => return fetch(&params, &names, to.as_deref(), list, manifest),
        Command::Run { device } => return run(&params, device.get()),
        Command::Synth { out } => synth(&params, &out)?,
        Command::Query { sql, run, out, tables } => query(&params, sql.as_deref(), run, out, tables)?,
        Command::Crossmatch { catalog, radius, mode, inner, name, name_column, ra, dec, glon, glat, run, out } => {
            let map = column_map(name_column, ra, dec, glon, glat);
            crossmatch(&params, &catalog, radius, mode, inner, name, &map, run, out)?
        }
        Command::Export { format, out, sql, run } => export(&params, &format, out, sql.as_deref(), run)?,
        Command::Bench { what, quick, model, batch, bands, steps, rounds, breakdown, device } => match what {
            BenchKind::Train => {
                let device = device.get();
                let sizes = bench::TrainBench { batch, bands, steps, rounds };
                bench_train(model.as_deref(), sizes, breakdown, &device)?
            }
            other => bench_cmd(other, quick)?,
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn init(file: &Path, force: bool) -> anyhow::Result<ExitCode> {
    if file.exists() && !force {
        bail!("{} exists; pass --force to replace it", file.display());
    }
    write_atomic(file, |f| std::io::Write::write_all(f, DEFAULT_PARAMS.as_bytes()))?;
    println!("wrote {} (every key commented; edit and pass it with --params)", file.display());
    Ok(ExitCode::SUCCESS)
}

fn catalogs(params: &Params) -> anyhow::Result<()> {
    let job = Job::new(params)?;
    let stage = job.catalog_stage()?;
    println!("{}", stage.summary);
    let tiling = params.tiling()?;
    for dataset in ClusterSet::ALL {
        let counts = pipeline::split_counts(&job.catalogs().dataset(dataset)?.with_tiles(&tiling)?)?;
        let splits = counts.column("split")?.str()?.clone();
        let n = counts.column("clusters")?.u32()?.clone();
        let per_split: Vec<String> =
            splits.iter().zip(n.iter()).map(|(s, n)| format!("{} {}", s.unwrap_or("?"), n.unwrap_or(0))).collect();
        println!(
            "dataset {:<12} {:>6} clusters: {}",
            dataset.name(),
            n.iter().flatten().sum::<u32>(),
            per_split.join(", ")
        );
    }
    println!("wrote {} (dataset {})", job.dirs().files.join("dataset_clusters.csv").display(), params.dataset);
    Ok(())
}

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (i, n) = s.split_once('/').ok_or_else(|| format!("expected i/N, e.g. 0/4, got {s:?}"))?;
    let (i, n): (u32, u32) =
        (i.trim().parse().map_err(|e| format!("{e}"))?, n.trim().parse().map_err(|e| format!("{e}"))?);
    if n == 0 || i >= n {
        return Err(format!("need 0 ≤ i < N, got {i}/{n}"));
    }
    Ok((i, n))
}

fn dataset(params: &Params, nodes: Option<usize>, shard: Option<(u32, u32)>) -> anyhow::Result<()> {
    if let Some(n) = nodes {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global()?;
    }
    let job = Job::new(params)?;
    let stage = job.dataset_stage(&job.sky()?, shard)?;
    println!("{}", stage.normaliser.df()?);
    println!("{}", stage.summary);
    for f in &stage.files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

fn train(params: &Params, resume: bool, device: Device) -> anyhow::Result<()> {
    let job = Job::new(params)?.device(device);
    // Before the sky is built: a wrong resume, or a GPU this machine cannot reach, should not cost
    // minutes first.
    job.check_device()?;
    if resume {
        job.check_resume()?;
    }
    let data = job.data(&job.sky()?)?;
    let stage = if resume { job.resume(&data)? } else { job.train(&data)? };
    println!("{}", stage.trained.history());
    println!(
        "wrote {} (weights.bpk, model.json, inputs.json, history.csv, normaliser.json; checkpoints to resume)",
        stage.dir.display()
    );
    Ok(())
}

fn predict(params: &Params, cover: Cover, merge: bool, device: Device) -> anyhow::Result<()> {
    let job = Job::new(params)?.device(device);
    if merge {
        let (det, files) = job.merge_shards()?;
        println!("{}", det.df());
        print_written(&files)?;
        return Ok(());
    }
    cover.resolve(&params.tiling()?)?;
    let trained = job.trained()?;
    let stage = job.predict(&trained, &job.sampled(&job.sky()?)?, cover)?;
    println!("{} patches scanned, {} sightings", stage.patches, stage.sightings.len());
    if let Some(det) = &stage.detections {
        println!("{}", det.df());
    }
    for f in &stage.files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// The tiles of `--tiles`, `--full-sky` or (neither) the test tiles, with `--shard`'s share.
fn cover_of(tiles: &[u32], full_sky: bool, shard: Option<(u32, u32)>) -> Cover {
    let cover = match (full_sky, tiles.is_empty()) {
        (true, _) => Cover::full_sky(),
        (false, true) => Cover::test(),
        (false, false) => Cover::tiles(tiles),
    };
    match shard {
        Some((i, n)) => cover.shard(i, n),
        None => cover,
    }
}

fn print_written(files: &[PathBuf]) -> anyhow::Result<()> {
    for f in files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

fn mmf(params: &Params, tiles: Vec<u32>, full_sky: bool, shard: Option<(u32, u32)>, merge: bool) -> anyhow::Result<()> {
    let job = Job::new(params)?;
    if merge {
        let (det, files) = job.merge_mmf_shards()?;
        println!("{}", det.df());
        print_written(&files)?;
        return Ok(());
    }
    let cover = cover_of(&tiles, full_sky, shard);
    cover.resolve(&params.tiling()?)?;
    let (sky, truth) = job.sky_and_truth()?;
    let stage = job.mmf(&sky, &job.with_contaminants(truth.as_ref())?, cover)?;
    println!("tiles {:?} searched in {:.1} s, {} sightings", stage.tiles, stage.seconds, stage.sightings.height());
    if let Some(det) = &stage.detections {
        println!("{}", det.df());
    }
    for f in &stage.files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

fn parse_mode(s: &str) -> Result<xcluster::catalog::Match, String> {
    use xcluster::catalog::Match;
    match s.to_lowercase().replace('_', "-").as_str() {
        "nearest" => Ok(Match::Nearest),
        "all" => Ok(Match::All),
        "one-to-one" | "onetoone" => Ok(Match::OneToOne),
        _ => Err(format!("unknown mode {s:?}; allowed: nearest, all, one-to-one")),
    }
}

/// The run folder: `--run DIR`, or the latest with detections for the params' dataset.
fn run_dir(params: &Params, run: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match run {
        Some(dir) => dir,
        None => xcluster::pipeline::latest_run(params)?,
    })
}

/// The tables of a run folder and the params' catalogs.
fn run_tables(params: &Params, dir: &Path) -> anyhow::Result<xcluster::query::Tables> {
    let cats = xcluster::catalog::Catalogs::from_params(params)?;
    Ok(xcluster::query::Tables::from_run(dir)?.with_catalogs(&cats)?)
}

fn query(
    params: &Params,
    sql: Option<&str>,
    run: Option<PathBuf>,
    out: Option<PathBuf>,
    tables: bool,
) -> anyhow::Result<()> {
    let dir = run_dir(params, run)?;
    let t = run_tables(params, &dir)?;
    if tables {
        let df = t.df()?;
        for (name, cols) in df.column("table")?.str()?.iter().zip(df.column("columns")?.str()?.iter()) {
            println!("{}: {}", name.unwrap_or(""), cols.unwrap_or(""));
        }
        return Ok(());
    }
    let Some(sql) = sql else {
        bail!("give a query: xcluster query \"SELECT … FROM detections\" (or --tables to list the tables)")
    };
    let df = t.sql(sql)?;
    eprintln!("run: {}", dir.display());
    println!("{df}");
    if let Some(out) = out {
        println!("wrote {} ({} rows)", xcluster::export::export(&df, &out)?.display(), df.height());
    }
    Ok(())
}

fn column_map(
    name: Option<String>,
    ra: Option<String>,
    dec: Option<String>,
    glon: Option<String>,
    glat: Option<String>,
) -> xcluster::catalog::ColumnMap {
    let mut map = xcluster::catalog::ColumnMap::auto();
    if let Some(c) = name {
        map = map.name(&c);
    }
    if let Some(c) = ra {
        map = map.ra(&c);
    }
    if let Some(c) = dec {
        map = map.dec(&c);
    }
    if let Some(c) = glon {
        map = map.glon(&c);
    }
    if let Some(c) = glat {
        map = map.glat(&c);
    }
    map
}

#[allow(clippy::too_many_arguments)]
fn crossmatch(
    params: &Params,
    catalog: &Path,
    radius: f64,
    mode: xcluster::catalog::Match,
    inner: bool,
    name: Option<String>,
    map: &xcluster::catalog::ColumnMap,
    run: Option<PathBuf>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    use xcluster::join::{join_position, PositionJoin};
    let name = name.unwrap_or_else(|| {
        let file = catalog.file_name().and_then(|f| f.to_str()).unwrap_or("catalog");
        file.split('.').next().unwrap_or(file).to_string()
    });
    let cat = xcluster::catalog::Catalog::from_file(catalog, &name, map)?;
    let dir = run_dir(params, run)?;
    let files = xcluster::query::run_files(&dir)?;
    let detections = xcluster::catalog::read_parquet(&files.join("detections.parquet"))?;
    let mut how = PositionJoin::new(radius, mode).suffix(&format!("_{}", xcluster::query::sql_name(&name)));
    if inner {
        how = how.inner();
    }
    let joined = join_position(&detections, cat.df(), &how)?;
    let sep = format!("sep_arcmin_{}", xcluster::query::sql_name(&name));
    let matched = joined.column(&sep)?.len() - joined.column(&sep)?.null_count();
    eprintln!("run: {}", dir.display());
    println!("{joined}");
    println!(
        "{} detections, {} catalog objects ({name}), {matched} matches within {radius}′",
        detections.height(),
        cat.len()
    );
    if let Some(out) = out {
        println!("wrote {}", xcluster::export::export(&joined, &out)?.display());
    }
    Ok(())
}

fn export(
    params: &Params,
    format: &str,
    out: Option<PathBuf>,
    sql: Option<&str>,
    run: Option<PathBuf>,
) -> anyhow::Result<()> {
    use xcluster::export::{export_as, Format};
    let format: Format = format.parse()?;
    let dir = run_dir(params, run)?;
    let files = xcluster::query::run_files(&dir)?;
    let (df, table) = match sql {
        Some(q) => (run_tables(params, &dir)?.sql(q)?, "query"),
        None => (xcluster::catalog::read_parquet(&files.join("detections.parquet"))?, "detections"),
    };
    let out = out.unwrap_or_else(|| files.join(format!("{table}.{}", format.extension())));
    export_as(&df, &out, format, table)?;
    println!("wrote {} ({} rows, {})", out.display(), df.height(), format);
    Ok(())
}

fn bench_train(
    model: Option<&str>,
    sizes: bench::TrainBench,
    breakdown: bool,
    device: &xcluster::train::Device,
) -> anyhow::Result<()> {
    use xcluster::model::Architecture;
    let bench::TrainBench { batch, bands, steps, rounds } = sizes;
    anyhow::ensure!(
        !breakdown || rounds == 1,
        "--rounds is for `bench train` without --breakdown (got --rounds {rounds})"
    );
    let archs = match model {
        Some(name) => vec![Architecture::from_name(name)?],
        None => Architecture::ALL.to_vec(),
    };
    let peer = bench::Peer::from_env();
    if peer.is_none() {
        eprintln!(
            "no peer: set {} to a Python with TensorFlow, keras-unet-collection and PyTorch \
             (scripts/bench-peers.sh makes one) to time Keras and PyTorch in the same run",
            bench::Peer::ENV
        );
    }
    let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template("{spinner} [{pos}] {msg}")?);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let row = |name: &str, _n: usize, secs: f64| {
        bar.inc(1);
        bar.set_message(format!("{name}: {:.1} ms", secs * 1e3));
    };
    let df = if breakdown {
        bench::run_train_breakdown(batch, bands, steps, device, peer.as_ref(), row)?
    } else {
        bench::run_train(&archs, sizes, device, peer.as_ref(), row)?
    };
    bar.finish_and_clear();
    println!(
        "batch {batch}, {bands} bands, 64×64, {} threads, device {device:?}, {rounds} round(s)",
        rayon::current_num_threads()
    );
    print!("{}", bench::markdown(&df)?);
    Ok(())
}

fn synth(params: &Params, out: &Path) -> anyhow::Result<()> {
    use xcluster::manifest::Manifest;
    use xcluster::sky::{write_map, Sky};
    use xcluster::synthetic::Synthetic;
    params.validate()?;
    xcluster::output::create_dir_all(out)?;
    let bar = ProgressBar::new_spinner().with_message(format!(
        "synthesising nside {} ({} bands)",
        params.nside,
        params.bands.len()
    ));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let (sky, truth) = Sky::synthetic(Synthetic::from_params(params))?;
    bar.finish_and_clear();
    let manifest = Manifest::builtin()?;
    for band in sky.bands() {
        let dataset = manifest.map(band)?;
        let path = out.join(&dataset.file);
        write_map(&path, sky.band(band).expect("listed band"), dataset.column.as_deref().unwrap_or("I_STOKES"))?;
        println!("wrote {}", path.display());
    }
    for (name, df) in [("truth_clusters", &truth.clusters), ("truth_sources", &truth.sources)] {
        let csv = out.join(format!("{name}.csv"));
        xcluster::output::write_csv(&csv, df)?;
        let parquet = out.join(format!("{name}.parquet"));
        let mut df = df.clone();
        xcluster::output::write_parquet(&parquet, &mut df)?;
        println!("wrote {} and {} ({} rows)", csv.display(), parquet.display(), df.height());
    }
    Ok(())
}

fn fetch(
    params: &Params,
    names: &[String],
    to: Option<&Path>,
    list: bool,
    manifest: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    use xcluster::fetch::{Check, Fetcher, Outcome};
    use xcluster::manifest::Manifest;
    let manifest = match manifest {
        Some(path) => Manifest::load(path)?,
        None => Manifest::builtin()?,
    };
    let chosen = if list { manifest.datasets.iter().collect() } else { manifest.select(names, params)? };
    let size = |s: Option<u64>| s.map(|b| format!("{:.1} MB", b as f64 / 1e6)).unwrap_or_else(|| "size unknown".into());
    if list {
        for d in &chosen {
            println!(
                "{:<12} {:>12}  {}\n{:<12} {}",
                d.name,
                size(d.size),
                d.description,
                "",
                d.path(params, to).display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let sized: Vec<u64> = chosen.iter().filter_map(|d| d.size).collect();
    println!(
        "fetching {} dataset(s); sizes known in advance for {} ({:.2} GB)",
        chosen.len(),
        sized.len(),
        sized.iter().sum::<u64>() as f64 / 1e9
    );
    let fetcher = Fetcher::new();
    let mut failed = Vec::new();
    for d in chosen {
        let dir = d.path(params, to).parent().map(Path::to_path_buf).unwrap_or_default();
        match fetcher.fetch(d, &dir) {
            Ok(f) => {
                let how = match f.outcome {
                    Outcome::Downloaded => "downloaded".to_string(),
                    Outcome::Resumed(from) => format!("resumed from byte {from}"),
                    Outcome::Present => "already there".to_string(),
                };
                let check = match f.check {
                    Check::Manifest => "SHA-256 matches the manifest",
                    Check::Recorded => "SHA-256 matches the one recorded by its first download",
                    Check::NewlyRecorded => "SHA-256 not known before: recorded in xcluster-checksums.toml",
                };
                println!("{}: {} ({how}, {}; {check})", f.name, f.path.display(), size(Some(f.size)));
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed.push(d.name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} of the datasets failed: {}", failed.len(), failed.join(", "));
        Ok(ExitCode::FAILURE)
    }
}

fn run(params: &Params, device: Device) -> anyhow::Result<ExitCode> {
    let report = Job::new(params)?.device(device).run()?;
    let files = &report.dirs.files;
    println!("outputs: {}", report.dirs.root.display());
    println!("clusters of dataset {} per split:\n{}", params.dataset, report.split_counts);
    println!("training history ({}):\n{}", report.train.dir.display(), report.train.trained.history());
    println!("test tiles: {} patches scanned, {} sightings", report.patches, report.sightings.len());
    println!("detections, cross-matched:\n{}", report.matched.detections());
    println!("per catalog:\n{}", report.matched.summary());
    println!("results.txt:\n{}", report.matched.results_txt());
    if let Some(e) = &report.evaluation {
        println!("against the injected clusters (synthetic sky):\n{}", e.summary());
        println!("completeness by M500 (1e14 Msun):\n{}", e.completeness_by("m500")?);
    }
    if let Some(c) = &report.comparison {
        println!("U-Net vs matched filter vs combined (U-Net positions ranked by MMF S/N), same footprint and truth:");
        print_comparison(c)?;
    }
    if let Some(c) = &report.comparison_ymap {
        println!("the same, with the matched filter on the y-map alone (the information the U-Net reads):");
        print_comparison(c)?;
    }
    let names: Vec<String> =
        report.files.iter().filter_map(|f| f.strip_prefix(files).ok()).map(|f| f.display().to_string()).collect();
    println!("wrote {}/{{{}}}", files.display(), names.join(","));
    if !report.figures.is_empty() {
        println!("figures ({}): {}", report.figures.len(), report.dirs.figures.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The head to head's table, its operating points at equal purity and who found what.
fn print_comparison(c: &xcluster::compare::Comparison) -> anyhow::Result<()> {
    let t = c.table();
    let f = |col: &str, k: usize| t.column(col).ok().and_then(|c| c.f64().ok()?.get(k));
    let u = |col: &str, k: usize| t.column(col).ok().and_then(|c| c.u32().ok()?.get(k)).unwrap_or(0);
    let pct = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{:.2}", v));
    println!(
        "{:<9} {:<30} {:>10} {:>7} {:>13} {:>21}",
        "detector", "operating point", "detections", "purity", "completeness", "compl. M500 >= 6e14"
    );
    for k in 0..t.height() {
        let name = t.column("detector").ok().and_then(|c| c.str().ok()?.get(k).map(str::to_string));
        let op = t.column("operating_point").ok().and_then(|c| c.str().ok()?.get(k).map(str::to_string));
        println!(
            "{:<9} {:<30} {:>10} {:>7} {:>13} {:>21}",
            name.unwrap_or_default(),
            op.unwrap_or_default(),
            u("n_detections", k),
            pct(f("purity", k)),
            format!("{} ({}/{})", pct(f("completeness", k)), u("n_found", k), u("n_injected", k)),
            format!("{} ({}/{})", pct(f("completeness_massive", k)), u("found_massive", k), u("n_massive", k)),
        );
    }
    println!("at equal purity (the lowest threshold of each curve with purity >= {}):", c.equal_purity());
    for a in c.at_purity() {
        match &a.operating_point {
            Some((t, e)) => println!(
                "{:<9} threshold {t:<6} purity {} completeness {} ({}/{})",
                a.detector,
                pct(e.purity()),
                pct(e.completeness()),
                e.n_found(),
                e.n_injected()
            ),
            None => println!("{:<9} its curve never reaches that purity", a.detector),
        }
    }
    println!("injected clusters on the footprint, by who found them:\n{}", c.found_by());
    Ok(())
}

fn bench_cmd(what: BenchKind, quick: bool) -> anyhow::Result<()> {
    let bar = ProgressBar::new(7).with_style(ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg}")?);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let row = |name: &str, n: usize, secs: f64| {
        bar.println(format!("{name:<70} {n:>10} in {secs:>8.3} s = {:>12.1}/s", n as f64 / secs));
        bar.inc(1);
    };
    let df = match what {
        BenchKind::Foundation => bench::run(if quick { BenchSizes::quick() } else { BenchSizes::full() }, row)?,
        BenchKind::Patches => {
            bench::run_patches(if quick { PatchBenchSizes::quick() } else { PatchBenchSizes::full() }, row)?
        }
        BenchKind::Sky => bench::run_sky(if quick { &[128] } else { &[1024, 2048] }, row)?,
        BenchKind::Real => bench::run_real(if quick { &[256] } else { &[2048] }, row)?,
        BenchKind::Train => bail!("`bench train` has its own options; see `xcluster bench --help`"),
        BenchKind::Detect => bench::run_detect(if quick { 500 } else { 20_000 }, row)?,
        BenchKind::Query => xcluster::bench::run_query(if quick { 10_000 } else { 1_000_000 }, row)?,
        BenchKind::Mmf => {
            let peer = bench::Peer::from_env();
            if peer.is_none() {
                bar.println(format!(
                    "no peer: set {} to a Python with numpy (scripts/bench-peers.sh mmf makes one) to time \
                     the numpy filter on the same patches",
                    bench::Peer::ENV
                ));
            }
            bench::run_mmf(if quick { 256 } else { 2048 }, !quick, peer.as_ref(), row)?
        }
    };
    bar.finish_and_clear();
    // The matched filter's table, with the peer's columns, is wider than polars displays.
    if matches!(what, BenchKind::Mmf) {
        println!("{}", bench::markdown(&df)?);
    } else {
        println!("{df}");
    }
    Ok(())
}
