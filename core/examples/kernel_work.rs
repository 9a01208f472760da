//! Runs one kernel call `REPS` times on the inputs of the instruction benchmarks
//! (benches/benches/instructions.rs), for counting instructions under an emulator:
//! `(count(2 R) - count(R)) / R` is one call, set-up excluded (`scripts/arm64-instructions`).
//!
//!     kernel_work KERNEL BATCH INPUTS OUTPUTS REPS
//!     KERNEL: forward_portable | forward_simd | forward_packed_simd (batch 1: weights packed for
//!             one sample at a time, before the calls) | weight_grad_simd | input_grad_simd
//!             | int8_portable | int8_native (the int8 accumulation, the build's fastest set)
//!             | adam_simd8 (one Adam step on the 8-lane lanes over INPUTS x OUTPUTS parameters,
//!             BATCH ignored)

use myelin_core::kernels::{packed, Backend, Dims, Kernels, Portable, Simd};
use myelin_core::quant::{I8Backend, Known, QuantDense};
use myelin_core::{Activation, Optimizer, Rule};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| -> usize { args.get(i).and_then(|s| s.parse().ok()).unwrap_or_else(|| usage()) };
    let kernel = args.get(1).cloned().unwrap_or_else(|| usage());
    let (batch, inputs, outputs, reps) = (number(2), number(3), number(4), number(5));
    let d = Dims { batch, inputs, outputs };
    // Deterministic values in [-1, 1), as the benchmarks' LayerData.
    let fill = |n: usize, seed: usize| -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 + seed * 104_729) % 2000) as f32 / 1000.0 - 1.0).collect()
    };
    let (x, w, b, delta) =
        (fill(batch * inputs, 1), fill(outputs * inputs, 2), fill(outputs, 3), fill(batch * outputs, 4));
    let mut out = vec![0.0f32; batch.max(outputs) * inputs.max(outputs)];
    let mut wp = vec![0.0f32; packed::packed_len(inputs, outputs).unwrap_or_else(|e| panic!("{e}"))];
    packed::pack(inputs, outputs, &w, &mut wp).unwrap_or_else(|e| panic!("{e}"));
    // The int8 layer: deterministic bytes over the whole range, the benchmarks' pattern.
    let bytes =
        |n: usize, seed: usize| -> Vec<i8> { (0..n).map(|i| ((i * 7919 + seed * 104_729) % 255) as i8).collect() };
    let (qx, qw) = (bytes(batch * inputs, 1), bytes(outputs * inputs, 2));
    let (qb, mult, shift) = (vec![7i32; outputs], vec![1i32 << 30; outputs], vec![-8i8; outputs]);
    let layer = QuantDense {
        inputs,
        outputs,
        weights: &qw,
        bias: &qb,
        multiplier: &mult,
        shift: &shift,
        input_zero: -3,
        output_zero: 0,
        min: -128,
        max: 127,
        known: Known::of(&qw, &qb, &mult, &shift),
    };
    let mut acc = vec![0i32; batch * outputs];
    // The optimizer step: parameters `w`, gradient `x`-sized values, both moments.
    let n = inputs * outputs;
    let (mut params, grads) = (w.clone(), fill(n, 5));
    let mut state: Vec<f32> = fill(2 * n, 6).iter().map(|v| v.abs()).collect();
    let mut adam = Optimizer::new(Rule::adam(0.001)).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..reps {
        let result = match kernel.as_str() {
            "forward_portable" => Portable.dense_forward(d, &x, &w, &b, &mut out[..batch * outputs], Activation::Relu),
            "forward_simd" => Simd::LANES8.dense_forward(d, &x, &w, &b, &mut out[..batch * outputs], Activation::Relu),
            "forward_packed_simd" => {
                Simd::LANES8.dense_forward_packed(d, &x, &wp, &b, &mut out[..batch * outputs], Activation::Relu)
            }
            "weight_grad_simd" => Simd::LANES8.weight_grad(d, &delta, &x, &mut out[..inputs * outputs]),
            "input_grad_simd" => Simd::LANES8.input_grad(d, &delta, &w, &mut out[..batch * inputs]),
            "int8_portable" | "int8_native" => {
                let k = if kernel == "int8_portable" { I8Backend::Portable } else { I8Backend::detect() };
                let r = k.accumulate(&layer, &qx, batch, &mut acc);
                black_box(&mut acc);
                r
            }
            "adam_simd8" => {
                let r = adam.step_on(Backend::SIMD8, &mut params, &grads, &mut state);
                black_box(&mut params);
                r
            }
            _ => usage(),
        };
        black_box(result).unwrap_or_else(|e| panic!("{kernel}: {e}"));
        black_box(&mut out);
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: kernel_work forward_portable|forward_simd|forward_packed_simd|weight_grad_simd|input_grad_simd|int8_portable|int8_native|adam_simd8 \
         BATCH INPUTS OUTPUTS REPS"
    );
    std::process::exit(2)
}
