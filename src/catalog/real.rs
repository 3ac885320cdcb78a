//! The real catalogs from their published FITS files: the Planck PSZ2 union, MCXC, SDSS redMaPPer
//! DR8, the Planck point sources (PCCS2, per band) and cold clumps (PGCC).
//!
//! In: the files as `xcluster fetch` stores them in `catalog_path` (names from the manifest).
//! Out: [`Catalog`]s with the normalised columns. [`Catalogs::fetched`] prepares from them the
//! five training catalogs the way the original did (the shipped CSVs are that preparation);
//! [`contaminants`] gives the point-source and cold-clump lists the detections are checked against.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::{match_pairs, Catalog, Catalogs, ColumnMap, Match, CLUSTER_RADIUS_ARCMIN};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, RealCatalog};
use crate::sky::Band;

impl RealCatalog {
    /// Which of the file's columns hold name, position, redshift and mass.
    pub fn column_map(self) -> ColumnMap {
        let positions = ColumnMap::auto().name("NAME").glon("GLON").glat("GLAT").ra("RA").dec("DEC");
        match self {
            RealCatalog::Psz2Union => positions.z("REDSHIFT").m500("MSZ"),
            RealCatalog::Mcxc => positions.name("MCXC").ra("RAdeg").dec("DEdeg").z("z").m500("M500"),
            // The original's redMaPPer tables keep the spectroscopic redshift only.
            RealCatalog::Redmapper => ColumnMap::auto().name("NAME").ra("RA").dec("DEC").z("Z_SPEC"),
            RealCatalog::Pccs2 | RealCatalog::Pgcc => positions,
        }
    }

    /// Load `path` as catalog `name` (MCXC from its CDS text table, the others from FITS; a
    /// gzipped FITS file is read as it is).
    pub fn read(self, path: impl AsRef<Path>, name: &str) -> Result<Catalog> {
        match self {
            RealCatalog::Mcxc => Catalog::from_df(name, read_mcxc_dat(path.as_ref())?, &self.column_map()),
            _ => Catalog::from_fits(path, name, &self.column_map()),
        }
    }
}

/// The byte ranges (1-based, inclusive) of the `mcxc.dat` columns we keep, from the CDS ReadMe of
/// J/A+A/534/A109, and whether each holds numbers.
const MCXC_COLUMNS: [(&str, usize, usize, bool); 11] = [
    ("MCXC", 1, 12, false),
    ("RAdeg", 109, 115, true),
    ("DEdeg", 117, 123, true),
    ("GLON", 125, 131, true),
    ("GLAT", 133, 139, true),
    ("z", 141, 146, true),
    ("Cat", 148, 159, false),
    ("Sub-Cat", 161, 172, false),
    ("L500", 180, 188, true),
    ("M500", 190, 196, true),
    ("r500_mpc", 198, 204, true),
];

/// Read the CDS fixed-width MCXC table (`mcxc.dat`, 1743 lines); names get the `MCXC ` prefix.
fn read_mcxc_dat(path: &Path) -> Result<DataFrame> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let err = |line: usize, msg: String| Error::catalog(path.display().to_string(), format!("line {line}: {msg}"));
    let mut numbers: Vec<Vec<Option<f64>>> = vec![Vec::new(); MCXC_COLUMNS.len()];
    let mut texts: Vec<Vec<String>> = vec![Vec::new(); MCXC_COLUMNS.len()];
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        if line.len() < 204 || !line.is_char_boundary(204) {
            return Err(err(i + 1, format!("{} characters; an mcxc.dat line has at least 204", line.len())));
        }
        for (k, &(label, from, to, numeric)) in MCXC_COLUMNS.iter().enumerate() {
            let field = line[from - 1..to].trim();
            if numeric {
                let value = (!field.is_empty())
                    .then(|| field.parse::<f64>())
                    .transpose()
                    .map_err(|_| err(i + 1, format!("{label} = {field:?} is not a number: is this mcxc.dat?")))?;
                numbers[k].push(value);
            } else {
                texts[k].push(if label == "MCXC" { format!("MCXC {field}") } else { field.to_string() });
            }
        }
    }
    let columns = MCXC_COLUMNS
        .iter()
        .enumerate()
        .map(|(k, &(label, _, _, numeric))| {
            if numeric {
                Column::new(label.into(), std::mem::take(&mut numbers[k]))
            } else {
                Column::new(label.into(), std::mem::take(&mut texts[k]))
            }
        })
        .collect::<Vec<_>>();
    let height = columns[0].len();
    Ok(DataFrame::new(height, columns)?)
}

