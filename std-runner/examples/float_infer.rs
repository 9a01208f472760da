//! Float inference of the benchmark's 784-128-10 network in a loop on one thread, for
//! profiling (`perf record target/release/examples/float_infer`): `float_infer [SECONDS]
//! [BATCH]` (batch 1024 unless given); the kernels are `MYELIN_KERNELS`' (as `myelin bench`).
use myelin_core::{Init, Rng};

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let data = myelin::bench::synthetic();
    let topo = myelin::bench::topology(&[784, 128, 10]).expect("topology");
    let mut params = vec![0.0; topo.params_len()];
    topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1)).expect("init");
    let k = myelin::gemm::Gemm::from_env().expect("kernels");
    let batch: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(1024).clamp(1, 1024);
    let mut work = vec![0.0f32; topo.inference_len(batch).expect("size")];
    let x = &data.x[..batch * 784];
    let t0 = std::time::Instant::now();
    let mut n = 0;
    while t0.elapsed().as_secs_f64() < secs {
        std::hint::black_box(topo.predict(&k, &params, x, batch, &mut work).expect("predict"));
        n += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{} b{batch} {:.0} samples/s, {:.2} us per call",
        k.backend.name(),
        (n * batch) as f64 / secs,
        secs / n as f64 * 1e6
    );
}
