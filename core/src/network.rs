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
use crate::kernels::{Dims, Kernels};
use crate::topology::{Topology, WorkLayout};
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
    fn check_batch(&self, params: &[f32], x: &[f32], batch: usize) -> Result<(), Error> {
        if batch == 0 {
            return Err(Error::ZeroBatch);
        }
        check_len(Buffer::Params, self.params_len(), params.len())?;
        check_len(Buffer::Input, self.inputs().checked_mul(batch).ok_or(Error::TooLarge)?, x.len())
    }

    fn layer_params<'p>(&self, params: &'p [f32], l: usize) -> Result<(&'p [f32], &'p [f32]), Error> {
        let r = self.param_range(l).ok_or(Error::EmptyTopology)?;
        Ok((part(Buffer::Params, params, r.w, r.b - r.w)?, part(Buffer::Params, params, r.b, r.end - r.b)?))
    }

    fn act_offset(&self, l: usize, batch: usize) -> usize {
        self.layers().iter().take(l).map(|layer| layer.outputs).sum::<usize>() * batch
    }

    /// Training forward pass: stores every layer's output `y_l` in `work` (backward needs
    /// them). With `dropout`, hidden outputs are multiplied by a fresh inverted-dropout mask
    /// (0 with probability `rate`, else `1/(1-rate)`), so inference needs no rescaling.
    pub fn forward<K: Kernels + ?Sized>(
        &self,
        k: &K,
        params: &[f32],
        x: &[f32],
        batch: usize,
        work: &mut [f32],
        mut dropout: Option<&mut Dropout>,
    ) -> Result<Pass, Error> {
        self.check_batch(params, x, batch)?;
        let lay = self.work_layout(batch)?;
        check_len(Buffer::Workspace, lay.total, work.len())?;
        let (acts, rest) = work.split_at_mut(lay.masks);
        let masks = part_mut(Buffer::Workspace, rest, 0, lay.delta_a - lay.masks)?;
        let n = self.layers().len();
        let mut mask_off = 0;
        for (l, layer) in self.layers().iter().enumerate() {
            let (w, b) = self.layer_params(params, l)?;
            let off = self.act_offset(l, batch);
            let (below, here) = acts.split_at_mut_checked(off).ok_or(Error::TooLarge)?;
            let below: &[f32] = below;
            let n_in = layer.inputs * batch;
            let input = if l == 0 { x } else { part(Buffer::Workspace, below, off.saturating_sub(n_in), n_in)? };
            let y = part_mut(Buffer::Workspace, here, 0, layer.outputs * batch)?;
            let dims = Dims { batch, inputs: layer.inputs, outputs: layer.outputs };
            k.dense_forward(dims, input, w, b, y, layer.activation)?;
            if l + 1 < n {
                if let Some(d) = dropout.as_deref_mut() {
                    let m = part_mut(Buffer::Workspace, masks, mask_off, y.len())?;
                    d.draw(m);
                    y.iter_mut().zip(m.iter()).for_each(|(v, &s)| *v *= s);
                }
                mask_off += y.len();
            }
        }
        Ok(Pass { batch, dropout: dropout.is_some() })
    }

    /// The network outputs (batch, outputs) stored by the last [`Topology::forward`].
    pub fn outputs_of<'w>(&self, pass: &Pass, work: &'w [f32]) -> Result<&'w [f32], Error> {
        let lay = self.work_layout(pass.batch)?;
        check_len(Buffer::Workspace, lay.total, work.len())?;
        let off = self.act_offset(self.layers().len().saturating_sub(1), pass.batch);
        part(Buffer::Workspace, work, off, self.outputs() * pass.batch)
    }

    /// Mean loss of the last forward pass against targets `t` (batch, outputs).
    pub fn loss_of(&self, pass: &Pass, work: &[f32], t: &[f32]) -> Result<f32, Error> {
        let y = self.outputs_of(pass, work)?;
        check_len(Buffer::Target, y.len(), t.len())?;
        Ok(self.loss().mean(y, t, self.outputs()))
    }

    /// Backward pass for the last [`Topology::forward`] on the same `x` and `work`:
    /// accumulates `dL/dparams` into `grads` (`+=`; zero them first for a fresh step).
    ///
    /// Per layer, from the output down (`delta` = dL/dz):
    /// `d_w += delta^T x`, `d_b += sum delta`, `d_x = delta W`, then
    /// `delta_below = d_x * mask * f'(y_below)`.
    pub fn backward<K: Kernels + ?Sized>(
        &self,
        k: &K,
        pass: &Pass,
        params: &[f32],
        x: &[f32],
        t: &[f32],
        work: &mut [f32],
        grads: &mut [f32],
    ) -> Result<(), Error> {
        self.backward_impl(k, pass, params, x, t, work, grads, true)
    }

    /// [`Topology::backward`] that overwrites `grads` instead of adding to them: the same
    /// bits as zeroing `grads` first, without that pass over memory.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_into<K: Kernels + ?Sized>(
        &self,
        k: &K,
        pass: &Pass,
        params: &[f32],
        x: &[f32],
        t: &[f32],
        work: &mut [f32],
        grads: &mut [f32],
    ) -> Result<(), Error> {
        self.backward_impl(k, pass, params, x, t, work, grads, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_impl<K: Kernels + ?Sized>(
        &self,
        k: &K,
        pass: &Pass,
        params: &[f32],
        x: &[f32],
        t: &[f32],
        work: &mut [f32],
        grads: &mut [f32],
        accumulate: bool,
    ) -> Result<(), Error> {
        let batch = pass.batch;
        self.check_batch(params, x, batch)?;
        check_len(Buffer::Grads, self.params_len(), grads.len())?;
        check_len(Buffer::Target, self.outputs().checked_mul(batch).ok_or(Error::TooLarge)?, t.len())?;
        let lay: WorkLayout = self.work_layout(batch)?;
        check_len(Buffer::Workspace, lay.total, work.len())?;
        let (acts, rest) = work.split_at_mut(lay.masks);
        let (masks, deltas) = rest.split_at_mut(lay.delta_a - lay.masks);
        let (mut cur, mut below) = deltas.split_at_mut(lay.delta_b - lay.delta_a);
        let acts: &[f32] = acts;

        let n = self.layers().len();
        let out_off = self.act_offset(n.saturating_sub(1), batch);
        let y_out = part(Buffer::Workspace, acts, out_off, self.outputs() * batch)?;
        let out_delta = part_mut(Buffer::Workspace, cur, 0, y_out.len())?;
        self.loss().output_delta(self.output_activation(), y_out, t, out_delta, self.outputs());

        let mut layers = self.layers().iter().enumerate().rev().peekable();
        while let Some((l, layer)) = layers.next() {
            let dims = Dims { batch, inputs: layer.inputs, outputs: layer.outputs };
            let delta = part(Buffer::Workspace, cur, 0, layer.outputs * batch)?;
            let n_in = layer.inputs * batch;
            let below_off = self.act_offset(l.saturating_sub(1), batch);
            let input = if l == 0 { x } else { part(Buffer::Workspace, acts, below_off, n_in)? };
            let r = self.param_range(l).ok_or(Error::EmptyTopology)?;
            let g = part_mut(Buffer::Grads, grads, r.w, r.end - r.w)?;
            let (g_w, g_b) = g.split_at_mut_checked(r.b - r.w).ok_or(Error::TooLarge)?;
            if accumulate {
                k.weight_grad(dims, delta, input, g_w)?;
            } else {
                k.weight_grad_set(dims, delta, input, g_w)?;
                g_b.fill(0.0);
            }
            k.bias_grad(dims, delta, g_b)?;
            let Some(&(_, below_layer)) = layers.peek() else { break };
            let d_x = part_mut(Buffer::Workspace, below, 0, n_in)?;
            let (w, _) = self.layer_params(params, l)?;
            k.input_grad(dims, delta, w, d_x)?;
            let below_act = below_layer.activation;
            if pass.dropout {
                // y holds f(z) * mask; where mask != 0, f(z) = y / mask.
                let m = part(Buffer::Workspace, masks, below_off, n_in)?;
                for ((d, &y), &s) in d_x.iter_mut().zip(input).zip(m) {
                    *d = if s == 0.0 { 0.0 } else { *d * s * below_act.derivative_from_output(y / s) };
                }
            } else if below_act != Activation::Identity {
                k.activation_backward(below_act, input, d_x, layer.inputs)?;
            }
            core::mem::swap(&mut cur, &mut below);
        }
        Ok(())
    }

    /// Inference: outputs (batch, outputs) of `x` (batch, inputs), using a workspace of
    /// [`Topology::inference_len`] (two ping-pong buffers); returns a view into `work`.
    pub fn predict<'w, K: Kernels + ?Sized>(
        &self,
        k: &K,
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
        for (l, layer) in self.layers().iter().enumerate() {
            let (w, bias) = self.layer_params(params, l)?;
            let dims = Dims { batch, inputs: layer.inputs, outputs: layer.outputs };
            let out = layer.outputs * batch;
            if l == 0 {
                k.dense_forward(dims, x, w, bias, part_mut(Buffer::Workspace, a, 0, out)?, layer.activation)?;
            } else {
                let input = part(Buffer::Workspace, a, 0, layer.inputs * batch)?;
                k.dense_forward(dims, input, w, bias, part_mut(Buffer::Workspace, b, 0, out)?, layer.activation)?;
                core::mem::swap(&mut a, &mut b);
            }
        }
        let a: &'w [f32] = a;
        part(Buffer::Workspace, a, 0, self.outputs() * batch)
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
