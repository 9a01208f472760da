//! Network shape: a fixed-capacity list of dense layers, validated once, plus the `const fn`
//! size table that every arena is cut from.
//!
//! Parameter arena layout (llm.c style, one flat `[f32]`): for each layer `l` in order,
//! `W_l` (outputs x inputs, row-major: row `j` holds the weights into neuron `j`) then `b_l`
//! (outputs). Gradients use the same layout, so zeroing is one `fill` and an optimizer is one
//! loop over two slices.
//!
//! Training workspace layout for a batch of `B` samples (`O_l` = outputs of layer `l`,
//! `M` = max over layers of `O_l`):
//!
//! ```text
//! acts   : B * sum_l O_l        y_l for every layer (backward needs them all)
//! masks  : B * sum_{hidden} O_l dropout multipliers (0 or 1/keep) per hidden unit
//! delta_a: B * M                ping-pong buffers for dL/dz of the current layer
//! delta_b: B * M                and dL/dy of the layer below
//! ```
//!
//! Inference needs only two ping-pong buffers: `2 * B * M` ([`inference_len`]).

use crate::activation::Activation;
use crate::error::{check_len, Buffer, Error};
use crate::loss::Loss;

/// Most layers a [`Topology`] can hold (weight layers, not counting the input).
pub const MAX_LAYERS: usize = 8;

/// Number of `f32` parameters of a dense network with layer widths `sizes`
/// (`sizes[0]` = inputs, last = outputs): `sum_l (in_l * out_l + out_l)`.
///
/// Usable in array types: `static mut P: [f32; params_len(&[2, 3, 1])] = ...`.
pub const fn params_len(sizes: &[usize]) -> usize {
    let mut n = 0;
    let mut s = sizes;
    while let [inputs, rest @ ..] = s {
        if let [outputs, ..] = rest {
            n += *inputs * *outputs + *outputs;
        }
        s = rest;
    }
    n
}

/// `sizes` without the input width: the layers' output widths.
const fn output_widths(sizes: &[usize]) -> &[usize] {
    match sizes.split_first() {
        Some((_, rest)) => rest,
        None => &[],
    }
}

pub(crate) const fn max_width(sizes: &[usize]) -> usize {
    let mut m = 0;
    let mut s = output_widths(sizes);
    while let [w, rest @ ..] = s {
        if *w > m {
            m = *w;
        }
        s = rest;
    }
    m
}

const fn sum_outputs(sizes: &[usize], hidden_only: bool) -> usize {
    let mut s = output_widths(sizes);
    if hidden_only {
        s = match s.split_last() {
            Some((_, hidden)) => hidden,
            None => &[],
        };
    }
    let mut n = 0;
    while let [w, rest @ ..] = s {
        n += *w;
        s = rest;
    }
    n
}

/// `f32` length of the training workspace (activations, dropout masks, two delta buffers)
/// for `batch` samples; see the module docs for the layout.
pub const fn workspace_len(sizes: &[usize], batch: usize) -> usize {
    batch * (sum_outputs(sizes, false) + sum_outputs(sizes, true) + 2 * max_width(sizes))
}

/// `f32` length of the inference-only workspace (two ping-pong buffers) for `batch` samples.
pub const fn inference_len(sizes: &[usize], batch: usize) -> usize {
    2 * batch * max_width(sizes)
}

/// One dense layer: `y = act(x W^T + b)` with `W` of shape (outputs, inputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Inputs (columns of W).
    pub inputs: usize,
    /// Outputs (rows of W).
    pub outputs: usize,
    /// Activation applied to `x W^T + b`.
    pub activation: Activation,
}

impl Layer {
    /// A dense layer.
    pub const fn new(inputs: usize, outputs: usize, activation: Activation) -> Layer {
        Layer { inputs, outputs, activation }
    }
}

const EMPTY: Layer = Layer::new(0, 0, Activation::Identity);

