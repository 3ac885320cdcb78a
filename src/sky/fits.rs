//! HEALPix maps in FITS binary tables (the healpy / Planck Legacy Archive format).
//!
//! In: a FITS file whose first extension is a BINTABLE with `PIXTYPE = 'HEALPIX'`, `NSIDE`,
//! `ORDERING` and one column per map, stored either one value per row (`TFORM = 'E'`/`'D'`, as
//! healpy ≥ 1.10 and the Planck PR3 maps) or 1024 values per row (`1024E`, older healpy / WMAP).
//! Out: a [`HealpixMap`] in the file's ordering with the column's `TUNIT`. Values are converted to
//! f32 by cfitsio while reading, so no f64 copy of a map is ever held.
//! Writing produces what `healpy.read_map` reads: one value per row, the keywords healpy writes.

use std::path::{Path, PathBuf};

use fitsio::hdu::{FitsHdu, HduInfo};
use fitsio::tables::{ColumnDataType, ColumnDescription, ConcreteColumnDescription};
use fitsio::FitsFile;

use super::healpix::{Grid, HealpixMap, Ordering};
use crate::error::{Error, Result};

/// Which column of the table holds the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// By name, e.g. `I_STOKES`, `TEMPERATURE`, `FULL` (case-insensitive).
    Name(String),
    /// By 0-based position (healpy's `field`).
    Index(usize),
}

impl From<&str> for Column {
    fn from(name: &str) -> Self {
        Column::Name(name.to_string())
    }
}

impl From<usize> for Column {
    fn from(index: usize) -> Self {
        Column::Index(index)
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Name(n) => write!(f, "column {n:?}"),
            Column::Index(i) => write!(f, "column index {i}"),
        }
    }
}

/// Read one HEALPix map from `path`, column `column` of the first extension.
///
/// Errors name the file and what is wrong: missing file, not FITS, truncated, no binary table,
/// not a HEALPix table (no `PIXTYPE`/`NSIDE`), missing `ORDERING`, no such column (the message lists
/// the columns there are), or a column length that does not match `NSIDE`.
///
/// ```no_run
/// use xcluster::sky::{read_map, Column};
/// let m = read_map("HFI_SkyMap_100-field-IQU_2048_R3.00_full.fits", "I_STOKES")?;
/// assert_eq!(m.nside, 2048);
/// # Ok::<(), xcluster::Error>(())
/// ```
pub fn read_map(path: impl AsRef<Path>, column: impl Into<Column>) -> Result<HealpixMap> {
    let path = path.as_ref();
    let column = column.into();
    let (mut file, hdu) = open_table(path)?;
    let err = |msg: String| Error::fits(path, msg);
    let (columns, num_rows) = match &hdu.info {
        HduInfo::TableInfo { column_descriptions, num_rows } => (column_descriptions.clone(), *num_rows),
        _ => return Err(err("the first extension is not a table, so this is not a HEALPix map".into())),
    };
    let pixtype = read_string_key(&mut file, &hdu, "PIXTYPE");
    let nside_key = hdu.read_key::<i64>(&mut file, "NSIDE").ok();
    let nside = match (pixtype.as_deref(), nside_key) {
        (Some(p), _) if !p.eq_ignore_ascii_case("HEALPIX") => {
            return Err(err(format!("not a HEALPix table: PIXTYPE = {p:?}, expected 'HEALPIX'")))
        }
        (_, Some(n)) if n >= 1 && n <= i64::from(u32::MAX) => n as u32,
        (_, Some(n)) => return Err(err(format!("invalid NSIDE = {n}"))),
        (None, None) => {
            return Err(err("not a HEALPix table: no PIXTYPE and no NSIDE keyword in the first extension".into()))
        }
        (Some(_), None) => return Err(err("HEALPix table without an NSIDE keyword".into())),
    };
    let ordering = match read_string_key(&mut file, &hdu, "ORDERING") {
        Some(o) => {
            Ordering::from_fits_name(&o).ok_or_else(|| err(format!("ORDERING = {o:?}; expected 'RING' or 'NESTED'")))?
        }
        None => return Err(err("no ORDERING keyword: cannot tell RING from NESTED".into())),
    };
    if let Some(scheme) = read_string_key(&mut file, &hdu, "INDXSCHM") {
        if scheme.eq_ignore_ascii_case("EXPLICIT") {
            return Err(err("partial-sky map (INDXSCHM = 'EXPLICIT') is not supported; write it full-sky".into()));
        }
    }
    let grid = Grid::new(nside, ordering).map_err(|e| err(e.to_string()))?;
    let (index, desc) = find_column(&columns, &column).ok_or_else(|| {
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        err(format!("no {column}; the table has columns {names:?}"))
    })?;
    if matches!(desc.data_type.typ, ColumnDataType::String | ColumnDataType::Text | ColumnDataType::Logical) {
        return Err(err(format!("column {:?} is not numeric", desc.name)));
    }
    let len = num_rows as u64 * desc.data_type.repeat as u64;
    if len != grid.npix() {
        return Err(err(format!(
            "NSIDE = {nside} needs {} pixels but column {:?} holds {len} ({num_rows} rows × {}); \
             the header and the data disagree",
            grid.npix(),
            desc.name,
            desc.data_type.repeat
        )));
    }
    let unit = read_string_key(&mut file, &hdu, &format!("TUNIT{}", index + 1)).unwrap_or_default();
    let data: Vec<f32> = hdu.read_col(&mut file, &desc.name).map_err(|e| {
        err(format!(
            "reading column {:?} failed — the file is probably truncated or corrupt ({})",
            desc.name,
            fits_message(&e)
        ))
    })?;
    HealpixMap::new(nside, ordering, unit, data).map_err(|e| err(e.to_string()))
}

