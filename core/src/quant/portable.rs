//! The portable int8 accumulation: the input offset folded into one per-row sum, four rows
//! of `W` per pass over a sample. Plain integer code: the Cortex-M3/M0 path, and the
//! fallback everywhere.

use super::QuantDense;

/// `acc[s][j] = (b[j] - z_in sum_i W[j][i]) + sum_i x[s][i] W[j][i]` (lengths checked by the
/// caller).
pub(super) fn accumulate(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    let (n, m) = (layer.inputs, layer.outputs);
    let Some((first, rest)) = acc.split_at_mut_checked(m) else { return };
    for (j, (a, row)) in first.iter_mut().zip(layer.weights.chunks_exact(n)).enumerate() {
        *a = layer.row_offset(j, row, layer.input_zero);
    }
    let mut xs = x.chunks_exact(n);
    let Some(x0) = xs.next() else { return };
    // Every other sample starts from a copy of the offsets, the first sample last.
    for (xr, ar) in xs.zip(rest.chunks_exact_mut(m)) {
        ar.copy_from_slice(first);
        add_products(layer.weights, n, xr, ar);
    }
    add_products(layer.weights, n, x0, first);
}

/// `a[j] += sum_i x[i] W[j][i]` for one sample, four rows per pass.
fn add_products(weights: &[i8], n: usize, x: &[i8], a: &mut [i32]) {
    let mut rows = weights.chunks_exact(4 * n);
    let mut blocks = a.chunks_exact_mut(4);
    for (block, a) in rows.by_ref().zip(blocks.by_ref()) {
        let (r0, rest) = block.split_at(n);
        let (r1, rest) = rest.split_at(n);
        let (r2, r3) = rest.split_at(n);
        let mut s = [0i32; 4];
        s.copy_from_slice(a);
        for ((((&xi, &w0), &w1), &w2), &w3) in x.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
            let xi = xi as i32;
            s[0] = s[0].wrapping_add(xi.wrapping_mul(w0 as i32));
            s[1] = s[1].wrapping_add(xi.wrapping_mul(w1 as i32));
            s[2] = s[2].wrapping_add(xi.wrapping_mul(w2 as i32));
            s[3] = s[3].wrapping_add(xi.wrapping_mul(w3 as i32));
        }
        a.copy_from_slice(&s);
    }
    for (row, a) in rows.remainder().chunks_exact(n).zip(blocks.into_remainder()) {
        *a = x.iter().zip(row).fold(*a, |s, (&xi, &w)| s.wrapping_add((xi as i32).wrapping_mul(w as i32)));
    }
}
