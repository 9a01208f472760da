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
use rayon::prelude::*;

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

/// Multiply-accumulates per row block below which a product is not split across threads.
pub const MIN_SPLIT_MACS: usize = 1 << 20;

/// Kernels backed by `matrixmultiply` for large products.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gemm {
    /// The path choice.
    pub mode: Mode,
    /// Split large products by output rows across the threads of the current rayon pool.
    /// Each output element is still computed by one sgemm call with the same k order, so
    /// the bits do not depend on the number of threads (tests/parallel.rs checks it).
    pub split: bool,
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
        Gemm { mode, split: false }
    }

    /// Row blocks to cut a product with `rows` output rows into.
    fn parts(&self, d: Dims, rows: usize) -> usize {
        if !self.split {
            return 1;
        }
        let macs = d.batch.saturating_mul(d.inputs).saturating_mul(d.outputs);
        let threads = rayon::current_num_threads();
        if threads < 2 || macs < 2 * MIN_SPLIT_MACS {
            return 1;
        }
        threads.min(macs / MIN_SPLIT_MACS).min(rows).max(1)
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
        let (i, o) = (d.inputs, d.outputs);
        // y rows (samples) in blocks: y_blk = x_blk W^T, then bias and activation.
        let run = |(yc, xc): (&mut [f32], &[f32])| {
            sgemm(yc.len() / o.max(1), i, o, xc, i as isize, 1, w, 1, i as isize, 0.0, yc);
            bias_activation(yc, b, act);
        };
        let per = d.batch.div_ceil(self.parts(d, d.batch)).max(1);
        if per < d.batch && o > 0 && i > 0 {
            y.par_chunks_mut(per * o).zip(x.par_chunks(per * i)).for_each(run);
        } else {
            run((y, x));
        }
    }

    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        if !self.use_gemm(d) {
            return Native::default().weight_grad_impl(d, delta, x, d_w);
        }
        let (i, o) = (d.inputs, d.outputs);
        // d_w rows (neurons j) in blocks: d_w[j0..j1] += delta[:, j0..j1]^T x.
        let per = o.div_ceil(self.parts(d, o)).max(1);
        if per < o && i > 0 {
            d_w.par_chunks_mut(per * i).enumerate().for_each(|(c, gw)| {
                let j0 = c * per;
                sgemm(gw.len() / i, d.batch, i, &delta[j0..], 1, o as isize, x, i as isize, 1, 1.0, gw);
            });
        } else {
            sgemm(o, d.batch, i, delta, 1, o as isize, x, i as isize, 1, 1.0, d_w);
        }
    }

    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        if !self.use_gemm(d) {
            return Native::default().input_grad_impl(d, delta, w, d_x);
        }
        let (i, o) = (d.inputs, d.outputs);
        // d_x rows (samples) in blocks: d_x_blk = delta_blk W.
        let run = |(gx, dc): (&mut [f32], &[f32])| {
            sgemm(gx.len() / i.max(1), o, i, dc, o as isize, 1, w, i as isize, 1, 0.0, gx);
        };
        let per = d.batch.div_ceil(self.parts(d, d.batch)).max(1);
        if per < d.batch && o > 0 && i > 0 {
            d_x.par_chunks_mut(per * i).zip(delta.par_chunks(per * o)).for_each(run);
        } else {
            run((d_x, delta));
        }
    }
}
