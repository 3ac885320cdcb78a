//! Reading catalogs from CSV, Parquet and FITS tables, and mapping their columns to ours.
//!
//! In: a file and a [`ColumnMap`] saying which of its columns hold name, position, redshift and
//! mass. Out: a raw polars DataFrame, normalised by [`crate::catalog::Catalog::from_df`].

use std::path::Path;

use fitsio::hdu::HduInfo;
use fitsio::tables::ColumnDataType;
use fitsio::FitsFile;
use polars::prelude::*;
use polars_io::prelude::*;

use crate::error::{Error, Result};

/// Which input columns hold the normalised quantities. Names are matched case-insensitively.
///
/// Unset entries are guessed from common spellings (see [`ColumnMap::auto`]). A catalog needs either
/// `ra`+`dec` (ICRS, degrees) or `glon`+`glat` (Galactic, degrees); the other pair is computed.
///
/// ```
/// use xcluster::catalog::ColumnMap;
/// let map = ColumnMap::auto().ra("RAdeg").dec("DECdeg").m500("M500c").m500_scale(1e-14);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMap {
    pub(crate) name: Option<String>,
    pub(crate) ra: Option<String>,
    pub(crate) dec: Option<String>,
    pub(crate) glon: Option<String>,
    pub(crate) glat: Option<String>,
    pub(crate) z: Option<String>,
    pub(crate) m500: Option<String>,
    pub(crate) m500_scale: f64,
}

impl Default for ColumnMap {
    fn default() -> Self {
        Self::auto()
    }
}

/// Spellings tried, in order, for each quantity when no column is named.
pub(crate) const ALIASES: [(&str, &[&str]); 7] = [
    ("name", &["name", "cluster", "id"]),
    ("ra", &["ra", "ra_deg", "radeg", "raj2000", "ra_icrs"]),
    ("dec", &["dec", "dec_deg", "decdeg", "dej2000", "dedeg", "dec_icrs"]),
    ("glon", &["glon", "glon_deg"]),
    ("glat", &["glat", "glat_deg"]),
    ("z", &["z", "redshift", "z_spec", "zspec"]),
    ("m500", &["m500", "msz", "m500c"]),
];

macro_rules! setter {
    ($field:ident, $doc:literal) => {
        #[doc = $doc]
        pub fn $field(mut self, column: &str) -> Self {
            self.$field = Some(column.to_string());
            self
        }
    };
}

impl ColumnMap {
    /// Guess every column from common spellings (`RA`, `RAJ2000`, `GLON`, `Z`, `REDSHIFT`, `M500`, …);
    /// M500 assumed in units of 10¹⁴ M☉.
    pub fn auto() -> Self {
        ColumnMap { name: None, ra: None, dec: None, glon: None, glat: None, z: None, m500: None, m500_scale: 1.0 }
    }

    setter!(name, "Column holding the object name.");
    setter!(ra, "Column holding ICRS right ascension in degrees.");
    setter!(dec, "Column holding ICRS declination in degrees.");
    setter!(glon, "Column holding Galactic longitude in degrees.");
    setter!(glat, "Column holding Galactic latitude in degrees.");
    setter!(z, "Column holding the redshift.");
    setter!(m500, "Column holding M500.");

    /// Factor that turns the M500 column into units of 10¹⁴ M☉ (1 by default; 1e-14 for a column in M☉).
    pub fn m500_scale(mut self, scale: f64) -> Self {
        self.m500_scale = scale;
        self
    }

    /// The explicitly named column for quantity `key` (`"ra"`, …), if any.
    pub(crate) fn explicit(&self, key: &str) -> Option<&str> {
        match key {
            "name" => self.name.as_deref(),
            "ra" => self.ra.as_deref(),
            "dec" => self.dec.as_deref(),
            "glon" => self.glon.as_deref(),
            "glat" => self.glat.as_deref(),
            "z" => self.z.as_deref(),
            "m500" => self.m500.as_deref(),
            _ => None,
        }
    }
}

