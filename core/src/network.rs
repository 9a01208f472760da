//! Forward and backward passes of a whole network over a batch, on caller-owned memory.
//!
//! Shape legend: `x` (batch, inputs), `t` (batch, outputs), `params`/`grads` the flat arenas
//! of [`Topology::params_len`], `work` the training workspace of
//! [`Topology::workspace_len`] (or [`Topology::inference_len`] for [`Topology::predict`]).
//!
//! A training step, five lines (see the crate example):
//! next batch -> [`Topology::forward`] -> `grads.fill(0.0)` -> [`Topology::backward`] ->
//! [`crate::Optimizer::step`].

use crate::dropout::Dropout;
use crate::error::{check_len, part, part_mut, Buffer, Error};
use crate::kernels::{packed, Accumulate, Dims, Kernels};
use crate::topology::{LayerParams, Topology, Workspace};
use crate::Activation;

/// What a training forward pass did, for the backward pass that follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass {
    /// Samples in the batch.
    pub batch: usize,
    /// Whether dropout masks were drawn (hidden layers only).
    pub dropout: bool,
}

impl Topology {
    /// A batch of at least one sample, then `params` and `x` of the right lengths (in that
    /// order).
    fn check_batch(&self, params: &[f32], x: &[f32], batch: usize) -> Result<(), Error> {
        if batch == 0 {
            return Err(Error::ZeroBatch);
        }
        check_len(Buffer::Params, self.params_len(), params.len())?;
        check_len(Buffer::Input, self.inputs().checked_mul(batch).ok_or(Error::TooLarge)?, x.len())
    }

    /// Training forward pass: stores every layer's output `y_l` in `work` (backward needs
    /// them). With `dropout`, hidden outputs are multiplied by a fresh inverted-dropout mask
    /// (0 with probability `rate`, else `1/(1-rate)`), so inference needs no rescaling.
    pub fn forward<K: Kernels + ?Sized>(
        &self,
        kernels: &K,
        params: &[f32],
        x: &[f32],
        batch: usize,
        work: &mut [f32],
        mut dropout: Option<&mut Dropout>,
    ) -> Result<Pass, Error> {
        self.check_batch(params, x, batch)?;
        let Workspace { mut acts, mut masks, .. } = self.workspace(batch, work)?;
        let last = self.layers().len().saturating_sub(1);
        let mut input: &[f32] = x;
        let per_layer = self.params_per_layer(params).zip(acts.iter_mut().zip(masks.iter_mut()));
        for (l, ((layer, w, b), (y, mask))) in per_layer.enumerate() {
            let dims = Dims { batch, inputs: layer.inputs, outputs: layer.outputs };
            kernels.dense_forward(dims, input, w, b, y, layer.activation)?;
            if let (true, Some(d)) = (l < last, dropout.as_deref_mut()) {
                d.draw(mask);
                y.iter_mut().zip(mask.iter()).for_each(|(v, &s)| *v *= s);
            }
            input = y;
        }
        Ok(Pass { batch, dropout: dropout.is_some() })
    }

