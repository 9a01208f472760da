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

use super::portable::{widened, Kernels, CHUNK};
use crate::quant::QuantDense;

/// `acc[s][j] = b[j] + sum_i (x[s][i] - z_in) W[j][i]` (lengths checked by the caller).
pub(crate) fn accumulate(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    if !fused(layer, x, acc, None, true) {
        widened::<Dsp>(layer, x, acc);
    }
}

/// The accumulators' requantization into `y` in one pass per pair of rows (lengths checked
/// by the caller), the accumulators kept in `acc` when `keep` (else `acc` is working space
/// with unspecified contents); `false` (nothing done) when the layer does not suit
/// [`fused`].
pub(crate) fn dense(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], y: &mut [i8], keep: bool) -> bool {
    layer.requantizes_bounded() && layer.max == i8::MAX && fused(layer, x, acc, Some(y), keep)
}

/// Whole layers of `16 k <= CHUNK` inputs and at least two outputs: per sample, the inputs
/// widened once, then [`pairs`] runs every pair of rows, its accumulators starting from
/// the bias (read in place), stored when `keep` or without `y` and, with `y`, requantized
/// in registers after the pair's loop; a last odd row in scalar code. `false` (nothing
/// done) for any other shape.
fn fused(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], y: Option<&mut [i8]>, keep: bool) -> bool {
    let (n, m) = (layer.inputs, layer.outputs);
    let even = m & !1;
    if n == 0 || !n.is_multiple_of(16) || n > CHUNK || m < 2 || !(x.as_ptr() as usize).is_multiple_of(4) {
        return false;
    }
    let (Some(w), Some(bias)) = (layer.weights.get(..even * n), layer.bias.get(..even)) else { return false };
    // `LDRD` needs word-aligned weights (a file's are; a layer built in memory may not be).
    if !(w.as_ptr() as usize).is_multiple_of(4) {
        return false;
    }
    let batch = acc.len() / m;
    if x.len() != batch * n || acc.len() != batch * m {
        return false;
    }
    let mut frame = Pairs {
        x: core::ptr::null(),
        bias: bias.as_ptr(),
        pairs: even / 2,
        cols: n,
        mult: layer.multiplier.as_ptr(),
        shift: layer.shift.as_ptr(),
        acc: core::ptr::null_mut(),
        y: core::ptr::null_mut(),
        zero: layer.output_zero.wrapping_mul(2).wrapping_add(1),
        lo: layer.min as i32,
    };
    let mut y = match y {
        Some(y) if y.len() != acc.len() || layer.multiplier.len() < even || layer.shift.len() < even => return false,
        Some(y) => Some(y.chunks_exact_mut(m)),
        None => None,
    };
    // The widened inputs end where the buffer does, at a multiple of 256 bytes: the column
    // loop's end test is on its pointer's low byte. Written by `widen_into` before the kernel
    // reads them: no zeroing pass.
    let mut buf = core::mem::MaybeUninit::<EndAligned>::uninit();
    let wide = (buf.as_mut_ptr() as *mut i16).wrapping_add(CHUNK - n);
    frame.x = wide;
    for (xr, ar) in x.chunks_exact(n).zip(acc.chunks_exact_mut(m)) {
        // SAFETY: `wide` has room for n <= CHUNK i16 (the last `n` of `buf`) and is 4-byte
        // aligned (`EndAligned`, `n` even), as is `xr` (`x` is, and `n` is a positive
        // multiple of 16: checked above).
        unsafe { widen_into(xr.as_ptr(), n, layer.input_zero, wide) };
        let yr = y.as_mut().and_then(|rows| rows.next());
        frame.y = yr.as_ref().map_or(core::ptr::null_mut(), |yr| yr.as_ptr() as *mut i8);
        frame.acc = if keep || frame.y.is_null() { ar.as_mut_ptr() } else { core::ptr::null_mut() };
        // SAFETY: `wide` holds the sample's `n` widened inputs (4-byte aligned, `n` a positive
        // multiple of 16) and ends at a multiple of 256 bytes, `w` the `even` rows of `n` weights, `bias` and `ar` (when not
        // null) at least `even` entries; with `y`, the multipliers, shifts (checked before the
        // loop) and `yr` (a row of `m` outputs) too; one of `acc` and `y` is not null.
        unsafe { pairs(&frame, w.as_ptr()) };
        if even < m {
            last_row(layer, layer.weights.get(even * n..).unwrap_or(&[]), xr, ar, yr);
        }
    }
    true
}

