//! The portable int8 accumulation (the Cortex-M3/M0 path, and the fallback everywhere),
//! and the frame the Cortex-M4 kernel shares with it: per sample, the inputs are widened to
//! 16 bits in chunks of [`CHUNK`] columns with the zero point subtracted (`x - z_in` is in
//! -255..=255), reordered in groups of four as `x0, x2, x1, x3` (the order `SXTB16` splits
//! weights in); rows go in pairs through a pair kernel over the chunk's first multiple of
//! the kernel's width, and the remaining columns and a last odd row through scalar code.
//! Integer sums wrap as the reference's do, so the order changes no bit.

use crate::quant::QuantDense;

/// Columns widened per pass (a stack buffer of twice as many bytes).
pub(crate) const CHUNK: usize = 128;

/// A chunk of widened inputs, 4-byte aligned (the M4 kernel loads words of it).
#[repr(C, align(4))]
pub(crate) struct Widened(pub(super) [i16; CHUNK]);

/// The kernels a target plugs into [`widened`] (static dispatch: each inlines).
pub(crate) trait Kernels {
    /// The column multiple [`Kernels::pair`] and [`Kernels::rows`] take.
    const WIDTH: usize;

    /// Writes `x - z` for the columns of `src` (a multiple of 4) into `dst`, reordered in
    /// groups of four as `x0, x2, x1, x3`.
    fn widen(src: &[i8], z: i32, dst: &mut [i16]) {
        widen(src, z, dst)
    }

    /// Adds `sum_i x[i] w0[i]` to `s0` and `sum_i x[i] w1[i]` to `s1` over the columns of
    /// `x` (widened, reordered; a multiple of [`Kernels::WIDTH`]), weights in file order.
    fn pair(x: &[i16], w0: &[i8], w1: &[i8], s0: &mut i32, s1: &mut i32);

    /// `acc[j] = b[j] + sum_i x[i] w[j][i]` for every row `j` of `w` (an even count of rows
    /// of `x.len()` weights, `b` and `acc` one entry per row).
    fn rows(x: &[i16], w: &[i8], b: &[i32], acc: &mut [i32]) {
        let n = x.len();
        for ((rows, a), b) in w.chunks_exact(2 * n.max(1)).zip(acc.chunks_exact_mut(2)).zip(b.chunks_exact(2)) {
            let (w0, w1) = rows.split_at(n);
            if let ([a0, a1], [b0, b1]) = (a, b) {
                (*a0, *a1) = (*b0, *b1);
                Self::pair(x, w0, w1, a0, a1);
            }
        }
    }
}

/// The portable widening.
pub(crate) fn widen(src: &[i8], z: i32, dst: &mut [i16]) {
    for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        if let ([d0, d1, d2, d3], [s0, s1, s2, s3]) = (d, s) {
            (*d0, *d1, *d2, *d3) =
                ((*s0 as i32 - z) as i16, (*s2 as i32 - z) as i16, (*s1 as i32 - z) as i16, (*s3 as i32 - z) as i16);
        }
    }
}

