//! Exports: tables as files TOPCAT, Aladin, DS9 and astropy open directly.
//!
//! In: any DataFrame (detections, a join, a query's result, a [`Catalog`]) and a path; the format
//! comes from the extension ([`Format::of_path`]) or is given ([`export_as`]). Out: the file, written
//! atomically (a crash never leaves a half-written file under the final name):
//!
//! | format | extension | what |
//! |---|---|---|
//! | [`Format::Csv`] | `.csv` | header line; list columns (`patch_ids`) as space-separated text |
//! | [`Format::Parquet`] | `.parquet`, `.pq` | the table as it is |
//! | [`Format::Fits`] | `.fits`, `.fit` | a binary table (extension 1, `EXTNAME` = the table name) with `TUNITn` units and `TCOMMn` descriptions (TOPCAT shows both); floats as `D`/`E` (null = NaN), integers as `K` (null = `TNULLn`), booleans as `L`, text (and lists) as `A` |
//! | [`Format::VoTable`] | `.vot`, `.votable`, `.xml` | VOTable 1.4, TABLEDATA, with units, UCDs for positions and names, descriptions |
//! | [`Format::Region`] | `.reg` | a DS9 region file (Aladin opens it too): one ICRS circle per row, of the detection's equivalent radius √(area/π) (5′ without an area), coloured by `class` (known green, unknown red, contaminant yellow), labelled with `name` or `id` |
//!
//! Units and descriptions come from the column names ([`column_meta`]): `glon`, `ra`, … in deg,
//! `*_arcmin` in arcmin, `*_arcmin2` in arcmin², `m500` in 10¹⁴ M☉, and so on.

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::catalog::Catalog;
use crate::crossmatch::{lists_as_text, Matched};
use crate::error::{named_enum, Error, Result};
use crate::join::galactic_positions;
use crate::output::{write_atomic, write_csv, write_parquet};
use crate::sky::galactic_to_icrs;

/// A file format of [`export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// FITS binary table.
    Fits,
    /// IVOA VOTable (TABLEDATA).
    VoTable,
    /// DS9 / Aladin region file.
    Region,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [Format::Csv, Format::Parquet, Format::Fits, Format::VoTable, Format::Region];

    /// The name on the command line: `csv`, `parquet`, `fits`, `votable`, `reg`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Fits => "fits",
            Format::VoTable => "votable",
            Format::Region => "reg",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::VoTable => "vot",
            other => other.name(),
        }
    }

    /// The format of `path` by its extension; an error lists the known ones.
    pub fn of_path(path: &Path) -> Result<Format> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_lowercase();
        Ok(match ext.as_str() {
            "csv" => Format::Csv,
            "parquet" | "pq" => Format::Parquet,
            "fits" | "fit" => Format::Fits,
            "vot" | "votable" | "xml" => Format::VoTable,
            "reg" => Format::Region,
            _ => {
                return Err(Error::param(
                    "export",
                    format!(
                        "{}: unknown extension {ext:?}; use .csv, .parquet, .fits, .vot (.votable, .xml) or .reg",
                        path.display()
                    ),
                ))
            }
        })
    }
}

named_enum!(Format, "format", aliases: [("vot", Format::VoTable), ("region", Format::Region), ("ds9", Format::Region), ("fit", Format::Fits), ("pq", Format::Parquet)]);

/// Write `df` to `path` in the format of its extension (see the [module docs](self)); returns the path.
pub fn export(df: &DataFrame, path: impl AsRef<Path>) -> Result<PathBuf> {
    let path = path.as_ref();
    export_as(df, path, Format::of_path(path)?, "table")
}

