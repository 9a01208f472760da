//! The optimizer step on 16 lanes (see `simd/update.rs`): the scalar step's operations per
//! element, none fused.

use super::LANES;
use crate::optim::{Rule, Update};
use core::arch::x86_64::{
    _mm512_add_ps, _mm512_div_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_sqrt_ps, _mm512_storeu_ps,
    _mm512_sub_ps,
};

/// Updates the first `params.len() - params.len() % 16` elements (and the state arrays the
/// rule keeps) and returns how many.
///
/// # Safety
/// AVX-512F present; `grads` as long as `params`, and so is each state array the rule
/// keeps (the caller checks the lengths).
#[target_feature(enable = "avx512f")]
pub(in crate::kernels) unsafe fn update(
    u: &Update,
    params: &mut [f32],
    grads: &[f32],
    s0: &mut [f32],
    s1: &mut [f32],
) -> usize {
    let n = params.len() - params.len() % LANES;
    let (p, g) = (params.as_mut_ptr(), grads.as_ptr());
    let (a, b) = (s0.as_mut_ptr(), s1.as_mut_ptr());
    let (mul, add, sub) = (_mm512_mul_ps, _mm512_add_ps, _mm512_sub_ps);
    let splat = _mm512_set1_ps;
    let mut i = 0;
    // SAFETY (every load and store below): i + 16 <= n <= params.len() = grads.len(), and
    // the state arrays the rule reads are as long as `params` (the caller's contract).
    match u.rule {
        Rule::Sgd { lr } => {
            while i < n {
                unsafe {
                    _mm512_storeu_ps(
                        p.add(i),
                        sub(_mm512_loadu_ps(p.add(i)), mul(splat(lr), _mm512_loadu_ps(g.add(i)))),
                    )
                };
                i += LANES;
            }
        }
        Rule::Momentum { lr, mu, nesterov } => {
            while i < n {
                unsafe {
                    let gv = _mm512_loadu_ps(g.add(i));
                    let v = add(mul(splat(mu), _mm512_loadu_ps(a.add(i))), gv);
                    _mm512_storeu_ps(a.add(i), v);
                    let step = if nesterov { add(gv, mul(splat(mu), v)) } else { v };
                    _mm512_storeu_ps(p.add(i), sub(_mm512_loadu_ps(p.add(i)), mul(splat(lr), step)));
                }
                i += LANES;
            }
        }
        Rule::Adam { lr, beta1, beta2, eps } => {
            let (c1, c2) = (splat(u.c1), splat(u.c2));
            while i < n {
                unsafe {
                    let gv = _mm512_loadu_ps(g.add(i));
                    let m = add(mul(splat(beta1), _mm512_loadu_ps(a.add(i))), mul(splat(1.0 - beta1), gv));
                    let v = add(mul(splat(beta2), _mm512_loadu_ps(b.add(i))), mul(mul(splat(1.0 - beta2), gv), gv));
                    _mm512_storeu_ps(a.add(i), m);
                    _mm512_storeu_ps(b.add(i), v);
                    let step = _mm512_div_ps(mul(splat(lr), mul(m, c1)), add(_mm512_sqrt_ps(mul(v, c2)), splat(eps)));
                    _mm512_storeu_ps(p.add(i), sub(_mm512_loadu_ps(p.add(i)), step));
                }
                i += LANES;
            }
        }
    }
    n
}
