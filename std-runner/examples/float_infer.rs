//! Float batch-1024 inference of the benchmark's 784-128-10 network in a loop on one thread,
//! for profiling (`perf record target/release/examples/float_infer`): `float_infer [SECONDS]`;
//! the kernels are `MYELIN_KERNELS`' (as `myelin bench`).
use myelin_core::{Init, Rng};

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let data = myelin::bench::synthetic();
    let topo = myelin::bench::topology(&[784, 128, 10]).expect("topology");
    let mut params = vec![0.0; topo.params_len()];
    topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1)).expect("init");
    let k = myelin::gemm::Gemm::from_env().expect("kernels");
    let mut work = vec![0.0f32; topo.inference_len(1024).expect("size")];
    let x = &data.x[..1024 * 784];
    let t0 = std::time::Instant::now();
    let mut n = 0;
    while t0.elapsed().as_secs_f64() < secs {
        std::hint::black_box(topo.predict(&k, &params, x, 1024, &mut work).expect("predict"));
        n += 1;
    }
    println!("{} b1024 {:.0} samples/s", k.backend.name(), (n * 1024) as f64 / t0.elapsed().as_secs_f64());
}
