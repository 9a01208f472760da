//! Batch-1 latency of the 784-128-10 prediction (`Topology::predict`, softmax included), of
//! the same prediction from parameters packed once (`Topology::predict_one`, what `myelin
//! bench` reports) and of the first layer alone (`dense_forward`, 784 -> 128, ReLU), for
//! every float kernel set the CPU runs. The cases take turns, 500 calls at a time after 200 untimed ones, for
//! `ROUNDS` rounds (60 unless given), so that a host whose speed moves from minute to minute
//! slows them alike; each keeps its fastest and its median round.
//!
//!     cargo run --release -p myelin-benches --example latency [ROUNDS]

use myelin::bench::topology;
use myelin_core::kernels::{Backend, Dims, Kernels};
use myelin_core::{Activation, Init, Rng};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(60).max(3);
    let topo = topology(&[784, 128, 10]).expect("topology");
    let mut params = vec![0.0; topo.params_len()];
    topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1)).expect("init");
    let x = myelin_benches::data(7, 784);
    let layer = Dims { batch: 1, inputs: 784, outputs: 128 };
    let (w, b) = params.split_at(784 * 128);
    let b = &b[..128];
    let mut cases: Vec<(String, Box<dyn FnMut()>)> = Vec::new();
    for k in Backend::available() {
        let mut work = vec![0.0f32; topo.inference_len(1).expect("size")];
        let (topo, params, x) = (&topo, &params, &x);
        cases.push((
            format!("{} predict", k.name()),
            Box::new(move || {
                black_box(topo.predict(&k, params, black_box(x), 1, &mut work).expect("predict"));
            }),
        ));
        let mut packed = vec![0.0f32; topo.packed_len().expect("size")];
        topo.pack(params, &mut packed).expect("pack");
        let mut work1 = vec![0.0f32; topo.inference_len(1).expect("size")];
        cases.push((
            format!("{} predict_one (packed)", k.name()),
            Box::new(move || {
                black_box(topo.predict_one(&k, &packed, black_box(x), &mut work1).expect("predict_one"));
            }),
        ));
        let mut y = vec![0.0f32; 128];
        cases.push((
            format!("{} first layer", k.name()),
            Box::new(move || {
                k.dense_forward(layer, black_box(x), w, b, &mut y, Activation::Relu).expect("forward");
                black_box(&y);
            }),
        ));
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for ((_, f), t) in cases.iter_mut().zip(&mut times) {
            for _ in 0..200 {
                f();
            }
            let t0 = Instant::now();
            for _ in 0..500 {
                f();
            }
            t.push(t0.elapsed().as_secs_f64() / 500.0 * 1e6);
        }
    }
    println!("| case (batch 1, 784-128-10) | fastest us | median us |");
    println!("|---|---|---|");
    for ((name, _), t) in cases.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        println!("| {name} | {:.2} | {:.2} |", t[0], t[t.len() / 2]);
    }
}
