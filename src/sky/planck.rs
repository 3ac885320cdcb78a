//! The real maps: Planck HFI frequency maps and the MILCA Compton-y map.
//!
//! In: the FITS files named by the datasets manifest, in the folders `planck_path` / `milca_path`.
//! Out: a [`Sky`] of the params file's bands, NESTED, in each band's unit ([`Band::unit`]):
//! ordering and unit come from each file's header (`ORDERING`, `TUNIT`), a map in mK or µK is
//! scaled in place, one f32 copy per band is kept (only the intensity column is read).

use std::path::Path;

use super::{read_map, Band, HealpixMap, Ordering, Sky};
use crate::error::{Error, Result};
use crate::manifest::{Folder, Manifest};

impl Band {
    /// The unit the pipeline works in: `K_CMB` (100–353 GHz), `MJy/sr` (545, 857 GHz), empty for y.
    pub fn unit(self) -> &'static str {
        match self {
            Band::F100 | Band::F143 | Band::F217 | Band::F353 => "K_CMB",
            Band::F545 | Band::F857 => "MJy/sr",
            Band::YMap => "",
        }
    }

    /// The factor that turns values in `unit` (a FITS `TUNIT`, any case) into [`Band::unit`];
    /// `None` when `unit` is not a unit of this band.
    pub fn scale_from(self, unit: &str) -> Option<f32> {
        let u: String = unit.trim().chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        let u = u.replace('µ', "u");
        match self {
            Band::F100 | Band::F143 | Band::F217 | Band::F353 => match u.as_str() {
                "k_cmb" | "kcmb" | "k" => Some(1.0),
                "mk_cmb" | "mkcmb" | "mk" => Some(1e-3),
                "uk_cmb" | "ukcmb" | "uk" | "muk_cmb" => Some(1e-6),
                _ => None,
            },
            Band::F545 | Band::F857 => match u.as_str() {
                "mjy/sr" | "mjysr-1" | "mjy/sr^-1" => Some(1.0),
                "kjy/sr" => Some(1e-3),
                "jy/sr" => Some(1e-6),
                _ => None,
            },
            Band::YMap => match u.as_str() {
                "" | "y" | "compton-y" | "y_sz" | "ysz" | "none" | "dimensionless" | "-" => Some(1.0),
                _ => None,
            },
        }
    }
}

/// Read `band` from `path`, column `column`, as the pipeline needs it: NESTED, in [`Band::unit`].
///
/// Errors name the file: a unit that is not one of the band's (e.g. MJy/sr for 143 GHz, which
/// usually means the wrong file), or a frequency map without a `TUNIT` (K_CMB and µK_CMB differ by
/// 10⁶, so it is not guessed).
pub fn read_band(path: impl AsRef<Path>, band: Band, column: &str) -> Result<HealpixMap> {
    let path = path.as_ref();
    let mut map = read_map(path, column)?;
    let unit = map.unit.trim().to_string();
    if unit.is_empty() && band != Band::YMap {
        return Err(Error::fits(
            path,
            format!(
                "column {column:?} has no unit (TUNIT): cannot tell K_CMB from µK_CMB for {band}; \
                 add TUNIT with the map's unit ({})",
                band.unit()
            ),
        ));
    }
    let scale = band.scale_from(&unit).ok_or_else(|| {
        Error::fits(
            path,
            format!(
                "column {column:?} is in {unit:?}, which is not a unit of {band} (expected {}): is this the right file?",
                if band == Band::YMap { "Compton y, no unit".to_string() } else { band.unit().to_string() }
            ),
        )
    })?;
    if scale != 1.0 {
        map.data.iter_mut().for_each(|v| *v *= scale);
    }
    map.unit = band.unit().to_string();
    Ok(map.to_ordering(Ordering::Nested))
}

impl Sky {
    /// The real sky of `bands`, each from the manifest's file: the HFI maps in `planck_dir` (the params
    /// file's `planck_path`), the y-map in `milca_dir` (`milca_path`); read with [`read_band`].
    pub fn planck_from(planck_dir: &Path, milca_dir: &Path, bands: &[Band]) -> Result<Sky> {
        let manifest = Manifest::builtin()?;
        let mut sky = Sky::new();
        for &band in bands {
            let dataset = manifest.map(band)?;
            let dir = if dataset.param == Folder::MilcaPath { milca_dir } else { planck_dir };
            let path = dir.join(&dataset.file);
            if !path.is_file() {
                return Err(Error::fits(
                    &path,
                    format!(
                        "no such file: the {band} map is needed by `bands`; download it with `xcluster fetch {}`, \
                         or set {} to the folder that holds it",
                        dataset.name,
                        match band {
                            Band::YMap => "milca_path",
                            _ => "planck_path",
                        }
                    ),
                ));
            }
            let column = dataset.column.as_deref().unwrap_or("I_STOKES");
            sky = sky.with_band(band, read_band(&path, band, column)?)?;
        }
        Ok(sky)
    }
}
