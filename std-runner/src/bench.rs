//! `myelin bench`: the agreed CPU workloads (`../shared/peers/common.py`), measured the same
//! way as the peers so their figures can be put side by side.
//!
//! Synthetic 60,000 x 784 float32 uniform in [0, 1), labels 0..9, He-uniform init, zero
//! biases, SGD lr 0.1, softmax cross-entropy, sequential mini-batches with the last partial
//! batch included; training: 1 warm-up epoch then the median of 3; inference: batch-1024
//! throughput and batch-1 latency. The values are myelin's own (seeded) draws, not numpy's.

use crate::data::{Dataset, Targets};
use crate::error::Result;
use crate::gemm::Gemm;
use crate::io::modelfile::Saved;
use crate::train::{Trainer, TrainerConfig};
use myelin_core::quant::I8Backend;
use myelin_core::{Activation, Init, Kernels, Loss, Optimizer, Rng, Rule, Topology};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// Samples in the synthetic set.
pub const SAMPLES: usize = 60_000;
/// The workloads: (name, layer sizes, training batch).
pub const WORKLOADS: [(&str, &[usize], usize); 2] =
    [("mlp_784_128_10", &[784, 128, 10], 64), ("mlp_784_512_512_10", &[784, 512, 512, 10], 256)];

/// Training FLOPs per sample: forward + backward (= 3x forward) minus the first layer's
/// input gradient, which nobody computes (`train_exact` in common.py).
pub fn train_flops(sizes: &[usize]) -> f64 {
    let s: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum();
    (6 * s - 2 * sizes[0] * sizes[1]) as f64
}

/// Forward FLOPs per sample.
pub fn forward_flops(sizes: &[usize]) -> f64 {
    2.0 * sizes.windows(2).map(|w| w[0] * w[1]).sum::<usize>() as f64
}

/// The synthetic dataset.
pub fn synthetic() -> Dataset {
    let mut r = Rng::new(0);
    let x = (0..SAMPLES * 784).map(|_| r.uniform()).collect();
    let labels = (0..SAMPLES).map(|_| r.below(10)).collect();
    Dataset { x, features: 784, targets: Targets::Classes { labels, classes: 10, names: vec![] } }
}

/// Results for one workload at one thread count.
#[derive(Clone, Debug, Serialize)]
pub struct Figures {
    /// Workload name.
    pub workload: String,
    /// Threads used.
    pub threads: usize,
    /// Training samples per second (median epoch).
    pub train_samples_per_s: f64,
    /// Achieved training GFLOP/s (train_exact FLOPs).
    pub train_gflops: f64,
    /// Epoch wall times.
    pub epoch_seconds: Vec<f64>,
    /// Mean loss of the last timed epoch's last step.
    pub last_loss: f64,
    /// Batch-1024 inference samples per second (median of rounds).
    pub infer_b1024_samples_per_s: f64,
    /// Achieved inference GFLOP/s.
    pub infer_gflops: f64,
    /// Batch-1 latency in microseconds (median of rounds), from parameters packed once
    /// (`Topology::predict_one`).
    pub infer_b1_us: f64,
    /// The same network quantized to int8 (`myelin quantize`'s scheme, 1,000 calibration
    /// samples): batch-1024 samples per second.
    pub infer_int8_b1024_samples_per_s: f64,
    /// int8 batch-1 latency in microseconds.
    pub infer_int8_b1_us: f64,
    /// The same with 7-bit weights (`myelin quantize --weight-bits 7`): batch-1024 samples
    /// per second.
    pub infer_int8_w7_b1024_samples_per_s: f64,
    /// Its batch-1 latency in microseconds.
    pub infer_int8_w7_b1_us: f64,
    /// The int8 kernel set measured.
    pub int8_kernels: String,
    /// The float kernel set measured.
    pub float_kernels: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The benchmark network: ReLU hidden layers, softmax output, cross-entropy.
pub fn topology(sizes: &[usize]) -> Result<Topology> {
    Topology::dense(sizes, Activation::Relu, Activation::Softmax, Loss::CrossEntropy)
        .map_err(crate::Error::core("benchmark topology"))
}

/// Trains one workload for `1 + epochs` epochs on `threads` threads.
pub fn train_workload(
    data: &Dataset,
    sizes: &[usize],
    batch: usize,
    threads: usize,
    epochs: usize,
) -> Result<(Vec<f64>, f64)> {
    let topo = topology(sizes)?;
    let mut params = vec![0.0; topo.params_len()];
    topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1)).map_err(crate::Error::core("init"))?;
    let opt = Optimizer::new(Rule::Sgd { lr: 0.1 }).map_err(crate::Error::core("optimizer"))?;
    let shard = shard_for(batch);
    let config = TrainerConfig { batch, shard, threads, kernels: Gemm::from_env()?, ..TrainerConfig::default() };
    let mut tr = Trainer::new(topo, params, opt, config)?;
    let order: Vec<usize> = (0..data.len()).collect();
    let mut times = Vec::new();
    let mut last = 0.0;
    for e in 0..=epochs {
        let t0 = Instant::now();
        last = tr.run_in_pool(|tr| -> Result<f32> {
            let mut last = 0.0;
            for (s, b) in order.chunks(batch).enumerate() {
                last = tr.step(data, b, e as u64, s as u64)?;
            }
            Ok(last)
        })?;
        if e > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok((times, last as f64))
}

