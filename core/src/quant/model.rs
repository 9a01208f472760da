//! A whole int8 network: input quantization, int8 hidden layers, a last layer that
//! dequantizes its accumulators to f32 for softmax, sigmoid or a regression output.
//!
//! ```text
//! x_q[i]  = clamp(round((x[i] - mean[i]) factor[i]) + z_0, -128, 127)   (round: half away
//!           from zero; factor[i] = 1 / (std[i] s_0); one pair for every input when uniform)
//! hidden  : Clamp mode   y_q = requantize(acc) clamped to [z_out, 127] (ReLU) or [-128, 127]
//!           Table mode   p_q = requantize(acc) toward the pre-activation's scale and zero
//!                        point, y_q = table[p_q + 128] (sigmoid, tanh, leaky ReLU)
//! last    : z[j] = acc[j] s_acc[j] (f32, s_acc[j] = s_in s_w[j]), then the activation in f32
//! ```
//!
//! All integer steps are exact; the float steps (the input's subtract, multiply and round,
//! the last layer's one multiply per output, softmax) are single IEEE-754 operations in a
//! fixed order, so every target gives the same bits.

use super::{quantize_value, I8Backend, QuantDense};
use crate::activation::{softmax_from_max, Activation};
use crate::error::{Buffer, Error};
use crate::loss::Loss;
use crate::topology::MAX_LAYERS;
use core::borrow::Borrow;

/// The workspace cut into accumulators and two int8 buffers.
type WorkParts<'w> = (&'w mut [i32], &'w mut [i8], &'w mut [i8]);

/// How a layer's accumulators become its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerMode {
    /// Requantize and clamp (identity, or ReLU as a clamp at the zero point).
    Clamp,
    /// Requantize to the pre-activation, then a 256-entry table.
    Table,
    /// The last layer: accumulators to f32, then the activation in f32.
    Dequantize,
}

impl LayerMode {
    /// The file's code for this mode.
    pub fn code(self) -> u8 {
        match self {
            LayerMode::Clamp => 0,
            LayerMode::Table => 1,
            LayerMode::Dequantize => 2,
        }
    }

    /// The mode of a file code.
    pub fn from_code(code: u8) -> Option<LayerMode> {
        match code {
            0 => Some(LayerMode::Clamp),
            1 => Some(LayerMode::Table),
            2 => Some(LayerMode::Dequantize),
            _ => None,
        }
    }
}

/// The input quantizer: `x_q = clamp(round((x - mean) factor) + zero)`.
#[derive(Clone, Copy, Debug)]
pub struct QuantInput<'a> {
    /// Per-input offsets (one entry: the same for every input).
    pub mean: &'a [f32],
    /// Per-input factors `1 / (std s_0)` (one entry: the same for every input).
    pub factor: &'a [f32],
    /// Zero point of the quantized input.
    pub zero: i8,
    /// Scale of the quantized input in standardized units (`s_0`).
    pub scale: f32,
}

impl QuantInput<'_> {
    /// [`QuantInput::quantize`] compiled for the vector width of kernel set `k`, or (the
    /// Cortex-M4's) written for it: the same arithmetic, so the same bits. Never inlined: a firmware built for size still runs
    /// this loop as the engine's optimized code.
    #[inline(never)]
    pub fn quantize_with(&self, k: I8Backend, x: &[f32], q: &mut [i8]) {
        #[cfg(target_arch = "x86_64")]
        if k == I8Backend::Vnni && crate::kernels::int8::x86::quantize_avx512(self, x, q) {
            return;
        }
        #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
        if matches!(k, I8Backend::Avx2 | I8Backend::AvxVnni) {
            return crate::kernels::int8::x86::quantize_avx2(self, x, q);
        }
        #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
        if k == I8Backend::Dsp && crate::kernels::int8::dsp::quantize(self, x, q) {
            return;
        }
        let _ = k;
        self.quantize(x, q)
    }

    /// Quantizes rows of raw features `x` (batch, inputs) into `q` of the same shape.
    /// NaN becomes the zero point; values beyond the range clamp.
    #[inline(always)]
    pub fn quantize(&self, x: &[f32], q: &mut [i8]) {
        let n = if self.mean.len() == 1 { 0 } else { self.mean.len() };
        let zero = self.zero as i32;
        if n == 0 {
            let (m, f) = (self.mean.first().copied().unwrap_or(0.0), self.factor.first().copied().unwrap_or(1.0));
            q.iter_mut().zip(x).for_each(|(q, &v)| *q = quantize_value((v - m) * f, zero));
        } else {
            for (qr, xr) in q.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
                for (((q, &v), &m), &f) in qr.iter_mut().zip(xr).zip(self.mean).zip(self.factor) {
                    *q = quantize_value((v - m) * f, zero);
                }
            }
        }
    }
}

