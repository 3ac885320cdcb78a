//! Flat ΛCDM background cosmology for cluster sizes (PHYSICS.md: Ωm = 0.3, h = 0.7).
//!
//! In: a redshift, and a mass M500 (in 10¹⁴ M☉) or a radius R500 (Mpc). Out: E(z), the angular
//! diameter distance D_A(z), R500 and the angular size θ500 = R500 / D_A. Used for label disks of
//! each cluster's own size and, by the synthetic sky, for cluster profiles.

use std::f64::consts::PI;

/// Hubble constant in km/s/Mpc.
pub const H0: f64 = 70.0;
/// Matter density today.
pub const OMEGA_M: f64 = 0.3;
/// Speed of light in km/s.
const C_KM_S: f64 = 299_792.458;
/// Newton's constant in Mpc · (km/s)² / M☉.
const G_MPC_KMS2_MSUN: f64 = 4.300_917_270e-9;

/// E(z) = H(z)/H0 = √(Ωm(1+z)³ + 1 − Ωm).
pub fn e_of_z(z: f64) -> f64 {
    (OMEGA_M * (1.0 + z).powi(3) + 1.0 - OMEGA_M).sqrt()
}

/// Comoving distance in Mpc (Simpson's rule on 1/E, 512 intervals: < 1e-9 relative for z ≤ 5).
pub fn comoving_distance_mpc(z: f64) -> f64 {
    const N: usize = 512;
    let h = z / N as f64;
    let f = |k: usize| 1.0 / e_of_z(k as f64 * h);
    let inner: f64 = (1..N).map(|k| if k % 2 == 1 { 4.0 * f(k) } else { 2.0 * f(k) }).sum();
    C_KM_S / H0 * h / 3.0 * (f(0) + inner + f(N))
}

/// Angular diameter distance D_A(z) in Mpc.
pub fn angular_diameter_distance_mpc(z: f64) -> f64 {
    comoving_distance_mpc(z) / (1.0 + z)
}

/// Critical density ρc(z) = 3H(z)²/(8πG) in M☉/Mpc³.
pub fn critical_density(z: f64) -> f64 {
    let h = H0 * e_of_z(z);
    3.0 * h * h / (8.0 * PI * G_MPC_KMS2_MSUN)
}

/// R500 in Mpc of a cluster of M500 (10¹⁴ M☉) at redshift z: [3 M500 / (4π · 500 · ρc(z))]^(1/3).
pub fn r500_mpc(m500_1e14: f64, z: f64) -> f64 {
    (3.0 * m500_1e14 * 1e14 / (4.0 * PI * 500.0 * critical_density(z))).cbrt()
}

/// θ500 in arcmin of a radius R500 (Mpc) at redshift z.
pub fn theta_arcmin(r500_mpc: f64, z: f64) -> f64 {
    (r500_mpc / angular_diameter_distance_mpc(z)).to_degrees() * 60.0
}

/// θ500 in arcmin of a cluster of M500 (10¹⁴ M☉) at redshift z.
///
/// ```
/// // PHYSICS.md check value: M500 = 5e14 M☉, z = 0.2 → R500 = 1.129 Mpc, θ500 = 5.70′.
/// assert!((xcluster::cosmology::r500_mpc(5.0, 0.2) - 1.129).abs() < 1e-3);
/// assert!((xcluster::cosmology::theta500_arcmin(5.0, 0.2) - 5.70).abs() < 5e-3);
/// ```
pub fn theta500_arcmin(m500_1e14: f64, z: f64) -> f64 {
    theta_arcmin(r500_mpc(m500_1e14, z), z)
}