/// Shard size used for a batch on any number of threads: the whole batch, one shard whose large
/// products are split across the threads (by neurons for the forward and the weight
/// gradient), so every thread count trains the same bits. One shard per thread, the
/// alternative, was slower on 784-128-10 and level on 784-512-512-10 (BENCHMARKS.md,
/// "Kernel choices").
pub fn shard_for(batch: usize) -> usize {
    batch
}

/// Inference throughput (samples/s) at batch 1024 and latency (us) at batch 1.
pub fn infer_workload(data: &Dataset, sizes: &[usize], threads: usize) -> Result<(f64, f64)> {
    let topo = topology(sizes)?;
    let mut params = vec![0.0; topo.params_len()];
    topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1)).map_err(crate::Error::core("init"))?;
    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| crate::Error::Usage(e.to_string()))?;
    let k = Gemm::from_env()?;
    let batch: usize = 1024;
    let parts = threads.max(1);
    let per = batch.div_ceil(parts);
    let mut works: Vec<Vec<f32>> = (0..parts).map(|_| vec![0.0; topo.inference_len(per).unwrap_or(0)]).collect();
    let x = &data.x[..batch * 784];
    // A failing call is an error, not a fast iteration.
    let part = |i: usize, w: &mut Vec<f32>| -> Result<()> {
        let n = per.min(batch - i * per);
        let xs = &x[i * per * 784..(i * per + n) * 784];
        let len = topo.inference_len(n).map_err(crate::Error::core("sizing"))?;
        std::hint::black_box(topo.predict(&k, &params, xs, n, &mut w[..len]).map_err(crate::Error::core("predict"))?);
        Ok(())
    };
    // One thread runs on the caller's, as a program calling `predict` does (a pool's worker
    // would add a hand-over to it and back on every call).
    let mut run = || -> Result<()> {
        match works.as_mut_slice() {
            [w] => part(0, w),
            works => pool.install(|| works.par_iter_mut().enumerate().try_for_each(|(i, w)| part(i, w))),
        }
    };
    let rate = throughput(batch, &mut run)?;
    // Batch-1 latency: one thread is all a single sample can use. The parameters are packed
    // once for one sample at a time (`Topology::predict_one`: the bits of `predict` on a
    // batch of one, each layer's weights read in one pass in order), as a loop serving
    // single samples holds them.
    let native = k.backend;
    let mut w1 = vec![0.0; topo.inference_len(1).map_err(crate::Error::core("sizing"))?];
    let mut packed = vec![0.0; topo.packed_len().map_err(crate::Error::core("sizing"))?];
    topo.pack(&params, &mut packed).map_err(crate::Error::core("pack"))?;
    let mut one = |k: &dyn Kernels| -> Result<()> {
        std::hint::black_box(topo.predict_one(k, &packed, &x[..784], &mut w1).map_err(crate::Error::core("predict"))?);
        Ok(())
    };
    for _ in 0..200 {
        one(&native)?;
    }
    let mut lat = Vec::new();
    for _ in 0..7 {
        let t0 = Instant::now();
        for _ in 0..1000 {
            one(&native)?;
        }
        lat.push(t0.elapsed().as_secs_f64() / 1000.0 * 1e6);
    }
    Ok((rate, median(lat)))
}

