//! Golden values: (1) the hand-derived partial derivatives of the 2-2-1 sigmoid network,
//! (2) forward outputs, losses, gradients and optimizer steps from an independent numpy
//! implementation (`fixtures/make_golden.py` writes `fixtures/golden.txt`).

use myelin_core::*;

fn sig(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The 2-2-1 network of the classic backprop derivation, MSE loss `L = (y - t)^2`:
/// `h_i = s(w_i1 x1 + w_i2 x2 + b_i)`, `y = s(v1 h1 + v2 h2 + c)`;
/// `delta_o = 2 (y - t) y (1 - y)`, `dL/dv_i = delta_o h_i`, `dL/dc = delta_o`,
/// `delta_i = delta_o v_i h_i (1 - h_i)`, `dL/dw_ij = delta_i x_j`, `dL/db_i = delta_i`.
#[test]
fn two_two_one_sigmoid_mse_matches_closed_forms() {
    let topo = Topology::dense(&[2, 2, 1], Activation::Sigmoid, Activation::Sigmoid, Loss::Mse).unwrap();
    // Arena: W1 = [w11, w12, w21, w22], b1 = [b1, b2], W2 = [v1, v2], b2 = [c].
    let params = [0.15f32, -0.2, 0.25, 0.3, 0.35, -0.1, 0.4, -0.45, 0.6];
    let (x, t) = ([0.05f32, 0.10], [0.01f32]);
    let p: Vec<f64> = params.iter().map(|&v| v as f64).collect();
    let (x1, x2, tt) = (x[0] as f64, x[1] as f64, t[0] as f64);
    let h1 = sig(p[0] * x1 + p[1] * x2 + p[4]);
    let h2 = sig(p[2] * x1 + p[3] * x2 + p[5]);
    let y = sig(p[6] * h1 + p[7] * h2 + p[8]);
    let d_o = 2.0 * (y - tt) * y * (1.0 - y);
    let d1 = d_o * p[6] * h1 * (1.0 - h1);
    let d2 = d_o * p[7] * h2 * (1.0 - h2);
    let closed = [d1 * x1, d1 * x2, d2 * x1, d2 * x2, d1, d2, d_o * h1, d_o * h2, d_o];

    for backend in Backend::available() {
        let k = &backend;
        let mut work = vec![0.0; topo.workspace_len(1).unwrap()];
        let mut grads = vec![0.0; 9];
        let pass = topo.forward(k, &params, &x, 1, &mut work, None).unwrap();
        assert!((topo.outputs_of(&pass, &work).unwrap()[0] as f64 - y).abs() < 1e-7);
        topo.backward(k, &pass, &params, &x, &t, &mut work, &mut grads).unwrap();
        for (i, (&g, &c)) in grads.iter().zip(&closed).enumerate() {
            assert!((g as f64 - c).abs() <= 1e-7 + 1e-5 * c.abs(), "partial {i}: {g} vs closed form {c}");
        }
    }
}

struct Case {
    topo: Topology,
    batch: usize,
    rec: std::collections::HashMap<String, Vec<f32>>,
}

fn cases() -> Vec<Case> {
    let text = include_str!("fixtures/golden.txt");
    let mut out = Vec::new();
    let mut cur: Option<Case> = None;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("case") => {
                let _name = it.next().unwrap();
                let hidden = Activation::from_name(it.next().unwrap()).unwrap();
                let output = Activation::from_name(it.next().unwrap()).unwrap();
                let loss = Loss::from_name(it.next().unwrap()).unwrap();
                let batch: usize = it.next().unwrap().parse().unwrap();
                let sizes: Vec<usize> = it.map(|v| v.parse().unwrap()).collect();
                let topo = Topology::dense(&sizes, hidden, output, loss).unwrap();
                cur = Some(Case { topo, batch, rec: Default::default() });
            }
            Some("end") => out.push(cur.take().unwrap()),
            Some(key) => {
                let vals = it.map(|v| v.parse::<f64>().unwrap() as f32).collect();
                cur.as_mut().unwrap().rec.insert(key.to_string(), vals);
            }
            None => {}
        }
    }
    assert_eq!(out.len(), 5);
    out
}

fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= tol, "{what}: max |diff| {worst:e} > {tol:e}");
}

#[test]
fn forward_loss_and_gradients_match_numpy() {
    for c in cases() {
        let p = &c.rec["params"];
        for backend in Backend::available() {
            let k = &backend;
            let mut work = vec![0.0; c.topo.workspace_len(c.batch).unwrap()];
            let mut grads = vec![0.0; c.topo.params_len()];
            let pass = c.topo.forward(k, p, &c.rec["x"], c.batch, &mut work, None).unwrap();
            close("y", c.topo.outputs_of(&pass, &work).unwrap(), &c.rec["y"], 1e-5);
            let loss = c.topo.loss_of(&pass, &work, &c.rec["t"]).unwrap();
            close("loss", &[loss], &c.rec["loss"], 1e-5);
            c.topo.backward(k, &pass, p, &c.rec["x"], &c.rec["t"], &mut work, &mut grads).unwrap();
            close("grads", &grads, &c.rec["grads"], 1e-5);
            let mut infer = vec![0.0; c.topo.inference_len(c.batch).unwrap()];
            let y = c.topo.predict(k, p, &c.rec["x"], c.batch, &mut infer).unwrap();
            close("predict", y, &c.rec["y"], 1e-5);
        }
    }
}

#[test]
fn two_optimizer_steps_match_numpy() {
    let rules = [
        ("sgd", Rule::Sgd { lr: 0.1 }),
        ("momentum", Rule::Momentum { lr: 0.1, mu: 0.9, nesterov: false }),
        ("nesterov", Rule::Momentum { lr: 0.1, mu: 0.9, nesterov: true }),
        ("adam", Rule::adam(0.01)),
    ];
    for c in cases() {
        for (name, rule) in rules {
            let mut p = c.rec["params"].clone();
            let g = &c.rec["grads"];
            let mut state = vec![0.0; rule.state_len(p.len())];
            let mut opt = Optimizer::new(rule).unwrap();
            opt.step(&mut p, g, &mut state).unwrap();
            opt.step(&mut p, g, &mut state).unwrap();
            close(name, &p, &c.rec[name], 1e-5);
        }
    }
}
