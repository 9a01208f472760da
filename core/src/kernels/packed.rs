//! Weights packed for one sample at a time: the single-sample forward reads `W` in the
//! order it uses it.
//!
//! One sample's forward is one dot product per row of `W`; the SIMD kernel sets take
//! several rows side by side, each along the inputs in steps of 16 lanes. In `W`'s own
//! layout those rows are `4 x inputs` bytes apart, so a `W` larger than L1 streams from L2
//! as several streams side by side, slower than one pass over the same bytes in order. The
//! packed layout interleaves the rows of each block step by step, so that the forward reads
//! the whole of it once, from start to end.
//!
//! Layout ([`packed_len`] floats for `outputs x inputs` weights): the inputs padded with
//! zeros to a multiple of [`STEP`] (`p` of them); the rows in blocks of [`ROWS`], the last
//! block holding the `r <= ROWS` rows left. The block that starts at row `j0` starts at
//! float `j0 * p` and holds, for each step `s` in order, its `r` rows' 16 values of that
//! step: `W[j0 + i][STEP * s + l]` is at `j0 * p + (s * r + i) * STEP + l`.
//!
//! Each kernel set reads the packed weights with the operations and the order of its own
//! single-sample forward ([`Kernels::dense_forward_packed`](super::Kernels::dense_forward_packed)):
//! the SIMD sets the 16-lane fused chains and the fixed tree of their dot products (a
//! padded step adds `0 x 0` in the lanes past the inputs, as their zero-filled loads do),
//! reference and portable the sum in index order. So a packed forward gives the bits of the
//! unpacked forward of the same sample (`packed_forward_is_the_forward`).

// INVARIANT: every function below returns at once unless the lengths it indexes by were
// checked (`layout` or `fits`), and all indices are derived from those lengths.
#![allow(clippy::indexing_slicing)]

use crate::error::{check_len, Buffer, Error};

/// Rows of `W` per packed block: the rows a single sample's dot products read side by side
/// (4: on 8 lanes, their 8 accumulators and the operands fill AVX2's 16 registers).
pub const ROWS: usize = 4;
// The in-order forward names a whole block's rows one by one.
const _: () = assert!(ROWS == 4);

/// Inputs per step of the packed layout (the lanes of one dot-product accumulator).
pub const STEP: usize = 16;

/// The inputs padded to whole steps.
fn padded(inputs: usize) -> Result<usize, Error> {
    inputs.checked_next_multiple_of(STEP).ok_or(Error::TooLarge)
}

/// The layout's blocks for `outputs` rows of `p` padded inputs: (first row, rows, first
/// float), in order.
pub(crate) fn blocks(p: usize, outputs: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..outputs).step_by(ROWS).map(move |j0| (j0, ROWS.min(outputs - j0), j0 * p))
}

/// Floats of `outputs x inputs` weights in the packed layout: the inputs padded to a
/// multiple of [`STEP`], times the outputs.
pub fn packed_len(inputs: usize, outputs: usize) -> Result<usize, Error> {
    padded(inputs)?.checked_mul(outputs).ok_or(Error::TooLarge)
}

/// Whether `w` (`outputs x inputs`) and `packed` ([`packed_len`]) have their lengths.
fn layout(inputs: usize, outputs: usize, w: usize, packed: usize) -> Result<usize, Error> {
    check_len(Buffer::Weights, inputs.checked_mul(outputs).ok_or(Error::TooLarge)?, w)?;
    check_len(Buffer::Packed, packed_len(inputs, outputs)?, packed)?;
    padded(inputs)
}

/// Packs `w` (`outputs x inputs`, row `j` the weights into neuron `j`) into `packed`
/// ([`packed_len`] floats; every float written, the padding with zeros).
pub fn pack(inputs: usize, outputs: usize, w: &[f32], packed: &mut [f32]) -> Result<(), Error> {
    let p = layout(inputs, outputs, w.len(), packed.len())?;
    for (j0, r, at) in blocks(p, outputs) {
        let block = &mut packed[at..at + r * p];
        for (s, step) in block.chunks_exact_mut(r * STEP).enumerate() {
            for (i, lanes) in step.chunks_exact_mut(STEP).enumerate() {
                let k0 = s * STEP;
                let len = STEP.min(inputs - k0);
                let row = &w[(j0 + i) * inputs + k0..][..len];
                lanes[..len].copy_from_slice(row);
                lanes[len..].fill(0.0);
            }
        }
    }
    Ok(())
}

