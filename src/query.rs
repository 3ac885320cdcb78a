//! Ad-hoc queries: SQL over everything a run produces (polars' SQL engine).
//!
//! In: named tables — a [`crate::crossmatch::Matched`]'s detections and per-catalog summary, the
//! loaded catalogs, the synthetic truth, or the files of a run folder ([`Tables::from_run`]), or any
//! DataFrames ([`Tables::with`]). Out: the query's result, a polars DataFrame.
//!
//! Table and column names are made ones SQL can write bare ([`sql_name`]): lower case, every
//! character other than a letter, a digit or `_` replaced by `_` (`planck_no-z_name` →
//! `planck_no_z_name`, `MCXC_sep_arcmin` → `mcxc_sep_arcmin`, table `planck_no-z` → `planck_no_z`).
//!
//! ```
//! use xcluster::query::Tables;
//! use xcluster::polars::prelude::*;
//! let det = df!("glon" => [10.0, 200.0, 300.0], "glat" => [45.0, -5.0, -60.0], "peak" => [0.9, 0.5, 0.99])?;
//! let t = Tables::new().with("detections", &det)?;
//! let high = t.sql("SELECT glon, peak FROM detections WHERE ABS(glat) > 30 ORDER BY peak DESC")?;
//! assert_eq!(high.height(), 2);
//! # Ok::<(), xcluster::Error>(())
//! ```

use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars::sql::SQLContext;

use crate::catalog::{read_csv, read_parquet, Catalogs};
use crate::crossmatch::Matched;
use crate::error::{Error, Result};
use crate::synthetic::Truth;

/// `name` as an identifier SQL can write bare: lower case, characters other than ASCII letters,
/// digits and `_` replaced by `_`, a leading digit (or an empty name) prefixed with `_`.
///
/// ```
/// assert_eq!(xcluster::query::sql_name("planck_no-z_name"), "planck_no_z_name");
/// assert_eq!(xcluster::query::sql_name("MCXC"), "mcxc");
/// assert_eq!(xcluster::query::sql_name("2mass id"), "_2mass_id");
/// ```
pub fn sql_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// `df` with every column renamed by [`sql_name`]; two columns that would get the same name are an error.
pub fn sql_columns(df: &DataFrame) -> Result<DataFrame> {
    let mut out = df.clone();
    let mut seen: Vec<String> = Vec::new();
    for name in df.get_column_names() {
        let new = sql_name(name);
        if seen.contains(&new) {
            return Err(Error::param(
                "sql",
                format!("columns {:?} would both be called {new:?} in SQL: rename one first", name.as_str()),
            ));
        }
        if new != name.as_str() {
            out.rename(name, new.as_str().into())?;
        }
        seen.push(new);
    }
    Ok(out)
}

/// Named tables to run SQL on (names and columns made SQL-safe by [`sql_name`]).
#[derive(Debug, Clone, Default)]
pub struct Tables {
    tables: Vec<(String, DataFrame)>,
}

impl Tables {
    /// No tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) table `name` (made SQL-safe, as are its columns).
    pub fn with(mut self, name: &str, df: &DataFrame) -> Result<Self> {
        let name = sql_name(name);
        let df = sql_columns(df)?;
        self.tables.retain(|(n, _)| *n != name);
        self.tables.push((name, df));
        Ok(self)
    }

    /// Add every catalog of `cats` under its SQL name (`planck_z`, `planck_no_z`, `mcxc`, `rm30`, `rm50`, …).
    pub fn with_catalogs(mut self, cats: &Catalogs) -> Result<Self> {
        for cat in cats.iter() {
            self = self.with(cat.name(), cat.df())?;
        }
        Ok(self)
    }

    /// Add a synthetic sky's truth: `truth_clusters` and `truth_sources`.
    pub fn with_truth(self, truth: &Truth) -> Result<Self> {
        self.with("truth_clusters", &truth.clusters)?.with("truth_sources", &truth.sources)
    }

