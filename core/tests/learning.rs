//! The engine learns: XOR, a separable set for the perceptron, a small regression; and the
//! training-time pieces (dropout, init, regularization, clipping, health) behave.

use myelin_core::*;

fn train(
    topo: &Topology,
    x: &[f32],
    t: &[f32],
    batch: usize,
    rule: Rule,
    steps: usize,
    seed: u64,
) -> (Vec<f32>, f32, f32) {
    let k = Native::default();
    let mut params = vec![0.0; topo.params_len()];
    let mut grads = vec![0.0; topo.params_len()];
    let mut work = vec![0.0; topo.workspace_len(batch).unwrap()];
    let mut state = vec![0.0; rule.state_len(params.len())];
    topo.init_params(&mut params, Init::for_activation(topo.layers()[0].activation), &mut Rng::new(seed)).unwrap();
    let mut opt = Optimizer::new(rule).unwrap();
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..steps {
        let pass = topo.forward(&k, &params, x, batch, &mut work, None).unwrap();
        last = topo.loss_of(&pass, &work, t).unwrap();
        first.get_or_insert(last);
        grads.fill(0.0);
        topo.backward(&k, &pass, &params, x, t, &mut work, &mut grads).unwrap();
        opt.step(&mut params, &grads, &mut state).unwrap();
    }
    (params, first.unwrap(), last)
}

const XOR_X: [f32; 8] = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
const XOR_T: [f32; 4] = [0.0, 1.0, 1.0, 0.0];

#[test]
fn xor_with_every_optimizer() {
    let topo = Topology::dense(&[2, 4, 1], Activation::Tanh, Activation::Sigmoid, Loss::BinaryCrossEntropy).unwrap();
    for rule in [
        Rule::Sgd { lr: 1.0 },
        Rule::Momentum { lr: 0.3, mu: 0.9, nesterov: false },
        Rule::Momentum { lr: 0.3, mu: 0.9, nesterov: true },
        Rule::adam(0.05),
    ] {
        let (params, first, last) = train(&topo, &XOR_X, &XOR_T, 4, rule, 2000, 3);
        let mut work = vec![0.0; topo.inference_len(4).unwrap()];
        let y = topo.predict(&Native::default(), &params, &XOR_X, 4, &mut work).unwrap();
        let correct = y.iter().zip(XOR_T).filter(|(y, t)| (**y > 0.5) == (*t > 0.5)).count();
        assert_eq!(correct, 4, "{rule:?}: {y:?} (loss {first} -> {last})");
    }
}

#[test]
fn xor_seeds_style_sigmoid_sse() {
    // The classic formulation: sigmoid everywhere, 1/2 sum of squared errors, plain SGD.
    let topo = Topology::dense(&[2, 3, 1], Activation::Sigmoid, Activation::Sigmoid, Loss::Sse).unwrap();
    let (_, first, last) = train(&topo, &XOR_X, &XOR_T, 4, Rule::Sgd { lr: 5.0 }, 5000, 11);
    assert!(last < 0.01 && last < first / 5.0, "SSE {first} -> {last}");
}

#[test]
fn perceptron_learns_a_separable_set() {
    // Points labeled by 2 x0 - x1 + 0.5 > 0, on a grid.
    let mut data = Vec::new();
    for i in 0..10 {
        for j in 0..10 {
            let x = [i as f32 / 9.0 - 0.5, j as f32 / 9.0 - 0.5];
            let z = 2.0 * x[0] - x[1] + 0.05;
            if z.abs() > 0.05 {
                data.push((x, if z > 0.0 { 1.0 } else { 0.0 }));
            }
        }
    }
    let mut p = Perceptron::<2>::default();
    let epochs = p.fit(&data, 0.1, 1000).expect("separable data must converge");
    assert!(data.iter().all(|(x, t)| p.predict(x) == *t));
    assert!(epochs > 1, "the rule must actually have had to learn");
    // AND is separable, XOR is not.
    let mut q = Perceptron::<2>::default();
    let xor = [([0.0, 0.0], 0.0), ([0.0, 1.0], 1.0), ([1.0, 0.0], 1.0), ([1.0, 1.0], 0.0)];
    assert_eq!(q.fit(&xor, 0.1, 200), None);
}

