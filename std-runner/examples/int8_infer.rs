//! int8 batch-1024 inference of the benchmark's 784-128-10 network in a loop, for profiling
//! (`perf record target/release/examples/int8_infer`): `int8_infer [SECONDS] [w7]`, `w7` for
//! 7-bit weights.
fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let data = myelin::bench::synthetic();
    let k = myelin::quant::backend_from_env().expect("int8 kernels");
    let narrow = std::env::args().nth(2).is_some_and(|a| a == "w7");
    let q = myelin::bench::int8_model(&data, &[784, 128, 10], narrow).expect("quantize");
    let m = q.view();
    let mut work = vec![0i32; m.work_len(1024).expect("size")];
    let mut out = vec![0.0f32; 1024 * 10];
    let x = &data.x[..1024 * 784];
    let t0 = std::time::Instant::now();
    let mut n = 0;
    while t0.elapsed().as_secs_f64() < secs {
        m.predict(k, x, 1024, &mut work, &mut out).expect("predict");
        n += 1;
    }
    println!(
        "{}{} b1024 {:.0} samples/s",
        k.name(),
        if narrow { " w7" } else { "" },
        (n * 1024) as f64 / t0.elapsed().as_secs_f64()
    );
}
