//! Time of whole operations (criterion): a dense layer forward and backward, one training
//! step of the agreed workloads at 1 and 2 threads, batch-1 and batch-1024 inference.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use myelin::bench::{forward_flops, synthetic, train_flops, WORKLOADS};
use myelin::gemm::Gemm;
use myelin::train::{Trainer, TrainerConfig};
use myelin_core::kernels::{Dims, Kernels};
use myelin_core::*;
use std::hint::black_box;

fn dense_layer(c: &mut Criterion) {
    let mut g = c.benchmark_group("dense_layer_784to128_b64");
    let d = Dims { batch: 64, inputs: 784, outputs: 128 };
    let l = myelin_benches::LayerData::new(d);
    let (mut y, mut dw, mut dx) = (vec![0.0; 64 * 128], vec![0.0; 128 * 784], vec![0.0; 64 * 784]);
    let k = Gemm::from_env().unwrap_or_else(|e| panic!("{e}"));
    g.throughput(Throughput::Elements(2 * myelin_benches::macs(d)));
    g.bench_function("forward", |b| {
        b.iter(|| k.dense_forward(d, black_box(&l.x), &l.w, &l.b, &mut y, Activation::Relu))
    });
    g.throughput(Throughput::Elements(4 * myelin_benches::macs(d)));
    g.bench_function("backward", |b| {
        b.iter(|| {
            let _ = k.weight_grad(d, black_box(&l.delta), &l.x, &mut dw);
            k.input_grad(d, &l.delta, &l.w, &mut dx)
        })
    });
    g.finish();
}

fn train_step(c: &mut Criterion) {
    let data = synthetic();
    let mut g = c.benchmark_group("train_step");
    g.sample_size(20);
    for (name, sizes, batch) in WORKLOADS {
        for threads in [1, 2] {
            let topo = Topology::dense(sizes, Activation::Relu, Activation::Softmax, Loss::CrossEntropy)
                .unwrap_or_else(|e| panic!("{e}"));
            let mut p = vec![0.0; topo.params_len()];
            let _ = topo.init_params(&mut p, Init::HeUniform, &mut Rng::new(1));
            let opt = Optimizer::new(Rule::Sgd { lr: 0.01 }).unwrap_or_else(|e| panic!("{e}"));
            let kernels = Gemm::from_env().unwrap_or_else(|e| panic!("{e}"));
            let shard = myelin::bench::shard_for(batch);
            let config = TrainerConfig { batch, shard, threads, kernels, ..TrainerConfig::default() };
            let mut tr = Trainer::new(topo, p, opt, config).unwrap_or_else(|e| panic!("{e}"));
            let idx: Vec<usize> = (0..batch).collect();
            g.throughput(Throughput::Elements((train_flops(sizes) * batch as f64) as u64));
            g.bench_with_input(BenchmarkId::new(name, format!("b{batch}_{threads}t")), &idx, |b, idx| {
                b.iter(|| tr.step(&data, idx, 0, 0))
            });
        }
    }
    g.finish();
}

fn inference(c: &mut Criterion) {
    let data = synthetic();
    let sizes = [784, 128, 10];
    let topo = Topology::dense(&sizes, Activation::Relu, Activation::Softmax, Loss::CrossEntropy)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut p = vec![0.0; topo.params_len()];
    let _ = topo.init_params(&mut p, Init::HeUniform, &mut Rng::new(1));
    let mut g = c.benchmark_group("inference_784_128_10");
    for batch in [1usize, 1024] {
        let mut work = vec![0.0; topo.inference_len(batch).unwrap_or(0)];
        let x = &data.x[..batch * 784];
        let k = Gemm::from_env().unwrap_or_else(|e| panic!("{e}"));
        g.throughput(Throughput::Elements((forward_flops(&sizes) * batch as f64) as u64));
        g.bench_function(format!("b{batch}"), |b| {
            b.iter(|| topo.predict(&k, &p, black_box(x), batch, &mut work).map(|y| y[0]))
        });
    }
    g.finish();
}

criterion_group!(benches, dense_layer, train_step, inference);
criterion_main!(benches);
