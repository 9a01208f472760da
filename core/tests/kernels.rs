//! Every optimized kernel against its scalar twin: odd sizes (0..=17), large shapes,
//! guard regions around outputs to catch stray writes, NaN-filled outputs to catch
//! unwritten ones, bit-exact on integer-valued data, bounded on random data.

use myelin_core::kernels::{Accumulate, Backend, Dims, Kernels, Portable, Reference, Simd};
use myelin_core::{Activation, Rng};

const GUARD: usize = 19;
const SENTINEL: f32 = -12345.678;

/// A buffer of `n` values with sentinel guards on both sides.
struct Guarded(Vec<f32>, usize);

impl Guarded {
    fn new(n: usize, fill: f32) -> Guarded {
        let mut v = vec![SENTINEL; n + 2 * GUARD];
        v[GUARD..GUARD + n].fill(fill);
        Guarded(v, n)
    }
    fn from(data: &[f32]) -> Guarded {
        let mut g = Guarded::new(data.len(), 0.0);
        g.inner_mut().copy_from_slice(data);
        g
    }
    fn inner(&self) -> &[f32] {
        &self.0[GUARD..GUARD + self.1]
    }
    fn inner_mut(&mut self) -> &mut [f32] {
        &mut self.0[GUARD..GUARD + self.1]
    }
    fn check_guards(&self, what: &str) {
        let n = self.1;
        assert!(self.0[..GUARD].iter().all(|&v| v == SENTINEL), "{what}: write before the buffer");
        assert!(self.0[GUARD + n..].iter().all(|&v| v == SENTINEL), "{what}: write after the buffer");
    }
}

fn ints(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.below(7) as f32 - 3.0).collect()
}

fn reals(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.uniform_in(-1.0, 1.0)).collect()
}

struct Case {
    d: Dims,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    delta: Vec<f32>,
    g0: Vec<f32>,
}

fn case(rng: &mut Rng, d: Dims, integer: bool) -> Case {
    let gen = |rng: &mut Rng, n| if integer { ints(rng, n) } else { reals(rng, n) };
    Case {
        x: gen(rng, d.batch * d.inputs),
        w: gen(rng, d.outputs * d.inputs),
        b: gen(rng, d.outputs),
        delta: gen(rng, d.batch * d.outputs),
        g0: gen(rng, d.outputs * d.inputs),
        d,
    }
}

/// Results of the three products for one kernel set.
struct Out {
    y: Vec<f32>,
    d_w: Vec<f32>,
    d_x: Vec<f32>,
}

