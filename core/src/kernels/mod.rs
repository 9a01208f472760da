//! Dense-layer kernels: one trait, three implementations, one place that picks.
//!
//! Shape legend for every kernel (row-major):
//!
//! ```text
//! x     : (batch, inputs)     layer input
//! w     : (outputs, inputs)   row j = weights into neuron j
//! b     : (outputs)
//! y     : (batch, outputs)    y = act(x W^T + b)
//! delta : (batch, outputs)    dL/dz, z = x W^T + b
//! d_w   : (outputs, inputs)   d_w += delta^T x      (Accumulate::Add; weight_grad_into:
//!                                                    d_w = delta^T x, Accumulate::Overwrite)
//! d_b   : (outputs)           d_b += sum_s delta[s] (accumulates)
//! d_x   : (batch, inputs)     d_x  = delta W        (overwrites: it is a temporary that the
//!                                                    layer below consumes at once)
//! ```
//!
//! - [`Reference`]: plain loops, the specification.
//! - [`Portable`]: register-blocked scalar code that performs *the same floating-point
//!   operations in the same order* as [`Reference`], so its results are bit-identical on every
//!   IEEE-754 target; this is the path a Cortex-M runs, and the path a host runs to reproduce
//!   firmware outputs exactly.
//! - [`Simd`]: `wide::f32x8` with fused multiply-add, and 16-lane AVX-512 tiles chosen at
//!   run time where the CPU has them (`avx512/`); reorders and fuses sums, so it agrees
//!   with [`Reference`] within a bound proportional to `sum |x_k w_k|`, and exactly on
//!   integer-valued data. Its three products give the same bits with and without AVX-512.
//! - On hard-float ARM, [`Portable`]'s forward dot products run as a `vldmia` + `vmla.f32`
//!   block (`arm.rs`) with the same bits.
//!
//! [`Native`] is the build's type; [`Backend`] is a kernel set as a value, and
//! [`Backend::detect`] the one place that chooses at run time (CPUID on x86_64). Nothing is
//! process-wide: a test or host names the backend it runs and can run several side by side.

#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
mod arm;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
pub(crate) mod cpu;
pub(crate) mod exp;
pub(crate) mod int8;
pub mod packed;
mod portable;
mod reference;
mod simd;

pub use portable::Portable;
pub use reference::Reference;
pub use simd::Simd;

use crate::activation::{softmax_backward, Activation};
use crate::error::{check_len, Buffer, Error};

/// Asks for the cache lines of rows `0..rows` of `C` (row stride `n`) at columns `k0..k0 +
/// width`, into L2: the panel products call it for the next strip of columns when a strip
/// starts, in passes that add to `C`, whose tiles would otherwise wait on L3 at their first
/// loads (a weight gradient's `C` is larger than L2). The passes that add to `C` are their
/// own instances of the pass functions (`PREFETCH`), so the passes that write `C` run the
/// code they ran without it. A hint: no value changes, and
/// `prefetch` never faults, so addresses past `C` are harmless.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
pub(crate) fn prefetch_strip(c: *const f32, n: usize, rows: usize, k0: usize, width: usize) {
    #[cfg(target_arch = "x86_64")]
    for r in 0..rows {
        let row = c.wrapping_add(r * n + k0);
        let mut k = 0;
        while k < width + 15 {
            // SAFETY: `_mm_prefetch` only hints at an address and never faults; SSE is part
            // of x86_64.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(
                    row.wrapping_add(k.min(width - 1)) as *const i8,
                )
            };
            k += 16;
        }
    }
}

/// Lines ahead of the current position at which [`prefetch_ahead`] asks for a row of `W`.
#[cfg(target_arch = "x86_64")]
const AHEAD: usize = 4;

/// Floats of `W` above which a single sample's dot tiles prefetch its rows: 32 KB, the
/// smallest L1 data cache of the x86_64 CPUs the 8- and 16-lane kernels run on. A smaller
/// `W` stays in L1 from one sample to the next, and a prefetch would only cost its
/// instruction. Under Miri, whose layers are small, 64 floats, so that its runs of the
/// kernel tests reach the prefetching tiles.
const L1_FLOATS: usize = if cfg!(miri) { 64 } else { 8 * 1024 };

/// Whether a single sample's dot tiles over `outputs` rows of `n` weights prefetch them
/// ([`prefetch_ahead`]).
#[inline(always)]
pub(crate) fn prefetch_rows(n: usize, outputs: usize) -> bool {
    n.saturating_mul(outputs) > L1_FLOATS
}