/// The last row `j` of a layer with an odd number of outputs, in scalar code (`row` its
/// weights); with `y`, requantized as [`dense`]'s layers are (bounded).
#[inline(never)]
fn last_row(layer: &QuantDense<'_>, row: &[i8], xr: &[i8], ar: &mut [i32], yr: Option<&mut [i8]>) {
    let j = layer.outputs - 1;
    let mut sum = layer.bias.get(j).copied().unwrap_or(0);
    for (&xi, &wi) in xr.iter().zip(row) {
        sum = sum.wrapping_add((xi as i32 - layer.input_zero).wrapping_mul(wi as i32));
    }
    if let Some(a) = ar.get_mut(j) {
        *a = sum;
    }
    if let (Some(o), Some(mult), Some(shift)) =
        (yr.and_then(|yr| yr.get_mut(j..j + 1)), layer.multiplier.get(j..j + 1), layer.shift.get(j..j + 1))
    {
        let (lo, hi) = (layer.min as i32, layer.max as i32);
        crate::quant::requantize_bounded(core::slice::from_ref(&sum), o, mult, shift, layer.output_zero, lo, hi);
    }
}

/// [`CHUNK`] widened inputs at a multiple of 256 bytes (so is their end).
#[repr(C, align(256))]
struct EndAligned([i16; CHUNK]);

const _: () = assert!(core::mem::size_of::<EndAligned>() == 256);

/// What [`pairs`] reads, in the order its prologue pushes it: one sample's widened inputs
/// (ending at a multiple of 256 bytes), the bias, the number of row pairs, the columns, the multipliers and
/// shifts, where the accumulators and the requantized outputs go (each when not null, at
/// least one of them), twice the output zero point plus one, and the low clamp.
#[repr(C)]
struct Pairs {
    x: *const i16,
    bias: *const i32,
    pairs: usize,
    cols: usize,
    mult: *const i32,
    shift: *const i8,
    acc: *mut i32,
    y: *mut i8,
    zero: i32,
    lo: i32,
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
}

/// The widening: per four inputs, `SXTB16` (and rotated by 8) of their word gives
/// `(x0, x2)` and `(x1, x3)` as 16-bit halves, `SSUB16` takes the zero point from both;
/// eight inputs per step (`LDRD`, two `STRD`), the last four of a row of `8 k + 4` in
/// portable code.
fn widen(src: &[i8], z: i32, dst: &mut [i16]) {
    let n = src.len() - src.len() % 8;
    if n == 0
        || dst.len() < n
        || !(src.as_ptr() as usize).is_multiple_of(4)
        || !(dst.as_ptr() as usize).is_multiple_of(4)
    {
        return super::portable::widen(src, z, dst);
    }
    // SAFETY: `src` has `n` bytes and `dst` room for `n` i16, both 4-byte aligned (checked
    // above); `n` is a positive multiple of 8.
    unsafe { widen_into(src.as_ptr(), n, z, dst.as_mut_ptr()) }
    if let (Some(s), Some(d)) = (src.get(n..), dst.get_mut(n..)) {
        super::portable::widen(s, z, d);
    }
}

