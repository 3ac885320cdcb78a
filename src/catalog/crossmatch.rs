//! Positional cross-matching of two lists of sky positions.
//!
//! In: positions A and B as (lon, lat) in degrees (same frame), a radius in arcmin and a [`Match`]
//! mode. Out: [`Pair`]s inside the crate ([`match_pairs`]), a DataFrame `idx_a` (u32), `idx_b`
//! (u32), `sep_arcmin` (f64) at the edge ([`crossmatch`]), sorted by `idx_a` then separation. B is indexed by HEALPix NESTED cells at the coarsest depth whose cells are at least
//! as wide as the radius (`cdshealpix::best_starting_depth`), so each A position needs only its own
//! cell and the 8 around it: the cost grows as N_A · (B density · radius²), not N_A · N_B.

use cdshealpix::nested::{self, Layer};
use polars::prelude::*;
use rayon::prelude::*;

use crate::error::{ensure_param, Result};
use crate::sky::{to_radians, unit_vector};

/// The original's cluster match radius, arcmin.
pub const CLUSTER_RADIUS_ARCMIN: f64 = 7.0;
/// The original's contaminant match radius, arcmin.
pub const CONTAMINANT_RADIUS_ARCMIN: f64 = 5.0;

/// How pairs within the radius are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Match {
    /// For each A, its nearest B (a B may be the nearest of several A's).
    #[default]
    Nearest,
    /// Each A and each B used at most once: pairs taken greedily by increasing separation.
    OneToOne,
    /// Every (A, B) pair within the radius.
    All,
}

/// Match `a` against `b` within `radius_arcmin` (0 < radius ≤ 600′).
///
/// ```
/// use xcluster::catalog::{crossmatch, Match};
/// let a = [(10.0, 20.0)];
/// let b = [(10.0, 20.05), (10.0, 21.0)];
/// let m = crossmatch(&a, &b, 7.0, Match::Nearest).unwrap();
/// assert_eq!(m.height(), 1);
/// let sep = m.column("sep_arcmin").unwrap().f64().unwrap().get(0).unwrap();
/// assert!((sep - 3.0).abs() < 1e-9);
/// ```
pub fn crossmatch(a: &[(f64, f64)], b: &[(f64, f64)], radius_arcmin: f64, mode: Match) -> Result<DataFrame> {
    let pairs = match_pairs(a, b, radius_arcmin, mode)?;
    Ok(df!(
        "idx_a" => pairs.iter().map(|p| p.a).collect::<Vec<u32>>(),
        "idx_b" => pairs.iter().map(|p| p.b).collect::<Vec<u32>>(),
        "sep_arcmin" => pairs.iter().map(|p| p.sep_arcmin).collect::<Vec<f64>>(),
    )?)
}

/// One matched pair: row `a` of A, row `b` of B, their separation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// Row in A.
    pub a: u32,
    /// Row in B.
    pub b: u32,
    /// Separation in arcmin.
    pub sep_arcmin: f64,
}

/// [`crossmatch`] as typed pairs, sorted by `a` then separation (then `b`).
pub fn match_pairs(a: &[(f64, f64)], b: &[(f64, f64)], radius_arcmin: f64, mode: Match) -> Result<Vec<Pair>> {
    ensure_param!(
        radius_arcmin > 0.0 && radius_arcmin <= 600.0,
        "crossmatch radius_arcmin",
        "must be in (0, 600], got {radius_arcmin}"
    );
    ensure_param!(
        a.len() < u32::MAX as usize && b.len() < u32::MAX as usize,
        "crossmatch",
        "at most 2^32 − 1 positions per list"
    );
    let index = CellIndex::new(b, radius_arcmin);
    // Each rayon task keeps its own output and scratch buffers: no allocation per position.
    let mut pairs: Vec<(u32, u32, f64)> = a
        .par_iter()
        .enumerate()
        .with_min_len(1024)
        .fold(
            || (Vec::new(), Vec::with_capacity(9), Vec::new()),
            |(mut out, mut cells, mut found), (i, &(lon, lat))| {
                index.within(lon, lat, &mut cells, &mut found);
                let i = i as u32;
                match mode {
                    Match::Nearest => {
                        out.extend(found.iter().min_by(|x, y| x.1.total_cmp(&y.1)).map(|&(j, s)| (i, j, s)))
                    }
                    Match::OneToOne | Match::All => out.extend(found.iter().map(|&(j, s)| (i, j, s))),
                }
                (out, cells, found)
            },
        )
        .map(|(out, _, _)| out)
        .reduce(Vec::new, |mut x, y| {
            x.extend(y);
            x
        });
    if mode == Match::OneToOne {
        pairs = greedy_one_to_one(pairs, b.len());
    }
    pairs.par_sort_unstable_by(|x, y| x.0.cmp(&y.0).then(x.2.total_cmp(&y.2)).then(x.1.cmp(&y.1)));
    Ok(pairs.into_iter().map(|(a, b, sep_arcmin)| Pair { a, b, sep_arcmin }).collect())
}

