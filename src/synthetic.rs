//! The embedded Planck-like synthetic sky, with its truth tables.
//!
//! In: a [`Synthetic`] recipe (nside, bands, seed, components). Out: a [`Sky`] of the six HFI bands
//! (K_CMB for 100–353 GHz, MJy/sr for 545/857) and the Compton-y map, NESTED, plus a [`Truth`]:
//! every injected cluster and compact source as DataFrames, so completeness and purity are exact.
//!
//! Components (numbers from `PHYSICS.md`, Planck 2013–2018 papers): CMB (Gaussian field of the
//! shipped CAMB Planck 2018 ΛCDM spectrum), thermal SZ of the real PSZ2 / MCXC / redMaPPer clusters
//! and of an "unknown" population no catalog lists (Arnaud et al. 2010 pressure profile integrated
//! along the line of sight), Galactic dust (modified blackbody × latitude envelope × a log-normal
//! field with C_ℓ ∝ ℓ^−2.7), CIB (monopole + clustered + shot noise), radio and infrared point
//! sources and cold clumps, each band's Gaussian beam, and white noise at Planck depths.

use std::f64::consts::PI;

use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::band::Band;
use crate::catalog::{Catalog, Catalogs, ColumnMap};
use crate::cosmology::{e_of_z, r500_mpc, theta_arcmin};
use crate::error::{ensure_param, Error, Result};
use crate::patches::mix;
use crate::sky::sht::{alm2map_many, gaussian_beam, standard_normal as normal, Alm};
use crate::sky::{galactic_to_icrs, unit_vector, Grid, HealpixMap, Ordering, Sky};

/// The shipped CMB spectrum (`data/cmb/planck2018_lcdm_tt.csv`, made by `make_cmb_cl.py` with CAMB).
const CMB_DL: &str = include_str!("../data/cmb/planck2018_lcdm_tt.csv");

/// One HFI band's instrument and foreground numbers (PHYSICS.md; Planck 2018 I, III; 2015 X, XXII).
#[derive(Debug, Clone, Copy)]
pub struct BandModel {
    /// Frequency in GHz.
    pub ghz: f64,
    /// Beam FWHM in arcmin.
    pub fwhm_arcmin: f64,
    /// White-noise depth in map units × arcmin (µK·′ converted to K_CMB·′, or MJy/sr·′).
    pub depth: f64,
    /// K_CMB → MJy/sr.
    pub kcmb_to_mjy: f64,
    /// Map units per unit Compton y (bandpass-integrated tSZ).
    pub tsz_per_y: f64,
    /// Dust intensity relative to 353 GHz (MJy/sr).
    pub dust: f64,
    /// CIB intensity relative to 353 GHz.
    pub cib: f64,
    /// Whether the map unit is K_CMB (else MJy/sr).
    pub kcmb: bool,
}

/// The model of `band` (the y-map: a 10′ beam as MILCA's, depth 2.6e-6·′).
pub fn band_model(band: Band) -> BandModel {
    let k = |ghz, fwhm, depth_uk, conv, tsz, dust, cib| BandModel {
        ghz,
        fwhm_arcmin: fwhm,
        depth: depth_uk * 1e-6,
        kcmb_to_mjy: conv,
        tsz_per_y: tsz,
        dust,
        cib,
        kcmb: true,
    };
    // 0.78 kJy/sr·deg = 0.78e-3 MJy/sr × 60′.
    let m = |ghz, fwhm, kjy_deg: f64, conv, tsz, dust, cib| BandModel {
        ghz,
        fwhm_arcmin: fwhm,
        depth: kjy_deg * 1e-3 * 60.0,
        kcmb_to_mjy: conv,
        tsz_per_y: tsz,
        dust,
        cib,
        kcmb: false,
    };
    match band {
        Band::F100 => k(100.0, 9.66, 77.4, 244.1, -4.031, 0.0150, 0.051),
        Band::F143 => k(143.0, 7.22, 33.0, 371.7, -2.785, 0.0513, 0.124),
        Band::F217 => k(217.0, 4.90, 46.8, 483.5, 0.187, 0.209, 0.337),
        Band::F353 => k(353.0, 4.92, 153.6, 287.5, 6.205, 1.0, 1.0),
        Band::F545 => m(545.0, 4.67, 0.78, 58.04, 839.0, 3.62, 2.34),
        Band::F857 => m(857.0, 4.22, 0.72, 2.268, 59.7, 11.36, 4.59),
        Band::YMap => BandModel {
            ghz: 0.0,
            fwhm_arcmin: 10.0,
            depth: 2.6e-6,
            kcmb_to_mjy: 1.0,
            tsz_per_y: 1.0,
            dust: 0.0,
            cib: 0.0,
            kcmb: false,
        },
    }
}

impl BandModel {
    /// Map units per MJy/sr.
    fn per_mjy(&self) -> f64 {
        if self.kcmb {
            1.0 / self.kcmb_to_mjy
        } else {
            1.0
        }
    }

    /// Map units per K_CMB.
    fn per_kcmb(&self) -> f64 {
        if self.kcmb {
            1.0
        } else {
            self.kcmb_to_mjy
        }
    }

