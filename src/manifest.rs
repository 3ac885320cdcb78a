//! The datasets manifest: every real input (Planck maps and catalogs) with where to get it and how
//! to read it.
//!
//! In: `datasets-manifest/planck.toml` (compiled in; [`Manifest::builtin`]) or any TOML file of the
//! same form ([`Manifest::load`]). Out: [`Manifest`], a list of [`Dataset`]s — name, local file
//! name, download URLs, expected size and SHA-256 (either may be unknown: `xcluster fetch` then
//! records it on the first download, see [`crate::fetch`]), the params key whose folder holds the
//! file, and for maps the band, nside, ordering, column and unit.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::band::Band;
use crate::error::{ensure_param, Error, Result};

/// The manifest shipped with the crate (`datasets-manifest/planck.toml`).
pub const BUILTIN_MANIFEST: &str = include_str!("../datasets-manifest/planck.toml");

/// A published catalog xcluster reads (how its columns map to ours: [`RealCatalog::column_map`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealCatalog {
    /// Planck PSZ2 union catalog (`HFI_PCCS_SZ-union_R2.08.fits`): `REDSHIFT` (−1 = unknown),
    /// `MSZ` in 10¹⁴ M☉ (0 = unknown), `Y5R500` in 10⁻³ arcmin².
    Psz2Union,
    /// MCXC (Piffaretti et al. 2011), the CDS fixed-width table `mcxc.dat` of J/A+A/534/A109:
    /// `M500` in 10¹⁴ M☉, `R500` in Mpc (column `r500_mpc`), `L500` in 10⁴⁴ erg/s.
    Mcxc,
    /// SDSS DR8 redMaPPer v6.3: `LAMBDA` richness, `Z_SPEC` (−1 = none), `Z_LAMBDA` photometric.
    Redmapper,
    /// Planck Catalogue of Compact Sources, one file per band (`COM_PCCS_<GHz>_R2.01.fits`).
    Pccs2,
    /// Planck Catalogue of Galactic Cold Clumps (`HFI_PCCS_GCC_R2.02.fits`).
    Pgcc,
}

/// What a dataset holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A full-sky HEALPix map.
    Map,
    /// A catalog (FITS table).
    Catalog,
}

/// The params key whose folder holds a dataset (`Folder::of(params)` gives the folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Folder {
    /// `planck_path`: the HFI maps.
    PlanckPath,
    /// `milca_path`: the MILCA y-map.
    MilcaPath,
    /// `catalog_path`: the real catalogs.
    CatalogPath,
}

/// One real input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Short name used on the command line, e.g. `hfi-100`, `psz2-union`, `pccs2-857`.
    pub name: String,
    /// File name on disk, e.g. `HFI_SkyMap_100-field-IQU_2048_R3.00_full.fits`.
    pub file: String,
    /// Download URLs, tried in order (the official archive first, then mirrors).
    pub urls: Vec<String>,
    /// Size in bytes; unknown (left out) until a first download records it.
    #[serde(default)]
    pub size: Option<u64>,
    /// SHA-256 (64 hex digits); unknown (left out) until a first download records it.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The params key whose folder holds the file.
    pub param: Folder,
    /// Map or catalog.
    pub kind: Kind,
    /// One line saying what it is and where it comes from.
    pub description: String,
    /// Maps: the band it provides.
    #[serde(default)]
    pub band: Option<Band>,
    /// Maps: HEALPix nside.
    #[serde(default)]
    pub nside: Option<u32>,
    /// Maps: `RING` or `NESTED`, as the header says.
    #[serde(default)]
    pub ordering: Option<String>,
    /// Maps: the column holding the intensity (or y).
    #[serde(default)]
    pub column: Option<String>,
    /// Maps: the unit of that column (`K_CMB`, `MJy/sr`, or empty for Compton-y).
    #[serde(default)]
    pub unit: Option<String>,
    /// Catalogs: which reader loads it.
    #[serde(default)]
    pub catalog: Option<RealCatalog>,
}

/// The list of real inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The datasets, in the order `xcluster fetch --list` shows them.
    #[serde(rename = "dataset")]
    pub datasets: Vec<Dataset>,
}

