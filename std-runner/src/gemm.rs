//! Batched dense products through `matrixmultiply::sgemm` (the only file that calls it),
//! with the core's epilogue for bias + activation. Implements the core's
//! [`Kernels`](myelin_core::Kernels) trait, so the core's forward/backward run on it unchanged.
//!
//! Shape legend as in `myelin_core::kernels`: x (batch, inputs), W (outputs, inputs),
//! y/delta (batch, outputs). Every product is one sgemm call with strides, no copies:
//!
//! - forward `y = x W^T`: A = x (row stride `inputs`), B = W^T (row stride 1, column stride
//!   `inputs`), beta = 0, then `y = act(y + b)`;
//! - `d_w += delta^T x`: A = delta^T (row stride 1, column stride `outputs`), beta = 1;
//! - `d_x = delta W`: A = delta, B = W, beta = 0.
//!
//! Small products (few samples) go to the core's own kernels, which beat a general GEMM's
//! packing overhead there; the cut-over is measured (see BENCHMARKS.md). On x86_64 with the
//! core's SIMD kernels every product goes to the core: its AVX-512 tiles outrun
//! matrixmultiply (which has no AVX-512 kernel) at every size measured, and its 8-lane tiles
//! give the AVX-512 bits, so a model trains to the same bits on AVX2-only and AVX-512 CPUs
//! (BENCHMARKS.md has what that costs or gains per workload on AVX2). Large core products are split
//! across threads by rows in a way that keeps every output's operations, so the bits do not
//! depend on the thread count either way: on the current rayon pool ([`Gemm`]), or on a
//! trainer's team ([`TeamGemm`]), where the forward goes by blocks of neurons.

#![allow(unsafe_code)]

use myelin_core::kernels::raw::RawKernels;
use myelin_core::kernels::{Accumulate, Backend, Dims};
use myelin_core::Activation;
use rayon::prelude::*;

use crate::train::team::Team;
use std::cell::{RefCell, RefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many multiply-accumulates a product runs on the core's kernels.
pub const MIN_GEMM_MACS: usize = 1 << 18;

/// sgemm calls made by this process (lets tests prove which path ran).
pub static SGEMM_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Which products go through sgemm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Large products (>= [`MIN_GEMM_MACS`]) through sgemm, small ones on the core; all on
    /// the core when its SIMD tiles run on x86_64 (8 or 16 lanes: the same bits either way).
    #[default]
    Auto,
    /// Every product through sgemm.
    Always,
    /// Every product on the core's kernels.
    Never,
}

/// Multiply-accumulates per row block below which a product is not split across threads.
pub const MIN_SPLIT_MACS: usize = 1 << 20;

/// Kernels backed by `matrixmultiply` for large products and by a core [`Backend`] for the
/// rest: a value, so two routers with different choices can run side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// The path choice.
    pub mode: Mode,
    /// Split large products by output rows across the threads of the current rayon pool (or
    /// of the team a [`TeamGemm`] runs on). Each output element is still computed by the same
    /// operations, so the bits do not depend on the number of threads (tests/determinism.rs
    /// checks it).
    pub split: bool,
    /// The core kernels for the products that do not go through sgemm.
    pub backend: Backend,
}

impl Default for Gemm {
    fn default() -> Gemm {
        Gemm::new(Backend::detect(), Mode::Auto)
    }
}

impl Gemm {
    /// A router over `backend` (products not split across threads).
    pub fn new(backend: Backend, mode: Mode) -> Gemm {
        Gemm { mode, split: false, backend }
    }