    fn unit(&self) -> &'static str {
        if self.kcmb {
            "K_CMB"
        } else if self.ghz > 0.0 {
            "MJy/sr"
        } else {
            "y"
        }
    }
}

/// What a synthetic sky holds: the injected clusters and compact sources.
#[derive(Debug, Clone)]
pub struct Truth {
    /// One row per cluster: `name, catalog` (PSZ2 z / PSZ2 no-z / MCXC / RM30 / `unknown`), `ra, dec,
    /// glon, glat, z, m500` (10¹⁴ M☉), `mass_drawn` and `z_drawn` (not in the catalog, so drawn: a mass
    /// from the PSZ2 masses, a redshift from the catalog's own; redMaPPer masses come from richness,
    /// [`m500_from_richness`]),
    /// `theta500_arcmin`, `y5r500_arcmin2`, `y_central` (no beam), `y_peak_143` (after the 143 GHz beam).
    pub clusters: DataFrame,
    /// One row per source: `kind` (radio / ir / cold_clump), `glon, glat, ra, dec`, `size_arcmin`
    /// (FWHM; 0 for points) and the flux in Jy at each band, `flux_100` … `flux_857`.
    pub sources: DataFrame,
}

impl Truth {
    /// The injected clusters of the catalogs, one [`Catalog`] per `catalog` value except `unknown`
    /// (`PSZ2`, `PSZ2 no-z`, `MCXC`, `RM30`), in order of appearance.
    pub fn catalogs(&self) -> Result<Vec<Catalog>> {
        split_by(&self.clusters, "catalog", |v| v != "unknown")
    }

    /// The injected compact sources, one [`Catalog`] per `kind` (`radio`, `ir`, `cold_clump`): the
    /// contaminants a cross-match flags on this sky (`cats.with_contaminants(truth.contaminants()?)`).
    pub fn contaminants(&self) -> Result<Vec<Catalog>> {
        split_by(&self.sources, "kind", |_| true)
    }
}

/// The recipe of a synthetic sky; every component can be switched off.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    nside: u32,
    bands: Vec<Band>,
    seed: u64,
    cmb: bool,
    tsz: bool,
    dust: bool,
    cib: bool,
    sources: bool,
    noise: bool,
    beams: bool,
    unknown: usize,
}

macro_rules! switch {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(mut self, on: bool) -> Self {
            self.$name = on;
            self
        }
    };
}

impl Synthetic {
    /// Every component on, all 7 bands, nside 1024, seed 1, 3000 unknown clusters.
    pub fn planck_like() -> Self {
        Synthetic {
            nside: 1024,
            bands: Band::ALL.to_vec(),
            seed: 1,
            cmb: true,
            tsz: true,
            dust: true,
            cib: true,
            sources: true,
            noise: true,
            beams: true,
            unknown: 3000,
        }
    }

    /// nside, a power of two in 64…2048.
    pub fn nside(mut self, nside: u32) -> Self {
        self.nside = nside;
        self
    }
    /// The bands to make.
    pub fn bands(mut self, bands: &[Band]) -> Self {
        self.bands = bands.to_vec();
        self
    }
    /// Seed of every random draw.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Clusters no catalog lists (default 3000).
    pub fn unknown_clusters(mut self, n: usize) -> Self {
        self.unknown = n;
        self
    }
    switch!(cmb, "The CMB.");
    switch!(tsz, "The thermal SZ effect of the clusters.");
    switch!(dust, "Galactic dust.");
    switch!(cib, "The cosmic infrared background.");
    switch!(sources, "Radio and infrared point sources and cold clumps.");
    switch!(noise, "White noise at Planck depths.");
    switch!(beams, "Each band's Gaussian beam.");

    fn validate(&self) -> Result<()> {
        ensure_param!(
            self.nside.is_power_of_two() && (64..=2048).contains(&self.nside),
            "nside",
            "the synthetic sky needs a power of two in 64…2048, got {}",
            self.nside
        );
        ensure_param!(!self.bands.is_empty(), "bands", "at least one band is needed");
        Ok(())
    }

    /// Make the sky and, beside it, its truth.
    pub fn build(&self) -> Result<(Sky, Truth)> {
        self.validate()?;
        let grid = Grid::new(self.nside, Ordering::Ring)?;
        let models: Vec<BandModel> = self.bands.iter().map(|&b| band_model(b)).collect();
        let mut maps = self.gaussian_fields(&models)?;
        let clusters = self.clusters()?;
        let sources = if self.sources { self.compact_sources() } else { Vec::new() };
        let profile = ProfileTable::new();
        let beamed = BeamedProfiles::new(&profile);
        maps.par_iter_mut().zip(&models).for_each(|(map, m)| {
            let fwhm = if self.beams { m.fwhm_arcmin } else { 0.0 };
            if self.tsz {
                paint_clusters(map, grid, &clusters, (&profile, &beamed), fwhm, m.tsz_per_y);
            }
            if m.ghz > 0.0 {
                paint_sources(map, grid, &sources, m, fwhm);
            }
        });
        if self.noise {
            let pixel_arcmin = grid.resolution_arcmin();
            // Each band's noise is drawn from the band itself, not from its place in the list: a band
            // reads the same whichever other bands are made beside it.
            maps.par_iter_mut().zip(&models).zip(&self.bands).for_each(|((map, m), band)| {
                let stream = Band::ALL.iter().position(|b| b == band).unwrap_or(Band::ALL.len()) as u64;
                add_noise(map, m.depth / pixel_arcmin, mix(&[self.seed, 7, stream]));
            });
        }
        let truth = Truth { clusters: clusters_df(&clusters, &profile)?, sources: sources_df(&sources)? };
        let mut sky = Sky::new();
        for ((band, m), data) in self.bands.iter().zip(&models).zip(maps) {
            let map = HealpixMap::new(self.nside, Ordering::Ring, m.unit(), data)?.to_ordering(Ordering::Nested);
            sky = sky.with_band(*band, map)?;
        }
        Ok((sky, truth))
    }

