//! Hard-float ARM (Cortex-M4F and up): the dot products of the portable forward kernel with
//! multi-register loads, which LLVM does not form here.
//!
//! Each block loads 8 inputs and 8 weights of a row with one `vldmia` each, then does
//! `acc = acc + round(x * w)` with `vmla.f32`, in index order. `vmla` is the *chained*
//! multiply-accumulate: it rounds the product, then the sum, exactly as the separate `vmul`
//! and `vadd` of the Rust loop it replaces (and of [`super::Reference`]), so the bits are
//! the same as on any other target. (`vfma` rounds once: other bits, so it is not used.)
//!
//! Cost: 39 instructions per 32 multiply-accumulates (4 rows x 8 inputs) instead of ~120
//! from the compiler's `vldr` + `vmul` + `vadd`. The Cortex-M4 TRM lists `vmla.f32` at 3
//! cycles against 1 + 1 for `vmul` + `vadd`, but accumulations into the same register
//! forward, and half the instructions means half the fetches from flash with wait states;
//! QEMU counts instructions, not cycles, so cycle figures need hardware.
//!
//! The asm saves and restores every FP register it touches (`s0`-`s23`): stable Rust cannot
//! name single-precision registers as operands on this target (`sreg` needs `vfp2`), so they
//! are invisible to the register allocator and must come back unchanged.
//!
//! Tested on the target against [`super::Reference`] (embedded-demo `kernel-check`, run in
//! QEMU by CI) at sizes 0..=17 and larger, and end to end by the firmware hash test.

// INVARIANT (indexing): `rows` indexes `x` and the rows of `w` below `x.len()`, after
// checking `w.len() == y.len() * x.len()`.
#![allow(clippy::indexing_slicing)]

/// `y[j] = sum_k x[k] * w[j][k]` for every row `j` of `w` (row-major, `x.len()` wide), each
/// sum from `+0.0` in `k` order. Does nothing unless `w.len() == y.len() * x.len()`.
#[inline]
pub(super) fn rows(x: &[f32], w: &[f32], y: &mut [f32]) {
    let n = x.len();
    if y.len().checked_mul(n) != Some(w.len()) {
        return;
    }
    y.fill(0.0);
    let blocks = n / 8;
    if blocks > 0 {
        let mut quads = y.chunks_exact_mut(4);
        let mut rows = w.chunks_exact(n);
        for acc in &mut quads {
            let Some(w0) = rows.next() else { return };
            // SAFETY: `blocks >= 1`; `x` holds `n >= 8 * blocks` floats; rows `w0` .. `w0 + 3`
            // start `n` floats apart inside `w` (four rows remain: `w` has one per output and
            // `acc` holds four outputs), each `n` long; `acc` is 4 writable floats.
            unsafe { dot4_blocks(x.as_ptr(), w0.as_ptr(), 4 * n, blocks, acc.as_mut_ptr()) };
            rows.nth(2);
        }
        for (acc, w0) in quads.into_remainder().iter_mut().zip(rows) {
            // SAFETY: `blocks >= 1`; `x` and `w0` each hold `n >= 8 * blocks` floats.
            unsafe { dot1_blocks(x.as_ptr(), w0.as_ptr(), blocks, acc) };
        }
    }
    let body = 8 * blocks;
    if body < n {
        for (acc, row) in y.iter_mut().zip(w.chunks_exact(n)) {
            for k in body..n {
                *acc += x[k] * row[k];
            }
        }
    }
}

