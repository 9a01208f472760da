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
//! d_w   : (outputs, inputs)   d_w += delta^T x      (accumulates)
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
//!   integer-valued data. Its weight and input gradients give the same bits with and
//!   without AVX-512.
//! - On hard-float ARM, [`Portable`]'s forward dot products run as a `vldmia` + `vmla.f32`
//!   block (`arm.rs`) with the same bits.
//!
//! [`Native`] is the build's choice (the only place that chooses); [`Backend`] selects at run
//! time, for tests and hosts that force a path.

#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
mod arm;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;
mod reference;
mod simd;

pub use portable::Portable;
pub use reference::Reference;
pub use simd::{avx512_active, set_avx512, Simd};

use crate::activation::{softmax_backward, Activation};
use crate::error::{check_len, Buffer, Error};

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
}

/// The dense-layer kernels. The provided methods check every length and return
/// [`Error::BadLength`]; implementors write the `*_impl` methods, which may assume lengths
/// are right once they have passed the [`Dims::fits`] guard (they return without writing
/// when it fails).
pub trait Kernels {
    /// `y = act(x W^T + b)`, assuming checked lengths.
    fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation);
    /// `d_w += delta^T x`, assuming checked lengths.
    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]);
    /// `d_x = delta W`, assuming checked lengths.
    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]);

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

    /// `d_w = delta^T x` (overwrites), assuming checked lengths. Provided as zeroing then
    /// [`Kernels::weight_grad_impl`]; kernels that can start their sums from zero override
    /// it with the same bits.
    fn weight_grad_set_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        d_w.fill(0.0);
        self.weight_grad_impl(d, delta, x, d_w);
    }

    /// Weight gradient written fresh: `d_w = delta^T x` (the same bits as zeroing `d_w`
    /// and calling [`Kernels::weight_grad`], without the pass over memory).
    fn weight_grad_set(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) -> Result<(), Error> {
        d.check_weight_grad(delta, x, d_w)?;
        self.weight_grad_set_impl(d, delta, x, d_w);
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
/// SIMD with FMA (x86_64 with AVX2 + FMA), [`Portable`] everywhere else (Cortex-M, generic
/// x86_64). This is the one place that chooses.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
pub type Native = Simd;
/// The kernels this build uses by default: [`Simd`] where the compile target has 8-lane
/// SIMD with FMA (x86_64 with AVX2 + FMA), [`Portable`] everywhere else (Cortex-M, generic
/// x86_64). This is the one place that chooses.
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
pub type Native = Portable;

/// Whether this build's [`Native`] kernels are the SIMD ones.
pub const NATIVE_IS_SIMD: bool = cfg!(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"));

/// A kernel set chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// [`Reference`].
    Reference,
    /// [`Portable`].
    Portable,
    /// [`Simd`].
    Simd,
    /// [`Native`].
    #[default]
    Native,
}

impl Backend {
    /// Parses `reference`, `portable`, `simd` or `native`.
    pub fn from_name(s: &str) -> Option<Backend> {
        Some(match s {
            "reference" | "scalar" => Backend::Reference,
            "portable" => Backend::Portable,
            "simd" => Backend::Simd,
            "native" => Backend::Native,
            _ => return None,
        })
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
            Backend::Simd => {
                let $k = Simd;
                $e
            }
            Backend::Native => {
                let $k = Native::default();
                $e
            }
        }
    };
}

impl Kernels for Backend {
    fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        dispatch!(self, k => k.dense_forward_impl(d, x, w, b, y, act))
    }
    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        dispatch!(self, k => k.weight_grad_impl(d, delta, x, d_w))
    }
    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        dispatch!(self, k => k.input_grad_impl(d, delta, w, d_x))
    }
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
        row.iter_mut().zip(b).for_each(|(v, &b)| *v += b);
        match act {
            Activation::Identity => {}
            Activation::Softmax => crate::activation::softmax_row(row),
            Activation::Relu => row.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { 0.0 }),
            _ => row.iter_mut().for_each(|v| *v = act.apply(*v)),
        }
    }
}