    /// CMB + CIB (per-band beams) and dust, through one shared spherical-harmonic synthesis.
    fn gaussian_fields(&self, models: &[BandModel]) -> Result<Vec<Vec<f32>>> {
        let npix = 12 * (self.nside as usize).pow(2);
        let lmax = 2 * self.nside as usize;
        let mut rng = StdRng::seed_from_u64(mix(&[self.seed, 1]));
        let zero = || Alm::zeros(lmax);
        let cmb = if self.cmb { Alm::gaussian(&cmb_cl(lmax)?, &mut rng) } else { zero() };
        let cib = if self.cib { Alm::gaussian(&cib_cl(lmax), &mut rng) } else { zero() };
        let dust = if self.dust { Alm::gaussian(&dust_cl(lmax), &mut rng) } else { zero() };
        // Only HFI bands get a Gaussian-field set (the y-map has none), and dust one shared set:
        // no synthesis, and no memory, is spent on fields that are zero.
        let gaussian = self.cmb || self.cib;
        let mut sets: Vec<Alm> = models
            .iter()
            .filter(|m| gaussian && m.ghz > 0.0)
            .map(|m| {
                let (kc, kcib) = (m.per_kcmb(), m.cib * m.per_mjy());
                let beam = if self.beams { m.fwhm_arcmin } else { 0.0 };
                let data = cmb.data().iter().zip(cib.data()).map(|(a, b)| a * kc + b * kcib).collect();
                let mut alm = Alm::from_vec(lmax, data)?;
                alm.scale_by(|l| gaussian_beam(beam, l));
                Ok(alm)
            })
            .collect::<Result<_>>()?;
        drop((cmb, cib));
        if self.dust {
            let mut dust = dust;
            dust.scale_by(|l| gaussian_beam(5.0, l));
            sets.push(dust);
        }
        let refs: Vec<&Alm> = sets.iter().collect();
        let mut synthesised = alm2map_many(&refs, self.nside)?.into_iter().map(|m| m.data);
        drop(refs);
        let mut fields: Vec<Vec<f32>> = models
            .iter()
            .map(|m| if gaussian && m.ghz > 0.0 { synthesised.next() } else { None })
            .map(|f| f.unwrap_or_else(|| vec![0.0; npix]))
            .collect();
        let dust_field = if self.dust { synthesised.next().unwrap_or_default() } else { Vec::new() };
        drop(sets);
        let grid = Grid::new(self.nside, Ordering::Ring)?;
        for (map, m) in fields.iter_mut().zip(models) {
            if m.ghz == 0.0 {
                continue;
            }
            let monopole = if self.cib { CIB_MONOPOLE_353 * m.cib * m.per_mjy() } else { 0.0 };
            let dust_scale = if self.dust { m.dust * m.per_mjy() } else { 0.0 };
            map.par_iter_mut().enumerate().for_each(|(p, v)| {
                let dust = if dust_scale != 0.0 {
                    let g = dust_field[p] as f64;
                    let (_, b) = grid.pix2ang(p as u64);
                    dust_envelope(b) * (DUST_LOG_SIGMA * g - DUST_LOG_SIGMA * DUST_LOG_SIGMA / 2.0).exp()
                } else {
                    0.0
                };
                *v = (*v as f64 + monopole + dust_scale * dust) as f32;
            });
        }
        Ok(fields)
    }