/// `y[j] = sum_k x[k] W[j][k]` for one sample from packed weights, each sum in index order
/// with one multiply and one add per term: the bits of the reference and portable forwards.
///
/// # Errors
/// [`Error::BadLength`] unless `x` holds `inputs`, `packed` [`packed_len`] and `y`
/// `outputs` floats.
pub(crate) fn forward_in_order(
    inputs: usize,
    outputs: usize,
    x: &[f32],
    packed: &[f32],
    y: &mut [f32],
) -> Result<(), Error> {
    check_len(Buffer::Input, inputs, x.len())?;
    check_len(Buffer::Packed, packed_len(inputs, outputs)?, packed.len())?;
    check_len(Buffer::Output, outputs, y.len())?;
    let p = padded(inputs)?;
    for (j0, r, at) in blocks(p, outputs) {
        let block = &packed[at..at + r * p];
        // The block's rows side by side, input by input: every sum still runs over k in
        // index order, and the block is read once from start to end.
        let mut acc = [0.0f32; ROWS];
        for (xs, step) in x.chunks(STEP).zip(block.chunks_exact(r * STEP)) {
            if r == ROWS {
                // A whole block: its four rows by name, no index checks.
                let (w01, w23) = step.split_at(2 * STEP);
                let ((w0, w1), (w2, w3)) = (w01.split_at(STEP), w23.split_at(STEP));
                if let (Ok(xs), Ok(w0), Ok(w1), Ok(w2), Ok(w3)) = (
                    <&[f32; STEP]>::try_from(xs),
                    <&[f32; STEP]>::try_from(w0),
                    <&[f32; STEP]>::try_from(w1),
                    <&[f32; STEP]>::try_from(w2),
                    <&[f32; STEP]>::try_from(w3),
                ) {
                    // A whole step: fixed lengths, so the compiler unrolls it.
                    for l in 0..STEP {
                        acc[0] += xs[l] * w0[l];
                        acc[1] += xs[l] * w1[l];
                        acc[2] += xs[l] * w2[l];
                        acc[3] += xs[l] * w3[l];
                    }
                } else {
                    for ((((&xk, &a), &b), &c), &d) in xs.iter().zip(w0).zip(w1).zip(w2).zip(w3) {
                        acc[0] += xk * a;
                        acc[1] += xk * b;
                        acc[2] += xk * c;
                        acc[3] += xk * d;
                    }
                }
            } else {
                for (l, &xk) in xs.iter().enumerate() {
                    for (i, a) in acc[..r].iter_mut().enumerate() {
                        *a += xk * step[i * STEP + l];
                    }
                }
            }
        }
        y[j0..j0 + r].copy_from_slice(&acc[..r]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_weight_lands_where_the_layout_says() -> Result<(), Error> {
        for (inputs, outputs) in [(1, 1), (16, 8), (17, 9), (33, 20), (784, 10), (5, 3)] {
            let mut w = [0.0f32; 8000];
            let w = &mut w[..inputs * outputs];
            w.iter_mut().enumerate().for_each(|(i, v)| *v = 1.0 + i as f32);
            let mut packed = [f32::NAN; 8000];
            let len = packed_len(inputs, outputs)?;
            let packed = &mut packed[..len];
            pack(inputs, outputs, w, packed)?;
            let p = inputs.next_multiple_of(STEP);
            for j in 0..outputs {
                let (j0, i) = (j - j % ROWS, j % ROWS);
                let r = ROWS.min(outputs - j0);
                for k in 0..p {
                    let got = packed[j0 * p + ((k / STEP) * r + i) * STEP + k % STEP];
                    let want = if k < inputs { w[j * inputs + k] } else { 0.0 };
                    assert_eq!(got.to_bits(), want.to_bits(), "{inputs}x{outputs}: row {j}, input {k}");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let (w, mut packed) = ([1.0f32; 40], [0.0f32; 128]);
        assert_eq!(
            pack(5, 8, &w[..39], &mut packed),
            Err(Error::BadLength { buffer: Buffer::Weights, expected: 40, got: 39 })
        );
        assert_eq!(
            pack(5, 8, &w, &mut packed[..63]),
            Err(Error::BadLength { buffer: Buffer::Packed, expected: 128, got: 63 })
        );
        assert_eq!(packed_len(usize::MAX, 1), Err(Error::TooLarge));
        let mut y = [0.0f32; 8];
        assert!(forward_in_order(5, 8, &w[..4], &packed[..128], &mut y).is_err());
    }
}