    /// The choice from the environment, read once by the caller and then held as a value:
    /// `MYELIN_GEMM=auto|always|never` (default auto) and `MYELIN_KERNELS=native|simd16|
    /// simd8|portable|reference` (default native: the widest this CPU runs;
    /// `MYELIN_AVX512=off` is `simd8`), so measurements can force a path without
    /// rebuilding. An unknown value, or a backend this CPU cannot run, is an error.
    pub fn from_env() -> crate::Result<Gemm> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mode = match var("MYELIN_GEMM").as_deref() {
            None | Some("auto") => Mode::Auto,
            Some("always") => Mode::Always,
            Some("never") => Mode::Never,
            Some(other) => {
                return Err(crate::Error::Usage(format!("MYELIN_GEMM={other}: expected auto, always or never")))
            }
        };
        let mut name = var("MYELIN_KERNELS").unwrap_or_else(|| "native".into());
        if name == "native" && var("MYELIN_AVX512").is_some_and(|v| v.eq_ignore_ascii_case("off")) {
            name = "simd8".into();
        }
        let backend = Backend::from_name(&name).ok_or_else(|| {
            crate::Error::Usage(format!(
                "MYELIN_KERNELS={name}: expected native, simd16, simd8, portable or reference, and one this CPU \
                 runs (this one runs: {})",
                Backend::available().map(Backend::name).collect::<Vec<_>>().join(", ")
            ))
        })?;
        Ok(Gemm::new(backend, mode))
    }

    /// Blocks to cut a product with `rows` rows (samples or neurons) into on `crew` (asked
    /// for its size only when the product is to be split: for the rayon pool, asking starts
    /// the global pool).
    fn parts(&self, crew: &impl Crew, d: Dims, rows: usize) -> usize {
        if !self.split {
            return 1;
        }
        let threads = crew.size();
        let macs = d.batch.saturating_mul(d.inputs).saturating_mul(d.outputs);
        if threads < 2 || macs < 2 * MIN_SPLIT_MACS {
            return 1;
        }
        threads.min(macs / MIN_SPLIT_MACS).min(rows).max(1)
    }

    fn use_gemm(&self, d: Dims) -> bool {
        match self.mode {
            Mode::Always => true,
            Mode::Never => false,
            Mode::Auto => {
                !(cfg!(target_arch = "x86_64") && self.backend.simd().is_some())
                    && d.batch.saturating_mul(d.inputs).saturating_mul(d.outputs) >= MIN_GEMM_MACS
            }
        }
    }
}

/// Whether a `rows x cols` matrix at non-negative strides `rs`, `cs` lies inside `len`
/// elements (trivially for an empty matrix).
fn covers(len: usize, rows: usize, cols: usize, rs: isize, cs: isize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    let (Ok(rs), Ok(cs)) = (usize::try_from(rs), usize::try_from(cs)) else { return false };
    let last = (rows - 1).checked_mul(rs).zip((cols - 1).checked_mul(cs)).and_then(|(r, c)| r.checked_add(c));
    last.is_some_and(|l| l < len)
}

/// `c (m x n) = alpha * a (m x k) * b (k x n) + beta * c` with explicit strides. Does
/// nothing unless every operand lies inside its slice (the callers pass checked lengths, so
/// this never triggers; it keeps this safe function sound on its own).
#[allow(clippy::too_many_arguments)]
fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: isize,
    csa: isize,
    b: &[f32],
    rsb: isize,
    csb: isize,
    beta: f32,
    c: &mut [f32],
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == 0.0 {
            c.fill(0.0);
        }
        return;
    }
    if !(covers(a.len(), m, k, rsa, csa) && covers(b.len(), k, n, rsb, csb) && covers(c.len(), m, n, n as isize, 1)) {
        debug_assert!(false, "sgemm operands outside their slices");
        return;
    }
    SGEMM_CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: checked just above: a holds m x k, b holds k x n and c holds m x n elements at
    // the given strides; c does not alias a or b (a `&mut` next to two `&` borrows).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Where the parts of a split product run: the current rayon pool ([`Gemm`] itself) or a
/// trainer's [`Team`] ([`TeamGemm`]).
trait Crew {
    /// Threads that take parts.
    fn size(&self) -> usize;
    /// `f(i, &mut items[i])` for every item, the items side by side; returns when all are done.
    fn each<T: Send>(&self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync);
    /// One buffer per part for a forward split by neurons; `None`: the crew splits the
    /// forward by samples only.
    fn scratch(&self) -> Option<RefMut<'_, Vec<Vec<f32>>>>;
}

/// The threads of the current rayon pool.
struct Pool;

impl Crew for Pool {
    fn size(&self) -> usize {
        rayon::current_num_threads()
    }
    fn each<T: Send>(&self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
        items.par_iter_mut().enumerate().for_each(|(i, it)| f(i, it));
    }
    fn scratch(&self) -> Option<RefMut<'_, Vec<Vec<f32>>>> {
        None
    }
}

