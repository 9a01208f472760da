//! Finite-difference gradient checks: myelin's analytic f32 gradients against central
//! differences of an independent float64 implementation written here, for every valid
//! activation x loss pairing on networks with 1, 2 and 3 hidden layers, on every kernel set.

use myelin_core::*;

const HIDDEN: [Activation; 5] =
    [Activation::Identity, Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::LeakyRelu];
const OUTPUT: [Activation; 6] = [
    Activation::Identity,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Relu,
    Activation::LeakyRelu,
    Activation::Softmax,
];

fn f64_act(a: Activation, z: &mut [f64]) {
    match a {
        Activation::Identity => {}
        Activation::Sigmoid => z.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Activation::Tanh => z.iter_mut().for_each(|v| *v = v.tanh()),
        Activation::Relu => z.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::LeakyRelu => z.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { 0.01 * *v }),
        Activation::Softmax => {
            let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            z.iter_mut().for_each(|v| *v = (*v - m).exp());
            let s: f64 = z.iter().sum();
            z.iter_mut().for_each(|v| *v /= s);
        }
        _ => unreachable!(),
    }
}

/// Independent float64 forward + mean loss; `masks` (empty: no dropout) holds each hidden
/// layer's dropout mask (batch, width), multiplied into its outputs.
fn f64_loss(topo: &Topology, p: &[f64], x: &[f32], t: &[f32], batch: usize, masks: &[Vec<f32>]) -> f64 {
    let mut total = 0.0;
    for s in 0..batch {
        let mut a: Vec<f64> = x[s * topo.inputs()..(s + 1) * topo.inputs()].iter().map(|&v| v as f64).collect();
        let mut off = 0;
        for (li, l) in topo.layers().iter().enumerate() {
            let (n, m) = (l.inputs, l.outputs);
            let mut z = vec![0.0; m];
            for j in 0..m {
                z[j] = p[off + n * m + j] + (0..n).map(|k| p[off + j * n + k] * a[k]).sum::<f64>();
            }
            off += n * m + m;
            f64_act(l.activation, &mut z);
            if let Some(mask) = masks.get(li) {
                z.iter_mut().zip(&mask[s * m..(s + 1) * m]).for_each(|(v, &k)| *v *= k as f64);
            }
            a = z;
        }
        let tt = &t[s * topo.outputs()..(s + 1) * topo.outputs()];
        let o = a.len() as f64;
        total += match topo.loss() {
            Loss::Sse => 0.5 * a.iter().zip(tt).map(|(y, &t)| (y - t as f64).powi(2)).sum::<f64>(),
            Loss::Mse => a.iter().zip(tt).map(|(y, &t)| (y - t as f64).powi(2)).sum::<f64>() / o,
            Loss::BinaryCrossEntropy => {
                -a.iter().zip(tt).map(|(y, &t)| t as f64 * y.ln() + (1.0 - t as f64) * (1.0 - y).ln()).sum::<f64>()
            }
            Loss::CrossEntropy => -a.iter().zip(tt).map(|(y, &t)| t as f64 * y.ln()).sum::<f64>(),
            _ => unreachable!(),
        };
    }
    total / batch as f64
}

fn check(topo: &Topology, seed: u64, worst: &mut f64) {
    check_with(topo, seed, None, worst)
}

