//! The share of one core's FMA limit that each float workload of `myelin bench` reaches,
//! with the limit and the workloads measured in the same process, turn about: one burst of
//! the register-only FMA loop (`myelin_benches::peak`), then one call of each workload, for
//! `ROUNDS` rounds (100 unless given; each workload runs twice in a round, the second call
//! timed, so that it starts from its own data in cache as it does when called in a loop).
//! On a host whose speed moves from minute to minute, the two then see the same conditions;
//! each keeps its fastest time (what the core does when nothing else holds it back) and its
//! median (what a typical moment gives), and the shares are taken fastest to fastest and
//! median to median.
//!
//! Workloads, on one thread, for each float kernel set the CPU runs (`simd8` against the
//! AVX2 limit, `simd16` against the AVX-512 one): the 784-128-10 prediction at batch 1024
//! (softmax included, `Topology::predict`), and one SGD step of 784-128-10 at batch 64
//! and of 784-512-512-10 at batch 256 (`Trainer::step`, the exact training FLOPs of
//! `myelin bench`).
//!
//!     cargo run --release -p myelin-benches --example peak_share [ROUNDS]

#[cfg(target_arch = "x86_64")]
use {
    myelin::bench::{forward_flops, synthetic, topology, train_flops},
    myelin::gemm::{Gemm, Mode},
    myelin::train::trainer::{Trainer, TrainerConfig},
    myelin_core::kernels::Backend,
    myelin_core::{Init, Optimizer, Rng, Rule},
    std::hint::black_box,
    std::time::Instant,
};

/// FMA rounds per burst of the limit's loop (about a millisecond).
#[cfg(target_arch = "x86_64")]
const BURST: u64 = 1 << 18;

/// Fastest and median of `v`.
#[cfg(target_arch = "x86_64")]
fn best_median(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    run();
    #[cfg(not(target_arch = "x86_64"))]
    println!("this harness measures x86_64 FMA units only");
}

#[cfg(target_arch = "x86_64")]
fn run() {
    use myelin_benches::peak::{avx2, avx512, ACC, ACC2};
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100).max(3);
    let data = synthetic();
    println!("| kernels | workload | fastest GFLOP/s | limit | share | median GFLOP/s | limit | share |");
    println!("|---|---|---|---|---|---|---|---|");
    for backend in Backend::available().filter(|b| matches!(b.name(), "simd8" | "simd16")) {
        let wide = backend.name() == "simd16";
        let limit = |r: u64| -> f64 {
            let t = Instant::now();
            // SAFETY: `Backend::available` lists simd16 only where AVX-512F runs and simd8
            // only where AVX2 and FMA run.
            black_box(unsafe {
                if wide {
                    avx512(black_box(r))
                } else {
                    avx2(black_box(r))
                }
            });
            let flops = if wide { 2 * 16 * ACC } else { 2 * 8 * ACC2 } as f64 * r as f64;
            t.elapsed().as_secs_f64() / flops
        };
        let k = Gemm::new(backend, Mode::Auto);
        // The prediction.
        let small = topology(&[784, 128, 10]).expect("topology");
        let mut params = vec![0.0; small.params_len()];
        small.init_params(&mut params, Init::HeUniform, &mut Rng::new(1)).expect("init");
        let mut work = vec![0.0f32; small.inference_len(1024).expect("size")];
        let x = &data.x[..1024 * 784];
        // The training steps.
        let trainer = |sizes: &[usize], batch: usize| {
            let topo = topology(sizes).expect("topology");
            let mut p = vec![0.0; topo.params_len()];
            topo.init_params(&mut p, Init::HeUniform, &mut Rng::new(1)).expect("init");
            let opt = Optimizer::new(Rule::Sgd { lr: 0.1 }).expect("optimizer");
            let config = TrainerConfig { batch, shard: batch, threads: 1, kernels: k, ..TrainerConfig::default() };
            Trainer::new(topo, p, opt, config).expect("trainer")
        };
        let mut t128 = trainer(&[784, 128, 10], 64);
        let mut t512 = trainer(&[784, 512, 512, 10], 256);
        let order: Vec<usize> = (0..data.len()).collect();
        let step = |tr: &mut Trainer, batch: usize, i: usize| -> f64 {
            let b = &order[(i * batch) % (data.len() - batch)..][..batch];
            let t = Instant::now();
            black_box(tr.step(&data, b, 0, i as u64).expect("step"));
            t.elapsed().as_secs_f64()
        };
        // Seconds per FLOP: the limit, the prediction, the two steps.
        let mut s: [Vec<f64>; 4] = Default::default();
        for i in 0..rounds + 2 {
            let lim = limit(BURST);
            // One call to bring the weights back into cache, one timed.
            black_box(small.predict(&k, &params, x, 1024, &mut work).expect("predict"));
            let t = Instant::now();
            black_box(small.predict(&k, &params, x, 1024, &mut work).expect("predict"));
            let pred = t.elapsed().as_secs_f64() / (1024.0 * forward_flops(&[784, 128, 10]));
            step(&mut t128, 64, 2 * i);
            let a = step(&mut t128, 64, 2 * i + 1) / (64.0 * train_flops(&[784, 128, 10]));
            step(&mut t512, 256, 2 * i);
            let b = step(&mut t512, 256, 2 * i + 1) / (256.0 * train_flops(&[784, 512, 512, 10]));
            if i >= 2 {
                for (v, x) in s.iter_mut().zip([lim, pred, a, b]) {
                    v.push(x);
                }
            }
        }
        let [lim, rest @ ..] = &mut s;
        let (lb, lm) = best_median(lim);
        let names = ["infer 784-128-10 b1024", "train 784-128-10 b64", "train 784-512-512-10 b256"];
        for (name, v) in names.iter().zip(rest.iter_mut()) {
            let (b, m) = best_median(v);
            println!(
                "| {} | {name} | {:.1} | {:.1} | {:.0}% | {:.1} | {:.1} | {:.0}% |",
                backend.name(),
                1e-9 / b,
                1e-9 / lb,
                100.0 * lb / b,
                1e-9 / m,
                1e-9 / lm,
                100.0 * lm / m
            );
        }
    }
}