/// A validated network shape: layers (at most [`MAX_LAYERS`]) and the training loss.
/// Construct with [`Topology::new`] or [`Topology::dense`]; never resized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Topology {
    layers: [Layer; MAX_LAYERS],
    len: usize,
    loss: Loss,
    params: usize,
    max_width: usize,
    /// Where each layer's parameters sit, computed once by [`Topology::new`].
    ranges: [ParamRange; MAX_LAYERS],
}

/// Where one layer's parameters sit in the flat arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamRange {
    /// Start of `W` (outputs x inputs).
    pub w: usize,
    /// Start of `b` (outputs); `W` ends here.
    pub b: usize,
    /// End of `b`.
    pub end: usize,
}

impl Topology {
    /// Validates `layers` with `loss`: 1..=[`MAX_LAYERS`] layers, no zero sizes, consecutive
    /// widths agree, softmax only last, no step activation, loss/activation pairing valid,
    /// parameter count fits in `usize`.
    pub fn new(layers: &[Layer], loss: Loss) -> Result<Topology, Error> {
        if layers.is_empty() {
            return Err(Error::EmptyTopology);
        }
        if layers.len() > MAX_LAYERS {
            return Err(Error::TooManyLayers { got: layers.len(), max: MAX_LAYERS });
        }
        let empty = ParamRange { w: 0, b: 0, end: 0 };
        let mut t = Topology {
            layers: [EMPTY; MAX_LAYERS],
            len: layers.len(),
            loss,
            params: 0,
            max_width: 0,
            ranges: [empty; MAX_LAYERS],
        };
        let mut params: usize = 0;
        let mut prev: Option<&Layer> = None;
        for (i, ((slot, range), l)) in t.layers.iter_mut().zip(t.ranges.iter_mut()).zip(layers).enumerate() {
            if l.inputs == 0 || l.outputs == 0 {
                return Err(Error::ZeroSizedLayer { layer: i });
            }
            if let Some(p) = prev.filter(|p| p.outputs != l.inputs) {
                return Err(Error::LayerMismatch { layer: i, expected: p.outputs, got: l.inputs });
            }
            prev = Some(l);
            if l.activation == Activation::Softmax && i + 1 != layers.len() {
                return Err(Error::SoftmaxNotLast { layer: i });
            }
            if l.activation == Activation::Step {
                return Err(Error::StepInNetwork { layer: i });
            }
            let weights = l.inputs.checked_mul(l.outputs).ok_or(Error::TooLarge)?;
            let b = params.checked_add(weights).ok_or(Error::TooLarge)?;
            let end = b.checked_add(l.outputs).ok_or(Error::TooLarge)?;
            *range = ParamRange { w: params, b, end };
            params = end;
            t.max_width = t.max_width.max(l.outputs);
            *slot = *l;
        }
        t.params = params;
        if !loss.accepts(t.output_activation()) {
            return Err(Error::LossNeedsActivation);
        }
        // Workspace offsets for one sample must fit too (batch scaling is checked per call).
        t.sample_workspace().ok_or(Error::TooLarge)?;
        Ok(t)
    }

    /// Fully connected network with widths `sizes` (inputs first), `hidden` activation on
    /// every hidden layer and `output` on the last.
    pub fn dense(sizes: &[usize], hidden: Activation, output: Activation, loss: Loss) -> Result<Topology, Error> {
        if sizes.len() < 2 {
            return Err(Error::EmptyTopology);
        }
        if sizes.len() - 1 > MAX_LAYERS {
            return Err(Error::TooManyLayers { got: sizes.len() - 1, max: MAX_LAYERS });
        }
        let mut layers = [EMPTY; MAX_LAYERS];
        let n = sizes.len() - 1;
        for (i, (slot, w)) in layers.iter_mut().zip(sizes.windows(2)).enumerate() {
            let act = if i + 1 == n { output } else { hidden };
            if let &[inputs, outputs] = w {
                *slot = Layer::new(inputs, outputs, act);
            }
        }
        Topology::new(layers.get(..n).ok_or(Error::TooManyLayers { got: n, max: MAX_LAYERS })?, loss)
    }

