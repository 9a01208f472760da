//! Data-parallel training is bit-identical for any thread count, and the GEMM path computes
//! what the core's kernels compute.

use myelin::data::{Dataset, Targets};
use myelin::gemm::{Gemm, Mode, SGEMM_CALLS};
use myelin::train::spec::{ScheduleName, TrainSpec};
use myelin::train::{ImageShift, Trainer, TrainerConfig};
use myelin_core::kernels::{Dims, Kernels, Reference};
use myelin_core::*;
use std::sync::atomic::Ordering;

fn mnist_shaped(n: usize) -> Dataset {
    let mut r = Rng::new(0);
    Dataset {
        x: (0..n * 784).map(|_| r.uniform()).collect(),
        features: 784,
        targets: Targets::Classes { labels: (0..n).map(|_| r.below(10)).collect(), classes: 10, names: vec![] },
    }
}

fn epoch(data: &Dataset, threads: usize, dropout: f32, mode: Mode, shard: usize) -> (Vec<f32>, Vec<f32>) {
    epoch_with(data, threads, dropout, mode, shard, 1e-4, None)
}

fn epoch_with(
    data: &Dataset,
    threads: usize,
    dropout: f32,
    mode: Mode,
    shard: usize,
    l2: f32,
    clip: Option<f32>,
) -> (Vec<f32>, Vec<f32>) {
    let reg = Reg { dropout, l1: 0.0, l2, clip, max_norm: None, shift: false, schedule: false };
    epoch_on(data, threads, Gemm::new(Backend::detect(), mode), shard, reg)
}

/// Regularization of a run.
#[derive(Clone, Copy, Debug)]
struct Reg {
    dropout: f32,
    l1: f32,
    l2: f32,
    clip: Option<f32>,
    max_norm: Option<f32>,
    /// Random shifts of up to 2 pixels (28 x 28 images).
    shift: bool,
    /// A warm-up and cosine learning-rate schedule, set before every step.
    schedule: bool,
}

fn epoch_on(data: &Dataset, threads: usize, kernels: Gemm, shard: usize, reg: Reg) -> (Vec<f32>, Vec<f32>) {
    let Reg { dropout, l1, l2, clip, max_norm, shift, schedule } = reg;
    let topo = Topology::dense(&[784, 128, 10], Activation::Relu, Activation::Softmax, Loss::CrossEntropy).unwrap();
    let mut p = vec![0.0; topo.params_len()];
    topo.init_params(&mut p, Init::HeUniform, &mut Rng::new(1)).unwrap();
    let opt = Optimizer::new(Rule::Momentum { lr: 0.05, mu: 0.9, nesterov: true }).unwrap();
    let config = TrainerConfig {
        batch: 64,
        shard,
        threads,
        seed: 7,
        dropout,
        l1,
        l2,
        clip_norm: clip,
        max_norm,
        kernels,
        shift: shift.then_some(ImageShift { width: 28, height: 28, max: 2 }),
        ..Default::default()
    };
    let mut tr = Trainer::new(topo, p, opt, config).unwrap();
    let mut order: Vec<usize> = (0..data.len()).collect();
    Rng::new(3).shuffle(&mut order);
    let steps = data.len().div_ceil(64);
    let spec =
        TrainSpec { lr: Some(0.05), schedule: ScheduleName::Cosine, warmup: 0.25, epochs: 1, ..Default::default() };
    let rates = spec.schedule(steps);
    let losses = order
        .chunks(64)
        .enumerate()
        .map(|(s, b)| {
            if schedule {
                tr.set_lr(rates.rate(s as u64)).unwrap();
            }
            tr.step(data, b, 1, s as u64).unwrap()
        })
        .collect();
    (tr.into_params(), losses)
}

/// Each regularizer alone and all together, with a clipping bound, a max-norm bound, random
/// image shifts and a learning-rate schedule that act (checked: those runs differ from the
/// plain one), on every backend and through sgemm.
#[test]
fn regularized_epochs_are_bit_identical_for_1_2_and_3_threads_on_every_backend() {
    let data = mnist_shaped(300);
    let none = Reg { dropout: 0.0, l1: 0.0, l2: 0.0, clip: None, max_norm: None, shift: false, schedule: false };
    let regs = [
        Reg { dropout: 0.3, ..none },
        Reg { l1: 1e-3, ..none },
        Reg { l2: 1e-3, ..none },
        Reg { clip: Some(0.5), ..none },
        Reg { max_norm: Some(0.5), ..none },
        Reg { shift: true, ..none },
        Reg { schedule: true, ..none },
        Reg { dropout: 0.2, l1: 1e-4, l2: 1e-4, clip: Some(0.5), max_norm: Some(0.5), shift: true, schedule: true },
    ];
    let kernels: Vec<Gemm> = Backend::available()
        .filter(|b| *b != Backend::Reference)
        .map(|b| Gemm::new(b, Mode::Never))
        .chain([Gemm::new(Backend::detect(), Mode::Always)])
        .collect();
    for k in kernels {
        let (unclipped, _) = epoch_on(&data, 1, k, 16, none);
        for reg in regs {
            let (p1, l1) = epoch_on(&data, 1, k, 16, reg);
            if reg.clip.is_some() || reg.max_norm.is_some() || reg.shift || reg.schedule {
                assert!(p1 != unclipped, "{k:?} {reg:?}: the option never acted");
            }
            for threads in [2, 3] {
                let (p, l) = epoch_on(&data, threads, k, 16, reg);
                assert_eq!(l1, l, "{k:?} {reg:?}: losses on {threads} threads");
                assert!(p1.iter().zip(&p).all(|(a, b)| a.to_bits() == b.to_bits()), "{k:?} {reg:?}: {threads} threads");
            }
        }
    }
}