/// [`Gemm`]'s products split across the members of a [`Team`] rather than the rayon pool:
/// the trainer's lone shard, whose products then hand over to the team's spinning threads
/// (the same threads as the step's update) instead of waking the pool's. Where the bits
/// allow, a forward gives each member its own block of neurons (rows of `W`, the block the
/// same member updates), so a member reads only its own rows. The same bits as [`Gemm`].
pub struct TeamGemm<'t> {
    gemm: Gemm,
    team: RefCell<&'t mut Team>,
    /// Per member: its neurons' outputs (samples x neurons) in a forward split by neurons.
    scratch: RefCell<&'t mut Vec<Vec<f32>>>,
}

impl<'t> TeamGemm<'t> {
    /// `gemm`'s products (split when `gemm.split` says so) on `team`; `scratch` keeps the
    /// neuron blocks' buffers from one call to the next.
    pub fn new(gemm: Gemm, team: &'t mut Team, scratch: &'t mut Vec<Vec<f32>>) -> TeamGemm<'t> {
        TeamGemm { gemm, team: RefCell::new(team), scratch: RefCell::new(scratch) }
    }
}

impl TeamGemm<'_> {
    /// `f(i, &mut items[i])` for every item, side by side on the team's members (item `i` on
    /// member `i % size`); returns when all are done.
    pub fn each<T: Send>(&self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
        Crew::each(self, items, f);
    }

    /// Members of the team, the caller included.
    pub fn size(&self) -> usize {
        Crew::size(self)
    }
}

impl Crew for TeamGemm<'_> {
    fn size(&self) -> usize {
        self.team.borrow().size()
    }
    fn each<T: Send>(&self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
        self.team.borrow_mut().for_each_mut(items, f);
    }
    fn scratch(&self) -> Option<RefMut<'_, Vec<Vec<f32>>>> {
        Some(RefMut::map(self.scratch.borrow_mut(), |s| &mut **s))
    }
}

impl RawKernels for TeamGemm<'_> {
    fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        self.gemm.forward_on(self, d, x, w, b, y, act);
    }
    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        self.gemm.weight_grad_on(self, d, delta, x, d_w, Accumulate::Add);
    }
    fn weight_grad_into_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        self.gemm.weight_grad_on(self, d, delta, x, d_w, Accumulate::Overwrite);
    }
    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        self.gemm.input_grad_on(self, d, delta, w, d_x);
    }
    fn dense_forward_packed_impl(&self, d: Dims, x: &[f32], wp: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        self.gemm.dense_forward_packed_impl(d, x, wp, b, y, act);
    }
}

/// Consecutive blocks of `per` rows of two row-major matrices (`a` rows `ac` long, `b` rows
/// `bc` long), paired: the parts of a product split by samples.
fn row_blocks<'a>(a: &'a mut [f32], ac: usize, b: &'a [f32], bc: usize, per: usize) -> Vec<(&'a mut [f32], &'a [f32])> {
    a.chunks_mut(per * ac).zip(b.chunks(per * bc)).collect()
}

