//! Cortex-M4/M7 int8 accumulation with the DSP extension, as CMSIS-NN's
//! `arm_nn_vec_mat_mult_t_s8`: the inputs are widened to 16 bits once per layer with the
//! zero point subtracted (`x - z_in` is in -255..=255), reordered in groups of four as
//! `(x0, x2), (x1, x3)`; per row, `SXTB16` splits four weights into `(w0, w2)` and
//! (rotated by 8) `(w1, w3)`, and `SMLAD` adds two 16 x 16-bit products to the accumulator.
//! Two rows by sixteen columns per pass: `LDM` of four words of inputs, `LDRD` of eight
//! weights per row, 16 `SXTB16`, 16 `SMLAD`: 41 instructions for 32 multiply-accumulates
//! with the loop. The weights are read in place (flash). The frame (widening, pairs, a
//! last odd row and the last `inputs % 16` columns in scalar code) is the portable
//! kernel's; sums wrap as the reference's do.

use super::portable::{widened, Kernels};
use crate::quant::QuantDense;

/// `acc[s][j] = b[j] + sum_i (x[s][i] - z_in) W[j][i]` (lengths checked by the caller).
pub(crate) fn accumulate(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    widened::<Dsp>(layer, x, acc);
}

/// The Cortex-M4 kernels.
struct Dsp;

impl Kernels for Dsp {
    const WIDTH: usize = 16;

    #[inline(always)]
    fn widen(src: &[i8], z: i32, dst: &mut [i16]) {
        widen(src, z, dst)
    }

    #[inline(always)]
    fn pair(x: &[i16], w0: &[i8], w1: &[i8], s0: &mut i32, s1: &mut i32) {
        pair(x, w0, w1, s0, s1)
    }

    #[inline(always)]
    fn rows(x: &[i16], w: &[i8], acc: &mut [i32]) {
        rows(x, w, acc)
    }
}

/// The widening: per four inputs `LDR`, `SXTB16` (and rotated by 8) gives `(x0, x2)` and
/// `(x1, x3)` as 16-bit halves, `SSUB16` takes the zero point from both, `STRD` stores.
fn widen(src: &[i8], z: i32, dst: &mut [i16]) {
    let n = src.len() - src.len() % 4;
    if n == 0
        || dst.len() < n
        || !(src.as_ptr() as usize).is_multiple_of(4)
        || !(dst.as_ptr() as usize).is_multiple_of(4)
    {
        return super::portable::widen(src, z, dst);
    }
    let zz = (z as u32 & 0xFFFF) | ((z as u32) << 16);
    // SAFETY: reads `n` bytes of `src` and writes `n` i16 of `dst`, both 4-byte aligned
    // (checked above); `n` is a positive multiple of 4.
    unsafe {
        core::arch::asm!(
            "2:",
            "ldr {w}, [{s}], #4",
            "sxtb16 {a}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "ssub16 {a}, {a}, {zz}",
            "ssub16 {w}, {w}, {zz}",
            "strd {a}, {w}, [{d}], #8",
            "cmp {s}, {end}",
            "bne 2b",
            s = inout(reg) src.as_ptr() => _,
            d = inout(reg) dst.as_mut_ptr() => _,
            end = in(reg) src.as_ptr().wrapping_add(n),
            zz = in(reg) zz,
            w = out(reg) _,
            a = out(reg) _,
        );
    }
}

