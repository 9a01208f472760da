//! Every error path returns a typed error, never a panic.

use myelin_core::*;

#[test]
fn topology_errors() {
    use Activation::*;
    assert_eq!(Topology::new(&[], Loss::Mse), Err(Error::EmptyTopology));
    assert_eq!(Topology::dense(&[3], Relu, Identity, Loss::Mse), Err(Error::EmptyTopology));
    assert_eq!(Topology::dense(&[1; 10], Relu, Identity, Loss::Mse), Err(Error::TooManyLayers { got: 9, max: 8 }));
    assert_eq!(Topology::new(&[Layer::new(1, 1, Relu); 9], Loss::Mse), Err(Error::TooManyLayers { got: 9, max: 8 }));
    assert_eq!(Topology::dense(&[2, 0, 1], Relu, Identity, Loss::Mse), Err(Error::ZeroSizedLayer { layer: 0 }));
    assert_eq!(Topology::dense(&[0, 2], Relu, Identity, Loss::Mse), Err(Error::ZeroSizedLayer { layer: 0 }));
    assert_eq!(
        Topology::new(&[Layer::new(2, 3, Relu), Layer::new(4, 1, Identity)], Loss::Mse),
        Err(Error::LayerMismatch { layer: 1, expected: 3, got: 4 })
    );
    assert_eq!(Topology::dense(&[2, 3, 1], Softmax, Identity, Loss::Mse), Err(Error::SoftmaxNotLast { layer: 0 }));
    assert_eq!(Topology::dense(&[2, 3, 1], Step, Identity, Loss::Mse), Err(Error::StepInNetwork { layer: 0 }));
    assert_eq!(Topology::dense(&[2, 3], Relu, Identity, Loss::CrossEntropy), Err(Error::LossNeedsActivation));
    assert_eq!(Topology::dense(&[2, 3], Relu, Softmax, Loss::BinaryCrossEntropy), Err(Error::LossNeedsActivation));
    assert_eq!(Topology::dense(&[usize::MAX, 2], Relu, Identity, Loss::Mse), Err(Error::TooLarge));
    assert_eq!(Topology::dense(&[1 << 40, 1 << 40], Relu, Identity, Loss::Mse), Err(Error::TooLarge));
    let t = Topology::dense(&[2, 3], Relu, Identity, Loss::Mse).unwrap();
    assert_eq!(t.workspace_len(usize::MAX), Err(Error::TooLarge));
    assert_eq!(t.inference_len(usize::MAX), Err(Error::TooLarge));
    assert!(t.param_range(1).is_none());
}

#[test]
fn network_buffer_errors() {
    let t = Topology::dense(&[2, 3, 1], Activation::Relu, Activation::Identity, Loss::Mse).unwrap();
    let k = Native::default();
    let p = vec![0.0; t.params_len()];
    let x = vec![0.0; 4];
    let tt = vec![0.0; 2];
    let mut w = vec![0.0; t.workspace_len(2).unwrap()];
    let mut g = vec![0.0; t.params_len()];
    let bad = |buffer, expected, got| Some(Error::BadLength { buffer, expected, got });
    assert_eq!(t.forward(&k, &p, &x, 0, &mut w, None).err(), Some(Error::ZeroBatch));
    assert_eq!(t.forward(&k, &p[1..], &x, 2, &mut w, None).err(), bad(Buffer::Params, 13, 12));
    assert_eq!(t.forward(&k, &p, &x[1..], 2, &mut w, None).err(), bad(Buffer::Input, 4, 3));
    assert_eq!(t.forward(&k, &p, &x, 2, &mut w[1..], None).err(), bad(Buffer::Workspace, 26, 25));
    assert!(t.forward(&k, &p, &x, usize::MAX / 2, &mut w, None).is_err());
    let pass = t.forward(&k, &p, &x, 2, &mut w, None).unwrap();
    assert_eq!(t.backward(&k, &pass, &p, &x, &tt[1..], &mut w, &mut g).err(), bad(Buffer::Target, 2, 1));
    assert_eq!(t.backward(&k, &pass, &p, &x, &tt, &mut w, &mut g[1..]).err(), bad(Buffer::Grads, 13, 12));
    assert_eq!(t.backward(&k, &pass, &p, &x, &tt, &mut w[2..], &mut g).err(), bad(Buffer::Workspace, 26, 24));
    assert_eq!(t.loss_of(&pass, &w, &tt[..1]).err(), bad(Buffer::Target, 2, 1));
    assert!(t.outputs_of(&pass, &w[1..]).is_err());
    assert!(t.health(&pass, &w, &g[1..]).is_err());
    let mut inf = vec![0.0; t.inference_len(2).unwrap() - 1];
    assert_eq!(
        t.predict(&k, &p, &x, 2, &mut inf).err(),
        Some(Error::BadLength { buffer: Buffer::Workspace, expected: 12, got: 11 })
    );
    assert!(t.init_params(&mut g[1..], Init::HeUniform, &mut Rng::new(0)).is_err());
}