#[test]
fn small_regression_fits_a_sine() {
    let n = 32;
    let x: Vec<f32> = (0..n).map(|i| i as f32 / (n - 1) as f32 * std::f32::consts::TAU).collect();
    let t: Vec<f32> = x.iter().map(|v| v.sin()).collect();
    let topo = Topology::dense(&[1, 16, 16, 1], Activation::Tanh, Activation::Identity, Loss::Mse).unwrap();
    let xs: Vec<f32> = x.iter().map(|v| v / std::f32::consts::TAU * 2.0 - 1.0).collect();
    let (_, first, last) = train(&topo, &xs, &t, n, Rule::adam(0.01), 3000, 5);
    assert!(last < 0.005 && last < first / 20.0, "MSE {first} -> {last}");
}

#[test]
fn dropout_masks_are_seeded_scaled_and_zero_the_gradient_of_dropped_units() {
    let topo = Topology::dense(&[3, 64, 2], Activation::Relu, Activation::Softmax, Loss::CrossEntropy).unwrap();
    let k = Native::default();
    let mut params = vec![0.0; topo.params_len()];
    topo.init_params(&mut params, Init::HeUniform, &mut Rng::new(1)).unwrap();
    let r0 = topo.param_range(0).unwrap();
    params[r0.b..r0.end].fill(3.0); // every hidden unit active, so only dropout zeroes them
    let x = [0.5, -0.2, 0.9, 0.1, 0.3, -0.7];
    let t = [1.0, 0.0, 0.0, 1.0];
    let run = |rate: Option<f32>, seed: u64| {
        let mut work = vec![0.0; topo.workspace_len(2).unwrap()];
        let mut grads = vec![0.0; topo.params_len()];
        let mut d = rate.map(|r| Dropout::new(r, Rng::new(seed)).unwrap());
        let pass = topo.forward(&k, &params, &x, 2, &mut work, d.as_mut()).unwrap();
        topo.backward(&k, &pass, &params, &x, &t, &mut work, &mut grads).unwrap();
        (work, grads)
    };
    let (w0, g0) = run(None, 0);
    let (wz, gz) = run(Some(0.0), 0);
    assert_eq!(w0[..128], wz[..128], "rate 0 changes nothing");
    assert_eq!(g0, gz);
    let (wa, ga) = run(Some(0.5), 9);
    let (wb, gb) = run(Some(0.5), 9);
    assert_eq!(ga, gb, "same seed, same masks, same gradients");
    assert_eq!(wa, wb);
    let (_, gc) = run(Some(0.5), 10);
    assert_ne!(ga, gc, "another seed draws other masks");
    // Hidden outputs are either 0 or 2x the undropped value; dropped units get no W1 gradient
    // when dropped for both samples.
    let mut dropped_both = 0;
    for j in 0..64 {
        for s in 0..2 {
            let (a, b) = (w0[s * 64 + j], wa[s * 64 + j]);
            assert!(b == 0.0 || (b - 2.0 * a).abs() <= 1e-6 * a.abs(), "unit {j}: {a} -> {b}");
        }
        if wa[j] == 0.0 && wa[64 + j] == 0.0 && w0[j] > 0.0 && w0[64 + j] > 0.0 {
            dropped_both += 1;
            assert!(ga[j * 3..j * 3 + 3].iter().all(|&g| g == 0.0));
        }
    }
    let alive = (0..64).filter(|&j| w0[j] > 0.0 && w0[64 + j] > 0.0).count();
    let zeros = wa.iter().take(128).filter(|&&v| v == 0.0).count();
    assert!(dropped_both > 0, "alive {alive}, zeros {zeros}");
    assert!(Dropout::new(1.0, Rng::new(0)).is_err());
    assert!(Dropout::new(f32::NAN, Rng::new(0)).is_err());
}

