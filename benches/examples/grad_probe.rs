//! The panel products of the 784-512-512-10 network's backward pass (weight and input
//! gradients of its first two layers at batch 256), best of 200 calls each, in GFLOP/s:
//!
//!     cargo run --release -p myelin-benches --example grad_probe [cold] [-- ...]
//!     K=simd16 cargo run --release -p myelin-benches --example grad_probe cold
//!
//! `cold` writes a 16 MB buffer before every call, so the products start from L3 and memory
//! as they do in training (where the forward pass and the update run in between); without
//! it the operands stay in cache. `K` names the kernel set (`simd8` by default).
use myelin_benches::LayerData;
use myelin_core::kernels::{Backend, Dims, Kernels};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let want = std::env::var("K").unwrap_or_else(|_| "simd8".into());
    let Some(k) = Backend::available().find(|b| b.name() == want) else {
        eprintln!("kernel set {want} does not run here");
        std::process::exit(2);
    };
    let cold = std::env::args().any(|a| a == "cold");
    let mut junk = vec![1.0f32; 4 << 20];
    let mut flush = |i: usize| {
        if cold {
            junk.iter_mut().for_each(|v| *v += i as f32);
            black_box(&junk);
        }
    };
    for (name, d) in [
        ("784->512 b256", Dims { batch: 256, inputs: 784, outputs: 512 }),
        ("512->512 b256", Dims { batch: 256, inputs: 512, outputs: 512 }),
    ] {
        let l = LayerData::new(d);
        let mut d_w = vec![0.0; d.outputs * d.inputs];
        let mut d_x = vec![0.0; d.batch * d.inputs];
        let flops = 2.0 * (d.batch * d.inputs * d.outputs) as f64;
        let (mut best_w, mut best_x) = (f64::MAX, f64::MAX);
        for i in 0..200 {
            flush(i);
            let t = Instant::now();
            k.weight_grad(d, &l.delta, &l.x, &mut d_w).expect("sizes");
            best_w = best_w.min(t.elapsed().as_secs_f64());
            flush(i);
            let t = Instant::now();
            k.input_grad(d, &l.delta, &l.w, &mut d_x).expect("sizes");
            best_x = best_x.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{} {name}{}: weight gradient {:.1} GFLOP/s, input gradient {:.1} GFLOP/s",
            k.name(),
            if cold { " (cold)" } else { "" },
            flops / best_w / 1e9,
            flops / best_x / 1e9
        );
    }
}
