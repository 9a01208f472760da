//! An int8 network compiled into the program: its tensors are Rust statics (`myelin export
//! --rust` writes them from a version 2 file), checked by a `const fn` when the program is
//! built, so a firmware links neither the file parser nor the per-call layer decoding.
//!
//! [`QuantNet::new`] checks what the parser checks of a file's values (docs/model-format.md),
//! stated on the typed tensors instead of bytes: the layer count, the input quantizer, each
//! layer's shape against its neighbours, every tensor's length, the mode its position and
//! activation allow, the zero points and clamps the mode implies, weights in -127..=127,
//! accumulator scales finite and >= 0, multipliers 0 or in [2^30, 2^31), shifts in -31..=31,
//! output scales, the topology rules (softmax last, no step, the loss's activation), and that
//! each fact a layer's [`Known`] claims holds of its values. In a `static` initializer a
//! failed check stops the build. The file writer ([`super::write`]) runs the same checks, so
//! it writes nothing the parser would refuse.

use super::model::{Engine, LayerMode, QuantInput, QuantLayer};
use super::{I8Backend, Known, MAX_QUANT_INPUTS};
use crate::activation::Activation;
use crate::error::{Error, FormatError, QuantField, Values};
use crate::loss::Loss;
use crate::topology::MAX_LAYERS;

/// An int8 network whose layers are in the program ([`QuantNet::new`] checked them); runs
/// exactly as the same network read from its file ([`super::QuantModel`]), same bits.
#[derive(Clone, Copy, Debug)]
pub struct QuantNet<'a> {
    inputs: usize,
    loss: Loss,
    input: QuantInput<'a>,
    layers: &'a [QuantLayer<'a>],
    outputs: usize,
    widest: usize,
}

const fn bad(layer: usize, field: QuantField, index: usize) -> FormatError {
    FormatError::QuantValue { layer, field, index }
}

const fn wrong_count(what: Values, expected: usize, got: usize) -> FormatError {
    FormatError::ValueCount { what, expected, got }
}

/// `Err(e)` unless `ok`.
macro_rules! ensure {
    ($ok:expr, $e:expr) => {
        if !$ok {
            return Err($e);
        }
    };
}

/// Where the first value is not finite, not `> 0` (`positive`) or not `>= 0`
/// (`nonnegative`).
const fn finite(v: &[f32], positive: bool, nonnegative: bool) -> Option<usize> {
    let (mut rest, mut i) = (v, 0);
    while let [x, more @ ..] = rest {
        if !x.is_finite() || (positive && *x <= 0.0) || (nonnegative && *x < 0.0) {
            return Some(i);
        }
        (rest, i) = (more, i + 1);
    }
    None
}

/// The mode a layer at this position with this activation may have (the file's rule).
pub(super) const fn mode_allowed(mode: LayerMode, activation: Activation, last: bool) -> bool {
    match mode {
        LayerMode::Dequantize => last,
        LayerMode::Clamp => !last && matches!(activation, Activation::Identity | Activation::Relu),
        LayerMode::Table => {
            !last && matches!(activation, Activation::Sigmoid | Activation::Tanh | Activation::LeakyRelu)
        }
    }
}