/// `acc[i] += x[k] * w_i[k]` for `k` in `0..8 * blocks`, in `k` order, where row `i` starts
/// at `w0 + i * stride` bytes.
///
/// # Safety
/// `blocks >= 1`; `x` and the four rows must each be valid for `8 * blocks` reads, `acc` for
/// 4 reads and writes.
#[inline(always)]
unsafe fn dot4_blocks(x: *const f32, w0: *const f32, stride: usize, blocks: usize, acc: *mut f32) {
    // SAFETY: the caller guarantees the memory; s0-s23 are saved and restored around the
    // block; every r-register used is an operand.
    unsafe {
        core::arch::asm!(
            "vpush {{s0-s23}}",
            "vldmia {acc}, {{s0-s3}}",
            "add {w1}, {w0}, {stride}",
            "add {w2}, {w1}, {stride}",
            "add {w3}, {w2}, {stride}",
            "2:",
            "vldmia {x}!, {{s8-s15}}",
            "vldmia {w0}!, {{s16-s23}}",
            "vmla.f32 s0, s8, s16",
            "vmla.f32 s0, s9, s17",
            "vmla.f32 s0, s10, s18",
            "vmla.f32 s0, s11, s19",
            "vmla.f32 s0, s12, s20",
            "vmla.f32 s0, s13, s21",
            "vmla.f32 s0, s14, s22",
            "vmla.f32 s0, s15, s23",
            "vldmia {w1}!, {{s16-s23}}",
            "vmla.f32 s1, s8, s16",
            "vmla.f32 s1, s9, s17",
            "vmla.f32 s1, s10, s18",
            "vmla.f32 s1, s11, s19",
            "vmla.f32 s1, s12, s20",
            "vmla.f32 s1, s13, s21",
            "vmla.f32 s1, s14, s22",
            "vmla.f32 s1, s15, s23",
            "vldmia {w2}!, {{s16-s23}}",
            "vmla.f32 s2, s8, s16",
            "vmla.f32 s2, s9, s17",
            "vmla.f32 s2, s10, s18",
            "vmla.f32 s2, s11, s19",
            "vmla.f32 s2, s12, s20",
            "vmla.f32 s2, s13, s21",
            "vmla.f32 s2, s14, s22",
            "vmla.f32 s2, s15, s23",
            "vldmia {w3}!, {{s16-s23}}",
            "vmla.f32 s3, s8, s16",
            "vmla.f32 s3, s9, s17",
            "vmla.f32 s3, s10, s18",
            "vmla.f32 s3, s11, s19",
            "vmla.f32 s3, s12, s20",
            "vmla.f32 s3, s13, s21",
            "vmla.f32 s3, s14, s22",
            "vmla.f32 s3, s15, s23",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstmia {acc}, {{s0-s3}}",
            "vpop {{s0-s23}}",
            acc = in(reg) acc,
            stride = in(reg) stride,
            x = inout(reg) x => _,
            w0 = inout(reg) w0 => _,
            w1 = out(reg) _,
            w2 = out(reg) _,
            w3 = out(reg) _,
            n = inout(reg) blocks => _,
        );
    }
}

/// `*acc += x[k] * w[k]` for `k` in `0..8 * blocks`, in `k` order.
///
/// # Safety
/// `blocks >= 1`; `x` and `w` must each be valid for `8 * blocks` reads.
#[inline(always)]
unsafe fn dot1_blocks(x: *const f32, w: *const f32, blocks: usize, acc: &mut f32) {
    // SAFETY: as for `dot4_blocks`, with one row.
    unsafe {
        core::arch::asm!(
            "vpush {{s0-s23}}",
            "vldr s0, [{acc}]",
            "2:",
            "vldmia {x}!, {{s8-s15}}",
            "vldmia {w0}!, {{s16-s23}}",
            "vmla.f32 s0, s8, s16",
            "vmla.f32 s0, s9, s17",
            "vmla.f32 s0, s10, s18",
            "vmla.f32 s0, s11, s19",
            "vmla.f32 s0, s12, s20",
            "vmla.f32 s0, s13, s21",
            "vmla.f32 s0, s14, s22",
            "vmla.f32 s0, s15, s23",
            "subs {n}, {n}, #1",
            "bne 2b",
            "vstr s0, [{acc}]",
            "vpop {{s0-s23}}",
            acc = in(reg) acc as *mut f32,
            x = inout(reg) x => _,
            w0 = inout(reg) w => _,
            n = inout(reg) blocks => _,
        );
    }
}
