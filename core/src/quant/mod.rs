//! int8 inference with the arithmetic of TensorFlow Lite Micro's reference kernels and
//! CMSIS-NN, so models and expectations carry over:
//!
//! ```text
//! x_q, y_q   int8 activations, zero points z_in, z_out (real x = s_in (x_q - z_in))
//! W_q        int8 weights in -127..=127, symmetric (zero point 0), one scale s_w[j] per
//!            output neuron (per channel; per tensor = all equal)
//! b_q        int32 bias with scale s_in s_w[j]
//! acc[j]   = b_q[j] + sum_i (x_q[i] - z_in) W_q[j][i]              (wrapping int32 arithmetic)
//! y_q[j]   = clamp(MultiplyByQuantizedMultiplier(acc[j], m[j], e[j]) + z_out, lo, hi)
//!            with m[j] 2^(e[j] - 31) = s_in s_w[j] / s_out   (quantize_multiplier)
//! ```
//!
//! `MultiplyByQuantizedMultiplier` is a saturating rounding doubling high multiply
//! (`(a b + nudge) / 2^31`, nudge `2^30` or `1 - 2^30` by the product's sign, C's division
//! toward zero: nearest, ties toward +infinity) followed by a rounding right shift (nearest,
//! ties away from zero): integer arithmetic only, so every target gives the same bits. ReLU
//! and identity fold into `(lo, hi)`; other activations are 256-entry tables of the int8
//! pre-activation ([`model`]).
//!
//! The kernels compute the accumulators `acc` for a batch; requantization is one scalar
//! function shared by all. [`I8Backend`] is the kernel set as a value:
//!
//! - [`I8Backend::Reference`]: the definition, one output at a time, the offset subtracted in
//!   the loop ([`dense_i8_reference`] for one sample with requantization);
//! - [`I8Backend::Portable`]: the input offset folded into a per-row sum
//!   (`b - z_in sum_i W[j][i]`), four rows per pass (the Cortex-M3/M0 path);
//! - [`I8Backend::Avx2`] (x86_64): inputs and weights widened to 16 bits, `vpmaddwd`
//!   (exact: `vpmaddubsw` would saturate its pair sums);
//! - [`I8Backend::Vnni`] (x86_64 with AVX-512 VNNI, chosen at run time): `vpdpbusd` on
//!   `x + 128` (unsigned), the `128 sum_i W[j][i]` it adds taken out of the row offset;
//! - [`I8Backend::Dsp`] (Cortex-M4/M7, `thumbv7em-none-eabihf`): inputs widened to 16 bits
//!   once per layer, then `SMLAD` with `SXTB16`, two rows by sixteen columns per pass.
//!
//! Integer sums in wrapping arithmetic do not depend on their order, so every kernel gives
//! the reference's bits, which the tests check on every backend the CPU runs;
//! `scripts/check-int8-numpy` recomputes random layers, multipliers and whole models from
//! this definition in numpy and compares every bit.

mod file;
pub mod model;
mod net;

#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
use crate::kernels::int8::dsp;
use crate::kernels::int8::portable;
#[cfg(target_arch = "x86_64")]
use crate::kernels::int8::x86;

pub use crate::kernels::int8::portable::quantize_value;
pub use file::{encoded_len, parse, write, FLAG_NARROW_WEIGHTS, FLAG_UNIFORM_INPUT, VERSION};
pub use model::{round_half_away, widest, work_len, LayerMode, QuantInput, QuantLayer, QuantModel};
pub use net::QuantNet;

use crate::error::{Buffer, Error};

