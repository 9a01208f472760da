//! Losses: value and the output-layer delta `dL/dz`.
//!
//! Every loss is the mean over the batch of a per-sample loss `l(y, t)` summed over the
//! sample's `n` outputs (MSE: averaged over outputs):
//!
//! | loss | l(y, t) | dl/dy |
//! |---|---|---|
//! | SSE | 1/2 sum_j (y_j - t_j)^2 | y - t |
//! | MSE | 1/n sum_j (y_j - t_j)^2 | 2 (y - t) / n |
//! | binary cross-entropy | -sum_j t_j ln y_j + (1 - t_j) ln(1 - y_j) | (y - t) / (y (1 - y)) |
//! | cross-entropy | -sum_j t_j ln y_j | -t / y |
//!
//! Cross-entropy after softmax and binary cross-entropy after sigmoid are *fused*: the
//! chain rule through the activation cancels the division, leaving `dL/dz = (y - t) / B`
//! (B = batch), which is both cheaper and exact where `y` saturates. Those two losses are
//! only accepted with those activations ([`Loss::accepts`]).

use crate::activation::{softmax_backward, Activation};

/// Smallest probability fed to `ln`, so a saturated output gives a large finite loss.
const MIN_PROB: f32 = 1e-30;

/// `max(p, MIN_PROB)` that keeps NaN (f32::max would turn a NaN output into a finite
/// loss and hide a diverged network).
fn floor(p: f32) -> f32 {
    if p < MIN_PROB {
        MIN_PROB
    } else {
        p
    }
}

/// A training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Loss {
    /// Sum of squared errors, halved: `1/2 sum (y - t)^2` per sample.
    Sse,
    /// Mean squared error over a sample's outputs.
    Mse,
    /// Binary cross-entropy per output (sigmoid outputs, targets in [0, 1]).
    BinaryCrossEntropy,
    /// Categorical cross-entropy (softmax outputs, one-hot or probability targets).
    CrossEntropy,
}

impl Loss {
    /// All losses, in code order.
    pub const ALL: [Loss; 4] = [Loss::Sse, Loss::Mse, Loss::BinaryCrossEntropy, Loss::CrossEntropy];

    /// Stable numeric code (used by the model file).
    pub const fn code(self) -> u8 {
        match self {
            Loss::Sse => 0,
            Loss::Mse => 1,
            Loss::BinaryCrossEntropy => 2,
            Loss::CrossEntropy => 3,
        }
    }

    /// Inverse of [`Loss::code`].
    pub const fn from_code(code: u8) -> Option<Loss> {
        match code {
            0 => Some(Loss::Sse),
            1 => Some(Loss::Mse),
            2 => Some(Loss::BinaryCrossEntropy),
            3 => Some(Loss::CrossEntropy),
            _ => None,
        }
    }

    /// Short name (`"sse"`, `"mse"`, `"bce"`, `"cross-entropy"`).
    pub const fn name(self) -> &'static str {
        match self {
            Loss::Sse => "sse",
            Loss::Mse => "mse",
            Loss::BinaryCrossEntropy => "bce",
            Loss::CrossEntropy => "cross-entropy",
        }
    }

    /// Parses [`Loss::name`] (also `ce`, `binary-cross-entropy`).
    pub fn from_name(s: &str) -> Option<Loss> {
        Some(match s {
            "sse" => Loss::Sse,
            "mse" => Loss::Mse,
            "bce" | "binary-cross-entropy" => Loss::BinaryCrossEntropy,
            "ce" | "cross-entropy" | "crossentropy" => Loss::CrossEntropy,
            _ => return None,
        })
    }

    /// Whether this loss can follow an output layer with activation `act`.
    pub const fn accepts(self, act: Activation) -> bool {
        match self {
            Loss::Sse | Loss::Mse => true,
            Loss::BinaryCrossEntropy => matches!(act, Activation::Sigmoid),
            Loss::CrossEntropy => matches!(act, Activation::Softmax),
        }
    }

    /// Per-sample loss of one output row `y` against its target `t` (equal lengths).
    pub fn sample(self, y: &[f32], t: &[f32]) -> f32 {
        let pairs = y.iter().zip(t);
        match self {
            Loss::Sse => 0.5 * pairs.map(|(&y, &t)| (y - t) * (y - t)).sum::<f32>(),
            Loss::Mse => pairs.map(|(&y, &t)| (y - t) * (y - t)).sum::<f32>() / y.len().max(1) as f32,
            Loss::BinaryCrossEntropy => {
                -pairs.map(|(&y, &t)| t * libm::logf(floor(y)) + (1.0 - t) * libm::logf(floor(1.0 - y))).sum::<f32>()
            }
            Loss::CrossEntropy => {
                -pairs.filter(|(_, &t)| t != 0.0).map(|(&y, &t)| t * libm::logf(floor(y))).sum::<f32>()
            }
        }
    }

    /// Mean loss over a batch: `y` and `t` are (batch, width) with the same length.
    pub fn mean(self, y: &[f32], t: &[f32], width: usize) -> f32 {
        if width == 0 || y.is_empty() {
            return 0.0;
        }
        let batch = y.len() / width;
        let total: f32 = y.chunks_exact(width).zip(t.chunks_exact(width)).map(|(y, t)| self.sample(y, t)).sum();
        total / batch as f32
    }

    /// Writes the output layer's delta `d = dL/dz` for the mean loss over the batch.
    ///
    /// `y`, `t`, `d`: (batch, width). `act` is the output activation. Fused pairs give
    /// `(y - t) / B`; otherwise `dL/dy` is formed and pushed through the activation.
    pub fn output_delta(self, act: Activation, y: &[f32], t: &[f32], d: &mut [f32], width: usize) {
        if width == 0 || y.is_empty() {
            return;
        }
        let inv_b = 1.0 / (y.len() / width) as f32;
        let fused = matches!(
            (self, act),
            (Loss::CrossEntropy, Activation::Softmax) | (Loss::BinaryCrossEntropy, Activation::Sigmoid)
        );
        let scale = match self {
            Loss::Mse => 2.0 / width as f32 * inv_b,
            _ => inv_b,
        };
        for ((d, &y), &t) in d.iter_mut().zip(y).zip(t) {
            *d = (y - t) * scale;
        }
        if fused {
            return;
        }
        match act {
            Activation::Softmax => {
                for (yr, dr) in y.chunks_exact(width).zip(d.chunks_exact_mut(width)) {
                    softmax_backward(yr, dr);
                }
            }
            Activation::Identity => {}
            _ => {
                for (d, &y) in d.iter_mut().zip(y) {
                    *d *= act.derivative_from_output(y);
                }
            }
        }
    }
}