/// The rows kernel: the `asm!` loop over every pair of rows, the accumulators loaded and
/// stored in the loop.
fn rows(x: &[i16], w: &[i8], acc: &mut [i32]) {
    let cols = x.len();
    let pairs = acc.len() / 2;
    let fits =
        cols > 0 && cols.is_multiple_of(16) && w.len() == 2 * pairs * cols && (x.as_ptr() as usize).is_multiple_of(4);
    if !fits || pairs == 0 {
        // Not reached through the frame with whole 16-column rows; kept exact.
        for (rows, a) in w.chunks_exact(2 * cols.max(1)).zip(acc.chunks_exact_mut(2)) {
            let (w0, w1) = rows.split_at(cols);
            if let [a0, a1] = a {
                super::portable::pair(x, w0, w1, a0, a1);
            }
        }
        return;
    }
    // SAFETY: `x` is 4-byte aligned with `cols` (a multiple of 16) entries, `w` holds
    // `2 pairs` rows of `cols` bytes and `acc` `2 pairs` entries (checked just above).
    unsafe { all_rows(x.as_ptr(), w.as_ptr(), acc.as_mut_ptr(), cols, pairs) };
}

/// The pair kernel: the `asm!` loop over sixteen columns per pass.
fn pair(x: &[i16], w0: &[i8], w1: &[i8], s0: &mut i32, s1: &mut i32) {
    let cols = x.len() - x.len() % 16;
    if cols == 0 || w0.len() < cols || w1.len() < cols || !(x.as_ptr() as usize).is_multiple_of(4) {
        // Not reached through the frame (whole chunks of an aligned buffer); kept exact.
        return super::portable::pair(x, w0, w1, s0, s1);
    }
    // SAFETY: `x` holds `cols` entries and is 4-byte aligned, each row at least `cols` bytes
    // (all checked just above).
    unsafe { two_rows(x.as_ptr(), w0.as_ptr(), w1.as_ptr(), cols, s0, s1) };
}

/// Sixteen columns of two rows: `LDM` of eight widened inputs twice, `LDRD` of eight weights
/// per row twice, 16 `SXTB16`, 16 `SMLAD` (registers as in [`all_rows`]).
macro_rules! sixteen_columns {
    () => {
        concat!(
            "ldm r0!, {{r2, r3, r4, r5}}",
            "\n",
            "ldrd r10, r11, [r1], #8",
            "\n",
            "sxtb16 r12, r10",
            "\n",
            "sxtb16 r10, r10, ror #8",
            "\n",
            "smlad lr, r2, r12, lr",
            "\n",
            "smlad lr, r3, r10, lr",
            "\n",
            "sxtb16 r12, r11",
            "\n",
            "sxtb16 r11, r11, ror #8",
            "\n",
            "smlad lr, r4, r12, lr",
            "\n",
            "smlad lr, r5, r11, lr",
            "\n",
            "ldrd r10, r11, [r8], #8",
            "\n",
            "sxtb16 r12, r10",
            "\n",
            "sxtb16 r10, r10, ror #8",
            "\n",
            "smlad r9, r2, r12, r9",
            "\n",
            "smlad r9, r3, r10, r9",
            "\n",
            "sxtb16 r12, r11",
            "\n",
            "sxtb16 r11, r11, ror #8",
            "\n",
            "smlad r9, r4, r12, r9",
            "\n",
            "smlad r9, r5, r11, r9",
            "\n",
            "ldm r0!, {{r2, r3, r4, r5}}",
            "\n",
            "ldrd r10, r11, [r1], #8",
            "\n",
            "sxtb16 r12, r10",
            "\n",
            "sxtb16 r10, r10, ror #8",
            "\n",
            "smlad lr, r2, r12, lr",
            "\n",
            "smlad lr, r3, r10, lr",
            "\n",
            "sxtb16 r12, r11",
            "\n",
            "sxtb16 r11, r11, ror #8",
            "\n",
            "smlad lr, r4, r12, lr",
            "\n",
            "smlad lr, r5, r11, lr",
            "\n",
            "ldrd r10, r11, [r8], #8",
            "\n",
            "sxtb16 r12, r10",
            "\n",
            "sxtb16 r10, r10, ror #8",
            "\n",
            "smlad r9, r2, r12, r9",
            "\n",
            "smlad r9, r3, r10, r9",
            "\n",
            "sxtb16 r12, r11",
            "\n",
            "sxtb16 r11, r11, ror #8",
            "\n",
            "smlad r9, r4, r12, r9",
            "\n",
            "smlad r9, r5, r11, r9",
            "\n",
        )
    };
}

