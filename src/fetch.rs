//! Downloading the datasets of the [`crate::manifest`]: resumable, verified, atomic.
//!
//! In: a [`Dataset`] and a folder. Out: the file in that folder under its manifest name, its size
//! and SHA-256 checked ([`Fetched`]).
//!
//! How a file travels:
//! 1. bytes go to `<file>.part` beside the final name; an interrupted download leaves them there
//!    and the next call resumes with an HTTP range request (a server that ignores ranges makes it
//!    start over);
//! 2. the complete `.part` is checked against the expected size and SHA-256 — the manifest's, or
//!    the ones recorded in `xcluster-checksums.toml` of that folder by the first download when the
//!    manifest has none;
//! 3. only a file that passes is renamed to its final name; one that fails is moved to
//!    `<file>.rejected` for inspection and the call fails, so no corrupt file ever sits under the
//!    final name.
//!
//! A file already present is verified, not downloaded again. The `.part` file is locked while a
//! download runs, so a second `xcluster fetch` of the same file stops with a message instead of
//! writing into it. A server that stops sending for [`STALL_TIMEOUT`] ends the attempt like a
//! dropped connection: the bytes received stay in `.part` for the next call to resume from.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::Dataset;
use crate::output::write_atomic;

/// The file, in each download folder, that keeps the size and SHA-256 of files whose manifest entry
/// has none (recorded on their first download, verified on every later call).
pub const CHECKSUMS_FILE: &str = "xcluster-checksums.toml";

const CHUNK: usize = 1 << 20;

/// How long a download may receive nothing before it is abandoned ([`Fetcher::stall_timeout`]).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// What [`Fetcher::fetch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Downloaded from the start.
    Downloaded,
    /// Continued from this many bytes of an earlier, interrupted download.
    Resumed(u64),
    /// Already there; verified.
    Present,
}

/// How the checksum was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Against the manifest's SHA-256.
    Manifest,
    /// Against the SHA-256 recorded by an earlier download.
    Recorded,
    /// Not known before: recorded now in [`CHECKSUMS_FILE`].
    NewlyRecorded,
}

/// A verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The dataset's name.
    pub name: String,
    /// Where the file is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Downloaded, resumed or already present.
    pub outcome: Outcome,
    /// What the checksum was checked against.
    pub check: Check,
}

/// One entry of [`CHECKSUMS_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    size: u64,
    sha256: String,
    url: String,
}