    /// The network outputs (batch, outputs) stored by the last [`Topology::forward`].
    pub fn outputs_of<'w>(&self, pass: &Pass, work: &'w [f32]) -> Result<&'w [f32], Error> {
        let Workspace { acts, .. } = self.workspace(pass.batch, work)?;
        acts.get(self.layers().len().wrapping_sub(1)).copied().ok_or(Error::EmptyTopology)
    }

    /// Mean loss of the last forward pass against targets `t` (batch, outputs).
    pub fn loss_of(&self, pass: &Pass, work: &[f32], t: &[f32]) -> Result<f32, Error> {
        let y = self.outputs_of(pass, work)?;
        check_len(Buffer::Target, y.len(), t.len())?;
        Ok(self.loss().mean(y, t, self.outputs()))
    }

    /// Backward pass for the last [`Topology::forward`] on the same `x` and `work`:
    /// adds `dL/dparams` to `grads` (`+=`; zero them first for a fresh step).
    ///
    /// Per layer, from the output down (`delta` = dL/dz):
    /// `d_w += delta^T x`, `d_b += sum delta`, `d_x = delta W`, then
    /// `delta_below = d_x * mask * f'(y_below)`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward<K: Kernels + ?Sized>(
        &self,
        kernels: &K,
        pass: &Pass,
        params: &[f32],
        x: &[f32],
        t: &[f32],
        work: &mut [f32],
        grads: &mut [f32],
    ) -> Result<(), Error> {
        self.backward_with(kernels, pass, params, x, t, work, grads, Accumulate::Add)
    }

    /// [`Topology::backward`] that overwrites `grads` instead of adding to them: the same
    /// bits as zeroing `grads` first, without that pass over memory.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_into<K: Kernels + ?Sized>(
        &self,
        kernels: &K,
        pass: &Pass,
        params: &[f32],
        x: &[f32],
        t: &[f32],
        work: &mut [f32],
        grads: &mut [f32],
    ) -> Result<(), Error> {
        self.backward_with(kernels, pass, params, x, t, work, grads, Accumulate::Overwrite)
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_with<K: Kernels + ?Sized>(
        &self,
        kernels: &K,
        pass: &Pass,
        params: &[f32],
        x: &[f32],
        t: &[f32],
        work: &mut [f32],
        grads: &mut [f32],
        mode: Accumulate,
    ) -> Result<(), Error> {
        let batch = pass.batch;
        self.check_batch(params, x, batch)?;
        check_len(Buffer::Target, self.outputs().checked_mul(batch).ok_or(Error::TooLarge)?, t.len())?;
        let LayerParams { w: mut g_w, b: mut g_b } = self.layer_params(grads, Buffer::Grads)?;
        let Workspace { acts, masks, delta: mut cur, delta_below: mut below } = self.workspace(batch, work)?;

        let y_out: &[f32] = acts.get(self.layers().len().wrapping_sub(1)).ok_or(Error::EmptyTopology)?;
        let out_delta = part_mut(Buffer::Workspace, cur, 0, y_out.len())?;
        self.loss().output_delta(self.output_activation(), y_out, t, out_delta, self.outputs());

        let n = self.layers().len();
        let grads = g_w.iter_mut().zip(g_b.iter_mut()).take(n);
        for (l, ((layer, w, _), (g_w, g_b))) in self.params_per_layer(params).zip(grads).enumerate().rev() {
            let dims = Dims { batch, inputs: layer.inputs, outputs: layer.outputs };
            let delta = part(Buffer::Workspace, cur, 0, layer.outputs * batch)?;
            // The layer below (none for the first layer): its activation, outputs and mask.
            let below_layer = l.checked_sub(1).and_then(|b| Some((self.layers().get(b)?, acts.get(b)?, masks.get(b)?)));
            // The layer's input: x for the first layer, else the layer below's outputs.
            let input: &[f32] = below_layer.map_or(x, |(_, y, _)| &**y);
            match mode {
                Accumulate::Add => kernels.weight_grad(dims, delta, input, g_w)?,
                Accumulate::Overwrite => {
                    kernels.weight_grad_into(dims, delta, input, g_w)?;
                    g_b.fill(0.0);
                }
            }
            kernels.bias_grad(dims, delta, g_b)?;
            let Some((below_layer, _, mask)) = below_layer else { break };
            let d_x = part_mut(Buffer::Workspace, below, 0, layer.inputs * batch)?;
            kernels.input_grad(dims, delta, w, d_x)?;
            let below_act = below_layer.activation;
            if pass.dropout {
                dropout_delta(below_act, d_x, input, mask);
            } else if below_act != Activation::Identity {
                kernels.activation_backward(below_act, input, d_x, layer.inputs)?;
            }
            core::mem::swap(&mut cur, &mut below);
        }
        Ok(())
    }

    /// Inference: outputs (batch, outputs) of `x` (batch, inputs), using a workspace of
    /// [`Topology::inference_len`] (two ping-pong buffers); returns a view into `work`.
    pub fn predict<'w, K: Kernels + ?Sized>(
        &self,
        kernels: &K,
        params: &[f32],
        x: &[f32],
        batch: usize,
        work: &'w mut [f32],
    ) -> Result<&'w [f32], Error> {
        self.check_batch(params, x, batch)?;
        check_len(Buffer::Workspace, self.inference_len(batch)?, work.len())?;
        let half = self.max_width() * batch;
        // After each layer, `a` holds its output.
        let (mut a, mut b) = work.split_at_mut(half);
        for (l, (layer, w, bias)) in self.params_per_layer(params).enumerate() {
            let dims = Dims { batch, inputs: layer.inputs, outputs: layer.outputs };
            let out = layer.outputs * batch;
            if l == 0 {
                kernels.dense_forward(dims, x, w, bias, part_mut(Buffer::Workspace, a, 0, out)?, layer.activation)?;
            } else {
                let input = part(Buffer::Workspace, a, 0, layer.inputs * batch)?;
                let y = part_mut(Buffer::Workspace, b, 0, out)?;
                kernels.dense_forward(dims, input, w, bias, y, layer.activation)?;
                core::mem::swap(&mut a, &mut b);
            }
        }
        let a: &'w [f32] = a;
        part(Buffer::Workspace, a, 0, self.outputs() * batch)
    }

    /// Floats of the parameters packed for one sample at a time ([`Topology::pack`]): per
    /// layer its weights in the packed layout ([`packed`]), then its biases.
    pub fn packed_len(&self) -> Result<usize, Error> {
        self.layers().iter().try_fold(0usize, |sum, l| {
            packed::packed_len(l.inputs, l.outputs)?
                .checked_add(l.outputs)
                .and_then(|n| n.checked_add(sum))
                .ok_or(Error::TooLarge)
        })
    }

    /// Packs `params` for [`Topology::predict_one`] into `packed` ([`Topology::packed_len`]
    /// floats): once per set of parameters, then any number of samples read each layer's
    /// weights in one pass in order.
    pub fn pack(&self, params: &[f32], packed: &mut [f32]) -> Result<(), Error> {
        check_len(Buffer::Params, self.params_len(), params.len())?;
        check_len(Buffer::Packed, self.packed_len()?, packed.len())?;
        let mut at = 0;
        for (layer, w, bias) in self.params_per_layer(params) {
            let len = packed::packed_len(layer.inputs, layer.outputs)?;
            packed::pack(layer.inputs, layer.outputs, w, part_mut(Buffer::Packed, packed, at, len)?)?;
            part_mut(Buffer::Packed, packed, at + len, layer.outputs)?.copy_from_slice(bias);
            at += len + layer.outputs;
        }
        Ok(())
    }

    /// One sample's outputs from parameters packed by [`Topology::pack`]: the bits of
    /// [`Topology::predict`] of that sample alone (a batch of one) on the same kernels, with
    /// each layer's weights read in one pass in order. `work` is
    /// [`Topology::inference_len`]`(1)` floats; returns a view into it.
    pub fn predict_one<'w, K: Kernels + ?Sized>(
        &self,
        kernels: &K,
        packed: &[f32],
        x: &[f32],
        work: &'w mut [f32],
    ) -> Result<&'w [f32], Error> {
        check_len(Buffer::Packed, self.packed_len()?, packed.len())?;
        check_len(Buffer::Input, self.inputs(), x.len())?;
        check_len(Buffer::Workspace, self.inference_len(1)?, work.len())?;
        let (mut a, mut b) = work.split_at_mut(self.max_width());
        let mut at = 0;
        for (l, layer) in self.layers().iter().enumerate() {
            let dims = Dims { batch: 1, inputs: layer.inputs, outputs: layer.outputs };
            let len = packed::packed_len(layer.inputs, layer.outputs)?;
            let wp = part(Buffer::Packed, packed, at, len)?;
            let bias = part(Buffer::Packed, packed, at + len, layer.outputs)?;
            at += len + layer.outputs;
            if l == 0 {
                kernels.dense_forward_packed(
                    dims,
                    x,
                    wp,
                    bias,
                    part_mut(Buffer::Workspace, a, 0, layer.outputs)?,
                    layer.activation,
                )?;
            } else {
                let input = part(Buffer::Workspace, a, 0, layer.inputs)?;
                let y = part_mut(Buffer::Workspace, b, 0, layer.outputs)?;
                kernels.dense_forward_packed(dims, input, wp, bias, y, layer.activation)?;
                core::mem::swap(&mut a, &mut b);
            }
        }
        let a: &'w [f32] = a;
        part(Buffer::Workspace, a, 0, self.outputs())
    }
}