/// `s0 += sum_i x[i] w0[i]`, `s1 += sum_i x[i] w1[i]` over `cols` (a multiple of 16, > 0)
/// columns, `x` widened and reordered.
///
/// # Safety
/// `x` is 4-byte aligned with `cols` entries; `w0` and `w1` have `cols` bytes each.
#[inline(always)]
unsafe fn two_rows(x: *const i16, w0: *const i8, w1: *const i8, cols: usize, s0: &mut i32, s1: &mut i32) {
    let end = x.wrapping_add(cols);
    let (mut a0, mut a1) = (*s0, *s1);
    // SAFETY: reads `cols` i16 from `x` and `cols` bytes from each row (the caller's
    // contract); the end pointer is pushed and popped, leaving the stack as it was.
    unsafe {
        core::arch::asm!(
            "push {{r12}}",
            "2:",
            sixteen_columns!(),
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

/// `acc[j] += sum_i x[i] w[j][i]` for `2 pairs` consecutive rows of `cols` bytes: the loop
/// of [`two_rows`] inside a loop over the pairs, the pair's accumulators loaded and stored
/// with `LDRD`/`STRD`.
///
/// # Safety
/// `x` is 4-byte aligned with `cols` entries (a multiple of 16, > 0); `w` has
/// `2 pairs cols` bytes and `acc` `2 pairs` entries (`pairs > 0`), 4-byte aligned.
#[inline(always)]
unsafe fn all_rows(x: *const i16, w: *const i8, acc: *mut i32, cols: usize, pairs: usize) {
    // Stack frame of the loop: [sp] x end, [sp + 4] x start, [sp + 8] acc, [sp + 12] pairs
    // left, [sp + 16] cols, [sp + 20] 1 when the loop takes 32 columns per pass.
    // SAFETY: reads `cols` i16 from `x` per pair, every row of `w` once, and reads and writes
    // the `2 pairs` accumulators (the caller's contract); the frame is popped at the end.
    unsafe {
        core::arch::asm!(
            "sub sp, #24",
            "str r11, [sp, #20]",
            "str r0, [sp, #4]",
            "add r12, r0, r12, lsl #1",
            "str r12, [sp]",
            "str r9, [sp, #8]",
            "str lr, [sp, #12]",
            "add r8, r1, r10",
            "str r10, [sp, #16]",
            "3:",
            "ldr r0, [sp, #4]",
            "ldr r12, [sp, #8]",
            "ldrd lr, r9, [r12]",
            // Thirty-two columns per pass when the row allows (one loop test per 64 MACs).
            "ldr r12, [sp, #20]",
            "cmp r12, #0",
            "beq 5f",
            "2:",
            sixteen_columns!(),
            sixteen_columns!(),
            "ldr r12, [sp]",
            "cmp r0, r12",
            "bne 2b",
            "b 6f",
            "5:",
            sixteen_columns!(),
            "ldr r12, [sp]",
            "cmp r0, r12",
            "bne 5b",
            "6:",
            // Store the pair, step to the next: row 0 <- the row after row 1.
            "ldr r12, [sp, #8]",
            "strd lr, r9, [r12], #8",
            "str r12, [sp, #8]",
            "mov r1, r8",
            "ldr r12, [sp, #16]",
            "add r8, r8, r12",
            "ldr r12, [sp, #12]",
            "subs r12, r12, #1",
            "str r12, [sp, #12]",
            "bne 3b",
            "add sp, #24",
            inout("r0") x => _,
            inout("r1") w => _,
            inout("r12") cols => _,
            inout("r9") acc => _,
            inout("lr") pairs => _,
            inout("r10") cols => _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            inout("r11") cols.is_multiple_of(32) as usize => _,
        );
    }
}
