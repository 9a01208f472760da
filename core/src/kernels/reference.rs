//! The specification: plain loops, one multiply and one add per term, sums in index order.

// INVARIANT: every kernel entry returns at once unless `Dims::fits` holds for its slices,
// and all indices below are derived from those `Dims`, so no index is out of range.
#![allow(clippy::indexing_slicing)]

use super::raw::RawKernels;
use super::{bias_activation, Dims};
use crate::activation::Activation;

/// Plain-loop reference kernels.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference;

impl RawKernels for Reference {
    fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        if !d.fits(x.len(), w.len(), y.len()) || b.len() != d.outputs {
            return;
        }
        let (n, m) = (d.inputs, d.outputs);
        for s in 0..d.batch {
            for j in 0..m {
                let mut acc = 0.0f32;
                for k in 0..n {
                    acc += x[s * n + k] * w[j * n + k];
                }
                y[s * m + j] = acc;
            }
        }
        bias_activation(y, b, act);
    }

    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        if !d.fits(x.len(), d_w.len(), delta.len()) {
            return;
        }
        let (n, m) = (d.inputs, d.outputs);
        for s in 0..d.batch {
            for j in 0..m {
                for k in 0..n {
                    d_w[j * n + k] += delta[s * m + j] * x[s * n + k];
                }
            }
        }
    }

    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        if !d.fits(d_x.len(), w.len(), delta.len()) {
            return;
        }
        let (n, m) = (d.inputs, d.outputs);
        for s in 0..d.batch {
            for k in 0..n {
                let mut acc = 0.0f32;
                for j in 0..m {
                    acc += delta[s * m + j] * w[j * n + k];
                }
                d_x[s * n + k] = acc;
            }
        }
    }

    fn dense_forward_packed_impl(&self, d: Dims, x: &[f32], wp: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        super::dense_forward_packed_in_order(d, x, wp, b, y, act)
    }
}
