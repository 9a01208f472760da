//! Activation functions and their derivatives, written in terms of the layer's *outputs*.
//!
//! Notation (see `docs/backprop.md`): `z = x W^T + b` is a layer's pre-activation, `y = f(z)`
//! its output. Backprop needs `f'(z)`; for every activation here it can be written as a
//! function of `y` alone, so the forward pass keeps only `y` and never stores `z`:
//!
//! | activation | f(z) | f'(z) as a function of y |
//! |---|---|---|
//! | identity | z | 1 |
//! | sigmoid | 1 / (1 + e^-z) | y (1 - y) |
//! | tanh | tanh z | 1 - y^2 |
//! | ReLU | max(z, 0) | 1 if y > 0 else 0 |
//! | leaky ReLU | z if z > 0 else a z | 1 if y > 0 else a (a = 0.01 > 0 keeps the sign of z) |
//! | softmax | e^z_i / sum_k e^z_k | Jacobian y_i (delta_ik - y_k), see [`softmax_backward`] |
//!
//! Transcendentals come from `libm`, a pure software implementation, so the same input gives
//! the same bits on x86_64 and on a Cortex-M.

/// Slope of leaky ReLU for negative inputs.
pub const LEAKY_SLOPE: f32 = 0.01;

/// A layer's activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Activation {
    /// `y = z`.
    Identity,
    /// `y = 1 / (1 + e^-z)`.
    Sigmoid,
    /// `y = tanh z`.
    Tanh,
    /// `y = max(z, 0)`.
    Relu,
    /// `y = z` for `z > 0`, else [`LEAKY_SLOPE`]` * z`.
    LeakyRelu,
    /// `y_i = e^z_i / sum_k e^z_k` over a sample's outputs (output layer only).
    Softmax,
    /// `y = 1` if `z >= 0` else `0`: the perceptron's threshold (no gradient; not allowed in
    /// a network trained by backprop).
    Step,
}

impl Activation {
    /// All activations, in code order.
    pub const ALL: [Activation; 7] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Softmax,
        Activation::Step,
    ];

    /// Stable numeric code (used by the model file).
    pub const fn code(self) -> u8 {
        match self {
            Activation::Identity => 0,
            Activation::Sigmoid => 1,
            Activation::Tanh => 2,
            Activation::Relu => 3,
            Activation::LeakyRelu => 4,
            Activation::Softmax => 5,
            Activation::Step => 6,
        }
    }

    /// Inverse of [`Activation::code`].
    pub const fn from_code(code: u8) -> Option<Activation> {
        match code {
            0 => Some(Activation::Identity),
            1 => Some(Activation::Sigmoid),
            2 => Some(Activation::Tanh),
            3 => Some(Activation::Relu),
            4 => Some(Activation::LeakyRelu),
            5 => Some(Activation::Softmax),
            6 => Some(Activation::Step),
            _ => None,
        }
    }

    /// Short lowercase name (`"relu"`, `"softmax"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky-relu",
            Activation::Softmax => "softmax",
            Activation::Step => "step",
        }
    }

    /// Parses [`Activation::name`] (also accepts `linear` and `leaky_relu`).
    pub fn from_name(s: &str) -> Option<Activation> {
        Some(match s {
            "identity" | "linear" => Activation::Identity,
            "sigmoid" | "logistic" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky-relu" | "leaky_relu" | "leakyrelu" => Activation::LeakyRelu,
            "softmax" => Activation::Softmax,
            "step" => Activation::Step,
            _ => return None,
        })
    }

    /// `f(z)` for the element-wise activations (softmax: use [`softmax_row`]).
    #[inline]
    pub fn apply(self, z: f32) -> f32 {
        match self {
            Activation::Identity | Activation::Softmax => z,
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => libm::tanhf(z),
            Activation::Relu => {
                if z > 0.0 {
                    z
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu => {
                if z > 0.0 {
                    z
                } else {
                    LEAKY_SLOPE * z
                }
            }
            Activation::Step => {
                if z >= 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }

    /// `f'(z)` written as a function of the output `y` (element-wise activations; softmax
    /// and step return 1 and 0: softmax needs [`softmax_backward`]).
    #[inline]
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            Activation::Identity | Activation::Softmax => 1.0,
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu => {
                if y > 0.0 {
                    1.0
                } else {
                    LEAKY_SLOPE
                }
            }
            Activation::Step => 0.0,
        }
    }
}

/// Logistic sigmoid, stable for large |z| (never evaluates e^z for large positive z).
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + libm::expf(-z))
    } else {
        let e = libm::expf(z);
        e / (1.0 + e)
    }
}

/// Softmax of one sample's pre-activations, in place: `y_i = e^(z_i - max z) / sum_k ...`.
/// Subtracting the maximum keeps every exponent <= 0 (no overflow); the result is the same.
pub fn softmax_row(row: &mut [f32]) {
    softmax_from_max(row, row_max(row))
}

/// A softmax row's maximum: `NEG_INFINITY`, then every `z > max` taken in order (NaNs never
/// taken), the one definition every softmax path uses.
#[inline(always)]
pub(crate) fn row_max(row: &[f32]) -> f32 {
    let mut max = f32::NEG_INFINITY;
    for &z in row {
        if z > max {
            max = z;
        }
    }
    max
}

/// [`softmax_row`] given the row's maximum as its loop finds it (`NEG_INFINITY`, then
/// every `z > max` taken in order), for a caller that computed it while writing the row.
#[inline(always)]
pub(crate) fn softmax_from_max(row: &mut [f32], max: f32) {
    let mut sum = 0.0f32;
    for z in row.iter_mut() {
        *z = libm::expf(*z - max);
        sum += *z;
    }
    let inv = 1.0 / sum;
    for y in row.iter_mut() {
        *y *= inv;
    }
}

/// Softmax backward for one sample, in place: `d_z_i = y_i (d_y_i - sum_k d_y_k y_k)`,
/// the product of the softmax Jacobian `y_i (delta_ik - y_k)` with `d_y`.
/// (Softmax with cross-entropy never calls this: the fused output delta is `y - t`.)
pub fn softmax_backward(y: &[f32], d: &mut [f32]) {
    let mut dot = 0.0f32;
    for (&yi, &di) in y.iter().zip(d.iter()) {
        dot += yi * di;
    }
    for (&yi, di) in y.iter().zip(d.iter_mut()) {
        *di = yi * (*di - dot);
    }
}

/// Applies `act` to every row of `rows` (row length `width`), in place.
pub fn apply_rows(act: Activation, rows: &mut [f32], width: usize) {
    if width == 0 {
        return;
    }
    match act {
        Activation::Identity => {}
        Activation::Softmax => rows.chunks_exact_mut(width).for_each(softmax_row),
        _ => rows.iter_mut().for_each(|v| *v = act.apply(*v)),
    }
}