fn run<K: Kernels>(k: &K, c: &Case, act: Activation) -> Out {
    let d = c.d;
    let mut y = Guarded::new(d.batch * d.outputs, f32::NAN);
    k.dense_forward(d, &c.x, &c.w, &c.b, y.inner_mut(), act).unwrap();
    y.check_guards("dense_forward");
    assert!(y.inner().iter().all(|v| !v.is_nan()), "dense_forward left an output unwritten {d:?}");
    let mut d_w = Guarded::from(&c.g0);
    k.weight_grad(d, &c.delta, &c.x, d_w.inner_mut()).unwrap();
    d_w.check_guards("weight_grad");
    let mut d_x = Guarded::new(d.batch * d.inputs, f32::NAN);
    k.input_grad(d, &c.delta, &c.w, d_x.inner_mut()).unwrap();
    d_x.check_guards("input_grad");
    assert!(d_x.inner().iter().all(|v| !v.is_nan()), "input_grad left an output unwritten {d:?}");
    Out { y: y.inner().to_vec(), d_w: d_w.inner().to_vec(), d_x: d_x.inner().to_vec() }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

// Miri must check the AVX2 kernels the product runs, not a fallback.
#[cfg(all(miri, target_arch = "x86_64", not(target_feature = "avx2")))]
compile_error!("Miri build without AVX2: keep `-C target-cpu=x86-64-v3` (.cargo/config.toml)");

fn all_dims() -> Vec<Dims> {
    if cfg!(miri) {
        // Under Miri (the unsafe SIMD kernels' pointer checks) every edge path, at small sizes:
        // vector remainders (mod 8), block edges (4 x 3 forward, 4 x 16 panels), empty dims.
        let mut v = Vec::new();
        for inputs in [0, 1, 9, 17] {
            for outputs in [0, 1, 4, 17] {
                for batch in [1, 5] {
                    v.push(Dims { batch, inputs, outputs });
                }
            }
        }
        v.extend([
            Dims { batch: 0, inputs: 9, outputs: 7 },
            Dims { batch: 9, inputs: 33, outputs: 20 },
            // The chained forward (16+ samples and outputs): two sample blocks, 6- and 5-row
            // tiles, 8 x 8 transposes with edges; from 128 samples the packed W^T panel with
            // 1 output left over.
            Dims { batch: 17, inputs: 9, outputs: 17 },
            Dims { batch: 128, inputs: 2, outputs: 17 },
            // Past the panel pass (MB = 64 values of m): the weight gradient over 70 samples,
            // the input gradient over 70 outputs, and empty batches / inputs with many passes.
            Dims { batch: 70, inputs: 9, outputs: 3 },
            Dims { batch: 2, inputs: 17, outputs: 70 },
            Dims { batch: 0, inputs: 3, outputs: 140 },
            Dims { batch: 0, inputs: 0, outputs: 140 },
            Dims { batch: 140, inputs: 0, outputs: 3 },
        ]);
        return v;
    }
    let mut v = Vec::new();
    for inputs in 0..=17 {
        for outputs in 0..=17 {
            for batch in [1, 2, 5] {
                v.push(Dims { batch, inputs, outputs });
            }
        }
    }
    for batch in 0..=17 {
        v.push(Dims { batch, inputs: 9, outputs: 7 });
    }
    v.extend([
        Dims { batch: 64, inputs: 784, outputs: 128 },
        Dims { batch: 1, inputs: 784, outputs: 128 },
        Dims { batch: 7, inputs: 300, outputs: 33 },
        Dims { batch: 13, inputs: 64, outputs: 32 },
        Dims { batch: 9, inputs: 48, outputs: 17 },
        Dims { batch: 17, inputs: 40, outputs: 9 },
        // One to three samples over a `W` larger than L1, whose dot tiles prefetch its rows:
        // every row count of the 8- and 16-lane tiles (8..1 and 4..1 rows).
        Dims { batch: 3, inputs: 300, outputs: 31 },
        Dims { batch: 1, inputs: 300, outputs: 30 },
        Dims { batch: 2, inputs: 290, outputs: 29 },
        Dims { batch: 1, inputs: 300, outputs: 28 },
        Dims { batch: 1, inputs: 3000, outputs: 3 },
        Dims { batch: 2, inputs: 5000, outputs: 2 },
        Dims { batch: 1, inputs: 9000, outputs: 1 },
        // The AVX-512 chained forward (16+ samples and outputs): sample blocks of 32 with
        // rests of 18 and 1 (two vectors, one vector), 12-, 8- and fewer-row tiles, input
        // blocks 150 + 150 and 200 x 3, outputs past one 128-wide scratch block.
        Dims { batch: 50, inputs: 300, outputs: 53 },
        Dims { batch: 67, inputs: 17, outputs: 16 },
        Dims { batch: 33, inputs: 600, outputs: 140 },
        Dims { batch: 16, inputs: 5, outputs: 29 },
        // From 128 samples both widths pack W^T (the AVX-512 forward from 64, as in the
        // 64 x 784 -> 128 case above): 12-, 8- and 2-row sample tiles (6 and 4
        // rows on 8 lanes), panels in one and in two 128-wide blocks, the last 13 outputs
        // left over, and inputs in three blocks of 267 (tiles that add to what they stored).
        Dims { batch: 130, inputs: 300, outputs: 77 },
        Dims { batch: 128, inputs: 129, outputs: 160 },
        Dims { batch: 130, inputs: 801, outputs: 40 },
        // Empty dimensions on every path: no inputs under the chained and packed forwards,
        // an empty batch under many panel passes (input gradient over 300 outputs).
        Dims { batch: 130, inputs: 0, outputs: 40 },
        Dims { batch: 20, inputs: 0, outputs: 20 },
        Dims { batch: 0, inputs: 7, outputs: 300 },
        Dims { batch: 0, inputs: 0, outputs: 300 },
        Dims { batch: 300, inputs: 5, outputs: 0 },
        Dims { batch: 200, inputs: 0, outputs: 0 },
    ]);
    v
}

#[test]
fn simd_and_portable_bit_exact_on_integer_data() {
    let mut rng = Rng::new(1);
    for d in all_dims() {
        let c = case(&mut rng, d, true);
        // Softmax: the SIMD kernels take its exponentials eight at a time (kernels/exp.rs,
        // safe code: left out under Miri, whose run of this test it would lengthen by a third).
        let all = [Activation::Identity, Activation::Relu, Activation::Tanh, Activation::Softmax];
        for &act in &all[..if cfg!(miri) { 3 } else { 4 }] {
            let r = run(&Reference, &c, act);
            for k in Backend::available() {
                let (name, o) = (k.name(), run(&k, &c, act));
                assert_eq!(bits(&o.y), bits(&r.y), "{name} forward {d:?} {act:?}");
                assert_eq!(bits(&o.d_w), bits(&r.d_w), "{name} weight_grad {d:?}");
                assert_eq!(bits(&o.d_x), bits(&r.d_x), "{name} input_grad {d:?}");
            }
        }
    }
}

#[test]
fn portable_is_bit_identical_to_reference_on_real_data() {
    let mut rng = Rng::new(2);
    for d in all_dims() {
        let c = case(&mut rng, d, false);
        for act in [Activation::Identity, Activation::Sigmoid, Activation::LeakyRelu, Activation::Softmax] {
            let r = run(&Reference, &c, act);
            let p = run(&Portable, &c, act);
            assert_eq!(bits(&p.y), bits(&r.y), "forward {d:?} {act:?}");
            assert_eq!(bits(&p.d_w), bits(&r.d_w), "weight_grad {d:?}");
            assert_eq!(bits(&p.d_x), bits(&r.d_x), "input_grad {d:?}");
        }
    }
}

/// |simd - reference| <= C * eps * sum_k |a_k b_k| (+ eps |initial| for accumulation): the
/// classic bound for a reordered sum of n products is (n-ish) eps times the sum of absolute
/// products; we print the worst observed ratio diff / (eps * sum|products|).
#[test]
fn simd_within_reordering_bound_on_real_data() {
    for simd in simd_backends() {
        println!("{}:", Backend::Simd(simd).name());
        simd_within_reordering_bound(simd);
    }
}

/// The SIMD widths this CPU runs (8 lanes always; 16 where AVX-512F is present).
fn simd_backends() -> Vec<Simd> {
    Backend::available().filter_map(Backend::simd).collect()
}

fn simd_within_reordering_bound(simd: Simd) {
    let mut rng = Rng::new(3);
    let eps = f32::EPSILON as f64;
    let mut worst: f64 = 0.0;
    for d in all_dims() {
        let c = case(&mut rng, d, false);
        let r = run(&Reference, &c, Activation::Identity);
        let s = run(&simd, &c, Activation::Identity);
        let (n, m) = (d.inputs, d.outputs);
        let mut check = |got: f32, want: f32, abs_sum: f64, terms: usize, what: &str| {
            let diff = (got as f64 - want as f64).abs();
            let scale = eps * abs_sum.max(f64::MIN_POSITIVE);
            let ratio = diff / scale;
            worst = worst.max(ratio);
            assert!(ratio <= 2.0 * (terms as f64 + 2.0), "{what} {d:?}: diff {diff:e} vs eps*sum|p| {scale:e}");
        };
        for s_ in 0..d.batch {
            for j in 0..m {
                let abs: f64 =
                    (0..n).map(|k| (c.x[s_ * n + k] * c.w[j * n + k]).abs() as f64).sum::<f64>() + c.b[j].abs() as f64;
                check(s.y[s_ * m + j], r.y[s_ * m + j], abs, n, "forward");
            }
            for k in 0..n {
                let abs: f64 = (0..m).map(|j| (c.delta[s_ * m + j] * c.w[j * n + k]).abs() as f64).sum();
                check(s.d_x[s_ * n + k], r.d_x[s_ * n + k], abs, m, "input_grad");
            }
        }
        for j in 0..m {
            for k in 0..n {
                let abs: f64 = (0..d.batch).map(|b| (c.delta[b * m + j] * c.x[b * n + k]).abs() as f64).sum::<f64>()
                    + c.g0[j * n + k].abs() as f64;
                check(s.d_w[j * n + k], r.d_w[j * n + k], abs, d.batch, "weight_grad");
            }
        }
    }
    println!("worst |simd - reference| / (eps * sum|products|) = {worst:.3}");
}

#[test]
fn bias_grad_and_activation_backward_agree_across_kernels() {
    let mut rng = Rng::new(4);
    for d in all_dims().into_iter().filter(|d| d.outputs > 0) {
        let c = case(&mut rng, d, false);
        let mut outs = Vec::new();
        for k in Backend::available() {
            let mut d_b = c.b.clone();
            k.bias_grad(d, &c.delta, &mut d_b).unwrap();
            let mut delta = c.delta.clone();
            let y: Vec<f32> = c.delta.iter().map(|v| v.abs() * 0.9).collect();
            k.activation_backward(Activation::Sigmoid, &y, &mut delta, d.outputs).unwrap();
            outs.push((bits(&d_b), bits(&delta)));
        }
        assert!(outs.windows(2).all(|w| w[0] == w[1]), "{d:?}");
    }
}

/// The optimizer step on every backend's lanes (`Update::apply_on`, `Optimizer::step_on`)
/// against the scalar step, bit for bit: every rule, lengths around the 8- and 16-lane
/// vectors, guards around every buffer, several steps (Adam's bias corrections change).
#[test]
fn optimizer_step_on_every_backend_is_the_scalar_step() {
    use myelin_core::{Optimizer, Rule};
    let rules = [
        Rule::Sgd { lr: 0.1 },
        Rule::Momentum { lr: 0.05, mu: 0.9, nesterov: false },
        Rule::Momentum { lr: 0.05, mu: 0.9, nesterov: true },
        Rule::adam(0.01),
        Rule::Adam { lr: 0.3, beta1: 0.5, beta2: 0.75, eps: 1e-3 },
    ];
    let lens: &[usize] =
        if cfg!(miri) { &[0, 1, 8, 17, 33] } else { &[0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1000] };
    let mut rng = Rng::new(11);
    let mut vector_paths = 0;
    // Miri runs no inline assembly, which the scalar square root (`libm`) is on x86_64: there
    // it checks the lanes' loads and stores on the rules without one.
    let rules = rules.iter().filter(|r| !(cfg!(miri) && matches!(r, Rule::Adam { .. })));
    for &rule in rules {
        for &n in lens {
            let params = reals(&mut rng, n);
            let grads: Vec<f32> = reals(&mut rng, n).iter().map(|g| g * 3.0).collect();
            // Adam's second moments are never negative.
            let state: Vec<f32> = (0..rule.state_len(n))
                .map(|i| if i < n { rng.uniform_in(-1.0, 1.0) } else { rng.uniform_in(0.0, 2.0) })
                .collect();
            let (mut want_p, mut want_s) = (params.clone(), state.clone());
            let mut scalar = Optimizer::new(rule).unwrap();
            let mut want = Vec::new();
            for _ in 0..3 {
                scalar.step(&mut want_p, &grads, &mut want_s).unwrap();
                want.push((bits(&want_p), bits(&want_s)));
            }
            for backend in Backend::available() {
                let (mut p, mut st) = (Guarded::from(&params), Guarded::from(&state));
                let mut opt = Optimizer::new(rule).unwrap();
                for (step, want) in want.iter().enumerate() {
                    if step == 0 {
                        // The first step through `Update::apply_on` on parts of the arena.
                        let update = opt.begin();
                        let (s0, s1) = update.state_parts(st.inner_mut(), n);
                        update.apply_on(backend, p.inner_mut(), &grads, s0, s1).unwrap();
                    } else {
                        opt.step_on(backend, p.inner_mut(), &grads, st.inner_mut()).unwrap();
                    }
                    let what = format!("{rule:?} n {n} {} step {step}", backend.name());
                    assert_eq!((bits(p.inner()), bits(st.inner())), *want, "{what}");
                    p.check_guards(&what);
                    st.check_guards(&what);
                }
                vector_paths += usize::from(backend.simd().is_some() && n >= 16);
            }
        }
    }
    assert!(vector_paths > 0, "no vector path ran");
    // Wrong lengths: typed errors, nothing written.
    let update = Optimizer::new(Rule::adam(0.01)).unwrap().begin();
    let (mut p, g, mut s0) = (vec![1.0; 16], vec![1.0; 16], vec![0.0; 16]);
    for backend in Backend::available() {
        assert!(update.apply_on(backend, &mut p, &g, &mut s0, &mut [0.0; 15]).is_err());
        let mut s1 = s0.clone();
        assert!(update.apply_on(backend, &mut p, &g[..15], &mut s0, &mut s1).is_err());
    }
    assert!(p.iter().all(|&v| v == 1.0) && s0.iter().all(|&v| v == 0.0));
}

#[test]
fn kernels_reject_wrong_lengths() {
    let d = Dims { batch: 2, inputs: 3, outputs: 4 };
    let (x, w, b, mut y) = (vec![0.0; 6], vec![0.0; 12], vec![0.0; 4], vec![0.0; 8]);
    for k in Backend::available() {
        assert!(k.dense_forward(d, &x[..5], &w, &b, &mut y, Activation::Relu).is_err());
        assert!(k.dense_forward(d, &x, &w[..11], &b, &mut y, Activation::Relu).is_err());
        assert!(k.dense_forward(d, &x, &w, &b[..3], &mut y, Activation::Relu).is_err());
        assert!(k.dense_forward(d, &x, &w, &b, &mut y[..7], Activation::Relu).is_err());
        let mut g = [0.0; 12];
        assert!(k.weight_grad(d, &y[..7], &x, &mut g).is_err());
        assert!(k.weight_grad(d, &y, &x, &mut g[..11]).is_err());
        let mut dx = [0.0; 6];
        assert!(k.input_grad(d, &y, &w, &mut dx[..5]).is_err());
        let mut db = [0.0; 3];
        assert!(k.bias_grad(d, &y, &mut db).is_err());
        let huge = Dims { batch: usize::MAX, inputs: 3, outputs: 4 };
        assert!(k.dense_forward(huge, &x, &w, &b, &mut y, Activation::Relu).is_err());
    }
}

/// The AVX-512 tiles (run where the CPU has them) give the same bits as the 8-lane tiles in
/// all three products: the panel products' outputs are the same fused chain over the batch,
/// the forward's the same chain over the inputs or the same 16-lane dot product and sum tree.
#[test]
fn simd_panel_bits_do_not_depend_on_vector_width() {
    let mut rng = Rng::new(512);
    let Some(wide) = Simd::lanes16() else {
        println!("AVX-512 not available on this CPU: only one width to run, nothing to compare");
        return;
    };
    assert!(wide.is_lanes16() && !Simd::LANES8.is_lanes16(), "the two values must name different widths");
    for d in all_dims() {
        let c = case(&mut rng, d, false);
        let with = run(&wide, &c, Activation::Identity);
        let without = run(&Simd::LANES8, &c, Activation::Identity);
        assert_eq!(bits(&with.y), bits(&without.y), "forward {d:?}");
        assert_eq!(bits(&with.d_w), bits(&without.d_w), "weight_grad {d:?}");
        assert_eq!(bits(&with.d_x), bits(&without.d_x), "input_grad {d:?}");
    }
}

/// `weight_grad_into` (overwrite) gives the bits of zeroing and then `weight_grad`, for every
/// kernel set and with or without the AVX-512 tiles; no write outside `d_w`.
#[test]
fn weight_grad_into_equals_zeroing_then_accumulating() {
    let mut rng = Rng::new(77);
    for d in all_dims() {
        let c = case(&mut rng, d, false);
        for k in Backend::available() {
            let mut acc = Guarded::new(d.outputs * d.inputs, 0.0);
            k.weight_grad(d, &c.delta, &c.x, acc.inner_mut()).unwrap();
            let mut set = Guarded::new(d.outputs * d.inputs, f32::NAN);
            k.weight_grad_into(d, &c.delta, &c.x, set.inner_mut()).unwrap();
            set.check_guards("weight_grad_into");
            assert_eq!(bits(acc.inner()), bits(set.inner()), "{d:?}");
        }
    }
}

/// Where the chained forward runs (16+ samples and outputs), each output is one fused
/// multiply-add chain over the inputs in order, then the bias: exactly `f32::mul_add` in a
/// loop, for every SIMD width, block and tile shape in `all_dims`.
#[test]
fn simd_forward_is_an_ordered_fma_chain() {
    let mut rng = Rng::new(16);
    let mut checked = 0;
    for simd in simd_backends() {
        for d in all_dims().into_iter().filter(|d| d.batch >= 16 && d.outputs >= 16) {
            let c = case(&mut rng, d, false);
            let got = run(&simd, &c, Activation::Identity).y;
            let (n, m) = (d.inputs, d.outputs);
            for s in 0..d.batch {
                for j in 0..m {
                    let chain = (0..n).fold(0.0f32, |acc, k| c.x[s * n + k].mul_add(c.w[j * n + k], acc));
                    assert_eq!(
                        got[s * m + j].to_bits(),
                        (chain + c.b[j]).to_bits(),
                        "{simd:?} {d:?} sample {s} output {j}"
                    );
                }
            }
            checked += 1;
        }
    }
    // Miri's short list has two such shapes per width.
    assert!(checked >= if cfg!(miri) { 2 } else { 5 }, "only {checked} shapes reached the chained forward");
}

/// The panel products are ordered chains too: each weight-gradient element one chain over
/// the samples in order from the gradient it adds to, each input-gradient element one over
/// the outputs in order from 0; fused (`f32::mul_add`) in the columns of whole 8-lane
/// vectors, a product then a sum in the last `inputs % 8` columns. For every SIMD width,
/// tile shape and pass in `all_dims` (on ARM64 the NEON tile included, whose lanes take four
/// steps of `A` per load).
#[test]
#[cfg_attr(miri, ignore = "an order check: the same products run under Miri in the other tests here")]
fn simd_panel_products_are_ordered_chains() {
    let mut rng = Rng::new(18);
    for simd in simd_backends() {
        for d in all_dims() {
            let c = case(&mut rng, d, false);
            let got = run(&simd, &c, Activation::Identity);
            let (n, m) = (d.inputs, d.outputs);
            let step = |i: usize, acc: f32, a: f32, b: f32| if i < n - n % 8 { a.mul_add(b, acc) } else { acc + a * b };
            for j in 0..m {
                for i in 0..n {
                    let chain =
                        (0..d.batch).fold(c.g0[j * n + i], |acc, s| step(i, acc, c.delta[s * m + j], c.x[s * n + i]));
                    assert_eq!(
                        got.d_w[j * n + i].to_bits(),
                        chain.to_bits(),
                        "{simd:?} {d:?} weight gradient ({j}, {i})"
                    );
                }
            }
            for s in 0..d.batch {
                for i in 0..n {
                    let chain = (0..m).fold(0.0f32, |acc, j| step(i, acc, c.delta[s * m + j], c.w[j * n + i]));
                    assert_eq!(
                        got.d_x[s * n + i].to_bits(),
                        chain.to_bits(),
                        "{simd:?} {d:?} input gradient ({s}, {i})"
                    );
                }
            }
        }
    }
}

/// Below 16 samples or outputs each output is a dot product summed in 16 lanes (the last
/// `inputs % 16` zero-padded), then lane by lane the two halves, halves of 4, lanes 0 + 2 and
/// 1 + 3, and those two: for every SIMD width (the 8-lane tiles run it as two halves).
#[test]
fn simd_forward_dot_products_follow_the_16_lane_tree() {
    let mut rng = Rng::new(17);
    let mut checked = 0;
    for simd in simd_backends() {
        for d in all_dims().into_iter().filter(|d| !(d.batch >= 16 && d.outputs >= 16)) {
            let c = case(&mut rng, d, false);
            let got = run(&simd, &c, Activation::Identity).y;
            let (n, m) = (d.inputs, d.outputs);
            for s in 0..d.batch {
                for j in 0..m {
                    let mut lane = [0.0f32; 16];
                    for k in 0..n.div_ceil(16) * 16 {
                        let (xv, wv) = if k < n { (c.x[s * n + k], c.w[j * n + k]) } else { (0.0, 0.0) };
                        lane[k % 16] = xv.mul_add(wv, lane[k % 16]);
                    }
                    let t: Vec<f32> = (0..8).map(|i| lane[i] + lane[i + 8]).collect();
                    let u: Vec<f32> = (0..4).map(|i| t[i] + t[i + 4]).collect();
                    let dot = (u[0] + u[2]) + (u[1] + u[3]);
                    assert_eq!(
                        got[s * m + j].to_bits(),
                        (dot + c.b[j]).to_bits(),
                        "{simd:?} {d:?} sample {s} output {j}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} shapes reached the dot products");
}

/// `weight_grad_rows` over any cut of the neurons into row blocks gives the bits of the whole
/// weight gradient (accumulating and overwriting), for every SIMD width; no write outside
/// the block.
#[test]
fn weight_grad_rows_equal_the_whole_product() {
    let mut rng = Rng::new(91);
    for simd in simd_backends() {
        for d in all_dims().into_iter().filter(|d| d.outputs > 0 && d.inputs > 0) {
            let c = case(&mut rng, d, false);
            for mode in [Accumulate::Add, Accumulate::Overwrite] {
                let mut whole = c.g0.clone();
                match mode {
                    Accumulate::Add => simd.weight_grad(d, &c.delta, &c.x, &mut whole).unwrap(),
                    Accumulate::Overwrite => simd.weight_grad_into(d, &c.delta, &c.x, &mut whole).unwrap(),
                }
                for per in [1, 3, d.outputs.div_ceil(2), d.outputs] {
                    let mut j0 = 0;
                    while j0 < d.outputs {
                        let rows = per.min(d.outputs - j0);
                        let mut blk = Guarded::from(&c.g0[j0 * d.inputs..(j0 + rows) * d.inputs]);
                        simd.weight_grad_rows(d, &c.delta, &c.x, blk.inner_mut(), j0, mode).unwrap();
                        blk.check_guards("weight_grad_rows");
                        assert_eq!(
                            bits(blk.inner()),
                            bits(&whole[j0 * d.inputs..(j0 + rows) * d.inputs]),
                            "{d:?} rows {j0}..+{rows} {mode:?}"
                        );
                        j0 += rows;
                    }
                }
            }
        }
    }
}

/// Where a backend says a forward split into blocks of `per` samples is exact, running the
/// blocks one after another (the last one short) gives the bits of the whole batch: the
/// promise the runner relies on to split a forward across threads.
#[test]
fn forward_splits_exactly_keeps_its_promise() {
    let mut rng = Rng::new(160);
    let (inputs, outputs) = if cfg!(miri) { (9, 17) } else { (40, 20) };
    let batches: Vec<usize> = if cfg!(miri) { vec![1, 17, 33] } else { (1..=160).collect() };
    let mut split = 0;
    for k in Backend::available() {
        for &batch in &batches {
            let d = Dims { batch, inputs, outputs };
            let c = case(&mut rng, d, false);
            let whole = run(&k, &c, Activation::Identity).y;
            for parts in 2..=4 {
                let per = batch.div_ceil(parts);
                if per >= batch || !k.forward_splits_exactly(batch, outputs, per) {
                    continue;
                }
                split += 1;
                let mut y = vec![f32::NAN; batch * outputs];
                for (yc, xc) in y.chunks_mut(per * outputs).zip(c.x.chunks(per * inputs)) {
                    let dc = Dims { batch: yc.len() / outputs, ..d };
                    k.dense_forward(dc, xc, &c.w, &c.b, yc, Activation::Identity).unwrap();
                }
                assert_eq!(bits(&y), bits(&whole), "{} batch {batch} blocks of {per}", k.name());
            }
        }
    }
    assert!(split > 0, "no split was ever allowed");
}

/// Where a backend says a forward split into blocks of `per` neurons is exact, each block's
/// product (its rows of `W` and of the bias, the whole batch) gives the bits of those columns
/// of the whole product: the promise the runner relies on to give each thread its own
/// neurons.
#[test]
fn forward_splits_neurons_exactly_keeps_its_promise() {
    let mut rng = Rng::new(161);
    let inputs = if cfg!(miri) { 9 } else { 40 };
    let shapes: Vec<(usize, usize)> = if cfg!(miri) {
        vec![(1, 17), (17, 33), (17, 49), (3, 40)]
    } else {
        [1, 2, 3, 5, 16, 17, 40, 130].into_iter().flat_map(|b| [(b, 20), (b, 33), (b, 49), (b, 65)]).collect()
    };
    let mut split = 0;
    for k in Backend::available() {
        for &(batch, outputs) in &shapes {
            let d = Dims { batch, inputs, outputs };
            let c = case(&mut rng, d, false);
            let whole = run(&k, &c, Activation::Relu).y;
            for parts in 2..=4 {
                let per = outputs.div_ceil(parts);
                if per >= outputs || !k.forward_splits_neurons_exactly(batch, outputs, per) {
                    continue;
                }
                split += 1;
                let mut j0 = 0;
                while j0 < outputs {
                    let rows = per.min(outputs - j0);
                    let (w, b) = (&c.w[j0 * inputs..(j0 + rows) * inputs], &c.b[j0..j0 + rows]);
                    let mut y = vec![f32::NAN; batch * rows];
                    k.dense_forward(Dims { outputs: rows, ..d }, &c.x, w, b, &mut y, Activation::Relu).unwrap();
                    let cols: Vec<f32> =
                        whole.chunks_exact(outputs).flat_map(|r| r[j0..j0 + rows].iter().copied()).collect();
                    assert_eq!(bits(&y), bits(&cols), "{} {d:?} neurons {j0}..+{rows}", k.name());
                    j0 += rows;
                }
            }
        }
    }
    assert!(split > 0, "no split was ever allowed");
}
