//! The optimizer step on vector lanes ([`crate::optim::Update::apply_on`]): per element the
//! operations of [`crate::optim::Update::apply`] in its order, each one IEEE multiply, add,
//! subtract, divide or square root (correctly rounded in every lane as in the scalar code;
//! none fused), so the bits are the scalar step's. 16 lanes on AVX-512 CPUs
//! (`avx512/update.rs`), 8 lanes (AVX2, NEON) otherwise; elsewhere (a build whose `wide`
//! lanes are plain arrays) nothing, and the scalar step takes every element.

use super::{load, store, Simd, LANES};
use crate::optim::{Rule, Update};
use wide::f32x8;

impl Simd {
    /// Updates the first elements of `params` (and of the state arrays the rule keeps) in
    /// whole vectors and returns how many: the caller ([`Update::apply_on`]) has checked the
    /// lengths and leaves the rest to the scalar step.
    pub(crate) fn update(self, u: &Update, params: &mut [f32], grads: &[f32], s0: &mut [f32], s1: &mut [f32]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` only comes from a `Simd` made where AVX-512F was detected.
            return unsafe { super::super::avx512::update(u, params, grads, s0, s1) };
        }
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            update8(u, params, grads, s0, s1)
        } else {
            0
        }
    }
}

/// [`Simd::update`] on 8 lanes over `params.len() - params.len() % 8` elements.
fn update8(u: &Update, params: &mut [f32], grads: &[f32], s0: &mut [f32], s1: &mut [f32]) -> usize {
    let n = params.len() - params.len() % LANES;
    let (p, g) = (params.as_mut_ptr(), grads.as_ptr());
    let (a, b) = (s0.as_mut_ptr(), s1.as_mut_ptr());
    let splat = f32x8::splat;
    let mut i = 0;
    // SAFETY (every load and store below): i + 8 <= n <= params.len() = grads.len(), and the
    // state arrays the rule reads are as long as `params` (checked by the caller).
    match u.rule {
        Rule::Sgd { lr } => {
            while i < n {
                unsafe { store(p.add(i), load(p.add(i)) - splat(lr) * load(g.add(i))) };
                i += LANES;
            }
        }
        Rule::Momentum { lr, mu, nesterov } => {
            while i < n {
                unsafe {
                    let gv = load(g.add(i));
                    let v = splat(mu) * load(a.add(i)) + gv;
                    store(a.add(i), v);
                    let step = if nesterov { gv + splat(mu) * v } else { v };
                    store(p.add(i), load(p.add(i)) - splat(lr) * step);
                }
                i += LANES;
            }
        }
        Rule::Adam { lr, beta1, beta2, eps } => {
            let (c1, c2) = (splat(u.c1), splat(u.c2));
            while i < n {
                unsafe {
                    let gv = load(g.add(i));
                    let m = splat(beta1) * load(a.add(i)) + splat(1.0 - beta1) * gv;
                    let v = splat(beta2) * load(b.add(i)) + splat(1.0 - beta2) * gv * gv;
                    store(a.add(i), m);
                    store(b.add(i), v);
                    let step = splat(lr) * (m * c1) / ((v * c2).sqrt() + splat(eps));
                    store(p.add(i), load(p.add(i)) - step);
                }
                i += LANES;
            }
        }
    }
    n
}