/// One int8 fully connected layer, its tensors borrowed (read in place from flash).
#[derive(Clone, Copy, Debug)]
pub struct QuantDense<'a> {
    /// Inputs (columns of W).
    pub inputs: usize,
    /// Outputs (rows of W).
    pub outputs: usize,
    /// Weights (outputs, inputs), row-major, zero point 0.
    pub weights: &'a [i8],
    /// Bias per output, scale `s_in s_w[j]`.
    pub bias: &'a [i32],
    /// Requantization multiplier per output (Q31); empty for a layer that only accumulates.
    pub multiplier: &'a [i32],
    /// Requantization shift per output (left when positive); empty with `multiplier`.
    pub shift: &'a [i8],
    /// Input zero point.
    pub input_zero: i32,
    /// Output zero point.
    pub output_zero: i32,
    /// Output clamp, low (the activation folded in: ReLU clamps at the zero point).
    pub min: i8,
    /// Output clamp, high.
    pub max: i8,
    /// What is known of the values, checked ([`Known`]): lets kernels take faster paths.
    pub known: Known,
}

/// Facts about a layer's values that kernels may rely on, each checked: the only ways to
/// get one are [`Known::of`], which looks at every value, and the parser, which has checked
/// them before any layer is read.
///
/// - narrow weights: every weight within -63..=63 (7 bits). The AVX2 kernels then multiply
///   unsigned 8-bit inputs by the weights with `vpmaddubsw`, whose 16-bit pair sums
///   saturate beyond 32,767: with weights of 7 bits a pair is at most `2 * 255 * 63 =
///   32,130`, so the sums stay exact.
/// - right shifts: every shift in -31..=0 and no multiplier `i32::MIN` (every file's case
///   unless a multiplier exceeds 1): requantization needs no left shift and its high
///   multiply cannot saturate, so it takes fewer steps.
/// - bounded accumulators: right shifts, and every row's `|b[j]| + 255 sum_i |W[j][i]|` below
///   [`Known::ACC_BOUND`], so that no input (`x - z_in` is within -255..=255) takes an
///   accumulator beyond it. Then `2 acc` fits in 32 bits, the high multiply is one rounding
///   multiply of the top word (`SMMULR` on a Cortex-M4: `(2 a M + 2^31) >> 32 = (a M +
///   2^30) >> 31`), and the rounding shift needs no mask:
///   `round_half_away(h / 2^e) = (((2 h - [h < 0]) >> e) + 1) >> 1` (the Cortex-M4 kernel
///   requantizes in its own loop this way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Known {
    narrow: bool,
    right_shifts: bool,
    bounded: bool,
}

impl Known {
    /// Nothing known (any kernel, any values).
    pub const NOTHING: Known = Known { narrow: false, right_shifts: false, bounded: false };
    /// The most a narrow weight may be in magnitude.
    pub const NARROW_BOUND: i8 = 63;
    /// Bounded accumulators stay below this in magnitude (`2^29`).
    pub const ACC_BOUND: i64 = 1 << 29;

    /// What holds of a layer's weights (rows of `weights.len() / bias.len()`), biases,
    /// multipliers and shifts.
    /// A `const fn`: a compiled-in network ([`QuantNet`]) states its layers' facts with it,
    /// evaluated when the program is built.
    pub const fn of(weights: &[i8], bias: &[i32], multiplier: &[i32], shift: &[i8]) -> Known {
        let right_shifts = right_shifts(multiplier, shift);
        Known { narrow: narrow(weights), right_shifts, bounded: right_shifts && bounded(weights, bias) }
    }

    /// Every fact `self` claims is one of `actual`'s (what [`Known::of`] found).
    pub const fn holds_within(self, actual: Known) -> bool {
        (!self.narrow || actual.narrow)
            && (!self.right_shifts || actual.right_shifts)
            && (!self.bounded || actual.bounded)
    }

    /// Every weight in -63..=63.
    pub fn narrow_weights(self) -> bool {
        self.narrow
    }

    /// Every shift in -31..=0, no multiplier `i32::MIN`.
    pub fn right_shifts(self) -> bool {
        self.right_shifts
    }

    /// Right shifts, and no accumulator can reach [`Known::ACC_BOUND`].
    pub fn bounded(self) -> bool {
        self.bounded
    }

    /// For the parser, after its checks of every value.
    pub(crate) const fn checked(narrow: bool, right_shifts: bool, bounded: bool) -> Known {
        Known { narrow, right_shifts, bounded: right_shifts && bounded }
    }
}

