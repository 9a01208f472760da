//! The FMA limit of one core: a register-only loop of fused multiply-adds with 12 (AVX2) or
//! 16 (AVX-512) independent accumulators (enough to cover the FMA latency on the CPUs we run
//! on; AVX2 has 16 vector registers, so 16 accumulators and the two operands would spill to
//! memory), so nothing but the FMA units bounds it. Prints GFLOP/s (2 per lane per FMA) for the 8-lane
//! (AVX2) and, where the CPU has AVX-512F, the 16-lane form; the kernels' figures in
//! BENCHMARKS.md are read against these. Then the int8 kernels' instruction limits in
//! multiply-accumulates per second: AVX2's `vpmaddwd` (and its 7-bit-weight form with
//! `vpmaddubsw`), AVX-VNNI's `vpdpbusd` on `ymm` and AVX-512 VNNI's on `zmm`, each chain
//! feeding itself. Last, the rate at which one core reads the 784-128-10 network's weights
//! (406,528 bytes, resident in L2 once read) with the widest vector loads it has: a batch-1
//! inference reads every weight once, so the time of one pass bounds its latency from below.
//!
//!     cargo run --release -p myelin-benches --example fma_peak

#[cfg(target_arch = "x86_64")]
use std::time::Instant;

/// `println!` that ends the program quietly once stdout is closed (a reader such as `head`
/// that has read enough), instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

#[cfg(target_arch = "x86_64")]
use myelin_benches::peak::{avx2, avx512, ACC, ACC2, ROUNDS};

/// The int8 kernels' multiply limit without VNNI: `vpmaddwd` (16 products of 16-bit pairs
/// summed into 8 int32) and `vpaddd` into 12 accumulators, each chain feeding itself (so
/// nothing is loop-invariant). Returns a value to keep the loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2_madd(rounds: u64) -> i32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_epi32(1); ACC2];
    let b = _mm256_set1_epi16(3);
    for _ in 0..rounds {
        for v in acc.iter_mut() {
            *v = _mm256_add_epi32(*v, _mm256_madd_epi16(*v, b));
        }
    }
    let sum = acc.iter().fold(_mm256_setzero_si256(), |x, y| _mm256_add_epi32(x, *y));
    _mm256_extract_epi32::<0>(sum)
}

/// The 7-bit-weight form: `vpmaddubsw` (32 byte products summed in pairs into 16 bits),
/// `vpmaddwd` by ones and `vpaddd`, 32 multiply-accumulates per accumulator and round.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2_maddubs(rounds: u64) -> i32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_epi32(1); ACC2];
    let (b, ones) = (_mm256_set1_epi8(3), _mm256_set1_epi16(1));
    for _ in 0..rounds {
        for v in acc.iter_mut() {
            *v = _mm256_add_epi32(*v, _mm256_madd_epi16(_mm256_maddubs_epi16(*v, b), ones));
        }
    }
    let sum = acc.iter().fold(_mm256_setzero_si256(), |x, y| _mm256_add_epi32(x, *y));
    _mm256_extract_epi32::<0>(sum)
}

/// AVX-512 VNNI: `vpdpbusd`, 64 byte products added into 16 int32 lanes, 16 accumulators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
fn vnni(rounds: u64) -> i32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_epi32(1); ACC];
    let (a, b) = (_mm512_set1_epi8(5), _mm512_set1_epi8(3));
    for _ in 0..rounds {
        for v in acc.iter_mut() {
            *v = _mm512_dpbusd_epi32(*v, a, b);
        }
    }
    _mm512_reduce_add_epi32(acc.iter().fold(_mm512_setzero_si512(), |x, y| _mm512_add_epi32(x, *y)))
}

/// AVX-VNNI: the VEX `vpdpbusd` on `ymm`, 32 byte products added into 8 int32 lanes, 12
/// accumulators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
fn avx_vnni(rounds: u64) -> i32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_epi32(1); ACC2];
    let (a, b) = (_mm256_set1_epi8(5), _mm256_set1_epi8(3));
    for _ in 0..rounds {
        for v in acc.iter_mut() {
            *v = _mm256_dpbusd_avx_epi32(*v, a, b);
        }
    }
    let sum = acc.iter().fold(_mm256_setzero_si256(), |x, y| _mm256_add_epi32(x, *y));
    _mm256_extract_epi32::<0>(sum)
}

