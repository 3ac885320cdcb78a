//! The output layout and atomic writes.
//!
//! In: a base folder (the params file's `<path>/output/<dataset>`, `OutputDirs::resolve(&params, today)`),
//! whether to reuse the latest dated folder (`merge_daily_output_directory`) and today's date.
//! Out: [`OutputDirs`], `<path>/output/<dataset>/<yyyy-mm-dd>/{files,figures,models}`, and
//! helpers that write a file through a temporary file and a rename, so a crash never leaves a
//! half-written file under the final name. The temporary files a killed process leaves behind
//! (`.xcluster-XXXXXX.part`) are removed by the next write into the same folder.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use polars::prelude::*;
use polars_io::prelude::*;

use crate::error::{Error, Result};

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
    /// The folders `<base>/<yyyy-mm-dd>` on `today`. With `merge_daily`, the most recent existing
    /// dated folder under `base` is reused (the original's behaviour); otherwise, and when none exists
    /// yet, today's. Nothing is created: see [`OutputDirs::create`].
    pub fn dated(base: impl AsRef<Path>, merge_daily: bool, today: NaiveDate) -> Result<Self> {
        let base = base.as_ref();
        let latest = if merge_daily { latest_dated(base)? } else { None };
        let root = base.join(latest.unwrap_or(today).format("%Y-%m-%d").to_string());
        Ok(OutputDirs { files: root.join("files"), figures: root.join("figures"), models: root.join("models"), root })
    }

    /// Create the folders (and their parents) if missing.
    pub fn create(&self) -> Result<&Self> {
        for dir in [&self.files, &self.figures, &self.models] {
            create_dir_all(dir)?;
        }
        Ok(self)
    }
}

/// Create `dir` and its missing parents. A file in the way (`dir` itself or a parent) is an
/// [`Error::NotAFolder`] naming it: the system's "File exists" / "Not a directory" names nothing.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| file_in_the_way(dir).unwrap_or_else(|| Error::io(dir, e)))
}

/// [`Error::NotAFolder`] for the nearest existing one of `dir` and its parents, if it is not a folder.
fn file_in_the_way(dir: &Path) -> Option<Error> {
    let (path, meta) = dir
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find_map(|a| std::fs::metadata(a).ok().map(|m| (a, m)))?;
    (!meta.is_dir()).then(|| Error::NotAFolder { path: path.to_path_buf() })
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

/// The temporary files of [`write_atomic`]: `.xcluster-` + [`TMP_RANDOM`] random letters and
/// digits + `.part`. Only names of exactly this shape are ever removed as stale.
const TMP_PREFIX: &str = ".xcluster-";
const TMP_SUFFIX: &str = ".part";
const TMP_RANDOM: usize = 6;

/// A temporary file younger than this is never removed, locked or not: it may be one that a
/// concurrent writer has just created and not locked yet.
const TMP_MIN_AGE: Duration = Duration::from_secs(10);

/// The names of the temporary files this process is writing now (random, so unique in practice
/// whatever the folder, however spelt). Another thread's file is skipped by name, since on file
/// systems that emulate `flock` with POSIX locks (NFS) a process does not see its own locks as taken.
static WRITING: Mutex<BTreeSet<OsString>> = Mutex::new(BTreeSet::new());

/// Write `path` atomically: the bytes produced by `write` go to a temporary file in the same
/// folder, which is renamed over `path` only once complete. The temporary file is locked while it
/// is written; unlocked ones left in the folder by a killed process are removed first.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // A missing folder or a file in its way is named here: tempfile's error names only its temporary file.
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NoFolder { path: path.to_path_buf(), folder: dir.to_path_buf() })
        }
        _ => {
            if let Some(e) = file_in_the_way(dir) {
                return Err(e);
            }
        }
    }
    remove_stale_temporaries(dir);
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .suffix(TMP_SUFFIX)
        .rand_bytes(TMP_RANDOM)
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let _writing = Writing::register(tmp.path());
    // The lock tells other processes' cleaners that this file is alive; released by the kernel when
    // the process dies, which is what makes a left-over file recognisably stale. Best effort: where
    // the file system has no locks the cleaners cannot lock either, and leave the file alone.
    let _ = tmp.as_file().try_lock();
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

/// Marks a temporary file as being written by this process until dropped (even on an error).
struct Writing(OsString);

impl Writing {
    fn register(path: &Path) -> Self {
        let name = path.file_name().unwrap_or_default().to_os_string();
        if let Ok(mut set) = WRITING.lock() {
            set.insert(name.clone());
        }
        Writing(name)
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        if let Ok(mut set) = WRITING.lock() {
            set.remove(&self.0);
        }
    }
}

/// Whether `name` has the exact shape of a [`write_atomic`] temporary file.
fn is_temporary_name(name: &OsStr) -> bool {
    let random = name.to_str().and_then(|n| n.strip_prefix(TMP_PREFIX)).and_then(|n| n.strip_suffix(TMP_SUFFIX));
    random.is_some_and(|r| r.len() == TMP_RANDOM && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Remove from `dir` the temporary files of [`write_atomic`] that a killed process left: named
/// exactly like ours, plain files, older than [`TMP_MIN_AGE`], not being written by this process
/// and not locked by another. Best effort: a file that cannot be checked or removed is left, and
/// never makes the write that follows fail.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !is_temporary_name(&name) {
            continue;
        }
        let path = entry.path();
        // `DirEntry::metadata` does not follow links: a link of our name is not ours.
        let old = entry.metadata().ok().filter(|m| m.is_file()).and_then(|m| m.modified().ok());
        if !old.is_some_and(|t| now.duration_since(t).is_ok_and(|age| age >= TMP_MIN_AGE)) {
            continue;
        }
        if WRITING.lock().map_or(true, |set| set.contains(&name)) {
            continue;
        }
        let Ok(file) = std::fs::File::open(&path) else { continue };
        // Holding its lock while removing it: no writer can be alive behind it.
        if file.try_lock().is_ok() {
            let _ = std::fs::remove_file(&path);
        }
    }
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