/// `v` rounded to the nearest integer, ties away from zero (C's `round`), saturated to
/// i32; NaN is 0. Exact without a math library: below 2^23 the fraction `v - trunc(v)` is
/// exact in f32, above it every f32 is an integer.
#[inline]
pub fn round_half_away(v: f32) -> i32 {
    let t = v as i32;
    let frac = v - t as f32;
    if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// One layer of an int8 network.
#[derive(Clone, Copy, Debug)]
pub struct QuantLayer<'a> {
    /// The integer product and its requantization (Table: toward the pre-activation; its
    /// `output_zero` is the pre-activation's zero point). The last layer has no multipliers.
    pub dense: QuantDense<'a>,
    /// The activation this layer computes.
    pub activation: Activation,
    /// How accumulators become outputs.
    pub mode: LayerMode,
    /// Table mode: `y_q = table[p_q + 128]`, 256 entries; empty otherwise.
    pub table: &'a [i8],
    /// `s_in s_w[j]`: the real value of one unit of output `j`'s accumulator.
    pub acc_scale: &'a [f32],
    /// Scale of this layer's int8 output (hidden layers; 0 for the last).
    pub out_scale: f32,
    /// Zero point of this layer's int8 output (hidden layers; 0 for the last).
    pub out_zero: i8,
}

/// An int8 network read in place from a version 2 model file ([`super::parse`]): the
/// header's fields, and the offsets from which each layer's tensors are borrowed when it
/// runs (small enough for a microcontroller's stack).
#[derive(Clone, Copy, Debug)]
pub struct QuantModel<'a> {
    /// Input features.
    pub inputs: usize,
    /// The loss the float model was trained with.
    pub loss: Loss,
    /// The input quantizer.
    pub input: QuantInput<'a>,
    pub(super) bytes: &'a [u8],
    pub(super) offsets: [u32; MAX_LAYERS],
    /// Bit `l`: layer `l` requantizes with right shifts only (checked by the parser).
    pub(super) right_shifts: u8,
    /// Bit `l`: layer `l`'s accumulators are bounded ([`super::Known::bounded`]).
    pub(super) bounded: u8,
    pub(super) count: usize,
    /// Output width and widest layer (inputs included), from the layer table.
    pub(super) outputs: usize,
    pub(super) widest: usize,
}

/// The widest layer a workspace is sized for by [`work_len`], inputs included (the int8
/// buffers hold the quantized inputs too): a `const fn` of the sizes.
pub const fn widest(sizes: &[usize]) -> usize {
    let outputs = crate::topology::max_width(sizes);
    match sizes.first() {
        Some(&inputs) if inputs > outputs => inputs,
        _ => outputs,
    }
}

/// Workspace (in `i32` words) of [`QuantModel::predict`] for widths `sizes` (inputs first)
/// and `batch` samples: one row of accumulators and two int8 buffers per sample, each as
/// wide as the widest layer. Usable in array types for firmware buffers.
pub const fn work_len(sizes: &[usize], batch: usize) -> usize {
    let w = widest(sizes) * batch;
    w + 2 * w.div_ceil(4)
}

