//! Training throughput of `myelin bench`'s workloads at a chosen shard size:
//! `train_rate THREADS SHARD BATCH [784-128-10|784-512-512-10] [sgd|momentum|adam]` trains 1
//! warm-up and 3 timed epochs of the synthetic 60,000 samples (SGD at lr 0.1 as `myelin
//! bench`, or Nesterov momentum, or Adam at lr 0.001: `myelin train`'s default) and prints the
//! median samples/s and all three. `MYELIN_SHUFFLE=1` takes the samples in a shuffled order,
//! as `myelin train` does (each shard's rows then gathered), instead of in order. `myelin
//! bench` picks one shard per thread; this runs any shard, e.g. one shard
//! split across the threads (`train_rate 2 64 64`) against one per thread (`train_rate 2 32 64`).

use myelin::bench::{synthetic, topology};
use myelin::gemm::Gemm;
use myelin::train::{Trainer, TrainerConfig};
use myelin_core::{Init, Optimizer, Rng, Rule};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|s| s.parse::<usize>().ok());
    let (Some(threads), Some(shard), Some(batch)) = (num(0), num(1), num(2)) else {
        eprintln!("usage: train_rate THREADS SHARD BATCH [784-128-10|784-512-512-10] [sgd|momentum|adam]");
        std::process::exit(2);
    };
    let sizes: &[usize] = match args.get(3).map(String::as_str) {
        None | Some("784-128-10") => &[784, 128, 10],
        Some("784-512-512-10") => &[784, 512, 512, 10],
        Some(other) => {
            eprintln!("unknown workload {other}: 784-128-10 or 784-512-512-10");
            std::process::exit(2);
        }
    };
    let data = synthetic();
    let topo = topology(sizes).expect("topology");
    let mut params = vec![0.0; topo.params_len()];
    topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1)).expect("init");
    let rule = match args.get(4).map(String::as_str) {
        None | Some("sgd") => Rule::Sgd { lr: 0.1 },
        Some("momentum") => Rule::Momentum { lr: 0.05, mu: 0.9, nesterov: true },
        Some("adam") => Rule::adam(0.001),
        Some(other) => {
            eprintln!("unknown optimizer {other}: sgd, momentum or adam");
            std::process::exit(2);
        }
    };
    let opt = Optimizer::new(rule).expect("optimizer");
    let kernels = Gemm::from_env().expect("MYELIN_KERNELS / MYELIN_GEMM");
    let config = TrainerConfig { batch, shard, threads, kernels, ..TrainerConfig::default() };
    let mut tr = Trainer::new(topo, params, opt, config).expect("trainer");
    // `MYELIN_SHUFFLE=1`: a shuffled order, as `myelin train` draws every epoch (each shard's
    // rows then gathered into its arena); else the rows in order, as `myelin bench`.
    let mut order: Vec<usize> = (0..data.len()).collect();
    if std::env::var("MYELIN_SHUFFLE").is_ok_and(|v| v == "1") {
        Rng::new(7).shuffle(&mut order);
    }
    let mut rates = vec![];
    for e in 0..4 {
        let t0 = Instant::now();
        tr.run_in_pool(|tr| {
            for (s, b) in order.chunks(batch).enumerate() {
                tr.step(&data, b, e, s as u64).expect("step");
            }
        });
        if e > 0 {
            rates.push(data.len() as f64 / t0.elapsed().as_secs_f64());
        }
    }
    let all: Vec<u64> = rates.iter().map(|r| *r as u64).collect();
    rates.sort_by(f64::total_cmp);
    println!("threads {threads} shard {shard} batch {batch}: {:.0} samples/s (epochs {all:?})", rates[1]);
}