impl Gemm {
    /// `d_w (+)= delta^T x` on `crew`, adding or overwriting as `mode` says.
    fn weight_grad_on(&self, crew: &impl Crew, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32], mode: Accumulate) {
        if !d.fits(x.len(), d_w.len(), delta.len()) {
            return;
        }
        let (i, o) = (d.inputs, d.outputs);
        let per = o.div_ceil(self.parts(crew, d, o)).max(1);
        let mut blocks: Vec<&mut [f32]> = if per < o && i > 0 { d_w.chunks_mut(per * i).collect() } else { vec![] };
        if !self.use_gemm(d) {
            match self.backend.simd() {
                Some(simd) if !blocks.is_empty() => {
                    // Blocks of neurons (rows of d_w), each the same operations as in the whole.
                    crew.each(&mut blocks, |c, gw| {
                        let _ = simd.weight_grad_rows(d, delta, x, gw, c * per, mode);
                    });
                }
                _ if mode == Accumulate::Add => self.backend.weight_grad_impl(d, delta, x, d_w),
                _ => self.backend.weight_grad_into_impl(d, delta, x, d_w),
            }
            return;
        }
        // d_w rows (neurons j) in blocks: d_w[j0..j1] += delta[:, j0..j1]^T x. Overwriting
        // zeroes first: beta = 0 could give -0.0 where zeroing gives +0.0.
        let beta = 1.0;
        if blocks.is_empty() {
            if mode == Accumulate::Overwrite {
                d_w.fill(0.0);
            }
            sgemm(o, d.batch, i, delta, 1, o as isize, x, i as isize, 1, beta, d_w);
            return;
        }
        crew.each(&mut blocks, |c, gw| {
            if mode == Accumulate::Overwrite {
                gw.fill(0.0);
            }
            sgemm(gw.len() / i, d.batch, i, &delta[c * per..], 1, o as isize, x, i as isize, 1, beta, gw);
        });
    }

    /// `y = act(x W^T + b)` on `crew`: by blocks of neurons where the crew keeps buffers
    /// for them and the bits allow, else by blocks of samples.
    #[allow(clippy::too_many_arguments)]
    fn forward_on(&self, crew: &impl Crew, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        if !d.fits(x.len(), w.len(), y.len()) || b.len() != d.outputs {
            return;
        }
        let (i, o) = (d.inputs, d.outputs);
        if !self.use_gemm(d) && i > 0 && d.batch > 0 && act != Activation::Softmax {
            let per = o.div_ceil(self.parts(crew, d, o)).max(1);
            if per < o && self.backend.forward_splits_neurons_exactly(d.batch, o, per) {
                if let Some(mut scratch) = crew.scratch() {
                    self.forward_by_neurons(crew, &mut scratch, d, x, w, b, y, act, per);
                    return;
                }
            }
        }
        let per = d.batch.div_ceil(self.parts(crew, d, d.batch)).max(1);
        let split = per < d.batch && o > 0 && i > 0;
        if !self.use_gemm(d) {
            // Every block, the short last one included, must take the whole batch's path.
            if split && self.backend.forward_splits_exactly(d.batch, o, per) {
                // Blocks of samples, each the same operations as in the whole product.
                crew.each(&mut row_blocks(y, o, x, i, per), |_, (yc, xc)| {
                    let dc = Dims { batch: yc.len() / o, ..d };
                    self.backend.dense_forward_impl(dc, xc, w, b, yc, act);
                });
            } else {
                self.backend.dense_forward_impl(d, x, w, b, y, act);
            }
            return;
        }
        // y rows (samples) in blocks: y_blk = x_blk W^T, then bias and activation.
        let run = |yc: &mut [f32], xc: &[f32]| {
            sgemm(yc.len() / o.max(1), i, o, xc, i as isize, 1, w, 1, i as isize, 0.0, yc);
            self.backend.bias_activation(yc, b, act);
        };
        if split {
            crew.each(&mut row_blocks(y, o, x, i, per), |_, (yc, xc)| run(yc, xc));
        } else {
            run(y, x);
        }
    }

    /// The forward in blocks of `per` neurons, block `c` into `scratch[c]` on member `c`,
    /// then copied into its columns of `y` (an element-wise activation: no row-wise step).
    #[allow(clippy::too_many_arguments)]
    fn forward_by_neurons(
        &self,
        crew: &impl Crew,
        scratch: &mut Vec<Vec<f32>>,
        d: Dims,
        x: &[f32],
        w: &[f32],
        b: &[f32],
        y: &mut [f32],
        act: Activation,
        per: usize,
    ) {
        let (i, o) = (d.inputs, d.outputs);
        let blocks = o.div_ceil(per);
        if scratch.len() < blocks {
            scratch.resize_with(blocks, Vec::new);
        }
        let rows = |c: usize| per.min(o - c * per);
        crew.each(&mut scratch[..blocks], |c, buf| {
            let (j0, n) = (c * per, rows(c));
            if buf.len() < d.batch * n {
                buf.resize(d.batch * n, 0.0);
            }
            let (wc, bc) = (&w[j0 * i..(j0 + n) * i], &b[j0..j0 + n]);
            self.backend.dense_forward_impl(Dims { outputs: n, ..d }, x, wc, bc, &mut buf[..d.batch * n], act);
        });
        for (c, buf) in scratch[..blocks].iter().enumerate() {
            let (j0, n) = (c * per, rows(c));
            for (yr, br) in y.chunks_exact_mut(o).zip(buf.chunks_exact(n)) {
                yr[j0..j0 + n].copy_from_slice(br);
            }
        }
    }

    /// `d_x = delta W` on `crew`, by blocks of samples.
    fn input_grad_on(&self, crew: &impl Crew, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        if !d.fits(d_x.len(), w.len(), delta.len()) {
            return;
        }
        let (i, o) = (d.inputs, d.outputs);
        let per = d.batch.div_ceil(self.parts(crew, d, d.batch)).max(1);
        let split = per < d.batch && o > 0 && i > 0;
        if !self.use_gemm(d) {
            if split {
                // Blocks of samples: d_x_blk = delta_blk W, the same operations per element.
                crew.each(&mut row_blocks(d_x, i, delta, o, per), |_, (gx, dc)| {
                    self.backend.input_grad_impl(Dims { batch: gx.len() / i, ..d }, dc, w, gx);
                });
            } else {
                self.backend.input_grad_impl(d, delta, w, d_x);
            }
            return;
        }
        // d_x rows (samples) in blocks: d_x_blk = delta_blk W.
        let run = |gx: &mut [f32], dc: &[f32]| {
            sgemm(gx.len() / i.max(1), o, i, dc, o as isize, 1, w, i as isize, 1, 0.0, gx);
        };
        if split {
            crew.each(&mut row_blocks(d_x, i, delta, o, per), |_, (gx, dc)| run(gx, dc));
        } else {
            run(d_x, delta);
        }
    }
}

