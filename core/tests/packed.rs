//! Weights packed for one sample at a time (`kernels::packed`): every kernel set's packed
//! forward against its own forward of the same sample in a batch of one, bit for bit, at
//! sizes that take every tail (inputs off whole steps of 16, outputs off whole blocks of 8),
//! with guards around the output; `Topology::predict_one` against `Topology::predict`.

use myelin_core::kernels::{packed, Backend, Dims, Kernels};
use myelin_core::{Activation, Buffer, Error, Loss, Rng, Topology};

const GUARD: usize = 7;
const SENTINEL: f32 = -12345.678;

fn reals(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.uniform_in(-1.0, 1.0)).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|v| v.to_bits()).collect()
}

fn sizes() -> (Vec<usize>, Vec<usize>) {
    if cfg!(miri) {
        (vec![1, 15, 16, 17, 33], vec![1, 7, 8, 9, 17])
    } else {
        ((1..=34).chain([47, 48, 49, 100, 128, 255, 784]).collect(), (1..=17).chain([23, 24, 25, 64, 128]).collect())
    }
}

#[test]
fn packed_forward_is_the_forward() {
    let mut rng = Rng::new(17);
    let (ins, outs) = sizes();
    for k in Backend::available() {
        for &inputs in &ins {
            for &outputs in &outs {
                let batch = 1 + (inputs + outputs) % 3;
                let act = Activation::ALL[(inputs * 7 + outputs) % Activation::ALL.len()];
                let x = reals(&mut rng, batch * inputs);
                let w = reals(&mut rng, outputs * inputs);
                let b = reals(&mut rng, outputs);
                let mut wp = vec![f32::NAN; packed::packed_len(inputs, outputs).unwrap()];
                packed::pack(inputs, outputs, &w, &mut wp).unwrap();
                let mut y = vec![SENTINEL; batch * outputs + 2 * GUARD];
                let d = Dims { batch, inputs, outputs };
                k.dense_forward_packed(d, &x, &wp, &b, &mut y[GUARD..GUARD + batch * outputs], act).unwrap();
                assert!(y[..GUARD].iter().chain(&y[GUARD + batch * outputs..]).all(|&v| v == SENTINEL));
                for s in 0..batch {
                    let mut want = vec![f32::NAN; outputs];
                    let one = Dims { batch: 1, inputs, outputs };
                    k.dense_forward(one, &x[s * inputs..][..inputs], &w, &b, &mut want, act).unwrap();
                    let got = &y[GUARD + s * outputs..][..outputs];
                    assert_eq!(
                        bits(got),
                        bits(&want),
                        "{}: {inputs} -> {outputs}, sample {s} of {batch}, {act:?}",
                        k.name()
                    );
                }
            }
        }
    }
}

#[test]
fn predict_one_is_predict_of_one_sample() {
    let nets: &[&[usize]] = if cfg!(miri) {
        &[&[5, 3, 2], &[33, 17, 9, 1]]
    } else {
        &[&[784, 128, 10], &[784, 512, 512, 10], &[5, 3, 2], &[33, 17, 9, 1], &[64, 32, 10], &[16, 8]]
    };
    let mut rng = Rng::new(3);
    for sizes in nets {
        for (hidden, output) in [(Activation::Relu, Activation::Softmax), (Activation::Tanh, Activation::Identity)] {
            let loss = if output == Activation::Softmax { Loss::CrossEntropy } else { Loss::Mse };
            let topo = Topology::dense(sizes, hidden, output, loss).unwrap();
            // Weights and biases alike from [-1, 1], scaled by each layer's fan-in as an
            // initializer would (no `Init`: its square root is inline assembly Miri cannot run).
            let mut params = reals(&mut rng, topo.params_len());
            let scale = 1.0 / (sizes[0] as f32).sqrt();
            params.iter_mut().for_each(|v| *v *= scale);
            let mut packed = vec![f32::NAN; topo.packed_len().unwrap()];
            topo.pack(&params, &mut packed).unwrap();
            for k in Backend::available() {
                let mut work = vec![f32::NAN; topo.inference_len(1).unwrap()];
                let mut work1 = work.clone();
                for _ in 0..2 {
                    let x = reals(&mut rng, topo.inputs());
                    let want = topo.predict(&k, &params, &x, 1, &mut work).unwrap();
                    let got = topo.predict_one(&k, &packed, &x, &mut work1).unwrap();
                    assert_eq!(bits(got), bits(want), "{}: {sizes:?}", k.name());
                }
            }
        }
    }
}

#[test]
fn packed_lengths_are_checked() {
    let topo = Topology::dense(&[5, 3, 2], Activation::Relu, Activation::Identity, Loss::Mse).unwrap();
    // 5 inputs padded to 16: 3 x 16 + 3, then 3 -> 16: 2 x 16 + 2.
    assert_eq!(topo.packed_len(), Ok(3 * 16 + 3 + 2 * 16 + 2));
    let params = vec![0.5; topo.params_len()];
    let mut packed = vec![0.0; topo.packed_len().unwrap()];
    let bad = |expected, got| Err(Error::BadLength { buffer: Buffer::Packed, expected, got });
    assert_eq!(topo.pack(&params, &mut packed[..84]), bad(85, 84));
    assert_eq!(
        topo.pack(&params[..20], &mut packed),
        Err(Error::BadLength { buffer: Buffer::Params, expected: 26, got: 20 })
    );
    topo.pack(&params, &mut packed).unwrap();
    let mut work = vec![0.0; topo.inference_len(1).unwrap()];
    let x = [1.0; 5];
    assert!(topo.predict_one(&Backend::detect(), &packed[1..], &x, &mut work).is_err());
    assert!(topo.predict_one(&Backend::detect(), &packed, &x[..4], &mut work).is_err());
    assert!(topo.predict_one(&Backend::detect(), &packed, &x, &mut work[1..]).is_err());
    let d = Dims { batch: 1, inputs: 5, outputs: 3 };
    let mut y = [0.0; 3];
    for k in Backend::available() {
        assert_eq!(
            k.dense_forward_packed(d, &x, &packed[..47], &params[..3], &mut y, Activation::Relu),
            bad(48, 47),
            "{}",
            k.name()
        );
    }
}
