//! Cortex-M4/M7 int8 accumulation with the DSP extension, as CMSIS-NN's
//! `arm_nn_vec_mat_mult_t_s8`: the inputs are widened to 16 bits once per layer with the
//! zero point subtracted (`x - z_in` is in -255..=255), reordered in groups of four as
//! `(x0, x2), (x1, x3)`; per row, `SXTB16` splits four weights into `(w0, w2)` and
//! (rotated by 8) `(w1, w3)`, and `SMLAD` adds two 16 x 16-bit products to the accumulator.
//! Two rows by sixteen columns per pass: `LDM` of four words of inputs, `LDRD` of eight
//! weights per row, 16 `SXTB16`, 16 `SMLAD`: 41 instructions for 32 multiply-accumulates
//! with the loop. The weights are read in place (flash). A last odd row and the last
//! `inputs % 16` columns take the scalar path; sums wrap as the reference's do.

use super::QuantDense;

/// Columns widened per pass (a stack buffer of twice as many bytes).
const CHUNK: usize = 128;

#[repr(C, align(4))]
struct Widened([i16; CHUNK]);

/// `acc[s][j] = b[j] + sum_i (x[s][i] - z_in) W[j][i]` (lengths checked by the caller).
pub(super) fn accumulate(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    let (n, m) = (layer.inputs, layer.outputs);
    let z = layer.input_zero;
    let mut buf = Widened([0; CHUNK]);
    for (xr, ar) in x.chunks_exact(n).zip(acc.chunks_exact_mut(m)) {
        ar.copy_from_slice(layer.bias);
        let mut c0 = 0;
        while c0 < n {
            let len = CHUNK.min(n - c0);
            let fast = len - len % 16;
            let Some(cols) = xr.get(c0..c0 + len) else { return };
            // (x0, x2, x1, x3) per group of four, offset removed.
            for (dst, src) in buf.0.chunks_exact_mut(4).zip(cols.chunks_exact(4)).take(fast / 4) {
                if let ([d0, d1, d2, d3], [s0, s1, s2, s3]) = (dst, src) {
                    (*d0, *d1, *d2, *d3) = (
                        (*s0 as i32 - z) as i16,
                        (*s2 as i32 - z) as i16,
                        (*s1 as i32 - z) as i16,
                        (*s3 as i32 - z) as i16,
                    );
                }
            }
            let mut rows = layer.weights.chunks_exact(n);
            let mut outs = ar.iter_mut();
            loop {
                let (Some(r0), Some(a0)) = (rows.next(), outs.next()) else { break };
                let w0 = r0.get(c0..c0 + len).unwrap_or(&[]);
                let pair = match (rows.next(), outs.next()) {
                    (Some(r1), Some(a1)) => Some((r1.get(c0..c0 + len).unwrap_or(&[]), a1)),
                    _ => None,
                };
                match pair {
                    Some((w1, a1)) if fast > 0 && w0.len() == len && w1.len() == len => {
                        let (mut s0, mut s1) = (*a0, *a1);
                        // SAFETY: `buf` holds `fast` widened columns (4-byte aligned), each row
                        // slice `len >= fast` bytes; the asm reads exactly `fast` of each and
                        // writes only the registers it names.
                        unsafe { two_rows(buf.0.as_ptr(), w0.as_ptr(), w1.as_ptr(), fast, &mut s0, &mut s1) };
                        *a0 = scalar(s0, cols, w0, fast, z);
                        *a1 = scalar(s1, cols, w1, fast, z);
                    }
                    Some((w1, a1)) => {
                        *a0 = scalar(*a0, cols, w0, 0, z);
                        *a1 = scalar(*a1, cols, w1, 0, z);
                    }
                    None => *a0 = scalar(*a0, cols, w0, 0, z),
                }
            }
            c0 += len;
        }
    }
}

/// `s + sum_{i >= from} (x[i] - z) w[i]`.
fn scalar(s: i32, x: &[i8], w: &[i8], from: usize, z: i32) -> i32 {
    x.iter().zip(w).skip(from).fold(s, |s, (&xi, &wi)| s.wrapping_add((xi as i32 - z).wrapping_mul(wi as i32)))
}

/// `s0 += sum_i x[i] w0[i]`, `s1 += sum_i x[i] w1[i]` over `cols` (a multiple of 16, > 0)
/// columns, `x` widened and reordered.
///
/// # Safety
/// `x` is 4-byte aligned with `cols` entries; `w0` and `w1` have `cols` bytes each.
#[inline(never)]
unsafe fn two_rows(x: *const i16, w0: *const i8, w1: *const i8, cols: usize, s0: &mut i32, s1: &mut i32) {
    let end = x.wrapping_add(cols);
    let (mut a0, mut a1) = (*s0, *s1);
    // SAFETY: reads `cols` i16 from `x` and `cols` bytes from each row (the caller's
    // contract); the end pointer is pushed and popped, leaving the stack as it was.
    unsafe {
        core::arch::asm!(
            "push {{r12}}",
            "2:",
            "ldm r0!, {{r2, r3, r4, r5}}",
            "ldrd r10, r11, [r1], #8",
            "sxtb16 r12, r10",
            "sxtb16 r10, r10, ror #8",
            "smlad lr, r2, r12, lr",
            "smlad lr, r3, r10, lr",
            "sxtb16 r12, r11",
            "sxtb16 r11, r11, ror #8",
            "smlad lr, r4, r12, lr",
            "smlad lr, r5, r11, lr",
            "ldrd r10, r11, [r8], #8",
            "sxtb16 r12, r10",
            "sxtb16 r10, r10, ror #8",
            "smlad r9, r2, r12, r9",
            "smlad r9, r3, r10, r9",
            "sxtb16 r12, r11",
            "sxtb16 r11, r11, ror #8",
            "smlad r9, r4, r12, r9",
            "smlad r9, r5, r11, r9",
            "ldm r0!, {{r2, r3, r4, r5}}",
            "ldrd r10, r11, [r1], #8",
            "sxtb16 r12, r10",
            "sxtb16 r10, r10, ror #8",
            "smlad lr, r2, r12, lr",
            "smlad lr, r3, r10, lr",
            "sxtb16 r12, r11",
            "sxtb16 r11, r11, ror #8",
            "smlad lr, r4, r12, lr",
            "smlad lr, r5, r11, lr",
            "ldrd r10, r11, [r8], #8",
            "sxtb16 r12, r10",
            "sxtb16 r10, r10, ror #8",
            "smlad r9, r2, r12, r9",
            "smlad r9, r3, r10, r9",
            "sxtb16 r12, r11",
            "sxtb16 r11, r11, ror #8",
            "smlad r9, r4, r12, r9",
            "smlad r9, r5, r11, r9",
            "ldr r12, [sp]",
            "cmp r0, r12",
            "bne 2b",
            "add sp, #4",
            inout("r0") x => _,
            inout("r1") w0 => _,
            inout("r8") w1 => _,
            inout("r12") end => _,
            inout("lr") a0,
            inout("r9") a1,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r10") _,
            out("r11") _,
        );
    }
    *s0 = a0;
    *s1 = a1;
}