impl<'a> QuantNet<'a> {
    /// The network of `layers` after an input quantizer for `inputs` features, every value
    /// checked (module docs); a tensor whose length does not fit its layer's shape is
    /// [`FormatError::ValueCount`].
    pub const fn new(
        inputs: usize,
        loss: Loss,
        input: QuantInput<'a>,
        layers: &'a [QuantLayer<'a>],
    ) -> Result<QuantNet<'a>, FormatError> {
        let count = layers.len();
        ensure!(count > 0 && count <= MAX_LAYERS, FormatError::LayerCount { got: count, max: MAX_LAYERS });
        ensure!(inputs > 0, FormatError::InvalidTopology);
        ensure!(input.scale.is_finite() && input.scale > 0.0, bad(0, QuantField::Input, 0));
        let k = input.mean.len();
        let per_input = if k == 1 { 1 } else { inputs };
        ensure!(k == per_input, wrong_count(Values::Mean, per_input, k));
        ensure!(input.factor.len() == k, wrong_count(Values::Std, k, input.factor.len()));
        // One input has one encoding: one quantizer (the file's uniform flag).
        ensure!(!(inputs == 1 && k != 1), bad(0, QuantField::Input, 3));
        ensure!(finite(input.mean, false, false).is_none(), bad(0, QuantField::Input, 1));
        ensure!(finite(input.factor, true, false).is_none(), bad(0, QuantField::Input, 2));
        let (mut prev, mut prev_zero, mut widest) = (inputs, input.zero, inputs);
        let (mut rest, mut i) = (layers, 0);
        while let [l, more @ ..] = rest {
            let d = &l.dense;
            let (n, m, last) = (d.inputs, d.outputs, i + 1 == count);
            ensure!(n == prev && m > 0 && n <= MAX_QUANT_INPUTS, FormatError::InvalidTopology);
            ensure!(!matches!(l.activation, Activation::Softmax) || last, FormatError::InvalidTopology);
            ensure!(!matches!(l.activation, Activation::Step), FormatError::InvalidTopology);
            ensure!(mode_allowed(l.mode, l.activation, last), bad(i, QuantField::Mode, 0));
            let Some(nm) = n.checked_mul(m) else { return Err(FormatError::InvalidTopology) };
            ensure!(d.weights.len() == nm, wrong_count(Values::Params, nm, d.weights.len()));
            ensure!(d.bias.len() == m, wrong_count(Values::Params, m, d.bias.len()));
            ensure!(l.acc_scale.len() == m, wrong_count(Values::Params, m, l.acc_scale.len()));
            let requantizes = !matches!(l.mode, LayerMode::Dequantize);
            let r = if requantizes { m } else { 0 };
            ensure!(d.multiplier.len() == r, wrong_count(Values::Params, r, d.multiplier.len()));
            ensure!(d.shift.len() == r, wrong_count(Values::Params, r, d.shift.len()));
            let t = if matches!(l.mode, LayerMode::Table) { 256 } else { 0 };
            ensure!(l.table.len() == t, wrong_count(Values::Params, t, l.table.len()));
            // Values, as the parser checks them.
            let (mut w, mut j) = (d.weights, 0);
            while let [v, more @ ..] = w {
                ensure!(*v != i8::MIN, bad(i, QuantField::Weight, j));
                (w, j) = (more, j + 1);
            }
            if let Some(j) = finite(l.acc_scale, false, true) {
                return Err(bad(i, QuantField::Scale, j));
            }
            let (mut mult, mut j) = (d.multiplier, 0);
            while let [v, more @ ..] = mult {
                ensure!(*v == 0 || *v >= 1 << 30, bad(i, QuantField::Multiplier, j));
                (mult, j) = (more, j + 1);
            }
            let (mut shift, mut j) = (d.shift, 0);
            while let [e, more @ ..] = shift {
                ensure!(*e >= -31 && *e <= 31, bad(i, QuantField::Shift, j));
                (shift, j) = (more, j + 1);
            }
            // Zero points and clamps: what the file's layer table implies for this mode.
            ensure!(d.input_zero == prev_zero as i32, bad(i, QuantField::ZeroPoint, 0));
            ensure!(d.max == i8::MAX, bad(i, QuantField::ZeroPoint, 1));
            let relu = !matches!(l.mode, LayerMode::Table) && matches!(l.activation, Activation::Relu);
            ensure!(d.min == if relu { l.out_zero } else { i8::MIN }, bad(i, QuantField::ZeroPoint, 1));
            if requantizes {
                ensure!(l.out_scale.is_finite() && l.out_scale > 0.0, bad(i, QuantField::Scale, 0));
                let table = matches!(l.mode, LayerMode::Table);
                ensure!(table || d.output_zero == l.out_zero as i32, bad(i, QuantField::ZeroPoint, 0));
                ensure!(
                    d.output_zero >= i8::MIN as i32 && d.output_zero <= i8::MAX as i32,
                    bad(i, QuantField::ZeroPoint, 0)
                );
            } else {
                ensure!(
                    l.out_scale.to_bits() == 0 && l.out_zero == 0 && d.output_zero == 0,
                    bad(i, QuantField::ZeroPoint, 0)
                );
            }
            // A fact a layer claims must hold (one it does not claim only costs speed).
            ensure!(
                d.known.holds_within(Known::of(d.weights, d.bias, d.multiplier, d.shift)),
                bad(i, QuantField::Known, 0)
            );
            if last {
                ensure!(loss.accepts(l.activation), FormatError::InvalidTopology);
            }
            (prev, prev_zero) = (m, l.out_zero);
            if m > widest {
                widest = m;
            }
            (rest, i) = (more, i + 1);
        }
        Ok(QuantNet { inputs, loss, input, layers, outputs: prev, widest })
    }

    /// Input features.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The loss the float model was trained with.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// The input quantizer.
    pub fn input(&self) -> &QuantInput<'a> {
        &self.input
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &'a [QuantLayer<'a>] {
        self.layers
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
        self.layers.iter().map(|l| l.dense.inputs * l.dense.outputs).sum()
    }

    /// Workspace words [`QuantNet::predict`] needs for `batch` samples (the same as the
    /// file's model: [`super::work_len`] of the widths).
    pub fn work_len(&self, batch: usize) -> Result<usize, Error> {
        self.engine().work_len(batch)
    }

    /// [`super::QuantModel::predict`] of this network.
    pub fn predict(
        &self,
        k: I8Backend,
        x: &[f32],
        batch: usize,
        work: &mut [i32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.engine().features(self.layers.iter(), k, x, batch, work, out, true)
    }

    /// [`super::QuantModel::logits`] of this network.
    pub fn logits(
        &self,
        k: I8Backend,
        x: &[f32],
        batch: usize,
        work: &mut [i32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.engine().features(self.layers.iter(), k, x, batch, work, out, false)
    }

    /// [`super::QuantModel::predict_quantized`] of this network.
    pub fn predict_quantized(
        &self,
        k: I8Backend,
        xq: &[i8],
        batch: usize,
        work: &mut [i32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        self.engine().quantized(self.layers.iter(), k, xq, batch, work, out)
    }

    fn engine(&self) -> Engine<'_, 'a> {
        Engine { inputs: self.inputs, outputs: self.outputs, widest: self.widest, input: &self.input }
    }
}