    /// The layers, input side first.
    pub fn layers(&self) -> &[Layer] {
        // INVARIANT: 1 <= len <= MAX_LAYERS (checked by `new`); the fallback is unreachable.
        self.layers.get(..self.len).unwrap_or(&[])
    }

    /// The hidden layers (all but the output layer).
    fn hidden(&self) -> &[Layer] {
        self.layers().split_last().map_or(&[], |(_, hidden)| hidden)
    }

    /// The training loss.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// Width of the network input.
    pub fn inputs(&self) -> usize {
        self.layers().first().map_or(0, |l| l.inputs)
    }

    /// Width of the network output.
    pub fn outputs(&self) -> usize {
        self.layers().last().map_or(0, |l| l.outputs)
    }

    /// Activation of the output layer.
    pub fn output_activation(&self) -> Activation {
        self.layers().last().map_or(Activation::Identity, |l| l.activation)
    }

    /// Largest layer output width.
    pub fn max_width(&self) -> usize {
        self.max_width
    }

    /// Parameter count (= [`params_len`] of the widths).
    pub fn params_len(&self) -> usize {
        self.params
    }

    /// Multiply-accumulates of one forward pass for one sample: `sum_l in_l * out_l`.
    pub fn macs(&self) -> usize {
        self.layers().iter().map(|l| l.inputs * l.outputs).sum()
    }

    /// Where layer `l`'s parameters sit in the arena (`None` if `l` is out of range).
    pub fn param_range(&self, l: usize) -> Option<ParamRange> {
        self.ranges.get(..self.len)?.get(l).copied()
    }

    fn sample_workspace(&self) -> Option<usize> {
        let mut all = 0usize;
        let mut hidden = 0usize;
        for (i, l) in self.layers().iter().enumerate() {
            all = all.checked_add(l.outputs)?;
            if i + 1 < self.len {
                hidden = hidden.checked_add(l.outputs)?;
            }
        }
        all.checked_add(hidden)?.checked_add(self.max_width.checked_mul(2)?)
    }

    /// Training workspace length for `batch` samples (= [`workspace_len`]).
    pub fn workspace_len(&self, batch: usize) -> Result<usize, Error> {
        self.sample_workspace().and_then(|s| s.checked_mul(batch)).ok_or(Error::TooLarge)
    }

    /// Inference workspace length for `batch` samples (= [`inference_len`]).
    pub fn inference_len(&self, batch: usize) -> Result<usize, Error> {
        self.max_width.checked_mul(2).and_then(|s| s.checked_mul(batch)).ok_or(Error::TooLarge)
    }

    /// Cuts a parameter (or gradient) arena into per-layer weights and biases after one
    /// length check ([`Buffer`] names the arena in the error). Entries past the last layer
    /// are empty.
    pub(crate) fn layer_params<R: Region>(&self, arena: R, buffer: Buffer) -> Result<LayerParams<R>, Error> {
        check_len(buffer, self.params, arena.len())?;
        let mut w: [R; MAX_LAYERS] = core::array::from_fn(|_| R::empty());
        let mut b: [R; MAX_LAYERS] = core::array::from_fn(|_| R::empty());
        let mut rest = arena;
        for ((w, b), r) in w.iter_mut().zip(b.iter_mut()).zip(self.ranges.iter()).take(self.len) {
            // W_l: (outputs, inputs), row j = weights into neuron j.
            (*w, rest) = rest.split(r.b - r.w);
            // b_l: (outputs).
            (*b, rest) = rest.split(r.end - r.b);
        }
        Ok(LayerParams { w, b })
    }

