//! The core's errors: plain data, no strings, no allocation. [`Error`] for every
//! computation, [`FormatError`] for everything the model file format does (parse and
//! write); an `Error` can carry a `FormatError`. A leaf module: it names no other module's
//! types, so every module can use it.

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
    /// Weights or parameters packed for one sample at a time (`kernels::packed`).
    Packed,
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
    /// Max-norm bound on a neuron's incoming weights: finite and > 0.
    MaxNorm,
}

/// Which values an [`FormatError::ValueCount`] refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Values {
    /// The parameter arena.
    Params,
    /// Standardization means.
    Mean,
    /// Standardization standard deviations.
    Std,
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
        /// The most a topology holds ([`crate::MAX_LAYERS`]).
        max: usize,
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
    /// A model file problem; see [`FormatError`].
    Format(FormatError),
    /// An int8 model whose layers do not fit together: a layer other than the last
    /// dequantizes (or the last does not), or a table layer without its 256 entries.
    BadQuantLayer {
        /// Index of the layer.
        layer: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::EmptyTopology => write!(f, "a network needs at least one layer"),
            Error::TooManyLayers { got, max } => write!(f, "{got} layers, at most {max} supported"),
            Error::ZeroSizedLayer { layer } => write!(f, "layer {layer} has zero inputs or outputs"),
            Error::BadQuantLayer { layer } => {
                write!(f, "int8 layer {layer}: only the last layer dequantizes, and a table layer needs 256 entries")
            }
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

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::Format(e)
    }
}

impl core::error::Error for Error {}

/// Why a byte string is not a valid model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// Fewer bytes than the smallest possible file or than the header claims.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// Does not start with `MYLN`: not a myelin model file.
    BadMagic,
    /// A format version this build cannot read.
    UnsupportedVersion {
        /// Version in the file.
        got: u16,
        /// The version this build reads ([`crate::format::VERSION`]).
        supported: u16,
    },
    /// The stored CRC-32 does not match the contents: corrupted or truncated file.
    ChecksumMismatch {
        /// CRC stored in the file.
        stored: u32,
        /// CRC of the contents.
        computed: u32,
    },
    /// Unknown flag bits or non-zero reserved bytes.
    Reserved,
    /// Layer count outside 1..=[`crate::MAX_LAYERS`].
    LayerCount {
        /// Count in the file.
        got: usize,
        /// The most a topology holds ([`crate::MAX_LAYERS`]).
        max: usize,
    },
    /// Header length field disagrees with the layer count.
    HeaderLength {
        /// Expected from the layer count.
        expected: usize,
        /// Stored.
        got: usize,
    },
    /// An activation code this build does not know.
    UnknownActivation {
        /// Layer index.
        layer: usize,
        /// Code in the file.
        code: u8,
    },
    /// A loss code this build does not know.
    UnknownLoss {
        /// Code in the file.
        code: u8,
    },
    /// The layers do not form a valid topology (zero sizes, softmax on a hidden layer,
    /// loss/activation mismatch, sizes overflowing).
    InvalidTopology,
    /// Parameter count field disagrees with the topology.
    ParamCount {
        /// From the topology.
        expected: usize,
        /// Stored.
        got: usize,
    },
    /// File length disagrees with the header (extra or missing bytes).
    Length {
        /// Length the header implies.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A parameter or standardization value is NaN or infinite, or a std is <= 0.
    NonFinite {
        /// Index in the float region (standardization first, then parameters).
        index: usize,
    },
    /// The model needs more room than the caller provided (layer width or scratch floats,
    /// or the output buffer when writing).
    Capacity {
        /// Room needed.
        needed: usize,
        /// Room given.
        got: usize,
    },
    /// Writing: a parameter or standardization slice disagrees with the topology.
    ValueCount {
        /// Which values.
        what: Values,
        /// Count the topology needs.
        expected: usize,
        /// Count given.
        got: usize,
    },
    /// Writing: a size does not fit the format's 32-bit fields or the address space.
    TooLarge,
    /// An int8 model (version 2) is read in place: its bytes must start at a 4-byte-aligned
    /// address (e.g. `include_model!`) on a little-endian target.
    NotInPlace,
    /// An int8 model's field out of its range.
    QuantValue {
        /// Layer index (0 for the input quantizer's fields).
        layer: usize,
        /// Which field.
        field: QuantField,
        /// Index within the field.
        index: usize,
    },
}

/// The fields of an int8 model file checked value by value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantField {
    /// The input quantizer (index 0: scale finite and > 0; 1: offsets finite; 2: factors
    /// finite and > 0; 3: a one-input file without flag bit 0).
    Input,
    /// A layer mode code unknown, or not the one its position and activation allow.
    Mode,
    /// A weight of -128 (weights are symmetric, -127..=127).
    Weight,
    /// Padding bytes that are not zero.
    Padding,
    /// An accumulator scale negative or not finite, or an output scale not finite and > 0.
    Scale,
    /// A zero point where the layer's mode allows none, or a ReLU clamp not at it.
    ZeroPoint,
    /// A multiplier outside `0` or `2^30..2^31`.
    Multiplier,
    /// A shift outside -31..=31.
    Shift,
    /// A layer's [`crate::quant::Known`] claims a fact its values do not have (a network
    /// built in memory or compiled in, [`crate::quant::QuantNet::new`]).
    Known,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FormatError::*;
        match *self {
            Truncated { needed, got } => write!(f, "truncated: {got} bytes, need at least {needed}"),
            BadMagic => write!(f, "not a myelin model file (bad magic)"),
            UnsupportedVersion { got, supported } => {
                write!(f, "format version {got} is not supported (this build reads {supported})")
            }
            ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is corrupted")
            }
            Reserved => write!(f, "unknown flags or non-zero reserved bytes"),
            LayerCount { got, max } => write!(f, "{got} layers, expected 1..={max}"),
            HeaderLength { expected, got } => write!(f, "header length {got}, expected {expected}"),
            UnknownActivation { layer, code } => write!(f, "layer {layer}: unknown activation code {code}"),
            UnknownLoss { code } => write!(f, "unknown loss code {code}"),
            InvalidTopology => write!(f, "the layers do not form a valid network"),
            ParamCount { expected, got } => write!(f, "{got} parameters stored, topology needs {expected}"),
            Length { expected, got } => write!(f, "file is {got} bytes, header implies {expected}"),
            NonFinite { index } => write!(f, "float {index} is NaN, infinite or an invalid std"),
            Capacity { needed, got } => write!(f, "needs room for {needed}, caller gave {got}"),
            ValueCount { what, expected, got } => {
                write!(f, "{got} {what:?} values given, the topology needs {expected}")
            }
            TooLarge => write!(f, "sizes do not fit the format's 32-bit fields"),
            NotInPlace => write!(f, "an int8 model must start at a 4-byte-aligned address on a little-endian target"),
            QuantValue { layer, field, index } => write!(f, "int8 layer {layer}: {field:?} value {index} out of range"),
        }
    }
}

impl core::error::Error for FormatError {}

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