#[test]
fn init_is_seeded_and_scaled() {
    let topo = Topology::dense(&[400, 300, 10], Activation::Relu, Activation::Softmax, Loss::CrossEntropy).unwrap();
    let mut a = vec![0.0; topo.params_len()];
    let mut b = vec![1.0; topo.params_len()];
    topo.init_params(&mut a, Init::HeUniform, &mut Rng::new(42)).unwrap();
    topo.init_params(&mut b, Init::HeUniform, &mut Rng::new(42)).unwrap();
    assert_eq!(a, b);
    let r = topo.param_range(0).unwrap();
    let w = &a[r.w..r.b];
    let lim = (6.0f32 / 400.0).sqrt();
    assert!(w.iter().all(|v| v.abs() <= lim));
    let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
    assert!((var / (2.0 / 400.0) - 1.0).abs() < 0.05, "He variance {var}");
    assert!(a[r.b..r.end].iter().all(|&v| v == 0.0), "biases start at zero");
    let mut c = vec![0.0; topo.params_len()];
    topo.init_params(&mut c, Init::XavierNormal, &mut Rng::new(42)).unwrap();
    let w = &c[r.w..r.b];
    let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
    assert!((var / (2.0 / 700.0) - 1.0).abs() < 0.05, "Xavier variance {var}");
    // Streams: same (seed, stream) -> same numbers; different streams differ.
    assert_eq!(Rng::stream(1, 2).next_u32(), Rng::stream(1, 2).next_u32());
    assert_ne!(Rng::stream(1, 2).next_u32(), Rng::stream(1, 3).next_u32());
}

#[test]
fn regularization_and_clipping() {
    let topo = Topology::dense(&[2, 2, 1], Activation::Tanh, Activation::Identity, Loss::Mse).unwrap();
    let params = [1.0, -2.0, 0.0, 3.0, 5.0, 5.0, -1.0, 0.5, 7.0];
    let mut grads = [0.0; 9];
    topo.add_penalty_grads(&params, &mut grads, 0.1, 0.01).unwrap();
    let want = [0.11, -0.12, 0.0, 0.13, 0.0, 0.0, -0.11, 0.105, 0.0];
    for (g, w) in grads.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{grads:?}");
    }
    let p = topo.penalty(&params, 0.1, 0.01).unwrap();
    assert!((p - (0.1 * 7.5 + 0.005 * 15.25)).abs() < 1e-5);
    assert!(topo.add_penalty_grads(&params, &mut grads, -1.0, 0.0).is_err());

    let mut g = [3.0f32, 4.0];
    assert_eq!(clip_global_norm(&mut g, 1.0).unwrap(), 5.0);
    assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
    let mut g = [0.3f32, 0.4];
    clip_global_norm(&mut g, 1.0).unwrap();
    assert_eq!(g, [0.3, 0.4], "below the threshold nothing changes");
    assert!(clip_global_norm(&mut g, 0.0).is_err());
}

/// The global norm is its documented order, bit for bit: element `i`'s square into partial
/// sum `i % 64` in index order, the 64 sums added by halves, then the square root; and it
/// stays within a few rounding errors of the exact norm.
#[test]
fn global_norm_is_its_summation_order() {
    fn definition(g: &[f32]) -> f32 {
        let mut s = [0.0f32; 64];
        for (i, &v) in g.iter().enumerate() {
            s[i % 64] += v * v;
        }
        let mut width = 64;
        while width > 1 {
            width /= 2;
            for l in 0..width {
                s[l] += s[l + width];
            }
        }
        s[0].sqrt()
    }
    let mut rng = Rng::new(5);
    let lens = (0..=200).chain([255, 256, 257, 1000, 4097, 101_770]);
    for n in lens {
        let g: Vec<f32> = (0..n).map(|_| rng.uniform_in(-1.0, 1.0) * 1e-2).collect();
        let norm = global_norm(&g);
        assert_eq!(norm.to_bits(), definition(&g).to_bits(), "n {n}");
        let exact = g.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
        assert!((f64::from(norm) - exact).abs() <= 1e-5 * exact, "n {n}: {norm} against {exact}");
    }
}

