//! The output layout and atomic writes.
//!
//! In: [`Params`] (base `path`, `dataset`, `merge_daily_output_directory`) and today's date.
//! Out: [`OutputDirs`], `<path>/output/<dataset>/<yyyy-mm-dd>/{files,figures,models}`, and
//! helpers that write a file through a temporary file and a rename, so a crash never leaves a
//! half-written file under the final name.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;

use crate::error::{Error, Result};
use crate::params::Params;

/// The folders of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputDirs {
    /// `<path>/output/<dataset>/<yyyy-mm-dd>`.
    pub root: PathBuf,
    /// Tables and text results.
    pub files: PathBuf,
    /// Figures.
    pub figures: PathBuf,
    /// Trained models and their normalisers.
    pub models: PathBuf,
}

impl OutputDirs {
    /// The folders for `params` on `today`. With `merge_daily_output_directory`, the most recent
    /// existing dated folder of the dataset is reused (the original's behaviour); otherwise, and when
    /// none exists yet, today's. Nothing is created: see [`OutputDirs::create`].
    pub fn resolve(params: &Params, today: NaiveDate) -> Result<Self> {
        let base = params.path.join("output").join(params.dataset.name());
        let latest = if params.merge_daily_output_directory { latest_dated(&base)? } else { None };
        let root = base.join(latest.unwrap_or(today).format("%Y-%m-%d").to_string());
        Ok(OutputDirs { files: root.join("files"), figures: root.join("figures"), models: root.join("models"), root })
    }

    /// Create the folders (and their parents) if missing.
    pub fn create(&self) -> Result<&Self> {
        for dir in [&self.files, &self.figures, &self.models] {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Ok(self)
    }
}

/// The latest `yyyy-mm-dd` sub-folder of `base`, if any.
fn latest_dated(base: &Path) -> Result<Option<NaiveDate>> {
    let entries = match std::fs::read_dir(base) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(base, e)),
    };
    Ok(entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| NaiveDate::parse_from_str(&e.file_name().to_string_lossy(), "%Y-%m-%d").ok())
        .max())
}

/// Write `path` atomically: the bytes produced by `write` go to a temporary file in the same
/// folder, which is renamed over `path` only once complete.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".xcluster-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    write(tmp.as_file_mut()).and_then(|_| tmp.as_file_mut().flush()).map_err(|e| Error::io(path, e))?;
    // Temporary files are created private (0600); outputs get a regular file's 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| Error::io(path, e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Write `df` as Parquet to `path`, atomically.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    write_atomic(path, |f| {
        ParquetWriter::new(f).finish(df).map_err(std::io::Error::other)?;
        Ok(())
    })
}

/// Write `df` as CSV with a header line, atomically.
pub fn write_csv(path: &Path, df: &DataFrame) -> Result<()> {
    let mut df = df.clone();
    write_atomic(path, |f| {
        CsvWriter::new(f).include_header(true).finish(&mut df).map_err(|e| std::io::Error::other(e.to_string()))
    })
}