/// `acc[s][j] = b[j] + sum_i (x[s][i] - z_in) W[j][i]` (lengths checked by the caller, at
/// least one input), rows in pairs through `pair` over multiples of `width` columns. Each
/// accumulator starts from its bias in the loop over the first chunk's rows (no copy pass:
/// a firmware links no `memcpy` for it).
pub(crate) fn widened<K: Kernels>(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    let width = K::WIDTH;
    let (n, m) = (layer.inputs, layer.outputs);
    let z = layer.input_zero;
    if n < width.max(4) {
        // Rows narrower than one step of the pair kernel: scalar rows, nothing to widen.
        for (xr, ar) in x.chunks_exact(n).zip(acc.chunks_exact_mut(m)) {
            for ((a, w), &b) in ar.iter_mut().zip(layer.weights.chunks_exact(n)).zip(layer.bias) {
                *a = tail(b, xr, w, 0, z);
            }
        }
        return;
    }
    let mut buf = Widened([0; CHUNK]);
    for (xr, ar) in x.chunks_exact(n).zip(acc.chunks_exact_mut(m)) {
        let mut c0 = 0;
        while c0 < n {
            let len = CHUNK.min(n - c0);
            let fast = len - len % width.max(4);
            let Some(cols) = xr.get(c0..c0 + len) else { return };
            if let (Some(src), Some(dst)) = (cols.get(..fast), buf.0.get_mut(..fast)) {
                K::widen(src, z, dst);
            }
            let wide = buf.0.get(..fast).unwrap_or(&[]);
            if fast == n {
                // Whole rows in one chunk: every pair in one call, then a last odd row.
                let even = m - m % 2;
                let (w, b) = (layer.weights.get(..even * n).unwrap_or(&[]), layer.bias.get(..even).unwrap_or(&[]));
                K::rows(wide, w, b, ar.get_mut(..even).unwrap_or(&mut []));
                if let (Some(a), Some(w), Some(&b)) =
                    (ar.get_mut(even), layer.weights.get(even * n..(even + 1) * n), layer.bias.get(even))
                {
                    *a = tail(b, cols, w, 0, z);
                }
                break;
            }
            let first = c0 == 0;
            let mut rows = layer.weights.chunks_exact(n);
            let mut outs = ar.iter_mut();
            let mut bias = layer.bias.iter();
            while let (Some(r0), Some(a0), Some(&b0)) = (rows.next(), outs.next(), bias.next()) {
                let w0 = r0.get(c0..c0 + len).unwrap_or(&[]);
                if first {
                    *a0 = b0;
                }
                match (rows.next(), outs.next(), bias.next()) {
                    (Some(r1), Some(a1), Some(&b1)) => {
                        if first {
                            *a1 = b1;
                        }
                        let w1 = r1.get(c0..c0 + len).unwrap_or(&[]);
                        if fast > 0 {
                            K::pair(wide, w0.get(..fast).unwrap_or(&[]), w1.get(..fast).unwrap_or(&[]), a0, a1);
                        }
                        if fast < len {
                            *a0 = tail(*a0, cols, w0, fast, z);
                            *a1 = tail(*a1, cols, w1, fast, z);
                        }
                    }
                    _ => *a0 = tail(*a0, cols, w0, 0, z),
                }
            }
            c0 += len;
        }
    }
}

/// `s + sum_{i >= from} (x[i] - z) w[i]`.
fn tail(s: i32, x: &[i8], w: &[i8], from: usize, z: i32) -> i32 {
    let (x, w) = (x.get(from..).unwrap_or(&[]), w.get(from..).unwrap_or(&[]));
    x.iter().zip(w).fold(s, |s, (&xi, &wi)| s.wrapping_add((xi as i32 - z).wrapping_mul(wi as i32)))
}

/// The portable pair kernel: four columns per step.
pub(crate) fn pair(x: &[i16], w0: &[i8], w1: &[i8], s0: &mut i32, s1: &mut i32) {
    let (mut a0, mut a1) = (*s0, *s1);
    for ((xc, c0), c1) in x.chunks_exact(4).zip(w0.chunks_exact(4)).zip(w1.chunks_exact(4)) {
        if let ([x0, x2, x1, x3], [u0, u1, u2, u3], [v0, v1, v2, v3]) = (xc, c0, c1) {
            let (x0, x1, x2, x3) = (*x0 as i32, *x1 as i32, *x2 as i32, *x3 as i32);
            a0 = a0
                .wrapping_add(x0.wrapping_mul(*u0 as i32))
                .wrapping_add(x1.wrapping_mul(*u1 as i32))
                .wrapping_add(x2.wrapping_mul(*u2 as i32))
                .wrapping_add(x3.wrapping_mul(*u3 as i32));
            a1 = a1
                .wrapping_add(x0.wrapping_mul(*v0 as i32))
                .wrapping_add(x1.wrapping_mul(*v1 as i32))
                .wrapping_add(x2.wrapping_mul(*v2 as i32))
                .wrapping_add(x3.wrapping_mul(*v3 as i32));
        }
    }
    (*s0, *s1) = (a0, a1);
}