/// Asks for the cache line [`AHEAD`] lines past `p` into L1: a single sample's dot tiles
/// read several rows of `W` side by side from L2 (where `W` stays from one sample to the
/// next when it is larger than L1), and the packing transposes 8 or 16 rows of `x` or `W`,
/// more streams than the hardware prefetcher keeps ahead of, so each row's lines are
/// requested a few lines early. A hint: no value changes and it
/// never faults, so addresses past the row are harmless.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
pub(crate) fn prefetch_ahead(p: *const f32) {
    // SAFETY: `_mm_prefetch` only hints at an address and never faults; SSE is part of x86_64.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.wrapping_add(AHEAD * 16) as *const i8)
    };
}

/// Sizes of one dense layer applied to a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Samples in the batch.
    pub batch: usize,
    /// Layer inputs.
    pub inputs: usize,
    /// Layer outputs.
    pub outputs: usize,
}

impl Dims {
    pub(crate) fn lens(self) -> Result<(usize, usize, usize), Error> {
        let xs = self.batch.checked_mul(self.inputs).ok_or(Error::TooLarge)?;
        let ws = self.outputs.checked_mul(self.inputs).ok_or(Error::TooLarge)?;
        let ys = self.batch.checked_mul(self.outputs).ok_or(Error::TooLarge)?;
        Ok((xs, ws, ys))
    }

    /// The length checks of a weight gradient: `delta` (batch x outputs), `x` (batch x
    /// inputs), `d_w` (outputs x inputs).
    fn check_weight_grad(self, delta: &[f32], x: &[f32], d_w: &[f32]) -> Result<(), Error> {
        let (xs, ws, ys) = self.lens()?;
        check_len(Buffer::Delta, ys, delta.len())?;
        check_len(Buffer::Input, xs, x.len())?;
        check_len(Buffer::Grads, ws, d_w.len())
    }

    /// Whether slices of lengths `xs` (batch x inputs), `ws` (outputs x inputs) and `ys`
    /// (batch x outputs) are the ones these dims describe. Every `*_impl` starts with this
    /// guard and does nothing on a mismatch, so calling one directly with wrong lengths can
    /// neither panic nor touch memory out of bounds.
    #[inline]
    pub fn fits(self, xs: usize, ws: usize, ys: usize) -> bool {
        self.lens() == Ok((xs, ws, ys))
    }

    /// Whether `x`, packed weights ([`packed::packed_len`]) and `y` of these lengths fit.
    pub fn fits_packed(self, xs: usize, wps: usize, ys: usize) -> bool {
        matches!(self.lens(), Ok((x, _, y)) if x == xs && y == ys)
            && packed::packed_len(self.inputs, self.outputs) == Ok(wps)
    }
}

/// Whether a gradient kernel adds to its output or overwrites it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accumulate {
    /// `out += product`: gradients summed over several calls.
    Add,
    /// `out = product`: the bits of zeroing `out` first and adding, without the pass over
    /// memory.
    Overwrite,
}

/// The unchecked layer of the kernels: what a kernel set implements, and what the runner's
/// gemm router and the kernel tests call directly. Not for general use: [`Kernels`] is the
/// checked interface every kernel set gets from this one.
pub mod raw {
    use super::{Activation, Dims};

    /// A kernel set's entry points, called with lengths already checked. Each starts with
    /// the [`Dims::fits`] guard and returns without writing on a mismatch, so a direct call
    /// with wrong lengths can neither panic nor touch memory out of bounds.
    pub trait RawKernels {
        /// `y = act(x W^T + b)`.
        fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation);
        /// `d_w += delta^T x`.
        fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]);
        /// `d_w = delta^T x` (overwrites). Provided as zeroing then
        /// [`RawKernels::weight_grad_impl`]; kernels that can start their sums from zero
        /// override it with the same bits.
        fn weight_grad_into_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
            if !d.fits(x.len(), d_w.len(), delta.len()) {
                return;
            }
            d_w.fill(0.0);
            self.weight_grad_impl(d, delta, x, d_w);
        }
        /// `d_x = delta W`.
        fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]);
        /// `y = act(x W^T + b)` with `W` packed ([`super::packed`]), each sample as the
        /// kernel set's forward computes a batch of one. Returns without writing unless
        /// [`Dims::fits_packed`] holds.
        fn dense_forward_packed_impl(&self, d: Dims, x: &[f32], wp: &[f32], b: &[f32], y: &mut [f32], act: Activation);
    }
}

use raw::RawKernels;