/// Every row `j` of `weights` (as many rows as `bias` entries) has `|b[j]| + 255 sum_i
/// |W[j][i]| < Known::ACC_BOUND`: no int8 input takes its accumulator to the bound. (The
/// checks of this block are `const fn`s, hence their `while` loops.)
pub(crate) const fn bounded(weights: &[i8], bias: &[i32]) -> bool {
    let m = bias.len();
    if m == 0 {
        return weights.is_empty();
    }
    let n = weights.len() / m;
    if n * m != weights.len() {
        return false;
    }
    // Every row, also of a layer without inputs (its accumulators are the biases).
    let (mut rows, mut bias) = (weights, bias);
    while let ([b, more_bias @ ..], Some((row, more_rows))) = (bias, rows.split_at_checked(n)) {
        let (mut sum, mut row) = (0i64, row);
        while let [w, rest @ ..] = row {
            sum += (*w as i64).abs();
            row = rest;
        }
        if (*b as i64).abs() + 255 * sum >= Known::ACC_BOUND {
            return false;
        }
        (rows, bias) = (more_rows, more_bias);
    }
    true
}

/// Every weight within -[`Known::NARROW_BOUND`]..=[`Known::NARROW_BOUND`].
pub(crate) const fn narrow(weights: &[i8]) -> bool {
    within(weights, Known::NARROW_BOUND)
}

/// Every weight within `-bound..=bound`.
pub(crate) const fn within(weights: &[i8], bound: i8) -> bool {
    let mut rest = weights;
    while let [w, more @ ..] = rest {
        if *w < -bound || *w > bound {
            return false;
        }
        rest = more;
    }
    true
}

/// Every shift in -31..=0 and no multiplier `i32::MIN`.
pub(crate) const fn right_shifts(multiplier: &[i32], shift: &[i8]) -> bool {
    let mut rest = shift;
    while let [e, more @ ..] = rest {
        if *e < -31 || *e > 0 {
            return false;
        }
        rest = more;
    }
    let mut rest = multiplier;
    while let [v, more @ ..] = rest {
        if *v == i32::MIN {
            return false;
        }
        rest = more;
    }
    true
}

/// The most inputs a layer may have: `(x - z_in) W` is at most 255 * 127 in magnitude, so
/// 65,536 terms stay inside int32.
pub const MAX_QUANT_INPUTS: usize = 1 << 16;

/// `(a b + nudge) / 2^31` rounded as gemmlowp's `SaturatingRoundingDoublingHighMul`; the one
/// overflowing case (`i32::MIN * i32::MIN`) saturates to `i32::MAX`.
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    // C's division toward zero of `a b + nudge` by 2^31 is the floor of `(a b + 2^30) / 2^31`
    // for either sign of the product (nudge 2^30 or 1 - 2^30): one multiply-accumulate and a
    // shift (`SMLAL` on a Cortex-M).
    ((a as i64 * b as i64 + (1 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded as gemmlowp's `RoundingDivideByPOT` (`exponent` in 0..=31).
pub const fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let e = if exponent < 0 {
        0
    } else if exponent > 31 {
        31
    } else {
        exponent
    } as u32;
    let mask = ((1u32 << e).wrapping_sub(1)) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> e) + (remainder > threshold) as i32
}

/// `x m 2^(shift - 31)` as TFLM's `MultiplyByQuantizedMultiplier`.
pub const fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let (left, right) = if shift > 0 { (shift, 0) } else { (0, -shift) };
    let left = if left > 31 { 31 } else { left };
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x.wrapping_shl(left as u32), multiplier), right)
}

