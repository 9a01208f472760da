//! `myelin bench`: the agreed CPU workloads, as JSON beside the peers'.

use crate::BenchArgs;
use myelin::bench;
use myelin::error::Result;
use myelin::io::modelfile;

/// Runs the workloads and prints JSON (stdout) and a summary line each (stderr).
pub fn run(args: BenchArgs) -> Result<()> {
    let figs = bench::run(&args.workload, &args.threads, args.epochs)?;
    let rate = bench::sgemm_rate(256, 784, 512);
    let json = serde_json::json!({
        "framework": "myelin",
        "sgemm_gflops_256x784x512_1t": rate,
        "results": figs,
    });
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    println!("{text}");
    if let Some(p) = &args.json {
        modelfile::write_atomic(p, text.as_bytes())?;
    }
    for f in &figs {
        eprintln!(
            "{:<20} {}t  train {:>9.0} samples/s ({:.1} GFLOP/s, {:.0}% of sgemm)  infer b1024 {:>9.0}/s  b1 {:.2} us  \
             int8 ({}) b1024 {:>9.0}/s  b1 {:.2} us",
            f.workload,
            f.threads,
            f.train_samples_per_s,
            f.train_gflops,
            100.0 * f.train_gflops / (rate * f.threads as f64),
            f.infer_b1024_samples_per_s,
            f.infer_b1_us,
            f.int8_kernels,
            f.infer_int8_b1024_samples_per_s,
            f.infer_int8_b1_us
        );
    }
    Ok(())
}