#[test]
fn weights_after_an_epoch_are_bit_identical_for_1_2_and_3_threads() {
    // 1,000 samples: 15 full batches of 64 and a partial one of 40 (shards of 16: 4, 4, .., 3).
    let data = mnist_shaped(1000);
    // Shards of 16: four per batch, run in parallel. Shards of 64: one per batch, its
    // products split by rows across the threads.
    for (dropout, shard) in [(0.0, 16), (0.25, 16), (0.0, 64), (0.25, 64)] {
        let (p1, l1) = epoch(&data, 1, dropout, Mode::Auto, shard);
        for threads in [2, 3] {
            let (p, l) = epoch(&data, threads, dropout, Mode::Auto, shard);
            assert_eq!(l1, l, "losses, {threads} threads, dropout {dropout}, shard {shard}");
            let same = p1.iter().zip(&p).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "weights differ between 1 and {threads} threads (dropout {dropout}, shard {shard})");
        }
        assert!(l1.last().unwrap() < &l1[0] || dropout > 0.0, "training moved the loss: {l1:?}");
    }
}

/// Without penalty or clipping, shard gradients are reduced and applied chunk by chunk on
/// all threads: the same bits as the whole-gradient path (forced here by a clipping bound
/// too large to act) and the same for any thread count.
#[test]
fn chunked_update_is_bit_identical_to_the_whole_gradient_path() {
    let data = mnist_shaped(500);
    for shard in [16, 64] {
        let (whole, lw) = epoch_with(&data, 1, 0.0, Mode::Auto, shard, 0.0, Some(f32::MAX));
        for threads in [1, 2, 3] {
            let (p, l) = epoch_with(&data, threads, 0.0, Mode::Auto, shard, 0.0, None);
            assert_eq!(lw, l, "losses, shard {shard}, {threads} threads");
            assert!(whole.iter().zip(&p).all(|(a, b)| a.to_bits() == b.to_bits()), "shard {shard}, {threads} threads");
        }
    }
}

#[test]
fn forced_paths_run_and_agree() {
    let data = mnist_shaped(256);
    let before = SGEMM_CALLS.load(Ordering::Relaxed);
    let (pg, lg) = epoch(&data, 2, 0.0, Mode::Always, 16);
    let after = SGEMM_CALLS.load(Ordering::Relaxed);
    assert!(after > before, "the forced sgemm path did not run");
    let (pn, ln) = epoch(&data, 2, 0.0, Mode::Never, 16);
    // Never: other tests may call sgemm concurrently, so only the gemm run is checked above;
    // the two paths must agree to rounding.
    let worst = pg.iter().zip(&pn).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("max |w_gemm - w_core| after 4 steps = {worst:e}; losses {lg:?} vs {ln:?}");
    assert!(worst < 1e-4, "{worst}");
    for (a, b) in lg.iter().zip(&ln) {
        assert!((a - b).abs() < 1e-4 * a.abs().max(1.0));
    }
}

#[test]
fn gemm_kernels_match_the_reference_on_odd_shapes() {
    let g = Gemm::new(Backend::detect(), Mode::Always);
    let mut r = Rng::new(9);
    for (batch, inputs, outputs) in [(1, 1, 1), (3, 17, 5), (7, 9, 13), (64, 784, 128), (5, 0, 3), (0, 4, 4)] {
        let d = Dims { batch, inputs, outputs };
        let v = |n: usize, r: &mut Rng| (0..n).map(|_| r.uniform_in(-1.0, 1.0)).collect::<Vec<f32>>();
        let (x, w, b, delta) =
            (v(batch * inputs, &mut r), v(outputs * inputs, &mut r), v(outputs, &mut r), v(batch * outputs, &mut r));
        let mut y = (vec![f32::NAN; batch * outputs], vec![0.0; batch * outputs]);
        g.dense_forward(d, &x, &w, &b, &mut y.0, Activation::Tanh).unwrap();
        Reference.dense_forward(d, &x, &w, &b, &mut y.1, Activation::Tanh).unwrap();
        let mut dw = (vec![0.5; outputs * inputs], vec![0.5; outputs * inputs]);
        g.weight_grad(d, &delta, &x, &mut dw.0).unwrap();
        Reference.weight_grad(d, &delta, &x, &mut dw.1).unwrap();
        let mut dx = (vec![f32::NAN; batch * inputs], vec![0.0; batch * inputs]);
        g.input_grad(d, &delta, &w, &mut dx.0).unwrap();
        Reference.input_grad(d, &delta, &w, &mut dx.1).unwrap();
        for (what, (a, b)) in [("forward", &y), ("weight_grad", &dw), ("input_grad", &dx)] {
            let worst = a.iter().zip(b.iter()).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 1e-5 * (inputs.max(batch).max(outputs) as f32), "{what} {d:?}: {worst}");
            assert!(a.iter().all(|v| !v.is_nan()), "{what} {d:?}: unwritten output");
        }
    }
}
