//! Instruction counts (iai-callgrind): deterministic inputs, setup outside the measured
//! region. `scripts/bench-gate` compares every count with benches/baseline/instructions.json.

use iai_callgrind::{library_benchmark, library_benchmark_group, main};
use myelin_benches::LayerData;
use myelin_core::kernels::{packed, Dims, Kernels, Portable, Simd};
use myelin_core::*;
use std::hint::black_box;

struct Layer {
    d: Dims,
    l: LayerData,
    out: Vec<f32>,
}

fn layer(batch: usize, inputs: usize, outputs: usize) -> Layer {
    let d = Dims { batch, inputs, outputs };
    Layer { d, l: LayerData::new(d), out: vec![0.0; batch * inputs.max(outputs) * outputs.max(1)] }
}

#[library_benchmark]
#[bench::digits_64to32_b1(layer(1, 64, 32))]
#[bench::mnist_784to128_b1(layer(1, 784, 128))]
fn forward_portable(mut s: Layer) -> Layer {
    let n = s.d.batch * s.d.outputs;
    let _ = black_box(Portable.dense_forward(s.d, &s.l.x, &s.l.w, &s.l.b, &mut s.out[..n], Activation::Relu));
    s
}

#[library_benchmark]
#[bench::digits_64to32_b1(layer(1, 64, 32))]
#[bench::mnist_784to128_b1(layer(1, 784, 128))]
#[bench::mnist_784to128_b16(layer(16, 784, 128))]
fn forward_simd(mut s: Layer) -> Layer {
    let n = s.d.batch * s.d.outputs;
    let _ = black_box(Simd::LANES8.dense_forward(s.d, &s.l.x, &s.l.w, &s.l.b, &mut s.out[..n], Activation::Relu));
    s
}

/// A layer with its weights packed for one sample at a time (`kernels::packed`).
struct Packed {
    s: Layer,
    wp: Vec<f32>,
}

fn packed_layer(inputs: usize, outputs: usize) -> Packed {
    let s = layer(1, inputs, outputs);
    let mut wp = vec![0.0; packed::packed_len(inputs, outputs).unwrap_or(0)];
    let _ = packed::pack(inputs, outputs, &s.l.w, &mut wp);
    Packed { s, wp }
}

#[library_benchmark]
#[bench::mnist_784to128_b1(packed_layer(784, 128))]
fn forward_packed_simd(mut p: Packed) -> Packed {
    let n = p.s.d.outputs;
    let _ = black_box(Simd::LANES8.dense_forward_packed(
        p.s.d,
        &p.s.l.x,
        &p.wp,
        &p.s.l.b,
        &mut p.s.out[..n],
        Activation::Relu,
    ));
    p
}

#[library_benchmark]
#[bench::digits_64to32_b16(layer(16, 64, 32))]
#[bench::mnist_784to128_b16(layer(16, 784, 128))]
fn weight_grad_simd(mut s: Layer) -> Layer {
    let n = s.d.inputs * s.d.outputs;
    let _ = black_box(Simd::LANES8.weight_grad(s.d, &s.l.delta, &s.l.x, &mut s.out[..n]));
    s
}

#[library_benchmark]
#[bench::digits_64to32_b16(layer(16, 64, 32))]
#[bench::mnist_784to128_b16(layer(16, 784, 128))]
fn input_grad_simd(mut s: Layer) -> Layer {
    let n = s.d.batch * s.d.inputs;
    let _ = black_box(Simd::LANES8.input_grad(s.d, &s.l.delta, &s.l.w, &mut s.out[..n]));
    s
}

struct Net {
    topo: Topology,
    params: Vec<f32>,
    /// `params` packed for one sample at a time (`Topology::pack`).
    packed: Vec<f32>,
    x: Vec<f32>,
    work: Vec<f32>,
}

/// `params` packed for [`Topology::predict_one`].
fn packed(topo: &Topology, params: &[f32]) -> Vec<f32> {
    let mut p = vec![0.0; topo.packed_len().unwrap_or(0)];
    let _ = topo.pack(params, &mut p);
    p
}

fn net(sizes: &[usize]) -> Net {
    let topo = Topology::dense(sizes, Activation::Relu, Activation::Softmax, Loss::CrossEntropy)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut params = vec![0.0; topo.params_len()];
    let _ = topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1));
    let x = myelin_benches::data(5, sizes[0]);
    let work = vec![0.0; topo.inference_len(1).unwrap_or(0)];
    let packed = packed(&topo, &params);
    Net { topo, params, packed, x, work }
}

