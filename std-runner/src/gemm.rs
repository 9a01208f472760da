//! Batched dense products through `matrixmultiply::sgemm` (the only file that calls it),
//! with the core's epilogue for bias + activation. Implements the core's
//! [`Kernels`] trait, so the core's forward/backward run on it unchanged.
//!
//! Shape legend as in `myelin_core::kernels`: x (batch, inputs), W (outputs, inputs),
//! y/delta (batch, outputs). Every product is one sgemm call with strides, no copies:
//!
//! - forward `y = x W^T`: A = x (row stride `inputs`), B = W^T (row stride 1, column stride
//!   `inputs`), beta = 0, then `y = act(y + b)`;
//! - `d_w += delta^T x`: A = delta^T (row stride 1, column stride `outputs`), beta = 1;
//! - `d_x = delta W`: A = delta, B = W, beta = 0.
//!
//! Small products (few samples) go to the core's own kernels, which beat a general GEMM's
//! packing overhead there; the cut-over is measured (see BENCHMARKS.md).

#![allow(unsafe_code)]

use myelin_core::kernels::{bias_activation, Dims, Kernels, Native};
use myelin_core::Activation;

use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many multiply-accumulates a product runs on the core's kernels.
pub const MIN_GEMM_MACS: usize = 1 << 18;

/// sgemm calls made by this process (lets tests prove which path ran).
pub static SGEMM_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Which products go through sgemm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Large products (>= [`MIN_GEMM_MACS`]) through sgemm, small ones on the core.
    #[default]
    Auto,
    /// Every product through sgemm.
    Always,
    /// Every product on the core's kernels.
    Never,
}

/// Kernels backed by `matrixmultiply` for large products.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gemm {
    /// The path choice.
    pub mode: Mode,
}

impl Gemm {
    /// The choice from the environment: `MYELIN_GEMM=auto|always|never` (default auto), so
    /// tests and measurements can force a path without rebuilding.
    pub fn from_env() -> Gemm {
        let mode = match std::env::var("MYELIN_GEMM").as_deref() {
            Ok("always") => Mode::Always,
            Ok("never") => Mode::Never,
            _ => Mode::Auto,
        };
        Gemm { mode }
    }

    fn use_gemm(&self, d: Dims) -> bool {
        match self.mode {
            Mode::Always => true,
            Mode::Never => false,
            Mode::Auto => d.batch.saturating_mul(d.inputs).saturating_mul(d.outputs) >= MIN_GEMM_MACS,
        }
    }
}

/// `c (m x n) = alpha * a (m x k) * b (k x n) + beta * c` with explicit strides.
#[allow(clippy::too_many_arguments)]
fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: isize,
    csa: isize,
    b: &[f32],
    rsb: isize,
    csb: isize,
    beta: f32,
    c: &mut [f32],
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == 0.0 {
            c.fill(0.0);
        }
        return;
    }
    SGEMM_CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the core's `Kernels` provided methods checked every length against `Dims`
    // before calling the `_impl`s below: a holds m x k, b holds k x n and c holds m x n
    // elements at the given strides, and c does not alias a or b (distinct borrows).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

impl Kernels for Gemm {
    fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        if !self.use_gemm(d) {
            return Native::default().dense_forward_impl(d, x, w, b, y, act);
        }
        let i = d.inputs as isize;
        sgemm(d.batch, d.inputs, d.outputs, x, i, 1, w, 1, i, 0.0, y);
        bias_activation(y, b, act);
    }

    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        if !self.use_gemm(d) {
            return Native::default().weight_grad_impl(d, delta, x, d_w);
        }
        sgemm(d.outputs, d.batch, d.inputs, delta, 1, d.outputs as isize, x, d.inputs as isize, 1, 1.0, d_w);
    }

    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        if !self.use_gemm(d) {
            return Native::default().input_grad_impl(d, delta, w, d_x);
        }
        sgemm(d.batch, d.outputs, d.inputs, delta, d.outputs as isize, 1, w, d.inputs as isize, 1, 0.0, d_x);
    }
}