    /// Each layer with its weights `W_l` (outputs, inputs) and biases `b_l` (outputs) in
    /// `params`, cut as the iteration goes (no table is built: inference walks this once
    /// per call). `params` must be [`Topology::params_len`] long (the passes check it
    /// first); a shorter arena yields empty slices, which the kernels reject.
    pub(crate) fn params_per_layer<'t, 'p: 't>(
        &'t self,
        params: &'p [f32],
    ) -> impl DoubleEndedIterator<Item = (&'t Layer, &'p [f32], &'p [f32])> + ExactSizeIterator + 't {
        self.layers()
            .iter()
            .zip(self.ranges.iter())
            .map(move |(layer, r)| (layer, params.get(r.w..r.b).unwrap_or(&[]), params.get(r.b..r.end).unwrap_or(&[])))
    }

    /// Cuts a training workspace for `batch` samples into its named per-layer regions
    /// after one length check (the layout of the module docs). Entries past the last
    /// layer, and the output layer's mask, are empty.
    pub(crate) fn workspace<R: Region>(&self, batch: usize, work: R) -> Result<Workspace<R>, Error> {
        check_len(Buffer::Workspace, self.workspace_len(batch)?, work.len())?;
        // Every length below is a term of the checked total, so none overflows.
        let mut acts: [R; MAX_LAYERS] = core::array::from_fn(|_| R::empty());
        let mut masks: [R; MAX_LAYERS] = core::array::from_fn(|_| R::empty());
        let mut rest = work;
        for (y, layer) in acts.iter_mut().zip(self.layers()) {
            // y_l: (batch, outputs_l).
            (*y, rest) = rest.split(batch * layer.outputs);
        }
        for (m, layer) in masks.iter_mut().zip(self.hidden()) {
            // Dropout multipliers of hidden layer l: (batch, outputs_l), 0 or 1/keep.
            (*m, rest) = rest.split(batch * layer.outputs);
        }
        // dL/dz of the layer being differentiated: (batch, <= max_width).
        let (delta, rest) = rest.split(batch * self.max_width);
        // dL/dy of the layer below it: (batch, <= max_width).
        let (delta_below, _) = rest.split(batch * self.max_width);
        Ok(Workspace { acts, masks, delta, delta_below })
    }
}

/// A caller's buffer, shared or exclusive, so one function cuts both kinds.
pub(crate) trait Region: Sized {
    /// The empty region.
    fn empty() -> Self;
    /// Its length.
    fn len(&self) -> usize;
    /// The first `at` elements and the rest (`at` is clamped to the length).
    fn split(self, at: usize) -> (Self, Self);
}

impl Region for &[f32] {
    fn empty() -> Self {
        &[]
    }
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }
    fn split(self, at: usize) -> (Self, Self) {
        self.split_at(at.min(<[f32]>::len(self)))
    }
}

impl Region for &mut [f32] {
    fn empty() -> Self {
        &mut []
    }
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }
    fn split(self, at: usize) -> (Self, Self) {
        let at = at.min(<[f32]>::len(self));
        self.split_at_mut(at)
    }
}

/// A parameter or gradient arena cut per layer ([`Topology::layer_params`]).
pub(crate) struct LayerParams<R> {
    /// `w[l]`: (outputs_l, inputs_l).
    pub w: [R; MAX_LAYERS],
    /// `b[l]`: (outputs_l).
    pub b: [R; MAX_LAYERS],
}

/// The training workspace cut per layer ([`Topology::workspace`]).
pub(crate) struct Workspace<R> {
    /// `acts[l]`: layer l's outputs `y_l`, (batch, outputs_l).
    pub acts: [R; MAX_LAYERS],
    /// `masks[l]`: hidden layer l's dropout multipliers, (batch, outputs_l).
    pub masks: [R; MAX_LAYERS],
    /// dL/dz of the current layer, (batch, outputs_l) at the front of (batch, max_width).
    pub delta: R,
    /// dL/dy of the layer below, (batch, inputs_l) at the front of (batch, max_width).
    pub delta_below: R,
}