/// Keep pairs by increasing separation while neither end is taken yet.
fn greedy_one_to_one(mut pairs: Vec<(u32, u32, f64)>, n_b: usize) -> Vec<(u32, u32, f64)> {
    pairs.par_sort_unstable_by(|x, y| x.2.total_cmp(&y.2).then(x.0.cmp(&y.0)).then(x.1.cmp(&y.1)));
    let n_a = pairs.iter().map(|p| p.0 as usize + 1).max().unwrap_or(0);
    let (mut used_a, mut used_b) = (vec![false; n_a], vec![false; n_b]);
    pairs.retain(|&(i, j, _)| {
        let free = !used_a[i as usize] && !used_b[j as usize];
        if free {
            used_a[i as usize] = true;
            used_b[j as usize] = true;
        }
        free
    });
    pairs
}

/// Positions of B sorted by their NESTED cell, with their unit vectors.
struct CellIndex {
    /// `None` when the radius is so large that every B is a candidate.
    layer: Option<&'static Layer>,
    /// (cell, index in B), sorted by cell.
    cells: Vec<(u64, u32)>,
    vectors: Vec<[f64; 3]>,
    radius_rad: f64,
    /// Squared chord length of the radius: |u − v|² ≤ this ⇔ separation ≤ radius.
    chord2: f64,
}

impl CellIndex {
    fn new(b: &[(f64, f64)], radius_arcmin: f64) -> Self {
        let radius_rad = (radius_arcmin / 60.0).to_radians();
        let layer = cdshealpix::has_best_starting_depth(radius_rad)
            .then(|| nested::get(cdshealpix::best_starting_depth(radius_rad)));
        let vectors: Vec<[f64; 3]> = b.par_iter().map(|&(lon, lat)| unit_vector(lon, lat)).collect();
        let mut cells: Vec<(u64, u32)> = match layer {
            Some(layer) => b
                .par_iter()
                .enumerate()
                .map(|(j, &(lon, lat))| {
                    let (lon, lat) = to_radians(lon, lat);
                    (layer.hash(lon, lat), j as u32)
                })
                .collect(),
            None => (0..b.len() as u32).map(|j| (0, j)).collect(),
        };
        cells.par_sort_unstable();
        let chord = 2.0 * (radius_rad / 2.0).sin();
        CellIndex { layer, cells, vectors, radius_rad, chord2: chord * chord }
    }

    /// Fill `found` with (index in B, separation in arcmin) of every B within the radius of (lon, lat).
    fn within(&self, lon: f64, lat: f64, cells: &mut Vec<u64>, found: &mut Vec<(u32, f64)>) {
        found.clear();
        let u = unit_vector(lon, lat);
        let mut scan = |slice: &[(u64, u32)]| {
            for &(_, j) in slice {
                let v = self.vectors[j as usize];
                let d2 = (u[0] - v[0]).powi(2) + (u[1] - v[1]).powi(2) + (u[2] - v[2]).powi(2);
                if d2 <= self.chord2 {
                    // Separation from the chord: accurate at small angles, unlike acos(u·v).
                    let sep = 2.0 * (d2.sqrt() / 2.0).min(1.0).asin();
                    if sep <= self.radius_rad {
                        found.push((j, sep.to_degrees() * 60.0));
                    }
                }
            }
        };
        let Some(layer) = self.layer else {
            scan(&self.cells);
            return;
        };
        let (rlon, rlat) = to_radians(lon, lat);
        let centre = layer.hash(rlon, rlat);
        cells.clear();
        cells.push(centre);
        layer.append_bulk_neighbours(centre, cells);
        for &cell in cells.iter() {
            let start = self.cells.partition_point(|&(c, _)| c < cell);
            let end = start + self.cells[start..].partition_point(|&(c, _)| c == cell);
            scan(&self.cells[start..end]);
        }
    }
}

/// Friends-of-friends groups of `positions` (Galactic degrees): two positions within `radius_arcmin`
/// are friends, and a chain of friends is one group. Groups come in order of their first member, each
/// with its members in increasing order.
pub(crate) fn friends_of_friends(positions: &[(f64, f64)], radius_arcmin: f64) -> Result<Vec<Vec<usize>>> {
    let mut parent: Vec<usize> = (0..positions.len()).collect();
    fn root(p: &mut [usize], mut k: usize) -> usize {
        while p[k] != k {
            p[k] = p[p[k]];
            k = p[k];
        }
        k
    }
    if !positions.is_empty() {
        for Pair { a, b, .. } in match_pairs(positions, positions, radius_arcmin, Match::All)? {
            let (ra, rb) = (root(&mut parent, a as usize), root(&mut parent, b as usize));
            if ra != rb {
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for k in 0..positions.len() {
        let r = root(&mut parent, k);
        groups.entry(r).or_default().push(k);
    }
    Ok(groups.into_values().collect())
}
