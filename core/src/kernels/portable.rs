//! Register-blocked scalar kernels for targets without 8-lane SIMD (Cortex-M4F, plain x86_64).
//!
//! Each output element receives exactly the same sequence of `mul` and `add` operations as
//! in [`super::Reference`] (accumulators start at 0 or at the existing gradient, terms are
//! added in index order), so the two are bit-identical; blocking only cuts loads and loop
//! overhead: a loaded `x[k]` serves four outputs, a loaded `d_w` element takes four samples.
//! Rust never contracts `a * b + c` into a fused multiply-add, which keeps this true.

// INVARIANT: every kernel entry returns at once unless `Dims::fits` holds for its slices,
// and all indices below are derived from those `Dims`, so no index is out of range.
#![allow(clippy::indexing_slicing)]

use super::raw::RawKernels;
use super::{bias_activation, Dims};
use crate::activation::Activation;

/// Blocked scalar kernels, bit-identical to [`super::Reference`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

/// Four dot products `x . w_i` sharing the loads of `x`; each sum in index order.
///
/// `k` advances four at a time over contiguous 4-element pieces of `x` and of each row, so
/// each loaded `x[k]` serves four outputs. (Hard-float ARM runs `arm::rows` instead: the
/// same operations with multi-register loads.)
#[cfg_attr(all(target_arch = "arm", target_abi = "eabihf"), allow(dead_code))]
#[inline(always)]
fn dot4(x: &[f32], w0: &[f32], w1: &[f32], w2: &[f32], w3: &[f32]) -> [f32; 4] {
    let n = x.len();
    let (w0, w1, w2, w3) = (&w0[..n], &w1[..n], &w2[..n], &w3[..n]);
    let mut acc = [0.0f32; 4];
    let body = n - n % 4;
    let quads = x[..body]
        .chunks_exact(4)
        .zip(w0[..body].chunks_exact(4))
        .zip(w1[..body].chunks_exact(4))
        .zip(w2[..body].chunks_exact(4))
        .zip(w3[..body].chunks_exact(4));
    for ((((xq, q0), q1), q2), q3) in quads {
        for (a, q) in acc.iter_mut().zip([q0, q1, q2, q3]) {
            *a += xq[0] * q[0];
            *a += xq[1] * q[1];
            *a += xq[2] * q[2];
            *a += xq[3] * q[3];
        }
    }
    for k in body..n {
        for (a, w) in acc.iter_mut().zip([w0, w1, w2, w3]) {
            *a += x[k] * w[k];
        }
    }
    acc
}

#[cfg_attr(all(target_arch = "arm", target_abi = "eabihf"), allow(dead_code))]
#[inline(always)]
fn dot(x: &[f32], w: &[f32]) -> f32 {
    let mut a = 0.0f32;
    for (&x, &w) in x.iter().zip(w) {
        a += x * w;
    }
    a
}

/// `yr[j] = x . W[j]` for one sample.
#[inline(always)]
fn forward_row(xr: &[f32], w: &[f32], yr: &mut [f32]) {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        super::arm::rows(xr, w, yr);
        // Only with the gate-demonstration feature: the same work twice.
        #[cfg(feature = "regression-demo")]
        super::arm::rows(core::hint::black_box(xr), w, core::hint::black_box(yr));
    }
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
    {
        let n = xr.len();
        let mut rows = w.chunks_exact(n);
        let mut out = yr.chunks_exact_mut(4);
        for o in &mut out {
            if let (Some(w0), Some(w1), Some(w2), Some(w3)) = (rows.next(), rows.next(), rows.next(), rows.next()) {
                o.copy_from_slice(&dot4(xr, w0, w1, w2, w3));
                // Only with the gate-demonstration feature: the same work twice.
                #[cfg(feature = "regression-demo")]
                core::hint::black_box(dot4(core::hint::black_box(xr), w0, w1, w2, w3));
            }
        }
        for (o, wr) in out.into_remainder().iter_mut().zip(rows) {
            *o = dot(xr, wr);
        }
    }
}

impl RawKernels for Portable {
    fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        if !d.fits(x.len(), w.len(), y.len()) || b.len() != d.outputs {
            return;
        }
        let (n, m) = (d.inputs, d.outputs);
        if m == 0 {
            return;
        }
        if n == 0 {
            y.fill(0.0);
        } else {
            for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(m)) {
                forward_row(xr, w, yr);
            }
        }
        bias_activation(y, b, act);
    }

    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        if !d.fits(x.len(), d_w.len(), delta.len()) {
            return;
        }
        let (n, m) = (d.inputs, d.outputs);
        if n == 0 || m == 0 {
            return;
        }
        for (j, gw) in d_w.chunks_exact_mut(n).enumerate() {
            // d_w[j][k] += delta[s][j] x[s][k], four samples per pass, in sample order.
            let mut s = 0;
            while s + 4 <= d.batch {
                let (d0, d1, d2, d3) =
                    (delta[s * m + j], delta[(s + 1) * m + j], delta[(s + 2) * m + j], delta[(s + 3) * m + j]);
                let xs = &x[s * n..(s + 4) * n];
                let (x0, rest) = xs.split_at(n);
                let (x1, rest) = rest.split_at(n);
                let (x2, x3) = rest.split_at(n);
                let (x0, x1, x2, x3) = (&x0[..n], &x1[..n], &x2[..n], &x3[..n]);
                let gw = &mut gw[..n];
                for k in 0..n {
                    gw[k] = gw[k] + d0 * x0[k] + d1 * x1[k] + d2 * x2[k] + d3 * x3[k];
                }
                s += 4;
            }
            while s < d.batch {
                let dv = delta[s * m + j];
                for (g, &xv) in gw.iter_mut().zip(&x[s * n..(s + 1) * n]) {
                    *g += dv * xv;
                }
                s += 1;
            }
        }
    }

    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        if !d.fits(d_x.len(), w.len(), delta.len()) {
            return;
        }
        let (n, m) = (d.inputs, d.outputs);
        if n == 0 {
            return;
        }
        if m == 0 {
            d_x.fill(0.0);
            return;
        }
        for (dr, gx) in delta.chunks_exact(m).zip(d_x.chunks_exact_mut(n)) {
            // d_x[s][k] = sum_j delta[s][j] W[j][k], four rows of W per pass, in row order.
            gx.fill(0.0);
            let mut j = 0;
            while j + 4 <= m {
                let (d0, d1, d2, d3) = (dr[j], dr[j + 1], dr[j + 2], dr[j + 3]);
                let ws = &w[j * n..(j + 4) * n];
                let (w0, rest) = ws.split_at(n);
                let (w1, rest) = rest.split_at(n);
                let (w2, w3) = rest.split_at(n);
                let (w0, w1, w2, w3) = (&w0[..n], &w1[..n], &w2[..n], &w3[..n]);
                let gx = &mut gx[..n];
                for k in 0..n {
                    gx[k] = gx[k] + d0 * w0[k] + d1 * w1[k] + d2 * w2[k] + d3 * w3[k];
                }
                j += 4;
            }
            while j < m {
                let dv = dr[j];
                for (g, &wv) in gx.iter_mut().zip(&w[j * n..(j + 1) * n]) {
                    *g += dv * wv;
                }
                j += 1;
            }
        }
    }

    fn dense_forward_packed_impl(&self, d: Dims, x: &[f32], wp: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        super::dense_forward_packed_in_order(d, x, wp, b, y, act)
    }
}