    /// The table names, in the order added.
    pub fn names(&self) -> Vec<&str> {
        self.tables.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Table `name` (its SQL name), if there is one.
    pub fn get(&self, name: &str) -> Option<&DataFrame> {
        let name = sql_name(name);
        self.tables.iter().find(|(n, _)| *n == name).map(|(_, df)| df)
    }

    /// One row per table: `table`, `rows`, `columns` (their names, comma-separated).
    pub fn df(&self) -> Result<DataFrame> {
        Ok(df!(
            "table" => self.names(),
            "rows" => self.tables.iter().map(|(_, d)| d.height() as u64).collect::<Vec<_>>(),
            "columns" => self.tables.iter().map(|(_, d)| d.get_column_names().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")).collect::<Vec<_>>(),
        )?)
    }

    /// Run `query` (polars SQL: SELECT with WHERE, JOIN, GROUP BY, ORDER BY, LIMIT, functions such
    /// as ABS, SIN, COS, RADIANS, DEGREES, ATAN2, ROUND, LOG10, IN, BETWEEN). An error names what
    /// polars rejected and lists the tables there are with their columns.
    pub fn sql(&self, query: &str) -> Result<DataFrame> {
        let mut ctx = SQLContext::new();
        for (name, df) in &self.tables {
            ctx.register(name, df.clone().lazy());
        }
        ctx.execute(query).and_then(|lf| lf.collect()).map_err(|e| self.error(query, e))
    }

    fn error(&self, query: &str, e: PolarsError) -> Error {
        let tables: Vec<String> = self
            .tables
            .iter()
            .map(|(n, d)| {
                let cols: Vec<&str> = d.get_column_names().iter().map(|c| c.as_str()).collect();
                format!("{n} ({})", cols.join(", "))
            })
            .collect();
        let what = e.to_string().replace('\n', " ");
        Error::param("sql", format!("{what}\n  query: {query}\n  tables: {}", tables.join("; ")))
    }

    /// The tables of a run folder (`output/<dataset>/<date>`, or its `files/`): `detections`
    /// (files/detections.parquet, required), and when present `summary`, `sightings`, `catalogs`,
    /// `dataset_clusters`, `evaluation`, `evaluation_detections`, `evaluation_clusters` and the
    /// `completeness_*` tables (each file's SQL name without extension).
    pub fn from_run(dir: impl AsRef<Path>) -> Result<Self> {
        let files = run_files(dir.as_ref())?;
        let mut t = Tables::new().with("detections", &read_parquet(&files.join("detections.parquet"))?)?;
        let mut extra: Vec<PathBuf> = std::fs::read_dir(&files)
            .map_err(|e| Error::io(&files, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv" || x == "parquet"))
            .collect();
        extra.sort();
        for path in extra {
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
            // detections.csv repeats the Parquet table; shard files are merged into sightings.
            if stem == "detections" || stem.contains(".shard-") || t.get(stem).is_some() {
                continue;
            }
            let df = if path.extension().is_some_and(|x| x == "csv") { read_csv(&path)? } else { read_parquet(&path)? };
            t = t.with(stem, &df)?;
        }
        Ok(t)
    }
}

/// The `files/` folder of a run folder given as `output/<dataset>/<date>` or as its `files/`,
/// checked to hold `detections.parquet`.
pub fn run_files(dir: &Path) -> Result<PathBuf> {
    let files = if dir.join("detections.parquet").is_file() { dir.to_path_buf() } else { dir.join("files") };
    if !files.join("detections.parquet").is_file() {
        return Err(Error::param(
            "run",
            format!(
                "{} holds no detections.parquet (nor does its files/): give a run folder output/<dataset>/<date> \
                 written by `xcluster run` or `xcluster predict`",
                dir.display()
            ),
        ));
    }
    Ok(files)
}

/// Run `query` over named DataFrames (names and columns made SQL-safe by [`sql_name`]).
pub fn sql(tables: &[(&str, &DataFrame)], query: &str) -> Result<DataFrame> {
    let mut t = Tables::new();
    for (name, df) in tables {
        t = t.with(name, df)?;
    }
    t.sql(query)
}

impl Matched {
    /// The tables [`Matched::sql`] queries: `detections` (one row per detection with its matches),
    /// `summary` (one row per cluster catalog). Add the catalogs with `.with_catalogs(&cats)?` and a
    /// synthetic sky's truth with `.with_truth(&truth)?`.
    pub fn tables(&self) -> Result<Tables> {
        Tables::new().with("detections", self.detections())?.with("summary", self.summary())
    }

    /// Run SQL over [`Matched::tables`]:
    /// `matched.sql("SELECT id, glon, glat, peak FROM detections WHERE class = 'unknown' AND ABS(glat) > 30")`.
    pub fn sql(&self, query: &str) -> Result<DataFrame> {
        self.tables()?.sql(query)
    }

    /// Run SQL over [`Matched::tables`] and every catalog of `cats` (`planck_z`, `planck_no_z`, `mcxc`, …).
    pub fn sql_with(&self, cats: &Catalogs, query: &str) -> Result<DataFrame> {
        self.tables()?.with_catalogs(cats)?.sql(query)
    }
}

impl crate::plot::NotebookDisplay for Tables {
    /// The tables a query can name, with their sizes and columns.
    fn to_html(&self) -> String {
        let rows = [("tables", self.tables.len().to_string())];
        crate::plot::card_or_error("Tables (SQL)", self.df().map(|df| (rows.to_vec(), Some(df))))
    }
}
