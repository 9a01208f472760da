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
use crate::error::Error;
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

const fn max_width(sizes: &[usize]) -> usize {
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
            return Err(Error::TooManyLayers { got: layers.len() });
        }
        let mut t = Topology { layers: [EMPTY; MAX_LAYERS], len: layers.len(), loss, params: 0, max_width: 0 };
        let mut params: usize = 0;
        let mut prev: Option<&Layer> = None;
        for (i, (slot, l)) in t.layers.iter_mut().zip(layers).enumerate() {
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
            let n = l.inputs.checked_mul(l.outputs).and_then(|n| n.checked_add(l.outputs)).ok_or(Error::TooLarge)?;
            params = params.checked_add(n).ok_or(Error::TooLarge)?;
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
            return Err(Error::TooManyLayers { got: sizes.len() - 1 });
        }
        let mut layers = [EMPTY; MAX_LAYERS];
        let n = sizes.len() - 1;
        for (i, (slot, w)) in layers.iter_mut().zip(sizes.windows(2)).enumerate() {
            let act = if i + 1 == n { output } else { hidden };
            if let &[inputs, outputs] = w {
                *slot = Layer::new(inputs, outputs, act);
            }
        }
        Topology::new(layers.get(..n).ok_or(Error::TooManyLayers { got: n })?, loss)
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
        let mut off = 0;
        for (i, layer) in self.layers().iter().enumerate() {
            let b = off + layer.inputs * layer.outputs;
            let end = b + layer.outputs;
            if i == l {
                return Some(ParamRange { w: off, b, end });
            }
            off = end;
        }
        None
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

    /// Offsets of the training workspace regions for `batch` samples.
    pub(crate) fn work_layout(&self, batch: usize) -> Result<WorkLayout, Error> {
        let total = self.workspace_len(batch)?;
        let acts: usize = self.layers().iter().map(|l| l.outputs).sum::<usize>() * batch;
        let masks: usize = self.hidden().iter().map(|l| l.outputs).sum::<usize>() * batch;
        let delta = self.max_width * batch;
        Ok(WorkLayout { masks: acts, delta_a: acts + masks, delta_b: acts + masks + delta, total })
    }
}

/// Region starts inside a training workspace (activations start at 0).
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorkLayout {
    pub masks: usize,
    pub delta_a: usize,
    pub delta_b: usize,
    pub total: usize,
}
