//! Shared inputs for myelin's benchmarks: deterministic data and the agreed shapes.

pub mod peak;

use myelin_core::kernels::Dims;
use myelin_core::Rng;

/// Kernel shapes benchmarked everywhere: (name, dims).
pub const SHAPES: [(&str, Dims); 5] = [
    ("tiny_16x16_b1", Dims { batch: 1, inputs: 16, outputs: 16 }),
    ("digits_64to32_b1", Dims { batch: 1, inputs: 64, outputs: 32 }),
    ("mnist_784to128_b1", Dims { batch: 1, inputs: 784, outputs: 128 }),
    ("mnist_784to128_b64", Dims { batch: 64, inputs: 784, outputs: 128 }),
    ("wide_512to512_b256", Dims { batch: 256, inputs: 512, outputs: 512 }),
];

/// `n` deterministic values uniform in [-1, 1).
pub fn data(seed: u64, n: usize) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.uniform_in(-1.0, 1.0)).collect()
}

/// Inputs for one dense layer: x, w, b, delta.
pub struct LayerData {
    /// (batch, inputs)
    pub x: Vec<f32>,
    /// (outputs, inputs)
    pub w: Vec<f32>,
    /// (outputs)
    pub b: Vec<f32>,
    /// (batch, outputs)
    pub delta: Vec<f32>,
}

impl LayerData {
    /// Deterministic data for `d`.
    pub fn new(d: Dims) -> LayerData {
        LayerData {
            x: data(1, d.batch * d.inputs),
            w: data(2, d.outputs * d.inputs),
            b: data(3, d.outputs),
            delta: data(4, d.batch * d.outputs),
        }
    }
}

/// Multiply-accumulates of one product of shape `d`.
pub fn macs(d: Dims) -> u64 {
    (d.batch * d.inputs * d.outputs) as u64
}
