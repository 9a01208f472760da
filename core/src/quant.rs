//! int8 fully connected layers with the arithmetic of TensorFlow Lite Micro's reference
//! kernels and CMSIS-NN, so models and expectations carry over:
//!
//! ```text
//! x_q, y_q   int8 activations, zero points z_in, z_out (real x = s_in (x_q - z_in))
//! W_q        int8 weights, symmetric (zero point 0), one scale s_w[j] per output neuron
//! b_q        int32 bias with scale s_in s_w[j]
//! acc[j]   = b_q[j] + sum_i (x_q[i] - z_in) W_q[j][i]                    (exact in int32)
//! y_q[j]   = clamp(MultiplyByQuantizedMultiplier(acc[j], m[j], e[j]) + z_out, lo, hi)
//!            with m[j] 2^(e[j] - 31) = s_in s_w[j] / s_out   (quantize_multiplier)
//! ```
//!
//! `MultiplyByQuantizedMultiplier` is a saturating rounding doubling high multiply
//! (`(a b + nudge) / 2^31`, nudge `2^30` or `1 - 2^30` by the product's sign, C's division
//! toward zero: nearest, ties toward +infinity) followed by a rounding right shift (nearest,
//! ties away from zero): integer arithmetic only, so every target gives the same bits. ReLU
//! and identity fold into `(lo, hi)`.
//!
//! [`dense_i8_reference`] is the definition (one output at a time, the offset subtracted in
//! the loop); [`dense_i8`] is the portable kernel (the input offset folded into a per-row
//! sum once per call, four rows per pass). Integer sums do not depend on their order, so
//! the two agree bit for bit, which the tests check; `scripts/check-int8-numpy` recomputes
//! random layers and multipliers from this definition in numpy and compares every bit.

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
    /// Requantization multiplier per output (Q31).
    pub multiplier: &'a [i32],
    /// Requantization shift per output (left when positive).
    pub shift: &'a [i32],
    /// Input zero point.
    pub input_zero: i32,
    /// Output zero point.
    pub output_zero: i32,
    /// Output clamp, low (the activation folded in: ReLU clamps at the zero point).
    pub min: i8,
    /// Output clamp, high.
    pub max: i8,
}

/// The most inputs a layer may have: `(x - z_in) W` is at most 255 * 128 in magnitude, so
/// 65,536 terms and the bias stay inside int32.
pub const MAX_QUANT_INPUTS: usize = 1 << 16;

/// `(a b + nudge) / 2^31` rounded as gemmlowp's `SaturatingRoundingDoublingHighMul`; the one
/// overflowing case (`i32::MIN * i32::MIN`) saturates to `i32::MAX`.
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division toward zero, as C's.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent` rounded as gemmlowp's `RoundingDivideByPOT` (`exponent` in 0..=31).
pub const fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = if exponent < 0 {
        0
    } else if exponent > 31 {
        31
    } else {
        exponent
    };
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
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
    /// Checks every length and size before a kernel reads anything.
    pub fn check(&self, x: &[i8], out: usize) -> Result<(), Error> {
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
        for (buffer, len) in [(Buffer::Bias, self.bias.len()), (Buffer::Params, self.multiplier.len())] {
            if len != m {
                return bad(buffer, m, len);
            }
        }
        if self.shift.len() != m {
            return bad(Buffer::Params, m, self.shift.len());
        }
        if x.len() != n {
            return bad(Buffer::Input, n, x.len());
        }
        if out != m {
            return bad(Buffer::Output, m, out);
        }
        Ok(())
    }

    fn requantize(&self, j: usize, acc: i32) -> i8 {
        let (m, e) = (self.multiplier.get(j).copied().unwrap_or(0), self.shift.get(j).copied().unwrap_or(0));
        let v = multiply_by_quantized_multiplier(acc, m, e).saturating_add(self.output_zero);
        v.clamp(self.min as i32, self.max as i32) as i8
    }
}

/// The definition: `acc[j] = b[j] + sum_i (x[i] - z_in) W[j][i]`, requantized, one output at a
/// time. Writes the raw accumulators to `acc` when given (a last layer that dequantizes).
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

/// The portable kernel: `acc[j] = (b[j] - z_in sum_i W[j][i]) + sum_i x[i] W[j][i]`, four
/// rows per pass over `x`. Equal to [`dense_i8_reference`] bit for bit (integer sums in
/// wrapping arithmetic are the same in any order).
pub fn dense_i8(layer: &QuantDense<'_>, x: &[i8], y: &mut [i8], acc: Option<&mut [i32]>) -> Result<(), Error> {
    layer.check(x, y.len())?;
    let n = layer.inputs;
    let mut acc = acc;
    let offset = |j: usize, row: &[i8]| -> i32 {
        let sum_w = row.iter().fold(0i32, |s, &w| s.wrapping_add(w as i32));
        layer.bias.get(j).copied().unwrap_or(0).wrapping_sub(layer.input_zero.wrapping_mul(sum_w))
    };
    let mut rows = layer.weights.chunks_exact(4 * n);
    let mut j = 0;
    for block in rows.by_ref() {
        let (r0, rest) = block.split_at(n);
        let (r1, rest) = rest.split_at(n);
        let (r2, r3) = rest.split_at(n);
        let mut s = [offset(j, r0), offset(j + 1, r1), offset(j + 2, r2), offset(j + 3, r3)];
        for (i, &xi) in x.iter().enumerate() {
            let xi = xi as i32;
            for (s, r) in s.iter_mut().zip([r0, r1, r2, r3]) {
                *s = s.wrapping_add(xi.wrapping_mul(r.get(i).copied().unwrap_or(0) as i32));
            }
        }
        for (k, &sum) in s.iter().enumerate() {
            finish(layer, j + k, sum, y, acc.as_deref_mut());
        }
        j += 4;
    }
    for row in rows.remainder().chunks_exact(n) {
        let sum =
            x.iter().zip(row).fold(offset(j, row), |s, (&xi, &w)| s.wrapping_add((xi as i32).wrapping_mul(w as i32)));
        finish(layer, j, sum, y, acc.as_deref_mut());
        j += 1;
    }
    Ok(())
}

fn finish(layer: &QuantDense<'_>, j: usize, sum: i32, y: &mut [i8], acc: Option<&mut [i32]>) {
    if let Some(a) = acc.and_then(|a| a.get_mut(j)) {
        *a = sum;
    }
    if let Some(out) = y.get_mut(j) {
        *out = layer.requantize(j, sum);
    }
}