/// [`check`] with dropout at `rate` on the hidden layers when given: the masks the core draws
/// (a fresh generator of the same seed for every forward, so every forward draws the same
/// ones) are drawn here too, in the same order, and applied in the float64 forward.
fn check_with(topo: &Topology, seed: u64, rate: Option<f32>, worst: &mut f64) {
    let batch = 3;
    let dropout = || rate.map(|r| Dropout::new(r, Rng::stream(seed, 7)).unwrap());
    let masks: Vec<Vec<f32>> = match dropout() {
        Some(mut d) => topo.layers()[..topo.layers().len() - 1]
            .iter()
            .map(|l| {
                let mut m = vec![0.0; batch * l.outputs];
                d.draw(&mut m);
                m
            })
            .collect(),
        None => Vec::new(),
    };
    let mut rng = Rng::new(seed);
    let mut params = vec![0.0f32; topo.params_len()];
    topo.init_params(&mut params, Init::XavierNormal, &mut rng).unwrap();
    // Non-zero biases so ReLU kinks are not all at the same place.
    params.iter_mut().for_each(|p| *p += rng.uniform_in(-0.1, 0.1));
    let x: Vec<f32> = (0..batch * topo.inputs()).map(|_| rng.uniform_in(-1.0, 1.0)).collect();
    let t: Vec<f32> = match topo.loss() {
        Loss::CrossEntropy => (0..batch)
            .flat_map(|_| {
                let c = rng.below(topo.outputs() as u32) as usize;
                (0..topo.outputs()).map(move |j| if j == c { 1.0 } else { 0.0 })
            })
            .collect(),
        Loss::BinaryCrossEntropy => (0..batch * topo.outputs()).map(|_| rng.below(2) as f32).collect(),
        _ => (0..batch * topo.outputs()).map(|_| rng.uniform_in(-1.0, 1.0)).collect(),
    };
    let p64: Vec<f64> = params.iter().map(|&v| v as f64).collect();
    let h = 1e-6;
    let numeric: Vec<f64> = (0..params.len())
        .map(|i| {
            let (mut a, mut b) = (p64.clone(), p64.clone());
            a[i] += h;
            b[i] -= h;
            (f64_loss(topo, &a, &x, &t, batch, &masks) - f64_loss(topo, &b, &x, &t, batch, &masks)) / (2.0 * h)
        })
        .collect();
    for backend in Backend::available() {
        let k = &backend;
        let mut work = vec![0.0f32; topo.workspace_len(batch).unwrap()];
        let mut grads = vec![0.0f32; topo.params_len()];
        let pass = topo.forward(k, &params, &x, batch, &mut work, dropout().as_mut()).unwrap();
        let loss = topo.loss_of(&pass, &work, &t).unwrap() as f64;
        let want = f64_loss(topo, &p64, &x, &t, batch, &masks);
        assert!((loss - want).abs() <= 1e-5 * want.abs().max(1.0), "{topo:?}: loss {loss} vs f64 {want}");
        topo.backward(k, &pass, &params, &x, &t, &mut work, &mut grads).unwrap();
        for (i, (&a, &n)) in grads.iter().zip(&numeric).enumerate() {
            // Relative error, with a floor so gradients that are ~0 compare absolutely.
            let rel = (a as f64 - n).abs() / (a.abs() as f64).max(n.abs()).max(1e-3);
            *worst = worst.max(rel);
            assert!(rel <= 1e-3, "{:?} param {i}: analytic {a} numeric {n} rel {rel:e}", topo.layers());
        }
    }
}

#[test]
fn every_activation_and_loss_on_one_to_three_hidden_layers() {
    let mut worst = 0.0f64;
    let mut cases = 0;
    for hidden_layers in 1..=3 {
        for (hi, &hidden) in HIDDEN.iter().enumerate() {
            for (oi, &output) in OUTPUT.iter().enumerate() {
                for loss in Loss::ALL {
                    let mut sizes = vec![4];
                    sizes.extend((0..hidden_layers).map(|i| 5 + i));
                    sizes.push(3);
                    let Ok(topo) = Topology::dense(&sizes, hidden, output, loss) else { continue };
                    check(&topo, (hidden_layers * 100 + hi * 10 + oi) as u64, &mut worst);
                    cases += 1;
                }
            }
        }
    }
    println!("{cases} networks checked; max relative error analytic vs finite differences = {worst:.3e}");
    assert!(cases >= 3 * 5 * 8, "every valid pairing must be covered, got {cases}");
}

/// Dropout on every hidden activation: the backward's delta through a mask (`y / mask` for
/// the kept units, 0 for the dropped ones) against finite differences of the float64 forward
/// with the same masks, on every kernel set.
#[test]
fn dropout_on_every_hidden_activation() {
    let mut worst = 0.0f64;
    let mut cases = 0;
    for hidden_layers in 1..=2 {
        for (hi, &hidden) in HIDDEN.iter().enumerate() {
            for (output, loss) in [(Activation::Softmax, Loss::CrossEntropy), (Activation::Identity, Loss::Mse)] {
                let mut sizes = vec![4];
                sizes.extend((0..hidden_layers).map(|i| 9 + i));
                sizes.push(3);
                let topo = Topology::dense(&sizes, hidden, output, loss).unwrap();
                check_with(&topo, (hidden_layers * 10 + hi) as u64, Some(0.5), &mut worst);
                cases += 1;
            }
        }
    }
    println!("{cases} networks with dropout; max relative error = {worst:.3e}");
    assert_eq!(cases, 2 * HIDDEN.len() * 2);
}
