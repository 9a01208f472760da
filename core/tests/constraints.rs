//! The max-norm constraint: each neuron's incoming weights end inside the ball, in the same
//! direction; rows already inside and every bias are untouched; bad bounds are errors.

use myelin_core::*;

#[test]
fn max_norm_projects_only_the_rows_outside_the_ball() {
    let topo = Topology::dense(&[3, 2, 2], Activation::Relu, Activation::Identity, Loss::Mse).unwrap();
    // Layer 1: rows (3, 4, 0) norm 5 and (0.1, 0.2, 0.2) norm 0.3; biases 7, -7.
    // Layer 2: rows (6, 8) norm 10 and (1, 0) norm 1; biases 9, 9.
    let mut p = vec![3.0, 4.0, 0.0, 0.1, 0.2, 0.2, 7.0, -7.0, 6.0, 8.0, 1.0, 0.0, 9.0, 9.0];
    let before = p.clone();
    topo.apply_max_norm(&mut p, 2.0).unwrap();
    let norm = |r: &[f32]| r.iter().map(|v| v * v).sum::<f32>().sqrt();
    for (row, was) in [(0..3, 5.0f32), (8..10, 10.0)] {
        let r = &p[row.clone()];
        assert!((norm(r) - 2.0).abs() <= 2e-6, "row {row:?}: norm {}", norm(r));
        for (v, w) in r.iter().zip(&before[row.clone()]) {
            assert_eq!(*v, w * (2.0 / was), "row {row:?} keeps its direction");
        }
    }
    for untouched in [3..8, 10..14] {
        assert_eq!(p[untouched.clone()], before[untouched], "rows inside the ball and biases stay as they were");
    }
}

#[test]
fn max_norm_rejects_bad_bounds_and_lengths() {
    let topo = Topology::dense(&[3, 2], Activation::Identity, Activation::Identity, Loss::Mse).unwrap();
    let mut p = vec![1.0; 8];
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert_eq!(
            topo.apply_max_norm(&mut p, bad),
            Err(Error::BadHyperparameter { which: Hyper::MaxNorm }),
            "bound {bad}"
        );
    }
    let mut short = vec![1.0; 7];
    assert!(matches!(topo.apply_max_norm(&mut short, 1.0), Err(Error::BadLength { buffer: Buffer::Params, .. })));
}
