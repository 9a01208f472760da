//! Property tests: random topologies, slice lengths, values and bytes drive the core's public
//! API; every call returns a value or a typed error, never a panic.

use myelin_core::kernels::{Backend, Dims, Kernels};
use myelin_core::*;
use proptest::prelude::{any, prop, prop_assert, prop_oneof, proptest, Just, ProptestConfig, Strategy};

fn activation() -> impl Strategy<Value = Activation> {
    prop::sample::select(Activation::ALL.to_vec())
}

fn loss() -> impl Strategy<Value = Loss> {
    prop::sample::select(Loss::ALL.to_vec())
}

fn value() -> impl Strategy<Value = f32> {
    prop_oneof![-4.0f32..4.0, Just(f32::NAN), Just(f32::INFINITY), Just(0.0), Just(-1e30)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn networks_with_random_shapes_and_buffers(
        layers in prop::collection::vec((prop_oneof![9 => 1usize..12, 1 => Just(0usize)], activation()), 0..10),
        inputs in prop_oneof![9 => 1usize..12, 1 => Just(0usize)],
        loss in loss(),
        batch in 0usize..5,
        // Half the cases with every length right, so the acceptance check below runs often.
        skew in prop_oneof![1 => Just(vec![0isize; 5]), 1 => prop::collection::vec(-2isize..3, 5)],
        vals in prop::collection::vec(value(), 64),
    ) {
        let mut ls = Vec::new();
        let mut prev = inputs;
        for (n, a) in &layers {
            ls.push(Layer::new(prev, *n, *a));
            prev = *n;
        }
        let Ok(topo) = Topology::new(&ls, loss) else { return Ok(()) };
        let len = |base: usize, s: isize| (base as isize + s).max(0) as usize;
        let fill = |n: usize| (0..n).map(|i| vals[i % vals.len()]).collect::<Vec<f32>>();
        let params = fill(len(topo.params_len(), skew[0]));
        let x = fill(len(topo.inputs() * batch, skew[1]));
        let t = fill(len(topo.outputs() * batch, skew[2]));
        let mut work = vec![0.0; len(topo.workspace_len(batch).unwrap_or(0), skew[3])];
        let mut grads = vec![0.0; len(topo.params_len(), skew[4])];
        for backend in Backend::available() {
            let k = &backend;
            if let Ok(pass) = topo.forward(k, &params, &x, batch, &mut work, None) {
                let _ = topo.loss_of(&pass, &work, &t);
                let _ = topo.backward(k, &pass, &params, &x, &t, &mut work, &mut grads);
                let _ = topo.health(&pass, &work, &grads);
            }
            let mut inf = vec![0.0; topo.inference_len(batch).unwrap_or(0)];
            let _ = topo.predict(k, &params, &x, batch, &mut inf);
        }
        let correct = skew.iter().all(|&s| s == 0) && batch > 0;
        for backend in Backend::available() {
            let r = topo.forward(&backend, &params, &x, batch, &mut work, None);
            if correct {
                prop_assert!(r.is_ok(), "{}: correct lengths must be accepted: {:?}", backend.name(), r);
                let pass = r.unwrap();
                let b = topo.backward(&backend, &pass, &params, &x, &t, &mut work, &mut grads);
                prop_assert!(b.is_ok(), "{}: backward with correct lengths: {:?}", backend.name(), b);
            } else if skew[0] != 0 || (skew[1] != 0 && topo.inputs() * batch + 2 > 2) {
                prop_assert!(r.is_err(), "{}: wrong parameter or input length accepted", backend.name());
            }
        }
    }

    #[test]
    fn kernels_with_random_dims_and_lengths(
        batch in 0usize..6, inputs in 0usize..20, outputs in 0usize..20,
        lens in prop::collection::vec(0usize..200, 5),
        act in activation(),
    ) {
        let d = Dims { batch, inputs, outputs };
        let v = |n: usize| vec![0.25f32; n];
        for backend in Backend::available() {
            let k = &backend;
            let mut y = v(lens[3]);
            let _ = k.dense_forward(d, &v(lens[0]), &v(lens[1]), &v(lens[2]), &mut y, act);
            let mut g = v(lens[4]);
            let _ = k.weight_grad(d, &v(lens[0]), &v(lens[1]), &mut g);
            let _ = k.input_grad(d, &v(lens[0]), &v(lens[1]), &mut g);
            let _ = k.bias_grad(d, &v(lens[0]), &mut g);
            let _ = k.activation_backward(act, &v(lens[0]), &mut g, outputs);
        }
    }

    #[test]
    fn model_parser_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300), reseal in any::<bool>()) {
        let mut b = bytes;
        if reseal && b.len() >= 8 {
            let n = b.len() - 4;
            let c = format::crc32(&b[..n]);
            b[n..].copy_from_slice(&c.to_le_bytes());
        }
        let mut scratch = vec![0.0; 128];
        let _ = format::parse(&b, &mut scratch);
    }

    #[test]
    fn optimizers_and_regularization_with_random_values(
        lr in value(), mu in value(), l1 in value(), l2 in value(), clip in value(),
        n in 0usize..40, m in 0usize..40,
    ) {
        for rule in [Rule::Sgd { lr }, Rule::Momentum { lr, mu, nesterov: true }, Rule::Adam { lr, beta1: mu, beta2: mu, eps: lr }] {
            if let Ok(mut o) = Optimizer::new(rule) {
                let mut p = vec![1.0; n];
                let mut s = vec![0.0; rule.state_len(m)];
                let _ = o.step(&mut p, &vec![0.5; m], &mut s);
            }
        }
        let topo = Topology::dense(&[3, 2], Activation::Relu, Activation::Identity, Loss::Mse).unwrap();
        let _ = topo.add_penalty_grads(&vec![1.0; n], &mut vec![0.0; m], l1, l2);
        let _ = topo.penalty(&vec![1.0; n], l1, l2);
        let _ = clip_global_norm(&mut vec![1.0; n], clip);
        let _ = Dropout::new(l1, Rng::new(1)).map(|mut d| d.draw(&mut vec![0.0; n]));
    }
}