/// `(m, e)` with `real = m 2^(e - 31)`, `m` in `[2^30, 2^31)`, as TFLM's `QuantizeMultiplier`
/// (0 for 0; a value too small for the format becomes 0). `None` for a negative, non-finite
/// or too large (>= 2^31) value.
pub fn quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !(real.is_finite() && real >= 0.0) {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    let (q, mut shift) = libm::frexp(real);
    let mut fixed = libm::round(q * (1u64 << 31) as f64) as i64;
    if fixed == 1i64 << 31 {
        fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return Some((0, 0));
    }
    if shift > 31 {
        return None;
    }
    Some((fixed as i32, shift))
}

impl QuantDense<'_> {
    /// Checks the lengths the accumulation reads and writes: `x` (batch, inputs), `acc`
    /// (batch, outputs), the weights and bias.
    pub fn check_accumulate(&self, x: usize, batch: usize, acc: usize) -> Result<(), Error> {
        let (n, m) = (self.inputs, self.outputs);
        if n == 0 || m == 0 || n > MAX_QUANT_INPUTS {
            return Err(Error::TooLarge);
        }
        let bad = |buffer, expected, got| Err(Error::BadLength { buffer, expected, got });
        match n.checked_mul(m) {
            Some(w) if w == self.weights.len() => {}
            Some(w) => return bad(Buffer::Weights, w, self.weights.len()),
            None => return Err(Error::TooLarge),
        }
        if self.bias.len() != m {
            return bad(Buffer::Bias, m, self.bias.len());
        }
        let xs = batch.checked_mul(n).ok_or(Error::TooLarge)?;
        let ys = batch.checked_mul(m).ok_or(Error::TooLarge)?;
        if x != xs {
            return bad(Buffer::Input, xs, x);
        }
        if acc != ys {
            return bad(Buffer::Output, ys, acc);
        }
        Ok(())
    }

    /// Checks the requantization parameters (one multiplier and shift per output).
    pub fn check_requantize(&self) -> Result<(), Error> {
        let m = self.outputs;
        for len in [self.multiplier.len(), self.shift.len()] {
            if len != m {
                return Err(Error::BadLength { buffer: Buffer::Params, expected: m, got: len });
            }
        }
        Ok(())
    }

    /// Checks every length a one-sample [`dense_i8`] reads and writes.
    pub fn check(&self, x: &[i8], out: usize) -> Result<(), Error> {
        self.check_accumulate(x.len(), 1, out)?;
        self.check_requantize()
    }

    /// `y = clamp(MultiplyByQuantizedMultiplier(acc, m[j], e[j]) + z_out, lo, hi)` of output `j`.
    #[inline]
    pub fn requantize(&self, j: usize, acc: i32) -> i8 {
        let (m, e) = (self.multiplier.get(j).copied().unwrap_or(0), self.shift.get(j).copied().unwrap_or(0));
        let v = multiply_by_quantized_multiplier(acc, m, e as i32).saturating_add(self.output_zero);
        clamp(v, self.min as i32, self.max as i32)
    }

    /// Requantizes rows of accumulators (batch, outputs) into `y` of the same shape.
    pub fn requantize_rows(&self, acc: &[i32], y: &mut [i8]) {
        self.requantize_rows_with(I8Backend::Portable, acc, y)
    }

    /// [`QuantDense::requantize_rows`] in the code of kernel set `k`: on x86_64 the AVX2,
    /// AVX-VNNI and AVX-512 sets requantize bounded layers 8 outputs at a time
    /// (`requantize_bounded`'s arithmetic in `ymm`); the same bits.
    pub fn requantize_rows_with(&self, k: I8Backend, acc: &[i32], y: &mut [i8]) {
        let m = self.outputs.max(1);
        let (lo, hi) = (self.min as i32, self.max as i32);
        // Right shifts only and no i32::MIN multiplier (every file's case): the high multiply
        // cannot saturate and needs no left shift, so the same arithmetic in fewer steps.
        let right_only = self.known.right_shifts() || right_shifts(self.multiplier, self.shift);
        let bounded = self.requantizes_bounded();
        #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
        let wide = matches!(k, I8Backend::Avx2 | I8Backend::AvxVnni | I8Backend::Vnni);
        #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
        let wide = {
            let _ = k;
            false
        };
        for (ar, yr) in acc.chunks_exact(m).zip(y.chunks_exact_mut(m)) {
            if bounded && wide {
                #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
                x86::requantize_bounded_avx2(ar, yr, self.multiplier, self.shift, self.output_zero, lo, hi);
            } else if bounded {
                requantize_bounded(ar, yr, self.multiplier, self.shift, self.output_zero, lo, hi);
            } else if right_only {
                requantize_right(ar, yr, self.multiplier, self.shift, self.output_zero, lo, hi);
            } else {
                for (((&a, o), &mult), &e) in ar.iter().zip(yr.iter_mut()).zip(self.multiplier).zip(self.shift) {
                    *o = self.requantize_value(a, mult, e);
                }
            }
        }
    }

    /// Requantization by [`requantize_bounded`] (and the Cortex-M4's in-register form):
    /// bounded accumulators and an int8 zero point, so the zero point's addition cannot
    /// overflow and needs no saturation.
    #[inline]
    pub(crate) fn requantizes_bounded(&self) -> bool {
        self.known.bounded() && (-128..=127).contains(&self.output_zero)
    }

    /// One accumulator requantized with multiplier `mult` and shift `e`, the zero point
    /// added and clamped: the definition [`QuantDense::requantize_rows`] computes.
    #[inline]
    fn requantize_value(&self, a: i32, mult: i32, e: i8) -> i8 {
        let v = multiply_by_quantized_multiplier(a, mult, e as i32).saturating_add(self.output_zero);
        clamp(v, self.min as i32, self.max as i32)
    }

    /// `b[j] - z sum_i W[j][i]`: the part of row `j`'s accumulator that does not depend on
    /// the input, for inputs offset by `z` (the input zero point, plus 128 where a kernel
    /// reads inputs as unsigned).
    #[inline]
    #[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]
    pub(crate) fn row_offset(&self, j: usize, row: &[i8], z: i32) -> i32 {
        let bias = self.bias.get(j).copied().unwrap_or(0);
        if z == 0 {
            // No pass over the row: `z sum_i W[j][i]` is 0.
            return bias;
        }
        #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
        let sum_w = crate::kernels::int8::x86::row_sum(row);
        // In 16-bit sums over chunks of 128 (at most 128 * 128 in magnitude: exact), which
        // vectorize twice as wide as 32-bit ones; the x86_64 `row_sum` gives the same integer.
        #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
        let sum_w = row
            .chunks(128)
            .fold(0i32, |s, c| s.wrapping_add(i32::from(c.iter().fold(0i16, |t, &w| t.wrapping_add(i16::from(w))))));
        bias.wrapping_sub(z.wrapping_mul(sum_w))
    }
}