/// The firmware's digits model, parsed on the host.
fn digits_model() -> Net {
    let bytes = include_bytes!("../../embedded-demo/models/digits.myelin");
    let mut scratch = vec![0.0; bytes.len() / 4];
    let m = format::parse(bytes, &mut scratch).unwrap_or_else(|e| panic!("{e}"));
    let x = myelin_benches::data(6, m.topology.inputs());
    let work = vec![0.0; m.topology.inference_len(1).unwrap_or(0)];
    let packed = packed(&m.topology, m.params);
    Net { topo: m.topology, params: m.params.to_vec(), packed, x, work }
}

#[library_benchmark]
#[bench::digits_64_64_10(digits_model())]
#[bench::mnist_784_128_10(net(&[784, 128, 10]))]
fn infer_b1_native(mut n: Net) -> Net {
    let _ = black_box(n.topo.predict(&Native::default(), &n.params, &n.x, 1, &mut n.work).map(|y| y[0]));
    n
}

#[library_benchmark]
#[bench::digits_64_64_10(digits_model())]
#[bench::mnist_784_128_10(net(&[784, 128, 10]))]
fn infer_b1_packed(mut n: Net) -> Net {
    let _ = black_box(n.topo.predict_one(&Native::default(), &n.packed, &n.x, &mut n.work).map(|y| y[0]));
    n
}

#[library_benchmark]
#[bench::digits_64_64_10(digits_model())]
fn infer_b1_portable(mut n: Net) -> Net {
    let _ = black_box(n.topo.predict(&Portable, &n.params, &n.x, 1, &mut n.work).map(|y| y[0]));
    n
}

struct Step {
    topo: Topology,
    params: Vec<f32>,
    grads: Vec<f32>,
    work: Vec<f32>,
    x: Vec<f32>,
    t: Vec<f32>,
    opt: Optimizer,
}

fn small_step() -> Step {
    let (sizes, batch) = ([64usize, 32, 10], 32);
    let topo = Topology::dense(&sizes, Activation::Relu, Activation::Softmax, Loss::CrossEntropy)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut params = vec![0.0; topo.params_len()];
    let _ = topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1));
    let mut t = vec![0.0; batch * 10];
    for (i, row) in t.chunks_exact_mut(10).enumerate() {
        row[i % 10] = 1.0;
    }
    Step {
        grads: vec![0.0; params.len()],
        work: vec![0.0; topo.workspace_len(batch).unwrap_or(0)],
        x: myelin_benches::data(7, batch * 64),
        t,
        opt: Optimizer::new(Rule::Sgd { lr: 0.1 }).unwrap_or_else(|e| panic!("{e}")),
        topo,
        params,
    }
}

#[library_benchmark]
#[bench::digits_64_32_10_b32(small_step())]
fn train_step_native(mut s: Step) -> Step {
    let k = Native::default();
    if let Ok(pass) = s.topo.forward(&k, &s.params, &s.x, 32, &mut s.work, None) {
        s.grads.fill(0.0);
        let _ = s.topo.backward(&k, &pass, &s.params, &s.x, &s.t, &mut s.work, &mut s.grads);
        let _ = s.opt.step(&mut s.params, &s.grads, &mut []);
    }
    black_box(s)
}

/// One Adam step over `n` parameters: parameters, gradient and the two moments.
struct AdamStep {
    params: Vec<f32>,
    grads: Vec<f32>,
    state: Vec<f32>,
}

fn adam_step(n: usize) -> AdamStep {
    AdamStep {
        params: myelin_benches::data(11, n),
        grads: myelin_benches::data(12, n),
        state: myelin_benches::data(13, 2 * n).iter().map(|v| v.abs()).collect(),
    }
}

// The optimizer step on the 8-lane backend (`Update::apply_on`), Adam over the 784-128-10
// arena (101,770 parameters).
#[library_benchmark]
#[bench::adam_784_128_10(adam_step(101_770))]
fn optimizer_step_simd8(mut s: AdamStep) -> AdamStep {
    if let Ok(mut opt) = Optimizer::new(Rule::adam(0.001)) {
        let _ = opt.step_on(Backend::SIMD8, &mut s.params, &s.grads, &mut s.state);
    }
    black_box(s)
}

library_benchmark_group!(
    name = kernels;
    benchmarks = forward_portable, forward_simd, forward_packed_simd, weight_grad_simd, input_grad_simd,
        optimizer_step_simd8
);
library_benchmark_group!(
    name = network;
    benchmarks = infer_b1_native, infer_b1_packed, infer_b1_portable, train_step_native
);
main!(library_benchmark_groups = kernels, network);