/// The portable kernels (on Cortex-M3-class cores, the pair loop in Thumb-2).
struct Plain;

impl Kernels for Plain {
    #[cfg(all(target_arch = "arm", target_os = "none", target_has_atomic = "32", not(target_abi = "eabihf")))]
    const WIDTH: usize = 8;
    #[cfg(not(all(target_arch = "arm", target_os = "none", target_has_atomic = "32", not(target_abi = "eabihf"))))]
    const WIDTH: usize = 4;

    #[inline(always)]
    fn pair(x: &[i16], w0: &[i8], w1: &[i8], s0: &mut i32, s1: &mut i32) {
        #[cfg(all(target_arch = "arm", target_os = "none", target_has_atomic = "32", not(target_abi = "eabihf")))]
        super::thumb::pair(x, w0, w1, s0, s1);
        #[cfg(not(all(
            target_arch = "arm",
            target_os = "none",
            target_has_atomic = "32",
            not(target_abi = "eabihf")
        )))]
        pair(x, w0, w1, s0, s1);
    }
}

/// The portable accumulation.
pub(crate) fn accumulate(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    widened::<Plain>(layer, x, acc);
}

/// `clamp(round_half_away(v) + zero, -128, 127)`, without branches: with `t` the
/// truncation of `v`, `frac = v - t` is exact (below 2^23 `t` and `v` share their leading
/// bits; above it `v` is an integer and `frac` is 0), and the rounding adds the truncation
/// of `2 frac`, which is 1 from `frac >= 0.5`, -1 from `frac <= -0.5`, else 0. Conversions
/// saturate and take NaN to 0 (Rust's `as`, one `VCVT` on ARM), so `NaN` gives the zero
/// point and values beyond the range clamp. On x86_64 `v` is first clamped to +-1e9 (exact
/// in f32, same result) so that both conversions are exact, the sums cannot overflow and
/// loops of it vectorize; on
/// soft-float ARM [`crate::quant::round_half_away`]'s comparisons run instead.
#[inline(always)]
pub fn quantize_value(v: f32, zero: i32) -> i8 {
    #[cfg(target_arch = "x86_64")]
    {
        let v = if v.is_nan() { 0.0 } else { v.clamp(-1e9, 1e9) };
        // SAFETY: `v` is finite and within +-1e9, so its truncation fits i32, and `2 frac`
        // lies strictly between -2 and 2 (the unchecked conversions let the loop vectorize).
        let (t, d): (i32, i32) = unsafe {
            let t: i32 = v.to_int_unchecked();
            let frac = v - t as f32;
            (t, (frac + frac).to_int_unchecked())
        };
        // |t| <= 1e9, |d| <= 1, |zero| <= 128: the sum cannot overflow, so plain adds.
        (t + d + zero).clamp(-128, 127) as i8
    }
    #[cfg(not(any(target_arch = "x86_64", all(target_arch = "arm", not(target_abi = "eabihf")))))]
    let (t, d) = {
        let t = v as i32;
        let frac = v - t as f32;
        (t, (frac + frac) as i32)
    };
    // Soft-float ARM (Cortex-M3/M0): a conversion and an addition are library calls, and two
    // comparisons cost less; same result.
    #[cfg(all(target_arch = "arm", not(target_abi = "eabihf")))]
    let (t, d) = (crate::quant::round_half_away(v), 0);
    #[cfg(not(target_arch = "x86_64"))]
    return t.saturating_add(d).saturating_add(zero).clamp(-128, 127) as i8;
}