/// [`QuantDense::requantize_rows`] for one row when every shift is in -31..=0 and no
/// multiplier is `i32::MIN`: `MultiplyByQuantizedMultiplier` without the left shift and the
/// saturation it cannot reach. Its own function, so its loop keeps every value in registers.
#[inline(never)]
fn requantize_right(acc: &[i32], y: &mut [i8], mult: &[i32], shift: &[i8], zero: i32, lo: i32, hi: i32) {
    for (((&a, o), &m), &e) in acc.iter().zip(y.iter_mut()).zip(mult).zip(shift) {
        let high = ((a as i64 * m as i64 + (1 << 30)) >> 31) as i32;
        let e = (-(e as i32)) as u32 & 31;
        let mask = ((1u32 << e).wrapping_sub(1)) as i32;
        let threshold = (mask >> 1) + (high < 0) as i32;
        let v = (high >> e) + ((high & mask) > threshold) as i32;
        *o = clamp(v.saturating_add(zero), lo, hi);
    }
}

/// [`requantize_right`] for a bounded layer ([`Known::bounded`]: every accumulator below
/// `2^29` in magnitude): the high multiply as the top word of `2 a M` rounded, the rounding
/// shift without a mask. The same values as [`requantize_right`] there.
#[inline(never)]
pub(crate) fn requantize_bounded(acc: &[i32], y: &mut [i8], mult: &[i32], shift: &[i8], zero: i32, lo: i32, hi: i32) {
    // The rounding's `+ 1` and the zero point in one addition before the last halving:
    // `((u + 1) >> 1) + z = (u + 2 z + 1) >> 1` (`2 z` is even).
    let c = zero.wrapping_mul(2).wrapping_add(1);
    for (((&a, o), &m), &e) in acc.iter().zip(y.iter_mut()).zip(mult).zip(shift) {
        let high = ((a.wrapping_mul(2) as i64 * m as i64 + (1 << 31)) >> 32) as i32;
        let e = (-(e as i32)) as u32 & 31;
        let t = high.wrapping_mul(2) - (high < 0) as i32;
        *o = clamp(((t >> e) + c) >> 1, lo, hi);
    }
}