    /// Real catalog clusters (PSZ2 with and without z, MCXC, redMaPPer λ > 30) and unknown ones.
    fn clusters(&self) -> Result<Vec<Cluster>> {
        let cats = Catalogs::builtin()?;
        let mut rng = StdRng::seed_from_u64(mix(&[self.seed, 2]));
        let mut out = Vec::new();
        let psz = cats.planck_z()?;
        let known: Vec<(f64, f64)> = column_pairs(psz.df(), "m500", "z")?;
        // Only redMaPPer has masses from richness; the other catalogs give M500 (or nothing).
        for (name, label, from_richness) in [
            ("planck_z", "PSZ2", false),
            ("planck_no-z", "PSZ2 no-z", false),
            ("MCXC", "MCXC", false),
            ("RM30", "RM30", true),
        ] {
            let cat = cats.get(name)?;
            let pos = cat.galactic()?;
            let names = cat.df().column("name")?.str()?.clone();
            let mz = column_pairs(cat.df(), "m500", "z")?;
            let richness = if from_richness { Some(cat.richness()?) } else { None };
            let zs: Vec<f64> = mz.iter().map(|p| p.1).filter(|z| z.is_finite() && *z > 0.0).collect();
            for (k, &(l, b)) in pos.iter().enumerate() {
                let (mut m, mut z) = mz[k];
                if let Some(lambda) = richness.as_ref().and_then(|r| r[k]) {
                    m = m500_from_richness(lambda);
                }
                let z_drawn = !(z.is_finite() && z > 0.0);
                if z_drawn {
                    z = if zs.is_empty() {
                        known[rng.gen_range(0..known.len())].1
                    } else {
                        zs[rng.gen_range(0..zs.len())]
                    };
                }
                let mass_drawn = !(m.is_finite() && m > 0.0);
                if mass_drawn {
                    m = known[rng.gen_range(0..known.len())].0;
                }
                let drawn = Drawn { mass: mass_drawn, z: z_drawn };
                out.push(Cluster::new(names.get(k).unwrap_or("").to_string(), label, l, b, m, z, drawn));
            }
        }
        // Unknown clusters: dN/dM ∝ M^−2.5 on [1, 5]·10¹⁴ M☉, z uniform on [0.05, 1], uniform on the sky.
        for k in 0..self.unknown {
            let u: f64 = rng.gen();
            let m = (1.0 - u * (1.0 - 5f64.powf(-1.5))).powf(-1.0 / 1.5);
            let z = rng.gen_range(0.05..1.0);
            let (l, b) = (rng.gen_range(0.0..360.0), rng.gen_range(-1.0f64..1.0).asin().to_degrees());
            out.push(Cluster::new(format!("UNK-{k:05}"), "unknown", l, b, m, z, Drawn::default()));
        }
        Ok(out)
    }

    fn compact_sources(&self) -> Vec<Source> {
        let mut rng = StdRng::seed_from_u64(mix(&[self.seed, 3]));
        let mut out = Vec::new();
        let full_sky_sr = 4.0 * PI;
        let sphere = |rng: &mut StdRng| (rng.gen_range(0.0..360.0), rng.gen_range(-1.0f64..1.0).asin().to_degrees());
        // Radio: dN/dS = 20 S^−2.5 Jy^1.5 sr⁻¹ at 143 GHz above 0.1 Jy; S ∝ ν^α, α ~ N(−0.5, 0.3).
        let s_min: f64 = 0.1;
        let n_radio = (20.0 / 1.5 * s_min.powf(-1.5) * full_sky_sr) as usize;
        for _ in 0..n_radio {
            let s143 = s_min * (1.0 - rng.gen::<f64>()).powf(-1.0 / 1.5);
            let alpha = -0.5 + 0.3 * normal(&mut rng);
            let (l, b) = sphere(&mut rng);
            out.push(Source {
                kind: "radio",
                l,
                b,
                size_arcmin: 0.0,
                flux: HFI_GHZ.map(|f| s143 * (f / 143.0).powf(alpha)),
            });
        }
        // Infrared galaxies: 0.2 deg⁻² above 0.3 Jy at 545 GHz, dN/dS ∝ S^−2.5, modified blackbody 20–30 K, β 1.5.
        let n_ir = (0.2 * 41_253.0) as usize;
        for _ in 0..n_ir {
            let s545 = 0.3 * (1.0 - rng.gen::<f64>()).powf(-1.0 / 1.5);
            let t = rng.gen_range(20.0..30.0);
            let (l, b) = sphere(&mut rng);
            out.push(Source {
                kind: "ir",
                l,
                b,
                size_arcmin: 0.0,
                flux: HFI_GHZ.map(|f| s545 * greybody(f, t, 1.5) / greybody(545.0, t, 1.5)),
            });
        }
        // Cold clumps: near the plane (|b| ~ 5°), 13–15 K, β 1.8, 2–30 Jy at 857, 3–8′ wide.
        for _ in 0..3000 {
            let t = rng.gen_range(13.0..15.0);
            let s857 = 2.0 * 15f64.powf(rng.gen::<f64>());
            let l = rng.gen_range(0.0..360.0);
            let b = (5.0 * normal(&mut rng)).clamp(-60.0, 60.0);
            let size = rng.gen_range(3.0..8.0);
            out.push(Source {
                kind: "cold_clump",
                l,
                b,
                size_arcmin: size,
                flux: HFI_GHZ.map(|f| s857 * greybody(f, t, 1.8) / greybody(857.0, t, 1.8)),
            });
        }
        out
    }
}

impl Sky {
    /// A synthetic Planck-like sky (see [`Synthetic`]) and, beside it, its [`Truth`]: the maps are
    /// what a detector sees, the truth is what only the simulation knows.
    pub fn synthetic(recipe: Synthetic) -> Result<(Sky, Truth)> {
        recipe.build()
    }
}

const HFI_GHZ: [f64; 6] = [100.0, 143.0, 217.0, 353.0, 545.0, 857.0];
/// CIB monopole at 353 GHz, MJy/sr (PHYSICS.md).
const CIB_MONOPOLE_353: f64 = 0.13;
/// Width of the log-normal dust field.
const DUST_LOG_SIGMA: f64 = 0.5;

