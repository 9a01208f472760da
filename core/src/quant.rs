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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    /// The rounding restated on wider integers: the high multiply is the product over
    /// 2^31 rounded to nearest, ties toward +infinity (what adding the nudge and dividing
    /// toward zero gives for either sign); the shift is floor division plus one when the
    /// remainder exceeds half (for a negative value, when it reaches half: ties away from
    /// zero).
    fn exact(x: i32, m: i32, shift: i32) -> i32 {
        let (left, right) = if shift > 0 { (shift, 0) } else { (0, -shift) };
        let a = (x as i64).wrapping_shl(left as u32) as i32;
        if a == i32::MIN && m == i32::MIN {
            return i32::MAX;
        }
        let p = a as i128 * m as i128;
        let d = 1i128 << 31;
        let high = if p >= 0 { (p + d / 2) / d } else { -((-p + d / 2 - 1) / d) } as i64;
        let q = 1i64 << right;
        let threshold = (q - 1) / 2 + (high < 0) as i64;
        (high.div_euclid(q) + (high.rem_euclid(q) > threshold) as i64) as i32
    }

    #[test]
    fn known_values() {
        // 0.5 as Q31: 2^30.
        assert_eq!(multiply_by_quantized_multiplier(1000, 1 << 30, 0), 500);
        assert_eq!(multiply_by_quantized_multiplier(3, 1 << 30, 0), 2, "1.5 rounds up");
        assert_eq!(multiply_by_quantized_multiplier(-3, 1 << 30, 0), -1, "-1.5 rounds toward +inf");
        assert_eq!(multiply_by_quantized_multiplier(1000, 1 << 30, -2), 125);
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, 3), 400);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3, "-2.5 rounds away from zero");
        assert_eq!(rounding_divide_by_pot(-6, 2), -2, "-1.5 rounds away from zero");
        assert_eq!(rounding_divide_by_pot(-5, 2), -1);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
    }

    #[test]
    fn requantization_matches_the_exact_statement_on_random_values() {
        let mut rng = Rng::new(5);
        for _ in 0..200_000 {
            let x = rng.next_u32() as i32 >> (rng.below(24));
            let m = (1 << 30) + (rng.next_u32() >> 2) as i32;
            let shift = rng.below(20) as i32 - 15;
            assert_eq!(multiply_by_quantized_multiplier(x, m, shift), exact(x, m, shift), "{x} {m} {shift}");
        }
    }

    #[test]
    fn quantized_multipliers_represent_their_value() {
        for real in [1e-9, 0.000_123, 0.25, 0.5, 0.999_999_999_9, 1.0, 1.5, 3.3, 1000.0] {
            let (m, e) = quantize_multiplier(real).unwrap();
            let back = m as f64 * libm::pow(2.0, (e - 31) as f64);
            assert!((back - real).abs() <= real * 1e-9, "{real}: {m} 2^({e} - 31) = {back}");
            assert!((1 << 30..=i32::MAX).contains(&m), "{real}: {m} not normalized");
        }
        assert_eq!(quantize_multiplier(0.0), Some((0, 0)));
        assert_eq!(quantize_multiplier(1e-12), Some((0, 0)), "below 2^-31 of the format");
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
    }

    fn random_layer(rng: &mut Rng, n: usize, m: usize) -> (Vec<i8>, Vec<i32>, Vec<i32>, Vec<i32>) {
        let w = (0..n * m).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
        let b = (0..m).map(|_| rng.below(20_001) as i32 - 10_000).collect();
        let mult = (0..m).map(|_| (1 << 30) + (rng.next_u32() >> 2) as i32).collect();
        let shift = (0..m).map(|_| -(rng.below(12) as i32) - 4).collect();
        (w, b, mult, shift)
    }

    #[test]
    fn the_portable_kernel_equals_the_reference_bit_for_bit() {
        let mut rng = Rng::new(9);
        for n in (1..=17).chain([64, 100, 784]) {
            for m in (1..=9).chain([10, 32, 128]) {
                let (w, b, mult, shift) = random_layer(&mut rng, n, m);
                let layer = QuantDense {
                    inputs: n,
                    outputs: m,
                    weights: &w,
                    bias: &b,
                    multiplier: &mult,
                    shift: &shift,
                    input_zero: rng.below(256) as i32 - 128,
                    output_zero: rng.below(256) as i32 - 128,
                    min: if rng.below(2) == 0 { -128 } else { -5 },
                    max: 127,
                };
                let x: Vec<i8> = (0..n).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
                let (mut y0, mut y1) = (vec![0i8; m], vec![0i8; m]);
                let (mut a0, mut a1) = (vec![0i32; m], vec![0i32; m]);
                dense_i8_reference(&layer, &x, &mut y0, Some(&mut a0)).unwrap();
                dense_i8(&layer, &x, &mut y1, Some(&mut a1)).unwrap();
                assert_eq!((&y0, &a0), (&y1, &a1), "{n} x {m}");
                // The accumulator is the exact integer sum.
                for (j, &a) in a0.iter().enumerate() {
                    let exact: i64 = b[j] as i64
                        + (0..n).map(|i| (x[i] as i64 - layer.input_zero as i64) * w[j * n + i] as i64).sum::<i64>();
                    assert_eq!(a as i64, exact);
                }
            }
        }
    }

    #[test]
    fn bad_lengths_are_errors() {
        let (w, b, m, s) = (vec![0i8; 6], vec![0; 3], vec![1 << 30; 3], vec![0; 3]);
        let layer = QuantDense {
            inputs: 2,
            outputs: 3,
            weights: &w,
            bias: &b,
            multiplier: &m,
            shift: &s,
            input_zero: 0,
            output_zero: 0,
            min: -128,
            max: 127,
        };
        assert!(dense_i8(&layer, &[1, 2], &mut [0; 3], None).is_ok());
        assert!(dense_i8(&layer, &[1], &mut [0; 3], None).is_err());
        assert!(dense_i8(&layer, &[1, 2], &mut [0; 2], None).is_err());
        assert!(dense_i8_reference(&QuantDense { weights: &w[..5], ..layer }, &[1, 2], &mut [0; 3], None).is_err());
        assert!(dense_i8(&QuantDense { bias: &b[..2], ..layer }, &[1, 2], &mut [0; 3], None).is_err());
    }
}