/// [`widen`] between raw pointers (`dst` may be uninitialized memory); one copy of the
/// loop, whatever its callers.
///
/// # Safety
/// `src` has `n` bytes and `dst` room for `n` i16, both 4-byte aligned; `n` is a positive
/// multiple of 8.
#[inline(never)]
unsafe fn widen_into(src: *const i8, n: usize, z: i32, dst: *mut i16) {
    let zz = (z as u32 & 0xFFFF) | ((z as u32) << 16);
    // SAFETY: reads `n` bytes of `src` and writes `n` i16 of `dst` (the caller's contract).
    unsafe {
        core::arch::asm!(
            "2:",
            "ldrd {u}, {v}, [{s}], #8",
            "sxtb16 {a}, {u}",
            "sxtb16 {u}, {u}, ror #8",
            "ssub16 {a}, {a}, {zz}",
            "ssub16 {u}, {u}, {zz}",
            "strd {a}, {u}, [{d}], #8",
            "sxtb16 {a}, {v}",
            "sxtb16 {v}, {v}, ror #8",
            "ssub16 {a}, {a}, {zz}",
            "ssub16 {v}, {v}, {zz}",
            "strd {a}, {v}, [{d}], #8",
            "cmp {s}, {end}",
            "bne 2b",
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            end = in(reg) src.wrapping_add(n),
            zz = in(reg) zz,
            u = out(reg) _,
            v = out(reg) _,
            a = out(reg) _,
            options(nostack),
        );
    }
}

/// The pair kernel: the `asm!` loop over sixteen columns per pass.
fn pair(x: &[i16], w0: &[i8], w1: &[i8], s0: &mut i32, s1: &mut i32) {
    let cols = x.len() - x.len() % 16;
    let aligned = [x.as_ptr() as usize, w0.as_ptr() as usize, w1.as_ptr() as usize].iter().all(|a| a % 4 == 0);
    if cols == 0 || w0.len() < cols || w1.len() < cols || !aligned {
        // Weights not word-aligned (`LDRD` needs it: a layer built in memory), or not whole
        // chunks of an aligned buffer; kept exact.
        return super::portable::pair(x, w0, w1, s0, s1);
    }
    // SAFETY: `x` holds `cols` entries and is 4-byte aligned, each row at least `cols` bytes
    // (all checked just above).
    unsafe { two_rows(x.as_ptr(), w0.as_ptr(), w1.as_ptr(), cols, s0, s1) };
}

/// Eight columns of two rows: `LDM` of eight widened inputs, `LDRD` of eight weights per
/// row, 8 `SXTB16`, 8 `SMLAD` (registers as in [`pairs`]).
macro_rules! eight_columns {
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
        )
    };
}