/// Downloads datasets with one HTTP agent (connection reuse, timeouts, a user agent naming xcluster).
#[derive(Debug, Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    /// The longest wait for the next bytes (answer or body) before the attempt is given up.
    stall: Duration,
    progress: bool,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Fetcher {
    /// A fetcher with progress bars, 30 s to connect and [`STALL_TIMEOUT`] (60 s) for a server to
    /// answer or send more.
    pub fn new() -> Self {
        Fetcher { agent: agent(STALL_TIMEOUT), stall: STALL_TIMEOUT, progress: true }
    }

    /// Give up an attempt when the server sends nothing for `limit` (default [`STALL_TIMEOUT`]):
    /// the bytes received stay in `<file>.part` and the next [`Fetcher::fetch`] resumes from them.
    /// The limit restarts with every byte that arrives, so a slow but steady multi-GB map is never
    /// cut; only a transfer that hangs is.
    pub fn stall_timeout(mut self, limit: Duration) -> Self {
        self.agent = agent(limit);
        self.stall = limit;
        self
    }

    /// Show progress bars (on a terminal) or not.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Make `dataset` present and verified in `dir` (created if missing): download it (or resume
    /// an interrupted download) when it is not there, then check size and SHA-256.
    pub fn fetch(&self, dataset: &Dataset, dir: &Path) -> Result<Fetched> {
        crate::output::create_dir_all(dir)?;
        let path = dir.join(&dataset.file);
        let part = sibling(&path, "part");
        let recorded = read_records(dir)?.remove(&dataset.file);
        let expected = Expected::new(dataset, recorded.as_ref());
        if path.exists() {
            let sha256 = self.verify(dataset, &path, &expected, &path)?;
            return finish(dataset, dir, path, sha256, Outcome::Present, &expected, None);
        }
        let _lock = lock(&dataset.name, &part)?;
        let (outcome, url) = self.download(dataset, &part, expected.size)?;
        let sha256 = self.verify(dataset, &part, &expected, &path)?;
        std::fs::rename(&part, &path).map_err(|e| Error::io(&path, e))?;
        finish(dataset, dir, path, sha256, outcome, &expected, Some(url))
    }

    /// Try each URL in turn until one delivers the whole file into `part`.
    fn download(&self, dataset: &Dataset, part: &Path, size: Option<u64>) -> Result<(Outcome, String)> {
        let mut failures = Vec::new();
        let mut offline = true;
        for url in &dataset.urls {
            match self.download_from(url, part, size) {
                Ok(outcome) => return Ok((outcome, url.clone())),
                Err(failure) => {
                    offline &= failure.unreachable;
                    failures.push(format!("{url}: {}", failure.message));
                }
            }
        }
        if std::fs::metadata(part).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(part);
        }
        let dir = part.parent().unwrap_or(Path::new("."));
        let advice = if offline {
            format!(
                "no server could be reached: is this machine offline or behind a proxy (set HTTPS_PROXY)? \
                 Run `xcluster fetch {name}` again once online; or download {url} by hand elsewhere, copy it to \
                 {dir}/{file}, and run `xcluster fetch {name} --to {dir}` to verify it",
                name = dataset.name,
                url = dataset.urls[0],
                dir = dir.display(),
                file = dataset.file
            )
        } else {
            let kept = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
            let resume = if kept > 0 {
                format!(
                    "; the {kept} bytes received are kept in {} and the next `xcluster fetch {}` resumes from there",
                    part.display(),
                    dataset.name
                )
            } else {
                String::new()
            };
            format!("run the same command again{resume}; if a URL is gone, please report it (the manifest may be out of date)")
        };
        Err(Error::fetch(&dataset.name, format!("{}\n{advice}", failures.join("\n"))))
    }

    /// One attempt at one URL: resume from what `part` holds, append the rest.
    fn download_from(&self, url: &str, part: &Path, size: Option<u64>) -> std::result::Result<Outcome, Failure> {
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if have > 0 && size == Some(have) {
            return Ok(Outcome::Resumed(have));
        }
        let mut request = self.agent.get(url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let mut response = request.call().map_err(|e| match e {
            // The connection stands but the answer does not come: a hung server, not an offline machine.
            ureq::Error::Timeout(ureq::Timeout::PerRead | ureq::Timeout::RecvResponse) => {
                Failure::message(format!("the server sent no answer for {:?}", self.stall))
            }
            e => Failure::from(e),
        })?;
        let status = response.status().as_u16();
        let length = header_u64(&response, "content-length");
        let (start, outcome) = match status {
            206 if content_range_start(&response) == Some(have) => (have, Outcome::Resumed(have)),
            200 | 206 => (0, Outcome::Downloaded),
            // The range starts at or past the end: `part` already holds the whole file.
            416 if have > 0 => return Ok(Outcome::Resumed(have)),
            404 => return Err(Failure::message("the server has no such file (HTTP 404 Not Found)")),
            code => return Err(Failure::message(format!("the server answered HTTP {code}"))),
        };
        let total = length.map(|n| start + n);
        if let (Some(total), Some(size)) = (total, size) {
            if total != size {
                return Err(Failure::message(format!(
                    "the server offers {total} bytes but the manifest expects {size}: a different file"
                )));
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(start == 0)
            .append(start > 0)
            .open(part)
            .map_err(|e| Failure::message(format!("{}: {e}", part.display())))?;
        let bar = self.bar(total.or(size), &format!("{} ", short_name(part)));
        bar.set_position(start);
        let received = copy(&mut response.body_mut().as_reader(), file, &bar).map_err(|e| {
            let at = bar.position();
            if stalled(&e) {
                Failure::message(format!("nothing received for {:?}: the server stalled after {at} bytes", self.stall))
            } else {
                Failure::message(format!("{e} — the transfer stopped after {at} bytes"))
            }
        })?;
        bar.finish_and_clear();
        if let Some(total) = total {
            if start + received != total {
                return Err(Failure::message(format!(
                    "the transfer stopped after {} of {total} bytes",
                    start + received
                )));
            }
        }
        Ok(outcome)
    }

    /// Check `file`'s size and SHA-256 against `expected`; on a mismatch move it to
    /// `<final>.rejected` and fail. Returns the SHA-256.
    fn verify(&self, dataset: &Dataset, file: &Path, expected: &Expected, final_path: &Path) -> Result<String> {
        let size = std::fs::metadata(file).map_err(|e| Error::io(file, e))?.len();
        let sha256 = self.sha256(file, size)?;
        let wrong_size = expected.size.filter(|&s| s != size).map(|s| format!("size {size} bytes, expected {s}"));
        let wrong_sum = expected
            .sha256
            .as_ref()
            .filter(|s| !s.eq_ignore_ascii_case(&sha256))
            .map(|s| format!("SHA-256 {sha256}, expected {s}"));
        let Some(problem) = wrong_size.or(wrong_sum) else {
            return Ok(sha256);
        };
        let rejected = sibling(final_path, "rejected");
        std::fs::rename(file, &rejected).map_err(|e| Error::io(&rejected, e))?;
        let source = match expected.sha256_from {
            Some(Check::Recorded) => format!("recorded in {CHECKSUMS_FILE} by its first download"),
            _ => "from the manifest".into(),
        };
        Err(Error::fetch(
            &dataset.name,
            format!(
                "{}: {problem} ({source}). The file is moved to {} for inspection, and nothing is left under \
                 the final name; run `xcluster fetch {}` again to download it anew",
                file.display(),
                rejected.display(),
                dataset.name
            ),
        ))
    }

    fn sha256(&self, path: &Path, size: u64) -> Result<String> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let bar = self.bar(Some(size), &format!("checking {} ", short_name(path)));
        let mut hasher = Sha256::new();
        let mut reader = bar.wrap_read(file);
        std::io::copy(&mut reader, &mut hasher).map_err(|e| Error::io(path, e))?;
        bar.finish_and_clear();
        Ok(hex(&hasher.finalize()))
    }

    fn bar(&self, len: Option<u64>, prefix: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let (bar, template) = match len {
            Some(n) => (ProgressBar::new(n), "{prefix}{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"),
            None => (ProgressBar::no_length(), "{prefix}{spinner} {bytes} {bytes_per_sec}"),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.with_prefix(prefix.to_string())
    }
}

/// The size and SHA-256 a file must have, and where they come from.
struct Expected {
    size: Option<u64>,
    sha256: Option<String>,
    sha256_from: Option<Check>,
}

impl Expected {
    fn new(dataset: &Dataset, recorded: Option<&Record>) -> Self {
        match (&dataset.sha256, recorded) {
            (Some(sum), _) => {
                Expected { size: dataset.size, sha256: Some(sum.clone()), sha256_from: Some(Check::Manifest) }
            }
            (None, Some(r)) => Expected {
                size: dataset.size.or(Some(r.size)),
                sha256: Some(r.sha256.clone()),
                sha256_from: Some(Check::Recorded),
            },
            (None, None) => Expected { size: dataset.size, sha256: None, sha256_from: None },
        }
    }
}

/// The HTTP agent: one per fetcher, so connections are reused across files.
fn agent(stall: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("xcluster/", env!("CARGO_PKG_VERSION"), " (+https://crates.io/crates/xcluster)"))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(stall))
        // Per read, restarted by every byte, not per transfer: a Planck map is GBs and may take hours,
        // but a server that sends nothing for `stall` has hung and would otherwise block forever.
        .timeout_per_read(Some(stall))
        .build()
        .new_agent()
}