#[test]
fn health_reports_dead_relus_saturation_and_norms() {
    let topo = Topology::dense(&[2, 4, 3, 1], Activation::Relu, Activation::Sigmoid, Loss::BinaryCrossEntropy).unwrap();
    // Layer 0: units 0 and 1 dead (large negative bias), 2 and 3 alive.
    let mut params = vec![0.0f32; topo.params_len()];
    let r0 = topo.param_range(0).unwrap();
    params[r0.w..r0.b].copy_from_slice(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0]);
    params[r0.b..r0.end].copy_from_slice(&[-100.0, -100.0, 0.5, 0.5]);
    let r1 = topo.param_range(1).unwrap();
    params[r1.w..r1.b].iter_mut().for_each(|w| *w = 1.0);
    let r2 = topo.param_range(2).unwrap();
    params[r2.w..r2.b].iter_mut().for_each(|w| *w = 0.5);
    let x = [0.2, 0.1, 0.4, 0.3];
    let t = [1.0, 0.0];
    let k = Native::default();
    let mut work = vec![0.0; topo.workspace_len(2).unwrap()];
    let mut grads = vec![0.0; topo.params_len()];
    let pass = topo.forward(&k, &params, &x, 2, &mut work, None).unwrap();
    topo.backward(&k, &pass, &params, &x, &t, &mut work, &mut grads).unwrap();
    let h = topo.health(&pass, &work, &grads).unwrap();
    assert_eq!(h.layers().len(), 3);
    assert_eq!(h.layers()[0].dead_fraction, 0.5);
    assert_eq!(h.layers()[1].dead_fraction, 0.0);
    assert!(h.layers().iter().all(|l| l.grad_norm > 0.0));
    // Saturate the output sigmoid with a huge bias: every output is within 0.01 of 1.
    params[r2.b] = 50.0;
    let pass = topo.forward(&k, &params, &x, 2, &mut work, None).unwrap();
    let h = topo.health(&pass, &work, &grads).unwrap();
    assert_eq!(h.layers()[2].saturated_fraction, 1.0);
}

/// An optimizer step applied in parts (as the trainer does on several threads) gives the
/// bits of the whole step, for every rule.
#[test]
fn update_in_parts_equals_the_whole_step() {
    let rules = [
        Rule::Sgd { lr: 0.1 },
        Rule::Momentum { lr: 0.05, mu: 0.9, nesterov: false },
        Rule::Momentum { lr: 0.05, mu: 0.9, nesterov: true },
        Rule::adam(0.01),
    ];
    let mut rng = Rng::new(5);
    let n = 1001;
    for rule in rules {
        let p0: Vec<f32> = (0..n).map(|_| rng.uniform_in(-1.0, 1.0)).collect();
        let mut whole = (p0.clone(), vec![0.0f32; rule.state_len(n)], Optimizer::new(rule).unwrap());
        let mut parts = (p0, vec![0.0f32; rule.state_len(n)], Optimizer::new(rule).unwrap());
        for _ in 0..5 {
            let g: Vec<f32> = (0..n).map(|_| rng.uniform_in(-1.0, 1.0)).collect();
            whole.2.step(&mut whole.0, &g, &mut whole.1).unwrap();
            let update = parts.2.begin();
            let (s0, s1) = update.state_parts(&mut parts.1, n);
            for (start, end) in [(0, 300), (300, 301), (301, n)] {
                let r0 = if s0.is_empty() { 0..0 } else { start..end };
                let r1 = if s1.is_empty() { 0..0 } else { start..end };
                update.apply(&mut parts.0[start..end], &g[start..end], &mut s0[r0], &mut s1[r1]).unwrap();
            }
        }
        assert_eq!(whole.2.steps(), parts.2.steps());
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&whole.0), bits(&parts.0), "{rule:?}");
        assert_eq!(bits(&whole.1), bits(&parts.1), "{rule:?}");
    }
}
