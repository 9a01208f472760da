//! The determinism sweep: MNIST-shaped layers (784 inputs) trained for a few steps at every
//! batch size 1..=160, on 1, 2, 3 and 4 threads, must end with bit-identical parameters, for
//! every kernel backend this CPU runs and for the sgemm path. Shards of 32 samples (the
//! CLI's default: a batch of up to 32 is one shard whose products are split across the
//! threads, larger batches run shards side by side) and of 160 (every batch one shard, split
//! by rows at every size, through every forward path of the AVX-512 tiles).
//!
//! Release only (about a minute there, far longer unoptimized): `scripts/test` runs it with
//! `cargo test --release -p myelin --test determinism`.

use myelin::data::{Dataset, Targets};
use myelin::gemm::{Gemm, Mode, SGEMM_CALLS};
use myelin::train::{Trainer, TrainerConfig};
use myelin_core::*;
use std::sync::atomic::Ordering;

const THREADS: [usize; 4] = [1, 2, 3, 4];
const MAX_BATCH: usize = 160;
const STEPS: usize = 2;

fn data() -> Dataset {
    let n = STEPS * MAX_BATCH;
    let mut r = Rng::new(11);
    Dataset {
        x: (0..n * 784).map(|_| r.uniform()).collect(),
        features: 784,
        targets: Targets::Classes { labels: (0..n).map(|_| r.below(10)).collect(), classes: 10, names: vec![] },
    }
}

/// Parameters after `STEPS` steps of `batch` shuffled samples.
fn train(data: &Dataset, order: &[usize], kernels: Gemm, batch: usize, shard: usize, threads: usize) -> Vec<f32> {
    let topo = Topology::dense(&[784, 128, 10], Activation::Relu, Activation::Softmax, Loss::CrossEntropy).unwrap();
    let mut p = vec![0.0; topo.params_len()];
    topo.init_params(&mut p, Init::HeUniform, &mut Rng::new(5)).unwrap();
    let opt = Optimizer::new(Rule::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 }).unwrap();
    let config = TrainerConfig { batch, shard, threads, seed: 5, kernels, ..TrainerConfig::default() };
    let mut tr = Trainer::new(topo, p, opt, config).unwrap();
    for (s, idx) in order.chunks(batch).take(STEPS).enumerate() {
        tr.step(data, idx, 0, s as u64).unwrap();
    }
    tr.into_params()
}

fn sweep(kernels: Gemm, name: &str) {
    let data = data();
    let mut order: Vec<usize> = (0..data.len()).collect();
    Rng::new(3).shuffle(&mut order);
    let mut failures = Vec::new();
    for shard in [32, MAX_BATCH] {
        for batch in 1..=MAX_BATCH {
            let want = train(&data, &order, kernels, batch, shard, 1);
            for threads in &THREADS[1..] {
                let got = train(&data, &order, kernels, batch, shard, *threads);
                if let Some(i) = want.iter().zip(&got).position(|(a, b)| a.to_bits() != b.to_bits()) {
                    failures.push(format!("batch {batch} shard {shard} threads {threads}: parameter {i}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{name}: parameters depend on the thread count:\n{}", failures.join("\n"));
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only: cargo test --release -p myelin --test determinism")]
fn every_batch_size_and_thread_count_gives_the_same_bits_on_every_backend() {
    for backend in Backend::available() {
        println!("{}", backend.name());
        sweep(Gemm::new(backend, Mode::Never), backend.name());
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only: cargo test --release -p myelin --test determinism")]
fn every_batch_size_and_thread_count_gives_the_same_bits_through_sgemm() {
    let before = SGEMM_CALLS.load(Ordering::Relaxed);
    sweep(Gemm::new(Backend::detect(), Mode::Always), "sgemm");
    assert!(SGEMM_CALLS.load(Ordering::Relaxed) > before, "the forced sgemm path did not run");
}

/// On x86_64 the 8-lane (AVX2) tiles give the bits of the AVX-512 tiles in all three products
/// and `Mode::Auto` keeps every product on them, so a model trains to the same parameters on
/// an AVX2-only CPU as on one with AVX-512: every batch size on both paths of the forward
/// (dot products below 16 samples, chains from 16, packed `W^T` from 128), 1 and 2 threads.
#[test]
#[cfg_attr(debug_assertions, ignore = "release only: cargo test --release -p myelin --test determinism")]
fn avx2_and_avx512_cpus_train_the_same_bits() {
    let Some(wide) = myelin_core::kernels::Simd::lanes16() else {
        println!("AVX-512 not available on this CPU: one width to run, nothing to compare");
        return;
    };
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let data = data();
    let mut order: Vec<usize> = (0..data.len()).collect();
    Rng::new(3).shuffle(&mut order);
    let (narrow, wide) = (Gemm::new(Backend::SIMD8, Mode::Auto), Gemm::new(Backend::Simd(wide), Mode::Auto));
    let mut failures = Vec::new();
    for shard in [32, MAX_BATCH] {
        for batch in [1, 2, 5, 15, 16, 17, 31, 33, 64, 100, 127, 128, 129, 160] {
            for threads in [1, 2] {
                let a = train(&data, &order, narrow, batch, shard, threads);
                let b = train(&data, &order, wide, batch, shard, threads);
                if let Some(i) = a.iter().zip(&b).position(|(a, b)| a.to_bits() != b.to_bits()) {
                    failures.push(format!("batch {batch} shard {shard} threads {threads}: parameter {i}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "8-lane and 16-lane training differ:\n{}", failures.join("\n"));
}
