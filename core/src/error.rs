//! The core's one error type: plain data, no strings, no allocation.

use core::fmt;

/// Which caller-provided buffer an [`Error::BadLength`] refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Buffer {
    /// Network input `x`: (batch, inputs).
    Input,
    /// Training targets `t`: (batch, outputs).
    Target,
    /// The flat parameter arena.
    Params,
    /// The flat gradient arena (same layout as the parameters).
    Grads,
    /// The activation/delta workspace.
    Workspace,
    /// Optimizer state.
    State,
    /// A kernel's output buffer.
    Output,
    /// A kernel's weight matrix.
    Weights,
    /// A kernel's bias vector.
    Bias,
    /// A kernel's delta (upstream gradient) buffer.
    Delta,
    /// A model file's bytes or a caller's scratch buffer for it.
    Bytes,
}

/// Which hyperparameter an [`Error::BadHyperparameter`] refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hyper {
    /// Learning rate: finite and > 0.
    LearningRate,
    /// Momentum coefficient: in [0, 1).
    Momentum,
    /// Adam beta1 / beta2: in [0, 1).
    Beta,
    /// Adam epsilon: finite and > 0.
    Epsilon,
    /// Dropout rate: in [0, 1).
    DropoutRate,
    /// L1/L2 coefficient: finite and >= 0.
    Regularization,
    /// Clipping norm: finite and > 0.
    ClipNorm,
}

/// Everything that can go wrong in the core. Every fallible function returns this; the core
/// never panics on input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A topology needs at least one layer.
    EmptyTopology,
    /// More layers than [`crate::MAX_LAYERS`].
    TooManyLayers {
        /// Layers requested.
        got: usize,
    },
    /// A layer with zero inputs or zero outputs.
    ZeroSizedLayer {
        /// Index of the layer.
        layer: usize,
    },
    /// A layer's inputs differ from the previous layer's outputs.
    LayerMismatch {
        /// Index of the layer.
        layer: usize,
        /// The previous layer's outputs.
        expected: usize,
        /// This layer's inputs.
        got: usize,
    },
    /// Softmax is only allowed on the output layer (its derivative couples a whole row).
    SoftmaxNotLast {
        /// Index of the offending layer.
        layer: usize,
    },
    /// Step activation has no useful derivative: it belongs to [`crate::Perceptron`].
    StepInNetwork {
        /// Index of the offending layer.
        layer: usize,
    },
    /// The loss needs a particular output activation (cross-entropy: softmax;
    /// binary cross-entropy: sigmoid).
    LossNeedsActivation,
    /// A layer or batch so large that a length overflows `usize`.
    TooLarge,
    /// A batch of zero samples.
    ZeroBatch,
    /// A buffer of the wrong length.
    BadLength {
        /// Which buffer.
        buffer: Buffer,
        /// Length required.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A hyperparameter out of its valid range (NaN included).
    BadHyperparameter {
        /// Which one.
        which: Hyper,
    },
    /// A model file problem; see [`crate::format::FormatError`].
    Format(crate::format::FormatError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::EmptyTopology => write!(f, "a network needs at least one layer"),
            Error::TooManyLayers { got } => {
                write!(f, "{got} layers, at most {} supported", crate::MAX_LAYERS)
            }
            Error::ZeroSizedLayer { layer } => write!(f, "layer {layer} has zero inputs or outputs"),
            Error::LayerMismatch { layer, expected, got } => {
                write!(f, "layer {layer} takes {got} inputs but the previous layer gives {expected}")
            }
            Error::SoftmaxNotLast { layer } => {
                write!(f, "softmax on layer {layer}: only the output layer may use softmax")
            }
            Error::StepInNetwork { layer } => {
                write!(f, "step activation on layer {layer}: it has no gradient; use the perceptron")
            }
            Error::LossNeedsActivation => write!(
                f,
                "loss/activation mismatch: cross-entropy needs softmax outputs, \
                 binary cross-entropy needs sigmoid outputs"
            ),
            Error::TooLarge => write!(f, "sizes overflow the address space"),
            Error::ZeroBatch => write!(f, "batch of zero samples"),
            Error::BadLength { buffer, expected, got } => {
                write!(f, "{buffer:?} buffer has length {got}, expected {expected}")
            }
            Error::BadHyperparameter { which } => write!(f, "{which:?} out of range"),
            Error::Format(e) => write!(f, "model file: {e}"),
        }
    }
}

impl From<crate::format::FormatError> for Error {
    fn from(e: crate::format::FormatError) -> Self {
        Error::Format(e)
    }
}

impl core::error::Error for Error {}

/// Returns `Ok` when `got == expected`, else a [`Error::BadLength`] naming the buffer.
#[inline]
pub(crate) fn check_len(buffer: Buffer, expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::BadLength { buffer, expected, got })
    }
}

/// `s[at..at + len]`, or [`Error::BadLength`] naming `buffer` when `s` is too short.
#[inline]
pub(crate) fn part(buffer: Buffer, s: &[f32], at: usize, len: usize) -> Result<&[f32], Error> {
    let end = at.checked_add(len).ok_or(Error::TooLarge)?;
    s.get(at..end).ok_or(Error::BadLength { buffer, expected: end, got: s.len() })
}

/// `&mut s[at..at + len]`, or [`Error::BadLength`] naming `buffer` when `s` is too short.
#[inline]
pub(crate) fn part_mut(buffer: Buffer, s: &mut [f32], at: usize, len: usize) -> Result<&mut [f32], Error> {
    let end = at.checked_add(len).ok_or(Error::TooLarge)?;
    let got = s.len();
    s.get_mut(at..end).ok_or(Error::BadLength { buffer, expected: end, got })
}