/// Write `df` to `path` as `format`; `table` names the table inside FITS and VOTable files.
pub fn export_as(df: &DataFrame, path: impl AsRef<Path>, format: Format, table: &str) -> Result<PathBuf> {
    let path = path.as_ref();
    match format {
        Format::Csv => write_csv(path, &lists_as_text(df)?)?,
        Format::Parquet => write_parquet(path, &mut df.clone())?,
        Format::Fits => write_fits(df, path, table)?,
        Format::VoTable => {
            let text = votable(df, table)?;
            write_atomic(path, |f| f.write_all(text.as_bytes()))?
        }
        Format::Region => {
            let text = region_file(df)?;
            write_atomic(path, |f| f.write_all(text.as_bytes()))?
        }
    }
    Ok(path.to_path_buf())
}

impl Matched {
    /// Write the detections with their matches to `path`, the format chosen by its extension
    /// (`.csv`, `.parquet`, `.fits`, `.vot`, `.reg`; see the [`export`](crate::export) module).
    pub fn export(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        export_as(self.detections(), path, Format::of_path(path)?, "detections")
    }
}

impl Catalog {
    /// Write the catalog to `path`, the format chosen by its extension (see [`export`]).
    pub fn export(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        export_as(self.df(), path, Format::of_path(path)?, self.name())
    }
}

/// The unit (FITS / VOUnit spelling, empty when none) and a one-line description of a column, by its name.
pub fn column_meta(name: &str) -> (&'static str, String) {
    let n = name.to_lowercase();
    let fixed: Option<(&'static str, &str)> = match n.as_str() {
        "id" => Some(("", "detection number (0 = highest peak probability)")),
        "name" => Some(("", "object name")),
        "catalog" => Some(("", "catalog the row comes from")),
        "glon" => Some(("deg", "Galactic longitude")),
        "glat" => Some(("deg", "Galactic latitude")),
        "ra" => Some(("deg", "right ascension (ICRS)")),
        "dec" => Some(("deg", "declination (ICRS)")),
        "peak" => Some(("", "peak U-Net probability of the detection")),
        "npix" => Some(("pix", "pixels above the threshold in the best patch")),
        "area_arcmin2" => Some(("arcmin2", "area above the threshold")),
        "n_patches" => Some(("", "scanned patches the detection was seen on")),
        "patch_ids" => Some(("", "ids of those patches (space-separated)")),
        "tile" => Some(("", "HEALPix nside-2 RING tile (0-47)")),
        "split" => Some(("", "train / val / test split of the tile")),
        "known" => Some(("", "matched in a cluster catalog")),
        "class" => Some(("", "known, unknown or contaminant")),
        "contaminant" => Some(("", "catalog of the nearest contaminant source")),
        "contaminant_name" => Some(("", "name of the nearest contaminant source")),
        "z" => Some(("", "redshift")),
        "m500" => Some(("10**14 solMass", "M500")),
        "snr" | "mmf_snr" => Some(("", "matched-filter signal-to-noise ratio")),
        "y5r500" => Some(("10**-3 arcmin2", "integrated Compton Y within 5 R500")),
        "y5r500_arcmin2" => Some(("arcmin2", "integrated Compton Y within 5 R500")),
        "theta500_arcmin" => Some(("arcmin", "angular radius theta500")),
        "sep_arcmin" => Some(("arcmin", "separation of the positional match")),
        _ => None,
    };
    if let Some((unit, desc)) = fixed {
        return (unit, desc.to_string());
    }
    if let Some(cat) = n.strip_suffix("_sep_arcmin") {
        return ("arcmin", format!("separation to the nearest {cat} match"));
    }
    if let Some(cat) = n.strip_suffix("_name") {
        return ("", format!("name of the nearest {cat} match"));
    }
    for (suffix, unit) in [("_arcmin2", "arcmin2"), ("_arcmin", "arcmin"), ("_deg", "deg"), ("_mpc", "Mpc")] {
        if n.ends_with(suffix) || n.contains(&format!("{suffix}_")) {
            return (unit, String::new());
        }
    }
    if n.starts_with("sep_arcmin") {
        return ("arcmin", "separation of the positional match".to_string());
    }
    ("", String::new())
}