/// `v` limited to `lo..=hi` as an int8 (the output clamp; `lo <= hi` in every checked
/// layer). Not `Ord::clamp`, whose `lo <= hi` assertion is a panic path: a layer built by
/// hand with `min > max` gives `hi`, never a panic.
#[inline(always)]
fn clamp(v: i32, lo: i32, hi: i32) -> i8 {
    v.max(lo).min(hi) as i8
}

/// An int8 kernel set as a value, as [`crate::Backend`] is for floats: which code runs is
/// decided when the value is made. [`I8Backend::detect`] gives the fastest this build and
/// CPU run, [`I8Backend::available`] every one (a test checks each in one process).
/// [`I8Backend::accumulate`] falls back to [`I8Backend::Portable`] for a variant this CPU
/// cannot run, so every value is safe to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum I8Backend {
    /// The definition.
    Reference,
    /// Offset folded into per-row sums, four rows per pass.
    Portable,
    /// x86_64 AVX2: 16-bit products with `vpmaddwd`.
    Avx2,
    /// x86_64 AVX-512 VNNI: `vpdpbusd`.
    Vnni,
    /// x86_64 AVX-VNNI: `vpdpbusd` on 256-bit vectors (CPUs with AVX2 and AVX-VNNI, with or
    /// without AVX-512).
    AvxVnni,
    /// Cortex-M4/M7: `SMLAD` with `SXTB16`.
    Dsp,
    /// ARM64 NEON: `smull` / `smull2` and `sadalp` (every ARMv8-A core).
    Neon,
}

