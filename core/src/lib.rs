//! # myelin-core
//!
//! Multi-layer perceptrons trained by backpropagation, in `#![no_std]` Rust with no
//! allocator and no panics on any input: the same kernels run in a workstation trainer and
//! inside Cortex-M firmware.
//!
//! The caller owns all memory. A [`Topology`] says how long each arena must be, with `const
//! fn`s for firmware that sizes static buffers at compile time:
//!
//! - parameters and gradients: [`params_len`] floats each (per layer `W` row-major, then `b`);
//! - training workspace: [`workspace_len`] (every layer's outputs, dropout masks, deltas);
//! - inference workspace: [`inference_len`] (two ping-pong buffers);
//! - optimizer state: [`Rule::state_len`].
//!
//! The mathematics of every kernel is derived in `docs/backprop.md`.
//!
//! ## Data flow of one training step
//!
//! ```text
//! x (batch, inputs)
//!   -> Topology::forward      per layer: Kernels::dense_forward  y_l = act(y_{l-1} W_l^T + b_l)
//!                             (+ dropout mask on hidden layers); every y_l kept in `work`
//!   -> Topology::loss_of      Loss::mean of y_L against t (batch, outputs)
//!   -> Topology::backward     delta_L = dL/dz_L (Loss::output_delta), then per layer, output
//!                             down: d_W += delta^T y_{l-1} (Kernels::weight_grad),
//!                             d_b += sum delta (bias_grad), d_y = delta W (input_grad),
//!                             delta_{l-1} = d_y * f'(y_{l-1}) (activation_backward)
//!   -> add_penalty_grads, clip_global_norm (optional)
//!   -> Optimizer::step        params -= update(grads), one loop over the flat arena
//! ```
//!
//! Where things live: [`Topology`] (`topology.rs`) holds the shape, the parameter ranges
//! (computed once) and the one function that cuts a workspace into per-layer slices;
//! `network.rs` the passes above; [`kernels`] the dense-layer kernels, with
//! [`kernels::Backend::detect`] the one place that chooses which run; `loss.rs`,
//! `activation.rs`, `optim.rs`, `dropout.rs`, `health.rs` the pieces each pass calls;
//! [`format`] the model file; [`quant`] int8 inference (its kernel sets as the value
//! [`quant::I8Backend`], the int8 file, whole-network inference); `error.rs` the error types
//! (a leaf: it uses no other module).
//!
//! ## Example: XOR
//!
//! ```
//! use myelin_core::*;
//!
//! const SIZES: [usize; 3] = [2, 4, 1];
//! let topo = Topology::dense(&SIZES, Activation::Tanh, Activation::Sigmoid, Loss::BinaryCrossEntropy)?;
//! let mut params = [0.0f32; params_len(&SIZES)];
//! let mut grads = [0.0f32; params_len(&SIZES)];
//! let mut work = [0.0f32; workspace_len(&SIZES, 4)];
//! let rule = Rule::adam(0.05);
//! let mut state = [0.0f32; Rule::adam(0.05).state_len(params_len(&SIZES))];
//! topo.init_params(&mut params, Init::XavierUniform, &mut Rng::new(7))?;
//!
//! let x = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
//! let t = [0.0, 1.0, 1.0, 0.0];
//! let mut opt = Optimizer::new(rule)?;
//! let k = Native::default();
//! for _ in 0..500 {
//!     let pass = topo.forward(&k, &params, &x, 4, &mut work, None)?;
//!     grads.fill(0.0);
//!     topo.backward(&k, &pass, &params, &x, &t, &mut work, &mut grads)?;
//!     opt.step(&mut params, &grads, &mut state)?;
//! }
//! let mut infer = [0.0f32; inference_len(&SIZES, 4)];
//! let y = topo.predict(&k, &params, &x, 4, &mut infer)?;
//! for (y, t) in y.iter().zip(t) {
//!     assert!((y - t).abs() < 0.1, "{y} vs {t}");
//! }
//! # Ok::<(), myelin_core::Error>(())
//! ```
//!
//! ## Features
//!
//! None: the crate is always `no_std` and allocation-free. Kernel selection is by target
//! ([`kernels::Native`]): SIMD with FMA on x86_64 built with AVX2 + FMA, blocked scalar
//! elsewhere.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::unreachable, clippy::indexing_slicing)
)]

mod activation;
mod dropout;
mod error;
pub mod format;
mod health;
mod init;
pub mod kernels;
mod loss;
mod network;
mod optim;
mod perceptron;
pub mod quant;
mod rng;
mod topology;

pub use activation::{apply_rows, sigmoid, softmax_backward, softmax_row, Activation, LEAKY_SLOPE};
pub use dropout::Dropout;
pub use error::{Buffer, Error, FormatError, Hyper, QuantField, Values};
pub use health::{Health, LayerHealth};
pub use init::Init;
pub use kernels::{Accumulate, Backend, Kernels, Native};
pub use loss::Loss;
pub use network::{argmax, Pass};
pub use optim::{clip_global_norm, global_norm, Optimizer, Rule, Update};
pub use perceptron::Perceptron;
pub use rng::Rng;
pub use topology::{inference_len, params_len, workspace_len, Layer, ParamRange, Topology, MAX_LAYERS};