/// The dense-layer kernels, every length checked ([`Error::BadLength`] names the buffer).
/// Every kernel set that implements [`raw::RawKernels`] has them; there is nothing else to
/// implement.
pub trait Kernels: RawKernels {
    /// Fused dense forward over a batch: `y = act(x W^T + b)`.
    fn dense_forward(
        &self,
        d: Dims,
        x: &[f32],
        w: &[f32],
        b: &[f32],
        y: &mut [f32],
        act: Activation,
    ) -> Result<(), Error> {
        let (xs, ws, ys) = d.lens()?;
        check_len(Buffer::Input, xs, x.len())?;
        check_len(Buffer::Weights, ws, w.len())?;
        check_len(Buffer::Bias, d.outputs, b.len())?;
        check_len(Buffer::Output, ys, y.len())?;
        self.dense_forward_impl(d, x, w, b, y, act);
        Ok(())
    }

    /// [`Kernels::dense_forward`] from weights packed by [`packed::pack`]: each sample's
    /// outputs carry the bits the kernel set's forward gives that sample in a batch of one,
    /// with `W` read in one pass in order (the layout of [`packed`]).
    fn dense_forward_packed(
        &self,
        d: Dims,
        x: &[f32],
        wp: &[f32],
        b: &[f32],
        y: &mut [f32],
        act: Activation,
    ) -> Result<(), Error> {
        let (xs, _, ys) = d.lens()?;
        check_len(Buffer::Input, xs, x.len())?;
        check_len(Buffer::Packed, packed::packed_len(d.inputs, d.outputs)?, wp.len())?;
        check_len(Buffer::Bias, d.outputs, b.len())?;
        check_len(Buffer::Output, ys, y.len())?;
        self.dense_forward_packed_impl(d, x, wp, b, y, act);
        Ok(())
    }

    /// Delta through the activation, in place: `delta = d_y * f'(z)`, with `f'` taken from
    /// the outputs `y` (softmax: the Jacobian product per row). `y`, `delta`: (batch, width).
    fn activation_backward(&self, act: Activation, y: &[f32], delta: &mut [f32], width: usize) -> Result<(), Error> {
        check_len(Buffer::Delta, y.len(), delta.len())?;
        match act {
            Activation::Identity => {}
            Activation::Softmax => {
                if width == 0 || !y.len().is_multiple_of(width) {
                    return Err(Error::BadLength {
                        buffer: Buffer::Delta,
                        expected: y.len() - y.len() % width.max(1),
                        got: y.len(),
                    });
                }
                for (yr, dr) in y.chunks_exact(width).zip(delta.chunks_exact_mut(width)) {
                    softmax_backward(yr, dr);
                }
            }
            Activation::Relu => delta.iter_mut().zip(y).for_each(|(d, &y)| {
                if y <= 0.0 {
                    *d = 0.0
                }
            }),
            _ => delta.iter_mut().zip(y).for_each(|(d, &y)| *d *= act.derivative_from_output(y)),
        }
        Ok(())
    }

    /// Outer-product weight gradient: `d_w += delta^T x`, i.e.
    /// `d_w[j][k] += sum_s delta[s][j] x[s][k]`.
    fn weight_grad(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) -> Result<(), Error> {
        d.check_weight_grad(delta, x, d_w)?;
        self.weight_grad_impl(d, delta, x, d_w);
        Ok(())
    }

    /// Weight gradient written fresh: `d_w = delta^T x` (the same bits as zeroing `d_w`
    /// and calling [`Kernels::weight_grad`], without the pass over memory).
    fn weight_grad_into(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) -> Result<(), Error> {
        d.check_weight_grad(delta, x, d_w)?;
        self.weight_grad_into_impl(d, delta, x, d_w);
        Ok(())
    }

    /// Bias gradient: `d_b += sum_s delta[s]`, summed in sample order.
    fn bias_grad(&self, d: Dims, delta: &[f32], d_b: &mut [f32]) -> Result<(), Error> {
        let (_, _, ys) = d.lens()?;
        check_len(Buffer::Delta, ys, delta.len())?;
        check_len(Buffer::Grads, d.outputs, d_b.len())?;
        if d.outputs > 0 {
            for row in delta.chunks_exact(d.outputs) {
                d_b.iter_mut().zip(row).for_each(|(g, &v)| *g += v);
            }
        }
        Ok(())
    }