impl Manifest {
    /// The manifest shipped with the crate.
    pub fn builtin() -> Result<Self> {
        Self::from_toml(BUILTIN_MANIFEST, "datasets-manifest/planck.toml")
    }

    /// Read a manifest file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parse and check a manifest; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| Error::param(source, e.message().to_string()))?;
        manifest.validate(source)?;
        Ok(manifest)
    }

    fn validate(&self, source: &str) -> Result<()> {
        for (i, d) in self.datasets.iter().enumerate() {
            let what = format!("{source}: dataset {:?}", d.name);
            ensure_param!(!self.datasets[..i].iter().any(|o| o.name == d.name), what, "the name is used twice");
            ensure_param!(!d.urls.is_empty(), what, "needs at least one URL");
            ensure_param!(
                !d.file.is_empty() && !d.file.contains(['/', '\\']),
                what,
                "file must be a plain file name, got {:?}",
                d.file
            );
            if let Some(sum) = &d.sha256 {
                ensure_param!(
                    sum.len() == 64 && sum.chars().all(|c| c.is_ascii_hexdigit()),
                    what,
                    "sha256 must be 64 hex digits, got {sum:?}"
                );
            }
            match d.kind {
                Kind::Map => ensure_param!(
                    d.band.is_some() && d.nside.is_some() && d.ordering.is_some() && d.column.is_some(),
                    what,
                    "a map needs band, nside, ordering and column"
                ),
                Kind::Catalog => ensure_param!(d.catalog.is_some(), what, "a catalog needs `catalog` (its reader)"),
            }
        }
        Ok(())
    }

    /// The dataset called `name`; the error lists the names there are.
    pub fn get(&self, name: &str) -> Result<&Dataset> {
        self.datasets.iter().find(|d| d.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
            Error::param(
                format!("dataset {name:?}"),
                format!("not in the manifest; known: {}", self.names().join(", ")),
            )
        })
    }

    /// The map of `band`.
    pub fn map(&self, band: Band) -> Result<&Dataset> {
        self.datasets
            .iter()
            .find(|d| d.kind == Kind::Map && d.band == Some(band))
            .ok_or_else(|| Error::param(format!("band {band}"), "the manifest lists no map for it"))
    }

    /// The catalog read by `reader`; for PCCS2, the one of `band`.
    pub fn catalog(&self, reader: RealCatalog, band: Option<Band>) -> Result<&Dataset> {
        self.datasets.iter().find(|d| d.catalog == Some(reader) && d.band == band).ok_or_else(|| {
            let band = band.map(|b| format!(" at {b}")).unwrap_or_default();
            Error::param(format!("catalog {reader:?}{band}"), "the manifest lists no such catalog")
        })
    }

    /// Every name, in order.
    pub fn names(&self) -> Vec<&str> {
        self.datasets.iter().map(|d| d.name.as_str()).collect()
    }

    /// What `names` asks for: `all`, `maps`, `catalogs` or dataset names; no names = what a run on
    /// `bands` uses (their maps, and every catalog). `Manifest::select(names, &params)` passes the
    /// params file's `bands`.
    pub fn select_for(&self, names: &[String], bands: &[Band]) -> Result<Vec<&Dataset>> {
        if names.is_empty() {
            let maps = bands.iter().map(|&b| self.map(b)).collect::<Result<Vec<_>>>()?;
            return Ok(maps.into_iter().chain(self.datasets.iter().filter(|d| d.kind == Kind::Catalog)).collect());
        }
        let mut out: Vec<&Dataset> = Vec::new();
        for name in names {
            let group: Vec<&Dataset> = match name.to_ascii_lowercase().as_str() {
                "all" => self.datasets.iter().collect(),
                "maps" => self.datasets.iter().filter(|d| d.kind == Kind::Map).collect(),
                "catalogs" => self.datasets.iter().filter(|d| d.kind == Kind::Catalog).collect(),
                _ => vec![self.get(name)?],
            };
            for d in group {
                if !out.iter().any(|o| o.name == d.name) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}