/// The batch-1024 throughput (samples/s) and batch-1 latency (us) of `run(n, x)` over the
/// first 1024 samples split across `threads` threads (one: the caller's): [`throughput`]'s rounds, then the
/// median of 7 rounds of 1,000 single samples.
fn time_inference(
    x: &[f32],
    features: usize,
    threads: usize,
    run: &(dyn Fn(usize, &[f32]) -> Result<()> + Sync),
) -> Result<(f64, f64)> {
    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| crate::Error::Usage(e.to_string()))?;
    let batch: usize = 1024;
    let parts = threads.max(1);
    let per = batch.div_ceil(parts);
    let x = &x[..batch * features];
    let part = |i: usize| -> Result<()> {
        let n = per.min(batch - i * per);
        run(n, &x[i * per * features..(i * per + n) * features])
    };
    // One thread on the caller's, as above.
    let mut once = || -> Result<()> {
        if parts == 1 {
            return part(0);
        }
        pool.install(|| (0..parts).into_par_iter().try_for_each(part))
    };
    let rate = throughput(batch, &mut once)?;
    for _ in 0..200 {
        run(1, &x[..features])?;
    }
    let mut lat = Vec::new();
    for _ in 0..7 {
        let t0 = Instant::now();
        for _ in 0..1000 {
            run(1, &x[..features])?;
        }
        lat.push(t0.elapsed().as_secs_f64() / 1000.0 * 1e6);
    }
    Ok((rate, median(lat)))
}

/// Items per second of `run`, which processes `items`, as the peers' harness takes it
/// (`time_throughput` in ../shared/peers/common.py): two calls to warm up; the repetitions
/// doubled until they take an eighth of a second, then scaled to half a second; the median
/// of five rounds of that many calls.
fn throughput(items: usize, run: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    const ROUND_SECONDS: f64 = 0.5;
    run()?;
    run()?;
    let mut reps: usize = 1;
    let dt = loop {
        let t0 = Instant::now();
        for _ in 0..reps {
            run()?;
        }
        let dt = t0.elapsed().as_secs_f64();
        if dt >= ROUND_SECONDS / 4.0 || reps >= 1 << 16 {
            break dt;
        }
        reps *= 2;
    };
    let reps = ((reps as f64 * ROUND_SECONDS / dt.max(1e-9)) as usize).max(1);
    let mut rates = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        for _ in 0..reps {
            run()?;
        }
        rates.push((items * reps) as f64 / t0.elapsed().as_secs_f64());
    }
    Ok(median(rates))
}

/// The int8 benchmark model: the float benchmark's weights (He-uniform, seed 1) quantized
/// with 1,000 calibration samples of `data`; 7-bit weights when `narrow`.
pub fn int8_model(data: &Dataset, sizes: &[usize], narrow: bool) -> Result<crate::quant::Int8Model> {
    let topo = topology(sizes)?;
    let mut params = vec![0.0; topo.params_len()];
    topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1)).map_err(crate::Error::core("init"))?;
    let saved = Saved { topology: topo, params, standardizer: None, meta: Default::default(), int8: None };
    let calib = crate::quant::calibration_samples(data, 1000, 0);
    crate::quant::quantize(&saved, &calib, &crate::quant::Options { per_tensor: false, percentile: None, narrow })
}

