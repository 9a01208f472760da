//! Optimizers over the flat arenas: one loop over `params`, `grads` and `state`.
//!
//! With `g` the gradient, `w` a parameter, `lr` the learning rate:
//!
//! - SGD: `w -= lr g`
//! - momentum (classical): `v = mu v + g; w -= lr v`
//! - Nesterov: `v = mu v + g; w -= lr (g + mu v)` (the look-ahead form used by PyTorch)
//! - Adam: `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//!   w -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)`
//!
//! Regularization adds its gradient to the weights' gradients before the step
//! ([`Topology::add_penalty_grads`]); clipping rescales all gradients together
//! ([`clip_global_norm`]).

use crate::error::{check_len, part, part_mut, Buffer, Error, Hyper};
use crate::kernels::Backend;
use crate::topology::Topology;

/// An optimization rule and its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Rule {
    /// Plain stochastic gradient descent.
    Sgd {
        /// Learning rate.
        lr: f32,
    },
    /// Heavy-ball momentum, classical or Nesterov.
    Momentum {
        /// Learning rate.
        lr: f32,
        /// Momentum coefficient in [0, 1).
        mu: f32,
        /// Nesterov look-ahead.
        nesterov: bool,
    },
    /// Adam (Kingma & Ba) with bias correction.
    Adam {
        /// Learning rate.
        lr: f32,
        /// First-moment decay in [0, 1).
        beta1: f32,
        /// Second-moment decay in [0, 1).
        beta2: f32,
        /// Denominator guard > 0.
        eps: f32,
    },
}

impl Rule {
    /// Adam with the usual defaults (beta1 0.9, beta2 0.999, eps 1e-8).
    pub const fn adam(lr: f32) -> Rule {
        Rule::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }

    /// Optimizer state length for `params` parameters (usable in array types).
    pub const fn state_len(self, params: usize) -> usize {
        match self {
            Rule::Sgd { .. } => 0,
            Rule::Momentum { .. } => params,
            Rule::Adam { .. } => 2 * params,
        }
    }

    /// The learning rate.
    pub fn lr(self) -> f32 {
        match self {
            Rule::Sgd { lr } | Rule::Momentum { lr, .. } | Rule::Adam { lr, .. } => lr,
        }
    }

    fn validate(self) -> Result<(), Error> {
        let bad = |which| Err(Error::BadHyperparameter { which });
        let unit = |v: f32| (0.0..1.0).contains(&v);
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return bad(Hyper::LearningRate);
        }
        match self {
            Rule::Sgd { .. } => Ok(()),
            Rule::Momentum { mu, .. } if !unit(mu) => bad(Hyper::Momentum),
            Rule::Momentum { .. } => Ok(()),
            Rule::Adam { beta1, beta2, .. } if !unit(beta1) || !unit(beta2) => bad(Hyper::Beta),
            Rule::Adam { eps, .. } if !(eps.is_finite() && eps > 0.0) => bad(Hyper::Epsilon),
            Rule::Adam { .. } => Ok(()),
        }
    }
}

/// An optimizer: a [`Rule`] plus its step count (Adam's bias correction needs it). The
/// per-parameter state lives in a caller slice of [`Rule::state_len`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Optimizer {
    rule: Rule,
    steps: u64,
}

impl Optimizer {
    /// Validates the hyperparameters.
    pub fn new(rule: Rule) -> Result<Optimizer, Error> {
        rule.validate()?;
        Ok(Optimizer { rule, steps: 0 })
    }

    /// Resumes at a step count (checkpoints).
    pub fn with_steps(rule: Rule, steps: u64) -> Result<Optimizer, Error> {
        Ok(Optimizer { steps, ..Optimizer::new(rule)? })
    }

    /// The rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Changes the learning rate (schedules).
    pub fn set_lr(&mut self, lr: f32) -> Result<(), Error> {
        let mut r = self.rule;
        match &mut r {
            Rule::Sgd { lr: l } | Rule::Momentum { lr: l, .. } | Rule::Adam { lr: l, .. } => *l = lr,
        }
        r.validate()?;
        self.rule = r;
        Ok(())
    }

    /// One update of `params` from `grads`, using and updating `state`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32], state: &mut [f32]) -> Result<(), Error> {
        // The portable backend has no lanes: `Update::apply` takes every element.
        self.step_on(Backend::Portable, params, grads, state)
    }

    /// [`Optimizer::step`] on `backend`'s vector lanes ([`Update::apply_on`]): the same bits.
    pub fn step_on(
        &mut self,
        backend: Backend,
        params: &mut [f32],
        grads: &[f32],
        state: &mut [f32],
    ) -> Result<(), Error> {
        let n = params.len();
        check_len(Buffer::Grads, n, grads.len())?;
        check_len(Buffer::State, self.rule.state_len(n), state.len())?;
        let update = self.begin();
        let (s0, s1) = update.state_parts(state, n);
        update.apply_on(backend, params, grads, s0, s1)
    }

    /// Counts one step and returns its elementwise [`Update`], for callers that apply it to
    /// parts of the arena (on several threads): the bits are those of [`Optimizer::step`].
    pub fn begin(&mut self) -> Update {
        self.steps += 1;
        let (mut c1, mut c2) = (1.0, 1.0);
        if let Rule::Adam { beta1, beta2, .. } = self.rule {
            let t = self.steps.min(i32::MAX as u64) as i32;
            c1 = 1.0 / (1.0 - libm::powf(beta1, t as f32));
            c2 = 1.0 / (1.0 - libm::powf(beta2, t as f32));
        }
        Update { rule: self.rule, c1, c2 }
    }
}