/// Sixteen columns of two rows: [`eight_columns`] twice.
macro_rules! sixteen_columns {
    () => {
        concat!(eight_columns!(), eight_columns!())
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

/// `$a = SRDHM($a, $m)` for a bounded accumulator (`|$a| < 2^29`, so `2 $a` fits):
/// `(2 a M + 2^31) >> 32 = (a M + 2^30) >> 31`, `LSL` and `SMMULR`.
macro_rules! high_multiply {
    ($a:literal, $m:literal) => {
        concat!("lsl ", $a, ", ", $a, ", #1\n", "smmulr ", $a, ", ", $a, ", ", $m, "\n")
    };
}

/// `$a` divided by `2^e` (`e` in `$e`, 0..=31), rounded to nearest, ties away from zero,
/// plus the zero point `z`, saturated to int8, for `|$a| < 2^29`: with `r10 = 2 z + 1`,
/// `(((2 a - [a < 0]) >> e) + 2 z + 1) >> 1` (the rounding's `+ 1` and the zero point in
/// one addition, `2 z` being even), the last halving inside `SSAT` (`r4` scratch).
macro_rules! rounding_shift_zero {
    ($a:literal, $e:literal) => {
        concat!(
            "lsl r4, ",
            $a,
            ", #1\n",
            "sub r4, r4, ",
            $a,
            ", lsr #31\n",
            "asr r4, r4, ",
            $e,
            "\n",
            "add r4, r4, r10\n",
            "ssat ",
            $a,
            ", #8, r4, asr #1\n",
        )
    };
}

/// `$a = max($a, lo)`, the low clamp in `r11` (ReLU's clamp at a zero point above -128).
macro_rules! low_clamp {
    ($a:literal) => {
        concat!("cmp ", $a, ", r11\n", "it lt\n", "movlt ", $a, ", r11\n")
    };
}

/// The requantization of a pair of bounded accumulators (`lr`, `r9`) into two outputs
/// stored at `r12` (post-incremented), multipliers and shifts read through the frame's
/// pointers ([`pairs`]'s frame and registers); the low clamp only when it is above -128
/// (`SSAT` gives -128 already).
macro_rules! requantize_pair {
    () => {
        concat!(
            // The high multiplies.
            "ldr r10, [sp, #28]\n",
            "ldrd r2, r3, [r10], #8\n",
            "str r10, [sp, #28]\n",
            high_multiply!("lr", "r2"),
            high_multiply!("r9", "r3"),
            // The rounding right shifts by e = -shift, with the zero point.
            "ldr r10, [sp, #32]\n",
            "ldrsb r2, [r10], #1\n",
            "ldrsb r3, [r10], #1\n",
            "str r10, [sp, #32]\n",
            "rsb r2, r2, #0\n",
            "rsb r3, r3, #0\n",
            "ldrd r10, r11, [sp, #44]\n",
            rounding_shift_zero!("lr", "r2"),
            rounding_shift_zero!("r9", "r3"),
            "cmn r11, #128\n",
            "beq 10f\n",
            low_clamp!("lr"),
            low_clamp!("r9"),
            "10:\n",
            "strb lr, [r12], #1\n",
            "strb r9, [r12], #1\n",
        )
    };
}

/// Every pair of rows of one sample: the accumulators start from the bias, the column loop
/// runs (two [`sixteen_columns`] per pass, entered at the second when the row has an odd
/// number of sixteens), they are stored when `f.acc` is not null, and when `f.y` is not
/// null requantized in registers as [`crate::quant::QuantDense::requantize_rows`] computes
/// them for bounded layers. Where the loop is entered, and where a pair goes after it and
/// after the store, are chosen once: each pair branches with one `LDR PC`.
///
/// ```text
/// high = (2 acc M + 2^31) >> 32                            LSL, SMMULR
/// y    = ssat8((((2 high - [high < 0]) >> e) + 2 z_out + 1) >> 1)
///                                                          LSL, SUB, ASR, ADD, SSAT
/// y    = max(y, lo)     (when lo > -128)                   CMP, IT, MOV
/// ```
///
/// # Safety
/// `f.x` is 4-byte aligned with `f.cols` entries (a positive multiple of 16, at most 128)
/// ending at a multiple of 256 bytes; `w` has `2 f.pairs f.cols` bytes (`f.pairs > 0`); `f.bias` has `2 f.pairs`
/// entries; when `f.acc` is not null, it has `2 f.pairs` entries and is 4-byte aligned;
/// when `f.y` is not null, `f.mult`, `f.shift` and `f.y` have `2 f.pairs` entries; `f.acc`
/// and `f.y` are not both null. (For the outputs to be the definition's, the layer is
/// bounded: [`crate::quant::Known::bounded`].)
#[inline(never)]
unsafe fn pairs(f: &Pairs, w: *const i8) {
    // Stack frame: [sp] the column loop's entry, [sp, #4] where a pair goes after its loop
    // (the store, or the requantization) and [sp, #8] after the store (the requantization,
    // or the next pair), each with the Thumb bit set; then the prologue's PUSH: [sp, #12] x,
    // [sp, #16] bias, [sp, #20] the end of `w` (in place of the pair count), [sp, #24]
    // cols, [sp, #28] multipliers, [sp, #32] shifts, [sp, #36] acc, [sp, #40] y, [sp, #44]
    // 2 z_out + 1, [sp, #48] low clamp, [sp, #52] w.
    // SAFETY: reads `cols` i16 from `x` per pair (up to the multiple of 256 bytes where they
    // end, the column loop's end test), every row of `w` once, the bias, and with `y` the
    // multipliers and shifts, `2 pairs` each; writes `2 pairs` accumulators (when `acc` is
    // not null) and outputs (when `y` is not null), the caller's contract; the frame is
    // popped at the end. The computed branches go to labels of this block, chosen in the
    // prologue.
    unsafe {
        core::arch::asm!(
            "push.w {{r0, r1, r2, r3, r4, r5, r8, r9, r10, r11, lr}}",
            "sub sp, #12",
            // After the loop: the store when acc is not null, else the requantization.
            "adr r12, 6f",
            "cmp r8, #0",
            "beq 9f",
            "adr r12, 5f",
            "9:",
            "orr r12, r12, #1",
            "str r12, [sp, #4]",
            // After the store: the requantization when y is not null, else the next pair.
            "adr r12, 7f",
            "cmp r9, #0",
            "beq 11f",
            "adr r12, 6f",
            "11:",
            "orr r12, r12, #1",
            "str r12, [sp, #8]",
            // The column loop's entry: its second half when cols is an odd multiple of 16.
            "adr r12, 2f",
            "tst r3, #16",
            "beq 8f",
            "adr r12, 4f",
            "8:",
            "orr r12, r12, #1",
            "str r12, [sp]",
            // The end of the weights: w + 2 pairs cols.
            "mul r12, r2, r3",
            "add r12, lr, r12, lsl #1",
            "str r12, [sp, #20]",
            "mov r1, lr",
            "add r8, r1, r3",
            "3:",
            "ldr r0, [sp, #12]",
            "ldr r12, [sp, #16]",
            "ldrd lr, r9, [r12], #8",
            "str r12, [sp, #16]",
            "ldr pc, [sp]",
            "2:",
            sixteen_columns!(),
            "4:",
            sixteen_columns!(),
            "tst r0, #255",
            "bne 2b",
            "ldr pc, [sp, #4]",
            "5:",
            "ldr r12, [sp, #36]",
            "strd lr, r9, [r12], #8",
            "str r12, [sp, #36]",
            "ldr pc, [sp, #8]",
            "6:",
            "ldr r12, [sp, #40]",
            requantize_pair!(),
            "str r12, [sp, #40]",
            "7:",
            // Next pair: row 0 <- the row after row 1, until row 0 reaches the end of `w`.
            "mov r1, r8",
            "ldr r12, [sp, #24]",
            "add r8, r8, r12",
            "ldr r12, [sp, #20]",
            "cmp r1, r12",
            "bne 3b",
            "add sp, #56",
            inout("r0") f.x => _,
            inout("r1") f.bias => _,
            inout("r2") f.pairs => _,
            inout("r3") f.cols => _,
            inout("r4") f.mult => _,
            inout("r5") f.shift => _,
            inout("r8") f.acc => _,
            inout("r9") f.y => _,
            inout("r10") f.zero => _,
            inout("r11") f.lo => _,
            inout("lr") w => _,
            out("r12") _,
        );
    }
}

/// The input quantizer of a network with an offset and a factor per input (rows of
/// `input.mean.len()` features), four inputs per step: `VLDM` of four inputs, offsets and
/// factors, `VSUB` and `VMUL` (the same two IEEE-754 operations as
/// [`crate::quant::quantize_value`]'s caller), then the rounding in two steps:
/// `VCVT.S16.F32 #1` gives `u = trunc(2 v)` saturated to 16 bits (sign-extended; NaN is 0),
/// and `round_half_away(v) + z = (u - [u < 0] + 2 z + 1) >> 1` (for `u >= 0`,
/// `floor((floor(2v) + 1) / 2) = floor(v + 1/2)`; for `u < 0`, `floor(u / 2) =
/// -floor(-v + 1/2)`), `SSAT` with its shift for the clamp. Beyond 16 bits every output
/// saturates either way. `false` (nothing done) for one quantizer shared by every input.
pub(crate) fn quantize(input: &crate::quant::QuantInput<'_>, x: &[f32], q: &mut [i8]) -> bool {
    let n = input.mean.len();
    if n < 4 || input.factor.len() != n {
        return false;
    }
    let fast = n - n % 4;
    let c = 2 * input.zero as i32 + 1;
    let (mean, factor) = (input.mean.as_ptr(), input.factor.as_ptr());
    for (xr, qr) in x.chunks_exact(n).zip(q.chunks_exact_mut(n)) {
        let (xp, qp) = (xr.as_ptr(), qr.as_mut_ptr());
        if n.is_multiple_of(8) && (qp as usize).is_multiple_of(4) {
            // SAFETY: `xr`, `mean` and `factor` hold `n` f32 (4-byte aligned as any f32), `qr`
            // holds `n` bytes and is 4-byte aligned; `n` is a positive multiple of 8.
            unsafe { quantize8(xp, mean, factor, n, c, qp) };
            continue;
        }
        // SAFETY: `xr`, `mean` and `factor` hold `n >= fast` f32 (4-byte aligned as any f32),
        // `qr` holds `n` bytes; `fast` is a positive multiple of 4.
        unsafe { quantize4(xp, mean, factor, fast, c, qp) };
        if fast < n {
            quantize_tail(input, xr, qr, fast);
        }
    }
    true
}

/// The last `n % 4` inputs of a row, from `fast` on.
#[inline(never)]
fn quantize_tail(input: &crate::quant::QuantInput<'_>, x: &[f32], q: &mut [i8], fast: usize) {
    for (((q, &v), &m), &f) in q.iter_mut().zip(x).zip(input.mean).zip(input.factor).skip(fast) {
        *q = crate::quant::quantize_value((v - m) * f, input.zero as i32);
    }
}

/// Four outputs of [`quantize8`] from `u0, u1` in `{a}, {b}` and `u2, u3` in `{t}, {u}`
/// (`{one}` is `0x0001_0001`, `{cc}` is `2 z + 1` in both halves), stored at `{q}`.
macro_rules! four_outputs {
    () => {
        concat!(
            "pkhbt {a}, {a}, {t}, lsl #16\n",
            "pkhbt {b}, {b}, {u}, lsl #16\n",
            "and {t}, {one}, {a}, lsr #15\n",
            "qsub16 {a}, {a}, {t}\n",
            "shadd16 {a}, {a}, {cc}\n",
            "ssat16 {a}, #8, {a}\n",
            "and {u}, {one}, {b}, lsr #15\n",
            "qsub16 {b}, {b}, {u}\n",
            "shadd16 {b}, {b}, {cc}\n",
            "ssat16 {b}, #8, {b}\n",
            "and {a}, {a}, #0x00FF00FF\n",
            "and {b}, {b}, #0x00FF00FF\n",
            "orr {a}, {a}, {b}, lsl #8\n",
            "str {a}, [{q}], #4\n",
        )
    };
}

/// Eight inputs per step of [`quantize`] over `n` inputs, the integer steps two lanes at a
/// time: `PKHBT` pairs `u0` with `u2` and `u1` with `u3` as 16-bit halves, then per word
/// `u - [u < 0]` (`QSUB16` of the halves' sign bits: saturating, so `-32768` stays below
/// every int8 output), `+ 2 z + 1` and the halving in one `SHADD16`, `SSAT16` to int8, and
/// the four low bytes interleaved into one word (`STR`).
///
/// # Safety
/// `x`, `mean` and `factor` hold `n` f32 each, `q` room for `n` bytes and is 4-byte
/// aligned; `n` is a positive multiple of 8.
unsafe fn quantize8(x: *const f32, mean: *const f32, factor: *const f32, n: usize, c: i32, q: *mut i8) {
    let cc = (c as u32 & 0xFFFF) | ((c as u32) << 16);
    // SAFETY: reads `n` f32 of each input pointer and writes `n` bytes of `q` (the caller's
    // contract); `s0`..`s15` are caller-saved and declared clobbered.
    unsafe {
        core::arch::asm!(
            "2:",
            "vldmia {x}!, {{s0-s7}}",
            "vldmia {m}!, {{s8-s15}}",
            "vsub.f32 s0, s0, s8",
            "vsub.f32 s1, s1, s9",
            "vsub.f32 s2, s2, s10",
            "vsub.f32 s3, s3, s11",
            "vsub.f32 s4, s4, s12",
            "vsub.f32 s5, s5, s13",
            "vsub.f32 s6, s6, s14",
            "vsub.f32 s7, s7, s15",
            "vldmia {f}!, {{s8-s15}}",
            "vmul.f32 s0, s0, s8",
            "vmul.f32 s1, s1, s9",
            "vmul.f32 s2, s2, s10",
            "vmul.f32 s3, s3, s11",
            "vmul.f32 s4, s4, s12",
            "vmul.f32 s5, s5, s13",
            "vmul.f32 s6, s6, s14",
            "vmul.f32 s7, s7, s15",
            "vcvt.s16.f32 s0, s0, #1",
            "vcvt.s16.f32 s1, s1, #1",
            "vcvt.s16.f32 s2, s2, #1",
            "vcvt.s16.f32 s3, s3, #1",
            "vcvt.s16.f32 s4, s4, #1",
            "vcvt.s16.f32 s5, s5, #1",
            "vcvt.s16.f32 s6, s6, #1",
            "vcvt.s16.f32 s7, s7, #1",
            "vmov {a}, {b}, s0, s1",
            "vmov {t}, {u}, s2, s3",
            four_outputs!(),
            "vmov {a}, {b}, s4, s5",
            "vmov {t}, {u}, s6, s7",
            four_outputs!(),
            "cmp {x}, {end}",
            "bne 2b",
            x = inout(reg) x => _,
            m = inout(reg) mean => _,
            f = inout(reg) factor => _,
            q = inout(reg) q => _,
            end = in(reg) x.wrapping_add(n),
            cc = in(reg) cc,
            one = in(reg) 0x0001_0001u32,
            a = out(reg) _,
            b = out(reg) _,
            t = out(reg) _,
            u = out(reg) _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            options(nostack),
        );
    }
}

/// The four-input loop of [`quantize`] over `n` inputs.
///
/// # Safety
/// `x`, `mean` and `factor` hold `n` f32 each, `q` room for `n` bytes; `n` is a positive
/// multiple of 4.
unsafe fn quantize4(x: *const f32, mean: *const f32, factor: *const f32, n: usize, c: i32, q: *mut i8) {
    // SAFETY: reads `n` f32 of each input pointer and writes `n` bytes of `q` (the caller's
    // contract); `s0`..`s11` are caller-saved and declared clobbered.
    unsafe {
        core::arch::asm!(
            "2:",
            "vldmia {x}!, {{s0-s3}}",
            "vldmia {m}!, {{s4-s7}}",
            "vldmia {f}!, {{s8-s11}}",
            "vsub.f32 s0, s0, s4",
            "vsub.f32 s1, s1, s5",
            "vsub.f32 s2, s2, s6",
            "vsub.f32 s3, s3, s7",
            "vmul.f32 s0, s0, s8",
            "vmul.f32 s1, s1, s9",
            "vmul.f32 s2, s2, s10",
            "vmul.f32 s3, s3, s11",
            "vcvt.s16.f32 s0, s0, #1",
            "vcvt.s16.f32 s1, s1, #1",
            "vcvt.s16.f32 s2, s2, #1",
            "vcvt.s16.f32 s3, s3, #1",
            "vmov {a}, {b}, s0, s1",
            "add {a}, {a}, {a}, asr #31",
            "add {a}, {a}, {c}",
            "ssat {a}, #8, {a}, asr #1",
            "strb {a}, [{q}], #1",
            "add {b}, {b}, {b}, asr #31",
            "add {b}, {b}, {c}",
            "ssat {b}, #8, {b}, asr #1",
            "strb {b}, [{q}], #1",
            "vmov {a}, {b}, s2, s3",
            "add {a}, {a}, {a}, asr #31",
            "add {a}, {a}, {c}",
            "ssat {a}, #8, {a}, asr #1",
            "strb {a}, [{q}], #1",
            "add {b}, {b}, {b}, asr #31",
            "add {b}, {b}, {c}",
            "ssat {b}, #8, {b}, asr #1",
            "strb {b}, [{q}], #1",
            "cmp {x}, {end}",
            "bne 2b",
            x = inout(reg) x => _,
            m = inout(reg) mean => _,
            f = inout(reg) factor => _,
            q = inout(reg) q => _,
            end = in(reg) x.wrapping_add(n),
            c = in(reg) c,
            a = out(reg) _,
            b = out(reg) _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            options(nostack),
        );
    }
}
