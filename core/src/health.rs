//! Gradient health after a backward pass, without allocation: is every layer still learning?
//!
//! - gradient norm per layer (W and b together): near zero means the layer has stopped
//!   learning (vanishing gradients), huge means divergence;
//! - dead ReLU fraction: units whose output is 0 for *every* sample of the batch (their
//!   gradient is exactly zero, so they may never recover);
//! - saturated fraction (sigmoid/tanh): outputs within 0.01 of the asymptotes, where
//!   `f'` is < ~0.01 and the gradient vanishes.

use crate::activation::Activation;
use crate::error::{Buffer, Error};
use crate::network::Pass;
use crate::topology::{LayerParams, Topology, Workspace, MAX_LAYERS};

/// Health of one layer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerHealth {
    /// L2 norm of the layer's gradient (W and b).
    pub grad_norm: f32,
    /// Fraction of units inactive for the whole batch (ReLU; 0 for others).
    pub dead_fraction: f32,
    /// Fraction of outputs within 0.01 of a sigmoid/tanh asymptote (0 for others).
    pub saturated_fraction: f32,
}

/// Health of every layer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Health {
    layers: [LayerHealth; MAX_LAYERS],
    len: usize,
}

impl Health {
    /// Per-layer figures, input side first.
    pub fn layers(&self) -> &[LayerHealth] {
        self.layers.get(..self.len).unwrap_or(&[])
    }
}

impl Topology {
    /// Gradient health from the last forward/backward pair (`work`, `grads` as passed to them).
    pub fn health(&self, pass: &Pass, work: &[f32], grads: &[f32]) -> Result<Health, Error> {
        let LayerParams { w: g_w, b: g_b } = self.layer_params(grads, Buffer::Grads)?;
        let Workspace { acts, .. } = self.workspace(pass.batch, work)?;
        let mut health = Health { len: self.layers().len(), ..Health::default() };
        let per_layer = self.layers().iter().zip(acts.iter()).zip(g_w.iter().zip(g_b.iter()));
        for (((layer, &y), (gw, gb)), out) in per_layer.zip(health.layers.iter_mut()) {
            // |g| over W then b, in arena order.
            out.grad_norm = libm::sqrtf(gw.iter().chain(gb.iter()).map(|g| g * g).sum::<f32>());
            let width = layer.outputs;
            match layer.activation {
                Activation::Relu => {
                    let dead = (0..width)
                        .filter(|&j| y.chunks_exact(width).all(|row| row.get(j).is_none_or(|&v| v <= 0.0)))
                        .count();
                    out.dead_fraction = dead as f32 / width as f32;
                }
                Activation::Sigmoid | Activation::Tanh => {
                    let lo = if layer.activation == Activation::Sigmoid { 0.01 } else { -0.99 };
                    let sat = y.iter().filter(|&&v| v < lo || v > 0.99).count();
                    out.saturated_fraction = sat as f32 / y.len().max(1) as f32;
                }
                _ => {}
            }
        }
        Ok(health)
    }
}