#[test]
fn optimizer_errors() {
    let h = |which| Err(Error::BadHyperparameter { which });
    assert_eq!(Optimizer::new(Rule::Sgd { lr: 0.0 }), h(Hyper::LearningRate));
    assert_eq!(Optimizer::new(Rule::Sgd { lr: f32::NAN }), h(Hyper::LearningRate));
    assert_eq!(Optimizer::new(Rule::Sgd { lr: f32::INFINITY }), h(Hyper::LearningRate));
    assert_eq!(Optimizer::new(Rule::Momentum { lr: 0.1, mu: 1.0, nesterov: false }), h(Hyper::Momentum));
    assert_eq!(Optimizer::new(Rule::Adam { lr: 0.1, beta1: 1.5, beta2: 0.9, eps: 1e-8 }), h(Hyper::Beta));
    assert_eq!(Optimizer::new(Rule::Adam { lr: 0.1, beta1: 0.9, beta2: 0.9, eps: 0.0 }), h(Hyper::Epsilon));
    let mut o = Optimizer::new(Rule::adam(0.1)).unwrap();
    let (mut p, g) = (vec![0.0; 4], vec![0.0; 4]);
    assert_eq!(
        o.step(&mut p, &g[..3], &mut [0.0; 8]),
        Err(Error::BadLength { buffer: Buffer::Grads, expected: 4, got: 3 })
    );
    assert_eq!(o.step(&mut p, &g, &mut [0.0; 7]), Err(Error::BadLength { buffer: Buffer::State, expected: 8, got: 7 }));
    assert_eq!(o.steps(), 0, "a failed step is not counted");
    assert!(o.set_lr(-1.0).is_err());
    assert_eq!(o.rule().lr(), 0.1);
}

#[test]
fn errors_display_actionable_messages() {
    let e = Error::LayerMismatch { layer: 1, expected: 3, got: 4 };
    assert_eq!(e.to_string(), "layer 1 takes 4 inputs but the previous layer gives 3");
    let e = Error::BadLength { buffer: Buffer::Input, expected: 4, got: 3 };
    assert_eq!(e.to_string(), "Input buffer has length 3, expected 4");
}

/// The unchecked `*_impl` entry points are safe to call with wrong lengths: they write
/// nothing (and, for the SIMD kernels, never read or write out of bounds).
#[test]
fn impl_entry_points_ignore_wrong_lengths() {
    use myelin_core::kernels::raw::RawKernels;
    use myelin_core::kernels::{Backend, Dims};
    let kernels: Vec<Backend> = Backend::available().collect();
    let d = Dims { batch: 4, inputs: 9, outputs: 5 };
    let (x, w, b) = ([1.0f32; 36], [1.0f32; 45], [1.0f32; 5]);
    for k in kernels {
        for short in [0usize, 1, 7] {
            let mut y = [f32::NAN; 20];
            k.dense_forward_impl(d, &x[..short], &w, &b, &mut y, Activation::Relu);
            k.dense_forward_impl(d, &x, &w[..short], &b, &mut y, Activation::Relu);
            k.dense_forward_impl(d, &x, &w, &b[..short.min(4)], &mut y, Activation::Relu);
            assert!(y.iter().all(|v| v.is_nan()), "forward wrote through a length mismatch");
            let mut d_w = [f32::NAN; 45];
            k.weight_grad_impl(d, &y[..short], &x, &mut d_w);
            k.weight_grad_impl(d, &y, &x[..short], &mut d_w);
            k.weight_grad_impl(d, &y, &x, &mut d_w[..short]);
            assert!(d_w.iter().all(|v| v.is_nan()), "weight_grad wrote through a length mismatch");
            k.weight_grad_into_impl(d, &y[..short], &x, &mut d_w);
            k.weight_grad_into_impl(d, &y, &x[..short], &mut d_w);
            k.weight_grad_into_impl(d, &y, &x, &mut d_w[..short]);
            assert!(d_w.iter().all(|v| v.is_nan()), "weight_grad_into wrote through a length mismatch");
            let mut d_x = [f32::NAN; 36];
            k.input_grad_impl(d, &y[..short], &w, &mut d_x);
            k.input_grad_impl(d, &y, &w[..short], &mut d_x);
            k.input_grad_impl(d, &y, &w, &mut d_x[..short]);
            assert!(d_x.iter().all(|v| v.is_nan()), "input_grad wrote through a length mismatch");
        }
    }
}
