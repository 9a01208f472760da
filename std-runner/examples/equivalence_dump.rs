//! Dumps what the fast training path does, for `scripts/numpy_equivalence.py` to replay in
//! plain numpy: initial parameters, 100 mini-batches (inputs and labels) and the loss the
//! trainer reported at each step (784-128-10, batch 64, SGD lr 0.1, shards of 32 on 2 threads,
//! sgemm products).
//!
//!     cargo run --release -p myelin --example equivalence_dump -- DIR

use myelin::bench::synthetic;
use myelin::train::{Trainer, TrainerConfig};
use myelin_core::*;
use std::io::Write;

fn write_f32(path: &std::path::Path, v: &[f32]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for x in v {
        f.write_all(&x.to_le_bytes())?;
    }
    f.flush()
}

fn main() -> anyhow::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/equivalence".into()));
    std::fs::create_dir_all(&dir)?;
    let (steps, batch) = (100, 64);
    let data = synthetic();
    let topo = Topology::dense(&[784, 128, 10], Activation::Relu, Activation::Softmax, Loss::CrossEntropy)?;
    let mut params = vec![0.0; topo.params_len()];
    topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1))?;
    write_f32(&dir.join("params0.f32"), &params)?;
    // MYELIN_KERNELS / MYELIN_GEMM choose the path (scripts/test runs the default and sgemm).
    let kernels = myelin::gemm::Gemm::from_env()?;
    println!("kernels: {} backend, sgemm {:?}", kernels.backend.name(), kernels.mode);
    let config = TrainerConfig { batch, shard: 32, threads: 2, kernels, ..TrainerConfig::default() };
    let mut tr = Trainer::new(topo, params, Optimizer::new(Rule::Sgd { lr: 0.1 })?, config)?;
    let mut order: Vec<usize> = (0..data.len()).collect();
    Rng::new(5).shuffle(&mut order);
    let used = &order[..steps * batch];
    let mut xs = Vec::with_capacity(used.len() * 784);
    for &i in used {
        xs.extend_from_slice(data.row(i));
    }
    write_f32(&dir.join("x.f32"), &xs)?;
    std::fs::write(dir.join("y.u8"), used.iter().map(|&i| data.label(i).unwrap_or(0) as u8).collect::<Vec<u8>>())?;
    let mut losses = Vec::new();
    for (s, b) in used.chunks(batch).enumerate() {
        losses.push(tr.step(&data, b, 0, s as u64)?);
    }
    write_f32(&dir.join("losses.f32"), &losses)?;
    write_f32(&dir.join("params_final.f32"), tr.params())?;
    println!("wrote {steps} steps to {}", dir.display());
    Ok(())
}