/// Whether a read of the body failed because nothing arrived within the stall limit.
fn stalled(e: &std::io::Error) -> bool {
    // ureq hands its own timeout through the reader wrapped in an I/O error of kind Other.
    let ours = e.get_ref().and_then(|inner| inner.downcast_ref::<ureq::Error>());
    e.kind() == std::io::ErrorKind::TimedOut || matches!(ours, Some(ureq::Error::Timeout(_)))
}

/// Why one URL failed; `unreachable` when no connection could be made at all.
struct Failure {
    message: String,
    unreachable: bool,
}

impl Failure {
    fn message(message: impl Into<String>) -> Self {
        Failure { message: message.into(), unreachable: false }
    }
}

impl From<ureq::Error> for Failure {
    fn from(e: ureq::Error) -> Self {
        use std::io::ErrorKind::*;
        // A failed name lookup comes as an uncategorised I/O error: recognised by its text.
        let no_dns = |io: &std::io::Error| io.to_string().contains("lookup address");
        let unreachable = match &e {
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Timeout(_) => true,
            ureq::Error::Io(io) => {
                no_dns(io)
                    || matches!(
                        io.kind(),
                        ConnectionRefused
                            | NetworkUnreachable
                            | HostUnreachable
                            | NetworkDown
                            | TimedOut
                            | NotConnected
                    )
            }
            _ => false,
        };
        let message = match &e {
            ureq::Error::HostNotFound => "host not found".to_string(),
            ureq::Error::Io(io) if no_dns(io) => format!("host not found ({io})"),
            ureq::Error::Io(io) if io.kind() == ConnectionRefused => "connection refused".to_string(),
            other => other.to_string(),
        };
        Failure { message, unreachable }
    }
}