/// int8 inference of [`int8_model`] on `threads` threads with kernel set `k`: (batch-1024
/// samples/s, batch-1 us); 7-bit weights when `narrow`.
pub fn infer_int8_workload(
    data: &Dataset,
    sizes: &[usize],
    threads: usize,
    k: I8Backend,
    narrow: bool,
) -> Result<(f64, f64)> {
    let q = int8_model(data, sizes, narrow)?;
    let m = q.view();
    let work_len = m.work_len(1024).map_err(crate::Error::core("sizing"))?;
    let outputs = m.outputs();
    let run = |n: usize, x: &[f32]| -> Result<()> {
        thread_local! { static BUF: std::cell::RefCell<(Vec<i32>, Vec<f32>)> = Default::default(); }
        BUF.with(|b| {
            let (work, out) = &mut *b.borrow_mut();
            work.resize(work_len, 0);
            out.resize(n * outputs, 0.0);
            m.predict(k, x, n, work, &mut out[..n * outputs]).map_err(crate::Error::core("int8 predict"))?;
            std::hint::black_box(&out);
            Ok(())
        })
    };
    time_inference(&data.x, sizes[0], threads, &run)
}

/// Measured single-call sgemm rate (GFLOP/s) on the given shape, for reference.
pub fn sgemm_rate(m: usize, k: usize, n: usize) -> f64 {
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let d = myelin_core::kernels::Dims { batch: m, inputs: k, outputs: n };
    let g = Gemm::new(myelin_core::Backend::detect(), crate::gemm::Mode::Always);
    let bias = vec![0.0; n];
    let mut reps = 1;
    loop {
        let t0 = Instant::now();
        for _ in 0..reps {
            let _ = g.dense_forward(d, &a, &b, &bias, &mut c, Activation::Identity);
        }
        let dt = t0.elapsed().as_secs_f64();
        if dt > 0.2 {
            return 2.0 * (m * k * n * reps) as f64 / dt / 1e9;
        }
        reps *= 2;
    }
}

/// Runs the named workloads at each thread count.
pub fn run(names: &[String], threads: &[usize], epochs: usize) -> Result<Vec<Figures>> {
    let data = synthetic();
    let int8 = crate::quant::backend_from_env()?;
    let float = Gemm::from_env()?.backend.name().to_string();
    let mut out = Vec::new();
    for (name, sizes, batch) in WORKLOADS {
        if !names.is_empty() && !names.iter().any(|n| n == name) {
            continue;
        }
        for &t in threads {
            let (times, last) = train_workload(&data, sizes, batch, t, epochs)?;
            let med = median(times.clone());
            let sps = SAMPLES as f64 / med;
            let (ips, lat) =
                if sizes == [784, 128, 10] { infer_workload(&data, sizes, t)? } else { (f64::NAN, f64::NAN) };
            let int8_at = |narrow| {
                if sizes == [784, 128, 10] {
                    infer_int8_workload(&data, sizes, t, int8, narrow)
                } else {
                    Ok((f64::NAN, f64::NAN))
                }
            };
            let ((qps, qlat), (q7ps, q7lat)) = (int8_at(false)?, int8_at(true)?);
            out.push(Figures {
                workload: name.to_string(),
                threads: t,
                train_samples_per_s: sps,
                train_gflops: sps * train_flops(sizes) / 1e9,
                epoch_seconds: times,
                last_loss: last,
                infer_b1024_samples_per_s: ips,
                infer_gflops: ips * forward_flops(sizes) / 1e9,
                infer_b1_us: lat,
                infer_int8_b1024_samples_per_s: qps,
                infer_int8_b1_us: qlat,
                infer_int8_w7_b1024_samples_per_s: q7ps,
                infer_int8_w7_b1_us: q7lat,
                int8_kernels: int8.name().to_string(),
                float_kernels: float.clone(),
            });
        }
    }
    Ok(out)
}