/// ν^β B_ν(T) up to a constant (ν in GHz).
fn greybody(ghz: f64, t: f64, beta: f64) -> f64 {
    let x = 0.047_992_4 * ghz / t; // hν/kT
    ghz.powf(3.0 + beta) / x.exp_m1()
}

/// Dust intensity at 353 GHz (MJy/sr) on average at latitude b: 0.05 MJy/sr / sin|b|, capped at 2.
fn dust_envelope(b_deg: f64) -> f64 {
    0.05 * (1.0 / b_deg.to_radians().sin().abs().max(1e-3)).min(40.0)
}

/// CMB C_ℓ in K² from the shipped D_ℓ table.
fn cmb_cl(lmax: usize) -> Result<Vec<f64>> {
    let mut cl = vec![0.0; lmax + 1];
    for line in CMB_DL.lines().filter(|l| !l.starts_with('#') && !l.starts_with("ell")) {
        let mut it = line.split(',');
        let (Some(l), Some(d)) = (it.next(), it.next()) else { continue };
        let l: usize = l.trim().parse().map_err(|_| Error::param("cmb spectrum", format!("bad line {line:?}")))?;
        let d: f64 = d.trim().parse().map_err(|_| Error::param("cmb spectrum", format!("bad line {line:?}")))?;
        if (2..=lmax).contains(&l) {
            cl[l] = d * 2.0 * PI / (l * (l + 1)) as f64 * 1e-12;
        }
    }
    Ok(cl)
}

/// CIB C_ℓ at 353 GHz in (MJy/sr)²: shot noise 225 Jy²/sr plus a clustered part ∝ ℓ^−1.2 equal to it at ℓ = 1000.
fn cib_cl(lmax: usize) -> Vec<f64> {
    let shot = 225.0 * 1e-12;
    (0..=lmax).map(|l| if l < 2 { 0.0 } else { shot * (1.0 + (l as f64 / 1000.0).powf(-1.2)) }).collect()
}

/// Unit-variance dust field spectrum ∝ ℓ^−2.7.
fn dust_cl(lmax: usize) -> Vec<f64> {
    let raw: Vec<f64> = (0..=lmax).map(|l| if l < 2 { 0.0 } else { (l as f64).powf(-2.7) }).collect();
    let var: f64 = raw.iter().enumerate().map(|(l, c)| (2 * l + 1) as f64 / (4.0 * PI) * c).sum();
    raw.into_iter().map(|c| c / var).collect()
}

fn column_pairs(df: &DataFrame, a: &str, b: &str) -> Result<Vec<(f64, f64)>> {
    let a = df.column(a)?.cast(&DataType::Float64)?;
    let b = df.column(b)?.cast(&DataType::Float64)?;
    Ok(a.f64()?.iter().zip(b.f64()?.iter()).map(|(x, y)| (x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN))).collect())
}

/// M500 in 10¹⁴ M☉ of a redMaPPer cluster of richness λ: 1.3 (λ/30)^1.08 (≈ Rykoff et al. 2012
/// scaled to M500c; fine for a simulator).
pub fn m500_from_richness(lambda: f64) -> f64 {
    1.3 * (lambda / 30.0).powf(1.08)
}

/// Which of an injected cluster's quantities the catalog did not give, so were drawn from the
/// distribution of the PSZ2 clusters (mass) or of the catalog's own redshifts (z).
#[derive(Debug, Clone, Copy, Default)]
struct Drawn {
    mass: bool,
    z: bool,
}

/// An injected cluster.
#[derive(Debug, Clone)]
struct Cluster {
    name: String,
    catalog: &'static str,
    l: f64,
    b: f64,
    m500: f64,
    z: f64,
    drawn: Drawn,
    theta500: f64,
    /// y at the centre per unit of the profile table: 4.017e-3 · P500 · R500.
    y_scale: f64,
}

impl Cluster {
    fn new(name: String, catalog: &'static str, l: f64, b: f64, m500: f64, z: f64, drawn: Drawn) -> Self {
        let r500 = r500_mpc(m500, z);
        // Arnaud et al. 2010 eq. 5 (h70 = 1): P500 in keV cm⁻³.
        let p500 = 1.65e-3 * e_of_z(z).powf(8.0 / 3.0) * (m500 / 3.0).powf(2.0 / 3.0 + 0.12);
        Cluster {
            name,
            catalog,
            l,
            b,
            m500,
            z,
            drawn,
            theta500: theta_arcmin(r500, z),
            y_scale: 4.017e-3 * p500 * r500,
        }
    }
}

/// The Arnaud profile integrated along the line of sight, y(x)/y_scale for x = θ/θ500 ≤ 5, and
/// its convolution with Gaussian beams, tabulated once (the shape is universal).
pub(crate) struct ProfileTable {
    /// x grid (quadratic spacing, fine at the cusp) and the line-of-sight integral there.
    x: Vec<f64>,
    y: Vec<f64>,
}

/// Arnaud et al. 2010 generalised NFW: P0, c500, γ, α, β.
const GNFW: [f64; 5] = [8.403, 1.177, 0.3081, 1.0510, 5.4905];
const TRUNCATION: f64 = 5.0;