/// Best of 5 timed calls of `f`, in giga-operations per second for `per_round` operations
/// per round.
#[cfg(target_arch = "x86_64")]
fn best_ops(per_round: usize, f: impl Fn(u64) -> i32) -> f64 {
    std::hint::black_box(f(ROUNDS / 16));
    (0..5)
        .map(|_| {
            let t0 = Instant::now();
            std::hint::black_box(f(std::hint::black_box(ROUNDS)));
            per_round as f64 * ROUNDS as f64 / t0.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

/// Best of 5 timed calls of a loop of `acc` accumulators, in GFLOP/s.
#[cfg(target_arch = "x86_64")]
fn best(lanes: usize, acc: usize, f: impl Fn(u64) -> f32) -> f64 {
    std::hint::black_box(f(ROUNDS / 16));
    (0..5)
        .map(|_| {
            let t0 = Instant::now();
            std::hint::black_box(f(std::hint::black_box(ROUNDS)));
            (2 * lanes * acc) as f64 * ROUNDS as f64 / t0.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA detected just above.
            say!("AVX2 FMA, 8 lanes x {ACC2} accumulators: {:.1} GFLOP/s", best(8, ACC2, |r| unsafe { avx2(r) }));
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F detected just above.
            say!("AVX-512 FMA, 16 lanes x {ACC} accumulators: {:.1} GFLOP/s", best(16, ACC, |r| unsafe { avx512(r) }));
        } else {
            say!("AVX-512F: not on this CPU");
        }
        // The int8 kernels' limits, in multiply-accumulates (an FMA lane is one: half its
        // GFLOP/s above).
        if is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 detected just above.
            let madd = best_ops(16 * ACC2, |r| unsafe { avx2_madd(r) });
            // SAFETY: as above.
            let maddubs = best_ops(32 * ACC2, |r| unsafe { avx2_maddubs(r) });
            say!("AVX2 int8, vpmaddwd + vpaddd (16-bit pairs), {ACC2} accumulators: {madd:.1} GMAC/s");
            say!("AVX2 int8, vpmaddubsw + vpmaddwd + vpaddd (7-bit weights), {ACC2} accumulators: {maddubs:.1} GMAC/s");
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("avxvnni") {
            // SAFETY: AVX2 and AVX-VNNI detected just above.
            let dp = best_ops(32 * ACC2, |r| unsafe { avx_vnni(r) });
            say!("AVX-VNNI int8, vpdpbusd on ymm, {ACC2} accumulators: {dp:.1} GMAC/s");
        }
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni") {
            // SAFETY: AVX-512F and VNNI detected just above.
            let dp = best_ops(64 * ACC, |r| unsafe { vnni(r) });
            say!("AVX-512 VNNI int8, vpdpbusd, {ACC} accumulators: {dp:.1} GMAC/s");
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        // The weights and biases of 784-128-10, as f32.
        let floats = 784 * 128 + 128 + 128 * 10 + 10;
        let buf: Vec<f32> = (0..floats).map(|i| (i % 7) as f32).collect();
        let wide = is_x86_feature_detected!("avx512f");
        let passes = 2000;
        let us = (0..5)
            .map(|_| {
                let t0 = Instant::now();
                for _ in 0..passes {
                    // SAFETY: AVX-512F (wide) or AVX (the build's target) detected above.
                    let b = std::hint::black_box(&buf[..]);
                    std::hint::black_box(unsafe {
                        if wide {
                            read512(b)
                        } else {
                            read256(b)
                        }
                    });
                }
                t0.elapsed().as_secs_f64() / passes as f64 * 1e6
            })
            .fold(f64::INFINITY, f64::min);
        say!(
            "reading the 784-128-10 weights ({} bytes, L2-resident) with {}-bit loads: {us:.2} us per pass, {:.1} GB/s",
            4 * floats,
            if wide { 512 } else { 256 },
            (4 * floats) as f64 / us / 1e3
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    say!("this harness measures x86_64 FMA units only");
}

/// The sum of `v` in 8 chains of 16 lanes (every float read once).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn read512(v: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); 8];
    let mut chunks = v.chunks_exact(128);
    for c in &mut chunks {
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: 16 floats from 16k inside the chunk of 128.
            *a = _mm512_add_ps(*a, unsafe { _mm512_loadu_ps(c.as_ptr().add(16 * k)) });
        }
    }
    let s = acc.iter().fold(_mm512_setzero_ps(), |x, y| _mm512_add_ps(x, *y));
    _mm512_reduce_add_ps(s) + chunks.remainder().iter().sum::<f32>()
}

/// [`read512`] with 256-bit loads.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn read256(v: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); 8];
    let mut chunks = v.chunks_exact(64);
    for c in &mut chunks {
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: 8 floats from 8k inside the chunk of 64.
            *a = _mm256_add_ps(*a, unsafe { _mm256_loadu_ps(c.as_ptr().add(8 * k)) });
        }
    }
    let mut s = [0.0f32; 8];
    let sum = acc.iter().fold(_mm256_setzero_ps(), |x, y| _mm256_add_ps(x, *y));
    // SAFETY: `s` holds 8 floats.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr(), sum) };
    s.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}