/// How a column is stored in FITS and VOTable files.
enum Stored {
    F64(Vec<Option<f64>>),
    F32(Vec<Option<f32>>),
    I64(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Text(Vec<Option<String>>),
}

fn stored(col: &Column) -> Result<Stored> {
    use DataType::*;
    Ok(match col.dtype() {
        Float64 => Stored::F64(col.f64()?.iter().collect()),
        Float32 => Stored::F32(col.f32()?.iter().collect()),
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => {
            Stored::I64(col.cast(&Int64)?.i64()?.iter().collect())
        }
        UInt64 => {
            let c = col.u64()?;
            if c.iter().flatten().any(|v| v > i64::MAX as u64) {
                Stored::Text(c.iter().map(|v| v.map(|v| v.to_string())).collect())
            } else {
                Stored::I64(c.iter().map(|v| v.map(|v| v as i64)).collect())
            }
        }
        Boolean => Stored::Bool(col.bool()?.iter().collect()),
        List(_) => {
            let df = DataFrame::new(col.len(), vec![col.clone()])?;
            let text = lists_as_text(&df)?;
            Stored::Text(text.column(col.name().as_str())?.str()?.iter().map(|v| v.map(str::to_string)).collect())
        }
        _ => Stored::Text(col.cast(&String)?.str()?.iter().map(|v| v.map(str::to_string)).collect()),
    })
}

/// The null of integer columns in FITS (`TNULLn`) and VOTable (`VALUES null`).
const INT_NULL: i64 = i64::MIN;

/// Write `df` as a FITS binary table (see the [module docs](self)).
pub fn write_fits(df: &DataFrame, path: &Path, table: &str) -> Result<()> {
    use fitsio::tables::{ColumnDataType, ColumnDescription};
    use fitsio::FitsFile;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::NoFolder { path: path.to_path_buf(), folder: dir.to_path_buf() });
    }
    let err = |m: String| Error::fits(path, m);
    let columns: Vec<(String, Stored)> =
        df.columns().iter().map(|c| Ok((c.name().to_string(), stored(c)?))).collect::<Result<_>>()?;
    let mut descriptions = Vec::with_capacity(columns.len());
    for (name, s) in &columns {
        let mut d = ColumnDescription::new(name);
        match s {
            Stored::F64(_) => d.with_type(ColumnDataType::Double),
            Stored::F32(_) => d.with_type(ColumnDataType::Float),
            Stored::I64(_) => d.with_type(ColumnDataType::LongLong),
            Stored::Bool(_) => d.with_type(ColumnDataType::Logical),
            Stored::Text(v) => {
                let width = v.iter().flatten().map(|s| s.len()).max().unwrap_or(0).max(1);
                d.with_type(ColumnDataType::String).that_repeats(width)
            }
        };
        descriptions.push(d.create().map_err(|e| err(format!("column {name:?}: {e}")))?);
    }
    // cfitsio writes a path of its own: a temporary file beside the target, renamed once complete.
    let tmp = tempfile::Builder::new()
        .prefix(".xcluster-")
        .suffix(".part")
        .rand_bytes(6)
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?
        .into_temp_path();
    {
        let mut f = FitsFile::create(&tmp).overwrite().open().map_err(|e| err(format!("cannot create: {e}")))?;
        let extname = if table.is_empty() { "TABLE" } else { table };
        let hdu = f.create_table(extname, &descriptions).map_err(|e| err(format!("cannot create the table: {e}")))?;
        let werr = |name: &str, e: fitsio::errors::Error| err(format!("column {name:?}: {e}"));
        for (k, (name, s)) in columns.iter().enumerate() {
            let n = k + 1;
            match s {
                Stored::F64(v) => {
                    let v: Vec<f64> = v.iter().map(|x| x.unwrap_or(f64::NAN)).collect();
                    hdu.write_col(&mut f, name.as_str(), &v).map_err(|e| werr(name, e))?;
                }
                Stored::F32(v) => {
                    let v: Vec<f32> = v.iter().map(|x| x.unwrap_or(f32::NAN)).collect();
                    hdu.write_col(&mut f, name.as_str(), &v).map_err(|e| werr(name, e))?;
                }
                Stored::I64(v) => {
                    if v.iter().any(Option::is_none) {
                        hdu.write_key(&mut f, &format!("TNULL{n}"), INT_NULL).map_err(|e| werr(name, e))?;
                    }
                    let v: Vec<i64> = v.iter().map(|x| x.unwrap_or(INT_NULL)).collect();
                    hdu.write_col(&mut f, name.as_str(), &v).map_err(|e| werr(name, e))?;
                }
                Stored::Bool(v) => write_logical(&mut f, n, v)
                    .map_err(|status| err(format!("column {name:?}: cfitsio status {status}")))?,
                Stored::Text(v) => {
                    // FITS text is ASCII.
                    let v: Vec<String> = v
                        .iter()
                        .map(|x| {
                            x.as_deref().unwrap_or("").chars().map(|c| if c.is_ascii() { c } else { '?' }).collect()
                        })
                        .collect();
                    if !v.is_empty() {
                        hdu.write_col(&mut f, name.as_str(), &v).map_err(|e| werr(name, e))?;
                    }
                }
            }
            let (unit, desc) = column_meta(name);
            if !unit.is_empty() {
                hdu.write_key(&mut f, &format!("TUNIT{n}"), unit).map_err(|e| werr(name, e))?;
            }
            if !desc.is_empty() {
                let desc: String = desc.chars().filter(char::is_ascii).take(68).collect();
                hdu.write_key(&mut f, &format!("TCOMM{n}"), desc.as_str()).map_err(|e| werr(name, e))?;
            }
        }
        hdu.write_key(&mut f, "ORIGIN", "xcluster").map_err(|e| err(e.to_string()))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Write booleans into logical column `column` (1-based) of the current table; null as FITS's null.
fn write_logical(f: &mut fitsio::FitsFile, column: usize, values: &[Option<bool>]) -> std::result::Result<(), i32> {
    if values.is_empty() {
        return Ok(());
    }
    let mut data: Vec<std::ffi::c_char> = values.iter().map(|v| if *v == Some(true) { 1 } else { 0 }).collect();
    let mut status = 0;
    // SAFETY: `f` is open on the table just created; `data` holds one value per row and outlives the call.
    unsafe {
        fitsio::sys::ffpcll(f.as_raw(), column as i32, 1, 1, data.len() as i64, data.as_mut_ptr(), &mut status);
    }
    if status != 0 {
        return Err(status);
    }
    for (row, v) in values.iter().enumerate() {
        if v.is_none() {
            // SAFETY: as above; one element of an existing row.
            unsafe { fitsio::sys::ffpclu(f.as_raw(), column as i32, row as i64 + 1, 1, 1, &mut status) };
            if status != 0 {
                return Err(status);
            }
        }
    }
    Ok(())
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn ucd(name: &str) -> Option<&'static str> {
    Some(match name.to_lowercase().as_str() {
        "ra" => "pos.eq.ra;meta.main",
        "dec" => "pos.eq.dec;meta.main",
        "glon" => "pos.galactic.lon",
        "glat" => "pos.galactic.lat",
        "name" | "id" => "meta.id;meta.main",
        "z" => "src.redshift",
        _ => return None,
    })
}

/// `df` as a VOTable 1.4 document (TABLEDATA; see the [module docs](self)).
pub fn votable(df: &DataFrame, table: &str) -> Result<String> {
    let columns: Vec<(String, Stored)> =
        df.columns().iter().map(|c| Ok((c.name().to_string(), stored(c)?))).collect::<Result<_>>()?;
    let mut out = String::new();
    out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += "<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\" \
            xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n";
    out += " <RESOURCE name=\"xcluster\">\n";
    out += &format!("  <TABLE name=\"{}\" nrows=\"{}\">\n", xml_escape(table), df.height());
    for (name, s) in &columns {
        let (datatype, extra) = match s {
            Stored::F64(_) => ("double", ""),
            Stored::F32(_) => ("float", ""),
            Stored::I64(_) => ("long", ""),
            Stored::Bool(_) => ("boolean", ""),
            Stored::Text(_) => ("char", " arraysize=\"*\""),
        };
        let (unit, desc) = column_meta(name);
        let mut attrs = format!("name=\"{}\" datatype=\"{datatype}\"{extra}", xml_escape(name));
        if !unit.is_empty() {
            attrs += &format!(" unit=\"{}\"", xml_escape(&unit.replace("10**14 ", "1e14").replace("10**-3 ", "1e-3")));
        }
        if let Some(u) = ucd(name) {
            attrs += &format!(" ucd=\"{u}\"");
        }
        out += &format!("   <FIELD {attrs}>");
        if matches!(s, Stored::I64(v) if v.iter().any(Option::is_none)) {
            out += &format!("<VALUES null=\"{INT_NULL}\"/>");
        }
        if !desc.is_empty() {
            out += &format!("<DESCRIPTION>{}</DESCRIPTION>", xml_escape(&desc));
        }
        out += "</FIELD>\n";
    }
    out += "   <DATA>\n    <TABLEDATA>\n";
    for row in 0..df.height() {
        out += "     <TR>";
        for (_, s) in &columns {
            let cell = match s {
                Stored::F64(v) => v[row].map(|x| if x.is_finite() { format!("{x:?}") } else { "NaN".into() }),
                // As the f64 of the f32: read back as f64 it is the same number.
                Stored::F32(v) => v[row].map(|x| if x.is_finite() { format!("{:?}", x as f64) } else { "NaN".into() }),
                Stored::I64(v) => Some(v[row].unwrap_or(INT_NULL).to_string()),
                Stored::Bool(v) => v[row].map(|b| if b { "T".into() } else { "F".into() }),
                Stored::Text(v) => v[row].as_deref().map(xml_escape),
            };
            match cell {
                Some(c) => out += &format!("<TD>{c}</TD>"),
                None => out += "<TD/>",
            }
        }
        out += "</TR>\n";
    }
    out += "    </TABLEDATA>\n   </DATA>\n  </TABLE>\n </RESOURCE>\n</VOTABLE>\n";
    Ok(out)
}

/// `df` as a DS9 region file (see the [module docs](self)).
pub fn region_file(df: &DataFrame) -> Result<String> {
    let pos = galactic_positions(df, "table")?;
    let text = |c: &str| -> Result<Option<Vec<Option<String>>>> {
        match df.column(c) {
            Ok(col) => Ok(Some(col.cast(&DataType::String)?.str()?.iter().map(|v| v.map(str::to_string)).collect())),
            Err(_) => Ok(None),
        }
    };
    let labels = match text("name")? {
        Some(l) => Some(l),
        None => text("id")?,
    };
    let class = text("class")?;
    let area: Option<Vec<Option<f64>>> = match df.column("area_arcmin2") {
        Ok(c) => Some(c.cast(&DataType::Float64)?.f64()?.iter().collect()),
        Err(_) => None,
    };
    let mut out =
        String::from("# Region file format: DS9 version 4.1\n# written by xcluster\nglobal color=green width=2\nfk5\n");
    for (k, p) in pos.iter().enumerate() {
        let Some((l, b)) = *p else { continue };
        let (ra, dec) = galactic_to_icrs(l, b);
        let radius_arcmin = area
            .as_ref()
            .and_then(|a| a[k])
            .filter(|a| *a > 0.0)
            .map(|a| (a / std::f64::consts::PI).sqrt())
            .unwrap_or(5.0);
        let colour = match class.as_ref().and_then(|c| c[k].as_deref()) {
            Some("known") => "green",
            Some("unknown") => "red",
            Some("contaminant") => "yellow",
            _ => "cyan",
        };
        let label = labels.as_ref().and_then(|l| l[k].clone()).unwrap_or_default().replace(['{', '}'], "");
        out += &format!("circle({ra:.6},{dec:.6},{:.3}\") # color={colour} text={{{label}}}\n", radius_arcmin * 60.0);
    }
    Ok(out)
}
