//! Runs one kernel call `REPS` times on the inputs of the instruction benchmarks
//! (benches/benches/instructions.rs), for counting instructions under an emulator:
//! `(count(2 R) - count(R)) / R` is one call, set-up excluded (`scripts/arm64-instructions`).
//!
//!     kernel_work KERNEL BATCH INPUTS OUTPUTS REPS
//!     KERNEL: forward_portable | forward_simd | weight_grad_simd | input_grad_simd

use myelin_core::kernels::{Dims, Kernels, Portable, Simd};
use myelin_core::Activation;
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
    for _ in 0..reps {
        let result = match kernel.as_str() {
            "forward_portable" => Portable.dense_forward(d, &x, &w, &b, &mut out[..batch * outputs], Activation::Relu),
            "forward_simd" => Simd::LANES8.dense_forward(d, &x, &w, &b, &mut out[..batch * outputs], Activation::Relu),
            "weight_grad_simd" => Simd::LANES8.weight_grad(d, &delta, &x, &mut out[..inputs * outputs]),
            "input_grad_simd" => Simd::LANES8.input_grad(d, &delta, &w, &mut out[..batch * inputs]),
            _ => usage(),
        };
        black_box(result).unwrap_or_else(|e| panic!("{kernel}: {e}"));
        black_box(&mut out);
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: kernel_work forward_portable|forward_simd|weight_grad_simd|input_grad_simd BATCH INPUTS OUTPUTS REPS"
    );
    std::process::exit(2)
}