/// Open (creating) `part` and lock it for this process until the returned file is dropped: two
/// `xcluster fetch` writing one file would interleave their bytes.
fn lock(name: &str, part: &Path) -> Result<File> {
    let file = OpenOptions::new().create(true).append(true).open(part).map_err(|e| Error::io(part, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::fetch(
            name,
            format!("another `xcluster fetch` is downloading {} right now; let it finish", part.display()),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(part, e)),
    }
}

/// Record the size and SHA-256 of a verified file when they were not known before, and report.
fn finish(
    dataset: &Dataset,
    dir: &Path,
    path: PathBuf,
    sha256: String,
    outcome: Outcome,
    expected: &Expected,
    url: Option<String>,
) -> Result<Fetched> {
    let size = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
    let check = match expected.sha256_from {
        Some(check) => check,
        None => {
            let url = url.unwrap_or_else(|| "(present before the first fetch)".into());
            record(dir, &dataset.file, Record { size, sha256: sha256.clone(), url })?;
            Check::NewlyRecorded
        }
    };
    Ok(Fetched { name: dataset.name.clone(), path, size, sha256, outcome, check })
}

/// Append `reader` to `file` in 1 MiB chunks, advancing `bar`; flushed and synced before returning.
fn copy(reader: &mut impl Read, file: File, bar: &ProgressBar) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(CHUNK, file);
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    let result = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Ok(total),
            Ok(n) => {
                if let Err(e) = out.write_all(&buf[..n]) {
                    break Err(e);
                }
                total += n as u64;
                bar.inc(n as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
    };
    // Keep what arrived, even on an error: the next run resumes from it.
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    result
}

fn header_u64(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The first byte of a `Content-Range: bytes a-b/n` header.
fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    value.trim().strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

fn sibling(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{extension}"));
    path.with_file_name(name)
}

fn short_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_records(dir: &Path) -> Result<BTreeMap<String, Record>> {
    let path = dir.join(CHECKSUMS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            Error::fetch(
                path.display().to_string(),
                format!("unreadable ({}); fix or delete it (its checksums are then recorded anew)", e.message()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn record(dir: &Path, file: &str, entry: Record) -> Result<()> {
    let mut records = read_records(dir)?;
    records.insert(file.to_string(), entry);
    let text = toml::to_string_pretty(&records).map_err(|e| Error::fetch(CHECKSUMS_FILE, e.to_string()))?;
    let header = "# Sizes and SHA-256 of downloaded files whose manifest entry has none, recorded by their first\n\
                  # `xcluster fetch` and verified by every later one. Delete an entry to record it anew.\n\n";
    write_atomic(&dir.join(CHECKSUMS_FILE), |f| f.write_all(format!("{header}{text}").as_bytes()))
}