/// Read a CSV file with a header line; empty fields are missing values.
pub fn read_csv(path: &Path) -> Result<DataFrame> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    csv_from_reader(file)
        .map_err(|e| Error::catalog(path.display().to_string(), format!("not a readable CSV file: {e}")))
}

pub(crate) fn csv_from_reader<R: polars_io::mmap::MmapBytesReader>(reader: R) -> PolarsResult<DataFrame> {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(None)
        .into_reader_with_file_handle(reader)
        .finish()
}

/// Read a Parquet file.
pub fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| Error::catalog(path.display().to_string(), format!("not a readable Parquet file: {e}")))
}

/// Read the first table extension of a FITS file: scalar numeric, logical and string columns
/// (vector columns, e.g. per-band arrays, are skipped). NaN in float columns becomes a missing value.
pub fn read_fits_table(path: &Path) -> Result<DataFrame> {
    let err = |msg: String| Error::fits(path, msg);
    if !path.exists() {
        return Err(err("no such file".into()));
    }
    let mut file = FitsFile::open(path).map_err(|e| err(format!("not a readable FITS file ({e})")))?;
    let hdu = file.hdu(1).map_err(|e| err(format!("no table extension in HDU 1 ({e})")))?;
    let (descriptions, rows) = match &hdu.info {
        HduInfo::TableInfo { column_descriptions, num_rows } => (column_descriptions.clone(), *num_rows),
        _ => return Err(err("HDU 1 is not a table".into())),
    };
    let mut columns = Vec::new();
    for (index, desc) in descriptions.into_iter().enumerate() {
        use ColumnDataType::*;
        let name = desc.name.as_str();
        let read_err = |e: fitsio::errors::Error| err(format!("column {name:?}: {e}"));
        let is_string = matches!(desc.data_type.typ, String | Text);
        if desc.data_type.repeat != 1 && !is_string {
            continue;
        }
        let column = match desc.data_type.typ {
            String | Text => {
                let values = read_strings(&mut file, index, desc.data_type.repeat, rows)
                    .map_err(|status| err(format!("column {name:?}: cfitsio status {status}")))?;
                Column::new(name.into(), values)
            }
            Logical => {
                let values: Vec<bool> = hdu.read_col(&mut file, name).map_err(read_err)?;
                Column::new(name.into(), values)
            }
            Byte | SignedByte | Short | UnsignedShort | Int | Long | UnsignedLong | LongLong | UnsignedLongLong => {
                let values: Vec<i64> = hdu.read_col(&mut file, name).map_err(read_err)?;
                Column::new(name.into(), values)
            }
            Float | Double => {
                let values: Vec<f64> = hdu.read_col(&mut file, name).map_err(read_err)?;
                let values: Vec<Option<f64>> = values.into_iter().map(|v| (!v.is_nan()).then_some(v)).collect();
                Column::new(name.into(), values)
            }
            Bit => continue,
        };
        columns.push(column);
    }
    DataFrame::new(rows, columns).map_err(Error::from)
}

/// The values of string column `index` (0-based) of the current table, trailing blanks removed.
///
/// Not fitsio's `read_col`: it allocates as many bytes as the column is wide, and cfitsio writes a
/// NUL after a value that fills the column, one byte past the buffer (a heap corruption; real PCCS2
/// names fill their 23 characters). Here every buffer holds the widest value plus that NUL.
fn read_strings(
    file: &mut FitsFile,
    index: usize,
    repeat: usize,
    rows: usize,
) -> std::result::Result<Vec<String>, i32> {
    use fitsio::sys::{ffgcdw, ffgcvs};
    let column = (index + 1) as i32;
    let mut status = 0;
    let mut display = 0;
    // SAFETY: `file` is an open FITS file positioned on the table; cfitsio only reads here.
    unsafe { ffgcdw(file.as_raw(), column, &mut display, &mut status) };
    if status != 0 {
        return Err(status);
    }
    let width = repeat.max(display.max(0) as usize) + 1;
    let mut buffers: Vec<Vec<std::ffi::c_char>> = vec![vec![0; width]; rows];
    let mut pointers: Vec<*mut std::ffi::c_char> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
    let mut null = [0 as std::ffi::c_char];
    // SAFETY: `rows` buffers of `width` bytes each, as many as the rows asked for, each room enough
    // for the column's widest value and its NUL; the buffers outlive the call.
    unsafe {
        ffgcvs(
            file.as_raw(),
            column,
            1,
            1,
            rows as i64,
            null.as_mut_ptr(),
            pointers.as_mut_ptr(),
            std::ptr::null_mut(),
            &mut status,
        )
    };
    if status != 0 {
        return Err(status);
    }
    Ok(buffers
        .iter()
        .map(|b| {
            let bytes: Vec<u8> = b.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
            String::from_utf8_lossy(&bytes).trim_end().to_string()
        })
        .collect())
}