/// The file of `reader` (of `band`, for PCCS2) in `dir`, which must exist.
fn located(manifest: &Manifest, dir: &Path, reader: RealCatalog, band: Option<Band>) -> Result<(PathBuf, String)> {
    let dataset = manifest.catalog(reader, band)?;
    let path = dir.join(&dataset.file);
    if !path.is_file() {
        return Err(Error::catalog(
            &dataset.name,
            format!(
                "{} not found; download it with `xcluster fetch {}` (or every catalog with `xcluster fetch catalogs`), \
                 or set catalog_path to the folder that holds it",
                path.display(),
                dataset.name
            ),
        ));
    }
    Ok((path, dataset.name.clone()))
}

impl Catalogs {
    /// The five training catalogs prepared from the real files in `dir`, as the original did:
    /// - `planck_z` / `planck_no-z`: the PSZ2 union with / without a redshift;
    /// - `MCXC`: MCXC clusters farther than 7′ from every PSZ2 cluster;
    /// - `RM30` / `RM50`: redMaPPer clusters with λ > 30 / > 50, farther than 7′ from every PSZ2 cluster.
    pub fn fetched(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let manifest = Manifest::builtin()?;
        let read = |reader: RealCatalog| -> Result<Catalog> {
            let (path, name) = located(&manifest, dir, reader, None)?;
            reader.read(path, &name)
        };
        let psz2 = read(RealCatalog::Psz2Union)?;
        let has_z = psz2.df.column("z")?.is_not_null();
        let planck_z = psz2.filter("planck_z", &has_z)?;
        let planck_no_z = psz2.filter("planck_no-z", &!has_z)?;
        let mcxc = read(RealCatalog::Mcxc)?.far_from(&psz2, "MCXC")?;
        let redmapper = read(RealCatalog::Redmapper)?.far_from(&psz2, "redmapper")?;
        let richer = |name: &str, lambda: f64| -> Result<Catalog> {
            let column = redmapper.df.column("lambda").map_err(|_| {
                Error::catalog(&redmapper.name, "no LAMBDA column: is this the redMaPPer cluster catalog?")
            })?;
            let mask = column.cast(&DataType::Float64)?.f64()?.gt(lambda);
            redmapper.filter(name, &mask)
        };
        let catalogs = vec![planck_z, planck_no_z, mcxc, richer("RM30", 30.0)?, richer("RM50", 50.0)?];
        Ok(Catalogs { catalogs, contaminants: Vec::new() })
    }
}

/// The contaminant catalogs in `dir`: PCCS2 at each Planck frequency among `bands` (named
/// `PCCS2-<band>`), and PGCC.
pub fn contaminants(dir: impl AsRef<Path>, bands: &[Band]) -> Result<Vec<Catalog>> {
    let dir = dir.as_ref();
    let manifest = Manifest::builtin()?;
    let mut out = Vec::new();
    for &band in bands.iter().filter(|&&b| b != Band::YMap) {
        let (path, _) = located(&manifest, dir, RealCatalog::Pccs2, Some(band))?;
        out.push(RealCatalog::Pccs2.read(path, &format!("PCCS2-{band}"))?);
    }
    let (path, _) = located(&manifest, dir, RealCatalog::Pgcc, None)?;
    out.push(RealCatalog::Pgcc.read(path, "PGCC")?);
    Ok(out)
}

impl Catalog {
    /// The rows where `mask` holds, as catalog `name` (the `catalog` column follows).
    pub fn filter(&self, name: &str, mask: &BooleanChunked) -> Result<Catalog> {
        let mut df = self.df.filter(mask)?;
        df.with_column(Column::new("catalog".into(), vec![name; df.height()]))?;
        Ok(Catalog { name: name.to_string(), df })
    }

    /// The rows farther than the cluster match radius (7′) from every object of `other`, as `name`.
    pub fn far_from(&self, other: &Catalog, name: &str) -> Result<Catalog> {
        let near = match_pairs(&self.galactic()?, &other.galactic()?, CLUSTER_RADIUS_ARCMIN, Match::Nearest)?;
        let mut keep = vec![true; self.len()];
        for pair in near {
            keep[pair.a as usize] = false;
        }
        self.filter(name, &BooleanChunked::from_slice("keep".into(), &keep))
    }
}