impl RawKernels for Gemm {
    fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        self.forward_on(&Pool, d, x, w, b, y, act);
    }

    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        self.weight_grad_on(&Pool, d, delta, x, d_w, Accumulate::Add);
    }

    fn weight_grad_into_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        self.weight_grad_on(&Pool, d, delta, x, d_w, Accumulate::Overwrite);
    }

    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        self.input_grad_on(&Pool, d, delta, w, d_x);
    }

    /// Packed weights (`myelin_core::kernels::packed`) are the core's layout for one sample
    /// at a time: always the core's kernel set, one sample after another, whatever the mode
    /// (sgemm takes no packed weights).
    fn dense_forward_packed_impl(&self, d: Dims, x: &[f32], wp: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        self.backend.dense_forward_packed_impl(d, x, wp, b, y, act);
    }
}

#[cfg(test)]
mod tests {
    //! The sgemm path against the core's reference at small sizes (too small to split rows;
    //! tests/parallel.rs covers split products at full size); also run
    //! under Miri (scripts/test) to check the unsafe call's bounds and aliasing.
    use super::*;
    use myelin_core::kernels::Kernels;
    use myelin_core::kernels::Reference;

    /// The three products of `k`: forward into NaNs, weight gradient onto `g0`, input
    /// gradient into NaNs. `data` = [x, w, b, delta, g0].
    fn products(k: &dyn Kernels, d: Dims, act: Activation, data: [&[f32]; 5]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let [x, w, b, delta, g0] = data;
        let mut y = vec![f32::NAN; d.batch * d.outputs];
        k.dense_forward(d, x, w, b, &mut y, act).unwrap();
        let mut d_w = g0.to_vec();
        k.weight_grad(d, delta, x, &mut d_w).unwrap();
        let mut d_x = vec![f32::NAN; d.batch * d.inputs];
        k.input_grad(d, delta, w, &mut d_x).unwrap();
        (y, d_w, d_x)
    }