/// Read a table by its extension: `.csv`, `.parquet`/`.pq`, `.fits`/`.fit`/`.fits.gz`/`.fit.gz`
/// (the first table extension), `.vot`/`.votable`/`.xml` (VOTable, TABLEDATA).
pub fn read_table(path: &Path) -> Result<DataFrame> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_lowercase();
    let ends = |exts: &[&str]| exts.iter().any(|e| name.ends_with(e));
    if ends(&[".csv"]) {
        read_csv(path)
    } else if ends(&[".parquet", ".pq"]) {
        read_parquet(path)
    } else if ends(&[".fits", ".fit", ".fits.gz", ".fit.gz", ".fz"]) {
        read_fits_table(path)
    } else if ends(&[".vot", ".votable", ".xml"]) {
        super::read_votable(path)
    } else {
        Err(Error::catalog(
            path.display().to_string(),
            "unknown table format: the name must end in .csv, .parquet, .fits (.fit, .fits.gz) or .vot (.votable, .xml)",
        ))
    }
}

/// An angle written as text, in degrees: a decimal number (degrees), or sexagesimal
/// `d:m:s`, `d m s`, `dᵈmᵐsˢ` / `dhms` forms (`12:30:49.4`, `+12 23 28`, `12h30m49.4s`, `-05d12m`),
/// in hours when `hours` (RA: × 15) and degrees otherwise. `None` when it is not an angle.
///
/// ```
/// use xcluster::catalog::parse_angle;
/// assert_eq!(parse_angle("187.5", true), Some(187.5));
/// assert!((parse_angle("12:30:00", true).unwrap() - 187.5).abs() < 1e-12);
/// assert!((parse_angle("-00 30 00", false).unwrap() + 0.5).abs() < 1e-12);
/// assert!((parse_angle("12h30m36s", true).unwrap() - 187.65).abs() < 1e-12);
/// assert_eq!(parse_angle("12:75:00", true), None);
/// ```
pub fn parse_angle(text: &str, hours: bool) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(v) = t.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    let (negative, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let parts: Vec<&str> = rest
        .split(|c: char| c == ':' || c.is_whitespace() || "hmsd°'\"′″".contains(c))
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let nums: Vec<f64> =
        parts.iter().map(|p| p.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)).collect::<Option<_>>()?;
    if nums.iter().skip(1).any(|&v| v >= 60.0) {
        return None;
    }
    let value = nums.iter().zip([1.0, 60.0, 3600.0]).map(|(v, d)| v / d).sum::<f64>();
    let value = if hours { value * 15.0 } else { value };
    Some(if negative { -value } else { value })
}

/// The values of text column `column` as angles in degrees ([`parse_angle`]; `hours` for RA).
/// An empty value is missing; anything else that is not an angle is an error naming the row.
pub(crate) fn angle_values(catalog: &str, df: &DataFrame, column: &str, hours: bool) -> Result<Vec<Option<f64>>> {
    let c = df.column(column)?;
    c.str()?
        .iter()
        .enumerate()
        .map(|(row, v)| match v.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => parse_angle(s, hours).map(Some).ok_or_else(|| {
                Error::catalog(
                    catalog,
                    format!(
                        "column {column:?} row {row}: {s:?} is not an angle (decimal degrees, or sexagesimal {})",
                        if hours { "hours h:m:s" } else { "degrees d:m:s" }
                    ),
                )
            }),
        })
        .collect()
}
