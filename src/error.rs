//! The crate's one error type.
//!
//! Every variant names the stage, the file or parameter involved and the offending value, so that a
//! message read in a notebook or a terminal says what to change.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in xcluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter (params file key, builder setter or function argument) is out of range or unknown.
    #[error("{what}: {message}")]
    Param {
        /// The parameter or key, e.g. `params.bands` or `HealpixMap::new nside`.
        what: String,
        /// What is wrong and what would be accepted.
        message: String,
    },

    /// A FITS file could not be read or written, or is not what it claims to be.
    #[error("FITS file {path}: {message}")]
    Fits {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// A catalog could not be loaded or lacks a required column.
    #[error("catalog {name}: {message}")]
    Catalog {
        /// Catalog name or file.
        name: String,
        /// What is wrong.
        message: String,
    },

    /// An I/O failure on a named file. Its text ends with the source's (a notebook shows only the
    /// text), so whoever prints the chain of sources must not repeat it (the binary does not).
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A path that must be a folder (to create, or to write into) is a file.
    #[error("{path} is a file, not a folder: choose another path, or move the file away")]
    NotAFolder {
        /// The file in the way.
        path: PathBuf,
    },

    /// A file cannot be written because its folder does not exist.
    #[error("cannot write {path}: its folder {folder} does not exist; create it first")]
    NoFolder {
        /// The file to write.
        path: PathBuf,
        /// Its missing folder.
        folder: PathBuf,
    },

    /// A table operation failed inside polars.
    /// A model checkpoint that cannot be written, read or applied.
    #[error("model checkpoint {path}: {message}")]
    Model {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },

    /// A figure could not be drawn, encoded or saved.
    #[error("figure {what}: {message}")]
    Plot {
        /// The figure (or file) involved.
        what: String,
        /// What went wrong and what to do.
        message: String,
    },

    /// A dataset of the manifest could not be downloaded or verified.
    #[error("fetch {name}: {message}")]
    Fetch {
        /// The dataset (or file) involved.
        name: String,
        /// What went wrong and what to do.
        message: String,
    },

    /// Standard output could not be written (a full disk, a closed pipe): the command's report is
    /// lost. The reason is part of the message, not a source, so it reads once however printed.
    #[error("writing to stdout: {0}")]
    Stdout(std::io::Error),

    /// A polars operation failed.
    #[error("table: {0}")]
    Polars(#[from] polars::error::PolarsError),
}

impl Error {
    /// Shorthand for [`Error::Param`].
    pub fn param(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Param { what: what.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Fits`].
    pub fn fits(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Fits { path: path.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Catalog`].
    pub fn catalog(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Catalog { name: name.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Model`].
    pub fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Model { path: path.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Plot`].
    pub fn plot(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Plot { what: what.into(), message: message.to_string() }
    }

    /// Shorthand for [`Error::Fetch`].
    pub fn fetch(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Fetch { name: name.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// Return early with an [`Error::Param`] unless `cond` holds.
macro_rules! ensure_param {
    ($cond:expr, $what:expr, $($fmt:tt)+) => {
        // Through a block: `!(x > 0.0)` on floats reads as `x <= 0.0`, which it is not for NaN.
        if !{
            let holds: bool = $cond;
            holds
        } {
            return Err($crate::Error::param($what, format!($($fmt)+)));
        }
    };
}
pub(crate) use ensure_param;

/// Display, FromStr, TryFrom<String> and Into<String> for an enum with `ALL` and `name()`, parsing
/// names case-insensitively; an unknown name is an [`Error::Param`] on `$key` listing the allowed ones.
/// `aliases: EXPR` (an array of `(name, variant)`) adds names that parse too, listed after the others in
/// errors; `name()`, and so Display and serialisation, give the main name.
macro_rules! named_enum {
    ($ty:ty, $key:literal) => {
        $crate::error::named_enum!($ty, $key, aliases: []);
    };
    ($ty:ty, $key:literal, aliases: $aliases:expr) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::Error;
            fn from_str(s: &str) -> $crate::Result<Self> {
                let aliases: &[(&str, $ty)] = &$aliases;
                let found = <$ty>::ALL.into_iter().find(|v| v.name().eq_ignore_ascii_case(s.trim()));
                let alias = || aliases.iter().find(|(a, _)| a.eq_ignore_ascii_case(s.trim())).map(|&(_, v)| v);
                found.or_else(alias).ok_or_else(|| {
                    let allowed: Vec<&str> = <$ty>::ALL.iter().map(|v| v.name()).collect();
                    let also: Vec<String> = aliases.iter().map(|(a, v)| format!("{a} (= {})", v.name())).collect();
                    let also = if also.is_empty() { String::new() } else { format!("; also {}", also.join(", ")) };
                    $crate::Error::param($key, format!("unknown {} {s:?}; allowed: {}{also}", $key, allowed.join(", ")))
                })
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::Error;
            fn try_from(s: String) -> $crate::Result<Self> {
                s.parse()
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.name().to_string()
            }
        }
    };
}
pub(crate) use named_enum;
