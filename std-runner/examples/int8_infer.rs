//! int8 batch-1024 inference of the benchmark's 784-128-10 network in a loop, for profiling
//! (`perf record target/release/examples/int8_infer`): `int8_infer [SECONDS] [w7|w8] [BATCH]`,
//! `w7` for 7-bit weights; batch 1024 unless given.
fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let data = myelin::bench::synthetic();
    let k = myelin::quant::backend_from_env().expect("int8 kernels");
    let narrow = std::env::args().nth(2).is_some_and(|a| a == "w7");
    let q = myelin::bench::int8_model(&data, &[784, 128, 10], narrow).expect("quantize");
    let m = q.view();
    let mut work = vec![0i32; m.work_len(1024).expect("size")];
    let batch: usize = std::env::args().nth(3).and_then(|s| s.parse().ok()).unwrap_or(1024).clamp(1, 1024);
    let mut out = vec![0.0f32; batch * 10];
    let x = &data.x[..batch * 784];
    let t0 = std::time::Instant::now();
    let mut n = 0;
    while t0.elapsed().as_secs_f64() < secs {
        m.predict(k, x, batch, &mut work, &mut out).expect("predict");
        n += 1;
    }
    println!(
        "{}{} b{batch} {:.0} samples/s, {:.2} us per call",
        k.name(),
        if narrow { " w7" } else { "" },
        (n * batch) as f64 / t0.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64() / n as f64 * 1e6
    );
}
