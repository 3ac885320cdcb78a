//! Unnormalised 2-D FFTs of N×N row-major grids, as MMF.md §0 writes them:
//! M̃(k) = Σ_p m(x_p) e^{−ik·x_p} forward, the same sum with e^{+ik·x} back, so that
//! IFFT(FFT(x)) = N²·x. One rustfft pass over the rows, an in-place transpose, a second pass, and
//! the transpose back; the plans are made once and shared by every patch and thread.

use std::sync::Arc;

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

/// Forward and inverse unnormalised FFTs of one N×N size.
#[derive(Clone)]
pub struct Fft2 {
    n: usize,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
}

impl std::fmt::Debug for Fft2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fft2({}×{})", self.n, self.n)
    }
}

impl Fft2 {
    /// Plans for N×N grids.
    pub fn new(n: usize) -> Self {
        let mut planner = FftPlanner::new();
        Fft2 { n, forward: planner.plan_fft_forward(n), inverse: planner.plan_fft_inverse(n) }
    }

    /// Side N of the grids.
    pub fn size(&self) -> usize {
        self.n
    }

    /// A scratch buffer long enough for [`Fft2::forward_with`] and [`Fft2::inverse_with`]: one per
    /// patch, so that the per-scale transforms allocate nothing.
    pub fn scratch(&self) -> Vec<Complex64> {
        let len = self.forward.get_inplace_scratch_len().max(self.inverse.get_inplace_scratch_len());
        vec![Complex64::new(0.0, 0.0); len]
    }

    /// In-place forward transform of `data` (N² values, row-major).
    pub fn forward(&self, data: &mut [Complex64]) {
        self.forward_with(data, &mut self.scratch());
    }

    /// In-place unnormalised inverse transform of `data`.
    pub fn inverse(&self, data: &mut [Complex64]) {
        self.inverse_with(data, &mut self.scratch());
    }

    /// [`Fft2::forward`] with a caller's scratch buffer (from [`Fft2::scratch`]).
    pub fn forward_with(&self, data: &mut [Complex64], scratch: &mut [Complex64]) {
        self.pass(&*self.forward, data, scratch);
    }

    /// [`Fft2::inverse`] with a caller's scratch buffer.
    pub fn inverse_with(&self, data: &mut [Complex64], scratch: &mut [Complex64]) {
        self.pass(&*self.inverse, data, scratch);
    }

    fn pass(&self, fft: &dyn Fft<f64>, data: &mut [Complex64], scratch: &mut [Complex64]) {
        assert_eq!(data.len(), self.n * self.n, "Fft2 of size {} given {} values", self.n, data.len());
        // rustfft transforms every consecutive N-run of the buffer: the rows, then (transposed) the columns.
        fft.process_with_scratch(data, scratch);
        transpose(data, self.n);
        fft.process_with_scratch(data, scratch);
        transpose(data, self.n);
    }
}

/// In-place transpose by 16×16 blocks (a plain double loop strides through memory on every swap).
fn transpose(data: &mut [Complex64], n: usize) {
    const B: usize = 16;
    for bi in (0..n).step_by(B) {
        for bj in (bi..n).step_by(B) {
            for i in bi..(bi + B).min(n) {
                let start = if bi == bj { i + 1 } else { bj };
                for j in start..(bj + B).min(n) {
                    data.swap(i * n + j, j * n + i);
                }
            }
        }
    }
}

/// Signed FFT frequency index of position `a` in 0..n: 0, 1, …, n/2 − 1, −n/2, …, −1.
pub(crate) fn signed_index(a: usize, n: usize) -> f64 {
    if a < n.div_ceil(2) {
        a as f64
    } else {
        a as f64 - n as f64
    }
}