/// Index of the largest value in `row` (first on ties; 0 for an empty row; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in row.iter().enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best
}

/// `d = d * mask * f'(y / mask)` where the unit was kept, `0` where it was dropped (mask 0):
/// `y` holds `f(z) * mask`, so `f(z) = y / mask`. Every element computes the product and a
/// dropped one then takes 0 instead (a select, not a branch on a random mask), one loop per
/// activation, so the loop runs on vector lanes with the scalar bits.
fn dropout_delta(act: Activation, d_x: &mut [f32], y: &[f32], mask: &[f32]) {
    #[inline(always)]
    fn each(d_x: &mut [f32], y: &[f32], mask: &[f32], f: impl Fn(f32) -> f32) {
        for ((d, &y), &s) in d_x.iter_mut().zip(y).zip(mask) {
            let kept = *d * s * f(y / s);
            *d = if s == 0.0 { 0.0 } else { kept };
        }
    }
    match act {
        Activation::Relu => each(d_x, y, mask, |v| Activation::Relu.derivative_from_output(v)),
        Activation::LeakyRelu => each(d_x, y, mask, |v| Activation::LeakyRelu.derivative_from_output(v)),
        Activation::Sigmoid => each(d_x, y, mask, |v| Activation::Sigmoid.derivative_from_output(v)),
        Activation::Tanh => each(d_x, y, mask, |v| Activation::Tanh.derivative_from_output(v)),
        other => each(d_x, y, mask, |v| other.derivative_from_output(v)),
    }
}