impl I8Backend {
    /// Whether this build and CPU run this kernel set.
    pub fn runs(self) -> bool {
        match self {
            I8Backend::Reference | I8Backend::Portable => true,
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            I8Backend::Avx2 => true,
            #[cfg(target_arch = "x86_64")]
            I8Backend::Vnni => x86::vnni_available(),
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            I8Backend::AvxVnni => x86::avx_vnni_available(),
            #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
            I8Backend::Dsp => true,
            #[cfg(target_arch = "aarch64")]
            I8Backend::Neon => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Whether this is one of the vector kernel sets (x86_64 AVX2, AVX-512 VNNI, AVX-VNNI;
    /// ARM64 NEON), whose float steps take eight lanes at a time too.
    pub fn vector(self) -> bool {
        matches!(self, I8Backend::Avx2 | I8Backend::Vnni | I8Backend::AvxVnni | I8Backend::Neon)
    }

    /// The fastest kernel set this build and CPU run.
    pub fn detect() -> I8Backend {
        [I8Backend::Vnni, I8Backend::AvxVnni, I8Backend::Avx2, I8Backend::Dsp, I8Backend::Neon]
            .into_iter()
            .find(|b| b.runs())
            .unwrap_or(I8Backend::Portable)
    }

    /// Every kernel set this build and CPU run, slowest first.
    pub fn available() -> impl Iterator<Item = I8Backend> {
        [
            I8Backend::Reference,
            I8Backend::Portable,
            I8Backend::Avx2,
            I8Backend::Dsp,
            I8Backend::Neon,
            I8Backend::AvxVnni,
            I8Backend::Vnni,
        ]
        .into_iter()
        .filter(|b| b.runs())
    }

    /// A short stable name: `reference`, `portable`, `avx2`, `avxvnni`, `vnni`, `dsp`, `neon`.
    pub fn name(self) -> &'static str {
        match self {
            I8Backend::Reference => "reference",
            I8Backend::Portable => "portable",
            I8Backend::Avx2 => "avx2",
            I8Backend::Vnni => "vnni",
            I8Backend::AvxVnni => "avxvnni",
            I8Backend::Dsp => "dsp",
            I8Backend::Neon => "neon",
        }
    }

    /// Parses an [`I8Backend::name`] (or `native`/`auto`); `None` for an unknown name or one
    /// this build and CPU do not run.
    pub fn from_name(s: &str) -> Option<I8Backend> {
        let b = match s {
            "native" | "auto" => I8Backend::detect(),
            "reference" | "scalar" => I8Backend::Reference,
            "portable" => I8Backend::Portable,
            "avx2" | "simd8" => I8Backend::Avx2,
            "vnni" | "avx512" | "simd16" => I8Backend::Vnni,
            "avxvnni" | "avx-vnni" => I8Backend::AvxVnni,
            "dsp" => I8Backend::Dsp,
            "neon" => I8Backend::Neon,
            _ => return None,
        };
        b.runs().then_some(b)
    }

    /// The accumulators of a batch: `acc[s][j] = b[j] + sum_i (x[s][i] - z_in) W[j][i]` for
    /// `x` (batch, inputs) and `acc` (batch, outputs), every length checked.
    pub fn accumulate(self, layer: &QuantDense<'_>, x: &[i8], batch: usize, acc: &mut [i32]) -> Result<(), Error> {
        layer.check_accumulate(x.len(), batch, acc.len())?;
        match self {
            I8Backend::Reference => accumulate_reference(layer, x, acc),
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            I8Backend::Avx2 if layer.known.narrow_weights() => x86::accumulate_avx2_narrow(layer, x, acc),
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            I8Backend::Avx2 => x86::accumulate_avx2(layer, x, acc),
            #[cfg(target_arch = "x86_64")]
            I8Backend::Vnni if x86::vnni_available() => x86::accumulate_vnni(layer, x, acc),
            #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
            I8Backend::AvxVnni if x86::avx_vnni_available() => x86::accumulate_avx_vnni(layer, x, acc),
            #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
            I8Backend::Dsp => dsp::accumulate(layer, x, acc),
            #[cfg(target_arch = "aarch64")]
            I8Backend::Neon => crate::kernels::int8::neon::accumulate(layer, x, acc),
            _ => portable::accumulate(layer, x, acc),
        }
        Ok(())
    }

    /// One layer for a batch: accumulate, then requantize into `y` (batch, outputs). `acc`
    /// (batch, outputs) keeps the accumulators.
    #[inline]
    pub fn dense(
        self,
        layer: &QuantDense<'_>,
        x: &[i8],
        batch: usize,
        acc: &mut [i32],
        y: &mut [i8],
    ) -> Result<(), Error> {
        self.dense_with(layer, x, batch, acc, y, true)
    }

    /// One layer for a batch into `y` (batch, outputs) alone: [`I8Backend::dense`] with
    /// `scratch` (batch, outputs) as working space, its contents afterwards unspecified (a
    /// kernel that requantizes in registers does not store the accumulators). The outputs
    /// are the same bits.
    #[inline(always)]
    pub fn dense_into(
        self,
        layer: &QuantDense<'_>,
        x: &[i8],
        batch: usize,
        scratch: &mut [i32],
        y: &mut [i8],
    ) -> Result<(), Error> {
        self.dense_with(layer, x, batch, scratch, y, false)
    }

    /// [`I8Backend::dense`] (`keep`) or [`I8Backend::dense_into`].
    #[inline(always)]
    fn dense_with(
        self,
        layer: &QuantDense<'_>,
        x: &[i8],
        batch: usize,
        acc: &mut [i32],
        y: &mut [i8],
        keep: bool,
    ) -> Result<(), Error> {
        layer.check_requantize()?;
        if y.len() != acc.len() {
            return Err(Error::BadLength { buffer: Buffer::Output, expected: acc.len(), got: y.len() });
        }
        #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
        if self == I8Backend::Dsp {
            layer.check_accumulate(x.len(), batch, acc.len())?;
            if dsp::dense(layer, x, acc, y, keep) {
                return Ok(());
            }
        }
        let _ = keep;
        self.accumulate(layer, x, batch, acc)?;
        layer.requantize_rows_with(self, acc, y);
        Ok(())
    }
}

/// The definition of the accumulators, one output at a time (lengths checked by the caller).
fn accumulate_reference(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    let (n, m) = (layer.inputs, layer.outputs);
    for (xr, ar) in x.chunks_exact(n).zip(acc.chunks_exact_mut(m)) {
        for (j, (a, row)) in ar.iter_mut().zip(layer.weights.chunks_exact(n)).enumerate() {
            let mut sum = layer.bias.get(j).copied().unwrap_or(0);
            for (&xi, &w) in xr.iter().zip(row) {
                sum = sum.wrapping_add((xi as i32 - layer.input_zero).wrapping_mul(w as i32));
            }
            *a = sum;
        }
    }
}

/// The definition for one sample: `acc[j] = b[j] + sum_i (x[i] - z_in) W[j][i]`, requantized,
/// one output at a time. Writes the raw accumulators to `acc` when given.
pub fn dense_i8_reference(
    layer: &QuantDense<'_>,
    x: &[i8],
    y: &mut [i8],
    acc: Option<&mut [i32]>,
) -> Result<(), Error> {
    layer.check(x, y.len())?;
    let mut acc = acc;
    for (j, (out, row)) in y.iter_mut().zip(layer.weights.chunks_exact(layer.inputs)).enumerate() {
        let mut sum = layer.bias.get(j).copied().unwrap_or(0);
        for (&xi, &w) in x.iter().zip(row) {
            sum = sum.wrapping_add((xi as i32 - layer.input_zero).wrapping_mul(w as i32));
        }
        if let Some(a) = acc.as_deref_mut().and_then(|a| a.get_mut(j)) {
            *a = sum;
        }
        *out = layer.requantize(j, sum);
    }
    Ok(())
}

/// The portable kernel for one sample (the path of a Cortex-M3/M0): equal to
/// [`dense_i8_reference`] bit for bit. Writes the raw accumulators to `acc` when given.
pub fn dense_i8(layer: &QuantDense<'_>, x: &[i8], y: &mut [i8], acc: Option<&mut [i32]>) -> Result<(), Error> {
    layer.check(x, y.len())?;
    let mut local = [0i32; 64];
    let mut rest = y;
    let mut acc = acc;
    // Blocks of up to 64 outputs through a stack buffer when the caller keeps no
    // accumulators.
    let mut j0 = 0;
    while !rest.is_empty() {
        let take = rest.len().min(local.len());
        let (head, tail) = core::mem::take(&mut rest).split_at_mut(take);
        let block = QuantDense {
            outputs: take,
            weights: layer.weights.get(j0 * layer.inputs..(j0 + take) * layer.inputs).unwrap_or(&[]),
            bias: layer.bias.get(j0..j0 + take).unwrap_or(&[]),
            multiplier: layer.multiplier.get(j0..j0 + take).unwrap_or(&[]),
            shift: layer.shift.get(j0..j0 + take).unwrap_or(&[]),
            ..*layer
        };
        let a = match acc.as_deref_mut().and_then(|a| a.get_mut(j0..j0 + take)) {
            Some(a) => a,
            None => local.get_mut(..take).unwrap_or(&mut []),
        };
        I8Backend::Portable.dense(&block, x, 1, a, head)?;
        rest = tail;
        j0 += take;
    }
    Ok(())
}