/// One optimizer step, elementwise: any part of the arena can be updated on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Update {
    pub(crate) rule: Rule,
    /// Adam's bias corrections `1 / (1 - beta^t)` (1 for the other rules).
    pub(crate) c1: f32,
    pub(crate) c2: f32,
}

impl Update {
    /// The two per-parameter state arrays inside `state` (length [`Rule::state_len`] of
    /// `n`): momentum's velocity, Adam's first and second moments; empty where unused.
    pub fn state_parts<'s>(&self, state: &'s mut [f32], n: usize) -> (&'s mut [f32], &'s mut [f32]) {
        match self.rule {
            Rule::Sgd { .. } => (&mut [], &mut []),
            Rule::Momentum { .. } => (state, &mut []),
            Rule::Adam { .. } => state.split_at_mut(n.min(state.len())),
        }
    }

    /// Updates `params` from `grads`; `s0`, `s1` are the same part of the state arrays
    /// ([`Update::state_parts`]), empty when the rule keeps none.
    pub fn apply(&self, params: &mut [f32], grads: &[f32], s0: &mut [f32], s1: &mut [f32]) -> Result<(), Error> {
        self.check(params.len(), grads.len(), s0.len(), s1.len())?;
        match self.rule {
            Rule::Sgd { lr } => {
                for (w, &g) in params.iter_mut().zip(grads) {
                    *w -= lr * g;
                }
            }
            Rule::Momentum { lr, mu, nesterov } => {
                for ((w, &g), v) in params.iter_mut().zip(grads).zip(s0.iter_mut()) {
                    *v = mu * *v + g;
                    *w -= lr * if nesterov { g + mu * *v } else { *v };
                }
            }
            Rule::Adam { lr, beta1, beta2, eps } => {
                let (c1, c2) = (self.c1, self.c2);
                for (((w, &g), m), v) in params.iter_mut().zip(grads).zip(s0.iter_mut()).zip(s1.iter_mut()) {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *w -= lr * (*m * c1) / (libm::sqrtf(*v * c2) + eps);
                }
            }
        }
        Ok(())
    }

    /// [`Update::apply`] on the vector lanes of `backend`: a SIMD backend updates whole
    /// vectors of parameters at a time (16 lanes with AVX-512, 8 with AVX2 or NEON) with the
    /// same IEEE operations per element, none fused (square root and division included), and
    /// leaves the last few to [`Update::apply`]; the other backends are [`Update::apply`].
    /// So the bits are [`Update::apply`]'s on every backend (tested).
    pub fn apply_on(
        &self,
        backend: Backend,
        params: &mut [f32],
        grads: &[f32],
        s0: &mut [f32],
        s1: &mut [f32],
    ) -> Result<(), Error> {
        self.check(params.len(), grads.len(), s0.len(), s1.len())?;
        let done = match backend {
            Backend::Simd(simd) => simd.update(self, params, grads, s0, s1),
            _ => 0,
        };
        let rest = |s: &mut [f32]| -> usize {
            if s.is_empty() {
                0
            } else {
                done
            }
        };
        let (r0, r1) = (rest(s0), rest(s1));
        match (params.get_mut(done..), grads.get(done..), s0.get_mut(r0..), s1.get_mut(r1..)) {
            (Some(p), Some(g), Some(s0), Some(s1)) => self.apply(p, g, s0, s1),
            _ => Err(Error::TooLarge),
        }
    }

    /// The lengths [`Update::apply`] takes: `grads` as long as `params`; each state array as
    /// long too where the rule keeps it, else empty.
    fn check(&self, n: usize, grads: usize, s0: usize, s1: usize) -> Result<(), Error> {
        check_len(Buffer::Grads, n, grads)?;
        let (want0, want1) = match self.rule {
            Rule::Sgd { .. } => (0, 0),
            Rule::Momentum { .. } => (n, 0),
            Rule::Adam { .. } => (n, n),
        };
        check_len(Buffer::State, want0, s0)?;
        check_len(Buffer::State, want1, s1)
    }
}

/// Partial sums of [`global_norm`]: element `i` is added into sum `i % NORM_LANES`.
const NORM_LANES: usize = 64;