    fn reals(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32).map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 997.0 - 0.5).collect()
    }

    fn fill(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32).map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 17) as f32 - 8.0).collect()
    }

    #[test]
    fn sgemm_path_matches_reference_on_integer_data() {
        // Miri does not accept crossbeam-epoch's pointer tricks under Stacked Borrows, so it
        // checks the unsplit path only (no thread pool is built there).
        let pool = (!cfg!(miri)).then(|| rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap());
        let dims = [(1, 1, 1), (3, 5, 2), (4, 9, 17), (2, 0, 3), (0, 4, 3)];
        for (batch, inputs, outputs) in dims {
            let d = Dims { batch, inputs, outputs };
            let (x, w, b, delta) =
                (fill(batch * inputs, 1), fill(outputs * inputs, 2), fill(outputs, 3), fill(batch * outputs, 4));
            let g0 = fill(outputs * inputs, 5);
            let run = |k: &dyn Kernels| products(k, d, Activation::Identity, [&x, &w, &b, &delta, &g0]);
            let want = run(&Reference);
            // Integer-valued data: every sum is exact, so any order gives the same bits.
            let always = Gemm::new(Backend::detect(), Mode::Always);
            assert_eq!(run(&always), want, "{d:?}");
            if let Some(pool) = &pool {
                assert_eq!(pool.install(|| run(&Gemm { split: true, ..always })), want, "{d:?} split");
            }
            // Wrong lengths through the unchecked entry: nothing written, no out-of-bounds access.
            let mut short = vec![f32::NAN; (batch * outputs).saturating_sub(1)];
            always.dense_forward_impl(d, &x, &w, &b, &mut short, Activation::Relu);
            assert!(short.iter().all(|v| v.is_nan()));
        }
    }

    /// Products large enough to be split across threads (checked: more than one part), on
    /// the sgemm path and on every core backend, on a rayon pool and on a team (the forward
    /// by neurons there, checked: at least once per core backend): the same bits as
    /// unsplit. Too slow for Miri.
    #[test]
    #[cfg_attr(miri, ignore = "large products")]
    fn split_products_equal_unsplit_ones() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let mut by_neurons = 0;
        // 47 samples in three blocks would leave a last block of 15, below the chained
        // forward's 16: that forward must stay whole.
        for (batch, inputs, outputs) in [(64, 784, 128), (130, 300, 77), (31, 784, 128), (47, 784, 128), (600, 128, 40)]
        {
            let d = Dims { batch, inputs, outputs };
            // Real-valued data: a change of summation order would show in the bits.
            let (x, w, b, delta) =
                (reals(batch * inputs, 1), reals(outputs * inputs, 2), reals(outputs, 3), reals(batch * outputs, 4));
            let g0 = reals(outputs * inputs, 5);
            let run = |k: &Gemm| products(k, d, Activation::Relu, [&x, &w, &b, &delta, &g0]);
            let run_team = |k: &TeamGemm| products(k, d, Activation::Relu, [&x, &w, &b, &delta, &g0]);
            let modes = Backend::available()
                .map(|k| Gemm::new(k, Mode::Never))
                .chain([Gemm::new(Backend::detect(), Mode::Always)]);
            for g in modes {
                let whole = run(&g);
                let split = Gemm { split: true, ..g };
                let (parts, got) = pool.install(|| (split.parts(&Pool, d, batch), run(&split)));
                assert!(parts > 1, "{d:?}: the product was not split");
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got.0), bits(&whole.0), "{g:?} forward {d:?}");
                assert_eq!(bits(&got.1), bits(&whole.1), "{g:?} weight_grad {d:?}");
                assert_eq!(bits(&got.2), bits(&whole.2), "{g:?} input_grad {d:?}");
                // The same split on a team: the forward by neurons where the kernels allow it.
                let (mut team, mut scratch) = (Team::new(3).unwrap(), Vec::new());
                let on_team = run_team(&TeamGemm::new(split, &mut team, &mut scratch));
                assert_eq!(bits(&on_team.0), bits(&whole.0), "{g:?} forward on a team {d:?}");
                assert_eq!(bits(&on_team.1), bits(&whole.1), "{g:?} weight_grad on a team {d:?}");
                assert_eq!(bits(&on_team.2), bits(&whole.2), "{g:?} input_grad on a team {d:?}");
                by_neurons += usize::from(!scratch.is_empty());
            }
        }
        assert!(by_neurons >= 4, "the forward was split by neurons {by_neurons} times");
    }

    #[test]
    fn covers_rejects_out_of_range_strides() {
        assert!(covers(6, 2, 3, 3, 1));
        assert!(!covers(5, 2, 3, 3, 1));
        assert!(covers(6, 3, 2, 1, 3));
        assert!(!covers(6, 3, 2, 1, -3));
        assert!(covers(0, 0, 5, 5, 1));
        assert!(!covers(usize::MAX, 3, 3, isize::MAX, 1));
    }
}