fn gnfw(u: f64) -> f64 {
    let [p0, c, g, a, b] = GNFW;
    let cu = c * u;
    p0 / (cu.powf(g) * (1.0 + cu.powf(a)).powf((b - g) / a))
}

impl ProfileTable {
    pub(crate) fn new() -> Self {
        let n = 400;
        let x: Vec<f64> = (0..n).map(|i| TRUNCATION * (i as f64 / (n - 1) as f64).powi(2)).collect();
        let y = x
            .iter()
            .map(|&x| {
                // ∫ p(√(x²+s²)) ds over |s| ≤ √(25 − x²), with s = u² to tame the cusp at x = 0.
                let smax = (TRUNCATION * TRUNCATION - x * x).max(0.0).sqrt();
                let k = 2000;
                let umax = smax.sqrt();
                let h = umax / k as f64;
                let f = |u: f64| {
                    let s = u * u;
                    let r = (x * x + s * s).sqrt().max(1e-9);
                    gnfw(r) * 2.0 * u
                };
                let inner: f64 = (1..k).map(|i| if i % 2 == 1 { 4.0 } else { 2.0 } * f(i as f64 * h)).sum();
                2.0 * h / 3.0 * (f(0.0) + inner + f(umax))
            })
            .collect();
        ProfileTable { x, y }
    }

    /// y/y_scale at x = θ/θ500 (0 beyond the truncation).
    pub(crate) fn at(&self, x: f64) -> f64 {
        if x >= TRUNCATION {
            return 0.0;
        }
        let i = ((x / TRUNCATION).sqrt() * (self.x.len() - 1) as f64) as usize;
        let i = i.min(self.x.len() - 2);
        let t = (x - self.x[i]) / (self.x[i + 1] - self.x[i]);
        self.y[i] * (1.0 - t) + self.y[i + 1] * t
    }

    /// Y within the truncation per y_scale per θ500²: 2π ∫ y(x) x dx.
    pub(crate) fn integral(&self) -> f64 {
        let n = 4000;
        let h = TRUNCATION / n as f64;
        2.0 * PI * (0..n).map(|i| (i as f64 + 0.5) * h).map(|x| self.at(x) * x * h).sum::<f64>()
    }

    /// The profile convolved with a Gaussian of `sigma` (in θ500 units), at radii `r` (θ500 units):
    /// y_b(r) = ∫ y(r′) r′/σ² exp(−(r−r′)²/2σ²) I0e(r r′/σ²) dr′.
    pub(crate) fn convolved(&self, sigma: f64, r: &[f64]) -> Vec<f64> {
        if sigma <= 0.0 {
            return r.iter().map(|&r| self.at(r)).collect();
        }
        let n = 600;
        let h = TRUNCATION / n as f64;
        let s2 = sigma * sigma;
        r.iter()
            .map(|&r| {
                (0..n)
                    .map(|i| {
                        let rp = (i as f64 + 0.5) * h;
                        self.at(rp) * rp / s2 * (-(r - rp) * (r - rp) / (2.0 * s2)).exp() * i0e(r * rp / s2) * h
                    })
                    .sum()
            })
            .collect()
    }
}

/// e^−x I0(x) for x ≥ 0 (Abramowitz & Stegun 9.8.1–9.8.2, |ε| < 2e-7).
fn i0e(x: f64) -> f64 {
    if x < 3.75 {
        let t = (x / 3.75).powi(2);
        (-x).exp()
            * (1.0
                + t * (3.5156229
                    + t * (3.0899424 + t * (1.2067492 + t * (0.2659732 + t * (0.0360768 + t * 0.0045813))))))
    } else {
        let t = 3.75 / x;
        (0.39894228
            + t * (0.01328592
                + t * (0.00225319
                    + t * (-0.00157565
                        + t * (0.00916281
                            + t * (-0.02057706 + t * (0.02635537 + t * (-0.01647633 + t * 0.00392377))))))))
            / x.sqrt()
    }
}

fn sigma_of(fwhm_arcmin: f64) -> f64 {
    fwhm_arcmin / (8.0 * 2f64.ln()).sqrt()
}

/// Beam-convolved profiles for σ/θ500 on a log grid, each on RADII points of x ∈ [0, 5 + 3q]
/// (quadratic spacing): computed once, interpolated per cluster.
pub(crate) struct BeamedProfiles {
    log_q: Vec<f64>,
    rows: Vec<Vec<f64>>,
}

const RADII: usize = 96;
const Q_MIN: f64 = 1e-3;
const Q_MAX: f64 = 100.0;

impl BeamedProfiles {
    pub(crate) fn new(profile: &ProfileTable) -> Self {
        let n = 160;
        let log_q: Vec<f64> = (0..n).map(|i| Q_MIN.ln() + (Q_MAX / Q_MIN).ln() * i as f64 / (n - 1) as f64).collect();
        let rows = log_q
            .par_iter()
            .map(|lq| {
                let q = lq.exp();
                let reach = TRUNCATION + 3.0 * q;
                let r: Vec<f64> = (0..RADII).map(|i| reach * (i as f64 / (RADII - 1) as f64).powi(2)).collect();
                profile.convolved(q, &r)
            })
            .collect();
        BeamedProfiles { log_q, rows }
    }