impl<'a> QuantModel<'a> {
    /// Layer `i`, its tensors borrowed from the file.
    pub fn layer(&self, i: usize) -> Option<QuantLayer<'a>> {
        let at = *self.offsets.get(..self.count)?.get(i)? as usize;
        let bit = 1 << i;
        let (right, bounded) = (self.right_shifts & bit != 0, self.bounded & bit != 0);
        super::file::layer_at(self.bytes, i, at, self.inputs, self.input.zero, right, bounded)
    }

    /// The layers, first to last.
    pub fn layers(&self) -> impl Iterator<Item = QuantLayer<'a>> + '_ {
        (0..self.count).map_while(|i| self.layer(i))
    }

    /// Layer count.
    pub fn depth(&self) -> usize {
        self.count
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The widest layer, inputs included.
    pub fn widest(&self) -> usize {
        self.widest
    }

    /// Multiply-accumulates per sample.
    pub fn macs(&self) -> usize {
        self.layers().map(|l| l.dense.inputs * l.dense.outputs).sum()
    }

    /// Workspace words [`QuantModel::predict`] needs for `batch` samples.
    pub fn work_len(&self, batch: usize) -> Result<usize, Error> {
        self.engine().work_len(batch)
    }

    /// Inference on raw features `x` (batch, inputs) into `out` (batch, outputs): quantize,
    /// run every layer with kernel set `k`, dequantize and activate the last.
    /// `work` holds [`QuantModel::work_len`] words.
    pub fn predict(
        &self,
        k: I8Backend,
        x: &[f32],
        batch: usize,
        work: &mut [i32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.engine().features(self.layers(), k, x, batch, work, out, true)
    }

    /// [`QuantModel::predict`] without the last layer's activation: the dequantized
    /// pre-activations `z[j] = acc[j] s_acc[j]` (enough for a class by argmax, without
    /// softmax's exponentials).
    pub fn logits(
        &self,
        k: I8Backend,
        x: &[f32],
        batch: usize,
        work: &mut [i32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.engine().features(self.layers(), k, x, batch, work, out, false)
    }

    /// [`QuantModel::predict`] from inputs already quantized (`xq`, batch x inputs).
    pub fn predict_quantized(
        &self,
        k: I8Backend,
        xq: &[i8],
        batch: usize,
        work: &mut [i32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.engine().quantized(self.layers(), k, xq, batch, work, out)
    }

    fn engine(&self) -> Engine<'_, 'a> {
        Engine { inputs: self.inputs, outputs: self.outputs, widest: self.widest, input: &self.input }
    }
}

/// What inference needs beside the layers, shared by the network read from a file
/// ([`QuantModel`]) and the network compiled into the program ([`super::QuantNet`]).
pub(super) struct Engine<'m, 'a> {
    pub(super) inputs: usize,
    pub(super) outputs: usize,
    pub(super) widest: usize,
    pub(super) input: &'m QuantInput<'a>,
}

impl<'a> Engine<'_, 'a> {
    pub(super) fn work_len(&self, batch: usize) -> Result<usize, Error> {
        let w = self.widest.checked_mul(batch).ok_or(Error::TooLarge)?;
        w.checked_add(2 * w.div_ceil(4)).ok_or(Error::TooLarge)
    }

    /// Quantizes `x` into the workspace, then runs the layers.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn features<L: Borrow<QuantLayer<'a>>>(
        &self,
        layers: impl Iterator<Item = L>,
        k: I8Backend,
        x: &[f32],
        batch: usize,
        work: &mut [i32],
        out: &mut [f32],
        activate: bool,
    ) -> Result<(), Error> {
        let xs = batch.checked_mul(self.inputs).ok_or(Error::TooLarge)?;
        if x.len() != xs {
            return Err(Error::BadLength { buffer: Buffer::Input, expected: xs, got: x.len() });
        }
        let (acc, a, b) = self.split_work(work, batch)?;
        let q = a.get_mut(..xs).ok_or(Error::TooLarge)?;
        self.input.quantize_with(k, x, q);
        self.run(layers, k, batch, acc, a, b, out, activate)
    }

    /// Runs the layers on inputs already quantized.
    pub(super) fn quantized<L: Borrow<QuantLayer<'a>>>(
        &self,
        layers: impl Iterator<Item = L>,
        k: I8Backend,
        xq: &[i8],
        batch: usize,
        work: &mut [i32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        let xs = batch.checked_mul(self.inputs).ok_or(Error::TooLarge)?;
        if xq.len() != xs {
            return Err(Error::BadLength { buffer: Buffer::Input, expected: xs, got: xq.len() });
        }
        let (acc, a, b) = self.split_work(work, batch)?;
        a.get_mut(..xs).ok_or(Error::TooLarge)?.copy_from_slice(xq);
        self.run(layers, k, batch, acc, a, b, out, true)
    }

    /// The workspace as accumulators and two int8 buffers.
    fn split_work<'w>(&self, work: &'w mut [i32], batch: usize) -> Result<WorkParts<'w>, Error> {
        if batch == 0 {
            return Err(Error::ZeroBatch);
        }
        let need = self.work_len(batch)?;
        let got = work.len();
        let work = work.get_mut(..need).ok_or(Error::BadLength { buffer: Buffer::Workspace, expected: need, got })?;
        let w = self.widest * batch;
        // Checked splits (within `need` words by construction): no panic path.
        let (acc, bytes) = work.split_at_mut_checked(w).ok_or(Error::TooLarge)?;
        let bytes: &mut [i8] = bytemuck::cast_slice_mut(bytes);
        let (a, b) = bytes.split_at_mut_checked(w.div_ceil(4) * 4).ok_or(Error::TooLarge)?;
        Ok((acc, a, b))
    }

    #[allow(clippy::too_many_arguments)]
    fn run<L: Borrow<QuantLayer<'a>>>(
        &self,
        layers: impl Iterator<Item = L>,
        k: I8Backend,
        batch: usize,
        acc: &mut [i32],
        a: &mut [i8],
        b: &mut [i8],
        out: &mut [f32],
        activate: bool,
    ) -> Result<(), Error> {
        let ys = batch.checked_mul(self.outputs).ok_or(Error::TooLarge)?;
        if out.len() != ys {
            return Err(Error::BadLength { buffer: Buffer::Output, expected: ys, got: out.len() });
        }
        let (mut input, mut output) = (a, b);
        for l in layers {
            let l = l.borrow();
            let d = &l.dense;
            let (xs, ys) = (batch * d.inputs, batch * d.outputs);
            let x = input.get(..xs).ok_or(Error::TooLarge)?;
            let acc = acc.get_mut(..ys).ok_or(Error::TooLarge)?;
            let y = output.get_mut(..ys).ok_or(Error::TooLarge)?;
            match l.mode {
                LayerMode::Clamp => k.dense_into(d, x, batch, acc, y)?,
                LayerMode::Table => {
                    k.dense_into(d, x, batch, acc, y)?;
                    for v in y.iter_mut() {
                        *v = l.table.get((*v as i32 + 128) as usize).copied().unwrap_or(0);
                    }
                }
                LayerMode::Dequantize => {
                    k.accumulate(d, x, batch, acc)?;
                    dequantize(l, acc, out, activate, k);
                    return Ok(());
                }
            }
            core::mem::swap(&mut input, &mut output);
        }
        Ok(())
    }
}