/// Names of the columns of the first extension of a HEALPix FITS file (e.g. to pick one to read).
pub fn map_columns(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let (_, hdu) = open_table(path.as_ref())?;
    match hdu.info {
        HduInfo::TableInfo { column_descriptions, .. } => Ok(column_descriptions.into_iter().map(|c| c.name).collect()),
        _ => Err(Error::fits(path.as_ref(), "the first extension is not a table")),
    }
}

/// Write `map` to `path` as a one-column HEALPix table that healpy reads (atomically: a temporary
/// file in the same folder, renamed when complete; an existing file is replaced).
pub fn write_map(path: impl AsRef<Path>, map: &HealpixMap, column: &str) -> Result<()> {
    write_maps(path, &[(column, map)])
}

/// Write several maps of one nside and ordering as columns of one table (e.g. I, Q, U).
pub fn write_maps(path: impl AsRef<Path>, maps: &[(&str, &HealpixMap)]) -> Result<()> {
    let path = path.as_ref();
    let err = |msg: String| Error::fits(path, msg);
    let (_, first) = maps.first().ok_or_else(|| err("no map to write".into()))?;
    if let Some((name, m)) = maps.iter().find(|(_, m)| m.nside != first.nside || m.ordering != first.ordering) {
        return Err(err(format!(
            "column {name:?} has nside {} {:?}, the first map nside {} {:?}: all columns must share both",
            m.nside, m.ordering, first.nside, first.ordering
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".xcluster-")
        .suffix(".fits.part")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    // cfitsio refuses to create over an existing file: hand it a fresh name in the same folder.
    let tmp_path = tmp.path().to_path_buf();
    drop(tmp);
    let result = write_table(&tmp_path, maps).map_err(|e| err(format!("writing failed: {}", fits_message(&e))));
    match result {
        Ok(()) => std::fs::rename(&tmp_path, path).map_err(|e| Error::io(path, e)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp_path);
            Err(e)
        }
    }
}

fn write_table(path: &Path, maps: &[(&str, &HealpixMap)]) -> fitsio::errors::Result<()> {
    let first = maps[0].1;
    let columns: Vec<(&str, ColumnDataType)> = maps.iter().map(|(name, _)| (*name, ColumnDataType::Float)).collect();
    let (mut file, hdu) = create_healpix_table(path, &columns, first.nside, first.ordering)?;
    for (i, (name, map)) in maps.iter().enumerate() {
        if !map.unit.is_empty() {
            hdu.write_key(&mut file, &format!("TUNIT{}", i + 1), map.unit.as_str())?;
        }
        hdu.write_col(&mut file, *name, &map.data)?;
    }
    Ok(())
}

/// Create `path` (which must not exist) with an empty HEALPix table of `columns` and healpy's keywords.
pub(crate) fn create_healpix_table(
    path: &Path,
    columns: &[(&str, ColumnDataType)],
    nside: u32,
    ordering: Ordering,
) -> fitsio::errors::Result<(FitsFile, FitsHdu)> {
    let mut file = FitsFile::create(path).open()?;
    let descriptions = columns
        .iter()
        .map(|(name, typ)| ColumnDescription::new(*name).with_type(*typ).create())
        .collect::<fitsio::errors::Result<Vec<_>>>()?;
    let hdu = file.create_table("xtension", &descriptions)?;
    let npix = 12 * i64::from(nside) * i64::from(nside);
    hdu.write_key(&mut file, "PIXTYPE", ("HEALPIX", "HEALPIX pixelisation"))?;
    hdu.write_key(&mut file, "ORDERING", (ordering.fits_name(), "Pixel ordering scheme, either RING or NESTED"))?;
    hdu.write_key(&mut file, "COORDSYS", ("G", "Ecliptic, Galactic or Celestial (equatorial)"))?;
    hdu.write_key(&mut file, "NSIDE", (i64::from(nside), "Resolution parameter of HEALPIX"))?;
    hdu.write_key(&mut file, "FIRSTPIX", (0i64, "First pixel # (0 based)"))?;
    hdu.write_key(&mut file, "LASTPIX", (npix - 1, "Last pixel # (0 based)"))?;
    hdu.write_key(&mut file, "INDXSCHM", ("IMPLICIT", "Indexing: IMPLICIT or EXPLICIT"))?;
    hdu.write_key(&mut file, "OBJECT", ("FULLSKY", "Sky coverage, either FULLSKY or PARTIAL"))?;
    Ok((file, hdu))
}

/// Open `path` and move to its first extension, with errors that say what is wrong with the file.
fn open_table(path: &Path) -> Result<(FitsFile, FitsHdu)> {
    let err = |msg: String| Error::fits(path, msg);
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(err("no such file; check the path (real Planck maps come from `xcluster fetch`)".into()))
        }
        Err(e) => return Err(Error::io(path, e)),
        Ok(m) if m.is_dir() => return Err(err("is a directory, not a FITS file".into())),
        Ok(_) => {}
    }
    let mut head = [0u8; 9];
    let is_fits = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|_| &head == b"SIMPLE  =")
        .unwrap_or(false);
    if !is_fits {
        return Err(err("not a FITS file (it does not start with a SIMPLE card)".into()));
    }
    let mut file = FitsFile::open(path)
        .map_err(|e| err(format!("cannot be opened as FITS, probably truncated or corrupt ({})", fits_message(&e))))?;
    let hdu = file.hdu(1).map_err(|e| {
        err(format!(
            "HDU 1, where a HEALPix map lives, cannot be read: the file has no extension or is truncated ({})",
            fits_message(&e)
        ))
    })?;
    Ok((file, hdu))
}

fn read_string_key(file: &mut FitsFile, hdu: &FitsHdu, key: &str) -> Option<String> {
    hdu.read_key::<String>(file, key).ok().map(|s| s.trim().to_string())
}

fn find_column<'a>(
    columns: &'a [ConcreteColumnDescription],
    column: &Column,
) -> Option<(usize, &'a ConcreteColumnDescription)> {
    match column {
        Column::Index(i) => columns.get(*i).map(|c| (*i, c)),
        Column::Name(n) => columns.iter().enumerate().find(|(_, c)| c.name.eq_ignore_ascii_case(n)),
    }
}

fn fits_message(e: &fitsio::errors::Error) -> String {
    match e {
        fitsio::errors::Error::Fits(f) => format!("cfitsio status {}: {}", f.status, f.message),
        other => other.to_string(),
    }
}