    /// y/y_scale at x = θ/θ500 for beam σ/θ500 = q (q = 0: the unbeamed profile).
    pub(crate) fn at(&self, profile: &ProfileTable, q: f64, x: f64) -> f64 {
        if q <= Q_MIN {
            return profile.at(x);
        }
        let q = q.min(Q_MAX);
        let reach = TRUNCATION + 3.0 * q;
        if x >= reach {
            return 0.0;
        }
        let pos = (q.ln() - self.log_q[0]) / (self.log_q[1] - self.log_q[0]);
        let k = (pos as usize).min(self.log_q.len() - 2);
        let w = pos - k as f64;
        let t = (x / reach).sqrt() * (RADII - 1) as f64;
        let i = (t as usize).min(RADII - 2);
        let f = t - i as f64;
        let row = |r: &Vec<f64>| r[i] * (1.0 - f) + r[i + 1] * f;
        row(&self.rows[k]) * (1.0 - w) + row(&self.rows[k + 1]) * w
    }
}

/// Add every cluster's beam-convolved y profile × `per_y` to a RING map.
fn paint_clusters(
    map: &mut [f32],
    grid: Grid,
    clusters: &[Cluster],
    (profile, beamed): (&ProfileTable, &BeamedProfiles),
    fwhm: f64,
    per_y: f64,
) {
    for c in clusters {
        let q = sigma_of(fwhm) / c.theta500;
        let reach = TRUNCATION + 3.0 * q;
        for (p, d) in disc(grid, c.l, c.b, (reach * c.theta500 / 60.0).min(5.0)) {
            let value = beamed.at(profile, q, d / c.theta500);
            map[p as usize] += (value * c.y_scale * per_y) as f32;
        }
    }
}

/// The SZ signal of one cluster (Arnaud et al. 2010 profile, flat ΛCDM h = 0.7, Ωm = 0.3).
///
/// ```
/// // PHYSICS.md check values: M500 = 5e14 M☉, z = 0.2.
/// let c = xcluster::synthetic::ClusterSz::new(5.0, 0.2);
/// assert!((c.theta500_arcmin() / 5.70 - 1.0).abs() < 0.02);
/// assert!((c.y_central() / 1.06e-4 - 1.0).abs() < 0.02);
/// ```
pub struct ClusterSz {
    cluster: Cluster,
    profile: ProfileTable,
}

impl ClusterSz {
    /// A cluster of M500 (10¹⁴ M☉) at redshift z.
    pub fn new(m500_1e14: f64, z: f64) -> Self {
        ClusterSz {
            cluster: Cluster::new(String::new(), "", 0.0, 0.0, m500_1e14, z, Drawn::default()),
            profile: ProfileTable::new(),
        }
    }
    /// θ500 in arcmin.
    pub fn theta500_arcmin(&self) -> f64 {
        self.cluster.theta500
    }
    /// Compton y at the centre, without beam.
    pub fn y_central(&self) -> f64 {
        self.cluster.y_scale * self.profile.at(0.0)
    }
    /// Y within 5 R500 in arcmin².
    pub fn y5r500_arcmin2(&self) -> f64 {
        self.cluster.y_scale * self.profile.integral() * self.cluster.theta500.powi(2)
    }
    /// y at `theta_arcmin` from the centre after a Gaussian beam of `fwhm_arcmin`.
    pub fn y_beamed(&self, theta_arcmin: f64, fwhm_arcmin: f64) -> f64 {
        let t = self.cluster.theta500;
        self.cluster.y_scale * self.profile.convolved(sigma_of(fwhm_arcmin) / t, &[theta_arcmin / t])[0]
    }
}

/// The pixels of `grid` within `radius_deg` of (l, b), each with its distance in arcmin.
fn disc(grid: Grid, l: f64, b: f64, radius_deg: f64) -> impl Iterator<Item = (u64, f64)> {
    let centre = unit_vector(l, b);
    grid.query_disc(l, b, radius_deg, true).into_iter().map(move |p| {
        let (pl, pb) = grid.pix2ang(p);
        let v = unit_vector(pl, pb);
        let cos = (v[0] * centre[0] + v[1] * centre[1] + v[2] * centre[2]).clamp(-1.0, 1.0);
        (p, cos.acos().to_degrees() * 60.0)
    })
}

/// An injected compact source.
#[derive(Debug, Clone)]
struct Source {
    kind: &'static str,
    l: f64,
    b: f64,
    size_arcmin: f64,
    /// Jy at 100…857 GHz.
    flux: [f64; 6],
}