/// The last layer: `z[s][j] = acc[s][j] s_acc[j]`, then the activation per row.
fn dequantize(l: &QuantLayer<'_>, acc: &[i32], out: &mut [f32], activate: bool, k: I8Backend) {
    let m = l.dense.outputs.max(1);
    if activate && l.activation == Activation::Softmax {
        if k.vector() {
            // The exponentials eight at a time: the same bits.
            for (ar, or) in acc.chunks_exact(m).zip(out.chunks_exact_mut(m)) {
                or.iter_mut().zip(ar).zip(l.acc_scale).for_each(|((o, &a), &s)| *o = a as f32 * s);
            }
            return crate::kernels::exp::softmax_rows_x8(out, m, None);
        }
        return dequantize_softmax(acc, l.acc_scale, m, out);
    }
    for (ar, or) in acc.chunks_exact(m).zip(out.chunks_exact_mut(m)) {
        for ((o, &a), &s) in or.iter_mut().zip(ar).zip(l.acc_scale) {
            *o = a as f32 * s;
        }
        if !activate {
            continue;
        }
        match l.activation {
            Activation::Identity => {}
            Activation::Relu => or.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { 0.0 }),
            act => or.iter_mut().for_each(|v| *v = act.apply(*v)),
        }
    }
}

/// [`dequantize`] for softmax: the row's maximum found while it is written (the same
/// comparisons in the same order as [`crate::activation::softmax_row`], so the same bits).
#[inline(never)]
fn dequantize_softmax(acc: &[i32], scale: &[f32], m: usize, out: &mut [f32]) {
    for (ar, or) in acc.chunks_exact(m).zip(out.chunks_exact_mut(m)) {
        let mut max = f32::NEG_INFINITY;
        for ((o, &a), &s) in or.iter_mut().zip(ar).zip(scale) {
            let z = a as f32 * s;
            *o = z;
            if z > max {
                max = z;
            }
        }
        softmax_from_max(or, max);
    }
}