    /// Input gradient: `d_x = delta W`, i.e. `d_x[s][k] = sum_j delta[s][j] W[j][k]`.
    fn input_grad(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) -> Result<(), Error> {
        let (xs, ws, ys) = d.lens()?;
        check_len(Buffer::Delta, ys, delta.len())?;
        check_len(Buffer::Weights, ws, w.len())?;
        check_len(Buffer::Output, xs, d_x.len())?;
        self.input_grad_impl(d, delta, w, d_x);
        Ok(())
    }
}

/// The kernels this build uses by default: [`Simd`] where the compile target has 8-lane
/// SIMD with FMA (x86_64 with AVX2 + FMA; ARM64, whose NEON `vfmaq_f32` is baseline, as two
/// 4-lane halves), [`Portable`] everywhere else (Cortex-M, generic x86_64).
/// `Native::default()` is the widest variant this CPU runs ([`Simd::detect`]).
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"),
    all(target_arch = "aarch64", target_feature = "neon")
))]
pub type Native = Simd;
/// The kernels this build uses by default: [`Simd`] where the compile target has 8-lane
/// SIMD with FMA (x86_64 with AVX2 + FMA, ARM64 NEON), [`Portable`] everywhere else
/// (Cortex-M, generic x86_64).
#[cfg(not(any(
    all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"),
    all(target_arch = "aarch64", target_feature = "neon")
)))]
pub type Native = Portable;

/// Whether this build's [`Native`] kernels are the SIMD ones.
pub const NATIVE_IS_SIMD: bool = cfg!(any(
    all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"),
    all(target_arch = "aarch64", target_feature = "neon")
));

/// A kernel set as a value: which code runs is decided when the value is made, never by
/// process-wide state. [`Backend::detect`] gives the fastest this build and CPU run;
/// [`Backend::available`] lists every one they run, so a test can check each in one
/// process. A [`Simd`] value can only be made for tiles the CPU runs, so every `Backend`
/// is runnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// [`Reference`]: the specification.
    Reference,
    /// [`Portable`]: the reference's bits, register-blocked (the Cortex-M path).
    Portable,
    /// [`Simd`] of the width it holds.
    Simd(Simd),
}

impl Default for Backend {
    fn default() -> Backend {
        Backend::detect()
    }
}

impl Backend {
    /// The 8-lane SIMD kernels.
    pub const SIMD8: Backend = Backend::Simd(Simd::LANES8);

    /// The fastest kernels this build and CPU run: AVX-512 tiles where present, else the
    /// 8-lane SIMD kernels where the build has them ([`NATIVE_IS_SIMD`]), else [`Portable`].
    pub fn detect() -> Backend {
        if NATIVE_IS_SIMD {
            Backend::Simd(Simd::detect())
        } else {
            Backend::Portable
        }
    }

    /// Every backend this build and CPU run, slowest first: reference, portable, and the
    /// SIMD widths the CPU has (the 8-lane kernels everywhere: where the build has no
    /// vector unit they run on plain arrays, slowly but correctly).
    pub fn available() -> impl Iterator<Item = Backend> {
        [Some(Backend::Reference), Some(Backend::Portable), Some(Backend::SIMD8), Simd::lanes16().map(Backend::Simd)]
            .into_iter()
            .flatten()
    }