/// Add every source's beam-convolved Gaussian image to a RING map of band `m`.
fn paint_sources(map: &mut [f32], grid: Grid, sources: &[Source], m: &BandModel, fwhm: f64) {
    let Some(k) = HFI_GHZ.iter().position(|&f| f == m.ghz) else { return };
    let pixel = grid.resolution_arcmin();
    for s in sources {
        // σ² of beam ⊗ source, at least a pixel's so an unbeamed point still lands somewhere.
        let sigma = (sigma_of(fwhm).powi(2) + sigma_of(s.size_arcmin).powi(2)).sqrt().max(pixel / 2.0);
        let omega = 2.0 * PI * (sigma / 60.0).to_radians().powi(2);
        let peak = s.flux[k] * 1e-6 / omega * m.per_mjy();
        for (p, d) in disc(grid, s.l, s.b, 4.0 * sigma / 60.0) {
            map[p as usize] += (peak * (-d * d / (2.0 * sigma * sigma)).exp()) as f32;
        }
    }
}

/// Gaussian white noise of rms `sigma` per pixel, reproducible from `seed` whatever the threads.
fn add_noise(map: &mut [f32], sigma: f64, seed: u64) {
    map.par_chunks_mut(1 << 16).enumerate().for_each(|(k, chunk)| {
        let mut rng = StdRng::seed_from_u64(mix(&[seed, k as u64]));
        for v in chunk {
            *v += (sigma * normal(&mut rng)) as f32;
        }
    });
}

fn clusters_df(clusters: &[Cluster], profile: &ProfileTable) -> Result<DataFrame> {
    let icrs: Vec<(f64, f64)> = clusters.iter().map(|c| galactic_to_icrs(c.l, c.b)).collect();
    let y_int = profile.integral();
    let sigma143 = sigma_of(band_model(Band::F143).fwhm_arcmin);
    let peak143: Vec<f64> =
        clusters.par_iter().map(|c| profile.convolved(sigma143 / c.theta500, &[0.0])[0] * c.y_scale).collect();
    let n = clusters.len();
    Ok(DataFrame::new(
        n,
        vec![
            Column::new("name".into(), clusters.iter().map(|c| c.name.clone()).collect::<Vec<_>>()),
            Column::new("catalog".into(), clusters.iter().map(|c| c.catalog).collect::<Vec<_>>()),
            Column::new("ra".into(), icrs.iter().map(|p| p.0).collect::<Vec<_>>()),
            Column::new("dec".into(), icrs.iter().map(|p| p.1).collect::<Vec<_>>()),
            Column::new("glon".into(), clusters.iter().map(|c| c.l).collect::<Vec<_>>()),
            Column::new("glat".into(), clusters.iter().map(|c| c.b).collect::<Vec<_>>()),
            Column::new("z".into(), clusters.iter().map(|c| c.z).collect::<Vec<_>>()),
            Column::new("m500".into(), clusters.iter().map(|c| c.m500).collect::<Vec<_>>()),
            Column::new("mass_drawn".into(), clusters.iter().map(|c| c.drawn.mass).collect::<Vec<_>>()),
            Column::new("z_drawn".into(), clusters.iter().map(|c| c.drawn.z).collect::<Vec<_>>()),
            Column::new("theta500_arcmin".into(), clusters.iter().map(|c| c.theta500).collect::<Vec<_>>()),
            Column::new(
                "y5r500_arcmin2".into(),
                clusters.iter().map(|c| c.y_scale * y_int * c.theta500 * c.theta500).collect::<Vec<_>>(),
            ),
            Column::new("y_central".into(), clusters.iter().map(|c| c.y_scale * profile.at(0.0)).collect::<Vec<_>>()),
            Column::new("y_peak_143".into(), peak143),
        ],
    )?)
}

fn sources_df(sources: &[Source]) -> Result<DataFrame> {
    let icrs: Vec<(f64, f64)> = sources.iter().map(|s| galactic_to_icrs(s.l, s.b)).collect();
    let mut columns = vec![
        Column::new("kind".into(), sources.iter().map(|s| s.kind).collect::<Vec<_>>()),
        Column::new("glon".into(), sources.iter().map(|s| s.l).collect::<Vec<_>>()),
        Column::new("glat".into(), sources.iter().map(|s| s.b).collect::<Vec<_>>()),
        Column::new("ra".into(), icrs.iter().map(|p| p.0).collect::<Vec<_>>()),
        Column::new("dec".into(), icrs.iter().map(|p| p.1).collect::<Vec<_>>()),
        Column::new("size_arcmin".into(), sources.iter().map(|s| s.size_arcmin).collect::<Vec<_>>()),
    ];
    for (k, f) in HFI_GHZ.iter().enumerate() {
        columns.push(Column::new(format!("flux_{f}").into(), sources.iter().map(|s| s.flux[k]).collect::<Vec<_>>()));
    }
    Ok(DataFrame::new(sources.len(), columns)?)
}

/// One catalog per value of `column` (kept when `keep`), named after the value.
fn split_by(df: &DataFrame, column: &str, keep: impl Fn(&str) -> bool) -> Result<Vec<Catalog>> {
    let col = df.column(column).map_err(|_| Error::param("truth", format!("no column {column:?}")))?;
    let col = col.cast(&DataType::String)?;
    let values = col.str()?;
    let mut names: Vec<&str> = Vec::new();
    for v in values.iter().flatten() {
        if keep(v) && !names.contains(&v) {
            names.push(v);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mask: BooleanChunked = values.iter().map(|v| v == Some(name)).collect();
            Catalog::from_df(name, df.filter(&mask)?, &ColumnMap::auto())
        })
        .collect()
}
