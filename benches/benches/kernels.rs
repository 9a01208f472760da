//! Kernel time per shape, each optimized kernel beside its scalar twin. Throughput is in
//! elements = FLOPs (2 per multiply-accumulate), so criterion's "elem/s" reads as FLOP/s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use myelin_benches::{macs, LayerData, SHAPES};
use myelin_core::kernels::{Backend, Kernels};
use myelin_core::Activation;
use std::hint::black_box;

/// Every backend this CPU runs, by name (`simd16` only where AVX-512F is present).
fn kernels() -> Vec<(&'static str, Backend)> {
    Backend::available().map(|b| (b.name(), b)).collect()
}

fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("dense_forward_relu");
    for (shape, d) in SHAPES {
        let l = LayerData::new(d);
        let mut y = vec![0.0; d.batch * d.outputs];
        g.throughput(Throughput::Elements(2 * macs(d)));
        for (name, k) in kernels() {
            g.bench_with_input(BenchmarkId::new(name, shape), &d, |b, &d| {
                b.iter(|| k.dense_forward(d, black_box(&l.x), &l.w, &l.b, &mut y, Activation::Relu))
            });
        }
    }
    g.finish();
}

fn weight_grad(c: &mut Criterion) {
    let mut g = c.benchmark_group("weight_grad_outer_product");
    for (shape, d) in SHAPES {
        let l = LayerData::new(d);
        let mut d_w = vec![0.0; d.outputs * d.inputs];
        g.throughput(Throughput::Elements(2 * macs(d)));
        for (name, k) in kernels() {
            g.bench_with_input(BenchmarkId::new(name, shape), &d, |b, &d| {
                b.iter(|| k.weight_grad(d, black_box(&l.delta), &l.x, &mut d_w))
            });
        }
    }
    g.finish();
}

fn input_grad(c: &mut Criterion) {
    let mut g = c.benchmark_group("input_grad");
    for (shape, d) in SHAPES {
        let l = LayerData::new(d);
        let mut d_x = vec![0.0; d.batch * d.inputs];
        g.throughput(Throughput::Elements(2 * macs(d)));
        for (name, k) in kernels() {
            g.bench_with_input(BenchmarkId::new(name, shape), &d, |b, &d| {
                b.iter(|| k.input_grad(d, black_box(&l.delta), &l.w, &mut d_x))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, forward, weight_grad, input_grad);
criterion_main!(benches);