    /// A short stable name: `reference`, `portable`, `simd8`, `simd16`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Reference => "reference",
            Backend::Portable => "portable",
            Backend::Simd(s) if s.is_lanes16() => "simd16",
            Backend::Simd(_) => "simd8",
        }
    }

    /// Parses a [`Backend::name`] (or `native`/`auto` for [`Backend::detect`]); `None` for an
    /// unknown name or one this CPU does not run.
    pub fn from_name(s: &str) -> Option<Backend> {
        match s {
            "native" | "auto" => Some(Backend::detect()),
            "simd16" | "avx512" => Simd::lanes16().map(Backend::Simd),
            "simd8" | "avx2" | "simd" => Some(Backend::SIMD8),
            "reference" | "scalar" => Some(Backend::Reference),
            "portable" => Some(Backend::Portable),
            _ => None,
        }
    }

    /// The SIMD kernels, if this is one of them.
    pub fn simd(self) -> Option<Simd> {
        match self {
            Backend::Simd(s) => Some(s),
            _ => None,
        }
    }

    /// Whether computing the forward on consecutive blocks of `per` samples gives the same
    /// bits as the whole batch (see [`Simd::forward_splits_exactly`]; the scalar kernels
    /// compute each output alike for any batch).
    pub fn forward_splits_exactly(self, batch: usize, outputs: usize, per: usize) -> bool {
        match self {
            Backend::Simd(s) => s.forward_splits_exactly(batch, outputs, per),
            _ => per > 0,
        }
    }

    /// [`bias_activation`] as this kernel set runs it: the SIMD kernels take the softmax's
    /// exponentials sixteen at a time with AVX-512 (`avx512/exp.rs`), else eight at a time
    /// (`exp.rs`), the others one at a time; the same bits.
    pub fn bias_activation(self, y: &mut [f32], b: &[f32], act: Activation) {
        match self {
            Backend::Simd(s) => s.bias_activation(y, b, act),
            _ => bias_activation(y, b, act),
        }
    }

    /// Whether computing the forward for consecutive blocks of `per` neurons (rows of `W`)
    /// gives the same bits for their outputs as the whole product (see
    /// [`Simd::forward_splits_neurons_exactly`]; the scalar kernels compute each output
    /// alike for any block).
    pub fn forward_splits_neurons_exactly(self, batch: usize, outputs: usize, per: usize) -> bool {
        match self {
            Backend::Simd(s) => s.forward_splits_neurons_exactly(batch, outputs, per),
            _ => per > 0,
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $k:ident => $e:expr) => {
        match $self {
            Backend::Reference => {
                let $k = Reference;
                $e
            }
            Backend::Portable => {
                let $k = Portable;
                $e
            }
            Backend::Simd(s) => {
                let $k = s;
                $e
            }
        }
    };
}

impl<T: RawKernels + ?Sized> Kernels for T {}

impl RawKernels for Backend {
    fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        dispatch!(self, k => k.dense_forward_impl(d, x, w, b, y, act))
    }
    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        dispatch!(self, k => k.weight_grad_impl(d, delta, x, d_w))
    }
    fn weight_grad_into_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        dispatch!(self, k => k.weight_grad_into_impl(d, delta, x, d_w))
    }
    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        dispatch!(self, k => k.input_grad_impl(d, delta, w, d_x))
    }
    fn dense_forward_packed_impl(&self, d: Dims, x: &[f32], wp: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        dispatch!(self, k => k.dense_forward_packed_impl(d, x, wp, b, y, act))
    }
}

/// The reference and portable packed forward: each sample's sums in index order
/// ([`packed::forward_in_order`]), then the bias and activation.
fn dense_forward_packed_in_order(d: Dims, x: &[f32], wp: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
    if !d.fits_packed(x.len(), wp.len(), y.len()) || b.len() != d.outputs {
        return;
    }
    if d.inputs == 0 {
        y.fill(0.0);
    } else {
        for (xs, ys) in x.chunks_exact(d.inputs).zip(y.chunks_exact_mut(d.outputs.max(1))) {
            if packed::forward_in_order(d.inputs, d.outputs, xs, wp, ys).is_err() {
                return;
            }
        }
    }
    bias_activation(y, b, act);
}

/// Adds the bias and applies the activation to a finished row block: `y = act(y + b)`.
/// `y`: (rows, outputs). Shared epilogue of every forward kernel (and of the std runner's
/// GEMM path): element-wise activations in one pass, softmax per row.
pub fn bias_activation(y: &mut [f32], b: &[f32], act: Activation) {
    let width = b.len();
    if width == 0 {
        return;
    }
    for row in y.chunks_exact_mut(width) {
        match act {
            Activation::Identity => row.iter_mut().zip(b).for_each(|(v, &b)| *v += b),
            Activation::Softmax => {
                row.iter_mut().zip(b).for_each(|(v, &b)| *v += b);
                crate::activation::softmax_row(row)
            }
            // One pass, every value written: the sum and the select `s > 0 ? s : 0` become an
            // add and a `max` (a conditional store of the zeros alone is a masked store,
            // slow on some x86 cores). The same operations as `Activation::apply`.
            Activation::Relu => row.iter_mut().zip(b).for_each(|(v, &b)| {
                let s = *v + b;
                *v = if s > 0.0 { s } else { 0.0 };
            }),
            _ => row.iter_mut().zip(b).for_each(|(v, &b)| *v = act.apply(*v + b)),
        }
    }
}

/// [`bias_activation`] with the softmax's exponentials taken eight at a time
/// ([`exp::softmax_rows_x8`]): the same bits.
pub(crate) fn bias_activation_x8(y: &mut [f32], b: &[f32], act: Activation) {
    if act != Activation::Softmax || b.is_empty() {
        return bias_activation(y, b, act);
    }
    exp::softmax_rows_x8(y, b.len(), Some(b))
}