/// Global L2 norm of `grads`, one fixed summation order whatever the machine: each square
/// `g * g` (rounded) is added, in index order, into one of 64 partial sums (element `i` into
/// sum `i % 64`); the 64 sums are then added by halves (sum `l` plus sum `l + 32`, then `l +
/// 16`, ... down to one) and the square root taken. No operation is fused or reordered, so
/// the value is the same on every build and CPU, while the 64 independent sums let the
/// compiler run the loop on vector lanes (one sum in index order would wait on every
/// addition's latency).
pub fn global_norm(grads: &[f32]) -> f32 {
    let mut sums = [0.0f32; NORM_LANES];
    let mut blocks = grads.chunks_exact(NORM_LANES);
    for block in &mut blocks {
        for (s, &g) in sums.iter_mut().zip(block) {
            *s += g * g;
        }
    }
    for (s, &g) in sums.iter_mut().zip(blocks.remainder()) {
        *s += g * g;
    }
    let mut width = NORM_LANES;
    while width > 1 {
        width /= 2;
        let (low, high) = sums.split_at_mut(width);
        for (a, &b) in low.iter_mut().zip(high.iter()) {
            *a += b;
        }
    }
    libm::sqrtf(sums[0])
}

/// Clipping by global norm: if `|g| > max_norm`, scales every gradient by `max_norm / |g|`
/// (the direction is kept). Returns the norm before clipping.
pub fn clip_global_norm(grads: &mut [f32], max_norm: f32) -> Result<f32, Error> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(Error::BadHyperparameter { which: Hyper::ClipNorm });
    }
    let norm = global_norm(grads);
    if norm > max_norm {
        let s = max_norm / norm;
        grads.iter_mut().for_each(|g| *g *= s);
    }
    Ok(norm)
}

impl Topology {
    /// Adds the gradient of `l1 sum |W| + l2/2 sum W^2` (weights only; biases are not
    /// penalized) to `grads`: `g_W += l1 sign(W) + l2 W`.
    pub fn add_penalty_grads(&self, params: &[f32], grads: &mut [f32], l1: f32, l2: f32) -> Result<(), Error> {
        check_reg(l1, l2)?;
        check_len(Buffer::Params, self.params_len(), params.len())?;
        check_len(Buffer::Grads, self.params_len(), grads.len())?;
        for l in 0..self.layers().len() {
            let Some(r) = self.param_range(l) else { break };
            let w = part(Buffer::Params, params, r.w, r.b - r.w)?;
            for (g, &w) in part_mut(Buffer::Grads, grads, r.w, r.b - r.w)?.iter_mut().zip(w) {
                let sign = if w > 0.0 {
                    1.0
                } else if w < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                *g += l1 * sign + l2 * w;
            }
        }
        Ok(())
    }

    /// Max-norm constraint (Srivastava et al., JMLR 2014): every neuron's incoming weights
    /// (row `j` of each `W_l`; biases excluded) are scaled onto the ball of radius `max`
    /// when their L2 norm exceeds it: `w_j <- w_j * (max / |w_j|)`, the norm summed in
    /// order. Applied after an optimizer step; rows inside the ball are left untouched.
    pub fn apply_max_norm(&self, params: &mut [f32], max: f32) -> Result<(), Error> {
        if !(max.is_finite() && max > 0.0) {
            return Err(Error::BadHyperparameter { which: Hyper::MaxNorm });
        }
        check_len(Buffer::Params, self.params_len(), params.len())?;
        for l in 0..self.layers().len() {
            let (Some(r), Some(layer)) = (self.param_range(l), self.layers().get(l)) else { break };
            let w = part_mut(Buffer::Params, params, r.w, r.b - r.w)?;
            for row in w.chunks_exact_mut(layer.inputs.max(1)) {
                let norm = global_norm(row);
                if norm > max {
                    let scale = max / norm;
                    row.iter_mut().for_each(|v| *v *= scale);
                }
            }
        }
        Ok(())
    }

    /// The penalty `l1 sum |W| + l2/2 sum W^2` over the weights (for reporting the loss).
    pub fn penalty(&self, params: &[f32], l1: f32, l2: f32) -> Result<f32, Error> {
        check_reg(l1, l2)?;
        check_len(Buffer::Params, self.params_len(), params.len())?;
        let mut p = 0.0;
        for l in 0..self.layers().len() {
            let Some(r) = self.param_range(l) else { break };
            for &w in part(Buffer::Params, params, r.w, r.b - r.w)? {
                p += l1 * libm::fabsf(w) + 0.5 * l2 * w * w;
            }
        }
        Ok(p)
    }
}

fn check_reg(l1: f32, l2: f32) -> Result<(), Error> {
    let ok = |v: f32| v.is_finite() && v >= 0.0;
    if ok(l1) && ok(l2) {
        Ok(())
    } else {
        Err(Error::BadHyperparameter { which: Hyper::Regularization })
    }
}
